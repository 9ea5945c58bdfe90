/*
 * Black-box test of vnpd: a private MariaDB (one database per daemon),
 * three real pipd processes (berlin, paris, rome; fixtures in tests/vnpd/) on the
 * libvirt test driver joined by transit links (docs/federation.md), and
 * real vnpd processes, all on free loopback ports, driven through the
 * client library (vnp/client.h).
 *
 * After every fault the test counts what the PIPs hold of that request:
 * its state at each PIP (asked with the VNP's own secret: allocated or
 * provisioned means held), its allocation and VLAN rows in each PIP's
 * database, and devices with its owner tag in each PIP's host namespace.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#include "tests/daemon-helper.h"
#include "tests/db-helper.h"
#include "tests/testlib.h"
#include "util/util.h"
#include "vnp/client.h"

#define PEER_SECRET "peer-one-secret"
#define OTHER_SECRET "peer-two-secret"
#define PIP_SECRET "vnp-at-pip-secret"
#define PIP_OTHER_SECRET "other-at-pip-secret"
#define TIMEOUT_S 2

static struct test_db db;
static char scratch[256];
/* The hosts' network namespaces: the transit plugin makes wire devices there. */
static char netns[3][32];
static bool netns_made[3];
static struct test_daemon pips[3] = {{.name = "berlin"}, {.name = "paris"}, {.name = "rome"}};
static struct test_daemon vnpd = {.name = "vnp"}, top = {.name = "top"};
enum { BERLIN, PARIS, ROME };

/* ---- plumbing ---- */

static struct vnp_client *
client_of(const struct test_daemon *d, const char *secret, unsigned timeout_s)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = vnp_client_new(d->url, secret, timeout_s * 1000u, &err);
    cn_err_release(&err);
    return c;
}

/* Status of id at pip i through the VNP's secret: 1 holds, 0 not, -1 no answer. */
static int
pip_holds(int i, const char *id)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = client_of(&pips[i], PIP_SECRET, 5);
    struct vnp_reply *r = vnp_client_status(c, id, &err);
    int ret = -1;
    if (r)
        ret = cn_streq(r->state, "allocated") || cn_streq(r->state, "provisioned");
    else if (err.code == CN_E_NOTFOUND)
        ret = 0;
    vnp_reply_free(r);
    vnp_client_free(c);
    cn_err_release(&err);
    return ret;
}

/* The state pip i reports for id, into buf ("not found", "no answer" otherwise). */
static const char *
pip_state(int i, const char *id, char *buf, size_t size)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = client_of(&pips[i], PIP_SECRET, 5);
    struct vnp_reply *r = vnp_client_status(c, id, &err);
    snprintf(buf, size, "%s", r ? r->state : err.code == CN_E_NOTFOUND ? "not found" : "no answer");
    vnp_reply_free(r);
    vnp_client_free(c);
    cn_err_release(&err);
    return buf;
}

/* The first number a shell command prints, or -1. */
static long
count_of(const char *cmd)
{
    char out[64];
    long n;
    return sscanf(test_shell_output(cmd, out, sizeof(out)), "%ld", &n) == 1 ? n : -1;
}

/*
 * What pip i still has of id beyond its status: allocation and VLAN rows
 * in its database (deleted when a reservation ends), and devices carrying the CloudNet's owner tag
 * in its host's namespace (the transit plugin's wire devices live there). The libvirt test driver's
 * domains live inside pipd and are seen by status.
 */
static long
pip_traces(int i, const char *id)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "mariadb -S %s -u root -N -e \"SELECT (SELECT COUNT(*) FROM vnpdt_%s.allocation "
             "WHERE reservation_id = '%s') + (SELECT COUNT(*) FROM vnpdt_%s.vlan WHERE "
             "reservation_id = '%s')\" 2>/dev/null",
             db.socket, pips[i].name, id, pips[i].name, id);
    long rows = count_of(cmd);
    snprintf(cmd, sizeof(cmd), "ip -n %s -o link show | grep -c 'alias cloudnet=%s '", netns[i],
             id);
    long devs = count_of(cmd);
    return rows < 0 || devs < 0 ? -1 : rows + devs;
}

/* How many PIPs hold or still have anything of id; -1 when one does not answer. */
static int
holders(const char *id)
{
    int n = 0;
    for (int i = 0; i < 3; i++) {
        int h = pip_holds(i, id);
        long t = pip_traces(i, id);
        if (h < 0 || t < 0)
            return -1;
        n += h || t > 0;
    }
    return n;
}

/* Waits up to s seconds for no PIP to hold id. */
static int
holders_settle(const char *id, int s)
{
    int n = holders(id);
    for (int i = 0; i < s * 4 && n != 0; i++) {
        usleep(250 * 1000);
        n = holders(id);
    }
    return n;
}

/* How many of id's parts vnpd has not marked released, from its database; -1 on error. */
static long
vnpd_parts_open(const char *id)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "mariadb -S %s -u root -N -e \"SELECT COUNT(*) FROM vnpdt_vnp.part WHERE "
             "request_id = '%s' AND state <> 'released'\" 2>/dev/null",
             db.socket, id);
    return count_of(cmd);
}

/* A request of tests/vnpd/; an unreadable one is an empty document, which vnpd refuses. */
static char *
fixture(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "vnpd/%s", name);
    char *s = test_fixture(rel);
    return s ? s : xstrdup("");
}

struct outcome {
    struct vnp_reply *r;
    int code;
    char msg[1024];
};

static void
outcome_release(struct outcome *o)
{
    vnp_reply_free(o->r);
    memset(o, 0, sizeof(*o));
}

static void
negotiate_at(const struct test_daemon *d, const char *secret, const char *id,
             const char *fixture_name, long lease, struct outcome *o)
{
    struct cn_err err = CN_ERR_INIT;
    char *yaml = fixture(fixture_name);
    struct vnp_client *c = client_of(d, secret, 60);
    o->r = vnp_client_negotiate(c, id, yaml, lease, &err);
    o->code = o->r ? 0 : err.code;
    snprintf(o->msg, sizeof(o->msg), "%s", o->r ? "" : cn_err_msg(&err));
    vnp_client_free(c);
    free(yaml);
    cn_err_release(&err);
}

/* id-only calls: confirm, release, status. */
static void
id_call(const struct test_daemon *d,
        struct vnp_reply *(*fn)(struct vnp_client *, const char *, struct cn_err *),
        const char *secret, const char *id, struct outcome *o)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = client_of(d, secret, 60);
    o->r = fn(c, id, &err);
    o->code = o->r ? 0 : err.code;
    snprintf(o->msg, sizeof(o->msg), "%s", o->r ? "" : cn_err_msg(&err));
    vnp_client_free(c);
    cn_err_release(&err);
}

static const char *
element_state(const struct vnp_reply *r, const char *element)
{
    for (size_t i = 0; r && i < r->nelements; i++)
        if (cn_streq(r->elements[i].element, element))
            return r->elements[i].state;
    return NULL;
}

/* ---- cases ---- */

static int
test_describe(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = client_of(&vnpd, PEER_SECRET, 30);
    struct vnp_description *d = vnp_client_describe(c, &err);
    double cpu = -1;
    (void)data;
    CHECK(d);
    CHECK_STR(d->name, "vnp-test");
    for (size_t i = 0; i < d->ncapacity; i++)
        if (cn_streq(d->capacity[i].name, "cpu"))
            cpu = d->capacity[i].value;
    CHECK(cpu == 24);
    vnp_description_free(d);
    vnp_client_free(c);
    cn_err_release(&err);
    return 0;
}

