/*
 * The exact mapping: a mixed integer program solved with the GLPK C API.
 *
 * Variables: x[v][s] = 1 when request node v sits on host s, only for the
 * pairs where s is a candidate with room for v; f[l][a] = 1 when request
 * link l's path uses arc a (each undirected substrate link gives two arcs).
 * Constraints: every node placed once; host capacity per resource (or at
 * most one node per host when the request wants distinct hosts); flow
 * conservation per request link and node, out - in = x[a][i] - x[b][i],
 * which makes each link an unsplittable path from the host of one end to
 * the host of the other and costs nothing when both share a host; no path
 * through a non-forwarding node; bandwidth per substrate link; latency per
 * request link.
 *
 * Objectives come from a table of builders: "cost", "load", "energy" and
 * "migration" (the move penalties of nodes placed away from their home;
 * "cost" includes them too). All but cost break ties by cost in a second
 * solve that keeps the first objective at its optimum. A request limited
 * to max_hosts hosts gets a binary per host that is not busy yet, at least
 * every x on it, and a row bounding their sum.
 *
 * Keeping it fast without giving up exactness:
 *  - the heuristic runs first; when its cost meets the combinatorial lower
 *    bound it is optimal and no model is built;
 *  - its cost U bounds every link's hops: a link of bandwidth w can use at
 *    most 1 + (U - LB) / w hops, so only arcs on such short paths between
 *    its ends' candidates get a variable, and only hosts within that reach
 *    of the other end's candidates get an x;
 *  - links with no bandwidth and no latency bound get no variables at all
 *    under "cost" and "load" (any path will do; they are routed afterwards)
 *    when every pair of candidate hosts is connected;
 *  - the heuristic's solution is injected as the first incumbent.
 * opts->hop_limit restricts paths further, giving up the proof.
 */
#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAP_PRIV_H_ALLOW
#include "mapping/map_priv.h"
#include "util/util.h"

/* Models beyond this many nonzeros are not built: GLPK would not finish. */
#define MIP_MAX_NONZEROS 4000000

struct trip {
    int *ia, *ja;
    double *ar;
    size_t n, cap;
};

static void
trip_add(struct trip *t, int row, int col, double v)
{
    if (t->n + 2 > t->cap) {
        t->cap = t->cap ? 2 * t->cap : 4096;
        t->ia = xrealloc(t->ia, t->cap * sizeof(int));
        t->ja = xrealloc(t->ja, t->cap * sizeof(int));
        t->ar = xrealloc(t->ar, t->cap * sizeof(double));
    }
    t->n++; /* GLPK arrays start at 1 */
    t->ia[t->n] = row;
    t->ja[t->n] = col;
    t->ar[t->n] = v;
}

struct mip {
    const struct map_ctx *ctx;
    glp_prob *P;
    struct trip T;
    bool *xok;    /* nv * ns: x[v][s] gets a variable */
    int *xcol;    /* nv * ns: its column, or 0 */
    bool *free_l; /* nl: link without variables, routed afterwards */
    size_t *aoff; /* nl + 1 offsets into arcs */
    size_t *arcs; /* allowed arcs per link */
    int *fcol;    /* column of each allowed arc */
    double *hmax; /* nl: most hops a path may take in a solution worth having */
    size_t narcs, arcs_cap;
    int lam;       /* load: the max utilisation */
    int *ynode;    /* energy: ns, column or 0 */
    int *ylink;    /* energy: ne, column or 0 */
    int *yhost;    /* max_hosts: ns, column of "s hosts a node", or 0 */
    double *start; /* warm start, one value per column (1-based), or NULL */
    bool injected;
    double bound; /* best bound seen in the search */
    bool have_bound;
    bool too_large; /* choose_variables() stopped: the model would exceed MIP_MAX_NONZEROS */
};

static int
add_col(struct mip *m, int kind, double lo, double hi)
{
    int j = glp_add_cols(m->P, 1);
    glp_set_col_kind(m->P, j, kind);
    if (kind == GLP_BV)
        return j;
    glp_set_col_bnds(m->P, j, hi == lo ? GLP_FX : isfinite(hi) ? GLP_DB : GLP_LO, lo, hi);
    return j;
}

static int
add_row(struct mip *m, int type, double lo, double hi)
{
    int i = glp_add_rows(m->P, 1);
    glp_set_row_bnds(m->P, i, type, lo, hi);
    return i;
}

/* ---- model structure ---- */

/* Latency distances (Dijkstra, quadratic: substrates are small) from a set. */
static void
lat_dist(const struct map_ctx *ctx, const bool *src, double bw, double *dist, bool *done)
{
    const struct map_substrate *sub = ctx->sub;
    for (size_t s = 0; s < ctx->ns; s++) {
        dist[s] = src[s] ? 0 : INFINITY;
        done[s] = false;
    }
    for (;;) {
        size_t u = MAP_NONE;
        for (size_t s = 0; s < ctx->ns; s++) {
            if (!done[s] && isfinite(dist[s]) && (u == MAP_NONE || dist[s] < dist[u]))
                u = s;
        }
        if (u == MAP_NONE)
            break;
        done[u] = true;
        if (!src[u] && !sub->nodes[u].forwarding)
            continue;
        for (size_t i = 0; i < sub->nodes[u].narcs; i++) {
            size_t arc = sub->nodes[u].arcs[i];
            if (!map_arc_bw_ok(ctx, arc, bw))
                continue;
            size_t w = map_arc_head(sub, arc);
            double d = dist[u] + sub->links[MAP_ARC_LINK(arc)].latency;
            if (d < dist[w])
                dist[w] = d;
        }
    }
}

/* Whether every ok host of a reaches every ok host of b over any links. */
static bool
all_pairs_reachable(const struct map_ctx *ctx, size_t a, size_t b, size_t *dist, size_t *queue)
{
    for (size_t i = 0; i < ctx->ok_n[a]; i++) {
        size_t s = ctx->ok_list[a * ctx->ns + i];
        map_bfs(ctx, &s, 1, 0, false, dist, queue);
        for (size_t k = 0; k < ctx->ok_n[b]; k++) {
            if (dist[ctx->ok_list[b * ctx->ns + k]] == SIZE_MAX)
                return false;
        }
    }
    return true;
}

static bool
substrate_open(const struct map_ctx *ctx, size_t *dist, size_t *queue)
{
    for (size_t s = 0; s < ctx->ns; s++) {
        if (!ctx->sub->nodes[s].forwarding)
            return false;
    }
    size_t s0 = 0;
    if (ctx->ns == 0)
        return true;
    map_bfs(ctx, &s0, 1, 0, false, dist, queue);
    for (size_t s = 0; s < ctx->ns; s++) {
        if (dist[s] == SIZE_MAX)
            return false;
    }
    return true;
}

/*
 * Decides which x and f variables exist. ub is the cost of a known solution
 * (INFINITY if none, or when the objective is not cost).
 */
