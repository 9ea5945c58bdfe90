/*
 * Tests of the mapping engine's numeric core.
 *
 * Every mapping the tests obtain goes through check_mapping(), a checker
 * written independently of the engine: it recomputes capacities, path
 * continuity from host to host, forwarding, bandwidth, latency, distinct
 * hosts and candidates from the test's own copy of the instance. Tiny
 * random instances are solved by brute force (every placement, every
 * combination of simple paths) under each objective, and the MIP must reach
 * the same lexicographic optimum (objective, then cost) and agree on
 * infeasibility. Random instances under every combination of options must
 * give checked mappings or a correct failure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_PRIV_H_ALLOW
#include "mapping/map_priv.h"
#include "tests/testlib.h"
#include "util/util.h"

#define MAXS 12
#define MAXE 40
#define MAXV 10
#define MAXL 20
#define NRES 2

/* The test's own copy of an instance. */
struct inst {
    size_t ns, ne, nv, nl;
    double cap[MAXS][NRES], used[MAXS][NRES];
    bool fwd[MAXS];
    unsigned nusers[MAXS];
    size_t eu[MAXE], ev[MAXE];
    double bw[MAXE], bwused[MAXE], lat[MAXE];
    unsigned eusers[MAXE];
    double dem[MAXV][NRES];
    bool has_cand[MAXV];
    bool cand[MAXV][MAXS];
    size_t la[MAXL], lb[MAXL];
    double lbw[MAXL], lmax[MAXL];
    bool distinct;
};

static const char *const res_names[NRES] = {"cpu", "mem"};

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t
rnd_int(size_t lo, size_t hi)
{
    return lo + (size_t)(rnd() % (hi - lo + 1));
}

static bool
rnd_prob(double p)
{
    return (double)(rnd() % 1000000) / 1e6 < p;
}

/* ---- the independent checker ---- */

static int
check_mapping(const struct inst *I, const struct map_result *res)
{
    double nadd[MAXS][NRES] = {{0}};
    double badd[MAXE] = {0};
    unsigned count[MAXS] = {0};
    for (size_t v = 0; v < I->nv; v++) {
        size_t s = map_result_host(res, v);
        CHECK(s < I->ns);
        CHECK(!I->has_cand[v] || I->cand[v][s]);
        count[s]++;
        CHECK(!I->distinct || count[s] == 1);
        for (int r = 0; r < NRES; r++)
            nadd[s][r] += I->dem[v][r];
    }
    for (size_t s = 0; s < I->ns; s++) {
        for (int r = 0; r < NRES; r++)
            CHECK(I->used[s][r] + nadd[s][r] <= I->cap[s][r] + 1e-6);
    }
    for (size_t l = 0; l < I->nl; l++) {
        size_t n;
        const size_t *p = map_result_path(res, l, &n);
        size_t at = map_result_host(res, I->la[l]);
        double lat = 0;
        for (size_t i = 0; i < n; i++) {
            CHECK(p[i] < I->ne);
            /* Only the first node of a path may be a non-forwarding one. */
            CHECK(i == 0 || I->fwd[at]);
            CHECK(I->eu[p[i]] == at || I->ev[p[i]] == at);
            at = I->eu[p[i]] == at ? I->ev[p[i]] : I->eu[p[i]];
            badd[p[i]] += I->lbw[l];
            lat += I->lat[p[i]];
        }
        CHECK(at == map_result_host(res, I->lb[l]));
        CHECK(lat <= I->lmax[l] + 1e-6);
    }
    for (size_t e = 0; e < I->ne; e++)
        CHECK(I->bwused[e] + badd[e] <= I->bw[e] + 1e-6);
    return 0;
}

/* ---- objectives, recomputed ---- */

struct eval {
    double cost, load, energy;
};

