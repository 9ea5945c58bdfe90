/*
 * The mapping engine's data objects: substrates with their capacities in
 * use, requests, and results, plus taking and giving back the resources of
 * an accepted mapping.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAP_PRIV_H_ALLOW
#include "mapping/map_priv.h"
#include "util/util.h"

static char **
names_dup(size_t n, const char *const *names)
{
    char **out = xcalloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(names[i] ? names[i] : "");
    return out;
}

static void
names_free(size_t n, char **names)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

struct map_substrate *
map_substrate_new(size_t nres, const char *const *res_names)
{
    struct map_substrate *sub = xcalloc(1, sizeof(*sub));
    sub->nres = nres;
    sub->res_names = names_dup(nres, res_names);
    return sub;
}

void
map_substrate_free(struct map_substrate *sub)
{
    if (!sub)
        return;
    for (size_t i = 0; i < sub->nnodes; i++) {
        free(sub->nodes[i].name);
        free(sub->nodes[i].cap);
        free(sub->nodes[i].used);
        free(sub->nodes[i].arcs);
    }
    for (size_t i = 0; i < sub->nlinks; i++)
        free(sub->links[i].name);
    free(sub->nodes);
    free(sub->links);
    names_free(sub->nres, sub->res_names);
    free(sub);
}

long
map_substrate_add_node(struct map_substrate *sub, const char *name, const double *cap,
                       bool forwarding, struct cn_err *err)
{
    for (size_t r = 0; cap && r < sub->nres; r++) {
        if (!isfinite(cap[r]) || cap[r] < 0)
            return cn_err_set(err, CN_E_INVALID, "node %s: capacity of %s must be >= 0",
                              name ? name : "?", sub->res_names[r]);
    }
    CN_GROW(sub->nodes, sub->nodes_cap, sub->nnodes + 1);
    struct map_snode *n = &sub->nodes[sub->nnodes];
    memset(n, 0, sizeof(*n));
    n->name = name ? xstrdup(name) : NULL;
    n->cap = xcalloc(sub->nres ? sub->nres : 1, sizeof(double));
    n->used = xcalloc(sub->nres ? sub->nres : 1, sizeof(double));
    if (cap)
        memcpy(n->cap, cap, sub->nres * sizeof(double));
    n->forwarding = forwarding;
    return (long)sub->nnodes++;
}

static void
add_arc(struct map_snode *n, size_t arc)
{
    CN_GROW(n->arcs, n->arcs_cap, n->narcs + 1);
    n->arcs[n->narcs++] = arc;
}

long
map_substrate_add_link(struct map_substrate *sub, const char *name, size_t u, size_t v,
                       double bandwidth, double latency, struct cn_err *err)
{
    if (u >= sub->nnodes || v >= sub->nnodes || u == v)
        return cn_err_set(err, CN_E_INVALID, "link %s: bad end nodes %zu, %zu", name ? name : "?",
                          u, v);
    if (!isfinite(bandwidth) || bandwidth < 0 || !isfinite(latency) || latency < 0)
        return cn_err_set(err, CN_E_INVALID,
                          "link %s: bandwidth and latency must be finite and >= 0",
                          name ? name : "?");
    CN_GROW(sub->links, sub->links_cap, sub->nlinks + 1);
    size_t e = sub->nlinks;
    struct map_slink *l = &sub->links[e];
    memset(l, 0, sizeof(*l));
    l->name = name ? xstrdup(name) : NULL;
    l->u = u;
    l->v = v;
    l->bw = bandwidth;
    l->latency = latency;
    add_arc(&sub->nodes[u], 2 * e);
    add_arc(&sub->nodes[v], 2 * e + 1);
    return (long)sub->nlinks++;
}

size_t
map_substrate_num_nodes(const struct map_substrate *sub)
{
    return sub->nnodes;
}

size_t
map_substrate_num_links(const struct map_substrate *sub)
{
    return sub->nlinks;
}

long
map_substrate_resource(const struct map_substrate *sub, const char *name)
{
    for (size_t r = 0; r < sub->nres; r++) {
        if (strcmp(sub->res_names[r], name) == 0)
            return (long)r;
    }
    return -1;
}

double
map_substrate_node_used(const struct map_substrate *sub, size_t node, size_t res)
{
    return sub->nodes[node].used[res];
}

double
map_substrate_link_used(const struct map_substrate *sub, size_t link)
{
    return sub->links[link].used;
}

/* Checks that res fits req and sub structurally (indices, path continuity). */
static int
result_shape_ok(const struct map_substrate *sub, const struct map_request *req,
                const struct map_result *res, struct cn_err *err)
{
    if (res->nnodes != req->nnodes || res->nlinks != req->nlinks)
        return cn_err_set(err, CN_E_INVALID, "result does not belong to this request");
    for (size_t v = 0; v < res->nnodes; v++) {
        if (res->host[v] >= sub->nnodes)
            return cn_err_set(err, CN_E_INVALID, "request node %zu has no host", v);
    }
    for (size_t l = 0; l < res->nlinks; l++) {
        size_t at = res->host[req->links[l].a];
        for (size_t i = res->path_off[l]; i < res->path_off[l + 1]; i++) {
            size_t e = res->path[i];
            if (e >= sub->nlinks)
                return cn_err_set(err, CN_E_INVALID, "bad substrate link %zu", e);
            if (sub->links[e].u == at)
                at = sub->links[e].v;
            else if (sub->links[e].v == at)
                at = sub->links[e].u;
            else
                return cn_err_set(err, CN_E_INVALID, "path of request link %zu is broken", l);
        }
        if (at != res->host[req->links[l].b])
            return cn_err_set(err, CN_E_INVALID, "path of request link %zu ends elsewhere", l);
    }
    return 0;
}

