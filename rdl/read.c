/*
 * The YAML reader: turns one RDL document (schemas/rdl-format.md) into a
 * graph, or reports every problem it finds as FILE:LINE:COLUMN: message.
 *
 * It is a recursive descent over libyaml's events, building the model as it
 * goes, with no intermediate tree: memory stays proportional to the graph,
 * and nothing in a hostile document is ever expanded (aliases are refused,
 * nesting, scalar length and document size are bounded). Problems of form
 * are reported where they are seen and reading goes on; the semantic checks
 * that need the whole graph (same_as, interfaces, vagueness by kind and
 * level) run afterwards through rdl_check(), the code rdl_validate() uses.
 * A YAML syntax error or a violated limit stops reading and is reported
 * alone.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define RDL_PRIV_H_ALLOW
#include "rdl/validate_priv.h"

#define CORE_TAG "tag:yaml.org,2002:"

/*
 * Properties per map and items per list. Real elements have a handful;
 * the bound keeps the linear searches over them (here and in matching)
 * from turning quadratic on a hostile document.
 */
#define MAX_PROPS 256
#define MAX_ITEMS 256

enum halt {
    RUNNING,
    HALT_STOP,  /* too many problems: keep them, read no further */
    HALT_FATAL, /* syntax error or limit: report that problem alone */
};

/* Top-level keys, in the order the format reference lists them. */
enum top_key {
    K_RDL,
    K_KIND,
    K_NAME,
    K_LEVEL,
    K_VLAN_RANGE,
    K_ELEMENTS,
    K_INTERFACES,
    K_OVERLAY,
    K_UNDERLAY,
    K_OBJECTIVE,
    K_MAP,
    K_COUNT,
};

static const char *const top_key_names[K_COUNT] = {
    [K_RDL] = "rdl",
    [K_KIND] = "kind",
    [K_NAME] = "name",
    [K_LEVEL] = "level",
    [K_VLAN_RANGE] = "vlan_range",
    [K_ELEMENTS] = "elements",
    [K_INTERFACES] = "interfaces",
    [K_OVERLAY] = "overlay",
    [K_UNDERLAY] = "underlay",
    [K_OBJECTIVE] = "objective",
    [K_MAP] = "map",
};

#define BIT(k) (1u << (k))
#define COMMON_KEYS (BIT(K_RDL) | BIT(K_KIND) | BIT(K_NAME))
static const unsigned allowed_keys[] = {
    [RDL_UNDERLAY] = COMMON_KEYS | BIT(K_VLAN_RANGE) | BIT(K_ELEMENTS) | BIT(K_INTERFACES),
    [RDL_OVERLAY] = COMMON_KEYS | BIT(K_LEVEL) | BIT(K_ELEMENTS) | BIT(K_INTERFACES),
    [RDL_MAPPING] = COMMON_KEYS | BIT(K_OVERLAY) | BIT(K_UNDERLAY) | BIT(K_OBJECTIVE) | BIT(K_MAP),
};
static const unsigned required_keys[] = {
    [RDL_UNDERLAY] = COMMON_KEYS | BIT(K_ELEMENTS),
    [RDL_OVERLAY] = COMMON_KEYS | BIT(K_ELEMENTS),
    [RDL_MAPPING] = COMMON_KEYS | BIT(K_OVERLAY) | BIT(K_UNDERLAY) | BIT(K_MAP),
};

/* A mapping key, copied out of its event (keys are short; the limit bounds them). */
struct key {
    char text[RDL_MAX_SCALAR_LEN + 1];
    struct rdl_pos pos;
};

/* An interface waits for the end of the document: elements may follow it. */
struct pending_iface {
    char *a, *b;
    struct rdl_pos pos, pos_a, pos_b;
};

struct reader {
    yaml_parser_t parser;
    yaml_event_t ev; /* the current event, valid when have_ev */
    bool have_ev;
    int depth;
    bool seen_document;
    enum halt halt;

    struct rdl_graph *g;
    struct cn_err diags; /* problems found so far, in the order found */

    /* Input: a string (data) or a file (f), for sizes and error positions. */
    const char *data;
    size_t len;
    FILE *f;
    size_t nread;
    bool too_big;
    int read_errno;

    /* Top level. */
    struct rdl_pos top_pos;
    unsigned seen_keys;
    struct rdl_pos key_pos[K_COUNT];
    bool kind_known;

    struct rdl_where where;
    struct rdl_pos *elem_vlan, *entry_vlan;
    size_t cap_elem_vlan, cap_entry_vlan;
    struct cn_strmap quiet;
    char **quiet_ids;
    size_t n_quiet, cap_quiet;
    struct pending_iface *ifaces;
    size_t n_ifaces, cap_ifaces;
};

/* ---- problems ---- */

static void problem(struct reader *r, struct rdl_pos pos, const char *fmt, ...) CN_PRINTF(3, 4);

static void
problem(struct reader *r, struct rdl_pos pos, const char *fmt, ...)
{
    if (r->halt != RUNNING)
        return;
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    cn_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    rdl_diag(&r->diags, r->g, pos, "%s", b.s);
    cn_buf_release(&b);
    /* One past the limit, so that the report says problems were left out. */
    if (r->diags.count > RDL_MAX_PROBLEMS)
        r->halt = HALT_STOP;
}

static void fatal(struct reader *r, struct rdl_pos pos, int code, const char *fmt, ...)
    CN_PRINTF(4, 5);

static void
fatal(struct reader *r, struct rdl_pos pos, int code, const char *fmt, ...)
{
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    cn_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cn_err_clear(&r->diags);
    rdl_diag(&r->diags, r->g, pos, "%s", b.s);
    r->diags.code = code;
    cn_buf_release(&b);
    r->halt = HALT_FATAL;
}

static struct rdl_pos
mark_pos(yaml_mark_t m)
{
    return (struct rdl_pos){(int)m.line + 1, (int)m.column + 1};
}

static struct rdl_pos
ev_pos(const struct reader *r)
{
    return mark_pos(r->ev.start_mark);
}

/*
 * libyaml gives a byte offset, not a line, for encoding errors: count lines
 * and characters up to it (in the string, or by reading the file again).
 */
struct pos_counter {
    int line, col;
    bool after_cr;
};

static void
count_bytes(struct pos_counter *pc, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '\n') {
            if (!pc->after_cr)
                pc->line++;
            pc->col = 1;
        } else if (c == '\r') {
            pc->line++;
            pc->col = 1;
        } else if ((c & 0xC0) != 0x80) {
            pc->col++;
        }
        pc->after_cr = c == '\r';
    }
}

