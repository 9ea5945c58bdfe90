/*
 * Tests of the RDL writer, matching, completion and drawing, in the style
 * of libvirt's xml2xml tests: tables of cases, one line per case.
 *
 *   - writer golden files: tests/rdl-in/NAME.yaml, read and written, must
 *     give tests/rdl-out/NAME.yaml byte for byte; writing is a fixpoint and
 *     what is read back equals what was written;
 *   - every YAML file of tests/rdl-in and examples round-trips the same way
 *     (so no example goes stale);
 *   - completion golden files (tests/rdl-complete-in -> rdl-complete-out)
 *     and completion failures with their exact messages;
 *   - type fit, value admission, feature and resource matching;
 *   - DOT output; graph copy, equality and element removal.
 *
 * Set RDL_TEST_REGENERATE=1 to rewrite the golden files from the current
 * output (then read the diff before committing it).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RDL_PRIV_H_ALLOW
#include "rdl/rdl_priv.h"
#include "tests/testlib.h"

/* ---- helpers ---- */

static char *
path_of(const char *dir, const char *name)
{
    return xasprintf("%s/%s/%s", test_srcdir(), dir, name);
}

static bool
regenerate(void)
{
    const char *r = getenv("RDL_TEST_REGENERATE");
    return r && *r && strcmp(r, "0") != 0;
}

static int
read_text(const char *path, struct cn_buf *out)
{
    if (cn_buf_read_file(out, path, RDL_MAX_DOCUMENT_BYTES) < 0) {
        fprintf(stderr, "  cannot read %s\n", path);
        return -1;
    }
    return 0;
}

static int
write_text(const char *path, const struct cn_buf *b)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(b->s, 1, b->len, f);
    return fclose(f) == 0 && n == b->len ? 0 : -1;
}

static struct rdl_graph *
read_or_report(const char *path)
{
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct rdl_graph *g = rdl_read_file(path, &err);
    if (!g)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    cn_err_release(&err);
    return g;
}

/* Shows the first line where two texts differ. */
static void
show_difference(const char *what, const char *got, const char *want)
{
    int line = 1;
    const char *g = got, *w = want;
    while (*g && *g == *w) {
        if (*g == '\n')
            line++;
        g++;
        w++;
    }
    while (g > got && g[-1] != '\n') {
        g--;
        w--;
    }
    fprintf(stderr, "  %s differs at line %d\n    got:      %.*s\n    expected: %.*s\n", what, line,
            (int)strcspn(g, "\n"), g, (int)strcspn(w, "\n"), w);
}

/*
 * Writes g, reads the bytes back, writes again: the two writes must be the
 * same bytes and the graph read back equal to g. Hands out the bytes.
 */
