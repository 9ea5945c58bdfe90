/*
 * pipd's core: the negotiation interface (DESIGN section 4) built from the
 * store (reservations, capacity, VLAN tags), the mapper (map_rdl_solve on
 * the residual substrate) and the embedding plugins.
 *
 * One mutex serialises every call, the reaper and recovery: the store is one
 * database connection and an embedding context is not thread-safe, and a
 * negotiation must see the residual substrate it reserves from. The store's
 * own transactions still keep other processes (pipctl) from double-booking.
 *
 * Order of work in negotiate: map, reserve (capacity and tags, all or
 * nothing), then embed. When embedding fails the reservation is marked
 * failed, which frees what it held, so nothing is left either way.
 */
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

struct pipd_core {
    const struct pipd_config *cfg;
    pthread_mutex_t lock;
    struct pip_store *store;
    struct emb_ctx *emb;
};

/* The graphs of one reservation, parsed from the store. */
struct graphs {
    struct rdl_graph *ol, *ml, *ul;
};

static void
graphs_release(struct graphs *g)
{
    rdl_graph_free(g->ol);
    rdl_graph_free(g->ml);
    rdl_graph_free(g->ul);
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
    struct rdl_graph *have = pip_store_dump_substrate(s, &probe), *ul = NULL;
    int ret = -1;

    if (have) {
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
    rdl_graph_free(have);
    rdl_graph_free(ul);
    cn_err_release(&probe);
    return ret;
}

struct pipd_core *
pipd_core_new(const struct pipd_config *cfg, struct cn_err *err)
{
    struct pipd_core *core = xcalloc(1, sizeof(*core));
    const char *password = getenv("PIPD_DB_PASSWORD");
    struct pip_store_config sc = {
        .socket = cfg->db_socket,
        .host = cfg->db_host,
        .port = cfg->db_port,
        .user = cfg->db_user,
        .password = password && *password ? password : NULL,
        .database = cfg->db_name,
        .max_lease_s = cfg->max_lease_s,
    };
    struct emb_config ec = {
        .libvirt_uri = cfg->libvirt_uri,
        .image_dir = cfg->image_dir,
        .template_dir = cfg->template_dir,
        .clipd_socket = cfg->clipd_socket,
        .dataplane_file = cfg->dataplane_file,
    };

    core->cfg = cfg;
    pthread_mutex_init(&core->lock, NULL);
    core->store = pip_store_open(&sc, err);
    if (!core->store)
        goto fail;
    if (pip_store_migrate(core->store, 0, NULL, err) < 0)
        goto fail;
    if (cfg->substrate_file && load_substrate_file(core->store, cfg->substrate_file, err) < 0)
        goto fail;
    core->emb = emb_ctx_new(&ec, err);
    if (!core->emb)
        goto fail;
    return core;
fail:
    pipd_core_free(core);
    return NULL;
}

void
pipd_core_free(struct pipd_core *core)
{
    if (!core)
        return;
    emb_ctx_free(core->emb);
    pip_store_close(core->store);
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

/* The reservation, when it exists and belongs to peer. */
static struct pip_reservation *
get_owned(struct pipd_core *core, const char *peer, const char *id, struct cn_err *err)
{
    struct pip_reservation *r;
    if (check_id(id, err) < 0)
        return NULL;
    r = pip_store_get(core->store, id, err);
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
load_graphs(struct pipd_core *core, const struct pip_reservation *r, struct graphs *ret,
            struct cn_err *err)
{
    struct graphs g = {NULL, NULL, NULL};
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
    g.ul = pip_store_dump_substrate(core->store, err);
    if (!g.ul)
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
        struct rdl_map_entry *c = rdl_mapping_add(g, rdl_map_entry_id(m), &err);
        if (!c)
            continue;
        rdl_map_entry_set_to(c, rdl_map_entry_to(m));
        const struct rdl_props *p = rdl_map_entry_resources(m);
        for (size_t j = 0; j < rdl_props_count(p); j++)
            rdl_props_set(rdl_map_entry_resources_mut(c), rdl_props_name_at(p, j),
                          rdl_value_copy(rdl_props_value_at(p, j)));
        p = rdl_map_entry_features(m);
        for (size_t j = 0; j < rdl_props_count(p); j++)
            rdl_props_set(rdl_map_entry_features_mut(c), rdl_props_name_at(p, j),
                          rdl_value_copy(rdl_props_value_at(p, j)));
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
    struct rdl_graph *ul = NULL;
    (void)peer;

    pthread_mutex_lock(&core->lock);
    d->name = core->cfg->name;
    d->version = PIPD_VERSION;
    if (pip_store_totals(core->store, &d->totals, &d->ntotals, err) < 0)
        goto fail;
    if (pip_store_free_vlans(core->store, NULL, &d->vlans, &d->nvlans, err) < 0)
        goto fail;
    ul = pip_store_dump_substrate(core->store, err);
    if (!ul)
        goto fail;
    for (size_t i = 0; i < rdl_graph_element_count(ul); i++) {
        const struct rdl_element *e = rdl_graph_element_at(ul, i);
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
    pthread_mutex_unlock(&core->lock);
    rdl_graph_free(ul);
    return d;
fail:
    pthread_mutex_unlock(&core->lock);
    rdl_graph_free(ul);
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

/*
 * What the mapping consumes: node resources on hosts, link resources on
 * every underlay link of a path (odd positions), and one VLAN tag per
 * virtual link. Tags are taken on the whole substrate: a tag is a
 * bridge-wide thing inside a node, so a tag unique across the PIP is what
 * keeps CloudNets apart whatever their paths.
 */
static void
reserve_parts(const struct rdl_graph *ol, const struct rdl_graph *ml, struct reserve_parts *p)
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
        int first, last, tag = 0;
        if (!rdl_element_is_link(e))
            continue;
        /* A transit stub carries the tag the VNP chose for it. */
        if (rdl_element_vlan_range(e, &first, &last) == 0 && first == last)
            tag = first;
        p->vlans = xrealloc(p->vlans, (p->nvlans + 1) * sizeof(*p->vlans));
        p->vlans[p->nvlans++] = (struct pip_vlan_request){
            .overlay_link = rdl_element_id(e),
            .tag = tag,
        };
    }
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

static struct pipd_result *
negotiate_locked(struct pipd_core *core, const char *peer, const char *id, const char *yaml,
                 long lease_s, struct cn_err *err)
{
    struct pip_reservation *r = NULL, *existing = NULL;
    struct rdl_graph *ol = NULL, *residual = NULL, *ml = NULL;
    struct graphs g = {NULL, NULL, NULL};
    struct cn_buf ml_yaml = CN_BUF_INIT;
    struct reserve_parts parts = {NULL, 0, NULL, 0};
    struct cn_err probe = CN_ERR_INIT, undo = CN_ERR_INIT;
    struct pipd_result *res = NULL;
    struct map_options opts;

    if (check_id(id, err) < 0)
        goto cleanup;
    if (!yaml || strlen(yaml) > core->cfg->max_request) {
        cn_err_set(err, CN_E_LIMIT, "request too large: the graph is limited to %zu bytes",
                   core->cfg->max_request);
        goto cleanup;
    }
    if (lease_s <= 0) {
        cn_err_set(err, CN_E_INVALID, "the lease must be a positive number of seconds");
        goto cleanup;
    }

    /* A repeat returns what the first call gave, once the id is known to be the caller's. */
    existing = pip_store_get(core->store, id, &probe);
    if (!existing && probe.code != CN_E_NOTFOUND) {
        cn_err_set(err, probe.code, "%s", cn_err_msg(&probe));
        goto cleanup;
    }
    if (existing) {
        if (!cn_streq(existing->peer ? existing->peer : "", peer)) {
            cn_err_set(err, CN_E_FORBIDDEN, "forbidden: CloudNet '%s' belongs to another peer", id);
            goto cleanup;
        }
        if (pip_store_lookup(core->store, id, yaml, &r, err) < 0)
            goto cleanup;
        if (!r) {
            cn_err_set(err, CN_E_INTERNAL, "CloudNet '%s' vanished during lookup", id);
            goto cleanup;
        }
        res = negotiate_again(r, err);
        goto cleanup;
    }

    ol = rdl_read_string(id, yaml, strlen(yaml), err);
    if (!ol) {
        err->code = CN_E_INVALID;
        goto cleanup;
    }
    if (rdl_graph_kind(ol) != RDL_OVERLAY) {
        cn_err_set(err, CN_E_INVALID, "%s: an overlay document is expected, not a %s", id,
                   rdl_kind_name(rdl_graph_kind(ol)));
        goto cleanup;
    }
    residual = pip_store_residual_substrate(core->store, err);
    if (!residual)
        goto cleanup;
    map_options_init(&opts);
    opts.algorithm = MAP_ALG_MIP;
    opts.objective = "cost";
    opts.time_limit_s = core->cfg->map_time_limit_s;
    if (map_rdl_solve(residual, NULL, 0, ol, &opts, &ml, err) < 0)
        goto cleanup;

    reserve_parts(ol, ml, &parts);
    if (rdl_write(ml, &ml_yaml, err) < 0)
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
    bool existed = false;
    struct pip_reservation *tmp = pip_store_reserve(core->store, &req, &existed, err);
    if (!tmp)
        goto cleanup;
    pip_reservation_free(tmp);
    /* Read back: the stored mapping carries the tags the store picked. */
    r = pip_store_get(core->store, id, err);
    if (!r)
        goto cleanup;
    if (existed) {
        res = negotiate_again(r, err);
        goto cleanup;
    }
    if (load_graphs(core, r, &g, err) < 0 || emb_embed(core->emb, id, g.ol, g.ml, g.ul, err) < 0) {
        int code = err->code;
        /* emb_embed undid its own work; give back the capacity and tags. */
        cn_err_prefix(err, "embedding failed");
        if (pip_store_fail(core->store, id, cn_err_msg(err), &undo) < 0)
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
    cn_buf_release(&ml_yaml);
    free(parts.allocs);
    free(parts.vlans);
    cn_err_release(&probe);
    cn_err_release(&undo);
    return res;
}

struct pipd_result *
pipd_core_negotiate(struct pipd_core *core, const char *peer, const char *id, const char *yaml,
                    long lease_s, struct cn_err *err)
{
    pthread_mutex_lock(&core->lock);
    struct pipd_result *res = negotiate_locked(core, peer, id, yaml, lease_s, err);
    pthread_mutex_unlock(&core->lock);
    return res;
}

/* ---- confirm, renew, release ---- */

struct pipd_result *
pipd_core_confirm(struct pipd_core *core, const char *peer, const char *id, struct cn_err *err)
{
    struct pip_reservation *r = NULL;
    struct pipd_result *res = NULL;

    pthread_mutex_lock(&core->lock);
    r = get_owned(core, peer, id, err);
    if (!r)
        goto cleanup;
    if (pip_store_confirm(core->store, id, err) < 0)
        goto cleanup;
    pip_reservation_free(r);
    r = pip_store_get(core->store, id, err);
    if (r)
        res = result_from(r, false);
cleanup:
    pthread_mutex_unlock(&core->lock);
    pip_reservation_free(r);
    return res;
}

struct pipd_result *
pipd_core_renew(struct pipd_core *core, const char *peer, const char *id, long lease_s,
                struct cn_err *err)
{
    struct pip_reservation *r = NULL;
    struct pipd_result *res = NULL;
    long long expires;

    pthread_mutex_lock(&core->lock);
    r = get_owned(core, peer, id, err);
    if (!r)
        goto cleanup;
    if (pip_store_renew(core->store, id, lease_s, &expires, err) < 0)
        goto cleanup;
    res = result_from(r, false);
    res->expires_at = expires;
cleanup:
    pthread_mutex_unlock(&core->lock);
    pip_reservation_free(r);
    return res;
}

/* Tears the embedding down, then frees what the store holds for it. */
static int
release_locked(struct pipd_core *core, const struct pip_reservation *r, const char *reason,
               struct cn_err *err)
{
    struct graphs g = {NULL, NULL, NULL};
    int ret = -1;

    if (r->state == PIP_RELEASED) {
        ret = 0;
        goto cleanup;
    }
    /* A failed reservation was undone by emb_embed; release is still idempotent. */
    if (load_graphs(core, r, &g, err) < 0)
        goto cleanup;
    if (emb_release(core->emb, r->id, g.ol, g.ml, g.ul, err) < 0) {
        /* Keep the reservation: its tags are still on the ports until a retry succeeds. */
        cn_err_prefix(err, "releasing the embedding of '%s'", r->id);
        err->code = CN_E_INTERNAL;
        goto cleanup;
    }
    ret = pip_store_release(core->store, r->id, reason, err);
cleanup:
    graphs_release(&g);
    return ret;
}

struct pipd_result *
pipd_core_release(struct pipd_core *core, const char *peer, const char *id, struct cn_err *err)
{
    struct pip_reservation *r = NULL;
    struct pipd_result *res = NULL;
    char *reason = NULL;

    pthread_mutex_lock(&core->lock);
    r = get_owned(core, peer, id, err);
    if (!r)
        goto cleanup;
    reason = xasprintf("released by %s", peer);
    if (release_locked(core, r, reason, err) < 0)
        goto cleanup;
    pip_reservation_free(r);
    r = pip_store_get(core->store, id, err);
    if (r)
        res = result_from(r, false);
cleanup:
    pthread_mutex_unlock(&core->lock);
    pip_reservation_free(r);
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

/* Fills res->elements: VNodes from their plugin, VLinks from the reservation's state. */
static int
fill_states(struct pipd_core *core, const struct pip_reservation *r, struct pipd_result *res,
            struct cn_err *err)
{
    struct graphs g = {NULL, NULL, NULL};
    int ret = -1;

    if (load_graphs(core, r, &g, err) < 0)
        goto cleanup;
    for (size_t i = 0; i < rdl_mapping_count(g.ml); i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(g.ml, i);
        const char *el = rdl_map_entry_id(m);
        enum emb_state st = EMB_STATE_ABSENT;
        if (!rdl_map_entry_to(m)) {
            add_element_state(res, el, is_live(r) ? "configured" : "absent");
            continue;
        }
        if (is_live(r) && emb_status(core->emb, r->id, g.ml, g.ul, el, &st, err) < 0)
            goto cleanup;
        add_element_state(res, el, emb_state_name(st));
    }
    ret = 0;
cleanup:
    graphs_release(&g);
    return ret;
}

struct pipd_result *
pipd_core_status(struct pipd_core *core, const char *peer, const char *id, struct cn_err *err)
{
    struct pip_reservation *r = NULL;
    struct pipd_result *res = NULL;

    pthread_mutex_lock(&core->lock);
    r = get_owned(core, peer, id, err);
    if (!r)
        goto cleanup;
    res = result_from(r, false);
    if (fill_states(core, r, res, err) < 0) {
        pipd_result_free(res);
        res = NULL;
    }
cleanup:
    pthread_mutex_unlock(&core->lock);
    pip_reservation_free(r);
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

struct pipd_result *
pipd_core_power(struct pipd_core *core, const char *peer, const char *id, enum pipd_power_op op,
                const char *const *elements, size_t nelements, struct cn_err *err)
{
    static int (*const ops[])(struct emb_ctx *, const char *, const struct rdl_graph *,
                              const struct rdl_graph *, const char *, struct cn_err *) = {
        [PIPD_START] = emb_start,
        [PIPD_STOP] = emb_stop,
        [PIPD_POWERCYCLE] = emb_powercycle,
    };
    struct pip_reservation *r = NULL;
    struct pipd_result *res = NULL;
    struct graphs g = {NULL, NULL, NULL};

    pthread_mutex_lock(&core->lock);
    r = get_owned(core, peer, id, err);
    if (!r || check_usable(r, err) < 0)
        goto cleanup;
    /*
     * VNodes run only once confirmed (DESIGN section 5), which also lets
     * recovery embed an allocated CloudNet afresh without stopping anything.
     */
    if (r->state != PIP_PROVISIONED) {
        cn_err_set(err, CN_E_INVALID, "CloudNet '%s' is %s: confirm it first", id,
                   pip_state_name(r->state));
        goto cleanup;
    }
    if (load_graphs(core, r, &g, err) < 0)
        goto cleanup;
    for (size_t i = 0; i < nelements; i++)
        if (check_vnode(g.ml, elements[i], err) < 0)
            goto cleanup;
    if (nelements == 0) {
        if (ops[op](core->emb, id, g.ml, g.ul, NULL, err) < 0)
            goto cleanup;
    }
    for (size_t i = 0; i < nelements; i++)
        if (ops[op](core->emb, id, g.ml, g.ul, elements[i], err) < 0)
            goto cleanup;
    res = result_from(r, false);
    if (fill_states(core, r, res, err) < 0) {
        pipd_result_free(res);
        res = NULL;
    }
cleanup:
    pthread_mutex_unlock(&core->lock);
    graphs_release(&g);
    pip_reservation_free(r);
    return res;
}

char *
pipd_core_console(struct pipd_core *core, const char *peer, const char *id, const char *element,
                  struct cn_err *err)
{
    struct pip_reservation *r = NULL;
    struct graphs g = {NULL, NULL, NULL};
    char *uri = NULL;

    pthread_mutex_lock(&core->lock);
    r = get_owned(core, peer, id, err);
    if (!r || check_usable(r, err) < 0 || load_graphs(core, r, &g, err) < 0 ||
        check_vnode(g.ml, element, err) < 0)
        goto cleanup;
    if (emb_console(core->emb, id, g.ml, g.ul, element, &uri, err) < 0)
        uri = NULL;
cleanup:
    pthread_mutex_unlock(&core->lock);
    graphs_release(&g);
    pip_reservation_free(r);
    return uri;
}

/* ---- leases and recovery ---- */

static int
reap_locked(struct pipd_core *core, struct cn_buf *log, size_t *ret_count, struct cn_err *err)
{
    struct pip_reservation *items = NULL;
    size_t n = 0, done = 0;
    int ret = 0;

    if (pip_store_list(core->store, PIP_LIST_EXPIRED, &items, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct cn_err one = CN_ERR_INIT;
        struct pip_reservation *r = pip_store_get(core->store, items[i].id, &one);
        if (!r || release_locked(core, r, "lease expired", &one) < 0) {
            cn_err_add(err, one.code, "reaping '%s': %s", items[i].id, cn_err_msg(&one));
            ret = -1;
        } else {
            done++;
            if (log)
                cn_buf_printf(log, "released '%s': lease expired\n", items[i].id);
        }
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
    pthread_mutex_lock(&core->lock);
    int ret = reap_locked(core, NULL, ret_count, err);
    pthread_mutex_unlock(&core->lock);
    return ret;
}

/* Brings one reservation's embedding in line with its stored state. */
static int
recover_one(struct pipd_core *core, const struct pip_reservation *r, struct cn_buf *log,
            struct cn_err *err)
{
    struct graphs g = {NULL, NULL, NULL};
    struct rdl_graph *nodes = NULL;
    char **lines = NULL;
    size_t n = 0;
    int ret = -1;

    if (load_graphs(core, r, &g, err) < 0)
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
        if (pip_store_fail(core->store, r->id, cn_err_msg(err), &undo) < 0)
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
    size_t n = 0;
    int ret = 0;

    if (!log)
        log = &scratch;
    pthread_mutex_lock(&core->lock);
    if (reap_locked(core, log, NULL, err) < 0)
        ret = -1;
    if (pip_store_list(core->store, PIP_LIST_ALL, &items, &n, err) < 0) {
        ret = -1;
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        struct cn_err one = CN_ERR_INIT;
        struct pip_reservation *r = pip_store_get(core->store, items[i].id, &one);
        if (!r || recover_one(core, r, log, &one) < 0) {
            cn_err_add(err, one.code, "recovering '%s': %s", items[i].id, cn_err_msg(&one));
            ret = -1;
        }
        pip_reservation_free(r);
        cn_err_release(&one);
    }
cleanup:
    pthread_mutex_unlock(&core->lock);
    pip_reservations_free(items, n);
    cn_buf_release(&scratch);
    return ret;
}
