/*
 * The RDL model's representation, shared by the files of rdl/ and by its
 * tests. Nothing outside rdl/ and tests/ may include it.
 */
#ifndef RDL_PRIV_H_ALLOW
#error "rdl_priv.h is private to rdl/ and its tests"
#endif

#ifndef CLOUDNET_RDL_PRIV_H
#define CLOUDNET_RDL_PRIV_H

#include "rdl/rdl.h"
#include "util/strmap.h"
#include "util/util.h"

struct rdl_pos {
    int line, col; /* 1-based; 0 when built in memory */
};

struct rdl_value {
    enum rdl_value_kind kind;
    double num;               /* NUMBER */
    char *str;                /* STRING */
    struct rdl_value **items; /* LIST */
    size_t n_items, cap_items;
    bool has_min, has_max; /* RANGE */
    double min, max;
    char *same_as; /* SAME_AS, or an extra constraint of LIST/RANGE */
    struct rdl_pos pos;
};

struct rdl_prop {
    char *name;
    struct rdl_value *value;
};

struct rdl_props {
    struct rdl_prop *items;
    size_t len, cap;
};

struct rdl_element {
    char *id;
    char *type;
    bool is_link;
    struct rdl_props resources;
    struct rdl_props features;
    bool has_vlan_range;
    int vlan_first, vlan_last;
    struct rdl_element **nbrs; /* one entry per interface touching this element */
    size_t n_nbrs, cap_nbrs;
    struct rdl_pos pos;
};

struct rdl_iface {
    struct rdl_element *a, *b;
    struct rdl_pos pos;
};

struct rdl_map_entry {
    char *id;
    char *to;
    char **path;
    size_t path_len, path_cap;
    bool has_path;
    struct rdl_props resources;
    struct rdl_props features;
    int vlan; /* -1 when none */
    struct rdl_pos pos;
};

struct rdl_graph {
    enum rdl_kind kind;
    char *name;
    char *file;
    int level;
    bool has_vlan_range;
    int vlan_first, vlan_last;

    struct rdl_element **elements;
    size_t n_elements, cap_elements;
    struct cn_strmap element_index;

    struct rdl_iface *ifaces;
    size_t n_ifaces, cap_ifaces;

    /* Mapping documents. */
    char *overlay, *underlay;
    bool has_objective;
    char *objective_name;
    double objective_value, objective_bound, objective_gap, objective_solve_ms;
    struct rdl_map_entry **map;
    size_t n_map, cap_map;
    struct cn_strmap map_index;
};

/* Whether s is a well-formed element id. */
bool rdl_id_valid(const char *s);
/* Features whose overlay value is a bound along a path, not a vague choice. */
bool rdl_feature_is_additive(const char *name);
/* Whether a value is vague where it stands (a latency bound on an overlay link is not). */
bool rdl_value_is_vague_at(const struct rdl_value *v, const char *feature, bool on_link);

void rdl_props_release(struct rdl_props *p);
void rdl_props_copy_into(struct rdl_props *dst, const struct rdl_props *src);
bool rdl_props_equal(const struct rdl_props *a, const struct rdl_props *b);

/* Formats "FILE:LINE:COL: " (or "NAME: " without a position) in front of a message. */
int rdl_diag(struct cn_err *err, const struct rdl_graph *g, struct rdl_pos pos, const char *fmt,
             ...) CN_PRINTF(4, 5);

#endif /* CLOUDNET_RDL_PRIV_H */