static void
choose_variables(struct mip *m, double ub, bool energy)
{
    const struct map_ctx *ctx = m->ctx;
    const struct map_substrate *sub = ctx->sub;
    const struct map_request *req = ctx->req;
    size_t ns = ctx->ns;
    size_t *dA = xmalloc((ns + 1) * sizeof(size_t));
    size_t *dB = xmalloc((ns + 1) * sizeof(size_t));
    size_t *queue = xmalloc((ns + 1) * sizeof(size_t));
    size_t *src = xmalloc((ns + 1) * sizeof(size_t));
    double *lA = xmalloc((ns + 1) * sizeof(double));
    double *lB = xmalloc((ns + 1) * sizeof(double));
    bool *mark = xcalloc(ns + 1, sizeof(bool));
    bool *done = xcalloc(ns + 1, sizeof(bool));
    double lb = map_cost_lower_bound(ctx);
    bool open = substrate_open(ctx, dA, queue);

    memcpy(m->xok, ctx->ok, ctx->nv * ns * sizeof(bool));
    m->aoff[0] = 0;
    /*
     * The fewest hops between candidates of each link's ends sharpen the
     * lower bound behind the hop limits (a fixed placement makes them exact).
     */
    double *pairmin = xcalloc(ctx->nl + 1, sizeof(double));
    if (isfinite(ub)) {
        lb = ctx->node_cost_sum;
        for (size_t l = 0; l < ctx->nl; l++) {
            const struct map_rlink *rl = &req->links[l];
            size_t n = 0, best = SIZE_MAX;
            for (size_t i = 0; i < ctx->ok_n[rl->a]; i++)
                src[n++] = ctx->ok_list[rl->a * ns + i];
            map_bfs(ctx, src, n, rl->bw, false, dA, queue);
            for (size_t i = 0; i < ctx->ok_n[rl->b]; i++)
                best = dA[ctx->ok_list[rl->b * ns + i]] < best ? dA[ctx->ok_list[rl->b * ns + i]]
                                                               : best;
            pairmin[l] =
                fmax((double)map_link_min_hops(ctx, l), best == SIZE_MAX ? 0 : (double)best);
            lb += rl->bw * pairmin[l];
        }
    }
    for (size_t l = 0; l < ctx->nl; l++) {
        const struct map_rlink *rl = &req->links[l];
        m->aoff[l + 1] = m->aoff[l];
        /* Two searches per link are the cost here: stop as soon as the model is out of reach. */
        if (4 * m->narcs + 3 * ctx->nv * ns > MIP_MAX_NONZEROS) {
            m->too_large = true;
            for (size_t k = l + 1; k <= ctx->nl; k++)
                m->aoff[k] = m->aoff[l];
            break;
        }
        if (!energy && rl->bw == 0 && !isfinite(rl->max_lat) &&
            (open || all_pairs_reachable(ctx, rl->a, rl->b, dA, queue))) {
            m->free_l[l] = true;
            continue;
        }
        /* Hop limit: from the cost bound, and from the option. */
        double hmax = INFINITY;
        if (isfinite(ub) && rl->bw > 0) {
            hmax = floor((ub - lb) / rl->bw + pairmin[l] + 1e-7);
            if (hmax < 1)
                hmax = 1;
        }
        if (ctx->opts->hop_limit && (double)ctx->opts->hop_limit < hmax)
            hmax = ctx->opts->hop_limit;
        m->hmax[l] = hmax;

        size_t n = 0;
        for (size_t i = 0; i < ctx->ok_n[rl->a]; i++)
            src[n++] = ctx->ok_list[rl->a * ns + i];
        map_bfs(ctx, src, n, rl->bw, false, dA, queue);
        n = 0;
        for (size_t i = 0; i < ctx->ok_n[rl->b]; i++)
            src[n++] = ctx->ok_list[rl->b * ns + i];
        map_bfs(ctx, src, n, rl->bw, true, dB, queue);
        bool lat = isfinite(rl->max_lat);
        if (lat) {
            for (size_t s = 0; s < ns; s++)
                mark[s] = ctx->ok[rl->a * ns + s];
            lat_dist(ctx, mark, rl->bw, lA, done);
            for (size_t s = 0; s < ns; s++)
                mark[s] = ctx->ok[rl->b * ns + s];
            lat_dist(ctx, mark, rl->bw, lB, done);
        }
        /* Hosts of a too far from every host of b (and the reverse) go. */
        for (size_t s = 0; s < ns; s++) {
            if ((double)dB[s] > hmax || dB[s] == SIZE_MAX || (lat && lB[s] > rl->max_lat + 1e-9))
                m->xok[rl->a * ns + s] = false;
            if ((double)dA[s] > hmax || dA[s] == SIZE_MAX || (lat && lA[s] > rl->max_lat + 1e-9))
                m->xok[rl->b * ns + s] = false;
        }
        for (size_t e = 0; e < ctx->ne; e++) {
            if (!map_arc_bw_ok(ctx, 2 * e, rl->bw))
                continue;
            for (size_t dir = 0; dir < 2; dir++) {
                size_t arc = 2 * e + dir;
                size_t i = map_arc_tail(sub, arc), j = map_arc_head(sub, arc);
                if (dA[i] == SIZE_MAX || dB[j] == SIZE_MAX)
                    continue;
                if ((double)(dA[i] + 1 + dB[j]) > hmax)
                    continue;
                /* Non-forwarding nodes only start or end the path. */
                if (!sub->nodes[i].forwarding && !ctx->ok[rl->a * ns + i])
                    continue;
                if (!sub->nodes[j].forwarding && !ctx->ok[rl->b * ns + j])
                    continue;
                if (lat && lA[i] + sub->links[e].latency + lB[j] > rl->max_lat + 1e-9)
                    continue;
                CN_GROW(m->arcs, m->arcs_cap, m->narcs + 1);
                m->arcs[m->narcs++] = arc;
                m->aoff[l + 1]++;
            }
        }
    }
    free(pairmin);
    free(dA);
    free(dB);
    free(queue);
    free(src);
    free(lA);
    free(lB);
    free(mark);
    free(done);
}

/*
 * Valid inequalities for a link whose ends never share a host. Some simple
 * path is optimal, so it enters the host of its far end and never enters
 * the host of its near end:
 *     in(j) >= x[b][j],  in(j) + x[a][j] <= 1.
 * When the cost bound allows one hop only, the path is a single arc from the
 * near host to the far one: out(i) = x[a][i] and in(j) = x[b][j].
 */
