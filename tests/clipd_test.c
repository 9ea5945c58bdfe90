/*
 * Tests of clipd: the configuration parser and the copier directly, and
 * the daemon as a black box, started from $BUILD/bin/clipd in a scratch
 * directory and driven through the client library or a raw socket.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CLIP_PRIV_H_ALLOW
#include "clipd/clip.h"
#include "clipd/clip_priv.h"
#include "tests/daemon-helper.h"
#include "tests/testlib.h"
#include "util/util.h"

/* In the daemon tests: report where a step failed and clean up. */
#define FAIL()                                                                                     \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: failed\n", __FILE__, __LINE__);                                  \
        goto cleanup;                                                                              \
    } while (0)

#define WAIT_S TEST_DAEMON_WAIT_S

/* ---- helpers ---- */

static char scratch[64];
static char clipd_path[1024];

/* A fresh directory under the scratch directory; the caller frees the path. */
static char *
new_dir(const char *name)
{
    char *p = xasprintf("%s/%s", scratch, name);
    test_rm_tree(p);
    if (mkdir(p, 0755) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

static bool
same_content(const char *a, const char *b)
{
    struct cn_buf x, y;
    cn_buf_init(&x);
    cn_buf_init(&y);
    bool same = cn_buf_read_file(&x, a, 1 << 30) == 0 && cn_buf_read_file(&y, b, 1 << 30) == 0 &&
                x.len == y.len && memcmp(x.s, y.s, x.len) == 0;
    cn_buf_release(&x);
    cn_buf_release(&y);
    return same;
}

static bool
exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Counts the files in dir whose name starts with prefix. */
static int
count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (cn_startswith(de->d_name, prefix))
            n++;
    closedir(d);
    return n;
}

/* The name of one file in dir starting with prefix, or NULL; the caller frees it. */
static char *
find_file(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *found = NULL;
    struct dirent *de;
    while (!found && (de = readdir(d)))
        if (cn_startswith(de->d_name, prefix))
            found = xstrdup(de->d_name);
    closedir(d);
    return found;
}

/* Whether a clipd answers a status request on the socket arg. */
static bool
clipd_answers(const void *arg)
{
    struct clip_status *st = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int rc = clip_status(arg, &st, &err);
    clip_status_free(st);
    cn_err_release(&err);
    return rc == 0;
}

/* A daemon under test, with its scratch paths. */
struct daemon {
    char *dir;   /* scratch directory of this test */
    char *store; /* DIR/store */
    char *dest;  /* DIR/dest, configured as destdir */
    char *sock;
    struct test_daemon td; /* clipd -d -f td.conf, output in td.log */
};

/* Writes the configuration: store, socket, destdir and a long rescan period, then extra. */
static int
daemon_config(const struct daemon *d, const char *extra)
{
    char *text = xasprintf("store %s\nsocket %s\ndestdir %s\nrescan 3600\n%s", d->store, d->sock,
                           d->dest, extra);
    int rc = test_write_text(d->td.conf, text);
    free(text);
    return rc;
}

/* Creates DIR with store/ and dest/, and the configuration: the common part plus extra. */
static int
daemon_setup(struct daemon *d, const char *name, const char *extra)
{
    memset(d, 0, sizeof(*d));
    d->td.name = "clipd";
    d->td.ready = clipd_answers;
    snprintf(d->td.prog, sizeof(d->td.prog), "%s", clipd_path);
    d->dir = new_dir(name);
    if (!d->dir)
        return -1;
    d->store = xasprintf("%s/store", d->dir);
    d->dest = xasprintf("%s/dest", d->dir);
    d->sock = xasprintf("%s/clipd.sock", d->dir);
    d->td.ready_arg = d->sock;
    snprintf(d->td.conf, sizeof(d->td.conf), "%s/clipd.conf", d->dir);
    snprintf(d->td.log, sizeof(d->td.log), "%s/clipd.log", d->dir);
    if (mkdir(d->store, 0755) < 0 || mkdir(d->dest, 0755) < 0)
        return -1;
    return daemon_config(d, extra);
}

static void
daemon_release(struct daemon *d)
{
    test_daemon_stop(&d->td, SIGKILL);
    free(d->dir);
    free(d->store);
    free(d->dest);
    free(d->sock);
}

/* Starts the daemon and waits until it answers. */
static int
daemon_start(struct daemon *d)
{
    return test_daemon_start(&d->td);
}

/* SIGTERM, then the exit status (or -1 when it did not exit cleanly in time). */
static int
daemon_stop(struct daemon *d)
{
    return test_daemon_stop(&d->td, SIGTERM);
}

/* Runs clipd OPT -f CONF to the end; its exit status, its output in *ret_out. */
static int
run_clipd(const struct daemon *d, const char *opt, char **ret_out)
{
    const char *argv[] = {d->td.prog, opt, "-f", d->td.conf, NULL};
    return test_command(argv, ret_out);
}

/* One template's status line, or -1 fields when the daemon cannot be asked. */
static struct clip_template_status
tstatus(const struct daemon *d, const char *name)
{
    struct clip_template_status r;
    memset(&r, 0, sizeof(r));
    r.ready = (unsigned)-1;
    struct clip_status *st = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    if (clip_status(d->sock, &st, &err) == 0) {
        const struct clip_template_status *t = clip_status_find(st, name);
        if (t) {
            r = *t;
            r.name = NULL;
        }
    }
    clip_status_free(st);
    cn_err_release(&err);
    return r;
}

static bool
wait_ready(const struct daemon *d, const char *name, unsigned n)
{
    double end = cn_now() + WAIT_S;
    while (cn_now() < end) {
        if (tstatus(d, name).ready == n)
            return true;
        test_sleep_ms(10);
    }
    return false;
}

/*
 * Whether no file of dir starts with prefix, within WAIT_S: a refill copy
 * finished while its template went is renamed into place, then (after the
 * directory sync) found stale and removed; it is never handed out, but it
 * may be seen for a moment.
 */
static bool
files_gone(const char *dir, const char *prefix)
{
    double end = cn_now() + WAIT_S;
    while (count_files(dir, prefix) != 0) {
        if (cn_now() >= end)
            return false;
        test_sleep_ms(10);
    }
    return true;
}

/* Takes name into DEST_DIR/file; returns 1 for a hit, 0 for a miss, -1 with *code set. */
static int
take(const struct daemon *d, const char *name, const char *dest, int *code)
{
    bool hit = false;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int rc = clip_take(d->sock, name, dest, &hit, &err);
    if (code)
        *code = err.code;
    if (rc < 0 && !code)
        fprintf(stderr, "  take %s %s: %s\n", name, dest, cn_err_msg(&err));
    cn_err_release(&err);
    return rc < 0 ? -1 : hit ? 1 : 0;
}

/* Sends raw bytes and returns everything the daemon answers; the caller frees it. */
static char *
raw_request(const char *sock, const char *data, size_t len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    for (size_t off = 0; off < len;) {
        ssize_t k = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    shutdown(fd, SHUT_WR);
    struct cn_buf b;
    cn_buf_init(&b);
    char chunk[4096];
    ssize_t k;
    while ((k = recv(fd, chunk, sizeof(chunk), 0)) > 0)
        cn_buf_add(&b, chunk, (size_t)k);
    close(fd);
    return cn_buf_detach(&b);
}

static ino_t
inode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* ---- configuration ---- */

static int
test_config_ok(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    const char *text = "# CloudNet image cache\n"
                       "store /var/lib/cloudnet/images/\n"
                       "socket /run/cloudnet/clipd.sock   # the socket\n"
                       "\n"
                       "budget 20G\n"
                       "refillrate 100M\n"
                       "copymethod readwrite\n"
                       "destdir /srv/vms\n"
                       "template debian-12 /srv/templates/debian-12.qcow2 copies 2\n"
                       "\ttemplate alpine /srv/templates/alpine.raw\n";
    struct clip_config *cfg = clip_config_parse("x.conf", text, &err);
    CHECK(cfg);
    CHECK_STR(cfg->store, "/var/lib/cloudnet/images");
    CHECK_STR(cfg->socket, "/run/cloudnet/clipd.sock");
    CHECK(cfg->budget == 20ULL << 30);
    CHECK(cfg->refill_rate == 100ULL << 20);
    CHECK(cfg->method == CLIP_COPY_READWRITE);
    CHECK(cfg->n_destdirs == 1);
    CHECK_STR(cfg->destdirs[0].path, "/srv/vms");
    CHECK(cfg->n_templates == 2);
    CHECK_STR(cfg->templates[0].name, "debian-12");
    CHECK_STR(cfg->templates[0].path, "/srv/templates/debian-12.qcow2");
    CHECK(cfg->templates[0].copies == 2);
    CHECK(cfg->templates[0].line == 9);
    CHECK_STR(cfg->templates[1].name, "alpine");
    CHECK(cfg->templates[1].copies == 1);
    CHECK(cfg->rescan == 10);
    clip_config_free(cfg);
    cn_err_release(&err);
    return 0;
}

static int
test_parse_size(const void *data)
{
    (void)data;
    unsigned long long v = 0;
    CHECK(clip_parse_size("4096", &v) == 0 && v == 4096);
    CHECK(clip_parse_size("512K", &v) == 0 && v == 512ULL << 10);
    CHECK(clip_parse_size("3m", &v) == 0 && v == 3ULL << 20);
    CHECK(clip_parse_size("20G", &v) == 0 && v == 20ULL << 30);
    CHECK(clip_parse_size("2GiB", &v) == 0 && v == 2ULL << 30);
    CHECK(clip_parse_size("1T", &v) == 0 && v == 1ULL << 40);
    v = 7;
    CHECK(clip_parse_size("", &v) < 0);
    CHECK(clip_parse_size("-1", &v) < 0);
    CHECK(clip_parse_size("12X", &v) < 0);
    CHECK(clip_parse_size("G", &v) < 0);
    CHECK(clip_parse_size("99999999999999T", &v) < 0);
    CHECK(v == 7);
    return 0;
}

struct bad_config {
    const char *text;
    const char *message; /* expected in the error, "FILE:LINE: ..." */
};

static const struct bad_config bad_configs[] = {
    {"store /s\nsocket /s.sock\nfrobnicate 3\ntemplate a /a\n",
     "b.conf:3: unknown directive 'frobnicate'"},
    {"store s\nsocket /s.sock\ntemplate a /a\n", "b.conf:1: store 's' is not an absolute path"},
    {"store /s\nstore /t\nsocket /s.sock\ntemplate a /a\n",
     "b.conf:2: 'store' given twice (first on line 1)"},
    {"store /s\nsocket /s.sock\nbudget lots\ntemplate a /a\n",
     "b.conf:3: budget 'lots' is not a size"},
    {"store /s\nsocket /s.sock\ntemplate a /a copies -1\n",
     "b.conf:3: copies must be a whole number from 0 to 1000, not '-1'"},
    {"store /s\nsocket /s.sock\ntemplate a /a copies\n",
     "b.conf:3: usage: template NAME PATH [copies N]"},
    {"store /s\nsocket /s.sock\ntemplate a /a number 2\n",
     "b.conf:3: unknown template option 'number'"},
    {"store /s\nsocket /s.sock\ntemplate a/b /a\n", "b.conf:3: template name 'a/b' must be"},
    {"store /s\nsocket /s.sock\ntemplate a /a\n\ntemplate a /b\n",
     "b.conf:5: template 'a' already defined on line 3"},
    {"store /s\nsocket /s.sock\ntemplate a a.img\n",
     "b.conf:3: template path 'a.img' is not an absolute path"},
    {"store /s\nsocket /s.sock\ncopymethod fast\ntemplate a /a\n",
     "b.conf:3: copymethod must be auto, reflink, copy_file_range or readwrite"},
    {"store /s\nsocket /s.sock extra\ntemplate a /a\n", "b.conf:2: usage: socket PATH"},
    {"store /s\nsocket /s.sock\nrescan 0\ntemplate a /a\n", "b.conf:3: rescan must be"},
    {"store /s\nsocket /s.sock\n", "b.conf: no 'template' directive"},
    {"socket /s.sock\ntemplate a /a\n", "b.conf: no 'store' directive"},
    {"store /s\ntemplate a /a\n", "b.conf: no 'socket' directive"},
    {"store /s\nsocket /"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaa\ntemplate a /a\n",
     "b.conf:2: socket path is longer than"},
};

static int
test_config_errors(const void *data)
{
    (void)data;
    for (size_t i = 0; i < CN_ARRAY_SIZE(bad_configs); i++) {
        struct cn_err err = CN_ERR_INIT;
        cn_err_init(&err);
        struct clip_config *cfg = clip_config_parse("b.conf", bad_configs[i].text, &err);
        if (cfg || !strstr(cn_err_msg(&err), bad_configs[i].message)) {
            fprintf(stderr, "  case %zu: got '%s', expected '%s'\n", i, cn_err_msg(&err),
                    bad_configs[i].message);
            clip_config_free(cfg);
            cn_err_release(&err);
            return -1;
        }
        CHECK(err.code == CN_E_INVALID);
        cn_err_release(&err);
    }
    /* Every problem is reported, not just the first. */
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    CHECK(
        !clip_config_parse("m.conf", "store /s\nsocket /x\nbogus\ntemplate a /a copies x\n", &err));
    CHECK(strstr(cn_err_msg(&err), "m.conf:3: unknown directive 'bogus'"));
    CHECK(strstr(cn_err_msg(&err), "m.conf:4: copies must be"));
    cn_err_release(&err);
    return 0;
}

/* Runs clipd with the given configuration text; returns its exit status, output in *ret_out. */
static int
run_with_config(struct daemon *d, const char *text, const char *opt, char **ret_out)
{
    if (test_write_text(d->td.conf, text) < 0)
        return -1;
    return run_clipd(d, opt, ret_out);
}

static int
test_daemon_bad_config(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *out = NULL, *text = NULL, *want = NULL, *tpl = NULL;
    if (daemon_setup(&d, "badconf", "") < 0)
        FAIL();

    /* A syntax error: FILE:LINE and a non-zero exit. */
    text = xasprintf("store %s\nsocket %s\nbudget 1Q\ntemplate a /x\n", d.store, d.sock);
    if (run_with_config(&d, text, "-d", &out) == 0)
        FAIL();
    want = xasprintf("%s:3: budget '1Q' is not a size", d.td.conf);
    if (!strstr(out, want))
        FAIL();
    free(out), free(text), free(want);
    out = text = want = NULL;

    /* A template file that does not exist: caught at start-up, with its line. */
    text = xasprintf("store %s\nsocket %s\n\ntemplate a %s/missing.img\n", d.store, d.sock, d.dir);
    if (run_with_config(&d, text, "-d", &out) == 0)
        FAIL();
    want =
        xasprintf("%s:4: template a: %s/missing.img: No such file or directory", d.td.conf, d.dir);
    if (!strstr(out, want) || exists(d.sock))
        FAIL();
    free(out), free(text), free(want);
    out = text = want = NULL;

    /* A store that does not exist. */
    tpl = xasprintf("%s/t.img", d.dir);
    test_write_random(tpl, 1000, 1);
    text = xasprintf("store %s/nowhere\nsocket %s\ntemplate a %s\n", d.dir, d.sock, tpl);
    if (run_with_config(&d, text, "-d", &out) == 0)
        FAIL();
    want = xasprintf("%s:1: %s/nowhere: No such file or directory", d.td.conf, d.dir);
    if (!strstr(out, want))
        FAIL();
    free(out), free(text), free(want);
    out = text = want = NULL;

    /* A missing configuration file. */
    unlink(d.td.conf);
    if (run_clipd(&d, "-d", &out) <= 0)
        FAIL();
    free(out);
    out = NULL;

    /* -n accepts a good configuration; -h and a bad option behave. */
    text = xasprintf("store %s\nsocket %s\ntemplate a %s copies 0\n", d.store, d.sock, tpl);
    if (run_with_config(&d, text, "-n", &out) != 0 || !strstr(out, "configuration ok"))
        FAIL();
    free(out);
    out = NULL;
    if (run_with_config(&d, text, "-h", &out) != 0 || !strstr(out, "usage: clipd"))
        FAIL();
    free(out);
    out = NULL;
    if (run_with_config(&d, text, "-x", &out) == 0 || !strstr(out, "usage: clipd"))
        FAIL();
    ret = 0;
cleanup:
    if (ret < 0)
        fprintf(stderr, "  output: %s\n", out ? out : "(none)");
    free(out);
    free(text);
    free(want);
    free(tpl);
    daemon_release(&d);
    return ret;
}

/* ---- copying ---- */

static bool
never(void *arg)
{
    (void)arg;
    return false;
}

static int
test_copy_methods(const void *data)
{
    (void)data;
    static const enum clip_copy_method methods[] = {CLIP_COPY_AUTO, CLIP_COPY_RANGE,
                                                    CLIP_COPY_READWRITE};
    char *dir = new_dir("copy");
    CHECK(dir);
    char *src = xasprintf("%s/src", dir), *dst = xasprintf("%s/dst", dir);
    int ret = -1;
    /* Random data with a hole in the middle, and an odd length. */
    if (test_write_random(src, 3 * 1024 * 1024 + 17, 5) < 0)
        FAIL();
    int fd = open(src, O_WRONLY);
    static char zeros[1024 * 1024];
    if (fd < 0 || pwrite(fd, zeros, sizeof(zeros), 1024 * 1024) != (ssize_t)sizeof(zeros))
        FAIL();
    close(fd);
    for (size_t i = 0; i < CN_ARRAY_SIZE(methods); i++) {
        unlink(dst);
        int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
        struct stat st;
        fstat(in, &st);
        struct clip_copy_ctl ctl = {.method = methods[i]};
        enum clip_copy_method used = CLIP_COPY_AUTO;
        struct cn_err err = CN_ERR_INIT;
        cn_err_init(&err);
        int rc = clip_copy_fd(in, out, st.st_size, &ctl, &used, &err);
        close(in);
        close(out);
        cn_err_release(&err);
        if (rc < 0 || !same_content(src, dst) || used == CLIP_COPY_AUTO)
            FAIL();
        if (methods[i] == CLIP_COPY_READWRITE && used != CLIP_COPY_READWRITE)
            FAIL();
    }

    /* A copy told to stop gives up with CN_E_BUSY. */
    unlink(dst);
    int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
    struct clip_copy_ctl stop = {.method = CLIP_COPY_READWRITE, .keep_going = never};
    enum clip_copy_method used = CLIP_COPY_AUTO;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int rc = clip_copy_fd(in, out, 3 * 1024 * 1024, &stop, &used, &err);
    close(in);
    close(out);
    int code = err.code;
    cn_err_release(&err);
    if (rc == 0 || code != CN_E_BUSY || used != CLIP_COPY_AUTO)
        FAIL();

    /* The rate limit is honoured: 3 MiB at 6 MiB/s takes about half a second. */
    unlink(dst);
    in = open(src, O_RDONLY);
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
    struct clip_copy_ctl slow = {.method = CLIP_COPY_READWRITE, .rate = 6 * 1024 * 1024};
    cn_err_init(&err);
    double t0 = cn_now();
    rc = clip_copy_fd(in, out, 3 * 1024 * 1024 + 17, &slow, &used, &err);
    double took = cn_now() - t0;
    close(in);
    close(out);
    cn_err_release(&err);
    if (rc < 0 || took < 0.4 || !same_content(src, dst))
        FAIL();
    ret = 0;
cleanup:
    free(src);
    free(dst);
    test_rm_tree(dir);
    free(dir);
    return ret;
}

/* ---- the daemon ---- */

static int
test_hit_and_miss(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *tpl = NULL, *a = NULL, *b = NULL, *c = NULL, *rdir = NULL, *extra = NULL;
    char *ready = NULL, *ready_path = NULL;
    tpl = xasprintf("%s/hit/t.img", scratch);
    extra = xasprintf("template cached %s copies 2\ntemplate nocache %s copies 0\n", tpl, tpl);
    if (daemon_setup(&d, "hit", extra) < 0 || test_write_random(tpl, 2 * 1024 * 1024 + 5, 2) < 0 ||
        daemon_start(&d) < 0 || !wait_ready(&d, "cached", 2))
        FAIL();
    a = xasprintf("%s/a.img", d.dest);
    b = xasprintf("%s/b.img", d.store); /* the store itself is allowed too */
    c = xasprintf("%s/c.img", d.dest);

    /* A hit is the rename of a ready copy: DEST gets that very inode. */
    rdir = xasprintf("%s/.clipd/cached", d.store);
    ready = find_file(rdir, "ready.");
    if (!ready)
        FAIL();
    ready_path = xasprintf("%s/%s", rdir, ready);
    ino_t ready_ino = inode_of(ready_path);
    int r1 = take(&d, "cached", a, NULL);
    int r2 = take(&d, "cached", b, NULL);
    if (r1 != 1 || r2 != 1 || !same_content(tpl, a) || !same_content(tpl, b))
        FAIL();
    if (inode_of(a) != ready_ino && inode_of(b) != ready_ino)
        FAIL();
    if (exists(ready_path))
        FAIL();

    /* A template kept without copies always misses, and the copy is complete. */
    if (take(&d, "nocache", c, NULL) != 0 || !same_content(tpl, c))
        FAIL();
    struct clip_template_status sc = tstatus(&d, "cached"), sn = tstatus(&d, "nocache");
    if (sc.hits != 2 || sc.misses != 0 || sn.hits != 0 || sn.misses != 1 || sn.ready != 0)
        FAIL();
    if (strcmp(sn.method, "reflink") != 0 && strcmp(sn.method, "copy_file_range") != 0 &&
        strcmp(sn.method, "readwrite") != 0)
        FAIL();
    /* After the takes the refill brings "cached" back to two copies. */
    if (!wait_ready(&d, "cached", 2))
        FAIL();
    sc = tstatus(&d, "cached");
    if (sc.bytes != 2ULL * (2 * 1024 * 1024 + 5) || sc.copies != 2)
        FAIL();
    if (daemon_stop(&d) != 0 || exists(d.sock))
        FAIL();
    ret = 0;
cleanup:
    free(tpl), free(a), free(b), free(c), free(rdir), free(extra), free(ready), free(ready_path);
    daemon_release(&d);
    return ret;
}

static int
test_refill_count(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *tpl = xasprintf("%s/refill/t.img", scratch);
    char *extra = xasprintf("template t %s copies 3\n", tpl);
    char *rdir = NULL, *p = NULL;
    if (daemon_setup(&d, "refill", extra) < 0 || test_write_random(tpl, 512 * 1024, 3) < 0 ||
        daemon_start(&d) < 0 || !wait_ready(&d, "t", 3))
        FAIL();
    rdir = xasprintf("%s/.clipd/t", d.store);
    /* It stops at the configured count. */
    test_sleep_ms(500);
    if (tstatus(&d, "t").ready != 3 || count_files(rdir, "ready.") != 3 ||
        count_files(rdir, "tmp.") != 0)
        FAIL();
    for (int i = 0; i < 2; i++) {
        free(p);
        p = xasprintf("%s/x%d", d.dest, i);
        if (take(&d, "t", p, NULL) < 0)
            FAIL();
    }
    if (!wait_ready(&d, "t", 3) || count_files(rdir, "ready.") != 3)
        FAIL();

    /* A clean restart adopts the copies instead of making new ones. */
    if (daemon_stop(&d) != 0 || daemon_start(&d) < 0)
        FAIL();
    struct clip_template_status s = tstatus(&d, "t");
    if (s.ready != 3 || s.hits != 0 || strcmp(s.method, "none") != 0)
        FAIL();
    free(p);
    p = xasprintf("%s/after-restart", d.dest);
    if (take(&d, "t", p, NULL) != 1 || !same_content(tpl, p))
        FAIL();
    ret = daemon_stop(&d) == 0 ? 0 : -1;
cleanup:
    free(tpl), free(extra), free(rdir), free(p);
    daemon_release(&d);
    return ret;
}

static int
test_budget(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *big = xasprintf("%s/budget/big.img", scratch);
    char *small = xasprintf("%s/budget/small.img", scratch);
    /* Room for two big copies (2 MiB) plus two small ones (256 KiB), not a third big one. */
    char *extra = xasprintf("budget 2560K\ntemplate big %s copies 5\n"
                            "template small %s copies 2\n",
                            big, small);
    char *rdir = NULL;
    if (daemon_setup(&d, "budget", extra) < 0 || test_write_random(big, 1024 * 1024, 4) < 0 ||
        test_write_random(small, 128 * 1024, 5) < 0 || daemon_start(&d) < 0 ||
        !wait_ready(&d, "big", 2) || !wait_ready(&d, "small", 2))
        FAIL();
    test_sleep_ms(700);
    struct clip_template_status sb = tstatus(&d, "big"), ss = tstatus(&d, "small");
    rdir = xasprintf("%s/.clipd/big", d.store);
    if (sb.ready != 2 || ss.ready != 2 || sb.bytes + ss.bytes > 2560 * 1024 ||
        count_files(rdir, "ready.") != 2)
        FAIL();
    if (daemon_stop(&d) != 0)
        FAIL();

    /* A budget lowered while the daemon was down is enforced at start-up. */
    free(extra);
    extra =
        xasprintf("budget 1M\ntemplate big %s copies 5\ntemplate small %s copies 0\n", big, small);
    daemon_config(&d, extra);
    if (daemon_start(&d) < 0)
        FAIL();
    sb = tstatus(&d, "big");
    if (sb.ready != 1 || sb.bytes != 1024 * 1024 || count_files(rdir, "ready.") != 1)
        FAIL();
    ret = daemon_stop(&d) == 0 ? 0 : -1;
cleanup:
    free(big), free(small), free(extra), free(rdir);
    daemon_release(&d);
    return ret;
}

static int
test_template_change(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *tpl = xasprintf("%s/change/t.img", scratch);
    char *extra = xasprintf("template t %s copies 2\n", tpl);
    char *a = NULL, *b = NULL, *c = NULL, *rdir = NULL, *r = NULL;
    if (daemon_setup(&d, "change", extra) < 0 || test_write_random(tpl, 1024 * 1024, 6) < 0 ||
        daemon_start(&d) < 0 || !wait_ready(&d, "t", 2))
        FAIL();
    /* Let the refill thread go back to sleep, so that the take is first to notice. */
    test_sleep_ms(200);

    /* Same size, mtime put back: only the ctime tells, and it is enough. */
    struct stat st;
    stat(tpl, &st);
    int fd = open(tpl, O_WRONLY);
    if (fd < 0 || pwrite(fd, "CHANGED", 7, 4096) != 7)
        FAIL();
    close(fd);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    utimensat(AT_FDCWD, tpl, times, 0);
    a = xasprintf("%s/a", d.dest);
    if (take(&d, "t", a, NULL) != 0 || !same_content(tpl, a))
        FAIL();

    /* The refill makes copies of the new content. */
    if (!wait_ready(&d, "t", 2))
        FAIL();
    rdir = xasprintf("%s/.clipd/t", d.store);
    char *name = find_file(rdir, "ready.");
    r = name ? xasprintf("%s/%s", rdir, name) : NULL;
    free(name);
    if (!r || !same_content(tpl, r))
        FAIL();
    b = xasprintf("%s/b", d.dest);
    if (take(&d, "t", b, NULL) != 1 || !same_content(tpl, b))
        FAIL();

    /* A template replaced while the daemon is down: the old copies are not adopted. */
    if (!wait_ready(&d, "t", 2) || daemon_stop(&d) != 0)
        FAIL();
    if (test_write_random(tpl, 1024 * 1024 + 1, 7) < 0 || daemon_start(&d) < 0)
        FAIL();
    c = xasprintf("%s/c", d.dest);
    int rc = take(&d, "t", c, NULL);
    if (rc < 0 || !same_content(tpl, c))
        FAIL();

    /* A template that disappears cannot be taken. */
    free(a);
    a = xasprintf("%s/d", d.dest);
    int code = 0;
    unlink(tpl);
    if (take(&d, "t", a, &code) != -1 || code != CN_E_NOTFOUND || exists(a))
        FAIL();
    if (tstatus(&d, "t").ready != 0 || !files_gone(rdir, "ready."))
        FAIL();
    ret = daemon_stop(&d) == 0 ? 0 : -1;
cleanup:
    free(tpl), free(extra), free(a), free(b), free(c), free(rdir), free(r);
    daemon_release(&d);
    return ret;
}

#define N_THREADS 8
#define N_PROCS 4
#define TAKES_PER_PROC 3

struct taker {
    const struct daemon *d;
    char *dest;
    int result;
};

static void *
taker_main(void *arg)
{
    struct taker *tk = arg;
    tk->result = take(tk->d, "t", tk->dest, NULL);
    return NULL;
}

static int
test_concurrent_takes(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *tpl = xasprintf("%s/conc/t.img", scratch);
    char *extra = xasprintf("template t %s copies 6\n", tpl);
    struct taker tk[N_THREADS];
    memset(tk, 0, sizeof(tk));
    char *paths[N_THREADS + N_PROCS * TAKES_PER_PROC] = {NULL};
    size_t n_paths = 0;
    if (daemon_setup(&d, "conc", extra) < 0 || test_write_random(tpl, 256 * 1024, 8) < 0 ||
        daemon_start(&d) < 0 || !wait_ready(&d, "t", 6))
        FAIL();

    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        tk[i].d = &d;
        tk[i].dest = xasprintf("%s/thread%d", d.dest, i);
        paths[n_paths++] = tk[i].dest;
        pthread_create(&th[i], NULL, taker_main, &tk[i]);
    }
    int hits = 0;
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        if (tk[i].result < 0)
            FAIL();
        hits += tk[i].result;
    }
    if (hits < 1 || hits > N_THREADS)
        FAIL();

    if (!wait_ready(&d, "t", 6))
        FAIL();
    pid_t kids[N_PROCS];
    for (int p = 0; p < N_PROCS; p++) {
        for (int k = 0; k < TAKES_PER_PROC; k++)
            paths[n_paths++] = xasprintf("%s/proc%d-%d", d.dest, p, k);
        kids[p] = fork();
        if (kids[p] == 0) {
            int bad = 0;
            for (int k = 0; k < TAKES_PER_PROC; k++)
                bad += take(&d, "t", paths[n_paths - TAKES_PER_PROC + k], NULL) < 0;
            _exit(bad ? 1 : 0);
        }
    }
    for (int p = 0; p < N_PROCS; p++) {
        int status;
        if (waitpid(kids[p], &status, 0) != kids[p] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            FAIL();
    }

    /* Every take got its own complete file. */
    for (size_t i = 0; i < n_paths; i++) {
        if (!same_content(tpl, paths[i]))
            FAIL();
        for (size_t j = 0; j < i; j++)
            if (inode_of(paths[i]) == inode_of(paths[j]))
                FAIL();
    }
    struct clip_template_status s = tstatus(&d, "t");
    if (s.hits + s.misses != n_paths || s.hits < (unsigned long long)hits)
        FAIL();
    ret = daemon_stop(&d) == 0 ? 0 : -1;
cleanup:
    for (size_t i = 0; i < n_paths; i++)
        free(paths[i]);
    free(tpl), free(extra);
    daemon_release(&d);
    return ret;
}

/* Waits for a temporary copy of at least min bytes in dir; returns its name. */
static char *
wait_partial(const char *dir, off_t min)
{
    double end = cn_now() + WAIT_S;
    while (cn_now() < end) {
        char *name = find_file(dir, "tmp.");
        if (name) {
            char *p = xasprintf("%s/%s", dir, name);
            struct stat st;
            bool big = stat(p, &st) == 0 && st.st_size >= min;
            free(p);
            if (big)
                return name;
            free(name);
        }
        test_sleep_ms(5);
    }
    return NULL;
}

static int
test_crash_during_refill(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    const size_t size = 32 * 1024 * 1024;
    char *tpl = xasprintf("%s/crash/t.img", scratch);
    /* Slow refill so that the daemon is surely in the middle of a copy when killed. */
    char *extra = xasprintf("copymethod readwrite\nrefillrate 4M\ntemplate t %s copies 1\n", tpl);
    char *rdir = NULL, *tmp = NULL, *tmp_path = NULL, *a = NULL, *b = NULL, *conf = NULL;
    if (daemon_setup(&d, "crash", extra) < 0 || test_write_random(tpl, size, 9) < 0 ||
        daemon_start(&d) < 0)
        FAIL();
    rdir = xasprintf("%s/.clipd/t", d.store);
    tmp = wait_partial(rdir, 1024 * 1024);
    if (!tmp)
        FAIL();
    tmp_path = xasprintf("%s/%s", rdir, tmp);

    /* While the copy is being written, a take cannot get it: it copies instead. */
    a = xasprintf("%s/a", d.dest);
    if (take(&d, "t", a, NULL) != 0 || !same_content(tpl, a))
        FAIL();

    test_daemon_stop(&d.td, SIGKILL);
    struct stat st;
    if (stat(tmp_path, &st) < 0 || (size_t)st.st_size >= size || count_files(rdir, "ready.") != 0)
        FAIL();

    /* Restart at full speed: the leftover goes, the socket left behind is replaced. */
    conf = xasprintf("template t %s copies 1\n", tpl);
    daemon_config(&d, conf);
    if (!exists(d.sock) || daemon_start(&d) < 0 || exists(tmp_path))
        FAIL();
    b = xasprintf("%s/b", d.dest);
    if (take(&d, "t", b, NULL) < 0 || !same_content(tpl, b))
        FAIL();
    if (!wait_ready(&d, "t", 1) || count_files(rdir, "tmp.") != 0)
        FAIL();
    ret = daemon_stop(&d) == 0 ? 0 : -1;
cleanup:
    free(tpl), free(extra), free(rdir), free(tmp), free(tmp_path), free(a), free(b), free(conf);
    daemon_release(&d);
    return ret;
}

static int
test_sigterm_during_refill(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *tpl = xasprintf("%s/term/t.img", scratch);
    char *extra = xasprintf("copymethod readwrite\nrefillrate 2M\ntemplate t %s copies 1\n", tpl);
    char *rdir = NULL, *tmp = NULL;
    if (daemon_setup(&d, "term", extra) < 0 || test_write_random(tpl, 16 * 1024 * 1024, 10) < 0 ||
        daemon_start(&d) < 0)
        FAIL();
    rdir = xasprintf("%s/.clipd/t", d.store);
    tmp = wait_partial(rdir, 1);
    if (!tmp)
        FAIL();
    /* It stops promptly, mid-copy, removing its temporary copy and its socket. */
    double t0 = cn_now();
    if (daemon_stop(&d) != 0 || cn_now() - t0 > 5.0)
        FAIL();
    if (exists(d.sock) || count_files(rdir, "tmp.") != 0 || count_files(rdir, "ready.") != 0)
        FAIL();
    ret = 0;
cleanup:
    free(tpl), free(extra), free(rdir), free(tmp);
    daemon_release(&d);
    return ret;
}

static int
test_second_daemon_refused(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *tpl = xasprintf("%s/twice/t.img", scratch);
    char *extra = xasprintf("template t %s copies 0\n", tpl);
    char *out = NULL;
    if (daemon_setup(&d, "twice", extra) < 0 || test_write_random(tpl, 1000, 11) < 0 ||
        daemon_start(&d) < 0)
        FAIL();
    if (run_clipd(&d, "-d", &out) <= 0 || !strstr(out, "another clipd is listening") ||
        !exists(d.sock))
        FAIL();
    ret = daemon_stop(&d) == 0 ? 0 : -1;
cleanup:
    free(tpl), free(extra), free(out);
    daemon_release(&d);
    return ret;
}

struct proto_case {
    const char *request;
    size_t len; /* 0: strlen(request) */
    const char *answer_prefix;
};

static int
test_protocol_errors(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *tpl = xasprintf("%s/proto/t.img", scratch);
    char *extra = xasprintf("template t %s copies 1\n", tpl);
    char *answer = NULL, *longreq = NULL, *req = NULL;
    if (daemon_setup(&d, "proto", extra) < 0 || test_write_random(tpl, 4096, 12) < 0 ||
        daemon_start(&d) < 0 || !wait_ready(&d, "t", 1))
        FAIL();
    char *dest = xasprintf("%s/ok", d.dest);
    char *take_ok = xasprintf("take t %s\n", dest);
    free(dest);
    const struct proto_case cases[] = {
        {"hello\n", 0, "err 1 unknown command 'hello'"},
        {"\n", 0, "err 1 empty request\n"},
        {"take\n", 0, "err 1 usage: take TEMPLATE DEST\n"},
        {"take t\n", 0, "err 1 usage: take TEMPLATE DEST\n"},
        {"take t \n", 0, "err 1 usage: take TEMPLATE DEST\n"},
        {"take  /x\n", 0, "err 1 usage: take TEMPLATE DEST\n"},
        {"take ../t /x\n", 0, "err 1 bad template name\n"},
        {"take nope /x\n", 0, "err 3 unknown template 'nope'\n"},
        {"take t relative/path\n", 0, "err 1 DEST must be an absolute path\n"},
        {"status now\n", 0, "err 1 usage: status\n"},
        {"take t /a\x01\n", 0, "err 1 request contains control characters\n"},
        {"take t /a\0b\n", 12, "err 1 request contains control characters\n"},
        {"STATUS\n", 0, "err 1 unknown command 'STATUS'"},
        /* CRLF is accepted; several requests share a connection. */
        {"status\r\nstatus\n", 0,
         "ok 1\ntemplate t ready 1 copies 1 hits 0 misses 0 bytes 4096 "
         "method "},
        {take_ok, 0, "ok hit\n"},
        {take_ok, 0, "err 1 DEST already exists\n"},
    };
    for (size_t i = 0; i < CN_ARRAY_SIZE(cases); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].request);
        answer = raw_request(d.sock, cases[i].request, len);
        if (!answer || !cn_startswith(answer, cases[i].answer_prefix)) {
            fprintf(stderr, "  case %zu: got '%s', expected '%s'\n", i, answer ? answer : "(null)",
                    cases[i].answer_prefix);
            free(take_ok);
            FAIL();
        }
        if (i == 13 && !strstr(answer + 10, "\nok 1\n"))
            FAIL();
        free(answer);
        answer = NULL;
    }
    free(take_ok);

    /* An over-long line gets a limit error and the connection is closed. */
    longreq = xmalloc(20000);
    memset(longreq, 'x', 20000);
    answer = raw_request(d.sock, longreq, 20000);
    if (!answer || !cn_startswith(answer, "err 13 request line longer than 8192 bytes\n"))
        FAIL();
    free(answer);
    answer = NULL;

    /* A request without its newline is not served. */
    answer = raw_request(d.sock, "status", 6);
    if (!answer || *answer)
        FAIL();
    ret = daemon_stop(&d) == 0 ? 0 : -1;
