/*
 * Rooms and presence semantics, driven through fake ops that record every
 * delivery as "<conn> <json>" lines (and "<conn> detached <why>"), so each
 * test asserts the exact messages, their receivers and their order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "base/err.h"
#include "base/mem.h"
#include "rooms/rooms.h"

/* Connections are their names; the rooms module only compares pointers. */
static char A[] = "a", A2[] = "a2", A3[] = "a3", B[] = "b", C[] = "c", D[] = "d";

typedef struct {
    pd_rooms_t *rooms;
    pd_buf_t log;
    int frames;
    void *hold_for; /* frames delivered to this connection are kept here */
    pd_shared_t *held[8];
    int n_held;
    uint64_t wall; /* the cluster fixture's wall clock */
} fx_t;

static pd_shared_t *rec_frame(void *ctx, const char *json, size_t len)
{
    fx_t *f = ctx;
    f->frames++;
    return pd_shared_copy(json, len);
}

static void rec_deliver(void *ctx, void *conn, pd_shared_t *msg)
{
    fx_t *f = ctx;
    pd_buf_appendf(&f->log, "%s %.*s\n", (const char *)conn, (int)msg->len, msg->data);
    if (conn == f->hold_for && f->n_held < 8)
        f->held[f->n_held++] = pd_shared_ref(msg);
}

static void rec_detached(void *ctx, void *conn, pd_detach_reason_t why)
{
    fx_t *f = ctx;
    pd_buf_appendf(&f->log, "%s detached %s\n", (const char *)conn,
                   why == PD_DETACH_REPLACED ? "REPLACED" : "KICKED");
}

static const pd_rooms_ops_t rec_ops = {
    .frame = rec_frame, .deliver = rec_deliver, .detached = rec_detached};

/* ---- the cluster fixture: local changes are logged too ---- */

static void rec_local_changed(void *ctx, pd_slice_t room_id, pd_slice_t key,
                              const pd_member_state_t *st, size_t locals)
{
    fx_t *f = ctx;
    if (!st) {
        pd_buf_appendf(&f->log, "gone %.*s %.*s locals=%zu\n", (int)room_id.len, room_id.base,
                       (int)key.len, key.base, locals);
        return;
    }
    pd_buf_appendf(&f->log, "set %.*s %.*s %.*s %.*s \"%.*s\" %llu locals=%zu\n", (int)room_id.len,
                   room_id.base, (int)key.len, key.base, (int)st->user_id.len, st->user_id.base,
                   (int)st->user_name.len, st->user_name.base, (int)st->loc.current_path.len,
                   st->loc.current_path.base, (unsigned long long)st->stamp, locals);
}

static uint64_t rec_wall(void *ctx)
{
    return ((fx_t *)ctx)->wall;
}

static const pd_rooms_ops_t cluster_ops = {.frame = rec_frame,
                                           .deliver = rec_deliver,
                                           .detached = rec_detached,
                                           .local_changed = rec_local_changed,
                                           .wall_ms = rec_wall};

static int setup_cluster(void **state)
{
    fx_t *f = pd_calloc(1, sizeof(*f));
    pd_buf_init(&f->log);
    pd_rooms_config_t cfg = PD_ROOMS_CONFIG_DEFAULT;
    cfg.user_updates_per_sec = 0;
    f->rooms = pd_rooms_new(&cfg, &cluster_ops, f, 42);
    pd_rooms_set_node_key(f->rooms, pd_slice_cstr("me/0"));
    f->wall = 1000;
    *state = f;
    return 0;
}

static fx_t *fx_new(const pd_rooms_config_t *cfg)
{
    fx_t *f = pd_calloc(1, sizeof(*f));
    pd_buf_init(&f->log);
    f->rooms = pd_rooms_new(cfg, &rec_ops, f, 42);
    return f;
}

static int setup(void **state)
{
    pd_rooms_config_t cfg = PD_ROOMS_CONFIG_DEFAULT;
    *state = fx_new(&cfg);
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    pd_rooms_free(f->rooms);
    for (int i = 0; i < f->n_held; i++)
        pd_shared_unref(f->held[i]);
    pd_buf_free(&f->log);
    free(f);
    return 0;
}

/* Compares and clears the log; expected uses ' for " to stay readable. */
static void expect_log(fx_t *f, const char *expected)
{
    char want[4096];
    assert_true(strlen(expected) < sizeof(want));
    size_t i = 0;
    for (; expected[i]; i++)
        want[i] = expected[i] == '\'' ? '"' : expected[i];
    want[i] = '\0';
    assert_string_equal(pd_buf_slice(&f->log).base, want);
    pd_buf_reset(&f->log);
}

static pd_identity_t ident(const char *user, const char *name, const char *image)
{
    pd_identity_t id = {pd_strndup(user, strlen(user)), pd_strndup(name, strlen(name)),
                        image ? pd_strndup(image, strlen(image)) : NULL, 0};
    return id;
}

static pd_member_t *join_in(fx_t *f, const char *room, const char *user, const char *name,
                            const char *key, void *conn, uint64_t now)
{
    pd_identity_t id = ident(user, name, NULL);
    pd_member_t *m = NULL;
    assert_int_equal(
        pd_rooms_join(f->rooms, pd_slice_cstr(room), &id, pd_slice_cstr(key), conn, now, &m),
        PD_JOIN_OK);
    assert_null(id.user_id);
    assert_non_null(m);
    return m;
}

static pd_member_t *join(fx_t *f, const char *user, const char *name, const char *key, void *conn)
{
    return join_in(f, "presence-ws1", user, name, key, conn, 0);
}

static pd_proto_location_t loc3(const char *path, const char *type, const char *id)
{
    return (pd_proto_location_t){pd_slice_cstr(path), pd_slice_cstr(type), pd_slice_cstr(id)};
}

static int update(pd_member_t *m, const char *path, uint64_t now)
{
    pd_proto_location_t l = loc3(path, NULL, NULL);
    return pd_member_update(m, &l, now);
}

static pd_room_t *room1(fx_t *f)
{
    return pd_rooms_find(f->rooms, pd_slice_cstr("presence-ws1"));
}

static void expect_users(fx_t *f, const char *expected)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_room_encode_users(room1(f), &b);
    pd_buf_append_char(&b, '\n');
    pd_buf_t saved = f->log;
    f->log = b;
    expect_log(f, expected);
    f->log = saved;
    pd_buf_free(&b);
}

static void test_first_join_gets_empty_snapshot(void **state)
{
    fx_t *f = *state;
    pd_member_t *m = join(f, "u1", "Al", "k1", A);
    expect_log(f, "a {'type':'presence_snapshot','self':{'userId':'u1','connectionId':'k1'},"
                  "'users':[]}\n");
    assert_int_equal(pd_rooms_count(f->rooms), 1);
    assert_ptr_equal(pd_member_room(m), room1(f));
    assert_true(pd_slice_eq_cstr(pd_member_key(m), "k1"));
    assert_true(pd_slice_eq_cstr(pd_member_user_id(m), "u1"));
    assert_true(pd_slice_eq_cstr(pd_room_id(room1(f)), "presence-ws1"));
    assert_int_equal(pd_room_user_count(room1(f)), 1);
    assert_int_equal(pd_room_conn_count(room1(f)), 1);
}

static void test_second_user_join(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_buf_reset(&f->log);
    pd_identity_t id = ident("u2", "Bo", "https://img/b.png");
    pd_member_t *m;
    assert_int_equal(
        pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &id, pd_slice_cstr("k2"), B, 0, &m),
        PD_JOIN_OK);
    expect_log(f, "b {'type':'presence_snapshot','self':{'userId':'u2','connectionId':'k2'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''}]}\n"
                  "a {'type':'user_joined','userId':'u2','userName':'Bo',"
                  "'userImage':'https://img/b.png'}\n");
    assert_int_equal(pd_room_user_count(room1(f)), 2);
}

