/*
 * libpresence against the real presenced: the map built from snapshot and
 * events is the map the server reports, updates reach the others, follow
 * mode tracks a chain of navigations and the followed user leaving,
 * stop/start work, and a member kicked through the HTTP API stops.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define API_SECRET "client-test-api-secret"

static pdt_server_t srv;
static uv_loop_t loop;

static ct_client_t *join(const char *workspace, const char *user)
{
    ct_client_t *cc = ct_client_new(&loop, ct_server_url(&srv), workspace, user, NULL, NULL);
    CT_WAIT(&loop, ct_count(cc, PRESENCE_EV_SNAPSHOT) > 0, CT_WAIT_MS);
    return cc;
}

static int where_is(const ct_client_t *cc, const char *user, const char *where)
{
    return strcmp(ct_where(cc, user), where) == 0;
}

/*
 * Whether a's map equals b's, users named in skip (a NULL-terminated list)
 * aside: same users, names, images and locations.
 */
static void assert_same_map(const ct_client_t *a, const ct_client_t *b, const char *const *skip)
{
    size_t iter = 0, n_a = 0, n_b = 0;
    const presence_user_t *u;
    for (int pass = 0; pass < 2; pass++) {
        const ct_client_t *x = pass ? b : a, *y = pass ? a : b;
        iter = 0;
        while ((u = presence_client_next(x->c, &iter))) {
            int skipped = 0;
            for (size_t i = 0; skip[i]; i++)
                skipped |= strcmp(skip[i], u->user_id) == 0;
            if (skipped)
                continue;
            const presence_user_t *v = presence_client_user(y->c, u->user_id);
            if (!v)
                fail_msg("%s sees %s, %s does not", x->user, u->user_id, y->user);
            assert_string_equal(u->user_name, v->user_name);
            assert_true((u->user_image == NULL) == (v->user_image == NULL));
            assert_string_equal(ct_where(x, u->user_id), ct_where(y, u->user_id));
            *(pass ? &n_b : &n_a) += 1;
        }
    }
    assert_int_equal(n_a, n_b);
}

static void test_map_matches_server(void **state)
{
    ct_client_t *a = join("ws1", "u1");
    ct_client_t *b = join("ws1", "u2");
    ct_client_t *c = join("ws1", "u3");
    ct_client_t *d = join("ws1", "u1"); /* u1's second tab */
    assert_string_equal(presence_client_self_id(a->c), "u1");
    assert_int_equal(presence_client_state(a->c), PRESENCE_CONNECTED);
    presence_client_update(a->c, "/w/ws1/channels/c1", "channel", "c1");
    presence_client_update(b->c, "/w/ws1/documents/42", "document", "42");
    presence_client_update(c->c, "/w/ws1/tasks/5", "task", "5");
    CT_WAIT(&loop, where_is(b, "u3", "/w/ws1/tasks/5|task|5"), CT_WAIT_MS);
    presence_client_update(b->c, "/w/ws1/diagrams/7", "diagram", NULL);
    presence_client_update(b->c, "/w/ws1", NULL, NULL);
    presence_client_update(d->c, "/w/ws1/projects/p", "project", "p");
    ct_client_close(c);
    CT_WAIT(&loop,
            where_is(a, "u2", "/w/ws1||") && where_is(a, "u3", "-") &&
                where_is(a, "u1", "/w/ws1/projects/p|project|p") &&
                where_is(b, "u1", "/w/ws1/projects/p|project|p"),
            CT_WAIT_MS);
    assert_int_equal(ct_count(a, PRESENCE_EV_LEFT), 1);
    assert_string_equal(ct_last(a, PRESENCE_EV_LEFT)->user_id, "u3");
    assert_string_equal(ct_last(b, PRESENCE_EV_JOINED)->user_id, "u3");

    /* What a newcomer's snapshot says is what the server holds. */
    ct_client_t *o = join("ws1", "u9");
    CT_WAIT(&loop, where_is(a, "u9", "||") && where_is(b, "u9", "||"), CT_WAIT_MS);
    assert_int_equal(presence_client_count(o->c), 2);
    assert_same_map(a, o, (const char *const[]){"u9", NULL});
    assert_same_map(b, o, (const char *const[]){"u9", "u2", NULL});
    /* u3's leave came in both default forms, long before u9's join: one leave. */
    assert_int_equal(ct_count(a, PRESENCE_EV_LEFT), 1);
    assert_int_equal(ct_count(b, PRESENCE_EV_LEFT), 1);
    /*
     * The server does not echo a sender's updates, so d's entry for its own
     * user shows what its other tab (a) last sent, not d's own update.
     */
    assert_same_map(d, o, (const char *const[]){"u9", "u1", NULL});
    assert_string_equal(ct_where(d, "u1"), "/w/ws1/channels/c1|channel|c1");
    ct_client_close(o);
    ct_client_close(d);
    ct_client_close(b);
    ct_client_close(a);
}

