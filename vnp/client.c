/*
 * The negotiation interface's client (vnp/client.h) on xmlrpc-c's client
 * library with its curl transport. Each struct vnp_client owns its own
 * xmlrpc_client, so clients used from different threads share nothing but
 * the process-wide globals that vnp_client_global_init() sets up.
 *
 * The answers are decoded strictly: a member with the wrong type is an
 * answer this client cannot trust, so the call fails with CN_E_IO naming the
 * URL and the member rather than returning half a result. Unknown members are
 * ignored, so a newer peer can add to its answers.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#include "util/util.h"
#include "vnp/client.h"

#define VNP_CLIENT_NAME "cloudnet-vnp-client"
#define VNP_CLIENT_VERSION "1"
/* How long past its deadline a transfer curl has not failed is waited for. */
#define LATE_GIVE_UP_S 2.0
/* What xmlrpc-c's client puts before a fault string from the server. */
#define FAULT_PREAMBLE "RPC failed at server.  "

struct vnp_client {
    char *url;
    char *secret;
    unsigned timeout_ms;
    int last_fault;
    xmlrpc_client *xc;
    xmlrpc_server_info *server;
};

int
vnp_client_global_init(struct cn_err *err)
{
    xmlrpc_env env;
    int rc = 0;

    xmlrpc_env_init(&env);
    xmlrpc_client_setup_global_const(&env);
    if (env.fault_occurred)
        rc = cn_err_set(err, CN_E_INTERNAL, "XML-RPC client setup: %s", env.fault_string);
    xmlrpc_env_clean(&env);
    return rc;
}

void
vnp_client_global_cleanup(void)
{
    xmlrpc_client_teardown_global_const();
}

void
vnp_client_global_set_answer_limit(size_t bytes)
{
    xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, bytes);
}

/* A new xmlrpc_client for c; 0, or -1 with env set. */
static int
client_create(struct vnp_client *c, xmlrpc_env *env)
{
    /* xmlrpc-c rounds the timeout up to whole seconds for curl. */
    struct xmlrpc_curl_xportparms xp = {
        .user_agent = VNP_CLIENT_NAME "/" VNP_CLIENT_VERSION,
        .timeout = c->timeout_ms,
    };
    struct xmlrpc_clientparms cp = {
        .transport = "curl",
        .transportparmsP = &xp,
        .transportparm_size = XMLRPC_CXPSIZE(timeout),
    };

    xmlrpc_client_create(env, XMLRPC_CLIENT_NO_FLAGS, VNP_CLIENT_NAME, VNP_CLIENT_VERSION, &cp,
                         XMLRPC_CPSIZE(transportparm_size), &c->xc);
    if (env->fault_occurred) {
        c->xc = NULL;
        return -1;
    }
    return 0;
}

struct vnp_client *
vnp_client_new(const char *url, const char *secret, unsigned timeout_ms, struct cn_err *err)
{
    struct vnp_client *c = NULL;
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    if (!url || !(cn_startswith(url, "http://") || cn_startswith(url, "https://")) ||
        strlen(url) <= strlen("http://")) {
        cn_err_set(err, CN_E_INVALID, "'%s': not an http:// or https:// URL", url ? url : "");
        goto cleanup;
    }
    if (!secret || !*secret) {
        cn_err_set(err, CN_E_INVALID, "%s: no secret", url);
        goto cleanup;
    }
    c = xcalloc(1, sizeof(*c));
    c->url = xstrdup(url);
    c->secret = xstrdup(secret);
    c->timeout_ms = timeout_ms;
    if (client_create(c, &env) < 0) {
        cn_err_set(err, CN_E_INTERNAL, "%s: XML-RPC client: %s", url, env.fault_string);
    } else {
        c->server = xmlrpc_server_info_new(&env, url);
        if (env.fault_occurred) {
            c->server = NULL;
            cn_err_set(err, CN_E_INVALID, "%s: %s", url, env.fault_string);
        }
    }
    if (env.fault_occurred) {
        vnp_client_free(c);
        c = NULL;
    }
cleanup:
    xmlrpc_env_clean(&env);
    return c;
}

void
vnp_client_free(struct vnp_client *c)
{
    if (!c)
        return;
    if (c->server)
        xmlrpc_server_info_free(c->server);
    if (c->xc)
        xmlrpc_client_destroy(c->xc);
    explicit_bzero(c->secret, strlen(c->secret));
    free(c->secret);
    free(c->url);
    free(c);
}

const char *
vnp_client_url(const struct vnp_client *c)
{
    return c->url;
}