static void test_update_relayed_to_all_but_sender(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_member_t *b = join(f, "u2", "Bo", "k2", B);
    join(f, "u3", "Cy", "k3", C);
    pd_buf_reset(&f->log);
    f->frames = 0;
    pd_proto_location_t l = loc3("/w/ws1/tasks/5", "task", "5");
    assert_int_equal(pd_member_update(b, &l, 0), 0);
    expect_log(f, "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/w/ws1/tasks/5','resourceType':'task','resourceId':'5'}\n"
                  "c {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/w/ws1/tasks/5','resourceType':'task','resourceId':'5'}\n");
    assert_int_equal(f->frames, 1);
}

static void test_multi_tab(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    update(a, "/x", 0);
    pd_buf_reset(&f->log);
    join(f, "u1", "Al", "k1b", A2);
    expect_log(f, "a2 {'type':'presence_snapshot','self':{'userId':'u1','connectionId':'k1b'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':'/x'},"
                  "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''}]}\n");
    assert_int_equal(pd_room_user_count(room1(f)), 2);
    assert_int_equal(pd_room_conn_count(room1(f)), 3);
    update(a, "/y", 0);
    expect_log(f, "b {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':null,'currentPath':'/y'}\n"
                  "a2 {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,"
                  "'currentPath':'/y'}\n");
}

static void test_fallback_when_most_recent_tab_leaves(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    pd_member_t *a2 = join(f, "u1", "Al", "k1b", A2);
    join(f, "u2", "Bo", "k2", B);
    update(a2, "/two", 0);
    update(a, "/one", 0);
    pd_buf_reset(&f->log);
    pd_member_leave(a, 0, 0);
    expect_log(f, "a2 {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,"
                  "'currentPath':'/two'}\n"
                  "b {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,"
                  "'currentPath':'/two'}\n");
    expect_users(f, "[{'userId':'u1','userName':'Al','userImage':null,'currentPath':'/two'},"
                    "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''}]\n");
}

static void test_older_tab_leaving_sends_nothing(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    pd_member_t *a2 = join(f, "u1", "Al", "k1b", A2);
    join(f, "u2", "Bo", "k2", B);
    update(a, "/one", 0);
    update(a2, "/two", 0);
    pd_buf_reset(&f->log);
    pd_member_leave(a, 0, 0);
    expect_log(f, "");
}

static void test_never_updated_tabs_rank_newest_first(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u1", "Al", "k1b", A2);
    pd_member_t *a3 = join(f, "u1", "Al", "k1c", A3);
    join(f, "u2", "Bo", "k2", B);
    update(a, "/one", 0);
    pd_buf_reset(&f->log);
    /* a is the presence; a3 (newest join, no update) ranks before a2. */
    pd_member_leave(a, 0, 0);
    expect_log(f, "a2 {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':null,'currentPath':''}\n"
                  "a3 {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':null,'currentPath':''}\n"
                  "b {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':null,'currentPath':''}\n");
    /* a3 never updated: its leaving changes nothing anyone can see. */
    pd_member_leave(a3, 0, 0);
    expect_log(f, "");
}

static void test_user_left_on_last_tab(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    pd_member_t *a2 = join(f, "u1", "Al", "k1b", A2);
    join(f, "u2", "Bo", "k2", B);
    pd_buf_reset(&f->log);
    /* Neither tab updated, so the second one leaving is no news. */
    pd_member_leave(a2, 0, 0);
    expect_log(f, "");
    pd_member_leave(a, 0, 0);
    expect_log(f, "b {'type':'user_left','userId':'u1'}\n"
                  "b {'type':'user_left_presence','userId':'u1'}\n");
    assert_int_equal(pd_room_user_count(room1(f)), 1);
    assert_int_equal(pd_room_conn_count(room1(f)), 1);
}

static void test_order_of_events(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_member_t *b = join(f, "u2", "Bo", "k2", B);
    update(b, "/b", 0);
    pd_member_leave(b, 0, 0);
    expect_log(f, "a {'type':'presence_snapshot','self':{'userId':'u1','connectionId':'k1'},"
                  "'users':[]}\n"
                  "b {'type':'presence_snapshot','self':{'userId':'u2','connectionId':'k2'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''}]}\n"
                  "a {'type':'user_joined','userId':'u2','userName':'Bo','userImage':null}\n"
                  "a {'type':'presence_changed','userId':'u2','userName':'Bo',"
                  "'userImage':null,'currentPath':'/b'}\n"
                  "a {'type':'user_left','userId':'u2'}\n"
                  "a {'type':'user_left_presence','userId':'u2'}\n");
}

static void test_rate_limit_coalesces(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    pd_buf_reset(&f->log);
    char path[32];
    for (int i = 0; i < 40; i++) {
        snprintf(path, sizeof(path), "/p/%d", i);
        assert_int_equal(update(a, path, 1000), 0);
    }
    assert_int_equal(f->frames, 2 + 1 + 40);
    pd_buf_reset(&f->log);
    assert_int_equal(update(a, "/p/40", 1000), 1);
    assert_int_equal(update(a, "/p/41", 1010), 1);
    assert_int_equal(update(a, "/p/42", 1020), 1);
    expect_log(f, "");
    assert_int_equal(pd_rooms_tick(f->rooms, 1020), 1050);
    assert_int_equal(pd_rooms_tick(f->rooms, 1049), 1050);
    expect_log(f, "");
    assert_int_equal(pd_rooms_tick(f->rooms, 1050), UINT64_MAX);
    expect_log(f, "b {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,"
                  "'currentPath':'/p/42'}\n");
    expect_users(f, "[{'userId':'u1','userName':'Al','userImage':null,'currentPath':'/p/42'},"
                    "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''}]\n");
    /* The bucket is empty again: the next one waits one interval. */
    assert_int_equal(update(a, "/p/43", 1060), 1);
    assert_int_equal(pd_rooms_tick(f->rooms, 1060), 1100);
}

static void test_rate_limit_fresh_token_supersedes_pending(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    for (int i = 0; i < 40; i++)
        update(a, "/burst", 0);
    pd_buf_reset(&f->log);
    assert_int_equal(update(a, "/late", 10), 1);
    /* A token is back before any tick ran: the newer update goes out now. */
    assert_int_equal(update(a, "/now", 60), 0);
    assert_int_equal(pd_rooms_tick(f->rooms, 1000), UINT64_MAX);
    expect_log(f, "b {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,"
                  "'currentPath':'/now'}\n");
}

static int setup_user_limit(void **state)
{
    pd_rooms_config_t cfg = PD_ROOMS_CONFIG_DEFAULT;
    cfg.user_updates_per_sec = 20;
    cfg.user_update_burst = 2;
    *state = fx_new(&cfg);
    return 0;
}

/* Two tabs share their user's budget; over it, one announcement carries the newest. */
static void test_user_rate_limit_spans_tabs(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    pd_member_t *a2 = join(f, "u1", "Al", "k1b", A2);
    join(f, "u2", "Bo", "k2", B);
    pd_buf_reset(&f->log);
    assert_int_equal(update(a, "/1", 1000), 0);
    assert_int_equal(update(a2, "/2", 1000), 0);
    expect_log(
        f,
        "a2 {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,'currentPath':'/1'}\n"
        "b {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,'currentPath':'/1'}\n"
        "a {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,'currentPath':'/2'}\n"
        "b {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,'currentPath':'/2'}\n");
    assert_int_equal(update(a, "/3", 1000), 1);
    assert_int_equal(update(a2, "/4", 1010), 1);
    expect_log(f, "");
    /* Applied already (a newcomer's snapshot shows it); only the announcement waits. */
    expect_users(f, "[{'userId':'u1','userName':'Al','userImage':null,'currentPath':'/4'},"
                    "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''}]\n");
    assert_int_equal(pd_rooms_tick(f->rooms, 1010), 1050);
    expect_log(f, "");
    assert_int_equal(pd_rooms_tick(f->rooms, 1050), UINT64_MAX);
    expect_log(
        f,
        "a {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,'currentPath':'/4'}\n"
        "b {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,'currentPath':'/4'}\n");
}

