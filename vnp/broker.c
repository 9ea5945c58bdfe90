/*
 * vnpd's broker: the negotiation interface (DESIGN section 4) answered by
 * talking to the PIPs it brokers (docs/vnpd.md, docs/federation.md).
 *
 * One mutex serialises every call, the chores and recovery: the store is
 * one database connection, and a negotiation must see the PIPs' capacity
 * without a competing negotiation of this VNP in between. Inside a call the
 * PIPs are talked to in parallel, one thread and one client per PIP.
 *
 * Everything that touches a PIP is recorded before it happens: the request
 * row and an operation entry before the first call, a part row before a
 * PIP is asked, so a crash at any point leaves enough behind for recovery
 * to undo it. A release a PIP did not acknowledge (it was down or did not
 * answer in time) leaves its part in release-pending, and the chores retry
 * it, because a negotiation that timed out here may still complete there.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mapping/mapping.h"
#include "rdl/rdl.h"
#include "util/util.h"
#include "vnp/vnpd.h"

/* The PIPs' describe() answers, as one synchronisation got them. */
struct sync {
    struct call *calls;
    struct vnp_pip_view *views;
    size_t n;
    double at;     /* cn_now() of the synchronisation */
    bool borrowed; /* the broker's cache: not freed by sync_release */
};

struct vnpd_broker {
    const struct vnpd_config *cfg;
    struct vnpd_store *store;
    pthread_mutex_t lock;
    struct sync cache; /* the last synchronisation, with sync-max-age */
};

enum call_kind {
    CALL_DESCRIBE,
    CALL_NEGOTIATE,
    CALL_CONFIRM,
    CALL_START,
    CALL_RELEASE,
    CALL_RENEW,
    CALL_STATUS,
    CALL_POWER,
    CALL_CONSOLES,
};

/* One call to one PIP, run on a thread of its own. */
struct call {
    const struct vnpd_pip *pip;
    enum call_kind kind;
    const char *id;
    const char *yaml;
    long lease_s;
    enum vnp_power_op op;
    const char *const *elements; /* power: the VNodes; consoles: whose consoles */
    size_t nelements;
    unsigned timeout_s;
    /* results */
    struct vnp_reply *reply;
    struct vnp_description *desc;
    char **consoles; /* CALL_CONSOLES: one per element, NULL when unknown */
    struct cn_err err;
    bool failed;
    long ms;
    int order; /* answer order, from 0 */
    int *next_order;
    pthread_mutex_t *order_lock;
};

static long long
wall_now(void)
{
    return (long long)time(NULL);
}

/* ---- results ---- */

static struct vnp_reply *
result_of(const struct vnpd_request *q, bool with_manifest)
{
    struct vnp_reply *r = xcalloc(1, sizeof(*r));
    r->id = xstrdup(q->id);
    r->state = xstrdup(cn_streq(q->state, "negotiating") ? "allocated" : q->state);
    r->expires = cn_streq(q->state, "allocated") ? q->expires : 0;
    r->manifest_yaml = with_manifest && q->manifest ? xstrdup(q->manifest) : NULL;
    r->reason = q->reason ? xstrdup(q->reason) : NULL;
    return r;
}

static void
result_add_element(struct vnp_reply *r, const char *element, const char *state, size_t *cap)
{
    for (size_t i = 0; i < r->nelements; i++)
        if (cn_streq(r->elements[i].element, element))
            return;
    CN_GROW(r->elements, *cap, r->nelements + 1);
    r->elements[r->nelements].element = xstrdup(element);
    r->elements[r->nelements].state = xstrdup(state);
    r->nelements++;
}

/* ---- calls to PIPs ---- */

static void
call_once(struct call *c)
{
    struct vnp_client *cl;
    double t0 = cn_now();

    cl = vnp_client_new(c->pip->url, c->pip->secret, c->timeout_s * 1000u, &c->err);
    if (!cl) {
        c->failed = true;
        goto done;
    }
    switch (c->kind) {
    case CALL_DESCRIBE:
        c->desc = vnp_client_describe(cl, &c->err);
        c->failed = !c->desc;
        break;
    case CALL_NEGOTIATE:
        c->reply = vnp_client_negotiate(cl, c->id, c->yaml, c->lease_s, &c->err);
        break;
    case CALL_CONFIRM:
        c->reply = vnp_client_confirm(cl, c->id, &c->err);
        break;
    case CALL_START:
        c->reply = vnp_client_power(cl, VNP_START, c->id, NULL, 0, &c->err);
        break;
    case CALL_RELEASE:
        c->reply = vnp_client_release(cl, c->id, &c->err);
        break;
    case CALL_RENEW:
        c->reply = vnp_client_renew(cl, c->id, c->lease_s, &c->err);
        break;
    case CALL_STATUS:
        c->reply = vnp_client_status(cl, c->id, &c->err);
        break;
    case CALL_POWER:
        c->reply = vnp_client_power(cl, c->op, c->id, c->elements, c->nelements, &c->err);
        break;
    case CALL_CONSOLES:
        c->consoles = xcalloc(c->nelements + 1, sizeof(*c->consoles));
        for (size_t i = 0; i < c->nelements && !c->failed; i++) {
            c->consoles[i] = vnp_client_console(cl, c->id, c->elements[i], &c->err);
            c->failed = !c->consoles[i];
        }
        break;
    }
    if (c->kind != CALL_DESCRIBE && c->kind != CALL_CONSOLES)
        c->failed = !c->reply;
    vnp_client_free(cl);
done:
    c->ms = (long)((cn_now() - t0) * 1000.0 + 0.5);
    pthread_mutex_lock(c->order_lock);
    c->order = (*c->next_order)++;
    pthread_mutex_unlock(c->order_lock);
}

