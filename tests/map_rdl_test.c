/*
 * Tests of map_rdl_solve() and map_rdl_check(): the examples under every
 * objective and algorithm, the reasons given when a request does not fit,
 * same_as values decided by the solve, existing mappings taking capacity,
 * latency bounds and non-forwarding nodes shaping paths, anti-affinity, and
 * random tiny instances compared with a brute force that enumerates every
 * placement and every set of simple paths, migration-aware re-mapping
 * against a previous mapping, and rebalancing several CloudNets. Every mapping any case produces
 * goes through the independent checker.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "rdl/rdl.h"
#include "tests/testlib.h"
#include "util/util.h"

/* ---- helpers ---- */

static struct rdl_graph *
read_example(const char *name)
{
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    char *path = xasprintf("%s/../examples/%s", test_srcdir(), name);
    struct rdl_graph *g = rdl_read_file(path, &err);
    if (!g)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    free(path);
    cn_err_release(&err);
    return g;
}

static struct rdl_graph *
parse(const char *text)
{
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct rdl_graph *g = rdl_read_string("test", text, strlen(text), &err);
    if (!g)
        fprintf(stderr, "  %s\n%s\n", cn_err_msg(&err), text);
    cn_err_release(&err);
    return g;
}

static void
show(const struct rdl_graph *g)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    cn_buf_init(&b);
    cn_err_init(&err);
    if (rdl_write(g, &b, &err) == 0)
        fprintf(stderr, "%s", b.s);
    cn_buf_release(&b);
    cn_err_release(&err);
}

/*
 * Solves and, on success, runs the checker on the result and on its YAML
 * round trip. Returns the solve's status; *ret_ml gets the mapping (or NULL)
 * and err the reason of a failure. A mapping the checker rejects fails the
 * case through *ret_bad.
 */
static int
solve_checked(const struct rdl_graph *ul, const struct rdl_graph *const *existing, size_t nex,
              const struct rdl_graph *ol, const struct map_options *opts, struct rdl_graph **ret_ml,
              struct cn_err *err, bool *ret_bad)
{
    struct rdl_graph *ml = NULL;
    *ret_bad = false;
    *ret_ml = NULL;
    if (map_rdl_solve(ul, existing, nex, ol, opts, &ml, err) < 0)
        return -1;
    struct cn_err cerr = CN_ERR_INIT;
    struct cn_buf b = CN_BUF_INIT;
    cn_err_init(&cerr);
    cn_buf_init(&b);
    if (map_rdl_check(ul, existing, nex, ol, ml, &cerr) < 0) {
        fprintf(stderr, "  checker: %s\n", cn_err_msg(&cerr));
        show(ml);
        *ret_bad = true;
    }
    /* The written form must be a valid document that checks the same way. */
    struct rdl_graph *back = NULL;
    if (rdl_write(ml, &b, &cerr) < 0 || !(back = rdl_read_string("written", b.s, b.len, &cerr)) ||
        map_rdl_check(ul, existing, nex, ol, back, &cerr) < 0) {
        fprintf(stderr, "  written mapping: %s\n%s", cn_err_msg(&cerr), b.s);
        *ret_bad = true;
    }
    rdl_graph_free(back);
    cn_buf_release(&b);
    cn_err_release(&cerr);
    *ret_ml = ml;
    return 0;
}

static const char *
host_of(const struct rdl_graph *ml, const char *id)
{
    const struct rdl_map_entry *m = rdl_mapping_get(ml, id);
    return m ? rdl_map_entry_to(m) : NULL;
}

static const char *
feature_of(const struct rdl_graph *ml, const char *id, const char *name)
{
    const struct rdl_map_entry *m = rdl_mapping_get(ml, id);
    return m ? rdl_props_string(rdl_map_entry_features(m), name) : NULL;
}

static double
objective_of(const struct rdl_graph *ml)
{
    struct rdl_objective o;
    rdl_mapping_objective(ml, &o);
    return o.value;
}

/* The path of a link entry as "a b c" for comparisons. */
static char *
path_of(const struct rdl_graph *ml, const char *id)
{
    const struct rdl_map_entry *m = rdl_mapping_get(ml, id);
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    for (size_t i = 0; m && i < rdl_map_entry_path_len(m); i++)
        cn_buf_printf(&b, "%s%s", i ? " " : "", rdl_map_entry_path_at(m, i));
    return cn_buf_detach(&b);
}

/* ---- examples ---- */

