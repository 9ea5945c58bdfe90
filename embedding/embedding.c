/*
 * The embedding context and the driver of the plugins: it turns a mapping
 * document into work items (one per VNode, one per underlay link of each
 * VLink's path), checks all of them before touching anything, hands each to
 * the plugin its underlay element's type selects, and undoes the finished
 * items when a later one fails.
 *
 * Nothing is remembered between calls: every call gets the CloudNet's
 * graphs again (pipd keeps them in its database), so a restarted daemon
 * can release what an earlier one embedded.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMB_PRIV_H_ALLOW
#include "embedding/emb_priv.h"
#include "rdl/rdl.h"
#include "util/util.h"

/*
 * The plugin table. An underlay element is served by the entry with the
 * longest type prefix of its type; entries with the same name share one
 * plugin state.
 */
static const struct emb_plugin *const plugins[] = {
    &emb_libvirt_plugin, &emb_netns_plugin,  &emb_vlan_plugin,
    &emb_transit_plugin, &emb_border_plugin,
};

/* Further prefixes served by the same plugins, as (prefix, plugin) pairs. */
static const struct {
    const char *prefix;
    const struct emb_plugin *plugin;
} aliases[] = {
    {"/node/host/netns", &emb_netns_plugin},
    {"/link/ethernet", &emb_vlan_plugin},
};

#define N_TABLE (CN_ARRAY_SIZE(plugins) + CN_ARRAY_SIZE(aliases))

struct emb_ctx {
    struct emb_config cfg; /* strings owned */
    struct emb_dataplane *dp;
    struct emb_plugin table[N_TABLE];
    void *state[N_TABLE];
    bool ready[N_TABLE];
};

/* ---- plugin selection ---- */

bool
emb_type_has_prefix(const char *type, const char *prefix)
{
    size_t n = strlen(prefix);
    while (n > 1 && prefix[n - 1] == '/')
        n--;
    if (strncmp(type, prefix, n) != 0)
        return false;
    return type[n] == '\0' || type[n] == '/';
}

const struct emb_plugin *
emb_plugin_select(const struct emb_plugin *table, size_t n, const char *type)
{
    const struct emb_plugin *best = NULL;
    size_t best_len = 0;

    if (!type)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(table[i].type_prefix);
        if (emb_type_has_prefix(type, table[i].type_prefix) && (!best || len > best_len)) {
            best = &table[i];
            best_len = len;
        }
    }
    return best;
}

static void
fill_table(struct emb_plugin *table)
{
    size_t n = 0;
    for (size_t i = 0; i < CN_ARRAY_SIZE(plugins); i++)
        table[n++] = *plugins[i];
    /* An alias entry takes every callback of the plugin it names. */
    for (size_t i = 0; i < CN_ARRAY_SIZE(aliases); i++) {
        table[n] = *aliases[i].plugin;
        table[n++].type_prefix = aliases[i].prefix;
    }
}

const char *
emb_plugin_for_type(const char *type)
{
    struct emb_plugin table[N_TABLE];
    fill_table(table);
    const struct emb_plugin *p = emb_plugin_select(table, N_TABLE, type);
    return p ? p->name : NULL;
}

/* ---- the context ---- */

static char *
dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct emb_ctx *
emb_ctx_new(const struct emb_config *cfg, struct cn_err *err)
{
    struct emb_ctx *ctx = xcalloc(1, sizeof(*ctx));

    ctx->cfg.libvirt_uri = xstrdup(cfg && cfg->libvirt_uri ? cfg->libvirt_uri : "qemu:///system");
    if (cfg) {
        ctx->cfg.image_dir = dup_or_null(cfg->image_dir);
        ctx->cfg.template_dir = dup_or_null(cfg->template_dir);
        ctx->cfg.clipd_socket = dup_or_null(cfg->clipd_socket);
        ctx->cfg.dataplane_file = dup_or_null(cfg->dataplane_file);
    }
    if (ctx->cfg.dataplane_file) {
        ctx->dp = emb_dataplane_read_file(ctx->cfg.dataplane_file, err);
        if (!ctx->dp) {
            emb_ctx_free(ctx);
            return NULL;
        }
    } else {
        ctx->dp = emb_dataplane_new();
    }
    fill_table(ctx->table);
    return ctx;
}

