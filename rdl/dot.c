/*
 * Graphviz drawings of RDL documents, for operators and for the demo.
 *
 * An underlay or overlay is drawn as it is: nodes (boxes for substrates,
 * ellipses for requests) labelled with id, type and the resources that
 * matter for placement, links as edges labelled with bandwidth and latency.
 *
 * A mapping is drawn on its underlay: each underlay node becomes a cluster
 * holding the overlay nodes placed there, underlay links join the clusters
 * as grey dashed edges, and every overlay link is a coloured chain of edges
 * along its path. Edges between clusters are clipped at the cluster borders
 * (compound=true), so each cluster holds a tiny anchor node for them.
 *
 * Output follows document order only, so the same input always gives the
 * same bytes and drawings can be compared in tests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RDL_PRIV_H_ALLOW
#include "rdl/rdl_priv.h"
#include "rdl/write_priv.h"

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                      "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

/* Writes s as a DOT quoted string; a newline in s becomes a centred line break. */
static void
dot_quote(struct cn_buf *out, const char *s)
{
    cn_buf_putc(out, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            cn_buf_putc(out, '\\');
        if (*s == '\n')
            cn_buf_puts(out, "\\n");
        else if ((unsigned char)*s >= 0x20)
            cn_buf_putc(out, *s);
    }
    cn_buf_putc(out, '"');
}

static void
dot_id(struct cn_buf *out, const char *prefix, const char *id)
{
    char *s = xasprintf("%s%s", prefix, id);
    dot_quote(out, s);
    free(s);
}

struct shown {
    const char *name;
    const char *unit;
};

static const struct shown node_resources[] = {{"cpu", ""}, {"memory", " MiB"}, {"disk", " GiB"}};
static const struct shown link_resources[] = {{"bandwidth", " Mbit/s"}};

/* Appends "name value unit" for each listed property present, one line each. */
static void
summarise(struct cn_buf *label, const struct rdl_props *p, const struct shown *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct rdl_value *v = rdl_props_get(p, list[i].name);
        if (!v)
            continue;
        cn_buf_printf(label, "\n%s ", list[i].name);
        rdl_write_value(label, v, true);
        cn_buf_puts(label, list[i].unit);
    }
}

static void
summarise_latency(struct cn_buf *label, const struct rdl_props *features)
{
    const struct rdl_value *v = rdl_props_get(features, "latency");
    if (!v)
        return;
    cn_buf_puts(label, "\nlatency ");
    if (v->kind == RDL_VALUE_RANGE && !v->has_min && v->has_max && !v->same_as) {
        cn_buf_puts(label, "<= ");
        rdl_write_number(label, v->max);
    } else {
        rdl_write_value(label, v, true);
    }
    cn_buf_puts(label, " ms");
}

static void
header(struct cn_buf *out, const char *name, const char *title, bool compound)
{
    cn_buf_puts(out, "graph ");
    dot_quote(out, name);
    cn_buf_puts(out, " {\n  graph [label=");
    dot_quote(out, title);
    cn_buf_printf(out, ", labelloc=t, fontname=Helvetica%s];\n", compound ? ", compound=true" : "");
    cn_buf_puts(out, "  node [fontname=Helvetica, fontsize=10];\n"
                     "  edge [fontname=Helvetica, fontsize=9];\n");
}

/* ---- underlays and overlays ---- */

