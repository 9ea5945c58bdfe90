/*
 * Rebalancing: re-maps several CloudNets at once so that a share of the
 * underlay's hosts ends up empty (to power them down or service them),
 * moving as little as possible.
 *
 * The CloudNets become one overlay (element ids prefixed "NAME:" by their
 * overlay's name, so that messages name them plainly; same_as references
 * renamed alike) whose previous mapping is the
 * union of their current ones. map_rdl_solve_limited() then minimises the
 * move costs (the "migration" objective, ties broken by cost) under a limit
 * on the hosts in use, and the answer is cut back into one mapping document
 * per CloudNet. When the limit is out of reach, the least number of hosts
 * that can carry everything is found by a binary search over the limit
 * (stopping at the first feasible mapping of each probe), so that the
 * operator learns how much can be freed instead.
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

#define HOST_TYPE "/node/host"
#define MIGRATION_COST "migration_cost"

void
map_rdl_rebalance_free(struct map_rdl_rebalance *rb)
{
    if (!rb)
        return;
    for (size_t i = 0; i < rb->n; i++)
        rdl_graph_free(rb->mappings[i]);
    free(rb->mappings);
    for (size_t i = 0; i < rb->nmoves; i++) {
        free(rb->moves[i].element);
        free(rb->moves[i].from);
        free(rb->moves[i].to);
    }
    free(rb->moves);
    free(rb);
}

static bool
is_host(const struct rdl_element *e)
{
    return e && rdl_element_is_node(e) && rdl_type_fits(HOST_TYPE, rdl_element_type(e)) &&
           !rdl_element_is_border(e);
}

/* Copies props, renaming same_as references into the prefix (when not NULL). */
static void
copy_props(struct rdl_props *dst, const struct rdl_props *src, const char *prefix)
{
    for (size_t k = 0; k < rdl_props_count(src); k++) {
        struct rdl_value *v = rdl_value_copy(rdl_props_value_at(src, k));
        if (prefix && rdl_value_kind(v) == RDL_VALUE_SAME_AS) {
            char *id = xasprintf("%s:%s", prefix, rdl_value_same_as(v));
            rdl_value_set_same_as(v, id);
            free(id);
        }
        rdl_props_set(dst, rdl_props_name_at(src, k), v);
    }
}

/* The union of the overlays, and of their current mappings as its previous mapping. */
static int
build_union(const struct rdl_graph *ul, const struct rdl_graph *const *overlays,
            const struct rdl_graph *const *current, size_t n, struct rdl_graph **ret_ol,
            struct rdl_graph **ret_prev, struct cn_err *err)
{
    struct rdl_graph *ol = rdl_graph_new(RDL_OVERLAY, "rebalance");
    struct rdl_graph *prev = rdl_graph_new(RDL_MAPPING, "rebalance");
    int level = 1;
    rdl_mapping_set_graphs(prev, "rebalance", rdl_graph_name(ul));
    for (size_t i = 0; i < n; i++) {
        const struct rdl_graph *g = overlays[i];
        if (rdl_graph_level(g) < level)
            level = rdl_graph_level(g);
        for (size_t k = 0; k < rdl_graph_element_count(g); k++) {
            const struct rdl_element *e = rdl_graph_element_at(g, k);
            char *id = xasprintf("%s:%s", rdl_graph_name(g), rdl_element_id(e));
            struct rdl_element *u = rdl_graph_add_element(ol, id, rdl_element_type(e), err);
            free(id);
            if (!u)
                goto fail;
            copy_props(rdl_element_resources_mut(u), rdl_element_resources(e), rdl_graph_name(g));
            copy_props(rdl_element_features_mut(u), rdl_element_features(e), rdl_graph_name(g));
        }
        for (size_t k = 0; k < rdl_graph_interface_count(g); k++) {
            struct rdl_element *a, *b;
            rdl_graph_interface_at(g, k, &a, &b);
            char *ia = xasprintf("%s:%s", rdl_graph_name(g), rdl_element_id(a));
            char *ib = xasprintf("%s:%s", rdl_graph_name(g), rdl_element_id(b));
            int rc = rdl_graph_add_interface(ol, ia, ib, err);
            free(ia);
            free(ib);
            if (rc < 0)
                goto fail;
        }
        for (size_t k = 0; k < rdl_mapping_count(current[i]); k++) {
            const struct rdl_map_entry *m = rdl_mapping_at(current[i], k);
            if (!rdl_map_entry_to(m))
                continue;
            char *id = xasprintf("%s:%s", rdl_graph_name(g), rdl_map_entry_id(m));
            struct rdl_map_entry *u = rdl_mapping_add(prev, id, err);
            free(id);
            if (!u)
                goto fail;
            rdl_map_entry_set_to(u, rdl_map_entry_to(m));
        }
    }
    rdl_graph_set_level(ol, level);
    *ret_ol = ol;
    *ret_prev = prev;
    return 0;
fail:
    rdl_graph_free(ol);
    rdl_graph_free(prev);
    return -1;
}

