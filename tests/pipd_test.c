/*
 * Black-box test of pipd: starts a private MariaDB and the real pipd binary
 * on a free loopback port, with a substrate of two KVM hosts served by the
 * libvirt test driver (test:///default, so no root is needed), and drives
 * it over XML-RPC with a tiny xmlrpc-c client: describe, negotiate, confirm,
 * status, start/stop, console, release, idempotent repeats, faults that
 * change nothing in the database, lease expiry, recovery after kill -9,
 * list, modify, a partial graph of a federated CloudNet that ends at a
 * transit link (docs/federation.md), and clients calling at once.
 *
 * h2's end of the transit link is a veth device in a network namespace of
 * this test's own (its name holds the PID), so the transit plugin's wire
 * device is real and can be looked at; that needs root.
 *
 * The test driver keeps its domains inside the pipd process, so what the
 * embedding holds is observed through status() (emb_status) and what the
 * store holds through pip_store_dump_tables.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#include "pip/store.h"
#include "rdl/rdl.h"
#include "tests/daemon-helper.h"
#include "tests/db-helper.h"
#include "tests/testlib.h"
#include "util/util.h"

#define SECRET "s3cret-peer-one"
#define SECRET2 "s3cret-peer-two"

static struct test_db db;
static char scratch[256];
static struct test_daemon pipd = {.name = "pipd"};
static char netns[64], trdev[16];
static xmlrpc_client *client;
static struct pip_store *store;

static const char substrate_yaml[] = "rdl: 1\n"
                                     "kind: underlay\n"
                                     "name: pip-test\n"
                                     "vlan_range: [100, 199]\n"
                                     "elements:\n"
                                     "  h1:\n"
                                     "    type: /node/host/server/kvm\n"
                                     "    resources: {cpu: 8, memory: 16384}\n"
                                     "    features: {arch: x86_64, location: DE}\n"
                                     "  h2:\n"
                                     "    type: /node/host/server/kvm\n"
                                     "    resources: {cpu: 8, memory: 16384}\n"
                                     "    features: {arch: x86_64, location: FR}\n"
                                     "  h1-h2:\n"
                                     "    type: /link/ethernet/vlan\n"
                                     "    resources: {bandwidth: 1000}\n"
                                     "    features: {latency: 1}\n"
                                     "  tr:\n"
                                     "    type: /link/transit\n"
                                     "    vlan_range: [150, 159]\n"
                                     "    resources: {bandwidth: 1000}\n"
                                     "    features: {latency: 5}\n"
                                     "  far:\n"
                                     "    type: /node/host/pip\n"
                                     "    features: {transit: tr, forwarding: false}\n"
                                     "interfaces:\n"
                                     "  - {between: [h1, h1-h2]}\n"
                                     "  - {between: [h1-h2, h2]}\n"
                                     "  - {between: [h2, tr]}\n"
                                     "  - {between: [tr, far]}\n";

/*
 * The partial graph a VNP sends for a CloudNet with one VNode here whose
 * link crosses transit link tr: the link with the tags the VNP chose, and
 * the stub for the far side. %d: the local tag.
 */
static const char span_fmt[] = "rdl: 1\n"
                               "kind: overlay\n"
                               "name: span\n"
                               "elements:\n"
                               "  vm:\n"
                               "    type: /node/host/generic\n"
                               "    resources: {cpu: 1, memory: 512}\n"
                               "    features: {image: debian-12}\n"
                               "  vm-far:\n"
                               "    type: /link/transit\n"
                               "    resources: {bandwidth: 10}\n"
                               "    features: {vlan: %d, wire_vlan: 3001}\n"
                               "  transit:tr:\n"
                               "    type: /node/host/pip\n"
                               "    features: {transit: tr}\n"
                               "interfaces:\n"
                               "  - {between: [vm, vm-far]}\n"
                               "  - {between: [vm-far, transit:tr]}\n";

/* shop with web-db at bw Mbit/s and the extra elements and interfaces given. */
static char *
shop_yaml(int bw, const char *elements, const char *interfaces)
{
    return xasprintf("rdl: 1\n"
                     "kind: overlay\n"
                     "name: shop\n"
                     "elements:\n"
                     "  web:\n"
                     "    type: /node/host/generic\n"
                     "    resources: {cpu: 2, memory: 2048}\n"
                     "    features: {image: debian-12}\n"
                     "  db:\n"
                     "    type: /node/host/generic\n"
                     "    resources: {cpu: 2, memory: 4096}\n"
                     "    features: {image: debian-12}\n"
                     "  web-db:\n"
                     "    type: /link/generic\n"
                     "    resources: {bandwidth: %d}\n"
                     "%s"
                     "interfaces:\n"
                     "  - {between: [web, web-db]}\n"
                     "  - {between: [web-db, db]}\n"
                     "%s",
                     bw, elements, interfaces);
}

/*
 * shop_yaml(100, "", ""), made in setup: both VNodes fit one host, so the
 * cost objective keeps the VLink inside it.
 */
static char *overlay_yaml;

static const char small_yaml[] = "rdl: 1\n"
                                 "kind: overlay\n"
                                 "name: small\n"
                                 "elements:\n"
                                 "  vm:\n"
                                 "    type: /node/host/generic\n"
                                 "    resources: {cpu: 1, memory: 512}\n"
                                 "    features: {image: debian-12}\n";

static const char huge_yaml[] = "rdl: 1\n"
                                "kind: overlay\n"
                                "name: huge\n"
                                "elements:\n"
                                "  vm:\n"
                                "    type: /node/host/generic\n"
                                "    resources: {cpu: 100, memory: 512}\n"
                                "    features: {image: debian-12}\n";

static const char bad_yaml[] = "rdl: 1\n"
                               "kind: overlay\n"
                               "name: bad\n"
                               "elements:\n"
                               "  vm:\n"
                               "    type: /nodes/???\n"
                               "    resources: {cpu: [oops\n";

/* ---- plumbing ---- */

/*
 * Calls a method; returns the result (caller DECREFs) or NULL with the fault
 * code in *ret_fault and its message in ret_msg (when not NULL).
 */
static xmlrpc_value *
call(const char *method, int *ret_fault, struct cn_buf *ret_msg, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    xmlrpc_value *result =
        test_xmlrpc_callv(client, pipd.url, method, ret_fault, msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!result && ret_msg) {
        cn_buf_reset(ret_msg);
        cn_buf_puts(ret_msg, msg);
    }
    return result;
}

/* A string member of a struct, copied into buf (empty when missing). */
static const char *
member(xmlrpc_value *st, const char *key, char *buf, size_t size)
{
    xmlrpc_env env;
    xmlrpc_value *v = NULL;
    const char *s = NULL;
    buf[0] = '\0';
    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, st, key, &v);
    if (!env.fault_occurred && v) {
        xmlrpc_read_string(&env, v, &s);
        if (!env.fault_occurred) {
            snprintf(buf, size, "%s", s);
            free((void *)(uintptr_t)s);
        }
        xmlrpc_DECREF(v);
    }
    xmlrpc_env_clean(&env);
    return buf;
}

