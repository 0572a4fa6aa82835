/*
 * The HTTP API for the app's backend (docs/api.md), over real sockets:
 * listing rooms and their members, kicking a user (permission_revoked and
 * close 1008 for them, user_left for the others), every error status, the
 * Bearer check, the API being off without a secret, and, with a verify
 * endpoint, a kick dropping the user's cached verification.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pdt_endpoint.h"
#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

#define API_SECRET "api-secret-4d1e"

static pdt_server_t srv;

/* The verify endpoint of the one test that needs it. */
static pdt_endpoint_t ep;

/* A server with other settings, started and stopped by one test. */
static pdt_extra_t extra;

/* The API secret file (its trailing newline is not part of the secret). */
static char secret_path[] = "/tmp/pdt-api-secret-XXXXXX";

#define UPDATE_FMT "{\"type\":\"presence_update\",\"currentPath\":\"%s\"}"

/* ---- HTTP ---- */

typedef struct {
    int status;
    cJSON *json; /* the body, when it is JSON */
    char www_authenticate[64];
} api_resp_t;

static api_resp_t last_resp;

/* Sends one API request (auth NULL: no Authorization header); the answer stays until the next. */
static const api_resp_t *call_on(int port, const char *method, const char *path, const char *auth,
                                 const char *body)
{
    pd_buf_t req = PD_BUF_INIT, resp = PD_BUF_INIT;
    pd_buf_appendf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method,
                   path);
    if (auth != NULL)
        pd_buf_appendf(&req, "Authorization: %s\r\n", auth);
    if (body != NULL)
        pd_buf_appendf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                       strlen(body));
    pd_buf_appendf(&req, "\r\n%s", body ? body : "");
    cJSON_Delete(last_resp.json);
    memset(&last_resp, 0, sizeof(last_resp));
    last_resp.status = pdt_http_raw(port, req.base, req.len, &resp);
    last_resp.json = cJSON_Parse(pdt_http_body(resp.base));
    pdt_http_header(resp.base ? resp.base : "", "WWW-Authenticate", last_resp.www_authenticate,
                    sizeof(last_resp.www_authenticate));
    pd_buf_free(&req);
    pd_buf_free(&resp);
    return &last_resp;
}

static const api_resp_t *call(const char *method, const char *path, const char *body)
{
    return call_on(srv.port, method, path, "Bearer " API_SECRET, body);
}

/* Expects status and {"error": error} (error NULL: any string). */
static void expect_error(const api_resp_t *r, int status, const char *error)
{
    char *text = r->json ? cJSON_PrintUnformatted(r->json) : NULL;
    const char *got = pdt_str(r->json, "error");
    int ok = r->status == status && got != NULL && (error == NULL || strcmp(got, error) == 0);
    if (!ok)
        fail_msg("expected %d {\"error\":\"%s\"}, got %d %s", status, error ? error : "*",
                 r->status, text ? text : "(no JSON body)");
    free(text);
}

/* The entry for roomId in a GET /api/rooms answer, or NULL. */
static const cJSON *room_entry(const cJSON *list, const char *room_id)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(list, "rooms"))
    {
        const char *id = pdt_str(e, "roomId");
        if (id != NULL && strcmp(id, room_id) == 0)
            return e;
    }
    return NULL;
}

static long num(const cJSON *j, const char *key)
{
    return pdt_json_int(j, key);
}

/* ---- teardown ---- */

static int teardown(void **state)
{
    pdt_teardown(state);
    cJSON_Delete(last_resp.json);
    memset(&last_resp, 0, sizeof(last_resp));
    pdt_extra_discard(&extra);
    if (ep.pid > 0)
        pdt_endpoint_stop(&ep);
    return 0;
}

#define TEST(f) cmocka_unit_test_teardown(f, teardown)

/* ---- listing ---- */