/*
 * CloudNet i's part of the union mapping as a document of its own, with
 * the cost objective of its own elements (bound: its cpu, which every
 * mapping pays).
 */
static struct rdl_graph *
split_mapping(const struct rdl_graph *uml, const struct rdl_graph *ul, const struct rdl_graph *ol,
              double solve_ms, struct cn_err *err)
{
    struct rdl_graph *ml = rdl_graph_new(RDL_MAPPING, rdl_graph_name(ol));
    rdl_mapping_set_graphs(ml, rdl_graph_name(ol), rdl_graph_name(ul));
    double cost = 0, cpu = 0;
    for (size_t k = 0; k < rdl_graph_element_count(ol); k++) {
        const struct rdl_element *e = rdl_graph_element_at(ol, k);
        char *id = xasprintf("%s:%s", rdl_graph_name(ol), rdl_element_id(e));
        const struct rdl_map_entry *src = rdl_mapping_get(uml, id);
        free(id);
        struct rdl_map_entry *m = src ? rdl_mapping_add(ml, rdl_element_id(e), err) : NULL;
        if (!m) {
            if (!src)
                cn_err_set(err, CN_E_INTERNAL, "element '%s' of '%s' was not mapped",
                           rdl_element_id(e), rdl_graph_name(ol));
            rdl_graph_free(ml);
            return NULL;
        }
        if (rdl_map_entry_to(src)) {
            rdl_map_entry_set_to(m, rdl_map_entry_to(src));
            double c = rdl_props_number(rdl_map_entry_resources(src), "cpu", 0);
            cost += c;
            cpu += c;
        } else {
            size_t len = rdl_map_entry_path_len(src);
            for (size_t p = 0; p < len; p++)
                rdl_map_entry_path_append(m, rdl_map_entry_path_at(src, p));
            cost +=
                rdl_props_number(rdl_map_entry_resources(src), "bandwidth", 0) * (double)(len / 2);
        }
        copy_props(rdl_map_entry_resources_mut(m), rdl_map_entry_resources(src), NULL);
        copy_props(rdl_map_entry_features_mut(m), rdl_map_entry_features(src), NULL);
    }
    struct rdl_objective obj = {
        .name = "cost",
        .value = cost,
        .bound = cpu,
        .gap = cost > 0 ? (cost - cpu) / cost : 0,
        .solve_ms = solve_ms,
    };
    rdl_mapping_set_objective(ml, &obj);
    return ml;
}

/* Marks the hosts that node entries of ml sit on; returns how many were new. */
static size_t
mark_used(const struct rdl_graph *ml, const struct rdl_graph *ul, struct cn_strmap *used)
{
    size_t added = 0;
    for (size_t k = 0; k < rdl_mapping_count(ml); k++) {
        const char *to = rdl_map_entry_to(rdl_mapping_at(ml, k));
        if (!to || !is_host(rdl_graph_element(ul, to)) || cn_strmap_get(used, to))
            continue;
        cn_strmap_put(used, to, (void *)(uintptr_t)1);
        added++;
    }
    return added;
}

static double
node_move_cost(const struct rdl_element *e, double dflt)
{
    const struct rdl_value *c = rdl_props_get(rdl_element_features(e), MIGRATION_COST);
    return c && rdl_value_kind(c) == RDL_VALUE_NUMBER ? rdl_value_number(c) : dflt;
}

