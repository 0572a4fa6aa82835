/*
 * Tokens against the real presenced: a refresh in place (no reconnect, no
 * leave/join seen by others), an expired token retried at once with a new
 * one, an invalid one backed off, a forbidden one stopping for good, and a
 * provider that has no token or answers too late.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static pdt_server_t srv;
static uv_loop_t loop;

/* ---- Refresh in place. ---- */

static uv_timer_t late_answer;

static void answer_refresh(uv_timer_t *t)
{
    ct_client_t *cc = t->data;
    char *token = ct_token(cc->user, cc->name, cc->workspace, 3600);
    assert_int_equal(presence_client_token(cc->c, token), 0);
    free(token);
}

/*
 * The first token lives 2-3 s (exp is in whole seconds): long enough to be
 * admitted on a loaded machine. The refresh is answered 200 ms later, from
 * a timer.
 */
static char *short_then_async(ct_client_t *cc, presence_token_reason_t why)
{
    if (why == PRESENCE_TOKEN_CONNECT)
        return ct_token(cc->user, cc->name, cc->workspace, 3);
    late_answer.data = cc;
    uv_timer_start(&late_answer, answer_refresh, 200, 0);
    return CT_TOKEN_LATER;
}

/* The same, answered at once from inside the provider. */
static char *short_then_long(ct_client_t *cc, presence_token_reason_t why)
{
    return ct_token(cc->user, cc->name, cc->workspace, why == PRESENCE_TOKEN_CONNECT ? 3 : 3600);
}

static void test_refresh_without_reconnect(void **state)
{
    uv_timer_init(&loop, &late_answer);
    ct_client_t *b = ct_client_new(&loop, ct_server_url(&srv), "t1", "u2", NULL, NULL);
    /* b is in the room first, so that it sees the others join. */
    CT_WAIT(&loop, ct_count(b, PRESENCE_EV_CONNECTED) == 1, CT_WAIT_MS);
    ct_client_t *a = ct_client_new(&loop, ct_server_url(&srv), "t1", "u1", NULL, NULL);
    ct_client_t *c = ct_client_new(&loop, ct_server_url(&srv), "t1", "u3", NULL, NULL);
    a->token_fn = short_then_async;
    c->token_fn = short_then_long;
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, CT_WAIT_MS);
    CT_WAIT(&loop, ct_count(c, PRESENCE_EV_CONNECTED) == 1, CT_WAIT_MS);
    CT_WAIT(&loop, ct_count(b, PRESENCE_EV_JOINED) == 2, CT_WAIT_MS);
    CT_WAIT(&loop,
            ct_count(a, PRESENCE_EV_TOKEN_REFRESHED) == 1 &&
                ct_count(c, PRESENCE_EV_TOKEN_REFRESHED) == 1,
            8000);
    assert_int_equal(a->refresh_calls, 1);
    assert_int_equal(c->refresh_calls, 1);
    /*
     * Past the end of the grace period the old tokens' expiry started (3 s
     * from the refresh request, plus a second for the server's sweep):
     * still the same connections.
     */
    uint64_t refreshed_at = ct_last(a, PRESENCE_EV_TOKEN_REFRESHED)->at_ms;
    if (ct_last(c, PRESENCE_EV_TOKEN_REFRESHED)->at_ms > refreshed_at)
        refreshed_at = ct_last(c, PRESENCE_EV_TOKEN_REFRESHED)->at_ms;
    ct_run_for(&loop, (int)((int64_t)refreshed_at + 4000 - (int64_t)pdt_now_ms()));
    ct_client_t *refreshed[] = {a, c};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ct_count(refreshed[i], PRESENCE_EV_CONNECTED), 1);
        assert_int_equal(ct_count(refreshed[i], PRESENCE_EV_DISCONNECTED), 0);
        assert_int_equal(presence_client_state(refreshed[i]->c), PRESENCE_CONNECTED);
    }
    /* Nobody saw them leave and come back. */
    assert_int_equal(ct_count(b, PRESENCE_EV_LEFT), 0);
    assert_int_equal(ct_count(b, PRESENCE_EV_JOINED), 2);
    uv_close((uv_handle_t *)&late_answer, NULL);
    ct_client_close(a);
    ct_client_close(c);
    ct_client_close(b);
}

/* ---- Admission failures. ---- */

/*
 * Tokens from a NULL-terminated script: "expired", "invalid", "forbidden" or
 * "none", one per request; valid ones once it has run out.
 */
static char *scripted(ct_client_t *cc, presence_token_reason_t why)
{
    const char *const *script = cc->data;
    const char *what = "valid";
    for (int i = 0; script[i]; i++)
        if (i == cc->token_calls - 1)
            what = script[i];
    if (strcmp(what, "expired") == 0)
        return ct_token(cc->user, cc->name, cc->workspace, -60);
    if (strcmp(what, "invalid") == 0)
        return strdup("not.a.token");
    if (strcmp(what, "forbidden") == 0)
        return ct_token(cc->user, cc->name, "elsewhere", 3600);
    if (strcmp(what, "none") == 0)
        return NULL;
    return ct_token(cc->user, cc->name, cc->workspace, 3600);
}

