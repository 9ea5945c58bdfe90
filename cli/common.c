/*
 * What every verb needs: usage errors, help, printing library errors, and
 * reading and writing documents.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "rdl/rdl.h"
#include "util/log.h"

int
cli_usage_error(const struct cli_verb *verb, const char *fmt, ...)
{
    struct cn_buf msg = CN_BUF_INIT;
    cn_buf_init(&msg);
    va_list ap;
    va_start(ap, fmt);
    cn_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    log_warn("%s: %s; see 'cloudnet %s --help'", verb->name, msg.s, verb->name);
    cn_buf_release(&msg);
    return CLI_USAGE;
}

int
cli_help(const struct cli_verb *verb)
{
    fputs(verb->help, stdout);
    return CLI_OK;
}

void
cli_print_err(const struct cn_err *err)
{
    /*
     * Library messages already say where ("FILE:LINE:COL: ..."), and scripts
     * parse that form, so they go out without the program's name in front.
     */
    const char *msg = cn_err_msg(err);
    if (*msg)
        fprintf(stderr, "%s\n", msg);
    else
        log_warn("failed without a reason (a bug)");
}

static struct rdl_graph *
read_stdin(struct cn_err *err)
{
    struct cn_buf data = CN_BUF_INIT;
    cn_buf_init(&data);
    char chunk[65536];
    size_t n;
    struct rdl_graph *g = NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (data.len + n > RDL_MAX_DOCUMENT_BYTES) {
            cn_err_add(err, CN_E_LIMIT, "<stdin>: document larger than %u bytes",
                       RDL_MAX_DOCUMENT_BYTES);
            goto cleanup;
        }
        cn_buf_add(&data, chunk, n);
    }
    if (ferror(stdin)) {
        cn_err_add(err, CN_E_IO, "<stdin>: %s", strerror(errno));
        goto cleanup;
    }
    g = rdl_read_string("<stdin>", data.s, data.len, err);
cleanup:
    cn_buf_release(&data);
    return g;
}

struct rdl_graph *
cli_read_graph(const char *path)
{
    struct cn_err err = CN_ERR_INIT;
    cn_err_init(&err);
    struct rdl_graph *g = strcmp(path, "-") == 0 ? read_stdin(&err) : rdl_read_file(path, &err);
    if (!g)
        cli_print_err(&err);
    cn_err_release(&err);
    return g;
}

int
cli_write_stdout(const struct cn_buf *buf)
{
    if (fwrite(buf->s, 1, buf->len, stdout) != buf->len || fflush(stdout) != 0) {
        log_warn("cannot write to standard output: %s", strerror(errno));
        return CLI_FAILURE;
    }
    return CLI_OK;
}

int
cli_emit_graph(const struct rdl_graph *g, const char *output)
{
    int status = CLI_FAILURE;
    struct cn_buf out = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    cn_buf_init(&out);
    cn_err_init(&err);
    if (output) {
        if (rdl_write_file(g, output, &err) < 0)
            goto cleanup;
        status = CLI_OK;
    } else {
        if (rdl_write(g, &out, &err) < 0)
            goto cleanup;
        status = cli_write_stdout(&out);
    }
cleanup:
    if (cn_err_is_set(&err))
        cli_print_err(&err);
    cn_buf_release(&out);
    cn_err_release(&err);
    return status;
}

/*
 * Runs getopt_long for a verb and turns its complaints into usage errors
 * that name the verb. Returns the option, -1 at the end, or '?' after a
 * usage error was printed.
 */
int
cli_next_option(const struct cli_verb *verb, int argc, char **argv, const char *shortopts,
                const struct option *longopts)
{
    opterr = 0;
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (c == '?') {
        if (optopt)
            cli_usage_error(verb, "unknown option '-%c'", optopt);
        else
            cli_usage_error(verb, "unknown option '%s'", argv[optind - 1]);
    } else if (c == ':') {
        cli_usage_error(verb, "option '%s' needs an argument", argv[optind - 1]);
        c = '?';
    }
    return c;
}
