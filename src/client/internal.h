/*
 * The client's private state, shared by the files of src/client that
 * implement include/presence/client.h:
 *   client.c   the handle: options, lifecycle, accessors, names
 *   session.c  connection attempts, tokens, messages, liveness, back-off
 *   follow.c   follow mode
 *   notify.c   delivering events, directly or on a later loop turn
 */
#ifndef PD_CLIENT_INTERNAL_H
#define PD_CLIENT_INTERNAL_H

#include <openssl/ssl.h>
#include <stdint.h>
#include <uv.h>

#include "backoff.h"
#include "base/list.h"
#include "conn.h"
#include "pmap.h"
#include "presence/client.h"
#include "url.h"

struct presence_client {
    uv_loop_t *loop;
    presence_options_t opts; /* the caller's, with the strings below */
    char *workspace;
    char *key; /* _pk */
    pd_url_t url;
    SSL_CTX *tls_ctx; /* wss only */
    pd_backoff_t backoff;
    pd_pmap_t map;
    char *self_id;
    presence_state_t state;

    /* The current attempt or connection. */
    pc_conn_t *conn;
    int token_wanted; /* 0 or the presence_token_reason_t asked for */
    int admitted;     /* the snapshot arrived on conn */
    int last_reason;  /* how the attempt before ended; 0 once admitted */
    unsigned session; /* counts sessions, so callbacks can tell theirs ended */
    unsigned long long ping_id;

    /* This member's location, re-sent after every reconnect. */
    char *loc_path, *loc_type, *loc_id;

    /* Follow mode. */
    char *follow_id;
    presence_follow_cb follow_cb;
    void *follow_data;
    presence_user_t *follow_last; /* a copy of the last location reported */
    unsigned follow_gen;

    /* Timers; all five are open from creation to close. */
    uv_timer_t retry;        /* the next attempt */
    uv_timer_t watchdog;     /* connect timeout, then pong timeout */
    uv_timer_t heartbeat;    /* pings */
    uv_timer_t defer;        /* runs the notices below */
    uv_timer_t follow_grace; /* the followed user is missing from a snapshot */
    int handles;             /* timers not yet closed */
    int conns;               /* connections not yet freed */

    pd_list_t notices; /* callbacks waiting for the next loop turn */
    int api_depth;     /* > 0 inside a public function */
    int closing;
    presence_close_cb close_cb;
};

/* ---- client.c ---- */

/* Frees a closing client once its timers and connections are all gone. */
void pd_client_maybe_finish(presence_client_t *c);

/* ---- session.c ---- */

/* Begins an attempt on a later loop turn (after delay_ms). */
void pd_session_schedule(presence_client_t *c, uint64_t delay_ms);
/* Ends the current attempt or connection without reporting it. */
void pd_session_drop(presence_client_t *c);
/* Sends this member's location when connected. */
void pd_session_send_location(presence_client_t *c);
/* Handles presence_client_token(). */
int pd_session_token(presence_client_t *c, const char *token);
/* Stops for good: drops the connection, clears the map, reports reason. */
void pd_session_stop(presence_client_t *c, int reason, const char *detail);
uint64_t pd_session_now(presence_client_t *c);

/* ---- follow.c ---- */

/*
 * Re-checks the followed user after the map changed. A user missing from
 * the map (only a snapshot can do that) gets follow_grace_ms to come back,
 * since after a reconnect everyone rejoins at their own pace.
 */
void pd_follow_check(presence_client_t *c);
/* The followed user left; u is the entry as it was. */
void pd_follow_left(presence_client_t *c, const presence_user_t *u);
/* Ends following with status (u: the entry to report, may be NULL). */
void pd_follow_end(presence_client_t *c, presence_follow_status_t status, const presence_user_t *u);
/* Runs a deferred first check, if follow generation gen is still current. */
void pd_follow_start_check(presence_client_t *c, unsigned gen);
/* Frees the follow state without any callback (close). */
void pd_follow_free(presence_client_t *c);

/* ---- notify.c ---- */

/*
 * Delivers ev now, or on a later loop turn when called from inside a public
 * function. Nothing is delivered while closing.
 */
void pd_notify_event(presence_client_t *c, const presence_event_t *ev);
/* The same for the end of a follow: cb/data are the follow's. */
void pd_notify_follow_end(presence_client_t *c, presence_follow_cb cb, void *data,
                          presence_follow_status_t status, const presence_user_t *u);
/* Queues the first check of follow generation gen for the next loop turn. */
void pd_notify_follow_start(presence_client_t *c, unsigned gen);
/* Drops every queued notice (close). */
void pd_notify_drop(presence_client_t *c);
/* The defer timer's callback. */
void pd_notify_run(uv_timer_t *t);

#endif
