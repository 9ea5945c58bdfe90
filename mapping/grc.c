/*
 * The GRC baseline (Gong, Wen, Zhu, Wu, INFOCOM 2014, "Toward profit-seeking
 * virtual network embedding algorithm via global resource capacity").
 *
 * Every node gets a Global Resource Capacity rank, the fixed point of
 *     r = (1 - d) c + d M r
 * where c is the node's share of all residual cpu and M[i][j] is the share
 * of node j's adjacent residual bandwidth that runs on link (i, j): a
 * PageRank in which capacity flows along bandwidth. Request nodes are ranked
 * the same way by their demands. Request nodes, highest rank first, go to
 * the highest-ranked substrate node that can hold them (distinct hosts when
 * the request asks for it); links then follow shortest paths by hop count
 * over links with enough residual bandwidth.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAP_PRIV_H_ALLOW
#include "mapping/map_priv.h"
#include "util/util.h"

#define GRC_DAMPING 0.85
#define GRC_TOLERANCE 1e-6
#define GRC_MAX_ITER 200

/*
 * The rank vector of a graph with n nodes, node weights w and m edges
 * (eu, ev, ebw). Writes n ranks to r.
 */
static void
grc_rank(size_t n, const double *w, size_t m, const size_t *eu, const size_t *ev, const double *ebw,
         double *r)
{
    double *c = xcalloc(n + 1, sizeof(double));
    double *adj = xcalloc(n + 1, sizeof(double));
    double *next = xcalloc(n + 1, sizeof(double));
    double wsum = 0;
    for (size_t i = 0; i < n; i++)
        wsum += w[i];
    for (size_t i = 0; i < n; i++) {
        c[i] = wsum > 0 ? w[i] / wsum : 1.0 / (double)n;
        r[i] = c[i];
    }
    for (size_t k = 0; k < m; k++) {
        adj[eu[k]] += ebw[k];
        adj[ev[k]] += ebw[k];
    }
    for (int it = 0; it < GRC_MAX_ITER; it++) {
        for (size_t i = 0; i < n; i++)
            next[i] = (1 - GRC_DAMPING) * c[i];
        for (size_t k = 0; k < m; k++) {
            if (ebw[k] <= 0)
                continue;
            /* M[u][v] r[v] and M[v][u] r[u] */
            next[eu[k]] += GRC_DAMPING * ebw[k] / adj[ev[k]] * r[ev[k]];
            next[ev[k]] += GRC_DAMPING * ebw[k] / adj[eu[k]] * r[eu[k]];
        }
        double diff = 0;
        for (size_t i = 0; i < n; i++) {
            diff += fabs(next[i] - r[i]);
            r[i] = next[i];
        }
        if (diff < GRC_TOLERANCE)
            break;
    }
    free(c);
    free(adj);
    free(next);
}

static void
sort_by_rank(size_t *idx, size_t n, const double *rank)
{
    /* qsort has no context argument; an insertion sort keeps this reentrant. */
    for (size_t i = 1; i < n; i++) {
        size_t x = idx[i], j = i;
        while (j > 0 &&
               (rank[idx[j - 1]] < rank[x] || (rank[idx[j - 1]] == rank[x] && idx[j - 1] > x))) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = x;
    }
}

int
map_grc(const struct map_ctx *ctx, struct map_result **ret_res, struct cn_err *err)
{
    const struct map_substrate *sub = ctx->sub;
    const struct map_request *req = ctx->req;
    size_t ns = ctx->ns, nv = ctx->nv, ne = ctx->ne, nl = ctx->nl;
    size_t nres1 = ctx->nres ? ctx->nres : 1;
    size_t res_k = ctx->cpu >= 0 ? (size_t)ctx->cpu : 0;
    int ret = -1;
    struct map_result *res = NULL;

    double *sw = xcalloc(ns + 1, sizeof(double));
    double *srank = xcalloc(ns + 1, sizeof(double));
    size_t *eu = xcalloc(ne + nl + 1, sizeof(size_t));
    size_t *ev = xcalloc(ne + nl + 1, sizeof(size_t));
    double *ebw = xcalloc(ne + nl + 1, sizeof(double));
    double *vw = xcalloc(nv + 1, sizeof(double));
    double *vrank = xcalloc(nv + 1, sizeof(double));
    size_t *sorder = xcalloc(ns + 1, sizeof(size_t));
    size_t *vorder = xcalloc(nv + 1, sizeof(size_t));
    bool *taken = xcalloc(ns + 1, sizeof(bool));
    double *load = xcalloc(ns * nres1 + 1, sizeof(double));

    for (size_t s = 0; s < ns; s++)
        sw[s] = ctx->nres ? ctx->resid[s * nres1 + res_k] : 1;
    for (size_t e = 0; e < ne; e++) {
        eu[e] = sub->links[e].u;
        ev[e] = sub->links[e].v;
        ebw[e] = ctx->bw_resid[e];
    }
    grc_rank(ns, sw, ne, eu, ev, ebw, srank);

    for (size_t v = 0; v < nv; v++)
        vw[v] = ctx->nres ? ctx->dem[v * nres1 + res_k] : 1;
    for (size_t l = 0; l < nl; l++) {
        eu[l] = req->links[l].a;
        ev[l] = req->links[l].b;
        ebw[l] = req->links[l].bw;
    }
    grc_rank(nv, vw, nl, eu, ev, ebw, vrank);

    for (size_t s = 0; s < ns; s++)
        sorder[s] = s;
    for (size_t v = 0; v < nv; v++)
        vorder[v] = v;
    sort_by_rank(sorder, ns, srank);
    sort_by_rank(vorder, nv, vrank);

    res = map_result_new(nv, nl);
    for (size_t i = 0; i < nv; i++) {
        size_t v = vorder[i];
        for (size_t j = 0; j < ns && res->host[v] == MAP_NONE; j++) {
            size_t s = sorder[j];
            if (!ctx->ok[v * ns + s] || (req->distinct && taken[s]))
                continue;
            bool fits = true;
            for (size_t r = 0; r < ctx->nres && fits; r++)
                fits = load[s * nres1 + r] + ctx->dem[v * nres1 + r] <=
                       ctx->resid[s * nres1 + r] + MAP_EPS;
            if (!fits)
                continue;
            res->host[v] = s;
            taken[s] = true;
            for (size_t r = 0; r < ctx->nres; r++)
                load[s * nres1 + r] += ctx->dem[v * nres1 + r];
        }
        if (res->host[v] == MAP_NONE) {
            cn_err_set(err, CN_E_INFEASIBLE, "GRC found no host for request node %zu", v);
            goto cleanup;
        }
    }
    if (map_route_links(ctx, res) < 0) {
        cn_err_set(err, CN_E_INFEASIBLE, "GRC found no path for some request link");
        goto cleanup;
    }
    *ret_res = res;
    res = NULL;
    ret = 0;
cleanup:
    map_result_free(res);
    free(sw);
    free(srank);
    free(eu);
    free(ev);
    free(ebw);
    free(vw);
    free(vrank);
    free(sorder);
    free(vorder);
    free(taken);
    free(load);
    return ret;
}
