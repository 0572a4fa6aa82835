/*
 * Decoding what the server sends, and the three messages the client sends
 * (encoded by src/proto, read back with the server's own decoder).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "client/msg.h"
#include "proto/proto.h"

static void assert_slice(pd_slice_t s, const char *want)
{
    if (!want) {
        assert_null(s.base);
        return;
    }
    assert_non_null(s.base);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.base, want, s.len);
}

static void decode_ok(pd_srv_msg_t *m, const char *json, pd_srv_type_t type)
{
    char err[200] = "";
    int r = pd_srv_msg_decode(m, json, strlen(json), err, sizeof err);
    if (r != 0)
        fail_msg("%s: %s", json, err);
    assert_int_equal(m->type, type);
}

static void test_snapshot(void **state)
{
    pd_srv_msg_t m;
    decode_ok(&m,
              "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u1\",\"connectionId\":\"k1\"},"
              "\"users\":[{\"userId\":\"u2\",\"userName\":\"Bo\",\"userImage\":null,"
              "\"currentPath\":\"/w/ws1\",\"resourceType\":\"channel\",\"resourceId\":\"c9\"},"
              "{\"userId\":\"u3\",\"userName\":\"Cy\",\"userImage\":\"https://i/c.png\","
              "\"currentPath\":\"\",\"extra\":[1,2]}]}",
              PD_SRV_SNAPSHOT);
    assert_slice(m.self_user_id, "u1");
    assert_slice(m.self_conn_id, "k1");
    assert_int_equal(m.idle_timeout_ms, 0);
    assert_int_equal(m.n_users, 2);
    assert_slice(m.users[0].user_id, "u2");
    assert_slice(m.users[0].user_name, "Bo");
    assert_slice(m.users[0].user_image, NULL);
    assert_slice(m.users[0].loc.current_path, "/w/ws1");
    assert_slice(m.users[0].loc.resource_type, "channel");
    assert_slice(m.users[0].loc.resource_id, "c9");
    assert_slice(m.users[1].user_image, "https://i/c.png");
    assert_slice(m.users[1].loc.current_path, "");
    assert_slice(m.users[1].loc.resource_type, NULL);
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u1\"},"
                  "\"idleTimeout\":25000,\"users\":[]}",
              PD_SRV_SNAPSHOT);
    assert_int_equal(m.n_users, 0);
    assert_int_equal(m.idle_timeout_ms, 25000);
    pd_srv_msg_free(&m);
}

static void test_events(void **state)
{
    pd_srv_msg_t m;
    decode_ok(&m, "{\"type\":\"user_joined\",\"userId\":\"u3\",\"userName\":\"Cy\","
                  "\"userImage\":\"https://x\"}", PD_SRV_JOINED);
    assert_slice(m.entry.user_id, "u3");
    assert_slice(m.entry.user_image, "https://x");
    assert_slice(m.entry.loc.current_path, "");
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
                  "\"currentPath\":\"/w/ws1/tasks/5\",\"resourceType\":\"task\","
                  "\"resourceId\":null}", PD_SRV_CHANGED);
    assert_slice(m.entry.loc.current_path, "/w/ws1/tasks/5");
    assert_slice(m.entry.loc.resource_type, "task");
    assert_slice(m.entry.loc.resource_id, NULL);
    assert_slice(m.entry.user_image, NULL);
    assert_false(m.image_given);
    pd_srv_msg_free(&m);
    /* presenced sends the image in every presence_changed, null when unset. */
    decode_ok(&m, "{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
                  "\"userImage\":\"https://i/b.png\",\"currentPath\":\"/w\"}", PD_SRV_CHANGED);
    assert_slice(m.entry.user_image, "https://i/b.png");
    assert_true(m.image_given);
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
                  "\"userImage\":null,\"currentPath\":\"/w\"}", PD_SRV_CHANGED);
    assert_slice(m.entry.user_image, NULL);
    assert_true(m.image_given);
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"user_left\",\"userId\":\"u3\"}", PD_SRV_LEFT);
    assert_slice(m.entry.user_id, "u3");
    pd_srv_msg_free(&m);
    /* The form the app's shipped client listens for is the same leave. */
    decode_ok(&m, "{\"type\":\"user_left_presence\",\"userId\":\"u3\"}", PD_SRV_LEFT);
    assert_slice(m.entry.user_id, "u3");
    pd_srv_msg_free(&m);
}

