/*
 * Feeds the input to the decoder of cluster messages (src/cluster/msg.c:
 * what a node reads from Redis, its pub/sub channels and room hashes, which
 * another node or anything else with access to Redis wrote). A message that
 * decodes is encoded again and must decode to the same node, incarnation,
 * sequence, key and member (or kicked user and reason), and every decoded
 * slice must be a NUL-terminated string of its stated length.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "cluster/msg.h"

static const pd_cluster_limits_t limits = {2048, 64, 256};

static void check_slice(pd_slice_t s)
{
    if (s.base && strlen(s.base) != s.len)
        __builtin_trap();
}

static int same(pd_slice_t a, pd_slice_t b)
{
    return a.len == b.len && (!a.len || memcmp(a.base, b.base, a.len) == 0);
}

static void check_state(const pd_member_state_t *st)
{
    check_slice(st->user_id);
    check_slice(st->user_name);
    check_slice(st->user_image);
    check_slice(st->loc.current_path);
    check_slice(st->loc.resource_type);
    check_slice(st->loc.resource_id);
}

static int same_state(const pd_member_state_t *a, const pd_member_state_t *b)
{
    return same(a->user_id, b->user_id) && same(a->user_name, b->user_name) &&
           same(a->user_image, b->user_image) && (!a->user_image.base == !b->user_image.base) &&
           same(a->loc.current_path, b->loc.current_path) &&
           same(a->loc.resource_type, b->loc.resource_type) &&
           same(a->loc.resource_id, b->loc.resource_id) && a->stamp == b->stamp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pd_cluster_msg_t m, again;
    const char *why = NULL;
    if (pd_cluster_msg_decode(&limits, (const char *)data, size, &m, &why) != 0) {
        if (!why)
            __builtin_trap(); /* a refusal always says why */
        return 0;
    }
    check_slice(m.node);
    check_slice(m.key);
    if (m.has_member)
        check_state(&m.state);
    pd_buf_t b = PD_BUF_INIT;
    if (m.is_kick) {
        check_slice(m.kick_user);
        check_slice(m.kick_reason);
        pd_cluster_msg_encode_kick(&b, m.node, m.inc, m.seq, m.kick_user, m.kick_reason);
    } else {
        pd_cluster_msg_encode(&b, m.node, m.inc, m.seq, m.key, m.has_member ? &m.state : NULL);
    }
    if (pd_cluster_msg_decode(&limits, b.base, b.len, &again, &why) != 0)
        __builtin_trap(); /* what it encodes it must read back */
    if (!same(m.node, again.node) || m.inc != again.inc || m.seq != again.seq ||
        !same(m.key, again.key) || m.has_member != again.has_member || m.is_kick != again.is_kick ||
        (m.has_member && !same_state(&m.state, &again.state)) ||
        (m.is_kick &&
         (!same(m.kick_user, again.kick_user) || !same(m.kick_reason, again.kick_reason))))
        __builtin_trap();
    pd_cluster_msg_free(&again);
    pd_cluster_msg_free(&m);
    pd_buf_free(&b);
    return 0;
}
