/*
 * Results: a small JSON writer (one object per scenario, for scripts) and
 * the figures of one measured step, computed from the workers' summed
 * reports and the server's /proc readings.
 */
#ifndef LG_REPORT_H
#define LG_REPORT_H

#include <stdint.h>

#include "base/buf.h"
#include "fleet.h"

/* ---- JSON ---- */
/* Each call adds the comma that separates it from what came before. */
void lg_json_open(pd_buf_t *b, const char *key); /* key NULL: a value, e.g. in an array */
void lg_json_close(pd_buf_t *b);
void lg_json_array(pd_buf_t *b, const char *key);
void lg_json_array_end(pd_buf_t *b);
void lg_json_num(pd_buf_t *b, const char *key, double v); /* non-finite: null */
void lg_json_int(pd_buf_t *b, const char *key, uint64_t v);
void lg_json_str(pd_buf_t *b, const char *key, const char *s);
void lg_json_bool(pd_buf_t *b, const char *key, int v);

/* ---- one measured step ---- */
typedef struct {
    double rate; /* updates/s per member */
    double window_s;
    unsigned members; /* per room */
    uint64_t sent, deliveries, expected;
    double server_cpu_s; /* all nodes of a cluster together */
    double server_sys_s; /* of which in the kernel */
    unsigned nodes;      /* server processes read (0: none) */
    double node_cpu_s[LG_MAX_NODES];
    double redis_cpu_s; /* a cluster's redis-server; < 0 when not measured */
    long server_rss_kib;
    double gen_cpu_s;     /* all workers, in the window */
    double gen_cpu_max_s; /* the busiest worker */
    double machine_cpu_s; /* every core's busy time, whoever used it */
    unsigned cpus;
    lg_sum_t sum;
} lg_step_t;

double lg_step_deliveries_per_s(const lg_step_t *s);
double lg_step_p99_ms(const lg_step_t *s);
double lg_step_delivery_ratio(const lg_step_t *s);
/* CPU seconds of the window that neither the servers, Redis nor the generator used. */
double lg_step_others_s(const lg_step_t *s);
/* The busiest worker used over 85 % of a core, or sending fell over 20 ms behind. */
int lg_step_generator_limited(const lg_step_t *s);

/* Appends the step's figures as fields of the current object. */
void lg_json_step(pd_buf_t *b, const lg_step_t *s);
/* Appends a one-line summary. */
void lg_human_step(pd_buf_t *b, const char *label, const lg_step_t *s);
/* Latency fields (milliseconds) of a histogram of nanoseconds, as an object. */
void lg_json_latency(pd_buf_t *b, const char *key, const lg_hist_t *h);

#endif
