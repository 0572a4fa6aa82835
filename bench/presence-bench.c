/*
 * presence-bench: a load generator for presence servers that speak the
 * protocol of PROTOCOL.md (presenced, and the Node.js peer under peers/).
 *
 *   presence-bench --scenario fanout --server-cmd "build/presenced --rate 1000"
 *
 * It starts the server itself (or uses one given by --port and --server-pid,
 * or the nodes of a cluster: --port and --server-pid once per node),
 * mints its own HS256 tokens, forks worker processes that hold the
 * connections, runs the scenario, prints one JSON object on stdout (or
 * appends it to --out) and a summary on stderr, and stops everything it
 * started, also when it is interrupted or runs out of time. Exit status: 0
 * after a complete run, 1 when the run failed, 2 for bad usage, 3 on timeout
 * or signal.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "fleet.h"
#include "scenario.h"
#include "spawn.h"

#define CONNS_PER_PROC 15000

/* What the signal handler must be able to kill. */
static lg_fleet_t fleet;
static lg_server_t server;

typedef struct {
    lg_cfg_t cfg;
    const char *server_cmd;
    const char *secret_file;
    const char *label;
    const char *case_name;
    const char *out;
    const char *api_secret_file;
    pid_t server_pids[LG_MAX_NODES];
    unsigned n_server_pids;
    pid_t redis_pid;
} lg_opts_t;

static void on_fatal_signal(int sig)
{
    static const char msg[] = "presence-bench: out of time or interrupted; stopping\n";
    lg_fleet_kill(&fleet);
    lg_server_kill(&server);
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
        _exit(3);
    _exit(3);
}

static void usage(FILE *f)
{
    fputs("usage: presence-bench --scenario idle|fanout|churn|max\n"
          "         (--server-cmd 'PROGRAM ARGS' | --port N [--server-pid PID] --secret-file F)\n"
          "  --port N, --server-pid PID  once per node of a cluster (up to 8): member i of a\n"
          "                       room connects to node i % nodes; CPU is summed over the nodes\n"
          "  --redis-pid PID      a cluster's redis-server, whose CPU is reported beside\n"
          "  --api-secret-file F  churn: also check every node's /api/rooms for ghosts\n"
          "  --label NAME         the server's name in the results\n"
          "  --case NAME          a name for this run in the results (default: the scenario)\n"
          "  --rooms N            rooms (idle 50, fanout 1, churn 10, max 1)\n"
          "  --members N          steady members per room (idle 20, fanout 1000, churn 100,\n"
          "                       max 1000)\n"
          "  --rate R             updates/s per member (fanout 0.1, churn 1; max: first step)\n"
          "  --duration S         measured seconds per step (10; max 5)\n"
          "  --warmup S           seconds of load before measuring (2; max 1)\n"
          "  --hold S             idle: seconds to hold the connections (5)\n"
          "  --churn-rate N       churn: connections opened per second (100)\n"
          "  --churn-hold S       churn: seconds each stays (1)\n"
          "  --churn-abrupt F     churn: share that drops the socket without a close (0.5)\n"
          "  --max-p99 MS         max: p99 bound of a passing step (50)\n"
          "  --max-growth F       max: rate factor between steps (1.5)\n"
          "  --max-steps N        max: at most this many steps (12)\n"
          "  --procs N            worker processes (at least one per 15000 connections)\n"
          "  --src-addrs N        loopback source addresses 127.0.0.2... (8; 0: kernel)\n"
          "  --connect-window N   handshakes in flight per worker (256)\n"
          "  --timeout S          hard bound on the run (derived from the plan)\n"
          "  --out FILE           append the JSON result to FILE instead of stdout\n",
          f);
}

static void defaults(lg_cfg_t *c)
{
    static const unsigned rooms[] = {0, 50, 1, 10, 1};
    static const unsigned members[] = {0, 20, 1000, 100, 1000};
    int max = c->scenario == LG_MAX;
    if (!c->rooms)
        c->rooms = rooms[c->scenario];
    if (!c->members)
        c->members = members[c->scenario];
    if (c->rate < 0)
        c->rate = c->scenario == LG_CHURN ? 1.0 : 0.1;
    if (c->duration_s < 0)
        c->duration_s = max ? 5 : 10;
    if (c->warmup_s < 0)
        c->warmup_s = max ? 1 : 2;
}

/*
 * A generous bound for the whole run. Filling a room costs the square of
 * its size (each join is announced to everyone already in it, and each
 * snapshot lists them), which a slow server pays by the minute at 10,000.
 */
