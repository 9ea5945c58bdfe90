/*
 * The negotiation client (vnp/client.h) against the real pipd: a private
 * MariaDB, pipd on a free loopback port with two KVM hosts served by the
 * libvirt test driver, and the client driving a CloudNet through its life
 * (describe, negotiate, status, confirm, power, console, list, release).
 * Then what can go wrong on the wire: peer faults (unknown id, wrong secret,
 * bad YAML) with their numbers, a port nobody listens on, a socket that
 * accepts and never answers (the timeout), and several clients used from
 * threads at once.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rdl/rdl.h"
#include "tests/daemon-helper.h"
#include "tests/db-helper.h"
#include "tests/testlib.h"
#include "util/util.h"
#include "vnp/client.h"

#define SECRET "client-test-secret-1"
#define SECRET2 "client-test-secret-2"

static struct test_db db;
static char scratch[256];
static struct test_daemon pipd = {.name = "pipd"};
static struct vnp_client *client;

static const char substrate_yaml[] = "rdl: 1\n"
                                     "kind: underlay\n"
                                     "name: pip-client-test\n"
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
                                     "interfaces:\n"
                                     "  - {between: [h1, h1-h2]}\n"
                                     "  - {between: [h1-h2, h2]}\n";

static const char overlay_yaml[] = "rdl: 1\n"
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
                                   "    resources: {bandwidth: 100}\n"
                                   "interfaces:\n"
                                   "  - {between: [web, web-db]}\n"
                                   "  - {between: [web-db, db]}\n";

static const char bad_yaml[] = "rdl: 1\n"
                               "kind: overlay\n"
                               "name: bad\n"
                               "elements:\n"
                               "  vm:\n"
                               "    type: /nodes/???\n"
                               "    resources: {cpu: [oops\n";

/* ---- plumbing ---- */

static const char *
element_state(const struct vnp_reply *r, const char *element)
{
    for (size_t i = 0; i < r->nelements; i++)
        if (strcmp(r->elements[i].element, element) == 0)
            return r->elements[i].state;
    return NULL;
}

static const char *
status_of(const char *id, const char *element, char *buf, size_t size)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_reply *r = vnp_client_status(client, id, &err);
    if (!r)
        snprintf(buf, size, "error %d", err.code);
    else if (!element)
        snprintf(buf, size, "%s", r->state);
    else
        snprintf(buf, size, "%s", element_state(r, element) ? element_state(r, element) : "-");
    vnp_reply_free(r);
    cn_err_release(&err);
    return buf;
}

/* ---- the life of a CloudNet ---- */

static int
test_bad_arguments(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    (void)data;

    CHECK(vnp_client_new("ftp://127.0.0.1/RPC2", SECRET, 1000, &err) == NULL);
    CHECK(err.code == CN_E_INVALID);
    CHECK(strstr(cn_err_msg(&err), "ftp://127.0.0.1/RPC2"));
    cn_err_clear(&err);
    CHECK(vnp_client_new(pipd.url, "", 1000, &err) == NULL);
    CHECK(err.code == CN_E_INVALID);
    cn_err_clear(&err);
    CHECK(vnp_client_status(client, NULL, &err) == NULL);
    CHECK(err.code == CN_E_INVALID);
    cn_err_clear(&err);
    CHECK(vnp_client_negotiate(client, "x", overlay_yaml, 1L << 40, &err) == NULL);
    CHECK(err.code == CN_E_INVALID);
    CHECK(vnp_client_last_fault(client) == 0);
    cn_err_release(&err);
    return 0;
}

