/*
 * Graphs, elements, interfaces and mapping entries: construction, lookup,
 * copy and comparison. Elements keep insertion order (the writer follows
 * it) and are indexed by id for lookups.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RDL_PRIV_H_ALLOW
#include "rdl/rdl_priv.h"

struct rdl_graph *
rdl_graph_new(enum rdl_kind kind, const char *name)
{
    struct rdl_graph *g = xcalloc(1, sizeof(*g));
    g->kind = kind;
    g->name = xstrdup(name ? name : "");
    cn_strmap_init(&g->element_index);
    cn_strmap_init(&g->map_index);
    return g;
}

static void
element_free(struct rdl_element *e)
{
    if (!e)
        return;
    free(e->id);
    free(e->type);
    rdl_props_release(&e->resources);
    rdl_props_release(&e->features);
    free(e->nbrs);
    free(e);
}

static void
map_entry_free(struct rdl_map_entry *m)
{
    if (!m)
        return;
    free(m->id);
    free(m->to);
    for (size_t i = 0; i < m->path_len; i++)
        free(m->path[i]);
    free(m->path);
    rdl_props_release(&m->resources);
    rdl_props_release(&m->features);
    free(m);
}

void
rdl_graph_free(struct rdl_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_elements; i++)
        element_free(g->elements[i]);
    free(g->elements);
    cn_strmap_release(&g->element_index);
    free(g->ifaces);
    for (size_t i = 0; i < g->n_map; i++)
        map_entry_free(g->map[i]);
    free(g->map);
    cn_strmap_release(&g->map_index);
    free(g->name);
    free(g->file);
    free(g->overlay);
    free(g->underlay);
    free(g->objective_name);
    free(g);
}

const char *
rdl_kind_name(enum rdl_kind kind)
{
    switch (kind) {
    case RDL_UNDERLAY:
        return "underlay";
    case RDL_OVERLAY:
        return "overlay";
    case RDL_MAPPING:
        return "mapping";
    }
    return "unknown";
}

enum rdl_kind
rdl_graph_kind(const struct rdl_graph *g)
{
    return g->kind;
}

const char *
rdl_graph_name(const struct rdl_graph *g)
{
    return g->name;
}

void
rdl_graph_set_name(struct rdl_graph *g, const char *name)
{
    free(g->name);
    g->name = xstrdup(name);
}

const char *
rdl_graph_file(const struct rdl_graph *g)
{
    return g->file;
}

void
rdl_graph_set_file(struct rdl_graph *g, const char *file)
{
    free(g->file);
    g->file = file ? xstrdup(file) : NULL;
}

int
rdl_graph_level(const struct rdl_graph *g)
{
    return g->level;
}

void
rdl_graph_set_level(struct rdl_graph *g, int level)
{
    g->level = level;
}

int
rdl_graph_vlan_range(const struct rdl_graph *g, int *ret_first, int *ret_last)
{
    if (!g->has_vlan_range)
        return -1;
    if (ret_first)
        *ret_first = g->vlan_first;
    if (ret_last)
        *ret_last = g->vlan_last;
    return 0;
}

void
rdl_graph_set_vlan_range(struct rdl_graph *g, int first, int last)
{
    g->has_vlan_range = true;
    g->vlan_first = first;
    g->vlan_last = last;
}

/* ---- ids and types ---- */

static bool
id_char(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
        return true;
    return !first && (c == '-' || c == '.' || c == ':');
}

bool
rdl_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RDL_MAX_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!id_char(s[i], i == 0))
            return false;
    return true;
}

bool
rdl_type_valid(const char *type)
{
    if (!cn_startswith(type, "/node/") && !cn_startswith(type, "/link/"))
        return false;
    if (strlen(type) > RDL_MAX_ID_LEN)
        return false;
    const char *seg = type + 1;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0)
            return false;
        for (size_t i = 0; i < n; i++) {
            char c = seg[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.'))
                return false;
        }
        if (!end)
            return true;
        seg = end + 1;
    }
}

bool
rdl_type_fits(const char *t, const char *u)
{
    if (!rdl_type_valid(t) || !rdl_type_valid(u))
        return false;
    /* Drop t's trailing "/generic" segments: they stand for "anything below". */
    size_t tlen = strlen(t);
    while (tlen > 8 && strncmp(t + tlen - 8, "/generic", 8) == 0)
        tlen -= 8;
    size_t ulen = strlen(u);
    if (tlen > ulen || strncmp(t, u, tlen) != 0)
        return false;
    /* A segment-wise prefix: /node/host must not fit /node/hostile. */
    return tlen == ulen || u[tlen] == '/';
}

