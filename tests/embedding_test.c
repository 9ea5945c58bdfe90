/*
 * Tests of the embedding component that need no network namespaces:
 * plugin selection, the dataplane map, names, the checks done before
 * anything is touched, and the libvirt plugin against libvirt's test
 * driver (test:///default), with VNode disks copied from a template
 * directory and, in one case, taken from a real clipd started here.
 *
 * The data plane (netns VNodes, VLANs on bridge ports) is tested by
 * tests/vlan_netns_test.sh, transit links between two PIPs by
 * tests/transit_netns_test.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#define EMB_PRIV_H_ALLOW
#include "clipd/clip.h"
#include "embedding/emb_priv.h"
#include "embedding/embedding.h"
#include "rdl/rdl.h"
#include "tests/daemon-helper.h"
#include "tests/testlib.h"
#include "util/util.h"

#define TEMPLATE_TEXT "debian-12 template image\n"

static char tmpdir[64];
static char image_dir[128];
static char template_dir[128];
static char clipd_path[1024];

/* ---- helpers ---- */

static bool
file_has(const char *path, const char *text)
{
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    bool ok = cn_buf_read_file(&b, path, 1 << 20) == 0 && cn_streq(b.s, text);
    cn_buf_release(&b);
    return ok;
}

static bool
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A graph's elements (id, type) and interfaces (two element ids), for graph_of. */
struct pair {
    const char *a, *b;
};

/* A graph of kind from tables; exits when the tables do not make one. */
static struct rdl_graph *
graph_of(enum rdl_kind kind, const char *name, const struct pair *elements, size_t nelements,
         const struct pair *interfaces, size_t ninterfaces)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = rdl_graph_new(kind, name);
    for (size_t i = 0; i < nelements; i++)
        rdl_graph_add_element(g, elements[i].a, elements[i].b, &err);
    for (size_t i = 0; i < ninterfaces; i++)
        rdl_graph_add_interface(g, interfaces[i].a, interfaces[i].b, &err);
    if (cn_err_is_set(&err)) {
        fprintf(stderr, "%s: %s\n", name, cn_err_msg(&err));
        exit(1);
    }
    return g;
}

/*
 * A substrate of two KVM hosts joined by a switch:
 *   h1 --h1-sw-- sw --sw-h2-- h2
 */
static struct rdl_graph *
make_underlay(void)
{
    static const struct pair elements[] = {
        {"h1", "/node/host/server/kvm"},  {"h2", "/node/host/server/kvm"},  {"sw", "/node/switch"},
        {"h1-sw", "/link/ethernet/vlan"}, {"sw-h2", "/link/ethernet/vlan"},
    };
    static const struct pair interfaces[] = {
        {"h1", "h1-sw"}, {"h1-sw", "sw"}, {"sw", "sw-h2"}, {"sw-h2", "h2"}};
    return graph_of(RDL_UNDERLAY, "pip-test", elements, CN_ARRAY_SIZE(elements), interfaces,
                    CN_ARRAY_SIZE(interfaces));
}

/* web -- web-db -- db */
static struct rdl_graph *
make_overlay(void)
{
    static const struct pair elements[] = {
        {"web", "/node/host/generic"}, {"db", "/node/host/generic"}, {"web-db", "/link/generic"}};
    static const struct pair interfaces[] = {{"web", "web-db"}, {"web-db", "db"}};
    struct rdl_graph *g = graph_of(RDL_OVERLAY, "shop", elements, CN_ARRAY_SIZE(elements),
                                   interfaces, CN_ARRAY_SIZE(interfaces));
    rdl_graph_set_level(g, 1);
    return g;
}

/*
 * Both VNodes on h1 (so the VLink has no underlay link to configure);
 * db_image names db's image, vlan the link's tag (-1: none).
 */
static struct rdl_graph *
make_mapping(const char *db_image, int vlan)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = rdl_graph_new(RDL_MAPPING, "shop");
    rdl_mapping_set_graphs(g, "shop", "pip-test");
    struct rdl_map_entry *m = rdl_mapping_add(g, "web", &err);
    rdl_map_entry_set_to(m, "h1");
    rdl_props_set_number(rdl_map_entry_resources_mut(m), "cpu", 1.5);
    rdl_props_set_number(rdl_map_entry_resources_mut(m), "memory", 2048);
    rdl_props_set_string(rdl_map_entry_features_mut(m), "image", "debian-12");
    rdl_props_set_string(rdl_map_entry_features_mut(m), "arch", "x86_64");
    m = rdl_mapping_add(g, "db", &err);
    rdl_map_entry_set_to(m, "h1");
    rdl_props_set_number(rdl_map_entry_resources_mut(m), "cpu", 2);
    rdl_props_set_number(rdl_map_entry_resources_mut(m), "memory", 4096);
    rdl_props_set_string(rdl_map_entry_features_mut(m), "image", db_image);
    m = rdl_mapping_add(g, "web-db", &err);
    rdl_map_entry_path_append(m, "h1");
    rdl_props_set_number(rdl_map_entry_resources_mut(m), "bandwidth", 100);
    if (vlan > 0)
        rdl_map_entry_set_vlan(m, vlan);
    if (cn_err_is_set(&err)) {
        fprintf(stderr, "mapping: %s\n", cn_err_msg(&err));
        exit(1);
    }
    return g;
}

/* Both hops of the shop's VLink from h1 to h2 through the switch. */
static const char *const via_switch[] = {"h1", "h1-sw", "sw", "sw-h2", "h2", NULL};

/*
 * The shop with web on h1 and db on h2, web-db along path (NULL-ended)
 * with tag vlan (-1: none); both VNodes get image when it is not NULL.
 */
