/*
 * Tests of the WebSocket codec. Frames are built by hand and fed whole, one
 * byte at a time and in random chunks (fixed seeds), so every path through
 * wslay's buffering and the codec's context release is exercised.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "ws/ws.h"

/* ---- recording callbacks ---- */

typedef struct {
    pd_ws_t *ws;
    pd_buf_t out; /* every byte that went to on_output */
    pd_buf_t log; /* events in order: "out|", "text:...|", "close:...|", "pong|" */
    int out_last; /* the last event logged was output */
    int texts;
} rec_t;

static void log_event(rec_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_event(rec_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pd_buf_vappendf(&r->log, fmt, ap);
    va_end(ap);
    r->out_last = 0;
}

static void on_text(void *ud, const char *data, size_t len)
{
    rec_t *r = ud;
    r->texts++;
    log_event(r, "text:%.*s|", (int)len, data);
}

static void on_close(void *ud, uint16_t code, pd_slice_t reason)
{
    if (reason.base)
        log_event(ud, "close:%u:%.*s|", code, (int)reason.len, reason.base);
    else
        log_event(ud, "close:%u:(null)|", code);
}

static void on_output(void *ud, const char *data, size_t len)
{
    rec_t *r = ud;
    assert_true(len > 0);
    pd_buf_append(&r->out, data, len);
    if (!r->out_last)
        pd_buf_append_cstr(&r->log, "out|");
    r->out_last = 1;
}

static void on_pong(void *ud)
{
    log_event(ud, "pong|");
}

static rec_t *rec_new(int client, size_t max_message)
{
    rec_t *r = test_calloc(1, sizeof(*r));
    pd_ws_config_t cfg = {.client = client, .max_message = max_message};
    pd_ws_callbacks_t cb = {on_text, on_close, on_output, on_pong};
    r->ws = pd_ws_new(&cfg, &cb, r);
    return r;
}

static void rec_free(rec_t *r)
{
    pd_ws_free(r->ws);
    pd_buf_free(&r->out);
    pd_buf_free(&r->log);
    test_free(r);
}

static void assert_log(const rec_t *r, const char *want)
{
    assert_string_equal(r->log.base ? r->log.base : "", want);
}

static void assert_out(const rec_t *r, const void *want, size_t len)
{
    assert_int_equal(r->out.len, len);
    if (len)
        assert_memory_equal(r->out.base, want, len);
}

#define ASSERT_OUT(r, lit) assert_out((r), (lit), sizeof(lit) - 1)

/* ---- frame builder ---- */

static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

static void put_len(pd_buf_t *b, uint8_t maskbit, size_t len)
{
    if (len < 126) {
        pd_buf_append_char(b, (char)(maskbit | len));
        return;
    }
    int n = len <= 0xffff ? 2 : 8;
    pd_buf_append_char(b, (char)(maskbit | (n == 2 ? 126 : 127)));
    for (int i = n - 1; i >= 0; i--)
        pd_buf_append_char(b, (char)((uint64_t)len >> (8 * i)));
}

/* Appends a frame whose first byte is b0 (FIN, RSV and opcode). */
static void put_frame(pd_buf_t *b, uint8_t b0, const void *payload, size_t len, int masked)
{
    const uint8_t *p = payload;
    pd_buf_append_char(b, (char)b0);
    put_len(b, masked ? 0x80 : 0, len);
    if (masked)
        pd_buf_append(b, MASK, 4);
    for (size_t i = 0; i < len; i++)
        pd_buf_append_char(b, (char)(p[i] ^ (masked ? MASK[i % 4] : 0)));
}

/* A masked frame carrying a C string. */
static void put_str(pd_buf_t *b, uint8_t b0, const char *s)
{
    put_frame(b, b0, s, strlen(s), 1);
}

static void put_close(pd_buf_t *b, uint16_t code, const char *reason)
{
    char p[128] = {(char)(code >> 8), (char)code};
    size_t n = strlen(reason);
    memcpy(p + 2, reason, n);
    put_frame(b, 0x88, p, n + 2, 1);
}

/* ---- feeding in pieces ---- */

enum {
    WHOLE,
    BYTES,
    CHUNKS
};

typedef struct {
    int mode;
    uint32_t seed;
} split_t;

static const split_t SPLITS[] = {
    {WHOLE, 0}, {BYTES, 0}, {CHUNKS, 1}, {CHUNKS, 7}, {CHUNKS, 42}, {CHUNKS, 2024},
};
#define NSPLITS (sizeof(SPLITS) / sizeof(SPLITS[0]))

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static size_t next_chunk(const split_t *sp, uint32_t *state, size_t left)
{
    size_t n = left;
    if (sp->mode == BYTES)
        n = 1;
    else if (sp->mode == CHUNKS)
        n = 1 + xorshift(state) % (xorshift(state) & 1 ? 9 : 700);
    return n < left ? n : left;
}

/*
 * Feeds data split as sp says. Returns the first non-zero result and checks
 * that every call after it returned PD_ERR_CLOSED.
 */
static int feed_split(pd_ws_t *ws, const void *data, size_t len, const split_t *sp)
{
    const char *p = data;
    uint32_t state = sp->seed ? sp->seed : 1;
    int first = 0;
    while (len > 0) {
        size_t n = next_chunk(sp, &state, len);
        int r = pd_ws_feed(ws, p, n);
        if (first)
            assert_int_equal(r, PD_ERR_CLOSED);
        else
            first = r;
        p += n;
        len -= n;
    }
    return first;
}

static int feed_buf(rec_t *r, const pd_buf_t *b, const split_t *sp)
{
    return feed_split(r->ws, b->base, b->len, sp);
}

/* Feeds b to a fresh server codec for every split and checks the outcome. */
static void expect_server(const pd_buf_t *b, size_t max_message, int ret, const char *log,
                          const void *out, size_t out_len)
{
    for (size_t i = 0; i < NSPLITS; i++) {
        rec_t *r = rec_new(0, max_message);
        assert_int_equal(feed_buf(r, b, &SPLITS[i]), ret);
        assert_log(r, log);
        assert_out(r, out, out_len);
        assert_int_equal(pd_ws_has_context(r->ws), 0);
        if (ret == PD_ERR_PROTO)
            assert_int_equal(pd_ws_feed(r->ws, "x", 1), PD_ERR_CLOSED);
        rec_free(r);
    }
}

#define CLOSE_1002 "\x88\x02\x03\xea"
#define CLOSE_1003 "\x88\x02\x03\xeb"
#define CLOSE_1007 "\x88\x02\x03\xef"
#define CLOSE_1009 "\x88\x02\x03\xf1"

/* Expects the events in log, then the close frame close4 and PD_ERR_PROTO. */
static void expect_close(const pd_buf_t *b, size_t max_message, const char *log, const char *close4)
{
    char want[256];
    snprintf(want, sizeof(want), "%sout|", log);
    expect_server(b, max_message, PD_ERR_PROTO, want, close4, 4);
}

/* ---- tests ---- */

static void test_single_text(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x81, "hello");
    expect_server(&b, 0, 0, "text:hello|", "", 0);
    pd_buf_reset(&b);
    put_str(&b, 0x81, "");
    expect_server(&b, 0, 0, "text:|", "", 0);
    pd_buf_free(&b);
}

