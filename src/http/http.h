/*
 * HTTP/1.1 request parsing for the upgrade request and the small HTTP API,
 * on top of libhttp-parser. The parser does no I/O: bytes in, a request out.
 * It copies the request target, the headers it cares about and the body into
 * a buffer it owns (about limits.max_header_bytes + limits.max_body_bytes at
 * most), so feeding can happen in chunks of any size, down to one byte. One
 * parser reads one request: pipelined requests are not read.
 *
 * The same parser reads the other half of a WebSocket opening handshake, a
 * server's response, for the client library (pd_http_response_parser_init());
 * the helpers for that side are at the end of this header.
 */
#ifndef PD_HTTP_HTTP_H
#define PD_HTTP_HTTP_H

#include <http_parser.h>
#include <stddef.h>
#include <sys/types.h>

#include "../base/buf.h"
#include "../base/slice.h"

typedef enum {
    PD_HTTP_GET = 1,
    PD_HTTP_HEAD,
    PD_HTTP_POST,
    PD_HTTP_OTHER, /* any other method; answered with 405 by the router */
} pd_http_method_t;

typedef struct {
    /*
     * Request line + headers, every byte up to and including the empty line
     * that ends them (CRLFs before the request line count too); over it: 431
     * (default 8192).
     */
    size_t max_header_bytes;
    size_t max_body_bytes; /* over it: 413 (default 65536) */
} pd_http_limits_t;

#define PD_HTTP_LIMITS_DEFAULT ((pd_http_limits_t){8192, 65536})

/*
 * A parsed request. Every slice points into the parser's storage and stays
 * valid until pd_http_parser_free() or the next pd_http_parser_init(). A
 * header that was absent has base == NULL. A header sent more than once is
 * joined with ", " (RFC 9110 5.3); whitespace around a value is not part of
 * it. Header names are matched case-insensitively; other headers are skipped.
 */
typedef struct {
    pd_http_method_t method;
    int http_major, http_minor;
    pd_slice_t target; /* the request target as sent */
    pd_slice_t path;   /* target up to '?' or '#' */
    pd_slice_t query;  /* after '?', up to '#' (base NULL when there is no '?') */
    pd_slice_t host;
    pd_slice_t upgrade;
    pd_slice_t connection;
    pd_slice_t sec_websocket_key;
    pd_slice_t sec_websocket_version;
    pd_slice_t origin;
    pd_slice_t authorization;
    pd_slice_t content_type;
    pd_slice_t body; /* Content-Length or chunked body; base NULL when empty */
    int keep_alive;  /* what http_should_keep_alive() said */
    int body_unread; /* a body was announced and the head callback chose not to read it */
} pd_http_request_t;

/*
 * Decides, once the head of a request that announces a body (Content-Length
 * above 0, or chunked) is read, whether the body is read at all. Returns 0
 * to read it, up to *max_body bytes (set by the callback; more is 413, and
 * a Content-Length above it is 413 at once), or 1 to end the request with
 * its head: pd_http_feed() then reports it complete with body_unread set
 * and no body, and the bytes after the head are not the parser's. head's
 * slices are valid during the call only. Without a callback every body is
 * read up to limits.max_body_bytes.
 */
typedef int (*pd_http_head_cb)(void *ud, const pd_http_request_t *head, size_t *max_body);

/* What the parser knows about the header line it is reading. */
typedef enum {
    PD_HTTP_HDR_NONE,  /* between header lines */
    PD_HTTP_HDR_NAME,  /* inside a header name */
    PD_HTTP_HDR_VALUE, /* inside a header value */
} pd_http_hdr_state_t;

/*
 * A parsed response (the client's side of the handshake). Slices follow the
 * rules of pd_http_request_t.
 */
typedef struct {
    int status; /* e.g. 101 */
    int http_major, http_minor;
    pd_slice_t upgrade;
    pd_slice_t connection;
    pd_slice_t sec_websocket_accept;
    pd_slice_t content_type;
    pd_slice_t body; /* base NULL when empty; a 101's never has one */
} pd_http_response_t;

/*
 * Request target, eight request headers, Sec-WebSocket-Accept (responses
 * only) and the body: the pieces the parser keeps.
 */
