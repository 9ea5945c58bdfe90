/*
 * vnpd's broker: the negotiation interface (DESIGN section 4) answered by
 * talking to the PIPs it brokers (docs/vnpd.md, docs/federation.md).
 *
 * Calls on different CloudNets run concurrently. What must be serialised
 * is short: calls on one id wait for each other (idempotency, and a release
 * must not overtake its negotiation), and planning takes the plan lock, so
 * that a negotiation plans against the describe() view less the VLAN tags
 * and the resources this VNP has handed out that the view may not show yet
 * (the grants), and records its own before the next one plans. The calls
 * to the PIPs run outside every lock, in parallel, on clients kept per PIP
 * so that their connections are reused.
 *
 * Everything that touches a PIP is recorded before it happens: the request
 * row, an operation entry and a part row per PIP, in one transaction before
 * the first call, so a crash at any point leaves enough behind for recovery
 * to undo it; what the PIPs answered goes in one transaction after. A
 * release a PIP did not acknowledge (it was down or did not answer in time)
 * leaves its part in release-pending, and the chores retry it, because a
 * negotiation that timed out here may still complete there. A PIP that
 * answered the negotiation (agreed or refused) holds nothing it did not
 * say, so its "not found" ends the part at once.
 */
#include <math.h>
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

/* The tags one request was given at one PIP, until its release there is acknowledged. */
struct grant {
    char *id;
    const char *pip; /* the configured name */
    int *tags;
    size_t ntags;
};

/*
 * The resources the VNP-level mapping fixed for one request at one PIP,
 * counted against that PIP's view for as long as the view may not show
 * them: until a describe() sent after the PIP's call ended. With no PIP,
 * the bandwidth the request holds on the transit links (amounts named by
 * transit link): no view ever shows it, so it counts until dropped.
 */
struct rgrant {
    char *id;
    const char *pip; /* the configured name; NULL: transit bandwidth */
    struct vnp_amount *amounts;
    size_t n;
    double ended; /* cn_now() once the calls carrying it ended; 0 while they run */
    bool pending; /* a modify's new plan, not yet the one that stands */
};

/* Idle clients of one PIP: each keeps its connection open for the next call. */
struct pool {
    struct vnp_client **idle;
    size_t n;
};

/*
 * What the PIPs of one negotiation answered so far, for progress(): kept
 * after the negotiation returns until KEEP_S later, so that a poll racing
 * its end still sees the final list.
 */
struct progress {
    char *id;
    char *peer;
    bool done;
    double done_at; /* cn_now() */
    struct vnp_provider_report *reports;
    size_t n, cap;
};

#define PROGRESS_KEEP_S 10.0

/* The most idle clients kept per PIP, about the calls expected at once. */
#define POOL_IDLE_MAX 8

struct vnpd_broker {
    const struct vnpd_config *cfg;
    struct vnpd_store *store;
    /* Planning: the cache, the grants, and the plan made from them. */
    pthread_mutex_t plan_lock;
    struct sync cache; /* the last synchronisation, with sync-max-age */
    struct grant *grants;
    size_t ngrants, grants_cap;
    struct rgrant *rgrants;
    size_t nrgrants, rgrants_cap;
    /* Ids a call is working on; a second call on one waits. */
    pthread_mutex_t ids_lock;
    pthread_cond_t ids_free;
    char **busy;
    size_t nbusy, busy_cap;
    pthread_mutex_t pool_lock;
    struct pool *pools; /* one per configured PIP, in configuration order */
    /* Never held across a call to a PIP or the store: progress() must not wait. */
    pthread_mutex_t progress_lock;
    struct progress **progress;
    size_t nprogress, progress_cap;
};

enum call_kind {
    CALL_DESCRIBE,
    CALL_NEGOTIATE,
    CALL_MODIFY,
    CALL_CONFIRM,
    CALL_START,
    CALL_RELEASE,
    CALL_RENEW,
    CALL_STATUS,
    CALL_POWER,
    CALL_CONSOLES,
};

/* One call to one PIP, run on a thread of its own or the caller's. */
struct call {
    struct vnpd_broker *b;
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
    struct progress *progress; /* negotiate: where to report the answer, or NULL */
};

static void progress_report(struct vnpd_broker *b, struct progress *pg, const struct call *c);

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

/* An idle client of pip with the usual timeout, or a new one. */
static struct vnp_client *
client_take(struct vnpd_broker *b, const struct vnpd_pip *pip, unsigned timeout_s,
            struct cn_err *err)
{
    struct pool *pl = &b->pools[pip - b->cfg->pips];
    struct vnp_client *cl = NULL;
    if (timeout_s == b->cfg->call_timeout_s) {
        pthread_mutex_lock(&b->pool_lock);
        if (pl->n)
            cl = pl->idle[--pl->n];
        pthread_mutex_unlock(&b->pool_lock);
    }
    return cl ? cl : vnp_client_new(pip->url, pip->secret, timeout_s * 1000u, err);
}

/*
 * Keeps cl for the next call to pip unless its transport failed (the
 * connection may be dead or half-way through an answer) or enough are idle.
 */
static void
client_give_back(struct vnpd_broker *b, const struct vnpd_pip *pip, unsigned timeout_s,
                 struct vnp_client *cl, const struct cn_err *err)
{
    struct pool *pl = &b->pools[pip - b->cfg->pips];
    bool keep = timeout_s == b->cfg->call_timeout_s &&
                !(err->count && (err->code == CN_E_TIMEOUT || err->code == CN_E_IO));
    if (keep) {
        pthread_mutex_lock(&b->pool_lock);
        keep = pl->n < POOL_IDLE_MAX;
        if (keep)
            pl->idle[pl->n++] = cl;
        pthread_mutex_unlock(&b->pool_lock);
    }
    if (!keep)
        vnp_client_free(cl);
}

static void
call_once(struct call *c)
{
    struct vnp_client *cl;
    double t0 = cn_now();

    cl = client_take(c->b, c->pip, c->timeout_s, &c->err);
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
    case CALL_MODIFY:
        c->reply = vnp_client_modify(cl, c->id, c->yaml, &c->err);
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
    client_give_back(c->b, c->pip, c->timeout_s, cl, &c->err);
done:
    c->ms = (long)((cn_now() - t0) * 1000.0 + 0.5);
    pthread_mutex_lock(c->order_lock);
    c->order = (*c->next_order)++;
    pthread_mutex_unlock(c->order_lock);
    if (c->progress)
        progress_report(c->b, c->progress, c);
}

static void *
call_thread(void *arg)
{
    call_once(arg);
    return NULL;
}

/*
 * Runs the calls, in parallel unless the configuration says serial: one
 * thread for each but the last, which runs on the caller's.
 */
