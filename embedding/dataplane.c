/*
 * The dataplane map: what the RDL underlay does not say about the Linux
 * objects behind it. For each underlay node, the network namespace it lives
 * in (hosts of a real PIP: the initial one; test substrates: one namespace
 * per node), its bridge and how that bridge keeps VLinks apart; for each
 * underlay link, the device it uses at each of its two nodes.
 *
 * The text form, one directive per line, '#' starts a comment:
 *
 *   node NODE [netns NS|-] [bridge BR] [mode vlan|vxlan|trunk]
 *   port LINK NODE DEV [address A.B.C.D] [remote A.B.C.D]
 *
 * NODE "*" describes every node the map does not name.
 *
 * docs/embedding.md describes it with an example.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define EMB_PRIV_H_ALLOW
#include "embedding/emb_priv.h"
#include "util/util.h"

#define MAX_WORDS 10
#define MAX_MAP_BYTES (4u * 1024 * 1024)
#define IFNAME_MAX 15

struct emb_dataplane *
emb_dataplane_new(void)
{
    return xcalloc(1, sizeof(struct emb_dataplane));
}

void
emb_dataplane_free(struct emb_dataplane *dp)
{
    if (!dp)
        return;
    for (size_t i = 0; i < dp->n_nodes; i++) {
        free(dp->nodes[i].node);
        free(dp->nodes[i].netns);
        free(dp->nodes[i].bridge);
    }
    for (size_t i = 0; i < dp->n_ports; i++) {
        free(dp->ports[i].link);
        free(dp->ports[i].node);
        free(dp->ports[i].dev);
        free(dp->ports[i].address);
        free(dp->ports[i].remote);
    }
    free(dp->nodes);
    free(dp->ports);
    free(dp);
}

static struct emb_dp_node *
find_node(const struct emb_dataplane *dp, const char *node)
{
    for (size_t i = 0; dp && i < dp->n_nodes; i++)
        if (cn_streq(dp->nodes[i].node, node))
            return &dp->nodes[i];
    return NULL;
}

static struct emb_dp_port *
find_port(const struct emb_dataplane *dp, const char *link, const char *node)
{
    for (size_t i = 0; dp && i < dp->n_ports; i++)
        if (cn_streq(dp->ports[i].link, link) && cn_streq(dp->ports[i].node, node))
            return &dp->ports[i];
    return NULL;
}

const struct emb_dp_node *
emb_dp_node(const struct emb_dataplane *dp, const char *node)
{
    const struct emb_dp_node *n = find_node(dp, node);
    return n ? n : find_node(dp, "*");
}

bool
emb_dp_uses_vxlan(const struct emb_dataplane *dp)
{
    for (size_t i = 0; dp && i < dp->n_nodes; i++)
        if (dp->nodes[i].mode == EMB_MODE_VXLAN)
            return true;
    return false;
}

const struct emb_dp_port *
emb_dp_port(const struct emb_dataplane *dp, const char *link, const char *node)
{
    return find_port(dp, link, node);
}

static bool
ifname_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > IFNAME_MAX || cn_streq(s, ".") || cn_streq(s, ".."))
        return false;
    return strpbrk(s, "/ \t\n:") == NULL;
}

static bool
netns_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 256 && !strchr(s, '/') && !cn_streq(s, ".") && !cn_streq(s, "..");
}

int
emb_dataplane_set_node(struct emb_dataplane *dp, const char *node, const char *netns,
                       const char *bridge, enum emb_bridge_mode mode, struct cn_err *err)
{
    if (!node || !*node)
        return cn_err_set(err, CN_E_INVALID, "node name missing");
    if (netns && cn_streq(netns, "-"))
        netns = NULL;
    if (netns && !netns_ok(netns))
        return cn_err_set(err, CN_E_INVALID, "'%s' is not a network namespace name", netns);
    if (!bridge)
        bridge = "br0";
    if (!ifname_ok(bridge))
        return cn_err_set(err, CN_E_INVALID, "'%s' is not an interface name", bridge);
    if (mode != EMB_MODE_VLAN && mode != EMB_MODE_VXLAN && mode != EMB_MODE_TRUNK)
        return cn_err_set(err, CN_E_INVALID, "unknown bridge mode %d", (int)mode);

    struct emb_dp_node *n = find_node(dp, node);
    if (!n) {
        CN_GROW(dp->nodes, dp->cap_nodes, dp->n_nodes + 1);
        n = &dp->nodes[dp->n_nodes++];
        memset(n, 0, sizeof(*n));
        n->node = xstrdup(node);
    }
    free(n->netns);
    free(n->bridge);
    n->netns = netns ? xstrdup(netns) : NULL;
    n->bridge = xstrdup(bridge);
    n->mode = mode;
    return 0;
}

int
emb_dataplane_set_port(struct emb_dataplane *dp, const char *link, const char *node,
                       const char *dev, const char *address, struct cn_err *err)
{
    struct in_addr a;

    if (!link || !*link || !node || !*node)
        return cn_err_set(err, CN_E_INVALID, "link or node name missing");
    if (!dev || !ifname_ok(dev))
        return cn_err_set(err, CN_E_INVALID, "'%s' is not an interface name", dev ? dev : "(null)");
    if (address && inet_pton(AF_INET, address, &a) != 1)
        return cn_err_set(err, CN_E_INVALID, "'%s' is not an IPv4 address", address);

    struct emb_dp_port *p = find_port(dp, link, node);
    if (!p) {
        unsigned link_no = 0, max_no = 0;
        for (size_t i = 0; i < dp->n_ports; i++) {
            if (cn_streq(dp->ports[i].link, link))
                link_no = dp->ports[i].link_no;
            if (dp->ports[i].link_no > max_no)
                max_no = dp->ports[i].link_no;
        }
        CN_GROW(dp->ports, dp->cap_ports, dp->n_ports + 1);
        p = &dp->ports[dp->n_ports++];
        memset(p, 0, sizeof(*p));
        p->link = xstrdup(link);
        p->node = xstrdup(node);
        p->link_no = link_no ? link_no : max_no + 1;
    }
    free(p->dev);
    free(p->address);
    p->dev = xstrdup(dev);
    p->address = address ? xstrdup(address) : NULL;
    return 0;
}

int
emb_dataplane_set_port_remote(struct emb_dataplane *dp, const char *link, const char *node,
                              const char *remote, struct cn_err *err)
{
    struct in_addr a;
    struct emb_dp_port *p = find_port(dp, link ? link : "", node ? node : "");

    if (!p)
        return cn_err_set(err, CN_E_NOTFOUND, "no port of '%s' at '%s' to give a remote address",
                          link ? link : "(null)", node ? node : "(null)");
    if (remote && inet_pton(AF_INET, remote, &a) != 1)
        return cn_err_set(err, CN_E_INVALID, "'%s' is not an IPv4 address", remote);
    free(p->remote);
    p->remote = remote ? xstrdup(remote) : NULL;
    return 0;
}

static void CN_PRINTF(4, 5)
    bad(struct cn_err *err, const char *name, unsigned line, const char *fmt, ...)
{
    va_list ap;
    struct cn_buf b = CN_BUF_INIT;

    cn_buf_init(&b);
    cn_buf_printf(&b, "%s:%u: ", name, line);
    va_start(ap, fmt);
    cn_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cn_err_add(err, CN_E_INVALID, "%s", b.s);
    cn_buf_release(&b);
}

static void
parse_node(struct emb_dataplane *dp, char **w, size_t n, const char *name, unsigned line,
           struct cn_err *err)
{
    const char *netns = NULL, *bridge = NULL;
    enum emb_bridge_mode mode = EMB_MODE_VLAN;
    struct cn_err e = CN_ERR_INIT;

    if (n < 2 || n % 2 != 0) {
        bad(err, name, line, "usage: node NODE [netns NS] [bridge BR] [mode vlan|vxlan|trunk]");
        return;
    }
    for (size_t i = 2; i + 1 < n; i += 2) {
        if (cn_streq(w[i], "netns")) {
            netns = w[i + 1];
        } else if (cn_streq(w[i], "bridge")) {
            bridge = w[i + 1];
        } else if (cn_streq(w[i], "mode")) {
            if (cn_streq(w[i + 1], "vlan")) {
                mode = EMB_MODE_VLAN;
            } else if (cn_streq(w[i + 1], "vxlan")) {
                mode = EMB_MODE_VXLAN;
            } else if (cn_streq(w[i + 1], "trunk")) {
                mode = EMB_MODE_TRUNK;
            } else {
                bad(err, name, line, "mode must be vlan, vxlan or trunk, not '%s'", w[i + 1]);
                return;
            }
        } else {
            bad(err, name, line, "unknown node option '%s' (expected netns, bridge or mode)", w[i]);
            return;
        }
    }
    if (find_node(dp, w[1])) {
        bad(err, name, line, "node '%s' given twice", w[1]);
        return;
    }
    if (emb_dataplane_set_node(dp, w[1], netns, bridge, mode, &e) < 0)
        bad(err, name, line, "%s", cn_err_msg(&e));
    cn_err_release(&e);
}

static void
parse_port(struct emb_dataplane *dp, char **w, size_t n, const char *name, unsigned line,
           struct cn_err *err)
{
    const char *address = NULL, *remote = NULL;
    struct cn_err e = CN_ERR_INIT;

    if (n < 4 || n % 2 != 0) {
        bad(err, name, line, "usage: port LINK NODE DEV [address A.B.C.D] [remote A.B.C.D]");
        return;
    }
    for (size_t i = 4; i + 1 < n; i += 2) {
        if (cn_streq(w[i], "address")) {
            address = w[i + 1];
        } else if (cn_streq(w[i], "remote")) {
            remote = w[i + 1];
        } else {
            bad(err, name, line, "unknown port option '%s' (expected address or remote)", w[i]);
            return;
        }
    }
    if (emb_dp_port(dp, w[1], w[2])) {
        bad(err, name, line, "port of '%s' at '%s' given twice", w[1], w[2]);
        return;
    }
    size_t ends = 0;
    for (size_t i = 0; i < dp->n_ports; i++)
        ends += cn_streq(dp->ports[i].link, w[1]);
    if (ends >= 2) {
        bad(err, name, line, "link '%s' already has two ports", w[1]);
        return;
    }
    if (emb_dataplane_set_port(dp, w[1], w[2], w[3], address, &e) < 0 ||
        emb_dataplane_set_port_remote(dp, w[1], w[2], remote, &e) < 0)
        bad(err, name, line, "%s", cn_err_msg(&e));
    cn_err_release(&e);
}

struct emb_dataplane *
emb_dataplane_parse(const char *name, const char *text, struct cn_err *err)
{
    struct emb_dataplane *dp = emb_dataplane_new();
    struct cn_err problems = CN_ERR_INIT;
    char *copy = xstrdup(text);
    char *save = NULL;
    unsigned line = 0;

    /* Counting lines by hand: strtok_r would swallow empty ones. */
    for (char *l = copy, *next; l; l = next) {
        next = strchr(l, '\n');
        if (next)
            *next++ = '\0';
        line++;
        char *hash = strchr(l, '#');
        if (hash)
            *hash = '\0';
        char *w[MAX_WORDS + 1];
        size_t n = 0;
        for (char *t = strtok_r(l, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
            if (n == MAX_WORDS) {
                n++;
                break;
            }
            w[n++] = t;
        }
        if (n == 0)
            continue;
        if (n > MAX_WORDS)
            bad(&problems, name, line, "too many words");
        else if (cn_streq(w[0], "node"))
            parse_node(dp, w, n, name, line, &problems);
        else if (cn_streq(w[0], "port"))
            parse_port(dp, w, n, name, line, &problems);
        else
            bad(&problems, name, line, "unknown directive '%s' (expected node or port)", w[0]);
    }
    free(copy);
    if (cn_err_is_set(&problems)) {
        cn_err_set(err, CN_E_INVALID, "%s", cn_err_msg(&problems));
        cn_err_release(&problems);
        emb_dataplane_free(dp);
        return NULL;
    }
    cn_err_release(&problems);
    return dp;
}

struct emb_dataplane *
emb_dataplane_read_file(const char *path, struct cn_err *err)
{
    struct cn_buf b = CN_BUF_INIT;
    struct emb_dataplane *dp = NULL;

    cn_buf_init(&b);
    if (cn_buf_read_file(&b, path, MAX_MAP_BYTES) < 0) {
        cn_err_set(err, CN_E_IO, "%s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (strlen(b.s) != b.len) {
        cn_err_set(err, CN_E_INVALID, "%s: contains a NUL byte", path);
        goto cleanup;
    }
    dp = emb_dataplane_parse(path, b.s, err);

cleanup:
    cn_buf_release(&b);
    return dp;
}
