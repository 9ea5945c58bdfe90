/*
 * Tests of vnpd's planner (vnp/plan.h) without any daemon: descriptions of
 * Berlin, Paris and London as describe() would answer them, the VNP's
 * underlay built from them, requests mapped onto it with map_rdl_solve and
 * cut into partial graphs (compared with golden files in tests/vnp-plan/),
 * VLAN tags common and translated, the failures, the manifest merge and
 * the VNP's own description. The end-to-end cases map the partial graphs
 * onto small PIP substrates with border nodes, which is what each pipd
 * does with them.
 *
 * VNP_PLAN_REGEN=1 rewrites the golden files instead of comparing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "rdl/rdl.h"
#include "tests/daemon-helper.h"
#include "tests/testlib.h"
#include "util/util.h"
#include "vnp/client.h"
#include "vnp/plan.h"

/* ---- descriptions, built the way the client library fills them ---- */

static void
amount_add(struct vnp_amount **arr, size_t *n, const char *name, double v)
{
    *arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[*n].name = xstrdup(name);
    (*arr)[(*n)++].value = v;
}

/* Values end with NULL. */
static void
feature_add(struct vnp_description *d, const char *name, ...)
{
    d->features = xrealloc(d->features, (d->nfeatures + 1) * sizeof(*d->features));
    struct vnp_feature_values *f = &d->features[d->nfeatures++];
    *f = (struct vnp_feature_values){.name = xstrdup(name)};
    va_list ap;
    va_start(ap, name);
    for (const char *v; (v = va_arg(ap, const char *));) {
        f->values = xrealloc(f->values, (f->nvalues + 1) * sizeof(*f->values));
        f->values[f->nvalues++] = xstrdup(v);
    }
    va_end(ap);
}

static void
vlans_add(struct vnp_description *d, int first, int last)
{
    d->vlan_ranges = xrealloc(d->vlan_ranges, (d->nvlan_ranges + 1) * sizeof(*d->vlan_ranges));
    d->vlan_ranges[d->nvlan_ranges++] = (struct vnp_vlan_range){first, last};
}

static void
transit_add(struct vnp_description *d, const char *id, int first, int last)
{
    d->transits = xrealloc(d->transits, (d->ntransits + 1) * sizeof(*d->transits));
    d->transits[d->ntransits++] = (struct vnp_transit_info){xstrdup(id), first, last};
}

static struct vnp_transit_info *
transit_of(struct vnp_description *d, const char *id)
{
    for (size_t i = 0; i < d->ntransits; i++)
        if (strcmp(d->transits[i].id, id) == 0)
            return &d->transits[i];
    return NULL;
}

static struct vnp_description *
desc_new(const char *name, double cpu, double memory, double disk)
{
    struct vnp_description *d = xcalloc(1, sizeof(*d));
    d->name = xstrdup(name);
    d->version = xstrdup("cloudnet-test");
    amount_add(&d->resources, &d->nresources, "cpu", cpu);
    amount_add(&d->resources, &d->nresources, "memory", memory);
    amount_add(&d->resources, &d->nresources, "disk", disk);
    amount_add(&d->capacity, &d->ncapacity, "cpu", cpu * 2);
    amount_add(&d->capacity, &d->ncapacity, "memory", memory * 2);
    amount_add(&d->capacity, &d->ncapacity, "disk", disk * 2);
    amount_add(&d->largest_free, &d->nlargest_free, "cpu", cpu / 4);
    amount_add(&d->largest_free, &d->nlargest_free, "memory", memory / 4);
    amount_add(&d->largest_free, &d->nlargest_free, "disk", disk / 4);
    return d;
}

/* ---- the federation of examples/vnp-substrate.yaml ---- */

enum { BERLIN, PARIS, LONDON, NPIPS };

struct fed {
    struct vnp_description *d[NPIPS];
    struct vnp_pip_view pips[NPIPS];
    struct vnp_transit_conf t[3];
};

static void
conf_set(struct vnp_transit_conf *t, const char *id, const char *a, const char *b, int first,
         int last, double bw, double lat)
{
    t->id = xstrdup(id);
    t->pip[0] = xstrdup(a);
    t->pip[1] = xstrdup(b);
    t->first[0] = t->first[1] = first;
    t->last[0] = t->last[1] = last;
    t->bandwidth = bw;
    t->latency = lat;
}

static void
fed_init(struct fed *f)
{
    memset(f, 0, sizeof(*f));
    struct vnp_description *b = desc_new("berlin", 112, 425984, 3200);
    feature_add(b, "arch", "x86_64", "aarch64", NULL);
    feature_add(b, "location", "DE", NULL);
    feature_add(b, "hypervisor", "kvm", "netns", NULL);
    feature_add(b, "generation", "3", NULL);
    vlans_add(b, 100, 999);
    vlans_add(b, 3000, 3299);
    transit_add(b, "berlin-paris", 3000, 3099);
    transit_add(b, "berlin-london", 3200, 3299);
    struct vnp_description *p = desc_new("paris", 96, 393216, 3000);
    feature_add(p, "arch", "x86_64", NULL);
    feature_add(p, "location", "FR", NULL);
    feature_add(p, "hypervisor", "kvm", NULL);
    vlans_add(p, 100, 999);
    vlans_add(p, 3000, 3199);
    transit_add(p, "berlin-paris", 3000, 3099);
    transit_add(p, "paris-london", 3100, 3199);
    struct vnp_description *l = desc_new("london", 16, 65536, 500);
    feature_add(l, "arch", "x86_64", NULL);
    feature_add(l, "location", "GB", NULL);
    feature_add(l, "hypervisor", "kvm", NULL);
    vlans_add(l, 3100, 3299);
    transit_add(l, "paris-london", 0, 0);
    transit_add(l, "berlin-london", 3200, 3299);
    f->d[BERLIN] = b;
    f->d[PARIS] = p;
    f->d[LONDON] = l;
    const char *names[NPIPS] = {"berlin", "paris", "london"};
    for (int i = 0; i < NPIPS; i++)
        f->pips[i] = (struct vnp_pip_view){names[i], f->d[i]};
    conf_set(&f->t[0], "berlin-paris", "berlin", "paris", 3000, 3099, 10000, 11);
    conf_set(&f->t[1], "paris-london", "paris", "london", 3100, 3199, 5000, 6);
    conf_set(&f->t[2], "berlin-london", "berlin", "london", 3200, 3299, 2000, 14);
}

static void
fed_release(struct fed *f)
{
    for (int i = 0; i < NPIPS; i++)
        vnp_description_free(f->d[i]);
    for (int i = 0; i < 3; i++) {
        free(f->t[i].id);
        free(f->t[i].pip[0]);
        free(f->t[i].pip[1]);
    }
}