static struct rdl_pos
offset_pos(struct reader *r, size_t offset)
{
    struct pos_counter pc = {1, 1, false};
    if (r->data) {
        count_bytes(&pc, (const unsigned char *)r->data, offset < r->len ? offset : r->len);
    } else if (r->f && fseek(r->f, 0, SEEK_SET) == 0) {
        unsigned char chunk[65536];
        while (offset > 0) {
            size_t n = fread(chunk, 1, offset < sizeof(chunk) ? offset : sizeof(chunk), r->f);
            if (n == 0)
                break;
            count_bytes(&pc, chunk, n);
            offset -= n;
        }
    }
    return (struct rdl_pos){pc.line, pc.col};
}

static void
syntax_error(struct reader *r)
{
    const yaml_parser_t *p = &r->parser;
    struct rdl_pos none = {0, 0};
    if (r->too_big) {
        fatal(r, none, CN_E_LIMIT, "document larger than %u bytes", RDL_MAX_DOCUMENT_BYTES);
        return;
    }
    if (r->read_errno) {
        fatal(r, none, CN_E_IO, "%s", strerror(r->read_errno));
        return;
    }
    const char *what = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_MEMORY_ERROR) {
        fatal(r, none, CN_E_INTERNAL, "out of memory");
    } else if (p->error == YAML_READER_ERROR) {
        struct rdl_pos pos = offset_pos(r, p->problem_offset);
        if (p->problem_value != -1)
            fatal(r, pos, CN_E_INVALID, "%s (byte 0x%02X)", what, (unsigned)p->problem_value);
        else
            fatal(r, pos, CN_E_INVALID, "%s", what);
    } else if (p->context) {
        struct rdl_pos ctx = mark_pos(p->context_mark);
        fatal(r, mark_pos(p->problem_mark), CN_E_INVALID, "%s (%s that started at %d:%d)", what,
              p->context, ctx.line, ctx.col);
    } else {
        fatal(r, mark_pos(p->problem_mark), CN_E_INVALID, "%s", what);
    }
}

/* ---- events ---- */

static const char *
ev_text(const struct reader *r)
{
    return (const char *)r->ev.data.scalar.value;
}

static size_t
ev_len(const struct reader *r)
{
    return r->ev.data.scalar.length;
}

/* Shows a core tag the short way it is usually written. */
static const char *
short_tag(const char *tag, char *buf, size_t size)
{
    if (cn_startswith(tag, CORE_TAG))
        snprintf(buf, size, "!!%.64s", tag + strlen(CORE_TAG));
    else
        snprintf(buf, size, "%.64s", tag);
    return buf;
}

static bool
tag_allowed(const char *tag, yaml_event_type_t type)
{
    if (!tag || strcmp(tag, "!") == 0)
        return true;
    if (!cn_startswith(tag, CORE_TAG))
        return false;
    const char *t = tag + strlen(CORE_TAG);
    switch (type) {
    case YAML_SCALAR_EVENT:
        return strcmp(t, "str") == 0 || strcmp(t, "int") == 0 || strcmp(t, "float") == 0 ||
               strcmp(t, "bool") == 0 || strcmp(t, "null") == 0;
    case YAML_SEQUENCE_START_EVENT:
        return strcmp(t, "seq") == 0;
    case YAML_MAPPING_START_EVENT:
        return strcmp(t, "map") == 0;
    default:
        return false;
    }
}

/*
 * Moves to the next event and refuses what the format does not allow
 * anywhere: aliases and anchors, foreign tags, deep nesting, long scalars,
 * a second document. Returns -1 once reading has halted.
 */
static int
next(struct reader *r)
{
    if (r->halt != RUNNING)
        return -1;
    if (r->have_ev) {
        yaml_event_delete(&r->ev);
        r->have_ev = false;
    }
    if (!yaml_parser_parse(&r->parser, &r->ev)) {
        syntax_error(r);
        return -1;
    }
    r->have_ev = true;
    const char *anchor = NULL, *tag = NULL;
    char buf[80];
    switch (r->ev.type) {
    case YAML_ALIAS_EVENT:
        fatal(r, ev_pos(r), CN_E_INVALID, "anchors and aliases are not supported");
        return -1;
    case YAML_SCALAR_EVENT:
        anchor = (const char *)r->ev.data.scalar.anchor;
        tag = (const char *)r->ev.data.scalar.tag;
        if (ev_len(r) > RDL_MAX_SCALAR_LEN) {
            fatal(r, ev_pos(r), CN_E_LIMIT, "value longer than %d bytes", RDL_MAX_SCALAR_LEN);
            return -1;
        }
        /* Everything downstream is C strings: a NUL would silently cut the value. */
        if (memchr(ev_text(r), '\0', ev_len(r))) {
            fatal(r, ev_pos(r), CN_E_INVALID, "NUL character in a value");
            return -1;
        }
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (r->ev.type == YAML_SEQUENCE_START_EVENT) {
            anchor = (const char *)r->ev.data.sequence_start.anchor;
            tag = (const char *)r->ev.data.sequence_start.tag;
        } else {
            anchor = (const char *)r->ev.data.mapping_start.anchor;
            tag = (const char *)r->ev.data.mapping_start.tag;
        }
        if (++r->depth > RDL_MAX_DEPTH) {
            fatal(r, ev_pos(r), CN_E_LIMIT, "nesting deeper than %d levels", RDL_MAX_DEPTH);
            return -1;
        }
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        r->depth--;
        break;
    case YAML_DOCUMENT_START_EVENT:
        if (r->seen_document) {
            fatal(r, ev_pos(r), CN_E_INVALID, "more than one document");
            return -1;
        }
        r->seen_document = true;
        break;
    default:
        break;
    }
    if (anchor) {
        fatal(r, ev_pos(r), CN_E_INVALID, "anchors and aliases are not supported");
        return -1;
    }
    if (!tag_allowed(tag, r->ev.type)) {
        fatal(r, ev_pos(r), CN_E_INVALID, "unsupported tag '%s'", short_tag(tag, buf, sizeof(buf)));
        return -1;
    }
    return 0;
}

/* Consumes the current node, whatever it is. */
static int
skip(struct reader *r)
{
    int level = 0;
    do {
        if (r->ev.type == YAML_SEQUENCE_START_EVENT || r->ev.type == YAML_MAPPING_START_EVENT)
            level++;
        else if (r->ev.type == YAML_SEQUENCE_END_EVENT || r->ev.type == YAML_MAPPING_END_EVENT)
            level--;
        if (next(r) < 0)
            return -1;
    } while (level > 0);
    return 0;
}

static const char *
node_noun(const struct reader *r)
{
    switch (r->ev.type) {
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_MAPPING_START_EVENT:
        return "a map";
    default:
        return "a single value";
    }
}