static int
test_spanning(const void *data)
{
    struct outcome o = {0}, again = {0};
    (void)data;
    negotiate_at(&vnpd, PEER_SECRET, "span1", "span.yaml", 120, &o);
    if (!o.r)
        fprintf(stderr, "  negotiate: %s\n", o.msg);
    CHECK(o.r);
    CHECK_STR(o.r->state, "allocated");
    CHECK(o.r->expires > 0);
    CHECK(o.r->manifest_yaml && strstr(o.r->manifest_yaml, "pip: berlin") &&
          strstr(o.r->manifest_yaml, "pip: paris"));
    CHECK(strstr(o.r->manifest_yaml, "host: b1") && strstr(o.r->manifest_yaml, "host: p1"));
    CHECK(o.r->nproviders == 2);
    for (size_t i = 0; i < 2; i++)
        CHECK_STR(o.r->providers[i].state, "allocated");
    CHECK(pip_holds(BERLIN, "span1") == 1 && pip_holds(PARIS, "span1") == 1 &&
          pip_holds(ROME, "span1") == 0);
    /* The counts see a live CloudNet: rows at both PIPs, a wire device at each border. */
    CHECK(pip_traces(BERLIN, "span1") > 1 && pip_traces(PARIS, "span1") > 1);
    CHECK(pip_traces(ROME, "span1") == 0);
    /* Idempotent: the same answer again, nothing new at the PIPs. */
    negotiate_at(&vnpd, PEER_SECRET, "span1", "span.yaml", 120, &again);
    CHECK(again.r);
    CHECK_STR(again.r->manifest_yaml, o.r->manifest_yaml);
    outcome_release(&again);
    /* The same id with another request is refused. */
    negotiate_at(&vnpd, PEER_SECRET, "span1", "small.yaml", 120, &again);
    CHECK(again.code == CN_E_INVALID);
    outcome_release(&again);
    outcome_release(&o);

    id_call(&vnpd, vnp_client_confirm, PEER_SECRET, "span1", &o);
    if (!o.r)
        fprintf(stderr, "  confirm: %s\n", o.msg);
    CHECK(o.r);
    CHECK_STR(o.r->state, "provisioned");
    outcome_release(&o);
    id_call(&vnpd, vnp_client_status, PEER_SECRET, "span1", &o);
    CHECK(o.r);
    CHECK_STR(o.r->state, "provisioned");
    CHECK_STR(element_state(o.r, "web"), "running");
    CHECK_STR(element_state(o.r, "db"), "running");
    CHECK(o.r->manifest_yaml && strstr(o.r->manifest_yaml, "console: "));
    CHECK(!element_state(o.r, "transit:berlin-paris"));
    outcome_release(&o);

    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = client_of(&vnpd, PEER_SECRET, 30);
    struct vnp_listing *l = NULL;
    size_t n = 0;
    CHECK(vnp_client_list(c, &l, &n, &err) == 0);
    bool listed = false;
    for (size_t i = 0; i < n; i++)
        listed |= cn_streq(l[i].id, "span1") && cn_streq(l[i].state, "provisioned");
    CHECK(listed);
    vnp_listing_free(l, n);
    /* Power calls are routed to the PIP that holds the VNode. */
    const char *const dbonly[] = {"db"};
    struct vnp_reply *r = vnp_client_power(c, VNP_STOP, "span1", dbonly, 1, &err);
    CHECK(r);
    CHECK_STR(element_state(r, "db"), "defined");
    vnp_reply_free(r);
    r = vnp_client_power(c, VNP_START, "span1", dbonly, 1, &err);
    CHECK(r);
    CHECK_STR(element_state(r, "db"), "running");
    vnp_reply_free(r);
    const char *const ghost[] = {"ghost"};
    CHECK(!vnp_client_power(c, VNP_STOP, "span1", ghost, 1, &err));
    CHECK(err.code == CN_E_NOTFOUND);
    cn_err_clear(&err);
    char *console = vnp_client_console(c, "span1", "web", &err);
    CHECK(console && strstr(console, "#"));
    free(console);
    vnp_client_free(c);
    cn_err_release(&err);

    id_call(&vnpd, vnp_client_release, PEER_SECRET, "span1", &o);
    CHECK(o.r);
    CHECK_STR(o.r->state, "released");
    outcome_release(&o);
    CHECK(holders("span1") == 0);
    /* Repeating the release succeeds. */
    id_call(&vnpd, vnp_client_release, PEER_SECRET, "span1", &o);
    CHECK(o.r);
    CHECK_STR(o.r->state, "released");
    outcome_release(&o);
    return 0;
}

static int
test_refusal(const void *data)
{
    struct outcome o = {0};
    (void)data;
    negotiate_at(&vnpd, PEER_SECRET, "refused1", "bad-image.yaml", 120, &o);
    CHECK(!o.r);
    CHECK(o.code == CN_E_EMBEDDING || cn_fault_code(o.code) == 11);
    CHECK(strstr(o.msg, "pip 'berlin' refused: "));
    CHECK(strstr(o.msg, "no-such-image"));
    /* berlin answered: it holds nothing, and paris acknowledged its release, so
     * no part is left for the chores to retry. */
    CHECK(vnpd_parts_open("refused1") == 0);
    CHECK(holders_settle("refused1", 5) == 0);
    outcome_release(&o);
    id_call(&vnpd, vnp_client_status, PEER_SECRET, "refused1", &o);
    CHECK(o.r);
    CHECK_STR(o.r->state, "failed");
    outcome_release(&o);
    return 0;
}

/*
 * berlin refuses because another of its peers holds the id there: berlin
 * holds nothing of vnpd's, would answer its release with "forbidden", and
 * must not be asked again and again; the other peer's CloudNet stays.
 */
static int
test_refusal_forbidden(const void *data)
{
    struct outcome o = {0};
    struct cn_err err = CN_ERR_INIT;
    char *yaml = fixture("small.yaml");
    struct vnp_client *other = client_of(&pips[BERLIN], PIP_OTHER_SECRET, 30);
    struct vnp_reply *r = vnp_client_negotiate(other, "clash1", yaml, 120, &err);
    (void)data;
    CHECK(r);
    vnp_reply_free(r);
    negotiate_at(&vnpd, PEER_SECRET, "clash1", "span.yaml", 120, &o);
    CHECK(!o.r);
    CHECK(o.code == CN_E_FORBIDDEN);
    CHECK(strstr(o.msg, "pip 'berlin' refused: "));
    outcome_release(&o);
    CHECK(vnpd_parts_open("clash1") == 0);
    CHECK(pip_holds(PARIS, "clash1") == 0);
    sleep(2); /* two rounds of the chores: nothing to retry, nothing touched */
    CHECK(vnpd_parts_open("clash1") == 0);
    r = vnp_client_status(other, "clash1", &err);
    CHECK(r && cn_streq(r->state, "allocated"));
    vnp_reply_free(r);
    r = vnp_client_release(other, "clash1", &err);
    CHECK(r);
    vnp_reply_free(r);
    vnp_client_free(other);
    free(yaml);
    cn_err_release(&err);
    return 0;
}

/* The tag the manifest gives link, or -1. */
static long
manifest_vlan(const char *manifest, const char *link)
{
    char key[128];
    snprintf(key, sizeof(key), "\n  %s:", link);
    const char *at = manifest ? strstr(manifest, key) : NULL;
    const char *v = at ? strstr(at + 1, "vlan: ") : NULL;
    const char *next = at ? strstr(at + 1, "\n  ") : NULL;
    while (next && next[3] == ' ')
        next = strstr(next + 1, "\n  ");
    if (!v || (next && v > next))
        return -1;
    return strtol(v + strlen("vlan: "), NULL, 10);
}

struct bg_negotiation {
    const char *id;
    const char *fixture;
    struct outcome o;
};

static void *
bg_negotiate(void *arg)
{
    struct bg_negotiation *bg = arg;
    negotiate_at(&vnpd, PEER_SECRET, bg->id, bg->fixture ? bg->fixture : "span.yaml", 120, &bg->o);
    return NULL;
}

static int refresh_views(void);

/*
 * With sync-max-age vnpd plans against a view older than the tags it has
 * handed out since: CloudNets negotiated together, or one after another
 * while the view is young, must still get distinct tags, and a released
 * one's tag is free again.
 */