#define PD_HTTP_PIECES 11

/*
 * Parser state. The fields are private to http.c; callers only allocate the
 * struct (it may be moved between calls, it holds no pointer to itself).
 */
typedef struct {
    http_parser parser;
    pd_http_limits_t limits;
    pd_buf_t store;      /* copies of the request's pieces */
    size_t header_bytes; /* head bytes fed so far; not updated once complete */
    pd_http_hdr_state_t hdr;
    int cur_piece;     /* piece the current header value goes to, or -1 */
    size_t name_start; /* where the current header name begins in store */
    int headers_done;
    int done;
    int status; /* HTTP status to answer after an error, else 0 */
    /*
     * Offsets and lengths of the pieces in store, turned into slices when the
     * request completes because store may move while it grows. An absent
     * piece has offset SIZE_MAX.
     */
    size_t off[PD_HTTP_PIECES][2];
    pd_http_request_t req;
    int response; /* reading a response, not a request */
    pd_http_head_cb head_cb;
    void *head_ud;
    int line_state; /* where the head's line endings stand (requests only) */
    pd_http_response_t resp;
} pd_http_parser_t;

/*
 * Prepares p, which must not hold a request (a new struct, or one passed to
 * pd_http_parser_free()), for one request. limits NULL means
 * PD_HTTP_LIMITS_DEFAULT. Allocates nothing until bytes are fed.
 */
void pd_http_parser_init(pd_http_parser_t *p, const pd_http_limits_t *limits);

/* Sets the callback that decides on request bodies (see pd_http_head_cb). */
void pd_http_parser_on_head(pd_http_parser_t *p, pd_http_head_cb cb, void *ud);

/* Releases the parser's storage; the request's slices die with it. */
void pd_http_parser_free(pd_http_parser_t *p);

/*
 * Feeds received bytes. Returns:
 *   n > 0           the request is complete; n bytes of data were consumed
 *                   (bytes after them belong to whatever follows, e.g.
 *                   WebSocket frames sent right after the upgrade request);
 *                   pd_http_request() returns it.
 *   PD_ERR_PARTIAL  all bytes consumed, the request is not complete yet.
 *   PD_ERR_PROTO, PD_ERR_TOO_LARGE
 *                   a bad request; pd_http_error_status() is the status to
 *                   answer with: 400 (malformed, including whitespace in
 *                   a header name (RFC 9112 5.1), a line of the head ended
 *                   by a bare LF or CR, a folded header line (obs-fold,
 *                   RFC 9112 5.2) and a version the parser
 *                   cannot read such as "HTTP/10.0"), 413, 431
 *                   (PD_ERR_TOO_LARGE for these two) or 505 (a well-formed
 *                   version whose major is not 1: "HTTP/2.0", "HTTP/0.9").
 *                   Feeding again after an error or a completed request
 *                   returns PD_ERR_INVALID.
 * For an upgrade request (Upgrade + Connection: upgrade) the request ends
 * with its headers, or with its body when it declares one.
 */
ssize_t pd_http_feed(pd_http_parser_t *p, const char *data, size_t len);

/*
 * The request once pd_http_feed() reported it complete, else NULL (also for
 * a parser reading a response).
 */
const pd_http_request_t *pd_http_request(const pd_http_parser_t *p);

/* The status to answer after pd_http_feed() failed, else 0. */
int pd_http_error_status(const pd_http_parser_t *p);

/*
 * Looks up parameter name in a query string (without '?') and writes its
 * percent-decoded value ('+' is a space) into out, NUL-terminated. Names
 * are compared as sent, byte for byte ("token" does not match "xtoken" or
 * "Token"); a parameter without '=' has an empty value. Returns the value's
 * length, -1 when the parameter is absent (also when query.base is NULL),
 * PD_ERR_TOO_LARGE when it needs more than cap - 1 bytes, or PD_ERR_INVALID
 * for a broken %-escape or one that decodes to a NUL byte, so out is always a
 * C string of the returned length. The first occurrence wins.
 */
ssize_t pd_http_query_param(pd_slice_t query, const char *name, char *out, size_t cap);

