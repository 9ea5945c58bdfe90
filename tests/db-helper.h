/*
 * A private MariaDB server for a test program, started with
 * scripts/mariadb-scratch.sh in a fresh scratch directory:
 *
 *   static struct test_db db;
 *   if (test_db_start(&db) < 0) ...        (before any thread is created)
 *   ... connect to db.socket, user root, no password ...
 *   test_db_stop(&db);
 *
 * Cleanup must happen even when the test crashes or is killed, so start
 * forks a guardian process first. It waits on a pipe whose only writer is
 * the test; when the test ends in any way the pipe closes, and the guardian
 * stops the server and deletes the directory. test_db_stop just closes the
 * pipe and waits for the guardian.
 */
#ifndef CLOUDNET_TESTS_DB_HELPER_H
#define CLOUDNET_TESTS_DB_HELPER_H

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testlib.h"

struct test_db {
    char dir[256];    /* the scratch directory */
    char script[768]; /* scripts/mariadb-scratch.sh */
    char socket[512]; /* the server's UNIX socket */
    pid_t guardian;
    int guard_fd; /* write end of the guardian's pipe, or -1 */
};

static int
test_db_unlink_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void test_db_stop(struct test_db *db);

/* Runs the script with a verb; the socket path is read back for "start". */
static int
test_db_script(struct test_db *db, const char *verb, char *out, size_t outlen)
{
    char sh[] = "sh", verb_copy[16];
    char *argv[] = {sh, db->script, verb_copy, db->dir, NULL};
    int fds[2];
    pid_t pid;
    int status;

    snprintf(verb_copy, sizeof(verb_copy), "%s", verb);
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execvp("sh", argv);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    char buf[512];
    while ((r = read(fds[0], buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; out && i < r && n + 1 < outlen; i++)
            out[n++] = buf[i];
    }
    close(fds[0]);
    if (out) {
        out[n] = '\0';
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
            out[--n] = '\0';
    }
    while (waitpid(pid, &status, 0) < 0)
        ;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The guardian: waits for the test to end, then cleans up after it. */
static void
test_db_guard(struct test_db *db, int read_fd)
{
    char c;
    /* Ignore the terminal's ^C: the test's death is what ends the wait. */
    signal(SIGINT, SIG_IGN);
    while (read(read_fd, &c, 1) != 0)
        ;
    test_db_script(db, "stop", NULL, 0);
    nftw(db->dir, test_db_unlink_cb, 16, FTW_DEPTH | FTW_PHYS);
    _exit(0);
}

/* Starts the server; 0, or -1 with the reason on stderr (nothing left behind). */
static int
test_db_start(struct test_db *db)
{
    const char *tmp = getenv("TMPDIR");
    int fds[2];

    memset(db, 0, sizeof(*db));
    db->guard_fd = -1;
    /* UNIX socket paths are limited to about 100 bytes. */
    if (!tmp || !*tmp || strlen(tmp) > 60)
        tmp = "/tmp";
    snprintf(db->dir, sizeof(db->dir), "%s/cn-db-XXXXXX", tmp);
    if (!mkdtemp(db->dir)) {
        perror("test_db: mkdtemp");
        return -1;
    }
    snprintf(db->script, sizeof(db->script), "%s/../scripts/mariadb-scratch.sh", test_srcdir());
    if (access(db->script, R_OK) < 0) {
        fprintf(stderr, "test_db: %s: not found\n", db->script);
        rmdir(db->dir);
        return -1;
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        perror("test_db: pipe");
        rmdir(db->dir);
        return -1;
    }
    fflush(NULL);
    db->guardian = fork();
    if (db->guardian < 0) {
        perror("test_db: fork");
        close(fds[0]);
        close(fds[1]);
        rmdir(db->dir);
        return -1;
    }
    if (db->guardian == 0) {
        close(fds[1]);
        test_db_guard(db, fds[0]);
    }
    close(fds[0]);
    db->guard_fd = fds[1];
    if (test_db_script(db, "start", db->socket, sizeof(db->socket)) < 0 || !db->socket[0]) {
        fprintf(stderr, "test_db: the MariaDB server did not start (see above)\n");
        test_db_stop(db);
        return -1;
    }
    return 0;
}

static void
test_db_stop(struct test_db *db)
{
    int status;
    if (db->guard_fd < 0)
        return;
    close(db->guard_fd);
    db->guard_fd = -1;
    while (waitpid(db->guardian, &status, 0) < 0)
        ;
}

#endif /* CLOUDNET_TESTS_DB_HELPER_H */
