#include "http.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "../base/err.h"

/* The pieces of a request the parser keeps, as indexes into off[]. */
enum {
    PIECE_TARGET,
    PIECE_HOST,
    PIECE_UPGRADE,
    PIECE_CONNECTION,
    PIECE_KEY,
    PIECE_VERSION,
    PIECE_ORIGIN,
    PIECE_AUTHORIZATION,
    PIECE_CONTENT_TYPE,
    PIECE_ACCEPT,
    PIECE_BODY,
};

_Static_assert(PIECE_BODY + 1 == PD_HTTP_PIECES, "one offset pair per piece");

#define ABSENT SIZE_MAX

typedef struct {
    const char *name;
    int piece;
} known_header_t;

static const known_header_t known_headers[] = {
    {"Host", PIECE_HOST},
    {"Upgrade", PIECE_UPGRADE},
    {"Connection", PIECE_CONNECTION},
    {"Sec-WebSocket-Key", PIECE_KEY},
    {"Sec-WebSocket-Version", PIECE_VERSION},
    {"Origin", PIECE_ORIGIN},
    {"Authorization", PIECE_AUTHORIZATION},
    {"Content-Type", PIECE_CONTENT_TYPE},
};

static const known_header_t known_response_headers[] = {
    {"Upgrade", PIECE_UPGRADE},
    {"Connection", PIECE_CONNECTION},
    {"Sec-WebSocket-Accept", PIECE_ACCEPT},
    {"Content-Type", PIECE_CONTENT_TYPE},
};

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ASCII only: header names and tokens must not depend on the locale. */
static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int ascii_ieq(const char *a, size_t len, const char *b)
{
    if (strlen(b) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static pd_slice_t trim_ows(pd_slice_t s)
{
    while (s.len > 0 && is_ows(s.base[0])) {
        s.base++;
        s.len--;
    }
    while (s.len > 0 && is_ows(s.base[s.len - 1]))
        s.len--;
    return s;
}

/* ---- Pieces: ranges of store, kept as offsets because store moves. ---- */

static int piece_present(const pd_http_parser_t *p, int piece)
{
    return p->off[piece][0] != ABSENT;
}

static void store_truncate(pd_http_parser_t *p, size_t len)
{
    p->store.len = len;
    if (p->store.base)
        p->store.base[len] = '\0';
}

/*
 * Moves a piece to the end of store so that a repeated header can grow in
 * place. The gap it leaves is closed, which keeps store no larger than the
 * bytes it copies.
 */
static void piece_move_to_end(pd_http_parser_t *p, int piece)
{
    size_t start = p->off[piece][0], len = p->off[piece][1];
    size_t end = p->store.len;
    if (start + len == end)
        return;
    pd_buf_reserve(&p->store, len);
    char *b = p->store.base;
    memcpy(b + end, b + start, len);
    memmove(b + start, b + start + len, end - start);
    b[end] = '\0';
    for (int i = 0; i < PD_HTTP_PIECES; i++) {
        if (i == piece || !piece_present(p, i) || p->off[i][0] <= start)
            continue;
        /*
         * Only an empty piece can sit inside the moved range (it was opened
         * at the end of store before this piece grew over that spot).
         */
        if (p->off[i][0] >= start + len)
            p->off[i][0] -= len;
        else
            p->off[i][0] = start;
    }
    p->off[piece][0] = end - len;
}

static void piece_append(pd_http_parser_t *p, int piece, const char *at, size_t len)
{
    pd_buf_append(&p->store, at, len);
    p->off[piece][1] += len;
}

/* Starts a piece at the end of store, or reopens it there to join a repeat. */
static void piece_open(pd_http_parser_t *p, int piece)
{
    /* A present piece needs a base even when empty, so store must exist. */
    pd_buf_reserve(&p->store, 0);
    if (!piece_present(p, piece)) {
        p->off[piece][0] = p->store.len;
        p->off[piece][1] = 0;
        return;
    }
    piece_move_to_end(p, piece);
    piece_append(p, piece, ", ", 2);
}

/* Drops trailing whitespace from the piece at the end of store. */
static void piece_trim_end(pd_http_parser_t *p, int piece)
{
    while (p->off[piece][1] > 0 && is_ows(p->store.base[p->store.len - 1])) {
        p->off[piece][1]--;
        store_truncate(p, p->store.len - 1);
    }
}

static pd_slice_t piece_slice(const pd_http_parser_t *p, int piece)
{
    if (!piece_present(p, piece))
        return PD_SLICE_NULL;
    return pd_slice(p->store.base + p->off[piece][0], p->off[piece][1]);
}

/* ---- Header name/value pairing across http_parser callbacks. ---- */

static int known_piece(const pd_http_parser_t *p, const char *name, size_t len)
{
    const known_header_t *table = p->response ? known_response_headers : known_headers;
    size_t n = p->response ? sizeof known_response_headers / sizeof known_response_headers[0]
                           : sizeof known_headers / sizeof known_headers[0];
    for (size_t i = 0; i < n; i++)
        if (ascii_ieq(name, len, table[i].name))
            return table[i].piece;
    return -1;
}

/* The name is complete: decide where its value goes and forget the name. */
static void header_value_begin(pd_http_parser_t *p)
{
    size_t name_len = p->store.len - p->name_start;
    p->cur_piece = known_piece(p, p->store.base + p->name_start, name_len);
    store_truncate(p, p->name_start);
    p->hdr = PD_HTTP_HDR_VALUE;
    if (p->cur_piece >= 0)
        piece_open(p, p->cur_piece);
}

/* Called when a new header name starts or the head ends. */
static void header_end(pd_http_parser_t *p)
{
    if (p->hdr == PD_HTTP_HDR_NAME)
        header_value_begin(p);
    if (p->hdr == PD_HTTP_HDR_VALUE && p->cur_piece >= 0)
        piece_trim_end(p, p->cur_piece);
    p->hdr = PD_HTTP_HDR_NONE;
    p->cur_piece = -1;
}

/* ---- http_parser callbacks. ---- */

static int callback_fail(pd_http_parser_t *p, int status)
{
    p->status = status;
    return -1;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    pd_http_parser_t *p = hp->data;
    if (!piece_present(p, PIECE_TARGET))
        piece_open(p, PIECE_TARGET);
    piece_append(p, PIECE_TARGET, at, len);
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    pd_http_parser_t *p = hp->data;
    /* Trailers of a chunked body come through here too; they are not kept. */
    if (p->headers_done)
        return 0;
    /*
     * http_parser lets whitespace into names; RFC 9112 5.1 wants a 400 so
     * that "Content-Length : 5" cannot mean different things to different
     * hops.
     */
    if (memchr(at, ' ', len) || memchr(at, '\t', len))
        return callback_fail(p, 400);
    if (p->hdr != PD_HTTP_HDR_NAME) {
        header_end(p);
        p->name_start = p->store.len;
        p->hdr = PD_HTTP_HDR_NAME;
    }
    pd_buf_append(&p->store, at, len);
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    pd_http_parser_t *p = hp->data;
    if (p->headers_done)
        return 0;
    if (p->hdr == PD_HTTP_HDR_NAME)
        header_value_begin(p);
    if (p->cur_piece >= 0)
        piece_append(p, p->cur_piece, at, len);
    return 0;
}

static void request_finish(pd_http_parser_t *p);

static int announces_body(const http_parser *hp)
{
    return (hp->flags & F_CHUNKED) || (hp->content_length > 0 && hp->content_length != ULLONG_MAX);
}

/*
 * The caller's head callback chooses whether a body is read, so that bytes
 * nobody will use are never stored: see pd_http_head_cb.
 */
static int ask_about_body(pd_http_parser_t *p, http_parser *hp)
{
    request_finish(p);
    size_t max = 0;
    if (p->head_cb(p->head_ud, &p->req, &max)) {
        p->req.body_unread = 1;
        p->done = 1;
        http_parser_pause(hp, 1);
        return 0;
    }
    p->limits.max_body_bytes = max;
    if (!(hp->flags & F_CHUNKED) && hp->content_length > max)
        return callback_fail(p, 413);
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    pd_http_parser_t *p = hp->data;
    header_end(p);
    p->headers_done = 1;
    if (hp->http_major != 1)
        return callback_fail(p, 505);
    if (!p->response && p->head_cb && announces_body(hp))
        return ask_about_body(p, hp);
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    pd_http_parser_t *p = hp->data;
    size_t have = piece_present(p, PIECE_BODY) ? p->off[PIECE_BODY][1] : 0;
    if (len > p->limits.max_body_bytes - have)
        return callback_fail(p, 413);
    if (!piece_present(p, PIECE_BODY))
        piece_open(p, PIECE_BODY);
    piece_append(p, PIECE_BODY, at, len);
    return 0;
}

/*
 * Pausing makes http_parser_execute() return right after the request, so
 * the bytes that follow it are left to the caller.
 */
static int on_message_complete(http_parser *hp)
{
    pd_http_parser_t *p = hp->data;
    p->done = 1;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- Feeding. ---- */

static void parser_init(pd_http_parser_t *p, const pd_http_limits_t *limits,
                        enum http_parser_type type)
{
    memset(p, 0, sizeof *p);
    http_parser_init(&p->parser, type);
    p->response = type == HTTP_RESPONSE;
    p->limits = limits ? *limits : PD_HTTP_LIMITS_DEFAULT;
    pd_buf_init(&p->store);
    p->hdr = PD_HTTP_HDR_NONE;
    p->cur_piece = -1;
    for (int i = 0; i < PD_HTTP_PIECES; i++)
        p->off[i][0] = ABSENT;
}

void pd_http_parser_init(pd_http_parser_t *p, const pd_http_limits_t *limits)
{
    parser_init(p, limits, HTTP_REQUEST);
}

void pd_http_response_parser_init(pd_http_parser_t *p, const pd_http_limits_t *limits)
{
    parser_init(p, limits, HTTP_RESPONSE);
}

void pd_http_parser_on_head(pd_http_parser_t *p, pd_http_head_cb cb, void *ud)
{
    p->head_cb = cb;
    p->head_ud = ud;
}

void pd_http_parser_free(pd_http_parser_t *p)
{
    pd_buf_free(&p->store);
}

static pd_http_method_t method_of(unsigned method)
{
    switch (method) {
    case HTTP_GET: return PD_HTTP_GET;
    case HTTP_HEAD: return PD_HTTP_HEAD;
    case HTTP_POST: return PD_HTTP_POST;
    default: return PD_HTTP_OTHER;
    }
}

static void split_target(pd_http_request_t *r)
{
    const char *t = r->target.base;
    const char *hash = memchr(t, '#', r->target.len);
    size_t before_hash = hash ? (size_t)(hash - t) : r->target.len;
    const char *q = memchr(t, '?', before_hash);
    size_t path_len = q ? (size_t)(q - t) : before_hash;
    r->path = pd_slice(t, path_len);
    r->query = q ? pd_slice(q + 1, before_hash - path_len - 1) : PD_SLICE_NULL;
}

static void response_finish(pd_http_parser_t *p)
{
    pd_http_response_t *r = &p->resp;
    r->status = (int)p->parser.status_code;
    r->http_major = p->parser.http_major;
    r->http_minor = p->parser.http_minor;
    r->upgrade = piece_slice(p, PIECE_UPGRADE);
    r->connection = piece_slice(p, PIECE_CONNECTION);
    r->sec_websocket_accept = piece_slice(p, PIECE_ACCEPT);
    r->content_type = piece_slice(p, PIECE_CONTENT_TYPE);
    r->body = piece_slice(p, PIECE_BODY);
}

static void request_finish(pd_http_parser_t *p)
{
    pd_http_request_t *r = &p->req;
    r->method = method_of(p->parser.method);
    r->http_major = p->parser.http_major;
    r->http_minor = p->parser.http_minor;
    r->target = piece_slice(p, PIECE_TARGET);
    split_target(r);
    r->host = piece_slice(p, PIECE_HOST);
    r->upgrade = piece_slice(p, PIECE_UPGRADE);
    r->connection = piece_slice(p, PIECE_CONNECTION);
    r->sec_websocket_key = piece_slice(p, PIECE_KEY);
    r->sec_websocket_version = piece_slice(p, PIECE_VERSION);
    r->origin = piece_slice(p, PIECE_ORIGIN);
    r->authorization = piece_slice(p, PIECE_AUTHORIZATION);
    r->content_type = piece_slice(p, PIECE_CONTENT_TYPE);
    r->body = piece_slice(p, PIECE_BODY);
    r->keep_alive = http_should_keep_alive(&p->parser);
}

static ssize_t feed_fail(pd_http_parser_t *p, int status)
{
    p->status = status;
    return status == 413 || status == 431 ? PD_ERR_TOO_LARGE : PD_ERR_PROTO;
}

/* The status for an error http_parser found by itself. */
static int parser_error_status(const pd_http_parser_t *p)
{
    if (p->status)
        return p->status;
    return HTTP_PARSER_ERRNO(&p->parser) == HPE_HEADER_OVERFLOW ? 431 : 400;
}

/*
 * libhttp-parser, as Debian builds it, takes a bare LF for a line end and
 * joins folded header lines (obs-fold). Either lets two hops read one
 * request two ways, and no client of ours sends them, so a request head is
 * held to CRLF line ends and unfolded lines (RFC 9112 2.2 and 5.2 allow a
 * server to refuse both). Empty lines before the request line are still
 * skipped (RFC 9112 2.2). The scan stops at the empty line ending the head:
 * what follows is a body or WebSocket frames.
 */
enum {
    LINE_BEFORE = 0,
    LINE_MID,
    LINE_CR,
    LINE_START,
    LINE_END_CR,
    LINE_PRE_CR,
    LINE_DONE
};

static int line_step(int st, char ch)
{
    switch (st) {
    case LINE_BEFORE: return ch == '\r' ? LINE_PRE_CR : ch == '\n' ? -1 : LINE_MID;
    case LINE_PRE_CR: return ch == '\n' ? LINE_BEFORE : -1;
    case LINE_MID: return ch == '\r' ? LINE_CR : ch == '\n' ? -1 : LINE_MID;
    case LINE_CR: return ch == '\n' ? LINE_START : -1;
    case LINE_START:
        if (ch == ' ' || ch == '\t' || ch == '\n')
            return -1;
        return ch == '\r' ? LINE_END_CR : LINE_MID;
    case LINE_END_CR: return ch == '\n' ? LINE_DONE : -1;
    default: return LINE_DONE;
    }
}

/*
 * Returns -1 at the first unsound line end, else how many of the len bytes
 * belong to the head (len when it has not ended within them).
 */
static ssize_t scan_lines(pd_http_parser_t *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p->line_state == LINE_DONE)
            return (ssize_t)i;
        int st = line_step(p->line_state, data[i]);
        if (st < 0)
            return -1;
        p->line_state = st;
    }
    return (ssize_t)len;
}

/*
 * How many of the avail bytes may go to http_parser now. While the head is
 * incomplete, no more than the head limit allows: if the head has not ended
 * once that many bytes went in, it is too large.
 */
static size_t feed_room(const pd_http_parser_t *p, size_t avail)
{
    if (p->headers_done)
        return avail;
    size_t room = p->limits.max_header_bytes - p->header_bytes;
    return avail < room ? avail : room;
}

ssize_t pd_http_feed(pd_http_parser_t *p, const char *data, size_t len)
{
    if (p->done || p->status)
        return PD_ERR_INVALID;
    p->parser.data = p;
    size_t used = 0;
    while (used < len) {
        size_t n = feed_room(p, len - used);
        if (n == 0)
            return feed_fail(p, 431);
        ssize_t head = p->response ? (ssize_t)n : scan_lines(p, data + used, n);
        if (head < 0)
            return feed_fail(p, 400);
        size_t got = http_parser_execute(&p->parser, &parser_settings, data + used, n);
        if (p->req.body_unread)
            got = (size_t)head; /* paused in the head's last byte, which it has consumed */
        if (!p->headers_done)
            p->header_bytes += got;
        used += got;
        if (p->done) {
            if (p->response)
                response_finish(p);
            else
                request_finish(p);
            return (ssize_t)used;
        }
        if (HTTP_PARSER_ERRNO(&p->parser) != HPE_OK || got < n)
            return feed_fail(p, parser_error_status(p));
    }
    return PD_ERR_PARTIAL;
}

const pd_http_request_t *pd_http_request(const pd_http_parser_t *p)
{
    return p->done && !p->response ? &p->req : NULL;
}

const pd_http_response_t *pd_http_response(const pd_http_parser_t *p)
{
    return p->done && p->response ? &p->resp : NULL;
}

int pd_http_error_status(const pd_http_parser_t *p)
{
    return p->status;
}

/* ---- Query strings. ---- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte a "%XY" escape stands for, given the avail bytes after '%'. */
static int escape_value(const char *s, size_t avail)
{
    if (avail < 2)
        return -1;
    int hi = hex_digit(s[0]), lo = hex_digit(s[1]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static ssize_t query_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            c = escape_value(s + i + 1, len - i - 1);
            if (c <= 0)
                return PD_ERR_INVALID;
            i += 2;
        }
        if (o + 1 >= cap)
            return PD_ERR_TOO_LARGE;
        out[o++] = (char)c;
    }
    if (cap == 0)
        return PD_ERR_TOO_LARGE;
    out[o] = '\0';
    return (ssize_t)o;
}

