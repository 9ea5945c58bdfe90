/*
 * pipd benchmark: how many CloudNets per second one pipd negotiates,
 * confirms and releases, with one client and with several concurrent ones.
 * Run it with
 *
 *     make BUILD=DIR bench-build && DIR/bench/pip_bench [-n COUNT] [-c CLIENTS,...] [-H HOSTS]
 *
 * It starts a private MariaDB (scripts/mariadb-scratch.sh, found through
 * TEST_SRCDIR or ./tests, so run it from the source tree) and the pipd
 * next to it (../bin/pipd) on a free loopback port, with a generated
 * substrate of HOSTS (default 50) KVM hosts served by libvirt's test
 * driver, spread over 5 switches joined in a ring. Each CloudNet has 4
 * VNodes on a path of 3 links plus a link closing the ring (4 links);
 * its VNodes fit one host, so the cost objective keeps every link inside
 * a host (path [h]) and no dataplane map is needed: only domains with
 * bridge interfaces are defined. Every client (a thread with its own
 * xmlrpc-c client) does negotiate, confirm, release for COUNT CloudNets
 * (default 40 per phase), one after the other. Printed per phase:
 * CloudNets per second, and p50/p99/max latency of the whole
 * negotiate+confirm+release and of each call, in milliseconds.
 *
 * The same overlay is then mapped COUNT times in this process
 * (map_rdl_solve on the full substrate), so the share of mapping in a
 * negotiate can be read off.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#include "mapping/mapping.h"
#include "rdl/rdl.h"
#include "tests/daemon-helper.h"
#include "tests/db-helper.h"
#include "util/util.h"

#define SECRET "bench-secret-1234"
#define SWITCHES 5

static struct test_db db;
static char scratch[256];
static struct test_daemon pipd = {.name = "pipd"};
static char clipd_sock[700];

static bool
socket_made(const void *path)
{
    return access(path, F_OK) == 0;
}

/*
 * The image cache in front of pipd (docs/clipd.md): every VNode's disk is
 * then a rename of a copy clipd made ahead of time, as on a production PIP.
 */
static struct test_daemon clipd = {.name = "clipd", .ready = socket_made, .ready_arg = clipd_sock};

static int
clipd_start(const char *argv0, int copies)
{
    char text[2048], store[700];
    if (test_bin_path(clipd.prog, sizeof(clipd.prog), argv0, "clipd") < 0)
        return -1;
    snprintf(store, sizeof(store), "%s/store", scratch);
    snprintf(clipd_sock, sizeof(clipd_sock), "%s/clipd.sock", scratch);
    snprintf(clipd.conf, sizeof(clipd.conf), "%s/clipd.conf", scratch);
    snprintf(clipd.log, sizeof(clipd.log), "%s/clipd.log", scratch);
    snprintf(text, sizeof(text),
             "store %s\nsocket %s\ndestdir %s/images\ntemplate bench %s/templates/bench.img "
             "copies %d\n",
             store, clipd_sock, scratch, scratch, copies);
    if (mkdir(store, 0700) < 0 || test_write_text(clipd.conf, text) < 0)
        return -1;
    return test_daemon_start(&clipd);
}

static const char overlay_yaml[] = "rdl: 1\n"
                                   "kind: overlay\n"
                                   "name: bench\n"
                                   "elements:\n"
                                   "  a: {type: /node/host/generic, resources: {cpu: 1, memory: "
                                   "512}, features: {image: bench}}\n"
                                   "  b: {type: /node/host/generic, resources: {cpu: 1, memory: "
                                   "512}, features: {image: bench}}\n"
                                   "  c: {type: /node/host/generic, resources: {cpu: 1, memory: "
                                   "512}, features: {image: bench}}\n"
                                   "  d: {type: /node/host/generic, resources: {cpu: 1, memory: "
                                   "512}, features: {image: bench}}\n"
                                   "  ab: {type: /link/generic, resources: {bandwidth: 10}}\n"
                                   "  bc: {type: /link/generic, resources: {bandwidth: 10}}\n"
                                   "  cd: {type: /link/generic, resources: {bandwidth: 10}}\n"
                                   "  da: {type: /link/generic, resources: {bandwidth: 10}}\n"
                                   "interfaces:\n"
                                   "  - {between: [a, ab]}\n"
                                   "  - {between: [ab, b]}\n"
                                   "  - {between: [b, bc]}\n"
                                   "  - {between: [bc, c]}\n"
                                   "  - {between: [c, cd]}\n"
                                   "  - {between: [cd, d]}\n"
                                   "  - {between: [d, da]}\n"
                                   "  - {between: [da, a]}\n";

