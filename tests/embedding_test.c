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
#include "tests/testlib.h"
#include "util/util.h"

#define TEMPLATE_TEXT "debian-12 template image\n"

static char tmpdir[64];
static char image_dir[128];
static char template_dir[128];

/* ---- helpers ---- */

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

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

static void
rm_rf(const char *dir)
{
    const char *argv[] = {"rm", "-rf", dir, NULL};
    struct cn_err err = CN_ERR_INIT;
    emb_run(argv, NULL, &err);
    cn_err_release(&err);
}

/*
 * A substrate of two KVM hosts joined by a switch:
 *   h1 --h1-sw-- sw --sw-h2-- h2
 */
static struct rdl_graph *
make_underlay(void)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = rdl_graph_new(RDL_UNDERLAY, "pip-test");
    rdl_graph_add_element(g, "h1", "/node/host/server/kvm", &err);
    rdl_graph_add_element(g, "h2", "/node/host/server/kvm", &err);
    rdl_graph_add_element(g, "sw", "/node/switch", &err);
    rdl_graph_add_element(g, "h1-sw", "/link/ethernet/vlan", &err);
    rdl_graph_add_element(g, "sw-h2", "/link/ethernet/vlan", &err);
    rdl_graph_add_interface(g, "h1", "h1-sw", &err);
    rdl_graph_add_interface(g, "h1-sw", "sw", &err);
    rdl_graph_add_interface(g, "sw", "sw-h2", &err);
    rdl_graph_add_interface(g, "sw-h2", "h2", &err);
    if (cn_err_is_set(&err)) {
        fprintf(stderr, "underlay: %s\n", cn_err_msg(&err));
        exit(1);
    }
    return g;
}

/* web -- web-db -- db */
static struct rdl_graph *
make_overlay(void)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = rdl_graph_new(RDL_OVERLAY, "shop");
    rdl_graph_set_level(g, 1);
    rdl_graph_add_element(g, "web", "/node/host/generic", &err);
    rdl_graph_add_element(g, "db", "/node/host/generic", &err);
    rdl_graph_add_element(g, "web-db", "/link/generic", &err);
    rdl_graph_add_interface(g, "web", "web-db", &err);
    rdl_graph_add_interface(g, "web-db", "db", &err);
    if (cn_err_is_set(&err)) {
        fprintf(stderr, "overlay: %s\n", cn_err_msg(&err));
        exit(1);
    }
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
    struct rdl_graph *ml = rdl_graph_new(RDL_MAPPING, "shop");
    rdl_mapping_set_graphs(ml, "shop", "pip-test");
    struct rdl_map_entry *web = rdl_mapping_add(ml, "web", &err);
    rdl_map_entry_set_to(web, "h1");
    rdl_props_set_string(rdl_map_entry_features_mut(web), "image", "debian-12");
    struct rdl_map_entry *db = rdl_mapping_add(ml, "db", &err);
    rdl_map_entry_set_to(db, "h2");
    rdl_props_set_string(rdl_map_entry_features_mut(db), "image", "debian-12");
    struct rdl_map_entry *w = rdl_mapping_add(ml, "web-db", &err);
    const char *path[] = {"h1", "h1-sw", "sw", "sw-h2", "h2"};
    for (size_t i = 0; i < 5; i++)
        rdl_map_entry_path_append(w, path[i]);
    rdl_map_entry_set_vlan(w, 1042);
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