static int
test_overlapping_tags(const void *data)
{
    struct bg_negotiation bg[4] = {
        {.id = "tags1"}, {.id = "tags2"}, {.id = "same1"}, {.id = "same1"}};
    pthread_t t[4];
    struct outcome o = {0};
    long tag[3];
    (void)data;
    CHECK(refresh_views() == 0);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, bg_negotiate, &bg[i]) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        if (!bg[i].o.r)
            fprintf(stderr, "  %s: %s\n", bg[i].id, bg[i].o.msg);
        CHECK(bg[i].o.r);
    }
    /* The same id twice at once: one negotiation, the same answer twice. */
    CHECK_STR(bg[2].o.r->manifest_yaml, bg[3].o.r->manifest_yaml);
    CHECK(pip_holds(BERLIN, "same1") == 1 && pip_holds(PARIS, "same1") == 1);
    for (int i = 0; i < 3; i++)
        tag[i] = manifest_vlan(bg[i].o.r->manifest_yaml, "web-db");
    for (int i = 0; i < 3; i++)
        CHECK(tag[i] >= 3000 && tag[i] <= 3099);
    CHECK(tag[0] != tag[1] && tag[0] != tag[2] && tag[1] != tag[2]);
    /* One more while the view is still young: a fourth tag. */
    negotiate_at(&vnpd, PEER_SECRET, "tags3", "span.yaml", 120, &o);
    if (!o.r)
        fprintf(stderr, "  tags3: %s\n", o.msg);
    CHECK(o.r);
    long t3 = manifest_vlan(o.r->manifest_yaml, "web-db");
    CHECK(t3 >= 3000 && t3 != tag[0] && t3 != tag[1] && t3 != tag[2]);
    outcome_release(&o);
    long lowest = tag[0] < tag[1] ? tag[0] : tag[1];
    lowest = tag[2] < lowest ? tag[2] : lowest;
    lowest = t3 < lowest ? t3 : lowest;
    for (const char *const *id = (const char *const[]){"tags1", "tags2", "same1", "tags3", NULL};
         *id; id++) {
        id_call(&vnpd, vnp_client_release, PEER_SECRET, *id, &o);
        CHECK(o.r);
        outcome_release(&o);
        CHECK(holders(*id) == 0);
    }
    /* Released everywhere: the view (still the same) offers the lowest tag again. */
    negotiate_at(&vnpd, PEER_SECRET, "tags4", "span.yaml", 120, &o);
    CHECK(o.r);
    CHECK(o.r && manifest_vlan(o.r->manifest_yaml, "web-db") == lowest);
    outcome_release(&o);
    id_call(&vnpd, vnp_client_release, PEER_SECRET, "tags4", &o);
    CHECK(o.r);
    outcome_release(&o);
    CHECK(holders("tags4") == 0);
    for (int i = 0; i < 4; i++)
        outcome_release(&bg[i].o);
    return 0;
}

/* The free CPU a describe() answers at d (vnpd or a PIP), or -1. */
static double
free_cpu(const struct test_daemon *d, const char *secret)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = client_of(d, secret, 30);
    struct vnp_description *desc = vnp_client_describe(c, &err);
    double cpu = -1;
    for (size_t i = 0; desc && i < desc->nresources; i++)
        if (cn_streq(desc->resources[i].name, "cpu"))
            cpu = desc->resources[i].value;
    vnp_description_free(desc);
    vnp_client_free(c);
    cn_err_release(&err);
    return cpu;
}

/* The one PIP holding id, or -1 when none or several do. */
static int
holder_of(const char *id)
{
    int at = -1;
    for (int i = 0; i < 3; i++) {
        if (pip_holds(i, id) != 1)
            continue;
        if (at >= 0)
            return -1;
        at = i;
    }
    return at;
}

/*
 * With a cached view, the CPU handed out since counts as used: two VNodes
 * of 6 CPUs one after the other (each PIP has 8) go to two PIPs instead of
 * the second being refused by the PIP the view still shows free. vnpd's own
 * describe() shows them taken, and free again once released.
 */
static int
test_overlapping_capacity(const void *data)
{
    struct outcome o[2] = {{0}}, r = {0};
    const char *ids[2] = {"cap1", "cap2"};
    (void)data;
    double at_pips = 0;
    for (int i = 0; i < 3; i++)
        at_pips += free_cpu(&pips[i], PIP_SECRET);
    double before = free_cpu(&vnpd, PEER_SECRET);
    if (before != at_pips)
        fprintf(stderr, "  vnpd's view: %g CPUs free, the PIPs: %g\n", before, at_pips);
    CHECK(before == 24 && at_pips == 24);
    for (int k = 0; k < 2; k++) {
        negotiate_at(&vnpd, PEER_SECRET, ids[k], "big.yaml", 120, &o[k]);
        if (!o[k].r)
            fprintf(stderr, "  %s: %s\n", ids[k], o[k].msg);
        CHECK(o[k].r);
        CHECK_STR(o[k].r->state, "allocated");
    }
    int first = holder_of("cap1"), second = holder_of("cap2");
    CHECK(first >= 0 && second >= 0 && first != second);
    /* Whether or not the view was fetched again meanwhile, 12 CPUs are taken. */
    CHECK(free_cpu(&vnpd, PEER_SECRET) == before - 12);
    for (int k = 0; k < 2; k++) {
        id_call(&vnpd, vnp_client_release, PEER_SECRET, ids[k], &r);
        CHECK(r.r);
        outcome_release(&r);
        CHECK(holders(ids[k]) == 0);
        outcome_release(&o[k]);
    }
    CHECK(free_cpu(&vnpd, PEER_SECRET) == before);
    return 0;
}

/*
 * Negotiates wide.yaml (6000 of berlin-paris's 10000 Mbit/s) as id, which
 * vnpd must refuse itself: the mapping's infeasibility (fault 8), no PIP
 * asked, nothing stored.
 */
static int
refused_for_bandwidth(const char *id)
{
    struct outcome o = {0}, st = {0};
    negotiate_at(&vnpd, PEER_SECRET, id, "wide.yaml", 120, &o);
    if (o.r)
        fprintf(stderr, "  %s: %s, expected a refusal\n", id, o.r->state);
    CHECK(!o.r);
    if (cn_fault_code(o.code) != 8)
        fprintf(stderr, "  %s: fault %d: %s\n", id, cn_fault_code(o.code), o.msg);
    CHECK(cn_fault_code(o.code) == 8);
    CHECK(!strstr(o.msg, "pip '"));
    CHECK(holders(id) == 0);
    /* Failed before any PIP was asked: nothing stored, no negotiation at a PIP. */
    id_call(&vnpd, vnp_client_status, PEER_SECRET, id, &st);
    CHECK(!st.r && st.code == CN_E_NOTFOUND);
    CHECK(vnpd_parts_open(id) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(pip_holds(i, id) == 0);
    outcome_release(&st);
    outcome_release(&o);
    return 0;
}

static int
negotiated(const char *id)
{
    struct outcome o = {0};
    negotiate_at(&vnpd, PEER_SECRET, id, "wide.yaml", 120, &o);
    if (!o.r)
        fprintf(stderr, "  %s: %s\n", id, o.msg);
    CHECK(o.r);
    CHECK_STR(o.r->state, "allocated");
    CHECK(holders(id) == 2);
    outcome_release(&o);
    return 0;
}

static int
released(const char *id)
{
    struct outcome r = {0};
    id_call(&vnpd, vnp_client_release, PEER_SECRET, id, &r);
    CHECK(r.r);
    outcome_release(&r);
    CHECK(holders_settle(id, 10) == 0);
    return 0;
}

/* The transit bandwidth a live CloudNet uses is not offered again, also after a restart. */
static int
test_transit_bandwidth(const void *data)
{
    (void)data;
    CHECK(negotiated("wide1") == 0);
    CHECK(refused_for_bandwidth("wide2") == 0);
    CHECK(released("wide1") == 0);
    CHECK(negotiated("wide2") == 0);

    /* Restarted with wide2 live: the store gives its bandwidth back to the count. */
    test_daemon_stop(&vnpd, SIGKILL);
    CHECK(test_daemon_start(&vnpd) == 0);
    CHECK(refused_for_bandwidth("wide3") == 0);
    /* Counted once: after the release the whole link is free again. */
    CHECK(released("wide2") == 0);
    CHECK(negotiated("wide3") == 0);
    CHECK(released("wide3") == 0);
    return 0;
}

/* vnpd reuses describe() answers for a while (sync-max-age), so a PIP that
 * died or hangs after the last synchronisation is asked to negotiate. */
static int
refresh_views(void)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = client_of(&vnpd, PEER_SECRET, 30);
    struct vnp_description *d = vnp_client_describe(c, &err);
    int ok = d ? 0 : -1;
    vnp_description_free(d);
    vnp_client_free(c);
    cn_err_release(&err);
    return ok;
}