static double planned_seconds(const lg_cfg_t *c)
{
    double conns = (double)c->rooms * c->members;
    double fill = conns * c->members / 150000.0;
    double steps = c->scenario == LG_MAX ? c->max_steps : 1;
    return 120 + conns / 200 + fill + c->hold_s + steps * (c->warmup_s + c->duration_s + 8);
}

static void derive(lg_cfg_t *c)
{
    defaults(c);
    unsigned need =
        (unsigned)(((uint64_t)c->rooms * c->members + CONNS_PER_PROC - 1) / CONNS_PER_PROC);
    if (c->procs < need)
        c->procs = need;
    if (c->procs > LG_MAX_PROCS)
        c->procs = LG_MAX_PROCS;
    if (c->timeout_s <= 0)
        c->timeout_s = planned_seconds(c);
}

static int parse_opt(lg_opts_t *o, int id, const char *arg)
{
    lg_cfg_t *c = &o->cfg;
    switch (id) {
    case 's': c->scenario = lg_scenario_parse(arg); return c->scenario ? 0 : -1;
    case 'S': o->server_cmd = arg; return 0;
    case 'p':
        if (c->nodes == LG_MAX_NODES)
            return -1; /* more nodes than LG_MAX_NODES */
        c->ports[c->nodes++] = atoi(arg);
        return 0;
    case 'P':
        if (o->n_server_pids == LG_MAX_NODES)
            return -1; /* more nodes than LG_MAX_NODES */
        o->server_pids[o->n_server_pids++] = (pid_t)atoi(arg);
        return 0;
    case 'R': o->redis_pid = (pid_t)atoi(arg); return 0;
    case 'B': o->api_secret_file = arg; return 0;
    case 'k': o->secret_file = arg; return 0;
    case 'l': o->label = arg; return 0;
    case 'K': o->case_name = arg; return 0;
    case 'o': o->out = arg; return 0;
    case 'r': c->rooms = (unsigned)atoi(arg); return 0;
    case 'm': c->members = (unsigned)atoi(arg); return 0;
    case 'u': c->rate = atof(arg); return 0;
    case 'd': c->duration_s = atof(arg); return 0;
    case 'w': c->warmup_s = atof(arg); return 0;
    case 'h': c->hold_s = atof(arg); return 0;
    case 'c': c->churn_rate = atof(arg); return 0;
    case 'C': c->churn_hold_s = atof(arg); return 0;
    case 'a': c->churn_abrupt = atof(arg); return 0;
    case 'x': c->max_p99_ms = atof(arg); return 0;
    case 'g': c->max_growth = atof(arg); return 0;
    case 'n': c->max_steps = (unsigned)atoi(arg); return 0;
    case 'j': c->procs = (unsigned)atoi(arg); return 0;
    case 'A': c->n_src = (unsigned)atoi(arg); return 0;
    case 'W': c->connect_window = (unsigned)atoi(arg); return 0;
    case 't': c->timeout_s = atof(arg); return 0;
    }
    return -1;
}

static const struct option long_opts[] = {
    {"scenario", 1, 0, 's'},       {"server-cmd", 1, 0, 'S'},
    {"port", 1, 0, 'p'},           {"server-pid", 1, 0, 'P'},
    {"secret-file", 1, 0, 'k'},    {"label", 1, 0, 'l'},
    {"case", 1, 0, 'K'},           {"out", 1, 0, 'o'},
    {"rooms", 1, 0, 'r'},          {"members", 1, 0, 'm'},
    {"rate", 1, 0, 'u'},           {"duration", 1, 0, 'd'},
    {"warmup", 1, 0, 'w'},         {"hold", 1, 0, 'h'},
    {"churn-rate", 1, 0, 'c'},     {"churn-hold", 1, 0, 'C'},
    {"churn-abrupt", 1, 0, 'a'},   {"max-p99", 1, 0, 'x'},
    {"max-growth", 1, 0, 'g'},     {"max-steps", 1, 0, 'n'},
    {"procs", 1, 0, 'j'},          {"src-addrs", 1, 0, 'A'},
    {"connect-window", 1, 0, 'W'}, {"timeout", 1, 0, 't'},
    {"redis-pid", 1, 0, 'R'},      {"api-secret-file", 1, 0, 'B'},
    {"help", 0, 0, '?'},           {0, 0, 0, 0},
};

