/*
 * Copying an image as cheaply as the filesystem allows: a reflink (FICLONE)
 * shares the extents and costs no data I/O; copy_file_range keeps the data
 * in the kernel (and lets NFS or XFS offload it); a read/write loop works
 * everywhere. The chunked methods stop between chunks to honour a rate
 * limit and to let the caller pause or abandon the copy, which a single
 * reflink ioctl cannot do and does not need.
 */
#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define CLIP_PRIV_H_ALLOW
#include "clipd/clip_priv.h"
#include "util/util.h"

#define RANGE_CHUNK (16 * 1024 * 1024)
#define RW_CHUNK (1024 * 1024)
#define MIN_RATE_CHUNK (64 * 1024)

struct progress {
    const struct clip_copy_ctl *ctl;
    double start;
    unsigned long long done;
};

static size_t
chunk_size(const struct clip_copy_ctl *ctl, size_t base)
{
    /* With a rate limit, small chunks keep the pauses short and the rate even. */
    if (ctl && ctl->rate) {
        unsigned long long c = ctl->rate / 8;
        if (c < MIN_RATE_CHUNK)
            c = MIN_RATE_CHUNK;
        if (c < base)
            return (size_t)c;
    }
    return base;
}

/* Accounts for n more bytes; returns -1 when the caller asked to stop. */
static int
progress_step(struct progress *pr, size_t n, struct cn_err *err)
{
    const struct clip_copy_ctl *ctl = pr->ctl;
    pr->done += n;
    if (ctl && ctl->rate) {
        double due = pr->start + (double)pr->done / (double)ctl->rate;
        double wait = due - cn_now();
        if (wait > 0) {
            struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
            }
        }
    }
    if (ctl && ctl->keep_going && !ctl->keep_going(ctl->arg))
        return cn_err_set(err, CN_E_BUSY, "copy abandoned");
    return 0;
}

static bool
all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/*
 * Blocks of zeros are skipped rather than written, so a sparse template
 * (the usual case for raw images) gives a sparse copy.
 */
static int
copy_readwrite(int in, int out, off_t size, struct progress *pr, struct cn_err *err)
{
    int ret = -1;
    size_t chunk = chunk_size(pr->ctl, RW_CHUNK);
    unsigned char *buf = xmalloc(chunk);
    off_t off = 0;
    while (off < size) {
        size_t want = (size_t)(size - off) < chunk ? (size_t)(size - off) : chunk;
        ssize_t n = pread(in, buf, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cn_err_set(err, CN_E_IO, "read: %s", strerror(errno));
            goto cleanup;
        }
        if (n == 0) {
            cn_err_set(err, CN_E_IO, "source shrank during the copy");
            goto cleanup;
        }
        if (!all_zero(buf, (size_t)n)) {
            for (ssize_t w = 0; w < n;) {
                ssize_t k = pwrite(out, buf + w, (size_t)(n - w), off + w);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k < 0) {
                    cn_err_set(err, CN_E_IO, "write: %s", strerror(errno));
                    goto cleanup;
                }
                w += k;
            }
        }
        off += n;
        if (progress_step(pr, (size_t)n, err) < 0)
            goto cleanup;
    }
    if (ftruncate(out, size) < 0) {
        cn_err_set(err, CN_E_IO, "truncate: %s", strerror(errno));
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(buf);
    return ret;
}

/*
 * Returns 1 when copy_file_range cannot work between these files at all
 * (the caller then falls back to read/write), 0 when done, -1 on error.
 */
static int
copy_range(int in, int out, off_t size, struct progress *pr, struct cn_err *err)
{
    size_t chunk = chunk_size(pr->ctl, RANGE_CHUNK);
    loff_t off_in = 0, off_out = 0;
    while (off_in < size) {
        size_t want = (size_t)(size - off_in) < chunk ? (size_t)(size - off_in) : chunk;
        ssize_t n = copy_file_range(in, &off_in, out, &off_out, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && off_in == 0 &&
            (errno == ENOSYS || errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
             errno == EBADF))
            return 1;
        if (n < 0)
            return cn_err_set(err, CN_E_IO, "copy_file_range: %s", strerror(errno));
        if (n == 0)
            return cn_err_set(err, CN_E_IO, "source shrank during the copy");
        if (progress_step(pr, (size_t)n, err) < 0)
            return -1;
    }
    if (ftruncate(out, size) < 0)
        return cn_err_set(err, CN_E_IO, "truncate: %s", strerror(errno));
    return 0;
}

int
clip_copy_fd(int in, int out, off_t size, const struct clip_copy_ctl *ctl,
             enum clip_copy_method *ret_used, struct cn_err *err)
{
    enum clip_copy_method want = ctl ? ctl->method : CLIP_COPY_AUTO;
    struct progress pr = {.ctl = ctl, .start = cn_now(), .done = 0};

    if (want == CLIP_COPY_AUTO || want == CLIP_COPY_REFLINK) {
        if (ioctl(out, FICLONE, in) == 0) {
            *ret_used = CLIP_COPY_REFLINK;
            return 0;
        }
        /* Any failure means "not here": the other methods report real I/O errors. */
        if (want == CLIP_COPY_REFLINK)
            return cn_err_set(err, CN_E_IO, "reflink: %s", strerror(errno));
    }
    if (want == CLIP_COPY_AUTO || want == CLIP_COPY_RANGE) {
        int rc = copy_range(in, out, size, &pr, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            *ret_used = CLIP_COPY_RANGE;
            return 0;
        }
    }
    if (copy_readwrite(in, out, size, &pr, err) < 0)
        return -1;
    *ret_used = CLIP_COPY_READWRITE;
    return 0;
}