static void *
call_thread(void *arg)
{
    call_once(arg);
    return NULL;
}

/* Runs the calls, in parallel unless the configuration says serial. */
static void
run_calls(const struct vnpd_broker *b, struct call *calls, size_t n)
{
    pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_t *threads = xcalloc(n + 1, sizeof(*threads));
    bool *started = xcalloc(n + 1, sizeof(*started));
    int next = 0;

    for (size_t i = 0; i < n; i++) {
        calls[i].next_order = &next;
        calls[i].order_lock = &order_lock;
        if (!calls[i].timeout_s)
            calls[i].timeout_s = b->cfg->call_timeout_s;
        cn_err_init(&calls[i].err);
    }
    for (size_t i = 0; i < n; i++) {
        if (b->cfg->serial || n == 1)
            call_once(&calls[i]);
        else
            started[i] = pthread_create(&threads[i], NULL, call_thread, &calls[i]) == 0;
        if (!b->cfg->serial && n > 1 && !started[i])
            call_once(&calls[i]);
    }
    for (size_t i = 0; i < n; i++)
        if (started[i])
            pthread_join(threads[i], NULL);
    free(threads);
    free(started);
}

static void
calls_release(struct call *calls, size_t n)
{
    for (size_t i = 0; calls && i < n; i++) {
        vnp_reply_free(calls[i].reply);
        vnp_description_free(calls[i].desc);
        for (size_t j = 0; calls[i].consoles && j < calls[i].nelements; j++)
            free(calls[i].consoles[j]);
        free(calls[i].consoles);
        cn_err_release(&calls[i].err);
    }
    free(calls);
}

static const char *
failure_kind(const struct call *c)
{
    if (c->err.code == CN_E_TIMEOUT)
        return "timeout";
    if (c->err.code == CN_E_IO)
        return "unreachable";
    return "refused";
}

/* The message naming the PIP that failed c, into err (replacing it). */
static void
call_error(const struct vnpd_broker *b, const struct call *c, struct cn_err *err)
{
    if (c->err.code == CN_E_TIMEOUT)
        cn_err_set(err, CN_E_TIMEOUT, "pip '%s' did not answer within %u s", c->pip->name,
                   c->timeout_s ? c->timeout_s : b->cfg->call_timeout_s);
    else if (c->err.code == CN_E_IO)
        cn_err_set(err, CN_E_IO, "pip '%s' is unreachable: %s", c->pip->name, cn_err_msg(&c->err));
    else
        cn_err_set(err, c->err.code ? c->err.code : CN_E_INTERNAL, "pip '%s' refused: %s",
                   c->pip->name, cn_err_msg(&c->err));
}

/*
 * The failure to report: the first refusal in answer order, else the
 * first failure. NULL when every call succeeded.
 */
static const struct call *
first_failure(const struct call *calls, size_t n)
{
    const struct call *refused = NULL, *any = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!calls[i].failed)
            continue;
        if (!any || calls[i].order < any->order)
            any = &calls[i];
        if (cn_streq(failure_kind(&calls[i]), "refused") &&
            (!refused || calls[i].order < refused->order))
            refused = &calls[i];
    }
    return refused ? refused : any;
}

static const struct vnpd_pip *
pip_named(const struct vnpd_broker *b, const char *name)
{
    for (size_t i = 0; i < b->cfg->npips; i++)
        if (cn_streq(b->cfg->pips[i].name, name))
            return &b->cfg->pips[i];
    return NULL;
}

static bool
part_holds(const struct vnpd_part *p, const char *element)
{
    size_t n = strlen(element);
    for (const char *s = p->elements; s && *s;) {
        const char *nl = strchrnul(s, '\n');
        if ((size_t)(nl - s) == n && strncmp(s, element, n) == 0)
            return true;
        s = *nl ? nl + 1 : nl;
    }
    return false;
}

static bool
part_live(const struct vnpd_part *p)
{
    return cn_streq(p->state, "allocated") || cn_streq(p->state, "provisioned") ||
           cn_streq(p->state, "negotiating");
}

/* One call of kind per part that is not released (all parts when all is set). */
static struct call *
calls_for_parts(const struct vnpd_broker *b, const struct vnpd_part *parts, size_t nparts,
                enum call_kind kind, const char *id, bool all, size_t *ret_n)
{
    struct call *calls = xcalloc(nparts + 1, sizeof(*calls));
    size_t n = 0;
    for (size_t i = 0; i < nparts; i++) {
        const struct vnpd_pip *pip = pip_named(b, parts[i].pip);
        if (!pip || (!all && cn_streq(parts[i].state, "released")))
            continue;
        calls[n].pip = pip;
        calls[n].kind = kind;
        calls[n].id = id;
        n++;
    }
    *ret_n = n;
    return calls;
}

/*
 * Releases id at every PIP holding a part not yet released. A PIP that
 * does not acknowledge keeps its part in release-pending for the chores;
 * a "not found" counts as done only once retry_until has passed, since a
 * negotiation that timed out here may still arrive there.
 */
