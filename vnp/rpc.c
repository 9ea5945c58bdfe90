/*
 * vnpd's XML-RPC face, the only file of vnp/ that includes the xmlrpc-c
 * server headers: the same methods, result struct and fault codes as pipd
 * (docs/pipd.md) on the shared server (rpc/server.h), answered by the
 * broker. The secret, always the first parameter, is checked before
 * anything else; parameters are then taken apart with rpc_decompose, and a
 * mismatch is fault 1.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "rpc/server.h"
#include "util/util.h"
#include "vnp/vnpd.h"

#define XML_OVERHEAD (64u * 1024)
/* xmlrpc-c's default limit, what a client of the library gets unless raised. */
#define ANSWER_LIMIT_MIN (512u * 1024)

struct vnpd_rpc {
    struct vnpd_broker *broker;
    struct rpc_server *server;
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
free_str(const char *s)
{
    free((void *)(uintptr_t)s);
}

static const char *
broker_authenticate(const void *broker, const char *secret, struct cn_err *err)
{
    return vnpd_broker_authenticate(broker, secret, err);
}

/* The caller's peer name after checking the secret, or NULL with a fault. */
static const char *
authenticate(xmlrpc_env *env, const struct vnpd_rpc *rpc, xmlrpc_value *params)
{
    return rpc_authenticate(env, params, broker_authenticate, rpc->broker);
}

static xmlrpc_value *
answer(xmlrpc_env *env, struct vnp_reply *r, const struct cn_err *err)
{
    xmlrpc_value *st;
    if (!r) {
        rpc_fault(env, err);
        return NULL;
    }
    st = rpc_result_new(env, r->id, r->state, r->expires, r->manifest_yaml, r->reason);
    if (r->elements) {
        xmlrpc_value *els = xmlrpc_struct_new(env);
        for (size_t i = 0; i < r->nelements; i++)
            rpc_put(env, els, r->elements[i].element, xmlrpc_string_new(env, r->elements[i].state));
        rpc_put(env, st, "elements", els);
    }
    if (r->providers) {
        xmlrpc_value *list = xmlrpc_array_new(env);
        for (size_t i = 0; i < r->nproviders; i++) {
            const struct vnp_provider_report *p = &r->providers[i];
            xmlrpc_value *one = xmlrpc_build_value(env, "{s:s,s:s,s:i}", "name", p->name, "state",
                                                   p->state, "ms", (int)(p->ms + 0.5));
            if (p->reason)
                rpc_put(env, one, "reason", xmlrpc_string_new(env, p->reason));
            xmlrpc_array_append_item(env, list, one);
            xmlrpc_DECREF(one);
        }
        rpc_put(env, st, "providers", list);
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
        rpc_put(env, st, a[i].name, xmlrpc_double_new(env, a[i].value));
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

    if (!authenticate(env, rpc, params) ||
        rpc_decompose(env, params, "describe(secret)", "(s)", &secret))
        goto cleanup;
    struct vnp_description *d = vnpd_broker_describe(rpc->broker, &err);
    if (!d) {
        rpc_fault(env, &err);
        goto cleanup;
    }
    st = xmlrpc_build_value(env, "{s:s,s:s}", "name", d->name, "version", d->version);
    rpc_put(env, st, "resources", amounts(env, d->resources, d->nresources));
    rpc_put(env, st, "capacity", amounts(env, d->capacity, d->ncapacity));
    rpc_put(env, st, "largest_free", amounts(env, d->largest_free, d->nlargest_free));
    xmlrpc_value *feat = xmlrpc_struct_new(env);
    for (size_t i = 0; i < d->nfeatures; i++)
        rpc_put(env, feat, d->features[i].name,
                rpc_string_array(env, (const char *const *)d->features[i].values,
                                 d->features[i].nvalues));
    rpc_put(env, st, "features", feat);
    /* A VNP sells no tags or transit of its own (vnp_plan_describe). */
    rpc_put(env, st, "vlan_ranges", xmlrpc_array_new(env));
    rpc_put(env, st, "transit", xmlrpc_array_new(env));
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
        !rpc_decompose(env, params, "negotiate(secret, id, graph_yaml, lease_s)", "(sssi)", &secret,
                       &id, &yaml, &lease))
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
        !rpc_decompose(env, params, "(secret, id) expected", "(ss)", &secret, &id))
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
        !rpc_decompose(env, params, "renew(secret, id, lease_s)", "(ssi)", &secret, &id, &lease))
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
    const char *secret = NULL, *id = NULL, *peer;
    char **names = NULL;
    xmlrpc_value *v = NULL, *list = NULL;
    size_t n = 0;
    const char *usage = "(secret, id [, array of element names]) expected";

    if (!(peer = authenticate(env, rpc, params)))
        goto cleanup;
    if (xmlrpc_array_size(env, params) == 2
            ? rpc_decompose(env, params, usage, "(ss)", &secret, &id)
            : rpc_decompose(env, params, usage, "(ssA)", &secret, &id, &list))
        goto cleanup;
    if (list &&
        rpc_array_strings(env, list, "elements must be an array of strings", &names, &n) < 0)
        goto cleanup;
    v = answer(env,
               vnpd_broker_power(rpc->broker, peer, id, op, (const char *const *)names, n, &err),
               &err);
