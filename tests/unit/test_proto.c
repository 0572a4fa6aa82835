#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "base/err.h"
#include "proto/proto.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static const pd_proto_limits_t *limits(void)
{
    static const pd_proto_limits_t l = PD_PROTO_LIMITS_DEFAULT;
    return &l;
}

/*
 * Decodes from a heap copy of exactly len bytes, no NUL after it, so ASan
 * reports any read past the end of the message.
 */
static int decode_n(pd_proto_client_msg_t *msg, const char *json, size_t len, char *err,
                    size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, json, len);
    int rc = pd_proto_decode_client(limits(), copy, len, msg, err, errlen);
    free(copy);
    return rc;
}

static void decode_ok(pd_proto_client_msg_t *msg, const char *json)
{
    char err[128] = "";
    int rc = decode_n(msg, json, strlen(json), err, sizeof err);
    if (rc != 0)
        fail_msg("decoding %s failed: %s", json, err);
}

static void expect_error_n(const char *json, size_t len, const char *reason)
{
    pd_proto_client_msg_t msg;
    char err[128] = "untouched";
    pd_proto_client_msg_init(&msg);
    assert_int_equal(decode_n(&msg, json, len, err, sizeof err), PD_ERR_INVALID);
    assert_string_equal(err, reason);
    assert_int_equal(msg.type, 0);
    assert_null(msg.loc.current_path.base);
    assert_null(msg.token.base);
    assert_null(msg.ping_id.base);
    pd_proto_client_msg_free(&msg);
}

static void expect_error(const char *json, const char *reason)
{
    expect_error_n(json, strlen(json), reason);
}

/* Asserts that a set slice equals s and is NUL-terminated in the arena. */
static void assert_slice(pd_slice_t got, const char *s)
{
    assert_non_null(got.base);
    assert_int_equal(got.len, strlen(s));
    assert_memory_equal(got.base, s, got.len);
    assert_int_equal(got.base[got.len], '\0');
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* A message with one string field of n 'a's spliced between prefix and suffix. */
static char *with_string(const char *prefix, size_t n, const char *suffix)
{
    char *fill = repeat('a', n);
    size_t len = strlen(prefix) + n + strlen(suffix) + 1;
    char *s = malloc(len);
    assert_non_null(s);
    snprintf(s, len, "%s%s%s", prefix, fill, suffix);
    free(fill);
    return s;
}

static void expect_string_error(const char *prefix, size_t n, const char *suffix,
                                const char *reason)
{
    char *json = with_string(prefix, n, suffix);
    expect_error(json, reason);
    free(json);
}

static void assert_buf(const pd_buf_t *b, const char *expected)
{
    assert_non_null(b->base);
    assert_int_equal(b->len, strlen(expected));
    assert_string_equal(b->base, expected);
}

static void assert_encoded_string(const char *in, size_t len, const char *expected)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_append_string(&b, pd_slice(in, len));
    assert_buf(&b, expected);
    pd_buf_free(&b);
}

#define ENC(s, expected) assert_encoded_string((s), sizeof(s) - 1, (expected))

/* ------------------------------------------------------------------ */
/* Decoding presence_update                                             */
/* ------------------------------------------------------------------ */

static void test_update_path_only(void **state)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg, "{\"type\":\"presence_update\",\"currentPath\":\"/w/ws1\"}");
    assert_int_equal(msg.type, PD_PROTO_CLIENT_PRESENCE_UPDATE);
    assert_slice(msg.loc.current_path, "/w/ws1");
    assert_null(msg.loc.resource_type.base);
    assert_null(msg.loc.resource_id.base);
    assert_null(msg.token.base);
    assert_null(msg.ping_id.base);
    pd_proto_client_msg_free(&msg);
}

static void test_update_all_fields(void **state)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg, "{\"type\":\"presence_update\",\"currentPath\":\"/w/ws1/documents/42\","
                    "\"resourceType\":\"document\",\"resourceId\":\"42\"}");
    assert_int_equal(msg.type, PD_PROTO_CLIENT_PRESENCE_UPDATE);
    assert_slice(msg.loc.current_path, "/w/ws1/documents/42");
    assert_slice(msg.loc.resource_type, "document");
    assert_slice(msg.loc.resource_id, "42");
    pd_proto_client_msg_free(&msg);
}

static void test_update_type_only(void **state)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg,
              "{\"resourceType\":\"channel\",\"currentPath\":\"/c\",\"type\":\"presence_update\"}");
    assert_slice(msg.loc.current_path, "/c");
    assert_slice(msg.loc.resource_type, "channel");
    assert_null(msg.loc.resource_id.base);
    pd_proto_client_msg_free(&msg);
}

static void test_update_id_only(void **state)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg, "{\"type\":\"presence_update\",\"currentPath\":\"/t\",\"resourceId\":\"c9\"}");
    assert_slice(msg.loc.current_path, "/t");
    assert_null(msg.loc.resource_type.base);
    assert_slice(msg.loc.resource_id, "c9");
    pd_proto_client_msg_free(&msg);
}

static void test_update_nulls_mean_unset(void **state)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg, "{\"type\":\"presence_update\",\"currentPath\":\"/p\","
                    "\"resourceType\":null,\"resourceId\":null}");
    assert_slice(msg.loc.current_path, "/p");
    assert_null(msg.loc.resource_type.base);
    assert_null(msg.loc.resource_id.base);
    pd_proto_client_msg_free(&msg);
}

static void test_update_empty_optionals_are_set(void **state)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg, "{\"type\":\"presence_update\",\"currentPath\":\"/p\","
                    "\"resourceType\":\"\",\"resourceId\":\"\"}");
    assert_slice(msg.loc.resource_type, "");
    assert_slice(msg.loc.resource_id, "");
    pd_proto_client_msg_free(&msg);
}

static void test_update_ignores_unknown_and_identity_fields(void **state)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg, " \r\n\t{\"type\":\"presence_update\",\"userId\":\"evil\",\"userName\":7,"
                    "\"extra\":{\"deep\":[1,2,{}]},\"currentPath\":\"/p\"} \n");
    assert_int_equal(msg.type, PD_PROTO_CLIENT_PRESENCE_UPDATE);
    assert_slice(msg.loc.current_path, "/p");
    pd_proto_client_msg_free(&msg);
}

static void test_update_unescapes_strings(void **state)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(
        &msg,
        "{\"type\":\"presence_update\",\"currentPath\":\"/a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\","
        "\"resourceId\":\"\\\\u0000\"}");
    assert_slice(msg.loc.current_path, "/a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
    assert_slice(msg.loc.resource_id, "\\u0000");
    pd_proto_client_msg_free(&msg);
}

static void test_update_path_errors(void **state)
{
    expect_error("{\"type\":\"presence_update\"}", "currentPath is required");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":null}", "currentPath is required");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":5}",
                 "currentPath must be a string");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":true}",
                 "currentPath must be a string");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":[\"/p\"]}",
                 "currentPath must be a string");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":{}}",
                 "currentPath must be a string");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":\"\"}",
                 "currentPath must not be empty");
}

