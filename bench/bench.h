/*
 * presence-bench: what the parent process and its worker processes share.
 * The parent forks the workers, each of which owns a slice of the
 * connections on its own libuv loop; it drives them through steps with
 * fixed-size commands on a pipe and sums the reports they send back. Times
 * are CLOCK_MONOTONIC nanoseconds (uv_hrtime()), which every process on the
 * machine shares, so a timestamp written by one worker can be read by
 * another.
 */
#ifndef LG_BENCH_H
#define LG_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

typedef enum {
    LG_IDLE = 1,
    LG_FANOUT,
    LG_CHURN,
    LG_MAX
} lg_scenario_t;

/* The most nodes of a cluster one run drives (client.h's LG_NET_MAX_SERVERS). */
#define LG_MAX_NODES 8

typedef struct {
    lg_scenario_t scenario;
    int ports[LG_MAX_NODES]; /* the server, or the nodes of a cluster */
    unsigned nodes;          /* ports given: member i of a room uses node i % nodes */
    unsigned rooms, members; /* the steady members: rooms x members connections */
    double rate;             /* updates/s per member (max: of the first step) */
    double duration_s;       /* measured time of a step */
    double warmup_s;         /* load before the measured time */
    double hold_s;           /* idle: time connected before memory is read */
    double churn_rate;       /* churn: connections opened (and closed) per second */
    double churn_hold_s;     /* churn: how long each stays */
    double churn_abrupt;     /* churn: the share that drops without a close frame */
    double max_p99_ms;       /* max: the latency bound of a passing step */
    double max_growth;       /* max: rate factor between steps */
    unsigned max_steps;
    unsigned procs;          /* worker processes */
    unsigned n_src;          /* loopback source addresses */
    unsigned connect_window; /* handshakes in flight per worker */
    double timeout_s;        /* hard bound on the whole run */
    unsigned char secret[512];
    size_t secret_len;
} lg_cfg_t;

typedef enum {
    LG_REP_CONNECTED = 0, /* a report only: every member has connected or failed */
    LG_CMD_STEP = 1,      /* send updates from t_start to t_end at rate */
    LG_CMD_LAST,          /* report each member's last sequence number */
    LG_CMD_CHECK,         /* compare what each member saw with the table that follows */
    LG_CMD_GHOSTS,        /* connect observers and count users that should be gone */
    LG_CMD_EXIT,
} lg_op_t;

typedef struct {
    uint32_t op;
    double rate;
    uint64_t t_start, t_measure, t_end;
} lg_cmd_t;

/* Counters a worker reports after each command; the parent sums them. */
typedef struct {
    uint32_t op;
    uint32_t worker;
    /* connecting */
    uint64_t admitted, failed, dropped; /* dropped: ended after admission, not by us */
    uint64_t t_first_connect, t_last_admit;
    /* the step */
    uint64_t sent, sent_window, deliveries, changed_total;
    uint64_t joined, left, errors, resyncs;
    uint64_t max_lag_ns; /* how far sending fell behind its schedule at worst */
    double cpu_window_s; /* this worker's CPU during the measured time */
    double cpu_total_s;
    /* churn */
    uint64_t churn_opened, churn_closed, churn_failed;
    /* the end */
    uint64_t lost, checked, ghosts, missing;
    uint64_t settle_ms;
    char first_error[96];
    lg_hist_t latency; /* send to receive of each delivery in the measured time */
    lg_hist_t join;    /* connect to snapshot */
} lg_report_t;

/* Runs worker index of cfg->procs on its own loop; never returns. */
void lg_worker_main(const lg_cfg_t *cfg, unsigned index, int cmd_fd, int rep_fd)
    __attribute__((noreturn));

/* Blocking whole reads and writes on a pipe; 0 or -1. */
int lg_read_full(int fd, void *buf, size_t len);
int lg_write_full(int fd, const void *buf, size_t len);

#endif
