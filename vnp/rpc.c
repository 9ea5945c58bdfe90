/*
 * vnpd's XML-RPC face, the only file of vnp/ that includes the xmlrpc-c
 * server headers: an Abyss server offering the same methods, result struct
 * and fault codes as pipd (docs/pipd.md), answered by the broker. The
 * secret, always the first parameter, is checked before anything else;
 * parameters are then taken apart with xmlrpc_decompose_value, and a
 * mismatch is fault 1.
 */
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/server_abyss.h>

#include "util/util.h"
#include "vnp/vnpd.h"

/* Calls wait for PIPs on their own threads; this is for mapping and YAML. */
#define METHOD_STACK_SIZE (8u * 1024 * 1024)
#define XML_OVERHEAD (64u * 1024)
/* xmlrpc-c's default limit, what a client of the library gets unless raised. */
#define ANSWER_LIMIT_MIN (512u * 1024)

struct vnpd_rpc {
    struct vnpd_broker *broker;
    xmlrpc_registry *registry;
    xmlrpc_server_abyss_t *server;
    struct sockaddr_storage addr;
    bool global_init;
};

/*
 * xmlrpc-c keeps one XML size limit per process, for the calls this server
 * takes and the answers vnpd's clients get from the PIPs alike, so it must
 * fit both. A call carries at most max-request bytes of YAML, escaped. The
 * answers carry the PIPs' manifests of pieces of such a request (a mapping
 * entry for every element, with host, path and tags), which run larger than
 * the request itself, and never get less than the client library's own
 * default.
 */
static size_t
xml_limit(size_t max_request)
{
    size_t serve = 2 * max_request + XML_OVERHEAD;
    size_t answers = 4 * max_request + XML_OVERHEAD;
    if (answers < ANSWER_LIMIT_MIN)
        answers = ANSWER_LIMIT_MIN;
    return serve > answers ? serve : answers;
}

static void
fault(xmlrpc_env *env, const struct cn_err *err)
{
    xmlrpc_env_set_fault(env, cn_fault_code(err->count ? err->code : CN_E_INTERNAL),
                         err->count ? cn_err_msg(err) : "failed");
}

static void
free_str(const char *s)
{
    free((void *)(uintptr_t)s);
}

/* The caller's peer name after checking the secret, or NULL with a fault. */
static const char *
authenticate(xmlrpc_env *env, const struct vnpd_rpc *rpc, xmlrpc_value *params)
{
    struct cn_err err = CN_ERR_INIT;
    xmlrpc_value *first = NULL;
    const char *secret = NULL, *peer = NULL;

    if (xmlrpc_array_size(env, params) >= 1)
        xmlrpc_array_read_item(env, params, 0, &first);
    if (!env->fault_occurred && first && xmlrpc_value_type(first) == XMLRPC_TYPE_STRING)
        xmlrpc_read_string(env, first, &secret);
    if (first)
        xmlrpc_DECREF(first);
    xmlrpc_env_clean(env);
    xmlrpc_env_init(env);
    if (!secret) {
        xmlrpc_env_set_fault(env, cn_fault_code(CN_E_INVALID),
                             "bad arguments: the first parameter must be the secret");
        return NULL;
    }
    peer = vnpd_broker_authenticate(rpc->broker, secret, &err);
    if (!peer)
        fault(env, &err);
    explicit_bzero((void *)(uintptr_t)secret, strlen(secret));
    free_str(secret);
    cn_err_release(&err);
    return peer;
}

/*
 * Whether params has exactly the count and types fmt ("(sssi)": s string,
 * i int, A array) asks for. Checked before decomposing: xmlrpc-c frees what
 * a failed decomposition had already stored in the caller's variables, so
 * the caller could not tell which of them to free.
 */
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

