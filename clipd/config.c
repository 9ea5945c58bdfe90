/*
 * clipd's configuration file: one "key value..." directive per line, '#'
 * starts a comment, tokens are separated by blanks (so paths cannot contain
 * blanks). docs/clipd.md lists the directives. The parser only reads text;
 * whether the paths exist is checked when the cache opens the store, so
 * the parser can be tested without a filesystem.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define CLIP_PRIV_H_ALLOW
#include "clipd/clip_priv.h"
#include "util/conf.h"
#include "util/util.h"

#define MAX_TOKENS 8
#define MAX_COPIES 1000

static const char *const method_names[] = {
    [CLIP_COPY_AUTO] = "auto",
    [CLIP_COPY_REFLINK] = "reflink",
    [CLIP_COPY_RANGE] = "copy_file_range",
    [CLIP_COPY_READWRITE] = "readwrite",
};

const char *
clip_copy_method_name(enum clip_copy_method m)
{
    if ((size_t)m < CN_ARRAY_SIZE(method_names))
        return method_names[m];
    return "unknown";
}

int
clip_parse_size(const char *s, unsigned long long *ret_bytes)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case '\0':
        break;
    case 'K':
        shift = 10;
        break;
    case 'M':
        shift = 20;
        break;
    case 'G':
        shift = 30;
        break;
    case 'T':
        shift = 40;
        break;
    default:
        return -1;
    }
    if (*end) {
        end++;
        /* "10G", "10GB" and "10GiB" all mean the same binary multiple. */
        if (*end == 'i')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
        if (*end)
            return -1;
    }
    if (shift && v > (ULLONG_MAX >> shift))
        return -1;
    *ret_bytes = v << shift;
    return 0;
}

bool
clip_template_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CLIP_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
            return false;
    }
    return true;
}

void
clip_config_free(struct clip_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->file);
    free(cfg->store);
    free(cfg->socket);
    for (size_t i = 0; i < cfg->n_destdirs; i++)
        free(cfg->destdirs[i].path);
    free(cfg->destdirs);
    for (size_t i = 0; i < cfg->n_templates; i++) {
        free(cfg->templates[i].name);
        free(cfg->templates[i].path);
    }
    free(cfg->templates);
    free(cfg);
}

const struct clip_template_conf *
clip_config_template(const struct clip_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_templates; i++)
        if (cn_streq(cfg->templates[i].name, name))
            return &cfg->templates[i];
    return NULL;
}

/* Directories are kept without trailing slashes so that prefix checks are simple. */
static char *
clean_path(const char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    return xstrndup(p, n);
}

struct parser {
    struct clip_config *cfg;
    unsigned line;
    struct cn_buf *why; /* the current line's problem */
    bool line_failed;
    unsigned store_line, socket_line, budget_line, method_line, rate_line, rescan_line;
};

static void CN_PRINTF(2, 3) bad(struct parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cn_buf_vprintf(p->why, fmt, ap);
    va_end(ap);
    p->line_failed = true;
}

/* A directive that may appear once; reports the repeat and returns false. */
static bool
first_time(struct parser *p, const char *key, unsigned *seen_line)
{
    if (*seen_line) {
        bad(p, "'%s' given twice (first on line %u)", key, *seen_line);
        return false;
    }
    *seen_line = p->line;
    return true;
}

static bool
want_args(struct parser *p, char **tok, size_t n, size_t want, const char *usage)
{
    if (n != want + 1) {
        bad(p, "usage: %s %s", tok[0], usage);
        return false;
    }
    return true;
}

static bool
absolute(struct parser *p, const char *what, const char *path)
{
    if (path[0] != '/') {
        bad(p, "%s '%s' is not an absolute path", what, path);
        return false;
    }
    if (strlen(path) >= PATH_MAX) {
        bad(p, "%s is longer than %d bytes", what, PATH_MAX - 1);
        return false;
    }
    return true;
}

static void
parse_template(struct parser *p, char **tok, size_t n)
{
    struct clip_config *cfg = p->cfg;
    if (n != 3 && n != 5) {
        bad(p, "usage: template NAME PATH [copies N]");
        return;
    }
    if (!clip_template_name_ok(tok[1])) {
        bad(p,
            "template name '%s' must be 1 to %d letters, digits, '.', '_' or '-', not "
            "starting with '.'",
            tok[1], CLIP_NAME_MAX);
        return;
    }
    const struct clip_template_conf *dup = clip_config_template(cfg, tok[1]);
    if (dup) {
        bad(p, "template '%s' already defined on line %u", tok[1], dup->line);
        return;
    }
    if (!absolute(p, "template path", tok[2]))
        return;
    long copies = 1;
    if (n == 5) {
        if (!cn_streq(tok[3], "copies")) {
            bad(p, "unknown template option '%s' (expected 'copies')", tok[3]);
            return;
        }
        if (cn_parse_long(tok[4], 0, MAX_COPIES, &copies) < 0) {
            bad(p, "copies must be a whole number from 0 to %d, not '%s'", MAX_COPIES, tok[4]);
            return;
        }
    }
    CN_GROW(cfg->templates, cfg->cap_templates, cfg->n_templates + 1);
    struct clip_template_conf *t = &cfg->templates[cfg->n_templates++];
    t->name = xstrdup(tok[1]);
    t->path = xstrdup(tok[2]);
    t->copies = (unsigned)copies;
    t->line = p->line;
}

