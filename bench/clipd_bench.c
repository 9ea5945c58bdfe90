/*
 * clipd benchmark: what a take costs when a ready copy exists (hit) and
 * when the daemon has to copy (miss), for a small image and a 1 GiB one.
 * The images are pseudo-random bytes, not sparse files, so a miss copies
 * real data. Run it with
 *
 *     make bench-build && build/bench/clipd_bench [-c] [-s SIZE_MIB] [-n HITS] [-d DIR]
 *
 * -c drops the page cache before each miss (root only), so that a miss
 * reads the template from disk as it would on a busy host.
 * It starts the clipd next to it (../bin/clipd), works in a scratch
 * directory under /tmp (or DIR: the filesystem decides whether a miss can
 * be a reflink, so it is printed) and removes everything at the end.
 * Before every hit the cache is full and idle; between measurements dirty
 * pages are written back, so one run does not slow the next.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "clipd/clip.h"
#include "tests/daemon-helper.h"
#include "util/util.h"

#define MIB (1024.0 * 1024.0)

static char *sock_path;
static bool cold; /* drop the page cache before each miss */

/* Makes the next miss read the template from disk; needs root. */
static int
drop_caches(void)
{
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0)
        return -1;
    bool ok = write(fd, "3", 1) == 1;
    close(fd);
    return ok ? 0 : -1;
}

static const char *
fs_name(const char *dir)
{
    struct statfs sf;
    if (statfs(dir, &sf) < 0)
        return "unknown";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53:
        return "ext4";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x01021994:
        return "tmpfs";
    case 0x794c7630:
        return "overlayfs";
    case 0x2fc12fc1:
        return "zfs";
    case 0x6969:
        return "nfs";
    default:
        return "other";
    }
}