static void test_update_path_length(void **state)
{
    const char *pre = "{\"type\":\"presence_update\",\"currentPath\":\"";
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    char *json = with_string(pre, 1024, "\"}");
    decode_ok(&msg, json);
    assert_int_equal(msg.loc.current_path.len, 1024);
    free(json);
    pd_proto_client_msg_free(&msg);
    expect_string_error(pre, 1025, "\"}", "currentPath is longer than 1024 bytes");
}

static void test_update_path_length_counts_bytes(void **state)
{
    /* 512 two-byte characters are 1024 bytes; one more is too many. */
    char json[4096];
    size_t n =
        (size_t)snprintf(json, sizeof json, "{\"type\":\"presence_update\",\"currentPath\":\"");
    for (int i = 0; i < 513; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "\\u00e9");
    snprintf(json + n, sizeof json - n, "\"}");
    expect_error(json, "currentPath is longer than 1024 bytes");
}

static void test_update_resource_type(void **state)
{
    const char *pre = "{\"type\":\"presence_update\",\"currentPath\":\"/p\",\"resourceType\":\"";
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    char *json = with_string(pre, 32, "\"}");
    decode_ok(&msg, json);
    assert_int_equal(msg.loc.resource_type.len, 32);
    free(json);
    pd_proto_client_msg_free(&msg);
    expect_string_error(pre, 33, "\"}", "resourceType is longer than 32 bytes");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":\"/p\",\"resourceType\":1}",
                 "resourceType must be a string or null");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":\"/p\",\"resourceType\":false}",
                 "resourceType must be a string or null");
}

static void test_update_resource_id(void **state)
{
    const char *pre = "{\"type\":\"presence_update\",\"currentPath\":\"/p\",\"resourceId\":\"";
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    char *json = with_string(pre, 256, "\"}");
    decode_ok(&msg, json);
    assert_int_equal(msg.loc.resource_id.len, 256);
    free(json);
    pd_proto_client_msg_free(&msg);
    expect_string_error(pre, 257, "\"}", "resourceId is longer than 256 bytes");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":\"/p\",\"resourceId\":42}",
                 "resourceId must be a string or null");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":\"/p\",\"resourceId\":[]}",
                 "resourceId must be a string or null");
}

static void test_update_custom_limits(void **state)
{
    const pd_proto_limits_t l = {4, 1, 2, 3};
    pd_proto_client_msg_t msg;
    char err[64];
    pd_proto_client_msg_init(&msg);
    const char *ok =
        "{\"type\":\"presence_update\",\"currentPath\":\"/abc\",\"resourceType\":\"t\","
        "\"resourceId\":\"12\"}";
    assert_int_equal(pd_proto_decode_client(&l, ok, strlen(ok), &msg, err, sizeof err), 0);
    const char *bad = "{\"type\":\"presence_update\",\"currentPath\":\"/abcd\"}";
    assert_int_equal(pd_proto_decode_client(&l, bad, strlen(bad), &msg, err, sizeof err),
                     PD_ERR_INVALID);
    assert_string_equal(err, "currentPath is longer than 4 bytes");
    const char *tok = "{\"type\":\"token_refresh\",\"token\":\"abcd\"}";
    assert_int_equal(pd_proto_decode_client(&l, tok, strlen(tok), &msg, err, sizeof err),
                     PD_ERR_INVALID);
    assert_string_equal(err, "token is longer than 3 bytes");
    pd_proto_client_msg_free(&msg);
}

/* ------------------------------------------------------------------ */
/* Decoding token_refresh and ping                                      */
/* ------------------------------------------------------------------ */

static void test_token_refresh(void **state)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg,
              "{\"type\":\"token_refresh\",\"token\":\"eyJ.a.b\",\"currentPath\":\"/ignored\"}");
    assert_int_equal(msg.type, PD_PROTO_CLIENT_TOKEN_REFRESH);
    assert_slice(msg.token, "eyJ.a.b");
    assert_null(msg.loc.current_path.base);
    assert_null(msg.ping_id.base);
    pd_proto_client_msg_free(&msg);
}

static void test_token_refresh_errors(void **state)
{
    const char *pre = "{\"type\":\"token_refresh\",\"token\":\"";
    expect_error("{\"type\":\"token_refresh\"}", "token is required");
    expect_error("{\"type\":\"token_refresh\",\"token\":null}", "token is required");
    expect_error("{\"type\":\"token_refresh\",\"token\":\"\"}", "token must not be empty");
    expect_error("{\"type\":\"token_refresh\",\"token\":12}", "token must be a string");
    expect_string_error(pre, 8193, "\"}", "token is longer than 8192 bytes");

    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    char *json = with_string(pre, 8192, "\"}");
    decode_ok(&msg, json);
    assert_int_equal(msg.token.len, 8192);
    free(json);
    pd_proto_client_msg_free(&msg);
}

static void expect_ping(const char *json, const char *id)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg, json);
    assert_int_equal(msg.type, PD_PROTO_CLIENT_PING);
    if (id)
        assert_slice(msg.ping_id, id);
    else
        assert_null(msg.ping_id.base);
    pd_proto_client_msg_free(&msg);
}

static void test_ping_ids(void **state)
{
    expect_ping("{\"type\":\"ping\"}", NULL);
    expect_ping("{\"type\":\"ping\",\"id\":null}", NULL);
    expect_ping("{\"type\":\"ping\",\"id\":7}", "7");
    expect_ping("{\"type\":\"ping\",\"id\":0}", "0");
    expect_ping("{\"type\":\"ping\",\"id\":-3}", "-3");
    expect_ping("{\"type\":\"ping\",\"id\":7.0}", "7");
    expect_ping("{\"type\":\"ping\",\"id\":1e3}", "1000");
    expect_ping("{\"type\":\"ping\",\"id\":9007199254740991}", "9007199254740991");
    expect_ping("{\"type\":\"ping\",\"id\":-9007199254740992}", "-9007199254740992");
    expect_ping("{\"type\":\"ping\",\"id\":0.5}", "0.5");
    expect_ping("{\"type\":\"ping\",\"id\":-2.25}", "-2.25");
    expect_ping("{\"type\":\"ping\",\"id\":0.1}", "0.1");
    expect_ping("{\"type\":\"ping\",\"id\":1e300}", "1e+300");
    expect_ping("{\"type\":\"ping\",\"id\":0.30000000000000004}", "0.30000000000000004");
    expect_ping("{\"type\":\"ping\",\"id\":\"abc\"}", "\"abc\"");
    expect_ping("{\"type\":\"ping\",\"id\":\"\"}", "\"\"");
    expect_ping("{\"type\":\"ping\",\"id\":\"a\\\"b\\u2028\"}", "\"a\\\"b\\u2028\"");
}

