/*
 * Verbs that place overlays on underlays: map (solve and write the mapping
 * document, optionally re-mapping against a previous one), check (verify a
 * mapping document against its overlay and underlay) and rebalance (re-map
 * several CloudNets to empty a share of the hosts). They work on files
 * only; the daemons call the same library functions.
 */
#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mapping/mapping.h"
#include "rdl/rdl.h"
#include "util/log.h"

/* Reads a document that must be of the given kind; NULL after saying why. */
static struct rdl_graph *
read_kind(const char *path, enum rdl_kind kind, const char *option)
{
    struct rdl_graph *g = cli_read_graph(path);
    if (g && rdl_graph_kind(g) != kind) {
        log_warn("%s: %s needs an %s document, this is an %s", path, option, rdl_kind_name(kind),
                 rdl_kind_name(rdl_graph_kind(g)));
        rdl_graph_free(g);
        return NULL;
    }
    return g;
}

/*
 * Reads the mappings given with --existing into a new array (of the valid
 * ones), reporting every invalid one; 0 or -1.
 */
static int
existing_read(char **paths, size_t n, struct rdl_graph ***ret_graphs, size_t *ret_n)
{
    struct rdl_graph **graphs = xcalloc(n + 1, sizeof(*graphs));
    size_t count = 0;
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        struct rdl_graph *g = read_kind(paths[i], RDL_MAPPING, "--existing");
        if (!g)
            ret = -1;
        else
            graphs[count++] = g;
    }
    *ret_graphs = graphs;
    *ret_n = count;
    return ret;
}

/* Sets --time-limit; -1 after the usage error. */
static int
time_limit_option(const struct cli_verb *verb, const char *arg, struct map_options *opts)
{
    if (cn_parse_double(arg, &opts->time_limit_s) < 0 || opts->time_limit_s <= 0) {
        cli_usage_error(verb, "--time-limit needs a number of seconds > 0, not '%s'", arg);
        return -1;
    }
    return 0;
}

/* status, or CLI_FAILURE after saying why when standard output did not take everything. */
static int
stdout_flushed(int status)
{
    if (fflush(stdout) != 0) {
        log_warn("cannot write to standard output: %s", strerror(errno));
        return CLI_FAILURE;
    }
    return status;
}

struct inputs {
    struct rdl_graph *ul, *ol;
    struct rdl_graph **existing;
    size_t n_existing;
};

static void
inputs_release(struct inputs *in)
{
    rdl_graph_free(in->ul);
    rdl_graph_free(in->ol);
    for (size_t i = 0; i < in->n_existing; i++)
        rdl_graph_free(in->existing[i]);
    free(in->existing);
}

/* Reads every input, reporting every invalid one; 0 or -1. */
static int
inputs_read(struct inputs *in, const char *ul, const char *ol, char **existing, size_t n)
{
    int ret = 0;
    in->ul = read_kind(ul, RDL_UNDERLAY, "--underlay");
    in->ol = read_kind(ol, RDL_OVERLAY, "--overlay");
    if (!in->ul || !in->ol)
        ret = -1;
    if (existing_read(existing, n, &in->existing, &in->n_existing) < 0)
        ret = -1;
    return ret;
}

/* ---- map ---- */