/*
 * Enters a map. 1: entered, the current event is its first key (or its
 * end); 0: not a map (reported, skipped); -1: halted.
 */
static int
map_enter(struct reader *r, const char *what_fmt, const char *what_arg)
{
    if (r->ev.type != YAML_MAPPING_START_EVENT) {
        char what[RDL_MAX_SCALAR_LEN + 64];
        snprintf(what, sizeof(what), what_fmt, what_arg);
        problem(r, ev_pos(r), "%s must be a map, not %s", what, node_noun(r));
        return skip(r) < 0 ? -1 : 0;
    }
    return next(r) < 0 ? -1 : 1;
}

/*
 * The next key of the map being read. 1: *k is filled and the current
 * event is its value; 0: the map ended (consumed); -1: halted.
 */
static int
map_key(struct reader *r, struct key *k)
{
    for (;;) {
        if (r->ev.type == YAML_MAPPING_END_EVENT)
            return next(r) < 0 ? -1 : 0;
        if (r->ev.type == YAML_SCALAR_EVENT) {
            memcpy(k->text, ev_text(r), ev_len(r));
            k->text[ev_len(r)] = '\0';
            k->pos = ev_pos(r);
            return next(r) < 0 ? -1 : 1;
        }
        problem(r, ev_pos(r), "a key must be a single value, not %s", node_noun(r));
        if (skip(r) < 0 || skip(r) < 0)
            return -1;
    }
}

/* Finds key in names[0..n); reports an unknown or repeated key and skips its value. */
static int
key_index(struct reader *r, const struct key *k, const char *const *names, int n, unsigned *seen)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(k->text, names[i]) != 0)
            continue;
        if (*seen & BIT(i)) {
            problem(r, k->pos, "duplicate key '%.64s'", k->text);
            return skip(r) < 0 ? -2 : -1;
        }
        *seen |= BIT(i);
        return i;
    }
    problem(r, k->pos, "unknown key '%.64s'", k->text);
    return skip(r) < 0 ? -2 : -1;
}

/* ---- scalars ---- */

enum sclass {
    S_NULL,
    S_NUMBER,
    S_TEXT,
    S_BAD, /* tagged !!int or !!float but not a number */
};

/* -?digits(.digits)?([eE][+-]?digits)? : YAML's other number spellings stay strings. */
static bool
looks_numeric(const char *s, size_t n, bool *ret_integer)
{
    size_t i = 0, d;
    if (i < n && s[i] == '-')
        i++;
    for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        ;
    if (i == d)
        return false;
    *ret_integer = true;
    if (i < n && s[i] == '.') {
        *ret_integer = false;
        for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            ;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *ret_integer = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            ;
        if (i == d)
            return false;
    }
    return i == n;
}

static bool
is_null_word(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 &&
            (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 || memcmp(s, "NULL", 4) == 0));
}

static enum sclass
classify(const struct reader *r, bool *ret_integer)
{
    const char *s = ev_text(r);
    size_t n = ev_len(r);
    const char *tag = (const char *)r->ev.data.scalar.tag;
    bool integer = false;
    enum sclass c = S_TEXT;
    if (tag && cn_startswith(tag, CORE_TAG)) {
        const char *t = tag + strlen(CORE_TAG);
        if (strcmp(t, "null") == 0)
            c = S_NULL;
        else if (strcmp(t, "int") == 0 || strcmp(t, "float") == 0)
            c = looks_numeric(s, n, &integer) ? S_NUMBER : S_BAD;
    } else if (!tag && r->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (is_null_word(s, n))
            c = S_NULL;
        else if (looks_numeric(s, n, &integer))
            c = S_NUMBER;
    }
    if (ret_integer)
        *ret_integer = integer;
    return c;
}

/*
 * Checks that the current event is a usable scalar. 1: yes (not consumed);
 * 0: no (reported and skipped); -1: halted.
 */
static int
expect_scalar(struct reader *r, enum sclass *ret_class, bool *ret_integer)
{
    if (r->ev.type != YAML_SCALAR_EVENT) {
        problem(r, ev_pos(r), "expected a single value, not %s", node_noun(r));
        return skip(r) < 0 ? -1 : 0;
    }
    enum sclass c = classify(r, ret_integer);
    if (c == S_NULL) {
        problem(r, ev_pos(r), "missing value");
        return next(r) < 0 ? -1 : 0;
    }
    if (c == S_BAD) {
        problem(r, ev_pos(r), "'%.64s' is not a number", ev_text(r));
        return next(r) < 0 ? -1 : 0;
    }
    *ret_class = c;
    return 1;
}

/* Reads a value as text (names, ids, types). 1: *ret (caller frees); 0: reported; -1: halted. */
static int
read_text(struct reader *r, char **ret, struct rdl_pos *ret_pos)
{
    enum sclass c;
    *ret_pos = ev_pos(r);
    int rc = expect_scalar(r, &c, NULL);
    if (rc <= 0)
        return rc;
    char *s = xstrndup(ev_text(r), ev_len(r));
    if (next(r) < 0) {
        free(s);
        return -1;
    }
    *ret = s;
    return 1;
}

static int
read_number(struct reader *r, double *ret, struct rdl_pos *ret_pos)
{
    enum sclass c;
    *ret_pos = ev_pos(r);
    int rc = expect_scalar(r, &c, NULL);
    if (rc <= 0)
        return rc;
    if (c != S_NUMBER) {
        problem(r, ev_pos(r), "expected a number, not '%.64s'", ev_text(r));
        return next(r) < 0 ? -1 : 0;
    }
    double v = strtod(ev_text(r), NULL);
    if (!isfinite(v)) {
        problem(r, ev_pos(r), "number '%.64s' is out of range", ev_text(r));
        return next(r) < 0 ? -1 : 0;
    }
    *ret = v;
    return next(r) < 0 ? -1 : 1;
}

/* Integers beyond what any field allows are clamped; the checks reject them. */
static int
read_int(struct reader *r, long *ret, struct rdl_pos *ret_pos)
{
    enum sclass c;
    bool integer;
    *ret_pos = ev_pos(r);
    int rc = expect_scalar(r, &c, &integer);
    if (rc <= 0)
        return rc;
    if (c != S_NUMBER || !integer) {
        problem(r, ev_pos(r), "expected an integer, not '%.64s'", ev_text(r));
        return next(r) < 0 ? -1 : 0;
    }
    long v = strtol(ev_text(r), NULL, 10);
    if (v > 1000000)
        v = 1000000;
    if (v < -1000000)
        v = -1000000;
    *ret = v;
    return next(r) < 0 ? -1 : 1;
}