static void
strengthen(struct mip *m, size_t l)
{
    const struct map_ctx *ctx = m->ctx;
    const struct map_substrate *sub = ctx->sub;
    size_t ns = ctx->ns;
    size_t a = ctx->req->links[l].a, b = ctx->req->links[l].b;
    bool one_hop = m->hmax[l] <= 1;
    int *in_row = xcalloc(ns + 1, sizeof(int));
    int *out_row = xcalloc(ns + 1, sizeof(int));
    for (size_t k = m->aoff[l]; k < m->aoff[l + 1]; k++) {
        size_t i = map_arc_tail(sub, m->arcs[k]), j = map_arc_head(sub, m->arcs[k]);
        if (!in_row[j]) {
            int xa = m->xcol[a * ns + j], xb = m->xcol[b * ns + j];
            /* lower bound from x[b][j], upper bound 1 - x[a][j] */
            in_row[j] = add_row(m, one_hop ? GLP_FX : GLP_DB, 0, one_hop ? 0 : 1);
            if (xb)
                trip_add(&m->T, in_row[j], xb, -1);
            if (xa && !one_hop) {
                /* in - x_b >= 0 and in + x_a <= 1 need two rows */
                int r2 = add_row(m, GLP_UP, 0, 1);
                trip_add(&m->T, r2, xa, 1);
                for (size_t q = m->aoff[l]; q < m->aoff[l + 1]; q++) {
                    if (map_arc_head(sub, m->arcs[q]) == j)
                        trip_add(&m->T, r2, m->fcol[q], 1);
                }
            }
        }
        trip_add(&m->T, in_row[j], m->fcol[k], 1);
        if (one_hop) {
            if (!out_row[i]) {
                int xa = m->xcol[a * ns + i];
                out_row[i] = add_row(m, GLP_FX, 0, 0);
                if (xa)
                    trip_add(&m->T, out_row[i], xa, -1);
            }
            trip_add(&m->T, out_row[i], m->fcol[k], 1);
        }
    }
    free(in_row);
    free(out_row);
}

static void
build_structure(struct mip *m)
{
    const struct map_ctx *ctx = m->ctx;
    const struct map_substrate *sub = ctx->sub;
    const struct map_request *req = ctx->req;
    size_t ns = ctx->ns, nv = ctx->nv;
    size_t nres1 = ctx->nres ? ctx->nres : 1;

    for (size_t v = 0; v < nv; v++) {
        for (size_t s = 0; s < ns; s++) {
            if (m->xok[v * ns + s])
                m->xcol[v * ns + s] = add_col(m, GLP_BV, 0, 1);
        }
    }
    m->fcol = xcalloc(m->narcs + 1, sizeof(int));
    for (size_t k = 0; k < m->narcs; k++)
        m->fcol[k] = add_col(m, GLP_BV, 0, 1);

    /* Each node on exactly one host. */
    for (size_t v = 0; v < nv; v++) {
        int row = add_row(m, GLP_FX, 1, 1);
        for (size_t s = 0; s < ns; s++) {
            if (m->xcol[v * ns + s])
                trip_add(&m->T, row, m->xcol[v * ns + s], 1);
        }
    }
    /* Hosts: at most one node, or capacity per resource. */
    for (size_t s = 0; s < ns; s++) {
        size_t cnt = 0;
        for (size_t v = 0; v < nv; v++)
            cnt += m->xcol[v * ns + s] != 0;
        if (cnt < 2)
            continue;
        if (req->distinct) {
            int row = add_row(m, GLP_UP, 0, 1);
            for (size_t v = 0; v < nv; v++) {
                if (m->xcol[v * ns + s])
                    trip_add(&m->T, row, m->xcol[v * ns + s], 1);
            }
            continue;
        }
        for (size_t r = 0; r < ctx->nres; r++) {
            double sum = 0;
            for (size_t v = 0; v < nv; v++)
                sum += m->xcol[v * ns + s] ? ctx->dem[v * nres1 + r] : 0;
            if (sum <= ctx->resid[s * nres1 + r] + MAP_EPS)
                continue;
            int row = add_row(m, GLP_UP, 0, ctx->resid[s * nres1 + r]);
            for (size_t v = 0; v < nv; v++) {
                if (m->xcol[v * ns + s] && ctx->dem[v * nres1 + r] > 0)
                    trip_add(&m->T, row, m->xcol[v * ns + s], ctx->dem[v * nres1 + r]);
            }
        }
    }
    /* Flow conservation, forwarding and latency per request link. */
    int *row_of = xcalloc(ns + 1, sizeof(int));
    int *in_row = xcalloc(ns + 1, sizeof(int));
    int *out_row = xcalloc(ns + 1, sizeof(int));
    for (size_t l = 0; l < ctx->nl; l++) {
        const struct map_rlink *rl = &req->links[l];
        if (m->free_l[l])
            continue;
        for (size_t k = m->aoff[l]; k < m->aoff[l + 1]; k++) {
            size_t i = map_arc_tail(sub, m->arcs[k]), j = map_arc_head(sub, m->arcs[k]);
            if (!row_of[i])
                row_of[i] = add_row(m, GLP_FX, 0, 0);
            if (!row_of[j])
                row_of[j] = add_row(m, GLP_FX, 0, 0);
            trip_add(&m->T, row_of[i], m->fcol[k], 1);
            trip_add(&m->T, row_of[j], m->fcol[k], -1);
            if (!sub->nodes[i].forwarding) {
                if (!out_row[i])
                    out_row[i] = add_row(m, GLP_UP, 0, 0);
                trip_add(&m->T, out_row[i], m->fcol[k], 1);
            }
            if (!sub->nodes[j].forwarding) {
                if (!in_row[j])
                    in_row[j] = add_row(m, GLP_UP, 0, 0);
                trip_add(&m->T, in_row[j], m->fcol[k], 1);
            }
        }
        for (size_t s = 0; s < ns; s++) {
            int xa = m->xcol[rl->a * ns + s], xb = m->xcol[rl->b * ns + s];
            if ((xa || xb) && !row_of[s])
                row_of[s] = add_row(m, GLP_FX, 0, 0);
            if (xa)
                trip_add(&m->T, row_of[s], xa, -1);
            if (xb)
                trip_add(&m->T, row_of[s], xb, 1);
            if (out_row[s]) {
                if (xa)
                    trip_add(&m->T, out_row[s], xa, -1);
            }
            if (in_row[s]) {
                if (xb)
                    trip_add(&m->T, in_row[s], xb, -1);
            }
            row_of[s] = in_row[s] = out_row[s] = 0;
        }
        if (map_link_min_hops(ctx, l) == 1)
            strengthen(m, l);
        if (isfinite(rl->max_lat)) {
            int row = add_row(m, GLP_UP, 0, rl->max_lat);
            for (size_t k = m->aoff[l]; k < m->aoff[l + 1]; k++)
                trip_add(&m->T, row, m->fcol[k], sub->links[MAP_ARC_LINK(m->arcs[k])].latency);
        }
    }
    free(row_of);
    free(in_row);
    free(out_row);

    /* Bandwidth per substrate link, where the demands could exceed it. */
    double *sum = xcalloc(ctx->ne + 1, sizeof(double));
    int *brow = xcalloc(ctx->ne + 1, sizeof(int));
    for (size_t l = 0; l < ctx->nl; l++) {
        for (size_t k = m->aoff[l]; k < m->aoff[l + 1]; k++)
            sum[MAP_ARC_LINK(m->arcs[k])] += req->links[l].bw;
    }
    for (size_t l = 0; l < ctx->nl; l++) {
        if (req->links[l].bw == 0)
            continue;
        for (size_t k = m->aoff[l]; k < m->aoff[l + 1]; k++) {
            size_t e = MAP_ARC_LINK(m->arcs[k]);
            if (sum[e] <= ctx->bw_resid[e] + MAP_EPS)
                continue;
            if (!brow[e])
                brow[e] = add_row(m, GLP_UP, 0, ctx->bw_resid[e]);
            trip_add(&m->T, brow[e], m->fcol[k], req->links[l].bw);
        }
    }
    free(sum);
    free(brow);

    /* At most max_hosts hosts in use, those busy before included. */
    if (req->max_hosts) {
        m->yhost = xcalloc(ns + 1, sizeof(int));
        int row = add_row(m, GLP_UP, 0, (double)req->max_hosts - (double)ctx->nbusy);
        for (size_t s = 0; s < ns; s++) {
            if (ctx->busy[s])
                continue;
            for (size_t v = 0; v < nv; v++) {
                if (!m->xcol[v * ns + s])
                    continue;
                if (!m->yhost[s]) {
                    m->yhost[s] = add_col(m, GLP_BV, 0, 1);
                    trip_add(&m->T, row, m->yhost[s], 1);
                }
                int r2 = add_row(m, GLP_UP, 0, 0);
                trip_add(&m->T, r2, m->xcol[v * ns + s], 1);
                trip_add(&m->T, r2, m->yhost[s], -1);
            }
        }
    }
}

