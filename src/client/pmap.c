#include "pmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

void pd_pmap_init(pd_pmap_t *m, uint64_t seed)
{
    pd_map_init(&m->map, seed);
}

void pd_pmap_clear(pd_pmap_t *m)
{
    size_t iter = 0;
    pd_slice_t key;
    void *value;
    while (pd_map_next(&m->map, &iter, &key, &value))
        free(value);
    uint64_t seed = m->map.seed;
    pd_map_free(&m->map);
    pd_map_init(&m->map, seed);
}

void pd_pmap_free(pd_pmap_t *m)
{
    pd_pmap_clear(m);
    pd_map_free(&m->map);
}

size_t pd_pmap_count(const pd_pmap_t *m)
{
    return m->map.count;
}

const presence_user_t *pd_pmap_get(const pd_pmap_t *m, pd_slice_t user_id)
{
    return pd_map_get(&m->map, user_id);
}

const presence_user_t *pd_pmap_next(const pd_pmap_t *m, size_t *iter)
{
    pd_slice_t key;
    void *value;
    return pd_map_next(&m->map, iter, &key, &value) ? value : NULL;
}

/* Copies s (base NULL: the string stays NULL) to *at and returns the copy. */
static const char *put_string(char **at, pd_slice_t s)
{
    if (!s.base)
        return NULL;
    char *copy = *at;
    memcpy(copy, s.base, s.len);
    copy[s.len] = '\0';
    *at += s.len + 1;
    return copy;
}

static size_t string_size(pd_slice_t s)
{
    return s.base ? s.len + 1 : 0;
}

/* One allocation: the struct, then its strings. */
static presence_user_t *entry_new(const pd_proto_entry_t *e)
{
    pd_slice_t path = e->loc.current_path.base ? e->loc.current_path : pd_slice("", 0);
    size_t size = sizeof(presence_user_t) + string_size(e->user_id) + string_size(e->user_name) +
                  string_size(e->user_image) + string_size(path) +
                  string_size(e->loc.resource_type) + string_size(e->loc.resource_id);
    presence_user_t *u = pd_malloc(size);
    char *at = (char *)(u + 1);
    u->user_id = put_string(&at, e->user_id);
    u->user_name = put_string(&at, e->user_name);
    u->user_image = put_string(&at, e->user_image);
    u->current_path = put_string(&at, path);
    u->resource_type = put_string(&at, e->loc.resource_type);
    u->resource_id = put_string(&at, e->loc.resource_id);
    return u;
}

static const presence_user_t *entry_put(pd_pmap_t *m, presence_user_t *u)
{
    free(pd_map_put(&m->map, pd_slice_cstr(u->user_id), u));
    return u;
}

void pd_pmap_replace(pd_pmap_t *m, const pd_proto_entry_t *users, size_t n)
{
    pd_pmap_clear(m);
    for (size_t i = 0; i < n; i++)
        entry_put(m, entry_new(&users[i]));
}

const presence_user_t *pd_pmap_set(pd_pmap_t *m, const pd_proto_entry_t *e)
{
    return entry_put(m, entry_new(e));
}

const presence_user_t *pd_pmap_change(pd_pmap_t *m, const pd_proto_entry_t *e, int image_given)
{
    if (image_given)
        return entry_put(m, entry_new(e));
    const presence_user_t *old = pd_pmap_get(m, e->user_id);
    pd_proto_entry_t merged = *e;
    merged.user_image = old ? pd_slice_cstr(old->user_image) : PD_SLICE_NULL;
    return entry_put(m, entry_new(&merged));
}

presence_user_t *pd_pmap_take(pd_pmap_t *m, pd_slice_t user_id)
{
    return pd_map_del(&m->map, user_id);
}

void pd_pmap_entry_free(presence_user_t *u)
{
    free(u);
}

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

int pd_pmap_same_location(const presence_user_t *a, const presence_user_t *b)
{
    return str_eq(a->current_path, b->current_path) && str_eq(a->resource_type, b->resource_type) &&
           str_eq(a->resource_id, b->resource_id);
}

presence_user_t *pd_pmap_entry_copy(const presence_user_t *u)
{
    if (!u)
        return NULL;
    pd_proto_entry_t e = {
        .user_id = pd_slice_cstr(u->user_id),
        .user_name = pd_slice_cstr(u->user_name),
        .user_image = pd_slice_cstr(u->user_image),
        .loc = {pd_slice_cstr(u->current_path), pd_slice_cstr(u->resource_type),
                pd_slice_cstr(u->resource_id)},
    };
    return entry_new(&e);
}
