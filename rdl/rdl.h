/*
 * The FleRD resource description model: graphs of NetworkElements (nodes and
 * links) joined by NetworkInterfaces, each element with a hierarchical type,
 * Resources (measured, consumed) and Features (qualitative or additive), and
 * the mapping documents that say where an overlay sits on an underlay.
 *
 * Everything here is library code: failures are described in the caller's
 * struct cn_err, never logged. Objects returned by *_new, rdl_read_* and
 * rdl_complete are owned by the caller and freed with the matching *_free;
 * pointers returned by accessors are borrowed from their graph and live as
 * long as the element or graph that holds them.
 *
 * The YAML form is specified in schemas/rdl-format.md.
 */
#ifndef CLOUDNET_RDL_H
#define CLOUDNET_RDL_H

#include <stdbool.h>
#include <stddef.h>

struct cn_err;
struct cn_buf;
struct rdl_graph;
struct rdl_element;
struct rdl_props;
struct rdl_value;
struct rdl_map_entry;

#define RDL_FORMAT_VERSION 1

enum rdl_kind {
    RDL_UNDERLAY,
    RDL_OVERLAY,
    RDL_MAPPING,
};

/*
 * A value of a resource or a feature. Numbers and strings are definite; the
 * others are vague (an overlay at level 0 may use them) except where noted.
 */
enum rdl_value_kind {
    RDL_VALUE_NUMBER,
    RDL_VALUE_STRING,
    RDL_VALUE_LIST,    /* any of the items (in an underlay: all of them are offered) */
    RDL_VALUE_RANGE,   /* {min, max}, either bound optional */
    RDL_VALUE_SAME_AS, /* {same_as: id}: equal to that element's final value */
};

/* Limits that keep hostile documents cheap to refuse. */
#define RDL_MAX_ID_LEN 255
#define RDL_MAX_SCALAR_LEN 4096
#define RDL_MAX_DEPTH 16
#define RDL_MAX_DOCUMENT_BYTES (512u * 1024 * 1024)

/* ---- values ---- */

struct rdl_value *rdl_value_new_number(double v);
struct rdl_value *rdl_value_new_string(const char *s);
struct rdl_value *rdl_value_new_list(void);
/* Appends a definite value (number or string); the list takes ownership. */
void rdl_value_list_append(struct rdl_value *list, struct rdl_value *item);
struct rdl_value *rdl_value_new_range(bool has_min, double min, bool has_max, double max);
struct rdl_value *rdl_value_new_same_as(const char *id);
struct rdl_value *rdl_value_copy(const struct rdl_value *v);
void rdl_value_free(struct rdl_value *v);

enum rdl_value_kind rdl_value_kind(const struct rdl_value *v);
double rdl_value_number(const struct rdl_value *v);      /* NUMBER */
const char *rdl_value_string(const struct rdl_value *v); /* STRING */
size_t rdl_value_list_len(const struct rdl_value *v);    /* LIST */
const struct rdl_value *rdl_value_list_at(const struct rdl_value *v, size_t i);
/* RANGE: fills the bounds that are present; returns which are, as flags. */
void rdl_value_range(const struct rdl_value *v, bool *ret_has_min, double *ret_min,
                     bool *ret_has_max, double *ret_max);
/*
 * The element this value must equal: the target of a SAME_AS value, or of a
 * LIST or RANGE that also carries `same_as` (both must hold). NULL otherwise.
 */
const char *rdl_value_same_as(const struct rdl_value *v);
/* Adds a same_as constraint to a LIST or RANGE value. */
void rdl_value_set_same_as(struct rdl_value *v, const char *id);
bool rdl_value_is_vague(const struct rdl_value *v);
bool rdl_value_equal(const struct rdl_value *a, const struct rdl_value *b);
/* Where the value was read from (1-based), or 0 when built in memory. */
void rdl_value_pos(const struct rdl_value *v, int *ret_line, int *ret_col);

/* ---- properties: an ordered name -> value map (resources, features) ---- */

size_t rdl_props_count(const struct rdl_props *p);
const char *rdl_props_name_at(const struct rdl_props *p, size_t i);
const struct rdl_value *rdl_props_value_at(const struct rdl_props *p, size_t i);
const struct rdl_value *rdl_props_get(const struct rdl_props *p, const char *name);
/* Stores v under name (replacing, keeping the old position); takes ownership of v. */
void rdl_props_set(struct rdl_props *p, const char *name, struct rdl_value *v);
void rdl_props_set_number(struct rdl_props *p, const char *name, double v);
void rdl_props_set_string(struct rdl_props *p, const char *name, const char *s);
/* Returns 0, or -1 when name was not there. */
int rdl_props_remove(struct rdl_props *p, const char *name);
/* NUMBER value of name, or def when absent or not a number. */
double rdl_props_number(const struct rdl_props *p, const char *name, double def);
/* STRING value of name, or NULL. */
const char *rdl_props_string(const struct rdl_props *p, const char *name);