static void
release_parts(struct vnpd_broker *b, const char *id, long long retry_until)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnpd_part *parts = NULL;
    size_t nparts = 0, n = 0;
    struct call *calls = NULL;

    if (vnpd_store_parts(b->store, id, &parts, &nparts, &err) < 0)
        goto cleanup;
    calls = calls_for_parts(b, parts, nparts, CALL_RELEASE, id, false, &n);
    run_calls(b, calls, n);
    for (size_t i = 0; i < n; i++) {
        const struct vnpd_part *p = NULL;
        for (size_t j = 0; j < nparts; j++)
            if (cn_streq(parts[j].pip, calls[i].pip->name))
                p = &parts[j];
        long long until = p && p->retry_until > retry_until ? p->retry_until : retry_until;
        bool done = !calls[i].failed || (calls[i].err.code == CN_E_NOTFOUND && wall_now() > until);
        cn_err_clear(&err);
        vnpd_store_set_part(b->store, id, calls[i].pip->name, done ? "released" : "release-pending",
                            NULL, until, &err);
    }
cleanup:
    calls_release(calls, n);
    vnpd_parts_free(parts, nparts);
    cn_err_release(&err);
}

/* Undoes id everywhere and marks it failed with why; err gets why as well. */
static void
fail_request(struct vnpd_broker *b, const char *id, int code, const char *why,
             long long retry_until)
{
    struct cn_err ignored = CN_ERR_INIT;
    release_parts(b, id, retry_until);
    vnpd_store_set_request(b->store, id, "failed", NULL, why, code, 0, &ignored);
    cn_err_clear(&ignored);
    vnpd_store_op_end(b->store, id, &ignored);
    cn_err_release(&ignored);
}

/* ---- synchronisation ---- */

static void sync_release(struct sync *s);

/*
 * Asks every PIP for its describe() in parallel; a PIP that does not answer
 * in time is left out. With sync-max-age the answers are kept and reused
 * while young: a stale view only costs a refusal from the PIP.
 */
static void
sync_pips(struct vnpd_broker *b, struct sync *s)
{
    unsigned age = b->cfg->sync_max_age_s;
    if (age && b->cache.views && cn_now() - b->cache.at < age) {
        *s = b->cache;
        s->borrowed = true;
        return;
    }
    memset(s, 0, sizeof(*s));
    s->at = cn_now();
    s->n = b->cfg->npips;
    s->calls = xcalloc(s->n + 1, sizeof(*s->calls));
    s->views = xcalloc(s->n + 1, sizeof(*s->views));
    for (size_t i = 0; i < s->n; i++) {
        s->calls[i].pip = &b->cfg->pips[i];
        s->calls[i].kind = CALL_DESCRIBE;
    }
    run_calls(b, s->calls, s->n);
    for (size_t i = 0; i < s->n; i++) {
        s->views[i].name = b->cfg->pips[i].name;
        s->views[i].desc = s->calls[i].desc;
    }
    if (age) {
        sync_release(&b->cache);
        b->cache = *s;
        s->borrowed = true;
    }
}

static void
sync_release(struct sync *s)
{
    if (s->borrowed)
        return;
    calls_release(s->calls, s->n);
    free(s->views);
    memset(s, 0, sizeof(*s));
}

/* ---- the broker ---- */

struct vnpd_broker *
vnpd_broker_new(const struct vnpd_config *cfg, struct vnpd_store *store, struct cn_err *err)
{
    struct vnpd_broker *b;
    if (vnp_client_global_init(err) < 0)
        return NULL;
    b = xcalloc(1, sizeof(*b));
    b->cfg = cfg;
    b->store = store;
    pthread_mutex_init(&b->lock, NULL);
    return b;
}

void
vnpd_broker_free(struct vnpd_broker *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    sync_release(&b->cache);
    vnp_client_global_cleanup();
    free(b);
}

const char *
vnpd_broker_authenticate(const struct vnpd_broker *b, const char *secret, struct cn_err *err)
{
    const char *peer = NULL;
    /* Every secret is compared, so the time taken does not tell which matched. */
    for (size_t i = 0; i < b->cfg->npeers; i++)
        if (cn_secret_equal(b->cfg->peers[i].secret, secret) && !peer)
            peer = b->cfg->peers[i].name;
    if (!peer)
        cn_err_set(err, CN_E_FORBIDDEN, "forbidden: unknown secret");
    return peer;
}

struct vnp_description *
vnpd_broker_describe(struct vnpd_broker *b, struct cn_err *err)
{
    struct sync s;
    (void)err;
    pthread_mutex_lock(&b->lock);
    sync_pips(b, &s);
    struct vnp_description *d = vnp_plan_describe(b->cfg->name, VNPD_VERSION, s.views, s.n);
    sync_release(&s);
    pthread_mutex_unlock(&b->lock);
    return d;
}

static bool
id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64 || id[0] == '-' || id[0] == '.')
        return false;
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

/* The request, when it exists and peer owns it. */
static struct vnpd_request *
owned(struct vnpd_broker *b, const char *peer, const char *id, struct cn_err *err)
{
    if (!id_ok(id)) {
        cn_err_set(err, CN_E_INVALID, "bad id '%s'", id);
        return NULL;
    }
    struct vnpd_request *q = vnpd_store_get(b->store, id, err);
    if (q && !cn_streq(q->peer, peer)) {
        vnpd_request_free(q);
        cn_err_set(err, CN_E_FORBIDDEN, "CloudNet '%s' belongs to another peer", id);
        return NULL;
    }
    return q;
}