const char cli_map_help[] =
    "Usage: cloudnet map --underlay UL --overlay OL [--existing ML]... [-o OUTPUT]\n"
    "                    [--objective cost|load|energy] [--algorithm mip|heuristic|grc]\n"
    "                    [--time-limit S] [--gap G] [--previous ML [--move-cost N]]\n"
    "\n"
    "Places the overlay OL (a CloudNet request, vague or not) on the underlay UL\n"
    "and writes the mapping document: where every node sits with its allocated\n"
    "resources and final feature values, and the path of every link. Mappings\n"
    "already on UL (--existing, repeatable) keep their resources.\n"
    "\n"
    "  - An overlay node may sit on an underlay node whose type its type fits,\n"
    "    whose features match its features and whose free capacity covers it.\n"
    "  - Vague resources take the least value allowed; vague features take a\n"
    "    value the chosen host offers; features tied by same_as are decided by\n"
    "    the solve (every combination of possible values, up to 64).\n"
    "  - Several overlay nodes may share a host, except a node carrying\n"
    "    'anti_affinity: true'. Paths do not pass through underlay nodes with\n"
    "    'forwarding: false'. A link's 'latency: {max: N}' bounds its path.\n"
    "\n"
    "Options:\n"
    "  -u, --underlay UL      the substrate (an underlay document)\n"
    "  -O, --overlay OL       the request (an overlay document)\n"
    "  -e, --existing ML      a mapping already allocated on UL (repeatable)\n"
    "  -o, --output OUTPUT    write the mapping to OUTPUT (atomically) instead of\n"
    "                         standard output; nothing is written on failure\n"
    "  -j, --objective NAME   cost (default: bandwidth x hops + cpu), load (the\n"
    "                         largest fraction of any capacity in use) or energy\n"
    "                         (underlay elements newly put in use)\n"
    "  -a, --algorithm NAME   mip (default, exact), heuristic or grc\n"
    "  -t, --time-limit S     give up after S seconds (default 10)\n"
    "  -g, --gap G            stop the MIP at relative gap G (default 0: optimal)\n"
    "  -p, --previous ML      re-map: ML maps an earlier version of this overlay on\n"
    "                         UL. Its nodes stay on their hosts (links are\n"
    "                         re-routed freely); new nodes go anywhere. Pass as\n"
    "                         --existing only the other CloudNets' mappings: ML's\n"
    "                         own resources are not counted as used\n"
    "  -m, --move-cost N      with --previous: let a node move at a cost of N,\n"
    "                         added to the objective (default: never move); an\n"
    "                         overlay node's feature 'migration_cost: N' overrides\n"
    "                         it for that node\n"
    "  -h, --help             show this help and exit\n"
    "\n"
    "Exit status: 0 when the mapping was written; 1 when a document is invalid\n"
    "(FILE:LINE:COLUMN: message), the request cannot be placed (the reason is on\n"
    "standard error) or no mapping was found within the time limit; 2 on a\n"
    "usage error.\n";

