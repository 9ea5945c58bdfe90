/*
 * The client library: one connection per call, one request line, then the
 * write side is shut so that the daemon closes after its answer and the
 * whole answer is simply everything read until end of file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIP_PRIV_H_ALLOW
#include "clipd/clip_priv.h"
#include "util/util.h"

#define MAX_ANSWER (1024 * 1024)

struct clip_status {
    struct clip_template_status *items;
    size_t n, cap;
};

/* Sends req (one line, newline included) and reads the whole answer into out. */
static int
transact(const char *socket_path, const char *req, struct cn_buf *out, struct cn_err *err)
{
    int ret = -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!socket_path || strlen(socket_path) >= sizeof(sa.sun_path))
        return cn_err_set(err, CN_E_INVALID, "bad clipd socket path");
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cn_err_set(err, CN_E_IO, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        cn_err_set(err, CN_E_IO, "cannot reach clipd at %s: %s", socket_path, strerror(errno));
        goto cleanup;
    }
    for (size_t off = 0, n = strlen(req); off < n;) {
        ssize_t k = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            cn_err_set(err, CN_E_IO, "sending to clipd: %s", strerror(errno));
            goto cleanup;
        }
        off += (size_t)k;
    }
    shutdown(fd, SHUT_WR);
    char chunk[4096];
    for (;;) {
        ssize_t k = recv(fd, chunk, sizeof(chunk), 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            cn_err_set(err, CN_E_IO, "reading from clipd: %s", strerror(errno));
            goto cleanup;
        }
        if (k == 0)
            break;
        if (out->len + (size_t)k > MAX_ANSWER) {
            cn_err_set(err, CN_E_LIMIT, "clipd's answer is too long");
            goto cleanup;
        }
        cn_buf_add(out, chunk, (size_t)k);
    }
    if (out->len == 0 || out->s[out->len - 1] != '\n') {
        cn_err_set(err, CN_E_IO, "clipd closed the connection without a complete answer");
        goto cleanup;
    }
    ret = 0;
cleanup:
    close(fd);
    return ret;
}

/* Turns "err CODE message" into err; anything else that is not "ok" is a protocol error. */
static int
answer_error(const char *line, struct cn_err *err)
{
    if (cn_startswith(line, "err ")) {
        char *end;
        long code = strtol(line + 4, &end, 10);
        if (end != line + 4 && *end == ' ') {
            if (code <= CN_OK || code > CN_E_LIMIT)
                code = CN_E_INTERNAL;
            return cn_err_set(err, (int)code, "%s", end + 1);
        }
    }
    return cn_err_set(err, CN_E_IO, "unexpected answer from clipd: %.100s", line);
}

static bool
has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

int
clip_take(const char *socket_path, const char *template_name, const char *dest, bool *ret_hit,
          struct cn_err *err)
{
    if (!template_name || !clip_template_name_ok(template_name))
        return cn_err_set(err, CN_E_INVALID, "bad template name");
    if (!dest || !*dest || has_control(dest) || strlen(dest) > CLIP_LINE_MAX - 100)
        return cn_err_set(err, CN_E_INVALID, "bad destination path");
    int ret = -1;
    struct cn_buf out;
    cn_buf_init(&out);
    char *req = xasprintf("take %s %s\n", template_name, dest);
    if (transact(socket_path, req, &out, err) < 0)
        goto cleanup;
    out.s[out.len - 1] = '\0';
    if (cn_streq(out.s, "ok hit") || cn_streq(out.s, "ok miss")) {
        *ret_hit = cn_streq(out.s, "ok hit");
        ret = 0;
    } else {
        answer_error(out.s, err);
    }
cleanup:
    free(req);
    cn_buf_release(&out);
    return ret;
}

/* "template NAME ready R copies C hits H misses M bytes B method X" */
static int
parse_status_line(char *line, struct clip_template_status *t)
{
    char *save = NULL;
    char *tok = strtok_r(line, " ", &save);
    if (!tok || !cn_streq(tok, "template"))
        return -1;
    char *name = strtok_r(NULL, " ", &save);
    if (!name)
        return -1;
    unsigned seen = 0;
    char *key;
    while ((key = strtok_r(NULL, " ", &save))) {
        char *val = strtok_r(NULL, " ", &save);
        if (!val)
            return -1;
        unsigned long long v = 0;
        bool num = !cn_streq(key, "method");
        if (num) {
            char *end;
            errno = 0;
            v = strtoull(val, &end, 10);
            if (errno || *end || end == val)
                return -1;
        }
        if (cn_streq(key, "ready")) {
            t->ready = (unsigned)v;
            seen |= 1;
        } else if (cn_streq(key, "copies")) {
            t->copies = (unsigned)v;
            seen |= 2;
        } else if (cn_streq(key, "hits")) {
            t->hits = v;
            seen |= 4;
        } else if (cn_streq(key, "misses")) {
            t->misses = v;
            seen |= 8;
        } else if (cn_streq(key, "bytes")) {
            t->bytes = v;
            seen |= 16;
        } else if (cn_streq(key, "method")) {
            snprintf(t->method, sizeof(t->method), "%s", val);
        }
        /* Unknown keys are skipped so that the daemon can report more later. */
    }
    if (seen != 31)
        return -1;
    t->name = xstrdup(name);
    return 0;
}

int
clip_status(const char *socket_path, struct clip_status **ret_status, struct cn_err *err)
{
    int ret = -1;
    struct clip_status *st = xcalloc(1, sizeof(*st));
    struct cn_buf out;
    cn_buf_init(&out);
    if (transact(socket_path, "status\n", &out, err) < 0)
        goto cleanup;
    char *save = NULL;
    char *line = strtok_r(out.s, "\n", &save);
    unsigned long count;
    char *end;
    if (!line || !cn_startswith(line, "ok ")) {
        answer_error(line ? line : "", err);
        goto cleanup;
    }
    count = strtoul(line + 3, &end, 10);
    if (*end || end == line + 3) {
        cn_err_set(err, CN_E_IO, "unexpected answer from clipd: %.100s", line);
        goto cleanup;
    }
    for (unsigned long i = 0; i < count; i++) {
        line = strtok_r(NULL, "\n", &save);
        CN_GROW(st->items, st->cap, st->n + 1);
        struct clip_template_status *t = &st->items[st->n];
        memset(t, 0, sizeof(*t));
        snprintf(t->method, sizeof(t->method), "none");
        if (!line || parse_status_line(line, t) < 0) {
            cn_err_set(err, CN_E_IO, "malformed status line from clipd");
            goto cleanup;
        }
        st->n++;
    }
    *ret_status = st;
    st = NULL;
    ret = 0;
cleanup:
    clip_status_free(st);
    cn_buf_release(&out);
    return ret;
}

size_t
clip_status_count(const struct clip_status *st)
{
    return st ? st->n : 0;
}

const struct clip_template_status *
clip_status_at(const struct clip_status *st, size_t i)
{
    return st && i < st->n ? &st->items[i] : NULL;
}

const struct clip_template_status *
clip_status_find(const struct clip_status *st, const char *template_name)
{
    for (size_t i = 0; st && i < st->n; i++)
        if (cn_streq(st->items[i].name, template_name))
            return &st->items[i];
    return NULL;
}

void
clip_status_free(struct clip_status *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++)
        free(st->items[i].name);
    free(st->items);
    free(st);
}
