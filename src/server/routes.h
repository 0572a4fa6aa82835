/*
 * Plain HTTP endpoints (routes.c): /healthz, /metrics, the API (api.h) and,
 * in development mode, /dev/token and the demo's files. Every response
 * closes its connection (pd_conn_respond).
 */
#ifndef PD_SERVER_ROUTES_H
#define PD_SERVER_ROUTES_H

#include "../base/slice.h"
#include "../http/http.h"
#include "conn.h"

/* 1 for /healthz and /metrics, which are answered even past --max-conns. */
int pd_routes_is_status(pd_slice_t path);
/* Answers a complete plain HTTP request (not a room upgrade). */
void pd_routes_handle(pd_conn_t *c, const pd_http_request_t *req);

#endif