/* ---- documents ---- */

static char *
data_path(const char *rel)
{
    return xasprintf("%s/%s", test_srcdir(), rel);
}

static struct rdl_graph *
read_doc(const char *rel)
{
    struct cn_err err = CN_ERR_INIT;
    char *path = data_path(rel);
    struct rdl_graph *g = rdl_read_file(path, &err);
    if (!g)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    free(path);
    cn_err_release(&err);
    return g;
}

static struct rdl_graph *
parse(const char *name, const char *text)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = rdl_read_string(name, text, strlen(text), &err);
    if (!g)
        fprintf(stderr, "  %s\n%s\n", cn_err_msg(&err), text);
    cn_err_release(&err);
    return g;
}

static char *
yaml_of(const struct rdl_graph *g)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    if (rdl_write(g, &b, &err) < 0)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    cn_err_release(&err);
    return cn_buf_detach(&b);
}

/* Compares text with the golden file tests/vnp-plan/NAME (or rewrites it). */
static int
golden(const char *name, const char *text)
{
    char *rel = xasprintf("vnp-plan/%s", name);
    char *path = data_path(rel);
    struct cn_buf want = CN_BUF_INIT;
    int ret = -1;
    const char *regen = getenv("VNP_PLAN_REGEN");
    if (regen && strcmp(regen, "1") == 0) {
        FILE *f = fopen(path, "w");
        if (f && fputs(text, f) >= 0 && fclose(f) == 0)
            ret = 0;
        goto done;
    }
    if (cn_buf_read_file(&want, path, 1 << 20) < 0) {
        fprintf(stderr, "  cannot read %s\n", path);
        goto done;
    }
    if (strcmp(want.s, text) != 0) {
        fprintf(stderr, "  %s differs; got:\n%s", path, text);
        goto done;
    }
    ret = 0;
done:
    cn_buf_release(&want);
    free(path);
    free(rel);
    return ret;
}

static int
valid(const struct rdl_graph *g)
{
    struct cn_err err = CN_ERR_INIT;
    int rc = rdl_validate(g, &err);
    if (rc < 0)
        fprintf(stderr, "  invalid: %s\n", cn_err_msg(&err));
    cn_err_release(&err);
    return rc;
}

/* Builds the underlay of f and maps the request rel onto it. */
static int
fed_map(struct fed *f, const char *rel, struct rdl_graph **ret_ol, struct rdl_graph **ret_ml)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *ul = vnp_plan_underlay("vnp", f->pips, NPIPS, f->t, 3, &err);
    struct rdl_graph *ol = read_doc(rel), *ml = NULL;
    int ret = -1;
    if (!ul || !ol) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto done;
    }
    if (map_rdl_solve(ul, NULL, 0, ol, NULL, &ml, &err) < 0) {
        fprintf(stderr, "  map: %s\n", cn_err_msg(&err));
        goto done;
    }
    if (map_rdl_check(ul, NULL, 0, ol, ml, &err) < 0) {
        fprintf(stderr, "  check: %s\n", cn_err_msg(&err));
        goto done;
    }
    *ret_ol = ol;
    *ret_ml = ml;
    ol = ml = NULL;
    ret = 0;
done:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

/* One planning run: a federation, a request mapped onto it, and its partial graphs. */
struct plan {
    struct fed f;
    struct cn_err err;
    struct rdl_graph *ol, *ml;
    struct vnp_partial *parts;
    size_t n;
};

/* The federation is ready to be changed before plan_map. */
static void
plan_init(struct plan *p)
{
    memset(p, 0, sizeof(*p));
    cn_err_init(&p->err);
    fed_init(&p->f);
}

/* Maps the request rel onto the federation; 0, or -1 with the reason on stderr. */
static int
plan_map(struct plan *p, const char *rel)
{
    rdl_graph_free(p->ol);
    rdl_graph_free(p->ml);
    p->ol = p->ml = NULL;
    return fed_map(&p->f, rel, &p->ol, &p->ml);
}

/* Maps rel and cuts the mapping into partial graphs; 0, or -1 with the reason on stderr. */
static int
plan_run(struct plan *p, const char *rel)
{
    vnp_partials_free(p->parts, p->n);
    p->parts = NULL;
    p->n = 0;
    if (plan_map(p, rel) < 0)
        return -1;
    if (vnp_plan_partition(p->ol, p->ml, p->f.pips, NPIPS, p->f.t, 3, &p->parts, &p->n, &p->err) <
        0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&p->err));
        return -1;
    }
    return 0;
}

static void
plan_release(struct plan *p)
{
    vnp_partials_free(p->parts, p->n);
    rdl_graph_free(p->ol);
    rdl_graph_free(p->ml);
    cn_err_release(&p->err);
    fed_release(&p->f);
}

static const struct vnp_partial *
partial_of(const struct vnp_partial *p, size_t n, const char *pip)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].pip, pip) == 0)
            return &p[i];
    return NULL;
}

static bool
holds(const struct vnp_partial *p, const char *id)
{
    for (size_t i = 0; p && i < p->nelements; i++)
        if (strcmp(p->elements[i], id) == 0)
            return true;
    return false;
}

/* A number feature of an element of a partial graph, or -1. */
static double
partial_number(const struct vnp_partial *p, const char *id, const char *feature)
{
    struct rdl_graph *g = parse(p->pip, p->yaml);
    double v = -1;
    if (g) {
        const struct rdl_element *e = rdl_graph_element(g, id);
        if (e)
            v = rdl_props_number(rdl_element_features(e), feature, -1);
    }
    rdl_graph_free(g);
    return v;
}

/* A tag a partial graph must carry: PIP's copy of link has feature (vlan or wire_vlan) = tag. */
struct tag_want {
    const char *pip, *link, *feature;
    double tag;
};

/* Whether the plan's partial graphs carry every tag of want[0..n); the others on stderr. */
static bool
tags_are(const struct plan *pl, const struct tag_want *want, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const struct vnp_partial *p = partial_of(pl->parts, pl->n, want[i].pip);
        double got = p ? partial_number(p, want[i].link, want[i].feature) : -1;
        if (got != want[i].tag) {
            fprintf(stderr, "  %s: %s %s is %g, expected %g\n", want[i].pip, want[i].link,
                    want[i].feature, got, want[i].tag);
            ok = false;
        }
    }
    return ok;
}

/* ---- the underlay ---- */