ssize_t pd_http_query_param(pd_slice_t query, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name);
    size_t i = 0;
    while (query.base && i < query.len) {
        const char *seg = query.base + i;
        const char *amp = memchr(seg, '&', query.len - i);
        size_t seg_len = amp ? (size_t)(amp - seg) : query.len - i;
        const char *eq = memchr(seg, '=', seg_len);
        size_t key_len = eq ? (size_t)(eq - seg) : seg_len;
        if (key_len == name_len && memcmp(seg, name, name_len) == 0)
            return eq ? query_decode(eq + 1, seg_len - key_len - 1, out, cap)
                      : query_decode(seg, 0, out, cap);
        i += seg_len + 1;
    }
    return -1;
}

/* ---- The WebSocket handshake. ---- */

/* Whether a comma-separated header value holds token (case-insensitive). */
static int list_has_token(pd_slice_t list, const char *token)
{
    size_t i = 0;
    while (list.base && i <= list.len) {
        const char *item = list.base + i;
        const char *comma = memchr(item, ',', list.len - i);
        size_t item_len = comma ? (size_t)(comma - item) : list.len - i;
        pd_slice_t t = trim_ows(pd_slice(item, item_len));
        if (ascii_ieq(t.base, t.len, token))
            return 1;
        i += item_len + 1;
    }
    return 0;
}