static int
test_pip_down(const void *data)
{
    struct outcome o = {0};
    (void)data;
    CHECK(refresh_views() == 0);
    test_daemon_stop(&pips[ROME], SIGKILL);
    negotiate_at(&vnpd, PEER_SECRET, "down1", "rome-span.yaml", 120, &o);
    CHECK(!o.r);
    CHECK(strstr(o.msg, "pip 'rome' is unreachable"));
    CHECK(pip_holds(PARIS, "down1") == 0 && pip_holds(BERLIN, "down1") == 0);
    outcome_release(&o);
    CHECK(test_daemon_start(&pips[ROME]) == 0);
    CHECK(pip_holds(ROME, "down1") == 0);
    return 0;
}

/* progress(id) through secret: 0 with what it answered, or -1 with the fault number in *fault. */
static int
progress_of(const struct test_daemon *d, const char *secret, const char *id,
            struct vnp_provider_report **reps, size_t *n, bool *done, int *fault)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = client_of(d, secret, 5);
    int rc = vnp_client_progress(c, id, reps, n, done, &err);
    *fault = rc < 0 ? vnp_client_last_fault(c) : 0;
    vnp_client_free(c);
    cn_err_release(&err);
    return rc;
}

static const struct vnp_provider_report *
report_named(const struct vnp_provider_report *reps, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (cn_streq(reps[i].name, name))
            return &reps[i];
    return NULL;
}

/*
 * Paris hangs: vnpd gives up on it after the timeout. Meanwhile progress()
 * answers at once, though the negotiation holds the id, with berlin's
 * answer and nothing of paris; afterwards with both, and done.
 */
static int
test_pip_hangs(const void *data)
{
    struct bg_negotiation bg = {.id = "hang1"};
    struct vnp_provider_report *reps = NULL;
    size_t n = 0;
    bool done = true, seen = false;
    int fault = 0;
    pthread_t t;
    double t0;
    (void)data;
    CHECK(refresh_views() == 0);
    kill(pips[PARIS].pid, SIGSTOP);
    t0 = cn_now();
    CHECK(pthread_create(&t, NULL, bg_negotiate, &bg) == 0);
    /* Berlin answers within a second; paris is given TIMEOUT_S. */
    while (!seen && cn_now() - t0 < TIMEOUT_S - 0.3) {
        double asked = cn_now();
        int rc = progress_of(&vnpd, PEER_SECRET, "hang1", &reps, &n, &done, &fault);
        CHECK(cn_now() - asked < 1.0);
        CHECK(rc == 0 || fault == 3);
        seen = rc == 0 && report_named(reps, n, "berlin");
        if (seen) {
            CHECK(!done);
            CHECK(n == 1);
            CHECK_STR(report_named(reps, n, "berlin")->state, "allocated");
            CHECK(!report_named(reps, n, "paris"));
        }
        vnp_provider_reports_free(reps, n);
        reps = NULL;
        n = 0;
        usleep(50 * 1000);
    }
    CHECK(seen);
    /* Another peer's view of it: forbidden. */
    CHECK(progress_of(&vnpd, OTHER_SECRET, "hang1", &reps, &n, &done, &fault) < 0);
    CHECK(fault == 2);
    pthread_join(t, NULL);
    CHECK(!bg.o.r);
    CHECK(strstr(bg.o.msg, "pip 'paris' did not answer within 2 s"));
    CHECK(cn_now() - t0 < 4 * TIMEOUT_S + 5);
    /* Over: the whole list, still there for a late poll. */
    CHECK(progress_of(&vnpd, PEER_SECRET, "hang1", &reps, &n, &done, &fault) == 0);
    CHECK(done);
    CHECK(n == 2);
    CHECK(n == 2 && cn_streq(reps[0].name, "berlin") && cn_streq(reps[1].name, "paris"));
    CHECK(n == 2 && cn_streq(reps[1].state, "timeout") && reps[1].reason);
    vnp_provider_reports_free(reps, n);
    reps = NULL;
    CHECK(pip_holds(BERLIN, "hang1") == 0);
    outcome_release(&bg.o);
    kill(pips[PARIS].pid, SIGCONT);
    /* The late negotiation at paris completes, then vnpd's retried release ends it. */
    CHECK(holders_settle("hang1", 20) == 0);
    char state[64];
    CHECK_STR(pip_state(PARIS, "hang1", state, sizeof(state)), "released");
    return 0;
}

/* progress() refuses what is not the caller's to see; a PIP has no such method. */
static int
test_progress_bad(const void *data)
{
    struct vnp_provider_report *reps = NULL;
    size_t n = 0;
    bool done = false;
    int fault = 0;
    (void)data;
    CHECK(progress_of(&vnpd, PEER_SECRET, "never-negotiated", &reps, &n, &done, &fault) < 0);
    CHECK(fault == 3);
    CHECK(progress_of(&vnpd, "wrong-secret", "hang1", &reps, &n, &done, &fault) < 0);
    CHECK(fault == 2);
    CHECK(progress_of(&vnpd, PEER_SECRET, "bad id!", &reps, &n, &done, &fault) < 0);
    CHECK(fault == 1);
    CHECK(progress_of(&pips[BERLIN], PIP_SECRET, "hang1", &reps, &n, &done, &fault) < 0);
    CHECK(fault == VNP_FAULT_NO_SUCH_METHOD);
    CHECK(!reps && n == 0);
    return 0;
}

static int
test_pip_killed_after_negotiate(const void *data)
{
    struct outcome o = {0};
    (void)data;
    negotiate_at(&vnpd, PEER_SECRET, "killed1", "span.yaml", 3, &o);
    CHECK(o.r);
    outcome_release(&o);
    CHECK(pip_holds(BERLIN, "killed1") == 1);
    test_daemon_stop(&pips[BERLIN], SIGKILL);
    id_call(&vnpd, vnp_client_confirm, PEER_SECRET, "killed1", &o);
    CHECK(!o.r);
    CHECK(strstr(o.msg, "pip 'berlin'"));
    outcome_release(&o);
    CHECK(pip_holds(PARIS, "killed1") == 0);
    sleep(4); /* past the 3 s lease asked of berlin */
    CHECK(test_daemon_start(&pips[BERLIN]) == 0);
    CHECK(holders_settle("killed1", 10) == 0);
    id_call(&vnpd, vnp_client_status, PEER_SECRET, "killed1", &o);
    CHECK(o.r);
    CHECK_STR(o.r->state, "failed");
    outcome_release(&o);
    return 0;
}

static int
test_vnpd_crash_recovery(const void *data)
{
    struct bg_negotiation bg = {.id = "crash1"};
    pthread_t t;
    struct outcome o = {0};
    (void)data;
    CHECK(refresh_views() == 0);
    kill(pips[PARIS].pid, SIGSTOP);
    CHECK(pthread_create(&t, NULL, bg_negotiate, &bg) == 0);
    /* Berlin allocates at once; paris hangs; vnpd dies before it gives up. */
    for (int i = 0; i < 40 && pip_holds(BERLIN, "crash1") != 1; i++)
        usleep(100 * 1000);
    CHECK(pip_holds(BERLIN, "crash1") == 1);
    test_daemon_stop(&vnpd, SIGKILL);
    pthread_join(t, NULL);
    CHECK(!bg.o.r);
    outcome_release(&bg.o);
    kill(pips[PARIS].pid, SIGCONT);
    CHECK(test_daemon_start(&vnpd) == 0);
    CHECK(holders_settle("crash1", 20) == 0);
    id_call(&vnpd, vnp_client_status, PEER_SECRET, "crash1", &o);
    CHECK(o.r);
    CHECK_STR(o.r->state, "failed");
    CHECK(o.r->reason && strstr(o.r->reason, "restarted"));
    outcome_release(&o);
    return 0;
}