static struct rdl_graph *
split_mapping(const char *const *path, int vlan, const char *image)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = rdl_graph_new(RDL_MAPPING, "shop");
    rdl_mapping_set_graphs(g, "shop", "pip-test");
    struct rdl_map_entry *web = rdl_mapping_add(g, "web", &err);
    struct rdl_map_entry *db = rdl_mapping_add(g, "db", &err);
    struct rdl_map_entry *link = rdl_mapping_add(g, "web-db", &err);
    if (cn_err_is_set(&err)) {
        fprintf(stderr, "mapping: %s\n", cn_err_msg(&err));
        exit(1);
    }
    rdl_map_entry_set_to(web, "h1");
    rdl_map_entry_set_to(db, "h2");
    if (image) {
        rdl_props_set_string(rdl_map_entry_features_mut(web), "image", image);
        rdl_props_set_string(rdl_map_entry_features_mut(db), "image", image);
    }
    for (size_t i = 0; path[i]; i++)
        rdl_map_entry_path_append(link, path[i]);
    if (vlan > 0)
        rdl_map_entry_set_vlan(link, vlan);
    return g;
}

static struct emb_ctx *
make_ctx(const char *clipd_socket)
{
    struct cn_err err = CN_ERR_INIT;
    struct emb_config cfg = {
        .libvirt_uri = "test:///default",
        .image_dir = image_dir,
        .template_dir = template_dir,
        .clipd_socket = clipd_socket,
    };
    struct emb_ctx *ctx = emb_ctx_new(&cfg, &err);
    if (!ctx) {
        fprintf(stderr, "emb_ctx_new: %s\n", cn_err_msg(&err));
        exit(1);
    }
    return ctx;
}

static char *
xpath_string(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, xc);
    char *s = NULL;
    if (o) {
        xmlChar *v = xmlXPathCastToString(o);
        s = xstrdup((const char *)v);
        xmlFree(v);
        xmlXPathFreeObject(o);
    }
    xmlXPathFreeContext(xc);
    return s;
}

/* Evaluates an XPath expression on the domain's XML and compares its string value. */
static int
check_xpath(xmlDocPtr doc, const char *expr, const char *want)
{
    char *got = xpath_string(doc, expr);
    int ok = cn_streq(got, want);
    if (!ok)
        fprintf(stderr, "  %s: got '%s', expected '%s'\n", expr, got ? got : "(null)", want);
    free(got);
    return ok;
}

/* How many things exist for the CloudNet; lists them when that is not `expected`. */
static size_t
count_leftovers(struct emb_ctx *ctx, const char *id, size_t expected)
{
    struct cn_err err = CN_ERR_INIT;
    char **lines = NULL;
    size_t n = 0;
    if (emb_leftovers(ctx, id, NULL, NULL, &lines, &n, &err) < 0) {
        fprintf(stderr, "  leftovers: %s\n", cn_err_msg(&err));
        n = 999;
    }
    for (size_t i = 0; n != expected && lines && lines[i]; i++)
        fprintf(stderr, "  leftover: %s\n", lines[i]);
    emb_lines_free(lines);
    cn_err_release(&err);
    return n;
}

static enum emb_state
state_of(struct emb_ctx *ctx, const char *id, const struct rdl_graph *ml,
         const struct rdl_graph *ul, const char *el)
{
    struct cn_err err = CN_ERR_INIT;
    enum emb_state s = EMB_STATE_OTHER;
    if (emb_status(ctx, id, ml, ul, el, &s, &err) < 0)
        fprintf(stderr, "  status %s: %s\n", el, cn_err_msg(&err));
    cn_err_release(&err);
    return s;
}

/* ---- plugin selection and names ---- */

static int
test_select_builtin(const void *data)
{
    (void)data;
    CHECK_STR(emb_plugin_for_type("/node/host/server/kvm"), "libvirt");
    CHECK_STR(emb_plugin_for_type("/node/host/server/kvm/large"), "libvirt");
    CHECK(emb_plugin_for_type("/node/host/server/kvmx") == NULL);
    CHECK_STR(emb_plugin_for_type("/node/host/server/netns"), "netns");
    CHECK_STR(emb_plugin_for_type("/node/host/netns"), "netns");
    CHECK_STR(emb_plugin_for_type("/link/ethernet/vlan"), "vlan");
    CHECK_STR(emb_plugin_for_type("/link/ethernet/vlan/10g"), "vlan");
    CHECK_STR(emb_plugin_for_type("/link/ethernet"), "vlan");
    CHECK_STR(emb_plugin_for_type("/link/transit"), "transit");
    CHECK_STR(emb_plugin_for_type("/node/host/pip"), "border");
    CHECK(emb_plugin_for_type("/node/switch") == NULL);
    CHECK(emb_plugin_for_type("/link/wifi") == NULL);
    return 0;
}

static int
test_select_longest(const void *data)
{
    (void)data;
    const struct emb_plugin table[] = {
        {.name = "a", .type_prefix = "/node"},
        {.name = "abc", .type_prefix = "/node/host/server"},
        {.name = "ab", .type_prefix = "/node/host"},
        {.name = "x", .type_prefix = "/node/host/server/kvm/"},
    };
    const size_t n = CN_ARRAY_SIZE(table);
    CHECK_STR(emb_plugin_select(table, n, "/node/host/server/xen")->name, "abc");
    CHECK_STR(emb_plugin_select(table, n, "/node/host/server")->name, "abc");
    CHECK_STR(emb_plugin_select(table, n, "/node/host/serverx")->name, "ab");
    CHECK_STR(emb_plugin_select(table, n, "/node/host/server/kvm/big")->name, "x");
    CHECK_STR(emb_plugin_select(table, n, "/node/switch")->name, "a");
    CHECK(emb_plugin_select(table, n, "/link/generic") == NULL);
    CHECK(emb_plugin_select(table, n, "/nodes") == NULL);
    CHECK(emb_type_has_prefix("/a/b", "/a"));
    CHECK(!emb_type_has_prefix("/ab", "/a"));
    return 0;
}

static int
test_names(const void *data)
{
    (void)data;
    char a[16], b[16], c[16];
    emb_ifname("shop", "web", "web-db", a, sizeof(a));
    emb_ifname("shop", "web", "web-db", b, sizeof(b));
    emb_ifname("shop", "db", "web-db", c, sizeof(c));
    CHECK(strlen(a) <= 15);
    CHECK(cn_startswith(a, "cn"));
    CHECK_STR(a, b);
    CHECK(!cn_streq(a, c));
    char *n = emb_vnode_name("shop", "web");
    CHECK_STR(n, "cn-shop-web");
    free(n);
    CHECK_STR(emb_state_name(EMB_STATE_RUNNING), "running");
    CHECK_STR(emb_state_name(EMB_STATE_REMOTE), "remote");
    return 0;
}

