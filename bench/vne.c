/*
 * bench/vne: the online virtual network embedding benchmark.
 *
 *   vne gen [options] -o WORKLOAD.json     generate a seeded workload
 *   vne run -a ALGORITHM [options] WORKLOAD.json
 *                                          replay it with one algorithm
 *   vne plot -o OUT.svg [--title T] --series LABEL TRACE... [--series ...]
 *                                          plot acceptance ratio over time
 *
 * `run` feeds the workload's events to the mapping engine in order: an
 * arrival is mapped (distinct hosts per request) and, when accepted, its
 * resources are taken until its departure. It prints one line of
 * key=value metrics (RAC, revenue, cost, LRC, solve times) and can write the
 * acceptance ratio after every arrival to a trace file for `plot`.
 * docs/vne-bench.md describes the workflow.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_PRIV_H_ALLOW
#include "bench/vne.h"
#include "mapping/map_priv.h"
#include "util/util.h"

static void __attribute__((noreturn)) usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f, "usage: vne gen [--seed N] [--eta R] [--nodes N] [--alpha A] [--beta B]\n"
               "               [--requests N] [--size MIN:MAX] [--link-prob P]\n"
               "               [--location D] -o WORKLOAD.json\n"
               "       vne run -a heuristic|grc|mip-cost|mip-load|mip-energy\n"
               "               [--time-limit S] [--gap G] [--hop-limit H] [--beam B]\n"
               "               [--static] [--limit N] [--trace FILE] [--verbose] WORKLOAD.json\n"
               "       vne plot -o OUT.svg [--title T] --series LABEL TRACE... [--series ...]\n");
    exit(status);
}

static double
arg_double(const char *opt, const char *s)
{
    double x;
    if (cn_parse_double(s, &x) < 0) {
        fprintf(stderr, "vne: %s: not a number: %s\n", opt, s);
        exit(2);
    }
    return x;
}

static long
arg_long(const char *opt, const char *s, long min, long max)
{
    long x;
    if (cn_parse_long(s, min, max, &x) < 0) {
        fprintf(stderr, "vne: %s: expected an integer in [%ld, %ld]: %s\n", opt, min, max, s);
        exit(2);
    }
    return x;
}

/* ---- gen ---- */

static int
cmd_gen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},     {"eta", required_argument, NULL, 'e'},
        {"nodes", required_argument, NULL, 'n'},    {"alpha", required_argument, NULL, 'A'},
        {"beta", required_argument, NULL, 'B'},     {"requests", required_argument, NULL, 'r'},
        {"size", required_argument, NULL, 'z'},     {"link-prob", required_argument, NULL, 'p'},
        {"location", required_argument, NULL, 'L'}, {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct vne_gen_params p;
    const char *out = NULL;
    int c;
    vne_gen_params_init(&p);
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            p.seed = (unsigned long)arg_long("--seed", optarg, 0, 1L << 62);
            break;
        case 'e':
            p.eta = arg_double("--eta", optarg);
            break;
        case 'n':
            p.substrate_nodes = (size_t)arg_long("--nodes", optarg, 2, 100000);
            break;
        case 'A':
            p.alpha = arg_double("--alpha", optarg);
            break;
        case 'B':
            p.beta = arg_double("--beta", optarg);
            break;
        case 'r':
            p.requests = (size_t)arg_long("--requests", optarg, 0, 10000000);
            break;
        case 'z': {
            long lo, hi;
            char *colon = strchr(optarg, ':');
            if (!colon)
                usage(2);
            *colon = '\0';
            lo = arg_long("--size", optarg, 1, 100000);
            hi = arg_long("--size", colon + 1, lo, 100000);
            p.req_min = (size_t)lo;
            p.req_max = (size_t)hi;
            break;
        }
        case 'p':
            p.link_prob = arg_double("--link-prob", optarg);
            break;
        case 'L':
            p.location_distance = arg_double("--location", optarg);
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            usage(0);
        default:
            usage(2);
        }
    }
    if (!out || optind != argc || p.eta <= 0)
        usage(2);
    struct cn_err err = CN_ERR_INIT;
    struct vne_workload *w = vne_generate(&p);
    int ret = vne_workload_write(w, out, &err);
    if (ret < 0)
        fprintf(stderr, "vne: %s\n", cn_err_msg(&err));
    else
        fprintf(stderr, "vne: %s: %zu substrate nodes, %zu links, %zu requests\n", out, w->nsnodes,
                w->nslinks, w->nreqs);
    vne_workload_free(w);
    cn_err_release(&err);
    return ret < 0 ? 1 : 0;
}

/* ---- run ---- */

