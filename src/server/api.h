/*
 * The HTTP API for the app's backend (api.c, docs/api.md): /api/rooms...,
 * off unless --api-secret-file is given.
 */
#ifndef PD_SERVER_API_H
#define PD_SERVER_API_H

#include "../http/http.h"
#include "conn.h"
#include "server.h"

/*
 * 1 when head is a call that reads a body (an authorized kick); no other
 * request's body is ever read.
 */
int pd_api_takes_body(const pd_server_t *srv, const pd_http_request_t *head);
/* Answers /api/rooms...; returns 0 when the path is not the API's. */
int pd_api_handle(pd_conn_t *c, const pd_http_request_t *req);
/* c is going: a pending read of the cluster's state answers no one. */
void pd_api_cancel(pd_conn_t *c);

#endif