cleanup:
    free(tpl), free(extra), free(answer), free(longreq), free(req);
    daemon_release(&d);
    return ret;
}

struct dest_case {
    const char *dest; /* %s is the scratch directory of the test */
    int code;         /* expected error, or 0 for success */
};

static int
test_dest_rules(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *tpl = xasprintf("%s/dests/t.img", scratch);
    char *extra = xasprintf("template t %s copies 0\n", tpl);
    char *p = NULL, *victim = NULL, *link = NULL, *outside = NULL;
    if (daemon_setup(&d, "dests", extra) < 0 || test_write_random(tpl, 8192, 13) < 0)
        FAIL();
    outside = xasprintf("%s/outside", d.dir);
    victim = xasprintf("%s/dest/victim", d.dir);
    link = xasprintf("%s/dest/link", d.dir);
    p = xasprintf("%s/dest/sub", d.dir);
    if (mkdir(outside, 0755) < 0 || mkdir(p, 0755) < 0 || test_write_text(victim, "keep me") < 0 ||
        symlink(outside, link) < 0 || daemon_start(&d) < 0)
        FAIL();
    free(p);
    p = NULL;
    const struct dest_case cases[] = {
        {"%s/dest/new.img", 0},
        {"%s/dest/sub/new.img", 0},
        {"%s/store/new.img", 0},
        {"%s/outside/x.img", CN_E_FORBIDDEN},
        {"/etc/clipd-test-should-not-exist", CN_E_FORBIDDEN},
        {"%s/dest", CN_E_FORBIDDEN},
        {"%s/destination/x", CN_E_FORBIDDEN},
        {"%s/dest/../outside/x.img", CN_E_INVALID},
        {"%s/dest/./x.img", CN_E_INVALID},
        {"%s/dest//x.img", CN_E_INVALID},
        {"%s/dest/x.img/", CN_E_INVALID},
        {"%s/dest/link/x.img", CN_E_FORBIDDEN},
        {"%s/dest/victim", CN_E_INVALID},
        {"%s/dest/missing/x.img", CN_E_NOTFOUND},
        {"%s/dest/victim/x.img", CN_E_INVALID},
        {"%s/store/.clipd/t/x.img", CN_E_FORBIDDEN},
        {"%s/store/.clipd/t/signature", CN_E_FORBIDDEN},
        {"%s/store/.clipd", CN_E_INVALID},
        {"relative.img", CN_E_INVALID},
    };
    for (size_t i = 0; i < CN_ARRAY_SIZE(cases); i++) {
        free(p);
        p = strstr(cases[i].dest, "%s") ? xasprintf(cases[i].dest, d.dir) : xstrdup(cases[i].dest);
        int code = 0;
        int rc = take(&d, "t", p, &code);
        bool ok = cases[i].code ? (rc == -1 && code == cases[i].code) : rc == 0;
        if (!ok) {
            fprintf(stderr, "  case %zu (%s): rc %d code %d\n", i, p, rc, code);
            FAIL();
        }
        if (cases[i].code == 0 && !same_content(tpl, p))
            FAIL();
    }
    /* Nothing was written where it was refused. */
    char *text = test_read_text(victim);
    bool kept = text && cn_streq(text, "keep me");
    free(text);
    if (!kept || count_files(outside, "") != 2) /* "." and ".." */
        FAIL();

    /* The client library refuses what cannot be sent on one line. */
    int code = 0;
    free(p);
    p = xasprintf("%s/dest/a\nb", d.dir);
    if (take(&d, "t", p, &code) != -1 || code != CN_E_INVALID)
        FAIL();
    if (take(&d, "no/such", "/x", &code) != -1 || code != CN_E_INVALID)
        FAIL();
    ret = daemon_stop(&d) == 0 ? 0 : -1;
cleanup:
    free(tpl), free(extra), free(p), free(victim), free(link), free(outside);
    daemon_release(&d);
    return ret;
}