/* ---- elements ---- */

struct rdl_element *
rdl_graph_add_element(struct rdl_graph *g, const char *id, const char *type, struct cn_err *err)
{
    if (!rdl_id_valid(id)) {
        cn_err_add(err, CN_E_INVALID, "%s: malformed element id '%.64s'", g->name, id);
        return NULL;
    }
    if (!rdl_type_valid(type)) {
        cn_err_add(err, CN_E_INVALID, "%s: element '%s': malformed type '%.64s'", g->name, id,
                   type);
        return NULL;
    }
    if (cn_strmap_get(&g->element_index, id)) {
        cn_err_add(err, CN_E_INVALID, "%s: element '%s' defined twice", g->name, id);
        return NULL;
    }
    struct rdl_element *e = xcalloc(1, sizeof(*e));
    e->id = xstrdup(id);
    e->type = xstrdup(type);
    e->is_link = cn_startswith(type, "/link/");
    CN_GROW(g->elements, g->cap_elements, g->n_elements + 1);
    g->elements[g->n_elements++] = e;
    cn_strmap_put(&g->element_index, e->id, e);
    return e;
}

static void
remove_neighbour(struct rdl_element *e, const struct rdl_element *gone)
{
    size_t j = 0;
    for (size_t i = 0; i < e->n_nbrs; i++)
        if (e->nbrs[i] != gone)
            e->nbrs[j++] = e->nbrs[i];
    e->n_nbrs = j;
}

int
rdl_graph_remove_element(struct rdl_graph *g, const char *id)
{
    struct rdl_element *e = cn_strmap_get(&g->element_index, id);
    if (!e)
        return -1;
    size_t j = 0;
    for (size_t i = 0; i < g->n_ifaces; i++) {
        struct rdl_iface *f = &g->ifaces[i];
        if (f->a == e || f->b == e) {
            struct rdl_element *other = f->a == e ? f->b : f->a;
            if (other != e)
                remove_neighbour(other, e);
            continue;
        }
        g->ifaces[j++] = *f;
    }
    g->n_ifaces = j;
    cn_strmap_del(&g->element_index, id);
    for (size_t i = 0; i < g->n_elements; i++) {
        if (g->elements[i] == e) {
            memmove(&g->elements[i], &g->elements[i + 1],
                    (g->n_elements - i - 1) * sizeof(*g->elements));
            g->n_elements--;
            break;
        }
    }
    element_free(e);
    return 0;
}

size_t
rdl_graph_element_count(const struct rdl_graph *g)
{
    return g->n_elements;
}

struct rdl_element *
rdl_graph_element_at(const struct rdl_graph *g, size_t i)
{
    return i < g->n_elements ? g->elements[i] : NULL;
}

struct rdl_element *
rdl_graph_element(const struct rdl_graph *g, const char *id)
{
    return cn_strmap_get(&g->element_index, id);
}

size_t
rdl_graph_interface_count(const struct rdl_graph *g)
{
    return g->n_ifaces;
}

void
rdl_graph_interface_at(const struct rdl_graph *g, size_t i, struct rdl_element **ret_a,
                       struct rdl_element **ret_b)
{
    if (i >= g->n_ifaces)
        return;
    if (ret_a)
        *ret_a = g->ifaces[i].a;
    if (ret_b)
        *ret_b = g->ifaces[i].b;
}

static void
add_neighbour(struct rdl_element *e, struct rdl_element *n)
{
    CN_GROW(e->nbrs, e->cap_nbrs, e->n_nbrs + 1);
    e->nbrs[e->n_nbrs++] = n;
}

int
rdl_graph_add_interface(struct rdl_graph *g, const char *a, const char *b, struct cn_err *err)
{
    struct rdl_element *ea = rdl_graph_element(g, a);
    struct rdl_element *eb = rdl_graph_element(g, b);
    if (!ea || !eb)
        return cn_err_add(err, CN_E_INVALID, "%s: interface names unknown element '%.64s'", g->name,
                          !ea ? a : b);
    CN_GROW(g->ifaces, g->cap_ifaces, g->n_ifaces + 1);
    g->ifaces[g->n_ifaces].a = ea;
    g->ifaces[g->n_ifaces].b = eb;
    g->ifaces[g->n_ifaces].pos = (struct rdl_pos){0, 0};
    g->n_ifaces++;
    add_neighbour(ea, eb);
    if (ea != eb)
        add_neighbour(eb, ea);
    return 0;
}

