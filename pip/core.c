/*
 * pipd's core: the negotiation interface (DESIGN section 4) built from the
 * store (reservations, capacity, VLAN tags), the mapper (map_rdl_solve on
 * the residual substrate) and the embedding plugins.
 *
 * Concurrency. Calls run in the RPC server's threads at once:
 * - each call takes a store (a database connection) from a pool, opening
 *   another when none is idle, since a connection serves one thread;
 * - the substrate is parsed once and shared read-only by every call
 *   (struct ul_snap, reference counted) until the stored document's
 *   digest says another was loaded;
 * - calls on one CloudNet id run one after another (id_lock), calls on
 *   different ids side by side;
 * - mapping and the store's transactions run in parallel: the store's
 *   transaction is the authority on capacity and tags, so a negotiation
 *   that mapped onto a residual another one has taken from meanwhile is
 *   refused with CN_E_INSUFFICIENT and maps again on the new residual;
 * - the embedding context is not thread-safe (and libvirt's test driver
 *   keeps its state per connection), so emb_lock serialises every
 *   embedding call, and nothing else is done under it.
 *
 * Order of work in negotiate: map, reserve (capacity and tags, all or
 * nothing), then embed. When embedding fails the reservation is marked
 * failed, which frees what it held, so nothing is left either way.
 *
 * modify works in the same order on a live reservation: map the new
 * overlay with the old mapping as the previous one, swap what the store
 * holds, then bring the embedding from the old mapping to the new. When
 * that fails, the old embedding and the old holdings are put back.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embedding/embedding.h"
#include "mapping/mapping.h"
#include "pip/pipd.h"
#include "pip/store.h"
#include "rdl/rdl.h"
#include "util/util.h"

/* How often a negotiation maps again after losing capacity to a concurrent one. */
#define MAP_ATTEMPTS 3

/* The parsed substrate of one generation, shared read-only by the calls that hold it. */
struct ul_snap {
    struct rdl_graph *ul;
    char digest[PIP_DIGEST_LEN + 1];
    unsigned refs; /* the core's own reference while it is current, plus one per call */
};

struct pipd_core {
    const struct pipd_config *cfg;
    struct pip_store_config sc; /* strings borrowed from cfg */
    char *password;
    pthread_mutex_t lock; /* guards pool, ul and busy */
    pthread_cond_t idle;  /* an id left busy */
    struct pip_store **pool;
    size_t npool, cap_pool;
    struct ul_snap *ul;
    char **busy; /* ids a call is working on */
    size_t nbusy, cap_busy;
    /*
     * Serialises every use of emb, first come first served: with a plain
     * mutex one thread can take it again and again while another waits,
     * which shows in the tail latency with many clients.
     */
    pthread_mutex_t emb_mutex;
    pthread_cond_t emb_turn;
    unsigned long emb_next, emb_serving;
    struct emb_ctx *emb;
};

/* The graphs of one reservation, parsed from the store; ul is borrowed from a snapshot. */
struct graphs {
    struct rdl_graph *ol, *ml;
    const struct rdl_graph *ul;
};

static void
graphs_release(struct graphs *g)
{
    rdl_graph_free(g->ol);
    rdl_graph_free(g->ml);
    memset(g, 0, sizeof(*g));
}

void
pipd_result_free(struct pipd_result *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->manifest_yaml);
    free(r->reason);
    for (size_t i = 0; i < r->nelements; i++)
        free(r->elements[i].element);
    free(r->elements);
    free(r);
}

void
pipd_description_free(struct pipd_description *d)
{
    if (!d)
        return;
    pip_totals_free(d->totals, d->ntotals);
    for (size_t i = 0; i < d->nfeatures; i++) {
        free(d->features[i].name);
        for (size_t j = 0; j < d->features[i].nvalues; j++)
            free(d->features[i].values[j]);
        free(d->features[i].values);
    }
    free(d->features);
    free(d->vlans);
    for (size_t i = 0; i < d->ntransits; i++)
        free(d->transits[i].id);
    free(d->transits);
    free(d);
}

/* ---- setup ---- */

static int
load_substrate_file(struct pip_store *s, const char *path, struct cn_err *err)
{
    struct cn_err probe = CN_ERR_INIT;
    char digest[PIP_DIGEST_LEN + 1];
    struct rdl_graph *ul = NULL;
    int ret = -1;

    if (pip_store_substrate_digest(s, digest, &probe) == 0) {
        /* The database is the authority once it holds a substrate. */
        ret = 0;
        goto cleanup;
    }
    if (probe.code != CN_E_NOTFOUND) {
        cn_err_set(err, probe.code, "%s", cn_err_msg(&probe));
        goto cleanup;
    }
    ul = rdl_read_file(path, err);
    if (!ul)
        goto cleanup;
    if (rdl_graph_kind(ul) != RDL_UNDERLAY) {
        cn_err_set(err, CN_E_INVALID, "%s: not an underlay document", path);
        goto cleanup;
    }
    ret = pip_store_load_substrate(s, ul, err);
cleanup:
    rdl_graph_free(ul);
    cn_err_release(&probe);
    return ret;
}

/* A store for this thread's call: an idle one from the pool, or a new connection. */
static struct pip_store *
store_take(struct pipd_core *core, struct cn_err *err)
{
    struct pip_store *s = NULL;
    pthread_mutex_lock(&core->lock);
    if (core->npool > 0)
        s = core->pool[--core->npool];
    pthread_mutex_unlock(&core->lock);
    return s ? s : pip_store_open(&core->sc, err);
}

/* Gives a store back to the pool; one whose connection was lost is closed. */
static void
store_give(struct pipd_core *core, struct pip_store *s)
{
    if (!s)
        return;
    if (pip_store_broken(s)) {
        pip_store_close(s);
        return;
    }
    pthread_mutex_lock(&core->lock);
    CN_GROW(core->pool, core->cap_pool, core->npool + 1);
    core->pool[core->npool++] = s;
    pthread_mutex_unlock(&core->lock);
}

static void
ul_unref_locked(struct ul_snap *snap)
{
    if (snap && --snap->refs == 0) {
        rdl_graph_free(snap->ul);
        free(snap);
    }
}

static void
ul_give(struct pipd_core *core, struct ul_snap *snap)
{
    if (!snap)
        return;
    pthread_mutex_lock(&core->lock);
    ul_unref_locked(snap);
    pthread_mutex_unlock(&core->lock);
}

/*
 * The current substrate, parsed: the one kept while the stored document's
 * digest is still its own, else read and parsed again (and kept). The
 * caller gives it back with ul_give.
 */
static struct ul_snap *
ul_take(struct pipd_core *core, struct pip_store *s, struct cn_err *err)
{
    struct ul_snap *snap = NULL;
    char digest[PIP_DIGEST_LEN + 1];

    if (pip_store_substrate_digest(s, digest, err) < 0)
        return NULL;
    pthread_mutex_lock(&core->lock);
    if (core->ul && cn_streq(core->ul->digest, digest)) {
        snap = core->ul;
        snap->refs++;
    }
    pthread_mutex_unlock(&core->lock);
    if (snap)
        return snap;
    snap = xcalloc(1, sizeof(*snap));
    snap->ul = pip_store_dump_substrate_digest(s, snap->digest, err);
    if (!snap->ul) {
        free(snap);
        return NULL;
    }
    snap->refs = 1;
    pthread_mutex_lock(&core->lock);
    if (!core->ul || !cn_streq(core->ul->digest, snap->digest)) {
        ul_unref_locked(core->ul);
        core->ul = snap;
        snap->refs++;
    }
    pthread_mutex_unlock(&core->lock);
    return snap;
}

static void
emb_lock(struct pipd_core *core)
{
    pthread_mutex_lock(&core->emb_mutex);
    unsigned long ticket = core->emb_next++;
    while (core->emb_serving != ticket)
        pthread_cond_wait(&core->emb_turn, &core->emb_mutex);
    pthread_mutex_unlock(&core->emb_mutex);
}

static void
emb_unlock(struct pipd_core *core)
{
    pthread_mutex_lock(&core->emb_mutex);
    core->emb_serving++;
    pthread_cond_broadcast(&core->emb_turn);
    pthread_mutex_unlock(&core->emb_mutex);
}

static bool
id_busy_locked(const struct pipd_core *core, const char *id, size_t *ret_index)
{
    for (size_t i = 0; i < core->nbusy; i++) {
        if (cn_streq(core->busy[i], id)) {
            if (ret_index)
                *ret_index = i;
            return true;
        }
    }
    return false;
}