/* Calls method(SECRET, id); the state it answers into buf, or "fault N". */
static const char *
answer_state(const char *method, const char *id, char *buf, size_t size)
{
    int fault;
    xmlrpc_value *r = call(method, &fault, NULL, "(ss)", SECRET, id);
    if (!r) {
        snprintf(buf, size, "fault %d", fault);
        return buf;
    }
    member(r, "state", buf, size);
    xmlrpc_DECREF(r);
    return buf;
}

static const char *
state_of(const char *id, char *buf, size_t size)
{
    return answer_state("status", id, buf, size);
}

/* Calls method(SECRET, id); whether it succeeded (the fault on stderr otherwise). */
static bool
call_ok(const char *method, const char *id)
{
    int fault;
    xmlrpc_value *r = call(method, &fault, NULL, "(ss)", SECRET, id);
    if (!r) {
        fprintf(stderr, "  %s %s: fault %d\n", method, id, fault);
        return false;
    }
    xmlrpc_DECREF(r);
    return true;
}

/* The operational state of one element from status(). */
static const char *
element_state(const char *id, const char *element, char *buf, size_t size)
{
    int fault;
    xmlrpc_env env;
    xmlrpc_value *els = NULL;
    xmlrpc_value *r = call("status", &fault, NULL, "(ss)", SECRET, id);
    buf[0] = '\0';
    if (!r)
        return buf;
    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, r, "elements", &els);
    if (els) {
        member(els, element, buf, size);
        xmlrpc_DECREF(els);
    }
    xmlrpc_env_clean(&env);
    xmlrpc_DECREF(r);
    return buf;
}

static char *
dump(void)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    if (pip_store_dump_tables(store, &b, &err) < 0) {
        fprintf(stderr, "  dump: %s\n", cn_err_msg(&err));
        cn_buf_puts(&b, "dump failed");
    }
    cn_err_release(&err);
    return cn_buf_detach(&b);
}

/* ---- cases ---- */

static int
test_describe(const void *data)
{
    int fault;
    xmlrpc_env env;
    xmlrpc_value *r, *res = NULL, *cpu = NULL;
    double free_cpu = 0;
    char buf[128];
    (void)data;

    r = call("describe", &fault, NULL, "(s)", SECRET);
    CHECK(r);
    CHECK_STR(member(r, "name", buf, sizeof(buf)), "pip-test-daemon");
    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, r, "resources", &res);
    CHECK(res);
    xmlrpc_struct_find_value(&env, res, "cpu", &cpu);
    CHECK(cpu);
    xmlrpc_read_double(&env, cpu, &free_cpu);
    CHECK(!env.fault_occurred);
    CHECK(free_cpu == 16);
    xmlrpc_DECREF(cpu);
    xmlrpc_DECREF(res);
    xmlrpc_DECREF(r);
    xmlrpc_env_clean(&env);

    CHECK(call("describe", &fault, NULL, "(s)", "wrong-secret") == NULL);
    CHECK(fault == 2);
    return 0;
}

static int
test_negotiate(const void *data)
{
    int fault;
    char buf[64], again[64];
    struct cn_buf manifest = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    (void)data;

    xmlrpc_value *r = call("negotiate", &fault, NULL, "(sssi)", SECRET, "shop1", overlay_yaml, 60);
    CHECK(r);
    CHECK_STR(member(r, "state", buf, sizeof(buf)), "allocated");
    char *ml = xmalloc(65536);
    member(r, "manifest_yaml", ml, 65536);
    xmlrpc_DECREF(r);
    struct rdl_graph *g = rdl_read_string("manifest", ml, strlen(ml), &err);
    if (!g)
        fprintf(stderr, "  manifest: %s\n%s\n", cn_err_msg(&err), ml);
    CHECK(g);
    CHECK(rdl_graph_kind(g) == RDL_MAPPING);
    CHECK(rdl_mapping_count(g) == 3);
    CHECK(rdl_map_entry_vlan(rdl_mapping_get(g, "web-db")) >= 100);
    CHECK(rdl_map_entry_vlan(rdl_mapping_get(g, "web-db")) <= 199);
    rdl_graph_free(g);

    /* A repeat gives the same manifest and state. */
    r = call("negotiate", &fault, NULL, "(sssi)", SECRET, "shop1", overlay_yaml, 60);
    CHECK(r);
    CHECK_STR(member(r, "state", again, sizeof(again)), "allocated");
    member(r, "manifest_yaml", buf, sizeof(buf));
    cn_buf_puts(&manifest, ml);
    char *ml2 = xmalloc(65536);
    member(r, "manifest_yaml", ml2, 65536);
    xmlrpc_DECREF(r);
    CHECK_STR(ml2, ml);
    free(ml);
    free(ml2);
    cn_buf_release(&manifest);
    cn_err_release(&err);

    CHECK_STR(element_state("shop1", "web", buf, sizeof(buf)), "defined");
    /* renew grants up to max-lease (600 s). */
    r = call("renew", &fault, NULL, "(ssi)", SECRET, "shop1", 100000);
    CHECK(r);
    xmlrpc_env env;
    xmlrpc_value *exp = NULL;
    int expires = 0;
    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, r, "expires", &exp);
    CHECK(exp);
    xmlrpc_read_int(&env, exp, &expires);
    xmlrpc_DECREF(exp);
    xmlrpc_DECREF(r);
    xmlrpc_env_clean(&env);
    long long now = (long long)time(NULL);
    CHECK(expires >= now + 590 && expires <= now + 610);
    CHECK(call("renew", &fault, NULL, "(ssi)", SECRET, "shop1", 0) == NULL);
    CHECK(fault == 1);
    /* Another peer may not look at it. */
    CHECK(call("status", &fault, NULL, "(ss)", SECRET2, "shop1") == NULL);
    CHECK(fault == 2);
    return 0;
}

static int
test_confirm_and_power(const void *data)
{
    int fault;
    char buf[128];
    xmlrpc_value *r;
    (void)data;

    CHECK(call("start", &fault, NULL, "(ss)", SECRET, "shop1") == NULL);
    CHECK(fault == 1);
    CHECK_STR(answer_state("confirm", "shop1", buf, sizeof(buf)), "provisioned");
    CHECK(call_ok("confirm", "shop1"));
    CHECK_STR(state_of("shop1", buf, sizeof(buf)), "provisioned");

    CHECK(call_ok("start", "shop1"));
    CHECK_STR(element_state("shop1", "web", buf, sizeof(buf)), "running");
    CHECK_STR(element_state("shop1", "db", buf, sizeof(buf)), "running");
    r = call("stop", &fault, NULL, "(ss(s))", SECRET, "shop1", "db");
    CHECK(r);
    xmlrpc_DECREF(r);
    CHECK_STR(element_state("shop1", "web", buf, sizeof(buf)), "running");
    CHECK_STR(element_state("shop1", "db", buf, sizeof(buf)), "defined");
    r = call("powercycle", &fault, NULL, "(ss(s))", SECRET, "shop1", "db");
    CHECK(r);
    xmlrpc_DECREF(r);
    CHECK_STR(element_state("shop1", "db", buf, sizeof(buf)), "running");
    CHECK(call("start", &fault, NULL, "(ss(s))", SECRET, "shop1", "nosuch") == NULL);
    CHECK(fault == 3);

    r = call("console", &fault, NULL, "(sss)", SECRET, "shop1", "web");
    CHECK(r);
    const char *s = NULL;
    xmlrpc_env env;
    xmlrpc_env_init(&env);
    xmlrpc_read_string(&env, r, &s);
    CHECK(s);
    CHECK_STR(s, "test:///default#cn-shop1-web");
    free((void *)(uintptr_t)s);
    xmlrpc_DECREF(r);
    xmlrpc_env_clean(&env);
    return 0;
}

