/*
 * Completion: turning a vague overlay (OL0) into a definite one (OL1) by
 * fixing every vague value, so that a mapper that cannot reason about
 * vagueness, or a PIP receiving a partial graph, sees plain numbers and
 * strings. The rule, which operators can predict from the request alone:
 *
 *   1. Resources and features are completed separately, one property name
 *      at a time.
 *   2. Elements whose values for that name are linked by `same_as` (in
 *      either direction, transitively) form a group; they all end up with
 *      the same value. An element that omits the property but is named by
 *      another's same_as joins the group and receives the value too.
 *   3. The constraints of a group are all its values other than a bare
 *      same_as: definite values must be equal to the result, lists contain
 *      it, ranges contain it (so a list combined with a range keeps the
 *      numeric items in range).
 *   4. The result is, in this order of preference:
 *        - the group's first definite value (which must satisfy the rest);
 *        - else the first item of the first list (document order of the
 *          elements, then item order) that satisfies every other constraint;
 *        - else the intersection of the ranges: its minimum, or its maximum
 *          when no range has a minimum.
 *   5. When no value satisfies a group, completion fails and names the
 *      value that conflicts, with its position, and what it conflicts with.
 *
 * A latency bound `{max: N}` on an overlay link is a constraint on paths,
 * not a choice, and stays as it is. Omitted properties stay omitted (don't
 * care), unless rule 2 applies.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RDL_PRIV_H_ALLOW
#include "rdl/rdl_priv.h"
#include "rdl/write_priv.h"

/* ---- union-find over element indices ---- */

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
    /* The smaller index becomes the root, so a group's root is its first element. */
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

/* ---- constraints ---- */

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
is_definite(const struct rdl_value *v)
{
    return v->kind == RDL_VALUE_NUMBER || v->kind == RDL_VALUE_STRING;
}

/* Whether the definite value x satisfies constraint c. */
static bool
satisfies(const struct rdl_value *x, const struct rdl_value *c)
{
    switch (c->kind) {
    case RDL_VALUE_NUMBER:
    case RDL_VALUE_STRING:
        return definite_equal(x, c);
    case RDL_VALUE_LIST:
        for (size_t i = 0; i < c->n_items; i++)
            if (definite_equal(x, c->items[i]))
                return true;
        return false;
    case RDL_VALUE_RANGE:
        return x->kind == RDL_VALUE_NUMBER && (!c->has_min || x->num >= c->min) &&
               (!c->has_max || x->num <= c->max);
    case RDL_VALUE_SAME_AS:
        return true;
    }
    return false;
}

/* Whether some value satisfies both a and b. */
static bool
compatible(const struct rdl_value *a, const struct rdl_value *b)
{
    if (is_definite(a))
        return satisfies(a, b);
    if (is_definite(b))
        return satisfies(b, a);
    if (a->kind == RDL_VALUE_LIST || b->kind == RDL_VALUE_LIST) {
        const struct rdl_value *list = a->kind == RDL_VALUE_LIST ? a : b;
        const struct rdl_value *other = list == a ? b : a;
        for (size_t i = 0; i < list->n_items; i++)
            if (satisfies(list->items[i], other))
                return true;
        return false;
    }
    if (a->kind == RDL_VALUE_RANGE && b->kind == RDL_VALUE_RANGE) {
        double lo = -INFINITY, hi = INFINITY;
        if (a->has_min)
            lo = a->min;
        if (b->has_min && b->min > lo)
            lo = b->min;
        if (a->has_max)
            hi = a->max;
        if (b->has_max && b->max < hi)
            hi = b->max;
        return lo <= hi;
    }
    return true;
}

/* ---- one group ---- */

struct completion {
    const struct rdl_graph *in;
    struct rdl_graph *out;
    struct cn_err *err;
    bool features;    /* which property map is being completed */
    const char *name; /* the property name */
    size_t *parent;
    size_t *head, *next; /* each group's members as a list in document order */
    size_t *members;     /* scratch: the group, in document order */
    size_t *cons;        /* scratch: members that carry a constraint */
};

static const struct rdl_props *
props_of(const struct completion *c, const struct rdl_element *e)
{
    return c->features ? &e->features : &e->resources;
}

static struct rdl_props *
props_of_mut(const struct completion *c, struct rdl_element *e)
{
    return c->features ? &e->features : &e->resources;
}

static const struct rdl_value *
value_of(const struct completion *c, size_t i)
{
    return rdl_props_get(props_of(c, c->in->elements[i]), c->name);
}

static const char *
what(const struct completion *c)
{
    return c->features ? "feature" : "resource";
}

