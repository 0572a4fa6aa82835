/*
 * presence follow: prints the followed member's path each time it changes,
 * one line each, so that `presence follow ... | while read p; do ...; done`
 * navigates along.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char help[] =
    "Usage: presence follow --user U --workspace W (--token T | --token-cmd CMD) [OPTIONS]\n"
    "\n"
    "Follows member U: prints U's current path once connected, then one line each\n"
    "time it changes (paths U has not reported yet are not printed). Ends with exit\n"
    "status 3 when U is not in the workspace or leaves it, 0 when interrupted.\n"
    "\n"
    "Options:\n"
    "  --user U           the userId to follow\n"
    "  --help             show this help\n";

typedef struct {
    const char *user;
    int started;
} follow_t;

static void on_follow(presence_client_t *c, presence_follow_status_t status,
                      const presence_user_t *u, void *data)
{
    cli_t *cli = data;
    follow_t *f = cli->data;
    if (status == PRESENCE_FOLLOW_MOVED) {
        cli_print_line(cli, u->current_path);
        return;
    }
    if (status == PRESENCE_FOLLOW_WENT_OFFLINE) {
        cli_error(cli, "%s went offline", f->user);
        cli_finish(cli, CLI_GONE);
    }
}

static void on_follow_event(cli_t *cli, const presence_event_t *ev)
{
    follow_t *f = cli->data;
    if (ev->type != PRESENCE_EV_SNAPSHOT || f->started)
        return;
    f->started = 1;
    if (presence_client_follow(cli->client, f->user, on_follow, cli) != 0) {
        cli_error(cli, "%s is not in workspace %s (no connection of that user is open)", f->user,
                  cli->conn->workspace);
        cli_finish(cli, CLI_GONE);
    }
}

static int parse(int argc, char **argv, cli_conn_opts_t *conn, follow_t *f)
{
    static const struct option longopts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"user", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (cli_conn_option(conn, opt, optarg))
            continue;
        if (opt == 'u') {
            f->user = optarg;
        } else if (opt == 'h') {
            printf("%s\n%s", help, cli_conn_help);
            return -1;
        } else {
            fprintf(stderr, "presence follow: unknown option (see presence follow --help)\n");
            return CLI_USAGE;
        }
    }
    if (optind < argc || !f->user || !*f->user) {
        fprintf(stderr, "presence follow: --user U is required, and nothing else "
                        "(see presence follow --help)\n");
        return CLI_USAGE;
    }
    return cli_conn_check(conn, "follow");
}

int cmd_follow(int argc, char **argv)
{
    cli_conn_opts_t conn;
    follow_t f = {0};
    cli_conn_defaults(&conn);
    int r = parse(argc, argv, &conn, &f);
    if (r != 0)
        return r < 0 ? CLI_OK : r;
    cli_t cli = {.conn = &conn, .command = "follow", .on_event = on_follow_event, .data = &f};
    return cli_run(&cli, NULL, NULL, NULL);
}
