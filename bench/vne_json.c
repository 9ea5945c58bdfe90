/*
 * Reading and writing "vne-workload-v1" workloads (DESIGN section 7) with
 * json-c. Unknown keys are ignored on reading, so workloads written by other
 * VNE tools replay unchanged. Beyond the format's required keys this
 * benchmark writes (and reads when present) node coordinates "x", "y" and,
 * for location-constrained requests, "node_location" ([[x, y], ...]) and
 * "max_distance".
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bench/vne.h"
#include "util/util.h"

/* Integral values as JSON integers, others with enough digits to round-trip. */
static struct json_object *
num(double x)
{
    if (x == floor(x) && fabs(x) < 1e15)
        return json_object_new_int64((int64_t)x);
    char buf[64];
    snprintf(buf, sizeof(buf), "%.10g", x);
    return json_object_new_double_s(x, buf);
}

static void
add(struct json_object *o, const char *key, struct json_object *v)
{
    json_object_object_add(o, key, v);
}

int
vne_workload_write(const struct vne_workload *w, const char *path, struct cn_err *err)
{
    struct json_object *root = json_object_new_object();
    add(root, "format", json_object_new_string("vne-workload-v1"));
    add(root, "seed", json_object_new_int64(w->seed));
    add(root, "eta", num(w->eta));

    struct json_object *sub = json_object_new_object();
    add(sub, "num_nodes", json_object_new_int64((int64_t)w->nsnodes));
    struct json_object *nodes = json_object_new_array();
    for (size_t i = 0; i < w->nsnodes; i++) {
        struct json_object *n = json_object_new_object();
        add(n, "id", json_object_new_int64((int64_t)i));
        add(n, "cpu", num(w->snodes[i].cpu));
        if (w->has_coords) {
            add(n, "x", num(round(w->snodes[i].x * 1000) / 1000));
            add(n, "y", num(round(w->snodes[i].y * 1000) / 1000));
        }
        json_object_array_add(nodes, n);
    }
    add(sub, "nodes", nodes);
    struct json_object *links = json_object_new_array();
    for (size_t k = 0; k < w->nslinks; k++) {
        struct json_object *l = json_object_new_object();
        add(l, "u", json_object_new_int64((int64_t)w->slinks[k].u));
        add(l, "v", json_object_new_int64((int64_t)w->slinks[k].v));
        add(l, "bw", num(w->slinks[k].bw));
        json_object_array_add(links, l);
    }
    add(sub, "links", links);
    add(root, "substrate", sub);

    struct json_object *reqs = json_object_new_array();
    for (size_t i = 0; i < w->nreqs; i++) {
        const struct vne_request *q = &w->reqs[i];
        struct json_object *o = json_object_new_object();
        add(o, "id", json_object_new_int64((int64_t)q->id));
        add(o, "arrival_time", num(q->arrival));
        add(o, "lifetime", num(q->lifetime));
        add(o, "departure_time", num(q->departure));
        add(o, "num_nodes", json_object_new_int64((int64_t)q->nnodes));
        struct json_object *cpu = json_object_new_array();
        for (size_t v = 0; v < q->nnodes; v++)
            json_object_array_add(cpu, num(q->cpu[v]));
        add(o, "node_cpu", cpu);
        struct json_object *ql = json_object_new_array();
        for (size_t k = 0; k < q->nlinks; k++) {
            struct json_object *l = json_object_new_object();
            add(l, "u", json_object_new_int64((int64_t)q->links[k].u));
            add(l, "v", json_object_new_int64((int64_t)q->links[k].v));
            add(l, "bw", num(q->links[k].bw));
            json_object_array_add(ql, l);
        }
        add(o, "links", ql);
        if (q->has_location) {
            struct json_object *loc = json_object_new_array();
            for (size_t v = 0; v < q->nnodes; v++) {
                struct json_object *pt = json_object_new_array();
                json_object_array_add(pt, num(q->lx[v]));
                json_object_array_add(pt, num(q->ly[v]));
                json_object_array_add(loc, pt);
            }
            add(o, "node_location", loc);
            add(o, "max_distance", num(q->max_distance));
        }
        json_object_array_add(reqs, o);
    }
    add(root, "requests", reqs);

    struct json_object *evs = json_object_new_array();
    for (size_t i = 0; i < w->nevents; i++) {
        const struct vne_event *e = &w->events[i];
        struct json_object *o = json_object_new_object();
        add(o, "id", json_object_new_int64((int64_t)e->id));
        add(o, "type", json_object_new_string(e->type == VNE_ARRIVE ? "arrive" : "leave"));
        add(o, "v_net_id", json_object_new_int64((int64_t)w->reqs[e->req].id));
        add(o, "time", num(e->time));
        json_object_array_add(evs, o);
    }
    add(root, "events", evs);

    int ret = 0;
    if (json_object_to_file_ext(path, root, JSON_C_TO_STRING_PLAIN) < 0)
        ret = cn_err_set(err, CN_E_IO, "%s: %s", path, json_util_get_last_err());
    json_object_put(root);
    return ret;
}

