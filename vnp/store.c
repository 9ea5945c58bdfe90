/*
 * vnpd's storage on MySQL/MariaDB through Connector/C, the only file of
 * vnp/ that includes mysql.h. Every statement carrying a value is prepared;
 * only the embedded schema scripts and CREATE DATABASE go as text.
 *
 * One connection serves the daemon. Its mutex is recursive: every function
 * takes it for its statements, and vnpd_store_transaction() takes it until
 * vnpd_store_commit() or vnpd_store_rollback(), so the writes of one step of
 * the broker (before the PIPs are asked, after they answered) go to disk
 * with one commit and one log flush, and other threads' statements wait
 * rather than land inside the transaction.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "util/util.h"
#include "vnp/vnpd.h"

/* Generated from schemas/vnp-NNN.sql (vnp/Makefile.mk). */
extern const char *const vnp_schema_scripts[];
extern const size_t vnp_schema_script_count;

#define SCHEMA_LOCK "cloudnet_vnp_schema"

struct vnpd_store {
    MYSQL *db;
    pthread_mutex_t lock; /* recursive */
    int tx_depth;         /* open vnpd_store_transaction() calls */
    bool tx_failed;       /* an inner one rolled back: the outermost cannot commit */
};

/* A result held in memory: cells as strings, NULL for SQL NULL. */
struct rows {
    size_t n, cols;
    char **cell;
};

static void
rows_release(struct rows *r)
{
    for (size_t i = 0; i < r->n * r->cols; i++)
        free(r->cell[i]);
    free(r->cell);
    memset(r, 0, sizeof(*r));
}

static char *
cell_dup(const struct rows *r, size_t row, size_t col)
{
    const char *c = r->cell[row * r->cols + col];
    return c ? xstrdup(c) : NULL;
}

static long long
cell_ll(const struct rows *r, size_t row, size_t col)
{
    const char *c = r->cell[row * r->cols + col];
    return c ? strtoll(c, NULL, 10) : 0;
}

static void *
drop_const(const void *p)
{
    union {
        const void *c;
        void *m;
    } u = {.c = p};
    return u.m;
}

/* Copies the stored result of st into out, sizing buffers from max_length. */
static int
fetch_rows(MYSQL_STMT *st, MYSQL_RES *meta, struct rows *out)
{
    unsigned cols = mysql_num_fields(meta);
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    MYSQL_BIND *b = xcalloc(cols + 1, sizeof(*b));
    unsigned long *len = xcalloc(cols + 1, sizeof(*len));
    my_bool *null = xcalloc(cols + 1, sizeof(*null));
    char **buf = xcalloc(cols + 1, sizeof(*buf));
    size_t cap = 0;
    int ret = -1;

    for (unsigned c = 0; c < cols; c++) {
        buf[c] = xmalloc(f[c].max_length + 1);
        b[c].buffer_type = MYSQL_TYPE_STRING;
        b[c].buffer = buf[c];
        b[c].buffer_length = f[c].max_length + 1;
        b[c].length = &len[c];
        b[c].is_null = &null[c];
    }
    out->cols = cols;
    if (mysql_stmt_bind_result(st, b))
        goto cleanup;
    int rc;
    while ((rc = mysql_stmt_fetch(st)) == 0) {
        CN_GROW(out->cell, cap, (out->n + 1) * cols);
        for (unsigned c = 0; c < cols; c++)
            out->cell[out->n * cols + c] = null[c] ? NULL : xstrndup(buf[c], len[c]);
        out->n++;
    }
    ret = rc == MYSQL_NO_DATA ? 0 : -1;
cleanup:
    for (unsigned c = 0; c < cols; c++)
        free(buf[c]);
    free(buf);
    free(b);
    free(len);
    free(null);
    return ret;
}

/*
 * One prepared statement. types: 's' const char * (NULL binds NULL), 'i'
 * long long. out, when not NULL, receives the rows (caller releases).
 */
