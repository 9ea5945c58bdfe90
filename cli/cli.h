/*
 * The `cloudnet` command-line tool: the verb table in main.c dispatches to
 * one function per verb, grouped in files by what they work on. Verbs print
 * diagnostics themselves and return the process exit status.
 */
#ifndef CLOUDNET_CLI_H
#define CLOUDNET_CLI_H

#include "util/util.h"

#define CLOUDNET_VERSION "0.1.0"

/* Exit statuses, documented in `cloudnet --help` and README.md. */
enum {
    CLI_OK = 0,
    CLI_FAILURE = 1, /* invalid input, infeasible request, I/O error, ... */
    CLI_USAGE = 2,   /* unknown command or option, wrong number of arguments */
};

struct rdl_graph;

struct cli_verb {
    const char *name;
    const char *summary; /* one line for `cloudnet --help` */
    const char *help;    /* the full text of `cloudnet VERB --help` */
    int (*run)(const struct cli_verb *verb, int argc, char **argv);
};

/* Prints "cloudnet VERB: message" and a pointer to --help; returns CLI_USAGE. */
int cli_usage_error(const struct cli_verb *verb, const char *fmt, ...) CN_PRINTF(2, 3);
/* Prints the verb's help on stdout; returns CLI_OK. */
int cli_help(const struct cli_verb *verb);
/* Prints every message of err on stderr, one per line, as the library wrote them. */
void cli_print_err(const struct cn_err *err);
/* Reads and validates a document ("-" is standard input); NULL after printing the problems. */
struct rdl_graph *cli_read_graph(const char *path);
/* Writes buf to standard output; CLI_OK, or CLI_FAILURE after saying why. */
int cli_write_stdout(const struct cn_buf *buf);
/*
 * Writes g as YAML to output (atomically) or, when output is NULL, to
 * standard output; CLI_OK, or CLI_FAILURE after saying why.
 */
int cli_emit_graph(const struct rdl_graph *g, const char *output);
/*
 * Runs getopt_long for a verb and turns its complaints into usage errors
 * that name the verb. Returns the option, -1 at the end, or '?' after a
 * usage error was printed.
 */
struct option;
int cli_next_option(const struct cli_verb *verb, int argc, char **argv, const char *shortopts,
                    const struct option *longopts);

/* Verbs on RDL documents (cli/rdl_cmds.c). */
int cli_validate(const struct cli_verb *verb, int argc, char **argv);
int cli_complete(const struct cli_verb *verb, int argc, char **argv);
int cli_dot(const struct cli_verb *verb, int argc, char **argv);
extern const char cli_validate_help[];
extern const char cli_complete_help[];
extern const char cli_dot_help[];

/* Verbs that place overlays on underlays (cli/map_cmds.c). */
int cli_map(const struct cli_verb *verb, int argc, char **argv);
int cli_check(const struct cli_verb *verb, int argc, char **argv);
int cli_rebalance(const struct cli_verb *verb, int argc, char **argv);
extern const char cli_map_help[];
extern const char cli_check_help[];
extern const char cli_rebalance_help[];

/* The service provider's verbs on a PIP or a VNP (cli/net_cmds.c). */
int cli_submit(const struct cli_verb *verb, int argc, char **argv);
int cli_status(const struct cli_verb *verb, int argc, char **argv);
int cli_list(const struct cli_verb *verb, int argc, char **argv);
int cli_release(const struct cli_verb *verb, int argc, char **argv);
int cli_start(const struct cli_verb *verb, int argc, char **argv);
int cli_stop(const struct cli_verb *verb, int argc, char **argv);
int cli_console(const struct cli_verb *verb, int argc, char **argv);
int cli_manifest(const struct cli_verb *verb, int argc, char **argv);
int cli_powercycle(const struct cli_verb *verb, int argc, char **argv);
int cli_renew(const struct cli_verb *verb, int argc, char **argv);
int cli_describe(const struct cli_verb *verb, int argc, char **argv);
int cli_modify(const struct cli_verb *verb, int argc, char **argv);
extern const char cli_submit_help[];
extern const char cli_status_help[];
extern const char cli_list_help[];
extern const char cli_release_help[];
extern const char cli_start_help[];
extern const char cli_stop_help[];
extern const char cli_console_help[];
extern const char cli_manifest_help[];
extern const char cli_powercycle_help[];
extern const char cli_renew_help[];
extern const char cli_describe_help[];
extern const char cli_modify_help[];

#endif /* CLOUDNET_CLI_H */