/* The substrate index of each request resource, or -1. */
static long *
resource_index(const struct map_substrate *sub, const struct map_request *req)
{
    long *idx = xcalloc(req->nres ? req->nres : 1, sizeof(long));
    for (size_t r = 0; r < req->nres; r++)
        idx[r] = map_substrate_resource(sub, req->res_names[r]);
    return idx;
}

/*
 * Adds sign * the mapping's usage to sub. With check set, only verifies that
 * an allocation fits and changes nothing.
 */
static int
apply(struct map_substrate *sub, const struct map_request *req, const struct map_result *res,
      int sign, bool check, struct cn_err *err)
{
    int ret = -1;
    long *idx = resource_index(sub, req);
    double *node_add = xcalloc(sub->nnodes * (sub->nres ? sub->nres : 1), sizeof(double));
    double *link_add = xcalloc(sub->nlinks ? sub->nlinks : 1, sizeof(double));

    for (size_t v = 0; v < req->nnodes; v++) {
        for (size_t r = 0; r < req->nres; r++) {
            double d = req->nodes[v].dem[r];
            if (d == 0)
                continue;
            if (idx[r] < 0) {
                cn_err_set(err, CN_E_INSUFFICIENT, "substrate has no resource %s",
                           req->res_names[r]);
                goto cleanup;
            }
            node_add[res->host[v] * sub->nres + (size_t)idx[r]] += d;
        }
    }
    for (size_t l = 0; l < req->nlinks; l++) {
        for (size_t i = res->path_off[l]; i < res->path_off[l + 1]; i++)
            link_add[res->path[i]] += req->links[l].bw;
    }
    if (check) {
        for (size_t s = 0; s < sub->nnodes; s++) {
            for (size_t r = 0; r < sub->nres; r++) {
                const struct map_snode *n = &sub->nodes[s];
                if (n->used[r] + node_add[s * sub->nres + r] > n->cap[r] + 1e-6) {
                    cn_err_set(err, CN_E_INSUFFICIENT, "node %zu lacks %s", s, sub->res_names[r]);
                    goto cleanup;
                }
            }
        }
        for (size_t e = 0; e < sub->nlinks; e++) {
            if (sub->links[e].used + link_add[e] > sub->links[e].bw + 1e-6) {
                cn_err_set(err, CN_E_INSUFFICIENT, "link %zu lacks bandwidth", e);
                goto cleanup;
            }
        }
        ret = 0;
        goto cleanup;
    }
    for (size_t s = 0; s < sub->nnodes; s++) {
        for (size_t r = 0; r < sub->nres; r++) {
            double *u = &sub->nodes[s].used[r];
            *u += sign * node_add[s * sub->nres + r];
            if (*u < 1e-9)
                *u = 0;
        }
    }
    for (size_t e = 0; e < sub->nlinks; e++) {
        double *u = &sub->links[e].used;
        *u += sign * link_add[e];
        if (*u < 1e-9)
            *u = 0;
    }
    /* Users: hosted nodes, and every node and link a path touches. */
    for (size_t v = 0; v < req->nnodes; v++)
        sub->nodes[res->host[v]].users += (unsigned)sign;
    for (size_t l = 0; l < req->nlinks; l++) {
        size_t at = res->host[req->links[l].a];
        if (res->path_off[l] == res->path_off[l + 1])
            continue;
        sub->nodes[at].users += (unsigned)sign;
        for (size_t i = res->path_off[l]; i < res->path_off[l + 1]; i++) {
            struct map_slink *k = &sub->links[res->path[i]];
            k->users += (unsigned)sign;
            at = k->u == at ? k->v : k->u;
            sub->nodes[at].users += (unsigned)sign;
        }
    }
    ret = 0;
cleanup:
    free(idx);
    free(node_add);
    free(link_add);
    return ret;
}

