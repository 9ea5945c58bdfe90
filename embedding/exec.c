/*
 * Running iproute2 (`ip`, `bridge`) for the netns, vlan and transit plugins.
 * Commands are spawned directly, never through a shell, so element ids can
 * never be read as shell syntax; stderr is captured so a failure can say
 * what the tool complained about. A context may run in a threaded daemon,
 * hence posix_spawn rather than fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EMB_PRIV_H_ALLOW
#include "embedding/emb_priv.h"
#include "util/util.h"

extern char **environ;

/* Output beyond this is dropped: iproute2 never says that much. */
#define MAX_CAPTURE (4u * 1024 * 1024)

static void
command_line(const char *const *argv, struct cn_buf *b)
{
    for (size_t i = 0; argv[i]; i++) {
        if (i)
            cn_buf_putc(b, ' ');
        cn_buf_puts(b, argv[i]);
    }
}

/* Reads both pipes until both are closed, so neither can fill up and block the child. */
static void
drain(int out_fd, int err_fd, struct cn_buf *out, struct cn_buf *errbuf)
{
    struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
    struct cn_buf *dst[2] = {out, errbuf};
    int open_fds = 2;
    char chunk[4096];

    while (open_fds > 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, chunk, sizeof(chunk));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                p[i].fd = -1;
                open_fds--;
                continue;
            }
            if (dst[i]->len < MAX_CAPTURE)
                cn_buf_add(dst[i], chunk, (size_t)n);
        }
    }
}

static int
run(const char *const *argv, struct cn_buf *out, struct cn_buf *errbuf, int *ret_status,
    struct cn_err *err)
{
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    bool fa_ok = false;
    pid_t pid;
    int rc = -1;

    if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
        cn_err_set(err, CN_E_IO, "pipe: %s", strerror(errno));
        goto cleanup;
    }
    if (posix_spawn_file_actions_init(&fa) != 0) {
        cn_err_set(err, CN_E_INTERNAL, "posix_spawn_file_actions_init failed");
        goto cleanup;
    }
    fa_ok = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    /* The spawn API takes char *const[] for historical reasons; it does not write them. */
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    if (e != 0) {
        cn_err_set(err, CN_E_INTERNAL, "cannot run %s: %s", argv[0], strerror(e));
        goto cleanup;
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    out_pipe[1] = err_pipe[1] = -1;
    drain(out_pipe[0], err_pipe[0], out, errbuf);

    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            cn_err_set(err, CN_E_INTERNAL, "waitpid: %s", strerror(errno));
            goto cleanup;
        }
    }
    *ret_status = status;
    rc = 0;

cleanup:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (err_pipe[i] >= 0)
            close(err_pipe[i]);
    }
    return rc;
}

static int
run_checked(const char *const *argv, struct cn_buf *out, const char *const *benign,
            struct cn_err *err)
{
    struct cn_buf o = CN_BUF_INIT, e = CN_BUF_INIT, cmd = CN_BUF_INIT;
    int status, rc = -1;

    cn_buf_init(&o);
    cn_buf_init(&e);
    cn_buf_init(&cmd);
    if (run(argv, &o, &e, &status, err) < 0)
        goto cleanup;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (out)
            cn_buf_add(out, o.s, o.len);
        rc = 0;
        goto cleanup;
    }
    for (size_t i = 0; benign && benign[i]; i++) {
        if (strstr(e.s, benign[i])) {
            rc = 0;
            goto cleanup;
        }
    }
    while (e.len && (e.s[e.len - 1] == '\n' || e.s[e.len - 1] == ' '))
        e.s[--e.len] = '\0';
    for (size_t i = 0; i < e.len; i++)
        if (e.s[i] == '\n')
            e.s[i] = ' ';
    command_line(argv, &cmd);
    if (WIFEXITED(status))
        cn_err_set(err, CN_E_INTERNAL, "'%s' failed (exit %d): %s", cmd.s, WEXITSTATUS(status),
                   e.len ? e.s : "no message");
    else
        cn_err_set(err, CN_E_INTERNAL, "'%s' was killed by signal %d", cmd.s,
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0);

cleanup:
    cn_buf_release(&o);
    cn_buf_release(&e);
    cn_buf_release(&cmd);
    return rc;
}

int
emb_run(const char *const *argv, struct cn_buf *out, struct cn_err *err)
{
    return run_checked(argv, out, NULL, err);
}

int
emb_run_tolerant(const char *const *argv, const char *const *benign, struct cn_err *err)
{
    return run_checked(argv, NULL, benign, err);
}

