/*
 * What every mapping algorithm shares: the solve context (residual
 * capacities, candidate hosts, request adjacency), breadth-first distances,
 * shortest paths with bandwidth and latency limits, the objective
 * evaluators, a final check of every result, and map_solve(), which picks
 * the algorithm.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAP_PRIV_H_ALLOW
#include "mapping/map_priv.h"
#include "util/util.h"

void
map_options_init(struct map_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->algorithm = MAP_ALG_MIP;
    opts->objective = "cost";
    opts->time_limit_s = 10;
    opts->mip_gap = 0;
    opts->hop_limit = 0;
    opts->warm_start = true;
    opts->presolve = false;
    opts->beam = 0;
    opts->solver_output = false;
    opts->previous = NULL;
    opts->move_cost = INFINITY;
}

int
map_algorithm_parse(const char *name, enum map_algorithm *ret_alg)
{
    static const struct {
        const char *name;
        enum map_algorithm alg;
    } algs[] = {
        {.name = "heuristic", .alg = MAP_ALG_HEURISTIC},
        {.name = "grc", .alg = MAP_ALG_GRC},
        {.name = "mip", .alg = MAP_ALG_MIP},
    };
    for (size_t i = 0; i < CN_ARRAY_SIZE(algs); i++) {
        if (strcmp(algs[i].name, name) == 0) {
            *ret_alg = algs[i].alg;
            return 0;
        }
    }
    return -1;
}

int
map_ctx_init(struct map_ctx *ctx, const struct map_substrate *sub, const struct map_request *req,
             const struct map_options *opts, struct cn_err *err)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->t0 = cn_now();
    ctx->sub = sub;
    ctx->req = req;
    ctx->opts = opts;
    ctx->ns = sub->nnodes;
    ctx->ne = sub->nlinks;
    ctx->nv = req->nnodes;
    ctx->nl = req->nlinks;
    ctx->nres = sub->nres;
    size_t nres1 = ctx->nres ? ctx->nres : 1;

    for (size_t v = 0; v < ctx->nv; v++) {
        const struct map_rnode *n = &req->nodes[v];
        for (size_t i = 0; n->cand && i < n->ncand; i++) {
            if (n->cand[i] >= ctx->ns)
                return cn_err_set(err, CN_E_INVALID, "request node %zu: no substrate node %zu", v,
                                  n->cand[i]);
        }
        if (n->home != MAP_NONE && n->home >= ctx->ns)
            return cn_err_set(err, CN_E_INVALID, "request node %zu: no substrate node %zu", v,
                              n->home);
    }

    ctx->dem = xcalloc(ctx->nv * nres1 + 1, sizeof(double));
    bool *unplaceable = xcalloc(ctx->nv + 1, sizeof(bool));
    for (size_t r = 0; r < req->nres; r++) {
        long k = map_substrate_resource(sub, req->res_names[r]);
        for (size_t v = 0; v < ctx->nv; v++) {
            double d = req->nodes[v].dem[r];
            if (k >= 0)
                ctx->dem[v * nres1 + (size_t)k] += d;
            else if (d > 0)
                unplaceable[v] = true;
        }
    }
    ctx->resid = xcalloc(ctx->ns * nres1 + 1, sizeof(double));
    for (size_t s = 0; s < ctx->ns; s++) {
        for (size_t r = 0; r < ctx->nres; r++)
            ctx->resid[s * nres1 + r] = sub->nodes[s].cap[r] - sub->nodes[s].used[r];
    }
    ctx->bw_resid = xcalloc(ctx->ne + 1, sizeof(double));
    for (size_t e = 0; e < ctx->ne; e++)
        ctx->bw_resid[e] = sub->links[e].bw - sub->links[e].used;

    ctx->ok = xcalloc(ctx->nv * ctx->ns + 1, sizeof(bool));
    ctx->ok_list = xcalloc(ctx->nv * ctx->ns + 1, sizeof(size_t));
    ctx->ok_n = xcalloc(ctx->nv + 1, sizeof(size_t));
    /*
     * With distinct hosts every link of v leaves v's host, so the host's
     * links must have room for all of them together, and one of them for the
     * widest: hosts that fail this can never carry v.
     */
    double *inc = NULL, *inc_max = NULL, *need = NULL, *need_max = NULL;
    if (req->distinct) {
        inc = xcalloc(ctx->ns + 1, sizeof(double));
        inc_max = xcalloc(ctx->ns + 1, sizeof(double));
        need = xcalloc(ctx->nv + 1, sizeof(double));
        need_max = xcalloc(ctx->nv + 1, sizeof(double));
        for (size_t e = 0; e < ctx->ne; e++) {
            double b = ctx->bw_resid[e];
            size_t ends[2] = {sub->links[e].u, sub->links[e].v};
            for (size_t k = 0; k < 2; k++) {
                inc[ends[k]] += b;
                inc_max[ends[k]] = fmax(inc_max[ends[k]], b);
            }
        }
        for (size_t l = 0; l < ctx->nl; l++) {
            size_t ends[2] = {req->links[l].a, req->links[l].b};
            for (size_t k = 0; k < 2; k++) {
                need[ends[k]] += req->links[l].bw;
                need_max[ends[k]] = fmax(need_max[ends[k]], req->links[l].bw);
            }
        }
    }
    for (size_t v = 0; v < ctx->nv; v++) {
        const struct map_rnode *n = &req->nodes[v];
        size_t cnt = n->cand ? n->ncand : ctx->ns;
        for (size_t i = 0; i < cnt && !unplaceable[v]; i++) {
            size_t s = n->cand ? n->cand[i] : i;
            bool fits = true;
            for (size_t r = 0; r < ctx->nres && fits; r++)
                fits = ctx->resid[s * nres1 + r] + MAP_EPS >= ctx->dem[v * nres1 + r];
            /* A node that may not move has its home as its only host. */
            if (n->home != MAP_NONE && isinf(n->move_cost) && s != n->home)
                continue;
            if (inc && (inc[s] + MAP_EPS < need[v] || inc_max[s] + MAP_EPS < need_max[v]))
                fits = false;
            if (!fits)
                continue;
            ctx->ok[v * ctx->ns + s] = true;
            ctx->ok_list[v * ctx->ns + ctx->ok_n[v]++] = s;
        }
    }
    free(unplaceable);
    free(inc);
    free(inc_max);
    free(need);
    free(need_max);

    for (size_t v = 0; v < ctx->nv; v++) {
        const struct map_rnode *n = &req->nodes[v];
        if (n->home == MAP_NONE || isinf(n->move_cost) || n->move_cost <= 0)
            continue;
        if (!ctx->move)
            ctx->move = xcalloc(ctx->nv * ctx->ns + 1, sizeof(double));
        for (size_t s = 0; s < ctx->ns; s++)
            ctx->move[v * ctx->ns + s] = s == n->home ? 0 : n->move_cost;
    }
    ctx->busy = xcalloc(ctx->ns + 1, sizeof(bool));
    for (size_t s = 0; s < ctx->ns; s++) {
        for (size_t r = 0; r < ctx->nres && !ctx->busy[s]; r++)
            ctx->busy[s] = sub->nodes[s].used[r] > MAP_EPS;
        ctx->nbusy += ctx->busy[s];
    }

    ctx->cpu = map_substrate_resource(sub, "cpu");
    ctx->node_cost = xcalloc(ctx->nv + 1, sizeof(double));
    for (size_t v = 0; v < ctx->nv; v++) {
        ctx->node_cost[v] = ctx->cpu >= 0 ? ctx->dem[v * nres1 + (size_t)ctx->cpu] : 0;
        ctx->node_cost_sum += ctx->node_cost[v];
    }

    ctx->radj_off = xcalloc(ctx->nv + 2, sizeof(size_t));
    ctx->radj = xcalloc(2 * ctx->nl + 1, sizeof(size_t));
    for (size_t l = 0; l < ctx->nl; l++) {
        ctx->radj_off[req->links[l].a + 1]++;
        ctx->radj_off[req->links[l].b + 1]++;
    }
    for (size_t v = 0; v < ctx->nv; v++)
        ctx->radj_off[v + 1] += ctx->radj_off[v];
    size_t *fill = xcalloc(ctx->nv + 1, sizeof(size_t));
    for (size_t l = 0; l < ctx->nl; l++) {
        size_t a = req->links[l].a, b = req->links[l].b;
        ctx->radj[ctx->radj_off[a] + fill[a]++] = l;
        ctx->radj[ctx->radj_off[b] + fill[b]++] = l;
    }
    free(fill);
    return 0;
}

