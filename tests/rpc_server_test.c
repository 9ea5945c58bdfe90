/*
 * The shared XML-RPC server side (rpc/server.h) over the wire: a server on
 * a free loopback port with a small method table built from the helpers,
 * called by an xmlrpc-c client. What pipd and vnpd answer on top of it is
 * tested with the daemons; this pins the helpers' faults (codes and
 * messages) and the result struct.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#include "rpc/server.h"
#include "tests/daemon-helper.h"
#include "tests/testlib.h"
#include "util/util.h"

#define SECRET "rpc-test-secret"

static struct rpc_server *server;
static xmlrpc_client *client;
static char url[64];

static const char *
auth(const void *ctx, const char *secret, struct cn_err *err)
{
    if (cn_streq(secret, SECRET))
        return ctx;
    cn_err_set(err, CN_E_FORBIDDEN, "forbidden: unknown secret");
    return NULL;
}

/* echo(secret, name, n [, [strings]]): "PEER NAME N S1,S2,...". */
static xmlrpc_value *
m_echo(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    const char *peer = rpc_authenticate(env, params, auth, info);
    char *name = NULL, **strings = NULL;
    size_t n = 0;
    long number = 0;
    xmlrpc_value *v = NULL, *list = NULL;
    struct cn_buf out = CN_BUF_INIT;
    (void)call;

    if (!peer || !(name = rpc_param_string(env, params, 1, "name must be a string")) ||
        rpc_param_long(env, params, 2, "n must be an integer", &number) < 0)
        goto cleanup;
    if (xmlrpc_array_size(env, params) == 4) {
        xmlrpc_array_read_item(env, params, 3, &list);
        if (rpc_array_strings(env, list, "strings must be an array of strings", &strings, &n) < 0)
            goto cleanup;
    }
    cn_buf_init(&out);
    cn_buf_printf(&out, "%s %s %ld ", peer, name, number);
    for (size_t i = 0; i < n; i++)
        cn_buf_printf(&out, "%s%s", i ? "," : "", strings[i]);
    v = xmlrpc_string_new(env, out.s);
cleanup:
    if (list)
        xmlrpc_DECREF(list);
    rpc_strings_free(strings, n);
    free(name);
    cn_buf_release(&out);
    return v;
}

/* decompose(secret, id, n): "ID N", by rpc_decompose. */
static xmlrpc_value *
m_decompose(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    const char *secret = NULL, *id = NULL;
    int number = 0;
    xmlrpc_value *v = NULL;
    (void)info;
    (void)call;

    if (rpc_decompose(env, params, "decompose(secret, id, n)", "(ssi)", &secret, &id, &number) ==
        0) {
        char *s = xasprintf("%s %d", id, number);
        v = xmlrpc_string_new(env, s);
        free(s);
    }
    free((void *)(uintptr_t)secret);
    free((void *)(uintptr_t)id);
    return v;
}

/* fail(code): a fault from a struct cn_err of that category, or an empty one for 0. */
static xmlrpc_value *
m_fail(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct cn_err err = CN_ERR_INIT;
    long code = 0;
    (void)info;
    (void)call;

    if (rpc_param_long(env, params, 0, "code must be an integer", &code) == 0) {
        if (code)
            cn_err_set(&err, (int)code, "failed with %ld", code);
        rpc_fault(env, &err);
    }
    cn_err_release(&err);
    return NULL;
}

/* result(full): the result struct, with manifest, reason and strings when full. */
static xmlrpc_value *
m_result(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    static const char *const values[] = {"x86_64", "aarch64"};
    long full = 0;
    xmlrpc_value *st;
    (void)info;
    (void)call;

    if (rpc_param_long(env, params, 0, "full must be an integer", &full) < 0)
        return NULL;
    st = rpc_result_new(env, "cn1", "allocated", 1700000000, full ? "rdl: 1\n" : NULL,
                        full ? "because" : NULL);
    rpc_put(env, st, "arch", rpc_string_array(env, values, full ? 2 : 0));
    return st;
}

static const char *
string_member(xmlrpc_value *st, const char *key, char *buf, size_t size)
{
    xmlrpc_env env;
    xmlrpc_value *v = NULL;
    const char *s = NULL;

    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, st, key, &v);
    if (!env.fault_occurred && v && xmlrpc_value_type(v) == XMLRPC_TYPE_STRING)
        xmlrpc_read_string(&env, v, &s);
    snprintf(buf, size, "%s", s ? s : "(none)");
    free((void *)(uintptr_t)s);
    if (v)
        xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    return buf;
}