/* ---- negotiate ---- */

static char *
join_lines(char *const *items, size_t n)
{
    struct cn_buf out = CN_BUF_INIT;
    cn_buf_init(&out);
    for (size_t i = 0; i < n; i++)
        cn_buf_printf(&out, "%s%s", i ? "\n" : "", items[i]);
    return cn_buf_detach(&out);
}

static void
add_provider(struct vnp_reply *r, const struct call *c)
{
    struct vnp_provider_report *p = &r->providers[c->order];
    p->name = xstrdup(c->pip->name);
    p->state = xstrdup(c->failed ? failure_kind(c) : c->reply->state);
    p->ms = (double)c->ms;
    p->reason = c->failed          ? xstrdup(cn_err_msg(&c->err))
                : c->reply->reason ? xstrdup(c->reply->reason)
                                   : NULL;
}

/*
 * Maps ol over the PIPs, cuts it and negotiates the pieces. On failure err
 * holds the reason to answer and the request is failed (or forgotten when
 * no PIP was asked anything).
 */
static struct vnp_reply *
negotiate_new(struct vnpd_broker *b, const char *id, const struct rdl_graph *ol, long lease_s,
              struct cn_err *err)
{
    struct sync s;
    struct rdl_graph *ul = NULL, *ml = NULL;
    struct vnp_partial *partials = NULL;
    size_t nparts = 0;
    struct call *calls = NULL;
    struct vnp_pip_manifest *pm = NULL;
    struct vnp_reply *res = NULL;
    char *manifest = NULL;
    struct map_options opts;
    long pip_lease = lease_s < b->cfg->lease_s ? lease_s : b->cfg->lease_s;
    long long retry_until = wall_now() + pip_lease + b->cfg->call_timeout_s + 5;
    bool asked = false;

    sync_pips(b, &s);
    ul = vnp_plan_underlay(b->cfg->name, s.views, s.n, b->cfg->transits, b->cfg->ntransits, err);
    if (!ul)
        goto fail;
    map_options_init(&opts);
    opts.objective = "cost";
    opts.time_limit_s = b->cfg->map_time_limit_s;
    if (map_rdl_solve(ul, NULL, 0, ol, &opts, &ml, err) < 0)
        goto fail;
    if (vnp_plan_partition(ol, ml, s.views, s.n, b->cfg->transits, b->cfg->ntransits, &partials,
                           &nparts, err) < 0)
        goto fail;
    calls = xcalloc(nparts + 1, sizeof(*calls));
    for (size_t i = 0; i < nparts; i++) {
        char *els = join_lines(partials[i].elements, partials[i].nelements);
        int rc = vnpd_store_add_part(b->store, id, partials[i].pip, partials[i].yaml, els, err);
        free(els);
        if (rc < 0)
            goto fail;
        calls[i].pip = pip_named(b, partials[i].pip);
        calls[i].kind = CALL_NEGOTIATE;
        calls[i].id = id;
        calls[i].yaml = partials[i].yaml;
        calls[i].lease_s = pip_lease;
        if (!calls[i].pip) {
            cn_err_set(err, CN_E_INTERNAL, "the plan names an unknown pip '%s'", partials[i].pip);
            goto fail;
        }
    }
    asked = true;
    run_calls(b, calls, nparts);

    res = xcalloc(1, sizeof(*res));
    res->providers = xcalloc(nparts + 1, sizeof(*res->providers));
    res->nproviders = nparts;
    for (size_t i = 0; i < nparts; i++) {
        add_provider(res, &calls[i]);
        if (!calls[i].failed)
            vnpd_store_set_part(b->store, id, calls[i].pip->name, "allocated",
                                calls[i].reply->manifest_yaml, retry_until, err);
    }
    const struct call *bad = first_failure(calls, nparts);
    if (bad) {
        call_error(b, bad, err);
        goto fail;
    }
    pm = xcalloc(nparts + 1, sizeof(*pm));
    long long expires = 0;
    for (size_t i = 0; i < nparts; i++) {
        pm[i].pip = calls[i].pip->name;
        pm[i].manifest_yaml = calls[i].reply->manifest_yaml ? calls[i].reply->manifest_yaml : "";
        if (calls[i].reply->expires && (!expires || calls[i].reply->expires < expires))
            expires = calls[i].reply->expires;
    }
    manifest = vnp_plan_manifest(ml, pm, nparts, err);
    if (!manifest)
        goto fail;
    if (vnpd_store_set_request(b->store, id, "allocated", manifest, NULL, 0, expires, err) < 0 ||
        vnpd_store_op_end(b->store, id, err) < 0)
        goto fail;
    res->id = xstrdup(id);
    res->state = xstrdup("allocated");
    res->expires = expires;
    res->manifest_yaml = manifest;
    manifest = NULL;
    goto cleanup;
fail:
    if (asked) {
        fail_request(b, id, err->code, cn_err_msg(err), retry_until);
    } else {
        struct cn_err ignored = CN_ERR_INIT;
        vnpd_store_forget(b->store, id, &ignored);
        cn_err_release(&ignored);
    }
    vnp_reply_free(res);
    res = NULL;
cleanup:
    free(manifest);
    free(pm);
    calls_release(calls, nparts);
    vnp_partials_free(partials, nparts);
    rdl_graph_free(ml);
    rdl_graph_free(ul);
    sync_release(&s);
    return res;
}

