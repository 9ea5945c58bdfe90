/*
 * The independent checker of mapping documents: given the underlay, the
 * mappings already on it, the overlay and a mapping, it says whether the
 * mapping is a correct placement, and if not, every way in which it is
 * wrong. It re-derives everything from the three documents and the
 * contracts of DESIGN §3 and shares no code with the solver (rdl_map.c and
 * the engine), so that a bug in one is caught by the other. `cloudnet check`
 * and the tests run it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "rdl/rdl.h"
#include "util/strmap.h"
#include "util/util.h"

#define TOL 1e-6

struct checker {
    const struct rdl_graph *ul, *ol, *ml;
    struct cn_err *err;
    unsigned violations;
    /* underlay elements by index; id -> index + 1 */
    const struct rdl_element **nodes, **links;
    size_t nn, ne;
    struct cn_strmap idx;
    /* resource names measured per node: the overlay nodes' demands */
    const char **res;
    size_t nres, res_cap;
    double *node_old, *node_new; /* nn * nres */
    double *link_old, *link_new; /* ne */
    bool *node_touched_old, *node_touched_new, *link_touched_old, *link_touched_new;
};

static void violation(struct checker *c, const char *fmt, ...) CN_PRINTF(2, 3);

static void
violation(struct checker *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cn_err_vadd(c->err, CN_E_INVALID, fmt, ap);
    va_end(ap);
    c->violations++;
}

static bool
close_to(double a, double b)
{
    return fabs(a - b) <= TOL * fmax(1, fmax(fabs(a), fabs(b)));
}

static long
node_index(const struct checker *c, const char *id)
{
    const struct rdl_element *e = id ? rdl_graph_element(c->ul, id) : NULL;
    if (!e || !rdl_element_is_node(e))
        return -1;
    return (long)((uintptr_t)cn_strmap_get(&c->idx, id) - 1);
}

static long
link_index(const struct checker *c, const char *id)
{
    const struct rdl_element *e = id ? rdl_graph_element(c->ul, id) : NULL;
    if (!e || !rdl_element_is_link(e))
        return -1;
    return (long)((uintptr_t)cn_strmap_get(&c->idx, id) - 1);
}

static long
res_index(const struct checker *c, const char *name)
{
    for (size_t k = 0; k < c->nres; k++)
        if (strcmp(c->res[k], name) == 0)
            return (long)k;
    return -1;
}

static bool
is_definite(const struct rdl_value *v)
{
    return v && (rdl_value_kind(v) == RDL_VALUE_NUMBER || rdl_value_kind(v) == RDL_VALUE_STRING);
}

/* Whether underlay link e joins nodes a and b. */
static bool
joins(const struct checker *c, size_t e, long a, long b)
{
    struct rdl_element *x, *y;
    if (a < 0 || b < 0 || rdl_link_endpoints(c->links[e], &x, &y) < 0)
        return false;
    long xi = node_index(c, rdl_element_id(x)), yi = node_index(c, rdl_element_id(y));
    return (xi == a && yi == b) || (xi == b && yi == a);
}

/*
 * Walks a path (alternating nodes and links); returns false when it is not
 * one. Counts usage of bandwidth bw into link_use and marks what it touches.
 */
static bool
walk(struct checker *c, const struct rdl_map_entry *m, double bw, double *link_use,
     bool *node_touched, bool *link_touched, double *ret_latency, size_t *ret_hops,
     const char **ret_transit_blocked)
{
    size_t len = rdl_map_entry_path_len(m);
    double lat = 0;
    if (len % 2 == 0)
        return false;
    long at = node_index(c, rdl_map_entry_path_at(m, 0));
    if (at < 0)
        return false;
    for (size_t k = 1; k + 1 < len; k += 2) {
        long e = link_index(c, rdl_map_entry_path_at(m, k));
        long next = node_index(c, rdl_map_entry_path_at(m, k + 1));
        if (e < 0 || next < 0 || !joins(c, (size_t)e, at, next))
            return false;
        if (k > 1) {
            const char *fw = rdl_props_string(rdl_element_features(c->nodes[at]), "forwarding");
            if (fw && strcmp(fw, "false") == 0 && ret_transit_blocked)
                *ret_transit_blocked = rdl_element_id(c->nodes[at]);
        }
        link_use[e] += bw;
        lat += rdl_props_number(rdl_element_features(c->links[e]), "latency", 0);
        if (len > 1) {
            node_touched[at] = node_touched[next] = true;
            link_touched[e] = true;
        }
        at = next;
    }
    if (ret_latency)
        *ret_latency = lat;
    if (ret_hops)
        *ret_hops = len / 2;
    return true;
}