/*
 * Checks a request for a valid RFC 6455 opening handshake (section 4.2.1).
 * Returns 0 when it is one, otherwise the status to answer, from the first
 * check that fails, in this order:
 *   405  the method is not GET;
 *   426  Upgrade has no "websocket" token or Connection no "upgrade" token
 *        (comma-separated lists, case-insensitive), i.e. a plain GET;
 *   400  HTTP/1.0, or Sec-WebSocket-Key missing or not 16 bytes in base64;
 *   426  Sec-WebSocket-Version is missing or not "13".
 * A 426 answer must carry PD_HTTP_WS_426_HEADERS: RFC 9110 15.5.22 wants the
 * Upgrade header on every 426, RFC 6455 4.4 the supported version.
 */
int pd_http_websocket_check(const pd_http_request_t *req);

/* Extra headers for a 426 answer to a failed WebSocket handshake. */
#define PD_HTTP_WS_426_HEADERS "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"

/*
 * Computes Sec-WebSocket-Accept for a client's Sec-WebSocket-Key into out
 * (28 characters and a NUL). Returns 0, PD_ERR_INVALID when the key is not
 * the base64 form of 16 bytes (22 characters and "=="), or PD_ERR_NOMEM when
 * OpenSSL cannot allocate its digest context.
 */
int pd_http_ws_accept(pd_slice_t key, char out[29]);

/*
 * Appends the complete 101 Switching Protocols response (Upgrade, Connection
 * and Sec-WebSocket-Accept headers, then the empty line).
 */
void pd_http_write_upgrade(pd_buf_t *out, const char accept[29]);

/*
 * Appends a complete response: the status line, Content-Type (when
 * content_type is not NULL), Content-Length, "Connection: close",
 * extra_headers (NULL or lines each ending in "\r\n"), the empty line and
 * the body (body.base may be NULL when body.len is 0).
 */
void pd_http_write_response(pd_buf_t *out, int status, const char *content_type, pd_slice_t body,
                            const char *extra_headers);

/* The reason phrase for a status code ("Not Found"); "Unknown" if unknown. */
const char *pd_http_reason(int status);

/* ---- The client's side of the WebSocket handshake. ---- */

/*
 * Prepares p, as pd_http_parser_init() does, to read one response instead
 * of a request. pd_http_feed() then works as documented there, with these
 * differences: a 101 response ends with its headers (the bytes after them
 * are WebSocket frames); any other response ends after its Content-Length
 * or chunked body (one without either is read until the connection ends,
 * which the parser cannot see: the caller learns only that it is
 * incomplete). Errors carry the status a server would have answered for the
 * same flaw (400 malformed, 413 body over max_body_bytes, 431 head over
 * max_header_bytes, 505 a major version other than 1), so that callers can
 * tell them apart.
 */
void pd_http_response_parser_init(pd_http_parser_t *p, const pd_http_limits_t *limits);

/* The response once pd_http_feed() reported it complete, else NULL. */
const pd_http_response_t *pd_http_response(const pd_http_parser_t *p);

/*
 * Appends a WebSocket opening handshake request (RFC 6455 4.1): GET target
 * HTTP/1.1, Host, Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-
 * Version 13, extra_headers (NULL or lines each ending in "\r\n") and the
 * empty line. target is sent as given (the caller percent-encodes it).
 */
void pd_http_write_ws_request(pd_buf_t *out, pd_slice_t host, pd_slice_t target, pd_slice_t key,
                              const char *extra_headers);

/*
 * Checks a server's answer to a handshake sent with key (RFC 6455 4.1,
 * the client's checks). Returns 0 when the connection is now a WebSocket,
 * PD_ERR_NOT_FOUND when the status is not 101 (the server refused: look at
 * resp->status), or PD_ERR_PROTO when it is 101 but Upgrade lacks
 * "websocket", Connection lacks "upgrade", or Sec-WebSocket-Accept is not
 * the one key calls for. A key that is not the base64 form of 16 bytes
 * gets PD_ERR_INVALID (and PD_ERR_NOMEM is as for pd_http_ws_accept()).
 */
int pd_http_ws_check_response(const pd_http_response_t *resp, pd_slice_t key);

#endif