static void test_fragmented_with_ping(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x01, "Hel");
    size_t first = b.len;
    put_str(&b, 0x89, "p");
    size_t ping_end = b.len;
    put_str(&b, 0x80, "lo");
    expect_server(&b, 0, 0, "out|text:Hello|", "\x8a\x01p", 3);

    /* Step by step: the pong leaves as soon as the ping is complete. */
    rec_t *r = rec_new(0, 0);
    assert_int_equal(pd_ws_feed(r->ws, b.base, first), 0);
    assert_int_equal(pd_ws_has_context(r->ws), 1);
    assert_int_equal(pd_ws_feed(r->ws, b.base + first, ping_end - first), 0);
    assert_log(r, "out|");
    ASSERT_OUT(r, "\x8a\x01p");
    assert_int_equal(pd_ws_has_context(r->ws), 1);
    assert_int_equal(pd_ws_feed(r->ws, b.base + ping_end, b.len - ping_end), 0);
    assert_log(r, "out|text:Hello|");
    assert_int_equal(pd_ws_has_context(r->ws), 0);
    rec_free(r);
    pd_buf_free(&b);
}

static void test_ping_payload_echoed(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x89, "abc");
    put_str(&b, 0x81, "after");
    expect_server(&b, 0, 0, "out|text:after|",
                  "\x8a\x03"
                  "abc",
                  5);
    pd_buf_free(&b);
}

