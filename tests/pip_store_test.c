/*
 * pipd's storage against a real, private MariaDB server that this program
 * starts (tests/db-helper.h) and always stops. Each case works in a
 * database of its own on that server, so cases do not see each other.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pip/store.h"
#include "rdl/rdl.h"
#include "tests/daemon-helper.h"
#include "tests/db-helper.h"
#include "tests/testlib.h"
#include "util/util.h"

#define MAX_LEASE 600
#define RACERS 8

static struct test_db db;

/* A clock the test moves by hand, so leases can run out without sleeping. */
static long long fake_time = 1700000000;

static long long
fake_clock(void *arg)
{
    (void)arg;
    return fake_time;
}

static struct pip_store *
store_open(const char *database, struct cn_err *err)
{
    struct pip_store_config cfg = {
        .socket = db.socket,
        .user = "root",
        .database = database,
        .max_lease_s = MAX_LEASE,
    };
    return pip_store_open(&cfg, err);
}

static struct rdl_graph *
read_data(const char *name)
{
    struct cn_err err = CN_ERR_INIT;
    char *path = xasprintf("%s/pip/%s", test_srcdir(), name);
    struct rdl_graph *g = rdl_read_file(path, &err);
    if (!g)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    free(path);
    cn_err_release(&err);
    return g;
}

/* A fresh database with the current schema and the test substrate. */
static struct pip_store *
store_ready(const char *database, bool fake_time_clock)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *ul = NULL;
    struct pip_store *s = store_open(database, &err);
    if (!s)
        goto fail;
    if (fake_time_clock)
        pip_store_set_clock(s, fake_clock, NULL);
    ul = read_data("substrate.yaml");
    if (!ul || pip_store_migrate(s, 0, NULL, &err) < 0 || pip_store_load_substrate(s, ul, &err) < 0)
        goto fail;
    rdl_graph_free(ul);
    cn_err_release(&err);
    return s;
fail:
    fprintf(stderr, "  %s: %s\n", database, cn_err_msg(&err));
    rdl_graph_free(ul);
    pip_store_close(s);
    cn_err_release(&err);
    return NULL;
}

static char *
tables(struct pip_store *s)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    cn_buf_init(&b);
    if (pip_store_dump_tables(s, &b, &err) < 0) {
        fprintf(stderr, "  dump_tables: %s\n", cn_err_msg(&err));
        cn_buf_release(&b);
        cn_err_release(&err);
        return NULL;
    }
    cn_err_release(&err);
    return cn_buf_detach(&b);
}

/* What is used of one resource of one element, or NAN. */
static double
used_of(struct pip_store *s, const char *element, const char *resource)
{
    struct pip_usage *u = NULL;
    size_t n = 0;
    struct cn_err err = CN_ERR_INIT;
    double used = NAN;
    if (pip_store_usage(s, &u, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            if (cn_streq(u[i].element, element) && cn_streq(u[i].resource, resource))
                used = u[i].used;
    }
    pip_usage_free(u, n);
    cn_err_release(&err);
    return used;
}

/* Lines of text that start with prefix. */
static int
count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, prefix, len) == 0)
            n++;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

static const struct pip_alloc duo_allocs[] = {
    {"h1", "cpu", 1},       {"h1", "memory", 1024},     {"h2", "cpu", 1},
    {"h2", "memory", 1024}, {"h1-sw", "bandwidth", 10}, {"h2-sw", "bandwidth", 10},
};

static struct pip_reserve_request
duo_request(const char *id, const char *request)
{
    return (struct pip_reserve_request){
        .id = id,
        .request = request,
        .peer = "vnp-1",
        .overlay_yaml = "rdl: 1\nkind: overlay\nname: duo\n",
        .mapping_yaml = "",
        .lease_s = 60,
        .allocs = duo_allocs,
        .nallocs = CN_ARRAY_SIZE(duo_allocs),
    };
}

/* ---- cases ---- */