int
vnp_client_last_fault(const struct vnp_client *c)
{
    return c->last_fault;
}

/* ---- freeing results ---- */

void
vnp_reply_free(struct vnp_reply *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->state);
    free(r->manifest_yaml);
    free(r->reason);
    for (size_t i = 0; i < r->nelements; i++) {
        free(r->elements[i].element);
        free(r->elements[i].state);
    }
    free(r->elements);
    for (size_t i = 0; i < r->nproviders; i++) {
        free(r->providers[i].name);
        free(r->providers[i].state);
        free(r->providers[i].reason);
    }
    free(r->providers);
    free(r);
}

static void
amounts_free(struct vnp_amount *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i].name);
    free(a);
}

void
vnp_description_free(struct vnp_description *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->version);
    amounts_free(d->resources, d->nresources);
    amounts_free(d->capacity, d->ncapacity);
    amounts_free(d->largest_free, d->nlargest_free);
    for (size_t i = 0; i < d->nfeatures; i++) {
        free(d->features[i].name);
        for (size_t j = 0; j < d->features[i].nvalues; j++)
            free(d->features[i].values[j]);
        free(d->features[i].values);
    }
    free(d->features);
    free(d->vlan_ranges);
    for (size_t i = 0; i < d->ntransits; i++)
        free(d->transits[i].id);
    free(d->transits);
    free(d);
}

void
vnp_listing_free(struct vnp_listing *l, size_t n)
{
    if (!l)
        return;
    for (size_t i = 0; i < n; i++) {
        free(l[i].id);
        free(l[i].state);
    }
    free(l);
}

/* ---- the call ---- */

/* What an asynchronous call leaves for the waiting caller. */
struct pending {
    bool done;
    xmlrpc_env fault;
    xmlrpc_value *result;
};

static void
pending_done(const char *server_url, const char *method, xmlrpc_value *params, void *user,
             xmlrpc_env *fault, xmlrpc_value *result)
{
    struct pending *p = user;
    (void)server_url;
    (void)method;
    (void)params;
    p->done = true;
    if (fault->fault_occurred) {
        xmlrpc_env_set_fault(&p->fault, fault->fault_code, fault->fault_string);
    } else {
        xmlrpc_INCREF(result);
        p->result = result;
    }
}

/*
 * The curl transport notices its timeout only when its event loop wakes,
 * which a synchronous call does every few seconds. So the call is started
 * asynchronously and the event loop is run against the same deadline as
 * curl's (whole seconds): at the deadline curl finds the transfer late and
 * fails it, which frees everything it held.
 */
static void
call_with_deadline(struct vnp_client *c, const char *method, xmlrpc_value *params, xmlrpc_env *env,
                   xmlrpc_value **ret_result)
{
    struct pending p = {.done = false, .result = NULL};
    double deadline = cn_now() + (c->timeout_ms + 999) / 1000;

    xmlrpc_env_init(&p.fault);
    xmlrpc_client_start_rpc(env, c->xc, c->server, method, params, pending_done, &p);
    if (env->fault_occurred)
        goto cleanup;
    while (!p.done) {
        double left = deadline - cn_now();
        if (left < -LATE_GIVE_UP_S)
            break;
        xmlrpc_client_event_loop_finish_timeout(c->xc,
                                                left > 0 ? (unsigned long)(left * 1000.0) + 1 : 50);
    }
    if (!p.done) {
        /*
         * curl should have given up long ago. xmlrpc-c cannot cancel one
         * RPC, and the transfer must not outlive this frame (its handler
         * writes to p): the whole xmlrpc_client goes, leaking what the
         * transfer held, and a fresh one takes its place.
         */
        xmlrpc_client_destroy(c->xc);
        c->xc = NULL;
        if (client_create(c, env) < 0)
            goto cleanup;
        xmlrpc_env_set_fault(env, XMLRPC_TIMEOUT_ERROR, "timed out");
    } else if (p.fault.fault_occurred) {
        xmlrpc_env_set_fault(env, p.fault.fault_code, p.fault.fault_string);
        if (p.fault.fault_code == XMLRPC_NETWORK_ERROR && cn_now() >= deadline - 0.05)
            env->fault_code = XMLRPC_TIMEOUT_ERROR;
    } else {
        *ret_result = p.result;
    }
cleanup:
    xmlrpc_env_clean(&p.fault);
}

/*
 * Calls method with params (consumed: the caller passes its reference) and
 * returns the answer (the caller DECREFs it), or NULL with err set as the
 * header describes.
 */
