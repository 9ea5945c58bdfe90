/*
 * The libvirt plugin: a VNode on a KVM host is a persistent libvirt domain
 * named "cn-CLOUDNET-ELEMENT", with a private copy of its template image as
 * its disk and one bridge interface per virtual link, tagged with the link's
 * VLAN. Embedding defines the domain; start, stop and powercycle act on it;
 * release destroys and undefines it and deletes its disk.
 *
 * The domain XML is built as a libxml2 tree, so ids and paths are escaped by
 * the serializer instead of by hand. A <metadata> owner tag records the
 * CloudNet and element in full: names alone are ambiguous when ids contain
 * '-', and the tag lets release and leftover scans touch only what is ours.
 *
 * One connection per context: the test driver (test:///default) keeps its
 * domains per connection, and a daemon wants one connection anyway.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#define EMB_PRIV_H_ALLOW
#include "clipd/clip.h"
#include "embedding/emb_priv.h"
#include "rdl/rdl.h"
#include "util/util.h"

#define OWNER_NS "https://cloudnet.example.org/xmlns/embedding/1"
#define OWNER_PREFIX "cloudnet"
#define DEFAULT_MEMORY_MIB 512

/* libxml2 wants unsigned strings; BAD_CAST would also drop const. */
#define XC(s) ((const xmlChar *)(s))

struct lv_state {
    virConnectPtr conn;
    bool test_driver; /* the test driver wants <domain type='test'> */
};

/* libvirt prints errors to stderr unless told otherwise; library code must not. */
static void
quiet(void *data, virErrorPtr e)
{
    (void)data;
    (void)e;
}

static const char *
lv_message(void)
{
    virErrorPtr e = virGetLastError();
    return e && e->message ? e->message : "unknown libvirt error";
}

static int
lv_init(struct emb_ctx *ctx, void **ret_state, struct cn_err *err)
{
    const char *uri = emb_ctx_config(ctx)->libvirt_uri;

    if (virInitialize() < 0)
        return cn_err_set(err, CN_E_INTERNAL, "cannot initialise libvirt");
    virSetErrorFunc(NULL, quiet);
    virConnectPtr conn = virConnectOpen(uri);
    if (!conn)
        return cn_err_set(err, CN_E_IO, "cannot connect to libvirt at %s: %s", uri, lv_message());
    virConnSetErrorFunc(conn, NULL, quiet);
    struct lv_state *st = xcalloc(1, sizeof(*st));
    st->conn = conn;
    const char *type = virConnectGetType(conn);
    st->test_driver = type && strcasecmp(type, "test") == 0;
    *ret_state = st;
    return 0;
}

static void
lv_fini(void *state)
{
    struct lv_state *st = state;
    if (!st)
        return;
    virConnectClose(st->conn);
    free(st);
}

/* ---- names, owners and disks ---- */

static char *
disk_path(struct emb_ctx *ctx, const char *cloudnet, const char *element)
{
    const char *dir = emb_ctx_config(ctx)->image_dir;
    return dir ? xasprintf("%s/cn-%s-%s.img", dir, cloudnet, element) : NULL;
}

/* Reads the owner tag of a domain; 0 and both strings (caller frees), or -1 when it has none. */
static int
domain_owner(virDomainPtr dom, char **ret_cloudnet, char **ret_element)
{
    char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, OWNER_NS, 0);
    int rc = -1;
    if (!xml)
        return -1;
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "owner.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    free(xml);
    if (!doc)
        return -1;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlChar *c = root ? xmlGetProp(root, XC("cloudnet")) : NULL;
    xmlChar *e = root ? xmlGetProp(root, XC("element")) : NULL;
    if (c && e) {
        *ret_cloudnet = xstrdup((const char *)c);
        *ret_element = xstrdup((const char *)e);
        rc = 0;
    }
    xmlFree(c);
    xmlFree(e);
    xmlFreeDoc(doc);
    return rc;
}

/*
 * Looks up the VNode's domain. Returns 0 with *ret_dom set (NULL when there
 * is none), or -1 when a domain of that name belongs to someone else.
 */