/*
 * Waits until no other call works on CloudNet id, then marks it busy: the
 * calls on one CloudNet are serialised (a release must not run between a
 * negotiation's reservation and its embedding), those on different ones not.
 */
static void
id_lock(struct pipd_core *core, const char *id)
{
    pthread_mutex_lock(&core->lock);
    while (id_busy_locked(core, id, NULL))
        pthread_cond_wait(&core->idle, &core->lock);
    CN_GROW(core->busy, core->cap_busy, core->nbusy + 1);
    core->busy[core->nbusy++] = xstrdup(id);
    pthread_mutex_unlock(&core->lock);
}

static void
id_unlock(struct pipd_core *core, const char *id)
{
    size_t i;
    pthread_mutex_lock(&core->lock);
    if (id_busy_locked(core, id, &i)) {
        free(core->busy[i]);
        core->busy[i] = core->busy[--core->nbusy];
    }
    pthread_cond_broadcast(&core->idle);
    pthread_mutex_unlock(&core->lock);
}

struct pipd_core *
pipd_core_new(const struct pipd_config *cfg, struct cn_err *err)
{
    struct pipd_core *core = xcalloc(1, sizeof(*core));
    const char *password = getenv("PIPD_DB_PASSWORD");
    struct emb_config ec = {
        .libvirt_uri = cfg->libvirt_uri,
        .image_dir = cfg->image_dir,
        .template_dir = cfg->template_dir,
        .clipd_socket = cfg->clipd_socket,
        .dataplane_file = cfg->dataplane_file,
    };
    struct pip_store *s = NULL;

    core->cfg = cfg;
    /* Connections are opened later too: keep the password, not the environment's. */
    core->password = password && *password ? xstrdup(password) : NULL;
    core->sc = (struct pip_store_config){
        .socket = cfg->db_socket,
        .host = cfg->db_host,
        .port = cfg->db_port,
        .user = cfg->db_user,
        .password = core->password,
        .database = cfg->db_name,
        .max_lease_s = cfg->max_lease_s,
    };
    pthread_mutex_init(&core->lock, NULL);
    pthread_cond_init(&core->idle, NULL);
    pthread_mutex_init(&core->emb_mutex, NULL);
    pthread_cond_init(&core->emb_turn, NULL);
    s = pip_store_open(&core->sc, err);
    if (!s)
        goto fail;
    if (pip_store_migrate(s, 0, NULL, err) < 0)
        goto fail;
    if (cfg->substrate_file && load_substrate_file(s, cfg->substrate_file, err) < 0)
        goto fail;
    core->emb = emb_ctx_new(&ec, err);
    if (!core->emb)
        goto fail;
    store_give(core, s);
    return core;
fail:
    pip_store_close(s);
    pipd_core_free(core);
    return NULL;
}

void
pipd_core_free(struct pipd_core *core)
{
    if (!core)
        return;
    emb_ctx_free(core->emb);
    for (size_t i = 0; i < core->npool; i++)
        pip_store_close(core->pool[i]);
    free(core->pool);
    ul_unref_locked(core->ul);
    for (size_t i = 0; i < core->nbusy; i++)
        free(core->busy[i]);
    free(core->busy);
    free(core->password);
    pthread_cond_destroy(&core->emb_turn);
    pthread_mutex_destroy(&core->emb_mutex);
    pthread_cond_destroy(&core->idle);
    pthread_mutex_destroy(&core->lock);
    free(core);
}

/* ---- helpers ---- */

/* The embedding's CloudNet id rules, checked before anything is stored. */
static bool
id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > EMB_MAX_CLOUDNET_LEN || id[0] == '-' || id[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static int
check_id(const char *id, struct cn_err *err)
{
    if (!id_valid(id))
        return cn_err_set(err, CN_E_INVALID,
                          "bad CloudNet id: 1-%d letters, digits, '_', '-', '.', not starting "
                          "with '-' or '.'",
                          EMB_MAX_CLOUDNET_LEN);
    return 0;
}

const char *
pipd_core_authenticate(const struct pipd_core *core, const char *secret, struct cn_err *err)
{
    const char *found = NULL;
    /* Every secret is compared, so the time taken does not tell which one nearly matched. */
    for (size_t i = 0; i < core->cfg->npeers; i++) {
        if (cn_secret_equal(secret ? secret : "", core->cfg->peers[i].secret) && !found)
            found = core->cfg->peers[i].name;
    }
    if (!found)
        cn_err_set(err, CN_E_FORBIDDEN, "forbidden: unknown secret");
    return found;
}

/* How much of a reservation a call needs. */
enum fetch {
    FETCH_BRIEF, /* the row only */
    FETCH_DOCS,  /* with its documents */
    FETCH_ALL,   /* with its documents and tags */
};

/* The reservation, when it exists and belongs to peer. */
static struct pip_reservation *
get_owned(struct pip_store *st, const char *peer, const char *id, enum fetch how,
          struct cn_err *err)
{
    struct pip_reservation *r;
    if (check_id(id, err) < 0)
        return NULL;
    r = how == FETCH_ALL ? pip_store_get(st, id, err)
                         : pip_store_get_brief(st, id, how == FETCH_DOCS, err);
    if (!r)
        return NULL;
    if (!cn_streq(r->peer ? r->peer : "", peer)) {
        pip_reservation_free(r);
        cn_err_set(err, CN_E_FORBIDDEN, "forbidden: CloudNet '%s' belongs to another peer", id);
        return NULL;
    }
    return r;
}

static int
load_graphs(const struct pip_reservation *r, const struct rdl_graph *ul, struct graphs *ret,
            struct cn_err *err)
{
    struct graphs g = {NULL, NULL, ul};
    if (r->overlay_yaml && *r->overlay_yaml) {
        g.ol = rdl_read_string(r->id, r->overlay_yaml, strlen(r->overlay_yaml), err);
        if (!g.ol)
            goto fail;
    }
    if (!r->mapping_yaml || !*r->mapping_yaml) {
        cn_err_set(err, CN_E_INTERNAL, "CloudNet '%s' has no stored mapping", r->id);
        goto fail;
    }
    g.ml = rdl_read_string(r->id, r->mapping_yaml, strlen(r->mapping_yaml), err);
    if (!g.ml)
        goto fail;
    *ret = g;
    return 0;
fail:
    if (err->code == CN_E_INVALID)
        err->code = CN_E_INTERNAL; /* stored documents are ours: not the caller's fault */
    graphs_release(&g);
    return -1;
}

static struct pipd_result *
result_from(const struct pip_reservation *r, bool with_manifest)
{
    struct pipd_result *res = xcalloc(1, sizeof(*res));
    res->id = xstrdup(r->id);
    res->state = r->state;
    res->expires_at = r->state == PIP_ALLOCATED ? r->expires_at : 0;
    if (with_manifest && r->mapping_yaml)
        res->manifest_yaml = xstrdup(r->mapping_yaml);
    if (r->reason)
        res->reason = xstrdup(r->reason);
    return res;
}

static bool
is_live(const struct pip_reservation *r)
{
    return r->state == PIP_ALLOCATED || r->state == PIP_PROVISIONED;
}

/* Live, and not an allocation whose lease has ended. */
static int
check_usable(const struct pip_reservation *r, struct cn_err *err)
{
    if (!is_live(r))
        return cn_err_set(err, CN_E_INVALID, "CloudNet '%s' is %s", r->id,
                          pip_state_name(r->state));
    if (r->state == PIP_ALLOCATED && r->expires_at > 0 && r->expires_at <= (long long)time(NULL))
        return cn_err_set(err, CN_E_EXPIRED, "the lease of CloudNet '%s' has ended", r->id);
    return 0;
}

/* Adds a copy of m (placement, path, tag, resources, features) to the mapping g. */
static void
copy_entry(struct rdl_graph *g, const struct rdl_map_entry *m, struct cn_err *err)
{
    struct rdl_map_entry *c = rdl_mapping_add(g, rdl_map_entry_id(m), err);
    const struct rdl_props *p;

    if (!c)
        return;
    if (rdl_map_entry_to(m))
        rdl_map_entry_set_to(c, rdl_map_entry_to(m));
    for (size_t j = 0; j < rdl_map_entry_path_len(m); j++)
        rdl_map_entry_path_append(c, rdl_map_entry_path_at(m, j));
    if (rdl_map_entry_vlan(m) > 0)
        rdl_map_entry_set_vlan(c, rdl_map_entry_vlan(m));
    p = rdl_map_entry_resources(m);
    for (size_t j = 0; j < rdl_props_count(p); j++)
        rdl_props_set(rdl_map_entry_resources_mut(c), rdl_props_name_at(p, j),
                      rdl_value_copy(rdl_props_value_at(p, j)));
    p = rdl_map_entry_features(m);
    for (size_t j = 0; j < rdl_props_count(p); j++)
        rdl_props_set(rdl_map_entry_features_mut(c), rdl_props_name_at(p, j),
                      rdl_value_copy(rdl_props_value_at(p, j)));
}

/* A copy of ml with its node entries only: what can be removed by owner tag alone. */
static struct rdl_graph *
nodes_only(const struct rdl_graph *ml)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = rdl_graph_new(RDL_MAPPING, rdl_graph_name(ml));
    rdl_mapping_set_graphs(g, rdl_mapping_overlay(ml), rdl_mapping_underlay(ml));
    for (size_t i = 0; i < rdl_mapping_count(ml); i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(ml, i);
        if (!rdl_map_entry_to(m))
            continue;
        copy_entry(g, m, &err);
    }
    cn_err_release(&err);
    return g;
}