static struct eval
evaluate(const struct inst *I, const size_t *host, size_t plen[MAXL], size_t paths[MAXL][MAXS])
{
    struct eval ev = {0, 0, 0};
    double nadd[MAXS][NRES] = {{0}};
    double badd[MAXE] = {0};
    bool ntouch[MAXS] = {false}, etouch[MAXE] = {false};
    for (size_t v = 0; v < I->nv; v++) {
        ev.cost += I->dem[v][0];
        for (int r = 0; r < NRES; r++)
            nadd[host[v]][r] += I->dem[v][r];
        ntouch[host[v]] = true;
    }
    for (size_t l = 0; l < I->nl; l++) {
        size_t at = host[I->la[l]];
        ev.cost += I->lbw[l] * (double)plen[l];
        for (size_t i = 0; i < plen[l]; i++) {
            size_t e = paths[l][i];
            badd[e] += I->lbw[l];
            etouch[e] = true;
            ntouch[at] = true;
            at = I->eu[e] == at ? I->ev[e] : I->eu[e];
            ntouch[at] = true;
        }
    }
    for (size_t s = 0; s < I->ns; s++) {
        for (int r = 0; r < NRES; r++) {
            if (I->cap[s][r] > 0)
                ev.load = fmax(ev.load, (I->used[s][r] + nadd[s][r]) / I->cap[s][r]);
        }
        ev.energy += ntouch[s] && I->nusers[s] == 0;
    }
    for (size_t e = 0; e < I->ne; e++) {
        if (I->bw[e] > 0)
            ev.load = fmax(ev.load, (I->bwused[e] + badd[e]) / I->bw[e]);
        ev.energy += etouch[e] && I->eusers[e] == 0;
    }
    return ev;
}

static struct eval
evaluate_result(const struct inst *I, const struct map_result *res)
{
    size_t host[MAXV], plen[MAXL], paths[MAXL][MAXS];
    for (size_t v = 0; v < I->nv; v++)
        host[v] = map_result_host(res, v);
    for (size_t l = 0; l < I->nl; l++) {
        const size_t *p = map_result_path(res, l, &plen[l]);
        memcpy(paths[l], p, plen[l] * sizeof(size_t));
    }
    return evaluate(I, host, plen, paths);
}

/* ---- brute force ---- */

struct brute {
    const struct inst *I;
    int objective; /* 0 cost, 1 load, 2 energy */
    size_t host[MAXV];
    size_t plen[MAXL], paths[MAXL][MAXS];
    double bwleft[MAXE];
    bool found;
    double best_primary, best_cost;
};

static double
primary(const struct brute *B, struct eval ev)
{
    return B->objective == 0 ? ev.cost : B->objective == 1 ? ev.load : ev.energy;
}

static void brute_links(struct brute *B, size_t l);

/* Every simple path for link l from at to the far host, then the next link. */
static void
brute_path(struct brute *B, size_t l, size_t at, bool *seen, size_t len, double lat)
{
    const struct inst *I = B->I;
    size_t target = B->host[I->lb[l]];
    if (at == target) {
        B->plen[l] = len;
        brute_links(B, l + 1);
        return;
    }
    if (len > 0 && !I->fwd[at])
        return;
    for (size_t e = 0; e < I->ne; e++) {
        size_t next;
        if (I->eu[e] == at)
            next = I->ev[e];
        else if (I->ev[e] == at)
            next = I->eu[e];
        else
            continue;
        if (seen[next] || B->bwleft[e] + 1e-9 < I->lbw[l] || lat + I->lat[e] > I->lmax[l] + 1e-9)
            continue;
        seen[next] = true;
        B->bwleft[e] -= I->lbw[l];
        B->paths[l][len] = e;
        brute_path(B, l, next, seen, len + 1, lat + I->lat[e]);
        B->bwleft[e] += I->lbw[l];
        seen[next] = false;
    }
}

static void
brute_links(struct brute *B, size_t l)
{
    const struct inst *I = B->I;
    if (l == I->nl) {
        struct eval ev = evaluate(I, B->host, B->plen, B->paths);
        double p = primary(B, ev);
        if (!B->found || p < B->best_primary - 1e-7 ||
            (p <= B->best_primary + 1e-7 && ev.cost < B->best_cost - 1e-7)) {
            B->found = true;
            B->best_primary = p;
            B->best_cost = ev.cost;
        }
        return;
    }
    bool seen[MAXS] = {false};
    seen[B->host[I->la[l]]] = true;
    brute_path(B, l, B->host[I->la[l]], seen, 0, 0);
}