static int
find_domain(struct lv_state *st, const struct emb_item *it, virDomainPtr *ret_dom,
            struct cn_err *err)
{
    char *name = emb_vnode_name(it->cloudnet, it->element);
    char *c = NULL, *e = NULL;
    int rc = -1;

    virDomainPtr dom = virDomainLookupByName(st->conn, name);
    if (!dom) {
        virErrorPtr le = virGetLastError();
        if (le && le->code != VIR_ERR_NO_DOMAIN) {
            cn_err_set(err, CN_E_INTERNAL, "looking up domain %s: %s", name, lv_message());
            goto cleanup;
        }
        *ret_dom = NULL;
        rc = 0;
        goto cleanup;
    }
    if (domain_owner(dom, &c, &e) < 0 || !cn_streq(c, it->cloudnet) || !cn_streq(e, it->element)) {
        cn_err_set(err, CN_E_FORBIDDEN,
                   "domain %s exists but does not belong to '%s' of CloudNet %s", name, it->element,
                   it->cloudnet);
        virDomainFree(dom);
        goto cleanup;
    }
    *ret_dom = dom;
    rc = 0;

cleanup:
    free(c);
    free(e);
    free(name);
    return rc;
}

static bool
image_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* A definite string feature of the VNode: the mapping's value, else the overlay's. */
static const char *
node_feature(const struct emb_item *it, const char *name)
{
    const char *v = rdl_props_string(rdl_map_entry_features(it->entry), name);
    if (!v && it->overlay)
        v = rdl_props_string(rdl_element_features(it->overlay), name);
    return v;
}

static double
node_resource(const struct emb_item *it, const char *name)
{
    double v = rdl_props_number(rdl_map_entry_resources(it->entry), name, -1);
    if (v < 0 && it->overlay)
        v = rdl_props_number(rdl_element_resources(it->overlay), name, -1);
    return v;
}

static int
copy_file(const char *from, const char *to, struct cn_err *err)
{
    int in = -1, out = -1, rc = -1;
    char buf[65536];

    in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        cn_err_set(err, CN_E_IO, "%s: %s", from, strerror(errno));
        goto cleanup;
    }
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        cn_err_set(err, CN_E_IO, "%s: %s", to, strerror(errno));
        goto cleanup;
    }
    for (;;) {
        /* copy_file_range lets the filesystem share or offload; plain read/write otherwise. */
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n > 0)
            continue;
        if (n == 0)
            break;
        if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL) {
            cn_err_set(err, CN_E_IO, "copying %s to %s: %s", from, to, strerror(errno));
            goto cleanup;
        }
        ssize_t r;
        while ((r = read(in, buf, sizeof(buf))) > 0) {
            for (ssize_t off = 0; off < r;) {
                ssize_t w = write(out, buf + off, (size_t)(r - off));
                if (w < 0) {
                    if (errno == EINTR)
                        continue;
                    cn_err_set(err, CN_E_IO, "writing %s: %s", to, strerror(errno));
                    goto cleanup;
                }
                off += w;
            }
        }
        if (r < 0) {
            cn_err_set(err, CN_E_IO, "reading %s: %s", from, strerror(errno));
            goto cleanup;
        }
        break;
    }
    if (fsync(out) < 0) {
        cn_err_set(err, CN_E_IO, "%s: %s", to, strerror(errno));
        goto cleanup;
    }
    rc = 0;

cleanup:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) < 0 && rc == 0)
        rc = cn_err_set(err, CN_E_IO, "%s: %s", to, strerror(errno));
    if (rc < 0 && out >= 0)
        unlink(to);
    return rc;
}

/* The template file for image, tried with the usual extensions; NULL when there is none. */
static char *
template_file(const char *dir, const char *image)
{
    static const char *const ext[] = {".qcow2", ".img", ".raw", ""};
    for (size_t i = 0; dir && i < CN_ARRAY_SIZE(ext); i++) {
        char *p = xasprintf("%s/%s%s", dir, image, ext[i]);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            return p;
        free(p);
    }
    return NULL;
}

