/*
 * The service provider's verbs: submit a CloudNet to a PIP or a VNP (both
 * speak the negotiation interface, vnp/client.h) and look after it: status,
 * list, release, start, stop, console, manifest.
 *
 * Secrets never come from the command line, where other users see them in
 * the process list: CLOUDNET_SECRET, or the client configuration file
 * ($CLOUDNET_CONFIG, default ~/.config/cloudnet/client.conf) with lines
 *
 *     url URL                the default peer of every verb but submit
 *     secret URL SECRET      the secret for that peer
 *
 * --json prints one JSON value on standard output for scripts; the text
 * form is for people.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "rdl/rdl.h"
#include "util/conf.h"
#include "util/log.h"
#include "vnp/client.h"

#define DEFAULT_TIMEOUT_S 300
#define DEFAULT_LEASE_S 300
#define NET_ANSWER_LIMIT (256u * 1024 * 1024)

/* ---- the client configuration ---- */

struct net_secret {
    char *url;
    char *secret;
};

struct net_config {
    char *path; /* NULL when there is none */
    char *url;  /* the default URL, or NULL */
    struct net_secret *secrets;
    size_t nsecrets, cap;
};

static void
net_config_release(struct net_config *cfg)
{
    free(cfg->path);
    free(cfg->url);
    for (size_t i = 0; i < cfg->nsecrets; i++) {
        free(cfg->secrets[i].url);
        explicit_bzero(cfg->secrets[i].secret, strlen(cfg->secrets[i].secret));
        free(cfg->secrets[i].secret);
    }
    free(cfg->secrets);
    memset(cfg, 0, sizeof(*cfg));
}

/*
 * "http://host:port" and "http://host:port/RPC2" name the same peer: the
 * daemons serve /RPC2 only, so a URL without a path gets it.
 */
static char *
normalize_url(const char *url)
{
    const char *rest = strstr(url, "://");
    if (rest && !strchr(rest + 3, '/'))
        return xasprintf("%s/RPC2", url);
    return xstrdup(url);
}

/* One line of the configuration (util/conf.h). */
static int
net_directive(void *ctx, char **words, size_t n, unsigned lineno, struct cn_buf *why)
{
    struct net_config *cfg = ctx;
    (void)lineno;

    if (strcmp(words[0], "url") == 0) {
        if (n != 2)
            return cn_buf_puts(why, "'url' takes one URL"), -1;
        if (cfg->url)
            return cn_buf_puts(why, "a second 'url'"), -1;
        cfg->url = normalize_url(words[1]);
    } else if (strcmp(words[0], "secret") == 0) {
        if (n != 3)
            return cn_buf_puts(why, "'secret' takes a URL and a secret"), -1;
        CN_GROW(cfg->secrets, cfg->cap, cfg->nsecrets + 1);
        cfg->secrets[cfg->nsecrets].url = normalize_url(words[1]);
        cfg->secrets[cfg->nsecrets].secret = xstrdup(words[2]);
        cfg->nsecrets++;
    } else {
        cn_buf_printf(why, "unknown directive '%s' (expected 'url' or 'secret')", words[0]);
        return -1;
    }
    return 0;
}

/*
 * Reads the configuration; a missing default file is no configuration at
 * all, a missing file named by CLOUDNET_CONFIG an error. 0, or -1 after
 * printing every problem as FILE:LINE: message.
 */