/* The string a call answered, or "fault N: MESSAGE", into buf. */
static const char *
call(char *buf, size_t size, const char *method, const char *fmt, ...)
{
    char msg[512];
    int fault;
    va_list ap;
    xmlrpc_value *r;

    va_start(ap, fmt);
    r = test_xmlrpc_callv(client, url, method, &fault, msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!r) {
        /* What xmlrpc-c's client puts before the server's fault string. */
        static const char prefix[] = "RPC failed at server.  ";
        const char *m = cn_startswith(msg, prefix) ? msg + strlen(prefix) : msg;
        snprintf(buf, size, "fault %d: %s", fault, m);
        return buf;
    }
    xmlrpc_env env;
    const char *s = NULL;
    xmlrpc_env_init(&env);
    if (xmlrpc_value_type(r) == XMLRPC_TYPE_STRING)
        xmlrpc_read_string(&env, r, &s);
    snprintf(buf, size, "%s", s ? s : "(not a string)");
    free((void *)(uintptr_t)s);
    xmlrpc_env_clean(&env);
    xmlrpc_DECREF(r);
    return buf;
}

static int
test_params(const void *data)
{
    char buf[1024], want[128];
    (void)data;

    CHECK_STR(call(buf, sizeof(buf), "echo", "(ssi)", SECRET, "a", 7), "peer1 a 7 ");
    CHECK_STR(call(buf, sizeof(buf), "echo", "(ssI)", SECRET, "a", (long long)1 << 40),
              "peer1 a 1099511627776 ");
    CHECK_STR(call(buf, sizeof(buf), "echo", "(ssi(ss))", SECRET, "b", 1, "x", "y"),
              "peer1 b 1 x,y");
    CHECK_STR(call(buf, sizeof(buf), "echo", "(ssi())", SECRET, "c", 2), "peer1 c 2 ");
    /* The secret is checked before anything else about the call. */
    snprintf(want, sizeof(want), "fault %d: forbidden: unknown secret",
             cn_fault_code(CN_E_FORBIDDEN));
    CHECK_STR(call(buf, sizeof(buf), "echo", "(si)", "wrong-secret", 1), want);
    CHECK_STR(call(buf, sizeof(buf), "echo", "()"),
              "fault 1: bad arguments: the first parameter must be the secret");
    CHECK_STR(call(buf, sizeof(buf), "echo", "(i)", 5),
              "fault 1: bad arguments: the first parameter must be the secret");
    CHECK_STR(call(buf, sizeof(buf), "echo", "(sii)", SECRET, 1, 2),
              "fault 1: bad arguments: name must be a string");
    CHECK_STR(call(buf, sizeof(buf), "echo", "(ss)", SECRET, "a"),
              "fault 1: bad arguments: n must be an integer");
    CHECK_STR(call(buf, sizeof(buf), "echo", "(sss)", SECRET, "a", "7"),
              "fault 1: bad arguments: n must be an integer");
    CHECK_STR(call(buf, sizeof(buf), "echo", "(ssis)", SECRET, "a", 1, "x"),
              "fault 1: bad arguments: strings must be an array of strings");
    CHECK_STR(call(buf, sizeof(buf), "echo", "(ssi(si))", SECRET, "a", 1, "x", 3),
              "fault 1: bad arguments: strings must be an array of strings");
    return 0;
}

static int
test_decompose(const void *data)
{
    char buf[1024];
    (void)data;

    CHECK_STR(call(buf, sizeof(buf), "decompose", "(ssi)", SECRET, "id1", 3), "id1 3");
    /* Each mismatch is refused before decomposing, so nothing is freed twice. */
    CHECK_STR(call(buf, sizeof(buf), "decompose", "(sss)", SECRET, "id1", "3"),
              "fault 1: bad arguments: decompose(secret, id, n)");
    CHECK_STR(call(buf, sizeof(buf), "decompose", "(sis)", SECRET, 1, "x"),
              "fault 1: bad arguments: decompose(secret, id, n)");
    CHECK_STR(call(buf, sizeof(buf), "decompose", "(ss)", SECRET, "id1"),
              "fault 1: bad arguments: decompose(secret, id, n)");
    CHECK_STR(call(buf, sizeof(buf), "decompose", "(ssii)", SECRET, "id1", 1, 2),
              "fault 1: bad arguments: decompose(secret, id, n)");
    return 0;
}

static int
test_faults(const void *data)
{
    char buf[1024], want[128];
    (void)data;

    snprintf(want, sizeof(want), "fault %d: failed with %d", cn_fault_code(CN_E_NOTFOUND),
             CN_E_NOTFOUND);
    CHECK_STR(call(buf, sizeof(buf), "fail", "(i)", CN_E_NOTFOUND), want);
    snprintf(want, sizeof(want), "fault %d: failed with %d", cn_fault_code(CN_E_VLAN), CN_E_VLAN);
    CHECK_STR(call(buf, sizeof(buf), "fail", "(i)", CN_E_VLAN), want);
    /* An error object that holds nothing still answers a fault, never a success. */
    snprintf(want, sizeof(want), "fault %d: failed", cn_fault_code(CN_E_INTERNAL));
    CHECK_STR(call(buf, sizeof(buf), "fail", "(i)", 0), want);
    return 0;
}

