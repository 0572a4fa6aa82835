/*
 * Feeds the input to the response parser (the client's side of the
 * WebSocket handshake) twice: whole, and in chunks whose sizes come from the
 * first byte, with limits from the second byte so that 413 and 431 are
 * reached too. Both runs must agree byte for byte; a complete response then
 * goes through the client's handshake check.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "http/http.h"
#include "http_feed.h"

#define FIELDS 5

static void fields(const pd_http_response_t *r, pd_slice_t out[FIELDS])
{
    const pd_slice_t all[FIELDS] = {r->upgrade, r->connection, r->sec_websocket_accept,
                                    r->content_type, r->body};
    memcpy(out, all, sizeof all);
}

static int slice_same(pd_slice_t a, pd_slice_t b)
{
    return (a.base == NULL) == (b.base == NULL) && pd_slice_eq(a, b);
}

static void compare(const pd_http_response_t *a, const pd_http_response_t *b)
{
    pd_slice_t fa[FIELDS], fb[FIELDS];
    fields(a, fa);
    fields(b, fb);
    if (a->status != b->status || a->http_major != b->http_major || a->http_minor != b->http_minor)
        __builtin_trap();
    for (int i = 0; i < FIELDS; i++)
        if (!slice_same(fa[i], fb[i]))
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t pattern = data[0];
    pd_http_limits_t limits = {64 + (size_t)(data[1] & 0x0f) * 256, (size_t)(data[1] >> 4) * 64};
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    pd_http_parser_t whole, pieces;
    pd_http_response_parser_init(&whole, &limits);
    pd_http_response_parser_init(&pieces, &limits);
    outcome_t a = feed(&whole, in, len, 0, pattern);
    outcome_t b = feed(&pieces, in, len, 1, pattern);
    if (a.result != b.result || a.status != b.status)
        __builtin_trap();
    const pd_http_response_t *ra = pd_http_response(&whole), *rb = pd_http_response(&pieces);
    if ((ra == NULL) != (a.result <= 0) || (rb == NULL) != (b.result <= 0))
        __builtin_trap();
    if (ra && rb) {
        compare(ra, rb);
        int check = pd_http_ws_check_response(ra, PD_SLICE_LIT("dGhlIHNhbXBsZSBub25jZQ=="));
        if (check != 0 && check != PD_ERR_NOT_FOUND && check != PD_ERR_PROTO)
            __builtin_trap();
        if (check == 0 && ra->status != 101)
            __builtin_trap();
    }
    if (pd_http_request(&whole) || pd_http_request(&pieces))
        __builtin_trap();
    pd_http_parser_free(&whole);
    pd_http_parser_free(&pieces);
    return 0;
}
