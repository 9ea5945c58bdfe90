/*
 * The fast heuristic: a beam search over node placements followed by
 * shortest-path routing. Request nodes are placed one at a time, each next
 * node being the one most strongly tied (by bandwidth) to those already
 * placed. A partial placement is scored by what its links will cost at
 * least: bandwidth times the hop distance, over links with enough residual
 * bandwidth, between the hosts of their ends. Ties go to hosts with more
 * residual capacity around them, which keeps scarce places free for later
 * requests. The best few complete placements are routed for real (widest
 * links first, each on a shortest path over what is left) and the cheapest
 * routed one wins. When shortest paths run out of bandwidth, routing tries
 * again steering clear of the request's other hosts. On large instances
 * seeded restarts then spread bandwidth-heavy nodes over well-connected
 * hosts (and shake the scores a little), keeping the cheapest mapping,
 * until a share of the time limit is used.
 *
 * Its result is also the MIP's warm start and the upper bound from which
 * the MIP prunes arc variables.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAP_PRIV_H_ALLOW
#include "mapping/map_priv.h"
#include "util/util.h"

#define HEUR_DEFAULT_BEAM 32

struct child {
    size_t parent, host;
    double score, tie;
};

static int
cmp_child(const void *pa, const void *pb)
{
    const struct child *a = pa, *b = pb;
    if (a->score < b->score - 1e-9)
        return -1;
    if (a->score > b->score + 1e-9)
        return 1;
    if (a->tie > b->tie)
        return -1;
    if (a->tie < b->tie)
        return 1;
    if (a->parent != b->parent)
        return a->parent < b->parent ? -1 : 1;
    return a->host < b->host ? -1 : a->host > b->host;
}

/* Placement order: strongest bandwidth ties to already placed nodes first. */
static void
placement_order(const struct map_ctx *ctx, size_t *order)
{
    const struct map_request *req = ctx->req;
    size_t nv = ctx->nv;
    bool *placed = xcalloc(nv + 1, sizeof(bool));
    double *tied = xcalloc(nv + 1, sizeof(double));
    double *total = xcalloc(nv + 1, sizeof(double));
    for (size_t l = 0; l < ctx->nl; l++) {
        total[req->links[l].a] += req->links[l].bw + 1e-3;
        total[req->links[l].b] += req->links[l].bw + 1e-3;
    }
    for (size_t v = 0; v < nv; v++)
        total[v] += ctx->node_cost[v];
    for (size_t i = 0; i < nv; i++) {
        size_t best = MAP_NONE;
        for (size_t v = 0; v < nv; v++) {
            if (placed[v])
                continue;
            /* Fewer candidate hosts first among equals: constrained nodes. */
            if (best == MAP_NONE || tied[v] > tied[best] + 1e-12 ||
                (fabs(tied[v] - tied[best]) <= 1e-12 &&
                 (ctx->ok_n[v] < ctx->ok_n[best] ||
                  (ctx->ok_n[v] == ctx->ok_n[best] && total[v] > total[best]))))
                best = v;
        }
        order[i] = best;
        placed[best] = true;
        for (size_t k = ctx->radj_off[best]; k < ctx->radj_off[best + 1]; k++) {
            const struct map_rlink *rl = &req->links[ctx->radj[k]];
            size_t other = rl->a == best ? rl->b : rl->a;
            tied[other] += rl->bw + 1e-3;
        }
    }
    free(placed);
    free(tied);
    free(total);
}

/* A small xorshift generator: restarts must be reproducible. */
static double
next_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return (double)(x >> 11) / 9007199254740992.0;
}

/*
 * One beam search. With a seed (restarts after a failure), hosts whose
 * links have little room beyond what the node needs score worse and ties
 * are broken at random, which spreads the bandwidth-heavy nodes of large
 * requests over well-connected hosts.
 */
static int
beam_pass(const struct map_ctx *ctx, size_t beam, uint64_t seed, struct map_result **ret_res,
          struct cn_err *err)
{
    const struct map_request *req = ctx->req;
    const struct map_substrate *sub = ctx->sub;
    size_t nv = ctx->nv, ns = ctx->ns;
    size_t nres1 = ctx->nres ? ctx->nres : 1;
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
    double *need = NULL, *inc_bw = NULL;
    if (seed) {
        need = xcalloc(nv + 1, sizeof(double));
        inc_bw = xcalloc(ns + 1, sizeof(double));
        for (size_t l = 0; l < ctx->nl; l++) {
            need[req->links[l].a] += req->links[l].bw;
            need[req->links[l].b] += req->links[l].bw;
        }
        for (size_t e = 0; e < ctx->ne; e++) {
            inc_bw[sub->links[e].u] += ctx->bw_resid[e];
            inc_bw[sub->links[e].v] += ctx->bw_resid[e];
        }
    }
    struct map_result *best = NULL;
    double best_cost = INFINITY;
    int ret = -1;

