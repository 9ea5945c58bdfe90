/*
 * pip_rpc: a tiny generic XML-RPC caller for the shell tests of pipd.
 *
 *   PIP_SECRET=SECRET pip_rpc [-k KEY] URL METHOD [ARG...]
 *
 * The secret comes from the environment (never the command line, where ps
 * would show it) and is sent as the first parameter, as pipd expects. Each
 * ARG is a string, except "i:N" (an int), "@FILE" (a string read from FILE)
 * and "a:X,Y,..." (an array of strings; "a:" is the empty array); "s:TEXT"
 * forces a string.
 *
 * A scalar result is printed as it is. A struct is printed one member a
 * line as KEY=VALUE, nested structs as OUTER.INNER=VALUE and arrays as
 * KEY[N]=VALUE, with newlines in strings shown as "\n"; -k KEY prints only
 * that member (dotted path), raw, so a manifest can be saved to a file.
 *
 * Exit status: 0 success; 10 + the fault code for an XML-RPC fault (its
 * message on stderr as "fault CODE: MESSAGE"); 1 for anything else (usage,
 * transport, a missing -k member).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return NULL;
    do {
        if (cap - len < 4096) {
            char *t;
            cap = cap ? cap * 2 : 8192;
            t = realloc(s, cap);
            if (!t) {
                free(s);
                fclose(f);
                return NULL;
            }
            s = t;
        }
        n = fread(s + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    s[len] = '\0';
    fclose(f);
    return s;
}

/* One command-line argument as an XML-RPC value (caller DECREFs), or NULL. */
static xmlrpc_value *
arg_value(xmlrpc_env *env, const char *arg)
{
    if (strncmp(arg, "i:", 2) == 0) {
        char *end;
        long v = strtol(arg + 2, &end, 10);
        if (*end || end == arg + 2) {
            fprintf(stderr, "pip_rpc: bad integer '%s'\n", arg);
            return NULL;
        }
        return xmlrpc_int_new(env, (int)v);
    }
    if (strncmp(arg, "s:", 2) == 0)
        return xmlrpc_string_new(env, arg + 2);
    if (arg[0] == '@') {
        char *text = read_all(arg + 1);
        xmlrpc_value *v;
        if (!text) {
            perror(arg + 1);
            return NULL;
        }
        v = xmlrpc_string_new(env, text);
        free(text);
        return v;
    }
    if (strncmp(arg, "a:", 2) == 0) {
        xmlrpc_value *a = xmlrpc_array_new(env);
        char *copy = strdup(arg + 2), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok && !env->fault_occurred;
             tok = strtok_r(NULL, ",", &save)) {
            xmlrpc_value *s = xmlrpc_string_new(env, tok);
            xmlrpc_array_append_item(env, a, s);
            xmlrpc_DECREF(s);
        }
        free(copy);
        return a;
    }
    return xmlrpc_string_new(env, arg);
}

static void
print_escaped(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            fputs("\\n", stdout);
        else
            putchar(*s);
    }
}

/* Prints v under the name prefix (flat form), or raw when prefix is NULL. */
static void
print_value(xmlrpc_env *env, const xmlrpc_value *v, const char *prefix)
{
    xmlrpc_value *mv = (xmlrpc_value *)(uintptr_t)v;

    switch (xmlrpc_value_type(mv)) {
    case XMLRPC_TYPE_STRUCT: {
        int n = xmlrpc_struct_size(env, mv);
        for (int i = 0; i < n && !env->fault_occurred; i++) {
            xmlrpc_value *k = NULL, *m = NULL;
            const char *key = NULL;
            char name[1024];
            xmlrpc_struct_read_member(env, mv, (unsigned)i, &k, &m);
            if (env->fault_occurred)
                return;
            xmlrpc_read_string(env, k, &key);
            snprintf(name, sizeof(name), "%s%s%s", prefix ? prefix : "", prefix ? "." : "", key);
            print_value(env, m, name);
            free((void *)(uintptr_t)key);
            xmlrpc_DECREF(k);
            xmlrpc_DECREF(m);
        }
        return;
    }
    case XMLRPC_TYPE_ARRAY: {
        int n = xmlrpc_array_size(env, mv);
        for (int i = 0; i < n && !env->fault_occurred; i++) {
            xmlrpc_value *item = NULL;
            char name[1024];
            xmlrpc_array_read_item(env, mv, (unsigned)i, &item);
            if (env->fault_occurred)
                return;
            snprintf(name, sizeof(name), "%s[%d]", prefix ? prefix : "", i);
            print_value(env, item, name);
            xmlrpc_DECREF(item);
        }
        return;
    }
    default:
        break;
    }
    if (prefix)
        printf("%s=", prefix);
    switch (xmlrpc_value_type(mv)) {
    case XMLRPC_TYPE_INT: {
        int i;
        xmlrpc_read_int(env, mv, &i);
        printf("%d", i);
        break;
    }
    case XMLRPC_TYPE_I8: {
        xmlrpc_int64 i;
        xmlrpc_read_i8(env, mv, &i);
        printf("%lld", (long long)i);
        break;
    }
    case XMLRPC_TYPE_BOOL: {
        xmlrpc_bool b;
        xmlrpc_read_bool(env, mv, &b);
        printf("%s", b ? "true" : "false");
        break;
    }
    case XMLRPC_TYPE_DOUBLE: {
        double d;
        xmlrpc_read_double(env, mv, &d);
        printf("%g", d);
        break;
    }
    case XMLRPC_TYPE_STRING: {
        const char *s = NULL;
        xmlrpc_read_string(env, mv, &s);
        if (s) {
            if (prefix)
                print_escaped(s);
            else
                fputs(s, stdout);
            free((void *)(uintptr_t)s);
        }
        break;
    }
    default:
        printf("(type %d)", (int)xmlrpc_value_type(mv));
        break;
    }
    if (prefix)
        putchar('\n');
}