static struct vnp_reply *
negotiate_locked(struct vnpd_broker *b, const char *peer, const char *id, const char *yaml,
                 long lease_s, struct cn_err *err)
{
    struct vnpd_request *q = NULL;
    struct rdl_graph *ol = NULL;
    struct vnp_reply *res = NULL;

    if (!id_ok(id)) {
        cn_err_set(err, CN_E_INVALID, "bad id '%s': 1-64 letters, digits, '_', '-', '.'", id);
        goto cleanup;
    }
    if (lease_s <= 0) {
        cn_err_set(err, CN_E_INVALID, "lease must be above 0 seconds, got %ld", lease_s);
        goto cleanup;
    }
    if (strlen(yaml) > b->cfg->max_request) {
        cn_err_set(err, CN_E_LIMIT, "graph_yaml of %zu bytes is above max-request (%zu)",
                   strlen(yaml), b->cfg->max_request);
        goto cleanup;
    }
    q = vnpd_store_get(b->store, id, err);
    if (q) {
        if (!cn_streq(q->peer, peer))
            cn_err_set(err, CN_E_FORBIDDEN, "CloudNet '%s' belongs to another peer", id);
        else if (!cn_streq(q->yaml, yaml))
            cn_err_set(err, CN_E_INVALID, "id '%s' is used for another request", id);
        else if (cn_streq(q->state, "failed") && q->fault)
            cn_err_set(err, q->fault, "%s", q->reason ? q->reason : "failed");
        else
            res = result_of(q, true);
        goto cleanup;
    }
    if (err->code != CN_E_NOTFOUND)
        goto cleanup;
    cn_err_clear(err);
    ol = rdl_read_string(id, yaml, strlen(yaml), err);
    if (!ol)
        goto cleanup;
    if (rdl_graph_kind(ol) != RDL_OVERLAY) {
        cn_err_set(err, CN_E_INVALID, "%s: not an overlay (kind %s)", id,
                   rdl_kind_name(rdl_graph_kind(ol)));
        goto cleanup;
    }
    if (vnpd_store_begin_request(b->store, id, peer, yaml, err) < 0)
        goto cleanup;
    res = negotiate_new(b, id, ol, lease_s, err);
cleanup:
    rdl_graph_free(ol);
    vnpd_request_free(q);
    return res;
}

struct vnp_reply *
vnpd_broker_negotiate(struct vnpd_broker *b, const char *peer, const char *id, const char *yaml,
                      long lease_s, struct cn_err *err)
{
    pthread_mutex_lock(&b->lock);
    struct vnp_reply *r = negotiate_locked(b, peer, id, yaml, lease_s, err);
    pthread_mutex_unlock(&b->lock);
    return r;
}

/*
 * Whether q may be confirmed or renewed: 1 when it is provisioned already
 * (answer it as it is), 0 when allocated with its lease running, else -1.
 */
static int
check_leased(const struct vnpd_request *q, struct cn_err *err)
{
    if (cn_streq(q->state, "provisioned"))
        return 1;
    if (!cn_streq(q->state, "allocated"))
        return cn_err_set(err, CN_E_INVALID, "CloudNet '%s' is %s", q->id, q->state);
    if (q->expires && q->expires <= wall_now())
        return cn_err_set(err, CN_E_EXPIRED, "the lease of CloudNet '%s' has ended", q->id);
    return 0;
}

/* ---- confirm ---- */

/* The ids of the request's nodes a part holds, borrowed from ol. */
static const char **
part_nodes(const struct rdl_graph *ol, const struct vnpd_part *p, size_t *ret_n)
{
    const char **ids = xcalloc(rdl_graph_element_count(ol) + 1, sizeof(*ids));
    size_t n = 0;
    for (size_t i = 0; i < rdl_graph_element_count(ol); i++) {
        const struct rdl_element *e = rdl_graph_element_at(ol, i);
        if (rdl_element_is_node(e) && part_holds(p, rdl_element_id(e)))
            ids[n++] = rdl_element_id(e);
    }
    *ret_n = n;
    return ids;
}

/* The manifest with each node's console added to its features. */
static char *
manifest_with_consoles(const char *manifest, const struct call *calls, size_t n, struct cn_err *err)
{
    struct rdl_graph *g = rdl_read_string("manifest", manifest, strlen(manifest), err);
    struct cn_buf out = CN_BUF_INIT;
    if (!g)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < calls[i].nelements; j++) {
            struct rdl_map_entry *m = rdl_mapping_get(g, calls[i].elements[j]);
            if (m && calls[i].consoles && calls[i].consoles[j])
                rdl_props_set_string(rdl_map_entry_features_mut(m), "console",
                                     calls[i].consoles[j]);
        }
    }
    cn_buf_init(&out);
    if (rdl_write(g, &out, err) < 0)
        cn_buf_release(&out);
    rdl_graph_free(g);
    return out.s ? cn_buf_detach(&out) : NULL;
}