/* ---- values ---- */

/* A definite value from a scalar, or NULL (reported). Consumes the event. */
static struct rdl_value *
scalar_value(struct reader *r, int *ret_rc)
{
    enum sclass c;
    struct rdl_pos pos = ev_pos(r);
    int rc = expect_scalar(r, &c, NULL);
    *ret_rc = rc;
    if (rc <= 0)
        return NULL;
    struct rdl_value *v = NULL;
    if (c == S_NUMBER) {
        double num = strtod(ev_text(r), NULL);
        if (isfinite(num))
            v = rdl_value_new_number(num);
        else
            problem(r, pos, "number '%.64s' is out of range", ev_text(r));
    } else {
        v = rdl_value_new_string(ev_text(r));
    }
    if (v)
        v->pos = pos;
    if (next(r) < 0) {
        rdl_value_free(v);
        *ret_rc = -1;
        return NULL;
    }
    *ret_rc = v ? 1 : 0;
    return v;
}

/* A list of numbers and strings from a sequence; NULL when any item was bad. */
static struct rdl_value *
list_value(struct reader *r, int *ret_rc)
{
    struct rdl_value *list = rdl_value_new_list();
    list->pos = ev_pos(r);
    bool ok = true;
    *ret_rc = -1;
    if (next(r) < 0)
        goto fail;
    while (r->ev.type != YAML_SEQUENCE_END_EVENT) {
        if (r->ev.type != YAML_SCALAR_EVENT) {
            problem(r, ev_pos(r), "a list holds only numbers and strings");
            ok = false;
            if (skip(r) < 0)
                goto fail;
            continue;
        }
        if (list->n_items >= MAX_ITEMS) {
            fatal(r, ev_pos(r), CN_E_LIMIT, "list longer than %d items", MAX_ITEMS);
            goto fail;
        }
        int rc;
        struct rdl_value *item = scalar_value(r, &rc);
        if (rc < 0)
            goto fail;
        if (item)
            rdl_value_list_append(list, item);
        else
            ok = false;
    }
    if (next(r) < 0)
        goto fail;
    *ret_rc = ok ? 1 : 0;
    if (ok) {
        if (list->cap_items > list->n_items && list->n_items > 0) {
            list->items = xrealloc(list->items, list->n_items * sizeof(*list->items));
            list->cap_items = list->n_items;
        }
        return list;
    }
fail:
    rdl_value_free(list);
    return NULL;
}

static const char *const value_keys[] = {"min", "max", "same_as", "any_of"};

/* {min, max, same_as, any_of}: a range, a pure same_as, or a list with a constraint. */
static struct rdl_value *
map_value(struct reader *r, int *ret_rc)
{
    struct rdl_pos pos = ev_pos(r);
    struct rdl_value *list = NULL, *v = NULL;
    double min = 0, max = 0;
    char *same_as = NULL;
    unsigned seen = 0;
    bool ok = true, any_key = false;
    struct key k;
    int rc;
    *ret_rc = -1;
    if (next(r) < 0)
        goto cleanup;
    while ((rc = map_key(r, &k)) > 0) {
        any_key = true;
        int i = key_index(r, &k, value_keys, 4, &seen);
        if (i == -2)
            goto cleanup;
        if (i == -1) {
            ok = false;
            continue;
        }
        struct rdl_pos vpos;
        switch (i) {
        case 0:
        case 1:
            rc = read_number(r, i == 0 ? &min : &max, &vpos);
            break;
        case 2:
            rc = read_text(r, &same_as, &vpos);
            if (rc > 0 && !rdl_id_valid(same_as)) {
                problem(r, vpos, "malformed element id '%.64s'", same_as);
                rc = 0;
            }
            break;
        default:
            if (r->ev.type != YAML_SEQUENCE_START_EVENT) {
                problem(r, ev_pos(r), "'any_of' must be a list, not %s", node_noun(r));
                rc = skip(r) < 0 ? -1 : 0;
            } else {
                list = list_value(r, &rc);
            }
            break;
        }
        if (rc < 0)
            goto cleanup;
        if (rc == 0)
            ok = false;
    }
    if (rc < 0)
        goto cleanup;
    *ret_rc = 0;
    if (!any_key)
        problem(r, pos, "empty map: a value map holds min, max, same_as or any_of");
    if (!seen)
        goto cleanup;
    if ((seen & (BIT(0) | BIT(1))) && (seen & BIT(3))) {
        problem(r, pos, "'any_of' cannot be combined with 'min' or 'max'");
        goto cleanup;
    }
    if (!ok)
        goto cleanup;
    if (seen & BIT(3)) {
        v = list;
        list = NULL;
    } else if (seen & (BIT(0) | BIT(1))) {
        v = rdl_value_new_range(seen & BIT(0), min, seen & BIT(1), max);
    } else {
        v = rdl_value_new_same_as(same_as);
    }
    if (same_as && v->kind != RDL_VALUE_SAME_AS)
        rdl_value_set_same_as(v, same_as);
    v->pos = pos;
    *ret_rc = 1;
cleanup:
    rdl_value_free(list);
    free(same_as);
    return v;
}

/* Any value; NULL with *ret_rc 0 (reported) or -1 (halted). */
static struct rdl_value *
read_value(struct reader *r, int *ret_rc)
{
    switch (r->ev.type) {
    case YAML_SEQUENCE_START_EVENT:
        return list_value(r, ret_rc);
    case YAML_MAPPING_START_EVENT:
        return map_value(r, ret_rc);
    default:
        return scalar_value(r, ret_rc);
    }
}

/*
 * Arrays grow by doubling from eight slots; what was read will rarely grow
 * again, so give back the unused tail (a large graph is mostly these).
 */
static void
props_shrink(struct rdl_props *p)
{
    if (p->cap > p->len && p->len > 0) {
        p->items = xrealloc(p->items, p->len * sizeof(*p->items));
        p->cap = p->len;
    }
}

/* resources: or features: — a map of names to values. */
static int
read_props(struct reader *r, struct rdl_props *p, const char *what)
{
    int rc = map_enter(r, "'%s'", what);
    if (rc <= 0)
        return rc;
    struct key k;
    while ((rc = map_key(r, &k)) > 0) {
        if (!rdl_id_valid(k.text)) {
            problem(r, k.pos, "malformed name '%.64s'", k.text);
            if (skip(r) < 0)
                return -1;
            continue;
        }
        if (p->len >= MAX_PROPS) {
            fatal(r, k.pos, CN_E_LIMIT, "more than %d %s", MAX_PROPS, what);
            return -1;
        }
        if (rdl_props_get(p, k.text)) {
            problem(r, k.pos, "duplicate key '%s'", k.text);
            if (skip(r) < 0)
                return -1;
            continue;
        }
        struct rdl_value *v = read_value(r, &rc);
        if (rc < 0)
            return -1;
        if (v)
            rdl_props_set(p, k.text, v);
    }
    props_shrink(p);
    return rc;
}

