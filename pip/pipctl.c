/*
 * pipctl: the operator's tool for pipd's database. It prepares a database
 * (init), loads the substrate pipd offers (load-substrate), shows it back
 * (dump-substrate) and lists the CloudNets held, working through pip/store.h
 * like the daemon itself.
 *
 *   pipctl [--socket PATH | --host HOST [--port N]] [--database NAME]
 *          [--user USER] VERB [ARG]
 *
 * The password, if any, comes from the environment (PIPD_DB_PASSWORD), so it
 * does not show in the process list. Exit status: 0 success, 1 failure,
 * 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pip/store.h"
#include "rdl/rdl.h"
#include "util/log.h"
#include "util/util.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: pipctl [--socket PATH | --host HOST [--port N]] [--database NAME]\n"
               "              [--user USER] VERB [ARG]\n"
               "verbs:\n"
               "  init                  create the database and apply or upgrade the schema\n"
               "  load-substrate FILE   store FILE (an underlay document) as the substrate\n"
               "  dump-substrate        print the stored substrate\n"
               "  list                  list the CloudNets: id, state, expiry, peer\n"
               "  usage                 print what is used of every underlay resource\n"
               "  release ID            release a CloudNet and free what it holds\n"
               "The database password is read from PIPD_DB_PASSWORD.\n");
}

static int
cmd_init(struct pip_store *s, struct cn_err *err)
{
    int from, to;
    if (pip_store_migrate(s, 0, &from, err) < 0 || pip_store_schema_version(s, &to, err) < 0)
        return -1;
    if (from == to)
        printf("schema is at version %d\n", to);
    else
        printf("schema upgraded from version %d to %d\n", from, to);
    return 0;
}

static int
cmd_load(struct pip_store *s, const char *file, struct cn_err *err)
{
    int ret = -1;
    struct rdl_graph *g = rdl_read_file(file, err);
    if (!g)
        return -1;
    if (rdl_graph_kind(g) != RDL_UNDERLAY) {
        cn_err_set(err, CN_E_INVALID, "%s: not an underlay document (kind %s)", file,
                   rdl_kind_name(rdl_graph_kind(g)));
        goto cleanup;
    }
    if (pip_store_load_substrate(s, g, err) < 0)
        goto cleanup;
    printf("substrate %s loaded: %zu elements\n", rdl_graph_name(g), rdl_graph_element_count(g));
    ret = 0;
cleanup:
    rdl_graph_free(g);
    return ret;
}

static int
cmd_dump(struct pip_store *s, struct cn_err *err)
{
    struct cn_buf out = CN_BUF_INIT;
    int ret = -1;
    struct rdl_graph *g = pip_store_dump_substrate(s, err);

    cn_buf_init(&out);
    if (!g || rdl_write(g, &out, err) < 0)
        goto cleanup;
    fputs(out.s, stdout);
    ret = 0;
cleanup:
    cn_buf_release(&out);
    rdl_graph_free(g);
    return ret;
}

static void
format_time(long long t, char *buf, size_t len)
{
    if (t == 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
cmd_list(struct pip_store *s, struct cn_err *err)
{
    struct pip_reservation *items = NULL;
    size_t n = 0;
    if (pip_store_list(s, PIP_LIST_ALL, &items, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char when[32];
        format_time(items[i].expires_at, when, sizeof(when));
        printf("%s\t%s\t%s\t%s\n", items[i].id, pip_state_name(items[i].state), when,
               items[i].peer && *items[i].peer ? items[i].peer : "-");
    }
    pip_reservations_free(items, n);
    return 0;
}

static int
cmd_usage(struct pip_store *s, struct cn_err *err)
{
    struct pip_usage *u = NULL;
    size_t n = 0;
    if (pip_store_usage(s, &u, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        printf("%s\t%s\t%g used\t%g free\tof %g\n", u[i].element, u[i].resource, u[i].used,
               u[i].free, u[i].capacity);
    pip_usage_free(u, n);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        {"socket", required_argument, NULL, 's'},
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"database", required_argument, NULL, 'd'},
        {"user", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pip_store_config cfg = {.database = "pipd"};
    struct cn_err err = CN_ERR_INIT;
    struct pip_store *s = NULL;
    int c, status = 1;
    long port;

    log_init("pipctl", true, 0);
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 's':
            cfg.socket = optarg;
            break;
        case 'H':
            cfg.host = optarg;
            break;
        case 'p':
            if (cn_parse_long(optarg, 1, 65535, &port) < 0) {
                log_warn("--port: not a port number: %s", optarg);
                return 2;
            }
            cfg.port = (unsigned)port;
            break;
        case 'd':
            cfg.database = optarg;
            break;
        case 'u':
            cfg.user = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *verb = argv[optind];
    int nargs = argc - optind - 1;
    bool takes_arg = cn_streq(verb, "load-substrate") || cn_streq(verb, "release");
    bool known = takes_arg || cn_streq(verb, "init") || cn_streq(verb, "dump-substrate") ||
                 cn_streq(verb, "list") || cn_streq(verb, "usage");
    if (!known) {
        log_warn("unknown verb: %s", verb);
        usage(stderr);
        return 2;
    }
    if (nargs != (takes_arg ? 1 : 0)) {
        log_warn("%s takes %s", verb, takes_arg ? "one argument" : "no arguments");
        return 2;
    }
    if (!cfg.socket && !cfg.host) {
        log_warn("say where the database is: --socket PATH or --host HOST");
        return 2;
    }
    cfg.password = getenv("PIPD_DB_PASSWORD");

    s = pip_store_open(&cfg, &err);
    if (!s)
        goto cleanup;
    /* Everything but init needs the schema this pipctl knows. */
    if (!cn_streq(verb, "init")) {
        int version;
        if (pip_store_schema_version(s, &version, &err) < 0)
            goto cleanup;
        if (version != pip_store_schema_latest()) {
            cn_err_set(&err, CN_E_DB, "database schema is version %d, expected %d: run pipctl init",
                       version, pip_store_schema_latest());
            goto cleanup;
        }
    }
    int rc;
    if (cn_streq(verb, "init"))
        rc = cmd_init(s, &err);
    else if (cn_streq(verb, "load-substrate"))
        rc = cmd_load(s, argv[optind + 1], &err);
    else if (cn_streq(verb, "dump-substrate"))
        rc = cmd_dump(s, &err);
    else if (cn_streq(verb, "list"))
        rc = cmd_list(s, &err);
    else if (cn_streq(verb, "usage"))
        rc = cmd_usage(s, &err);
    else
        rc = pip_store_release(s, argv[optind + 1], "released by pipctl", &err);
    if (rc == 0)
        status = 0;
cleanup:
    if (status != 0) {
        const char *msg = *cn_err_msg(&err) ? cn_err_msg(&err) : "failed";
        /* Document problems already read FILE:LINE:COLUMN: message; keep them so. */
        if (err.code == CN_E_INVALID)
            fprintf(stderr, "%s\n", msg);
        else
            log_warn("%s", msg);
    }
    pip_store_close(s);
    cn_err_release(&err);
    return status;
}