/* Runs one kind of call on every live part; on failure fails the request. */
static int
all_parts(struct vnpd_broker *b, const char *id, const struct vnpd_part *parts, size_t nparts,
          enum call_kind kind, const char *next_state, struct cn_err *err)
{
    size_t n;
    struct call *calls = calls_for_parts(b, parts, nparts, kind, id, false, &n);
    int ret = 0;
    run_calls(b, calls, n);
    const struct call *bad = first_failure(calls, n);
    if (bad) {
        call_error(b, bad, err);
        fail_request(b, id, err->code, cn_err_msg(err), 0);
        ret = -1;
    } else {
        for (size_t i = 0; i < n && next_state; i++)
            vnpd_store_set_part(b->store, id, calls[i].pip->name, next_state, NULL, 0, err);
    }
    calls_release(calls, n);
    return ret;
}

static struct vnp_reply *
confirm_locked(struct vnpd_broker *b, const char *peer, const char *id, struct cn_err *err)
{
    struct vnpd_request *q = owned(b, peer, id, err);
    struct vnpd_part *parts = NULL;
    size_t nparts = 0, ncalls = 0;
    struct call *calls = NULL;
    struct rdl_graph *ol = NULL;
    struct vnp_reply *res = NULL;
    char *manifest = NULL;

    int leased = q ? check_leased(q, err) : -1;
    if (leased != 0) {
        if (leased > 0)
            res = result_of(q, true);
        goto cleanup;
    }
    if (vnpd_store_op_begin(b->store, id, "confirm", err) < 0 ||
        vnpd_store_parts(b->store, id, &parts, &nparts, err) < 0)
        goto cleanup;
    if (all_parts(b, id, parts, nparts, CALL_CONFIRM, "provisioned", err) < 0 ||
        all_parts(b, id, parts, nparts, CALL_START, NULL, err) < 0)
        goto cleanup;
    ol = rdl_read_string(id, q->yaml, strlen(q->yaml), err);
    if (!ol)
        goto cleanup;
    calls = calls_for_parts(b, parts, nparts, CALL_CONSOLES, id, false, &ncalls);
    for (size_t i = 0; i < ncalls; i++) {
        for (size_t j = 0; j < nparts; j++)
            if (cn_streq(parts[j].pip, calls[i].pip->name))
                calls[i].elements = part_nodes(ol, &parts[j], &calls[i].nelements);
    }
    run_calls(b, calls, ncalls);
    const struct call *bad = first_failure(calls, ncalls);
    if (bad) {
        call_error(b, bad, err);
        fail_request(b, id, err->code, cn_err_msg(err), 0);
        goto cleanup;
    }
    manifest = manifest_with_consoles(q->manifest ? q->manifest : "", calls, ncalls, err);
    if (!manifest ||
        vnpd_store_set_request(b->store, id, "provisioned", manifest, NULL, 0, 0, err) < 0 ||
        vnpd_store_op_end(b->store, id, err) < 0)
        goto cleanup;
    vnpd_request_free(q);
    q = vnpd_store_get(b->store, id, err);
    if (q)
        res = result_of(q, true);
cleanup:
    for (size_t i = 0; calls && i < ncalls; i++)
        free((void *)(uintptr_t)calls[i].elements);
    calls_release(calls, ncalls);
    free(manifest);
    rdl_graph_free(ol);
    vnpd_parts_free(parts, nparts);
    vnpd_request_free(q);
    return res;
}

struct vnp_reply *
vnpd_broker_confirm(struct vnpd_broker *b, const char *peer, const char *id, struct cn_err *err)
{
    pthread_mutex_lock(&b->lock);
    struct vnp_reply *r = confirm_locked(b, peer, id, err);
    pthread_mutex_unlock(&b->lock);
    return r;
}

/* ---- release and renew ---- */

static void
release_request(struct vnpd_broker *b, const char *id, const char *reason)
{
    struct cn_err ignored = CN_ERR_INIT;
    vnpd_store_op_begin(b->store, id, "release", &ignored);
    release_parts(b, id, 0);
    vnpd_store_set_request(b->store, id, "released", NULL, reason, 0, 0, &ignored);
    vnpd_store_op_end(b->store, id, &ignored);
    cn_err_release(&ignored);
}

struct vnp_reply *
vnpd_broker_release(struct vnpd_broker *b, const char *peer, const char *id, struct cn_err *err)
{
    struct vnp_reply *res = NULL;
    pthread_mutex_lock(&b->lock);
    struct vnpd_request *q = owned(b, peer, id, err);
    if (q && !cn_streq(q->state, "released") && !cn_streq(q->state, "failed")) {
        char *reason = xasprintf("released by %s", peer);
        release_request(b, id, reason);
        free(reason);
        vnpd_request_free(q);
        q = vnpd_store_get(b->store, id, err);
    }
    if (q)
        res = result_of(q, false);
    pthread_mutex_unlock(&b->lock);
    vnpd_request_free(q);
    return res;
}

struct vnp_reply *
vnpd_broker_renew(struct vnpd_broker *b, const char *peer, const char *id, long lease_s,
                  struct cn_err *err)
{
    struct vnp_reply *res = NULL;
    struct vnpd_part *parts = NULL;
    size_t nparts = 0, n = 0;
    struct call *calls = NULL;