/* vlan_range: [first, last] */
static int
read_vlan_range(struct reader *r, int *ret_first, int *ret_last, struct rdl_pos *ret_pos)
{
    *ret_pos = ev_pos(r);
    if (r->ev.type != YAML_SEQUENCE_START_EVENT) {
        problem(r, ev_pos(r), "vlan_range must be a list [first, last]");
        return skip(r) < 0 ? -1 : 0;
    }
    long v[2] = {0, 0};
    size_t n = 0;
    bool ok = true;
    if (next(r) < 0)
        return -1;
    while (r->ev.type != YAML_SEQUENCE_END_EVENT) {
        struct rdl_pos pos;
        long x;
        int rc = read_int(r, &x, &pos);
        if (rc < 0)
            return -1;
        if (rc == 0)
            ok = false;
        else if (n < 2)
            v[n] = x;
        n++;
    }
    if (next(r) < 0)
        return -1;
    if (ok && n != 2)
        problem(r, *ret_pos, "vlan_range must be a list [first, last]");
    if (!ok || n != 2)
        return 0;
    *ret_first = (int)v[0];
    *ret_last = (int)v[1];
    return 1;
}

/* ---- elements ---- */

static void
quiet_add(struct reader *r, const char *id)
{
    if (cn_strmap_get(&r->quiet, id))
        return;
    CN_GROW(r->quiet_ids, r->cap_quiet, r->n_quiet + 1);
    r->quiet_ids[r->n_quiet] = xstrdup(id);
    cn_strmap_put(&r->quiet, r->quiet_ids[r->n_quiet], r->quiet_ids[r->n_quiet]);
    r->n_quiet++;
}

/* Stores a position in a per-index side table, growing it with zeroes. */
static void
where_set(struct rdl_pos **arr, size_t *cap, size_t *n, size_t idx, struct rdl_pos pos)
{
    if (idx >= *n) {
        CN_GROW(*arr, *cap, idx + 1);
        memset(*arr + *n, 0, (idx + 1 - *n) * sizeof(**arr));
        *n = idx + 1;
    }
    (*arr)[idx] = pos;
}

static const char *const element_keys[] = {"type", "resources", "features", "vlan_range"};

static int
read_element(struct reader *r, const struct key *id)
{
    struct rdl_graph *g = r->g;
    bool ok = true;
    if (!rdl_id_valid(id->text)) {
        problem(r, id->pos, "malformed element id '%.64s'", id->text);
        ok = false;
    } else if (r->quiet.len && cn_strmap_get(&r->quiet, id->text)) {
        /* A refused element of that name came before. */
        problem(r, id->pos, "element '%s' defined twice", id->text);
        ok = false;
    }
    struct rdl_props res = {NULL, 0, 0}, feat = {NULL, 0, 0};
    char *type = NULL;
    int vlan_first = 0, vlan_last = 0;
    struct rdl_pos vlan_pos = {0, 0};
    unsigned seen = 0;
    int ret = -1;
    int rc = map_enter(r, "element '%.64s'", id->text);
    if (rc < 0)
        goto cleanup;
    if (rc == 0) {
        ok = false;
    } else {
        struct key k;
        while ((rc = map_key(r, &k)) > 0) {
            int i = key_index(r, &k, element_keys, 4, &seen);
            if (i == -2)
                goto cleanup;
            struct rdl_pos pos;
            switch (i) {
            case -1:
                rc = 1;
                break;
            case 0:
                rc = read_text(r, &type, &pos);
                if (rc > 0 && !rdl_type_valid(type)) {
                    problem(r, pos, "malformed type '%.64s'", type);
                    rc = 0;
                }
                break;
            case 1:
                rc = read_props(r, &res, "resources");
                break;
            case 2:
                rc = read_props(r, &feat, "features");
                break;
            default:
                rc = read_vlan_range(r, &vlan_first, &vlan_last, &vlan_pos);
                if (rc == 0)
                    vlan_pos.line = 0;
                break;
            }
            if (rc < 0)
                goto cleanup;
            if (i == 0 && rc == 0)
                ok = false;
        }
        if (rc < 0)
            goto cleanup;
        if (!(seen & BIT(0))) {
            problem(r, id->pos, "element '%.64s' has no type", id->text);
            ok = false;
        }
    }
    ret = 0;
    if (!ok) {
        /* Already reported: references to it would only repeat the news. */
        quiet_add(r, id->text);
        goto cleanup;
    }
    /* Id and type are well-formed, so only a repeated id makes this fail. */
    struct rdl_element *e = rdl_graph_add_element(g, id->text, type, NULL);
    if (!e) {
        problem(r, id->pos, "element '%s' defined twice", id->text);
        goto cleanup;
    }
    e->pos = id->pos;
    e->resources = res;
    e->features = feat;
    memset(&res, 0, sizeof(res));
    memset(&feat, 0, sizeof(feat));
    if (vlan_pos.line > 0) {
        rdl_element_set_vlan_range(e, vlan_first, vlan_last);
        where_set(&r->elem_vlan, &r->cap_elem_vlan, &r->where.n_elem_vlan, g->n_elements - 1,
                  vlan_pos);
    }
cleanup:
    free(type);
    rdl_props_release(&res);
    rdl_props_release(&feat);
    return ret;
}

static int
read_elements(struct reader *r)
{
    int rc = map_enter(r, "%s", "'elements'");
    if (rc <= 0)
        return rc;
    struct key k;
    while ((rc = map_key(r, &k)) > 0)
        if (read_element(r, &k) < 0)
            return -1;
    return rc;
}

/* ---- interfaces ---- */

static void join_interface(struct reader *r, const struct pending_iface *f, struct rdl_element *a,
                           struct rdl_element *b);