static void
brute_place(struct brute *B, size_t v, double load[MAXS][NRES])
{
    const struct inst *I = B->I;
    if (v == I->nv) {
        brute_links(B, 0);
        return;
    }
    for (size_t s = 0; s < I->ns; s++) {
        if (I->has_cand[v] && !I->cand[v][s])
            continue;
        bool ok = true;
        for (size_t u = 0; u < v && ok && I->distinct; u++)
            ok = B->host[u] != s;
        for (int r = 0; r < NRES && ok; r++)
            ok = I->used[s][r] + load[s][r] + I->dem[v][r] <= I->cap[s][r] + 1e-9;
        if (!ok)
            continue;
        for (int r = 0; r < NRES; r++)
            load[s][r] += I->dem[v][r];
        B->host[v] = s;
        brute_place(B, v + 1, load);
        for (int r = 0; r < NRES; r++)
            load[s][r] -= I->dem[v][r];
    }
}

static bool
brute_force(const struct inst *I, int objective, double *ret_primary, double *ret_cost)
{
    struct brute B;
    double load[MAXS][NRES] = {{0}};
    memset(&B, 0, sizeof(B));
    B.I = I;
    B.objective = objective;
    for (size_t e = 0; e < I->ne; e++)
        B.bwleft[e] = I->bw[e] - I->bwused[e];
    brute_place(&B, 0, load);
    *ret_primary = B.best_primary;
    *ret_cost = B.best_cost;
    return B.found;
}

/* ---- building engine objects from an instance ---- */

static struct map_substrate *
make_substrate(const struct inst *I)
{
    struct cn_err err = CN_ERR_INIT;
    struct map_substrate *sub = map_substrate_new(NRES, res_names);
    for (size_t s = 0; s < I->ns; s++) {
        if (map_substrate_add_node(sub, NULL, I->cap[s], I->fwd[s], &err) < 0)
            abort();
    }
    for (size_t e = 0; e < I->ne; e++) {
        if (map_substrate_add_link(sub, NULL, I->eu[e], I->ev[e], I->bw[e], I->lat[e], &err) < 0)
            abort();
    }
    cn_err_release(&err);
    return sub;
}

static struct map_request *
make_request(const struct inst *I)
{
    struct cn_err err = CN_ERR_INIT;
    struct map_request *req = map_request_new(NRES, res_names);
    for (size_t v = 0; v < I->nv; v++) {
        if (map_request_add_node(req, NULL, I->dem[v], &err) < 0)
            abort();
        if (I->has_cand[v]) {
            size_t c[MAXS], n = 0;
            for (size_t s = 0; s < I->ns; s++) {
                if (I->cand[v][s])
                    c[n++] = s;
            }
            if (map_request_set_candidates(req, v, c, n, &err) < 0)
                abort();
        }
    }
    for (size_t l = 0; l < I->nl; l++) {
        if (map_request_add_link(req, NULL, I->la[l], I->lb[l], I->lbw[l],
                                 isfinite(I->lmax[l]) ? I->lmax[l] : 0, &err) < 0)
            abort();
    }
    map_request_set_distinct_hosts(req, I->distinct);
    cn_err_release(&err);
    return req;
}

/*
 * A random instance: a connected substrate of ns nodes, a request of nv
 * nodes, and some capacity already in use (which the load and energy
 * objectives see).
 */