static void
run_calls(struct vnpd_broker *b, struct call *calls, size_t n)
{
    pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_t *threads = xcalloc(n + 1, sizeof(*threads));
    bool *started = xcalloc(n + 1, sizeof(*started));
    int next = 0;

    for (size_t i = 0; i < n; i++) {
        calls[i].b = b;
        calls[i].next_order = &next;
        calls[i].order_lock = &order_lock;
        if (!calls[i].timeout_s)
            calls[i].timeout_s = b->cfg->call_timeout_s;
        cn_err_init(&calls[i].err);
    }
    for (size_t i = 0; i < n; i++) {
        if (!b->cfg->serial && i + 1 < n)
            started[i] = pthread_create(&threads[i], NULL, call_thread, &calls[i]) == 0;
        if (!started[i])
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

/*
 * One call of kind per part that is not released (all parts when all is
 * set). A part a modify left behind in release-pending gets releases only.
 */
static struct call *
calls_for_parts(const struct vnpd_broker *b, const struct vnpd_part *parts, size_t nparts,
                enum call_kind kind, const char *id, bool all, size_t *ret_n)
{
    struct call *calls = xcalloc(nparts + 1, sizeof(*calls));
    size_t n = 0;
    for (size_t i = 0; i < nparts; i++) {
        const struct vnpd_pip *pip = pip_named(b, parts[i].pip);
        if (!pip || (!all && cn_streq(parts[i].state, "released")) ||
            (!all && kind != CALL_RELEASE && cn_streq(parts[i].state, "release-pending")))
            continue;
        calls[n].pip = pip;
        calls[n].kind = kind;
        calls[n].id = id;
        n++;
    }
    *ret_n = n;
    return calls;
}

/* ---- grants: the tags handed out, until their release is acknowledged ---- */

static void
grants_add(struct vnpd_broker *b, const char *id, const struct vnp_partial *partials, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct vnpd_pip *pip = pip_named(b, partials[i].pip);
        if (!pip || !partials[i].ntags)
            continue;
        CN_GROW(b->grants, b->grants_cap, b->ngrants + 1);
        struct grant *g = &b->grants[b->ngrants++];
        g->id = xstrdup(id);
        g->pip = pip->name;
        g->ntags = partials[i].ntags;
        g->tags = xcalloc(g->ntags, sizeof(*g->tags));
        memcpy(g->tags, partials[i].tags, g->ntags * sizeof(*g->tags));
    }
}

/* Forgets id's grants; the caller holds the plan lock. */
static void
grants_drop_locked(struct vnpd_broker *b, const char *id)
{
    size_t kept = 0;
    for (size_t i = 0; i < b->ngrants; i++) {
        if (cn_streq(b->grants[i].id, id)) {
            free(b->grants[i].id);
            free(b->grants[i].tags);
        } else {
            b->grants[kept++] = b->grants[i];
        }
    }
    b->ngrants = kept;
}

/*
 * Appends a grant of amounts (taken over; nothing is kept when there are
 * none) for id at pip (NULL: the transit links). One that is not pending
 * has ended now. The caller holds the plan lock.
 */
static void
rgrant_push_locked(struct vnpd_broker *b, const char *id, const char *pip,
                   struct vnp_amount *amounts, size_t n, bool pending)
{
    if (!n) {
        vnp_plan_amounts_free(amounts, n);
        return;
    }
    CN_GROW(b->rgrants, b->rgrants_cap, b->nrgrants + 1);
    b->rgrants[b->nrgrants++] = (struct rgrant){
        .id = xstrdup(id),
        .pip = pip,
        .amounts = amounts,
        .n = n,
        .ended = pending ? 0 : cn_now(),
        .pending = pending,
    };
}

/*
 * Records the bandwidth the plan ml puts on the transit links for ol, as a
 * grant with no PIP. The caller holds the plan lock.
 */
static void
transit_grant_add_locked(struct vnpd_broker *b, const char *id, const struct rdl_graph *ml,
                         const struct rdl_graph *ol, bool pending)
{
    struct vnp_amount *used = NULL;
    size_t nused = 0;
    vnp_plan_transit_used(ml, ol, &used, &nused);
    rgrant_push_locked(b, id, NULL, used, nused, pending);
}

/*
 * Lowers the transit links of ul by the bandwidth every other request holds
 * there. A modify's own current version is left out: the new one replaces
 * it. The caller holds the plan lock.
 */
static void
transit_minus_grants(const struct vnpd_broker *b, const char *id, struct rdl_graph *ul)
{
    for (size_t g = 0; g < b->nrgrants; g++) {
        const struct rgrant *r = &b->rgrants[g];
        if (!r->pip && !cn_streq(r->id, id))
            vnp_plan_transit_minus(ul, r->amounts, r->n);
    }
}

/* Records the resources the plan ml fixed for ol at each PIP of partials, pending. */
static void
rgrants_add_locked(struct vnpd_broker *b, const char *id, const struct rdl_graph *ml,
                   const struct rdl_graph *ol, const struct vnp_partial *partials, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct vnpd_pip *pip = pip_named(b, partials[i].pip);
        struct vnp_amount *amounts = NULL;
        size_t namounts = 0;
        if (!pip)
            continue;
        vnp_plan_used_at(ml, ol, pip->name, &amounts, &namounts);
        rgrant_push_locked(b, id, pip->name, amounts, namounts, true);
    }
    transit_grant_add_locked(b, id, ml, ol, true);
}

/* Forgets id's resource grants: the pending ones, or the others. */
static void
rgrants_drop_locked(struct vnpd_broker *b, const char *id, bool pending)
{
    size_t kept = 0;
    for (size_t i = 0; i < b->nrgrants; i++) {
        struct rgrant *g = &b->rgrants[i];
        if (cn_streq(g->id, id) && g->pending == pending) {
            free(g->id);
            vnp_plan_amounts_free(g->amounts, g->n);
        } else {
            b->rgrants[kept++] = *g;
        }
    }
    b->nrgrants = kept;
}

/*
 * The calls carrying id's new plan ended. When it stands (a negotiation,
 * a modify that succeeded) it replaces the old one and counts from now on
 * until the next describe(); otherwise (a modify put back) the old one
 * stands and the new one is forgotten.
 */
static void
rgrants_settle(struct vnpd_broker *b, const char *id, bool stands)
{
    pthread_mutex_lock(&b->plan_lock);
    if (stands) {
        rgrants_drop_locked(b, id, false);
        double now = cn_now();
        for (size_t i = 0; i < b->nrgrants; i++) {
            if (cn_streq(b->rgrants[i].id, id) && b->rgrants[i].pending) {
                b->rgrants[i].pending = false;
                b->rgrants[i].ended = now;
            }
        }
    } else {
        rgrants_drop_locked(b, id, true);
    }
    pthread_mutex_unlock(&b->plan_lock);
}

/* Forgets id's tags and resources. */
static void
grants_drop(struct vnpd_broker *b, const char *id)
{
    pthread_mutex_lock(&b->plan_lock);
    grants_drop_locked(b, id);
    rgrants_drop_locked(b, id, true);
    rgrants_drop_locked(b, id, false);
    pthread_mutex_unlock(&b->plan_lock);
}

/*
 * The views of s less the resources granted at each PIP that its view may
 * not show: a grant counts while its calls run and, after they ended, while
 * the view is older than their end (its describe() was sent before the PIP
 * answered). A newer view shows what the PIP holds, so the grant no longer
 * counts. Every request's grants count, also the one being planned: a
 * modify adds its current version back (vnp_plan_add_back), which a view
 * older than that version does not show. The caller holds the plan lock;
 * free with views_free.
 */
static struct vnp_pip_view *
views_minus_grants(const struct vnpd_broker *b, const struct sync *s)
{
    struct vnp_pip_view *v = xcalloc(s->n + 1, sizeof(*v));
    for (size_t i = 0; i < s->n; i++) {
        struct vnp_amount *sum = NULL;
        size_t nsum = 0;
        v[i].name = s->views[i].name;
        if (!s->views[i].desc)
            continue;
        for (size_t g = 0; g < b->nrgrants; g++) {
            const struct rgrant *r = &b->rgrants[g];
            if (!r->pip || !cn_streq(r->pip, v[i].name) || (r->ended > 0 && r->ended <= s->at))
                continue;
            for (size_t k = 0; k < r->n; k++) {
                size_t j = 0;
                while (j < nsum && !cn_streq(sum[j].name, r->amounts[k].name))
                    j++;
                if (j == nsum) {
                    sum = xrealloc(sum, (nsum + 1) * sizeof(*sum));
                    sum[nsum++] = (struct vnp_amount){.name = xstrdup(r->amounts[k].name)};
                }
                sum[j].value += r->amounts[k].value;
            }
        }
        v[i].desc = vnp_plan_view_minus(s->views[i].desc, sum, nsum);
        vnp_plan_amounts_free(sum, nsum);
    }
    return v;
}

static void
views_free(struct vnp_pip_view *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        vnp_description_free((struct vnp_description *)(uintptr_t)v[i].desc);
    free(v);
}

/*
 * The tags granted at each of the n PIPs of views, for planning. A grant
 * older than the view is usually in it already; excluding its tags again
 * costs nothing, while telling which grants the view saw would need the
 * PIP's own clock. The caller holds the plan lock; free with taken_free.
 */
static struct vnp_taken_tags *
taken_of(const struct vnpd_broker *b, const struct vnp_pip_view *views, size_t n)
{
    struct vnp_taken_tags *t = xcalloc(n + 1, sizeof(*t));
    for (size_t i = 0; i < n; i++) {
        size_t total = 0;
        for (size_t g = 0; g < b->ngrants; g++)
            if (cn_streq(b->grants[g].pip, views[i].name))
                total += b->grants[g].ntags;
        int *tags = xcalloc(total + 1, sizeof(*tags));
        for (size_t g = 0; g < b->ngrants; g++)
            if (cn_streq(b->grants[g].pip, views[i].name))
                for (size_t k = 0; k < b->grants[g].ntags; k++)
                    tags[t[i].n++] = b->grants[g].tags[k];
        t[i].tags = tags;
    }
    return t;
}

static void
taken_free(struct vnp_taken_tags *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++)
        free((void *)(uintptr_t)t[i].tags);
    free(t);
}

/* ---- releasing ---- */

/*
 * Releases id at every PIP holding a part not yet released and records the
 * outcome in one transaction, together with the request's new state, its
 * reason and fault when state is not NULL (which also ends the operation in
 * flight). A PIP that does not acknowledge keeps its part in release-pending
 * for the chores. "not found" counts as done, except for a part whose
 * negotiation got no answer, until the later of its retry_until and the one
 * given: that negotiation may still arrive at the PIP. Once nothing is held
 * any more, the request's tags are free for the next plan. With
 * pending_only, only the parts in release-pending are released: those a
 * modify took out of a CloudNet that lives on (and keeps its tags).
 */
