/*
 * pd_map_t: a hash table from byte-string keys to pointers, with open
 * addressing and linear probing (backward-shift deletion, so no tombstones).
 * The map does not copy keys: the bytes a key points to must stay valid and
 * unchanged while the entry exists (usually the key lives in the value).
 * Hashing is seeded per map so keys chosen by a peer cannot force collisions
 * without knowing the seed.
 */
#ifndef PD_BASE_MAP_H
#define PD_BASE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "slice.h"

typedef struct {
    pd_slice_t key;
    void *value; /* NULL marks an empty slot; values are never NULL */
    uint64_t hash;
} pd_map_slot_t;

typedef struct {
    pd_map_slot_t *slots;
    size_t cap; /* a power of two, or 0 */
    size_t count;
    uint64_t seed;
} pd_map_t;

void pd_map_init(pd_map_t *m, uint64_t seed);
void pd_map_free(pd_map_t *m);
/* Returns the value for key, or NULL. */
void *pd_map_get(const pd_map_t *m, pd_slice_t key);
/* Inserts or replaces; value must not be NULL. Returns the replaced value or NULL. */
void *pd_map_put(pd_map_t *m, pd_slice_t key, void *value);
/* Removes key; returns its value or NULL when absent. */
void *pd_map_del(pd_map_t *m, pd_slice_t key);
/*
 * Iterates: start with *iter = 0; returns 1 and fills key/value while entries
 * remain, 0 at the end. The map must not change during an iteration.
 */
int pd_map_next(const pd_map_t *m, size_t *iter, pd_slice_t *key, void **value);

uint64_t pd_hash(pd_slice_t key, uint64_t seed);

#endif