static struct map_substrate *
build_substrate(const struct vne_workload *w, struct cn_err *err)
{
    static const char *const res[] = {"cpu"};
    struct map_substrate *sub = map_substrate_new(1, res);
    for (size_t i = 0; i < w->nsnodes; i++) {
        if (map_substrate_add_node(sub, NULL, &w->snodes[i].cpu, true, err) < 0)
            goto fail;
    }
    for (size_t k = 0; k < w->nslinks; k++) {
        if (map_substrate_add_link(sub, NULL, w->slinks[k].u, w->slinks[k].v, w->slinks[k].bw, 0,
                                   err) < 0)
            goto fail;
    }
    return sub;
fail:
    map_substrate_free(sub);
    return NULL;
}

static struct map_request *
build_request(const struct vne_workload *w, const struct vne_request *q, struct cn_err *err)
{
    static const char *const res[] = {"cpu"};
    struct map_request *req = map_request_new(1, res);
    size_t *cand = xmalloc((w->nsnodes + 1) * sizeof(size_t));
    map_request_set_distinct_hosts(req, true);
    for (size_t v = 0; v < q->nnodes; v++) {
        if (map_request_add_node(req, NULL, &q->cpu[v], err) < 0)
            goto fail;
        if (q->has_location) {
            size_t n = 0;
            if (!w->has_coords) {
                cn_err_set(err, CN_E_INVALID, "location constraints need node coordinates");
                goto fail;
            }
            for (size_t s = 0; s < w->nsnodes; s++) {
                if (hypot(w->snodes[s].x - q->lx[v], w->snodes[s].y - q->ly[v]) <= q->max_distance)
                    cand[n++] = s;
            }
            if (map_request_set_candidates(req, v, cand, n, err) < 0)
                goto fail;
        }
    }
    for (size_t k = 0; k < q->nlinks; k++) {
        if (map_request_add_link(req, NULL, q->links[k].u, q->links[k].v, q->links[k].bw, 0, err) <
            0)
            goto fail;
    }
    free(cand);
    return req;
fail:
    free(cand);
    map_request_free(req);
    return NULL;
}

static int
cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b;
}

/* Nearest-rank percentile of sorted x[0..n-1]. */
static double
percentile(const double *x, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    return x[k ? k - 1 : 0];
}

