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
 * routed one wins.
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

int
map_heuristic(const struct map_ctx *ctx, struct map_result **ret_res, struct cn_err *err)
{
    const struct map_request *req = ctx->req;
    const struct map_substrate *sub = ctx->sub;
    size_t nv = ctx->nv, ns = ctx->ns;
    size_t nres1 = ctx->nres ? ctx->nres : 1;
    size_t beam = ctx->opts && ctx->opts->beam ? ctx->opts->beam : HEUR_DEFAULT_BEAM;
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
            for (size_t u = 0; u < nv; u++) {
                if (h[u] == MAP_NONE)
                    continue;
                taken[h[u]] = true;
                for (size_t r = 0; r < ctx->nres; r++)
                    load[h[u] * nres1 + r] += ctx->dem[u * nres1 + r];
            }
            for (size_t i = 0; i < ctx->ok_n[v]; i++) {
                size_t s = ctx->ok_list[v * ns + i];
                if (!isfinite(inc[s]))
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
                kids[nkids++] = (struct child){
                    .parent = st, .host = s, .score = score[st] + inc[s], .tie = tie[st] + room[s]};
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
        if (score[st] + ctx->node_cost_sum >= best_cost - 1e-9)
            break; /* routing never beats the estimate */
        struct map_result *res = map_result_new(nv, ctx->nl);
        memcpy(res->host, hosts + st * nv, nv * sizeof(size_t));
        if (map_route_links(ctx, res) < 0) {
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
    return ret;
}