/* Reports that no value satisfies the group, naming the conflicting values. */
static int
conflict(const struct completion *c, size_t n_cons)
{
    const struct rdl_graph *g = c->in;
    size_t bad = n_cons - 1;
    size_t other = SIZE_MAX;

    /*
     * Two values that exclude each other explain the failure best. The
     * search is bounded so that a huge hostile group stays cheap to refuse.
     */
    for (size_t j = 1; j < n_cons && j < 256 && other == SIZE_MAX; j++)
        for (size_t i = 0; i < j; i++)
            if (!compatible(value_of(c, c->cons[i]), value_of(c, c->cons[j]))) {
                bad = j;
                other = i;
                break;
            }

    const struct rdl_value *v = value_of(c, c->cons[bad]);
    struct cn_buf msg = CN_BUF_INIT;
    cn_buf_init(&msg);
    rdl_write_value(&msg, v, false);
    const char *sep = " and same_as ";
    size_t shown = 0;
    for (size_t i = 0; i < n_cons; i++) {
        if (i == bad || (other != SIZE_MAX && i != other))
            continue;
        if (shown++ == 4) {
            cn_buf_printf(&msg, " and %zu more", n_cons - 5);
            break;
        }
        cn_buf_printf(&msg, "%s'%s' (", sep, g->elements[c->cons[i]]->id);
        rdl_write_value(&msg, value_of(c, c->cons[i]), false);
        cn_buf_putc(&msg, ')');
        sep = ", ";
    }
    rdl_diag(c->err, g, v->pos, "cannot complete %s '%s' of '%s': no value satisfies %s", what(c),
             c->name, g->elements[c->cons[bad]]->id, msg.s);
    cn_buf_release(&msg);
    return -1;
}

/* Picks the group's value by rule 4; NULL (and err set) when there is none. */
static struct rdl_value *
choose(const struct completion *c, size_t n_members, size_t n_cons)
{
    const struct rdl_graph *g = c->in;

    if (n_cons == 0) {
        /* Only bare same_as values, so there is nothing to take a value from. */
        for (size_t k = 0; k < n_members; k++) {
            const struct rdl_value *v = value_of(c, c->members[k]);
            if (!v)
                continue;
            rdl_diag(c->err, g, v->pos,
                     "cannot complete %s '%s' of '%s': same_as '%s', but no element of that "
                     "group gives a value",
                     what(c), c->name, g->elements[c->members[k]]->id, v->same_as);
            return NULL;
        }
        return NULL;
    }

    for (size_t k = 0; k < n_cons; k++) {
        const struct rdl_value *x = value_of(c, c->cons[k]);
        if (!is_definite(x))
            continue;
        for (size_t j = 0; j < n_cons; j++)
            if (!satisfies(x, value_of(c, c->cons[j]))) {
                conflict(c, n_cons);
                return NULL;
            }
        return rdl_value_copy(x);
    }

    for (size_t k = 0; k < n_cons; k++) {
        const struct rdl_value *list = value_of(c, c->cons[k]);
        if (list->kind != RDL_VALUE_LIST)
            continue;
        /* Any acceptable value must be in this list, so its items are the only candidates. */
        for (size_t i = 0; i < list->n_items; i++) {
            const struct rdl_value *x = list->items[i];
            bool ok = is_definite(x);
            for (size_t j = 0; ok && j < n_cons; j++)
                ok = satisfies(x, value_of(c, c->cons[j]));
            if (ok) {
                struct rdl_value *chosen = rdl_value_copy(x);
                chosen->pos = list->pos;
                return chosen;
            }
        }
        conflict(c, n_cons);
        return NULL;
    }

    /* Only ranges are left: intersect them. */
    bool has_lo = false, has_hi = false;
    double lo = 0, hi = 0;
    for (size_t k = 0; k < n_cons; k++) {
        const struct rdl_value *r = value_of(c, c->cons[k]);
        if (r->kind != RDL_VALUE_RANGE)
            continue;
        if (r->has_min && (!has_lo || r->min > lo)) {
            lo = r->min;
            has_lo = true;
        }
        if (r->has_max && (!has_hi || r->max < hi)) {
            hi = r->max;
            has_hi = true;
        }
    }
    if (has_lo && has_hi && lo > hi) {
        conflict(c, n_cons);
        return NULL;
    }
    if (!has_lo && !has_hi) {
        const struct rdl_value *v = value_of(c, c->cons[0]);
        rdl_diag(c->err, g, v->pos, "cannot complete %s '%s' of '%s': a range without bounds",
                 what(c), c->name, g->elements[c->cons[0]]->id);
        return NULL;
    }
    return rdl_value_new_number(has_lo ? lo : hi);
}

static bool
vague_here(const struct completion *c, size_t i, const struct rdl_value *v)
{
    return rdl_value_is_vague_at(v, c->features ? c->name : NULL, c->in->elements[i]->is_link);
}