static void
random_instance(struct inst *I, size_t ns, size_t extra_links, size_t nv, size_t nl,
                bool allow_unfwd, bool allow_cand, bool allow_lat)
{
    memset(I, 0, sizeof(*I));
    I->ns = ns;
    for (size_t s = 0; s < ns; s++) {
        I->cap[s][0] = (double)rnd_int(4, 20);
        I->cap[s][1] = (double)rnd_int(4, 20);
        I->fwd[s] = !(allow_unfwd && rnd_prob(0.2));
    }
    for (size_t s = 1; s < ns; s++) {
        I->eu[I->ne] = rnd_int(0, s - 1);
        I->ev[I->ne] = s;
        I->ne++;
    }
    for (size_t k = 0; k < extra_links && I->ne < MAXE; k++) {
        size_t u = rnd_int(0, ns - 1), v = rnd_int(0, ns - 1);
        if (u == v)
            continue;
        I->eu[I->ne] = u;
        I->ev[I->ne] = v;
        I->ne++;
    }
    for (size_t e = 0; e < I->ne; e++) {
        I->bw[e] = (double)rnd_int(2, 12);
        I->lat[e] = (double)rnd_int(1, 4);
    }
    /* Usage already there, as an earlier request would leave it. */
    for (size_t s = 0; s < ns; s++) {
        if (rnd_prob(0.4)) {
            I->used[s][0] = (double)rnd_int(0, (size_t)I->cap[s][0] / 2);
            I->used[s][1] = (double)rnd_int(0, (size_t)I->cap[s][1] / 2);
            I->nusers[s] = 1;
        }
    }
    for (size_t e = 0; e < I->ne; e++) {
        if (I->nusers[I->eu[e]] && I->nusers[I->ev[e]] && rnd_prob(0.5)) {
            I->bwused[e] = (double)rnd_int(0, (size_t)I->bw[e] / 2);
            I->eusers[e] = 1;
        }
    }
    I->nv = nv;
    I->distinct = rnd_prob(0.5);
    for (size_t v = 0; v < nv; v++) {
        I->dem[v][0] = (double)rnd_int(0, 6);
        I->dem[v][1] = (double)rnd_int(0, 6);
        if (allow_cand && rnd_prob(0.4)) {
            I->has_cand[v] = true;
            for (size_t s = 0; s < ns; s++)
                I->cand[v][s] = rnd_prob(0.5);
        }
    }
    I->nl = 0;
    for (size_t k = 0; k < nl && nv > 1; k++) {
        size_t a = rnd_int(0, nv - 1), b = rnd_int(0, nv - 1);
        if (a == b)
            continue;
        I->la[I->nl] = a;
        I->lb[I->nl] = b;
        I->lbw[I->nl] = rnd_prob(0.15) ? 0 : (double)rnd_int(1, 6);
        I->lmax[I->nl] = allow_lat && rnd_prob(0.3) ? (double)rnd_int(2, 8) : INFINITY;
        I->nl++;
    }
}

/*
 * Builds the substrate with the instance's usage in place: one allocation
 * of a synthetic request per used node and link reproduces used[] and the
 * users counters the energy objective reads.
 */
static struct map_substrate *
make_loaded_substrate(const struct inst *I)
{
    struct map_substrate *sub = make_substrate(I);
    struct cn_err err = CN_ERR_INIT;
    for (size_t s = 0; s < I->ns; s++) {
        if (!I->nusers[s])
            continue;
        struct map_request *r = map_request_new(NRES, res_names);
        map_request_add_node(r, NULL, I->used[s], &err);
        struct map_result *res = map_result_new(1, 0);
        res->host[0] = s;
        if (map_substrate_allocate(sub, r, res, &err) < 0)
            abort();
        map_result_free(res);
        map_request_free(r);
    }
    for (size_t e = 0; e < I->ne; e++) {
        if (!I->eusers[e])
            continue;
        /* A two-node request across link e; its nodes demand nothing. */
        struct map_request *r = map_request_new(NRES, res_names);
        map_request_add_node(r, NULL, NULL, &err);
        map_request_add_node(r, NULL, NULL, &err);
        map_request_add_link(r, NULL, 0, 1, I->bwused[e], 0, &err);
        struct map_result *res = map_result_new(2, 1);
        size_t off[2] = {0, 1}, path[1] = {e};
        res->host[0] = I->eu[e];
        res->host[1] = I->ev[e];
        map_result_set_paths(res, off, path);
        if (map_substrate_allocate(sub, r, res, &err) < 0)
            abort();
        map_result_free(res);
        map_request_free(r);
    }
    cn_err_release(&err);
    return sub;
}

/* The hosting of synthetic requests adds users; fix the test's copy to match. */
static void
sync_users(struct inst *I, const struct map_substrate *sub)
{
    for (size_t s = 0; s < I->ns; s++)
        I->nusers[s] = sub->nodes[s].users;
    for (size_t e = 0; e < I->ne; e++)
        I->eusers[e] = sub->links[e].users;
}

/* ---- test cases ---- */

static const char *const objective_names[] = {"cost", "load", "energy"};

