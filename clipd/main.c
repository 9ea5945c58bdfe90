/*
 * clipd, the VM image cache daemon: reads the configuration, opens the
 * image store, binds the socket, then (unless -d) detaches and serves
 * until SIGTERM or SIGINT. The work is done by the cache and server in
 * libclip; this file only wires them together and does the logging.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLIP_PRIV_H_ALLOW
#include "clipd/clip_priv.h"
#include "util/log.h"
#include "util/util.h"

#define DEFAULT_CONFIG "/etc/cloudnet/clipd.conf"

static int stop_pipe[2] = {-1, -1};

static void
on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(stop_pipe[1], &b, 1) < 0) {
        /* The pipe is full: a stop is already pending. */
    }
    errno = saved;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: clipd [-d] [-n] [-v] [-f CONFIG]\n"
               "  -f CONFIG  configuration file (default " DEFAULT_CONFIG ")\n"
               "  -d         stay in the foreground and log to stderr\n"
               "  -n         check the configuration and the store, then exit\n"
               "  -v         more log output (twice for debugging)\n"
               "  -h         this help\n");
}

static void
on_cache_event(int level, const char *msg, void *arg)
{
    (void)arg;
    if (level == 0)
        log_warn("%s", msg);
    else if (level == 1)
        log_info("%s", msg);
    else
        log_debug("%s", msg);
}

/*
 * Detaches from the terminal. The parent returns only after the socket is
 * bound, so a service manager or script may connect as soon as it exits.
 */
static void
daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        fatal("setsid: %s", strerror(errno));
    if (chdir("/") < 0)
        fatal("chdir /: %s", strerror(errno));
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
}

int
main(int argc, char **argv)
{
    const char *config_path = DEFAULT_CONFIG;
    bool foreground = false, check_only = false;
    int verbosity = 0;
    int opt;
    while ((opt = getopt(argc, argv, "df:hnv")) != -1) {
        switch (opt) {
        case 'd':
            foreground = true;
            break;
        case 'f':
            config_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'n':
            check_only = true;
            break;
        case 'v':
            verbosity++;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    /* Until detached, problems go to the terminal that started us. */
    log_init("clipd", true, foreground ? verbosity : 0);

    int status = 1;
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct clip_cache *cache = NULL;
    struct clip_server *server = NULL;
    struct clip_config *cfg = clip_config_load(config_path, &err);
    if (!cfg) {
        fprintf(stderr, "%s\n", cn_err_msg(&err));
        goto cleanup;
    }
    cache = clip_cache_new(cfg, &err);
    if (!cache) {
        fprintf(stderr, "%s\n", cn_err_msg(&err));
        goto cleanup;
    }
    if (check_only) {
        printf("%s: configuration ok\n", config_path);
        status = 0;
        goto cleanup;
    }
    clip_cache_set_notify(cache, on_cache_event, NULL);

    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        fatal("pipe: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    server = clip_server_new(cfg->socket, cache, &err);
    if (!server) {
        log_warn("%s", cn_err_msg(&err));
        goto cleanup;
    }
    if (!foreground) {
        daemonize();
        log_init("clipd", false, verbosity);
    }
    /* Threads only after the fork: fork keeps just the calling thread. */
    if (clip_cache_start(cache, &err) < 0) {
        log_warn("%s", cn_err_msg(&err));
        goto cleanup;
    }
    log_info("serving %zu templates on %s", cfg->n_templates, cfg->socket);
    if (clip_server_run(server, stop_pipe[0], &err) < 0)
        log_warn("%s", cn_err_msg(&err));
    else
        status = 0;
    log_info("stopping");

cleanup:
    /* Stop the refill and any copy first, so that connections end promptly. */
    clip_cache_stop(cache);
    clip_server_free(server);
    clip_cache_free(cache);
    clip_config_free(cfg);
    cn_err_release(&err);
    return status;
}
