/*
 * The error object: library functions describe failures here and leave the
 * decision of how to report them (log line, RPC fault, exit status) to the
 * program.
 */
#include <stdio.h>
#include <string.h>

#include "util/util.h"

void
cn_err_init(struct cn_err *err)
{
    err->code = CN_OK;
    err->count = 0;
    cn_buf_init(&err->msg);
}

void
cn_err_release(struct cn_err *err)
{
    if (!err)
        return;
    cn_buf_release(&err->msg);
    err->code = CN_OK;
    err->count = 0;
}

void
cn_err_clear(struct cn_err *err)
{
    cn_buf_reset(&err->msg);
    err->code = CN_OK;
    err->count = 0;
}

int
cn_err_vadd(struct cn_err *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    if (!err->msg.s)
        cn_buf_init(&err->msg);
    if (err->count == 0)
        err->code = code;
    else
        cn_buf_putc(&err->msg, '\n');
    cn_buf_vprintf(&err->msg, fmt, ap);
    err->count++;
    return -1;
}

int
cn_err_add(struct cn_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cn_err_vadd(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

int
cn_err_set(struct cn_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return -1;
    cn_err_clear(err);
    va_list ap;
    va_start(ap, fmt);
    cn_err_vadd(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

void
cn_err_prefix(struct cn_err *err, const char *fmt, ...)
{
    if (!err || err->count == 0)
        return;
    struct cn_buf prefix = CN_BUF_INIT, out = CN_BUF_INIT;
    cn_buf_init(&prefix);
    cn_buf_init(&out);
    va_list ap;
    va_start(ap, fmt);
    cn_buf_vprintf(&prefix, fmt, ap);
    va_end(ap);
    const char *line = err->msg.s;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        cn_buf_add(&out, prefix.s, prefix.len);
        cn_buf_puts(&out, ": ");
        cn_buf_add(&out, line, n);
        if (!nl)
            break;
        cn_buf_putc(&out, '\n');
        line = nl + 1;
    }
    cn_buf_release(&err->msg);
    err->msg = out;
    cn_buf_release(&prefix);
}

const char *
cn_err_msg(const struct cn_err *err)
{
    return err && err->msg.s ? err->msg.s : "";
}

const char *
cn_errcode_name(int code)
{
    static const char *const names[] = {
        [CN_OK] = "ok",
        [CN_E_INVALID] = "invalid",
        [CN_E_IO] = "i/o error",
        [CN_E_NOTFOUND] = "not found",
        [CN_E_INFEASIBLE] = "infeasible",
        [CN_E_TIMEOUT] = "timeout",
        [CN_E_BUSY] = "busy",
        [CN_E_FORBIDDEN] = "forbidden",
        [CN_E_EXPIRED] = "expired",
        [CN_E_INSUFFICIENT] = "insufficient resources",
        [CN_E_VLAN] = "vlan unavailable",
        [CN_E_INTERNAL] = "internal error",
        [CN_E_DB] = "database error",
        [CN_E_LIMIT] = "limit exceeded",
        [CN_E_EMBEDDING] = "embedding failed",
    };
    if (code < 0 || (size_t)code >= CN_ARRAY_SIZE(names) || !names[code])
        return "unknown";
    return names[code];
}

/* Fault code by category; anything not listed is "internal" (9). */
static const int fault_of_code[] = {
    [CN_E_INVALID] = 1, [CN_E_FORBIDDEN] = 2,    [CN_E_NOTFOUND] = 3, [CN_E_BUSY] = 4,
    [CN_E_EXPIRED] = 5, [CN_E_INSUFFICIENT] = 6, [CN_E_VLAN] = 7,     [CN_E_INFEASIBLE] = 8,
    [CN_E_TIMEOUT] = 8, [CN_E_INTERNAL] = 9,     [CN_E_LIMIT] = 10,   [CN_E_EMBEDDING] = 11,
};

int
cn_fault_code(int code)
{
    if (code < 0 || (size_t)code >= CN_ARRAY_SIZE(fault_of_code) || !fault_of_code[code])
        return 9;
    return fault_of_code[code];
}

int
cn_code_of_fault(int fault)
{
    /* Fault 8 stands for infeasible and timeout alike; infeasible is the first. */
    for (size_t c = 0; c < CN_ARRAY_SIZE(fault_of_code); c++)
        if (fault_of_code[c] == fault)
            return (int)c;
    return CN_E_INTERNAL;
}