static int
test_describe(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_description *d;
    double cpu = -1, memory = -1, largest_cpu = -1;
    bool have_location = false;
    (void)data;

    d = vnp_client_describe(client, &err);
    if (!d)
        fprintf(stderr, "  describe: %s\n", cn_err_msg(&err));
    CHECK(d);
    CHECK_STR(d->name, "pip-client-test");
    CHECK(d->version && *d->version);
    for (size_t i = 0; i < d->nresources; i++) {
        if (strcmp(d->resources[i].name, "cpu") == 0)
            cpu = d->resources[i].value;
        if (strcmp(d->resources[i].name, "memory") == 0)
            memory = d->resources[i].value;
    }
    for (size_t i = 0; i < d->nlargest_free; i++)
        if (strcmp(d->largest_free[i].name, "cpu") == 0)
            largest_cpu = d->largest_free[i].value;
    for (size_t i = 0; i < d->nfeatures; i++)
        if (strcmp(d->features[i].name, "location") == 0 && d->features[i].nvalues == 2)
            have_location = true;
    int ok = cpu == 16 && memory == 32768 && largest_cpu == 8 && have_location &&
             d->ncapacity >= 2 && d->nvlan_ranges == 1 && d->vlan_ranges[0].first == 100 &&
             d->vlan_ranges[0].last == 199 && d->ntransits == 0;
    vnp_description_free(d);
    cn_err_release(&err);
    CHECK(ok);
    return 0;
}

static int
test_negotiate(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_reply *r;
    long long now = (long long)time(NULL);
    char buf[64];
    (void)data;

    r = vnp_client_negotiate(client, "shop1", overlay_yaml, 60, &err);
    if (!r)
        fprintf(stderr, "  negotiate: %s\n", cn_err_msg(&err));
    CHECK(r);
    CHECK_STR(r->id, "shop1");
    CHECK_STR(r->state, "allocated");
    CHECK(r->expires >= now + 55 && r->expires <= now + 65);
    CHECK(r->manifest_yaml);
    CHECK(r->nproviders == 0 && r->providers == NULL);
    struct rdl_graph *g =
        rdl_read_string("manifest", r->manifest_yaml, strlen(r->manifest_yaml), &err);
    CHECK(g);
    CHECK(rdl_graph_kind(g) == RDL_MAPPING);
    CHECK(rdl_mapping_count(g) == 3);
    rdl_graph_free(g);
    vnp_reply_free(r);

    /* Idempotent: the same answer again. */
    r = vnp_client_negotiate(client, "shop1", overlay_yaml, 60, &err);
    CHECK(r);
    CHECK_STR(r->state, "allocated");
    vnp_reply_free(r);

    r = vnp_client_renew(client, "shop1", 100000, &err);
    CHECK(r);
    CHECK(r->expires >= now + 590 && r->expires <= now + 610);
    vnp_reply_free(r);

    CHECK_STR(status_of("shop1", NULL, buf, sizeof(buf)), "allocated");
    CHECK_STR(status_of("shop1", "web", buf, sizeof(buf)), "defined");
    CHECK_STR(status_of("shop1", "web-db", buf, sizeof(buf)), "configured");
    cn_err_release(&err);
    return 0;
}

static int
test_status_sorted(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_reply *r = vnp_client_status(client, "shop1", &err);
    (void)data;

    CHECK(r);
    CHECK(r->nelements == 3);
    CHECK_STR(r->elements[0].element, "db");
    CHECK_STR(r->elements[1].element, "web");
    CHECK_STR(r->elements[2].element, "web-db");
    CHECK(r->manifest_yaml == NULL || strstr(r->manifest_yaml, "kind: mapping"));
    vnp_reply_free(r);
    cn_err_release(&err);
    return 0;
}

