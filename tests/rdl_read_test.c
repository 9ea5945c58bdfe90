/*
 * Tests of the YAML reader and of rdl_validate().
 *
 * The bad-document corpus lives in tests/rdl-bad: every NAME.yaml there
 * comes with NAME.err, the exact problems expected, one per line, as the
 * reader words them for the file "rdl-bad/NAME.yaml" (the tests run from
 * the tests folder so those names are stable). Adding a case is adding
 * those two files; RDL_REGEN_ERR=1 rewrites the .err files from what the
 * reader says, for review before committing.
 *
 * Good documents are read from tests/rdl-in and their content checked
 * through the accessors.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RDL_PRIV_H_ALLOW
#include "rdl/rdl_priv.h"
#include "tests/testlib.h"

static char *
slurp(const char *path, size_t *ret_len)
{
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    if (cn_buf_read_file(&b, path, 64u << 20) < 0) {
        cn_buf_release(&b);
        return NULL;
    }
    if (ret_len)
        *ret_len = b.len;
    return cn_buf_detach(&b);
}

static int
names_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of dir ending in suffix, sorted; the caller frees the array and names. */
static char **
list_dir(const char *dir, const char *suffix, size_t *ret_n)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (!d) {
        *ret_n = 0;
        return NULL;
    }
    struct dirent *de;
    size_t sl = strlen(suffix);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0) {
            CN_GROW(names, cap, n + 1);
            names[n++] = xstrdup(de->d_name);
        }
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), names_cmp);
    *ret_n = n;
    return names;
}

/*
 * Runs a read with stderr pointed at a scratch file, to show that the
 * library reports through the error object only.
 */
static int stderr_saved = -1;
static FILE *stderr_scratch;

static void
capture_stderr(void)
{
    fflush(stderr);
    stderr_scratch = tmpfile();
    stderr_saved = dup(2);
    dup2(fileno(stderr_scratch), 2);
}

static long
release_stderr(void)
{
    fflush(stderr);
    dup2(stderr_saved, 2);
    close(stderr_saved);
    long n = ftell(stderr_scratch);
    fseek(stderr_scratch, 0, SEEK_END);
    n = ftell(stderr_scratch);
    fclose(stderr_scratch);
    return n;
}

struct bad_case {
    char *name; /* NAME without .yaml */
};

static int
test_bad(const void *data)
{
    const struct bad_case *bc = data;
    char *yaml = xasprintf("rdl-bad/%s.yaml", bc->name);
    char *errf = xasprintf("rdl-bad/%s.err", bc->name);
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int ret = -1;
    size_t len = 0;
    char *doc = slurp(yaml, &len);
    char *expected = NULL;

    capture_stderr();
    struct rdl_graph *g = rdl_read_file(yaml, &err);
    long leaked = release_stderr();
    if (getenv("RDL_REGEN_ERR")) {
        FILE *f = fopen(errf, "w");
        if (f) {
            fprintf(f, "%s\n", cn_err_msg(&err));
            fclose(f);
        }
    }
    expected = slurp(errf, NULL);
    if (!doc || !expected) {
        fprintf(stderr, "  cannot read %s or %s\n", yaml, errf);
        goto cleanup;
    }
    CHECK(g == NULL);
    CHECK(leaked == 0);
    CHECK(cn_err_is_set(&err));
    struct cn_buf got = CN_BUF_INIT;
    cn_buf_init(&got);
    cn_buf_printf(&got, "%s\n", cn_err_msg(&err));
    if (strcmp(got.s, expected) != 0) {
        fprintf(stderr, "  %s: got:\n%s  expected:\n%s", yaml, got.s, expected);
        cn_buf_release(&got);
        goto cleanup;
    }
    cn_buf_release(&got);

    /* The string reader says the same, after whatever the error object held. */
    cn_err_clear(&err);
    cn_err_add(&err, CN_E_IO, "earlier problem");
    g = rdl_read_string(yaml, doc, len, &err);
    CHECK(g == NULL);
    CHECK(err.code == CN_E_IO);
    CHECK(cn_startswith(cn_err_msg(&err), "earlier problem\n"));
    CHECK(strncmp(cn_err_msg(&err) + strlen("earlier problem\n"), expected, strlen(expected) - 1) ==
          0);
    ret = 0;
cleanup:
    rdl_graph_free(g);
    cn_err_release(&err);
    free(doc);
    free(expected);
    free(yaml);
    free(errf);
    return ret;
}

