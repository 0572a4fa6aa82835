/*
 * Private to src/server: the server and connection structures shared by
 * server.c (listener, loop phases, rooms glue), conn.c (one connection's
 * life) and routes.c (plain HTTP endpoints).
 */
#ifndef PD_SERVER_INTERNAL_H
#define PD_SERVER_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "../auth/jwt.h"
#include "../base/buf.h"
#include "../base/list.h"
#include "../base/map.h"
#include "../base/shared.h"
#include "../http/http.h"
#include "../rooms/rooms.h"
#include "../proto/proto.h"
#include "../ws/ws.h"
#include "config.h"
#include "metrics.h"
#include "outq.h"
#include "server.h"
#include "uring.h"
#include "verifier.h"

#define PD_MAX_IOV 64
#define PD_LATENCY_SAMPLES 1024

typedef enum {
    CONN_HTTP = 0, /* reading the request */
    CONN_OPEN,     /* a WebSocket member of a room */
    CONN_CLOSING,  /* last bytes queued; the socket closes once they are out */
    CONN_CLOSED,   /* uv_close() called; freed in its callback */
} pd_conn_state_t;

typedef struct pd_conn pd_conn_t;

struct pd_server {
    uv_loop_t *loop;
    const pd_config_t *cfg;
    uv_tcp_t listener;
    uv_prepare_t flush_phase; /* writes pending sockets, up to flush_batch per loop turn */
    uv_idle_t flush_more;     /* active while the flush list is not empty: poll without sleeping */
    uv_timer_t flush_timer;   /* --write-delay: wakes the loop when the oldest connection is due */
    uv_timer_t sweep;         /* liveness, handshake and token deadlines */
    uv_timer_t tick;          /* deferred updates and lingers (pd_rooms_tick) */
    uv_timer_t drain_timer;
    int port;
    int listening;
    int draining;
    unsigned max_conns;

    pd_jwt_verifier_t *jwt;         /* local tokens, or */
    pd_verifier_t *verifier;        /* the verify endpoint */
    unsigned char dev_secret[32];
    const unsigned char *mint_key; /* HS256 key /dev/token signs with */
    size_t mint_key_len;
    uint64_t drain_deadline_ms;
    pd_rooms_t *rooms;
    pd_proto_limits_t proto_limits;
    pd_http_limits_t http_limits;

    pd_list_t conns;        /* every connection */
    pd_map_t http_by_addr;  /* address -> pd_addr_count_t, for --max-handshakes-per-ip */
    pd_list_t flush_list;   /* connections with queued bytes and no write in flight */
    pd_list_t delay_list;   /* the same for members while --write-delay holds them */
    uint32_t flush_pushes;  /* connections ever put on flush_list (wraps) */
    unsigned n_conns;

    pd_client_msg_t msg;    /* reused for decoding */
    pd_buf_t scratch;       /* reused for encoding single messages */
    pd_shared_t *ping_frame;/* a WebSocket ping, shared by every connection */
    char read_buf[65536];   /* reads are processed before the next one */

    /* Fan-out latency samples, oldest first (a ring): an update is out once
     * every connection queued before its flush phase (flush_seq <= upto) is. */
    struct {
        uint64_t t0;        /* hrtime the update was read */
        uint32_t upto;      /* flush_pushes when its flush phase began */
    } latency[PD_LATENCY_SAMPLES];
    unsigned latency_head, n_latency, n_latency_new;

    pd_metrics_t metrics;
    pd_uring_t *uring;      /* the flush phase's writes, or NULL: writev */
};

struct pd_conn {
    uv_tcp_t tcp;
    pd_server_t *srv;
    pd_conn_state_t state;
    unsigned writing : 1;      /* a uv_write is in flight */
    unsigned resync : 1;       /* backlog dropped; a snapshot follows when drained */
    unsigned refresh_asked : 1;/* TOKEN_REFRESH_REQUIRED sent */
    unsigned clean_close : 1;  /* the peer sent a close frame */
    unsigned evict_slow : 1;   /* fell behind too often; closed in the flush phase */
    unsigned app_pings : 1;    /* sends app-level pings: only messages prove it alive */
    unsigned over_limit : 1;   /* accepted past --max-conns: status answers or 503 only */
    unsigned behind : 1;       /* the kernel refused bytes and the queue has not drained since */
    unsigned broken : 1;       /* a write failed inside a broadcast; closed in the flush phase */
    pd_list_t link;            /* in srv->conns */
    pd_list_t flush_link;      /* in srv->flush_list or srv->delay_list */
    uint32_t flush_seq;        /* srv->flush_pushes when it joined flush_list */
    uint32_t flush_ms;         /* on delay_list: loop time (ms, wraps) it is due */
    uint32_t last_write_ms;    /* loop time (ms, wraps) of its last write */
    float msg_tokens;          /* message budget left (--msg-rate, --msg-burst) */
    uint32_t msg_ms;           /* loop time (ms, wraps) the budget was last refilled */
    size_t inflight;           /* bytes handed to uv_write */
    uint32_t inflight_items;   /* queue entries covered by that write */
    uint64_t created_ms;
    uint64_t last_recv_ms;     /* any bytes */
    uint64_t last_text_ms;     /* a message; what counts once app_pings is set */
    uint64_t last_ping_ms;
    uint64_t deadline_ms;      /* closing: force close; expiry: end of grace */
    int64_t expires_at_ms;     /* token expiry, 0 = never */
    uint32_t resyncs;          /* resynchronisations in the current window */
    uint64_t resync_window_ms;
    pd_http_parser_t *http;    /* only while reading the request */
    struct pd_addr_count *addr;/* its address's count of HTTP-phase connections, or NULL */
    pd_ws_t *ws;
    pd_member_t *member;
    struct pd_admission *admission; /* while the token is being checked */
    pd_verify_req_t *refresh;       /* a token_refresh being checked */
    pd_outq_t outq;
};

