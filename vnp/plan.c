/*
 * vnpd's planner (vnp/plan.h): the VNP's underlay from the providers'
 * describe() answers, the cut of a request into partial graphs with the
 * VLAN tags of the links that cross transit links, the merge of the
 * providers' manifests and the VNP's own describe() answer. Pure functions
 * of their arguments: the broker calls them between its RPCs, the tests
 * call them without any daemon. docs/federation.md is the contract.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdl/rdl.h"
#include "util/util.h"
#include "vnp/client.h"
#include "vnp/plan.h"

#define TAG_MIN 1
#define TAG_MAX 4094
#define NTAGS (TAG_MAX + 1)
#define STUB_PREFIX "transit:"

/* ---- lookups ---- */

/* The index of the answering PIP called name, or -1. */
static long
pip_index(const struct vnp_pip_view *pips, size_t npips, const char *name)
{
    for (size_t i = 0; i < npips; i++)
        if (pips[i].desc && pips[i].name && name && strcmp(pips[i].name, name) == 0)
            return (long)i;
    return -1;
}

static const struct vnp_transit_conf *
transit_conf(const struct vnp_transit_conf *transits, size_t ntransits, const char *id)
{
    for (size_t i = 0; i < ntransits; i++)
        if (strcmp(transits[i].id, id) == 0)
            return &transits[i];
    return NULL;
}

static const struct vnp_transit_info *
described_transit(const struct vnp_description *d, const char *id)
{
    for (size_t i = 0; i < d->ntransits; i++)
        if (d->transits[i].id && strcmp(d->transits[i].id, id) == 0)
            return &d->transits[i];
    return NULL;
}

/* ---- the underlay ---- */

/* describe() answers features as strings; a plain number becomes a number again. */
static struct rdl_value *
feature_value(const char *s)
{
    double d;
    if (cn_parse_double(s, &d) == 0)
        return rdl_value_new_number(d);
    return rdl_value_new_string(s);
}

static int
add_pip_node(struct rdl_graph *g, const struct vnp_pip_view *pip, struct cn_err *err)
{
    const struct vnp_description *d = pip->desc;
    struct rdl_element *e = rdl_graph_add_element(g, pip->name, "/node/host/pip", err);
    if (!e)
        return -1;
    struct rdl_props *res = rdl_element_resources_mut(e);
    for (size_t i = 0; i < d->nresources; i++)
        rdl_props_set_number(res, d->resources[i].name, d->resources[i].value);
    struct rdl_props *feat = rdl_element_features_mut(e);
    for (size_t i = 0; i < d->nfeatures; i++) {
        const struct vnp_feature_values *f = &d->features[i];
        if (f->nvalues == 0)
            continue;
        if (f->nvalues == 1) {
            rdl_props_set(feat, f->name, feature_value(f->values[0]));
            continue;
        }
        struct rdl_value *list = rdl_value_new_list();
        for (size_t k = 0; k < f->nvalues; k++)
            rdl_value_list_append(list, feature_value(f->values[k]));
        rdl_props_set(feat, f->name, list);
    }
    /* A virtual link stays in one PIP or crosses one transit link: never through a PIP. */
    rdl_props_set_string(feat, "forwarding", "false");
    return 0;
}

struct rdl_graph *
vnp_plan_underlay(const char *name, const struct vnp_pip_view *pips, size_t npips,
                  const struct vnp_transit_conf *transits, size_t ntransits, struct cn_err *err)
{
    struct rdl_graph *g = rdl_graph_new(RDL_UNDERLAY, name);
    for (size_t i = 0; i < npips; i++) {
        if (!pips[i].desc)
            continue;
        if (pip_index(pips, i, pips[i].name) >= 0) {
            cn_err_set(err, CN_E_INVALID, "PIP '%s' is listed twice", pips[i].name);
            goto fail;
        }
        if (add_pip_node(g, &pips[i], err) < 0) {
            cn_err_prefix(err, "PIP '%s'", pips[i].name);
            goto fail;
        }
    }
    for (size_t i = 0; i < ntransits; i++) {
        const struct vnp_transit_conf *t = &transits[i];
        long a = pip_index(pips, npips, t->pip[0]), b = pip_index(pips, npips, t->pip[1]);
        /* A link only one side advertises may be down or unknown to the other: left out. */
        if (a < 0 || b < 0 || a == b || !described_transit(pips[a].desc, t->id) ||
            !described_transit(pips[b].desc, t->id))
            continue;
        struct rdl_element *e = rdl_graph_add_element(g, t->id, "/link/transit", err);
        if (!e) {
            cn_err_prefix(err, "transit link '%s'", t->id);
            goto fail;
        }
        rdl_props_set_number(rdl_element_resources_mut(e), "bandwidth", t->bandwidth);
        rdl_props_set_number(rdl_element_features_mut(e), "latency", t->latency);
        if (rdl_graph_add_interface(g, t->pip[0], t->id, err) < 0 ||
            rdl_graph_add_interface(g, t->id, t->pip[1], err) < 0)
            goto fail;
    }
    return g;
fail:
    rdl_graph_free(g);
    return NULL;
}

/* ---- partition ---- */

enum place_kind {
    PLACE_NONE,
    PLACE_NODE,     /* an overlay node, at pip */
    PLACE_INTERNAL, /* a link with both ends at pip */
    PLACE_CROSSING, /* a link over transit link t, from end[0] to end[1] (t's order) */
};

struct place {
    enum place_kind kind;
    size_t pip;
    const struct vnp_transit_conf *t;
    size_t end[2]; /* PIP indices of t's two ends */
    int tag[2];    /* the tag each end gives the link */
    int wire;      /* the tag on the wire of t */
    double bw;     /* crossing: the bandwidth the VNP's mapping fixed */
    bool has_bw;
    double share; /* crossing: each side's bound, the transit link's latency included */
    bool has_share;
};

static bool
place_at(const struct place *pl, size_t p)
{
    if (pl->kind == PLACE_NONE)
        return false;
    if (pl->kind == PLACE_CROSSING)
        return pl->end[0] == p || pl->end[1] == p;
    return pl->pip == p;
}

static long
element_index(const struct rdl_graph *g, const char *id)
{
    for (size_t i = 0; i < rdl_graph_element_count(g); i++)
        if (strcmp(rdl_element_id(rdl_graph_element_at(g, i)), id) == 0)
            return (long)i;
    return -1;
}