/* ---- graphs ---- */

struct rdl_graph *rdl_graph_new(enum rdl_kind kind, const char *name);
void rdl_graph_free(struct rdl_graph *g);
/* A deep copy; the caller frees it. */
struct rdl_graph *rdl_graph_copy(const struct rdl_graph *g);
/* Same content whatever the order of elements, interfaces and properties. */
bool rdl_graph_equal(const struct rdl_graph *a, const struct rdl_graph *b);

enum rdl_kind rdl_graph_kind(const struct rdl_graph *g);
const char *rdl_kind_name(enum rdl_kind kind);
const char *rdl_graph_name(const struct rdl_graph *g);
void rdl_graph_set_name(struct rdl_graph *g, const char *name);
/* The file the graph was read from, used to prefix diagnostics; NULL if none. */
const char *rdl_graph_file(const struct rdl_graph *g);
void rdl_graph_set_file(struct rdl_graph *g, const char *file);
/*
 * Overlays only: 0 (OL0, vague values allowed) or 1 (OL1, every value
 * definite, as produced by completion).
 */
int rdl_graph_level(const struct rdl_graph *g);
void rdl_graph_set_level(struct rdl_graph *g, int level);
/* Graph-level VLAN range of an underlay: 0 and fills, or -1 when none. */
int rdl_graph_vlan_range(const struct rdl_graph *g, int *ret_first, int *ret_last);
void rdl_graph_set_vlan_range(struct rdl_graph *g, int first, int last);

size_t rdl_graph_element_count(const struct rdl_graph *g);
/* Elements in document (insertion) order. */
struct rdl_element *rdl_graph_element_at(const struct rdl_graph *g, size_t i);
struct rdl_element *rdl_graph_element(const struct rdl_graph *g, const char *id);
/*
 * Adds an element; NULL with err set when the id is taken or the id or type
 * is malformed. The graph owns the element.
 */
struct rdl_element *rdl_graph_add_element(struct rdl_graph *g, const char *id, const char *type,
                                          struct cn_err *err);
/* Removes the element and every interface that touches it; -1 if unknown. */
int rdl_graph_remove_element(struct rdl_graph *g, const char *id);

size_t rdl_graph_interface_count(const struct rdl_graph *g);
void rdl_graph_interface_at(const struct rdl_graph *g, size_t i, struct rdl_element **ret_a,
                            struct rdl_element **ret_b);
/* Joins two existing elements; -1 with err set when either is unknown. */
int rdl_graph_add_interface(struct rdl_graph *g, const char *a, const char *b, struct cn_err *err);

/* ---- elements ---- */

const char *rdl_element_id(const struct rdl_element *e);
const char *rdl_element_type(const struct rdl_element *e);
bool rdl_element_is_node(const struct rdl_element *e);
bool rdl_element_is_link(const struct rdl_element *e);
/*
 * Whether e is a border node: a /node/host/pip node with a `transit`
 * feature, the far PIP's side of a transit link (docs/federation.md). It
 * hosts nothing but the stub that asks for that transit link.
 */
bool rdl_element_is_border(const struct rdl_element *e);
const struct rdl_props *rdl_element_resources(const struct rdl_element *e);
const struct rdl_props *rdl_element_features(const struct rdl_element *e);
struct rdl_props *rdl_element_resources_mut(struct rdl_element *e);
struct rdl_props *rdl_element_features_mut(struct rdl_element *e);
/* Elements joined to e by an interface, in interface order. */
size_t rdl_element_degree(const struct rdl_element *e);
struct rdl_element *rdl_element_neighbour(const struct rdl_element *e, size_t i);
/* A link's two endpoint nodes: 0, or -1 when it does not have exactly two. */
int rdl_link_endpoints(const struct rdl_element *link, struct rdl_element **ret_a,
                       struct rdl_element **ret_b);
/* Per-element VLAN range (transit links): 0 and fills, or -1 when none. */
int rdl_element_vlan_range(const struct rdl_element *e, int *ret_first, int *ret_last);
void rdl_element_set_vlan_range(struct rdl_element *e, int first, int last);
void rdl_element_pos(const struct rdl_element *e, int *ret_line, int *ret_col);

/* ---- mapping documents ---- */

const char *rdl_mapping_overlay(const struct rdl_graph *g);
const char *rdl_mapping_underlay(const struct rdl_graph *g);
void rdl_mapping_set_graphs(struct rdl_graph *g, const char *overlay, const char *underlay);

/* The solver's report; name NULL when the document has none. */
struct rdl_objective {
    const char *name;
    double value, bound, gap, solve_ms;
};
void rdl_mapping_objective(const struct rdl_graph *g, struct rdl_objective *ret_objective);
void rdl_mapping_set_objective(struct rdl_graph *g, const struct rdl_objective *objective);