static int
test_underlay(const void *data)
{
    (void)data;
    struct fed f;
    struct cn_err err = CN_ERR_INIT;
    fed_init(&f);
    struct rdl_graph *ul = vnp_plan_underlay("vnp-federation", f.pips, NPIPS, f.t, 3, &err);
    char *y = ul ? yaml_of(ul) : NULL;
    int ret = -1;
    if (!ul || valid(ul) < 0 || golden("underlay.yaml", y) < 0)
        goto done;
    const struct rdl_element *b = rdl_graph_element(ul, "berlin");
    const struct rdl_value *arch = rdl_props_get(rdl_element_features(b), "arch");
    if (rdl_graph_element_count(ul) != 6 || rdl_graph_interface_count(ul) != 6 || !arch ||
        rdl_value_kind(arch) != RDL_VALUE_LIST || rdl_value_list_len(arch) != 2 ||
        rdl_props_number(rdl_element_features(b), "generation", 0) != 3 ||
        !cn_streq(rdl_props_string(rdl_element_features(b), "forwarding"), "false") ||
        rdl_props_number(rdl_element_resources(b), "cpu", 0) != 112 ||
        !cn_streq(rdl_props_string(rdl_element_features(b), "location"), "DE"))
        goto done;
    ret = 0;
done:
    if (ret < 0)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    free(y);
    rdl_graph_free(ul);
    cn_err_release(&err);
    fed_release(&f);
    CHECK(ret == 0);
    return 0;
}

/* London does not answer: its node and both its transit links are left out. */
static int
test_underlay_silent_pip(const void *data)
{
    (void)data;
    struct fed f;
    struct cn_err err = CN_ERR_INIT;
    fed_init(&f);
    f.pips[LONDON].desc = NULL;
    struct rdl_graph *ul = vnp_plan_underlay("vnp", f.pips, NPIPS, f.t, 3, &err);
    bool ok = ul && valid(ul) == 0 && rdl_graph_element_count(ul) == 3 &&
              rdl_graph_element(ul, "berlin") && rdl_graph_element(ul, "paris") &&
              rdl_graph_element(ul, "berlin-paris") && !rdl_graph_element(ul, "london") &&
              !rdl_graph_element(ul, "paris-london") && !rdl_graph_element(ul, "berlin-london");
    rdl_graph_free(ul);
    cn_err_release(&err);
    fed_release(&f);
    CHECK(ok);
    return 0;
}

/* A configured transit link one end does not describe is left out; a duplicate PIP fails. */
static int
test_underlay_undescribed_transit(const void *data)
{
    (void)data;
    struct fed f;
    struct cn_err err = CN_ERR_INIT;
    fed_init(&f);
    struct vnp_transit_info *pl = transit_of(f.d[PARIS], "paris-london");
    free(pl->id);
    pl->id = xstrdup("paris-madrid");
    struct rdl_graph *ul = vnp_plan_underlay("vnp", f.pips, NPIPS, f.t, 3, &err);
    bool ok = ul && valid(ul) == 0 && rdl_graph_element_count(ul) == 5 &&
              !rdl_graph_element(ul, "paris-london") && rdl_graph_element(ul, "berlin-london");
    rdl_graph_free(ul);

    struct vnp_pip_view twice[2] = {f.pips[BERLIN], f.pips[BERLIN]};
    ul = vnp_plan_underlay("vnp", twice, 2, f.t, 3, &err);
    bool dup_refused = !ul && err.code == CN_E_INVALID && strstr(cn_err_msg(&err), "berlin");
    rdl_graph_free(ul);
    cn_err_release(&err);
    fed_release(&f);
    CHECK(ok);
    CHECK(dup_refused);
    return 0;
}

/* ---- partition ---- */

static int
test_spanning_common_tag(const void *data)
{
    (void)data;
    struct plan pl;
    int ret = -1;
    plan_init(&pl);
    if (plan_run(&pl, "../examples/spanning.yaml") < 0)
        goto done;
    const struct vnp_partial *parts = pl.parts;
    size_t n = pl.n;
    if (n != 3 || strcmp(parts[0].pip, "berlin") || strcmp(parts[1].pip, "paris") ||
        strcmp(parts[2].pip, "london"))
        goto done;
    const char *gold[3] = {"spanning-berlin.yaml", "spanning-paris.yaml", "spanning-london.yaml"};
    for (size_t i = 0; i < n; i++) {
        struct rdl_graph *g = parse(parts[i].pip, parts[i].yaml);
        int rc = g ? valid(g) : -1;
        if (g && strcmp(rdl_graph_name(g), "euro-shop") != 0)
            rc = -1;
        rdl_graph_free(g);
        if (rc < 0 || golden(gold[i], parts[i].yaml) < 0)
            goto done;
    }
    const struct vnp_partial *b = &parts[0], *p = &parts[1], *l = &parts[2];
    if (b->nelements != 5 || !holds(b, "front-de") || !holds(b, "db") || !holds(b, "de-db") ||
        !holds(b, "fr-db") || !holds(b, "db-reports") || p->nelements != 2 ||
        !holds(p, "front-fr") || !holds(p, "fr-db") || l->nelements != 2 || !holds(l, "reports") ||
        !holds(l, "db-reports"))
        goto done;
    /* One tag on both sides of each transit link, the lowest both may use. */
    static const struct tag_want tags[] = {
        {"berlin", "fr-db", "vlan", 3000},           {"paris", "fr-db", "vlan", 3000},
        {"paris", "fr-db", "wire_vlan", 3000},       {"berlin", "db-reports", "vlan", 3200},
        {"london", "db-reports", "wire_vlan", 3200},
    };
    if (!tags_are(&pl, tags, CN_ARRAY_SIZE(tags)))
        goto done;
    ret = 0;
done:
    plan_release(&pl);
    CHECK(ret == 0);
    return 0;
}

/*
 * Disjoint ranges on berlin-paris: each side its own tag, the wire carries
 * Berlin's (its name sorts first), whatever order the configuration names
 * the ends in.
 */
static int
test_translation(const void *data)
{
    (void)data;
    int ret = -1;
    for (int reversed = 0; reversed < 2; reversed++) {
        struct plan pl;
        plan_init(&pl);
        transit_of(pl.f.d[BERLIN], "berlin-paris")->last = 3049;
        transit_of(pl.f.d[PARIS], "berlin-paris")->first = 3050;
        if (reversed) {
            char *t = pl.f.t[0].pip[0];
            pl.f.t[0].pip[0] = pl.f.t[0].pip[1];
            pl.f.t[0].pip[1] = t;
        }
        static const struct tag_want tags[] = {
            {"berlin", "fr-db", "vlan", 3000},
            {"berlin", "fr-db", "wire_vlan", 3000},
            {"paris", "fr-db", "vlan", 3050},
            {"paris", "fr-db", "wire_vlan", 3000},
        };
        ret = -1;
        if (plan_run(&pl, "../examples/spanning.yaml") == 0 &&
            tags_are(&pl, tags, CN_ARRAY_SIZE(tags)) &&
            (reversed ||
             golden("translation-paris.yaml", partial_of(pl.parts, pl.n, "paris")->yaml) == 0))
            ret = 0;
        plan_release(&pl);
        if (ret < 0)
            break;
    }
    CHECK(ret == 0);
    return 0;
}

