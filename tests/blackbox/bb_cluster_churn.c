/*
 * Churn over a cluster: three presenced nodes on a real redis-server, two
 * rooms, fourteen users, for PDT_CHURN_SECONDS (60 by default). A seeded
 * random run (PDT_CHURN_SEED) connects tabs to any node (some users with
 * several tabs, on several nodes; some coming back with the connection key
 * of a tab they lost, possibly on another node), moves them, closes them
 * cleanly, drops them without a close frame, and silences them (the tab
 * stops reading and answering: the server must drop it after its idle
 * timeout, which is short here). Every tab keeps reading its socket and
 * keeps its own view of its room from what it receives.
 *
 * At the end the silenced tabs are closed, each user present makes one last
 * move from every tab it has (so its location does not depend on how two
 * nodes ordered updates that crossed), and the test waits, with a generous
 * bound, until every live tab's view and every node's /api/rooms equal the
 * users actually connected, where they are: no ghost, no split view.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdt_cluster.h"
#include "pdt_http.h"
#include "pdt_proc.h"
#include "pdt_redis.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

#define NODES 3
#define ROOMS 2
#define USERS 14
/* Tabs open at once, silenced ones included. */
#define MAX_TABS 256
#define MAX_LIVE 32
/* A user's live tabs in one room. */
#define MAX_USER_TABS 3
#define MAX_OPS 20000
/* Connection keys of lost tabs a user may come back with, per user. */
#define LOST_KEYS 4
#define API_SECRET "api-secret-churn"
/* The nodes' idle timeout, and how long after it a silenced tab must be gone (a loaded machine). */
#define IDLE_TIMEOUT "5"
#define SILENCE_BOUND_MS 12000
/* The end state must be reached within this: lingers, idle timeouts and Redis, on a loaded machine. */
#define CONVERGE_MS 36000

static pdt_redis_t red;
static pdt_server_t nodes[NODES];
static char redis_url[128];
static char secret_dir[64], secret_path[96];

static const char *const node_ids[NODES] = {"a", "b", "c"};
static const char *const rooms[ROOMS] = {"churn-0", "churn-1"};

/* ---- the random run ---- */

static uint64_t rng_state;

/* splitmix64: small, and the same sequence everywhere for a seed. */
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rnd(int n)
{
    return (int)(rng_next() % (uint64_t)n);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : dflt;
}

/* ---- tabs and their views ---- */

typedef struct {
    int present;
    char where[64];
} seen_t;

typedef enum {
    TAB_FREE,
    TAB_LIVE,
    TAB_SILENT
} tab_state_t;

typedef struct {
    tab_state_t state;
    pdt_ws_t *ws;
    int user, room, node;
    char pk[32];
    uint64_t silenced_at; /* pdt_now_ms() when it went silent */
    seen_t view[USERS];   /* what this tab was told of its room */
} tab_t;

typedef struct {
    int room;
    char pk[32];
} lost_t;

static tab_t tabs[MAX_TABS];
static lost_t lost[USERS][LOST_KEYS]; /* keys of tabs the user lost, newest overwriting */
static unsigned lost_next[USERS];
static unsigned pk_counter, move_counter;
static char final_where[ROOMS][USERS][64];

enum {
    OP_CONNECT,
    OP_MOVE,
    OP_CLEAN,
    OP_ABRUPT,
    OP_SILENCE,
    OP_KINDS
};
static unsigned op_count[OP_KINDS];
static unsigned silenced_gone;    /* silenced tabs let go during the run, long after the timeout */
static unsigned takeovers;        /* connects with a lost tab's key */
static unsigned server_closed[5]; /* live tabs the servers closed: 1001, 1012, 1000, 1006, other */
static unsigned stray_changes;    /* presence_changed for a user not in the view */
static unsigned errors_seen;
static char first_error[256];

static const char *user_name(int u)
{
    static char names[USERS][8];
    snprintf(names[u], sizeof(names[u]), "u%02d", u);
    return names[u];
}

static int user_index(const char *id)
{
    if (!id || id[0] != 'u')
        return -1;
    int u = atoi(id + 1);
    return u >= 0 && u < USERS && strcmp(user_name(u), id) == 0 ? u : -1;
}