    size_t *order = xmalloc((nv + 1) * sizeof(size_t));
    placement_order(ctx, order);

    /* How much room is around each host, for tie-breaking. */
    double *room = xcalloc(ns + 1, sizeof(double));
    for (size_t s = 0; s < ns; s++) {
        double bw = 0, node = 0;
        for (size_t i = 0; i < sub->nodes[s].narcs; i++)
            bw += ctx->bw_resid[MAP_ARC_LINK(sub->nodes[s].arcs[i])];
        for (size_t r = 0; r < ctx->nres; r++) {
            double cap = sub->nodes[s].cap[r];
            if (cap > 0)
                node += ctx->resid[s * nres1 + r] / cap;
        }
        room[s] = (node + 1e-3) * (bw + 1e-3);
    }

    size_t *hosts = xmalloc((beam * nv + 1) * sizeof(size_t));
    size_t *nhosts = xmalloc((beam * nv + 1) * sizeof(size_t));
    double *score = xcalloc(beam + 1, sizeof(double));
    double *tie = xcalloc(beam + 1, sizeof(double));
    double *nscore = xcalloc(beam + 1, sizeof(double));
    double *ntie = xcalloc(beam + 1, sizeof(double));
    size_t nstates = 1;
    for (size_t v = 0; v < nv; v++)
        hosts[v] = MAP_NONE;

    size_t maxchild = beam * ns + 1;
    struct child *kids = xmalloc(maxchild * sizeof(*kids));
    double *inc = xmalloc((ns + 1) * sizeof(double));
    size_t *dist = xmalloc((ns + 1) * sizeof(size_t));
    size_t *queue = xmalloc((ns + 1) * sizeof(size_t));
    bool *taken = xcalloc(ns + 1, sizeof(bool));
    double *load = xcalloc(ns * nres1 + 1, sizeof(double));

    for (size_t step = 0; step < nv; step++) {
        size_t v = order[step];
        size_t nkids = 0;
        for (size_t st = 0; st < nstates; st++) {
            size_t *h = hosts + st * nv;
            for (size_t i = 0; i < ctx->ok_n[v]; i++)
                inc[ctx->ok_list[v * ns + i]] = 0;
            for (size_t k = ctx->radj_off[v]; k < ctx->radj_off[v + 1]; k++) {
                const struct map_rlink *rl = &req->links[ctx->radj[k]];
                size_t u = rl->a == v ? rl->b : rl->a;
                if (h[u] == MAP_NONE)
                    continue;
                map_bfs(ctx, &h[u], 1, rl->bw, false, dist, queue);
                for (size_t i = 0; i < ctx->ok_n[v]; i++) {
                    size_t s = ctx->ok_list[v * ns + i];
                    if (dist[s] == SIZE_MAX)
                        inc[s] = INFINITY;
                    else
                        inc[s] += rl->bw * (double)dist[s];
                }
            }
            size_t nused = ctx->nbusy;
            for (size_t u = 0; u < nv; u++) {
                if (h[u] == MAP_NONE)
                    continue;
                nused += !taken[h[u]] && !ctx->busy[h[u]];
                taken[h[u]] = true;
                for (size_t r = 0; r < ctx->nres; r++)
                    load[h[u] * nres1 + r] += ctx->dem[u * nres1 + r];
            }
            for (size_t i = 0; i < ctx->ok_n[v]; i++) {
                size_t s = ctx->ok_list[v * ns + i];
                if (!isfinite(inc[s]))
                    continue;
                if (req->max_hosts && !taken[s] && !ctx->busy[s] && nused >= req->max_hosts)
                    continue;
                if (taken[s]) {
                    if (req->distinct)
                        continue;
                    bool fits = true;
                    for (size_t r = 0; r < ctx->nres && fits; r++)
                        fits = load[s * nres1 + r] + ctx->dem[v * nres1 + r] <=
                               ctx->resid[s * nres1 + r] + MAP_EPS;
                    if (!fits)
                        continue;
                }
                double mv = ctx->move ? ctx->move[v * ns + s] : 0;
                double add = inc[s] + mv;
                if (seed) {
                    add += need[v] * need[v] / (inc_bw[s] + 1e-9);
                    /* Later rounds shake the scores by up to a fifth. */
                    if (seed > 1)
                        add *= 1 + 0.2 * next_rand(&rng);
                }
                kids[nkids++] = (struct child){
                    .parent = st, .host = s, .score = score[st] + add, .tie = tie[st] + room[s]};
            }
            for (size_t u = 0; u < nv; u++) {
                if (h[u] == MAP_NONE)
                    continue;
                taken[h[u]] = false;
                for (size_t r = 0; r < ctx->nres; r++)
                    load[h[u] * nres1 + r] = 0;
            }
        }
        if (nkids == 0) {
            cn_err_set(err, CN_E_INFEASIBLE, "heuristic found no host for request node %zu", v);
            goto cleanup;
        }
        qsort(kids, nkids, sizeof(*kids), cmp_child);
        size_t keep = nkids < beam ? nkids : beam;
        for (size_t i = 0; i < keep; i++) {
            memcpy(nhosts + i * nv, hosts + kids[i].parent * nv, nv * sizeof(size_t));
            nhosts[i * nv + v] = kids[i].host;
            nscore[i] = kids[i].score;
            ntie[i] = kids[i].tie;
        }
        size_t *tmp = hosts;
        hosts = nhosts;
        nhosts = tmp;
        double *t2 = score;
        score = nscore;
        nscore = t2;
        t2 = tie;
        tie = ntie;
        ntie = t2;
        nstates = keep;
    }