/* ---- objectives ---- */

static void
obj_clear(struct mip *m)
{
    int n = glp_get_num_cols(m->P);
    for (int j = 0; j <= n; j++)
        glp_set_obj_coef(m->P, j, 0);
}

/* Adds the move penalties to the objective's x coefficients. */
static void
set_move_coefs(struct mip *m)
{
    const struct map_ctx *ctx = m->ctx;
    for (size_t i = 0; ctx->move && i < ctx->nv * ctx->ns; i++) {
        if (m->xcol[i] && ctx->move[i] > 0)
            glp_set_obj_coef(m->P, m->xcol[i], ctx->move[i]);
    }
}

static void
build_migration(struct mip *m)
{
    obj_clear(m);
    set_move_coefs(m);
}

static void
build_cost(struct mip *m)
{
    obj_clear(m);
    glp_set_obj_coef(m->P, 0, m->ctx->node_cost_sum);
    for (size_t l = 0; l < m->ctx->nl; l++) {
        for (size_t k = m->aoff[l]; k < m->aoff[l + 1]; k++)
            glp_set_obj_coef(m->P, m->fcol[k], m->ctx->req->links[l].bw);
    }
    set_move_coefs(m);
}

static void
build_load(struct mip *m)
{
    const struct map_ctx *ctx = m->ctx;
    const struct map_substrate *sub = ctx->sub;
    size_t ns = ctx->ns, nres1 = ctx->nres ? ctx->nres : 1;
    /* Utilisation already there is a floor for the maximum. */
    double floor_util = 0;
    for (size_t s = 0; s < ns; s++) {
        for (size_t r = 0; r < ctx->nres; r++) {
            if (sub->nodes[s].cap[r] > 0)
                floor_util = fmax(floor_util, sub->nodes[s].used[r] / sub->nodes[s].cap[r]);
        }
    }
    for (size_t e = 0; e < ctx->ne; e++) {
        if (sub->links[e].bw > 0)
            floor_util = fmax(floor_util, sub->links[e].used / sub->links[e].bw);
    }
    m->lam = add_col(m, GLP_CV, floor_util, INFINITY);
    for (size_t s = 0; s < ns; s++) {
        for (size_t r = 0; r < ctx->nres; r++) {
            double cap = sub->nodes[s].cap[r];
            if (cap <= 0)
                continue;
            int row = 0;
            for (size_t v = 0; v < ctx->nv; v++) {
                double d = ctx->dem[v * nres1 + r];
                if (!m->xcol[v * ns + s] || d <= 0)
                    continue;
                if (!row)
                    row = add_row(m, GLP_UP, 0, -sub->nodes[s].used[r]);
                trip_add(&m->T, row, m->xcol[v * ns + s], d);
            }
            if (row)
                trip_add(&m->T, row, m->lam, -cap);
        }
    }
    int *lrow = xcalloc(ctx->ne + 1, sizeof(int));
    for (size_t l = 0; l < ctx->nl; l++) {
        double bw = ctx->req->links[l].bw;
        if (bw <= 0)
            continue;
        for (size_t k = m->aoff[l]; k < m->aoff[l + 1]; k++) {
            size_t e = MAP_ARC_LINK(m->arcs[k]);
            if (sub->links[e].bw <= 0)
                continue;
            if (!lrow[e]) {
                lrow[e] = add_row(m, GLP_UP, 0, -sub->links[e].used);
                trip_add(&m->T, lrow[e], m->lam, -sub->links[e].bw);
            }
            trip_add(&m->T, lrow[e], m->fcol[k], bw);
        }
    }
    free(lrow);
    obj_clear(m);
    glp_set_obj_coef(m->P, m->lam, 1);
}

static void
build_energy(struct mip *m)
{
    const struct map_ctx *ctx = m->ctx;
    const struct map_substrate *sub = ctx->sub;
    size_t ns = ctx->ns;
    m->ynode = xcalloc(ns + 1, sizeof(int));
    m->ylink = xcalloc(ctx->ne + 1, sizeof(int));
    /* A node switched on by hosting. */
    for (size_t s = 0; s < ns; s++) {
        if (sub->nodes[s].users)
            continue;
        for (size_t v = 0; v < ctx->nv; v++) {
            if (!m->xcol[v * ns + s])
                continue;
            if (!m->ynode[s])
                m->ynode[s] = add_col(m, GLP_BV, 0, 1);
            int row = add_row(m, GLP_UP, -INFINITY, 0);
            trip_add(&m->T, row, m->xcol[v * ns + s], 1);
            trip_add(&m->T, row, m->ynode[s], -1);
        }
    }
    /* Nodes and links switched on by a path. */
    int *nrow = xcalloc(ns + 1, sizeof(int));
    int *erow = xcalloc(ctx->ne + 1, sizeof(int));
    for (size_t l = 0; l < ctx->nl; l++) {
        for (size_t k = m->aoff[l]; k < m->aoff[l + 1]; k++) {
            size_t arc = m->arcs[k], e = MAP_ARC_LINK(arc);
            size_t i = map_arc_tail(sub, arc), j = map_arc_head(sub, arc);
            if (!sub->links[e].users) {
                if (!m->ylink[e])
                    m->ylink[e] = add_col(m, GLP_BV, 0, 1);
                if (!erow[e]) {
                    erow[e] = add_row(m, GLP_UP, -INFINITY, 0);
                    trip_add(&m->T, erow[e], m->ylink[e], -1);
                }
                trip_add(&m->T, erow[e], m->fcol[k], 1);
            }
            /*
             * A path switches on every node it enters (its first node is a
             * host, counted above). Within one link a simple path enters a
             * node at most once, so the arcs into it share one row.
             */
            (void)i;
            if (!sub->nodes[j].users) {
                if (!m->ynode[j])
                    m->ynode[j] = add_col(m, GLP_BV, 0, 1);
                if (!nrow[j]) {
                    nrow[j] = add_row(m, GLP_UP, -INFINITY, 0);
                    trip_add(&m->T, nrow[j], m->ynode[j], -1);
                }
                trip_add(&m->T, nrow[j], m->fcol[k], 1);
            }
        }
        for (size_t e = 0; e < ctx->ne; e++)
            erow[e] = 0;
        for (size_t s = 0; s < ns; s++)
            nrow[s] = 0;
    }
    free(nrow);
    free(erow);
    obj_clear(m);
    for (size_t s = 0; s < ns; s++) {
        if (m->ynode[s])
            glp_set_obj_coef(m->P, m->ynode[s], 1);
    }
    for (size_t e = 0; e < ctx->ne; e++) {
        if (m->ylink[e])
            glp_set_obj_coef(m->P, m->ylink[e], 1);
    }
}