/* Puts a private copy of the image at disk: clipd's take when configured, a copy otherwise. */
static int
provide_disk(struct emb_ctx *ctx, const char *image, const char *disk, struct cn_err *err)
{
    const struct emb_config *cfg = emb_ctx_config(ctx);

    /* A disk left by an earlier, interrupted embedding of the same VNode is ours to replace. */
    if (unlink(disk) < 0 && errno != ENOENT)
        return cn_err_set(err, CN_E_IO, "%s: %s", disk, strerror(errno));
    if (cfg->clipd_socket) {
        bool hit;
        struct cn_err e = CN_ERR_INIT;
        int rc = clip_take(cfg->clipd_socket, image, disk, &hit, &e);
        if (rc < 0) {
            if (e.code == CN_E_NOTFOUND)
                cn_err_set(err, CN_E_NOTFOUND, "image '%s' not available on this PIP (clipd: %s)",
                           image, cn_err_msg(&e));
            else
                cn_err_set(err, e.code, "clipd: %s", cn_err_msg(&e));
        }
        cn_err_release(&e);
        return rc;
    }
    char *from = template_file(cfg->template_dir, image);
    if (!from)
        return cn_err_set(err, CN_E_NOTFOUND, "image '%s' not available on this PIP", image);
    int rc = copy_file(from, disk, err);
    free(from);
    return rc;
}

/* qcow2 images start with "QFI\xfb"; anything else is handed to the guest raw. */
static const char *
disk_format(const char *path)
{
    unsigned char magic[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, magic, sizeof(magic)) != (ssize_t)sizeof(magic))
            memset(magic, 0, sizeof(magic));
        close(fd);
    }
    return memcmp(magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
}

/* ---- the domain XML ---- */

static void
text_child(xmlNodePtr parent, const char *name, const char *text)
{
    xmlNewTextChild(parent, NULL, XC(name), XC(text));
}

static xmlNodePtr
child(xmlNodePtr parent, const char *name)
{
    return xmlNewChild(parent, NULL, XC(name), NULL);
}

static void
prop(xmlNodePtr node, const char *name, const char *value)
{
    xmlNewProp(node, XC(name), XC(value));
}

static char *
domain_xml(const struct lv_state *st, const struct emb_item *it, const char *disk,
           struct cn_err *err)
{
    char num[32];
    char *name = emb_vnode_name(it->cloudnet, it->element);
    xmlChar *mem = NULL;
    int size = 0;
    char *out = NULL;
    const struct emb_dp_node *dp = it->host_dp;

    double cpu = node_resource(it, "cpu");
    double memory = node_resource(it, "memory");
    long vcpus = cpu > 0 ? (long)cpu : 1;
    if (cpu > 0 && (double)vcpus < cpu)
        vcpus++; /* fractional cores are rounded up: a guest cannot have half a vCPU */
    long mib = memory > 0 ? (long)memory : DEFAULT_MEMORY_MIB;
    if (memory > 0 && (double)mib < memory)
        mib++;

    xmlDocPtr doc = xmlNewDoc(XC("1.0"));
    xmlNodePtr dom = xmlNewNode(NULL, XC("domain"));
    xmlDocSetRootElement(doc, dom);
    prop(dom, "type", st->test_driver ? "test" : "kvm");
    text_child(dom, "name", name);

    xmlNodePtr md = child(dom, "metadata");
    xmlNodePtr owner = xmlNewChild(md, NULL, XC("owner"), NULL);
    xmlNsPtr ns = xmlNewNs(owner, XC(OWNER_NS), XC(OWNER_PREFIX));
    xmlSetNs(owner, ns);
    prop(owner, "cloudnet", it->cloudnet);
    prop(owner, "element", it->element);

    snprintf(num, sizeof(num), "%ld", mib);
    xmlNodePtr m = xmlNewTextChild(dom, NULL, XC("memory"), XC(num));
    prop(m, "unit", "MiB");
    snprintf(num, sizeof(num), "%ld", vcpus);
    text_child(dom, "vcpu", num);

    xmlNodePtr os = child(dom, "os");
    xmlNodePtr type = xmlNewTextChild(os, NULL, XC("type"), XC("hvm"));
    const char *arch = node_feature(it, "arch");
    if (arch)
        prop(type, "arch", arch);
    prop(child(os, "boot"), "dev", "hd");

