/*
 * The vlan and transit plugins: the part of a VLink that lies on underlay
 * links. For every underlay link on the VLink's path the link's tag is added
 * to the bridge ports at both of its ends, so the frames of the VLink can
 * cross it (and the bridges of the nodes in between) and no other VLink's
 * can reach them. The access ports at the two ends of the VLink belong to
 * the VNodes and are set up by their plugins.
 *
 * How a tag is realised depends on the node's bridge mode (dataplane map):
 *   vlan  - `bridge vlan add dev PORT vid TAG` on the node's VLAN-filtering
 *           bridge: the underlay link carries 802.1Q frames.
 *   vxlan - for kernels without bridge VLAN filtering: each tag has a plain
 *           bridge of its own ("cnbTAG") and each (underlay link, tag) a
 *           VXLAN device over the link's port, VNI = link number * 4096 +
 *           tag, which joins the tag's bridges at the two ends.
 *
 * The tags themselves are chosen by pipd; these plugins configure what the
 * mapping says and refuse a path without a tag.
 *
 * A transit link leads to another PIP (docs/federation.md): only its local
 * end, the border port, is configured. The VLink's frames cross the wire
 * with the wire tag agreed with the far PIP, which may differ from the tag
 * the VLink has inside this PIP. A device of its own on the border port
 * (802.1Q with the wire tag as id; or, where the dataplane map gives the
 * far border port's address, VXLAN with the wire tag as VNI) is bridged
 * with the local tag like any VNode port: in the tag's bridge (VXLAN mode)
 * or as an access port with the local tag as PVID (VLAN mode). Frames thus
 * change tag when they pass the border, in both directions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMB_PRIV_H_ALLOW
#include "embedding/emb_priv.h"
#include "rdl/rdl.h"
#include "util/util.h"

#define VXLAN_PORT "4789"

static const char *const gone[] = {"Cannot find device", "No such file or directory", NULL};

static bool
is_trunk(const struct emb_item *it, int i)
{
    return it->end_dp[i] && it->end_dp[i]->mode == EMB_MODE_TRUNK;
}

static int
check_hop(const struct emb_item *it, struct cn_err *err)
{
    const char *ul = rdl_element_id(it->ul_link);

    if (it->vlan < 1 || it->vlan > 4094)
        return cn_err_set(err, CN_E_VLAN,
                          "virtual link '%s' crosses underlay link '%s' but has no VLAN tag",
                          it->element, ul);
    for (int i = 0; i < 2; i++) {
        if (is_trunk(it, i))
            continue;
        if (!it->end_dp[i] || !it->port[i])
            return cn_err_set(err, CN_E_NOTFOUND,
                              "the dataplane map has no port of underlay link '%s' at '%s'", ul,
                              rdl_element_id(it->end[i]));
    }
    /* A VXLAN segment needs both of its ends; an 802.1Q link meets a trunk fine. */
    if (it->end_dp[0]->mode != it->end_dp[1]->mode &&
        (it->end_dp[0]->mode == EMB_MODE_VXLAN || it->end_dp[1]->mode == EMB_MODE_VXLAN))
        return cn_err_set(err, CN_E_INVALID,
                          "the two ends of underlay link '%s' use different bridge modes", ul);
    return 0;
}

static void
vxlan_name(const struct emb_item *it, int i, char *buf, size_t size)
{
    const char *parts[] = {it->cloudnet, it->element, rdl_element_id(it->ul_link),
                           rdl_element_id(it->end[i])};
    snprintf(buf, size, "cn%011llxx", emb_hash(parts, 4) & 0xfffffffffffULL);
}