static int
read_interface(struct reader *r)
{
    struct rdl_pos pos = ev_pos(r);
    int rc = map_enter(r, "%s", "an interface");
    if (rc <= 0)
        return rc;
    static const char *const keys[] = {"between"};
    unsigned seen = 0;
    char *ids[2] = {NULL, NULL};
    struct rdl_pos id_pos[2];
    bool ok = true;
    size_t n = 0;
    struct key k;
    while ((rc = map_key(r, &k)) > 0) {
        int i = key_index(r, &k, keys, 1, &seen);
        if (i == -2)
            goto fail;
        if (i == -1)
            continue;
        struct rdl_pos bpos = ev_pos(r);
        if (r->ev.type != YAML_SEQUENCE_START_EVENT) {
            problem(r, bpos, "'between' must list two elements, not %s", node_noun(r));
            ok = false;
            if (skip(r) < 0)
                goto fail;
            continue;
        }
        if (next(r) < 0)
            goto fail;
        while (r->ev.type != YAML_SEQUENCE_END_EVENT) {
            char *id = NULL;
            struct rdl_pos ipos;
            rc = read_text(r, &id, &ipos);
            if (rc < 0)
                goto fail;
            if (rc == 0)
                ok = false;
            if (rc > 0 && n < 2) {
                ids[n] = id;
                id_pos[n] = ipos;
            } else {
                free(id);
            }
            n++;
        }
        if (next(r) < 0)
            goto fail;
        if (n != 2) {
            problem(r, bpos, "'between' must list exactly two elements, not %zu", n);
            ok = false;
        }
    }
    if (rc < 0)
        goto fail;
    if (!seen) {
        problem(r, pos, "an interface needs 'between'");
        ok = false;
    }
    if (ok) {
        struct pending_iface f = {ids[0], ids[1], pos, id_pos[0], id_pos[1]};
        /*
         * Interfaces usually follow the elements: join them at once rather
         * than hold them all. Once one has to wait, the rest wait too, so
         * that the graph keeps the document's order.
         */
        struct rdl_element *a = r->n_ifaces ? NULL : rdl_graph_element(r->g, f.a);
        struct rdl_element *b = a ? rdl_graph_element(r->g, f.b) : NULL;
        if (a && b) {
            join_interface(r, &f, a, b);
            free(ids[0]);
            free(ids[1]);
            return 0;
        }
        CN_GROW(r->ifaces, r->cap_ifaces, r->n_ifaces + 1);
        r->ifaces[r->n_ifaces++] = f;
        return 0;
    }
    /* Its links would otherwise be reported as missing this interface. */
    for (int i = 0; i < 2; i++)
        if (ids[i])
            quiet_add(r, ids[i]);
    free(ids[0]);
    free(ids[1]);
    return 0;
fail:
    free(ids[0]);
    free(ids[1]);
    return -1;
}

static int
read_interfaces(struct reader *r)
{
    if (r->ev.type != YAML_SEQUENCE_START_EVENT) {
        problem(r, ev_pos(r), "'interfaces' must be a list, not %s", node_noun(r));
        return skip(r) < 0 ? -1 : 0;
    }
    if (next(r) < 0)
        return -1;
    while (r->ev.type != YAML_SEQUENCE_END_EVENT)
        if (read_interface(r) < 0)
            return -1;
    return next(r) < 0 ? -1 : 1;
}

/*
 * Whether a -- b was joined already. Neighbour lists follow interface order,
 * so the k-th occurrence of b among a's neighbours is the k-th interface
 * between them; scan the shorter list (a link's has two entries).
 */
static bool
listed(const struct rdl_graph *g, const struct rdl_element *a, const struct rdl_element *b)
{
    const struct rdl_element *x = a->n_nbrs <= b->n_nbrs ? a : b;
    const struct rdl_element *y = x == a ? b : a;
    size_t k = 0;
    for (size_t i = 0; i < x->n_nbrs; i++)
        if (x->nbrs[i] == y)
            k++;
    if (k == 0)
        return false;
    /* Rare: the pair is joined already; find out in which order. */
    for (size_t i = 0; i < g->n_ifaces; i++)
        if (g->ifaces[i].a == a && g->ifaces[i].b == b)
            return true;
    return false;
}

/* Adds one interface between a and b (looked up from f, NULL if unknown), or reports why not. */
static void
join_interface(struct reader *r, const struct pending_iface *f, struct rdl_element *a,
               struct rdl_element *b)
{
    struct rdl_graph *g = r->g;
    if (!a && !cn_strmap_get(&r->quiet, f->a))
        problem(r, f->pos_a, "interface names unknown element '%.64s'", f->a);
    if (!b && !cn_strmap_get(&r->quiet, f->b))
        problem(r, f->pos_b, "interface names unknown element '%.64s'", f->b);
    if (!a || !b) {
        /* The link lost an interface for a reason already given. */
        if (a)
            quiet_add(r, a->id);
        if (b)
            quiet_add(r, b->id);
        return;
    }
    /*
     * The same pair in the same order is a repetition; reversed, it is a
     * second interface, which the link checks report as joining a node to
     * itself.
     */
    if (listed(g, a, b)) {
        problem(r, f->pos, "interface between '%s' and '%s' listed twice", a->id, b->id);
        return;
    }
    rdl_graph_add_interface(g, f->a, f->b, NULL);
    g->ifaces[g->n_ifaces - 1].pos = f->pos;
}

/* Joins the interfaces that named elements not known when they were read. */
static void
resolve_interfaces(struct reader *r)
{
    for (size_t i = 0; i < r->n_ifaces && r->halt == RUNNING; i++) {
        const struct pending_iface *f = &r->ifaces[i];
        join_interface(r, f, rdl_graph_element(r->g, f->a), rdl_graph_element(r->g, f->b));
    }
}

/* ---- mapping documents ---- */

static void
entry_release(struct rdl_map_entry *m)
{
    free(m->to);
    for (size_t i = 0; i < m->path_len; i++)
        free(m->path[i]);
    free(m->path);
    rdl_props_release(&m->resources);
    rdl_props_release(&m->features);
}

static int
read_path(struct reader *r, struct rdl_map_entry *m)
{
    if (r->ev.type != YAML_SEQUENCE_START_EVENT) {
        problem(r, ev_pos(r), "'path' must be a list, not %s", node_noun(r));
        return skip(r) < 0 ? -1 : 0;
    }
    m->has_path = true;
    if (next(r) < 0)
        return -1;
    while (r->ev.type != YAML_SEQUENCE_END_EVENT) {
        char *id;
        struct rdl_pos pos;
        int rc = read_text(r, &id, &pos);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        if (!rdl_id_valid(id))
            problem(r, pos, "malformed element id '%.64s'", id);
        else
            rdl_map_entry_path_append(m, id);
        free(id);
    }
    return next(r) < 0 ? -1 : 1;
}

static const char *const entry_keys[] = {"to", "path", "resources", "features", "vlan"};