/* A fallback tells the current presence at once; the waiting announcement has nothing left to say. */
static void test_user_announcement_overtaken_by_fallback(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    pd_member_t *a2 = join(f, "u1", "Al", "k1b", A2);
    join(f, "u2", "Bo", "k2", B);
    update(a2, "/two", 0);
    update(a, "/one", 0);
    assert_int_equal(update(a, "/one-more", 0), 1);
    pd_buf_reset(&f->log);
    pd_member_leave(a, 0, 0);
    expect_log(
        f,
        "a2 {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,'currentPath':'/two'}\n"
        "b {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,'currentPath':'/two'}\n");
    assert_int_equal(pd_rooms_tick(f->rooms, 1000), UINT64_MAX);
    expect_log(f, "");
}

/* A user leaving drops its waiting announcement. */
static void test_user_announcement_dropped_on_leave(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    update(a, "/1", 0);
    update(a, "/2", 0);
    assert_int_equal(update(a, "/3", 0), 1);
    pd_buf_reset(&f->log);
    pd_member_leave(a, 0, 0);
    expect_log(f, "b {'type':'user_left','userId':'u1'}\n"
                  "b {'type':'user_left_presence','userId':'u1'}\n");
    assert_int_equal(pd_rooms_tick(f->rooms, 1000), UINT64_MAX);
    expect_log(f, "");
}

/*
 * Each presence_changed supersedes the user's previous one for every
 * connection it reached: all but the connection it excludes. user_joined
 * is never superseded.
 */
static void test_presence_changed_supersedes_previous(void **state)
{
    fx_t *f = *state;
    f->hold_for = B;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    pd_member_t *a2 = join(f, "u1", "Al", "k1b", A2);
    join(f, "u2", "Bo", "k2", B);
    pd_member_t *c = join(f, "u3", "Cy", "k3", C);
    update(a, "/1", 0);
    update(a, "/2", 0);
    update(c, "/c", 0);
    assert_int_equal(f->n_held, 5); /* snapshot, user_joined u3, /1, /2, /c */
    pd_shared_t *joined = f->held[1], *one = f->held[2], *two = f->held[3], *cy = f->held[4];
    assert_false(joined->superseded);
    assert_true(pd_shared_droppable(one, B));
    assert_false(pd_shared_droppable(two, B));
    assert_false(pd_shared_droppable(cy, B)); /* another user's: not superseded by u1's */
    update(a2, "/3", 0);
    /* /3 did not go to a2, which got /2: a2 must not drop it. */
    assert_true(pd_shared_droppable(two, B));
    assert_false(pd_shared_droppable(two, A2));
    pd_shared_t *three = f->held[5];
    pd_member_leave(a2, 0, 0); /* the fallback goes to everyone */
    assert_true(pd_shared_droppable(three, A));
    assert_true(pd_shared_droppable(three, A2));
    pd_member_leave(a, 0, 0); /* the user leaves; the frames it watched live on */
    assert_false(pd_shared_droppable(f->held[6], B));
}

static void test_pending_update_of_departed_member_is_dropped(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    for (int i = 0; i < 40; i++)
        update(a, "/burst", 0);
    assert_int_equal(update(a, "/late", 0), 1);
    pd_buf_reset(&f->log);
    pd_member_leave(a, 0, 0);
    expect_log(f, "b {'type':'user_left','userId':'u1'}\n"
                  "b {'type':'user_left_presence','userId':'u1'}\n");
    assert_int_equal(pd_rooms_tick(f->rooms, 1000), UINT64_MAX);
    expect_log(f, "");
}

static void test_linger_and_reconnect(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    update(a, "/a", 0);
    pd_buf_reset(&f->log);
    pd_member_leave(a, 1, 100);
    expect_log(f, "");
    assert_int_equal(pd_room_conn_count(room1(f)), 1);
    assert_int_equal(pd_room_user_count(room1(f)), 2);
    assert_int_equal(pd_rooms_tick(f->rooms, 200), 5100);

    join(f, "u3", "Cy", "k3", C);
    expect_log(f, "c {'type':'presence_snapshot','self':{'userId':'u3','connectionId':'k3'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':'/a'},"
                  "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''}]}\n"
                  "b {'type':'user_joined','userId':'u3','userName':'Cy','userImage':null}\n");

    pd_member_t *a2 = join_in(f, "presence-ws1", "u1", "Al", "k9", A2, 3000);
    assert_ptr_equal(a2, a);
    assert_true(pd_slice_eq_cstr(pd_member_key(a2), "k9"));
    expect_log(f, "a2 {'type':'presence_snapshot','self':{'userId':'u1','connectionId':'k9'},"
                  "'users':[{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''},"
                  "{'userId':'u3','userName':'Cy','userImage':null,'currentPath':''}]}\n");
    assert_int_equal(pd_rooms_tick(f->rooms, 6000), UINT64_MAX);
    assert_int_equal(update(a2, "/a", 6000), 0);
    expect_log(f, "");
    update(a2, "/a", 6100);
    expect_log(f, "b {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':null,'currentPath':'/a'}\n"
                  "c {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':null,'currentPath':'/a'}\n");
}

static void test_linger_reconnect_elsewhere_is_relayed(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    update(a, "/a", 0);
    pd_member_leave(a, 1, 0);
    pd_member_t *a2 = join_in(f, "presence-ws1", "u1", "Al", NULL, A2, 10);
    pd_buf_reset(&f->log);
    update(a2, "/b", 20);
    expect_log(f, "b {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':null,'currentPath':'/b'}\n");
    assert_int_not_equal(pd_member_key(a2).len, 0);
    assert_false(pd_slice_eq_cstr(pd_member_key(a2), "k1"));
}

static void test_linger_expiry_sends_user_left(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    pd_buf_reset(&f->log);
    pd_member_leave(a, 1, 1000);
    assert_int_equal(pd_rooms_tick(f->rooms, 5999), 6000);
    expect_log(f, "");
    assert_int_equal(pd_rooms_tick(f->rooms, 6000), UINT64_MAX);
    expect_log(f, "b {'type':'user_left','userId':'u1'}\n"
                  "b {'type':'user_left_presence','userId':'u1'}\n");
    assert_int_equal(pd_room_user_count(room1(f)), 1);
}

static void test_linger_takeover_prefers_key_then_newest(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    pd_member_t *a2 = join(f, "u1", "Al", "k2", A2);
    pd_member_t *a3 = join(f, "u1", "Al", "k3", A3);
    join(f, "u2", "Bo", "kb", B);
    pd_member_leave(a, 1, 10);
    pd_member_leave(a3, 1, 20);
    pd_member_leave(a2, 1, 30);
    pd_buf_reset(&f->log);
    assert_ptr_equal(join_in(f, "presence-ws1", "u1", "Al", "k3", C, 40), a3);
    assert_ptr_equal(join_in(f, "presence-ws1", "u1", "Al", "new", D, 40), a2);
    assert_true(pd_slice_eq_cstr(pd_member_key(a2), "new"));
    assert_int_equal(pd_room_conn_count(room1(f)), 3);
    /* a still lingers and expires alone; the user stays. */
    assert_int_equal(pd_rooms_tick(f->rooms, 5010), UINT64_MAX);
    assert_int_equal(pd_room_user_count(room1(f)), 2);
    expect_log(f, "c {'type':'presence_snapshot','self':{'userId':'u1','connectionId':'k3'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''},"
                  "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''}]}\n"
                  "d {'type':'presence_snapshot','self':{'userId':'u1','connectionId':'new'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''},"
                  "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''}]}\n");
}

static void test_lingering_pending_update_still_applies(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    for (int i = 0; i < 40; i++)
        update(a, "/burst", 0);
    assert_int_equal(update(a, "/final", 0), 1);
    pd_member_leave(a, 1, 0);
    pd_buf_reset(&f->log);
    assert_int_equal(pd_rooms_tick(f->rooms, 50), 5000);
    expect_log(f, "b {'type':'presence_changed','userId':'u1','userName':'Al','userImage':null,"
                  "'currentPath':'/final'}\n");
}

static void test_clean_leave_and_zero_linger_leave_at_once(void **state)
{
    pd_rooms_config_t cfg = PD_ROOMS_CONFIG_DEFAULT;
    cfg.linger_ms = 0;
    fx_t *f = fx_new(&cfg);
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    pd_buf_reset(&f->log);
    pd_member_leave(a, 1, 0);
    expect_log(f, "b {'type':'user_left','userId':'u1'}\n"
                  "b {'type':'user_left_presence','userId':'u1'}\n");
    void *p = f;
    teardown(&p);
}