/*
 * The VNP's configuration narrows an end's tags; so do tags Paris does not
 * have free. The lowest tag left at both ends wins.
 */
static int
test_configured_range(const void *data)
{
    (void)data;
    struct plan pl;
    int ret = -1;
    plan_init(&pl);
    pl.f.t[0].first[1] = 3010;
    pl.f.d[PARIS]->vlan_ranges[1] = (struct vnp_vlan_range){3012, 3199};
    static const struct tag_want tags[] = {{"berlin", "fr-db", "vlan", 3012},
                                           {"paris", "fr-db", "wire_vlan", 3012}};
    if (plan_run(&pl, "../examples/spanning.yaml") == 0 && tags_are(&pl, tags, CN_ARRAY_SIZE(tags)))
        ret = 0;
    plan_release(&pl);
    CHECK(ret == 0);
    return 0;
}

/* Paris has no free tag in berlin-paris's range: CN_E_VLAN naming both, nothing returned. */
static int
test_no_tag(const void *data)
{
    (void)data;
    struct plan pl;
    /* Sentinels: a refusal must leave the out-parameters alone. */
    struct vnp_partial *parts = (struct vnp_partial *)&pl;
    size_t n = 42;
    int rc = -2;
    plan_init(&pl);
    if (plan_map(&pl, "../examples/spanning.yaml") == 0) {
        pl.f.d[PARIS]->vlan_ranges[1] = (struct vnp_vlan_range){3100, 3199};
        rc = vnp_plan_partition(pl.ol, pl.ml, pl.f.pips, NPIPS, pl.f.t, 3, &parts, &n, &pl.err);
    }
    const char *msg = cn_err_msg(&pl.err);
    bool named = strstr(msg, "berlin-paris") && strstr(msg, "'paris'");
    int code = pl.err.code;
    bool untouched = parts == (struct vnp_partial *)&pl && n == 42;
    plan_release(&pl);
    CHECK(rc == -1);
    CHECK(code == CN_E_VLAN);
    CHECK(named);
    CHECK(untouched);
    return 0;
}

/*
 * Vague values kept, same_as inside Berlin kept, same_as from Paris into
 * Berlin fixed on both sides, a link inside Berlin copied whole, and two
 * links over one transit link getting two tags.
 */
static int
test_mixed(const void *data)
{
    (void)data;
    struct plan pl;
    struct rdl_graph *gb = NULL, *gp = NULL;
    int ret = -1;
    plan_init(&pl);
    if (plan_run(&pl, "vnp-plan/mixed.yaml") < 0)
        goto done;
    const struct vnp_partial *parts = pl.parts;
    const struct rdl_graph *ml = pl.ml;
    if (pl.n != 2 || golden("mixed-berlin.yaml", parts[0].yaml) < 0 ||
        golden("mixed-paris.yaml", parts[1].yaml) < 0)
        goto done;
    gb = parse("berlin", parts[0].yaml);
    gp = parse("paris", parts[1].yaml);
    if (!gb || !gp || valid(gb) < 0 || valid(gp) < 0 || rdl_graph_level(gb) != 0)
        goto done;
    const struct rdl_element *a1 = rdl_graph_element(gb, "a1"), *a2 = rdl_graph_element(gb, "a2");
    const struct rdl_element *b1 = rdl_graph_element(gp, "b1");
    const struct rdl_element *a1a2 = rdl_graph_element(gb, "a1-a2");
    if (!a1 || !a2 || !b1 || !a1a2 || rdl_graph_element(gp, "a1"))
        goto done;
    /* Kept: the range of cpu, the list of images, the same_as inside Berlin. */
    if (rdl_value_kind(rdl_props_get(rdl_element_resources(a1), "cpu")) != RDL_VALUE_RANGE ||
        rdl_value_kind(rdl_props_get(rdl_element_features(a1), "image")) != RDL_VALUE_LIST ||
        !cn_streq(rdl_value_same_as(rdl_props_get(rdl_element_features(a2), "image")), "a1") ||
        rdl_value_kind(rdl_props_get(rdl_element_resources(a1a2), "bandwidth")) !=
            RDL_VALUE_RANGE ||
        !cn_streq(rdl_element_type(a1a2), "/link/generic"))
        goto done;
    /* Fixed: arch, which Paris's b1 shares with Berlin's a1, on both sides alike. */
    const char *fixed = rdl_props_string(rdl_map_entry_features(rdl_mapping_get(ml, "a1")), "arch");
    if (!cn_streq(fixed, "x86_64") ||
        !cn_streq(rdl_props_string(rdl_element_features(a1), "arch"), fixed) ||
        !cn_streq(rdl_props_string(rdl_element_features(b1), "arch"), fixed))
        goto done;
    /* Two links over berlin-paris: two tags; the latency share includes the transit link. */
    if (partial_number(&parts[0], "a1-b1", "vlan") != 3000 ||
        partial_number(&parts[1], "a2-b1", "vlan") != 3001 || rdl_graph_element_count(gp) != 4 ||
        !rdl_graph_element(gp, "transit:berlin-paris"))
        goto done;
    bool has_min, has_max;
    double min, max = 0;
    rdl_value_range(rdl_props_get(rdl_element_features(rdl_graph_element(gb, "a1-b1")), "latency"),
                    &has_min, &min, &has_max, &max);
    if (!has_max || max != 21)
        goto done;
    ret = 0;
done:
    rdl_graph_free(gb);
    rdl_graph_free(gp);
    plan_release(&pl);
    CHECK(ret == 0);
    return 0;
}

static const char two_pip_request[] = "rdl: 1\n"
                                      "kind: overlay\n"
                                      "name: hop\n"
                                      "elements:\n"
                                      "  x: {type: /node/host/generic}\n"
                                      "  y: {type: /node/host/generic}\n"
                                      "  x-y: {type: /link/generic, resources: {bandwidth: 1}}\n"
                                      "interfaces:\n"
                                      "  - {between: [x, x-y]}\n"
                                      "  - {between: [x-y, y]}\n";