static int
place_node(const struct rdl_element *e, const struct rdl_map_entry *m,
           const struct vnp_pip_view *pips, size_t npips, struct place *ret_pl, struct cn_err *err)
{
    const char *to = rdl_map_entry_to(m);
    long p = to ? pip_index(pips, npips, to) : -1;
    if (p < 0)
        return cn_err_set(err, CN_E_INVALID, "node '%s' is mapped to '%s', not a PIP that answered",
                          rdl_element_id(e), to ? to : "(nothing)");
    ret_pl->kind = PLACE_NODE;
    ret_pl->pip = (size_t)p;
    return 0;
}

/* The bound on a link's latency: a number or a range's max; false when none. */
static bool
latency_bound(const struct rdl_element *e, double *ret_bound)
{
    const struct rdl_value *v = rdl_props_get(rdl_element_features(e), "latency");
    if (!v)
        return false;
    if (rdl_value_kind(v) == RDL_VALUE_NUMBER) {
        *ret_bound = rdl_value_number(v);
        return true;
    }
    if (rdl_value_kind(v) == RDL_VALUE_RANGE) {
        bool has_min, has_max;
        double min = 0, max = 0;
        rdl_value_range(v, &has_min, &min, &has_max, &max);
        if (has_max) {
            *ret_bound = max;
            return true;
        }
    }
    return false;
}

static int
place_link(const struct rdl_graph *request, const struct rdl_element *e,
           const struct rdl_map_entry *m, const struct place *places,
           const struct vnp_pip_view *pips, size_t npips, const struct vnp_transit_conf *transits,
           size_t ntransits, struct place *ret_pl, struct cn_err *err)
{
    const char *id = rdl_element_id(e);
    struct rdl_element *a, *b;
    if (rdl_link_endpoints(e, &a, &b) < 0 || !rdl_element_is_node(a) || !rdl_element_is_node(b))
        return cn_err_set(err, CN_E_INVALID, "link '%s' does not join two nodes", id);
    const struct place *pa = &places[element_index(request, rdl_element_id(a))];
    const struct place *pb = &places[element_index(request, rdl_element_id(b))];
    if (pa->kind != PLACE_NODE || pb->kind != PLACE_NODE)
        return cn_err_set(err, CN_E_INVALID, "link '%s' does not join two nodes", id);
    size_t n = rdl_map_entry_path_len(m);
    if (!rdl_map_entry_has_path(m) || n % 2 == 0)
        return cn_err_set(err, CN_E_INVALID, "mapping: link '%s' has no path", id);
    if (n > 3)
        return cn_err_set(err, CN_E_INVALID,
                          "mapping: link '%s' crosses more than one transit link", id);
    const char *first = rdl_map_entry_path_at(m, 0), *last = rdl_map_entry_path_at(m, n - 1);
    const char *from = pips[pa->pip].name, *to = pips[pb->pip].name;
    /* The solver walks from the first end; either direction is the same link. */
    if (!((strcmp(first, from) == 0 && strcmp(last, to) == 0) ||
          (strcmp(first, to) == 0 && strcmp(last, from) == 0)))
        return cn_err_set(err, CN_E_INVALID,
                          "mapping: the path of link '%s' does not join '%s' and '%s'", id, from,
                          to);
    if (n == 1) {
        ret_pl->kind = PLACE_INTERNAL;
        ret_pl->pip = pa->pip;
        return 0;
    }
    const char *tid = rdl_map_entry_path_at(m, 1);
    const struct vnp_transit_conf *t = transit_conf(transits, ntransits, tid);
    if (!t)
        return cn_err_set(err, CN_E_INVALID, "mapping: link '%s' crosses '%s', not a transit link",
                          id, tid);
    long e0 = pip_index(pips, npips, t->pip[0]), e1 = pip_index(pips, npips, t->pip[1]);
    if (e0 < 0 || e1 < 0 || e0 == e1 ||
        !((e0 == (long)pa->pip && e1 == (long)pb->pip) ||
          (e1 == (long)pa->pip && e0 == (long)pb->pip)))
        return cn_err_set(err, CN_E_INVALID,
                          "mapping: link '%s' crosses transit link '%s', which does not join "
                          "'%s' and '%s'",
                          id, tid, from, to);
    for (int s = 0; s < 2; s++)
        if (!described_transit(pips[s ? e1 : e0].desc, tid))
            return cn_err_set(err, CN_E_INVALID,
                              "mapping: link '%s' crosses transit link '%s', which PIP '%s' "
                              "does not offer",
                              id, tid, t->pip[s]);
    ret_pl->kind = PLACE_CROSSING;
    ret_pl->t = t;
    ret_pl->end[0] = (size_t)e0;
    ret_pl->end[1] = (size_t)e1;
    const struct rdl_value *bw = rdl_props_get(rdl_map_entry_resources(m), "bandwidth");
    if (!bw || rdl_value_kind(bw) != RDL_VALUE_NUMBER)
        bw = rdl_props_get(rdl_element_resources(e), "bandwidth");
    if (bw && rdl_value_kind(bw) == RDL_VALUE_NUMBER) {
        ret_pl->bw = rdl_value_number(bw);
        ret_pl->has_bw = true;
    }
    double bound;
    if (latency_bound(e, &bound)) {
        /* Each PIP's path ends with the transit link, so its bound includes that link. */
        double share = (bound - t->latency) / 2;
        ret_pl->share = (share > 0 ? share : 0) + t->latency;
        ret_pl->has_share = true;
    }
    return 0;
}

/*
 * Fills ok[tag] with whether end s of the crossing link may use tag: inside
 * the VNP's range for that end, the PIP's range for the transit link and
 * the PIP's free tags, and not given to another link of this request.
 */