static void test_list_rooms_counts(void **state)
{
    pdt_join(srv.port, "a-list", "alice");
    pdt_join(srv.port, "a-list", "alice");
    pdt_join(srv.port, "a-list", "bob");
    pdt_ws_t *carol = pdt_join(srv.port, "a-list", "carol");
    pdt_join(srv.port, "a-list-2", "dave");
    /* carol's socket ends without a close frame: she lingers, still present. */
    pdt_ws_drop(carol);
    pdt_pump(200);
    const api_resp_t *r = call("GET", "/api/rooms", NULL);
    assert_int_equal(r->status, 200);
    const cJSON *e = room_entry(r->json, "presence-a-list");
    assert_non_null(e);
    assert_int_equal(num(e, "users"), 3);
    assert_int_equal(num(e, "connections"), 3);
    e = room_entry(r->json, "presence-a-list-2");
    assert_non_null(e);
    assert_int_equal(num(e, "users"), 1);
    assert_int_equal(num(e, "connections"), 1);
    assert_null(room_entry(r->json, "presence-a-never"));
}

static void test_show_room_as_snapshot(void **state)
{
    pdt_ws_t *alice = pdt_join(srv.port, "a-show", "alice");
    pdt_ws_opts_t o = {.workspace = "a-show", .label = "bob"};
    o.token = pdt_token_pic("bob", "Bob", "https://img.example/b.png", "a-show", 3600);
    pdt_ws_t *bob = pdt_ws_open(srv.port, &o);
    pdt_expect(bob, "presence_snapshot");
    pdt_expect(alice, "user_joined");
    pdt_send(alice, "{\"type\":\"presence_update\",\"currentPath\":\"/w/a-show/documents/42\","
                    "\"resourceType\":\"document\",\"resourceId\":\"42\"}");
    pdt_expect(bob, "presence_changed");

    const api_resp_t *r = call("GET", "/api/rooms/presence-a-show", NULL);
    assert_int_equal(r->status, 200);
    assert_field(r->json, "roomId", "presence-a-show");
    assert_int_equal(pdt_snapshot_count(r->json), 2);
    const cJSON *e = pdt_snapshot_user(r->json, "alice");
    assert_non_null(e);
    assert_field(e, "userName", "Alice");
    assert_field(e, "userImage", PDT_JSON_NULL);
    assert_field(e, "currentPath", "/w/a-show/documents/42");
    assert_field(e, "resourceType", "document");
    assert_field(e, "resourceId", "42");
    e = pdt_snapshot_user(r->json, "bob");
    assert_non_null(e);
    assert_field(e, "userImage", "https://img.example/b.png");
    assert_field(e, "currentPath", "");
    assert_field(e, "resourceType", NULL);
    /* Reading the room sends nothing to its members. */
    pdt_expect_none(alice, NULL);
    pdt_assert_quiet(bob);
}

static void test_room_without_members_is_404(void **state)
{
    pdt_ws_close(pdt_join(srv.port, "a-gone", "alice"));
    pdt_pump(100);
    expect_error(call("GET", "/api/rooms/presence-a-gone", NULL), 404, "no such room");
    assert_null(room_entry(call("GET", "/api/rooms", NULL)->json, "presence-a-gone"));
    expect_error(call("GET", "/api/rooms/presence-a-never", NULL), 404, "no such room");
}

/* ---- kick ---- */

static void test_kick(void **state)
{
    pdt_ws_t *a1 = pdt_join(srv.port, "a-kick", "alice");
    pdt_ws_t *a2 = pdt_join(srv.port, "a-kick", "alice");
    pdt_ws_t *bob = pdt_join(srv.port, "a-kick", "bob");
    pdt_ws_t *elsewhere = pdt_join(srv.port, "a-kick-other", "alice");
    pdt_expect(a1, "user_joined");
    pdt_expect(a2, "user_joined");

    const api_resp_t *r = call("POST", "/api/rooms/presence-a-kick/kick",
                               "{\"userId\":\"alice\",\"reason\":\"removed by Ann\"}");
    assert_int_equal(r->status, 200);
    assert_int_equal(num(r->json, "kicked"), 2);
    pdt_expect_revoked(a1, "removed by Ann");
    pdt_expect_revoked(a2, "removed by Ann");
    pdt_expect_leave(bob, "alice");
    pdt_expect_none(bob, NULL);
    /* Only that room: alice's connection to another workspace stays. */
    pdt_send(elsewhere, "{\"type\":\"ping\",\"id\":1}");
    pdt_expect(elsewhere, "pong");

    r = call("GET", "/api/rooms/presence-a-kick", NULL);
    assert_int_equal(pdt_snapshot_count(r->json), 1);
    assert_non_null(pdt_snapshot_user(r->json, "bob"));
    /* A kick does not revoke a signed token: alice may come back with one. */
    pdt_join(srv.port, "a-kick", "alice");
    assert_field(pdt_expect(bob, "user_joined"), "userId", "alice");
}