/* ---- the dataplane map ---- */

static int
test_dataplane_parse(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    const char *text = "# substrate of the test\n"
                       "node h1 netns t-h1 bridge br0\n"
                       "node sw netns t-sw mode vxlan\n"
                       "node h2   # the initial namespace, br0\n"
                       "\n"
                       "port h1-sw h1 p1 address 10.9.0.1\n"
                       "port h1-sw sw p2 address 10.9.0.2\n"
                       "port sw-h2 sw p3\n"
                       "port t1 sw p4 remote 10.9.9.2 address 10.9.9.1\n";
    struct emb_dataplane *dp = emb_dataplane_parse("dp.conf", text, &err);
    CHECK(dp);
    const struct emb_dp_node *n = emb_dp_node(dp, "h1");
    CHECK(n && cn_streq(n->netns, "t-h1") && cn_streq(n->bridge, "br0") &&
          n->mode == EMB_MODE_VLAN);
    n = emb_dp_node(dp, "sw");
    CHECK(n && n->mode == EMB_MODE_VXLAN);
    n = emb_dp_node(dp, "h2");
    CHECK(n && n->netns == NULL && cn_streq(n->bridge, "br0"));
    const struct emb_dp_port *p = emb_dp_port(dp, "h1-sw", "sw");
    CHECK(p && cn_streq(p->dev, "p2") && cn_streq(p->address, "10.9.0.2"));
    CHECK(p->link_no == emb_dp_port(dp, "h1-sw", "h1")->link_no);
    CHECK(emb_dp_port(dp, "sw-h2", "sw")->link_no != p->link_no);
    CHECK(emb_dp_port(dp, "sw-h2", "h2") == NULL);
    CHECK(emb_dp_port(dp, "sw-h2", "sw")->remote == NULL);
    p = emb_dp_port(dp, "t1", "sw");
    CHECK(p && cn_streq(p->address, "10.9.9.1") && cn_streq(p->remote, "10.9.9.2"));
    CHECK(emb_dataplane_set_port_remote(dp, "t1", "sw", NULL, &err) == 0);
    CHECK(p->remote == NULL);
    CHECK(emb_dataplane_set_port_remote(dp, "t1", "h1", "10.1.1.1", &err) == -1);
    CHECK(err.code == CN_E_NOTFOUND);
    cn_err_clear(&err);
    emb_dataplane_free(dp);

    const char *bad = "node h1 netns a/b\n"
                      "node h2 mode tunnel\n"
                      "port l h1 averyveryverylongname\n"
                      "port l h1 p1 address 300.1.1.1\n"
                      "bridge x\n"
                      "port t1 h1 p1 remote 10.1.1\n"
                      "port t2 h1 p1 colour red\n";
    CHECK(emb_dataplane_parse("bad.conf", bad, &err) == NULL);
    const char *msg = cn_err_msg(&err);
    CHECK(strstr(msg, "bad.conf:1: "));
    CHECK(strstr(msg, "bad.conf:2: mode must be vlan, vxlan or trunk"));
    CHECK(strstr(msg, "bad.conf:3: "));
    CHECK(strstr(msg, "bad.conf:4: '300.1.1.1' is not an IPv4 address"));
    CHECK(strstr(msg, "bad.conf:5: unknown directive 'bridge'"));
    CHECK(strstr(msg, "bad.conf:6: '10.1.1' is not an IPv4 address"));
    CHECK(strstr(msg, "bad.conf:7: unknown port option 'colour'"));
    cn_err_release(&err);
    return 0;
}

/*
 * Trunk nodes: the map's "*" line makes every node a trunk, so a VLink
 * across two hosts and a switch embeds with no port configured at all;
 * a node named on a line of its own keeps its own mode.
 */
static int
test_trunk(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    const char *text = "node * mode trunk\n"
                       "node h2 mode vxlan\n";
    struct emb_dataplane *dp = emb_dataplane_parse("trunk.conf", text, &err);
    CHECK(dp);
    const struct emb_dp_node *n = emb_dp_node(dp, "sw");
    CHECK(n && n->mode == EMB_MODE_TRUNK);
    CHECK(emb_dp_node(dp, "h2")->mode == EMB_MODE_VXLAN);
    emb_dataplane_free(dp);

    char *file = xasprintf("%s/trunk.conf", image_dir);
    FILE *f = fopen(file, "w");
    CHECK(f && fputs("node * mode trunk\n", f) >= 0 && fclose(f) == 0);
    struct emb_config cfg = {
        .libvirt_uri = "test:///default",
        .image_dir = image_dir,
        .template_dir = template_dir,
        .dataplane_file = file,
    };
    struct emb_ctx *ctx = emb_ctx_new(&cfg, &err);
    CHECK(ctx);
    struct rdl_graph *ul = make_underlay(), *ol = make_overlay();
    struct rdl_graph *ml = split_mapping(via_switch, 1042, "debian-12");
    int rc = emb_embed(ctx, "trunked", ol, ml, ul, &err);
    if (rc < 0)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    CHECK(rc == 0);
    CHECK(state_of(ctx, "trunked", ml, ul, "web") == EMB_STATE_DEFINED);
    CHECK(emb_release(ctx, "trunked", ol, ml, ul, &err) == 0);
    CHECK(count_leftovers(ctx, "trunked", 0) == 0);
    emb_ctx_free(ctx);
    unlink(file);
    free(file);
    rdl_graph_free(ml);
    rdl_graph_free(ol);
    rdl_graph_free(ul);
    cn_err_release(&err);
    return 0;
}

/* ---- checks before anything is touched ---- */