/* Adds what an existing mapping document uses; entries it cannot place are skipped. */
static void
count_existing(struct checker *c, const struct rdl_graph *ml)
{
    for (size_t i = 0; i < rdl_mapping_count(ml); i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(ml, i);
        if (rdl_map_entry_to(m)) {
            long s = node_index(c, rdl_map_entry_to(m));
            if (s < 0)
                continue;
            c->node_touched_old[s] = true;
            for (size_t k = 0; k < c->nres; k++)
                c->node_old[(size_t)s * c->nres + k] +=
                    rdl_props_number(rdl_map_entry_resources(m), c->res[k], 0);
        } else if (rdl_map_entry_has_path(m)) {
            double bw = rdl_props_number(rdl_map_entry_resources(m), "bandwidth", 0);
            walk(c, m, bw, c->link_old, c->node_touched_old, c->link_touched_old, NULL, NULL, NULL);
        }
    }
}

static void
check_node(struct checker *c, const struct rdl_element *e, const struct rdl_map_entry *m)
{
    const char *id = rdl_element_id(e);
    const char *to = rdl_map_entry_to(m);
    long s = node_index(c, to);
    if (!to) {
        violation(c, "node '%s' is mapped without 'to'", id);
        return;
    }
    if (s < 0) {
        violation(c, "node '%s' is mapped to '%s', which is not a node of underlay '%s'", id, to,
                  rdl_graph_name(c->ul));
        return;
    }
    const struct rdl_element *h = c->nodes[s];
    if (!rdl_type_fits(rdl_element_type(e), rdl_element_type(h)))
        violation(c, "node '%s' (type %s) does not fit on '%s' (type %s)", id, rdl_element_type(e),
                  to, rdl_element_type(h));
    if (rdl_element_is_border(h) && !rdl_props_get(rdl_element_features(e), "transit"))
        violation(c, "node '%s' is mapped to '%s', a border node, which holds only a transit stub",
                  id, to);

    const struct rdl_props *want = rdl_element_features(e);
    const struct rdl_props *got = rdl_map_entry_features(m);
    const struct rdl_props *offer = rdl_element_features(h);
    for (size_t i = 0; i < rdl_props_count(want); i++) {
        const char *name = rdl_props_name_at(want, i);
        const struct rdl_value *d = rdl_props_value_at(want, i);
        if (strcmp(name, "anti_affinity") == 0 || strcmp(name, "latency") == 0 ||
            strcmp(name, "migration_cost") == 0)
            continue;
        const struct rdl_value *f = rdl_props_get(got, name);
        if (!is_definite(f)) {
            violation(c, "node '%s': feature '%s' has no definite final value", id, name);
            continue;
        }
        if (rdl_value_kind(d) != RDL_VALUE_SAME_AS && !rdl_value_admits(d, f))
            violation(c, "node '%s': final %s is not one the request allows", id, name);
        if (strcmp(name, "image") != 0 && !rdl_value_admits(f, rdl_props_get(offer, name)))
            violation(c, "node '%s': host '%s' does not offer its final %s", id, to, name);
        if (strcmp(name, "image") != 0 && rdl_value_kind(d) != RDL_VALUE_SAME_AS &&
            !rdl_value_admits(d, rdl_props_get(offer, name)))
            violation(c, "node '%s': host '%s' does not offer the %s it demands", id, to, name);
        const char *t = rdl_value_same_as(d);
        if (t) {
            const struct rdl_map_entry *tm = rdl_mapping_get(c->ml, t);
            const struct rdl_value *tf =
                tm ? rdl_props_get(rdl_map_entry_features(tm), name) : NULL;
            if (!tf || !rdl_value_equal(f, tf))
                violation(c, "node '%s': %s differs from that of '%s' (same_as)", id, name, t);
            else if (strcmp(name, "image") != 0 && rdl_map_entry_to(tm) &&
                     node_index(c, rdl_map_entry_to(tm)) >= 0 &&
                     !rdl_value_admits(
                         tf, rdl_props_get(rdl_element_features(
                                               c->nodes[node_index(c, rdl_map_entry_to(tm))]),
                                           name)))
                violation(c, "node '%s': the host of '%s' does not offer the shared %s", id, t,
                          name);
        }
    }

    const struct rdl_props *dem = rdl_element_resources(e);
    const struct rdl_props *alloc = rdl_map_entry_resources(m);
    for (size_t i = 0; i < rdl_props_count(dem); i++) {
        const char *name = rdl_props_name_at(dem, i);
        const struct rdl_value *d = rdl_props_value_at(dem, i);
        const struct rdl_value *a = rdl_props_get(alloc, name);
        if (!a || rdl_value_kind(a) != RDL_VALUE_NUMBER) {
            if (rdl_value_kind(d) != RDL_VALUE_SAME_AS)
                violation(c, "node '%s': no allocated %s", id, name);
            continue;
        }
        if (!rdl_value_admits(d, a))
            violation(c, "node '%s': allocated %s %g is not what the request allows", id, name,
                      rdl_value_number(a));
        const char *t = rdl_value_same_as(d);
        if (t) {
            const struct rdl_map_entry *tm = rdl_mapping_get(c->ml, t);
            const struct rdl_value *ta =
                tm ? rdl_props_get(rdl_map_entry_resources(tm), name) : NULL;
            if (!ta || !rdl_value_equal(a, ta))
                violation(c, "node '%s': %s differs from that of '%s' (same_as)", id, name, t);
        }
    }
    for (size_t i = 0; i < rdl_props_count(alloc); i++) {
        const struct rdl_value *a = rdl_props_value_at(alloc, i);
        long k = res_index(c, rdl_props_name_at(alloc, i));
        if (k >= 0 && rdl_value_kind(a) == RDL_VALUE_NUMBER)
            c->node_new[(size_t)s * c->nres + (size_t)k] += rdl_value_number(a);
    }
    c->node_touched_new[s] = true;

    const char *anti = rdl_props_string(want, "anti_affinity");
    if (anti && strcmp(anti, "true") == 0) {
        for (size_t i = 0; i < rdl_graph_element_count(c->ol); i++) {
            const struct rdl_element *o = rdl_graph_element_at(c->ol, i);
            const struct rdl_map_entry *om = rdl_mapping_get(c->ml, rdl_element_id(o));
            if (o != e && rdl_element_is_node(o) && om && cn_streq(rdl_map_entry_to(om), to))
                violation(c, "node '%s' (anti_affinity) shares host '%s' with '%s'", id, to,
                          rdl_element_id(o));
        }
    }
}