static void
usable_tags(const struct place *pl, int s, const struct vnp_pip_view *pips, const bool *used,
            bool *ok)
{
    const struct vnp_transit_conf *t = pl->t;
    const struct vnp_description *d = pips[pl->end[s]].desc;
    const struct vnp_transit_info *ti = described_transit(d, t->id);
    int lo = TAG_MIN, hi = TAG_MAX;
    if (t->first[s] || t->last[s]) {
        lo = t->first[s] > lo ? t->first[s] : lo;
        hi = t->last[s] < hi ? t->last[s] : hi;
    }
    if (ti && (ti->first || ti->last)) {
        lo = ti->first > lo ? ti->first : lo;
        hi = ti->last < hi ? ti->last : hi;
    }
    memset(ok, 0, NTAGS * sizeof(*ok));
    for (size_t r = 0; r < d->nvlan_ranges; r++) {
        int f = d->vlan_ranges[r].first > lo ? d->vlan_ranges[r].first : lo;
        int l = d->vlan_ranges[r].last < hi ? d->vlan_ranges[r].last : hi;
        for (int tag = f; tag <= l; tag++)
            ok[tag] = !used[tag];
    }
}

static int
lowest(const bool *ok)
{
    for (int tag = TAG_MIN; tag <= TAG_MAX; tag++)
        if (ok[tag])
            return tag;
    return -1;
}

static const struct vnp_kept_tag *
kept_at(const struct vnp_kept_tag *kept, size_t nkept, const char *link, const char *pip,
        const char *transit)
{
    for (size_t k = 0; k < nkept; k++)
        if (strcmp(kept[k].link, link) == 0 && strcmp(kept[k].pip, pip) == 0 &&
            strcmp(kept[k].transit, transit) == 0)
            return &kept[k];
    return NULL;
}

/*
 * Chooses the tags of every crossing link, in the request's order. A link
 * that crossed the same transit link in the version being modified keeps
 * its tags at both ends and on the wire: its PIPs hold them for it.
 */
static int
choose_tags(const struct rdl_graph *request, struct place *places, const struct vnp_pip_view *pips,
            size_t npips, const struct vnp_taken_tags *taken, const struct vnp_kept_tag *kept,
            size_t nkept, struct cn_err *err)
{
    bool *used = xcalloc(npips * NTAGS + 1, sizeof(*used));
    bool *ok[2] = {xcalloc(NTAGS, sizeof(bool)), xcalloc(NTAGS, sizeof(bool))};
    int ret = -1;
    for (size_t p = 0; taken && p < npips; p++)
        for (size_t k = 0; k < taken[p].n; k++)
            if (taken[p].tags[k] >= TAG_MIN && taken[p].tags[k] <= TAG_MAX)
                used[p * NTAGS + (size_t)taken[p].tags[k]] = true;
    for (size_t k = 0; k < nkept; k++) {
        long p = pip_index(pips, npips, kept[k].pip);
        if (p >= 0 && kept[k].vlan >= TAG_MIN && kept[k].vlan <= TAG_MAX)
            used[(size_t)p * NTAGS + (size_t)kept[k].vlan] = true;
    }
    for (size_t i = 0; i < rdl_graph_element_count(request); i++) {
        struct place *pl = &places[i];
        if (pl->kind != PLACE_CROSSING)
            continue;
        const char *link = rdl_element_id(rdl_graph_element_at(request, i));
        const struct vnp_kept_tag *k0 =
            kept_at(kept, nkept, link, pips[pl->end[0]].name, pl->t->id);
        const struct vnp_kept_tag *k1 =
            kept_at(kept, nkept, link, pips[pl->end[1]].name, pl->t->id);
        if (k0 && k1 && k0->wire == k1->wire) {
            pl->tag[0] = k0->vlan;
            pl->tag[1] = k1->vlan;
            pl->wire = k0->wire;
            continue;
        }
        for (int s = 0; s < 2; s++)
            usable_tags(pl, s, pips, used + pl->end[s] * NTAGS, ok[s]);
        int common = -1;
        for (int tag = TAG_MIN; tag <= TAG_MAX && common < 0; tag++)
            if (ok[0][tag] && ok[1][tag])
                common = tag;
        if (common >= 0) {
            pl->tag[0] = pl->tag[1] = pl->wire = common;
        } else {
            for (int s = 0; s < 2; s++) {
                pl->tag[s] = lowest(ok[s]);
                if (pl->tag[s] < 0) {
                    cn_err_set(err, CN_E_VLAN,
                               "transit link '%s': no VLAN tag free at PIP '%s' for link '%s'",
                               pl->t->id, pips[pl->end[s]].name,
                               rdl_element_id(rdl_graph_element_at(request, i)));
                    goto cleanup;
                }
            }
            /* The first PIP's tag is unique on its side of the wire, so it names the link there. */
            int first = strcmp(pips[pl->end[0]].name, pips[pl->end[1]].name) <= 0 ? 0 : 1;
            pl->wire = pl->tag[first];
        }
        for (int s = 0; s < 2; s++)
            used[pl->end[s] * NTAGS + (size_t)pl->tag[s]] = true;
    }
    ret = 0;
cleanup:
    free(used);
    free(ok[0]);
    free(ok[1]);
    return ret;
}

/*
 * same_as groups: properties (element, resources or features, name) joined
 * by same_as. A group whose members do not all go unchanged to one PIP
 * cannot be kept vague: each PIP would settle its part on its own. Every
 * member then gets the value the VNP's mapping fixed for the group.
 */
struct slot {
    size_t elem;
    bool resource;
    const char *name; /* borrowed from the request */
    size_t parent;
};

struct groups {
    struct slot *s;
    size_t n;
    bool *split; /* by root slot */
};

static long
slot_find(const struct groups *gr, size_t elem, bool resource, const char *name)
{
    for (size_t i = 0; i < gr->n; i++)
        if (gr->s[i].elem == elem && gr->s[i].resource == resource &&
            strcmp(gr->s[i].name, name) == 0)
            return (long)i;
    return -1;
}

static size_t
slot_root(const struct groups *gr, size_t i)
{
    while (gr->s[i].parent != i)
        i = gr->s[i].parent;
    return i;
}

static size_t
slot_add(struct groups *gr, size_t elem, bool resource, const char *name)
{
    long i = slot_find(gr, elem, resource, name);
    if (i >= 0)
        return (size_t)i;
    gr->s = xrealloc(gr->s, (gr->n + 1) * sizeof(*gr->s));
    gr->s[gr->n] = (struct slot){.elem = elem, .resource = resource, .name = name, .parent = gr->n};
    return gr->n++;
}