static void
release_and_mark(struct vnpd_broker *b, const char *id, long long retry_until, const char *state,
                 const char *reason, int fault, bool pending_only)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnpd_part *parts = NULL;
    size_t nparts = 0, n = 0;
    struct call *calls = NULL;
    bool all_done = true;

    if (vnpd_store_parts(b->store, id, &parts, &nparts, &err) < 0)
        goto cleanup;
    if (pending_only) {
        size_t kept = 0;
        for (size_t i = 0; i < nparts; i++) {
            if (cn_streq(parts[i].state, "release-pending")) {
                struct vnpd_part t = parts[kept];
                parts[kept++] = parts[i];
                parts[i] = t;
            }
        }
        calls = calls_for_parts(b, parts, kept, CALL_RELEASE, id, false, &n);
    } else {
        calls = calls_for_parts(b, parts, nparts, CALL_RELEASE, id, false, &n);
    }
    run_calls(b, calls, n);
    bool tx = vnpd_store_transaction(b->store, &err) == 0;
    for (size_t i = 0; i < n; i++) {
        const struct vnpd_part *p = NULL;
        for (size_t j = 0; j < nparts; j++)
            if (cn_streq(parts[j].pip, calls[i].pip->name))
                p = &parts[j];
        long long until = p && p->retry_until > retry_until ? p->retry_until : retry_until;
        bool done = !calls[i].failed || (calls[i].err.code == CN_E_NOTFOUND && wall_now() > until);
        all_done &= done;
        cn_err_clear(&err);
        vnpd_store_set_part(b->store, id, calls[i].pip->name, done ? "released" : "release-pending",
                            NULL, done ? 0 : until, &err);
    }
    if (state) {
        cn_err_clear(&err);
        vnpd_store_set_request(b->store, id, state, NULL, reason, fault, 0, &err);
        vnpd_store_op_end(b->store, id, &err);
    }
    if (tx)
        vnpd_store_commit(b->store, &err);
cleanup:
    if (all_done && !err.count && !pending_only)
        grants_drop(b, id);
    calls_release(calls, n);
    vnpd_parts_free(parts, nparts);
    cn_err_release(&err);
}

/* Undoes id everywhere and marks it failed with why. */
static void
fail_request(struct vnpd_broker *b, const char *id, int code, const char *why,
             long long retry_until)
{
    release_and_mark(b, id, retry_until, "failed", why, code, false);
}

/* ---- synchronisation ---- */

static void sync_release(struct sync *s);

/* Asks every PIP for its describe() in parallel; a PIP that does not answer in time is left out. */
static void
sync_fresh(struct vnpd_broker *b, struct sync *s)
{
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
}

/*
 * The view to plan against. With sync-max-age the answers are kept and
 * reused while young (borrowed: valid while the plan lock is held, which the
 * caller then holds); a stale view costs at most a refusal from the PIP.
 * Without it every caller synchronises on its own, outside the lock.
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
    sync_fresh(b, s);
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
    pthread_mutex_init(&b->plan_lock, NULL);
    pthread_mutex_init(&b->ids_lock, NULL);
    pthread_cond_init(&b->ids_free, NULL);
    pthread_mutex_init(&b->pool_lock, NULL);
    pthread_mutex_init(&b->progress_lock, NULL);
    b->pools = xcalloc(cfg->npips + 1, sizeof(*b->pools));
    for (size_t i = 0; i < cfg->npips; i++)
        b->pools[i].idle = xcalloc(POOL_IDLE_MAX, sizeof(*b->pools[i].idle));
    return b;
}

static void
progress_free(struct progress *pg)
{
    if (!pg)
        return;
    for (size_t i = 0; i < pg->n; i++) {
        free(pg->reports[i].name);
        free(pg->reports[i].state);
        free(pg->reports[i].reason);
    }
    free(pg->reports);
    free(pg->id);
    free(pg->peer);
    free(pg);
}

void
vnpd_broker_free(struct vnpd_broker *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->cfg->npips; i++) {
        for (size_t j = 0; j < b->pools[i].n; j++)
            vnp_client_free(b->pools[i].idle[j]);
        free(b->pools[i].idle);
    }
    free(b->pools);
    for (size_t i = 0; i < b->ngrants; i++) {
        free(b->grants[i].id);
        free(b->grants[i].tags);
    }
    free(b->grants);
    for (size_t i = 0; i < b->nrgrants; i++) {
        free(b->rgrants[i].id);
        vnp_plan_amounts_free(b->rgrants[i].amounts, b->rgrants[i].n);
    }
    free(b->rgrants);
    free(b->busy);
    pthread_mutex_destroy(&b->plan_lock);
    pthread_mutex_destroy(&b->ids_lock);
    pthread_cond_destroy(&b->ids_free);
    pthread_mutex_destroy(&b->pool_lock);
    for (size_t i = 0; i < b->nprogress; i++)
        progress_free(b->progress[i]);
    free(b->progress);
    pthread_mutex_destroy(&b->progress_lock);
    sync_release(&b->cache);
    vnp_client_global_cleanup();
    free(b);
}

/* ---- one call at a time per id ---- */

static bool
id_busy(const struct vnpd_broker *b, const char *id)
{
    for (size_t i = 0; i < b->nbusy; i++)
        if (cn_streq(b->busy[i], id))
            return true;
    return false;
}

/*
 * Marks id busy, waiting while another call works on it (or, with wait
 * false, answering false at once). id is borrowed until id_leave.
 */
static bool
id_enter(struct vnpd_broker *b, const char *id, bool wait)
{
    pthread_mutex_lock(&b->ids_lock);
    while (wait && id_busy(b, id))
        pthread_cond_wait(&b->ids_free, &b->ids_lock);
    bool entered = !id_busy(b, id);
    if (entered) {
        CN_GROW(b->busy, b->busy_cap, b->nbusy + 1);
        b->busy[b->nbusy++] = (char *)(uintptr_t)id;
    }
    pthread_mutex_unlock(&b->ids_lock);
    return entered;
}