static xmlrpc_value *
call(struct vnp_client *c, const char *method, xmlrpc_value *params, struct cn_err *err)
{
    xmlrpc_env env;
    xmlrpc_value *result = NULL;

    c->last_fault = 0;
    xmlrpc_env_init(&env);
    /* A timeout replaces the xmlrpc_client; if that failed, try again now. */
    if (!c->xc && client_create(c, &env) < 0) {
        xmlrpc_DECREF(params);
        cn_err_set(err, CN_E_INTERNAL, "%s: XML-RPC client: %s", c->url, env.fault_string);
        goto cleanup;
    }
    if (c->timeout_ms > 0)
        call_with_deadline(c, method, params, &env, &result);
    else
        xmlrpc_client_call2(&env, c->xc, c->server, method, params, &result);
    xmlrpc_DECREF(params);
    if (!env.fault_occurred)
        goto cleanup;
    result = NULL;
    if (env.fault_code > 0) {
        /*
         * The peer's own fault, passed on unchanged so a broker can forward
         * it, without the client library's preamble (which would pile up
         * along a chain of brokers).
         */
        const char *msg = env.fault_string;
        if (cn_startswith(msg, FAULT_PREAMBLE))
            msg += strlen(FAULT_PREAMBLE);
        c->last_fault = env.fault_code;
        cn_err_set(err, cn_code_of_fault(env.fault_code), "%s", msg);
    } else if (env.fault_code == XMLRPC_NO_SUCH_METHOD_ERROR) {
        c->last_fault = env.fault_code;
        cn_err_set(err, CN_E_INTERNAL, "%s: the peer does not know '%s': %s", c->url, method,
                   env.fault_string);
    } else if (env.fault_code == XMLRPC_TIMEOUT_ERROR) {
        cn_err_set(err, CN_E_TIMEOUT, "%s: no answer within %u ms", c->url, c->timeout_ms);
    } else {
        /* curl's own words are the useful part of the transport's message. */
        const char *why = strstr(env.fault_string, "explaining:");
        why = why ? why + strlen("explaining:") : env.fault_string;
        why += strspn(why, " ");
        cn_err_set(err, CN_E_IO, "%s: %s", c->url, why);
    }
cleanup:
    xmlrpc_env_clean(&env);
    return result;
}

/* The parameter array (secret, ...), built with xmlrpc_build_value's format. */
static xmlrpc_value *
params_new(const struct vnp_client *c, struct cn_err *err, const char *fmt, ...)
{
    xmlrpc_env env;
    xmlrpc_value *v = NULL;
    const char *tail = NULL;
    va_list ap;

    xmlrpc_env_init(&env);
    va_start(ap, fmt);
    xmlrpc_build_value_va(&env, fmt, ap, &v, &tail);
    va_end(ap);
    if (env.fault_occurred) {
        cn_err_set(err, CN_E_INTERNAL, "%s: building the call: %s", c->url, env.fault_string);
        v = NULL;
    }
    xmlrpc_env_clean(&env);
    return v;
}

/* ---- decoding answers ---- */

static int
bad_answer(const struct vnp_client *c, const char *method, const char *what, struct cn_err *err)
{
    return cn_err_set(err, CN_E_IO, "%s: %s: malformed answer: %s", c->url, method, what);
}

static char *
read_string(xmlrpc_value *v)
{
    xmlrpc_env env;
    const char *s = NULL;
    char *copy = NULL;

    xmlrpc_env_init(&env);
    if (xmlrpc_value_type(v) == XMLRPC_TYPE_STRING) {
        xmlrpc_read_string(&env, v, &s);
        if (!env.fault_occurred) {
            copy = xstrdup(s);
            free((void *)(uintptr_t)s);
        }
    }
    xmlrpc_env_clean(&env);
    return copy;
}

/* Any XML-RPC number as a double; -1 when v is not a number. */
static int
read_number(xmlrpc_value *v, double *ret)
{
    xmlrpc_env env;
    int rc = 0;

    xmlrpc_env_init(&env);
    switch (xmlrpc_value_type(v)) {
    case XMLRPC_TYPE_INT: {
        int i = 0;
        xmlrpc_read_int(&env, v, &i);
        *ret = i;
        break;
    }
    case XMLRPC_TYPE_I8: {
        xmlrpc_int64 i = 0;
        xmlrpc_read_i8(&env, v, &i);
        *ret = (double)i;
        break;
    }
    case XMLRPC_TYPE_DOUBLE:
        xmlrpc_read_double(&env, v, ret);
        break;
    default:
        rc = -1;
    }
    if (env.fault_occurred)
        rc = -1;
    xmlrpc_env_clean(&env);
    return rc;
}