/* Takes params apart by fmt (the secret included); fault 1 on a mismatch. */
static int
args(xmlrpc_env *env, xmlrpc_value *params, const char *usage, const char *fmt, ...)
{
    va_list ap;
    if (!params_match(env, params, fmt)) {
        xmlrpc_env_clean(env);
        xmlrpc_env_init(env);
        xmlrpc_env_set_fault_formatted(env, cn_fault_code(CN_E_INVALID), "bad arguments: %s",
                                       usage);
        return -1;
    }
    va_start(ap, fmt);
    xmlrpc_decompose_value_va(env, params, fmt, ap);
    va_end(ap);
    if (!env->fault_occurred)
        return 0;
    xmlrpc_env_clean(env);
    xmlrpc_env_init(env);
    xmlrpc_env_set_fault_formatted(env, cn_fault_code(CN_E_INVALID), "bad arguments: %s", usage);
    return -1;
}

static void
put(xmlrpc_env *env, xmlrpc_value *st, const char *key, xmlrpc_value *v)
{
    xmlrpc_struct_set_value(env, st, key, v);
    xmlrpc_DECREF(v);
}

static xmlrpc_value *
answer(xmlrpc_env *env, struct vnp_reply *r, const struct cn_err *err)
{
    xmlrpc_value *st;
    if (!r) {
        fault(env, err);
        return NULL;
    }
    st = xmlrpc_build_value(env, "{s:s,s:s,s:i}", "id", r->id, "state", r->state, "expires",
                            (int)r->expires);
    if (r->manifest_yaml)
        put(env, st, "manifest_yaml", xmlrpc_string_new(env, r->manifest_yaml));
    if (r->reason)
        put(env, st, "reason", xmlrpc_string_new(env, r->reason));
    if (r->elements) {
        xmlrpc_value *els = xmlrpc_struct_new(env);
        for (size_t i = 0; i < r->nelements; i++)
            put(env, els, r->elements[i].element, xmlrpc_string_new(env, r->elements[i].state));
        put(env, st, "elements", els);
    }
    if (r->providers) {
        xmlrpc_value *list = xmlrpc_array_new(env);
        for (size_t i = 0; i < r->nproviders; i++) {
            const struct vnp_provider_report *p = &r->providers[i];
            xmlrpc_value *one = xmlrpc_build_value(env, "{s:s,s:s,s:i}", "name", p->name, "state",
                                                   p->state, "ms", (int)(p->ms + 0.5));
            if (p->reason)
                put(env, one, "reason", xmlrpc_string_new(env, p->reason));
            xmlrpc_array_append_item(env, list, one);
            xmlrpc_DECREF(one);
        }
        put(env, st, "providers", list);
    }
    vnp_reply_free(r);
    return st;
}

/* ---- methods ---- */

static xmlrpc_value *
amounts(xmlrpc_env *env, const struct vnp_amount *a, size_t n)
{
    xmlrpc_value *st = xmlrpc_struct_new(env);
    for (size_t i = 0; i < n; i++)
        put(env, st, a[i].name, xmlrpc_double_new(env, a[i].value));
    return st;
}

static xmlrpc_value *
m_describe(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct vnpd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    const char *secret = NULL;
    xmlrpc_value *st = NULL;
    (void)call;

    if (!authenticate(env, rpc, params) || args(env, params, "describe(secret)", "(s)", &secret))
        goto cleanup;
    struct vnp_description *d = vnpd_broker_describe(rpc->broker, &err);
    if (!d) {
        fault(env, &err);
        goto cleanup;
    }
    st = xmlrpc_build_value(env, "{s:s,s:s}", "name", d->name, "version", d->version);
    put(env, st, "resources", amounts(env, d->resources, d->nresources));
    put(env, st, "capacity", amounts(env, d->capacity, d->ncapacity));
    put(env, st, "largest_free", amounts(env, d->largest_free, d->nlargest_free));
    xmlrpc_value *feat = xmlrpc_struct_new(env);
    for (size_t i = 0; i < d->nfeatures; i++) {
        xmlrpc_value *vals = xmlrpc_array_new(env);
        for (size_t j = 0; j < d->features[i].nvalues; j++) {
            xmlrpc_value *s = xmlrpc_string_new(env, d->features[i].values[j]);
            xmlrpc_array_append_item(env, vals, s);
            xmlrpc_DECREF(s);
        }
        put(env, feat, d->features[i].name, vals);
    }
    put(env, st, "features", feat);
    /* A VNP sells no tags or transit of its own (vnp_plan_describe). */
    put(env, st, "vlan_ranges", xmlrpc_array_new(env));
    put(env, st, "transit", xmlrpc_array_new(env));
    vnp_description_free(d);
cleanup:
    free_str(secret);
    cn_err_release(&err);
    return st;
}

