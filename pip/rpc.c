/*
 * pipd's XML-RPC face, the only file of pip/ that includes xmlrpc-c: the
 * methods of the negotiation interface on the shared server (rpc/server.h).
 * Each checks the caller's secret (always the first parameter), turns
 * XML-RPC values into C strings and numbers for the core (pip/core.c) and
 * its results back into structs, and its errors into faults with the codes
 * documented in docs/pipd.md.
 *
 * Abyss serves each connection in a thread of its own, and the core runs
 * their calls side by side (pip/core.c says what it serialises); mapping
 * runs on the connection's thread.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pip/pipd.h"
#include "rpc/server.h"
#include "util/util.h"

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
    struct rpc_server *server;
};

static const char *
authenticate(const void *core, const char *secret, struct cn_err *err)
{
    return pipd_core_authenticate(core, secret, err);
}

/*
 * Checks the secret and then the parameter count (min..max); returns the
 * peer name, or NULL with a fault set.
 */
static const char *
begin(xmlrpc_env *env, struct pipd_rpc *rpc, xmlrpc_value *params, int min, int max)
{
    const char *peer = rpc_authenticate(env, params, authenticate, rpc->core);
    int n;

    if (!peer)
        return NULL;
    n = xmlrpc_array_size(env, params);
    if (n < min || n > max) {
        rpc_bad_args(env, "%d to %d parameters expected, got %d", min, max, n);
        return NULL;
    }
    return peer;
}

static xmlrpc_value *
result_value(xmlrpc_env *env, const struct pipd_result *r)
{
    xmlrpc_value *st = rpc_result_new(env, r->id, pip_state_name(r->state), r->expires_at,
                                      r->manifest_yaml, r->reason);
    if (r->elements) {
        xmlrpc_value *els = xmlrpc_struct_new(env);
        for (size_t i = 0; i < r->nelements; i++)
            rpc_put(env, els, r->elements[i].element, xmlrpc_string_new(env, r->elements[i].state));
        rpc_put(env, st, "elements", els);
    }
    return st;
}

/* Turns a core result into the method's answer, or its error into a fault. */
static xmlrpc_value *
finish(xmlrpc_env *env, struct pipd_result *r, const struct cn_err *err)
{
    xmlrpc_value *v = NULL;
    if (!r)
        rpc_fault(env, err);
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
        rpc_fault(env, &err);
        goto cleanup;
    }
    st = xmlrpc_struct_new(env);
    rpc_put(env, st, "name", xmlrpc_string_new(env, d->name));
    rpc_put(env, st, "version", xmlrpc_string_new(env, d->version));
    xmlrpc_value *res = xmlrpc_struct_new(env), *cap = xmlrpc_struct_new(env),
                 *largest = xmlrpc_struct_new(env);
    for (size_t i = 0; i < d->ntotals; i++) {
        rpc_put(env, res, d->totals[i].resource, xmlrpc_double_new(env, d->totals[i].free));
        rpc_put(env, cap, d->totals[i].resource, xmlrpc_double_new(env, d->totals[i].capacity));
        rpc_put(env, largest, d->totals[i].resource,
                xmlrpc_double_new(env, d->totals[i].largest_free));
    }
    rpc_put(env, st, "resources", res);
    rpc_put(env, st, "capacity", cap);
    rpc_put(env, st, "largest_free", largest);
    xmlrpc_value *feat = xmlrpc_struct_new(env);
    for (size_t i = 0; i < d->nfeatures; i++)
        rpc_put(env, feat, d->features[i].name,
                rpc_string_array(env, (const char *const *)d->features[i].values,
                                 d->features[i].nvalues));
    rpc_put(env, st, "features", feat);
    xmlrpc_value *vlans = xmlrpc_array_new(env);
    for (size_t i = 0; i < d->nvlans; i++) {
        xmlrpc_value *r = xmlrpc_build_value(env, "(ii)", d->vlans[i].first, d->vlans[i].last);
        xmlrpc_array_append_item(env, vlans, r);
        xmlrpc_DECREF(r);
    }
    rpc_put(env, st, "vlan_ranges", vlans);
    xmlrpc_value *transits = xmlrpc_array_new(env);
    for (size_t i = 0; i < d->ntransits; i++) {
        xmlrpc_value *t =
            xmlrpc_build_value(env, "{s:s,s:(ii)}", "id", d->transits[i].id, "vlan_range",
                               d->transits[i].vlan_first, d->transits[i].vlan_last);
        xmlrpc_array_append_item(env, transits, t);
        xmlrpc_DECREF(t);
    }
    rpc_put(env, st, "transit", transits);
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
    if (!(id = rpc_param_string(env, params, 1, "id must be a string")) ||
        !(yaml = rpc_param_string(env, params, 2, "graph_yaml must be a string")) ||
        rpc_param_long(env, params, 3, "lease_s must be an integer", &lease) < 0)
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

    if (peer && (id = rpc_param_string(env, params, 1, "id must be a string")))
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

    if (peer && (id = rpc_param_string(env, params, 1, "id must be a string")) &&
        rpc_param_long(env, params, 2, "lease_s must be an integer", &lease) == 0)
        v = finish(env, pipd_core_renew(rpc->core, peer, id, lease, &err), &err);
    free(id);
    cn_err_release(&err);
    return v;
}