static int
test_brute_force(const void *data)
{
    (void)data;
    int agreed = 0, infeasible = 0;
    for (int iter = 0; iter < 150; iter++) {
        struct inst I;
        size_t ns = rnd_int(2, 6);
        random_instance(&I, ns, rnd_int(0, 4), rnd_int(1, 4), rnd_int(0, 4), true, true, true);
        struct map_substrate *sub = make_loaded_substrate(&I);
        sync_users(&I, sub);
        struct map_request *req = make_request(&I);
        for (int o = 0; o < 3; o++) {
            struct map_options opts;
            struct map_result *res = NULL;
            struct cn_err err = CN_ERR_INIT;
            double bp = 0, bc = 0;
            map_options_init(&opts);
            opts.objective = objective_names[o];
            opts.time_limit_s = 20;
            bool feasible = brute_force(&I, o, &bp, &bc);
            int rc = map_solve(sub, req, &opts, &res, &err);
            if (!feasible) {
                if (rc == 0)
                    fprintf(stderr, "  iter %d %s: MIP found a mapping brute force did not\n", iter,
                            objective_names[o]);
                CHECK(rc < 0);
                CHECK(err.code == CN_E_INFEASIBLE);
                infeasible++;
            } else {
                if (rc < 0)
                    fprintf(stderr, "  iter %d %s: %s\n", iter, objective_names[o],
                            cn_err_msg(&err));
                CHECK(rc == 0);
                CHECK(check_mapping(&I, res) == 0);
                struct eval ev = evaluate_result(&I, res);
                double p = o == 0 ? ev.cost : o == 1 ? ev.load : ev.energy;
                if (fabs(p - bp) > 1e-6 || fabs(ev.cost - bc) > 1e-6 || !map_result_optimal(res))
                    fprintf(stderr, "  iter %d %s: got (%g, %g) optimal=%d, brute force (%g, %g)\n",
                            iter, objective_names[o], p, ev.cost, map_result_optimal(res), bp, bc);
                CHECK(map_result_optimal(res));
                CHECK(fabs(p - bp) <= 1e-6);
                CHECK(fabs(ev.cost - bc) <= 1e-6);
                CHECK(fabs(map_result_value(res) - p) <= 1e-6);
                CHECK(fabs(map_result_cost(res) - ev.cost) <= 1e-6);
                CHECK(map_result_gap(res) == 0);
                agreed++;
            }
            map_result_free(res);
            cn_err_release(&err);
        }
        map_request_free(req);
        map_substrate_free(sub);
    }
    printf("     brute force: %d optima agreed, %d infeasible agreed\n", agreed, infeasible);
    return 0;
}

static int
test_random_options(const void *data)
{
    (void)data;
    static const enum map_algorithm algs[] = {MAP_ALG_HEURISTIC, MAP_ALG_GRC, MAP_ALG_MIP};
    int mapped = 0, failed = 0;
    for (int iter = 0; iter < 60; iter++) {
        struct inst I;
        bool unfwd = iter & 1, cand = iter & 2, lat = iter & 4;
        random_instance(&I, rnd_int(4, 10), rnd_int(2, 12), rnd_int(1, 6), rnd_int(0, 8), unfwd,
                        cand, lat);
        struct map_substrate *sub = make_loaded_substrate(&I);
        sync_users(&I, sub);
        struct map_request *req = make_request(&I);
        for (size_t a = 0; a < CN_ARRAY_SIZE(algs); a++) {
            for (int o = 0; o < 3; o++) {
                if (algs[a] != MAP_ALG_MIP && o > 0)
                    continue;
                for (unsigned hop = 0; hop < 2; hop++) {
                    if (algs[a] != MAP_ALG_MIP && hop)
                        continue;
                    struct map_options opts;
                    struct map_result *res = NULL;
                    struct cn_err err = CN_ERR_INIT;
                    map_options_init(&opts);
                    opts.algorithm = algs[a];
                    opts.objective = objective_names[o];
                    opts.hop_limit = hop ? 2 : 0;
                    opts.presolve = iter % 3 == 0;
                    opts.time_limit_s = 0.3;
                    double t0 = cn_now();
                    int rc = map_solve(sub, req, &opts, &res, &err);
                    /* The limit is checked between solver phases. */
                    CHECK(cn_now() - t0 < 5);
                    if (rc == 0) {
                        CHECK(check_mapping(&I, res) == 0);
                        CHECK(map_result_gap(res) >= 0);
                        CHECK(map_result_bound(res) <= map_result_value(res) + 1e-6);
                        /* Allocation then release restores the substrate. */
                        CHECK(map_substrate_allocate(sub, req, res, &err) == 0);
                        CHECK(map_substrate_release(sub, req, res, &err) == 0);
                        for (size_t s = 0; s < I.ns; s++) {
                            for (int r = 0; r < NRES; r++)
                                CHECK(fabs(map_substrate_node_used(sub, s, (size_t)r) -
                                           I.used[s][r]) < 1e-9);
                            CHECK(sub->nodes[s].users == I.nusers[s]);
                        }
                        for (size_t e = 0; e < I.ne; e++)
                            CHECK(fabs(map_substrate_link_used(sub, e) - I.bwused[e]) < 1e-9);
                        mapped++;
                    } else {
                        if (err.code != CN_E_INFEASIBLE && err.code != CN_E_TIMEOUT)
                            fprintf(stderr, "  iter %d alg %zu %s hop %u: %s\n", iter, a,
                                    objective_names[o], hop, cn_err_msg(&err));
                        CHECK(err.code == CN_E_INFEASIBLE || err.code == CN_E_TIMEOUT);
                        /* An exact MIP's infeasibility must be real. */
                        if (algs[a] == MAP_ALG_MIP && !hop && err.code == CN_E_INFEASIBLE &&
                            I.nv <= 4 && I.ns <= 7 && I.nl <= 4) {
                            double bp, bc;
                            CHECK(!brute_force(&I, 0, &bp, &bc));
                        }
                        failed++;
                    }
                    map_result_free(res);
                    cn_err_release(&err);
                }
            }
        }
        map_request_free(req);
        map_substrate_free(sub);
    }
    printf("     random options: %d mappings checked, %d failures\n", mapped, failed);
    return 0;
}

