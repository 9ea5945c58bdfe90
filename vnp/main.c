/*
 * vnpd, the virtual network provider (broker) daemon: reads its
 * configuration, opens its store, undoes what a crash interrupted, then
 * serves the negotiation interface (vnp/rpc.c) while a chores thread
 * retries unacknowledged releases and ends expired allocations.
 *
 *   vnpd [-d] [-v] [-f CONFIG]
 *
 * SIGTERM or SIGINT end it cleanly. Signals are taken by the main thread
 * with sigwait, so no work happens in a signal handler.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/util.h"
#include "vnp/vnpd.h"

#define DEFAULT_CONFIG "/etc/cloudnet/vnpd.conf"

struct daemon_state {
    struct vnpd_broker *broker;
    struct vnpd_rpc *rpc;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    bool serve_failed;
};

static void *
chores_main(void *arg)
{
    struct daemon_state *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        struct timespec at;
        clock_gettime(CLOCK_REALTIME, &at);
        at.tv_sec += 1;
        pthread_cond_timedwait(&d->wake, &d->lock, &at);
        if (d->stopping)
            break;
        pthread_mutex_unlock(&d->lock);
        struct cn_err err = CN_ERR_INIT;
        if (vnpd_broker_chores(d->broker, &err) < 0)
            log_warn("chores: %s", cn_err_msg(&err));
        cn_err_release(&err);
        pthread_mutex_lock(&d->lock);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static void *
serve_main(void *arg)
{
    struct daemon_state *d = arg;
    struct cn_err err = CN_ERR_INIT;
    if (vnpd_rpc_run(d->rpc, &err) < 0) {
        log_warn("%s", cn_err_msg(&err));
        d->serve_failed = true;
        kill(getpid(), SIGTERM);
    }
    cn_err_release(&err);
    return NULL;
}

int
main(int argc, char **argv)
{
    const char *path = DEFAULT_CONFIG;
    bool foreground = false;
    int verbose = 0, opt, sig = 0;
    struct cn_err err = CN_ERR_INIT;
    struct cn_buf recovered = CN_BUF_INIT;
    struct vnpd_config *cfg = vnpd_config_new();
    struct vnpd_store *store = NULL;
    struct daemon_state d = {.stopping = false};
    pthread_t chores, server;
    sigset_t sigs;

    while ((opt = getopt(argc, argv, "df:hv")) != -1) {
        if (opt == 'd') {
            foreground = true;
        } else if (opt == 'f') {
            path = optarg;
        } else if (opt == 'v') {
            verbose++;
        } else {
            fprintf(opt == 'h' ? stdout : stderr,
                    "usage: vnpd [-d] [-v] [-f CONFIG]\n"
                    "  -f CONFIG  configuration file (default " DEFAULT_CONFIG ")\n"
                    "  -d         foreground, log to stderr\n"
                    "  -v         more verbose logging\n"
                    "The database password is read from VNPD_DB_PASSWORD.\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "vnpd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    log_init("vnpd", foreground, verbose);
    if (vnpd_config_read(cfg, path, &err) < 0) {
        fprintf(stderr, "%s\n", cn_err_msg(&err));
        fatal("bad configuration");
    }
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        log_warn("%s holds secrets but others may read it: chmod 600 it", path);
    if (!foreground && daemon(0, 0) < 0)
        fatal("daemon: %s", strerror(errno));

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    store = vnpd_store_open(cfg, &err);
    if (!store)
        fatal("%s", cn_err_msg(&err));
    d.broker = vnpd_broker_new(cfg, store, &err);
    if (!d.broker)
        fatal("%s", cn_err_msg(&err));
    if (vnpd_broker_recover(d.broker, &recovered, &err) < 0)
        log_warn("recovery: %s", cn_err_msg(&err));
    for (char *line = recovered.s, *next; line && *line; line = next) {
        next = strchrnul(line, '\n');
        if (*next)
            *next++ = '\0';
        log_info("recovery: %s", line);
    }
    cn_err_clear(&err);
    d.rpc = vnpd_rpc_new(d.broker, cfg, &err);
    if (!d.rpc)
        fatal("%s", cn_err_msg(&err));
    pthread_mutex_init(&d.lock, NULL);
    pthread_cond_init(&d.wake, NULL);
    if (pthread_create(&chores, NULL, chores_main, &d) != 0 ||
        pthread_create(&server, NULL, serve_main, &d) != 0)
        fatal("cannot start threads");
    log_info("brokering %zu pip(s) as %s on %s:%u", cfg->npips, cfg->name, cfg->listen_host,
             cfg->listen_port);

    do {
        if (sigwait(&sigs, &sig) != 0)
            sig = SIGTERM;
    } while (sig == SIGHUP);
    log_info("stopping (%s)", strsignal(sig));
    vnpd_rpc_stop(d.rpc);
    pthread_join(server, NULL);
    pthread_mutex_lock(&d.lock);
    d.stopping = true;
    pthread_cond_signal(&d.wake);
    pthread_mutex_unlock(&d.lock);
    pthread_join(chores, NULL);

    vnpd_rpc_free(d.rpc);
    vnpd_broker_free(d.broker);
    vnpd_store_close(store);
    vnpd_config_free(cfg);
    pthread_mutex_destroy(&d.lock);
    pthread_cond_destroy(&d.wake);
    cn_buf_release(&recovered);
    cn_err_release(&err);
    return d.serve_failed ? 1 : 0;
}