/* The member key of st (a new reference: DECREF it), or NULL when missing. */
static xmlrpc_value *
member(xmlrpc_value *st, const char *key)
{
    xmlrpc_env env;
    xmlrpc_value *v = NULL;

    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, st, key, &v);
    if (env.fault_occurred)
        v = NULL;
    xmlrpc_env_clean(&env);
    return v;
}

/*
 * A string member into *ret (new); a missing member leaves NULL when
 * optional. -1 when it has another type or a required one is missing.
 */
static int
string_member(xmlrpc_value *st, const char *key, bool required, char **ret)
{
    xmlrpc_value *v = member(st, key);
    *ret = NULL;
    if (!v)
        return required ? -1 : 0;
    *ret = read_string(v);
    xmlrpc_DECREF(v);
    return *ret ? 0 : -1;
}

static int
number_member(xmlrpc_value *st, const char *key, double *ret)
{
    xmlrpc_value *v = member(st, key);
    int rc = 0;
    if (!v)
        return 0;
    rc = read_number(v, ret);
    xmlrpc_DECREF(v);
    return rc;
}

static int
size_of(xmlrpc_value *v, bool is_struct, size_t *ret)
{
    xmlrpc_env env;
    int n;

    if (xmlrpc_value_type(v) != (is_struct ? XMLRPC_TYPE_STRUCT : XMLRPC_TYPE_ARRAY))
        return -1;
    xmlrpc_env_init(&env);
    n = is_struct ? xmlrpc_struct_size(&env, v) : xmlrpc_array_size(&env, v);
    if (env.fault_occurred || n < 0)
        n = -1;
    xmlrpc_env_clean(&env);
    if (n < 0)
        return -1;
    *ret = (size_t)n;
    return 0;
}

/* Member i of a struct: its key (new) and value (DECREF it). */
static int
struct_item(xmlrpc_value *st, size_t i, char **ret_key, xmlrpc_value **ret_value)
{
    xmlrpc_env env;
    xmlrpc_value *k = NULL, *v = NULL;
    int rc = -1;

    xmlrpc_env_init(&env);
    xmlrpc_struct_read_member(&env, st, (unsigned)i, &k, &v);
    if (!env.fault_occurred) {
        *ret_key = read_string(k);
        *ret_value = v;
        xmlrpc_DECREF(k);
        rc = *ret_key ? 0 : -1;
        if (rc < 0)
            xmlrpc_DECREF(v);
    }
    xmlrpc_env_clean(&env);
    return rc;
}

/* Item i of an array (DECREF it). */
static xmlrpc_value *
array_item(xmlrpc_value *a, size_t i)
{
    xmlrpc_env env;
    xmlrpc_value *v = NULL;

    xmlrpc_env_init(&env);
    xmlrpc_array_read_item(&env, a, (unsigned)i, &v);
    if (env.fault_occurred)
        v = NULL;
    xmlrpc_env_clean(&env);
    return v;
}

static int
cmp_element(const void *a, const void *b)
{
    const struct vnp_element_state *x = a, *y = b;
    return strcmp(x->element, y->element);
}

static int
parse_elements(xmlrpc_value *st, struct vnp_reply *r)
{
    size_t n;

    if (size_of(st, true, &n) < 0)
        return -1;
    r->elements = xcalloc(n ? n : 1, sizeof(*r->elements));
    for (size_t i = 0; i < n; i++) {
        char *key;
        xmlrpc_value *v;
        if (struct_item(st, i, &key, &v) < 0)
            return -1;
        char *state = read_string(v);
        xmlrpc_DECREF(v);
        if (!state) {
            free(key);
            return -1;
        }
        r->elements[r->nelements].element = key;
        r->elements[r->nelements].state = state;
        r->nelements++;
    }
    /* Peers keep no particular order; callers print and compare these. */
    qsort(r->elements, r->nelements, sizeof(*r->elements), cmp_element);
    return 0;
}