static int
run(struct vnpd_store *s, struct rows *out, struct cn_err *err, const char *sql, const char *types,
    ...)
{
    size_t n = strlen(types);
    MYSQL_BIND *p = xcalloc(n + 1, sizeof(*p));
    long long *num = xcalloc(n + 1, sizeof(*num));
    MYSQL_STMT *st = NULL;
    MYSQL_RES *meta = NULL;
    my_bool update_max = 1;
    va_list ap;
    int ret = -1;

    pthread_mutex_lock(&s->lock);
    va_start(ap, types);
    for (size_t i = 0; i < n; i++) {
        if (types[i] == 'i') {
            num[i] = va_arg(ap, long long);
            p[i].buffer_type = MYSQL_TYPE_LONGLONG;
            p[i].buffer = &num[i];
            continue;
        }
        const char *str = va_arg(ap, const char *);
        p[i].buffer_type = str ? MYSQL_TYPE_STRING : MYSQL_TYPE_NULL;
        p[i].buffer = drop_const(str);
        p[i].buffer_length = str ? strlen(str) : 0;
    }
    va_end(ap);
    st = mysql_stmt_init(s->db);
    if (!st || mysql_stmt_prepare(st, sql, strlen(sql)) || (n && mysql_stmt_bind_param(st, p)) ||
        mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max) || mysql_stmt_execute(st))
        goto fail;
    meta = mysql_stmt_result_metadata(st);
    if (meta) {
        if (mysql_stmt_store_result(st))
            goto fail;
        if (out && fetch_rows(st, meta, out) < 0)
            goto fail;
    }
    ret = 0;
    goto cleanup;
fail:
    cn_err_set(err, CN_E_DB, "database: %s", st ? mysql_stmt_error(st) : mysql_error(s->db));
cleanup:
    if (meta)
        mysql_free_result(meta);
    if (st)
        mysql_stmt_close(st);
    pthread_mutex_unlock(&s->lock);
    free(p);
    free(num);
    return ret;
}

static int
run_text(struct vnpd_store *s, const char *sql, struct cn_err *err)
{
    if (mysql_query(s->db, sql))
        return cn_err_set(err, CN_E_DB, "database: %s", mysql_error(s->db));
    MYSQL_RES *r = mysql_store_result(s->db);
    if (r)
        mysql_free_result(r);
    return 0;
}

static long long
now_s(void)
{
    return (long long)time(NULL);
}

/* Applies the schema scripts the database lacks, under a named lock. */
static int
migrate(struct vnpd_store *s, struct cn_err *err)
{
    struct rows r = {0};
    int ret = -1;
    long long have = 0;

    if (run(s, &r, err, "SELECT GET_LOCK(?, 60)", "s", SCHEMA_LOCK) < 0)
        goto cleanup;
    if (cell_ll(&r, 0, 0) != 1) {
        cn_err_set(err, CN_E_BUSY, "database: another process is upgrading the schema");
        goto cleanup;
    }
    rows_release(&r);
    if (run(s, &r, err,
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_name = 'schema_version'",
            "") < 0)
        goto unlock;
    if (cell_ll(&r, 0, 0) > 0) {
        rows_release(&r);
        if (run(s, &r, err, "SELECT COALESCE(MAX(version), 0) FROM schema_version", "") < 0)
            goto unlock;
        have = cell_ll(&r, 0, 0);
    }
    if (have > (long long)vnp_schema_script_count) {
        cn_err_set(err, CN_E_DB, "database schema is version %lld, newer than this vnpd (%zu)",
                   have, vnp_schema_script_count);
        goto unlock;
    }
    for (size_t v = (size_t)have + 1; v <= vnp_schema_script_count; v++) {
        /* Statements end with ';' at the end of a line. */
        char *script = xstrdup(vnp_schema_scripts[v - 1]), *rest = script, *stmt;
        int bad = 0;
        while (!bad && (stmt = strstr(rest, ";\n")) != NULL) {
            stmt[1] = '\0';
            char *sql = rest;
            rest = stmt + 2;
            /* Drop comment lines, which MariaDB would accept, for clearer errors. */
            while (cn_startswith(sql, "--") || *sql == '\n')
                sql = *sql == '\n' ? sql + 1 : strchrnul(sql, '\n');
            if (*sql && run_text(s, sql, err) < 0)
                bad = 1;
        }
        free(script);
        if (bad || run(s, NULL, err, "INSERT INTO schema_version VALUES (?, ?)", "ii", (long long)v,
                       now_s()) < 0) {
            cn_err_prefix(err, "schema version %zu", v);
            goto unlock;
        }
    }
    ret = 0;
unlock:
    run(s, NULL, err, "SELECT RELEASE_LOCK(?)", "s", SCHEMA_LOCK);
cleanup:
    rows_release(&r);
    return ret;
}

static void
library_init(void)
{
    mysql_library_init(0, NULL, NULL);
}

