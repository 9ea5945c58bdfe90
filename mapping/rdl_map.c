/*
 * The RDL face of the mapping engine: turns an underlay document (plus the
 * mapping documents already allocated on it) and an overlay document into
 * the engine's numeric substrate and request, solves, and writes the answer
 * back as a mapping document (DESIGN §3).
 *
 * What the engine cannot see is decided here:
 *   - candidates: an overlay node may sit on an underlay node whose type its
 *     type fits, whose features match its (possibly vague) features and
 *     whose free capacity covers its demands;
 *   - vague demands: a resource takes the least value its constraints allow
 *     (a range's minimum, a list's smallest item; a group linked by same_as
 *     the least value every member admits; with no lower bound at all, the
 *     upper one, as completion does);
 *   - same_as between features: a group whose members could take several
 *     values is decided by solving once per value (per combination of
 *     values across groups) and keeping the best objective. That is exact,
 *     and bounded by MAP_RDL_MAX_COMBINATIONS; beyond it every such group
 *     takes completion's value when that value is possible at all, else the
 *     first possible one;
 *   - `anti_affinity: true` on an overlay node: it shares its host with no
 *     other node of the request. The adapter enumerates the hosts of such
 *     nodes within the same combination budget; beyond it (or when every
 *     node carries the feature) all nodes of the request get distinct
 *     hosts, which is stricter but never wrong;
 *   - `forwarding: false` on an underlay node: paths may end there but not
 *     pass through;
 *   - `image` never restricts placement; it, like every other vague
 *     feature, is fixed in the result (to completion's choice);
 *   - re-mapping (opts->previous): a node the previous mapping placed gets
 *     that host as its only candidate when it may not move, or as its home
 *     with a move cost (`migration_cost`, else opts->move_cost) that the
 *     engine adds to the objective; `migration_cost` steers only that.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAP_PRIV_H_ALLOW
#include "mapping/map_priv.h"
#include "rdl/rdl.h"
#include "util/strmap.h"
#include "util/util.h"

#define ANTI_AFFINITY "anti_affinity"
#define MIGRATION_COST "migration_cost"

/* ---- small helpers ---- */

static bool
is_definite(const struct rdl_value *v)
{
    return v && (rdl_value_kind(v) == RDL_VALUE_NUMBER || rdl_value_kind(v) == RDL_VALUE_STRING);
}

/* Whether the definite value x meets the demand c (a bare same_as always does). */
static bool
meets(const struct rdl_value *x, const struct rdl_value *c)
{
    return rdl_value_admits(c, x);
}

/* Features that steer the mapping itself rather than describe the element. */
static bool
mapping_control(const char *feature)
{
    return strcmp(feature, ANTI_AFFINITY) == 0 || strcmp(feature, MIGRATION_COST) == 0;
}

static bool
placement_ignored(const char *feature)
{
    return strcmp(feature, "image") == 0 || strcmp(feature, "latency") == 0;
}

static bool
anti_affine(const struct rdl_element *e)
{
    const char *s = rdl_props_string(rdl_element_features(e), ANTI_AFFINITY);
    return s && strcmp(s, "true") == 0;
}

static bool
forwards(const struct rdl_element *e)
{
    const char *s = rdl_props_string(rdl_element_features(e), "forwarding");
    return !(s && strcmp(s, "false") == 0);
}

/* Describes a demanded value for messages: "DE", "DE or FR", "between 2 and 4". */
static void
describe_value(struct cn_buf *b, const struct rdl_value *v)
{
    switch (rdl_value_kind(v)) {
    case RDL_VALUE_NUMBER:
        cn_buf_printf(b, "%g", rdl_value_number(v));
        break;
    case RDL_VALUE_STRING:
        cn_buf_puts(b, rdl_value_string(v));
        break;
    case RDL_VALUE_LIST:
        for (size_t i = 0; i < rdl_value_list_len(v); i++) {
            if (i)
                cn_buf_puts(b, " or ");
            describe_value(b, rdl_value_list_at(v, i));
        }
        break;
    case RDL_VALUE_RANGE: {
        bool has_min, has_max;
        double min = 0, max = 0;
        rdl_value_range(v, &has_min, &min, &has_max, &max);
        if (has_min && has_max)
            cn_buf_printf(b, "between %g and %g", min, max);
        else if (has_min)
            cn_buf_printf(b, "at least %g", min);
        else if (has_max)
            cn_buf_printf(b, "at most %g", max);
        else
            cn_buf_puts(b, "any value");
        break;
    }
    case RDL_VALUE_SAME_AS:
        cn_buf_printf(b, "the value of '%s'", rdl_value_same_as(v));
        break;
    }
}

/* Appends name to a list of distinct strings (borrowed). */
static void
names_add(const char ***names, size_t *n, size_t *cap, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*names)[i], name) == 0)
            return;
    CN_GROW(*names, *cap, *n + 1);
    (*names)[(*n)++] = name;
}