static void test_pong_reported(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x8a, "");
    put_str(&b, 0x8a, "xy");
    expect_server(&b, 0, 0, "pong|pong|", "", 0);

    /* on_pong is optional. */
    pd_ws_config_t cfg = {0};
    pd_ws_callbacks_t cb = {on_text, on_close, on_output, NULL};
    rec_t r = {0};
    r.ws = pd_ws_new(&cfg, &cb, &r);
    assert_int_equal(pd_ws_feed(r.ws, b.base, b.len), 0);
    assert_log(&r, "");
    pd_ws_free(r.ws);
    pd_buf_free(&b);
}

static void test_binary_closes_1003(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_frame(&b, 0x82, "\x00\x01", 2, 1);
    put_str(&b, 0x81, "not delivered");
    expect_close(&b, 0, "", CLOSE_1003);

    /* The first fragment of a binary message is enough. */
    pd_buf_reset(&b);
    put_frame(&b, 0x02, "\x00", 1, 1);
    expect_close(&b, 0, "", CLOSE_1003);
    pd_buf_free(&b);
}

static void test_invalid_utf8_closes_1007(void **state)
{
    static const char *bad[] = {"\xff", "ab\xc3", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80"};
    pd_buf_t b = PD_BUF_INIT;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pd_buf_reset(&b);
        put_str(&b, 0x81, bad[i]);
        expect_close(&b, 0, "", CLOSE_1007);
    }
    /* A sequence split across fragments is still checked as one. */
    pd_buf_reset(&b);
    put_str(&b, 0x01, "\xc3");
    put_str(&b, 0x80, "(");
    expect_close(&b, 0, "", CLOSE_1007);
    pd_buf_free(&b);
}

static void test_valid_utf8_split_across_fragments(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x01, "h\xc3");
    put_str(&b, 0x00, "\xa9llo \xe2\x82");
    put_str(&b, 0x80, "\xac \xf0\x9f\x98\x80");
    expect_server(&b, 0, 0, "text:h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80|", "", 0);
    pd_buf_free(&b);
}

static void fill_text(pd_buf_t *b, uint8_t b0, size_t len, char c)
{
    char *s = test_malloc(len + 1);
    memset(s, c, len);
    s[len] = '\0';
    put_str(b, b0, s);
    test_free(s);
}

static void test_max_message(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    fill_text(&b, 0x81, 16, 'a');
    expect_server(&b, 16, 0, "text:aaaaaaaaaaaaaaaa|", "", 0);
    pd_buf_reset(&b);
    fill_text(&b, 0x81, 17, 'a');
    expect_close(&b, 16, "", CLOSE_1009);
    /* The limit applies to the reassembled message. */
    pd_buf_reset(&b);
    fill_text(&b, 0x01, 10, 'a');
    fill_text(&b, 0x80, 7, 'b');
    expect_close(&b, 16, "", CLOSE_1009);
    pd_buf_free(&b);
}

static void test_default_max_message(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    fill_text(&b, 0x81, 4096, 'z');
    rec_t *r = rec_new(0, 0);
    assert_int_equal(feed_buf(r, &b, &SPLITS[2]), 0);
    assert_int_equal(r->texts, 1);
    assert_int_equal(r->log.len, strlen("text:|") + 4096);
    rec_free(r);

    pd_buf_reset(&b);
    fill_text(&b, 0x81, 4097, 'z');
    expect_close(&b, 0, "", CLOSE_1009);
    pd_buf_free(&b);
}

static void test_unmasked_frame_closes_1002(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_frame(&b, 0x81, "hi", 2, 0);
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_free(&b);
}

static void test_protocol_errors_close_1002(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    char big[126] = {0};
    const char nonminimal[] = "\x81\xfe\x00\x05"
                              "\x37\xfa\x21\x3d"
                              "hello";

    put_str(&b, 0x09, "p"); /* fragmented ping */
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_reset(&b);
    put_frame(&b, 0x89, big, sizeof(big), 1); /* oversized ping */
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_reset(&b);
    put_str(&b, 0xc1, "x"); /* RSV1 without an extension */
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_reset(&b);
    put_str(&b, 0x83, "x"); /* reserved opcode */
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_reset(&b);
    put_str(&b, 0x80, "x"); /* continuation without a start */
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_reset(&b);
    put_str(&b, 0x01, "a"); /* new message inside a fragmented one */
    put_str(&b, 0x81, "b");
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_reset(&b);
    put_close(&b, 999, ""); /* invalid close code */
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_reset(&b);
    pd_buf_append(&b, nonminimal, sizeof(nonminimal) - 1);
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_free(&b);
}