static int
test_bad_corpus_complete(const void *data)
{
    (void)data;
    size_t n_yaml, n_err;
    char **yaml = list_dir("rdl-bad", ".yaml", &n_yaml);
    char **err = list_dir("rdl-bad", ".err", &n_err);
    int ret = 0;
    if (n_yaml < 40 || n_yaml != n_err) {
        fprintf(stderr, "  %zu .yaml, %zu .err\n", n_yaml, n_err);
        ret = -1;
    }
    for (size_t i = 0; i < n_yaml; i++)
        free(yaml[i]);
    for (size_t i = 0; i < n_err; i++)
        free(err[i]);
    free(yaml);
    free(err);
    return ret;
}

/* ---- good documents ---- */

static struct rdl_graph *
read_ok(const char *path)
{
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct rdl_graph *g = rdl_read_file(path, &err);
    if (!g)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    cn_err_release(&err);
    return g;
}

static int
test_good(const void *data)
{
    const char *path = data;
    struct rdl_graph *g = read_ok(path);
    CHECK(g);
    /* A graph that was read validates again in memory. */
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int rc = rdl_validate(g, &err);
    if (rc < 0)
        fprintf(stderr, "  %s\n", cn_err_msg(&err));
    cn_err_release(&err);
    rdl_graph_free(g);
    CHECK(rc == 0);
    return 0;
}

static bool
pos_is(int line, int col, int want_line, int want_col)
{
    if (line == want_line && col == want_col)
        return true;
    fprintf(stderr, "  position %d:%d, expected %d:%d\n", line, col, want_line, want_col);
    return false;
}