static void test_kick_default_reason(void **state)
{
    pdt_ws_t *alice = pdt_join(srv.port, "a-kick-default", "alice");
    const api_resp_t *r =
        call("POST", "/api/rooms/presence-a-kick-default/kick", "{\"userId\":\"alice\"}");
    assert_int_equal(r->status, 200);
    assert_int_equal(num(r->json, "kicked"), 1);
    pdt_expect_revoked(alice, "removed from the workspace");
}

/* A user present only through a lingering connection is removed at once and counts 0. */
static void test_kick_lingering_user(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "a-kick-linger", "bob");
    pdt_ws_t *alice = pdt_join(srv.port, "a-kick-linger", "alice");
    pdt_expect(bob, "user_joined");
    pdt_ws_drop(alice);
    pdt_expect_silence(bob, 200);
    const api_resp_t *r =
        call("POST", "/api/rooms/presence-a-kick-linger/kick", "{\"userId\":\"alice\"}");
    assert_int_equal(r->status, 200);
    assert_int_equal(num(r->json, "kicked"), 0);
    /* Well before the 5 s linger would have ended. */
    pdt_expect_leave_within(bob, "alice", 2500);
}

static void test_kick_errors(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "a-kick-err", "bob");
    const char *kick = "/api/rooms/presence-a-kick-err/kick";
    expect_error(call("POST", kick, "{\"userId\":\"nobody\"}"), 404, NULL);
    expect_error(call("POST", "/api/rooms/presence-a-no-room/kick", "{\"userId\":\"bob\"}"), 404,
                 NULL);
    const char *bad[] = {NULL,
                         "",
                         "not json",
                         "[]",
                         "{}",
                         "{\"userId\":5}",
                         "{\"userId\":\"\"}",
                         "{\"userId\":null}",
                         "{\"user\":\"bob\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error(call("POST", kick, bad[i]), 400, "body must be {\"userId\":\"…\"}");
    /* "\u0000" would have cut the id to "bob"; a raw control byte is no JSON string either. */
    expect_error(call("POST", kick, "{\"userId\":\"bob\\u0000x\"}"), 400,
                 "strings must not contain NUL");
    expect_error(call("POST", kick, "{\"userId\":\"bob\tx\"}"), 400,
                 "control characters in strings must be escaped");
    /* None of that touched bob. */
    pdt_expect_none(bob, NULL);
}

/* ---- errors of the API itself ---- */

static void test_bearer_required(void **state)
{
    const char *wrong[] = {NULL,
                           "Bearer",
                           "Bearer ",
                           "Bearer wrong-secret",
                           "Bearer " API_SECRET "x",
                           "Bearer api-secret-4d1",
                           "Basic " API_SECRET,
                           API_SECRET};
    const char *paths[] = {"/api/rooms", "/api/rooms/presence-a-none"};
    pdt_ws_t *alice = pdt_join(srv.port, "a-auth", "alice");
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        for (size_t p = 0; p < 2; p++) {
            const api_resp_t *r = call_on(srv.port, "GET", paths[p], wrong[i], NULL);
            expect_error(r, 401, "unauthorized");
            assert_string_equal(r->www_authenticate, "Bearer");
        }
        const api_resp_t *r = call_on(srv.port, "POST", "/api/rooms/presence-a-auth/kick", wrong[i],
                                      "{\"userId\":\"alice\"}");
        expect_error(r, 401, "unauthorized");
    }
    /* No wrong secret kicked anyone. */
    pdt_send(alice, "{\"type\":\"ping\",\"id\":2}");
    pdt_expect(alice, "pong");
}

