/*
 * Scaffolding for test programs and benchmarks that run the real daemons
 * (pipd, vnpd, clipd) as black boxes, in the style of tests/db-helper.h:
 *
 *   struct test_daemon d = {.name = "pipd"};
 *   test_bin_path(d.prog, sizeof(d.prog), argv[0], "pipd");
 *   test_daemon_listen(&d);                        (a free port and its URL)
 *   ... write the configuration into d.conf ...
 *   snprintf(d.log, sizeof(d.log), "%s/pipd.log", scratch);
 *   test_daemon_start(&d);                         (PROG -d -f CONF, waits for the port)
 *   test_daemon_stop(&d, SIGTERM);
 *
 * It also holds what those programs share besides: counting a failed
 * setup, a scratch directory, writing and reading text files and
 * fixtures, a free loopback port, running a program or a shell command
 * for its output, and for the benchmarks quantiles, a process's CPU time
 * and the MariaDB server's counters. When <xmlrpc-c/client.h> is included
 * before this header, an XML-RPC client and a call that hands back the
 * fault are available too.
 *
 * Everything is static inline, so a program pays only for what it uses;
 * messages go to stderr, because a test that cannot set itself up must
 * say why.
 */
#ifndef CLOUDNET_TESTS_DAEMON_HELPER_H
#define CLOUDNET_TESTS_DAEMON_HELPER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/testlib.h"

/* Generous: sanitized builds start the daemons several times slower. */
#define TEST_DAEMON_WAIT_S 30.0

static inline double
test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void
test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * Whether a program's setup step worked (rc 0). One that failed counts as
 * a failed case, so the summary line says so even when no case ran.
 */
static inline bool
test_setup_ok(int rc)
{
    if (rc == 0)
        return true;
    test_failed++;
    printf("FAIL setup\n");
    fflush(stdout);
    return false;
}

/* ---- files ---- */

/* Writes text to path, replacing what was there; 0 or -1. */
static inline int
test_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* The whole of a text file, NUL-terminated (the caller frees it), or NULL. */
static inline char *
test_read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s = NULL;
    size_t len = 0, cap = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (cap - len < 4096) {
            char *t = realloc(s, cap + 65536);
            if (!t) {
                free(s);
                fclose(f);
                return NULL;
            }
            s = t;
            cap += 65536;
        }
        size_t n = fread(s + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    s[len] = '\0';
    if (ferror(f)) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

/* A data file of the tests folder (TEST_SRCDIR), like "vnpd/span.yaml"; NULL with a message. */
static inline char *
test_fixture(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", test_srcdir(), name);
    char *s = test_read_text(path);
    if (!s)
        fprintf(stderr, "  cannot read %s: %s\n", path, strerror(errno));
    return s;
}

static inline int
test_rm_tree_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes path and everything below it, without following links. */
static inline void
test_rm_tree(const char *path)
{
    if (path && *path)
        nftw(path, test_rm_tree_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Writes size bytes of pseudo-random data (xorshift64) to path, the same
 * bytes for the same seed, different ones for each seed; 0 or -1.
 */
static inline int
test_write_random(const char *path, size_t size, uint64_t seed)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
    unsigned char buf[65536];
    for (size_t done = 0; done < size;) {
        size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);
        for (size_t i = 0; i < n; i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
        }
        if (write(fd, buf, n) != (ssize_t)n) {
            close(fd);
            return -1;
        }
        done += n;
    }
    return close(fd);
}

/*
 * Makes a fresh directory PREFIX-XXXXXX under $TMPDIR (or /tmp) into buf;
 * 0, or -1 with buf empty and a message.
 */
static inline int
test_scratch_dir(char *buf, size_t size, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, size, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    if (!mkdtemp(buf)) {
        fprintf(stderr, "mkdtemp %s: %s\n", buf, strerror(errno));
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

/*
 * The images and templates directories pipd wants under dir, with one
 * template NAME.img (pipd only checks that it exists); 0 or -1.
 */
static inline int
test_pipd_dirs(const char *dir, const char *template_name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/images", dir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof(path), "%s/templates", dir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof(path), "%s/templates/%s.img", dir, template_name);
    return test_write_text(path, "not really a disk image\n");
}

/* The program prog built next to this one (ARGV0/../bin/PROG) into buf; -1 when not built. */
static inline int
test_bin_path(char *buf, size_t size, const char *argv0, const char *prog)
{
    char self[1024];
    snprintf(self, sizeof(self), "%s", argv0);
    snprintf(buf, size, "%s/../bin/%s", dirname(self), prog);
    if (access(buf, X_OK) < 0) {
        fprintf(stderr, "%s: not built\n", buf);
        return -1;
    }
    return 0;
}

/* ---- loopback sockets ---- */

/* A loopback TCP socket bound to a free port, listening when listen_too; the fd or -1. */
static inline int
test_bound_socket(unsigned *ret_port, bool listen_too)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0 || (listen_too && listen(fd, 8) < 0)) {
        close(fd);
        return -1;
    }
    *ret_port = ntohs(a.sin_port);
    return fd;
}

/*
 * A loopback port nobody uses right now, or 0. Another program may take it
 * before the daemon binds it; the daemon then fails to start, loudly.
 */
static inline unsigned
test_free_port(void)
{
    unsigned port = 0;
    int fd = test_bound_socket(&port, false);
    if (fd < 0)
        return 0;
    close(fd);
    return port;
}

/* Whether something accepts connections on the loopback port. */
static inline bool
test_port_open(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* ---- processes ---- */

/*
 * Starts argv[0] with argv; its stdout and stderr are appended to log when
 * log is not NULL. The pid, or -1.
 */
static inline pid_t
test_spawn(const char *const argv[], const char *log)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    /* execv's prototype predates const; it does not modify the strings. */
    execv(argv[0], (char *const *)(uintptr_t)argv);
    _exit(127);
}

/*
 * Runs argv to the end; its exit status (-1 when it died of a signal), and
 * its stdout and stderr together in *ret_out (the caller frees it).
 */
static inline int
test_command(const char *const argv[], char **ret_out)
{
    char *out = NULL;
    size_t len = 0;
    int fds[2], status;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        char buf[4096];
        ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* Out of memory, the rest is read and dropped: the program must not block on us. */
        char *t = realloc(out, len + (size_t)n + 1);
        if (t) {
            out = t;
            memcpy(out + len, buf, (size_t)n);
            len += (size_t)n;
        }
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!out)
        out = calloc(1, 1);
    else
        out[len] = '\0';
    *ret_out = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline int test_shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command made like printf; 0, or -1 with the command on stderr. */
static inline int
test_shell(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(cmd)) {
        fprintf(stderr, "  command too long: %.80s...\n", cmd);
        return -1;
    }
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "  failed (%d): %s\n", rc, cmd);
    return rc == 0 ? 0 : -1;
}

