#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define DEFAULT_URL "ws://127.0.0.1:1999"

const char cli_conn_help[] =
    "Connection options:\n"
    "  --url URL          server base URL, ws:// or wss:// (default $PRESENCE_URL or\n"
    "                     " DEFAULT_URL ")\n"
    "  --workspace W      workspace id (default $PRESENCE_WORKSPACE)\n"
    "  --token T          the token to present (default $PRESENCE_TOKEN)\n"
    "  --token-cmd CMD    a shell command that prints a fresh token; run before every\n"
    "                     connection and when the server asks for a refresh\n"
    "  --ca-file FILE     trust the CAs in this PEM file for wss:// (instead of the\n"
    "                     system's)\n";

void cli_conn_defaults(cli_conn_opts_t *o)
{
    const char *url = getenv("PRESENCE_URL");
    o->url = url && *url ? url : DEFAULT_URL;
    o->workspace = getenv("PRESENCE_WORKSPACE");
    o->token = getenv("PRESENCE_TOKEN");
    o->token_cmd = NULL;
    o->ca_file = NULL;
}

int cli_conn_option(cli_conn_opts_t *o, int opt, const char *arg)
{
    switch (opt) {
    case 'U': o->url = arg; return 1;
    case 'W': o->workspace = arg; return 1;
    case 'T': o->token = arg; return 1;
    case 'C': o->token_cmd = arg; return 1;
    case 'A': o->ca_file = arg; return 1;
    default: return 0;
    }
}

int cli_conn_check(const cli_conn_opts_t *o, const char *command)
{
    const char *missing = NULL;
    if (!o->workspace || !*o->workspace)
        missing = "--workspace W is required";
    else if ((!o->token || !*o->token) && !o->token_cmd)
        missing = "give a token: --token T, --token-cmd CMD, or $PRESENCE_TOKEN";
    if (!missing)
        return 0;
    fprintf(stderr, "presence %s: %s (see presence %s --help)\n", command, missing, command);
    return CLI_USAGE;
}

void cli_error(const cli_t *cli, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "presence %s: ", cli->command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_print_line(cli_t *cli, const char *line)
{
    if (cli->finishing)
        return;
    if (puts(line) < 0 || fflush(stdout) != 0) {
        /* The reader went away (e.g. `| head`): that ends the run, quietly. */
        cli_finish(cli, errno == EPIPE ? CLI_OK : CLI_FAILED);
    }
}

/* ---- Tokens: a fixed one, or a command's output. ---- */

static void on_handle_closed(uv_handle_t *h)
{
    cli_t *cli = h->data;
    cli->handles--;
}

static void run_token_cmd(cli_t *cli);

/* A handle of the token command closed; a request that came meanwhile runs now. */
static void on_proc_handle_closed(uv_handle_t *h)
{
    cli_t *cli = h->data;
    cli->handles--;
    cli->proc_handles--;
    if (cli->proc_handles == 0 && cli->token_requested && !cli->finishing) {
        cli->token_requested = 0;
        run_token_cmd(cli);
    }
}

static void token_from_output(cli_t *cli)
{
    size_t n = cli->token_len;
    while (n > 0 && strchr(" \t\r\n", cli->token_buf[n - 1]))
        n--;
    cli->token_buf[n] = '\0';
    const char *start = cli->token_buf + strspn(cli->token_buf, " \t\r\n");
    if (cli->proc_exit != 0 || !*start) {
        cli_error(cli, "--token-cmd %s (exit status %d); will retry",
                  cli->proc_exit != 0 ? "failed" : "printed no token", cli->proc_exit);
        presence_client_token(cli->client, NULL);
        return;
    }
    presence_client_token(cli->client, start);
}

/* The token is complete once the process has exited and its output has ended. */
static void token_maybe_done(cli_t *cli)
{
    if (cli->proc_running || cli->out_open || cli->finishing)
        return;
    token_from_output(cli);
}

static void on_token_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cli_t *cli = h->data;
    size_t room = sizeof cli->token_buf - 1 - cli->token_len;
    *buf = uv_buf_init(cli->token_buf + cli->token_len, (unsigned)room);
}