int
cli_map(const struct cli_verb *verb, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"underlay", required_argument, NULL, 'u'},
        {"overlay", required_argument, NULL, 'O'},
        {"existing", required_argument, NULL, 'e'},
        {"output", required_argument, NULL, 'o'},
        {"objective", required_argument, NULL, 'j'},
        {"algorithm", required_argument, NULL, 'a'},
        {"time-limit", required_argument, NULL, 't'},
        {"gap", required_argument, NULL, 'g'},
        {"previous", required_argument, NULL, 'p'},
        {"move-cost", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ul_path = NULL, *ol_path = NULL, *output = NULL, *prev_path = NULL;
    bool move_cost_set = false;
    char **existing = xcalloc((size_t)argc + 1, sizeof(char *));
    size_t n_existing = 0;
    struct map_options opts;
    map_options_init(&opts);
    int status = CLI_USAGE;
    int c;
    while ((c = cli_next_option(verb, argc, argv, ":u:O:e:o:j:a:t:g:p:m:h", longopts)) != -1) {
        switch (c) {
        case 'u':
            ul_path = optarg;
            break;
        case 'O':
            ol_path = optarg;
            break;
        case 'e':
            existing[n_existing++] = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'j':
            if (!map_objective_known(optarg)) {
                cli_usage_error(verb, "unknown objective '%s' (cost, load or energy)", optarg);
                goto done;
            }
            opts.objective = optarg;
            break;
        case 'a':
            if (map_algorithm_parse(optarg, &opts.algorithm) < 0) {
                cli_usage_error(verb, "unknown algorithm '%s' (mip, heuristic or grc)", optarg);
                goto done;
            }
            break;
        case 't':
            if (time_limit_option(verb, optarg, &opts) < 0)
                goto done;
            break;
        case 'g':
            if (cn_parse_double(optarg, &opts.mip_gap) < 0 || opts.mip_gap < 0) {
                cli_usage_error(verb, "--gap needs a number >= 0, not '%s'", optarg);
                goto done;
            }
            break;
        case 'p':
            prev_path = optarg;
            break;
        case 'm':
            if (cn_parse_double(optarg, &opts.move_cost) < 0 || !(opts.move_cost >= 0)) {
                cli_usage_error(verb, "--move-cost needs a number >= 0, not '%s'", optarg);
                goto done;
            }
            move_cost_set = true;
            break;
        case 'h':
            status = cli_help(verb);
            goto done;
        default:
            goto done;
        }
    }
    if (optind < argc) {
        cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
        goto done;
    }
    if (!ul_path || !ol_path) {
        cli_usage_error(verb, "--underlay and --overlay are required");
        goto done;
    }
    if (move_cost_set && !prev_path) {
        cli_usage_error(verb, "--move-cost needs --previous");
        goto done;
    }

    status = CLI_FAILURE;
    struct inputs in = {0};
    struct rdl_graph *ml = NULL, *prev = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int bad = inputs_read(&in, ul_path, ol_path, existing, n_existing);
    if (prev_path && !(prev = read_kind(prev_path, RDL_MAPPING, "--previous")))
        bad = -1;
    if (bad < 0)
        goto cleanup;
    opts.previous = prev;
    if (map_rdl_solve(in.ul, (const struct rdl_graph *const *)in.existing, in.n_existing, in.ol,
                      &opts, &ml, &err) < 0) {
        cli_print_err(&err);
        goto cleanup;
    }
    status = cli_emit_graph(ml, output);
cleanup:
    rdl_graph_free(prev);
    rdl_graph_free(ml);
    inputs_release(&in);
    cn_err_release(&err);
done:
    free(existing);
    return status;
}

/* ---- check ---- */

const char cli_check_help[] =
    "Usage: cloudnet check --underlay UL --overlay OL [--existing ML]... MAPPING\n"
    "\n"
    "Checks that the mapping document MAPPING places the overlay OL correctly on\n"
    "the underlay UL, given the mappings already there (--existing): every\n"
    "element mapped; nodes on underlay nodes of a fitting type that offer their\n"
    "features, with final values the request allows; same_as values equal;\n"
    "anti_affinity respected; no capacity of a node or link exceeded; every\n"
    "path alternating adjacent nodes and links from the host of the link's\n"
    "first endpoint to that of its second, never through a 'forwarding: false'\n"
    "node, within the link's latency bound; and the reported objective value\n"
    "right. Each violation is printed on standard error, one per line.\n"
    "\n"
    "Options:\n"
    "  -u, --underlay UL   the substrate (an underlay document)\n"
    "  -O, --overlay OL    the request (an overlay document)\n"
    "  -e, --existing ML   a mapping already allocated on UL (repeatable)\n"
    "  -q, --quiet         print nothing when the mapping is valid\n"
    "  -h, --help          show this help and exit\n"
    "\n"
    "Exit status: 0 when MAPPING is valid, 1 when it is not (or a document is\n"
    "invalid), 2 on a usage error.\n";