void
emb_ctx_free(struct emb_ctx *ctx)
{
    if (!ctx)
        return;
    for (size_t i = 0; i < N_TABLE; i++)
        if (ctx->ready[i] && ctx->table[i].fini)
            ctx->table[i].fini(ctx->state[i]);
    /* The config strings were duplicated by emb_ctx_new. */
    free((char *)(uintptr_t)ctx->cfg.libvirt_uri);
    free((char *)(uintptr_t)ctx->cfg.image_dir);
    free((char *)(uintptr_t)ctx->cfg.template_dir);
    free((char *)(uintptr_t)ctx->cfg.clipd_socket);
    free((char *)(uintptr_t)ctx->cfg.dataplane_file);
    emb_dataplane_free(ctx->dp);
    free(ctx);
}

struct emb_dataplane *
emb_ctx_dataplane(struct emb_ctx *ctx)
{
    return ctx->dp;
}

const struct emb_config *
emb_ctx_config(const struct emb_ctx *ctx)
{
    return &ctx->cfg;
}

int
emb_plugin_state(struct emb_ctx *ctx, const char *name, void **ret_state, struct cn_err *err)
{
    size_t i;
    for (i = 0; i < N_TABLE; i++)
        if (cn_streq(ctx->table[i].name, name))
            break;
    if (i == N_TABLE)
        return cn_err_set(err, CN_E_INTERNAL, "plugin '%s' is not in the table", name);
    if (!ctx->ready[i]) {
        void *state = NULL;
        if (ctx->table[i].init && ctx->table[i].init(ctx, &state, err) < 0) {
            cn_err_prefix(err, "plugin %s", name);
            return -1;
        }
        ctx->state[i] = state;
        ctx->ready[i] = true;
    }
    *ret_state = ctx->state[i];
    return 0;
}

/* ---- names ---- */

char *
emb_vnode_name(const char *cloudnet, const char *element)
{
    return xasprintf("cn-%s-%s", cloudnet, element);
}

void
emb_mac(const char *cloudnet, const char *node, const char *link, char *buf, size_t size)
{
    const char *parts[] = {cloudnet, node, link, "mac"};
    unsigned long long h = emb_hash(parts, 4);
    snprintf(buf, size, "02:%02x:%02x:%02x:%02x:%02x", (unsigned)(h >> 32) & 0xff,
             (unsigned)(h >> 24) & 0xff, (unsigned)(h >> 16) & 0xff, (unsigned)(h >> 8) & 0xff,
             (unsigned)h & 0xff);
}

void
emb_ifname(const char *cloudnet, const char *node, const char *link, char *buf, size_t size)
{
    const char *parts[] = {cloudnet, node, link};
    unsigned long long h = emb_hash(parts, 3);
    snprintf(buf, size, "cn%011llxh", h & 0xfffffffffffULL);
}

const char *
emb_state_name(enum emb_state state)
{
    switch (state) {
    case EMB_STATE_ABSENT:
        return "absent";
    case EMB_STATE_DEFINED:
        return "defined";
    case EMB_STATE_RUNNING:
        return "running";
    case EMB_STATE_PAUSED:
        return "paused";
    case EMB_STATE_CRASHED:
        return "crashed";
    case EMB_STATE_REMOTE:
        return "remote";
    case EMB_STATE_OTHER:
        break;
    }
    return "other";
}

void
emb_lines_add(struct emb_lines *l, char *line)
{
    CN_GROW(l->v, l->cap, l->n + 2);
    l->v[l->n++] = line;
    l->v[l->n] = NULL;
}

void
emb_lines_free(char **lines)
{
    if (!lines)
        return;
    for (size_t i = 0; lines[i]; i++)
        free(lines[i]);
    free(lines);
}

/* ---- building work items ---- */

struct work {
    const struct emb_plugin *plugin;
    struct emb_item item;
};

struct plan {
    struct work *w;
    size_t n, cap;
};

static void
plan_release(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->w[i].item.ifaces);
    free(p->w);
    memset(p, 0, sizeof(*p));
}

static bool
cloudnet_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > EMB_MAX_CLOUDNET_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (i > 0 && (c == '-' || c == '.'));
        if (!ok)
            return false;
    }
    return true;
}

static const char *
address_of(const struct rdl_props *features, const char *link)
{
    if (!features)
        return NULL;
    char *key = xasprintf("address.%s", link);
    const char *a = rdl_props_string(features, key);
    free(key);
    return a ? a : rdl_props_string(features, "address");
}