static void test_close_handshake(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x81, "last");
    put_close(&b, 1000, "bye");
    size_t close_end = b.len;
    put_str(&b, 0x81, "ignored");
    for (size_t i = 0; i < NSPLITS; i++) {
        rec_t *r = rec_new(0, 0);
        assert_int_equal(feed_split(r->ws, b.base, close_end, &SPLITS[i]), 0);
        assert_log(r, "text:last|out|close:1000:bye|");
        ASSERT_OUT(r, "\x88\x05\x03\xe8"
                      "bye");
        assert_int_equal(pd_ws_close_received(r->ws), 1);
        assert_int_equal(pd_ws_close_sent(r->ws), 1);
        assert_int_equal(pd_ws_has_context(r->ws), 0);
        assert_int_equal(pd_ws_feed(r->ws, b.base, b.len), PD_ERR_CLOSED);
        assert_int_equal(pd_ws_send_text(r->ws, "x", 1), PD_ERR_CLOSED);
        assert_int_equal(pd_ws_ping(r->ws), PD_ERR_CLOSED);
        assert_int_equal(pd_ws_close(r->ws, 1000, NULL), PD_ERR_CLOSED);
        assert_int_equal(r->out.len, 7);
        rec_free(r);
    }
    /* Bytes after the close frame in the same call are ignored. */
    rec_t *r = rec_new(0, 0);
    assert_int_equal(pd_ws_feed(r->ws, b.base, b.len), 0);
    assert_log(r, "text:last|out|close:1000:bye|");
    rec_free(r);
    pd_buf_free(&b);
}

static void test_close_without_code(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x88, "");
    expect_server(&b, 0, 0, "out|close:1005:(null)|", "\x88\x00", 2);
    pd_buf_reset(&b);
    put_close(&b, 4001, "");
    expect_server(&b, 0, 0, "out|close:4001:|", "\x88\x02\x0f\xa1", 4);
    pd_buf_free(&b);
}

/* RFC 6455's registry has 1012-1014; this server sends 1013 (ROOM_FULL). */
static void test_close_codes_1012_to_1014(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_close(&b, 1013, "ROOM_FULL");
    expect_server(&b, 0, 0, "out|close:1013:ROOM_FULL|", "\x88\x0b\x03\xf5ROOM_FULL", 13);
    pd_buf_reset(&b);
    put_close(&b, 1012, "");
    expect_server(&b, 0, 0, "out|close:1012:|", "\x88\x02\x03\xf4", 4);
    pd_buf_reset(&b);
    put_close(&b, 1014, "\xff");
    expect_close(&b, 0, "", CLOSE_1007);
    pd_buf_reset(&b);
    put_close(&b, 1015, "");
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_free(&b);

    rec_t *c = rec_new(1, 0);
    assert_int_equal(pd_ws_feed(c->ws, "\x88\x0b\x03\xf5ROOM_FULL", 13), 0);
    assert_log(c, "out|close:1013:ROOM_FULL|");
    assert_int_equal(pd_ws_close_received(c->ws), 1);
    rec_free(c);
}

static void test_close_one_byte_payload(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_frame(&b, 0x88, "\x03", 1, 1);
    expect_close(&b, 0, "", CLOSE_1002);
    pd_buf_free(&b);
}

static void test_close_reason_utf8(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_close(&b, 1001, "\xff\xfe");
    expect_close(&b, 0, "", CLOSE_1007);
    pd_buf_reset(&b);
    put_close(&b, 1001, "ab\xe2\x82");
    expect_close(&b, 0, "", CLOSE_1007);
    pd_buf_reset(&b);
    put_close(&b, 1001, "caf\xc3\xa9");
    rec_t *r = rec_new(0, 0);
    assert_int_equal(pd_ws_feed(r->ws, b.base, b.len), 0);
    assert_log(r, "out|close:1001:caf\xc3\xa9|");
    rec_free(r);
    pd_buf_free(&b);
}