static int
net_config_load(struct net_config *cfg)
{
    const char *env = getenv("CLOUDNET_CONFIG");
    const char *home = getenv("HOME");
    struct cn_buf data = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    struct stat st;
    int ret = 0;

    memset(cfg, 0, sizeof(*cfg));
    if (env && *env)
        cfg->path = xstrdup(env);
    else if (home && *home)
        cfg->path = xasprintf("%s/.config/cloudnet/client.conf", home);
    else
        return 0;
    cn_buf_init(&data);
    if (cn_buf_read_file(&data, cfg->path, CN_CONF_MAX_SIZE) < 0) {
        if (errno == ENOENT && !(env && *env)) {
            free(cfg->path);
            cfg->path = NULL;
            cn_buf_release(&data);
            return 0;
        }
        log_warn("%s: %s", cfg->path, strerror(errno));
        cn_buf_release(&data);
        return -1;
    }
    if (stat(cfg->path, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
        log_warn("warning: %s: readable by others than its owner, and it holds secrets "
                 "(chmod 600 it)",
                 cfg->path);

    if (cn_conf_parse(cfg->path, data.s, 0, net_directive, cfg, &err) < 0) {
        fprintf(stderr, "%s\n", cn_err_msg(&err));
        ret = -1;
    }
    explicit_bzero(data.s, data.len);
    cn_buf_release(&data);
    cn_err_release(&err);
    return ret;
}

/* ---- options every network verb shares ---- */

struct net_opts {
    const char *url; /* --url or the positional URL of submit */
    bool json;
    long timeout_s;
    long lease_s;
    const char *id;
};

/* What a verb accepts beyond --url, --timeout and --json. */
enum {
    NET_SUBMIT = 1 << 0, /* the URL is an operand; --id and --lease */
    NET_LEASE = 1 << 1,  /* --lease */
};

enum {
    OPT_URL = 256,
    OPT_JSON,
    OPT_TIMEOUT,
    OPT_LEASE,
    OPT_ID,
};

/*
 * Parses the options of a verb (submit adds --id and --lease). Returns -1
 * when the verb is done (help printed: *ret_status CLI_OK; usage error:
 * CLI_USAGE), else 0 with optind at the first operand.
 */
static int
net_parse(const struct cli_verb *verb, int argc, char **argv, unsigned flags, struct net_opts *o,
          int *ret_status)
{
    static const struct option all[] = {
        {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"url", required_argument, NULL, OPT_URL},
        {"id", required_argument, NULL, OPT_ID},
        {"lease", required_argument, NULL, OPT_LEASE},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    o->timeout_s = DEFAULT_TIMEOUT_S;
    o->lease_s = DEFAULT_LEASE_S;
    optind = 1;
    while ((c = cli_next_option(verb, argc, argv, "h", all)) != -1) {
        switch (c) {
        case 'h':
            *ret_status = cli_help(verb);
            return -1;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_TIMEOUT:
            if (cn_parse_long(optarg, 1, 86400, &o->timeout_s) < 0) {
                *ret_status =
                    cli_usage_error(verb, "--timeout: '%s' is not 1..86400 seconds", optarg);
                return -1;
            }
            break;
        case OPT_URL:
            if (flags & NET_SUBMIT) {
                *ret_status = cli_usage_error(verb, "the URL is an operand, not --url");
                return -1;
            }
            o->url = optarg;
            break;
        case OPT_ID:
        case OPT_LEASE:
            if (!(flags & (c == OPT_ID ? NET_SUBMIT : NET_SUBMIT | NET_LEASE))) {
                *ret_status = cli_usage_error(verb, "unknown option '%s'", argv[optind - 1]);
                return -1;
            }
            if (c == OPT_ID) {
                o->id = optarg;
            } else if (cn_parse_long(optarg, 1, 86400 * 365, &o->lease_s) < 0) {
                *ret_status =
                    cli_usage_error(verb, "--lease: '%s' is not a number of seconds", optarg);
                return -1;
            }
            break;
        default:
            *ret_status = CLI_USAGE;
            return -1;
        }
    }
    return 0;
}

static bool net_global_done;

/* Frees the client and, once the last one is gone, the process-wide state. */
static void
net_disconnect(struct vnp_client *c)
{
    vnp_client_free(c);
    if (net_global_done) {
        vnp_client_global_cleanup();
        net_global_done = false;
    }
}

/*
 * The client for o->url (else the configuration's url) with its secret
 * (CLOUDNET_SECRET, else the configuration's); NULL after saying why.
 */
static struct vnp_client *
net_connect(const char *verb, const struct net_opts *o)
{
    struct net_config cfg;
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = NULL;
    char *url = NULL;
    const char *secret = getenv("CLOUDNET_SECRET");

    if (net_config_load(&cfg) < 0) {
        net_config_release(&cfg);
        return NULL;
    }
    if (o->url) {
        url = normalize_url(o->url);
    } else if (cfg.url) {
        url = xstrdup(cfg.url);
    } else {
        log_warn("%s: no URL: give --url URL or put 'url URL' in %s", verb,
                 cfg.path ? cfg.path : "~/.config/cloudnet/client.conf");
        goto cleanup;
    }
    if (!secret || !*secret) {
        secret = NULL;
        for (size_t i = 0; i < cfg.nsecrets; i++)
            if (strcmp(cfg.secrets[i].url, url) == 0)
                secret = cfg.secrets[i].secret;
    }
    if (!secret) {
        log_warn("%s: no secret for %s: set CLOUDNET_SECRET or put 'secret %s SECRET' in %s", verb,
                 url, url, cfg.path ? cfg.path : "~/.config/cloudnet/client.conf");
        goto cleanup;
    }
    if (!net_global_done) {
        if (vnp_client_global_init(&err) < 0) {
            log_warn("%s: %s", verb, cn_err_msg(&err));
            goto cleanup;
        }
        net_global_done = true;
        /* A manifest of a large CloudNet outgrows xmlrpc-c's default 512 KiB. */
        vnp_client_global_set_answer_limit(NET_ANSWER_LIMIT);
    }
    c = vnp_client_new(url, secret, (unsigned)o->timeout_s * 1000u, &err);
    if (!c)
        log_warn("%s: %s", verb, cn_err_msg(&err));
cleanup:
    free(url);
    net_config_release(&cfg);
    cn_err_release(&err);
    return c;
}

/*
 * "cloudnet: VERB ID: message (fault N)". A fault's message comes from the
 * peer, so the URL is added; the client's own messages name it already.
 * Further lines (a document's FILE:LINE:COL problems) follow unprefixed.
 */
static int
net_fail(const struct vnp_client *c, const char *verb, const char *id, const struct cn_err *err)
{
    const char *msg = cn_err_msg(err);
    const char *nl = strchr(msg, '\n');
    int first_len = nl ? (int)(nl - msg) : (int)strlen(msg);
    int fault = vnp_client_last_fault(c);
    char where[512];

    snprintf(where, sizeof(where), "%s%s%s", verb, id ? " " : "", id ? id : "");
    if (fault)
        log_warn("%s: %s: %.*s (fault %d)", where, vnp_client_url(c), first_len, msg, fault);
    else
        log_warn("%s: %.*s", where, first_len, msg);
    if (nl && nl[1])
        fprintf(stderr, "%s\n", nl + 1);
    return CLI_FAILURE;
}

/* ---- JSON, by hand: a handful of strings, numbers and nestings ---- */

static void
json_str(struct cn_buf *b, const char *s)
{
    if (!s) {
        cn_buf_puts(b, "null");
        return;
    }
    cn_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            cn_buf_puts(b, "\\\"");
            break;
        case '\\':
            cn_buf_puts(b, "\\\\");
            break;
        case '\n':
            cn_buf_puts(b, "\\n");
            break;
        case '\r':
            cn_buf_puts(b, "\\r");
            break;
        case '\t':
            cn_buf_puts(b, "\\t");
            break;
        default:
            if (*p < 0x20)
                cn_buf_printf(b, "\\u%04x", *p);
            else
                cn_buf_putc(b, (char)*p);
        }
    }
    cn_buf_putc(b, '"');
}

static void
json_key(struct cn_buf *b, bool *first, const char *key)
{
    if (!*first)
        cn_buf_putc(b, ',');
    *first = false;
    json_str(b, key);
    cn_buf_putc(b, ':');
}

static void
json_number(struct cn_buf *b, double v)
{
    if (!isfinite(v))
        cn_buf_puts(b, "null");
    else if (fabs(v) < 1e15 && v == (double)(long long)v)
        cn_buf_printf(b, "%lld", (long long)v);
    else
        cn_buf_printf(b, "%.17g", v);
}

static void
json_elements(struct cn_buf *b, const struct vnp_reply *r)
{
    bool first = true;
    cn_buf_putc(b, '{');
    for (size_t i = 0; i < r->nelements; i++) {
        json_key(b, &first, r->elements[i].element);
        json_str(b, r->elements[i].state);
    }
    cn_buf_putc(b, '}');
}

/* The members of a reply, inside an object the caller opened. */
static void
json_reply_members(struct cn_buf *b, bool *first, const struct vnp_reply *r,
                   const struct vnp_reply *with_providers)
{
    json_key(b, first, "id");
    json_str(b, r->id);
    json_key(b, first, "state");
    json_str(b, r->state);
    json_key(b, first, "expires");
    cn_buf_printf(b, "%lld", r->expires);
    json_key(b, first, "reason");
    json_str(b, r->reason);
    if (r->elements) {
        json_key(b, first, "elements");
        json_elements(b, r);
    }
    if (with_providers && with_providers->providers) {
        const struct vnp_reply *pr = with_providers;
        json_key(b, first, "providers");
        cn_buf_putc(b, '[');
        for (size_t i = 0; i < pr->nproviders; i++) {
            bool f = true;
            cn_buf_puts(b, i ? ",{" : "{");
            json_key(b, &f, "name");
            json_str(b, pr->providers[i].name);
            json_key(b, &f, "state");
            json_str(b, pr->providers[i].state);
            json_key(b, &f, "ms");
            json_number(b, pr->providers[i].ms);
            json_key(b, &f, "reason");
            json_str(b, pr->providers[i].reason);
            cn_buf_putc(b, '}');
        }
        cn_buf_putc(b, ']');
    }
}

static int
json_print(struct cn_buf *b)
{
    cn_buf_putc(b, '\n');
    int status = cli_write_stdout(b);
    cn_buf_release(b);
    return status;
}

static int
json_reply(const struct vnp_reply *r)
{
    struct cn_buf b = CN_BUF_INIT;
    bool first = true;
    cn_buf_init(&b);
    cn_buf_putc(&b, '{');
    json_reply_members(&b, &first, r, r);
    cn_buf_putc(&b, '}');
    return json_print(&b);
}

/* ---- text output ---- */

static void
format_expiry(char *buf, size_t size, long long expires)
{
    time_t t = (time_t)expires;
    struct tm tm;
    if (expires <= 0) {
        snprintf(buf, size, "-");
        return;
    }
    gmtime_r(&t, &tm);
    long long left = expires - (long long)time(NULL);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (left > 0)
        snprintf(buf, size, "%s (in %lld s)", when, left);
    else
        snprintf(buf, size, "%s (ended)", when);
}

static void
print_reply(const struct vnp_reply *r)
{
    char expiry[96];
    format_expiry(expiry, sizeof(expiry), r->expires);
    printf("id:      %s\nstate:   %s\nexpires: %s\n", r->id, r->state, expiry);
    if (r->reason)
        printf("reason:  %s\n", r->reason);
    if (r->nelements) {
        int w = 8;
        for (size_t i = 0; i < r->nelements; i++)
            if ((int)strlen(r->elements[i].element) > w)
                w = (int)strlen(r->elements[i].element);
        printf("elements:\n");
        for (size_t i = 0; i < r->nelements; i++)
            printf("  %-*s  %s\n", w, r->elements[i].element, r->elements[i].state);
    }
}

static int
reply_out(const struct net_opts *o, const struct vnp_reply *r)
{
    if (o->json)
        return json_reply(r);
    print_reply(r);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAILURE;
}

/*
 * The manifest in short: each element and where it went. Returns 0, or -1
 * when the manifest does not parse (reported, not fatal: the CloudNet is
 * there all the same).
 */
static int
manifest_summary(const char *yaml, bool json, struct cn_buf *b)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = rdl_read_string("manifest", yaml, strlen(yaml), &err);
    bool first = true;

    if (!g) {
        log_warn("the manifest does not parse: %s", cn_err_msg(&err));
        cn_err_release(&err);
        return -1;
    }
    if (json)
        cn_buf_putc(b, '{');
    for (size_t i = 0; i < rdl_mapping_count(g); i++) {
        const struct rdl_map_entry *m = rdl_mapping_at(g, i);
        const char *id = rdl_map_entry_id(m);
        int vlan = rdl_map_entry_vlan(m);
        if (json) {
            bool f = true;
            json_key(b, &first, id);
            cn_buf_putc(b, '{');
            if (rdl_map_entry_has_path(m)) {
                json_key(b, &f, "path");
                cn_buf_putc(b, '[');
                for (size_t j = 0; j < rdl_map_entry_path_len(m); j++) {
                    if (j)
                        cn_buf_putc(b, ',');
                    json_str(b, rdl_map_entry_path_at(m, j));
                }
                cn_buf_putc(b, ']');
                json_key(b, &f, "vlan");
                if (vlan >= 0)
                    cn_buf_printf(b, "%d", vlan);
                else
                    cn_buf_puts(b, "null");
            } else {
                json_key(b, &f, "to");
                json_str(b, rdl_map_entry_to(m));
            }
            cn_buf_putc(b, '}');
        } else if (rdl_map_entry_has_path(m)) {
            cn_buf_printf(b, "  %-16s link  ", id);
            for (size_t j = 0; j < rdl_map_entry_path_len(m); j++)
                cn_buf_printf(b, "%s%s", j ? " - " : "", rdl_map_entry_path_at(m, j));
            if (vlan >= 0)
                cn_buf_printf(b, "  vlan %d", vlan);
            cn_buf_putc(b, '\n');
        } else {
            cn_buf_printf(b, "  %-16s node  %s\n", id,
                          rdl_map_entry_to(m) ? rdl_map_entry_to(m) : "?");
        }
    }
    if (json)
        cn_buf_putc(b, '}');
    rdl_graph_free(g);
    cn_err_release(&err);
    return 0;
}