/* The output of a shell command, its first size - 1 bytes; empty when it cannot run. */
static inline const char *
test_shell_output(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    out[0] = '\0';
    if (!p)
        return out;
    n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    pclose(p);
    return out;
}

/* ---- daemons ---- */

/*
 * A daemon run as PROG -d -f CONF. A zeroed struct (with a name) is a
 * daemon that is not running; the caller fills prog and conf, and port
 * (or ready) to say when it is up.
 */
struct test_daemon {
    const char *name; /* for messages (not copied) */
    char prog[1024];  /* the program's path */
    char conf[600];   /* its configuration file */
    char log[600];    /* stdout and stderr are appended here; empty: this program's */
    char url[128];    /* http://127.0.0.1:PORT/RPC2, set by test_daemon_listen */
    unsigned port;    /* up when this loopback port accepts; 0: see ready */
    /* Without a port: up when ready(ready_arg) is true; neither: up once started. */
    bool (*ready)(const void *arg);
    const void *ready_arg;
    pid_t pid; /* 0 or -1: not running */
};

/* Picks a free port for the daemon to listen on and the URL of its XML-RPC server; 0 or -1. */
static inline int
test_daemon_listen(struct test_daemon *d)
{
    d->port = test_free_port();
    if (!d->port)
        return -1;
    snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%u/RPC2", d->port);
    return 0;
}

static inline bool
test_daemon_up(const struct test_daemon *d)
{
    if (d->port)
        return test_port_open(d->port);
    return !d->ready || d->ready(d->ready_arg);
}

/* Starts the daemon and waits until it is up; 0, or -1 with a message (and it is not running). */
static inline int
test_daemon_start(struct test_daemon *d)
{
    const char *argv[] = {d->prog, "-d", "-f", d->conf, NULL};
    const char *log = d->log[0] ? d->log : NULL;
    d->pid = test_spawn(argv, log);
    if (d->pid < 0) {
        fprintf(stderr, "  %s: fork: %s\n", d->name, strerror(errno));
        return -1;
    }
    double end = test_now() + TEST_DAEMON_WAIT_S;
    while (test_now() < end) {
        int status;
        if (test_daemon_up(d))
            return 0;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = -1;
            fprintf(stderr, "  %s exited during start%s%s%s\n", d->name, log ? " (see " : "",
                    log ? log : "", log ? ")" : "");
            return -1;
        }
        test_sleep_ms(20);
    }
    fprintf(stderr, "  %s was not up after %.0f s\n", d->name, TEST_DAEMON_WAIT_S);
    kill(d->pid, SIGKILL);
    while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    d->pid = -1;
    return -1;
}

/*
 * Sends sig (after SIGCONT, in case the test stopped it) and reaps the
 * daemon; one that has not exited after TEST_DAEMON_WAIT_S is killed.
 * Its exit status; 0 when sig is SIGKILL and that killed it; -1 when it
 * died otherwise or was not running.
 */