/* Mapping documents inconsistent with the underlay are refused with a reason. */
static int
test_bad_mappings(const void *data)
{
    (void)data;
    static const struct {
        const char *map, *code_text;
        int code;
    } cases[] = {
        {"  x: {to: berlin}\n  y: {to: london}\n"
         "  x-y: {path: [berlin, berlin-paris, paris, paris-london, london]}\n",
         "more than one transit link", CN_E_INVALID},
        {"  x: {to: berlin}\n  y: {to: london}\n", "no entry for 'x-y'", CN_E_INVALID},
        {"  x: {to: berlin}\n  y: {to: madrid}\n  x-y: {path: [berlin]}\n", "madrid", CN_E_INVALID},
        {"  x: {to: berlin}\n  y: {to: paris}\n  x-y: {path: [berlin]}\n", "does not join",
         CN_E_INVALID},
        {"  x: {to: berlin}\n  y: {to: paris}\n  x-y: {path: [berlin, berlin-london, paris]}\n",
         "berlin-london", CN_E_INVALID},
    };
    struct rdl_graph *ol = parse("hop", two_pip_request);
    CHECK(ol);
    int bad = 0;
    for (size_t i = 0; i < CN_ARRAY_SIZE(cases); i++) {
        struct fed f;
        struct cn_err err = CN_ERR_INIT;
        fed_init(&f);
        char *text = xasprintf("rdl: 1\nkind: mapping\nname: hop\noverlay: hop\n"
                               "underlay: vnp\nmap:\n%s",
                               cases[i].map);
        struct rdl_graph *ml = parse("ml", text);
        struct vnp_partial *parts = NULL;
        size_t n = 0;
        int rc = ml ? vnp_plan_partition(ol, ml, f.pips, NPIPS, f.t, 3, &parts, &n, &err) : 0;
        if (rc != -1 || err.code != cases[i].code ||
            !strstr(cn_err_msg(&err), cases[i].code_text) || parts) {
            fprintf(stderr, "  case %zu: rc %d, %s\n", i, rc, cn_err_msg(&err));
            bad++;
        }
        vnp_partials_free(parts, n);
        rdl_graph_free(ml);
        free(text);
        cn_err_release(&err);
        fed_release(&f);
    }
    rdl_graph_free(ol);
    CHECK(bad == 0);
    return 0;
}

/* ---- end to end: each PIP maps its partial graph onto its substrate ---- */

static int
map_at_pip(const char *substrate, const char *yaml, const char *link, const char *border)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *ul = read_doc(substrate), *ol = parse("partial", yaml), *ml = NULL;
    int ret = -1;
    if (!ul || !ol)
        goto done;
    if (map_rdl_solve(ul, NULL, 0, ol, NULL, &ml, &err) < 0 ||
        map_rdl_check(ul, NULL, 0, ol, ml, &err) < 0) {
        fprintf(stderr, "  %s: %s\n", substrate, cn_err_msg(&err));
        goto done;
    }
    /* The crossing link ends on the border node, over the transit link, and so does the stub. */
    const struct rdl_map_entry *m = rdl_mapping_get(ml, link);
    size_t n = m ? rdl_map_entry_path_len(m) : 0;
    const char *stub_host = NULL;
    for (size_t i = 0; i < rdl_mapping_count(ml); i++)
        if (cn_startswith(rdl_map_entry_id(rdl_mapping_at(ml, i)), "transit:") &&
            cn_streq(rdl_map_entry_to(rdl_mapping_at(ml, i)), border))
            stub_host = border;
    if (n < 3 || !stub_host ||
        (!cn_streq(rdl_map_entry_path_at(m, 0), border) &&
         !cn_streq(rdl_map_entry_path_at(m, n - 1), border))) {
        fprintf(stderr, "  %s: '%s' does not end at '%s'\n", substrate, link, border);
        goto done;
    }
    ret = 0;
done:
    rdl_graph_free(ul);
    rdl_graph_free(ol);
    rdl_graph_free(ml);
    cn_err_release(&err);
    return ret;
}

/* Where a partial graph's link crosses to another PIP, and the border node it must end at. */
static const struct crossing {
    const char *request, *pip, *link, *border;
} crossings[] = {
    {"../examples/spanning.yaml", "berlin", "fr-db", "paris-border"},
    {"../examples/spanning.yaml", "berlin", "db-reports", "london-border"},
    {"../examples/spanning.yaml", "paris", "fr-db", "berlin-border"},
    {"vnp-plan/mixed.yaml", "berlin", "a2-b1", "paris-border"},
    {"vnp-plan/mixed.yaml", "paris", "a1-b1", "berlin-border"},
};

static int
test_end_to_end(const void *data)
{
    (void)data;
    struct plan pl;
    const char *planned = NULL;
    int ret = 0;
    plan_init(&pl);
    for (size_t i = 0; i < CN_ARRAY_SIZE(crossings) && ret == 0; i++) {
        const struct crossing *c = &crossings[i];
        if (!cn_streq(planned, c->request)) {
            planned = c->request;
            if (plan_run(&pl, c->request) < 0) {
                ret = -1;
                break;
            }
        }
        const struct vnp_partial *part = partial_of(pl.parts, pl.n, c->pip);
        char *substrate = xasprintf("vnp-plan/pip-%s.yaml", c->pip);
        if (!part || map_at_pip(substrate, part->yaml, c->link, c->border) < 0) {
            fprintf(stderr, "  crossing %zu: %s at %s\n", i, c->link, c->pip);
            ret = -1;
        }
        free(substrate);
    }
    plan_release(&pl);
    CHECK(ret == 0);
    return 0;
}

/* ---- modify ---- */

/*
 * A modify re-plans the same request while its PIPs hold its tags (the
 * grants say so too): with the kept tags every crossing link keeps them;
 * without, it gets others; a kept tag whose far end disagrees on the wire
 * is not kept.
 */