static void test_pk_takeover_of_live_member(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    update(a, "/a", 0);
    pd_buf_reset(&f->log);
    pd_member_t *a2 = join(f, "u1", "Al", "k1", A2);
    assert_ptr_equal(a2, a);
    expect_log(f, "a2 {'type':'presence_snapshot','self':{'userId':'u1','connectionId':'k1'},"
                  "'users':[{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''}]}\n"
                  "a detached REPLACED\n");
    assert_int_equal(pd_room_conn_count(room1(f)), 2);
    update(a2, "/a", 10);
    expect_log(f, "");
    update(a2, "/b", 20);
    expect_log(f, "b {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':null,'currentPath':'/b'}\n");
    pd_member_leave(a2, 0, 30);
    expect_log(f, "b {'type':'user_left','userId':'u1'}\n"
                  "b {'type':'user_left_presence','userId':'u1'}\n");
}

static void test_pk_of_another_user_gets_fresh_key(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_buf_reset(&f->log);
    pd_member_t *b = join(f, "u2", "Bo", "k1", B);
    pd_slice_t key = pd_member_key(b);
    assert_int_equal(key.len, 16);
    for (size_t i = 0; i < key.len; i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", key.base[i]));
    char want[512];
    snprintf(want, sizeof(want),
             "b {'type':'presence_snapshot','self':{'userId':'u2','connectionId':'%.*s'},"
             "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''}]}\n"
             "a {'type':'user_joined','userId':'u2','userName':'Bo','userImage':null}\n",
             (int)key.len, key.base);
    expect_log(f, want);
    pd_member_t *c = join(f, "u3", "Cy", NULL, C);
    assert_int_equal(pd_member_key(c).len, 16);
    assert_false(pd_slice_eq(pd_member_key(c), key));
}

static void test_limits(void **state)
{
    pd_rooms_config_t cfg = PD_ROOMS_CONFIG_DEFAULT;
    cfg.max_conns_per_room = 2;
    cfg.max_conns_per_user = 1;
    fx_t *f = fx_new(&cfg);
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    pd_member_t *out = NULL;
    pd_identity_t id = ident("u1", "Al", NULL);
    assert_int_equal(pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &id,
                                   pd_slice_cstr("k2"), A2, 0, &out),
                     PD_JOIN_TOO_MANY);
    assert_string_equal(id.user_id, "u1");
    assert_null(out);
    /* A takeover adds no connection, so it is allowed at the limit. */
    assert_int_equal(pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &id,
                                   pd_slice_cstr("k1"), A2, 0, &out),
                     PD_JOIN_OK);
    assert_ptr_equal(out, a);
    join(f, "u2", "Bo", "kb", B);
    id = ident("u3", "Cy", NULL);
    assert_int_equal(pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &id,
                                   pd_slice_cstr("kc"), C, 0, &out),
                     PD_JOIN_ROOM_FULL);
    /* Lingering members hold no connection. */
    pd_member_leave(a, 1, 0);
    assert_int_equal(pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &id,
                                   pd_slice_cstr("kc"), C, 0, &out),
                     PD_JOIN_OK);
    id = ident("u1", "Al", NULL);
    assert_int_equal(pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &id,
                                   pd_slice_cstr("k1"), A3, 0, &out),
                     PD_JOIN_ROOM_FULL);
    pd_identity_free(&id);
    assert_int_equal(pd_room_conn_count(room1(f)), 2);
    assert_int_equal(pd_room_user_count(room1(f)), 3);
    void *p = f;
    teardown(&p);
}

static void test_kick(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    join(f, "u1", "Al", "k1b", A2);
    pd_member_t *a3 = join(f, "u1", "Al", "k1c", A3);
    join(f, "u2", "Bo", "k2", B);
    pd_member_leave(a3, 1, 0);
    pd_buf_reset(&f->log);
    f->frames = 0;
    assert_int_equal(pd_rooms_kick(f->rooms, pd_slice_cstr("presence-ws1"), pd_slice_cstr("u1"),
                                   "removed from workspace"),
                     2);
    /* The user's connections are visited most recent first. */
    expect_log(f, "a2 {'type':'permission_revoked','reason':'removed from workspace'}\n"
                  "a {'type':'permission_revoked','reason':'removed from workspace'}\n"
                  "b {'type':'user_left','userId':'u1'}\n"
                  "b {'type':'user_left_presence','userId':'u1'}\n"
                  "a2 detached KICKED\n"
                  "a detached KICKED\n");
    assert_int_equal(f->frames, 3);
    assert_int_equal(pd_room_user_count(room1(f)), 1);
    assert_int_equal(pd_room_conn_count(room1(f)), 1);
    assert_int_equal(pd_rooms_tick(f->rooms, 100000), UINT64_MAX);
    assert_int_equal(
        pd_rooms_kick(f->rooms, pd_slice_cstr("presence-ws1"), pd_slice_cstr("u1"), "x"),
        PD_ERR_NOT_FOUND);
    assert_int_equal(pd_rooms_kick(f->rooms, pd_slice_cstr("nope"), pd_slice_cstr("u2"), "x"),
                     PD_ERR_NOT_FOUND);
    assert_int_equal(
        pd_rooms_kick(f->rooms, pd_slice_cstr("presence-ws1"), pd_slice_cstr("u2"), "x"), 1);
    assert_int_equal(pd_rooms_count(f->rooms), 0);
    expect_log(f, "b {'type':'permission_revoked','reason':'x'}\nb detached KICKED\n");
}

static void test_kick_lingering_user_counts_zero(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    pd_member_leave(a, 1, 0);
    pd_buf_reset(&f->log);
    assert_int_equal(
        pd_rooms_kick(f->rooms, pd_slice_cstr("presence-ws1"), pd_slice_cstr("u1"), "x"), 0);
    expect_log(f, "b {'type':'user_left','userId':'u1'}\n"
                  "b {'type':'user_left_presence','userId':'u1'}\n");
    assert_int_equal(pd_rooms_tick(f->rooms, 100000), UINT64_MAX);
}

static void test_encode_users(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_identity_t id = ident("u2", "B\"o", "https://img/b.png");
    pd_member_t *b;
    assert_int_equal(
        pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &id, pd_slice_cstr("k2"), B, 0, &b),
        PD_JOIN_OK);
    pd_proto_location_t l = loc3("/w/ws1/documents/42", "document", "42");
    pd_member_update(b, &l, 0);
    pd_buf_t out = PD_BUF_INIT;
    pd_room_encode_users(room1(f), &out);
    assert_string_equal(out.base,
                        "[{\"userId\":\"u1\",\"userName\":\"Al\",\"userImage\":null,"
                        "\"currentPath\":\"\"},"
                        "{\"userId\":\"u2\",\"userName\":\"B\\\"o\","
                        "\"userImage\":\"https://img/b.png\","
                        "\"currentPath\":\"/w/ws1/documents/42\",\"resourceType\":\"document\","
                        "\"resourceId\":\"42\"}]");
    pd_buf_free(&out);
}

static void test_room_freed_when_empty(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    pd_member_t *b = join_in(f, "presence-ws2", "u2", "Bo", "k1", B, 0);
    assert_int_equal(pd_rooms_count(f->rooms), 2);
    pd_member_leave(a, 0, 0);
    assert_int_equal(pd_rooms_count(f->rooms), 1);
    assert_null(room1(f));
    pd_member_leave(b, 1, 0);
    assert_int_equal(pd_rooms_count(f->rooms), 1);
    assert_int_equal(pd_rooms_tick(f->rooms, 5000), UINT64_MAX);
    assert_int_equal(pd_rooms_count(f->rooms), 0);
}

static void test_rooms_are_isolated_and_iterable(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join_in(f, "presence-ws2", "u2", "Bo", "k2", B, 0);
    pd_buf_reset(&f->log);
    update(a, "/x", 0);
    expect_log(f, "");
    size_t iter = 0, n = 0;
    pd_room_t *room;
    while ((room = pd_rooms_next(f->rooms, &iter))) {
        assert_ptr_equal(pd_rooms_find(f->rooms, pd_room_id(room)), room);
        n++;
    }
    assert_int_equal(n, 2);
}