/* A path on a line substrate, and the distinct-hosts rule. */
static int
test_line(const void *data)
{
    (void)data;
    struct inst I;
    memset(&I, 0, sizeof(I));
    I.ns = 4;
    for (size_t s = 0; s < 4; s++) {
        I.cap[s][0] = 10;
        I.cap[s][1] = 10;
        I.fwd[s] = true;
    }
    for (size_t e = 0; e < 3; e++) {
        I.eu[e] = e;
        I.ev[e] = e + 1;
        I.bw[e] = 10;
        I.lat[e] = 1;
    }
    I.ne = 3;
    I.nv = 2;
    I.dem[0][0] = 2;
    I.dem[1][0] = 3;
    I.has_cand[0] = I.has_cand[1] = true;
    I.cand[0][0] = true;
    I.cand[1][3] = true;
    I.nl = 1;
    I.la[0] = 0;
    I.lb[0] = 1;
    I.lbw[0] = 4;
    I.lmax[0] = INFINITY;
    struct map_substrate *sub = make_substrate(&I);
    struct map_request *req = make_request(&I);
    struct map_options opts;
    struct map_result *res = NULL;
    struct cn_err err = CN_ERR_INIT;
    map_options_init(&opts);
    CHECK(map_solve(sub, req, &opts, &res, &err) == 0);
    CHECK(check_mapping(&I, res) == 0);
    CHECK(map_result_host(res, 0) == 0 && map_result_host(res, 1) == 3);
    CHECK(fabs(map_result_cost(res) - (5 + 4 * 3)) < 1e-9);
    CHECK(map_result_optimal(res));
    map_result_free(res);
    res = NULL;

    /* A non-forwarding middle node cuts the line. */
    map_substrate_free(sub);
    I.fwd[1] = false;
    sub = make_substrate(&I);
    CHECK(map_solve(sub, req, &opts, &res, &err) < 0);
    CHECK(err.code == CN_E_INFEASIBLE);
    cn_err_clear(&err);

    /* A latency bound below three hops is infeasible too. */
    map_substrate_free(sub);
    I.fwd[1] = true;
    sub = make_substrate(&I);
    map_request_free(req);
    I.lmax[0] = 2.5;
    req = make_request(&I);
    CHECK(map_solve(sub, req, &opts, &res, &err) < 0);
    CHECK(err.code == CN_E_INFEASIBLE);
    map_request_free(req);
    map_substrate_free(sub);
    cn_err_release(&err);
    return 0;
}