int
map_substrate_allocate(struct map_substrate *sub, const struct map_request *req,
                       const struct map_result *res, struct cn_err *err)
{
    if (result_shape_ok(sub, req, res, err) < 0)
        return -1;
    if (apply(sub, req, res, 1, true, err) < 0)
        return -1;
    return apply(sub, req, res, 1, false, err);
}

int
map_substrate_release(struct map_substrate *sub, const struct map_request *req,
                      const struct map_result *res, struct cn_err *err)
{
    if (result_shape_ok(sub, req, res, err) < 0)
        return -1;
    return apply(sub, req, res, -1, false, err);
}

/* ---- requests ---- */

struct map_request *
map_request_new(size_t nres, const char *const *res_names)
{
    struct map_request *req = xcalloc(1, sizeof(*req));
    req->nres = nres;
    req->res_names = names_dup(nres, res_names);
    return req;
}

void
map_request_free(struct map_request *req)
{
    if (!req)
        return;
    for (size_t i = 0; i < req->nnodes; i++) {
        free(req->nodes[i].name);
        free(req->nodes[i].dem);
        free(req->nodes[i].cand);
    }
    for (size_t i = 0; i < req->nlinks; i++)
        free(req->links[i].name);
    free(req->nodes);
    free(req->links);
    names_free(req->nres, req->res_names);
    free(req);
}

long
map_request_add_node(struct map_request *req, const char *name, const double *demand,
                     struct cn_err *err)
{
    for (size_t r = 0; demand && r < req->nres; r++) {
        if (!isfinite(demand[r]) || demand[r] < 0)
            return cn_err_set(err, CN_E_INVALID, "request node %s: demand of %s must be >= 0",
                              name ? name : "?", req->res_names[r]);
    }
    CN_GROW(req->nodes, req->nodes_cap, req->nnodes + 1);
    struct map_rnode *n = &req->nodes[req->nnodes];
    memset(n, 0, sizeof(*n));
    n->name = name ? xstrdup(name) : NULL;
    n->home = MAP_NONE;
    n->dem = xcalloc(req->nres ? req->nres : 1, sizeof(double));
    if (demand)
        memcpy(n->dem, demand, req->nres * sizeof(double));
    return (long)req->nnodes++;
}

static int
cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int
map_request_set_candidates(struct map_request *req, size_t v, const size_t *hosts, size_t nhosts,
                           struct cn_err *err)
{
    if (v >= req->nnodes)
        return cn_err_set(err, CN_E_INVALID, "no request node %zu", v);
    struct map_rnode *n = &req->nodes[v];
    size_t *c = xmalloc((nhosts ? nhosts : 1) * sizeof(size_t));
    if (nhosts)
        memcpy(c, hosts, nhosts * sizeof(size_t));
    qsort(c, nhosts, sizeof(size_t), cmp_size);
    size_t k = 0;
    for (size_t i = 0; i < nhosts; i++) {
        if (k == 0 || c[k - 1] != c[i])
            c[k++] = c[i];
    }
    free(n->cand);
    n->cand = c;
    n->ncand = k;
    return 0;
}