static int
round_trip(const struct rdl_graph *g, struct cn_buf *ret_bytes)
{
    int ret = -1;
    struct cn_buf b1 = CN_BUF_INIT, b2 = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g2 = NULL;
    cn_buf_init(&b1);
    cn_buf_init(&b2);
    cn_err_init(&err);

    if (rdl_write(g, &b1, &err) < 0) {
        fprintf(stderr, "  write: %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    g2 = rdl_read_string("written", b1.s, b1.len, &err);
    if (!g2) {
        fprintf(stderr, "  reading the written form: %s\n%s", cn_err_msg(&err), b1.s);
        goto cleanup;
    }
    if (!rdl_graph_equal(g, g2)) {
        fprintf(stderr, "  the graph read back differs from the one written:\n%s", b1.s);
        goto cleanup;
    }
    if (rdl_write(g2, &b2, &err) < 0 || strcmp(b1.s, b2.s) != 0) {
        show_difference("second write", b2.s, b1.s);
        goto cleanup;
    }
    if (ret_bytes)
        cn_buf_add(ret_bytes, b1.s, b1.len);
    ret = 0;

cleanup:
    rdl_graph_free(g2);
    cn_buf_release(&b1);
    cn_buf_release(&b2);
    cn_err_release(&err);
    return ret;
}

/* Compares got with the golden file, or rewrites it when regenerating. */
static int
check_golden(const char *path, const struct cn_buf *got)
{
    struct cn_buf want = CN_BUF_INIT;
    cn_buf_init(&want);
    int ret = -1;
    if (regenerate()) {
        ret = write_text(path, got);
        goto cleanup;
    }
    if (read_text(path, &want) < 0)
        goto cleanup;
    if (strcmp(got->s, want.s) != 0) {
        show_difference(path, got->s, want.s);
        goto cleanup;
    }
    ret = 0;
cleanup:
    cn_buf_release(&want);
    return ret;
}

/* ---- writer golden files ---- */

static int
test_writer_golden(const void *data)
{
    const char *name = data;
    char *file = xasprintf("%s.yaml", name);
    char *in = path_of("rdl-in", file);
    char *out = path_of("rdl-out", file);
    struct cn_buf bytes = CN_BUF_INIT;
    cn_buf_init(&bytes);
    int ret = -1;

    struct rdl_graph *g = read_or_report(in);
    if (!g || round_trip(g, &bytes) < 0 || check_golden(out, &bytes) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    rdl_graph_free(g);
    cn_buf_release(&bytes);
    free(file);
    free(in);
    free(out);
    return ret;
}

/* Reads path and checks the round trip; any valid document must pass. */
static int
test_round_trip_file(const void *data)
{
    struct rdl_graph *g = read_or_report(data);
    int ret = g ? round_trip(g, NULL) : -1;
    rdl_graph_free(g);
    return ret;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs fn on every .yaml file of DIR (under the source tree), in name order. */
static void
run_on_dir(const char *dir, const char *label, int (*fn)(const void *))
{
    char *path = xasprintf("%s/%s", test_srcdir(), dir);
    DIR *d = opendir(path);
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (!d) {
        printf("FAIL %s: cannot open %s\n", label, path);
        test_failed++;
        free(path);
        return;
    }
    for (struct dirent *de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0) {
            CN_GROW(names, cap, n + 1);
            names[n++] = xstrdup(de->d_name);
        }
    }
    closedir(d);
    if (n == 0) {
        printf("FAIL %s: no .yaml file in %s\n", label, path);
        test_failed++;
    }
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char *file = xasprintf("%s/%s", path, names[i]);
        char *title = xasprintf("%s %s", label, names[i]);
        TEST_RUN(title, fn, file);
        free(title);
        free(file);
        free(names[i]);
    }
    free(names);
    free(path);
}

/* ---- in-memory writing ---- */

static struct rdl_graph *
quoting_graph(void)
{
    static const char *const strings[] = {
        "12",       "1.5",         "-3",    "+4",          "0x10",   "1e5",   ".5",     "true",
        "False",    "NULL",        "~",     "yes",         "No",     "on",    "y",      "inf",
        ".nan",     "-.inf",       "",      " ",           "a b",    " lead", "trail ", "x:y",
        "x: y",     "#x",          "a #b",  "-",           "-x",     "?x",    "[x]",    "{y}",
        "a,b",      "@x",          "`x",    "!x",          "&x",     "*x",    "|x",     ">x",
        "%x",       "'x'",         "\"q\"", "back\\slash", "tab\tx", "nl\nx", "cr\rx",  "bell\ax",
        "del\x7fx", "Zürich",      "日本",  "debian-12",   "x86_64", "/a/b",  "_u",     "a.b",
        "DE",       "ubuntu-24.04"};
    struct rdl_graph *g = rdl_graph_new(RDL_OVERLAY, "quoting");
    struct rdl_element *e = rdl_graph_add_element(g, "n", "/node/host/generic", NULL);
    struct rdl_value *list = rdl_value_new_list();
    for (size_t i = 0; i < CN_ARRAY_SIZE(strings); i++) {
        char name[32];
        snprintf(name, sizeof(name), "s%zu", i);
        rdl_props_set_string(rdl_element_features_mut(e), name, strings[i]);
        rdl_value_list_append(list, rdl_value_new_string(strings[i]));
    }
    rdl_props_set(rdl_element_features_mut(e), "all", list);
    /* Ids may start with a digit and hold ':' and '.'. */
    rdl_graph_add_element(g, "10", "/node/host/generic", NULL);
    rdl_graph_add_element(g, "a:b", "/link/generic", NULL);
    rdl_graph_add_element(g, "x.y-z", "/node/host/generic", NULL);
    rdl_graph_add_interface(g, "10", "a:b", NULL);
    rdl_graph_add_interface(g, "a:b", "x.y-z", NULL);
    return g;
}

static int
test_write_quoting(const void *data)
{
    (void)data;
    struct rdl_graph *g = quoting_graph();
    int ret = round_trip(g, NULL);
    rdl_graph_free(g);
    return ret;
}

static int
test_write_numbers(const void *data)
{
    (void)data;
    static const double numbers[] = {0,
                                     -0.0,
                                     1,
                                     -1,
                                     2048,
                                     0.1,
                                     0.2,
                                     1.0 / 3,
                                     2.0 / 3,
                                     1e15,
                                     1e16,
                                     123456789012345678.0,
                                     1e-7,
                                     1e300,
                                     -1e-300,
                                     5e-324,
                                     1.7976931348623157e308,
                                     14.2,
                                     0.30000000000000004};
    struct rdl_graph *g = rdl_graph_new(RDL_UNDERLAY, "numbers");
    struct rdl_element *e = rdl_graph_add_element(g, "n", "/node/host/server", NULL);
    for (size_t i = 0; i < CN_ARRAY_SIZE(numbers); i++) {
        char name[32];
        snprintf(name, sizeof(name), "r%zu", i);
        /* Features, because negative resources are refused by the reader. */
        rdl_props_set_number(rdl_element_features_mut(e), name, numbers[i]);
    }
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    int ret = round_trip(g, &b);
    /* Integers carry no decimal point and short decimals stay short. */
    if (ret == 0 && (!strstr(b.s, "r4: 2048,") || !strstr(b.s, "r5: 0.1,") ||
                     !strstr(b.s, "r17: 14.2,") || !strstr(b.s, "r18: 0.30000000000000004}"))) {
        fprintf(stderr, "  unexpected number forms:\n%s", b.s);
        ret = -1;
    }
    cn_buf_release(&b);
    rdl_graph_free(g);
    return ret;
}

static int
test_write_not_finite(const void *data)
{
    (void)data;
    struct rdl_graph *g = rdl_graph_new(RDL_UNDERLAY, "bad");
    struct rdl_element *e = rdl_graph_add_element(g, "n", "/node/host/server", NULL);
    rdl_props_set_number(rdl_element_resources_mut(e), "cpu", NAN);
    struct cn_buf b = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    cn_buf_init(&b);
    cn_err_init(&err);
    cn_buf_puts(&b, "before");
    int rc = rdl_write(g, &b, &err);
    int ret = rc == -1 && strcmp(b.s, "before") == 0 && strstr(cn_err_msg(&err), "cpu") ? 0 : -1;
    cn_buf_release(&b);
    cn_err_release(&err);
    rdl_graph_free(g);
    return ret;
}

static int
test_write_file(const void *data)
{
    (void)data;
    int ret = -1;
    char dir[] = "/tmp/rdl_test.XXXXXX";
    char *path = NULL;
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = quoting_graph(), *back = NULL;
    cn_err_init(&err);
    if (!mkdtemp(dir))
        goto cleanup;
    path = xasprintf("%s/out.yaml", dir);
    /* Twice: the second replaces the first. */
    if (rdl_write_file(g, path, &err) < 0 || rdl_write_file(g, path, &err) < 0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    back = read_or_report(path);
    if (!back || !rdl_graph_equal(g, back))
        goto cleanup;
    /* Nothing but the document is left behind. */
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *de; d && (de = readdir(d));)
        entries += de->d_name[0] != '.';
    if (d)
        closedir(d);
    if (entries != 1)
        goto cleanup;
    /* A directory that does not exist fails cleanly. */
    char *bad = xasprintf("%s/missing/out.yaml", dir);
    int rc = rdl_write_file(g, bad, &err);
    free(bad);
    if (rc != -1)
        goto cleanup;
    ret = 0;
cleanup:
    if (path)
        unlink(path);
    rmdir(dir);
    free(path);
    rdl_graph_free(g);
    rdl_graph_free(back);
    cn_err_release(&err);
    return ret;
}

/* ---- completion ---- */

struct complete_case {
    const char *dir; /* where the input is, under tests/ */
    const char *name;
};

static int
test_complete_golden(const void *data)
{
    const struct complete_case *cc = data;
    char *file = xasprintf("%s.yaml", cc->name);
    char *in = path_of(cc->dir, file);
    char *out = path_of("rdl-complete-out", file);
    struct cn_buf bytes = CN_BUF_INIT, again = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *ol1 = NULL, *ol1b = NULL;
    cn_buf_init(&bytes);
    cn_buf_init(&again);
    cn_err_init(&err);
    int ret = -1;

    struct rdl_graph *ol0 = read_or_report(in);
    if (!ol0)
        goto cleanup;
    ol1 = rdl_complete(ol0, &err);
    if (!ol1) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    if (rdl_graph_level(ol1) != 1 || round_trip(ol1, &bytes) < 0 || check_golden(out, &bytes) < 0)
        goto cleanup;
    /* Every value is definite now (latency bounds excepted) ... */
    for (size_t i = 0; i < rdl_graph_element_count(ol1); i++) {
        const struct rdl_element *e = rdl_graph_element_at(ol1, i);
        for (int f = 0; f < 2; f++) {
            const struct rdl_props *p = f ? &e->features : &e->resources;
            for (size_t k = 0; k < p->len; k++)
                if (rdl_value_is_vague_at(p->items[k].value, f ? p->items[k].name : NULL,
                                          e->is_link)) {
                    fprintf(stderr, "  '%s' of '%s' is still vague\n", p->items[k].name, e->id);
                    goto cleanup;
                }
        }
    }
    if (rdl_validate(ol1, &err) < 0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    /* ... and completing again changes nothing. */
    ol1b = rdl_complete(ol1, &err);
    if (!ol1b || !rdl_graph_equal(ol1, ol1b))
        goto cleanup;
    ret = 0;
cleanup:
    rdl_graph_free(ol0);
    rdl_graph_free(ol1);
    rdl_graph_free(ol1b);
    cn_buf_release(&bytes);
    cn_buf_release(&again);
    cn_err_release(&err);
    free(file);
    free(in);
    free(out);
    return ret;
}

struct complete_failure {
    const char *yaml;
    const char *message;
};

static int
test_complete_failure(const void *data)
{
    const struct complete_failure *c = data;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int ret = -1;
    struct rdl_graph *ol1 = NULL;
    struct rdl_graph *ol0 = rdl_read_string("req.yaml", c->yaml, strlen(c->yaml), &err);
    if (!ol0) {
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    ol1 = rdl_complete(ol0, &err);
    if (ol1)
        goto cleanup;
    CHECK_STR(cn_err_msg(&err), c->message);
    CHECK(err.count == 1);
    ret = 0;
cleanup:
    rdl_graph_free(ol0);
    rdl_graph_free(ol1);
    cn_err_release(&err);
    return ret;
}

#define OVERLAY_HEAD "rdl: 1\nkind: overlay\nname: req\nelements:\n"

static const struct complete_failure complete_failures[] = {
    {OVERLAY_HEAD "  web:\n"
                  "    type: /node/host/generic\n"
                  "    features: {arch: [aarch64]}\n"
                  "  db:\n"
                  "    type: /node/host/generic\n"
                  "    features: {arch: {any_of: [x86_64], same_as: web}}\n",
     "req.yaml:10:22: cannot complete feature 'arch' of 'db': no value satisfies [x86_64] and "
     "same_as 'web' ([aarch64])"},
    {OVERLAY_HEAD "  a:\n"
                  "    type: /node/host/generic\n"
                  "    resources: {cpu: {min: 8}}\n"
                  "  b:\n"
                  "    type: /node/host/generic\n"
                  "    resources: {cpu: {max: 4, same_as: a}}\n",
     "req.yaml:10:22: cannot complete resource 'cpu' of 'b': no value satisfies {max: 4} and "
     "same_as 'a' ({min: 8})"},
    {OVERLAY_HEAD "  a:\n"
                  "    type: /node/host/generic\n"
                  "    features: {location: DE}\n"
                  "  b:\n"
                  "    type: /node/host/generic\n"
                  "    features: {location: [FR, GB]}\n"
                  "  c:\n"
                  "    type: /node/host/generic\n"
                  "    features: {location: {same_as: a}}\n"
                  "  d:\n"
                  "    type: /node/host/generic\n"
                  "    features: {location: {any_of: [FR, GB], same_as: c}}\n",
     "req.yaml:16:26: cannot complete feature 'location' of 'd': no value satisfies [FR, GB] "
     "and same_as 'a' (DE)"},
    {OVERLAY_HEAD "  a:\n"
                  "    type: /node/host/generic\n"
                  "    features: {arch: [x, y]}\n"
                  "  b:\n"
                  "    type: /node/host/generic\n"
                  "    features: {arch: {any_of: [y, z], same_as: a}}\n"
                  "  c:\n"
                  "    type: /node/host/generic\n"
                  "    features: {arch: {any_of: [x, z], same_as: b}}\n",
     "req.yaml:13:22: cannot complete feature 'arch' of 'c': no value satisfies [x, z] and "
     "same_as 'a' ([x, y]), 'b' ([y, z])"},
    {OVERLAY_HEAD "  a:\n"
                  "    type: /node/host/generic\n"
                  "    resources: {memory: [1024, 2048]}\n"
                  "  b:\n"
                  "    type: /node/host/generic\n"
                  "    resources: {memory: {min: 4096, same_as: a}}\n",
     "req.yaml:10:25: cannot complete resource 'memory' of 'b': no value satisfies {min: 4096} "
     "and same_as 'a' ([1024, 2048])"},
};

/* ---- types and matching ---- */

struct fit_case {
    const char *t, *u;
    bool fits;
};

static const struct fit_case fit_cases[] = {
    {"/node/host/generic", "/node/host/server/kvm", true},
    {"/link/generic", "/link/ethernet/vlan", true},
    {"/node/host/server", "/node/host/mainframe", false},
    {"/node/host/server", "/node/host/server/kvm", true},
    {"/node/host/server/kvm", "/node/host/server/kvm", true},
    {"/node/host/server/kvm", "/node/host/server", false},
    {"/node/host", "/node/hostile", false},
    {"/node/generic", "/node/switch/ethernet", true},
    {"/node/generic/generic", "/node/host", true},
    {"/node/host/generic", "/link/ethernet", false},
    {"/link/generic", "/node/host", false},
    {"/node/host/pip", "/node/host/pip", true},
    {"/link/transit", "/link/ethernet/vlan", false},
    {"/node/generic/host", "/node/host", false},
    {"node/host", "/node/host", false},
    {"/node//host", "/node/host", false},
};

static int
test_type_fits(const void *data)
{
    (void)data;
    for (size_t i = 0; i < CN_ARRAY_SIZE(fit_cases); i++) {
        if (rdl_type_fits(fit_cases[i].t, fit_cases[i].u) != fit_cases[i].fits) {
            fprintf(stderr, "  %s on %s: expected %s\n", fit_cases[i].t, fit_cases[i].u,
                    fit_cases[i].fits ? "fits" : "does not fit");
            return -1;
        }
    }
    return 0;
}

static struct rdl_value *
str_list(const char *a, const char *b)
{
    struct rdl_value *l = rdl_value_new_list();
    rdl_value_list_append(l, rdl_value_new_string(a));
    if (b)
        rdl_value_list_append(l, rdl_value_new_string(b));
    return l;
}

static struct rdl_value *
num_list(double a, double b)
{
    struct rdl_value *l = rdl_value_new_list();
    rdl_value_list_append(l, rdl_value_new_number(a));
    rdl_value_list_append(l, rdl_value_new_number(b));
    return l;
}

static int
test_value_admits(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_value *x86 = rdl_value_new_string("x86_64");
    struct rdl_value *arm = rdl_value_new_string("aarch64");
    struct rdl_value *both = str_list("x86_64", "aarch64");
    struct rdl_value *ppc = str_list("ppc64", NULL);
    struct rdl_value *four = rdl_value_new_number(4);
    struct rdl_value *r2_8 = rdl_value_new_range(true, 2, true, 8);
    struct rdl_value *r10 = rdl_value_new_range(true, 10, false, 0);
    struct rdl_value *n1_16 = num_list(1, 16);
    struct rdl_value *same = rdl_value_new_same_as("web");
    struct rdl_value *both_same = str_list("x86_64", "aarch64");
    rdl_value_set_same_as(both_same, "web");

    CHECK(rdl_value_admits(x86, x86));
    CHECK(!rdl_value_admits(x86, arm));
    CHECK(rdl_value_admits(x86, both)); /* an underlay list offers all of its items */
    CHECK(rdl_value_admits(both, arm)); /* a demanded list: any of */
    CHECK(!rdl_value_admits(ppc, both));
    CHECK(rdl_value_admits(both_same, x86));
    CHECK(rdl_value_admits(same, arm)); /* same_as is settled jointly */
    CHECK(rdl_value_admits(same, NULL));
    CHECK(rdl_value_admits(NULL, x86));
    CHECK(!rdl_value_admits(x86, NULL));
    CHECK(rdl_value_admits(r2_8, four));
    CHECK(!rdl_value_admits(r10, four));
    CHECK(rdl_value_admits(r10, n1_16));
    CHECK(!rdl_value_admits(r2_8, x86));
    CHECK(rdl_value_admits(four, r2_8)); /* an offered range holds the number */
    CHECK(!rdl_value_admits(r10, r2_8));
    CHECK(rdl_value_admits(r2_8, r2_8));
    CHECK(!rdl_value_admits(x86, four));
    ret = 0;

    rdl_value_free(x86);
    rdl_value_free(arm);
    rdl_value_free(both);
    rdl_value_free(ppc);
    rdl_value_free(four);
    rdl_value_free(r2_8);
    rdl_value_free(r10);
    rdl_value_free(n1_16);
    rdl_value_free(same);
    rdl_value_free(both_same);
    return ret;
}

/* A graph holding a demanding element and a host offering, for the matching tests. */
static struct rdl_graph *
want_and_host(struct rdl_element **ret_want, struct rdl_element **ret_host)
{
    struct rdl_graph *g = rdl_graph_new(RDL_UNDERLAY, "m");
    *ret_want = rdl_graph_add_element(g, "want", "/node/host/generic", NULL);
    *ret_host = rdl_graph_add_element(g, "host", "/node/host/server", NULL);
    return g;
}

static int
test_features_match(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_element *want, *host;
    struct rdl_graph *g = want_and_host(&want, &host);
    struct rdl_props *d = rdl_element_features_mut(want);
    struct rdl_props *o = rdl_element_features_mut(host);

    rdl_props_set(o, "arch", str_list("x86_64", "aarch64"));
    rdl_props_set_string(o, "location", "DE");
    if (!rdl_features_match(d, o)) /* nothing demanded */
        goto cleanup;
    rdl_props_set_string(d, "arch", "aarch64");
    rdl_props_set(d, "location", str_list("FR", "DE"));
    rdl_props_set_string(d, "image", "debian-12"); /* not offered, but never restricts */
    rdl_props_set(d, "latency", rdl_value_new_range(false, 0, true, 20));
    rdl_props_set(d, "hypervisor", rdl_value_new_same_as("other"));
    if (!rdl_features_match(d, o))
        goto cleanup;
    rdl_props_set_string(d, "colour", "blue"); /* unknown features match by equality */
    if (rdl_features_match(d, o))
        goto cleanup;
    rdl_props_set_string(o, "colour", "blue");
    if (!rdl_features_match(d, o))
        goto cleanup;
    rdl_props_set_string(d, "location", "GB");
    if (rdl_features_match(d, o))
        goto cleanup;
    ret = 0;
cleanup:
    rdl_graph_free(g);
    return ret;
}

static int
test_resources_fit(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_element *want, *host;
    struct rdl_graph *g = want_and_host(&want, &host);
    struct rdl_props *d = rdl_element_resources_mut(want);
    struct rdl_props *c = rdl_element_resources_mut(host);

    rdl_props_set_number(c, "cpu", 8);
    rdl_props_set_number(c, "memory", 16384);
    rdl_props_set_number(d, "cpu", 8);
    rdl_props_set(d, "memory", rdl_value_new_range(true, 4096, true, 65536)); /* min counts */
    if (!rdl_resources_fit(d, c))
        goto cleanup;
    rdl_props_set_number(d, "cpu", 8.5);
    if (rdl_resources_fit(d, c))
        goto cleanup;
    rdl_props_set(d, "cpu", num_list(16, 2)); /* the smallest item counts */
    if (!rdl_resources_fit(d, c))
        goto cleanup;
    rdl_props_set_number(d, "gpu", 1); /* unknown names: capacity must cover demand */
    if (rdl_resources_fit(d, c))
        goto cleanup;
    rdl_props_set_number(c, "gpu", 2);
    if (!rdl_resources_fit(d, c))
        goto cleanup;
    rdl_props_set_number(d, "disk", 0); /* a zero demand needs no capacity */
    if (!rdl_resources_fit(d, c))
        goto cleanup;
    rdl_props_set(d, "memory", rdl_value_new_range(true, 32768, false, 0));
    if (rdl_resources_fit(d, c))
        goto cleanup;
    ret = 0;
cleanup:
    rdl_graph_free(g);
    return ret;
}

/* ---- drawing ---- */

static int
dot_of(const struct rdl_graph *g, const struct rdl_graph *ul, struct cn_buf *out)
{
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int rc = rdl_write_dot(g, ul, out, &err);
    if (rc < 0)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    cn_err_release(&err);
    return rc;
}

static int
check_contains(const struct cn_buf *text, const char *const *lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!strstr(text->s, lines[i])) {
            fprintf(stderr, "  missing: %s\n  in:\n%s", lines[i], text->s);
            return -1;
        }
    }
    return 0;
}

static int
test_dot_overlay(const void *data)
{
    (void)data;
    static const char *const expected[] = {
        "graph \"webshop\" {\n",
        "  graph [label=\"overlay webshop (OL0)\", labelloc=t, fontname=Helvetica];\n",
        ("  \"lb\" [shape=ellipse, label=\"lb\\n/node/host/generic\\ncpu 1\\nmemory 1024 "
         "MiB\\ndisk 10 GiB\"];\n"),
        "  \"web1\" -- \"db\" [label=\"web1-db\\nbandwidth 100 Mbit/s\\nlatency <= 10 ms\"];\n",
    };
    int ret = -1;
    char *path = path_of("../examples", "webshop.yaml");
    struct cn_buf a = CN_BUF_INIT, b = CN_BUF_INIT;
    cn_buf_init(&a);
    cn_buf_init(&b);
    struct rdl_graph *g = read_or_report(path);
    if (!g || dot_of(g, NULL, &a) < 0 || dot_of(g, NULL, &b) < 0)
        goto cleanup;
    if (check_contains(&a, expected, CN_ARRAY_SIZE(expected)) < 0 || strcmp(a.s, b.s) != 0)
        goto cleanup;
    /* Links are edges, not boxes. */
    if (strstr(a.s, "\"web1-db\" ["))
        goto cleanup;
    ret = 0;
cleanup:
    rdl_graph_free(g);
    cn_buf_release(&a);
    cn_buf_release(&b);
    free(path);
    return ret;
}

static int
test_dot_mapping(const void *data)
{
    (void)data;
    static const char *const expected[] = {
        "graph \"webshop\" {\n",
        "compound=true",
        "  subgraph cluster_0 {\n    label=\"h1\\n/node/host/server/kvm\\ncpu 16\\nmemory "
        "65536 MiB\\ndisk 500 GiB\";\n",
        "    \"u:h1\" [shape=point, width=0.05, color=gray40];\n",
        "    \"o:web1\" [shape=ellipse, style=filled, fillcolor=lightyellow, label=\"web1\\ncpu "
        "2\\nmemory 2048 MiB\\ndisk 20 GiB\"];\n",
        "  \"u:h1\" -- \"u:sw1\" [ltail=cluster_0, lhead=cluster_8, color=gray60, style=dashed, "
        "fontcolor=gray40, label=\"h1-sw1\"];\n",
        "  \"u:h1\" -- \"u:h1\" [color=\"#1f77b4\", fontcolor=\"#1f77b4\", penwidth=2, "
        "label=\"lb-web1\\nbandwidth 200 Mbit/s\"];\n",
        "  \"u:sw1\" -- \"u:sw2\" [ltail=cluster_8, lhead=cluster_9, color=\"#2ca02c\", "
        "fontcolor=\"#2ca02c\", penwidth=2];\n",
    };
    int ret = -1;
    char *mpath = path_of("../examples", "webshop-on-berlin.yaml");
    char *upath = path_of("../examples", "pip-berlin.yaml");
    struct cn_buf a = CN_BUF_INIT, b = CN_BUF_INIT, alone = CN_BUF_INIT;
    cn_buf_init(&a);
    cn_buf_init(&b);
    cn_buf_init(&alone);
    struct rdl_graph *m = read_or_report(mpath);
    struct rdl_graph *ul = read_or_report(upath);
    if (!m || !ul || dot_of(m, ul, &a) < 0 || dot_of(m, ul, &b) < 0 || dot_of(m, NULL, &alone) < 0)
        goto cleanup;
    if (check_contains(&a, expected, CN_ARRAY_SIZE(expected)) < 0 || strcmp(a.s, b.s) != 0)
        goto cleanup;
    /* Without its underlay a mapping still draws the hosts it names. */
    if (!strstr(alone.s, "\"o:db\"") || !strstr(alone.s, "subgraph cluster_"))
        goto cleanup;
    /* An overlay is no underlay to draw on. */
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int rc = rdl_write_dot(m, m, &a, &err);
    cn_err_release(&err);
    if (rc != -1)
        goto cleanup;
    ret = 0;
cleanup:
    rdl_graph_free(m);
    rdl_graph_free(ul);
    cn_buf_release(&a);
    cn_buf_release(&b);
    cn_buf_release(&alone);
    free(mpath);
    free(upath);
    return ret;
}

/* ---- graph model ---- */

static struct rdl_graph *
small_overlay(void)
{
    struct rdl_graph *g = rdl_graph_new(RDL_OVERLAY, "small");
    struct rdl_element *web = rdl_graph_add_element(g, "web", "/node/host/generic", NULL);
    struct rdl_element *db = rdl_graph_add_element(g, "db", "/node/host/generic", NULL);
    struct rdl_element *l = rdl_graph_add_element(g, "web-db", "/link/generic", NULL);
    rdl_props_set_number(rdl_element_resources_mut(web), "cpu", 2);
    rdl_props_set(rdl_element_features_mut(web), "arch", str_list("x86_64", "aarch64"));
    rdl_props_set(rdl_element_resources_mut(db), "cpu", rdl_value_new_range(true, 2, true, 8));
    rdl_props_set(rdl_element_features_mut(db), "arch", rdl_value_new_same_as("web"));
    rdl_props_set_number(rdl_element_resources_mut(l), "bandwidth", 100);
    rdl_props_set(rdl_element_features_mut(l), "latency", rdl_value_new_range(false, 0, true, 20));
    rdl_graph_add_interface(g, "web", "web-db", NULL);
    rdl_graph_add_interface(g, "web-db", "db", NULL);
    return g;
}

static int
test_graph_copy_equal(const void *data)
{
    (void)data;
    int ret = -1;
    struct rdl_graph *g = small_overlay();
    struct rdl_graph *c = rdl_graph_copy(g);
    struct rdl_graph *ol1 = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);

    if (!rdl_graph_equal(g, c) || !rdl_graph_equal(c, g))
        goto cleanup;
    rdl_props_set_number(rdl_element_resources_mut(rdl_graph_element(c, "web")), "cpu", 3);
    if (rdl_graph_equal(g, c))
        goto cleanup;
    rdl_props_set_number(rdl_element_resources_mut(rdl_graph_element(c, "web")), "cpu", 2);
    if (!rdl_graph_equal(g, c))
        goto cleanup;
    rdl_graph_set_level(c, 1);
    if (rdl_graph_equal(g, c))
        goto cleanup;
    rdl_graph_set_level(c, 0);

    /* Completion of the in-memory graph: the list's first item, the range's minimum. */
    ol1 = rdl_complete(g, &err);
    if (!ol1 || rdl_graph_level(ol1) != 1)
        goto cleanup;
    CHECK_STR(rdl_props_string(rdl_element_features(rdl_graph_element(ol1, "db")), "arch"),
              "x86_64");
    CHECK(rdl_props_number(rdl_element_resources(rdl_graph_element(ol1, "db")), "cpu", 0) == 2);
    CHECK(rdl_value_kind(rdl_props_get(rdl_element_features(rdl_graph_element(ol1, "web-db")),
                                       "latency")) == RDL_VALUE_RANGE);
    /* The input is left alone. */
    CHECK(rdl_graph_equal(g, c));

    /* Removing an element drops its interfaces on both sides. */
    if (rdl_graph_remove_element(c, "web-db") < 0 || rdl_graph_remove_element(c, "web-db") != -1)
        goto cleanup;
    CHECK(rdl_graph_element_count(c) == 2);
    CHECK(rdl_graph_interface_count(c) == 0);
    CHECK(rdl_element_degree(rdl_graph_element(c, "web")) == 0);
    CHECK(rdl_graph_element(c, "web-db") == NULL);
    CHECK(!rdl_graph_equal(g, c));
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    int rc = rdl_write(c, &b, &err);
    bool no_iface = strstr(b.s, "interfaces") == NULL;
    cn_buf_release(&b);
    CHECK(rc == 0 && no_iface);
    ret = 0;
cleanup:
    rdl_graph_free(g);
    rdl_graph_free(c);
    rdl_graph_free(ol1);
    cn_err_release(&err);
    return ret;
}

/*
 * Completion of graphs built in memory, which may hold what the reader
 * refuses. An overlay "req" of hosts a and b, b's arch made by b_arch;
 * the result: an error message, or the arch both a and b end with.
 */
static struct rdl_value *
same_as_a(void)
{
    return rdl_value_new_same_as("a");
}

/* Elements that omit a property but are named by a same_as receive the group's value. */
static struct rdl_value *
list_same_as_a(void)
{
    struct rdl_value *v = str_list("aarch64", "x86_64");
    rdl_value_set_same_as(v, "a");
    return v;
}

static const struct memory_complete_case {
    const char *title;
    enum rdl_kind kind;
    struct rdl_value *(*b_arch)(void); /* NULL: no elements at all */
    const char *error;                 /* a substring of the message, or NULL */
    const char *arch;                  /* when it completes */
} memory_complete_cases[] = {
    /* The reader refuses a same_as towards an element without the property. */
    {"complete with nothing to choose", RDL_OVERLAY, same_as_a,
     "req: cannot complete feature 'arch' of 'b': same_as 'a', but no element of that group gives "
     "a value",
     NULL},
    {"complete fills omitted properties", RDL_OVERLAY, list_same_as_a, NULL, "aarch64"},
    {"complete refuses underlays", RDL_UNDERLAY, NULL, "only overlays", NULL},
};

static int
test_complete_in_memory(const void *data)
{
    const struct memory_complete_case *c = data;
    struct rdl_graph *g = rdl_graph_new(c->kind, "req");
    if (c->b_arch) {
        rdl_graph_add_element(g, "a", "/node/host/generic", NULL);
        struct rdl_element *b = rdl_graph_add_element(g, "b", "/node/host/generic", NULL);
        rdl_props_set(rdl_element_features_mut(b), "arch", c->b_arch());
    }
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct rdl_graph *out = rdl_complete(g, &err);
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", cn_err_msg(&err));
    const char *arch_a = NULL, *arch_b = NULL;
    if (out) {
        arch_a = rdl_props_string(rdl_element_features(rdl_graph_element(out, "a")), "arch");
        arch_b = rdl_props_string(rdl_element_features(rdl_graph_element(out, "b")), "arch");
    }
    bool ok = c->error ? !out && strstr(msg, c->error)
                       : out && cn_streq(arch_a, c->arch) && cn_streq(arch_b, c->arch);
    if (!ok)
        fprintf(stderr, "  %s; arch of a: %s, of b: %s\n", out ? "completed" : msg,
                arch_a ? arch_a : "-", arch_b ? arch_b : "-");
    rdl_graph_free(out);
    rdl_graph_free(g);
    cn_err_release(&err);
    CHECK(ok);
    return 0;
}

/* ---- the examples tell one consistent story ---- */

static struct rdl_graph *
read_example(const char *name)
{
    char *path = path_of("../examples", name);
    struct rdl_graph *g = read_or_report(path);
    free(path);
    return g;
}

/* Whether list (a value offered by the VNP substrate) includes the definite value x. */
static bool
offers(const struct rdl_value *list, const struct rdl_value *x)
{
    return list && rdl_value_admits(x, list);
}

/* Each /node/host/pip of the VNP substrate sums its PIP's hosts and offers all their features. */
static int
test_examples_vnp_sums(const void *data)
{
    (void)data;
    static const char *const pips[][2] = {
        {"berlin", "pip-berlin.yaml"}, {"paris", "pip-paris.yaml"}, {"london", "pip-london.yaml"}};
    static const char *const sums[] = {"cpu", "memory", "disk"};
    int ret = -1;
    struct rdl_graph *pip = NULL;
    struct rdl_graph *vnp = read_example("vnp-substrate.yaml");
    if (!vnp)
        goto cleanup;
    for (size_t p = 0; p < CN_ARRAY_SIZE(pips); p++) {
        const struct rdl_element *agg = rdl_graph_element(vnp, pips[p][0]);
        rdl_graph_free(pip);
        pip = read_example(pips[p][1]);
        if (!pip || !agg || strcmp(rdl_element_type(agg), "/node/host/pip") != 0)
            goto cleanup;
        for (size_t k = 0; k < CN_ARRAY_SIZE(sums); k++) {
            double total = 0;
            for (size_t i = 0; i < rdl_graph_element_count(pip); i++)
                total += rdl_props_number(rdl_element_resources(rdl_graph_element_at(pip, i)),
                                          sums[k], 0);
            if (rdl_props_number(rdl_element_resources(agg), sums[k], -1) != total) {
                fprintf(stderr, "  %s: %s should be %g\n", pips[p][0], sums[k], total);
                goto cleanup;
            }
        }
        for (size_t i = 0; i < rdl_graph_element_count(pip); i++) {
            const struct rdl_props *f = rdl_element_features(rdl_graph_element_at(pip, i));
            for (size_t k = 0; k < rdl_props_count(f); k++) {
                const char *name = rdl_props_name_at(f, k);
                /* Border nodes stand for other PIPs: their features are not this PIP's. */
                if (strcmp(name, "latency") == 0 ||
                    !rdl_element_is_node(rdl_graph_element_at(pip, i)) ||
                    rdl_type_fits("/node/host/pip", rdl_element_type(rdl_graph_element_at(pip, i))))
                    continue;
                if (!offers(rdl_props_get(rdl_element_features(agg), name),
                            rdl_props_value_at(f, k))) {
                    fprintf(stderr, "  %s does not offer the %s of %s\n", pips[p][0], name,
                            rdl_element_id(rdl_graph_element_at(pip, i)));
                    goto cleanup;
                }
            }
        }
    }
    ret = 0;
cleanup:
    rdl_graph_free(pip);
    rdl_graph_free(vnp);
    return ret;
}

/*
 * Every node of the spanning request fits some PIP of the federation, but
 * no single PIP fits them all; the webshop fits Berlin alone.
 */
static int
count_pips_needed(const struct rdl_graph *req, const struct rdl_graph *vnp, bool *ret_all_fit)
{
    int ret = 0;
    bool all_fit = true;
    for (size_t k = 0; k < rdl_graph_element_count(vnp); k++) {
        const struct rdl_element *pip = rdl_graph_element_at(vnp, k);
        if (!rdl_element_is_node(pip))
            continue;
        bool hosts_everything = true;
        for (size_t i = 0; i < rdl_graph_element_count(req); i++) {
            const struct rdl_element *e = rdl_graph_element_at(req, i);
            if (!rdl_element_is_node(e))
                continue;
            bool fits = rdl_type_fits(rdl_element_type(e), rdl_element_type(pip)) &&
                        rdl_features_match(rdl_element_features(e), rdl_element_features(pip)) &&
                        rdl_resources_fit(rdl_element_resources(e), rdl_element_resources(pip));
            hosts_everything &= fits;
        }
        ret += hosts_everything;
    }
    for (size_t i = 0; i < rdl_graph_element_count(req); i++) {
        const struct rdl_element *e = rdl_graph_element_at(req, i);
        bool somewhere = !rdl_element_is_node(e);
        for (size_t k = 0; k < rdl_graph_element_count(vnp) && !somewhere; k++) {
            const struct rdl_element *pip = rdl_graph_element_at(vnp, k);
            somewhere = rdl_element_is_node(pip) &&
                        rdl_type_fits(rdl_element_type(e), rdl_element_type(pip)) &&
                        rdl_features_match(rdl_element_features(e), rdl_element_features(pip)) &&
                        rdl_resources_fit(rdl_element_resources(e), rdl_element_resources(pip));
        }
        all_fit &= somewhere;
    }
    *ret_all_fit = all_fit;
    return ret;
}

static int
test_examples_spanning(const void *data)
{
    (void)data;
    int ret = -1;
    bool all_fit;
    struct rdl_graph *vnp = read_example("vnp-substrate.yaml");
    struct rdl_graph *span = read_example("spanning.yaml");
    struct rdl_graph *shop = read_example("webshop.yaml");
    if (!vnp || !span || !shop)
        goto cleanup;
    if (count_pips_needed(span, vnp, &all_fit) != 0 || !all_fit)
        goto cleanup;
    if (count_pips_needed(shop, vnp, &all_fit) != 1 || !all_fit)
        goto cleanup;
    ret = 0;
cleanup:
    rdl_graph_free(vnp);
    rdl_graph_free(span);
    rdl_graph_free(shop);
    return ret;
}

/* ---- the tables ---- */

static const char *const writer_cases[] = {
    "overlay-design", "underlay-vlan", "mapping", "vague-forms", "quoting", "order",
};

static const struct complete_case complete_cases[] = {
    {"rdl-complete-in", "design"}, {"rdl-complete-in", "groups"}, {"rdl-complete-in", "definite"},
    {"../examples", "vague"},      {"../examples", "webshop"},
};

int
main(void)
{
    char title[128];

    for (size_t i = 0; i < CN_ARRAY_SIZE(writer_cases); i++) {
        snprintf(title, sizeof(title), "writer golden %s", writer_cases[i]);
        TEST_RUN(title, test_writer_golden, writer_cases[i]);
    }
    run_on_dir("rdl-in", "round trip rdl-in", test_round_trip_file);
    run_on_dir("../examples", "round trip example", test_round_trip_file);
    TEST_RUN("write quoting", test_write_quoting, NULL);
    TEST_RUN("write numbers", test_write_numbers, NULL);
    TEST_RUN("write refuses non-finite numbers", test_write_not_finite, NULL);
    TEST_RUN("write file atomically", test_write_file, NULL);

    for (size_t i = 0; i < CN_ARRAY_SIZE(complete_cases); i++) {
        snprintf(title, sizeof(title), "complete golden %s/%s", complete_cases[i].dir,
                 complete_cases[i].name);
        TEST_RUN(title, test_complete_golden, &complete_cases[i]);
    }
    for (size_t i = 0; i < CN_ARRAY_SIZE(complete_failures); i++) {
        snprintf(title, sizeof(title), "complete failure %zu", i + 1);
        TEST_RUN(title, test_complete_failure, &complete_failures[i]);
    }
    for (size_t i = 0; i < CN_ARRAY_SIZE(memory_complete_cases); i++)
        TEST_RUN(memory_complete_cases[i].title, test_complete_in_memory,
                 &memory_complete_cases[i]);

    TEST_RUN("type fits", test_type_fits, NULL);
    TEST_RUN("value admits", test_value_admits, NULL);
    TEST_RUN("features match", test_features_match, NULL);
    TEST_RUN("resources fit", test_resources_fit, NULL);

    TEST_RUN("dot overlay", test_dot_overlay, NULL);
    TEST_RUN("dot mapping on underlay", test_dot_mapping, NULL);

    TEST_RUN("graph copy, equal, remove", test_graph_copy_equal, NULL);

    TEST_RUN("examples: the VNP substrate sums its PIPs", test_examples_vnp_sums, NULL);
    TEST_RUN("examples: the spanning request needs several PIPs", test_examples_spanning, NULL);
    return test_summary();
}