static int
node_item(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
          const struct rdl_graph *mapping, const struct rdl_graph *underlay, const char *id,
          bool need_tags, struct work *ret_work, struct cn_err *err)
{
    struct work w = {0};
    const struct rdl_map_entry *entry = rdl_mapping_get(mapping, id);

    if (!entry)
        return cn_err_set(err, CN_E_NOTFOUND, "'%s' is not in the mapping", id);
    const char *to = rdl_map_entry_to(entry);
    if (!to)
        return cn_err_set(err, CN_E_INVALID, "'%s' is not a node of the mapping", id);
    const struct rdl_element *host = rdl_graph_element(underlay, to);
    if (!host || !rdl_element_is_node(host))
        return cn_err_set(err, CN_E_NOTFOUND,
                          "'%s' sits on '%s', which is not a node of the underlay", id, to);
    w.plugin = emb_plugin_select(ctx->table, N_TABLE, rdl_element_type(host));
    if (!w.plugin)
        return cn_err_set(err, CN_E_INVALID,
                          "no embedding plugin for '%s' (type %s) that '%s' sits on", to,
                          rdl_element_type(host), id);
    w.item.kind = EMB_ITEM_NODE;
    w.item.cloudnet = cloudnet;
    w.item.element = rdl_map_entry_id(entry);
    w.item.entry = entry;
    w.item.host = host;
    w.item.host_dp = emb_dp_node(ctx->dp, to);
    w.item.vlan = -1;

    const struct rdl_element *el = overlay ? rdl_graph_element(overlay, id) : NULL;
    if (overlay && (!el || !rdl_element_is_node(el)))
        return cn_err_set(err, CN_E_NOTFOUND, "'%s' is not a node of the overlay", id);
    w.item.overlay = el;
    size_t cap = 0;
    for (size_t i = 0; el && i < rdl_element_degree(el); i++) {
        const struct rdl_element *link = rdl_element_neighbour(el, i);
        if (!rdl_element_is_link(link))
            continue;
        const char *lid = rdl_element_id(link);
        const struct rdl_map_entry *le = rdl_mapping_get(mapping, lid);
        int vlan = le ? rdl_map_entry_vlan(le) : -1;
        if (need_tags && !le) {
            free(w.item.ifaces);
            return cn_err_set(err, CN_E_INVALID, "link '%s' of '%s' is not in the mapping", lid,
                              id);
        }
        if (need_tags && (vlan < 1 || vlan > 4094)) {
            free(w.item.ifaces);
            return cn_err_set(err, CN_E_VLAN, "virtual link '%s' has no VLAN tag in the mapping",
                              lid);
        }
        CN_GROW(w.item.ifaces, cap, w.item.n_ifaces + 1);
        struct emb_iface *f = &w.item.ifaces[w.item.n_ifaces];
        f->link = lid;
        f->vlan = vlan;
        f->address = address_of(rdl_map_entry_features(entry), lid);
        if (!f->address)
            f->address = address_of(rdl_element_features(el), lid);
        f->index = (unsigned)w.item.n_ifaces++;
    }
    *ret_work = w;
    return 0;
}

/* The items of every underlay link on a VLink's path. */
static int
link_items(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
           const struct rdl_map_entry *entry, const struct rdl_graph *underlay, bool strict,
           struct plan *plan, struct cn_err *err)
{
    const char *id = rdl_map_entry_id(entry);
    size_t len = rdl_map_entry_path_len(entry);
    int vlan = rdl_map_entry_vlan(entry);