static int
test_bad_input(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct map_substrate *sub = map_substrate_new(NRES, res_names);
    double cap[NRES] = {1, 1}, neg[NRES] = {-1, 1};
    CHECK(map_substrate_add_node(sub, "a", cap, true, &err) == 0);
    CHECK(map_substrate_add_node(sub, "b", neg, true, &err) < 0);
    CHECK(err.code == CN_E_INVALID);
    CHECK(map_substrate_add_link(sub, "l", 0, 0, 1, 0, &err) < 0);
    CHECK(map_substrate_add_link(sub, "l", 0, 5, 1, 0, &err) < 0);
    struct map_request *req = map_request_new(1, res_names);
    CHECK(map_request_add_node(req, "x", NULL, &err) == 0);
    CHECK(map_request_add_link(req, "y", 0, 0, 1, 0, &err) < 0);
    size_t bad = 7;
    CHECK(map_request_set_candidates(req, 0, &bad, 1, &err) == 0);
    struct map_options opts;
    struct map_result *res = NULL;
    map_options_init(&opts);
    cn_err_clear(&err);
    CHECK(map_solve(sub, req, &opts, &res, &err) < 0);
    CHECK(err.code == CN_E_INVALID);
    opts.objective = "nonsense";
    CHECK(map_solve(sub, req, &opts, &res, &err) < 0);
    CHECK(res == NULL);
    enum map_algorithm alg;
    CHECK(map_algorithm_parse("grc", &alg) == 0 && alg == MAP_ALG_GRC);
    CHECK(map_algorithm_parse("magic", &alg) < 0);
    map_request_free(req);
    map_substrate_free(sub);
    map_substrate_free(NULL);
    map_request_free(NULL);
    map_result_free(NULL);
    cn_err_release(&err);
    return 0;
}

/*
 * Hosts A, B, C, X; links A-C, C-B, A-X, X-B of 10 each. a on A, b on B, c
 * on C, links a-b, c-a, c-b of 10. The shortest path of a-b may run through
 * C, whose two links c needs: the routing must go round through X.
 */