struct vnpd_store *
vnpd_store_open(const struct vnpd_config *cfg, struct cn_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct vnpd_store *s = xcalloc(1, sizeof(*s));
    pthread_mutexattr_t attr;
    const char *name = cfg->db_name;
    char *ddl = NULL;
    unsigned timeout = 10;
    my_bool no = 0;

    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->lock, &attr);
    pthread_mutexattr_destroy(&attr);

    if (!*name ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$") !=
            strlen(name) ||
        strlen(name) > 64) {
        cn_err_set(err, CN_E_INVALID, "database name \"%s\": use 1-64 letters, digits, '_' or '$'",
                   name);
        goto fail;
    }
    pthread_once(&once, library_init);
    s->db = mysql_init(NULL);
    if (!s->db) {
        cn_err_set(err, CN_E_DB, "database: cannot initialise the client library");
        goto fail;
    }
    mysql_optionsv(s->db, MYSQL_OPT_RECONNECT, &no);
    mysql_optionsv(s->db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(s->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(s->db, MYSQL_INIT_COMMAND,
                   "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
    if (!mysql_real_connect(s->db, cfg->db_socket ? NULL : cfg->db_host, cfg->db_user,
                            getenv("VNPD_DB_PASSWORD"), NULL, cfg->db_socket ? 0 : cfg->db_port,
                            cfg->db_socket, 0)) {
        cn_err_set(err, CN_E_DB, "database: cannot connect to %s: %s",
                   cfg->db_socket ? cfg->db_socket
                   : cfg->db_host ? cfg->db_host
                                  : "localhost",
                   mysql_error(s->db));
        goto fail;
    }
    /* The name was checked above: identifiers cannot be parameters. */
    ddl = xasprintf("CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_bin",
                    name);
    if (run_text(s, ddl, err) < 0)
        goto fail;
    if (mysql_select_db(s->db, name)) {
        cn_err_set(err, CN_E_DB, "database: %s", mysql_error(s->db));
        goto fail;
    }
    if (migrate(s, err) < 0)
        goto fail;
    free(ddl);
    return s;
fail:
    free(ddl);
    vnpd_store_close(s);
    return NULL;
}

void
vnpd_store_close(struct vnpd_store *s)
{
    if (!s)
        return;
    if (s->db)
        mysql_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int
vnpd_store_transaction(struct vnpd_store *s, struct cn_err *err)
{
    pthread_mutex_lock(&s->lock);
    if (s->tx_depth++ == 0 && mysql_autocommit(s->db, 0)) {
        s->tx_depth--;
        cn_err_set(err, CN_E_DB, "database: %s", mysql_error(s->db));
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    return 0;
}

/* Ends a transaction; the outermost commits or rolls back, and lets others in. */
static int
transaction_end(struct vnpd_store *s, bool commit, struct cn_err *err)
{
    int ret = 0;
    s->tx_failed |= !commit;
    if (--s->tx_depth == 0) {
        if (commit && s->tx_failed) {
            ret = cn_err_set(err, CN_E_DB, "database: transaction rolled back");
            mysql_rollback(s->db);
        } else if (commit && mysql_commit(s->db)) {
            ret = cn_err_set(err, CN_E_DB, "database: %s", mysql_error(s->db));
            mysql_rollback(s->db);
        } else if (!commit) {
            mysql_rollback(s->db);
        }
        s->tx_failed = false;
        mysql_autocommit(s->db, 1);
    }
    pthread_mutex_unlock(&s->lock);
    return ret;
}

int
vnpd_store_commit(struct vnpd_store *s, struct cn_err *err)
{
    return transaction_end(s, true, err);
}

void
vnpd_store_rollback(struct vnpd_store *s)
{
    transaction_end(s, false, NULL);
}

/* ---- requests ---- */

void
vnpd_requests_free(struct vnpd_request *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        free(r[i].id);
        free(r[i].peer);
        free(r[i].state);
        free(r[i].yaml);
        free(r[i].manifest);
        free(r[i].reason);
    }
    free(r);
}

void
vnpd_request_free(struct vnpd_request *r)
{
    vnpd_requests_free(r, r ? 1 : 0);
}

#define REQUEST_COLUMNS "id, peer, state, request_yaml, manifest_yaml, reason, fault, expires_at"

static void
request_fill(struct vnpd_request *q, const struct rows *r, size_t i)
{
    q->id = cell_dup(r, i, 0);
    q->peer = cell_dup(r, i, 1);
    q->state = cell_dup(r, i, 2);
    q->yaml = cell_dup(r, i, 3);
    q->manifest = cell_dup(r, i, 4);
    q->reason = cell_dup(r, i, 5);
    q->fault = (int)cell_ll(r, i, 6);
    q->expires = cell_ll(r, i, 7);
}

struct vnpd_request *
vnpd_store_get(struct vnpd_store *s, const char *id, struct cn_err *err)
{
    struct rows r = {0};
    struct vnpd_request *q = NULL;
    if (run(s, &r, err, "SELECT " REQUEST_COLUMNS " FROM request WHERE id = ?", "s", id) < 0)
        goto cleanup;
    if (r.n == 0) {
        cn_err_set(err, CN_E_NOTFOUND, "no CloudNet '%s'", id);
        goto cleanup;
    }
    q = xcalloc(1, sizeof(*q));
    request_fill(q, &r, 0);
cleanup:
    rows_release(&r);
    return q;
}

int
vnpd_store_list(struct vnpd_store *s, const char *peer, struct vnpd_request **ret_items,
                size_t *ret_n, struct cn_err *err)
{
    struct rows r = {0};
    if (run(s, &r, err, "SELECT " REQUEST_COLUMNS " FROM request WHERE peer = ? ORDER BY id", "s",
            peer) < 0) {
        rows_release(&r);
        return -1;
    }
    struct vnpd_request *items = xcalloc(r.n + 1, sizeof(*items));
    for (size_t i = 0; i < r.n; i++)
        request_fill(&items[i], &r, i);
    *ret_items = items;
    *ret_n = r.n;
    rows_release(&r);
    return 0;
}

int
vnpd_store_holding(struct vnpd_store *s, struct vnpd_request **ret_items, size_t *ret_n,
                   struct cn_err *err)
{
    struct rows r = {0};
    if (run(s, &r, err,
            "SELECT " REQUEST_COLUMNS " FROM request WHERE manifest_yaml IS NOT NULL AND "
            "(state IN ('allocated', 'provisioned') OR id IN (SELECT request_id FROM part "
            "WHERE state = 'release-pending')) ORDER BY id",
            "") < 0) {
        rows_release(&r);
        return -1;
    }
    struct vnpd_request *items = xcalloc(r.n + 1, sizeof(*items));
    for (size_t i = 0; i < r.n; i++)
        request_fill(&items[i], &r, i);
    *ret_items = items;
    *ret_n = r.n;
    rows_release(&r);
    return 0;
}

int
vnpd_store_begin_request(struct vnpd_store *s, const char *id, const char *peer, const char *yaml,
                         struct cn_err *err)
{
    long long now = now_s();
    if (vnpd_store_transaction(s, err) < 0)
        return -1;
    if (run(s, NULL, err,
            "INSERT INTO request (id, peer, state, request_yaml, created_at, updated_at) "
            "VALUES (?, ?, 'negotiating', ?, ?, ?)",
            "sssii", id, peer, yaml, now, now) < 0 ||
        run(s, NULL, err, "INSERT INTO operation VALUES (?, 'negotiate', ?)", "si", id, now) < 0) {
        vnpd_store_rollback(s);
        return -1;
    }
    return vnpd_store_commit(s, err);
}

int
vnpd_store_set_request(struct vnpd_store *s, const char *id, const char *state,
                       const char *manifest, const char *reason, int fault, long long expires,
                       struct cn_err *err)
{
    return run(s, NULL, err,
               "UPDATE request SET state = ?, manifest_yaml = COALESCE(?, manifest_yaml), "
               "reason = COALESCE(?, reason), fault = ?, expires_at = ?, updated_at = ? "
               "WHERE id = ?",
               "sssiiis", state, manifest, reason, (long long)fault, expires, now_s(), id);
}

int
vnpd_store_set_request_yaml(struct vnpd_store *s, const char *id, const char *yaml,
                            struct cn_err *err)
{
    return run(s, NULL, err, "UPDATE request SET request_yaml = ?, updated_at = ? WHERE id = ?",
               "sis", yaml, now_s(), id);
}

/* ---- parts ---- */

void
vnpd_parts_free(struct vnpd_part *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].pip);
        free(p[i].yaml);
        free(p[i].elements);
        free(p[i].state);
        free(p[i].manifest);
    }
    free(p);
}

