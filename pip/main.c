/*
 * pipd, the infrastructure provider daemon: reads its configuration, opens
 * the store and the embedding plugins (pip/core.c), repairs what a crash
 * left (recovery), then serves the negotiation interface over XML-RPC
 * (pip/rpc.c) while a reaper thread releases allocations whose lease ended.
 *
 *   pipd [-d] [-v] [-f CONFIG]
 *
 * SIGTERM or SIGINT end it cleanly: the server stops accepting, running
 * calls finish, the reaper stops. Signals are taken synchronously by the
 * main thread (sigwait), so no work happens in a signal handler.
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

#include "pip/pipd.h"
#include "util/log.h"
#include "util/util.h"

#define DEFAULT_CONFIG "/etc/cloudnet/pipd.conf"

struct reaper {
    struct pipd_core *core;
    unsigned interval_s;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

struct server {
    struct pipd_rpc *rpc;
    int failed;
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: pipd [-d] [-v] [-f CONFIG]\n"
               "  -f CONFIG  configuration file (default " DEFAULT_CONFIG ")\n"
               "  -d         stay in the foreground and log to stderr\n"
               "  -v         more verbose logging (repeatable)\n"
               "  -h         this help\n"
               "The database password is read from PIPD_DB_PASSWORD.\n");
}

static void *
reaper_main(void *arg)
{
    struct reaper *rp = arg;
    pthread_mutex_lock(&rp->lock);
    while (!rp->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += rp->interval_s;
        while (!rp->stop && pthread_cond_timedwait(&rp->cond, &rp->lock, &until) != ETIMEDOUT)
            ;
        if (rp->stop)
            break;
        pthread_mutex_unlock(&rp->lock);
        struct cn_err err = CN_ERR_INIT;
        size_t n = 0;
        if (pipd_core_reap(rp->core, &n, &err) < 0)
            log_warn("reaper: %s", cn_err_msg(&err));
        else if (n > 0)
            log_info("reaper: released %zu allocation(s) whose lease ended", n);
        cn_err_release(&err);
        pthread_mutex_lock(&rp->lock);
    }
    pthread_mutex_unlock(&rp->lock);
    return NULL;
}

static void *
server_main(void *arg)
{
    struct server *sv = arg;
    struct cn_err err = CN_ERR_INIT;
    if (pipd_rpc_run(sv->rpc, &err) < 0) {
        log_warn("%s", cn_err_msg(&err));
        sv->failed = 1;
        /* Wake the main thread, which waits for a signal. */
        kill(getpid(), SIGTERM);
    }
    cn_err_release(&err);
    return NULL;
}

static void
log_lines(const char *prefix, const char *text)
{
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        if (len > 0)
            log_info("%s%.*s", prefix, len, p);
        p = nl ? nl + 1 : NULL;
    }
}

int
main(int argc, char **argv)
{
    const char *config_path = DEFAULT_CONFIG;
    bool foreground = false;
    int verbosity = 0, c, sig = 0;
    struct cn_err err = CN_ERR_INIT;
    struct cn_buf recovered = CN_BUF_INIT;
    struct pipd_config *cfg = pipd_config_new();
    struct pipd_core *core = NULL;
    struct pipd_rpc *rpc = NULL;
    struct reaper rp = {.stop = false};
    struct server sv = {NULL, 0};
    pthread_t reaper_thread, server_thread;
    sigset_t sigs;

    while ((c = getopt(argc, argv, "df:hv")) != -1) {
        switch (c) {
        case 'd':
            foreground = true;
            break;
        case 'f':
            config_path = optarg;
            break;
        case 'v':
            verbosity++;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_init("pipd", foreground, verbosity);
    if (pipd_config_read(cfg, config_path, &err) < 0) {
        /* Reported on stderr too: the operator starting pipd is the one to see it. */
        fprintf(stderr, "%s\n", cn_err_msg(&err));
        fatal("bad configuration");
    }
    struct stat st;
    if (stat(config_path, &st) == 0 && (st.st_mode & 077))
        log_warn("%s holds peer secrets but others may read it: chmod 600 it", config_path);
    /* Before any thread exists: daemon() forks, and only the calling thread survives a fork. */
    if (!foreground && daemon(0, 0) < 0)
        fatal("daemon: %s", strerror(errno));

    /* Every thread inherits this mask, so the signals reach only sigwait below. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    core = pipd_core_new(cfg, &err);
    if (!core)
        fatal("%s", cn_err_msg(&err));
    if (pipd_core_recover(core, &recovered, &err) < 0)
        log_warn("recovery: %s", cn_err_msg(&err));
    log_lines("recovery: ", recovered.s);
    cn_err_clear(&err);
    rpc = pipd_rpc_new(core, cfg, &err);
    if (!rpc)
        fatal("%s", cn_err_msg(&err));

    rp.core = core;
    rp.interval_s = cfg->reap_interval_s;
    pthread_mutex_init(&rp.lock, NULL);
    pthread_cond_init(&rp.cond, NULL);
    if (pthread_create(&reaper_thread, NULL, reaper_main, &rp) != 0)
        fatal("cannot start the reaper thread");
    sv.rpc = rpc;
    if (pthread_create(&server_thread, NULL, server_main, &sv) != 0)
        fatal("cannot start the server thread");
    log_info("serving %s on %s:%u", cfg->name, cfg->listen_host, cfg->listen_port);

    do {
        if (sigwait(&sigs, &sig) != 0)
            sig = SIGTERM;
    } while (sig == SIGHUP);
    log_info("stopping (%s)", strsignal(sig));

    pipd_rpc_stop(rpc);
    pthread_join(server_thread, NULL);
    pthread_mutex_lock(&rp.lock);
    rp.stop = true;
    pthread_cond_signal(&rp.cond);
    pthread_mutex_unlock(&rp.lock);
    pthread_join(reaper_thread, NULL);

    pipd_rpc_free(rpc);
    pipd_core_free(core);
    pipd_config_free(cfg);
    pthread_mutex_destroy(&rp.lock);
    pthread_cond_destroy(&rp.cond);
    cn_buf_release(&recovered);
    cn_err_release(&err);
    return sv.failed ? 1 : 0;
}