static int
parse_providers(xmlrpc_value *a, struct vnp_reply *r)
{
    size_t n;

    if (size_of(a, false, &n) < 0)
        return -1;
    r->providers = xcalloc(n ? n : 1, sizeof(*r->providers));
    for (size_t i = 0; i < n; i++) {
        xmlrpc_value *p = array_item(a, i);
        struct vnp_provider_report *pr = &r->providers[r->nproviders];
        double ms = 0;
        int rc = -1;
        if (!p)
            return -1;
        if (xmlrpc_value_type(p) == XMLRPC_TYPE_STRUCT &&
            string_member(p, "name", true, &pr->name) == 0 &&
            string_member(p, "state", true, &pr->state) == 0 &&
            string_member(p, "reason", false, &pr->reason) == 0 && number_member(p, "ms", &ms) == 0)
            rc = 0;
        pr->ms = ms;
        r->nproviders++;
        xmlrpc_DECREF(p);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static struct vnp_reply *
parse_reply(const struct vnp_client *c, const char *method, xmlrpc_value *v, struct cn_err *err)
{
    struct vnp_reply *r = xcalloc(1, sizeof(*r));
    xmlrpc_value *m = NULL;
    double expires = 0;
    const char *what = NULL;

    if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRUCT)
        what = "not a struct";
    else if (string_member(v, "id", true, &r->id) < 0)
        what = "'id' missing or not a string";
    else if (string_member(v, "state", true, &r->state) < 0)
        what = "'state' missing or not a string";
    else if (number_member(v, "expires", &expires) < 0)
        what = "'expires' is not a number";
    else if (string_member(v, "manifest_yaml", false, &r->manifest_yaml) < 0)
        what = "'manifest_yaml' is not a string";
    else if (string_member(v, "reason", false, &r->reason) < 0)
        what = "'reason' is not a string";
    if (!what && (m = member(v, "elements")) && parse_elements(m, r) < 0)
        what = "'elements' is not a struct of strings";
    if (m)
        xmlrpc_DECREF(m);
    m = NULL;
    if (!what && (m = member(v, "providers")) && parse_providers(m, r) < 0)
        what = "'providers' is not an array of {name, state, ms, reason}";
    if (m)
        xmlrpc_DECREF(m);
    if (what) {
        bad_answer(c, method, what, err);
        vnp_reply_free(r);
        return NULL;
    }
    r->expires = (long long)expires;
    return r;
}

/* Calls a method that answers the result struct. */
static struct vnp_reply *
reply_call(struct vnp_client *c, const char *method, xmlrpc_value *params, struct cn_err *err)
{
    struct vnp_reply *r;
    xmlrpc_value *v;

    if (!params)
        return NULL;
    v = call(c, method, params, err);
    if (!v)
        return NULL;
    r = parse_reply(c, method, v, err);
    xmlrpc_DECREF(v);
    return r;
}

static int
check_lease(const struct vnp_client *c, long lease_s, struct cn_err *err)
{
    if (lease_s < INT_MIN || lease_s > INT_MAX)
        return cn_err_set(err, CN_E_INVALID, "%s: lease %ld s out of range", c->url, lease_s);
    return 0;
}

/* xmlrpc-c cannot encode a NULL string, so missing arguments stop here. */
static int
check_args(const struct vnp_client *c, const char *id, const char *other, const char *other_name,
           struct cn_err *err)
{
    if (!id || !*id)
        return cn_err_set(err, CN_E_INVALID, "%s: no CloudNet id", c->url);
    if (other_name && !other)
        return cn_err_set(err, CN_E_INVALID, "%s: no %s", c->url, other_name);
    return 0;
}

/* ---- describe ---- */

static int
parse_amounts(xmlrpc_value *st, struct vnp_amount **ret, size_t *ret_n)
{
    size_t n;

    if (!st)
        return 0;
    if (size_of(st, true, &n) < 0)
        return -1;
    *ret = xcalloc(n ? n : 1, sizeof(**ret));
    for (size_t i = 0; i < n; i++) {
        char *key;
        xmlrpc_value *v;
        double d;
        if (struct_item(st, i, &key, &v) < 0)
            return -1;
        int rc = read_number(v, &d);
        xmlrpc_DECREF(v);
        if (rc < 0) {
            free(key);
            return -1;
        }
        (*ret)[*ret_n].name = key;
        (*ret)[*ret_n].value = d;
        (*ret_n)++;
    }
    return 0;
}

static int
parse_features(xmlrpc_value *st, struct vnp_description *d)
{
    size_t n;

    if (!st)
        return 0;
    if (size_of(st, true, &n) < 0)
        return -1;
    d->features = xcalloc(n ? n : 1, sizeof(*d->features));
    for (size_t i = 0; i < n; i++) {
        struct vnp_feature_values *f = &d->features[d->nfeatures];
        xmlrpc_value *vals;
        size_t nv;
        if (struct_item(st, i, &f->name, &vals) < 0)
            return -1;
        d->nfeatures++;
        int rc = size_of(vals, false, &nv);
        if (rc == 0) {
            f->values = xcalloc(nv ? nv : 1, sizeof(*f->values));
            for (size_t j = 0; j < nv && rc == 0; j++) {
                xmlrpc_value *s = array_item(vals, j);
                char *str = s ? read_string(s) : NULL;
                if (s)
                    xmlrpc_DECREF(s);
                if (!str)
                    rc = -1;
                else
                    f->values[f->nvalues++] = str;
            }
        }
        xmlrpc_DECREF(vals);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* [first, last] as two ints. */
static int
parse_range(xmlrpc_value *a, int *ret_first, int *ret_last)
{
    size_t n;
    double v[2] = {0, 0};

    if (size_of(a, false, &n) < 0 || n != 2)
        return -1;
    for (size_t i = 0; i < 2; i++) {
        xmlrpc_value *item = array_item(a, i);
        int rc = item ? read_number(item, &v[i]) : -1;
        if (item)
            xmlrpc_DECREF(item);
        if (rc < 0)
            return -1;
    }
    *ret_first = (int)v[0];
    *ret_last = (int)v[1];
    return 0;
}

static int
parse_vlan_ranges(xmlrpc_value *a, struct vnp_description *d)
{
    size_t n;

    if (!a)
        return 0;
    if (size_of(a, false, &n) < 0)
        return -1;
    d->vlan_ranges = xcalloc(n ? n : 1, sizeof(*d->vlan_ranges));
    for (size_t i = 0; i < n; i++) {
        xmlrpc_value *r = array_item(a, i);
        int rc = r ? parse_range(r, &d->vlan_ranges[i].first, &d->vlan_ranges[i].last) : -1;
        if (r)
            xmlrpc_DECREF(r);
        if (rc < 0)
            return -1;
        d->nvlan_ranges++;
    }
    return 0;
}

static int
parse_transits(xmlrpc_value *a, struct vnp_description *d)
{
    size_t n;

    if (!a)
        return 0;
    if (size_of(a, false, &n) < 0)
        return -1;
    d->transits = xcalloc(n ? n : 1, sizeof(*d->transits));
    for (size_t i = 0; i < n; i++) {
        xmlrpc_value *t = array_item(a, i), *range = NULL;
        struct vnp_transit_info *ti = &d->transits[d->ntransits];
        int rc = -1;
        if (t && xmlrpc_value_type(t) == XMLRPC_TYPE_STRUCT &&
            string_member(t, "id", true, &ti->id) == 0) {
            d->ntransits++;
            range = member(t, "vlan_range");
            rc = range ? parse_range(range, &ti->first, &ti->last) : 0;
        }
        if (range)
            xmlrpc_DECREF(range);
        if (t)
            xmlrpc_DECREF(t);
        if (rc < 0)
            return -1;
    }
    return 0;
}

struct vnp_description *
vnp_client_describe(struct vnp_client *c, struct cn_err *err)
{
    struct vnp_description *d = NULL;
    xmlrpc_value *params = params_new(c, err, "(s)", c->secret);
    xmlrpc_value *v, *m;
    const char *what = NULL;

    if (!params)
        return NULL;
    v = call(c, "describe", params, err);
    if (!v)
        return NULL;
    d = xcalloc(1, sizeof(*d));
    if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRUCT)
        what = "not a struct";
    else if (string_member(v, "name", true, &d->name) < 0)
        what = "'name' missing or not a string";
    else if (string_member(v, "version", false, &d->version) < 0)
        what = "'version' is not a string";
    if (!what) {
        m = member(v, "resources");
        if (parse_amounts(m, &d->resources, &d->nresources) < 0)
            what = "'resources' is not a struct of numbers";
        if (m)
            xmlrpc_DECREF(m);
    }
    if (!what) {
        m = member(v, "capacity");
        if (parse_amounts(m, &d->capacity, &d->ncapacity) < 0)
            what = "'capacity' is not a struct of numbers";
        if (m)
            xmlrpc_DECREF(m);
    }
    if (!what) {
        m = member(v, "largest_free");
        if (parse_amounts(m, &d->largest_free, &d->nlargest_free) < 0)
            what = "'largest_free' is not a struct of numbers";
        if (m)
            xmlrpc_DECREF(m);
    }
    if (!what) {
        m = member(v, "features");
        if (parse_features(m, d) < 0)
            what = "'features' is not a struct of string arrays";
        if (m)
            xmlrpc_DECREF(m);
    }
    if (!what) {
        m = member(v, "vlan_ranges");
        if (parse_vlan_ranges(m, d) < 0)
            what = "'vlan_ranges' is not an array of [first, last]";
        if (m)
            xmlrpc_DECREF(m);
    }
    if (!what) {
        m = member(v, "transit");
        if (parse_transits(m, d) < 0)
            what = "'transit' is not an array of {id, vlan_range}";
        if (m)
            xmlrpc_DECREF(m);
    }
    xmlrpc_DECREF(v);
    if (what) {
        bad_answer(c, "describe", what, err);
        vnp_description_free(d);
        return NULL;
    }
    return d;
}

/* ---- the result-struct methods ---- */

struct vnp_reply *
vnp_client_negotiate(struct vnp_client *c, const char *id, const char *yaml, long lease_s,
                     struct cn_err *err)
{
    if (check_args(c, id, yaml, "graph", err) < 0 || check_lease(c, lease_s, err) < 0)
        return NULL;
    return reply_call(c, "negotiate",
                      params_new(c, err, "(sssi)", c->secret, id, yaml, (int)lease_s), err);
}

struct vnp_reply *
vnp_client_modify(struct vnp_client *c, const char *id, const char *yaml, struct cn_err *err)
{
    if (check_args(c, id, yaml, "graph", err) < 0)
        return NULL;
    return reply_call(c, "modify", params_new(c, err, "(sss)", c->secret, id, yaml), err);
}

struct vnp_reply *
vnp_client_confirm(struct vnp_client *c, const char *id, struct cn_err *err)
{
    if (check_args(c, id, NULL, NULL, err) < 0)
        return NULL;
    return reply_call(c, "confirm", params_new(c, err, "(ss)", c->secret, id), err);
}

struct vnp_reply *
vnp_client_release(struct vnp_client *c, const char *id, struct cn_err *err)
{
    if (check_args(c, id, NULL, NULL, err) < 0)
        return NULL;
    return reply_call(c, "release", params_new(c, err, "(ss)", c->secret, id), err);
}

struct vnp_reply *
vnp_client_renew(struct vnp_client *c, const char *id, long lease_s, struct cn_err *err)
{
    if (check_args(c, id, NULL, NULL, err) < 0 || check_lease(c, lease_s, err) < 0)
        return NULL;
    return reply_call(c, "renew", params_new(c, err, "(ssi)", c->secret, id, (int)lease_s), err);
}

struct vnp_reply *
vnp_client_status(struct vnp_client *c, const char *id, struct cn_err *err)
{
    if (check_args(c, id, NULL, NULL, err) < 0)
        return NULL;
    return reply_call(c, "status", params_new(c, err, "(ss)", c->secret, id), err);
}

struct vnp_reply *
vnp_client_power(struct vnp_client *c, enum vnp_power_op op, const char *id,
                 const char *const *elements, size_t nelements, struct cn_err *err)
{
    static const char *const methods[] = {
        [VNP_START] = "start",
        [VNP_STOP] = "stop",
        [VNP_POWERCYCLE] = "powercycle",
    };
    xmlrpc_value *params, *list;
    xmlrpc_env env;

    if (check_args(c, id, NULL, NULL, err) < 0)
        return NULL;
    for (size_t i = 0; i < nelements; i++)
        if (!elements[i]) {
            cn_err_set(err, CN_E_INVALID, "%s: element %zu is NULL", c->url, i);
            return NULL;
        }
    if ((unsigned)op >= CN_ARRAY_SIZE(methods)) {
        cn_err_set(err, CN_E_INVALID, "%s: unknown power operation %d", c->url, (int)op);
        return NULL;
    }
    /* No array at all means every VNode, for peers that predate the optional argument. */
    if (nelements == 0)
        return reply_call(c, methods[op], params_new(c, err, "(ss)", c->secret, id), err);
    params = params_new(c, err, "(ss)", c->secret, id);
    if (!params)
        return NULL;
    xmlrpc_env_init(&env);
    list = xmlrpc_array_new(&env);
    for (size_t i = 0; i < nelements && !env.fault_occurred; i++) {
        xmlrpc_value *s = xmlrpc_string_new(&env, elements[i]);
        if (!env.fault_occurred) {
            xmlrpc_array_append_item(&env, list, s);
            xmlrpc_DECREF(s);
        }
    }
    if (!env.fault_occurred)
        xmlrpc_array_append_item(&env, params, list);
    if (list)
        xmlrpc_DECREF(list);
    if (env.fault_occurred) {
        cn_err_set(err, CN_E_INVALID, "%s: building the call: %s", c->url, env.fault_string);
        xmlrpc_DECREF(params);
        xmlrpc_env_clean(&env);
        return NULL;
    }
    xmlrpc_env_clean(&env);
    return reply_call(c, methods[op], params, err);
}

char *
vnp_client_console(struct vnp_client *c, const char *id, const char *element, struct cn_err *err)
{
    xmlrpc_value *params, *v;
    char *s;

    if (check_args(c, id, element, "element", err) < 0)
        return NULL;
    params = params_new(c, err, "(sss)", c->secret, id, element);
    if (!params)
        return NULL;
    v = call(c, "console", params, err);
    if (!v)
        return NULL;
    s = read_string(v);
    xmlrpc_DECREF(v);
    if (!s)
        bad_answer(c, "console", "not a string", err);
    return s;
}

int
vnp_client_list(struct vnp_client *c, struct vnp_listing **ret_list, size_t *ret_n,
                struct cn_err *err)
{
    xmlrpc_value *params = params_new(c, err, "(s)", c->secret);
    xmlrpc_value *v;
    struct vnp_listing *l = NULL;
    size_t n = 0, count = 0;
    int rc = -1;

    if (!params)
        return -1;
    v = call(c, "list", params, err);
    if (!v)
        return -1;
    if (size_of(v, false, &n) < 0) {
        bad_answer(c, "list", "not an array", err);
        goto cleanup;
    }
    l = xcalloc(n ? n : 1, sizeof(*l));
    for (; count < n; count++) {
        xmlrpc_value *item = array_item(v, count);
        double expires = 0;
        int ok = item && xmlrpc_value_type(item) == XMLRPC_TYPE_STRUCT &&
                 string_member(item, "id", true, &l[count].id) == 0 &&
                 string_member(item, "state", true, &l[count].state) == 0 &&
                 number_member(item, "expires", &expires) == 0;
        if (item)
            xmlrpc_DECREF(item);
        l[count].expires = (long long)expires;
        if (!ok) {
            count++;
            bad_answer(c, "list", "not an array of {id, state, expires}", err);
            goto cleanup;
        }
    }
    *ret_list = l;
    *ret_n = n;
    l = NULL;
    rc = 0;
cleanup:
    vnp_listing_free(l, count);
    xmlrpc_DECREF(v);
    return rc;
}

void
vnp_provider_reports_free(struct vnp_provider_report *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].name);
        free(p[i].state);
        free(p[i].reason);
    }
    free(p);
}

