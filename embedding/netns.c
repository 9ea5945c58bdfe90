/*
 * The netns plugin: a VNode as a Linux network namespace "cn-CLOUDNET-ELEMENT"
 * (lightweight VNodes for containers, and the data-plane tests). Each virtual
 * link of the VNode is a veth pair: "ethN" inside the namespace (N the
 * link's position among the node's links in the overlay), the other end,
 * named by emb_ifname, on the host's bridge as an access port for the
 * link's VLAN (VLAN mode: PVID, untagged; VXLAN mode: on the tag's bridge).
 *
 * Owner tags live in the kernel: the namespace's loopback carries the alias
 * "cloudnet=ID element=EL" and each host-side veth "cloudnet=ID node=EL
 * link=L", so leftovers are found exactly even when ids contain '-'.
 *
 * Embedding leaves the interfaces down (the VNode is "defined"); start brings
 * them up, stop takes them down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMB_PRIV_H_ALLOW
#include "embedding/emb_priv.h"
#include "rdl/rdl.h"
#include "util/util.h"

static const char *const gone[] = {"Cannot find device", "No such file or directory", NULL};

static const char *
host_netns(const struct emb_item *it)
{
    return it->host_dp ? it->host_dp->netns : NULL;
}

static char *
owner_tag(const struct emb_item *it)
{
    return xasprintf("cloudnet=%s element=%s", it->cloudnet, it->element);
}

/*
 * Whether namespace name holds nothing but an untagged loopback: what a
 * crash between `ip netns add` and tagging its loopback leaves behind. A
 * namespace by our exact name in that state is ours to finish or remove;
 * anything with more in it is not.
 */
static bool
is_bare(const char *name)
{
    struct cn_buf out = CN_BUF_INIT;
    struct cn_err e = CN_ERR_INIT;
    bool bare = false;

    cn_buf_init(&out);
    char **v = emb_argv("ip", name, "-o", "link", "show", (char *)NULL);
    if (emb_run((const char *const *)v, &out, &e) == 0) {
        size_t lines = 0;
        for (const char *p = out.s; *p; p++)
            lines += *p == '\n';
        bare = lines == 1 && strstr(out.s, ": lo:") && !strstr(out.s, "alias");
    }
    emb_argv_free(v);
    cn_err_release(&e);
    cn_buf_release(&out);
    return bare;
}

/*
 * Whether the namespace exists (0, *ret_exists) and is ours; -1 when it
 * exists and belongs to someone else.
 */
static int
check_owner(const char *name, const struct emb_item *it, bool *ret_exists, struct cn_err *err)
{
    struct emb_lines l = {0};
    int rc = -1;
    char *want = owner_tag(it);

    if (!emb_netns_exists(name)) {
        *ret_exists = false;
        rc = 0;
        goto cleanup;
    }
    if (emb_list_aliases(name, &l, err) < 0)
        goto cleanup;
    for (size_t i = 0; i < l.n; i++) {
        if (cn_startswith(l.v[i], "lo ") && cn_streq(l.v[i] + 3, want)) {
            *ret_exists = true;
            rc = 0;
            goto cleanup;
        }
    }
    if (l.n == 0 && is_bare(name)) {
        *ret_exists = true;
        rc = 0;
        goto cleanup;
    }
    cn_err_set(err, CN_E_FORBIDDEN,
               "network namespace %s exists but does not belong to '%s' of CloudNet %s", name,
               it->element, it->cloudnet);

cleanup:
    emb_lines_free(l.v);
    free(want);
    return rc;
}

/* Fails unless the VNode's namespace (called name) exists and is ours. */
static int
check_embedded(const char *name, const struct emb_item *it, struct cn_err *err)
{
    bool exists;
    if (check_owner(name, it, &exists, err) < 0)
        return -1;
    if (!exists)
        return cn_err_set(err, CN_E_NOTFOUND, "VNode '%s' of CloudNet %s is not embedded",
                          it->element, it->cloudnet);
    return 0;
}