/*
 * Whether key is the base64 form of 16 bytes: 22 characters and "==".
 * EVP_DecodeBlock() reads '=' as zero bits wherever it appears, hence the
 * explicit check that it only pads.
 */
static int ws_key_valid(pd_slice_t key)
{
    unsigned char raw[18];
    if (!key.base || key.len != 24 || key.base[22] != '=' || key.base[23] != '=')
        return 0;
    if (memchr(key.base, '=', 22))
        return 0;
    return EVP_DecodeBlock(raw, (const unsigned char *)key.base, 24) == (int)sizeof raw;
}

int pd_http_websocket_check(const pd_http_request_t *req)
{
    if (req->method != PD_HTTP_GET)
        return 405;
    if (!list_has_token(req->upgrade, "websocket") || !list_has_token(req->connection, "upgrade"))
        return 426;
    if (req->http_major < 1 || (req->http_major == 1 && req->http_minor < 1))
        return 400;
    if (!ws_key_valid(req->sec_websocket_key))
        return 400;
    if (!pd_slice_eq_cstr(req->sec_websocket_version, "13"))
        return 426;
    return 0;
}

int pd_http_ws_accept(pd_slice_t key, char out[29])
{
    char text[24 + sizeof ws_guid - 1];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (!ws_key_valid(key))
        return PD_ERR_INVALID;
    memcpy(text, key.base, 24);
    memcpy(text + 24, ws_guid, sizeof ws_guid - 1);
    if (!EVP_Digest(text, sizeof text, digest, &digest_len, EVP_sha1(), NULL))
        return PD_ERR_NOMEM;
    EVP_EncodeBlock((unsigned char *)out, digest, (int)digest_len);
    return 0;
}