enum { CALL_NEGOTIATE, CALL_CONFIRM, CALL_RELEASE, CALL_TOTAL, NCALLS };
static const char *const call_names[NCALLS] = {"negotiate", "confirm", "release", "total"};

struct worker {
    pthread_t thread;
    int index;
    int count;
    int phase;
    double *ms[NCALLS]; /* count samples each */
    int done;
    int failures;
    char first_error[512];
};

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static char *
substrate_yaml(int hosts)
{
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_puts(&b, "rdl: 1\nkind: underlay\nname: bench\nvlan_range: [2, 4094]\nelements:\n");
    for (int i = 0; i < hosts; i++)
        cn_buf_printf(&b,
                      "  h%d: {type: /node/host/server/kvm, resources: {cpu: 64, memory: 262144}, "
                      "features: {arch: x86_64}}\n"
                      "  h%d-s%d: {type: /link/ethernet/vlan, resources: {bandwidth: 10000}}\n",
                      i, i, i % SWITCHES);
    for (int s = 0; s < SWITCHES; s++)
        cn_buf_printf(&b,
                      "  s%d: {type: /node/switch}\n"
                      "  s%d-s%d: {type: /link/ethernet/vlan, resources: {bandwidth: 40000}}\n",
                      s, s, (s + 1) % SWITCHES);
    cn_buf_puts(&b, "interfaces:\n");
    for (int i = 0; i < hosts; i++)
        cn_buf_printf(&b, "  - {between: [h%d, h%d-s%d]}\n  - {between: [h%d-s%d, s%d]}\n", i, i,
                      i % SWITCHES, i, i % SWITCHES, i % SWITCHES);
    for (int s = 0; s < SWITCHES; s++)
        cn_buf_printf(&b, "  - {between: [s%d, s%d-s%d]}\n  - {between: [s%d-s%d, s%d]}\n", s, s,
                      (s + 1) % SWITCHES, s, (s + 1) % SWITCHES, (s + 1) % SWITCHES);
    return cn_buf_detach(&b);
}

/* One call; 0, or -1 with the fault in w->first_error (the first one only). */
static int
call(struct worker *w, xmlrpc_client *client, const char *method, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    int fault;

    va_start(ap, fmt);
    xmlrpc_value *result =
        test_xmlrpc_callv(client, pipd.url, method, &fault, msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!result) {
        if (!w->first_error[0])
            snprintf(w->first_error, sizeof(w->first_error), "%s: fault %d: %s", method, fault,
                     msg);
        return -1;
    }
    xmlrpc_DECREF(result);
    return 0;
}

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    xmlrpc_client *client = test_xmlrpc_client("pip_bench");

    if (!client) {
        snprintf(w->first_error, sizeof(w->first_error), "no xmlrpc client");
        w->failures = w->count;
        return NULL;
    }
    for (int i = 0; i < w->count; i++) {
        char id[64];
        double t0, t1, t2, t3;
        snprintf(id, sizeof(id), "bench-p%d-c%d-%d", w->phase, w->index, i);
        t0 = now_ms();
        if (call(w, client, "negotiate", "(sssi)", SECRET, id, overlay_yaml, 600) < 0) {
            w->failures++;
            continue;
        }
        t1 = now_ms();
        if (call(w, client, "confirm", "(ss)", SECRET, id) < 0)
            w->failures++;
        t2 = now_ms();
        if (call(w, client, "release", "(ss)", SECRET, id) < 0)
            w->failures++;
        t3 = now_ms();
        w->ms[CALL_NEGOTIATE][w->done] = t1 - t0;
        w->ms[CALL_CONFIRM][w->done] = t2 - t1;
        w->ms[CALL_RELEASE][w->done] = t3 - t2;
        w->ms[CALL_TOTAL][w->done] = t3 - t0;
        w->done++;
    }
    xmlrpc_client_destroy(client);
    return NULL;
}

static void
print_stats(const char *name, double *v, int n)
{
    double p50 = test_quantile(v, n, 0.5), p99 = test_quantile(v, n, 0.99);
    printf("  %-10s p50 %8.1f ms   p99 %8.1f ms   max %8.1f ms\n", name, p50, p99,
           n ? v[n - 1] : 0);
}

/* Server counters read before and after a phase. */
static const char *const counters[] = {"Questions", "Com_commit", "Innodb_data_fsyncs",
                                       "Innodb_os_log_fsyncs"};
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