static xmlrpc_value *
m_negotiate(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct vnpd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    const char *secret = NULL, *id = NULL, *yaml = NULL, *peer;
    xmlrpc_value *v = NULL;
    int lease = 0;
    (void)call;

    if ((peer = authenticate(env, rpc, params)) &&
        !args(env, params, "negotiate(secret, id, graph_yaml, lease_s)", "(sssi)", &secret, &id,
              &yaml, &lease))
        v = answer(env, vnpd_broker_negotiate(rpc->broker, peer, id, yaml, lease, &err), &err);
    free_str(secret);
    free_str(id);
    free_str(yaml);
    cn_err_release(&err);
    return v;
}

/* confirm, release and status: (secret, id). */
static xmlrpc_value *
by_id(xmlrpc_env *env, xmlrpc_value *params, struct vnpd_rpc *rpc,
      struct vnp_reply *(*fn)(struct vnpd_broker *, const char *, const char *, struct cn_err *))
{
    struct cn_err err = CN_ERR_INIT;
    const char *secret = NULL, *id = NULL, *peer;
    xmlrpc_value *v = NULL;

    if ((peer = authenticate(env, rpc, params)) &&
        !args(env, params, "(secret, id) expected", "(ss)", &secret, &id))
        v = answer(env, fn(rpc->broker, peer, id, &err), &err);
    free_str(secret);
    free_str(id);
    cn_err_release(&err);
    return v;
}

static xmlrpc_value *
m_confirm(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    (void)call;
    return by_id(env, params, info, vnpd_broker_confirm);
}

static xmlrpc_value *
m_release(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    (void)call;
    return by_id(env, params, info, vnpd_broker_release);
}

static xmlrpc_value *
m_status(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    (void)call;
    return by_id(env, params, info, vnpd_broker_status);
}

static xmlrpc_value *
m_renew(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct vnpd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    const char *secret = NULL, *id = NULL, *peer;
    xmlrpc_value *v = NULL;
    int lease = 0;
    (void)call;

    if ((peer = authenticate(env, rpc, params)) &&
        !args(env, params, "renew(secret, id, lease_s)", "(ssi)", &secret, &id, &lease))
        v = answer(env, vnpd_broker_renew(rpc->broker, peer, id, lease, &err), &err);
    free_str(secret);
    free_str(id);
    cn_err_release(&err);
    return v;
}

static xmlrpc_value *
power(xmlrpc_env *env, xmlrpc_value *params, struct vnpd_rpc *rpc, enum vnp_power_op op)
{
    struct cn_err err = CN_ERR_INIT;
    const char *secret = NULL, *id = NULL, *peer, **names = NULL;
    xmlrpc_value *v = NULL, *list = NULL;
    size_t n = 0;
    const char *usage = "(secret, id [, array of element names]) expected";

    if (!(peer = authenticate(env, rpc, params)))
        goto cleanup;
    if (xmlrpc_array_size(env, params) == 2
            ? args(env, params, usage, "(ss)", &secret, &id)
            : args(env, params, usage, "(ssA)", &secret, &id, &list))
        goto cleanup;
    int len = list ? xmlrpc_array_size(env, list) : 0;
    names = xcalloc((size_t)len + 1, sizeof(*names));
    for (int i = 0; i < len; i++) {
        xmlrpc_value *item = NULL;
        xmlrpc_array_read_item(env, list, i, &item);
        if (!env->fault_occurred && xmlrpc_value_type(item) == XMLRPC_TYPE_STRING)
            xmlrpc_read_string(env, item, &names[n++]);
        bool bad = env->fault_occurred || xmlrpc_value_type(item) != XMLRPC_TYPE_STRING;
        if (item)
            xmlrpc_DECREF(item);
        if (bad) {
            xmlrpc_env_clean(env);
            xmlrpc_env_init(env);
            xmlrpc_env_set_fault(env, cn_fault_code(CN_E_INVALID),
                                 "bad arguments: elements must be an array of strings");
            goto cleanup;
        }
    }
    v = answer(env, vnpd_broker_power(rpc->broker, peer, id, op, names, n, &err), &err);
cleanup:
    for (size_t i = 0; i < n; i++)
        free_str(names[i]);
    free((void *)(uintptr_t)names);
    if (list)
        xmlrpc_DECREF(list);
    free_str(secret);
    free_str(id);
    cn_err_release(&err);
    return v;
}

