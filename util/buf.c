/*
 * The growable string buffer. The empty buffer points at a shared static
 * byte so that b->s is always a valid string without an allocation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static char empty_string[1];

void
cn_buf_init(struct cn_buf *b)
{
    b->s = empty_string;
    b->len = 0;
    b->cap = 0;
}

void
cn_buf_release(struct cn_buf *b)
{
    if (b->cap)
        free(b->s);
    cn_buf_init(b);
}

void
cn_buf_reset(struct cn_buf *b)
{
    if (!b->s)
        cn_buf_init(b);
    b->len = 0;
    if (b->cap)
        b->s[0] = '\0';
}

void
cn_buf_grow(struct cn_buf *b, size_t extra)
{
    if (!b->s)
        cn_buf_init(b);
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *s = b->cap ? xrealloc(b->s, cap) : xmalloc(cap);
    if (!b->cap)
        s[0] = '\0';
    b->s = s;
    b->cap = cap;
}

void
cn_buf_add(struct cn_buf *b, const void *data, size_t n)
{
    cn_buf_grow(b, n);
    memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void
cn_buf_puts(struct cn_buf *b, const char *s)
{
    cn_buf_add(b, s, strlen(s));
}

void
cn_buf_putc(struct cn_buf *b, char c)
{
    cn_buf_add(b, &c, 1);
}

void
cn_buf_vprintf(struct cn_buf *b, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        return;
    cn_buf_grow(b, (size_t)n);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void
cn_buf_printf(struct cn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cn_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *
cn_buf_detach(struct cn_buf *b)
{
    char *s = b->cap ? b->s : xstrdup("");
    cn_buf_init(b);
    return s;
}

int
cn_buf_read_file(struct cn_buf *b, const char *path, size_t max_size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[65536];
    size_t n;
    int ret = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len + n > max_size) {
            errno = EFBIG;
            ret = -1;
            break;
        }
        cn_buf_add(b, chunk, n);
    }
    if (ret == 0 && ferror(f)) {
        errno = EIO;
        ret = -1;
    }
    fclose(f);
    return ret;
}