static void
groups_build(struct groups *gr, const struct rdl_graph *request, const struct place *places)
{
    for (size_t i = 0; i < rdl_graph_element_count(request); i++) {
        const struct rdl_element *e = rdl_graph_element_at(request, i);
        for (int ns = 0; ns < 2; ns++) {
            const struct rdl_props *p = ns ? rdl_element_resources(e) : rdl_element_features(e);
            for (size_t k = 0; k < rdl_props_count(p); k++) {
                const char *target = rdl_value_same_as(rdl_props_value_at(p, k));
                long t = target ? element_index(request, target) : -1;
                if (t < 0)
                    continue;
                const char *name = rdl_props_name_at(p, k);
                size_t a = slot_root(gr, slot_add(gr, i, ns, name));
                size_t b = slot_root(gr, slot_add(gr, (size_t)t, ns, name));
                gr->s[a].parent = b;
            }
        }
    }
    gr->split = xcalloc(gr->n + 1, sizeof(*gr->split));
    long *pip = xcalloc(gr->n + 1, sizeof(*pip));
    for (size_t i = 0; i < gr->n; i++)
        pip[i] = -1;
    for (size_t i = 0; i < gr->n; i++) {
        size_t r = slot_root(gr, i);
        const struct place *pl = &places[gr->s[i].elem];
        if (pl->kind == PLACE_CROSSING || (pip[r] >= 0 && pip[r] != (long)pl->pip))
            gr->split[r] = true;
        pip[r] = (long)pl->pip;
    }
    free(pip);
}

static void
groups_release(struct groups *gr)
{
    free(gr->s);
    free(gr->split);
}

static const struct rdl_value *
entry_value(const struct rdl_graph *request, const struct rdl_graph *mapping, size_t elem,
            bool resource, const char *name)
{
    const char *id = rdl_element_id(rdl_graph_element_at(request, elem));
    const struct rdl_map_entry *m = rdl_mapping_get(mapping, id);
    if (!m)
        return NULL;
    const struct rdl_value *v =
        rdl_props_get(resource ? rdl_map_entry_resources(m) : rdl_map_entry_features(m), name);
    return v && !rdl_value_is_vague(v) && !rdl_value_same_as(v) ? v : NULL;
}

/*
 * The value the VNP's mapping fixed for a property of a split group: the
 * element's own entry, else another member's (link entries carry no
 * features). NULL when the property is not in a split group.
 */
static const struct rdl_value *
split_value(const struct groups *gr, const struct rdl_graph *request,
            const struct rdl_graph *mapping, size_t elem, bool resource, const char *name,
            bool *ret_missing)
{
    *ret_missing = false;
    long i = slot_find(gr, elem, resource, name);
    if (i < 0 || !gr->split[slot_root(gr, (size_t)i)])
        return NULL;
    const struct rdl_value *v = entry_value(request, mapping, elem, resource, name);
    size_t r = slot_root(gr, (size_t)i);
    for (size_t k = 0; k < gr->n && !v; k++)
        if (slot_root(gr, k) == r)
            v = entry_value(request, mapping, gr->s[k].elem, resource, name);
    *ret_missing = !v;
    return v;
}

/* Copies the props of request element elem, vague values kept unless split (see above). */
static int
copy_props(const struct groups *gr, const struct rdl_graph *request,
           const struct rdl_graph *mapping, size_t elem, bool resource,
           const struct rdl_props *from, struct rdl_props *to, struct cn_err *err)
{
    for (size_t k = 0; k < rdl_props_count(from); k++) {
        const char *name = rdl_props_name_at(from, k);
        const struct rdl_value *v = rdl_props_value_at(from, k);
        bool missing;
        const struct rdl_value *fixed =
            split_value(gr, request, mapping, elem, resource, name, &missing);
        if (missing)
            return cn_err_set(err, CN_E_INVALID, "mapping: no value fixed for %s '%s' of '%s'",
                              resource ? "resource" : "feature", name,
                              rdl_element_id(rdl_graph_element_at(request, elem)));
        rdl_props_set(to, name, rdl_value_copy(fixed ? fixed : v));
    }
    return 0;
}

static char *
stub_id(const struct vnp_transit_conf *t)
{
    return xasprintf(STUB_PREFIX "%s", t->id);
}

static void
add_element_id(struct vnp_partial *part, const char *id)
{
    part->elements = xrealloc(part->elements, (part->nelements + 1) * sizeof(*part->elements));
    part->elements[part->nelements++] = xstrdup(id);
}

static int
add_crossing(struct rdl_graph *g, const struct rdl_element *e, const struct place *pl, size_t p,
             struct cn_err *err)
{
    struct rdl_element *l = rdl_graph_add_element(g, rdl_element_id(e), "/link/transit", err);
    if (!l)
        return -1;
    if (pl->has_bw)
        rdl_props_set_number(rdl_element_resources_mut(l), "bandwidth", pl->bw);
    struct rdl_props *f = rdl_element_features_mut(l);
    rdl_props_set_number(f, "vlan", pl->tag[pl->end[0] == p ? 0 : 1]);
    rdl_props_set_number(f, "wire_vlan", pl->wire);
    if (pl->has_share)
        rdl_props_set(f, "latency", rdl_value_new_range(false, 0, true, pl->share));
    char *sid = stub_id(pl->t);
    int ret = 0;
    if (!rdl_graph_element(g, sid)) {
        struct rdl_element *s = rdl_graph_add_element(g, sid, "/node/host/pip", err);
        if (!s)
            ret = -1;
        else
            rdl_props_set_string(rdl_element_features_mut(s), "transit", pl->t->id);
    }
    free(sid);
    return ret;
}

static int
build_partial(const struct rdl_graph *request, const struct rdl_graph *mapping,
              const struct place *places, const struct groups *gr, size_t p,
              struct vnp_partial *part, struct cn_err *err)
{
    struct rdl_graph *g = rdl_graph_new(RDL_OVERLAY, rdl_graph_name(request));
    struct cn_buf out = CN_BUF_INIT;
    struct cn_err verr = CN_ERR_INIT;
    int ret = -1;
    cn_buf_init(&out);
    cn_err_init(&verr);
    rdl_graph_set_level(g, rdl_graph_level(request));