static void test_wrong_method_405(void **state)
{
    pdt_join(srv.port, "a-method", "alice");
    const char *cases[][2] = {
        {"POST", "/api/rooms"},
        {"DELETE", "/api/rooms"},
        {"POST", "/api/rooms/presence-a-method"},
        {"DELETE", "/api/rooms/presence-a-method"},
        {"GET", "/api/rooms/presence-a-method/kick"},
        {"PUT", "/api/rooms/presence-a-method/kick"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const api_resp_t *r = call(cases[i][0], cases[i][1], "{\"userId\":\"alice\"}");
        if (r->status != 405)
            fail_msg("%s %s: expected 405, got %d", cases[i][0], cases[i][1], r->status);
    }
}

static void test_unknown_api_path_404(void **state)
{
    pdt_join(srv.port, "a-path", "alice");
    expect_error(call("GET", "/api/rooms/presence-a-path/members", NULL), 404, NULL);
    expect_error(call("POST", "/api/rooms/presence-a-path/ban", "{\"userId\":\"alice\"}"), 404,
                 NULL);
}

static void test_api_off_without_secret(void **state)
{
    pdt_extra_start(&extra, NULL);
    pdt_join(extra.srv.port, "a-off", "alice");
    const char *paths[] = {"/api/rooms", "/api/rooms/presence-a-off"};
    for (size_t i = 0; i < 2; i++)
        expect_error(call_on(extra.srv.port, "GET", paths[i], "Bearer " API_SECRET, NULL), 404,
                     NULL);
    expect_error(call_on(extra.srv.port, "POST", "/api/rooms/presence-a-off/kick",
                         "Bearer " API_SECRET, "{\"userId\":\"alice\"}"),
                 404, NULL);
    pdt_extra_stop(&extra);
}

/* ---- with a verify endpoint ---- */

static void test_kick_drops_cached_verification(void **state)
{
    if (pdt_endpoint_start(&ep) != 0)
        fail_msg("the verify endpoint did not start");
    const char *args[] = {"--verify-url", ep.url, "--api-secret-file", secret_path, NULL};
    pdt_extra_start(&extra, args);
    const char *token = "ok:alice:Alice:kick";
    pdt_ws_opts_t o = {.workspace = "a-vkick", .token = token, .label = "alice"};
    pdt_ws_t *tabs[2];
    for (int i = 0; i < 2; i++) {
        tabs[i] = pdt_ws_open(extra.srv.port, &o);
        pdt_expect(tabs[i], "presence_snapshot");
    }
    /* The second tab was a cache hit. */
    assert_int_equal(pdt_endpoint_count(&ep, token), 1);
    const api_resp_t *r = call_on(extra.srv.port, "POST", "/api/rooms/presence-a-vkick/kick",
                                  "Bearer " API_SECRET, "{\"userId\":\"alice\"}");
    assert_int_equal(r->status, 200);
    assert_int_equal(num(r->json, "kicked"), 2);
    for (int i = 0; i < 2; i++)
        pdt_expect_revoked(tabs[i], "removed from the workspace");
    /* The endpoint is asked again (and here still admits her). */
    pdt_expect(pdt_ws_open(extra.srv.port, &o), "presence_snapshot");
    assert_int_equal(pdt_endpoint_count(&ep, token), 2);
    pdt_extra_stop(&extra);
}

static int write_secret(void)
{
    int fd = mkstemp(secret_path);
    if (fd < 0)
        return -1;
    static const char text[] = API_SECRET "\n";
    ssize_t n = write(fd, text, sizeof(text) - 1);
    close(fd);
    return n == (ssize_t)sizeof(text) - 1 ? 0 : -1;
}

int main(void)
{
    if (write_secret() != 0) {
        perror("api secret file");
        return 1;
    }
    const char *const args[] = {"--api-secret-file", secret_path, NULL};
    const struct CMUnitTest tests[] = {
        TEST(test_list_rooms_counts),
        TEST(test_show_room_as_snapshot),
        TEST(test_room_without_members_is_404),
        TEST(test_kick),
        TEST(test_kick_default_reason),
        TEST(test_kick_lingering_user),
        TEST(test_kick_errors),
        TEST(test_bearer_required),
        TEST(test_wrong_method_405),
        TEST(test_unknown_api_path_404),
        TEST(test_api_off_without_secret),
        TEST(test_kick_drops_cached_verification),
    };
    int rc = PDT_SUITE(tests, &srv, args, 100);
    unlink(secret_path);
    return rc;
}
