/*
 * Start-up and shut-down plumbing that pipd and vnpd share: the signals the
 * main thread waits for, a periodic worker thread (pipd's reaper, vnpd's
 * chores) and the thread that runs the server. Like util/log.h, only
 * programs use this; it logs.
 *
 * The order a daemon keeps: cn_daemon_block_signals() before any thread
 * exists (every thread inherits the mask, so the signals reach only
 * cn_daemon_wait()), then the threads, then cn_daemon_wait().
 */
#ifndef CLOUDNET_UTIL_DAEMON_H
#define CLOUDNET_UTIL_DAEMON_H

#include <signal.h>
#include <stdbool.h>

struct cn_err;

/* Blocks SIGTERM, SIGINT and SIGHUP into *ret_sigs and ignores SIGPIPE. */
void cn_daemon_block_signals(sigset_t *ret_sigs);
/* Waits for SIGTERM or SIGINT (SIGHUP is ignored) and returns it. */
int cn_daemon_wait(const sigset_t *sigs);
/* Logs each non-empty line of text (may be NULL) with log_info, after prefix. */
void cn_daemon_log_lines(const char *prefix, const char *text);

/* A thread that calls fn(arg) every interval_s seconds until stopped. */
struct cn_ticker;
/* NULL when the thread cannot be started. */
struct cn_ticker *cn_ticker_start(unsigned interval_s, void (*fn)(void *arg), void *arg);
/* Stops it, waiting for a running fn to return, and frees it; accepts NULL. */
void cn_ticker_stop(struct cn_ticker *t);

/*
 * Runs run(arg, err) on a thread of its own. When it fails, the error is
 * logged and the process sent SIGTERM, so that cn_daemon_wait() returns.
 */
struct cn_server_thread;
/* NULL when the thread cannot be started. */
struct cn_server_thread *cn_server_thread_start(int (*run)(void *arg, struct cn_err *err),
                                                void *arg);
/* Waits for run to return (the server was told to stop) and frees t: whether it failed. */
bool cn_server_thread_join(struct cn_server_thread *t);

#endif /* CLOUDNET_UTIL_DAEMON_H */