/* Returns the link's hop count times its bandwidth, its share of the cost. */
static double
check_link(struct checker *c, const struct rdl_element *e, const struct rdl_map_entry *m)
{
    const char *id = rdl_element_id(e);
    if (!rdl_map_entry_has_path(m) || rdl_map_entry_path_len(m) == 0) {
        violation(c, "link '%s' is mapped without a path", id);
        return 0;
    }
    const struct rdl_value *d = rdl_props_get(rdl_element_resources(e), "bandwidth");
    const struct rdl_value *a = rdl_props_get(rdl_map_entry_resources(m), "bandwidth");
    double bw = 0;
    if (a && rdl_value_kind(a) == RDL_VALUE_NUMBER)
        bw = rdl_value_number(a);
    else if (d)
        violation(c, "link '%s': no allocated bandwidth", id);
    if (d && a && !rdl_value_admits(d, a))
        violation(c, "link '%s': allocated bandwidth %g is not what the request allows", id, bw);
    const char *t = d ? rdl_value_same_as(d) : NULL;
    if (t) {
        const struct rdl_map_entry *tm = rdl_mapping_get(c->ml, t);
        const struct rdl_value *ta =
            tm ? rdl_props_get(rdl_map_entry_resources(tm), "bandwidth") : NULL;
        if (!ta || !a || !rdl_value_equal(a, ta))
            violation(c, "link '%s': bandwidth differs from that of '%s' (same_as)", id, t);
    }

    struct rdl_element *ea, *eb;
    if (rdl_link_endpoints(e, &ea, &eb) < 0) {
        violation(c, "link '%s' does not have two endpoints", id);
        return 0;
    }
    const struct rdl_map_entry *ma = rdl_mapping_get(c->ml, rdl_element_id(ea));
    const struct rdl_map_entry *mb = rdl_mapping_get(c->ml, rdl_element_id(eb));
    size_t len = rdl_map_entry_path_len(m);
    if (ma && !cn_streq(rdl_map_entry_path_at(m, 0), rdl_map_entry_to(ma)))
        violation(c, "link '%s': path starts at '%s', not at '%s', the host of '%s'", id,
                  rdl_map_entry_path_at(m, 0), rdl_map_entry_to(ma) ? rdl_map_entry_to(ma) : "?",
                  rdl_element_id(ea));
    if (mb && !cn_streq(rdl_map_entry_path_at(m, len - 1), rdl_map_entry_to(mb)))
        violation(c, "link '%s': path ends at '%s', not at '%s', the host of '%s'", id,
                  rdl_map_entry_path_at(m, len - 1),
                  rdl_map_entry_to(mb) ? rdl_map_entry_to(mb) : "?", rdl_element_id(eb));

    double lat = 0;
    size_t hops = 0;
    const char *blocked = NULL;
    if (!walk(c, m, bw, c->link_new, c->node_touched_new, c->link_touched_new, &lat, &hops,
              &blocked)) {
        violation(c, "link '%s': the path does not alternate adjacent underlay nodes and links",
                  id);
        return 0;
    }
    if (blocked)
        violation(c, "link '%s': the path passes through '%s', which does not forward", id,
                  blocked);
    const struct rdl_value *lb = rdl_props_get(rdl_element_features(e), "latency");
    double bound = INFINITY;
    if (lb && rdl_value_kind(lb) == RDL_VALUE_NUMBER) {
        bound = rdl_value_number(lb);
    } else if (lb && rdl_value_kind(lb) == RDL_VALUE_RANGE) {
        bool has_min, has_max;
        double min = 0, max = 0;
        rdl_value_range(lb, &has_min, &min, &has_max, &max);
        if (has_max)
            bound = max;
    }
    if (lat > bound + TOL)
        violation(c, "link '%s': path latency %g exceeds the bound %g", id, lat, bound);
    return bw * (double)hops;
}

