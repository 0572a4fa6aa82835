#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/jwt.h"

/* ---- Each test's loop. ---- */

int ct_loop_setup(void **state)
{
    return uv_loop_init(*state);
}

int ct_loop_teardown(void **state)
{
    ct_pump(*state, 10);
    assert_int_equal(uv_loop_close(*state), 0);
    return 0;
}

/* ---- presenced. ---- */

void ct_server_start(pdt_server_t *s, int port, const char *const *extra)
{
    if (pdt_server_start_on(s, port, extra) != 0)
        fail_msg("presenced did not start");
}

void ct_server_kill(pdt_server_t *s, uv_loop_t *loop, int sig)
{
    if (s->pid <= 0)
        return;
    pdt_server_signal(s, sig);
    /*
     * The clients on loop keep running while the server goes: a drain waits
     * for their answers to its close frames, and their own timers keep
     * counting. A loop frozen here would see the drain's full timeout pass
     * at once, pong timeouts included, before reading the close frames.
     */
    uint64_t deadline = pdt_now_ms() + 10000;
    while (pdt_server_alive(s)) {
        if (pdt_now_ms() > deadline) {
            pdt_server_discard(s, 1);
            fail_msg("presenced did not exit within 10 s of signal %d", sig);
        }
        if (loop)
            ct_pump(loop, 5);
        else
            usleep(2000);
    }
}

const char *ct_server_url(const pdt_server_t *s)
{
    static char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", s->port);
    return url;
}

/* ---- Tokens. ---- */

char *ct_token(const char *user, const char *name, const char *workspace, int64_t ttl_s)
{
    char room[160];
    snprintf(room, sizeof room, "presence-%s", workspace);
    int64_t now = (int64_t)time(NULL);
    return pd_jwt_mint_hs256((const unsigned char *)PDT_SECRET, strlen(PDT_SECRET), user, name,
                             NULL, room, now, now + ttl_s);
}

/* ---- The loop. ---- */

static void on_pump_timer(uv_timer_t *t)
{
}

void ct_pump(uv_loop_t *loop, int ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_pump_timer, (uint64_t)ms, 0);
    uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

void ct_run_for(uv_loop_t *loop, int ms)
{
    if (ms <= 0)
        return;
    uint64_t end = pdt_now_ms() + (uint64_t)ms;
    while (pdt_now_ms() < end)
        ct_pump(loop, (int)(end - pdt_now_ms()));
}

void ct_wait_idle(uv_loop_t *loop, int ms)
{
    CT_WAIT(loop, !uv_loop_alive(loop), ms);
}

/* ---- The recording client. ---- */

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void on_event(presence_client_t *c, const presence_event_t *ev, void *data)
{
    ct_client_t *cc = data;
    if (cc->n_events == CT_MAX_EVENTS)
        fail_msg("%s: more than %d events", cc->user, CT_MAX_EVENTS);
    ct_event_t *e = &cc->events[cc->n_events++];
    e->type = ev->type;
    e->reason = ev->reason;
    e->retry_ms = ev->retry_ms;
    e->at_ms = pdt_now_ms();
    copy_str(e->user_id, sizeof e->user_id, ev->user ? ev->user->user_id : NULL);
    copy_str(e->path, sizeof e->path, ev->user ? ev->user->current_path : NULL);
    copy_str(e->detail, sizeof e->detail, ev->detail);
    copy_str(e->code, sizeof e->code, ev->code);
}

static void on_token(presence_client_t *c, presence_token_reason_t why, void *data)
{
    ct_client_t *cc = data;
    cc->token_calls++;
    if (why == PRESENCE_TOKEN_REFRESH)
        cc->refresh_calls++;
    if (cc->no_answer)
        return;
    char *token = cc->token_fn ? cc->token_fn(cc, why)
                               : ct_token(cc->user, cc->name, cc->workspace, cc->ttl_s);
    if (token == CT_TOKEN_LATER)
        return;
    presence_client_token(c, token);
    free(token);
}

void ct_fast_options(presence_options_t *o)
{
    o->backoff_min_ms = 20;
    o->backoff_first_ms = 100;
    o->backoff_max_ms = 400;
    o->backoff_growth = 2.0;
    o->backoff_reset_ms = 1000;
    o->connect_timeout_ms = 3000;
    o->ping_interval_ms = 500;
    o->pong_timeout_ms = 3000;
}

ct_client_t *ct_client_new(uv_loop_t *loop, const char *url, const char *workspace,
                           const char *user, void (*tweak)(presence_options_t *o, void *arg),
                           void *arg)
{
    ct_client_t *cc = calloc(1, sizeof *cc);
    cc->loop = loop;
    cc->ttl_s = 3600;
    copy_str(cc->user, sizeof cc->user, user);
    snprintf(cc->name, sizeof cc->name, "Name of %s", user);
    copy_str(cc->workspace, sizeof cc->workspace, workspace);
    presence_options_t o;
    presence_options_init(&o);
    ct_fast_options(&o);
    o.url = url;
    o.workspace = workspace;
    o.token_cb = on_token;
    o.event_cb = on_event;
    o.data = cc;
    if (tweak)
        tweak(&o, arg);
    char err[256];
    int r = presence_client_new(&cc->c, loop, &o, err, sizeof err);
    if (r != 0)
        fail_msg("presence_client_new: %s (%s)", presence_strerror(r), err);
    cc->data = arg;
    assert_int_equal(presence_client_start(cc->c), 0);
    return cc;
}

static void on_closed(presence_client_t *c, void *data)
{
    ct_client_t *cc = data;
    cc->closed = 1;
}

void ct_client_close(ct_client_t *cc)
{
    if (!cc)
        return;
    presence_client_close(cc->c, on_closed);
    CT_WAIT(cc->loop, cc->closed, 10000);
    free(cc);
}

int ct_count(const ct_client_t *cc, presence_event_type_t type)
{
    int n = 0;
    for (size_t i = 0; i < cc->n_events; i++)
        n += cc->events[i].type == type;
    return n;
}

const ct_event_t *ct_last(const ct_client_t *cc, presence_event_type_t type)
{
    for (size_t i = cc->n_events; i > 0; i--)
        if (cc->events[i - 1].type == type)
            return &cc->events[i - 1];
    return NULL;
}

const char *ct_where(const ct_client_t *cc, const char *user)
{
    static char bufs[4][600];
    static int next;
    char *out = bufs[next++ % 4];
    const presence_user_t *u = presence_client_user(cc->c, user);
    if (!u)
        return "-";
    snprintf(out, sizeof bufs[0], "%s|%s|%s", u->current_path,
             u->resource_type ? u->resource_type : "", u->resource_id ? u->resource_id : "");
    return out;
}

static void on_follow(presence_client_t *c, presence_follow_status_t status,
                      const presence_user_t *u, void *data)
{
    ct_client_t *cc = data;
    if (cc->n_follows == CT_MAX_EVENTS)
        fail_msg("too many follow notifications");
    ct_follow_t *f = &cc->follows[cc->n_follows++];
    f->status = status;
    copy_str(f->path, sizeof f->path, u ? u->current_path : NULL);
    copy_str(f->user_id, sizeof f->user_id, u ? u->user_id : NULL);
}

int ct_follow_try(ct_client_t *cc, const char *user)
{
    return presence_client_follow(cc->c, user, on_follow, cc);
}

void ct_follow(ct_client_t *cc, const char *user)
{
    int r = ct_follow_try(cc, user);
    if (r != 0)
        fail_msg("follow %s: %s", user, presence_strerror(r));
}
