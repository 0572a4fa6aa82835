/*
 * Admission (admit.c): from an upgraded WebSocket to a member of its room,
 * with the token checked locally (JWT) or by the verify endpoint, and
 * token refresh. It drives a connection through conn.h; the connection
 * reaches it only through the hooks server.c installs.
 */
#ifndef PD_SERVER_ADMIT_H
#define PD_SERVER_ADMIT_H

#include <stddef.h>

#include "../base/slice.h"
#include "../http/http.h"
#include "conn.h"

/* Checks the request's token and joins c to workspace's room, or closes it. */
void pd_admit_start(pd_conn_t *c, const pd_http_request_t *req, pd_slice_t workspace);
/* Keeps a message that arrived while admission is pending; 0 when not pending. */
int pd_admit_buffer(pd_conn_t *c, const char *data, size_t len);
/* Checks a member's new token; its identity is updated, or it is closed. */
void pd_admit_refresh(pd_conn_t *c, pd_slice_t token);
/* Drops pending checks and buffered messages (the connection is leaving). */
void pd_admit_cancel(pd_conn_t *c);

#endif