cleanup:
    rpc_strings_free(names, n);
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
        !rpc_decompose(env, params, "console(secret, id, element)", "(sss)", &secret, &id,
                       &element)) {
        char *uri = vnpd_broker_console(rpc->broker, peer, id, element, &err);
        if (uri)
            v = xmlrpc_string_new(env, uri);
        else
            rpc_fault(env, &err);
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
        rpc_decompose(env, params, "list(secret)", "(s)", &secret))
        goto cleanup;
    if (vnpd_broker_list(rpc->broker, peer, &items, &n, &err) < 0) {
        rpc_fault(env, &err);
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

/* progress(secret, id): answers at once, whatever negotiation holds id. */
static xmlrpc_value *
m_progress(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct vnpd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    const char *secret = NULL, *id = NULL, *peer;
    struct vnp_provider_report *reps = NULL;
    size_t n = 0;
    bool done = false;
    xmlrpc_value *v = NULL;
    (void)call;

    if (!(peer = authenticate(env, rpc, params)) ||
        rpc_decompose(env, params, "progress(secret, id)", "(ss)", &secret, &id))
        goto cleanup;
    if (vnpd_broker_progress(rpc->broker, peer, id, &reps, &n, &done, &err) < 0) {
        rpc_fault(env, &err);
        goto cleanup;
    }
    xmlrpc_value *list = xmlrpc_array_new(env);
    for (size_t i = 0; i < n; i++) {
        xmlrpc_value *one = xmlrpc_build_value(env, "{s:s,s:s,s:i}", "name", reps[i].name, "state",
                                               reps[i].state, "ms", (int)(reps[i].ms + 0.5));
        if (reps[i].reason)
            rpc_put(env, one, "reason", xmlrpc_string_new(env, reps[i].reason));
        xmlrpc_array_append_item(env, list, one);
        xmlrpc_DECREF(one);
    }
    v = xmlrpc_build_value(env, "{s:s,s:b}", "id", id, "done", (xmlrpc_bool)done);
    rpc_put(env, v, "providers", list);
cleanup:
    vnp_provider_reports_free(reps, n);
    free_str(secret);
    free_str(id);
    cn_err_release(&err);
    return v;
}

static xmlrpc_value *
m_modify(xmlrpc_env *env, xmlrpc_value *params, void *info, void *call)
{
    struct vnpd_rpc *rpc = info;
    struct cn_err err = CN_ERR_INIT;
    const char *secret = NULL, *id = NULL, *yaml = NULL, *peer;
    xmlrpc_value *v = NULL;
    (void)call;

    if ((peer = authenticate(env, rpc, params)) &&
        !rpc_decompose(env, params, "modify(secret, id, graph_yaml)", "(sss)", &secret, &id, &yaml))
        v = answer(env, vnpd_broker_modify(rpc->broker, peer, id, yaml, &err), &err);
    free_str(secret);
    free_str(id);
    free_str(yaml);
    cn_err_release(&err);
    return v;
}

static const struct rpc_method methods[] = {
    {.name = "describe", .fn = m_describe}, {.name = "negotiate", .fn = m_negotiate},
    {.name = "modify", .fn = m_modify},     {.name = "confirm", .fn = m_confirm},
    {.name = "release", .fn = m_release},   {.name = "renew", .fn = m_renew},
    {.name = "status", .fn = m_status},     {.name = "start", .fn = m_start},
    {.name = "stop", .fn = m_stop},         {.name = "powercycle", .fn = m_powercycle},
    {.name = "console", .fn = m_console},   {.name = "list", .fn = m_list},
    {.name = "progress", .fn = m_progress},
};

/* ---- the server ---- */

struct vnpd_rpc *
vnpd_rpc_new(struct vnpd_broker *b, const struct vnpd_config *cfg, struct cn_err *err)
{
    struct vnpd_rpc *rpc = xcalloc(1, sizeof(*rpc));
    struct rpc_method table[CN_ARRAY_SIZE(methods)];

    rpc->broker = b;
    for (size_t i = 0; i < CN_ARRAY_SIZE(methods); i++) {
        table[i] = methods[i];
        table[i].info = rpc;
    }
    rpc->server = rpc_server_new(cfg->listen_host, cfg->listen_port, xml_limit(cfg->max_request),
                                 table, CN_ARRAY_SIZE(table), err);
    if (!rpc->server) {
        free(rpc);
        return NULL;
    }
    return rpc;
}

int
vnpd_rpc_run(struct vnpd_rpc *rpc, struct cn_err *err)
{
    return rpc_server_run(rpc->server, err);
}

void
vnpd_rpc_stop(struct vnpd_rpc *rpc)
{
    rpc_server_stop(rpc->server);
}

void
vnpd_rpc_free(struct vnpd_rpc *rpc)
{
    if (!rpc)
        return;
    rpc_server_free(rpc->server);
    free(rpc);
}