static void test_ping_id_errors(void **state)
{
    expect_error("{\"type\":\"ping\",\"id\":true}", "id must be a number or a string");
    expect_error("{\"type\":\"ping\",\"id\":false}", "id must be a number or a string");
    expect_error("{\"type\":\"ping\",\"id\":{}}", "id must be a number or a string");
    expect_error("{\"type\":\"ping\",\"id\":[1]}", "id must be a number or a string");
    expect_error("{\"type\":\"ping\",\"id\":1e999}", "id is out of range");
    expect_error("{\"type\":\"ping\",\"id\":-1e999}", "id is out of range");
}

/* ------------------------------------------------------------------ */
/* Malformed messages                                                   */
/* ------------------------------------------------------------------ */

static void test_not_json(void **state)
{
    expect_error("", "message is not valid JSON");
    expect_error("   ", "message is not valid JSON");
    expect_error("{", "message is not valid JSON");
    expect_error("hello", "message is not valid JSON");
    expect_error("{\"type\":\"ping\"", "message is not valid JSON");
    expect_error("{\"type\":\"ping\"}x", "message is not valid JSON");
    expect_error("{\"type\":\"ping\"}{}", "message is not valid JSON");
    expect_error("{'type':'ping'}", "message is not valid JSON");
    expect_error("{\"type\":\"ping\",}", "message is not valid JSON");
    expect_error("{\"type\":\"presence_update\",\"currentPath\":\"\\ud800\"}",
                 "message is not valid JSON");
    expect_error_n("{\"type\":\"ping\"}\0", 16, "message is not valid JSON");
    expect_error_n("{\"type\":\"pi\0ng\"}", 16, "message is not valid JSON");
}

static void test_not_object(void **state)
{
    expect_error("[{\"type\":\"ping\"}]", "message must be a JSON object");
    expect_error("42", "message must be a JSON object");
    expect_error("\"ping\"", "message must be a JSON object");
    expect_error("null", "message must be a JSON object");
    expect_error("true", "message must be a JSON object");
}

static void test_type_errors(void **state)
{
    expect_error("{}", "type is required");
    expect_error("{\"type\":null}", "type is required");
    expect_error("{\"Type\":\"ping\"}", "type is required");
    expect_error("{\"type\":1}", "type must be a string");
    expect_error("{\"type\":[\"ping\"]}", "type must be a string");
    expect_error("{\"type\":\"foo\"}", "unknown type \"foo\"");
    expect_error("{\"type\":\"PING\"}", "unknown type \"PING\"");
    expect_error("{\"type\":\"\"}", "unknown type \"\"");
}

static void test_unknown_type_is_truncated(void **state)
{
    expect_error("{\"type\":\"abcdefghijklmnopqrstuvwxyz0123456789\"}",
                 "unknown type \"abcdefghijklmnopqrstuvwxyz012345...\"");
    expect_error("{\"type\":\"abcdefghijklmnopqrstuvwxyz012345\"}",
                 "unknown type \"abcdefghijklmnopqrstuvwxyz012345\"");
    /* 31 ASCII bytes then a two-byte character: the cut backs off to 31. */
    expect_error("{\"type\":\"abcdefghijklmnopqrstuvwxyz01234\\u00e9z\"}",
                 "unknown type \"abcdefghijklmnopqrstuvwxyz01234...\"");
}

static void test_nul_escape_rejected(void **state)
{
    expect_error("{\"type\":\"presence_update\",\"currentPath\":\"/a\\u0000b\"}",
                 "strings must not contain NUL");
    expect_error("{\"type\\u0000x\":\"ping\"}", "strings must not contain NUL");
    expect_error("{\"type\":\"ping\",\"other\":\"\\u0000\"}", "strings must not contain NUL");
    /* Raw control bytes inside strings (RFC 8259 7), in values, keys and ignored fields. */
    expect_error("{\"type\":\"presence_update\",\"currentPath\":\"/a\nb\"}",
                 "control characters in strings must be escaped");
    expect_error("{\"type\":\"ping\",\"x\x01\":1}",
                 "control characters in strings must be escaped");
    expect_error("{\"type\":\"ping\",\"o\":\"\t\"}",
                 "control characters in strings must be escaped");
    /* The same bytes escaped, or between tokens, are fine. */
    expect_ping("{\"type\":\"ping\",\"o\":\"\\n\\t\\u0001\"}\r\n", NULL);
    expect_ping("{\n\t\"type\":\"ping\"}", NULL);
    expect_error("{\"type\":\"token_refresh\",\"token\":\"\\\\\\u0000\"}",
                 "strings must not contain NUL");
}

static void test_duplicate_keys_first_wins(void **state)
{
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg, "{\"type\":\"ping\",\"type\":\"token_refresh\",\"id\":1,\"id\":2}");
    assert_int_equal(msg.type, PD_PROTO_CLIENT_PING);
    assert_slice(msg.ping_id, "1");
    pd_proto_client_msg_free(&msg);
}

static void test_input_need_not_be_terminated(void **state)
{
    const char *text = "{\"type\":\"ping\",\"id\":12}{\"trailing\":1}";
    size_t len = strlen("{\"type\":\"ping\",\"id\":12}");
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    assert_int_equal(pd_proto_decode_client(limits(), text, len, &msg, NULL, 0), 0);
    assert_slice(msg.ping_id, "12");
    assert_int_equal(pd_proto_decode_client(limits(), text, len - 2, &msg, NULL, 0),
                     PD_ERR_INVALID);
    assert_int_equal(decode_n(&msg, text, len, NULL, 0), 0);
    assert_slice(msg.ping_id, "12");
    pd_proto_client_msg_free(&msg);
}

static void test_error_buffer_handling(void **state)
{
    const char *json = "{\"type\":\"presence_update\"}";
    pd_proto_client_msg_t msg;
    char err[8];
    pd_proto_client_msg_init(&msg);
    assert_int_equal(pd_proto_decode_client(limits(), json, strlen(json), &msg, NULL, 0),
                     PD_ERR_INVALID);
    memset(err, 'x', sizeof err);
    assert_int_equal(pd_proto_decode_client(limits(), json, strlen(json), &msg, err, 0),
                     PD_ERR_INVALID);
    assert_int_equal(err[0], 'x');
    assert_int_equal(pd_proto_decode_client(limits(), json, strlen(json), &msg, err, sizeof err),
                     PD_ERR_INVALID);
    assert_string_equal(err, "current");
    pd_proto_client_msg_free(&msg);
}

/* ------------------------------------------------------------------ */
/* Reuse                                                                */
/* ------------------------------------------------------------------ */