struct mip_objective {
    const char *name;
    void (*build)(struct mip *m);
    double (*eval)(const struct map_ctx *ctx, const struct map_result *res);
    /* The primary value may grow by this much in the cost tie-break solve. */
    double tiebreak_slack;
    bool tiebreak;
};

static const struct mip_objective objectives[] = {
    {.name = "cost", .build = build_cost, .eval = map_eval_cost, .tiebreak = false},
    {.name = "load",
     .build = build_load,
     .eval = map_eval_load,
     .tiebreak = true,
     .tiebreak_slack = 1e-7},
    {.name = "energy",
     .build = build_energy,
     .eval = map_eval_energy,
     .tiebreak = true,
     .tiebreak_slack = 0.5},
    {.name = "migration",
     .build = build_migration,
     .eval = map_eval_moves,
     .tiebreak = true,
     .tiebreak_slack = 1e-6},
};

/* ---- warm start and solution ---- */

/* Column values of a known mapping (1-based), or NULL if it has no columns. */
static double *
start_values(struct mip *m, const struct map_result *res)
{
    const struct map_ctx *ctx = m->ctx;
    const struct map_substrate *sub = ctx->sub;
    size_t ns = ctx->ns;
    int n = glp_get_num_cols(m->P);
    double *x = xcalloc((size_t)n + 1, sizeof(double));
    for (size_t v = 0; v < ctx->nv; v++) {
        int j = m->xcol[v * ns + res->host[v]];
        if (!j)
            goto fail;
        x[j] = 1;
    }
    for (size_t l = 0; l < ctx->nl; l++) {
        if (m->free_l[l])
            continue;
        size_t at = res->host[ctx->req->links[l].a];
        for (size_t i = res->path_off[l]; i < res->path_off[l + 1]; i++) {
            size_t e = res->path[i];
            size_t arc = sub->links[e].u == at ? 2 * e : 2 * e + 1;
            size_t k;
            for (k = m->aoff[l]; k < m->aoff[l + 1] && m->arcs[k] != arc; k++)
                ;
            if (k == m->aoff[l + 1])
                goto fail;
            x[m->fcol[k]] = 1;
            at = map_arc_head(sub, arc);
        }
    }
    if (m->lam)
        x[m->lam] = fmax(map_eval_load(ctx, res), glp_get_col_lb(m->P, m->lam));
    for (size_t v = 0; m->yhost && v < ctx->nv; v++) {
        if (m->yhost[res->host[v]])
            x[m->yhost[res->host[v]]] = 1;
    }
    if (m->ynode) {
        for (size_t s = 0; s < ns; s++) {
            if (!m->ynode[s])
                continue;
            bool on = false;
            for (size_t v = 0; v < ctx->nv && !on; v++)
                on = res->host[v] == s;
            for (size_t i = 0; i < res->path_off[ctx->nl] && !on; i++)
                on = sub->links[res->path[i]].u == s || sub->links[res->path[i]].v == s;
            x[m->ynode[s]] = on;
        }
        for (size_t e = 0; e < ctx->ne; e++) {
            if (!m->ylink[e])
                continue;
            for (size_t i = 0; i < res->path_off[ctx->nl]; i++)
                x[m->ylink[e]] = x[m->ylink[e]] || res->path[i] == e;
        }
    }
    return x;
fail:
    free(x);
    return NULL;
}

static void
callback(glp_tree *tree, void *info)
{
    struct mip *m = info;
    if (glp_ios_reason(tree) == GLP_IHEUR && m->start && !m->injected) {
        m->injected = true;
        glp_ios_heur_sol(tree, m->start);
    }
    int p = glp_ios_best_node(tree);
    if (p) {
        m->bound = glp_ios_node_bound(tree, p);
        m->have_bound = true;
    }
}

/* Reads the MIP solution into a result; free links are routed afterwards. */
static struct map_result *
extract(struct mip *m)
{
    const struct map_ctx *ctx = m->ctx;
    const struct map_substrate *sub = ctx->sub;
    size_t ns = ctx->ns, nl = ctx->nl;
    struct map_result *res = map_result_new(ctx->nv, nl);
    size_t *off = xcalloc(nl + 1, sizeof(size_t));
    size_t *flat = xmalloc((nl * ns + 1) * sizeof(size_t));
    bool *used = xcalloc(m->narcs + 1, sizeof(bool));
    size_t *nodes = xmalloc((ns + 1) * sizeof(size_t));
    double *bw_left = xmalloc((ctx->ne + 1) * sizeof(double));

    for (size_t v = 0; v < ctx->nv; v++) {
        for (size_t s = 0; s < ns; s++) {
            int j = m->xcol[v * ns + s];
            if (j && glp_mip_col_val(m->P, j) > 0.5)
                res->host[v] = s;
        }
        if (res->host[v] == MAP_NONE)
            goto fail;
    }
    memcpy(bw_left, ctx->bw_resid, ctx->ne * sizeof(double));
    for (size_t l = 0; l < nl; l++) {
        const struct map_rlink *rl = &ctx->req->links[l];
        size_t at = res->host[rl->a], t = res->host[rl->b], n = 0;
        size_t *p = flat + off[l];
        if (!m->free_l[l]) {
            for (size_t k = m->aoff[l]; k < m->aoff[l + 1]; k++)
                used[k] = glp_mip_col_val(m->P, m->fcol[k]) > 0.5;
            /* Follow the chosen arcs; cycles beside the path are dropped. */
            while (at != t) {
                size_t k;
                for (k = m->aoff[l]; k < m->aoff[l + 1]; k++) {
                    if (used[k] && map_arc_tail(sub, m->arcs[k]) == at)
                        break;
                }
                if (k == m->aoff[l + 1] || n >= ns)
                    goto fail;
                used[k] = false;
                p[n++] = MAP_ARC_LINK(m->arcs[k]);
                at = map_arc_head(sub, m->arcs[k]);
                /* Cut a loop back to a node already on the path. */
                size_t cur = res->host[rl->a], back = MAP_NONE;
                nodes[0] = cur;
                for (size_t i = 0; i < n; i++) {
                    const struct map_slink *e = &sub->links[p[i]];
                    cur = e->u == cur ? e->v : e->u;
                    nodes[i + 1] = cur;
                }
                for (size_t i = 0; i < n; i++) {
                    if (nodes[i] == at) {
                        back = i;
                        break;
                    }
                }
                if (back != MAP_NONE)
                    n = back;
            }
        }
        off[l + 1] = off[l] + n;
        for (size_t i = 0; i < n; i++)
            bw_left[p[i]] -= rl->bw;
    }
    /* Links without variables: shortest paths over what is left. */
    for (size_t l = 0; l < nl; l++) {
        if (!m->free_l[l])
            continue;
        const struct map_rlink *rl = &ctx->req->links[l];
        size_t *tmp = xmalloc((ns + 1) * sizeof(size_t));
        long n =
            map_shortest_path(ctx, bw_left, res->host[rl->a], res->host[rl->b], 0, INFINITY, tmp);
        if (n < 0) {
            free(tmp);
            goto fail;
        }
        /* Insert at l: shift the later paths. */
        size_t total = off[nl];
        memmove(flat + off[l] + (size_t)n, flat + off[l], (total - off[l]) * sizeof(size_t));
        memcpy(flat + off[l], tmp, (size_t)n * sizeof(size_t));
        for (size_t k = l + 1; k <= nl; k++)
            off[k] += (size_t)n;
        free(tmp);
    }
    map_result_set_paths(res, off, flat);
    free(off);
    free(flat);
    free(used);
    free(nodes);
    free(bw_left);
    return res;
fail:
    map_result_free(res);
    free(off);
    free(flat);
    free(used);
    free(nodes);
    free(bw_left);
    return NULL;
}