static int
cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"algorithm", required_argument, NULL, 'a'},
        {"time-limit", required_argument, NULL, 't'},
        {"gap", required_argument, NULL, 'g'},
        {"hop-limit", required_argument, NULL, 'H'},
        {"beam", required_argument, NULL, 'b'},
        {"static", no_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'l'},
        {"trace", required_argument, NULL, 'T'},
        {"verbose", no_argument, NULL, 'v'},
        {"presolve", no_argument, NULL, 'P'},
        {"no-warm-start", no_argument, NULL, 'W'},
        {"solver-output", no_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct map_options opts;
    const char *alg = NULL, *trace_path = NULL;
    bool static_mode = false, verbose = false;
    size_t limit = SIZE_MAX;
    int c, status = 1;
    map_options_init(&opts);
    opts.time_limit_s = 1;
    while ((c = getopt_long(argc, argv, "a:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            alg = optarg;
            break;
        case 't':
            opts.time_limit_s = arg_double("--time-limit", optarg);
            break;
        case 'g':
            opts.mip_gap = arg_double("--gap", optarg);
            break;
        case 'H':
            opts.hop_limit = (unsigned)arg_long("--hop-limit", optarg, 0, 1000);
            break;
        case 'b':
            opts.beam = (unsigned)arg_long("--beam", optarg, 1, 100000);
            break;
        case 'S':
            static_mode = true;
            break;
        case 'l':
            limit = (size_t)arg_long("--limit", optarg, 0, 1L << 40);
            break;
        case 'T':
            trace_path = optarg;
            break;
        case 'v':
            verbose = true;
            break;
        case 'P':
            opts.presolve = true;
            break;
        case 'W':
            opts.warm_start = false;
            break;
        case 'O':
            opts.solver_output = true;
            break;
        case 'h':
            usage(0);
        default:
            usage(2);
        }
    }
    if (!alg || optind != argc - 1)
        usage(2);
    if (strcmp(alg, "heuristic") == 0) {
        opts.algorithm = MAP_ALG_HEURISTIC;
    } else if (strcmp(alg, "grc") == 0) {
        opts.algorithm = MAP_ALG_GRC;
    } else if (cn_startswith(alg, "mip-") && map_objective_known(alg + 4)) {
        opts.algorithm = MAP_ALG_MIP;
        opts.objective = alg + 4;
    } else {
        fprintf(stderr, "vne: unknown algorithm %s\n", alg);
        return 2;
    }

    const char *path = argv[optind];
    struct cn_err err = CN_ERR_INIT;
    struct vne_workload *w = vne_workload_read(path, &err);
    struct map_substrate *sub = NULL;
    struct map_result **results = NULL;
    struct map_request **reqs = NULL;
    double *times = NULL;
    FILE *trace = NULL;
    if (!w) {
        fprintf(stderr, "vne: %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    sub = build_substrate(w, &err);
    if (!sub) {
        fprintf(stderr, "vne: %s: %s\n", path, cn_err_msg(&err));
        goto cleanup;
    }
    if (trace_path) {
        trace = fopen(trace_path, "w");
        if (!trace) {
            fprintf(stderr, "vne: cannot write %s\n", trace_path);
            goto cleanup;
        }
        fprintf(trace, "# time acceptance_ratio (%s, %s)\n", alg, path);
    }
    results = xcalloc(w->nreqs + 1, sizeof(*results));
    reqs = xcalloc(w->nreqs + 1, sizeof(*reqs));
    times = xcalloc(w->nreqs + 1, sizeof(double));

    size_t arrived = 0, accepted = 0, optimal = 0, timeouts = 0, with_gap = 0;
    double revenue = 0, cost = 0, gap_max = 0, gap_sum = 0;
    for (size_t i = 0; i < w->nevents; i++) {
        const struct vne_event *e = &w->events[i];
        const struct vne_request *q = &w->reqs[e->req];
        if (e->type == VNE_LEAVE) {
            if (results[e->req] && !static_mode) {
                if (map_substrate_release(sub, reqs[e->req], results[e->req], &err) < 0) {
                    fprintf(stderr, "vne: release failed: %s\n", cn_err_msg(&err));
                    goto cleanup;
                }
            }
            map_result_free(results[e->req]);
            results[e->req] = NULL;
            map_request_free(reqs[e->req]);
            reqs[e->req] = NULL;
            continue;
        }
        if (arrived >= limit)
            break;
        struct map_request *req = build_request(w, q, &err);
        if (!req) {
            fprintf(stderr, "vne: request %zu: %s\n", q->id, cn_err_msg(&err));
            goto cleanup;
        }
        struct map_result *res = NULL;
        cn_err_clear(&err);
        double t0 = cn_now();
        int rc = map_solve(sub, req, &opts, &res, &err);
        double ms = (cn_now() - t0) * 1000;
        times[arrived++] = ms;
        double rev = 0;
        for (size_t v = 0; v < q->nnodes; v++)
            rev += q->cpu[v];
        for (size_t k = 0; k < q->nlinks; k++)
            rev += q->links[k].bw;
        if (rc == 0) {
            if (!static_mode && map_substrate_allocate(sub, req, res, &err) < 0) {
                fprintf(stderr, "vne: request %zu: allocation failed: %s\n", q->id,
                        cn_err_msg(&err));
                map_result_free(res);
                map_request_free(req);
                goto cleanup;
            }
            accepted++;
            revenue += rev;
            cost += res->cost;
            optimal += res->optimal;
            gap_max = res->gap > gap_max ? res->gap : gap_max;
            gap_sum += res->gap;
            with_gap++;
            results[e->req] = res;
            reqs[e->req] = req;
            if (verbose)
                printf("req=%zu nodes=%zu links=%zu ok=1 ms=%.2f revenue=%.0f cost=%.1f "
                       "value=%.6g bound=%.6g gap=%.4f optimal=%d\n",
                       q->id, q->nnodes, q->nlinks, ms, rev, res->cost, res->value, res->bound,
                       res->gap, res->optimal);
        } else {
            timeouts += err.code == CN_E_TIMEOUT;
            if (verbose)
                printf("req=%zu nodes=%zu links=%zu ok=0 ms=%.2f reason=%s\n", q->id, q->nnodes,
                       q->nlinks, ms, cn_err_msg(&err));
            map_request_free(req);
        }
        if (trace)
            fprintf(trace, "%g %.6f\n", q->arrival, (double)accepted / (double)arrived);
    }

    double mean = 0;
    for (size_t i = 0; i < arrived; i++)
        mean += times[i];
    mean = arrived ? mean / (double)arrived : 0;
    qsort(times, arrived, sizeof(double), cmp_double);
    printf("alg=%s workload=%s requests=%zu accepted=%zu rac=%.4f revenue=%.0f cost=%.0f "
           "lrc=%.4f mean_ms=%.3f p50_ms=%.3f p99_ms=%.3f max_ms=%.1f optimal=%zu "
           "gap_mean=%.5f gap_max=%.4f timeouts=%zu\n",
           alg, path, arrived, accepted, arrived ? (double)accepted / (double)arrived : 0, revenue,
           cost, cost > 0 ? revenue / cost : 0, mean, percentile(times, arrived, 50),
           percentile(times, arrived, 99), arrived ? times[arrived - 1] : 0, optimal,
           with_gap ? gap_sum / (double)with_gap : 0, gap_max, timeouts);
    status = 0;
cleanup:
    if (trace && fclose(trace) != 0)
        status = 1;
    for (size_t i = 0; w && i < w->nreqs; i++) {
        map_result_free(results ? results[i] : NULL);
        map_request_free(reqs ? reqs[i] : NULL);
    }
    free(results);
    free(reqs);
    free(times);
    map_substrate_free(sub);
    vne_workload_free(w);
    cn_err_release(&err);
    return status;
}

/* ---- plot ---- */

struct trace {
    size_t n, cap;
    double *t, *y;
};

static int
trace_read(const char *path, struct trace *tr)
{
    FILE *f = fopen(path, "r");
    char line[256];
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        double t, y;
        if (line[0] == '#' || sscanf(line, "%lf %lf", &t, &y) != 2)
            continue;
        if (tr->n + 1 > tr->cap) {
            tr->cap = tr->cap ? 2 * tr->cap : 256;
            tr->t = xrealloc(tr->t, tr->cap * sizeof(double));
            tr->y = xrealloc(tr->y, tr->cap * sizeof(double));
        }
        tr->t[tr->n] = t;
        tr->y[tr->n] = y;
        tr->n++;
    }
    fclose(f);
    return 0;
}

/* The value of a step function at time t (its first value before it starts). */
static double
trace_at(const struct trace *tr, double t)
{
    size_t lo = 0, hi = tr->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tr->t[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? tr->y[lo - 1] : tr->y[0];
}

#define PLOT_POINTS 300

static int
cmd_plot(int argc, char **argv)
{
    const char *out = NULL, *title = "Acceptance ratio over time";
    struct vne_series *series = NULL;
    double *ts = NULL, *ys = NULL;
    size_t nseries = 0;
    int status = 1;
    struct cn_err err = CN_ERR_INIT;
    /* Arguments: -o OUT, --title T, --series LABEL FILE... (repeated). */
    size_t maxseries = (size_t)argc;
    series = xcalloc(maxseries + 1, sizeof(*series));
    ts = xcalloc((maxseries + 1) * PLOT_POINTS, sizeof(double));
    ys = xcalloc((maxseries + 1) * PLOT_POINTS, sizeof(double));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--title") == 0 && i + 1 < argc) {
            title = argv[++i];
        } else if (strcmp(argv[i], "--series") == 0 && i + 1 < argc) {
            const char *label = argv[++i];
            struct trace *trs = xcalloc((size_t)argc, sizeof(*trs));
            size_t ntr = 0;
            double tmax = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                struct trace *tr = &trs[ntr];
                if (trace_read(argv[++i], tr) < 0 || tr->n == 0) {
                    fprintf(stderr, "vne: cannot read trace %s\n", argv[i]);
                    free(tr->t);
                    free(tr->y);
                    memset(tr, 0, sizeof(*tr));
                    continue;
                }
                tmax = tr->t[tr->n - 1] > tmax ? tr->t[tr->n - 1] : tmax;
                ntr++;
            }
            /* The mean over the traces (seeds) on a common time grid. */
            double *t = ts + nseries * PLOT_POINTS, *y = ys + nseries * PLOT_POINTS;
            for (size_t k = 0; k < PLOT_POINTS && ntr; k++) {
                t[k] = tmax * (double)(k + 1) / PLOT_POINTS;
                for (size_t j = 0; j < ntr; j++)
                    y[k] += trace_at(&trs[j], t[k]) / (double)ntr;
            }
            series[nseries++] =
                (struct vne_series){.label = label, .n = ntr ? PLOT_POINTS : 0, .t = t, .y = y};
            for (size_t j = 0; j < ntr; j++) {
                free(trs[j].t);
                free(trs[j].y);
            }
            free(trs);
        } else {
            usage(2);
        }
    }
    if (!out || nseries == 0)
        usage(2);
    if (vne_svg_write(out, title, "acceptance ratio", series, nseries, &err) < 0) {
        fprintf(stderr, "vne: %s\n", cn_err_msg(&err));
        goto cleanup;
    }
    status = 0;
cleanup:
    free(series);
    free(ts);
    free(ys);
    cn_err_release(&err);
    return status;
}

int
main(int argc, char **argv)
{
    if (argc < 2)
        usage(2);
    if (strcmp(argv[1], "gen") == 0)
        return cmd_gen(argc - 1, argv + 1);
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "plot") == 0)
        return cmd_plot(argc - 1, argv + 1);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        usage(0);
    usage(2);
}
