/*
 * Matching an overlay element's demands against what an underlay element
 * offers: feature values (possibly vague) against offered values, and
 * resource demands against capacities. The mapper uses these to decide
 * which substrate elements are candidates for each overlay element before
 * it builds its MIP; completion and the VNP's PIP selection use them too.
 *
 * A `same_as` constraint is never decided here: it ties two overlay
 * elements together and is settled jointly, by completion or by the MIP.
 */
#include <math.h>
#include <string.h>

#define RDL_PRIV_H_ALLOW
#include "rdl/rdl_priv.h"

static bool
definite_equal(const struct rdl_value *a, const struct rdl_value *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == RDL_VALUE_NUMBER)
        return a->num == b->num;
    if (a->kind == RDL_VALUE_STRING)
        return strcmp(a->str, b->str) == 0;
    return false;
}

static bool
in_range(double x, const struct rdl_value *r)
{
    return (!r->has_min || x >= r->min) && (!r->has_max || x <= r->max);
}

/* Whether the single definite value x is among what offer provides. */
static bool
offer_has(const struct rdl_value *offer, const struct rdl_value *x)
{
    switch (offer->kind) {
    case RDL_VALUE_NUMBER:
    case RDL_VALUE_STRING:
        return definite_equal(x, offer);
    case RDL_VALUE_LIST:
        for (size_t i = 0; i < offer->n_items; i++)
            if (offer_has(offer->items[i], x))
                return true;
        return false;
    case RDL_VALUE_RANGE:
        return x->kind == RDL_VALUE_NUMBER && in_range(x->num, offer);
    case RDL_VALUE_SAME_AS:
        return false;
    }
    return false;
}

/* Whether some number in the range r is among what offer provides. */
static bool
offer_meets_range(const struct rdl_value *offer, const struct rdl_value *r)
{
    switch (offer->kind) {
    case RDL_VALUE_NUMBER:
        return in_range(offer->num, r);
    case RDL_VALUE_LIST:
        for (size_t i = 0; i < offer->n_items; i++)
            if (offer_meets_range(offer->items[i], r))
                return true;
        return false;
    case RDL_VALUE_RANGE: {
        /* Two intervals overlap when neither lies wholly above the other. */
        double lo = -INFINITY, hi = INFINITY;
        if (r->has_min)
            lo = r->min;
        if (offer->has_min && offer->min > lo)
            lo = offer->min;
        if (r->has_max)
            hi = r->max;
        if (offer->has_max && offer->max < hi)
            hi = offer->max;
        return lo <= hi;
    }
    case RDL_VALUE_STRING:
    case RDL_VALUE_SAME_AS:
        return false;
    }
    return false;
}

bool
rdl_value_admits(const struct rdl_value *demand, const struct rdl_value *offer)
{
    if (!demand)
        return true;
    if (demand->kind == RDL_VALUE_SAME_AS)
        return true;
    if (!offer)
        return false;
    switch (demand->kind) {
    case RDL_VALUE_NUMBER:
    case RDL_VALUE_STRING:
        return offer_has(offer, demand);
    case RDL_VALUE_LIST:
        for (size_t i = 0; i < demand->n_items; i++)
            if (rdl_value_admits(demand->items[i], offer))
                return true;
        return false;
    case RDL_VALUE_RANGE:
        return offer_meets_range(offer, demand);
    case RDL_VALUE_SAME_AS:
        return true;
    }
    return false;
}

/*
 * Features that never exclude a substrate element: `image` names the boot
 * template (a PIP without it fails the embedding, with a clear error, rather
 * than the mapping), `address` and `address.<link>` configure the VNode's
 * interfaces wherever it lands, and additive features bound sums along paths.
 */
bool
rdl_feature_restricts_placement(const char *name)
{
    return !(strcmp(name, "image") == 0 || strcmp(name, "address") == 0 ||
             cn_startswith(name, "address.") || rdl_feature_is_additive(name));
}

bool
rdl_features_match(const struct rdl_props *demand, const struct rdl_props *offer)
{
    for (size_t i = 0; i < demand->len; i++) {
        const char *name = demand->items[i].name;
        const struct rdl_value *want = demand->items[i].value;
        if (!rdl_feature_restricts_placement(name) || want->kind == RDL_VALUE_SAME_AS)
            continue;
        if (!rdl_value_admits(want, rdl_props_get(offer, name)))
            return false;
    }
    return true;
}

/*
 * The least a demand can be satisfied with: a number itself, a range's
 * minimum (0 when open below), a list's smallest number. A pure same_as
 * is unknown until completion and taken as 0. Returns false for a demand
 * that is not numeric at all.
 */
static bool
least_demand(const struct rdl_value *v, double *ret_least)
{
    switch (v->kind) {
    case RDL_VALUE_NUMBER:
        *ret_least = v->num;
        return true;
    case RDL_VALUE_RANGE:
        *ret_least = v->has_min ? v->min : 0;
        return true;
    case RDL_VALUE_LIST: {
        bool any = false;
        double least = 0;
        for (size_t i = 0; i < v->n_items; i++) {
            double x;
            if (least_demand(v->items[i], &x) && (!any || x < least)) {
                least = x;
                any = true;
            }
        }
        if (any)
            *ret_least = least;
        return any;
    }
    case RDL_VALUE_SAME_AS:
        *ret_least = 0;
        return true;
    case RDL_VALUE_STRING:
        return false;
    }
    return false;
}

/* The most a capacity provides: a number, a range's maximum, a list's largest number. */
static bool
most_capacity(const struct rdl_value *v, double *ret_most)
{
    switch (v->kind) {
    case RDL_VALUE_NUMBER:
        *ret_most = v->num;
        return true;
    case RDL_VALUE_RANGE:
        *ret_most = v->has_max ? v->max : INFINITY;
        return true;
    case RDL_VALUE_LIST: {
        bool any = false;
        double most = 0;
        for (size_t i = 0; i < v->n_items; i++) {
            double x;
            if (most_capacity(v->items[i], &x) && (!any || x > most)) {
                most = x;
                any = true;
            }
        }
        if (any)
            *ret_most = most;
        return any;
    }
    case RDL_VALUE_STRING:
    case RDL_VALUE_SAME_AS:
        return false;
    }
    return false;
}

bool
rdl_resources_fit(const struct rdl_props *demand, const struct rdl_props *capacity)
{
    for (size_t i = 0; i < demand->len; i++) {
        double need, have;
        if (!least_demand(demand->items[i].value, &need))
            return false;
        if (need <= 0)
            continue;
        const struct rdl_value *cap = rdl_props_get(capacity, demand->items[i].name);
        if (!cap || !most_capacity(cap, &have) || have < need)
            return false;
    }
    return true;
}
