/*
 * Client side of clipd, the VM image cache daemon. The embedding component
 * (the libvirt plugin) calls clip_take() to get a private copy of a template
 * image: when clipd holds a ready copy the call is a rename and returns at
 * once ("hit"); otherwise clipd copies the template while the caller waits
 * ("miss"). The wire protocol behind these calls is described in
 * docs/clipd.md; every call opens its own connection, so the functions are
 * safe to use from several threads at once.
 */
#ifndef CLOUDNET_CLIP_H
#define CLOUDNET_CLIP_H

#include <stdbool.h>
#include <stddef.h>

struct cn_err;

/*
 * Asks the daemon listening on socket_path for a copy of template_name at
 * dest, an absolute path that must not exist yet and must lie in a directory
 * the daemon allows (docs/clipd.md gives the rule). On success *ret_hit tells
 * whether a ready copy was handed over. On failure err->code is one of
 * CN_E_INVALID (bad argument, dest exists), CN_E_FORBIDDEN (dest outside the
 * allowed directories), CN_E_NOTFOUND (unknown template, missing parent
 * directory), CN_E_IO, CN_E_BUSY (daemon shutting down or overloaded).
 */
int clip_take(const char *socket_path, const char *template_name, const char *dest, bool *ret_hit,
              struct cn_err *err);

/* What the daemon reports for one template. */
struct clip_template_status {
    char *name;
    unsigned ready;            /* ready copies on disk now */
    unsigned copies;           /* ready copies the daemon aims to keep */
    unsigned long long hits;   /* takes served by a rename */
    unsigned long long misses; /* takes served by copying */
    unsigned long long bytes;  /* apparent size of the ready copies; what the budget counts */
    char method[24];           /* copy method of the latest copy: "reflink", "copy_file_range",
                                  "readwrite", or "none" before the first copy */
};

/* A snapshot of every template's counters, owned by the caller. */
struct clip_status;

/* Fetches the daemon's counters; the caller frees *ret_status with clip_status_free(). */
int clip_status(const char *socket_path, struct clip_status **ret_status, struct cn_err *err);
size_t clip_status_count(const struct clip_status *st);
/* Borrowed pointers into st, valid until clip_status_free(). */
const struct clip_template_status *clip_status_at(const struct clip_status *st, size_t i);
const struct clip_template_status *clip_status_find(const struct clip_status *st,
                                                    const char *template_name);
void clip_status_free(struct clip_status *st);

#endif /* CLOUDNET_CLIP_H */
