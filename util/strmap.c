/*
 * Open-addressing hash map with linear probing. Deleted slots become
 * tombstones so probe chains stay intact; the table is rebuilt when live
 * entries plus tombstones pass three quarters of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/strmap.h"
#include "util/util.h"

static const char tombstone[1];

static uint64_t
hash_string(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void
cn_strmap_init(struct cn_strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void
cn_strmap_release(struct cn_strmap *m)
{
    free(m->keys);
    free(m->values);
    cn_strmap_init(m);
}

static size_t
find_slot(const struct cn_strmap *m, const char *key, int *ret_found)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash_string(key) & mask;
    size_t first_free = SIZE_MAX;
    for (;;) {
        const char *k = m->keys[i];
        if (!k) {
            *ret_found = 0;
            return first_free != SIZE_MAX ? first_free : i;
        }
        if (k == tombstone) {
            if (first_free == SIZE_MAX)
                first_free = i;
        } else if (strcmp(k, key) == 0) {
            *ret_found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static void
rehash(struct cn_strmap *m, size_t cap)
{
    struct cn_strmap old = *m;
    m->keys = xcalloc(cap, sizeof(*m->keys));
    m->values = xcalloc(cap, sizeof(*m->values));
    m->cap = cap;
    m->len = 0;
    m->tombstones = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.keys[i] && old.keys[i] != tombstone) {
            int found;
            size_t slot = find_slot(m, old.keys[i], &found);
            m->keys[slot] = old.keys[i];
            m->values[slot] = old.values[i];
            m->len++;
        }
    }
    free(old.keys);
    free(old.values);
}

void *
cn_strmap_get(const struct cn_strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    int found;
    size_t slot = find_slot(m, key, &found);
    return found ? m->values[slot] : NULL;
}

void *
cn_strmap_put(struct cn_strmap *m, const char *key, void *value)
{
    if ((m->len + m->tombstones + 1) * 4 >= m->cap * 3)
        rehash(m, m->cap ? (m->len * 4 >= m->cap ? m->cap * 2 : m->cap) : 16);
    int found;
    size_t slot = find_slot(m, key, &found);
    void *old = found ? m->values[slot] : NULL;
    if (!found) {
        if (m->keys[slot] == tombstone)
            m->tombstones--;
        m->len++;
    }
    m->keys[slot] = key;
    m->values[slot] = value;
    return old;
}

void *
cn_strmap_del(struct cn_strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    int found;
    size_t slot = find_slot(m, key, &found);
    if (!found)
        return NULL;
    void *old = m->values[slot];
    m->keys[slot] = tombstone;
    m->values[slot] = NULL;
    m->len--;
    m->tombstones++;
    return old;
}
