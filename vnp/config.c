/*
 * vnpd's configuration file (docs/vnpd.md), in the daemons' shared format
 * (util/conf.h): one directive per line, words separated by blanks, '#'
 * starts a comment. Every problem is reported as "FILE:LINE: message" and
 * reading goes on, so all mistakes show at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/conf.h"
#include "util/util.h"
#include "vnp/vnpd.h"

#define MAX_WORDS 16

struct vnpd_config *
vnpd_config_new(void)
{
    struct vnpd_config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->name = xstrdup("vnp");
    cfg->listen_host = xstrdup("127.0.0.1");
    cfg->listen_port = 7100;
    cfg->db_name = xstrdup("vnpd");
    cfg->call_timeout_s = 10;
    cfg->lease_s = 60;
    cfg->map_time_limit_s = 10;
    cfg->max_request = 1024 * 1024;
    return cfg;
}

void
vnpd_config_free(struct vnpd_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->name);
    free(cfg->listen_host);
    free(cfg->db_socket);
    free(cfg->db_host);
    free(cfg->db_name);
    free(cfg->db_user);
    for (size_t i = 0; i < cfg->npeers; i++) {
        free(cfg->peers[i].name);
        free(cfg->peers[i].secret);
    }
    free(cfg->peers);
    for (size_t i = 0; i < cfg->npips; i++) {
        free(cfg->pips[i].name);
        free(cfg->pips[i].url);
        free(cfg->pips[i].secret);
    }
    free(cfg->pips);
    for (size_t i = 0; i < cfg->ntransits; i++) {
        free(cfg->transits[i].id);
        free(cfg->transits[i].pip[0]);
        free(cfg->transits[i].pip[1]);
    }
    free(cfg->transits);
    free(cfg);
}

static void
replace(char **slot, const char *value)
{
    free(*slot);
    *slot = xstrdup(value);
}

static const struct vnpd_pip *
find_pip(const struct vnpd_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->npips; i++)
        if (cn_streq(cfg->pips[i].name, name))
            return &cfg->pips[i];
    return NULL;
}

static int
do_listen(struct vnpd_config *cfg, char **w, struct cn_buf *why)
{
    char *colon = strrchr(w[1], ':');
    const char *host = w[1];
    long port;
    if (!colon || cn_parse_long(colon + 1, 1, 65535, &port) < 0 || colon == w[1]) {
        cn_buf_printf(why, "bad listen address '%s' (HOST:PORT)", w[1]);
        return -1;
    }
    *colon = '\0';
    if (host[0] == '[' && colon[-1] == ']') {
        colon[-1] = '\0';
        host++;
    }
    replace(&cfg->listen_host, host);
    cfg->listen_port = (unsigned)port;
    return 0;
}

static int
do_database(struct vnpd_config *cfg, char **w, size_t n, struct cn_buf *why)
{
    for (size_t i = 1; i < n; i++) {
        char *v = strchr(w[i], '=');
        long port;
        if (!v) {
            cn_buf_printf(why, "'%s' is not KEY=VALUE", w[i]);
            return -1;
        }
        *v++ = '\0';
        if (cn_streq(w[i], "socket"))
            replace(&cfg->db_socket, v);
        else if (cn_streq(w[i], "host"))
            replace(&cfg->db_host, v);
        else if (cn_streq(w[i], "name"))
            replace(&cfg->db_name, v);
        else if (cn_streq(w[i], "user"))
            replace(&cfg->db_user, v);
        else if (cn_streq(w[i], "port") && cn_parse_long(v, 1, 65535, &port) == 0)
            cfg->db_port = (unsigned)port;
        else if (cn_streq(w[i], "password"))
            return cn_buf_puts(why, "the password comes from VNPD_DB_PASSWORD, not the file"), -1;
        else
            return cn_buf_printf(why, "bad database setting '%s'", w[i]), -1;
    }
    return 0;
}

static int
do_peer(struct vnpd_config *cfg, char **w, size_t n, struct cn_buf *why)
{
    if (n != 3)
        return cn_buf_puts(why, "usage: peer NAME SECRET"), -1;
    if (strlen(w[2]) < 8)
        return cn_buf_puts(why, "a peer secret must have at least 8 characters"), -1;
    for (size_t i = 0; i < cfg->npeers; i++)
        if (cn_streq(cfg->peers[i].name, w[1]))
            return cn_buf_printf(why, "peer '%s' is configured twice", w[1]), -1;
    cfg->peers = xrealloc(cfg->peers, (cfg->npeers + 1) * sizeof(*cfg->peers));
    cfg->peers[cfg->npeers++] = (struct vnpd_peer){xstrdup(w[1]), xstrdup(w[2])};
    return 0;
}

static int
do_pip(struct vnpd_config *cfg, char **w, size_t n, struct cn_buf *why)
{
    if (n != 4)
        return cn_buf_puts(why, "usage: pip NAME URL SECRET"), -1;
    if (find_pip(cfg, w[1]))
        return cn_buf_printf(why, "pip '%s' is configured twice", w[1]), -1;
    if (!cn_startswith(w[2], "http://") && !cn_startswith(w[2], "https://"))
        return cn_buf_printf(why, "pip URL '%s' is not http:// or https://", w[2]), -1;
    cfg->pips = xrealloc(cfg->pips, (cfg->npips + 1) * sizeof(*cfg->pips));
    cfg->pips[cfg->npips++] = (struct vnpd_pip){xstrdup(w[1]), xstrdup(w[2]), xstrdup(w[3])};
    return 0;
}

/* "PIP:FIRST-LAST" into one end of t. */
static int
transit_end(const struct vnpd_config *cfg, struct vnp_transit_conf *t, int end, const char *s,
            struct cn_buf *why)
{
    const char *colon = strrchr(s, ':');
    int first, last, used = 0;
    if (!colon || sscanf(colon + 1, "%d-%d%n", &first, &last, &used) != 2 ||
        colon[1 + used] != '\0' || first < 1 || last > 4094 || first > last)
        return cn_buf_printf(why, "'%s' is not PIP:FIRST-LAST (tags 1-4094)", s), -1;
    t->pip[end] = xstrndup(s, (size_t)(colon - s));
    t->first[end] = first;
    t->last[end] = last;
    if (!find_pip(cfg, t->pip[end]))
        return cn_buf_printf(why, "transit end '%s' is not a configured pip", t->pip[end]), -1;
    return 0;
}