static double
remaining_ms(const struct map_ctx *ctx)
{
    double lim = ctx->opts->time_limit_s;
    if (lim <= 0)
        return INT_MAX;
    double left = (lim - (cn_now() - ctx->t0)) * 1000;
    return left < 1 ? 1 : left;
}

enum solve_status {
    SOLVE_OPTIMAL,
    SOLVE_FEASIBLE,   /* stopped with a solution, not proven */
    SOLVE_INFEASIBLE, /* proven: no solution */
    SOLVE_NONE,       /* stopped without a solution */
};

/* Runs the simplex and branch and bound on the current model. */
static enum solve_status
run_glpk(struct mip *m, const struct map_result *start)
{
    const struct map_ctx *ctx = m->ctx;
    glp_smcp smcp;
    glp_iocp iocp;
    m->have_bound = false;
    m->injected = false;
    free(m->start);
    m->start = start && ctx->opts->warm_start ? start_values(m, start) : NULL;

    glp_init_smcp(&smcp);
    smcp.msg_lev = ctx->opts->solver_output ? GLP_MSG_ON : GLP_MSG_OFF;
    smcp.presolve = GLP_ON;
    smcp.tm_lim = (int)fmin(remaining_ms(ctx), INT_MAX);
    glp_init_iocp(&iocp);
    iocp.msg_lev = ctx->opts->solver_output ? GLP_MSG_ON : GLP_MSG_OFF;
    iocp.tm_lim = (int)fmin(remaining_ms(ctx), INT_MAX);
    iocp.mip_gap = ctx->opts->mip_gap;
    iocp.br_tech = GLP_BR_DTH;
    iocp.bt_tech = GLP_BT_BLB;
    iocp.cb_func = callback;
    iocp.cb_info = m;
    if (ctx->opts->presolve || !m->start) {
        iocp.presolve = GLP_ON;
    } else {
        int rc = glp_simplex(m->P, &smcp);
        int st = glp_get_status(m->P);
        if (rc == GLP_ENOPFS || st == GLP_NOFEAS)
            return SOLVE_INFEASIBLE;
        if (rc != 0 || st != GLP_OPT)
            return SOLVE_NONE;
        iocp.tm_lim = (int)fmin(remaining_ms(ctx), INT_MAX);
        iocp.presolve = GLP_OFF;
    }
    int rc = glp_intopt(m->P, &iocp);
    int st = glp_mip_status(m->P);
    if (rc == GLP_ENOPFS || rc == GLP_ENODFS || st == GLP_NOFEAS)
        return SOLVE_INFEASIBLE;
    if (st == GLP_OPT && rc == 0)
        return SOLVE_OPTIMAL;
    if (st == GLP_OPT || st == GLP_FEAS)
        return SOLVE_FEASIBLE;
    return SOLVE_NONE;
}

/* Fixes the primary objective at value + slack as a row. */
static void
pin_objective(struct mip *m, double value)
{
    int n = glp_get_num_cols(m->P);
    int row = add_row(m, GLP_UP, 0, value - glp_get_obj_coef(m->P, 0));
    int *ind = xmalloc(((size_t)n + 1) * sizeof(int));
    double *val = xmalloc(((size_t)n + 1) * sizeof(double));
    int k = 0;
    for (int j = 1; j <= n; j++) {
        double c = glp_get_obj_coef(m->P, j);
        if (c != 0) {
            k++;
            ind[k] = j;
            val[k] = c;
        }
    }
    glp_set_mat_row(m->P, row, k, ind, val);
    free(ind);
    free(val);
}

static double
rel_gap(double value, double bound)
{
    double g = (value - bound) / (fabs(value) + 1e-9);
    return g < 1e-9 ? 0 : g;
}

/*
 * Builds and solves the model for obj. heur (taken over, may be NULL) is the
 * incumbent; lb_extra is a proven lower bound on the cost found elsewhere.
 */
