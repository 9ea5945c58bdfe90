/*
 * The configuration file format the daemons share: one directive per line,
 * words separated by blanks (space, tab, CR), '#' starts a comment that
 * runs to the end of the line. Each daemon applies the directives itself
 * (pip/config.c, vnp/config.c, clipd/config.c); this reader splits the text
 * and reports every problem as "FILE:LINE: message", going on after one so
 * that an operator sees all mistakes at once.
 */
#ifndef CLOUDNET_UTIL_CONF_H
#define CLOUDNET_UTIL_CONF_H

#include <stddef.h>

struct cn_buf;
struct cn_err;

/* The largest configuration file read. */
#define CN_CONF_MAX_SIZE (1024 * 1024)

/*
 * Applies one directive (words[0] is its keyword, nwords >= 1) found on
 * line lineno; returns 0, or -1 with the problem described in why (which
 * is empty on entry). The words may be modified.
 */
typedef int cn_conf_fn(void *ctx, char **words, size_t nwords, unsigned lineno, struct cn_buf *why);

/*
 * Calls fn for every line of text that holds a word; a line of more than
 * max_words words (0: no limit) is the problem "too many words" and fn
 * does not see it.
 * Each problem is added to err as "FILE:LINE: why" (CN_E_INVALID); returns
 * -1 when there was any.
 */
int cn_conf_parse(const char *file, const char *text, size_t max_words, cn_conf_fn *fn, void *ctx,
                  struct cn_err *err);
/* Reads file (at most CN_CONF_MAX_SIZE bytes, CN_E_IO otherwise) and parses it. */
int cn_conf_read(const char *file, size_t max_words, cn_conf_fn *fn, void *ctx, struct cn_err *err);

#endif /* CLOUDNET_UTIL_CONF_H */
