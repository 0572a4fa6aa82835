/*
 * The cluster's message (src/cluster): one member's state, or its leave, as
 * one node publishes it on a room's channel and keeps it in the room's hash
 * in Redis. A codec: bytes in, a decoded message out; no I/O.
 *
 *   {"v":1,"n":NODE,"i":INCARNATION,"s":SEQ,"k":KEY,"m":MEMBER}   a member's state
 *   {"v":1,"n":NODE,"i":INCARNATION,"s":SEQ,"k":KEY}              the member left
 *   {"v":1,"n":NODE,"i":INCARNATION,"s":SEQ,"kick":{"userId":USER,"reason":WHY}}
 *                                             the user is kicked out of the room
 *
 * NODE is "nodeid/shard" (1-95 of [A-Za-z0-9_.-/]); INCARNATION and SEQ are
 * whole numbers (1 to 2^53): the node's start time in ms, new each time it
 * registers, and its count of messages since. KEY is the member's
 * connection key on that node (1-64 of [A-Za-z0-9_-]). MEMBER is a
 * snapshot entry (userId, userName, userImage, currentPath, resourceType,
 * resourceId, docs/protocol.md) with "at": the member's stamp (rooms.h).
 * A kick (the HTTP API's, on any node) is only published, never kept; it
 * has no KEY. WHY is 0-4096 bytes.
 */
#ifndef PD_CLUSTER_MSG_H
#define PD_CLUSTER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "../base/slice.h"
#include "../rooms/rooms.h"

#define PD_CLUSTER_NODE_MAX 95
#define PD_CLUSTER_KEY_MAX 64
#define PD_CLUSTER_REASON_MAX 4096

typedef struct {
    pd_slice_t node;
    uint64_t inc;
    uint64_t seq;
    pd_slice_t key; /* empty for a kick */
    int has_member; /* 0: the member left (or a kick) */
    int is_kick;    /* a kick of kick_user, for kick_reason (NUL-terminated) */
    pd_slice_t kick_user, kick_reason;
    pd_member_state_t state; /* when has_member */
    struct cJSON *tree;      /* owns the slices above; pd_cluster_msg_free() */
} pd_cluster_msg_t;

/* Limits a decoded member must keep to (those of the protocol, proto.h). */
typedef struct {
    size_t max_path;
    size_t max_resource_type;
    size_t max_resource_id;
} pd_cluster_limits_t;

/* Appends a message: st NULL for a leave. */
void pd_cluster_msg_encode(pd_buf_t *b, pd_slice_t node, uint64_t inc, uint64_t seq, pd_slice_t key,
                           const pd_member_state_t *st);

/* Appends a kick of user_id out of the room, for reason. */
void pd_cluster_msg_encode_kick(pd_buf_t *b, pd_slice_t node, uint64_t inc, uint64_t seq,
                                pd_slice_t user_id, pd_slice_t reason);

/*
 * Decodes len bytes of json into *m. Returns 0 (free with
 * pd_cluster_msg_free), or PD_ERR_PROTO with *why saying what was wrong
 * (m holds nothing then).
 */
int pd_cluster_msg_decode(const pd_cluster_limits_t *lim, const char *json, size_t len,
                          pd_cluster_msg_t *m, const char **why);

void pd_cluster_msg_free(pd_cluster_msg_t *m);

/* 1 when s is a valid NODE. */
int pd_cluster_node_valid(pd_slice_t s);

#endif