void
map_ctx_release(struct map_ctx *ctx)
{
    free(ctx->dem);
    free(ctx->resid);
    free(ctx->bw_resid);
    free(ctx->ok);
    free(ctx->ok_list);
    free(ctx->ok_n);
    free(ctx->node_cost);
    free(ctx->move);
    free(ctx->busy);
    free(ctx->radj_off);
    free(ctx->radj);
    memset(ctx, 0, sizeof(*ctx));
}

void
map_bfs(const struct map_ctx *ctx, const size_t *sources, size_t nsources, double bw, bool reverse,
        size_t *dist, size_t *queue)
{
    const struct map_substrate *sub = ctx->sub;
    size_t head = 0, tail = 0;
    for (size_t s = 0; s < ctx->ns; s++)
        dist[s] = SIZE_MAX;
    for (size_t i = 0; i < nsources; i++) {
        if (dist[sources[i]] != 0) {
            dist[sources[i]] = 0;
            queue[tail++] = sources[i];
        }
    }
    while (head < tail) {
        size_t u = queue[head++];
        /* A non-forwarding node only starts (or, reversed, ends) a path. */
        if (dist[u] > 0 && !sub->nodes[u].forwarding)
            continue;
        const struct map_snode *n = &sub->nodes[u];
        for (size_t i = 0; i < n->narcs; i++) {
            size_t arc = n->arcs[i];
            /* Links are undirected, so the reverse arc has the same residual. */
            (void)reverse;
            if (!map_arc_bw_ok(ctx, arc, bw))
                continue;
            size_t w = map_arc_head(sub, arc);
            if (dist[w] == SIZE_MAX) {
                dist[w] = dist[u] + 1;
                queue[tail++] = w;
            }
        }
    }
}

