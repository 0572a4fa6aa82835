/*
 * Feeds the input to the request parser twice: whole, and in chunks whose
 * sizes come from the first byte, with limits from the second byte so that
 * 413 and 431 are reached too. Both runs must agree byte for byte; the
 * request then goes through everything the server does with one.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/http.h"
#include "http_feed.h"

#define FIELDS 12

static void fields(const pd_http_request_t *r, pd_slice_t out[FIELDS])
{
    const pd_slice_t all[FIELDS] = {
        r->target,
        r->path,
        r->query,
        r->host,
        r->upgrade,
        r->connection,
        r->sec_websocket_key,
        r->sec_websocket_version,
        r->origin,
        r->authorization,
        r->content_type,
        r->body,
    };
    memcpy(out, all, sizeof all);
}

static void same_request(const pd_http_request_t *a, const pd_http_request_t *b)
{
    pd_slice_t x[FIELDS], y[FIELDS];
    if (a->method != b->method || a->http_major != b->http_major ||
        a->http_minor != b->http_minor || a->keep_alive != b->keep_alive)
        __builtin_trap();
    fields(a, x);
    fields(b, y);
    for (size_t i = 0; i < FIELDS; i++)
        if (!x[i].base != !y[i].base || !pd_slice_eq(x[i], y[i]))
            __builtin_trap();
}

static int known_status(int status)
{
    return status == 400 || status == 413 || status == 431 || status == 505;
}

static void use_request(const pd_http_request_t *req)
{
    static const char *const names[] = {"token", "_pk", "", "a"};
    char value[64], accept[29];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ssize_t n = pd_http_query_param(req->query, names[i], value, sizeof value);
        if (n >= 0 && strlen(value) != (size_t)n)
            __builtin_trap();
    }
    pd_http_query_param(req->query, "token", value, 1);
    pd_buf_t out = PD_BUF_INIT;
    int status = pd_http_websocket_check(req);
    if (pd_http_ws_accept(req->sec_websocket_key, accept) == 0)
        pd_http_write_upgrade(&out, accept);
    pd_http_write_response(&out, status ? status : 200, "text/plain", req->body, NULL);
    pd_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    pd_http_limits_t limits = {64 + (size_t)data[1] * 4, data[1]};
    const char *in = (const char *)data + 2;
    pd_http_parser_t whole, split;
    pd_http_parser_init(&whole, &limits);
    pd_http_parser_init(&split, &limits);
    outcome_t a = feed(&whole, in, size - 2, 0, 0);
    outcome_t b = feed(&split, in, size - 2, 1, data[0]);
    if (a.result != b.result || a.status != b.status)
        __builtin_trap();
    if (a.result > 0) {
        same_request(pd_http_request(&whole), pd_http_request(&split));
        use_request(pd_http_request(&split));
    } else if (a.result != PD_ERR_PARTIAL) {
        if (!known_status(a.status) || pd_http_feed(&whole, "x", 1) != PD_ERR_INVALID)
            __builtin_trap();
    }
    pd_http_parser_free(&whole);
    pd_http_parser_free(&split);
    return 0;
}