static int
test_design_overlay(const void *data)
{
    (void)data;
    struct rdl_graph *g = read_ok("rdl-in/read-design-overlay.yaml");
    CHECK(g);
    int line, col;
    CHECK(rdl_graph_kind(g) == RDL_OVERLAY);
    CHECK_STR(rdl_graph_name(g), "webshop");
    CHECK_STR(rdl_graph_file(g), "rdl-in/read-design-overlay.yaml");
    CHECK(rdl_graph_level(g) == 0);
    CHECK(rdl_graph_vlan_range(g, NULL, NULL) == -1);
    CHECK(rdl_graph_element_count(g) == 3);
    CHECK(rdl_graph_interface_count(g) == 2);

    struct rdl_element *web = rdl_graph_element_at(g, 0);
    CHECK_STR(rdl_element_id(web), "web");
    CHECK_STR(rdl_element_type(web), "/node/host/generic");
    CHECK(rdl_element_is_node(web));
    rdl_element_pos(web, &line, &col);
    CHECK(pos_is(line, col, 5, 3));
    const struct rdl_props *res = rdl_element_resources(web);
    CHECK(rdl_props_count(res) == 3);
    CHECK_STR(rdl_props_name_at(res, 0), "cpu");
    CHECK(rdl_props_number(res, "cpu", -1) == 2);
    CHECK(rdl_props_number(res, "memory", -1) == 2048);
    CHECK(rdl_props_number(res, "disk", -1) == 20);
    const struct rdl_props *feat = rdl_element_features(web);
    const struct rdl_value *arch = rdl_props_get(feat, "arch");
    CHECK(arch && rdl_value_kind(arch) == RDL_VALUE_LIST);
    CHECK(rdl_value_list_len(arch) == 2);
    CHECK_STR(rdl_value_string(rdl_value_list_at(arch, 0)), "x86_64");
    CHECK_STR(rdl_value_string(rdl_value_list_at(arch, 1)), "aarch64");
    CHECK(rdl_value_is_vague(arch));
    rdl_value_pos(arch, &line, &col);
    CHECK(pos_is(line, col, 9, 13));
    rdl_value_pos(rdl_value_list_at(arch, 1), &line, &col);
    CHECK(pos_is(line, col, 9, 22));
    CHECK_STR(rdl_props_string(feat, "location"), "DE");
    CHECK_STR(rdl_props_string(feat, "image"), "debian-12");

    struct rdl_element *db = rdl_graph_element(g, "db");
    CHECK(db);
    const struct rdl_value *cpu = rdl_props_get(rdl_element_resources(db), "cpu");
    CHECK(cpu && rdl_value_kind(cpu) == RDL_VALUE_RANGE);
    bool has_min = false, has_max = false;
    double min = 0, max = 0;
    rdl_value_range(cpu, &has_min, &min, &has_max, &max);
    CHECK(has_min && has_max && min == 2 && max == 8);
    rdl_value_pos(cpu, &line, &col);
    CHECK(pos_is(line, col, 14, 22));
    const struct rdl_value *db_arch = rdl_props_get(rdl_element_features(db), "arch");
    CHECK(db_arch && rdl_value_kind(db_arch) == RDL_VALUE_SAME_AS);
    CHECK_STR(rdl_value_same_as(db_arch), "web");

    struct rdl_element *link = rdl_graph_element(g, "web-db");
    CHECK(link && rdl_element_is_link(link));
    const struct rdl_value *lat = rdl_props_get(rdl_element_features(link), "latency");
    CHECK(lat && rdl_value_kind(lat) == RDL_VALUE_RANGE);
    rdl_value_range(lat, &has_min, &min, &has_max, &max);
    CHECK(!has_min && has_max && max == 20);
    CHECK(!rdl_value_is_vague_at(lat, "latency", true));
    struct rdl_element *a = NULL, *b = NULL;
    CHECK(rdl_link_endpoints(link, &a, &b) == 0);
    CHECK(a == web && b == db);
    CHECK(rdl_element_degree(web) == 1 && rdl_element_neighbour(web, 0) == link);
    CHECK(rdl_element_degree(db) == 1 && rdl_element_neighbour(db, 0) == link);
    CHECK(rdl_element_degree(link) == 2);
    struct rdl_element *ia, *ib;
    rdl_graph_interface_at(g, 1, &ia, &ib);
    CHECK(ia == link && ib == db);
    CHECK(g->ifaces[1].pos.line == 22 && g->ifaces[1].pos.col == 5);
    rdl_graph_free(g);
    return 0;
}

static int
test_design_mapping(const void *data)
{
    (void)data;
    struct rdl_graph *g = read_ok("rdl-in/read-design-mapping.yaml");
    CHECK(g);
    CHECK(rdl_graph_kind(g) == RDL_MAPPING);
    CHECK_STR(rdl_mapping_overlay(g), "webshop");
    CHECK_STR(rdl_mapping_underlay(g), "pip-berlin");
    struct rdl_objective o;
    rdl_mapping_objective(g, &o);
    CHECK_STR(o.name, "cost");
    CHECK(o.value == 412 && o.bound == 412 && o.gap == 0 && o.solve_ms == 14.2);
    CHECK(rdl_mapping_count(g) == 3);
    struct rdl_map_entry *web = rdl_mapping_get(g, "web");
    CHECK(web);
    CHECK_STR(rdl_map_entry_to(web), "h3");
    CHECK(!rdl_map_entry_has_path(web));
    CHECK(rdl_map_entry_vlan(web) == -1);
    CHECK(rdl_props_number(rdl_map_entry_resources(web), "memory", -1) == 2048);
    CHECK_STR(rdl_props_string(rdl_map_entry_features(web), "image"), "debian-12");
    int line, col;
    rdl_map_entry_pos(web, &line, &col);
    CHECK(pos_is(line, col, 8, 3));
    struct rdl_map_entry *l = rdl_mapping_at(g, 2);
    CHECK_STR(rdl_map_entry_id(l), "web-db");
    CHECK(rdl_map_entry_to(l) == NULL);
    CHECK(rdl_map_entry_has_path(l));
    CHECK(rdl_map_entry_path_len(l) == 5);
    CHECK_STR(rdl_map_entry_path_at(l, 0), "h3");
    CHECK_STR(rdl_map_entry_path_at(l, 4), "h5");
    CHECK(rdl_map_entry_vlan(l) == 1042);
    CHECK(rdl_props_number(rdl_map_entry_resources(l), "bandwidth", -1) == 100);
    rdl_graph_free(g);
    return 0;
}

