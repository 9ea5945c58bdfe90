/*
 * vnpd benchmark: what brokering costs on top of the PIPs. Run it with
 *
 *     make BUILD=DIR bench-build && DIR/bench/vnp_bench [-n RUNS] [-c CLIENTS,...] [-H HOSTS]
 *                                                      [-a SECONDS]
 *
 * from the source tree (it finds scripts/mariadb-scratch.sh through
 * TEST_SRCDIR or ./tests). It starts a private MariaDB, three pipd
 * (p0, p1, p2; ../bin/pipd) whose generated substrates have HOSTS KVM hosts
 * (libvirt's test driver) on a switch, and, for each pair of PIPs, a transit
 * link from the switch to the far PIP's border node; their dataplane maps
 * say `node * mode trunk`, so no namespace or device is made. Then three
 * vnpd (../bin/vnpd) brokering all three PIPs, which differ only in
 *
 *     par      negotiation parallel, sync-max-age 0 (describe before every negotiation)
 *     ser      negotiation serial,   sync-max-age 0
 *     cached   negotiation parallel, sync-max-age SECONDS (-a, default 60)
 *
 * The CloudNet spans the three PIPs: two VNodes pinned to each (location),
 * joined inside it, and a ring of three links crossing the transit links.
 *
 * Latency: RUNS times, one CloudNet through each vnpd in turn (interleaved,
 * so the machine's load hits all three alike): negotiate, confirm,
 * release, timed at the client, and the PIPs' negotiate times as vnpd
 * reports them (`providers`, whole ms). Printed: p50/p99 per call and vnpd,
 * the slowest PIP of each negotiation, the ratio parallel / slowest PIP and
 * serial / parallel. Then the same partial graphs (read back from vnpd's
 * database) are negotiated and released at the PIPs directly, one PIP at a
 * time and all three at once, RUNS times; the database's counters and CPU
 * around negotiate+release through vnpd and around the same work at the
 * PIPs directly give vnpd's own share; and what vnpd computes in between
 * is redone here step by step (describe at the three PIPs,
 * vnp_plan_underlay, map_rdl_solve, vnp_plan_partition).
 *
 * Throughput: for each CLIENTS count (default 1,4), that many threads each
 * put RUNS / CLIENTS CloudNets through `par`, then through `cached`
 * (negotiate, confirm, release); CloudNets per second, refusals, and per
 * CloudNet the CPU of vnpd, of the pipds and of mariadbd and the server's
 * counters. A refusal fails the bench at every vnpd, `cached` included:
 * vnpd plans against its view minus the VLAN tags it handed out since.
 *
 * Finally the latency part again with innodb_flush_log_at_trx_commit = 2:
 * durability's share. docs/vnpd-bench.md has the figures.
 *
 * Exit status 0 when every call succeeded.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapping/mapping.h"
#include "rdl/rdl.h"
#include "tests/daemon-helper.h"
#include "tests/db-helper.h"
#include "util/util.h"
#include "vnp/client.h"
#include "vnp/plan.h"

#define PIP_SECRET "bench-pip-secret-1"
#define CLIENT_SECRET "bench-client-secret-1"
#define NPIPS 3
#define NVNPS 3
#define TIMEOUT_MS 60000

enum { VNP_PAR, VNP_SER, VNP_CACHED };

static struct test_db db;
static char scratch[256];
static struct test_daemon pips[NPIPS] = {{.name = "p0"}, {.name = "p1"}, {.name = "p2"}};
static struct test_daemon vnps[NVNPS] = {{.name = "par"}, {.name = "ser"}, {.name = "cached"}};
static int sync_max_age = 60;
/* Size of the VNodes' disk template: 0 is a one-line file, so a PIP's embedding costs nothing. */
static int template_mib;

/* The three transit links: the PIPs at their ends and the tags each end may use. */
static const struct {
    const char *id;
    int a, b;
    int first, last;
} links[NPIPS] = {
    {"p0-p1", 0, 1, 1000, 1999},
    {"p1-p2", 1, 2, 2000, 2999},
    {"p0-p2", 0, 2, 3000, 3999},
};

static const char overlay_yaml[] =
    "rdl: 1\n"
    "kind: overlay\n"
    "name: span3\n"
    "elements:\n"
    "  a0: {type: /node/host/generic, resources: {cpu: 1, memory: 512}, "
    "features: {location: L0, image: bench}}\n"
    "  a1: {type: /node/host/generic, resources: {cpu: 1, memory: 512}, "
    "features: {location: L0, image: bench}}\n"
    "  b0: {type: /node/host/generic, resources: {cpu: 1, memory: 512}, "
    "features: {location: L1, image: bench}}\n"
    "  b1: {type: /node/host/generic, resources: {cpu: 1, memory: 512}, "
    "features: {location: L1, image: bench}}\n"
    "  c0: {type: /node/host/generic, resources: {cpu: 1, memory: 512}, "
    "features: {location: L2, image: bench}}\n"
    "  c1: {type: /node/host/generic, resources: {cpu: 1, memory: 512}, "
    "features: {location: L2, image: bench}}\n"
    "  a0-a1: {type: /link/generic, resources: {bandwidth: 10}}\n"
    "  b0-b1: {type: /link/generic, resources: {bandwidth: 10}}\n"
    "  c0-c1: {type: /link/generic, resources: {bandwidth: 10}}\n"
    "  a1-b0: {type: /link/generic, resources: {bandwidth: 10}, features: {latency: {max: 100}}}\n"
    "  b1-c0: {type: /link/generic, resources: {bandwidth: 10}, features: {latency: {max: 100}}}\n"
    "  c1-a0: {type: /link/generic, resources: {bandwidth: 10}, features: {latency: {max: 100}}}\n"
    "interfaces:\n"
    "  - {between: [a0, a0-a1]}\n"
    "  - {between: [a0-a1, a1]}\n"
    "  - {between: [b0, b0-b1]}\n"
    "  - {between: [b0-b1, b1]}\n"
    "  - {between: [c0, c0-c1]}\n"
    "  - {between: [c0-c1, c1]}\n"
    "  - {between: [a1, a1-b0]}\n"
    "  - {between: [a1-b0, b0]}\n"
    "  - {between: [b1, b1-c0]}\n"
    "  - {between: [b1-c0, c0]}\n"
    "  - {between: [c1, c1-a0]}\n"
    "  - {between: [c1-a0, a0]}\n";