/* Removes loops from a walk given as links from s: keeps a simple path. */
static size_t
simplify_walk(const struct map_substrate *sub, size_t s, size_t *links, size_t n, size_t *nodes)
{
    size_t k = 0;
    nodes[0] = s;
    for (size_t i = 0; i < n; i++) {
        const struct map_slink *l = &sub->links[links[i]];
        size_t next = l->u == nodes[k] ? l->v : l->u;
        size_t j;
        for (j = 0; j <= k && nodes[j] != next; j++)
            ;
        if (j <= k) {
            k = j; /* back at an earlier node: drop the loop */
            continue;
        }
        links[k] = links[i];
        nodes[++k] = next;
    }
    return k;
}

long
map_shortest_path(const struct map_ctx *ctx, const double *bw_left, size_t s, size_t t, double bw,
                  double max_lat, size_t *path)
{
    const struct map_substrate *sub = ctx->sub;
    size_t ns = ctx->ns;
    long ret = -1;
    if (s == t)
        return 0;

    if (!isfinite(max_lat)) {
        size_t *pred = xmalloc(ns * sizeof(size_t));
        size_t *queue = xmalloc(ns * sizeof(size_t));
        for (size_t i = 0; i < ns; i++)
            pred[i] = MAP_NONE;
        size_t head = 0, tail = 0;
        queue[tail++] = s;
        pred[s] = SIZE_MAX - 1;
        while (head < tail && pred[t] == MAP_NONE) {
            size_t u = queue[head++];
            if (u != s && !sub->nodes[u].forwarding)
                continue;
            const struct map_snode *n = &sub->nodes[u];
            for (size_t i = 0; i < n->narcs; i++) {
                size_t arc = n->arcs[i];
                if (bw_left[MAP_ARC_LINK(arc)] + MAP_EPS < bw)
                    continue;
                size_t w = map_arc_head(sub, arc);
                if (pred[w] == MAP_NONE) {
                    pred[w] = arc;
                    queue[tail++] = w;
                }
            }
        }
        if (pred[t] != MAP_NONE) {
            size_t len = 0;
            for (size_t at = t; at != s; at = map_arc_tail(sub, pred[at]))
                len++;
            size_t i = len;
            for (size_t at = t; at != s; at = map_arc_tail(sub, pred[at]))
                path[--i] = MAP_ARC_LINK(pred[at]);
            ret = (long)len;
        }
        free(pred);
        free(queue);
        return ret;
    }

    /*
     * With a latency bound, the fewest hops whose latency fits: layer h holds
     * the least latency reaching each node in at most h hops.
     */
    double *lat = xmalloc(ns * sizeof(double));
    double *next = xmalloc(ns * sizeof(double));
    size_t *pred = xmalloc(ns * ns * sizeof(size_t)); /* pred[h * ns + w]: arc at layer h */
    size_t *from = xmalloc(ns * ns * sizeof(size_t)); /* layer where that arc was set */
    for (size_t i = 0; i < ns; i++)
        lat[i] = INFINITY;
    lat[s] = 0;
    size_t found = 0;
    for (size_t h = 1; h < ns && !found; h++) {
        memcpy(next, lat, ns * sizeof(double));
        for (size_t w = 0; w < ns; w++) {
            pred[h * ns + w] = h > 1 ? pred[(h - 1) * ns + w] : MAP_NONE;
            from[h * ns + w] = h > 1 ? from[(h - 1) * ns + w] : 0;
        }
        bool changed = false;
        for (size_t u = 0; u < ns; u++) {
            if (!isfinite(lat[u]) || (u != s && !sub->nodes[u].forwarding))
                continue;
            const struct map_snode *n = &sub->nodes[u];
            for (size_t i = 0; i < n->narcs; i++) {
                size_t arc = n->arcs[i];
                size_t e = MAP_ARC_LINK(arc);
                if (bw_left[e] + MAP_EPS < bw)
                    continue;
                size_t w = map_arc_head(sub, arc);
                double d = lat[u] + sub->links[e].latency;
                if (d < next[w] - 1e-12) {
                    next[w] = d;
                    pred[h * ns + w] = arc;
                    from[h * ns + w] = h;
                    changed = true;
                }
            }
        }
        memcpy(lat, next, ns * sizeof(double));
        if (lat[t] <= max_lat + 1e-9)
            found = h;
        else if (!changed)
            break;
    }
    if (found) {
        size_t len = 0, at = t, h = found;
        size_t *tmp = xmalloc(ns * sizeof(size_t));
        while (at != s) {
            size_t arc = pred[h * ns + at];
            size_t layer = from[h * ns + at];
            tmp[len++] = MAP_ARC_LINK(arc);
            at = map_arc_tail(sub, arc);
            h = layer - 1;
        }
        for (size_t i = 0; i < len; i++)
            path[i] = tmp[len - 1 - i];
        free(tmp);
        size_t *nodes = xmalloc((len + 1) * sizeof(size_t));
        ret = (long)simplify_walk(sub, s, path, len, nodes);
        free(nodes);
    }
    free(lat);
    free(next);
    free(pred);
    free(from);
    return ret;
}

