/*
 * Verbs on RDL documents: validate, complete and dot. They only read,
 * transform and write documents; nothing here talks to a daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rdl/rdl.h"
#include "util/log.h"

/* ---- validate ---- */

const char cli_validate_help[] =
    "Usage: cloudnet validate [-q] FILE...\n"
    "\n"
    "Reads each FILE (an underlay, overlay or mapping document in RDL YAML; '-'\n"
    "reads standard input) and checks it completely. Every problem is printed on\n"
    "standard error as FILE:LINE:COLUMN: message. A valid document is reported on\n"
    "standard output as FILE: ok, with its kind, name and size.\n"
    "\n"
    "Options:\n"
    "  -q, --quiet  print nothing for valid documents\n"
    "  -h, --help   show this help and exit\n"
    "\n"
    "Exit status: 0 when every document is valid, 1 when any is not (or cannot be\n"
    "read), 2 on a usage error.\n";

int
cli_validate(const struct cli_verb *verb, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false;
    int c;
    while ((c = cli_next_option(verb, argc, argv, ":qh", longopts)) != -1) {
        switch (c) {
        case 'q':
            quiet = true;
            break;
        case 'h':
            return cli_help(verb);
        default:
            return CLI_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error(verb, "no FILE given");

    int status = CLI_OK;
    for (int i = optind; i < argc; i++) {
        struct rdl_graph *g = cli_read_graph(argv[i]);
        if (!g) {
            status = CLI_FAILURE;
            continue;
        }
        if (!quiet) {
            printf("%s: ok: %s '%s'", argv[i], rdl_kind_name(rdl_graph_kind(g)), rdl_graph_name(g));
            if (rdl_graph_kind(g) == RDL_MAPPING)
                printf(", %zu entries\n", rdl_mapping_count(g));
            else if (rdl_graph_kind(g) == RDL_OVERLAY)
                printf(", level %d, %zu elements\n", rdl_graph_level(g),
                       rdl_graph_element_count(g));
            else
                printf(", %zu elements\n", rdl_graph_element_count(g));
        }
        rdl_graph_free(g);
    }
    if (fflush(stdout) != 0) {
        log_warn("cannot write to standard output: %s", strerror(errno));
        status = CLI_FAILURE;
    }
    return status;
}

/* ---- complete ---- */

const char cli_complete_help[] =
    "Usage: cloudnet complete [-o OUTPUT] FILE\n"
    "\n"
    "Reads the overlay FILE (a CloudNet request, possibly vague: level 0) and\n"
    "fixes every vague value, giving a level 1 overlay:\n"
    "  - elements linked by same_as get one common value;\n"
    "  - a definite value wins; else the first listed item that satisfies every\n"
    "    other constraint; else the least value of the ranges (their greatest\n"
    "    when no range has a minimum);\n"
    "  - latency bounds {max: N} on links and omitted features stay as they are.\n"
    "When no value satisfies a group, the conflicting value is reported as\n"
    "FILE:LINE:COLUMN: message.\n"
    "\n"
    "Options:\n"
    "  -o, --output OUTPUT  write the result to OUTPUT (atomically) instead of\n"
    "                       standard output\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Exit status: 0 on success, 1 when FILE is invalid, not an overlay or cannot\n"
    "be completed, 2 on a usage error.\n";

/* The usage error of a verb that takes exactly one FILE but got argc - optind. */
static int
one_file_expected(const struct cli_verb *verb, int argc, char **argv)
{
    if (optind >= argc)
        return cli_usage_error(verb, "no FILE given");
    return cli_usage_error(verb, "one FILE only, got '%s' too", argv[optind + 1]);
}

int
cli_complete(const struct cli_verb *verb, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    int c;
    while ((c = cli_next_option(verb, argc, argv, ":o:h", longopts)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'h':
            return cli_help(verb);
        default:
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc)
        return one_file_expected(verb, argc, argv);

    int status = CLI_FAILURE;
    struct rdl_graph *ol1 = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);

    struct rdl_graph *ol0 = cli_read_graph(argv[optind]);
    if (!ol0)
        goto cleanup;
    ol1 = rdl_complete(ol0, &err);
    if (!ol1) {
        cli_print_err(&err);
        goto cleanup;
    }
    status = cli_emit_graph(ol1, output);

cleanup:
    rdl_graph_free(ol0);
    rdl_graph_free(ol1);
    cn_err_release(&err);
    return status;
}

/* ---- dot ---- */

const char cli_dot_help[] =
    "Usage: cloudnet dot [--underlay UNDERLAY] [--svg OUTPUT] FILE\n"
    "\n"
    "Draws FILE in Graphviz DOT on standard output. An underlay or overlay is\n"
    "drawn as its nodes and links. A mapping is drawn on UNDERLAY when given:\n"
    "each underlay node is a box holding the overlay nodes placed on it, and each\n"
    "overlay link a coloured line along its path.\n"
    "\n"
    "Options:\n"
    "  -u, --underlay UNDERLAY  the underlay document FILE (a mapping) refers to\n"
    "  -s, --svg OUTPUT         render with Graphviz's dot -Tsvg into OUTPUT instead\n"
    "                           of printing DOT (needs the graphviz package)\n"
    "  -h, --help               show this help and exit\n"
    "\n"
    "Exit status: 0 on success, 1 when a document is invalid or Graphviz is\n"
    "missing or fails, 2 on a usage error.\n";

/* The path of an executable found in PATH, which the caller frees; NULL when there is none. */
static char *
find_in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        return NULL;
    char *dirs = xstrdup(path);
    char *found = NULL;
    char *save = NULL;
    for (char *dir = strtok_r(dirs, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char *candidate = xasprintf("%s/%s", *dir ? dir : ".", prog);
        if (access(candidate, X_OK) == 0)
            found = candidate;
        else
            free(candidate);
    }
    free(dirs);
    return found;
}

/* Pipes dot text through `dot -Tsvg` into output (atomically); CLI_OK or CLI_FAILURE. */
static int
render_svg(const struct cn_buf *dot, const char *output)
{
    int status = CLI_FAILURE;
    int fds[2] = {-1, -1};
    char *tmp = NULL;
    char *prog = find_in_path("dot");
    if (!prog) {
        log_warn("cannot render SVG: Graphviz's 'dot' is not in PATH (install the graphviz "
                 "package, or drop --svg to get the DOT text)");
        goto cleanup;
    }
    tmp = xasprintf("%s.tmp.%ld", output, (long)getpid());
    if (pipe(fds) < 0) {
        log_warn("pipe: %s", strerror(errno));
        goto cleanup;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("fork: %s", strerror(errno));
        goto cleanup;
    }
    if (pid == 0) {
        dup2(fds[0], STDIN_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(prog, "dot", "-Tsvg", "-o", tmp, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    fds[0] = -1;
    bool write_failed = false;
    for (size_t off = 0; off < dot->len;) {
        ssize_t n = write(fds[1], dot->s + off, dot->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            write_failed = true;
            break;
        }
        off += (size_t)n;
    }
    close(fds[1]);
    fds[1] = -1;
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) {
            log_warn("waitpid: %s", strerror(errno));
            goto cleanup;
        }
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0 || write_failed) {
        log_warn("%s -Tsvg failed (%s %d)", prog, WIFEXITED(ws) ? "exit status" : "signal",
                 WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
        goto cleanup;
    }
    if (rename(tmp, output) < 0) {
        log_warn("%s: %s", output, strerror(errno));
        goto cleanup;
    }
    status = CLI_OK;

cleanup:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    if (tmp && status != CLI_OK)
        unlink(tmp);
    free(tmp);
    free(prog);
    return status;
}

int
cli_dot(const struct cli_verb *verb, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"underlay", required_argument, NULL, 'u'},
        {"svg", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *underlay_path = NULL, *svg = NULL;
    int c;
    while ((c = cli_next_option(verb, argc, argv, ":u:s:h", longopts)) != -1) {
        switch (c) {
        case 'u':
            underlay_path = optarg;
            break;
        case 's':
            svg = optarg;
            break;
        case 'h':
            return cli_help(verb);
        default:
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc)
        return one_file_expected(verb, argc, argv);

    int status = CLI_FAILURE;
    struct rdl_graph *ul = NULL;
    struct cn_buf out = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    cn_buf_init(&out);
    cn_err_init(&err);

    struct rdl_graph *g = cli_read_graph(argv[optind]);
    if (!g)
        goto cleanup;
    if (underlay_path) {
        if (rdl_graph_kind(g) != RDL_MAPPING) {
            log_warn("%s: --underlay applies to a mapping document, this is an %s", argv[optind],
                     rdl_kind_name(rdl_graph_kind(g)));
            goto cleanup;
        }
        ul = cli_read_graph(underlay_path);
        if (!ul)
            goto cleanup;
    }
    if (rdl_write_dot(g, ul, &out, &err) < 0) {
        cli_print_err(&err);
        goto cleanup;
    }
    status = svg ? render_svg(&out, svg) : cli_write_stdout(&out);

cleanup:
    rdl_graph_free(g);
    rdl_graph_free(ul);
    cn_buf_release(&out);
    cn_err_release(&err);
    return status;
}