static int
test_confirm_power_console(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_reply *r;
    const char *const only_db[] = {"db"};
    const char *const ghost[] = {"ghost"};
    char buf[64];
    (void)data;

    /* Power needs a provisioned CloudNet: fault 1. */
    CHECK(vnp_client_power(client, VNP_START, "shop1", NULL, 0, &err) == NULL);
    CHECK(err.code == CN_E_INVALID);
    CHECK(vnp_client_last_fault(client) == 1);
    cn_err_clear(&err);

    r = vnp_client_confirm(client, "shop1", &err);
    CHECK(r);
    CHECK_STR(r->state, "provisioned");
    CHECK(r->expires == 0);
    CHECK(vnp_client_last_fault(client) == 0);
    vnp_reply_free(r);

    r = vnp_client_power(client, VNP_START, "shop1", NULL, 0, &err);
    CHECK(r);
    CHECK_STR(element_state(r, "web"), "running");
    CHECK_STR(element_state(r, "db"), "running");
    vnp_reply_free(r);

    r = vnp_client_power(client, VNP_STOP, "shop1", only_db, 1, &err);
    CHECK(r);
    CHECK_STR(element_state(r, "web"), "running");
    CHECK(strcmp(element_state(r, "db"), "running") != 0);
    vnp_reply_free(r);
    CHECK(strcmp(status_of("shop1", "db", buf, sizeof(buf)), "running") != 0);

    r = vnp_client_power(client, VNP_POWERCYCLE, "shop1", only_db, 1, &err);
    CHECK(r);
    CHECK_STR(element_state(r, "db"), "running");
    vnp_reply_free(r);

    CHECK(vnp_client_power(client, VNP_STOP, "shop1", ghost, 1, &err) == NULL);
    CHECK(err.code == CN_E_NOTFOUND);
    CHECK(vnp_client_last_fault(client) == 3);
    cn_err_clear(&err);

    char *console = vnp_client_console(client, "shop1", "web", &err);
    CHECK(console);
    CHECK_STR(console, "test:///default#cn-shop1-web");
    free(console);
    CHECK(vnp_client_console(client, "shop1", "ghost", &err) == NULL);
    CHECK(err.code == CN_E_NOTFOUND);
    cn_err_release(&err);
    return 0;
}

static int
test_list(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_listing *l = NULL;
    size_t n = 0;
    bool found = false;
    (void)data;

    if (vnp_client_list(client, &l, &n, &err) < 0) {
        fprintf(stderr, "  list: %s\n", cn_err_msg(&err));
        cn_err_release(&err);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].id, "shop1") == 0 && strcmp(l[i].state, "provisioned") == 0 &&
            l[i].expires == 0)
            found = true;
    vnp_listing_free(l, n);
    CHECK(found);

    /* Another peer sees none of it. */
    struct vnp_client *other = vnp_client_new(pipd.url, SECRET2, 5000, &err);
    CHECK(other);
    l = NULL;
    n = 99;
    int rc = vnp_client_list(other, &l, &n, &err);
    vnp_client_free(other);
    CHECK(rc == 0);
    CHECK(n == 0);
    vnp_listing_free(l, n);
    cn_err_release(&err);
    return 0;
}

static int
test_faults(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *wrong;
    char buf[64];
    (void)data;

    CHECK(vnp_client_status(client, "no-such-net", &err) == NULL);
    CHECK(err.code == CN_E_NOTFOUND);
    CHECK(vnp_client_last_fault(client) == 3);
    /* The peer's message as it sent it, nothing in front. */
    CHECK(strstr(cn_err_msg(&err), "no-such-net"));
    CHECK(!cn_startswith(cn_err_msg(&err), "RPC failed"));
    cn_err_clear(&err);

    wrong = vnp_client_new(pipd.url, "not-the-secret", 5000, &err);
    CHECK(wrong);
    CHECK(vnp_client_status(wrong, "shop1", &err) == NULL);
    CHECK(err.code == CN_E_FORBIDDEN);
    CHECK(vnp_client_last_fault(wrong) == 2);
    cn_err_clear(&err);
    CHECK(vnp_client_describe(wrong, &err) == NULL);
    CHECK(err.code == CN_E_FORBIDDEN);
    cn_err_clear(&err);
    CHECK(vnp_client_release(wrong, "shop1", &err) == NULL);
    CHECK(err.code == CN_E_FORBIDDEN);
    vnp_client_free(wrong);
    cn_err_clear(&err);

    /* The other peer may not touch shop1 either. */
    wrong = vnp_client_new(pipd.url, SECRET2, 5000, &err);
    CHECK(wrong);
    CHECK(vnp_client_release(wrong, "shop1", &err) == NULL);
    CHECK(err.code == CN_E_FORBIDDEN);
    vnp_client_free(wrong);
    cn_err_clear(&err);

    CHECK(vnp_client_negotiate(client, "bad1", bad_yaml, 60, &err) == NULL);
    CHECK(err.code == CN_E_INVALID);
    CHECK(vnp_client_last_fault(client) == 1);
    CHECK(cn_startswith(cn_err_msg(&err), "bad1:"));
    cn_err_clear(&err);
    CHECK(vnp_client_status(client, "bad1", &err) == NULL);
    CHECK(err.code == CN_E_NOTFOUND);
    cn_err_clear(&err);

    /* Faults changed nothing, and a success clears the fault number. */
    CHECK_STR(status_of("shop1", NULL, buf, sizeof(buf)), "provisioned");
    CHECK(vnp_client_last_fault(client) == 0);
    cn_err_release(&err);
    return 0;
}