/* ---- describe ---- */

static void
feature_add(struct pipd_description *d, const char *name, const char *value)
{
    struct pipd_feature *f = NULL;
    for (size_t i = 0; i < d->nfeatures && !f; i++)
        if (cn_streq(d->features[i].name, name))
            f = &d->features[i];
    if (!f) {
        d->features = xrealloc(d->features, (d->nfeatures + 1) * sizeof(*d->features));
        f = &d->features[d->nfeatures++];
        f->name = xstrdup(name);
        f->values = NULL;
        f->nvalues = 0;
    }
    for (size_t i = 0; i < f->nvalues; i++)
        if (cn_streq(f->values[i], value))
            return;
    f->values = xrealloc(f->values, (f->nvalues + 1) * sizeof(*f->values));
    f->values[f->nvalues++] = xstrdup(value);
}

static void
feature_add_value(struct pipd_description *d, const char *name, const struct rdl_value *v)
{
    char num[64];
    switch (rdl_value_kind(v)) {
    case RDL_VALUE_NUMBER:
        snprintf(num, sizeof(num), "%.15g", rdl_value_number(v));
        feature_add(d, name, num);
        break;
    case RDL_VALUE_STRING:
        feature_add(d, name, rdl_value_string(v));
        break;
    case RDL_VALUE_LIST:
        for (size_t i = 0; i < rdl_value_list_len(v); i++)
            feature_add_value(d, name, rdl_value_list_at(v, i));
        break;
    default:
        break;
    }
}

struct pipd_description *
pipd_core_describe(struct pipd_core *core, const char *peer, struct cn_err *err)
{
    struct pipd_description *d = xcalloc(1, sizeof(*d));
    struct pip_store *st = NULL;
    struct ul_snap *snap = NULL;
    (void)peer;

    d->name = core->cfg->name;
    d->version = PIPD_VERSION;
    st = store_take(core, err);
    if (!st)
        goto fail;
    if (pip_store_totals(st, &d->totals, &d->ntotals, err) < 0)
        goto fail;
    if (pip_store_free_vlans(st, NULL, &d->vlans, &d->nvlans, err) < 0)
        goto fail;
    snap = ul_take(core, st, err);
    if (!snap)
        goto fail;
    for (size_t i = 0; i < rdl_graph_element_count(snap->ul); i++) {
        const struct rdl_element *e = rdl_graph_element_at(snap->ul, i);
        /* A border node stands for the far PIP: its features are not this PIP's offer. */
        if (rdl_element_is_border(e))
            continue;
        if (rdl_element_is_node(e)) {
            const struct rdl_props *f = rdl_element_features(e);
            for (size_t j = 0; j < rdl_props_count(f); j++)
                feature_add_value(d, rdl_props_name_at(f, j), rdl_props_value_at(f, j));
        } else if (rdl_type_fits("/link/transit", rdl_element_type(e))) {
            d->transits = xrealloc(d->transits, (d->ntransits + 1) * sizeof(*d->transits));
            struct pipd_transit *t = &d->transits[d->ntransits++];
            t->id = xstrdup(rdl_element_id(e));
            if (rdl_element_vlan_range(e, &t->vlan_first, &t->vlan_last) < 0)
                t->vlan_first = t->vlan_last = 0;
        }
    }
    ul_give(core, snap);
    store_give(core, st);
    return d;
fail:
    ul_give(core, snap);
    store_give(core, st);
    pipd_description_free(d);
    return NULL;
}

/* ---- negotiate ---- */

struct reserve_parts {
    struct pip_alloc *allocs;
    size_t nallocs;
    struct pip_vlan_request *vlans;
    size_t nvlans;
};

static void
add_allocs(struct reserve_parts *p, const char *element, const struct rdl_props *res)
{
    for (size_t i = 0; i < rdl_props_count(res); i++) {
        const struct rdl_value *v = rdl_props_value_at(res, i);
        if (rdl_value_kind(v) != RDL_VALUE_NUMBER || rdl_value_number(v) <= 0)
            continue;
        p->allocs = xrealloc(p->allocs, (p->nallocs + 1) * sizeof(*p->allocs));
        p->allocs[p->nallocs++] = (struct pip_alloc){
            .element = element,
            .resource = rdl_props_name_at(res, i),
            .amount = rdl_value_number(v),
        };
    }
}

static void
reserve_parts_release(struct reserve_parts *p)
{
    free(p->allocs);
    free(p->vlans);
    memset(p, 0, sizeof(*p));
}

static bool
is_transit(const char *type)
{
    return rdl_type_fits("/link/transit", type);
}

/*
 * The tag a VNP chose for a transit link (feature `vlan`), 0 when the link
 * is not a transit link or names none, -1 with err set when it is not a tag.
 */
static int
transit_tag(const struct rdl_element *e, struct cn_err *err)
{
    const struct rdl_value *v = rdl_props_get(rdl_element_features(e), "vlan");
    if (!is_transit(rdl_element_type(e)) || !v)
        return 0;
    double tag = rdl_value_kind(v) == RDL_VALUE_NUMBER ? rdl_value_number(v) : 0;
    if (tag < 1 || tag > 4094 || tag != (int)tag)
        return cn_err_set(err, CN_E_INVALID,
                          "%s: feature vlan of transit link must be a tag 1-4094",
                          rdl_element_id(e));
    return (int)tag;
}

/*
 * What the mapping consumes: node resources on hosts, link resources on
 * every underlay link of a path (odd positions), and one VLAN tag per
 * virtual link. Tags are taken on the whole substrate: a tag is a
 * bridge-wide thing inside a node, so a tag unique across the PIP is what
 * keeps CloudNets apart whatever their paths. A transit link gets the tag
 * the VNP chose for it, which must also be one its underlay transit link
 * may carry (docs/federation.md); the tag its frames carry on the wire
 * (`wire_vlan`) is copied into its map entry for the transit plugin.
 */
static int
reserve_parts(const struct rdl_graph *ol, struct rdl_graph *ml, const struct rdl_graph *ul,
              struct reserve_parts *p, struct cn_err *err)
{
    for (size_t i = 0; i < rdl_mapping_count(ml); i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(ml, i);
        const struct rdl_props *res = rdl_map_entry_resources(m);
        if (rdl_map_entry_to(m)) {
            add_allocs(p, rdl_map_entry_to(m), res);
            continue;
        }
        for (size_t j = 1; j < rdl_map_entry_path_len(m); j += 2)
            add_allocs(p, rdl_map_entry_path_at(m, j), res);
    }
    for (size_t i = 0; i < rdl_graph_element_count(ol); i++) {
        const struct rdl_element *e = rdl_graph_element_at(ol, i);
        const char *range_of = NULL;
        if (!rdl_element_is_link(e))
            continue;
        int tag = transit_tag(e, err);
        if (tag < 0)
            return -1;
        struct rdl_map_entry *m = rdl_mapping_get(ml, rdl_element_id(e));
        if (tag > 0 && m) {
            for (size_t j = 1; j < rdl_map_entry_path_len(m) && !range_of; j += 2) {
                const struct rdl_element *u = rdl_graph_element(ul, rdl_map_entry_path_at(m, j));
                if (u && is_transit(rdl_element_type(u)))
                    range_of = rdl_element_id(u);
            }
            const struct rdl_value *wire = rdl_props_get(rdl_element_features(e), "wire_vlan");
            if (wire)
                rdl_props_set(rdl_map_entry_features_mut(m), "wire_vlan", rdl_value_copy(wire));
        }
        p->vlans = xrealloc(p->vlans, (p->nvlans + 1) * sizeof(*p->vlans));
        p->vlans[p->nvlans++] = (struct pip_vlan_request){
            .overlay_link = rdl_element_id(e),
            .tag = tag,
            .range_of = range_of,
        };
    }
    return 0;
}