    pthread_mutex_lock(&b->lock);
    struct vnpd_request *q = owned(b, peer, id, err);
    if (!q)
        goto cleanup;
    if (lease_s <= 0) {
        cn_err_set(err, CN_E_INVALID, "lease must be above 0 seconds, got %ld", lease_s);
        goto cleanup;
    }
    int leased = check_leased(q, err);
    if (leased != 0) {
        if (leased > 0)
            res = result_of(q, false);
        goto cleanup;
    }
    if (vnpd_store_parts(b->store, id, &parts, &nparts, err) < 0)
        goto cleanup;
    calls = calls_for_parts(b, parts, nparts, CALL_RENEW, id, false, &n);
    for (size_t i = 0; i < n; i++)
        calls[i].lease_s = lease_s;
    run_calls(b, calls, n);
    const struct call *bad = first_failure(calls, n);
    if (bad) {
        call_error(b, bad, err);
        goto cleanup;
    }
    long long expires = 0;
    for (size_t i = 0; i < n; i++)
        if (calls[i].reply->expires && (!expires || calls[i].reply->expires < expires))
            expires = calls[i].reply->expires;
    if (vnpd_store_set_request(b->store, id, "allocated", NULL, NULL, 0, expires, err) < 0)
        goto cleanup;
    res = result_of(q, false);
    res->expires = expires;
cleanup:
    pthread_mutex_unlock(&b->lock);
    calls_release(calls, n);
    vnpd_parts_free(parts, nparts);
    vnpd_request_free(q);
    return res;
}

/* ---- status, power, console, list ---- */

/* Adds the elements each call's PIP reported for its part (only the request's own). */
static void
merge_elements(struct vnp_reply *res, const struct call *calls, size_t n,
               const struct vnpd_part *parts, size_t nparts, size_t *cap)
{
    for (size_t i = 0; i < n; i++) {
        const struct vnpd_part *p = NULL;
        for (size_t j = 0; j < nparts; j++)
            if (cn_streq(parts[j].pip, calls[i].pip->name))
                p = &parts[j];
        for (size_t k = 0; p && calls[i].reply && k < calls[i].reply->nelements; k++)
            if (part_holds(p, calls[i].reply->elements[k].element))
                result_add_element(res, calls[i].reply->elements[k].element,
                                   calls[i].reply->elements[k].state, cap);
    }
}

struct vnp_reply *
vnpd_broker_status(struct vnpd_broker *b, const char *peer, const char *id, struct cn_err *err)
{
    struct vnp_reply *res = NULL;
    struct vnpd_part *parts = NULL;
    size_t nparts = 0, n = 0, cap = 0;
    struct call *calls = NULL;

    pthread_mutex_lock(&b->lock);
    struct vnpd_request *q = owned(b, peer, id, err);
    if (!q || vnpd_store_parts(b->store, id, &parts, &nparts, err) < 0)
        goto cleanup;
    res = result_of(q, true);
    res->elements = xcalloc(1, sizeof(*res->elements));
    struct vnpd_part *live = xcalloc(nparts + 1, sizeof(*live));
    size_t nlive = 0;
    for (size_t i = 0; i < nparts; i++)
        if (part_live(&parts[i]))
            live[nlive++] = parts[i];
    calls = calls_for_parts(b, live, nlive, CALL_STATUS, id, true, &n);
    free(live);
    run_calls(b, calls, n);
    merge_elements(res, calls, n, parts, nparts, &cap);
    /* What a PIP did not report (unreachable, released) gets a state all the same. */
    for (size_t i = 0; i < nparts; i++) {
        bool asked = false, answered = false;
        for (size_t j = 0; j < n; j++)
            if (cn_streq(calls[j].pip->name, parts[i].pip)) {
                asked = true;
                answered = !calls[j].failed;
            }
        const char *state = asked && !answered ? "unreachable" : "absent";
        for (const char *s = parts[i].elements; s && *s;) {
            const char *nl = strchrnul(s, '\n');
            char *el = xstrndup(s, (size_t)(nl - s));
            result_add_element(res, el, state, &cap);
            free(el);
            s = *nl ? nl + 1 : nl;
        }
    }
cleanup:
    pthread_mutex_unlock(&b->lock);
    calls_release(calls, n);
    vnpd_parts_free(parts, nparts);
    vnpd_request_free(q);
    return res;
}

