#include "scenario.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apicheck.h"
#include "base/mem.h"
#include "procstat.h"
#include "report.h"

#define STEP_LEAD_NS 200000000ull /* commands reach every worker before the start */

static const char *const names[] = {NULL, "idle", "fanout", "churn", "max"};

lg_scenario_t lg_scenario_parse(const char *name)
{
    for (int i = LG_IDLE; i <= LG_MAX; i++)
        if (strcmp(name, names[i]) == 0)
            return (lg_scenario_t)i;
    return 0;
}

const char *lg_scenario_name(lg_scenario_t s)
{
    return s >= LG_IDLE && s <= LG_MAX ? names[s] : "unknown";
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000ull), (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* The server's figures, summed over the nodes of a cluster; node_cpu (or NULL) gets each one's CPU. */
static void read_server(const lg_run_t *run, lg_proc_t *p, double *node_cpu)
{
    memset(p, 0, sizeof(*p));
    for (unsigned i = 0; i < run->n_server_pids; i++) {
        lg_proc_t one;
        if (run->server_pids[i] <= 0 || lg_proc_read(run->server_pids[i], &one) != 0)
            memset(&one, 0, sizeof(one));
        p->cpu_s += one.cpu_s;
        p->sys_s += one.sys_s;
        p->rss_kib += one.rss_kib;
        p->hwm_kib += one.hwm_kib;
        p->threads += one.threads;
        if (node_cpu)
            node_cpu[i] = one.cpu_s;
    }
}

/* redis-server's CPU seconds so far, or -1 when it is not measured. */
static double read_redis(const lg_run_t *run)
{
    lg_proc_t p;
    if (run->redis_pid <= 0 || lg_proc_read(run->redis_pid, &p) != 0)
        return -1;
    return p.cpu_s;
}

/* ---- steps ----------------------------------------------------------- */

/* Sends updates at rate for warmup + duration and measures the duration. */
static int run_step(lg_run_t *run, double rate, double warmup_s, double duration_s, lg_step_t *st)
{
    const lg_cfg_t *cfg = run->cfg;
    lg_cmd_t cmd = {.op = LG_CMD_STEP, .rate = rate};
    cmd.t_start = mono_ns() + STEP_LEAD_NS;
    cmd.t_measure = cmd.t_start + (uint64_t)(warmup_s * 1e9);
    cmd.t_end = cmd.t_measure + (uint64_t)(duration_s * 1e9);
    if (lg_fleet_send(run->fleet, 0, run->fleet->n, &cmd, NULL, 0) != 0)
        return -1;
    lg_proc_t p0, p1;
    double node0[LG_MAX_NODES], node1[LG_MAX_NODES];
    sleep_until(cmd.t_measure);
    read_server(run, &p0, node0);
    double redis0 = read_redis(run);
    double busy0 = lg_machine_busy_s();
    sleep_until(cmd.t_end);
    read_server(run, &p1, node1);
    double redis1 = read_redis(run);
    double busy1 = lg_machine_busy_s();
    memset(st, 0, sizeof(*st));
    st->nodes = run->n_server_pids;
    for (unsigned i = 0; i < st->nodes; i++)
        st->node_cpu_s[i] = node1[i] - node0[i];
    st->redis_cpu_s = redis0 >= 0 && redis1 >= 0 ? redis1 - redis0 : -1;
    if (lg_fleet_collect(run->fleet, run->fleet->n, &st->sum) != 0)
        return -1;
    st->rate = rate;
    st->window_s = duration_s;
    st->members = cfg->members;
    st->sent = st->sum.r.sent_window;
    st->deliveries = st->sum.r.deliveries;
    st->expected = st->sent * (cfg->members - 1);
    st->server_cpu_s = p1.cpu_s - p0.cpu_s;
    st->server_sys_s = p1.sys_s - p0.sys_s;
    st->server_rss_kib = p1.rss_kib;
    st->gen_cpu_s = st->sum.r.cpu_window_s;
    st->gen_cpu_max_s = st->sum.max_cpu_window_s;
    st->machine_cpu_s = busy1 - busy0;
    st->cpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    return 0;
}

/* Asks every worker for its members' last updates, then has them compare. */
static int final_check(lg_run_t *run, lg_sum_t *out)
{
    size_t n = (size_t)run->cfg->rooms * run->cfg->members;
    uint16_t *table = pd_malloc(n * sizeof(*table));
    lg_cmd_t last = {.op = LG_CMD_LAST}, check = {.op = LG_CMD_CHECK};
    int rc = lg_fleet_send(run->fleet, 0, run->fleet->n, &last, NULL, 0);
    if (rc == 0)
        rc = lg_fleet_collect_last(run->fleet, table, n);
    if (rc == 0)
        rc = lg_fleet_send(run->fleet, 0, run->fleet->n, &check, table, n * sizeof(*table));
    if (rc == 0)
        rc = lg_fleet_collect(run->fleet, run->fleet->n, out);
    free(table);
    return rc;
}

static void json_final(pd_buf_t *b, const lg_sum_t *check)
{
    lg_json_int(b, "lost_final_states", check->r.lost);
    lg_json_int(b, "final_pairs_checked", check->r.checked);
    lg_json_int(b, "final_settle_ms", check->r.settle_ms);
}

static void human_final(pd_buf_t *b, const char *label, const lg_sum_t *check)
{
    pd_buf_appendf(b, "%s: lost final states %llu of %llu pairs (settled in %llu ms)\n", label,
                   (unsigned long long)check->r.lost, (unsigned long long)check->r.checked,
                   (unsigned long long)check->r.settle_ms);
}

/* ---- the common header ----------------------------------------------- */

static void json_config(pd_buf_t *b, const lg_cfg_t *cfg)
{
    lg_json_open(b, "config");
    lg_json_int(b, "rooms", cfg->rooms);
    lg_json_int(b, "members_per_room", cfg->members);
    lg_json_num(b, "rate_per_member", cfg->rate);
    lg_json_num(b, "duration_s", cfg->duration_s);
    lg_json_num(b, "warmup_s", cfg->warmup_s);
    lg_json_int(b, "procs", cfg->procs);
    lg_json_int(b, "nodes", cfg->nodes);
    lg_json_int(b, "source_addresses", cfg->n_src);
    lg_json_int(b, "cpus", (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
    lg_json_close(b);
}

static double connect_s(const lg_sum_t *conn)
{
    const lg_report_t *r = &conn->r;
    return r->t_last_admit > r->t_first_connect
               ? (double)(r->t_last_admit - r->t_first_connect) / 1e9
               : 0;
}

static void json_connections(pd_buf_t *b, const lg_cfg_t *cfg, const lg_sum_t *conn)
{
    double secs = connect_s(conn);
    lg_json_open(b, "connections");
    lg_json_int(b, "wanted", (uint64_t)cfg->rooms * cfg->members);
    lg_json_int(b, "admitted", conn->r.admitted);
    lg_json_int(b, "failed", conn->r.failed);
    lg_json_num(b, "connect_s", secs);
    lg_json_num(b, "connects_per_s", secs > 0 ? (double)conn->r.admitted / secs : 0);
    lg_json_latency(b, "join_ms", &conn->r.join);
    lg_json_str(b, "first_error", conn->r.first_error);
    lg_json_close(b);
}

static void json_header(lg_run_t *run, const lg_sum_t *conn, const lg_proc_t *p0)
{
    pd_buf_t *b = &run->json;
    lg_json_open(b, NULL);
    const char *scenario = lg_scenario_name(run->cfg->scenario);
    lg_json_str(b, "case", run->case_name ? run->case_name : scenario);
    lg_json_str(b, "scenario", scenario);
    lg_json_str(b, "server", run->label);
    lg_json_int(b, "unix_time", (uint64_t)time(NULL));
    json_config(b, run->cfg);
    json_connections(b, run->cfg, conn);
    lg_json_num(b, "server_rss_start_kib", (double)p0->rss_kib);
}

static void human_connect(lg_run_t *run, const lg_sum_t *conn)
{
    pd_buf_appendf(&run->human, "%s %s: %llu of %u connections in %.2f s (%llu failed%s%s)\n",
                   lg_scenario_name(run->cfg->scenario), run->label,
                   (unsigned long long)conn->r.admitted, run->cfg->rooms * run->cfg->members,
                   connect_s(conn), (unsigned long long)conn->r.failed,
                   conn->r.first_error[0] ? ": " : "", conn->r.first_error);
}

/* ---- scenarios ------------------------------------------------------- */

static int run_idle(lg_run_t *run, const lg_proc_t *p0, const lg_sum_t *conn)
{
    lg_step_t st;
    if (run_step(run, 0, 0, run->cfg->hold_s, &st) != 0)
        return -1;
    pd_buf_t *b = &run->json;
    uint64_t n = conn->r.admitted;
    double per_conn = n ? (double)(st.server_rss_kib - p0->rss_kib) * 1024.0 / (double)n : 0;
    lg_json_num(b, "server_rss_kib", (double)st.server_rss_kib);
    lg_json_num(b, "server_rss_bytes_per_connection", per_conn);
    lg_json_num(b, "idle_server_cpu_util", st.server_cpu_s / st.window_s);
    lg_json_num(b, "other_programs_cores", lg_step_others_s(&st) / st.window_s);
    lg_json_num(b, "hold_s", st.window_s);
    lg_json_int(b, "dropped_connections", st.sum.r.dropped);
    lg_json_int(b, "user_joined_received", st.sum.r.joined + conn->r.joined);
    pd_buf_appendf(&run->human,
                   "idle %s: %llu connections held %.0f s: server RSS %ld KiB, %.0f bytes per "
                   "connection, idle CPU %.3f cores, %llu dropped\n",
                   run->label, (unsigned long long)n, st.window_s, st.server_rss_kib, per_conn,
                   st.server_cpu_s / st.window_s, (unsigned long long)st.sum.r.dropped);
    return 0;
}

static int run_fanout(lg_run_t *run)
{
    lg_step_t st;
    lg_sum_t check;
    if (run_step(run, run->cfg->rate, run->cfg->warmup_s, run->cfg->duration_s, &st) != 0 ||
        final_check(run, &check) != 0)
        return -1;
    lg_json_step(&run->json, &st);
    json_final(&run->json, &check);
    lg_human_step(&run->human, run->label, &st);
    human_final(&run->human, run->label, &check);
    return 0;
}

static void json_api_check(pd_buf_t *b, const lg_api_check_t *a)
{
    lg_json_open(b, "api_check");
    lg_json_bool(b, "clean", a->clean);
    lg_json_int(b, "ghosts", a->ghosts);
    lg_json_int(b, "missing_members", a->missing);
    lg_json_int(b, "rooms_wrong", a->rooms_wrong);
    lg_json_int(b, "errors", a->errors);
    lg_json_int(b, "requests", a->requests);
    lg_json_int(b, "settle_ms", a->settle_ms);
    lg_json_close(b);
}

static void json_churn(lg_run_t *run, const lg_step_t *st, const lg_sum_t *ghosts,
                       const lg_api_check_t *api)
{
    const lg_report_t *r = &st->sum.r;
    pd_buf_t *b = &run->json;
    lg_json_open(b, "churn");
    lg_json_num(b, "target_per_s", run->cfg->churn_rate);
    lg_json_num(b, "opened_per_s", (double)r->churn_opened / (st->window_s + run->cfg->warmup_s));
    lg_json_int(b, "opened", r->churn_opened);
    lg_json_int(b, "closed", r->churn_closed);
    lg_json_int(b, "failed", r->churn_failed);
    lg_json_num(b, "abrupt_share", run->cfg->churn_abrupt);
    lg_json_latency(b, "join_ms", &r->join);
    lg_json_int(b, "ghosts", ghosts->r.ghosts);
    lg_json_int(b, "missing_members", ghosts->r.missing);
    lg_json_int(b, "ghost_settle_ms", ghosts->r.settle_ms);
    if (api)
        json_api_check(b, api);
    lg_json_close(b);
}

static void human_churn(lg_run_t *run, const lg_step_t *st, const lg_sum_t *ghosts,
                        const lg_api_check_t *api)
{
    const lg_report_t *r = &st->sum.r;
    pd_buf_appendf(&run->human,
                   "%s: churn %llu opened, %llu closed, %llu failed; ghosts %llu, missing %llu "
                   "(settled in %llu ms)\n",
                   run->label, (unsigned long long)r->churn_opened,
                   (unsigned long long)r->churn_closed, (unsigned long long)r->churn_failed,
                   (unsigned long long)ghosts->r.ghosts, (unsigned long long)ghosts->r.missing,
                   (unsigned long long)ghosts->r.settle_ms);
    if (api)
        pd_buf_appendf(&run->human,
                       "%s: /api/rooms on %u nodes: %s (ghosts %llu, missing %llu, rooms wrong "
                       "%llu, errors %llu, after %llu ms)\n",
                       run->label, run->cfg->nodes, api->clean ? "exact" : "NOT exact",
                       (unsigned long long)api->ghosts, (unsigned long long)api->missing,
                       (unsigned long long)api->rooms_wrong, (unsigned long long)api->errors,
                       (unsigned long long)api->settle_ms);
}

static int run_churn(lg_run_t *run)
{
    lg_step_t st;
    lg_sum_t check, ghosts;
    lg_cmd_t cmd = {.op = LG_CMD_GHOSTS};
    if (run_step(run, run->cfg->rate, run->cfg->warmup_s, run->cfg->duration_s, &st) != 0 ||
        final_check(run, &check) != 0 || lg_fleet_send(run->fleet, 0, 1, &cmd, NULL, 0) != 0 ||
        lg_fleet_collect(run->fleet, 1, &ghosts) != 0)
        return -1;
    lg_api_check_t api;
    if (run->api_secret)
        lg_api_check(run->cfg, run->api_secret, &api);
    lg_json_step(&run->json, &st);
    json_final(&run->json, &check);
    json_churn(run, &st, &ghosts, run->api_secret ? &api : NULL);
    lg_human_step(&run->human, run->label, &st);
    human_final(&run->human, run->label, &check);
    human_churn(run, &st, &ghosts, run->api_secret ? &api : NULL);
    return 0;
}

/* Why a step does not pass, or NULL when it does. */
static const char *step_failure(const lg_cfg_t *cfg, const lg_step_t *st)
{
    if (lg_step_p99_ms(st) > cfg->max_p99_ms)
        return "p99 over the bound";
    if (lg_step_delivery_ratio(st) < 0.999)
        return "deliveries missing";
    if (st->sum.r.dropped)
        return "connections dropped";
    return NULL;
}

static void json_max_step(pd_buf_t *b, const lg_step_t *st, const char *failure)
{
    lg_json_open(b, NULL);
    lg_json_step(b, st);
    lg_json_bool(b, "pass", failure == NULL);
    lg_json_close(b);
}

/*
 * Steps of growing rate; two failing steps in a row end the search (one may
 * be noise). Returns the reason it stopped, or NULL when a worker failed.
 */
static const char *max_steps(lg_run_t *run, lg_step_t *best)
{
    const lg_cfg_t *cfg = run->cfg;
    const char *why = NULL;
    double rate = cfg->rate;
    unsigned fails = 0;
    lg_step_t st;
    lg_json_array(&run->json, "steps");
    for (unsigned i = 0; i < cfg->max_steps && fails < 2; i++, rate *= cfg->max_growth) {
        if (run_step(run, rate, cfg->warmup_s, cfg->duration_s, &st) != 0)
            return NULL;
        const char *failure = step_failure(cfg, &st);
        json_max_step(&run->json, &st, failure);
        lg_human_step(&run->human, run->label, &st);
        fails = failure ? fails + 1 : 0;
        if (failure)
            why = failure;
        else
            *best = st;
    }
    lg_json_array_end(&run->json);
    return fails < 2 ? "reached --max-steps" : why;
}

static int run_max(lg_run_t *run)
{
    pd_buf_t *b = &run->json;
    lg_step_t best = {0};
    lg_sum_t check;
    const char *why = max_steps(run, &best);
    if (!why || final_check(run, &check) != 0)
        return -1;
    lg_json_num(b, "bound_p99_ms", run->cfg->max_p99_ms);
    lg_json_str(b, "stopped_because", why);
    lg_json_num(b, "max_deliveries_per_s", lg_step_deliveries_per_s(&best));
    lg_json_num(b, "max_rate_per_member", best.rate);
    lg_json_num(b, "max_p99_ms", lg_step_p99_ms(&best));
    lg_json_bool(b, "max_generator_limited", best.rate > 0 && lg_step_generator_limited(&best));
    json_final(b, &check);
    pd_buf_appendf(&run->human, "max %s: %.0f deliveries/s with p99 %.2f ms (stopped: %s)\n",
                   run->label, lg_step_deliveries_per_s(&best), lg_step_p99_ms(&best), why);
    human_final(&run->human, run->label, &check);
    return 0;
}

/* What the whole run cost the server, read before the workers go. */
static void json_trailer(lg_run_t *run)
{
    lg_proc_t p;
    read_server(run, &p, NULL);
    pid_t pid = run->n_server_pids && run->server_pids[0] > 0 ? run->server_pids[0] : 0;
    lg_json_open(&run->json, "server_process");
    lg_json_int(&run->json, "pid", (uint64_t)pid);
    lg_json_int(&run->json, "nodes", run->n_server_pids);
    lg_json_num(&run->json, "cpu_total_s", p.cpu_s);
    lg_json_num(&run->json, "rss_end_kib", (double)p.rss_kib);
    lg_json_num(&run->json, "rss_peak_kib", (double)p.hwm_kib);
    lg_json_int(&run->json, "threads", (uint64_t)p.threads);
    lg_json_close(&run->json);
    double redis = read_redis(run);
    if (redis >= 0) {
        lg_json_open(&run->json, "redis_process");
        lg_json_int(&run->json, "pid", (uint64_t)run->redis_pid);
        lg_json_num(&run->json, "cpu_total_s", redis);
        lg_json_close(&run->json);
    }
}

static int run_connected(lg_run_t *run, const lg_proc_t *p0)
{
    lg_sum_t conn;
    if (lg_fleet_collect(run->fleet, run->fleet->n, &conn) != 0)
        return -1;
    json_header(run, &conn, p0);
    human_connect(run, &conn);
    int rc = -1;
    switch (run->cfg->scenario) {
    case LG_IDLE: rc = run_idle(run, p0, &conn); break;
    case LG_FANOUT: rc = run_fanout(run); break;
    case LG_CHURN: rc = run_churn(run); break;
    case LG_MAX: rc = run_max(run); break;
    }
    if (rc == 0)
        json_trailer(run);
    return rc;
}

int lg_scenario_run(lg_run_t *run)
{
    lg_proc_t p0;
    read_server(run, &p0, NULL);
    if (lg_fleet_start(run->fleet, run->cfg) != 0)
        return -1;
    int rc = run_connected(run, &p0);
    lg_fleet_stop(run->fleet);
    if (rc == 0)
        lg_json_close(&run->json);
    return rc;
}