/* ---- submit ---- */

const char cli_submit_help[] =
    "Usage: cloudnet submit URL FILE [--id ID] [--lease S] [--timeout S] [--json]\n"
    "\n"
    "Submits the overlay FILE (a CloudNet request; - for standard input) to the\n"
    "PIP or VNP at URL (http://HOST:PORT[/RPC2]): checks it locally first\n"
    "(problems as FILE:LINE:COLUMN: message, nothing sent), negotiates it, then\n"
    "confirms it, and prints where every element went (node: its host or PIP;\n"
    "link: its path and VLAN tag). A VNP's answer also lists how each of its\n"
    "providers answered, in the order they did. If the confirmation fails, the\n"
    "allocation is released.\n"
    "\n"
    "  --id ID       the CloudNet's id (default: the document's name); repeating\n"
    "                a submit with the same id and document is harmless\n"
    "  --lease S     how long the peer holds the allocation before the\n"
    "                confirmation (default 300)\n"
    "  --timeout S   give up on an answer after S seconds (default 300)\n"
    "  --json        print one JSON object: the reply, the manifest summary\n"
    "                (\"manifest\") and the mapping document (\"manifest_yaml\")\n"
    "\n"
    "The secret comes from CLOUDNET_SECRET or from a 'secret URL SECRET' line of\n"
    "the client configuration ($CLOUDNET_CONFIG, default\n"
    "~/.config/cloudnet/client.conf); never from the command line.\n"
    "\n"
    "Exit status: 0 provisioned; 1 invalid document or refused (the reason and\n"
    "the fault number on standard error); 2 usage error.\n";

