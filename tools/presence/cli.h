/*
 * The runtime the `presence` subcommands share: options common to every
 * command that connects, a token source (--token or --token-cmd), one
 * client on one loop, signals, and exit codes. Each subcommand is a thin
 * user of libpresence on top of this.
 */
#ifndef PRESENCE_CLI_H
#define PRESENCE_CLI_H

#include <presence/client.h>
#include <stdio.h>
#include <uv.h>

/* Exit codes (documented in `presence --help` and docs/client.md). */
enum {
    CLI_OK = 0,     /* done, or interrupted (Ctrl-C, SIGTERM) */
    CLI_FAILED = 1, /* cannot go on: setup, connection or server refusal */
    CLI_USAGE = 2,  /* bad arguments */
    CLI_GONE = 3,   /* follow: the user is not or no longer in the workspace */
    CLI_DENIED = 4, /* the server rejected the token or revoked access */
};

typedef struct {
    const char *url;       /* default ws://127.0.0.1:1999 or $PRESENCE_URL */
    const char *workspace; /* or $PRESENCE_WORKSPACE */
    const char *token;     /* or $PRESENCE_TOKEN */
    const char *token_cmd;
    const char *ca_file;
} cli_conn_opts_t;

typedef struct cli cli_t;

struct cli {
    uv_loop_t *loop;
    presence_client_t *client;
    const cli_conn_opts_t *conn;
    const char *command; /* "watch", for messages */
    /* The subcommand's view of every event (after the shared handling). */
    void (*on_event)(cli_t *cli, const presence_event_t *ev);
    void *data;
    uv_signal_t sigint, sigterm;
    uv_process_t proc; /* a running --token-cmd */
    uv_pipe_t proc_out;
    char token_buf[8192];
    size_t token_len;
    int proc_handles; /* open handles of the token command */
    int proc_running; /* it has not exited */
    int out_open;     /* its output has not ended */
    int proc_exit;
    int token_requested; /* asked while the last command was still closing */
    int handles;         /* open handles besides the client's */
    int ever_connected;
    int finishing;
    int exit_code;
};

/*
 * Parses a common option (opt is getopt_long's return value) into o.
 * Returns 1 when it was one, 0 otherwise.
 */
int cli_conn_option(cli_conn_opts_t *o, int opt, const char *arg);

/* Fills o from the environment; options parsed later override it. */
void cli_conn_defaults(cli_conn_opts_t *o);

/* Checks that o is complete; prints what is missing and returns CLI_USAGE, else 0. */
int cli_conn_check(const cli_conn_opts_t *o, const char *command);

/* The help text for the common options. */
extern const char cli_conn_help[];

/* getopt_long entries for the common options, ending with a zero entry. */
#define CLI_CONN_LONG_OPTIONS                                                                 \
    {"url", required_argument, NULL, 'U'}, {"workspace", required_argument, NULL, 'W'},       \
        {"token", required_argument, NULL, 'T'}, {"token-cmd", required_argument, NULL, 'C'}, \
        {"ca-file", required_argument, NULL, 'A'},                                            \
    {                                                                                         \
        "help", no_argument, NULL, 'h'                                                        \
    }

/*
 * Creates the client (location, if given, is set before the first
 * connection), runs the loop until cli_finish() and returns the exit code.
 */
int cli_run(cli_t *cli, const char *path, const char *resource_type, const char *resource_id);

/* Ends the run with code: closes the client and everything else. */
void cli_finish(cli_t *cli, int code);

/* Prints "presence COMMAND: message" to stderr. */
void cli_error(const cli_t *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes a line to stdout and flushes it; a closed pipe ends the run quietly. */
void cli_print_line(cli_t *cli, const char *line);

/* ---- Subcommands (cmd_*.c): argc/argv start at the subcommand's name. ---- */

int cmd_token(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_follow(int argc, char **argv);
int cmd_goto(int argc, char **argv);

#endif
