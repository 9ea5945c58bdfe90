/*
 * The mapping engine: places an overlay (a request: nodes with resource
 * demands joined by links with bandwidth demands and latency bounds) onto a
 * substrate (nodes with resource capacities joined by links with bandwidth
 * capacity and latency), node by node onto hosts and link by link onto
 * unsplittable paths.
 *
 * The engine works on plain numbers only: resources are named vectors of
 * doubles, nodes and links are dense indices. Callers that hold richer graph
 * models (RDL documents) translate them into these structures: type,
 * feature and location constraints become per-node candidate host sets, a
 * "forwarding: false" feature becomes a node that no path may cross.
 *
 * The substrate keeps how much of every capacity is in use, so an online
 * caller maps one request after another, allocates each accepted mapping and
 * releases it when the request leaves.
 *
 * Three algorithms are available: "heuristic" (a beam search over node
 * placements scored by shortest-path cost, then shortest-path routing),
 * "grc" (the Global Resource Capacity baseline of Gong et al., INFOCOM 2014)
 * and "mip" (an exact mixed integer program solved with GLPK, warm-started
 * by the heuristic). Objectives for the MIP are "cost", "load" and "energy".
 */
#ifndef CLOUDNET_MAPPING_H
#define CLOUDNET_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

struct cn_err;
struct map_substrate;
struct map_request;
struct map_result;

/* ---- substrate ---- */

/*
 * A substrate with nres named resources per node (for example "cpu",
 * "memory"). The names are copied. Free with map_substrate_free().
 */
struct map_substrate *map_substrate_new(size_t nres, const char *const *res_names);
void map_substrate_free(struct map_substrate *sub);

/*
 * Adds a node with capacities cap[0..nres-1] (copied; NULL means all zero).
 * A node with forwarding false may host overlay nodes and end paths, but no
 * path passes through it. name may be NULL. Returns the node's index, or -1.
 */
long map_substrate_add_node(struct map_substrate *sub, const char *name, const double *cap,
                            bool forwarding, struct cn_err *err);
/* Adds an undirected link; returns its index, or -1. */
long map_substrate_add_link(struct map_substrate *sub, const char *name, size_t u, size_t v,
                            double bandwidth, double latency, struct cn_err *err);
size_t map_substrate_num_nodes(const struct map_substrate *sub);
size_t map_substrate_num_links(const struct map_substrate *sub);
/* Index of a resource name, or -1. */
long map_substrate_resource(const struct map_substrate *sub, const char *name);
/* Capacity in use; res indexes the substrate's resources. */
double map_substrate_node_used(const struct map_substrate *sub, size_t node, size_t res);
double map_substrate_link_used(const struct map_substrate *sub, size_t link);

/*
 * Takes (allocate) or gives back (release) the resources a mapping of req
 * uses. Allocation fails, changing nothing, when a capacity would be
 * exceeded; release must be given exactly what was allocated.
 */
int map_substrate_allocate(struct map_substrate *sub, const struct map_request *req,
                           const struct map_result *res, struct cn_err *err);
int map_substrate_release(struct map_substrate *sub, const struct map_request *req,
                          const struct map_result *res, struct cn_err *err);

/* ---- request ---- */

/* A request whose nodes demand the named resources (matched by name). */
struct map_request *map_request_new(size_t nres, const char *const *res_names);
void map_request_free(struct map_request *req);
long map_request_add_node(struct map_request *req, const char *name, const double *demand,
                          struct cn_err *err);
/*
 * Restricts node v to the given substrate nodes (copied). Without a call,
 * every substrate node is a candidate.
 */
int map_request_set_candidates(struct map_request *req, size_t v, const size_t *hosts,
                               size_t nhosts, struct cn_err *err);
/* max_latency <= 0 or INFINITY means unbounded. */
long map_request_add_link(struct map_request *req, const char *name, size_t a, size_t b,
                          double bandwidth, double max_latency, struct cn_err *err);
/* When set, no two nodes of the request share a host (the classic VNE rule). */
void map_request_set_distinct_hosts(struct map_request *req, bool distinct);
size_t map_request_num_nodes(const struct map_request *req);
size_t map_request_num_links(const struct map_request *req);

/* ---- solving ---- */

enum map_algorithm {
    MAP_ALG_HEURISTIC,
    MAP_ALG_GRC,
    MAP_ALG_MIP,
};

