/*
 * The scenarios, run from the parent process: connect the steady members,
 * drive the measured steps, run the final checks, and write the result as
 * one JSON object and a few human lines.
 *
 *   idle    connect rooms x members and hold them: connect rate, server RSS
 *           per connection, server CPU while idle.
 *   fanout  every member updates at the given rate: deliveries/s, latency
 *           from send to every receive, CPU per delivery, lost final states.
 *   churn   fanout while churners join and leave; no ghost left at the end.
 *   max     fanout steps of growing rate until p99 latency passes the bound;
 *           the last passing step is the result.
 */
#ifndef LG_SCENARIO_H
#define LG_SCENARIO_H

#include <sys/types.h>

#include "base/buf.h"
#include "bench.h"
#include "fleet.h"

typedef struct {
    const lg_cfg_t *cfg;
    lg_fleet_t *fleet;               /* started and stopped by the scenario */
    pid_t server_pids[LG_MAX_NODES]; /* the server or each node, read from /proc */
    unsigned n_server_pids;          /* 0 when unknown; CPU and memory are summed */
    pid_t redis_pid;                 /* a cluster's redis-server, read from /proc; 0: none */
    char *api_secret;                /* churn: check every node's /api/rooms; NULL: not */
    const char *label;               /* the server's name in the results */
    const char *case_name;           /* the run's name in the results; NULL: the scenario's */
    pd_buf_t json;                   /* one JSON object */
    pd_buf_t human;                  /* lines for people */
} lg_run_t;

/* Returns 0 when the scenario ran to the end, -1 when a worker failed. */
int lg_scenario_run(lg_run_t *run);

/* "idle", "fanout", "churn" or "max"; 0 for an unknown name. */
lg_scenario_t lg_scenario_parse(const char *name);
const char *lg_scenario_name(lg_scenario_t s);

#endif