static double
now_ms(void)
{
    return test_now() * 1e3;
}

/* PIP i's substrate: hosts on a switch, its ends of the transit links. */
static char *
substrate_yaml(int i, int hosts)
{
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    cn_buf_printf(&b, "rdl: 1\nkind: underlay\nname: p%d\nvlan_range: [2, 4094]\nelements:\n", i);
    cn_buf_puts(&b, "  sw: {type: /node/switch}\n");
    for (int h = 0; h < hosts; h++)
        cn_buf_printf(&b,
                      "  h%d: {type: /node/host/server/kvm, resources: {cpu: 64, memory: 262144}, "
                      "features: {location: L%d, arch: x86_64}}\n"
                      "  h%d-sw: {type: /link/ethernet/vlan, resources: {bandwidth: 10000}}\n",
                      h, i, h);
    for (int t = 0; t < NPIPS; t++) {
        if (links[t].a != i && links[t].b != i)
            continue;
        int far = links[t].a == i ? links[t].b : links[t].a;
        cn_buf_printf(&b,
                      "  %s: {type: /link/transit, resources: {bandwidth: 10000}, "
                      "features: {latency: 5}, vlan_range: [%d, %d]}\n"
                      "  p%d-border: {type: /node/host/pip, features: {transit: %s, "
                      "forwarding: false}}\n",
                      links[t].id, links[t].first, links[t].last, far, links[t].id);
    }
    cn_buf_puts(&b, "interfaces:\n");
    for (int h = 0; h < hosts; h++)
        cn_buf_printf(&b, "  - {between: [h%d, h%d-sw]}\n  - {between: [h%d-sw, sw]}\n", h, h, h);
    for (int t = 0; t < NPIPS; t++) {
        if (links[t].a != i && links[t].b != i)
            continue;
        int far = links[t].a == i ? links[t].b : links[t].a;
        cn_buf_printf(&b, "  - {between: [sw, %s]}\n  - {between: [%s, p%d-border]}\n", links[t].id,
                      links[t].id, far);
    }
    return cn_buf_detach(&b);
}