static void test_reuse_one_message(void **state)
{
    pd_proto_client_msg_t msg;
    char err[128];
    pd_proto_client_msg_init(&msg);
    for (int i = 0; i < 300; i++) {
        char path[2048];
        char json[4096];
        size_t plen = (size_t)(1 + (i * 37) % 1000);
        memset(path, 'a' + i % 26, plen);
        path[plen] = '\0';
        switch (i % 4) {
        case 0:
            snprintf(json, sizeof json,
                     "{\"type\":\"presence_update\",\"currentPath\":\"%s\","
                     "\"resourceType\":\"t%d\",\"resourceId\":\"%d\"}",
                     path, i % 10, i);
            decode_ok(&msg, json);
            assert_slice(msg.loc.current_path, path);
            assert_int_equal(msg.loc.resource_type.len, 2);
            assert_null(msg.token.base);
            break;
        case 1:
            snprintf(json, sizeof json, "{\"type\":\"token_refresh\",\"token\":\"%s\"}", path);
            decode_ok(&msg, json);
            assert_slice(msg.token, path);
            assert_null(msg.loc.current_path.base);
            break;
        case 2:
            snprintf(json, sizeof json, "{\"type\":\"ping\",\"id\":\"%s\"}", path);
            decode_ok(&msg, json);
            assert_int_equal(msg.ping_id.len, plen + 2);
            assert_memory_equal(msg.ping_id.base + 1, path, plen);
            break;
        default:
            snprintf(json, sizeof json, "{\"type\":\"presence_update\",\"currentPath\":%d}", i);
            assert_int_equal(decode_n(&msg, json, strlen(json), err, sizeof err), PD_ERR_INVALID);
            assert_int_equal(msg.type, 0);
            assert_null(msg.loc.current_path.base);
            break;
        }
    }
    pd_proto_client_msg_free(&msg);
    pd_proto_client_msg_free(&msg);
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */
/* ------------------------------------------------------------------ */

static const pd_proto_entry_t bo = {
    PD_SLICE_LIT("u2"),
    PD_SLICE_LIT("Bo"),
    {NULL, 0},
    {PD_SLICE_LIT("/w/ws1"), PD_SLICE_LIT("channel"), PD_SLICE_LIT("c9")},
};

static const pd_proto_entry_t cy = {
    PD_SLICE_LIT("u3"),
    PD_SLICE_LIT("Cy"),
    PD_SLICE_LIT("https://img/cy.png"),
    {PD_SLICE_LIT(""), {NULL, 0}, {NULL, 0}},
};

static void test_enc_snapshot(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_snapshot_begin(&b, pd_slice_cstr("u1"), pd_slice_cstr("k1"), 0);
    pd_proto_enc_snapshot_entry(&b, &bo, 1);
    pd_proto_enc_snapshot_end(&b);
    assert_buf(
        &b, "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u1\",\"connectionId\":\"k1\"},"
            "\"users\":[{\"userId\":\"u2\",\"userName\":\"Bo\",\"userImage\":null,"
            "\"currentPath\":\"/w/ws1\",\"resourceType\":\"channel\",\"resourceId\":\"c9\"}]}");
    pd_buf_free(&b);
}

static void test_enc_snapshot_idle_timeout(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_snapshot_begin(&b, pd_slice_cstr("u1"), pd_slice_cstr("k1"), 25000);
    pd_proto_enc_snapshot_end(&b);
    assert_buf(
        &b, "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u1\",\"connectionId\":\"k1\"},"
            "\"idleTimeout\":25000,\"users\":[]}");
    pd_buf_free(&b);
}

static void test_enc_snapshot_two_and_empty(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_snapshot_begin(&b, pd_slice_cstr("u1"), pd_slice_cstr("k1"), 0);
    pd_proto_enc_snapshot_end(&b);
    assert_buf(
        &b, "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u1\",\"connectionId\":\"k1\"},"
            "\"users\":[]}");
    pd_buf_reset(&b);
    pd_proto_enc_snapshot_begin(&b, pd_slice_cstr("u1"), pd_slice_cstr("k1"), 0);
    pd_proto_enc_snapshot_entry(&b, &bo, 1);
    pd_proto_enc_snapshot_entry(&b, &cy, 0);
    pd_proto_enc_snapshot_end(&b);
    assert_buf(
        &b, "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u1\",\"connectionId\":\"k1\"},"
            "\"users\":[{\"userId\":\"u2\",\"userName\":\"Bo\",\"userImage\":null,"
            "\"currentPath\":\"/w/ws1\",\"resourceType\":\"channel\",\"resourceId\":\"c9\"},"
            "{\"userId\":\"u3\",\"userName\":\"Cy\",\"userImage\":\"https://img/cy.png\","
            "\"currentPath\":\"\"}]}");
    pd_buf_free(&b);
}

static void test_enc_entry(void **state)
{
    pd_proto_entry_t e = {
        PD_SLICE_LIT("u9"),
        PD_SLICE_LIT("N"),
        PD_SLICE_NULL,
        {PD_SLICE_NULL, PD_SLICE_NULL, PD_SLICE_LIT("7")},
    };
    pd_buf_t b = PD_BUF_INIT;
    pd_buf_append_cstr(&b, "prefix:");
    pd_proto_enc_entry(&b, &e);
    assert_buf(&b, "prefix:{\"userId\":\"u9\",\"userName\":\"N\",\"userImage\":null,"
                   "\"currentPath\":\"\",\"resourceId\":\"7\"}");
    pd_buf_free(&b);
}

static void test_enc_user_joined(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_user_joined(&b, pd_slice_cstr("u3"), pd_slice_cstr("Cy"),
                             pd_slice_cstr("https://..."));
    assert_buf(&b, "{\"type\":\"user_joined\",\"userId\":\"u3\",\"userName\":\"Cy\","
                   "\"userImage\":\"https://...\"}");
    pd_buf_reset(&b);
    pd_proto_enc_user_joined(&b, pd_slice_cstr("u3"), pd_slice_cstr("Cy"), PD_SLICE_NULL);
    assert_buf(
        &b, "{\"type\":\"user_joined\",\"userId\":\"u3\",\"userName\":\"Cy\",\"userImage\":null}");
    pd_buf_free(&b);
}

static void test_enc_presence_changed(void **state)
{
    pd_proto_entry_t e = {
        PD_SLICE_LIT("u2"),
        PD_SLICE_LIT("Bo"),
        PD_SLICE_LIT("https://i/b.png"),
        {PD_SLICE_LIT("/w/ws1/tasks/5"), PD_SLICE_LIT("task"), PD_SLICE_LIT("5")},
    };
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_presence_changed(&b, &e);
    assert_buf(&b, "{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
                   "\"userImage\":\"https://i/b.png\",\"currentPath\":\"/w/ws1/tasks/5\","
                   "\"resourceType\":\"task\",\"resourceId\":\"5\"}");
    pd_buf_reset(&b);
    /* userImage is always there: the app's shipped client copies it from every one. */
    e.user_image = PD_SLICE_NULL;
    e.loc.resource_id = PD_SLICE_NULL;
    pd_proto_enc_presence_changed(&b, &e);
    assert_buf(&b, "{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
                   "\"userImage\":null,\"currentPath\":\"/w/ws1/tasks/5\","
                   "\"resourceType\":\"task\"}");
    pd_buf_reset(&b);
    e.loc = (pd_proto_location_t){PD_SLICE_LIT(""), PD_SLICE_NULL, PD_SLICE_NULL};
    pd_proto_enc_presence_changed(&b, &e);
    assert_buf(&b, "{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
                   "\"userImage\":null,\"currentPath\":\"\"}");
    pd_buf_free(&b);
}

static void test_enc_small_messages(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_user_left(&b, pd_slice_cstr("u3"));
    assert_buf(&b, "{\"type\":\"user_left\",\"userId\":\"u3\"}");
    pd_buf_reset(&b);
    pd_proto_enc_user_left_presence(&b, pd_slice_cstr("u3"));
    assert_buf(&b, "{\"type\":\"user_left_presence\",\"userId\":\"u3\"}");
    pd_buf_reset(&b);
    pd_proto_enc_error(&b, "BAD_MESSAGE", "currentPath must be a string");
    assert_buf(
        &b,
        "{\"type\":\"error\",\"code\":\"BAD_MESSAGE\",\"message\":\"currentPath must be a string\"}");
    pd_buf_reset(&b);
    pd_proto_enc_error(&b, "ROOM_FULL", NULL);
    assert_buf(&b, "{\"type\":\"error\",\"code\":\"ROOM_FULL\"}");
    pd_buf_reset(&b);
    pd_proto_enc_auth_error(&b, "AUTH_INVALID");
    assert_buf(&b, "{\"type\":\"auth_error\",\"code\":\"AUTH_INVALID\"}");
    pd_buf_reset(&b);
    pd_proto_enc_auth_ok(&b, pd_slice_cstr("u1"), pd_slice_cstr("Al"));
    assert_buf(&b, "{\"type\":\"auth_ok\",\"userId\":\"u1\",\"userName\":\"Al\"}");
    pd_buf_reset(&b);
    pd_proto_enc_permission_revoked(&b, "removed by admin");
    assert_buf(&b, "{\"type\":\"permission_revoked\",\"reason\":\"removed by admin\"}");
    pd_buf_free(&b);
}

static void test_enc_http_answers(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_http_error(&b, "body must be {\"userId\":\"…\"}");
    assert_buf(&b, "{\"error\":\"body must be {\\\"userId\\\":\\\"…\\\"}\"}");
    pd_buf_reset(&b);
    pd_proto_enc_api_rooms_begin(&b);
    pd_proto_enc_api_rooms_end(&b);
    assert_buf(&b, "{\"rooms\":[]}");
    pd_buf_reset(&b);
    pd_proto_enc_api_rooms_begin(&b);
    pd_proto_enc_api_rooms_entry(&b, pd_slice_cstr("presence-a"), 2, 3, 1);
    pd_proto_enc_api_rooms_entry(&b, pd_slice_cstr("presence-\"b\""), 0, 1, 0);
    pd_proto_enc_api_rooms_end(&b);
    assert_buf(&b, "{\"rooms\":[{\"roomId\":\"presence-a\",\"users\":2,\"connections\":3},"
                   "{\"roomId\":\"presence-\\\"b\\\"\",\"users\":0,\"connections\":1}]}");
    pd_buf_reset(&b);
    pd_proto_enc_api_room_begin(&b, pd_slice_cstr("presence-a"));
    pd_buf_append_cstr(&b, "[]");
    pd_proto_enc_api_room_end(&b);
    assert_buf(&b, "{\"roomId\":\"presence-a\",\"users\":[]}");
    pd_buf_reset(&b);
    pd_proto_enc_api_kicked(&b, 2);
    assert_buf(&b, "{\"kicked\":2}");
    pd_buf_reset(&b);
    pd_proto_enc_dev_token(&b, "a.b.c", 1700000000000LL);
    assert_buf(&b, "{\"token\":\"a.b.c\",\"expiresAt\":1700000000000}");
    pd_buf_free(&b);
}

static void test_enc_pong(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_pong(&b, pd_slice_cstr("7"));
    assert_buf(&b, "{\"type\":\"pong\",\"id\":7}");
    pd_buf_reset(&b);
    pd_proto_enc_pong(&b, PD_SLICE_NULL);
    assert_buf(&b, "{\"type\":\"pong\"}");
    pd_buf_reset(&b);

    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    decode_ok(&msg, "{\"type\":\"ping\",\"id\":\"x\\\"y\"}");
    pd_proto_enc_pong(&b, msg.ping_id);
    assert_buf(&b, "{\"type\":\"pong\",\"id\":\"x\\\"y\"}");
    pd_proto_client_msg_free(&msg);
    pd_buf_free(&b);
}

static void test_enc_error_reason_is_escaped(void **state)
{
    pd_proto_client_msg_t msg;
    pd_buf_t b = PD_BUF_INIT;
    char err[128];
    const char *json = "{\"type\":\"a\\\"b\\\\\\n\"}";
    pd_proto_client_msg_init(&msg);
    assert_int_equal(decode_n(&msg, json, strlen(json), err, sizeof err), PD_ERR_INVALID);
    pd_proto_enc_error(&b, "BAD_MESSAGE", err);
    assert_buf(&b, "{\"type\":\"error\",\"code\":\"BAD_MESSAGE\","
                   "\"message\":\"unknown type \\\"a\\\"b\\\\\\n\\\"\"}");
    pd_proto_client_msg_free(&msg);
    pd_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* String escaping                                                      */
/* ------------------------------------------------------------------ */

static void test_escape_basic(void **state)
{
    ENC("", "\"\"");
    ENC("plain /path?x=1&y=2", "\"plain /path?x=1&y=2\"");
    ENC("a\"b", "\"a\\\"b\"");
    ENC("a\\b", "\"a\\\\b\"");
    ENC("</script>", "\"</script>\"");
    ENC("\x7f", "\"\x7f\"");
    assert_encoded_string(NULL, 0, "\"\"");
}

static void test_escape_control_chars(void **state)
{
    char in[32];
    for (int i = 0; i < 32; i++)
        in[i] = (char)i;
    assert_encoded_string(in, sizeof in,
                          "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
                          "\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
                          "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
                          "\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"");
}

static void test_escape_js_line_breaks(void **state)
{
    ENC("a\xe2\x80\xa8"
        "b\xe2\x80\xa9"
        "c",
        "\"a\\u2028b\\u2029c\"");
    /* Neighbours of U+2028 pass through. */
    ENC("\xe2\x80\xa7\xe2\x80\xaa", "\"\xe2\x80\xa7\xe2\x80\xaa\"");
}

static void test_escape_utf8_passthrough(void **state)
{
    ENC("\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\"");
    ENC("\xe6\x97\xa5\xe6\x9c\xac", "\"\xe6\x97\xa5\xe6\x9c\xac\"");
    ENC("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
    ENC("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
        "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
}

static void test_escape_invalid_utf8(void **state)
{
    ENC("\x80", "\"\\ufffd\"");
    ENC("a\xc3", "\"a\\ufffd\"");
    ENC("\xc0\x80", "\"\\ufffd\\ufffd\"");
    ENC("\xc1\xbf", "\"\\ufffd\\ufffd\"");
    ENC("\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\"");
    ENC("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
    ENC("\xf0\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    ENC("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    ENC("\xf5\x80", "\"\\ufffd\\ufffd\"");
    ENC("\xff", "\"\\ufffd\"");
    ENC("\xe2\x80", "\"\\ufffd\\ufffd\"");
    ENC("\xe2\x80x", "\"\\ufffd\\ufffdx\"");
    ENC("\xc3\xa9\xc3", "\"\xc3\xa9\\ufffd\"");
}

/* ------------------------------------------------------------------ */
/* Round trips                                                          */
/* ------------------------------------------------------------------ */

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Appends one character: ASCII (controls and quotes included) or 2-4 byte UTF-8. */
static size_t random_char(uint64_t *rng, char *out)
{
    static const char *const pieces[] = {
        "\"",
        "\\",
        "\n",
        "\x01",
        "\x1f",
        "/",
        "\xc3\xa9",
        "\xe2\x80\xa8",
        "\xe2\x80\xa9",
        "\xe6\x97\xa5",
        "\xf0\x9f\x98\x80",
        "\xef\xbf\xbf",
        "\x7f",
    };
    uint64_t r = next_rand(rng);
    if (r % 3 == 0) {
        const char *p = pieces[(r >> 8) % (sizeof pieces / sizeof pieces[0])];
        memcpy(out, p, strlen(p));
        return strlen(p);
    }
    out[0] = (char)(1 + (r >> 8) % 127);
    return 1;
}

/* Fills out with a random NUL-free, well-formed UTF-8 string; returns its length. */
static size_t random_string(uint64_t *rng, char *out, size_t max_chars)
{
    size_t n = next_rand(rng) % (max_chars + 1), len = 0;
    for (size_t i = 0; i < n; i++)
        len += random_char(rng, out + len);
    out[len] = '\0';
    return len;
}

static void check_entry(const cJSON *obj, const char *id, const char *name, const char *path)
{
    assert_true(cJSON_IsObject(obj));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(obj, "userId")->valuestring, id);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(obj, "userName")->valuestring, name);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, "userImage")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(obj, "currentPath")->valuestring, path);
}

static void test_round_trip_snapshot(void **state)
{
    enum {
        N = 1000,
        MAX_CHARS = 40
    };
    static char strs[N][3][MAX_CHARS * 4 + 1];
    uint64_t rng = 0x9e3779b97f4a7c15u;
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_snapshot_begin(&b, pd_slice_cstr("me"), pd_slice_cstr("k"), 0);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 3; j++)
            random_string(&rng, strs[i][j], MAX_CHARS);
        pd_proto_entry_t e = {pd_slice_cstr(strs[i][0]),
                              pd_slice_cstr(strs[i][1]),
                              PD_SLICE_NULL,
                              {pd_slice_cstr(strs[i][2]), PD_SLICE_NULL, PD_SLICE_NULL}};
        pd_proto_enc_snapshot_entry(&b, &e, i == 0);
    }
    pd_proto_enc_snapshot_end(&b);

    cJSON *root = cJSON_ParseWithLength(b.base, b.len);
    assert_non_null(root);
    const cJSON *users = cJSON_GetObjectItemCaseSensitive(root, "users");
    assert_int_equal(cJSON_GetArraySize(users), N);
    for (int i = 0; i < N; i++)
        check_entry(cJSON_GetArrayItem(users, i), strs[i][0], strs[i][1], strs[i][2]);
    cJSON_Delete(root);
    pd_buf_free(&b);
}

/* Every string the encoder writes decodes back to the same bytes. */
static void test_round_trip_through_decoder(void **state)
{
    uint64_t rng = 12345;
    char s[40 * 4 + 1];
    pd_proto_client_msg_t msg;
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_client_msg_init(&msg);
    for (int i = 0; i < 1000; i++) {
        size_t len = random_string(&rng, s, 40);
        if (len == 0)
            continue;
        pd_buf_reset(&b);
        pd_buf_append_cstr(&b, "{\"type\":\"presence_update\",\"currentPath\":");
        pd_proto_append_string(&b, pd_slice(s, len));
        pd_buf_append_char(&b, '}');
        decode_ok(&msg, b.base);
        assert_slice(msg.loc.current_path, s);
    }
    pd_proto_client_msg_free(&msg);
    pd_buf_free(&b);
}

/* Arbitrary bytes, valid UTF-8 or not, still encode to valid JSON. */
static void test_round_trip_arbitrary_bytes(void **state)
{
    uint64_t rng = 777;
    unsigned char s[64];
    pd_buf_t b = PD_BUF_INIT;
    for (int i = 0; i < 1000; i++) {
        size_t len = next_rand(&rng) % sizeof s;
        for (size_t j = 0; j < len; j++)
            s[j] = (unsigned char)next_rand(&rng);
        pd_buf_reset(&b);
        pd_proto_enc_user_left(&b, pd_slice((const char *)s, len));
        cJSON *root = cJSON_ParseWithLength(b.base, b.len);
        assert_non_null(root);
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "userId")));
        cJSON_Delete(root);
    }
    pd_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Decoding what the server sends; encoding what clients send           */