/* Runs one phase; 0 when every CloudNet went through. */
static int
run_phase(int phase, int clients, int per_client)
{
    struct worker *w = xcalloc((size_t)clients, sizeof(*w));
    int total = clients * per_client, done = 0, failures = 0;
    double *all[NCALLS];
    double t0, elapsed;

    double c0[NCOUNTERS], c1[NCOUNTERS];
    pid_t mpid = test_mariadb_pid(db.dir);
    double pipd_cpu0 = test_cpu_ms(pipd.pid), db_cpu0 = test_cpu_ms(mpid);

    test_mariadb_counters(db.socket, counters, NCOUNTERS, c0);
    for (int c = 0; c < NCALLS; c++)
        all[c] = xcalloc((size_t)total, sizeof(double));
    t0 = now_ms();
    for (int i = 0; i < clients; i++) {
        w[i].index = i;
        w[i].count = per_client;
        w[i].phase = phase;
        for (int c = 0; c < NCALLS; c++)
            w[i].ms[c] = xcalloc((size_t)per_client, sizeof(double));
        pthread_create(&w[i].thread, NULL, worker_run, &w[i]);
    }
    for (int i = 0; i < clients; i++) {
        pthread_join(w[i].thread, NULL);
        for (int c = 0; c < NCALLS; c++)
            memcpy(all[c] + done, w[i].ms[c], (size_t)w[i].done * sizeof(double));
        done += w[i].done;
        failures += w[i].failures;
        if (w[i].first_error[0])
            fprintf(stderr, "client %d: %s\n", i, w[i].first_error);
    }
    elapsed = now_ms() - t0;
    printf("%d client(s), %d CloudNets (%d failed calls): %.1f CloudNets/s over %.1f s\n", clients,
           done, failures, done / (elapsed / 1e3), elapsed / 1e3);
    for (int c = 0; c < NCALLS; c++)
        print_stats(call_names[c], all[c], done);
    double pipd_cpu = test_cpu_ms(pipd.pid) - pipd_cpu0, db_cpu = test_cpu_ms(mpid) - db_cpu0;
    test_mariadb_counters(db.socket, counters, NCOUNTERS, c1);
    if (done) {
        printf("  per CloudNet: %.1f ms wall, pipd CPU %.1f ms, mariadbd CPU %.1f ms",
               elapsed / done, pipd_cpu / done, db_cpu / done);
        for (size_t i = 0; i < NCOUNTERS; i++)
            if (c0[i] >= 0 && c1[i] >= 0)
                printf(", %s %.1f", counters[i], (c1[i] - c0[i]) / done);
        printf("\n");
    }
    for (int i = 0; i < clients; i++)
        for (int c = 0; c < NCALLS; c++)
            free(w[i].ms[c]);
    for (int c = 0; c < NCALLS; c++)
        free(all[c]);
    free(w);
    return failures ? -1 : 0;
}

/* Maps the overlay count times in this process: mapping's share of a negotiate. */
static void
time_mapping(const char *ul_text, int count)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *ul = rdl_read_string("substrate", ul_text, strlen(ul_text), &err);
    struct rdl_graph *ol = rdl_read_string("overlay", overlay_yaml, strlen(overlay_yaml), &err);
    double *v = xcalloc((size_t)count, sizeof(double));
    int n = 0;

    for (int i = 0; ul && ol && i < count; i++) {
        struct map_options opts;
        struct rdl_graph *ml = NULL;
        map_options_init(&opts);
        opts.algorithm = MAP_ALG_MIP;
        opts.objective = "cost";
        opts.time_limit_s = 10;
        double t0 = now_ms();
        if (map_rdl_solve(ul, NULL, 0, ol, &opts, &ml, &err) < 0) {
            fprintf(stderr, "mapping: %s\n", cn_err_msg(&err));
            break;
        }
        v[n++] = now_ms() - t0;
        rdl_graph_free(ml);
    }
    if (n) {
        printf("mapping alone (map_rdl_solve, MIP, cost, in this process), %d runs:\n", n);
        print_stats("map", v, n);
    }
    free(v);
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    cn_err_release(&err);
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: pip_bench [-n COUNT] [-c CLIENTS,...] [-H HOSTS] [-r] [-L FILE] [-C]\n"
               "  -n COUNT     CloudNets per phase (default 40)\n"
               "  -c LIST      concurrent clients per phase (default 1,8)\n"
               "  -H HOSTS     substrate hosts (default 50)\n"
               "  -r           relaxed durability: innodb_flush_log_at_trx_commit=2\n"
               "  -L FILE      log every SQL statement pipd sends to FILE (general log)\n"
               "  -C           VNode disks from clipd (ready copies renamed into place)\n"
               "               instead of pipd copying the template for every VNode\n");
}