/* The whole of standard input into b; 0, or -1 after saying why. */
static int
read_stdin(struct cn_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (b->len + n > RDL_MAX_DOCUMENT_BYTES) {
            log_warn("<stdin>: document larger than %u bytes", RDL_MAX_DOCUMENT_BYTES);
            return -1;
        }
        cn_buf_add(b, chunk, n);
    }
    if (ferror(stdin)) {
        log_warn("<stdin>: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void
print_provider(const struct vnp_provider_report *p)
{
    printf("  %-16s %-12s %8.0f ms%s%s\n", p->name, p->state, p->ms, p->reason ? "  " : "",
           p->reason ? p->reason : "");
}

/* Provider names printed so far, so that each is printed once. */
struct printed {
    char **names;
    size_t n, cap;
};

static bool
printed_has(const struct printed *pr, const char *name)
{
    for (size_t i = 0; i < pr->n; i++)
        if (strcmp(pr->names[i], name) == 0)
            return true;
    return false;
}

static void
printed_add(struct printed *pr, const char *name)
{
    CN_GROW(pr->names, pr->cap, pr->n + 1);
    pr->names[pr->n++] = xstrdup(name);
}

static void
printed_release(struct printed *pr)
{
    for (size_t i = 0; i < pr->n; i++)
        free(pr->names[i]);
    free(pr->names);
}

/* "manifest" (the summary, null when it cannot be read) and "manifest_yaml", when there is one. */
static void
json_manifest_members(struct cn_buf *b, bool *first, const char *manifest_yaml)
{
    if (!manifest_yaml)
        return;
    json_key(b, first, "manifest");
    size_t before = b->len;
    if (manifest_summary(manifest_yaml, true, b) < 0) {
        b->len = before;
        b->s[before] = '\0';
        cn_buf_puts(b, "null");
    }
    json_key(b, first, "manifest_yaml");
    json_str(b, manifest_yaml);
}

static int
print_providers(const struct vnp_reply *r, struct printed *pr)
{
    /* One line per provider not printed yet, in the order they answered. */
    size_t *order = xcalloc(r->nproviders + 1, sizeof(*order));
    for (size_t i = 0; i < r->nproviders; i++) {
        size_t j = i;
        while (j > 0 && r->providers[order[j - 1]].ms > r->providers[i].ms) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t k = 0; k < r->nproviders; k++) {
        const struct vnp_provider_report *p = &r->providers[order[k]];
        if (!printed_has(pr, p->name))
            print_provider(p);
    }
    free(order);
    return 0;
}

/* negotiate, run on a thread of its own while the caller's polls progress. */
struct negotiation {
    struct vnp_client *c;
    const char *id;
    const char *yaml;
    long lease_s;
    struct vnp_reply *reply;
    struct cn_err err;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool over;
};

static void *
negotiation_thread(void *arg)
{
    struct negotiation *n = arg;
    struct vnp_reply *r = vnp_client_negotiate(n->c, n->id, n->yaml, n->lease_s, &n->err);
    pthread_mutex_lock(&n->lock);
    n->reply = r;
    n->over = true;
    pthread_cond_signal(&n->cond);
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

/* Waits up to ms for the negotiation to end; whether it has. */
static bool
negotiation_wait(struct negotiation *n, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&n->lock);
    while (!n->over && pthread_cond_timedwait(&n->cond, &n->lock, &until) == 0)
        ;
    bool over = n->over;
    pthread_mutex_unlock(&n->lock);
    return over;
}

/* Prints the providers progress() reports that are not printed yet; false: stop polling. */
static bool
poll_progress(struct vnp_client *p, const char *id, struct printed *pr)
{
    struct cn_err err = CN_ERR_INIT;
    struct vnp_provider_report *reps = NULL;
    size_t n = 0;
    bool done = false;
    bool more;

    if (vnp_client_progress(p, id, &reps, &n, &done, &err) < 0) {
        /*
         * Not found: the broker has not started (or already forgot) the
         * negotiation. A PIP has no progress at all, and anything else
         * leaves the lines to negotiate's answer.
         */
        more = err.code == CN_E_NOTFOUND && vnp_client_last_fault(p) > 0;
        cn_err_release(&err);
        return more;
    }
    for (size_t i = 0; i < n; i++)
        if (!printed_has(pr, reps[i].name)) {
            print_provider(&reps[i]);
            printed_add(pr, reps[i].name);
        }
    fflush(stdout);
    vnp_provider_reports_free(reps, n);
    return !done;
}

/*
 * Negotiates on a thread with c while polling progress with p every 100 ms,
 * printing each provider's line as it answers. The reply, or NULL with err
 * set (and c's last fault).
 */
static struct vnp_reply *
negotiate_live(struct vnp_client *c, struct vnp_client *p, const char *id, const char *yaml,
               long lease_s, struct printed *pr, struct cn_err *err)
{
    struct negotiation n = {.c = c, .id = id, .yaml = yaml, .lease_s = lease_s};
    pthread_t t;
    bool polling = p != NULL;

    cn_err_init(&n.err);
    pthread_mutex_init(&n.lock, NULL);
    pthread_cond_init(&n.cond, NULL);
    if (pthread_create(&t, NULL, negotiation_thread, &n) != 0) {
        negotiation_thread(&n);
    } else {
        while (!negotiation_wait(&n, 100))
            if (polling)
                polling = poll_progress(p, id, pr);
        pthread_join(t, NULL);
    }
    if (!n.reply)
        cn_err_set(err, n.err.code, "%s", cn_err_msg(&n.err));
    cn_err_release(&n.err);
    pthread_mutex_destroy(&n.lock);
    pthread_cond_destroy(&n.cond);
    return n.reply;
}

int
cli_submit(const struct cli_verb *verb, int argc, char **argv)
{
    struct net_opts o;
    struct cn_buf yaml = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = NULL;
    struct vnp_client *c = NULL, *poller = NULL;
    struct vnp_reply *neg = NULL, *conf = NULL;
    struct printed printed = {0};
    char *id = NULL;
    int status = CLI_FAILURE;

    if (net_parse(verb, argc, argv, NET_SUBMIT, &o, &status) < 0)
        return status;
    if (argc - optind != 2)
        return cli_usage_error(verb, "expected URL and FILE");
    o.url = argv[optind];
    const char *file = argv[optind + 1];

    cn_buf_init(&yaml);
    if (strcmp(file, "-") == 0) {
        file = "<stdin>";
        if (read_stdin(&yaml) < 0)
            goto cleanup;
    } else if (cn_buf_read_file(&yaml, file, RDL_MAX_DOCUMENT_BYTES) < 0) {
        log_warn("%s: %s", file, strerror(errno));
        goto cleanup;
    }
    g = rdl_read_string(file, yaml.s, yaml.len, &err);
    if (!g) {
        cli_print_err(&err);
        goto cleanup;
    }
    if (rdl_graph_kind(g) != RDL_OVERLAY) {
        log_warn("%s: submit needs an overlay document, this is an %s", file,
                 rdl_kind_name(rdl_graph_kind(g)));
        goto cleanup;
    }
    id = xstrdup(o.id ? o.id : rdl_graph_name(g));
    c = net_connect(verb->name, &o);
    if (!c)
        goto cleanup;

    if (!o.json)
        printf("%s: negotiating with %s\n", id, vnp_client_url(c));
    fflush(stdout);
    if (o.json) {
        neg = vnp_client_negotiate(c, id, yaml.s, o.lease_s, &err);
    } else {
        /* Without a second client the lines all come with negotiate's answer. */
        poller = net_connect(verb->name, &o);
        neg = negotiate_live(c, poller, id, yaml.s, o.lease_s, &printed, &err);
    }
    if (!neg) {
        status = net_fail(c, verb->name, id, &err);
        goto cleanup;
    }
    if (!o.json) {
        print_providers(neg, &printed);
        printf("%s: %s, confirming\n", id, neg->state);
        fflush(stdout);
    }
    conf = vnp_client_confirm(c, id, &err);
    if (!conf) {
        status = net_fail(c, verb->name, id, &err);
        /* Do not leave capacity held until the lease runs out. */
        struct cn_err rerr = CN_ERR_INIT;
        struct vnp_reply *rel = vnp_client_release(c, id, &rerr);
        if (rel)
            log_warn("%s %s: released", verb->name, id);
        else
            log_warn("%s %s: release after the failed confirmation failed too: %s", verb->name, id,
                     cn_err_msg(&rerr));
        vnp_reply_free(rel);
        cn_err_release(&rerr);
        goto cleanup;
    }

    struct cn_buf out = CN_BUF_INIT;
    cn_buf_init(&out);
    if (o.json) {
        bool first = true;
        cn_buf_putc(&out, '{');
        /* The confirmation's answer, with how the providers answered negotiate. */
        json_reply_members(&out, &first, conf, conf->providers ? conf : neg);
        json_manifest_members(&out, &first, neg->manifest_yaml);
        cn_buf_putc(&out, '}');
        status = json_print(&out);
    } else {
        printf("%s: %s\n", id, conf->state);
        if (neg->manifest_yaml)
            manifest_summary(neg->manifest_yaml, false, &out);
        status = cli_write_stdout(&out);
        cn_buf_release(&out);
    }

cleanup:
    vnp_reply_free(neg);
    vnp_reply_free(conf);
    printed_release(&printed);
    vnp_client_free(poller);
    net_disconnect(c);
    rdl_graph_free(g);
    free(id);
    cn_buf_release(&yaml);
    cn_err_release(&err);
    return status;
}

/*
 * FILE ("-": standard input) read and checked to be an overlay, into yaml;
 * -1 after saying why. *ret_file is the name to show.
 */
static int
read_overlay(const char *file, struct cn_buf *yaml, const char *verb, const char **ret_file)
{
    struct cn_err err = CN_ERR_INIT;
    struct rdl_graph *g = NULL;
    int ret = -1;

    if (strcmp(file, "-") == 0) {
        file = "<stdin>";
        if (read_stdin(yaml) < 0)
            goto cleanup;
    } else if (cn_buf_read_file(yaml, file, RDL_MAX_DOCUMENT_BYTES) < 0) {
        log_warn("%s: %s", file, strerror(errno));
        goto cleanup;
    }
    g = rdl_read_string(file, yaml->s, yaml->len, &err);
    if (!g) {
        cli_print_err(&err);
        goto cleanup;
    }
    if (rdl_graph_kind(g) != RDL_OVERLAY) {
        log_warn("%s: %s needs an overlay document, this is an %s", file, verb,
                 rdl_kind_name(rdl_graph_kind(g)));
        goto cleanup;
    }
    *ret_file = file;
    ret = 0;
cleanup:
    rdl_graph_free(g);
    cn_err_release(&err);
    return ret;
}

int
cli_modify(const struct cli_verb *verb, int argc, char **argv)
{
    struct net_opts o;
    struct cn_buf yaml = CN_BUF_INIT;
    struct cn_err err = CN_ERR_INIT;
    struct vnp_client *c = NULL;
    struct vnp_reply *r = NULL;
    int status = CLI_FAILURE;
    const char *file = NULL;

    if (net_parse(verb, argc, argv, 0, &o, &status) < 0)
        return status;
    if (argc - optind != 2)
        return cli_usage_error(verb, "expected ID and FILE");
    const char *id = argv[optind];
    cn_buf_init(&yaml);
    if (read_overlay(argv[optind + 1], &yaml, verb->name, &file) < 0)
        goto cleanup;
    c = net_connect(verb->name, &o);
    if (!c)
        goto cleanup;
    r = vnp_client_modify(c, id, yaml.s, &err);
    if (!r) {
        status = net_fail(c, verb->name, id, &err);
        goto cleanup;
    }
    struct cn_buf out = CN_BUF_INIT;
    cn_buf_init(&out);
    if (o.json) {
        bool first = true;
        cn_buf_putc(&out, '{');
        json_reply_members(&out, &first, r, r);
        json_manifest_members(&out, &first, r->manifest_yaml);
        cn_buf_putc(&out, '}');
        status = json_print(&out);
    } else {
        struct printed printed = {0};
        print_providers(r, &printed);
        printed_release(&printed);
        printf("%s: %s\n", id, r->state);
        if (r->manifest_yaml)
            manifest_summary(r->manifest_yaml, false, &out);
        status = cli_write_stdout(&out);
        cn_buf_release(&out);
    }
cleanup:
    vnp_reply_free(r);
    net_disconnect(c);
    cn_buf_release(&yaml);
    cn_err_release(&err);
    return status;
}

/* ---- the verbs on one CloudNet ---- */

#define NET_COMMON_HELP                                                                            \
    "\n"                                                                                           \
    "  --url URL     the PIP or VNP (default: the 'url' line of the client\n"                      \
    "                configuration)\n"                                                             \
    "  --timeout S   give up on an answer after S seconds (default 300)\n"                         \
    "  --json        print the answer as one JSON value\n"                                         \
    "\n"                                                                                           \
    "The secret comes from CLOUDNET_SECRET or the client configuration\n"                          \
    "($CLOUDNET_CONFIG, default ~/.config/cloudnet/client.conf). Exit status: 0\n"                 \
    "success; 1 failure (the reason and the fault number on standard error); 2\n"                  \
    "usage error.\n"

const char cli_modify_help[] =
    "Usage: cloudnet modify ID FILE [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Reads and validates FILE (-: standard input) locally, an overlay (problems\n"
    "as FILE:LINE:COLUMN: message, nothing sent), then asks the PIP or VNP to\n"
    "change the live CloudNet ID to it: the whole new document, with elements\n"
    "added or removed and resources (a link's bandwidth) changed. VNodes that\n"
    "stay keep their hosts (and, at a VNP, their PIPs); the state and the lease\n"
    "do not change. On any refusal nothing changes. Shows how each provider\n"
    "answered (at a VNP), the state, and where every element went. With\n"
    "--json: the result struct's members, \"manifest\" (the summary) and\n"
    "\"manifest_yaml\".\n" NET_COMMON_HELP;

const char cli_status_help[] =
    "Usage: cloudnet status ID [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Shows the CloudNet's state (allocated, provisioned, released, failed), the\n"
    "end of its lease, why it was released, and each element's operational\n"
    "state (VNodes: absent, defined, running, paused, crashed; VLinks:\n"
    "configured or absent).\n" NET_COMMON_HELP;

const char cli_list_help[] =
    "Usage: cloudnet list [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Lists your CloudNets at the peer: id, state and lease end.\n" NET_COMMON_HELP;

const char cli_release_help[] =
    "Usage: cloudnet release ID [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Releases the CloudNet from any state: its VNodes are destroyed and its\n"
    "resources and VLAN tags freed. Releasing twice is harmless.\n" NET_COMMON_HELP;

const char cli_start_help[] =
    "Usage: cloudnet start ID [ELEMENT]... [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Starts the named VNodes of a provisioned CloudNet, or all of them, and\n"
    "shows each element's state afterwards.\n" NET_COMMON_HELP;

const char cli_stop_help[] =
    "Usage: cloudnet stop ID [ELEMENT]... [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Powers off (hard) the named VNodes of a provisioned CloudNet, or all of\n"
    "them, and shows each element's state afterwards.\n" NET_COMMON_HELP;

const char cli_powercycle_help[] =
    "Usage: cloudnet powercycle ID [ELEMENT]... [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Resets (hard) the named VNodes of a provisioned CloudNet, or all of them; a\n"
    "stopped VNode is started. Shows each element's state afterwards.\n" NET_COMMON_HELP;

const char cli_renew_help[] =
    "Usage: cloudnet renew ID [--lease S] [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Extends the lease of an allocated CloudNet to S seconds from now (default\n"
    "300, capped by the peer) and shows the expiry granted. A provisioned\n"
    "CloudNet has no lease.\n" NET_COMMON_HELP;

const char cli_describe_help[] =
    "Usage: cloudnet describe [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Shows the peer's advertisement: its name and version, free resources,\n"
    "capacity and the most free on one node, the feature values it offers, the\n"
    "VLAN tags free everywhere and its transit links.\n" NET_COMMON_HELP;

const char cli_console_help[] =
    "Usage: cloudnet console ID ELEMENT [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Prints where the VNode's console is: LIBVIRT-URI#DOMAIN (then\n"
    "'virsh -c LIBVIRT-URI console DOMAIN') or netns:NAME.\n" NET_COMMON_HELP;

const char cli_manifest_help[] =
    "Usage: cloudnet manifest ID [--url URL] [--timeout S] [--json]\n"
    "\n"
    "Prints the CloudNet's mapping document (RDL, kind: mapping): where every\n"
    "element sits, with its resources, final feature values and VLAN tags.\n"
    "With --json: {\"id\", \"manifest\" (the summary), \"manifest_yaml\"}.\n" NET_COMMON_HELP;

/* Parses options and exactly min..max operands, and connects. */
static struct vnp_client *
net_begin(const struct cli_verb *verb, int argc, char **argv, unsigned flags, int min, int max,
          struct net_opts *o, int *ret_status)
{
    struct vnp_client *c;

    if (net_parse(verb, argc, argv, flags, o, ret_status) < 0)
        return NULL;
    int n = argc - optind;
    if (n < min || (max >= 0 && n > max)) {
        *ret_status = cli_usage_error(verb, n < min ? "missing arguments" : "too many arguments");
        return NULL;
    }
    c = net_connect(verb->name, o);
    if (!c)
        *ret_status = CLI_FAILURE;
    return c;
}

/* The verbs that make one call about an id and print the result struct it answers. */
enum net_call {
    NET_STATUS,
    NET_RELEASE,
    NET_RENEW,
    NET_START,
    NET_STOP,
    NET_POWERCYCLE,
};

static int
reply_verb(const struct cli_verb *verb, int argc, char **argv, enum net_call call)
{
    static const enum vnp_power_op power_ops[] = {
        [NET_START] = VNP_START,
        [NET_STOP] = VNP_STOP,
        [NET_POWERCYCLE] = VNP_POWERCYCLE,
    };
    bool power = call >= NET_START;
    struct net_opts o;
    struct cn_err err = CN_ERR_INIT;
    struct vnp_reply *r = NULL;
    int status;
    /* The power verbs take element names after the id. */
    struct vnp_client *c = net_begin(verb, argc, argv, call == NET_RENEW ? NET_LEASE : 0, 1,
                                     power ? -1 : 1, &o, &status);
    if (!c)
        return status;
    const char *id = argv[optind];
    switch (call) {
    case NET_STATUS:
        r = vnp_client_status(c, id, &err);
        break;
    case NET_RELEASE:
        r = vnp_client_release(c, id, &err);
        break;
    case NET_RENEW:
        r = vnp_client_renew(c, id, o.lease_s, &err);
        break;
    case NET_START:
    case NET_STOP:
    case NET_POWERCYCLE:
        r = vnp_client_power(c, power_ops[call], id, (const char *const *)(argv + optind + 1),
                             (size_t)(argc - optind - 1), &err);
        break;
    }
    status = r ? reply_out(&o, r) : net_fail(c, verb->name, id, &err);
    vnp_reply_free(r);
    net_disconnect(c);
    cn_err_release(&err);
    return status;
}

int
cli_status(const struct cli_verb *verb, int argc, char **argv)
{
    return reply_verb(verb, argc, argv, NET_STATUS);
}

int
cli_release(const struct cli_verb *verb, int argc, char **argv)
{
    return reply_verb(verb, argc, argv, NET_RELEASE);
}

int
cli_start(const struct cli_verb *verb, int argc, char **argv)
{
    return reply_verb(verb, argc, argv, NET_START);
}

int
cli_stop(const struct cli_verb *verb, int argc, char **argv)
{
    return reply_verb(verb, argc, argv, NET_STOP);
}

int
cli_powercycle(const struct cli_verb *verb, int argc, char **argv)
{
    return reply_verb(verb, argc, argv, NET_POWERCYCLE);
}

int
cli_renew(const struct cli_verb *verb, int argc, char **argv)
{
    return reply_verb(verb, argc, argv, NET_RENEW);
}

static void
json_amounts(struct cn_buf *b, bool *first, const char *key, const struct vnp_amount *a, size_t n)
{
    bool f = true;
    json_key(b, first, key);
    cn_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        json_key(b, &f, a[i].name);
        json_number(b, a[i].value);
    }
    cn_buf_putc(b, '}');
}

static double
amount_of(const struct vnp_amount *a, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i].name, name) == 0)
            return a[i].value;
    return 0;
}