#define ELEMENTS_USAGE "elements must be an array of strings"

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

    if (!peer || !(id = rpc_param_string(env, params, 1, "id must be a string")))
        goto cleanup;
    if (xmlrpc_array_size(env, params) == 3) {
        xmlrpc_array_read_item(env, params, 2, &list);
        if (env->fault_occurred) {
            rpc_bad_args(env, "%s", ELEMENTS_USAGE);
            goto cleanup;
        }
        if (rpc_array_strings(env, list, ELEMENTS_USAGE, &names, &n) < 0)
            goto cleanup;
    }
    v = finish(env, pipd_core_power(rpc->core, peer, id, op, (const char *const *)names, n, &err),
               &err);
cleanup:
    if (list)
        xmlrpc_DECREF(list);
    rpc_strings_free(names, n);
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

    if (!peer || !(id = rpc_param_string(env, params, 1, "id must be a string")) ||
        !(element = rpc_param_string(env, params, 2, "element must be a string")))
        goto cleanup;
    uri = pipd_core_console(rpc->core, peer, id, element, &err);
    if (!uri)
        rpc_fault(env, &err);
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

    if (peer && (id = rpc_param_string(env, params, 1, "id must be a string")) &&
        (yaml = rpc_param_string(env, params, 2, "graph_yaml must be a string")))
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
        rpc_fault(env, &err);
        goto cleanup;
    }
    v = xmlrpc_array_new(env);
    for (size_t i = 0; i < n; i++) {
        xmlrpc_value *st = xmlrpc_struct_new(env);
        rpc_put(env, st, "id", xmlrpc_string_new(env, items[i].id));
        rpc_put(env, st, "state", xmlrpc_string_new(env, pip_state_name(items[i].state)));
        rpc_put(env, st, "expires", xmlrpc_int_new(env, (int)items[i].expires_at));
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
    struct rpc_method table[CN_ARRAY_SIZE(methods)];

    rpc->core = core;
    for (size_t i = 0; i < CN_ARRAY_SIZE(rpc->power); i++)
        rpc->power[i] = (struct power_info){rpc, (enum pipd_power_op)i};
    for (size_t i = 0; i < CN_ARRAY_SIZE(methods); i++) {
        int op = methods[i].power_op;
        table[i] = (struct rpc_method){
            .name = methods[i].name,
            .fn = methods[i].fn,
            .info = op == NOT_POWER ? (void *)rpc : (void *)&rpc->power[op],
            .help = methods[i].help,
        };
    }
    rpc->server =
        rpc_server_new(cfg->listen_host, cfg->listen_port, 2 * cfg->max_request + XML_OVERHEAD,
                       table, CN_ARRAY_SIZE(table), err);
    if (!rpc->server) {
        free(rpc);
        return NULL;
    }
    return rpc;
}

int
pipd_rpc_run(struct pipd_rpc *rpc, struct cn_err *err)
{
    return rpc_server_run(rpc->server, err);
}

void
pipd_rpc_stop(struct pipd_rpc *rpc)
{
    rpc_server_stop(rpc->server);
}

void
pipd_rpc_free(struct pipd_rpc *rpc)
{
    if (!rpc)
        return;
    rpc_server_free(rpc->server);
    free(rpc);
}
