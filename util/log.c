/*
 * Logging for programs: stderr in the foreground, syslog in the background.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "util/log.h"

static const char *log_progname = "cloudnet";
static bool log_foreground = true;
static int log_verbosity = 0;

void
log_init(const char *progname, bool foreground, int verbosity)
{
    log_progname = progname;
    log_foreground = foreground;
    log_verbosity = verbosity;
    if (!foreground)
        openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void
vlog(int priority, const char *fmt, va_list ap)
{
    if (log_foreground) {
        fprintf(stderr, "%s: ", log_progname);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        fflush(stderr);
    } else {
        vsyslog(priority, fmt, ap);
    }
}

void
log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_WARNING, fmt, ap);
    va_end(ap);
}

void
log_info(const char *fmt, ...)
{
    if (log_verbosity < 1 && !log_foreground)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_INFO, fmt, ap);
    va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
    if (log_verbosity < 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_DEBUG, fmt, ap);
    va_end(ap);
}

void
fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_CRIT, fmt, ap);
    va_end(ap);
    exit(1);
}
