/*
 * The presence map: userId -> presence_user_t, changed exactly as the
 * protocol's snapshot/joined/changed/left say. Each entry is one
 * allocation holding its strings; replacing an entry frees the old one, so
 * a presence_user_t pointer lives until its user's next change.
 */
#ifndef PD_CLIENT_PMAP_H
#define PD_CLIENT_PMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/map.h"
#include "presence/client.h"
#include "proto/proto.h"

typedef struct {
    pd_map_t map; /* user id -> presence_user_t (the key lives in the entry) */
} pd_pmap_t;

void pd_pmap_init(pd_pmap_t *m, uint64_t seed);
/* Frees every entry and the table. */
void pd_pmap_free(pd_pmap_t *m);
/* Removes and frees every entry. */
void pd_pmap_clear(pd_pmap_t *m);

size_t pd_pmap_count(const pd_pmap_t *m);
const presence_user_t *pd_pmap_get(const pd_pmap_t *m, pd_slice_t user_id);
/* Iterates as pd_map_next() does; returns NULL at the end. */
const presence_user_t *pd_pmap_next(const pd_pmap_t *m, size_t *iter);

/*
 * Replaces the whole map with n entries (a snapshot). A user listed twice
 * keeps the later entry.
 */
void pd_pmap_replace(pd_pmap_t *m, const pd_proto_entry_t *users, size_t n);

/* Sets e's entry as given (user_joined: a new user with no location yet). */
const presence_user_t *pd_pmap_set(pd_pmap_t *m, const pd_proto_entry_t *e);

/*
 * Applies presence_changed: name and location from e; the image from e
 * when image_given, else kept from the entry it replaces (none for a user
 * not in the map, who is added).
 */
const presence_user_t *pd_pmap_change(pd_pmap_t *m, const pd_proto_entry_t *e, int image_given);

/*
 * Removes user_id and hands its entry to the caller (NULL when absent),
 * who frees it with pd_pmap_entry_free() once done reporting it.
 */
presence_user_t *pd_pmap_take(pd_pmap_t *m, pd_slice_t user_id);
void pd_pmap_entry_free(presence_user_t *u);

/* Whether two entries are at the same path, resource type and resource id. */
int pd_pmap_same_location(const presence_user_t *a, const presence_user_t *b);

/* A copy of u in one allocation (free with pd_pmap_entry_free()); NULL for NULL. */
presence_user_t *pd_pmap_entry_copy(const presence_user_t *u);

#endif