static void view_snapshot(tab_t *t, const cJSON *m)
{
    memset(t->view, 0, sizeof(t->view));
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(m, "users"))
    {
        int u = user_index(pdt_str(e, "userId"));
        if (u < 0)
            continue;
        const char *where = pdt_str(e, "currentPath");
        t->view[u].present = 1;
        snprintf(t->view[u].where, sizeof(t->view[u].where), "%s", where ? where : "");
    }
}

/* Applies one message the server sent to t. */
static void view_apply(tab_t *t, const cJSON *m)
{
    const char *type = pdt_str(m, "type");
    int u = user_index(pdt_str(m, "userId"));
    if (!type)
        return;
    if (strcmp(type, "presence_snapshot") == 0) {
        view_snapshot(t, m);
    } else if (strcmp(type, "user_joined") == 0 && u >= 0) {
        t->view[u].present = 1;
        t->view[u].where[0] = '\0';
    } else if (strcmp(type, "presence_changed") == 0 && u >= 0) {
        const char *where = pdt_str(m, "currentPath");
        stray_changes += !t->view[u].present && u != t->user;
        snprintf(t->view[u].where, sizeof(t->view[u].where), "%s", where ? where : "");
    } else if ((strcmp(type, "user_left") == 0 || strcmp(type, "user_left_presence") == 0) &&
               u >= 0) {
        t->view[u].present = 0;
    } else if (strcmp(type, "error") == 0 || strcmp(type, "auth_error") == 0) {
        if (errors_seen++ == 0) {
            char *text = cJSON_PrintUnformatted(m);
            snprintf(first_error, sizeof(first_error), "%s: %s", t->ws->label, text);
            free(text);
        }
    }
}

static void tab_free(tab_t *t)
{
    memset(t, 0, sizeof(*t));
}

static void lose_key(const tab_t *t)
{
    lost_t *l = &lost[t->user][lost_next[t->user]++ % LOST_KEYS];
    l->room = t->room;
    snprintf(l->pk, sizeof(l->pk), "%s", t->pk);
}

/* The server ended a live tab (its node was evicted, it fell behind, ...): it is gone. */
static void tab_ended_by_server(tab_t *t)
{
    int code = t->ws->close_code;
    server_closed[code == 1001 ? 0 : code == 1012 ? 1 : code == 1000 ? 2 : code == 1006 ? 3 : 4]++;
    fprintf(stderr, "note: %s on node %s closed by the server (%d %s)\n", t->ws->label,
            node_ids[t->node], code, t->ws->close_reason);
    pdt_ws_drop(t->ws);
    tab_free(t);
}

/* Applies what every live tab has received; drops the ones the servers closed. */
static void drain(void)
{
    for (int i = 0; i < MAX_TABS; i++) {
        tab_t *t = &tabs[i];
        if (t->state != TAB_LIVE)
            continue;
        char *text;
        while ((text = pdt_take_text(t->ws)) != NULL) {
            cJSON *m = cJSON_Parse(text);
            if (m)
                view_apply(t, m);
            cJSON_Delete(m);
            free(text);
        }
        if (t->ws->close_code != 0 || t->ws->eof)
            tab_ended_by_server(t);
    }
}

static int count_tabs(int user, int room, tab_state_t state)
{
    int n = 0;
    for (int i = 0; i < MAX_TABS; i++)
        n += tabs[i].state == state && (user < 0 || tabs[i].user == user) &&
             (room < 0 || tabs[i].room == room);
    return n;
}

/* A random tab in state, or NULL when there is none. */
static tab_t *pick_tab(tab_state_t state)
{
    int n = count_tabs(-1, -1, state);
    if (n == 0)
        return NULL;
    int k = rnd(n);
    for (int i = 0; i < MAX_TABS; i++)
        if (tabs[i].state == state && k-- == 0)
            return &tabs[i];
    return NULL;
}

static tab_t *free_slot(void)
{
    for (int i = 0; i < MAX_TABS; i++)
        if (tabs[i].state == TAB_FREE)
            return &tabs[i];
    return NULL;
}

/* ---- operations ---- */

static void send_move(tab_t *t, const char *where)
{
    pdt_sendf(t->ws, "{\"type\":\"presence_update\",\"currentPath\":\"%s\"}", where);
}

static void op_move(tab_t *t)
{
    char where[64];
    snprintf(where, sizeof(where), "/w/%s/m/%u", rooms[t->room], ++move_counter);
    send_move(t, where);
}