static int
test_two_levels(const void *data)
{
    struct outcome o = {0};
    (void)data;
    negotiate_at(&top, PEER_SECRET, "nested1", "small.yaml", 120, &o);
    if (!o.r)
        fprintf(stderr, "  negotiate: %s\n", o.msg);
    CHECK(o.r);
    CHECK(o.r->nproviders == 1);
    CHECK_STR(o.r->providers[0].name, "lower");
    CHECK(pip_holds(BERLIN, "nested1") == 1);
    outcome_release(&o);
    id_call(&top, vnp_client_confirm, PEER_SECRET, "nested1", &o);
    CHECK(o.r);
    CHECK_STR(o.r->state, "provisioned");
    outcome_release(&o);
    id_call(&top, vnp_client_status, PEER_SECRET, "nested1", &o);
    CHECK(o.r);
    CHECK_STR(element_state(o.r, "vm"), "running");
    outcome_release(&o);
    id_call(&top, vnp_client_release, PEER_SECRET, "nested1", &o);
    CHECK(o.r);
    outcome_release(&o);
    CHECK(holders("nested1") == 0);
    return 0;
}

/*
 * negotiate with parameters built by fmt from the secret, an id, a document
 * and a lease given as a string or an int; answers the fault code, 0 when
 * the call succeeded, -1 when the transport failed.
 */
static int
raw_negotiate_fault(const char *secret, const char *fmt)
{
    xmlrpc_client *cl = test_xmlrpc_client("vnpd_test");
    xmlrpc_value *res;
    int code;

    if (!cl)
        return -1;
    if (strcmp(fmt, "(ssss)") == 0)
        res = test_xmlrpc_call(cl, vnpd.url, "negotiate", &code, NULL, 0, fmt, secret, "raw1", "x",
                               "60");
    else if (strcmp(fmt, "(sss)") == 0)
        res = test_xmlrpc_call(cl, vnpd.url, "negotiate", &code, NULL, 0, fmt, secret, "raw1", "x");
    else
        res = test_xmlrpc_call(cl, vnpd.url, "negotiate", &code, NULL, 0, fmt, secret, "raw1", "x",
                               60, "extra");
    if (res)
        xmlrpc_DECREF(res);
    xmlrpc_client_destroy(cl);
    /* Negative codes are xmlrpc-c's own: the transport failed. */
    return code < 0 ? -1 : code;
}

/* ---- modify ---- */

static void
modify_at(const struct test_daemon *d, const char *secret, const char *id, const char *fixture_name,
          struct outcome *o)
{
    struct cn_err err = CN_ERR_INIT;
    char *yaml = fixture(fixture_name);
    struct vnp_client *c = client_of(d, secret, 60);
    o->r = vnp_client_modify(c, id, yaml, &err);
    o->code = o->r ? 0 : err.code;
    snprintf(o->msg, sizeof(o->msg), "%s", o->r ? "" : cn_err_msg(&err));
    vnp_client_free(c);
    free(yaml);
    cn_err_release(&err);
}

/* The value of feature key in manifest's entry for element, into buf ("" when none). */
static const char *
manifest_field(const char *manifest, const char *element, const char *key, char *buf, size_t size)
{
    char k[128], f[128];
    snprintf(k, sizeof(k), "\n  %s:", element);
    snprintf(f, sizeof(f), " %s: ", key);
    const char *at = manifest ? strstr(manifest, k) : NULL;
    const char *next = at ? strstr(at + 1, "\n  ") : NULL;
    while (next && next[3] == ' ')
        next = strstr(next + 1, "\n  ");
    const char *v = at ? strstr(at + 1, f) : NULL;
    buf[0] = '\0';
    if (v && (!next || v < next))
        sscanf(v + strlen(f), "%127[^,}\n]", buf);
    (void)size;
    return buf;
}

/*
 * The manifest pip i holds for id ("" when it holds nothing), newly
 * allocated, without its objective line (whose solve time differs between
 * two mappings of the same graphs).
 */
static char *
pip_manifest(int i, const char *id)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = client_of(&pips[i], PIP_SECRET, 5);
    struct vnp_reply *r = vnp_client_status(c, id, &err);
    char *m = xstrdup(r && r->manifest_yaml &&
                              (cn_streq(r->state, "allocated") || cn_streq(r->state, "provisioned"))
                          ? r->manifest_yaml
                          : "");
    char *obj = strstr(m, "\nobjective:");
    char *end = obj ? strchr(obj + 1, '\n') : NULL;
    if (end)
        memmove(obj, end, strlen(end) + 1);
    vnp_reply_free(r);
    vnp_client_free(c);
    cn_err_release(&err);
    return m;
}

/* What every PIP and vnpd hold of id, to compare before and after a failed modify. */
struct holdings {
    char *pip[3];
    char *vnp;
    char *vnp_state;
};

static void
holdings_take(const char *id, struct holdings *h)
{
    struct outcome o = {0};
    for (int i = 0; i < 3; i++)
        h->pip[i] = pip_manifest(i, id);
    id_call(&vnpd, vnp_client_status, PEER_SECRET, id, &o);
    h->vnp = xstrdup(o.r && o.r->manifest_yaml ? o.r->manifest_yaml : "");
    h->vnp_state = xstrdup(o.r ? o.r->state : "");
    outcome_release(&o);
}

static bool
holdings_same(const struct holdings *a, const struct holdings *b)
{
    bool same = cn_streq(a->vnp, b->vnp) && cn_streq(a->vnp_state, b->vnp_state);
    for (int i = 0; i < 3; i++)
        if (!cn_streq(a->pip[i], b->pip[i])) {
            fprintf(stderr, "  %s changed\n", pips[i].name);
            same = false;
        }
    return same;
}

static void
holdings_release(struct holdings *h)
{
    for (int i = 0; i < 3; i++)
        free(h->pip[i]);
    free(h->vnp);
    free(h->vnp_state);
}

/* A modify that fails at a PIP or before: the fault, and nothing changed anywhere. */
static int
modify_fails(const char *id, const char *fixture_name, int *ret_code, char *msg, size_t size)
{
    struct holdings before, after;
    struct outcome o = {0};
    holdings_take(id, &before);
    modify_at(&vnpd, PEER_SECRET, id, fixture_name, &o);
    *ret_code = o.r ? 0 : o.code;
    snprintf(msg, size, "%s", o.msg);
    outcome_release(&o);
    holdings_take(id, &after);
    bool same = holdings_same(&before, &after) && before.pip[BERLIN][0] && before.pip[PARIS][0];
    holdings_release(&before);
    holdings_release(&after);
    return same ? 0 : -1;
}

/*
 * A CloudNet over berlin and paris, modified: the crossing link's bandwidth
 * (both pieces change, the tag and the hosts stay), a repeat, a VNode in
 * rome once provisioned (rome's piece negotiated, confirmed, started; berlin
 * not asked), refusals at a PIP that leave every PIP as it was, and rome's
 * only VNode taken out again (its piece released).
 */
