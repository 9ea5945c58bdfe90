/*
 * The canonical YAML writer. Every graph has exactly one written form, so
 * documents can be compared byte for byte, stored, diffed and hashed:
 *
 *   - top-level keys in a fixed order (rdl, kind, name, level, overlay,
 *     underlay, objective, vlan_range, elements, interfaces, map), block
 *     style, two-space indentation;
 *   - per element: type, resources, features, vlan_range, in that order;
 *     resources and features as one-line flow maps in insertion order;
 *   - elements, interfaces and map entries in insertion order;
 *   - numbers in the shortest form that reads back to the same double;
 *   - strings plain when a reader would take them back as the same string,
 *     double-quoted otherwise (numbers-lookalikes, YAML's boolean and null
 *     words, anything with punctuation YAML might interpret).
 *
 * The output is produced with plain string formatting rather than libyaml's
 * emitter because the emitter decides line breaks and quoting by itself and
 * its choices change between versions, which would break golden files.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define RDL_PRIV_H_ALLOW
#include "rdl/rdl_priv.h"
#include "rdl/write_priv.h"

/* ---- scalars ---- */

static bool
plain_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '/';
}

/*
 * Words a YAML 1.1 or 1.2 reader may turn into booleans, nulls or special
 * floats. Quoting them costs two characters and removes any doubt.
 */
static bool
reserved_word(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no",  "on",
                                        "off",  "null",  "inf", "nan", "infinity"};
    for (size_t i = 0; i < CN_ARRAY_SIZE(words); i++)
        if (strcasecmp(s, words[i]) == 0)
            return true;
    return false;
}

static bool
plain_ok(const char *s)
{
    char c = s[0];
    /* A leading digit, sign or dot could read as a number; other leading punctuation is YAML's. */
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '/'))
        return false;
    for (const char *p = s; *p; p++)
        if (!plain_char(*p))
            return false;
    return !reserved_word(s);
}

void
rdl_write_scalar(struct cn_buf *out, const char *s)
{
    if (plain_ok(s)) {
        cn_buf_puts(out, s);
        return;
    }
    cn_buf_putc(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            cn_buf_puts(out, "\\\"");
            break;
        case '\\':
            cn_buf_puts(out, "\\\\");
            break;
        case '\n':
            cn_buf_puts(out, "\\n");
            break;
        case '\t':
            cn_buf_puts(out, "\\t");
            break;
        case '\r':
            cn_buf_puts(out, "\\r");
            break;
        default:
            /* Bytes from 0x80 up are UTF-8 and pass through; YAML's \x escapes code points. */
            if (*p < 0x20 || *p == 0x7f)
                cn_buf_printf(out, "\\x%02x", *p);
            else
                cn_buf_putc(out, (char)*p);
        }
    }
    cn_buf_putc(out, '"');
}

int
rdl_write_number(struct cn_buf *out, double v)
{
    if (!isfinite(v)) {
        cn_buf_puts(out, ".nan");
        return -1;
    }
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof(tmp), "%.17g", v);
    cn_buf_puts(out, tmp);
    return 0;
}

static int
write_list_items(struct cn_buf *out, const struct rdl_value *v)
{
    int rc = 0;
    cn_buf_putc(out, '[');
    for (size_t i = 0; i < v->n_items; i++) {
        if (i)
            cn_buf_puts(out, ", ");
        if (rdl_write_value(out, v->items[i], true) < 0)
            rc = -1;
    }
    cn_buf_putc(out, ']');
    return rc;
}

int
rdl_write_value(struct cn_buf *out, const struct rdl_value *v, bool with_same_as)
{
    int rc = 0;
    const char *sep = "";
    bool same_as = with_same_as && v->same_as;

    switch (v->kind) {
    case RDL_VALUE_NUMBER:
        return rdl_write_number(out, v->num);
    case RDL_VALUE_STRING:
        rdl_write_scalar(out, v->str);
        return 0;
    case RDL_VALUE_LIST:
        if (!same_as)
            return write_list_items(out, v);
        cn_buf_puts(out, "{any_of: ");
        rc = write_list_items(out, v);
        sep = ", ";
        break;
    case RDL_VALUE_RANGE:
        cn_buf_putc(out, '{');
        if (v->has_min) {
            cn_buf_puts(out, "min: ");
            rc |= rdl_write_number(out, v->min);
            sep = ", ";
        }
        if (v->has_max) {
            cn_buf_printf(out, "%smax: ", sep);
            rc |= rdl_write_number(out, v->max);
            sep = ", ";
        }
        break;
    case RDL_VALUE_SAME_AS:
        cn_buf_putc(out, '{');
        same_as = v->same_as != NULL;
        break;
    }
    if (same_as) {
        cn_buf_printf(out, "%ssame_as: ", sep);
        rdl_write_scalar(out, v->same_as);
    }
    cn_buf_putc(out, '}');
    return rc ? -1 : 0;
}