long
map_request_add_link(struct map_request *req, const char *name, size_t a, size_t b,
                     double bandwidth, double max_latency, struct cn_err *err)
{
    if (a >= req->nnodes || b >= req->nnodes || a == b)
        return cn_err_set(err, CN_E_INVALID, "request link %s: bad end nodes %zu, %zu",
                          name ? name : "?", a, b);
    if (!isfinite(bandwidth) || bandwidth < 0)
        return cn_err_set(err, CN_E_INVALID, "request link %s: bandwidth must be >= 0",
                          name ? name : "?");
    CN_GROW(req->links, req->links_cap, req->nlinks + 1);
    struct map_rlink *l = &req->links[req->nlinks];
    memset(l, 0, sizeof(*l));
    l->name = name ? xstrdup(name) : NULL;
    l->a = a;
    l->b = b;
    l->bw = bandwidth;
    l->max_lat = max_latency > 0 ? max_latency : INFINITY;
    return (long)req->nlinks++;
}

void
map_request_set_distinct_hosts(struct map_request *req, bool distinct)
{
    req->distinct = distinct;
}

int
map_request_set_home(struct map_request *req, size_t v, size_t host, double move_cost,
                     struct cn_err *err)
{
    if (v >= req->nnodes)
        return cn_err_set(err, CN_E_INVALID, "no request node %zu", v);
    if (isnan(move_cost) || move_cost < 0)
        return cn_err_set(err, CN_E_INVALID, "request node %s: move cost must be >= 0",
                          req->nodes[v].name ? req->nodes[v].name : "?");
    req->nodes[v].home = host;
    req->nodes[v].move_cost = move_cost;
    return 0;
}

void
map_request_set_max_hosts(struct map_request *req, size_t max_hosts)
{
    req->max_hosts = max_hosts;
}

size_t
map_request_num_nodes(const struct map_request *req)
{
    return req->nnodes;
}

size_t
map_request_num_links(const struct map_request *req)
{
    return req->nlinks;
}

/* ---- results ---- */

struct map_result *
map_result_new(size_t nnodes, size_t nlinks)
{
    struct map_result *res = xcalloc(1, sizeof(*res));
    res->nnodes = nnodes;
    res->nlinks = nlinks;
    res->host = xmalloc((nnodes ? nnodes : 1) * sizeof(size_t));
    for (size_t v = 0; v < nnodes; v++)
        res->host[v] = MAP_NONE;
    res->path_off = xcalloc(nlinks + 1, sizeof(size_t));
    res->path = xmalloc(sizeof(size_t));
    return res;
}

void
map_result_set_paths(struct map_result *res, const size_t *off, const size_t *links)
{
    size_t n = off[res->nlinks];
    free(res->path);
    res->path = xmalloc((n ? n : 1) * sizeof(size_t));
    memcpy(res->path_off, off, (res->nlinks + 1) * sizeof(size_t));
    if (n)
        memcpy(res->path, links, n * sizeof(size_t));
}

struct map_result *
map_result_dup(const struct map_result *res)
{
    struct map_result *d = map_result_new(res->nnodes, res->nlinks);
    if (res->nnodes)
        memcpy(d->host, res->host, res->nnodes * sizeof(size_t));
    map_result_set_paths(d, res->path_off, res->path);
    d->value = res->value;
    d->bound = res->bound;
    d->gap = res->gap;
    d->cost = res->cost;
    d->moves = res->moves;
    d->solve_ms = res->solve_ms;
    d->optimal = res->optimal;
    return d;
}

void
map_result_free(struct map_result *res)
{
    if (!res)
        return;
    free(res->host);
    free(res->path_off);
    free(res->path);
    free(res);
}

size_t
map_result_host(const struct map_result *res, size_t v)
{
    return res->host[v];
}

const size_t *
map_result_path(const struct map_result *res, size_t l, size_t *ret_n)
{
    *ret_n = res->path_off[l + 1] - res->path_off[l];
    return res->path + res->path_off[l];
}

double
map_result_value(const struct map_result *res)
{
    return res->value;
}

double
map_result_bound(const struct map_result *res)
{
    return res->bound;
}

double
map_result_gap(const struct map_result *res)
{
    return res->gap;
}

double
map_result_cost(const struct map_result *res)
{
    return res->cost;
}

double
map_result_moves(const struct map_result *res)
{
    return res->moves;
}

double
map_result_solve_ms(const struct map_result *res)
{
    return res->solve_ms;
}

bool
map_result_optimal(const struct map_result *res)
{
    return res->optimal;
}