    if (len == 0 || len % 2 == 0)
        return cn_err_set(err, CN_E_INVALID,
                          "the path of '%s' must alternate nodes and links, starting and "
                          "ending with a node",
                          id);
    if (strict && (vlan < 1 || vlan > 4094))
        return cn_err_set(err, CN_E_VLAN, "virtual link '%s' has no VLAN tag in the mapping", id);
    for (size_t i = 1; i < len; i += 2) {
        const char *a = rdl_map_entry_path_at(entry, i - 1);
        const char *l = rdl_map_entry_path_at(entry, i);
        const char *b = rdl_map_entry_path_at(entry, i + 1);
        const struct rdl_element *ea = rdl_graph_element(underlay, a);
        const struct rdl_element *el = rdl_graph_element(underlay, l);
        const struct rdl_element *eb = rdl_graph_element(underlay, b);
        struct rdl_element *x, *y;
        if (!ea || !eb || !el || !rdl_element_is_node(ea) || !rdl_element_is_node(eb) ||
            !rdl_element_is_link(el))
            return cn_err_set(err, CN_E_NOTFOUND,
                              "the path of '%s' names '%s', '%s', '%s', which are not node, "
                              "link, node of the underlay",
                              id, a, l, b);
        if (rdl_link_endpoints(el, &x, &y) < 0 || !((x == ea && y == eb) || (x == eb && y == ea)))
            return cn_err_set(err, CN_E_INVALID,
                              "the path of '%s' uses '%s' between '%s' and '%s', which it does "
                              "not join",
                              id, l, a, b);
        struct work w = {0};
        w.plugin = emb_plugin_select(ctx->table, N_TABLE, rdl_element_type(el));
        if (!w.plugin)
            return cn_err_set(err, CN_E_INVALID,
                              "no embedding plugin for '%s' (type %s) on the "
                              "path of '%s'",
                              l, rdl_element_type(el), id);
        w.item.kind = EMB_ITEM_HOP;
        w.item.cloudnet = cloudnet;
        w.item.element = id;
        w.item.overlay = overlay ? rdl_graph_element(overlay, id) : NULL;
        w.item.entry = entry;
        w.item.ul_link = el;
        w.item.end[0] = ea;
        w.item.end[1] = eb;
        w.item.end_dp[0] = emb_dp_node(ctx->dp, a);
        w.item.end_dp[1] = emb_dp_node(ctx->dp, b);
        w.item.port[0] = emb_dp_port(ctx->dp, l, a);
        w.item.port[1] = emb_dp_port(ctx->dp, l, b);
        w.item.vlan = vlan;
        w.item.path_links = (len - 1) / 2;
        CN_GROW(plan->w, plan->cap, plan->n + 1);
        plan->w[plan->n++] = w;
    }
    return 0;
}

/*
 * Every item of the CloudNet: hops first, then nodes. With strict set (to
 * embed) the first problem stops the planning; otherwise (to release) items
 * that cannot be built are reported in err and skipped.
 */
static int
make_plan(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
          const struct rdl_graph *mapping, const struct rdl_graph *underlay, bool strict,
          struct plan *plan, struct cn_err *err)
{
    if (!cloudnet_ok(cloudnet))
        return cn_err_set(err, CN_E_INVALID,
                          "'%s' is not a CloudNet id (1 to %d letters, digits, '_', '-', '.')",
                          cloudnet ? cloudnet : "(null)", EMB_MAX_CLOUDNET_LEN);
    if (!mapping || rdl_graph_kind(mapping) != RDL_MAPPING)
        return cn_err_set(err, CN_E_INVALID, "a mapping document is needed");
    if (!underlay || rdl_graph_kind(underlay) != RDL_UNDERLAY)
        return cn_err_set(err, CN_E_INVALID, "an underlay document is needed");
    if (strict && (!overlay || rdl_graph_kind(overlay) != RDL_OVERLAY))
        return cn_err_set(err, CN_E_INVALID, "an overlay document is needed");

    int rc = 0;
    for (size_t i = 0; i < rdl_mapping_count(mapping); i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(mapping, i);
        if (!rdl_map_entry_has_path(m))
            continue;
        struct cn_err e = CN_ERR_INIT;
        if (link_items(ctx, cloudnet, overlay, m, underlay, strict, plan, &e) < 0) {
            cn_err_add(err, e.code, "%s", cn_err_msg(&e));
            rc = -1;
        }
        cn_err_release(&e);
        if (rc < 0 && strict)
            return -1;
    }
    for (size_t i = 0; i < rdl_mapping_count(mapping); i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(mapping, i);
        if (!rdl_map_entry_to(m))
            continue;
        struct work w;
        struct cn_err e = CN_ERR_INIT;
        if (node_item(ctx, cloudnet, overlay, mapping, underlay, rdl_map_entry_id(m), strict, &w,
                      &e) < 0) {
            cn_err_add(err, e.code, "%s", cn_err_msg(&e));
            rc = -1;
        } else {
            CN_GROW(plan->w, plan->cap, plan->n + 1);
            plan->w[plan->n++] = w;
        }
        cn_err_release(&e);
        if (rc < 0 && strict)
            return -1;
    }
    if (strict) {
        /* Every overlay element must be placed, or the CloudNet would be half there. */
        for (size_t i = 0; i < rdl_graph_element_count(overlay); i++) {
            const char *id = rdl_element_id(rdl_graph_element_at(overlay, i));
            if (!rdl_mapping_get(mapping, id))
                return cn_err_set(err, CN_E_INVALID, "'%s' of the overlay is not in the mapping",
                                  id);
        }
    }
    return rc;
}