static int
test_faults_change_nothing(const void *data)
{
    int fault;
    struct cn_buf msg = CN_BUF_INIT;
    char *before = dump(), *after;
    (void)data;

    CHECK(call("negotiate", &fault, &msg, "(sssi)", "wrong", "x1", small_yaml, 60) == NULL);
    CHECK(fault == 2);
    CHECK(call("release", &fault, &msg, "(ss)", SECRET2, "shop1") == NULL);
    CHECK(fault == 2);
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET, "bad1", bad_yaml, 60) == NULL);
    CHECK(fault == 1);
    /* FILE:LINE:COLUMN, the request's id standing for the file. */
    /* The client library puts "RPC failed at server." before the fault string. */
    const char *where = strstr(msg.s, "bad1:");
    int line = 0, col = 0;
    CHECK(where);
    CHECK(sscanf(where, "bad1:%d:%d:", &line, &col) == 2 && line > 0 && col > 0);
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET, "huge", huge_yaml, 60) == NULL);
    CHECK(fault == 6 || fault == 8);
    CHECK(call("confirm", &fault, &msg, "(ss)", SECRET, "nosuch") == NULL);
    CHECK(fault == 3);
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET, "-bad id", small_yaml, 60) == NULL);
    CHECK(fault == 1);
    CHECK(call("negotiate", &fault, &msg, "(sss)", SECRET, "x2", small_yaml) == NULL);
    CHECK(fault == 1);
    /* The same id with another request. */
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET, "shop1", small_yaml, 60) == NULL);
    CHECK(fault == 1);
    CHECK(call("modify", &fault, &msg, "(sss)", SECRET, "shop1", bad_yaml) == NULL);
    CHECK(fault == 1);
    CHECK(call("modify", &fault, &msg, "(sss)", SECRET2, "shop1", small_yaml) == NULL);
    CHECK(fault == 2);
    CHECK(call("modify", &fault, &msg, "(sss)", SECRET, "nosuch", small_yaml) == NULL);
    CHECK(fault == 3);
    CHECK(call("modify", &fault, &msg, "(ss)", SECRET, "shop1") == NULL);
    CHECK(fault == 1);
    /* Above max-request (65536 bytes): refused before parsing. */
    struct cn_buf big = CN_BUF_INIT;
    cn_buf_puts(&big, small_yaml);
    while (big.len <= 65536)
        cn_buf_puts(&big, "# padding padding padding padding padding padding padding\n");
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET, "big", big.s, 60) == NULL);
    cn_buf_release(&big);
    CHECK(fault == 10);
    after = dump();
    if (strcmp(before, after) != 0)
        fprintf(stderr, "  before:\n%s\n  after:\n%s\n", before, after);
    CHECK(strcmp(before, after) == 0);
    free(before);
    free(after);
    cn_buf_release(&msg);
    return 0;
}

