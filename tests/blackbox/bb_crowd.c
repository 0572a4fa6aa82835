/*
 * A hundred members in one room updating at the same time: every member's
 * view of every other member must end at that member's final location, in
 * the order it was sent, and a newcomer's snapshot must agree.
 *
 * Arguments are added to the server's. With the default --flush-batch (16)
 * a broadcast to this room is written in slices over several loop turns,
 * with updates read in between; ctest also runs the suite with 1 (a socket
 * per turn), with 0 (every socket in one turn) and with --write-delay 0.01
 * (busy members written at most every 10 ms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

/* Liveness is not under test: on a loaded machine joining a hundred members
 * one after another may take longer than the 25 s idle timeout. */
static const char *server_args[12] = {"--linger",        "0",  "--idle-timeout", "600",
                                      "--ping-interval", "300"};

/* How long an outcome may take on a loaded machine before it counts as never. */
#define SETTLE_MS 90000

#define N_CLIENTS 100
#define N_UPDATES 5
#define ROOM "crowd"

static pdt_ws_t *members[N_CLIENTS];
/* seen[i][j]: the last update number member i saw from member j (-1: none). */
static int seen[N_CLIENTS][N_CLIENTS];

static const char *user_of(int i)
{
    return pdt_fmt("u%03d", i);
}

static int index_of(const char *user)
{
    int i = -1;
    if (user == NULL || sscanf(user, "u%d", &i) != 1 || i < 0 || i >= N_CLIENTS)
        return -1;
    return i;
}

static void join_all(void)
{
    for (int i = 0; i < N_CLIENTS; i++) {
        members[i] = pdt_join(srv.port, ROOM, user_of(i));
        assert_int_equal(pdt_snapshot_count(pdt_last(members[i])), i);
        for (int j = 0; j < N_CLIENTS; j++)
            seen[i][j] = -1;
    }
}

static void send_all_updates(void)
{
    for (int k = 0; k < N_UPDATES; k++) {
        for (int i = 0; i < N_CLIENTS; i++)
            pdt_sendf(members[i],
                      "{\"type\":\"presence_update\",\"currentPath\":\"/c/u%03d/%d\","
                      "\"resourceType\":\"task\",\"resourceId\":\"%d\"}",
                      i, k, k);
        pdt_pump(1);
    }
}

/* Applies one presence_changed that member i received. */
static void record(int i, const cJSON *m)
{
    int j = index_of(pdt_str(m, "userId")), who = -1, k = -1;
    const char *path = pdt_str(m, "currentPath");
    if (j < 0 || j == i || path == NULL || sscanf(path, "/c/u%d/%d", &who, &k) != 2 || who != j)
        fail_msg("member %d got an unexpected presence_changed: %s", i, cJSON_PrintUnformatted(m));
    if (k <= seen[i][j])
        fail_msg("member %d saw u%03d go to update %d after update %d", i, j, k, seen[i][j]);
    assert_field(m, "resourceId", pdt_fmt("%d", k));
    seen[i][j] = k;
}

static void drain(int i)
{
    const cJSON *m;
    while ((m = pdt_next(members[i], 0)) != NULL) {
        const char *type = pdt_str(m, "type");
        if (type != NULL && strcmp(type, "presence_changed") == 0)
            record(i, m);
        else if (type == NULL || strcmp(type, "user_joined") != 0)
            fail_msg("member %d got %s", i, cJSON_PrintUnformatted(m));
    }
}

static int all_final(void *arg)
{
    (void)arg;
    int done = 1;
    for (int i = 0; i < N_CLIENTS; i++) {
        drain(i);
        for (int j = 0; j < N_CLIENTS; j++)
            done &= (j == i || seen[i][j] == N_UPDATES - 1);
    }
    return done;
}

static void report_missing(void)
{
    for (int i = 0; i < N_CLIENTS; i++)
        for (int j = 0; j < N_CLIENTS; j++)
            if (j != i && seen[i][j] != N_UPDATES - 1)
                fail_msg("member %d last saw u%03d at update %d, not %d", i, j, seen[i][j],
                         N_UPDATES - 1);
}

/*
 * Every update is one fan-out latency sample, taken once the last of its
 * receivers was written; the server keeps up to 1,024 samples in flight,
 * more than this test's updates, so none is dropped.
 */
static void check_latency_samples(void)
{
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(srv.port, "/metrics", &resp), 200);
    double n = pdt_metric(pdt_http_body(resp.base), "presenced_fanout_latency_seconds_count");
    pd_buf_free(&resp);
    if (n != N_CLIENTS * N_UPDATES)
        fail_msg("%g fan-out latency samples for %d updates", n, N_CLIENTS * N_UPDATES);
}

static void test_hundred_members_converge(void **state)
{
    join_all();
    send_all_updates();
    if (!pdt_wait(all_final, NULL, SETTLE_MS))
        report_missing();
    check_latency_samples();

    pdt_ws_t *obs = pdt_join(srv.port, ROOM, "observer");
    const cJSON *snap = pdt_last(obs);
    assert_int_equal(pdt_snapshot_count(snap), N_CLIENTS);
    for (int j = 0; j < N_CLIENTS; j++) {
        const cJSON *e = pdt_snapshot_user(snap, user_of(j));
        assert_non_null(e);
        assert_field(e, "currentPath", pdt_fmt("/c/u%03d/%d", j, N_UPDATES - 1));
        assert_field(e, "resourceType", "task");
    }
}