static int
test_keep_tags(const void *data)
{
    (void)data;
    struct plan pl;
    struct vnp_kept_tag *kept = NULL;
    size_t nkept = 0;
    struct vnp_partial *again = NULL, *fresh = NULL, *odd = NULL;
    size_t nagain = 0, nfresh = 0, nodd = 0;
    struct vnp_taken_tags taken[NPIPS] = {{NULL, 0}};
    int ret = -1;
    plan_init(&pl);
    if (plan_run(&pl, "../examples/spanning.yaml") < 0)
        goto done;
    for (size_t i = 0; i < pl.n; i++)
        if (vnp_plan_kept_tags(pl.parts[i].pip, pl.parts[i].yaml, &kept, &nkept, &pl.err) < 0)
            goto done;
    /* fr-db at berlin and paris, db-reports at berlin and london. */
    if (nkept != 4)
        goto done;
    for (int p = 0; p < NPIPS; p++) {
        const struct vnp_partial *part = partial_of(pl.parts, pl.n, pl.f.pips[p].name);
        if (part)
            taken[p] = (struct vnp_taken_tags){part->tags, part->ntags};
    }
    if (vnp_plan_partition_keep(pl.ol, pl.ml, pl.f.pips, NPIPS, taken, kept, nkept, pl.f.t, 3,
                                &again, &nagain, &pl.err) < 0 ||
        vnp_plan_partition_except(pl.ol, pl.ml, pl.f.pips, NPIPS, taken, pl.f.t, 3, &fresh, &nfresh,
                                  &pl.err) < 0)
        goto done;
    for (size_t i = 0; i < pl.n; i++)
        if (i >= nagain || strcmp(again[i].yaml, pl.parts[i].yaml) != 0)
            goto done;
    if (partial_number(partial_of(fresh, nfresh, "paris"), "fr-db", "vlan") == 3000 ||
        partial_number(partial_of(fresh, nfresh, "berlin"), "fr-db", "vlan") == 3000)
        goto done;
    for (size_t k = 0; k < nkept; k++)
        if (strcmp(kept[k].pip, "paris") == 0)
            kept[k].wire = 3098;
    if (vnp_plan_partition_keep(pl.ol, pl.ml, pl.f.pips, NPIPS, taken, kept, nkept, pl.f.t, 3, &odd,
                                &nodd, &pl.err) < 0 ||
        partial_number(partial_of(odd, nodd, "paris"), "fr-db", "vlan") == 3000 ||
        partial_number(partial_of(odd, nodd, "london"), "db-reports", "vlan") != 3200)
        goto done;
    ret = 0;
done:
    if (ret < 0)
        fprintf(stderr, "  %s\n", cn_err_msg(&pl.err));
    vnp_partials_free(again, nagain);
    vnp_partials_free(fresh, nfresh);
    vnp_partials_free(odd, nodd);
    vnp_kept_tags_free(kept, nkept);
    plan_release(&pl);
    CHECK(ret == 0);
    return 0;
}

/* Adds to want[p] the CPUs the plan's mapping fixed for the nodes it put at PIP p. */
static void
mapped_cpu(const struct plan *pl, double *want)
{
    for (size_t i = 0; i < rdl_graph_element_count(pl->ol); i++) {
        const struct rdl_element *e = rdl_graph_element_at(pl->ol, i);
        const struct rdl_map_entry *m = rdl_mapping_get(pl->ml, rdl_element_id(e));
        for (int p = 0; p < NPIPS && rdl_element_is_node(e) && m; p++)
            if (cn_streq(rdl_map_entry_to(m), pl->f.pips[p].name))
                want[p] += rdl_props_number(rdl_map_entry_resources(m), "cpu", 0);
    }
}

/* The request's own resources count as free again where its mapping put its nodes. */
static int
test_add_back(const void *data)
{
    (void)data;
    struct plan pl;
    struct rdl_graph *ul = NULL;
    double want[NPIPS] = {0}, before[NPIPS], after[NPIPS];
    int ret = -1;
    plan_init(&pl);
    if (plan_map(&pl, "../examples/spanning.yaml") < 0)
        goto done;
    ul = vnp_plan_underlay("vnp", pl.f.pips, NPIPS, pl.f.t, 3, &pl.err);
    if (!ul)
        goto done;
    mapped_cpu(&pl, want);
    for (int p = 0; p < NPIPS; p++)
        before[p] = rdl_props_number(
            rdl_element_resources(rdl_graph_element(ul, pl.f.pips[p].name)), "cpu", 0);
    if (vnp_plan_add_back(ul, pl.ml, pl.ol) <= 0)
        goto done;
    for (int p = 0; p < NPIPS; p++) {
        after[p] = rdl_props_number(rdl_element_resources(rdl_graph_element(ul, pl.f.pips[p].name)),
                                    "cpu", 0);
        if (after[p] != before[p] + want[p]) {
            fprintf(stderr, "  %s: cpu %g, expected %g + %g\n", pl.f.pips[p].name, after[p],
                    before[p], want[p]);
            goto done;
        }
    }
    if (want[BERLIN] <= 0)
        goto done;
    ret = 0;
done:
    rdl_graph_free(ul);
    plan_release(&pl);
    CHECK(ret == 0);
    return 0;
}

/* ---- manifest ---- */

static int
test_manifest(const void *data)
{
    (void)data;
    struct rdl_graph *ml = read_doc("vnp-plan/spanning-vnp-mapping.yaml"), *out = NULL;
    char *texts[3] = {test_fixture("vnp-plan/manifest-berlin.yaml"),
                      test_fixture("vnp-plan/manifest-paris.yaml"),
                      test_fixture("vnp-plan/manifest-london.yaml")};
    struct vnp_pip_manifest parts[3] = {
        {"berlin", texts[0]}, {"paris", texts[1]}, {"london", texts[2]}};
    struct cn_err err = CN_ERR_INIT;
    char *y = NULL, *y2 = NULL, *y3 = NULL;
    int ret = -1;
    if (!ml || !texts[0] || !texts[1] || !texts[2])
        goto done;
    y = vnp_plan_manifest(ml, parts, 3, &err);
    if (!y || golden("manifest.yaml", y) < 0 || !(out = parse("manifest", y)) || valid(out) < 0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto done;
    }
    const struct rdl_map_entry *fd = rdl_mapping_get(out, "front-de");
    const struct rdl_map_entry *ff = rdl_mapping_get(out, "front-fr");
    const struct rdl_map_entry *fr = rdl_mapping_get(out, "fr-db");
    const struct rdl_map_entry *dr = rdl_mapping_get(out, "db-reports");
    const struct rdl_map_entry *dd = rdl_mapping_get(out, "de-db");
    if (!fd || !ff || !fr || !dr || !dd || rdl_mapping_get(out, "transit:berlin-paris") ||
        !cn_streq(rdl_props_string(rdl_map_entry_features(fd), "host"), "h1") ||
        !cn_streq(rdl_props_string(rdl_map_entry_features(fd), "pip"), "berlin") ||
        !cn_streq(rdl_props_string(rdl_map_entry_features(fd), "console"), "netns:cn-front-de") ||
        !cn_streq(rdl_props_string(rdl_map_entry_features(ff), "host"), "p1") ||
        rdl_props_get(rdl_map_entry_features(ff), "console") || rdl_map_entry_vlan(fr) != 3050 ||
        !cn_streq(rdl_props_string(rdl_map_entry_features(fr), "vlans"),
                  "paris=3050,berlin=3000") ||
        !cn_streq(rdl_props_string(rdl_map_entry_features(fr), "pip"), "paris,berlin") ||
        rdl_map_entry_vlan(dr) != 3200 || rdl_props_get(rdl_map_entry_features(dr), "vlans") ||
        rdl_map_entry_vlan(dd) != 101 || rdl_map_entry_path_len(fr) != 3)
        goto done;
    /* A PIP's manifest missing, or missing an element: refused, naming them. */
    cn_err_clear(&err);
    y2 = vnp_plan_manifest(ml, parts, 2, &err);
    if (y2 || err.code != CN_E_INVALID || !strstr(cn_err_msg(&err), "london"))
        goto done;
    cn_err_clear(&err);
    struct vnp_pip_manifest short_parts[3] = {parts[0], parts[1], {"london", texts[1]}};
    y3 = vnp_plan_manifest(ml, short_parts, 3, &err);
    if (y3 || err.code != CN_E_INVALID || !strstr(cn_err_msg(&err), "reports"))
        goto done;
    ret = 0;
done:
    free(y);
    free(y2);
    free(y3);
    for (int i = 0; i < 3; i++)
        free(texts[i]);
    rdl_graph_free(out);
    rdl_graph_free(ml);
    cn_err_release(&err);
    CHECK(ret == 0);
    return 0;
}

