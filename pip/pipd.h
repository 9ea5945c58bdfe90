/*
 * pipd's private header: the configuration (pip/config.c), the core that
 * answers the negotiation interface from the store, the mapper and the
 * embedding plugins (pip/core.c), and the XML-RPC face (pip/rpc.c, the only
 * file that includes xmlrpc-c). pip/main.c wires them together.
 *
 * The core knows nothing of XML-RPC: it takes C strings and fills result
 * structs, and fails with a struct cn_err whose code rpc.c turns into a
 * fault code (cn_fault_code).
 */
#ifndef CLOUDNET_PIPD_H
#define CLOUDNET_PIPD_H

#include <stdbool.h>
#include <stddef.h>

#include "pip/store.h"

struct cn_err;
struct pipd_core;

#define PIPD_VERSION "0.1"

/* ---- configuration ---- */

struct pipd_peer {
    char *name;
    char *secret;
};

struct pipd_config {
    char *name;        /* the PIP's name in describe(); default "pip" */
    char *listen_host; /* default "127.0.0.1" */
    unsigned listen_port;
    char *db_socket, *db_host, *db_name, *db_user;
    unsigned db_port;
    char *substrate_file;
    struct pipd_peer *peers;
    size_t npeers;
    char *libvirt_uri, *image_dir, *template_dir, *clipd_socket, *dataplane_file;
    size_t max_request; /* bytes of graph_yaml accepted */
    long max_lease_s;   /* cap on leases */
    double map_time_limit_s;
    unsigned reap_interval_s; /* how often the reaper looks for expired leases */
};

/* Defaults only; the caller frees it with pipd_config_free. */
struct pipd_config *pipd_config_new(void);
void pipd_config_free(struct pipd_config *cfg);
/*
 * Reads a configuration file into cfg (which holds the defaults), one
 * "FILE:LINE: message" line per problem in err.
 */
int pipd_config_read(struct pipd_config *cfg, const char *path, struct cn_err *err);

/* ---- the core ---- */

/*
 * Opens the store (migrating the schema), loads the substrate file when the
 * database has none, and makes the embedding context. cfg is borrowed and
 * must outlive the core.
 */
struct pipd_core *pipd_core_new(const struct pipd_config *cfg, struct cn_err *err);
void pipd_core_free(struct pipd_core *core);

/*
 * Crash recovery, run once before serving: reaps expired allocations,
 * re-embeds live CloudNets whose embedding is gone (allocated ones are
 * embedded afresh, since a crash may have left them half done) and removes
 * what is left of released or failed ones. Appends one line per action to
 * log (may be NULL) and one per failure to err; returns -1 when anything
 * failed, but what could be done was done.
 */
int pipd_core_recover(struct pipd_core *core, struct cn_buf *log, struct cn_err *err);
/*
 * Releases every allocation whose lease ended (store and embedding). The
 * number released goes to ret_count (may be NULL).
 */
int pipd_core_reap(struct pipd_core *core, size_t *ret_count, struct cn_err *err);

/* Maps a secret to the peer's name (borrowed from the configuration). */
const char *pipd_core_authenticate(const struct pipd_core *core, const char *secret,
                                   struct cn_err *err);

/* One element's operational state in status(). */
struct pipd_element_state {
    char *element;
    const char *state; /* static string */
};

/* What negotiate, confirm, renew, release and status answer. */
struct pipd_result {
    char *id;
    enum pip_state state;
    long long expires_at; /* 0: no lease */
    char *manifest_yaml;  /* the mapping document, or NULL */
    char *reason;         /* or NULL */
    struct pipd_element_state *elements;
    size_t nelements;
};
void pipd_result_free(struct pipd_result *r);

/* A name with the distinct values seen for it, as strings. */
struct pipd_feature {
    char *name;
    char **values;
    size_t nvalues;
};

struct pipd_transit {
    char *id;
    int vlan_first, vlan_last; /* 0 when the link has no range of its own */
};

struct pipd_description {
    const char *name;    /* borrowed from the configuration */
    const char *version; /* static */
    struct pip_total *totals;
    size_t ntotals;
    struct pipd_feature *features;
    size_t nfeatures;
    struct pip_vlan_range *vlans;
    size_t nvlans;
    struct pipd_transit *transits;
    size_t ntransits;
};
void pipd_description_free(struct pipd_description *d);

/*
 * The negotiation interface (DESIGN section 4). `peer` is who asks, as
 * pipd_core_authenticate answered; a peer acts only on its own CloudNets
 * (CN_E_FORBIDDEN otherwise). Results are the caller's.
 */
struct pipd_description *pipd_core_describe(struct pipd_core *core, const char *peer,
                                            struct cn_err *err);
struct pipd_result *pipd_core_negotiate(struct pipd_core *core, const char *peer, const char *id,
                                        const char *yaml, long lease_s, struct cn_err *err);
struct pipd_result *pipd_core_confirm(struct pipd_core *core, const char *peer, const char *id,
                                      struct cn_err *err);
struct pipd_result *pipd_core_release(struct pipd_core *core, const char *peer, const char *id,
                                      struct cn_err *err);
struct pipd_result *pipd_core_renew(struct pipd_core *core, const char *peer, const char *id,
                                    long lease_s, struct cn_err *err);
/*
 * Changes a live CloudNet to the overlay in yaml: the new document replaces
 * the old, the elements that stay keep their hosts, and the state and lease
 * do not change. All or nothing: when mapping, reserving or embedding
 * fails, the store and the embedding are as before. Repeating it (the same
 * document as the current one) answers the current state.
 */
struct pipd_result *pipd_core_modify(struct pipd_core *core, const char *peer, const char *id,
                                     const char *yaml, struct cn_err *err);
/* With the mapping document and the operational state of every element. */
struct pipd_result *pipd_core_status(struct pipd_core *core, const char *peer, const char *id,
                                     struct cn_err *err);

enum pipd_power_op {
    PIPD_START,
    PIPD_STOP,
    PIPD_POWERCYCLE,
};
/*
 * Starts, stops or power-cycles the given VNodes (every VNode when
 * nelements is 0); answers the status afterwards.
 */
struct pipd_result *pipd_core_power(struct pipd_core *core, const char *peer, const char *id,
                                    enum pipd_power_op op, const char *const *elements,
                                    size_t nelements, struct cn_err *err);
/* One CloudNet in list(). */
struct pipd_summary {
    char *id;
    enum pip_state state;
    long long expires_at; /* 0: no lease */
};
/* The peer's CloudNets in every state, ordered by id; the caller frees them. */
int pipd_core_list(struct pipd_core *core, const char *peer, struct pipd_summary **ret_items,
                   size_t *ret_count, struct cn_err *err);
void pipd_summaries_free(struct pipd_summary *items, size_t count);

/* Where the VNode's console is; the caller frees the string. */
char *pipd_core_console(struct pipd_core *core, const char *peer, const char *id,
                        const char *element, struct cn_err *err);

/* ---- the XML-RPC server ---- */

struct pipd_rpc;
/* Binds the listening socket; serving starts with pipd_rpc_run. */
struct pipd_rpc *pipd_rpc_new(struct pipd_core *core, const struct pipd_config *cfg,
                              struct cn_err *err);
/* Serves until pipd_rpc_stop is called (from another thread). */
int pipd_rpc_run(struct pipd_rpc *rpc, struct cn_err *err);
void pipd_rpc_stop(struct pipd_rpc *rpc);
void pipd_rpc_free(struct pipd_rpc *rpc);

#endif /* CLOUDNET_PIPD_H */