static int
test_release(const void *data)
{
    char buf[64];
    (void)data;

    CHECK_STR(answer_state("release", "shop1", buf, sizeof(buf)), "released");
    CHECK(call_ok("release", "shop1"));
    CHECK_STR(element_state("shop1", "web", buf, sizeof(buf)), "absent");
    char *d = dump();
    /* No allocation or VLAN row of shop1 is left. */
    for (char *line = strtok(d, "\n"); line; line = strtok(NULL, "\n"))
        CHECK(!(strstr(line, "shop1") &&
                (cn_startswith(line, "allocation") || cn_startswith(line, "vlan"))));
    free(d);
    struct pip_usage *u = NULL;
    size_t n = 0;
    struct cn_err err = CN_ERR_INIT;
    CHECK(pip_store_usage(store, &u, &n, &err) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(u[i].used == 0);
    pip_usage_free(u, n);
    return 0;
}

/* The manifest of a result, parsed, or NULL. */
static struct rdl_graph *
manifest_of(xmlrpc_value *r)
{
    struct cn_err err = CN_ERR_INIT;
    char *ml = xmalloc(65536);
    member(r, "manifest_yaml", ml, 65536);
    struct rdl_graph *g = *ml ? rdl_read_string("manifest", ml, strlen(ml), &err) : NULL;
    if (!g)
        fprintf(stderr, "  manifest: %s\n%s\n", cn_err_msg(&err), ml);
    free(ml);
    cn_err_release(&err);
    return g;
}

/* The manifest status() answers for id, parsed, or NULL. */
static struct rdl_graph *
status_manifest(const char *id)
{
    int fault;
    xmlrpc_value *r = call("status", &fault, NULL, "(ss)", SECRET, id);
    if (!r)
        return NULL;
    struct rdl_graph *g = manifest_of(r);
    xmlrpc_DECREF(r);
    return g;
}

/* The allocation and VLAN rows of the store, and the reservation documents. */
static char *
holdings(void)
{
    struct cn_buf b = CN_BUF_INIT;
    char *d = dump();
    for (char *line = strtok(d, "\n"); line; line = strtok(NULL, "\n"))
        if (cn_startswith(line, "allocation") || cn_startswith(line, "vlan"))
            cn_buf_printf(&b, "%s\n", line);
    free(d);
    struct pip_reservation *items = NULL;
    size_t n = 0;
    struct cn_err err = CN_ERR_INIT;
    if (pip_store_list(store, PIP_LIST_ALL, &items, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            struct pip_reservation *r = pip_store_get(store, items[i].id, &err);
            if (r)
                cn_buf_printf(&b, "%s %s %lld\n%s\n%s\n", r->id, pip_state_name(r->state),
                              r->expires_at, r->overlay_yaml, r->mapping_yaml);
            pip_reservation_free(r);
        }
    }
    pip_reservations_free(items, n);
    cn_err_release(&err);
    return cn_buf_detach(&b);
}

/* ---- concurrent calls ---- */

#define RACERS 8

static const char par_yaml[] = "rdl: 1\n"
                               "kind: overlay\n"
                               "name: par\n"
                               "elements:\n"
                               "  vm:\n"
                               "    type: /node/host/generic\n"
                               "    resources: {cpu: 3, memory: 512}\n"
                               "    features: {image: debian-12}\n";

struct racer {
    pthread_t thread;
    pthread_barrier_t *start;
    const char *method; /* "negotiate" or "release" */
    const char *yaml;
    char id[64];
    int fault;
    char *manifest;
};

/* One client of its own (an xmlrpc-c client is not shared between threads) and one call. */
static void *
race(void *arg)
{
    struct racer *me = arg;
    xmlrpc_client *c = test_xmlrpc_client("pipd_test");
    xmlrpc_value *r = NULL;
    int fault = -1;

    pthread_barrier_wait(me->start);
    if (c && me->yaml)
        r = test_xmlrpc_call(c, pipd.url, me->method, &fault, NULL, 0, "(sssi)", SECRET, me->id,
                             me->yaml, 600);
    else if (c)
        r = test_xmlrpc_call(c, pipd.url, me->method, &fault, NULL, 0, "(ss)", SECRET, me->id);
    me->fault = !r && fault == 0 ? -1 : fault;
    if (r) {
        char *ml = xmalloc(65536);
        me->manifest = xstrdup(member(r, "manifest_yaml", ml, 65536));
        free(ml);
        xmlrpc_DECREF(r);
    }
    if (c)
        xmlrpc_client_destroy(c);
    return NULL;
}

/* Runs n racers at once; ids are prefix-N, or prefix alone when same. */
static void
run_race(struct racer *rs, int n, const char *method, const char *prefix, bool same,
         const char *yaml)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        free(rs[i].manifest);
        rs[i] = (struct racer){.start = &start, .method = method, .yaml = yaml};
        if (same)
            snprintf(rs[i].id, sizeof(rs[i].id), "%s", prefix);
        else
            snprintf(rs[i].id, sizeof(rs[i].id), "%s-%d", prefix, i);
        pthread_create(&rs[i].thread, NULL, race, &rs[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(rs[i].thread, NULL);
    pthread_barrier_destroy(&start);
}

static double
used_of(const char *element, const char *resource)
{
    struct pip_usage *u = NULL;
    size_t n = 0;
    double used = -1;
    struct cn_err err = CN_ERR_INIT;
    if (pip_store_usage(store, &u, &n, &err) == 0)
        for (size_t i = 0; i < n; i++)
            if (cn_streq(u[i].element, element) && cn_streq(u[i].resource, resource))
                used = u[i].used;
    pip_usage_free(u, n);
    cn_err_release(&err);
    return used;
}

static int
count_prefix(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *p = text; p && *p;) {
        if (cn_startswith(p, prefix))
            n++;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return n;
}

/*
 * Eight clients negotiate at once for four CloudNets' worth of cpu (3 of 8
 * on each of two hosts): calls run side by side in pipd, and the store
 * still never books a host beyond its capacity; the losers get fault 6 or
 * 8. Eight clients negotiating one id at once get one reservation and the
 * same manifest. Concurrent releases free everything.
 */
static int
test_concurrent(const void *data)
{
    (void)data;
    static struct racer rs[RACERS];
    int won = 0, ret = -1;
    char line[128];
    char *d = NULL;

    CHECK(used_of("h1", "cpu") == 0 && used_of("h2", "cpu") == 0);
    run_race(rs, RACERS, "negotiate", "par", false, par_yaml);
    for (int i = 0; i < RACERS; i++) {
        if (rs[i].fault == 0)
            won++;
        else if (rs[i].fault != 6 && rs[i].fault != 8)
            fprintf(stderr, "  %s: fault %d\n", rs[i].id, rs[i].fault);
        CHECK(rs[i].fault == 0 || rs[i].fault == 6 || rs[i].fault == 8);
    }
    CHECK(won >= 1 && won <= 4);
    CHECK(used_of("h1", "cpu") <= 8 && used_of("h2", "cpu") <= 8);
    CHECK(used_of("h1", "cpu") + used_of("h2", "cpu") == 3.0 * won);
    d = dump();
    CHECK(count_prefix(d, "reservation\tpar-") == won);
    free(d);
    d = NULL;

    /* One id from every client at once: one reservation, one answer. */
    static struct racer same[RACERS];
    run_race(same, RACERS, "negotiate", "par-same", true, small_yaml);
    for (int i = 0; i < RACERS; i++) {
        CHECK(same[i].fault == 0);
        CHECK(same[i].manifest && *same[i].manifest);
        CHECK_STR(same[i].manifest, same[0].manifest);
    }
    d = dump();
    CHECK(count_prefix(d, "reservation\tpar-same\t") == 1);
    int reserves = 0;
    for (char *l = strtok(d, "\n"); l; l = strtok(NULL, "\n"))
        reserves += cn_startswith(l, "event\t") && strstr(l, "\tpar-same\treserve\t") != NULL;
    CHECK(reserves == 1);
    free(d);
    d = NULL;
    CHECK_STR(state_of("par-same", line, sizeof(line)), "allocated");

    /* The winners and par-same released at once. */
    static struct racer rel[RACERS + 1];
    int nrel = 0;
    for (int i = 0; i < RACERS; i++)
        if (rs[i].fault == 0)
            snprintf(rel[nrel++].id, sizeof(rel[0].id), "%s", rs[i].id);
    snprintf(rel[nrel++].id, sizeof(rel[0].id), "par-same");
    {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)nrel);
        for (int i = 0; i < nrel; i++) {
            rel[i].start = &start;
            rel[i].method = "release";
            rel[i].yaml = NULL;
            pthread_create(&rel[i].thread, NULL, race, &rel[i]);
        }
        for (int i = 0; i < nrel; i++)
            pthread_join(rel[i].thread, NULL);
        pthread_barrier_destroy(&start);
    }
    for (int i = 0; i < nrel; i++) {
        CHECK(rel[i].fault == 0);
        CHECK_STR(state_of(rel[i].id, line, sizeof(line)), "released");
        CHECK_STR(element_state(rel[i].id, "vm", line, sizeof(line)), "absent");
    }
    CHECK(used_of("h1", "cpu") == 0 && used_of("h2", "cpu") == 0);
    ret = 0;
    for (int i = 0; i < RACERS; i++) {
        free(rs[i].manifest);
        free(same[i].manifest);
        rs[i].manifest = same[i].manifest = NULL;
    }
    for (int i = 0; i < nrel; i++) {
        free(rel[i].manifest);
        rel[i].manifest = NULL;
    }
    return ret;
}

static const char big_yaml[] = "rdl: 1\n"
                               "kind: overlay\n"
                               "name: big\n"
                               "elements:\n"
                               "  vm:\n"
                               "    type: /node/host/generic\n"
                               "    resources: {cpu: 10, memory: 512}\n"
                               "    features: {image: debian-12}\n";