const char *
rdl_element_id(const struct rdl_element *e)
{
    return e->id;
}

const char *
rdl_element_type(const struct rdl_element *e)
{
    return e->type;
}

bool
rdl_element_is_node(const struct rdl_element *e)
{
    return !e->is_link;
}

bool
rdl_element_is_link(const struct rdl_element *e)
{
    return e->is_link;
}

bool
rdl_element_is_border(const struct rdl_element *e)
{
    return rdl_element_is_node(e) && rdl_type_fits("/node/host/pip", rdl_element_type(e)) &&
           rdl_props_get(rdl_element_features(e), "transit") != NULL;
}

const struct rdl_props *
rdl_element_resources(const struct rdl_element *e)
{
    return &e->resources;
}

struct rdl_props *
rdl_element_resources_mut(struct rdl_element *e)
{
    return &e->resources;
}

const struct rdl_props *
rdl_element_features(const struct rdl_element *e)
{
    return &e->features;
}

struct rdl_props *
rdl_element_features_mut(struct rdl_element *e)
{
    return &e->features;
}

size_t
rdl_element_degree(const struct rdl_element *e)
{
    return e->n_nbrs;
}

struct rdl_element *
rdl_element_neighbour(const struct rdl_element *e, size_t i)
{
    return i < e->n_nbrs ? e->nbrs[i] : NULL;
}

int
rdl_link_endpoints(const struct rdl_element *link, struct rdl_element **ret_a,
                   struct rdl_element **ret_b)
{
    if (!link->is_link || link->n_nbrs != 2 || link->nbrs[0]->is_link || link->nbrs[1]->is_link)
        return -1;
    if (ret_a)
        *ret_a = link->nbrs[0];
    if (ret_b)
        *ret_b = link->nbrs[1];
    return 0;
}

int
rdl_element_vlan_range(const struct rdl_element *e, int *ret_first, int *ret_last)
{
    if (!e->has_vlan_range)
        return -1;
    if (ret_first)
        *ret_first = e->vlan_first;
    if (ret_last)
        *ret_last = e->vlan_last;
    return 0;
}

void
rdl_element_set_vlan_range(struct rdl_element *e, int first, int last)
{
    e->has_vlan_range = true;
    e->vlan_first = first;
    e->vlan_last = last;
}

void
rdl_element_pos(const struct rdl_element *e, int *ret_line, int *ret_col)
{
    if (ret_line)
        *ret_line = e->pos.line;
    if (ret_col)
        *ret_col = e->pos.col;
}

/* ---- mapping documents ---- */

const char *
rdl_mapping_overlay(const struct rdl_graph *g)
{
    return g->overlay;
}

const char *
rdl_mapping_underlay(const struct rdl_graph *g)
{
    return g->underlay;
}

void
rdl_mapping_set_graphs(struct rdl_graph *g, const char *overlay, const char *underlay)
{
    free(g->overlay);
    free(g->underlay);
    g->overlay = overlay ? xstrdup(overlay) : NULL;
    g->underlay = underlay ? xstrdup(underlay) : NULL;
}

void
rdl_mapping_objective(const struct rdl_graph *g, struct rdl_objective *ret_objective)
{
    ret_objective->name = g->has_objective ? g->objective_name : NULL;
    ret_objective->value = g->objective_value;
    ret_objective->bound = g->objective_bound;
    ret_objective->gap = g->objective_gap;
    ret_objective->solve_ms = g->objective_solve_ms;
}

void
rdl_mapping_set_objective(struct rdl_graph *g, const struct rdl_objective *objective)
{
    free(g->objective_name);
    g->objective_name = NULL;
    g->has_objective = objective && objective->name;
    if (!g->has_objective)
        return;
    g->objective_name = xstrdup(objective->name);
    g->objective_value = objective->value;
    g->objective_bound = objective->bound;
    g->objective_gap = objective->gap;
    g->objective_solve_ms = objective->solve_ms;
}

size_t
rdl_mapping_count(const struct rdl_graph *g)
{
    return g->n_map;
}

struct rdl_map_entry *
rdl_mapping_at(const struct rdl_graph *g, size_t i)
{
    return i < g->n_map ? g->map[i] : NULL;
}

struct rdl_map_entry *
rdl_mapping_get(const struct rdl_graph *g, const char *id)
{
    return cn_strmap_get(&g->map_index, id);
}

