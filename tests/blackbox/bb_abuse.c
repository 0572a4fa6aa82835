/*
 * Single clients that would cost everyone: a flood of messages of any type
 * (pings, token refreshes), request bodies nobody reads, one host holding
 * every connection slot. Each is bounded, answered clearly, and leaves the
 * other members alone.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_token.h"

#define API_SECRET "abuse-api-secret"

static pdt_server_t srv;
static pdt_extra_t extra;

static int teardown(void **state)
{
    pdt_teardown(state);
    pdt_extra_discard(&extra);
    return 0;
}

#define TEST(f) cmocka_unit_test_teardown(f, teardown)

/* ---- the message budget (--msg-rate 1, --msg-burst 20 here) ---- */

/*
 * Reads c's messages until RATE_LIMITED; returns how many of type came
 * before it. The budget refills at 1/s, so a slow machine may let a few
 * more through than the burst, never all of them.
 */
static int count_until_limited(pdt_ws_t *c, const char *type)
{
    int n = 0;
    for (;;) {
        const cJSON *m = pdt_next(c, PDT_WAIT_MS);
        if (!m)
            fail_msg("%s: no RATE_LIMITED after %d %s", c->label, n, type);
        const char *t = pdt_str(m, "type");
        if (t && strcmp(t, type) == 0) {
            n++;
        } else if (t && strcmp(t, "error") == 0) {
            assert_string_equal(pdt_str(m, "code"), "RATE_LIMITED");
            return n;
        }
    }
}

static void test_ping_flood_is_closed(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "b-ping", "bob");
    pdt_ws_t *mal = pdt_join(srv.port, "b-ping", "mal");
    pdt_expect(bob, "user_joined");
    for (int i = 1; i <= 40; i++)
        pdt_sendf(mal, "{\"type\":\"ping\",\"id\":%d}", i);
    int pongs = count_until_limited(mal, "pong");
    assert_in_range(pongs, 20, 39);
    pdt_expect_close(mal, 1008, "RATE_LIMITED");
    assert_field(pdt_expect(bob, "user_left"), "userId", "mal");
    /* bob is untouched: its own ping is answered. */
    pdt_send(bob, "{\"type\":\"ping\",\"id\":1}");
    pdt_wait_type(bob, "pong", PDT_WAIT_MS);
}

static void test_refresh_flood_is_closed(void **state)
{
    pdt_ws_t *mal = pdt_join(srv.port, "b-refresh", "mal");
    const char *msg = pdt_fmt("{\"type\":\"token_refresh\",\"token\":\"%s\"}",
                              pdt_token("mal", "Mal", "b-refresh", 600));
    for (int i = 0; i < 40; i++)
        pdt_send(mal, msg);
    int oks = count_until_limited(mal, "auth_ok");
    assert_in_range(oks, 20, 39);
    pdt_expect_close(mal, 1008, "RATE_LIMITED");
}

/* Within the burst nothing happens, whatever the mix. */
static void test_within_budget_stays(void **state)
{
    pdt_ws_t *ann = pdt_join(srv.port, "b-ok", "ann");
    for (int i = 0; i < 10; i++)
        pdt_sendf(ann, "{\"type\":\"presence_update\",\"currentPath\":\"/p/%d\"}", i);
    pdt_send(ann, "{\"type\":\"nonsense\"}");
    assert_field(pdt_expect(ann, "error"), "code", "BAD_MESSAGE");
    pdt_send(ann, "{\"type\":\"ping\",\"id\":1}");
    pdt_expect(ann, "pong");
    assert_int_equal(ann->close_code, 0);
}

/* ---- bodies ---- */

/* Sends a head announcing a body that never comes; the answer must not wait for it. */
static int answer_to_head(int port, const char *head, pd_buf_t *resp)
{
    int fd = pdt_tcp_connect(port);
    assert_true(fd >= 0);
    assert_int_equal(pdt_write_all(fd, head, strlen(head)), 0);
    pdt_read_response(fd, resp, PDT_WAIT_MS);
    close(fd);
    return pdt_http_status(resp->base ? resp->base : "");
}

static void test_bodies_are_not_read(void **state)
{
    pd_buf_t r = PD_BUF_INIT;
    assert_int_equal(answer_to_head(srv.port,
                                    "POST /api/rooms/presence-x/kick HTTP/1.1\r\nHost: x\r\n"
                                    "Content-Length: 60000\r\n\r\n",
                                    &r),
                     401);
    pd_buf_reset(&r);
    assert_int_equal(
        answer_to_head(srv.port,
                       "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n", &r),
        200);
    pd_buf_reset(&r);
    assert_int_equal(answer_to_head(srv.port,
                                    "POST /metrics HTTP/1.1\r\nHost: x\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n",
                                    &r),
                     405);
    pd_buf_reset(&r);
    /* The one call that takes a body, authorized, refuses one over --max-api-body at once. */
    assert_int_equal(answer_to_head(srv.port,
                                    "POST /api/rooms/presence-x/kick HTTP/1.1\r\nHost: x\r\n"
                                    "Authorization: Bearer " API_SECRET "\r\n"
                                    "Content-Length: 5000\r\n\r\n",
                                    &r),
                     413);
    pd_buf_free(&r);
}