/* 1 when a live tab of user holds key pk (a second one would replace it). */
static int key_in_use(int user, const char *pk)
{
    for (int i = 0; i < MAX_TABS; i++)
        if (tabs[i].state == TAB_LIVE && tabs[i].user == user && strcmp(tabs[i].pk, pk) == 0)
            return 1;
    return 0;
}

/*
 * A new tab on a random node: a fresh key, or (one time in three, when the
 * user lost a tab) the lost tab's key, as a client reconnecting does; that
 * one moves at once, so that where it starts (its twin's place, or nowhere
 * when the linger ran out) does not matter to the end state.
 */
static int op_connect(void)
{
    tab_t *t = free_slot();
    if (!t || count_tabs(-1, -1, TAB_LIVE) >= MAX_LIVE)
        return 0;
    int user = rnd(USERS), room = rnd(ROOMS), node = rnd(NODES), reuse = 0;
    const lost_t *l = &lost[user][rnd(LOST_KEYS)];
    if (l->pk[0] && rnd(3) == 0 && !key_in_use(user, l->pk)) {
        room = l->room;
        reuse = 1;
    }
    if (count_tabs(user, room, TAB_LIVE) >= MAX_USER_TABS)
        return 0;
    t->user = user;
    t->room = room;
    t->node = node;
    if (reuse)
        snprintf(t->pk, sizeof(t->pk), "%s", l->pk);
    else
        snprintf(t->pk, sizeof(t->pk), "%s-k%u", user_name(user), ++pk_counter);
    const char *ws = rooms[room];
    pdt_ws_opts_t o = {.workspace = ws,
                       .pk = t->pk,
                       .label = pdt_fmt("%s@%s/%s#%s", user_name(user), ws, t->pk, node_ids[node])};
    o.token = pdt_token(user_name(user), pdt_name(user_name(user)), ws, 3600);
    t->ws = pdt_ws_open(nodes[node].port, &o);
    t->state = TAB_LIVE;
    view_snapshot(t, pdt_expect(t->ws, "presence_snapshot"));
    takeovers += reuse;
    if (reuse || rnd(2) == 0)
        op_move(t);
    return 1;
}

static int op_clean(void)
{
    tab_t *t = pick_tab(TAB_LIVE);
    if (!t)
        return 0;
    pdt_ws_close(t->ws);
    tab_free(t);
    return 1;
}

/* Without a close frame: half the time a FIN, half the time a RST. */
static int op_abrupt(void)
{
    tab_t *t = pick_tab(TAB_LIVE);
    if (!t)
        return 0;
    lose_key(t);
    if (rnd(2))
        pdt_ws_drop(t->ws);
    else
        pdt_ws_reset(t->ws);
    tab_free(t);
    return 1;
}

/*
 * Silenced tabs whose server must have dropped them long ago are let go
 * (their sockets closed), so that a long run does not run out of slots.
 */
static void let_go_of_silenced(void)
{
    for (int i = 0; i < MAX_TABS; i++) {
        if (tabs[i].state == TAB_SILENT && pdt_now_ms() - tabs[i].silenced_at > SILENCE_BOUND_MS) {
            pdt_ws_drop(tabs[i].ws);
            tab_free(&tabs[i]);
            silenced_gone++;
        }
    }
}

/* The tab stops reading and sending: its socket stays open, unread, until let go. */
static int op_silence(void)
{
    let_go_of_silenced();
    tab_t *t = pick_tab(TAB_LIVE);
    if (!t || !free_slot())
        return 0;
    lose_key(t);
    pdt_ws_pause(t->ws, 1);
    t->state = TAB_SILENT;
    t->silenced_at = pdt_now_ms();
    return 1;
}

static int run_op(int kind)
{
    switch (kind) {
    case OP_CONNECT: return op_connect();
    case OP_MOVE: {
        tab_t *t = pick_tab(TAB_LIVE);
        if (t)
            op_move(t);
        return t != NULL;
    }
    case OP_CLEAN: return op_clean();
    case OP_ABRUPT: return op_abrupt();
    default: return op_silence();
    }
}

/* connect 30%, move 40%, clean close 11%, abrupt close 11%, silence 8%. */
static int pick_kind(void)
{
    static const int weights[OP_KINDS] = {30, 40, 11, 11, 8};
    int r = rnd(100);
    for (int k = 0; k < OP_KINDS; k++) {
        if (r < weights[k])
            return k;
        r -= weights[k];
    }
    return OP_MOVE;
}

/* ---- the end state ---- */