static int
test_unconfigured_template_removed(const void *data)
{
    (void)data;
    int ret = -1;
    struct daemon d;
    char *tpl = xasprintf("%s/gone/t.img", scratch);
    char *extra = xasprintf("template old %s copies 2\ntemplate keep %s copies 1\n", tpl, tpl);
    char *olddir = NULL, *conf = NULL;
    if (daemon_setup(&d, "gone", extra) < 0 || test_write_random(tpl, 4096, 14) < 0 ||
        daemon_start(&d) < 0 || !wait_ready(&d, "old", 2) || !wait_ready(&d, "keep", 1) ||
        daemon_stop(&d) != 0)
        FAIL();
    olddir = xasprintf("%s/.clipd/old", d.store);
    if (count_files(olddir, "ready.") != 2)
        FAIL();
    conf = xasprintf("template keep %s copies 1\n", tpl);
    daemon_config(&d, conf);
    if (daemon_start(&d) < 0 || exists(olddir) || tstatus(&d, "keep").ready != 1)
        FAIL();
    ret = daemon_stop(&d) == 0 ? 0 : -1;
cleanup:
    free(tpl), free(extra), free(olddir), free(conf);
    daemon_release(&d);
    return ret;
}

static int
test_client_errors(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool hit = true;
    char *sock = xasprintf("%s/no-such.sock", scratch);
    CHECK(clip_take(sock, "t", "/x", &hit, &err) == -1);
    CHECK(err.code == CN_E_IO);
    CHECK(strstr(cn_err_msg(&err), "cannot reach clipd"));
    CHECK(hit == true);
    struct clip_status *st = NULL;
    CHECK(clip_status(sock, &st, &err) == -1);
    CHECK(st == NULL);
    free(sock);
    cn_err_release(&err);
    clip_status_free(NULL);
    CHECK(clip_status_count(NULL) == 0);
    return 0;
}