/* h1 and h2 joined by a link type no plugin serves. */
static struct rdl_graph *
make_wifi_underlay(void)
{
    static const struct pair elements[] = {
        {"h1", "/node/host/server/kvm"}, {"h2", "/node/host/server/kvm"}, {"air", "/link/wifi"}};
    static const struct pair interfaces[] = {{"h1", "air"}, {"air", "h2"}};
    return graph_of(RDL_UNDERLAY, "pip-test", elements, CN_ARRAY_SIZE(elements), interfaces,
                    CN_ARRAY_SIZE(interfaces));
}

/* Mappings of the shop that embedding refuses before it does anything. */
static const char *const not_joined[] = {"h1", "sw-h2", "h2", NULL};
static const char *const over_air[] = {"h1", "air", "h2", NULL};

static const struct refusal {
    const char *what;
    const char *const *path;
    int vlan;
    bool wifi; /* on make_wifi_underlay's substrate */
    int code;  /* 0: any */
    const char *text;
} refusals[] = {
    {"a multi-hop path without a tag", via_switch, -1, false, CN_E_VLAN,
     "'web-db' has no VLAN tag"},
    {"a path that does not follow the underlay", not_joined, 100, false, 0, "does not join"},
    {"an underlay link type no plugin serves", over_air, 7, true, 0,
     "no embedding plugin for 'air' (type /link/wifi)"},
};

static int
test_refusals(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct emb_ctx *ctx = make_ctx(NULL);
    struct rdl_graph *ul = make_underlay(), *ol = make_overlay(), *wifi = make_wifi_underlay();
    int bad = 0;

    for (size_t i = 0; i < CN_ARRAY_SIZE(refusals); i++) {
        const struct refusal *r = &refusals[i];
        struct rdl_graph *ml = split_mapping(r->path, r->vlan, NULL);
        int rc = emb_embed(ctx, "shop", ol, ml, r->wifi ? wifi : ul, &err);
        if (rc != -1 || (r->code && err.code != r->code) || !strstr(cn_err_msg(&err), r->text)) {
            fprintf(stderr, "  %s: rc %d, code %d: %s\n", r->what, rc, err.code, cn_err_msg(&err));
            bad++;
        }
        cn_err_clear(&err);
        rdl_graph_free(ml);
    }
    CHECK(bad == 0);

    /* A bad CloudNet id. */
    struct rdl_graph *ml = make_mapping("debian-12", -1);
    CHECK(emb_embed(ctx, "-x", ol, ml, ul, &err) == -1);
    CHECK(err.code == CN_E_INVALID);
    cn_err_clear(&err);

    /* Nothing was created by any of them. */
    CHECK(count_leftovers(ctx, "shop", 0) == 0);

    rdl_graph_free(ml);
    rdl_graph_free(wifi);
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    emb_ctx_free(ctx);
    cn_err_release(&err);
    return 0;
}

/* ---- the libvirt plugin ---- */

/*
 * Embeds the 2-node CloudNet and checks the domains, their disks and the
 * life cycle; used with plain copies and with clipd.
 */
static int
embed_and_check(struct emb_ctx *ctx, const char *id)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *ul = make_underlay(), *ol = make_overlay();
    struct rdl_graph *ml = make_mapping("debian-12", 1042);
    char path[300], ifname[16];

    if (emb_embed(ctx, id, ol, ml, ul, &err) < 0) {
        fprintf(stderr, "  embed: %s\n", cn_err_msg(&err));
        return -1;
    }

    /* The domains, read back from libvirt. */
    char *name = emb_vnode_name(id, "web");
    char *xml = emb_libvirt_xml_desc(ctx, name, &err);
    CHECK(xml);
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "web.xml", NULL, XML_PARSE_NONET);
    CHECK(doc);
    CHECK(check_xpath(doc, "string(/domain/name)", name));
    CHECK(check_xpath(doc, "string(/domain/vcpu)", "2")); /* 1.5 cores, rounded up */
    CHECK(check_xpath(doc, "string(/domain/memory/@unit)", "KiB"));
    CHECK(check_xpath(doc, "string(/domain/memory)", "2097152"));
    snprintf(path, sizeof(path), "%s/cn-%s-web.img", image_dir, id);
    CHECK(check_xpath(doc, "string(/domain/devices/disk/source/@file)", path));
    CHECK(check_xpath(doc, "string(/domain/devices/disk/driver/@type)", "raw"));
    CHECK(check_xpath(doc, "count(/domain/devices/interface)", "1"));
    CHECK(check_xpath(doc, "string(/domain/devices/interface/@type)", "bridge"));
    CHECK(check_xpath(doc, "string(/domain/devices/interface/source/@bridge)", "br0"));
    CHECK(check_xpath(doc, "string(/domain/devices/interface/vlan/tag/@id)", "1042"));
    emb_ifname(id, "web", "web-db", ifname, sizeof(ifname));
    CHECK(check_xpath(doc, "string(/domain/devices/interface/target/@dev)", ifname));
    CHECK(check_xpath(doc, "string(/domain/os/type/@arch)", "x86_64"));
    CHECK(check_xpath(doc, "string(/domain/metadata/*[local-name()='owner']/@cloudnet)", id));
    xmlFreeDoc(doc);
    free(xml);
    CHECK(file_has(path, TEMPLATE_TEXT));
    free(name);

    name = emb_vnode_name(id, "db");
    xml = emb_libvirt_xml_desc(ctx, name, &err);
    CHECK(xml);
    doc = xmlReadMemory(xml, (int)strlen(xml), "db.xml", NULL, XML_PARSE_NONET);
    CHECK(doc);
    CHECK(check_xpath(doc, "string(/domain/vcpu)", "2"));
    CHECK(check_xpath(doc, "string(/domain/memory)", "4194304"));
    CHECK(check_xpath(doc, "string(/domain/devices/interface/vlan/tag/@id)", "1042"));
    /* The MAC address is the interface's own, the same whenever the VNode is defined. */
    char mac[18];
    emb_mac(id, "db", "web-db", mac, sizeof(mac));
    CHECK(strncmp(mac, "02:", 3) == 0 && strlen(mac) == 17);
    CHECK(check_xpath(doc, "string(/domain/devices/interface/mac/@address)", mac));
    xmlFreeDoc(doc);
    free(xml);
    free(name);

    /* Life cycle. */
    CHECK(state_of(ctx, id, ml, ul, "web") == EMB_STATE_DEFINED);
    CHECK(emb_start(ctx, id, ml, ul, "web", &err) == 0);
    CHECK(state_of(ctx, id, ml, ul, "web") == EMB_STATE_RUNNING);
    CHECK(state_of(ctx, id, ml, ul, "db") == EMB_STATE_DEFINED);
    CHECK(emb_start(ctx, id, ml, ul, NULL, &err) == 0);
    CHECK(state_of(ctx, id, ml, ul, "db") == EMB_STATE_RUNNING);
    CHECK(emb_powercycle(ctx, id, ml, ul, "web", &err) == 0);
    CHECK(state_of(ctx, id, ml, ul, "web") == EMB_STATE_RUNNING);
    CHECK(emb_stop(ctx, id, ml, ul, "web", &err) == 0);
    CHECK(state_of(ctx, id, ml, ul, "web") == EMB_STATE_DEFINED);
    CHECK(emb_stop(ctx, id, ml, ul, "web", &err) == 0); /* stopping twice is fine */
    char *uri = NULL;
    CHECK(emb_console(ctx, id, ml, ul, "db", &uri, &err) == 0);
    char *want = xasprintf("test:///default#cn-%s-db", id);
    CHECK_STR(uri, want);
    free(want);
    free(uri);
    CHECK(count_leftovers(ctx, id, 4) == 4); /* two domains, two disks */

    /* Release (db still running), then release again. */
    CHECK(emb_release(ctx, id, ol, ml, ul, &err) == 0);
    CHECK(state_of(ctx, id, ml, ul, "web") == EMB_STATE_ABSENT);
    CHECK(state_of(ctx, id, ml, ul, "db") == EMB_STATE_ABSENT);
    CHECK(!exists(path));
    CHECK(count_leftovers(ctx, id, 0) == 0);
    CHECK(emb_release(ctx, id, ol, ml, ul, &err) == 0);
    CHECK(emb_release(ctx, id, NULL, ml, ul, &err) == 0);
    CHECK(emb_start(ctx, id, ml, ul, "web", &err) == -1);
    CHECK(err.code == CN_E_NOTFOUND);
    cn_err_clear(&err);

    rdl_graph_free(ml);
    rdl_graph_free(ol);
    rdl_graph_free(ul);
    cn_err_release(&err);
    return 0;
}

