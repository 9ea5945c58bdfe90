/*
 * Embedding: turning a mapping (where each overlay element of a CloudNet sits
 * on the underlay) into real things on a PIP: libvirt domains or network
 * namespaces for VNodes, VLAN memberships on bridge ports for VLinks.
 *
 * The work is done by plugins. Each underlay element's type picks one: the
 * plugin registered under the longest type prefix that is a segment-wise
 * prefix of the type (DESIGN §3), so "/node/host/server/kvm/big" is served
 * by the "/node/host/server/kvm" plugin. A VNode is realised by the plugin
 * of the underlay node it sits on, a VLink by the plugins of the underlay
 * links on its path (and, at its two ends, by the interfaces the VNodes'
 * plugins give the VNodes).
 *
 * Everything created for a CloudNet is named from the CloudNet id and the
 * element id (docs/embedding.md gives the rules) and carries an owner tag,
 * so that a daemon restarted after a crash can find what is left
 * (emb_leftovers) and remove it (emb_release is idempotent).
 *
 * Library code: failures are described in the caller's struct cn_err and
 * never logged. A context is not thread-safe; use one per thread or lock.
 */
#ifndef CLOUDNET_EMBEDDING_H
#define CLOUDNET_EMBEDDING_H

#include <stdbool.h>
#include <stddef.h>

struct cn_err;
struct rdl_graph;
struct emb_ctx;
struct emb_dataplane;

/* Longest CloudNet id accepted; ids use the RDL id alphabet. */
#define EMB_MAX_CLOUDNET_LEN 64

/*
 * What a context is made from. Strings are copied by emb_ctx_new; NULL means
 * the default given.
 */
struct emb_config {
    const char *libvirt_uri;    /* default "qemu:///system"; tests use "test:///default" */
    const char *image_dir;      /* where VNode disks are created; required for libvirt VNodes */
    const char *template_dir;   /* where plain copies are taken from: DIR/IMAGE.qcow2 etc. */
    const char *clipd_socket;   /* when set, disks come from clipd's take instead of a copy */
    const char *dataplane_file; /* the dataplane map (docs/embedding.md), or NULL for none */
};

/*
 * Makes a context. Opens nothing yet: a plugin connects (libvirt) the first
 * time it is used. Reads the dataplane map when one is configured. The
 * caller frees the context with emb_ctx_free.
 */
struct emb_ctx *emb_ctx_new(const struct emb_config *cfg, struct cn_err *err);
void emb_ctx_free(struct emb_ctx *ctx);

/*
 * The context's dataplane map, borrowed: a daemon that keeps the map in its
 * database fills it with the calls below instead of using a file.
 */
struct emb_dataplane *emb_ctx_dataplane(struct emb_ctx *ctx);

/* ---- the dataplane map ---- */

/* How a node's bridge keeps the VLinks apart. */
enum emb_bridge_mode {
    EMB_MODE_VLAN,  /* one VLAN-filtering bridge; tags on its ports */
    EMB_MODE_VXLAN, /* one plain bridge per tag; underlay links carry VXLAN, VNI from the tag */
    /*
     * Ports are trunks that carry every tag already (a switch its operator
     * configured, a host whose VNode interfaces tag their own frames):
     * VLink hops through the node configure nothing on it.
     */
    EMB_MODE_TRUNK,
};

/*
 * Parses the text of a dataplane map; `name` prefixes diagnostics, which
 * read "NAME:LINE: message", one per problem. The caller frees the result.
 */
struct emb_dataplane *emb_dataplane_parse(const char *name, const char *text, struct cn_err *err);
struct emb_dataplane *emb_dataplane_read_file(const char *path, struct cn_err *err);
struct emb_dataplane *emb_dataplane_new(void);
void emb_dataplane_free(struct emb_dataplane *dp);
/*
 * Says where an underlay node lives: netns NULL or "-" is the initial
 * namespace, bridge NULL is "br0". Replaces an earlier entry.
 */
int emb_dataplane_set_node(struct emb_dataplane *dp, const char *node, const char *netns,
                           const char *bridge, enum emb_bridge_mode mode, struct cn_err *err);
/*
 * Says which device underlay link `link` uses at underlay node `node`, and
 * (VXLAN mode only) the IPv4 address that device carries.
 */
int emb_dataplane_set_port(struct emb_dataplane *dp, const char *link, const char *node,
                           const char *dev, const char *address, struct cn_err *err);
/*
 * Transit links only, for kernels without 802.1Q: the wire to the far PIP
 * carries VXLAN (VNI = the wire tag) to the far border port's IPv4 address
 * `remote` instead of 802.1Q frames; NULL goes back to 802.1Q. The port
 * must have been set first.
 */
int emb_dataplane_set_port_remote(struct emb_dataplane *dp, const char *link, const char *node,
                                  const char *remote, struct cn_err *err);

/* ---- plugins ---- */

/*
 * The name of the plugin that serves underlay elements of this type
 * ("libvirt", "netns", "vlan", "transit", "border"), or NULL when none does.
 */
const char *emb_plugin_for_type(const char *type);

/* ---- embedding a CloudNet ---- */

/*
 * Realises every element of `mapping` (a mapping of `overlay` onto
 * `underlay`) for CloudNet `cloudnet`: VNodes are defined but not started.
 * On failure undoes whatever it did and returns -1 with err saying which
 * element failed and why.
 */
int emb_embed(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
              const struct rdl_graph *mapping, const struct rdl_graph *underlay,
              struct cn_err *err);
/*
 * Undoes everything emb_embed does. Idempotent: what does not exist is
 * skipped, so a half-embedded or already released CloudNet is fine. Keeps
 * going after a failure and reports every failure in err.
 */
