/*
 * The seeded workload generator of the online VNE benchmark, after the
 * setting common in the literature (WX100): a Waxman substrate, requests of
 * random size and density arriving as a Poisson process with exponential
 * lifetimes. The random number generator is xoshiro256** seeded through
 * splitmix64, so a seed gives the same workload on every machine.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/vne.h"
#include "util/util.h"

struct rng {
    uint64_t s[4];
};

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void
rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double
rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [lo, hi]. */
static double
rng_int(struct rng *r, double lo, double hi)
{
    double span = floor(hi) - ceil(lo) + 1;
    return ceil(lo) + floor(rng_unit(r) * span);
}

static double
rng_exp(struct rng *r, double mean)
{
    return -mean * log(1.0 - rng_unit(r));
}

void
vne_gen_params_init(struct vne_gen_params *p)
{
    memset(p, 0, sizeof(*p));
    p->seed = 0;
    p->eta = 0.14;
    p->substrate_nodes = 100;
    p->alpha = 0.5;
    p->beta = 0.2;
    p->cap_min = 50;
    p->cap_max = 100;
    p->requests = 1000;
    p->req_min = 2;
    p->req_max = 10;
    p->link_prob = 0.5;
    p->cpu_min = 0;
    p->cpu_max = 20;
    p->bw_min = 0;
    p->bw_max = 50;
    p->lifetime_mean = 500;
    p->location_distance = 0;
}

/* Whether nodes 0..n-1 joined by the m links are connected. */
static bool
connected(size_t n, size_t m, const size_t *lu, const size_t *lv)
{
    size_t *comp = xmalloc((n + 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        comp[i] = i;
    /* Label propagation is quadratic but runs on small graphs only once. */
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t k = 0; k < m; k++) {
            size_t a = comp[lu[k]], b = comp[lv[k]];
            if (a != b) {
                size_t lo = a < b ? a : b;
                comp[lu[k]] = comp[lv[k]] = lo;
                changed = true;
            }
        }
    }
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = comp[i] == 0;
    free(comp);
    return ok;
}

static void
gen_substrate(struct rng *r, const struct vne_gen_params *p, struct vne_workload *w)
{
    size_t n = p->substrate_nodes;
    size_t *lu = NULL, *lv = NULL;
    size_t cap = 0, m = 0;
    w->nsnodes = n;
    w->snodes = xcalloc(n + 1, sizeof(*w->snodes));
    w->has_coords = true;
    for (int attempt = 0;; attempt++) {
        m = 0;
        /* Coordinates in a 100 x 100 square. */
        for (size_t i = 0; i < n; i++) {
            w->snodes[i].x = rng_unit(r) * 100;
            w->snodes[i].y = rng_unit(r) * 100;
        }
        double L = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = i + 1; j < n; j++) {
                double d = hypot(w->snodes[i].x - w->snodes[j].x, w->snodes[i].y - w->snodes[j].y);
                L = d > L ? d : L;
            }
        }
        for (size_t i = 0; i < n; i++) {
            for (size_t j = i + 1; j < n; j++) {
                double d = hypot(w->snodes[i].x - w->snodes[j].x, w->snodes[i].y - w->snodes[j].y);
                if (rng_unit(r) < p->alpha * exp(-d / (p->beta * L))) {
                    if (m + 1 > cap) {
                        cap = cap ? 2 * cap : 1024;
                        lu = xrealloc(lu, cap * sizeof(size_t));
                        lv = xrealloc(lv, cap * sizeof(size_t));
                    }
                    lu[m] = i;
                    lv[m] = j;
                    m++;
                }
            }
        }
        if (n <= 1 || connected(n, m, lu, lv) || attempt >= 1000)
            break;
    }
    for (size_t i = 0; i < n; i++)
        w->snodes[i].cpu = rng_int(r, p->cap_min, p->cap_max);
    w->nslinks = m;
    w->slinks = xcalloc(m + 1, sizeof(*w->slinks));
    for (size_t k = 0; k < m; k++) {
        w->slinks[k].u = lu[k];
        w->slinks[k].v = lv[k];
        w->slinks[k].bw = rng_int(r, p->cap_min, p->cap_max);
    }
    free(lu);
    free(lv);
}