    xmlNodePtr devices = child(dom, "devices");
    xmlNodePtr d = child(devices, "disk");
    prop(d, "type", "file");
    prop(d, "device", "disk");
    xmlNodePtr drv = child(d, "driver");
    prop(drv, "name", "qemu");
    prop(drv, "type", disk_format(disk));
    prop(child(d, "source"), "file", disk);
    xmlNodePtr tgt = child(d, "target");
    prop(tgt, "dev", "vda");
    prop(tgt, "bus", "virtio");

    for (size_t i = 0; i < it->n_ifaces; i++) {
        const struct emb_iface *f = &it->ifaces[i];
        char ifname[16], br[16];
        xmlNodePtr nic = child(devices, "interface");
        prop(nic, "type", "bridge");
        if (dp && dp->mode == EMB_MODE_VXLAN) {
            /* Each tag has a bridge of its own; the guest's frames stay untagged. */
            emb_tag_bridge(f->vlan, br, sizeof(br));
            prop(child(nic, "source"), "bridge", br);
        } else {
            prop(child(nic, "source"), "bridge", dp ? dp->bridge : "br0");
            snprintf(num, sizeof(num), "%d", f->vlan);
            prop(child(child(nic, "vlan"), "tag"), "id", num);
        }
        emb_ifname(it->cloudnet, it->element, f->link, ifname, sizeof(ifname));
        prop(child(nic, "target"), "dev", ifname);
        char mac[18];
        emb_mac(it->cloudnet, it->element, f->link, mac, sizeof(mac));
        prop(child(nic, "mac"), "address", mac);
        prop(child(nic, "model"), "type", "virtio");
        /* The guest sees the links in overlay order; the alias names the link. */
        char *alias = xasprintf("ua-%s", f->link);
        prop(child(nic, "alias"), "name", alias);
        free(alias);
    }
    prop(child(devices, "console"), "type", "pty");

    xmlDocDumpFormatMemory(doc, &mem, &size, 1);
    if (!mem) {
        cn_err_set(err, CN_E_INTERNAL, "cannot serialise the domain XML of %s", name);
        goto cleanup;
    }
    out = xstrndup((const char *)mem, (size_t)size);

cleanup:
    xmlFree(mem);
    xmlFreeDoc(doc);
    free(name);
    return out;
}

/* ---- the callbacks ---- */

static int
lv_embed(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    struct lv_state *st = state;
    char *disk = NULL, *xml = NULL;
    virDomainPtr dom = NULL;
    int rc = -1;

    if (!emb_ctx_config(ctx)->image_dir) {
        cn_err_set(err, CN_E_INVALID, "no image directory configured");
        goto cleanup;
    }
    const char *image = node_feature(it, "image");
    if (!image) {
        cn_err_set(err, CN_E_INVALID, "VNode '%s' names no image", it->element);
        goto cleanup;
    }
    if (!image_name_ok(image)) {
        cn_err_set(err, CN_E_INVALID, "'%s' is not an image name", image);
        goto cleanup;
    }
    for (size_t i = 0; i < it->n_ifaces; i++) {
        if (it->ifaces[i].vlan < 1 || it->ifaces[i].vlan > 4094) {
            cn_err_set(err, CN_E_VLAN, "virtual link '%s' has no VLAN tag", it->ifaces[i].link);
            goto cleanup;
        }
    }
    if (find_domain(st, it, &dom, err) < 0)
        goto cleanup;
    if (dom) {
        cn_err_set(err, CN_E_INVALID, "VNode '%s' of CloudNet %s is already embedded", it->element,
                   it->cloudnet);
        goto cleanup;
    }
    disk = disk_path(ctx, it->cloudnet, it->element);
    if (provide_disk(ctx, image, disk, err) < 0)
        goto cleanup;
    if (it->host_dp && it->host_dp->mode == EMB_MODE_VXLAN) {
        for (size_t i = 0; i < it->n_ifaces; i++)
            if (emb_tag_bridge_get(it->host_dp->netns, it->ifaces[i].vlan, err) < 0)
                goto cleanup;
    }
    xml = domain_xml(st, it, disk, err);
    if (!xml)
        goto cleanup;
    dom = virDomainDefineXML(st->conn, xml);
    if (!dom) {
        cn_err_set(err, CN_E_INTERNAL, "defining the domain: %s", lv_message());
        goto cleanup;
    }
    rc = 0;

cleanup:
    if (dom)
        virDomainFree(dom);
    free(xml);
    free(disk);
    return rc;
}