int
vnpd_store_add_part(struct vnpd_store *s, const char *id, const char *pip, const char *yaml,
                    const char *elements, struct cn_err *err)
{
    return run(s, NULL, err,
               "INSERT INTO part (request_id, pip, partial_yaml, elements, state, updated_at) "
               "VALUES (?, ?, ?, ?, 'negotiating', ?)",
               "ssssi", id, pip, yaml, elements, now_s());
}

int
vnpd_store_set_part(struct vnpd_store *s, const char *id, const char *pip, const char *state,
                    const char *manifest, long long retry_until, struct cn_err *err)
{
    return run(s, NULL, err,
               "UPDATE part SET state = ?, manifest_yaml = COALESCE(?, manifest_yaml), "
               "retry_until = ?, updated_at = ? WHERE request_id = ? AND pip = ?",
               "ssiiss", state, manifest, retry_until, now_s(), id, pip);
}

int
vnpd_store_put_part(struct vnpd_store *s, const char *id, const char *pip, const char *yaml,
                    const char *elements, const char *state, const char *manifest,
                    long long retry_until, struct cn_err *err)
{
    long long now = now_s();
    return run(s, NULL, err,
               "INSERT INTO part (request_id, pip, partial_yaml, elements, state, manifest_yaml, "
               "retry_until, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
               "partial_yaml = ?, elements = ?, state = ?, manifest_yaml = ?, retry_until = ?, "
               "updated_at = ?",
               "ssssssiissssii", id, pip, yaml, elements, state, manifest, retry_until, now, yaml,
               elements, state, manifest, retry_until, now);
}