static void test_follow_chain_and_leave(void **state)
{
    ct_client_t *a = join("ws2", "u1");
    ct_client_t *b = join("ws2", "u2");
    presence_client_update(b->c, "/w/ws2/start", NULL, NULL);
    CT_WAIT(&loop, where_is(a, "u2", "/w/ws2/start||"), CT_WAIT_MS);
    assert_int_equal(ct_follow_try(a, "nobody"), PRESENCE_ERR_NOT_FOUND);
    ct_follow(a, "u2");
    assert_int_equal(a->n_follows, 0); /* never from inside the call */
    assert_string_equal(presence_client_following(a->c), "u2");
    CT_WAIT(&loop, a->n_follows == 1, CT_WAIT_MS);
    const char *chain[] = {"/w/ws2/documents/1", "/w/ws2/documents/2", "/w/ws2/tasks/3"};
    for (size_t i = 0; i < 3; i++) {
        presence_client_update(b->c, chain[i], NULL, NULL);
        CT_WAIT(&loop, a->n_follows == i + 2, CT_WAIT_MS);
    }
    /* The same location again is relayed but is no move; another resource id is. */
    presence_client_update(b->c, "/w/ws2/tasks/3", NULL, NULL);
    presence_client_update(b->c, "/w/ws2/tasks/3", "task", "3");
    CT_WAIT(&loop, a->n_follows == 5, CT_WAIT_MS);
    ct_run_for(&loop, 200);
    assert_int_equal(a->n_follows, 5);
    const char *want[] = {"/w/ws2/start", chain[0], chain[1], chain[2], chain[2]};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(a->follows[i].status, PRESENCE_FOLLOW_MOVED);
        assert_string_equal(a->follows[i].path, want[i]);
    }
    ct_client_close(b);
    CT_WAIT(&loop, a->n_follows == 6, CT_WAIT_MS);
    assert_int_equal(a->follows[5].status, PRESENCE_FOLLOW_WENT_OFFLINE);
    assert_string_equal(a->follows[5].user_id, "u2");
    assert_null(presence_client_following(a->c));
    ct_client_close(a);
}

static void test_follow_unknown_location_then_unfollow(void **state)
{
    ct_client_t *a = join("ws3", "u1");
    ct_client_t *b = join("ws3", "u2");
    CT_WAIT(&loop, where_is(a, "u2", "||"), CT_WAIT_MS);
    assert_int_equal(presence_client_follow(a->c, "u2", NULL, NULL), PRESENCE_ERR_INVALID);
    ct_follow(a, "u2");
    ct_run_for(&loop, 100);
    assert_int_equal(a->n_follows, 0); /* "" is no location to go to */
    presence_client_update(b->c, "/w/ws3/x", NULL, NULL);
    CT_WAIT(&loop, a->n_follows == 1, CT_WAIT_MS);
    assert_int_equal(presence_client_unfollow(a->c), 0);
    assert_int_equal(a->n_follows, 1);
    CT_WAIT(&loop, a->n_follows == 2, CT_WAIT_MS);
    assert_int_equal(a->follows[1].status, PRESENCE_FOLLOW_UNFOLLOWED);
    assert_int_equal(presence_client_unfollow(a->c), PRESENCE_ERR_STATE);
    presence_client_update(b->c, "/w/ws3/y", NULL, NULL);
    CT_WAIT(&loop, where_is(a, "u2", "/w/ws3/y||"), CT_WAIT_MS);
    assert_int_equal(a->n_follows, 2);
    ct_client_close(b);
    ct_client_close(a);
}