static int
test_refusals(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    struct emb_ctx *ctx = make_ctx(NULL);
    struct rdl_graph *ul = make_underlay(), *ol = make_overlay();

    /* A multi-hop path without a tag. */
    struct rdl_graph *ml = make_mapping("debian-12", -1);
    struct rdl_graph *ml2 = rdl_graph_new(RDL_MAPPING, "shop");
    struct rdl_map_entry *w = rdl_mapping_add(ml2, "web", &err);
    rdl_map_entry_set_to(w, "h1");
    w = rdl_mapping_add(ml2, "db", &err);
    rdl_map_entry_set_to(w, "h2");
    w = rdl_mapping_add(ml2, "web-db", &err);
    const char *path[] = {"h1", "h1-sw", "sw", "sw-h2", "h2"};
    for (size_t i = 0; i < 5; i++)
        rdl_map_entry_path_append(w, path[i]);
    CHECK(emb_embed(ctx, "shop", ol, ml2, ul, &err) == -1);
    CHECK(err.code == CN_E_VLAN);
    CHECK(strstr(cn_err_msg(&err), "'web-db' has no VLAN tag"));
    cn_err_clear(&err);

    /* A path that does not follow the underlay. */
    struct rdl_graph *ml3 = rdl_graph_new(RDL_MAPPING, "shop");
    rdl_map_entry_set_to(rdl_mapping_add(ml3, "web", &err), "h1");
    rdl_map_entry_set_to(rdl_mapping_add(ml3, "db", &err), "h2");
    struct rdl_map_entry *bad = rdl_mapping_add(ml3, "web-db", &err);
    rdl_map_entry_path_append(bad, "h1");
    rdl_map_entry_path_append(bad, "sw-h2");
    rdl_map_entry_path_append(bad, "h2");
    rdl_map_entry_set_vlan(bad, 100);
    CHECK(emb_embed(ctx, "shop", ol, ml3, ul, &err) == -1);
    CHECK(strstr(cn_err_msg(&err), "does not join"));
    cn_err_clear(&err);

    /* An underlay link type no plugin serves. */
    struct rdl_graph *ul2 = rdl_graph_new(RDL_UNDERLAY, "pip-test");
    rdl_graph_add_element(ul2, "h1", "/node/host/server/kvm", &err);
    rdl_graph_add_element(ul2, "h2", "/node/host/server/kvm", &err);
    rdl_graph_add_element(ul2, "air", "/link/wifi", &err);
    rdl_graph_add_interface(ul2, "h1", "air", &err);
    rdl_graph_add_interface(ul2, "air", "h2", &err);
    struct rdl_graph *ml4 = rdl_graph_new(RDL_MAPPING, "shop");
    rdl_map_entry_set_to(rdl_mapping_add(ml4, "web", &err), "h1");
    rdl_map_entry_set_to(rdl_mapping_add(ml4, "db", &err), "h2");
    bad = rdl_mapping_add(ml4, "web-db", &err);
    rdl_map_entry_path_append(bad, "h1");
    rdl_map_entry_path_append(bad, "air");
    rdl_map_entry_path_append(bad, "h2");
    rdl_map_entry_set_vlan(bad, 7);
    CHECK(!cn_err_is_set(&err));
    CHECK(emb_embed(ctx, "shop", ol, ml4, ul2, &err) == -1);
    CHECK(strstr(cn_err_msg(&err), "no embedding plugin for 'air' (type /link/wifi)"));
    cn_err_clear(&err);

    /* A bad CloudNet id. */
    CHECK(emb_embed(ctx, "-x", ol, ml, ul, &err) == -1);
    CHECK(err.code == CN_E_INVALID);
    cn_err_clear(&err);

    /* Nothing was created by any of them. */
    CHECK(count_leftovers(ctx, "shop", 0) == 0);

    rdl_graph_free(ml);
    rdl_graph_free(ml2);
    rdl_graph_free(ml3);
    rdl_graph_free(ml4);
    rdl_graph_free(ul2);
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

static pid_t clipd_pid = -1;

static int
test_clipd(const void *data)
{
    (void)data;
    const char *build = getenv("BUILD");
    char *bin = xasprintf("%s/bin/clipd", build && *build ? build : "build");
    char *sock = xasprintf("%s/clipd.sock", tmpdir);
    char *store = xasprintf("%s/store", tmpdir);
    char *conf = xasprintf("%s/clipd.conf", tmpdir);
    char *tmpl = xasprintf("%s/debian-12.img", template_dir);
    int rc = -1;

    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "  %s is not built: the clipd case cannot run\n", bin);
        goto cleanup;
    }
    mkdir(store, 0700);
    char *text = xasprintf("store %s\nsocket %s\ndestdir %s\ntemplate debian-12 %s copies 1\n",
                           store, sock, image_dir, tmpl);
    write_file(conf, text);
    free(text);

    clipd_pid = fork();
    if (clipd_pid == 0) {
        execl(bin, "clipd", "-d", "-f", conf, (char *)NULL);
        _exit(127);
    }
    /* Wait for the socket (the daemon may first fill its cache). */
    for (int i = 0; i < 100 && !exists(sock); i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!exists(sock)) {
        fprintf(stderr, "  clipd did not create %s\n", sock);
        goto cleanup;
    }
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
    if (clipd_pid > 0) {
        kill(clipd_pid, SIGTERM);
        waitpid(clipd_pid, NULL, 0);
        clipd_pid = -1;
    }
    free(bin);
    free(sock);
    free(store);
    free(conf);
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
main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/emb-test-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(image_dir, sizeof(image_dir), "%s/images", tmpdir);
    snprintf(template_dir, sizeof(template_dir), "%s/templates", tmpdir);
    mkdir(image_dir, 0700);
    mkdir(template_dir, 0700);
    char *t = xasprintf("%s/debian-12.img", template_dir);
    write_file(t, TEMPLATE_TEXT);
    free(t);

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
    TEST_RUN("libvirt: images from clipd", test_clipd, NULL);
    TEST_RUN("libvirt: clipd unreachable", test_clipd_missing_image, NULL);

    rm_rf(tmpdir);
    xmlCleanupParser();
    return test_summary();
}