/* ------------------------------------------------------------------ */

/* Like assert_slice(), but want NULL asserts an unset slice. */
static void assert_opt_slice(pd_slice_t s, const char *want)
{
    if (!want) {
        assert_null(s.base);
        return;
    }
    assert_non_null(s.base);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.base, want, s.len);
}

static void server_decode_ok(pd_proto_server_msg_t *m, const char *json,
                             pd_proto_server_type_t type)
{
    char err[200] = "";
    int r = pd_proto_decode_server(m, json, strlen(json), err, sizeof err);
    if (r != 0)
        fail_msg("%s: %s", json, err);
    assert_int_equal(m->type, type);
}

static void test_server_snapshot(void **state)
{
    pd_proto_server_msg_t m;
    server_decode_ok(
        &m,
        "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u1\",\"connectionId\":\"k1\"},"
        "\"users\":[{\"userId\":\"u2\",\"userName\":\"Bo\",\"userImage\":null,"
        "\"currentPath\":\"/w/ws1\",\"resourceType\":\"channel\",\"resourceId\":\"c9\"},"
        "{\"userId\":\"u3\",\"userName\":\"Cy\",\"userImage\":\"https://i/c.png\","
        "\"currentPath\":\"\",\"extra\":[1,2]}]}",
        PD_PROTO_SERVER_SNAPSHOT);
    assert_opt_slice(m.self_user_id, "u1");
    assert_opt_slice(m.self_conn_id, "k1");
    assert_int_equal(m.idle_timeout_ms, 0);
    assert_int_equal(m.n_users, 2);
    assert_opt_slice(m.users[0].user_id, "u2");
    assert_opt_slice(m.users[0].user_name, "Bo");
    assert_opt_slice(m.users[0].user_image, NULL);
    assert_opt_slice(m.users[0].loc.current_path, "/w/ws1");
    assert_opt_slice(m.users[0].loc.resource_type, "channel");
    assert_opt_slice(m.users[0].loc.resource_id, "c9");
    assert_opt_slice(m.users[1].user_image, "https://i/c.png");
    assert_opt_slice(m.users[1].loc.current_path, "");
    assert_opt_slice(m.users[1].loc.resource_type, NULL);
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m,
                     "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u1\"},"
                     "\"idleTimeout\":25000,\"users\":[]}",
                     PD_PROTO_SERVER_SNAPSHOT);
    assert_int_equal(m.n_users, 0);
    assert_int_equal(m.idle_timeout_ms, 25000);
    pd_proto_server_msg_free(&m);
}