    /* Route the complete placements, best estimate first. */
    double lb = map_cost_lower_bound(ctx);
    for (size_t st = 0; st < nstates; st++) {
        if (!seed && score[st] + ctx->node_cost_sum >= best_cost - 1e-9)
            break; /* routing never beats the estimate */
        struct map_result *res = map_result_new(nv, ctx->nl);
        memcpy(res->host, hosts + st * nv, nv * sizeof(size_t));
        if (map_route_links(ctx, res) < 0 && map_route_links_spread(ctx, res) < 0) {
            map_result_free(res);
            continue;
        }
        double c = map_eval_cost(ctx, res);
        if (c < best_cost - 1e-9) {
            map_result_free(best);
            best = res;
            best_cost = c;
            if (c <= lb + 1e-9)
                break;
        } else {
            map_result_free(res);
        }
    }
    if (!best) {
        cn_err_set(err, CN_E_INFEASIBLE, "heuristic found no routable placement");
        goto cleanup;
    }
    *ret_res = best;
    best = NULL;
    ret = 0;
cleanup:
    map_result_free(best);
    free(order);
    free(room);
    free(hosts);
    free(nhosts);
    free(score);
    free(tie);
    free(nscore);
    free(ntie);
    free(kids);
    free(inc);
    free(dist);
    free(queue);
    free(taken);
    free(load);
    free(need);
    free(inc_bw);
    return ret;
}

/*
 * Restarts on large instances improve on a mapping for this share of the
 * time limit (or this many rounds without one).
 */
#define HEUR_RESTART_SHARE 0.4
#define HEUR_RESTARTS_UNLIMITED 8
#define HEUR_LARGE_BEAM 4

int
map_heuristic(const struct map_ctx *ctx, struct map_result **ret_res, struct cn_err *err)
{
    size_t beam = ctx->opts && ctx->opts->beam ? ctx->opts->beam : HEUR_DEFAULT_BEAM;
    /*
     * Large instances (where neither the exact search nor the MIP can take
     * over) get a narrow beam, and restarts make up for it. Small ones keep
     * the wide beam and no restarts: the MIP decides them.
     */
    bool large = ctx->ns * ctx->nv > MAP_LARGE_INSTANCE;
    if (!(ctx->opts && ctx->opts->beam) && large)
        beam = HEUR_LARGE_BEAM;
    struct map_result *best = NULL;
    if (beam_pass(ctx, beam, 0, &best, err) < 0 && (!large || err->code != CN_E_INFEASIBLE))
        return -1;
    if (!large || ctx->nl == 0) {
        *ret_res = best;
        return best ? 0 : -1;
    }
    /*
     * Restarts, to find a mapping or a cheaper one: nothing else can
     * improve on it at this size.
     */
    double limit = ctx->opts ? ctx->opts->time_limit_s : 0;
    /* Looking for a first mapping may take the whole limit, improving on one a share. */
    double improve_by = limit > 0 ? ctx->t0 + HEUR_RESTART_SHARE * limit : INFINITY;
    double find_by = limit > 0 ? ctx->t0 + limit : INFINITY;
    double best_cost = best ? map_eval_cost(ctx, best) : INFINITY;
    struct cn_err rerr = CN_ERR_INIT;
    cn_err_init(&rerr);
    for (uint64_t seed = 1;; seed++) {
        double now = cn_now();
        if (seed > 1 && now >= (best ? improve_by : find_by))
            break;
        if (limit <= 0 && seed > HEUR_RESTARTS_UNLIMITED)
            break;
        struct map_result *res = NULL;
        if (beam_pass(ctx, beam, seed, &res, &rerr) < 0)
            continue;
        double c = map_eval_cost(ctx, res);
        if (c < best_cost - 1e-9) {
            map_result_free(best);
            best = res;
            best_cost = c;
        } else {
            map_result_free(res);
        }
    }
    cn_err_release(&rerr);
    if (!best)
        return -1;
    *ret_res = best;
    return 0;
}