static const char *
item_where(const struct emb_item *it, char *buf, size_t size)
{
    if (it->kind == EMB_ITEM_NODE)
        snprintf(buf, size, "'%s' on '%s'", it->element, rdl_element_id(it->host));
    else
        snprintf(buf, size, "'%s' on '%s'", it->element, rdl_element_id(it->ul_link));
    return buf;
}

static int
call_release(struct emb_ctx *ctx, const struct work *w, struct cn_err *err)
{
    void *state;
    char where[600];

    if (!w->plugin->release)
        return 0;
    if (emb_plugin_state(ctx, w->plugin->name, &state, err) < 0)
        return -1;
    if (w->plugin->release(ctx, state, &w->item, err) < 0) {
        cn_err_prefix(err, "releasing %s (%s)", item_where(&w->item, where, sizeof(where)),
                      w->plugin->name);
        return -1;
    }
    return 0;
}

/* ---- the public operations ---- */

static int check_clean(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *underlay,
                       struct cn_err *err);

/* Whether work w is for one of elements[0..n) (all of them when elements is NULL). */
static bool
selected(const struct work *w, const char *const *elements, size_t n)
{
    if (!elements)
        return true;
    for (size_t i = 0; i < n; i++)
        if (cn_streq(w->item.element, elements[i]))
            return true;
    return false;
}

/*
 * Refuses to embed a part of a CloudNet when one of its VNodes exists: the
 * undo of a failed embedding would tear the existing one down.
 */
static int
check_absent(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
             const struct rdl_graph *underlay, const struct plan *plan, const char *const *elements,
             size_t nelements, struct cn_err *err)
{
    for (size_t i = 0; i < plan->n; i++) {
        const struct work *w = &plan->w[i];
        enum emb_state state;
        if (w->item.kind != EMB_ITEM_NODE || !selected(w, elements, nelements))
            continue;
        if (emb_status(ctx, cloudnet, mapping, underlay, w->item.element, &state, err) < 0)
            return -1;
        if (state != EMB_STATE_ABSENT && state != EMB_STATE_REMOTE)
            return cn_err_set(err, CN_E_INVALID, "VNode '%s' of CloudNet %s is already embedded",
                              w->item.element, cloudnet);
    }
    return 0;
}

static int
embed_selected(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
               const struct rdl_graph *mapping, const struct rdl_graph *underlay,
               const char *const *elements, size_t nelements, struct cn_err *err)
{
    struct plan plan = {0};
    size_t done = 0;
    int rc = -1;
    char where[600];

    /*
     * A whole CloudNet is embedded only where nothing of it exists. A part
     * is added next to the rest: the caller names elements that are not
     * there, and an undo touches only what this call did.
     */
    if (make_plan(ctx, cloudnet, overlay, mapping, underlay, true, &plan, err) < 0 ||
        (!elements && check_clean(ctx, cloudnet, underlay, err) < 0) ||
        (elements &&
         check_absent(ctx, cloudnet, mapping, underlay, &plan, elements, nelements, err) < 0))
        goto cleanup;
    for (done = 0; done < plan.n; done++) {
        const struct work *w = &plan.w[done];
        void *state;
        if (!selected(w, elements, nelements))
            continue;
        if (!w->plugin->embed) {
            cn_err_set(err, CN_E_INVALID, "plugin %s cannot embed %s", w->plugin->name,
                       item_where(&w->item, where, sizeof(where)));
            goto undo;
        }
        if (emb_plugin_state(ctx, w->plugin->name, &state, err) < 0)
            goto undo;
        if (w->plugin->embed(ctx, state, &w->item, err) < 0) {
            cn_err_prefix(err, "embedding %s (%s)", item_where(&w->item, where, sizeof(where)),
                          w->plugin->name);
            /* The failed item may be half done: its release cleans up what it left. */
            done++;
            goto undo;
        }
    }
    rc = 0;
    goto cleanup;

undo:
    while (done > 0) {
        struct cn_err e = CN_ERR_INIT;
        if (selected(&plan.w[--done], elements, nelements) &&
            call_release(ctx, &plan.w[done], &e) < 0)
            cn_err_add(err, e.code, "while undoing: %s", cn_err_msg(&e));
        cn_err_release(&e);
    }

cleanup:
    plan_release(&plan);
    return rc;
}

