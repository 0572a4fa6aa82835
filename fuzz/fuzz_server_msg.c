/*
 * Feeds the input to the decoder of server messages (src/proto, the one
 * the client library uses) and, when it decodes, applies it to a presence
 * map the way the client does, checking that every decoded slice is a
 * NUL-terminated string and that the map stays consistent with what it
 * was told.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "client/pmap.h"
#include "proto/proto.h"

static void check_slice(pd_slice_t s)
{
    if (s.base && (strlen(s.base) != s.len))
        __builtin_trap();
}

static void check_entry(const pd_proto_entry_t *e)
{
    check_slice(e->user_id);
    check_slice(e->user_name);
    check_slice(e->user_image);
    check_slice(e->loc.current_path);
    check_slice(e->loc.resource_type);
    check_slice(e->loc.resource_id);
}

static void apply(pd_pmap_t *map, const pd_proto_server_msg_t *m)
{
    switch (m->type) {
    case PD_PROTO_SERVER_SNAPSHOT:
        for (size_t i = 0; i < m->n_users; i++)
            check_entry(&m->users[i]);
        pd_pmap_replace(map, m->users, m->n_users);
        if (pd_pmap_count(map) > m->n_users)
            __builtin_trap();
        break;
    case PD_PROTO_SERVER_JOINED:
        check_entry(&m->entry);
        pd_pmap_set(map, &m->entry);
        break;
    case PD_PROTO_SERVER_CHANGED:
        check_entry(&m->entry);
        if (strcmp(pd_pmap_change(map, &m->entry, m->image_given)->current_path,
                   m->entry.loc.current_path.base))
            __builtin_trap();
        break;
    case PD_PROTO_SERVER_LEFT:
        pd_pmap_entry_free(pd_pmap_take(map, m->entry.user_id));
        if (pd_pmap_get(map, m->entry.user_id))
            __builtin_trap();
        break;
    default:
        check_slice(m->code);
        check_slice(m->message);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pd_pmap_t map;
    pd_pmap_init(&map, 7);
    /* Several messages, separated by NUL bytes, go to one map. */
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);
        pd_proto_server_msg_t m;
        char err[128];
        if (pd_proto_decode_server(&m, p, len, err, sizeof err) == 0)
            apply(&map, &m);
        pd_proto_server_msg_free(&m);
        p += len + 1;
    }
    pd_pmap_free(&map);
    return 0;
}