static int
lv_release(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    struct lv_state *st = state;
    virDomainPtr dom = NULL;
    char *disk = NULL;
    int rc = -1;

    if (find_domain(st, it, &dom, err) < 0)
        goto cleanup;
    if (dom) {
        if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0) {
            cn_err_set(err, CN_E_INTERNAL, "destroying the domain: %s", lv_message());
            goto cleanup;
        }
        if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                            VIR_DOMAIN_UNDEFINE_NVRAM) < 0 &&
            virDomainUndefine(dom) < 0) {
            cn_err_set(err, CN_E_INTERNAL, "undefining the domain: %s", lv_message());
            goto cleanup;
        }
    }
    disk = disk_path(ctx, it->cloudnet, it->element);
    if (disk && unlink(disk) < 0 && errno != ENOENT) {
        cn_err_set(err, CN_E_IO, "%s: %s", disk, strerror(errno));
        goto cleanup;
    }
    if (it->host_dp && it->host_dp->mode == EMB_MODE_VXLAN) {
        for (size_t i = 0; i < it->n_ifaces; i++)
            if (it->ifaces[i].vlan > 0 &&
                emb_tag_bridge_put(it->host_dp->netns, it->ifaces[i].vlan, err) < 0)
                goto cleanup;
    }
    rc = 0;

cleanup:
    if (dom)
        virDomainFree(dom);
    free(disk);
    return rc;
}

/* The VNode's domain, which must exist. */
static virDomainPtr
need_domain(struct lv_state *st, const struct emb_item *it, struct cn_err *err)
{
    virDomainPtr dom;
    if (find_domain(st, it, &dom, err) < 0)
        return NULL;
    if (!dom)
        cn_err_set(err, CN_E_NOTFOUND, "VNode '%s' of CloudNet %s is not embedded", it->element,
                   it->cloudnet);
    return dom;
}

static int
lv_start(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    virDomainPtr dom = need_domain(state, it, err);
    int rc = -1;
    if (!dom)
        return -1;
    if (virDomainIsActive(dom) == 1 || virDomainCreate(dom) == 0)
        rc = 0;
    else
        cn_err_set(err, CN_E_INTERNAL, "starting the domain: %s", lv_message());
    virDomainFree(dom);
    return rc;
}

static int
lv_stop(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    virDomainPtr dom = need_domain(state, it, err);
    int rc = -1;
    if (!dom)
        return -1;
    if (virDomainIsActive(dom) != 1 || virDomainDestroy(dom) == 0)
        rc = 0;
    else
        cn_err_set(err, CN_E_INTERNAL, "stopping the domain: %s", lv_message());
    virDomainFree(dom);
    return rc;
}

static int
lv_powercycle(struct emb_ctx *ctx, void *state, const struct emb_item *it, struct cn_err *err)
{
    (void)ctx;
    virDomainPtr dom = need_domain(state, it, err);
    int rc = -1;
    if (!dom)
        return -1;
    if (virDomainIsActive(dom) != 1) {
        rc = virDomainCreate(dom);
    } else {
        rc = virDomainReset(dom, 0);
        /* Drivers without reset get the equivalent: power off, power on. */
        if (rc < 0 && virGetLastErrorCode() == VIR_ERR_NO_SUPPORT)
            rc = virDomainDestroy(dom) == 0 ? virDomainCreate(dom) : -1;
    }
    if (rc < 0)
        cn_err_set(err, CN_E_INTERNAL, "power-cycling the domain: %s", lv_message());
    virDomainFree(dom);
    return rc < 0 ? -1 : 0;
}

static int
lv_console(struct emb_ctx *ctx, void *state, const struct emb_item *it, char **ret_uri,
           struct cn_err *err)
{
    virDomainPtr dom = need_domain(state, it, err);
    if (!dom)
        return -1;
    *ret_uri = xasprintf("%s#%s", emb_ctx_config(ctx)->libvirt_uri, virDomainGetName(dom));
    virDomainFree(dom);
    return 0;
}