static int
vxlan_add(const struct emb_item *it, int i, struct cn_err *err)
{
    const struct emb_dp_port *me = it->port[i], *peer = it->port[1 - i];
    const char *ns = it->end_dp[i]->netns;
    char dev[16], vni[16], br[16];
    char *alias = NULL;
    int rc = -1;

    if (!me->address || !peer || !peer->address) {
        cn_err_set(err, CN_E_INVALID,
                   "underlay link '%s' is in VXLAN mode but its ports have no addresses",
                   rdl_element_id(it->ul_link));
        goto cleanup;
    }
    if (me->link_no >= 4096) {
        cn_err_set(err, CN_E_LIMIT, "VXLAN mode supports at most 4095 underlay links");
        goto cleanup;
    }
    vxlan_name(it, i, dev, sizeof(dev));
    snprintf(vni, sizeof(vni), "%u", me->link_no * 4096u + (unsigned)it->vlan);
    emb_tag_bridge(it->vlan, br, sizeof(br));
    alias = xasprintf("cloudnet=%s hop=%s ullink=%s", it->cloudnet, it->element,
                      rdl_element_id(it->ul_link));
    if (emb_runv(err, "ip", ns, "link", "add", dev, "type", "vxlan", "id", vni, "local",
                 me->address, "remote", peer->address, "dev", me->dev, "dstport", VXLAN_PORT,
                 (char *)NULL) < 0 ||
        emb_runv(err, "ip", ns, "link", "set", dev, "alias", alias, (char *)NULL) < 0 ||
        emb_tag_bridge_get(ns, it->vlan, err) < 0 ||
        emb_runv(err, "ip", ns, "link", "set", dev, "master", br, "up", (char *)NULL) < 0)
        goto cleanup;
    rc = 0;

cleanup:
    free(alias);
    return rc;
}