struct rdl_map_entry *
rdl_mapping_add(struct rdl_graph *g, const char *id, struct cn_err *err)
{
    if (!rdl_id_valid(id)) {
        cn_err_add(err, CN_E_INVALID, "%s: malformed element id '%.64s'", g->name, id);
        return NULL;
    }
    if (cn_strmap_get(&g->map_index, id)) {
        cn_err_add(err, CN_E_INVALID, "%s: element '%s' mapped twice", g->name, id);
        return NULL;
    }
    struct rdl_map_entry *m = xcalloc(1, sizeof(*m));
    m->id = xstrdup(id);
    m->vlan = -1;
    CN_GROW(g->map, g->cap_map, g->n_map + 1);
    g->map[g->n_map++] = m;
    cn_strmap_put(&g->map_index, m->id, m);
    return m;
}

const char *
rdl_map_entry_id(const struct rdl_map_entry *m)
{
    return m->id;
}

const char *
rdl_map_entry_to(const struct rdl_map_entry *m)
{
    return m->to;
}

void
rdl_map_entry_set_to(struct rdl_map_entry *m, const char *node)
{
    free(m->to);
    m->to = node ? xstrdup(node) : NULL;
}

size_t
rdl_map_entry_path_len(const struct rdl_map_entry *m)
{
    return m->path_len;
}

const char *
rdl_map_entry_path_at(const struct rdl_map_entry *m, size_t i)
{
    return i < m->path_len ? m->path[i] : NULL;
}

void
rdl_map_entry_path_append(struct rdl_map_entry *m, const char *id)
{
    CN_GROW(m->path, m->path_cap, m->path_len + 1);
    m->path[m->path_len++] = xstrdup(id);
    m->has_path = true;
}

bool
rdl_map_entry_has_path(const struct rdl_map_entry *m)
{
    return m->has_path;
}

const struct rdl_props *
rdl_map_entry_resources(const struct rdl_map_entry *m)
{
    return &m->resources;
}

struct rdl_props *
rdl_map_entry_resources_mut(struct rdl_map_entry *m)
{
    return &m->resources;
}

const struct rdl_props *
rdl_map_entry_features(const struct rdl_map_entry *m)
{
    return &m->features;
}

struct rdl_props *
rdl_map_entry_features_mut(struct rdl_map_entry *m)
{
    return &m->features;
}

int
rdl_map_entry_vlan(const struct rdl_map_entry *m)
{
    return m->vlan;
}

void
rdl_map_entry_set_vlan(struct rdl_map_entry *m, int vlan)
{
    m->vlan = vlan;
}

void
rdl_map_entry_pos(const struct rdl_map_entry *m, int *ret_line, int *ret_col)
{
    if (ret_line)
        *ret_line = m->pos.line;
    if (ret_col)
        *ret_col = m->pos.col;
}

/* ---- copy and comparison ---- */

struct rdl_graph *
rdl_graph_copy(const struct rdl_graph *g)
{
    struct rdl_graph *c = rdl_graph_new(g->kind, g->name);
    rdl_graph_set_file(c, g->file);
    c->level = g->level;
    c->has_vlan_range = g->has_vlan_range;
    c->vlan_first = g->vlan_first;
    c->vlan_last = g->vlan_last;
    for (size_t i = 0; i < g->n_elements; i++) {
        const struct rdl_element *e = g->elements[i];
        struct rdl_element *ce = rdl_graph_add_element(c, e->id, e->type, NULL);
        rdl_props_copy_into(&ce->resources, &e->resources);
        rdl_props_copy_into(&ce->features, &e->features);
        ce->has_vlan_range = e->has_vlan_range;
        ce->vlan_first = e->vlan_first;
        ce->vlan_last = e->vlan_last;
        ce->pos = e->pos;
    }
    for (size_t i = 0; i < g->n_ifaces; i++) {
        rdl_graph_add_interface(c, g->ifaces[i].a->id, g->ifaces[i].b->id, NULL);
        c->ifaces[i].pos = g->ifaces[i].pos;
    }
    rdl_mapping_set_graphs(c, g->overlay, g->underlay);
    struct rdl_objective obj;
    rdl_mapping_objective(g, &obj);
    rdl_mapping_set_objective(c, &obj);
    for (size_t i = 0; i < g->n_map; i++) {
        const struct rdl_map_entry *m = g->map[i];
        struct rdl_map_entry *cm = rdl_mapping_add(c, m->id, NULL);
        rdl_map_entry_set_to(cm, m->to);
        for (size_t k = 0; k < m->path_len; k++)
            rdl_map_entry_path_append(cm, m->path[k]);
        cm->has_path = m->has_path;
        rdl_props_copy_into(&cm->resources, &m->resources);
        rdl_props_copy_into(&cm->features, &m->features);
        cm->vlan = m->vlan;
        cm->pos = m->pos;
    }
    return c;
}