static int
do_transit(struct vnpd_config *cfg, char **w, size_t n, struct cn_buf *why)
{
    struct vnp_transit_conf t = {0};
    int ret = -1;
    if (n != 6) {
        cn_buf_puts(why, "usage: transit ID PIP:FIRST-LAST PIP:FIRST-LAST bandwidth=N latency=N");
        goto cleanup;
    }
    t.id = xstrdup(w[1]);
    for (size_t i = 0; i < cfg->ntransits; i++)
        if (cn_streq(cfg->transits[i].id, t.id)) {
            cn_buf_printf(why, "transit '%s' is configured twice", t.id);
            goto cleanup;
        }
    if (transit_end(cfg, &t, 0, w[2], why) < 0 || transit_end(cfg, &t, 1, w[3], why) < 0)
        goto cleanup;
    if (cn_streq(t.pip[0], t.pip[1])) {
        cn_buf_printf(why, "transit '%s' joins '%s' to itself", t.id, t.pip[0]);
        goto cleanup;
    }
    if (!cn_startswith(w[4], "bandwidth=") || cn_parse_double(w[4] + 10, &t.bandwidth) < 0 ||
        t.bandwidth <= 0 || !cn_startswith(w[5], "latency=") ||
        cn_parse_double(w[5] + 8, &t.latency) < 0 || t.latency < 0) {
        cn_buf_puts(why, "need bandwidth=N (above 0) latency=N (0 or more)");
        goto cleanup;
    }
    cfg->transits = xrealloc(cfg->transits, (cfg->ntransits + 1) * sizeof(*cfg->transits));
    cfg->transits[cfg->ntransits++] = t;
    memset(&t, 0, sizeof(t));
    ret = 0;
cleanup:
    free(t.id);
    free(t.pip[0]);
    free(t.pip[1]);
    return ret;
}