static int
test_schema_empty(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    int version = -1, from = -1;
    int ret = -1;
    struct pip_store *s = store_open("t_schema", &err);
    if (!s)
        goto out;
    if (pip_store_schema_version(s, &version, &err) < 0 || version != 0)
        goto out;
    if (pip_store_migrate(s, 0, &from, &err) < 0 || from != 0)
        goto out;
    if (pip_store_schema_version(s, &version, &err) < 0 || version != pip_store_schema_latest() ||
        version < 2)
        goto out;
    /* Again: nothing to do. */
    if (pip_store_migrate(s, 0, &from, &err) < 0 || from != version)
        goto out;
    /* Going back is refused. */
    if (pip_store_migrate(s, 1, NULL, &err) == 0 || err.code != CN_E_DB)
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  version %d from %d: %s\n", version, from, cn_err_msg(&err));
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

static int
test_schema_upgrade(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    int version = -1, from = -1, ret = -1;
    struct rdl_graph *ul = read_data("substrate.yaml"), *back = NULL;
    struct pip_reservation *r = NULL;
    struct pip_store *s = store_open("t_upgrade", &err);

    if (!s || !ul)
        goto out;
    if (pip_store_migrate(s, 1, NULL, &err) < 0 ||
        pip_store_schema_version(s, &version, &err) < 0 || version != 1)
        goto out;
    /* Data written by a version-1 pipd must survive the upgrade. */
    if (pip_store_load_substrate(s, ul, &err) < 0)
        goto out;
    if (pip_store_migrate(s, 0, &from, &err) < 0 || from != 1 ||
        pip_store_schema_version(s, &version, &err) < 0 || version != pip_store_schema_latest())
        goto out;
    back = pip_store_dump_substrate(s, &err);
    if (!back || !rdl_graph_equal(ul, back))
        goto out;
    /* And what version 2 added works. */
    struct pip_reserve_request req = duo_request("up-1", "req");
    r = pip_store_reserve(s, &req, NULL, &err);
    if (!r || !cn_streq(r->peer, "vnp-1"))
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  version %d from %d: %s\n", version, from, cn_err_msg(&err));
    pip_reservation_free(r);
    rdl_graph_free(ul);
    rdl_graph_free(back);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

static int
test_substrate_roundtrip(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_substrate", false);
    struct rdl_graph *ul = read_data("substrate.yaml");
    struct rdl_graph *back = NULL, *residual = NULL, *changed = NULL;
    struct pip_usage *u = NULL;
    struct pip_total *t = NULL;
    struct pip_reservation *r = NULL;
    size_t nu = 0, nt = 0;
    int ret = -1;

    CHECK(s && ul);
    back = pip_store_dump_substrate(s, &err);
    if (!back || !rdl_graph_equal(ul, back))
        goto out;

    /* The structured copy: every resource of every element, in order. */
    if (pip_store_usage(s, &u, &nu, &err) < 0 || nu != 10)
        goto out;
    if (!cn_streq(u[0].element, "h1") || !cn_streq(u[0].resource, "cpu") || u[0].capacity != 4 ||
        u[0].used != 0 || u[0].free != 4)
        goto out;

    struct pip_reserve_request req = duo_request("sub-1", "req");
    r = pip_store_reserve(s, &req, NULL, &err);
    if (!r)
        goto out;

    /* Free resources: residual graph and totals over nodes. */
    residual = pip_store_residual_substrate(s, &err);
    if (!residual)
        goto out;
    const struct rdl_props *h1 = rdl_element_resources(rdl_graph_element(residual, "h1"));
    const struct rdl_props *l1 = rdl_element_resources(rdl_graph_element(residual, "h1-sw"));
    if (rdl_props_number(h1, "cpu", -1) != 3 || rdl_props_number(h1, "memory", -1) != 7168 ||
        rdl_props_number(h1, "disk", -1) != 100 || rdl_props_number(l1, "bandwidth", -1) != 990)
        goto out;
    if (pip_store_totals(s, &t, &nt, &err) < 0 || nt != 3)
        goto out;
    for (size_t i = 0; i < nt; i++) {
        if (cn_streq(t[i].resource, "cpu") &&
            (t[i].capacity != 72 || t[i].free != 70 || t[i].largest_free != 64))
            goto out;
        if (cn_streq(t[i].resource, "memory") &&
            (t[i].capacity != 16384 || t[i].free != 14336 || t[i].largest_free != 7168))
            goto out;
    }

    /* The same document again is fine; another one waits for the CloudNets to go. */
    if (pip_store_load_substrate(s, ul, &err) < 0)
        goto out;
    changed = rdl_graph_copy(ul);
    rdl_props_set_number(rdl_element_resources_mut(rdl_graph_element(changed, "h1")), "cpu", 8);
    if (pip_store_load_substrate(s, changed, &err) == 0 || err.code != CN_E_BUSY)
        goto out;
    cn_err_clear(&err);
    if (pip_store_release(s, "sub-1", NULL, &err) < 0 ||
        pip_store_load_substrate(s, changed, &err) < 0)
        goto out;
    rdl_graph_free(back);
    back = pip_store_dump_substrate(s, &err);
    if (!back || !rdl_graph_equal(changed, back) || rdl_graph_equal(ul, back))
        goto out;
    if (used_of(s, "h1", "cpu") != 0)
        goto out;

    /* Not an underlay. */
    struct rdl_graph *ol = rdl_graph_new(RDL_OVERLAY, "x");
    int rc = pip_store_load_substrate(s, ol, &err);
    rdl_graph_free(ol);
    if (rc == 0 || err.code != CN_E_INVALID)
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    pip_usage_free(u, nu);
    pip_totals_free(t, nt);
    pip_reservation_free(r);
    rdl_graph_free(ul);
    rdl_graph_free(back);
    rdl_graph_free(residual);
    rdl_graph_free(changed);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

static int
test_lifecycle(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_lifecycle", true);
    struct pip_reservation *r = NULL, *g = NULL;
    long long expiry = -1;
    bool existed = true;
    int ret = -1;

    CHECK(s);
    struct pip_reserve_request req = duo_request("cn-1", "request one");
    req.overlay_yaml = "overlay text";
    req.mapping_yaml = "mapping text";
    r = pip_store_reserve(s, &req, &existed, &err);
    if (!r || existed || r->state != PIP_ALLOCATED || r->expires_at != fake_time + 60 ||
        r->created_at != fake_time || !cn_streq(r->id, "cn-1"))
        goto out;
    if (used_of(s, "h1", "cpu") != 1 || used_of(s, "h2-sw", "bandwidth") != 10)
        goto out;

    g = pip_store_get(s, "cn-1", &err);
    if (!g || !cn_streq(g->overlay_yaml, "overlay text") ||
        !cn_streq(g->mapping_yaml, "mapping text") || g->state != PIP_ALLOCATED)
        goto out;

    /* Renew: capped by the maximum lease. */
    fake_time += 10;
    if (pip_store_renew(s, "cn-1", 30, &expiry, &err) < 0 || expiry != fake_time + 30)
        goto out;
    if (pip_store_renew(s, "cn-1", 100000, &expiry, &err) < 0 || expiry != fake_time + MAX_LEASE)
        goto out;
    if (pip_store_renew(s, "cn-1", 0, &expiry, &err) == 0 || err.code != CN_E_INVALID)
        goto out;
    cn_err_clear(&err);

    /* Confirm: provisioned, no lease; again is fine. */
    if (pip_store_confirm(s, "cn-1", &err) < 0 || pip_store_confirm(s, "cn-1", &err) < 0)
        goto out;
    pip_reservation_free(g);
    g = pip_store_get(s, "cn-1", &err);
    if (!g || g->state != PIP_PROVISIONED || g->expires_at != 0)
        goto out;
    expiry = -1;
    if (pip_store_renew(s, "cn-1", 30, &expiry, &err) < 0 || expiry != 0)
        goto out;
    /* A provisioned CloudNet keeps its resources however long it lives. */
    fake_time += 100000;
    if (used_of(s, "h1", "cpu") != 1)
        goto out;

    /* Release frees everything; again is fine; confirm afterwards is not. */
    if (pip_store_release(s, "cn-1", "done", &err) < 0 ||
        pip_store_release(s, "cn-1", NULL, &err) < 0)
        goto out;
    pip_reservation_free(g);
    g = pip_store_get(s, "cn-1", &err);
    if (!g || g->state != PIP_RELEASED || !cn_streq(g->reason, "done"))
        goto out;
    if (used_of(s, "h1", "cpu") != 0 || used_of(s, "h2-sw", "bandwidth") != 0)
        goto out;
    if (pip_store_confirm(s, "cn-1", &err) == 0 || err.code != CN_E_INVALID)
        goto out;
    cn_err_clear(&err);
    if (pip_store_fail(s, "cn-1", "x", &err) == 0 || err.code != CN_E_INVALID)
        goto out;
    cn_err_clear(&err);

    /* Fail frees too and keeps the reason. */
    req = duo_request("cn-2", "request two");
    pip_reservation_free(r);
    r = pip_store_reserve(s, &req, NULL, &err);
    if (!r || used_of(s, "h1", "cpu") != 1)
        goto out;
    if (pip_store_fail(s, "cn-2", "libvirt: no image debian-12", &err) < 0 ||
        pip_store_fail(s, "cn-2", NULL, &err) < 0)
        goto out;
    pip_reservation_free(g);
    g = pip_store_get(s, "cn-2", &err);
    if (!g || g->state != PIP_FAILED || !cn_streq(g->reason, "libvirt: no image debian-12") ||
        used_of(s, "h1", "cpu") != 0)
        goto out;

    /* Lists. */
    struct pip_reservation *items = NULL;
    size_t n = 0;
    if (pip_store_list(s, PIP_LIST_ALL, &items, &n, &err) < 0)
        goto out;
    bool listed = n == 2 && cn_streq(items[0].id, "cn-1") && items[0].state == PIP_RELEASED &&
                  cn_streq(items[1].id, "cn-2") && items[1].state == PIP_FAILED &&
                  !items[0].overlay_yaml;
    pip_reservations_free(items, n);
    if (!listed)
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    pip_reservation_free(r);
    pip_reservation_free(g);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

static int
test_expiry(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_expiry", true);
    struct pip_reservation *r = NULL, *r2 = NULL, *items = NULL;
    size_t n = 0;
    long long expiry = 0;
    int ret = -1;

    CHECK(s);
    /* Take all of h1's cpu for 60 s. */
    static const struct pip_alloc all_cpu[] = {{"h1", "cpu", 4}};
    struct pip_reserve_request req = duo_request("lease-1", "r1");
    req.allocs = all_cpu;
    req.nallocs = 1;
    r = pip_store_reserve(s, &req, NULL, &err);
    if (!r)
        goto out;
    req.id = "lease-2";
    req.request = "r2";
    if (pip_store_reserve(s, &req, NULL, &err) || err.code != CN_E_INSUFFICIENT)
        goto out;
    cn_err_clear(&err);
    if (pip_store_list(s, PIP_LIST_EXPIRED, &items, &n, &err) < 0 || n != 0)
        goto out;

    /* The lease ends: the capacity is free, confirm and renew refuse. */
    fake_time += 61;
    if (used_of(s, "h1", "cpu") != 0)
        goto out;
    if (pip_store_confirm(s, "lease-1", &err) == 0 || err.code != CN_E_EXPIRED)
        goto out;
    cn_err_clear(&err);
    if (pip_store_renew(s, "lease-1", 60, &expiry, &err) == 0 || err.code != CN_E_EXPIRED ||
        expiry != 0)
        goto out;
    cn_err_clear(&err);
    pip_reservations_free(items, n);
    items = NULL;
    if (pip_store_list(s, PIP_LIST_EXPIRED, &items, &n, &err) < 0 || n != 1 ||
        !cn_streq(items[0].id, "lease-1"))
        goto out;
    pip_reservations_free(items, n);
    items = NULL;
    if (pip_store_list(s, PIP_LIST_ACTIVE, &items, &n, &err) < 0 || n != 0)
        goto out;

    /* Someone else may now have it; the reaper then releases the old one. */
    r2 = pip_store_reserve(s, &req, NULL, &err);
    if (!r2 || used_of(s, "h1", "cpu") != 4)
        goto out;
    if (pip_store_release(s, "lease-1", "lease expired", &err) < 0)
        goto out;
    if (used_of(s, "h1", "cpu") != 4)
        goto out;
    if (pip_store_confirm(s, "lease-1", &err) == 0 || err.code != CN_E_EXPIRED)
        goto out;
    cn_err_clear(&err);
    if (pip_store_confirm(s, "lease-2", &err) < 0)
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    pip_reservations_free(items, n);
    pip_reservation_free(r);
    pip_reservation_free(r2);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

static int
test_idempotent(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_idem", true);
    struct pip_reservation *a = NULL, *b = NULL, *found = NULL;
    char *before = NULL, *after = NULL;
    bool existed = true;
    int ret = -1;

    CHECK(s);
    struct pip_reserve_request req = duo_request("same", "the request");
    a = pip_store_reserve(s, &req, &existed, &err);
    if (!a || existed)
        goto out;
    before = tables(s);
    fake_time += 5;
    b = pip_store_reserve(s, &req, &existed, &err);
    if (!b || !existed || b->expires_at != a->expires_at || b->created_at != a->created_at)
        goto out;
    after = tables(s);
    if (!before || !after || strcmp(before, after) != 0)
        goto out;
    if (used_of(s, "h1", "cpu") != 1)
        goto out;
    if (pip_store_lookup(s, "same", "the request", &found, &err) < 0 || !found)
        goto out;
    pip_reservation_free(found);
    found = NULL;
    if (pip_store_lookup(s, "other", "the request", &found, &err) < 0 || found)
        goto out;

    /* The id of another request. */
    struct pip_reserve_request other = duo_request("same", "another request");
    if (pip_store_reserve(s, &other, &existed, &err) || err.code != CN_E_INVALID ||
        !strstr(cn_err_msg(&err), "already used"))
        goto out;
    cn_err_clear(&err);
    if (pip_store_lookup(s, "same", "another request", &found, &err) == 0 ||
        err.code != CN_E_INVALID)
        goto out;
    cn_err_clear(&err);

    /* A repeated request after release answers with the released reservation. */
    if (pip_store_release(s, "same", NULL, &err) < 0)
        goto out;
    pip_reservation_free(b);
    b = pip_store_reserve(s, &req, &existed, &err);
    if (!b || !existed || b->state != PIP_RELEASED || used_of(s, "h1", "cpu") != 0)
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    pip_reservation_free(a);
    pip_reservation_free(b);
    pip_reservation_free(found);
    free(before);
    free(after);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

/*
 * Reserve requests refused with code (and a message containing text): a
 * duo request with the fields a row gives changed. The base reservation
 * leaves 3 cpu on h1.
 */
static const struct pip_alloc bad_too_much[] = {
    {"h2", "cpu", 1}, {"h1-sw", "bandwidth", 100}, {"h1", "cpu", 2}, {"h1", "cpu", 1.5}};
static const struct pip_alloc bad_no_gpu[] = {{"h1", "cpu", 1}, {"h1", "gpu", 1}};
static const struct pip_alloc bad_ghost[] = {{"h1", "cpu", 1}, {"h9", "cpu", 1}};
static const struct pip_alloc bad_negative[] = {{"h1", "cpu", -1}};
static const char *const bad_ghost_scope[] = {"h1-sw", "nowhere"};
static const struct pip_vlan_request bad_ghost_vlan = {"a-b", bad_ghost_scope, 2, 0, NULL};

static const struct bad_reserve {
    const char *what;
    const struct pip_alloc *allocs; /* NULL: the duo's */
    size_t nallocs;
    const struct pip_vlan_request *vlan;
    long lease_s;   /* -1: the duo's */
    const char *id; /* NULL: "big" */
    int code;
    const char *text;
} bad_reserves[] = {
    /* The first allocations fit, the last does not, and nothing of it may remain. */
    {"more than exists", bad_too_much, CN_ARRAY_SIZE(bad_too_much), NULL, -1, NULL,
     CN_E_INSUFFICIENT, "h1: cpu: 3.5 wanted, 3 free of 4"},
    {"a resource the element does not have", bad_no_gpu, CN_ARRAY_SIZE(bad_no_gpu), NULL, -1, NULL,
     CN_E_INSUFFICIENT, NULL},
    {"an unknown element", bad_ghost, CN_ARRAY_SIZE(bad_ghost), NULL, -1, NULL, CN_E_INVALID, "h9"},
    {"a negative amount", bad_negative, CN_ARRAY_SIZE(bad_negative), NULL, -1, NULL, CN_E_INVALID,
     NULL},
    {"an unknown VLAN scope", NULL, 0, &bad_ghost_vlan, -1, NULL, CN_E_INVALID, NULL},
    {"a zero lease", NULL, 0, NULL, 0, NULL, CN_E_INVALID, NULL},
    {"an empty id", NULL, 0, NULL, -1, "", CN_E_INVALID, NULL},
};

static int
test_invalid(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_invalid", true);
    struct pip_reservation *r = NULL;
    char *before = NULL, *after = NULL;
    long long expiry = 42;
    int ret = -1;

    CHECK(s);
    struct pip_reserve_request base = duo_request("base", "base");
    r = pip_store_reserve(s, &base, NULL, &err);
    if (!r)
        goto out;

    /* Unknown ids. */
    if (pip_store_get(s, "nope", &err) || err.code != CN_E_NOTFOUND)
        goto out;
    cn_err_clear(&err);
    if (pip_store_confirm(s, "nope", &err) == 0 || err.code != CN_E_NOTFOUND)
        goto out;
    cn_err_clear(&err);
    if (pip_store_release(s, "nope", NULL, &err) == 0 || err.code != CN_E_NOTFOUND)
        goto out;
    cn_err_clear(&err);
    if (pip_store_renew(s, "nope", 10, &expiry, &err) == 0 || err.code != CN_E_NOTFOUND ||
        expiry != 42)
        goto out;
    cn_err_clear(&err);

    before = tables(s);
    if (!before)
        goto out;

    for (size_t i = 0; i < CN_ARRAY_SIZE(bad_reserves); i++) {
        const struct bad_reserve *c = &bad_reserves[i];
        struct pip_reserve_request req = duo_request(c->id ? c->id : "big", "big");
        if (c->allocs) {
            req.allocs = c->allocs;
            req.nallocs = c->nallocs;
        }
        req.vlans = c->vlan;
        req.nvlans = c->vlan ? 1 : 0;
        if (c->lease_s >= 0)
            req.lease_s = c->lease_s;
        if (pip_store_reserve(s, &req, NULL, &err) || err.code != c->code ||
            (c->text && !strstr(cn_err_msg(&err), c->text))) {
            fprintf(stderr, "  %s: code %d\n", c->what, err.code);
            goto out;
        }
        cn_err_clear(&err);
    }

    after = tables(s);
    if (!after || strcmp(before, after) != 0) {
        fprintf(stderr, "  tables changed:\n--- before\n%s--- after\n%s", before,
                after ? after : "");
        goto out;
    }
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    pip_reservation_free(r);
    free(before);
    free(after);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

static int
test_vlans(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_vlan", true);
    struct pip_reservation *r[6] = {NULL};
    struct pip_vlan_range *ranges = NULL;
    struct rdl_graph *ml = NULL;
    char *mapping = test_fixture("pip/mapping.yaml");
    size_t n = 0;
    int ret = -1;

    CHECK(s && mapping);
    static const char *const path[] = {"h1-sw", "h2-sw"};
    static const char *const left[] = {"h1-sw"};
    static const char *const right[] = {"h2-sw", "h2-sw"}; /* named twice: taken once */
    static const char *const transit[] = {"tr"};

    /* Picked: the lowest tag of the substrate's range, written into the mapping. */
    struct pip_vlan_request v0 = {"a-b", path, 2, 0, NULL};
    struct pip_reserve_request req = duo_request("v0", "v0");
    req.mapping_yaml = mapping;
    req.vlans = &v0;
    req.nvlans = 1;
    r[0] = pip_store_reserve(s, &req, NULL, &err);
    if (!r[0] || r[0]->nvlans != 1 || r[0]->vlans[0].tag != 100 ||
        !cn_streq(r[0]->vlans[0].overlay_link, "a-b"))
        goto out;
    ml = rdl_read_string("stored", r[0]->mapping_yaml, strlen(r[0]->mapping_yaml), &err);
    if (!ml || rdl_map_entry_vlan(rdl_mapping_get(ml, "a-b")) != 100 ||
        rdl_map_entry_vlan(rdl_mapping_get(ml, "a")) != -1)
        goto out;

    /* Per link: 100 is taken on h1-sw and h2-sw, so each gets 101. */
    struct pip_vlan_request v1 = {"x", left, 1, 0, NULL};
    req = duo_request("v1", "v1");
    req.allocs = NULL;
    req.nallocs = 0;
    req.vlans = &v1;
    req.nvlans = 1;
    r[1] = pip_store_reserve(s, &req, NULL, &err);
    struct pip_vlan_request v2 = {"y", right, 2, 0, NULL};
    req.id = req.request = "v2";
    req.vlans = &v2;
    r[2] = pip_store_reserve(s, &req, NULL, &err);
    if (!r[1] || !r[2] || r[1]->vlans[0].tag != 101 || r[2]->vlans[0].tag != 101)
        goto out;

    /* On the whole substrate: the lowest tag used nowhere. */
    struct pip_vlan_request v3 = {"z", NULL, 0, 0, NULL};
    req.id = req.request = "v3";
    req.vlans = &v3;
    r[3] = pip_store_reserve(s, &req, NULL, &err);
    if (!r[3] || r[3]->vlans[0].tag != 102)
        goto out;

    /* Wanted tags: taken, outside the range, and free. */
    struct pip_vlan_request v4 = {"w", left, 1, 101, NULL};
    req.id = req.request = "v4";
    req.vlans = &v4;
    if (pip_store_reserve(s, &req, NULL, &err) || err.code != CN_E_VLAN)
        goto out;
    cn_err_clear(&err);
    v4.tag = 102; /* held on the whole substrate */
    if (pip_store_reserve(s, &req, NULL, &err) || err.code != CN_E_VLAN)
        goto out;
    cn_err_clear(&err);
    v4.tag = 200;
    if (pip_store_reserve(s, &req, NULL, &err) || err.code != CN_E_VLAN)
        goto out;
    cn_err_clear(&err);
    v4.scopes = transit;
    r[4] = pip_store_reserve(s, &req, NULL, &err);
    if (!r[4] || r[4]->vlans[0].tag != 200)
        goto out;

    /* Free ranges for describe(). */
    if (pip_store_free_vlans(s, "h1-sw", &ranges, &n, &err) < 0 || n != 1 ||
        ranges[0].first != 103 || ranges[0].last != 110)
        goto out;
    free(ranges);
    ranges = NULL;
    if (pip_store_free_vlans(s, "tr", &ranges, &n, &err) < 0 || n != 1 || ranges[0].first != 201 ||
        ranges[0].last != 201)
        goto out;
    free(ranges);
    ranges = NULL;
    if (pip_store_free_vlans(s, "nowhere", &ranges, &n, &err) == 0 || err.code != CN_E_NOTFOUND)
        goto out;
    cn_err_clear(&err);

    /* Release gives the tags back. */
    if (pip_store_release(s, "v0", NULL, &err) < 0 || pip_store_release(s, "v1", NULL, &err) < 0)
        goto out;
    if (pip_store_free_vlans(s, "h1-sw", &ranges, &n, &err) < 0 || n != 2 ||
        ranges[0].first != 100 || ranges[0].last != 101 || ranges[1].first != 103 ||
        ranges[1].last != 110)
        goto out;
    free(ranges);
    ranges = NULL;
    /* Free everywhere: 101 is still held on h2-sw, 102 on the whole substrate. */
    if (pip_store_free_vlans(s, NULL, &ranges, &n, &err) < 0 || n != 2 || ranges[0].first != 100 ||
        ranges[0].last != 100 || ranges[1].first != 103 || ranges[1].last != 110)
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    for (size_t i = 0; i < CN_ARRAY_SIZE(r); i++)
        pip_reservation_free(r[i]);
    free(ranges);
    free(mapping);
    rdl_graph_free(ml);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

/* The tag the stored reservation holds for link, or -1. */
static int
tag_of(const struct pip_reservation *r, const char *link)
{
    for (size_t i = 0; r && i < r->nvlans; i++)
        if (cn_streq(r->vlans[i].overlay_link, link))
            return r->vlans[i].tag;
    return -1;
}

static int
test_modify(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_modify", true);
    struct pip_reservation *r = NULL, *other = NULL, *g = NULL;
    struct rdl_graph *ml = NULL, *residual = NULL;
    char *mapping = test_fixture("pip/mapping.yaml");
    char *before = NULL, *after = NULL;
    bool unchanged = true;
    int ret = -1;

    CHECK(s && mapping);
    /* Links x and y hold 100 and 101; 102 goes to another CloudNet. */
    struct pip_vlan_request v[] = {{"x", NULL, 0, 0, NULL}, {"y", NULL, 0, 0, NULL}};
    struct pip_reserve_request req = duo_request("m1", "m1");
    req.overlay_yaml = "overlay one";
    req.mapping_yaml = "";
    req.vlans = v;
    req.nvlans = 2;
    r = pip_store_reserve(s, &req, NULL, &err);
    struct pip_vlan_request vo = {"o", NULL, 0, 0, NULL};
    struct pip_reserve_request oreq = duo_request("other", "other");
    oreq.allocs = NULL;
    oreq.nallocs = 0;
    oreq.vlans = &vo;
    oreq.nvlans = 1;
    other = pip_store_reserve(s, &oreq, NULL, &err);
    if (!r || !other || tag_of(r, "x") != 100 || tag_of(r, "y") != 101 || tag_of(other, "o") != 102)
        goto out;

    /* The residual without m1 gives back what m1 holds, and only that. */
    residual = pip_store_residual_substrate_without(s, "m1", &err);
    if (!residual ||
        rdl_props_number(rdl_element_resources(rdl_graph_element(residual, "h1")), "cpu", -1) !=
            4 ||
        rdl_props_number(rdl_element_resources(rdl_graph_element(residual, "h1-sw")), "bandwidth",
                         -1) != 1000)
        goto out;

    /* x stays (keeps 100), y goes (frees 101), z and a-b are new (lowest free: 101, 103). */
    static const struct pip_alloc more[] = {{"h1", "cpu", 3}, {"h1", "memory", 2048}};
    struct pip_vlan_request nv[] = {
        {"x", NULL, 0, 0, NULL}, {"z", NULL, 0, 0, NULL}, {"a-b", NULL, 0, 0, NULL}};
    struct pip_modify_request mod = {
        .id = "m1",
        .overlay_yaml = "overlay two",
        .mapping_yaml = mapping,
        .allocs = more,
        .nallocs = CN_ARRAY_SIZE(more),
        .vlans = nv,
        .nvlans = 3,
    };
    fake_time += 5;
    if (pip_store_modify(s, &mod, &unchanged, &err) < 0 || unchanged)
        goto out;
    g = pip_store_get(s, "m1", &err);
    if (!g || g->state != PIP_ALLOCATED || g->expires_at != fake_time - 5 + 60 ||
        !cn_streq(g->overlay_yaml, "overlay two") || g->nvlans != 3 || tag_of(g, "x") != 100 ||
        tag_of(g, "z") != 101 || tag_of(g, "a-b") != 103 || tag_of(g, "y") != -1)
        goto out;
    if (used_of(s, "h1", "cpu") != 3 || used_of(s, "h2", "cpu") != 0 ||
        used_of(s, "h1-sw", "bandwidth") != 0 || used_of(s, "h1", "memory") != 2048)
        goto out;
    ml = rdl_read_string("stored", g->mapping_yaml, strlen(g->mapping_yaml), &err);
    if (!ml || rdl_map_entry_vlan(rdl_mapping_get(ml, "a-b")) != 103)
        goto out;

    /* The same overlay again: nothing changes, not even updated_at. */
    before = tables(s);
    fake_time += 5;
    mod.allocs = NULL;
    mod.nallocs = 0;
    if (pip_store_modify(s, &mod, &unchanged, &err) < 0 || !unchanged)
        goto out;
    after = tables(s);
    if (!before || !after || strcmp(before, after) != 0)
        goto out;
    free(after);
    after = NULL;

    /* Failures change nothing: capacity, a taken tag, an unknown element, bad input. */
    static const struct pip_alloc too_much[] = {{"h1", "cpu", 5}};
    mod.overlay_yaml = "overlay three";
    mod.allocs = too_much;
    mod.nallocs = 1;
    if (pip_store_modify(s, &mod, NULL, &err) == 0 || err.code != CN_E_INSUFFICIENT)
        goto out;
    cn_err_clear(&err);
    struct pip_vlan_request taken[] = {{"x", NULL, 0, 102, NULL}};
    mod.allocs = more;
    mod.nallocs = 2;
    mod.vlans = taken;
    mod.nvlans = 1;
    if (pip_store_modify(s, &mod, NULL, &err) == 0 || err.code != CN_E_VLAN)
        goto out;
    cn_err_clear(&err);
    static const struct pip_alloc unknown[] = {{"h9", "cpu", 1}};
    mod.allocs = unknown;
    mod.nallocs = 1;
    mod.vlans = NULL;
    mod.nvlans = 0;
    if (pip_store_modify(s, &mod, NULL, &err) == 0 || err.code != CN_E_INVALID)
        goto out;
    cn_err_clear(&err);
    mod.overlay_yaml = NULL;
    if (pip_store_modify(s, &mod, NULL, &err) == 0 || err.code != CN_E_INVALID)
        goto out;
    cn_err_clear(&err);
    mod.overlay_yaml = "overlay three";
    mod.id = "nosuch";
    mod.allocs = more;
    mod.nallocs = 2;
    if (pip_store_modify(s, &mod, NULL, &err) == 0 || err.code != CN_E_NOTFOUND)
        goto out;
    cn_err_clear(&err);
    mod.id = "m1";
    after = tables(s);
    if (!after || strcmp(before, after) != 0)
        goto out;
    free(after);
    after = NULL;

    /* A transit tag must lie in the transit link's range as well (tr: 200-201). */
    static const char *const transit[] = {"tr"};
    struct pip_vlan_request tv = {"t", NULL, 0, 105, "tr"};
    mod.vlans = &tv;
    mod.nvlans = 1;
    if (pip_store_modify(s, &mod, NULL, &err) == 0 || err.code != CN_E_VLAN)
        goto out;
    cn_err_clear(&err);
    tv.scopes = transit;
    tv.nscopes = 1;
    tv.tag = 201;
    if (pip_store_modify(s, &mod, NULL, &err) < 0)
        goto out;
    pip_reservation_free(g);
    g = pip_store_get(s, "m1", &err);
    if (!g || g->nvlans != 1 || tag_of(g, "t") != 201 || tag_of(g, "x") != -1)
        goto out;

    /* Provisioned stays provisioned; an ended lease or a released one is refused. */
    if (pip_store_confirm(s, "m1", &err) < 0)
        goto out;
    mod.overlay_yaml = "overlay four";
    mod.vlans = NULL;
    mod.nvlans = 0;
    if (pip_store_modify(s, &mod, NULL, &err) < 0)
        goto out;
    pip_reservation_free(g);
    g = pip_store_get(s, "m1", &err);
    if (!g || g->state != PIP_PROVISIONED || g->nvlans != 0)
        goto out;
    fake_time += 1000;
    if (pip_store_modify(
            s, &(struct pip_modify_request){.id = "other", .overlay_yaml = "x", .mapping_yaml = ""},
            NULL, &err) == 0 ||
        err.code != CN_E_EXPIRED)
        goto out;
    cn_err_clear(&err);
    if (pip_store_release(s, "m1", NULL, &err) < 0)
        goto out;
    mod.overlay_yaml = "overlay five";
    if (pip_store_modify(s, &mod, NULL, &err) == 0 || err.code != CN_E_INVALID)
        goto out;
    cn_err_clear(&err);
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    pip_reservation_free(r);
    pip_reservation_free(other);
    pip_reservation_free(g);
    rdl_graph_free(ml);
    rdl_graph_free(residual);
    free(mapping);
    free(before);
    free(after);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

/* ---- what pipd keeps between calls ---- */

static bool
hex64(const char *s)
{
    if (strlen(s) != PIP_DIGEST_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/*
 * The substrate's digest tells a kept copy from a replaced one; the
 * residual computed on a kept copy equals the one read afresh; a
 * reservation answers as pip_store_get reads it back; the brief read
 * leaves out what it says; several tags are picked in one request.
 */
static int
test_kept_substrate(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_kept", false), *empty = NULL;
    struct rdl_graph *g = NULL, *copy = NULL, *fresh = NULL, *other = NULL;
    struct pip_reservation *r = NULL, *full = NULL, *brief = NULL, *bad = NULL;
    char d1[PIP_DIGEST_LEN + 1] = "", d2[PIP_DIGEST_LEN + 1] = "", d3[PIP_DIGEST_LEN + 1] = "";
    char *before = NULL, *after = NULL;
    int ret = -1;

    CHECK(s);
    CHECK(pip_store_substrate_digest(s, d1, &err) == 0 && hex64(d1));
    g = pip_store_dump_substrate_digest(s, d2, &err);
    CHECK(g && cn_streq(d1, d2));

    static const struct pip_vlan_request five[] = {
        {"l1", NULL, 0, 0, NULL}, {"l2", NULL, 0, 0, NULL}, {"l3", NULL, 0, 0, NULL},
        {"l4", NULL, 0, 0, NULL}, {"l0", NULL, 0, 0, NULL},
    };
    struct pip_reserve_request req = duo_request("k-1", "k-1");
    req.vlans = five;
    req.nvlans = CN_ARRAY_SIZE(five);
    bool existed = true;
    r = pip_store_reserve(s, &req, &existed, &err);
    CHECK(r && !existed);
    /* What reserve answers is what is stored. */
    full = pip_store_get(s, "k-1", &err);
    CHECK(full);
    CHECK(r->state == full->state && r->expires_at == full->expires_at &&
          r->created_at == full->created_at && r->updated_at == full->updated_at);
    CHECK_STR(r->peer, full->peer);
    CHECK_STR(r->overlay_yaml, full->overlay_yaml);
    CHECK_STR(r->mapping_yaml, full->mapping_yaml);
    CHECK(r->nvlans == 5 && full->nvlans == 5);
    for (size_t i = 0; i < 5; i++) {
        CHECK_STR(r->vlans[i].overlay_link, full->vlans[i].overlay_link);
        CHECK(r->vlans[i].tag == full->vlans[i].tag);
        /* The lowest free tags, in the order asked (l0 last), listed by link. */
        CHECK(r->vlans[i].tag == (i == 0 ? 104 : 100 + (int)i - 1));
    }

    brief = pip_store_get_brief(s, "k-1", false, &err);
    CHECK(brief && brief->state == PIP_ALLOCATED && brief->expires_at == full->expires_at);
    CHECK(!brief->overlay_yaml && !brief->mapping_yaml && !brief->vlans && brief->nvlans == 0);
    CHECK_STR(brief->peer, "vnp-1");
    pip_reservation_free(brief);
    brief = pip_store_get_brief(s, "k-1", true, &err);
    CHECK(brief && cn_streq(brief->overlay_yaml, full->overlay_yaml) &&
          cn_streq(brief->mapping_yaml, full->mapping_yaml) && brief->nvlans == 0);
    bad = pip_store_get_brief(s, "nobody", true, &err);
    CHECK(!bad && err.code == CN_E_NOTFOUND);
    cn_err_clear(&err);
    bad = pip_store_get_brief(s, "", false, &err);
    CHECK(!bad && err.code == CN_E_INVALID);
    cn_err_clear(&err);

    /* The residual from the kept copy, with and without k-1. */
    copy = rdl_graph_copy(g);
    fresh = pip_store_residual_substrate(s, &err);
    CHECK(fresh && pip_store_residual_apply(s, copy, NULL, &err) == 0);
    CHECK(rdl_graph_equal(copy, fresh));
    CHECK(!rdl_graph_equal(copy, g));
    rdl_graph_free(copy);
    copy = rdl_graph_copy(g);
    CHECK(pip_store_residual_apply(s, copy, "k-1", &err) == 0 && rdl_graph_equal(copy, g));

    /* A taken tag asked for again: refused, nothing changed. */
    static const struct pip_vlan_request taken[] = {{"x", NULL, 0, 0, NULL},
                                                    {"y", NULL, 0, 102, NULL}};
    struct pip_reserve_request req2 = duo_request("k-2", "k-2");
    req2.vlans = taken;
    req2.nvlans = 2;
    before = tables(s);
    bad = pip_store_reserve(s, &req2, NULL, &err);
    CHECK(!bad && err.code == CN_E_VLAN);
    cn_err_clear(&err);
    after = tables(s);
    CHECK(before && after && cn_streq(before, after));

    /* The same document again keeps the digest; another one changes it. */
    CHECK(pip_store_load_substrate(s, g, &err) == 0);
    CHECK(pip_store_substrate_digest(s, d3, &err) == 0 && cn_streq(d3, d1));
    CHECK(pip_store_release(s, "k-1", NULL, &err) == 0);
    other = rdl_graph_copy(g);
    rdl_graph_set_name(other, "pip-test-2");
    CHECK(pip_store_load_substrate(s, other, &err) == 0);
    CHECK(pip_store_substrate_digest(s, d3, &err) == 0 && hex64(d3) && !cn_streq(d3, d1));

    /* No substrate: not found, and the buffer is left alone. */
    empty = store_open("t_kept_empty", &err);
    CHECK(empty && pip_store_migrate(empty, 0, NULL, &err) == 0);
    snprintf(d3, sizeof(d3), "untouched");
    CHECK(pip_store_substrate_digest(empty, d3, &err) < 0 && err.code == CN_E_NOTFOUND);
    CHECK_STR(d3, "untouched");
    cn_err_clear(&err);
    ret = 0;

    pip_store_close(empty);
    pip_reservation_free(r);
    pip_reservation_free(full);
    pip_reservation_free(brief);
    rdl_graph_free(g);
    rdl_graph_free(copy);
    rdl_graph_free(fresh);
    rdl_graph_free(other);
    free(before);
    free(after);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

/* ---- races ---- */

struct racer {
    pthread_t thread;
    pthread_barrier_t *start;
    const char *database;
    int index;
    bool vlan;
    bool same_id; /* every racer repeats one request */
    bool modify;  /* even racers modify an existing reservation, odd ones reserve */
    bool existed;
    int code; /* CN_OK when the reservation was granted */
    int tag;
    char msg[256];
};

static void *
race(void *arg)
{
    struct racer *me = arg;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_open(me->database, &err);
    char id[32];
    /* Half the racers list their elements the other way round. */
    struct pip_alloc mine[2] = {{"h1", "cpu", 1}, {"h2", "cpu", 1}};
    if (me->index % 2) {
        mine[0] = (struct pip_alloc){"h2", "cpu", 1};
        mine[1] = (struct pip_alloc){"h1", "cpu", 1};
    }
    static const char *const transit[] = {"tr"};
    struct pip_vlan_request v = {"t", transit, 1, 0, NULL};

    snprintf(id, sizeof(id), me->same_id ? "race" : "race-%d", me->index);
    struct pip_reserve_request req = duo_request(id, id);
    req.allocs = me->vlan ? NULL : mine;
    req.nallocs = me->vlan ? 0 : 2;
    req.vlans = me->vlan ? &v : NULL;
    req.nvlans = me->vlan ? 1 : 0;

    struct pip_modify_request mod = {
        .id = id,
        .overlay_yaml = "modified",
        .mapping_yaml = "",
        .allocs = mine,
        .nallocs = 2,
    };
    bool modify = me->modify && me->index % 2 == 0;
    if (modify)
        snprintf(id, sizeof(id), "held-%d", me->index);

    /* Every racer waits here, connected, so they all ask at once. */
    pthread_barrier_wait(me->start);
    struct pip_reservation *r = NULL;
    if (modify) {
        if (s && pip_store_modify(s, &mod, NULL, &err) == 0)
            r = pip_store_get(s, id, &err);
    } else if (s) {
        r = pip_store_reserve(s, &req, &me->existed, &err);
    }
    me->code = r ? CN_OK : err.code;
    me->tag = r && r->nvlans ? r->vlans[0].tag : 0;
    snprintf(me->msg, sizeof(me->msg), "%s", cn_err_msg(&err));
    pip_reservation_free(r);
    pip_store_close(s);
    cn_err_release(&err);
    return NULL;
}

/* Runs n racers against database; returns how many got through. */
static int
run_race(const char *database, int n, bool vlan, bool same_id, bool modify, struct racer *racers,
         int fail_code)
{
    pthread_barrier_t start;
    int won = 0;

    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        racers[i] = (struct racer){
            .start = &start,
            .database = database,
            .index = i,
            .vlan = vlan,
            .same_id = same_id,
            .modify = modify,
        };
        pthread_create(&racers[i].thread, NULL, race, &racers[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(racers[i].thread, NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < n; i++) {
        if (racers[i].code == CN_OK)
            won++;
        else if (racers[i].code != fail_code)
            fprintf(stderr, "  racer %d: unexpected failure: %s\n", i, racers[i].msg);
    }
    return won;
}

/* Reserves id with 3 cpu on each host, one less than they have: one racer can have the rest. */
static struct pip_reservation *
reserve_most(struct pip_store *s, const char *id, struct cn_err *err)
{
    static const struct pip_alloc most[] = {{"h1", "cpu", 3}, {"h2", "cpu", 3}};
    struct pip_reserve_request req = duo_request(id, id);
    req.allocs = most;
    req.nallocs = CN_ARRAY_SIZE(most);
    return pip_store_reserve(s, &req, NULL, err);
}

/* How many of n racers ended with code. */
static int
racers_with(const struct racer *racers, int n, int code)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += racers[i].code == code;
    return k;
}

static int
test_race_capacity(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_race", false);
    struct pip_reservation *base = NULL, *items = NULL;
    struct racer racers[RACERS];
    char *after = NULL;
    size_t n = 0;
    int ret = -1;

    CHECK(s);
    base = reserve_most(s, "base", &err);
    if (!base)
        goto out;

    int won = run_race("t_race", RACERS, false, false, false, racers, CN_E_INSUFFICIENT);
    int insufficient = racers_with(racers, RACERS, CN_E_INSUFFICIENT);
    if (won != 1 || insufficient != RACERS - 1) {
        fprintf(stderr, "  %d won, %d insufficient\n", won, insufficient);
        goto out;
    }
    if (used_of(s, "h1", "cpu") != 4 || used_of(s, "h2", "cpu") != 4)
        goto out;
    if (pip_store_list(s, PIP_LIST_ALL, &items, &n, &err) < 0 || n != 2)
        goto out;
    after = tables(s);
    if (!after || count_lines(after, "reservation\t") != 2 ||
        count_lines(after, "allocation\tbase\t") != 2 ||
        count_lines(after, "allocation\trace-") != 2)
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    pip_reservation_free(base);
    pip_reservations_free(items, n);
    free(after);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

static int
test_race_vlan(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_race_vlan", false);
    struct pip_reservation *base = NULL;
    struct racer racers[2];
    char *after = NULL;
    int ret = -1;

    CHECK(s);
    /* tr has tags 200-201; take 200 so one is left. */
    static const char *const transit[] = {"tr"};
    struct pip_vlan_request v = {"first", transit, 1, 200, NULL};
    struct pip_reserve_request req = duo_request("vbase", "vbase");
    req.vlans = &v;
    req.nvlans = 1;
    base = pip_store_reserve(s, &req, NULL, &err);
    if (!base)
        goto out;

    int won = run_race("t_race_vlan", 2, true, false, false, racers, CN_E_VLAN);
    if (won != 1 || (racers[0].code != CN_E_VLAN && racers[1].code != CN_E_VLAN) ||
        racers[0].tag + racers[1].tag != 201) {
        fprintf(stderr, "  %d won; tags %d %d\n", won, racers[0].tag, racers[1].tag);
        goto out;
    }
    after = tables(s);
    if (!after || count_lines(after, "vlan\ttr\t200\tvbase") != 1 ||
        count_lines(after, "vlan\ttr\t201\trace-") != 1 || count_lines(after, "vlan\t") != 2)
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    pip_reservation_free(base);
    free(after);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

/*
 * Half the racers modify reservations they hold (memory only) to take one
 * cpu on each host, the other half reserve the same afresh: one cpu is free
 * on each host, so exactly one of them gets it, and every loser keeps what
 * it held.
 */
static int
test_race_modify(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_race_modify", false);
    struct pip_reservation *held[RACERS] = {NULL};
    struct racer racers[RACERS];
    char *after = NULL;
    int ret = -1;

    CHECK(s);
    static const struct pip_alloc mem[] = {{"h1", "memory", 1}};
    held[1] = reserve_most(s, "base", &err);
    if (!held[1])
        goto out;
    for (int i = 0; i < RACERS; i += 2) {
        char id[32];
        snprintf(id, sizeof(id), "held-%d", i);
        struct pip_reserve_request req = duo_request(id, id);
        req.allocs = mem;
        req.nallocs = 1;
        held[i] = pip_store_reserve(s, &req, NULL, &err);
        if (!held[i])
            goto out;
    }
    int won = run_race("t_race_modify", RACERS, false, false, true, racers, CN_E_INSUFFICIENT);
    int insufficient = racers_with(racers, RACERS, CN_E_INSUFFICIENT), modified = -1;
    for (int i = 0; i < RACERS; i += 2)
        if (racers[i].code == CN_OK)
            modified = i;
    if (won != 1 || insufficient != RACERS - 1) {
        fprintf(stderr, "  %d won, %d insufficient\n", won, insufficient);
        goto out;
    }
    /* A winning modify gave its memory back; the losers still hold theirs. */
    double mem_held = RACERS / 2 - (modified >= 0 ? 1 : 0);
    if (used_of(s, "h1", "cpu") != 4 || used_of(s, "h2", "cpu") != 4 ||
        used_of(s, "h1", "memory") != mem_held)
        goto out;
    after = tables(s);
    if (!after || count_lines(after, "event\t") < 2)
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    for (int i = 0; i < RACERS; i++)
        pip_reservation_free(held[i]);
    free(after);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

static int
test_race_repeat(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = store_ready("t_race_repeat", false);
    struct pip_reservation *base = NULL;
    struct racer racers[RACERS];
    int ret = -1;

    CHECK(s);
    base = reserve_most(s, "base", &err);
    if (!base)
        goto out;
    /* A client repeating its request while the first is in flight gets the same answer. */
    int won = run_race("t_race_repeat", RACERS, false, true, false, racers, CN_OK);
    int fresh = 0;
    for (int i = 0; i < RACERS; i++)
        fresh += racers[i].code == CN_OK && !racers[i].existed;
    if (won != RACERS || fresh != 1) {
        fprintf(stderr, "  %d answered, %d made it\n", won, fresh);
        goto out;
    }
    if (used_of(s, "h1", "cpu") != 4 || used_of(s, "h2", "cpu") != 4)
        goto out;
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    pip_reservation_free(base);
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

static int
test_bad_connection(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct pip_store_config cfg = {.socket = "/nonexistent/mysql.sock", .database = "x"};
    int ret = -1;
    struct pip_store *s = pip_store_open(&cfg, &err);
    if (s || err.code != CN_E_DB)
        goto out;
    cn_err_clear(&err);
    cfg.socket = db.socket;
    cfg.database = "bad`name";
    s = pip_store_open(&cfg, &err);
    if (s || err.code != CN_E_INVALID)
        goto out;
    ret = 0;
out:
    pip_store_close(s);
    cn_err_release(&err);
    return ret;
}

int
main(void)
{
    if (test_db_start(&db) < 0) {
        printf("FAIL start a private MariaDB server\n");
        test_failed++;
        return test_summary();
    }
    TEST_RUN("schema on an empty database", test_schema_empty, NULL);
    TEST_RUN("schema upgrade from version 1", test_schema_upgrade, NULL);
    TEST_RUN("substrate load/dump round trip", test_substrate_roundtrip, NULL);
    TEST_RUN("reserve, renew, confirm, release, fail", test_lifecycle, NULL);
    TEST_RUN("lease expiry", test_expiry, NULL);
    TEST_RUN("idempotent reserve", test_idempotent, NULL);
    TEST_RUN("invalid input changes nothing", test_invalid, NULL);
    TEST_RUN("VLAN tags", test_vlans, NULL);
    TEST_RUN("substrate digest, brief reads, residual of a kept copy", test_kept_substrate, NULL);
    TEST_RUN("8 clients race for the last capacity", test_race_capacity, NULL);
    TEST_RUN("2 clients race for the last VLAN tag", test_race_vlan, NULL);
    TEST_RUN("8 clients repeat one request at once", test_race_repeat, NULL);
    TEST_RUN("modify: swap allocations, tags and documents", test_modify, NULL);
    TEST_RUN("4 modifies and 4 reserves race for the last capacity", test_race_modify, NULL);
    TEST_RUN("connection and name errors", test_bad_connection, NULL);
    test_db_stop(&db);
    return test_summary();
}
