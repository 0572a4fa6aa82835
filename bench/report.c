#include "report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"

/* ---- JSON ------------------------------------------------------------ */

static void sep(pd_buf_t *b)
{
    char last = b->len ? b->base[b->len - 1] : '\0';
    if (last && last != '{' && last != '[' && last != ':')
        pd_buf_append_char(b, ',');
}

static void key(pd_buf_t *b, const char *k)
{
    sep(b);
    if (!k)
        return;
    pd_proto_append_string(b, pd_slice_cstr(k));
    pd_buf_append_char(b, ':');
}

void lg_json_open(pd_buf_t *b, const char *k)
{
    key(b, k);
    pd_buf_append_char(b, '{');
}

void lg_json_close(pd_buf_t *b)
{
    pd_buf_append_char(b, '}');
}

void lg_json_array(pd_buf_t *b, const char *k)
{
    key(b, k);
    pd_buf_append_char(b, '[');
}

void lg_json_array_end(pd_buf_t *b)
{
    pd_buf_append_char(b, ']');
}

void lg_json_num(pd_buf_t *b, const char *k, double v)
{
    key(b, k);
    if (isfinite(v))
        pd_buf_appendf(b, "%.6g", v);
    else
        pd_buf_append_cstr(b, "null");
}

void lg_json_int(pd_buf_t *b, const char *k, uint64_t v)
{
    key(b, k);
    pd_buf_appendf(b, "%llu", (unsigned long long)v);
}

void lg_json_str(pd_buf_t *b, const char *k, const char *s)
{
    key(b, k);
    pd_proto_append_string(b, pd_slice_cstr(s));
}

void lg_json_bool(pd_buf_t *b, const char *k, int v)
{
    key(b, k);
    pd_buf_append_cstr(b, v ? "true" : "false");
}

/* ---- steps ----------------------------------------------------------- */

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

double lg_step_deliveries_per_s(const lg_step_t *s)
{
    return s->window_s > 0 ? (double)s->deliveries / s->window_s : 0;
}

double lg_step_p99_ms(const lg_step_t *s)
{
    return ms(lg_hist_quantile(&s->sum.r.latency, 0.99));
}

double lg_step_delivery_ratio(const lg_step_t *s)
{
    return s->expected ? (double)s->deliveries / (double)s->expected : 1.0;
}

double lg_step_others_s(const lg_step_t *s)
{
    double redis = s->redis_cpu_s > 0 ? s->redis_cpu_s : 0;
    return s->machine_cpu_s - s->server_cpu_s - s->gen_cpu_s - redis;
}

int lg_step_generator_limited(const lg_step_t *s)
{
    return s->gen_cpu_max_s > 0.85 * s->window_s || s->sum.r.max_lag_ns > 20000000;
}

void lg_json_latency(pd_buf_t *b, const char *k, const lg_hist_t *h)
{
    lg_json_open(b, k);
    lg_json_int(b, "samples", h->count);
    lg_json_num(b, "p50", ms(lg_hist_quantile(h, 0.50)));
    lg_json_num(b, "p90", ms(lg_hist_quantile(h, 0.90)));
    lg_json_num(b, "p99", ms(lg_hist_quantile(h, 0.99)));
    lg_json_num(b, "p999", ms(lg_hist_quantile(h, 0.999)));
    lg_json_num(b, "max", ms(h->max));
    lg_json_num(b, "mean", h->count ? ms(h->sum) / (double)h->count : 0);
    lg_json_close(b);
}

