/* presence goto: sets this member's location and holds it until interrupted. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char help[] =
    "Usage: presence goto PATH --workspace W (--token T | --token-cmd CMD) [OPTIONS]\n"
    "\n"
    "Joins workspace W at PATH (e.g. /w/ws1/documents/42) and stays there, across\n"
    "reconnects, until interrupted; then leaves. Prints one line to stderr once\n"
    "connected.\n"
    "\n"
    "Options:\n"
    "  --resource-type T  e.g. document, channel, diagram, project, task (<= 32 bytes)\n"
    "  --resource-id I    the resource's id (<= 256 bytes)\n"
    "  --help             show this help\n";

typedef struct {
    const char *path, *type, *id;
    int announced;
} goto_t;

static void on_goto_event(cli_t *cli, const presence_event_t *ev)
{
    goto_t *g = cli->data;
    if (ev->type != PRESENCE_EV_CONNECTED || g->announced)
        return;
    g->announced = 1;
    fprintf(stderr, "presence goto: %s is at %s in workspace %s (Ctrl-C to leave)\n",
            presence_client_self_id(cli->client), g->path, cli->conn->workspace);
}

static int parse(int argc, char **argv, cli_conn_opts_t *conn, goto_t *g)
{
    static const struct option longopts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"resource-type", required_argument, NULL, 't'},
        {"resource-id", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (cli_conn_option(conn, opt, optarg))
            continue;
        if (opt == 't') {
            g->type = optarg;
        } else if (opt == 'i') {
            g->id = optarg;
        } else if (opt == 'h') {
            printf("%s\n%s", help, cli_conn_help);
            return -1;
        } else {
            fprintf(stderr, "presence goto: unknown option (see presence goto --help)\n");
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "presence goto: give exactly one PATH (see presence goto --help)\n");
        return CLI_USAGE;
    }
    g->path = argv[optind];
    return cli_conn_check(conn, "goto");
}

int cmd_goto(int argc, char **argv)
{
    cli_conn_opts_t conn;
    goto_t g = {0};
    cli_conn_defaults(&conn);
    int r = parse(argc, argv, &conn, &g);
    if (r != 0)
        return r < 0 ? CLI_OK : r;
    cli_t cli = {.conn = &conn, .command = "goto", .on_event = on_goto_event, .data = &g};
    return cli_run(&cli, g.path, g.type, g.id);
}