static int
setup_pip(int i, int hosts)
{
    struct test_daemon *d = &pips[i];
    char dir[300], path[600], conf[4096];
    snprintf(dir, sizeof(dir), "%s/%s", scratch, d->name);
    if (mkdir(dir, 0700) < 0 || test_pipd_dirs(dir, "bench") < 0)
        return -1;
    /* The disk template every VNode's disk is copied from: MIB MiB of data
     * (not a sparse file: the copy really moves it), or one line for 0. */
    snprintf(path, sizeof(path), "%s/templates/bench.img", dir);
    if (template_mib > 0 && test_write_random(path, (size_t)template_mib << 20, 1) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/dataplane.conf", dir);
    if (test_write_text(path, "# switches and hosts are trunks an operator set up\n"
                              "node * mode trunk\n") < 0)
        return -1;
    char *ul = substrate_yaml(i, hosts);
    snprintf(path, sizeof(path), "%s/substrate.yaml", dir);
    int rc = test_write_text(path, ul);
    free(ul);
    if (rc < 0 || test_daemon_listen(d) < 0)
        return -1;
    snprintf(conf, sizeof(conf),
             "name p%d\nlisten 127.0.0.1:%u\ndatabase socket=%s name=vnpb_p%d user=root\n"
             "substrate %s/substrate.yaml\npeer vnp " PIP_SECRET "\n"
             "libvirt test:///default\nimages %s/images\ntemplates %s/templates\n"
             "dataplane %s/dataplane.conf\nmax-lease 600\nmap-time-limit 10\n",
             i, d->port, db.socket, i, dir, dir, dir, dir);
    snprintf(d->conf, sizeof(d->conf), "%s/%s.conf", scratch, d->name);
    if (test_write_text(d->conf, conf) < 0 || chmod(d->conf, 0600) < 0)
        return -1;
    return test_daemon_start(d);
}

static int
setup_vnp(int v)
{
    struct test_daemon *d = &vnps[v];
    struct cn_buf b = CN_BUF_INIT;
    if (test_daemon_listen(d) < 0)
        return -1;
    cn_buf_init(&b);
    cn_buf_printf(&b,
                  "name vnp-%s\nlisten 127.0.0.1:%u\ndatabase socket=%s name=vnpb_%s user=root\n"
                  "peer bench " CLIENT_SECRET "\n",
                  d->name, d->port, db.socket, d->name);
    for (int i = 0; i < NPIPS; i++)
        cn_buf_printf(&b, "pip p%d %s " PIP_SECRET "\n", i, pips[i].url);
    for (int t = 0; t < NPIPS; t++)
        cn_buf_printf(&b, "transit %s p%d:%d-%d p%d:%d-%d bandwidth=10000 latency=5\n", links[t].id,
                      links[t].a, links[t].first, links[t].last, links[t].b, links[t].first,
                      links[t].last);
    cn_buf_printf(&b, "call-timeout 30\nlease 60\nmap-time-limit 10\nnegotiation %s\n",
                  v == VNP_SER ? "serial" : "parallel");
    cn_buf_printf(&b, "sync-max-age %d\n", v == VNP_CACHED ? sync_max_age : 0);
    snprintf(d->conf, sizeof(d->conf), "%s/%s.conf", scratch, d->name);
    int rc = test_write_text(d->conf, b.s);
    cn_buf_release(&b);
    if (rc < 0 || chmod(d->conf, 0600) < 0)
        return -1;
    return test_daemon_start(d);
}

static void
print_stats(const char *what, double *v, int n)
{
    double p50 = test_quantile(v, n, 0.5), p99 = test_quantile(v, n, 0.99);
    printf("  %-34s p50 %8.1f ms  p99 %8.1f ms  max %8.1f ms\n", what, p50, p99, n ? v[n - 1] : 0);
}

/* Server counters, read through the mysql client (the bench does not link MariaDB). */
static const char *const counters[] = {"Questions", "Com_commit", "Innodb_data_fsyncs",
                                       "Innodb_os_log_fsyncs"};
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

static void
read_counters(double *v)
{
    test_mariadb_counters(db.socket, counters, NCOUNTERS, v);
}

/* The partial graph vnpd `vnp` sent to PIP pip for request id, from its database. */
static char *
read_partial(const char *vnp, const char *id, const char *pip)
{
    struct cn_buf b = CN_BUF_INIT;
    char chunk[4096];
    size_t n;
    FILE *p;
    cn_buf_init(&b);
    char *cmd = xasprintf("mysql --no-defaults -S '%s' -u root -N -B --raw vnpb_%s -e \"select "
                          "partial_yaml from part where request_id = '%s' and pip = '%s'\" "
                          "2>/dev/null",
                          db.socket, vnp, id, pip);
    p = popen(cmd, "r");
    free(cmd);
    if (!p) {
        cn_buf_release(&b);
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof(chunk) - 1, p)) > 0) {
        chunk[n] = '\0';
        cn_buf_puts(&b, chunk);
    }
    if (pclose(p) != 0 || !b.s || !*b.s) {
        cn_buf_release(&b);
        return NULL;
    }
    return cn_buf_detach(&b);
}

/* ---- one CloudNet through a vnpd ---- */

struct sample {
    double negotiate, confirm, release, total;
    double pip_max, pip_sum; /* the PIPs' negotiate ms as vnpd reports them */
};

static int failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void
failed(const char *what, const char *id, const struct cn_err *err)
{
    pthread_mutex_lock(&fail_lock);
    fflush(stdout);
    if (failures++ < 5)
        fprintf(stderr, "%s %s: %s\n", what, id, cn_err_msg(err));
    pthread_mutex_unlock(&fail_lock);
}

/* negotiate, confirm (unless told not to), release; 0 with *s filled, or -1. */
static int
one_cloudnet(struct vnp_client *c, const char *id, bool confirm, struct sample *s)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_reply *r;
    double t0 = now_ms(), t1, t2, t3;
    int rc = -1;

    r = vnp_client_negotiate(c, id, overlay_yaml, 120, &err);
    t1 = now_ms();
    if (!r) {
        failed("negotiate", id, &err);
        goto cleanup;
    }
    s->pip_max = s->pip_sum = 0;
    for (size_t i = 0; i < r->nproviders; i++) {
        s->pip_sum += r->providers[i].ms;
        if (r->providers[i].ms > s->pip_max)
            s->pip_max = r->providers[i].ms;
    }
    vnp_reply_free(r);
    r = NULL;
    if (confirm && !(r = vnp_client_confirm(c, id, &err)))
        failed("confirm", id, &err);
    t2 = now_ms();
    vnp_reply_free(r);
    r = vnp_client_release(c, id, &err);
    t3 = now_ms();
    if (!r) {
        failed("release", id, &err);
        goto cleanup;
    }
    vnp_reply_free(r);
    s->negotiate = t1 - t0;
    s->confirm = t2 - t1;
    s->release = t3 - t2;
    s->total = t3 - t0;
    rc = 0;
cleanup:
    cn_err_release(&err);
    return rc;
}

/* ---- latency: the three vnpd interleaved ---- */