int emb_release(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
                const struct rdl_graph *mapping, const struct rdl_graph *underlay,
                struct cn_err *err);
/*
 * The same for some elements only: emb_embed_elements realises the named
 * elements of `mapping` next to the rest of a CloudNet that is embedded
 * already (a changed CloudNet: new elements, links on new paths, VNodes
 * whose links changed), undoing only what it did when one fails. The
 * caller names only elements that are not embedded (release those that
 * change first): VNode plugins refuse one that exists, but a link's hops
 * would be undone with the failure. emb_release_elements
 * undoes the named elements of `mapping` and nothing else. A VNode's
 * interfaces come from the whole overlay and mapping, so both are passed
 * whole.
 */
int emb_embed_elements(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
                       const struct rdl_graph *mapping, const struct rdl_graph *underlay,
                       const char *const *elements, size_t nelements, struct cn_err *err);
int emb_release_elements(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
                         const struct rdl_graph *mapping, const struct rdl_graph *underlay,
                         const char *const *elements, size_t nelements, struct cn_err *err);

/*
 * Whether VNode `element` of the mapping can have its links changed in
 * place by emb_relink_node: its host's plugin supports it (netns does,
 * libvirt does not). False also when the element is not a VNode of the
 * mapping.
 */
bool emb_can_relink(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
                    const struct rdl_graph *underlay, const char *element);
/*
 * Brings the interfaces of embedded VNode `element` from the links it has
 * in (old_overlay, old_mapping) to those it has in (new_overlay,
 * new_mapping) without re-creating it: it keeps running (or stopped), and
 * interfaces of links that stay alike are not touched. The VNode must sit
 * on the same host in both; the links themselves (their hops) are embedded
 * and released by the callers as usual. -1 without changing anything when
 * the plugin cannot do it (see emb_can_relink); on a failure part way the
 * same call with old and new swapped puts the old interfaces back.
 */
int emb_relink_node(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *old_overlay,
                    const struct rdl_graph *old_mapping, const struct rdl_graph *new_overlay,
                    const struct rdl_graph *new_mapping, const struct rdl_graph *underlay,
                    const char *element, struct cn_err *err);

/*
 * Operations on one VNode (`element` an overlay node id), or on every VNode
 * of the mapping when element is NULL. The mapping and underlay say which
 * plugin serves it.
 */
int emb_start(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
              const struct rdl_graph *underlay, const char *element, struct cn_err *err);
/* Hard stop (power off), as the negotiation interface's stop. */
int emb_stop(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
             const struct rdl_graph *underlay, const char *element, struct cn_err *err);
/* Hard reset of a running VNode; a stopped one is started. */
int emb_powercycle(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
                   const struct rdl_graph *underlay, const char *element, struct cn_err *err);

/*
 * Where to reach a VNode's console, as a string the caller frees:
 * "LIBVIRT-URI#DOMAIN" for libvirt VNodes (virsh -c LIBVIRT-URI console
 * DOMAIN), "netns:NAME" for namespaces (ip netns exec NAME).
 */
int emb_console(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
                const struct rdl_graph *underlay, const char *element, char **ret_uri,
                struct cn_err *err);

enum emb_state {
    EMB_STATE_ABSENT,  /* nothing exists for the element */
    EMB_STATE_DEFINED, /* exists, not running */
    EMB_STATE_RUNNING,
    EMB_STATE_PAUSED,
    EMB_STATE_CRASHED,
    EMB_STATE_OTHER,  /* shutting down, suspended, ... */
    EMB_STATE_REMOTE, /* realised by another provider: the far side of a transit link */
};
/* "absent", "defined", "running", ..., "remote" */
const char *emb_state_name(enum emb_state state);

int emb_status(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
               const struct rdl_graph *underlay, const char *element, enum emb_state *ret_state,
               struct cn_err *err);

/* ---- names and leftovers ---- */

/*
 * Name of the domain or namespace of a VNode: "cn-CLOUDNET-ELEMENT".
 * The caller frees it.
 */
char *emb_vnode_name(const char *cloudnet, const char *element);
/*
 * Interface names are limited to 15 bytes, so the host end of a VNode's
 * interface is named "cn" + 11 hex digits of a hash of (cloudnet, node,
 * link) + "h"; its alias holds "cloudnet=C node=N link=L" in full. Fills
 * buf (at least 16 bytes).
 */
void emb_ifname(const char *cloudnet, const char *node, const char *link, char *buf, size_t size);
/*
 * The MAC address of a VNode's interface on a link: locally administered,
 * from a hash of (cloudnet, node, link), so a VNode defined again (after a
 * modify) keeps its addresses and its neighbours' ARP caches stay right.
 * Fills buf (at least 18 bytes) with "02:xx:xx:xx:xx:xx".
 */
void emb_mac(const char *cloudnet, const char *node, const char *link, char *buf, size_t size);

/*
 * What exists for a CloudNet, one line per thing:
 *   "domain NAME", "netns NAME", "veth NETNS/DEV",
 *   "vlan NETNS/DEV TAG", "vxlan NETNS/DEV", "transit NETNS/DEV"
 * (NETNS "-" is the initial namespace). Domains, namespaces, VNode
 * interfaces and transit wire devices are found by their owner tags; VLAN
 * memberships and tunnels of underlay links need the mapping and underlay
 * (pass NULL for both to skip them). *ret_lines is a NULL-terminated array the caller frees with
 * emb_lines_free; *ret_count its length.
 */
int emb_leftovers(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
                  const struct rdl_graph *underlay, char ***ret_lines, size_t *ret_count,
                  struct cn_err *err);
void emb_lines_free(char **lines);

#endif /* CLOUDNET_EMBEDDING_H */