static void
describe_json(struct cn_buf *b, const struct vnp_description *d)
{
    bool first = true, f = true;
    cn_buf_putc(b, '{');
    json_key(b, &first, "name");
    json_str(b, d->name);
    json_key(b, &first, "version");
    json_str(b, d->version);
    json_amounts(b, &first, "resources", d->resources, d->nresources);
    json_amounts(b, &first, "capacity", d->capacity, d->ncapacity);
    json_amounts(b, &first, "largest_free", d->largest_free, d->nlargest_free);
    json_key(b, &first, "features");
    cn_buf_putc(b, '{');
    for (size_t i = 0; i < d->nfeatures; i++) {
        json_key(b, &f, d->features[i].name);
        cn_buf_putc(b, '[');
        for (size_t j = 0; j < d->features[i].nvalues; j++) {
            if (j)
                cn_buf_putc(b, ',');
            json_str(b, d->features[i].values[j]);
        }
        cn_buf_putc(b, ']');
    }
    cn_buf_putc(b, '}');
    json_key(b, &first, "vlan_ranges");
    cn_buf_putc(b, '[');
    for (size_t i = 0; i < d->nvlan_ranges; i++)
        cn_buf_printf(b, "%s[%d,%d]", i ? "," : "", d->vlan_ranges[i].first,
                      d->vlan_ranges[i].last);
    cn_buf_putc(b, ']');
    json_key(b, &first, "transit");
    cn_buf_putc(b, '[');
    for (size_t i = 0; i < d->ntransits; i++) {
        cn_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        json_str(b, d->transits[i].id);
        cn_buf_printf(b, ",\"vlan_range\":[%d,%d]}", d->transits[i].first, d->transits[i].last);
    }
    cn_buf_puts(b, "]}");
}