static inline int
test_daemon_stop(struct test_daemon *d, int sig)
{
    int status;
    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGCONT);
    kill(d->pid, sig);
    double end = test_now() + TEST_DAEMON_WAIT_S;
    for (;;) {
        pid_t r = waitpid(d->pid, &status, WNOHANG);
        if (r == d->pid)
            break;
        if (r < 0 && errno != EINTR) {
            d->pid = -1;
            return -1;
        }
        if (test_now() > end) {
            fprintf(stderr, "  %s ignored signal %d; killed\n", d->name, sig);
            kill(d->pid, SIGKILL);
            while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
                ;
            d->pid = -1;
            return -1;
        }
        test_sleep_ms(10);
    }
    d->pid = -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return sig == SIGKILL && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -1;
}

/* ---- measuring daemons, for the benchmarks ---- */

static inline int
test_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of v by nearest rank, 0 when n is 0; sorts v. */
static inline double
test_quantile(double *v, int n, double q)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), test_cmp_double);
    int k = (int)(q * n + 0.999999) - 1;
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return v[k];
}

/* CPU time (user + system) of a process so far, in ms; -1 when unknown. */
static inline double
test_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15, counted after the parenthesised command name. */
    const char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1e3 / (double)sysconf(_SC_CLK_TCK);
}

/* The pid of the MariaDB server of a scratch directory (tests/db-helper.h's db.dir), or -1. */
static inline pid_t
test_mariadb_pid(const char *dir)
{
    char path[600];
    int pid = -1;
    snprintf(path, sizeof(path), "%s/mariadb.pid", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = -1;
        fclose(f);
    }
    return (pid_t)pid;
}

/*
 * The server's global status counters names[0..n) into v (-1 where
 * unknown), through the mysql client, so a benchmark need not link MariaDB.
 */
static inline void
test_mariadb_counters(const char *sock, const char *const *names, size_t n, double *v)
{
    char cmd[2048], line[256];
    size_t len;
    for (size_t i = 0; i < n; i++)
        v[i] = -1;
    len = (size_t)snprintf(cmd, sizeof(cmd),
                           "mysql --no-defaults -S '%s' -u root -N -B -e \"show global status "
                           "where variable_name in (''",
                           sock);
    for (size_t i = 0; i < n && len < sizeof(cmd); i++)
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, ",'%s'", names[i]);
    if (len >= sizeof(cmd) ||
        (size_t)snprintf(cmd + len, sizeof(cmd) - len, ")\" 2>/dev/null") >= sizeof(cmd) - len)
        return;
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    while (fgets(line, sizeof(line), p)) {
        char name[128];
        double x;
        if (sscanf(line, "%127s %lf", name, &x) != 2)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcasecmp(name, names[i]) == 0)
                v[i] = x;
    }
    pclose(p);
}

/* Runs SQL statements through the mysql client; 0 on success. */
static inline int
test_mariadb_exec(const char *sock, const char *stmt)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "mysql --no-defaults -S '%s' -u root -e \"%s\"", sock, stmt);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- XML-RPC, for programs that include <xmlrpc-c/client.h> first ---- */

#ifdef XMLRPC_CLIENT_H_INCLUDED

/*
 * A client of its own (one per thread); NULL with a message. The global
 * part (xmlrpc_client_setup_global_const) is the caller's, once, before
 * any thread starts.
 */
static inline xmlrpc_client *
test_xmlrpc_client(const char *name)
{
    xmlrpc_env env;
    xmlrpc_client *c = NULL;
    xmlrpc_env_init(&env);
    xmlrpc_client_create(&env, XMLRPC_CLIENT_NO_FLAGS, name, "1", NULL, 0, &c);
    if (env.fault_occurred) {
        fprintf(stderr, "%s: xmlrpc client: %s\n", name, env.fault_string);
        c = NULL;
    }
    xmlrpc_env_clean(&env);
    return c;
}

/*
 * Calls method at url; the result (the caller DECREFs it), or NULL with
 * the fault code in *ret_fault and its message in msg (when not NULL).
 * *ret_fault is 0 after a success.
 */
static inline xmlrpc_value *
test_xmlrpc_callv(xmlrpc_client *c, const char *url, const char *method, int *ret_fault, char *msg,
                  size_t msg_size, const char *fmt, va_list ap)
{
    xmlrpc_env env;
    xmlrpc_value *result = NULL;
    xmlrpc_env_init(&env);
    xmlrpc_client_call2f_va(&env, c, url, method, fmt, &result, ap);
    *ret_fault = env.fault_occurred ? env.fault_code : 0;
    if (env.fault_occurred) {
        result = NULL;
        if (msg)
            snprintf(msg, msg_size, "%s", env.fault_string);
    }
    xmlrpc_env_clean(&env);
    return result;
}

static inline xmlrpc_value *
test_xmlrpc_call(xmlrpc_client *c, const char *url, const char *method, int *ret_fault, char *msg,
                 size_t msg_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xmlrpc_value *result = test_xmlrpc_callv(c, url, method, ret_fault, msg, msg_size, fmt, ap);
    va_end(ap);
    return result;
}
#endif /* XMLRPC_CLIENT_H_INCLUDED */

#endif /* CLOUDNET_TESTS_DAEMON_HELPER_H */
