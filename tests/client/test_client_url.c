/* Server URLs and room paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "client/url.h"

static void expect_url(const char *text, int tls, const char *host, const char *port,
                       const char *host_header, const char *prefix)
{
    pd_url_t u;
    char err[200];
    assert_int_equal(pd_url_parse(&u, text, err, sizeof err), 0);
    assert_int_equal(u.tls, tls);
    assert_string_equal(u.host, host);
    assert_string_equal(u.port, port);
    assert_string_equal(u.host_header, host_header);
    assert_string_equal(u.prefix, prefix);
    pd_url_free(&u);
}

static void test_valid_urls(void **state)
{
    expect_url("ws://127.0.0.1:1999", 0, "127.0.0.1", "1999", "127.0.0.1:1999", "");
    expect_url("wss://presence.example.com", 1, "presence.example.com", "443",
               "presence.example.com", "");
    expect_url("ws://localhost", 0, "localhost", "80", "localhost", "");
    expect_url("wss://h.example:8443/", 1, "h.example", "8443", "h.example:8443", "");
    expect_url("wss://h.example/presence/v1//", 1, "h.example", "443", "h.example", "/presence/v1");
    expect_url("ws://[::1]:2000/p", 0, "::1", "2000", "[::1]:2000", "/p");
    expect_url("ws://[::1]", 0, "::1", "80", "[::1]", "");
}

static void expect_invalid(const char *text, const char *message_part)
{
    pd_url_t u;
    char err[200] = "";
    assert_int_equal(pd_url_parse(&u, text, err, sizeof err), PD_ERR_INVALID);
    if (!strstr(err, message_part))
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", text ? text : "(null)", err, message_part);
    assert_null(u.host);
}

static void test_invalid_urls(void **state)
{
    expect_invalid(NULL, "ws:// or wss://");
    expect_invalid("http://h", "ws:// or wss://");
    expect_invalid("WS://h", "ws:// or wss://");
    expect_invalid("ws://", "host or port");
    expect_invalid("ws://:80", "host or port");
    expect_invalid("ws://h:0", "host or port");
    expect_invalid("ws://h:65536", "host or port");
    expect_invalid("ws://h:12a", "host or port");
    expect_invalid("ws://h:", "host or port");
    expect_invalid("ws://[::1", "host or port");
    expect_invalid("ws://[]:80", "host or port");
    expect_invalid("ws://[::1]x", "host or port");
    expect_invalid("ws://h^st", "host or port");
    expect_invalid("ws://user:pw@h", "user name or password");
    expect_invalid("ws://h/p?x=1", "query");
    expect_invalid("ws://h/p#f", "query");
    expect_invalid("ws://h?x", "query");
    expect_invalid("ws://h/a b", "escaping");
    expect_invalid("ws://h/%41", "escaping");
}

static void test_room_target(void **state)
{
    pd_url_t u;
    pd_buf_t b = PD_BUF_INIT;
    assert_int_equal(pd_url_parse(&u, "wss://h/prefix/", NULL, 0), 0);
    pd_url_room_target(&u, "ws_1-A", "k9", &b);
    assert_string_equal(b.base, "/prefix/parties/presence/ws_1-A?_pk=k9");
    pd_url_free(&u);
    pd_buf_reset(&b);
    assert_int_equal(pd_url_parse(&u, "ws://h", NULL, 0), 0);
    pd_url_room_target(&u, "ws1", "key", &b);
    assert_string_equal(b.base, "/parties/presence/ws1?_pk=key");
    pd_url_free(&u);
    pd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_urls),
        cmocka_unit_test(test_invalid_urls),
        cmocka_unit_test(test_room_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
