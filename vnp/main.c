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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/daemon.h"
#include "util/log.h"
#include "util/util.h"
#include "vnp/vnpd.h"

#define DEFAULT_CONFIG "/etc/cloudnet/vnpd.conf"

static void
chores(void *broker)
{
    struct cn_err err = CN_ERR_INIT;
    if (vnpd_broker_chores(broker, &err) < 0)
        log_warn("chores: %s", cn_err_msg(&err));
    cn_err_release(&err);
}

static int
serve(void *rpc, struct cn_err *err)
{
    return vnpd_rpc_run(rpc, err);
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
    struct vnpd_broker *broker;
    struct vnpd_rpc *rpc;
    struct cn_ticker *chores_thread;
    struct cn_server_thread *server;
    bool failed;
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

    cn_daemon_block_signals(&sigs);

    store = vnpd_store_open(cfg, &err);
    if (!store)
        fatal("%s", cn_err_msg(&err));
    broker = vnpd_broker_new(cfg, store, &err);
    if (!broker)
        fatal("%s", cn_err_msg(&err));
    if (vnpd_broker_recover(broker, &recovered, &err) < 0)
        log_warn("recovery: %s", cn_err_msg(&err));
    cn_daemon_log_lines("recovery: ", recovered.s);
    cn_err_clear(&err);
    rpc = vnpd_rpc_new(broker, cfg, &err);
    if (!rpc)
        fatal("%s", cn_err_msg(&err));
    chores_thread = cn_ticker_start(1, chores, broker);
    server = cn_server_thread_start(serve, rpc);
    if (!chores_thread || !server)
        fatal("cannot start threads");
    log_info("brokering %zu pip(s) as %s on %s:%u", cfg->npips, cfg->name, cfg->listen_host,
             cfg->listen_port);

    sig = cn_daemon_wait(&sigs);
    log_info("stopping (%s)", strsignal(sig));
    vnpd_rpc_stop(rpc);
    failed = cn_server_thread_join(server);
    cn_ticker_stop(chores_thread);

    vnpd_rpc_free(rpc);
    vnpd_broker_free(broker);
    vnpd_store_close(store);
    vnpd_config_free(cfg);
    cn_buf_release(&recovered);
    cn_err_release(&err);
    return failed ? 1 : 0;
}