/* ---- the VNP's own description ---- */

static double
amount(const struct vnp_amount *a, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i].name, name) == 0)
            return a[i].value;
    return -1;
}

static const struct vnp_feature_values *
feature_of(const struct vnp_description *d, const char *name)
{
    for (size_t i = 0; i < d->nfeatures; i++)
        if (strcmp(d->features[i].name, name) == 0)
            return &d->features[i];
    return NULL;
}

static int
test_describe(const void *data)
{
    (void)data;
    struct fed f;
    fed_init(&f);
    f.pips[LONDON].desc = NULL;
    struct vnp_description *d = vnp_plan_describe("vnp", "1.0", f.pips, NPIPS);
    const struct vnp_feature_values *arch = feature_of(d, "arch");
    const struct vnp_feature_values *loc = feature_of(d, "location");
    bool ok = cn_streq(d->name, "vnp") && cn_streq(d->version, "1.0") &&
              amount(d->resources, d->nresources, "cpu") == 112 + 96 &&
              amount(d->capacity, d->ncapacity, "memory") == 2 * (425984 + 393216) &&
              amount(d->largest_free, d->nlargest_free, "cpu") == 28 && arch &&
              arch->nvalues == 2 && loc && loc->nvalues == 2 && feature_of(d, "generation") &&
              d->nvlan_ranges == 0 && d->ntransits == 0;
    vnp_description_free(d);
    struct vnp_description *none = vnp_plan_describe("empty", "1.0", f.pips, 0);
    bool empty_ok = none->nresources == 0 && none->nfeatures == 0 && cn_streq(none->name, "empty");
    vnp_description_free(none);
    fed_release(&f);
    CHECK(ok);
    CHECK(empty_ok);
    return 0;
}

/* ---- what a broker handed out since a description ---- */

/* The resources a mapping fixed at each PIP, and a view less them. */
static int
test_view_minus(const void *data)
{
    (void)data;
    struct plan pl;
    struct vnp_amount *used[NPIPS] = {NULL};
    size_t nused[NPIPS] = {0};
    struct vnp_description *less = NULL, *over = NULL, *same = NULL;
    struct rdl_graph *ul = NULL;
    double want[NPIPS] = {0}, total = 0;
    plan_init(&pl);
    CHECK(plan_map(&pl, "../examples/spanning.yaml") == 0);
    mapped_cpu(&pl, want);
    for (int p = 0; p < NPIPS; p++) {
        vnp_plan_used_at(pl.ml, pl.ol, pl.f.pips[p].name, &used[p], &nused[p]);
        double cpu = want[p] > 0 ? amount(used[p], nused[p], "cpu") : 0;
        if (cpu != want[p])
            fprintf(stderr, "  %s: %g CPUs used, expected %g\n", pl.f.pips[p].name, cpu, want[p]);
        CHECK(cpu == want[p]);
        total += cpu;
    }
    /* Every VNode of the request counted once: 2 + 2 + 8 + 2 CPUs. */
    CHECK(total == 14);
    CHECK(want[BERLIN] > 0 && amount(used[BERLIN], nused[BERLIN], "memory") > 0);

    const struct vnp_description *b = pl.f.d[BERLIN];
    less = vnp_plan_view_minus(b, used[BERLIN], nused[BERLIN]);
    CHECK(amount(less->resources, less->nresources, "cpu") == 112 - want[BERLIN]);
    CHECK(amount(less->resources, less->nresources, "memory") ==
          425984 - amount(used[BERLIN], nused[BERLIN], "memory"));
    CHECK(amount(less->capacity, less->ncapacity, "cpu") == 224);
    CHECK(amount(less->largest_free, less->nlargest_free, "cpu") == 28);
    CHECK_STR(less->name, "berlin");
    CHECK(less->nfeatures == b->nfeatures && feature_of(less, "hypervisor") &&
          feature_of(less, "hypervisor")->nvalues == 2);
    CHECK(less->nvlan_ranges == 2 && less->vlan_ranges[1].first == 3000);
    CHECK(less->ntransits == 2 && cn_streq(less->transits[1].id, "berlin-london") &&
          less->transits[1].first == 3200);
    /* The original is untouched. */
    CHECK(amount(b->resources, b->nresources, "cpu") == 112);

    /* More than is free: nothing left, not less; an unknown resource is no new one. */
    char cpu_name[] = "cpu", gpu_name[] = "gpu";
    struct vnp_amount big[2] = {{.name = cpu_name, .value = 1000}, {.name = gpu_name, .value = 4}};
    over = vnp_plan_view_minus(b, big, 2);
    CHECK(amount(over->resources, over->nresources, "cpu") == 0);
    CHECK(amount(over->largest_free, over->nlargest_free, "cpu") == 0);
    CHECK(amount(over->resources, over->nresources, "memory") == 425984);
    CHECK(over->nresources == 3 && amount(over->resources, over->nresources, "gpu") == -1);
    same = vnp_plan_view_minus(b, NULL, 0);
    CHECK(amount(same->resources, same->nresources, "cpu") == 112);
    CHECK(amount(same->largest_free, same->nlargest_free, "memory") == 425984 / 4);

    /* The underlay of the lessened view offers what is left. */
    pl.f.pips[BERLIN].desc = less;
    ul = vnp_plan_underlay("vnp", pl.f.pips, NPIPS, pl.f.t, 3, &pl.err);
    CHECK(ul);
    CHECK(rdl_props_number(rdl_element_resources(rdl_graph_element(ul, "berlin")), "cpu", 0) ==
          112 - want[BERLIN]);
    pl.f.pips[BERLIN].desc = b;

    rdl_graph_free(ul);
    vnp_description_free(same);
    vnp_description_free(over);
    vnp_description_free(less);
    for (int p = 0; p < NPIPS; p++)
        vnp_plan_amounts_free(used[p], nused[p]);
    plan_release(&pl);
    return 0;
}