/* Fails unless every interface of the VNode has a tag. */
static int
check_tags(const struct emb_item *it, struct cn_err *err)
{
    for (size_t i = 0; i < it->n_ifaces; i++)
        if (it->ifaces[i].vlan < 1 || it->ifaces[i].vlan > 4094)
            return cn_err_set(err, CN_E_VLAN, "virtual link '%s' has no VLAN tag",
                              it->ifaces[i].link);
    return 0;
}

static int
add_iface(const char *name, const struct emb_item *it, const struct emb_iface *f,
          struct cn_err *err)
{
    const char *hns = host_netns(it);
    const char *bridge = it->host_dp ? it->host_dp->bridge : "br0";
    bool vxlan = it->host_dp && it->host_dp->mode == EMB_MODE_VXLAN;
    char host[16], inner[16], vid[16], tagbr[16], mac[18];
    char *alias = xasprintf("cloudnet=%s node=%s link=%s", it->cloudnet, it->element, f->link);
    int rc = -1;

    emb_ifname(it->cloudnet, it->element, f->link, host, sizeof(host));
    emb_mac(it->cloudnet, it->element, f->link, mac, sizeof(mac));
    snprintf(inner, sizeof(inner), "eth%u", f->index);
    snprintf(vid, sizeof(vid), "%d", f->vlan);
    if (emb_runv(err, "ip", hns, "link", "add", host, "type", "veth", "peer", "name", inner,
                 "address", mac, "netns", name, (char *)NULL) < 0 ||
        emb_runv(err, "ip", hns, "link", "set", host, "alias", alias, (char *)NULL) < 0)
        goto cleanup;
    if (vxlan) {
        emb_tag_bridge(f->vlan, tagbr, sizeof(tagbr));
        if (emb_tag_bridge_get(hns, f->vlan, err) < 0 ||
            emb_runv(err, "ip", hns, "link", "set", host, "master", tagbr, (char *)NULL) < 0)
            goto cleanup;
    } else {
        /* Add the link's VLAN as PVID before dropping the bridge's default, never leaving none. */
        if (emb_runv(err, "ip", hns, "link", "set", host, "master", bridge, (char *)NULL) < 0 ||
            emb_runv(err, "bridge", hns, "vlan", "add", "dev", host, "vid", vid, "pvid", "untagged",
                     (char *)NULL) < 0)
            goto cleanup;
        /* The bridge may have no default PVID (default_pvid 0): then there is nothing to drop. */
        if (f->vlan != 1) {
            char **v =
                emb_argv("bridge", hns, "vlan", "del", "dev", host, "vid", "1", (char *)NULL);
            int r = emb_run_tolerant((const char *const *)v, gone, err);
            emb_argv_free(v);
            if (r < 0)
                goto cleanup;
        }
    }
    if (emb_runv(err, "ip", hns, "link", "set", host, "up", (char *)NULL) < 0)
        goto cleanup;
    if (f->address &&
        emb_runv(err, "ip", name, "addr", "add", f->address, "dev", inner, (char *)NULL) < 0)
        goto cleanup;
    rc = 0;

cleanup:
    free(alias);
    return rc;
}

static int
ns_embed(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    char *name = emb_vnode_name(it->cloudnet, it->element);
    char *tag = owner_tag(it);
    bool exists;
    int rc = -1;

    if (check_owner(name, it, &exists, err) < 0)
        goto cleanup;
    if (exists) {
        cn_err_set(err, CN_E_INVALID, "VNode '%s' of CloudNet %s is already embedded", it->element,
                   it->cloudnet);
        goto cleanup;
    }
    if (host_netns(it) && !emb_netns_exists(host_netns(it))) {
        cn_err_set(err, CN_E_NOTFOUND, "the network namespace %s of host '%s' does not exist",
                   host_netns(it), rdl_element_id(it->host));
        goto cleanup;
    }
    if (check_tags(it, err) < 0)
        goto cleanup;
    if (emb_runv(err, "ip", NULL, "netns", "add", name, (char *)NULL) < 0 ||
        emb_runv(err, "ip", name, "link", "set", "lo", "alias", tag, (char *)NULL) < 0)
        goto cleanup;
    for (size_t i = 0; i < it->n_ifaces; i++)
        if (add_iface(name, it, &it->ifaces[i], err) < 0)
            goto cleanup;
    rc = 0;

cleanup:
    free(tag);
    free(name);
    return rc;
}