static void
print_samples(const char *vnp, const struct sample *s, int n)
{
    double *v = xcalloc((size_t)n + 1, sizeof(double));
    char what[64];
#define COLUMN(field, label)                                                                       \
    do {                                                                                           \
        for (int i = 0; i < n; i++)                                                                \
            v[i] = s[i].field;                                                                     \
        snprintf(what, sizeof(what), "%s %s", vnp, label);                                         \
        print_stats(what, v, n);                                                                   \
    } while (0)
    COLUMN(negotiate, "negotiate");
    COLUMN(confirm, "confirm");
    COLUMN(release, "release");
    COLUMN(total, "negotiate+confirm+release");
    COLUMN(pip_max, "slowest PIP's negotiate (providers)");
    COLUMN(pip_sum, "sum of PIPs' negotiate (providers)");
    COLUMN(negotiate - s[i].pip_max, "negotiate minus slowest PIP");
#undef COLUMN
    free(v);
}

/* The q-quantile over runs of negotiate (which 0), the slowest PIP (1) or the total (2). */
static double
quantile_of(const struct sample *s, int n, int which, double q)
{
    double *v = xcalloc((size_t)n + 1, sizeof(double));
    for (int i = 0; i < n; i++)
        v[i] = which == 0 ? s[i].negotiate : which == 1 ? s[i].pip_max : s[i].total;
    double r = test_quantile(v, n, q);
    free(v);
    return r;
}

/* Median over runs of negotiate / slowest PIP. */
static double
ratio_p50(const struct sample *s, int n)
{
    double *v = xcalloc((size_t)n + 1, sizeof(double));
    int k = 0;
    for (int i = 0; i < n; i++)
        if (s[i].pip_max > 0)
            v[k++] = s[i].negotiate / s[i].pip_max;
    double r = test_quantile(v, k, 0.5);
    free(v);
    return r;
}

/* ---- the PIPs directly ---- */

struct direct {
    pthread_t thread;
    struct vnp_client *client;
    char *yaml;
    char id[64];
    double ms;
    int ok;
};

static void *
direct_negotiate(void *arg)
{
    struct direct *d = arg;
    struct cn_err err = CN_ERR_INIT;
    double t0 = now_ms();
    struct vnp_reply *r = vnp_client_negotiate(d->client, d->id, d->yaml, 120, &err);
    d->ms = now_ms() - t0;
    d->ok = r != NULL;
    if (!r)
        failed("direct negotiate", d->id, &err);
    vnp_reply_free(r);
    cn_err_release(&err);
    return NULL;
}

static void *
direct_release(void *arg)
{
    struct direct *d = arg;
    struct cn_err err = CN_ERR_INIT;
    struct vnp_reply *r = vnp_client_release(d->client, d->id, &err);
    if (!r)
        failed("direct release", d->id, &err);
    vnp_reply_free(r);
    cn_err_release(&err);
    return NULL;
}

/*
 * Ready to replay the partial graphs of request id (negotiated through
 * 'par') at the PIPs directly: 0, or -1 with d[] cleaned up.
 */
static void direct_done(struct direct *d);

static int
direct_init(struct direct *d, const char *id)
{
    struct cn_err err = CN_ERR_INIT;
    memset(d, 0, NPIPS * sizeof(*d));
    for (int i = 0; i < NPIPS; i++) {
        d[i].yaml = read_partial("par", id, pips[i].name);
        d[i].client = vnp_client_new(pips[i].url, PIP_SECRET, TIMEOUT_MS, &err);
        if (!d[i].yaml || !d[i].client) {
            fprintf(stderr, "cannot replay %s's partial graph of %s: %s\n", pips[i].name, id,
                    d[i].yaml ? cn_err_msg(&err) : "not in vnpd's database");
            cn_err_release(&err);
            direct_done(d);
            return -1;
        }
    }
    return 0;
}

static void
direct_done(struct direct *d)
{
    for (int i = 0; i < NPIPS; i++) {
        free(d[i].yaml);
        vnp_client_free(d[i].client);
        d[i].yaml = NULL;
        d[i].client = NULL;
    }
}

/* All three partial graphs at once, then released; the slowest negotiate or -1. */
static double
direct_together(struct direct *d, const char *tag, int k)
{
    double slowest = 0;
    int all = 1;
    for (int i = 0; i < NPIPS; i++) {
        snprintf(d[i].id, sizeof(d[i].id), "direct-%s-%d-%d", tag, i, k);
        pthread_create(&d[i].thread, NULL, direct_negotiate, &d[i]);
    }
    for (int i = 0; i < NPIPS; i++) {
        pthread_join(d[i].thread, NULL);
        all = all && d[i].ok;
        if (d[i].ms > slowest)
            slowest = d[i].ms;
    }
    /* Released in parallel too, as vnpd does. */
    for (int i = 0; i < NPIPS; i++)
        pthread_create(&d[i].thread, NULL, direct_release, &d[i]);
    for (int i = 0; i < NPIPS; i++)
        pthread_join(d[i].thread, NULL);
    return all ? slowest : -1;
}

/*
 * The partial graphs at the PIPs directly: each PIP alone, then all three
 * at once; runs times each. Prints p50/p99, answers the p50 of the slowest
 * PIP alone and of the slowest of the three at once.
 */
