/*
 * Shared plumbing for every CloudNet component: the error object that library
 * functions fill instead of logging, a growable string buffer, allocation
 * helpers and a few string utilities.
 *
 * Allocation failure aborts the process (as git's xmalloc does): every
 * daemon is restarted by its supervisor and recovers its state from the
 * database, which is simpler and safer than threading ENOMEM through every
 * caller.
 */
#ifndef CLOUDNET_UTIL_H
#define CLOUDNET_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define CN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define CN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Error categories. Daemons translate them into RPC fault codes and the
 * command-line tool into exit statuses, so they are stable.
 */
enum cn_errcode {
    CN_OK = 0,
    CN_E_INVALID = 1,      /* malformed input: document, argument */
    CN_E_IO = 2,           /* file or socket error */
    CN_E_NOTFOUND = 3,     /* unknown id or name */
    CN_E_INFEASIBLE = 4,   /* no mapping exists */
    CN_E_TIMEOUT = 5,      /* gave up after the time limit */
    CN_E_BUSY = 6,         /* retry later */
    CN_E_FORBIDDEN = 7,    /* authentication or permission */
    CN_E_EXPIRED = 8,      /* lease ended */
    CN_E_INSUFFICIENT = 9, /* not enough resources */
    CN_E_VLAN = 10,        /* no VLAN tag available */
    CN_E_INTERNAL = 11,    /* a bug or an unexpected library failure */
    CN_E_DB = 12,          /* database error */
    CN_E_LIMIT = 13,       /* input exceeds a configured limit */
    CN_E_EMBEDDING = 14,   /* mapped and reserved, but a plugin could not realise it */
};

/* A growable NUL-terminated string (git's strbuf). */
struct cn_buf {
    char *s;    /* always NUL-terminated once initialised; never NULL */
    size_t len; /* bytes before the NUL */
    size_t cap;
};

#define CN_BUF_INIT {NULL, 0, 0}

void cn_buf_init(struct cn_buf *b);
void cn_buf_release(struct cn_buf *b);
void cn_buf_reset(struct cn_buf *b);
void cn_buf_grow(struct cn_buf *b, size_t extra);
void cn_buf_add(struct cn_buf *b, const void *data, size_t n);
void cn_buf_puts(struct cn_buf *b, const char *s);
void cn_buf_putc(struct cn_buf *b, char c);
void cn_buf_printf(struct cn_buf *b, const char *fmt, ...) CN_PRINTF(2, 3);
void cn_buf_vprintf(struct cn_buf *b, const char *fmt, va_list ap) CN_PRINTF(2, 0);
/* Hands the string to the caller (who frees it) and leaves b empty. */
char *cn_buf_detach(struct cn_buf *b);
/* Reads a whole file; returns 0, or -1 with errno set. */
int cn_buf_read_file(struct cn_buf *b, const char *path, size_t max_size);

/*
 * The error object. Callers keep one on the stack, pass it down, and release
 * it. It holds one or more messages, one per line, so a validator can report
 * every problem it finds; `code` is the category of the first one.
 */
struct cn_err {
    int code;
    unsigned count;
    struct cn_buf msg;
};

#define CN_ERR_INIT {CN_OK, 0, CN_BUF_INIT}

void cn_err_init(struct cn_err *err);
void cn_err_release(struct cn_err *err);
void cn_err_clear(struct cn_err *err);
/* Replaces whatever the object held. Always returns -1, for `return cn_err_set(...)`. */
int cn_err_set(struct cn_err *err, int code, const char *fmt, ...) CN_PRINTF(3, 4);
/* Appends one more message. Always returns -1. */
int cn_err_add(struct cn_err *err, int code, const char *fmt, ...) CN_PRINTF(3, 4);
int cn_err_vadd(struct cn_err *err, int code, const char *fmt, va_list ap) CN_PRINTF(3, 0);
/* Prefixes every message with "prefix: " (context added by a caller). */
void cn_err_prefix(struct cn_err *err, const char *fmt, ...) CN_PRINTF(2, 3);
static inline bool
cn_err_is_set(const struct cn_err *err)
{
    return err->count > 0;
}
/* All messages, newline-separated, never NULL. */
const char *cn_err_msg(const struct cn_err *err);
/* The category's short name: "invalid", "not found", ... */
const char *cn_errcode_name(int code);
/*
 * The XML-RPC fault code of a category and back (docs/pipd.md, "Fault
 * codes"): pipd, vnpd and their clients share one table, so a broker can
 * pass a provider's fault upstream unchanged.
 */
int cn_fault_code(int code);
int cn_code_of_fault(int fault);

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) CN_PRINTF(1, 2);
/* Grows *array (of *cap elements of elsize bytes) to hold at least need. */
void cn_grow(void **array, size_t *cap, size_t need, size_t elsize);
#define CN_GROW(arr, cap, need) cn_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

bool cn_streq(const char *a, const char *b);
bool cn_startswith(const char *s, const char *prefix);
/* Parses a whole string as a finite double / a long in [min, max]. */
int cn_parse_double(const char *s, double *ret_value);
int cn_parse_long(const char *s, long min, long max, long *ret_value);
/* Constant-time comparison for secrets. */
bool cn_secret_equal(const char *a, const char *b);
/* Monotonic clock in seconds. */
double cn_now(void);

#endif /* CLOUDNET_UTIL_H */
