/*
 * pipd's storage: the substrate (UL graph), every CloudNet's reservation
 * with its overlay (OL) and mapping (ML) documents, what each reservation
 * consumes on each underlay element, and the VLAN tags it holds, kept in a
 * MySQL/MariaDB database (DESIGN section 6). Only pip/store.c talks to the
 * database.
 *
 * Capacity is never double-booked: a reservation is one transaction that
 * locks the underlay elements it touches, checks what is free under those
 * locks and inserts everything or nothing. A reservation in state allocated
 * holds its resources until its lease ends; confirm makes it provisioned,
 * which holds them until release. Expired allocations no longer count as
 * used, and confirm and renew refuse them; the reaper (pip_store_list with
 * PIP_LIST_EXPIRED, then pip_store_release) tears their embedding down. VLAN
 * tags of an expired reservation stay taken until it is released, because
 * they are still configured on the ports until then.
 *
 * A store is one database connection: use it from one thread at a time, and
 * open one per thread. Functions return 0 or a pointer on success, -1 or
 * NULL with err set on failure (CN_E_DB for database trouble, CN_E_BUSY for a
 * lock conflict worth retrying, and the codes named below); ret_ parameters
 * are left untouched on failure. Objects returned are the caller's, freed
 * with the matching *_free.
 */
#ifndef CLOUDNET_PIP_STORE_H
#define CLOUDNET_PIP_STORE_H

#include <stdbool.h>
#include <stddef.h>

struct cn_buf;
struct cn_err;
struct rdl_graph;
struct pip_store;

/* Where the database is. Strings are copied by pip_store_open. */
struct pip_store_config {
    const char *socket;   /* UNIX socket path; when NULL, host and port are used */
    const char *host;     /* NULL means localhost */
    unsigned port;        /* 0 means the default */
    const char *user;     /* NULL means the current user */
    const char *password; /* NULL means none */
    const char *database; /* created when missing; letters, digits, '_' and '$' only */
    long max_lease_s;     /* cap on leases granted by reserve and renew; 0 means 3600 */
    unsigned lock_wait_s; /* how long to wait for a row lock before CN_E_BUSY; 0 means 10 */
};

/*
 * Connects, creating the database when it does not exist. Does not touch
 * the schema: call pip_store_migrate.
 */
struct pip_store *pip_store_open(const struct pip_store_config *cfg, struct cn_err *err);
void pip_store_close(struct pip_store *s);

/*
 * Whether the connection to the server was lost: every further call fails,
 * so a pool of stores drops this one.
 */
bool pip_store_broken(const struct pip_store *s);

/*
 * Replaces the clock (Unix seconds) used for leases and timestamps; tests
 * use it to let leases run out. NULL restores the system clock.
 */
void pip_store_set_clock(struct pip_store *s, long long (*now)(void *arg), void *arg);

/* ---- schema ---- */

/* The schema version this code works with. */
int pip_store_schema_latest(void);
/* The version the database has: 0 for an empty database. */
int pip_store_schema_version(struct pip_store *s, int *ret_version, struct cn_err *err);
/*
 * Brings the schema to `target` (0 means the latest) by running the
 * embedded scripts after the current version in order, each recorded in
 * schema_version when it completes. Serialised across processes by a named
 * lock. A database newer than this code, or a target below its version,
 * fails with CN_E_DB. Fills ret_from (may be NULL) with the version found.
 */
int pip_store_migrate(struct pip_store *s, int target, int *ret_from, struct cn_err *err);

/* ---- the substrate ---- */

/*
 * Stores ul (an underlay graph) as the substrate, replacing the previous
 * one. Refused with CN_E_BUSY while any reservation is allocated or
 * provisioned, unless ul is the same document that is stored already (then
 * nothing changes). CN_E_INVALID when ul is not a valid underlay or a
 * resource is not a non-negative number.
 */
int pip_store_load_substrate(struct pip_store *s, const struct rdl_graph *ul, struct cn_err *err);
/* The stored substrate, equal to what was loaded; CN_E_NOTFOUND when none. */
struct rdl_graph *pip_store_dump_substrate(struct pip_store *s, struct cn_err *err);
/* Hex digits of a substrate digest. */
#define PIP_DIGEST_LEN 64
/*
 * The same, with the substrate's digest (SHA-256 of the stored document):
 * a substrate parsed once can be kept as long as pip_store_substrate_digest
 * answers the same digest, which costs one small read.
 */
struct rdl_graph *pip_store_dump_substrate_digest(struct pip_store *s,
                                                  char ret_digest[PIP_DIGEST_LEN + 1],
                                                  struct cn_err *err);
int pip_store_substrate_digest(struct pip_store *s, char ret_digest[PIP_DIGEST_LEN + 1],
                               struct cn_err *err);

/* One resource of one underlay element. */
struct pip_usage {
    char *element;
    char *resource;
    double capacity;
    double used; /* by allocated reservations not expired, and provisioned ones */
    double free; /* capacity - used, never below 0 */
};
/* Every resource of every element, in document order; the caller frees. */
int pip_store_usage(struct pip_store *s, struct pip_usage **ret_usage, size_t *ret_count,
                    struct cn_err *err);