/* An authorized kick still reads its body. */
static void test_kick_body_still_read(void **state)
{
    pdt_ws_t *eve = pdt_join(srv.port, "b-kick", "eve");
    const char *body = "{\"userId\":\"eve\"}";
    const char *req =
        pdt_fmt("POST /api/rooms/presence-b-kick/kick HTTP/1.1\r\nHost: x\r\n"
                "Authorization: Bearer " API_SECRET "\r\nContent-Length: %zu\r\n\r\n%s",
                strlen(body), body);
    pd_buf_t r = PD_BUF_INIT;
    assert_int_equal(pdt_http_raw(srv.port, req, strlen(req), &r), 200);
    pd_buf_free(&r);
    pdt_expect(eve, "permission_revoked");
}

/* ---- connection slots ---- */

static int status_of_get(int port, const char *path, pd_buf_t *r)
{
    pd_buf_reset(r);
    return pdt_http_get(port, path, r);
}

/* Waits (bounded) until GET path answers want; the server may not have seen a close yet. */
static void wait_status(int port, const char *path, int want)
{
    pd_buf_t r = PD_BUF_INIT;
    int got = 0;
    for (int i = 0; i < 100 && (got = status_of_get(port, path, &r)) != want; i++)
        pdt_pump(50);
    pd_buf_free(&r);
    if (got != want)
        fail_msg("GET %s: %d, want %d", path, got, want);
}

static void open_silent(int port, int *fds, int n)
{
    for (int i = 0; i < n; i++)
        assert_true((fds[i] = pdt_tcp_connect(port)) >= 0);
}

/*
 * Reopens any of fds the server has closed. With several threads, the
 * connections that arrive together are counted in whichever order the
 * threads take them, so a silent one may be the one shed instead of a
 * status request that came after it.
 */
static void reopen_shed(int port, int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        char byte;
        if (poll(&p, 1, 0) == 1 && recv(fds[i], &byte, 1, MSG_DONTWAIT) <= 0) {
            close(fds[i]);
            assert_true((fds[i] = pdt_tcp_connect(port)) >= 0);
        }
    }
}

