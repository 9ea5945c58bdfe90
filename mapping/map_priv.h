/*
 * The mapping engine's numeric internals: the layout of the substrate,
 * request and result objects, the solve context every algorithm shares, and
 * the algorithms' entry points. Only mapping/ and the programs that measure
 * or test it (bench/, tests/) include this header; they define
 * MAP_PRIV_H_ALLOW first.
 */
#ifndef MAP_PRIV_H_ALLOW
#error "map_priv.h is internal to the mapping engine, its tests and benchmarks"
#endif

#ifndef CLOUDNET_MAP_PRIV_H
#define CLOUDNET_MAP_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "mapping/mapping.h"

/*
 * Request nodes times substrate nodes beyond which an instance is large:
 * the exact placement search cannot finish and is skipped, the heuristic
 * narrows its beam and restarts instead.
 */
#define MAP_LARGE_INSTANCE 20000

/* Slack for comparing sums of demands with capacities. */
#define MAP_EPS 1e-9
#define MAP_NONE ((size_t)-1)

struct map_snode {
    char *name;      /* may be NULL */
    double *cap;     /* nres capacities */
    double *used;    /* nres amounts in use */
    bool forwarding; /* false: paths may end here but not pass through */
    unsigned users;  /* overlay nodes hosted plus paths touching this node */
    size_t *arcs;    /* outgoing arcs (see below) */
    size_t narcs, arcs_cap;
};

struct map_slink {
    char *name; /* may be NULL */
    size_t u, v;
    double bw, used, latency;
    unsigned users; /* paths crossing this link */
};

/*
 * Each undirected link e gives two arcs: 2e runs u->v, 2e+1 runs v->u.
 */
#define MAP_ARC_LINK(a) ((a) >> 1)

struct map_substrate {
    size_t nres;
    char **res_names;
    struct map_snode *nodes;
    size_t nnodes, nodes_cap;
    struct map_slink *links;
    size_t nlinks, links_cap;
};

static inline size_t
map_arc_tail(const struct map_substrate *sub, size_t arc)
{
    const struct map_slink *l = &sub->links[arc >> 1];
    return (arc & 1) ? l->v : l->u;
}

static inline size_t
map_arc_head(const struct map_substrate *sub, size_t arc)
{
    const struct map_slink *l = &sub->links[arc >> 1];
    return (arc & 1) ? l->u : l->v;
}

struct map_rnode {
    char *name;
    double *dem;  /* request's nres demands */
    size_t *cand; /* sorted candidate hosts, or NULL for all */
    size_t ncand;
    size_t home;      /* host in an earlier mapping, or MAP_NONE */
    double move_cost; /* added to the cost when placed elsewhere; INFINITY: stays */
};

struct map_rlink {
    char *name;
    size_t a, b;
    double bw;
    double max_lat; /* INFINITY when unbounded */
};

struct map_request {
    size_t nres;
    char **res_names;
    struct map_rnode *nodes;
    size_t nnodes, nodes_cap;
    struct map_rlink *links;
    size_t nlinks, links_cap;
    bool distinct;
    size_t max_hosts; /* 0: no limit on the hosts in use */
};

struct map_result {
    size_t nnodes, nlinks;
    size_t *host;     /* nnodes */
    size_t *path_off; /* nlinks + 1 offsets into path */
    size_t *path;     /* substrate links, from host(a) to host(b) */
    double value, bound, gap, cost, moves, solve_ms;
    bool optimal;
};

/* A new result for the given sizes, hosts MAP_NONE, paths empty. */
struct map_result *map_result_new(size_t nnodes, size_t nlinks);
/* Replaces every path with the given concatenated list (copied). */
void map_result_set_paths(struct map_result *res, const size_t *off, const size_t *links);
struct map_result *map_result_dup(const struct map_result *res);

/*
 * What every algorithm needs about one solve: the request's demands in the
 * substrate's resource order, residual capacities, which hosts each request
 * node may use, and the request's adjacency.
 */
struct map_ctx {
    const struct map_substrate *sub;
    const struct map_request *req;
    const struct map_options *opts;
    size_t ns, ne, nv, nl, nres;
    double *dem;      /* nv * nres */
    double *resid;    /* ns * nres */
    double *bw_resid; /* ne */
    bool *ok;         /* nv * ns: candidate whose residual covers the demand alone */
    size_t *ok_list;  /* nv * ns: the ok hosts of v, first ok_n[v] entries */
    size_t *ok_n;
    double *node_cost; /* nv: cost weight of node v (its cpu) */
    double node_cost_sum;
    long cpu; /* substrate index of "cpu", or -1 */
    /* move[v * ns + s]: penalty for placing v on s (NULL when no node has a home) */
    double *move;
    bool *busy; /* ns: already hosts something (counts against max_hosts) */
    size_t nbusy;
    /* request adjacency: links of v are radj[radj_off[v] .. radj_off[v+1]) */
    size_t *radj_off, *radj;
    double t0; /* cn_now() at the start of the solve */
};