static int
glpk_solve(const struct map_ctx *ctx, const struct mip_objective *obj, struct map_result *heur,
           double lb_extra, double cutoff, struct map_result **ret_res, struct cn_err *err)
{
    struct map_result *res = NULL;
    struct mip m;
    int ret = -1;

    memset(&m, 0, sizeof(m));
    bool is_cost = obj->build == build_cost;
    double lb = fmax(map_cost_lower_bound(ctx), is_cost ? lb_extra : 0);

    m.ctx = ctx;
    m.xok = xcalloc(ctx->nv * ctx->ns + 1, sizeof(bool));
    m.xcol = xcalloc(ctx->nv * ctx->ns + 1, sizeof(int));
    m.free_l = xcalloc(ctx->nl + 1, sizeof(bool));
    m.aoff = xcalloc(ctx->nl + 1, sizeof(size_t));
    m.hmax = xcalloc(ctx->nl + 1, sizeof(double));
    double ub = heur && is_cost ? map_eval_cost(ctx, heur) : is_cost ? cutoff : INFINITY;
    choose_variables(&m, ub, obj->build == build_energy);
    bool exact = ctx->opts->hop_limit == 0;

    size_t nz_estimate = 4 * m.narcs + 3 * ctx->nv * ctx->ns;
    if (nz_estimate > MIP_MAX_NONZEROS || m.too_large) {
        if (!heur) {
            cn_err_set(err, CN_E_LIMIT,
                       "model too large (over %d nonzeros) and no heuristic solution",
                       MIP_MAX_NONZEROS);
            goto cleanup;
        }
        heur->value = obj->eval(ctx, heur);
        heur->bound = is_cost ? lb : 0;
        heur->gap = rel_gap(heur->value, heur->bound);
        heur->optimal = heur->gap == 0;
        *ret_res = heur;
        heur = NULL;
        ret = 0;
        goto cleanup;
    }

    m.P = glp_create_prob();
    glp_set_obj_dir(m.P, GLP_MIN);
    build_structure(&m);
    obj->build(&m);
    glp_load_matrix(m.P, (int)m.T.n, m.T.ia, m.T.ja, m.T.ar);
    if (!heur && isfinite(ub))
        pin_objective(&m, ub - 1e-6);

    enum solve_status st = run_glpk(&m, heur);
    if (st == SOLVE_INFEASIBLE) {
        if (heur) {
            /* Only possible when hop_limit cut the heuristic's paths out. */
            res = heur;
            heur = NULL;
            res->value = obj->eval(ctx, res);
            res->bound = is_cost ? lb : 0;
            res->gap = rel_gap(res->value, res->bound);
            res->optimal = false;
        } else if (exact) {
            cn_err_set(err, CN_E_INFEASIBLE, "no mapping exists");
            goto cleanup;
        } else {
            cn_err_set(err, CN_E_INFEASIBLE, "no mapping within the hop limit");
            goto cleanup;
        }
    } else if (st == SOLVE_NONE) {
        if (!heur) {
            cn_err_set(err, CN_E_TIMEOUT, "no mapping found within the time limit");
            goto cleanup;
        }
        res = heur;
        heur = NULL;
        res->value = obj->eval(ctx, res);
        res->bound = m.have_bound && exact ? fmax(m.bound, is_cost ? lb : 0) : is_cost ? lb : 0;
        res->gap = rel_gap(res->value, res->bound);
        res->optimal = false;
    } else {
        double value = glp_mip_obj_val(m.P);
        res = extract(&m);
        if (!res && heur) {
            /*
             * GLPK reported a solution that does not place every node (seen
             * with an incumbent it was given): keep the known mapping.
             */
            res = heur;
            heur = NULL;
            res->value = obj->eval(ctx, res);
            res->bound = is_cost ? lb : 0;
            res->gap = rel_gap(res->value, res->bound);
            res->optimal = false;
            goto done;
        }
        if (!res) {
            cn_err_set(err, CN_E_INTERNAL, "could not read the MIP solution");
            goto cleanup;
        }
        res->value = value;
        if (st == SOLVE_OPTIMAL)
            res->bound = value;
        else
            res->bound = m.have_bound ? fmin(m.bound, value) : (is_cost ? lb : 0);
        if (is_cost)
            res->bound = fmax(res->bound, lb);
        if (!exact)
            res->bound = is_cost ? lb : 0;
        res->gap = rel_gap(res->value, res->bound);
        res->optimal = st == SOLVE_OPTIMAL && exact && res->gap == 0;
        /* A heuristic solution the solver did not improve on may be cheaper to report. */
        if (heur && obj->eval(ctx, heur) < res->value - 1e-9) {
            map_result_free(res);
            res = heur;
            heur = NULL;
            res->value = obj->eval(ctx, res);
            res->bound = is_cost ? lb : 0;
            res->gap = rel_gap(res->value, res->bound);
            res->optimal = false;
        }

        if (obj->tiebreak) {
            /* Second solve: least cost among the optimal (or found) primary value. */
            double primary = res->value, pbound = res->bound, pgap = res->gap;
            bool popt = res->optimal;
            pin_objective(&m, primary + obj->tiebreak_slack);
            build_cost(&m);
            enum solve_status st2 = run_glpk(&m, res);
            if (st2 == SOLVE_OPTIMAL || st2 == SOLVE_FEASIBLE) {
                struct map_result *r2 = extract(&m);
                if (r2 && map_eval_cost(ctx, r2) <= map_eval_cost(ctx, res) + 1e-9) {
                    map_result_free(res);
                    res = r2;
                } else {
                    map_result_free(r2);
                }
            }
            res->value = obj->eval(ctx, res);
            res->bound = fmin(pbound, res->value);
            res->gap = fmax(pgap, rel_gap(res->value, res->bound));
            res->optimal = popt && st2 == SOLVE_OPTIMAL;
        }
    }
done:
    *ret_res = res;
    res = NULL;
    ret = 0;
cleanup:
    if (m.P)
        glp_delete_prob(m.P);
    free(m.T.ia);
    free(m.T.ja);
    free(m.T.ar);
    free(m.xok);
    free(m.xcol);
    free(m.free_l);
    free(m.aoff);
    free(m.hmax);
    free(m.arcs);
    free(m.fcol);
    free(m.ynode);
    free(m.ylink);
    free(m.yhost);
    free(m.start);
    map_result_free(heur);
    map_result_free(res);
    return ret;
}

int
map_route_fixed(const struct map_ctx *ctx, const size_t *host, double cutoff,
                struct map_result **ret_res)
{
    struct map_ctx fctx = *ctx;
    struct map_options o = *ctx->opts;
    struct map_result *res = NULL;
    struct cn_err err = CN_ERR_INIT;
    size_t ns = ctx->ns;
    int ret;
    o.hop_limit = 0;
    o.warm_start = false;
    fctx.opts = &o;
    fctx.ok = xcalloc(ctx->nv * ns + 1, sizeof(bool));
    fctx.ok_list = xcalloc(ctx->nv * ns + 1, sizeof(size_t));
    fctx.ok_n = xcalloc(ctx->nv + 1, sizeof(size_t));
    for (size_t v = 0; v < ctx->nv; v++) {
        fctx.ok[v * ns + host[v]] = true;
        fctx.ok_list[v * ns] = host[v];
        fctx.ok_n[v] = 1;
    }
    ret = glpk_solve(&fctx, &objectives[0], NULL, 0, cutoff, &res, &err);
    if (ret == 0) {
        *ret_res = res;
        ret = 1;
    } else {
        ret = err.code == CN_E_INFEASIBLE ? 0 : -1;
    }
    free(fctx.ok);
    free(fctx.ok_list);
    free(fctx.ok_n);
    cn_err_release(&err);
    return ret;
}

/* The least the primary objective can be: load already there, or nothing new. */
static double
primary_floor(const struct map_ctx *ctx, const struct mip_objective *obj)
{
    const struct map_substrate *sub = ctx->sub;
    double f = 0;
    if (obj->build != build_load)
        return 0;
    for (size_t s = 0; s < ctx->ns; s++) {
        for (size_t r = 0; r < ctx->nres; r++) {
            if (sub->nodes[s].cap[r] > 0)
                f = fmax(f, sub->nodes[s].used[r] / sub->nodes[s].cap[r]);
        }
    }
    for (size_t e = 0; e < ctx->ne; e++) {
        if (sub->links[e].bw > 0)
            f = fmax(f, sub->links[e].used / sub->links[e].bw);
    }
    return f;
}

