/*
 * Moving a connection in the HTTP phase to the shard that owns its room.
 * A libuv handle belongs to one loop for its whole life, so the socket
 * moves as a descriptor: the sender dups it, posts the copy with the bytes
 * it has read, and closes its own handle (which closes only its own
 * descriptor). The sender stopped reading in the callback that parsed the
 * request, so whatever the peer sends next waits in the kernel for the
 * receiver.
 */
#include "handover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../base/mem.h"
#include "../proto/proto.h"
#include "log.h"
#include "server_state.h"
#include "shard.h"

/* 0 when c is on its way to shard to (and closed here), -1 when to takes no more. */
static int send_to(pd_conn_t *c, unsigned to)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return -1;
    int copy = dup(fd);
    if (copy < 0)
        return -1;
    pd_shard_msg_t *m = pd_calloc(1, sizeof(*m));
    m->type = PD_SHARD_HANDOVER;
    m->fd = copy;
    pd_buf_append(&m->bytes, c->raw.base, c->raw.len);
    if (pd_shard_post(c->srv->proc, to, m) != 0) {
        close(copy);
        pd_buf_free(&m->bytes);
        free(m);
        return -1;
    }
    pd_conn_release(c);
    return 0;
}

/* The room a workspace's upgrade joins: the name admit.c gives it. */
static unsigned owner_of_workspace(const pd_proc_t *proc, pd_slice_t workspace)
{
    char room[PD_PROTO_ROOM_ID_SIZE];
    int n = pd_proto_room_id(room, sizeof(room), workspace);
    return pd_shard_of(proc, pd_slice(room, n < 0 ? 0 : (size_t)n));
}

int pd_handover_upgrade(pd_conn_t *c, const pd_http_request_t *req, pd_slice_t workspace)
{
    unsigned to = owner_of_workspace(c->srv->proc, workspace);
    if (to == c->srv->shard)
        return 0;
    if (send_to(c, to) != 0)
        pd_conn_refuse_upgrade(c, req);
    return 1;
}

int pd_handover_room(pd_conn_t *c, pd_slice_t room_id)
{
    unsigned to = pd_shard_of(c->srv->proc, room_id);
    if (to == c->srv->shard)
        return 0;
    if (send_to(c, to) != 0)
        pd_conn_respond(c, 503, "text/plain", pd_slice_cstr(pd_http_reason(503)), NULL);
    return 1;
}