static ct_client_t *scripted_client(const char *const *script)
{
    ct_client_t *cc = ct_client_new(&loop, ct_server_url(&srv), "t2", "u1", NULL, NULL);
    cc->data = (void *)script;
    cc->token_fn = scripted;
    return cc;
}

static void test_expired_retries_at_once(void **state)
{
    static const char *const script[] = {"expired", NULL};
    ct_client_t *a = scripted_client(script);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, CT_WAIT_MS);
    assert_int_equal(a->events[0].type, PRESENCE_EV_DISCONNECTED);
    assert_int_equal(a->events[0].reason, PRESENCE_ERR_AUTH_EXPIRED);
    assert_int_equal(a->events[0].retry_ms, 0);
    assert_int_equal(a->token_calls, 2);
    ct_client_close(a);
}

static void test_expired_twice_backs_off(void **state)
{
    static const char *const script[] = {"expired", "expired", "expired", NULL};
    ct_client_t *a = scripted_client(script);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, CT_WAIT_MS);
    assert_int_equal(ct_count(a, PRESENCE_EV_DISCONNECTED), 3);
    assert_int_equal(a->events[0].retry_ms, 0);
    assert_true(a->events[1].retry_ms >= 20); /* backoff_min_ms of ct_fast_options() */
    assert_true(a->events[2].retry_ms >= 20);
    ct_client_close(a);
}

static void test_invalid_backs_off(void **state)
{
    static const char *const script[] = {"invalid", NULL};
    ct_client_t *a = scripted_client(script);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, CT_WAIT_MS);
    assert_int_equal(a->events[0].type, PRESENCE_EV_DISCONNECTED);
    assert_int_equal(a->events[0].reason, PRESENCE_ERR_AUTH_INVALID);
    assert_true(a->events[0].retry_ms >= 20 && a->events[0].retry_ms <= 100);
    ct_client_close(a);
}

static void test_no_token_backs_off(void **state)
{
    static const char *const script[] = {"none", NULL};
    ct_client_t *a = scripted_client(script);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, CT_WAIT_MS);
    assert_int_equal(a->events[0].reason, PRESENCE_ERR_NO_TOKEN);
    assert_true(a->events[0].retry_ms >= 20);
    ct_client_close(a);
}

static void test_forbidden_stops(void **state)
{
    static const char *const script[] = {"forbidden", NULL};
    ct_client_t *a = scripted_client(script);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_STOPPED) == 1, CT_WAIT_MS);
    const ct_event_t *e = ct_last(a, PRESENCE_EV_STOPPED);
    assert_int_equal(e->reason, PRESENCE_ERR_AUTH_FORBIDDEN);
    /* Nothing is scheduled: no retry will come. */
    ct_wait_idle(&loop, 5000);
    assert_int_equal(a->token_calls, 1);
    assert_int_equal(ct_count(a, PRESENCE_EV_DISCONNECTED), 0);
    assert_int_equal(presence_client_state(a->c), PRESENCE_STOPPED);
    ct_client_close(a);
}

static void test_late_token_is_refused(void **state)
{
    ct_client_t *a = ct_client_new(&loop, ct_server_url(&srv), "t3", "u1", NULL, NULL);
    a->no_answer = 1;
    assert_int_equal(a->token_calls, 0); /* asked on a later loop turn, not inside start */
    CT_WAIT(&loop, a->token_calls == 1, CT_WAIT_MS);
    assert_int_equal(presence_client_state(a->c), PRESENCE_CONNECTING);
    assert_int_equal(presence_client_stop(a->c), 0);
    char *token = ct_token("u1", "Ann", "t3", 3600);
    assert_int_equal(presence_client_token(a->c, token), PRESENCE_ERR_STATE);
    free(token);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_STOPPED) == 1, CT_WAIT_MS);
    ct_client_close(a);
}

int main(void)
{
    const char *args[] = {"--jwt-leeway", "0", "--token-grace", "3", NULL};
    const struct CMUnitTest tests[] = {
        CT_TEST(test_refresh_without_reconnect, &loop),
        CT_TEST(test_expired_retries_at_once, &loop),
        CT_TEST(test_expired_twice_backs_off, &loop),
        CT_TEST(test_invalid_backs_off, &loop),
        CT_TEST(test_no_token_backs_off, &loop),
        CT_TEST(test_forbidden_stops, &loop),
        CT_TEST(test_late_token_is_refused, &loop),
    };
    return PDT_SUITE(tests, &srv, args, 120);
}