static void
time_direct(struct direct *d, const char *tag, int runs, double *ret_alone_slowest_p50,
            double *ret_together_p50)
{
    double *alone[NPIPS], *together = xcalloc((size_t)runs + 1, sizeof(double));
    int ntogether = 0, nalone[NPIPS] = {0};

    for (int i = 0; i < NPIPS; i++)
        alone[i] = xcalloc((size_t)runs + 1, sizeof(double));
    for (int k = 0; k < runs; k++) {
        for (int i = 0; i < NPIPS; i++) {
            snprintf(d[i].id, sizeof(d[i].id), "direct-%s-alone-%d-%d", tag, i, k);
            direct_negotiate(&d[i]);
            if (d[i].ok)
                alone[i][nalone[i]++] = d[i].ms;
            direct_release(&d[i]);
        }
        char all[32];
        snprintf(all, sizeof(all), "%.20s-all", tag);
        double t = direct_together(d, all, k);
        if (t >= 0)
            together[ntogether++] = t;
    }
    printf("the same partial graphs at the PIPs directly (negotiate, client-side), %d runs:\n",
           runs);
    double worst = 0;
    for (int i = 0; i < NPIPS; i++) {
        char what[64];
        snprintf(what, sizeof(what), "%.15s alone", pips[i].name);
        print_stats(what, alone[i], nalone[i]);
        double p = test_quantile(alone[i], nalone[i], 0.5);
        if (p > worst)
            worst = p;
        free(alone[i]);
    }
    *ret_alone_slowest_p50 = worst;
    print_stats("slowest of the three at once", together, ntogether);
    *ret_together_p50 = test_quantile(together, ntogether, 0.5);
    free(together);
}

/*
 * What the database does for vnpd: server counters and mariadbd CPU around
 * runs negotiate+release through 'par', and around the same partial graphs
 * negotiated and released at the PIPs directly; the difference is vnpd's.
 */
static void
db_work(struct vnp_client *par, struct direct *d, int runs, const char *tag)
{
    double a0[NCOUNTERS], a1[NCOUNTERS], b1[NCOUNTERS];
    pid_t mpid = test_mariadb_pid(db.dir);
    double m0, m1, m2, t0, t1, t2, v0, v1;
    int na = 0, nb = 0;

    read_counters(a0);
    m0 = test_cpu_ms(mpid);
    v0 = test_cpu_ms(vnps[VNP_PAR].pid);
    t0 = now_ms();
    for (int k = 0; k < runs; k++) {
        struct sample s;
        char id[64];
        snprintf(id, sizeof(id), "db-%s-%d", tag, k);
        if (one_cloudnet(par, id, false, &s) == 0)
            na++;
    }
    t1 = now_ms();
    v1 = test_cpu_ms(vnps[VNP_PAR].pid);
    read_counters(a1);
    m1 = test_cpu_ms(mpid);
    for (int k = 0; k < runs; k++)
        if (direct_together(d, tag, k) >= 0)
            nb++;
    t2 = now_ms();
    read_counters(b1);
    m2 = test_cpu_ms(mpid);
    if (!na || !nb)
        return;
    printf("  %-34s %6.1f ms wall, mariadbd CPU %5.1f ms", "through 'par', per CloudNet",
           (t1 - t0) / na, (m1 - m0) / na);
    for (size_t i = 0; i < NCOUNTERS; i++)
        printf(", %s %.1f", counters[i], (a1[i] - a0[i]) / na);
    printf("\n  %-34s %6.1f ms wall, mariadbd CPU %5.1f ms", "at the 3 PIPs directly",
           (t2 - t1) / nb, (m2 - m1) / nb);
    for (size_t i = 0; i < NCOUNTERS; i++)
        printf(", %s %.1f", counters[i], (b1[i] - a1[i]) / nb);
    printf("\n  %-34s %6.1f ms wall, mariadbd CPU %5.1f ms", "vnpd's share (difference)",
           (t1 - t0) / na - (t2 - t1) / nb, (m1 - m0) / na - (m2 - m1) / nb);
    for (size_t i = 0; i < NCOUNTERS; i++)
        printf(", %s %.1f", counters[i], (a1[i] - a0[i]) / na - (b1[i] - a1[i]) / nb);
    printf("; vnpd CPU %.1f ms\n", (v1 - v0) / na);
}

/* ---- what vnpd does between the client and the PIPs, redone here ---- */

