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
 * A transit link leads to another PIP: only its local end is configured.
 * The tag on the wire is the VLink's; translating it to another tag at the
 * border is not something a Linux bridge can do, so a mapping that asks
 * for it (`transit_vlan` different from `vlan`) is refused.
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

/* Whether end i of the hop is configured here: transit links have a far end that is not. */
static bool
end_is_ours(const struct emb_item *it, int i, bool transit)
{
    if (!transit)
        return true;
    return it->port[i] != NULL && it->end_dp[i] != NULL;
}

static int
check_hop(const struct emb_item *it, bool transit, struct cn_err *err)
{
    const char *ul = rdl_element_id(it->ul_link);
    int ours = 0;

    if (it->vlan < 1 || it->vlan > 4094)
        return cn_err_set(err, CN_E_VLAN,
                          "virtual link '%s' crosses underlay link '%s' but has no VLAN tag",
                          it->element, ul);
    for (int i = 0; i < 2; i++) {
        if (!end_is_ours(it, i, transit))
            continue;
        ours++;
        if (!it->end_dp[i] || !it->port[i])
            return cn_err_set(err, CN_E_NOTFOUND,
                              "the dataplane map has no port of underlay link '%s' at '%s'", ul,
                              rdl_element_id(it->end[i]));
    }
    if (ours == 0)
        return cn_err_set(err, CN_E_NOTFOUND,
                          "the dataplane map has no port of transit link '%s' at either end", ul);
    if (transit) {
        int first, last;
        double t = rdl_props_number(rdl_map_entry_features(it->entry), "transit_vlan", it->vlan);
        if ((int)t != it->vlan)
            return cn_err_set(err, CN_E_VLAN,
                              "VLAN translation (%d inside, %d on '%s') is not supported by "
                              "Linux bridges",
                              it->vlan, (int)t, ul);
        if (rdl_element_vlan_range(it->ul_link, &first, &last) == 0 &&
            (it->vlan < first || it->vlan > last))
            return cn_err_set(err, CN_E_VLAN, "tag %d is outside the range %d-%d of '%s'", it->vlan,
                              first, last, ul);
    } else if (it->end_dp[0]->mode != it->end_dp[1]->mode) {
        return cn_err_set(err, CN_E_INVALID,
                          "the two ends of underlay link '%s' use different bridge modes", ul);
    }
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
hop_embed(const struct emb_item *it, bool transit, struct cn_err *err)
{
    char vid[16];

    if (check_hop(it, transit, err) < 0)
        return -1;
    snprintf(vid, sizeof(vid), "%d", it->vlan);
    for (int i = 0; i < 2; i++) {
        if (!end_is_ours(it, i, transit))
            continue;
        const struct emb_dp_node *dp = it->end_dp[i];
        if (dp->netns && !emb_netns_exists(dp->netns))
            return cn_err_set(err, CN_E_NOTFOUND, "the network namespace %s of '%s' does not exist",
                              dp->netns, rdl_element_id(it->end[i]));
        if (dp->mode == EMB_MODE_VXLAN) {
            if (transit)
                return cn_err_set(err, CN_E_INVALID,
                                  "transit link '%s' needs VLAN mode at its border port",
                                  rdl_element_id(it->ul_link));
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
        if (!it->end_dp[i] || !it->port[i])
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
hop_leftovers(struct emb_ctx *ctx, const char *cloudnet, const struct emb_item *it, bool transit,
              struct emb_lines *lines, struct cn_err *err)
{
    if (!it)
        return transit ? 0 : emb_scan_devices(ctx, cloudnet, "hop", "vxlan", lines, err);
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
    return hop_embed(it, false, err);
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
    return hop_leftovers(ctx, cloudnet, it, false, lines, err);
}

static int
transit_embed(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    return hop_embed(it, true, err);
}

static int
transit_release(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    return hop_release(it, err);
}

static int
transit_leftovers(struct emb_ctx *ctx, void *state, const char *cloudnet, const struct emb_item *it,
                  struct emb_lines *lines, struct cn_err *err)
{
    (void)state;
    return hop_leftovers(ctx, cloudnet, it, true, lines, err);
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