static int
test_underlay(const void *data)
{
    (void)data;
    struct rdl_graph *g = read_ok("rdl-in/read-underlay.yaml");
    CHECK(g);
    int first = 0, last = 0;
    CHECK(rdl_graph_kind(g) == RDL_UNDERLAY);
    CHECK(rdl_graph_vlan_range(g, &first, &last) == 0 && first == 100 && last == 4000);
    struct rdl_element *t1 = rdl_graph_element(g, "t1");
    CHECK(t1 && rdl_element_vlan_range(t1, &first, &last) == 0);
    CHECK(first == 2000 && last == 2099);
    CHECK(rdl_element_vlan_range(rdl_graph_element(g, "h1"), NULL, NULL) == -1);
    CHECK(rdl_props_number(rdl_element_resources(rdl_graph_element(g, "pip-paris")), "cpu", 0) ==
          150);
    CHECK(rdl_props_number(rdl_element_features(rdl_graph_element(g, "h1-sw1")), "latency", 0) ==
          0.5);
    /* An unquoted true is the string "true": features compare by equality. */
    CHECK_STR(rdl_props_string(rdl_element_features(rdl_graph_element(g, "sw1")), "forwarding"),
              "true");
    struct rdl_element *a, *b;
    CHECK(rdl_link_endpoints(t1, &a, &b) == 0);
    CHECK_STR(rdl_element_id(a), "sw1");
    CHECK_STR(rdl_element_id(b), "pip-paris");
    rdl_graph_free(g);
    return 0;
}

static int
test_values(const void *data)
{
    (void)data;
    struct rdl_graph *g = read_ok("rdl-in/read-values.yaml");
    CHECK(g);
    CHECK_STR(rdl_graph_name(g), "values");
    const struct rdl_element *a = rdl_graph_element(g, "a");
    CHECK(a);
    const struct rdl_props *r = rdl_element_resources(a);
    const struct rdl_props *f = rdl_element_features(a);
    CHECK(rdl_props_number(r, "cpu", 0) == 2.5);
    CHECK(rdl_props_number(r, "memory", 0) == 1000);
    const struct rdl_value *gpu = rdl_props_get(r, "gpu");
    CHECK(rdl_value_kind(gpu) == RDL_VALUE_LIST && rdl_value_list_len(gpu) == 3);
    CHECK(rdl_value_number(rdl_value_list_at(gpu, 2)) == 2);
    CHECK(rdl_value_kind(rdl_props_get(r, "net")) == RDL_VALUE_SAME_AS);
    CHECK_STR(rdl_props_string(f, "hex"), "0x10");
    CHECK_STR(rdl_props_string(f, "inf"), ".inf");
    CHECK_STR(rdl_props_string(f, "flag"), "true");
    CHECK_STR(rdl_props_string(f, "quoted"), "42");
    CHECK_STR(rdl_props_string(f, "tagged"), "7");
    CHECK(rdl_props_number(f, "number", 0) == 7);
    CHECK_STR(rdl_props_string(f, "plain"), "hello world");
    CHECK(rdl_props_number(f, "neg", 0) == -3);
    const struct rdl_value *any = rdl_props_get(f, "any");
    CHECK(rdl_value_kind(any) == RDL_VALUE_LIST && rdl_value_list_len(any) == 2);
    CHECK_STR(rdl_value_same_as(any), "b");
    const struct rdl_value *range = rdl_props_get(f, "range");
    CHECK(rdl_value_kind(range) == RDL_VALUE_RANGE);
    CHECK_STR(rdl_value_same_as(range), "b");
    bool has_min, has_max;
    double min = 0, max = 0;
    rdl_value_range(rdl_props_get(r, "disk"), &has_min, &min, &has_max, &max);
    CHECK(has_min && !has_max && min == 10);
    CHECK(rdl_graph_element(g, "c") && rdl_graph_element(g, "a-b"));
    rdl_graph_free(g);
    return 0;
}