static void test_close_frame_bytes(void **state)
{
    rec_t *r = rec_new(0, 0);
    assert_int_equal(pd_ws_close(r->ws, 1008, "AUTH_INVALID"), 0);
    ASSERT_OUT(r, "\x88\x0e\x03\xf0"
                  "AUTH_INVALID");
    assert_int_equal(pd_ws_close_sent(r->ws), 1);
    assert_int_equal(pd_ws_close_received(r->ws), 0);
    assert_int_equal(pd_ws_has_context(r->ws), 0);
    assert_int_equal(pd_ws_send_text(r->ws, "x", 1), PD_ERR_CLOSED);
    assert_int_equal(pd_ws_ping(r->ws), PD_ERR_CLOSED);
    assert_int_equal(pd_ws_close(r->ws, 1000, NULL), PD_ERR_CLOSED);
    assert_int_equal(r->out.len, 16);
    rec_free(r);

    r = rec_new(0, 0);
    assert_int_equal(pd_ws_close(r->ws, 1000, NULL), 0);
    ASSERT_OUT(r, "\x88\x02\x03\xe8");
    rec_free(r);

    char reason[125];
    memset(reason, 'r', 124);
    reason[124] = '\0';
    r = rec_new(0, 0);
    assert_int_equal(pd_ws_close(r->ws, 1000, reason), PD_ERR_INVALID);
    reason[123] = '\0';
    assert_int_equal(pd_ws_close(r->ws, 1000, reason), 0);
    assert_int_equal(r->out.len, 2 + 2 + 123);
    rec_free(r);
}

static void test_after_close_sent(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x81, "dropped");
    put_str(&b, 0x89, "p");
    put_close(&b, 1000, "ok");
    for (size_t i = 0; i < NSPLITS; i++) {
        rec_t *r = rec_new(0, 0);
        assert_int_equal(pd_ws_close(r->ws, 1001, "going"), 0);
        pd_buf_reset(&r->log);
        r->out_last = 0;
        assert_int_equal(feed_buf(r, &b, &SPLITS[i]), 0);
        /* No text, no pong, no second close frame. */
        assert_log(r, "close:1000:ok|");
        ASSERT_OUT(r, "\x88\x07\x03\xe9"
                      "going");
        assert_int_equal(pd_ws_close_received(r->ws), 1);
        assert_int_equal(pd_ws_has_context(r->ws), 0);
        assert_int_equal(pd_ws_feed(r->ws, "x", 1), PD_ERR_CLOSED);
        rec_free(r);
    }
    pd_buf_free(&b);
}

static void test_context_lifecycle(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x81, "one");
    size_t one = b.len;
    put_str(&b, 0x81, "two");
    rec_t *r = rec_new(0, 0);
    assert_int_equal(pd_ws_has_context(r->ws), 0);
    assert_int_equal(pd_ws_feed(r->ws, b.base, 1), 0); /* half a header */
    assert_int_equal(pd_ws_has_context(r->ws), 1);
    assert_int_equal(pd_ws_feed(r->ws, b.base + 1, 5), 0); /* header only */
    assert_int_equal(pd_ws_has_context(r->ws), 1);
    assert_int_equal(pd_ws_feed(r->ws, b.base + 6, one - 6), 0);
    assert_log(r, "text:one|");
    assert_int_equal(pd_ws_has_context(r->ws), 0);
    /* A complete frame followed by one byte of the next keeps the context. */
    assert_int_equal(pd_ws_feed(r->ws, b.base, one + 1), 0);
    assert_int_equal(pd_ws_has_context(r->ws), 1);
    assert_int_equal(pd_ws_feed(r->ws, b.base + one + 1, b.len - one - 1), 0);
    assert_log(r, "text:one|text:one|text:two|");
    assert_int_equal(pd_ws_has_context(r->ws), 0);
    /* Sending leaves nothing behind either. */
    assert_int_equal(pd_ws_send_text(r->ws, "hi", 2), 0);
    assert_int_equal(pd_ws_ping(r->ws), 0);
    ASSERT_OUT(r, "\x81\x02hi\x89\x00");
    assert_int_equal(pd_ws_has_context(r->ws), 0);
    rec_free(r);
    pd_buf_free(&b);
}

static void expect_stream(const pd_buf_t *b, size_t max_message, const pd_buf_t *want_log)
{
    for (size_t i = 0; i < NSPLITS; i++) {
        rec_t *r = rec_new(0, max_message);
        assert_int_equal(feed_buf(r, b, &SPLITS[i]), 0);
        assert_int_equal(r->log.len, want_log->len);
        assert_memory_equal(r->log.base, want_log->base, want_log->len);
        assert_int_equal(pd_ws_has_context(r->ws), 0);
        rec_free(r);
    }
}