static size_t
uf_find(size_t *parent, size_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static void
uf_union(size_t *parent, size_t a, size_t b)
{
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

/* ---- the state of one solve ---- */

/* A feature group: overlay nodes whose values of one feature are tied by same_as. */
struct fgroup {
    const char *name;
    size_t *members; /* overlay node indices, document order */
    size_t nmembers;
    struct rdl_value **vals; /* the values the group may take, owned */
    size_t nvals;
    bool ignored; /* image, latency: fixed to completion's value, no placement effect */
    size_t choice;
};

struct onode {
    const struct rdl_element *e;
    size_t elem;  /* index among the overlay's elements */
    double *dem;  /* nres demands */
    size_t *base; /* hosts allowed before same_as and anti-affinity */
    size_t nbase;
    bool anti;
    size_t home;      /* underlay node in the previous mapping, or SIZE_MAX */
    double move_cost; /* penalty for leaving home; INFINITY: must stay */
};

struct olink {
    const struct rdl_element *e;
    size_t a, b; /* overlay node indices: first and second endpoint */
    double bw, max_lat;
};

struct adapter {
    const struct rdl_graph *ul, *ol;
    struct rdl_graph *completed; /* completion of ol: fallback and placement-ignored values */
    const struct map_options *opts;
    struct cn_err *err;

    /* underlay */
    size_t ns, ne;
    const struct rdl_element **snode, **slink;
    struct cn_strmap sidx; /* underlay id -> index + 1 (node or link by type) */
    struct map_substrate *sub;
    double *freecap; /* ns * nres, after existing mappings */

    /* resources */
    const char **res;
    size_t nres, res_cap;

    /* overlay */
    size_t nelem;
    struct cn_strmap oidx; /* overlay id -> element index + 1 */
    const char **rnames;   /* every resource name of any overlay element */
    size_t nrnames, rnames_cap;
    double *rval; /* nelem * nrnames: decided resource values */
    bool *rhas;
    struct onode *nodes;
    size_t nv;
    size_t *node_of; /* element index -> node index, or SIZE_MAX */
    struct olink *links;
    size_t nl;
    struct fgroup *groups;
    size_t ngroups, groups_cap;
    bool any_anti, all_anti;
    size_t max_hosts; /* rebalancing: hosts in use at most, 0 for no limit */
};

static long
ul_index(const struct adapter *ad, const char *id)
{
    void *p = cn_strmap_get(&ad->sidx, id);
    return p ? (long)((uintptr_t)p - 1) : -1;
}

static long
ol_index(const struct adapter *ad, const char *id)
{
    void *p = cn_strmap_get(&ad->oidx, id);
    return p ? (long)((uintptr_t)p - 1) : -1;
}

static void
adapter_release(struct adapter *ad)
{
    rdl_graph_free(ad->completed);
    free(ad->snode);
    free(ad->slink);
    cn_strmap_release(&ad->sidx);
    cn_strmap_release(&ad->oidx);
    map_substrate_free(ad->sub);
    free(ad->freecap);
    free(ad->res);
    free(ad->rnames);
    free(ad->rval);
    free(ad->rhas);
    for (size_t v = 0; v < ad->nv; v++) {
        free(ad->nodes[v].dem);
        free(ad->nodes[v].base);
    }
    free(ad->nodes);
    free(ad->node_of);
    free(ad->links);
    for (size_t g = 0; g < ad->ngroups; g++) {
        free(ad->groups[g].members);
        for (size_t i = 0; i < ad->groups[g].nvals; i++)
            rdl_value_free(ad->groups[g].vals[i]);
        free(ad->groups[g].vals);
    }
    free(ad->groups);
}

/* ---- substrate ---- */

static int
build_substrate(struct adapter *ad)
{
    const struct rdl_graph *ul = ad->ul;
    size_t n = rdl_graph_element_count(ul);
    ad->snode = xcalloc(n + 1, sizeof(*ad->snode));
    ad->slink = xcalloc(n + 1, sizeof(*ad->slink));
    for (size_t i = 0; i < n; i++) {
        const struct rdl_element *e = rdl_graph_element_at(ul, i);
        if (rdl_element_is_node(e)) {
            cn_strmap_put(&ad->sidx, rdl_element_id(e), (void *)(uintptr_t)(ad->ns + 1));
            ad->snode[ad->ns++] = e;
        } else if (rdl_element_is_link(e)) {
            cn_strmap_put(&ad->sidx, rdl_element_id(e), (void *)(uintptr_t)(ad->ne + 1));
            ad->slink[ad->ne++] = e;
        }
    }

    ad->sub = map_substrate_new(ad->nres, ad->res);
    double *cap = xcalloc(ad->nres + 1, sizeof(double));
    int ret = -1;
    for (size_t s = 0; s < ad->ns; s++) {
        const struct rdl_props *r = rdl_element_resources(ad->snode[s]);
        for (size_t k = 0; k < ad->nres; k++)
            cap[k] = rdl_props_number(r, ad->res[k], 0);
        if (map_substrate_add_node(ad->sub, rdl_element_id(ad->snode[s]), cap,
                                   forwards(ad->snode[s]), ad->err) < 0)
            goto cleanup;
    }
    for (size_t l = 0; l < ad->ne; l++) {
        const struct rdl_element *e = ad->slink[l];
        struct rdl_element *a, *b;
        if (rdl_link_endpoints(e, &a, &b) < 0 || ul_index(ad, rdl_element_id(a)) < 0 ||
            ul_index(ad, rdl_element_id(b)) < 0 || !rdl_element_is_node(a) ||
            !rdl_element_is_node(b)) {
            cn_err_set(ad->err, CN_E_INVALID, "underlay '%s': link '%s' does not join two nodes",
                       rdl_graph_name(ul), rdl_element_id(e));
            goto cleanup;
        }
        double bw = rdl_props_number(rdl_element_resources(e), "bandwidth", 0);
        double lat = rdl_props_number(rdl_element_features(e), "latency", 0);
        if (map_substrate_add_link(ad->sub, rdl_element_id(e),
                                   (size_t)ul_index(ad, rdl_element_id(a)),
                                   (size_t)ul_index(ad, rdl_element_id(b)), bw, lat, ad->err) < 0)
            goto cleanup;
    }
    ret = 0;
cleanup:
    free(cap);
    return ret;
}

/*
 * Takes what an existing mapping document uses. The engine accounts usage
 * per mapped request, so the document becomes a request of its own: each
 * node entry a node pinned to its host, each link entry a link between two
 * zero-demand nodes at the ends of its path.
 */
static int
allocate_existing(struct adapter *ad, const struct rdl_graph *ml)
{
    const char *file = rdl_graph_file(ml) ? rdl_graph_file(ml) : rdl_graph_name(ml);
    if (rdl_graph_kind(ml) != RDL_MAPPING)
        return cn_err_set(ad->err, CN_E_INVALID,
                          "%s: an existing mapping must be a mapping "
                          "document, this is an %s",
                          file, rdl_kind_name(rdl_graph_kind(ml)));
    if (!cn_streq(rdl_mapping_underlay(ml), rdl_graph_name(ad->ul)))
        return cn_err_set(ad->err, CN_E_INVALID, "%s: mapping '%s' is on underlay '%s', not '%s'",
                          file, rdl_graph_name(ml), rdl_mapping_underlay(ml),
                          rdl_graph_name(ad->ul));

    int ret = -1;
    size_t n = rdl_mapping_count(ml);
    struct map_request *req = map_request_new(ad->nres, ad->res);
    size_t *hosts = xcalloc(3 * n + 1, sizeof(size_t));
    size_t *off = xcalloc(n + 2, sizeof(size_t));
    size_t *path = NULL;
    size_t npath = 0, path_cap = 0, nhosts = 0, nlinks = 0;
    double *dem = xcalloc(ad->nres + 1, sizeof(double));
    struct map_result *res = NULL;

    for (size_t i = 0; i < n; i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(ml, i);
        const char *to = rdl_map_entry_to(m);
        if (!to)
            continue;
        long s = ul_index(ad, to);
        if (s < 0 || !rdl_element_is_node(rdl_graph_element(ad->ul, to))) {
            cn_err_set(ad->err, CN_E_INVALID, "%s: entry '%s' sits on '%s', not a node of '%s'",
                       file, rdl_map_entry_id(m), to, rdl_graph_name(ad->ul));
            goto cleanup;
        }
        for (size_t k = 0; k < ad->nres; k++)
            dem[k] = rdl_props_number(rdl_map_entry_resources(m), ad->res[k], 0);
        if (map_request_add_node(req, rdl_map_entry_id(m), dem, ad->err) < 0)
            goto cleanup;
        hosts[nhosts++] = (size_t)s;
    }
    for (size_t i = 0; i < n; i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(ml, i);
        if (rdl_map_entry_to(m) || !rdl_map_entry_has_path(m))
            continue;
        size_t len = rdl_map_entry_path_len(m);
        long at = len ? ul_index(ad, rdl_map_entry_path_at(m, 0)) : -1;
        long first = at;
        bool ok = len % 2 == 1 && at >= 0 &&
                  rdl_element_is_node(rdl_graph_element(ad->ul, rdl_map_entry_path_at(m, 0)));
        for (size_t k = 1; ok && k + 1 < len; k += 2) {
            const char *lid = rdl_map_entry_path_at(m, k);
            const char *nid = rdl_map_entry_path_at(m, k + 1);
            long e = ul_index(ad, lid), next = ul_index(ad, nid);
            const struct rdl_element *le = rdl_graph_element(ad->ul, lid);
            const struct rdl_element *ne = rdl_graph_element(ad->ul, nid);
            if (e < 0 || next < 0 || !le || !ne || !rdl_element_is_link(le) ||
                !rdl_element_is_node(ne)) {
                ok = false;
                break;
            }
            const struct map_slink *k2 = &ad->sub->links[e];
            if (!((k2->u == (size_t)at && k2->v == (size_t)next) ||
                  (k2->v == (size_t)at && k2->u == (size_t)next))) {
                ok = false;
                break;
            }
            CN_GROW(path, path_cap, npath + 1);
            path[npath++] = (size_t)e;
            at = next;
        }
        if (!ok) {
            cn_err_set(ad->err, CN_E_INVALID,
                       "%s: the path of entry '%s' is not a walk over '%s' (nodes and links "
                       "alternating, each link joining its neighbours)",
                       file, rdl_map_entry_id(m), rdl_graph_name(ad->ul));
            goto cleanup;
        }
        double bw = rdl_props_number(rdl_map_entry_resources(m), "bandwidth", 0);
        long a = map_request_add_node(req, NULL, NULL, ad->err);
        long b = a < 0 ? -1 : map_request_add_node(req, NULL, NULL, ad->err);
        if (b < 0 || map_request_add_link(req, rdl_map_entry_id(m), (size_t)a, (size_t)b, bw, 0,
                                          ad->err) < 0)
            goto cleanup;
        hosts[nhosts++] = (size_t)first;
        hosts[nhosts++] = (size_t)at;
        off[++nlinks] = npath;
    }

    /* Say in underlay terms what overflows; the engine only knows indices. */
    for (size_t k = 0; k < ad->nres; k++) {
        for (size_t s = 0; s < ad->ns; s++) {
            double use = map_substrate_node_used(ad->sub, s, k);
            for (size_t v = 0; v < map_request_num_nodes(req); v++)
                if (hosts[v] == s)
                    use += req->nodes[v].dem[k];
            if (use > ad->sub->nodes[s].cap[k] + 1e-6) {
                cn_err_set(ad->err, CN_E_INVALID,
                           "%s: existing mappings use %s %g on '%s', more than its capacity %g",
                           file, ad->res[k], use, rdl_element_id(ad->snode[s]),
                           ad->sub->nodes[s].cap[k]);
                goto cleanup;
            }
        }
    }
    for (size_t e = 0; e < ad->ne; e++) {
        double use = map_substrate_link_used(ad->sub, e);
        for (size_t l = 0; l < nlinks; l++)
            for (size_t i = off[l]; i < off[l + 1]; i++)
                if (path[i] == e)
                    use += req->links[l].bw;
        if (use > ad->sub->links[e].bw + 1e-6) {
            cn_err_set(ad->err, CN_E_INVALID,
                       "%s: existing mappings use bandwidth %g on '%s', more than its capacity %g",
                       file, use, rdl_element_id(ad->slink[e]), ad->sub->links[e].bw);
            goto cleanup;
        }
    }
    res = map_result_new(nhosts, nlinks);
    memcpy(res->host, hosts, nhosts * sizeof(size_t));
    map_result_set_paths(res, off, path ? path : off);
    if (map_substrate_allocate(ad->sub, req, res, ad->err) < 0) {
        cn_err_prefix(ad->err, "%s: existing mapping '%s' does not fit on '%s'", file,
                      rdl_graph_name(ml), rdl_graph_name(ad->ul));
        goto cleanup;
    }
    ret = 0;
cleanup:
    map_request_free(req);
    map_result_free(res);
    free(hosts);
    free(off);
    free(path);
    free(dem);
    return ret;
}

/* ---- resources ---- */

/*
 * Decides every element's value of resource name: the least value each
 * same_as group admits (see the top of the file).
 */
static int
decide_resource(struct adapter *ad, size_t ri)
{
    const char *name = ad->rnames[ri];
    size_t n = ad->nelem;
    size_t *parent = xcalloc(n + 1, sizeof(size_t));
    bool *in = xcalloc(n + 1, sizeof(bool));
    int ret = -1;
    for (size_t i = 0; i < n; i++)
        parent[i] = i;
    for (size_t i = 0; i < n; i++) {
        const struct rdl_value *v =
            rdl_props_get(rdl_element_resources(rdl_graph_element_at(ad->ol, i)), name);
        if (!v)
            continue;
        in[i] = true;
        const char *t = rdl_value_same_as(v);
        long j = t ? ol_index(ad, t) : -1;
        if (j >= 0) {
            in[j] = true;
            uf_union(parent, i, (size_t)j);
        }
    }
    for (size_t root = 0; root < n; root++) {
        if (!in[root] || uf_find(parent, root) != root)
            continue;
        bool found = false;
        double best = 0;
        /* Candidates: every number the constraints mention; the least that meets all wins. */
        for (size_t i = root; i < n; i++) {
            if (!in[i] || uf_find(parent, i) != root)
                continue;
            const struct rdl_value *v =
                rdl_props_get(rdl_element_resources(rdl_graph_element_at(ad->ol, i)), name);
            double cands[2];
            size_t nc = 0, nitems = 0;
            if (!v)
                continue;
            switch (rdl_value_kind(v)) {
            case RDL_VALUE_NUMBER:
                cands[nc++] = rdl_value_number(v);
                break;
            case RDL_VALUE_RANGE: {
                bool has_min, has_max;
                double min = 0, max = 0;
                rdl_value_range(v, &has_min, &min, &has_max, &max);
                if (has_min)
                    cands[nc++] = min;
                if (has_max)
                    cands[nc++] = max;
                break;
            }
            case RDL_VALUE_LIST:
                nitems = rdl_value_list_len(v);
                break;
            default:
                break;
            }
            for (size_t k = 0; k < nc + nitems; k++) {
                double x;
                if (k < nc) {
                    x = cands[k];
                } else {
                    const struct rdl_value *it = rdl_value_list_at(v, k - nc);
                    if (rdl_value_kind(it) != RDL_VALUE_NUMBER)
                        continue;
                    x = rdl_value_number(it);
                }
                if (found && x >= best)
                    continue;
                struct rdl_value *xv = rdl_value_new_number(x);
                bool all = true;
                for (size_t j = root; j < n && all; j++) {
                    if (!in[j] || uf_find(parent, j) != root)
                        continue;
                    const struct rdl_value *c =
                        rdl_props_get(rdl_element_resources(rdl_graph_element_at(ad->ol, j)), name);
                    all = !c || meets(xv, c);
                }
                rdl_value_free(xv);
                if (all) {
                    best = x;
                    found = true;
                }
            }
        }
        bool constrained = false;
        for (size_t i = root; i < n; i++) {
            if (!in[i] || uf_find(parent, i) != root)
                continue;
            const struct rdl_value *v =
                rdl_props_get(rdl_element_resources(rdl_graph_element_at(ad->ol, i)), name);
            bool has_min = false, has_max = false;
            double min, max;
            if (v && rdl_value_kind(v) == RDL_VALUE_RANGE)
                rdl_value_range(v, &has_min, &min, &has_max, &max);
            /* A range open at both ends constrains nothing. */
            if (v && rdl_value_kind(v) != RDL_VALUE_SAME_AS &&
                (rdl_value_kind(v) != RDL_VALUE_RANGE || has_min || has_max))
                constrained = true;
        }
        if (!found && constrained) {
            cn_err_set(ad->err, CN_E_INFEASIBLE,
                       "no value of resource '%s' satisfies every constraint on '%s'", name,
                       rdl_element_id(rdl_graph_element_at(ad->ol, root)));
            goto cleanup;
        }
        for (size_t i = root; found && i < n; i++) {
            if (!in[i] || uf_find(parent, i) != root)
                continue;
            ad->rval[i * ad->nrnames + ri] = best;
            ad->rhas[i * ad->nrnames + ri] = true;
        }
    }
    ret = 0;
cleanup:
    free(parent);
    free(in);
    return ret;
}

/* ---- overlay ---- */

static int
build_overlay(struct adapter *ad)
{
    const struct rdl_graph *ol = ad->ol;
    ad->nelem = rdl_graph_element_count(ol);
    ad->node_of = xcalloc(ad->nelem + 1, sizeof(size_t));
    ad->nodes = xcalloc(ad->nelem + 1, sizeof(*ad->nodes));
    ad->links = xcalloc(ad->nelem + 1, sizeof(*ad->links));
    for (size_t i = 0; i < ad->nelem; i++) {
        const struct rdl_element *e = rdl_graph_element_at(ol, i);
        cn_strmap_put(&ad->oidx, rdl_element_id(e), (void *)(uintptr_t)(i + 1));
        ad->node_of[i] = SIZE_MAX;
        const struct rdl_props *r = rdl_element_resources(e);
        for (size_t k = 0; k < rdl_props_count(r); k++) {
            names_add(&ad->rnames, &ad->nrnames, &ad->rnames_cap, rdl_props_name_at(r, k));
            if (rdl_element_is_node(e))
                names_add(&ad->res, &ad->nres, &ad->res_cap, rdl_props_name_at(r, k));
        }
    }
    ad->rval = xcalloc(ad->nelem * ad->nrnames + 1, sizeof(double));
    ad->rhas = xcalloc(ad->nelem * ad->nrnames + 1, sizeof(bool));
    for (size_t ri = 0; ri < ad->nrnames; ri++)
        if (decide_resource(ad, ri) < 0)
            return -1;

    ad->all_anti = true;
    for (size_t i = 0; i < ad->nelem; i++) {
        const struct rdl_element *e = rdl_graph_element_at(ol, i);
        if (!rdl_element_is_node(e))
            continue;
        struct onode *o = &ad->nodes[ad->nv];
        o->e = e;
        o->elem = i;
        o->anti = anti_affine(e);
        ad->any_anti |= o->anti;
        ad->all_anti &= o->anti;
        ad->node_of[i] = ad->nv++;
    }
    for (size_t i = 0; i < ad->nelem; i++) {
        const struct rdl_element *e = rdl_graph_element_at(ol, i);
        if (!rdl_element_is_link(e))
            continue;
        struct rdl_element *a, *b;
        if (rdl_link_endpoints(e, &a, &b) < 0 || !rdl_element_is_node(a) || !rdl_element_is_node(b))
            return cn_err_set(ad->err, CN_E_INVALID,
                              "overlay '%s': link '%s' does not join two "
                              "nodes",
                              rdl_graph_name(ol), rdl_element_id(e));
        struct olink *l = &ad->links[ad->nl++];
        l->e = e;
        l->a = ad->node_of[ol_index(ad, rdl_element_id(a))];
        l->b = ad->node_of[ol_index(ad, rdl_element_id(b))];
        long bi = -1;
        for (size_t k = 0; k < ad->nrnames; k++)
            if (strcmp(ad->rnames[k], "bandwidth") == 0)
                bi = (long)k;
        l->bw = bi >= 0 ? ad->rval[i * ad->nrnames + (size_t)bi] : 0;
        l->max_lat = INFINITY;
        const struct rdl_value *lat = rdl_props_get(rdl_element_features(e), "latency");
        if (lat && rdl_value_kind(lat) == RDL_VALUE_NUMBER) {
            l->max_lat = rdl_value_number(lat);
        } else if (lat && rdl_value_kind(lat) == RDL_VALUE_RANGE) {
            bool has_min, has_max;
            double min, max;
            rdl_value_range(lat, &has_min, &min, &has_max, &max);
            if (has_max)
                l->max_lat = max;
        }
    }
    return 0;
}

/* The value of resource res[k] decided for overlay element i (0 when none). */
static double
demand_of(const struct adapter *ad, size_t elem, const char *name)
{
    for (size_t k = 0; k < ad->nrnames; k++)
        if (strcmp(ad->rnames[k], name) == 0)
            return ad->rhas[elem * ad->nrnames + k] ? ad->rval[elem * ad->nrnames + k] : 0;
    return 0;
}

/* Whether underlay node s fits o by type and by features, vague ones included. */
static bool
type_and_features_fit(const struct adapter *ad, const struct rdl_element *e, size_t s,
                      const struct rdl_props *want)
{
    /* A border node takes only the stub of its transit link (which asks for `transit`). */
    if (rdl_element_is_border(ad->snode[s]) && !rdl_props_get(want, "transit"))
        return false;
    return rdl_type_fits(rdl_element_type(e), rdl_element_type(ad->snode[s])) &&
           rdl_features_match(want, rdl_element_features(ad->snode[s]));
}

static bool
resources_fit(const struct adapter *ad, const struct onode *o, size_t s)
{
    for (size_t k = 0; k < ad->nres; k++)
        if (o->dem[k] > 0 && ad->freecap[s * ad->nres + k] + MAP_EPS < o->dem[k])
            return false;
    return true;
}

/* Explains why no underlay node can host o, in the terms an operator uses. */
static int
explain_no_host(const struct adapter *ad, const struct onode *o, const struct rdl_props *want)
{
    const char *id = rdl_element_id(o->e);
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    bool any_type = false;
    for (size_t s = 0; s < ad->ns && !any_type; s++)
        any_type = rdl_type_fits(rdl_element_type(o->e), rdl_element_type(ad->snode[s]));
    if (!any_type) {
        cn_buf_printf(&b, "type %s fits no underlay node", rdl_element_type(o->e));
        goto done;
    }
    /* One feature at a time, in the request's order: the first nobody offers is the reason. */
    for (size_t i = 0; i < rdl_props_count(want); i++) {
        const char *name = rdl_props_name_at(want, i);
        const struct rdl_value *v = rdl_props_value_at(want, i);
        if (!rdl_feature_restricts_placement(name) || rdl_value_kind(v) == RDL_VALUE_SAME_AS)
            continue;
        bool offered = false;
        for (size_t s = 0; s < ad->ns && !offered; s++)
            offered = rdl_type_fits(rdl_element_type(o->e), rdl_element_type(ad->snode[s])) &&
                      rdl_value_admits(v, rdl_props_get(rdl_element_features(ad->snode[s]), name));
        if (!offered) {
            cn_buf_printf(&b, "none offers %s ", name);
            describe_value(&b, v);
            goto done;
        }
    }
    bool any_feat = false;
    for (size_t s = 0; s < ad->ns && !any_feat; s++)
        any_feat = type_and_features_fit(ad, o->e, s, want);
    if (!any_feat) {
        cn_buf_puts(&b, "none of the nodes of a fitting type offers all of its features at once");
        goto done;
    }
    for (size_t k = 0; k < ad->nres; k++) {
        if (o->dem[k] <= 0)
            continue;
        double most = 0;
        for (size_t s = 0; s < ad->ns; s++)
            if (type_and_features_fit(ad, o->e, s, want) && ad->freecap[s * ad->nres + k] > most)
                most = ad->freecap[s * ad->nres + k];
        if (most + MAP_EPS < o->dem[k]) {
            cn_buf_printf(&b, "needs %s %g, the largest free capacity is %g", ad->res[k], o->dem[k],
                          most);
            goto done;
        }
    }
    cn_buf_puts(&b, "no node that fits it has all of its resources free at once");
done:
    cn_err_set(ad->err, CN_E_INFEASIBLE, "no underlay node can host '%s': %s", id, b.s);
    cn_buf_release(&b);
    return -1;
}

/* Explains why a node that may not move no longer fits its previous host. */
static int
explain_cannot_stay(const struct adapter *ad, const struct onode *o, const struct rdl_props *want)
{
    const struct rdl_element *h = ad->snode[o->home];
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    if (!rdl_type_fits(rdl_element_type(o->e), rdl_element_type(h))) {
        cn_buf_printf(&b, "its type %s does not fit the host's type %s", rdl_element_type(o->e),
                      rdl_element_type(h));
        goto done;
    }
    for (size_t i = 0; i < rdl_props_count(want); i++) {
        const char *name = rdl_props_name_at(want, i);
        const struct rdl_value *v = rdl_props_value_at(want, i);
        if (!rdl_feature_restricts_placement(name) || rdl_value_kind(v) == RDL_VALUE_SAME_AS)
            continue;
        if (!rdl_value_admits(v, rdl_props_get(rdl_element_features(h), name))) {
            cn_buf_printf(&b, "the host does not offer %s ", name);
            describe_value(&b, v);
            goto done;
        }
    }
    for (size_t k = 0; k < ad->nres; k++) {
        double free_k = ad->freecap[o->home * ad->nres + k];
        if (o->dem[k] > 0 && free_k + MAP_EPS < o->dem[k]) {
            cn_buf_printf(&b, "it needs %s %g, the host has %g free besides other mappings",
                          ad->res[k], o->dem[k], free_k);
            goto done;
        }
    }
    cn_buf_puts(&b, "the host does not fit it");
done:
    cn_err_set(ad->err, CN_E_INFEASIBLE,
               "'%s' cannot stay on '%s': %s (give it a finite move cost to let it move)",
               rdl_element_id(o->e), rdl_element_id(h), b.s);
    cn_buf_release(&b);
    return -1;
}

/*
 * Reads the previous mapping: every overlay node it placed gets its host
 * there as home, with the move cost of the options or of its own
 * migration_cost feature.
 */
static int
read_previous(struct adapter *ad)
{
    const struct rdl_graph *prev = ad->opts->previous;
    for (size_t v = 0; v < ad->nv; v++) {
        ad->nodes[v].home = SIZE_MAX;
        ad->nodes[v].move_cost = INFINITY;
    }
    if (!prev)
        return 0;
    const char *file = rdl_graph_file(prev) ? rdl_graph_file(prev) : rdl_graph_name(prev);
    if (rdl_graph_kind(prev) != RDL_MAPPING)
        return cn_err_set(ad->err, CN_E_INVALID,
                          "%s: the previous mapping must be a mapping document, this is an %s",
                          file, rdl_kind_name(rdl_graph_kind(prev)));
    if (!cn_streq(rdl_mapping_underlay(prev), rdl_graph_name(ad->ul)))
        return cn_err_set(ad->err, CN_E_INVALID, "%s: mapping '%s' is on underlay '%s', not '%s'",
                          file, rdl_graph_name(prev), rdl_mapping_underlay(prev),
                          rdl_graph_name(ad->ul));
    if (!cn_streq(rdl_mapping_overlay(prev), rdl_graph_name(ad->ol)))
        return cn_err_set(ad->err, CN_E_INVALID, "%s: mapping '%s' is of overlay '%s', not of '%s'",
                          file, rdl_graph_name(prev), rdl_mapping_overlay(prev),
                          rdl_graph_name(ad->ol));
    double dflt = ad->opts->move_cost;
    if (isnan(dflt) || dflt < 0)
        return cn_err_set(ad->err, CN_E_INVALID, "the move cost must be >= 0, not %g", dflt);
    for (size_t v = 0; v < ad->nv; v++) {
        struct onode *o = &ad->nodes[v];
        const char *id = rdl_element_id(o->e);
        const struct rdl_map_entry *m = rdl_mapping_get(prev, id);
        const char *to = m ? rdl_map_entry_to(m) : NULL;
        if (!to)
            continue;
        double cost = dflt;
        const struct rdl_value *c = rdl_props_get(rdl_element_features(o->e), MIGRATION_COST);
        if (c) {
            if (rdl_value_kind(c) != RDL_VALUE_NUMBER || rdl_value_number(c) < 0)
                return cn_err_set(ad->err, CN_E_INVALID,
                                  "overlay '%s': node '%s': %s must be a number >= 0",
                                  rdl_graph_name(ad->ol), id, MIGRATION_COST);
            cost = rdl_value_number(c);
        }
        long s = ul_index(ad, to);
        const struct rdl_element *h = rdl_graph_element(ad->ul, to);
        if (s < 0 || !h || !rdl_element_is_node(h)) {
            /* Its host is gone: it moves whatever it costs, unless it may not. */
            if (isinf(cost))
                return cn_err_set(ad->err, CN_E_INFEASIBLE,
                                  "'%s' cannot stay on '%s': no such node in underlay '%s'", id, to,
                                  rdl_graph_name(ad->ul));
            continue;
        }
        o->home = (size_t)s;
        o->move_cost = cost;
    }
    return 0;
}

static int
build_candidates(struct adapter *ad, struct rdl_graph *stripped)
{
    for (size_t v = 0; v < ad->nv; v++) {
        struct onode *o = &ad->nodes[v];
        o->dem = xcalloc(ad->nres + 1, sizeof(double));
        for (size_t k = 0; k < ad->nres; k++)
            o->dem[k] = demand_of(ad, o->elem, ad->res[k]);
        const struct rdl_props *want =
            rdl_element_features(rdl_graph_element(stripped, rdl_element_id(o->e)));
        o->base = xcalloc(ad->ns + 1, sizeof(size_t));
        for (size_t s = 0; s < ad->ns; s++)
            if (type_and_features_fit(ad, o->e, s, want) && resources_fit(ad, o, s))
                o->base[o->nbase++] = s;
        if (o->home != SIZE_MAX && isinf(o->move_cost)) {
            bool stays = false;
            for (size_t k = 0; k < o->nbase && !stays; k++)
                stays = o->base[k] == o->home;
            if (!stays)
                return explain_cannot_stay(ad, o, want);
            o->base[0] = o->home;
            o->nbase = 1;
        }
        if (o->nbase == 0)
            return explain_no_host(ad, o, want);
    }
    return 0;
}

/* Whether underlay node s offers the definite value x of feature name. */
static bool
offers(const struct adapter *ad, size_t s, const char *name, const struct rdl_value *x)
{
    return rdl_value_admits(x, rdl_props_get(rdl_element_features(ad->snode[s]), name));
}

static void
value_candidates_add(struct rdl_value ***vals, size_t *n, size_t *cap, const struct rdl_value *v)
{
    if (!v)
        return;
    if (rdl_value_kind(v) == RDL_VALUE_LIST) {
        for (size_t i = 0; i < rdl_value_list_len(v); i++)
            value_candidates_add(vals, n, cap, rdl_value_list_at(v, i));
        return;
    }
    if (!is_definite(v))
        return;
    for (size_t i = 0; i < *n; i++)
        if (rdl_value_equal((*vals)[i], v))
            return;
    CN_GROW(*vals, *cap, *n + 1);
    (*vals)[(*n)++] = rdl_value_copy(v);
}

/* Whether x is a possible value of group g: every member admits it and could sit on a host offering
 * it. */
static bool
group_value_possible(const struct adapter *ad, const struct fgroup *g, const struct rdl_value *x)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct onode *o = &ad->nodes[g->members[i]];
        const struct rdl_value *c = rdl_props_get(rdl_element_features(o->e), g->name);
        if (c && !meets(x, c))
            return false;
        if (g->ignored)
            continue;
        bool host = false;
        for (size_t k = 0; k < o->nbase && !host; k++)
            host = offers(ad, o->base[k], g->name, x);
        if (!host)
            return false;
    }
    return true;
}

