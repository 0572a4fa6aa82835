/*
 * Admission: every way a token can be missing, wrong, expired or for another
 * room ends in one auth_error message and close 1008 with the code as the
 * reason; a good one (query or Authorization header) gets the snapshot; and
 * nothing about the room reaches a connection before its token is accepted.
 */
#include <stdio.h>
#include <string.h>

#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

static const char *const server_args[] = {"--linger", "0", "--jwt-leeway", "0", NULL};

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* Claims for user alice in presence-{ws}, with extra JSON members appended. */
static const char *claims(const char *ws, const char *extra)
{
    int64_t now = pdt_now();
    return pdt_fmt("{\"sub\":\"alice\",\"name\":\"Alice\",\"room\":\"presence-%s\","
                   "\"iat\":%lld,\"exp\":%lld%s}",
                   ws, (long long)now, (long long)(now + 3600), extra);
}

static pdt_ws_t *open_with_query(const char *ws, const char *query)
{
    pdt_ws_opts_t o = {.workspace = ws, .query = query, .label = "anon"};
    return pdt_ws_open(srv.port, &o);
}

static pdt_ws_t *open_with_token(const char *ws, const char *token)
{
    pdt_ws_opts_t o = {.workspace = ws, .token = token, .label = "alice"};
    return pdt_ws_open(srv.port, &o);
}

/* The first and only message is auth_error code, then close 1008 code. */
static void expect_refused(pdt_ws_t *c, const char *code)
{
    const cJSON *m = pdt_expect(c, "auth_error");
    assert_field(m, "code", code);
    pdt_expect_close(c, 1008, code);
}

static void test_no_token_missing(void **state)
{
    expect_refused(open_with_query("a-none", NULL), "AUTH_MISSING");
}

static void test_empty_token_missing(void **state)
{
    expect_refused(open_with_query("a-empty", "token="), "AUTH_MISSING");
}

static void test_valid_token_snapshot(void **state)
{
    pdt_ws_t *c = open_with_token("a-ok", pdt_token("alice", "Alice", "a-ok", 3600));
    const cJSON *snap = pdt_expect(c, "presence_snapshot");
    const cJSON *self = cJSON_GetObjectItemCaseSensitive(snap, "self");
    assert_field(self, "userId", "alice");
    assert_int_equal(pdt_snapshot_count(snap), 0);
}

static void test_bearer_header(void **state)
{
    const char *tok = pdt_token("alice", "Alice", "a-bearer", 3600);
    pdt_ws_opts_t o = {.workspace = "a-bearer",
                       .headers = pdt_fmt("Authorization: Bearer %s\r\n", tok)};
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    const cJSON *snap = pdt_expect(c, "presence_snapshot");
    assert_field(cJSON_GetObjectItemCaseSensitive(snap, "self"), "userId", "alice");
}

static void test_query_wins_over_header(void **state)
{
    const char *good = pdt_token("alice", "Alice", "a-both", 3600);
    pdt_ws_opts_t o = {
        .workspace = "a-both", .token = good, .headers = "Authorization: Bearer not.a.token\r\n"};
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    pdt_expect(c, "presence_snapshot");

    pdt_ws_opts_t o2 = {.workspace = "a-both",
                        .token = "not.a.token",
                        .headers = pdt_fmt("Authorization: Bearer %s\r\n", good)};
    expect_refused(pdt_ws_open(srv.port, &o2), "AUTH_INVALID");
}

static void test_empty_query_token_uses_header(void **state)
{
    const char *good = pdt_token("alice", "Alice", "a-emptyq", 3600);
    pdt_ws_opts_t o = {.workspace = "a-emptyq",
                       .query = "token=",
                       .headers = pdt_fmt("Authorization: Bearer %s\r\n", good)};
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    pdt_expect(c, "presence_snapshot");
}

static void test_token_among_other_parameters(void **state)
{
    const char *tok = pdt_token("alice", "Alice", "a-params", 3600);
    pdt_ws_t *c = open_with_query("a-params", pdt_fmt("v=2&_pk=tab-1&token=%s&x=", tok));
    const cJSON *snap = pdt_expect(c, "presence_snapshot");
    assert_field(cJSON_GetObjectItemCaseSensitive(snap, "self"), "connectionId", "tab-1");
}

static void test_malformed_invalid(void **state)
{
    expect_refused(open_with_token("a-malformed", "abc"), "AUTH_INVALID");
    expect_refused(open_with_token("a-malformed", "a.b.c"), "AUTH_INVALID");
}

static void test_bad_signature_invalid(void **state)
{
    const char *tok = pdt_token_raw(HS256, claims("a-sig", ""), "some-other-secret");
    expect_refused(open_with_token("a-sig", tok), "AUTH_INVALID");
}

