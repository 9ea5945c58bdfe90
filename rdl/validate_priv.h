/*
 * The semantic checks shared by the YAML reader (rdl/read.c) and
 * rdl_validate() (rdl/validate.c). The reader knows where things stood in
 * the document; the model keeps the positions of elements, values,
 * interfaces and mapping entries, and the reader passes the few others in
 * a struct rdl_where so that every problem carries FILE:LINE:COLUMN.
 */
#ifndef RDL_PRIV_H_ALLOW
#error "validate_priv.h is private to rdl/"
#endif

#ifndef CLOUDNET_RDL_VALIDATE_PRIV_H
#define CLOUDNET_RDL_VALIDATE_PRIV_H

#include "rdl/rdl_priv.h"

/* More problems than this in one document are not worth reading on. */
#define RDL_MAX_PROBLEMS 100

/*
 * Positions the model does not keep, all optional (a zero position falls
 * back to the element's or entry's own).
 */
struct rdl_where {
    struct rdl_pos name;             /* the graph's `name` value */
    struct rdl_pos level;            /* the `level` value */
    struct rdl_pos vlan_range;       /* the graph's `vlan_range` value */
    bool names_checked;              /* the reader checked names and ids itself */
    const struct rdl_pos *elem_vlan; /* per element index: its `vlan_range` value */
    size_t n_elem_vlan;
    const struct rdl_pos *entry_vlan; /* per mapping entry index: its `vlan` value */
    size_t n_entry_vlan;
    /*
     * Ids the reader refused or whose interfaces it dropped, having already
     * reported why: references to them and their interface counts are not
     * reported again.
     */
    const struct cn_strmap *quiet;
};

/* Adds one line per problem of g to err; returns 0 when there is none. */
int rdl_check(const struct rdl_graph *g, const struct rdl_where *where, struct cn_err *err);

/*
 * Moves the problems collected in src to dst in document order (by line,
 * then column; lines without a position first), keeping at most
 * RDL_MAX_PROBLEMS of them. `prefix` is what every line of src starts with
 * (the file name). src is left empty.
 */
void rdl_diag_flush(struct cn_err *dst, struct cn_err *src, const char *prefix);

#endif /* CLOUDNET_RDL_VALIDATE_PRIV_H */