/* ---- documents ---- */

struct writer {
    const struct rdl_graph *g;
    struct cn_buf *out;
    struct cn_err *err;
    int rc;
};

static void
put_value(struct writer *w, const struct rdl_value *v, const char *owner, const char *name)
{
    if (rdl_write_value(w->out, v, true) < 0)
        w->rc = rdl_diag(w->err, w->g, v->pos, "'%s' of '%s' is not a finite number", name, owner);
}

static void
put_props(struct writer *w, const struct rdl_props *p, const char *owner)
{
    cn_buf_putc(w->out, '{');
    for (size_t i = 0; i < p->len; i++) {
        if (i)
            cn_buf_puts(w->out, ", ");
        rdl_write_scalar(w->out, p->items[i].name);
        cn_buf_puts(w->out, ": ");
        put_value(w, p->items[i].value, owner, p->items[i].name);
    }
    cn_buf_putc(w->out, '}');
}

static void
put_number(struct writer *w, double v, const char *what)
{
    if (rdl_write_number(w->out, v) < 0)
        w->rc = rdl_diag(w->err, w->g, (struct rdl_pos){0, 0}, "%s is not a finite number", what);
}

static void
put_element(struct writer *w, const struct rdl_element *e)
{
    struct cn_buf *out = w->out;
    cn_buf_puts(out, "  ");
    rdl_write_scalar(out, e->id);
    cn_buf_puts(out, ":\n    type: ");
    rdl_write_scalar(out, e->type);
    cn_buf_putc(out, '\n');
    if (e->resources.len) {
        cn_buf_puts(out, "    resources: ");
        put_props(w, &e->resources, e->id);
        cn_buf_putc(out, '\n');
    }
    if (e->features.len) {
        cn_buf_puts(out, "    features: ");
        put_props(w, &e->features, e->id);
        cn_buf_putc(out, '\n');
    }
    if (e->has_vlan_range)
        cn_buf_printf(out, "    vlan_range: [%d, %d]\n", e->vlan_first, e->vlan_last);
}

static void
put_map_entry(struct writer *w, const struct rdl_map_entry *m)
{
    struct cn_buf *out = w->out;
    const char *sep = "";
    cn_buf_puts(out, "  ");
    rdl_write_scalar(out, m->id);
    cn_buf_puts(out, ": {");
    if (m->to) {
        cn_buf_puts(out, "to: ");
        rdl_write_scalar(out, m->to);
        sep = ", ";
    }
    if (m->has_path) {
        cn_buf_printf(out, "%spath: [", sep);
        for (size_t i = 0; i < m->path_len; i++) {
            if (i)
                cn_buf_puts(out, ", ");
            rdl_write_scalar(out, m->path[i]);
        }
        cn_buf_putc(out, ']');
        sep = ", ";
    }
    if (m->resources.len) {
        cn_buf_printf(out, "%sresources: ", sep);
        put_props(w, &m->resources, m->id);
        sep = ", ";
    }
    if (m->features.len) {
        cn_buf_printf(out, "%sfeatures: ", sep);
        put_props(w, &m->features, m->id);
        sep = ", ";
    }
    if (m->vlan >= 0)
        cn_buf_printf(out, "%svlan: %d", sep, m->vlan);
    cn_buf_puts(out, "}\n");
}

static void
put_objective(struct writer *w)
{
    const struct rdl_graph *g = w->g;
    cn_buf_puts(w->out, "objective: {name: ");
    rdl_write_scalar(w->out, g->objective_name);
    cn_buf_puts(w->out, ", value: ");
    put_number(w, g->objective_value, "objective value");
    cn_buf_puts(w->out, ", bound: ");
    put_number(w, g->objective_bound, "objective bound");
    cn_buf_puts(w->out, ", gap: ");
    put_number(w, g->objective_gap, "objective gap");
    cn_buf_puts(w->out, ", solve_ms: ");
    put_number(w, g->objective_solve_ms, "objective solve_ms");
    cn_buf_puts(w->out, "}\n");
}