static int left_count;
static int left_seen[N_CLIENTS]; /* 1: user_left came, 2: then user_left_presence */
static int left_open = -1;       /* the member whose user_left_presence comes next */

/* Each member leaves once, as the server's default announces it: both forms, back to back. */
static int all_left(void *arg)
{
    pdt_ws_t *obs = arg;
    const cJSON *m;
    while ((m = pdt_next(obs, 0)) != NULL) {
        int j = index_of(pdt_str(m, "userId"));
        const char *type = pdt_str(m, "type");
        const char *want = left_open < 0 ? "user_left" : "user_left_presence";
        if (type == NULL || strcmp(type, want) != 0 || j < 0 ||
            (left_open >= 0 && j != left_open) || left_seen[j]++ != (left_open >= 0))
            fail_msg("observer got %s", cJSON_PrintUnformatted(m));
        left_open = left_open < 0 ? j : -1;
        left_count += left_open < 0;
    }
    return left_count == N_CLIENTS;
}

static void test_hundred_members_leave(void **state)
{
    for (int i = 0; i < N_CLIENTS; i++)
        members[i] = pdt_join(srv.port, "crowd-leave", user_of(i));
    pdt_ws_t *obs = pdt_join(srv.port, "crowd-leave", "observer");
    assert_int_equal(pdt_snapshot_count(pdt_last(obs)), N_CLIENTS);
    for (int i = 0; i < N_CLIENTS; i++) {
        if (i % 2)
            pdt_ws_close(members[i]);
        else
            pdt_ws_drop(members[i]);
    }
    if (!pdt_wait(all_left, obs, SETTLE_MS))
        fail_msg("observer saw %d of %d users leave", left_count, N_CLIENTS);
    pdt_expect_none(obs, NULL);
}

#define N_OBSERVERS 3
#define N_SENDERS 5
#define N_STEPS 20
/* Joins, updates, one leave in its two default forms, the late join and its update. */
#define N_EVENTS (N_SENDERS + N_SENDERS * N_STEPS + 4)

typedef struct {
    pdt_ws_t *c;
    int n;
    char events[N_EVENTS + 8][64];
} log_t;

static log_t logs[N_OBSERVERS];

/* Reads an observer's messages into its log; done once it saw "/end". */
static int logged_all(void *arg)
{
    int done = 1;
    (void)arg;
    for (int i = 0; i < N_OBSERVERS; i++) {
        log_t *l = &logs[i];
        const cJSON *m;
        while (l->n < N_EVENTS + 8 && (m = pdt_next(l->c, 0)) != NULL) {
            const char *type = pdt_str(m, "type"), *user = pdt_str(m, "userId");
            const char *path = pdt_str(m, "currentPath");
            snprintf(l->events[l->n++], sizeof(l->events[0]), "%s %s %s", type ? type : "-",
                     user ? user : "-", path ? path : "-");
        }
        done &= l->n > 0 && strstr(l->events[l->n - 1], "/end") != NULL;
    }
    return done;
}

static void test_one_order_for_everyone(void **state)
{
    pdt_ws_t *senders[N_SENDERS + 1];
    for (int i = 0; i < N_OBSERVERS; i++)
        logs[i] = (log_t){.c = pdt_join(srv.port, "crowd-order", pdt_fmt("obs%d", i))};
    for (int i = 0; i < N_OBSERVERS; i++)
        for (int j = i + 1; j < N_OBSERVERS; j++)
            pdt_expect(logs[i].c, "user_joined");
    for (int j = 0; j < N_SENDERS; j++)
        senders[j] = pdt_join(srv.port, "crowd-order", pdt_fmt("s%d", j));
    for (int k = 0; k < N_STEPS; k++)
        for (int j = 0; j < N_SENDERS; j++)
            pdt_sendf(senders[j], "{\"type\":\"presence_update\",\"currentPath\":\"/s%d/%d\"}", j,
                      k);
    pdt_ws_close(senders[N_SENDERS - 1]);
    senders[N_SENDERS] = pdt_join(srv.port, "crowd-order", "late");
    pdt_send(senders[N_SENDERS], "{\"type\":\"presence_update\",\"currentPath\":\"/end\"}");
    if (!pdt_wait(logged_all, NULL, SETTLE_MS))
        fail_msg("an observer did not see the last update");
    for (int i = 0; i < N_OBSERVERS; i++) {
        assert_int_equal(logs[i].n, N_EVENTS);
        for (int e = 0; e < N_EVENTS; e++)
            if (strcmp(logs[i].events[e], logs[0].events[e]) != 0)
                fail_msg("event %d: observer %d saw \"%s\", observer 0 \"%s\"", e, i,
                         logs[i].events[e], logs[0].events[e]);
    }
}

int main(int argc, char **argv)
{
    for (int i = 1, n = 6; i < argc && n < 11; i++, n++)
        server_args[n] = argv[i];
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_hundred_members_converge),
        PDT_TEST(test_hundred_members_leave),
        PDT_TEST(test_one_order_for_everyone),
    };
    return PDT_SUITE(tests, &srv, server_args, 280);
}
