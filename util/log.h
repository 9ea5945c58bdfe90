/*
 * Daemon and tool logging (OpenBSD style): to stderr in the foreground, to
 * syslog otherwise. Only programs call these; library code reports through
 * struct cn_err instead.
 */
#ifndef CLOUDNET_LOG_H
#define CLOUDNET_LOG_H

#include "util/util.h"

void log_init(const char *progname, bool foreground, int verbosity);
void log_warn(const char *fmt, ...) CN_PRINTF(1, 2);
void log_info(const char *fmt, ...) CN_PRINTF(1, 2);
void log_debug(const char *fmt, ...) CN_PRINTF(1, 2);
void fatal(const char *fmt, ...) CN_PRINTF(1, 2) __attribute__((noreturn));

#endif /* CLOUDNET_LOG_H */
