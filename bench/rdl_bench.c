/*
 * Reader benchmark: writes an underlay of N elements (hosts, switches and
 * the links between them, with resources, features and interfaces) to a
 * temporary file, then reads and validates it in a fresh child process so
 * that the child's peak resident size, less its size before the read, is
 * what the reader needed. Prints file size, throughput, peak memory and its
 * ratio to the file size.
 *
 *   build/bench/rdl_bench [--elements N] [--keep]
 *
 * --keep leaves the generated document in place and prints its path.
 *
 * The YAML is written here with fprintf, so the benchmark does not depend
 * on the writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rdl/rdl.h"
#include "util/util.h"

/* What the child reports back through a pipe. */
struct result {
    int ok;
    double seconds, cpu_seconds;
    long rss_before_kb, rss_after_kb;
    size_t elements;
};

/*
 * Hosts in racks: each rack has a switch, every host a link to its switch,
 * every switch a link to the next one. About half the elements are links.
 */
static int
write_underlay(FILE *f, long n)
{
    static const char *const locations[] = {"DE", "FR", "NL", "PL"};
    long rack_size = 8;
    long per_rack = 1 + 2 * rack_size + 1; /* switch, hosts and their links, uplink */
    long racks = n / per_rack + 1;
    long count = 0;
    fprintf(f, "rdl: 1\nkind: underlay\nname: bench\nvlan_range: [100, 4000]\nelements:\n");
    for (long r = 0; r < racks && count < n; r++) {
        fprintf(f,
                "  sw%ld:\n    type: /node/switch/ethernet\n"
                "    features: {location: %s, forwarding: true}\n",
                r, locations[r % 4]);
        count++;
        for (long h = 0; h < rack_size && count + 2 <= n; h++) {
            fprintf(f,
                    "  h%ld-%ld:\n    type: /node/host/server/kvm\n"
                    "    resources: {cpu: %ld, memory: %ld, disk: %ld}\n"
                    "    features:\n      arch: [x86_64, i686]\n      location: %s\n"
                    "      hypervisor: kvm\n",
                    r, h, 8 + h % 4 * 8, 16384 + h * 1024, 500 + h * 100, locations[r % 4]);
            fprintf(f,
                    "  h%ld-%ld-sw%ld:\n    type: /link/ethernet/vlan\n"
                    "    resources: {bandwidth: 10000}\n    features: {latency: 0.2}\n",
                    r, h, r);
            count += 2;
        }
        if (r > 0 && count < n) {
            fprintf(f,
                    "  sw%ld-sw%ld:\n    type: /link/ethernet/vlan\n"
                    "    resources: {bandwidth: 40000}\n    features: {latency: 0.5}\n",
                    r - 1, r);
            count++;
        }
    }
    fprintf(f, "interfaces:\n");
    count = 0;
    for (long r = 0; r < racks && count < n; r++) {
        count++;
        for (long h = 0; h < rack_size && count + 2 <= n; h++) {
            fprintf(f, "  - {between: [h%ld-%ld, h%ld-%ld-sw%ld]}\n", r, h, r, h, r);
            fprintf(f, "  - {between: [h%ld-%ld-sw%ld, sw%ld]}\n", r, h, r, r);
            count += 2;
        }
        if (r > 0 && count < n) {
            fprintf(f, "  - {between: [sw%ld, sw%ld-sw%ld]}\n", r - 1, r - 1, r);
            fprintf(f, "  - {between: [sw%ld-sw%ld, sw%ld]}\n", r - 1, r, r);
            count++;
        }
    }
    return ferror(f) ? -1 : 0;
}

/* CPU time of this process: unlike the wall clock, not skewed by a busy machine. */
static double
cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void
child(const char *path, int fd)
{
    struct result res = {0, 0, 0, 0, 0, 0};
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    res.rss_before_kb = max_rss_kb();
    double t0 = cn_now(), c0 = cpu_now();
    /* The reader validates what it reads: this is the whole cost of loading. */
    struct rdl_graph *g = rdl_read_file(path, &err);
    if (g)
        res.ok = 1;
    res.seconds = cn_now() - t0;
    res.cpu_seconds = cpu_now() - c0;
    res.rss_after_kb = max_rss_kb();
    if (g)
        res.elements = rdl_graph_element_count(g);
    else
        fprintf(stderr, "%s\n", cn_err_msg(&err));
    if (write(fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
        _exit(2);
    _exit(res.ok ? 0 : 1);
}

int
main(int argc, char **argv)
{
    long n = 20000;
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--elements") == 0 && i + 1 < argc) {
            if (cn_parse_long(argv[++i], 1, 100000000, &n) < 0) {
                fprintf(stderr, "rdl_bench: bad --elements '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = true;
        } else {
            fprintf(stderr, "usage: rdl_bench [--elements N] [--keep]\n");
            return 2;
        }
    }
    const char *tmpdir = getenv("TMPDIR");
    char *path = xasprintf("%s/rdl_bench.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    FILE *f = fdopen(fd, "w");
    int status = 1;
    if (!f || write_underlay(f, n) < 0 || fclose(f) != 0) {
        perror(path);
        goto cleanup;
    }
    struct stat st;
    if (stat(path, &st) < 0) {
        perror(path);
        goto cleanup;
    }
    int pipefd[2];
    if (pipe(pipefd) < 0) {
        perror("pipe");
        goto cleanup;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        goto cleanup;
    }
    if (pid == 0) {
        close(pipefd[0]);
        child(path, pipefd[1]);
    }
    close(pipefd[1]);
    struct result res;
    ssize_t got = read(pipefd[0], &res, sizeof(res));
    close(pipefd[0]);
    int wst;
    waitpid(pid, &wst, 0);
    if (got != (ssize_t)sizeof(res) || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0 || !res.ok) {
        fprintf(stderr, "rdl_bench: the read failed\n");
        goto cleanup;
    }
    double mb = (double)st.st_size / 1e6;
    double peak_mb = (double)(res.rss_after_kb - res.rss_before_kb) / 1024.0;
    printf("elements:    %zu\n", res.elements);
    printf("file size:   %.2f MB\n", mb);
    printf("read+check:  %.3f s wall, %.1f MB/s; %.3f s CPU, %.1f MB/s\n", res.seconds,
           mb / res.seconds, res.cpu_seconds, mb / res.cpu_seconds);
    printf("peak memory: %.2f MiB above baseline, %.2fx the file size\n", peak_mb,
           peak_mb * 1024 * 1024 / (double)st.st_size);
    status = 0;
cleanup:
    if (keep)
        printf("document:    %s\n", path);
    else
        unlink(path);
    free(path);
    return status;
}
