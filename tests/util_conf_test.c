/*
 * The shared configuration reader (util/conf.h): how lines and words are
 * split, what a directive sees, and how problems are reported. The
 * daemons' own directives are tested with the daemons.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/testlib.h"
#include "util/conf.h"
#include "util/util.h"

/* Records every directive as "LINE:word,word" lines; "bad" is refused. */
static int
record(void *ctx, char **words, size_t nwords, unsigned lineno, struct cn_buf *why)
{
    struct cn_buf *seen = ctx;
    if (cn_streq(words[0], "bad")) {
        cn_buf_printf(why, "'%s' refused", words[0]);
        return -1;
    }
    cn_buf_printf(seen, "%u:", lineno);
    for (size_t i = 0; i < nwords; i++)
        cn_buf_printf(seen, "%s%s", i ? "," : "", words[i]);
    cn_buf_putc(seen, '\n');
    return 0;
}

static int
test_words(const void *data)
{
    struct cn_buf seen = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    int rc;
    (void)data;

    cn_buf_init(&seen);
    rc = cn_conf_parse("x.conf",
                       "# a comment\n\n  listen\t127.0.0.1:7001 # trailing\r\n"
                       "peer a b\n   \nlast-line-without-newline",
                       4, record, &seen, &err);
    CHECK(rc == 0);
    CHECK(!cn_err_is_set(&err));
    CHECK_STR(seen.s, "3:listen,127.0.0.1:7001\n4:peer,a,b\n6:last-line-without-newline\n");
    cn_buf_release(&seen);
    cn_err_release(&err);
    return 0;
}

static int
test_problems(const void *data)
{
    struct cn_buf seen = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    int rc;
    (void)data;

    cn_buf_init(&seen);
    /* Every problem is reported and the good lines still apply. */
    rc = cn_conf_parse("x.conf", "a 1 2 3\nbad x\nb 1 2 3 4\nc\n", 4, record, &seen, &err);
    CHECK(rc == -1);
    CHECK(err.code == CN_E_INVALID);
    CHECK_STR(cn_err_msg(&err), "x.conf:2: 'bad' refused\nx.conf:3: too many words");
    CHECK_STR(seen.s, "1:a,1,2,3\n4:c\n");
    cn_buf_release(&seen);
    cn_err_release(&err);
    return 0;
}

static int
test_files(const void *data)
{
    struct cn_buf seen = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    char path[] = "/tmp/cn-conf-test-XXXXXX";
    int fd = mkstemp(path);
    (void)data;

    CHECK(fd >= 0);
    CHECK(write(fd, "k v\n", 4) == 4);
    close(fd);
    cn_buf_init(&seen);
    CHECK(cn_conf_read(path, 8, record, &seen, &err) == 0);
    CHECK_STR(seen.s, "1:k,v\n");

    /* An empty file has no directive and no problem. */
    CHECK(truncate(path, 0) == 0);
    cn_buf_reset(&seen);
    CHECK(cn_conf_read(path, 8, record, &seen, &err) == 0);
    CHECK_STR(seen.s, "");
    CHECK(!cn_err_is_set(&err));

    unlink(path);
    CHECK(cn_conf_read(path, 8, record, &seen, &err) == -1);
    CHECK(err.code == CN_E_IO);
    CHECK(strstr(cn_err_msg(&err), path) != NULL);
    CHECK(strstr(cn_err_msg(&err), "No such file") != NULL);
    cn_buf_release(&seen);
    cn_err_release(&err);
    return 0;
}

int
main(void)
{
    TEST_RUN("conf: lines, words and comments", test_words, NULL);
    TEST_RUN("conf: every problem as FILE:LINE", test_problems, NULL);
    TEST_RUN("conf: files, empty and missing", test_files, NULL);
    return test_summary();
}