/* The answer to a negotiate repeated for an existing reservation. */
static struct pipd_result *
negotiate_again(const struct pip_reservation *r, struct cn_err *err)
{
    if (r->state == PIP_FAILED) {
        cn_err_set(err, CN_E_EMBEDDING, "%s", r->reason ? r->reason : "embedding failed");
        return NULL;
    }
    return result_from(r, true);
}

/* Map options of a negotiation or modification. */
static void
map_opts(const struct pipd_core *core, struct map_options *opts)
{
    map_options_init(opts);
    opts->algorithm = MAP_ALG_MIP;
    opts->objective = "cost";
    opts->time_limit_s = core->cfg->map_time_limit_s;
}

/* The residual substrate: a copy of the snapshot with the free amounts the store counts. */
static struct rdl_graph *
residual_of(struct pip_store *st, const struct ul_snap *snap, const char *except,
            struct cn_err *err)
{
    struct rdl_graph *g = rdl_graph_copy(snap->ul);
    if (pip_store_residual_apply(st, g, except, err) < 0) {
        rdl_graph_free(g);
        return NULL;
    }
    return g;
}

/* Whether the graph yaml is within the configured request size. */
static int
check_size(const struct pipd_core *core, const char *yaml, struct cn_err *err)
{
    if (!yaml || strlen(yaml) > core->cfg->max_request)
        return cn_err_set(err, CN_E_LIMIT, "request too large: the graph is limited to %zu bytes",
                          core->cfg->max_request);
    return 0;
}

/* The overlay document yaml of CloudNet id, or NULL with CN_E_INVALID. */
static struct rdl_graph *
read_overlay(const char *id, const char *yaml, struct cn_err *err)
{
    struct rdl_graph *ol = rdl_read_string(id, yaml, strlen(yaml), err);
    if (!ol) {
        err->code = CN_E_INVALID;
        return NULL;
    }
    if (rdl_graph_kind(ol) != RDL_OVERLAY) {
        cn_err_set(err, CN_E_INVALID, "%s: an overlay document is expected, not a %s", id,
                   rdl_kind_name(rdl_graph_kind(ol)));
        rdl_graph_free(ol);
        return NULL;
    }
    return ol;
}

/* Runs under id_lock(id). */
static struct pipd_result *
negotiate_id(struct pipd_core *core, struct pip_store *st, const char *peer, const char *id,
             const char *yaml, long lease_s, struct cn_err *err)
{
    struct pip_reservation *r = NULL, *existing = NULL;
    struct rdl_graph *ol = NULL, *residual = NULL, *ml = NULL;
    struct ul_snap *snap = NULL;
    struct graphs g = {NULL, NULL, NULL};
    struct cn_buf ml_yaml = CN_BUF_INIT;
    struct reserve_parts parts = {NULL, 0, NULL, 0};
    struct cn_err probe = CN_ERR_INIT, undo = CN_ERR_INIT;
    struct pipd_result *res = NULL;
    struct map_options opts;
    bool existed = false;

    /* A repeat returns what the first call gave, once the id is known to be the caller's. */
    existing = pip_store_get_brief(st, id, false, &probe);
    if (!existing && probe.code != CN_E_NOTFOUND) {
        cn_err_set(err, probe.code, "%s", cn_err_msg(&probe));
        goto cleanup;
    }
    if (existing) {
        if (!cn_streq(existing->peer ? existing->peer : "", peer)) {
            cn_err_set(err, CN_E_FORBIDDEN, "forbidden: CloudNet '%s' belongs to another peer", id);
            goto cleanup;
        }
        if (pip_store_lookup(st, id, yaml, &r, err) < 0)
            goto cleanup;
        if (!r) {
            cn_err_set(err, CN_E_INTERNAL, "CloudNet '%s' vanished during lookup", id);
            goto cleanup;
        }
        res = negotiate_again(r, err);
        goto cleanup;
    }

    ol = read_overlay(id, yaml, err);
    if (!ol)
        goto cleanup;
    snap = ul_take(core, st, err);
    if (!snap)
        goto cleanup;
    map_opts(core, &opts);
    for (int attempt = 1;; attempt++) {
        residual = residual_of(st, snap, NULL, err);
        if (!residual || map_rdl_solve(residual, NULL, 0, ol, &opts, &ml, err) < 0)
            goto cleanup;
        if (reserve_parts(ol, ml, residual, &parts, err) < 0 || rdl_write(ml, &ml_yaml, err) < 0)
            goto cleanup;
        struct pip_reserve_request req = {
            .id = id,
            .request = yaml,
            .peer = peer,
            .overlay_yaml = yaml,
            .mapping_yaml = ml_yaml.s,
            .lease_s = lease_s,
            .allocs = parts.allocs,
            .nallocs = parts.nallocs,
            .vlans = parts.vlans,
            .nvlans = parts.nvlans,
        };
        /* The stored mapping carries the tags the store picked. */
        r = pip_store_reserve(st, &req, &existed, err);
        if (r)
            break;
        /* Another negotiation took capacity this mapping counted on: map again. */
        if (err->code != CN_E_INSUFFICIENT || attempt >= MAP_ATTEMPTS)
            goto cleanup;
        cn_err_clear(err);
        rdl_graph_free(residual);
        rdl_graph_free(ml);
        residual = ml = NULL;
        cn_buf_release(&ml_yaml);
        reserve_parts_release(&parts);
    }
    if (existed) {
        res = negotiate_again(r, err);
        goto cleanup;
    }
    int rc = load_graphs(r, snap->ul, &g, err);
    if (rc == 0) {
        emb_lock(core);
        rc = emb_embed(core->emb, id, g.ol, g.ml, g.ul, err);
        emb_unlock(core);
    }
    if (rc < 0) {
        int code = err->code;
        /* emb_embed undid its own work; give back the capacity and tags. */
        cn_err_prefix(err, "embedding failed");
        if (pip_store_fail(st, id, cn_err_msg(err), &undo) < 0)
            cn_err_add(err, undo.code, "and the reservation could not be failed: %s",
                       cn_err_msg(&undo));
        err->code = code == CN_E_BUSY ? CN_E_BUSY : CN_E_EMBEDDING;
        goto cleanup;
    }
    res = result_from(r, true);
cleanup:
    pip_reservation_free(existing);
    pip_reservation_free(r);
    rdl_graph_free(ol);
    rdl_graph_free(residual);
    rdl_graph_free(ml);
    graphs_release(&g);
    ul_give(core, snap);
    cn_buf_release(&ml_yaml);
    reserve_parts_release(&parts);
    cn_err_release(&probe);
    cn_err_release(&undo);
    return res;
}

struct pipd_result *
pipd_core_negotiate(struct pipd_core *core, const char *peer, const char *id, const char *yaml,
                    long lease_s, struct cn_err *err)
{
    struct pipd_result *res = NULL;
    struct pip_store *st = NULL;

    if (check_id(id, err) < 0)
        return NULL;
    if (check_size(core, yaml, err) < 0)
        return NULL;
    if (lease_s <= 0) {
        cn_err_set(err, CN_E_INVALID, "the lease must be a positive number of seconds");
        return NULL;
    }
    id_lock(core, id);
    st = store_take(core, err);
    if (st)
        res = negotiate_id(core, st, peer, id, yaml, lease_s, err);
    store_give(core, st);
    id_unlock(core, id);
    return res;
}

/* ---- modify ---- */

static bool
props_equal(const struct rdl_props *a, const struct rdl_props *b)
{
    if (rdl_props_count(a) != rdl_props_count(b))
        return false;
    for (size_t i = 0; i < rdl_props_count(a); i++) {
        const struct rdl_value *w = rdl_props_get(b, rdl_props_name_at(a, i));
        if (!w || !rdl_value_equal(rdl_props_value_at(a, i), w))
            return false;
    }
    return true;
}

/* The features that give a VNode's interfaces their addresses: "address", "address.LINK". */
static bool
is_address_key(const char *name)
{
    return cn_streq(name, "address") || cn_startswith(name, "address.");
}

/* Whether every feature of a but its addresses is in b, alike. */
static bool
props_within_but_addresses(const struct rdl_props *a, const struct rdl_props *b)
{
    for (size_t i = 0; i < rdl_props_count(a); i++) {
        const char *name = rdl_props_name_at(a, i);
        const struct rdl_value *w = rdl_props_get(b, name);
        if (!is_address_key(name) && (!w || !rdl_value_equal(rdl_props_value_at(a, i), w)))
            return false;
    }
    return true;
}

