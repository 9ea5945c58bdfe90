/*
 * vnpd's private header: the configuration (vnp/config.c), the store of
 * brokered requests (vnp/store.c, the only file of vnp/ that includes
 * mysql.h), the broker that answers the negotiation interface by talking to
 * the PIPs (vnp/broker.c) and the XML-RPC face (vnp/rpc.c, the only file of
 * vnp/ that includes the xmlrpc-c server headers). vnp/main.c wires them.
 *
 * The broker knows nothing of XML-RPC: it answers struct vnp_reply and
 * fails with a struct cn_err whose code rpc.c turns into a fault code.
 */
#ifndef CLOUDNET_VNPD_H
#define CLOUDNET_VNPD_H

#include <stdbool.h>
#include <stddef.h>

#include "vnp/client.h"
#include "vnp/plan.h"

struct cn_err;
struct cn_buf;

#define VNPD_VERSION "0.1"

/* ---- configuration ---- */

struct vnpd_peer {
    char *name;
    char *secret;
};

/* A brokered PIP (or VNP): where it listens and the secret vnpd uses there. */
struct vnpd_pip {
    char *name;
    char *url;
    char *secret;
};

struct vnpd_config {
    char *name; /* default "vnp" */
    char *listen_host;
    unsigned listen_port;
    char *db_socket, *db_host, *db_name, *db_user;
    unsigned db_port;
    struct vnpd_peer *peers;
    size_t npeers;
    struct vnpd_pip *pips;
    size_t npips;
    struct vnp_transit_conf *transits;
    size_t ntransits;
    unsigned call_timeout_s; /* per call to a PIP */
    long lease_s;            /* cap on the lease asked of PIPs while negotiating */
    double map_time_limit_s;
    size_t max_request;
    bool serial;             /* negotiate with one PIP after the other (benchmark only) */
    unsigned sync_max_age_s; /* reuse describe() answers this long; 0: always ask */
};

struct vnpd_config *vnpd_config_new(void);
void vnpd_config_free(struct vnpd_config *cfg);
/* Reads a file into cfg; one "FILE:LINE: message" line per problem in err. */
int vnpd_config_read(struct vnpd_config *cfg, const char *path, struct cn_err *err);

/* ---- the store ---- */

struct vnpd_store;

/* Opens (creating the database when missing) and migrates the schema. */
struct vnpd_store *vnpd_store_open(const struct vnpd_config *cfg, struct cn_err *err);
void vnpd_store_close(struct vnpd_store *s);

/* One brokered CloudNet. */
struct vnpd_request {
    char *id;
    char *peer;
    char *state; /* negotiating, allocated, provisioned, released, failed */
    char *yaml;
    char *manifest; /* or NULL */
    char *reason;   /* or NULL */
    int fault;      /* the cn_errcode a failed negotiation answered, else 0 */
    long long expires;
};
void vnpd_request_free(struct vnpd_request *r);

/* The piece of a request one PIP holds. */
struct vnpd_part {
    char *pip;
    char *yaml;
    char *elements;        /* the request's element ids it holds, one per line */
    char *state;           /* negotiating, allocated, provisioned, release-pending, released */
    char *manifest;        /* the PIP's manifest, or NULL */
    long long retry_until; /* release-pending: give up retrying after this */
};
void vnpd_parts_free(struct vnpd_part *p, size_t n);

/* NULL with CN_E_NOTFOUND when there is no such request. */
struct vnpd_request *vnpd_store_get(struct vnpd_store *s, const char *id, struct cn_err *err);
/*
 * Groups the statements that follow into one transaction until
 * vnpd_store_commit() or vnpd_store_rollback() (nested pairs join the
 * outermost); meanwhile other threads' statements wait. Without one, every
 * statement commits on its own.
 */
int vnpd_store_transaction(struct vnpd_store *s, struct cn_err *err);
/* On failure the transaction is rolled back; either way it is over. */
int vnpd_store_commit(struct vnpd_store *s, struct cn_err *err);
void vnpd_store_rollback(struct vnpd_store *s);
/* Inserts a new request in state negotiating with an operation entry, atomically. */
int vnpd_store_begin_request(struct vnpd_store *s, const char *id, const char *peer,
                             const char *yaml, struct cn_err *err);
/* Updates state, manifest (NULL keeps), reason (NULL keeps), fault and expiry. */
int vnpd_store_set_request(struct vnpd_store *s, const char *id, const char *state,
                           const char *manifest, const char *reason, int fault, long long expires,
                           struct cn_err *err);
/* Replaces the request's document (a modify). */
int vnpd_store_set_request_yaml(struct vnpd_store *s, const char *id, const char *yaml,
                                struct cn_err *err);
int vnpd_store_add_part(struct vnpd_store *s, const char *id, const char *pip, const char *yaml,
                        const char *elements, struct cn_err *err);
int vnpd_store_set_part(struct vnpd_store *s, const char *id, const char *pip, const char *state,
                        const char *manifest, long long retry_until, struct cn_err *err);
/*
 * Writes a part whole (yaml, elements, state, manifest which may be NULL),
 * inserting it when the request has none at that PIP yet.
 */
int vnpd_store_put_part(struct vnpd_store *s, const char *id, const char *pip, const char *yaml,
                        const char *elements, const char *state, const char *manifest,
                        long long retry_until, struct cn_err *err);