static bool
elements_equal(const struct rdl_element *a, const struct rdl_element *b)
{
    return b && strcmp(a->type, b->type) == 0 && a->has_vlan_range == b->has_vlan_range &&
           (!a->has_vlan_range ||
            (a->vlan_first == b->vlan_first && a->vlan_last == b->vlan_last)) &&
           rdl_props_equal(&a->resources, &b->resources) &&
           rdl_props_equal(&a->features, &b->features);
}

static bool
interfaces_equal(const struct rdl_graph *a, const struct rdl_graph *b)
{
    if (a->n_ifaces != b->n_ifaces)
        return false;
    /* Interfaces are few per element, so compare through each element's neighbours. */
    for (size_t i = 0; i < a->n_elements; i++) {
        const struct rdl_element *ea = a->elements[i];
        const struct rdl_element *eb = rdl_graph_element(b, ea->id);
        if (!eb || ea->n_nbrs != eb->n_nbrs)
            return false;
        for (size_t k = 0; k < ea->n_nbrs; k++) {
            size_t na = 0, nb = 0;
            for (size_t j = 0; j < ea->n_nbrs; j++)
                na += strcmp(ea->nbrs[j]->id, ea->nbrs[k]->id) == 0;
            for (size_t j = 0; j < eb->n_nbrs; j++)
                nb += strcmp(eb->nbrs[j]->id, ea->nbrs[k]->id) == 0;
            if (na != nb)
                return false;
        }
    }
    return true;
}

static bool
map_entries_equal(const struct rdl_map_entry *a, const struct rdl_map_entry *b)
{
    if (!b || !cn_streq(a->to, b->to) || a->has_path != b->has_path || a->path_len != b->path_len ||
        a->vlan != b->vlan)
        return false;
    for (size_t i = 0; i < a->path_len; i++)
        if (strcmp(a->path[i], b->path[i]) != 0)
            return false;
    return rdl_props_equal(&a->resources, &b->resources) &&
           rdl_props_equal(&a->features, &b->features);
}

bool
rdl_graph_equal(const struct rdl_graph *a, const struct rdl_graph *b)
{
    if (a->kind != b->kind || strcmp(a->name, b->name) != 0 || a->level != b->level ||
        a->has_vlan_range != b->has_vlan_range || a->n_elements != b->n_elements ||
        a->n_map != b->n_map)
        return false;
    if (a->has_vlan_range && (a->vlan_first != b->vlan_first || a->vlan_last != b->vlan_last))
        return false;
    if (!cn_streq(a->overlay, b->overlay) || !cn_streq(a->underlay, b->underlay) ||
        a->has_objective != b->has_objective)
        return false;
    if (a->has_objective &&
        (!cn_streq(a->objective_name, b->objective_name) ||
         a->objective_value != b->objective_value || a->objective_bound != b->objective_bound ||
         a->objective_gap != b->objective_gap || a->objective_solve_ms != b->objective_solve_ms))
        return false;
    for (size_t i = 0; i < a->n_elements; i++)
        if (!elements_equal(a->elements[i], rdl_graph_element(b, a->elements[i]->id)))
            return false;
    if (!interfaces_equal(a, b))
        return false;
    for (size_t i = 0; i < a->n_map; i++)
        if (!map_entries_equal(a->map[i], rdl_mapping_get(b, a->map[i]->id)))
            return false;
    return true;
}

/* ---- diagnostics ---- */

int
rdl_diag(struct cn_err *err, const struct rdl_graph *g, struct rdl_pos pos, const char *fmt, ...)
{
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    const char *where = g && g->file ? g->file : (g ? g->name : "<input>");
    if (pos.line > 0)
        cn_buf_printf(&b, "%s:%d:%d: ", where, pos.line, pos.col);
    else
        cn_buf_printf(&b, "%s: ", where);
    va_list ap;
    va_start(ap, fmt);
    cn_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cn_err_add(err, CN_E_INVALID, "%s", b.s);
    cn_buf_release(&b);
    return -1;
}