static void on_token_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    cli_t *cli = s->data;
    if (n > 0)
        cli->token_len += (size_t)n;
    if (n >= 0 && cli->token_len < sizeof cli->token_buf - 1)
        return;
    cli->out_open = 0;
    uv_close((uv_handle_t *)s, on_proc_handle_closed);
    token_maybe_done(cli);
}

static void on_token_exit(uv_process_t *p, int64_t status, int term_signal)
{
    cli_t *cli = p->data;
    cli->proc_running = 0;
    cli->proc_exit = term_signal ? 128 + term_signal : (int)status;
    uv_close((uv_handle_t *)p, on_proc_handle_closed);
    token_maybe_done(cli);
}

static void run_token_cmd(cli_t *cli)
{
    char *args[] = {"/bin/sh", "-c", (char *)cli->conn->token_cmd, NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&cli->proc_out},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t po = {
        .exit_cb = on_token_exit, .file = args[0], .args = args, .stdio_count = 3, .stdio = stdio};
    uv_pipe_init(cli->loop, &cli->proc_out, 0);
    cli->proc_out.data = cli->proc.data = cli;
    cli->handles++;
    cli->proc_handles++;
    cli->token_len = 0;
    int r = uv_spawn(cli->loop, &cli->proc, &po);
    if (r < 0) {
        cli_error(cli, "cannot run --token-cmd: %s", uv_strerror(r));
        uv_close((uv_handle_t *)&cli->proc_out, on_proc_handle_closed);
        presence_client_token(cli->client, NULL);
        return;
    }
    cli->handles++;
    cli->proc_handles++;
    cli->proc_running = 1;
    cli->out_open = 1;
    uv_read_start((uv_stream_t *)&cli->proc_out, on_token_alloc, on_token_read);
}

static void on_token_wanted(presence_client_t *c, presence_token_reason_t why, void *data)
{
    cli_t *cli = data;
    if (!cli->conn->token_cmd)
        presence_client_token(c, cli->conn->token);
    else if (cli->proc_handles == 0)
        run_token_cmd(cli);
    else
        cli->token_requested = 1;
}

/* ---- Events every command handles the same way. ---- */

static const char *hint(int reason)
{
    switch (reason) {
    case PRESENCE_ERR_AUTH_INVALID:
    case PRESENCE_ERR_AUTH_MISSING:
        return "the token was not accepted: sign it with the server's secret "
               "(presence token --secret-file ...)";
    case PRESENCE_ERR_AUTH_FORBIDDEN:
        return "the token is for another workspace: its room must be " PD_PROTO_ROOM_ID_PREFIX
               "{workspace}";
    case PRESENCE_ERR_REVOKED: return "your access to this workspace was revoked";
    case PRESENCE_ERR_REPLACED: return "another client connected with the same connection key";
    case PRESENCE_ERR_TLS:
        return "the server's certificate could not be verified: pass --ca-file with the CA "
               "that signed it, and check the host name in --url";
    case PRESENCE_ERR_HANDSHAKE:
        return "check --url: it must point at presenced (the path " PD_PROTO_ROOM_PATH_PREFIX
               "{workspace} "
               "is added)";
    case PRESENCE_ERR_RESOLVE: return "check the host name in --url";
    case PRESENCE_ERR_CONNECT: return "is presenced running at --url?";
    default: return NULL;
    }
}

/* Failures that retrying cannot fix when nothing has ever worked: a wrong URL, a bad token. */
static int fatal_at_first(int reason)
{
    return reason == PRESENCE_ERR_AUTH_INVALID || reason == PRESENCE_ERR_AUTH_MISSING ||
           reason == PRESENCE_ERR_TLS || reason == PRESENCE_ERR_HANDSHAKE ||
           reason == PRESENCE_ERR_RESOLVE;
}

static int denied(int reason)
{
    return reason == PRESENCE_ERR_AUTH_INVALID || reason == PRESENCE_ERR_AUTH_MISSING ||
           reason == PRESENCE_ERR_AUTH_FORBIDDEN || reason == PRESENCE_ERR_REVOKED;
}