static void test_server_events(void **state)
{
    pd_proto_server_msg_t m;
    server_decode_ok(&m,
                     "{\"type\":\"user_joined\",\"userId\":\"u3\",\"userName\":\"Cy\","
                     "\"userImage\":\"https://x\"}",
                     PD_PROTO_SERVER_JOINED);
    assert_opt_slice(m.entry.user_id, "u3");
    assert_opt_slice(m.entry.user_image, "https://x");
    assert_opt_slice(m.entry.loc.current_path, "");
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m,
                     "{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
                     "\"currentPath\":\"/w/ws1/tasks/5\",\"resourceType\":\"task\","
                     "\"resourceId\":null}",
                     PD_PROTO_SERVER_CHANGED);
    assert_opt_slice(m.entry.loc.current_path, "/w/ws1/tasks/5");
    assert_opt_slice(m.entry.loc.resource_type, "task");
    assert_opt_slice(m.entry.loc.resource_id, NULL);
    assert_opt_slice(m.entry.user_image, NULL);
    assert_false(m.image_given);
    pd_proto_server_msg_free(&m);
    /* presenced sends the image in every presence_changed, null when unset. */
    server_decode_ok(&m,
                     "{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
                     "\"userImage\":\"https://i/b.png\",\"currentPath\":\"/w\"}",
                     PD_PROTO_SERVER_CHANGED);
    assert_opt_slice(m.entry.user_image, "https://i/b.png");
    assert_true(m.image_given);
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m,
                     "{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
                     "\"userImage\":null,\"currentPath\":\"/w\"}",
                     PD_PROTO_SERVER_CHANGED);
    assert_opt_slice(m.entry.user_image, NULL);
    assert_true(m.image_given);
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m, "{\"type\":\"user_left\",\"userId\":\"u3\"}", PD_PROTO_SERVER_LEFT);
    assert_opt_slice(m.entry.user_id, "u3");
    pd_proto_server_msg_free(&m);
    /* The form the app's shipped client listens for is the same leave. */
    server_decode_ok(&m, "{\"type\":\"user_left_presence\",\"userId\":\"u3\"}",
                     PD_PROTO_SERVER_LEFT);
    assert_opt_slice(m.entry.user_id, "u3");
    pd_proto_server_msg_free(&m);
}