static void
check_capacities(struct checker *c)
{
    for (size_t s = 0; s < c->nn; s++) {
        for (size_t k = 0; k < c->nres; k++) {
            double add = c->node_new[s * c->nres + k];
            if (add <= 0)
                continue;
            double cap = rdl_props_number(rdl_element_resources(c->nodes[s]), c->res[k], 0);
            double use = c->node_old[s * c->nres + k] + add;
            if (use > cap + TOL * fmax(1, cap))
                violation(c, "underlay node '%s': %s %g in use exceeds the capacity %g",
                          rdl_element_id(c->nodes[s]), c->res[k], use, cap);
        }
    }
    for (size_t e = 0; e < c->ne; e++) {
        if (c->link_new[e] <= 0)
            continue;
        double cap = rdl_props_number(rdl_element_resources(c->links[e]), "bandwidth", 0);
        double use = c->link_old[e] + c->link_new[e];
        if (use > cap + TOL * fmax(1, cap))
            violation(c, "underlay link '%s': bandwidth %g in use exceeds the capacity %g",
                      rdl_element_id(c->links[e]), use, cap);
    }
}

static double
load_of(const struct checker *c)
{
    double worst = 0;
    for (size_t s = 0; s < c->nn; s++)
        for (size_t k = 0; k < c->nres; k++) {
            double cap = rdl_props_number(rdl_element_resources(c->nodes[s]), c->res[k], 0);
            if (cap > 0)
                worst = fmax(worst,
                             (c->node_old[s * c->nres + k] + c->node_new[s * c->nres + k]) / cap);
        }
    for (size_t e = 0; e < c->ne; e++) {
        double cap = rdl_props_number(rdl_element_resources(c->links[e]), "bandwidth", 0);
        if (cap > 0)
            worst = fmax(worst, (c->link_old[e] + c->link_new[e]) / cap);
    }
    return worst;
}

static double
energy_of(const struct checker *c)
{
    double n = 0;
    for (size_t s = 0; s < c->nn; s++)
        n += c->node_touched_new[s] && !c->node_touched_old[s];
    for (size_t e = 0; e < c->ne; e++)
        n += c->link_touched_new[e] && !c->link_touched_old[e];
    return n;
}

int
map_rdl_check(const struct rdl_graph *underlay, const struct rdl_graph *const *existing,
              size_t n_existing, const struct rdl_graph *overlay, const struct rdl_graph *mapping,
              struct cn_err *err)
{
    struct checker c;
    memset(&c, 0, sizeof(c));
    c.ul = underlay;
    c.ol = overlay;
    c.ml = mapping;
    c.err = err;
    cn_strmap_init(&c.idx);

    if (rdl_graph_kind(underlay) != RDL_UNDERLAY || rdl_graph_kind(overlay) != RDL_OVERLAY ||
        rdl_graph_kind(mapping) != RDL_MAPPING)
        return cn_err_add(err, CN_E_INVALID,
                          "check needs an underlay, an overlay and a mapping document");
    if (!cn_streq(rdl_mapping_overlay(mapping), rdl_graph_name(overlay)))
        violation(&c, "the mapping is of overlay '%s', not '%s'", rdl_mapping_overlay(mapping),
                  rdl_graph_name(overlay));
    if (!cn_streq(rdl_mapping_underlay(mapping), rdl_graph_name(underlay)))
        violation(&c, "the mapping is on underlay '%s', not '%s'", rdl_mapping_underlay(mapping),
                  rdl_graph_name(underlay));