/* conn.c */
void pd_conn_accept(pd_server_t *srv);
/* 1 when s is 1..max bytes of [A-Za-z0-9_-] (workspace ids, _pk). */
int pd_valid_id(pd_slice_t s, size_t max);
/* Sends {"type":type,"code":code[,"message":message]} (type "error" or "auth_error"). */
void pd_conn_send_code(pd_conn_t *c, const char *type, const char *code, const char *message);
/* Decodes and applies one message of an admitted connection. */
void pd_conn_handle_text(pd_conn_t *c, const char *data, size_t len);
/* Queues a single message (JSON text) for conn, framed for it alone. */
void pd_conn_send_json(pd_conn_t *c, pd_slice_t json);
/* Queues a shared, already framed message. */
void pd_conn_enqueue(pd_conn_t *c, pd_shared_t *frame);
/* Sends a close frame (after an optional JSON message) and closes once written. */
void pd_conn_close_ws(pd_conn_t *c, uint16_t code, const char *reason);
/* Closes at once without a close frame. */
void pd_conn_abort(pd_conn_t *c);
/* Writes the queue while the kernel takes it; called from the flush phase. */
void pd_conn_flush(pd_conn_t *c);
/*
 * pd_conn_flush with its first write made by the caller (through io_uring):
 * begin fills up to PD_MAX_IOV iovecs and the socket's descriptor and
 * returns their count, or 0 when it has done all of the flush itself; the
 * iovecs stay valid until end, which takes the write's result (bytes, a
 * negative errno, or PD_URING_NOT_SENT) and finishes the flush.
 */
unsigned pd_conn_flush_begin(pd_conn_t *c, int *fd, struct iovec *iov, size_t *total);
void pd_conn_flush_end(pd_conn_t *c, int res);
/* Periodic checks: handshake, idle, ping, token expiry, closing deadline. */
void pd_conn_sweep(pd_conn_t *c, uint64_t now);
/* The member's connection was taken over or kicked (from rooms). */
void pd_conn_detached(pd_conn_t *c, pd_detach_reason_t why);

/* server.c */
pd_shared_t *pd_server_frame(pd_server_t *srv, const char *json, size_t len);
void pd_server_wants_flush(pd_server_t *srv, pd_conn_t *c);
void pd_server_schedule_tick(pd_server_t *srv);
uint64_t pd_server_now(const pd_server_t *srv);

/* admit.c: admission (JWT or verify endpoint) and token refresh. */
void pd_admit_start(pd_conn_t *c, const pd_http_request_t *req, pd_slice_t workspace);
/* Keeps a message that arrived while admission is pending; 0 when not pending. */
int pd_admit_buffer(pd_conn_t *c, const char *data, size_t len);
void pd_admit_refresh(pd_conn_t *c, pd_slice_t token);
/* Drops pending checks and buffered messages (the connection is leaving). */
void pd_admit_cancel(pd_conn_t *c);

/*
 * api.c: 1 when head is a call that reads a body (an authorized kick); no
 * other request's body is ever read.
 */
int pd_api_takes_body(const pd_server_t *srv, const pd_http_request_t *head);
/* api.c: answers /api/rooms...; returns 0 when the path is not the API's. */
int pd_api_handle(pd_conn_t *c, const pd_http_request_t *req);

/* routes.c: 1 for /healthz and /metrics, which are answered even past --max-conns. */
int pd_routes_is_status(pd_slice_t path);
/* routes.c: answers a complete plain HTTP request (not a room upgrade). */
void pd_routes_handle(pd_conn_t *c, const pd_http_request_t *req);
/* Appends an HTTP response and closes the connection once it is written. */
void pd_routes_respond(pd_conn_t *c, int status, const char *type, pd_slice_t body,
                       const char *extra_headers);

#endif
