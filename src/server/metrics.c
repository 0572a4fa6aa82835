#include "metrics.h"

static const double bucket_bounds[PD_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
};

void pd_metrics_observe_latency(pd_metrics_t *m, double seconds)
{
    for (int i = 0; i < PD_LATENCY_BUCKETS; i++) {
        if (seconds <= bucket_bounds[i]) {
            m->latency_buckets[i]++;
            break;
        }
    }
    m->latency_count++;
    m->latency_sum_s += seconds;
}

static void add_array(uint64_t *dst, const uint64_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

#define ADD_ARRAY(field) add_array(dst->field, src->field, sizeof(dst->field) / sizeof(uint64_t))

void pd_metrics_add(pd_metrics_t *dst, const pd_metrics_t *src)
{
    dst->connections += src->connections;
    dst->http_connections += src->http_connections;
    dst->accepted_total += src->accepted_total;
    dst->rejected_total += src->rejected_total;
    dst->busy_total += src->busy_total;
    dst->addr_rejected_total += src->addr_rejected_total;
    dst->accept_pauses_total += src->accept_pauses_total;
    dst->messages_in_total += src->messages_in_total;
    dst->messages_out_total += src->messages_out_total;
    dst->bytes_in_total += src->bytes_in_total;
    dst->bytes_out_total += src->bytes_out_total;
    dst->writes_total += src->writes_total;
    dst->bad_messages_total += src->bad_messages_total;
    dst->resyncs_total += src->resyncs_total;
    dst->superseded_total += src->superseded_total;
    ADD_ARRAY(auth_failures);
    dst->admission_rejects_room_full += src->admission_rejects_room_full;
    dst->admission_rejects_too_many += src->admission_rejects_too_many;
    ADD_ARRAY(evictions);
    ADD_ARRAY(latency_buckets);
    dst->latency_count += src->latency_count;
    dst->latency_sum_s += src->latency_sum_s;
}

static void metric(pd_buf_t *out, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    pd_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                   (unsigned long long)value);
}

static void labelled(pd_buf_t *out, const char *name, const char *label, const char *value,
                     uint64_t n)
{
    pd_buf_appendf(out, "%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)n);
}

static void render_auth(const pd_metrics_t *m, pd_buf_t *out)
{
    static const char *name = "presenced_auth_failures_total";
    pd_buf_appendf(out,
                   "# HELP %s Connections refused at admission, by reason.\n"
                   "# TYPE %s counter\n",
                   name, name);
    for (int s = PD_AUTH_MISSING; s <= PD_AUTH_UNAVAILABLE; s++)
        labelled(out, name, "reason", pd_auth_code((pd_auth_status_t)s), m->auth_failures[s]);
    labelled(out, name, "reason", "ROOM_FULL", m->admission_rejects_room_full);
    labelled(out, name, "reason", "TOO_MANY_CONNECTIONS", m->admission_rejects_too_many);
}

static void render_evictions(const pd_metrics_t *m, pd_buf_t *out)
{
    static const char *reasons[PD_EVICT_COUNT] = {"idle",     "slow",   "expired",
                                                  "replaced", "kicked", "rate"};
    static const char *name = "presenced_evictions_total";
    pd_buf_appendf(out,
                   "# HELP %s Connections closed by the server, by reason.\n"
                   "# TYPE %s counter\n",
                   name, name);
    for (int r = 0; r < PD_EVICT_COUNT; r++)
        labelled(out, name, "reason", reasons[r], m->evictions[r]);
}

static void render_latency(const pd_metrics_t *m, pd_buf_t *out)
{
    static const char *name = "presenced_fanout_latency_seconds";
    pd_buf_appendf(out,
                   "# HELP %s From reading a presence update to writing it to every receiver.\n"
                   "# TYPE %s histogram\n",
                   name, name);
    uint64_t cum = 0;
    for (int i = 0; i < PD_LATENCY_BUCKETS; i++) {
        cum += m->latency_buckets[i];
        pd_buf_appendf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bucket_bounds[i],
                       (unsigned long long)cum);
    }
    pd_buf_appendf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", name,
                   (unsigned long long)m->latency_count, name, m->latency_sum_s, name,
                   (unsigned long long)m->latency_count);
}

void pd_metrics_render(const pd_metrics_t *m, size_t rooms, pd_buf_t *out)
{
    metric(out, "presenced_connections", "gauge", "Open WebSocket connections.", m->connections);
    metric(out, "presenced_http_connections", "gauge", "Connections still in the HTTP phase.",
           m->http_connections);
    metric(out, "presenced_rooms", "gauge", "Rooms with at least one member.", rooms);
    metric(out, "presenced_accepted_total", "counter", "TCP connections accepted.",
           m->accepted_total);
    metric(out, "presenced_rejected_total", "counter", "TCP connections shed at a limit.",
           m->rejected_total);
    metric(out, "presenced_busy_total", "counter", "Requests answered 503 past --max-conns.",
           m->busy_total);
    metric(out, "presenced_addr_rejected_total", "counter",
           "TCP connections shed at --max-handshakes-per-ip.", m->addr_rejected_total);
    metric(out, "presenced_accept_pauses_total", "counter",
           "Times accepting paused 100 ms: out of file descriptors, none to shed with.",
           m->accept_pauses_total);
    metric(out, "presenced_messages_in_total", "counter", "WebSocket messages received.",
           m->messages_in_total);
    metric(out, "presenced_messages_out_total", "counter", "Messages queued to connections.",
           m->messages_out_total);
    metric(out, "presenced_bytes_in_total", "counter", "Bytes received.", m->bytes_in_total);
    metric(out, "presenced_bytes_out_total", "counter", "Bytes written.", m->bytes_out_total);
    metric(
        out, "presenced_writes_total", "counter",
        "Socket writes (one writev each); messages_out_total / writes_total is messages per write.",
        m->writes_total);
    metric(out, "presenced_bad_messages_total", "counter", "Messages answered with BAD_MESSAGE.",
           m->bad_messages_total);
    metric(out, "presenced_resyncs_total", "counter",
           "Slow readers resynchronised with a snapshot.", m->resyncs_total);
    metric(
        out, "presenced_superseded_total", "counter",
        "presence_changed messages a connection behind skipped for a newer one of the same user.",
        m->superseded_total);
    render_auth(m, out);
    render_evictions(m, out);
    render_latency(m, out);
}

void pd_metrics_render_threads(const unsigned *conns, unsigned n, pd_buf_t *out)
{
    metric(out, "presenced_threads", "gauge", "Loop threads the rooms are sharded over.", n);
    static const char *name = "presenced_thread_connections";
    pd_buf_appendf(out,
                   "# HELP %s Connections (any state) on each thread.\n"
                   "# TYPE %s gauge\n",
                   name, name);
    for (unsigned i = 0; i < n; i++)
        pd_buf_appendf(out, "%s{thread=\"%u\"} %u\n", name, i, conns[i]);
}