int vnpd_store_parts(struct vnpd_store *s, const char *id, struct vnpd_part **ret_parts,
                     size_t *ret_n, struct cn_err *err);
/* The in-flight operation log: one entry per request while a call works on it. */
int vnpd_store_op_begin(struct vnpd_store *s, const char *id, const char *op, struct cn_err *err);
int vnpd_store_op_end(struct vnpd_store *s, const char *id, struct cn_err *err);

struct vnpd_op {
    char *id;
    char *op;
};
void vnpd_ops_free(struct vnpd_op *ops, size_t n);
int vnpd_store_ops(struct vnpd_store *s, struct vnpd_op **ret_ops, size_t *ret_n,
                   struct cn_err *err);
/* Request ids by filter: peer's (peer not NULL) or those with pending work. */
int vnpd_store_list(struct vnpd_store *s, const char *peer, struct vnpd_request **ret_items,
                    size_t *ret_n, struct cn_err *err);
/*
 * The requests that may still hold something at their PIPs and have a
 * manifest: allocated, provisioned, or with a part in release-pending.
 */
int vnpd_store_holding(struct vnpd_store *s, struct vnpd_request **ret_items, size_t *ret_n,
                       struct cn_err *err);
/* Ids of requests with a part in release-pending, and of allocated ones past expiry. */
int vnpd_store_chores(struct vnpd_store *s, long long now, char ***ret_ids, size_t *ret_n,
                      struct cn_err *err);
void vnpd_requests_free(struct vnpd_request *r, size_t n);

/* ---- the broker ---- */

struct vnpd_broker;

/*
 * The broker answers with the client's struct vnp_reply (vnp/client.h),
 * freed with vnp_reply_free: the same result struct as pipd's. elements is
 * non-NULL for status and the power calls, providers for negotiate (in the
 * order the PIPs answered).
 */

/* cfg and store are borrowed and outlive the broker. */
struct vnpd_broker *vnpd_broker_new(const struct vnpd_config *cfg, struct vnpd_store *store,
                                    struct cn_err *err);
void vnpd_broker_free(struct vnpd_broker *b);
/*
 * Finishes or undoes what a crash interrupted, then counts again the transit
 * bandwidth of the CloudNets that live on; one line per action in log.
 */
int vnpd_broker_recover(struct vnpd_broker *b, struct cn_buf *log, struct cn_err *err);
/* Retries releases PIPs did not acknowledge, ends expired allocations. */
int vnpd_broker_chores(struct vnpd_broker *b, struct cn_err *err);

const char *vnpd_broker_authenticate(const struct vnpd_broker *b, const char *secret,
                                     struct cn_err *err);
struct vnp_description *vnpd_broker_describe(struct vnpd_broker *b, struct cn_err *err);
struct vnp_reply *vnpd_broker_negotiate(struct vnpd_broker *b, const char *peer, const char *id,
                                        const char *yaml, long lease_s, struct cn_err *err);
/*
 * Changes peer's live CloudNet id to the overlay yaml (docs/vnpd.md,
 * "modify"): elements that stay keep their PIP, VNodes their host, crossing
 * links their tags; on any failure every PIP is put back as it was.
 */
struct vnp_reply *vnpd_broker_modify(struct vnpd_broker *b, const char *peer, const char *id,
                                     const char *yaml, struct cn_err *err);
/*
 * What the PIPs of peer's negotiation of id answered so far, in answer
 * order (*ret_reports freed with vnp_provider_reports_free), and whether
 * it is over; a record stays a few seconds after its negotiation returns.
 * Never waits for a call working on id. CN_E_NOTFOUND when no negotiation
 * of id is in flight or recorded.
 */
int vnpd_broker_progress(struct vnpd_broker *b, const char *peer, const char *id,
                         struct vnp_provider_report **ret_reports, size_t *ret_n, bool *ret_done,
                         struct cn_err *err);
struct vnp_reply *vnpd_broker_confirm(struct vnpd_broker *b, const char *peer, const char *id,
                                      struct cn_err *err);
struct vnp_reply *vnpd_broker_release(struct vnpd_broker *b, const char *peer, const char *id,
                                      struct cn_err *err);
struct vnp_reply *vnpd_broker_renew(struct vnpd_broker *b, const char *peer, const char *id,
                                    long lease_s, struct cn_err *err);
struct vnp_reply *vnpd_broker_status(struct vnpd_broker *b, const char *peer, const char *id,
                                     struct cn_err *err);
struct vnp_reply *vnpd_broker_power(struct vnpd_broker *b, const char *peer, const char *id,
                                    enum vnp_power_op op, const char *const *elements,
                                    size_t nelements, struct cn_err *err);
char *vnpd_broker_console(struct vnpd_broker *b, const char *peer, const char *id,
                          const char *element, struct cn_err *err);
int vnpd_broker_list(struct vnpd_broker *b, const char *peer, struct vnpd_request **ret_items,
                     size_t *ret_n, struct cn_err *err);

/* ---- the XML-RPC server ---- */

struct vnpd_rpc;
struct vnpd_rpc *vnpd_rpc_new(struct vnpd_broker *b, const struct vnpd_config *cfg,
                              struct cn_err *err);
int vnpd_rpc_run(struct vnpd_rpc *rpc, struct cn_err *err);
void vnpd_rpc_stop(struct vnpd_rpc *rpc);
void vnpd_rpc_free(struct vnpd_rpc *rpc);

#endif /* CLOUDNET_VNPD_H */