/*
 * A copy of ctx in which the primary objective of obj cannot exceed its
 * floor: for "load" every capacity is cut to floor * capacity, for "energy"
 * only nodes and links already in use remain. Shares the unchanged arrays;
 * free with restricted_release().
 */
static void
restricted_init(struct map_ctx *out, const struct map_ctx *ctx, const struct mip_objective *obj,
                double floor_value)
{
    const struct map_substrate *sub = ctx->sub;
    size_t ns = ctx->ns, nres1 = ctx->nres ? ctx->nres : 1;
    bool load = obj->build == build_load;
    *out = *ctx;
    out->resid = xcalloc(ns * nres1 + 1, sizeof(double));
    out->bw_resid = xcalloc(ctx->ne + 1, sizeof(double));
    out->ok = xcalloc(ctx->nv * ns + 1, sizeof(bool));
    out->ok_list = xcalloc(ctx->nv * ns + 1, sizeof(size_t));
    out->ok_n = xcalloc(ctx->nv + 1, sizeof(size_t));
    for (size_t s = 0; s < ns; s++) {
        for (size_t r = 0; r < ctx->nres; r++) {
            double v = ctx->resid[s * nres1 + r];
            if (load)
                v = fmin(v, floor_value * sub->nodes[s].cap[r] - sub->nodes[s].used[r] + 1e-9);
            out->resid[s * nres1 + r] = v;
        }
    }
    for (size_t e = 0; e < ctx->ne; e++) {
        double v = ctx->bw_resid[e];
        if (load)
            v = fmin(v, floor_value * sub->links[e].bw - sub->links[e].used + 1e-9);
        else if (!sub->links[e].users)
            v = -1;
        out->bw_resid[e] = v;
    }
    for (size_t v = 0; v < ctx->nv; v++) {
        for (size_t i = 0; i < ctx->ok_n[v]; i++) {
            size_t s = ctx->ok_list[v * ns + i];
            bool fits = load || sub->nodes[s].users > 0;
            for (size_t r = 0; r < ctx->nres && fits; r++)
                fits = out->resid[s * nres1 + r] + MAP_EPS >= ctx->dem[v * nres1 + r];
            if (!fits)
                continue;
            out->ok[v * ns + s] = true;
            out->ok_list[v * ns + out->ok_n[v]++] = s;
        }
    }
}

static void
restricted_release(struct map_ctx *c)
{
    free(c->resid);
    free(c->bw_resid);
    free(c->ok);
    free(c->ok_list);
    free(c->ok_n);
}

/*
 * The exact cost minimisation: heuristic bound, then the placement search,
 * then GLPK when the search could not settle it. heur is taken over.
 */
static int
solve_cost(const struct map_ctx *ctx, struct map_result *heur, struct map_result **ret_res,
           struct cn_err *err)
{
    double lb = map_cost_lower_bound(ctx);
    if (heur && map_eval_cost(ctx, heur) <= lb + 1e-9) {
        heur->value = heur->bound = map_eval_cost(ctx, heur);
        heur->gap = 0;
        heur->optimal = true;
        *ret_res = heur;
        return 0;
    }
    for (size_t v = 0; v < ctx->nv; v++) {
        if (ctx->ok_n[v] == 0) {
            map_result_free(heur);
            return cn_err_set(err, CN_E_INFEASIBLE, "request node %zu fits nowhere", v);
        }
    }
    double limit = ctx->opts->time_limit_s > 0 ? ctx->opts->time_limit_s : 1e9;
    double deadline = ctx->t0 + limit * (ctx->opts->hop_limit ? 0.5 : 0.7);
    double bound = lb;
    bool proven = false;
    /*
     * The search knows neither move penalties nor a limit on the hosts in
     * use, and cannot finish on large instances.
     */
    if (!ctx->opts->hop_limit && !ctx->move && !ctx->req->max_hosts &&
        ctx->nv * ctx->ns <= MAP_LARGE_INSTANCE)
        map_cost_search(ctx, &heur, deadline, &bound, &proven);
    if (proven) {
        if (!heur)
            return cn_err_set(err, CN_E_INFEASIBLE, "no mapping exists");
        heur->value = heur->bound = map_eval_cost(ctx, heur);
        heur->gap = 0;
        heur->optimal = true;
        *ret_res = heur;
        return 0;
    }
    struct map_result *res = NULL;
    if (glpk_solve(ctx, &objectives[0], heur, bound, INFINITY, &res, err) < 0)
        return -1;
    *ret_res = res;
    return 0;
}

int
map_mip(const struct map_ctx *ctx, struct map_result **ret_res, struct cn_err *err)
{
    const char *oname = ctx->opts->objective ? ctx->opts->objective : "cost";
    const struct mip_objective *obj = NULL;
    struct map_result *heur = NULL, *res = NULL;
    struct cn_err herr = CN_ERR_INIT;
    int ret = -1;
    /*
     * GLPK keeps an environment per thread. A daemon maps on short-lived
     * server threads, so an environment this call made is freed before it
     * returns (every problem object is deleted by then); one the caller's
     * thread already had is left alone.
     */
    bool own_env = glp_init_env() == 0;
    int saved_term = glp_term_out(ctx->opts->solver_output ? GLP_ON : GLP_OFF);

    for (size_t i = 0; i < CN_ARRAY_SIZE(objectives); i++) {
        if (strcmp(objectives[i].name, oname) == 0)
            obj = &objectives[i];
    }
    if (!obj) {
        cn_err_set(err, CN_E_INVALID, "unknown objective %s", oname);
        goto cleanup;
    }
    if (map_heuristic(ctx, &heur, &herr) < 0)
        heur = NULL;
    if (obj->build == build_cost) {
        ret = solve_cost(ctx, heur, &res, err);
        heur = NULL;
        goto done;
    }
    /*
     * "load" and "energy": when the heuristic already meets the least
     * possible primary value, what remains is the cheapest mapping that
     * keeps it there, a cost problem on a cut-down substrate.
     */
    double floor_value = primary_floor(ctx, obj);
    if (heur && obj->build != build_migration && obj->eval(ctx, heur) <= floor_value + 1e-9) {
        struct map_ctx rctx;
        restricted_init(&rctx, ctx, obj, floor_value);
        ret = solve_cost(&rctx, heur, &res, err);
        heur = NULL;
        restricted_release(&rctx);
        if (ret == 0) {
            res->value = obj->eval(ctx, res);
            res->bound = floor_value;
            res->gap = rel_gap(res->value, res->bound);
        }
        goto done;
    }
    ret = glpk_solve(ctx, obj, heur, 0, INFINITY, &res, err);
    heur = NULL;
done:
    if (ret == 0) {
        *ret_res = res;
        res = NULL;
    }
cleanup:
    glp_term_out(saved_term);
    if (own_env)
        glp_free_env();
    map_result_free(heur);
    map_result_free(res);
    cn_err_release(&herr);
    return ret;
}