static void test_hand_built_token_accepted(void **state)
{
    /* The hand-built tokens below are only meaningful if a correct one passes. */
    const char *tok = pdt_token_raw(HS256, claims("a-hand", ""), PDT_SECRET);
    pdt_ws_t *c = open_with_token("a-hand", tok);
    pdt_expect(c, "presence_snapshot");
}

static void test_alg_none_invalid(void **state)
{
    const char *tok =
        pdt_token_raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims("a-none-alg", ""), NULL);
    expect_refused(open_with_token("a-none-alg", tok), "AUTH_INVALID");
}

static void test_other_alg_invalid(void **state)
{
    const char *tok =
        pdt_token_raw("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims("a-hs512", ""), PDT_SECRET);
    expect_refused(open_with_token("a-hs512", tok), "AUTH_INVALID");
}

static void test_missing_claims_invalid(void **state)
{
    int64_t now = pdt_now();
    const char *variants[] = {
        pdt_fmt("{\"name\":\"Alice\",\"room\":\"presence-a-claims\",\"exp\":%lld}",
                (long long)now + 3600),
        pdt_fmt("{\"sub\":\"alice\",\"room\":\"presence-a-claims\",\"exp\":%lld}",
                (long long)now + 3600),
        pdt_fmt("{\"sub\":\"alice\",\"name\":\"Alice\",\"exp\":%lld}", (long long)now + 3600),
        "{\"sub\":\"alice\",\"name\":\"Alice\",\"room\":\"presence-a-claims\"}",
    };
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        const char *tok = pdt_token_raw(HS256, variants[i], PDT_SECRET);
        expect_refused(open_with_token("a-claims", tok), "AUTH_INVALID");
    }
}

static void test_claims_out_of_range_invalid(void **state)
{
    char long_sub[130], long_name[258];
    memset(long_sub, 's', 129);
    long_sub[129] = '\0';
    memset(long_name, 'n', 257);
    long_name[257] = '\0';
    long long now = (long long)pdt_now();
    const char *room = "\"room\":\"presence-a-range\"";
    const char *variants[] = {
        pdt_fmt("{\"sub\":\"%s\",\"name\":\"A\",%s,\"exp\":%lld}", long_sub, room, now + 600),
        pdt_fmt("{\"sub\":\"a\",\"name\":\"%s\",%s,\"exp\":%lld}", long_name, room, now + 600),
        pdt_fmt("{\"sub\":\"\",\"name\":\"A\",%s,\"exp\":%lld}", room, now + 600),
        pdt_fmt("{\"sub\":\"a\",\"name\":\"A\",%s,\"exp\":\"%lld\"}", room, now + 600),
        pdt_fmt("{\"sub\":42,\"name\":\"A\",%s,\"exp\":%lld}", room, now + 600),
        pdt_fmt("{\"sub\":\"a\",\"name\":\"A\",%s,\"exp\":%lld,\"iat\":%lld}", room, now + 1200,
                now + 600),
    };
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        const char *tok = pdt_token_raw(HS256, variants[i], PDT_SECRET);
        pdt_ws_t *c = open_with_token("a-range", tok);
        const cJSON *m = pdt_next(c, PDT_WAIT_MS);
        const char *code = pdt_str(m, "code");
        if (code == NULL || strcmp(code, "AUTH_INVALID") != 0)
            fail_msg("claims %s: expected AUTH_INVALID, got %s", variants[i],
                     m ? cJSON_PrintUnformatted(m) : "nothing");
        pdt_expect_close(c, 1008, "AUTH_INVALID");
    }
}

static void test_longest_claims_accepted(void **state)
{
    char sub[129], name[257];
    memset(sub, 's', 128);
    sub[128] = '\0';
    memset(name, 'n', 256);
    name[256] = '\0';
    pdt_ws_t *obs = pdt_join(srv.port, "a-long", "observer");
    pdt_ws_t *c = open_with_token("a-long", pdt_token(sub, name, "a-long", 600));
    assert_field(cJSON_GetObjectItemCaseSensitive(pdt_expect(c, "presence_snapshot"), "self"),
                 "userId", sub);
    const cJSON *m = pdt_expect(obs, "user_joined");
    assert_field(m, "userId", sub);
    assert_field(m, "userName", name);
}

static void test_img_claim_is_picture(void **state)
{
    pdt_ws_t *obs = pdt_join(srv.port, "a-img", "observer");
    const char *tok =
        pdt_token_raw(HS256, claims("a-img", ",\"img\":\"https://i.example/a.png\""), PDT_SECRET);
    pdt_expect(open_with_token("a-img", tok), "presence_snapshot");
    assert_field(pdt_expect(obs, "user_joined"), "userImage", "https://i.example/a.png");
}

