/*
 * clipd's UNIX socket server. The protocol (docs/clipd.md) is one request
 * line, one answer: "ok ..." or "err CODE message", where CODE is a
 * struct cn_err category. Each connection gets a thread because a miss
 * copies a whole image while its client waits, and other clients must
 * still get their hits meanwhile.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIP_PRIV_H_ALLOW
#include "clipd/clip_priv.h"
#include "util/util.h"

#define MAX_CONNS 64
#define IDLE_TIMEOUT_S 60

struct conn {
    int fd;
    struct clip_server *s;
    struct conn *next;
};

struct clip_server {
    char *path;
    int fd;
    dev_t sock_dev; /* so that only our own socket file is removed at exit */
    ino_t sock_ino;
    struct clip_cache *cache;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled when a connection ends */
    struct conn *conns;
    unsigned n_conns;
    bool closing;
};

/* Appends s with control characters replaced, so that an answer stays one line. */
static void
put_text(struct cn_buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\n')
            cn_buf_puts(out, "; ");
        else if (ch < 0x20 || ch == 0x7f)
            cn_buf_putc(out, '?');
        else
            cn_buf_putc(out, (char)ch);
    }
}

static void
answer_err(struct cn_buf *out, int code, const char *msg)
{
    cn_buf_printf(out, "err %d ", code ? code : CN_E_INTERNAL);
    put_text(out, msg);
    cn_buf_putc(out, '\n');
}

static void
handle_take(struct clip_cache *cache, const char *args, struct cn_buf *out)
{
    const char *sp = args ? strchr(args, ' ') : NULL;
    if (!sp || sp == args || !sp[1]) {
        answer_err(out, CN_E_INVALID, "usage: take TEMPLATE DEST");
        return;
    }
    char *name = xstrndup(args, (size_t)(sp - args));
    const char *dest = sp + 1;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool hit;
    if (!clip_template_name_ok(name))
        cn_err_set(&err, CN_E_INVALID, "bad template name");
    else if (clip_cache_take(cache, name, dest, &hit, &err) == 0)
        cn_buf_puts(out, hit ? "ok hit\n" : "ok miss\n");
    if (cn_err_is_set(&err))
        answer_err(out, err.code, cn_err_msg(&err));
    cn_err_release(&err);
    free(name);
}

static void
handle_status(struct clip_cache *cache, const char *args, struct cn_buf *out)
{
    if (args) {
        answer_err(out, CN_E_INVALID, "usage: status");
        return;
    }
    struct clip_template_status *items = NULL;
    size_t n = 0;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    if (clip_cache_status(cache, &items, &n, &err) < 0) {
        answer_err(out, err.code, cn_err_msg(&err));
        cn_err_release(&err);
        return;
    }
    cn_buf_printf(out, "ok %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        cn_buf_printf(out,
                      "template %s ready %u copies %u hits %llu misses %llu bytes %llu "
                      "method %s\n",
                      items[i].name, items[i].ready, items[i].copies, items[i].hits,
                      items[i].misses, items[i].bytes, items[i].method);
        free(items[i].name);
    }
    free(items);
    cn_err_release(&err);
}

void
clip_server_handle(struct clip_cache *cache, const char *line, struct cn_buf *out)
{
    for (const char *p = line; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f) {
            answer_err(out, CN_E_INVALID, "request contains control characters");
            return;
        }
    }
    if (!*line) {
        answer_err(out, CN_E_INVALID, "empty request");
        return;
    }
    size_t n = strcspn(line, " ");
    const char *args = line[n] ? line + n + 1 : NULL;
    if (n == 4 && strncmp(line, "take", 4) == 0) {
        handle_take(cache, args, out);
    } else if (n == 6 && strncmp(line, "status", 6) == 0) {
        handle_status(cache, args, out);
    } else {
        char *cmd = xstrndup(line, n < 32 ? n : 32);
        char *msg = xasprintf("unknown command '%s' (expected take or status)", cmd);
        answer_err(out, CN_E_INVALID, msg);
        free(msg);
        free(cmd);
    }
}

