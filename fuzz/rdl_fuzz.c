/*
 * libFuzzer entry point for the YAML reader: any input must be read or
 * refused with problems reported, never crash, leak or run away.
 */
#include <stddef.h>
#include <stdint.h>

#include "rdl/rdl.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    rdl_graph_free(g);
    cn_err_release(&err);
    return 0;
}
