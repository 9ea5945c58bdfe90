/*
 * An exact branch and bound over node placements for the cost objective,
 * used by the MIP driver before it builds a model.
 *
 * Relaxing the bandwidth that the links of one request share, the cost of a
 * placement is at least its node cost plus, per link, bandwidth times the hop
 * distance between the two hosts over links with enough residual bandwidth.
 * The search places nodes depth first (the heuristic's order), bounding each
 * partial placement by that distance cost for links with both ends placed,
 * by the distance to the nearest candidate for links with one end placed,
 * and by the minimum hops otherwise. A complete placement cheaper than the
 * incumbent is routed for real; when its routing achieves the distance cost
 * it becomes the incumbent. When it does not (links of the request compete
 * for bandwidth) the placement stays unresolved and its distance cost caps
 * the proven bound: the caller then hands the problem to GLPK.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAP_PRIV_H_ALLOW
#include "mapping/map_priv.h"
#include "util/util.h"

#define UNREACH UINT16_MAX
/* Distance rows kept at most; beyond, the search gives up (large substrates). */
#define MAX_ROWS_CELLS (24u << 20)
#define PEND_MAX 4096

struct search {
    const struct map_ctx *ctx;
    size_t ns, nv, nl;
    size_t *order;
    /* Distance rows per (bandwidth class, source), computed on demand. */
    size_t nclass;
    double *class_bw;
    size_t *link_class; /* nl */
    uint16_t **rows;    /* nclass * ns */
    size_t cells;
    size_t *queue, *dist;
    /* near[l * ns + s]: hops from s to the nearest candidate of l's far end (from s's side). */
    uint16_t *near_a; /* s hosts a: nearest candidate of b */
    uint16_t *near_b; /* s hosts b: nearest candidate of a */
    bool *near_done_a, *near_done_b;
    double *minhop; /* nl */
    size_t *host;
    bool *taken;
    double *load;
    double ub;
    struct map_result *best;
    double unresolved; /* least distance cost of a placement left unsettled */
    /* Placements whose routing missed their distance cost, settled later. */
    size_t *pend_host;
    double *pend_est;
    size_t npend, pend_cap;
    unsigned long nodes, node_limit;
    double deadline;
    bool aborted;
    double *inc;   /* scratch, nv * ns */
    size_t *cands; /* scratch, nv * ns */
};

static const uint16_t *
row(struct search *S, size_t cls, size_t s)
{
    uint16_t **r = &S->rows[cls * S->ns + s];
    if (*r)
        return *r;
    if (S->cells + S->ns > MAX_ROWS_CELLS) {
        S->aborted = true;
        return NULL;
    }
    S->cells += S->ns;
    *r = xmalloc(S->ns * sizeof(uint16_t));
    map_bfs(S->ctx, &s, 1, S->class_bw[cls], false, S->dist, S->queue);
    for (size_t t = 0; t < S->ns; t++)
        (*r)[t] = S->dist[t] >= UNREACH ? UNREACH : (uint16_t)S->dist[t];
    return *r;
}

/* Hops from s (hosting one end of l) to the nearest candidate of the other end. */
static uint16_t
near(struct search *S, size_t l, size_t s, bool s_is_a)
{
    const struct map_ctx *ctx = S->ctx;
    size_t idx = l * S->ns + s;
    uint16_t *cache = s_is_a ? S->near_a : S->near_b;
    bool *done = s_is_a ? S->near_done_a : S->near_done_b;
    if (done[idx])
        return cache[idx];
    const struct map_rlink *rl = &ctx->req->links[l];
    size_t other = s_is_a ? rl->b : rl->a;
    const uint16_t *r = row(S, S->link_class[l], s);
    uint16_t best = UNREACH;
    if (!r)
        return 0;
    for (size_t i = 0; i < ctx->ok_n[other]; i++) {
        size_t t = ctx->ok_list[other * S->ns + i];
        uint16_t d = t == s ? (ctx->req->distinct ? UNREACH : 0) : r[t];
        best = d < best ? d : best;
    }
    cache[idx] = best;
    done[idx] = true;
    return best;
}

