/*
 * pipd's storage on MySQL/MariaDB through Connector/C: the only file of the
 * daemon that includes mysql.h. Every statement that carries a value is a
 * prepared statement (db_exec, db_run), prepared once per connection and
 * kept (stmt_get); the embedded schema scripts, CREATE DATABASE and the
 * transaction statements, which hold no values, are the only text sent as
 * is. A reservation's rows go in with one multi-row INSERT per table.
 *
 * How double-booking is prevented. A reservation runs in one transaction
 * that first locks the substrate row in share mode (exclusively when it
 * takes VLAN tags, which serialises tag picking), then locks the underlay
 * element rows it consumes in index order (one SELECT ... IN (...) FOR
 * UPDATE, which InnoDB walks in key order), and only then reads the clock
 * and sums what is allocated on those elements. Sessions run at READ
 * COMMITTED, so those sums see every reservation that committed before the
 * locks were granted; a competitor for the same element waits for the locks
 * and then sees this one. Renew and confirm take the same locks before they
 * look at a lease, so a lease cannot be revived after a reservation that
 * counted it as ended has taken its capacity. Release only frees and needs
 * no element locks. The fixed order (substrate, elements by id,
 * reservation) keeps these transactions from deadlocking one another; a
 * deadlock or lock timeout from elsewhere is retried a few times and then
 * reported as CN_E_BUSY.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "pip/store.h"
#include "rdl/rdl.h"
#include "util/util.h"

/* The schema scripts, generated from schemas/pip-NNN.sql (pip/embed-sql.sh). */
extern const char *const pip_schema_scripts[];
extern const size_t pip_schema_script_count;

#define DEFAULT_MAX_LEASE_S 3600
#define DEFAULT_LOCK_WAIT_S 10
#define MAX_ID_LEN 255
#define VLAN_MIN 1
#define VLAN_MAX 4094
/* Decimal columns keep 9 fractional digits; comparisons allow for that rounding. */
#define AMOUNT_EPSILON 1e-9
/* DECIMAL(30, 9) holds up to 10^21; keep well inside it. */
#define AMOUNT_MAX 1e18
#define BUSY_ATTEMPTS 3
#define SCHEMA_LOCK_NAME "cloudnet_pip_schema"
#define SCHEMA_LOCK_WAIT_S 60
/* Statements kept prepared per connection; pipd uses about 40 distinct ones. */
#define STMT_CACHE_MAX 96

/* A statement kept prepared on the connection (stmt_get). */
struct stmt_slot {
    char *sql;
    MYSQL_STMT *st;
    unsigned long long used;
};

struct pip_store {
    MYSQL *db;
    struct stmt_slot stmts[STMT_CACHE_MAX];
    size_t nstmts;
    unsigned long long tick;
    long max_lease_s;
    long long (*now)(void *arg);
    void *now_arg;
    unsigned last_errno; /* server error of the last failed statement, or 0 */
    bool broken;         /* the connection was lost: the store is of no further use */
};

/* ---- small helpers ---- */

/*
 * MYSQL_BIND.buffer is not const, although the library only reads the
 * buffers of parameters; this is the one place that drops the qualifier.
 */
static void *
unconst(const void *p)
{
    union {
        const void *c;
        void *m;
    } u = {.c = p};
    return u.m;
}

static long long
system_clock(void *arg)
{
    (void)arg;
    return (long long)time(NULL);
}

static long long
store_now(const struct pip_store *s)
{
    return s->now(s->now_arg);
}

static bool
id_ok(const char *id)
{
    return id && *id && strlen(id) <= MAX_ID_LEN;
}

static void
library_init_once(void)
{
    mysql_library_init(0, NULL, NULL);
}

/* ---- statements ---- */

/* A result set held in memory: every cell as a string, NULL for SQL NULL. */
struct db_rows {
    size_t nrows;
    size_t ncols;
    char **cells;
};

#define DB_ROWS_INIT                                                                               \
    {                                                                                              \
        0, 0, NULL                                                                                 \
    }

static void
db_rows_release(struct db_rows *r)
{
    for (size_t i = 0; i < r->nrows * r->ncols; i++)
        free(r->cells[i]);
    free(r->cells);
    r->nrows = r->ncols = 0;
    r->cells = NULL;
}

static const char *
db_cell(const struct db_rows *r, size_t row, size_t col)
{
    return r->cells[row * r->ncols + col];
}

static long long
db_cell_ll(const struct db_rows *r, size_t row, size_t col)
{
    const char *c = db_cell(r, row, col);
    return c ? strtoll(c, NULL, 10) : 0;
}

static double
db_cell_double(const struct db_rows *r, size_t row, size_t col)
{
    const char *c = db_cell(r, row, col);
    return c ? strtod(c, NULL) : 0.0;
}

static char *
db_cell_dup(const struct db_rows *r, size_t row, size_t col)
{
    const char *c = db_cell(r, row, col);
    return c ? xstrdup(c) : NULL;
}

static int
db_fail(struct pip_store *s, unsigned code, const char *msg, struct cn_err *err)
{
    s->last_errno = code;
    if (code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST || code == CR_SERVER_LOST_EXTENDED)
        s->broken = true;
    if (code == ER_LOCK_DEADLOCK || code == ER_LOCK_WAIT_TIMEOUT)
        return cn_err_set(err, CN_E_BUSY, "database busy, retry: %s", msg);
    return cn_err_set(err, CN_E_DB, "database: %s", msg);
}

static int
stmt_fail(struct pip_store *s, MYSQL_STMT *st, struct cn_err *err)
{
    return db_fail(s, mysql_stmt_errno(st), mysql_stmt_error(st), err);
}

/* Reads every row of an executed statement into rows. */
static int
db_fetch_all(struct pip_store *s, MYSQL_STMT *st, MYSQL_RES *meta, struct db_rows *rows,
             struct cn_err *err)
{
    int ret = -1;
    unsigned ncols = mysql_num_fields(meta);
    MYSQL_BIND *binds = xcalloc(ncols ? ncols : 1, sizeof(*binds));
    unsigned long *lengths = xcalloc(ncols ? ncols : 1, sizeof(*lengths));
    my_bool *nulls = xcalloc(ncols ? ncols : 1, sizeof(*nulls));
    size_t cap = 0;

    /*
     * Columns are bound with no buffer, so every fetch reports truncation
     * and tells the real lengths; each cell is then fetched on its own into
     * a buffer of the right size. The result is stored client-side, so this
     * costs no round trips.
     */
    for (unsigned c = 0; c < ncols; c++) {
        binds[c].buffer_type = MYSQL_TYPE_STRING;
        binds[c].length = &lengths[c];
        binds[c].is_null = &nulls[c];
    }
    if (mysql_stmt_bind_result(st, binds)) {
        stmt_fail(s, st, err);
        goto cleanup;
    }
    rows->ncols = ncols;
    for (;;) {
        int rc = mysql_stmt_fetch(st);
        if (rc == MYSQL_NO_DATA)
            break;
        if (rc != 0 && rc != MYSQL_DATA_TRUNCATED) {
            stmt_fail(s, st, err);
            goto cleanup;
        }
        CN_GROW(rows->cells, cap, (rows->nrows + 1) * ncols);
        for (unsigned c = 0; c < ncols; c++) {
            char **cell = &rows->cells[rows->nrows * ncols + c];
            *cell = NULL;
            if (nulls[c])
                continue;
            char *buf = xmalloc(lengths[c] + 1);
            MYSQL_BIND one = {0};
            unsigned long got = 0;
            one.buffer_type = MYSQL_TYPE_STRING;
            one.buffer = buf;
            one.buffer_length = lengths[c] + 1;
            one.length = &got;
            if (lengths[c] > 0 && mysql_stmt_fetch_column(st, &one, c, 0)) {
                free(buf);
                /* Count the row so its cells so far are freed with the rest. */
                for (unsigned rest = c + 1; rest < ncols; rest++)
                    rows->cells[rows->nrows * ncols + rest] = NULL;
                rows->nrows++;
                stmt_fail(s, st, err);
                goto cleanup;
            }
            buf[lengths[c]] = '\0';
            *cell = buf;
        }
        rows->nrows++;
    }
    ret = 0;
cleanup:
    free(binds);
    free(lengths);
    free(nulls);
    return ret;
}

/* One parameter of a statement, for statements built at run time. */
struct db_param {
    char type; /* 's' string, 'i' long long, 'd' double, 'n' SQL NULL */
    const char *s;
    long long ll;
    double d;
};

/*
 * A statement prepared once on this connection and kept, keyed by its
 * text: preparing costs a round trip and a server-side parse, and closing
 * another, on every execution otherwise.
 */
static MYSQL_STMT *
stmt_get(struct pip_store *s, const char *sql, struct cn_err *err)
{
    struct stmt_slot *slot = NULL;

    for (size_t i = 0; i < s->nstmts; i++) {
        if (cn_streq(s->stmts[i].sql, sql)) {
            s->stmts[i].used = ++s->tick;
            return s->stmts[i].st;
        }
    }
    MYSQL_STMT *st = mysql_stmt_init(s->db);
    if (!st) {
        db_fail(s, mysql_errno(s->db), mysql_error(s->db), err);
        return NULL;
    }
    if (mysql_stmt_prepare(st, sql, strlen(sql))) {
        stmt_fail(s, st, err);
        mysql_stmt_close(st);
        return NULL;
    }
    if (s->nstmts < STMT_CACHE_MAX) {
        slot = &s->stmts[s->nstmts++];
    } else {
        /* The least recently used one goes: run-time texts (multi-row inserts) vary. */
        slot = &s->stmts[0];
        for (size_t i = 1; i < s->nstmts; i++)
            if (s->stmts[i].used < slot->used)
                slot = &s->stmts[i];
        mysql_stmt_close(slot->st);
        free(slot->sql);
    }
    slot->sql = xstrdup(sql);
    slot->st = st;
    slot->used = ++s->tick;
    return st;
}

/* Drops a statement that failed: after some errors it cannot be executed again. */
static void
stmt_drop(struct pip_store *s, MYSQL_STMT *st)
{
    for (size_t i = 0; i < s->nstmts; i++) {
        if (s->stmts[i].st == st) {
            mysql_stmt_close(st);
            free(s->stmts[i].sql);
            s->stmts[i] = s->stmts[--s->nstmts];
            return;
        }
    }
}

static void
stmts_close(struct pip_store *s)
{
    for (size_t i = 0; i < s->nstmts; i++) {
        mysql_stmt_close(s->stmts[i].st);
        free(s->stmts[i].sql);
    }
    s->nstmts = 0;
}

/*
 * Runs one statement with nparams parameters. When rows is not NULL the
 * result set is read into it (the caller releases it, also on failure);
 * ret_affected, when not NULL, gets the rows changed.
 */
static int
db_run(struct pip_store *s, struct db_rows *rows, unsigned long long *ret_affected,
       struct cn_err *err, const char *sql, const struct db_param *p, size_t nparams)
{
    int ret = -1;
    MYSQL_BIND *params = xcalloc(nparams ? nparams : 1, sizeof(*params));
    long long *lls = xcalloc(nparams ? nparams : 1, sizeof(*lls));
    double *ds = xcalloc(nparams ? nparams : 1, sizeof(*ds));
    MYSQL_RES *meta = NULL;