/* 1 when user u has a live tab in room r. */
static int connected(int r, int u)
{
    return count_tabs(u, r, TAB_LIVE) > 0;
}

/* Why tab t's view is not the end state ("" when it is). */
static void tab_diff(const tab_t *t, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (int u = 0; u < USERS && n < cap; u++) {
        if (u == t->user)
            continue; /* a tab learns of its own user only from snapshots: not kept up */
        const seen_t *s = &t->view[u];
        if (connected(t->room, u) && !s->present)
            n += (size_t)snprintf(out + n, cap - n, " missing %s;", user_name(u));
        else if (!connected(t->room, u) && s->present)
            n += (size_t)snprintf(out + n, cap - n, " ghost %s at '%s';", user_name(u), s->where);
        else if (s->present && strcmp(s->where, final_where[t->room][u]) != 0)
            n += (size_t)snprintf(out + n, cap - n, " %s at '%s', not '%s';", user_name(u),
                                  s->where, final_where[t->room][u]);
    }
}

static int views_settled(void)
{
    char diff[512];
    for (int i = 0; i < MAX_TABS; i++) {
        if (tabs[i].state != TAB_LIVE)
            continue;
        tab_diff(&tabs[i], diff, sizeof(diff));
        if (diff[0])
            return 0;
    }
    return 1;
}

static cJSON *api_get(int node, const char *path, int *status)
{
    pd_buf_t out = PD_BUF_INIT;
    *status = pdt_http_get_auth(nodes[node].port, path, API_SECRET, &out);
    cJSON *j = out.base ? cJSON_Parse(pdt_http_body(out.base)) : NULL;
    pd_buf_free(&out);
    return j;
}

/* Why node's GET /api/rooms/presence-{room} is not the end state ("" when it is). */
static void room_diff(int node, int r, char *out, size_t cap)
{
    int status, want_users = 0;
    size_t n = 0;
    out[0] = '\0';
    for (int u = 0; u < USERS; u++)
        want_users += connected(r, u);
    cJSON *j = api_get(node, pdt_fmt("/api/rooms/presence-%s", rooms[r]), &status);
    if (want_users == 0) {
        if (status != 404)
            snprintf(out, cap, " %s: %d, want 404;", rooms[r], status);
    } else if (status != 200) {
        snprintf(out, cap, " %s: %d, want 200;", rooms[r], status);
    } else {
        for (int u = 0; u < USERS && n < cap; u++) {
            const cJSON *e = pdt_snapshot_user(j, user_name(u));
            const char *where = e ? pdt_str(e, "currentPath") : NULL;
            if (connected(r, u) && !e)
                n += (size_t)snprintf(out + n, cap - n, " %s: missing %s;", rooms[r], user_name(u));
            else if (!connected(r, u) && e)
                n += (size_t)snprintf(out + n, cap - n, " %s: ghost %s;", rooms[r], user_name(u));
            else if (e && (!where || strcmp(where, final_where[r][u]) != 0))
                n += (size_t)snprintf(out + n, cap - n, " %s: %s at '%s', not '%s';", rooms[r],
                                      user_name(u), where ? where : "(none)", final_where[r][u]);
        }
        if (n == 0 && pdt_snapshot_count(j) != want_users)
            snprintf(out, cap, " %s: %d users, want %d;", rooms[r], pdt_snapshot_count(j),
                     want_users);
    }
    cJSON_Delete(j);
}

/* Why node's GET /api/rooms is not the end state: each room's users and connections. */
static void list_diff(int node, char *out, size_t cap)
{
    int status;
    size_t n = 0;
    out[0] = '\0';
    cJSON *j = api_get(node, "/api/rooms", &status);
    if (status != 200) {
        snprintf(out, cap, " /api/rooms: %d;", status);
        cJSON_Delete(j);
        return;
    }
    for (int r = 0; r < ROOMS && n < cap; r++) {
        int users = 0, conns = count_tabs(-1, r, TAB_LIVE);
        for (int u = 0; u < USERS; u++)
            users += connected(r, u);
        const cJSON *e, *found = NULL;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "rooms"))
        {
            const char *id = pdt_str(e, "roomId");
            if (id && strcmp(id, pdt_fmt("presence-%s", rooms[r])) == 0)
                found = e;
        }
        const cJSON *ju = found ? cJSON_GetObjectItemCaseSensitive(found, "users") : NULL;
        const cJSON *jc = found ? cJSON_GetObjectItemCaseSensitive(found, "connections") : NULL;
        int got_u = cJSON_IsNumber(ju) ? ju->valueint : 0;
        int got_c = cJSON_IsNumber(jc) ? jc->valueint : 0;
        if ((users == 0) != (found == NULL) || got_u != users || got_c != conns)
            n +=
                (size_t)snprintf(out + n, cap - n,
                                 " /api/rooms lists %s with %d users, %d connections; want %d, %d;",
                                 rooms[r], got_u, got_c, users, conns);
    }
    cJSON_Delete(j);
}