/* The bandwidth on each transit link of f: what the underlay built from it offers. */
static double
transit_bw(const struct rdl_graph *ul, const char *id)
{
    const struct rdl_element *e = rdl_graph_element(ul, id);
    return e ? rdl_props_number(rdl_element_resources(e), "bandwidth", -1) : -1;
}

/* What the VNP put on its transit links comes off their bandwidth, nothing else. */
static int
test_transit_minus(const void *data)
{
    (void)data;
    struct plan pl;
    struct vnp_amount *used = NULL, *again = NULL;
    size_t nused = 0, nagain = 0;
    struct rdl_graph *ul = NULL, *reread = NULL, *ml = NULL;
    double want[3] = {0}, total = 0;
    char *doc = NULL;
    plan_init(&pl);
    CHECK(plan_map(&pl, "../examples/spanning.yaml") == 0);
    /* Expected: each crossing link's bandwidth on the transit link its path takes. */
    for (size_t i = 0; i < rdl_graph_element_count(pl.ol); i++) {
        const struct rdl_element *e = rdl_graph_element_at(pl.ol, i);
        const struct rdl_map_entry *m = rdl_mapping_get(pl.ml, rdl_element_id(e));
        if (!rdl_element_is_link(e) || !m || rdl_map_entry_path_len(m) != 3)
            continue;
        for (int t = 0; t < 3; t++)
            if (cn_streq(rdl_map_entry_path_at(m, 1), pl.f.t[t].id))
                want[t] += rdl_props_number(rdl_element_resources(e), "bandwidth", 0);
    }
    vnp_plan_transit_used(pl.ml, pl.ol, &used, &nused);
    for (int t = 0; t < 3; t++) {
        double got = amount(used, nused, pl.f.t[t].id);
        if ((want[t] > 0 ? got : 0) != want[t])
            fprintf(stderr, "  %s: %g used, expected %g\n", pl.f.t[t].id, got, want[t]);
        CHECK((want[t] > 0 ? got : 0) == want[t]);
        CHECK(want[t] > 0 || got == -1);
        total += want[t];
    }
    /* Internal links hold no transit bandwidth; the crossing ones do. */
    CHECK(total > 0 && total < 500 + 200 + 50 + 1000);
    CHECK(amount(used, nused, "berlin") == -1 && amount(used, nused, "de-db") == -1);

    /* The mapping read back from its document (what the store keeps) gives the same. */
    doc = yaml_of(pl.ml);
    reread = parse("manifest", doc);
    CHECK(reread);
    vnp_plan_transit_used(reread, pl.ol, &again, &nagain);
    CHECK(nagain == nused);
    for (size_t i = 0; i < nused; i++)
        CHECK(amount(again, nagain, used[i].name) == used[i].value);

    ul = vnp_plan_underlay("vnp", pl.f.pips, NPIPS, pl.f.t, 3, &pl.err);
    CHECK(ul);
    double cpu = rdl_props_number(rdl_element_resources(rdl_graph_element(ul, "berlin")), "cpu", 0);
    CHECK(vnp_plan_transit_minus(ul, used, nused) == (int)nused);
    for (int t = 0; t < 3; t++)
        CHECK(transit_bw(ul, pl.f.t[t].id) == pl.f.t[t].bandwidth - want[t]);
    CHECK(rdl_props_number(rdl_element_resources(rdl_graph_element(ul, "berlin")), "cpu", 0) ==
          cpu);

    /* More than is left: nothing, not less; a PIP node or an unknown id is no transit link. */
    char bp[] = "berlin-paris", pip[] = "berlin", unknown[] = "nowhere";
    struct vnp_amount big[3] = {
        {.name = bp, .value = 1e6}, {.name = pip, .value = 8}, {.name = unknown, .value = 1}};
    CHECK(vnp_plan_transit_minus(ul, big, 3) == 1);
    CHECK(transit_bw(ul, "berlin-paris") == 0);
    CHECK(rdl_props_number(rdl_element_resources(rdl_graph_element(ul, "berlin")), "cpu", 0) ==
          cpu);
    CHECK(!rdl_graph_element(ul, "nowhere"));
    CHECK(vnp_plan_transit_minus(ul, NULL, 0) == 0);

    /* With every transit link taken, a request that must cross one does not map. */
    char pl_[] = "paris-london", bl[] = "berlin-london";
    struct vnp_amount all[2] = {{.name = pl_, .value = 1e6}, {.name = bl, .value = 1e6}};
    CHECK(vnp_plan_transit_minus(ul, all, 2) == 2);
    struct map_options opts;
    map_options_init(&opts);
    opts.objective = "cost";
    cn_err_clear(&pl.err);
    CHECK(map_rdl_solve(ul, NULL, 0, pl.ol, &opts, &ml, &pl.err) < 0);
    CHECK(!ml && pl.err.count > 0);

    rdl_graph_free(ml);
    rdl_graph_free(ul);
    rdl_graph_free(reread);
    free(doc);
    vnp_plan_amounts_free(again, nagain);
    vnp_plan_amounts_free(used, nused);
    plan_release(&pl);
    return 0;
}

int
main(void)
{
    TEST_RUN("underlay from three descriptions", test_underlay, NULL);
    TEST_RUN("underlay without a silent PIP and its transits", test_underlay_silent_pip, NULL);
    TEST_RUN("underlay without an undescribed transit", test_underlay_undescribed_transit, NULL);
    TEST_RUN("spanning request, common tags", test_spanning_common_tag, NULL);
    TEST_RUN("disjoint ranges translate", test_translation, NULL);
    TEST_RUN("configured and free ranges narrow the tag", test_configured_range, NULL);
    TEST_RUN("no tag at one end is CN_E_VLAN", test_no_tag, NULL);
    TEST_RUN("vague kept, same_as kept or fixed, two tags", test_mixed, NULL);
    TEST_RUN("inconsistent mappings refused", test_bad_mappings, NULL);
    TEST_RUN("partial graphs map onto PIP substrates", test_end_to_end, NULL);
    TEST_RUN("a modify keeps the crossing links' tags", test_keep_tags, NULL);
    TEST_RUN("a modify counts the request's own resources as free", test_add_back, NULL);
    TEST_RUN("manifest merged from PIP manifests", test_manifest, NULL);
    TEST_RUN("the VNP's own description", test_describe, NULL);
    TEST_RUN("a view less the resources handed out since", test_view_minus, NULL);
    TEST_RUN("transit bandwidth handed out comes off the underlay", test_transit_minus, NULL);
    return test_summary();
}