static int
test_modify(const void *data)
{
    struct outcome o = {0}, again = {0};
    char buf[128], state[64], msg[1024];
    int code = 0;
    (void)data;

    negotiate_at(&vnpd, PEER_SECRET, "mod1", "span.yaml", 120, &o);
    CHECK(o.r);
    long tag = manifest_vlan(o.r ? o.r->manifest_yaml : NULL, "web-db");
    long long expires = o.r ? o.r->expires : 0;
    CHECK(tag >= 3000 && tag <= 3099);
    outcome_release(&o);

    modify_at(&vnpd, PEER_SECRET, "mod1", "mod-bw.yaml", &o);
    if (!o.r)
        fprintf(stderr, "  modify: %s\n", o.msg);
    CHECK(o.r);
    CHECK_STR(o.r->state, "allocated");
    CHECK(o.r->expires == expires);
    CHECK(manifest_vlan(o.r->manifest_yaml, "web-db") == tag);
    CHECK_STR(manifest_field(o.r->manifest_yaml, "web", "pip", buf, sizeof(buf)), "berlin");
    CHECK_STR(manifest_field(o.r->manifest_yaml, "web", "host", buf, sizeof(buf)), "b1");
    CHECK_STR(manifest_field(o.r->manifest_yaml, "db", "pip", buf, sizeof(buf)), "paris");
    CHECK_STR(manifest_field(o.r->manifest_yaml, "db", "host", buf, sizeof(buf)), "p1");
    CHECK(o.r->nproviders == 2);
    char *bm = pip_manifest(BERLIN, "mod1"), *pm = pip_manifest(PARIS, "mod1");
    CHECK(strstr(bm, "bandwidth: 200") && strstr(pm, "bandwidth: 200"));
    free(bm);
    free(pm);
    /* The same document again: the same answer. */
    modify_at(&vnpd, PEER_SECRET, "mod1", "mod-bw.yaml", &again);
    CHECK(again.r);
    CHECK_STR(again.r->manifest_yaml, o.r->manifest_yaml);
    outcome_release(&again);
    outcome_release(&o);

    id_call(&vnpd, vnp_client_confirm, PEER_SECRET, "mod1", &o);
    CHECK(o.r);
    outcome_release(&o);
    modify_at(&vnpd, PEER_SECRET, "mod1", "mod-rome.yaml", &o);
    if (!o.r)
        fprintf(stderr, "  modify: %s\n", o.msg);
    CHECK(o.r);
    CHECK_STR(o.r->state, "provisioned");
    CHECK(manifest_vlan(o.r->manifest_yaml, "web-db") == tag);
    long rtag = manifest_vlan(o.r->manifest_yaml, "db-it");
    CHECK(rtag >= 3100 && rtag <= 3199);
    CHECK_STR(manifest_field(o.r->manifest_yaml, "it", "pip", buf, sizeof(buf)), "rome");
    CHECK(strstr(o.r->manifest_yaml, "console: "));
    /* berlin's piece did not change: it was not asked. */
    CHECK(o.r->nproviders == 2);
    for (size_t i = 0; i < o.r->nproviders; i++)
        CHECK(!cn_streq(o.r->providers[i].name, "berlin"));
    outcome_release(&o);
    CHECK_STR(pip_state(ROME, "mod1", state, sizeof(state)), "provisioned");
    id_call(&vnpd, vnp_client_status, PEER_SECRET, "mod1", &o);
    CHECK(o.r);
    CHECK_STR(element_state(o.r, "it"), "running");
    CHECK_STR(element_state(o.r, "web"), "running");
    CHECK_STR(element_state(o.r, "db"), "running");
    outcome_release(&o);

    /* berlin refuses (an image it lacks) after paris and rome took theirs: all put back. */
    CHECK(modify_fails("mod1", "mod-bad-image.yaml", &code, msg, sizeof(msg)) == 0);
    CHECK(code == CN_E_EMBEDDING);
    CHECK(strstr(msg, "pip 'berlin' refused: "));
    /*
     * Too much CPU for berlin, which another peer filled since: berlin
     * refuses, or, when vnpd's view is fresh, vnpd finds no room itself.
     */
    struct cn_err err = CN_ERR_INIT;
    static const char hog[] = "rdl: 1\nkind: overlay\nname: hog\nelements:\n  h:\n"
                              "    type: /node/host/generic\n"
                              "    resources: {cpu: 6, memory: 512}\n"
                              "    features: {location: DE, image: debian-12}\n";
    struct vnp_client *other = client_of(&pips[BERLIN], PIP_OTHER_SECRET, 30);
    struct vnp_reply *r = vnp_client_negotiate(other, "hog1", hog, 120, &err);
    if (!r)
        fprintf(stderr, "  hog: %s\n", cn_err_msg(&err));
    CHECK(r);
    vnp_reply_free(r);
    CHECK(modify_fails("mod1", "mod-cpu.yaml", &code, msg, sizeof(msg)) == 0);
    CHECK(code == CN_E_INSUFFICIENT || code == CN_E_INFEASIBLE);
    CHECK(code == CN_E_INFEASIBLE || strstr(msg, "pip 'berlin' refused: "));
    r = vnp_client_release(other, "hog1", &err);
    CHECK(r);
    vnp_reply_free(r);
    vnp_client_free(other);
    cn_err_release(&err);
    CHECK(vnpd_parts_open("mod1") == 3);

    /* rome's only VNode goes: its piece is released, the rest runs on. */
    modify_at(&vnpd, PEER_SECRET, "mod1", "mod-bw.yaml", &o);
    if (!o.r)
        fprintf(stderr, "  modify: %s\n", o.msg);
    CHECK(o.r);
    CHECK(o.r && !strstr(o.r->manifest_yaml, "rome"));
    outcome_release(&o);
    CHECK(vnpd_parts_open("mod1") == 2);
    CHECK(pip_holds(ROME, "mod1") == 0);
    CHECK(pip_traces(ROME, "mod1") == 0);
    CHECK_STR(pip_state(ROME, "mod1", state, sizeof(state)), "released");
    id_call(&vnpd, vnp_client_status, PEER_SECRET, "mod1", &o);
    CHECK(o.r);
    CHECK(!element_state(o.r, "it"));
    CHECK_STR(element_state(o.r, "web"), "running");
    outcome_release(&o);

    id_call(&vnpd, vnp_client_release, PEER_SECRET, "mod1", &o);
    CHECK(o.r);
    outcome_release(&o);
    CHECK(holders_settle("mod1", 5) == 0);
    /* Released: nothing left to modify. */
    modify_at(&vnpd, PEER_SECRET, "mod1", "mod-rome.yaml", &o);
    CHECK(!o.r && o.code == CN_E_INVALID);
    outcome_release(&o);
    return 0;
}

struct bg_modification {
    const char *id;
    const char *fixture;
    struct outcome o;
};

static void *
bg_modify(void *arg)
{
    struct bg_modification *bg = arg;
    modify_at(&vnpd, PEER_SECRET, bg->id, bg->fixture, &bg->o);
    return NULL;
}

/*
 * vnpd killed while rome hangs on the piece a modify brings it, after
 * berlin and paris took theirs: the restarted vnpd puts berlin and paris
 * back and releases rome's late allocation; the CloudNet is as it was.
 */
static int
test_modify_crash(const void *data)
{
    struct bg_modification bg = {.id = "modcrash1", .fixture = "mod-rome.yaml"};
    struct holdings before, after;
    struct outcome o = {0};
    pthread_t t;
    bool changed = false;
    (void)data;
    negotiate_at(&vnpd, PEER_SECRET, "modcrash1", "span.yaml", 120, &o);
    CHECK(o.r);
    outcome_release(&o);
    holdings_take("modcrash1", &before);
    CHECK(refresh_views() == 0);
    kill(pips[ROME].pid, SIGSTOP);
    CHECK(pthread_create(&t, NULL, bg_modify, &bg) == 0);
    for (int i = 0; i < 40 && !changed; i++) {
        char *m = pip_manifest(PARIS, "modcrash1");
        changed = strstr(m, "db-it") != NULL;
        free(m);
        if (!changed)
            usleep(100 * 1000);
    }
    CHECK(changed);
    test_daemon_stop(&vnpd, SIGKILL);
    pthread_join(t, NULL);
    CHECK(!bg.o.r);
    outcome_release(&bg.o);
    kill(pips[ROME].pid, SIGCONT);
    CHECK(test_daemon_start(&vnpd) == 0);
    int rome = pip_holds(ROME, "modcrash1");
    for (int i = 0; i < 80 && (rome != 0 || pip_traces(ROME, "modcrash1") != 0); i++) {
        usleep(250 * 1000);
        rome = pip_holds(ROME, "modcrash1");
    }
    CHECK(rome == 0);
    CHECK(vnpd_parts_open("modcrash1") == 2);
    holdings_take("modcrash1", &after);
    CHECK(holdings_same(&before, &after));
    CHECK_STR(after.vnp_state, "allocated");
    holdings_release(&before);
    holdings_release(&after);
    id_call(&vnpd, vnp_client_release, PEER_SECRET, "modcrash1", &o);
    CHECK(o.r);
    outcome_release(&o);
    CHECK(holders_settle("modcrash1", 5) == 0);
    return 0;
}