static int
test_result(const void *data)
{
    char buf[256];
    int fault = -1;
    xmlrpc_env env;
    xmlrpc_value *r, *v = NULL;
    int expires = 0, n = -1;
    (void)data;

    xmlrpc_env_init(&env);
    r = test_xmlrpc_call(client, url, "result", &fault, NULL, 0, "(i)", 1);
    CHECK(r && fault == 0);
    CHECK_STR(string_member(r, "id", buf, sizeof(buf)), "cn1");
    CHECK_STR(string_member(r, "state", buf, sizeof(buf)), "allocated");
    CHECK_STR(string_member(r, "manifest_yaml", buf, sizeof(buf)), "rdl: 1\n");
    CHECK_STR(string_member(r, "reason", buf, sizeof(buf)), "because");
    xmlrpc_decompose_value(&env, r, "{s:i,s:A,*}", "expires", &expires, "arch", &v);
    CHECK(!env.fault_occurred);
    CHECK(expires == 1700000000);
    n = xmlrpc_array_size(&env, v);
    CHECK(n == 2);
    xmlrpc_DECREF(v);
    xmlrpc_DECREF(r);

    /* Without manifest and reason the members are absent, not empty. */
    r = test_xmlrpc_call(client, url, "result", &fault, NULL, 0, "(i)", 0);
    CHECK(r && fault == 0);
    CHECK(xmlrpc_struct_size(&env, r) == 4);
    CHECK_STR(string_member(r, "manifest_yaml", buf, sizeof(buf)), "(none)");
    CHECK_STR(string_member(r, "reason", buf, sizeof(buf)), "(none)");
    xmlrpc_DECREF(r);
    xmlrpc_env_clean(&env);
    return 0;
}

static int
test_bad_listen(const void *data)
{
    struct cn_err err = CN_ERR_INIT;
    struct rpc_method none[] = {{.name = "x", .fn = m_fail}};
    (void)data;

    CHECK(rpc_server_new("no-such-host.invalid", 7, 1024 * 1024, none, 1, &err) == NULL);
    CHECK(err.code == CN_E_INVALID);
    CHECK(cn_startswith(cn_err_msg(&err), "listen no-such-host.invalid:7: "));
    cn_err_release(&err);
    return 0;
}

static void *
serve(void *arg)
{
    struct cn_err err = CN_ERR_INIT;
    (void)arg;
    if (rpc_server_run(server, &err) < 0)
        fprintf(stderr, "serving: %s\n", cn_err_msg(&err));
    cn_err_release(&err);
    return NULL;
}

int
main(void)
{
    static char peer[] = "peer1";
    struct rpc_method methods[] = {
        {.name = "echo", .fn = m_echo, .info = peer, .help = "echo(secret, name, n [, strings])"},
        {.name = "decompose", .fn = m_decompose},
        {.name = "fail", .fn = m_fail},
        {.name = "result", .fn = m_result},
    };
    struct cn_err err = CN_ERR_INIT;
    xmlrpc_env env;
    pthread_t thread;
    unsigned port = 0;

    xmlrpc_env_init(&env);
    xmlrpc_client_setup_global_const(&env);
    /* Another program may take the free port first: try a few. */
    for (int attempt = 0; attempt < 5 && !server; attempt++) {
        port = test_free_port();
        cn_err_clear(&err);
        if (port)
            server = rpc_server_new("127.0.0.1", port, 1024 * 1024, methods, CN_ARRAY_SIZE(methods),
                                    &err);
    }
    client = test_xmlrpc_client("rpc_server_test");
    if (!server || !client || pthread_create(&thread, NULL, serve, NULL) != 0) {
        fprintf(stderr, "setup: %s\n", server ? "no client or thread" : cn_err_msg(&err));
        printf("0 passed, 1 failed\n");
        return EXIT_FAILURE;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/RPC2", port);

    TEST_RUN("rpc: parameters and the secret", test_params, NULL);
    TEST_RUN("rpc: decomposing checks types first", test_decompose, NULL);
    TEST_RUN("rpc: faults from an error object", test_faults, NULL);
    TEST_RUN("rpc: the result struct", test_result, NULL);
    TEST_RUN("rpc: a listen address that does not resolve", test_bad_listen, NULL);

    rpc_server_stop(server);
    pthread_join(thread, NULL);
    rpc_server_free(server);
    xmlrpc_client_destroy(client);
    xmlrpc_client_teardown_global_const();
    xmlrpc_env_clean(&env);
    cn_err_release(&err);
    return test_summary();
}