static void json_cpu(pd_buf_t *b, const lg_step_t *s)
{
    double d = (double)s->deliveries;
    lg_json_num(b, "server_cpu_s", s->server_cpu_s);
    lg_json_num(b, "server_cpu_util", s->server_cpu_s / s->window_s);
    lg_json_num(b, "server_rss_kib", (double)s->server_rss_kib);
    lg_json_num(b, "deliveries_per_server_cpu_s", s->server_cpu_s > 0 ? d / s->server_cpu_s : 0);
    lg_json_num(b, "server_cpu_ns_per_delivery", d > 0 ? s->server_cpu_s * 1e9 / d : 0);
    lg_json_num(b, "server_user_ns_per_delivery",
                d > 0 ? (s->server_cpu_s - s->server_sys_s) * 1e9 / d : 0);
    if (s->nodes > 1) {
        lg_json_array(b, "server_node_cpu_util");
        for (unsigned i = 0; i < s->nodes; i++)
            lg_json_num(b, NULL, s->node_cpu_s[i] / s->window_s);
        lg_json_array_end(b);
    }
    if (s->redis_cpu_s >= 0) {
        lg_json_num(b, "redis_cpu_s", s->redis_cpu_s);
        lg_json_num(b, "redis_cpu_util", s->redis_cpu_s / s->window_s);
        lg_json_num(b, "redis_ns_per_delivery", d > 0 ? s->redis_cpu_s * 1e9 / d : 0);
    }
    lg_json_num(b, "generator_cpu_s", s->gen_cpu_s);
    lg_json_num(b, "generator_busiest_proc_util", s->gen_cpu_max_s / s->window_s);
    lg_json_num(b, "machine_busy_cores", s->machine_cpu_s / s->window_s);
    lg_json_num(b, "other_programs_cores", lg_step_others_s(s) / s->window_s);
    lg_json_bool(b, "generator_limited", lg_step_generator_limited(s));
}

void lg_json_step(pd_buf_t *b, const lg_step_t *s)
{
    const lg_report_t *r = &s->sum.r;
    lg_json_num(b, "rate_per_member", s->rate);
    lg_json_num(b, "window_s", s->window_s);
    lg_json_int(b, "updates_sent", s->sent);
    lg_json_int(b, "deliveries", s->deliveries);
    lg_json_int(b, "expected_deliveries", s->expected);
    lg_json_num(b, "delivery_ratio", lg_step_delivery_ratio(s));
    lg_json_num(b, "deliveries_per_s", lg_step_deliveries_per_s(s));
    lg_json_latency(b, "latency_ms", &r->latency);
    json_cpu(b, s);
    lg_json_num(b, "send_lag_max_ms", ms(r->max_lag_ns));
    lg_json_int(b, "resyncs", r->resyncs);
    lg_json_int(b, "dropped_connections", r->dropped);
    lg_json_int(b, "errors", r->errors);
    lg_json_str(b, "first_error", r->first_error);
}

void lg_human_step(pd_buf_t *b, const char *label, const lg_step_t *s)
{
    const lg_hist_t *h = &s->sum.r.latency;
    char redis[48] = "";
    if (s->nodes > 1 || s->redis_cpu_s >= 0)
        snprintf(redis, sizeof(redis), " on %u nodes", s->nodes);
    if (s->redis_cpu_s >= 0)
        snprintf(redis + strlen(redis), sizeof(redis) - strlen(redis), ", redis %.3f cores",
                 s->redis_cpu_s / s->window_s);
    pd_buf_appendf(b,
                   "%s: %.4g upd/s/member -> %.0f deliveries/s (ratio %.4f), latency p50 %.2f "
                   "p99 %.2f p99.9 %.2f max %.2f ms; server %.2f cores%s, generator %.2f cores "
                   "(busiest proc %.2f), others %.2f%s\n",
                   label, s->rate, lg_step_deliveries_per_s(s), lg_step_delivery_ratio(s),
                   ms(lg_hist_quantile(h, 0.5)), ms(lg_hist_quantile(h, 0.99)),
                   ms(lg_hist_quantile(h, 0.999)), ms(h->max), s->server_cpu_s / s->window_s, redis,
                   s->gen_cpu_s / s->window_s, s->gen_cpu_max_s / s->window_s,
                   lg_step_others_s(s) / s->window_s,
                   lg_step_generator_limited(s) ? " [generator-limited]" : "");
}
