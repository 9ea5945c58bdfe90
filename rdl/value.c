/*
 * Values and property maps: the resources and features of elements and of
 * mapping entries. Property maps are small (a handful of names), so they are
 * arrays searched linearly, which keeps insertion order for the writer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RDL_PRIV_H_ALLOW
#include "rdl/rdl_priv.h"

static struct rdl_value *
value_new(enum rdl_value_kind kind)
{
    struct rdl_value *v = xcalloc(1, sizeof(*v));
    v->kind = kind;
    return v;
}

struct rdl_value *
rdl_value_new_number(double num)
{
    struct rdl_value *v = value_new(RDL_VALUE_NUMBER);
    v->num = num;
    return v;
}

struct rdl_value *
rdl_value_new_string(const char *s)
{
    struct rdl_value *v = value_new(RDL_VALUE_STRING);
    v->str = xstrdup(s);
    return v;
}

struct rdl_value *
rdl_value_new_list(void)
{
    return value_new(RDL_VALUE_LIST);
}

void
rdl_value_list_append(struct rdl_value *list, struct rdl_value *item)
{
    CN_GROW(list->items, list->cap_items, list->n_items + 1);
    list->items[list->n_items++] = item;
}

struct rdl_value *
rdl_value_new_range(bool has_min, double min, bool has_max, double max)
{
    struct rdl_value *v = value_new(RDL_VALUE_RANGE);
    v->has_min = has_min;
    v->min = has_min ? min : 0;
    v->has_max = has_max;
    v->max = has_max ? max : 0;
    return v;
}

struct rdl_value *
rdl_value_new_same_as(const char *id)
{
    struct rdl_value *v = value_new(RDL_VALUE_SAME_AS);
    v->same_as = xstrdup(id);
    return v;
}

struct rdl_value *
rdl_value_copy(const struct rdl_value *v)
{
    if (!v)
        return NULL;
    struct rdl_value *c = value_new(v->kind);
    c->num = v->num;
    c->str = v->str ? xstrdup(v->str) : NULL;
    for (size_t i = 0; i < v->n_items; i++)
        rdl_value_list_append(c, rdl_value_copy(v->items[i]));
    c->has_min = v->has_min;
    c->has_max = v->has_max;
    c->min = v->min;
    c->max = v->max;
    c->same_as = v->same_as ? xstrdup(v->same_as) : NULL;
    c->pos = v->pos;
    return c;
}

void
rdl_value_free(struct rdl_value *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_items; i++)
        rdl_value_free(v->items[i]);
    free(v->items);
    free(v->str);
    free(v->same_as);
    free(v);
}

enum rdl_value_kind
rdl_value_kind(const struct rdl_value *v)
{
    return v->kind;
}

double
rdl_value_number(const struct rdl_value *v)
{
    return v->kind == RDL_VALUE_NUMBER ? v->num : NAN;
}

const char *
rdl_value_string(const struct rdl_value *v)
{
    return v->kind == RDL_VALUE_STRING ? v->str : NULL;
}

size_t
rdl_value_list_len(const struct rdl_value *v)
{
    return v->kind == RDL_VALUE_LIST ? v->n_items : 0;
}

const struct rdl_value *
rdl_value_list_at(const struct rdl_value *v, size_t i)
{
    return i < v->n_items ? v->items[i] : NULL;
}

void
rdl_value_range(const struct rdl_value *v, bool *ret_has_min, double *ret_min, bool *ret_has_max,
                double *ret_max)
{
    if (ret_has_min)
        *ret_has_min = v->has_min;
    if (ret_min && v->has_min)
        *ret_min = v->min;
    if (ret_has_max)
        *ret_has_max = v->has_max;
    if (ret_max && v->has_max)
        *ret_max = v->max;
}

const char *
rdl_value_same_as(const struct rdl_value *v)
{
    return v->same_as;
}

void
rdl_value_set_same_as(struct rdl_value *v, const char *id)
{
    free(v->same_as);
    v->same_as = id ? xstrdup(id) : NULL;
}

bool
rdl_value_is_vague(const struct rdl_value *v)
{
    return v->kind == RDL_VALUE_LIST || v->kind == RDL_VALUE_RANGE || v->kind == RDL_VALUE_SAME_AS;
}

bool
rdl_feature_is_additive(const char *name)
{
    return strcmp(name, "latency") == 0;
}

bool
rdl_value_is_vague_at(const struct rdl_value *v, const char *feature, bool on_link)
{
    /* {max: N} on an overlay link's additive feature bounds a path sum: a constraint, not a choice.
     */
    if (feature && on_link && rdl_feature_is_additive(feature) && v->kind == RDL_VALUE_RANGE &&
        !v->has_min && v->has_max && !v->same_as)
        return false;
    return rdl_value_is_vague(v);
}