/* Finds the same_as groups of every feature and the values each may take. */
static int
build_groups(struct adapter *ad)
{
    const char **fnames = NULL;
    size_t nf = 0, fcap = 0;
    for (size_t v = 0; v < ad->nv; v++) {
        const struct rdl_props *f = rdl_element_features(ad->nodes[v].e);
        for (size_t k = 0; k < rdl_props_count(f); k++)
            if (!mapping_control(rdl_props_name_at(f, k)))
                names_add(&fnames, &nf, &fcap, rdl_props_name_at(f, k));
    }
    size_t *parent = xcalloc(ad->nv + 1, sizeof(size_t));
    bool *in = xcalloc(ad->nv + 1, sizeof(bool));
    int ret = -1;
    for (size_t fi = 0; fi < nf; fi++) {
        const char *name = fnames[fi];
        for (size_t v = 0; v < ad->nv; v++) {
            parent[v] = v;
            in[v] = false;
        }
        for (size_t v = 0; v < ad->nv; v++) {
            const struct rdl_value *x = rdl_props_get(rdl_element_features(ad->nodes[v].e), name);
            const char *t = x ? rdl_value_same_as(x) : NULL;
            long j = t ? ol_index(ad, t) : -1;
            if (j < 0 || ad->node_of[j] == SIZE_MAX)
                continue;
            in[v] = in[ad->node_of[j]] = true;
            uf_union(parent, v, ad->node_of[j]);
        }
        for (size_t root = 0; root < ad->nv; root++) {
            if (!in[root] || uf_find(parent, root) != root)
                continue;
            CN_GROW(ad->groups, ad->groups_cap, ad->ngroups + 1);
            struct fgroup *g = &ad->groups[ad->ngroups++];
            memset(g, 0, sizeof(*g));
            g->name = name;
            g->ignored = placement_ignored(name);
            g->members = xcalloc(ad->nv, sizeof(size_t));
            for (size_t v = root; v < ad->nv; v++)
                if (in[v] && uf_find(parent, v) == root)
                    g->members[g->nmembers++] = v;

            /* Completion's value first, so that ties keep the predictable choice. */
            struct rdl_value **cand = NULL;
            size_t nc = 0, ccap = 0;
            for (size_t i = 0; i < g->nmembers; i++) {
                const struct rdl_element *c =
                    rdl_graph_element(ad->completed, rdl_element_id(ad->nodes[g->members[i]].e));
                value_candidates_add(&cand, &nc, &ccap,
                                     c ? rdl_props_get(rdl_element_features(c), name) : NULL);
            }
            for (size_t i = 0; i < g->nmembers; i++)
                value_candidates_add(
                    &cand, &nc, &ccap,
                    rdl_props_get(rdl_element_features(ad->nodes[g->members[i]].e), name));
            for (size_t i = 0; !g->ignored && i < g->nmembers; i++) {
                const struct onode *o = &ad->nodes[g->members[i]];
                for (size_t k = 0; k < o->nbase; k++)
                    value_candidates_add(
                        &cand, &nc, &ccap,
                        rdl_props_get(rdl_element_features(ad->snode[o->base[k]]), name));
            }
            g->vals = xcalloc(nc + 1, sizeof(*g->vals));
            for (size_t i = 0; i < nc; i++) {
                if (group_value_possible(ad, g, cand[i]) && (!g->ignored || g->nvals == 0))
                    g->vals[g->nvals++] = cand[i];
                else
                    rdl_value_free(cand[i]);
            }
            free(cand);
            if (g->nvals == 0 && !g->ignored) {
                struct cn_buf who = CN_BUF_INIT;
                cn_buf_init(&who);
                for (size_t i = 0; i < g->nmembers; i++)
                    cn_buf_printf(&who, "%s'%s'", i ? ", " : "",
                                  rdl_element_id(ad->nodes[g->members[i]].e));
                cn_err_set(ad->err, CN_E_INFEASIBLE,
                           "no underlay node can host '%s': feature '%s' must be the same on "
                           "%s (same_as), and no value is both allowed and offered by a host "
                           "each of them fits on",
                           rdl_element_id(ad->nodes[g->members[0]].e), name, who.s);
                cn_buf_release(&who);
                goto cleanup;
            }
        }
    }
    ret = 0;
cleanup:
    free(fnames);
    free(parent);
    free(in);
    return ret;
}