/* Whether describe() offers value for feature name. */
static bool
offers(const char *name, const char *value)
{
    int fault;
    bool found = false;
    xmlrpc_env env;
    xmlrpc_value *r = call("describe", &fault, NULL, "(s)", SECRET), *fs = NULL, *vs = NULL;
    if (!r)
        return false;
    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, r, "features", &fs);
    if (fs)
        xmlrpc_struct_find_value(&env, fs, name, &vs);
    for (int i = 0; vs && i < xmlrpc_array_size(&env, vs) && !found; i++) {
        xmlrpc_value *v = NULL;
        const char *s = NULL;
        xmlrpc_array_read_item(&env, vs, i, &v);
        if (v && (xmlrpc_read_string(&env, v, &s), !env.fault_occurred)) {
            found = cn_streq(s, value);
            free((void *)(uintptr_t)s);
        }
        if (v)
            xmlrpc_DECREF(v);
    }
    if (vs)
        xmlrpc_DECREF(vs);
    if (fs)
        xmlrpc_DECREF(fs);
    xmlrpc_DECREF(r);
    xmlrpc_env_clean(&env);
    return found;
}

/* Loads substrate_yaml with h1's cpu and location replaced, through the store as pipctl does. */
static int
load_variant(int cpu, const char *location)
{
    char *text = xstrdup(substrate_yaml);
    char *h1 = strstr(text, "{cpu: 8, memory: 16384}\n    features: {arch: x86_64, location: DE}");
    struct cn_err err = CN_ERR_INIT;
    struct cn_buf b = CN_BUF_INIT;
    int ret = -1;
    if (h1) {
        *h1 = '\0';
        cn_buf_printf(&b,
                      "%s{cpu: %d, memory: 16384}\n    features: {arch: x86_64, location: %s}%s",
                      text, cpu, location,
                      h1 + strlen("{cpu: 8, memory: 16384}\n    features: "
                                  "{arch: x86_64, location: DE}"));
        struct rdl_graph *ul = rdl_read_string("variant", b.s, b.len, &err);
        ret = ul ? pip_store_load_substrate(store, ul, &err) : -1;
        rdl_graph_free(ul);
    }
    if (ret < 0)
        fprintf(stderr, "  load_variant: %s\n", cn_err_msg(&err));
    free(text);
    cn_buf_release(&b);
    cn_err_release(&err);
    return ret;
}

/*
 * pipd keeps the substrate it parsed, and notices when another process
 * (pipctl load-substrate) replaces it: mapping and describe() use the new
 * one from the next call on.
 */
static int
test_substrate_replaced(const void *data)
{
    (void)data;
    int fault;
    char buf[64];
    xmlrpc_value *r;

    /* The kept substrate: 10 cpus fit nowhere. */
    r = call("negotiate", &fault, NULL, "(sssi)", SECRET, "big-1", big_yaml, 60);
    CHECK(!r && fault == 8);
    CHECK(offers("location", "DE") && !offers("location", "XX"));
    CHECK(load_variant(12, "XX") == 0);
    r = call("negotiate", &fault, NULL, "(sssi)", SECRET, "big-2", big_yaml, 60);
    CHECK(r);
    xmlrpc_DECREF(r);
    CHECK(used_of("h1", "cpu") == 10);
    CHECK(offers("location", "XX") && !offers("location", "DE"));
    CHECK(call_ok("release", "big-2"));
    CHECK_STR(state_of("big-2", buf, sizeof(buf)), "released");
    /* And back: 10 cpus fit nowhere again. */
    CHECK(load_variant(8, "DE") == 0);
    r = call("negotiate", &fault, NULL, "(sssi)", SECRET, "big-3", big_yaml, 60);
    CHECK(!r && fault == 8);
    CHECK(!offers("location", "XX"));
    return 0;
}

static int
test_list(const void *data)
{
    int fault;
    xmlrpc_env env;
    xmlrpc_value *r, *item = NULL;
    char id[64], state[64];
    bool seen = false;
    (void)data;

    r = call("negotiate", &fault, NULL, "(sssi)", SECRET2, "theirs", small_yaml, 60);
    CHECK(r);
    xmlrpc_DECREF(r);
    r = call("list", &fault, NULL, "(s)", SECRET);
    CHECK(r);
    xmlrpc_env_init(&env);
    int n = xmlrpc_array_size(&env, r);
    CHECK(n >= 1);
    for (int i = 0; i < n; i++) {
        xmlrpc_array_read_item(&env, r, i, &item);
        CHECK(item);
        member(item, "id", id, sizeof(id));
        member(item, "state", state, sizeof(state));
        CHECK(!cn_streq(id, "theirs"));
        if (cn_streq(id, "shop1")) {
            seen = true;
            CHECK_STR(state, "released");
        }
        xmlrpc_DECREF(item);
    }
    CHECK(seen);
    xmlrpc_DECREF(r);
    r = call("list", &fault, NULL, "(s)", SECRET2);
    CHECK(r);
    CHECK(xmlrpc_array_size(&env, r) == 1);
    xmlrpc_array_read_item(&env, r, 0, &item);
    CHECK_STR(member(item, "id", id, sizeof(id)), "theirs");
    CHECK_STR(member(item, "state", state, sizeof(state)), "allocated");
    xmlrpc_value *exp = NULL;
    int expires = 0;
    xmlrpc_struct_find_value(&env, item, "expires", &exp);
    CHECK(exp);
    xmlrpc_read_int(&env, exp, &expires);
    xmlrpc_DECREF(exp);
    CHECK(expires > time(NULL));
    xmlrpc_DECREF(item);
    xmlrpc_DECREF(r);
    xmlrpc_env_clean(&env);
    CHECK(call("list", &fault, NULL, "(s)", "wrong-secret") == NULL);
    CHECK(fault == 2);
    CHECK(call("list", &fault, NULL, "(ss)", SECRET, "extra") == NULL);
    CHECK(fault == 1);
    r = call("release", &fault, NULL, "(ss)", SECRET2, "theirs");
    CHECK(r);
    xmlrpc_DECREF(r);
    return 0;
}