static int
test_release(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_reply *r;
    char buf[64];
    (void)data;

    r = vnp_client_release(client, "shop1", &err);
    CHECK(r);
    CHECK_STR(r->state, "released");
    CHECK(r->reason && strstr(r->reason, "released by"));
    vnp_reply_free(r);
    r = vnp_client_release(client, "shop1", &err);
    CHECK(r);
    CHECK_STR(r->state, "released");
    vnp_reply_free(r);
    CHECK_STR(status_of("shop1", "web", buf, sizeof(buf)), "absent");
    CHECK(vnp_client_confirm(client, "shop1", &err) == NULL);
    CHECK(err.code == CN_E_INVALID);
    cn_err_release(&err);
    return 0;
}

/* ---- the wire ---- */

static int
test_unreachable(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    unsigned dead_port;
    char dead_url[128];
    struct vnp_client *c;
    (void)data;

    /* Bound but not listening: connections are refused at once. */
    int fd = test_bound_socket(&dead_port, false);
    CHECK(fd >= 0);
    snprintf(dead_url, sizeof(dead_url), "http://127.0.0.1:%u/RPC2", dead_port);
    c = vnp_client_new(dead_url, SECRET, 5000, &err);
    CHECK(c);
    double t0 = cn_now();
    struct vnp_reply *r = vnp_client_status(c, "shop1", &err);
    double took = cn_now() - t0;
    close(fd);
    CHECK(r == NULL);
    CHECK(err.code == CN_E_IO);
    CHECK(strstr(cn_err_msg(&err), dead_url));
    CHECK(vnp_client_last_fault(c) == 0);
    CHECK(took < 4);
    CHECK_STR(vnp_client_url(c), dead_url);
    vnp_client_free(c);
    cn_err_release(&err);
    return 0;
}

static int
test_hung_server(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    unsigned hung_port;
    char hung_url[128], want[192];
    struct vnp_client *c;
    (void)data;

    /* Listening, never accepting: the connection completes, no answer ever comes. */
    int fd = test_bound_socket(&hung_port, true);
    CHECK(fd >= 0);
    snprintf(hung_url, sizeof(hung_url), "http://127.0.0.1:%u/RPC2", hung_port);
    c = vnp_client_new(hung_url, SECRET, 1000, &err);
    CHECK(c);
    double t0 = cn_now();
    struct vnp_description *d = vnp_client_describe(c, &err);
    double took = cn_now() - t0;
    CHECK(d == NULL);
    if (err.code != CN_E_TIMEOUT)
        fprintf(stderr, "  got %d: %s\n", err.code, cn_err_msg(&err));
    CHECK(err.code == CN_E_TIMEOUT);
    snprintf(want, sizeof(want), "%s: no answer within 1000 ms", hung_url);
    CHECK_STR(cn_err_msg(&err), want);
    /* The curl transport counts whole seconds. */
    CHECK(took >= 0.9);
    CHECK(took < 3.0);
    CHECK(vnp_client_last_fault(c) == 0);
    cn_err_clear(&err);

    /* The client stays usable after a timeout: again, then with nobody listening. */
    t0 = cn_now();
    CHECK(vnp_client_status(c, "x", &err) == NULL);
    CHECK(err.code == CN_E_TIMEOUT);
    CHECK(cn_now() - t0 < 3.0);
    cn_err_clear(&err);
    close(fd);
    CHECK(vnp_client_status(c, "x", &err) == NULL);
    CHECK(err.code == CN_E_IO);
    vnp_client_free(c);
    cn_err_release(&err);
    return 0;
}