/* ---- reading ---- */

static struct json_object *
get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object))
        return NULL;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int
get_num(struct json_object *o, const char *key, double *ret, const char *what, struct cn_err *err)
{
    struct json_object *v = get(o, key);
    if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return cn_err_set(err, CN_E_INVALID, "%s: missing number \"%s\"", what, key);
    double x = json_object_get_double(v);
    if (!isfinite(x))
        return cn_err_set(err, CN_E_INVALID, "%s: \"%s\" is not finite", what, key);
    *ret = x;
    return 0;
}

static int
get_index(struct json_object *o, const char *key, size_t limit, size_t *ret, const char *what,
          struct cn_err *err)
{
    double x;
    if (get_num(o, key, &x, what, err) < 0)
        return -1;
    if (x < 0 || x != floor(x) || x >= (double)limit)
        return cn_err_set(err, CN_E_INVALID, "%s: \"%s\" out of range", what, key);
    *ret = (size_t)x;
    return 0;
}

static struct json_object *
get_array(struct json_object *o, const char *key, const char *what, struct cn_err *err)
{
    struct json_object *v = get(o, key);
    if (!v || !json_object_is_type(v, json_type_array)) {
        cn_err_set(err, CN_E_INVALID, "%s: missing array \"%s\"", what, key);
        return NULL;
    }
    return v;
}

static int
read_request(struct json_object *o, struct vne_request *q, struct cn_err *err)
{
    char what[64];
    double n;
    snprintf(what, sizeof(what), "request %zu", q->id);
    if (get_num(o, "arrival_time", &q->arrival, what, err) < 0)
        return -1;
    if (get_num(o, "num_nodes", &n, what, err) < 0)
        return -1;
    if (n < 1 || n != floor(n) || n > 100000)
        return cn_err_set(err, CN_E_INVALID, "%s: bad num_nodes", what);
    q->nnodes = (size_t)n;
    if (get_num(o, "departure_time", &q->departure, what, err) < 0) {
        cn_err_clear(err);
        if (get_num(o, "lifetime", &q->lifetime, what, err) < 0)
            return -1;
        q->departure = q->arrival + q->lifetime;
    }
    q->lifetime = q->departure - q->arrival;
    struct json_object *cpu = get_array(o, "node_cpu", what, err);
    if (!cpu)
        return -1;
    if (json_object_array_length(cpu) != q->nnodes)
        return cn_err_set(err, CN_E_INVALID, "%s: node_cpu has the wrong length", what);
    q->cpu = xcalloc(q->nnodes + 1, sizeof(double));
    for (size_t v = 0; v < q->nnodes; v++) {
        q->cpu[v] = json_object_get_double(json_object_array_get_idx(cpu, v));
        if (!isfinite(q->cpu[v]) || q->cpu[v] < 0)
            return cn_err_set(err, CN_E_INVALID, "%s: bad node_cpu", what);
    }
    struct json_object *links = get_array(o, "links", what, err);
    if (!links)
        return -1;
    q->nlinks = json_object_array_length(links);
    q->links = xcalloc(q->nlinks + 1, sizeof(*q->links));
    for (size_t k = 0; k < q->nlinks; k++) {
        struct json_object *l = json_object_array_get_idx(links, k);
        if (get_index(l, "u", q->nnodes, &q->links[k].u, what, err) < 0 ||
            get_index(l, "v", q->nnodes, &q->links[k].v, what, err) < 0 ||
            get_num(l, "bw", &q->links[k].bw, what, err) < 0)
            return -1;
        if (q->links[k].u == q->links[k].v || q->links[k].bw < 0)
            return cn_err_set(err, CN_E_INVALID, "%s: bad link %zu", what, k);
    }
    struct json_object *loc = get(o, "node_location");
    if (loc && json_object_is_type(loc, json_type_array) &&
        json_object_array_length(loc) == q->nnodes) {
        if (get_num(o, "max_distance", &q->max_distance, what, err) < 0)
            return -1;
        q->has_location = true;
        q->lx = xcalloc(q->nnodes + 1, sizeof(double));
        q->ly = xcalloc(q->nnodes + 1, sizeof(double));
        for (size_t v = 0; v < q->nnodes; v++) {
            struct json_object *pt = json_object_array_get_idx(loc, v);
            if (!json_object_is_type(pt, json_type_array) || json_object_array_length(pt) != 2)
                return cn_err_set(err, CN_E_INVALID, "%s: bad node_location", what);
            q->lx[v] = json_object_get_double(json_object_array_get_idx(pt, 0));
            q->ly[v] = json_object_get_double(json_object_array_get_idx(pt, 1));
        }
    }
    return 0;
}