int
map_route_links(const struct map_ctx *ctx, struct map_result *res)
{
    const struct map_request *req = ctx->req;
    size_t nl = ctx->nl, ns = ctx->ns;
    int ret = -1;
    double *bw_left = xmalloc((ctx->ne + 1) * sizeof(double));
    memcpy(bw_left, ctx->bw_resid, ctx->ne * sizeof(double));
    size_t *order = xmalloc((nl + 1) * sizeof(size_t));
    double *bws = xmalloc((nl + 1) * sizeof(double));
    size_t *plen = xcalloc(nl + 1, sizeof(size_t));
    size_t *paths = xmalloc((nl * ns + 1) * sizeof(size_t));
    for (size_t l = 0; l < nl; l++) {
        order[l] = l;
        bws[l] = req->links[l].bw;
    }
    /* Widest first: they have the fewest usable links. Stable for ties. */
    for (size_t i = 1; i < nl; i++) {
        size_t x = order[i], j = i;
        while (j > 0 && bws[order[j - 1]] < bws[x]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    for (size_t i = 0; i < nl; i++) {
        size_t l = order[i];
        const struct map_rlink *rl = &req->links[l];
        size_t s = res->host[rl->a], t = res->host[rl->b];
        long n = map_shortest_path(ctx, bw_left, s, t, rl->bw, rl->max_lat, paths + l * ns);
        if (n < 0)
            goto cleanup;
        plen[l] = (size_t)n;
        for (long k = 0; k < n; k++)
            bw_left[paths[l * ns + (size_t)k]] -= rl->bw;
    }
    size_t *off = xcalloc(nl + 1, sizeof(size_t));
    for (size_t l = 0; l < nl; l++)
        off[l + 1] = off[l] + plen[l];
    size_t *flat = xmalloc((off[nl] + 1) * sizeof(size_t));
    for (size_t l = 0; l < nl; l++)
        memcpy(flat + off[l], paths + l * ns, plen[l] * sizeof(size_t));
    map_result_set_paths(res, off, flat);
    free(off);
    free(flat);
    ret = 0;
cleanup:
    free(bw_left);
    free(order);
    free(bws);
    free(plen);
    free(paths);
    return ret;
}

/*
 * Routing that looks ahead, for when map_route_links() runs out of
 * bandwidth: a path that passes through a host of the request uses twice
 * its bandwidth out of that host's links, which the links of the request
 * node sitting there still need. Each link takes the cheapest path by
 * Dijkstra where an arc costs one hop, plus a little when it enters a
 * host of the request, plus much when that host's links would keep less
 * room than its own unrouted links need. Latency-bounded links take the
 * plain shortest path.
 */
int
map_route_links_spread(const struct map_ctx *ctx, struct map_result *res)
{
    const struct map_request *req = ctx->req;
    const struct map_substrate *sub = ctx->sub;
    size_t nl = ctx->nl, ns = ctx->ns;
    int ret = -1;
    double *bw_left = xmalloc((ctx->ne + 1) * sizeof(double));
    memcpy(bw_left, ctx->bw_resid, ctx->ne * sizeof(double));
    double *inc_left = xcalloc(ns + 1, sizeof(double)); /* residual of a node's links */
    double *need = xcalloc(ns + 1, sizeof(double));     /* unrouted demand of a host's nodes */
    bool *hosting = xcalloc(ns + 1, sizeof(bool));
    size_t *order = xmalloc((nl + 1) * sizeof(size_t));
    size_t *plen = xcalloc(nl + 1, sizeof(size_t));
    size_t *paths = xmalloc((nl * ns + 1) * sizeof(size_t));
    double *dist = xmalloc((ns + 1) * sizeof(double));
    size_t *pred = xmalloc((ns + 1) * sizeof(size_t));
    bool *done = xcalloc(ns + 1, sizeof(bool));
    /* A binary heap of (distance, node), lazily deleted. */
    size_t heap_cap = 2 * ctx->ne + ns + 1, nheap;
    double *hkey = xmalloc(heap_cap * sizeof(double));
    size_t *hval = xmalloc(heap_cap * sizeof(size_t));

    for (size_t e = 0; e < ctx->ne; e++) {
        inc_left[sub->links[e].u] += bw_left[e];
        inc_left[sub->links[e].v] += bw_left[e];
    }
    for (size_t l = 0; l < nl; l++) {
        const struct map_rlink *rl = &req->links[l];
        order[l] = l;
        if (res->host[rl->a] != res->host[rl->b]) {
            need[res->host[rl->a]] += rl->bw;
            need[res->host[rl->b]] += rl->bw;
        }
    }
    for (size_t v = 0; v < ctx->nv; v++)
        hosting[res->host[v]] = true;
    for (size_t i = 1; i < nl; i++) {
        size_t x = order[i], j = i;
        while (j > 0 && req->links[order[j - 1]].bw < req->links[x].bw) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    for (size_t i = 0; i < nl; i++) {
        size_t l = order[i];
        const struct map_rlink *rl = &req->links[l];
        size_t s = res->host[rl->a], t = res->host[rl->b];
        size_t *p = paths + l * ns;
        long n = 0;
        if (s != t) {
            need[s] -= rl->bw;
            need[t] -= rl->bw;
        }
        if (s == t) {
            n = 0;
        } else if (isfinite(rl->max_lat)) {
            n = map_shortest_path(ctx, bw_left, s, t, rl->bw, rl->max_lat, p);
        } else {
            for (size_t w = 0; w < ns; w++) {
                dist[w] = INFINITY;
                done[w] = false;
            }
            dist[s] = 0;
            pred[s] = MAP_NONE;
            nheap = 0;
            hkey[nheap] = 0;
            hval[nheap++] = s;
            while (nheap) {
                size_t u = hval[0];
                double du = hkey[0];
                /* pop */
                nheap--;
                hkey[0] = hkey[nheap];
                hval[0] = hval[nheap];
                for (size_t k = 0;;) {
                    size_t c = 2 * k + 1, m = k;
                    if (c < nheap && hkey[c] < hkey[m])
                        m = c;
                    if (c + 1 < nheap && hkey[c + 1] < hkey[m])
                        m = c + 1;
                    if (m == k)
                        break;
                    double tk = hkey[k];
                    size_t tv = hval[k];
                    hkey[k] = hkey[m];
                    hval[k] = hval[m];
                    hkey[m] = tk;
                    hval[m] = tv;
                    k = m;
                }
                if (done[u] || du > dist[u])
                    continue;
                done[u] = true;
                if (u == t)
                    break;
                if (u != s && !sub->nodes[u].forwarding)
                    continue;
                const struct map_snode *nd = &sub->nodes[u];
                for (size_t k = 0; k < nd->narcs; k++) {
                    size_t arc = nd->arcs[k], e = MAP_ARC_LINK(arc);
                    if (bw_left[e] + MAP_EPS < rl->bw)
                        continue;
                    size_t w = map_arc_head(sub, arc);
                    double c = 1;
                    if (w != t && hosting[w]) {
                        c += 0.5;
                        if (inc_left[w] - 2 * rl->bw < need[w] - MAP_EPS)
                            c += 1000;
                    }
                    if (du + c < dist[w]) {
                        dist[w] = du + c;
                        pred[w] = arc;
                        if (nheap + 1 > heap_cap)
                            continue;
                        size_t k2 = nheap++;
                        hkey[k2] = dist[w];
                        hval[k2] = w;
                        while (k2 > 0 && hkey[(k2 - 1) / 2] > hkey[k2]) {
                            size_t up = (k2 - 1) / 2;
                            double tk = hkey[k2];
                            size_t tv = hval[k2];
                            hkey[k2] = hkey[up];
                            hval[k2] = hval[up];
                            hkey[up] = tk;
                            hval[up] = tv;
                            k2 = up;
                        }
                    }
                }
            }
            if (!isfinite(dist[t])) {
                n = -1;
            } else {
                size_t len = 0;
                for (size_t at = t; at != s; at = map_arc_tail(sub, pred[at]))
                    len++;
                size_t k = len;
                for (size_t at = t; at != s; at = map_arc_tail(sub, pred[at]))
                    p[--k] = MAP_ARC_LINK(pred[at]);
                n = (long)len;
            }
        }
        if (n < 0)
            goto cleanup;
        plen[l] = (size_t)n;
        for (long k = 0; k < n; k++) {
            size_t e = p[k];
            bw_left[e] -= rl->bw;
            inc_left[sub->links[e].u] -= rl->bw;
            inc_left[sub->links[e].v] -= rl->bw;
        }
    }
    size_t *off = xcalloc(nl + 1, sizeof(size_t));
    for (size_t l = 0; l < nl; l++)
        off[l + 1] = off[l] + plen[l];
    size_t *flat = xmalloc((off[nl] + 1) * sizeof(size_t));
    for (size_t l = 0; l < nl; l++)
        memcpy(flat + off[l], paths + l * ns, plen[l] * sizeof(size_t));
    map_result_set_paths(res, off, flat);
    free(off);
    free(flat);
    ret = 0;
cleanup:
    free(bw_left);
    free(inc_left);
    free(need);
    free(hosting);
    free(order);
    free(plen);
    free(paths);
    free(dist);
    free(pred);
    free(done);
    free(hkey);
    free(hval);
    return ret;
}

int
map_result_verify(const struct map_ctx *ctx, const struct map_result *res, struct cn_err *err)
{
    const struct map_substrate *sub = ctx->sub;
    const struct map_request *req = ctx->req;
    size_t nres1 = ctx->nres ? ctx->nres : 1;
    int ret = -1;
    double *nadd = xcalloc(ctx->ns * nres1 + 1, sizeof(double));
    double *ladd = xcalloc(ctx->ne + 1, sizeof(double));
    unsigned *count = xcalloc(ctx->ns + 1, sizeof(unsigned));
    bool *on = xcalloc(ctx->ns + 1, sizeof(bool));
    size_t nhosts = ctx->nbusy;

    for (size_t v = 0; v < ctx->nv; v++) {
        size_t s = res->host[v];
        if (s >= ctx->ns || !ctx->ok[v * ctx->ns + s]) {
            cn_err_set(err, CN_E_INTERNAL, "request node %zu on a host it may not use", v);
            goto cleanup;
        }
        if (req->distinct && count[s]++) {
            cn_err_set(err, CN_E_INTERNAL, "two request nodes share host %zu", s);
            goto cleanup;
        }
        if (!on[s] && !ctx->busy[s])
            nhosts++;
        on[s] = true;
        for (size_t r = 0; r < ctx->nres; r++)
            nadd[s * nres1 + r] += ctx->dem[v * nres1 + r];
    }
    if (req->max_hosts && nhosts > req->max_hosts) {
        cn_err_set(err, CN_E_INTERNAL, "%zu hosts in use, more than %zu", nhosts, req->max_hosts);
        goto cleanup;
    }
    for (size_t s = 0; s < ctx->ns; s++) {
        for (size_t r = 0; r < ctx->nres; r++) {
            if (nadd[s * nres1 + r] > ctx->resid[s * nres1 + r] + 1e-6) {
                cn_err_set(err, CN_E_INTERNAL, "host %zu over capacity", s);
                goto cleanup;
            }
        }
    }
    for (size_t l = 0; l < ctx->nl; l++) {
        const struct map_rlink *rl = &req->links[l];
        size_t at = res->host[rl->a];
        double lat = 0;
        for (size_t i = res->path_off[l]; i < res->path_off[l + 1]; i++) {
            size_t e = res->path[i];
            if (e >= ctx->ne) {
                cn_err_set(err, CN_E_INTERNAL, "bad substrate link");
                goto cleanup;
            }
            if (i > res->path_off[l] && !sub->nodes[at].forwarding) {
                cn_err_set(err, CN_E_INTERNAL, "path crosses non-forwarding node %zu", at);
                goto cleanup;
            }
            const struct map_slink *k = &sub->links[e];
            if (k->u != at && k->v != at) {
                cn_err_set(err, CN_E_INTERNAL, "broken path for request link %zu", l);
                goto cleanup;
            }
            at = k->u == at ? k->v : k->u;
            ladd[e] += rl->bw;
            lat += k->latency;
        }
        if (at != res->host[rl->b] || lat > rl->max_lat + 1e-6) {
            cn_err_set(err, CN_E_INTERNAL, "bad path for request link %zu", l);
            goto cleanup;
        }
    }
    for (size_t e = 0; e < ctx->ne; e++) {
        if (ladd[e] > ctx->bw_resid[e] + 1e-6) {
            cn_err_set(err, CN_E_INTERNAL, "substrate link %zu over capacity", e);
            goto cleanup;
        }
    }
    ret = 0;
cleanup:
    free(nadd);
    free(ladd);
    free(count);
    free(on);
    return ret;
}

double
map_eval_moves(const struct map_ctx *ctx, const struct map_result *res)
{
    double c = 0;
    for (size_t v = 0; ctx->move && v < ctx->nv; v++)
        c += ctx->move[v * ctx->ns + res->host[v]];
    return c;
}

double
map_eval_cost(const struct map_ctx *ctx, const struct map_result *res)
{
    double c = ctx->node_cost_sum;
    for (size_t l = 0; l < ctx->nl; l++)
        c += ctx->req->links[l].bw * (double)(res->path_off[l + 1] - res->path_off[l]);
    return c + map_eval_moves(ctx, res);
}

double
map_eval_load(const struct map_ctx *ctx, const struct map_result *res)
{
    const struct map_substrate *sub = ctx->sub;
    size_t nres1 = ctx->nres ? ctx->nres : 1;
    double *nadd = xcalloc(ctx->ns * nres1 + 1, sizeof(double));
    double *ladd = xcalloc(ctx->ne + 1, sizeof(double));
    double worst = 0;
    for (size_t v = 0; v < ctx->nv; v++) {
        for (size_t r = 0; r < ctx->nres; r++)
            nadd[res->host[v] * nres1 + r] += ctx->dem[v * nres1 + r];
    }
    for (size_t l = 0; l < ctx->nl; l++) {
        for (size_t i = res->path_off[l]; i < res->path_off[l + 1]; i++)
            ladd[res->path[i]] += ctx->req->links[l].bw;
    }
    for (size_t s = 0; s < ctx->ns; s++) {
        for (size_t r = 0; r < ctx->nres; r++) {
            double cap = sub->nodes[s].cap[r];
            if (cap > 0) {
                double u = (sub->nodes[s].used[r] + nadd[s * nres1 + r]) / cap;
                worst = u > worst ? u : worst;
            }
        }
    }
    for (size_t e = 0; e < ctx->ne; e++) {
        double cap = sub->links[e].bw;
        if (cap > 0) {
            double u = (sub->links[e].used + ladd[e]) / cap;
            worst = u > worst ? u : worst;
        }
    }
    free(nadd);
    free(ladd);
    return worst;
}

double
map_eval_energy(const struct map_ctx *ctx, const struct map_result *res)
{
    const struct map_substrate *sub = ctx->sub;
    bool *nt = xcalloc(ctx->ns + 1, sizeof(bool));
    bool *lt = xcalloc(ctx->ne + 1, sizeof(bool));
    for (size_t v = 0; v < ctx->nv; v++)
        nt[res->host[v]] = true;
    for (size_t l = 0; l < ctx->nl; l++) {
        size_t at = ctx->sub ? res->host[ctx->req->links[l].a] : 0;
        for (size_t i = res->path_off[l]; i < res->path_off[l + 1]; i++) {
            const struct map_slink *k = &sub->links[res->path[i]];
            lt[res->path[i]] = true;
            nt[at] = true;
            at = k->u == at ? k->v : k->u;
            nt[at] = true;
        }
    }
    double n = 0;
    for (size_t s = 0; s < ctx->ns; s++)
        n += nt[s] && sub->nodes[s].users == 0;
    for (size_t e = 0; e < ctx->ne; e++)
        n += lt[e] && sub->links[e].users == 0;
    free(nt);
    free(lt);
    return n;
}

/* Whether request nodes a and b could sit on one host. */
static bool
may_share(const struct map_ctx *ctx, size_t a, size_t b)
{
    if (ctx->req->distinct)
        return false;
    for (size_t i = 0; i < ctx->ok_n[a]; i++) {
        if (ctx->ok[b * ctx->ns + ctx->ok_list[a * ctx->ns + i]])
            return true;
    }
    return false;
}

unsigned
map_link_min_hops(const struct map_ctx *ctx, size_t l)
{
    const struct map_rlink *rl = &ctx->req->links[l];
    return may_share(ctx, rl->a, rl->b) ? 0 : 1;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/*
 * With distinct hosts a link takes one hop only over a substrate link
 * between the two hosts, so a node on a host of degree D has at most D
 * neighbours one hop away: the links to the others take two hops or more.
 * Each node thus forces an extra hop on the links to at least deg - D of
 * its neighbours (the cheapest), and a link is counted from both ends at
 * most: half the sum is a valid bound.
 */
static double
degree_bound(const struct map_ctx *ctx)
{
    const struct map_request *req = ctx->req;
    double extra = 0;
    double *bw = xmalloc((ctx->nl + 1) * sizeof(double));
    size_t *nb_slot = xmalloc((ctx->nv + 1) * sizeof(size_t));
    for (size_t v = 0; v < ctx->nv; v++)
        nb_slot[v] = SIZE_MAX;
    for (size_t v = 0; v < ctx->nv; v++) {
        size_t most = 0, deg = 0;
        for (size_t i = 0; i < ctx->ok_n[v]; i++) {
            size_t narcs = ctx->sub->nodes[ctx->ok_list[v * ctx->ns + i]].narcs;
            most = narcs > most ? narcs : most;
        }
        if (ctx->radj_off[v + 1] - ctx->radj_off[v] <= most)
            continue;
        /* Parallel links to one neighbour share their hops: one entry each neighbour. */
        for (size_t k = ctx->radj_off[v]; k < ctx->radj_off[v + 1]; k++) {
            const struct map_rlink *rl = &req->links[ctx->radj[k]];
            size_t u = rl->a == v ? rl->b : rl->a;
            if (nb_slot[u] == SIZE_MAX) {
                nb_slot[u] = deg;
                bw[deg++] = 0;
            }
            bw[nb_slot[u]] += rl->bw;
        }
        for (size_t k = ctx->radj_off[v]; k < ctx->radj_off[v + 1]; k++) {
            const struct map_rlink *rl = &req->links[ctx->radj[k]];
            nb_slot[rl->a == v ? rl->b : rl->a] = SIZE_MAX;
        }
        if (deg <= most)
            continue;
        qsort(bw, deg, sizeof(double), cmp_double);
        for (size_t k = 0; k < deg - most; k++)
            extra += bw[k];
    }
    free(bw);
    free(nb_slot);
    return extra / 2;
}

double
map_cost_lower_bound(const struct map_ctx *ctx)
{
    double lb = ctx->node_cost_sum;
    for (size_t l = 0; l < ctx->nl; l++)
        lb += ctx->req->links[l].bw * map_link_min_hops(ctx, l);
    if (ctx->req->distinct)
        lb += degree_bound(ctx);
    return lb;
}

bool
map_objective_known(const char *name)
{
    return name &&
           (strcmp(name, "cost") == 0 || strcmp(name, "load") == 0 || strcmp(name, "energy") == 0);
}

/* Value of the objective named by opts for res (the heuristics' view). */
static double
eval_objective(const struct map_ctx *ctx, const struct map_result *res)
{
    const char *o = ctx->opts->objective ? ctx->opts->objective : "cost";
    if (strcmp(o, "load") == 0)
        return map_eval_load(ctx, res);
    if (strcmp(o, "energy") == 0)
        return map_eval_energy(ctx, res);
    if (strcmp(o, "migration") == 0)
        return map_eval_moves(ctx, res);
    return map_eval_cost(ctx, res);
}

int
map_solve(const struct map_substrate *sub, const struct map_request *req,
          const struct map_options *opts, struct map_result **ret_res, struct cn_err *err)
{
    struct map_ctx ctx;
    struct map_result *res = NULL;
    int ret = -1;
    struct map_options defaults;
    if (!opts) {
        map_options_init(&defaults);
        opts = &defaults;
    }
    /* "migration" only makes sense for requests with homes, which documents do not carry. */
    if (opts->objective && !map_objective_known(opts->objective) &&
        strcmp(opts->objective, "migration") != 0)
        return cn_err_set(err, CN_E_INVALID, "unknown objective %s", opts->objective);
    if (map_ctx_init(&ctx, sub, req, opts, err) < 0)
        return -1;
    for (size_t v = 0; v < ctx.nv; v++) {
        if (ctx.ok_n[v] == 0) {
            cn_err_set(err, CN_E_INFEASIBLE, "request node %s fits on no candidate host",
                       req->nodes[v].name ? req->nodes[v].name : "?");
            goto cleanup;
        }
    }
    if (req->max_hosts && ctx.nbusy > req->max_hosts) {
        cn_err_set(err, CN_E_INFEASIBLE, "%zu hosts are in use already, more than %zu", ctx.nbusy,
                   req->max_hosts);
        goto cleanup;
    }
    if (req->distinct && ctx.nv > ctx.ns) {
        cn_err_set(err, CN_E_INFEASIBLE, "more request nodes than substrate nodes");
        goto cleanup;
    }

    switch (opts->algorithm) {
    case MAP_ALG_HEURISTIC:
        ret = map_heuristic(&ctx, &res, err);
        break;
    case MAP_ALG_GRC:
        ret = map_grc(&ctx, &res, err);
        break;
    case MAP_ALG_MIP:
        ret = map_mip(&ctx, &res, err);
        break;
    default:
        ret = cn_err_set(err, CN_E_INVALID, "unknown algorithm");
        break;
    }
    if (ret < 0)
        goto cleanup;
    ret = -1;
    if (map_result_verify(&ctx, res, err) < 0)
        goto cleanup;
    res->moves = map_eval_moves(&ctx, res);
    res->cost = map_eval_cost(&ctx, res) - res->moves;
    if (opts->algorithm != MAP_ALG_MIP) {
        res->value = eval_objective(&ctx, res);
        double lb = map_cost_lower_bound(&ctx);
        bool is_cost = !opts->objective || strcmp(opts->objective, "cost") == 0;
        res->bound = is_cost ? lb : 0;
        res->gap = res->value > 0 ? (res->value - res->bound) / res->value : 0;
        res->optimal = is_cost && res->value <= lb + 1e-9;
        if (res->optimal)
            res->gap = 0;
    }
    res->solve_ms = (cn_now() - ctx.t0) * 1000.0;
    *ret_res = res;
    res = NULL;
    ret = 0;
cleanup:
    map_result_free(res);
    map_ctx_release(&ctx);
    return ret;
}