static int api_settled(void)
{
    char diff[512];
    for (int node = 0; node < NODES; node++) {
        list_diff(node, diff, sizeof(diff));
        if (diff[0])
            return 0;
        for (int r = 0; r < ROOMS; r++) {
            room_diff(node, r, diff, sizeof(diff));
            if (diff[0])
                return 0;
        }
    }
    return 1;
}

static int settled(void *arg)
{
    uint64_t *next_api = arg;
    drain();
    if (!views_settled() || pdt_now_ms() < *next_api)
        return 0;
    /* The API is asked only once the views agree, and at most every 200 ms. */
    *next_api = pdt_now_ms() + 200;
    return api_settled();
}

static void print_differences(void)
{
    char diff[512];
    int shown = 0;
    for (int i = 0; i < MAX_TABS && shown < 20; i++) {
        if (tabs[i].state != TAB_LIVE)
            continue;
        tab_diff(&tabs[i], diff, sizeof(diff));
        if (diff[0]) {
            fprintf(stderr, "view of %s on node %s:%s\n", tabs[i].ws->label, node_ids[tabs[i].node],
                    diff);
            shown++;
        }
    }
    for (int node = 0; node < NODES; node++) {
        list_diff(node, diff, sizeof(diff));
        if (diff[0])
            fprintf(stderr, "node %s:%s\n", node_ids[node], diff);
        for (int r = 0; r < ROOMS; r++) {
            room_diff(node, r, diff, sizeof(diff));
            if (diff[0])
                fprintf(stderr, "node %s:%s\n", node_ids[node], diff);
        }
    }
}

/*
 * What the nodes closed for silence (or as slow readers, or replaced: a
 * silenced tab's key came back on its node) must cover every tab silenced
 * long enough ago.
 */
static void expect_silenced_dropped(void)
{
    unsigned want = silenced_gone;
    for (int i = 0; i < MAX_TABS; i++)
        want +=
            tabs[i].state == TAB_SILENT && pdt_now_ms() - tabs[i].silenced_at > SILENCE_BOUND_MS;
    double idle = 0, replaced = 0;
    for (int node = 0; node < NODES; node++) {
        pd_buf_t out = PD_BUF_INIT;
        if (pdt_http_get(nodes[node].port, "/metrics", &out) == 200) {
            idle +=
                pdt_metric(pdt_http_body(out.base), "presenced_evictions_total{reason=\"idle\"}");
            idle +=
                pdt_metric(pdt_http_body(out.base), "presenced_evictions_total{reason=\"slow\"}");
            replaced += pdt_metric(pdt_http_body(out.base),
                                   "presenced_evictions_total{reason=\"replaced\"}");
        }
        pd_buf_free(&out);
    }
    printf(
        "closed by the nodes: %.0f for silence (or slow), %.0f replaced; tabs silenced over %d ms ago: %u\n",
        idle, replaced, SILENCE_BOUND_MS, want);
    if (idle + replaced < want)
        fail_msg("the nodes closed %.0f silent tabs; %u were silent for over %d ms",
                 idle + replaced, want, SILENCE_BOUND_MS);
}

/* Silenced tabs closed; one last move per user present, from each of its tabs. */
static void prepare_end(void)
{
    for (int i = 0; i < MAX_TABS; i++) {
        if (tabs[i].state == TAB_SILENT) {
            pdt_ws_drop(tabs[i].ws);
            tab_free(&tabs[i]);
        }
    }
    for (int r = 0; r < ROOMS; r++)
        for (int u = 0; u < USERS; u++)
            snprintf(final_where[r][u], sizeof(final_where[r][u]), "/w/%s/last/%s", rooms[r],
                     user_name(u));
    for (int i = 0; i < MAX_TABS; i++)
        if (tabs[i].state == TAB_LIVE)
            send_move(&tabs[i], final_where[tabs[i].room][tabs[i].user]);
}

