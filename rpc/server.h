/*
 * The XML-RPC server side that pipd and vnpd share: an Abyss server on one
 * listening address with a table of methods, and the helpers their methods
 * use to check the caller's secret, read parameters, build the result
 * struct of the negotiation interface (docs/pipd.md) and turn a struct
 * cn_err into a fault.
 *
 * rpc/ is an RPC component: this header and rpc/server.c include xmlrpc-c,
 * and so does every file that includes this header (pip/rpc.c, vnp/rpc.c).
 * Everything else stays free of xmlrpc-c (DESIGN section 2).
 *
 * Every fault a helper sets carries the code cn_fault_code() gives for the
 * error's category; bad parameters are CN_E_INVALID with a message that
 * starts "bad arguments: ".
 */
#ifndef CLOUDNET_RPC_SERVER_H
#define CLOUDNET_RPC_SERVER_H

#include <stddef.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>

#include "util/util.h"

struct rpc_server;

/* One entry of a server's method table. */
struct rpc_method {
    const char *name;
    xmlrpc_method2 fn;
    void *info;       /* what fn gets as its serverInfo */
    const char *help; /* or NULL */
};

/*
 * Binds host:port and registers the methods (the table is copied);
 * serving starts with rpc_server_run.
 * max_xml is the largest XML document xmlrpc-c accepts: a limit of the
 * process, shared by every xmlrpc-c client in it.
 */
struct rpc_server *rpc_server_new(const char *host, unsigned port, size_t max_xml,
                                  const struct rpc_method *methods, size_t nmethods,
                                  struct cn_err *err);
/* Serves until rpc_server_stop is called (from another thread). */
int rpc_server_run(struct rpc_server *srv, struct cn_err *err);
void rpc_server_stop(struct rpc_server *srv);
void rpc_server_free(struct rpc_server *srv);

/* ---- for the methods ---- */

/* A fault from err, or "failed" (CN_E_INTERNAL) when err holds nothing. */
void rpc_fault(xmlrpc_env *env, const struct cn_err *err);
/* Replaces any fault in env by "bad arguments: " and the formatted text. */
void rpc_bad_args(xmlrpc_env *env, const char *fmt, ...) CN_PRINTF(2, 3);

/* How a daemon maps a secret to the name of its peer (borrowed), or NULL. */
typedef const char *rpc_auth_fn(const void *ctx, const char *secret, struct cn_err *err);
/*
 * Checks the secret, always the first parameter, before anything else about
 * the call: the caller's peer name, or NULL with a fault set.
 */
const char *rpc_authenticate(xmlrpc_env *env, xmlrpc_value *params, rpc_auth_fn *auth,
                             const void *ctx);

/*
 * Parameter i as a string the caller frees, or an integer (i4 or i8); on a
 * missing parameter or another type, NULL or -1 with the fault
 * "bad arguments: WHAT".
 */
char *rpc_param_string(xmlrpc_env *env, xmlrpc_value *params, int i, const char *what);
int rpc_param_long(xmlrpc_env *env, xmlrpc_value *params, int i, const char *what, long *ret);
/*
 * The strings of an array value, copied into a NULL-terminated array the
 * caller frees with rpc_strings_free; -1 with "bad arguments: WHAT" when
 * array is not an array of strings.
 */
int rpc_array_strings(xmlrpc_env *env, xmlrpc_value *array, const char *what, char ***ret_strings,
                      size_t *ret_n);
void rpc_strings_free(char **strings, size_t n);

/*
 * Takes params apart by fmt, as xmlrpc_decompose_value does, but only with
 * exactly the count and types fmt asks for ("(sssi)": s string, i int, A
 * array); otherwise "bad arguments: USAGE". The types are checked first
 * because xmlrpc-c frees what a failed decomposition had already stored in
 * the caller's variables, which the caller could then not tell from what
 * it has to free.
 */
int rpc_decompose(xmlrpc_env *env, xmlrpc_value *params, const char *usage, const char *fmt, ...);

/* Sets st's member key to v and drops the caller's reference; v NULL: nothing. */
void rpc_put(xmlrpc_env *env, xmlrpc_value *st, const char *key, xmlrpc_value *v);
/* An array of strings. */
xmlrpc_value *rpc_string_array(xmlrpc_env *env, const char *const *strings, size_t n);
/*
 * The result struct of negotiate, confirm, release, renew, status and the
 * power calls, without elements: id, state and expires, and manifest_yaml
 * and reason when they are not NULL.
 */
xmlrpc_value *rpc_result_new(xmlrpc_env *env, const char *id, const char *state, long long expires,
                             const char *manifest_yaml, const char *reason);

#endif /* CLOUDNET_RPC_SERVER_H */