/*
 * Whether two sets of features are alike; with but_addresses, whatever the
 * addresses of a VNode's interfaces.
 */
static bool
features_alike(const struct rdl_props *a, const struct rdl_props *b, bool but_addresses)
{
    if (!but_addresses)
        return props_equal(a, b);
    return props_within_but_addresses(a, b) && props_within_but_addresses(b, a);
}

/*
 * Whether two map entries are realised alike (with but_addresses, but for
 * the addresses of a VNode's interfaces). A link's resources are left out:
 * bandwidth is accounted in the store, not configured on any port.
 */
static bool
entry_same(const struct rdl_map_entry *m, const struct rdl_map_entry *n, bool but_addresses)
{
    const char *a = rdl_map_entry_to(m), *b = rdl_map_entry_to(n);
    if ((a == NULL) != (b == NULL) || (a && !cn_streq(a, b)))
        return false;
    if (rdl_map_entry_path_len(m) != rdl_map_entry_path_len(n) ||
        rdl_map_entry_vlan(m) != rdl_map_entry_vlan(n) ||
        !features_alike(rdl_map_entry_features(m), rdl_map_entry_features(n), but_addresses))
        return false;
    for (size_t i = 0; i < rdl_map_entry_path_len(m); i++)
        if (!cn_streq(rdl_map_entry_path_at(m, i), rdl_map_entry_path_at(n, i)))
            return false;
    return !a || props_equal(rdl_map_entry_resources(m), rdl_map_entry_resources(n));
}

/*
 * Whether overlay element id is realised alike under both versions: same
 * entry, and for a VNode also the same features and the same links, each
 * realised alike (a VNode has one interface per link, tagged with its tag).
 */
static bool
element_same(const struct graphs *old, const struct graphs *new, const char *id)
{
    const struct rdl_map_entry *m = rdl_mapping_get(old->ml, id), *n = rdl_mapping_get(new->ml, id);
    if (!m || !n || !entry_same(m, n, false))
        return false;
    if (!rdl_map_entry_to(m))
        return true;
    const struct rdl_element *a = rdl_graph_element(old->ol, id),
                             *b = rdl_graph_element(new->ol, id);
    if (!a || !b || !cn_streq(rdl_element_type(a), rdl_element_type(b)) ||
        !props_equal(rdl_element_features(a), rdl_element_features(b)) ||
        rdl_element_degree(a) != rdl_element_degree(b))
        return false;
    for (size_t i = 0; i < rdl_element_degree(a); i++) {
        const char *link = rdl_element_id(rdl_element_neighbour(a, i));
        bool found = false;
        for (size_t j = 0; j < rdl_element_degree(b) && !found; j++)
            found = cn_streq(link, rdl_element_id(rdl_element_neighbour(b, j)));
        m = rdl_mapping_get(old->ml, link);
        n = rdl_mapping_get(new->ml, link);
        if (!found || !m || !n || !entry_same(m, n, false))
            return false;
    }
    return true;
}

/*
 * The elements of `from` that are not realised alike in `other` (gone,
 * new or changed), as a NULL-terminated array of ids borrowed from `from`.
 */
static const char **
changed_elements(const struct graphs *from, const struct graphs *other, size_t *ret_n)
{
    size_t n = 0, count = rdl_mapping_count(from->ml);
    const char **ids = xcalloc(count + 1, sizeof(*ids));
    for (size_t i = 0; i < count; i++) {
        const char *el = rdl_map_entry_id(rdl_mapping_at(from->ml, i));
        if (!element_same(from, other, el))
            ids[n++] = el;
    }
    *ret_n = n;
    return ids;
}

/* The position of link among the links of VNode el (its interface ethN), or -1. */
static long
link_position(const struct rdl_element *el, const char *link)
{
    long pos = 0;
    for (size_t i = 0; i < rdl_element_degree(el); i++) {
        const struct rdl_element *l = rdl_element_neighbour(el, i);
        if (!rdl_element_is_link(l))
            continue;
        if (cn_streq(rdl_element_id(l), link))
            return pos;
        pos++;
    }
    return -1;
}

/*
 * Whether VNode id, changed between old and new, can keep running with its
 * interfaces changed in place instead of being re-created: it stays on the
 * same host with the same resources and features (addresses aside: they
 * belong to the interfaces), every link it keeps keeps its position, and
 * its plugin can do it.
 */
static bool
relinkable(struct pipd_core *core, const char *cloudnet, const struct graphs *old,
           const struct graphs *new, const char *id)
{
    const struct rdl_map_entry *m = rdl_mapping_get(old->ml, id), *n = rdl_mapping_get(new->ml, id);
    if (!m || !n || !rdl_map_entry_to(m) || !entry_same(m, n, true))
        return false;
    const struct rdl_element *a = rdl_graph_element(old->ol, id),
                             *b = rdl_graph_element(new->ol, id);
    if (!a || !b || !cn_streq(rdl_element_type(a), rdl_element_type(b)) ||
        !features_alike(rdl_element_features(a), rdl_element_features(b), true))
        return false;
    for (size_t i = 0; i < rdl_element_degree(a); i++) {
        const struct rdl_element *l = rdl_element_neighbour(a, i);
        if (!rdl_element_is_link(l))
            continue;
        long now = link_position(b, rdl_element_id(l));
        if (now >= 0 && now != link_position(a, rdl_element_id(l)))
            return false;
    }
    return emb_can_relink(core->emb, cloudnet, old->ml, old->ul, id) &&
           emb_can_relink(core->emb, cloudnet, new->ml, new->ul, id);
}

/*
 * Moves the VNodes of ids that are relinkable from `out` (changed in old)
 * and `in` (changed in new) to a list of their own, returned NULL-terminated
 * (ids borrowed from new); *ret_n counts them, *nout and *nin are updated.
 */
static const char **
split_relinkable(struct pipd_core *core, const char *cloudnet, const struct graphs *old,
                 const struct graphs *new, const char **out, size_t *nout, const char **in,
                 size_t *nin, size_t *ret_n)
{
    const char **relink = xcalloc(*nin + 1, sizeof(*relink));
    size_t n = 0, kept = 0;
    for (size_t i = 0; i < *nin; i++) {
        if (relinkable(core, cloudnet, old, new, in[i]))
            relink[n++] = in[i];
        else
            in[kept++] = in[i];
    }
    in[kept] = NULL;
    *nin = kept;
    kept = 0;
    for (size_t i = 0; i < *nout; i++) {
        bool moved = false;
        for (size_t j = 0; j < n && !moved; j++)
            moved = cn_streq(out[i], relink[j]);
        if (!moved)
            out[kept++] = out[i];
    }
    out[kept] = NULL;
    *nout = kept;
    *ret_n = n;
    return relink;
}

static bool
listed(const char *const *ids, const char *id)
{
    for (size_t i = 0; ids[i]; i++)
        if (cn_streq(ids[i], id))
            return true;
    return false;
}

/* The VNodes among ids that are running, as a NULL-terminated array of the same ids. */
static const char **
running_vnodes(struct pipd_core *core, const char *id, const struct graphs *g,
               const char *const *ids)
{
    size_t n = 0, count = 0;
    while (ids[count])
        count++;
    const char **run = xcalloc(count + 1, sizeof(*run));
    for (size_t i = 0; i < count; i++) {
        const struct rdl_map_entry *m = rdl_mapping_get(g->ml, ids[i]);
        struct cn_err ignored = CN_ERR_INIT;
        enum emb_state st = EMB_STATE_ABSENT;
        if (m && rdl_map_entry_to(m) &&
            emb_status(core->emb, id, g->ml, g->ul, ids[i], &st, &ignored) == 0 &&
            st == EMB_STATE_RUNNING)
            run[n++] = ids[i];
        cn_err_release(&ignored);
    }
    return run;
}

/*
 * Starts the VNodes among ids (just embedded in g) that were running
 * before (`was`) or are new in g; VNodes that were stopped stay stopped.
 */
static int
restart_vnodes(struct pipd_core *core, const char *id, const struct graphs *g,
               const struct graphs *before, const char *const *ids, const char *const *was,
               struct cn_err *err)
{
    for (size_t i = 0; ids[i]; i++) {
        const struct rdl_map_entry *m = rdl_mapping_get(g->ml, ids[i]);
        bool start = !rdl_mapping_get(before->ml, ids[i]) || listed(was, ids[i]);
        if (m && rdl_map_entry_to(m) && start &&
            emb_start(core->emb, id, g->ml, g->ul, ids[i], err) < 0)
            return -1;
    }
    return 0;
}