/* Waits (bounded) until GET /healthz is shed, keeping n silent connections open (see above). */
static void wait_shed(int port, int *fds, int n)
{
    pd_buf_t r = PD_BUF_INIT;
    int got = 0;
    for (int i = 0; i < 100; i++) {
        reopen_shed(port, fds, n);
        if ((got = status_of_get(port, "/healthz", &r)) == 0)
            break;
        pdt_pump(50);
    }
    pd_buf_free(&r);
    if (got != 0)
        fail_msg("GET /healthz: %d, want it shed", got);
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void test_503_past_max_conns(void **state)
{
    const char *const args[] = {"--max-conns", "4", "--status-reserve", "2", "--handshake-timeout",
                                "60",          NULL};
    pdt_extra_start(&extra, args);
    int port = extra.srv.port, held[6];
    open_silent(port, held, 4);
    /* The fifth is past the limit: status pages answer, the rest gets 503. */
    wait_status(port, "/healthz", 200);
    wait_status(port, "/metrics", 200);
    pd_buf_t r = PD_BUF_INIT;
    assert_int_equal(status_of_get(port, "/parties/presence/x?token=t", &r), 503);
    char retry[16];
    assert_int_equal(pdt_http_header(r.base, "Retry-After", retry, sizeof(retry)), 0);
    assert_string_equal(retry, "5");
    /* Past the reserve too: closed without an answer. */
    open_silent(port, held + 4, 2);
    wait_shed(port, held, 6);
    close_all(held, 6);
    wait_status(port, "/healthz", 200);
    pd_buf_reset(&r);
    assert_int_equal(pdt_http_get(port, "/metrics", &r), 200);
    assert_true(pdt_metric(pdt_http_body(r.base), "presenced_busy_total") >= 1);
    pd_buf_free(&r);
    pdt_extra_stop(&extra);
}

static void test_handshakes_per_address(void **state)
{
    const char *const args[] = {"--max-handshakes-per-ip", "3", "--handshake-timeout", "60", NULL};
    pdt_extra_start(&extra, args);
    int port = extra.srv.port, held[3];
    open_silent(port, held, 3);
    wait_shed(port, held, 3);
    /* Upgraded connections are out of the HTTP phase and do not count. */
    close(held[2]);
    wait_status(port, "/healthz", 200);
    pdt_ws_t *ws[4];
    for (int i = 0; i < 4; i++)
        ws[i] = pdt_join(port, "b-addr", pdt_fmt("u%d", i));
    pdt_send(ws[0], "{\"type\":\"ping\",\"id\":1}");
    pdt_wait_type(ws[0], "pong", PDT_WAIT_MS);
    close_all(held, 2);
    pd_buf_t r = PD_BUF_INIT;
    wait_status(port, "/healthz", 200);
    assert_int_equal(pdt_http_get(port, "/metrics", &r), 200);
    assert_true(pdt_metric(pdt_http_body(r.base), "presenced_addr_rejected_total") >= 1);
    pd_buf_free(&r);
    pdt_extra_stop(&extra);
}

/* ---- requests no client sends ---- */

static void test_bare_lf_and_folding_refused(void **state)
{
    const char *bad[] = {"GET /healthz HTTP/1.1\nHost: x\n\n",
                         "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n"};
    pd_buf_t r = PD_BUF_INIT;
    for (int i = 0; i < 2; i++) {
        pd_buf_reset(&r);
        assert_int_equal(pdt_http_raw(srv.port, bad[i], strlen(bad[i]), &r), 400);
    }
    pd_buf_free(&r);
}

/* ---- development mode's static files ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A static directory with a file, a FIFO, a directory, and links in and out. */
static const char *make_static_dir(char *root)
{
    assert_non_null(mkdtemp(root));
    const char *dir = pdt_fmt("%s/www", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_file(pdt_fmt("%s/outside.js", root), "SECRET");
    assert_int_equal(mkdir(pdt_fmt("%s/lib", root), 0700), 0);
    write_file(pdt_fmt("%s/lib/x.js", root), "X");
    write_file(pdt_fmt("%s/index.html", dir), "<p>demo</p>");
    write_file(pdt_fmt("%s/a.js", dir), "A");
    assert_int_equal(mkfifo(pdt_fmt("%s/fifo.js", dir), 0600), 0);
    assert_int_equal(mkdir(pdt_fmt("%s/d.js", dir), 0700), 0);
    assert_int_equal(symlink("../outside.js", pdt_fmt("%s/out.js", dir)), 0);
    assert_int_equal(symlink("a.js", pdt_fmt("%s/in.js", dir)), 0);
    return dir;
}

static void expect_get(int port, const char *path, int status, const char *body)
{
    pd_buf_t r = PD_BUF_INIT;
    int got = pdt_http_get(port, path, &r);
    if (got != status || (body && strcmp(pdt_http_body(r.base), body) != 0))
        fail_msg("GET %s: %d %s, want %d %s", path, got, r.base ? pdt_http_body(r.base) : "",
                 status, body ? body : "");
    pd_buf_free(&r);
}

static void test_static_regular_files_only(void **state)
{
    char root[] = "/tmp/pdt-static-XXXXXX";
    const char *dir = make_static_dir(root);
    const char *mount = pdt_fmt("/lib=%s/lib", root);
    const char *const args[] = {"--dev", "--static-dir", dir, "--static-mount", mount, NULL};
    pdt_extra_start(&extra, args);
    int port = extra.srv.port;
    expect_get(port, "/a.js", 200, "A");
    expect_get(port, "/in.js", 200, "A");
    expect_get(port, "/out.js", 404, NULL);
    expect_get(port, "/d.js", 404, NULL);
    expect_get(port, "/fifo.js", 404, NULL); /* would have blocked the loop for good */
    expect_get(port, "/lib/x.js", 200, "X"); /* a mount is how to serve a second tree */
    expect_get(port, "/healthz", 200, "ok\n");
    pdt_extra_stop(&extra);
    const char *const names[] = {"www/index.html", "www/a.js",   "www/fifo.js", "www/out.js",
                                 "www/in.js",      "outside.js", "lib/x.js"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unlink(pdt_fmt("%s/%s", root, names[i]));
    rmdir(pdt_fmt("%s/www/d.js", root));
    rmdir(pdt_fmt("%s/lib", root));
    rmdir(dir);
    rmdir(root);
}

int main(void)
{
    setenv("PRESENCED_API_SECRET", API_SECRET, 1);
    const char *const args[] = {"--msg-rate", "1",       "--msg-burst", "20", "--rate",
                                "1",          "--burst", "5",           NULL};
    const struct CMUnitTest tests[] = {
        TEST(test_ping_flood_is_closed),      TEST(test_refresh_flood_is_closed),
        TEST(test_within_budget_stays),       TEST(test_bodies_are_not_read),
        TEST(test_kick_body_still_read),      TEST(test_503_past_max_conns),
        TEST(test_handshakes_per_address),    TEST(test_bare_lf_and_folding_refused),
        TEST(test_static_regular_files_only),
    };
    return PDT_SUITE(tests, &srv, args, 100);
}