static int
ns_release(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    char *name = emb_vnode_name(it->cloudnet, it->element);
    char *prefix = xasprintf("cloudnet=%s node=%s link=", it->cloudnet, it->element);
    struct emb_lines devs = {0};
    const char *hns = host_netns(it);
    bool exists;
    int rc = -1;

    if (check_owner(name, it, &exists, err) < 0)
        goto cleanup;
    /*
     * The host ends go first, found by owner tag so that a release without
     * the overlay finds them too. Deleting the namespace alone would not do:
     * a process still inside it keeps its veths alive.
     */
    if (!hns || emb_netns_exists(hns)) {
        if (emb_list_aliases(hns, &devs, err) < 0)
            goto cleanup;
        for (size_t i = 0; i < devs.n; i++) {
            char *sp = strchr(devs.v[i], ' ');
            if (!sp || !cn_startswith(sp + 1, prefix))
                continue;
            *sp = '\0';
            char **v = emb_argv("ip", hns, "link", "del", devs.v[i], (char *)NULL);
            int r = emb_run_tolerant((const char *const *)v, gone, err);
            emb_argv_free(v);
            if (r < 0)
                goto cleanup;
        }
        if (it->host_dp && it->host_dp->mode == EMB_MODE_VXLAN) {
            for (size_t i = 0; i < it->n_ifaces; i++)
                if (it->ifaces[i].vlan > 0 && emb_tag_bridge_put(hns, it->ifaces[i].vlan, err) < 0)
                    goto cleanup;
        }
    }
    if (exists) {
        char **v = emb_argv("ip", NULL, "netns", "del", name, (char *)NULL);
        int r = emb_run_tolerant((const char *const *)v, gone, err);
        emb_argv_free(v);
        if (r < 0)
            goto cleanup;
    }
    rc = 0;

cleanup:
    emb_lines_free(devs.v);
    free(prefix);
    free(name);
    return rc;
}

/* The interface of `it` on link, or NULL. */
static const struct emb_iface *
find_iface(const struct emb_item *it, const char *link)
{
    for (size_t i = 0; i < it->n_ifaces; i++)
        if (cn_streq(it->ifaces[i].link, link))
            return &it->ifaces[i];
    return NULL;
}

/* Whether f is realised the same as the interface `other` has on its link. */
static bool
iface_stays(const struct emb_iface *f, const struct emb_item *other)
{
    const struct emb_iface *g = find_iface(other, f->link);
    return g && g->vlan == f->vlan && g->index == f->index &&
           (f->address == NULL) == (g->address == NULL) &&
           (!f->address || cn_streq(f->address, g->address));
}

/* Deletes the veth of the VNode's interface f (both ends go); gone already is fine. */
static int
del_iface(const struct emb_item *it, const struct emb_iface *f, struct cn_err *err)
{
    const char *hns = host_netns(it);
    char host[16];

    emb_ifname(it->cloudnet, it->element, f->link, host, sizeof(host));
    char **v = emb_argv("ip", hns, "link", "del", host, (char *)NULL);
    int r = emb_run_tolerant((const char *const *)v, gone, err);
    emb_argv_free(v);
    if (r < 0)
        return -1;
    if (it->host_dp && it->host_dp->mode == EMB_MODE_VXLAN && f->vlan > 0)
        return emb_tag_bridge_put(hns, f->vlan, err);
    return 0;
}

/* Whether the VNode in namespace name runs: start sets lo up with the links, so lo's flag tells. */
static int
lo_up(const char *name, bool *ret_up, struct cn_err *err)
{
    struct cn_buf out = CN_BUF_INIT;

    cn_buf_init(&out);
    char **v = emb_argv("ip", name, "-o", "link", "show", "lo", (char *)NULL);
    int rc = emb_run((const char *const *)v, &out, err);
    emb_argv_free(v);
    if (rc == 0)
        *ret_up = strstr(out.s, ",UP") || strstr(out.s, "<UP");
    cn_buf_release(&out);
    return rc;
}