/* A partial graph ending at transit link tr: the VNP's tag, the stub on the border node. */
static int
test_transit(const void *data)
{
    int fault;
    char buf[64], out[8192], cmd[256];
    struct cn_buf msg = CN_BUF_INIT;
    char *span = xasprintf(span_fmt, 152);
    (void)data;

    xmlrpc_value *r = call("negotiate", &fault, &msg, "(sssi)", SECRET, "span1", span, 60);
    if (!r)
        fprintf(stderr, "  fault %d: %s\n", fault, msg.s);
    CHECK(r);
    struct rdl_graph *ml = manifest_of(r);
    xmlrpc_DECREF(r);
    CHECK(ml);
    const struct rdl_map_entry *stub = rdl_mapping_get(ml, "transit:tr");
    const struct rdl_map_entry *link = rdl_mapping_get(ml, "vm-far");
    CHECK(stub && link);
    CHECK_STR(rdl_map_entry_to(stub), "far");
    CHECK(rdl_map_entry_vlan(link) == 152);
    CHECK(rdl_props_number(rdl_map_entry_features(link), "wire_vlan", 0) == 3001);
    size_t len = rdl_map_entry_path_len(link);
    CHECK(len >= 3);
    CHECK_STR(rdl_map_entry_path_at(link, len - 2), "tr");
    CHECK_STR(rdl_map_entry_path_at(link, len - 1), "far");
    CHECK_STR(rdl_map_entry_to(rdl_mapping_get(ml, "vm")), "h2");
    rdl_graph_free(ml);
    CHECK_STR(element_state("span1", "transit:tr", buf, sizeof(buf)), "remote");
    /* The wire device on the border port carries the wire tag (VXLAN: as its VNI). */
    snprintf(cmd, sizeof(cmd), "ip -n %s -d link show 2>&1", netns);
    CHECK(strstr(test_shell_output(cmd, out, sizeof(out)), "vxlan id 3001 "));
    /* The stub reserves nothing; the link's bandwidth is taken on tr. */
    char *d = dump();
    CHECK(!strstr(d, "allocation\tspan1\tfar\t"));
    CHECK(strstr(d, "allocation\tspan1\ttr\tbandwidth\t10"));
    free(d);

    /* A tag that is taken, or outside tr's range: fault 7, nothing changes. */
    char *before = dump();
    free(span);
    span = xasprintf(span_fmt, 152);
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET, "span2", span, 60) == NULL);
    CHECK(fault == 7);
    free(span);
    span = xasprintf(span_fmt, 170);
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET, "span3", span, 60) == NULL);
    CHECK(fault == 7);
    free(span);
    span = xasprintf(span_fmt, 5000);
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET, "span4", span, 60) == NULL);
    CHECK(fault == 1);
    char *after = dump();
    CHECK(strcmp(before, after) == 0);
    free(before);
    free(after);

    CHECK(call_ok("release", "span1"));
    CHECK(!strstr(test_shell_output(cmd, out, sizeof(out)), "vxlan id 3001 "));
    free(span);
    cn_buf_release(&msg);
    return 0;
}

static const char cache_el[] = "  cache:\n"
                               "    type: /node/host/generic\n"
                               "    resources: {cpu: 1, memory: 512}\n"
                               "    features: {image: debian-12}\n"
                               "  web-cache:\n"
                               "    type: /link/generic\n"
                               "    resources: {bandwidth: 10}\n";
static const char cache_if[] = "  - {between: [web, web-cache]}\n"
                               "  - {between: [web-cache, cache]}\n";

/* A VNode of its own; %s: its image. */
static const char spare_fmt[] = "  spare:\n"
                                "    type: /node/host/generic\n"
                                "    resources: {cpu: 1, memory: 512}\n"
                                "    features: {image: %s}\n";

/* Modify and check the answer; the manifest is the caller's. */
static struct rdl_graph *
modify_ok(const char *id, const char *yaml, const char *want_state)
{
    int fault;
    char buf[64];
    struct cn_buf msg = CN_BUF_INIT;
    xmlrpc_value *r = call("modify", &fault, &msg, "(sss)", SECRET, id, yaml);
    struct rdl_graph *ml = NULL;
    if (!r) {
        fprintf(stderr, "  modify: fault %d: %s\n", fault, msg.s);
    } else {
        if (cn_streq(member(r, "state", buf, sizeof(buf)), want_state))
            ml = manifest_of(r);
        else
            fprintf(stderr, "  modify: state %s, not %s\n", buf, want_state);
        xmlrpc_DECREF(r);
    }
    cn_buf_release(&msg);
    return ml;
}

static const char *
host_of(const struct rdl_graph *ml, const char *id)
{
    const struct rdl_map_entry *m = ml ? rdl_mapping_get(ml, id) : NULL;
    return m && rdl_map_entry_to(m) ? rdl_map_entry_to(m) : "";
}

static int
tag_in(const struct rdl_graph *ml, const char *id)
{
    const struct rdl_map_entry *m = ml ? rdl_mapping_get(ml, id) : NULL;
    return m ? rdl_map_entry_vlan(m) : -1;
}