/* ---- solving ---- */

enum dim_kind { DIM_GROUP, DIM_ANTI };

struct dim {
    enum dim_kind kind;
    size_t idx; /* group or node index */
    size_t radix;
};

struct plan {
    struct dim *dims;
    size_t ndims;
    bool distinct; /* every node on its own host (anti-affinity beyond the budget) */
};

static size_t
product_capped(size_t a, size_t b)
{
    if (a && b > (size_t)MAP_RDL_MAX_COMBINATIONS * 2 / a + 1)
        return (size_t)MAP_RDL_MAX_COMBINATIONS + 1;
    return a * b;
}

/* Picks what to enumerate within the combination budget. */
static void
make_plan(struct adapter *ad, struct plan *p)
{
    size_t pg = 1, pa = 1;
    for (size_t g = 0; g < ad->ngroups; g++)
        if (!ad->groups[g].ignored && ad->groups[g].nvals > 1)
            pg = product_capped(pg, ad->groups[g].nvals);
    for (size_t v = 0; v < ad->nv; v++)
        if (ad->nodes[v].anti && !ad->all_anti && ad->nv > 1)
            pa = product_capped(pa, ad->nodes[v].nbase);
    bool groups = pg <= MAP_RDL_MAX_COMBINATIONS;
    bool anti = ad->any_anti && !ad->all_anti && ad->nv > 1 &&
                product_capped(groups ? pg : 1, pa) <= MAP_RDL_MAX_COMBINATIONS;
    p->distinct = ad->any_anti && ad->nv > 1 && !anti;
    p->dims = xcalloc(ad->ngroups + ad->nv + 1, sizeof(*p->dims));
    for (size_t g = 0; g < ad->ngroups; g++) {
        struct fgroup *gr = &ad->groups[g];
        gr->choice = 0;
        if (gr->ignored || gr->nvals <= 1)
            continue;
        if (groups)
            p->dims[p->ndims++] = (struct dim){.kind = DIM_GROUP, .idx = g, .radix = gr->nvals};
    }
    for (size_t v = 0; anti && v < ad->nv; v++)
        if (ad->nodes[v].anti)
            p->dims[p->ndims++] =
                (struct dim){.kind = DIM_ANTI, .idx = v, .radix = ad->nodes[v].nbase};
}