struct vne_workload *
vne_workload_read(const char *path, struct cn_err *err)
{
    struct vne_workload *w = xcalloc(1, sizeof(*w));
    struct vne_workload *ret = NULL;
    struct json_object *root = json_object_from_file(path);
    size_t *by_id = NULL;
    size_t max_id = 0;
    if (!root) {
        cn_err_set(err, CN_E_IO, "%s: %s", path, json_util_get_last_err());
        goto cleanup;
    }
    struct json_object *fmt = get(root, "format");
    if (fmt && strcmp(json_object_get_string(fmt), "vne-workload-v1") != 0) {
        cn_err_set(err, CN_E_INVALID, "%s: unknown format %s", path, json_object_get_string(fmt));
        goto cleanup;
    }
    double x;
    if (get_num(root, "seed", &x, "workload", err) == 0)
        w->seed = (long)x;
    cn_err_clear(err);
    if (get_num(root, "eta", &x, "workload", err) == 0)
        w->eta = x;
    cn_err_clear(err);

    struct json_object *sub = get(root, "substrate");
    struct json_object *nodes = get_array(sub, "nodes", "substrate", err);
    if (!nodes)
        goto cleanup;
    w->nsnodes = json_object_array_length(nodes);
    double nn;
    if (get_num(sub, "num_nodes", &nn, "substrate", err) == 0 && nn != (double)w->nsnodes) {
        cn_err_set(err, CN_E_INVALID, "substrate: num_nodes disagrees with nodes");
        goto cleanup;
    }
    cn_err_clear(err);
    w->snodes = xcalloc(w->nsnodes + 1, sizeof(*w->snodes));
    w->has_coords = true;
    for (size_t i = 0; i < w->nsnodes; i++) {
        struct json_object *n = json_object_array_get_idx(nodes, i);
        size_t id = i;
        if (get(n, "id") && get_index(n, "id", w->nsnodes, &id, "substrate node", err) < 0)
            goto cleanup;
        if (get_num(n, "cpu", &w->snodes[id].cpu, "substrate node", err) < 0)
            goto cleanup;
        if (get(n, "x") && get(n, "y")) {
            w->snodes[id].x = json_object_get_double(get(n, "x"));
            w->snodes[id].y = json_object_get_double(get(n, "y"));
        } else {
            w->has_coords = false;
        }
    }
    struct json_object *links = get_array(sub, "links", "substrate", err);
    if (!links)
        goto cleanup;
    w->nslinks = json_object_array_length(links);
    w->slinks = xcalloc(w->nslinks + 1, sizeof(*w->slinks));
    for (size_t k = 0; k < w->nslinks; k++) {
        struct json_object *l = json_object_array_get_idx(links, k);
        if (get_index(l, "u", w->nsnodes, &w->slinks[k].u, "substrate link", err) < 0 ||
            get_index(l, "v", w->nsnodes, &w->slinks[k].v, "substrate link", err) < 0 ||
            get_num(l, "bw", &w->slinks[k].bw, "substrate link", err) < 0)
            goto cleanup;
    }

    struct json_object *reqs = get_array(root, "requests", "workload", err);
    if (!reqs)
        goto cleanup;
    w->nreqs = json_object_array_length(reqs);
    w->reqs = xcalloc(w->nreqs + 1, sizeof(*w->reqs));
    for (size_t i = 0; i < w->nreqs; i++) {
        struct json_object *o = json_object_array_get_idx(reqs, i);
        double id;
        if (get_num(o, "id", &id, "request", err) < 0)
            goto cleanup;
        if (id < 0 || id != floor(id) || id > 1e9) {
            cn_err_set(err, CN_E_INVALID, "request %zu: bad id", i);
            goto cleanup;
        }
        w->reqs[i].id = (size_t)id;
        max_id = w->reqs[i].id > max_id ? w->reqs[i].id : max_id;
        if (read_request(o, &w->reqs[i], err) < 0)
            goto cleanup;
    }
    by_id = xmalloc((max_id + 2) * sizeof(size_t));
    for (size_t i = 0; i <= max_id; i++)
        by_id[i] = SIZE_MAX;
    for (size_t i = 0; i < w->nreqs; i++) {
        if (by_id[w->reqs[i].id] != SIZE_MAX) {
            cn_err_set(err, CN_E_INVALID, "request id %zu repeated", w->reqs[i].id);
            goto cleanup;
        }
        by_id[w->reqs[i].id] = i;
    }

    struct json_object *evs = get_array(root, "events", "workload", err);
    if (!evs)
        goto cleanup;
    w->nevents = json_object_array_length(evs);
    w->events = xcalloc(w->nevents + 1, sizeof(*w->events));
    for (size_t i = 0; i < w->nevents; i++) {
        struct json_object *o = json_object_array_get_idx(evs, i);
        struct vne_event *e = &w->events[i];
        size_t vid;
        e->id = i;
        struct json_object *type = get(o, "type");
        const char *t = type ? json_object_get_string(type) : "";
        if (strcmp(t, "arrive") == 0)
            e->type = VNE_ARRIVE;
        else if (strcmp(t, "leave") == 0 || strcmp(t, "depart") == 0)
            e->type = VNE_LEAVE;
        else {
            cn_err_set(err, CN_E_INVALID, "event %zu: unknown type \"%s\"", i, t);
            goto cleanup;
        }
        if (get_index(o, "v_net_id", max_id + 1, &vid, "event", err) < 0 ||
            get_num(o, "time", &e->time, "event", err) < 0)
            goto cleanup;
        if (by_id[vid] == SIZE_MAX) {
            cn_err_set(err, CN_E_INVALID, "event %zu: no request %zu", i, vid);
            goto cleanup;
        }
        e->req = by_id[vid];
    }
    /*
     * The events' order is authoritative; the one rule enforced is that at
     * equal times arrivals come first (a stable pass within equal times).
     */
    for (size_t i = 1; i < w->nevents; i++) {
        struct vne_event ev = w->events[i];
        size_t j = i;
        while (j > 0 && w->events[j - 1].time == ev.time && w->events[j - 1].type == VNE_LEAVE &&
               ev.type == VNE_ARRIVE) {
            w->events[j] = w->events[j - 1];
            j--;
        }
        w->events[j] = ev;
    }
    ret = w;
    w = NULL;
cleanup:
    if (root)
        json_object_put(root);
    free(by_id);
    vne_workload_free(w);
    return ret;
}