    for (size_t i = 0; i < rdl_graph_element_count(request); i++) {
        const struct rdl_element *e = rdl_graph_element_at(request, i);
        const char *id = rdl_element_id(e);
        if (!place_at(&places[i], p))
            continue;
        add_element_id(part, id);
        if (places[i].kind == PLACE_CROSSING) {
            if (add_crossing(g, e, &places[i], p, err) < 0)
                goto cleanup;
            continue;
        }
        struct rdl_element *c = rdl_graph_add_element(g, id, rdl_element_type(e), err);
        if (!c ||
            copy_props(gr, request, mapping, i, true, rdl_element_resources(e),
                       rdl_element_resources_mut(c), err) < 0 ||
            copy_props(gr, request, mapping, i, false, rdl_element_features(e),
                       rdl_element_features_mut(c), err) < 0)
            goto cleanup;
    }

    /* The request's interfaces in order; a crossing link's far end becomes the stub. */
    for (size_t i = 0; i < rdl_graph_interface_count(request); i++) {
        struct rdl_element *a, *b;
        rdl_graph_interface_at(request, i, &a, &b);
        long ia = element_index(request, rdl_element_id(a));
        long ib = element_index(request, rdl_element_id(b));
        bool in_a = place_at(&places[ia], p), in_b = place_at(&places[ib], p);
        if (!in_a && !in_b)
            continue;
        const char *ends[2] = {rdl_element_id(a), rdl_element_id(b)};
        char *sid = NULL;
        if (!in_a || !in_b) {
            /* One end is a crossing link here, the other a node of the far PIP. */
            const struct place *link = in_a ? &places[ia] : &places[ib];
            if (link->kind != PLACE_CROSSING)
                continue;
            sid = stub_id(link->t);
            ends[in_a ? 1 : 0] = sid;
        }
        int rc = rdl_graph_add_interface(g, ends[0], ends[1], err);
        free(sid);
        if (rc < 0)
            goto cleanup;
    }

    if (rdl_validate(g, &verr) < 0) {
        cn_err_set(err, CN_E_INTERNAL, "partial graph for PIP '%s' is not valid: %s", part->pip,
                   cn_err_msg(&verr));
        goto cleanup;
    }
    if (rdl_write(g, &out, err) < 0)
        goto cleanup;
    part->yaml = cn_buf_detach(&out);
    ret = 0;
cleanup:
    rdl_graph_free(g);
    cn_buf_release(&out);
    cn_err_release(&verr);
    return ret;
}

void
vnp_partials_free(struct vnp_partial *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++) {
        free(p[i].pip);
        free(p[i].yaml);
        for (size_t k = 0; k < p[i].nelements; k++)
            free(p[i].elements[k]);
        free(p[i].elements);
        free(p[i].tags);
    }
    free(p);
}

/* The tags the crossing links of places give at PIP p, ascending and distinct. */
static void
partial_tags(const struct place *places, size_t nel, size_t p, struct vnp_partial *part)
{
    part->tags = xcalloc(2 * nel + 1, sizeof(*part->tags));
    for (int tag = TAG_MIN; tag <= TAG_MAX; tag++) {
        bool here = false;
        for (size_t i = 0; i < nel && !here; i++)
            for (int s = 0; s < 2 && !here; s++)
                here = places[i].kind == PLACE_CROSSING && places[i].end[s] == p &&
                       places[i].tag[s] == tag;
        if (here)
            part->tags[part->ntags++] = tag;
    }
}

int
vnp_plan_partition(const struct rdl_graph *request, const struct rdl_graph *mapping,
                   const struct vnp_pip_view *pips, size_t npips,
                   const struct vnp_transit_conf *transits, size_t ntransits,
                   struct vnp_partial **ret_partials, size_t *ret_n, struct cn_err *err)
{
    return vnp_plan_partition_except(request, mapping, pips, npips, NULL, transits, ntransits,
                                     ret_partials, ret_n, err);
}

int
vnp_plan_partition_except(const struct rdl_graph *request, const struct rdl_graph *mapping,
                          const struct vnp_pip_view *pips, size_t npips,
                          const struct vnp_taken_tags *taken,
                          const struct vnp_transit_conf *transits, size_t ntransits,
                          struct vnp_partial **ret_partials, size_t *ret_n, struct cn_err *err)
{
    return vnp_plan_partition_keep(request, mapping, pips, npips, taken, NULL, 0, transits,
                                   ntransits, ret_partials, ret_n, err);
}

int
vnp_plan_partition_keep(const struct rdl_graph *request, const struct rdl_graph *mapping,
                        const struct vnp_pip_view *pips, size_t npips,
                        const struct vnp_taken_tags *taken, const struct vnp_kept_tag *kept,
                        size_t nkept, const struct vnp_transit_conf *transits, size_t ntransits,
                        struct vnp_partial **ret_partials, size_t *ret_n, struct cn_err *err)
{
    size_t nel = rdl_graph_element_count(request);
    struct place *places = xcalloc(nel + 1, sizeof(*places));
    struct vnp_partial *parts = NULL;
    struct groups gr = {NULL, 0, NULL};
    size_t nparts = 0;
    int ret = -1;

    if (rdl_graph_kind(request) != RDL_OVERLAY || rdl_graph_kind(mapping) != RDL_MAPPING) {
        cn_err_set(err, CN_E_INVALID, "partition needs an overlay and a mapping document");
        goto cleanup;
    }
    /* Nodes first: a link's place depends on its ends'. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nel; i++) {
            const struct rdl_element *e = rdl_graph_element_at(request, i);
            if (rdl_element_is_node(e) != (pass == 0))
                continue;
            const struct rdl_map_entry *m = rdl_mapping_get(mapping, rdl_element_id(e));
            if (!m) {
                cn_err_set(err, CN_E_INVALID, "mapping: no entry for '%s'", rdl_element_id(e));
                goto cleanup;
            }
            int rc = pass == 0 ? place_node(e, m, pips, npips, &places[i], err)
                               : place_link(request, e, m, places, pips, npips, transits, ntransits,
                                            &places[i], err);
            if (rc < 0)
                goto cleanup;
        }
    }
    if (choose_tags(request, places, pips, npips, taken, kept, nkept, err) < 0)
        goto cleanup;
    groups_build(&gr, request, places);

    parts = xcalloc(npips + 1, sizeof(*parts));
    for (size_t p = 0; p < npips; p++) {
        bool any = false;
        for (size_t i = 0; i < nel && !any; i++)
            any = place_at(&places[i], p);
        if (!any)
            continue;
        struct vnp_partial *part = &parts[nparts++];
        part->pip = xstrdup(pips[p].name);
        if (build_partial(request, mapping, places, &gr, p, part, err) < 0)
            goto cleanup;
        partial_tags(places, nel, p, part);
    }
    *ret_partials = parts;
    *ret_n = nparts;
    parts = NULL;
    ret = 0;
cleanup:
    vnp_partials_free(parts, nparts);
    groups_release(&gr);
    free(places);
    return ret;
}

/* ---- modify ---- */

void
vnp_kept_tags_free(struct vnp_kept_tag *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++) {
        free(k[i].link);
        free(k[i].pip);
        free(k[i].transit);
    }
    free(k);
}