void pip_usage_free(struct pip_usage *usage, size_t count);

/*
 * The substrate with every resource replaced by what is free of it: the
 * graph the mapper places a new CloudNet on.
 */
struct rdl_graph *pip_store_residual_substrate(struct pip_store *s, struct cn_err *err);
/*
 * The same, except that reservation `id` is counted as holding nothing: the
 * graph a modified CloudNet is placed on, since its new allocations replace
 * its old ones.
 */
struct rdl_graph *pip_store_residual_substrate_without(struct pip_store *s, const char *id,
                                                       struct cn_err *err);

/*
 * Replaces every resource of g, a copy of the stored substrate, with what
 * is free of it, not counting what reservation `except` (may be NULL)
 * holds: the residual substrate without parsing the stored document again.
 */
int pip_store_residual_apply(struct pip_store *s, struct rdl_graph *g, const char *except,
                             struct cn_err *err);

/*
 * Free resources summed per resource name over the substrate's nodes (what
 * describe() advertises for a PIP seen as one node), with the largest free
 * amount on a single node, since one VNode cannot span hosts.
 */
struct pip_total {
    char *resource;
    double capacity;
    double free;
    double largest_free;
};
int pip_store_totals(struct pip_store *s, struct pip_total **ret_totals, size_t *ret_count,
                     struct cn_err *err);
void pip_totals_free(struct pip_total *totals, size_t count);

/* An inclusive range of VLAN tags. */
struct pip_vlan_range {
    int first;
    int last;
};
/*
 * The free tags on one underlay element (its own vlan_range, else the
 * substrate's, else 1-4094), or with scope NULL the tags of the substrate's
 * range that are free everywhere. Ascending, non-adjacent ranges; the
 * caller frees the array with free(). CN_E_NOTFOUND for an unknown scope.
 */
int pip_store_free_vlans(struct pip_store *s, const char *scope, struct pip_vlan_range **ret_ranges,
                         size_t *ret_count, struct cn_err *err);

/* ---- reservations ---- */

enum pip_state {
    PIP_ALLOCATED,
    PIP_PROVISIONED,
    PIP_RELEASED,
    PIP_FAILED,
};
const char *pip_state_name(enum pip_state state);

/* An amount of one resource consumed on one underlay element. */
struct pip_alloc {
    const char *element;
    const char *resource;
    double amount;
};

/*
 * A VLAN tag for one virtual link. The tag is taken on every scope element
 * (the underlay links of its path, or the host when both ends share one);
 * with no scopes it is taken on the whole substrate. tag 0 asks for the
 * lowest tag free on every scope within the intersection of their ranges.
 */
struct pip_vlan_request {
    const char *overlay_link;
    const char *const *scopes;
    size_t nscopes;
    int tag;
    /*
     * When not NULL, an underlay element (a /link/transit, say) whose range
     * the tag must also lie in, wherever the tag is held: the tag a VNP
     * chose for a transit link must be one that link may carry.
     */
    const char *range_of;
};

struct pip_reserve_request {
    const char *id;      /* the caller's CloudNet id */
    const char *request; /* the request as the peer sent it: hashed for idempotency */
    const char *peer;    /* who asks; NULL means '' (local tools) */
    const char *overlay_yaml;
    /*
     * The mapping document, stored as given, except that with VLAN requests
     * it must be a mapping document or "", and the entry of each virtual
     * link, if there is one, gets the link's tag as its `vlan`.
     */
    const char *mapping_yaml;
    long lease_s; /* > 0; capped by the configured maximum */
    const struct pip_alloc *allocs;
    size_t nallocs;
    const struct pip_vlan_request *vlans;
    size_t nvlans;
};

/* A tag held by a reservation, once per virtual link. */
struct pip_vlan_grant {
    char *overlay_link;
    int tag;
};

struct pip_reservation {
    char *id;
    enum pip_state state;
    char *peer;
    long long expires_at; /* Unix seconds; 0 when there is no lease (provisioned and later) */
    long long created_at;
    long long updated_at;
    char *overlay_yaml; /* NULL in lists */
    char *mapping_yaml; /* NULL in lists */
    char *reason;       /* why it failed or was released, or NULL */
    struct pip_vlan_grant *vlans;
    size_t nvlans;
};
void pip_reservation_free(struct pip_reservation *r);

/*
 * Reserves everything the request lists, in one transaction: all or
 * nothing. CN_E_INSUFFICIENT (one message per shortfall) when an element
 * lacks free capacity, CN_E_VLAN when a wanted tag is taken or out of range
 * or no tag is free, CN_E_INVALID for malformed input or an unknown
 * element, CN_E_NOTFOUND when no substrate is loaded.
 *
 * Idempotent: when the id exists already with the same request, returns
 * that reservation (whatever its state) with *ret_existed true and changes
 * nothing; with a different request fails with CN_E_INVALID.
 * ret_existed may be NULL.
 */