static void
gen_request(struct rng *r, const struct vne_gen_params *p, struct vne_request *q)
{
    size_t n = (size_t)rng_int(r, (double)p->req_min, (double)p->req_max);
    size_t maxl = n * (n - 1) / 2;
    size_t *lu = xmalloc((maxl + 1) * sizeof(size_t));
    size_t *lv = xmalloc((maxl + 1) * sizeof(size_t));
    size_t m;
    /* Draw until connected, as the usual generators do. */
    do {
        m = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = i + 1; j < n; j++) {
                if (rng_unit(r) < p->link_prob) {
                    lu[m] = i;
                    lv[m] = j;
                    m++;
                }
            }
        }
    } while (n > 1 && !connected(n, m, lu, lv));
    q->nnodes = n;
    q->cpu = xcalloc(n + 1, sizeof(double));
    for (size_t i = 0; i < n; i++)
        q->cpu[i] = rng_int(r, p->cpu_min, p->cpu_max);
    q->nlinks = m;
    q->links = xcalloc(m + 1, sizeof(*q->links));
    for (size_t k = 0; k < m; k++) {
        q->links[k].u = lu[k];
        q->links[k].v = lv[k];
        q->links[k].bw = rng_int(r, p->bw_min, p->bw_max);
    }
    if (p->location_distance > 0) {
        q->has_location = true;
        q->max_distance = p->location_distance;
        q->lx = xcalloc(n + 1, sizeof(double));
        q->ly = xcalloc(n + 1, sizeof(double));
        for (size_t i = 0; i < n; i++) {
            q->lx[i] = round(rng_unit(r) * 1000) / 10;
            q->ly[i] = round(rng_unit(r) * 1000) / 10;
        }
    }
    free(lu);
    free(lv);
}

static int
cmp_event(const void *pa, const void *pb)
{
    const struct vne_event *a = pa, *b = pb;
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    if (a->type != b->type)
        return a->type == VNE_ARRIVE ? -1 : 1;
    return a->req < b->req ? -1 : a->req > b->req;
}

struct vne_workload *
vne_generate(const struct vne_gen_params *p)
{
    struct rng r;
    struct vne_workload *w = xcalloc(1, sizeof(*w));
    rng_seed(&r, p->seed);
    w->seed = (long)p->seed;
    w->eta = p->eta;
    gen_substrate(&r, p, w);

    w->nreqs = p->requests;
    w->reqs = xcalloc(w->nreqs + 1, sizeof(*w->reqs));
    double t = 0;
    for (size_t i = 0; i < w->nreqs; i++) {
        struct vne_request *q = &w->reqs[i];
        q->id = i;
        /* Poisson arrivals; times are whole units, as in the format's example. */
        t += rng_exp(&r, 1.0 / p->eta);
        q->arrival = round(t);
        q->lifetime = round(rng_exp(&r, p->lifetime_mean) * 10) / 10;
        q->departure = q->arrival + q->lifetime;
        gen_request(&r, p, q);
    }
    w->nevents = 2 * w->nreqs;
    w->events = xcalloc(w->nevents + 1, sizeof(*w->events));
    for (size_t i = 0; i < w->nreqs; i++) {
        w->events[2 * i] =
            (struct vne_event){.type = VNE_ARRIVE, .req = i, .time = w->reqs[i].arrival};
        w->events[2 * i + 1] =
            (struct vne_event){.type = VNE_LEAVE, .req = i, .time = w->reqs[i].departure};
    }
    qsort(w->events, w->nevents, sizeof(*w->events), cmp_event);
    for (size_t i = 0; i < w->nevents; i++)
        w->events[i].id = i;
    return w;
}

void
vne_workload_free(struct vne_workload *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nreqs; i++) {
        free(w->reqs[i].cpu);
        free(w->reqs[i].links);
        free(w->reqs[i].lx);
        free(w->reqs[i].ly);
    }
    free(w->reqs);
    free(w->snodes);
    free(w->slinks);
    free(w->events);
    free(w);
}