static void test_binary_room_and_user_ids(void **state)
{
    fx_t *f = *state;
    const char rid[] = {'r', 0, 'x'};
    pd_identity_t id = ident("u1", "Al", NULL);
    pd_member_t *m;
    assert_int_equal(pd_rooms_join(f->rooms, pd_slice(rid, 3), &id, PD_SLICE_NULL, A, 0, &m),
                     PD_JOIN_OK);
    assert_null(pd_rooms_find(f->rooms, pd_slice(rid, 1)));
    assert_ptr_equal(pd_rooms_find(f->rooms, pd_slice(rid, 3)), pd_member_room(m));
    assert_int_equal(pd_rooms_kick(f->rooms, pd_slice(rid, 3), pd_slice("u1x", 2), "x"), 1);
}

static void test_resync_and_identity_refresh(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    pd_buf_reset(&f->log);
    pd_identity_t id = ident("u1", "Alice", "https://img/a.png");
    pd_member_set_identity(a, &id);
    assert_null(id.user_name);
    expect_log(f, "");
    update(a, "/r", 0);
    pd_member_resync(a);
    /* The refreshed name and picture ride on the next presence_changed. */
    expect_log(f, "b {'type':'presence_changed','userId':'u1','userName':'Alice',"
                  "'userImage':'https://img/a.png','currentPath':'/r'}\n"
                  "a {'type':'presence_snapshot','self':{'userId':'u1','connectionId':'k1'},"
                  "'users':[{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''}]}\n");
}

static void test_presence_changed_carries_name_and_image(void **state)
{
    fx_t *f = *state;
    pd_identity_t id = ident("u1", "Al", "https://img/al.png");
    pd_member_t *a = NULL, *a2 = NULL;
    assert_int_equal(
        pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &id, pd_slice_cstr("k1"), A, 0, &a),
        PD_JOIN_OK);
    id = ident("u1", "Al", "https://img/al.png");
    assert_int_equal(pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &id,
                                   pd_slice_cstr("k1b"), A2, 0, &a2),
                     PD_JOIN_OK);
    join(f, "u2", "Bo", "k2", B);
    update(a2, "/two", 0);
    update(a, "/one", 0);
    pd_buf_reset(&f->log);
    update(a, "/three", 0);
    expect_log(f, "a2 {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':'https://img/al.png','currentPath':'/three'}\n"
                  "b {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':'https://img/al.png','currentPath':'/three'}\n");
    /* The fallback when the most recent tab leaves carries them too. */
    pd_member_leave(a, 0, 0);
    expect_log(f, "a2 {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':'https://img/al.png','currentPath':'/two'}\n"
                  "b {'type':'presence_changed','userId':'u1','userName':'Al',"
                  "'userImage':'https://img/al.png','currentPath':'/two'}\n");
}

/* Each leave form alone, as --leave-messages chooses; 0 means both. */
static void check_leave_form(unsigned forms, const char *expected)
{
    pd_rooms_config_t cfg = PD_ROOMS_CONFIG_DEFAULT;
    cfg.leave_messages = forms;
    fx_t *f = fx_new(&cfg);
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    join(f, "u2", "Bo", "k2", B);
    join(f, "u3", "Cy", "k3", C);
    pd_buf_reset(&f->log);
    pd_member_leave(a, 0, 0);
    expect_log(f, expected);
    void *p = f;
    teardown(&p);
}

static void test_leave_message_forms(void **state)
{
    (void)state;
    check_leave_form(PD_LEAVE_USER_LEFT, "b {'type':'user_left','userId':'u1'}\n"
                                         "c {'type':'user_left','userId':'u1'}\n");
    check_leave_form(PD_LEAVE_USER_LEFT_PRESENCE,
                     "b {'type':'user_left_presence','userId':'u1'}\n"
                     "c {'type':'user_left_presence','userId':'u1'}\n");
    const char *both = "b {'type':'user_left','userId':'u1'}\n"
                       "c {'type':'user_left','userId':'u1'}\n"
                       "b {'type':'user_left_presence','userId':'u1'}\n"
                       "c {'type':'user_left_presence','userId':'u1'}\n";
    check_leave_form(PD_LEAVE_BOTH, both);
    check_leave_form(0, both);
}

/* ---- a random workload against a reference model ---- */

enum {
    N_USERS = 1000,
    MAX_TABS = 3,
    N_OPS = 12000
};

typedef struct {
    pd_member_t *m;
    void *conn;
    uint64_t joined, updated; /* sequence numbers; updated 0: never */
    char path[24];
} tab_t;

typedef struct {
    tab_t tabs[MAX_TABS];
    int ntabs;
    char seen[24]; /* what the observer believes; seen_present says if at all */
    int seen_present;
} model_user_t;

typedef struct {
    model_user_t users[N_USERS];
    void *observer;
    uint64_t seq, rng;
    model_user_t *leaving; /* user_left came: user_left_presence must follow at once */
} model_t;

static uint64_t model_rand(model_t *mo)
{
    mo->rng ^= mo->rng << 13;
    mo->rng ^= mo->rng >> 7;
    mo->rng ^= mo->rng << 17;
    return mo->rng;
}

static model_user_t *observed_user(model_t *mo, const cJSON *msg)
{
    const char *uid = cJSON_GetStringValue(cJSON_GetObjectItem(msg, "userId"));
    assert_non_null(uid);
    assert_int_equal(uid[0], 'u');
    return &mo->users[atoi(uid + 1)];
}

static void observe(model_t *mo, const cJSON *msg)
{
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(msg, "type"));
    assert_non_null(type);
    if (strcmp(type, "presence_snapshot") == 0)
        return; /* the observer joins first: its snapshot is empty */
    model_user_t *u = observed_user(mo, msg);
    if (mo->leaving) {
        assert_string_equal(type, "user_left_presence");
        assert_ptr_equal(u, mo->leaving);
        mo->leaving = NULL;
        return;
    }
    if (strcmp(type, "user_joined") == 0) {
        assert_false(u->seen_present);
        u->seen_present = 1;
        u->seen[0] = '\0';
    } else if (strcmp(type, "user_left") == 0) {
        assert_true(u->seen_present);
        u->seen_present = 0;
        mo->leaving = u;
    } else {
        assert_string_equal(type, "presence_changed");
        assert_true(u->seen_present);
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(msg, "currentPath"));
        snprintf(u->seen, sizeof(u->seen), "%s", path);
    }
}

static pd_shared_t *model_frame(void *ctx, const char *json, size_t len)
{
    return pd_shared_copy(json, len);
}

static void model_deliver(void *ctx, void *conn, pd_shared_t *msg)
{
    model_t *mo = ctx;
    if (conn != mo->observer)
        return;
    cJSON *j = cJSON_ParseWithLength(msg->data, msg->len);
    assert_non_null(j);
    observe(mo, j);
    cJSON_Delete(j);
}

static void model_detached(void *ctx, void *conn, pd_detach_reason_t why)
{
    fail_msg("unexpected detach");
}

static const char *model_presence(const model_user_t *u)
{
    const tab_t *best = NULL;
    for (int i = 0; i < u->ntabs; i++)
        if (u->tabs[i].updated && (!best || u->tabs[i].updated > best->updated))
            best = &u->tabs[i];
    return best ? best->path : "";
}

static void model_join(model_t *mo, pd_rooms_t *rooms, int ui)
{
    model_user_t *u = &mo->users[ui];
    char uid[16];
    snprintf(uid, sizeof(uid), "u%d", ui);
    pd_identity_t id = ident(uid, uid, NULL);
    void *conn = (void *)(uintptr_t)(++mo->seq * 8);
    pd_member_t *m = NULL;
    int st = pd_rooms_join(rooms, pd_slice_cstr("presence-rnd"), &id, PD_SLICE_NULL, conn,
                           mo->seq * 100, &m);
    if (u->ntabs == MAX_TABS) {
        assert_int_equal(st, PD_JOIN_TOO_MANY);
        pd_identity_free(&id);
        return;
    }
    assert_int_equal(st, PD_JOIN_OK);
    u->tabs[u->ntabs++] = (tab_t){m, conn, mo->seq, 0, ""};
}