static int
check_args(const struct rdl_graph *ul, const struct rdl_graph *const *overlays,
           const struct rdl_graph *const *current, size_t n, double free_pct, struct cn_err *err)
{
    if (rdl_graph_kind(ul) != RDL_UNDERLAY)
        return cn_err_set(err, CN_E_INVALID, "'%s' is an %s, not an underlay", rdl_graph_name(ul),
                          rdl_kind_name(rdl_graph_kind(ul)));
    if (n == 0)
        return cn_err_set(err, CN_E_INVALID, "no CloudNet to rebalance");
    if (!(free_pct >= 0 && free_pct <= 100))
        return cn_err_set(err, CN_E_INVALID, "the share of hosts to free must be 0..100%%, not %g",
                          free_pct);
    for (size_t i = 0; i < n; i++) {
        const struct rdl_graph *ml = current[i];
        const char *file = rdl_graph_file(ml) ? rdl_graph_file(ml) : rdl_graph_name(ml);
        if (rdl_graph_kind(overlays[i]) != RDL_OVERLAY)
            return cn_err_set(err, CN_E_INVALID, "'%s' is an %s, not an overlay",
                              rdl_graph_name(overlays[i]),
                              rdl_kind_name(rdl_graph_kind(overlays[i])));
        for (size_t j = 0; j < i; j++)
            if (cn_streq(rdl_graph_name(overlays[j]), rdl_graph_name(overlays[i])))
                return cn_err_set(err, CN_E_INVALID, "two CloudNets are named '%s'",
                                  rdl_graph_name(overlays[i]));
        if (rdl_graph_kind(ml) != RDL_MAPPING)
            return cn_err_set(err, CN_E_INVALID,
                              "%s: a current mapping must be a mapping "
                              "document, this is an %s",
                              file, rdl_kind_name(rdl_graph_kind(ml)));
        if (!cn_streq(rdl_mapping_underlay(ml), rdl_graph_name(ul)))
            return cn_err_set(err, CN_E_INVALID, "%s: mapping '%s' is on underlay '%s', not '%s'",
                              file, rdl_graph_name(ml), rdl_mapping_underlay(ml),
                              rdl_graph_name(ul));
        if (!cn_streq(rdl_mapping_overlay(ml), rdl_graph_name(overlays[i])))
            return cn_err_set(err, CN_E_INVALID, "%s: mapping '%s' is of overlay '%s', not of '%s'",
                              file, rdl_graph_name(ml), rdl_mapping_overlay(ml),
                              rdl_graph_name(overlays[i]));
    }
    return 0;
}

int
map_rdl_rebalance(const struct rdl_graph *underlay, const struct rdl_graph *const *existing,
                  size_t n_existing, const struct rdl_graph *const *overlays,
                  const struct rdl_graph *const *current, size_t n, double free_pct,
                  const struct map_options *opts, struct map_rdl_rebalance **ret_rb,
                  struct cn_err *err)
{
    struct map_options defaults;
    if (!opts) {
        map_options_init(&defaults);
        opts = &defaults;
    }
    if (check_args(underlay, overlays, current, n, free_pct, err) < 0)
        return -1;

    double t0 = cn_now();
    struct rdl_graph *uol = NULL, *uprev = NULL, *uml = NULL;
    struct map_rdl_rebalance *rb = xcalloc(1, sizeof(*rb));
    struct cn_strmap used;
    struct cn_err serr = CN_ERR_INIT;
    size_t moves_cap = 0;
    cn_strmap_init(&used);
    cn_err_init(&serr);
    int ret = -1;

    for (size_t k = 0; k < rdl_graph_element_count(underlay); k++)
        rb->hosts += is_host(rdl_graph_element_at(underlay, k));
    for (size_t i = 0; i < n_existing; i++)
        rb->used_before += mark_used(existing[i], underlay, &used);
    for (size_t i = 0; i < n; i++)
        rb->used_before += mark_used(current[i], underlay, &used);
    cn_strmap_release(&used);
    cn_strmap_init(&used);

    if (build_union(underlay, overlays, current, n, &uol, &uprev, err) < 0)
        goto cleanup;
    struct map_options o = *opts;
    o.objective = "migration";
    o.previous = uprev;
    /* Without a price every move counts once: the least number of moves. */
    double dflt = isinf(opts->move_cost) ? 1 : opts->move_cost;
    o.move_cost = dflt;
    size_t target = (size_t)floor((1 - free_pct / 100) * (double)rb->hosts + 1e-9);
    rb->max_used = target;

