/*
 * Private to the worker process: its connections and its state, shared by
 * worker.c (the loop, connecting, commands, reports), traffic.c (sending
 * updates on schedule, accounting for what arrives, the final-state check)
 * and churn.c (short-lived connections and the ghost check).
 */
#ifndef LG_WORKER_H
#define LG_WORKER_H

#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "base/buf.h"
#include "base/list.h"
#include "bench.h"
#include "client.h"

typedef enum {
    LG_KIND_MEMBER,
    LG_KIND_CHURNER,
    LG_KIND_OBSERVER
} lg_kind_t;

typedef struct lg_worker lg_worker_t;

typedef struct {
    lg_conn_t conn;
    lg_worker_t *w;
    uint32_t room;
    uint32_t index; /* members: the index in the room; others: a serial */
    uint8_t kind;
    uint8_t node;     /* which server (cluster node) it connects to */
    uint8_t admitted; /* its snapshot arrived */
    uint8_t leaving;  /* we are closing it */
    uint16_t seq;     /* members: the last sequence number sent (0: none) */
    uint16_t *seen;   /* members: the last sequence number seen from each member */
    uint64_t t_connect;
    uint64_t t_leave; /* churners: when to go */
    pd_list_t link;   /* churners: in the leave queue */
} lg_member_t;

struct lg_worker {
    const lg_cfg_t *cfg;
    unsigned index;
    int cmd_fd, rep_fd;
    uv_loop_t loop;
    uv_poll_t cmd_poll;
    uv_timer_t send_timer; /* the step's schedule */
    uv_timer_t wait_timer; /* the end of a step, the check, the ghost check */
    uv_timer_t churn_timer;
    lg_net_t *net;
    lg_member_t *members;
    uint32_t n_members;
    uint32_t next_connect, connecting;
    int connect_reported;
    lg_cmd_t step;
    uint64_t step_sent; /* updates sent since the step started */
    uint32_t cursor;    /* the next member to send */
    int measuring;      /* 0 before the measured time, 1 in it, 2 after */
    double cpu_mark;
    uint64_t last_changed_ns;
    uint16_t *last_table; /* the final check: each member's last sequence number */
    uint64_t check_t0;
    lg_report_t rep;
    pd_buf_t scratch;
    /* churn */
    pd_list_t churners; /* open or opening, oldest first */
    uint64_t churn_serial;
    uint64_t churn_t0;
    /* ghosts */
    unsigned observers, ghost_round_bad;
    uint64_t ghost_t0, ghost_deadline;
};

/* Whether a message starts with prefix (messages are told apart by their start). */
static inline int lg_has_prefix(const char *data, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(data, prefix, n) == 0;
}

/* worker.c */
/* Connects m as a new user of room; its kind and index must be set. */
void lg_worker_connect(lg_worker_t *w, lg_member_t *m);
/* A steady member got its snapshot. */
void lg_worker_admitted(lg_worker_t *w, lg_member_t *m);
/* Sends the report of command op; resets the per-step counters. */
void lg_worker_report(lg_worker_t *w, uint32_t op);
void lg_worker_note_error(lg_worker_t *w, const char *what, size_t len);
/* Counts a connection that ended unexpectedly, keeping the first reason. */
void lg_worker_note_end(lg_worker_t *w, const lg_conn_t *c);

/* traffic.c */
void lg_traffic_step(lg_worker_t *w, const lg_cmd_t *cmd);
/* A text message for a steady member. */
void lg_traffic_text(lg_worker_t *w, lg_member_t *m, const char *data, size_t len);
/* Reports the last sequence number each own member sent. */
void lg_traffic_report_last(lg_worker_t *w);
/* Reads the table of last sequence numbers and counts mismatches. */
void lg_traffic_check(lg_worker_t *w);

/* churn.c */
void lg_churn_start(lg_worker_t *w);
void lg_churn_text(lg_worker_t *w, lg_member_t *m, const char *data, size_t len);
void lg_churn_ended(lg_worker_t *w, lg_member_t *m);
void lg_ghosts_start(lg_worker_t *w);

#endif