static xmlrpc_value *
m_start(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    (void)call;
    return power(env, params, info, VNP_START);
}

static xmlrpc_value *
m_stop(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    (void)call;
    return power(env, params, info, VNP_STOP);
}

static xmlrpc_value *
m_powercycle(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    (void)call;
    return power(env, params, info, VNP_POWERCYCLE);
}

static xmlrpc_value *
m_console(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct vnpd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    const char *secret = NULL, *id = NULL, *element = NULL, *peer;
    xmlrpc_value *v = NULL;
    (void)call;

    if ((peer = authenticate(env, rpc, params)) &&
        !args(env, params, "console(secret, id, element)", "(sss)", &secret, &id, &element)) {
        char *uri = vnpd_broker_console(rpc->broker, peer, id, element, &err);
        if (uri)
            v = xmlrpc_string_new(env, uri);
        else
            fault(env, &err);
        free(uri);
    }
    free_str(secret);
    free_str(id);
    free_str(element);
    cn_err_release(&err);
    return v;
}

static xmlrpc_value *
m_list(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct vnpd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    const char *secret = NULL, *peer;
    struct vnpd_request *items = NULL;
    size_t n = 0;
    xmlrpc_value *v = NULL;
    (void)call;

    if (!(peer = authenticate(env, rpc, params)) ||
        args(env, params, "list(secret)", "(s)", &secret))
        goto cleanup;
    if (vnpd_broker_list(rpc->broker, peer, &items, &n, &err) < 0) {
        fault(env, &err);
        goto cleanup;
    }
    v = xmlrpc_array_new(env);
    for (size_t i = 0; i < n; i++) {
        bool leased = cn_streq(items[i].state, "allocated");
        xmlrpc_value *one = xmlrpc_build_value(
            env, "{s:s,s:s,s:i}", "id", items[i].id, "state",
            cn_streq(items[i].state, "negotiating") ? "allocated" : items[i].state, "expires",
            leased ? (int)items[i].expires : 0);
        xmlrpc_array_append_item(env, v, one);
        xmlrpc_DECREF(one);
    }
cleanup:
    vnpd_requests_free(items, n);
    free_str(secret);
    cn_err_release(&err);
    return v;
}

static xmlrpc_value *
m_modify(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    (void)call;
    if (authenticate(env, info, params))
        xmlrpc_env_set_fault(env, cn_fault_code(CN_E_INTERNAL),
                             "modify is not supported by the broker yet: release and negotiate "
                             "again under a new id");
    return NULL;
}

static const struct xmlrpc_method_info3 methods[] = {
    {.methodName = "describe", .methodFunction = m_describe},
    {.methodName = "negotiate", .methodFunction = m_negotiate},
    {.methodName = "modify", .methodFunction = m_modify},
    {.methodName = "confirm", .methodFunction = m_confirm},
    {.methodName = "release", .methodFunction = m_release},
    {.methodName = "renew", .methodFunction = m_renew},
    {.methodName = "status", .methodFunction = m_status},
    {.methodName = "start", .methodFunction = m_start},
    {.methodName = "stop", .methodFunction = m_stop},
    {.methodName = "powercycle", .methodFunction = m_powercycle},
    {.methodName = "console", .methodFunction = m_console},
    {.methodName = "list", .methodFunction = m_list},
};