/* Many messages across wslay's 4 KiB read buffer lose no byte when the context comes and goes. */
static void test_stream_of_messages(void **state)
{
    pd_buf_t b = PD_BUF_INIT, want = PD_BUF_INIT;
    uint32_t s = 99;
    char msg[700];
    for (int i = 0; i < 120; i++) {
        size_t len = xorshift(&s) % (i % 3 ? 40 : 600);
        for (size_t k = 0; k < len; k++)
            msg[k] = (char)('a' + (i + k) % 26);
        if (i % 5 == 0) {
            size_t half = len / 2;
            put_frame(&b, 0x01, msg, half, 1);
            put_str(&b, 0x8a, "");
            put_frame(&b, 0x80, msg + half, len - half, 1);
            pd_buf_append_cstr(&want, "pong|");
        } else {
            put_frame(&b, 0x81, msg, len, 1);
        }
        pd_buf_appendf(&want, "text:%.*s|", (int)len, msg);
    }
    assert_true(b.len > 3 * 4096);
    expect_stream(&b, 0, &want);
    pd_buf_free(&b);
    pd_buf_free(&want);
}

static void test_64bit_length(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    fill_text(&b, 0x81, 65536, 'q');
    assert_memory_equal(b.base, "\x81\xff\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    rec_t *r = rec_new(0, 70000);
    assert_int_equal(feed_buf(r, &b, &SPLITS[3]), 0);
    assert_int_equal(r->texts, 1);
    assert_int_equal(r->log.len, strlen("text:|") + 65536);
    assert_int_equal(pd_ws_has_context(r->ws), 0);
    rec_free(r);
    pd_buf_free(&b);
}

static void unmask(uint8_t *frame, size_t hdr, size_t len)
{
    for (size_t i = 0; i < len; i++)
        frame[hdr + i] ^= frame[hdr - 4 + i % 4];
}

static void test_client_round_trip(void **state)
{
    rec_t *c = rec_new(1, 0);
    char msg[300];
    memset(msg, 'm', sizeof(msg));
    assert_int_equal(pd_ws_send_text(c->ws, "hello", 5), 0);
    assert_int_equal(pd_ws_send_text(c->ws, msg, sizeof(msg)), 0);
    assert_int_equal(pd_ws_has_context(c->ws), 0);
    assert_int_equal(c->out.len, (2 + 4 + 5) + (4 + 4 + 300));
    const uint8_t *o = (const uint8_t *)c->out.base;
    assert_int_equal(o[0], 0x81);
    assert_int_equal(o[1], 0x80 | 5);
    assert_int_equal(o[11], 0x81);
    assert_int_equal(o[12], 0x80 | 126);

    for (size_t i = 0; i < NSPLITS; i++) {
        rec_t *s = rec_new(0, 0);
        assert_int_equal(feed_buf(s, &c->out, &SPLITS[i]), 0);
        assert_int_equal(s->texts, 2);
        assert_memory_equal(s->log.base, "text:hello|text:mmm", 19);
        rec_free(s);
    }

    /* The client's close is masked too. */
    pd_buf_reset(&c->out);
    assert_int_equal(pd_ws_close(c->ws, 1000, "done"), 0);
    assert_int_equal(c->out.len, 2 + 4 + 6);
    uint8_t *f = (uint8_t *)c->out.base;
    assert_int_equal(f[0], 0x88);
    assert_int_equal(f[1], 0x80 | 6);
    unmask(f, 6, 6);
    assert_memory_equal(f + 6,
                        "\x03\xe8"
                        "done",
                        6);
    rec_free(c);
}

static void test_client_accepts_unmasked(void **state)
{
    static const size_t lens[] = {0, 5, 125, 126, 1000};
    for (size_t i = 0; i < NSPLITS; i++) {
        rec_t *c = rec_new(1, 0);
        pd_buf_t b = PD_BUF_INIT, want = PD_BUF_INIT;
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
            uint8_t hdr[10];
            char payload[1000];
            memset(payload, (int)('A' + k), lens[k]);
            pd_buf_append(&b, hdr, pd_ws_text_header(hdr, lens[k]));
            pd_buf_append(&b, payload, lens[k]);
            pd_buf_appendf(&want, "text:%.*s|", (int)lens[k], payload);
        }
        assert_int_equal(feed_buf(c, &b, &SPLITS[i]), 0);
        assert_string_equal(c->log.base, want.base);
        assert_int_equal(pd_ws_has_context(c->ws), 0);
        rec_free(c);
        pd_buf_free(&b);
        pd_buf_free(&want);
    }
}

