/*
 * cloudnet: the operator's and scripts' tool for RDL documents, and later
 * for talking to the daemons. `cloudnet VERB ...` looks VERB up in the
 * static table below; each verb parses its own options and returns the exit
 * status. New verbs (map, rebalance, submit, status, ...) are one entry here
 * and one function elsewhere in cli/.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "rdl/rdl.h"
#include "util/log.h"

static const struct cli_verb verbs[] = {
    {
        .name = "validate",
        .summary = "check RDL documents and report every problem",
        .help = cli_validate_help,
        .run = cli_validate,
    },
    {
        .name = "complete",
        .summary = "fix every vague value of an overlay (OL0 -> OL1)",
        .help = cli_complete_help,
        .run = cli_complete,
    },
    {
        .name = "dot",
        .summary = "draw a document (or a mapping on its underlay) with Graphviz",
        .help = cli_dot_help,
        .run = cli_dot,
    },
    {
        .name = "map",
        .summary = "place an overlay on an underlay and write the mapping",
        .help = cli_map_help,
        .run = cli_map,
    },
    {
        .name = "check",
        .summary = "verify a mapping against its overlay and underlay",
        .help = cli_check_help,
        .run = cli_check,
    },
    {
        .name = "rebalance",
        .summary = "re-map CloudNets to empty a share of the hosts; report the moves",
        .help = cli_rebalance_help,
        .run = cli_rebalance,
    },
    {
        .name = "submit",
        .summary = "negotiate and confirm a CloudNet at a PIP or VNP; show where it went",
        .help = cli_submit_help,
        .run = cli_submit,
    },
    {
        .name = "modify",
        .summary = "change a live CloudNet at a PIP or VNP to a new overlay",
        .help = cli_modify_help,
        .run = cli_modify,
    },
    {
        .name = "status",
        .summary = "show a CloudNet's state and each element's state",
        .help = cli_status_help,
        .run = cli_status,
    },
    {
        .name = "list",
        .summary = "list your CloudNets at a PIP or VNP",
        .help = cli_list_help,
        .run = cli_list,
    },
    {
        .name = "release",
        .summary = "release a CloudNet",
        .help = cli_release_help,
        .run = cli_release,
    },
    {
        .name = "start",
        .summary = "start a CloudNet's VNodes",
        .help = cli_start_help,
        .run = cli_start,
    },
    {
        .name = "stop",
        .summary = "power a CloudNet's VNodes off",
        .help = cli_stop_help,
        .run = cli_stop,
    },
    {
        .name = "console",
        .summary = "show where a VNode's console is",
        .help = cli_console_help,
        .run = cli_console,
    },
    {
        .name = "manifest",
        .summary = "print a CloudNet's mapping document",
        .help = cli_manifest_help,
        .run = cli_manifest,
    },
    {
        .name = "powercycle",
        .summary = "reset a CloudNet's VNodes",
        .help = cli_powercycle_help,
        .run = cli_powercycle,
    },
    {
        .name = "renew",
        .summary = "extend the lease of an allocated CloudNet",
        .help = cli_renew_help,
        .run = cli_renew,
    },
    {
        .name = "describe",
        .summary = "show what a PIP or VNP offers",
        .help = cli_describe_help,
        .run = cli_describe,
    },
};

static void
usage(FILE *out)
{
    fputs("Usage: cloudnet COMMAND [OPTION]... [ARGUMENT]...\n"
          "       cloudnet --help | --version\n"
          "\n"
          "Work with CloudNet resource descriptions (RDL documents: underlays,\n"
          "overlays and mappings), and submit and look after CloudNets at a PIP or\n"
          "a VNP.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < CN_ARRAY_SIZE(verbs); i++)
        fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
    fputs("\n"
          "Run 'cloudnet COMMAND --help' for the arguments and options of a command.\n"
          "\n"
          "Options:\n"
          "  -h, --help     show this help and exit\n"
          "  -V, --version  show the version and exit\n"
          "\n"
          "Exit status:\n"
          "  0  success\n"
          "  1  failure: an invalid document, an impossible request, a file that cannot\n"
          "     be read or written, a refusal by the peer; the reason is on standard\n"
          "     error\n"
          "  2  usage error: unknown command or option, missing or extra arguments\n"
          "\n"
          "Environment:\n"
          "  CLOUDNET_SECRET  the secret shared with the PIP or VNP (never an option)\n"
          "  CLOUDNET_CONFIG  the client configuration (default\n"
          "                   ~/.config/cloudnet/client.conf: 'url URL', 'secret URL SECRET')\n",
          out);
}

static const struct cli_verb *
find_verb(const char *name)
{
    for (size_t i = 0; i < CN_ARRAY_SIZE(verbs); i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

int
main(int argc, char **argv)
{
    log_init("cloudnet", true, 0);
    /* A reader that goes away (cloudnet dot x | head) is a write error, not a signal. */
    signal(SIGPIPE, SIG_IGN);

    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("cloudnet %s (RDL format %d)\n", CLOUDNET_VERSION, RDL_FORMAT_VERSION);
        return CLI_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc == 2) {
            usage(stdout);
            return CLI_OK;
        }
        const struct cli_verb *verb = find_verb(argv[2]);
        if (verb)
            return cli_help(verb);
        log_warn("unknown command '%s'; see 'cloudnet --help'", argv[2]);
        return CLI_USAGE;
    }
    if (cmd[0] == '-') {
        log_warn("unknown option '%s'; see 'cloudnet --help'", cmd);
        return CLI_USAGE;
    }
    const struct cli_verb *verb = find_verb(cmd);
    if (!verb) {
        log_warn("unknown command '%s'; see 'cloudnet --help'", cmd);
        return CLI_USAGE;
    }
    /* The verb sees itself as argv[0], as getopt expects. */
    return verb->run(verb, argc - 1, argv + 1);
}