/* ---- The client's side of the handshake. ---- */

void pd_http_write_ws_request(pd_buf_t *out, pd_slice_t host, pd_slice_t target, pd_slice_t key,
                              const char *extra_headers)
{
    pd_buf_append(out, "GET ", 4);
    pd_buf_append_slice(out, target);
    pd_buf_append_cstr(out, " HTTP/1.1\r\nHost: ");
    pd_buf_append_slice(out, host);
    pd_buf_append_cstr(out, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: ");
    pd_buf_append_slice(out, key);
    pd_buf_append_cstr(out, "\r\nSec-WebSocket-Version: 13\r\n");
    if (extra_headers)
        pd_buf_append_cstr(out, extra_headers);
    pd_buf_append(out, "\r\n", 2);
}

int pd_http_ws_check_response(const pd_http_response_t *resp, pd_slice_t key)
{
    char expected[29];
    if (resp->status != 101)
        return PD_ERR_NOT_FOUND;
    if (!list_has_token(resp->upgrade, "websocket") || !list_has_token(resp->connection, "upgrade"))
        return PD_ERR_PROTO;
    int r = pd_http_ws_accept(key, expected);
    if (r != 0)
        return r;
    return pd_slice_eq_cstr(resp->sec_websocket_accept, expected) ? 0 : PD_ERR_PROTO;
}

/* ---- Responses. ---- */

void pd_http_write_upgrade(pd_buf_t *out, const char accept[29])
{
    pd_buf_appendf(out,
                   "HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %.28s\r\n"
                   "\r\n",
                   accept);
}

void pd_http_write_response(pd_buf_t *out, int status, const char *content_type, pd_slice_t body,
                            const char *extra_headers)
{
    pd_buf_appendf(out, "HTTP/1.1 %d %s\r\n", status, pd_http_reason(status));
    if (content_type)
        pd_buf_appendf(out, "Content-Type: %s\r\n", content_type);
    pd_buf_appendf(out, "Content-Length: %zu\r\nConnection: close\r\n", body.len);
    if (extra_headers)
        pd_buf_append_cstr(out, extra_headers);
    pd_buf_append(out, "\r\n", 2);
    pd_buf_append_slice(out, body);
}

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {101, "Switching Protocols"},
    {200, "OK"},
    {204, "No Content"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {413, "Content Too Large"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {503, "Service Unavailable"},
    {505, "HTTP Version Not Supported"},
};

const char *pd_http_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}