static void
id_leave(struct vnpd_broker *b, const char *id)
{
    pthread_mutex_lock(&b->ids_lock);
    for (size_t i = 0; i < b->nbusy; i++)
        if (b->busy[i] == id) {
            b->busy[i] = b->busy[--b->nbusy];
            break;
        }
    pthread_cond_broadcast(&b->ids_free);
    pthread_mutex_unlock(&b->ids_lock);
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
    bool cached = b->cfg->sync_max_age_s > 0;
    (void)err;
    if (!cached)
        sync_fresh(b, &s);
    pthread_mutex_lock(&b->plan_lock);
    if (cached)
        sync_pips(b, &s);
    struct vnp_pip_view *views = views_minus_grants(b, &s);
    struct vnp_description *d = vnp_plan_describe(b->cfg->name, VNPD_VERSION, views, s.n);
    pthread_mutex_unlock(&b->plan_lock);
    views_free(views, s.n);
    sync_release(&s);
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

/* The checks negotiate and modify make before anything else: the id, and the document's size. */
static int
check_document(const struct vnpd_broker *b, const char *id, const char *yaml, struct cn_err *err)
{
    if (!id_ok(id))
        return cn_err_set(err, CN_E_INVALID, "bad id '%s': 1-64 letters, digits, '_', '-', '.'",
                          id);
    if (strlen(yaml) > b->cfg->max_request)
        return cn_err_set(err, CN_E_LIMIT, "graph_yaml of %zu bytes is above max-request (%zu)",
                          strlen(yaml), b->cfg->max_request);
    return 0;
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
report_fill(struct vnp_provider_report *p, const struct call *c)
{
    p->name = xstrdup(c->pip->name);
    p->state = xstrdup(c->failed ? failure_kind(c) : c->reply->state);
    p->ms = (double)c->ms;
    p->reason = c->failed          ? xstrdup(cn_err_msg(&c->err))
                : c->reply->reason ? xstrdup(c->reply->reason)
                                   : NULL;
}

static void
add_provider(struct vnp_reply *r, const struct call *c)
{
    report_fill(&r->providers[c->order], c);
}

/* ---- progress of negotiations in flight ---- */

/*
 * Starts the record of id's negotiation, replacing an earlier one (whose
 * negotiation is over: the caller holds id), and drops records kept long
 * enough. The record lives until a later progress_start drops it.
 */
static struct progress *
progress_start(struct vnpd_broker *b, const char *peer, const char *id)
{
    struct progress *pg = xcalloc(1, sizeof(*pg));
    double now = cn_now();
    pg->id = xstrdup(id);
    pg->peer = xstrdup(peer);
    pthread_mutex_lock(&b->progress_lock);
    for (size_t i = 0; i < b->nprogress;) {
        struct progress *old = b->progress[i];
        if (cn_streq(old->id, id) || (old->done && now - old->done_at > PROGRESS_KEEP_S)) {
            progress_free(old);
            b->progress[i] = b->progress[--b->nprogress];
        } else {
            i++;
        }
    }
    CN_GROW(b->progress, b->progress_cap, b->nprogress + 1);
    b->progress[b->nprogress++] = pg;
    pthread_mutex_unlock(&b->progress_lock);
    return pg;
}

static void
progress_report(struct vnpd_broker *b, struct progress *pg, const struct call *c)
{
    struct vnp_provider_report p;
    report_fill(&p, c);
    pthread_mutex_lock(&b->progress_lock);
    CN_GROW(pg->reports, pg->cap, pg->n + 1);
    pg->reports[pg->n++] = p;
    pthread_mutex_unlock(&b->progress_lock);
}

static void
progress_end(struct vnpd_broker *b, struct progress *pg)
{
    pthread_mutex_lock(&b->progress_lock);
    pg->done = true;
    pg->done_at = cn_now();
    pthread_mutex_unlock(&b->progress_lock);
}

int
vnpd_broker_progress(struct vnpd_broker *b, const char *peer, const char *id,
                     struct vnp_provider_report **ret_reports, size_t *ret_n, bool *ret_done,
                     struct cn_err *err)
{
    struct progress *pg = NULL;
    int rc = -1;

    if (!id_ok(id)) {
        cn_err_set(err, CN_E_INVALID, "bad id '%s'", id);
        return -1;
    }
    pthread_mutex_lock(&b->progress_lock);
    for (size_t i = 0; i < b->nprogress && !pg; i++)
        if (cn_streq(b->progress[i]->id, id))
            pg = b->progress[i];
    if (!pg) {
        cn_err_set(err, CN_E_NOTFOUND, "no negotiation of '%s' in flight", id);
        goto cleanup;
    }
    if (!cn_streq(pg->peer, peer)) {
        cn_err_set(err, CN_E_FORBIDDEN, "CloudNet '%s' belongs to another peer", id);
        goto cleanup;
    }
    struct vnp_provider_report *r = xcalloc(pg->n + 1, sizeof(*r));
    for (size_t i = 0; i < pg->n; i++) {
        r[i].name = xstrdup(pg->reports[i].name);
        r[i].state = xstrdup(pg->reports[i].state);
        r[i].ms = pg->reports[i].ms;
        r[i].reason = pg->reports[i].reason ? xstrdup(pg->reports[i].reason) : NULL;
    }
    *ret_reports = r;
    *ret_n = pg->n;
    *ret_done = pg->done;
    rc = 0;
cleanup:
    pthread_mutex_unlock(&b->progress_lock);
    return rc;
}

/* What a modify plans from: the version it replaces. */
struct modify_base {
    const struct rdl_graph *old_ol;   /* the current request */
    const struct rdl_graph *previous; /* its VNP-level mapping (the stored manifest) */
    const struct vnp_kept_tag *kept;  /* its crossing links' tags */
    size_t nkept;
    const char *const *pips; /* the PIPs holding its live parts */
    size_t npips;
};

/*
 * Plans ol under the plan lock: synchronises (or takes the cached view),
 * builds the VNP's underlay, maps and cuts, and grants the tags it chose.
 * For a modify (base not NULL) the current version's resources count as
 * free, its nodes stay on their PIPs and its crossing links keep their tags.
 */
static int
plan(struct vnpd_broker *b, const char *id, const struct rdl_graph *ol,
     const struct modify_base *base, struct rdl_graph **ret_ml, struct vnp_partial **ret_partials,
     size_t *ret_n, struct cn_err *err)
{
    struct sync s;
    struct rdl_graph *ul = NULL, *ml = NULL;
    struct vnp_taken_tags *taken = NULL;
    struct vnp_pip_view *views = NULL;
    struct map_options opts;
    bool cached = b->cfg->sync_max_age_s > 0;
    int ret = -1;

    if (!cached)
        sync_fresh(b, &s);
    pthread_mutex_lock(&b->plan_lock);
    if (cached)
        sync_pips(b, &s);
    taken = taken_of(b, s.views, s.n);
    views = views_minus_grants(b, &s);
    ul = vnp_plan_underlay(b->cfg->name, views, s.n, b->cfg->transits, b->cfg->ntransits, err);
    if (!ul)
        goto cleanup;
    transit_minus_grants(b, id, ul);
    map_options_init(&opts);
    opts.objective = "cost";
    opts.time_limit_s = b->cfg->map_time_limit_s;
    if (base) {
        /* A PIP holding a piece must be in the view: its elements cannot go elsewhere. */
        for (size_t i = 0; i < base->npips; i++) {
            bool seen = false;
            for (size_t k = 0; k < s.n; k++)
                seen |= s.views[k].desc && cn_streq(s.views[k].name, base->pips[i]);
            if (!seen) {
                cn_err_set(err, CN_E_IO, "pip '%s' is unreachable: it did not answer describe",
                           base->pips[i]);
                goto cleanup;
            }
        }
        vnp_plan_add_back(ul, base->previous, base->old_ol);
        opts.previous = base->previous;
        opts.move_cost = INFINITY;
    }
    if (map_rdl_solve(ul, NULL, 0, ol, &opts, &ml, err) < 0 ||
        vnp_plan_partition_keep(ol, ml, views, s.n, taken, base ? base->kept : NULL,
                                base ? base->nkept : 0, b->cfg->transits, b->cfg->ntransits,
                                ret_partials, ret_n, err) < 0)
        goto cleanup;
    grants_add(b, id, *ret_partials, *ret_n);
    rgrants_add_locked(b, id, ml, ol, *ret_partials, *ret_n);
    *ret_ml = ml;
    ml = NULL;
    ret = 0;
cleanup:
    pthread_mutex_unlock(&b->plan_lock);
    taken_free(taken, s.n);
    views_free(views, s.n);
    rdl_graph_free(ml);
    rdl_graph_free(ul);
    sync_release(&s);
    return ret;
}

/* Records the request, its operation and every part in one transaction. */
static int
record_request(struct vnpd_broker *b, const char *id, const char *peer, const char *yaml,
               const struct vnp_partial *partials, size_t nparts, struct cn_err *err)
{
    if (vnpd_store_transaction(b->store, err) < 0)
        return -1;
    int rc = vnpd_store_begin_request(b->store, id, peer, yaml, err);
    for (size_t i = 0; rc == 0 && i < nparts; i++) {
        char *els = join_lines(partials[i].elements, partials[i].nelements);
        rc = vnpd_store_add_part(b->store, id, partials[i].pip, partials[i].yaml, els, err);
        free(els);
    }
    if (rc < 0) {
        vnpd_store_rollback(b->store);
        return -1;
    }
    return vnpd_store_commit(b->store, err);
}

/*
 * Maps ol over the PIPs, cuts it and negotiates the pieces. On failure err
 * holds the reason to answer and the request is failed (or not stored at
 * all when no PIP was asked anything).
 */
static struct vnp_reply *
negotiate_new(struct vnpd_broker *b, const char *peer, const char *id, const char *yaml,
              const struct rdl_graph *ol, long lease_s, struct progress *pg, struct cn_err *err)
{
    struct rdl_graph *ml = NULL;
    struct vnp_partial *partials = NULL;
    size_t nparts = 0;
    struct call *calls = NULL;
    struct vnp_pip_manifest *pm = NULL;
    struct vnp_reply *res = NULL;
    char *manifest = NULL;
    long pip_lease = lease_s < b->cfg->lease_s ? lease_s : b->cfg->lease_s;
    long long retry_until = wall_now() + pip_lease + b->cfg->call_timeout_s + 5;
    long long expires = 0;
    bool asked = false;

    if (plan(b, id, ol, NULL, &ml, &partials, &nparts, err) < 0)
        goto fail;
    calls = xcalloc(nparts + 1, sizeof(*calls));
    for (size_t i = 0; i < nparts; i++) {
        calls[i].pip = pip_named(b, partials[i].pip);
        calls[i].kind = CALL_NEGOTIATE;
        calls[i].id = id;
        calls[i].yaml = partials[i].yaml;
        calls[i].lease_s = pip_lease;
        calls[i].progress = pg;
        if (!calls[i].pip) {
            cn_err_set(err, CN_E_INTERNAL, "the plan names an unknown pip '%s'", partials[i].pip);
            goto fail;
        }
    }
    if (record_request(b, id, peer, yaml, partials, nparts, err) < 0)
        goto fail;
    asked = true;
    run_calls(b, calls, nparts);
    rgrants_settle(b, id, true);

    res = xcalloc(1, sizeof(*res));
    res->providers = xcalloc(nparts + 1, sizeof(*res->providers));
    res->nproviders = nparts;
    for (size_t i = 0; i < nparts; i++)
        add_provider(res, &calls[i]);
    const struct call *bad = first_failure(calls, nparts);
    if (!bad) {
        pm = xcalloc(nparts + 1, sizeof(*pm));
        for (size_t i = 0; i < nparts; i++) {
            pm[i].pip = calls[i].pip->name;
            pm[i].manifest_yaml =
                calls[i].reply->manifest_yaml ? calls[i].reply->manifest_yaml : "";
            if (calls[i].reply->expires && (!expires || calls[i].reply->expires < expires))
                expires = calls[i].reply->expires;
        }
        manifest = vnp_plan_manifest(ml, pm, nparts, err);
        if (!manifest)
            goto fail;
    }
    /*
     * What every PIP answered, in one transaction. A PIP that refused holds
     * nothing: its part is done, with no release to send (which it might
     * answer with "not found" or, for an id another peer holds there,
     * "forbidden"). Only a negotiation that got no answer may still
     * complete at its PIP: its part alone keeps retry_until for the release.
     */
    if (vnpd_store_transaction(b->store, err) < 0)
        goto fail;
    for (size_t i = 0; i < nparts; i++) {
        if (!calls[i].failed)
            vnpd_store_set_part(b->store, id, calls[i].pip->name, "allocated",
                                calls[i].reply->manifest_yaml, 0, err);
        else if (cn_streq(failure_kind(&calls[i]), "refused"))
            vnpd_store_set_part(b->store, id, calls[i].pip->name, "released", NULL, 0, err);
        else
            vnpd_store_set_part(b->store, id, calls[i].pip->name, "negotiating", NULL, retry_until,
                                err);
    }
    if (!bad) {
        vnpd_store_set_request(b->store, id, "allocated", manifest, NULL, 0, expires, err);
        vnpd_store_op_end(b->store, id, err);
    }
    if (err->count) {
        vnpd_store_rollback(b->store);
        goto fail;
    }
    if (vnpd_store_commit(b->store, err) < 0)
        goto fail;
    if (bad) {
        call_error(b, bad, err);
        goto fail;
    }
    res->id = xstrdup(id);
    res->state = xstrdup("allocated");
    res->expires = expires;
    res->manifest_yaml = manifest;
    manifest = NULL;
    goto cleanup;
fail:
    if (asked) {
        /* Unanswered parts carry their retry_until when the write above got through. */
        fail_request(b, id, err->code, cn_err_msg(err), err->code == CN_E_DB ? retry_until : 0);
    } else {
        grants_drop(b, id);
    }
    vnp_reply_free(res);
    res = NULL;
cleanup:
    free(manifest);
    free(pm);
    calls_release(calls, nparts);
    vnp_partials_free(partials, nparts);
    rdl_graph_free(ml);
    return res;
}

struct vnp_reply *
vnpd_broker_negotiate(struct vnpd_broker *b, const char *peer, const char *id, const char *yaml,
                      long lease_s, struct cn_err *err)
{
    struct vnpd_request *q = NULL;
    struct rdl_graph *ol = NULL;
    struct vnp_reply *res = NULL;
    struct progress *pg = NULL;
    bool entered = false;

    if (check_document(b, id, yaml, err) < 0)
        goto cleanup;
    if (lease_s <= 0) {
        cn_err_set(err, CN_E_INVALID, "lease must be above 0 seconds, got %ld", lease_s);
        goto cleanup;
    }
    entered = id_enter(b, id, true);
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
    pg = progress_start(b, peer, id);
    ol = rdl_read_string(id, yaml, strlen(yaml), err);
    if (!ol)
        goto cleanup;
    if (rdl_graph_kind(ol) != RDL_OVERLAY) {
        cn_err_set(err, CN_E_INVALID, "%s: not an overlay (kind %s)", id,
                   rdl_kind_name(rdl_graph_kind(ol)));
        goto cleanup;
    }
    res = negotiate_new(b, peer, id, yaml, ol, lease_s, pg, err);
cleanup:
    if (pg)
        progress_end(b, pg);
    if (entered)
        id_leave(b, id);
    rdl_graph_free(ol);
    vnpd_request_free(q);
    return res;
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
          enum call_kind kind, struct cn_err *err)
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
    }
    calls_release(calls, n);
    return ret;
}