/*
 * The request for one combination; NULL when the combination leaves some
 * node without a host (no error set: the combination is simply infeasible).
 */
static struct map_request *
combination_request(const struct adapter *ad, const struct plan *p, const size_t *digit,
                    struct cn_err *err)
{
    struct map_request *req = map_request_new(ad->nres, ad->res);
    size_t *cand = xcalloc(ad->ns + 1, sizeof(size_t));
    size_t *pinned = xcalloc(ad->nv + 1, sizeof(size_t)); /* host + 1 of anti nodes */
    bool *taken = xcalloc(ad->ns + 1, sizeof(bool));
    bool ok = true;

    for (size_t d = 0; d < p->ndims; d++) {
        if (p->dims[d].kind != DIM_ANTI)
            continue;
        size_t h = ad->nodes[p->dims[d].idx].base[digit[d]];
        if (taken[h])
            ok = false;
        taken[h] = true;
        pinned[p->dims[d].idx] = h + 1;
    }
    for (size_t v = 0; ok && v < ad->nv; v++) {
        const struct onode *o = &ad->nodes[v];
        size_t nc = 0;
        for (size_t k = 0; k < o->nbase; k++) {
            size_t s = o->base[k];
            if (pinned[v] ? s + 1 != pinned[v] : taken[s])
                continue;
            bool fine = true;
            for (size_t g = 0; g < ad->ngroups && fine; g++) {
                const struct fgroup *gr = &ad->groups[g];
                if (gr->ignored)
                    continue;
                for (size_t i = 0; i < gr->nmembers && fine; i++)
                    if (gr->members[i] == v)
                        fine = offers(ad, s, gr->name, gr->vals[gr->choice]);
            }
            if (fine)
                cand[nc++] = s;
        }
        if (nc == 0) {
            ok = false;
            break;
        }
        if (map_request_add_node(req, rdl_element_id(o->e), o->dem, err) < 0 ||
            map_request_set_candidates(req, v, cand, nc, err) < 0)
            goto fail;
        if (o->home != SIZE_MAX && isfinite(o->move_cost) &&
            map_request_set_home(req, v, o->home, o->move_cost, err) < 0)
            goto fail;
    }
    for (size_t l = 0; ok && l < ad->nl; l++) {
        const struct olink *k = &ad->links[l];
        /* The engine reads a bound <= 0 as none; a bound of 0 still allows zero-latency paths. */
        double lat = k->max_lat <= 0 ? 1e-12 : k->max_lat;
        if (map_request_add_link(req, rdl_element_id(k->e), k->a, k->b, k->bw, lat, err) < 0)
            goto fail;
    }
    map_request_set_distinct_hosts(req, p->distinct);
    map_request_set_max_hosts(req, ad->max_hosts);
    free(cand);
    free(pinned);
    free(taken);
    if (!ok) {
        map_request_free(req);
        return NULL;
    }
    return req;
fail:
    free(cand);
    free(pinned);
    free(taken);
    map_request_free(req);
    return NULL;
}