/* ---- a fake peer with canned answers ---- */

struct canned {
    int fd;                     /* listening */
    const char *const *answers; /* one XML body per connection */
    size_t n;
    pthread_t thread;
};

/* Reads one HTTP request (headers and Content-Length bytes of body). */
static void
read_request(int fd)
{
    char buf[16384];
    size_t have = 0;
    long body = -1;
    char *end = NULL;

    while (have < sizeof(buf) - 1) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
            return;
        have += (size_t)r;
        buf[have] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "Content-Length:");
            body = cl ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (end && (long)(have - (size_t)(end + 4 - buf)) >= body)
            return;
    }
}

static void *
canned_run(void *arg)
{
    struct canned *cs = arg;
    for (size_t i = 0; i < cs->n; i++) {
        int fd = accept(cs->fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        read_request(fd);
        char head[256];
        size_t len = strlen(cs->answers[i]);
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "
                          "%zu\r\nConnection: close\r\n\r\n",
                          len);
        if (write(fd, head, (size_t)hl) < 0 || write(fd, cs->answers[i], len) < 0)
            perror("canned write");
        close(fd);
    }
    return NULL;
}

#define XML_HEAD "<?xml version=\"1.0\"?><methodResponse><params><param><value>"
#define XML_TAIL "</value></param></params></methodResponse>"
#define MEMBER(k, v) "<member><name>" k "</name><value>" v "</value></member>"

static int
test_broker_answers(const void *data)
{
    /* A broker's negotiate answer, then answers this client must refuse. */
    /* clang-format off */
    static const char *const answers[] = {
        XML_HEAD "<struct>"
            MEMBER("id", "<string>net1</string>")
            MEMBER("state", "<string>allocated</string>")
            MEMBER("expires", "<i4>1700000000</i4>")
            MEMBER("manifest_yaml", "<string>rdl: 1</string>")
            MEMBER("providers", "<array><data>"
                "<value><struct>"
                    MEMBER("name", "<string>pip-b</string>")
                    MEMBER("state", "<string>allocated</string>")
                    MEMBER("ms", "<double>12.5</double>")
                "</struct></value>"
                "<value><struct>"
                    MEMBER("name", "<string>pip-a</string>")
                    MEMBER("state", "<string>refused</string>")
                    MEMBER("ms", "<i4>3</i4>")
                    MEMBER("reason", "<string>no VLAN</string>")
                "</struct></value>"
                "</data></array>")
            MEMBER("elements", "<struct>"
                MEMBER("b", "<string>defined</string>")
                MEMBER("a", "<string>running</string>")
                "</struct>")
        "</struct>" XML_TAIL,
        XML_HEAD "<struct>"
            MEMBER("id", "<string>net1</string>")
            MEMBER("state", "<i4>7</i4>")
        "</struct>" XML_TAIL,
        "this is not XML at all",
        XML_HEAD "<array><data><value><struct>"
            MEMBER("id", "<string>x</string>")
        "</struct></value></data></array>" XML_TAIL,
    };
    /* clang-format on */
    struct canned cs = {.answers = answers, .n = CN_ARRAY_SIZE(answers)};
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c;
    struct vnp_reply *r;
    struct vnp_listing *l = NULL;
    size_t n = 0;
    unsigned p;
    char u[128];
    (void)data;

    cs.fd = test_bound_socket(&p, true);
    CHECK(cs.fd >= 0);
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/RPC2", p);
    CHECK(pthread_create(&cs.thread, NULL, canned_run, &cs) == 0);
    c = vnp_client_new(u, SECRET, 5000, &err);

    r = c ? vnp_client_negotiate(c, "net1", overlay_yaml, 60, &err) : NULL;
    int ok1 = r && r->nproviders == 2 && strcmp(r->providers[0].name, "pip-b") == 0 &&
              r->providers[0].ms == 12.5 && r->providers[0].reason == NULL &&
              strcmp(r->providers[1].state, "refused") == 0 && r->providers[1].ms == 3 &&
              r->providers[1].reason && strcmp(r->providers[1].reason, "no VLAN") == 0 &&
              r->expires == 1700000000 && r->nelements == 2 &&
              strcmp(r->elements[0].element, "a") == 0;
    if (!r)
        fprintf(stderr, "  negotiate: %s\n", cn_err_msg(&err));
    vnp_reply_free(r);
    cn_err_clear(&err);

    /* A state that is not a string. */
    r = c ? vnp_client_status(c, "net1", &err) : NULL;
    int ok2 = !r && err.code == CN_E_IO && strstr(cn_err_msg(&err), u) &&
              strstr(cn_err_msg(&err), "'state'");
    vnp_reply_free(r);
    cn_err_clear(&err);

    /* Not XML-RPC at all. */
    r = c ? vnp_client_status(c, "net1", &err) : NULL;
    int ok3 =
        !r && err.code == CN_E_IO && strstr(cn_err_msg(&err), u) && vnp_client_last_fault(c) == 0;
    vnp_reply_free(r);
    cn_err_clear(&err);

    /* A listing without state: nothing returned, the out-parameters untouched. */
    int rc = c ? vnp_client_list(c, &l, &n, &err) : 0;
    int ok4 = rc < 0 && err.code == CN_E_IO && l == NULL && n == 0;

    pthread_join(cs.thread, NULL);
    close(cs.fd);
    vnp_client_free(c);
    cn_err_release(&err);
    CHECK(c);
    CHECK(ok1);
    CHECK(ok2);
    CHECK(ok3);
    CHECK(ok4);
    return 0;
}