static void
describe_text(struct cn_buf *b, const struct vnp_description *d)
{
    cn_buf_printf(b, "name:    %s\nversion: %s\n", d->name, d->version ? d->version : "-");
    cn_buf_puts(b, "resources (free, capacity, largest free on one node):\n");
    for (size_t i = 0; i < d->ncapacity; i++) {
        const char *name = d->capacity[i].name;
        cn_buf_printf(b, "  %-12s %10g %10g %10g\n", name,
                      amount_of(d->resources, d->nresources, name), d->capacity[i].value,
                      amount_of(d->largest_free, d->nlargest_free, name));
    }
    if (d->nfeatures)
        cn_buf_puts(b, "features:\n");
    for (size_t i = 0; i < d->nfeatures; i++) {
        cn_buf_printf(b, "  %-12s", d->features[i].name);
        for (size_t j = 0; j < d->features[i].nvalues; j++)
            cn_buf_printf(b, " %s", d->features[i].values[j]);
        cn_buf_putc(b, '\n');
    }
    cn_buf_puts(b, "free VLAN tags:");
    for (size_t i = 0; i < d->nvlan_ranges; i++)
        cn_buf_printf(b, " %d-%d", d->vlan_ranges[i].first, d->vlan_ranges[i].last);
    cn_buf_puts(b, d->nvlan_ranges ? "\n" : " none\n");
    for (size_t i = 0; i < d->ntransits; i++)
        cn_buf_printf(b, "transit %s: VLAN %d-%d\n", d->transits[i].id, d->transits[i].first,
                      d->transits[i].last);
}

