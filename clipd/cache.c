/*
 * The cache of ready copies. Each template has a private directory
 * STORE/.clipd/NAME holding
 *
 *   ready.N     complete copies, handed out by a rename
 *   tmp.*       copies being written; only ever renamed to ready.N once
 *               complete and synced, and deleted on start-up
 *   signature   device, inode, size, mtime and ctime of the template the
 *               ready copies were made from
 *
 * A take pops a ready copy from the in-memory list under the lock, so two
 * takes can never get the same file, and renames it to DEST outside the
 * lock. A background thread refills the lists while no take is running,
 * within the configured count and disk budget. A template whose stat no
 * longer matches its signature loses its ready copies, both when a take
 * notices and when the refill thread looks (at every wake-up, at least
 * every `rescan` seconds). ctime cannot be set from user space, so any
 * write to the template is noticed even if its mtime is put back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CLIP_PRIV_H_ALLOW
#include "clipd/clip_priv.h"
#include "util/util.h"

#define CACHE_DIR ".clipd"
#define SIG_FILE "signature"
#define READY_PREFIX "ready."
#define TMP_PREFIX "tmp."
#define DEST_TMP_PREFIX ".clipd-tmp."
/*
 * How long the refill waits after the last take before it starts a copy.
 * Takes come in bursts (one per VNode of a CloudNet), and a copy started
 * right after one take would compete for CPU and disk with the answer to
 * it and with the next take.
 */
#define QUIET_S 0.1

struct sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct tmpl {
    const struct clip_template_conf *conf;
    int dirfd;
    bool sig_known;       /* false while the template file is missing */
    struct sig sig;       /* what the ready copies were made from */
    unsigned long *ready; /* sequence numbers of ready.N, used as a stack */
    size_t n_ready, cap_ready;
    unsigned long next_seq;
    unsigned long long hits, misses;
    const char *method; /* of the latest copy */
    double retry_after; /* after a failed refill, when to try again */
};

/* A directory DEST may be created in: the store or a destdir. */
struct allowed {
    char *path; /* as configured */
    char *real; /* resolved, so a client may name it either way */
    int fd;
};

struct clip_cache {
    const struct clip_config *cfg;
    int cachefd;
    dev_t cache_dev;
    ino_t cache_ino;
    struct allowed *allowed;
    size_t n_allowed, cap_allowed;
    struct tmpl *t;
    size_t n_t;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled when takes drop, on stop, on template changes */
    unsigned takes;      /* takes in progress; refill waits while non-zero */
    double last_take;    /* cn_now() when the latest take ended */
    bool stopping;
    bool started;
    unsigned long long used; /* bytes of ready copies plus the refill in progress */
    pthread_t thread;

    void (*notify)(int level, const char *msg, void *arg);
    void *notify_arg;
};

static atomic_ulong tmp_counter;

static void CN_PRINTF(3, 4) note(const struct clip_cache *c, int level, const char *fmt, ...)
{
    if (!c->notify)
        return;
    struct cn_buf b;
    cn_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    cn_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    c->notify(level, b.s, c->notify_arg);
    cn_buf_release(&b);
}

void
clip_cache_set_notify(struct clip_cache *c, void (*fn)(int level, const char *msg, void *arg),
                      void *arg)
{
    c->notify = fn;
    c->notify_arg = arg;
}

/* ---- signatures ---- */

static struct sig
sig_of(const struct stat *st)
{
    struct sig s = {st->st_dev, st->st_ino, st->st_size, st->st_mtim, st->st_ctim};
    return s;
}