static char **
vargv(const char *cmd, const char *netns, va_list ap)
{
    size_t n = 0, cap = 0;
    char **v = NULL;

    CN_GROW(v, cap, n + 4);
    v[n++] = xstrdup(cmd);
    if (netns) {
        v[n++] = xstrdup("-n");
        v[n++] = xstrdup(netns);
    }
    for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *)) {
        CN_GROW(v, cap, n + 2);
        v[n++] = xstrdup(w);
    }
    v[n] = NULL;
    return v;
}

char **
emb_argv(const char *cmd, const char *netns, ...)
{
    va_list ap;
    va_start(ap, netns);
    char **v = vargv(cmd, netns, ap);
    va_end(ap);
    return v;
}

void
emb_argv_free(char **argv)
{
    if (!argv)
        return;
    for (size_t i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}

int
emb_runv(struct cn_err *err, const char *cmd, const char *netns, ...)
{
    va_list ap;
    va_start(ap, netns);
    char **v = vargv(cmd, netns, ap);
    va_end(ap);
    int rc = emb_run((const char *const *)v, NULL, err);
    emb_argv_free(v);
    return rc;
}

bool
emb_netns_exists(const char *name)
{
    struct stat st;
    char *p = xasprintf("/run/netns/%s", name);
    bool ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

bool
emb_dev_exists(const char *netns, const char *dev)
{
    struct cn_err err = CN_ERR_INIT;
    if (netns && !emb_netns_exists(netns))
        return false;
    char **v = emb_argv("ip", netns, "link", "show", "dev", dev, (char *)NULL);
    bool ok = emb_run((const char *const *)v, NULL, &err) == 0;
    emb_argv_free(v);
    cn_err_release(&err);
    return ok;
}

void
emb_tag_bridge(int vlan, char *buf, size_t size)
{
    snprintf(buf, size, "cnb%d", vlan);
}

int
emb_tag_bridge_get(const char *netns, int vlan, struct cn_err *err)
{
    char br[16];
    emb_tag_bridge(vlan, br, sizeof(br));
    if (emb_dev_exists(netns, br))
        return 0;
    if (emb_runv(err, "ip", netns, "link", "add", br, "type", "bridge", (char *)NULL) < 0)
        return -1;
    return emb_runv(err, "ip", netns, "link", "set", br, "up", (char *)NULL);
}

int
emb_tag_bridge_put(const char *netns, int vlan, struct cn_err *err)
{
    char br[16];
    struct cn_buf out = CN_BUF_INIT;
    int rc = -1;

    cn_buf_init(&out);
    emb_tag_bridge(vlan, br, sizeof(br));
    if (!emb_dev_exists(netns, br)) {
        rc = 0;
        goto cleanup;
    }
    char **v = emb_argv("ip", netns, "-o", "link", "show", "master", br, (char *)NULL);
    rc = emb_run((const char *const *)v, &out, err);
    emb_argv_free(v);
    if (rc < 0)
        goto cleanup;
    /* Another VLink's port still uses the bridge: leave it. */
    if (out.len > 0)
        goto cleanup;
    static const char *const gone[] = {"Cannot find device", NULL};
    v = emb_argv("ip", netns, "link", "del", br, (char *)NULL);
    rc = emb_run_tolerant((const char *const *)v, gone, err);
    emb_argv_free(v);

cleanup:
    cn_buf_release(&out);
    return rc;
}

unsigned long long
emb_hash(const char *const *parts, size_t n)
{
    unsigned long long h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
            h ^= *p;
            h *= 0x100000001b3ULL;
        }
        /* A separator keeps ("ab","c") and ("a","bc") apart. */
        h ^= 0xff;
        h *= 0x100000001b3ULL;
    }
    return h;
}

int
emb_list_aliases(const char *netns, struct emb_lines *lines, struct cn_err *err)
{
    struct cn_buf out = CN_BUF_INIT;
    int rc = -1;

    cn_buf_init(&out);
    char **v = emb_argv("ip", netns, "-o", "link", "show", (char *)NULL);
    if (emb_run((const char *const *)v, &out, err) < 0)
        goto cleanup;
    /* One device per line: "N: NAME[@PEER]: <FLAGS> ...\    alias TEXT". */
    for (char *l = out.s, *next; l && *l; l = next) {
        next = strchr(l, '\n');
        if (next)
            *next++ = '\0';
        char *name = strstr(l, ": ");
        char *alias = strstr(l, "\\    alias ");
        if (!name || !alias)
            continue;
        name += 2;
        size_t n = strcspn(name, "@:");
        emb_lines_add(lines, xasprintf("%.*s %s", (int)n, name, alias + strlen("\\    alias ")));
    }
    rc = 0;

cleanup:
    emb_argv_free(v);
    cn_buf_release(&out);
    return rc;
}