int
main(int argc, char **argv)
{
    int count = 40, hosts = 50, opt, rc = 1;
    const char *clients_list = "1,8", *general_log = NULL;
    bool relaxed = false, with_clipd = false;
    char path[768], conf[4096], clipd_line[800] = "", *ul = NULL;
    xmlrpc_env env;

    while ((opt = getopt(argc, argv, "n:c:H:rL:Ch")) != -1) {
        switch (opt) {
        case 'n':
            count = atoi(optarg);
            break;
        case 'c':
            clients_list = optarg;
            break;
        case 'H':
            hosts = atoi(optarg);
            break;
        case 'r':
            relaxed = true;
            break;
        case 'L':
            general_log = optarg;
            break;
        case 'C':
            with_clipd = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (count < 1 || hosts < 1) {
        usage(stderr);
        return 2;
    }
    if (test_bin_path(pipd.prog, sizeof(pipd.prog), argv[0], "pipd") < 0)
        return 1;
    if (test_db_start(&db) < 0)
        return 1;
    if (test_scratch_dir(scratch, sizeof(scratch), "pip-bench") < 0 ||
        test_pipd_dirs(scratch, "bench") < 0)
        goto cleanup;
    /* Enough ready copies for every VNode of 8 clients' CloudNets in flight. */
    if (with_clipd) {
        if (clipd_start(argv[0], 64) < 0)
            goto cleanup;
        snprintf(clipd_line, sizeof(clipd_line), "clipd %s\n", clipd_sock);
    }
    ul = substrate_yaml(hosts);
    snprintf(path, sizeof(path), "%s/substrate.yaml", scratch);
    if (test_write_text(path, ul) < 0 || test_daemon_listen(&pipd) < 0)
        goto cleanup;
    snprintf(conf, sizeof(conf),
             "name pip-bench\n"
             "listen 127.0.0.1:%u\n"
             "database socket=%s name=pip_bench user=root\n"
             "substrate %s/substrate.yaml\n"
             "peer bench " SECRET "\n"
             "libvirt test:///default\n"
             "images %s/images\n"
             "templates %s/templates\n"
             "max-lease 600\n"
             "map-time-limit 10\n"
             "%s",
             pipd.port, db.socket, scratch, scratch, scratch, clipd_line);
    snprintf(pipd.conf, sizeof(pipd.conf), "%s/pipd.conf", scratch);
    snprintf(pipd.log, sizeof(pipd.log), "%s/pipd.log", scratch);
    if (test_write_text(pipd.conf, conf) < 0 || chmod(pipd.conf, 0600) < 0)
        goto cleanup;
    xmlrpc_env_init(&env);
    xmlrpc_client_setup_global_const(&env);
    xmlrpc_env_clean(&env);
    if (test_daemon_start(&pipd) < 0)
        goto cleanup;

    {
        FILE *f = fopen("/proc/loadavg", "r");
        char load[128] = "?";
        if (f) {
            if (!fgets(load, sizeof(load), f))
                snprintf(load, sizeof(load), "?\n");
            fclose(f);
        }
        printf("pipd bench: %d hosts, %d switches, 4-VNode CloudNets with 4 links%s%s; load %s",
               hosts, SWITCHES, relaxed ? ", innodb_flush_log_at_trx_commit=2" : "",
               with_clipd ? ", disks from clipd" : "", load);
    }
    if (relaxed &&
        test_mariadb_exec(db.socket, "SET GLOBAL innodb_flush_log_at_trx_commit = 2") < 0)
        fprintf(stderr, "could not relax durability\n");
    if (general_log) {
        char stmt[1024];
        snprintf(stmt, sizeof(stmt),
                 "SET GLOBAL general_log_file = '%s'; SET GLOBAL general_log = 1", general_log);
        if (test_mariadb_exec(db.socket, stmt) < 0)
            fprintf(stderr, "could not turn the general log on\n");
    }
    rc = 0;
    int phase = 0;
    char *list = xstrdup(clients_list), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int clients = atoi(tok);
        if (clients < 1)
            continue;
        /* Round up so every client does the same number. */
        int per = (count + clients - 1) / clients;
        if (run_phase(phase++, clients, per) < 0)
            rc = 1;
    }
    free(list);
    time_mapping(ul, count);

cleanup:
    test_daemon_stop(&pipd, SIGTERM);
    if (with_clipd)
        test_daemon_stop(&clipd, SIGTERM);
    xmlrpc_client_teardown_global_const();
    if (scratch[0] && !getenv("PIP_BENCH_KEEP"))
        test_rm_tree(scratch);
    else if (scratch[0])
        fprintf(stderr, "kept %s\n", scratch);
    free(ul);
    test_db_stop(&db);
    return rc;
}