static void
draw_element_graph(const struct rdl_graph *g, struct cn_buf *out)
{
    bool overlay = g->kind == RDL_OVERLAY;
    struct cn_buf label = CN_BUF_INIT;
    cn_buf_init(&label);

    if (overlay)
        cn_buf_printf(&label, "overlay %s (OL%d)", g->name, g->level);
    else
        cn_buf_printf(&label, "%s %s", rdl_kind_name(g->kind), g->name);
    header(out, g->name, label.s, false);

    for (size_t i = 0; i < g->n_elements; i++) {
        const struct rdl_element *e = g->elements[i];
        if (e->is_link && rdl_link_endpoints(e, NULL, NULL) == 0)
            continue;
        cn_buf_reset(&label);
        cn_buf_printf(&label, "%s\n%s", e->id, e->type);
        summarise(&label, &e->resources, node_resources, CN_ARRAY_SIZE(node_resources));
        cn_buf_puts(out, "  ");
        dot_id(out, "", e->id);
        if (e->is_link) {
            /* A link without exactly two endpoints: a dot, so the defect shows. */
            cn_buf_puts(out, " [shape=point, xlabel=");
        } else if (overlay) {
            cn_buf_puts(out, " [shape=ellipse, label=");
        } else if (cn_startswith(e->type, "/node/switch")) {
            cn_buf_puts(out, " [shape=box, style=\"rounded,filled\", fillcolor=gray90, label=");
        } else {
            cn_buf_puts(out, " [shape=box, label=");
        }
        dot_quote(out, label.s);
        cn_buf_puts(out, "];\n");
    }

    for (size_t i = 0; i < g->n_elements; i++) {
        const struct rdl_element *e = g->elements[i];
        struct rdl_element *a, *b;
        if (!e->is_link)
            continue;
        cn_buf_reset(&label);
        cn_buf_puts(&label, e->id);
        summarise(&label, &e->resources, link_resources, CN_ARRAY_SIZE(link_resources));
        summarise_latency(&label, &e->features);
        if (rdl_link_endpoints(e, &a, &b) == 0) {
            cn_buf_puts(out, "  ");
            dot_id(out, "", a->id);
            cn_buf_puts(out, " -- ");
            dot_id(out, "", b->id);
            cn_buf_puts(out, " [label=");
            dot_quote(out, label.s);
            cn_buf_puts(out, "];\n");
            continue;
        }
        for (size_t k = 0; k < e->n_nbrs; k++) {
            cn_buf_puts(out, "  ");
            dot_id(out, "", e->id);
            cn_buf_puts(out, " -- ");
            dot_id(out, "", e->nbrs[k]->id);
            cn_buf_puts(out, ";\n");
        }
    }
    cn_buf_puts(out, "}\n");
    cn_buf_release(&label);
}

/* ---- mappings ---- */

/* The underlay nodes of the drawing, each a cluster: the underlay's, then unknown ones named. */
struct hosts {
    const char **ids;
    const struct rdl_element **elements; /* NULL for ids the underlay does not have */
    size_t n, cap;
    struct cn_strmap index; /* id -> index + 1 */
};

static size_t
host_add(struct hosts *h, const char *id, const struct rdl_element *e)
{
    void *slot = cn_strmap_get(&h->index, id);
    if (slot)
        return (size_t)((uintptr_t)slot - 1);
    CN_GROW(h->ids, h->cap, h->n + 1);
    h->elements = xrealloc(h->elements, h->cap * sizeof(*h->elements));
    h->ids[h->n] = id;
    h->elements[h->n] = e;
    cn_strmap_put(&h->index, id, (void *)(uintptr_t)(h->n + 1));
    return h->n++;
}

static void
edge_between_hosts(struct cn_buf *out, const struct hosts *h, size_t a, size_t b)
{
    cn_buf_puts(out, "  ");
    dot_id(out, "u:", h->ids[a]);
    cn_buf_puts(out, " -- ");
    dot_id(out, "u:", h->ids[b]);
    if (a != b)
        cn_buf_printf(out, " [ltail=cluster_%zu, lhead=cluster_%zu, ", a, b);
    else
        cn_buf_puts(out, " [");
}