static int
complete_group(struct completion *c, size_t root)
{
    const struct rdl_graph *g = c->in;
    size_t n_members = 0, n_cons = 0;
    bool needs_work = false;

    for (size_t i = c->head[root]; i != SIZE_MAX; i = c->next[i]) {
        c->members[n_members++] = i;
        const struct rdl_value *v = value_of(c, i);
        /*
         * A member without a value is there because another's same_as names
         * it; that same_as is vague, so the group is worked on and the
         * member receives the group's value.
         */
        if (!v)
            continue;
        if (vague_here(c, i, v))
            needs_work = true;
        if (v->kind != RDL_VALUE_SAME_AS)
            c->cons[n_cons++] = i;
    }
    if (!needs_work)
        return 0;

    struct rdl_value *chosen = choose(c, n_members, n_cons);
    if (!chosen)
        return -1;
    for (size_t k = 0; k < n_members; k++) {
        size_t i = c->members[k];
        const struct rdl_value *v = value_of(c, i);
        if (v && !vague_here(c, i, v))
            continue;
        struct rdl_value *copy = rdl_value_copy(chosen);
        copy->pos = v ? v->pos : g->elements[i]->pos;
        rdl_props_set(props_of_mut(c, c->out->elements[i]), c->name, copy);
    }
    rdl_value_free(chosen);
    return 0;
}

/* Completes one property name across the graph. */
static int
complete_name(struct completion *c, const struct cn_strmap *index)
{
    const struct rdl_graph *g = c->in;
    for (size_t i = 0; i < g->n_elements; i++)
        c->parent[i] = i;

    for (size_t i = 0; i < g->n_elements; i++) {
        const struct rdl_value *v = value_of(c, i);
        if (!v || !v->same_as)
            continue;
        void *slot = cn_strmap_get(index, v->same_as);
        if (!slot)
            return rdl_diag(c->err, g, v->pos,
                            "cannot complete %s '%s' of '%s': same_as names unknown element '%s'",
                            what(c), c->name, g->elements[i]->id, v->same_as);
        uf_union(c->parent, i, (size_t)((uintptr_t)slot - 1));
    }

    /* Lists built back to front come out in document order, in linear time. */
    for (size_t i = 0; i < g->n_elements; i++)
        c->head[i] = SIZE_MAX;
    for (size_t i = g->n_elements; i-- > 0;) {
        size_t root = uf_find(c->parent, i);
        c->next[i] = c->head[root];
        c->head[root] = i;
    }
    for (size_t i = 0; i < g->n_elements; i++)
        if (c->head[i] != SIZE_MAX && complete_group(c, i) < 0)
            return -1;
    return 0;
}

/* Every property name used in one of the two maps, in order of first use. */
static size_t
collect_names(const struct rdl_graph *g, bool features, const char ***ret_names)
{
    const char **names = NULL;
    size_t n = 0, cap = 0;
    struct cn_strmap seen = CN_STRMAP_INIT;
    cn_strmap_init(&seen);
    for (size_t i = 0; i < g->n_elements; i++) {
        const struct rdl_props *p =
            features ? &g->elements[i]->features : &g->elements[i]->resources;
        for (size_t k = 0; k < p->len; k++) {
            if (cn_strmap_get(&seen, p->items[k].name))
                continue;
            cn_strmap_put(&seen, p->items[k].name, p->items[k].name);
            CN_GROW(names, cap, n + 1);
            names[n++] = p->items[k].name;
        }
    }
    cn_strmap_release(&seen);
    *ret_names = names;
    return n;
}

struct rdl_graph *
rdl_complete(const struct rdl_graph *ol0, struct cn_err *err)
{
    struct rdl_graph *out = NULL;
    struct cn_strmap index = CN_STRMAP_INIT;
    const char **names = NULL;
    size_t n = ol0->n_elements;
    struct completion c = {.in = ol0, .err = err};

    cn_strmap_init(&index);
    if (ol0->kind != RDL_OVERLAY) {
        rdl_diag(err, ol0, (struct rdl_pos){0, 0}, "cannot complete a%s %s: only overlays are",
                 ol0->kind == RDL_UNDERLAY ? "n" : "", rdl_kind_name(ol0->kind));
        goto cleanup;
    }

    out = rdl_graph_copy(ol0);
    c.out = out;
    c.parent = xcalloc(n ? n : 1, sizeof(*c.parent));
    c.head = xcalloc(n ? n : 1, sizeof(*c.head));
    c.next = xcalloc(n ? n : 1, sizeof(*c.next));
    c.members = xcalloc(n ? n : 1, sizeof(*c.members));
    c.cons = xcalloc(n ? n : 1, sizeof(*c.cons));
    /* Slots hold index + 1 so that element 0 is not a NULL pointer. */
    for (size_t i = 0; i < n; i++)
        cn_strmap_put(&index, ol0->elements[i]->id, (void *)(uintptr_t)(i + 1));

    for (int pass = 0; pass < 2; pass++) {
        c.features = pass == 1;
        free(names);
        size_t n_names = collect_names(ol0, c.features, &names);
        for (size_t k = 0; k < n_names; k++) {
            c.name = names[k];
            if (complete_name(&c, &index) < 0) {
                rdl_graph_free(out);
                out = NULL;
                goto cleanup;
            }
        }
    }
    out->level = 1;

cleanup:
    free(names);
    free(c.parent);
    free(c.head);
    free(c.next);
    free(c.members);
    free(c.cons);
    cn_strmap_release(&index);
    return out;
}
