/*
 * A string-keyed hash map of borrowed pointers (open addressing, FNV-1a).
 * Keys are not copied: the caller keeps them alive while they are in the map,
 * which suits maps that index strings owned by the objects they point to.
 */
#ifndef CLOUDNET_STRMAP_H
#define CLOUDNET_STRMAP_H

#include <stddef.h>

struct cn_strmap {
    const char **keys;
    void **values;
    size_t cap; /* power of two, or 0 */
    size_t len;
    size_t tombstones;
};

#define CN_STRMAP_INIT {NULL, NULL, 0, 0, 0}

void cn_strmap_init(struct cn_strmap *m);
void cn_strmap_release(struct cn_strmap *m);
/* Returns the value stored under key, or NULL. */
void *cn_strmap_get(const struct cn_strmap *m, const char *key);
/* Stores value under key, replacing an existing entry; returns the old value or NULL. */
void *cn_strmap_put(struct cn_strmap *m, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *cn_strmap_del(struct cn_strmap *m, const char *key);

#endif /* CLOUDNET_STRMAP_H */