bool
rdl_value_equal(const struct rdl_value *a, const struct rdl_value *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind || !cn_streq(a->same_as, b->same_as))
        return false;
    switch (a->kind) {
    case RDL_VALUE_NUMBER:
        return a->num == b->num;
    case RDL_VALUE_STRING:
        return strcmp(a->str, b->str) == 0;
    case RDL_VALUE_LIST:
        if (a->n_items != b->n_items)
            return false;
        for (size_t i = 0; i < a->n_items; i++)
            if (!rdl_value_equal(a->items[i], b->items[i]))
                return false;
        return true;
    case RDL_VALUE_RANGE:
        return a->has_min == b->has_min && a->has_max == b->has_max &&
               (!a->has_min || a->min == b->min) && (!a->has_max || a->max == b->max);
    case RDL_VALUE_SAME_AS:
        return true;
    }
    return false;
}

void
rdl_value_pos(const struct rdl_value *v, int *ret_line, int *ret_col)
{
    if (ret_line)
        *ret_line = v->pos.line;
    if (ret_col)
        *ret_col = v->pos.col;
}

/* ---- property maps ---- */

static struct rdl_prop *
props_find(const struct rdl_props *p, const char *name)
{
    for (size_t i = 0; i < p->len; i++)
        if (strcmp(p->items[i].name, name) == 0)
            return &p->items[i];
    return NULL;
}

size_t
rdl_props_count(const struct rdl_props *p)
{
    return p->len;
}

const char *
rdl_props_name_at(const struct rdl_props *p, size_t i)
{
    return i < p->len ? p->items[i].name : NULL;
}

const struct rdl_value *
rdl_props_value_at(const struct rdl_props *p, size_t i)
{
    return i < p->len ? p->items[i].value : NULL;
}

const struct rdl_value *
rdl_props_get(const struct rdl_props *p, const char *name)
{
    struct rdl_prop *prop = props_find(p, name);
    return prop ? prop->value : NULL;
}

void
rdl_props_set(struct rdl_props *p, const char *name, struct rdl_value *v)
{
    struct rdl_prop *prop = props_find(p, name);
    if (prop) {
        rdl_value_free(prop->value);
        prop->value = v;
        return;
    }
    CN_GROW(p->items, p->cap, p->len + 1);
    p->items[p->len].name = xstrdup(name);
    p->items[p->len].value = v;
    p->len++;
}

void
rdl_props_set_number(struct rdl_props *p, const char *name, double v)
{
    rdl_props_set(p, name, rdl_value_new_number(v));
}

void
rdl_props_set_string(struct rdl_props *p, const char *name, const char *s)
{
    rdl_props_set(p, name, rdl_value_new_string(s));
}

int
rdl_props_remove(struct rdl_props *p, const char *name)
{
    struct rdl_prop *prop = props_find(p, name);
    if (!prop)
        return -1;
    size_t i = (size_t)(prop - p->items);
    free(prop->name);
    rdl_value_free(prop->value);
    memmove(&p->items[i], &p->items[i + 1], (p->len - i - 1) * sizeof(*p->items));
    p->len--;
    return 0;
}

double
rdl_props_number(const struct rdl_props *p, const char *name, double def)
{
    const struct rdl_value *v = rdl_props_get(p, name);
    return v && v->kind == RDL_VALUE_NUMBER ? v->num : def;
}

const char *
rdl_props_string(const struct rdl_props *p, const char *name)
{
    const struct rdl_value *v = rdl_props_get(p, name);
    return v && v->kind == RDL_VALUE_STRING ? v->str : NULL;
}

void
rdl_props_release(struct rdl_props *p)
{
    for (size_t i = 0; i < p->len; i++) {
        free(p->items[i].name);
        rdl_value_free(p->items[i].value);
    }
    free(p->items);
    memset(p, 0, sizeof(*p));
}

void
rdl_props_copy_into(struct rdl_props *dst, const struct rdl_props *src)
{
    for (size_t i = 0; i < src->len; i++)
        rdl_props_set(dst, src->items[i].name, rdl_value_copy(src->items[i].value));
}

bool
rdl_props_equal(const struct rdl_props *a, const struct rdl_props *b)
{
    if (a->len != b->len)
        return false;
    for (size_t i = 0; i < a->len; i++)
        if (!rdl_value_equal(a->items[i].value, rdl_props_get(b, a->items[i].name)))
            return false;
    return true;
}