int
cli_describe(const struct cli_verb *verb, int argc, char **argv)
{
    struct net_opts o;
    struct cn_err err = CN_ERR_INIT;
    int status;
    struct vnp_client *c = net_begin(verb, argc, argv, 0, 0, 0, &o, &status);
    if (!c)
        return status;
    struct vnp_description *d = vnp_client_describe(c, &err);
    if (!d) {
        status = net_fail(c, verb->name, NULL, &err);
    } else {
        struct cn_buf b = CN_BUF_INIT;
        cn_buf_init(&b);
        if (o.json) {
            describe_json(&b, d);
            status = json_print(&b);
        } else {
            describe_text(&b, d);
            status = cli_write_stdout(&b);
            cn_buf_release(&b);
        }
    }
    vnp_description_free(d);
    net_disconnect(c);
    cn_err_release(&err);
    return status;
}

int
cli_console(const struct cli_verb *verb, int argc, char **argv)
{
    struct net_opts o;
    struct cn_err err = CN_ERR_INIT;
    int status;
    struct vnp_client *c = net_begin(verb, argc, argv, 0, 2, 2, &o, &status);
    if (!c)
        return status;
    const char *id = argv[optind], *element = argv[optind + 1];
    char *where = vnp_client_console(c, id, element, &err);
    if (!where) {
        status = net_fail(c, verb->name, id, &err);
    } else if (o.json) {
        struct cn_buf b = CN_BUF_INIT;
        bool first = true;
        cn_buf_init(&b);
        cn_buf_putc(&b, '{');
        json_key(&b, &first, "id");
        json_str(&b, id);
        json_key(&b, &first, "element");
        json_str(&b, element);
        json_key(&b, &first, "console");
        json_str(&b, where);
        cn_buf_putc(&b, '}');
        status = json_print(&b);
    } else {
        printf("%s\n", where);
        status = fflush(stdout) == 0 ? CLI_OK : CLI_FAILURE;
    }
    free(where);
    net_disconnect(c);
    cn_err_release(&err);
    return status;
}