struct map_options {
    enum map_algorithm algorithm;
    const char *objective; /* "cost" (default), "load", "energy"; MIP only */
    double time_limit_s;   /* MIP wall clock limit; <= 0: none */
    double mip_gap;        /* relative gap at which the MIP stops; 0: prove optimality */
    /*
     * 0 keeps the MIP exact. A positive value lets a request link's path use
     * only substrate arcs that lie on some path of at most that many hops
     * between its end nodes' candidates: smaller models, no optimality proof
     * (the reported bound is then the combinatorial one).
     */
    unsigned hop_limit;
    bool warm_start;    /* give the MIP the heuristic's solution (default true) */
    bool presolve;      /* GLPK MIP presolver instead of warm start injection */
    unsigned beam;      /* heuristic beam width; 0: default */
    bool solver_output; /* let GLPK print to the terminal */
};

void map_options_init(struct map_options *opts);
/* Parses "heuristic", "grc", "mip"; returns 0 or -1. */
int map_algorithm_parse(const char *name, enum map_algorithm *ret_alg);
/* Whether name is an objective the MIP knows. */
bool map_objective_known(const char *name);

/*
 * Maps req onto the residual capacities of sub (sub is not changed). On
 * success *ret_res holds a new result the caller frees with map_result_free().
 * Fails with CN_E_INFEASIBLE when no mapping exists (or the heuristic found
 * none), CN_E_TIMEOUT when the time limit ended the search without one,
 * CN_E_INVALID for bad input.
 */
int map_solve(const struct map_substrate *sub, const struct map_request *req,
              const struct map_options *opts, struct map_result **ret_res, struct cn_err *err);

/* ---- results ---- */

void map_result_free(struct map_result *res);
size_t map_result_host(const struct map_result *res, size_t v);
/*
 * The path of request link l as substrate link indices in order from the host
 * of its first end to the host of its second; *ret_n is 0 when both ends
 * share a host. The array belongs to res.
 */
const size_t *map_result_path(const struct map_result *res, size_t l, size_t *ret_n);
/* Value, proven lower bound and relative gap of the objective. */
double map_result_value(const struct map_result *res);
double map_result_bound(const struct map_result *res);
double map_result_gap(const struct map_result *res);
/* The classic cost of the mapping, whatever the objective. */
double map_result_cost(const struct map_result *res);
double map_result_solve_ms(const struct map_result *res);
/* True when the solution is proven optimal (gap 0, including tie-breaks). */
bool map_result_optimal(const struct map_result *res);

/* ---- RDL graphs ---- */

struct rdl_graph;

/*
 * How many combinations of same_as feature values (and hosts of nodes
 * marked `anti_affinity: true`) one map_rdl_solve() call solves at most;
 * beyond that it takes completion's choice for the values and gives every
 * node of the request its own host.
 */
#define MAP_RDL_MAX_COMBINATIONS 64

/*
 * Maps overlay (an RDL overlay, level 0 or 1) onto underlay after the
 * n_existing mapping documents in existing (on the same underlay) took
 * their resources. Candidates come from type fit, feature matching and free
 * capacity; vague resources take the least value their constraints allow;
 * same_as feature groups are decided inside the solve (exactly, within
 * MAP_RDL_MAX_COMBINATIONS); `forwarding: false` underlay nodes carry no
 * transit; an overlay node with `anti_affinity: true` shares its host with
 * no other node of the request. opts may be NULL (defaults); its
 * time_limit_s bounds the whole call.
 *
 * On success *ret_mapping is a new mapping document (DESIGN §3) the caller
 * frees with rdl_graph_free(). Fails with CN_E_INFEASIBLE and a message that
 * names the element and the reason when some node has no possible host, or
 * "infeasible: ..." when no mapping exists; CN_E_TIMEOUT ("no solution
 * within the time limit") when the limit ended the search without one;
 * CN_E_INVALID for documents of the wrong kind or existing mappings that do
 * not fit the underlay.
 */
int map_rdl_solve(const struct rdl_graph *underlay, const struct rdl_graph *const *existing,
                  size_t n_existing, const struct rdl_graph *overlay,
                  const struct map_options *opts, struct rdl_graph **ret_mapping,
                  struct cn_err *err);

/*
 * Checks that mapping places overlay on underlay correctly given the
 * existing mappings, re-deriving everything from the documents (it shares
 * no code with the solver): every element mapped, types and features
 * (final values admitted by the request and offered by the host), same_as
 * equality, anti-affinity, capacities of nodes and links including the
 * existing mappings, paths (alternating, adjacent, from the first
 * endpoint's host to the second's, no transit through forwarding: false),
 * latency bounds, and the reported objective value for cost, load and
 * energy. Returns 0 when valid, else -1 with one line per violation in err.
 */
int map_rdl_check(const struct rdl_graph *underlay, const struct rdl_graph *const *existing,
                  size_t n_existing, const struct rdl_graph *overlay,
                  const struct rdl_graph *mapping, struct cn_err *err);

#endif /* CLOUDNET_MAPPING_H */
