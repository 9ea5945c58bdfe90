/*
 * The daemon side of clipd, shared by the files of clipd/ and by its tests:
 * the configuration, the file copier, the cache of ready copies and the
 * socket server. Nothing outside clipd/ and tests/ may include it.
 */
#ifndef CLIP_PRIV_H_ALLOW
#error "clip_priv.h is private to clipd/ and its tests"
#endif

#ifndef CLOUDNET_CLIP_PRIV_H
#define CLOUDNET_CLIP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "clipd/clip.h"

struct cn_buf;
struct cn_err;

/* Longest request or answer line, newline excluded. */
#define CLIP_LINE_MAX 8192
/* Longest template name. */
#define CLIP_NAME_MAX 64

/* ---- configuration (config.c) ---- */

enum clip_copy_method {
    CLIP_COPY_AUTO,      /* reflink, else copy_file_range, else read/write */
    CLIP_COPY_REFLINK,   /* FICLONE only; fails where the filesystem cannot share extents */
    CLIP_COPY_RANGE,     /* copy_file_range, else read/write */
    CLIP_COPY_READWRITE, /* plain read/write */
};

const char *clip_copy_method_name(enum clip_copy_method m);

struct clip_template_conf {
    char *name;
    char *path;
    unsigned copies;
    unsigned line;
};

struct clip_dir_conf {
    char *path;
    unsigned line;
};

struct clip_config {
    char *file; /* for FILE:LINE messages */
    char *store;
    unsigned store_line;
    char *socket;
    unsigned long long budget;      /* bytes; 0 means no limit */
    unsigned long long refill_rate; /* bytes per second for refill copies; 0 means no limit */
    enum clip_copy_method method;
    unsigned rescan; /* seconds between checks of the templates while idle */
    struct clip_dir_conf *destdirs;
    size_t n_destdirs, cap_destdirs;
    struct clip_template_conf *templates;
    size_t n_templates, cap_templates;
};

/*
 * Parses configuration text; file only names the source in messages, which
 * read "FILE:LINE: message", one per problem found. Caller frees the result.
 */
struct clip_config *clip_config_parse(const char *file, const char *text, struct cn_err *err);
/* Reads and parses a configuration file. */
struct clip_config *clip_config_load(const char *file, struct cn_err *err);
void clip_config_free(struct clip_config *cfg);
const struct clip_template_conf *clip_config_template(const struct clip_config *cfg,
                                                      const char *name);
/* "10G", "512M", "4096": binary multiples. */
int clip_parse_size(const char *s, unsigned long long *ret_bytes);
bool clip_template_name_ok(const char *name);

/* ---- copying files (copy.c) ---- */

struct clip_copy_ctl {
    enum clip_copy_method method;
    unsigned long long rate; /* bytes per second; 0 means no limit */
    /*
     * Called between chunks; may block to pause the copy, returns false to
     * abandon it (the copy then fails with CN_E_BUSY).
     */
    bool (*keep_going)(void *arg);
    void *arg;
};

/*
 * Copies size bytes from in to out (both at offset 0) and sets out's length
 * to size. *ret_used says which method did the work.
 */
int clip_copy_fd(int in, int out, off_t size, const struct clip_copy_ctl *ctl,
                 enum clip_copy_method *ret_used, struct cn_err *err);

/* ---- the cache of ready copies (cache.c) ---- */

struct clip_cache;

/*
 * Opens the store, removes leftovers of an earlier run (temporaries, copies
 * of templates no longer configured or changed since), adopts the ready
 * copies that are still good and checks that every configured path exists.
 * Problems are reported as "FILE:LINE: message". cfg must outlive the cache.
 * Starts no thread, so a program may fork afterwards.
 */
struct clip_cache *clip_cache_new(const struct clip_config *cfg, struct cn_err *err);
/*
 * Lets the program hear about background events (refills, dropped copies,
 * failures) without the library logging: level 0 is a warning, 1
 * information, 2 debugging. fn may be called from any thread.
 */
void clip_cache_set_notify(struct clip_cache *c, void (*fn)(int level, const char *msg, void *arg),
                           void *arg);
/* Starts the refill thread. */
int clip_cache_start(struct clip_cache *c, struct cn_err *err);
/*
 * Stops the refill thread (its unfinished copy is deleted) and makes running
 * and later takes fail with CN_E_BUSY.
 */
void clip_cache_stop(struct clip_cache *c);
void clip_cache_free(struct clip_cache *c);
int clip_cache_take(struct clip_cache *c, const char *template_name, const char *dest,
                    bool *ret_hit, struct cn_err *err);
/*
 * Fills *ret_items with one entry per template, in configuration order; the
 * caller frees each name and the array.
 */
int clip_cache_status(struct clip_cache *c, struct clip_template_status **ret_items, size_t *ret_n,
                      struct cn_err *err);

/* ---- the socket server (server.c) ---- */

struct clip_server;

/* Binds the listening socket; refuses to replace the socket of a running daemon. */
struct clip_server *clip_server_new(const char *socket_path, struct clip_cache *cache,
                                    struct cn_err *err);
/* Serves clients until stop_fd becomes readable. */
int clip_server_run(struct clip_server *s, int stop_fd, struct cn_err *err);
/*
 * Ends every connection, waits for their threads and removes the socket.
 * Call clip_cache_stop() first so that long copies give up.
 */
void clip_server_free(struct clip_server *s);
/*
 * Handles one request line (without its newline) and appends the answer,
 * newline-terminated, to out. Exposed for the tests of the protocol.
 */
void clip_server_handle(struct clip_cache *cache, const char *line, struct cn_buf *out);

#endif /* CLOUDNET_CLIP_PRIV_H */