static int
ns_relink(struct emb_ctx *ctx, void *state, const struct emb_item *old, const struct emb_item *new,
          struct cn_err *err)
{
    (void)ctx;
    (void)state;
    char *name = emb_vnode_name(new->cloudnet, new->element);
    char inner[16];
    int rc = -1;

    if (check_embedded(name, new, err) < 0 || check_tags(new, err) < 0)
        goto cleanup;
    bool running;
    if (lo_up(name, &running, err) < 0)
        goto cleanup;
    /* Removals first: an added interface may take the ethN a removed one frees. */
    for (size_t i = 0; i < old->n_ifaces; i++)
        if (!iface_stays(&old->ifaces[i], new) && del_iface(old, &old->ifaces[i], err) < 0)
            goto cleanup;
    for (size_t i = 0; i < new->n_ifaces; i++) {
        const struct emb_iface *f = &new->ifaces[i];
        if (iface_stays(f, old))
            continue;
        /* What an earlier attempt that failed half way left is replaced. */
        if (del_iface(new, f, err) < 0 || add_iface(name, new, f, err) < 0)
            goto cleanup;
        snprintf(inner, sizeof(inner), "eth%u", f->index);
        if (running && emb_runv(err, "ip", name, "link", "set", inner, "up", (char *)NULL) < 0)
            goto cleanup;
    }
    rc = 0;

cleanup:
    free(name);
    return rc;
}

/* Sets lo and every ethN of the VNode up or down. */
static int
set_links(const struct emb_item *it, const char *how, struct cn_err *err)
{
    char *name = emb_vnode_name(it->cloudnet, it->element);
    struct cn_buf out = CN_BUF_INIT;
    int rc = -1;

    cn_buf_init(&out);
    if (check_embedded(name, it, err) < 0)
        goto cleanup;
    char **v = emb_argv("ip", name, "-o", "link", "show", (char *)NULL);
    int r = emb_run((const char *const *)v, &out, err);
    emb_argv_free(v);
    if (r < 0)
        goto cleanup;
    for (char *l = out.s, *next; *l; l = next) {
        next = strchr(l, '\n');
        if (next)
            *next++ = '\0';
        else
            next = l + strlen(l);
        char *dev = strstr(l, ": ");
        if (!dev)
            continue;
        dev += 2;
        dev[strcspn(dev, "@:")] = '\0';
        if (emb_runv(err, "ip", name, "link", "set", dev, how, (char *)NULL) < 0)
            goto cleanup;
    }
    rc = 0;

cleanup:
    cn_buf_release(&out);
    free(name);
    return rc;
}

static int
ns_start(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    return set_links(it, "up", err);
}

static int
ns_stop(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    return set_links(it, "down", err);
}

static int
ns_powercycle(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    (void)state;
    if (set_links(it, "down", err) < 0)
        return -1;
    return set_links(it, "up", err);
}

static int
ns_console(struct emb_ctx *ctx, void *state, const struct emb_item *it, char **ret_uri,
           struct cn_err *err)
{
    (void)ctx;
    (void)state;
    char *name = emb_vnode_name(it->cloudnet, it->element);
    bool exists;
    if (check_owner(name, it, &exists, err) < 0 || !exists) {
        if (!cn_err_is_set(err))
            cn_err_set(err, CN_E_NOTFOUND, "VNode '%s' of CloudNet %s is not embedded", it->element,
                       it->cloudnet);
        free(name);
        return -1;
    }
    *ret_uri = xasprintf("netns:%s", name);
    free(name);
    return 0;
}

static int
ns_status(struct emb_ctx *ctx, void *state, const struct emb_item *it, enum emb_state *ret_state,
          struct cn_err *err)
{
    (void)ctx;
    (void)state;
    char *name = emb_vnode_name(it->cloudnet, it->element);
    bool exists;
    int rc = -1;