static int
do_number(struct vnpd_config *cfg, const char *key, const char *v, struct cn_buf *why)
{
    long l;
    double d;
    if (cn_streq(key, "call-timeout")) {
        if (cn_parse_long(v, 1, 3600, &l) < 0)
            return cn_buf_puts(why, "call-timeout must be 1 to 3600 seconds"), -1;
        cfg->call_timeout_s = (unsigned)l;
    } else if (cn_streq(key, "lease")) {
        if (cn_parse_long(v, 1, 86400, &l) < 0)
            return cn_buf_puts(why, "lease must be 1 to 86400 seconds"), -1;
        cfg->lease_s = l;
    } else if (cn_streq(key, "sync-max-age")) {
        if (cn_parse_long(v, 0, 3600, &l) < 0)
            return cn_buf_puts(why, "sync-max-age must be 0 to 3600 seconds"), -1;
        cfg->sync_max_age_s = (unsigned)l;
    } else if (cn_streq(key, "max-request")) {
        if (cn_parse_long(v, 1024, 256L * 1024 * 1024, &l) < 0)
            return cn_buf_puts(why, "max-request must be 1024 to 268435456 bytes"), -1;
        cfg->max_request = (size_t)l;
    } else if (cn_streq(key, "map-time-limit")) {
        if (cn_parse_double(v, &d) < 0 || d <= 0 || d > 3600)
            return cn_buf_puts(why, "map-time-limit must be above 0 and at most 3600"), -1;
        cfg->map_time_limit_s = d;
    } else if (cn_streq(key, "negotiation")) {
        if (!cn_streq(v, "parallel") && !cn_streq(v, "serial"))
            return cn_buf_puts(why, "negotiation is 'parallel' or 'serial'"), -1;
        cfg->serial = cn_streq(v, "serial");
    } else if (cn_streq(key, "name")) {
        replace(&cfg->name, v);
    } else {
        return cn_buf_printf(why, "unknown directive '%s'", key), -1;
    }
    return 0;
}

static int
directive(void *ctx, char **w, size_t n, unsigned lineno, struct cn_buf *why)
{
    struct vnpd_config *cfg = ctx;
    (void)lineno;
    if (cn_streq(w[0], "database"))
        return do_database(cfg, w, n, why);
    if (cn_streq(w[0], "peer"))
        return do_peer(cfg, w, n, why);
    if (cn_streq(w[0], "pip"))
        return do_pip(cfg, w, n, why);
    if (cn_streq(w[0], "transit"))
        return do_transit(cfg, w, n, why);
    if (n != 2)
        return cn_buf_printf(why, "'%s' takes exactly one value", w[0]), -1;
    if (cn_streq(w[0], "listen"))
        return do_listen(cfg, w, why);
    return do_number(cfg, w[0], w[1], why);
}

int
vnpd_config_read(struct vnpd_config *cfg, const char *path, struct cn_err *err)
{
    if (cn_conf_read(path, MAX_WORDS, directive, cfg, err) < 0)
        return -1;
    if (cfg->npeers == 0)
        return cn_err_add(err, CN_E_INVALID, "%s: no peer is configured, so no call could succeed",
                          path);
    if (cfg->npips == 0)
        return cn_err_add(err, CN_E_INVALID,
                          "%s: no pip is configured, so there is nothing to broker", path);
    return 0;
}