/*
 * Brings the embedding from old to new, element by element: what changed
 * or went is released from the old version, what changed or came is
 * embedded from the new one, and everything else is left alone (VNodes
 * that stay unchanged keep running). A VNode whose only change is in its
 * links is, where its plugin can (see relinkable), neither released nor
 * embedded: once the links are, its interfaces are changed in place and it
 * keeps running. In a provisioned CloudNet the re-embedded VNodes that were
 * running, and the new ones, are started. When the new part cannot be
 * embedded the old part is put back: -1 with err saying why.
 */
static int
apply_change(struct pipd_core *core, const char *id, bool provisioned, const struct graphs *old,
             const struct graphs *new, struct cn_err *err)
{
    size_t nout = 0, nin = 0, nrelink = 0, relinked = 0;
    const char **out = changed_elements(old, new, &nout);
    const char **in = changed_elements(new, old, &nin);
    const char **relink = split_relinkable(core, id, old, new, out, &nout, in, &nin, &nrelink);
    const char **was = provisioned ? running_vnodes(core, id, old, out) : xcalloc(1, sizeof(*was));
    bool embedded = false;
    int ret = -1;

    if (nout > 0 &&
        emb_release_elements(core->emb, id, old->ol, old->ml, old->ul, out, nout, err) < 0) {
        cn_err_prefix(err, "releasing the changed elements of '%s'", id);
        err->code = CN_E_INTERNAL;
        goto cleanup;
    }
    if (nin == 0 ||
        emb_embed_elements(core->emb, id, new->ol, new->ml, new->ul, in, nin, err) == 0) {
        embedded = true;
        for (; relinked < nrelink; relinked++)
            if (emb_relink_node(core->emb, id, old->ol, old->ml, new->ol, new->ml, new->ul,
                                relink[relinked], err) < 0)
                break;
    }
    if (embedded && relinked == nrelink) {
        if (provisioned && restart_vnodes(core, id, new, old, in, was, err) < 0) {
            cn_err_prefix(err, "starting the VNodes of '%s' again", id);
            err->code = CN_E_INTERNAL;
            goto cleanup;
        }
        ret = 0;
        goto cleanup;
    }
    cn_err_prefix(err, "embedding failed");
    err->code = CN_E_EMBEDDING;
    struct cn_err undo = CN_ERR_INIT;
    int r = 0;
    if (embedded) {
        /* The one that failed may be half done: it is taken back with the others. */
        for (size_t i = relinked + 1; r == 0 && i-- > 0;)
            r = emb_relink_node(core->emb, id, new->ol, new->ml, old->ol, old->ml, old->ul,
                                relink[i], &undo);
        if (r == 0 && nin > 0)
            r = emb_release_elements(core->emb, id, new->ol, new->ml, new->ul, in, nin, &undo);
    }
    if (r == 0 && nout > 0)
        r = emb_embed_elements(core->emb, id, old->ol, old->ml, old->ul, out, nout, &undo);
    if (r == 0 && provisioned)
        r = restart_vnodes(core, id, old, old, out, was, &undo);
    if (r < 0)
        cn_err_add(err, CN_E_EMBEDDING, "and the old version could not be restored: %s",
                   cn_err_msg(&undo));
    cn_err_release(&undo);

cleanup:
    free(out);
    free(in);
    free(relink);
    free(was);
    return ret;
}

/* The tags a reservation holds, as wanted tags, so a store modify can put them back. */
static struct pip_vlan_request *
held_vlans(const struct pip_reservation *r)
{
    struct pip_vlan_request *v = xcalloc(r->nvlans ? r->nvlans : 1, sizeof(*v));
    for (size_t i = 0; i < r->nvlans; i++)
        v[i] = (struct pip_vlan_request){.overlay_link = r->vlans[i].overlay_link,
                                         .tag = r->vlans[i].tag};
    return v;
}

static struct pipd_result *
modify_id(struct pipd_core *core, struct pip_store *st, const char *peer, const char *id,
          const char *yaml, struct cn_err *err)
{
    struct ul_snap *snap = NULL;
    struct pip_reservation *r = NULL, *now = NULL;
    struct rdl_graph *ol = NULL, *residual = NULL, *ml = NULL;
    struct graphs old = {NULL, NULL, NULL}, new = {NULL, NULL, NULL};
    struct cn_buf ml_yaml = CN_BUF_INIT;
    struct reserve_parts parts = {NULL, 0, NULL, 0}, back = {NULL, 0, NULL, 0};
    struct pip_vlan_request *tags = NULL;
    struct pipd_result *res = NULL;
    struct map_options opts;

    if (check_size(core, yaml, err) < 0)
        goto cleanup;
    r = get_owned(st, peer, id, FETCH_ALL, err);
    if (!r || check_usable(r, err) < 0)
        goto cleanup;
    /* A repeat finds its document in place already: the same answer, nothing redone. */
    if (cn_streq(r->overlay_yaml, yaml)) {
        res = result_from(r, true);
        goto cleanup;
    }
    ol = read_overlay(id, yaml, err);
    if (!ol)
        goto cleanup;
    snap = ul_take(core, st, err);
    if (!snap || load_graphs(r, snap->ul, &old, err) < 0)
        goto cleanup;
    if (!old.ol) {
        cn_err_set(err, CN_E_INTERNAL, "CloudNet '%s' has no stored overlay to modify", id);
        goto cleanup;
    }
    /* The CloudNet's own allocation is being replaced: it is free for the new version. */
    residual = residual_of(st, snap, id, err);
    if (!residual)
        goto cleanup;
    map_opts(core, &opts);
    opts.previous = old.ml;
    opts.move_cost = INFINITY;
    if (map_rdl_solve(residual, NULL, 0, ol, &opts, &ml, err) < 0)
        goto cleanup;
    if (reserve_parts(ol, ml, residual, &parts, err) < 0 || rdl_write(ml, &ml_yaml, err) < 0)
        goto cleanup;
    struct pip_modify_request req = {
        .id = id,
        .overlay_yaml = yaml,
        .mapping_yaml = ml_yaml.s,
        .allocs = parts.allocs,
        .nallocs = parts.nallocs,
        .vlans = parts.vlans,
        .nvlans = parts.nvlans,
    };
    if (pip_store_modify(st, &req, NULL, err) < 0)
        goto cleanup;
    /* Read back: the stored mapping carries the tags the store kept or picked. */
    now = pip_store_get_brief(st, id, true, err);
    int rc = now ? load_graphs(now, snap->ul, &new, err) : -1;
    if (rc == 0) {
        emb_lock(core);
        rc = apply_change(core, id, r->state == PIP_PROVISIONED, &old, &new, err);
        emb_unlock(core);
    }
    if (rc < 0) {
        /* The embedding is the old version again: so must the store be. */
        struct cn_err undo = CN_ERR_INIT;
        tags = held_vlans(r);
        if (reserve_parts(old.ol, old.ml, old.ul, &back, &undo) == 0) {
            struct pip_modify_request restore = {
                .id = id,
                .overlay_yaml = r->overlay_yaml,
                .mapping_yaml = r->mapping_yaml,
                .allocs = back.allocs,
                .nallocs = back.nallocs,
                .vlans = tags,
                .nvlans = r->nvlans,
            };
            pip_store_modify(st, &restore, NULL, &undo);
        }
        if (cn_err_is_set(&undo))
            cn_err_add(err, CN_E_INTERNAL, "and the reservation could not be restored: %s",
                       cn_err_msg(&undo));
        cn_err_release(&undo);
        goto cleanup;
    }
    res = result_from(now, true);
cleanup:
    pip_reservation_free(r);
    pip_reservation_free(now);
    rdl_graph_free(ol);
    rdl_graph_free(residual);
    rdl_graph_free(ml);
    graphs_release(&old);
    graphs_release(&new);
    ul_give(core, snap);
    cn_buf_release(&ml_yaml);
    reserve_parts_release(&parts);
    reserve_parts_release(&back);
    free(tags);
    return res;
}

struct pipd_result *
pipd_core_modify(struct pipd_core *core, const char *peer, const char *id, const char *yaml,
                 struct cn_err *err)
{
    struct pipd_result *res = NULL;
    struct pip_store *st = NULL;

    if (check_size(core, yaml, err) < 0)
        return NULL;
    if (check_id(id, err) < 0)
        return NULL;
    id_lock(core, id);
    st = store_take(core, err);
    if (st)
        res = modify_id(core, st, peer, id, yaml, err);
    store_give(core, st);
    id_unlock(core, id);
    return res;
}

