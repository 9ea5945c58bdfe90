/*
 * The inside of the embedding component, shared by its files and its tests:
 * the plugin table, the descriptions of the work handed to a plugin, the
 * dataplane map and the helpers that run iproute2. Nothing outside
 * embedding/ and tests/ may include it.
 */
#ifndef EMB_PRIV_H_ALLOW
#error "emb_priv.h is private to embedding/ and its tests"
#endif

#ifndef CLOUDNET_EMB_PRIV_H
#define CLOUDNET_EMB_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "embedding/embedding.h"

struct cn_buf;
struct cn_err;
struct rdl_element;
struct rdl_map_entry;

/* ---- the dataplane map (dataplane.c) ---- */

struct emb_dp_node {
    char *node;
    char *netns; /* NULL: the initial namespace */
    char *bridge;
    enum emb_bridge_mode mode;
};

struct emb_dp_port {
    char *link;
    char *node;
    char *dev;
    char *address;    /* VXLAN mode: the device's IPv4 address, without prefix length */
    char *remote;     /* transit links: the far border port's address when the wire is VXLAN */
    unsigned link_no; /* 1-based order of the link's first port; part of the VNI */
};

struct emb_dataplane {
    struct emb_dp_node *nodes;
    size_t n_nodes, cap_nodes;
    struct emb_dp_port *ports;
    size_t n_ports, cap_ports;
};

const struct emb_dp_node *emb_dp_node(const struct emb_dataplane *dp, const char *node);
/* Whether any node of the map (the "*" line included) is in VXLAN mode. */
bool emb_dp_uses_vxlan(const struct emb_dataplane *dp);
const struct emb_dp_port *emb_dp_port(const struct emb_dataplane *dp, const char *link,
                                      const char *node);

/* ---- what a plugin is asked to do ---- */

/* One interface of a VNode: one per overlay link that touches it. */
struct emb_iface {
    const char *link;    /* overlay link id */
    int vlan;            /* the link's tag */
    const char *address; /* "10.0.0.1/24" for netns VNodes, or NULL */
    unsigned index;      /* order among the node's links: the VNode sees ethINDEX */
};

enum emb_item_kind {
    EMB_ITEM_NODE, /* a VNode on an underlay node */
    EMB_ITEM_HOP,  /* one underlay link of a VLink's path */
};

struct emb_item {
    enum emb_item_kind kind;
    const char *cloudnet;
    const char *element;               /* overlay element id */
    const struct rdl_element *overlay; /* the overlay element, or NULL when not known */
    const struct rdl_map_entry *entry; /* its map entry */
    /* EMB_ITEM_NODE */
    const struct rdl_element *host;    /* the underlay node */
    const struct emb_dp_node *host_dp; /* where the host lives, or NULL */
    struct emb_iface *ifaces;
    size_t n_ifaces;
    /* EMB_ITEM_HOP */
    const struct rdl_element *ul_link;   /* the underlay link */
    const struct rdl_element *end[2];    /* its two nodes, in path order */
    const struct emb_dp_node *end_dp[2]; /* where they live, or NULL */
    const struct emb_dp_port *port[2];   /* the link's device at each end, or NULL */
    int vlan;
    size_t path_links; /* underlay links on the whole path */
};

/* A growable NULL-terminated array of strings. */
struct emb_lines {
    char **v;
    size_t n, cap;
};
void emb_lines_add(struct emb_lines *l, char *line); /* takes ownership */

/*
 * A plugin. Every callback is optional; a missing one fails the operation
 * with "not supported", except fini. Callbacks get the plugin's own state
 * (made by init the first time the plugin is used in a context).
 * release must be idempotent: what does not exist is not an error.
 */
struct emb_plugin {
    const char *name;
    const char *type_prefix;
    int (*init)(struct emb_ctx *ctx, void **ret_state, struct cn_err *err);
    void (*fini)(void *state);
    int (*embed)(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err);
    int (*release)(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err);
    int (*start)(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err);
    int (*stop)(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err);
    int (*powercycle)(struct emb_ctx *ctx, void *state, const struct emb_item *it,
                      struct cn_err *err);
    int (*console)(struct emb_ctx *ctx, void *state, const struct emb_item *it, char **ret_uri,
                   struct cn_err *err);
    int (*status)(struct emb_ctx *ctx, void *state, const struct emb_item *it,
                  enum emb_state *ret_state, struct cn_err *err);
    /*
     * Appends to lines (see emb_leftovers) what exists for cloudnet: with it
     * NULL, everything found by owner tag; with a hop, what that hop left.
     */
    int (*leftovers)(struct emb_ctx *ctx, void *state, const char *cloudnet,
                     const struct emb_item *it, struct emb_lines *lines, struct cn_err *err);
    /*
     * Brings an embedded VNode's interfaces from old's set to new's (both
     * items of the same VNode on the same host) without re-creating it:
     * every interface of old that new lacks or has otherwise (tag, address,
     * index) is removed, every one new adds or changes is added, the rest
     * is left alone, and the VNode keeps its running state. Must be safe to
     * call again after a failure, and with old and new swapped to go back.
     * Without it a VNode whose links change is re-created.
     */
    int (*relink)(struct emb_ctx *ctx, void *state, const struct emb_item *old,
                  const struct emb_item *new, struct cn_err *err);
};