int
cli_manifest(const struct cli_verb *verb, int argc, char **argv)
{
    struct net_opts o;
    struct cn_err err = CN_ERR_INIT;
    int status;
    struct vnp_client *c = net_begin(verb, argc, argv, 0, 1, 1, &o, &status);
    if (!c)
        return status;
    const char *id = argv[optind];
    struct vnp_reply *r = vnp_client_status(c, id, &err);
    if (!r) {
        status = net_fail(c, verb->name, id, &err);
    } else if (!r->manifest_yaml) {
        log_warn("%s %s: %s does not report the manifest in status (state %s)", verb->name, id,
                 vnp_client_url(c), r->state);
        status = CLI_FAILURE;
    } else if (o.json) {
        struct cn_buf b = CN_BUF_INIT;
        bool first = true;
        cn_buf_init(&b);
        cn_buf_putc(&b, '{');
        json_key(&b, &first, "id");
        json_str(&b, r->id);
        json_key(&b, &first, "manifest");
        size_t before = b.len;
        if (manifest_summary(r->manifest_yaml, true, &b) < 0) {
            b.len = before;
            b.s[before] = '\0';
            cn_buf_puts(&b, "null");
        }
        json_key(&b, &first, "manifest_yaml");
        json_str(&b, r->manifest_yaml);
        cn_buf_putc(&b, '}');
        status = json_print(&b);
    } else {
        fputs(r->manifest_yaml, stdout);
        size_t len = strlen(r->manifest_yaml);
        if (len && r->manifest_yaml[len - 1] != '\n')
            putchar('\n');
        status = fflush(stdout) == 0 ? CLI_OK : CLI_FAILURE;
    }
    vnp_reply_free(r);
    net_disconnect(c);
    cn_err_release(&err);
    return status;
}

int
cli_list(const struct cli_verb *verb, int argc, char **argv)
{
    struct net_opts o;
    struct cn_err err = CN_ERR_INIT;
    struct vnp_listing *l = NULL;
    size_t n = 0;
    int status;
    struct vnp_client *c = net_begin(verb, argc, argv, 0, 0, 0, &o, &status);
    if (!c)
        return status;
    if (vnp_client_list(c, &l, &n, &err) < 0) {
        status = net_fail(c, verb->name, NULL, &err);
    } else if (o.json) {
        struct cn_buf b = CN_BUF_INIT;
        cn_buf_init(&b);
        cn_buf_putc(&b, '[');
        for (size_t i = 0; i < n; i++) {
            bool first = true;
            cn_buf_puts(&b, i ? ",{" : "{");
            json_key(&b, &first, "id");
            json_str(&b, l[i].id);
            json_key(&b, &first, "state");
            json_str(&b, l[i].state);
            json_key(&b, &first, "expires");
            cn_buf_printf(&b, "%lld", l[i].expires);
            cn_buf_putc(&b, '}');
        }
        cn_buf_putc(&b, ']');
        status = json_print(&b);
    } else {
        int w = 2;
        for (size_t i = 0; i < n; i++)
            if ((int)strlen(l[i].id) > w)
                w = (int)strlen(l[i].id);
        printf("%-*s  %-12s  %s\n", w, "ID", "STATE", "EXPIRES");
        for (size_t i = 0; i < n; i++) {
            char expiry[96];
            format_expiry(expiry, sizeof(expiry), l[i].expires);
            printf("%-*s  %-12s  %s\n", w, l[i].id, l[i].state, expiry);
        }
        status = fflush(stdout) == 0 ? CLI_OK : CLI_FAILURE;
    }
    vnp_listing_free(l, n);
    net_disconnect(c);
    cn_err_release(&err);
    return status;
}