static int
test_modify(const void *data)
{
    int fault;
    char buf[64], web_host[64], db_host[64];
    struct cn_buf msg = CN_BUF_INIT;
    char *base = shop_yaml(100, "", ""), *wider = shop_yaml(200, "", "");
    char *more = shop_yaml(200, cache_el, cache_if);
    char *bad_spare = NULL, *spare = NULL, *faulty[5] = {NULL};
    struct rdl_graph *ml = NULL, *again = NULL;
    (void)data;

    xmlrpc_value *r = call("negotiate", &fault, NULL, "(sssi)", SECRET, "mod1", base, 300);
    CHECK(r);
    int expires = 0;
    {
        xmlrpc_env env;
        xmlrpc_value *exp = NULL;
        xmlrpc_env_init(&env);
        xmlrpc_struct_find_value(&env, r, "expires", &exp);
        CHECK(exp);
        xmlrpc_read_int(&env, exp, &expires);
        xmlrpc_DECREF(exp);
        xmlrpc_env_clean(&env);
    }
    ml = manifest_of(r);
    xmlrpc_DECREF(r);
    CHECK(ml);
    snprintf(web_host, sizeof(web_host), "%s", host_of(ml, "web"));
    snprintf(db_host, sizeof(db_host), "%s", host_of(ml, "db"));
    int tag = tag_in(ml, "web-db");
    rdl_graph_free(ml);

    /* More bandwidth: same hosts, same tag, same lease; a repeat answers the same. */
    ml = modify_ok("mod1", wider, "allocated");
    CHECK(ml);
    CHECK(rdl_props_number(rdl_map_entry_resources(rdl_mapping_get(ml, "web-db")), "bandwidth",
                           0) == 200);
    CHECK_STR(host_of(ml, "web"), web_host);
    CHECK(tag_in(ml, "web-db") == tag);
    again = modify_ok("mod1", wider, "allocated");
    CHECK(again && rdl_graph_equal(ml, again));
    rdl_graph_free(again);
    rdl_graph_free(ml);
    struct cn_err err = CN_ERR_INIT;
    struct pip_reservation *pr = pip_store_get(store, "mod1", &err);
    CHECK(pr && pr->expires_at == expires);
    pip_reservation_free(pr);
    CHECK_STR(element_state("mod1", "web", buf, sizeof(buf)), "defined");

    /* A VNode and a link more: the old ones stay where they are. */
    ml = modify_ok("mod1", more, "allocated");
    CHECK(ml);
    CHECK(rdl_mapping_count(ml) == 5);
    CHECK_STR(host_of(ml, "web"), web_host);
    CHECK_STR(host_of(ml, "db"), db_host);
    CHECK(tag_in(ml, "web-db") == tag);
    CHECK(tag_in(ml, "web-cache") >= 100 && tag_in(ml, "web-cache") != tag);
    rdl_graph_free(ml);
    CHECK_STR(element_state("mod1", "cache", buf, sizeof(buf)), "defined");
    ml = status_manifest("mod1");
    CHECK(ml && rdl_mapping_count(ml) == 5);
    rdl_graph_free(ml);

    /* Failures change nothing, neither the store nor the embedding. */
    char *before = holdings();
    faulty[0] = xstrdup(bad_yaml);
    faulty[1] =
        shop_yaml(200, "  big:\n    type: /node/host/generic\n    resources: {cpu: 100}\n", "");
    faulty[2] = shop_yaml(
        200, "  fat:\n    type: /node/host/generic\n    resources: {memory: 20000}\n", "");
    faulty[3] = shop_yaml(200,
                          "  x-far:\n    type: /link/transit\n    resources: {bandwidth: 1}\n"
                          "    features: {vlan: 170}\n"
                          "  transit:tr:\n    type: /node/host/pip\n    features: {transit: tr}\n",
                          "  - {between: [db, x-far]}\n  - {between: [x-far, transit:tr]}\n");
    bad_spare = xasprintf(spare_fmt, "nosuch-12");
    faulty[4] = shop_yaml(200, bad_spare, "");
    static const int want[] = {1, 8, 8, 7, 11};
    for (size_t i = 0; i < CN_ARRAY_SIZE(want); i++) {
        CHECK(call("modify", &fault, &msg, "(sss)", SECRET, "mod1", faulty[i]) == NULL);
        if (fault != want[i] && !(want[i] == 8 && fault == 6))
            fprintf(stderr, "  case %zu: fault %d: %s\n", i, fault, msg.s);
        CHECK(fault == want[i] || (want[i] == 8 && fault == 6));
    }
    CHECK(strstr(msg.s, "nosuch-12"));
    char *after = holdings();
    if (strcmp(before, after) != 0)
        fprintf(stderr, "  before:\n%s\n  after:\n%s\n", before, after);
    CHECK(strcmp(before, after) == 0);
    free(before);
    free(after);
    CHECK_STR(state_of("mod1", buf, sizeof(buf)), "allocated");
    CHECK_STR(element_state("mod1", "web", buf, sizeof(buf)), "defined");
    CHECK_STR(element_state("mod1", "cache", buf, sizeof(buf)), "defined");

    /* Provisioned: running VNodes run again afterwards, stopped ones stay stopped. */
    CHECK(call_ok("confirm", "mod1"));
    CHECK(call_ok("start", "mod1"));
    r = call("stop", &fault, NULL, "(ss(s))", SECRET, "mod1", "db");
    CHECK(r);
    xmlrpc_DECREF(r);
    spare = xasprintf(spare_fmt, "debian-12");
    free(more);
    more = shop_yaml(200, spare, "");
    ml = modify_ok("mod1", more, "provisioned");
    CHECK(ml);
    CHECK(rdl_mapping_count(ml) == 4);
    CHECK(!rdl_mapping_get(ml, "cache") && !rdl_mapping_get(ml, "web-cache"));
    CHECK_STR(host_of(ml, "web"), web_host);
    rdl_graph_free(ml);
    CHECK_STR(element_state("mod1", "web", buf, sizeof(buf)), "running");
    CHECK_STR(element_state("mod1", "db", buf, sizeof(buf)), "defined");
    CHECK_STR(element_state("mod1", "spare", buf, sizeof(buf)), "running");
    CHECK_STR(element_state("mod1", "cache", buf, sizeof(buf)), "");
    /* Only removals: what stays is not touched. */
    ml = modify_ok("mod1", wider, "provisioned");
    CHECK(ml && rdl_mapping_count(ml) == 3);
    rdl_graph_free(ml);
    CHECK_STR(element_state("mod1", "web", buf, sizeof(buf)), "running");
    CHECK_STR(element_state("mod1", "db", buf, sizeof(buf)), "defined");
    struct pip_usage *u = NULL;
    size_t n = 0;
    double cpu = 0;
    CHECK(pip_store_usage(store, &u, &n, &err) == 0);
    for (size_t i = 0; i < n; i++)
        if (cn_streq(u[i].resource, "cpu"))
            cpu += u[i].used;
    pip_usage_free(u, n);
    CHECK(cpu == 4);

    CHECK(call_ok("release", "mod1"));
    CHECK(call("modify", &fault, &msg, "(sss)", SECRET, "mod1", base) == NULL);
    CHECK(fault == 1);
    for (size_t i = 0; i < CN_ARRAY_SIZE(faulty); i++)
        free(faulty[i]);
    free(bad_spare);
    free(spare);
    free(base);
    free(wider);
    free(more);
    cn_buf_release(&msg);
    cn_err_release(&err);
    return 0;
}

/* A plugin failure frees what the reservation held, and a repeat says the same. */
static int
test_embedding_failure(const void *data)
{
    int fault;
    struct cn_buf msg = CN_BUF_INIT, yaml = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    (void)data;

    cn_buf_puts(&yaml, small_yaml);
    char *img = strstr(yaml.s, "debian-12");
    CHECK(img);
    memcpy(img, "nosuch-12", 9);
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET, "noimg", yaml.s, 60) == NULL);
    CHECK(fault == 11);
    CHECK(strstr(msg.s, "nosuch-12"));
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET, "noimg", yaml.s, 60) == NULL);
    CHECK(fault == 11);
    /* Another peer cannot even learn that much about it. */
    CHECK(call("negotiate", &fault, &msg, "(sssi)", SECRET2, "noimg", yaml.s, 60) == NULL);
    CHECK(fault == 2);
    struct pip_reservation *r = pip_store_get(store, "noimg", &err);
    CHECK(r);
    CHECK(r->state == PIP_FAILED);
    CHECK(r->nvlans == 0);
    pip_reservation_free(r);
    struct pip_usage *u = NULL;
    size_t n = 0;
    CHECK(pip_store_usage(store, &u, &n, &err) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(u[i].used == 0);
    pip_usage_free(u, n);
    cn_buf_release(&msg);
    cn_buf_release(&yaml);
    cn_err_release(&err);
    return 0;
}

static int
test_lease_expiry(const void *data)
{
    int fault;
    char buf[64];
    xmlrpc_value *r;
    (void)data;

    r = call("negotiate", &fault, NULL, "(sssi)", SECRET, "short", small_yaml, 1);
    CHECK(r);
    xmlrpc_DECREF(r);
    for (int i = 0; i < 50 && !cn_streq(state_of("short", buf, sizeof(buf)), "released"); i++)
        usleep(200 * 1000);
    CHECK_STR(state_of("short", buf, sizeof(buf)), "released");
    CHECK(call("confirm", &fault, NULL, "(ss)", SECRET, "short") == NULL);
    CHECK(fault == 1 || fault == 5);
    return 0;
}