/*
 * Picks the entry of table whose type_prefix is the longest segment-wise
 * prefix of type; NULL when none is.
 */
const struct emb_plugin *emb_plugin_select(const struct emb_plugin *table, size_t n,
                                           const char *type);
/* Whether prefix is a segment-wise prefix of type ("/a/b" of "/a/b/c", not of "/a/bc"). */
bool emb_type_has_prefix(const char *type, const char *prefix);

extern const struct emb_plugin emb_libvirt_plugin;
extern const struct emb_plugin emb_netns_plugin;
extern const struct emb_plugin emb_vlan_plugin;
extern const struct emb_plugin emb_transit_plugin;
extern const struct emb_plugin emb_border_plugin;

/* ---- the context, as plugins see it ---- */

const struct emb_config *emb_ctx_config(const struct emb_ctx *ctx);
/* The state of the plugin called name, made by its init on first use. */
int emb_plugin_state(struct emb_ctx *ctx, const char *name, void **ret_state, struct cn_err *err);

/*
 * For tests: the libvirt plugin's view of a domain, as virDomainGetXMLDesc
 * gives it (caller frees), through the context's own connection.
 */
char *emb_libvirt_xml_desc(struct emb_ctx *ctx, const char *domain, struct cn_err *err);

/* ---- running iproute2 (exec.c) ---- */

/*
 * Runs argv[0] (found in PATH) with argv, without a shell, and waits.
 * Returns 0 when it exits 0. Otherwise -1 with err holding the command line
 * and what it wrote to stderr. out, when not NULL, receives stdout.
 */
int emb_run(const char *const *argv, struct cn_buf *out, struct cn_err *err);
/* Like emb_run, but a failure whose stderr contains one of the NULL-terminated
 * `benign` strings counts as success (for idempotent deletes). */
int emb_run_tolerant(const char *const *argv, const char *const *benign, struct cn_err *err);

/* Whether a network namespace by that name exists. */
bool emb_netns_exists(const char *name);
/* Whether device dev exists in netns (NULL: initial namespace). */
bool emb_dev_exists(const char *netns, const char *dev);

/*
 * Builds "ip [-n NETNS] ARGS..." style argument vectors: cmd is "ip" or
 * "bridge", netns NULL for the initial namespace. The words after netns end
 * with NULL. Returns a vector to free with emb_argv_free.
 */
char **emb_argv(const char *cmd, const char *netns, ...);
void emb_argv_free(char **argv);
int emb_runv(struct cn_err *err, const char *cmd, const char *netns, ...);

/*
 * Appends "DEV ALIAS" for every device of netns (NULL: the initial one) that
 * has an alias; owner tags are aliases "cloudnet=ID ...".
 */
int emb_list_aliases(const char *netns, struct emb_lines *lines, struct cn_err *err);

/*
 * Adds "LABEL NETNS/DEV" for every device in the initial namespace or a
 * namespace of the dataplane map whose owner tag is "cloudnet=ID KIND=...".
 */
int emb_scan_devices(struct emb_ctx *ctx, const char *cloudnet, const char *kind, const char *label,
                     struct emb_lines *lines, struct cn_err *err);

/* The per-tag bridge of VXLAN mode: "cnbTAG". Fills buf (at least 16 bytes). */
void emb_tag_bridge(int vlan, char *buf, size_t size);
/* Creates the per-tag bridge when missing / deletes it when no port is left on it. */
int emb_tag_bridge_get(const char *netns, int vlan, struct cn_err *err);
int emb_tag_bridge_put(const char *netns, int vlan, struct cn_err *err);

/* 64-bit FNV-1a over the strings, with a separator between them. */
unsigned long long emb_hash(const char *const *parts, size_t n);

#endif /* CLOUDNET_EMB_PRIV_H */