static void report(cli_t *cli, const presence_event_t *ev, const char *what)
{
    const char *h = hint(ev->reason);
    if (ev->detail)
        cli_error(cli, "%s: %s (%s)", what, presence_strerror(ev->reason), ev->detail);
    else
        cli_error(cli, "%s: %s", what, presence_strerror(ev->reason));
    if (h)
        fprintf(stderr, "  hint: %s\n", h);
}

static void on_disconnected(cli_t *cli, const presence_event_t *ev)
{
    if (!cli->ever_connected && fatal_at_first(ev->reason)) {
        report(cli, ev, "cannot connect");
        cli_finish(cli, denied(ev->reason) ? CLI_DENIED : CLI_FAILED);
        return;
    }
    char what[64];
    snprintf(what, sizeof what, "disconnected, retrying in %.1f s", ev->retry_ms / 1000.0);
    report(cli, ev, what);
}

static void on_event(presence_client_t *c, const presence_event_t *ev, void *data)
{
    cli_t *cli = data;
    if (cli->finishing)
        return;
    if (ev->type == PRESENCE_EV_CONNECTED)
        cli->ever_connected = 1;
    if (cli->on_event)
        cli->on_event(cli, ev);
    if (cli->finishing)
        return;
    if (ev->type == PRESENCE_EV_DISCONNECTED) {
        on_disconnected(cli, ev);
    } else if (ev->type == PRESENCE_EV_STOPPED) {
        report(cli, ev, "stopped");
        cli_finish(cli, denied(ev->reason) ? CLI_DENIED : CLI_FAILED);
    }
}

/* ---- Running and finishing. ---- */

static void on_signal(uv_signal_t *s, int signum)
{
    cli_finish(s->data, CLI_OK);
}

static void on_client_closed(presence_client_t *c, void *data)
{
    cli_t *cli = data;
    cli->client = NULL;
}

void cli_finish(cli_t *cli, int code)
{
    if (cli->finishing)
        return;
    cli->finishing = 1;
    cli->exit_code = code;
    if (cli->client)
        presence_client_close(cli->client, on_client_closed);
    uv_close((uv_handle_t *)&cli->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&cli->sigterm, on_handle_closed);
    if (cli->proc_running)
        uv_process_kill(&cli->proc, SIGTERM);
}

static void start_signals(cli_t *cli)
{
    uv_signal_init(cli->loop, &cli->sigint);
    uv_signal_init(cli->loop, &cli->sigterm);
    cli->sigint.data = cli->sigterm.data = cli;
    cli->handles += 2;
    uv_signal_start(&cli->sigint, on_signal, SIGINT);
    uv_signal_start(&cli->sigterm, on_signal, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
}

static int create_client(cli_t *cli)
{
    presence_options_t opts;
    presence_options_init(&opts);
    opts.url = cli->conn->url;
    opts.workspace = cli->conn->workspace;
    opts.ca_file = cli->conn->ca_file;
    opts.token_cb = on_token_wanted;
    opts.event_cb = on_event;
    opts.data = cli;
    char err[512];
    int r = presence_client_new(&cli->client, cli->loop, &opts, err, sizeof err);
    if (r != 0)
        cli_error(cli, "%s", err);
    return r == PRESENCE_ERR_INVALID ? CLI_USAGE : r != 0 ? CLI_FAILED : 0;
}

int cli_run(cli_t *cli, const char *path, const char *resource_type, const char *resource_id)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    cli->loop = &loop;
    int r = create_client(cli);
    if (r == 0 && path &&
        presence_client_update(cli->client, path, resource_type, resource_id) != 0) {
        cli_error(cli, "PATH must be 1-1024 bytes, --resource-type at most 32 and "
                       "--resource-id at most 256");
        presence_client_close(cli->client, on_client_closed);
        r = CLI_USAGE;
    }
    if (r == 0) {
        start_signals(cli);
        presence_client_start(cli->client);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return r ? r : cli->exit_code;
}