/*
 * The end of a confirmation in one transaction: the parts provisioned, the
 * request with its manifest, the operation done. Until it commits, recovery
 * sees a confirm in flight and undoes it, so the parts' state need not be
 * written any earlier.
 */
static int
record_provisioned(struct vnpd_broker *b, const char *id, const struct vnpd_part *parts,
                   size_t nparts, const char *manifest, struct cn_err *err)
{
    if (vnpd_store_transaction(b->store, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nparts; i++)
        if (!cn_streq(parts[i].state, "released") && !cn_streq(parts[i].state, "release-pending"))
            rc = vnpd_store_set_part(b->store, id, parts[i].pip, "provisioned", NULL, 0, err);
    if (rc < 0 ||
        vnpd_store_set_request(b->store, id, "provisioned", manifest, NULL, 0, 0, err) < 0 ||
        vnpd_store_op_end(b->store, id, err) < 0) {
        vnpd_store_rollback(b->store);
        return -1;
    }
    return vnpd_store_commit(b->store, err);
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
    if (all_parts(b, id, parts, nparts, CALL_CONFIRM, err) < 0 ||
        all_parts(b, id, parts, nparts, CALL_START, err) < 0)
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
    if (!manifest || record_provisioned(b, id, parts, nparts, manifest, err) < 0)
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
    bool entered = id_enter(b, id, true);
    struct vnp_reply *r = confirm_locked(b, peer, id, err);
    if (entered)
        id_leave(b, id);
    return r;
}

/* ---- release and renew ---- */

static void
release_request(struct vnpd_broker *b, const char *id, const char *reason)
{
    struct cn_err ignored = CN_ERR_INIT;
    vnpd_store_op_begin(b->store, id, "release", &ignored);
    release_and_mark(b, id, 0, "released", reason, 0, false);
    cn_err_release(&ignored);
}

struct vnp_reply *
vnpd_broker_release(struct vnpd_broker *b, const char *peer, const char *id, struct cn_err *err)
{
    struct vnp_reply *res = NULL;
    bool entered = id_enter(b, id, true);
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
    if (entered)
        id_leave(b, id);
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

    bool entered = id_enter(b, id, true);
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
    if (entered)
        id_leave(b, id);
    calls_release(calls, n);
    vnpd_parts_free(parts, nparts);
    vnpd_request_free(q);
    return res;
}

/* ---- modify ---- */

/* Replaces id's grants with the tags of partials: the plan that stands now. */
static void
grants_set(struct vnpd_broker *b, const char *id, const struct vnp_partial *partials, size_t n)
{
    pthread_mutex_lock(&b->plan_lock);
    grants_drop_locked(b, id);
    grants_add(b, id, partials, n);
    pthread_mutex_unlock(&b->plan_lock);
}

/* The kept tags as one partial per PIP (tags only), for grants_set. */
static struct vnp_partial *
kept_as_partials(const struct vnp_kept_tag *kept, size_t nkept, size_t *ret_n)
{
    struct vnp_partial *p = xcalloc(nkept + 1, sizeof(*p));
    size_t n = 0;
    for (size_t k = 0; k < nkept; k++) {
        size_t i = 0;
        while (i < n && !cn_streq(p[i].pip, kept[k].pip))
            i++;
        if (i == n) {
            p[n].pip = xstrdup(kept[k].pip);
            p[n].tags = xcalloc(nkept + 1, sizeof(*p[n].tags));
            n++;
        }
        p[i].tags[p[i].ntags++] = kept[k].vlan;
    }
    *ret_n = n;
    return p;
}

/* What putting a modify back does to one stored part. */
enum undo_kind {
    UNDO_NONE,     /* the modify did not touch it */
    UNDO_PUT_BACK, /* modified, or maybe: modify again with the stored partial */
    UNDO_RELEASE,  /* brought in by the modify: release it */
    UNDO_FORGET,   /* brought in, but its PIP refused: it holds nothing */
};

/*
 * Puts id back as its stored parts say: the stored partial again at every
 * PIP marked UNDO_PUT_BACK, a release at every PIP marked UNDO_RELEASE,
 * those parts recorded released (release-pending until retry_until when a
 * PIP does not acknowledge), the operation ended. 0 when every PIP is back.
 * When one cannot be put back, what it holds is not known: the CloudNet is
 * failed and released everywhere (reason: why plus which PIP), -1 with that
 * PIP's problem added to err.
 */
static int
modify_undo(struct vnpd_broker *b, const char *id, const struct vnpd_part *parts, size_t nparts,
            const enum undo_kind *undo, long long retry_until, const char *why, struct cn_err *err)
{
    struct call *calls = xcalloc(nparts + 1, sizeof(*calls));
    size_t *of = xcalloc(nparts + 1, sizeof(*of));
    size_t n = 0;
    struct cn_err werr = CN_ERR_INIT;
    int ret = 0;

    for (size_t i = 0; i < nparts; i++) {
        const struct vnpd_pip *pip = pip_named(b, parts[i].pip);
        if (!pip || (undo[i] != UNDO_PUT_BACK && undo[i] != UNDO_RELEASE))
            continue;
        calls[n].pip = pip;
        calls[n].kind = undo[i] == UNDO_PUT_BACK ? CALL_MODIFY : CALL_RELEASE;
        calls[n].id = id;
        calls[n].yaml = parts[i].yaml;
        of[n++] = i;
    }
    run_calls(b, calls, n);
    for (size_t c = 0; c < n && ret == 0; c++) {
        if (calls[c].kind != CALL_MODIFY || !calls[c].failed)
            continue;
        struct cn_err back = CN_ERR_INIT;
        call_error(b, &calls[c], &back);
        char *reason = xasprintf("%s; could not put the CloudNet back: %s", why, cn_err_msg(&back));
        cn_err_add(err, err->count ? err->code : CN_E_INTERNAL,
                   "could not put the CloudNet back (%s), so it is released", cn_err_msg(&back));
        fail_request(b, id, CN_E_INTERNAL, reason, retry_until);
        free(reason);
        cn_err_release(&back);
        ret = -1;
    }
    if (ret < 0)
        goto cleanup;
    bool tx = vnpd_store_transaction(b->store, &werr) == 0;
    for (size_t i = 0; i < nparts; i++) {
        if (undo[i] != UNDO_RELEASE && undo[i] != UNDO_FORGET)
            continue;
        const struct call *c = NULL;
        for (size_t k = 0; k < n; k++)
            if (of[k] == i)
                c = &calls[k];
        bool done =
            undo[i] == UNDO_FORGET ||
            (c && (!c->failed || (c->err.code == CN_E_NOTFOUND && wall_now() > retry_until)));
        vnpd_store_put_part(b->store, id, parts[i].pip, parts[i].yaml, "",
                            done ? "released" : "release-pending", NULL, done ? 0 : retry_until,
                            &werr);
    }
    vnpd_store_op_end(b->store, id, &werr);
    if (tx)
        vnpd_store_commit(b->store, &werr);
cleanup:
    calls_release(calls, n);
    free(of);
    cn_err_release(&werr);
    return ret;
}

/* Whether the PIP holds part p for a CloudNet that lives (not one still negotiating). */
static bool
part_held(const struct vnpd_part *p)
{
    return cn_streq(p->state, "allocated") || cn_streq(p->state, "provisioned");
}

/* The part at pip that the PIP holds, or NULL. */
static const struct vnpd_part *
held_part_at(const struct vnpd_part *parts, size_t nparts, const char *pip)
{
    for (size_t i = 0; i < nparts; i++)
        if (cn_streq(parts[i].pip, pip) && part_held(&parts[i]))
            return &parts[i];
    return NULL;
}

/* The calls that brought a PIP in (negotiate), as confirm or start calls; *ret_n of them. */
static struct call *
calls_for_new(const struct call *calls, size_t n, enum call_kind kind, size_t *ret_n)
{
    struct call *more = xcalloc(n + 1, sizeof(*more));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (calls[i].kind == CALL_NEGOTIATE) {
            more[k].pip = calls[i].pip;
            more[k].kind = kind;
            more[k].id = calls[i].id;
            k++;
        }
    *ret_n = k;
    return more;
}

/* Runs calls; on a failure sets err naming the PIP (first refusal first) and answers -1. */
static int
run_all_or_fail(struct vnpd_broker *b, struct call *calls, size_t n, struct cn_err *err)
{
    run_calls(b, calls, n);
    const struct call *bad = first_failure(calls, n);
    if (bad)
        call_error(b, bad, err);
    return bad ? -1 : 0;
}

/*
 * The new manifest of a provisioned CloudNet with every VNode's console
 * (asked of the PIPs; one they do not give is left out).
 */
static char *
modify_consoles(struct vnpd_broker *b, const char *id, const struct rdl_graph *ol,
                const struct vnp_partial *partials, size_t np, const char *manifest,
                struct cn_err *err)
{
    struct call *calls = xcalloc(np + 1, sizeof(*calls));
    size_t n = 0;
    for (size_t i = 0; i < np; i++) {
        const char **nodes = xcalloc(partials[i].nelements + 1, sizeof(*nodes));
        size_t k = 0;
        for (size_t e = 0; e < partials[i].nelements; e++) {
            const struct rdl_element *el = rdl_graph_element(ol, partials[i].elements[e]);
            if (el && rdl_element_is_node(el))
                nodes[k++] = partials[i].elements[e];
        }
        calls[n].pip = pip_named(b, partials[i].pip);
        calls[n].kind = CALL_CONSOLES;
        calls[n].id = id;
        calls[n].elements = nodes;
        calls[n].nelements = k;
        n++;
    }
    run_calls(b, calls, n);
    char *out = manifest_with_consoles(manifest, calls, n, err);
    for (size_t i = 0; i < n; i++)
        free((void *)(uintptr_t)calls[i].elements);
    calls_release(calls, n);
    return out;
}

/* The version a modify replaces, as stored. */
struct modify_current {
    struct vnpd_part *parts;
    size_t nparts;
    struct rdl_graph *old_ol; /* the current request */
    struct rdl_graph *prev;   /* its VNP-level mapping (the stored manifest) */
    struct vnp_kept_tag *kept;
    size_t nkept;
    const char **live; /* the PIPs holding its live parts: names borrowed from parts */
    size_t nlive;
    struct vnp_partial *old_tags; /* kept as grants: they stand again when the modify fails */
    size_t nold_tags;
};

static void
modify_current_release(struct modify_current *cur)
{
    vnp_partials_free(cur->old_tags, cur->nold_tags);
    vnp_kept_tags_free(cur->kept, cur->nkept);
    free(cur->live);
    rdl_graph_free(cur->prev);
    rdl_graph_free(cur->old_ol);
    vnpd_parts_free(cur->parts, cur->nparts);
}

/*
 * Reads the current version of q into *ret_cur, which the caller releases
 * with modify_current_release. A stored version that cannot be read is
 * CN_E_INTERNAL: the store holds what vnpd wrote.
 */
static int
modify_current_read(struct vnpd_broker *b, const struct vnpd_request *q,
                    struct modify_current *ret_cur, struct cn_err *err)
{
    struct modify_current cur = {0};
    int ret = -1;

    if (vnpd_store_parts(b->store, q->id, &cur.parts, &cur.nparts, err) < 0)
        goto cleanup;
    cur.old_ol = rdl_read_string(q->id, q->yaml, strlen(q->yaml), err);
    cur.prev = cur.old_ol && q->manifest
                   ? rdl_read_string("manifest", q->manifest, strlen(q->manifest), err)
                   : NULL;
    if (!cur.prev) {
        if (!err->count)
            cn_err_set(err, CN_E_INTERNAL, "no manifest stored");
        cn_err_prefix(err, "CloudNet '%s': the stored version cannot be read", q->id);
        err->code = CN_E_INTERNAL;
        goto cleanup;
    }
    cur.live = xcalloc(cur.nparts + 1, sizeof(*cur.live));
    for (size_t i = 0; i < cur.nparts; i++) {
        const struct vnpd_part *p = &cur.parts[i];
        if (!part_held(p))
            continue;
        cur.live[cur.nlive++] = p->pip;
        if (vnp_plan_kept_tags(p->pip, p->yaml, &cur.kept, &cur.nkept, err) < 0) {
            err->code = CN_E_INTERNAL;
            goto cleanup;
        }
    }
    cur.old_tags = kept_as_partials(cur.kept, cur.nkept, &cur.nold_tags);
    *ret_cur = cur;
    memset(&cur, 0, sizeof(cur));
    ret = 0;
cleanup:
    modify_current_release(&cur);
    return ret;
}

/*
 * One modify of a live CloudNet, filled step by step by modify_live: the
 * version it replaces, the plan that replaces it, and the calls carrying
 * the plan to the PIPs. modify_release frees what it holds.
 */
struct modify {
    struct vnpd_broker *b;
    const struct vnpd_request *q;
    bool provisioned;
    long lease;            /* asked of the PIPs brought in */
    long long retry_until; /* of the parts recorded before the calls */
    long long expires;     /* of the new version; 0 when provisioned */
    struct modify_current cur;
    struct rdl_graph *ml; /* the new VNP-level mapping */
    struct vnp_partial *partials;
    size_t np;
    const struct vnpd_part **old_of; /* per partial: the live part it replaces, or NULL */
    struct call *calls;              /* one per PIP whose part changes */
    size_t ncalls;
};

static void
modify_release(struct modify *m)
{
    calls_release(m->calls, m->ncalls);
    free(m->old_of);
    vnp_partials_free(m->partials, m->np);
    rdl_graph_free(m->ml);
    modify_current_release(&m->cur);
}

/* Plans ol over the current version: its resources count as free, its nodes and tags stay. */
static int
modify_plan(struct modify *m, const struct rdl_graph *ol, struct cn_err *err)
{
    const struct modify_current *cur = &m->cur;
    struct modify_base base = {
        .old_ol = cur->old_ol,
        .previous = cur->prev,
        .kept = cur->kept,
        .nkept = cur->nkept,
        .pips = cur->live,
        .npips = cur->nlive,
    };
    return plan(m->b, m->q->id, ol, &base, &m->ml, &m->partials, &m->np, err);
}

/*
 * Decides the call to each PIP of the plan. Per PIP: unchanged (no call),
 * modified, or brought in (negotiated).
 */
static int
modify_decide_calls(struct modify *m, struct progress *pg, struct cn_err *err)
{
    const struct vnpd_part **old_of = xcalloc(m->np + 1, sizeof(*old_of));
    struct call *calls = xcalloc(m->np + 1, sizeof(*calls));
    size_t n = 0;
    int ret = -1;

    for (size_t i = 0; i < m->np; i++) {
        const struct vnp_partial *p = &m->partials[i];
        const struct vnpd_pip *pip = pip_named(m->b, p->pip);
        if (!pip) {
            cn_err_set(err, CN_E_INTERNAL, "the plan names an unknown pip '%s'", p->pip);
            goto cleanup;
        }
        old_of[i] = held_part_at(m->cur.parts, m->cur.nparts, p->pip);
        if (old_of[i] && cn_streq(old_of[i]->yaml, p->yaml))
            continue;
        calls[n].pip = pip;
        calls[n].kind = old_of[i] ? CALL_MODIFY : CALL_NEGOTIATE;
        calls[n].id = m->q->id;
        calls[n].yaml = p->yaml;
        calls[n].lease_s = m->lease;
        calls[n].progress = pg;
        n++;
    }
    m->old_of = old_of;
    m->calls = calls;
    m->ncalls = n;
    old_of = NULL;
    calls = NULL;
    n = 0;
    ret = 0;
cleanup:
    calls_release(calls, n);
    free(old_of);
    return ret;
}

/*
 * Records the operation and the parts of the PIPs brought in, in one
 * transaction before the first call, so that recovery can undo whatever
 * a crash interrupts.
 */
static int
modify_record(const struct modify *m, struct cn_err *err)
{
    struct vnpd_store *st = m->b->store;

    if (vnpd_store_transaction(st, err) < 0)
        return -1;
    vnpd_store_op_begin(st, m->q->id, "modify", err);
    for (size_t i = 0; i < m->np; i++) {
        if (m->old_of[i])
            continue;
        char *els = join_lines(m->partials[i].elements, m->partials[i].nelements);
        vnpd_store_put_part(st, m->q->id, m->partials[i].pip, m->partials[i].yaml, els,
                            "negotiating", NULL, m->retry_until, err);
        free(els);
    }
    if (err->count) {
        vnpd_store_rollback(st);
        return -1;
    }
    return vnpd_store_commit(st, err);
}

/* A provisioned CloudNet's new pieces are confirmed and started, as confirm does. */
static int
modify_start_new(const struct modify *m, struct cn_err *err)
{
    static const enum call_kind steps[] = {CALL_CONFIRM, CALL_START};

    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        size_t n = 0;
        struct call *more = calls_for_new(m->calls, m->ncalls, steps[s], &n);
        int rc = run_all_or_fail(m->b, more, n, err);
        calls_release(more, n);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* What pip answered in this modify, or NULL when it was not asked. */
static const struct vnp_reply *
modify_answer(const struct modify *m, const char *pip)
{
    for (size_t c = 0; c < m->ncalls; c++)
        if (cn_streq(m->calls[c].pip->name, pip) && m->calls[c].reply)
            return m->calls[c].reply;
    return NULL;
}

/*
 * The manifest of every PIP's part in the new version. The caller frees
 * the array; its strings are borrowed from m.
 */
static struct vnp_pip_manifest *
modify_pip_manifests(const struct modify *m)
{
    struct vnp_pip_manifest *pm = xcalloc(m->np + 1, sizeof(*pm));

    for (size_t i = 0; i < m->np; i++) {
        const struct vnp_reply *r = modify_answer(m, m->partials[i].pip);
        pm[i].pip = m->partials[i].pip;
        pm[i].manifest_yaml = "";
        if (r && r->manifest_yaml)
            pm[i].manifest_yaml = r->manifest_yaml;
        else if (!r && m->old_of[i] && m->old_of[i]->manifest)
            pm[i].manifest_yaml = m->old_of[i]->manifest; /* unchanged: not asked */
    }
    return pm;
}

/* Ends an allocated CloudNet's lease no later than the lease of a PIP it brought in. */
static void
modify_shorten_lease(struct modify *m)
{
    for (size_t i = 0; i < m->np; i++) {
        const struct vnp_reply *r = modify_answer(m, m->partials[i].pip);
        if (r && !m->old_of[i] && r->expires && m->expires && r->expires < m->expires)
            m->expires = r->expires;
    }
}

/*
 * The manifest of the new version, with every VNode's console when the
 * CloudNet is provisioned. The caller frees it.
 */
static char *
modify_manifest(const struct modify *m, const struct rdl_graph *ol,
                const struct vnp_pip_manifest *pm, struct cn_err *err)
{
    char *manifest = vnp_plan_manifest(m->ml, pm, m->np, err);
    if (!manifest || !m->provisioned)
        return manifest;
    char *with = modify_consoles(m->b, m->q->id, ol, m->partials, m->np, manifest, err);
    free(manifest);
    return with;
}

/* Marks release-pending every live part at a PIP the new version leaves; whether there was one. */
static bool
modify_mark_gone(const struct modify *m, struct cn_err *err)
{
    bool gone = false;

    for (size_t i = 0; i < m->cur.nparts; i++) {
        const struct vnpd_part *p = &m->cur.parts[i];
        bool kept_here = false;
        for (size_t k = 0; k < m->np; k++)
            kept_here |= cn_streq(m->partials[k].pip, p->pip);
        if (kept_here || !part_held(p))
            continue;
        vnpd_store_put_part(m->b->store, m->q->id, p->pip, p->yaml, "", "release-pending", NULL, 0,
                            err);
        gone = true;
    }
    return gone;
}

/*
 * Commits the new version (document yaml, manifest, per-PIP manifests pm)
 * in one transaction, then grants its tags; the pieces taken out are
 * released after.
 */
static int
modify_commit(const struct modify *m, const char *yaml, const struct vnp_pip_manifest *pm,
              const char *manifest, struct cn_err *err)
{
    struct vnpd_store *st = m->b->store;
    const char *id = m->q->id;

    if (vnpd_store_transaction(st, err) < 0)
        return -1;
    vnpd_store_set_request_yaml(st, id, yaml, err);
    for (size_t i = 0; i < m->np; i++) {
        char *els = join_lines(m->partials[i].elements, m->partials[i].nelements);
        vnpd_store_put_part(st, id, m->partials[i].pip, m->partials[i].yaml, els, m->q->state,
                            pm[i].manifest_yaml, 0, err);
        free(els);
    }
    bool gone = modify_mark_gone(m, err);
    vnpd_store_set_request(st, id, m->q->state, manifest, NULL, 0, m->expires, err);
    vnpd_store_op_end(st, id, err);
    if (err->count) {
        vnpd_store_rollback(st);
        return -1;
    }
    if (vnpd_store_commit(st, err) < 0)
        return -1;
    grants_set(m->b, id, m->partials, m->np);
    rgrants_settle(m->b, id, true);
    if (gone)
        release_and_mark(m->b, id, 0, NULL, NULL, 0, true);
    return 0;
}

/* The answer to a modify that went through. Takes manifest; the caller frees the reply. */
static struct vnp_reply *
modify_result(const struct modify *m, char *manifest)
{
    struct vnp_reply *res = xcalloc(1, sizeof(*res));

    res->providers = xcalloc(m->ncalls + 1, sizeof(*res->providers));
    res->nproviders = m->ncalls;
    for (size_t i = 0; i < m->ncalls; i++)
        add_provider(res, &m->calls[i]);
    res->id = xstrdup(m->q->id);
    res->state = xstrdup(m->q->state);
    res->expires = m->expires;
    res->manifest_yaml = manifest;
    return res;
}

/*
 * Puts every PIP back after a modify that failed once its parts were
 * recorded; the old grants stand again when every PIP is back.
 */
static void
modify_put_back(const struct modify *m, struct cn_err *err)
{
    const struct modify_current *cur = &m->cur;
    /* The parts as stored (the old version) and the PIPs brought in, with what each needs. */
    struct vnpd_part *parts = xcalloc(cur->nparts + m->ncalls + 1, sizeof(*parts));
    enum undo_kind *undo = xcalloc(cur->nparts + m->ncalls + 1, sizeof(*undo));
    size_t n = 0;

    for (size_t i = 0; i < cur->nparts; i++)
        parts[n++] = cur->parts[i];
    for (size_t c = 0; c < m->ncalls; c++) {
        const struct call *call = &m->calls[c];
        bool refused = call->failed && cn_streq(failure_kind(call), "refused");
        if (call->kind == CALL_NEGOTIATE) {
            parts[n] = (struct vnpd_part){.pip = (char *)(uintptr_t)call->pip->name,
                                          .yaml = (char *)(uintptr_t)call->yaml};
            undo[n++] = refused ? UNDO_FORGET : UNDO_RELEASE;
            continue;
        }
        for (size_t i = 0; i < cur->nparts; i++)
            if (cn_streq(cur->parts[i].pip, call->pip->name) && !refused)
                undo[i] = UNDO_PUT_BACK;
    }
    char *why = xasprintf("modify failed: %s", cn_err_msg(err));
    if (modify_undo(m->b, m->q->id, parts, n, undo, m->retry_until, why, err) == 0) {
        grants_set(m->b, m->q->id, cur->old_tags, cur->nold_tags);
        rgrants_settle(m->b, m->q->id, false);
    }
    free(why);
    free(undo);
    free(parts);
}

/*
 * Modifies the live CloudNet q to ol (document yaml): plans it over the
 * current version, records the operation (and the parts of PIPs it brings
 * in) before the first call, changes every PIP in parallel, and records
 * the new version in one transaction; any failure puts every PIP back.
 */
static struct vnp_reply *
modify_live(struct vnpd_broker *b, const struct vnpd_request *q, const struct rdl_graph *ol,
            const char *yaml, struct progress *pg, struct cn_err *err)
{
    bool provisioned = cn_streq(q->state, "provisioned");
    long long now = wall_now();
    long lease = provisioned || !q->expires ? b->cfg->lease_s : (long)(q->expires - now);
    struct modify m = {
        .b = b,
        .q = q,
        .provisioned = provisioned,
        .lease = lease,
        .retry_until = now + lease + b->cfg->call_timeout_s + 5,
        .expires = provisioned ? 0 : q->expires,
    };
    struct vnp_pip_manifest *pm = NULL;
    char *manifest = NULL;
    struct vnp_reply *res = NULL;
    bool planned = false, asked = false;

    if (modify_current_read(b, q, &m.cur, err) < 0 || modify_plan(&m, ol, err) < 0)
        goto cleanup;
    planned = true;
    if (modify_decide_calls(&m, pg, err) < 0 || modify_record(&m, err) < 0)
        goto fail;
    asked = true;
    if (run_all_or_fail(b, m.calls, m.ncalls, err) < 0)
        goto fail;
    if (provisioned && modify_start_new(&m, err) < 0)
        goto fail;
    pm = modify_pip_manifests(&m);
    modify_shorten_lease(&m);
    manifest = modify_manifest(&m, ol, pm, err);
    if (!manifest || modify_commit(&m, yaml, pm, manifest, err) < 0)
        goto fail;
    res = modify_result(&m, manifest);
    manifest = NULL;
    goto cleanup;

fail:
    if (asked)
        modify_put_back(&m, err);
    else if (planned) {
        grants_set(b, q->id, m.cur.old_tags, m.cur.nold_tags);
        rgrants_settle(b, q->id, false);
    }
cleanup:
    free(manifest);
    free(pm);
    modify_release(&m);
    return res;
}

struct vnp_reply *
vnpd_broker_modify(struct vnpd_broker *b, const char *peer, const char *id, const char *yaml,
                   struct cn_err *err)
{
    struct vnpd_request *q = NULL;
    struct rdl_graph *ol = NULL;
    struct vnp_reply *res = NULL;
    struct progress *pg = NULL;
    bool entered = false;

    if (check_document(b, id, yaml, err) < 0)
        goto cleanup;
    entered = id_enter(b, id, true);
    q = owned(b, peer, id, err);
    if (!q)
        goto cleanup;
    if (!cn_streq(q->state, "allocated") && !cn_streq(q->state, "provisioned")) {
        cn_err_set(err, CN_E_INVALID, "CloudNet '%s' is %s", id, q->state);
        goto cleanup;
    }
    if (cn_streq(q->state, "allocated") && q->expires && q->expires <= wall_now()) {
        cn_err_set(err, CN_E_EXPIRED, "the lease of CloudNet '%s' has ended", id);
        goto cleanup;
    }
    /* The document in place already: the same answer, nothing asked of any PIP. */
    if (cn_streq(q->yaml, yaml)) {
        res = result_of(q, true);
        goto cleanup;
    }
    ol = rdl_read_string(id, yaml, strlen(yaml), err);
    if (!ol)
        goto cleanup;
    if (rdl_graph_kind(ol) != RDL_OVERLAY) {
        cn_err_set(err, CN_E_INVALID, "%s: not an overlay (kind %s)", id,
                   rdl_kind_name(rdl_graph_kind(ol)));
        goto cleanup;
    }
    pg = progress_start(b, peer, id);
    res = modify_live(b, q, ol, yaml, pg, err);
cleanup:
    if (pg)
        progress_end(b, pg);
    if (entered)
        id_leave(b, id);
    rdl_graph_free(ol);
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

    bool entered = id_enter(b, id, true);
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
    if (entered)
        id_leave(b, id);
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

    bool entered = id_enter(b, id, true);
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
    if (entered)
        id_leave(b, id);
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

    bool entered = id_enter(b, id, true);
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
    if (entered)
        id_leave(b, id);
    vnpd_parts_free(parts, nparts);
    vnpd_request_free(q);
    return uri;
}

int
vnpd_broker_list(struct vnpd_broker *b, const char *peer, struct vnpd_request **ret_items,
                 size_t *ret_n, struct cn_err *err)
{
    return vnpd_store_list(b->store, peer, ret_items, ret_n, err);
}

/* ---- chores and recovery ---- */

int
vnpd_broker_chores(struct vnpd_broker *b, struct cn_err *err)
{
    char **ids = NULL;
    size_t n = 0;
    int rc = vnpd_store_chores(b->store, wall_now(), &ids, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        /* A call working on it now will be done with it; the next round looks again. */
        if (!id_enter(b, ids[i], false))
            continue;
        struct vnpd_request *q = vnpd_store_get(b->store, ids[i], err);
        if (q && cn_streq(q->state, "allocated") && q->expires <= wall_now())
            release_request(b, ids[i], "lease expired");
        else if (q)
            release_and_mark(b, ids[i], 0, NULL, NULL, 0,
                             cn_streq(q->state, "allocated") || cn_streq(q->state, "provisioned"));
        vnpd_request_free(q);
        cn_err_clear(err);
        id_leave(b, ids[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return rc;
}

/*
 * An interrupted modify is undone: until its outcome committed, the parts
 * hold the version it was replacing, so every PIP holding a live part gets
 * that partial again (a PIP the modify never reached answers it as a
 * repeat) and every PIP it brought in (its part still negotiating) is
 * released. A PIP that cannot be put back fails the whole CloudNet.
 */
static void
recover_modify(struct vnpd_broker *b, const char *id, struct cn_buf *log)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnpd_part *parts = NULL;
    size_t nparts = 0;
    long long retry_until = wall_now() + b->cfg->lease_s + b->cfg->call_timeout_s + 5;

    if (vnpd_store_parts(b->store, id, &parts, &nparts, &err) < 0) {
        fail_request(b, id, CN_E_INTERNAL, "vnpd restarted during modify", retry_until);
        if (log)
            cn_buf_printf(log, "undid '%s' (modify interrupted; parts unreadable)\n", id);
        goto cleanup;
    }
    enum undo_kind *undo = xcalloc(nparts + 1, sizeof(*undo));
    for (size_t i = 0; i < nparts; i++) {
        if (part_held(&parts[i]))
            undo[i] = UNDO_PUT_BACK;
        else if (cn_streq(parts[i].state, "negotiating"))
            undo[i] = UNDO_RELEASE;
    }
    int rc =
        modify_undo(b, id, parts, nparts, undo, retry_until, "vnpd restarted during modify", &err);
    if (log)
        cn_buf_printf(log,
                      rc == 0 ? "put '%s' back (modify interrupted)\n"
                              : "released '%s' (modify interrupted, a PIP could not be put "
                                "back)\n",
                      id);
    free(undo);
cleanup:
    vnpd_parts_free(parts, nparts);
    cn_err_release(&err);
}

/*
 * The transit bandwidth of every request that may still hold something,
 * from its stored version and VNP-level mapping (the manifest): no PIP's
 * describe() shows it, so a restart must not offer it again. Grants are
 * empty at start, so nothing is counted twice.
 */
static int
transit_grants_rebuild(struct vnpd_broker *b, struct cn_buf *log, struct cn_err *err)
{
    struct vnpd_request *items = NULL;
    size_t n = 0;
    if (vnpd_store_holding(b->store, &items, &n, err) < 0)
        return -1;
    pthread_mutex_lock(&b->plan_lock);
    for (size_t i = 0; i < n; i++) {
        struct cn_err perr = CN_ERR_INIT;
        const struct vnpd_request *q = &items[i];
        struct rdl_graph *ol = rdl_read_string(q->id, q->yaml, strlen(q->yaml), &perr);
        struct rdl_graph *ml =
            ol ? rdl_read_string("manifest", q->manifest, strlen(q->manifest), &perr) : NULL;
        if (ml)
            transit_grant_add_locked(b, q->id, ml, ol, false);
        else if (log)
            cn_buf_printf(log, "'%s': its transit bandwidth is not counted: %s\n", q->id,
                          cn_err_msg(&perr));
        rdl_graph_free(ml);
        rdl_graph_free(ol);
        cn_err_release(&perr);
    }
    pthread_mutex_unlock(&b->plan_lock);
    vnpd_requests_free(items, n);
    return 0;
}

int
vnpd_broker_recover(struct vnpd_broker *b, struct cn_buf *log, struct cn_err *err)
{
    struct vnpd_op *ops = NULL;
    size_t n = 0;
    int rc = vnpd_store_ops(b->store, &ops, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (cn_streq(ops[i].op, "release")) {
            release_request(b, ops[i].id, "released (finished after a vnpd restart)");
            if (log)
                cn_buf_printf(log, "finished releasing '%s'\n", ops[i].id);
            continue;
        }
        if (cn_streq(ops[i].op, "modify")) {
            recover_modify(b, ops[i].id, log);
            continue;
        }
        char *why = xasprintf("vnpd restarted during %s", ops[i].op);
        /* The PIPs' leases end what a release here cannot reach. */
        fail_request(b, ops[i].id, CN_E_INTERNAL, why, wall_now() + b->cfg->lease_s);
        if (log)
            cn_buf_printf(log, "undid '%s' (%s interrupted)\n", ops[i].id, ops[i].op);
        free(why);
    }
    vnpd_ops_free(ops, n);
    if (rc == 0)
        rc = transit_grants_rebuild(b, log, err);
    return rc;
}
