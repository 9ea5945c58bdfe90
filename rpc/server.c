/*
 * The XML-RPC server side shared by pipd and vnpd (rpc/server.h): the
 * Abyss server and the helpers their methods are written with.
 *
 * Abyss serves each connection in a thread of its own (up to max_conn at
 * once). Every method gets a large stack, because mapping and YAML work run
 * on the connection's thread.
 */
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/server_abyss.h>

#include "rpc/server.h"
#include "util/util.h"

#define METHOD_STACK_SIZE (8u * 1024 * 1024)

struct rpc_server {
    xmlrpc_registry *registry;
    xmlrpc_server_abyss_t *server;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool global_init; /* xmlrpc-c's Abyss globals are ours to tear down */
};

struct rpc_server *
rpc_server_new(const char *host, unsigned port, size_t max_xml, const struct rpc_method *methods,
               size_t nmethods, struct cn_err *err)
{
    struct rpc_server *srv = xcalloc(1, sizeof(*srv));
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char service[16];
    xmlrpc_env env;
    int rc;

    xmlrpc_env_init(&env);
    snprintf(service, sizeof(service), "%u", port);
    rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0) {
        cn_err_set(err, CN_E_INVALID, "listen %s:%s: %s", host, service, gai_strerror(rc));
        goto fail;
    }
    memcpy(&srv->addr, ai->ai_addr, ai->ai_addrlen);
    srv->addrlen = ai->ai_addrlen;

    xmlrpc_server_abyss_global_init(&env);
    if (env.fault_occurred)
        goto xfail;
    srv->global_init = true;
    /* A hard cap at the transport; a graph's own limit is checked per call, as a fault. */
    xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, max_xml);
    srv->registry = xmlrpc_registry_new(&env);
    if (env.fault_occurred)
        goto xfail;
    for (size_t i = 0; i < nmethods; i++) {
        struct xmlrpc_method_info3 mi = {
            .methodName = methods[i].name,
            .methodFunction = methods[i].fn,
            .serverInfo = methods[i].info,
            .stackSize = METHOD_STACK_SIZE,
            .help = methods[i].help,
        };
        xmlrpc_registry_add_method3(&env, srv->registry, &mi);
        if (env.fault_occurred)
            goto xfail;
    }
    xmlrpc_server_abyss_parms parms = {
        .registryP = srv->registry,
        .port_number = port,
        .keepalive_timeout = 15,
        .keepalive_max_conn = 100,
        .timeout = 60,
        .dont_advertise = 1,
        .uri_path = "/RPC2",
        .sockaddr_p = (const struct sockaddr *)&srv->addr,
        .sockaddrlen = srv->addrlen,
        .max_conn = 32,
        .max_conn_backlog = 64,
    };
    xmlrpc_server_abyss_create(&env, &parms, XMLRPC_APSIZE(max_conn_backlog), &srv->server);
    if (env.fault_occurred)
        goto xfail;
    freeaddrinfo(ai);
    xmlrpc_env_clean(&env);
    return srv;
xfail:
    cn_err_set(err, CN_E_IO, "listen %s:%u: %s", host, port,
               env.fault_string ? env.fault_string : "xmlrpc-c failed");
fail:
    if (ai)
        freeaddrinfo(ai);
    xmlrpc_env_clean(&env);
    rpc_server_free(srv);
    return NULL;
}

int
rpc_server_run(struct rpc_server *srv, struct cn_err *err)
{
    xmlrpc_env env;
    int ret = 0;
    xmlrpc_env_init(&env);
    xmlrpc_server_abyss_run_server(&env, srv->server);
    if (env.fault_occurred)
        ret = cn_err_set(err, CN_E_IO, "serving: %s", env.fault_string);
    xmlrpc_env_clean(&env);
    return ret;
}

void
rpc_server_stop(struct rpc_server *srv)
{
    xmlrpc_env env;
    xmlrpc_env_init(&env);
    xmlrpc_server_abyss_terminate(&env, srv->server);
    xmlrpc_env_clean(&env);
}

