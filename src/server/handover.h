/*
 * Handover (handover.c): a request read on one shard that belongs to a room
 * of another goes there as a socket and the bytes already read from it. The
 * receiver feeds those bytes to a fresh parser and reads the rest from the
 * socket, so no byte is lost or read twice; the sender's handle closes
 * without a word to the peer (the receiver holds a copy of the descriptor).
 */
#ifndef PD_SERVER_HANDOVER_H
#define PD_SERVER_HANDOVER_H

#include "../base/slice.h"
#include "../http/http.h"
#include "conn.h"

/*
 * For an upgrade to workspace's room: 0 when this shard owns the room (go
 * on here), 1 when c was handed over, or answered because the owner is
 * draining (the WebSocket opens and closes with 1001).
 */
int pd_handover_upgrade(pd_conn_t *c, const pd_http_request_t *req, pd_slice_t workspace);

/* For an API call about room_id: 0 when it is this shard's, 1 when handed over or answered 503. */
int pd_handover_room(pd_conn_t *c, pd_slice_t room_id);

#endif