/* The template of size bytes, of pseudo-random data, on disk before anything is timed. */
static int
write_image(const char *path, size_t size, uint64_t seed)
{
    if (test_write_random(path, size, seed) < 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static const struct clip_template_status *
find(struct clip_status **st, const char *name)
{
    clip_status_free(*st);
    *st = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int rc = clip_status(sock_path, st, &err);
    cn_err_release(&err);
    return rc == 0 ? clip_status_find(*st, name) : NULL;
}

/* Whether the daemon answers at all: it is up. */
static bool
clipd_answers(const void *arg)
{
    struct clip_status *st = NULL;
    struct cn_err err = CN_ERR_INIT;
    (void)arg;
    cn_err_init(&err);
    int rc = clip_status(sock_path, &st, &err);
    clip_status_free(st);
    cn_err_release(&err);
    return rc == 0;
}

/* Waits until template name has n ready copies. */
static bool
wait_ready(const char *name, unsigned n)
{
    struct clip_status *st = NULL;
    bool ok = false;
    for (int i = 0; i < 120000 && !ok; i++) {
        const struct clip_template_status *t = find(&st, name);
        ok = t && t->ready >= n;
        if (!ok)
            test_sleep_ms(5);
    }
    clip_status_free(st);
    return ok;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct series {
    double ms[64];
    int n;
};

static double
median(struct series *s)
{
    qsort(s->ms, (size_t)s->n, sizeof(double), cmp_double);
    return s->n % 2 ? s->ms[s->n / 2] : (s->ms[s->n / 2 - 1] + s->ms[s->n / 2]) / 2;
}

/*
 * Takes template name n times into dir, timing each take; expects all hits
 * or all misses. Each copy is deleted right after its take and the
 * filesystem synced before the next one, so that freeing its blocks (and,
 * with the discard mount option, trimming them) is not timed.
 */
static int
measure(const char *name, const char *dir, int n, bool want_hit, unsigned refill_to,
        struct series *s)
{
    char *dest = xasprintf("%s/%s.img", dir, name);
    int ret = -1;
    s->n = 0;
    for (int i = 0; i < n; i++) {
        if (want_hit && !wait_ready(name, refill_to)) {
            fprintf(stderr, "clipd_bench: %s never got %u ready copies\n", name, refill_to);
            goto cleanup;
        }
        sync();
        if (!want_hit && cold && drop_caches() < 0) {
            fprintf(stderr, "clipd_bench: cannot drop the page cache: %s\n", strerror(errno));
            goto cleanup;
        }
        struct cn_err err = CN_ERR_INIT;
        cn_err_init(&err);
        bool hit = false;
        double t0 = cn_now();
        int rc = clip_take(sock_path, name, dest, &hit, &err);
        double ms = (cn_now() - t0) * 1000.0;
        if (rc < 0 || hit != want_hit) {
            fprintf(stderr, "clipd_bench: take %s: %s\n", name,
                    rc < 0 ? cn_err_msg(&err) : "unexpected hit/miss");
            cn_err_release(&err);
            goto cleanup;
        }
        cn_err_release(&err);
        s->ms[s->n++] = ms;
        unlink(dest);
        sync();
    }
    ret = 0;
cleanup:
    free(dest);
    return ret;
}

int
main(int argc, char **argv)
{
    long big_mib = 1024, hits = 15;
    const char *base = "/tmp";
    int opt;
    while ((opt = getopt(argc, argv, "cs:n:d:h")) != -1) {
        switch (opt) {
        case 'c':
            cold = true;
            break;
        case 's':
            big_mib = atol(optarg);
            break;
        case 'n':
            hits = atol(optarg);
            break;
        case 'd':
            base = optarg;
            break;
        default:
            fprintf(stderr, "usage: clipd_bench [-c] [-s SIZE_MIB] [-n HITS] [-d DIR]\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (big_mib < 1 || hits < 1 || hits > 64) {
        fprintf(stderr, "clipd_bench: bad -s or -n\n");
        return 2;
    }
    int misses = 3;

    struct test_daemon clipd = {.name = "clipd", .ready = clipd_answers};
    if (test_bin_path(clipd.prog, sizeof(clipd.prog), argv[0], "clipd") < 0) {
        fprintf(stderr, "clipd_bench: run make bench-build\n");
        return 1;
    }
    char *dir = xasprintf("%s/clipd-bench.XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "clipd_bench: mkdtemp %s: %s\n", dir, strerror(errno));
        return 1;
    }
    int status = 1;
    char *store = xasprintf("%s/store", dir), *dest = xasprintf("%s/vms", dir);
    char *small = xasprintf("%s/small.img", dir), *big = xasprintf("%s/big.img", dir);
    snprintf(clipd.conf, sizeof(clipd.conf), "%s/clipd.conf", dir);
    sock_path = xasprintf("%s/clipd.sock", dir);
    mkdir(store, 0755);
    mkdir(dest, 0755);

    printf("clipd benchmark in %s (%s)\n", dir, fs_name(dir));
    printf("writing images: small 1 MiB, big %ld MiB of pseudo-random data...\n", big_mib);
    fflush(stdout);
    if (write_image(small, 1024 * 1024, 1) < 0 ||
        write_image(big, (size_t)big_mib * 1024 * 1024, 2) < 0) {
        fprintf(stderr, "clipd_bench: writing images: %s\n", strerror(errno));
        goto cleanup;
    }
    char *text = xasprintf("store %s\nsocket %s\ndestdir %s\n"
                           "template small %s copies 2\ntemplate small-nocache %s copies 0\n"
                           "template big %s copies 2\ntemplate big-nocache %s copies 0\n",
                           store, sock_path, dest, small, small, big, big);
    int rc = test_write_text(clipd.conf, text);
    free(text);
    if (rc < 0 || test_daemon_start(&clipd) < 0)
        goto cleanup;
    if (!wait_ready("small", 2) || !wait_ready("big", 2)) {
        fprintf(stderr, "clipd_bench: the daemon did not fill its cache\n");
        goto cleanup;
    }

    struct series hs, hb, ms, mb;
    if (measure("small", dest, (int)hits, true, 2, &hs) < 0 ||
        measure("big", dest, (int)hits, true, 2, &hb) < 0 || !wait_ready("big", 2) ||
        measure("small-nocache", dest, misses, false, 0, &ms) < 0 ||
        measure("big-nocache", dest, misses, false, 0, &mb) < 0)
        goto cleanup;

    struct clip_status *st = NULL;
    const struct clip_template_status *t = find(&st, "big-nocache");
    char method[32];
    snprintf(method, sizeof(method), "%s", t ? t->method : "unknown");
    t = find(&st, "big");
    char refill[32];
    snprintf(refill, sizeof(refill), "%s", t ? t->method : "unknown");
    clip_status_free(st);

    double h_small = median(&hs), h_big = median(&hb);
    double m_small = median(&ms), m_big = median(&mb);
    printf("\ncopy method: misses %s, refills %s (template %s)\n", method, refill,
           cold ? "read from disk" : "in page cache");
    printf("%-6s %10s %14s %14s %12s\n", "image", "size", "hit ms", "miss ms", "miss/hit");
    printf("%-6s %10s %14.3f %14.3f %12.0f\n", "small", "1 MiB", h_small, m_small,
           m_small / h_small);
    char size[32];
    snprintf(size, sizeof(size), "%ld MiB", big_mib);
    printf("%-6s %10s %14.3f %14.3f %12.0f\n", "big", size, h_big, m_big, m_big / h_big);
    printf("(medians of %ld hits and %d misses; fastest/slowest hit: small %.3f/%.3f ms, "
           "big %.3f/%.3f ms)\n",
           hits, misses, hs.ms[0], hs.ms[hs.n - 1], hb.ms[0], hb.ms[hb.n - 1]);
    printf("hit cost, big image / small image: %.2f\n", h_big / h_small);
    printf("miss throughput, big image: %.0f MiB/s\n", (double)big_mib / (m_big / 1000.0));
    status = 0;

cleanup:
    test_daemon_stop(&clipd, SIGTERM);
    test_rm_tree(dir);
    free(store), free(dest), free(small), free(big), free(sock_path), free(dir);
    return status;
}