static bool
better(const struct map_result *a, const struct map_result *b)
{
    if (!b)
        return true;
    double va = map_result_value(a), vb = map_result_value(b);
    double tol = 1e-9 * fmax(1, fabs(vb));
    if (va < vb - tol)
        return true;
    return va <= vb + tol &&
           map_result_cost(a) < map_result_cost(b) - 1e-9 * fmax(1, map_result_cost(b));
}

/* ---- the mapping document ---- */

/* The value a host offers for a vague (list or range) demand: the first it admits. */
static struct rdl_value *
pick_offered(const struct rdl_value *want, const struct rdl_value *offer)
{
    if (!offer)
        return NULL;
    if (rdl_value_kind(want) == RDL_VALUE_LIST) {
        for (size_t i = 0; i < rdl_value_list_len(want); i++)
            if (rdl_value_admits(rdl_value_list_at(want, i), offer))
                return rdl_value_copy(rdl_value_list_at(want, i));
        return NULL;
    }
    if (rdl_value_kind(want) != RDL_VALUE_RANGE)
        return NULL;
    if (is_definite(offer))
        return meets(offer, want) ? rdl_value_copy(offer) : NULL;
    if (rdl_value_kind(offer) == RDL_VALUE_LIST) {
        for (size_t i = 0; i < rdl_value_list_len(offer); i++)
            if (meets(rdl_value_list_at(offer, i), want))
                return rdl_value_copy(rdl_value_list_at(offer, i));
        return NULL;
    }
    if (rdl_value_kind(offer) == RDL_VALUE_RANGE) {
        bool h1, h2, h3, h4;
        double a1 = 0, b1 = 0, a2 = 0, b2 = 0;
        rdl_value_range(want, &h1, &a1, &h2, &b1);
        rdl_value_range(offer, &h3, &a2, &h4, &b2);
        if (h1 || h3)
            return rdl_value_new_number(h1 && h3 ? fmax(a1, a2) : h1 ? a1 : a2);
        if (h2 || h4)
            return rdl_value_new_number(h2 && h4 ? fmin(b1, b2) : h2 ? b1 : b2);
    }
    return NULL;
}