static int
test_crash_recovery(const void *data)
{
    int fault;
    char buf[64];
    struct cn_err err = CN_ERR_INIT;
    xmlrpc_value *r;
    (void)data;

    r = call("negotiate", &fault, NULL, "(sssi)", SECRET, "crash", small_yaml, 2);
    CHECK(r);
    xmlrpc_DECREF(r);
    r = call("negotiate", &fault, NULL, "(sssi)", SECRET, "kept", small_yaml, 600);
    CHECK(r);
    xmlrpc_DECREF(r);
    CHECK(test_daemon_stop(&pipd, SIGKILL) == 0);
    sleep(3);
    CHECK(test_daemon_start(&pipd) == 0);
    /* Recovery released the expired one before serving, and re-embedded the live one. */
    struct pip_reservation *pr = pip_store_get(store, "crash", &err);
    CHECK(pr);
    CHECK(pr->state == PIP_RELEASED);
    pip_reservation_free(pr);
    CHECK_STR(state_of("kept", buf, sizeof(buf)), "allocated");
    CHECK_STR(element_state("kept", "vm", buf, sizeof(buf)), "defined");
    CHECK(call_ok("release", "kept"));
    cn_err_release(&err);
    return 0;
}

/* Every problem of a configuration file as FILE:LINE: message, and no start. */
static int
test_bad_config(const void *data)
{
    char bad[600], *out = NULL;
    (void)data;

    snprintf(bad, sizeof(bad), "%s/bad.conf", scratch);
    CHECK(test_write_text(bad, "listen 127.0.0.1:notaport\n"
                               "# a comment\n"
                               "peer one short\n"
                               "frobnicate yes\n") == 0);
    const char *argv[] = {pipd.prog, "-d", "-f", bad, NULL};
    int status = test_command(argv, &out);
    char want[3][700];
    snprintf(want[0], sizeof(want[0]), "%s:1: ", bad);
    snprintf(want[1], sizeof(want[1]), "%s:3: ", bad);
    snprintf(want[2], sizeof(want[2]), "%s:4: unknown directive 'frobnicate'", bad);
    bool ok =
        status != 0 && out && strstr(out, want[0]) && strstr(out, want[1]) && strstr(out, want[2]);
    if (!ok)
        fprintf(stderr, "  pipd exited %d with:\n%s\n", status, out ? out : "(nothing)");
    free(out);
    CHECK(ok);
    return 0;
}

static int
test_sigterm(const void *data)
{
    (void)data;
    CHECK(test_daemon_stop(&pipd, SIGTERM) == 0);
    return 0;
}

/* ---- setup ---- */

static int
setup(const char *argv0)
{
    char path[768], conf[2048];
    struct cn_err err = CN_ERR_INIT;
    xmlrpc_env env;

    if (test_bin_path(pipd.prog, sizeof(pipd.prog), argv0, "pipd") < 0 ||
        test_scratch_dir(scratch, sizeof(scratch), "pipd-test") < 0 ||
        test_pipd_dirs(scratch, "debian-12") < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/substrate.yaml", scratch);
    if (test_write_text(path, substrate_yaml) < 0)
        return -1;
    /* h2's end of the transit link: a veth in a namespace of our own (its peer is the wire). */
    snprintf(netns, sizeof(netns), "pipdt-%ld", (long)getpid());
    snprintf(trdev, sizeof(trdev), "tr%ld", (long)getpid() % 1000000);
    if (test_shell("ip netns add %s && ip -n %s link add %s type veth peer name %sp && "
                   "ip -n %s addr add 10.254.0.1/30 dev %s && ip -n %s link set %s up",
                   netns, netns, trdev, trdev, netns, trdev, netns, trdev) < 0) {
        fprintf(stderr, "cannot make namespace %s (root is needed)\n", netns);
        netns[0] = '\0';
        return -1;
    }
    snprintf(path, sizeof(path), "%s/dataplane.conf", scratch);
    snprintf(conf, sizeof(conf),
             "node h2 netns %s bridge br0 mode vxlan\n"
             "port tr h2 %s address 10.254.0.1 remote 10.254.0.2\n",
             netns, trdev);
    if (test_write_text(path, conf) < 0 || test_daemon_listen(&pipd) < 0)
        return -1;
    snprintf(conf, sizeof(conf),
             "# pipd_test\n"
             "name pip-test-daemon\n"
             "listen 127.0.0.1:%u\n"
             "database socket=%s name=pipd_test user=root\n"
             "substrate %s/substrate.yaml\n"
             "peer one " SECRET "\n"
             "peer two " SECRET2 "\n"
             "libvirt test:///default\n"
             "images %s/images\n"
             "templates %s/templates\n"
             "dataplane %s/dataplane.conf\n"
             "max-request 65536\n"
             "max-lease 600\n"
             "map-time-limit 5\n",
             pipd.port, db.socket, scratch, scratch, scratch, scratch);
    snprintf(pipd.conf, sizeof(pipd.conf), "%s/pipd.conf", scratch);
    if (test_write_text(pipd.conf, conf) < 0 || chmod(pipd.conf, 0600) < 0)
        return -1;

    xmlrpc_env_init(&env);
    xmlrpc_client_setup_global_const(&env);
    xmlrpc_env_clean(&env);
    overlay_yaml = shop_yaml(100, "", "");
    client = test_xmlrpc_client("pipd_test");
    if (!client || test_daemon_start(&pipd) < 0)
        return -1;
    struct pip_store_config sc = {.socket = db.socket, .user = "root", .database = "pipd_test"};
    store = pip_store_open(&sc, &err);
    if (!store) {
        fprintf(stderr, "store: %s\n", cn_err_msg(&err));
        return -1;
    }
    cn_err_release(&err);
    return 0;
}

int
main(int argc, char **argv)
{
    (void)argc;
    if (!test_setup_ok(test_db_start(&db)))
        return test_summary();
    if (test_setup_ok(setup(argv[0]))) {
        TEST_RUN("describe", test_describe, NULL);
        TEST_RUN("negotiate and repeat", test_negotiate, NULL);
        TEST_RUN("confirm, start, stop, powercycle, console", test_confirm_and_power, NULL);
        TEST_RUN("faults change nothing", test_faults_change_nothing, NULL);
        TEST_RUN("release", test_release, NULL);
        TEST_RUN("concurrent negotiations and releases", test_concurrent, NULL);
        TEST_RUN("substrate replaced under a running pipd", test_substrate_replaced, NULL);
        TEST_RUN("list", test_list, NULL);
        TEST_RUN("transit link and stub of a partial graph", test_transit, NULL);
        TEST_RUN("modify", test_modify, NULL);
        TEST_RUN("embedding failure", test_embedding_failure, NULL);
        TEST_RUN("lease expiry", test_lease_expiry, NULL);
        TEST_RUN("kill -9 and recovery", test_crash_recovery, NULL);
        TEST_RUN("SIGTERM exits cleanly", test_sigterm, NULL);
        TEST_RUN("configuration errors", test_bad_config, NULL);
    }
    test_daemon_stop(&pipd, SIGKILL);
    pip_store_close(store);
    if (client)
        xmlrpc_client_destroy(client);
    xmlrpc_client_teardown_global_const();
    test_rm_tree(scratch);
    free(overlay_yaml);
    if (netns[0])
        test_shell("ip netns del %s", netns);
    test_db_stop(&db);
    return test_summary();
}