int
cli_check(const struct cli_verb *verb, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"underlay", required_argument, NULL, 'u'}, {"overlay", required_argument, NULL, 'O'},
        {"existing", required_argument, NULL, 'e'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *ul_path = NULL, *ol_path = NULL;
    char **existing = xcalloc((size_t)argc + 1, sizeof(char *));
    size_t n_existing = 0;
    bool quiet = false;
    int status = CLI_USAGE;
    int c;
    while ((c = cli_next_option(verb, argc, argv, ":u:O:e:qh", longopts)) != -1) {
        switch (c) {
        case 'u':
            ul_path = optarg;
            break;
        case 'O':
            ol_path = optarg;
            break;
        case 'e':
            existing[n_existing++] = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            status = cli_help(verb);
            goto done;
        default:
            goto done;
        }
    }
    if (!ul_path || !ol_path) {
        cli_usage_error(verb, "--underlay and --overlay are required");
        goto done;
    }
    if (optind >= argc) {
        cli_usage_error(verb, "no MAPPING given");
        goto done;
    }
    if (optind + 1 < argc) {
        cli_usage_error(verb, "one MAPPING only, got '%s' too", argv[optind + 1]);
        goto done;
    }

    status = CLI_FAILURE;
    struct inputs in = {0};
    struct rdl_graph *ml = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    int bad = inputs_read(&in, ul_path, ol_path, existing, n_existing);
    ml = read_kind(argv[optind], RDL_MAPPING, "MAPPING");
    if (bad < 0 || !ml)
        goto cleanup;
    if (map_rdl_check(in.ul, (const struct rdl_graph *const *)in.existing, in.n_existing, in.ol, ml,
                      &err) < 0) {
        /* One violation per line, each naming the mapping file like other diagnostics. */
        const char *msg = cn_err_msg(&err);
        while (*msg) {
            size_t n = strcspn(msg, "\n");
            fprintf(stderr, "%s: %.*s\n", argv[optind], (int)n, msg);
            msg += n + (msg[n] == '\n');
        }
        goto cleanup;
    }
    if (!quiet)
        printf("%s: ok: '%s' on '%s'\n", argv[optind], rdl_graph_name(in.ol),
               rdl_graph_name(in.ul));
    status = stdout_flushed(CLI_OK);
cleanup:
    rdl_graph_free(ml);
    inputs_release(&in);
    cn_err_release(&err);
done:
    free(existing);
    return status;
}

/* ---- rebalance ---- */

const char cli_rebalance_help[] =
    "Usage: cloudnet rebalance --underlay UL --cloudnet OL:ML [--cloudnet OL:ML]...\n"
    "                          --free PCT [--existing ML]... [--move-cost N]\n"
    "                          [--time-limit S] [-o DIR]\n"
    "\n"
    "Answers \"can I free PCT% of my hosts, and what would the migrations cost?\".\n"
    "Re-maps the given CloudNets (each an overlay OL and its current mapping ML\n"
    "on UL) together so that at most (1 - PCT/100) x hosts hosts carry VNodes\n"
    "afterwards, where hosts are the underlay nodes whose type is under\n"
    "/node/host. One MIP minimises the total migration cost, then the classic\n"
    "cost; links are re-routed freely. Mappings of other CloudNets (--existing)\n"
    "stay where they are and their hosts count as in use.\n"
    "\n"
    "It prints the moves (CloudNet, element, from host, to host, cost), their\n"
    "total and how many hosts are empty afterwards. With -o it writes the new\n"
    "mapping of every CloudNet to DIR/NAME.yaml (NAME: the overlay's name);\n"
    "without it nothing is written (a dry run).\n"
    "\n"
    "Options:\n"
    "  -u, --underlay UL      the substrate (an underlay document)\n"
    "  -c, --cloudnet OL:ML   a CloudNet to rebalance: its overlay and current\n"
    "                         mapping, split at the first ':' (repeatable)\n"
    "  -f, --free PCT         the share of hosts to empty, 0..100 (a trailing %\n"
    "                         is allowed)\n"
    "  -e, --existing ML      a mapping of another CloudNet on UL (repeatable)\n"
    "  -m, --move-cost N      what moving one VNode costs (default 1: the number\n"
    "                         of moves); an overlay node's feature\n"
    "                         'migration_cost: N' overrides it for that node\n"
    "  -t, --time-limit S     give up after S seconds (default 10)\n"
    "  -o, --output DIR       write the new mappings to DIR/NAME.yaml\n"
    "  -h, --help             show this help and exit\n"
    "\n"
    "Exit status: 0 when the target is met (and the mappings written); 1 when a\n"
    "document is invalid, the target is out of reach (\"cannot free 50% of 8\n"
    "hosts: at most 3 (37.5%) can be emptied\"), the CloudNets do not fit, or no\n"
    "answer was found within the time limit; 2 on a usage error.\n";