static int
parse_line(void *ctx, char **tok, size_t n, unsigned lineno, struct cn_buf *why)
{
    struct parser *p = ctx;
    struct clip_config *cfg = p->cfg;
    p->line = lineno;
    p->why = why;
    p->line_failed = false;
    const char *key = tok[0];

    if (cn_streq(key, "store")) {
        if (want_args(p, tok, n, 1, "DIR") && first_time(p, key, &p->store_line) &&
            absolute(p, "store", tok[1])) {
            cfg->store = clean_path(tok[1]);
            cfg->store_line = p->line;
        }
    } else if (cn_streq(key, "socket")) {
        if (want_args(p, tok, n, 1, "PATH") && first_time(p, key, &p->socket_line) &&
            absolute(p, "socket", tok[1])) {
            if (strlen(tok[1]) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
                bad(p, "socket path is longer than %zu bytes",
                    sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
            else
                cfg->socket = xstrdup(tok[1]);
        }
    } else if (cn_streq(key, "budget")) {
        if (want_args(p, tok, n, 1, "SIZE") && first_time(p, key, &p->budget_line) &&
            clip_parse_size(tok[1], &cfg->budget) < 0)
            bad(p, "budget '%s' is not a size such as 4096, 512M or 20G", tok[1]);
    } else if (cn_streq(key, "refillrate")) {
        if (want_args(p, tok, n, 1, "SIZE") && first_time(p, key, &p->rate_line) &&
            clip_parse_size(tok[1], &cfg->refill_rate) < 0)
            bad(p, "refillrate '%s' is not a size per second such as 100M", tok[1]);
    } else if (cn_streq(key, "rescan")) {
        long v;
        if (want_args(p, tok, n, 1, "SECONDS") && first_time(p, key, &p->rescan_line)) {
            if (cn_parse_long(tok[1], 1, 86400, &v) < 0)
                bad(p, "rescan must be a number of seconds from 1 to 86400, not '%s'", tok[1]);
            else
                cfg->rescan = (unsigned)v;
        }
    } else if (cn_streq(key, "copymethod")) {
        if (want_args(p, tok, n, 1, "auto|reflink|copy_file_range|readwrite") &&
            first_time(p, key, &p->method_line)) {
            size_t i;
            for (i = 0; i < CN_ARRAY_SIZE(method_names); i++)
                if (cn_streq(tok[1], method_names[i]))
                    break;
            if (i == CN_ARRAY_SIZE(method_names))
                bad(p, "copymethod must be auto, reflink, copy_file_range or readwrite, not '%s'",
                    tok[1]);
            else
                cfg->method = (enum clip_copy_method)i;
        }
    } else if (cn_streq(key, "destdir")) {
        if (want_args(p, tok, n, 1, "DIR") && absolute(p, "destdir", tok[1])) {
            CN_GROW(cfg->destdirs, cfg->cap_destdirs, cfg->n_destdirs + 1);
            cfg->destdirs[cfg->n_destdirs].path = clean_path(tok[1]);
            cfg->destdirs[cfg->n_destdirs].line = p->line;
            cfg->n_destdirs++;
        }
    } else if (cn_streq(key, "template")) {
        parse_template(p, tok, n);
    } else {
        bad(p, "unknown directive '%s'", key);
    }
    return p->line_failed ? -1 : 0;
}

struct clip_config *
clip_config_parse(const char *file, const char *text, struct cn_err *err)
{
    struct clip_config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->file = xstrdup(file);
    cfg->method = CLIP_COPY_AUTO;
    cfg->rescan = 10;
    struct parser p = {.cfg = cfg};
    bool failed = cn_conf_parse(file, text, MAX_TOKENS, parse_line, &p, err) < 0;

    /* Whole-file problems name the file only: no line is at fault. */
    if (!cfg->store) {
        cn_err_add(err, CN_E_INVALID, "%s: no 'store' directive", file);
        failed = true;
    }
    if (!cfg->socket) {
        cn_err_add(err, CN_E_INVALID, "%s: no 'socket' directive", file);
        failed = true;
    }
    if (cfg->n_templates == 0 && !failed) {
        cn_err_add(err, CN_E_INVALID, "%s: no 'template' directive", file);
        failed = true;
    }
    if (failed) {
        clip_config_free(cfg);
        return NULL;
    }
    return cfg;
}

struct clip_config *
clip_config_load(const char *file, struct cn_err *err)
{
    struct cn_buf text;
    cn_buf_init(&text);
    struct clip_config *cfg = NULL;
    if (cn_buf_read_file(&text, file, CN_CONF_MAX_SIZE) < 0) {
        cn_err_set(err, CN_E_IO, "%s: %s", file, strerror(errno));
        goto cleanup;
    }
    if (strlen(text.s) != text.len) {
        cn_err_set(err, CN_E_INVALID, "%s: contains a NUL byte", file);
        goto cleanup;
    }
    cfg = clip_config_parse(file, text.s, err);
cleanup:
    cn_buf_release(&text);
    return cfg;
}