int
emb_embed(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
          const struct rdl_graph *mapping, const struct rdl_graph *underlay, struct cn_err *err)
{
    return embed_selected(ctx, cloudnet, overlay, mapping, underlay, NULL, 0, err);
}

int
emb_embed_elements(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
                   const struct rdl_graph *mapping, const struct rdl_graph *underlay,
                   const char *const *elements, size_t nelements, struct cn_err *err)
{
    if (!elements)
        return cn_err_set(err, CN_E_INVALID, "no elements to embed");
    return embed_selected(ctx, cloudnet, overlay, mapping, underlay, elements, nelements, err);
}

static int
release_selected(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
                 const struct rdl_graph *mapping, const struct rdl_graph *underlay,
                 const char *const *elements, size_t nelements, struct cn_err *err)
{
    struct plan plan = {0};
    struct cn_err problems = CN_ERR_INIT;
    int rc = 0;

    if (!cloudnet_ok(cloudnet) || !mapping || !underlay) {
        rc = make_plan(ctx, cloudnet, overlay, mapping, underlay, false, &plan, err);
        goto cleanup;
    }
    if (make_plan(ctx, cloudnet, overlay, mapping, underlay, false, &plan, &problems) < 0)
        rc = -1;
    /* Nodes before the links they hang on, the reverse of emb_embed. */
    for (size_t i = plan.n; i-- > 0;) {
        struct cn_err e = CN_ERR_INIT;
        if (!selected(&plan.w[i], elements, nelements))
            continue;
        if (call_release(ctx, &plan.w[i], &e) < 0) {
            cn_err_add(&problems, e.code, "%s", cn_err_msg(&e));
            rc = -1;
        }
        cn_err_release(&e);
    }
    if (rc < 0)
        cn_err_set(err, problems.code, "%s", cn_err_msg(&problems));

cleanup:
    cn_err_release(&problems);
    plan_release(&plan);
    return rc;
}

int
emb_release(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
            const struct rdl_graph *mapping, const struct rdl_graph *underlay, struct cn_err *err)
{
    return release_selected(ctx, cloudnet, overlay, mapping, underlay, NULL, 0, err);
}

int
emb_release_elements(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *overlay,
                     const struct rdl_graph *mapping, const struct rdl_graph *underlay,
                     const char *const *elements, size_t nelements, struct cn_err *err)
{
    if (!elements)
        return cn_err_set(err, CN_E_INVALID, "no elements to release");
    return release_selected(ctx, cloudnet, overlay, mapping, underlay, elements, nelements, err);
}

bool
emb_can_relink(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
               const struct rdl_graph *underlay, const char *element)
{
    struct work w = {0};
    struct cn_err ignored = CN_ERR_INIT;
    bool can = false;

    if (cloudnet_ok(cloudnet) && mapping && underlay && element &&
        node_item(ctx, cloudnet, NULL, mapping, underlay, element, false, &w, &ignored) == 0)
        can = w.plugin->relink != NULL;
    free(w.item.ifaces);
    cn_err_release(&ignored);
    return can;
}

int
emb_relink_node(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *old_overlay,
                const struct rdl_graph *old_mapping, const struct rdl_graph *new_overlay,
                const struct rdl_graph *new_mapping, const struct rdl_graph *underlay,
                const char *element, struct cn_err *err)
{
    struct work a = {0}, b = {0};
    void *state;
    char where[600];
    int rc = -1;

    if (!cloudnet_ok(cloudnet) || !element)
        return cn_err_set(err, CN_E_INVALID, "a CloudNet id and an element are needed");
    if (!old_overlay || !new_overlay || !old_mapping || !new_mapping || !underlay)
        return cn_err_set(err, CN_E_INVALID,
                          "the old and new overlay and mapping and the underlay are needed");
    if (node_item(ctx, cloudnet, old_overlay, old_mapping, underlay, element, true, &a, err) < 0 ||
        node_item(ctx, cloudnet, new_overlay, new_mapping, underlay, element, true, &b, err) < 0)
        goto cleanup;
    if (a.item.host != b.item.host) {
        cn_err_set(err, CN_E_INVALID,
                   "VNode '%s' moves from '%s' to '%s': it cannot keep its interfaces", element,
                   rdl_element_id(a.item.host), rdl_element_id(b.item.host));
        goto cleanup;
    }
    if (!b.plugin->relink) {
        cn_err_set(err, CN_E_INVALID, "plugin %s cannot change the links of %s in place",
                   b.plugin->name, item_where(&b.item, where, sizeof(where)));
        goto cleanup;
    }
    if (emb_plugin_state(ctx, b.plugin->name, &state, err) < 0)
        goto cleanup;
    if (b.plugin->relink(ctx, state, &a.item, &b.item, err) < 0) {
        cn_err_prefix(err, "changing the links of %s (%s)",
                      item_where(&b.item, where, sizeof(where)), b.plugin->name);
        goto cleanup;
    }
    rc = 0;

cleanup:
    free(a.item.ifaces);
    free(b.item.ifaces);
    return rc;
}

