/*
 * pipd's XML-RPC face, the only file that includes xmlrpc-c: an Abyss
 * server whose methods check the caller's secret (always the first
 * parameter), turn XML-RPC values into C strings and numbers for the core
 * (pip/core.c) and its results back into structs, and its errors into
 * faults with the codes documented in docs/pipd.md.
 *
 * Abyss serves each connection in a thread of its own (up to max_conn at
 * once), and the core runs their calls side by side (pip/core.c says what
 * it serialises). Every method gets a large stack, because mapping runs on
 * the connection's thread.
 */
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/server_abyss.h>

#include "pip/pipd.h"
#include "util/util.h"

#define METHOD_STACK_SIZE (8u * 1024 * 1024)
/* XML-RPC wrapping and escaping on top of the graph's own size. */
#define XML_OVERHEAD (64u * 1024)

/* What the one handler of start, stop and powercycle is registered with. */
struct power_info {
    struct pipd_rpc *rpc;
    enum pipd_power_op op;
};

struct pipd_rpc {
    struct pipd_core *core;
    struct power_info power[PIPD_POWERCYCLE + 1];
    const struct pipd_config *cfg;
    xmlrpc_registry *registry;
    xmlrpc_server_abyss_t *server;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool global_init; /* xmlrpc-c's Abyss globals are ours to tear down */
};

static void
set_fault(xmlrpc_env *env, const struct cn_err *err)
{
    int code = err->count ? err->code : CN_E_INTERNAL;
    xmlrpc_env_set_fault(env, cn_fault_code(code), err->count ? cn_err_msg(err) : "failed");
}

static void
bad_args(xmlrpc_env *env, const char *what)
{
    xmlrpc_env_set_fault_formatted(env, cn_fault_code(CN_E_INVALID), "bad arguments: %s", what);
}

/* Parameter i as a string the caller frees, or NULL with a fault set. */
static char *
param_string(xmlrpc_env *env, xmlrpc_value *params, int i, const char *name)
{
    xmlrpc_value *v = NULL;
    const char *s = NULL;
    char *copy = NULL;

    xmlrpc_array_read_item(env, params, i, &v);
    if (env->fault_occurred)
        goto bad;
    if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRING)
        goto bad;
    xmlrpc_read_string(env, v, &s);
    if (env->fault_occurred)
        goto bad;
    copy = xstrdup(s);
    free((void *)(uintptr_t)s);
    xmlrpc_DECREF(v);
    return copy;
bad:
    if (v)
        xmlrpc_DECREF(v);
    xmlrpc_env_clean(env);
    xmlrpc_env_init(env);
    bad_args(env, name);
    return NULL;
}

static int
param_long(xmlrpc_env *env, xmlrpc_value *params, int i, const char *name, long *ret)
{
    xmlrpc_value *v = NULL;
    int iv;
    long long lv;

    xmlrpc_array_read_item(env, params, i, &v);
    if (env->fault_occurred)
        goto bad;
    if (xmlrpc_value_type(v) == XMLRPC_TYPE_INT) {
        xmlrpc_read_int(env, v, &iv);
        lv = iv;
    } else if (xmlrpc_value_type(v) == XMLRPC_TYPE_I8) {
        xmlrpc_read_i8(env, v, &lv);
    } else {
        goto bad;
    }
    if (env->fault_occurred)
        goto bad;
    xmlrpc_DECREF(v);
    *ret = (long)lv;
    return 0;
bad:
    if (v)
        xmlrpc_DECREF(v);
    xmlrpc_env_clean(env);
    xmlrpc_env_init(env);
    bad_args(env, name);
    return -1;
}

/*
 * Checks the parameter count (min..max) and the secret; returns the peer
 * name, or NULL with a fault set.
 */