/* ---- list ---- */

int
pipd_core_list(struct pipd_core *core, const char *peer, struct pipd_summary **ret_items,
               size_t *ret_count, struct cn_err *err)
{
    struct pip_reservation *items = NULL;
    size_t n = 0, k = 0;
    struct pip_store *st = store_take(core, err);

    if (!st)
        return -1;
    int rc = pip_store_list(st, PIP_LIST_ALL, &items, &n, err);
    store_give(core, st);
    if (rc < 0)
        return -1;
    struct pipd_summary *out = xcalloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        if (!cn_streq(items[i].peer ? items[i].peer : "", peer))
            continue;
        out[k].id = xstrdup(items[i].id);
        out[k].state = items[i].state;
        out[k].expires_at = items[i].state == PIP_ALLOCATED ? items[i].expires_at : 0;
        k++;
    }
    pip_reservations_free(items, n);
    *ret_items = out;
    *ret_count = k;
    return 0;
}

void
pipd_summaries_free(struct pipd_summary *items, size_t count)
{
    if (!items)
        return;
    for (size_t i = 0; i < count; i++)
        free(items[i].id);
    free(items);
}

/*
 * What a call on one CloudNet holds: the id marked busy, a store, and the
 * reservation as the call needs it (owned by peer).
 */
struct id_call {
    struct pipd_core *core;
    const char *id;
    struct pip_store *st;
    struct pip_reservation *r;
    bool locked;
};

/* Starts a call on id: -1 with err set when the id is bad, unknown or another peer's. */
static int
id_call_begin(struct id_call *c, struct pipd_core *core, const char *peer, const char *id,
              enum fetch how, struct cn_err *err)
{
    *c = (struct id_call){.core = core, .id = id};
    if (check_id(id, err) < 0)
        return -1;
    id_lock(core, id);
    c->locked = true;
    c->st = store_take(core, err);
    if (c->st)
        c->r = get_owned(c->st, peer, id, how, err);
    return c->r ? 0 : -1;
}

static void
id_call_end(struct id_call *c)
{
    pip_reservation_free(c->r);
    store_give(c->core, c->st);
    if (c->locked)
        id_unlock(c->core, c->id);
}

/* ---- confirm, renew, release ---- */

struct pipd_result *
pipd_core_confirm(struct pipd_core *core, const char *peer, const char *id, struct cn_err *err)
{
    struct id_call c;
    struct pipd_result *res = NULL;

    if (id_call_begin(&c, core, peer, id, FETCH_BRIEF, err) < 0 ||
        pip_store_confirm(c.st, id, err) < 0)
        goto cleanup;
    /* Confirmed (or confirmed before): provisioned, without a lease. */
    c.r->state = PIP_PROVISIONED;
    c.r->expires_at = 0;
    res = result_from(c.r, false);
cleanup:
    id_call_end(&c);
    return res;
}

struct pipd_result *
pipd_core_renew(struct pipd_core *core, const char *peer, const char *id, long lease_s,
                struct cn_err *err)
{
    struct id_call c;
    struct pipd_result *res = NULL;
    long long expires;

    if (id_call_begin(&c, core, peer, id, FETCH_BRIEF, err) < 0 ||
        pip_store_renew(c.st, id, lease_s, &expires, err) < 0)
        goto cleanup;
    res = result_from(c.r, false);
    res->expires_at = expires;
cleanup:
    id_call_end(&c);
    return res;
}

/*
 * Tears the embedding down, then frees what the store holds for it; r
 * needs its documents. On success r is updated to the released state.
 */
static int
release_r(struct pipd_core *core, struct pip_store *st, struct pip_reservation *r,
          const char *reason, struct cn_err *err)
{
    struct graphs g = {NULL, NULL, NULL};
    struct ul_snap *snap = NULL;
    int ret = -1;

    if (r->state == PIP_RELEASED) {
        ret = 0;
        goto cleanup;
    }
    /* A failed reservation was undone by emb_embed; release is still idempotent. */
    snap = ul_take(core, st, err);
    if (!snap || load_graphs(r, snap->ul, &g, err) < 0)
        goto cleanup;
    emb_lock(core);
    int rc = emb_release(core->emb, r->id, g.ol, g.ml, g.ul, err);
    emb_unlock(core);
    if (rc < 0) {
        /* Keep the reservation: its tags are still on the ports until a retry succeeds. */
        cn_err_prefix(err, "releasing the embedding of '%s'", r->id);
        err->code = CN_E_INTERNAL;
        goto cleanup;
    }
    if (pip_store_release(st, r->id, reason, err) < 0)
        goto cleanup;
    r->state = PIP_RELEASED;
    if (reason) {
        free(r->reason);
        r->reason = xstrdup(reason);
    }
    ret = 0;
cleanup:
    graphs_release(&g);
    ul_give(core, snap);
    return ret;
}

struct pipd_result *
pipd_core_release(struct pipd_core *core, const char *peer, const char *id, struct cn_err *err)
{
    struct id_call c;
    struct pipd_result *res = NULL;
    char *reason = NULL;

    if (id_call_begin(&c, core, peer, id, FETCH_DOCS, err) < 0)
        goto cleanup;
    reason = xasprintf("released by %s", peer);
    if (release_r(core, c.st, c.r, reason, err) < 0)
        goto cleanup;
    res = result_from(c.r, false);
cleanup:
    id_call_end(&c);
    free(reason);
    return res;
}

/* ---- status and provisioning ---- */

static void
add_element_state(struct pipd_result *res, const char *element, const char *state)
{
    res->elements = xrealloc(res->elements, (res->nelements + 1) * sizeof(*res->elements));
    res->elements[res->nelements].element = xstrdup(element);
    res->elements[res->nelements].state = state;
    res->nelements++;
}

/*
 * Fills res->elements: VNodes from their plugin, VLinks from the
 * reservation's state. The caller holds emb_lock.
 */
static int
fill_states(struct pipd_core *core, const struct pip_reservation *r, const struct graphs *g,
            struct pipd_result *res, struct cn_err *err)
{
    for (size_t i = 0; i < rdl_mapping_count(g->ml); i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(g->ml, i);
        const char *el = rdl_map_entry_id(m);
        enum emb_state st = EMB_STATE_ABSENT;
        if (!rdl_map_entry_to(m)) {
            add_element_state(res, el, is_live(r) ? "configured" : "absent");
            continue;
        }
        if (is_live(r) && emb_status(core->emb, r->id, g->ml, g->ul, el, &st, err) < 0)
            return -1;
        add_element_state(res, el, emb_state_name(st));
    }
    return 0;
}

struct pipd_result *
pipd_core_status(struct pipd_core *core, const char *peer, const char *id, struct cn_err *err)
{
    struct id_call c;
    struct pipd_result *res = NULL;
    struct graphs g = {NULL, NULL, NULL};
    struct ul_snap *snap = NULL;

    if (id_call_begin(&c, core, peer, id, FETCH_DOCS, err) < 0)
        goto cleanup;
    snap = ul_take(core, c.st, err);
    if (!snap || load_graphs(c.r, snap->ul, &g, err) < 0)
        goto cleanup;
    res = result_from(c.r, true);
    emb_lock(core);
    int rc = fill_states(core, c.r, &g, res, err);
    emb_unlock(core);
    if (rc < 0) {
        pipd_result_free(res);
        res = NULL;
    }
cleanup:
    graphs_release(&g);
    ul_give(core, snap);
    id_call_end(&c);
    return res;
}

static int
check_vnode(const struct rdl_graph *ml, const char *element, struct cn_err *err)
{
    const struct rdl_map_entry *m = rdl_mapping_get(ml, element);
    if (!m)
        return cn_err_set(err, CN_E_NOTFOUND, "no element '%s' in this CloudNet", element);
    if (!rdl_map_entry_to(m))
        return cn_err_set(err, CN_E_INVALID, "'%s' is a link, not a VNode", element);
    return 0;
}

/* Runs op on the VNodes (all of them when nelements is 0), then reads their states. */
static struct pipd_result *
power_locked(struct pipd_core *core, const struct pip_reservation *r, const struct graphs *g,
             enum pipd_power_op op, const char *const *elements, size_t nelements,
             struct cn_err *err)
{
    static int (*const ops[])(struct emb_ctx *, const char *, const struct rdl_graph *,
                              const struct rdl_graph *, const char *, struct cn_err *) = {
        [PIPD_START] = emb_start,
        [PIPD_STOP] = emb_stop,
        [PIPD_POWERCYCLE] = emb_powercycle,
    };
    struct pipd_result *res = NULL;