static int
test_large_answer(const void *data)
{
    struct cn_buf big = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    const size_t yaml_len = 700 * 1024;
    unsigned p;
    char u[128];
    (void)data;

    cn_buf_init(&big);
    cn_buf_puts(&big, XML_HEAD "<struct>");
    cn_buf_puts(&big, MEMBER("id", "<string>big</string>"));
    cn_buf_puts(&big, MEMBER("state", "<string>allocated</string>"));
    cn_buf_puts(&big, "<member><name>manifest_yaml</name><value><string>");
    for (size_t i = 0; i < yaml_len; i++)
        cn_buf_putc(&big, "abcdefghijklmnopqrstuvwxyz\n"[i % 27]);
    cn_buf_puts(&big, "</string></value></member></struct>" XML_TAIL);
    const char *answers[] = {big.s, big.s};
    struct canned cs = {.answers = answers, .n = 2};
    cs.fd = test_bound_socket(&p, true);
    CHECK(cs.fd >= 0);
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/RPC2", p);
    CHECK(pthread_create(&cs.thread, NULL, canned_run, &cs) == 0);
    struct vnp_client *c = vnp_client_new(u, SECRET, 5000, &err);

    /* xmlrpc-c's default limit (512 KiB) refuses it, a raised one takes it. */
    struct vnp_reply *r1 = c ? vnp_client_status(c, "big", &err) : NULL;
    int code1 = err.code;
    cn_err_clear(&err);
    vnp_client_global_set_answer_limit(4 * 1024 * 1024);
    struct vnp_reply *r2 = c ? vnp_client_status(c, "big", &err) : NULL;
    vnp_client_global_set_answer_limit(512 * 1024);
    pthread_join(cs.thread, NULL);
    close(cs.fd);
    int ok2 = r2 && r2->manifest_yaml && strlen(r2->manifest_yaml) == yaml_len;
    vnp_reply_free(r1);
    vnp_reply_free(r2);
    vnp_client_free(c);
    cn_buf_release(&big);
    cn_err_release(&err);
    CHECK(c);
    CHECK(r1 == NULL);
    CHECK(code1 == CN_E_IO);
    CHECK(ok2);
    return 0;
}

struct worker {
    pthread_t thread;
    int ok;
};

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = vnp_client_new(pipd.url, SECRET, 10000, &err);

    w->ok = c != NULL;
    for (int i = 0; i < 5 && w->ok; i++) {
        struct vnp_description *d = vnp_client_describe(c, &err);
        struct vnp_reply *r = vnp_client_status(c, "shop1", &err);
        w->ok = d && r && strcmp(d->name, "pip-client-test") == 0 &&
                strcmp(r->state, "provisioned") == 0;
        vnp_description_free(d);
        vnp_reply_free(r);
    }
    vnp_client_free(c);
    cn_err_release(&err);
    return NULL;
}