static void test_server_control_messages(void **state)
{
    pd_proto_server_msg_t m;
    server_decode_ok(&m,
                     "{\"type\":\"error\",\"code\":\"BAD_MESSAGE\",\"message\":\"currentPath must "
                     "be a string\"}",
                     PD_PROTO_SERVER_ERROR);
    assert_opt_slice(m.code, "BAD_MESSAGE");
    assert_opt_slice(m.message, "currentPath must be a string");
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m, "{\"type\":\"error\",\"code\":\"TOKEN_REFRESH_REQUIRED\"}",
                     PD_PROTO_SERVER_ERROR);
    assert_opt_slice(m.message, NULL);
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m, "{\"type\":\"auth_error\",\"code\":\"AUTH_EXPIRED\"}",
                     PD_PROTO_SERVER_AUTH_ERROR);
    assert_opt_slice(m.code, "AUTH_EXPIRED");
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m, "{\"type\":\"auth_ok\",\"userId\":\"u1\",\"userName\":\"Ann\"}",
                     PD_PROTO_SERVER_AUTH_OK);
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m, "{\"type\":\"pong\",\"id\":7}", PD_PROTO_SERVER_PONG);
    assert_true(m.pong_id == 7);
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m, "{\"type\":\"pong\"}", PD_PROTO_SERVER_PONG);
    assert_true(m.pong_id == -1);
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m, "{\"type\":\"permission_revoked\",\"reason\":\"removed from workspace\"}",
                     PD_PROTO_SERVER_PERMISSION_REVOKED);
    assert_opt_slice(m.message, "removed from workspace");
    pd_proto_server_msg_free(&m);
    server_decode_ok(&m, "{\"type\":\"something_new\",\"x\":1}", PD_PROTO_SERVER_UNKNOWN);
    pd_proto_server_msg_free(&m);
}

static void server_decode_bad(const char *json, const char *message_part)
{
    pd_proto_server_msg_t m;
    char err[200] = "";
    assert_int_equal(pd_proto_decode_server(&m, json, strlen(json), err, sizeof err),
                     PD_ERR_INVALID);
    if (!strstr(err, message_part))
        fail_msg("%s: message \"%s\" lacks \"%s\"", json, err, message_part);
    pd_proto_server_msg_free(&m);
}

static void test_server_malformed(void **state)
{
    server_decode_bad("", "not a JSON object");
    server_decode_bad("[1]", "not a JSON object");
    server_decode_bad("{\"type\":\"pong\"} x", "not a JSON object");
    server_decode_bad("{\"type\":7}", "has no type");
    server_decode_bad("{}", "has no type");
    server_decode_bad("{\"type\":\"user_left\"}", "user_left message");
    server_decode_bad("{\"type\":\"user_left_presence\"}", "user_left_presence message");
    server_decode_bad("{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
                      "\"userImage\":7,\"currentPath\":\"/w\"}",
                      "presence_changed message");
    server_decode_bad("{\"type\":\"user_joined\",\"userId\":\"u\"}", "user_joined message");
    server_decode_bad("{\"type\":\"presence_changed\",\"userId\":\"u\",\"userName\":\"n\"}",
                      "presence_changed message");
    server_decode_bad("{\"type\":\"presence_changed\",\"userId\":\"u\",\"userName\":\"n\","
                      "\"currentPath\":\"/\",\"resourceId\":5}",
                      "presence_changed message");
    server_decode_bad("{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u\"},\"users\":{}}",
                      "presence_snapshot message");
    server_decode_bad("{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u\"},"
                      "\"users\":[{\"userId\":\"a\",\"userName\":\"b\",\"currentPath\":\"\"},3]}",
                      "presence_snapshot message");
    server_decode_bad("{\"type\":\"error\"}", "error message");
}

