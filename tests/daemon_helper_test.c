/*
 * Tests of tests/daemon-helper.h itself, which every black-box test of a
 * daemon relies on: a stand-in daemon (a shell script taking -d -f CONF)
 * is started, found up, stopped with each signal and seen to fail; the
 * file, port, command and quantile helpers get good and bad input.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/daemon-helper.h"
#include "tests/testlib.h"

static char scratch[256];

/*
 * The stand-in daemon: $3 is its configuration file. It says it is up by
 * making CONF.up, exits 3 on SIGTERM, and exits 1 at once when CONF says
 * "fail".
 */
static const char fake_daemon[] =
    "#!/bin/sh\n"
    "grep -q fail \"$3\" && { echo 'bad configuration' >&2; exit 1; }\n"
    "trap 'exit 3' TERM\n"
    "echo started\n"
    "touch \"$3.up\"\n"
    "while :; do sleep 0.05; done\n";

static bool
up_file_exists(const void *arg)
{
    char path[700];
    struct stat st;
    snprintf(path, sizeof(path), "%s.up", (const char *)arg);
    return stat(path, &st) == 0;
}

/* A stand-in daemon named name with configuration text; its files in the scratch directory. */
static int
fake_setup(struct test_daemon *d, const char *name, const char *text)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    d->ready = up_file_exists;
    d->ready_arg = d->conf;
    snprintf(d->prog, sizeof(d->prog), "%s/fake-daemon", scratch);
    snprintf(d->conf, sizeof(d->conf), "%s/%s.conf", scratch, name);
    snprintf(d->log, sizeof(d->log), "%s/%s.log", scratch, name);
    return test_write_text(d->conf, text);
}

static int
test_daemon_life(const void *data)
{
    struct test_daemon d;
    (void)data;

    CHECK(fake_setup(&d, "life", "ok\n") == 0);
    CHECK(test_daemon_stop(&d, SIGTERM) == -1); /* not running yet */
    CHECK(test_daemon_start(&d) == 0);
    CHECK(d.pid > 0);
    CHECK(up_file_exists(d.conf));
    /* It is stopped first: SIGCONT comes before the signal. */
    CHECK(kill(d.pid, SIGSTOP) == 0);
    CHECK(test_daemon_stop(&d, SIGTERM) == 3);
    CHECK(d.pid == -1);
    CHECK(test_daemon_stop(&d, SIGTERM) == -1);

    /* Again, killed; the log has both runs. */
    char up[700];
    snprintf(up, sizeof(up), "%s.up", d.conf);
    CHECK(unlink(up) == 0);
    CHECK(test_daemon_start(&d) == 0);
    CHECK(up_file_exists(d.conf));
    CHECK(test_daemon_stop(&d, SIGKILL) == 0);
    char *log = test_read_text(d.log);
    CHECK(log);
    bool twice = strstr(log, "started\nstarted\n") != NULL;
    free(log);
    CHECK(twice);
    return 0;
}

static int
test_daemon_failures(const void *data)
{
    struct test_daemon d;
    (void)data;

    /* It exits during start: -1, not running, and its complaint in the log. */
    CHECK(fake_setup(&d, "bad", "fail\n") == 0);
    CHECK(test_daemon_start(&d) == -1);
    CHECK(d.pid == -1);
    char *log = test_read_text(d.log);
    CHECK(log);
    bool said = strstr(log, "bad configuration") != NULL;
    free(log);
    CHECK(said);

    /* A program that is not there. */
    CHECK(fake_setup(&d, "missing", "ok\n") == 0);
    snprintf(d.prog, sizeof(d.prog), "%s/no-such-daemon", scratch);
    CHECK(test_daemon_start(&d) == -1);
    CHECK(d.pid == -1);
    CHECK(test_bin_path(d.prog, sizeof(d.prog), "/nonexistent/tests/x", "pipd") == -1);
    return 0;
}

static int
test_ports(const void *data)
{
    unsigned port = 0;
    (void)data;

    unsigned free_port = test_free_port();
    CHECK(free_port > 0);
    CHECK(!test_port_open(free_port));
    int fd = test_bound_socket(&port, true);
    CHECK(fd >= 0);
    CHECK(port > 0);
    CHECK(test_port_open(port));
    close(fd);
    CHECK(!test_port_open(port));

    struct test_daemon d = {.name = "x"};
    CHECK(test_daemon_listen(&d) == 0);
    char want[64];
    snprintf(want, sizeof(want), "http://127.0.0.1:%u/RPC2", d.port);
    CHECK_STR(d.url, want);
    return 0;
}

