/*
 * Tokens cannot write into the request to the verify endpoint. The endpoint
 * here (tests/support/pdt_recorder.c) keeps every raw byte it receives and
 * reads kept-alive connections as a backend would, so an injected header or
 * a smuggled second request would show in its log. Each hostile token is
 * refused with AUTH_INVALID before any outbound request; a good token sent
 * afterwards on the same path proves that the log was being written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdt_recorder.h"
#include "pdt_suite.h"
#include "pdt_token.h"

#define OPERATOR_HEADER "X-Verify-Secret: real-secret"

static pdt_server_t srv;
static pdt_recorder_t rec;

/* The recorded bytes hold none of the words an injection would have written. */
static void assert_log_clean(void)
{
    static const char *const forbidden[] = {"forged",   "X-User-Id", "admin", "Injected",
                                            "X-Ignore", "mallory",   "eve"};
    char *raw = pdt_recorder_raw(&rec);
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
        if (strstr(raw, forbidden[i]))
            fail_msg("the endpoint received \"%s\":\n%s", forbidden[i], raw);
    free(raw);
}

/* A good token reaches the endpoint with the operator's header: the log works. */
static void assert_control_recorded(const char *user)
{
    pdt_ws_opts_t o = {.workspace = "ws1", .token = pdt_fmt("ok-%s", user), .label = user};
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    pdt_expect(c, "presence_snapshot");
    char *raw = pdt_recorder_raw(&rec);
    const char *line = pdt_fmt("Authorization: Bearer ok-%s\r\n", user);
    if (!strstr(raw, line) || !strstr(raw, OPERATOR_HEADER "\r\n"))
        fail_msg("the control request is not in the log:\n%s", raw);
    free(raw);
    pdt_ws_close(c);
}

static void expect_invalid(pdt_ws_t *c)
{
    assert_field(pdt_expect(c, "auth_error"), "code", "AUTH_INVALID");
    pdt_expect_close(c, 1008, "AUTH_INVALID");
}

static void refused_in_query(const char *query, const char *control_user)
{
    unsigned before = pdt_recorder_requests(&rec);
    pdt_ws_opts_t o = {.workspace = "ws1", .query = query, .label = "hostile"};
    expect_invalid(pdt_ws_open(srv.port, &o));
    assert_int_equal(pdt_recorder_requests(&rec), before);
    assert_control_recorded(control_user);
    assert_log_clean();
}

static void test_header_injection_in_query(void **state)
{
    refused_in_query("token=ok-mallory%0D%0AX-Verify-Secret%3A%20forged%0D%0AX-User-Id%3A%20admin",
                     "ctl1");
}

static void test_request_smuggling_in_query(void **state)
{
    refused_in_query("token=ok-eve%0D%0AContent-Length%3A%200%0D%0A%0D%0AGET%20%2Fadmin%2F"
                     "delete-workspace%3Fid%3Dws1%20HTTP%2F1.1%0D%0AHost%3A%20backend%0D%0A"
                     "X-Ignore%3A",
                     "ctl2");
}

/* A lone LF, a tab, a space, DEL and a byte over 0x7e are no part of a token either. */
static void test_other_bytes_in_query(void **state)
{
    static const char *const queries[] = {"token=ok-eve%0AX-Ignore%3A%201", "token=ok-eve%09x",
                                          "token=ok-eve+x", "token=ok-eve%7F",
                                          "token=ok-eve%C3%A9"};
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
        refused_in_query(queries[i], pdt_fmt("ctl3x%zu", i));
}

static void test_injection_in_token_refresh(void **state)
{
    pdt_ws_opts_t o = {.workspace = "ws1", .token = "ok-bob", .label = "bob"};
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    pdt_expect(c, "presence_snapshot");
    unsigned before = pdt_recorder_requests(&rec);
    pdt_send(c, "{\"type\":\"token_refresh\",\"token\":\"ok-bob\\r\\nX-Refresh-Injected: yes\"}");
    expect_invalid(c);
    assert_int_equal(pdt_recorder_requests(&rec), before);
    assert_control_recorded("ctl4");
    assert_log_clean();
}

/* The same refresh with a good token is asked of the endpoint and answered. */
static void test_good_refresh_still_checked(void **state)
{
    pdt_ws_opts_t o = {.workspace = "ws1", .token = "ok-cy", .label = "cy"};
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    pdt_expect(c, "presence_snapshot");
    pdt_send(c, "{\"type\":\"token_refresh\",\"token\":\"ok-cy.2\"}");
    assert_field(pdt_expect(c, "auth_ok"), "userId", "cy");
    char *raw = pdt_recorder_raw(&rec);
    assert_non_null(strstr(raw, "Authorization: Bearer ok-cy.2\r\n"));
    free(raw);
}

int main(void)
{
    if (pdt_recorder_start(&rec) != 0)
        return 1;
    const char *const args[] = {"--verify-url",
                                rec.url,
                                "--verify-header",
                                OPERATOR_HEADER,
                                "--verify-cache-ttl",
                                "0",
                                NULL};
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_header_injection_in_query),  PDT_TEST(test_request_smuggling_in_query),
        PDT_TEST(test_other_bytes_in_query),       PDT_TEST(test_injection_in_token_refresh),
        PDT_TEST(test_good_refresh_still_checked),
    };
    int rc = PDT_SUITE(tests, &srv, args, 100);
    pdt_recorder_stop(&rec);
    return rc;
}