static const char *
begin(xmlrpc_env *env, struct pipd_rpc *rpc, xmlrpc_value *params, int min, int max)
{
    struct cn_err err = CN_ERR_INIT;
    int n = xmlrpc_array_size(env, params);
    const char *peer = NULL;
    char *secret = NULL;

    if (env->fault_occurred || n < 1) {
        xmlrpc_env_clean(env);
        xmlrpc_env_init(env);
        bad_args(env, "the first parameter must be the secret");
        goto cleanup;
    }
    secret = param_string(env, params, 0, "the first parameter must be the secret");
    if (!secret)
        goto cleanup;
    /* Authentication comes before anything about the call is checked or told. */
    peer = pipd_core_authenticate(rpc->core, secret, &err);
    if (!peer) {
        set_fault(env, &err);
        goto cleanup;
    }
    if (n < min || n > max) {
        peer = NULL;
        xmlrpc_env_set_fault_formatted(env, cn_fault_code(CN_E_INVALID),
                                       "bad arguments: %d to %d parameters expected, got %d", min,
                                       max, n);
    }
cleanup:
    if (secret) {
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
    cn_err_release(&err);
    return peer;
}

static void
set_member(xmlrpc_env *env, xmlrpc_value *st, const char *key, xmlrpc_value *v)
{
    if (!v)
        return;
    xmlrpc_struct_set_value(env, st, key, v);
    xmlrpc_DECREF(v);
}

static xmlrpc_value *
result_value(xmlrpc_env *env, const struct pipd_result *r)
{
    xmlrpc_value *st = xmlrpc_struct_new(env);
    set_member(env, st, "id", xmlrpc_string_new(env, r->id));
    set_member(env, st, "state", xmlrpc_string_new(env, pip_state_name(r->state)));
    /* Unix seconds fit an i4 until 2038; i4 is what every XML-RPC client reads. */
    set_member(env, st, "expires", xmlrpc_int_new(env, (int)r->expires_at));
    if (r->manifest_yaml)
        set_member(env, st, "manifest_yaml", xmlrpc_string_new(env, r->manifest_yaml));
    if (r->reason)
        set_member(env, st, "reason", xmlrpc_string_new(env, r->reason));
    if (r->elements) {
        xmlrpc_value *els = xmlrpc_struct_new(env);
        for (size_t i = 0; i < r->nelements; i++)
            set_member(env, els, r->elements[i].element,
                       xmlrpc_string_new(env, r->elements[i].state));
        set_member(env, st, "elements", els);
    }
    return st;
}

/* Turns a core result into the method's answer, or its error into a fault. */
static xmlrpc_value *
finish(xmlrpc_env *env, struct pipd_result *r, const struct cn_err *err)
{
    xmlrpc_value *v = NULL;
    if (!r)
        set_fault(env, err);
    else
        v = result_value(env, r);
    pipd_result_free(r);
    return v;
}

/* ---- methods ---- */

static xmlrpc_value *
m_describe(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct pipd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    struct pipd_description *d = NULL;
    xmlrpc_value *st = NULL;
    const char *peer;
    (void)call;

    peer = begin(env, rpc, params, 1, 1);
    if (!peer)
        goto cleanup;
    d = pipd_core_describe(rpc->core, peer, &err);
    if (!d) {
        set_fault(env, &err);
        goto cleanup;
    }
    st = xmlrpc_struct_new(env);
    set_member(env, st, "name", xmlrpc_string_new(env, d->name));
    set_member(env, st, "version", xmlrpc_string_new(env, d->version));
    xmlrpc_value *res = xmlrpc_struct_new(env), *cap = xmlrpc_struct_new(env),
                 *largest = xmlrpc_struct_new(env);
    for (size_t i = 0; i < d->ntotals; i++) {
        set_member(env, res, d->totals[i].resource, xmlrpc_double_new(env, d->totals[i].free));
        set_member(env, cap, d->totals[i].resource, xmlrpc_double_new(env, d->totals[i].capacity));
        set_member(env, largest, d->totals[i].resource,
                   xmlrpc_double_new(env, d->totals[i].largest_free));
    }
    set_member(env, st, "resources", res);
    set_member(env, st, "capacity", cap);
    set_member(env, st, "largest_free", largest);
    xmlrpc_value *feat = xmlrpc_struct_new(env);
    for (size_t i = 0; i < d->nfeatures; i++) {
        xmlrpc_value *vals = xmlrpc_array_new(env);
        for (size_t j = 0; j < d->features[i].nvalues; j++) {
            xmlrpc_value *s = xmlrpc_string_new(env, d->features[i].values[j]);
            xmlrpc_array_append_item(env, vals, s);
            xmlrpc_DECREF(s);
        }
        set_member(env, feat, d->features[i].name, vals);
    }
    set_member(env, st, "features", feat);
    xmlrpc_value *vlans = xmlrpc_array_new(env);
    for (size_t i = 0; i < d->nvlans; i++) {
        xmlrpc_value *r = xmlrpc_build_value(env, "(ii)", d->vlans[i].first, d->vlans[i].last);
        xmlrpc_array_append_item(env, vlans, r);
        xmlrpc_DECREF(r);
    }
    set_member(env, st, "vlan_ranges", vlans);
    xmlrpc_value *transits = xmlrpc_array_new(env);
    for (size_t i = 0; i < d->ntransits; i++) {
        xmlrpc_value *t =
            xmlrpc_build_value(env, "{s:s,s:(ii)}", "id", d->transits[i].id, "vlan_range",
                               d->transits[i].vlan_first, d->transits[i].vlan_last);
        xmlrpc_array_append_item(env, transits, t);
        xmlrpc_DECREF(t);
    }
    set_member(env, st, "transit", transits);
cleanup:
    pipd_description_free(d);
    cn_err_release(&err);
    return st;
}

static xmlrpc_value *
m_negotiate(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct pipd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    char *id = NULL, *yaml = NULL;
    long lease = 0;
    xmlrpc_value *v = NULL;
    const char *peer;
    (void)call;

    peer = begin(env, rpc, params, 4, 4);
    if (!peer)
        goto cleanup;
    if (!(id = param_string(env, params, 1, "id must be a string")) ||
        !(yaml = param_string(env, params, 2, "graph_yaml must be a string")) ||
        param_long(env, params, 3, "lease_s must be an integer", &lease) < 0)
        goto cleanup;
    v = finish(env, pipd_core_negotiate(rpc->core, peer, id, yaml, lease, &err), &err);
cleanup:
    free(id);
    free(yaml);
    cn_err_release(&err);
    return v;
}

/* The methods that take (secret, id) and answer a result struct. */
static xmlrpc_value *
id_method(xmlrpc_env *env, xmlrpc_value *params, struct pipd_rpc *rpc,
          struct pipd_result *(*fn)(struct pipd_core *, const char *, const char *,
                                    struct cn_err *))
{
    struct cn_err err = CN_ERR_INIT;
    xmlrpc_value *v = NULL;
    char *id = NULL;
    const char *peer = begin(env, rpc, params, 2, 2);

    if (peer && (id = param_string(env, params, 1, "id must be a string")))
        v = finish(env, fn(rpc->core, peer, id, &err), &err);
    free(id);
    cn_err_release(&err);
    return v;
}

static xmlrpc_value *
m_confirm(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    (void)call;
    return id_method(env, params, info, pipd_core_confirm);
}

static xmlrpc_value *
m_release(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    (void)call;
    return id_method(env, params, info, pipd_core_release);
}

static xmlrpc_value *
m_status(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    (void)call;
    return id_method(env, params, info, pipd_core_status);
}

static xmlrpc_value *
m_renew(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct pipd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    xmlrpc_value *v = NULL;
    char *id = NULL;
    long lease = 0;
    const char *peer = begin(env, rpc, params, 3, 3);
    (void)call;

    if (peer && (id = param_string(env, params, 1, "id must be a string")) &&
        param_long(env, params, 2, "lease_s must be an integer", &lease) == 0)
        v = finish(env, pipd_core_renew(rpc->core, peer, id, lease, &err), &err);
    free(id);
    cn_err_release(&err);
    return v;
}

/* start, stop and powercycle: (secret, id [, elements]). */
static xmlrpc_value *
m_power(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    const struct power_info *pi = info;
    struct pipd_rpc *rpc = pi->rpc;
    enum pipd_power_op op = pi->op;
    struct cn_err err = CN_ERR_INIT;
    xmlrpc_value *v = NULL, *list = NULL;
    char *id = NULL, **names = NULL;
    size_t n = 0;
    const char *peer = begin(env, rpc, params, 2, 3);
    (void)call;

    if (!peer || !(id = param_string(env, params, 1, "id must be a string")))
        goto cleanup;
    if (xmlrpc_array_size(env, params) == 3) {
        xmlrpc_array_read_item(env, params, 2, &list);
        if (env->fault_occurred || xmlrpc_value_type(list) != XMLRPC_TYPE_ARRAY) {
            xmlrpc_env_clean(env);
            xmlrpc_env_init(env);
            bad_args(env, "elements must be an array of strings");
            goto cleanup;
        }
        int len = xmlrpc_array_size(env, list);
        names = xcalloc(len > 0 ? (size_t)len : 1, sizeof(*names));
        for (int i = 0; i < len; i++) {
            names[i] = param_string(env, list, i, "elements must be an array of strings");
            if (!names[i])
                goto cleanup;
            n++;
        }
    }
    v = finish(env, pipd_core_power(rpc->core, peer, id, op, (const char *const *)names, n, &err),
               &err);
cleanup:
    if (list)
        xmlrpc_DECREF(list);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(id);
    cn_err_release(&err);
    return v;
}

static xmlrpc_value *
m_console(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct pipd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    xmlrpc_value *v = NULL;
    char *id = NULL, *element = NULL, *uri = NULL;
    const char *peer = begin(env, rpc, params, 3, 3);
    (void)call;

    if (!peer || !(id = param_string(env, params, 1, "id must be a string")) ||
        !(element = param_string(env, params, 2, "element must be a string")))
        goto cleanup;
    uri = pipd_core_console(rpc->core, peer, id, element, &err);
    if (!uri)
        set_fault(env, &err);
    else
        v = xmlrpc_string_new(env, uri);
cleanup:
    free(id);
    free(element);
    free(uri);
    cn_err_release(&err);
    return v;
}

static xmlrpc_value *
m_modify(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct pipd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    char *id = NULL, *yaml = NULL;
    xmlrpc_value *v = NULL;
    const char *peer = begin(env, rpc, params, 3, 3);
    (void)call;

    if (peer && (id = param_string(env, params, 1, "id must be a string")) &&
        (yaml = param_string(env, params, 2, "graph_yaml must be a string")))
        v = finish(env, pipd_core_modify(rpc->core, peer, id, yaml, &err), &err);
    free(id);
    free(yaml);
    cn_err_release(&err);
    return v;
}

static xmlrpc_value *
m_list(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct pipd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    struct pipd_summary *items = NULL;
    size_t n = 0;
    xmlrpc_value *v = NULL;
    const char *peer = begin(env, rpc, params, 1, 1);
    (void)call;

    if (!peer)
        goto cleanup;
    if (pipd_core_list(rpc->core, peer, &items, &n, &err) < 0) {
        set_fault(env, &err);
        goto cleanup;
    }
    v = xmlrpc_array_new(env);
    for (size_t i = 0; i < n; i++) {
        xmlrpc_value *st = xmlrpc_struct_new(env);
        set_member(env, st, "id", xmlrpc_string_new(env, items[i].id));
        set_member(env, st, "state", xmlrpc_string_new(env, pip_state_name(items[i].state)));
        set_member(env, st, "expires", xmlrpc_int_new(env, (int)items[i].expires_at));
        xmlrpc_array_append_item(env, v, st);
        xmlrpc_DECREF(st);
    }
cleanup:
    pipd_summaries_free(items, n);
    cn_err_release(&err);
    return v;
}

#define NOT_POWER (-1)

static const struct {
    const char *name;
    xmlrpc_method2 fn;
    const char *help;
    int power_op; /* the operation m_power does, or NOT_POWER */
} methods[] = {
    {"describe", m_describe, "describe(secret): the PIP's advertisement", NOT_POWER},
    {"negotiate", m_negotiate, "negotiate(secret, id, graph_yaml, lease_s): map and embed",
     NOT_POWER},
    {"modify", m_modify, "modify(secret, id, graph_yaml): change a live CloudNet", NOT_POWER},
    {"confirm", m_confirm, "confirm(secret, id): make an allocation permanent", NOT_POWER},
    {"release", m_release, "release(secret, id): undo, from any state", NOT_POWER},
    {"renew", m_renew, "renew(secret, id, lease_s): extend the lease", NOT_POWER},
    {"status", m_status, "status(secret, id): state, manifest and each element's state", NOT_POWER},
    {"list", m_list, "list(secret): the caller's CloudNets", NOT_POWER},
    {"start", m_power, "start(secret, id, [elements]): start VNodes", PIPD_START},
    {"stop", m_power, "stop(secret, id, [elements]): power VNodes off", PIPD_STOP},
    {"powercycle", m_power, "powercycle(secret, id, [elements]): reset VNodes", PIPD_POWERCYCLE},
    {"console", m_console, "console(secret, id, element): where the console is", NOT_POWER},
};

/* ---- the server ---- */

struct pipd_rpc *
pipd_rpc_new(struct pipd_core *core, const struct pipd_config *cfg, struct cn_err *err)
{
    struct pipd_rpc *rpc = xcalloc(1, sizeof(*rpc));
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    xmlrpc_env env;
    int rc;

    xmlrpc_env_init(&env);
    rpc->core = core;
    rpc->cfg = cfg;
    snprintf(port, sizeof(port), "%u", cfg->listen_port);
    rc = getaddrinfo(cfg->listen_host, port, &hints, &ai);
    if (rc != 0) {
        cn_err_set(err, CN_E_INVALID, "listen %s:%s: %s", cfg->listen_host, port, gai_strerror(rc));
        goto fail;
    }
    memcpy(&rpc->addr, ai->ai_addr, ai->ai_addrlen);
    rpc->addrlen = ai->ai_addrlen;

    xmlrpc_server_abyss_global_init(&env);
    if (env.fault_occurred)
        goto xfail;
    rpc->global_init = true;
    /* A hard cap at the transport; the graph's own limit is checked per call, as a fault. */
    xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, 2 * cfg->max_request + XML_OVERHEAD);
    rpc->registry = xmlrpc_registry_new(&env);
    if (env.fault_occurred)
        goto xfail;
    for (size_t i = 0; i < CN_ARRAY_SIZE(rpc->power); i++)
        rpc->power[i] = (struct power_info){rpc, (enum pipd_power_op)i};
    for (size_t i = 0; i < CN_ARRAY_SIZE(methods); i++) {
        int op = methods[i].power_op;
        struct xmlrpc_method_info3 mi = {
            .methodName = methods[i].name,
            .methodFunction = methods[i].fn,
            .serverInfo = op == NOT_POWER ? (void *)rpc : (void *)&rpc->power[op],
            .stackSize = METHOD_STACK_SIZE,
            .help = methods[i].help,
        };
        xmlrpc_registry_add_method3(&env, rpc->registry, &mi);
        if (env.fault_occurred)
            goto xfail;
    }
    xmlrpc_server_abyss_parms parms = {
        .registryP = rpc->registry,
        .port_number = cfg->listen_port,
        .keepalive_timeout = 15,
        .keepalive_max_conn = 100,
        .timeout = 60,
        .dont_advertise = 1,
        .uri_path = "/RPC2",
        .sockaddr_p = (const struct sockaddr *)&rpc->addr,
        .sockaddrlen = rpc->addrlen,
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
    pipd_rpc_free(rpc);
    return NULL;
}

int
pipd_rpc_run(struct pipd_rpc *rpc, struct cn_err *err)
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
pipd_rpc_stop(struct pipd_rpc *rpc)
{
    xmlrpc_env env;
    xmlrpc_env_init(&env);
    xmlrpc_server_abyss_terminate(&env, rpc->server);
    xmlrpc_env_clean(&env);
}

void
pipd_rpc_free(struct pipd_rpc *rpc)
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