static bool
tag_feature(const struct rdl_element *e, const char *name, int *ret_tag)
{
    const struct rdl_value *v = rdl_props_get(rdl_element_features(e), name);
    if (!v || rdl_value_kind(v) != RDL_VALUE_NUMBER)
        return false;
    *ret_tag = (int)rdl_value_number(v);
    return true;
}

int
vnp_plan_kept_tags(const char *pip, const char *partial_yaml, struct vnp_kept_tag **kept,
                   size_t *nkept, struct cn_err *err)
{
    struct rdl_graph *g = rdl_read_string(pip, partial_yaml, strlen(partial_yaml), err);
    if (!g)
        return -1;
    for (size_t i = 0; i < rdl_graph_element_count(g); i++) {
        const struct rdl_element *e = rdl_graph_element_at(g, i);
        struct rdl_element *a, *b;
        int vlan, wire;
        if (strcmp(rdl_element_type(e), "/link/transit") != 0 ||
            rdl_link_endpoints(e, &a, &b) < 0 || !tag_feature(e, "vlan", &vlan))
            continue;
        if (!tag_feature(e, "wire_vlan", &wire))
            wire = vlan;
        const char *stub = rdl_element_id(a);
        if (!cn_startswith(stub, STUB_PREFIX))
            stub = rdl_element_id(b);
        if (!cn_startswith(stub, STUB_PREFIX))
            continue;
        *kept = xrealloc(*kept, (*nkept + 1) * sizeof(**kept));
        (*kept)[*nkept] = (struct vnp_kept_tag){
            .link = xstrdup(rdl_element_id(e)),
            .pip = xstrdup(pip),
            .transit = xstrdup(stub + strlen(STUB_PREFIX)),
            .vlan = vlan,
            .wire = wire,
        };
        (*nkept)++;
    }
    rdl_graph_free(g);
    return 0;
}

/* What a node holds of its k-th resource in want: the value its mapping m fixed, else want's own.
 */
static const struct rdl_value *
held_value(const struct rdl_map_entry *m, const struct rdl_props *want, size_t k)
{
    const struct rdl_value *v =
        rdl_props_get(rdl_map_entry_resources(m), rdl_props_name_at(want, k));
    if (!v || rdl_value_kind(v) != RDL_VALUE_NUMBER)
        v = rdl_props_value_at(want, k);
    return v;
}

int
vnp_plan_add_back(struct rdl_graph *underlay, const struct rdl_graph *previous,
                  const struct rdl_graph *old_request)
{
    int added = 0;
    for (size_t i = 0; i < rdl_graph_element_count(old_request); i++) {
        const struct rdl_element *e = rdl_graph_element_at(old_request, i);
        const struct rdl_map_entry *m = rdl_mapping_get(previous, rdl_element_id(e));
        const char *to = m ? rdl_map_entry_to(m) : NULL;
        struct rdl_element *pip = to ? rdl_graph_element(underlay, to) : NULL;
        if (!rdl_element_is_node(e) || !pip)
            continue;
        const struct rdl_props *want = rdl_element_resources(e);
        struct rdl_props *have = rdl_element_resources_mut(pip);
        for (size_t k = 0; k < rdl_props_count(want); k++) {
            const char *name = rdl_props_name_at(want, k);
            const struct rdl_value *v = held_value(m, want, k);
            const struct rdl_value *free_now = rdl_props_get(have, name);
            if (rdl_value_kind(v) != RDL_VALUE_NUMBER || !free_now ||
                rdl_value_kind(free_now) != RDL_VALUE_NUMBER)
                continue;
            rdl_props_set_number(have, name, rdl_value_number(free_now) + rdl_value_number(v));
            added++;
        }
    }
    return added;
}

/* ---- the manifest ---- */

static const struct rdl_graph *
part_of(struct rdl_graph *const *mls, const struct vnp_pip_manifest *parts, size_t nparts,
        const char *pip)
{
    for (size_t i = 0; i < nparts; i++)
        if (strcmp(parts[i].pip, pip) == 0)
            return mls[i];
    return NULL;
}

static const struct rdl_map_entry *
pip_entry(struct rdl_graph *const *mls, const struct vnp_pip_manifest *parts, size_t nparts,
          const char *pip, const char *id, struct cn_err *err)
{
    const struct rdl_graph *ml = part_of(mls, parts, nparts, pip);
    if (!ml) {
        cn_err_set(err, CN_E_INVALID, "no manifest from PIP '%s' for '%s'", pip, id);
        return NULL;
    }
    const struct rdl_map_entry *m = rdl_mapping_get(ml, id);
    if (!m)
        cn_err_set(err, CN_E_INVALID, "the manifest of PIP '%s' has no entry for '%s'", pip, id);
    return m;
}

static int
merge_node(struct rdl_map_entry *m, struct rdl_graph *const *mls,
           const struct vnp_pip_manifest *parts, size_t nparts, struct cn_err *err)
{
    const char *pip = rdl_map_entry_to(m), *id = rdl_map_entry_id(m);
    const struct rdl_map_entry *pe = pip_entry(mls, parts, nparts, pip, id, err);
    if (!pe)
        return -1;
    if (!rdl_map_entry_to(pe))
        return cn_err_set(err, CN_E_INVALID, "the manifest of PIP '%s' places '%s' on no host", pip,
                          id);
    struct rdl_props *f = rdl_map_entry_features_mut(m);
    rdl_props_set_string(f, "pip", pip);
    rdl_props_set_string(f, "host", rdl_map_entry_to(pe));
    const char *console = rdl_props_string(rdl_map_entry_features(pe), "console");
    if (console)
        rdl_props_set_string(f, "console", console);
    return 0;
}

