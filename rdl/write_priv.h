/*
 * The writer's scalar and value formatting, shared inside rdl/ so that
 * diagnostics (completion errors, drawings) show values exactly as the
 * canonical YAML does. Private to rdl/ and its tests.
 */
#ifndef RDL_PRIV_H_ALLOW
#error "write_priv.h is private to rdl/ and its tests"
#endif

#ifndef CLOUDNET_RDL_WRITE_PRIV_H
#define CLOUDNET_RDL_WRITE_PRIV_H

#include <stdbool.h>

struct cn_buf;
struct rdl_value;

/* A string as a YAML scalar: plain when that reads back as the same string, else quoted. */
void rdl_write_scalar(struct cn_buf *out, const char *s);
/* A number in its shortest round-trip form; -1 (and writes ".nan") when not finite. */
int rdl_write_number(struct cn_buf *out, double v);
/*
 * A value in flow style. Without with_same_as, the same_as constraint of a
 * LIST or RANGE is left out (a pure SAME_AS value is always written).
 * Returns -1 when a number in it is not finite.
 */
int rdl_write_value(struct cn_buf *out, const struct rdl_value *v, bool with_same_as);

#endif /* CLOUDNET_RDL_WRITE_PRIV_H */