static void init_opts(lg_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    lg_cfg_t *c = &o->cfg;
    c->rate = c->duration_s = c->warmup_s = -1;
    c->hold_s = 5;
    c->churn_rate = 100;
    c->churn_hold_s = 1;
    c->churn_abrupt = 0.5;
    c->max_p99_ms = 50;
    c->max_growth = 1.5;
    c->max_steps = 12;
    c->n_src = 8;
    c->connect_window = 256;
}

static int parse_args(lg_opts_t *o, int argc, char **argv)
{
    init_opts(o);
    int id;
    while ((id = getopt_long(argc, argv, "", long_opts, NULL)) != -1)
        if (id == '?' || parse_opt(o, id, optarg) != 0)
            return -1;
    if (optind != argc || !o->cfg.scenario || (!o->server_cmd && !o->cfg.nodes) ||
        (o->server_cmd && o->cfg.nodes) || (!o->server_cmd && !o->secret_file))
        return -1;
    for (unsigned i = 0; i < o->cfg.nodes; i++)
        if (o->cfg.ports[i] <= 0 || o->cfg.ports[i] > 65535)
            return -1;
    if (o->cfg.members < 2 && o->cfg.members != 0)
        return -1;
    derive(&o->cfg);
    return 0;
}

static int load_secret(lg_opts_t *o)
{
    lg_cfg_t *c = &o->cfg;
    if (!o->secret_file) {
        unsigned char raw[24];
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
            return -1;
        for (size_t i = 0; i < sizeof(raw); i++)
            snprintf((char *)c->secret + 2 * i, 3, "%02x", raw[i]);
        c->secret_len = 2 * sizeof(raw);
        return 0;
    }
    FILE *f = fopen(o->secret_file, "rb");
    if (!f)
        return -1;
    c->secret_len = fread(c->secret, 1, sizeof(c->secret), f);
    fclose(f);
    while (c->secret_len && c->secret[c->secret_len - 1] == '\n')
        c->secret_len--;
    return c->secret_len ? 0 : -1;
}

static void install_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGHUP, on_fatal_signal);
}

static const char *default_label(const char *cmd)
{
    if (!cmd)
        return "server";
    return strstr(cmd, "node") ? "node-ws" : "presenced";
}

static int start_server(lg_opts_t *o)
{
    if (!o->server_cmd)
        return 0;
    char err[256];
    if (lg_server_spawn(&server, o->server_cmd, o->cfg.secret, o->cfg.secret_len, err,
                        sizeof(err)) != 0) {
        fprintf(stderr, "presence-bench: %s\n", err);
        return -1;
    }
    o->cfg.ports[0] = server.port;
    o->cfg.nodes = 1;
    o->server_pids[0] = server.pid;
    o->n_server_pids = 1;
    return 0;
}

static int emit(const lg_opts_t *o, const lg_run_t *run)
{
    fputs(run->human.base ? run->human.base : "", stderr);
    FILE *f = o->out ? fopen(o->out, "a") : stdout;
    if (!f) {
        perror(o->out);
        return -1;
    }
    fprintf(f, "%s\n", run->json.base);
    if (f != stdout)
        fclose(f);
    return 0;
}

/* The API secret, without a trailing newline, or NULL. */
static char *load_api_secret(const char *path)
{
    char buf[512];
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return n ? strdup(buf) : NULL;
}

static int run(lg_opts_t *o)
{
    lg_run_t r = {.cfg = &o->cfg,
                  .fleet = &fleet,
                  .n_server_pids = o->n_server_pids,
                  .redis_pid = o->redis_pid,
                  .label = o->label ? o->label : default_label(o->server_cmd),
                  .case_name = o->case_name};
    memcpy(r.server_pids, o->server_pids, sizeof(r.server_pids));
    r.api_secret = load_api_secret(o->api_secret_file);
    if (o->api_secret_file && !r.api_secret) {
        fprintf(stderr, "presence-bench: cannot read the API secret\n");
        return 1;
    }
    int rc = lg_scenario_run(&r);
    if (rc == 0)
        rc = emit(o, &r);
    else
        fprintf(stderr, "presence-bench: a worker process failed\n%s",
                r.human.base ? r.human.base : "");
    pd_buf_free(&r.json);
    pd_buf_free(&r.human);
    free(r.api_secret);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    lg_opts_t o;
    if (parse_args(&o, argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    if (load_secret(&o) != 0) {
        fprintf(stderr, "presence-bench: cannot read the secret\n");
        return 2;
    }
    install_signals();
    alarm((unsigned)o.cfg.timeout_s);
    if (start_server(&o) != 0)
        return 1;
    int rc = run(&o);
    lg_server_stop(&server);
    return rc;
}