static void
time_planning(int runs)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c[NPIPS] = {NULL};
    struct vnp_transit_conf tc[NPIPS];
    struct rdl_graph *ol = rdl_read_string("span3", overlay_yaml, strlen(overlay_yaml), &err);
    double *v[4];
    int n = 0;
    static const char *const steps[4] = {"describe (slowest of 3, in turn)", "vnp_plan_underlay",
                                         "map_rdl_solve (VNP underlay)", "vnp_plan_partition"};

    for (int s = 0; s < 4; s++)
        v[s] = xcalloc((size_t)runs + 1, sizeof(double));
    for (int t = 0; t < NPIPS; t++) {
        /* The planner only reads these; its struct holds vnpd's own copies. */
        tc[t].id = (char *)(uintptr_t)links[t].id;
        tc[t].pip[0] = (char *)(uintptr_t)pips[links[t].a].name;
        tc[t].pip[1] = (char *)(uintptr_t)pips[links[t].b].name;
        tc[t].first[0] = tc[t].first[1] = links[t].first;
        tc[t].last[0] = tc[t].last[1] = links[t].last;
        tc[t].bandwidth = 10000;
        tc[t].latency = 5;
    }
    for (int i = 0; i < NPIPS; i++)
        if (!(c[i] = vnp_client_new(pips[i].url, PIP_SECRET, TIMEOUT_MS, &err)))
            goto cleanup;
    if (!ol)
        goto cleanup;
    for (int k = 0; k < runs; k++) {
        struct vnp_description *desc[NPIPS] = {NULL};
        struct vnp_pip_view views[NPIPS];
        struct rdl_graph *ul = NULL, *ml = NULL;
        struct vnp_partial *parts = NULL;
        size_t nparts = 0;
        double slowest = 0, t0, t1, t2, t3;
        int ok = 1;

        for (int i = 0; i < NPIPS; i++) {
            double d0 = now_ms();
            desc[i] = vnp_client_describe(c[i], &err);
            if (now_ms() - d0 > slowest)
                slowest = now_ms() - d0;
            views[i].name = pips[i].name;
            views[i].desc = desc[i];
            ok = ok && desc[i];
        }
        t0 = now_ms();
        if (ok)
            ul = vnp_plan_underlay("vnp-bench", views, NPIPS, tc, NPIPS, &err);
        t1 = now_ms();
        struct map_options opts;
        map_options_init(&opts);
        opts.objective = "cost";
        opts.time_limit_s = 10;
        if (ul && map_rdl_solve(ul, NULL, 0, ol, &opts, &ml, &err) < 0)
            ml = NULL;
        t2 = now_ms();
        if (ml && vnp_plan_partition(ol, ml, views, NPIPS, tc, NPIPS, &parts, &nparts, &err) < 0)
            nparts = 0;
        t3 = now_ms();
        if (nparts == NPIPS) {
            v[0][n] = slowest;
            v[1][n] = t1 - t0;
            v[2][n] = t2 - t1;
            v[3][n] = t3 - t2;
            n++;
        } else {
            failed("planning", "span3", &err);
            cn_err_clear(&err);
        }
        vnp_partials_free(parts, nparts);
        rdl_graph_free(ml);
        rdl_graph_free(ul);
        for (int i = 0; i < NPIPS; i++)
            vnp_description_free(desc[i]);
    }
    printf("vnpd's own steps redone in this process, %d runs:\n", n);
    for (int s = 0; s < 4; s++)
        print_stats(steps[s], v[s], n);
cleanup:
    if (!ol || n == 0)
        fprintf(stderr, "planning: %s\n", cn_err_msg(&err));
    for (int s = 0; s < 4; s++)
        free(v[s]);
    for (int i = 0; i < NPIPS; i++)
        vnp_client_free(c[i]);
    rdl_graph_free(ol);
    cn_err_release(&err);
}

/* ---- throughput ---- */

struct worker {
    pthread_t thread;
    int vnp, index, phase, count, done, refused;
    struct sample *s;
};

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = vnp_client_new(vnps[w->vnp].url, CLIENT_SECRET, TIMEOUT_MS, &err);
    if (!c) {
        failed("client", vnps[w->vnp].url, &err);
        cn_err_release(&err);
        return NULL;
    }
    for (int i = 0; i < w->count; i++) {
        char id[64];
        snprintf(id, sizeof(id), "tput-%s-%d-%d-%d", vnps[w->vnp].name, w->phase, w->index, i);
        if (one_cloudnet(c, id, true, &w->s[w->done]) == 0)
            w->done++;
        else
            w->refused++;
    }
    vnp_client_free(c);
    cn_err_release(&err);
    return NULL;
}

/* clients threads put per CloudNets each through vnpd v; 0 unless one failed. */
static int
run_throughput(int v, int phase, int clients, int per)
{
    struct worker *w = xcalloc((size_t)clients, sizeof(*w));
    struct sample *all = xcalloc((size_t)(clients * per) + 1, sizeof(*all));
    double c0[NCOUNTERS], c1[NCOUNTERS];
    pid_t mpid = test_mariadb_pid(db.dir);
    double vnp_cpu0 = test_cpu_ms(vnps[v].pid), db_cpu0 = test_cpu_ms(mpid), pip_cpu0 = 0;
    int done = 0, refused = 0;

    for (int i = 0; i < NPIPS; i++)
        pip_cpu0 += test_cpu_ms(pips[i].pid);
    read_counters(c0);
    double t0 = now_ms();
    for (int i = 0; i < clients; i++) {
        w[i].vnp = v;
        w[i].index = i;
        w[i].phase = phase;
        w[i].count = per;
        w[i].s = xcalloc((size_t)per + 1, sizeof(struct sample));
        pthread_create(&w[i].thread, NULL, worker_run, &w[i]);
    }
    for (int i = 0; i < clients; i++) {
        pthread_join(w[i].thread, NULL);
        memcpy(all + done, w[i].s, (size_t)w[i].done * sizeof(*all));
        done += w[i].done;
        refused += w[i].refused;
        free(w[i].s);
    }
    double elapsed = now_ms() - t0;
    read_counters(c1);
    double pip_cpu = -pip_cpu0;
    for (int i = 0; i < NPIPS; i++)
        pip_cpu += test_cpu_ms(pips[i].pid);
    printf("%d client(s) on '%s': %d CloudNets in %.1f s: %.2f CloudNets/s, %d refused\n", clients,
           vnps[v].name, done, elapsed / 1e3, done ? done / (elapsed / 1e3) : 0, refused);
    if (done) {
        double *x = xcalloc((size_t)done, sizeof(double));
        for (int i = 0; i < done; i++)
            x[i] = all[i].total;
        print_stats("negotiate+confirm+release", x, done);
        free(x);
        printf("  per CloudNet: vnpd CPU %.1f ms, 3 pipd CPU %.1f ms, mariadbd CPU %.1f ms",
               (test_cpu_ms(vnps[v].pid) - vnp_cpu0) / done, pip_cpu / done,
               (test_cpu_ms(mpid) - db_cpu0) / done);
        for (size_t i = 0; i < NCOUNTERS; i++)
            if (c0[i] >= 0 && c1[i] >= 0)
                printf(", %s %.1f", counters[i], (c1[i] - c0[i]) / done);
        printf("\n");
    }
    free(all);
    free(w);
    return refused ? -1 : 0;
}

