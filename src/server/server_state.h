/*
 * Private to src/server: the server's state, which server.c owns and the
 * files that serve a connection read (configuration, rooms, token checks,
 * scratch buffers, metrics, the flush lists). Each file's functions are in
 * its own header; docs/architecture.md says which file may call which.
 */
#ifndef PD_SERVER_SERVER_STATE_H
#define PD_SERVER_SERVER_STATE_H

#include <stdint.h>
#include <uv.h>

#include "../auth/jwt.h"
#include "../base/buf.h"
#include "../base/list.h"
#include "../base/map.h"
#include "../base/shared.h"
#include "../http/http.h"
#include "../proto/proto.h"
#include "../rooms/rooms.h"
#include "config.h"
#include "listener.h"
#include "metrics.h"
#include "server.h"
#include "shard.h"
#include "uring.h"
#include "verifier.h"

#define PD_LATENCY_SAMPLES 1024

struct pd_conn_hooks;

struct pd_server {
    uv_loop_t *loop;
    const pd_config_t *cfg;
    pd_proc_t *proc;  /* the process: the other shards, the shared counts */
    unsigned shard;   /* this one's index in proc->shards */
    pd_inbox_t inbox; /* handovers, drains and asks from the other shards */
    pd_listener_t listener;
    uv_prepare_t flush_phase; /* writes pending sockets, up to flush_batch per loop turn */
    uv_idle_t flush_more;     /* active while the flush list is not empty: poll without sleeping */
    uv_timer_t flush_timer;   /* --write-delay: wakes the loop when the oldest connection is due */
    uv_timer_t sweep;         /* liveness, handshake and token deadlines */
    uv_timer_t tick;          /* deferred updates and lingers (pd_rooms_tick) */
    uv_timer_t drain_timer;
    int port;
    int listening;
    int draining;
    unsigned max_conns; /* process-wide, counted in proc->n_conns */

    pd_jwt_verifier_t *jwt;  /* local tokens, or */
    pd_verifier_t *verifier; /* the verify endpoint */
    unsigned char dev_secret[32];
    const unsigned char *mint_key; /* HS256 key /dev/token signs with */
    size_t mint_key_len;
    uint64_t drain_deadline_ms;
    pd_rooms_t *rooms;
    pd_proto_limits_t proto_limits;
    pd_http_limits_t http_limits;
    const struct pd_conn_hooks *hooks; /* the files above a connection (server.c sets it) */

    pd_list_t conns;       /* every connection */
    pd_list_t api_reads;   /* api.c's reads of the cluster's state, one per waiting call */
    pd_list_t flush_list;  /* connections with queued bytes and no write in flight */
    pd_list_t delay_list;  /* the same for members while --write-delay holds them */
    uint32_t flush_pushes; /* connections ever put on flush_list (wraps) */
    unsigned n_conns;      /* this shard's; the process's is proc->n_conns */

    pd_proto_client_msg_t msg; /* reused for decoding */
    pd_buf_t scratch;          /* reused for encoding single messages */
    pd_shared_t *ping_frame;   /* a WebSocket ping, shared by every connection */
    char read_buf[65536];      /* reads are processed before the next one */

    /* Fan-out latency samples, oldest first (a ring): an update is out once
     * every connection queued before its flush phase (flush_seq <= upto) is. */
    struct {
        uint64_t t0;   /* hrtime the update was read */
        uint32_t upto; /* flush_pushes when its flush phase began */
    } latency[PD_LATENCY_SAMPLES];
    unsigned latency_head, n_latency, n_latency_new;

    pd_metrics_t metrics;
    struct pd_cluster *cluster; /* --redis: this shard's part in the cluster, else NULL */
    pd_uring_t *uring;          /* the flush phase's writes, or NULL: writev */
};

/* Drains this shard alone (the inbox's drain message; pd_server_drain drains them all). */
void pd_server_drain_shard(pd_server_t *srv);

/* The loop's time in milliseconds: the one clock of the server's timeouts. */
static inline uint64_t pd_server_now(const pd_server_t *srv)
{
    return uv_now(srv->loop);
}

#endif