/* A boolean member, also taken as an int (0 or not). -1 when missing or of another type. */
static int
flag_member(xmlrpc_value *st, const char *key, bool *ret)
{
    xmlrpc_value *v = member(st, key);
    xmlrpc_env env;
    double d = 0;
    int rc = -1;

    if (!v)
        return -1;
    xmlrpc_env_init(&env);
    if (xmlrpc_value_type(v) == XMLRPC_TYPE_BOOL) {
        xmlrpc_bool b = 0;
        xmlrpc_read_bool(&env, v, &b);
        if (!env.fault_occurred) {
            *ret = b != 0;
            rc = 0;
        }
    } else if (read_number(v, &d) == 0) {
        *ret = d != 0;
        rc = 0;
    }
    xmlrpc_env_clean(&env);
    xmlrpc_DECREF(v);
    return rc;
}

int
vnp_client_progress(struct vnp_client *c, const char *id, struct vnp_provider_report **ret,
                    size_t *ret_n, bool *ret_done, struct cn_err *err)
{
    struct vnp_reply r = {0};
    xmlrpc_value *v, *m = NULL, *params;
    const char *what = NULL;
    bool done = false;

    if (check_args(c, id, NULL, NULL, err) < 0)
        return -1;
    params = params_new(c, err, "(ss)", c->secret, id);
    if (!params)
        return -1;
    v = call(c, "progress", params, err);
    if (!v)
        return -1;
    if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRUCT)
        what = "not a struct";
    else if (flag_member(v, "done", &done) < 0)
        what = "'done' missing or not a boolean";
    else if (!(m = member(v, "providers")) || parse_providers(m, &r) < 0)
        what = "'providers' is not an array of {name, state, ms, reason}";
    if (m)
        xmlrpc_DECREF(m);
    xmlrpc_DECREF(v);
    if (what) {
        vnp_provider_reports_free(r.providers, r.nproviders);
        return bad_answer(c, "progress", what, err);
    }
    *ret = r.providers;
    *ret_n = r.nproviders;
    *ret_done = done;
    return 0;
}