static void model_update(model_t *mo, tab_t *t)
{
    mo->seq++;
    snprintf(t->path, sizeof(t->path), "/p/%u", (unsigned)(model_rand(mo) % 50));
    t->updated = mo->seq;
    assert_int_equal(update(t->m, t->path, mo->seq * 100), 0);
}

static void model_leave(model_t *mo, model_user_t *u, int ti)
{
    mo->seq++;
    pd_member_leave(u->tabs[ti].m, 0, mo->seq * 100);
    u->tabs[ti] = u->tabs[--u->ntabs];
}

static void model_step(model_t *mo, pd_rooms_t *rooms)
{
    int ui = (int)(model_rand(mo) % N_USERS);
    model_user_t *u = &mo->users[ui];
    unsigned op = (unsigned)(model_rand(mo) % 10);
    if (op < 4 || u->ntabs == 0) {
        model_join(mo, rooms, ui);
        return;
    }
    int ti = (int)(model_rand(mo) % (uint64_t)u->ntabs);
    if (op < 8)
        model_update(mo, &u->tabs[ti]);
    else
        model_leave(mo, u, ti);
}

static void model_check(model_t *mo, pd_rooms_t *rooms)
{
    pd_room_t *room = pd_rooms_find(rooms, pd_slice_cstr("presence-rnd"));
    pd_buf_t out = PD_BUF_INIT;
    pd_room_encode_users(room, &out);
    cJSON *users = cJSON_Parse(out.base);
    size_t present = 0;
    for (int i = 0; i < N_USERS; i++) {
        model_user_t *u = &mo->users[i];
        assert_int_equal(u->seen_present, u->ntabs > 0);
        if (u->ntabs)
            assert_string_equal(u->seen, model_presence(u));
        present += u->ntabs > 0;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, users)
    {
        const char *uid = cJSON_GetStringValue(cJSON_GetObjectItem(e, "userId"));
        if (strcmp(uid, "observer") == 0)
            continue;
        model_user_t *u = observed_user(mo, e);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "currentPath")),
                            model_presence(u));
    }
    assert_int_equal(cJSON_GetArraySize(users), present + 1);
    assert_int_equal(pd_room_user_count(room), present + 1);
    cJSON_Delete(users);
    pd_buf_free(&out);
}

static void test_random_workload_matches_model(void **state)
{
    model_t *mo = pd_calloc(1, sizeof(*mo));
    mo->rng = 0x2545f4914f6cdd1dULL;
    mo->observer = &mo->observer;
    pd_rooms_config_t cfg = PD_ROOMS_CONFIG_DEFAULT;
    cfg.max_conns_per_user = MAX_TABS;
    pd_rooms_ops_t ops = {
        .frame = model_frame, .deliver = model_deliver, .detached = model_detached};
    pd_rooms_t *rooms = pd_rooms_new(&cfg, &ops, mo, 7);
    pd_identity_t id = ident("observer", "Obs", NULL);
    pd_member_t *obs;
    assert_int_equal(pd_rooms_join(rooms, pd_slice_cstr("presence-rnd"), &id, PD_SLICE_NULL,
                                   mo->observer, 0, &obs),
                     PD_JOIN_OK);
    for (int i = 0; i < N_OPS; i++)
        model_step(mo, rooms);
    model_check(mo, rooms);
    for (int i = 0; i < N_USERS; i++)
        while (mo->users[i].ntabs)
            model_leave(mo, &mo->users[i], 0);
    model_check(mo, rooms);
    pd_member_leave(obs, 0, 0);
    assert_int_equal(pd_rooms_count(rooms), 0);
    pd_rooms_free(rooms);
    free(mo);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ---- remote members ---- */

static pd_member_state_t rstate(const char *user, const char *name, const char *path,
                                uint64_t stamp)
{
    return (pd_member_state_t){pd_slice_cstr(user), pd_slice_cstr(name), PD_SLICE_NULL,
                               loc3(path, NULL, NULL), stamp};
}

static void rset(fx_t *f, const char *rkey, const char *user, const char *name, const char *path,
                 uint64_t stamp)
{
    pd_member_state_t st = rstate(user, name, path, stamp);
    assert_int_equal(
        pd_rooms_remote_set(f->rooms, pd_slice_cstr("presence-ws1"), pd_slice_cstr(rkey), &st, 0),
        0);
}

static void rdel(fx_t *f, const char *rkey)
{
    assert_int_equal(
        pd_rooms_remote_del(f->rooms, pd_slice_cstr("presence-ws1"), pd_slice_cstr(rkey), 0), 0);
}

static void test_remote_member_joins_moves_and_leaves(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_buf_reset(&f->log);
    rset(f, "n2/0|k9", "u2", "Bo", "", 0);
    expect_log(f, "a {'type':'user_joined','userId':'u2','userName':'Bo','userImage':null}\n");
    rset(f, "n2/0|k9", "u2", "Bo", "/w/x", 5000);
    expect_log(f, "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/w/x'}\n");
    join(f, "u3", "Cy", "k3", C);
    expect_log(f, "set presence-ws1 k3 u3 Cy '' 0 locals=2\n"
                  "c {'type':'presence_snapshot','self':{'userId':'u3','connectionId':'k3'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''},"
                  "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':'/w/x'}]}\n"
                  "a {'type':'user_joined','userId':'u3','userName':'Cy','userImage':null}\n");
    assert_int_equal(pd_room_conn_count(room1(f)), 2);
    assert_int_equal(pd_room_local_count(room1(f)), 2);
    assert_int_equal(pd_room_user_count(room1(f)), 3);
    rdel(f, "n2/0|k9");
    expect_log(f, "a {'type':'user_left','userId':'u2'}\n"
                  "c {'type':'user_left','userId':'u2'}\n"
                  "a {'type':'user_left_presence','userId':'u2'}\n"
                  "c {'type':'user_left_presence','userId':'u2'}\n");
    assert_int_equal(
        pd_rooms_remote_del(f->rooms, pd_slice_cstr("presence-ws1"), pd_slice_cstr("n2/0|k9"), 0),
        PD_ERR_NOT_FOUND);
}

/* One tab here and one on another node: the user joins once and leaves once. */
static void test_user_on_two_nodes_joins_once_leaves_once(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    rset(f, "n2/0|t1", "u2", "Bo", "", 0);
    pd_buf_reset(&f->log);
    pd_identity_t id = ident("u2", "Bo", NULL);
    pd_member_t *b;
    assert_int_equal(
        pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &id, pd_slice_cstr("t1"), B, 0, &b),
        PD_JOIN_OK);
    expect_log(f, "set presence-ws1 t1 u2 Bo '' 0 locals=2\n"
                  "b {'type':'presence_snapshot','self':{'userId':'u2','connectionId':'t1'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''},"
                  "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':''}]}\n");
    pd_member_leave(b, 0, 0);
    expect_log(f, "gone presence-ws1 t1 locals=1\n");
    rdel(f, "n2/0|t1");
    expect_log(
        f, "a {'type':'user_left','userId':'u2'}\na {'type':'user_left_presence','userId':'u2'}\n");
}

/* A user's presence is its member with the highest stamp, on whichever node. */
static void test_presence_is_the_newest_stamp_anywhere(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_member_t *b = join(f, "u2", "Bo", "k2", B);
    pd_buf_reset(&f->log);
    f->wall = 1000;
    update(b, "/here", 0);
    expect_log(f, "set presence-ws1 k2 u2 Bo '/here' 1000 locals=2\n"
                  "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/here'}\n");
    rset(f, "n2/0|t", "u2", "Bo", "/older", 999);
    expect_log(f, "");
    rset(f, "n2/0|t", "u2", "Bo", "/newer", 2000);
    expect_log(f, "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/newer'}\n"
                  "b {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/newer'}\n");
    /* This node's clock is behind: the stamp still ranks above what it has heard of. */
    f->wall = 1500;
    update(b, "/back", 0);
    expect_log(f, "set presence-ws1 k2 u2 Bo '/back' 2001 locals=2\n"
                  "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/back'}\n");
    /* An older message about a member is ignored. */
    rset(f, "n2/0|t", "u2", "Bo", "/stale", 1999);
    expect_log(f, "");
    /* Equal stamps rank by full key: "n2/0|t" is above "me/0|k2". */
    rset(f, "n2/0|t", "u2", "Bo", "/tie", 2001);
    expect_log(f, "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/tie'}\n"
                  "b {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/tie'}\n");
    /* The remote presence goes: the local member's location comes back. */
    rdel(f, "n2/0|t");
    expect_log(f, "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/back'}\n"
                  "b {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/back'}\n");
}

