/*
 * The HTTP side of presenced: health and metrics, and every status the
 * router answers before a WebSocket exists (404, 405, 426, 431, 400, 403),
 * the handshake timeout and garbage instead of a request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

#define ORIGIN "https://a.example"
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static const char *const server_args[] = {
    "--linger", "0",  "--handshake-timeout", "1", "--max-header-bytes", "2048", "--allowed-origin",
    ORIGIN,     NULL,
};

/* A complete upgrade request for target; extra header lines may override nothing. */
static const char *upgrade_request(const char *target, const char *headers)
{
    return pdt_fmt("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nOrigin: " ORIGIN "\r\n%s\r\n",
                   target, headers);
}

static int status_of(const char *request, pd_buf_t *resp)
{
    pd_buf_reset(resp);
    return pdt_http_raw(srv.port, request, strlen(request), resp);
}

static int upgrade_status(const char *target, const char *headers)
{
    pd_buf_t resp = PD_BUF_INIT;
    int status = status_of(upgrade_request(target, headers), &resp);
    pd_buf_free(&resp);
    return status;
}

static const char *std_headers(void)
{
    return "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n";
}

/* The value of the sample named exactly name (labels included), or -1. */
static pdt_ws_t *join_with_origin(const char *ws, const char *user)
{
    pdt_ws_opts_t o = {.workspace = ws, .label = user, .headers = "Origin: " ORIGIN "\r\n"};
    o.token = pdt_token(user, pdt_name(user), ws, 3600);
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    pdt_expect(c, "presence_snapshot");
    return c;
}

static void test_healthz(void **state)
{
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(srv.port, "/healthz", &resp), 200);
    pd_buf_free(&resp);
}

static void test_metrics_text(void **state)
{
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(srv.port, "/metrics", &resp), 200);
    assert_non_null(strstr(pdt_http_body(resp.base), "presenced_connections"));
    pd_buf_free(&resp);
}

static void test_metrics_count_activity(void **state)
{
    pd_buf_t resp = PD_BUF_INIT;
    pdt_ws_t *a = join_with_origin("h-metrics", "alice");
    pdt_ws_t *b = join_with_origin("h-metrics", "bob");
    pdt_expect(a, "user_joined");
    pdt_send(a, "{\"type\":\"presence_update\",\"currentPath\":\"/w/h/1\"}");
    pdt_expect(b, "presence_changed");
    pdt_ws_opts_t o = {.workspace = "h-metrics", .headers = "Origin: " ORIGIN "\r\n"};
    pdt_ws_t *anon = pdt_ws_open(srv.port, &o);
    pdt_expect(anon, "auth_error");
    pdt_expect_close(anon, 1008, "AUTH_MISSING");
    assert_int_equal(pdt_http_get(srv.port, "/metrics", &resp), 200);
    const char *body = pdt_http_body(resp.base);
    if (pdt_metric(body, "presenced_connections") < 2 ||
        pdt_metric(body, "presenced_messages_in_total") < 1 ||
        pdt_metric(body, "presenced_auth_failures_total{reason=\"AUTH_MISSING\"}") < 1)
        fail_msg("metrics do not reflect 2 connections, 1 message in, 1 AUTH_MISSING:\n%s", body);
    pd_buf_free(&resp);
}

/* Firefox sends "Connection: keep-alive, Upgrade"; header names and values vary in case. */
static void test_browser_style_upgrade(void **state)
{
    const char *tok = pdt_token("alice", "Alice", "h-firefox", 3600);
    const char *req = pdt_fmt("GET /parties/presence/h-firefox?token=%s HTTP/1.1\r\n"
                              "host: 127.0.0.1\r\nconnection: keep-alive, Upgrade\r\n"
                              "upgrade: WebSocket\r\nsec-websocket-key: " KEY "\r\n"
                              "sec-websocket-version: 13\r\norigin: " ORIGIN "\r\n"
                              "Sec-WebSocket-Extensions: permessage-deflate; "
                              "client_max_window_bits\r\n\r\n",
                              tok);
    pd_buf_t resp = PD_BUF_INIT;
    char ext[64];
    assert_int_equal(status_of(req, &resp), 101);
    /* No extension is negotiated, so frames stay uncompressed. */
    assert_int_equal(pdt_http_header(resp.base, "Sec-WebSocket-Extensions", ext, sizeof(ext)), -1);
    pd_buf_free(&resp);
}

static void test_request_byte_by_byte(void **state)
{
    const char *tok = pdt_token("alice", "Alice", "h-bytes", 3600);
    const char *req =
        pdt_fmt("GET /parties/presence/h-bytes?token=%s HTTP/1.1\r\nHost: x\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nOrigin: " ORIGIN "\r\n%s\r\n",
                tok, std_headers());
    int fd = pdt_tcp_connect(srv.port);
    assert_true(fd >= 0);
    for (const char *p = req; *p != '\0'; p++)
        assert_int_equal(pdt_write_all(fd, p, 1), 0);
    pd_buf_t resp = PD_BUF_INIT;
    pdt_read_response(fd, &resp, PDT_WAIT_MS);
    close(fd);
    assert_int_equal(pdt_http_status(resp.base), 101);
    pd_buf_free(&resp);
}