static int
test_webshop_all(const void *data)
{
    (void)data;
    static const char *const objectives[] = {"cost", "load", "energy"};
    static const char *const algorithms[] = {"mip", "heuristic", "grc"};
    int ret = -1;
    struct rdl_graph *ul = read_example("pip-berlin.yaml");
    struct rdl_graph *ol = read_example("webshop.yaml");
    struct rdl_graph *ml = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    if (!ul || !ol)
        goto cleanup;
    for (size_t i = 0; i < CN_ARRAY_SIZE(objectives); i++) {
        for (size_t j = 0; j < CN_ARRAY_SIZE(algorithms); j++) {
            struct map_options o;
            map_options_init(&o);
            o.objective = objectives[i];
            if (map_algorithm_parse(algorithms[j], &o.algorithm) < 0)
                goto cleanup;
            bool bad;
            cn_err_clear(&err);
            double t0 = cn_now();
            if (solve_checked(ul, NULL, 0, ol, &o, &ml, &err, &bad) < 0) {
                fprintf(stderr, "  %s/%s: %s\n", objectives[i], algorithms[j], cn_err_msg(&err));
                goto cleanup;
            }
            printf("     webshop on pip-berlin, %s/%s: value %g in %.1f ms\n", objectives[i],
                   algorithms[j], objective_of(ml), (cn_now() - t0) * 1000);
            if (bad)
                goto cleanup;
            struct rdl_objective obj;
            rdl_mapping_objective(ml, &obj);
            if (strcmp(obj.name, objectives[i]) != 0)
                goto cleanup;
            /* Everything fits on one server: 9 cores and no link leaves it. */
            if (j == 0 && i == 0 && (obj.value != 9 || obj.gap != 0))
                goto cleanup;
            if (j == 0 && i == 2 && obj.value != 1)
                goto cleanup;
            CHECK_STR(rdl_mapping_underlay(ml), "pip-berlin");
            CHECK_STR(rdl_mapping_overlay(ml), "webshop");
            CHECK(rdl_mapping_count(ml) == 8);
            rdl_graph_free(ml);
            ml = NULL;
        }
    }
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

static int
test_vague(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *ul = read_example("pip-berlin.yaml");
    struct rdl_graph *ol = read_example("vague.yaml");
    struct rdl_graph *ml = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool bad;
    if (!ul || !ol)
        goto cleanup;
    double t0 = cn_now();
    if (solve_checked(ul, NULL, 0, ol, NULL, &ml, &err, &bad) < 0 || bad) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    printf("     vague on pip-berlin: cost %g in %.1f ms\n", objective_of(ml),
           (cn_now() - t0) * 1000);
    /* db must be x86_64 and share arch with app and web; Berlin is in DE only. */
    CHECK_STR(feature_of(ml, "web", "arch"), "x86_64");
    CHECK_STR(feature_of(ml, "app", "arch"), "x86_64");
    CHECK_STR(feature_of(ml, "web", "location"), "DE");
    CHECK_STR(feature_of(ml, "db", "location"), "DE");
    CHECK_STR(feature_of(ml, "app", "image"), "debian-12");
    const struct rdl_props *r = rdl_map_entry_resources(rdl_mapping_get(ml, "web"));
    CHECK(rdl_props_number(r, "cpu", -1) == 2);
    CHECK(rdl_props_number(r, "memory", -1) == 2048);
    r = rdl_map_entry_resources(rdl_mapping_get(ml, "app-cache"));
    /* same_as web-app ({min: 100}) and {min: 50, max: 200}: the least both allow. */
    CHECK(rdl_props_number(r, "bandwidth", -1) == 100);
    CHECK(objective_of(ml) == 9);
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

static int
test_spanning_vnp(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *ul = read_example("vnp-substrate.yaml");
    struct rdl_graph *ol = read_example("spanning.yaml");
    struct rdl_graph *ml = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool bad;
    if (!ul || !ol)
        goto cleanup;
    if (solve_checked(ul, NULL, 0, ol, NULL, &ml, &err, &bad) < 0 || bad) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    CHECK_STR(host_of(ml, "front-fr"), "paris");
    CHECK_STR(host_of(ml, "reports"), "london");
    CHECK_STR(host_of(ml, "db"), "berlin");
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

/* ---- requests that do not fit ---- */

struct misfit {
    const char *overlay; /* YAML, on pip-berlin */
    int code;
    const char *message;
};

static int
test_misfit(const void *data)
{
    const struct misfit *c = data;
    int ret = -1;
    struct rdl_graph *ul = read_example("pip-berlin.yaml");
    struct rdl_graph *ol = parse(c->overlay);
    struct rdl_graph *ml = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    if (!ul || !ol)
        goto cleanup;
    if (map_rdl_solve(ul, NULL, 0, ol, NULL, &ml, &err) == 0) {
        fprintf(stderr, "  mapped although it should not:\n");
        show(ml);
        goto cleanup;
    }
    CHECK(ml == NULL);
    CHECK(err.code == c->code);
    CHECK_STR(cn_err_msg(&err), c->message);
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

static const struct misfit misfit_location = {
    "rdl: 1\nkind: overlay\nname: r\nelements:\n"
    "  db: {type: /node/host/generic, resources: {cpu: 1}, features: {location: FR}}\n",
    CN_E_INFEASIBLE,
    "no underlay node can host 'db': none offers location FR",
};
static const struct misfit misfit_location_list = {
    "rdl: 1\nkind: overlay\nname: r\nelements:\n"
    "  db: {type: /node/host/generic, features: {location: [FR, GB]}}\n",
    CN_E_INFEASIBLE,
    "no underlay node can host 'db': none offers location FR or GB",
};
static const struct misfit misfit_type = {
    "rdl: 1\nkind: overlay\nname: r\nelements:\n"
    "  db: {type: /node/host/x, resources: {cpu: 1}}\n",
    CN_E_INFEASIBLE,
    "no underlay node can host 'db': type /node/host/x fits no underlay node",
};
static const struct misfit misfit_cpu = {
    "rdl: 1\nkind: overlay\nname: r\nelements:\n"
    "  db: {type: /node/host/generic, resources: {cpu: 64, memory: 1024}}\n",
    CN_E_INFEASIBLE,
    "no underlay node can host 'db': needs cpu 64, the largest free capacity is 16",
};
static const struct misfit misfit_cpu_arm = {
    "rdl: 1\nkind: overlay\nname: r\nelements:\n"
    "  db: {type: /node/host/generic, resources: {cpu: 12}, features: {arch: aarch64}}\n",
    CN_E_INFEASIBLE,
    "no underlay node can host 'db': needs cpu 12, the largest free capacity is 8",
};
static const struct misfit misfit_cpu_configured = {
    /* Interface addresses and the image configure the VNode; they are never the reason. */
    "rdl: 1\nkind: overlay\nname: r\nelements:\n"
    "  db: {type: /node/host/generic, resources: {cpu: 12},\n"
    "       features: {arch: aarch64, address: 10.0.0.1/24, address.n: 10.0.1.1/24, image: db}}\n",
    CN_E_INFEASIBLE,
    "no underlay node can host 'db': needs cpu 12, the largest free capacity is 8",
};
static const struct misfit misfit_together = {
    "rdl: 1\nkind: overlay\nname: r\nelements:\n"
    "  db: {type: /node/host/generic, features: {arch: aarch64, hypervisor: kvm}}\n",
    CN_E_INFEASIBLE,
    "no underlay node can host 'db': none of the nodes of a fitting type offers all of its "
    "features at once",
};
static const struct misfit misfit_overall = {
    /* Each node fits alone; together they exceed every host and the links. */
    "rdl: 1\nkind: overlay\nname: r\nelements:\n"
    "  a: {type: /node/host/generic, resources: {cpu: 8}, features: {arch: aarch64}}\n"
    "  b: {type: /node/host/generic, resources: {cpu: 8}, features: {arch: aarch64}}\n"
    "  c: {type: /node/host/generic, resources: {cpu: 8}, features: {arch: aarch64}}\n",
    CN_E_INFEASIBLE,
    "infeasible: no mapping of 'r' onto 'pip-berlin' meets every capacity, latency and "
    "placement constraint",
};
static const struct misfit misfit_latency = {
    "rdl: 1\nkind: overlay\nname: r\nelements:\n"
    "  a: {type: /node/host/generic, resources: {cpu: 16}}\n"
    "  b: {type: /node/host/generic, resources: {cpu: 16}}\n"
    "  l: {type: /link/generic, resources: {bandwidth: 10}, features: {latency: {max: 0.1}}}\n"
    "interfaces:\n  - {between: [a, l]}\n  - {between: [l, b]}\n",
    CN_E_INFEASIBLE,
    "infeasible: no mapping of 'r' onto 'pip-berlin' meets every capacity, latency and "
    "placement constraint",
};
static const struct misfit misfit_same_as = {
    "rdl: 1\nkind: overlay\nname: r\nelements:\n"
    "  a: {type: /node/host/generic, resources: {cpu: 10}, features: {arch: [aarch64, x86_64]}}\n"
    "  b: {type: /node/host/generic, features: {arch: {same_as: a}, hypervisor: netns}}\n",
    CN_E_INFEASIBLE,
    "no underlay node can host 'a': feature 'arch' must be the same on 'a', 'b' (same_as), and "
    "no value is both allowed and offered by a host each of them fits on",
};

/* ---- same_as decided by the solve ---- */

static const char same_as_ul[] =
    "rdl: 1\nkind: underlay\nname: u\nelements:\n"
    "  x1: {type: /node/host/server, resources: {cpu: 2}, features: {arch: x86_64}}\n"
    "  x2: {type: /node/host/server, resources: {cpu: 2}, features: {arch: x86_64}}\n"
    "  a1: {type: /node/host/server, resources: {cpu: 8}, features: {arch: aarch64}}\n"
    "  sw: {type: /node/switch}\n"
    "  x1-sw: {type: /link/eth, resources: {bandwidth: 1000}}\n"
    "  x2-sw: {type: /link/eth, resources: {bandwidth: 1000}}\n"
    "  a1-sw: {type: /link/eth, resources: {bandwidth: 1000}}\n"
    "interfaces:\n"
    "  - {between: [x1, x1-sw]}\n  - {between: [x1-sw, sw]}\n"
    "  - {between: [x2, x2-sw]}\n  - {between: [x2-sw, sw]}\n"
    "  - {between: [a1, a1-sw]}\n  - {between: [a1-sw, sw]}\n";

static int
same_as_case(const char *overlay, double want_cost)
{
    int ret = -1;
    struct rdl_graph *ul = parse(same_as_ul);
    struct rdl_graph *ol = parse(overlay);
    struct rdl_graph *ml = NULL, *completed = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool bad;
    if (!ul || !ol)
        goto cleanup;
    /* Completion alone would pick x86_64, the first listed value. */
    completed = rdl_complete(ol, &err);
    CHECK(completed);
    CHECK_STR(rdl_props_string(rdl_element_features(rdl_graph_element(completed, "web")), "arch"),
              "x86_64");
    if (solve_checked(ul, NULL, 0, ol, NULL, &ml, &err, &bad) < 0 || bad) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    CHECK_STR(feature_of(ml, "web", "arch"), "aarch64");
    CHECK_STR(feature_of(ml, "app", "arch"), "aarch64");
    CHECK_STR(host_of(ml, "web"), "a1");
    CHECK(objective_of(ml) == want_cost);
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    rdl_graph_free(completed);
    cn_err_release(&err);
    return ret;
}

static int
test_same_as_infeasible_first(const void *data)
{
    (void)data;
    /* The x86_64 hosts have 4 cores together; web, app and db need 5 and share arch. */
    return same_as_case("rdl: 1\nkind: overlay\nname: r\nelements:\n"
                        "  web: {type: /node/host/generic, resources: {cpu: 2}, features: {arch: "
                        "[x86_64, aarch64]}}\n"
                        "  app: {type: /node/host/generic, resources: {cpu: 1}, features: {arch: "
                        "{same_as: web}}}\n"
                        "  db: {type: /node/host/generic, resources: {cpu: 2}, features: {arch: "
                        "{same_as: app}}}\n",
                        5);
}

static int
test_same_as_worse_first(const void *data)
{
    (void)data;
    /* x86_64 works (web on x1, app on x2, 2 hops of 100) but costs 203; aarch64 costs 3. */
    return same_as_case("rdl: 1\nkind: overlay\nname: r\nelements:\n"
                        "  web: {type: /node/host/generic, resources: {cpu: 2}, features: {arch: "
                        "[x86_64, aarch64]}}\n"
                        "  app: {type: /node/host/generic, resources: {cpu: 1}, features: {arch: "
                        "{same_as: web}}}\n"
                        "  l: {type: /link/generic, resources: {bandwidth: 100}}\n"
                        "interfaces:\n  - {between: [web, l]}\n  - {between: [l, app]}\n",
                        3);
}

/* Beyond the combination budget the solve still finds a correct mapping. */
static int
test_same_as_many_groups(const void *data)
{
    (void)data;
    int ret = -1;
    struct cn_buf ol_text = CN_BUF_INIT, ul_text = CN_BUF_INIT;
    cn_buf_init(&ol_text);
    cn_buf_init(&ul_text);
    cn_buf_puts(&ul_text, "rdl: 1\nkind: underlay\nname: u\nelements:\n"
                          "  h: {type: /node/host/server, resources: {cpu: 100}, features: {");
    cn_buf_puts(&ol_text, "rdl: 1\nkind: overlay\nname: r\nelements:\n");
    for (int k = 0; k < 8; k++) {
        cn_buf_printf(&ul_text, "%sf%d: [p, q]", k ? ", " : "", k);
        cn_buf_printf(&ol_text,
                      "  a%d: {type: /node/host/generic, resources: {cpu: 1}, features: {f%d: [q, "
                      "p]}}\n"
                      "  b%d: {type: /node/host/generic, resources: {cpu: 1}, features: {f%d: "
                      "{same_as: a%d}}}\n",
                      k, k, k, k, k);
    }
    cn_buf_puts(&ul_text, "}}\n");
    struct rdl_graph *ul = parse(ul_text.s);
    struct rdl_graph *ol = parse(ol_text.s);
    struct rdl_graph *ml = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool bad;
    if (!ul || !ol)
        goto cleanup;
    if (solve_checked(ul, NULL, 0, ol, NULL, &ml, &err, &bad) < 0 || bad) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    /* 256 combinations: completion's choice (the first listed) is taken. */
    CHECK_STR(feature_of(ml, "b7", "f7"), "q");
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_buf_release(&ol_text);
    cn_buf_release(&ul_text);
    cn_err_release(&err);
    return ret;
}

/* ---- existing mappings ---- */

static const char two_hosts_ul[] =
    "rdl: 1\nkind: underlay\nname: u\nelements:\n"
    "  h1: {type: /node/host/server, resources: {cpu: 4, memory: 4096}}\n"
    "  h2: {type: /node/host/server, resources: {cpu: 4, memory: 4096}}\n"
    "  h1-h2: {type: /link/eth, resources: {bandwidth: 100}, features: {latency: 1}}\n"
    "interfaces:\n  - {between: [h1, h1-h2]}\n  - {between: [h1-h2, h2]}\n";

static int
test_existing_until_full(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *ul = parse(two_hosts_ul);
    struct rdl_graph *ol = parse("rdl: 1\nkind: overlay\nname: vm\nelements:\n"
                                 "  v: {type: /node/host/generic, resources: {cpu: 3, memory: "
                                 "1024}}\n");
    struct rdl_graph *ml[3] = {NULL, NULL, NULL};
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool bad;
    if (!ul || !ol)
        goto cleanup;
    for (size_t i = 0; i < 2; i++) {
        if (solve_checked(ul, (const struct rdl_graph *const *)ml, i, ol, NULL, &ml[i], &err,
                          &bad) < 0 ||
            bad) {
            fprintf(stderr, "  round %zu: %s\n", i, cn_err_msg(&err));
            goto cleanup;
        }
    }
    CHECK(!cn_streq(host_of(ml[0], "v"), host_of(ml[1], "v")));
    /* The mapping that fits alone does not fit next to both others. */
    struct cn_err cerr = CN_ERR_INIT;
    cn_err_init(&cerr);
    int checked = map_rdl_check(ul, (const struct rdl_graph *const *)ml, 2, ol, ml[0], &cerr);
    bool says = strstr(cn_err_msg(&cerr), "exceeds the capacity") != NULL;
    cn_err_release(&cerr);
    CHECK(checked < 0 && says);
    CHECK(map_rdl_solve(ul, (const struct rdl_graph *const *)ml, 2, ol, NULL, &ml[2], &err) < 0);
    CHECK(ml[2] == NULL);
    CHECK_STR(cn_err_msg(&err),
              "no underlay node can host 'v': needs cpu 3, the largest free capacity is 1");
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    for (size_t i = 0; i < 3; i++)
        rdl_graph_free(ml[i]);
    cn_err_release(&err);
    return ret;
}

/* Existing bandwidth counts on the links of their paths; anti_affinity keeps the ends apart. */
static int
test_existing_bandwidth(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *ul = parse(two_hosts_ul);
    struct rdl_graph *ol =
        parse("rdl: 1\nkind: overlay\nname: pair\nelements:\n"
              "  a: {type: /node/host/generic, resources: {cpu: 1}, features: {anti_affinity: "
              "true}}\n"
              "  b: {type: /node/host/generic, resources: {cpu: 1}}\n"
              "  l: {type: /link/generic, resources: {bandwidth: 60}}\n"
              "interfaces:\n  - {between: [a, l]}\n  - {between: [l, b]}\n");
    struct rdl_graph *ml[2] = {NULL, NULL};
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool bad;
    if (!ul || !ol)
        goto cleanup;
    if (solve_checked(ul, NULL, 0, ol, NULL, &ml[0], &err, &bad) < 0 || bad) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    CHECK(!cn_streq(host_of(ml[0], "a"), host_of(ml[0], "b")));
    CHECK(objective_of(ml[0]) == 62);
    CHECK(map_rdl_solve(ul, (const struct rdl_graph *const *)ml, 1, ol, NULL, &ml[1], &err) < 0);
    CHECK(err.code == CN_E_INFEASIBLE);
    CHECK(strstr(cn_err_msg(&err), "infeasible") != NULL);
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml[0]);
    rdl_graph_free(ml[1]);
    cn_err_release(&err);
    return ret;
}

/* ---- paths ---- */

/*
 * a and b can each sit on one host only. The direct link is slow; the way
 * through the switch is fast; the way through m would be short but m does
 * not forward.
 */
static const char paths_ul[] =
    "rdl: 1\nkind: underlay\nname: u\nelements:\n"
    "  ha: {type: /node/host/server, resources: {cpu: 4}, features: {location: A}}\n"
    "  hb: {type: /node/host/server, resources: {cpu: 4}, features: {location: B}}\n"
    "  m: {type: /node/host/server, resources: {cpu: 4}, features: {location: M, forwarding: "
    "false}}\n"
    "  s1: {type: /node/switch}\n"
    "  s2: {type: /node/switch}\n"
    "  ha-hb: {type: /link/eth, resources: {bandwidth: 1000}, features: {latency: 10}}\n"
    "  ha-s1: {type: /link/eth, resources: {bandwidth: 1000}, features: {latency: 1}}\n"
    "  s1-s2: {type: /link/eth, resources: {bandwidth: 1000}, features: {latency: 1}}\n"
    "  s2-hb: {type: /link/eth, resources: {bandwidth: 1000}, features: {latency: 1}}\n"
    "  ha-m: {type: /link/eth, resources: {bandwidth: 1000}, features: {latency: 0}}\n"
    "  m-hb: {type: /link/eth, resources: {bandwidth: 1000}, features: {latency: 0}}\n"
    "interfaces:\n"
    "  - {between: [ha, ha-hb]}\n  - {between: [ha-hb, hb]}\n"
    "  - {between: [ha, ha-s1]}\n  - {between: [ha-s1, s1]}\n"
    "  - {between: [s1, s1-s2]}\n  - {between: [s1-s2, s2]}\n"
    "  - {between: [s2, s2-hb]}\n  - {between: [s2-hb, hb]}\n"
    "  - {between: [ha, ha-m]}\n  - {between: [ha-m, m]}\n"
    "  - {between: [m, m-hb]}\n  - {between: [m-hb, hb]}\n";

static int
path_case(const char *latency, const char *want_path, double want_cost)
{
    int ret = -1;
    char *text = xasprintf("rdl: 1\nkind: overlay\nname: r\nelements:\n"
                           "  a: {type: /node/host/generic, resources: {cpu: 1}, features: "
                           "{location: A}}\n"
                           "  b: {type: /node/host/generic, resources: {cpu: 1}, features: "
                           "{location: B}}\n"
                           "  l: {type: /link/generic, resources: {bandwidth: 10}%s}\n"
                           "interfaces:\n  - {between: [b, l]}\n  - {between: [l, a]}\n",
                           latency);
    struct rdl_graph *ul = parse(paths_ul);
    struct rdl_graph *ol = parse(text);
    struct rdl_graph *ml = NULL;
    char *path = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool bad;
    if (!ul || !ol)
        goto cleanup;
    if (solve_checked(ul, NULL, 0, ol, NULL, &ml, &err, &bad) < 0 || bad) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    path = path_of(ml, "l");
    CHECK_STR(path, want_path);
    CHECK(objective_of(ml) == want_cost);
    ret = 0;
cleanup:
    free(text);
    free(path);
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

static int
test_path_direct(const void *data)
{
    (void)data;
    /* The link's first endpoint is b, so the path runs from hb to ha. */
    return path_case("", "hb ha-hb ha", 12);
}

static int
test_path_latency(const void *data)
{
    (void)data;
    return path_case(", features: {latency: {max: 5}}", "hb s2-hb s2 s1-s2 s1 ha-s1 ha", 32);
}

/* A node that does not forward still hosts, and ends paths. */
static int
test_non_forwarding_hosts(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *ul = parse(paths_ul);
    struct rdl_graph *ol = parse("rdl: 1\nkind: overlay\nname: r\nelements:\n"
                                 "  a: {type: /node/host/generic, resources: {cpu: 1}, features: "
                                 "{location: A}}\n"
                                 "  z: {type: /node/host/generic, resources: {cpu: 1}, features: "
                                 "{location: M}}\n"
                                 "  l: {type: /link/generic, resources: {bandwidth: 10}}\n"
                                 "interfaces:\n  - {between: [a, l]}\n  - {between: [l, z]}\n");
    struct rdl_graph *ml = NULL;
    char *path = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool bad;
    if (!ul || !ol)
        goto cleanup;
    if (solve_checked(ul, NULL, 0, ol, NULL, &ml, &err, &bad) < 0 || bad) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    path = path_of(ml, "l");
    CHECK_STR(path, "ha ha-m m");
    ret = 0;
cleanup:
    free(path);
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

/*
 * A border node (docs/federation.md) takes only the stub of its transit
 * link: a VNode that asks for nothing would otherwise fit on it, being a
 * /node/host/... node. The checker refuses the same placement.
 */
static int
test_border_nodes(const void *data)
{
    (void)data;
    int ret = -1;
    const char *ul_text =
        "rdl: 1\nkind: underlay\nname: u\nelements:\n"
        "  h1: {type: /node/host/server/netns, resources: {cpu: 4}}\n"
        "  sw: {type: /node/switch}\n"
        "  h1-sw: {type: /link/ethernet/vlan, resources: {bandwidth: 100}}\n"
        "  t: {type: /link/transit, resources: {bandwidth: 100}}\n"
        "  far: {type: /node/host/pip, features: {transit: t, forwarding: false}}\n"
        "interfaces:\n  - {between: [h1, h1-sw]}\n  - {between: [h1-sw, sw]}\n"
        "  - {between: [sw, t]}\n  - {between: [t, far]}\n";
    struct rdl_graph *ul = parse(ul_text);
    /* Two nodes that ask for nothing, a stub, and a link from one of them to the stub. */
    struct rdl_graph *ol = parse("rdl: 1\nkind: overlay\nname: r\nelements:\n"
                                 "  a: {type: /node/host/generic}\n"
                                 "  b: {type: /node/host/generic}\n"
                                 "  transit:t: {type: /node/host/pip, features: {transit: t}}\n"
                                 "  l: {type: /link/transit, resources: {bandwidth: 10}}\n"
                                 "interfaces:\n  - {between: [a, l]}\n"
                                 "  - {between: [l, transit:t]}\n");
    struct rdl_graph *ml = NULL, *wrong = NULL, *only = NULL, *ml2 = NULL;
    struct cn_err err = CN_ERR_INIT;
    bool bad;
    if (!ul || !ol)
        goto cleanup;
    if (solve_checked(ul, NULL, 0, ol, NULL, &ml, &err, &bad) < 0 || bad) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    CHECK_STR(host_of(ml, "a"), "h1");
    CHECK_STR(host_of(ml, "b"), "h1");
    CHECK_STR(host_of(ml, "transit:t"), "far");
    /* The same mapping with b on the border node is refused by the checker. */
    wrong = rdl_graph_copy(ml);
    rdl_map_entry_set_to(rdl_mapping_get(wrong, "b"), "far");
    CHECK(map_rdl_check(ul, NULL, 0, ol, wrong, &err) < 0);
    CHECK(strstr(cn_err_msg(&err), "'b' is mapped to 'far', a border node"));
    cn_err_clear(&err);
    /* A VNode whose features only the border node offers has no host at all. */
    only = parse("rdl: 1\nkind: overlay\nname: o\nelements:\n"
                 "  c: {type: /node/host/generic, features: {forwarding: false}}\n");
    CHECK(only && map_rdl_solve(ul, NULL, 0, only, NULL, &ml2, &err) < 0);
    CHECK(err.code == CN_E_INFEASIBLE && strstr(cn_err_msg(&err), "'c'"));
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    rdl_graph_free(wrong);
    rdl_graph_free(only);
    rdl_graph_free(ml2);
    cn_err_release(&err);
    return ret;
}

/* The checker catches what a wrong mapping gets wrong. */
static int
test_checker_rejects(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *ul = parse(paths_ul);
    struct rdl_graph *ol = parse("rdl: 1\nkind: overlay\nname: r\nelements:\n"
                                 "  a: {type: /node/host/generic, resources: {cpu: 1}, features: "
                                 "{location: A}}\n"
                                 "  b: {type: /node/host/generic, resources: {cpu: 1}, features: "
                                 "{location: B}}\n"
                                 "  l: {type: /link/generic, resources: {bandwidth: 10}, "
                                 "features: {latency: {max: 5}}}\n"
                                 "interfaces:\n  - {between: [a, l]}\n  - {between: [l, b]}\n");
    struct rdl_graph *ml =
        parse("rdl: 1\nkind: mapping\nname: r\noverlay: r\nunderlay: u\n"
              "objective: {name: cost, value: 7, bound: 7, gap: 0, solve_ms: 1}\n"
              "map:\n"
              "  a: {to: ha, resources: {cpu: 1}, features: {location: A}}\n"
              "  b: {to: ha, resources: {cpu: 1}, features: {location: B}}\n"
              "  l: {path: [ha, ha-m, m, m-hb, hb, ha-hb, hb], resources: {bandwidth: 10}}\n");
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    if (!ul || !ol || !ml)
        goto cleanup;
    CHECK(map_rdl_check(ul, NULL, 0, ol, ml, &err) < 0);
    const char *msg = cn_err_msg(&err);
    CHECK(strstr(msg, "host 'ha' does not offer its final location"));
    CHECK(strstr(msg, "path ends at 'hb', not at 'ha'"));
    CHECK(strstr(msg, "does not alternate adjacent"));
    cn_err_clear(&err);
    rdl_graph_free(ml);
    ml = parse("rdl: 1\nkind: mapping\nname: r\noverlay: r\nunderlay: u\n"
               "objective: {name: cost, value: 7, bound: 7, gap: 0, solve_ms: 1}\n"
               "map:\n"
               "  a: {to: ha, resources: {cpu: 1}, features: {location: A}}\n"
               "  b: {to: hb, resources: {cpu: 1}, features: {location: B}}\n"
               "  l: {path: [ha, ha-m, m, m-hb, hb], resources: {bandwidth: 10}}\n");
    CHECK(ml);
    CHECK(map_rdl_check(ul, NULL, 0, ol, ml, &err) < 0);
    msg = cn_err_msg(&err);
    CHECK(strstr(msg, "passes through 'm', which does not forward"));
    CHECK(strstr(msg, "objective cost is reported as 7 but the mapping gives 22"));
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

/* ---- brute force on random tiny instances ---- */

#define TS 6 /* underlay nodes at most */
#define TE 8 /* underlay links at most */
#define TV 4 /* overlay nodes at most */
#define TL 3 /* overlay links at most */

enum { ARCH_X, ARCH_A, ARCH_BOTH };

struct tiny {
    int ns, ne, nv, nl;
    bool host[TS]; /* false: a switch, no overlay node fits on it */
    double cap[TS];
    int arch[TS];
    bool fwd[TS];
    int eu[TE], ev[TE];
    double ebw[TE], elat[TE];
    double cpu[TV];
    /* -1 don't care, ARCH_X, ARCH_A, ARCH_BOTH (a list), 10 + k: same_as node k */
    int want[TV];
    bool anti[TV];
    int la[TL], lb[TL];
    double lbw[TL], llat[TL]; /* llat 0: unbounded */
};

static unsigned long long rng_state;

static unsigned
rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static void
tiny_random(struct tiny *t)
{
    memset(t, 0, sizeof(*t));
    t->ns = 2 + (int)rnd(TS - 1);
    for (int s = 0; s < t->ns; s++) {
        t->host[s] = rnd(5) != 0;
        t->cap[s] = t->host[s] ? 1 + rnd(6) : 0;
        t->arch[s] = (int)rnd(3);
        t->fwd[s] = rnd(5) != 0;
    }
    /* A random spanning tree keeps most instances connected; extra links add choice. */
    for (int s = 1; s < t->ns && t->ne < TE; s++) {
        t->eu[t->ne] = (int)rnd((unsigned)s);
        t->ev[t->ne++] = s;
    }
    int extra = (int)rnd(3);
    for (int k = 0; k < extra && t->ne < TE; k++) {
        int u = (int)rnd((unsigned)t->ns), v = (int)rnd((unsigned)t->ns);
        if (u == v)
            continue;
        bool dup = false;
        for (int e = 0; e < t->ne; e++)
            dup |= (t->eu[e] == u && t->ev[e] == v) || (t->eu[e] == v && t->ev[e] == u);
        if (dup)
            continue;
        t->eu[t->ne] = u;
        t->ev[t->ne++] = v;
    }
    for (int e = 0; e < t->ne; e++) {
        t->ebw[e] = 5 + 5 * rnd(4);
        t->elat[e] = 1 + rnd(3);
    }
    t->nv = 1 + (int)rnd(TV);
    for (int v = 0; v < t->nv; v++) {
        t->cpu[v] = rnd(4);
        int w = (int)rnd(6);
        t->want[v] = w == 0 ? ARCH_X : w == 1 ? ARCH_A : w == 2 ? ARCH_BOTH : -1;
        if (v > 0 && rnd(3) == 0) {
            /* same_as must name an element that has the feature. */
            int k = (int)rnd((unsigned)v);
            if (t->want[k] < 0)
                t->want[k] = ARCH_BOTH;
            t->want[v] = 10 + k;
        }
        t->anti[v] = rnd(6) == 0;
    }
    /*
     * One node with anti_affinity at most, so that its hosts times the
     * same_as values stay within the combination budget and the solve is
     * exact.
     */
    for (int v = 1; v < t->nv; v++)
        if (t->anti[v] && t->anti[0])
            t->anti[v] = false;
    for (int v = 1; v < t->nv; v++)
        for (int w = 0; w < v; w++)
            if (t->anti[v] && t->anti[w])
                t->anti[v] = false;
    for (int k = 0; k < TL && t->nv > 1; k++) {
        if (rnd(4) == 0)
            continue;
        int a = (int)rnd((unsigned)t->nv), b = (int)rnd((unsigned)t->nv);
        if (a == b)
            continue;
        t->la[t->nl] = a;
        t->lb[t->nl] = b;
        t->lbw[t->nl] = 1 + rnd(10);
        t->llat[t->nl] = rnd(3) == 0 ? 1 + rnd(4) : 0;
        t->nl++;
    }
}

static const char *const arch_name[] = {"x86_64", "aarch64", "[x86_64, aarch64]"};

static void
tiny_yaml(const struct tiny *t, struct cn_buf *ul, struct cn_buf *ol)
{
    cn_buf_puts(ul, "rdl: 1\nkind: underlay\nname: tu\nelements:\n");
    for (int s = 0; s < t->ns; s++)
        cn_buf_printf(ul, "  n%d: {type: %s, resources: {cpu: %g}, features: {arch: %s%s}}\n", s,
                      t->host[s] ? "/node/host/server" : "/node/switch", t->cap[s],
                      arch_name[t->arch[s]], t->fwd[s] ? "" : ", forwarding: false");
    for (int e = 0; e < t->ne; e++)
        cn_buf_printf(ul,
                      "  e%d: {type: /link/eth, resources: {bandwidth: %g}, features: "
                      "{latency: %g}}\n",
                      e, t->ebw[e], t->elat[e]);
    cn_buf_puts(ul, "interfaces:\n");
    for (int e = 0; e < t->ne; e++)
        cn_buf_printf(ul, "  - {between: [n%d, e%d]}\n  - {between: [e%d, n%d]}\n", t->eu[e], e, e,
                      t->ev[e]);

    cn_buf_puts(ol, "rdl: 1\nkind: overlay\nname: to\nelements:\n");
    for (int v = 0; v < t->nv; v++) {
        cn_buf_printf(ol, "  v%d: {type: /node/host/generic, resources: {cpu: %g}, features: {", v,
                      t->cpu[v]);
        const char *sep = "";
        if (t->want[v] >= 10) {
            cn_buf_printf(ol, "arch: {same_as: v%d}", t->want[v] - 10);
            sep = ", ";
        } else if (t->want[v] >= 0) {
            cn_buf_printf(ol, "arch: %s", arch_name[t->want[v]]);
            sep = ", ";
        }
        if (t->anti[v])
            cn_buf_printf(ol, "%santi_affinity: true", sep);
        cn_buf_puts(ol, "}}\n");
    }
    for (int l = 0; l < t->nl; l++) {
        cn_buf_printf(ol, "  l%d: {type: /link/generic, resources: {bandwidth: %g}", l, t->lbw[l]);
        if (t->llat[l] > 0)
            cn_buf_printf(ol, ", features: {latency: {max: %g}}", t->llat[l]);
        cn_buf_puts(ol, "}\n");
    }
    if (t->nl) {
        cn_buf_puts(ol, "interfaces:\n");
        for (int l = 0; l < t->nl; l++)
            cn_buf_printf(ol, "  - {between: [v%d, l%d]}\n  - {between: [l%d, v%d]}\n", t->la[l], l,
                          l, t->lb[l]);
    }
}

/* The brute force: every placement, then every choice of simple paths. */
struct brute {
    const struct tiny *t;
    int objective; /* 0 cost, 1 load, 2 energy */
    int host[TV];
    double used[TS];
    double lused[TE];
    int hops[TL];
    bool ntouch[TS], etouch[TE];
    double best;
    bool found;
};

/* Whether some arch value is offered by every host in the same_as group of v and allowed. */
static bool
offers_arch(int offer, int x)
{
    return offer == ARCH_BOTH || offer == x;
}

static bool
arch_ok(const struct tiny *t, const int *host)
{
    /* Group roots: follow same_as to a node that names a value or none. */
    int root[TV];
    for (int v = 0; v < t->nv; v++) {
        int r = v;
        while (t->want[r] >= 10)
            r = t->want[r] - 10;
        root[v] = r;
    }
    for (int r = 0; r < t->nv; r++) {
        bool any_member = false, grouped = false;
        for (int v = 0; v < t->nv; v++) {
            if (root[v] == r) {
                any_member = true;
                grouped |= v != r;
            }
        }
        if (!any_member)
            continue;
        bool some = false;
        for (int x = ARCH_X; x <= ARCH_A && !some; x++) {
            bool all = true;
            if (t->want[r] == ARCH_X || t->want[r] == ARCH_A)
                all = t->want[r] == x;
            for (int v = 0; v < t->nv && all; v++) {
                if (root[v] != r)
                    continue;
                /* A member constrains its host when it names the feature or is in a group. */
                if (t->want[v] >= 0 || grouped)
                    all = offers_arch(t->arch[host[v]], x);
            }
            some = all;
        }
        if (!some)
            return false;
    }
    return true;
}

static double
brute_value(const struct brute *b)
{
    const struct tiny *t = b->t;
    if (b->objective == 0) {
        double c = 0;
        for (int v = 0; v < t->nv; v++)
            c += t->cpu[v];
        for (int l = 0; l < t->nl; l++)
            c += t->lbw[l] * b->hops[l];
        return c;
    }
    if (b->objective == 1) {
        double worst = 0;
        for (int s = 0; s < t->ns; s++)
            if (t->cap[s] > 0)
                worst = fmax(worst, b->used[s] / t->cap[s]);
        for (int e = 0; e < t->ne; e++)
            worst = fmax(worst, b->lused[e] / t->ebw[e]);
        return worst;
    }
    double n = 0;
    bool nt[TS];
    memcpy(nt, b->ntouch, sizeof(nt));
    for (int v = 0; v < t->nv; v++)
        nt[b->host[v]] = true;
    for (int s = 0; s < t->ns; s++)
        n += nt[s];
    for (int e = 0; e < t->ne; e++)
        n += b->etouch[e];
    return n;
}

static void brute_links(struct brute *b, int l);

/* Extends the path of link l from node at, latency so far lat, length hops. */
static void
brute_path(struct brute *b, int l, int at, bool *on, double lat, int hops)
{
    const struct tiny *t = b->t;
    int goal = b->host[t->lb[l]];
    if (at == goal) {
        b->hops[l] = hops;
        brute_links(b, l + 1);
        return;
    }
    if (hops > 0 && !t->fwd[at])
        return;
    for (int e = 0; e < t->ne; e++) {
        int next = t->eu[e] == at ? t->ev[e] : t->ev[e] == at ? t->eu[e] : -1;
        if (next < 0 || on[next] || b->lused[e] + t->lbw[l] > t->ebw[e] + 1e-9)
            continue;
        if (t->llat[l] > 0 && lat + t->elat[e] > t->llat[l] + 1e-9)
            continue;
        bool saved_n = b->ntouch[next], saved_a = b->ntouch[at], saved_e = b->etouch[e];
        on[next] = true;
        b->lused[e] += t->lbw[l];
        b->ntouch[next] = b->ntouch[at] = b->etouch[e] = true;
        brute_path(b, l, next, on, lat + t->elat[e], hops + 1);
        b->ntouch[next] = saved_n;
        b->ntouch[at] = saved_a;
        b->etouch[e] = saved_e;
        b->lused[e] -= t->lbw[l];
        on[next] = false;
    }
}

static void
brute_links(struct brute *b, int l)
{
    const struct tiny *t = b->t;
    if (l == t->nl) {
        double v = brute_value(b);
        if (!b->found || v < b->best)
            b->best = v;
        b->found = true;
        return;
    }
    bool on[TS] = {false};
    on[b->host[t->la[l]]] = true;
    brute_path(b, l, b->host[t->la[l]], on, 0, 0);
}

static void
brute_nodes(struct brute *b, int v)
{
    const struct tiny *t = b->t;
    if (v == t->nv) {
        if (arch_ok(t, b->host))
            brute_links(b, 0);
        return;
    }
    for (int s = 0; s < t->ns; s++) {
        if (!t->host[s] || b->used[s] + t->cpu[v] > t->cap[s] + 1e-9)
            continue;
        if (t->want[v] == ARCH_X || t->want[v] == ARCH_A) {
            if (!offers_arch(t->arch[s], t->want[v]))
                continue;
        }
        bool clash = false;
        for (int w = 0; w < v; w++)
            clash |= b->host[w] == s && (t->anti[v] || t->anti[w]);
        if (clash)
            continue;
        b->host[v] = s;
        b->used[s] += t->cpu[v];
        brute_nodes(b, v + 1);
        b->used[s] -= t->cpu[v];
    }
}

static bool
brute_force(const struct tiny *t, int objective, double *ret_best)
{
    struct brute b;
    memset(&b, 0, sizeof(b));
    b.t = t;
    b.objective = objective;
    brute_nodes(&b, 0);
    *ret_best = b.best;
    return b.found;
}

/* Takes what mapping ml of instance t uses out of t's capacities. */
static void
tiny_reduce(struct tiny *t, const struct rdl_graph *ml)
{
    for (int v = 0; v < t->nv; v++) {
        char id[16];
        snprintf(id, sizeof(id), "v%d", v);
        int s = atoi(host_of(ml, id) + 1);
        t->cap[s] -= t->cpu[v];
    }
    for (int l = 0; l < t->nl; l++) {
        char id[16];
        snprintf(id, sizeof(id), "l%d", l);
        const struct rdl_map_entry *m = rdl_mapping_get(ml, id);
        for (size_t k = 1; k < rdl_map_entry_path_len(m); k += 2)
            t->ebw[atoi(rdl_map_entry_path_at(m, k) + 1)] -= t->lbw[l];
    }
}

/* Maps t's request a second time with ml as existing; the brute force on what is left must agree.
 */
static int
again(const struct tiny *t, const struct rdl_graph *ul, const struct rdl_graph *ol,
      const struct rdl_graph *ml)
{
    struct tiny rest = *t;
    tiny_reduce(&rest, ml);
    double best = 0;
    bool exists = brute_force(&rest, 0, &best);
    const struct rdl_graph *ex[] = {ml};
    struct rdl_graph *ml2 = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    bool bad;
    int rc = solve_checked(ul, ex, 1, ol, NULL, &ml2, &err, &bad);
    int ret = 0;
    if (bad || (rc == 0) != exists || (rc < 0 && err.code != CN_E_INFEASIBLE) ||
        (rc == 0 && fabs(objective_of(ml2) - best) > 1e-6 * fmax(1, best))) {
        fprintf(stderr, "  second: %s, value %g; brute force %s %g\n", rc ? cn_err_msg(&err) : "ok",
                ml2 ? objective_of(ml2) : -1, exists ? "found" : "found nothing", best);
        ret = -1;
    }
    rdl_graph_free(ml2);
    cn_err_release(&err);
    return ret;
}

static int
test_brute_force(const void *data)
{
    (void)data;
    static const char *const objectives[] = {"cost", "load", "energy"};
    static const char *const algorithms[] = {"heuristic", "grc"};
    int ret = -1;
    unsigned feasible = 0, infeasible = 0;
    rng_state = 0x9e3779b97f4a7c15ULL;
    for (int round = 0; round < 300; round++) {
        struct tiny t;
        tiny_random(&t);
        struct cn_buf ub = CN_BUF_INIT, ob = CN_BUF_INIT;
        cn_buf_init(&ub);
        cn_buf_init(&ob);
        tiny_yaml(&t, &ub, &ob);
        struct rdl_graph *ul = parse(ub.s);
        struct rdl_graph *ol = parse(ob.s);
        int fails = 0;
        if (!ul || !ol)
            fails++;
        for (int o = 0; o < 3 && !fails; o++) {
            double best = 0;
            bool exists = brute_force(&t, o, &best);
            struct map_options opts;
            map_options_init(&opts);
            opts.objective = objectives[o];
            struct rdl_graph *ml = NULL;
            struct cn_err err = CN_ERR_INIT;
            cn_err_init(&err);
            bool bad = false;
            int rc = solve_checked(ul, NULL, 0, ol, &opts, &ml, &err, &bad);
            if (bad)
                fails++;
            if (rc == 0 && !exists) {
                fprintf(stderr, "  round %d %s: mapped, the brute force found nothing\n", round,
                        objectives[o]);
                fails++;
            } else if (rc < 0 && exists) {
                fprintf(stderr, "  round %d %s: %s; the brute force found %g\n", round,
                        objectives[o], cn_err_msg(&err), best);
                fails++;
            } else if (rc < 0 && err.code != CN_E_INFEASIBLE) {
                fprintf(stderr, "  round %d %s: %s\n", round, objectives[o], cn_err_msg(&err));
                fails++;
            } else if (rc == 0 && fabs(objective_of(ml) - best) > 1e-6 * fmax(1, best)) {
                fprintf(stderr, "  round %d %s: value %g, brute force optimum %g\n", round,
                        objectives[o], objective_of(ml), best);
                fails++;
            }
            if (o == 0)
                exists ? feasible++ : infeasible++;
            /* The same request once more next to the first: capacities shrink by its use. */
            if (o == 0 && rc == 0 && !fails && again(&t, ul, ol, ml) < 0) {
                fprintf(stderr, "  round %d: the second request is wrong\n", round);
                fails++;
            }
            rdl_graph_free(ml);
            ml = NULL;
            /* The heuristics need not be optimal, but what they return must be correct. */
            for (size_t a = 0; o == 0 && a < CN_ARRAY_SIZE(algorithms); a++) {
                map_algorithm_parse(algorithms[a], &opts.algorithm);
                cn_err_clear(&err);
                rc = solve_checked(ul, NULL, 0, ol, &opts, &ml, &err, &bad);
                if (bad || (rc == 0 && !exists) ||
                    (rc == 0 && objective_of(ml) < best - 1e-6 * fmax(1, best))) {
                    fprintf(stderr, "  round %d %s: wrong mapping\n", round, algorithms[a]);
                    fails++;
                }
                rdl_graph_free(ml);
                ml = NULL;
            }
            cn_err_release(&err);
        }
        if (fails)
            fprintf(stderr, "  underlay:\n%s  overlay:\n%s", ub.s, ob.s);
        rdl_graph_free(ul);
        rdl_graph_free(ol);
        cn_buf_release(&ub);
        cn_buf_release(&ob);
        if (fails)
            goto cleanup;
    }
    printf("     brute force: %u feasible and %u infeasible instances agree\n", feasible,
           infeasible);
    CHECK(feasible > 50 && infeasible > 10);
    ret = 0;
cleanup:
    return ret;
}

/* ---- migration-aware re-mapping ---- */

/* Four hosts in a ring: h1 - h2 - h3 - h4 - h1. */
static const char ring_ul[] = "rdl: 1\nkind: underlay\nname: ring\nelements:\n"
                              "  h1: {type: /node/host/server, resources: {cpu: 4}}\n"
                              "  h2: {type: /node/host/server, resources: {cpu: 4}}\n"
                              "  h3: {type: /node/host/server, resources: {cpu: 4}}\n"
                              "  h4: {type: /node/host/server, resources: {cpu: 4}}\n"
                              "  h1-h2: {type: /link/eth, resources: {bandwidth: 100}}\n"
                              "  h2-h3: {type: /link/eth, resources: {bandwidth: 100}}\n"
                              "  h3-h4: {type: /link/eth, resources: {bandwidth: 100}}\n"
                              "  h4-h1: {type: /link/eth, resources: {bandwidth: 100}}\n"
                              "interfaces:\n"
                              "  - {between: [h1, h1-h2]}\n  - {between: [h1-h2, h2]}\n"
                              "  - {between: [h2, h2-h3]}\n  - {between: [h2-h3, h3]}\n"
                              "  - {between: [h3, h3-h4]}\n  - {between: [h3-h4, h4]}\n"
                              "  - {between: [h4, h4-h1]}\n  - {between: [h4-h1, h1]}\n";

/* Version 1 of "app" as it was mapped: a on h1, b on h3 (not where a fresh solve puts them). */
static const char app_prev[] =
    "rdl: 1\nkind: mapping\nname: app\noverlay: app\nunderlay: ring\nmap:\n"
    "  a: {to: h1, resources: {cpu: 1}}\n"
    "  b: {to: h3, resources: {cpu: 1}}\n"
    "  old: {to: h2, resources: {cpu: 3}}\n"
    "  a-b: {path: [h1, h1-h2, h2, h2-h3, h3], resources: {bandwidth: 10}}\n"
    "  a-old: {path: [h1, h1-h2, h2], resources: {bandwidth: 10}}\n";

/* Another CloudNet: 3 cpu on h1 and 50 Mbit/s on h1-h2. */
static const char other_ml[] =
    "rdl: 1\nkind: mapping\nname: other\noverlay: other\nunderlay: ring\nmap:\n"
    "  x: {to: h1, resources: {cpu: 3}}\n"
    "  y: {to: h2, resources: {cpu: 0}}\n"
    "  x-y: {path: [h1, h1-h2, h2], resources: {bandwidth: 50}}\n";

struct mig_case {
    const char *overlay; /* app version 2 */
    double move_cost;
    bool with_other;
    const char *want_a, *want_b, *want_c; /* hosts; no want_a: a and b together */
    const char *want_ab;                  /* path of a-b, or NULL */
    double want_cost;
    const char *want_err; /* prefix of the error, or NULL */
    int want_code;
};

static int
test_migration(const void *data)
{
    const struct mig_case *mc = data;
    int ret = -1;
    struct rdl_graph *ul = parse(ring_ul);
    struct rdl_graph *prev = parse(app_prev);
    struct rdl_graph *other = parse(other_ml);
    struct rdl_graph *ol = parse(mc->overlay);
    struct rdl_graph *ml = NULL;
    char *path = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct map_options o;
    map_options_init(&o);
    o.previous = prev;
    o.move_cost = mc->move_cost;
    const struct rdl_graph *ex[] = {other};
    size_t nex = mc->with_other ? 1 : 0;
    bool bad;
    if (!ul || !prev || !other || !ol)
        goto cleanup;
    if (mc->want_err) {
        CHECK(map_rdl_solve(ul, ex, nex, ol, &o, &ml, &err) < 0);
        CHECK(ml == NULL);
        CHECK(err.code == mc->want_code);
        if (strncmp(cn_err_msg(&err), mc->want_err, strlen(mc->want_err)) != 0) {
            fprintf(stderr, "  got: %s\n  expected: %s...\n", cn_err_msg(&err), mc->want_err);
            goto cleanup;
        }
        ret = 0;
        goto cleanup;
    }
    if (solve_checked(ul, ex, nex, ol, &o, &ml, &err, &bad) < 0 || bad) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    if (mc->want_a) {
        CHECK_STR(host_of(ml, "a"), mc->want_a);
        CHECK_STR(host_of(ml, "b"), mc->want_b);
    } else {
        /* Either end may be the one that moves, not both. */
        CHECK(cn_streq(host_of(ml, "a"), host_of(ml, "b")));
        CHECK(cn_streq(host_of(ml, "a"), "h1") || cn_streq(host_of(ml, "a"), "h3"));
    }
    if (mc->want_c)
        CHECK_STR(host_of(ml, "c"), mc->want_c);
    /* Elements of the earlier version that are gone stay gone. */
    CHECK(rdl_mapping_get(ml, "old") == NULL && rdl_mapping_get(ml, "a-old") == NULL);
    if (mc->want_ab) {
        path = path_of(ml, "a-b");
        CHECK_STR(path, mc->want_ab);
    }
    if (fabs(objective_of(ml) - mc->want_cost) > 1e-9) {
        fprintf(stderr, "  cost %g, expected %g\n", objective_of(ml), mc->want_cost);
        show(ml);
        goto cleanup;
    }
    ret = 0;
cleanup:
    free(path);
    rdl_graph_free(ul);
    rdl_graph_free(prev);
    rdl_graph_free(other);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

#define APP_V2(a_cpu, b_feat, ab_bw, extra)                                                        \
    "rdl: 1\nkind: overlay\nname: app\nelements:\n"                                                \
    "  a: {type: /node/host/generic, resources: {cpu: " a_cpu "}}\n"                               \
    "  b: {type: /node/host/generic, resources: {cpu: 1}" b_feat "}\n"                             \
    "  a-b: {type: /link/generic, resources: {bandwidth: " ab_bw "}}\n" extra

#define AB_IFACES "interfaces:\n  - {between: [a, a-b]}\n  - {between: [a-b, b]}\n"

/* Pinned (the default): both stay although sharing a host would be cheaper. */
static const struct mig_case mig_pinned = {
    .overlay = APP_V2("1", "", "10", AB_IFACES),
    .move_cost = INFINITY,
    .want_a = "h1",
    .want_b = "h3",
    .want_cost = 2 + 10 * 2,
};

/* a-b grew to 80 Mbit/s; h1-h2 has 50 left next to the other CloudNet: the other way round. */
static const struct mig_case mig_grown_link = {
    .overlay = APP_V2("1", "", "80", AB_IFACES),
    .move_cost = INFINITY,
    .with_other = true,
    .want_a = "h1",
    .want_b = "h3",
    .want_ab = "h1 h4-h1 h4 h3-h4 h3",
    .want_cost = 2 + 80 * 2,
};

/* A new node c, tied to b, goes next to it; the removed 'old' is ignored. */
static const struct mig_case mig_added = {
    .overlay = APP_V2("1", "", "10",
                      "  c: {type: /node/host/generic, resources: {cpu: 2}}\n"
                      "  b-c: {type: /link/generic, resources: {bandwidth: 30}}\n" AB_IFACES
                      "  - {between: [b, b-c]}\n  - {between: [b-c, c]}\n"),
    .move_cost = INFINITY,
    .want_a = "h1",
    .want_b = "h3",
    .want_c = "h3",
    .want_cost = 4 + 10 * 2,
};

/* A move worth less than the two hops it saves is made... */
static const struct mig_case mig_cheap_move = {
    .overlay = APP_V2("1", "", "10", AB_IFACES),
    .move_cost = 5,
    .want_cost = 2,
};

/* ...one worth more is not, unless the node's own migration_cost says otherwise. */
static const struct mig_case mig_dear_move = {
    .overlay = APP_V2("1", "", "10", AB_IFACES),
    .move_cost = 50,
    .want_a = "h1",
    .want_b = "h3",
    .want_cost = 22,
};

static const struct mig_case mig_own_cost = {
    .overlay = APP_V2("1", ", features: {migration_cost: 1}", "10", AB_IFACES),
    .move_cost = 50,
    .want_a = "h1",
    .want_b = "h1",
    .want_cost = 2,
};

/* a grew to 2 cpu; h1 has 1 left next to the other CloudNet. */
static const struct mig_case mig_cannot_stay = {
    .overlay = APP_V2("2", "", "10", AB_IFACES),
    .move_cost = INFINITY,
    .with_other = true,
    .want_err = "'a' cannot stay on 'h1': it needs cpu 2, the host has 1 free",
    .want_code = CN_E_INFEASIBLE,
};

/* With a finite cost it moves instead, next to b. */
static const struct mig_case mig_must_move = {
    .overlay = APP_V2("2", "", "10", AB_IFACES),
    .move_cost = 1,
    .with_other = true,
    .want_a = "h3",
    .want_b = "h3",
    .want_cost = 3,
};

static const struct mig_case mig_bad_own_cost = {
    .overlay = APP_V2("1", ", features: {migration_cost: -3}", "10", AB_IFACES),
    .move_cost = INFINITY,
    .want_err = "overlay 'app': node 'b': migration_cost must be a number >= 0",
    .want_code = CN_E_INVALID,
};

/* The previous mapping must be one of this overlay on this underlay. */
static int
test_migration_bad_previous(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *ul = parse(ring_ul);
    struct rdl_graph *ol = parse(APP_V2("1", "", "10", AB_IFACES));
    struct rdl_graph *other = parse(other_ml);
    struct rdl_graph *ml = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct map_options o;
    map_options_init(&o);
    if (!ul || !ol || !other)
        goto cleanup;
    CHECK(isinf(o.move_cost) && o.previous == NULL);
    o.previous = other;
    CHECK(map_rdl_solve(ul, NULL, 0, ol, &o, &ml, &err) < 0 && ml == NULL);
    CHECK(err.code == CN_E_INVALID);
    CHECK(strstr(cn_err_msg(&err), "is of overlay 'other', not of 'app'") != NULL);
    cn_err_clear(&err);
    o.previous = ol;
    CHECK(map_rdl_solve(ul, NULL, 0, ol, &o, &ml, &err) < 0 && ml == NULL);
    CHECK(err.code == CN_E_INVALID);
    CHECK(strstr(cn_err_msg(&err), "must be a mapping document") != NULL);
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(other);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

/* ---- rebalancing ---- */

static const char rb_app1[] =
    "rdl: 1\nkind: overlay\nname: app1\nelements:\n"
    "  a: {type: /node/host/generic, resources: {cpu: 2}, features: {migration_cost: 10}}\n"
    "  b: {type: /node/host/generic, resources: {cpu: 2}}\n"
    "  a-b: {type: /link/generic, resources: {bandwidth: 10}}\n" AB_IFACES;
static const char rb_app1_ml[] =
    "rdl: 1\nkind: mapping\nname: app1\noverlay: app1\nunderlay: ring\nmap:\n"
    "  a: {to: h1, resources: {cpu: 2}}\n"
    "  b: {to: h2, resources: {cpu: 2}}\n"
    "  a-b: {path: [h1, h1-h2, h2], resources: {bandwidth: 10}}\n";
static const char rb_app2[] = "rdl: 1\nkind: overlay\nname: app2\nelements:\n"
                              "  c: {type: /node/host/generic, resources: {cpu: 1}}\n"
                              "  d: {type: /node/host/generic, resources: {cpu: 1}}\n"
                              "  c-d: {type: /link/generic, resources: {bandwidth: 20}}\n"
                              "interfaces:\n  - {between: [c, c-d]}\n  - {between: [c-d, d]}\n";
static const char rb_app2_ml[] =
    "rdl: 1\nkind: mapping\nname: app2\noverlay: app2\nunderlay: ring\nmap:\n"
    "  c: {to: h3, resources: {cpu: 1}}\n"
    "  d: {to: h4, resources: {cpu: 1}}\n"
    "  c-d: {path: [h3, h3-h4, h4], resources: {bandwidth: 20}}\n";

struct rb_case {
    double free_pct;
    double move_cost;
    size_t want_moves, want_used;
    double want_cost;
    const char *want_err; /* the whole message, or NULL */
};

static int
test_rebalance(const void *data)
{
    const struct rb_case *rc = data;
    int ret = -1;
    struct rdl_graph *ul = parse(ring_ul);
    struct rdl_graph *ol[2] = {parse(rb_app1), parse(rb_app2)};
    struct rdl_graph *ml[2] = {parse(rb_app1_ml), parse(rb_app2_ml)};
    struct map_rdl_rebalance *rb = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct map_options o;
    map_options_init(&o);
    o.move_cost = rc->move_cost;
    if (!ul || !ol[0] || !ol[1] || !ml[0] || !ml[1])
        goto cleanup;
    int r = map_rdl_rebalance(ul, NULL, 0, (const struct rdl_graph *const *)ol,
                              (const struct rdl_graph *const *)ml, 2, rc->free_pct, &o, &rb, &err);
    if (rc->want_err) {
        CHECK(r < 0 && rb == NULL);
        CHECK(err.code == CN_E_INFEASIBLE);
        CHECK_STR(cn_err_msg(&err), rc->want_err);
        ret = 0;
        goto cleanup;
    }
    if (r < 0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    CHECK(rb->n == 2 && rb->hosts == 4 && rb->used_before == 4);
    CHECK(rb->nmoves == rc->want_moves);
    CHECK(rb->used_after == rc->want_used);
    CHECK(fabs(rb->move_cost - rc->want_cost) < 1e-9);
    CHECK(rb->gap == 0);
    /* a's own migration_cost of 10 keeps it in place whenever something else can move. */
    for (size_t i = 0; i < rb->nmoves; i++)
        CHECK(strcmp(rb->moves[i].element, "a") != 0);
    /* Each new mapping is valid next to the other new one, and hosts agree with the count. */
    size_t nused = 0;
    const char *seen[8];
    for (size_t i = 0; i < 2; i++) {
        const struct rdl_graph *other[] = {rb->mappings[1 - i]};
        if (map_rdl_check(ul, other, 1, ol[i], rb->mappings[i], &err) < 0) {
            fprintf(stderr, "  checker: %s\n", cn_err_msg(&err));
            show(rb->mappings[i]);
            goto cleanup;
        }
        for (size_t k = 0; k < rdl_mapping_count(rb->mappings[i]); k++) {
            const char *to = rdl_map_entry_to(rdl_mapping_at(rb->mappings[i], k));
            bool dup = !to;
            for (size_t j = 0; j < nused && !dup; j++)
                dup = strcmp(seen[j], to) == 0;
            if (!dup)
                seen[nused++] = to;
        }
    }
    CHECK(nused == rc->want_used);
    ret = 0;
cleanup:
    map_rdl_rebalance_free(rb);
    rdl_graph_free(ul);
    for (size_t i = 0; i < 2; i++) {
        rdl_graph_free(ol[i]);
        rdl_graph_free(ml[i]);
    }
    cn_err_release(&err);
    return ret;
}

static const struct rb_case rb_none = {.free_pct = 0, .move_cost = INFINITY, .want_used = 4};
static const struct rb_case rb_half = {
    .free_pct = 50, .move_cost = INFINITY, .want_moves = 2, .want_used = 2, .want_cost = 2};
static const struct rb_case rb_half_priced = {
    .free_pct = 50, .move_cost = 4, .want_moves = 2, .want_used = 2, .want_cost = 8};
static const struct rb_case rb_quarter = {
    .free_pct = 25, .move_cost = 1, .want_moves = 1, .want_used = 3, .want_cost = 1};
static const struct rb_case rb_too_much = {
    .free_pct = 75,
    .move_cost = 1,
    .want_err = "cannot free 75% of 4 hosts: at most 2 (50.0%) can be emptied"};
/* app1's b grew beyond every host: no target helps, and the message names it. */
static int
test_rebalance_misfit(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *ul = parse(ring_ul);
    char *text = xasprintf("%s", rb_app1);
    char *b = strstr(text, "b: {type: /node/host/generic, resources: {cpu: 2}}");
    struct rdl_graph *ol = NULL, *ml = parse(rb_app1_ml);
    struct map_rdl_rebalance *rb = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    if (!b || !ul || !ml)
        goto cleanup;
    b[strlen("b: {type: /node/host/generic, resources: {cpu: ")] = '5';
    if (!(ol = parse(text)))
        goto cleanup;
    const struct rdl_graph *ols[] = {ol}, *mls[] = {ml};
    CHECK(map_rdl_rebalance(ul, NULL, 0, ols, mls, 1, 25, NULL, &rb, &err) < 0 && !rb);
    CHECK(err.code == CN_E_INFEASIBLE);
    CHECK_STR(cn_err_msg(&err), "the CloudNets do not fit together on 'ring': no underlay node "
                                "can host 'app1:b': needs cpu 5, the largest free capacity is 4");
    ret = 0;
cleanup:
    free(text);
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

static const struct rb_case rb_all = {
    .free_pct = 100,
    .move_cost = 1,
    .want_err = "cannot free 100% of 4 hosts: at most 2 (50.0%) can be emptied"};

/* Bad arguments change nothing. */
static int
test_rebalance_bad(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *ul = parse(ring_ul);
    struct rdl_graph *ol[2] = {parse(rb_app1), parse(rb_app2)};
    struct rdl_graph *ml[2] = {parse(rb_app1_ml), parse(rb_app2_ml)};
    struct map_rdl_rebalance *rb = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    if (!ul || !ol[0] || !ol[1] || !ml[0] || !ml[1])
        goto cleanup;
    const struct rdl_graph *const *ols = (const struct rdl_graph *const *)ol;
    const struct rdl_graph *const *mls = (const struct rdl_graph *const *)ml;
    CHECK(map_rdl_rebalance(ul, NULL, 0, ols, mls, 0, 50, NULL, &rb, &err) < 0 && !rb);
    CHECK(err.code == CN_E_INVALID);
    cn_err_clear(&err);
    CHECK(map_rdl_rebalance(ul, NULL, 0, ols, mls, 2, 150, NULL, &rb, &err) < 0 && !rb);
    CHECK(err.code == CN_E_INVALID);
    cn_err_clear(&err);
    const struct rdl_graph *swapped[] = {ml[1], ml[0]};
    CHECK(map_rdl_rebalance(ul, NULL, 0, ols, swapped, 2, 50, NULL, &rb, &err) < 0 && !rb);
    CHECK(err.code == CN_E_INVALID);
    CHECK(strstr(cn_err_msg(&err), "is of overlay 'app2', not of 'app1'") != NULL);
    cn_err_clear(&err);
    CHECK(map_rdl_rebalance(ol[0], NULL, 0, ols, mls, 2, 50, NULL, &rb, &err) < 0 && !rb);
    CHECK(err.code == CN_E_INVALID);
    cn_err_clear(&err);
    const struct rdl_graph *twice[] = {ol[0], ol[0]};
    const struct rdl_graph *twice_ml[] = {ml[0], ml[0]};
    CHECK(map_rdl_rebalance(ul, NULL, 0, twice, twice_ml, 2, 50, NULL, &rb, &err) < 0 && !rb);
    CHECK(err.code == CN_E_INVALID);
    CHECK_STR(cn_err_msg(&err), "two CloudNets are named 'app1'");
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    for (size_t i = 0; i < 2; i++) {
        rdl_graph_free(ol[i]);
        rdl_graph_free(ml[i]);
    }
    cn_err_release(&err);
    return ret;
}

/* ---- argument errors ---- */

static int
test_wrong_kinds(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *ul = read_example("pip-berlin.yaml");
    struct rdl_graph *ol = read_example("webshop.yaml");
    struct rdl_graph *ex = read_example("webshop-on-berlin.yaml");
    struct rdl_graph *ml = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    if (!ul || !ol || !ex)
        goto cleanup;
    CHECK(map_rdl_solve(ol, NULL, 0, ol, NULL, &ml, &err) < 0 && err.code == CN_E_INVALID);
    cn_err_clear(&err);
    CHECK(map_rdl_solve(ul, NULL, 0, ul, NULL, &ml, &err) < 0 && err.code == CN_E_INVALID);
    cn_err_clear(&err);
    /* The example mapping is on pip-berlin: it is an acceptable existing mapping. */
    const struct rdl_graph *exs[] = {ex};
    bool bad;
    CHECK(solve_checked(ul, exs, 1, ol, NULL, &ml, &err, &bad) == 0 && !bad);
    CHECK(map_rdl_check(ul, NULL, 0, ol, ex, &err) == 0);
    rdl_graph_free(ml);
    ml = NULL;
    const struct rdl_graph *wrong[] = {ol};
    CHECK(map_rdl_solve(ul, wrong, 1, ol, NULL, &ml, &err) < 0 && err.code == CN_E_INVALID);
    CHECK(ml == NULL);
    ret = 0;
cleanup:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ex);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

int
main(void)
{
    TEST_RUN("webshop on pip-berlin, every objective and algorithm", test_webshop_all, NULL);
    TEST_RUN("vague request on pip-berlin", test_vague, NULL);
    TEST_RUN("spanning request on the VNP substrate", test_spanning_vnp, NULL);
    TEST_RUN("misfit: location", test_misfit, &misfit_location);
    TEST_RUN("misfit: location list", test_misfit, &misfit_location_list);
    TEST_RUN("misfit: type", test_misfit, &misfit_type);
    TEST_RUN("misfit: cpu", test_misfit, &misfit_cpu);
    TEST_RUN("misfit: cpu on the fitting arch", test_misfit, &misfit_cpu_arm);
    TEST_RUN("misfit: cpu, with addresses and an image", test_misfit, &misfit_cpu_configured);
    TEST_RUN("misfit: features only apart", test_misfit, &misfit_together);
    TEST_RUN("misfit: capacity overall", test_misfit, &misfit_overall);
    TEST_RUN("misfit: latency", test_misfit, &misfit_latency);
    TEST_RUN("misfit: same_as group", test_misfit, &misfit_same_as);
    TEST_RUN("same_as: completion's value is infeasible", test_same_as_infeasible_first, NULL);
    TEST_RUN("same_as: completion's value is worse", test_same_as_worse_first, NULL);
    TEST_RUN("same_as: beyond the combination budget", test_same_as_many_groups, NULL);
    TEST_RUN("existing mappings: map until full", test_existing_until_full, NULL);
    TEST_RUN("existing mappings: link bandwidth", test_existing_bandwidth, NULL);
    TEST_RUN("path: shortest", test_path_direct, NULL);
    TEST_RUN("path: latency bound forces a detour", test_path_latency, NULL);
    TEST_RUN("path: forwarding false hosts and ends paths", test_non_forwarding_hosts, NULL);
    TEST_RUN("border nodes hold only transit stubs", test_border_nodes, NULL);
    TEST_RUN("checker rejects wrong mappings", test_checker_rejects, NULL);
    TEST_RUN("brute force on random tiny instances", test_brute_force, NULL);
    TEST_RUN("documents of the wrong kind", test_wrong_kinds, NULL);
    TEST_RUN("migration: pinned nodes keep their hosts", test_migration, &mig_pinned);
    TEST_RUN("migration: a grown link is re-routed", test_migration, &mig_grown_link);
    TEST_RUN("migration: an added node is placed, removed ones ignored", test_migration,
             &mig_added);
    TEST_RUN("migration: a cheap move is made", test_migration, &mig_cheap_move);
    TEST_RUN("migration: a dear move is not", test_migration, &mig_dear_move);
    TEST_RUN("migration: migration_cost overrides per node", test_migration, &mig_own_cost);
    TEST_RUN("migration: a pinned node that no longer fits", test_migration, &mig_cannot_stay);
    TEST_RUN("migration: a node that no longer fits moves", test_migration, &mig_must_move);
    TEST_RUN("migration: bad migration_cost", test_migration, &mig_bad_own_cost);
    TEST_RUN("migration: previous of another overlay or kind", test_migration_bad_previous, NULL);
    TEST_RUN("rebalance: free nothing", test_rebalance, &rb_none);
    TEST_RUN("rebalance: free a quarter", test_rebalance, &rb_quarter);
    TEST_RUN("rebalance: free half", test_rebalance, &rb_half);
    TEST_RUN("rebalance: free half at a price per move", test_rebalance, &rb_half_priced);
    TEST_RUN("rebalance: more than can be freed", test_rebalance, &rb_too_much);
    TEST_RUN("rebalance: every host", test_rebalance, &rb_all);
    TEST_RUN("rebalance: bad arguments", test_rebalance_bad, NULL);
    TEST_RUN("rebalance: CloudNets that do not fit at all", test_rebalance_misfit, NULL);
    return test_summary();
}