static void test_client_rejects_masked(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x81, "masked");
    rec_t *c = rec_new(1, 0);
    assert_int_equal(pd_ws_feed(c->ws, b.base, b.len), PD_ERR_PROTO);
    assert_int_equal(c->out.len, 2 + 4 + 2);
    uint8_t *f = (uint8_t *)c->out.base;
    assert_int_equal(f[0], 0x88);
    assert_int_equal(f[1], 0x82);
    unmask(f, 6, 2);
    assert_memory_equal(f + 6, "\x03\xea", 2);
    assert_int_equal(pd_ws_feed(c->ws, b.base, b.len), PD_ERR_CLOSED);
    rec_free(c);
    pd_buf_free(&b);
}

static void test_client_close_handshake(void **state)
{
    rec_t *c = rec_new(1, 0);
    assert_int_equal(pd_ws_feed(c->ws, "\x88\x02\x03\xe8", 4), 0);
    assert_log(c, "out|close:1000:|");
    uint8_t *f = (uint8_t *)c->out.base;
    assert_int_equal(c->out.len, 8);
    assert_int_equal(f[0], 0x88);
    unmask(f, 6, 2);
    assert_memory_equal(f + 6, "\x03\xe8", 2);
    rec_free(c);
}

static void test_text_header(void **state)
{
    uint8_t h[10];
    assert_int_equal(pd_ws_text_header(h, 0), 2);
    assert_memory_equal(h, "\x81\x00", 2);
    assert_int_equal(pd_ws_text_header(h, 125), 2);
    assert_memory_equal(h, "\x81\x7d", 2);
    assert_int_equal(pd_ws_text_header(h, 126), 4);
    assert_memory_equal(h, "\x81\x7e\x00\x7e", 4);
    assert_int_equal(pd_ws_text_header(h, 65535), 4);
    assert_memory_equal(h, "\x81\x7e\xff\xff", 4);
    assert_int_equal(pd_ws_text_header(h, 65536), 10);
    assert_memory_equal(h, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
}

/* Client frames built without a codec: exact bytes, then a server reads them. */
static void test_client_text_frame_bytes(void **state)
{
    char f[32];
    assert_int_equal(pd_ws_client_text_frame(f, sizeof(f), "hello", 5, MASK), 2 + 4 + 5);
    pd_buf_t want = PD_BUF_INIT;
    put_str(&want, 0x81, "hello");
    assert_memory_equal(f, want.base, want.len);
    assert_memory_equal(f, "\x81\x85\x37\xfa\x21\x3d\x5f\x9f\x4d\x51\x58", 11);
    assert_int_equal(pd_ws_client_text_frame(f, sizeof(f), "", 0, MASK), 6);
    assert_memory_equal(f, "\x81\x80\x37\xfa\x21\x3d", 6);
    pd_buf_free(&want);
}

static void test_client_text_frame_lengths(void **state)
{
    static const size_t lens[] = {125, 126, 65535, 65536};
    static const size_t hdrs[] = {6, 8, 8, 14};
    char *payload = test_malloc(65536);
    char *f = test_malloc(65536 + PD_WS_CLIENT_FRAME_OVERHEAD);
    memset(payload, 'z', 65536);
    for (size_t k = 0; k < 4; k++) {
        size_t n = pd_ws_client_text_frame(f, 65536 + 14, payload, lens[k], MASK);
        assert_int_equal(n, hdrs[k] + lens[k]);
        pd_buf_t want = PD_BUF_INIT;
        put_frame(&want, 0x81, payload, lens[k], 1);
        assert_int_equal(want.len, n);
        assert_memory_equal(f, want.base, n);
        pd_buf_free(&want);
    }
    test_free(payload);
    test_free(f);
}

static void test_client_text_frame_too_small(void **state)
{
    char f[16];
    memset(f, '#', sizeof(f));
    assert_int_equal(pd_ws_client_text_frame(f, 10, "hello", 5, MASK), 0);
    assert_int_equal(pd_ws_client_text_frame(f, 4, "hello", 5, MASK), 0);
    assert_int_equal(pd_ws_client_text_frame(f, 0, "", 0, MASK), 0);
    for (size_t i = 0; i < sizeof(f); i++)
        assert_int_equal(f[i], '#');
    assert_int_equal(pd_ws_client_text_frame(f, 11, "hello", 5, MASK), 11);
}

static void test_client_text_frame_read_by_server(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    const char *msgs[] = {"{\"type\":\"ping\"}", "caf\xc3\xa9", ""};
    for (size_t k = 0; k < 3; k++) {
        char f[64];
        size_t n = pd_ws_client_text_frame(f, sizeof(f), msgs[k], strlen(msgs[k]), MASK);
        assert_true(n > 0);
        pd_buf_append(&b, f, n);
    }
    for (size_t i = 0; i < NSPLITS; i++) {
        rec_t *s = rec_new(0, 0);
        assert_int_equal(feed_buf(s, &b, &SPLITS[i]), 0);
        assert_log(s, "text:{\"type\":\"ping\"}|text:caf\xc3\xa9|text:|");
        assert_int_equal(pd_ws_has_context(s->ws), 0);
        rec_free(s);
    }
    pd_buf_free(&b);
}

/* Replies from inside on_text go out in order and survive context release. */
static void echo_text(void *ud, const char *data, size_t len)
{
    rec_t *r = ud;
    r->texts++;
    assert_int_equal(pd_ws_send_text(r->ws, data, len), 0);
    if (r->texts == 2)
        assert_int_equal(pd_ws_close(r->ws, 1000, NULL), 0);
}

static void test_send_from_callback(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    put_str(&b, 0x81, "a");
    put_str(&b, 0x81, "b");
    put_str(&b, 0x81, "c");
    put_close(&b, 1000, "");
    for (size_t i = 0; i < NSPLITS; i++) {
        pd_ws_config_t cfg = {0};
        pd_ws_callbacks_t cb = {echo_text, on_close, on_output, NULL};
        rec_t r = {0};
        r.ws = pd_ws_new(&cfg, &cb, &r);
        assert_int_equal(feed_buf(&r, &b, &SPLITS[i]), 0);
        assert_int_equal(r.texts, 2);
        assert_out(&r,
                   "\x81\x01"
                   "a\x81\x01"
                   "b\x88\x02\x03\xe8",
                   10);
        assert_int_equal(pd_ws_close_received(r.ws), 1);
        pd_ws_free(r.ws);
        pd_buf_free(&r.out);
        pd_buf_free(&r.log);
    }
    pd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_text),
        cmocka_unit_test(test_fragmented_with_ping),
        cmocka_unit_test(test_ping_payload_echoed),
        cmocka_unit_test(test_pong_reported),
        cmocka_unit_test(test_binary_closes_1003),
        cmocka_unit_test(test_invalid_utf8_closes_1007),
        cmocka_unit_test(test_valid_utf8_split_across_fragments),
        cmocka_unit_test(test_max_message),
        cmocka_unit_test(test_default_max_message),
        cmocka_unit_test(test_unmasked_frame_closes_1002),
        cmocka_unit_test(test_protocol_errors_close_1002),
        cmocka_unit_test(test_close_handshake),
        cmocka_unit_test(test_close_without_code),
        cmocka_unit_test(test_close_reason_utf8),
        cmocka_unit_test(test_close_codes_1012_to_1014),
        cmocka_unit_test(test_close_one_byte_payload),
        cmocka_unit_test(test_close_frame_bytes),
        cmocka_unit_test(test_after_close_sent),
        cmocka_unit_test(test_context_lifecycle),
        cmocka_unit_test(test_stream_of_messages),
        cmocka_unit_test(test_64bit_length),
        cmocka_unit_test(test_client_round_trip),
        cmocka_unit_test(test_client_accepts_unmasked),
        cmocka_unit_test(test_client_rejects_masked),
        cmocka_unit_test(test_client_close_handshake),
        cmocka_unit_test(test_text_header),
        cmocka_unit_test(test_send_from_callback),
        cmocka_unit_test(test_client_text_frame_bytes),
        cmocka_unit_test(test_client_text_frame_lengths),
        cmocka_unit_test(test_client_text_frame_too_small),
        cmocka_unit_test(test_client_text_frame_read_by_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