/* Bad input to modify: the fault, and nothing changed. */
static int
test_modify_bad(const void *data)
{
    struct outcome o = {0};
    char msg[1024];
    int code = 0;
    (void)data;
    negotiate_at(&vnpd, PEER_SECRET, "modbad1", "span.yaml", 120, &o);
    CHECK(o.r);
    outcome_release(&o);
    CHECK(modify_fails("modbad1", "bad.yaml", &code, msg, sizeof(msg)) == 0);
    CHECK(code == CN_E_INVALID);
    CHECK(modify_fails("modbad1", "berlin.yaml", &code, msg, sizeof(msg)) == 0);
    CHECK(code == CN_E_INVALID && strstr(msg, "not an overlay"));
    modify_at(&vnpd, PEER_SECRET, "no-such-cloudnet", "mod-bw.yaml", &o);
    CHECK(!o.r && o.code == CN_E_NOTFOUND);
    outcome_release(&o);
    modify_at(&vnpd, OTHER_SECRET, "modbad1", "mod-bw.yaml", &o);
    CHECK(!o.r && o.code == CN_E_FORBIDDEN);
    outcome_release(&o);
    modify_at(&vnpd, "wrong-secret", "modbad1", "mod-bw.yaml", &o);
    CHECK(!o.r && o.code == CN_E_FORBIDDEN);
    outcome_release(&o);
    modify_at(&vnpd, PEER_SECRET, "bad id!", "mod-bw.yaml", &o);
    CHECK(!o.r && o.code == CN_E_INVALID);
    outcome_release(&o);
    /* Still the original at both PIPs. */
    char *bm = pip_manifest(BERLIN, "modbad1");
    CHECK(strstr(bm, "bandwidth: 100"));
    free(bm);
    id_call(&vnpd, vnp_client_release, PEER_SECRET, "modbad1", &o);
    CHECK(o.r);
    outcome_release(&o);
    CHECK(holders_settle("modbad1", 5) == 0);
    return 0;
}

static int
test_bad_input(const void *data)
{
    struct outcome o = {0};
    struct cn_err err = CN_ERR_INIT;
    struct vnp_listing *l = NULL;
    size_t before = 0, after = 0;
    struct vnp_client *c = client_of(&vnpd, PEER_SECRET, 30);
    (void)data;
    CHECK(vnp_client_list(c, &l, &before, &err) == 0);
    vnp_listing_free(l, before);

    negotiate_at(&vnpd, PEER_SECRET, "bad1", "bad.yaml", 60, &o);
    CHECK(o.code == CN_E_INVALID);
    CHECK(strstr(o.msg, "bad1:"));
    outcome_release(&o);
    negotiate_at(&vnpd, PEER_SECRET, "-bad-id", "small.yaml", 60, &o);
    CHECK(o.code == CN_E_INVALID);
    outcome_release(&o);
    negotiate_at(&vnpd, PEER_SECRET, "bad2", "small.yaml", 0, &o);
    CHECK(o.code == CN_E_INVALID);
    outcome_release(&o);
    negotiate_at(&vnpd, "not-a-known-secret", "bad3", "small.yaml", 60, &o);
    CHECK(o.code == CN_E_FORBIDDEN);
    outcome_release(&o);
    id_call(&vnpd, vnp_client_status, PEER_SECRET, "no-such-id", &o);
    CHECK(o.code == CN_E_NOTFOUND);
    outcome_release(&o);
    id_call(&vnpd, vnp_client_release, "wrong-secret-xyz", "refused1", &o);
    CHECK(o.code == CN_E_FORBIDDEN);
    outcome_release(&o);
    /* Another peer cannot see this peer's CloudNets. */
    id_call(&vnpd, vnp_client_status, OTHER_SECRET, "refused1", &o);
    CHECK(o.code == CN_E_FORBIDDEN);
    outcome_release(&o);
    /* Parameters of the wrong type or count: fault 1, and the daemon lives on. */
    CHECK(raw_negotiate_fault(PEER_SECRET, "(ssss)") == 1);
    CHECK(raw_negotiate_fault(PEER_SECRET, "(sss)") == 1);
    CHECK(raw_negotiate_fault(PEER_SECRET, "(sssis)") == 1);
    /* A failed CloudNet cannot be modified. */
    CHECK(!vnp_client_modify(c, "refused1", "rdl: 1\n", &err));
    CHECK(vnp_client_last_fault(c) == 1);
    cn_err_clear(&err);

    CHECK(vnp_client_list(c, &l, &after, &err) == 0);
    vnp_listing_free(l, after);
    CHECK(before == after);
    for (const char *const *id = (const char *const[]){"bad1", "bad2", "bad3", NULL}; *id; id++)
        CHECK(holders(*id) == 0);
    vnp_client_free(c);
    cn_err_release(&err);
    return 0;
}

static int
test_bad_config(const void *data)
{
    char path[600], *out = NULL;
    (void)data;
    snprintf(path, sizeof(path), "%s/bad.conf", scratch);
    CHECK(test_write_text(path, "name x\n"
                                "peer short abc\n"
                                "pip a http://127.0.0.1:1/RPC2 secret-a\n"
                                "transit t a:10-5 b:1-2 bandwidth=1 latency=1\n"
                                "negotiation sideways\n") == 0);
    const char *const argv[] = {vnpd.prog, "-d", "-f", path, NULL};
    int rc = test_command(argv, &out);
    CHECK(out);
    CHECK(rc != 0);
    char want[700];
    snprintf(want, sizeof(want), "%s:2: a peer secret must have at least 8", path);
    CHECK(strstr(out, want));
    snprintf(want, sizeof(want), "%s:4: ", path);
    CHECK(strstr(out, want));
    snprintf(want, sizeof(want), "%s:5: negotiation is 'parallel' or 'serial'", path);
    CHECK(strstr(out, want));
    free(out);
    return 0;
}

/* ---- setup ---- */

/*
 * Host i's namespace with two veth ends as border ports (VXLAN on the wire,
 * which needs no 802.1Q support in the kernel), and pip i's dataplane map.
 */
static int
write_dataplane(int i, const char *path)
{
    static const char *const host[] = {"b1", "p1", "r1"};
    char text[1024];
    snprintf(netns[i], sizeof(netns[i]), "cnv%d%c", (int)getpid(), "bpr"[i]);
    if (test_shell("ip netns add %s", netns[i]) < 0)
        return -1;
    netns_made[i] = true;
    if (test_shell("ip -n %s link add t0 type veth peer name t1 && ip -n %s link set t0 up && "
                   "ip -n %s link set t1 up && ip -n %s addr add 10.77.%d.1/24 dev t0 && "
                   "ip -n %s addr add 10.78.%d.1/24 dev t1",
                   netns[i], netns[i], netns[i], netns[i], i, netns[i], i) < 0)
        return -1;
    snprintf(text, sizeof(text), "node %s netns %s bridge br0 mode vxlan\n", host[i], netns[i]);
    if (i == BERLIN)
        snprintf(text + strlen(text), sizeof(text) - strlen(text),
                 "port berlin-paris b1 t0 address 10.77.0.1 remote 10.77.1.1\n");
    if (i == PARIS)
        snprintf(text + strlen(text), sizeof(text) - strlen(text),
                 "port berlin-paris p1 t0 address 10.77.1.1 remote 10.77.0.1\n"
                 "port paris-rome p1 t1 address 10.78.1.1 remote 10.78.2.1\n");
    if (i == ROME)
        snprintf(text + strlen(text), sizeof(text) - strlen(text),
                 "port paris-rome r1 t1 address 10.78.2.1 remote 10.78.1.1\n");
    return test_write_text(path, text);
}