void
rpc_server_free(struct rpc_server *srv)
{
    if (!srv)
        return;
    if (srv->server)
        xmlrpc_server_abyss_destroy(srv->server);
    if (srv->registry)
        xmlrpc_registry_free(srv->registry);
    if (srv->global_init)
        xmlrpc_server_abyss_global_term();
    free(srv);
}

/* ---- for the methods ---- */

void
rpc_fault(xmlrpc_env *env, const struct cn_err *err)
{
    xmlrpc_env_set_fault(env, cn_fault_code(err->count ? err->code : CN_E_INTERNAL),
                         err->count ? cn_err_msg(err) : "failed");
}

void
rpc_bad_args(xmlrpc_env *env, const char *fmt, ...)
{
    struct cn_buf msg = CN_BUF_INIT;
    va_list ap;

    cn_buf_puts(&msg, "bad arguments: ");
    va_start(ap, fmt);
    cn_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    xmlrpc_env_clean(env);
    xmlrpc_env_init(env);
    xmlrpc_env_set_fault(env, cn_fault_code(CN_E_INVALID), msg.s);
    cn_buf_release(&msg);
}

/* The xmlrpc-c string s as a copy of ours; s is freed. */
static char *
own_string(const char *s)
{
    char *copy = xstrdup(s);
    free((void *)(uintptr_t)s);
    return copy;
}

char *
rpc_param_string(xmlrpc_env *env, xmlrpc_value *params, int i, const char *what)
{
    xmlrpc_value *v = NULL;
    const char *s = NULL;

    xmlrpc_array_read_item(env, params, i, &v);
    if (!env->fault_occurred && xmlrpc_value_type(v) == XMLRPC_TYPE_STRING)
        xmlrpc_read_string(env, v, &s);
    if (v)
        xmlrpc_DECREF(v);
    if (env->fault_occurred || !s) {
        rpc_bad_args(env, "%s", what);
        return NULL;
    }
    return own_string(s);
}

int
rpc_param_long(xmlrpc_env *env, xmlrpc_value *params, int i, const char *what, long *ret)
{
    xmlrpc_value *v = NULL;
    bool typed = false;
    int iv;
    long long lv = 0;

    xmlrpc_array_read_item(env, params, i, &v);
    if (!env->fault_occurred && xmlrpc_value_type(v) == XMLRPC_TYPE_INT) {
        typed = true;
        xmlrpc_read_int(env, v, &iv);
        lv = iv;
    } else if (!env->fault_occurred && xmlrpc_value_type(v) == XMLRPC_TYPE_I8) {
        typed = true;
        xmlrpc_read_i8(env, v, &lv);
    }
    if (v)
        xmlrpc_DECREF(v);
    if (env->fault_occurred || !typed) {
        rpc_bad_args(env, "%s", what);
        return -1;
    }
    *ret = (long)lv;
    return 0;
}

int
rpc_array_strings(xmlrpc_env *env, xmlrpc_value *array, const char *what, char ***ret_strings,
                  size_t *ret_n)
{
    char **strings = NULL;
    size_t n = 0;
    int len;

    if (xmlrpc_value_type(array) != XMLRPC_TYPE_ARRAY)
        goto bad;
    len = xmlrpc_array_size(env, array);
    if (env->fault_occurred)
        goto bad;
    strings = xcalloc((size_t)len + 1, sizeof(*strings));
    for (int i = 0; i < len; i++) {
        strings[i] = rpc_param_string(env, array, i, what);
        if (!strings[i])
            goto fail;
        n++;
    }
    *ret_strings = strings;
    *ret_n = n;
    return 0;
bad:
    rpc_bad_args(env, "%s", what);
fail:
    rpc_strings_free(strings, n);
    return -1;
}