static int
test_threads(const void *data)
{
    struct worker w[4];
    (void)data;

    for (size_t i = 0; i < CN_ARRAY_SIZE(w); i++)
        CHECK(pthread_create(&w[i].thread, NULL, worker_run, &w[i]) == 0);
    for (size_t i = 0; i < CN_ARRAY_SIZE(w); i++)
        pthread_join(w[i].thread, NULL);
    for (size_t i = 0; i < CN_ARRAY_SIZE(w); i++)
        CHECK(w[i].ok);
    return 0;
}

/* ---- setup ---- */

static int
setup(const char *argv0)
{
    char path[768], conf[2048];
    struct cn_err err = CN_ERR_INIT;

    if (test_bin_path(pipd.prog, sizeof(pipd.prog), argv0, "pipd") < 0 ||
        test_scratch_dir(scratch, sizeof(scratch), "vnpc-test") < 0 ||
        test_pipd_dirs(scratch, "debian-12") < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/substrate.yaml", scratch);
    if (test_write_text(path, substrate_yaml) < 0 || test_daemon_listen(&pipd) < 0)
        return -1;
    snprintf(conf, sizeof(conf),
             "name pip-client-test\n"
             "listen 127.0.0.1:%u\n"
             "database socket=%s name=vnpc_test user=root\n"
             "substrate %s/substrate.yaml\n"
             "peer one " SECRET "\n"
             "peer two " SECRET2 "\n"
             "libvirt test:///default\n"
             "images %s/images\n"
             "templates %s/templates\n"
             "max-lease 600\n"
             "map-time-limit 5\n",
             pipd.port, db.socket, scratch, scratch, scratch);
    snprintf(pipd.conf, sizeof(pipd.conf), "%s/pipd.conf", scratch);
    if (test_write_text(pipd.conf, conf) < 0 || chmod(pipd.conf, 0600) < 0)
        return -1;
    if (vnp_client_global_init(&err) < 0) {
        fprintf(stderr, "%s\n", cn_err_msg(&err));
        cn_err_release(&err);
        return -1;
    }
    client = vnp_client_new(pipd.url, SECRET, 10000, &err);
    if (!client) {
        fprintf(stderr, "%s\n", cn_err_msg(&err));
        cn_err_release(&err);
        return -1;
    }
    return test_daemon_start(&pipd);
}

int
main(int argc, char **argv)
{
    (void)argc;
    /* The fake peers write to clients that may have given up already. */
    signal(SIGPIPE, SIG_IGN);
    if (!test_setup_ok(test_db_start(&db)))
        return test_summary();
    if (test_setup_ok(setup(argv[0]))) {
        TEST_RUN("bad arguments stay local", test_bad_arguments, NULL);
        TEST_RUN("describe", test_describe, NULL);
        TEST_RUN("negotiate, repeat, renew", test_negotiate, NULL);
        TEST_RUN("status elements sorted", test_status_sorted, NULL);
        TEST_RUN("confirm, power, console", test_confirm_power_console, NULL);
        TEST_RUN("list", test_list, NULL);
        TEST_RUN("faults with their numbers", test_faults, NULL);
        TEST_RUN("clients in threads", test_threads, NULL);
        TEST_RUN("release", test_release, NULL);
        TEST_RUN("unreachable URL", test_unreachable, NULL);
        TEST_RUN("hung server times out", test_hung_server, NULL);
        TEST_RUN("a broker's answer, malformed answers", test_broker_answers, NULL);
        TEST_RUN("answers above the size limit", test_large_answer, NULL);
    }
    test_daemon_stop(&pipd, SIGKILL);
    vnp_client_free(client);
    vnp_client_global_cleanup();
    test_rm_tree(scratch);
    test_db_stop(&db);
    return test_summary();
}
