#include "map.h"

#include <stdlib.h>

#include "mem.h"

/* A seeded 64-bit FNV-1a core with a murmur-style finaliser. */
uint64_t pd_hash(pd_slice_t key, uint64_t seed)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < key.len; i++) {
        h ^= (unsigned char)key.base[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

void pd_map_init(pd_map_t *m, uint64_t seed)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
    m->seed = seed;
}

void pd_map_free(pd_map_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static size_t find_slot(const pd_map_t *m, pd_slice_t key, uint64_t hash)
{
    size_t mask = m->cap - 1;
    size_t i = hash & mask;
    while (m->slots[i].value) {
        if (m->slots[i].hash == hash && pd_slice_eq(m->slots[i].key, key))
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static void grow(pd_map_t *m)
{
    pd_map_slot_t *old = m->slots;
    size_t old_cap = m->cap;
    m->cap = old_cap ? old_cap * 2 : 8;
    m->slots = pd_calloc(m->cap, sizeof(*m->slots));
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].value)
            continue;
        size_t j = find_slot(m, old[i].key, old[i].hash);
        m->slots[j] = old[i];
    }
    free(old);
}

void *pd_map_get(const pd_map_t *m, pd_slice_t key)
{
    if (!m->cap)
        return NULL;
    size_t i = find_slot(m, key, pd_hash(key, m->seed));
    return m->slots[i].value;
}

void *pd_map_put(pd_map_t *m, pd_slice_t key, void *value)
{
    if ((m->count + 1) * 4 > m->cap * 3)
        grow(m);
    uint64_t hash = pd_hash(key, m->seed);
    size_t i = find_slot(m, key, hash);
    void *old = m->slots[i].value;
    if (!old)
        m->count++;
    m->slots[i] = (pd_map_slot_t){key, value, hash};
    return old;
}

void *pd_map_del(pd_map_t *m, pd_slice_t key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find_slot(m, key, pd_hash(key, m->seed));
    void *value = m->slots[i].value;
    if (!value)
        return NULL;
    m->count--;
    /* Backward-shift: pull later members of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].value; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        int movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = (pd_map_slot_t){PD_SLICE_NULL, NULL, 0};
    return value;
}

int pd_map_next(const pd_map_t *m, size_t *iter, pd_slice_t *key, void **value)
{
    for (size_t i = *iter; i < m->cap; i++) {
        if (m->slots[i].value) {
            if (key)
                *key = m->slots[i].key;
            if (value)
                *value = m->slots[i].value;
            *iter = i + 1;
            return 1;
        }
    }
    *iter = m->cap;
    return 0;
}
