/*
 * Semantic validation of RDL graphs: link endpoints, same_as targets and
 * cycles, which values may be vague for each kind and level, resource
 * signs, VLAN ranges and mapping entries. rdl_validate() runs it on graphs
 * built in memory; the reader runs the same code on what it has read, so a
 * document and the graph it describes are judged alike.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RDL_PRIV_H_ALLOW
#include "rdl/validate_priv.h"

/* Who may say what: the vagueness rules depend on the kind and the level. */
enum policy {
    POLICY_UNDERLAY,
    POLICY_OL0,
    POLICY_OL1,
    POLICY_MAPPING,
};

struct checker {
    const struct rdl_graph *g;
    const struct rdl_where *w;
    struct cn_err *err;
    enum policy policy;
};

/*
 * Adds a problem unless enough are known already: past the limit only the
 * count matters, and a hostile graph could otherwise produce millions.
 */
static void report(const struct checker *c, struct rdl_pos pos, const char *fmt, ...)
    CN_PRINTF(3, 4);

static void
report(const struct checker *c, struct rdl_pos pos, const char *fmt, ...)
{
    if (c->err->count > RDL_MAX_PROBLEMS)
        return;
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    cn_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    rdl_diag(c->err, c->g, pos, "%s", b.s);
    cn_buf_release(&b);
}

static const char *
policy_name(enum policy p)
{
    switch (p) {
    case POLICY_UNDERLAY:
        return "an underlay";
    case POLICY_OL0:
        return "an overlay";
    case POLICY_OL1:
        return "a level-1 overlay";
    case POLICY_MAPPING:
        return "a mapping";
    }
    return "this document";
}

/* A zero position means "unknown": fall back to a coarser one. */
static struct rdl_pos
pos_or(struct rdl_pos p, struct rdl_pos fallback)
{
    return p.line > 0 ? p : fallback;
}

static bool
quiet(const struct checker *c, const char *id)
{
    return c->w && c->w->quiet && cn_strmap_get(c->w->quiet, id);
}

static void
check_vlan_range(const struct checker *c, int first, int last, struct rdl_pos pos)
{
    if (first < 1 || last > 4094 || first > 4094 || last < 1)
        report(c, pos, "vlan_range must lie within 1..4094");
    else if (first > last)
        report(c, pos, "vlan_range must not start after it ends");
}

/* The shape every value must have, whoever uses it. Returns false when malformed. */
static bool
check_shape(const struct checker *c, const char *ns, const char *name, const struct rdl_value *v)
{
    switch (v->kind) {
    case RDL_VALUE_NUMBER:
    case RDL_VALUE_STRING:
        return true;
    case RDL_VALUE_LIST:
        if (v->n_items == 0) {
            report(c, v->pos, "%s '%s' is an empty list", ns, name);
            return false;
        }
        for (size_t i = 0; i < v->n_items; i++) {
            const struct rdl_value *it = v->items[i];
            if (it->kind != RDL_VALUE_NUMBER && it->kind != RDL_VALUE_STRING) {
                report(c, pos_or(it->pos, v->pos), "a list holds only numbers and strings");
                return false;
            }
        }
        return true;
    case RDL_VALUE_RANGE:
        if (!v->has_min && !v->has_max) {
            report(c, v->pos, "%s '%s': a range needs min or max", ns, name);
            return false;
        }
        if (v->has_min && v->has_max && v->min > v->max) {
            report(c, v->pos, "%s '%s': min %g is greater than max %g", ns, name, v->min, v->max);
            return false;
        }
        return true;
    case RDL_VALUE_SAME_AS:
        break;
    }
    return true;
}

static bool
vague_anywhere(const struct rdl_value *v)
{
    return rdl_value_is_vague(v) || v->same_as;
}