enum node_op { OP_START, OP_STOP, OP_POWERCYCLE };

static int
node_op_one(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
            const struct rdl_graph *underlay, const char *element, enum node_op op,
            struct cn_err *err)
{
    struct work w = {0};
    void *state;
    int rc = -1;
    static const char *const names[] = {"start", "stop", "powercycle"};

    if (node_item(ctx, cloudnet, NULL, mapping, underlay, element, false, &w, err) < 0)
        return -1;
    int (*fn)(struct emb_ctx *, void *, const struct emb_item *, struct cn_err *) =
        op == OP_START  ? w.plugin->start
        : op == OP_STOP ? w.plugin->stop
                        : w.plugin->powercycle;
    if (!fn) {
        cn_err_set(err, CN_E_INVALID, "plugin %s cannot %s '%s'", w.plugin->name, names[op],
                   element);
        goto cleanup;
    }
    if (emb_plugin_state(ctx, w.plugin->name, &state, err) < 0)
        goto cleanup;
    if (fn(ctx, state, &w.item, err) < 0) {
        cn_err_prefix(err, "%s '%s' (%s)", names[op], element, w.plugin->name);
        goto cleanup;
    }
    rc = 0;

cleanup:
    free(w.item.ifaces);
    return rc;
}

static int
node_op(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
        const struct rdl_graph *underlay, const char *element, enum node_op op, struct cn_err *err)
{
    if (!cloudnet_ok(cloudnet))
        return cn_err_set(err, CN_E_INVALID, "'%s' is not a CloudNet id",
                          cloudnet ? cloudnet : "(null)");
    if (element)
        return node_op_one(ctx, cloudnet, mapping, underlay, element, op, err);
    for (size_t i = 0; i < rdl_mapping_count(mapping); i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(mapping, i);
        if (rdl_map_entry_to(m) &&
            node_op_one(ctx, cloudnet, mapping, underlay, rdl_map_entry_id(m), op, err) < 0)
            return -1;
    }
    return 0;
}

int
emb_start(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
          const struct rdl_graph *underlay, const char *element, struct cn_err *err)
{
    return node_op(ctx, cloudnet, mapping, underlay, element, OP_START, err);
}

int
emb_stop(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
         const struct rdl_graph *underlay, const char *element, struct cn_err *err)
{
    return node_op(ctx, cloudnet, mapping, underlay, element, OP_STOP, err);
}

int
emb_powercycle(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
               const struct rdl_graph *underlay, const char *element, struct cn_err *err)
{
    return node_op(ctx, cloudnet, mapping, underlay, element, OP_POWERCYCLE, err);
}

int
emb_console(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
            const struct rdl_graph *underlay, const char *element, char **ret_uri,
            struct cn_err *err)
{
    struct work w = {0};
    void *state;
    int rc = -1;

    if (!cloudnet_ok(cloudnet) || !element)
        return cn_err_set(err, CN_E_INVALID, "a CloudNet id and an element are needed");
    if (node_item(ctx, cloudnet, NULL, mapping, underlay, element, false, &w, err) < 0)
        return -1;
    if (!w.plugin->console) {
        cn_err_set(err, CN_E_INVALID, "plugin %s has no console for '%s'", w.plugin->name, element);
        goto cleanup;
    }
    if (emb_plugin_state(ctx, w.plugin->name, &state, err) < 0)
        goto cleanup;
    rc = w.plugin->console(ctx, state, &w.item, ret_uri, err);

cleanup:
    free(w.item.ifaces);
    return rc;
}

int
emb_status(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
           const struct rdl_graph *underlay, const char *element, enum emb_state *ret_state,
           struct cn_err *err)
{
    struct work w = {0};
    void *state;
    int rc = -1;

