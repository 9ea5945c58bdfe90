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
 * Re-mapping is migration-aware: a request node may have a home (its host
 * in an earlier mapping) that it leaves at a price, or never; and the hosts
 * in use may be limited, which map_rdl_rebalance() uses to empty a share of
 * the hosts with the fewest moves.
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
struct rdl_graph;

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
/*
 * Migration: node v sat on substrate node host in an earlier mapping.
 * Placing it anywhere else adds move_cost (>= 0) to the "cost" objective and
 * counts for the "migration" objective; move_cost INFINITY keeps it on host.
 */
int map_request_set_home(struct map_request *req, size_t v, size_t host, double move_cost,
                         struct cn_err *err);
/*
 * At most max_hosts substrate nodes may host nodes after mapping, counting
 * those that already host something (nodes with any resource in use). 0
 * means no limit.
 */
void map_request_set_max_hosts(struct map_request *req, size_t max_hosts);
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
    /*
     * "cost" (default), "load", "energy", "migration" (the sum of move
     * penalties, see map_request_set_home(); ties broken by cost); MIP only
     */
    const char *objective;
    double time_limit_s; /* MIP wall clock limit; <= 0: none */
    double mip_gap;      /* relative gap at which the MIP stops; 0: prove optimality */
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
    /*
     * Migration-aware re-mapping (map_rdl_solve() only): a mapping document
     * of an earlier version of this same overlay on this underlay, or NULL.
     */
    const struct rdl_graph *previous;
    /*
     * Added to the objective per overlay node placed on another host than
     * in previous; INFINITY (the default): such nodes never move. An
     * overlay node's feature `migration_cost: N` overrides it for that node.
     */
    double move_cost;
};

void map_options_init(struct map_options *opts);
/* Parses "heuristic", "grc", "mip"; returns 0 or -1. */
int map_algorithm_parse(const char *name, enum map_algorithm *ret_alg);
/*
 * Whether name is an objective of mapping documents: cost, load or energy
 * ("migration" is for map_solve() only).
 */
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
/* The classic cost of the mapping, whatever the objective (no move penalties). */
double map_result_cost(const struct map_result *res);
/* The sum of the move penalties of nodes placed away from their home. */
double map_result_moves(const struct map_result *res);
double map_result_solve_ms(const struct map_result *res);
/* True when the solution is proven optimal (gap 0, including tie-breaks). */
bool map_result_optimal(const struct map_result *res);

/* ---- RDL graphs ---- */

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
 * Re-mapping (opts->previous set): overlay nodes that previous places (same
 * id, a `to` entry) stay on that host when their move cost is INFINITY, or
 * pay it when they go elsewhere; nodes new in overlay are free; entries of
 * previous that overlay no longer has are ignored; links are re-routed
 * freely. The `migration_cost` feature only prices moves: placement
 * matching ignores it and the mapping does not repeat it. existing must
 * hold only the OTHER CloudNets' mappings: what previous itself uses is
 * not counted as taken, since the new mapping replaces it. The document's
 * objective value is the classic cost without move penalties (what
 * map_rdl_check() re-derives); its bound drops by the penalties paid.
 *
 * On success *ret_mapping is a new mapping document (DESIGN §3) the caller
 * frees with rdl_graph_free(). Fails with CN_E_INFEASIBLE and a message that
 * names the element and the reason when some node has no possible host
 * ("'web' cannot stay on 'h3': ..." for a node that may not move), or
 * "infeasible: ..." when no mapping exists; CN_E_TIMEOUT ("no solution
 * within the time limit") when the limit ended the search without one;
 * CN_E_INVALID for documents of the wrong kind, existing mappings that do
 * not fit the underlay, a previous mapping of another overlay or underlay,
 * or a negative move cost.
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

/* ---- rebalancing ---- */

/* One overlay node that a rebalance puts on another host. */
struct map_rdl_move {
    size_t cloudnet; /* index into the overlays given */
    char *element;   /* overlay node id */
    char *from, *to; /* underlay node ids */
    double cost;
};

/* What map_rdl_rebalance() found; free with map_rdl_rebalance_free(). */
struct map_rdl_rebalance {
    struct rdl_graph **mappings; /* the new mapping document of every CloudNet, in order */
    size_t n;
    struct map_rdl_move *moves; /* in CloudNet order, then document order */
    size_t nmoves;
    double move_cost;   /* the sum of the moves' costs */
    double gap;         /* relative gap of move_cost (0: proven least) */
    size_t hosts;       /* underlay nodes that can host VNodes (type under /node/host) */
    size_t used_before; /* hosts in use by the CloudNets and existing mappings, before */
    size_t used_after;  /* and after */
    size_t max_used;    /* the target: at most this many hosts in use */
    double solve_ms;
};

void map_rdl_rebalance_free(struct map_rdl_rebalance *rb);

/*
 * Re-maps the n CloudNets (overlays[i], currently mapped as current[i], all
 * on underlay) together so that at least free_pct percent of the hosts
 * carry nothing afterwards, moving as little as possible: one MIP over the
 * union of the overlays minimises the sum of the move costs, then the
 * classic cost. A node's move cost is its `migration_cost` feature, else
 * opts->move_cost, where INFINITY (the default) counts 1 per move. Links
 * are re-routed freely. existing are the mappings of the other CloudNets
 * on underlay (not current ones): they stay, and hosts they use count as
 * in use. opts may be NULL; its objective is ignored, its time_limit_s
 * bounds the whole call.
 *
 * On success *ret_rb holds the new mappings (each with a "cost" objective
 * that map_rdl_check() accepts with the other new mappings as existing)
 * and the moves. Fails with CN_E_INFEASIBLE and "cannot free P% of H
 * hosts: at most K (Q%) can be emptied" when the target is out of reach
 * (or the reason when the CloudNets do not fit at all), CN_E_TIMEOUT when
 * the time limit ended the search without an answer, CN_E_INVALID for bad
 * arguments or documents that do not belong together.
 */
int map_rdl_rebalance(const struct rdl_graph *underlay, const struct rdl_graph *const *existing,
                      size_t n_existing, const struct rdl_graph *const *overlays,
                      const struct rdl_graph *const *current, size_t n, double free_pct,
                      const struct map_options *opts, struct map_rdl_rebalance **ret_rb,
                      struct cn_err *err);

#endif /* CLOUDNET_MAPPING_H */