/* ---- the server ---- */

struct vnpd_rpc *
vnpd_rpc_new(struct vnpd_broker *b, const struct vnpd_config *cfg, struct cn_err *err)
{
    struct vnpd_rpc *rpc = xcalloc(1, sizeof(*rpc));
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    rpc->broker = b;
    snprintf(port, sizeof(port), "%u", cfg->listen_port);
    int rc = getaddrinfo(cfg->listen_host, port, &hints, &ai);
    if (rc != 0) {
        cn_err_set(err, CN_E_INVALID, "listen %s:%s: %s", cfg->listen_host, port, gai_strerror(rc));
        goto fail;
    }
    memcpy(&rpc->addr, ai->ai_addr, ai->ai_addrlen);
    xmlrpc_server_abyss_global_init(&env);
    if (env.fault_occurred)
        goto xfail;
    rpc->global_init = true;
    vnp_client_global_set_answer_limit(xml_limit(cfg->max_request));
    rpc->registry = xmlrpc_registry_new(&env);
    for (size_t i = 0; !env.fault_occurred && i < CN_ARRAY_SIZE(methods); i++) {
        struct xmlrpc_method_info3 mi = methods[i];
        mi.serverInfo = rpc;
        mi.stackSize = METHOD_STACK_SIZE;
        xmlrpc_registry_add_method3(&env, rpc->registry, &mi);
    }
    if (env.fault_occurred)
        goto xfail;
    xmlrpc_server_abyss_parms parms = {
        .registryP = rpc->registry,
        .port_number = cfg->listen_port,
        .keepalive_timeout = 15,
        .keepalive_max_conn = 100,
        .timeout = 60,
        .dont_advertise = 1,
        .uri_path = "/RPC2",
        .sockaddr_p = (const struct sockaddr *)&rpc->addr,
        .sockaddrlen = ai->ai_addrlen,
        .max_conn = 32,
        .max_conn_backlog = 64,
    };
    xmlrpc_server_abyss_create(&env, &parms, XMLRPC_APSIZE(max_conn_backlog), &rpc->server);
    if (env.fault_occurred)
        goto xfail;
    freeaddrinfo(ai);
    xmlrpc_env_clean(&env);
    return rpc;
xfail:
    cn_err_set(err, CN_E_IO, "listen %s:%u: %s", cfg->listen_host, cfg->listen_port,
               env.fault_string ? env.fault_string : "xmlrpc-c failed");
fail:
    if (ai)
        freeaddrinfo(ai);
    xmlrpc_env_clean(&env);
    vnpd_rpc_free(rpc);
    return NULL;
}

int
vnpd_rpc_run(struct vnpd_rpc *rpc, struct cn_err *err)
{
    xmlrpc_env env;
    int ret = 0;
    xmlrpc_env_init(&env);
    xmlrpc_server_abyss_run_server(&env, rpc->server);
    if (env.fault_occurred)
        ret = cn_err_set(err, CN_E_IO, "serving: %s", env.fault_string);
    xmlrpc_env_clean(&env);
    return ret;
}

void
vnpd_rpc_stop(struct vnpd_rpc *rpc)
{
    xmlrpc_env env;
    xmlrpc_env_init(&env);
    xmlrpc_server_abyss_terminate(&env, rpc->server);
    xmlrpc_env_clean(&env);
}

void
vnpd_rpc_free(struct vnpd_rpc *rpc)
{
    if (!rpc)
        return;
    if (rpc->server)
        xmlrpc_server_abyss_destroy(rpc->server);
    if (rpc->registry)
        xmlrpc_registry_free(rpc->registry);
    if (rpc->global_init)
        xmlrpc_server_abyss_global_term();
    free(rpc);
}