static int
merge_link(struct rdl_map_entry *m, struct rdl_graph *const *mls,
           const struct vnp_pip_manifest *parts, size_t nparts, struct cn_err *err)
{
    const char *id = rdl_map_entry_id(m);
    struct cn_buf pips = CN_BUF_INIT, vlans = CN_BUF_INIT;
    int ret = -1, first_tag = -1;
    bool differ = false;
    cn_buf_init(&pips);
    cn_buf_init(&vlans);
    /* The PIPs are the path's even positions: a link stays in one or crosses to a second. */
    for (size_t k = 0; k < rdl_map_entry_path_len(m); k += 2) {
        const char *pip = rdl_map_entry_path_at(m, k);
        const struct rdl_map_entry *pe = pip_entry(mls, parts, nparts, pip, id, err);
        if (!pe)
            goto cleanup;
        int tag = rdl_map_entry_vlan(pe);
        if (k == 0)
            first_tag = tag;
        else if (tag != first_tag)
            differ = true;
        cn_buf_printf(&pips, "%s%s", k ? "," : "", pip);
        cn_buf_printf(&vlans, "%s%s=%d", k ? "," : "", pip, tag);
    }
    struct rdl_props *f = rdl_map_entry_features_mut(m);
    rdl_props_set_string(f, "pip", pips.s);
    if (first_tag >= 0)
        rdl_map_entry_set_vlan(m, first_tag);
    if (differ)
        rdl_props_set_string(f, "vlans", vlans.s);
    ret = 0;
cleanup:
    cn_buf_release(&pips);
    cn_buf_release(&vlans);
    return ret;
}

char *
vnp_plan_manifest(const struct rdl_graph *mapping, const struct vnp_pip_manifest *parts,
                  size_t nparts, struct cn_err *err)
{
    struct rdl_graph **mls = xcalloc(nparts + 1, sizeof(*mls));
    struct rdl_graph *out = NULL;
    struct cn_buf b = CN_BUF_INIT;
    char *ret = NULL;
    cn_buf_init(&b);

    if (rdl_graph_kind(mapping) != RDL_MAPPING) {
        cn_err_set(err, CN_E_INVALID, "the VNP's mapping is not a mapping document");
        goto cleanup;
    }
    for (size_t i = 0; i < nparts; i++) {
        const char *y = parts[i].manifest_yaml ? parts[i].manifest_yaml : "";
        mls[i] = rdl_read_string(parts[i].pip, y, strlen(y), err);
        if (!mls[i]) {
            cn_err_prefix(err, "manifest of PIP '%s'", parts[i].pip);
            goto cleanup;
        }
        if (rdl_graph_kind(mls[i]) != RDL_MAPPING) {
            cn_err_set(err, CN_E_INVALID, "the manifest of PIP '%s' is not a mapping document",
                       parts[i].pip);
            goto cleanup;
        }
    }
    out = rdl_graph_copy(mapping);
    for (size_t i = 0; i < rdl_mapping_count(out); i++) {
        struct rdl_map_entry *m = rdl_mapping_at(out, i);
        int rc = rdl_map_entry_to(m) ? merge_node(m, mls, parts, nparts, err)
                                     : merge_link(m, mls, parts, nparts, err);
        if (rc < 0)
            goto cleanup;
    }
    if (rdl_write(out, &b, err) < 0)
        goto cleanup;
    ret = cn_buf_detach(&b);
cleanup:
    for (size_t i = 0; i < nparts; i++)
        rdl_graph_free(mls[i]);
    free(mls);
    rdl_graph_free(out);
    cn_buf_release(&b);
    return ret;
}

/* ---- the VNP's own description ---- */

static struct vnp_amount *
amount_slot(struct vnp_amount **arr, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i].name, name) == 0)
            return &(*arr)[i];
    *arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
    struct vnp_amount *a = &(*arr)[(*n)++];
    a->name = xstrdup(name);
    a->value = 0;
    return a;
}

static void
sum_amounts(struct vnp_amount **arr, size_t *n, const struct vnp_amount *add, size_t nadd)
{
    for (size_t i = 0; i < nadd; i++)
        amount_slot(arr, n, add[i].name)->value += add[i].value;
}

static void
max_amounts(struct vnp_amount **arr, size_t *n, const struct vnp_amount *add, size_t nadd)
{
    for (size_t i = 0; i < nadd; i++) {
        struct vnp_amount *a = amount_slot(arr, n, add[i].name);
        if (add[i].value > a->value)
            a->value = add[i].value;
    }
}

static void
union_features(struct vnp_description *d, const struct vnp_feature_values *f)
{
    struct vnp_feature_values *slot = NULL;
    for (size_t i = 0; i < d->nfeatures && !slot; i++)
        if (strcmp(d->features[i].name, f->name) == 0)
            slot = &d->features[i];
    if (!slot) {
        d->features = xrealloc(d->features, (d->nfeatures + 1) * sizeof(*d->features));
        slot = &d->features[d->nfeatures++];
        *slot = (struct vnp_feature_values){.name = xstrdup(f->name)};
    }
    for (size_t k = 0; k < f->nvalues; k++) {
        bool have = false;
        for (size_t j = 0; j < slot->nvalues && !have; j++)
            have = strcmp(slot->values[j], f->values[k]) == 0;
        if (have)
            continue;
        slot->values = xrealloc(slot->values, (slot->nvalues + 1) * sizeof(*slot->values));
        slot->values[slot->nvalues++] = xstrdup(f->values[k]);
    }
}

struct vnp_description *
vnp_plan_describe(const char *name, const char *version, const struct vnp_pip_view *pips,
                  size_t npips)
{
    struct vnp_description *d = xcalloc(1, sizeof(*d));
    d->name = xstrdup(name ? name : "");
    d->version = xstrdup(version ? version : "");
    for (size_t i = 0; i < npips; i++) {
        const struct vnp_description *p = pips[i].desc;
        if (!p)
            continue;
        sum_amounts(&d->resources, &d->nresources, p->resources, p->nresources);
        sum_amounts(&d->capacity, &d->ncapacity, p->capacity, p->ncapacity);
        max_amounts(&d->largest_free, &d->nlargest_free, p->largest_free, p->nlargest_free);
        for (size_t k = 0; k < p->nfeatures; k++)
            union_features(d, &p->features[k]);
    }
    return d;
}