/* The group of feature name that overlay node v belongs to, or NULL. */
static const struct fgroup *
group_of(const struct adapter *ad, size_t v, const char *name)
{
    for (size_t g = 0; g < ad->ngroups; g++) {
        const struct fgroup *gr = &ad->groups[g];
        if (strcmp(gr->name, name) != 0)
            continue;
        for (size_t i = 0; i < gr->nmembers; i++)
            if (gr->members[i] == v)
                return gr;
    }
    return NULL;
}

/* Sets the final value of one feature of node v on host s. */
static void
final_feature(const struct adapter *ad, size_t v, size_t s, const char *name, struct rdl_props *out)
{
    const struct onode *o = &ad->nodes[v];
    const struct rdl_value *want = rdl_props_get(rdl_element_features(o->e), name);
    const struct fgroup *g = group_of(ad, v, name);
    struct rdl_value *x = NULL;
    if (g && g->nvals) {
        x = rdl_value_copy(g->vals[g->choice]);
    } else if (want && is_definite(want)) {
        x = rdl_value_copy(want);
    } else if (placement_ignored(name)) {
        const struct rdl_element *c = rdl_graph_element(ad->completed, rdl_element_id(o->e));
        const struct rdl_value *cv = c ? rdl_props_get(rdl_element_features(c), name) : NULL;
        if (is_definite(cv))
            x = rdl_value_copy(cv);
    } else if (want) {
        x = pick_offered(want, rdl_props_get(rdl_element_features(ad->snode[s]), name));
    }
    if (x)
        rdl_props_set(out, name, x);
}

static struct rdl_graph *
write_mapping(const struct adapter *ad, const struct map_result *res, double value, double bound,
              double gap, double solve_ms, struct cn_err *err)
{
    const struct rdl_graph *ol = ad->ol;
    struct rdl_graph *ml = rdl_graph_new(RDL_MAPPING, rdl_graph_name(ol));
    rdl_mapping_set_graphs(ml, rdl_graph_name(ol), rdl_graph_name(ad->ul));
    struct rdl_objective obj = {
        .name = ad->opts->objective ? ad->opts->objective : "cost",
        .value = value,
        .bound = bound,
        .gap = gap,
        .solve_ms = solve_ms,
    };
    rdl_mapping_set_objective(ml, &obj);

    for (size_t i = 0; i < ad->nelem; i++) {
        const struct rdl_element *e = rdl_graph_element_at(ol, i);
        struct rdl_map_entry *m = rdl_mapping_add(ml, rdl_element_id(e), err);
        if (!m) {
            rdl_graph_free(ml);
            return NULL;
        }
        if (ad->node_of[i] != SIZE_MAX) {
            size_t v = ad->node_of[i];
            size_t s = map_result_host(res, v);
            rdl_map_entry_set_to(m, rdl_element_id(ad->snode[s]));
            const struct rdl_props *r = rdl_element_resources(e);
            for (size_t k = 0; k < rdl_props_count(r); k++) {
                const char *name = rdl_props_name_at(r, k);
                for (size_t ri = 0; ri < ad->nrnames; ri++)
                    if (strcmp(ad->rnames[ri], name) == 0 && ad->rhas[i * ad->nrnames + ri])
                        rdl_props_set_number(rdl_map_entry_resources_mut(m), name,
                                             ad->rval[i * ad->nrnames + ri]);
            }
            /* The request's features in its order, then those a same_as group hands it. */
            const struct rdl_props *f = rdl_element_features(e);
            struct rdl_props *out = rdl_map_entry_features_mut(m);
            for (size_t k = 0; k < rdl_props_count(f); k++)
                if (strcmp(rdl_props_name_at(f, k), MIGRATION_COST) != 0)
                    final_feature(ad, v, s, rdl_props_name_at(f, k), out);
            for (size_t g = 0; g < ad->ngroups; g++)
                if (!rdl_props_get(out, ad->groups[g].name) && group_of(ad, v, ad->groups[g].name))
                    final_feature(ad, v, s, ad->groups[g].name, out);
        } else {
            size_t l = 0;
            while (ad->links[l].e != e)
                l++;
            size_t at = map_result_host(res, ad->links[l].a), n;
            const size_t *path = map_result_path(res, l, &n);
            rdl_map_entry_path_append(m, rdl_element_id(ad->snode[at]));
            for (size_t k = 0; k < n; k++) {
                const struct map_slink *sl = &ad->sub->links[path[k]];
                at = sl->u == at ? sl->v : sl->u;
                rdl_map_entry_path_append(m, rdl_element_id(ad->slink[path[k]]));
                rdl_map_entry_path_append(m, rdl_element_id(ad->snode[at]));
            }
            rdl_props_set_number(rdl_map_entry_resources_mut(m), "bandwidth", ad->links[l].bw);
        }
    }
    return ml;
}