static int
test_files_and_commands(const void *data)
{
    char path[512], *text = NULL;
    (void)data;

    snprintf(path, sizeof(path), "%s/a.txt", scratch);
    CHECK(test_write_text(path, "one\ntwo\n") == 0);
    text = test_read_text(path);
    CHECK_STR(text, "one\ntwo\n");
    free(text);
    snprintf(path, sizeof(path), "%s/none/a.txt", scratch);
    CHECK(test_write_text(path, "x") == -1);
    CHECK(test_read_text(path) == NULL);
    CHECK(test_fixture("no-such-fixture.yaml") == NULL);

    /* A file larger than one read. */
    char *big = malloc(200001);
    CHECK(big);
    memset(big, 'x', 200000);
    big[200000] = '\0';
    snprintf(path, sizeof(path), "%s/big.txt", scratch);
    int rc = test_write_text(path, big);
    text = test_read_text(path);
    bool same = rc == 0 && text && strcmp(text, big) == 0;
    free(text);
    free(big);
    CHECK(same);

    /* Pseudo-random files: the length asked for, one content per seed. */
    char a[512], b[512], c[512];
    snprintf(a, sizeof(a), "%s/r1", scratch);
    snprintf(b, sizeof(b), "%s/r2", scratch);
    snprintf(c, sizeof(c), "%s/r3", scratch);
    CHECK(test_write_random(a, 100003, 7) == 0);
    CHECK(test_write_random(b, 100003, 7) == 0);
    CHECK(test_write_random(c, 100003, 8) == 0);
    struct stat st;
    CHECK(stat(a, &st) == 0 && st.st_size == 100003);
    const char *cmp_same[] = {"/usr/bin/cmp", "-s", a, b, NULL};
    const char *cmp_other[] = {"/usr/bin/cmp", "-s", a, c, NULL};
    char *cmp_out = NULL;
    CHECK(test_command(cmp_same, &cmp_out) == 0);
    free(cmp_out);
    CHECK(test_command(cmp_other, &cmp_out) == 1);
    free(cmp_out);
    snprintf(a, sizeof(a), "%s/none/r", scratch);
    CHECK(test_write_random(a, 10, 1) == -1);

    const char *ok[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 4", NULL};
    char *out = NULL;
    CHECK(test_command(ok, &out) == 4);
    bool both = out && strstr(out, "out\n") && strstr(out, "err\n");
    free(out);
    CHECK(both);
    const char *killed[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
    CHECK(test_command(killed, &out) == -1);
    free(out);
    const char *missing[] = {"/nonexistent/program", NULL};
    CHECK(test_command(missing, &out) == 127);
    free(out);

    char buf[16];
    CHECK(test_shell("true") == 0);
    CHECK(test_shell("exit %d", 2) == -1);
    CHECK_STR(test_shell_output("echo hello", buf, sizeof(buf)), "hello\n");
    CHECK_STR(test_shell_output("echo 0123456789abcdefghij", buf, sizeof(buf)), "0123456789abcde");
    return 0;
}

static int
test_quantiles(const void *data)
{
    double v[] = {5, 1, 4, 2, 3};
    (void)data;

    CHECK(test_quantile(v, 5, 0.5) == 3);
    CHECK(v[0] == 1 && v[4] == 5); /* sorted */
    CHECK(test_quantile(v, 5, 0.99) == 5);
    CHECK(test_quantile(v, 5, 0) == 1);
    CHECK(test_quantile(v, 0, 0.5) == 0);
    CHECK(test_cpu_ms(getpid()) >= 0);
    CHECK(test_cpu_ms(-1) == -1);
    CHECK(test_mariadb_pid("/nonexistent") == -1);
    return 0;
}

int
main(void)
{
    char path[512];
    int rc = test_scratch_dir(scratch, sizeof(scratch), "daemon-helper-test");
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/fake-daemon", scratch);
        rc = test_write_text(path, fake_daemon) == 0 && chmod(path, 0700) == 0 ? 0 : -1;
    }
    if (test_setup_ok(rc)) {
        TEST_RUN("daemon: start, stop with SIGTERM and SIGKILL, log", test_daemon_life, NULL);
        TEST_RUN("daemon: exits during start, not there", test_daemon_failures, NULL);
        TEST_RUN("ports", test_ports, NULL);
        TEST_RUN("files, commands, shell", test_files_and_commands, NULL);
        TEST_RUN("quantiles and CPU time", test_quantiles, NULL);
    }
    test_rm_tree(scratch);
    return test_summary();
}