static void
try_leaf(struct search *S, double est)
{
    const struct map_ctx *ctx = S->ctx;
    struct map_result *res = map_result_new(S->nv, S->nl);
    memcpy(res->host, S->host, S->nv * sizeof(size_t));
    if (map_route_links(ctx, res) == 0) {
        double c = map_eval_cost(ctx, res);
        if (c <= est + 1e-9) {
            map_result_free(S->best);
            S->best = res;
            S->ub = c;
            return;
        }
        /* Routed, but dearer than its estimate: an upper bound anyway. */
        if (c < S->ub - 1e-9) {
            map_result_free(S->best);
            S->best = res;
            S->ub = c;
            res = NULL;
        }
    }
    map_result_free(res);
    if (S->npend < PEND_MAX) {
        CN_GROW(S->pend_est, S->pend_cap, S->npend + 1);
        S->pend_host = xrealloc(S->pend_host, S->pend_cap * S->nv * sizeof(size_t));
        memcpy(S->pend_host + S->npend * S->nv, S->host, S->nv * sizeof(size_t));
        S->pend_est[S->npend++] = est;
    } else {
        S->unresolved = fmin(S->unresolved, est);
    }
}

/*
 * Settles the pending placements, cheapest estimate first, by routing each
 * exactly with GLPK; stops as soon as the estimates reach the incumbent.
 */
static void
settle_pending(struct search *S)
{
    while (S->npend > 0) {
        size_t k = 0;
        for (size_t i = 1; i < S->npend; i++) {
            if (S->pend_est[i] < S->pend_est[k])
                k = i;
        }
        double est = S->pend_est[k];
        if (est >= S->ub - 1e-9)
            break;
        if (cn_now() > S->deadline) {
            S->unresolved = fmin(S->unresolved, est);
            break;
        }
        struct map_result *res = NULL;
        int rc = map_route_fixed(S->ctx, S->pend_host + k * S->nv, S->ub, &res);
        if (rc == 1) {
            double c = map_eval_cost(S->ctx, res);
            if (c < S->ub - 1e-9) {
                map_result_free(S->best);
                S->best = res;
                S->ub = c;
                res = NULL;
            }
            map_result_free(res);
        } else if (rc < 0) {
            S->unresolved = fmin(S->unresolved, est);
            break;
        }
        S->npend--;
        S->pend_est[k] = S->pend_est[S->npend];
        memcpy(S->pend_host + k * S->nv, S->pend_host + S->npend * S->nv, S->nv * sizeof(size_t));
    }
}