static int
hop_embed(const struct emb_item *it, struct cn_err *err)
{
    char vid[16];

    if (check_hop(it, err) < 0)
        return -1;
    snprintf(vid, sizeof(vid), "%d", it->vlan);
    for (int i = 0; i < 2; i++) {
        const struct emb_dp_node *dp = it->end_dp[i];
        if (is_trunk(it, i))
            continue;
        if (dp->netns && !emb_netns_exists(dp->netns))
            return cn_err_set(err, CN_E_NOTFOUND, "the network namespace %s of '%s' does not exist",
                              dp->netns, rdl_element_id(it->end[i]));
        if (dp->mode == EMB_MODE_VXLAN) {
            if (vxlan_add(it, i, err) < 0)
                return -1;
        } else if (emb_runv(err, "bridge", dp->netns, "vlan", "add", "dev", it->port[i]->dev, "vid",
                            vid, (char *)NULL) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
hop_release(const struct emb_item *it, struct cn_err *err)
{
    char vid[16], dev[16];

    if (it->vlan < 1 || it->vlan > 4094)
        return 0; /* nothing can have been configured for it */
    snprintf(vid, sizeof(vid), "%d", it->vlan);
    for (int i = 0; i < 2; i++) {
        /* An end the map does not describe cannot have been configured. */
        if (!it->end_dp[i] || !it->port[i] || is_trunk(it, i))
            continue;
        const struct emb_dp_node *dp = it->end_dp[i];
        if (dp->netns && !emb_netns_exists(dp->netns))
            continue; /* the whole node is gone, and its ports with it */
        char **v;
        if (dp->mode == EMB_MODE_VXLAN) {
            vxlan_name(it, i, dev, sizeof(dev));
            v = emb_argv("ip", dp->netns, "link", "del", dev, (char *)NULL);
        } else {
            v = emb_argv("bridge", dp->netns, "vlan", "del", "dev", it->port[i]->dev, "vid", vid,
                         (char *)NULL);
        }
        int rc = emb_run_tolerant((const char *const *)v, gone, err);
        emb_argv_free(v);
        if (rc < 0)
            return -1;
        if (dp->mode == EMB_MODE_VXLAN && emb_tag_bridge_put(dp->netns, it->vlan, err) < 0)
            return -1;
    }
    return 0;
}

/* Whether `bridge vlan show dev PORT` lists vid (lines "PORT VID [flags]" then "  VID [flags]"). */
static bool
has_vid(const char *out, const char *port, int vid)
{
    char *copy = xstrdup(out), *save = NULL;
    bool found = false;
    for (char *t = strtok_r(copy, " \t\n", &save); t && !found;
         t = strtok_r(NULL, " \t\n", &save)) {
        long v;
        if (!cn_streq(t, port) && cn_parse_long(t, 1, 4094, &v) == 0 && v == vid)
            found = true;
    }
    free(copy);
    return found;
}

static int
hop_leftovers(struct emb_ctx *ctx, const char *cloudnet, const struct emb_item *it,
              struct emb_lines *lines, struct cn_err *err)
{
    /* Hop devices exist only on nodes in VXLAN mode: without any, no scan (no `ip` run). */
    if (!it && !emb_dp_uses_vxlan(emb_ctx_dataplane(ctx)))
        return 0;
    if (!it)
        return emb_scan_devices(ctx, cloudnet, "hop", "vxlan", lines, err);
    if (it->vlan < 1 || it->vlan > 4094)
        return 0;
    for (int i = 0; i < 2; i++) {
        if (!it->end_dp[i] || !it->port[i] || it->end_dp[i]->mode != EMB_MODE_VLAN)
            continue; /* VXLAN devices carry owner tags and were found by the scan */
        const char *ns = it->end_dp[i]->netns;
        if (ns && !emb_netns_exists(ns))
            continue;
        struct cn_buf out = CN_BUF_INIT;
        struct cn_err e = CN_ERR_INIT;
        cn_buf_init(&out);
        char **v = emb_argv("bridge", ns, "vlan", "show", "dev", it->port[i]->dev, (char *)NULL);
        /* A port that is gone holds no VLAN: not an error for a leftover scan. */
        if (emb_run((const char *const *)v, &out, &e) == 0 &&
            has_vid(out.s, it->port[i]->dev, it->vlan))
            emb_lines_add(lines,
                          xasprintf("vlan %s/%s %d", ns ? ns : "-", it->port[i]->dev, it->vlan));
        emb_argv_free(v);
        cn_err_release(&e);
        cn_buf_release(&out);
    }
    return 0;
}

static int
vlan_embed(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    return hop_embed(it, err);
}

static int
vlan_release(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    return hop_release(it, err);
}

static int
vlan_leftovers(struct emb_ctx *ctx, void *state, const char *cloudnet, const struct emb_item *it,
               struct emb_lines *lines, struct cn_err *err)
{
    (void)state;
    return hop_leftovers(ctx, cloudnet, it, lines, err);
}

/* ---- transit links ---- */

/*
 * Whether end i of a transit link is ours: the far end is another PIP's
 * (its border node). A trunk end is ours but needs nothing configured.
 */
static bool
end_is_ours(const struct emb_item *it, int i)
{
    if (it->port[i])
        return true;
    return is_trunk(it, i) && !rdl_type_fits("/node/host/pip", rdl_element_type(it->end[i]));
}

/*
 * The tag on the wire: the map entry's `wire_vlan` (or the overlay link's),
 * `transit_vlan` as an older name for it, and the VLink's own tag when
 * neither is given (the two PIPs then use the same tag). A value that is
 * not a number gives 0, which the caller refuses.
 */
static int
wire_tag(const struct emb_item *it)
{
    static const char *const names[] = {"wire_vlan", "transit_vlan"};
    const struct rdl_props *sets[] = {
        rdl_map_entry_features(it->entry),
        it->overlay ? rdl_element_features(it->overlay) : NULL,
    };

    for (size_t s = 0; s < CN_ARRAY_SIZE(sets); s++) {
        for (size_t n = 0; sets[s] && n < CN_ARRAY_SIZE(names); n++) {
            if (!rdl_props_get(sets[s], names[n]))
                continue;
            double w = rdl_props_number(sets[s], names[n], 0);
            return w >= 1 && w <= 4094 && w == (int)w ? (int)w : 0;
        }
    }
    return it->vlan;
}

static int
check_transit(const struct emb_item *it, int *ret_wire, struct cn_err *err)
{
    const char *ul = rdl_element_id(it->ul_link);
    int first, last, wire, ours = 0;

    if (it->vlan < 1 || it->vlan > 4094)
        return cn_err_set(err, CN_E_VLAN,
                          "virtual link '%s' crosses transit link '%s' but has no VLAN tag",
                          it->element, ul);
    wire = wire_tag(it);
    if (wire == 0)
        return cn_err_set(err, CN_E_VLAN,
                          "the wire tag (wire_vlan) of '%s' on transit link '%s' is not a VLAN "
                          "tag (1-4094)",
                          it->element, ul);
    for (int i = 0; i < 2; i++) {
        if (!end_is_ours(it, i))
            continue;
        ours++;
        if (!it->end_dp[i])
            return cn_err_set(err, CN_E_NOTFOUND,
                              "the dataplane map has a port of transit link '%s' at '%s' but no "
                              "node line for '%s'",
                              ul, rdl_element_id(it->end[i]), rdl_element_id(it->end[i]));
    }
    if (ours == 0)
        return cn_err_set(err, CN_E_NOTFOUND,
                          "the dataplane map has no port of transit link '%s' at either end", ul);
    /* The range is this PIP's: it bounds the local tag, the wire tag may be the far PIP's. */
    if (rdl_element_vlan_range(it->ul_link, &first, &last) == 0 &&
        (it->vlan < first || it->vlan > last))
        return cn_err_set(err, CN_E_VLAN, "tag %d is outside the range %d-%d of '%s'", it->vlan,
                          first, last, ul);
    *ret_wire = wire;
    return 0;
}

/* "cn" + 11 hex digits + "t": the wire device of end i, named like the VXLAN devices. */
static void
wire_name(const struct emb_item *it, int i, char *buf, size_t size)
{
    const char *parts[] = {it->cloudnet, it->element, rdl_element_id(it->ul_link),
                           rdl_element_id(it->end[i]), "transit"};
    snprintf(buf, size, "cn%011llxt", emb_hash(parts, 5) & 0xfffffffffffULL);
}

static char *
wire_owner(const struct emb_item *it)
{
    return xasprintf("cloudnet=%s transit=%s ullink=%s", it->cloudnet, it->element,
                     rdl_element_id(it->ul_link));
}

/*
 * The wire device at end i: made on the border port, tagged with the wire
 * tag, and bridged with the local tag. A failure leaves what was made for
 * transit_release_end to remove.
 */
static int
transit_add_end(const struct emb_item *it, int i, int wire, struct cn_err *err)
{
    const struct emb_dp_node *dp = it->end_dp[i];
    const struct emb_dp_port *port = it->port[i];
    const char *ns = dp->netns;
    char dev[16], wid[16], vid[16], br[16];
    char *alias = wire_owner(it);
    int rc = -1;

    if (ns && !emb_netns_exists(ns)) {
        cn_err_set(err, CN_E_NOTFOUND, "the network namespace %s of '%s' does not exist", ns,
                   rdl_element_id(it->end[i]));
        goto cleanup;
    }
    wire_name(it, i, dev, sizeof(dev));
    snprintf(wid, sizeof(wid), "%d", wire);
    snprintf(vid, sizeof(vid), "%d", it->vlan);
    if (port->remote) {
        /* VXLAN on the wire: the VNI is the wire tag, which both PIPs know. */
        int r = port->address ? emb_runv(err, "ip", ns, "link", "add", dev, "type", "vxlan", "id",
                                         wid, "local", port->address, "remote", port->remote, "dev",
                                         port->dev, "dstport", VXLAN_PORT, (char *)NULL)
                              : emb_runv(err, "ip", ns, "link", "add", dev, "type", "vxlan", "id",
                                         wid, "remote", port->remote, "dev", port->dev, "dstport",
                                         VXLAN_PORT, (char *)NULL);
        if (r < 0)
            goto cleanup;
    } else if (emb_runv(err, "ip", ns, "link", "add", "link", port->dev, "name", dev, "type",
                        "vlan", "id", wid, (char *)NULL) < 0) {
        goto cleanup;
    }
    if (emb_runv(err, "ip", ns, "link", "set", dev, "alias", alias, (char *)NULL) < 0)
        goto cleanup;
    if (dp->mode == EMB_MODE_VXLAN) {
        emb_tag_bridge(it->vlan, br, sizeof(br));
        if (emb_tag_bridge_get(ns, it->vlan, err) < 0 ||
            emb_runv(err, "ip", ns, "link", "set", dev, "master", br, (char *)NULL) < 0)
            goto cleanup;
    } else {
        /* An access port, as a VNode's: the local tag as PVID before VLAN 1 goes. */
        if (emb_runv(err, "ip", ns, "link", "set", dev, "master", dp->bridge, (char *)NULL) < 0 ||
            emb_runv(err, "bridge", ns, "vlan", "add", "dev", dev, "vid", vid, "pvid", "untagged",
                     (char *)NULL) < 0)
            goto cleanup;
        if (it->vlan != 1) {
            char **v = emb_argv("bridge", ns, "vlan", "del", "dev", dev, "vid", "1", (char *)NULL);
            int r = emb_run_tolerant((const char *const *)v, gone, err);
            emb_argv_free(v);
            if (r < 0)
                goto cleanup;
        }
    }
    if (emb_runv(err, "ip", ns, "link", "set", dev, "up", (char *)NULL) < 0)
        goto cleanup;
    rc = 0;

cleanup:
    free(alias);
    return rc;
}

/*
 * Removes the wire device of end i, after checking that a device by that
 * name is ours: one with another owner's alias is never touched. One
 * without an alias was left by an embedding interrupted between creating
 * and labelling it (the name is a hash of our ids).
 */
static int
transit_release_end(const struct emb_item *it, int i, struct cn_err *err)
{
    const struct emb_dp_node *dp = it->end_dp[i];
    const char *ns = dp->netns;
    struct emb_lines aliases = {0};
    char dev[16];
    char *want = wire_owner(it);
    int rc = -1;

    if (ns && !emb_netns_exists(ns)) {
        rc = 0; /* the whole node is gone, and its ports with it */
        goto cleanup;
    }
    wire_name(it, i, dev, sizeof(dev));
    if (emb_dev_exists(ns, dev)) {
        if (emb_list_aliases(ns, &aliases, err) < 0)
            goto cleanup;
        size_t n = strlen(dev);
        for (size_t k = 0; k < aliases.n; k++) {
            const char *l = aliases.v[k];
            if (strncmp(l, dev, n) == 0 && l[n] == ' ' && !cn_streq(l + n + 1, want)) {
                cn_err_set(err, CN_E_FORBIDDEN,
                           "device %s in %s is not the wire device of '%s' on '%s' (its alias is "
                           "'%s')",
                           dev, ns ? ns : "the initial namespace", it->element,
                           rdl_element_id(it->ul_link), l + n + 1);
                goto cleanup;
            }
        }
        char **v = emb_argv("ip", ns, "link", "del", dev, (char *)NULL);
        int r = emb_run_tolerant((const char *const *)v, gone, err);
        emb_argv_free(v);
        if (r < 0)
            goto cleanup;
    }
    if (dp->mode == EMB_MODE_VXLAN && emb_tag_bridge_put(ns, it->vlan, err) < 0)
        goto cleanup;
    rc = 0;

cleanup:
    emb_lines_free(aliases.v);
    free(want);
    return rc;
}

static int
transit_embed(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    int wire = 0;

    if (check_transit(it, &wire, err) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (!end_is_ours(it, i))
            continue;
        if (is_trunk(it, i)) {
            if (wire != it->vlan)
                return cn_err_set(err, CN_E_VLAN,
                                  "transit link '%s' ends on a trunk, which cannot translate tag "
                                  "%d to wire tag %d",
                                  rdl_element_id(it->ul_link), it->vlan, wire);
            continue;
        }
        if (transit_add_end(it, i, wire, err) < 0)
            return -1;
    }
    return 0;
}

static int
transit_release(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    if (it->vlan < 1 || it->vlan > 4094)
        return 0; /* nothing can have been configured for it */
    for (int i = 0; i < 2; i++)
        if (end_is_ours(it, i) && it->end_dp[i] && !is_trunk(it, i) &&
            transit_release_end(it, i, err) < 0)
            return -1;
    return 0;
}

/* Wire devices carry owner tags: the scan finds them, with or without the mapping. */
static int
transit_leftovers(struct emb_ctx *ctx, void *state, const char *cloudnet, const struct emb_item *it,
                  struct emb_lines *lines, struct cn_err *err)
{
    (void)state;
    /* Wire devices are made on border ports of the map only. */
    if (it || emb_ctx_dataplane(ctx)->n_ports == 0)
        return 0;
    return emb_scan_devices(ctx, cloudnet, "transit", "transit", lines, err);
}

const struct emb_plugin emb_vlan_plugin = {
    .name = "vlan",
    .type_prefix = "/link/ethernet/vlan",
    .embed = vlan_embed,
    .release = vlan_release,
    .leftovers = vlan_leftovers,
};

const struct emb_plugin emb_transit_plugin = {
    .name = "transit",
    .type_prefix = "/link/transit",
    .embed = transit_embed,
    .release = transit_release,
    .leftovers = transit_leftovers,
};
