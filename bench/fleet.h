/*
 * The worker processes, seen from the parent: forking them, sending
 * commands, and reading and summing their reports.
 */
#ifndef LG_FLEET_H
#define LG_FLEET_H

#include <sys/types.h>

#include "bench.h"

#define LG_MAX_PROCS 32

typedef struct {
    unsigned n;
    pid_t pid[LG_MAX_PROCS];
    int cmd[LG_MAX_PROCS];
    int rep[LG_MAX_PROCS];
} lg_fleet_t;

/* The sum of the workers' reports for one command. */
typedef struct {
    lg_report_t r;           /* counters summed, histograms merged */
    double max_cpu_window_s; /* the busiest worker's CPU in the measured time */
    double max_cpu_total_s;
} lg_sum_t;

/* Forks cfg->procs workers. Returns 0, or -1 (those already forked are killed). */
int lg_fleet_start(lg_fleet_t *f, const lg_cfg_t *cfg);

/* Sends cmd (and extra bytes after it) to workers first..first+count-1. */
int lg_fleet_send(lg_fleet_t *f, unsigned first, unsigned count, const lg_cmd_t *cmd,
                  const void *extra, size_t extra_len);

/* Reads one report from each of workers 0..count-1 into *sum. 0 or -1. */
int lg_fleet_collect(lg_fleet_t *f, unsigned count, lg_sum_t *sum);

/*
 * Reads each worker's report of LG_CMD_LAST and the table after it, and
 * merges the tables (n entries) into table. 0 or -1.
 */
int lg_fleet_collect_last(lg_fleet_t *f, uint16_t *table, size_t n);

/* Tells every worker to exit and reaps them (SIGKILL after 5 s). */
void lg_fleet_stop(lg_fleet_t *f);

/* Async-signal-safe: kills every worker. */
void lg_fleet_kill(const lg_fleet_t *f);

#endif