/* The three client messages, read back by the decoder the server uses. */
static void test_enc_client_messages(void **state)
{
    const pd_proto_limits_t limits = PD_PROTO_LIMITS_DEFAULT;
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_client_msg_t msg;
    pd_proto_client_msg_init(&msg);
    pd_proto_location_t loc = {PD_SLICE_LIT("/w/ws1/d/\"42\""), PD_SLICE_LIT("document"),
                               PD_SLICE_NULL};
    pd_proto_enc_presence_update(&b, &loc);
    assert_string_equal(b.base, "{\"type\":\"presence_update\",\"currentPath\":"
                                "\"/w/ws1/d/\\\"42\\\"\",\"resourceType\":\"document\"}");
    assert_int_equal(pd_proto_decode_client(&limits, b.base, b.len, &msg, NULL, 0), 0);
    assert_int_equal(msg.type, PD_PROTO_CLIENT_PRESENCE_UPDATE);
    assert_opt_slice(msg.loc.current_path, "/w/ws1/d/\"42\"");
    assert_opt_slice(msg.loc.resource_id, NULL);
    pd_buf_reset(&b);
    pd_proto_enc_token_refresh(&b, PD_SLICE_LIT("a.b.c"));
    assert_string_equal(b.base, "{\"type\":\"token_refresh\",\"token\":\"a.b.c\"}");
    assert_int_equal(pd_proto_decode_client(&limits, b.base, b.len, &msg, NULL, 0), 0);
    assert_opt_slice(msg.token, "a.b.c");
    pd_buf_reset(&b);
    pd_proto_enc_ping(&b, 18446744073709551615ull);
    assert_string_equal(b.base, "{\"type\":\"ping\",\"id\":18446744073709551615}");
    pd_buf_reset(&b);
    pd_proto_enc_ping(&b, 7);
    assert_int_equal(pd_proto_decode_client(&limits, b.base, b.len, &msg, NULL, 0), 0);
    assert_int_equal(msg.type, PD_PROTO_CLIENT_PING);
    assert_opt_slice(msg.ping_id, "7");
    pd_proto_client_msg_free(&msg);
    pd_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Rooms and ids                                                        */
/* ------------------------------------------------------------------ */

static int workspace_ok(const char *s)
{
    return pd_proto_workspace_valid(pd_slice_cstr(s));
}

static void test_ids(void **state)
{
    char long_id[130];
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    assert_true(workspace_ok("ws1"));
    assert_true(workspace_ok("A-z_09"));
    assert_false(workspace_ok(""));
    assert_false(workspace_ok(NULL));
    assert_false(workspace_ok("a b"));
    assert_false(workspace_ok("a/b"));
    assert_false(workspace_ok("a.b"));
    assert_false(workspace_ok("é"));
    assert_false(workspace_ok(long_id));
    long_id[128] = '\0';
    assert_true(workspace_ok(long_id));
    assert_false(pd_proto_conn_key_valid(pd_slice_cstr(long_id)));
    long_id[64] = '\0';
    assert_true(pd_proto_conn_key_valid(pd_slice_cstr(long_id)));
    assert_false(pd_proto_conn_key_valid(pd_slice_cstr("")));
    assert_false(pd_proto_conn_key_valid(PD_SLICE_NULL));
    /* A slice is checked over its length, not up to a NUL. */
    assert_true(pd_proto_workspace_valid(pd_slice("ws1 x", 3)));
}

static void test_room_id(void **state)
{
    char room[PD_PROTO_ROOM_ID_SIZE];
    assert_int_equal(pd_proto_room_id(room, sizeof room, pd_slice("ws1/x", 3)), 12);
    assert_string_equal(room, "presence-ws1");
    char long_id[PD_PROTO_WORKSPACE_MAX + 1];
    memset(long_id, 'w', PD_PROTO_WORKSPACE_MAX);
    long_id[PD_PROTO_WORKSPACE_MAX] = '\0';
    assert_int_equal(pd_proto_room_id(room, sizeof room, pd_slice_cstr(long_id)),
                     (int)sizeof room - 1);
    char small[12];
    assert_int_equal(pd_proto_room_id(small, sizeof small, pd_slice_cstr("ws1")), -1);
    assert_string_equal(small, "");
}

static void test_room_path(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_append_room_path(&b, pd_slice_cstr("ws_1-A"));
    assert_string_equal(b.base, "/parties/presence/ws_1-A");
    pd_slice_t ws = PD_SLICE_NULL;
    assert_true(pd_proto_room_path_workspace(pd_buf_slice(&b), &ws));
    assert_true(pd_slice_eq_cstr(ws, "ws_1-A"));
    assert_true(pd_proto_room_path_workspace(pd_slice_cstr("/parties/presence/"), &ws));
    assert_int_equal(ws.len, 0);
    ws = PD_SLICE_NULL;
    assert_false(pd_proto_room_path_workspace(pd_slice_cstr("/parties/presence"), &ws));
    assert_false(pd_proto_room_path_workspace(pd_slice_cstr("/parties/other/ws1"), &ws));
    assert_false(pd_proto_room_path_workspace(pd_slice_cstr("/Parties/presence/ws1"), &ws));
    assert_null(ws.base);
    pd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_path_only),
        cmocka_unit_test(test_update_all_fields),
        cmocka_unit_test(test_update_type_only),
        cmocka_unit_test(test_update_id_only),
        cmocka_unit_test(test_update_nulls_mean_unset),
        cmocka_unit_test(test_update_empty_optionals_are_set),
        cmocka_unit_test(test_update_ignores_unknown_and_identity_fields),
        cmocka_unit_test(test_update_unescapes_strings),
        cmocka_unit_test(test_update_path_errors),
        cmocka_unit_test(test_update_path_length),
        cmocka_unit_test(test_update_path_length_counts_bytes),
        cmocka_unit_test(test_update_resource_type),
        cmocka_unit_test(test_update_resource_id),
        cmocka_unit_test(test_update_custom_limits),
        cmocka_unit_test(test_token_refresh),
        cmocka_unit_test(test_token_refresh_errors),
        cmocka_unit_test(test_ping_ids),
        cmocka_unit_test(test_ping_id_errors),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_unknown_type_is_truncated),
        cmocka_unit_test(test_nul_escape_rejected),
        cmocka_unit_test(test_duplicate_keys_first_wins),
        cmocka_unit_test(test_input_need_not_be_terminated),
        cmocka_unit_test(test_error_buffer_handling),
        cmocka_unit_test(test_reuse_one_message),
        cmocka_unit_test(test_enc_snapshot),
        cmocka_unit_test(test_enc_snapshot_idle_timeout),
        cmocka_unit_test(test_enc_snapshot_two_and_empty),
        cmocka_unit_test(test_enc_entry),
        cmocka_unit_test(test_enc_user_joined),
        cmocka_unit_test(test_enc_presence_changed),
        cmocka_unit_test(test_enc_small_messages),
        cmocka_unit_test(test_enc_http_answers),
        cmocka_unit_test(test_enc_pong),
        cmocka_unit_test(test_enc_error_reason_is_escaped),
        cmocka_unit_test(test_escape_basic),
        cmocka_unit_test(test_escape_control_chars),
        cmocka_unit_test(test_escape_js_line_breaks),
        cmocka_unit_test(test_escape_utf8_passthrough),
        cmocka_unit_test(test_escape_invalid_utf8),
        cmocka_unit_test(test_round_trip_snapshot),
        cmocka_unit_test(test_round_trip_through_decoder),
        cmocka_unit_test(test_round_trip_arbitrary_bytes),
        cmocka_unit_test(test_server_snapshot),
        cmocka_unit_test(test_server_events),
        cmocka_unit_test(test_server_control_messages),
        cmocka_unit_test(test_server_malformed),
        cmocka_unit_test(test_enc_client_messages),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_room_id),
        cmocka_unit_test(test_room_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
