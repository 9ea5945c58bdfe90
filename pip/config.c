/*
 * pipd's configuration file, in the daemons' shared format (util/conf.h):
 * one directive per line, words separated by blanks, '#' starts a comment.
 * docs/pipd.md lists the directives. Every problem is reported as
 * "FILE:LINE: message" and the reading goes on, so an operator sees all
 * mistakes at once.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pip/pipd.h"
#include "util/conf.h"
#include "util/util.h"

#define MAX_WORDS 8

struct pipd_config *
pipd_config_new(void)
{
    struct pipd_config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->name = xstrdup("pip");
    cfg->listen_host = xstrdup("127.0.0.1");
    cfg->listen_port = 7001;
    cfg->db_name = xstrdup("pipd");
    cfg->max_request = 1024 * 1024;
    cfg->max_lease_s = 3600;
    cfg->map_time_limit_s = 10;
    cfg->reap_interval_s = 1;
    return cfg;
}

void
pipd_config_free(struct pipd_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->name);
    free(cfg->listen_host);
    free(cfg->db_socket);
    free(cfg->db_host);
    free(cfg->db_name);
    free(cfg->db_user);
    free(cfg->substrate_file);
    for (size_t i = 0; i < cfg->npeers; i++) {
        free(cfg->peers[i].name);
        free(cfg->peers[i].secret);
    }
    free(cfg->peers);
    free(cfg->libvirt_uri);
    free(cfg->image_dir);
    free(cfg->template_dir);
    free(cfg->clipd_socket);
    free(cfg->dataplane_file);
    free(cfg);
}

static void
set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = xstrdup(value);
}

/* "HOST:PORT", "PORT" or "[V6]:PORT". */
static int
parse_listen(struct pipd_config *cfg, const char *s)
{
    const char *colon = strrchr(s, ':');
    const char *port = colon ? colon + 1 : s;
    long p;
    if (cn_parse_long(port, 1, 65535, &p) < 0)
        return -1;
    if (colon) {
        const char *h = s;
        size_t n = (size_t)(colon - s);
        if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
            h++;
            n -= 2;
        }
        if (n == 0)
            return -1;
        free(cfg->listen_host);
        cfg->listen_host = xstrndup(h, n);
    }
    cfg->listen_port = (unsigned)p;
    return 0;
}

static int
parse_database(struct pipd_config *cfg, char **words, size_t nwords, struct cn_buf *problem)
{
    for (size_t i = 1; i < nwords; i++) {
        char *eq = strchr(words[i], '=');
        if (!eq) {
            cn_buf_printf(problem, "'%s' is not KEY=VALUE", words[i]);
            return -1;
        }
        *eq = '\0';
        const char *k = words[i], *v = eq + 1;
        if (cn_streq(k, "socket")) {
            set_str(&cfg->db_socket, v);
        } else if (cn_streq(k, "host")) {
            set_str(&cfg->db_host, v);
        } else if (cn_streq(k, "name")) {
            set_str(&cfg->db_name, v);
        } else if (cn_streq(k, "user")) {
            set_str(&cfg->db_user, v);
        } else if (cn_streq(k, "port")) {
            long p;
            if (cn_parse_long(v, 1, 65535, &p) < 0) {
                cn_buf_printf(problem, "bad database port '%s'", v);
                return -1;
            }
            cfg->db_port = (unsigned)p;
        } else if (cn_streq(k, "password")) {
            cn_buf_puts(problem, "the database password comes from PIPD_DB_PASSWORD, not the file");
            return -1;
        } else {
            cn_buf_printf(problem, "unknown database key '%s'", k);
            return -1;
        }
    }
    return 0;
}

