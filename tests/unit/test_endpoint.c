/*
 * The verify endpoint's answers (src/auth/endpoint.c): what admits, what
 * refuses, and what counts as the endpoint being unavailable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/endpoint.h"

static pd_auth_status_t parse(long status, const char *body, pd_identity_t *id)
{
    memset(id, 0, sizeof(*id));
    return pd_endpoint_parse(status, body, body ? strlen(body) : 0, id);
}

static void test_request_body(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_endpoint_request_body(&b, PD_SLICE_LIT("presence-ws1"));
    assert_string_equal(b.base, "{\"roomId\":\"presence-ws1\"}");
    pd_buf_free(&b);
}

static void test_admits_full_answer(void **state)
{
    pd_identity_t id;
    assert_int_equal(
        parse(200,
              "{\"userId\":\"u1\",\"userName\":\"Ann\",\"userImage\":\"https://i/a.png\","
              "\"expiresAt\":1795665630000,\"extra\":[1,2]}",
              &id),
        PD_AUTH_OK);
    assert_string_equal(id.user_id, "u1");
    assert_string_equal(id.user_name, "Ann");
    assert_string_equal(id.user_image, "https://i/a.png");
    assert_int_equal(id.expires_at_ms, 1795665630000LL);
    pd_identity_free(&id);
}

static void test_defaults(void **state)
{
    const char *bodies[] = {
        "{\"userId\":\"u2\"}",
        "{\"userId\":\"u2\",\"userName\":null,\"userImage\":null,\"expiresAt\":null}",
        "{\"userId\":\"u2\",\"userName\":\"\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        pd_identity_t id;
        assert_int_equal(parse(200, bodies[i], &id), PD_AUTH_OK);
        assert_string_equal(id.user_id, "u2");
        assert_string_equal(id.user_name, "Unknown");
        assert_null(id.user_image);
        assert_int_equal(id.expires_at_ms, 0);
        pd_identity_free(&id);
    }
}

static void test_statuses(void **state)
{
    pd_identity_t id;
    const char *ok = "{\"userId\":\"u1\"}";
    assert_int_equal(parse(401, ok, &id), PD_AUTH_INVALID);
    assert_int_equal(parse(403, ok, &id), PD_AUTH_FORBIDDEN);
    long others[] = {0, 201, 204, 301, 400, 404, 429, 500, 502, 503};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        assert_int_equal(parse(others[i], ok, &id), PD_AUTH_UNAVAILABLE);
    assert_null(id.user_id);
}

static void test_bad_bodies(void **state)
{
    char long_id[200], long_name[300], long_image[2100];
    memset(long_id, 'a', sizeof(long_id));
    memcpy(long_id, "{\"userId\":\"", 11);
    memcpy(long_id + 11 + 129, "\"}", 3);
    snprintf(long_name, sizeof(long_name), "{\"userId\":\"u\",\"userName\":\"%0257d\"}", 0);
    snprintf(long_image, sizeof(long_image), "{\"userId\":\"u\",\"userImage\":\"%02049d\"}", 0);
    const char *bodies[] = {
        NULL,
        "",
        "not json",
        "[]",
        "\"u1\"",
        "{}",
        "{\"userId\":null}",
        "{\"userId\":\"\"}",
        "{\"userId\":7}",
        "{\"userId\":\"u\",\"userName\":5}",
        "{\"userId\":\"u\",\"userImage\":{}}",
        "{\"userId\":\"u\",\"expiresAt\":\"soon\"}",
        "{\"userId\":\"u\",\"expiresAt\":-1}",
        "{\"userId\":\"u\",\"expiresAt\":1e300}",
        long_id,
        long_name,
        long_image,
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        pd_identity_t id;
        assert_int_equal(parse(200, bodies[i], &id), PD_AUTH_UNAVAILABLE);
        assert_null(id.user_id);
    }
}

static void test_limits_inclusive(void **state)
{
    char body[600];
    snprintf(body, sizeof(body), "{\"userId\":\"%0128d\",\"userName\":\"%0256d\"}", 0, 0);
    pd_identity_t id;
    assert_int_equal(parse(200, body, &id), PD_AUTH_OK);
    assert_int_equal(strlen(id.user_id), 128);
    assert_int_equal(strlen(id.user_name), 256);
    pd_identity_free(&id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_body), cmocka_unit_test(test_admits_full_answer),
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_bad_bodies),   cmocka_unit_test(test_limits_inclusive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
