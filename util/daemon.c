/*
 * Signals and threads of the daemons (util/daemon.h). Signals are taken
 * synchronously by the main thread (sigwait), so no work happens in a
 * signal handler.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/daemon.h"
#include "util/log.h"
#include "util/util.h"

void
cn_daemon_block_signals(sigset_t *ret_sigs)
{
    sigemptyset(ret_sigs);
    sigaddset(ret_sigs, SIGTERM);
    sigaddset(ret_sigs, SIGINT);
    sigaddset(ret_sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, ret_sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int
cn_daemon_wait(const sigset_t *sigs)
{
    int sig = 0;
    do {
        if (sigwait(sigs, &sig) != 0)
            sig = SIGTERM;
    } while (sig == SIGHUP);
    return sig;
}

void
cn_daemon_log_lines(const char *prefix, const char *text)
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

struct cn_ticker {
    unsigned interval_s;
    void (*fn)(void *arg);
    void *arg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

static void *
ticker_main(void *arg)
{
    struct cn_ticker *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += t->interval_s;
        /* Only the deadline or a stop ends the wait, not a spurious wake-up. */
        while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock, &until) != ETIMEDOUT)
            ;
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->lock);
        t->fn(t->arg);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

struct cn_ticker *
cn_ticker_start(unsigned interval_s, void (*fn)(void *arg), void *arg)
{
    struct cn_ticker *t = xcalloc(1, sizeof(*t));
    t->interval_s = interval_s;
    t->fn = fn;
    t->arg = arg;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->cond);
        free(t);
        return NULL;
    }
    return t;
}

void
cn_ticker_stop(struct cn_ticker *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    free(t);
}

struct cn_server_thread {
    int (*run)(void *arg, struct cn_err *err);
    void *arg;
    pthread_t thread;
    bool failed;
};

static void *
server_main(void *arg)
{
    struct cn_server_thread *t = arg;
    struct cn_err err = CN_ERR_INIT;
    if (t->run(t->arg, &err) < 0) {
        log_warn("%s", cn_err_msg(&err));
        t->failed = true;
        /* Wake the main thread, which waits for a signal. */
        kill(getpid(), SIGTERM);
    }
    cn_err_release(&err);
    return NULL;
}

struct cn_server_thread *
cn_server_thread_start(int (*run)(void *arg, struct cn_err *err), void *arg)
{
    struct cn_server_thread *t = xcalloc(1, sizeof(*t));
    t->run = run;
    t->arg = arg;
    if (pthread_create(&t->thread, NULL, server_main, t) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

bool
cn_server_thread_join(struct cn_server_thread *t)
{
    bool failed;
    pthread_join(t->thread, NULL);
    failed = t->failed;
    free(t);
    return failed;
}