static void test_stop_and_start_again(void **state)
{
    ct_client_t *a = join("ws4", "u1");
    ct_client_t *b = join("ws4", "u2");
    presence_client_update(a->c, "/w/ws4/here", NULL, NULL);
    CT_WAIT(&loop, where_is(b, "u1", "/w/ws4/here||"), CT_WAIT_MS);
    ct_follow(a, "u2");
    assert_int_equal(presence_client_stop(a->c), 0);
    assert_int_equal(ct_count(a, PRESENCE_EV_STOPPED), 0);
    assert_int_equal(presence_client_state(a->c), PRESENCE_STOPPED);
    assert_int_equal(presence_client_count(a->c), 0);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_STOPPED) == 1, CT_WAIT_MS);
    assert_int_equal(ct_last(a, PRESENCE_EV_STOPPED)->reason, PRESENCE_OK);
    assert_int_equal(a->follows[a->n_follows - 1].status, PRESENCE_FOLLOW_STOPPED);
    assert_int_equal(presence_client_stop(a->c), PRESENCE_ERR_STATE);
    /* A clean close: the others see the leave at once, not after the suite's
     * 60 s linger. */
    CT_WAIT(&loop, ct_count(b, PRESENCE_EV_LEFT) == 1, CT_WAIT_MS);
    assert_int_equal(presence_client_start(a->c), 0);
    assert_int_equal(presence_client_start(a->c), PRESENCE_ERR_STATE);
    CT_WAIT(&loop, where_is(b, "u1", "/w/ws4/here||"), CT_WAIT_MS);
    assert_int_equal(ct_count(a, PRESENCE_EV_CONNECTED), 2);
    ct_client_close(b);
    ct_client_close(a);
}

static void set_location_first(presence_options_t *o, void *arg)
{
    o->connection_key = "fixed-key_1";
}

static void test_location_before_connecting(void **state)
{
    ct_client_t *b = join("ws5", "u2");
    ct_client_t *a =
        ct_client_new(&loop, ct_server_url(&srv), "ws5", "u1", set_location_first, NULL);
    assert_int_equal(presence_client_update(a->c, "/w/ws5/early", "channel", "c"), 0);
    assert_int_equal(presence_client_update(a->c, "", NULL, NULL), PRESENCE_ERR_INVALID);
    assert_int_equal(
        presence_client_update(a->c, "/x", "a-resource-type-longer-than-32-bytes", NULL),
        PRESENCE_ERR_INVALID);
    assert_string_equal(presence_client_connection_key(a->c), "fixed-key_1");
    CT_WAIT(&loop, where_is(b, "u1", "/w/ws5/early|channel|c"), CT_WAIT_MS);
    ct_client_close(a);
    ct_client_close(b);
}

/* POSTs body to path of the server's HTTP API; returns the status code. */
static int api_post(const char *path, const char *body)
{
    char req[1024], resp[1024] = "";
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " API_SECRET
                     "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     path, strlen(body), body);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)srv.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || write(fd, req, (size_t)n) != n)
        fail_msg("cannot reach the HTTP API");
    size_t got = 0;
    ssize_t r;
    while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    int status = 0;
    sscanf(resp, "HTTP/1.1 %d", &status);
    return status;
}