static void
check_resource(const struct checker *c, const char *name, const struct rdl_value *v)
{
    if (v->kind == RDL_VALUE_STRING) {
        report(c, v->pos, "resource '%s' must be a number", name);
        return;
    }
    if (!check_shape(c, "resource", name, v))
        return;
    /* Resources are never additive bounds, so no exception for links here. */
    if (vague_anywhere(v) && c->policy != POLICY_OL0) {
        report(c, v->pos, "resource '%s' is vague, which %s does not allow", name,
               policy_name(c->policy));
        return;
    }
    switch (v->kind) {
    case RDL_VALUE_NUMBER:
        if (v->num < 0)
            report(c, v->pos, "resource '%s' must not be negative", name);
        break;
    case RDL_VALUE_RANGE:
        if ((v->has_min && v->min < 0) || (v->has_max && v->max < 0))
            report(c, v->pos, "resource '%s' must not be negative", name);
        break;
    case RDL_VALUE_LIST:
        for (size_t i = 0; i < v->n_items; i++) {
            const struct rdl_value *it = v->items[i];
            struct rdl_pos p = pos_or(it->pos, v->pos);
            if (it->kind != RDL_VALUE_NUMBER) {
                report(c, p, "resource '%s' must be a number", name);
                break;
            }
            if (it->num < 0) {
                report(c, p, "resource '%s' must not be negative", name);
                break;
            }
        }
        break;
    case RDL_VALUE_STRING:
    case RDL_VALUE_SAME_AS:
        break;
    }
}

static void
check_feature(const struct checker *c, const char *name, const struct rdl_value *v, bool on_link)
{
    if (!check_shape(c, "feature", name, v))
        return;
    bool bad = false;
    switch (c->policy) {
    case POLICY_UNDERLAY:
        /* An underlay list is an offer of every item, which is definite. */
        bad = v->kind == RDL_VALUE_RANGE || v->kind == RDL_VALUE_SAME_AS || v->same_as;
        break;
    case POLICY_OL0:
        break;
    case POLICY_OL1:
        bad = rdl_value_is_vague_at(v, name, on_link);
        break;
    case POLICY_MAPPING:
        bad = vague_anywhere(v);
        break;
    }
    if (bad)
        report(c, v->pos, "feature '%s' is vague, which %s does not allow", name,
               policy_name(c->policy));
}

static void
check_props(const struct checker *c, const struct rdl_props *res, const struct rdl_props *feat,
            bool on_link)
{
    for (size_t i = 0; i < res->len; i++)
        check_resource(c, res->items[i].name, res->items[i].value);
    for (size_t i = 0; i < feat->len; i++)
        check_feature(c, feat->items[i].name, feat->items[i].value, on_link);
}

static bool
is_transit(const char *type)
{
    return strcmp(type, "/link/transit") == 0 || cn_startswith(type, "/link/transit/");
}

static void
check_elements(const struct checker *c)
{
    const struct rdl_graph *g = c->g;
    for (size_t i = 0; i < g->n_elements; i++) {
        const struct rdl_element *e = g->elements[i];
        if (e->has_vlan_range) {
            struct rdl_pos p = e->pos;
            if (c->w && i < c->w->n_elem_vlan)
                p = pos_or(c->w->elem_vlan[i], e->pos);
            if (g->kind != RDL_UNDERLAY || !is_transit(e->type))
                report(c, p, "vlan_range is only allowed on /link/transit elements of underlays");
            else
                check_vlan_range(c, e->vlan_first, e->vlan_last, p);
        }
        check_props(c, &e->resources, &e->features, e->is_link);
    }
}

/* ---- same_as ---- */

/*
 * The properties that carry same_as form a graph (element, namespace, name)
 * -> (target, namespace, name); every node has at most one successor, so a
 * walk with three colours finds each cycle once in linear time.
 */
struct sa_node {
    size_t elem;
    int ns; /* 0 resources, 1 features */
    size_t prop;
};

static const struct rdl_props *
ns_props(const struct rdl_element *e, int ns)
{
    return ns ? &e->features : &e->resources;
}