void
rpc_strings_free(char **strings, size_t n)
{
    if (!strings)
        return;
    for (size_t i = 0; i < n; i++)
        free(strings[i]);
    free(strings);
}

const char *
rpc_authenticate(xmlrpc_env *env, xmlrpc_value *params, rpc_auth_fn *auth, const void *ctx)
{
    static const char what[] = "the first parameter must be the secret";
    struct cn_err err = CN_ERR_INIT;
    const char *peer = NULL;
    char *secret = NULL;
    int n = xmlrpc_array_size(env, params);

    if (env->fault_occurred || n < 1) {
        rpc_bad_args(env, "%s", what);
        return NULL;
    }
    secret = rpc_param_string(env, params, 0, what);
    if (!secret)
        return NULL;
    peer = auth(ctx, secret, &err);
    if (!peer)
        rpc_fault(env, &err);
    explicit_bzero(secret, strlen(secret));
    free(secret);
    cn_err_release(&err);
    return peer;
}

/* Whether params has exactly the count and types fmt asks for. */
static bool
params_match(xmlrpc_env *env, xmlrpc_value *params, const char *fmt)
{
    size_t want = strlen(fmt) - 2;
    if ((size_t)xmlrpc_array_size(env, params) != want || env->fault_occurred)
        return false;
    for (size_t i = 0; i < want; i++) {
        xmlrpc_value *v = NULL;
        xmlrpc_array_read_item(env, params, (int)i, &v);
        if (env->fault_occurred)
            return false;
        xmlrpc_type t = xmlrpc_value_type(v);
        xmlrpc_DECREF(v);
        if ((fmt[i + 1] == 's' && t != XMLRPC_TYPE_STRING) ||
            (fmt[i + 1] == 'i' && t != XMLRPC_TYPE_INT) ||
            (fmt[i + 1] == 'A' && t != XMLRPC_TYPE_ARRAY))
            return false;
    }
    return true;
}

int
rpc_decompose(xmlrpc_env *env, xmlrpc_value *params, const char *usage, const char *fmt, ...)
{
    va_list ap;
    if (!params_match(env, params, fmt)) {
        rpc_bad_args(env, "%s", usage);
        return -1;
    }
    va_start(ap, fmt);
    xmlrpc_decompose_value_va(env, params, fmt, ap);
    va_end(ap);
    if (!env->fault_occurred)
        return 0;
    rpc_bad_args(env, "%s", usage);
    return -1;
}

void
rpc_put(xmlrpc_env *env, xmlrpc_value *st, const char *key, xmlrpc_value *v)
{
    if (!v)
        return;
    xmlrpc_struct_set_value(env, st, key, v);
    xmlrpc_DECREF(v);
}

xmlrpc_value *
rpc_string_array(xmlrpc_env *env, const char *const *strings, size_t n)
{
    xmlrpc_value *array = xmlrpc_array_new(env);
    for (size_t i = 0; i < n; i++) {
        xmlrpc_value *s = xmlrpc_string_new(env, strings[i]);
        xmlrpc_array_append_item(env, array, s);
        xmlrpc_DECREF(s);
    }
    return array;
}

xmlrpc_value *
rpc_result_new(xmlrpc_env *env, const char *id, const char *state, long long expires,
               const char *manifest_yaml, const char *reason)
{
    xmlrpc_value *st = xmlrpc_struct_new(env);
    rpc_put(env, st, "id", xmlrpc_string_new(env, id));
    rpc_put(env, st, "state", xmlrpc_string_new(env, state));
    /* Unix seconds fit an i4 until 2038; i4 is what every XML-RPC client reads. */
    rpc_put(env, st, "expires", xmlrpc_int_new(env, (int)expires));
    if (manifest_yaml)
        rpc_put(env, st, "manifest_yaml", xmlrpc_string_new(env, manifest_yaml));
    if (reason)
        rpc_put(env, st, "reason", xmlrpc_string_new(env, reason));
    return st;
}