/* ---- what a broker handed out since a description ---- */

void
vnp_plan_used_at(const struct rdl_graph *mapping, const struct rdl_graph *request, const char *pip,
                 struct vnp_amount **amounts, size_t *n)
{
    for (size_t i = 0; i < rdl_graph_element_count(request); i++) {
        const struct rdl_element *e = rdl_graph_element_at(request, i);
        const struct rdl_map_entry *m = rdl_mapping_get(mapping, rdl_element_id(e));
        if (!rdl_element_is_node(e) || !m || !cn_streq(rdl_map_entry_to(m), pip))
            continue;
        const struct rdl_props *want = rdl_element_resources(e);
        for (size_t k = 0; k < rdl_props_count(want); k++) {
            const struct rdl_value *v = held_value(m, want, k);
            if (rdl_value_kind(v) == RDL_VALUE_NUMBER)
                amount_slot(amounts, n, rdl_props_name_at(want, k))->value += rdl_value_number(v);
        }
    }
}

void
vnp_plan_transit_used(const struct rdl_graph *mapping, const struct rdl_graph *request,
                      struct vnp_amount **amounts, size_t *n)
{
    for (size_t i = 0; i < rdl_graph_element_count(request); i++) {
        const struct rdl_element *e = rdl_graph_element_at(request, i);
        const struct rdl_map_entry *m = rdl_mapping_get(mapping, rdl_element_id(e));
        if (!rdl_element_is_link(e) || !m || !rdl_map_entry_has_path(m))
            continue;
        const struct rdl_value *bw = rdl_props_get(rdl_map_entry_resources(m), "bandwidth");
        if (!bw || rdl_value_kind(bw) != RDL_VALUE_NUMBER)
            bw = rdl_props_get(rdl_element_resources(e), "bandwidth");
        if (!bw || rdl_value_kind(bw) != RDL_VALUE_NUMBER)
            continue;
        /* A VNP-level path alternates PIPs and the transit links between them. */
        for (size_t k = 1; k < rdl_map_entry_path_len(m); k += 2)
            amount_slot(amounts, n, rdl_map_entry_path_at(m, k))->value += rdl_value_number(bw);
    }
}

int
vnp_plan_transit_minus(struct rdl_graph *underlay, const struct vnp_amount *used, size_t n)
{
    int lowered = 0;
    for (size_t i = 0; i < n; i++) {
        struct rdl_element *t = rdl_graph_element(underlay, used[i].name);
        if (!t || !cn_streq(rdl_element_type(t), "/link/transit"))
            continue;
        struct rdl_props *res = rdl_element_resources_mut(t);
        const struct rdl_value *bw = rdl_props_get(res, "bandwidth");
        if (!bw || rdl_value_kind(bw) != RDL_VALUE_NUMBER)
            continue;
        double left = rdl_value_number(bw) - used[i].value;
        rdl_props_set_number(res, "bandwidth", left > 0 ? left : 0);
        lowered++;
    }
    return lowered;
}

void
vnp_plan_amounts_free(struct vnp_amount *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        free(a[i].name);
    free(a);
}

static struct vnp_amount *
amounts_copy(const struct vnp_amount *a, size_t n)
{
    struct vnp_amount *c = xcalloc(n + 1, sizeof(*c));
    for (size_t i = 0; i < n; i++)
        c[i] = (struct vnp_amount){.name = xstrdup(a[i].name), .value = a[i].value};
    return c;
}

struct vnp_description *
vnp_plan_view_minus(const struct vnp_description *desc, const struct vnp_amount *granted,
                    size_t ngranted)
{
    struct vnp_description *d = xcalloc(1, sizeof(*d));
    d->name = xstrdup(desc->name ? desc->name : "");
    d->version = xstrdup(desc->version ? desc->version : "");
    d->resources = amounts_copy(desc->resources, desc->nresources);
    d->nresources = desc->nresources;
    d->capacity = amounts_copy(desc->capacity, desc->ncapacity);
    d->ncapacity = desc->ncapacity;
    d->largest_free = amounts_copy(desc->largest_free, desc->nlargest_free);
    d->nlargest_free = desc->nlargest_free;
    for (size_t g = 0; g < ngranted; g++) {
        for (size_t i = 0; i < d->nresources; i++) {
            struct vnp_amount *a = &d->resources[i];
            if (strcmp(a->name, granted[g].name) == 0)
                a->value = a->value > granted[g].value ? a->value - granted[g].value : 0;
        }
    }
    for (size_t i = 0; i < d->nlargest_free; i++) {
        struct vnp_amount *a = &d->largest_free[i];
        for (size_t k = 0; k < d->nresources; k++)
            if (strcmp(d->resources[k].name, a->name) == 0 && d->resources[k].value < a->value)
                a->value = d->resources[k].value;
    }
    d->features = xcalloc(desc->nfeatures + 1, sizeof(*d->features));
    d->nfeatures = desc->nfeatures;
    for (size_t i = 0; i < desc->nfeatures; i++) {
        const struct vnp_feature_values *f = &desc->features[i];
        d->features[i].name = xstrdup(f->name);
        d->features[i].values = xcalloc(f->nvalues + 1, sizeof(*f->values));
        d->features[i].nvalues = f->nvalues;
        for (size_t k = 0; k < f->nvalues; k++)
            d->features[i].values[k] = xstrdup(f->values[k]);
    }
    d->vlan_ranges = xcalloc(desc->nvlan_ranges + 1, sizeof(*d->vlan_ranges));
    d->nvlan_ranges = desc->nvlan_ranges;
    if (desc->nvlan_ranges)
        memcpy(d->vlan_ranges, desc->vlan_ranges, desc->nvlan_ranges * sizeof(*d->vlan_ranges));
    d->transits = xcalloc(desc->ntransits + 1, sizeof(*d->transits));
    d->ntransits = desc->ntransits;
    for (size_t i = 0; i < desc->ntransits; i++) {
        d->transits[i] = desc->transits[i];
        d->transits[i].id = xstrdup(desc->transits[i].id);
    }
    return d;
}