    if (check_owner(name, it, &exists, err) < 0)
        goto cleanup;
    if (!exists) {
        *ret_state = EMB_STATE_ABSENT;
        rc = 0;
        goto cleanup;
    }
    bool up;
    if (lo_up(name, &up, err) < 0)
        goto cleanup;
    *ret_state = up ? EMB_STATE_RUNNING : EMB_STATE_DEFINED;
    rc = 0;

cleanup:
    free(name);
    return rc;
}

/* Host namespaces to scan for veths: the initial one and every one in the dataplane map. */
static void
host_namespaces(struct emb_ctx *ctx, struct emb_lines *ns)
{
    const struct emb_dataplane *dp = emb_ctx_dataplane(ctx);
    for (size_t i = 0; i < dp->n_nodes; i++) {
        const char *n = dp->nodes[i].netns;
        bool seen = false;
        for (size_t j = 0; n && j < ns->n; j++)
            seen = seen || cn_streq(ns->v[j], n);
        if (n && !seen && emb_netns_exists(n))
            emb_lines_add(ns, xstrdup(n));
    }
}

int
emb_scan_devices(struct emb_ctx *ctx, const char *cloudnet, const char *kind, const char *label,
                 struct emb_lines *lines, struct cn_err *err)
{
    struct emb_lines ns = {0};
    char *want = xasprintf("cloudnet=%s %s=", cloudnet, kind);
    int rc = -1;

    host_namespaces(ctx, &ns);
    for (size_t i = 0; i <= ns.n; i++) {
        const char *n = i < ns.n ? ns.v[i] : NULL;
        struct emb_lines devs = {0};
        if (emb_list_aliases(n, &devs, err) < 0)
            goto cleanup;
        for (size_t j = 0; j < devs.n; j++) {
            char *sp = strchr(devs.v[j], ' ');
            if (sp && cn_startswith(sp + 1, want))
                emb_lines_add(lines, xasprintf("%s %s/%.*s", label, n ? n : "-",
                                               (int)(sp - devs.v[j]), devs.v[j]));
        }
        emb_lines_free(devs.v);
    }
    rc = 0;

cleanup:
    emb_lines_free(ns.v);
    free(want);
    return rc;
}

static int
ns_leftovers(struct emb_ctx *ctx, void *state, const char *cloudnet, const struct emb_item *it,
             struct emb_lines *lines, struct cn_err *err)
{
    (void)state;
    struct cn_buf out = CN_BUF_INIT;
    char *prefix = xasprintf("cn-%s-", cloudnet);
    char *want = xasprintf("cloudnet=%s element=", cloudnet);
    int rc = -1;

    cn_buf_init(&out);
    if (it) {
        rc = 0;
        goto cleanup;
    }
    char **v = emb_argv("ip", NULL, "netns", "list", (char *)NULL);
    int r = emb_run((const char *const *)v, &out, err);
    emb_argv_free(v);
    if (r < 0)
        goto cleanup;
    /* Lines are "NAME" or "NAME (id: N)". */
    for (char *l = out.s, *next; *l; l = next) {
        next = strchr(l, '\n');
        if (next)
            *next++ = '\0';
        else
            next = l + strlen(l);
        l[strcspn(l, " ")] = '\0';
        if (!cn_startswith(l, prefix))
            continue;
        struct emb_lines a = {0};
        if (emb_list_aliases(l, &a, err) < 0) {
            emb_lines_free(a.v);
            goto cleanup;
        }
        for (size_t i = 0; i < a.n; i++)
            if (cn_startswith(a.v[i], "lo ") && cn_startswith(a.v[i] + 3, want))
                emb_lines_add(lines, xasprintf("netns %s", l));
        emb_lines_free(a.v);
    }
    rc = emb_scan_devices(ctx, cloudnet, "node", "veth", lines, err);

cleanup:
    cn_buf_release(&out);
    free(prefix);
    free(want);
    return rc;
}

const struct emb_plugin emb_netns_plugin = {
    .name = "netns",
    .type_prefix = "/node/host/server/netns",
    .embed = ns_embed,
    .release = ns_release,
    .start = ns_start,
    .stop = ns_stop,
    .powercycle = ns_powercycle,
    .console = ns_console,
    .status = ns_status,
    .leftovers = ns_leftovers,
    .relink = ns_relink,
};