static int
cmp_inc(const void *pa, const void *pb, void *arg)
{
    const double *inc = arg;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    if (inc[a] != inc[b])
        return inc[a] < inc[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

static void
dfs(struct search *S, size_t depth, double bound)
{
    const struct map_ctx *ctx = S->ctx;
    const struct map_request *req = ctx->req;
    size_t ns = S->ns;
    size_t nres1 = ctx->nres ? ctx->nres : 1;
    if (S->aborted)
        return;
    if (++S->nodes > S->node_limit || ((S->nodes & 1023) == 0 && cn_now() > S->deadline)) {
        S->aborted = true;
        return;
    }
    if (depth == S->nv) {
        try_leaf(S, bound);
        return;
    }
    size_t v = S->order[depth];
    double *inc = S->inc + depth * ns;
    size_t *cands = S->cands + depth * ns;
    size_t nc = 0;
    for (size_t i = 0; i < ctx->ok_n[v]; i++) {
        size_t s = ctx->ok_list[v * ns + i];
        if (S->taken[s]) {
            if (req->distinct)
                continue;
            bool fits = true;
            for (size_t r = 0; r < ctx->nres && fits; r++)
                fits = S->load[s * nres1 + r] + ctx->dem[v * nres1 + r] <=
                       ctx->resid[s * nres1 + r] + MAP_EPS;
            if (!fits)
                continue;
        }
        double d = 0;
        bool ok = true;
        for (size_t k = ctx->radj_off[v]; k < ctx->radj_off[v + 1] && ok; k++) {
            size_t l = ctx->radj[k];
            const struct map_rlink *rl = &req->links[l];
            bool v_is_a = rl->a == v;
            size_t u = v_is_a ? rl->b : rl->a;
            if (S->host[u] != MAP_NONE) {
                const uint16_t *r = row(S, S->link_class[l], S->host[u]);
                if (!r)
                    return;
                uint16_t hops = S->host[u] == s ? 0 : r[s];
                if (hops == UNREACH) {
                    ok = false;
                    break;
                }
                uint16_t was = near(S, l, S->host[u], !v_is_a);
                d += rl->bw * ((double)hops - (double)was);
            } else {
                uint16_t n = near(S, l, s, v_is_a);
                if (n == UNREACH) {
                    ok = false;
                    break;
                }
                d += rl->bw * ((double)n - S->minhop[l]);
            }
        }
        if (!ok || bound + d >= S->ub - 1e-9)
            continue;
        inc[s] = d;
        cands[nc++] = s;
    }
    qsort_r(cands, nc, sizeof(size_t), cmp_inc, inc);
    for (size_t i = 0; i < nc; i++) {
        size_t s = cands[i];
        if (bound + inc[s] >= S->ub - 1e-9)
            break;
        bool was_taken = S->taken[s];
        S->host[v] = s;
        S->taken[s] = true;
        for (size_t r = 0; r < ctx->nres; r++)
            S->load[s * nres1 + r] += ctx->dem[v * nres1 + r];
        dfs(S, depth + 1, bound + inc[s]);
        for (size_t r = 0; r < ctx->nres; r++)
            S->load[s * nres1 + r] -= ctx->dem[v * nres1 + r];
        S->taken[s] = was_taken;
        S->host[v] = MAP_NONE;
        if (S->aborted)
            return;
    }
}

/* Placement order: each next node the one most tied to those placed. */
static void
search_order(const struct map_ctx *ctx, size_t *order)
{
    size_t nv = ctx->nv;
    bool *placed = xcalloc(nv + 1, sizeof(bool));
    double *tied = xcalloc(nv + 1, sizeof(double));
    for (size_t i = 0; i < nv; i++) {
        size_t best = MAP_NONE;
        for (size_t v = 0; v < nv; v++) {
            if (placed[v])
                continue;
            if (best == MAP_NONE || tied[v] > tied[best] + 1e-12 ||
                (fabs(tied[v] - tied[best]) <= 1e-12 && ctx->ok_n[v] < ctx->ok_n[best]))
                best = v;
        }
        order[i] = best;
        placed[best] = true;
        for (size_t k = ctx->radj_off[best]; k < ctx->radj_off[best + 1]; k++) {
            const struct map_rlink *rl = &ctx->req->links[ctx->radj[k]];
            tied[rl->a == best ? rl->b : rl->a] += rl->bw + 1e-3;
        }
    }
    free(placed);
    free(tied);
}

int
map_cost_search(const struct map_ctx *ctx, struct map_result **inout_best, double deadline,
                double *ret_bound, bool *ret_proven)
{
    struct search S;
    size_t ns = ctx->ns, nl = ctx->nl;
    memset(&S, 0, sizeof(S));
    S.ctx = ctx;
    S.ns = ns;
    S.nv = ctx->nv;
    S.nl = nl;
    S.order = xmalloc((S.nv + 1) * sizeof(size_t));
    search_order(ctx, S.order);
    S.class_bw = xmalloc((nl + 1) * sizeof(double));
    S.link_class = xmalloc((nl + 1) * sizeof(size_t));
    for (size_t l = 0; l < nl; l++) {
        double bw = ctx->req->links[l].bw;
        size_t c;
        for (c = 0; c < S.nclass && S.class_bw[c] != bw; c++)
            ;
        if (c == S.nclass)
            S.class_bw[S.nclass++] = bw;
        S.link_class[l] = c;
    }
    S.rows = xcalloc(S.nclass * ns + 1, sizeof(uint16_t *));
    S.queue = xmalloc((ns + 1) * sizeof(size_t));
    S.dist = xmalloc((ns + 1) * sizeof(size_t));
    S.near_a = xcalloc(nl * ns + 1, sizeof(uint16_t));
    S.near_b = xcalloc(nl * ns + 1, sizeof(uint16_t));
    S.near_done_a = xcalloc(nl * ns + 1, sizeof(bool));
    S.near_done_b = xcalloc(nl * ns + 1, sizeof(bool));
    S.minhop = xcalloc(nl + 1, sizeof(double));
    S.host = xmalloc((S.nv + 1) * sizeof(size_t));
    S.taken = xcalloc(ns + 1, sizeof(bool));
    S.load = xcalloc(ns * (ctx->nres ? ctx->nres : 1) + 1, sizeof(double));
    S.inc = xcalloc(S.nv * ns + 1, sizeof(double));
    S.cands = xcalloc(S.nv * ns + 1, sizeof(size_t));
    for (size_t v = 0; v < S.nv; v++)
        S.host[v] = MAP_NONE;
    double bound0 = ctx->node_cost_sum;
    /* The fewest hops between any candidates of a link's two ends. */
    size_t *src = xmalloc((ns + 1) * sizeof(size_t));
    for (size_t l = 0; l < nl; l++) {
        const struct map_rlink *rl = &ctx->req->links[l];
        size_t n = 0, m = SIZE_MAX;
        for (size_t i = 0; i < ctx->ok_n[rl->a]; i++)
            src[n++] = ctx->ok_list[rl->a * ns + i];
        map_bfs(ctx, src, n, rl->bw, false, S.dist, S.queue);
        for (size_t i = 0; i < ctx->ok_n[rl->b]; i++) {
            size_t d = S.dist[ctx->ok_list[rl->b * ns + i]];
            m = d < m ? d : m;
        }
        S.minhop[l] = map_link_min_hops(ctx, l);
        if (m == SIZE_MAX)
            S.minhop[l] = INFINITY;
        else if ((double)m > S.minhop[l])
            S.minhop[l] = (double)m;
        bound0 += ctx->req->links[l].bw * S.minhop[l];
    }
    free(src);
    S.best = *inout_best;
    S.ub = S.best ? map_eval_cost(ctx, S.best) : INFINITY;
    S.unresolved = INFINITY;
    S.node_limit = 2000000;
    S.deadline = deadline;

    if (isfinite(bound0))
        dfs(&S, 0, bound0);
    if (!S.aborted)
        settle_pending(&S);

    *inout_best = S.best;
    *ret_proven = !S.aborted && S.unresolved >= S.ub - 1e-9;
    /* Infinite when no placement can be routed at all. */
    *ret_bound = S.aborted ? fmin(bound0, S.ub) : fmin(S.ub, S.unresolved);
    for (size_t i = 0; i < S.nclass * ns; i++)
        free(S.rows[i]);
    free(S.rows);
    free(S.order);
    free(S.class_bw);
    free(S.link_class);
    free(S.queue);
    free(S.dist);
    free(S.near_a);
    free(S.near_b);
    free(S.near_done_a);
    free(S.near_done_b);
    free(S.minhop);
    free(S.host);
    free(S.taken);
    free(S.load);
    free(S.inc);
    free(S.cands);
    free(S.pend_host);
    free(S.pend_est);
    return 0;
}