    s->last_errno = 0;
    MYSQL_STMT *st = stmt_get(s, sql, err);
    if (!st)
        goto cleanup;
    if (mysql_stmt_param_count(st) != nparams) {
        cn_err_set(err, CN_E_INTERNAL, "statement has %lu parameters, %zu given: %s",
                   mysql_stmt_param_count(st), nparams, sql);
        goto cleanup;
    }
    for (size_t i = 0; i < nparams; i++) {
        switch (p[i].type) {
        case 's':
            if (!p[i].s) {
                params[i].buffer_type = MYSQL_TYPE_NULL;
                break;
            }
            params[i].buffer_type = MYSQL_TYPE_STRING;
            params[i].buffer = unconst(p[i].s);
            params[i].buffer_length = strlen(p[i].s);
            break;
        case 'i':
            lls[i] = p[i].ll;
            params[i].buffer_type = MYSQL_TYPE_LONGLONG;
            params[i].buffer = &lls[i];
            break;
        case 'd':
            ds[i] = p[i].d;
            params[i].buffer_type = MYSQL_TYPE_DOUBLE;
            params[i].buffer = &ds[i];
            break;
        case 'n':
            params[i].buffer_type = MYSQL_TYPE_NULL;
            break;
        default:
            cn_err_set(err, CN_E_INTERNAL, "bad parameter type '%c'", p[i].type);
            goto cleanup;
        }
    }
    if (nparams && mysql_stmt_bind_param(st, params)) {
        stmt_fail(s, st, err);
        goto cleanup;
    }
    if (mysql_stmt_execute(st)) {
        stmt_fail(s, st, err);
        goto cleanup;
    }
    if (ret_affected)
        *ret_affected = mysql_stmt_affected_rows(st);
    meta = mysql_stmt_result_metadata(st);
    if (meta) {
        if (mysql_stmt_store_result(st)) {
            stmt_fail(s, st, err);
            goto cleanup;
        }
        if (rows && db_fetch_all(s, st, meta, rows, err) < 0)
            goto cleanup;
    }
    ret = 0;
cleanup:
    if (meta)
        mysql_free_result(meta);
    if (st) {
        if (ret < 0)
            stmt_drop(s, st);
        else
            mysql_stmt_free_result(st);
    }
    free(params);
    free(lls);
    free(ds);
    return ret;
}

/*
 * Runs one prepared statement. `types` has one letter per `?`: 's' a string
 * (const char *, NULL binds SQL NULL), 'i' a long long, 'z' a const long long * (NULL
 * binds SQL NULL), 'd' a double. When
 * rows is not NULL the result set is read into it (the caller releases it,
 * also on failure); ret_affected, when not NULL, gets the rows changed.
 */
static int
db_exec(struct pip_store *s, struct db_rows *rows, unsigned long long *ret_affected,
        struct cn_err *err, const char *sql, const char *types, ...)
{
    size_t nparams = strlen(types);
    struct db_param *p = xcalloc(nparams ? nparams : 1, sizeof(*p));
    va_list ap;
    int ret = -1;

    va_start(ap, types);
    for (size_t i = 0; i < nparams; i++) {
        p[i].type = types[i];
        switch (types[i]) {
        case 's':
            p[i].s = va_arg(ap, const char *);
            break;
        case 'i':
            p[i].ll = va_arg(ap, long long);
            break;
        case 'z': {
            const long long *v = va_arg(ap, const long long *);
            p[i].type = v ? 'i' : 'n';
            p[i].ll = v ? *v : 0;
            break;
        }
        case 'd':
            p[i].d = va_arg(ap, double);
            break;
        default:
            va_end(ap);
            cn_err_set(err, CN_E_INTERNAL, "bad parameter type '%c'", types[i]);
            goto cleanup;
        }
    }
    va_end(ap);
    ret = db_run(s, rows, ret_affected, err, sql, p, nparams);
cleanup:
    free(p);
    return ret;
}

/*
 * "PREFIX (?, ..., ?), (?, ..., ?)...": a multi-row INSERT of nrows rows
 * of width columns, or an IN list (width 1, no parentheses when bare).
 */
static char *
sql_rows(const char *prefix, size_t nrows, size_t width, bool bare, const char *suffix)
{
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_init(&b);
    cn_buf_puts(&b, prefix);
    for (size_t r = 0; r < nrows; r++) {
        cn_buf_puts(&b, r ? ", " : "");
        cn_buf_puts(&b, bare ? "" : "(");
        for (size_t c = 0; c < width; c++)
            cn_buf_puts(&b, c ? ", ?" : "?");
        cn_buf_puts(&b, bare ? "" : ")");
    }
    cn_buf_puts(&b, suffix);
    return cn_buf_detach(&b);
}

/* Runs a statement that carries no values (DDL), discarding any result. */
static int
db_exec_text(struct pip_store *s, const char *sql, struct cn_err *err)
{
    s->last_errno = 0;
    if (mysql_real_query(s->db, sql, strlen(sql)))
        return db_fail(s, mysql_errno(s->db), mysql_error(s->db), err);
    MYSQL_RES *res = mysql_store_result(s->db);
    if (res)
        mysql_free_result(res);
    else if (mysql_field_count(s->db) != 0)
        return db_fail(s, mysql_errno(s->db), mysql_error(s->db), err);
    return 0;
}

/*
 * Transactions are opened explicitly with autocommit left on: one round
 * trip to begin and one to end, where switching autocommit off and on
 * again would cost a third.
 */
static int
db_begin(struct pip_store *s, struct cn_err *err)
{
    return db_exec_text(s, "START TRANSACTION", err);
}

static int
db_commit(struct pip_store *s, struct cn_err *err)
{
    if (mysql_commit(s->db)) {
        db_fail(s, mysql_errno(s->db), mysql_error(s->db), err);
        mysql_rollback(s->db);
        return -1;
    }
    return 0;
}

/* Undoes the open transaction, if any; safe to call after a commit. */
static void
db_rollback(struct pip_store *s)
{
    mysql_rollback(s->db);
}

static int
event_add(struct pip_store *s, long long now, const char *id, const char *kind, const char *detail,
          struct cn_err *err)
{
    return db_exec(s, NULL, NULL, err,
                   "INSERT INTO event (at, reservation_id, kind, detail) VALUES (?, ?, ?, ?)",
                   "isss", now, id, kind, detail);
}

/* ---- opening ---- */

static bool
database_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '$'))
            return false;
    }
    return true;
}

