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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pip/pipd.h"
#include "util/daemon.h"
#include "util/log.h"
#include "util/util.h"

#define DEFAULT_CONFIG "/etc/cloudnet/pipd.conf"

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

static void
reap(void *arg)
{
    struct cn_err err = CN_ERR_INIT;
    size_t n = 0;
    if (pipd_core_reap(arg, &n, &err) < 0)
        log_warn("reaper: %s", cn_err_msg(&err));
    else if (n > 0)
        log_info("reaper: released %zu allocation(s) whose lease ended", n);
    cn_err_release(&err);
}

static int
serve(void *rpc, struct cn_err *err)
{
    return pipd_rpc_run(rpc, err);
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
    struct cn_ticker *reaper;
    struct cn_server_thread *server;
    bool failed;
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

    /* Every thread inherits this mask, so the signals reach only cn_daemon_wait below. */
    cn_daemon_block_signals(&sigs);

    core = pipd_core_new(cfg, &err);
    if (!core)
        fatal("%s", cn_err_msg(&err));
    if (pipd_core_recover(core, &recovered, &err) < 0)
        log_warn("recovery: %s", cn_err_msg(&err));
    cn_daemon_log_lines("recovery: ", recovered.s);
    cn_err_clear(&err);
    rpc = pipd_rpc_new(core, cfg, &err);
    if (!rpc)
        fatal("%s", cn_err_msg(&err));

    reaper = cn_ticker_start(cfg->reap_interval_s, reap, core);
    if (!reaper)
        fatal("cannot start the reaper thread");
    server = cn_server_thread_start(serve, rpc);
    if (!server)
        fatal("cannot start the server thread");
    log_info("serving %s on %s:%u", cfg->name, cfg->listen_host, cfg->listen_port);

    sig = cn_daemon_wait(&sigs);
    log_info("stopping (%s)", strsignal(sig));

    pipd_rpc_stop(rpc);
    failed = cn_server_thread_join(server);
    cn_ticker_stop(reaper);

    pipd_rpc_free(rpc);
    pipd_core_free(core);
    pipd_config_free(cfg);
    cn_buf_release(&recovered);
    cn_err_release(&err);
    return failed ? 1 : 0;
}