int
main(int argc, char **argv)
{
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    snprintf(scratch, sizeof(scratch), "/tmp/clipd-test.XXXXXX");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        test_setup_ok(-1);
        return test_summary();
    }
    if (!test_setup_ok(test_bin_path(clipd_path, sizeof(clipd_path), argv[0], "clipd"))) {
        test_rm_tree(scratch);
        return test_summary();
    }
    TEST_RUN("config: a good file", test_config_ok, NULL);
    TEST_RUN("config: sizes", test_parse_size, NULL);
    TEST_RUN("config: errors give FILE:LINE", test_config_errors, NULL);
    TEST_RUN("daemon: bad configuration exits non-zero", test_daemon_bad_config, NULL);
    TEST_RUN("copy: methods, cancel, rate", test_copy_methods, NULL);
    TEST_RUN("client: no daemon", test_client_errors, NULL);
    TEST_RUN("daemon: hit vs miss", test_hit_and_miss, NULL);
    TEST_RUN("daemon: refill reaches the count, restart adopts", test_refill_count, NULL);
    TEST_RUN("daemon: budget respected", test_budget, NULL);
    TEST_RUN("daemon: template change invalidates copies", test_template_change, NULL);
    TEST_RUN("daemon: concurrent takes get distinct files", test_concurrent_takes, NULL);
    TEST_RUN("daemon: kill -9 during refill", test_crash_during_refill, NULL);
    TEST_RUN("daemon: SIGTERM during refill", test_sigterm_during_refill, NULL);
    TEST_RUN("daemon: second daemon refused", test_second_daemon_refused, NULL);
    TEST_RUN("daemon: protocol errors", test_protocol_errors, NULL);
    TEST_RUN("daemon: DEST rules", test_dest_rules, NULL);
    TEST_RUN("daemon: unconfigured template removed", test_unconfigured_template_removed, NULL);
    test_rm_tree(scratch);
    return test_summary();
}