    if (!cloudnet_ok(cloudnet) || !element)
        return cn_err_set(err, CN_E_INVALID, "a CloudNet id and an element are needed");
    if (node_item(ctx, cloudnet, NULL, mapping, underlay, element, false, &w, err) < 0)
        return -1;
    if (!w.plugin->status) {
        cn_err_set(err, CN_E_INVALID, "plugin %s has no status for '%s'", w.plugin->name, element);
        goto cleanup;
    }
    if (emb_plugin_state(ctx, w.plugin->name, &state, err) < 0)
        goto cleanup;
    rc = w.plugin->status(ctx, state, &w.item, ret_state, err);

cleanup:
    free(w.item.ifaces);
    return rc;
}

/* Appends to lines everything that exists for the CloudNet (see emb_leftovers). */
static int
collect(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
        const struct rdl_graph *underlay, struct emb_lines *lines, struct cn_err *err)
{
    struct plan plan = {0};
    int rc = -1;

    /*
     * With an underlay, only the plugins it can use are asked (no libvirt
     * connection on a PIP without KVM hosts); each plugin once.
     */
    for (size_t i = 0; i < N_TABLE; i++) {
        bool want = !underlay, seen = false;
        for (size_t j = 0; underlay && j < rdl_graph_element_count(underlay); j++) {
            const char *t = rdl_element_type(rdl_graph_element_at(underlay, j));
            const struct emb_plugin *p = emb_plugin_select(ctx->table, N_TABLE, t);
            if (p && cn_streq(p->name, ctx->table[i].name))
                want = true;
        }
        for (size_t j = 0; j < i; j++)
            seen = seen || cn_streq(ctx->table[j].name, ctx->table[i].name);
        void *state;
        if (!want || seen || !ctx->table[i].leftovers)
            continue;
        if (emb_plugin_state(ctx, ctx->table[i].name, &state, err) < 0 ||
            ctx->table[i].leftovers(ctx, state, cloudnet, NULL, lines, err) < 0)
            goto cleanup;
    }
    if (mapping && underlay) {
        if (make_plan(ctx, cloudnet, NULL, mapping, underlay, false, &plan, err) < 0)
            goto cleanup;
        for (size_t i = 0; i < plan.n; i++) {
            const struct work *w = &plan.w[i];
            void *state;
            if (w->item.kind != EMB_ITEM_HOP || !w->plugin->leftovers)
                continue;
            if (emb_plugin_state(ctx, w->plugin->name, &state, err) < 0 ||
                w->plugin->leftovers(ctx, state, cloudnet, &w->item, lines, err) < 0)
                goto cleanup;
        }
    }
    rc = 0;

cleanup:
    plan_release(&plan);
    return rc;
}

/*
 * Refuses to embed over an existing embedding of the same CloudNet: undoing
 * a failed second attempt would tear down the first. Only things found by
 * owner tag count (disks are named by prefix only, VLAN memberships carry
 * no owner).
 */
static int
check_clean(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *underlay,
            struct cn_err *err)
{
    struct emb_lines lines = {0};
    int rc = -1;

    if (collect(ctx, cloudnet, NULL, underlay, &lines, err) < 0)
        goto cleanup;
    for (size_t i = 0; i < lines.n; i++) {
        if (cn_startswith(lines.v[i], "domain ") || cn_startswith(lines.v[i], "netns ") ||
            cn_startswith(lines.v[i], "veth ") || cn_startswith(lines.v[i], "vxlan ") ||
            cn_startswith(lines.v[i], "transit ")) {
            cn_err_set(err, CN_E_INVALID,
                       "CloudNet %s is already (partly) embedded: %s exists; release it first",
                       cloudnet, lines.v[i]);
            goto cleanup;
        }
    }
    rc = 0;

cleanup:
    emb_lines_free(lines.v);
    return rc;
}

int
emb_leftovers(struct emb_ctx *ctx, const char *cloudnet, const struct rdl_graph *mapping,
              const struct rdl_graph *underlay, char ***ret_lines, size_t *ret_count,
              struct cn_err *err)
{
    struct emb_lines lines = {0};

    if (!cloudnet_ok(cloudnet))
        return cn_err_set(err, CN_E_INVALID, "'%s' is not a CloudNet id",
                          cloudnet ? cloudnet : "(null)");
    if (collect(ctx, cloudnet, mapping, underlay, &lines, err) < 0) {
        emb_lines_free(lines.v);
        return -1;
    }
    if (!lines.v)
        lines.v = xcalloc(1, sizeof(*lines.v));
    *ret_lines = lines.v;
    *ret_count = lines.n;
    return 0;
}