static int
read_entry(struct reader *r, const struct key *id)
{
    struct rdl_graph *g = r->g;
    bool ok = true;
    if (!rdl_id_valid(id->text)) {
        problem(r, id->pos, "malformed element id '%.64s'", id->text);
        ok = false;
    } else if (rdl_mapping_get(g, id->text)) {
        problem(r, id->pos, "duplicate key '%s'", id->text);
        ok = false;
    }
    struct rdl_map_entry m;
    memset(&m, 0, sizeof(m));
    m.vlan = -1;
    struct rdl_pos vlan_pos = {0, 0};
    unsigned seen = 0;
    int ret = -1;
    int rc = map_enter(r, "entry '%.64s'", id->text);
    if (rc < 0)
        goto cleanup;
    if (rc == 0)
        ok = false;
    struct key k;
    while (rc > 0 && (rc = map_key(r, &k)) > 0) {
        int i = key_index(r, &k, entry_keys, 5, &seen);
        if (i == -2)
            goto cleanup;
        struct rdl_pos pos;
        long vlan;
        switch (i) {
        case -1:
            rc = 1;
            break;
        case 0:
            rc = read_text(r, &m.to, &pos);
            if (rc > 0 && !rdl_id_valid(m.to))
                problem(r, pos, "malformed element id '%.64s'", m.to);
            break;
        case 1:
            rc = read_path(r, &m);
            break;
        case 2:
            rc = read_props(r, &m.resources, "resources");
            break;
        case 3:
            rc = read_props(r, &m.features, "features");
            break;
        default:
            rc = read_int(r, &vlan, &vlan_pos);
            if (rc > 0)
                m.vlan = vlan >= 1 && vlan <= 4094 ? (int)vlan : 0;
            break;
        }
        if (rc < 0)
            goto cleanup;
        rc = 1;
    }
    if (rc < 0)
        goto cleanup;
    ret = 0;
    if (!ok)
        goto cleanup;
    struct rdl_map_entry *e = rdl_mapping_add(g, id->text, NULL);
    e->to = m.to;
    e->path = m.path;
    e->path_len = m.path_len;
    e->path_cap = m.path_cap;
    e->has_path = m.has_path;
    e->resources = m.resources;
    e->features = m.features;
    e->vlan = m.vlan;
    e->pos = id->pos;
    memset(&m, 0, sizeof(m));
    if (vlan_pos.line > 0)
        where_set(&r->entry_vlan, &r->cap_entry_vlan, &r->where.n_entry_vlan, g->n_map - 1,
                  vlan_pos);
cleanup:
    entry_release(&m);
    return ret;
}

static int
read_map(struct reader *r)
{
    int rc = map_enter(r, "%s", "'map'");
    if (rc <= 0)
        return rc;
    struct key k;
    while ((rc = map_key(r, &k)) > 0)
        if (read_entry(r, &k) < 0)
            return -1;
    return rc;
}

static const char *const objective_keys[] = {"name", "value", "bound", "gap", "solve_ms"};

