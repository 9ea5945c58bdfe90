/*
 * The line and word reader of the daemons' configuration files
 * (util/conf.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/conf.h"
#include "util/util.h"

#define BLANKS " \t\r"

int
cn_conf_parse(const char *file, const char *text, size_t max_words, cn_conf_fn *fn, void *ctx,
              struct cn_err *err)
{
    struct cn_buf why = CN_BUF_INIT;
    size_t len = strlen(text);
    char *copy = xstrdup(text), *rest = copy, *line;
    /* Without a limit, room for every word the text could hold. */
    size_t limit = max_words ? max_words : len / 2 + 1;
    char **words = xcalloc(limit + 1, sizeof(*words));
    unsigned lineno = 0;
    bool bad = false;

    cn_buf_init(&why);
    while ((line = strsep(&rest, "\n")) != NULL) {
        char *word;
        size_t n = 0;

        lineno++;
        line[strcspn(line, "#")] = '\0';
        while (n <= limit && (word = strsep(&line, BLANKS)) != NULL)
            if (*word)
                words[n++] = word;
        if (n == 0)
            continue;
        cn_buf_reset(&why);
        if (n > limit)
            cn_buf_puts(&why, "too many words");
        if (n > limit || fn(ctx, words, n, lineno, &why) < 0) {
            cn_err_add(err, CN_E_INVALID, "%s:%u: %s", file, lineno, why.s);
            bad = true;
        }
    }
    free(words);
    /* Configuration files hold secrets. */
    explicit_bzero(copy, len);
    free(copy);
    cn_buf_release(&why);
    return bad ? -1 : 0;
}

int
cn_conf_read(const char *file, size_t max_words, cn_conf_fn *fn, void *ctx, struct cn_err *err)
{
    struct cn_buf text = CN_BUF_INIT;
    int ret = -1;

    if (cn_buf_read_file(&text, file, CN_CONF_MAX_SIZE) < 0) {
        cn_err_set(err, CN_E_IO, "%s: %s", file, strerror(errno));
        goto cleanup;
    }
    /* An empty file leaves the buffer without a string. */
    ret = cn_conf_parse(file, text.s ? text.s : "", max_words, fn, ctx, err);
cleanup:
    cn_buf_release(&text);
    return ret;
}
