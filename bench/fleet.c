#include "fleet.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"

#define STOP_WAIT_MS 5000

static void close_others(const lg_fleet_t *f, unsigned upto)
{
    for (unsigned i = 0; i < upto; i++) {
        close(f->cmd[i]);
        close(f->rep[i]);
    }
}

static int fork_one(lg_fleet_t *f, const lg_cfg_t *cfg, unsigned i)
{
    int down[2], up[2];
    if (pipe(down) != 0)
        return -1;
    if (pipe(up) != 0) {
        close(down[0]);
        close(down[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close_others(f, i);
        close(down[1]);
        close(up[0]);
        lg_worker_main(cfg, i, down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    f->pid[i] = pid;
    f->cmd[i] = down[1];
    f->rep[i] = up[0];
    return pid < 0 ? -1 : 0;
}

int lg_fleet_start(lg_fleet_t *f, const lg_cfg_t *cfg)
{
    memset(f, 0, sizeof(*f));
    for (unsigned i = 0; i < cfg->procs && i < LG_MAX_PROCS; i++) {
        if (fork_one(f, cfg, i) != 0) {
            lg_fleet_kill(f);
            return -1;
        }
        f->n = i + 1;
    }
    return 0;
}

int lg_fleet_send(lg_fleet_t *f, unsigned first, unsigned count, const lg_cmd_t *cmd,
                  const void *extra, size_t extra_len)
{
    for (unsigned i = first; i < first + count && i < f->n; i++) {
        if (lg_write_full(f->cmd[i], cmd, sizeof(*cmd)) != 0)
            return -1;
        if (extra_len && lg_write_full(f->cmd[i], extra, extra_len) != 0)
            return -1;
    }
    return 0;
}

static void add_counters(lg_report_t *d, const lg_report_t *s)
{
    d->admitted += s->admitted;
    d->failed += s->failed;
    d->dropped += s->dropped;
    d->sent += s->sent;
    d->sent_window += s->sent_window;
    d->deliveries += s->deliveries;
    d->changed_total += s->changed_total;
    d->joined += s->joined;
    d->left += s->left;
    d->errors += s->errors;
    d->resyncs += s->resyncs;
    d->cpu_window_s += s->cpu_window_s;
    d->cpu_total_s += s->cpu_total_s;
    d->churn_opened += s->churn_opened;
    d->churn_closed += s->churn_closed;
    d->churn_failed += s->churn_failed;
    d->lost += s->lost;
    d->checked += s->checked;
    d->ghosts += s->ghosts;
    d->missing += s->missing;
}

static void add_report(lg_sum_t *sum, const lg_report_t *s)
{
    lg_report_t *d = &sum->r;
    add_counters(d, s);
    d->op = s->op;
    if (s->t_first_connect && (!d->t_first_connect || s->t_first_connect < d->t_first_connect))
        d->t_first_connect = s->t_first_connect;
    if (s->t_last_admit > d->t_last_admit)
        d->t_last_admit = s->t_last_admit;
    if (s->max_lag_ns > d->max_lag_ns)
        d->max_lag_ns = s->max_lag_ns;
    if (s->settle_ms > d->settle_ms)
        d->settle_ms = s->settle_ms;
    if (!d->first_error[0])
        memcpy(d->first_error, s->first_error, sizeof(d->first_error));
    if (s->cpu_window_s > sum->max_cpu_window_s)
        sum->max_cpu_window_s = s->cpu_window_s;
    if (s->cpu_total_s > sum->max_cpu_total_s)
        sum->max_cpu_total_s = s->cpu_total_s;
    lg_hist_merge(&d->latency, &s->latency);
    lg_hist_merge(&d->join, &s->join);
}

int lg_fleet_collect(lg_fleet_t *f, unsigned count, lg_sum_t *sum)
{
    lg_report_t *rep = pd_malloc(sizeof(*rep));
    memset(sum, 0, sizeof(*sum));
    int rc = 0;
    for (unsigned i = 0; i < count && i < f->n && rc == 0; i++) {
        rc = lg_read_full(f->rep[i], rep, sizeof(*rep));
        if (rc == 0)
            add_report(sum, rep);
    }
    free(rep);
    return rc;
}

int lg_fleet_collect_last(lg_fleet_t *f, uint16_t *table, size_t n)
{
    lg_report_t *rep = pd_malloc(sizeof(*rep));
    uint16_t *part = pd_malloc(n * sizeof(*part) + 1);
    memset(table, 0, n * sizeof(*table));
    int rc = 0;
    for (unsigned i = 0; i < f->n && rc == 0; i++) {
        rc = lg_read_full(f->rep[i], rep, sizeof(*rep));
        if (rc == 0)
            rc = lg_read_full(f->rep[i], part, n * sizeof(*part));
        /* Each member belongs to one worker; the others report 0 for it. */
        for (size_t k = 0; rc == 0 && k < n; k++)
            table[k] |= part[k];
    }
    free(part);
    free(rep);
    return rc;
}

static int reap(pid_t pid, long wait_ms)
{
    int status;
    for (long waited = 0; waited < wait_ms; waited += 10) {
        if (waitpid(pid, &status, WNOHANG) != 0)
            return 0;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

void lg_fleet_stop(lg_fleet_t *f)
{
    lg_cmd_t cmd = {.op = LG_CMD_EXIT};
    lg_fleet_send(f, 0, f->n, &cmd, NULL, 0);
    for (unsigned i = 0; i < f->n; i++) {
        if (f->pid[i] > 0 && reap(f->pid[i], STOP_WAIT_MS) != 0) {
            kill(f->pid[i], SIGKILL);
            waitpid(f->pid[i], NULL, 0);
        }
        close(f->cmd[i]);
        close(f->rep[i]);
        f->pid[i] = 0;
    }
    f->n = 0;
}

void lg_fleet_kill(const lg_fleet_t *f)
{
    for (unsigned i = 0; i < f->n; i++)
        if (f->pid[i] > 0)
            kill(f->pid[i], SIGKILL);
}