static void
draw_mapping(const struct rdl_graph *g, const struct rdl_graph *ul, struct cn_buf *out)
{
    struct hosts h = {0};
    struct cn_buf label = CN_BUF_INIT;
    cn_buf_init(&label);
    cn_strmap_init(&h.index);

    for (size_t i = 0; ul && i < ul->n_elements; i++)
        if (!ul->elements[i]->is_link)
            host_add(&h, ul->elements[i]->id, ul->elements[i]);
    for (size_t i = 0; i < g->n_map; i++) {
        const struct rdl_map_entry *m = g->map[i];
        if (m->to)
            host_add(&h, m->to, NULL);
        for (size_t k = 0; k < m->path_len; k += 2)
            host_add(&h, m->path[k], NULL);
    }

    cn_buf_printf(&label, "mapping %s: overlay %s on underlay %s", g->name,
                  g->overlay ? g->overlay : "?", g->underlay ? g->underlay : "?");
    if (g->has_objective) {
        cn_buf_printf(&label, "\n%s ", g->objective_name);
        rdl_write_number(&label, g->objective_value);
    }
    header(out, g->name, label.s, true);

    for (size_t c = 0; c < h.n; c++) {
        const struct rdl_element *e = h.elements[c];
        cn_buf_reset(&label);
        cn_buf_puts(&label, h.ids[c]);
        if (e) {
            cn_buf_printf(&label, "\n%s", e->type);
            summarise(&label, &e->resources, node_resources, CN_ARRAY_SIZE(node_resources));
        } else if (ul) {
            cn_buf_puts(&label, "\n(not in the underlay)");
        }
        cn_buf_printf(out, "  subgraph cluster_%zu {\n    label=", c);
        dot_quote(out, label.s);
        cn_buf_printf(out, ";\n    style=rounded;\n    color=%s;\n", e || !ul ? "gray40" : "red");
        cn_buf_puts(out, "    ");
        dot_id(out, "u:", h.ids[c]);
        cn_buf_puts(out, " [shape=point, width=0.05, color=gray40];\n");
        for (size_t i = 0; i < g->n_map; i++) {
            const struct rdl_map_entry *m = g->map[i];
            if (!m->to || strcmp(m->to, h.ids[c]) != 0)
                continue;
            cn_buf_reset(&label);
            cn_buf_puts(&label, m->id);
            summarise(&label, &m->resources, node_resources, CN_ARRAY_SIZE(node_resources));
            cn_buf_puts(out, "    ");
            dot_id(out, "o:", m->id);
            cn_buf_puts(out, " [shape=ellipse, style=filled, fillcolor=lightyellow, label=");
            dot_quote(out, label.s);
            cn_buf_puts(out, "];\n");
        }
        cn_buf_puts(out, "  }\n");
    }

    for (size_t i = 0; ul && i < ul->n_elements; i++) {
        const struct rdl_element *e = ul->elements[i];
        struct rdl_element *a, *b;
        if (!e->is_link || rdl_link_endpoints(e, &a, &b) < 0)
            continue;
        edge_between_hosts(out, &h, host_add(&h, a->id, a), host_add(&h, b->id, b));
        cn_buf_puts(out, "color=gray60, style=dashed, fontcolor=gray40, label=");
        dot_quote(out, e->id);
        cn_buf_puts(out, "];\n");
    }

    size_t n_links = 0;
    for (size_t i = 0; i < g->n_map; i++) {
        const struct rdl_map_entry *m = g->map[i];
        if (!m->has_path || m->path_len == 0)
            continue;
        const char *colour = palette[n_links++ % CN_ARRAY_SIZE(palette)];
        cn_buf_reset(&label);
        cn_buf_puts(&label, m->id);
        summarise(&label, &m->resources, link_resources, CN_ARRAY_SIZE(link_resources));
        if (m->vlan >= 0)
            cn_buf_printf(&label, "\nvlan %d", m->vlan);
        /* Both ends on one host: a loop on that host, so the link is still visible. */
        size_t step = m->path_len == 1 ? 0 : 2;
        for (size_t k = 0; k + step < m->path_len; k += 2) {
            edge_between_hosts(out, &h, host_add(&h, m->path[k], NULL),
                               host_add(&h, m->path[k + step], NULL));
            cn_buf_printf(out, "color=\"%s\", fontcolor=\"%s\", penwidth=2", colour, colour);
            if (k == 0) {
                cn_buf_puts(out, ", label=");
                dot_quote(out, label.s);
            }
            cn_buf_puts(out, "];\n");
        }
    }
    cn_buf_puts(out, "}\n");

    cn_buf_release(&label);
    cn_strmap_release(&h.index);
    free(h.ids);
    free(h.elements);
}

int
rdl_write_dot(const struct rdl_graph *g, const struct rdl_graph *underlay, struct cn_buf *out,
              struct cn_err *err)
{
    if (g->kind == RDL_MAPPING) {
        if (underlay && underlay->kind != RDL_UNDERLAY)
            return rdl_diag(err, underlay, (struct rdl_pos){0, 0},
                            "a mapping is drawn on an underlay, not on a%s %s",
                            underlay->kind == RDL_OVERLAY ? "n" : "",
                            rdl_kind_name(underlay->kind));
        draw_mapping(g, underlay, out);
    } else {
        draw_element_graph(g, out);
    }
    return 0;
}