int
vnpd_store_parts(struct vnpd_store *s, const char *id, struct vnpd_part **ret_parts, size_t *ret_n,
                 struct cn_err *err)
{
    struct rows r = {0};
    if (run(s, &r, err,
            "SELECT pip, partial_yaml, elements, state, manifest_yaml, retry_until FROM part "
            "WHERE request_id = ? ORDER BY pip",
            "s", id) < 0) {
        rows_release(&r);
        return -1;
    }
    struct vnpd_part *p = xcalloc(r.n + 1, sizeof(*p));
    for (size_t i = 0; i < r.n; i++) {
        p[i].pip = cell_dup(&r, i, 0);
        p[i].yaml = cell_dup(&r, i, 1);
        p[i].elements = cell_dup(&r, i, 2);
        p[i].state = cell_dup(&r, i, 3);
        p[i].manifest = cell_dup(&r, i, 4);
        p[i].retry_until = cell_ll(&r, i, 5);
    }
    *ret_parts = p;
    *ret_n = r.n;
    rows_release(&r);
    return 0;
}

/* ---- operations in flight ---- */

int
vnpd_store_op_begin(struct vnpd_store *s, const char *id, const char *op, struct cn_err *err)
{
    return run(s, NULL, err, "REPLACE INTO operation VALUES (?, ?, ?)", "ssi", id, op, now_s());
}

int
vnpd_store_op_end(struct vnpd_store *s, const char *id, struct cn_err *err)
{
    return run(s, NULL, err, "DELETE FROM operation WHERE request_id = ?", "s", id);
}

void
vnpd_ops_free(struct vnpd_op *ops, size_t n)
{
    for (size_t i = 0; ops && i < n; i++) {
        free(ops[i].id);
        free(ops[i].op);
    }
    free(ops);
}

int
vnpd_store_ops(struct vnpd_store *s, struct vnpd_op **ret_ops, size_t *ret_n, struct cn_err *err)
{
    struct rows r = {0};
    if (run(s, &r, err, "SELECT request_id, op FROM operation ORDER BY started_at", "") < 0) {
        rows_release(&r);
        return -1;
    }
    struct vnpd_op *ops = xcalloc(r.n + 1, sizeof(*ops));
    for (size_t i = 0; i < r.n; i++) {
        ops[i].id = cell_dup(&r, i, 0);
        ops[i].op = cell_dup(&r, i, 1);
    }
    *ret_ops = ops;
    *ret_n = r.n;
    rows_release(&r);
    return 0;
}

int
vnpd_store_chores(struct vnpd_store *s, long long now, char ***ret_ids, size_t *ret_n,
                  struct cn_err *err)
{
    struct rows r = {0};
    if (run(s, &r, err,
            "SELECT DISTINCT request_id FROM part WHERE state = 'release-pending' "
            "UNION SELECT id FROM request WHERE state = 'allocated' AND expires_at > 0 "
            "AND expires_at <= ?",
            "i", now) < 0) {
        rows_release(&r);
        return -1;
    }
    char **ids = xcalloc(r.n + 1, sizeof(*ids));
    for (size_t i = 0; i < r.n; i++)
        ids[i] = cell_dup(&r, i, 0);
    *ret_ids = ids;
    *ret_n = r.n;
    rows_release(&r);
    return 0;
}