static void test_churn(void **state)
{
    (void)state;
    uint64_t seconds = env_u64("PDT_CHURN_SECONDS", 60);
    uint64_t start = pdt_now_ms(), end = start + seconds * 1000;
    unsigned ops = 0;
    while (ops < MAX_OPS && pdt_now_ms() < end) {
        int kind = pick_kind();
        if (run_op(kind)) {
            op_count[kind]++;
            ops++;
        }
        pdt_pump(rnd(16));
        drain();
    }
    uint64_t ran = pdt_now_ms() - start;
    printf("%u operations in %" PRIu64 " ms: connect %u, move %u, clean close %u, "
           "abrupt close %u, silence %u\n",
           ops, ran, op_count[OP_CONNECT], op_count[OP_MOVE], op_count[OP_CLEAN],
           op_count[OP_ABRUPT], op_count[OP_SILENCE]);
    printf("connects with a lost tab's key: %u; live tabs the servers closed: idle %u, "
           "node restart %u, replaced %u, dropped %u, other %u\n",
           takeovers, server_closed[0], server_closed[1], server_closed[2], server_closed[3],
           server_closed[4]);

    expect_silenced_dropped();
    prepare_end();
    uint64_t t0 = pdt_now_ms(), next_api = 0;
    int ok = pdt_wait(settled, &next_api, CONVERGE_MS);
    uint64_t took = pdt_now_ms() - t0;
    int users[ROOMS] = {0};
    for (int r = 0; r < ROOMS; r++)
        for (int u = 0; u < USERS; u++)
            users[r] += connected(r, u);
    printf("%s in %" PRIu64 " ms: %d live tabs, %d users in %s, %d in %s; "
           "presence_changed for absent users %u\n",
           ok ? "converged" : "did NOT converge", took, count_tabs(-1, -1, TAB_LIVE), users[0],
           rooms[0], users[1], rooms[1], stray_changes);
    if (!ok) {
        print_differences();
        fail_msg("the views and the API did not reach the users connected within %d ms",
                 CONVERGE_MS);
    }
    if (errors_seen)
        fail_msg("%u error messages; the first: %s", errors_seen, first_error);
}

static int start_node(int i)
{
    const char *args[] = {"--redis", redis_url, "--node-id", node_ids[i], "--node-timeout", "2",
                          "--linger", "1",
                          /* A silenced tab is dropped within seconds, during the run. */
                          "--ping-interval", "1", "--idle-timeout", IDLE_TIMEOUT,
                          "--api-secret-file", secret_path, NULL};
    return pdt_server_start_on(&nodes[i], 0, args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {PDT_TEST(test_churn)};
    uint64_t seconds = env_u64("PDT_CHURN_SECONDS", 60);
    pdt_watchdog((unsigned)(seconds + 230));
    if (!pdt_redis_available()) {
        fprintf(stderr, "SKIP: no redis-server (scripts/deps.sh test installs it)\n");
        return 77;
    }
    rng_state = env_u64("PDT_CHURN_SEED", 20250611);
    printf("seed %" PRIu64 " (PDT_CHURN_SEED), %" PRIu64 " s (PDT_CHURN_SECONDS)\n", rng_state,
           seconds);
    if (pdt_tmpdir(secret_dir, sizeof(secret_dir)) != 0)
        return 1;
    snprintf(secret_path, sizeof(secret_path), "%s/api-secret", secret_dir);
    if (pdt_write_file(secret_path, API_SECRET "\n") != 0 || pdt_redis_start(&red) != 0) {
        pdt_tmpdir_remove(secret_dir);
        return 1;
    }
    pdt_redis_url(&red, redis_url, sizeof(redis_url));
    int failed = 1, started = 0;
    while (started < NODES && start_node(started) == 0)
        started++;
    if (started == NODES) {
        int up = 1;
        for (int i = 0; i < NODES; i++)
            up = up && pdt_cluster_wait_registered(&red, node_ids[i]);
        if (up)
            failed = cmocka_run_group_tests(tests, NULL, NULL);
        else
            fprintf(stderr, "the nodes did not register in Redis\n");
    }
    pdt_server_t *const all[NODES] = {&nodes[0], &nodes[1], &nodes[2]};
    int rc = pdt_cluster_finish(all, started, &red, failed);
    pdt_tmpdir_remove(secret_dir);
    return rc;
}