/* ---- latency ---- */

/*
 * runs CloudNets through each vnpd, interleaved, then the same partial
 * graphs at the PIPs directly; prints the figures (every vnpd's when full,
 * else only par's details). tag names the round in the ids, label in the
 * output.
 */
static void
latency_round(struct vnp_client *const *vc, int runs, const char *tag, const char *label, bool full)
{
    struct sample *lat[NVNPS] = {NULL};
    int nlat[NVNPS] = {0};
    double vnp_cpu[NVNPS] = {0};

    for (int v = 0; v < NVNPS; v++) {
        lat[v] = xcalloc((size_t)runs + 1, sizeof(struct sample));
        vnp_cpu[v] = test_cpu_ms(vnps[v].pid);
    }
    for (int k = 0; k < runs; k++)
        for (int v = 0; v < NVNPS; v++) {
            char id[64];
            snprintf(id, sizeof(id), "%s-%s-%d", tag, vnps[v].name, k);
            if (one_cloudnet(vc[v], id, true, &lat[v][nlat[v]]) == 0)
                nlat[v]++;
        }
    printf("latency (%s), %d CloudNets through each vnpd (interleaved), client-side:\n", label,
           runs);
    for (int v = 0; v < NVNPS; v++) {
        if (full || v == VNP_PAR) {
            print_samples(vnps[v].name, lat[v], nlat[v]);
            printf("  %-34s %.1f ms per CloudNet\n", "vnpd CPU",
                   nlat[v] ? (test_cpu_ms(vnps[v].pid) - vnp_cpu[v]) / nlat[v] : 0);
        }
    }

    double par = quantile_of(lat[VNP_PAR], nlat[VNP_PAR], 0, 0.5);
    double ser = quantile_of(lat[VNP_SER], nlat[VNP_SER], 0, 0.5);
    double cached = quantile_of(lat[VNP_CACHED], nlat[VNP_CACHED], 0, 0.5);
    double slow = quantile_of(lat[VNP_PAR], nlat[VNP_PAR], 1, 0.5);
    double slow_c = quantile_of(lat[VNP_CACHED], nlat[VNP_CACHED], 1, 0.5);
    double alone = 0, together = 0;
    struct direct d[NPIPS];
    char first[64];
    snprintf(first, sizeof(first), "%s-par-0", tag);
    if (direct_init(d, first) == 0) {
        time_direct(d, tag, runs, &alone, &together);
        printf("database work per CloudNet (negotiate+release), %d runs:\n", runs);
        char dbtag[32];
        snprintf(dbtag, sizeof(dbtag), "%.20s-db", tag);
        db_work(vc[VNP_PAR], d, runs, dbtag);
        direct_done(d);
    }
    printf("summary (%s; p50 unless said):\n", label);
    printf("  negotiate through vnpd: parallel %.1f ms (p99 %.1f), serial %.1f ms (p99 %.1f), "
           "serial/parallel %.2f\n",
           par, quantile_of(lat[VNP_PAR], nlat[VNP_PAR], 0, 0.99), ser,
           quantile_of(lat[VNP_SER], nlat[VNP_SER], 0, 0.99), par > 0 ? ser / par : 0);
    double tp = quantile_of(lat[VNP_PAR], nlat[VNP_PAR], 2, 0.5),
           ts = quantile_of(lat[VNP_SER], nlat[VNP_SER], 2, 0.5);
    printf("  negotiate+confirm+release: parallel %.1f ms (p99 %.1f), serial %.1f ms (p99 %.1f), "
           "serial/parallel %.2f\n",
           tp, quantile_of(lat[VNP_PAR], nlat[VNP_PAR], 2, 0.99), ts,
           quantile_of(lat[VNP_SER], nlat[VNP_SER], 2, 0.99), tp > 0 ? ts / tp : 0);
    printf("  slowest PIP's negotiate: %.1f ms (providers, par), %.1f ms (providers, cached), "
           "%.1f ms (direct, alone), %.1f ms (direct, three at once)\n",
           slow, slow_c, alone, together);
    printf("  parallel negotiate / slowest PIP (providers): par %.2f (median of per-run ratios "
           "%.2f), cached (sync-max-age %d) %.2f (median %.2f); par / direct three at once "
           "%.2f; target 1.30\n",
           slow > 0 ? par / slow : 0, ratio_p50(lat[VNP_PAR], nlat[VNP_PAR]), sync_max_age,
           slow_c > 0 ? cached / slow_c : 0, ratio_p50(lat[VNP_CACHED], nlat[VNP_CACHED]),
           together > 0 ? par / together : 0);
    for (int v = 0; v < NVNPS; v++)
        free(lat[v]);
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: vnp_bench [-n RUNS] [-c CLIENTS,...] [-H HOSTS] [-a SECONDS] [-T MIB]\n"
               "  -n RUNS      CloudNets per vnpd in the latency part, and per\n"
               "               throughput phase (default 30)\n"
               "  -c LIST      concurrent clients of the throughput phases (default 1,4)\n"
               "  -H HOSTS     KVM hosts per PIP (default 8)\n"
               "  -a SECONDS   sync-max-age of the 'cached' vnpd (default 60)\n"
               "  -T MIB       size of the VNodes' disk template, copied for every VNode\n"
               "               (default 0: a one-line file, the PIPs embed at no cost)\n");
}

