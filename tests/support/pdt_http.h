/*
 * Raw HTTP over a real TCP socket for black-box tests: send exactly the
 * bytes given, read whatever comes back.
 */
#ifndef PDT_HTTP_H
#define PDT_HTTP_H

#include <stddef.h>

#include "base/buf.h"

/* A blocking TCP connection to 127.0.0.1:port (TCP_NODELAY); -1 on failure. */
int pdt_tcp_connect(int port);

/* The same with SO_RCVBUF set to rcvbuf bytes before connecting (0: default). */
int pdt_tcp_connect_rcvbuf(int port, int rcvbuf);

/* Writes all of data; returns 0, or -1 when the peer is gone. */
int pdt_write_all(int fd, const void *data, size_t len);

/*
 * Reads into out until the peer closes, a whole response has arrived
 * (headers plus Content-Length bytes, or just the headers of a 101), or
 * timeout_ms passes. Returns 1 when the peer closed (FIN or RST), 0
 * otherwise.
 */
int pdt_read_response(int fd, pd_buf_t *out, int timeout_ms);

/* The status code of the response in text, or 0 when there is none. */
int pdt_http_status(const char *text);

/*
 * The value of header name (case-insensitive) in a response, copied into
 * out; returns 0, or -1 when the header is absent.
 */
int pdt_http_header(const char *text, const char *name, char *out, size_t cap);

/* The body of a response (after the blank line), or "" when there is none. */
const char *pdt_http_body(const char *text);

/*
 * Connects, sends request, reads the response (5 s at most) into out and
 * returns its status code (0 when the server closed without answering).
 */
int pdt_http_raw(int port, const char *request, size_t len, pd_buf_t *out);

/* GET path with "Connection: close"; returns the status, body in out. */
int pdt_http_get(int port, const char *path, pd_buf_t *out);

/* The same with "Authorization: Bearer secret" (the HTTP API's; NULL: none). */
int pdt_http_get_auth(int port, const char *path, const char *secret, pd_buf_t *out);

/* The value of the metric line "name value" in a /metrics text, or -1 when absent. */
double pdt_metric(const char *text, const char *name);

/* The metric's value in GET /metrics on port, or -1 when absent or not answered 200. */
double pdt_http_metric(int port, const char *name);

#endif