size_t rdl_mapping_count(const struct rdl_graph *g);
struct rdl_map_entry *rdl_mapping_at(const struct rdl_graph *g, size_t i);
struct rdl_map_entry *rdl_mapping_get(const struct rdl_graph *g, const char *id);
/* NULL with err set when the id is taken or malformed. */
struct rdl_map_entry *rdl_mapping_add(struct rdl_graph *g, const char *id, struct cn_err *err);

const char *rdl_map_entry_id(const struct rdl_map_entry *m);
/* The underlay node an overlay node sits on, or NULL (a link entry). */
const char *rdl_map_entry_to(const struct rdl_map_entry *m);
void rdl_map_entry_set_to(struct rdl_map_entry *m, const char *node);
/* A link entry's path: underlay nodes and links alternating. */
size_t rdl_map_entry_path_len(const struct rdl_map_entry *m);
const char *rdl_map_entry_path_at(const struct rdl_map_entry *m, size_t i);
void rdl_map_entry_path_append(struct rdl_map_entry *m, const char *id);
/* Whether the entry has a path at all (a link entry, even of one node). */
bool rdl_map_entry_has_path(const struct rdl_map_entry *m);
const struct rdl_props *rdl_map_entry_resources(const struct rdl_map_entry *m);
const struct rdl_props *rdl_map_entry_features(const struct rdl_map_entry *m);
struct rdl_props *rdl_map_entry_resources_mut(struct rdl_map_entry *m);
struct rdl_props *rdl_map_entry_features_mut(struct rdl_map_entry *m);
/* The VLAN tag of a link entry, or -1. */
int rdl_map_entry_vlan(const struct rdl_map_entry *m);
void rdl_map_entry_set_vlan(struct rdl_map_entry *m, int vlan);
void rdl_map_entry_pos(const struct rdl_map_entry *m, int *ret_line, int *ret_col);

/* ---- YAML ---- */

/*
 * Reads and validates one document. On any problem returns NULL and adds
 * one "FILE:LINE:COLUMN: message" line per problem found to err (every
 * problem when the YAML itself is well-formed, the first syntax error
 * otherwise). `name` is what diagnostics call the input.
 */
struct rdl_graph *rdl_read_file(const char *path, struct cn_err *err);
struct rdl_graph *rdl_read_string(const char *name, const char *data, size_t len,
                                  struct cn_err *err);
/*
 * Appends the canonical YAML form of g to out. Deterministic: the same graph
 * always gives the same bytes, and reading the output gives an equal graph.
 */
int rdl_write(const struct rdl_graph *g, struct cn_buf *out, struct cn_err *err);
/* Writes to path atomically (temporary file, then rename). */
int rdl_write_file(const struct rdl_graph *g, const char *path, struct cn_err *err);

/*
 * The semantic checks of the reader, for graphs built in memory (a mapping
 * document is checked on its own, not against its overlay and underlay).
 * Adds one line per problem to err.
 */
int rdl_validate(const struct rdl_graph *g, struct cn_err *err);

/* ---- types and matching ---- */

/* Whether s is a well-formed type path: "/node/..." or "/link/...". */
bool rdl_type_valid(const char *type);
/*
 * Whether an overlay element of type t may sit on an underlay element of
 * type u: t without its trailing "generic" segments is a segment-wise prefix
 * of u.
 */
bool rdl_type_fits(const char *t, const char *u);
/*
 * Whether an underlay feature value `offer` can satisfy the overlay value
 * `demand` (a definite value, a list of alternatives or a range; a pure
 * same_as always can, it is settled jointly). An underlay list offers all
 * of its items.
 */
bool rdl_value_admits(const struct rdl_value *demand, const struct rdl_value *offer);
/*
 * Whether every feature demanded can be met by the features offered.
 * A feature the underlay does not have fails, except `image` (it names the
 * boot template and does not restrict placement), `address` and
 * `address.<link>` (interface configuration of the VNode) and `latency` (a
 * bound on paths, checked by the mapper).
 */
bool rdl_features_match(const struct rdl_props *demand, const struct rdl_props *offer);
/* Whether feature `name` can exclude an underlay element (see rdl_features_match). */
bool rdl_feature_restricts_placement(const char *name);
/* Whether every demanded resource is covered (capacity >= demand or range min). */
bool rdl_resources_fit(const struct rdl_props *demand, const struct rdl_props *capacity);

/* ---- completion ---- */

/*
 * Turns an OL0 overlay into an OL1 one by fixing every vague value (rule in
 * schemas/rdl-format.md). Returns a new graph the caller frees, or NULL with
 * err set (FILE:LINE:COLUMN of the value that cannot be satisfied).
 */
struct rdl_graph *rdl_complete(const struct rdl_graph *ol0, struct cn_err *err);

/* ---- drawing ---- */

/*
 * Appends a Graphviz DOT rendering of g. For a mapping document, `underlay`
 * (may be NULL otherwise) is drawn with the overlay elements placed on it.
 */
int rdl_write_dot(const struct rdl_graph *g, const struct rdl_graph *underlay, struct cn_buf *out,
                  struct cn_err *err);

#endif /* CLOUDNET_RDL_H */