int
rdl_write(const struct rdl_graph *g, struct cn_buf *out, struct cn_err *err)
{
    /* Written aside first so that out is left as it was when the graph cannot be written. */
    struct cn_buf doc = CN_BUF_INIT;
    cn_buf_init(&doc);
    struct writer w = {.g = g, .out = &doc, .err = err, .rc = 0};

    cn_buf_printf(&doc, "rdl: %d\nkind: %s\nname: ", RDL_FORMAT_VERSION, rdl_kind_name(g->kind));
    rdl_write_scalar(&doc, g->name);
    cn_buf_putc(&doc, '\n');
    /* Level 0 is the default, and stating it on every request would only add noise. */
    if (g->kind == RDL_OVERLAY && g->level != 0)
        cn_buf_printf(&doc, "level: %d\n", g->level);
    if (g->overlay) {
        cn_buf_puts(&doc, "overlay: ");
        rdl_write_scalar(&doc, g->overlay);
        cn_buf_putc(&doc, '\n');
    }
    if (g->underlay) {
        cn_buf_puts(&doc, "underlay: ");
        rdl_write_scalar(&doc, g->underlay);
        cn_buf_putc(&doc, '\n');
    }
    if (g->has_objective)
        put_objective(&w);
    if (g->has_vlan_range)
        cn_buf_printf(&doc, "vlan_range: [%d, %d]\n", g->vlan_first, g->vlan_last);

    if (g->n_elements) {
        cn_buf_puts(&doc, "elements:\n");
        for (size_t i = 0; i < g->n_elements; i++)
            put_element(&w, g->elements[i]);
    } else if (g->kind != RDL_MAPPING) {
        cn_buf_puts(&doc, "elements: {}\n");
    }
    if (g->n_ifaces) {
        cn_buf_puts(&doc, "interfaces:\n");
        for (size_t i = 0; i < g->n_ifaces; i++) {
            cn_buf_puts(&doc, "  - {between: [");
            rdl_write_scalar(&doc, g->ifaces[i].a->id);
            cn_buf_puts(&doc, ", ");
            rdl_write_scalar(&doc, g->ifaces[i].b->id);
            cn_buf_puts(&doc, "]}\n");
        }
    }
    if (g->kind == RDL_MAPPING) {
        if (g->n_map) {
            cn_buf_puts(&doc, "map:\n");
            for (size_t i = 0; i < g->n_map; i++)
                put_map_entry(&w, g->map[i]);
        } else {
            cn_buf_puts(&doc, "map: {}\n");
        }
    }

    if (w.rc == 0)
        cn_buf_add(out, doc.s, doc.len);
    cn_buf_release(&doc);
    return w.rc;
}

int
rdl_write_file(const struct rdl_graph *g, const char *path, struct cn_err *err)
{
    int ret = -1;
    int fd = -1;
    char *tmp = NULL;
    struct cn_buf doc = CN_BUF_INIT;
    cn_buf_init(&doc);

    if (rdl_write(g, &doc, err) < 0)
        goto cleanup;
    /* The temporary file sits next to the target so that rename() is atomic. */
    tmp = xasprintf("%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        cn_err_add(err, CN_E_IO, "%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto cleanup;
    }
    /* mkstemp makes the file private; a document is as readable as any other file. */
    if (fchmod(fd, 0644) < 0) {
        cn_err_add(err, CN_E_IO, "%s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    for (size_t off = 0; off < doc.len;) {
        ssize_t n = write(fd, doc.s + off, doc.len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cn_err_add(err, CN_E_IO, "%s: write: %s", path, strerror(errno));
            goto cleanup;
        }
        off += (size_t)n;
    }
    if (fsync(fd) < 0) {
        cn_err_add(err, CN_E_IO, "%s: fsync: %s", path, strerror(errno));
        goto cleanup;
    }
    int rc = close(fd);
    fd = -1;
    if (rc < 0) {
        cn_err_add(err, CN_E_IO, "%s: close: %s", path, strerror(errno));
        goto cleanup;
    }
    if (rename(tmp, path) < 0) {
        cn_err_add(err, CN_E_IO, "%s: rename: %s", path, strerror(errno));
        goto cleanup;
    }
    free(tmp);
    tmp = NULL;
    ret = 0;

cleanup:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    cn_buf_release(&doc);
    return ret;
}