struct vnp_reply *
vnpd_broker_power(struct vnpd_broker *b, const char *peer, const char *id, enum vnp_power_op op,
                  const char *const *elements, size_t nelements, struct cn_err *err)
{
    struct vnp_reply *res = NULL;
    struct vnpd_part *parts = NULL;
    size_t nparts = 0, n = 0, cap = 0;
    struct call *calls = NULL;
    const char ***lists = NULL;

    pthread_mutex_lock(&b->lock);
    struct vnpd_request *q = owned(b, peer, id, err);
    if (!q)
        goto cleanup;
    if (!cn_streq(q->state, "provisioned")) {
        cn_err_set(err, CN_E_INVALID, "CloudNet '%s' is %s; VNodes run once it is confirmed", id,
                   q->state);
        goto cleanup;
    }
    if (vnpd_store_parts(b->store, id, &parts, &nparts, err) < 0)
        goto cleanup;
    calls = calls_for_parts(b, parts, nparts, CALL_POWER, id, false, &n);
    lists = xcalloc(n + 1, sizeof(*lists));
    for (size_t i = 0; i < n; i++)
        lists[i] = xcalloc(nelements + 1, sizeof(**lists));
    for (size_t e = 0; e < nelements; e++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            for (size_t j = 0; j < nparts && !found; j++)
                if (cn_streq(parts[j].pip, calls[i].pip->name) &&
                    part_holds(&parts[j], elements[e])) {
                    lists[i][calls[i].nelements++] = elements[e];
                    found = true;
                }
        if (!found) {
            cn_err_set(err, CN_E_NOTFOUND, "CloudNet '%s' has no element '%s'", id, elements[e]);
            goto cleanup;
        }
    }
    /* With a list, only the PIPs holding named elements are asked. */
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (nelements && !calls[i].nelements)
            continue;
        calls[used] = calls[i];
        calls[used].op = op;
        calls[used].elements = lists[i];
        used++;
    }
    run_calls(b, calls, used);
    const struct call *bad = first_failure(calls, used);
    if (bad) {
        call_error(b, bad, err);
        calls_release(calls, used);
        calls = NULL;
        goto cleanup;
    }
    res = result_of(q, false);
    res->elements = xcalloc(1, sizeof(*res->elements));
    merge_elements(res, calls, used, parts, nparts, &cap);
    calls_release(calls, used);
    calls = NULL;
cleanup:
    pthread_mutex_unlock(&b->lock);
    for (size_t i = 0; lists && i < n; i++)
        free((void *)(uintptr_t)lists[i]);
    free((void *)(uintptr_t)lists);
    if (calls)
        calls_release(calls, 0);
    vnpd_parts_free(parts, nparts);
    vnpd_request_free(q);
    return res;
}

char *
vnpd_broker_console(struct vnpd_broker *b, const char *peer, const char *id, const char *element,
                    struct cn_err *err)
{
    struct vnpd_part *parts = NULL;
    size_t nparts = 0;
    char *uri = NULL;

    pthread_mutex_lock(&b->lock);
    struct vnpd_request *q = owned(b, peer, id, err);
    if (!q || vnpd_store_parts(b->store, id, &parts, &nparts, err) < 0)
        goto cleanup;
    if (!cn_streq(q->state, "allocated") && !cn_streq(q->state, "provisioned")) {
        cn_err_set(err, CN_E_INVALID, "CloudNet '%s' is %s", id, q->state);
        goto cleanup;
    }
    cn_err_set(err, CN_E_NOTFOUND, "CloudNet '%s' has no element '%s'", id, element);
    for (size_t i = 0; i < nparts; i++) {
        const struct vnpd_pip *pip = pip_named(b, parts[i].pip);
        if (!pip || !part_holds(&parts[i], element))
            continue;
        struct call c = {.pip = pip, .kind = CALL_CONSOLES, .id = id, .nelements = 1};
        const char *one[] = {element};
        c.elements = one;
        cn_err_clear(err);
        run_calls(b, &c, 1);
        if (c.failed)
            call_error(b, &c, err);
        else
            uri = xstrdup(c.consoles[0]);
        free(c.consoles[0]);
        free(c.consoles);
        cn_err_release(&c.err);
        break;
    }
cleanup:
    pthread_mutex_unlock(&b->lock);
    vnpd_parts_free(parts, nparts);
    vnpd_request_free(q);
    return uri;
}

int
vnpd_broker_list(struct vnpd_broker *b, const char *peer, struct vnpd_request **ret_items,
                 size_t *ret_n, struct cn_err *err)
{
    pthread_mutex_lock(&b->lock);
    int rc = vnpd_store_list(b->store, peer, ret_items, ret_n, err);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* ---- chores and recovery ---- */

int
vnpd_broker_chores(struct vnpd_broker *b, struct cn_err *err)
{
    char **ids = NULL;
    size_t n = 0;
    pthread_mutex_lock(&b->lock);
    int rc = vnpd_store_chores(b->store, wall_now(), &ids, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct vnpd_request *q = vnpd_store_get(b->store, ids[i], err);
        if (q && cn_streq(q->state, "allocated") && q->expires <= wall_now())
            release_request(b, ids[i], "lease expired");
        else if (q)
            release_parts(b, ids[i], 0);
        vnpd_request_free(q);
        cn_err_clear(err);
    }
    pthread_mutex_unlock(&b->lock);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return rc;
}

int
vnpd_broker_recover(struct vnpd_broker *b, struct cn_buf *log, struct cn_err *err)
{
    struct vnpd_op *ops = NULL;
    size_t n = 0;
    pthread_mutex_lock(&b->lock);
    int rc = vnpd_store_ops(b->store, &ops, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (cn_streq(ops[i].op, "release")) {
            release_request(b, ops[i].id, "released (finished after a vnpd restart)");
            if (log)
                cn_buf_printf(log, "finished releasing '%s'\n", ops[i].id);
            continue;
        }
        char *why = xasprintf("vnpd restarted during %s", ops[i].op);
        /* The PIPs' leases end what a release here cannot reach. */
        fail_request(b, ops[i].id, CN_E_INTERNAL, why, wall_now() + b->cfg->lease_s);
        if (log)
            cn_buf_printf(log, "undid '%s' (%s interrupted)\n", ops[i].id, ops[i].op);
        free(why);
    }
    pthread_mutex_unlock(&b->lock);
    vnpd_ops_free(ops, n);
    return rc;
}