static int
read_objective(struct reader *r)
{
    struct rdl_pos pos = ev_pos(r);
    int rc = map_enter(r, "%s", "'objective'");
    if (rc <= 0)
        return rc;
    struct rdl_objective o = {NULL, 0, 0, 0, 0};
    char *name = NULL;
    unsigned seen = 0;
    struct key k;
    while ((rc = map_key(r, &k)) > 0) {
        int i = key_index(r, &k, objective_keys, 5, &seen);
        if (i == -2)
            goto fail;
        if (i == -1)
            continue;
        struct rdl_pos vpos;
        double *num[] = {NULL, &o.value, &o.bound, &o.gap, &o.solve_ms};
        rc = i == 0 ? read_text(r, &name, &vpos) : read_number(r, num[i], &vpos);
        if (rc < 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    if (!(seen & BIT(0)))
        problem(r, pos, "objective needs a 'name'");
    if (name) {
        o.name = name;
        rdl_mapping_set_objective(r->g, &o);
    }
    free(name);
    return 1;
fail:
    free(name);
    return -1;
}

/* ---- the document ---- */

/* Reads a graph-level name (name, overlay, underlay) into *dst. */
static int
read_name(struct reader *r, char **dst)
{
    char *s;
    struct rdl_pos pos;
    int rc = read_text(r, &s, &pos);
    if (rc <= 0)
        return rc;
    if (!rdl_id_valid(s))
        problem(r, pos, "malformed name '%.64s'", s);
    free(*dst);
    *dst = s;
    return 1;
}

static int
read_top_value(struct reader *r, enum top_key key)
{
    struct rdl_graph *g = r->g;
    struct rdl_pos pos;
    char *s = NULL;
    long n;
    int rc;
    switch (key) {
    case K_RDL:
        pos = ev_pos(r);
        if (r->ev.type == YAML_SCALAR_EVENT) {
            bool integer;
            enum sclass c = classify(r, &integer);
            if (c == S_NULL) {
                problem(r, pos, "missing value");
            } else if (c != S_NUMBER) {
                problem(r, pos, "unsupported rdl version '%.64s'", ev_text(r));
            } else if (!integer || ev_len(r) > 8 || strtol(ev_text(r), NULL, 10) != 1) {
                problem(r, pos, "unsupported rdl version %.64s", ev_text(r));
            }
            return next(r) < 0 ? -1 : 1;
        }
        problem(r, pos, "unsupported rdl version: expected 1, not %s", node_noun(r));
        return skip(r) < 0 ? -1 : 0;
    case K_KIND:
        rc = read_text(r, &s, &pos);
        if (rc <= 0)
            return rc;
        if (strcmp(s, "underlay") == 0)
            g->kind = RDL_UNDERLAY;
        else if (strcmp(s, "overlay") == 0)
            g->kind = RDL_OVERLAY;
        else if (strcmp(s, "mapping") == 0)
            g->kind = RDL_MAPPING;
        else
            problem(r, pos, "unknown kind '%.64s': expected underlay, overlay or mapping", s);
        r->kind_known = strcmp(s, rdl_kind_name(g->kind)) == 0;
        free(s);
        return 1;
    case K_NAME:
        return read_name(r, &g->name);
    case K_LEVEL:
        rc = read_int(r, &n, &r->where.level);
        if (rc > 0)
            g->level = n == 0 || n == 1 ? (int)n : 2;
        return rc;
    case K_VLAN_RANGE: {
        int first, last;
        rc = read_vlan_range(r, &first, &last, &r->where.vlan_range);
        if (rc > 0)
            rdl_graph_set_vlan_range(g, first, last);
        return rc;
    }
    case K_ELEMENTS:
        return read_elements(r);
    case K_INTERFACES:
        return read_interfaces(r);
    case K_OVERLAY:
        return read_name(r, &g->overlay);
    case K_UNDERLAY:
        return read_name(r, &g->underlay);
    case K_OBJECTIVE:
        return read_objective(r);
    case K_MAP:
        return read_map(r);
    case K_COUNT:
        break;
    }
    return skip(r) < 0 ? -1 : 0;
}

static const char *
kind_article(enum rdl_kind kind)
{
    return kind == RDL_OVERLAY ? "an overlay" : kind == RDL_UNDERLAY ? "an underlay" : "a mapping";
}

/* The checks that need the whole document. */
static void
finish(struct reader *r)
{
    struct rdl_graph *g = r->g;
    for (int k = K_RDL; k <= K_NAME; k++)
        if (!(r->seen_keys & BIT(k)))
            problem(r, r->top_pos, "missing key '%s'", top_key_names[k]);
    if (!r->kind_known)
        return;
    for (int k = 0; k < K_COUNT; k++) {
        if ((r->seen_keys & BIT(k)) && !(allowed_keys[g->kind] & BIT(k)))
            problem(r, r->key_pos[k], "key '%s' is not allowed in %s", top_key_names[k],
                    kind_article(g->kind));
        else if (!(r->seen_keys & BIT(k)) && (required_keys[g->kind] & BIT(k)) && k > K_NAME)
            problem(r, r->top_pos, "missing key '%s'", top_key_names[k]);
    }
    /* What a kind does not allow was reported above; keep the checks from repeating it. */
    if (g->kind != RDL_OVERLAY)
        g->level = 0;
    if (g->kind != RDL_UNDERLAY)
        g->has_vlan_range = false;
    if (g->kind != RDL_MAPPING)
        resolve_interfaces(r);
    if (r->halt != RUNNING)
        return;
    r->where.elem_vlan = r->elem_vlan;
    r->where.entry_vlan = r->entry_vlan;
    r->where.names_checked = true;
    r->where.quiet = &r->quiet;
    rdl_check(g, &r->where, &r->diags);
}

static int
read_top(struct reader *r)
{
    r->top_pos = ev_pos(r);
    if (next(r) < 0)
        return -1;
    struct key k;
    int rc;
    while ((rc = map_key(r, &k)) > 0) {
        int i = key_index(r, &k, top_key_names, K_COUNT, &r->seen_keys);
        if (i == -2)
            return -1;
        if (i == -1)
            continue;
        r->key_pos[i] = k.pos;
        if (read_top_value(r, (enum top_key)i) < 0)
            return -1;
    }
    return rc;
}

static void
read_stream(struct reader *r)
{
    if (next(r) < 0) /* STREAM-START */
        return;
    if (next(r) < 0)
        return;
    if (r->ev.type == YAML_STREAM_END_EVENT) {
        fatal(r, ev_pos(r), CN_E_INVALID, "empty document");
        return;
    }
    if (next(r) < 0) /* past DOCUMENT-START */
        return;
    if (r->ev.type == YAML_SCALAR_EVENT && classify(r, NULL) == S_NULL) {
        fatal(r, ev_pos(r), CN_E_INVALID, "empty document");
        return;
    }
    if (r->ev.type != YAML_MAPPING_START_EVENT) {
        fatal(r, ev_pos(r), CN_E_INVALID, "a document must be a map, not %s", node_noun(r));
        return;
    }
    if (read_top(r) < 0)
        return;
    /* DOCUMENT-END, then the stream must end. */
    if (next(r) < 0)
        return;
    if (r->ev.type != YAML_STREAM_END_EVENT) {
        fatal(r, ev_pos(r), CN_E_INVALID, "more than one document");
        return;
    }
    finish(r);
}

static int
file_read(void *data, unsigned char *buf, size_t size, size_t *size_read)
{
    struct reader *r = data;
    size_t n = fread(buf, 1, size, r->f);
    if (n == 0 && ferror(r->f)) {
        r->read_errno = errno ? errno : EIO;
        return 0;
    }
    r->nread += n;
    /* Refuse huge files as they stream in, before any of it is kept. */
    if (r->nread > RDL_MAX_DOCUMENT_BYTES) {
        r->too_big = true;
        return 0;
    }
    *size_read = n;
    return 1;
}

static struct rdl_graph *
read_common(struct reader *r, const char *name, struct cn_err *err)
{
    struct rdl_graph *g = r->g;
    read_stream(r);
    if (r->have_ev)
        yaml_event_delete(&r->ev);
    yaml_parser_delete(&r->parser);
    for (size_t i = 0; i < r->n_ifaces; i++) {
        free(r->ifaces[i].a);
        free(r->ifaces[i].b);
    }
    free(r->ifaces);
    free(r->elem_vlan);
    free(r->entry_vlan);
    cn_strmap_release(&r->quiet);
    for (size_t i = 0; i < r->n_quiet; i++)
        free(r->quiet_ids[i]);
    free(r->quiet_ids);
    if (r->diags.count) {
        rdl_diag_flush(err, &r->diags, name);
        cn_err_release(&r->diags);
        rdl_graph_free(g);
        return NULL;
    }
    cn_err_release(&r->diags);
    return g;
}

static void
reader_init(struct reader *r, const char *name)
{
    memset(r, 0, sizeof(*r));
    cn_err_init(&r->diags);
    cn_strmap_init(&r->quiet);
    /* The graph exists from the start so that diagnostics can name the file. */
    r->g = rdl_graph_new(RDL_OVERLAY, "");
    rdl_graph_set_file(r->g, name);
}

struct rdl_graph *
rdl_read_string(const char *name, const char *data, size_t len, struct cn_err *err)
{
    if (len > RDL_MAX_DOCUMENT_BYTES) {
        cn_err_add(err, CN_E_LIMIT, "%s: document larger than %u bytes", name,
                   RDL_MAX_DOCUMENT_BYTES);
        return NULL;
    }
    struct reader r;
    reader_init(&r, name);
    r.data = data;
    r.len = len;
    if (!yaml_parser_initialize(&r.parser)) {
        cn_err_add(err, CN_E_INTERNAL, "%s: out of memory", name);
        rdl_graph_free(r.g);
        cn_err_release(&r.diags);
        return NULL;
    }
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)(data ? data : ""), len);
    return read_common(&r, name, err);
}

struct rdl_graph *
rdl_read_file(const char *path, struct cn_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cn_err_add(err, CN_E_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct reader r;
    reader_init(&r, path);
    r.f = f;
    struct rdl_graph *g = NULL;
    if (!yaml_parser_initialize(&r.parser)) {
        cn_err_add(err, CN_E_INTERNAL, "%s: out of memory", path);
        rdl_graph_free(r.g);
        cn_err_release(&r.diags);
        goto cleanup;
    }
    yaml_parser_set_input(&r.parser, file_read, &r);
    g = read_common(&r, path, err);
cleanup:
    fclose(f);
    return g;
}