static bool
sig_equal(const struct sig *a, const struct sig *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Creates a new file under a unique temporary name in dirfd; name gets the name. */
static int
open_tmp(int dirfd, const char *prefix, char *name, size_t name_size, mode_t mode)
{
    for (int tries = 0; tries < 100; tries++) {
        unsigned long n = atomic_fetch_add(&tmp_counter, 1);
        snprintf(name, name_size, "%s%ld.%lu", prefix, (long)getpid(), n);
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

static int
write_sig(const struct tmpl *t, struct cn_err *err)
{
    char name[64], text[256];
    int len = snprintf(text, sizeof(text), "%ju %ju %jd %jd %ld %jd %ld\n", (uintmax_t)t->sig.dev,
                       (uintmax_t)t->sig.ino, (intmax_t)t->sig.size, (intmax_t)t->sig.mtime.tv_sec,
                       t->sig.mtime.tv_nsec, (intmax_t)t->sig.ctime.tv_sec, t->sig.ctime.tv_nsec);
    int fd = open_tmp(t->dirfd, TMP_PREFIX, name, sizeof(name), 0600);
    if (fd < 0)
        return cn_err_set(err, CN_E_IO, "%s: %s", SIG_FILE, strerror(errno));
    bool ok = write(fd, text, (size_t)len) == len;
    ok = close(fd) == 0 && ok;
    if (!ok || renameat(t->dirfd, name, t->dirfd, SIG_FILE) < 0) {
        int e = errno;
        unlinkat(t->dirfd, name, 0);
        return cn_err_set(err, CN_E_IO, "%s: %s", SIG_FILE, strerror(e));
    }
    return 0;
}

static int
read_sig(const struct tmpl *t, struct sig *ret_sig)
{
    char text[256];
    int fd = openat(t->dirfd, SIG_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    uintmax_t dev, ino;
    intmax_t size, msec, csec;
    long mnsec, cnsec;
    if (sscanf(text, "%ju %ju %jd %jd %ld %jd %ld", &dev, &ino, &size, &msec, &mnsec, &csec,
               &cnsec) != 7)
        return -1;
    struct sig s = {
        (dev_t)dev, (ino_t)ino, (off_t)size, {(time_t)msec, mnsec}, {(time_t)csec, cnsec}};
    *ret_sig = s;
    return 0;
}

/* ---- ready copies ---- */

static void
ready_name(char *buf, size_t size, unsigned long seq)
{
    snprintf(buf, size, READY_PREFIX "%lu", seq);
}

static void
push_ready(struct tmpl *t, unsigned long seq)
{
    CN_GROW(t->ready, t->cap_ready, t->n_ready + 1);
    t->ready[t->n_ready++] = seq;
}

static unsigned long long
copy_bytes(const struct tmpl *t)
{
    return (unsigned long long)t->sig.size;
}

/* Deletes every ready copy of t. Called with the lock held (or before threads start). */
static void
drop_ready(struct clip_cache *c, struct tmpl *t)
{
    char name[64];
    for (size_t i = 0; i < t->n_ready; i++) {
        ready_name(name, sizeof(name), t->ready[i]);
        unlinkat(t->dirfd, name, 0);
    }
    c->used -= copy_bytes(t) * t->n_ready;
    t->n_ready = 0;
}

/*
 * Compares the template's current stat (NULL when it is missing) with the
 * signature of its ready copies and drops them when they differ. Lock held.
 */
static void
check_template_locked(struct clip_cache *c, struct tmpl *t, const struct stat *st)
{
    struct sig now;
    if (st) {
        now = sig_of(st);
        if (t->sig_known && sig_equal(&now, &t->sig))
            return;
    } else if (!t->sig_known) {
        return;
    }
    size_t dropped = t->n_ready;
    drop_ready(c, t);
    if (!st) {
        t->sig_known = false;
        note(c, 0, "template %s: %s is missing; dropped %zu ready copies", t->conf->name,
             t->conf->path, dropped);
        return;
    }
    t->sig = now;
    t->sig_known = true;
    t->retry_after = 0;
    struct cn_err e = CN_ERR_INIT;
    cn_err_init(&e);
    if (write_sig(t, &e) < 0)
        /* Harmless: at the next start the copies will not match and be dropped. */
        note(c, 0, "template %s: %s", t->conf->name, cn_err_msg(&e));
    cn_err_release(&e);
    if (dropped)
        note(c, 1, "template %s changed; dropped %zu ready copies", t->conf->name, dropped);
    pthread_cond_broadcast(&c->cond);
}

static void
stat_template_locked(struct clip_cache *c, struct tmpl *t)
{
    struct stat st;
    if (stat(t->conf->path, &st) == 0 && S_ISREG(st.st_mode))
        check_template_locked(c, t, &st);
    else
        check_template_locked(c, t, NULL);
}

/* ---- start-up ---- */

static bool
is_ready_name(const char *name, unsigned long *ret_seq)
{
    if (!cn_startswith(name, READY_PREFIX))
        return false;
    const char *digits = name + strlen(READY_PREFIX);
    if (!*digits || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 18)
        return false;
    *ret_seq = strtoul(digits, NULL, 10);
    return true;
}

/* Removes the files of a directory (one level: clipd creates no subdirectories). */
static void
empty_dir(int dirfd, bool keep_ready_and_sig)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    /* The duplicate shares the directory offset with earlier scans. */
    rewinddir(d);
    struct dirent *de;
    unsigned long seq;
    while ((de = readdir(d))) {
        if (cn_streq(de->d_name, ".") || cn_streq(de->d_name, ".."))
            continue;
        if (keep_ready_and_sig &&
            (cn_streq(de->d_name, SIG_FILE) || is_ready_name(de->d_name, &seq)))
            continue;
        unlinkat(dirfd, de->d_name, 0);
    }
    closedir(d);
}

/* Deletes the directories of templates that are no longer configured: their copies hold disk. */
static void
remove_stale_dirs(struct clip_cache *c)
{
    int fd = dup(c->cachefd);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    /* The duplicate shares the directory offset with earlier scans. */
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (cn_streq(de->d_name, ".") || cn_streq(de->d_name, ".."))
            continue;
        if (clip_config_template(c->cfg, de->d_name))
            continue;
        int sub = openat(c->cachefd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            empty_dir(sub, false);
            close(sub);
            if (unlinkat(c->cachefd, de->d_name, AT_REMOVEDIR) == 0)
                note(c, 1, "removed the copies of unconfigured template %s", de->d_name);
        } else {
            unlinkat(c->cachefd, de->d_name, 0);
        }
    }
    closedir(d);
}

/* Adopts the ready copies an earlier run left when they still match the template. */
static void
adopt_ready(struct clip_cache *c, struct tmpl *t)
{
    struct sig old;
    bool match = read_sig(t, &old) == 0 && sig_equal(&old, &t->sig);
    int fd = dup(t->dirfd);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    /* The duplicate shares the directory offset with earlier scans. */
    rewinddir(d);
    struct dirent *de;
    unsigned long seq;
    size_t removed = 0;
    while ((de = readdir(d))) {
        struct stat st;
        if (!is_ready_name(de->d_name, &seq))
            continue;
        if (seq >= t->next_seq)
            t->next_seq = seq + 1;
        if (match && t->n_ready < t->conf->copies &&
            fstatat(t->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            st.st_size == t->sig.size) {
            push_ready(t, seq);
            c->used += copy_bytes(t);
        } else {
            unlinkat(t->dirfd, de->d_name, 0);
            removed++;
        }
    }
    closedir(d);
    if (removed)
        note(c, 1, "template %s: removed %zu outdated or surplus copies", t->conf->name, removed);
}

/* A budget lowered since the last run: drop copies, fullest template first. */
static void
trim_to_budget(struct clip_cache *c)
{
    char name[64];
    while (c->cfg->budget && c->used > c->cfg->budget) {
        struct tmpl *fullest = NULL;
        for (size_t i = 0; i < c->n_t; i++)
            if (c->t[i].n_ready && (!fullest || c->t[i].n_ready > fullest->n_ready))
                fullest = &c->t[i];
        if (!fullest)
            break;
        ready_name(name, sizeof(name), fullest->ready[--fullest->n_ready]);
        unlinkat(fullest->dirfd, name, 0);
        c->used -= copy_bytes(fullest);
    }
}

static int
add_allowed(struct clip_cache *c, const char *path, unsigned line, struct cn_err *err)
{
    const char *file = c->cfg->file;
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cn_err_add(err, CN_E_INVALID, "%s:%u: %s: %s", file, line, path, strerror(errno));
    char *real = realpath(path, NULL);
    if (!real) {
        int e = errno;
        close(fd);
        return cn_err_add(err, CN_E_INVALID, "%s:%u: %s: %s", file, line, path, strerror(e));
    }
    CN_GROW(c->allowed, c->cap_allowed, c->n_allowed + 1);
    struct allowed *a = &c->allowed[c->n_allowed++];
    a->path = xstrdup(path);
    a->real = real;
    a->fd = fd;
    return 0;
}

static int
open_template(struct clip_cache *c, struct tmpl *t, struct cn_err *err)
{
    const struct clip_template_conf *tc = t->conf;
    const char *file = c->cfg->file;
    struct stat st;
    if (stat(tc->path, &st) < 0)
        return cn_err_add(err, CN_E_INVALID, "%s:%u: template %s: %s: %s", file, tc->line, tc->name,
                          tc->path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cn_err_add(err, CN_E_INVALID, "%s:%u: template %s: %s is not a regular file", file,
                          tc->line, tc->name, tc->path);
    if (mkdirat(c->cachefd, tc->name, 0700) < 0 && errno != EEXIST)
        return cn_err_add(err, CN_E_IO, "%s:%u: template %s: cannot create its directory: %s", file,
                          tc->line, tc->name, strerror(errno));
    t->dirfd = openat(c->cachefd, tc->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (t->dirfd < 0)
        return cn_err_add(err, CN_E_IO, "%s:%u: template %s: cannot open its directory: %s", file,
                          tc->line, tc->name, strerror(errno));
    t->sig = sig_of(&st);
    t->sig_known = true;
    empty_dir(t->dirfd, true);
    adopt_ready(c, t);
    struct sig old;
    if (read_sig(t, &old) < 0 || !sig_equal(&old, &t->sig)) {
        if (write_sig(t, err) < 0) {
            cn_err_prefix(err, "%s:%u: template %s", file, tc->line, tc->name);
            return -1;
        }
    }
    return 0;
}

struct clip_cache *
clip_cache_new(const struct clip_config *cfg, struct cn_err *err)
{
    struct clip_cache *c = xcalloc(1, sizeof(*c));
    c->cfg = cfg;
    c->cachefd = -1;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    c->t = xcalloc(cfg->n_templates ? cfg->n_templates : 1, sizeof(*c->t));
    c->n_t = cfg->n_templates;
    for (size_t i = 0; i < c->n_t; i++) {
        c->t[i].conf = &cfg->templates[i];
        c->t[i].dirfd = -1;
        c->t[i].method = "none";
    }

    struct cn_err local = CN_ERR_INIT;
    cn_err_init(&local);
    if (add_allowed(c, cfg->store, cfg->store_line, &local) < 0)
        goto cleanup;
    for (size_t i = 0; i < cfg->n_destdirs; i++)
        add_allowed(c, cfg->destdirs[i].path, cfg->destdirs[i].line, &local);

    int storefd = c->allowed[0].fd;
    if (mkdirat(storefd, CACHE_DIR, 0700) < 0 && errno != EEXIST) {
        cn_err_add(&local, CN_E_IO, "%s:%u: %s/%s: %s", cfg->file, cfg->store_line, cfg->store,
                   CACHE_DIR, strerror(errno));
        goto cleanup;
    }
    c->cachefd = openat(storefd, CACHE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (c->cachefd < 0 || fstat(c->cachefd, &st) < 0) {
        cn_err_add(&local, CN_E_IO, "%s:%u: %s/%s: %s", cfg->file, cfg->store_line, cfg->store,
                   CACHE_DIR, strerror(errno));
        goto cleanup;
    }
    c->cache_dev = st.st_dev;
    c->cache_ino = st.st_ino;
    remove_stale_dirs(c);
    for (size_t i = 0; i < c->n_t; i++)
        open_template(c, &c->t[i], &local);
    trim_to_budget(c);

cleanup:
    if (cn_err_is_set(&local)) {
        cn_err_set(err, local.code, "%s", cn_err_msg(&local));
        cn_err_release(&local);
        clip_cache_free(c);
        return NULL;
    }
    cn_err_release(&local);
    return c;
}

/* ---- refill ---- */

struct refill_job {
    struct clip_cache *c;
    struct tmpl *t;
    struct sig sig;
};

/* Pauses the copy while a take runs; gives up on stop or when the template changed. */
static bool
refill_keep_going(void *arg)
{
    struct refill_job *job = arg;
    struct clip_cache *c = job->c;
    pthread_mutex_lock(&c->lock);
    while (c->takes > 0 && !c->stopping)
        pthread_cond_wait(&c->cond, &c->lock);
    bool go = !c->stopping && job->t->sig_known && sig_equal(&job->t->sig, &job->sig);
    pthread_mutex_unlock(&c->lock);
    return go;
}

/*
 * Writes one more ready copy of job->t. Returns 0 when it was added, 1 when
 * it was abandoned (stop, template changed), -1 on error.
 */
static int
make_ready_copy(struct refill_job *job, enum clip_copy_method *ret_used, struct cn_err *err)
{
    struct clip_cache *c = job->c;
    struct tmpl *t = job->t;
    int ret = -1, in = -1, out = -1;
    char tmp[64] = "", ready[64];
    struct stat st0, st1, st2;

    in = open(t->conf->path, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &st0) < 0) {
        cn_err_set(err, CN_E_IO, "%s: %s", t->conf->path, strerror(errno));
        goto cleanup;
    }
    struct sig s0 = sig_of(&st0);
    if (!sig_equal(&s0, &job->sig)) {
        ret = 1;
        goto cleanup;
    }
    out = open_tmp(t->dirfd, TMP_PREFIX, tmp, sizeof(tmp), st0.st_mode & 0777);
    if (out < 0) {
        cn_err_set(err, CN_E_IO, "cannot create a temporary copy: %s", strerror(errno));
        tmp[0] = '\0';
        goto cleanup;
    }
    struct clip_copy_ctl ctl = {.method = c->cfg->method,
                                .rate = c->cfg->refill_rate,
                                .keep_going = refill_keep_going,
                                .arg = job};
    if (clip_copy_fd(in, out, st0.st_size, &ctl, ret_used, err) < 0) {
        ret = err->code == CN_E_BUSY ? 1 : -1;
        goto cleanup;
    }
    /* The copy must survive a power cut before its name says it is complete. */
    if (fdatasync(out) < 0) {
        cn_err_set(err, CN_E_IO, "fdatasync: %s", strerror(errno));
        goto cleanup;
    }
    if (fstat(in, &st1) < 0 || stat(t->conf->path, &st2) < 0) {
        ret = 1;
        goto cleanup;
    }
    struct sig s1 = sig_of(&st1), s2 = sig_of(&st2);
    if (!sig_equal(&s0, &s1) || !sig_equal(&s0, &s2)) {
        ret = 1; /* written while we copied: the copy may be torn */
        goto cleanup;
    }

    pthread_mutex_lock(&c->lock);
    if (c->stopping || !t->sig_known || !sig_equal(&t->sig, &s0)) {
        pthread_mutex_unlock(&c->lock);
        ret = 1;
        goto cleanup;
    }
    unsigned long seq = t->next_seq++;
    pthread_mutex_unlock(&c->lock);

    /*
     * The rename and the directory sync happen before the copy is listed:
     * a take never waits behind this sync for the journal, and status
     * reports a copy only once it is durable.
     */
    ready_name(ready, sizeof(ready), seq);
    if (renameat2(t->dirfd, tmp, t->dirfd, ready, RENAME_NOREPLACE) < 0 &&
        renameat(t->dirfd, tmp, t->dirfd, ready) < 0) {
        cn_err_set(err, CN_E_IO, "rename: %s", strerror(errno));
        goto cleanup;
    }
    tmp[0] = '\0';
    fsync(t->dirfd);
    pthread_mutex_lock(&c->lock);
    if (!t->sig_known || !sig_equal(&t->sig, &s0)) {
        /* The template changed meanwhile and its copies were dropped: this one too. */
        unlinkat(t->dirfd, ready, 0);
        pthread_mutex_unlock(&c->lock);
        ret = 1;
        goto cleanup;
    }
    push_ready(t, seq);
    t->method = clip_copy_method_name(*ret_used);
    pthread_mutex_unlock(&c->lock);
    ret = 0;
cleanup:
    if (tmp[0])
        unlinkat(t->dirfd, tmp, 0);
    if (out >= 0)
        close(out);
    if (in >= 0)
        close(in);
    return ret;
}

/* The template that most needs a copy and fits the budget, or NULL. Lock held. */
static struct tmpl *
pick_locked(struct clip_cache *c)
{
    double now = cn_now();
    struct tmpl *best = NULL;
    for (size_t i = 0; i < c->n_t; i++) {
        struct tmpl *t = &c->t[i];
        if (!t->sig_known || t->n_ready >= t->conf->copies || now < t->retry_after)
            continue;
        if (c->cfg->budget && c->used + copy_bytes(t) > c->cfg->budget)
            continue;
        if (!best || t->n_ready < best->n_ready)
            best = t;
    }
    return best;
}

static void
wait_seconds_locked(struct clip_cache *c, double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double end = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + seconds;
    ts.tv_sec = (time_t)end;
    ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&c->cond, &c->lock, &ts);
}

static void *
refill_main(void *arg)
{
    struct clip_cache *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        if (c->takes > 0) {
            pthread_cond_wait(&c->cond, &c->lock);
            continue;
        }
        double quiet = c->last_take + QUIET_S - cn_now();
        if (quiet > 0) {
            wait_seconds_locked(c, quiet);
            continue;
        }
        for (size_t i = 0; i < c->n_t; i++)
            stat_template_locked(c, &c->t[i]);
        struct tmpl *t = pick_locked(c);
        if (!t) {
            wait_seconds_locked(c, c->cfg->rescan);
            continue;
        }
        struct refill_job job = {c, t, t->sig};
        unsigned long long reserved = copy_bytes(t);
        c->used += reserved;
        pthread_mutex_unlock(&c->lock);

        struct cn_err e = CN_ERR_INIT;
        cn_err_init(&e);
        enum clip_copy_method used = CLIP_COPY_AUTO;
        double start = cn_now();
        int rc = make_ready_copy(&job, &used, &e);

        pthread_mutex_lock(&c->lock);
        if (rc != 0)
            c->used -= reserved;
        if (rc == 0)
            note(c, 2, "template %s: ready copy %zu/%u made by %s in %.3f s", t->conf->name,
                 t->n_ready, t->conf->copies, clip_copy_method_name(used), cn_now() - start);
        if (rc < 0) {
            t->retry_after = cn_now() + c->cfg->rescan;
            note(c, 0, "template %s: refill failed: %s", t->conf->name, cn_err_msg(&e));
        }
        cn_err_release(&e);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int
clip_cache_start(struct clip_cache *c, struct cn_err *err)
{
    int rc = pthread_create(&c->thread, NULL, refill_main, c);
    if (rc != 0)
        return cn_err_set(err, CN_E_INTERNAL, "cannot start the refill thread: %s", strerror(rc));
    c->started = true;
    return 0;
}

void
clip_cache_stop(struct clip_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (c->started) {
        pthread_join(c->thread, NULL);
        c->started = false;
    }
}

void
clip_cache_free(struct clip_cache *c)
{
    if (!c)
        return;
    clip_cache_stop(c);
    for (size_t i = 0; i < c->n_t; i++) {
        if (c->t[i].dirfd >= 0)
            close(c->t[i].dirfd);
        free(c->t[i].ready);
    }
    free(c->t);
    for (size_t i = 0; i < c->n_allowed; i++) {
        close(c->allowed[i].fd);
        free(c->allowed[i].path);
        free(c->allowed[i].real);
    }
    free(c->allowed);
    if (c->cachefd >= 0)
        close(c->cachefd);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---- take ---- */

/* Length of the allowed directory dir that dest lies below, or 0. */
static size_t
below(const char *dest, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return 1;
    if (strncmp(dest, dir, n) == 0 && dest[n] == '/')
        return n + 1;
    return 0;
}

/*
 * Opens the directory DEST is to be created in and points *ret_base at
 * DEST's last component. DEST must be absolute, without empty, "." or ".."
 * components, and lie below the store or a destdir; the components below
 * that directory are opened one by one without following symbolic links,
 * so a link planted by a client cannot redirect the rename. clipd's own
 * directory is off limits.
 */
static int
open_dest_dir(struct clip_cache *c, const char *dest, const char **ret_base, struct cn_err *err)
{
    if (dest[0] != '/')
        return cn_err_set(err, CN_E_INVALID, "DEST must be an absolute path");
    if (strlen(dest) >= PATH_MAX)
        return cn_err_set(err, CN_E_INVALID, "DEST is too long");
    for (const char *p = dest; *p;) {
        const char *comp = p + 1;
        size_t n = strcspn(comp, "/");
        if (n == 0 || (n == 1 && comp[0] == '.') || (n == 2 && comp[0] == '.' && comp[1] == '.'))
            return cn_err_set(err, CN_E_INVALID,
                              "DEST must not have empty, '.' or '..' components");
        if (n > NAME_MAX)
            return cn_err_set(err, CN_E_INVALID, "DEST has a component longer than %d bytes",
                              NAME_MAX);
        p = comp + n;
    }

    const struct allowed *base_dir = NULL;
    size_t skip = 0;
    for (size_t i = 0; i < c->n_allowed; i++) {
        size_t a = below(dest, c->allowed[i].path), b = below(dest, c->allowed[i].real);
        size_t m = a > b ? a : b;
        if (m > skip) {
            skip = m;
            base_dir = &c->allowed[i];
        }
    }
    if (!base_dir)
        return cn_err_set(err, CN_E_FORBIDDEN,
                          "DEST must lie below the image store or a destdir directory");

    int fd = openat(base_dir->fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cn_err_set(err, CN_E_IO, "%s: %s", base_dir->path, strerror(errno));
    const char *rest = dest + skip;
    char comp[NAME_MAX + 1];
    for (;;) {
        size_t n = strcspn(rest, "/");
        if (rest[n] == '\0')
            break;
        memcpy(comp, rest, n);
        comp[n] = '\0';
        int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        struct stat st;
        if (next < 0) {
            bool link = fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
            close(fd);
            if (link)
                return cn_err_set(err, CN_E_FORBIDDEN, "DEST goes through the symbolic link '%s'",
                                  comp);
            if (e == ENOENT)
                return cn_err_set(err, CN_E_NOTFOUND, "DEST's directory does not exist");
            return cn_err_set(err, e == ENOTDIR ? CN_E_INVALID : CN_E_IO, "DEST: %s: %s", comp,
                              strerror(e));
        }
        close(fd);
        fd = next;
        if (fstat(fd, &st) == 0 && st.st_dev == c->cache_dev && st.st_ino == c->cache_ino) {
            close(fd);
            return cn_err_set(err, CN_E_FORBIDDEN, "DEST must not lie in clipd's own directory");
        }
        rest += n + 1;
    }
    *ret_base = rest;
    return fd;
}

/* Renames without replacing: DEST is never overwritten. */
static int
move_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
    if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* No RENAME_NOREPLACE on this filesystem: a hard link refuses to replace too. */
    if (linkat(fromfd, from, tofd, to, 0) < 0)
        return -1;
    unlinkat(fromfd, from, 0);
    return 0;
}

static bool
take_keep_going(void *arg)
{
    struct clip_cache *c = arg;
    pthread_mutex_lock(&c->lock);
    bool go = !c->stopping;
    pthread_mutex_unlock(&c->lock);
    return go;
}

/*
 * Copies the template straight to DEST. The copy is an unnamed O_TMPFILE
 * linked in when complete, so an interrupted miss leaves nothing behind;
 * where O_TMPFILE is unsupported a hidden temporary name is used instead.
 */
static int
copy_to_dest(struct clip_cache *c, struct tmpl *t, int dirfd, const char *base,
             enum clip_copy_method *ret_used, struct cn_err *err)
{
    int ret = -1, in = -1, out = -1;
    char tmp[64] = "";
    struct stat st;
    in = open(t->conf->path, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) < 0) {
        cn_err_set(err, CN_E_NOTFOUND, "template file %s: %s", t->conf->path, strerror(errno));
        goto cleanup;
    }
    out = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, st.st_mode & 0777);
    if (out < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL))
        out = open_tmp(dirfd, DEST_TMP_PREFIX, tmp, sizeof(tmp), st.st_mode & 0777);
    if (out < 0) {
        cn_err_set(err, CN_E_IO, "cannot create DEST: %s", strerror(errno));
        tmp[0] = '\0';
        goto cleanup;
    }
    struct clip_copy_ctl ctl = {.method = c->cfg->method, .keep_going = take_keep_going, .arg = c};
    if (clip_copy_fd(in, out, st.st_size, &ctl, ret_used, err) < 0) {
        if (err->code == CN_E_BUSY)
            cn_err_set(err, CN_E_BUSY, "clipd is shutting down");
        goto cleanup;
    }
    int rc;
    if (tmp[0]) {
        rc = move_noreplace(dirfd, tmp, dirfd, base);
    } else {
        rc = linkat(out, "", dirfd, base, AT_EMPTY_PATH);
        if (rc < 0 && (errno == ENOENT || errno == EPERM)) {
            /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc does the same for anyone. */
            char proc[64];
            snprintf(proc, sizeof(proc), "/proc/self/fd/%d", out);
            rc = linkat(AT_FDCWD, proc, dirfd, base, AT_SYMLINK_FOLLOW);
        }
    }
    if (rc < 0) {
        cn_err_set(err, errno == EEXIST ? CN_E_INVALID : CN_E_IO, "DEST: %s", strerror(errno));
        goto cleanup;
    }
    tmp[0] = '\0';
    ret = 0;
cleanup:
    if (tmp[0])
        unlinkat(dirfd, tmp, 0);
    if (out >= 0)
        close(out);
    if (in >= 0)
        close(in);
    return ret;
}

static struct tmpl *
find_template(struct clip_cache *c, const char *name)
{
    for (size_t i = 0; i < c->n_t; i++)
        if (cn_streq(c->t[i].conf->name, name))
            return &c->t[i];
    return NULL;
}

/* A hit whose rename failed: the copy goes back unless the template changed meanwhile. */
static void
put_back(struct clip_cache *c, struct tmpl *t, unsigned long seq, const struct sig *s)
{
    pthread_mutex_lock(&c->lock);
    if (t->sig_known && sig_equal(&t->sig, s)) {
        push_ready(t, seq);
        c->used += copy_bytes(t);
    } else {
        char name[64];
        ready_name(name, sizeof(name), seq);
        unlinkat(t->dirfd, name, 0);
    }
    pthread_mutex_unlock(&c->lock);
}

int
clip_cache_take(struct clip_cache *c, const char *template_name, const char *dest, bool *ret_hit,
                struct cn_err *err)
{
    int ret = -1, dirfd = -1;
    bool counted = false, hit = false;
    enum clip_copy_method used = CLIP_COPY_AUTO;
    const char *base = NULL;
    struct tmpl *t = find_template(c, template_name);
    if (!t)
        return cn_err_set(err, CN_E_NOTFOUND, "unknown template '%s'", template_name);
    dirfd = open_dest_dir(c, dest, &base, err);
    if (dirfd < 0)
        goto cleanup;
    struct stat st;
    if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        cn_err_set(err, CN_E_INVALID, "DEST already exists");
        goto cleanup;
    }
    if (errno != ENOENT) {
        cn_err_set(err, CN_E_IO, "DEST: %s", strerror(errno));
        goto cleanup;
    }
    bool present = stat(t->conf->path, &st) == 0 && S_ISREG(st.st_mode);
    int stat_errno = present ? 0 : errno;

    pthread_mutex_lock(&c->lock);
    if (c->stopping) {
        pthread_mutex_unlock(&c->lock);
        cn_err_set(err, CN_E_BUSY, "clipd is shutting down");
        goto cleanup;
    }
    c->takes++;
    counted = true;
    check_template_locked(c, t, present ? &st : NULL);
    unsigned long seq = 0;
    struct sig taken_sig = t->sig;
    if (present && t->n_ready) {
        seq = t->ready[--t->n_ready];
        c->used -= copy_bytes(t);
        hit = true;
    }
    pthread_mutex_unlock(&c->lock);

    if (!present) {
        cn_err_set(err, CN_E_NOTFOUND, "template file %s: %s", t->conf->path,
                   stat_errno ? strerror(stat_errno) : "not a regular file");
        goto cleanup;
    }
    if (hit) {
        char name[64];
        ready_name(name, sizeof(name), seq);
        if (move_noreplace(t->dirfd, name, dirfd, base) < 0) {
            int e = errno;
            put_back(c, t, seq, &taken_sig);
            hit = false;
            if (e == EEXIST) {
                cn_err_set(err, CN_E_INVALID, "DEST already exists");
                goto cleanup;
            }
            if (e != EXDEV) {
                cn_err_set(err, CN_E_IO, "rename to DEST: %s", strerror(e));
                goto cleanup;
            }
            /* DEST is on another filesystem (or mount): only a copy can get it there. */
        }
    }
    if (!hit && copy_to_dest(c, t, dirfd, base, &used, err) < 0)
        goto cleanup;
    *ret_hit = hit;
    ret = 0;
cleanup:
    if (counted) {
        pthread_mutex_lock(&c->lock);
        c->takes--;
        c->last_take = cn_now();
        if (ret == 0 && hit)
            t->hits++;
        if (ret == 0 && !hit) {
            t->misses++;
            t->method = clip_copy_method_name(used);
        }
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
    }
    if (dirfd >= 0)
        close(dirfd);
    return ret;
}

int
clip_cache_status(struct clip_cache *c, struct clip_template_status **ret_items, size_t *ret_n,
                  struct cn_err *err)
{
    (void)err;
    struct clip_template_status *items = xcalloc(c->n_t ? c->n_t : 1, sizeof(*items));
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_t; i++) {
        const struct tmpl *t = &c->t[i];
        items[i].name = xstrdup(t->conf->name);
        items[i].ready = (unsigned)t->n_ready;
        items[i].copies = t->conf->copies;
        items[i].hits = t->hits;
        items[i].misses = t->misses;
        items[i].bytes = copy_bytes(t) * t->n_ready;
        snprintf(items[i].method, sizeof(items[i].method), "%s", t->method);
    }
    pthread_mutex_unlock(&c->lock);
    *ret_items = items;
    *ret_n = c->n_t;
    return 0;
}