/* The backend takes a member's access away: that client stops, the others see a leave. */
static void test_kicked_client_stops(void **state)
{
    ct_client_t *a = join("ws6", "u1");
    ct_client_t *b = join("ws6", "u2");
    CT_WAIT(&loop, strcmp(ct_where(b, "u1"), "||") == 0, CT_WAIT_MS);
    assert_int_equal(api_post("/api/rooms/presence-ws6/kick",
                              "{\"userId\":\"u1\",\"reason\":\"left the team\"}"),
                     200);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_STOPPED) == 1, CT_WAIT_MS);
    assert_int_equal(ct_last(a, PRESENCE_EV_STOPPED)->reason, PRESENCE_ERR_REVOKED);
    assert_string_equal(ct_last(a, PRESENCE_EV_STOPPED)->detail, "left the team");
    assert_int_equal(presence_client_count(a->c), 0);
    CT_WAIT(&loop, ct_count(b, PRESENCE_EV_LEFT) == 1, CT_WAIT_MS);
    assert_string_equal(ct_last(b, PRESENCE_EV_LEFT)->user_id, "u1");
    ct_run_for(&loop, 300);
    /* No retry: the kicked member does not come back. */
    assert_int_equal(a->token_calls, 1);
    assert_int_equal(ct_count(b, PRESENCE_EV_JOINED), 0);
    assert_string_equal(ct_where(b, "u1"), "-");
    ct_client_close(a);
    ct_client_close(b);
}

/* A server that sends only the app's form of a leave: the client still sees one leave. */
static void test_leave_in_the_apps_form(void **state)
{
    pdt_server_t own = {0};
    const char *args[] = {"--linger", "0", "--leave-messages", "user_left_presence", NULL};
    ct_server_start(&own, 0, args);
    ct_client_t *a = ct_client_new(&loop, ct_server_url(&own), "ws7", "u1", NULL, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_SNAPSHOT) > 0, CT_WAIT_MS);
    ct_client_t *b = ct_client_new(&loop, ct_server_url(&own), "ws7", "u2", NULL, NULL);
    CT_WAIT(&loop, strcmp(ct_where(b, "u1"), "||") == 0, CT_WAIT_MS);
    ct_follow(b, "u1");
    ct_client_close(a);
    CT_WAIT(&loop, ct_count(b, PRESENCE_EV_LEFT) >= 1, 10000);
    assert_int_equal(ct_count(b, PRESENCE_EV_LEFT), 1);
    assert_string_equal(ct_last(b, PRESENCE_EV_LEFT)->user_id, "u1");
    assert_string_equal(ct_where(b, "u1"), "-");
    assert_int_equal(b->follows[b->n_follows - 1].status, PRESENCE_FOLLOW_WENT_OFFLINE);
    ct_client_close(b);
    pdt_server_discard(&own, 0);
}

int main(void)
{
    char api_dir[64], api_secret[160];
    if (pdt_tmpdir(api_dir, sizeof api_dir) != 0)
        return 1;
    snprintf(api_secret, sizeof api_secret, "%s/api-secret", api_dir);
    const char *args[] = {"--linger", "60", "--api-secret-file", api_secret, NULL};
    const struct CMUnitTest tests[] = {
        CT_TEST(test_map_matches_server, &loop),
        CT_TEST(test_follow_chain_and_leave, &loop),
        CT_TEST(test_follow_unknown_location_then_unfollow, &loop),
        CT_TEST(test_stop_and_start_again, &loop),
        CT_TEST(test_location_before_connecting, &loop),
        CT_TEST(test_kicked_client_stops, &loop),
        CT_TEST(test_leave_in_the_apps_form, &loop),
    };
    int failed =
        pdt_write_file(api_secret, API_SECRET "\n") != 0 || PDT_SUITE(tests, &srv, args, 120) != 0;
    pdt_tmpdir_remove(api_dir);
    return failed;
}
