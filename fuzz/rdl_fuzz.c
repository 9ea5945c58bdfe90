/*
 * libFuzzer entry point for the YAML reader: any input must be read or
 * refused with problems reported, never crash, leak or run away. Whatever is
 * read must also survive the writer: its canonical form reads back as an
 * equal graph and writes the same bytes again.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rdl/rdl.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_round_trip(const struct rdl_graph *g)
{
    struct cn_err err = CN_ERR_INIT;
    struct cn_buf first = CN_BUF_INIT, second = CN_BUF_INIT;
    cn_err_init(&err);
    cn_buf_init(&first);
    cn_buf_init(&second);
    if (rdl_write(g, &first, &err) < 0)
        __builtin_trap();
    struct rdl_graph *again = rdl_read_string("fuzz-out", first.s, first.len, &err);
    if (!again || !rdl_graph_equal(g, again))
        __builtin_trap();
    if (rdl_write(again, &second, &err) < 0 || first.len != second.len ||
        memcmp(first.s, second.s, first.len) != 0)
        __builtin_trap();
    rdl_graph_free(again);
    cn_buf_release(&first);
    cn_buf_release(&second);
    cn_err_release(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct rdl_graph *g = rdl_read_string("fuzz", (const char *)data, size, &err);
    /* A document that was read must also pass the in-memory checks. */
    if (g && rdl_validate(g, &err) < 0)
        __builtin_trap();
    if (!g && !cn_err_is_set(&err))
        __builtin_trap();
    if (g)
        check_round_trip(g);
    rdl_graph_free(g);
    cn_err_release(&err);
    return 0;
}