static int
solve_all(struct adapter *ad, struct rdl_graph **ret_mapping)
{
    struct plan p = {0};
    make_plan(ad, &p);
    size_t *digit = xcalloc(p.ndims + 1, sizeof(size_t));
    size_t *best_choice = xcalloc(ad->ngroups + 1, sizeof(size_t));
    struct map_result *best = NULL;
    struct cn_err serr = CN_ERR_INIT;
    cn_err_init(&serr);
    double t0 = cn_now(), bound = INFINITY;
    bool timed_out = false, unexplored = false, bound_known = true;
    size_t tried = 0;
    int ret = -1;

    for (;;) {
        for (size_t d = 0; d < p.ndims; d++)
            if (p.dims[d].kind == DIM_GROUP)
                ad->groups[p.dims[d].idx].choice = digit[d];
        struct map_options o = *ad->opts;
        if (ad->opts->time_limit_s > 0) {
            o.time_limit_s = ad->opts->time_limit_s - (cn_now() - t0);
            if (o.time_limit_s <= 0) {
                timed_out = !best;
                unexplored = true;
                break;
            }
        }
        cn_err_clear(&serr);
        struct map_request *req = combination_request(ad, &p, digit, &serr);
        if (!req && cn_err_is_set(&serr)) {
            cn_err_set(ad->err, serr.code, "%s", cn_err_msg(&serr));
            goto cleanup;
        }
        if (req) {
            struct map_result *res = NULL;
            tried++;
            if (map_solve(ad->sub, req, &o, &res, &serr) == 0) {
                bound = fmin(bound, map_result_bound(res));
                if (better(res, best)) {
                    map_result_free(best);
                    best = res;
                    for (size_t g = 0; g < ad->ngroups; g++)
                        best_choice[g] = ad->groups[g].choice;
                } else {
                    map_result_free(res);
                }
            } else if (serr.code == CN_E_TIMEOUT) {
                timed_out = true;
                bound_known = false;
            } else if (serr.code != CN_E_INFEASIBLE) {
                map_request_free(req);
                cn_err_set(ad->err, serr.code, "%s", cn_err_msg(&serr));
                goto cleanup;
            }
            map_request_free(req);
        }
        /* The next combination, mixed radix. */
        size_t d = 0;
        while (d < p.ndims && ++digit[d] == p.dims[d].radix)
            digit[d++] = 0;
        if (d == p.ndims)
            break;
    }

    if (!best) {
        if (timed_out)
            cn_err_set(ad->err, CN_E_TIMEOUT, "no solution within the time limit (%g s)",
                       ad->opts->time_limit_s);
        else if (ad->opts->algorithm != MAP_ALG_MIP && tried)
            cn_err_set(ad->err, CN_E_INFEASIBLE,
                       "infeasible: the %s algorithm found no mapping of '%s' onto '%s' (the "
                       "mip algorithm decides exactly)",
                       ad->opts->algorithm == MAP_ALG_GRC ? "grc" : "heuristic",
                       rdl_graph_name(ad->ol), rdl_graph_name(ad->ul));
        else
            cn_err_set(ad->err, CN_E_INFEASIBLE,
                       "infeasible: no mapping of '%s' onto '%s' meets every capacity, latency "
                       "and placement constraint",
                       rdl_graph_name(ad->ol), rdl_graph_name(ad->ul));
        goto cleanup;
    }
    for (size_t g = 0; g < ad->ngroups; g++)
        ad->groups[g].choice = best_choice[g];
    double value = map_result_value(best), gap;
    if (tried == 1 && !unexplored) {
        bound = map_result_bound(best);
        gap = map_result_gap(best);
    } else {
        /* Over several combinations the best is proven only when every one was solved. */
        if (unexplored || !bound_known)
            bound = 0;
        bound = fmin(bound, value);
        gap = value > 0 ? (value - bound) / value : 0;
        if (gap < 1e-9)
            gap = 0;
    }
    /*
     * The document reports the classic objective, which map_rdl_check() can
     * re-derive; move penalties are not part of it, so the bound drops by
     * the same amount (the gap stays that of the whole objective).
     */
    double moves = map_result_moves(best);
    if (moves > 0 && (!ad->opts->objective || strcmp(ad->opts->objective, "cost") == 0)) {
        value -= moves;
        bound = fmax(0, fmin(value, bound - moves));
    }
    /* Microseconds are as precise as a wall-clock reading of one solve deserves. */
    struct rdl_graph *ml =
        write_mapping(ad, best, value, bound, gap, round((cn_now() - t0) * 1e6) / 1e3, ad->err);
    if (!ml)
        goto cleanup;
    *ret_mapping = ml;
    ret = 0;
cleanup:
    map_result_free(best);
    free(best_choice);
    free(digit);
    free(p.dims);
    cn_err_release(&serr);
    return ret;
}

int
map_rdl_solve(const struct rdl_graph *underlay, const struct rdl_graph *const *existing,
              size_t n_existing, const struct rdl_graph *overlay, const struct map_options *opts,
              struct rdl_graph **ret_mapping, struct cn_err *err)
{
    struct map_options defaults;
    if (!opts) {
        map_options_init(&defaults);
        opts = &defaults;
    }
    if (opts->objective && !map_objective_known(opts->objective))
        return cn_err_set(err, CN_E_INVALID, "unknown objective '%s' (cost, load or energy)",
                          opts->objective);
    return map_rdl_solve_limited(underlay, existing, n_existing, overlay, opts, 0, ret_mapping,
                                 err);
}

int
map_rdl_solve_limited(const struct rdl_graph *underlay, const struct rdl_graph *const *existing,
                      size_t n_existing, const struct rdl_graph *overlay,
                      const struct map_options *opts, size_t max_hosts,
                      struct rdl_graph **ret_mapping, struct cn_err *err)
{
    if (rdl_graph_kind(underlay) != RDL_UNDERLAY)
        return cn_err_set(err, CN_E_INVALID, "'%s' is an %s, not an underlay",
                          rdl_graph_name(underlay), rdl_kind_name(rdl_graph_kind(underlay)));
    if (rdl_graph_kind(overlay) != RDL_OVERLAY)
        return cn_err_set(err, CN_E_INVALID, "'%s' is an %s, not an overlay",
                          rdl_graph_name(overlay), rdl_kind_name(rdl_graph_kind(overlay)));
    struct adapter ad;
    struct rdl_graph *stripped = NULL;
    int ret = -1;
    memset(&ad, 0, sizeof(ad));
    cn_strmap_init(&ad.sidx);
    cn_strmap_init(&ad.oidx);
    ad.ul = underlay;
    ad.ol = overlay;
    ad.opts = opts;
    ad.err = err;
    ad.max_hosts = max_hosts;

    /* Constraints that contradict each other whatever the underlay fail here, with their position.
     */
    ad.completed = rdl_complete(overlay, err);
    if (!ad.completed) {
        err->code = CN_E_INFEASIBLE;
        goto cleanup;
    }
    if (build_overlay(&ad) < 0 || build_substrate(&ad) < 0)
        goto cleanup;
    for (size_t i = 0; i < n_existing; i++)
        if (allocate_existing(&ad, existing[i]) < 0)
            goto cleanup;
    ad.freecap = xcalloc(ad.ns * ad.nres + 1, sizeof(double));
    for (size_t s = 0; s < ad.ns; s++)
        for (size_t k = 0; k < ad.nres; k++)
            ad.freecap[s * ad.nres + k] =
                ad.sub->nodes[s].cap[k] - map_substrate_node_used(ad.sub, s, k);

    /* Matching sees the request's own features only, not those that steer the mapping. */
    stripped = rdl_graph_copy(overlay);
    for (size_t i = 0; i < rdl_graph_element_count(stripped); i++) {
        struct rdl_props *f = rdl_element_features_mut(rdl_graph_element_at(stripped, i));
        rdl_props_remove(f, ANTI_AFFINITY);
        rdl_props_remove(f, MIGRATION_COST);
    }
    if (read_previous(&ad) < 0)
        goto cleanup;
    if (build_candidates(&ad, stripped) < 0 || build_groups(&ad) < 0)
        goto cleanup;
    ret = solve_all(&ad, ret_mapping);
cleanup:
    rdl_graph_free(stripped);
    adapter_release(&ad);
    return ret;
}