/* The member at a dotted path of a struct (caller DECREFs), or NULL. */
static xmlrpc_value *
find_member(xmlrpc_env *env, xmlrpc_value *v, const char *path)
{
    char *copy = strdup(path), *save = NULL;
    xmlrpc_value *cur = v;

    xmlrpc_INCREF(cur);
    for (char *tok = strtok_r(copy, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
        xmlrpc_value *next = NULL;
        if (xmlrpc_value_type(cur) == XMLRPC_TYPE_STRUCT)
            xmlrpc_struct_find_value(env, cur, tok, &next);
        xmlrpc_DECREF(cur);
        cur = env->fault_occurred ? NULL : next;
    }
    free(copy);
    return cur;
}

int
main(int argc, char **argv)
{
    const char *key = NULL, *secret = getenv("PIP_SECRET");
    xmlrpc_env env;
    xmlrpc_client *client = NULL;
    xmlrpc_server_info *server = NULL;
    xmlrpc_value *params = NULL, *result = NULL;
    int c, rc = 1;

    while ((c = getopt(argc, argv, "k:")) != -1) {
        if (c != 'k') {
            fprintf(stderr, "usage: PIP_SECRET=S pip_rpc [-k KEY] URL METHOD [ARG...]\n");
            return 1;
        }
        key = optarg;
    }
    if (argc - optind < 2 || !secret) {
        fprintf(stderr, "usage: PIP_SECRET=S pip_rpc [-k KEY] URL METHOD [ARG...]\n");
        return 1;
    }
    xmlrpc_env_init(&env);
    xmlrpc_client_setup_global_const(&env);
    xmlrpc_client_create(&env, XMLRPC_CLIENT_NO_FLAGS, "pip_rpc", "1", NULL, 0, &client);
    if (env.fault_occurred)
        goto cleanup;
    params = xmlrpc_array_new(&env);
    {
        xmlrpc_value *s = xmlrpc_string_new(&env, secret);
        xmlrpc_array_append_item(&env, params, s);
        xmlrpc_DECREF(s);
    }
    for (int i = optind + 2; i < argc && !env.fault_occurred; i++) {
        xmlrpc_value *v = arg_value(&env, argv[i]);
        if (!v)
            goto cleanup;
        xmlrpc_array_append_item(&env, params, v);
        xmlrpc_DECREF(v);
    }
    if (env.fault_occurred)
        goto cleanup;
    server = xmlrpc_server_info_new(&env, argv[optind]);
    if (!env.fault_occurred)
        xmlrpc_client_call2(&env, client, server, argv[optind + 1], params, &result);
cleanup:
    if (env.fault_occurred) {
        /* xmlrpc-c's client puts this before every server fault's message. */
        const char *msg = env.fault_string, *noise = "RPC failed at server.  ";
        if (strncmp(msg, noise, strlen(noise)) == 0)
            msg += strlen(noise);
        fprintf(stderr, "fault %d: %s\n", env.fault_code, msg);
        rc = env.fault_code > 0 && env.fault_code < 100 ? 10 + env.fault_code : 1;
    } else if (result) {
        if (key) {
            xmlrpc_value *m = find_member(&env, result, key);
            if (m) {
                print_value(&env, m, NULL);
                xmlrpc_DECREF(m);
                rc = 0;
            } else {
                fprintf(stderr, "pip_rpc: the result has no member '%s'\n", key);
            }
        } else {
            print_value(&env, result, NULL);
            if (xmlrpc_value_type(result) != XMLRPC_TYPE_STRUCT &&
                xmlrpc_value_type(result) != XMLRPC_TYPE_ARRAY)
                putchar('\n');
            rc = 0;
        }
    }
    if (result)
        xmlrpc_DECREF(result);
    if (params)
        xmlrpc_DECREF(params);
    if (server)
        xmlrpc_server_info_free(server);
    if (client)
        xmlrpc_client_destroy(client);
    xmlrpc_client_teardown_global_const();
    xmlrpc_env_clean(&env);
    return rc;
}