static int
test_libvirt_embed(const void *data)
{
    (void)data;
    struct emb_ctx *ctx = make_ctx(NULL);
    int rc = embed_and_check(ctx, "shop");
    emb_ctx_free(ctx);
    return rc;
}

/*
 * Part of a CloudNet: db is released and embedded again while web keeps
 * running, and embedding web a second time is refused without touching
 * the running one.
 */
static int
test_elements(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct emb_ctx *ctx = make_ctx(NULL);
    struct rdl_graph *ul = make_underlay(), *ol = make_overlay();
    struct rdl_graph *ml = make_mapping("debian-12", 1042);
    const char *const db[] = {"db"}, *const web[] = {"web"};
    int ret = -1;

    if (emb_embed(ctx, "part", ol, ml, ul, &err) < 0 ||
        emb_start(ctx, "part", ml, ul, NULL, &err) < 0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    CHECK(emb_release_elements(ctx, "part", ol, ml, ul, db, 1, &err) == 0);
    CHECK(state_of(ctx, "part", ml, ul, "db") == EMB_STATE_ABSENT);
    CHECK(state_of(ctx, "part", ml, ul, "web") == EMB_STATE_RUNNING);
    CHECK(emb_embed_elements(ctx, "part", ol, ml, ul, db, 1, &err) == 0);
    CHECK(state_of(ctx, "part", ml, ul, "db") == EMB_STATE_DEFINED);
    CHECK(state_of(ctx, "part", ml, ul, "web") == EMB_STATE_RUNNING);
    CHECK(emb_embed_elements(ctx, "part", ol, ml, ul, web, 1, &err) == -1);
    CHECK(strstr(cn_err_msg(&err), "already embedded"));
    cn_err_clear(&err);
    CHECK(state_of(ctx, "part", ml, ul, "web") == EMB_STATE_RUNNING);
    CHECK(emb_embed_elements(ctx, "part", ol, ml, ul, NULL, 0, &err) == -1);
    cn_err_clear(&err);
    CHECK(emb_release(ctx, "part", ol, ml, ul, &err) == 0);
    CHECK(count_leftovers(ctx, "part", 0) == 0);
    ret = 0;
cleanup:
    emb_ctx_free(ctx);
    rdl_graph_free(ml);
    rdl_graph_free(ol);
    rdl_graph_free(ul);
    cn_err_release(&err);
    return ret;
}

/* How many interfaces the domain of VNode el of CloudNet id has (-1: no domain). */
static int
domain_ifaces(struct emb_ctx *ctx, const char *id, const char *el)
{
    struct cn_err err = CN_ERR_INIT;
    char *name = emb_vnode_name(id, el);
    char *xml = emb_libvirt_xml_desc(ctx, name, &err);
    int n = -1;
    if (xml) {
        n = 0;
        for (const char *p = xml; (p = strstr(p, "<interface ")) != NULL; p++)
            n++;
    }
    free(xml);
    free(name);
    cn_err_release(&err);
    return n;
}

/*
 * Changing a VNode's links in place: libvirt VNodes cannot (the test
 * driver has no device hot-plug, and the plugin does not pretend), so
 * emb_can_relink says no and emb_relink_node refuses without touching the
 * running domain. Bad arguments are refused the same way.
 */
static int
test_libvirt_relink(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct emb_ctx *ctx = make_ctx(NULL);
    struct rdl_graph *ul = make_underlay(), *ol = make_overlay();
    struct rdl_graph *ml = make_mapping("debian-12", 1042);
    struct rdl_graph *ol2 = make_overlay(), *ml2 = make_mapping("debian-12", 1042);
    int ret = -1;

    /* The new version: web and db gain a second link. */
    rdl_graph_add_element(ol2, "web-db2", "/link/generic", &err);
    rdl_graph_add_interface(ol2, "web", "web-db2", &err);
    rdl_graph_add_interface(ol2, "web-db2", "db", &err);
    struct rdl_map_entry *m = rdl_mapping_add(ml2, "web-db2", &err);
    if (m) {
        rdl_map_entry_path_append(m, "h1");
        rdl_map_entry_set_vlan(m, 1043);
    }
    if (cn_err_is_set(&err) || emb_embed(ctx, "relink", ol, ml, ul, &err) < 0 ||
        emb_start(ctx, "relink", ml, ul, "web", &err) < 0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    CHECK(domain_ifaces(ctx, "relink", "web") == 1);
    CHECK(!emb_can_relink(ctx, "relink", ml, ul, "web"));
    CHECK(!emb_can_relink(ctx, "relink", ml2, ul, "db"));
    CHECK(!emb_can_relink(ctx, "relink", ml, ul, "web-db")); /* a link, not a VNode */
    CHECK(!emb_can_relink(ctx, "relink", ml, ul, "nosuch"));
    CHECK(!emb_can_relink(ctx, "bad/id", ml, ul, "web"));
    CHECK(!emb_can_relink(ctx, "relink", NULL, ul, "web"));

    CHECK(emb_relink_node(ctx, "relink", ol, ml, ol2, ml2, ul, "web", &err) == -1);
    CHECK(err.code == CN_E_INVALID);
    CHECK(strstr(cn_err_msg(&err), "plugin libvirt cannot change the links of 'web' on 'h1' "
                                   "in place"));
    cn_err_clear(&err);
    CHECK(state_of(ctx, "relink", ml, ul, "web") == EMB_STATE_RUNNING);
    CHECK(state_of(ctx, "relink", ml, ul, "db") == EMB_STATE_DEFINED);
    CHECK(domain_ifaces(ctx, "relink", "web") == 1);
    CHECK(domain_ifaces(ctx, "relink", "db") == 1);
    CHECK(count_leftovers(ctx, "relink", 4) == 4);

    CHECK(emb_relink_node(ctx, "bad/id", ol, ml, ol2, ml2, ul, "web", &err) == -1);
    CHECK(err.code == CN_E_INVALID);
    cn_err_clear(&err);
    CHECK(emb_relink_node(ctx, "relink", ol, ml, NULL, ml2, ul, "web", &err) == -1);
    CHECK(err.code == CN_E_INVALID);
    cn_err_clear(&err);
    CHECK(emb_relink_node(ctx, "relink", ol, ml, ol2, ml2, ul, "nosuch", &err) == -1);
    CHECK(err.code == CN_E_NOTFOUND);
    cn_err_clear(&err);
    CHECK(domain_ifaces(ctx, "relink", "web") == 1);
    CHECK(state_of(ctx, "relink", ml, ul, "web") == EMB_STATE_RUNNING);

    CHECK(emb_release(ctx, "relink", ol, ml, ul, &err) == 0);
    CHECK(count_leftovers(ctx, "relink", 0) == 0);
    ret = 0;
cleanup:
    emb_ctx_free(ctx);
    rdl_graph_free(ml2);
    rdl_graph_free(ol2);
    rdl_graph_free(ml);
    rdl_graph_free(ol);
    rdl_graph_free(ul);
    cn_err_release(&err);
    return ret;
}

static int
test_libvirt_undo(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct emb_ctx *ctx = make_ctx(NULL);
    struct rdl_graph *ul = make_underlay(), *ol = make_overlay();
    struct rdl_graph *ml = make_mapping("debian-13", 1042);

    /* web embeds, db fails for want of its image: web must be undone. */
    CHECK(emb_embed(ctx, "half", ol, ml, ul, &err) == -1);
    CHECK(err.code == CN_E_NOTFOUND);
    CHECK(strstr(cn_err_msg(&err), "embedding 'db' on 'h1' (libvirt): image 'debian-13' not "
                                   "available on this PIP"));
    CHECK(!strstr(cn_err_msg(&err), "while undoing"));
    cn_err_clear(&err);
    CHECK(state_of(ctx, "half", ml, ul, "web") == EMB_STATE_ABSENT);
    CHECK(state_of(ctx, "half", ml, ul, "db") == EMB_STATE_ABSENT);
    CHECK(count_leftovers(ctx, "half", 0) == 0);
    CHECK(emb_release(ctx, "half", ol, ml, ul, &err) == 0);

    /*
     * A release with the graphs of a failed embedding finds nothing, and
     * one of a CloudNet whose name shares a prefix leaves the other alone.
     */
    struct rdl_graph *ml2 = make_mapping("debian-12", 1042);
    CHECK(emb_embed(ctx, "a", ol, ml2, ul, &err) == 0);
    CHECK(count_leftovers(ctx, "a", 4) == 4);
    /* Embedding again is refused and leaves the first embedding alone. */
    CHECK(emb_embed(ctx, "a", ol, ml2, ul, &err) == -1);
    CHECK(strstr(cn_err_msg(&err), "already (partly) embedded"));
    cn_err_clear(&err);
    CHECK(count_leftovers(ctx, "a", 4) == 4);
    CHECK(state_of(ctx, "a", ml2, ul, "db") == EMB_STATE_DEFINED);
    CHECK(emb_release(ctx, "a-web", ol, ml2, ul, &err) == 0);
    CHECK(state_of(ctx, "a", ml2, ul, "web") == EMB_STATE_DEFINED);
    CHECK(emb_release(ctx, "a", ol, ml2, ul, &err) == 0);
    CHECK(count_leftovers(ctx, "a", 0) == 0);
    rdl_graph_free(ml2);

    rdl_graph_free(ml);
    rdl_graph_free(ol);
    rdl_graph_free(ul);
    emb_ctx_free(ctx);
    cn_err_release(&err);
    return 0;
}

/* ---- images through clipd ---- */

static bool
socket_made(const void *path)
{
    return exists(path);
}

static int
test_clipd(const void *data)
{
    (void)data;
    char *sock = xasprintf("%s/clipd.sock", tmpdir);
    char *store = xasprintf("%s/store", tmpdir);
    char *tmpl = xasprintf("%s/debian-12.img", template_dir);
    /* Up once the socket exists (the daemon may first fill its cache). */
    struct test_daemon clipd = {.name = "clipd", .ready = socket_made, .ready_arg = sock};
    int rc = -1;

    snprintf(clipd.prog, sizeof(clipd.prog), "%s", clipd_path);
    if (access(clipd.prog, X_OK) != 0) {
        fprintf(stderr, "  %s is not built: the clipd case cannot run\n", clipd.prog);
        goto cleanup;
    }
    snprintf(clipd.conf, sizeof(clipd.conf), "%s/clipd.conf", tmpdir);
    mkdir(store, 0700);
    char *text = xasprintf("store %s\nsocket %s\ndestdir %s\ntemplate debian-12 %s copies 1\n",
                           store, sock, image_dir, tmpl);
    int written = test_write_text(clipd.conf, text);
    free(text);
    if (written < 0 || test_daemon_start(&clipd) < 0)
        goto cleanup;
    struct emb_ctx *ctx = make_ctx(sock);
    rc = embed_and_check(ctx, "viaclip");
    emb_ctx_free(ctx);
    if (rc < 0)
        goto cleanup;
    /* Both disks came through the daemon. */
    struct cn_err err = CN_ERR_INIT;
    struct clip_status *st = NULL;
    rc = -1;
    if (clip_status(sock, &st, &err) < 0) {
        fprintf(stderr, "  clip_status: %s\n", cn_err_msg(&err));
    } else {
        const struct clip_template_status *ts = clip_status_find(st, "debian-12");
        if (ts && ts->hits + ts->misses == 2)
            rc = 0;
        else
            fprintf(stderr, "  clipd served %llu takes, expected 2\n",
                    ts ? ts->hits + ts->misses : 0);
    }
    clip_status_free(st);
    cn_err_release(&err);

cleanup:
    test_daemon_stop(&clipd, SIGTERM);
    free(sock);
    free(store);
    free(tmpl);
    return rc;
}

static int
test_clipd_missing_image(const void *data)
{
    (void)data;
    /* Without a daemon on the socket the error says so and nothing is left. */
    struct cn_err err = CN_ERR_INIT;
    char *sock = xasprintf("%s/none.sock", tmpdir);
    struct emb_ctx *ctx = make_ctx(sock);
    struct rdl_graph *ul = make_underlay(), *ol = make_overlay();
    struct rdl_graph *ml = make_mapping("debian-12", 5);
    CHECK(emb_embed(ctx, "noclip", ol, ml, ul, &err) == -1);
    CHECK(strstr(cn_err_msg(&err), "clipd"));
    cn_err_release(&err);
    CHECK(count_leftovers(ctx, "noclip", 0) == 0);
    rdl_graph_free(ml);
    rdl_graph_free(ol);
    rdl_graph_free(ul);
    emb_ctx_free(ctx);
    free(sock);
    return 0;
}

/* ---- the far side of a transit link ---- */

/*
 * One PIP's half of a CloudNet that crosses transit link t1: web on the
 * KVM host h1, whose port is the local end of t1, and the stub of the far
 * side on the border node. VLAN and WIRE fill the link's tags ("-": none).
 */
static const char transit_ul[] = "rdl: 1\n"
                                 "kind: underlay\n"
                                 "name: pip-test\n"
                                 "elements:\n"
                                 "  h1: {type: /node/host/server/kvm}\n"
                                 "  t1: {type: /link/transit, vlan_range: [3000, 3099]}\n"
                                 "  far: {type: /node/host/pip, features: {transit: t1}}\n"
                                 "interfaces:\n"
                                 "  - {between: [h1, t1]}\n"
                                 "  - {between: [t1, far]}\n";

static const char transit_ol[] =
    "rdl: 1\n"
    "kind: overlay\n"
    "name: shop\n"
    "elements:\n"
    "  web: {type: /node/host/generic}\n"
    "  net: {type: /link/transit}\n"
    "  \"transit:t1\": {type: /node/host/pip, features: {transit: t1}}\n"
    "interfaces:\n"
    "  - {between: [web, net]}\n"
    "  - {between: [net, \"transit:t1\"]}\n";

static struct rdl_graph *
read_doc(const char *name, const char *text)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = rdl_read_string(name, text, strlen(text), &err);
    if (!g) {
        fprintf(stderr, "%s: %s\n", name, cn_err_msg(&err));
        exit(1);
    }
    return g;
}

static struct rdl_graph *
transit_mapping(const char *vlan, const char *wire)
{
    char *tag = vlan ? xasprintf(", vlan: %s", vlan) : xstrdup("");
    char *features = wire ? xasprintf(", features: {wire_vlan: %s}", wire) : xstrdup("");
    char *text = xasprintf("rdl: 1\n"
                           "kind: mapping\n"
                           "name: shop\n"
                           "overlay: shop\n"
                           "underlay: pip-test\n"
                           "map:\n"
                           "  web: {to: h1, features: {image: debian-12}}\n"
                           "  \"transit:t1\": {to: far}\n"
                           "  net: {path: [h1, t1, far]%s%s}\n",
                           tag, features);
    struct rdl_graph *g = read_doc("transit-map", text);
    free(text);
    free(features);
    free(tag);
    return g;
}

static int
test_border(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct emb_ctx *ctx = make_ctx(NULL);
    struct rdl_graph *ul = read_doc("transit-ul", transit_ul);
    const char *stub_ol = "rdl: 1\nkind: overlay\nname: stub\nelements:\n"
                          "  \"transit:t1\": {type: /node/host/pip, features: {transit: t1}}\n";
    const char *stub_ml = "rdl: 1\nkind: mapping\nname: stub\noverlay: stub\n"
                          "underlay: pip-test\nmap:\n  \"transit:t1\": {to: far}\n";
    struct rdl_graph *ol = read_doc("stub-ol", stub_ol), *ml = read_doc("stub-ml", stub_ml);
    char *uri = NULL;

    /* The stub realises nothing, and every operation on it succeeds but the console. */
    CHECK(emb_embed(ctx, "stub", ol, ml, ul, &err) == 0);
    CHECK(state_of(ctx, "stub", ml, ul, "transit:t1") == EMB_STATE_REMOTE);
    CHECK(emb_start(ctx, "stub", ml, ul, NULL, &err) == 0);
    CHECK(emb_stop(ctx, "stub", ml, ul, "transit:t1", &err) == 0);
    CHECK(emb_powercycle(ctx, "stub", ml, ul, "transit:t1", &err) == 0);
    CHECK(!cn_err_is_set(&err));
    CHECK(emb_console(ctx, "stub", ml, ul, "transit:t1", &uri, &err) == -1);
    CHECK(uri == NULL);
    CHECK(strstr(cn_err_msg(&err), "far side of a transit link ('far')"));
    cn_err_clear(&err);
    CHECK(count_leftovers(ctx, "stub", 0) == 0);
    CHECK(emb_release(ctx, "stub", ol, ml, ul, &err) == 0);
    CHECK(emb_release(ctx, "stub", NULL, ml, ul, &err) == 0);
    CHECK(!cn_err_is_set(&err));
    rdl_graph_free(ml);
    rdl_graph_free(ol);
    rdl_graph_free(ul);
    emb_ctx_free(ctx);
    cn_err_release(&err);
    return 0;
}

/* Transit links refused before anything is made: no VNode domain, no device. */
static int
test_transit_refusals(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct emb_ctx *ctx = make_ctx(NULL);
    struct rdl_graph *ul = read_doc("transit-ul", transit_ul);
    struct rdl_graph *ol = read_doc("transit-ol", transit_ol);
    static const struct {
        const char *vlan, *wire;
        int code;
        const char *msg;
    } cases[] = {
        {"3001", "3001", CN_E_NOTFOUND, "no port of transit link 't1' at either end"},
        {"3001", "3001", CN_E_NOTFOUND, "a port of transit link 't1' at 'h1' but no node line"},
        {"3001", "5000", CN_E_VLAN, "wire tag (wire_vlan) of 'net' on transit link 't1'"},
        {"3001", "abc", CN_E_VLAN, "wire tag (wire_vlan) of 'net' on transit link 't1'"},
        {"3001", "30.5", CN_E_VLAN, "is not a VLAN tag"},
        {"3300", NULL, CN_E_VLAN, "tag 3300 is outside the range 3000-3099 of 't1'"},
        {NULL, "3001", CN_E_VLAN, "'net' has no VLAN tag"},
    };

    for (size_t i = 0; i < CN_ARRAY_SIZE(cases); i++) {
        /* The first case runs before the map knows t1's port at h1, the second before h1. */
        struct emb_dataplane *dp = emb_ctx_dataplane(ctx);
        if (i == 1)
            CHECK(emb_dataplane_set_port(dp, "t1", "h1", "cnt-none0", NULL, &err) == 0);
        if (i == 2)
            CHECK(emb_dataplane_set_node(dp, "h1", NULL, "br0", EMB_MODE_VXLAN, &err) == 0);
        struct rdl_graph *ml = transit_mapping(cases[i].vlan, cases[i].wire);
        CHECK(emb_embed(ctx, "shop", ol, ml, ul, &err) == -1);
        CHECK(err.code == cases[i].code);
        if (!strstr(cn_err_msg(&err), cases[i].msg)) {
            fprintf(stderr, "  case %zu: %s\n", i, cn_err_msg(&err));
            CHECK(false);
        }
        cn_err_clear(&err);
        CHECK(count_leftovers(ctx, "shop", 0) == 0);
        rdl_graph_free(ml);
    }
    rdl_graph_free(ol);
    rdl_graph_free(ul);
    emb_ctx_free(ctx);
    cn_err_release(&err);
    return 0;
}

int
main(int argc, char **argv)
{
    (void)argc;
    /* Only the clipd case needs it; that case fails when it is not built. */
    test_bin_path(clipd_path, sizeof(clipd_path), argv[0], "clipd");
    if (!test_setup_ok(test_scratch_dir(tmpdir, sizeof(tmpdir), "emb-test")))
        return test_summary();
    snprintf(image_dir, sizeof(image_dir), "%s/images", tmpdir);
    snprintf(template_dir, sizeof(template_dir), "%s/templates", tmpdir);
    mkdir(image_dir, 0700);
    mkdir(template_dir, 0700);
    char *t = xasprintf("%s/debian-12.img", template_dir);
    int written = test_write_text(t, TEMPLATE_TEXT);
    free(t);
    if (written < 0)
        perror(template_dir);
    if (!test_setup_ok(written)) {
        test_rm_tree(tmpdir);
        return test_summary();
    }

    TEST_RUN("plugin selection (built-in table)", test_select_builtin, NULL);
    TEST_RUN("plugin selection (longest prefix)", test_select_longest, NULL);
    TEST_RUN("names", test_names, NULL);
    TEST_RUN("dataplane map", test_dataplane_parse, NULL);
    TEST_RUN("refusals before anything is done", test_refusals, NULL);
    TEST_RUN("trunk nodes need no ports", test_trunk, NULL);
    TEST_RUN("border: the far side of a transit link", test_border, NULL);
    TEST_RUN("transit: refusals before anything is done", test_transit_refusals, NULL);
    TEST_RUN("libvirt: embed, life cycle, release (plain copy)", test_libvirt_embed, NULL);
    TEST_RUN("libvirt: failure halfway is undone", test_libvirt_undo, NULL);
    TEST_RUN("libvirt: part of a CloudNet released and embedded again", test_elements, NULL);
    TEST_RUN("libvirt: links are not changed in place", test_libvirt_relink, NULL);
    TEST_RUN("libvirt: images from clipd", test_clipd, NULL);
    TEST_RUN("libvirt: clipd unreachable", test_clipd_missing_image, NULL);

    test_rm_tree(tmpdir);
    xmlCleanupParser();
    return test_summary();
}