int map_ctx_init(struct map_ctx *ctx, const struct map_substrate *sub,
                 const struct map_request *req, const struct map_options *opts, struct cn_err *err);
void map_ctx_release(struct map_ctx *ctx);

/* Whether arc may carry request link l (bandwidth, not into a non-forwarding
 * node other than the path's end: callers check ends). */
static inline bool
map_arc_bw_ok(const struct map_ctx *ctx, size_t arc, double bw)
{
    return ctx->bw_resid[MAP_ARC_LINK(arc)] + MAP_EPS >= bw;
}

/*
 * Routes every request link of res (whose hosts are set) on a shortest path
 * by hops over residual bandwidth, links in decreasing bandwidth order, each
 * honouring its latency bound. Returns 0, or -1 when some link found no path.
 */
int map_route_links(const struct map_ctx *ctx, struct map_result *res);

/*
 * Like map_route_links(), but each path steers clear of the request's
 * other hosts where their links would run short: slower, succeeds more
 * often on large, dense requests.
 */
int map_route_links_spread(const struct map_ctx *ctx, struct map_result *res);

/*
 * Shortest path by hops from s to t in the substrate restricted to arcs with
 * residual bw_left[link] >= bw and latency at most max_lat, passing only
 * through forwarding nodes. Fills path (links, in order) and returns its
 * length, or -1. path needs room for ns entries.
 */
long map_shortest_path(const struct map_ctx *ctx, const double *bw_left, size_t s, size_t t,
                       double bw, double max_lat, size_t *path);

/* Hop distances from s (or to s) over arcs with residual >= bw; SIZE_MAX when
 * unreachable. reverse: distances to s. */
void map_bfs(const struct map_ctx *ctx, const size_t *sources, size_t nsources, double bw,
             bool reverse, size_t *dist, size_t *queue);

/* Checks a full result against the residual capacities (used internally as a
 * safety net after every algorithm). */
int map_result_verify(const struct map_ctx *ctx, const struct map_result *res, struct cn_err *err);

/* Classic cost of res, and the objective evaluators. */
/*
 * map_eval_cost() is the cost objective: the classic cost plus the move
 * penalties of nodes placed away from their home (map_eval_moves()).
 */
double map_eval_cost(const struct map_ctx *ctx, const struct map_result *res);
double map_eval_moves(const struct map_ctx *ctx, const struct map_result *res);
double map_eval_load(const struct map_ctx *ctx, const struct map_result *res);
double map_eval_energy(const struct map_ctx *ctx, const struct map_result *res);
/* A lower bound on the cost of any mapping (node costs plus one hop per link
 * whose ends cannot share a host). */
double map_cost_lower_bound(const struct map_ctx *ctx);
/* 0 when the ends of request link l may share a host, else 1. */
unsigned map_link_min_hops(const struct map_ctx *ctx, size_t l);

/* The algorithms. Each returns 0 with *ret_res set, or -1 with err set. */
int map_heuristic(const struct map_ctx *ctx, struct map_result **ret_res, struct cn_err *err);
int map_grc(const struct map_ctx *ctx, struct map_result **ret_res, struct cn_err *err);
int map_mip(const struct map_ctx *ctx, struct map_result **ret_res, struct cn_err *err);

/*
 * The exact placement search for the cost objective (mapping/search.c).
 * *inout_best is the incumbent (may be NULL) and is replaced by anything
 * cheaper found. Stops at deadline (cn_now() seconds). *ret_bound is a
 * proven lower bound on the cost; *ret_proven tells whether the incumbent is
 * optimal (or, with none, that no mapping exists).
 */
/*
 * Routes request links exactly for the placement host[] with GLPK, looking
 * for cost below cutoff. Returns 1 with *ret_res set, 0 when none exists,
 * -1 when the time ran out first.
 */
int map_route_fixed(const struct map_ctx *ctx, const size_t *host, double cutoff,
                    struct map_result **ret_res);
int map_cost_search(const struct map_ctx *ctx, struct map_result **inout_best, double deadline,
                    double *ret_bound, bool *ret_proven);

/*
 * map_rdl_solve() with any objective map_solve() knows ("migration"
 * included) and at most max_hosts underlay nodes hosting something (0: no
 * limit); opts may not be NULL. For map_rdl_rebalance().
 */
int map_rdl_solve_limited(const struct rdl_graph *underlay, const struct rdl_graph *const *existing,
                          size_t n_existing, const struct rdl_graph *overlay,
                          const struct map_options *opts, size_t max_hosts,
                          struct rdl_graph **ret_mapping, struct cn_err *err);

#endif /* CLOUDNET_MAP_PRIV_H */