/* Without a local member the room is not kept: remote members are forgotten silently. */
static void test_last_local_member_forgets_the_room(void **state)
{
    fx_t *f = *state;
    pd_member_t *a = join(f, "u1", "Al", "k1", A);
    rset(f, "n2/0|x", "u2", "Bo", "/p", 7);
    pd_buf_reset(&f->log);
    pd_member_leave(a, 0, 0);
    expect_log(f, "gone presence-ws1 k1 locals=0\n");
    assert_int_equal(pd_rooms_count(f->rooms), 0);
    /* Filled before a first local join that never comes. */
    rset(f, "n2/0|x", "u2", "Bo", "/p", 7);
    assert_int_equal(pd_rooms_count(f->rooms), 1);
    assert_int_equal(pd_room_local_count(room1(f)), 0);
    pd_rooms_remote_forget(f->rooms, pd_slice_cstr("presence-ws1"));
    assert_int_equal(pd_rooms_count(f->rooms), 0);
    expect_log(f, "");
}

static void test_dead_node_members_leave(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    rset(f, "n2/0|a", "u2", "Bo", "", 0);
    rset(f, "n2/0|b", "u2", "Bo", "", 0);
    rset(f, "n3/0|c", "u3", "Cy", "", 0);
    rset(f, "n3/0|d", "u2", "Bo", "", 0);
    pd_buf_reset(&f->log);
    assert_int_equal(pd_rooms_remote_drop(f->rooms, pd_slice_cstr("n2/0|"), 0), 2);
    expect_log(f, "");
    assert_int_equal(pd_rooms_remote_drop(f->rooms, pd_slice_cstr("n3/0|"), 0), 2);
    assert_int_equal(pd_room_user_count(room1(f)), 1);
    assert_int_equal(pd_rooms_remote_drop(f->rooms, pd_slice_cstr("n3/0|"), 0), 0);
    pd_buf_reset(&f->log);
}

static void test_remote_key_of_another_user_refused(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    rset(f, "n2/0|a", "u2", "Bo", "", 0);
    pd_buf_reset(&f->log);
    pd_member_state_t st = rstate("u3", "Cy", "/p", 9);
    assert_int_equal(pd_rooms_remote_set(f->rooms, pd_slice_cstr("presence-ws1"),
                                         pd_slice_cstr("n2/0|a"), &st, 0),
                     PD_ERR_INVALID);
    st = rstate("", "Cy", "/p", 9);
    assert_int_equal(pd_rooms_remote_set(f->rooms, pd_slice_cstr("presence-ws1"),
                                         pd_slice_cstr("n2/0|z"), &st, 0),
                     PD_ERR_INVALID);
    expect_log(f, "");
}

/*
 * Other nodes hear of every local change: a refreshed identity, and a
 * lingering member taken over under a new key as the new key first, then
 * the old one's leave, so that the user never leaves there.
 */
static void test_local_changes_reported_in_order(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_member_t *b = join(f, "u2", "Bo", "k2", B);
    pd_buf_reset(&f->log);
    pd_identity_t id = ident("u2", "Bob", NULL);
    pd_member_set_identity(b, &id);
    expect_log(f, "set presence-ws1 k2 u2 Bob '' 0 locals=2\n");
    pd_member_leave(b, 1, 0);
    expect_log(f, "");
    pd_identity_t again = ident("u2", "Bob", NULL);
    pd_member_t *b2;
    assert_int_equal(pd_rooms_join(f->rooms, pd_slice_cstr("presence-ws1"), &again,
                                   pd_slice_cstr("k9"), B, 0, &b2),
                     PD_JOIN_OK);
    assert_ptr_equal(b2, b);
    expect_log(f, "set presence-ws1 k9 u2 Bob '' 0 locals=2\n"
                  "gone presence-ws1 k2 locals=2\n"
                  "b {'type':'presence_snapshot','self':{'userId':'u2','connectionId':'k9'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''}]}\n");
}

/*
 * A kick of a user also on another node removes its local members and
 * announces nothing: the kick reaches that node too, and the user leaves
 * when its member there goes, with no fallback presence in between.
 */
static void test_kick_of_a_user_present_elsewhere(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_member_t *m = join(f, "u2", "Bo", "k2", B);
    rset(f, "n2/0|t", "u2", "Bo", "/there", 5);
    update(m, "/here", 10);
    pd_buf_reset(&f->log);
    assert_int_equal(
        pd_rooms_kick(f->rooms, pd_slice_cstr("presence-ws1"), pd_slice_cstr("u2"), "gone"), 1);
    expect_log(f, "b {'type':'permission_revoked','reason':'gone'}\n"
                  "gone presence-ws1 k2 locals=1\n"
                  "b detached KICKED\n");
    assert_int_equal(pd_room_user_count(room1(f)), 2);
    rdel(f, "n2/0|t");
    expect_log(f, "a {'type':'user_left','userId':'u2'}\n"
                  "a {'type':'user_left_presence','userId':'u2'}\n");
}

/* ---- a client back on another node: takeover across nodes ---- */

/*
 * This node is where the client comes back: its new member, keyed as its
 * member on the other node (its twin), starts in the twin's state. No
 * user_joined, its snapshot shows the user where it was, its first update
 * at the same place is not relayed, and the twin's leave changes nothing.
 */
static void test_reconnect_from_another_node_takes_its_state(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    rset(f, "n2/0|tab", "u2", "Bo", "/here", 900);
    pd_buf_reset(&f->log);
    pd_member_t *b = join(f, "u2", "Bo", "tab", B);
    expect_log(f, "set presence-ws1 tab u2 Bo '/here' 900 locals=2\n"
                  "b {'type':'presence_snapshot','self':{'userId':'u2','connectionId':'tab'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''},"
                  "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':'/here'}]}\n");
    assert_int_equal(pd_room_conn_count(room1(f)), 2);
    /* "n2/0|tab" ranks above "me/0|tab" at the same stamp: still, nothing changes. */
    assert_int_equal(update(b, "/here", 10), 0);
    expect_log(f, "");
    rdel(f, "n2/0|tab");
    expect_log(f, "");
    f->wall = 2000;
    update(b, "/there", 20);
    expect_log(f, "set presence-ws1 tab u2 Bo '/there' 2000 locals=2\n"
                  "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/there'}\n");
}

/* The twin's leave first, then the same-place update: still nothing. */
static void test_taken_state_survives_the_twins_leave(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    rset(f, "n2/0|tab", "u2", "Bo", "/here", 900);
    pd_member_t *b = join(f, "u2", "Bo", "tab", B);
    rdel(f, "n2/0|tab");
    pd_buf_reset(&f->log);
    assert_int_equal(update(b, "/here", 10), 0);
    expect_log(f, "");
    pd_member_leave(b, 0, 20);
    expect_log(f, "gone presence-ws1 tab locals=1\n"
                  "a {'type':'user_left','userId':'u2'}\n"
                  "a {'type':'user_left_presence','userId':'u2'}\n");
}

/*
 * An update the other node applied before its client left, heard after
 * the client is back here (the room was read before it came): the new
 * member, not updated yet, follows it, so the update is not lost when the
 * twin goes.
 */