static void test_nbf_future_invalid(void **state)
{
    const char *extra = pdt_fmt(",\"nbf\":%lld", (long long)pdt_now() + 600);
    const char *tok = pdt_token_raw(HS256, claims("a-nbf", extra), PDT_SECRET);
    expect_refused(open_with_token("a-nbf", tok), "AUTH_INVALID");
}

static void test_expired(void **state)
{
    expect_refused(open_with_token("a-exp", pdt_token("alice", "Alice", "a-exp", -600)),
                   "AUTH_EXPIRED");
}

static void test_other_room_forbidden(void **state)
{
    const char *tok = pdt_token("alice", "Alice", "a-room-other", 3600);
    expect_refused(open_with_token("a-room", tok), "AUTH_FORBIDDEN");
}

/* A prefix of the right room is another room, too. */
static void test_room_must_match_exactly(void **state)
{
    const char *tok = pdt_token("alice", "Alice", "a-exact", 3600);
    expect_refused(open_with_token("a-exactly", tok), "AUTH_FORBIDDEN");
}

static void test_no_presence_before_auth(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "a-leak", "bob");
    pdt_send(bob, "{\"type\":\"presence_update\",\"currentPath\":\"/w/a-leak/secret\"}");
    pdt_expect_none(bob, NULL);
    const char *bad = pdt_token_raw(HS256, claims("a-leak", ""), "wrong-secret");
    pdt_ws_opts_t o = {.workspace = "a-leak",
                       .token = bad,
                       .early = "{\"type\":\"presence_update\",\"currentPath\":\"/x\"}"};
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    expect_refused(c, "AUTH_INVALID");
    /* A refused connection is no member: the room hears nothing of it. */
    pdt_expect_none(bob, NULL);
}

static pdt_extra_t debug_srv;

static int teardown_debug(void **state)
{
    pdt_teardown(state);
    pdt_extra_discard(&debug_srv);
    return 0;
}

/*
 * A user id is the token's to choose. At --log-level debug the admission
 * line quotes it with its control bytes and quotes escaped, so a newline
 * in an id cannot start a forged log line.
 */
static void test_user_id_cannot_forge_log_lines(void **state)
{
    const char *const args[] = {"--log-level", "debug", NULL};
    pdt_extra_start(&debug_srv, args);
    const char *user = "eve\nts=forged level=error msg=\"x\"";
    pdt_ws_opts_t o = {
        .workspace = "a-log", .token = pdt_token(user, "Eve", "a-log", 3600), .label = "eve"};
    pdt_ws_t *c = pdt_ws_open(debug_srv.srv.port, &o);
    pdt_expect(c, "presence_snapshot");
    char line[1024];
    if (pdt_server_log_find(&debug_srv.srv, "ts=forged", 1, line, sizeof(line)) != 0)
        fail_msg("a user id started a log line: %s", line);
    const char *quoted = "user=\"eve\\x0ats=forged level=error msg=\\\"x\\\"\"";
    if (pdt_server_log_find(&debug_srv.srv, quoted, 0, line, sizeof(line)) != 1)
        fail_msg("no admission line with %s", quoted);
    pdt_extra_stop(&debug_srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_no_token_missing),
        PDT_TEST(test_empty_token_missing),
        PDT_TEST(test_valid_token_snapshot),
        PDT_TEST(test_bearer_header),
        PDT_TEST(test_query_wins_over_header),
        PDT_TEST(test_empty_query_token_uses_header),
        PDT_TEST(test_token_among_other_parameters),
        PDT_TEST(test_malformed_invalid),
        PDT_TEST(test_bad_signature_invalid),
        PDT_TEST(test_hand_built_token_accepted),
        PDT_TEST(test_alg_none_invalid),
        PDT_TEST(test_other_alg_invalid),
        PDT_TEST(test_missing_claims_invalid),
        PDT_TEST(test_claims_out_of_range_invalid),
        PDT_TEST(test_longest_claims_accepted),
        PDT_TEST(test_img_claim_is_picture),
        PDT_TEST(test_nbf_future_invalid),
        PDT_TEST(test_expired),
        PDT_TEST(test_other_room_forbidden),
        PDT_TEST(test_room_must_match_exactly),
        PDT_TEST(test_no_presence_before_auth),
        cmocka_unit_test_teardown(test_user_id_cannot_forge_log_lines, teardown_debug),
    };
    return PDT_SUITE(tests, &srv, server_args, 100);
}