static bool
send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static void
conn_serve(struct conn *cn)
{
    char *buf = xmalloc(CLIP_LINE_MAX + 2);
    size_t len = 0;
    struct cn_buf out;
    cn_buf_init(&out);
    for (;;) {
        char *nl = memchr(buf, '\n', len);
        if (nl) {
            size_t linelen = (size_t)(nl - buf);
            bool nul = memchr(buf, '\0', linelen) != NULL;
            *nl = '\0';
            /* Tolerate CRLF from line-oriented tools such as socat. */
            if (linelen > 0 && buf[linelen - 1] == '\r')
                buf[linelen - 1] = '\0';
            cn_buf_reset(&out);
            if (nul)
                answer_err(&out, CN_E_INVALID, "request contains control characters");
            else
                clip_server_handle(cn->s->cache, buf, &out);
            if (!send_all(cn->fd, out.s, out.len))
                break;
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, buf + used, len - used);
            len -= used;
            continue;
        }
        if (len > CLIP_LINE_MAX) {
            cn_buf_reset(&out);
            answer_err(&out, CN_E_LIMIT, "request line longer than 8192 bytes");
            send_all(cn->fd, out.s, out.len);
            break;
        }
        ssize_t n = recv(cn->fd, buf + len, CLIP_LINE_MAX + 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    cn_buf_release(&out);
    free(buf);
}

static void *
conn_main(void *arg)
{
    struct conn *cn = arg;
    struct clip_server *s = cn->s;
    conn_serve(cn);
    pthread_mutex_lock(&s->lock);
    for (struct conn **pp = &s->conns; *pp; pp = &(*pp)->next) {
        if (*pp == cn) {
            *pp = cn->next;
            break;
        }
    }
    s->n_conns--;
    close(cn->fd);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    free(cn);
    return NULL;
}

static void
start_conn(struct clip_server *s, int fd)
{
    struct timeval tv = {IDLE_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    pthread_mutex_lock(&s->lock);
    if (s->n_conns >= MAX_CONNS || s->closing) {
        pthread_mutex_unlock(&s->lock);
        static const char busy[] = "err 6 too many connections\n";
        send_all(fd, busy, sizeof(busy) - 1);
        close(fd);
        return;
    }
    struct conn *cn = xcalloc(1, sizeof(*cn));
    cn->fd = fd;
    cn->s = s;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    if (pthread_create(&th, &attr, conn_main, cn) != 0) {
        pthread_mutex_unlock(&s->lock);
        pthread_attr_destroy(&attr);
        static const char busy[] = "err 6 cannot start a thread\n";
        send_all(fd, busy, sizeof(busy) - 1);
        close(fd);
        free(cn);
        return;
    }
    pthread_attr_destroy(&attr);
    cn->next = s->conns;
    s->conns = cn;
    s->n_conns++;
    pthread_mutex_unlock(&s->lock);
}

struct clip_server *
clip_server_new(const char *socket_path, struct clip_cache *cache, struct cn_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path)) {
        cn_err_set(err, CN_E_INVALID, "socket path %s is too long", socket_path);
        return NULL;
    }
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);

    struct stat st;
    if (lstat(socket_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            cn_err_set(err, CN_E_INVALID, "%s exists and is not a socket", socket_path);
            return NULL;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            cn_err_set(err, CN_E_BUSY, "another clipd is listening on %s", socket_path);
            return NULL;
        }
        /* A socket left by a daemon that died. */
        unlink(socket_path);
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cn_err_set(err, CN_E_IO, "socket: %s", strerror(errno));
        return NULL;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(socket_path, 0660) < 0 ||
        listen(fd, MAX_CONNS) < 0 || lstat(socket_path, &st) < 0) {
        cn_err_set(err, CN_E_IO, "%s: %s", socket_path, strerror(errno));
        close(fd);
        return NULL;
    }
    struct clip_server *s = xcalloc(1, sizeof(*s));
    s->path = xstrdup(socket_path);
    s->fd = fd;
    s->sock_dev = st.st_dev;
    s->sock_ino = st.st_ino;
    s->cache = cache;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    return s;
}

int
clip_server_run(struct clip_server *s, int stop_fd, struct cn_err *err)
{
    struct pollfd pfd[2] = {{.fd = s->fd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};
    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return cn_err_set(err, CN_E_IO, "poll: %s", strerror(errno));
        }
        if (pfd[1].revents)
            return 0;
        if (!(pfd[0].revents & POLLIN))
            continue;
        int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            /* Transient: the client gave up, or we are out of descriptors for a moment. */
            if (errno == EMFILE || errno == ENFILE)
                poll(NULL, 0, 100);
            continue;
        }
        start_conn(s, fd);
    }
}

void
clip_server_free(struct clip_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->closing = true;
    for (struct conn *cn = s->conns; cn; cn = cn->next)
        shutdown(cn->fd, SHUT_RDWR);
    while (s->n_conns > 0)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    close(s->fd);
    struct stat st;
    if (lstat(s->path, &st) == 0 && st.st_dev == s->sock_dev && st.st_ino == s->sock_ino)
        unlink(s->path);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}