static size_t
prop_index(const struct rdl_props *p, const char *name)
{
    for (size_t i = 0; i < p->len; i++)
        if (strcmp(p->items[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

static void
report_cycle(const struct checker *c, const struct sa_node *path, size_t from, size_t n)
{
    const struct rdl_graph *g = c->g;
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    /* Long cycles are cut in the middle; the ends say enough. */
    size_t len = n - from;
    for (size_t i = from; i < n; i++) {
        if (len > 8 && i == from + 4) {
            cn_buf_puts(&b, "... -> ");
            i = n - 3;
        }
        cn_buf_printf(&b, "%s -> ", g->elements[path[i].elem]->id);
    }
    cn_buf_puts(&b, g->elements[path[from].elem]->id);
    const struct rdl_element *e = g->elements[path[from].elem];
    const struct rdl_value *v = ns_props(e, path[from].ns)->items[path[from].prop].value;
    report(c, pos_or(v->pos, e->pos), "same_as cycle: %s", b.s);
    cn_buf_release(&b);
}

static void
check_same_as(const struct checker *c)
{
    const struct rdl_graph *g = c->g;
    /* Flat colour array: one slot per property, offsets per element and namespace. */
    size_t *base = xcalloc(g->n_elements * 2 + 1, sizeof(*base));
    size_t total = 0;
    bool any = false;
    for (size_t i = 0; i < g->n_elements; i++) {
        for (int ns = 0; ns < 2; ns++) {
            const struct rdl_props *p = ns_props(g->elements[i], ns);
            base[i * 2 + (size_t)ns] = total;
            total += p->len;
            for (size_t k = 0; k < p->len && !any; k++)
                any = p->items[k].value->same_as != NULL;
        }
    }
    if (!any) {
        free(base);
        return;
    }
    unsigned char *colour = xcalloc(total + 1, 1);
    struct cn_strmap index = CN_STRMAP_INIT;
    cn_strmap_init(&index);
    for (size_t i = 0; i < g->n_elements; i++)
        cn_strmap_put(&index, g->elements[i]->id, (void *)(uintptr_t)(i + 1));
    struct sa_node *path = NULL;
    size_t n_path = 0, cap_path = 0;

    for (size_t i = 0; i < g->n_elements; i++) {
        const struct rdl_element *e = g->elements[i];
        for (int ns = 0; ns < 2; ns++) {
            const struct rdl_props *p = ns_props(e, ns);
            for (size_t k = 0; k < p->len; k++) {
                const struct rdl_value *v = p->items[k].value;
                if (!v->same_as)
                    continue;
                /* Targets first: every dangling reference is its own problem. */
                const struct rdl_element *t = rdl_graph_element(g, v->same_as);
                if (!t) {
                    if (!quiet(c, v->same_as))
                        report(c, pos_or(v->pos, e->pos), "same_as names unknown element '%s'",
                               v->same_as);
                } else if (prop_index(ns_props(t, ns), p->items[k].name) == SIZE_MAX) {
                    report(c, pos_or(v->pos, e->pos), "same_as names '%s', which has no %s '%s'",
                           t->id, ns ? "feature" : "resource", p->items[k].name);
                }
            }
        }
    }

    for (size_t i = 0; i < g->n_elements; i++) {
        for (int ns = 0; ns < 2; ns++) {
            const struct rdl_props *p = ns_props(g->elements[i], ns);
            for (size_t k = 0; k < p->len; k++) {
                if (!p->items[k].value->same_as || colour[base[i * 2 + (size_t)ns] + k])
                    continue;
                struct sa_node cur = {i, ns, k};
                n_path = 0;
                for (;;) {
                    size_t slot = base[cur.elem * 2 + (size_t)cur.ns] + cur.prop;
                    if (colour[slot] == 2)
                        break;
                    if (colour[slot] == 1) {
                        size_t from = 0;
                        while (path[from].elem != cur.elem || path[from].ns != cur.ns ||
                               path[from].prop != cur.prop)
                            from++;
                        report_cycle(c, path, from, n_path);
                        break;
                    }
                    colour[slot] = 1;
                    CN_GROW(path, cap_path, n_path + 1);
                    path[n_path++] = cur;
                    const struct rdl_props *cp = ns_props(g->elements[cur.elem], cur.ns);
                    const struct rdl_value *v = cp->items[cur.prop].value;
                    if (!v->same_as)
                        break;
                    uintptr_t t = (uintptr_t)cn_strmap_get(&index, v->same_as);
                    if (!t)
                        break;
                    size_t tp =
                        prop_index(ns_props(g->elements[t - 1], cur.ns), cp->items[cur.prop].name);
                    if (tp == SIZE_MAX)
                        break;
                    cur = (struct sa_node){t - 1, cur.ns, tp};
                }
                for (size_t j = 0; j < n_path; j++)
                    colour[base[path[j].elem * 2 + (size_t)path[j].ns] + path[j].prop] = 2;
            }
        }
    }
    free(path);
    cn_strmap_release(&index);
    free(colour);
    free(base);
}

/* ---- interfaces ---- */

struct iface_key {
    uintptr_t lo, hi;
    size_t idx;
};

static int
iface_key_cmp(const void *pa, const void *pb)
{
    const struct iface_key *a = pa, *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void
check_interfaces(const struct checker *c)
{
    const struct rdl_graph *g = c->g;
    struct iface_key *keys = xcalloc(g->n_ifaces + 1, sizeof(*keys));
    for (size_t i = 0; i < g->n_ifaces; i++) {
        const struct rdl_iface *f = &g->ifaces[i];
        if (f->a->is_link == f->b->is_link)
            report(c, f->pos, "interface between '%s' and '%s' must join a node and a link",
                   f->a->id, f->b->id);
        /* The same pair reversed is another interface: the link checks report it. */
        keys[i] = (struct iface_key){(uintptr_t)f->a, (uintptr_t)f->b, i};
    }
    /* Sorting brings repeated pairs together without a quadratic scan. */
    qsort(keys, g->n_ifaces, sizeof(*keys), iface_key_cmp);
    for (size_t i = 1; i < g->n_ifaces; i++) {
        if (keys[i].lo == keys[i - 1].lo && keys[i].hi == keys[i - 1].hi) {
            const struct rdl_iface *f = &g->ifaces[keys[i].idx];
            report(c, f->pos, "interface between '%s' and '%s' listed twice", f->a->id, f->b->id);
        }
    }
    free(keys);

    for (size_t i = 0; i < g->n_elements; i++) {
        const struct rdl_element *e = g->elements[i];
        if (!e->is_link || quiet(c, e->id))
            continue;
        if (e->n_nbrs != 2)
            report(c, e->pos, "link '%s' has %zu interface%s, needs 2", e->id, e->n_nbrs,
                   e->n_nbrs == 1 ? "" : "s");
        else if (e->nbrs[0] == e->nbrs[1])
            report(c, e->pos, "link '%s' joins '%s' to itself", e->id, e->nbrs[0]->id);
    }
}

/* ---- mapping entries ---- */

static void
check_entries(const struct checker *c)
{
    const struct rdl_graph *g = c->g;
    for (size_t i = 0; i < g->n_map; i++) {
        const struct rdl_map_entry *m = g->map[i];
        if (!m->to && !m->has_path)
            report(c, m->pos, "entry '%s' needs 'to' or 'path'", m->id);
        else if (m->to && m->has_path)
            report(c, m->pos, "entry '%s' has both 'to' and 'path'", m->id);
        else if (m->has_path && m->path_len == 0)
            report(c, m->pos, "entry '%s' has an empty path", m->id);
        if (!c->w || !c->w->names_checked) {
            if (m->to && !rdl_id_valid(m->to))
                report(c, m->pos, "malformed element id '%.64s'", m->to);
            for (size_t k = 0; k < m->path_len; k++)
                if (!rdl_id_valid(m->path[k]))
                    report(c, m->pos, "malformed element id '%.64s'", m->path[k]);
        }
        if (m->vlan != -1 && (m->vlan < 1 || m->vlan > 4094)) {
            struct rdl_pos p = m->pos;
            if (c->w && i < c->w->n_entry_vlan)
                p = pos_or(c->w->entry_vlan[i], m->pos);
            report(c, p, "vlan must lie within 1..4094");
        }
        check_props(c, &m->resources, &m->features, m->has_path);
    }
}

/* ---- the graph ---- */

static void
check_graph(const struct checker *c)
{
    const struct rdl_graph *g = c->g;
    const struct rdl_where *w = c->w;
    struct rdl_pos none = {0, 0};
    if (!w || !w->names_checked) {
        if (!rdl_id_valid(g->name))
            report(c, w ? w->name : none, "malformed name '%.64s'", g->name);
        if (g->kind == RDL_MAPPING) {
            if (!g->overlay || !rdl_id_valid(g->overlay))
                report(c, none, "a mapping must name a well-formed overlay");
            if (!g->underlay || !rdl_id_valid(g->underlay))
                report(c, none, "a mapping must name a well-formed underlay");
        }
    }
    if (g->kind == RDL_OVERLAY) {
        if (g->level != 0 && g->level != 1)
            report(c, w ? w->level : none, "level must be 0 or 1");
    } else if (g->level != 0) {
        report(c, w ? w->level : none, "level is only allowed in overlays");
    }
    if (g->has_vlan_range) {
        struct rdl_pos p = w ? w->vlan_range : none;
        if (g->kind != RDL_UNDERLAY)
            report(c, p, "vlan_range is only allowed in underlays");
        else
            check_vlan_range(c, g->vlan_first, g->vlan_last, p);
    }
}

int
rdl_check(const struct rdl_graph *g, const struct rdl_where *where, struct cn_err *err)
{
    struct checker c = {g, where, err, POLICY_OL0};
    switch (g->kind) {
    case RDL_UNDERLAY:
        c.policy = POLICY_UNDERLAY;
        break;
    case RDL_OVERLAY:
        c.policy = g->level == 1 ? POLICY_OL1 : POLICY_OL0;
        break;
    case RDL_MAPPING:
        c.policy = POLICY_MAPPING;
        break;
    }
    unsigned before = err->count;
    check_graph(&c);
    /* A mapping's elements are the overlay's; what it holds of its own is the map. */
    if (g->kind == RDL_MAPPING) {
        check_entries(&c);
    } else {
        check_elements(&c);
        if (c.policy == POLICY_OL0)
            check_same_as(&c);
        check_interfaces(&c);
    }
    return err->count > before ? -1 : 0;
}

/* ---- reporting in document order ---- */

struct diag_line {
    const char *s;
    size_t len;
    long line, col;
    size_t seq;
};

static int
diag_line_cmp(const void *pa, const void *pb)
{
    const struct diag_line *a = pa, *b = pb;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Reads "LINE:COL:" after the prefix; a line without one sorts first. */
static void
parse_diag_pos(struct diag_line *d, size_t prefix_len)
{
    d->line = d->col = 0;
    if (d->len <= prefix_len + 1 || d->s[prefix_len] != ':')
        return;
    const char *p = d->s + prefix_len + 1;
    char *end;
    long line = strtol(p, &end, 10);
    if (end == p || *end != ':')
        return;
    p = end + 1;
    long col = strtol(p, &end, 10);
    if (end == p || *end != ':')
        return;
    d->line = line;
    d->col = col;
}

void
rdl_diag_flush(struct cn_err *dst, struct cn_err *src, const char *prefix)
{
    if (!src->count)
        return;
    size_t prefix_len = strlen(prefix);
    struct diag_line *lines = xcalloc(src->count + 1, sizeof(*lines));
    size_t n = 0;
    const char *s = cn_err_msg(src);
    while (*s && n < src->count) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        lines[n] = (struct diag_line){s, len, 0, 0, n};
        if (strncmp(s, prefix, prefix_len) == 0)
            parse_diag_pos(&lines[n], prefix_len);
        n++;
        if (!nl)
            break;
        s = nl + 1;
    }
    qsort(lines, n, sizeof(*lines), diag_line_cmp);
    for (size_t i = 0; i < n && i < RDL_MAX_PROBLEMS; i++)
        cn_err_add(dst, src->code, "%.*s", (int)lines[i].len, lines[i].s);
    if (n > RDL_MAX_PROBLEMS)
        cn_err_add(dst, src->code, "%s: too many problems; stopped after %d", prefix,
                   RDL_MAX_PROBLEMS);
    free(lines);
    cn_err_clear(src);
}

int
rdl_validate(const struct rdl_graph *g, struct cn_err *err)
{
    struct cn_err tmp = CN_ERR_INIT;
    cn_err_init(&tmp);
    int ret = rdl_check(g, NULL, &tmp);
    rdl_diag_flush(err, &tmp, g->file ? g->file : g->name);
    cn_err_release(&tmp);
    return ret;
}