struct rebalance_inputs {
    struct rdl_graph *ul;
    struct rdl_graph **ols, **mls, **existing;
    size_t n, n_existing;
};

static void
rebalance_inputs_release(struct rebalance_inputs *in)
{
    rdl_graph_free(in->ul);
    for (size_t i = 0; i < in->n; i++) {
        rdl_graph_free(in->ols[i]);
        rdl_graph_free(in->mls[i]);
    }
    for (size_t i = 0; i < in->n_existing; i++)
        rdl_graph_free(in->existing[i]);
    free(in->ols);
    free(in->mls);
    free(in->existing);
}

/* Reads every document, reporting every invalid one; 0 or -1. */
static int
rebalance_inputs_read(struct rebalance_inputs *in, const char *ul, char **pairs, size_t n,
                      char **existing, size_t n_existing)
{
    int ret = 0;
    in->ul = read_kind(ul, RDL_UNDERLAY, "--underlay");
    if (!in->ul)
        ret = -1;
    in->ols = xcalloc(n + 1, sizeof(*in->ols));
    in->mls = xcalloc(n + 1, sizeof(*in->mls));
    for (size_t i = 0; i < n; i++) {
        char *ol = xstrdup(pairs[i]);
        char *ml = strchr(ol, ':');
        *ml++ = '\0';
        in->ols[in->n] = read_kind(ol, RDL_OVERLAY, "--cloudnet OL");
        in->mls[in->n] = read_kind(ml, RDL_MAPPING, "--cloudnet ML");
        in->n++;
        if (!in->ols[in->n - 1] || !in->mls[in->n - 1])
            ret = -1;
        free(ol);
    }
    if (existing_read(existing, n_existing, &in->existing, &in->n_existing) < 0)
        ret = -1;
    return ret;
}

static void
rebalance_report(const struct map_rdl_rebalance *rb, const struct rebalance_inputs *in,
                 double free_pct)
{
    int wn = 8, we = 7, wf = 4, wt = 2;
    for (size_t i = 0; i < rb->nmoves; i++) {
        const struct map_rdl_move *mv = &rb->moves[i];
        int l = (int)strlen(rdl_graph_name(in->ols[mv->cloudnet]));
        wn = l > wn ? l : wn;
        l = (int)strlen(mv->element);
        we = l > we ? l : we;
        l = (int)strlen(mv->from);
        wf = l > wf ? l : wf;
        l = (int)strlen(mv->to);
        wt = l > wt ? l : wt;
    }
    if (rb->nmoves) {
        printf("%-*s  %-*s  %-*s  %-*s  %s\n", wn, "CLOUDNET", we, "ELEMENT", wf, "FROM", wt, "TO",
               "COST");
        for (size_t i = 0; i < rb->nmoves; i++) {
            const struct map_rdl_move *mv = &rb->moves[i];
            printf("%-*s  %-*s  %-*s  %-*s  %g\n", wn, rdl_graph_name(in->ols[mv->cloudnet]), we,
                   mv->element, wf, mv->from, wt, mv->to, mv->cost);
        }
    } else {
        printf("no moves\n");
    }
    printf("total move cost: %g (%zu move%s)%s\n", rb->move_cost, rb->nmoves,
           rb->nmoves == 1 ? "" : "s", rb->gap > 0 ? " (not proven least)" : "");
    size_t empty = rb->hosts - rb->used_after;
    printf("hosts: %zu, in use before %zu, after %zu; empty now: %zu (%.1f%%)\n", rb->hosts,
           rb->used_before, rb->used_after, empty,
           rb->hosts ? 100.0 * (double)empty / (double)rb->hosts : 0.0);
    printf("target: free %g%% (at most %zu in use): met\n", free_pct, rb->max_used);
}