static void test_control_messages(void **state)
{
    pd_srv_msg_t m;
    decode_ok(&m, "{\"type\":\"error\",\"code\":\"BAD_MESSAGE\",\"message\":\"currentPath must "
                  "be a string\"}", PD_SRV_ERROR);
    assert_slice(m.code, "BAD_MESSAGE");
    assert_slice(m.message, "currentPath must be a string");
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"error\",\"code\":\"TOKEN_REFRESH_REQUIRED\"}", PD_SRV_ERROR);
    assert_slice(m.message, NULL);
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"auth_error\",\"code\":\"AUTH_EXPIRED\"}", PD_SRV_AUTH_ERROR);
    assert_slice(m.code, "AUTH_EXPIRED");
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"auth_ok\",\"userId\":\"u1\",\"userName\":\"Ann\"}",
              PD_SRV_AUTH_OK);
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"pong\",\"id\":7}", PD_SRV_PONG);
    assert_true(m.pong_id == 7);
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"pong\"}", PD_SRV_PONG);
    assert_true(m.pong_id == -1);
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"permission_revoked\",\"reason\":\"removed from workspace\"}",
              PD_SRV_PERMISSION_REVOKED);
    assert_slice(m.message, "removed from workspace");
    pd_srv_msg_free(&m);
    decode_ok(&m, "{\"type\":\"something_new\",\"x\":1}", PD_SRV_UNKNOWN);
    pd_srv_msg_free(&m);
}

static void decode_bad(const char *json, const char *message_part)
{
    pd_srv_msg_t m;
    char err[200] = "";
    assert_int_equal(pd_srv_msg_decode(&m, json, strlen(json), err, sizeof err), PD_ERR_INVALID);
    if (!strstr(err, message_part))
        fail_msg("%s: message \"%s\" lacks \"%s\"", json, err, message_part);
    pd_srv_msg_free(&m);
}

static void test_malformed(void **state)
{
    decode_bad("", "not a JSON object");
    decode_bad("[1]", "not a JSON object");
    decode_bad("{\"type\":\"pong\"} x", "not a JSON object");
    decode_bad("{\"type\":7}", "has no type");
    decode_bad("{}", "has no type");
    decode_bad("{\"type\":\"user_left\"}", "user_left message");
    decode_bad("{\"type\":\"user_left_presence\"}", "user_left_presence message");
    decode_bad("{\"type\":\"presence_changed\",\"userId\":\"u2\",\"userName\":\"Bo\","
               "\"userImage\":7,\"currentPath\":\"/w\"}", "presence_changed message");
    decode_bad("{\"type\":\"user_joined\",\"userId\":\"u\"}", "user_joined message");
    decode_bad("{\"type\":\"presence_changed\",\"userId\":\"u\",\"userName\":\"n\"}",
               "presence_changed message");
    decode_bad("{\"type\":\"presence_changed\",\"userId\":\"u\",\"userName\":\"n\","
               "\"currentPath\":\"/\",\"resourceId\":5}", "presence_changed message");
    decode_bad("{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u\"},\"users\":{}}",
               "presence_snapshot message");
    decode_bad("{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u\"},"
               "\"users\":[{\"userId\":\"a\",\"userName\":\"b\",\"currentPath\":\"\"},3]}",
               "presence_snapshot message");
    decode_bad("{\"type\":\"error\"}", "error message");
}

/* The three client messages, read back by the decoder the server uses. */
static void test_client_encoders(void **state)
{
    const pd_proto_limits_t limits = PD_PROTO_LIMITS_DEFAULT;
    pd_buf_t b = PD_BUF_INIT;
    pd_client_msg_t msg;
    pd_client_msg_init(&msg);
    pd_location_t loc = {PD_SLICE_LIT("/w/ws1/d/\"42\""), PD_SLICE_LIT("document"), PD_SLICE_NULL};
    pd_proto_enc_presence_update(&b, &loc);
    assert_string_equal(b.base, "{\"type\":\"presence_update\",\"currentPath\":"
                                "\"/w/ws1/d/\\\"42\\\"\",\"resourceType\":\"document\"}");
    assert_int_equal(pd_proto_decode(&limits, b.base, b.len, &msg, NULL, 0), 0);
    assert_int_equal(msg.type, PD_MSG_PRESENCE_UPDATE);
    assert_slice(msg.loc.current_path, "/w/ws1/d/\"42\"");
    assert_slice(msg.loc.resource_id, NULL);
    pd_buf_reset(&b);
    pd_proto_enc_token_refresh(&b, PD_SLICE_LIT("a.b.c"));
    assert_string_equal(b.base, "{\"type\":\"token_refresh\",\"token\":\"a.b.c\"}");
    assert_int_equal(pd_proto_decode(&limits, b.base, b.len, &msg, NULL, 0), 0);
    assert_slice(msg.token, "a.b.c");
    pd_buf_reset(&b);
    pd_proto_enc_ping(&b, 18446744073709551615ull);
    assert_string_equal(b.base, "{\"type\":\"ping\",\"id\":18446744073709551615}");
    pd_buf_reset(&b);
    pd_proto_enc_ping(&b, 7);
    assert_int_equal(pd_proto_decode(&limits, b.base, b.len, &msg, NULL, 0), 0);
    assert_int_equal(msg.type, PD_MSG_PING);
    assert_slice(msg.ping_id, "7");
    pd_client_msg_free(&msg);
    pd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_control_messages),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_client_encoders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