static int
write_pip_conf(int i)
{
    struct test_daemon *d = &pips[i];
    char text[4096], dir[400], dp[600];
    snprintf(dir, sizeof(dir), "%s/%s", scratch, d->name);
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || test_pipd_dirs(dir, "debian-12") < 0)
        return -1;
    snprintf(dp, sizeof(dp), "%s/dataplane.conf", dir);
    if (write_dataplane(i, dp) < 0 || test_daemon_listen(d) < 0)
        return -1;
    snprintf(text, sizeof(text),
             "name %s\nlisten 127.0.0.1:%u\n"
             "database socket=%s name=vnpdt_%s user=root\n"
             "substrate %s/vnpd/%s.yaml\n"
             "peer vnp " PIP_SECRET "\npeer other " PIP_OTHER_SECRET "\n"
             "libvirt test:///default\nimages %s/images\ntemplates %s/templates\n"
             "max-lease 600\nmap-time-limit 5\ndataplane %s\n",
             d->name, d->port, db.socket, d->name, test_srcdir(), d->name, dir, dir, dp);
    snprintf(d->conf, sizeof(d->conf), "%s/%s.conf", scratch, d->name);
    return test_write_text(d->conf, text) == 0 && chmod(d->conf, 0600) == 0 ? 0 : -1;
}

static int
write_vnpd_conf(void)
{
    char text[4096];
    if (test_daemon_listen(&vnpd) < 0 || test_daemon_listen(&top) < 0)
        return -1;
    snprintf(text, sizeof(text),
             "name vnp-test\nlisten 127.0.0.1:%u\n"
             "database socket=%s name=vnpdt_vnp user=root\n"
             "peer one " PEER_SECRET "\npeer two " OTHER_SECRET "\npeer top " PIP_SECRET "\n"
             "pip berlin %s " PIP_SECRET "\npip paris %s " PIP_SECRET "\n"
             "pip rome %s " PIP_SECRET "\n"
             "transit berlin-paris berlin:3000-3099 paris:3000-3099 bandwidth=10000 latency=11\n"
             "transit paris-rome paris:3100-3199 rome:3100-3199 bandwidth=10000 latency=20\n"
             "call-timeout %d\nlease 60\nmap-time-limit 5\nsync-max-age 30\n",
             vnpd.port, db.socket, pips[0].url, pips[1].url, pips[2].url, TIMEOUT_S);
    snprintf(vnpd.conf, sizeof(vnpd.conf), "%s/vnpd.conf", scratch);
    if (test_write_text(vnpd.conf, text) < 0 || chmod(vnpd.conf, 0600) < 0)
        return -1;
    snprintf(text, sizeof(text),
             "name vnp-top\nlisten 127.0.0.1:%u\n"
             "database socket=%s name=vnpdt_top user=root\n"
             "peer one " PEER_SECRET "\n"
             "pip lower %s " PIP_SECRET "\n"
             "call-timeout 20\n",
             top.port, db.socket, vnpd.url);
    snprintf(top.conf, sizeof(top.conf), "%s/top.conf", scratch);
    return test_write_text(top.conf, text) == 0 && chmod(top.conf, 0600) == 0 ? 0 : -1;
}

/* The daemon's program, and its log in the scratch directory (kept across restarts). */
static int
daemon_init(struct test_daemon *d, const char *argv0, const char *prog)
{
    snprintf(d->log, sizeof(d->log), "%s/%s.log", scratch, d->name);
    return test_bin_path(d->prog, sizeof(d->prog), argv0, prog);
}

static int
setup(const char *argv0)
{
    struct cn_err err = CN_ERR_INIT;
    int rc = -1;

    if (test_scratch_dir(scratch, sizeof(scratch), "vnpd-test") < 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (daemon_init(&pips[i], argv0, "pipd") < 0)
            return -1;
    if (daemon_init(&vnpd, argv0, "vnpd") < 0 || daemon_init(&top, argv0, "vnpd") < 0)
        return -1;
    if (vnp_client_global_init(&err) < 0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    for (int i = 0; i < 3; i++)
        if (write_pip_conf(i) < 0 || test_daemon_start(&pips[i]) < 0)
            goto cleanup;
    if (write_vnpd_conf() < 0 || test_daemon_start(&vnpd) < 0 || test_daemon_start(&top) < 0)
        goto cleanup;
    rc = 0;

cleanup:
    cn_err_release(&err);
    return rc;
}

/*
 * Every daemon exits 0 on SIGTERM. Under the sanitizers a leak report at
 * exit (or any other) makes the exit status non-zero.
 */
static int
test_clean_exit(const void *data)
{
    (void)data;
    CHECK(test_daemon_stop(&top, SIGTERM) == 0);
    CHECK(test_daemon_stop(&vnpd, SIGTERM) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(test_daemon_stop(&pips[i], SIGTERM) == 0);
    return 0;
}

int
main(int argc, char **argv)
{
    (void)argc;
    if (test_db_start(&db) < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (test_setup_ok(setup(argv[0]))) {
        TEST_RUN("describe sums the PIPs", test_describe, NULL);
        TEST_RUN("spanning request: negotiate, confirm, status, power, list, release",
                 test_spanning, NULL);
        TEST_RUN("a PIP refuses: everything released", test_refusal, NULL);
        TEST_RUN("a PIP refuses an id another of its peers holds", test_refusal_forbidden, NULL);
        TEST_RUN("CPU handed out on a cached view counts until released", test_overlapping_capacity,
                 NULL);
        TEST_RUN("overlapping CloudNets on a cached view get distinct tags", test_overlapping_tags,
                 NULL);
        TEST_RUN("transit bandwidth in use is not offered again, also after a restart",
                 test_transit_bandwidth, NULL);
        TEST_RUN("a PIP is down: nothing held", test_pip_down, NULL);
        TEST_RUN("a PIP hangs past the timeout: late allocation released", test_pip_hangs, NULL);
        TEST_RUN("progress: unknown id, wrong secret, a PIP", test_progress_bad, NULL);
        TEST_RUN("a PIP dies after negotiate: confirm fails, lease reaps",
                 test_pip_killed_after_negotiate, NULL);
        TEST_RUN("vnpd killed during negotiation: recovery undoes it", test_vnpd_crash_recovery,
                 NULL);
        TEST_RUN("two levels: a VNP brokering a VNP", test_two_levels, NULL);
        TEST_RUN("modify: bandwidth, a PIP more, refusals put back, a PIP less", test_modify, NULL);
        TEST_RUN("modify: bad input changes nothing", test_modify_bad, NULL);
        TEST_RUN("vnpd killed during modify: recovery puts every PIP back", test_modify_crash,
                 NULL);
        TEST_RUN("bad input changes nothing", test_bad_input, NULL);
        TEST_RUN("configuration errors", test_bad_config, NULL);
        TEST_RUN("every daemon exits cleanly on SIGTERM", test_clean_exit, NULL);
    }
    test_daemon_stop(&top, SIGTERM);
    test_daemon_stop(&vnpd, SIGTERM);
    for (int i = 0; i < 3; i++)
        test_daemon_stop(&pips[i], SIGTERM);
    vnp_client_global_cleanup();
    for (int i = 0; i < 3; i++)
        if (netns_made[i])
            test_shell("ip netns del %s", netns[i]);
    if (!getenv("VNPD_TEST_KEEP"))
        test_rm_tree(scratch);
    test_db_stop(&db);
    return test_summary();
}