int
cli_rebalance(const struct cli_verb *verb, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"underlay", required_argument, NULL, 'u'},
        {"cloudnet", required_argument, NULL, 'c'},
        {"free", required_argument, NULL, 'f'},
        {"existing", required_argument, NULL, 'e'},
        {"move-cost", required_argument, NULL, 'm'},
        {"time-limit", required_argument, NULL, 't'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ul_path = NULL, *outdir = NULL;
    char **pairs = xcalloc((size_t)argc + 1, sizeof(char *));
    char **existing = xcalloc((size_t)argc + 1, sizeof(char *));
    size_t n = 0, n_existing = 0;
    double free_pct = NAN;
    struct map_options opts;
    map_options_init(&opts);
    opts.move_cost = 1;
    int status = CLI_USAGE;
    int c;
    while ((c = cli_next_option(verb, argc, argv, ":u:c:f:e:m:t:o:h", longopts)) != -1) {
        switch (c) {
        case 'u':
            ul_path = optarg;
            break;
        case 'c': {
            const char *colon = strchr(optarg, ':');
            if (!colon || colon == optarg || !colon[1]) {
                cli_usage_error(verb, "--cloudnet needs OVERLAY:MAPPING, not '%s'", optarg);
                goto done;
            }
            pairs[n++] = optarg;
            break;
        }
        case 'f': {
            char *s = xstrdup(optarg);
            size_t len = strlen(s);
            if (len && s[len - 1] == '%')
                s[len - 1] = '\0';
            int rc = cn_parse_double(s, &free_pct);
            free(s);
            if (rc < 0 || !(free_pct >= 0 && free_pct <= 100)) {
                cli_usage_error(verb, "--free needs a percentage 0..100, not '%s'", optarg);
                goto done;
            }
            break;
        }
        case 'e':
            existing[n_existing++] = optarg;
            break;
        case 'm':
            if (cn_parse_double(optarg, &opts.move_cost) < 0 || !(opts.move_cost >= 0) ||
                isinf(opts.move_cost)) {
                cli_usage_error(verb, "--move-cost needs a finite number >= 0, not '%s'", optarg);
                goto done;
            }
            break;
        case 't':
            if (time_limit_option(verb, optarg, &opts) < 0)
                goto done;
            break;
        case 'o':
            outdir = optarg;
            break;
        case 'h':
            status = cli_help(verb);
            goto done;
        default:
            goto done;
        }
    }
    if (optind < argc) {
        cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
        goto done;
    }
    if (!ul_path || n == 0 || isnan(free_pct)) {
        cli_usage_error(verb, "--underlay, --cloudnet and --free are required");
        goto done;
    }

    status = CLI_FAILURE;
    struct rebalance_inputs in = {0};
    struct map_rdl_rebalance *rb = NULL;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    if (rebalance_inputs_read(&in, ul_path, pairs, n, existing, n_existing) < 0)
        goto cleanup;
    if (map_rdl_rebalance(in.ul, (const struct rdl_graph *const *)in.existing, in.n_existing,
                          (const struct rdl_graph *const *)in.ols,
                          (const struct rdl_graph *const *)in.mls, in.n, free_pct, &opts, &rb,
                          &err) < 0) {
        cli_print_err(&err);
        goto cleanup;
    }
    status = CLI_OK;
    for (size_t i = 0; outdir && i < rb->n && status == CLI_OK; i++) {
        char *path = xasprintf("%s/%s.yaml", outdir, rdl_graph_name(in.ols[i]));
        status = cli_emit_graph(rb->mappings[i], path);
        free(path);
    }
    if (status == CLI_OK)
        rebalance_report(rb, &in, free_pct);
    if (status == CLI_OK)
        status = stdout_flushed(status);
cleanup:
    map_rdl_rebalance_free(rb);
    rebalance_inputs_release(&in);
    cn_err_release(&err);
done:
    free(pairs);
    free(existing);
    return status;
}