int
main(int argc, char **argv)
{
    int runs = 30, hosts = 8, opt, rc = 1;
    const char *clients_list = "1,4";
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *vc[NVNPS] = {NULL};

    while ((opt = getopt(argc, argv, "n:c:H:a:T:h")) != -1) {
        switch (opt) {
        case 'n':
            runs = atoi(optarg);
            break;
        case 'c':
            clients_list = optarg;
            break;
        case 'H':
            hosts = atoi(optarg);
            break;
        case 'a':
            sync_max_age = atoi(optarg);
            break;
        case 'T':
            template_mib = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (runs < 1 || hosts < 1 || sync_max_age < 0 || sync_max_age > 3600 || template_mib < 0 ||
        template_mib > 4096 || optind != argc) {
        usage(stderr);
        return 2;
    }
    for (int i = 0; i < NPIPS; i++)
        if (test_bin_path(pips[i].prog, sizeof(pips[i].prog), argv[0], "pipd") < 0)
            return 1;
    for (int v = 0; v < NVNPS; v++)
        if (test_bin_path(vnps[v].prog, sizeof(vnps[v].prog), argv[0], "vnpd") < 0)
            return 1;
    if (test_db_start(&db) < 0)
        return 1;
    if (test_scratch_dir(scratch, sizeof(scratch), "vnp-bench") < 0 ||
        vnp_client_global_init(&err) < 0)
        goto cleanup;
    for (int i = 0; i < NPIPS; i++)
        snprintf(pips[i].log, sizeof(pips[i].log), "%s/%s.log", scratch, pips[i].name);
    for (int v = 0; v < NVNPS; v++)
        snprintf(vnps[v].log, sizeof(vnps[v].log), "%s/%s.log", scratch, vnps[v].name);
    for (int i = 0; i < NPIPS; i++)
        if (setup_pip(i, hosts) < 0)
            goto cleanup;
    for (int v = 0; v < NVNPS; v++)
        if (setup_vnp(v) < 0 ||
            !(vc[v] = vnp_client_new(vnps[v].url, CLIENT_SECRET, TIMEOUT_MS, &err)))
            goto cleanup;
    {
        char *load = test_read_text("/proc/loadavg");
        printf("vnpd bench: 3 PIPs of %d KVM hosts (test driver, trunk dataplane), a CloudNet of "
               "6 VNodes and 6 links spanning them (3 links cross); %ld CPUs; load %s",
               hosts, sysconf(_SC_NPROCESSORS_ONLN), load ? load : "?\n");
        free(load);
    }

    /* One warm-up CloudNet per vnpd: first connections, first syncs. */
    for (int v = 0; v < NVNPS; v++) {
        struct sample s;
        char id[64];
        snprintf(id, sizeof(id), "warm-%s", vnps[v].name);
        if (one_cloudnet(vc[v], id, true, &s) < 0)
            goto cleanup;
    }
    latency_round(vc, runs, "lat", "innodb_flush_log_at_trx_commit=1", true);
    time_planning(runs);

    char *list = xstrdup(clients_list), *save = NULL;
    int phase = 0;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int clients = atoi(tok);
        if (clients < 1)
            continue;
        run_throughput(VNP_PAR, phase, clients, (runs + clients - 1) / clients);
        run_throughput(VNP_CACHED, phase, clients, (runs + clients - 1) / clients);
        phase++;
    }
    free(list);

    /* Without an fsync per commit: how much of the time is the log's. */
    if (test_mariadb_exec(db.socket, "SET GLOBAL innodb_flush_log_at_trx_commit = 2") == 0)
        latency_round(vc, runs, "relaxed", "innodb_flush_log_at_trx_commit=2", false);
    rc = failures ? 1 : 0;
    if (failures)
        fprintf(stderr, "%d calls failed\n", failures);

cleanup:
    if (err.code)
        fprintf(stderr, "vnp_bench: %s\n", cn_err_msg(&err));
    for (int v = 0; v < NVNPS; v++) {
        vnp_client_free(vc[v]);
        test_daemon_stop(&vnps[v], SIGTERM);
    }
    for (int i = 0; i < NPIPS; i++)
        test_daemon_stop(&pips[i], SIGTERM);
    vnp_client_global_cleanup();
    if (scratch[0] && !getenv("VNP_BENCH_KEEP"))
        test_rm_tree(scratch);
    else if (scratch[0])
        fprintf(stderr, "kept %s\n", scratch);
    test_db_stop(&db);
    cn_err_release(&err);
    return rc;
}