static void test_taken_state_follows_a_late_update_of_the_twin(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    rset(f, "n2/0|tab", "u2", "Bo", "/here", 900);
    pd_member_t *b = join(f, "u2", "Bo", "tab", B);
    pd_buf_reset(&f->log);
    rset(f, "n2/0|tab", "u2", "Bo", "/later", 950);
    expect_log(f, "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/later'}\n"
                  "b {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/later'}\n"
                  "set presence-ws1 tab u2 Bo '/later' 950 locals=2\n");
    rdel(f, "n2/0|tab");
    assert_int_equal(update(b, "/later", 10), 0);
    expect_log(f, "");
    /* After its first update it no longer follows. */
    f->wall = 3000;
    update(b, "/mine", 20);
    pd_buf_reset(&f->log);
    rset(f, "n2/0|tab", "u2", "Bo", "/old", 960);
    expect_log(f, "");
}

/*
 * Another key on another node is another connection (a node cannot tell
 * whether a remote member lingers): a new member, with no state of its own.
 */
static void test_other_key_from_another_node_is_a_new_member(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    rset(f, "n2/0|tab", "u2", "Bo", "/here", 900);
    pd_buf_reset(&f->log);
    pd_member_t *b = join(f, "u2", "Bo", "other", B);
    expect_log(f, "set presence-ws1 other u2 Bo '' 0 locals=2\n"
                  "b {'type':'presence_snapshot','self':{'userId':'u2','connectionId':'other'},"
                  "'users':[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''},"
                  "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':'/here'}]}\n");
    update(b, "/here", 10);
    expect_log(f, "set presence-ws1 other u2 Bo '/here' 1000 locals=2\n"
                  "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/here'}\n");
}

/*
 * This node is the one the client left: its member lingers until the
 * client's member on another node, under the same key, is heard of; then
 * it is gone at once and silently (its leave is published, nothing is
 * announced), and no linger runs out later.
 */
static void test_lingering_member_gone_when_its_client_is_back_elsewhere(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_member_t *b = join(f, "u2", "Bo", "tab", B);
    update(b, "/here", 0);
    pd_member_leave(b, 1, 0);
    pd_buf_reset(&f->log);
    rset(f, "n2/0|tab", "u2", "Bo", "/here", 1000);
    expect_log(f, "gone presence-ws1 tab locals=1\n");
    assert_int_equal(pd_room_local_count(room1(f)), 1);
    assert_int_equal(pd_room_user_count(room1(f)), 2);
    assert_int_equal(pd_rooms_tick(f->rooms, 60000), UINT64_MAX);
    expect_log(f, "");
    expect_users(f, "[{'userId':'u1','userName':'Al','userImage':null,'currentPath':''},"
                    "{'userId':'u2','userName':'Bo','userImage':null,'currentPath':'/here'}]\n");
    rdel(f, "n2/0|tab");
    expect_log(f, "a {'type':'user_left','userId':'u2'}\n"
                  "a {'type':'user_left_presence','userId':'u2'}\n");
}

/*
 * A third node hears the client's new member (a copy of the old one) and
 * then the old one's leave, in the order the nodes caused them: no join,
 * no leave, no presence_changed.
 */
static void test_observer_sees_no_flap_across_a_move(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    rset(f, "a/0|tab", "u2", "Bo", "/here", 900);
    pd_buf_reset(&f->log);
    rset(f, "b/0|tab", "u2", "Bo", "/here", 900);
    rdel(f, "a/0|tab");
    rset(f, "z/0|tab", "u2", "Bo", "/here", 900); /* one ranking above, then below */
    rdel(f, "z/0|tab");
    expect_log(f, "");
    rset(f, "b/0|tab", "u2", "Bo", "/next", 1200);
    expect_log(f, "a {'type':'presence_changed','userId':'u2','userName':'Bo','userImage':null,"
                  "'currentPath':'/next'}\n");
}

/*
 * A live member here whose key another node's member of its user holds is
 * left alone (a stale or half-open connection, ended by liveness); when it
 * closes without a close frame it leaves at once instead of lingering.
 */
static void test_live_twin_left_alone_then_leaves_without_linger(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_member_t *b = join(f, "u2", "Bo", "tab", B);
    update(b, "/here", 0);
    pd_buf_reset(&f->log);
    rset(f, "n2/0|tab", "u2", "Bo", "/here", 1000);
    expect_log(f, "");
    assert_int_equal(pd_room_conn_count(room1(f)), 2);
    pd_member_leave(b, 1, 10);
    expect_log(f, "gone presence-ws1 tab locals=1\n");
    assert_int_equal(pd_rooms_tick(f->rooms, 60000), UINT64_MAX);
    expect_log(f, "");
}

/* Another user's member with the key here is no twin. */
static void test_key_of_another_user_is_no_twin(void **state)
{
    fx_t *f = *state;
    join(f, "u1", "Al", "k1", A);
    pd_member_t *b = join(f, "u2", "Bo", "tab", B);
    pd_member_leave(b, 1, 0);
    pd_buf_reset(&f->log);
    rset(f, "n2/0|tab", "u3", "Cy", "/x", 1000);
    expect_log(f, "a {'type':'user_joined','userId':'u3','userName':'Cy','userImage':null}\n"
                  "a {'type':'presence_changed','userId':'u3','userName':'Cy','userImage':null,"
                  "'currentPath':'/x'}\n");
    assert_int_equal(pd_room_local_count(room1(f)), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_first_join_gets_empty_snapshot),
        T(test_second_user_join),
        T(test_update_relayed_to_all_but_sender),
        T(test_multi_tab),
        T(test_fallback_when_most_recent_tab_leaves),
        T(test_older_tab_leaving_sends_nothing),
        T(test_never_updated_tabs_rank_newest_first),
        T(test_user_left_on_last_tab),
        T(test_order_of_events),
        T(test_rate_limit_coalesces),
        T(test_rate_limit_fresh_token_supersedes_pending),
        cmocka_unit_test_setup_teardown(test_user_rate_limit_spans_tabs, setup_user_limit,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_user_announcement_overtaken_by_fallback,
                                        setup_user_limit, teardown),
        cmocka_unit_test_setup_teardown(test_user_announcement_dropped_on_leave, setup_user_limit,
                                        teardown),
        T(test_presence_changed_supersedes_previous),
        T(test_pending_update_of_departed_member_is_dropped),
        T(test_linger_and_reconnect),
        T(test_linger_reconnect_elsewhere_is_relayed),
        T(test_linger_expiry_sends_user_left),
        T(test_presence_changed_carries_name_and_image),
        cmocka_unit_test(test_leave_message_forms),
        T(test_linger_takeover_prefers_key_then_newest),
        T(test_lingering_pending_update_still_applies),
        cmocka_unit_test(test_clean_leave_and_zero_linger_leave_at_once),
        T(test_pk_takeover_of_live_member),
        T(test_pk_of_another_user_gets_fresh_key),
        cmocka_unit_test(test_limits),
        T(test_kick),
        T(test_kick_lingering_user_counts_zero),
        T(test_encode_users),
        T(test_room_freed_when_empty),
        T(test_rooms_are_isolated_and_iterable),
        T(test_binary_room_and_user_ids),
        T(test_resync_and_identity_refresh),
        cmocka_unit_test(test_random_workload_matches_model),
        cmocka_unit_test_setup_teardown(test_remote_member_joins_moves_and_leaves, setup_cluster,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_user_on_two_nodes_joins_once_leaves_once,
                                        setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(test_presence_is_the_newest_stamp_anywhere, setup_cluster,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_last_local_member_forgets_the_room, setup_cluster,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dead_node_members_leave, setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(test_remote_key_of_another_user_refused, setup_cluster,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kick_of_a_user_present_elsewhere, setup_cluster,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_local_changes_reported_in_order, setup_cluster,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_from_another_node_takes_its_state,
                                        setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(test_taken_state_survives_the_twins_leave, setup_cluster,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_taken_state_follows_a_late_update_of_the_twin,
                                        setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(test_other_key_from_another_node_is_a_new_member,
                                        setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(
            test_lingering_member_gone_when_its_client_is_back_elsewhere, setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(test_observer_sees_no_flap_across_a_move, setup_cluster,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_live_twin_left_alone_then_leaves_without_linger,
                                        setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(test_key_of_another_user_is_no_twin, setup_cluster,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