/* Applies one directive; on a problem, describes it in problem. */
static int
apply(void *ctx, char **w, size_t n, unsigned lineno, struct cn_buf *problem)
{
    struct pipd_config *cfg = ctx;
    const char *key = w[0];
    long l;
    double d;
    static const struct {
        const char *key;
        size_t off;
    } strings[] = {
        {"substrate", offsetof(struct pipd_config, substrate_file)},
        {"libvirt", offsetof(struct pipd_config, libvirt_uri)},
        {"images", offsetof(struct pipd_config, image_dir)},
        {"templates", offsetof(struct pipd_config, template_dir)},
        {"clipd", offsetof(struct pipd_config, clipd_socket)},
        {"dataplane", offsetof(struct pipd_config, dataplane_file)},
        {"name", offsetof(struct pipd_config, name)},
    };
    (void)lineno;

    if (cn_streq(key, "database"))
        return parse_database(cfg, w, n, problem);
    if (cn_streq(key, "peer")) {
        if (n != 3) {
            cn_buf_puts(problem, "usage: peer NAME SECRET");
            return -1;
        }
        for (size_t i = 0; i < cfg->npeers; i++) {
            if (cn_streq(cfg->peers[i].name, w[1])) {
                cn_buf_printf(problem, "peer '%s' is configured twice", w[1]);
                return -1;
            }
        }
        if (strlen(w[2]) < 8) {
            cn_buf_puts(problem, "a peer secret must have at least 8 characters");
            return -1;
        }
        cfg->peers = xrealloc(cfg->peers, (cfg->npeers + 1) * sizeof(*cfg->peers));
        cfg->peers[cfg->npeers].name = xstrdup(w[1]);
        cfg->peers[cfg->npeers].secret = xstrdup(w[2]);
        cfg->npeers++;
        return 0;
    }
    if (n != 2) {
        cn_buf_printf(problem, "'%s' takes exactly one value", key);
        return -1;
    }
    for (size_t i = 0; i < CN_ARRAY_SIZE(strings); i++) {
        if (cn_streq(key, strings[i].key)) {
            set_str((char **)((char *)cfg + strings[i].off), w[1]);
            return 0;
        }
    }
    if (cn_streq(key, "listen")) {
        if (parse_listen(cfg, w[1]) < 0) {
            cn_buf_printf(problem, "bad listen address '%s' (HOST:PORT)", w[1]);
            return -1;
        }
    } else if (cn_streq(key, "max-request")) {
        if (cn_parse_long(w[1], 1024, 256L * 1024 * 1024, &l) < 0) {
            cn_buf_printf(problem, "max-request must be 1024 to 268435456 bytes");
            return -1;
        }
        cfg->max_request = (size_t)l;
    } else if (cn_streq(key, "max-lease")) {
        if (cn_parse_long(w[1], 1, 365L * 86400, &l) < 0) {
            cn_buf_printf(problem, "max-lease must be 1 to 31536000 seconds");
            return -1;
        }
        cfg->max_lease_s = l;
    } else if (cn_streq(key, "reap-interval")) {
        if (cn_parse_long(w[1], 1, 3600, &l) < 0) {
            cn_buf_printf(problem, "reap-interval must be 1 to 3600 seconds");
            return -1;
        }
        cfg->reap_interval_s = (unsigned)l;
    } else if (cn_streq(key, "map-time-limit")) {
        if (cn_parse_double(w[1], &d) < 0 || d <= 0 || d > 3600) {
            cn_buf_printf(problem, "map-time-limit must be above 0 and at most 3600 seconds");
            return -1;
        }
        cfg->map_time_limit_s = d;
    } else {
        cn_buf_printf(problem, "unknown directive '%s'", key);
        return -1;
    }
    return 0;
}

int
pipd_config_read(struct pipd_config *cfg, const char *path, struct cn_err *err)
{
    if (cn_conf_read(path, MAX_WORDS, apply, cfg, err) < 0)
        return -1;
    if (cfg->npeers == 0)
        return cn_err_add(err, CN_E_INVALID, "%s: no peer is configured, so no call could succeed",
                          path);
    return 0;
}