static int
lv_status(struct emb_ctx *ctx, void *state, const struct emb_item *it, enum emb_state *ret_state,
          struct cn_err *err)
{
    (void)ctx;
    virDomainPtr dom;
    int s, reason;

    if (find_domain(state, it, &dom, err) < 0)
        return -1;
    if (!dom) {
        *ret_state = EMB_STATE_ABSENT;
        return 0;
    }
    if (virDomainGetState(dom, &s, &reason, 0) < 0) {
        cn_err_set(err, CN_E_INTERNAL, "domain state: %s", lv_message());
        virDomainFree(dom);
        return -1;
    }
    virDomainFree(dom);
    switch (s) {
    case VIR_DOMAIN_RUNNING:
        *ret_state = EMB_STATE_RUNNING;
        break;
    case VIR_DOMAIN_SHUTOFF:
        *ret_state = EMB_STATE_DEFINED;
        break;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
        *ret_state = EMB_STATE_PAUSED;
        break;
    case VIR_DOMAIN_CRASHED:
        *ret_state = EMB_STATE_CRASHED;
        break;
    default:
        *ret_state = EMB_STATE_OTHER;
        break;
    }
    return 0;
}

static int
lv_leftovers(struct emb_ctx *ctx, void *state, const char *cloudnet, const struct emb_item *it,
             struct emb_lines *lines, struct cn_err *err)
{
    struct lv_state *st = state;
    virDomainPtr *doms = NULL;
    char *prefix = xasprintf("cn-%s-", cloudnet);
    const char *dir = emb_ctx_config(ctx)->image_dir;
    int n = 0, rc = -1;

    if (it) {
        rc = 0;
        goto cleanup;
    }
    n = virConnectListAllDomains(st->conn, &doms, 0);
    if (n < 0) {
        cn_err_set(err, CN_E_INTERNAL, "listing domains: %s", lv_message());
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        char *c = NULL, *e = NULL;
        const char *name = virDomainGetName(doms[i]);
        if (name && cn_startswith(name, prefix) && domain_owner(doms[i], &c, &e) == 0 &&
            cn_streq(c, cloudnet))
            emb_lines_add(lines, xasprintf("domain %s", name));
        free(c);
        free(e);
    }
    /* Disks are found by name only; "cn-a-" also matches CloudNet "a-b": the caller checks. */
    DIR *d = dir ? opendir(dir) : NULL;
    for (struct dirent *de; d && (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (cn_startswith(de->d_name, prefix) && len > 4 && cn_streq(de->d_name + len - 4, ".img"))
            emb_lines_add(lines, xasprintf("image %s/%s", dir, de->d_name));
    }
    if (d)
        closedir(d);
    rc = 0;

cleanup:
    for (int i = 0; i < n; i++)
        virDomainFree(doms[i]);
    free(doms);
    free(prefix);
    return rc;
}

char *
emb_libvirt_xml_desc(struct emb_ctx *ctx, const char *domain, struct cn_err *err)
{
    void *state;
    char *xml = NULL;

    if (emb_plugin_state(ctx, "libvirt", &state, err) < 0)
        return NULL;
    struct lv_state *st = state;
    virDomainPtr dom = virDomainLookupByName(st->conn, domain);
    if (!dom) {
        cn_err_set(err, CN_E_NOTFOUND, "domain %s: %s", domain, lv_message());
        return NULL;
    }
    char *desc = virDomainGetXMLDesc(dom, 0);
    if (desc) {
        /* libvirt's memory goes back through free() like ours, but copy to keep that private. */
        xml = xstrdup(desc);
        free(desc);
    } else {
        cn_err_set(err, CN_E_INTERNAL, "domain %s: %s", domain, lv_message());
    }
    virDomainFree(dom);
    return xml;
}

const struct emb_plugin emb_libvirt_plugin = {
    .name = "libvirt",
    .type_prefix = "/node/host/server/kvm",
    .init = lv_init,
    .fini = lv_fini,
    .embed = lv_embed,
    .release = lv_release,
    .start = lv_start,
    .stop = lv_stop,
    .powercycle = lv_powercycle,
    .console = lv_console,
    .status = lv_status,
    .leftovers = lv_leftovers,
};