struct pip_reservation *pip_store_reserve(struct pip_store *s,
                                          const struct pip_reserve_request *req, bool *ret_existed,
                                          struct cn_err *err);
/*
 * What pip_store_reserve would answer for an existing id, without mapping
 * anything: *ret is the reservation when id exists with the same request,
 * NULL when id is unknown; CN_E_INVALID when id was used for another request.
 */
int pip_store_lookup(struct pip_store *s, const char *id, const char *request,
                     struct pip_reservation **ret, struct cn_err *err);

/*
 * What a modified CloudNet holds instead of what it held: its new overlay
 * and mapping documents, allocations and VLAN requests.
 */
struct pip_modify_request {
    const char *id;
    const char *overlay_yaml;
    /*
     * The new mapping document, stored with the tag of every VLAN request
     * written into the entry of its virtual link (when it has one); "" is
     * stored as is.
     */
    const char *mapping_yaml;
    const struct pip_alloc *allocs;
    size_t nallocs;
    const struct pip_vlan_request *vlans;
    size_t nvlans;
};

/*
 * Swaps a live reservation's allocations, VLAN tags and documents for the
 * request's, in one transaction with the same locks and capacity check as
 * pip_store_reserve (the reservation's own old allocations do not count
 * against it): all or nothing. A virtual link the reservation holds a tag
 * for keeps that tag (unless its request names another one), a new link
 * gets a tag as in pip_store_reserve, and the tags of links not requested
 * any more are freed. State, lease, peer and the negotiated request's hash
 * stay as they were.
 *
 * When the stored overlay is the request's overlay already, nothing changes
 * and *ret_unchanged (may be NULL) is true, so a repeated modify is
 * harmless. CN_E_NOTFOUND for an unknown id, CN_E_INVALID when released or
 * failed or for malformed input, CN_E_EXPIRED when the lease has ended,
 * CN_E_INSUFFICIENT and CN_E_VLAN as for pip_store_reserve.
 */
int pip_store_modify(struct pip_store *s, const struct pip_modify_request *req, bool *ret_unchanged,
                     struct cn_err *err);

/* The reservation with its documents; CN_E_NOTFOUND when unknown. */
struct pip_reservation *pip_store_get(struct pip_store *s, const char *id, struct cn_err *err);
/*
 * The same in one statement, without the VLAN tags (vlans NULL), and with
 * the documents only when with_documents (the tags are in the mapping).
 */
struct pip_reservation *pip_store_get_brief(struct pip_store *s, const char *id,
                                            bool with_documents, struct cn_err *err);

/*
 * allocated -> provisioned, which ends the lease (a confirmed CloudNet lives
 * until released). Confirming a provisioned reservation again succeeds.
 * CN_E_EXPIRED when the lease has ended; CN_E_INVALID when released or
 * failed; CN_E_NOTFOUND when unknown.
 */
int pip_store_confirm(struct pip_store *s, const char *id, struct cn_err *err);

/*
 * Any state -> released: its allocations and VLAN tags are freed. reason
 * (may be NULL) is recorded, e.g. "lease expired" from the reaper.
 * Releasing again succeeds and changes nothing. CN_E_NOTFOUND when unknown.
 */
int pip_store_release(struct pip_store *s, const char *id, const char *reason, struct cn_err *err);

/*
 * allocated or provisioned -> failed (the embedding failed), freeing its
 * allocations and tags and recording reason. Failing a failed reservation
 * again succeeds; a released one is CN_E_INVALID.
 */
int pip_store_fail(struct pip_store *s, const char *id, const char *reason, struct cn_err *err);

/*
 * Extends an allocated reservation's lease to now + lease_s, capped by the
 * configured maximum, and fills ret_expires_at with the expiry granted. A
 * provisioned reservation has no lease: succeeds with 0. CN_E_EXPIRED when
 * the lease has ended, CN_E_INVALID when released or failed or lease_s <= 0.
 */
int pip_store_renew(struct pip_store *s, const char *id, long lease_s, long long *ret_expires_at,
                    struct cn_err *err);

enum pip_list_filter {
    PIP_LIST_ALL,
    PIP_LIST_ACTIVE,  /* allocated (lease running) or provisioned */
    PIP_LIST_EXPIRED, /* allocated with its lease ended: the reaper's work */
};
/* Reservations without their documents, ordered by id; the caller frees. */
int pip_store_list(struct pip_store *s, enum pip_list_filter filter,
                   struct pip_reservation **ret_items, size_t *ret_count, struct cn_err *err);
void pip_reservations_free(struct pip_reservation *items, size_t count);

/*
 * Appends every row of every table, in key order, one line per row with
 * tab-separated columns ("\N" for NULL): a picture of the database that
 * tests compare before and after a failed call, and operators can read.
 */
int pip_store_dump_tables(struct pip_store *s, struct cn_buf *out, struct cn_err *err);

#endif /* CLOUDNET_PIP_STORE_H */