static void test_unknown_path_404(void **state)
{
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(srv.port, "/nope", &resp), 404);
    assert_int_equal(upgrade_status("/parties/other/room1", std_headers()), 404);
    assert_int_equal(upgrade_status("/parties/presence", std_headers()), 404);
    pd_buf_free(&resp);
}

static void test_room_post_405(void **state)
{
    pd_buf_t resp = PD_BUF_INIT;
    int status = status_of("POST /parties/presence/h-post HTTP/1.1\r\nHost: x\r\n"
                           "Content-Length: 2\r\n\r\n{}",
                           &resp);
    assert_int_equal(status, 405);
    pd_buf_free(&resp);
}

static void test_room_plain_get_426(void **state)
{
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(srv.port, "/parties/presence/h-plain", &resp), 426);
    pd_buf_free(&resp);
}

static void test_bad_workspace_404(void **state)
{
    char long_id[130];
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    assert_int_equal(upgrade_status("/parties/presence/bad.id", std_headers()), 404);
    assert_int_equal(upgrade_status("/parties/presence/a%20b", std_headers()), 404);
    assert_int_equal(upgrade_status("/parties/presence/", std_headers()), 404);
    assert_int_equal(upgrade_status("/parties/presence/a/b", std_headers()), 404);
    assert_int_equal(upgrade_status(pdt_fmt("/parties/presence/%s", long_id), std_headers()), 404);
}

static void test_longest_workspace_accepted(void **state)
{
    char id[129];
    memset(id, 'W', 128);
    id[128] = '\0';
    pdt_ws_t *c = join_with_origin(id, "alice");
    assert_int_equal(pdt_snapshot_count(pdt_last(c)), 0);
}

static void test_headers_too_large_431(void **state)
{
    char pad[3001];
    memset(pad, 'x', 3000);
    pad[3000] = '\0';
    const char *headers = pdt_fmt("%sX-Pad: %s\r\n", std_headers(), pad);
    assert_int_equal(upgrade_status("/parties/presence/h-big", headers), 431);
}

static void test_missing_or_bad_key_400(void **state)
{
    assert_int_equal(upgrade_status("/parties/presence/h-key", "Sec-WebSocket-Version: 13\r\n"),
                     400);
    assert_int_equal(upgrade_status("/parties/presence/h-key",
                                    "Sec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n"),
                     400);
}

static void test_wrong_version_426(void **state)
{
    pd_buf_t resp = PD_BUF_INIT;
    char v[32] = "";
    int status =
        status_of(upgrade_request("/parties/presence/h-ver", "Sec-WebSocket-Key: " KEY "\r\n"
                                                             "Sec-WebSocket-Version: 8\r\n"),
                  &resp);
    assert_int_equal(status, 426);
    assert_int_equal(pdt_http_header(resp.base, "Sec-WebSocket-Version", v, sizeof(v)), 0);
    assert_string_equal(v, "13");
    pd_buf_free(&resp);
}

static void test_origin_not_allowed_403(void **state)
{
    const char *req = pdt_fmt("GET /parties/presence/h-origin?token=%s HTTP/1.1\r\n"
                              "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Origin: https://evil.example\r\n%s\r\n",
                              pdt_token("alice", "Alice", "h-origin", 3600), std_headers());
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(status_of(req, &resp), 403);
    pd_buf_free(&resp);
    join_with_origin("h-origin", "alice");
}

static void test_handshake_timeout(void **state)
{
    int fd = pdt_tcp_connect(srv.port);
    pd_buf_t resp = PD_BUF_INIT;
    const char *partial = "GET /parties/presence/h-slow HTTP/1.1\r\nHost: x\r\n";
    assert_true(fd >= 0);
    pdt_write_all(fd, partial, strlen(partial));
    /* The limit is 1 s; 8 s only bounds the wait. */
    int closed = pdt_read_response(fd, &resp, 8000);
    close(fd);
    pd_buf_free(&resp);
    assert_true(closed);
}

static void test_garbage_request(void **state)
{
    unsigned char junk[512];
    uint32_t x = 0x9e3779b9u;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        junk[i] = (unsigned char)x;
    }
    pd_buf_t resp = PD_BUF_INIT;
    int status = pdt_http_raw(srv.port, (const char *)junk, sizeof(junk), &resp);
    if (status != 400 && status != 0)
        fail_msg("garbage got status %d (want 400 or a closed connection)", status);
    pd_buf_reset(&resp);
    assert_int_equal(pdt_http_get(srv.port, "/healthz", &resp), 200);
    pd_buf_free(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_healthz),
        PDT_TEST(test_metrics_text),
        PDT_TEST(test_metrics_count_activity),
        PDT_TEST(test_browser_style_upgrade),
        PDT_TEST(test_request_byte_by_byte),
        PDT_TEST(test_unknown_path_404),
        PDT_TEST(test_room_post_405),
        PDT_TEST(test_room_plain_get_426),
        PDT_TEST(test_bad_workspace_404),
        PDT_TEST(test_longest_workspace_accepted),
        PDT_TEST(test_headers_too_large_431),
        PDT_TEST(test_missing_or_bad_key_400),
        PDT_TEST(test_wrong_version_426),
        PDT_TEST(test_origin_not_allowed_403),
        PDT_TEST(test_handshake_timeout),
        PDT_TEST(test_garbage_request),
    };
    return PDT_SUITE(tests, &srv, server_args, 100);
}
