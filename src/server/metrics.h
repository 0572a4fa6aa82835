/*
 * Counters and one latency histogram, rendered in the Prometheus text
 * exposition format for GET /metrics. Plain integers: a metrics struct
 * belongs to one event loop (one thread); /metrics adds up copies that each
 * thread made of its own.
 */
#ifndef PD_SERVER_METRICS_H
#define PD_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "../auth/identity.h"
#include "../base/buf.h"

typedef enum {
    PD_EVICT_IDLE = 0, /* silent past the idle timeout */
    PD_EVICT_SLOW,     /* could not keep up with its room */
    PD_EVICT_EXPIRED,  /* token expired and was not refreshed */
    PD_EVICT_REPLACED, /* another connection took over its _pk */
    PD_EVICT_KICKED,   /* removed through the API */
    PD_EVICT_RATE,     /* sent messages past its budget (--msg-rate, --msg-burst) */
    PD_EVICT_COUNT
} pd_evict_reason_t;

#define PD_LATENCY_BUCKETS 14

typedef struct {
    uint64_t connections;      /* open WebSocket connections (gauge) */
    uint64_t http_connections; /* TCP connections still in the HTTP phase (gauge) */
    uint64_t accepted_total;
    uint64_t rejected_total;      /* shed at the connection limit or on EMFILE */
    uint64_t busy_total;          /* answered 503 past --max-conns */
    uint64_t addr_rejected_total; /* shed at --max-handshakes-per-ip */
    uint64_t accept_pauses_total; /* out of descriptors with none to shed on: accepting paused */
    uint64_t messages_in_total;
    uint64_t messages_out_total; /* messages queued to connections */
    uint64_t bytes_in_total;
    uint64_t bytes_out_total;
    uint64_t writes_total; /* writev calls that carried bytes */
    uint64_t bad_messages_total;
    uint64_t resyncs_total;
    uint64_t superseded_total; /* superseded messages a connection behind skipped */
    uint64_t auth_failures[PD_AUTH_UNAVAILABLE + 1]; /* by pd_auth_status_t */
    uint64_t admission_rejects_room_full;
    uint64_t admission_rejects_too_many;
    uint64_t evictions[PD_EVICT_COUNT];
    uint64_t latency_buckets[PD_LATENCY_BUCKETS]; /* cumulative at render time */
    uint64_t latency_count;
    double latency_sum_s;
} pd_metrics_t;

/* Adds src's counters, gauges and histogram to dst (the threads' metrics into one). */
void pd_metrics_add(pd_metrics_t *dst, const pd_metrics_t *src);

/* Appends presenced_threads and each thread's connections (any state). */
void pd_metrics_render_threads(const unsigned *conns, unsigned n, pd_buf_t *out);

/* Records one fan-out latency (from reading an update to handing its frames to the kernel). */
void pd_metrics_observe_latency(pd_metrics_t *m, double seconds);

/* Appends the exposition text; rooms is the current room count. */
void pd_metrics_render(const pd_metrics_t *m, size_t rooms, pd_buf_t *out);

#endif