    if (nelements == 0 && ops[op](core->emb, r->id, g->ml, g->ul, NULL, err) < 0)
        return NULL;
    for (size_t i = 0; i < nelements; i++)
        if (ops[op](core->emb, r->id, g->ml, g->ul, elements[i], err) < 0)
            return NULL;
    res = result_from(r, false);
    if (fill_states(core, r, g, res, err) < 0) {
        pipd_result_free(res);
        res = NULL;
    }
    return res;
}

struct pipd_result *
pipd_core_power(struct pipd_core *core, const char *peer, const char *id, enum pipd_power_op op,
                const char *const *elements, size_t nelements, struct cn_err *err)
{
    struct id_call c;
    struct pipd_result *res = NULL;
    struct graphs g = {NULL, NULL, NULL};
    struct ul_snap *snap = NULL;

    if (id_call_begin(&c, core, peer, id, FETCH_DOCS, err) < 0 || check_usable(c.r, err) < 0)
        goto cleanup;
    /*
     * VNodes run only once confirmed (DESIGN section 5), which also lets
     * recovery embed an allocated CloudNet afresh without stopping anything.
     */
    if (c.r->state != PIP_PROVISIONED) {
        cn_err_set(err, CN_E_INVALID, "CloudNet '%s' is %s: confirm it first", id,
                   pip_state_name(c.r->state));
        goto cleanup;
    }
    snap = ul_take(core, c.st, err);
    if (!snap || load_graphs(c.r, snap->ul, &g, err) < 0)
        goto cleanup;
    for (size_t i = 0; i < nelements; i++)
        if (check_vnode(g.ml, elements[i], err) < 0)
            goto cleanup;
    emb_lock(core);
    res = power_locked(core, c.r, &g, op, elements, nelements, err);
    emb_unlock(core);
cleanup:
    graphs_release(&g);
    ul_give(core, snap);
    id_call_end(&c);
    return res;
}

char *
pipd_core_console(struct pipd_core *core, const char *peer, const char *id, const char *element,
                  struct cn_err *err)
{
    struct id_call c;
    struct graphs g = {NULL, NULL, NULL};
    struct ul_snap *snap = NULL;
    char *uri = NULL;

    if (id_call_begin(&c, core, peer, id, FETCH_DOCS, err) < 0 || check_usable(c.r, err) < 0)
        goto cleanup;
    snap = ul_take(core, c.st, err);
    if (!snap || load_graphs(c.r, snap->ul, &g, err) < 0 || check_vnode(g.ml, element, err) < 0)
        goto cleanup;
    emb_lock(core);
    if (emb_console(core->emb, id, g.ml, g.ul, element, &uri, err) < 0)
        uri = NULL;
    emb_unlock(core);
cleanup:
    graphs_release(&g);
    ul_give(core, snap);
    id_call_end(&c);
    return uri;
}

/* ---- leases and recovery ---- */

static int
reap_with(struct pipd_core *core, struct pip_store *st, struct cn_buf *log, size_t *ret_count,
          struct cn_err *err)
{
    struct pip_reservation *items = NULL;
    size_t n = 0, done = 0;
    int ret = 0;

    if (pip_store_list(st, PIP_LIST_EXPIRED, &items, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct cn_err one = CN_ERR_INIT;
        id_lock(core, items[i].id);
        struct pip_reservation *r = pip_store_get_brief(st, items[i].id, true, &one);
        /* A confirm or renew may have come first while the id was busy. */
        bool expired = r && r->state == PIP_ALLOCATED && r->expires_at > 0 &&
                       r->expires_at <= (long long)time(NULL);
        if (!r || (expired && release_r(core, st, r, "lease expired", &one) < 0)) {
            cn_err_add(err, one.code, "reaping '%s': %s", items[i].id, cn_err_msg(&one));
            ret = -1;
        } else if (expired) {
            done++;
            if (log)
                cn_buf_printf(log, "released '%s': lease expired\n", items[i].id);
        }
        id_unlock(core, items[i].id);
        pip_reservation_free(r);
        cn_err_release(&one);
    }
    pip_reservations_free(items, n);
    if (ret == 0 && ret_count)
        *ret_count = done;
    return ret;
}

int
pipd_core_reap(struct pipd_core *core, size_t *ret_count, struct cn_err *err)
{
    struct pip_store *st = store_take(core, err);
    if (!st)
        return -1;
    int ret = reap_with(core, st, NULL, ret_count, err);
    store_give(core, st);
    return ret;
}

/* Brings one reservation's embedding in line with its stored state; the caller holds emb_lock. */
static int
recover_one(struct pipd_core *core, struct pip_store *st, const struct rdl_graph *ul,
            const struct pip_reservation *r, struct cn_buf *log, struct cn_err *err)
{
    struct graphs g = {NULL, NULL, NULL};
    struct rdl_graph *nodes = NULL;
    char **lines = NULL;
    size_t n = 0;
    int ret = -1;

    if (load_graphs(r, ul, &g, err) < 0)
        goto cleanup;
    if (r->state == PIP_ALLOCATED) {
        /* A crash may have stopped emb_embed half way: embed it again from scratch. */
        if (emb_release(core->emb, r->id, g.ol, g.ml, g.ul, err) < 0)
            goto cleanup;
        if (emb_embed(core->emb, r->id, g.ol, g.ml, g.ul, err) < 0)
            goto failed;
        cn_buf_printf(log, "re-embedded allocated '%s'\n", r->id);
    } else if (r->state == PIP_PROVISIONED) {
        if (emb_leftovers(core->emb, r->id, g.ml, g.ul, &lines, &n, err) < 0)
            goto cleanup;
        if (n == 0) {
            if (emb_embed(core->emb, r->id, g.ol, g.ml, g.ul, err) < 0)
                goto failed;
            cn_buf_printf(log, "re-embedded provisioned '%s'\n", r->id);
        }
    } else {
        /*
         * Only what carries the CloudNet's owner tag is looked for: its VLAN
         * tags were freed on release and may be another CloudNet's by now.
         */
        if (emb_leftovers(core->emb, r->id, NULL, NULL, &lines, &n, err) < 0)
            goto cleanup;
        if (n > 0) {
            nodes = nodes_only(g.ml);
            if (emb_release(core->emb, r->id, NULL, nodes, g.ul, err) < 0)
                goto cleanup;
            cn_buf_printf(log, "removed %zu leftovers of %s '%s'\n", n, pip_state_name(r->state),
                          r->id);
        }
    }
    ret = 0;
    goto cleanup;
failed:
    cn_err_prefix(err, "re-embedding");
    {
        struct cn_err undo = CN_ERR_INIT;
        if (pip_store_fail(st, r->id, cn_err_msg(err), &undo) < 0)
            cn_err_add(err, undo.code, "%s", cn_err_msg(&undo));
        cn_err_release(&undo);
    }
cleanup:
    emb_lines_free(lines);
    rdl_graph_free(nodes);
    graphs_release(&g);
    return ret;
}

int
pipd_core_recover(struct pipd_core *core, struct cn_buf *log, struct cn_err *err)
{
    struct cn_buf scratch = CN_BUF_INIT;
    struct pip_reservation *items = NULL;
    struct pip_store *st = NULL;
    struct ul_snap *snap = NULL;
    size_t n = 0;
    int ret = 0;

    if (!log)
        log = &scratch;
    st = store_take(core, err);
    if (!st) {
        ret = -1;
        goto cleanup;
    }
    if (reap_with(core, st, log, NULL, err) < 0)
        ret = -1;
    if (pip_store_list(st, PIP_LIST_ALL, &items, &n, err) < 0) {
        ret = -1;
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        struct cn_err one = CN_ERR_INIT;
        id_lock(core, items[i].id);
        struct pip_reservation *r = pip_store_get_brief(st, items[i].id, true, &one);
        if (r && !snap)
            snap = ul_take(core, st, &one);
        int rc = -1;
        if (r && snap) {
            emb_lock(core);
            rc = recover_one(core, st, snap->ul, r, log, &one);
            emb_unlock(core);
        }
        if (rc < 0) {
            cn_err_add(err, one.code, "recovering '%s': %s", items[i].id, cn_err_msg(&one));
            ret = -1;
        }
        id_unlock(core, items[i].id);
        pip_reservation_free(r);
        cn_err_release(&one);
    }
cleanup:
    ul_give(core, snap);
    store_give(core, st);
    pip_reservations_free(items, n);
    cn_buf_release(&scratch);
    return ret;
}