    size_t n = rdl_graph_element_count(underlay);
    c.nodes = xcalloc(n + 1, sizeof(*c.nodes));
    c.links = xcalloc(n + 1, sizeof(*c.links));
    for (size_t i = 0; i < n; i++) {
        const struct rdl_element *e = rdl_graph_element_at(underlay, i);
        if (rdl_element_is_node(e)) {
            cn_strmap_put(&c.idx, rdl_element_id(e), (void *)(uintptr_t)(c.nn + 1));
            c.nodes[c.nn++] = e;
        } else if (rdl_element_is_link(e)) {
            cn_strmap_put(&c.idx, rdl_element_id(e), (void *)(uintptr_t)(c.ne + 1));
            c.links[c.ne++] = e;
        }
    }
    for (size_t i = 0; i < rdl_graph_element_count(overlay); i++) {
        const struct rdl_element *e = rdl_graph_element_at(overlay, i);
        const struct rdl_props *r = rdl_element_resources(e);
        for (size_t k = 0; rdl_element_is_node(e) && k < rdl_props_count(r); k++) {
            if (res_index(&c, rdl_props_name_at(r, k)) < 0) {
                CN_GROW(c.res, c.res_cap, c.nres + 1);
                c.res[c.nres++] = rdl_props_name_at(r, k);
            }
        }
    }
    c.node_old = xcalloc(c.nn * c.nres + 1, sizeof(double));
    c.node_new = xcalloc(c.nn * c.nres + 1, sizeof(double));
    c.link_old = xcalloc(c.ne + 1, sizeof(double));
    c.link_new = xcalloc(c.ne + 1, sizeof(double));
    c.node_touched_old = xcalloc(c.nn + 1, sizeof(bool));
    c.node_touched_new = xcalloc(c.nn + 1, sizeof(bool));
    c.link_touched_old = xcalloc(c.ne + 1, sizeof(bool));
    c.link_touched_new = xcalloc(c.ne + 1, sizeof(bool));
    for (size_t i = 0; i < n_existing; i++)
        count_existing(&c, existing[i]);

    double cost = 0;
    for (size_t i = 0; i < rdl_graph_element_count(overlay); i++) {
        const struct rdl_element *e = rdl_graph_element_at(overlay, i);
        const struct rdl_map_entry *m = rdl_mapping_get(mapping, rdl_element_id(e));
        if (!m) {
            violation(&c, "element '%s' of the overlay is not mapped", rdl_element_id(e));
            continue;
        }
        if (rdl_element_is_node(e)) {
            check_node(&c, e, m);
            const struct rdl_value *cpu = rdl_props_get(rdl_map_entry_resources(m), "cpu");
            if (cpu && rdl_value_kind(cpu) == RDL_VALUE_NUMBER)
                cost += rdl_value_number(cpu);
        } else {
            cost += check_link(&c, e, m);
        }
    }
    for (size_t i = 0; i < rdl_mapping_count(mapping); i++) {
        const char *id = rdl_map_entry_id(rdl_mapping_at(mapping, i));
        if (!rdl_graph_element(overlay, id))
            violation(&c, "entry '%s' names no element of the overlay", id);
    }
    check_capacities(&c);

    struct rdl_objective obj;
    rdl_mapping_objective(mapping, &obj);
    if (obj.name) {
        double want = NAN;
        if (strcmp(obj.name, "cost") == 0)
            want = cost;
        else if (strcmp(obj.name, "load") == 0)
            want = load_of(&c);
        else if (strcmp(obj.name, "energy") == 0)
            want = energy_of(&c);
        else
            violation(&c, "unknown objective '%s'", obj.name);
        if (!isnan(want) && !close_to(obj.value, want))
            violation(&c, "objective %s is reported as %g but the mapping gives %g", obj.name,
                      obj.value, want);
        if (obj.bound > obj.value + TOL * fmax(1, fabs(obj.value)) || obj.gap < 0)
            violation(&c, "objective bound %g and gap %g are inconsistent with the value %g",
                      obj.bound, obj.gap, obj.value);
    }

    free(c.nodes);
    free(c.links);
    free(c.res);
    free(c.node_old);
    free(c.node_new);
    free(c.link_old);
    free(c.link_new);
    free(c.node_touched_old);
    free(c.node_touched_new);
    free(c.link_touched_old);
    free(c.link_touched_new);
    cn_strmap_release(&c.idx);
    return c.violations ? -1 : 0;
}