struct pip_store *
pip_store_open(const struct pip_store_config *cfg, struct cn_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct pip_store *s = NULL;
    struct pip_store *ret = NULL;
    char *ddl = NULL;

    if (!database_name_ok(cfg->database)) {
        cn_err_set(err, CN_E_INVALID, "database name \"%s\": use 1-64 letters, digits, '_' or '$'",
                   cfg->database ? cfg->database : "");
        goto cleanup;
    }
    if (cfg->max_lease_s < 0) {
        cn_err_set(err, CN_E_INVALID, "maximum lease %ld s is negative", cfg->max_lease_s);
        goto cleanup;
    }
    /* mysql_init would initialise the library lazily, which is not thread-safe. */
    pthread_once(&once, library_init_once);

    s = xcalloc(1, sizeof(*s));
    s->max_lease_s = cfg->max_lease_s ? cfg->max_lease_s : DEFAULT_MAX_LEASE_S;
    s->now = system_clock;
    s->db = mysql_init(NULL);
    if (!s->db) {
        cn_err_set(err, CN_E_DB, "database: cannot initialise the client library");
        goto cleanup;
    }
    unsigned timeout = 10;
    my_bool no = 0;
    /* A silent reconnect would lose the open transaction and the session settings. */
    mysql_optionsv(s->db, MYSQL_OPT_RECONNECT, &no);
    mysql_optionsv(s->db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(s->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /*
     * READ COMMITTED: reads after the row locks see everything committed
     * before them (see the top of this file), and gap locks, a source of
     * deadlocks between inserts, are not taken. Strict mode turns silent
     * truncation into errors; NO_ENGINE_SUBSTITUTION refuses tables that are
     * not InnoDB.
     */
    mysql_optionsv(s->db, MYSQL_INIT_COMMAND,
                   "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    mysql_optionsv(s->db, MYSQL_INIT_COMMAND,
                   "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
    if (!mysql_real_connect(s->db, cfg->socket ? NULL : cfg->host, cfg->user, cfg->password, NULL,
                            cfg->socket ? 0 : cfg->port, cfg->socket, 0)) {
        cn_err_set(err, CN_E_DB, "database: cannot connect to %s: %s",
                   cfg->socket ? cfg->socket : (cfg->host ? cfg->host : "localhost"),
                   mysql_error(s->db));
        goto cleanup;
    }
    /* A name checked above: identifiers cannot be statement parameters. */
    ddl = xasprintf("CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_bin",
                    cfg->database);
    if (db_exec_text(s, ddl, err) < 0)
        goto cleanup;
    if (mysql_select_db(s->db, cfg->database)) {
        db_fail(s, mysql_errno(s->db), mysql_error(s->db), err);
        goto cleanup;
    }
    long long wait = cfg->lock_wait_s ? cfg->lock_wait_s : DEFAULT_LOCK_WAIT_S;
    if (db_exec(s, NULL, NULL, err, "SET SESSION innodb_lock_wait_timeout = ?", "i", wait) < 0)
        goto cleanup;
    ret = s;
    s = NULL;
cleanup:
    pip_store_close(s);
    free(ddl);
    return ret;
}

void
pip_store_close(struct pip_store *s)
{
    if (!s)
        return;
    stmts_close(s);
    if (s->db)
        mysql_close(s->db);
    free(s);
}

bool
pip_store_broken(const struct pip_store *s)
{
    return s->broken;
}

void
pip_store_set_clock(struct pip_store *s, long long (*now)(void *arg), void *arg)
{
    s->now = now ? now : system_clock;
    s->now_arg = now ? arg : NULL;
}

/* ---- schema ---- */

int
pip_store_schema_latest(void)
{
    return (int)pip_schema_script_count;
}

int
pip_store_schema_version(struct pip_store *s, int *ret_version, struct cn_err *err)
{
    int ret = -1;
    struct db_rows rows = DB_ROWS_INIT;

    if (db_exec(s, &rows, NULL, err,
                "SELECT COUNT(*) FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = 'schema_version'",
                "") < 0)
        goto cleanup;
    int version = 0;
    if (db_cell_ll(&rows, 0, 0) > 0) {
        db_rows_release(&rows);
        if (db_exec(s, &rows, NULL, err, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                    "") < 0)
            goto cleanup;
        version = (int)db_cell_ll(&rows, 0, 0);
    }
    *ret_version = version;
    ret = 0;
cleanup:
    db_rows_release(&rows);
    return ret;
}

/*
 * Runs one schema script: statements end with ';' at the end of a line, and
 * lines starting with "--" are comments.
 */
static int
run_script(struct pip_store *s, const char *script, int version, struct cn_err *err)
{
    int ret = -1;
    struct cn_buf stmt = CN_BUF_INIT;
    const char *p = script;

    cn_buf_init(&stmt);
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *q = p;
        while (q < p + len && (*q == ' ' || *q == '\t'))
            q++;
        bool comment = (size_t)(p + len - q) >= 2 && q[0] == '-' && q[1] == '-';
        if (!comment) {
            cn_buf_add(&stmt, p, len);
            cn_buf_putc(&stmt, '\n');
            size_t end = len;
            while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t' || p[end - 1] == '\r'))
                end--;
            if (end > 0 && p[end - 1] == ';') {
                if (db_exec_text(s, stmt.s, err) < 0) {
                    cn_err_prefix(err, "schema version %d", version);
                    goto cleanup;
                }
                cn_buf_reset(&stmt);
            }
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    /* A last statement without its ';'. */
    for (size_t i = 0; i < stmt.len; i++) {
        if (stmt.s[i] != ' ' && stmt.s[i] != '\n' && stmt.s[i] != '\t') {
            if (db_exec_text(s, stmt.s, err) < 0) {
                cn_err_prefix(err, "schema version %d", version);
                goto cleanup;
            }
            break;
        }
    }
    ret = 0;
cleanup:
    cn_buf_release(&stmt);
    return ret;
}

int
pip_store_migrate(struct pip_store *s, int target, int *ret_from, struct cn_err *err)
{
    int ret = -1;
    bool locked = false;
    struct db_rows rows = DB_ROWS_INIT;
    int latest = pip_store_schema_latest();

    if (target == 0)
        target = latest;
    if (target < 0 || target > latest) {
        cn_err_set(err, CN_E_INVALID, "schema version %d unknown (this pipd knows 1-%d)", target,
                   latest);
        goto cleanup;
    }
    /* Two daemons or pipctl runs upgrading at once would run a script twice. */
    if (db_exec(s, &rows, NULL, err, "SELECT GET_LOCK(?, ?)", "si", SCHEMA_LOCK_NAME,
                (long long)SCHEMA_LOCK_WAIT_S) < 0)
        goto cleanup;
    if (db_cell_ll(&rows, 0, 0) != 1) {
        cn_err_set(err, CN_E_BUSY, "database: another process is upgrading the schema");
        goto cleanup;
    }
    locked = true;
    int from;
    if (pip_store_schema_version(s, &from, err) < 0)
        goto cleanup;
    if (from > latest) {
        cn_err_set(err, CN_E_DB,
                   "database schema is version %d, newer than this pipd (%d): upgrade pipd", from,
                   latest);
        goto cleanup;
    }
    if (target < from) {
        cn_err_set(err, CN_E_DB, "database schema is version %d; cannot go back to %d", from,
                   target);
        goto cleanup;
    }
    for (int v = from + 1; v <= target; v++) {
        /*
         * MariaDB commits DDL implicitly, so the transaction only makes the
         * version row appear with the script's last statement; the scripts
         * are written to be re-run safely after a crash in between.
         */
        if (db_begin(s, err) < 0)
            goto cleanup;
        if (run_script(s, pip_schema_scripts[v - 1], v, err) < 0 ||
            db_exec(s, NULL, NULL, err,
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", "ii",
                    (long long)v, store_now(s)) < 0 ||
            db_commit(s, err) < 0) {
            db_rollback(s);
            goto cleanup;
        }
    }
    if (ret_from)
        *ret_from = from;
    ret = 0;
cleanup:
    if (locked) {
        struct cn_err ignored = CN_ERR_INIT;
        db_rows_release(&rows);
        db_exec(s, &rows, NULL, &ignored, "SELECT RELEASE_LOCK(?)", "s", SCHEMA_LOCK_NAME);
        cn_err_release(&ignored);
    }
    db_rows_release(&rows);
    return ret;
}

/* ---- the substrate ---- */

static bool
amount_ok(double v)
{
    return isfinite(v) && v >= 0 && v <= AMOUNT_MAX;
}

/* Checks what the tables need of an underlay graph, beyond rdl_validate. */
static int
check_underlay(const struct rdl_graph *ul, struct cn_err *err)
{
    if (rdl_graph_kind(ul) != RDL_UNDERLAY)
        return cn_err_set(err, CN_E_INVALID, "substrate: not an underlay document (kind %s)",
                          rdl_kind_name(rdl_graph_kind(ul)));
    if (rdl_validate(ul, err) < 0)
        return -1;
    for (size_t i = 0; i < rdl_graph_element_count(ul); i++) {
        const struct rdl_element *e = rdl_graph_element_at(ul, i);
        const struct rdl_props *res = rdl_element_resources(e);
        for (size_t j = 0; j < rdl_props_count(res); j++) {
            const struct rdl_value *v = rdl_props_value_at(res, j);
            if (rdl_value_kind(v) != RDL_VALUE_NUMBER || !amount_ok(rdl_value_number(v)))
                cn_err_add(err, CN_E_INVALID,
                           "substrate: %s: resource %s must be a number from 0 to %g",
                           rdl_element_id(e), rdl_props_name_at(res, j), AMOUNT_MAX);
        }
    }
    return cn_err_is_set(err) ? -1 : 0;
}

/* Inserts the structured copy of ul; the tables are empty. */
static int
insert_underlay_rows(struct pip_store *s, const struct rdl_graph *ul, struct cn_err *err)
{
    for (size_t i = 0; i < rdl_graph_element_count(ul); i++) {
        const struct rdl_element *e = rdl_graph_element_at(ul, i);
        int first, last;
        bool has_range = rdl_element_vlan_range(e, &first, &last) == 0;
        long long f = first, l = last;
        if (db_exec(s, NULL, NULL, err,
                    "INSERT INTO ul_element (id, type, kind, vlan_first, vlan_last, seq) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    "ssszzi", rdl_element_id(e), rdl_element_type(e),
                    rdl_element_is_link(e) ? "link" : "node", has_range ? &f : NULL,
                    has_range ? &l : NULL, (long long)i) < 0)
            return -1;
        const struct rdl_props *res = rdl_element_resources(e);
        for (size_t j = 0; j < rdl_props_count(res); j++) {
            if (db_exec(s, NULL, NULL, err,
                        "INSERT INTO ul_resource (element_id, name, capacity) VALUES (?, ?, ?)",
                        "ssd", rdl_element_id(e), rdl_props_name_at(res, j),
                        rdl_value_number(rdl_props_value_at(res, j))) < 0)
                return -1;
        }
    }
    return 0;
}

static int
load_substrate_once(struct pip_store *s, const struct rdl_graph *ul, const char *yaml,
                    struct cn_err *err)
{
    int ret = -1;
    struct db_rows rows = DB_ROWS_INIT;
    long long now;
    int first, last;
    bool has_range = rdl_graph_vlan_range(ul, &first, &last) == 0;
    long long f, l;

    if (db_begin(s, err) < 0)
        goto cleanup;
    /* The exclusive lock waits for every reservation in flight. */
    if (db_exec(s, &rows, NULL, err, "SELECT yaml FROM underlay WHERE id = 1 FOR UPDATE", "") < 0)
        goto cleanup;
    if (rows.nrows == 1 && cn_streq(db_cell(&rows, 0, 0), yaml)) {
        ret = db_commit(s, err);
        goto cleanup;
    }
    db_rows_release(&rows);
    if (db_exec(s, &rows, NULL, err,
                "SELECT COUNT(*) FROM reservation WHERE state IN ('allocated', 'provisioned')",
                "") < 0)
        goto cleanup;
    long long live = db_cell_ll(&rows, 0, 0);
    if (live > 0) {
        cn_err_set(err, CN_E_BUSY,
                   "substrate in use by %lld CloudNet%s: release them before replacing it", live,
                   live == 1 ? "" : "s");
        goto cleanup;
    }
    now = store_now(s);
    f = first;
    l = last;
    /* Released and failed reservations hold no rows here, so nothing live is lost. */
    if (db_exec(s, NULL, NULL, err, "DELETE FROM vlan", "") < 0 ||
        db_exec(s, NULL, NULL, err, "DELETE FROM allocation", "") < 0 ||
        db_exec(s, NULL, NULL, err, "DELETE FROM ul_resource", "") < 0 ||
        db_exec(s, NULL, NULL, err, "DELETE FROM ul_element", "") < 0 ||
        insert_underlay_rows(s, ul, err) < 0 ||
        db_exec(s, NULL, NULL, err,
                "INSERT INTO underlay (id, name, yaml, vlan_first, vlan_last, loaded_at) "
                "VALUES (1, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name), "
                "yaml = VALUES(yaml), vlan_first = VALUES(vlan_first), "
                "vlan_last = VALUES(vlan_last), loaded_at = VALUES(loaded_at)",
                "sszzi", rdl_graph_name(ul), yaml, has_range ? &f : NULL, has_range ? &l : NULL,
                now) < 0)
        goto cleanup;
    char *detail =
        xasprintf("substrate %s: %zu elements", rdl_graph_name(ul), rdl_graph_element_count(ul));
    int rc = event_add(s, now, NULL, "substrate", detail, err);
    free(detail);
    if (rc < 0 || db_commit(s, err) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    if (ret < 0)
        db_rollback(s);
    db_rows_release(&rows);
    return ret;
}

int
pip_store_load_substrate(struct pip_store *s, const struct rdl_graph *ul, struct cn_err *err)
{
    int ret = -1;
    struct cn_buf yaml = CN_BUF_INIT;

    cn_buf_init(&yaml);
    if (check_underlay(ul, err) < 0 || rdl_write(ul, &yaml, err) < 0)
        goto cleanup;
    for (int attempt = 1;; attempt++) {
        if (load_substrate_once(s, ul, yaml.s, err) == 0)
            break;
        if (err->code != CN_E_BUSY || s->last_errno == 0 || attempt == BUSY_ATTEMPTS)
            goto cleanup;
        cn_err_clear(err);
    }
    ret = 0;
cleanup:
    cn_buf_release(&yaml);
    return ret;
}

/* Reads the substrate, with its digest when ret_digest is not NULL. */
static struct rdl_graph *
dump_substrate(struct pip_store *s, char *ret_digest, struct cn_err *err)
{
    struct rdl_graph *g = NULL;
    struct db_rows rows = DB_ROWS_INIT;

    if (db_exec(s, &rows, NULL, err,
                ret_digest ? "SELECT yaml, digest FROM underlay WHERE id = 1"
                           : "SELECT yaml FROM underlay WHERE id = 1",
                "") < 0)
        goto cleanup;
    if (rows.nrows == 0) {
        cn_err_set(err, CN_E_NOTFOUND, "no substrate loaded");
        goto cleanup;
    }
    const char *yaml = db_cell(&rows, 0, 0);
    g = rdl_read_string("stored substrate", yaml, strlen(yaml), err);
    if (!g) {
        cn_err_prefix(err, "database");
        goto cleanup;
    }
    if (ret_digest)
        snprintf(ret_digest, PIP_DIGEST_LEN + 1, "%s",
                 db_cell(&rows, 0, 1) ? db_cell(&rows, 0, 1) : "");
cleanup:
    db_rows_release(&rows);
    return g;
}

struct rdl_graph *
pip_store_dump_substrate(struct pip_store *s, struct cn_err *err)
{
    return dump_substrate(s, NULL, err);
}

struct rdl_graph *
pip_store_dump_substrate_digest(struct pip_store *s, char ret_digest[PIP_DIGEST_LEN + 1],
                                struct cn_err *err)
{
    return dump_substrate(s, ret_digest, err);
}

int
pip_store_substrate_digest(struct pip_store *s, char ret_digest[PIP_DIGEST_LEN + 1],
                           struct cn_err *err)
{
    struct db_rows rows = DB_ROWS_INIT;
    int ret = -1;

    if (db_exec(s, &rows, NULL, err, "SELECT digest FROM underlay WHERE id = 1", "") < 0)
        goto cleanup;
    if (rows.nrows == 0) {
        cn_err_set(err, CN_E_NOTFOUND, "no substrate loaded");
        goto cleanup;
    }
    snprintf(ret_digest, PIP_DIGEST_LEN + 1, "%s",
             db_cell(&rows, 0, 0) ? db_cell(&rows, 0, 0) : "");
    ret = 0;
cleanup:
    db_rows_release(&rows);
    return ret;
}

/*
 * What a live reservation is: allocated with its lease running, or
 * provisioned (no lease). The one parameter is the current time.
 */
#define LIVE_RESERVATION                                                                           \
    "v.state IN ('allocated', 'provisioned') AND (v.expires_at IS NULL OR v.expires_at > ?)"

/*
 * Rows of element, resource, capacity, used, kind, in document order; what
 * reservation `except` holds is not counted (ids are never empty, so ""
 * leaves nothing out).
 */
static int
usage_rows(struct pip_store *s, const char *except, struct db_rows *rows, struct cn_err *err)
{
    return db_exec(s, rows, NULL, err,
                   "SELECT r.element_id, r.name, r.capacity, "
                   "COALESCE((SELECT SUM(a.amount) FROM allocation a "
                   "JOIN reservation v ON v.id = a.reservation_id "
                   "WHERE a.element_id = r.element_id AND a.resource = r.name AND " LIVE_RESERVATION
                   " AND v.id <> ?), 0), e.kind "
                   "FROM ul_resource r JOIN ul_element e ON e.id = r.element_id "
                   "ORDER BY e.seq, r.name",
                   "is", store_now(s), except ? except : "");
}

static int
usage_except(struct pip_store *s, const char *except, struct pip_usage **ret_usage,
             size_t *ret_count, struct cn_err *err)
{
    struct db_rows rows = DB_ROWS_INIT;

    if (usage_rows(s, except, &rows, err) < 0) {
        db_rows_release(&rows);
        return -1;
    }
    struct pip_usage *u = xcalloc(rows.nrows ? rows.nrows : 1, sizeof(*u));
    for (size_t i = 0; i < rows.nrows; i++) {
        u[i].element = db_cell_dup(&rows, i, 0);
        u[i].resource = db_cell_dup(&rows, i, 1);
        u[i].capacity = db_cell_double(&rows, i, 2);
        u[i].used = db_cell_double(&rows, i, 3);
        u[i].free = u[i].capacity > u[i].used ? u[i].capacity - u[i].used : 0;
    }
    *ret_usage = u;
    *ret_count = rows.nrows;
    db_rows_release(&rows);
    return 0;
}

int
pip_store_usage(struct pip_store *s, struct pip_usage **ret_usage, size_t *ret_count,
                struct cn_err *err)
{
    return usage_except(s, NULL, ret_usage, ret_count, err);
}

void
pip_usage_free(struct pip_usage *usage, size_t count)
{
    if (!usage)
        return;
    for (size_t i = 0; i < count; i++) {
        free(usage[i].element);
        free(usage[i].resource);
    }
    free(usage);
}

struct rdl_graph *
pip_store_residual_substrate(struct pip_store *s, struct cn_err *err)
{
    return pip_store_residual_substrate_without(s, NULL, err);
}

int
pip_store_residual_apply(struct pip_store *s, struct rdl_graph *g, const char *except,
                         struct cn_err *err)
{
    struct db_rows rows = DB_ROWS_INIT;

    /*
     * Only what live reservations use is read: the capacities are g's own,
     * since the tables are a copy of the document g was copied from.
     */
    if (db_exec(s, &rows, NULL, err,
                "SELECT a.element_id, a.resource, SUM(a.amount) FROM reservation v "
                "JOIN allocation a ON a.reservation_id = v.id "
                "WHERE " LIVE_RESERVATION " AND v.id <> ? GROUP BY a.element_id, a.resource",
                "is", store_now(s), except ? except : "") < 0) {
        db_rows_release(&rows);
        return -1;
    }
    for (size_t i = 0; i < rows.nrows; i++) {
        struct rdl_element *e = rdl_graph_element(g, db_cell(&rows, i, 0));
        const struct rdl_value *v =
            e ? rdl_props_get(rdl_element_resources(e), db_cell(&rows, i, 1)) : NULL;
        if (!v || rdl_value_kind(v) != RDL_VALUE_NUMBER)
            continue;
        double capacity = rdl_value_number(v), used = db_cell_double(&rows, i, 2);
        rdl_props_set_number(rdl_element_resources_mut(e), db_cell(&rows, i, 1),
                             capacity > used ? capacity - used : 0);
    }
    db_rows_release(&rows);
    return 0;
}

struct rdl_graph *
pip_store_residual_substrate_without(struct pip_store *s, const char *id, struct cn_err *err)
{
    struct rdl_graph *g = pip_store_dump_substrate(s, err);

    if (g && pip_store_residual_apply(s, g, id, err) < 0) {
        rdl_graph_free(g);
        return NULL;
    }
    return g;
}

int
pip_store_totals(struct pip_store *s, struct pip_total **ret_totals, size_t *ret_count,
                 struct cn_err *err)
{
    struct db_rows rows = DB_ROWS_INIT;
    struct pip_total *t = NULL;
    size_t n = 0, cap = 0;

    if (usage_rows(s, NULL, &rows, err) < 0) {
        db_rows_release(&rows);
        return -1;
    }
    for (size_t i = 0; i < rows.nrows; i++) {
        if (!cn_streq(db_cell(&rows, i, 4), "node"))
            continue;
        const char *name = db_cell(&rows, i, 1);
        double capacity = db_cell_double(&rows, i, 2);
        double used = db_cell_double(&rows, i, 3);
        double free_now = capacity > used ? capacity - used : 0;
        size_t k = 0;
        while (k < n && !cn_streq(t[k].resource, name))
            k++;
        if (k == n) {
            CN_GROW(t, cap, n + 1);
            t[n] = (struct pip_total){.resource = xstrdup(name)};
            n++;
        }
        t[k].capacity += capacity;
        t[k].free += free_now;
        if (free_now > t[k].largest_free)
            t[k].largest_free = free_now;
    }
    db_rows_release(&rows);
    *ret_totals = t;
    *ret_count = n;
    return 0;
}

void
pip_totals_free(struct pip_total *totals, size_t count)
{
    if (!totals)
        return;
    for (size_t i = 0; i < count; i++)
        free(totals[i].resource);
    free(totals);
}

/* ---- VLAN tags ---- */

/* Tags in use, as a bitmap indexed by tag. */
struct tag_set {
    unsigned char used[VLAN_MAX + 2];
};

static int
mark_tags(struct pip_store *s, struct tag_set *set, const char *sql, const char *scope,
          struct cn_err *err)
{
    struct db_rows rows = DB_ROWS_INIT;
    int rc = scope ? db_exec(s, &rows, NULL, err, sql, "s", scope)
                   : db_exec(s, &rows, NULL, err, sql, "");
    for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
        long long tag = db_cell_ll(&rows, i, 0);
        if (tag >= 0 && tag <= VLAN_MAX + 1)
            set->used[tag] = 1;
    }
    db_rows_release(&rows);
    return rc;
}

/*
 * Reads the range (vlan_first, vlan_last) of the row sql selects, with
 * scope as its parameter when not NULL, into *first and *last when the row
 * has one; *ret_found false when there is no row.
 */
static int
range_row(struct pip_store *s, const char *sql, const char *scope, bool *ret_found, int *first,
          int *last, struct cn_err *err)
{
    struct db_rows rows = DB_ROWS_INIT;
    int rc = scope ? db_exec(s, &rows, NULL, err, sql, "s", scope)
                   : db_exec(s, &rows, NULL, err, sql, "");
    if (rc == 0) {
        *ret_found = rows.nrows > 0;
        if (rows.nrows > 0 && db_cell(&rows, 0, 0) && db_cell(&rows, 0, 1)) {
            *first = (int)db_cell_ll(&rows, 0, 0);
            *last = (int)db_cell_ll(&rows, 0, 1);
        }
    }
    db_rows_release(&rows);
    return rc;
}

/*
 * The range of the substrate (graph_range) or of one element; *ret_found
 * false when there is no substrate or no such element. Without a range of
 * their own, elements use the substrate's, and that defaults to every tag.
 */
static int
vlan_range_of(struct pip_store *s, const char *scope, bool *ret_found, int *ret_first,
              int *ret_last, struct cn_err *err)
{
    int first = VLAN_MIN, last = VLAN_MAX;
    bool found;

    if (range_row(s, "SELECT vlan_first, vlan_last FROM underlay WHERE id = 1", NULL, &found,
                  &first, &last, err) < 0)
        return -1;
    if (found && scope &&
        range_row(s, "SELECT vlan_first, vlan_last FROM ul_element WHERE id = ?", scope, &found,
                  &first, &last, err) < 0)
        return -1;
    *ret_found = found;
    if (found) {
        *ret_first = first < VLAN_MIN ? VLAN_MIN : first;
        *ret_last = last > VLAN_MAX ? VLAN_MAX : last;
    }
    return 0;
}

int
pip_store_free_vlans(struct pip_store *s, const char *scope, struct pip_vlan_range **ret_ranges,
                     size_t *ret_count, struct cn_err *err)
{
    struct tag_set *set = xcalloc(1, sizeof(*set));
    struct pip_vlan_range *r = NULL;
    size_t n = 0, cap = 0;
    bool found;
    int first, last, ret = -1;

    if (vlan_range_of(s, scope, &found, &first, &last, err) < 0)
        goto cleanup;
    if (!found) {
        if (scope)
            cn_err_set(err, CN_E_NOTFOUND, "no underlay element %s", scope);
        else
            cn_err_set(err, CN_E_NOTFOUND, "no substrate loaded");
        goto cleanup;
    }
    /* A tag held on the whole substrate is taken on every element too. */
    if (mark_tags(s, set,
                  scope ? "SELECT tag FROM vlan WHERE scope = ? OR scope = ''"
                        : "SELECT DISTINCT tag FROM vlan",
                  scope, err) < 0)
        goto cleanup;
    for (int t = first; t <= last; t++) {
        if (set->used[t])
            continue;
        if (n > 0 && r[n - 1].last == t - 1) {
            r[n - 1].last = t;
        } else {
            CN_GROW(r, cap, n + 1);
            r[n++] = (struct pip_vlan_range){t, t};
        }
    }
    *ret_ranges = r;
    *ret_count = n;
    r = NULL;
    ret = 0;
cleanup:
    free(r);
    free(set);
    return ret;
}

/* ---- reservations ---- */

static const char *const state_names[] = {
    [PIP_ALLOCATED] = "allocated",
    [PIP_PROVISIONED] = "provisioned",
    [PIP_RELEASED] = "released",
    [PIP_FAILED] = "failed",
};

const char *
pip_state_name(enum pip_state state)
{
    if ((size_t)state < CN_ARRAY_SIZE(state_names))
        return state_names[state];
    return "unknown";
}

static enum pip_state
state_from_name(const char *name)
{
    for (size_t i = 0; i < CN_ARRAY_SIZE(state_names); i++)
        if (cn_streq(state_names[i], name))
            return (enum pip_state)i;
    return PIP_FAILED;
}

static void
reservation_release(struct pip_reservation *r)
{
    free(r->id);
    free(r->peer);
    free(r->overlay_yaml);
    free(r->mapping_yaml);
    free(r->reason);
    for (size_t i = 0; i < r->nvlans; i++)
        free(r->vlans[i].overlay_link);
    free(r->vlans);
}

void
pip_reservation_free(struct pip_reservation *r)
{
    if (!r)
        return;
    reservation_release(r);
    free(r);
}

void
pip_reservations_free(struct pip_reservation *items, size_t count)
{
    if (!items)
        return;
    for (size_t i = 0; i < count; i++)
        reservation_release(&items[i]);
    free(items);
}

/* Columns of a reservation row, in the order reservation_fill reads them. */
#define RESERVATION_COLUMNS                                                                        \
    "id, state, peer, COALESCE(expires_at, 0), created_at, updated_at, reason"

static void
reservation_fill(struct pip_reservation *r, const struct db_rows *rows, size_t i)
{
    r->id = db_cell_dup(rows, i, 0);
    r->state = state_from_name(db_cell(rows, i, 1));
    r->peer = db_cell_dup(rows, i, 2);
    r->expires_at = db_cell_ll(rows, i, 3);
    r->created_at = db_cell_ll(rows, i, 4);
    r->updated_at = db_cell_ll(rows, i, 5);
    r->reason = db_cell_dup(rows, i, 6);
}

struct pip_reservation *
pip_store_get(struct pip_store *s, const char *id, struct cn_err *err)
{
    struct pip_reservation *r = NULL;
    struct db_rows rows = DB_ROWS_INIT;

    if (!id_ok(id)) {
        cn_err_set(err, CN_E_INVALID, "CloudNet id must be 1-%d bytes", MAX_ID_LEN);
        goto cleanup;
    }
    if (db_exec(s, &rows, NULL, err,
                "SELECT " RESERVATION_COLUMNS ", overlay_yaml, mapping_yaml "
                "FROM reservation WHERE id = ?",
                "s", id) < 0)
        goto cleanup;
    if (rows.nrows == 0) {
        cn_err_set(err, CN_E_NOTFOUND, "no CloudNet %s", id);
        goto cleanup;
    }
    r = xcalloc(1, sizeof(*r));
    reservation_fill(r, &rows, 0);
    r->overlay_yaml = db_cell_dup(&rows, 0, 7);
    r->mapping_yaml = db_cell_dup(&rows, 0, 8);
    db_rows_release(&rows);
    if (db_exec(s, &rows, NULL, err,
                "SELECT overlay_link, MIN(tag) FROM vlan WHERE reservation_id = ? "
                "GROUP BY overlay_link ORDER BY overlay_link",
                "s", id) < 0) {
        pip_reservation_free(r);
        r = NULL;
        goto cleanup;
    }
    r->vlans = xcalloc(rows.nrows ? rows.nrows : 1, sizeof(*r->vlans));
    r->nvlans = rows.nrows;
    for (size_t i = 0; i < rows.nrows; i++) {
        r->vlans[i].overlay_link = db_cell_dup(&rows, i, 0);
        r->vlans[i].tag = (int)db_cell_ll(&rows, i, 1);
    }
cleanup:
    db_rows_release(&rows);
    return r;
}

struct pip_reservation *
pip_store_get_brief(struct pip_store *s, const char *id, bool with_documents, struct cn_err *err)
{
    struct pip_reservation *r = NULL;
    struct db_rows rows = DB_ROWS_INIT;

    if (!id_ok(id)) {
        cn_err_set(err, CN_E_INVALID, "CloudNet id must be 1-%d bytes", MAX_ID_LEN);
        goto cleanup;
    }
    if (db_exec(s, &rows, NULL, err,
                with_documents ? "SELECT " RESERVATION_COLUMNS ", overlay_yaml, mapping_yaml "
                                 "FROM reservation WHERE id = ?"
                               : "SELECT " RESERVATION_COLUMNS " FROM reservation WHERE id = ?",
                "s", id) < 0)
        goto cleanup;
    if (rows.nrows == 0) {
        cn_err_set(err, CN_E_NOTFOUND, "no CloudNet %s", id);
        goto cleanup;
    }
    r = xcalloc(1, sizeof(*r));
    reservation_fill(r, &rows, 0);
    if (with_documents) {
        r->overlay_yaml = db_cell_dup(&rows, 0, 7);
        r->mapping_yaml = db_cell_dup(&rows, 0, 8);
    }
cleanup:
    db_rows_release(&rows);
    return r;
}

int
pip_store_lookup(struct pip_store *s, const char *id, const char *request,
                 struct pip_reservation **ret, struct cn_err *err)
{
    int ret_code = -1;
    struct db_rows rows = DB_ROWS_INIT;

    if (!id_ok(id) || !request) {
        cn_err_set(err, CN_E_INVALID, "CloudNet id must be 1-%d bytes, and the request given",
                   MAX_ID_LEN);
        goto cleanup;
    }
    if (db_exec(s, &rows, NULL, err,
                "SELECT request_hash = SHA2(?, 256) FROM reservation WHERE id = ?", "ss", request,
                id) < 0)
        goto cleanup;
    if (rows.nrows == 0) {
        *ret = NULL;
        ret_code = 0;
        goto cleanup;
    }
    if (db_cell_ll(&rows, 0, 0) != 1) {
        cn_err_set(err, CN_E_INVALID, "CloudNet id %s already used for another request", id);
        goto cleanup;
    }
    struct pip_reservation *r = pip_store_get(s, id, err);
    if (!r)
        goto cleanup;
    *ret = r;
    ret_code = 0;
cleanup:
    db_rows_release(&rows);
    return ret_code;
}

/* One resource wanted on one element, duplicates in the request summed. */
struct want {
    const char *element;
    const char *resource;
    double amount;
};

static int
want_cmp(const void *a, const void *b)
{
    const struct want *x = a, *y = b;
    int c = strcmp(x->element, y->element);
    return c ? c : strcmp(x->resource, y->resource);
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks the allocations and VLAN requests of a reserve or modify request for CloudNet id. */
static int
check_parts(const char *id, const struct pip_alloc *allocs, size_t nallocs,
            const struct pip_vlan_request *vlans, size_t nvlans, struct cn_err *err)
{
    for (size_t i = 0; i < nallocs; i++) {
        const struct pip_alloc *a = &allocs[i];
        if (!id_ok(a->element) || !id_ok(a->resource) || !amount_ok(a->amount))
            cn_err_add(err, CN_E_INVALID,
                       "%s: allocation %zu: element, resource and an amount from 0 to %g needed",
                       id, i, AMOUNT_MAX);
    }
    for (size_t i = 0; i < nvlans; i++) {
        const struct pip_vlan_request *v = &vlans[i];
        if (!id_ok(v->overlay_link)) {
            cn_err_add(err, CN_E_INVALID, "%s: VLAN request %zu: overlay link missing", id, i);
            continue;
        }
        if (v->tag != 0 && (v->tag < VLAN_MIN || v->tag > VLAN_MAX))
            cn_err_add(err, CN_E_INVALID, "%s: %s: VLAN tag %d not in %d-%d", id, v->overlay_link,
                       v->tag, VLAN_MIN, VLAN_MAX);
        if (v->range_of && !id_ok(v->range_of))
            cn_err_add(err, CN_E_INVALID, "%s: %s: bad underlay element for the VLAN range", id,
                       v->overlay_link);
        for (size_t j = 0; j < v->nscopes; j++)
            if (!id_ok(v->scopes[j]))
                cn_err_add(err, CN_E_INVALID, "%s: %s: bad underlay element in VLAN scope", id,
                           v->overlay_link);
        for (size_t j = 0; j < i; j++)
            if (id_ok(vlans[j].overlay_link) && cn_streq(vlans[j].overlay_link, v->overlay_link))
                cn_err_add(err, CN_E_INVALID, "%s: %s: two VLAN requests for one link", id,
                           v->overlay_link);
    }
    return cn_err_is_set(err) ? -1 : 0;
}

static int
check_request(const struct pip_reserve_request *req, struct cn_err *err)
{
    if (!id_ok(req->id))
        return cn_err_set(err, CN_E_INVALID, "CloudNet id must be 1-%d bytes", MAX_ID_LEN);
    if (!req->request || !req->overlay_yaml || !req->mapping_yaml)
        return cn_err_set(err, CN_E_INVALID, "%s: request, overlay and mapping are required",
                          req->id);
    if (req->peer && strlen(req->peer) > MAX_ID_LEN)
        return cn_err_set(err, CN_E_INVALID, "%s: peer name too long", req->id);
    if (req->lease_s <= 0)
        return cn_err_set(err, CN_E_INVALID, "%s: lease must be positive, not %ld s", req->id,
                          req->lease_s);
    return check_parts(req->id, req->allocs, req->nallocs, req->vlans, req->nvlans, err);
}

/* Rows per multi-row statement, well inside the protocol's 65535 parameters. */
#define ROWS_PER_STATEMENT 500

/* Runs "PREFIX (?, ...), ..." over nrows rows of width parameters each, in chunks. */
static int
insert_rows(struct pip_store *s, const char *prefix, size_t width, const struct db_param *p,
            size_t nrows, struct cn_err *err)
{
    for (size_t done = 0; done < nrows;) {
        size_t n = nrows - done < ROWS_PER_STATEMENT ? nrows - done : ROWS_PER_STATEMENT;
        char *sql = sql_rows(prefix, n, width, false, "");
        int rc = db_run(s, NULL, NULL, err, sql, p + done * width, n * width);
        free(sql);
        if (rc < 0)
            return -1;
        done += n;
    }
    return 0;
}

static struct db_param
str_param(const char *str)
{
    return (struct db_param){.type = 's', .s = str};
}

/* The distinct strings of a sorted array, in a new array of borrowed pointers. */
static const char **
uniq_sorted(const char *const *sorted, size_t n, size_t *ret_count)
{
    const char **u = xcalloc(n ? n : 1, sizeof(*u));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || !cn_streq(u[k - 1], sorted[i]))
            u[k++] = sorted[i];
    *ret_count = k;
    return u;
}

/*
 * Locks the substrate row and the elements (sorted), in that order, the
 * elements with one statement that locks them in index order. An unknown
 * element is CN_E_INVALID.
 */
static int
lock_elements(struct pip_store *s, bool exclusive, const char *const *elements, size_t n,
              struct cn_err *err)
{
    int ret = -1;
    struct db_rows rows = DB_ROWS_INIT;
    size_t nu = 0;
    const char **u = uniq_sorted(elements, n, &nu);
    struct db_param *p = xcalloc(nu ? nu : 1, sizeof(*p));

    if (db_exec(s, &rows, NULL, err,
                exclusive ? "SELECT id FROM underlay WHERE id = 1 FOR UPDATE"
                          : "SELECT id FROM underlay WHERE id = 1 LOCK IN SHARE MODE",
                "") < 0)
        goto cleanup;
    if (rows.nrows == 0) {
        cn_err_set(err, CN_E_NOTFOUND, "no substrate loaded");
        goto cleanup;
    }
    for (size_t done = 0; done < nu;) {
        size_t k = nu - done < ROWS_PER_STATEMENT ? nu - done : ROWS_PER_STATEMENT;
        for (size_t i = 0; i < k; i++)
            p[i] = str_param(u[done + i]);
        char *sql = sql_rows("SELECT id FROM ul_element WHERE id IN (", k, 1, true,
                             ") ORDER BY id FOR UPDATE");
        db_rows_release(&rows);
        int rc = db_run(s, &rows, NULL, err, sql, p, k);
        free(sql);
        if (rc < 0)
            goto cleanup;
        for (size_t i = 0; i < k; i++) {
            bool found = false;
            for (size_t j = 0; j < rows.nrows && !found; j++)
                found = cn_streq(db_cell(&rows, j, 0), u[done + i]);
            if (!found)
                cn_err_add(err, CN_E_INVALID, "no underlay element %s", u[done + i]);
        }
        done += k;
    }
    ret = cn_err_is_set(err) ? -1 : 0;
cleanup:
    db_rows_release(&rows);
    free(u);
    free(p);
    return ret;
}

/* Adds one CN_E_INSUFFICIENT line per want that does not fit. */
static int
check_capacity(struct pip_store *s, const struct want *w, size_t n, long long now,
               struct cn_err *err)
{
    struct db_rows rows = DB_ROWS_INIT;
    struct cn_err shortfalls = CN_ERR_INIT;
    const char **elements = xcalloc(n ? n : 1, sizeof(*elements));
    size_t nu = 0, from = 0;
    int ret = -1;

    for (size_t i = 0; i < n; i++)
        elements[i] = w[i].element; /* w is sorted by element */
    const char **u = uniq_sorted(elements, n, &nu);
    struct db_param *p = xcalloc(nu + 1, sizeof(*p));
    /* What the elements have and what live reservations use of it, one statement per chunk. */
    for (size_t done = 0; done < nu;) {
        size_t k = nu - done < ROWS_PER_STATEMENT ? nu - done : ROWS_PER_STATEMENT;
        p[0] = (struct db_param){.type = 'i', .ll = now};
        for (size_t i = 0; i < k; i++)
            p[i + 1] = str_param(u[done + i]);
        char *sql = sql_rows("SELECT r.element_id, r.name, r.capacity, "
                             "COALESCE((SELECT SUM(a.amount) FROM allocation a "
                             "JOIN reservation v ON v.id = a.reservation_id "
                             "WHERE a.element_id = r.element_id AND a.resource = r.name "
                             "AND " LIVE_RESERVATION "), 0) "
                             "FROM ul_resource r WHERE r.element_id IN (",
                             k, 1, true, ")");
        db_rows_release(&rows);
        int rc = db_run(s, &rows, NULL, err, sql, p, k + 1);
        free(sql);
        if (rc < 0)
            goto cleanup;
        /* The wants of these elements: w is sorted, so they follow one another. */
        const char *last = u[done + k - 1];
        for (; from < n && strcmp(w[from].element, last) <= 0; from++) {
            double capacity = 0, used = 0;
            /* An element without the resource has none of it to give. */
            for (size_t j = 0; j < rows.nrows; j++) {
                if (cn_streq(db_cell(&rows, j, 0), w[from].element) &&
                    cn_streq(db_cell(&rows, j, 1), w[from].resource)) {
                    capacity = db_cell_double(&rows, j, 2);
                    used = db_cell_double(&rows, j, 3);
                    break;
                }
            }
            double free_now = capacity - used;
            if (w[from].amount > free_now + AMOUNT_EPSILON)
                cn_err_add(&shortfalls, CN_E_INSUFFICIENT, "%s: %s: %g wanted, %g free of %g",
                           w[from].element, w[from].resource, w[from].amount,
                           free_now > 0 ? free_now : 0, capacity);
        }
        done += k;
    }
    if (cn_err_is_set(&shortfalls)) {
        cn_err_set(err, CN_E_INSUFFICIENT, "%s", cn_err_msg(&shortfalls));
        goto cleanup;
    }
    ret = 0;
cleanup:
    cn_err_release(&shortfalls);
    db_rows_release(&rows);
    free(elements);
    free(u);
    free(p);
    return ret;
}

/*
 * The tags one transaction picks (the substrate lock is held exclusively):
 * the substrate's range and every tag in use are read once, the picks are
 * added to them in memory, and the rows are inserted together at the end
 * (tags_insert).
 */
struct tag_pick {
    bool loaded;
    int first, last;       /* the substrate's range */
    struct tag_set used;   /* held anywhere, picks of this transaction included */
    struct db_param *rows; /* scope, tag, reservation, overlay link: 4 per row */
    size_t nrows, cap;
};

static struct tag_pick *
tag_pick_new(void)
{
    return xcalloc(1, sizeof(struct tag_pick));
}

static void
tag_pick_free(struct tag_pick *tp)
{
    if (!tp)
        return;
    free(tp->rows);
    free(tp);
}

static int
tag_pick_load(struct pip_store *s, struct tag_pick *tp, struct cn_err *err)
{
    bool found;
    if (tp->loaded)
        return 0;
    if (vlan_range_of(s, NULL, &found, &tp->first, &tp->last, err) < 0 ||
        mark_tags(s, &tp->used, "SELECT DISTINCT tag FROM vlan", NULL, err) < 0)
        return -1;
    for (size_t i = 0; i < tp->nrows; i++)
        tp->used.used[tp->rows[4 * i + 1].ll] = 1;
    tp->loaded = true;
    return 0;
}

static void
tag_pick_add(struct tag_pick *tp, const char *scope, int tag, const char *id, const char *link)
{
    CN_GROW(tp->rows, tp->cap, 4 * (tp->nrows + 1));
    struct db_param *r = &tp->rows[4 * tp->nrows++];
    r[0] = str_param(scope);
    r[1] = (struct db_param){.type = 'i', .ll = tag};
    r[2] = str_param(id);
    r[3] = str_param(link);
    tp->used.used[tag] = 1;
}

/* Inserts the picked tags; the reservation row must exist (foreign key). */
static int
tags_insert(struct pip_store *s, struct tag_pick *tp, struct cn_err *err)
{
    if (insert_rows(s, "INSERT INTO vlan (scope, tag, reservation_id, overlay_link) VALUES ", 4,
                    tp->rows, tp->nrows, err) < 0) {
        if (s->last_errno == ER_DUP_ENTRY)
            cn_err_set(err, CN_E_VLAN, "VLAN tag already in use");
        return -1;
    }
    return 0;
}

/*
 * Picks the tag of one VLAN request on each of its scopes (the substrate
 * lock is held exclusively) and fills *ret_tag; the rows are inserted by
 * tags_insert.
 */
static int
take_vlan(struct pip_store *s, struct tag_pick *tp, const char *id,
          const struct pip_vlan_request *v, int *ret_tag, struct cn_err *err)
{
    int ret = -1;
    struct tag_set *set = xcalloc(1, sizeof(*set));
    const struct tag_set *check = set;
    const char **scopes = NULL;
    size_t nscopes = 0;
    int first = VLAN_MIN, last = VLAN_MAX, tag = 0;
    bool found;

    /* A scope named twice would collide with itself on the unique key. */
    scopes = xcalloc(v->nscopes ? v->nscopes : 1, sizeof(*scopes));
    for (size_t i = 0; i < v->nscopes; i++)
        scopes[i] = v->scopes[i];
    qsort(scopes, v->nscopes, sizeof(*scopes), str_cmp);
    for (size_t i = 0; i < v->nscopes; i++)
        if (nscopes == 0 || !cn_streq(scopes[nscopes - 1], scopes[i]))
            scopes[nscopes++] = scopes[i];

    if (nscopes == 0) {
        if (tag_pick_load(s, tp, err) < 0)
            goto cleanup;
        first = tp->first;
        last = tp->last;
        check = &tp->used;
    } else {
        if (mark_tags(s, set, "SELECT tag FROM vlan WHERE scope = ''", NULL, err) < 0)
            goto cleanup;
        for (size_t i = 0; i < nscopes; i++) {
            int f, l;
            if (vlan_range_of(s, scopes[i], &found, &f, &l, err) < 0)
                goto cleanup;
            if (!found) {
                cn_err_set(err, CN_E_INVALID, "%s: VLAN scope: no underlay element %s",
                           v->overlay_link, scopes[i]);
                goto cleanup;
            }
            first = f > first ? f : first;
            last = l < last ? l : last;
            if (mark_tags(s, set, "SELECT tag FROM vlan WHERE scope = ?", scopes[i], err) < 0)
                goto cleanup;
        }
        /* This transaction's picks are not in the table yet. */
        for (size_t r = 0; r < tp->nrows; r++) {
            const char *sc = tp->rows[4 * r].s;
            bool mine = !*sc;
            for (size_t i = 0; i < nscopes && !mine; i++)
                mine = cn_streq(sc, scopes[i]);
            if (mine)
                set->used[tp->rows[4 * r + 1].ll] = 1;
        }
    }
    if (v->range_of) {
        int f, l;
        if (vlan_range_of(s, v->range_of, &found, &f, &l, err) < 0)
            goto cleanup;
        if (!found) {
            cn_err_set(err, CN_E_INVALID, "%s: VLAN range: no underlay element %s", v->overlay_link,
                       v->range_of);
            goto cleanup;
        }
        first = f > first ? f : first;
        last = l < last ? l : last;
    }
    if (v->tag) {
        if (v->tag < first || v->tag > last) {
            cn_err_set(err, CN_E_VLAN, "%s: VLAN tag %d outside the range %d-%d", v->overlay_link,
                       v->tag, first, last);
            goto cleanup;
        }
        if (check->used[v->tag]) {
            cn_err_set(err, CN_E_VLAN, "%s: VLAN tag %d already in use", v->overlay_link, v->tag);
            goto cleanup;
        }
        tag = v->tag;
    } else {
        for (int t = first; t <= last && !tag; t++)
            if (!check->used[t])
                tag = t;
        if (!tag) {
            cn_err_set(err, CN_E_VLAN, "%s: no VLAN tag free in %d-%d", v->overlay_link, first,
                       last);
            goto cleanup;
        }
    }
    for (size_t i = 0; i < (nscopes ? nscopes : 1); i++)
        tag_pick_add(tp, nscopes ? scopes[i] : "", tag, id, v->overlay_link);
    *ret_tag = tag;
    ret = 0;
cleanup:
    free(scopes);
    free(set);
    return ret;
}

/*
 * The mapping document with the picked tags written into its link entries,
 * or NULL with err set when it cannot be read.
 */
static char *
mapping_with_tags(const char *id, const char *mapping_yaml, const struct pip_vlan_request *vlans,
                  size_t nvlans, const int *tags, struct cn_err *err)
{
    struct cn_buf out = CN_BUF_INIT;
    char *name = xasprintf("mapping of %s", id);
    char *ret = NULL;

    cn_buf_init(&out);
    struct rdl_graph *ml = rdl_read_string(name, mapping_yaml, strlen(mapping_yaml), err);
    if (!ml)
        goto cleanup;
    for (size_t i = 0; i < nvlans; i++) {
        struct rdl_map_entry *m = rdl_mapping_get(ml, vlans[i].overlay_link);
        if (m)
            rdl_map_entry_set_vlan(m, tags[i]);
    }
    if (rdl_write(ml, &out, err) < 0)
        goto cleanup;
    ret = cn_buf_detach(&out);
cleanup:
    rdl_graph_free(ml);
    cn_buf_release(&out);
    free(name);
    return ret;
}

/* Inserts the allocations of wants (amounts above 0) for reservation id. */
static int
allocations_insert(struct pip_store *s, const char *id, const struct want *w, size_t nw,
                   struct cn_err *err)
{
    struct db_param *p = xcalloc(4 * (nw ? nw : 1), sizeof(*p));
    size_t n = 0;
    for (size_t i = 0; i < nw; i++) {
        if (w[i].amount <= 0)
            continue;
        p[4 * n] = str_param(id);
        p[4 * n + 1] = str_param(w[i].element);
        p[4 * n + 2] = str_param(w[i].resource);
        p[4 * n + 3] = (struct db_param){.type = 'd', .d = w[i].amount};
        n++;
    }
    int rc = insert_rows(s,
                         "INSERT INTO allocation (reservation_id, element_id, resource, amount) "
                         "VALUES ",
                         4, p, n, err);
    free(p);
    return rc;
}

static int
grant_cmp(const void *a, const void *b)
{
    const struct pip_vlan_grant *x = a, *y = b;
    return strcmp(x->overlay_link, y->overlay_link);
}

/* The outcome of one attempt at a reservation. */
enum reserve_outcome {
    RESERVE_DONE,
    RESERVE_FAILED,
    RESERVE_EXISTS, /* another transaction inserted the same id first */
};

/*
 * One attempt; on success *ret_r is the reservation as stored, built from
 * what was written rather than read back.
 */
static enum reserve_outcome
reserve_once(struct pip_store *s, const struct pip_reserve_request *req, long lease_s,
             const struct want *w, size_t nw, struct pip_reservation **ret_r, struct cn_err *err)
{
    enum reserve_outcome ret = RESERVE_FAILED;
    const char **elements = xcalloc(nw ? nw : 1, sizeof(*elements));
    int *tags = xcalloc(req->nvlans ? req->nvlans : 1, sizeof(*tags));
    struct tag_pick *tp = tag_pick_new();
    char *mapping = NULL, *detail = NULL;
    struct db_rows rows = DB_ROWS_INIT;

    for (size_t i = 0; i < nw; i++)
        elements[i] = w[i].element; /* w is sorted by element */
    if (db_begin(s, err) < 0)
        goto cleanup;
    if (lock_elements(s, req->nvlans > 0, elements, nw, err) < 0)
        goto cleanup;
    /*
     * The same request repeated while the first was running waited for the
     * first one's locks; it must find that reservation, not a shortfall.
     */
    if (db_exec(s, &rows, NULL, err, "SELECT 1 FROM reservation WHERE id = ?", "s", req->id) < 0)
        goto cleanup;
    if (rows.nrows > 0) {
        ret = RESERVE_EXISTS;
        goto cleanup;
    }
    /* Read only now: the locks may have been waited for. */
    long long now = store_now(s);
    if (check_capacity(s, w, nw, now, err) < 0)
        goto cleanup;
    for (size_t i = 0; i < req->nvlans; i++)
        if (take_vlan(s, tp, req->id, &req->vlans[i], &tags[i], err) < 0)
            goto cleanup;
    /* The tags go into the document before it is stored, so it is written once. */
    if (req->nvlans > 0 && *req->mapping_yaml) {
        mapping = mapping_with_tags(req->id, req->mapping_yaml, req->vlans, req->nvlans, tags, err);
        if (!mapping)
            goto cleanup;
    }
    if (db_exec(s, NULL, NULL, err,
                "INSERT INTO reservation (id, state, peer, request_hash, expires_at, created_at, "
                "updated_at, overlay_yaml, mapping_yaml) "
                "VALUES (?, 'allocated', ?, SHA2(?, 256), ?, ?, ?, ?, ?)",
                "sssiiiss", req->id, req->peer ? req->peer : "", req->request, now + lease_s, now,
                now, req->overlay_yaml, mapping ? mapping : req->mapping_yaml) < 0) {
        if (s->last_errno == ER_DUP_ENTRY) {
            cn_err_clear(err);
            ret = RESERVE_EXISTS;
        }
        goto cleanup;
    }
    if (allocations_insert(s, req->id, w, nw, err) < 0 || tags_insert(s, tp, err) < 0)
        goto cleanup;
    detail = xasprintf("allocated until %lld: %zu allocations, %zu VLAN tags", now + lease_s, nw,
                       req->nvlans);
    if (event_add(s, now, req->id, "reserve", detail, err) < 0 || db_commit(s, err) < 0)
        goto cleanup;
    struct pip_reservation *r = xcalloc(1, sizeof(*r));
    r->id = xstrdup(req->id);
    r->state = PIP_ALLOCATED;
    r->peer = xstrdup(req->peer ? req->peer : "");
    r->expires_at = now + lease_s;
    r->created_at = r->updated_at = now;
    r->overlay_yaml = xstrdup(req->overlay_yaml);
    r->mapping_yaml = mapping ? mapping : xstrdup(req->mapping_yaml);
    mapping = NULL;
    r->vlans = xcalloc(req->nvlans ? req->nvlans : 1, sizeof(*r->vlans));
    r->nvlans = req->nvlans;
    for (size_t i = 0; i < req->nvlans; i++)
        r->vlans[i] = (struct pip_vlan_grant){xstrdup(req->vlans[i].overlay_link), tags[i]};
    qsort(r->vlans, r->nvlans, sizeof(*r->vlans), grant_cmp);
    *ret_r = r;
    ret = RESERVE_DONE;
cleanup:
    if (ret != RESERVE_DONE)
        db_rollback(s);
    free(elements);
    free(tags);
    free(mapping);
    free(detail);
    tag_pick_free(tp);
    db_rows_release(&rows);
    return ret;
}

/* The allocations sorted by element and resource, duplicates summed; the caller frees. */
static struct want *
make_wants(const struct pip_alloc *allocs, size_t nallocs, size_t *ret_count)
{
    struct want *w = xcalloc(nallocs ? nallocs : 1, sizeof(*w));
    size_t nw = 0;

    for (size_t i = 0; i < nallocs; i++)
        w[i] = (struct want){allocs[i].element, allocs[i].resource, allocs[i].amount};
    qsort(w, nallocs, sizeof(*w), want_cmp);
    for (size_t i = 0; i < nallocs; i++) {
        if (nw > 0 && want_cmp(&w[nw - 1], &w[i]) == 0)
            w[nw - 1].amount += w[i].amount;
        else
            w[nw++] = w[i];
    }
    *ret_count = nw;
    return w;
}

struct pip_reservation *
pip_store_reserve(struct pip_store *s, const struct pip_reserve_request *req, bool *ret_existed,
                  struct cn_err *err)
{
    struct pip_reservation *r = NULL;
    struct want *w = NULL;
    size_t nw = 0;

    if (check_request(req, err) < 0)
        goto cleanup;
    long lease_s = req->lease_s < s->max_lease_s ? req->lease_s : s->max_lease_s;

    w = make_wants(req->allocs, req->nallocs, &nw);

    for (int attempt = 1;; attempt++) {
        enum reserve_outcome o = reserve_once(s, req, lease_s, w, nw, &r, err);
        if (o == RESERVE_DONE) {
            if (ret_existed)
                *ret_existed = false;
            break;
        }
        bool busy = o == RESERVE_FAILED && err->code == CN_E_BUSY && s->last_errno != 0;
        /*
         * An id that exists answers as the existing reservation, whatever
         * this attempt ran into: looked up only now, since new ids are the
         * common case.
         */
        if (o == RESERVE_EXISTS || !busy) {
            struct pip_reservation *existing = NULL;
            struct cn_err probe = CN_ERR_INIT;
            if (pip_store_lookup(s, req->id, req->request, &existing, &probe) < 0) {
                cn_err_clear(err);
                cn_err_set(err, probe.code, "%s", cn_err_msg(&probe));
                cn_err_release(&probe);
                goto cleanup;
            }
            cn_err_release(&probe);
            if (existing) {
                cn_err_clear(err);
                if (ret_existed)
                    *ret_existed = true;
                r = existing;
                goto cleanup;
            }
            if (o == RESERVE_FAILED)
                goto cleanup;
            /* Inserted and gone again cannot happen (ids are never deleted); retry. */
            if (attempt < BUSY_ATTEMPTS)
                continue;
            cn_err_set(err, CN_E_BUSY, "CloudNet %s is being reserved concurrently", req->id);
            goto cleanup;
        }
        if (attempt >= BUSY_ATTEMPTS)
            goto cleanup;
        cn_err_clear(err);
    }
cleanup:
    free(w);
    return r;
}

/*
 * Starts a transaction that holds the locks a lease decision needs (see
 * the top of this file) and the reservation row; fills the row's state and
 * expiry. CN_E_NOTFOUND when id is unknown.
 */
static int
lock_reservation(struct pip_store *s, const char *id, bool with_elements, enum pip_state *ret_state,
                 long long *ret_expires_at, struct cn_err *err)
{
    int ret = -1;
    struct db_rows rows = DB_ROWS_INIT;
    const char **elements = NULL;

    if (!id_ok(id))
        return cn_err_set(err, CN_E_INVALID, "CloudNet id must be 1-%d bytes", MAX_ID_LEN);
    if (db_begin(s, err) < 0)
        goto cleanup;
    if (with_elements) {
        if (db_exec(s, &rows, NULL, err,
                    "SELECT DISTINCT element_id FROM allocation WHERE reservation_id = ? "
                    "ORDER BY element_id",
                    "s", id) < 0)
            goto cleanup;
        elements = xcalloc(rows.nrows ? rows.nrows : 1, sizeof(*elements));
        for (size_t i = 0; i < rows.nrows; i++)
            elements[i] = db_cell(&rows, i, 0);
        /* SQL sorts by collation; the lock order must be the same byte order as reserve's. */
        qsort(elements, rows.nrows, sizeof(*elements), str_cmp);
        int rc = rows.nrows ? lock_elements(s, false, elements, rows.nrows, err) : 0;
        if (rc < 0)
            goto cleanup;
        db_rows_release(&rows);
    }
    if (db_exec(s, &rows, NULL, err,
                "SELECT state, COALESCE(expires_at, 0) FROM reservation WHERE id = ? FOR UPDATE",
                "s", id) < 0)
        goto cleanup;
    if (rows.nrows == 0) {
        cn_err_set(err, CN_E_NOTFOUND, "no CloudNet %s", id);
        goto cleanup;
    }
    *ret_state = state_from_name(db_cell(&rows, 0, 0));
    *ret_expires_at = db_cell_ll(&rows, 0, 1);
    ret = 0;
cleanup:
    if (ret < 0)
        db_rollback(s);
    free(elements);
    db_rows_release(&rows);
    return ret;
}

/* Whether a reservation in state, with that expiry, has run out of lease at now. */
static bool
lease_ended(enum pip_state state, long long expires_at, long long now)
{
    return (state == PIP_ALLOCATED || state == PIP_RELEASED) && expires_at != 0 &&
           expires_at <= now;
}

static int
confirm_once(struct pip_store *s, const char *id, struct cn_err *err)
{
    enum pip_state state;
    long long expires_at;

    if (lock_reservation(s, id, true, &state, &expires_at, err) < 0)
        return -1;
    long long now = store_now(s);
    if (state == PIP_PROVISIONED)
        return db_commit(s, err);
    if (lease_ended(state, expires_at, now)) {
        db_rollback(s);
        return cn_err_set(err, CN_E_EXPIRED, "CloudNet %s: lease ended at %lld", id, expires_at);
    }
    if (state != PIP_ALLOCATED) {
        db_rollback(s);
        return cn_err_set(err, CN_E_INVALID, "CloudNet %s is %s", id, pip_state_name(state));
    }
    if (db_exec(s, NULL, NULL, err,
                "UPDATE reservation SET state = 'provisioned', expires_at = NULL, updated_at = ? "
                "WHERE id = ?",
                "is", now, id) < 0 ||
        event_add(s, now, id, "confirm", "provisioned", err) < 0 || db_commit(s, err) < 0) {
        db_rollback(s);
        return -1;
    }
    return 0;
}

static int
renew_once(struct pip_store *s, const char *id, long lease_s, long long *ret_expires_at,
           struct cn_err *err)
{
    enum pip_state state;
    long long expires_at;

    if (lock_reservation(s, id, true, &state, &expires_at, err) < 0)
        return -1;
    long long now = store_now(s);
    if (state == PIP_PROVISIONED) {
        *ret_expires_at = 0;
        return db_commit(s, err);
    }
    if (lease_ended(state, expires_at, now)) {
        db_rollback(s);
        return cn_err_set(err, CN_E_EXPIRED, "CloudNet %s: lease ended at %lld", id, expires_at);
    }
    if (state != PIP_ALLOCATED) {
        db_rollback(s);
        return cn_err_set(err, CN_E_INVALID, "CloudNet %s is %s", id, pip_state_name(state));
    }
    long granted = lease_s < s->max_lease_s ? lease_s : s->max_lease_s;
    char *detail = xasprintf("allocated until %lld", now + granted);
    int rc = db_exec(s, NULL, NULL, err,
                     "UPDATE reservation SET expires_at = ?, updated_at = ? WHERE id = ?", "iis",
                     now + granted, now, id);
    if (rc == 0)
        rc = event_add(s, now, id, "renew", detail, err);
    free(detail);
    if (rc < 0 || db_commit(s, err) < 0) {
        db_rollback(s);
        return -1;
    }
    *ret_expires_at = now + granted;
    return 0;
}

/* Moves a reservation to released or failed and frees what it holds. */
static int
end_once(struct pip_store *s, const char *id, enum pip_state to, const char *reason,
         struct cn_err *err)
{
    enum pip_state state;
    long long expires_at;

    if (lock_reservation(s, id, false, &state, &expires_at, err) < 0)
        return -1;
    if (state == to)
        return db_commit(s, err);
    if (to == PIP_FAILED && state == PIP_RELEASED) {
        db_rollback(s);
        return cn_err_set(err, CN_E_INVALID, "CloudNet %s is released", id);
    }
    long long now = store_now(s);
    if (db_exec(s, NULL, NULL, err, "DELETE FROM allocation WHERE reservation_id = ?", "s", id) <
            0 ||
        db_exec(s, NULL, NULL, err, "DELETE FROM vlan WHERE reservation_id = ?", "s", id) < 0 ||
        db_exec(s, NULL, NULL, err,
                "UPDATE reservation SET state = ?, updated_at = ?, "
                "reason = COALESCE(?, reason) WHERE id = ?",
                "siss", pip_state_name(to), now, reason, id) < 0 ||
        event_add(s, now, id, pip_state_name(to), reason ? reason : "", err) < 0 ||
        db_commit(s, err) < 0) {
        db_rollback(s);
        return -1;
    }
    return 0;
}

/* The tag a reservation holds for an overlay link (from held, sorted), or 0. */
static int
held_tag(const struct db_rows *held, const char *link)
{
    for (size_t i = 0; i < held->nrows; i++)
        if (cn_streq(db_cell(held, i, 0), link))
            return (int)db_cell_ll(held, i, 1);
    return 0;
}

static int
modify_once(struct pip_store *s, const struct pip_modify_request *req, const struct want *w,
            size_t nw, bool *ret_unchanged, struct cn_err *err)
{
    int ret = -1;
    const char **elements = xcalloc(nw ? nw : 1, sizeof(*elements));
    struct pip_vlan_request *vlans = xcalloc(req->nvlans ? req->nvlans : 1, sizeof(*vlans));
    int *tags = xcalloc(req->nvlans ? req->nvlans : 1, sizeof(*tags));
    struct db_rows rows = DB_ROWS_INIT, held = DB_ROWS_INIT;
    struct tag_pick *tp = tag_pick_new();
    char *mapping = NULL, *detail = NULL;

    for (size_t i = 0; i < nw; i++)
        elements[i] = w[i].element; /* w is sorted by element */
    if (db_begin(s, err) < 0)
        goto cleanup;
    /* The lock order of reserve: substrate, elements, then the reservation row. */
    if (lock_elements(s, req->nvlans > 0, elements, nw, err) < 0)
        goto cleanup;
    if (db_exec(s, &rows, NULL, err,
                "SELECT state, COALESCE(expires_at, 0), overlay_yaml = ? FROM reservation "
                "WHERE id = ? FOR UPDATE",
                "ss", req->overlay_yaml, req->id) < 0)
        goto cleanup;
    if (rows.nrows == 0) {
        cn_err_set(err, CN_E_NOTFOUND, "no CloudNet %s", req->id);
        goto cleanup;
    }
    enum pip_state state = state_from_name(db_cell(&rows, 0, 0));
    long long expires_at = db_cell_ll(&rows, 0, 1);
    long long now = store_now(s);
    if (state != PIP_ALLOCATED && state != PIP_PROVISIONED) {
        cn_err_set(err, CN_E_INVALID, "CloudNet %s is %s", req->id, pip_state_name(state));
        goto cleanup;
    }
    if (lease_ended(state, expires_at, now)) {
        cn_err_set(err, CN_E_EXPIRED, "CloudNet %s: lease ended at %lld", req->id, expires_at);
        goto cleanup;
    }
    if (db_cell_ll(&rows, 0, 2) == 1) {
        *ret_unchanged = true;
        ret = db_commit(s, err);
        goto cleanup;
    }
    if (db_exec(s, &held, NULL, err,
                "SELECT overlay_link, MIN(tag) FROM vlan WHERE reservation_id = ? "
                "GROUP BY overlay_link",
                "s", req->id) < 0)
        goto cleanup;
    /* The old holdings go first, so the capacity check sees only the new ones. */
    if (db_exec(s, NULL, NULL, err, "DELETE FROM allocation WHERE reservation_id = ?", "s",
                req->id) < 0 ||
        db_exec(s, NULL, NULL, err, "DELETE FROM vlan WHERE reservation_id = ?", "s", req->id) < 0)
        goto cleanup;
    if (check_capacity(s, w, nw, now, err) < 0 || allocations_insert(s, req->id, w, nw, err) < 0)
        goto cleanup;
    for (size_t i = 0; i < req->nvlans; i++) {
        vlans[i] = req->vlans[i];
        if (!vlans[i].tag)
            vlans[i].tag = held_tag(&held, vlans[i].overlay_link);
    }
    /* Definite tags (kept or wanted) before picked ones, so a pick cannot take one of them. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < req->nvlans; i++) {
            if ((pass == 0) != (vlans[i].tag != 0))
                continue;
            if (take_vlan(s, tp, req->id, &vlans[i], &tags[i], err) < 0)
                goto cleanup;
        }
    }
    if (tags_insert(s, tp, err) < 0)
        goto cleanup;
    if (*req->mapping_yaml) {
        mapping = mapping_with_tags(req->id, req->mapping_yaml, vlans, req->nvlans, tags, err);
        if (!mapping)
            goto cleanup;
    }
    if (db_exec(s, NULL, NULL, err,
                "UPDATE reservation SET overlay_yaml = ?, mapping_yaml = ?, updated_at = ? "
                "WHERE id = ?",
                "ssis", req->overlay_yaml, mapping ? mapping : req->mapping_yaml, now, req->id) < 0)
        goto cleanup;
    detail =
        xasprintf("%s: %zu allocations, %zu VLAN tags", pip_state_name(state), nw, req->nvlans);
    if (event_add(s, now, req->id, "modify", detail, err) < 0 || db_commit(s, err) < 0)
        goto cleanup;
    *ret_unchanged = false;
    ret = 0;
cleanup:
    if (ret < 0)
        db_rollback(s);
    free(elements);
    free(vlans);
    free(tags);
    free(mapping);
    free(detail);
    tag_pick_free(tp);
    db_rows_release(&rows);
    db_rows_release(&held);
    return ret;
}

int
pip_store_modify(struct pip_store *s, const struct pip_modify_request *req, bool *ret_unchanged,
                 struct cn_err *err)
{
    struct want *w = NULL;
    size_t nw = 0;
    bool unchanged = false;
    int ret = -1;

    if (!id_ok(req->id)) {
        cn_err_set(err, CN_E_INVALID, "CloudNet id must be 1-%d bytes", MAX_ID_LEN);
        goto cleanup;
    }
    if (!req->overlay_yaml || !req->mapping_yaml) {
        cn_err_set(err, CN_E_INVALID, "%s: overlay and mapping are required", req->id);
        goto cleanup;
    }
    if (check_parts(req->id, req->allocs, req->nallocs, req->vlans, req->nvlans, err) < 0)
        goto cleanup;
    w = make_wants(req->allocs, req->nallocs, &nw);
    for (int attempt = 1;; attempt++) {
        if (modify_once(s, req, w, nw, &unchanged, err) == 0)
            break;
        if (err->code != CN_E_BUSY || s->last_errno == 0 || attempt >= BUSY_ATTEMPTS)
            goto cleanup;
        cn_err_clear(err);
    }
    if (ret_unchanged)
        *ret_unchanged = unchanged;
    ret = 0;
cleanup:
    free(w);
    return ret;
}

/* The arguments of one lease or state operation, so one retry loop serves them all. */
struct op_args {
    const char *id;
    const char *reason;
    enum pip_state to;
    long lease_s;
    long long *ret_expires_at;
};

static int
op_confirm(struct pip_store *s, const struct op_args *a, struct cn_err *err)
{
    return confirm_once(s, a->id, err);
}

static int
op_renew(struct pip_store *s, const struct op_args *a, struct cn_err *err)
{
    return renew_once(s, a->id, a->lease_s, a->ret_expires_at, err);
}

static int
op_end(struct pip_store *s, const struct op_args *a, struct cn_err *err)
{
    return end_once(s, a->id, a->to, a->reason, err);
}

/* Runs op again while it fails on a deadlock or a lock timeout. */
static int
retry_busy(struct pip_store *s,
           int (*op)(struct pip_store *s, const struct op_args *a, struct cn_err *err),
           const struct op_args *a, struct cn_err *err)
{
    for (int attempt = 1;; attempt++) {
        if (op(s, a, err) == 0)
            return 0;
        if (err->code != CN_E_BUSY || s->last_errno == 0 || attempt >= BUSY_ATTEMPTS)
            return -1;
        cn_err_clear(err);
    }
}

int
pip_store_confirm(struct pip_store *s, const char *id, struct cn_err *err)
{
    struct op_args a = {.id = id};
    return retry_busy(s, op_confirm, &a, err);
}

int
pip_store_renew(struct pip_store *s, const char *id, long lease_s, long long *ret_expires_at,
                struct cn_err *err)
{
    struct op_args a = {.id = id, .lease_s = lease_s, .ret_expires_at = ret_expires_at};
    if (lease_s <= 0)
        return cn_err_set(err, CN_E_INVALID, "CloudNet %s: lease must be positive, not %ld s",
                          id ? id : "", lease_s);
    return retry_busy(s, op_renew, &a, err);
}

int
pip_store_release(struct pip_store *s, const char *id, const char *reason, struct cn_err *err)
{
    struct op_args a = {.id = id, .reason = reason, .to = PIP_RELEASED};
    return retry_busy(s, op_end, &a, err);
}

int
pip_store_fail(struct pip_store *s, const char *id, const char *reason, struct cn_err *err)
{
    struct op_args a = {.id = id, .reason = reason, .to = PIP_FAILED};
    return retry_busy(s, op_end, &a, err);
}

int
pip_store_list(struct pip_store *s, enum pip_list_filter filter, struct pip_reservation **ret_items,
               size_t *ret_count, struct cn_err *err)
{
    struct db_rows rows = DB_ROWS_INIT;
    int rc;

    switch (filter) {
    case PIP_LIST_ACTIVE:
        rc = db_exec(s, &rows, NULL, err,
                     "SELECT " RESERVATION_COLUMNS " FROM reservation v WHERE " LIVE_RESERVATION
                     " ORDER BY id",
                     "i", store_now(s));
        break;
    case PIP_LIST_EXPIRED:
        rc = db_exec(s, &rows, NULL, err,
                     "SELECT " RESERVATION_COLUMNS " FROM reservation "
                     "WHERE state = 'allocated' AND expires_at <= ? ORDER BY id",
                     "i", store_now(s));
        break;
    default:
        rc = db_exec(s, &rows, NULL, err,
                     "SELECT " RESERVATION_COLUMNS " FROM reservation ORDER BY id", "");
        break;
    }
    if (rc < 0) {
        db_rows_release(&rows);
        return -1;
    }
    struct pip_reservation *items = xcalloc(rows.nrows ? rows.nrows : 1, sizeof(*items));
    for (size_t i = 0; i < rows.nrows; i++)
        reservation_fill(&items[i], &rows, i);
    *ret_items = items;
    *ret_count = rows.nrows;
    db_rows_release(&rows);
    return 0;
}

int
pip_store_dump_tables(struct pip_store *s, struct cn_buf *out, struct cn_err *err)
{
    /* Table names and keys are constants: nothing from outside reaches the SQL. */
    static const char *const queries[][2] = {
        {"schema_version", "SELECT version FROM schema_version ORDER BY version"},
        {"underlay", "SELECT * FROM underlay ORDER BY id"},
        {"ul_element", "SELECT * FROM ul_element ORDER BY id"},
        {"ul_resource", "SELECT * FROM ul_resource ORDER BY element_id, name"},
        {"reservation", "SELECT * FROM reservation ORDER BY id"},
        {"allocation", "SELECT * FROM allocation ORDER BY reservation_id, element_id, resource"},
        {"vlan", "SELECT * FROM vlan ORDER BY scope, tag"},
        {"event", "SELECT * FROM event ORDER BY seq"},
    };
    struct db_rows rows = DB_ROWS_INIT;

    for (size_t q = 0; q < CN_ARRAY_SIZE(queries); q++) {
        db_rows_release(&rows);
        if (db_exec(s, &rows, NULL, err, queries[q][1], "") < 0) {
            db_rows_release(&rows);
            return -1;
        }
        for (size_t i = 0; i < rows.nrows; i++) {
            cn_buf_puts(out, queries[q][0]);
            for (size_t c = 0; c < rows.ncols; c++) {
                const char *cell = db_cell(&rows, i, c);
                cn_buf_putc(out, '\t');
                cn_buf_puts(out, cell ? cell : "\\N");
            }
            cn_buf_putc(out, '\n');
        }
    }
    db_rows_release(&rows);
    return 0;
}