static int
test_spread_routing(const void *data)
{
    (void)data;
    int ret = -1;
    const char *names[] = {"cpu"};
    struct map_substrate *sub = map_substrate_new(1, names);
    struct map_request *req = map_request_new(1, names);
    struct map_result *res = NULL;
    struct cn_err err = CN_ERR_INIT;
    double cap[] = {10}, dem[] = {1};
    const char *hn[] = {"A", "B", "C", "X"};
    for (size_t s = 0; s < 4; s++)
        CHECK(map_substrate_add_node(sub, hn[s], cap, true, &err) == (long)s);
    CHECK(map_substrate_add_link(sub, "A-C", 0, 2, 10, 0, &err) == 0);
    CHECK(map_substrate_add_link(sub, "C-B", 2, 1, 10, 0, &err) == 1);
    CHECK(map_substrate_add_link(sub, "A-X", 0, 3, 10, 0, &err) == 2);
    CHECK(map_substrate_add_link(sub, "X-B", 3, 1, 10, 0, &err) == 3);
    for (size_t v = 0; v < 3; v++) {
        size_t host = v; /* a on A, b on B, c on C */
        CHECK(map_request_add_node(req, hn[v], dem, &err) == (long)v);
        CHECK(map_request_set_candidates(req, v, &host, 1, &err) == 0);
    }
    CHECK(map_request_add_link(req, "a-b", 0, 1, 10, 0, &err) == 0);
    CHECK(map_request_add_link(req, "c-a", 2, 0, 10, 0, &err) == 1);
    CHECK(map_request_add_link(req, "c-b", 2, 1, 10, 0, &err) == 2);
    map_request_set_distinct_hosts(req, true);
    struct map_options opts;
    map_options_init(&opts);
    opts.algorithm = MAP_ALG_HEURISTIC;
    if (map_solve(sub, req, &opts, &res, &err) < 0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    size_t n;
    const size_t *p = map_result_path(res, 0, &n);
    CHECK(n == 2 && p[0] == 2 && p[1] == 3);
    CHECK(fabs(map_result_cost(res) - (3 + 10 * 2 + 10 + 10)) < 1e-9);
    ret = 0;
cleanup:
    map_result_free(res);
    map_request_free(req);
    map_substrate_free(sub);
    cn_err_release(&err);
    return ret;
}

/*
 * Homes and a limit on hosts: a line of three hosts, two request nodes at
 * home on hosts 0 and 2 joined by a link of 5 (two hops).
 */
static int
homes_case(double move_cost, const char *objective, size_t max_hosts, size_t want0, size_t want1,
           double want_cost, double want_moves, int want_code)
{
    int ret = -1;
    const char *names[] = {"cpu"};
    struct map_substrate *sub = map_substrate_new(1, names);
    struct map_request *req = map_request_new(1, names);
    struct map_result *res = NULL;
    struct cn_err err = CN_ERR_INIT;
    double cap[] = {4}, dem[] = {2};
    for (size_t s = 0; s < 3; s++)
        CHECK(map_substrate_add_node(sub, NULL, cap, true, &err) == (long)s);
    CHECK(map_substrate_add_link(sub, NULL, 0, 1, 100, 0, &err) == 0);
    CHECK(map_substrate_add_link(sub, NULL, 1, 2, 100, 0, &err) == 1);
    CHECK(map_request_add_node(req, "a", dem, &err) == 0);
    CHECK(map_request_add_node(req, "b", dem, &err) == 1);
    CHECK(map_request_add_link(req, "a-b", 0, 1, 5, 0, &err) == 0);
    CHECK(map_request_set_home(req, 0, 0, move_cost, &err) == 0);
    CHECK(map_request_set_home(req, 1, 2, move_cost, &err) == 0);
    CHECK(map_request_set_home(req, 2, 0, 1, &err) < 0 && err.code == CN_E_INVALID);
    cn_err_clear(&err);
    CHECK(map_request_set_home(req, 0, 0, -1, &err) < 0 && err.code == CN_E_INVALID);
    cn_err_clear(&err);
    map_request_set_max_hosts(req, max_hosts);
    struct map_options opts;
    map_options_init(&opts);
    opts.objective = objective;
    int rc = map_solve(sub, req, &opts, &res, &err);
    if (want_code) {
        CHECK(rc < 0 && err.code == want_code);
        ret = 0;
        goto cleanup;
    }
    if (rc < 0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    if (want0 == SIZE_MAX) {
        /* Together, on either home. */
        CHECK(map_result_host(res, 0) == map_result_host(res, 1));
        CHECK(map_result_host(res, 0) == 0 || map_result_host(res, 0) == 2);
    } else {
        CHECK(map_result_host(res, 0) == want0 && map_result_host(res, 1) == want1);
    }
    CHECK(fabs(map_result_cost(res) - want_cost) < 1e-9);
    CHECK(fabs(map_result_moves(res) - want_moves) < 1e-9);
    CHECK(map_result_optimal(res));
    ret = 0;
cleanup:
    map_result_free(res);
    map_request_free(req);
    map_substrate_free(sub);
    cn_err_release(&err);
    return ret;
}

static int
test_homes(const void *data)
{
    (void)data;
    /* Pinned: both stay, the link takes two hops. */
    CHECK(homes_case(INFINITY, "cost", 0, 0, 2, 4 + 10, 0, 0) == 0);
    /* A dear move: staying (14) beats moving (4 + 20). */
    CHECK(homes_case(20, "cost", 0, 0, 2, 14, 0, 0) == 0);
    /* A cheap move: one joins the other (4 + 3 < 14). */
    CHECK(homes_case(3, NULL, 0, SIZE_MAX, SIZE_MAX, 4, 3, 0) == 0);
    /* One host at most: a move is forced however dear. */
    CHECK(homes_case(20, "migration", 1, SIZE_MAX, SIZE_MAX, 4, 20, 0) == 0);
    /* Pinned apart and one host at most: no mapping. */
    CHECK(homes_case(INFINITY, "migration", 1, 0, 0, 0, 0, CN_E_INFEASIBLE) == 0);
    return 0;
}

int
main(void)
{
    TEST_RUN("line substrate", test_line, NULL);
    TEST_RUN("bad input", test_bad_input, NULL);
    TEST_RUN("brute force agrees with the MIP", test_brute_force, NULL);
    TEST_RUN("random instances under all options", test_random_options, NULL);
    TEST_RUN("routing round the request's hosts", test_spread_routing, NULL);
    TEST_RUN("homes, move costs and a limit on hosts", test_homes, NULL);
    return test_summary();
}