static int
test_ol1(const void *data)
{
    (void)data;
    struct rdl_graph *g = read_ok("rdl-in/read-ol1.yaml");
    CHECK(g);
    CHECK(rdl_graph_level(g) == 1);
    rdl_graph_free(g);
    return 0;
}

/* ---- rdl_read_string, rdl_read_file edges ---- */

static int
test_read_string(const void *data)
{
    (void)data;
    static const char doc[] = "rdl: 1\nkind: underlay\nname: u\nelements:\n"
                              "  h: {type: /node/host, resources: {cpu: 4}}\n";
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct rdl_graph *g = rdl_read_string("inline", doc, strlen(doc), &err);
    CHECK(g);
    CHECK(!cn_err_is_set(&err));
    CHECK_STR(rdl_graph_file(g), "inline");
    rdl_graph_free(g);

    /* Only len bytes count: the rest of the buffer is not read. */
    g = rdl_read_string("cut", doc, 20, &err);
    CHECK(g == NULL);
    CHECK_STR(cn_err_msg(&err),
              "cut:1:1: missing key 'name'\n"
              "cut:2:7: unknown kind 'underla': expected underlay, overlay or mapping");
    cn_err_clear(&err);

    /* The size limit is checked before anything is parsed. */
    g = rdl_read_string("huge", doc, (size_t)RDL_MAX_DOCUMENT_BYTES + 1, &err);
    CHECK(g == NULL);
    CHECK(err.code == CN_E_LIMIT);
    cn_err_clear(&err);

    g = rdl_read_file("rdl-bad/no-such-file.yaml", &err);
    CHECK(g == NULL);
    CHECK(err.code == CN_E_IO);
    CHECK_STR(cn_err_msg(&err), "rdl-bad/no-such-file.yaml: No such file or directory");
    cn_err_clear(&err);

    g = rdl_read_file("rdl-bad", &err);
    CHECK(g == NULL);
    CHECK(err.code == CN_E_IO);
    cn_err_release(&err);
    return 0;
}

/* ---- rdl_validate on graphs built in memory ---- */

static struct rdl_graph *
small_overlay(void)
{
    struct rdl_graph *g = rdl_graph_new(RDL_OVERLAY, "mem");
    rdl_graph_add_element(g, "a", "/node/host/generic", NULL);
    rdl_graph_add_element(g, "b", "/node/host/generic", NULL);
    rdl_graph_add_element(g, "ab", "/link/generic", NULL);
    rdl_graph_add_interface(g, "a", "ab", NULL);
    rdl_graph_add_interface(g, "ab", "b", NULL);
    return g;
}