    /* A limit of 0 hosts means none to the engine: only an overlay without nodes meets it. */
    int rc = -1;
    if (target > 0) {
        if (opts->time_limit_s > 0)
            o.time_limit_s = opts->time_limit_s - (cn_now() - t0);
        rc = map_rdl_solve_limited(underlay, existing, n_existing, uol, &o, target, &uml, &serr);
        if (rc < 0 && serr.code != CN_E_INFEASIBLE) {
            cn_err_set(err, serr.code, "%s", cn_err_msg(&serr));
            goto cleanup;
        }
    }
    if (rc < 0) {
        /*
         * Out of reach: find how many hosts everything needs at least. More
         * hosts allowed never hurt, so a binary search settles it.
         */
        o.mip_gap = 1; /* any feasible mapping answers the question */
        size_t lo = target + 1, hi = rb->hosts, least = 0;
        bool checked_all = false;
        while (lo <= hi) {
            size_t k = checked_all ? lo + (hi - lo) / 2 : hi;
            struct rdl_graph *probe = NULL;
            if (opts->time_limit_s > 0) {
                o.time_limit_s = opts->time_limit_s - (cn_now() - t0);
                if (o.time_limit_s <= 0) {
                    cn_err_set(err, CN_E_TIMEOUT,
                               "no solution within the time limit (%g s): cannot free %g%% of "
                               "%zu hosts, and how many can be was not settled",
                               opts->time_limit_s, free_pct, rb->hosts);
                    goto cleanup;
                }
            }
            cn_err_clear(&serr);
            int pr =
                map_rdl_solve_limited(underlay, existing, n_existing, uol, &o, k, &probe, &serr);
            rdl_graph_free(probe);
            if (pr < 0 && serr.code != CN_E_INFEASIBLE) {
                cn_err_set(err, serr.code,
                           "cannot free %g%% of %zu hosts, and how many can be was not "
                           "settled: %s",
                           free_pct, rb->hosts, cn_err_msg(&serr));
                goto cleanup;
            }
            if (!checked_all && pr < 0) {
                /* Not even with every host: the CloudNets do not fit at all. */
                cn_err_set(err, CN_E_INFEASIBLE, "the CloudNets do not fit together on '%s': %s",
                           rdl_graph_name(underlay), cn_err_msg(&serr));
                goto cleanup;
            }
            if (!checked_all) {
                least = k;
                checked_all = true;
                hi = k - 1;
            } else if (pr == 0) {
                least = k;
                hi = k - 1;
            } else {
                lo = k + 1;
            }
        }
        if (!checked_all) {
            /* The target already allowed every host. */
            cn_err_set(err, CN_E_INFEASIBLE, "the CloudNets do not fit together on '%s': %s",
                       rdl_graph_name(underlay), cn_err_msg(&serr));
            goto cleanup;
        }
        size_t can = rb->hosts - least;
        cn_err_set(err, CN_E_INFEASIBLE,
                   "cannot free %g%% of %zu hosts: at most %zu (%.1f%%) can be emptied", free_pct,
                   rb->hosts, can, 100.0 * (double)can / (double)rb->hosts);
        goto cleanup;
    }

    struct rdl_objective uobj;
    rdl_mapping_objective(uml, &uobj);
    rb->gap = uobj.gap;
    rb->solve_ms = round((cn_now() - t0) * 1e6) / 1e3;
    rb->n = n;
    rb->mappings = xcalloc(n + 1, sizeof(*rb->mappings));
    for (size_t i = 0; i < n; i++) {
        rb->mappings[i] = split_mapping(uml, underlay, overlays[i], rb->solve_ms, err);
        if (!rb->mappings[i])
            goto cleanup;
        for (size_t k = 0; k < rdl_mapping_count(rb->mappings[i]); k++) {
            const struct rdl_map_entry *m = rdl_mapping_at(rb->mappings[i], k);
            const struct rdl_map_entry *was = rdl_mapping_get(current[i], rdl_map_entry_id(m));
            const char *to = rdl_map_entry_to(m);
            const char *from = was ? rdl_map_entry_to(was) : NULL;
            if (!to || !from || strcmp(to, from) == 0)
                continue;
            CN_GROW(rb->moves, moves_cap, rb->nmoves + 1);
            struct map_rdl_move *mv = &rb->moves[rb->nmoves++];
            mv->cloudnet = i;
            mv->element = xstrdup(rdl_map_entry_id(m));
            mv->from = xstrdup(from);
            mv->to = xstrdup(to);
            mv->cost = node_move_cost(rdl_graph_element(overlays[i], rdl_map_entry_id(m)), dflt);
            rb->move_cost += mv->cost;
        }
    }
    for (size_t i = 0; i < n_existing; i++)
        rb->used_after += mark_used(existing[i], underlay, &used);
    for (size_t i = 0; i < n; i++)
        rb->used_after += mark_used(rb->mappings[i], underlay, &used);
    *ret_rb = rb;
    rb = NULL;
    ret = 0;
cleanup:
    map_rdl_rebalance_free(rb);
    rdl_graph_free(uol);
    rdl_graph_free(uprev);
    rdl_graph_free(uml);
    cn_strmap_release(&used);
    cn_err_release(&serr);
    return ret;
}