static int
test_validate_memory(const void *data)
{
    (void)data;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct rdl_graph *g = small_overlay();
    CHECK(rdl_validate(g, &err) == 0);
    CHECK(!cn_err_is_set(&err));

    struct rdl_element *a = rdl_graph_element(g, "a");
    struct rdl_element *b = rdl_graph_element(g, "b");
    rdl_props_set_number(rdl_element_resources_mut(a), "cpu", -1);
    rdl_props_set(rdl_element_features_mut(a), "arch", rdl_value_new_same_as("b"));
    rdl_props_set(rdl_element_features_mut(b), "arch", rdl_value_new_same_as("a"));
    rdl_props_set(rdl_element_features_mut(b), "os", rdl_value_new_same_as("zz"));
    rdl_graph_add_element(g, "cd", "/link/generic", NULL);
    CHECK(rdl_validate(g, &err) == -1);
    CHECK_STR(cn_err_msg(&err), "mem: resource 'cpu' must not be negative\n"
                                "mem: same_as names unknown element 'zz'\n"
                                "mem: same_as cycle: a -> b -> a\n"
                                "mem: link 'cd' has 0 interfaces, needs 2");
    cn_err_clear(&err);

    /* The same graph at level 1 may not be vague at all. */
    rdl_graph_remove_element(g, "cd");
    rdl_props_remove(rdl_element_features_mut(b), "os");
    rdl_props_set_number(rdl_element_resources_mut(a), "cpu", 1);
    rdl_graph_set_level(g, 1);
    CHECK(rdl_validate(g, &err) == -1);
    CHECK_STR(cn_err_msg(&err),
              "mem: feature 'arch' is vague, which a level-1 overlay does not allow\n"
              "mem: feature 'arch' is vague, which a level-1 overlay does not allow");
    cn_err_clear(&err);
    rdl_graph_free(g);

    /* Underlays and mappings. */
    g = rdl_graph_new(RDL_UNDERLAY, "ul");
    struct rdl_element *h = rdl_graph_add_element(g, "h", "/node/host", NULL);
    rdl_props_set(rdl_element_resources_mut(h), "cpu", rdl_value_new_range(true, 1, true, 2));
    rdl_graph_set_vlan_range(g, 10, 5);
    rdl_graph_set_level(g, 1);
    CHECK(rdl_validate(g, &err) == -1);
    CHECK_STR(cn_err_msg(&err), "ul: level is only allowed in overlays\n"
                                "ul: vlan_range must not start after it ends\n"
                                "ul: resource 'cpu' is vague, which an underlay does not allow");
    cn_err_clear(&err);
    rdl_graph_free(g);

    g = rdl_graph_new(RDL_MAPPING, "ml");
    rdl_mapping_set_graphs(g, "o", "u");
    struct rdl_map_entry *m = rdl_mapping_add(g, "x", NULL);
    rdl_map_entry_set_to(m, "h1");
    rdl_map_entry_path_append(m, "h1");
    rdl_map_entry_set_vlan(m, 5000);
    CHECK(rdl_validate(g, &err) == -1);
    CHECK_STR(cn_err_msg(&err), "ml: entry 'x' has both 'to' and 'path'\n"
                                "ml: vlan must lie within 1..4094");
    cn_err_release(&err);
    rdl_graph_free(g);
    return 0;
}

int
main(void)
{
    if (chdir(test_srcdir()) < 0) {
        perror(test_srcdir());
        return EXIT_FAILURE;
    }
    TEST_RUN("bad corpus complete", test_bad_corpus_complete, NULL);
    size_t n;
    char **names = list_dir("rdl-bad", ".yaml", &n);
    for (size_t i = 0; i < n; i++) {
        names[i][strlen(names[i]) - strlen(".yaml")] = '\0';
        struct bad_case bc = {names[i]};
        char *title = xasprintf("bad %s", names[i]);
        TEST_RUN(title, test_bad, &bc);
        free(title);
        free(names[i]);
    }
    free(names);

    names = list_dir("rdl-in", ".yaml", &n);
    for (size_t i = 0; i < n; i++) {
        char *path = xasprintf("rdl-in/%s", names[i]);
        char *title = xasprintf("good %s", names[i]);
        TEST_RUN(title, test_good, path);
        free(title);
        free(path);
        free(names[i]);
    }
    free(names);

    TEST_RUN("design overlay", test_design_overlay, NULL);
    TEST_RUN("design mapping", test_design_mapping, NULL);
    TEST_RUN("underlay", test_underlay, NULL);
    TEST_RUN("value spellings", test_values, NULL);
    TEST_RUN("level-1 overlay", test_ol1, NULL);
    TEST_RUN("read string and file edges", test_read_string, NULL);
    TEST_RUN("validate in memory", test_validate_memory, NULL);
    return test_summary();
}
