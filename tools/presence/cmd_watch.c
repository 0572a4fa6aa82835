/*
 * presence watch: who is where. On a terminal, a table redrawn on every
 * change; otherwise one JSON object per line per event, for scripts.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "Usage: presence watch --workspace W (--token T | --token-cmd CMD) [OPTIONS]\n"
    "\n"
    "Shows who is where in workspace W. On a terminal: a table, redrawn on every\n"
    "change. Piped: one JSON object per line per event, e.g.\n"
    "  {\"event\":\"changed\",\"userId\":\"u2\",\"userName\":\"Bo\",\"currentPath\":\"/w/ws1/tasks/5\",...}\n"
    "Events: connected, snapshot (with \"users\"), joined, changed, left,\n"
    "disconnected, server_error, token_refreshed. Runs until interrupted.\n"
    "\n"
    "Options:\n"
    "  --json             JSON lines even on a terminal\n"
    "  --help             show this help\n";

typedef struct {
    int json;
} watch_t;

/* ---- JSON lines. ---- */

static void add_str_or_null(cJSON *o, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(o, key, value);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_user(cJSON *o, const presence_user_t *u)
{
    cJSON_AddStringToObject(o, "userId", u->user_id);
    cJSON_AddStringToObject(o, "userName", u->user_name);
    add_str_or_null(o, "userImage", u->user_image);
    cJSON_AddStringToObject(o, "currentPath", u->current_path);
    if (u->resource_type)
        cJSON_AddStringToObject(o, "resourceType", u->resource_type);
    if (u->resource_id)
        cJSON_AddStringToObject(o, "resourceId", u->resource_id);
}

static int by_id(const void *a, const void *b)
{
    const presence_user_t *x = *(const presence_user_t *const *)a;
    const presence_user_t *y = *(const presence_user_t *const *)b;
    return strcmp(x->user_id, y->user_id);
}

static int by_name(const void *a, const void *b)
{
    const presence_user_t *x = *(const presence_user_t *const *)a;
    const presence_user_t *y = *(const presence_user_t *const *)b;
    int r = strcmp(x->user_name, y->user_name);
    return r ? r : strcmp(x->user_id, y->user_id);
}

/* The map's entries sorted with cmp; the caller frees the array. */
static const presence_user_t **sorted_users(presence_client_t *c, size_t *n,
                                            int (*cmp)(const void *, const void *))
{
    const presence_user_t **users = calloc(presence_client_count(c) + 1, sizeof *users);
    size_t iter = 0, count = 0;
    const presence_user_t *u;
    while (users && (u = presence_client_next(c, &iter)))
        users[count++] = u;
    if (users)
        qsort(users, count, sizeof *users, cmp);
    *n = count;
    return users;
}

static void add_users(cJSON *o, presence_client_t *c)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "users");
    size_t n;
    const presence_user_t **users = sorted_users(c, &n, by_id);
    for (size_t i = 0; i < n; i++) {
        cJSON *item = cJSON_CreateObject();
        add_user(item, users[i]);
        cJSON_AddItemToArray(arr, item);
    }
    free(users);
}

static void add_event_fields(cJSON *o, cli_t *cli, const presence_event_t *ev)
{
    if (ev->user)
        add_user(o, ev->user);
    if (ev->type == PRESENCE_EV_SNAPSHOT)
        add_users(o, cli->client);
    if (ev->type == PRESENCE_EV_CONNECTED)
        cJSON_AddStringToObject(o, "self", presence_client_self_id(cli->client));
    if (ev->type == PRESENCE_EV_DISCONNECTED || ev->type == PRESENCE_EV_STOPPED) {
        cJSON_AddStringToObject(o, "reason", presence_strerror(ev->reason));
        add_str_or_null(o, "detail", ev->detail);
    }
    if (ev->type == PRESENCE_EV_DISCONNECTED)
        cJSON_AddNumberToObject(o, "retryMs", (double)ev->retry_ms);
    if (ev->type == PRESENCE_EV_SERVER_ERROR) {
        add_str_or_null(o, "code", ev->code);
        add_str_or_null(o, "message", ev->detail);
    }
}

static void print_json(cli_t *cli, const presence_event_t *ev)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", presence_event_str(ev->type));
    add_event_fields(o, cli, ev);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line)
        cli_print_line(cli, line);
    free(line);
}

/* ---- The table. ---- */

static void print_row(const presence_user_t *u)
{
    char resource[320] = "";
    if (u->resource_type || u->resource_id)
        snprintf(resource, sizeof resource, "%s %s", u->resource_type ? u->resource_type : "",
                 u->resource_id ? u->resource_id : "");
    printf("%-20.20s %-14.14s %-40s %s\n", u->user_name, u->user_id,
           u->current_path[0] ? u->current_path : "(unknown)", resource);
}

static void draw_table(cli_t *cli)
{
    presence_client_t *c = cli->client;
    size_t n;
    const presence_user_t **users = sorted_users(c, &n, by_name);
    printf("\033[H\033[2J");
    printf("workspace %s: %s, %zu %s\n\n", cli->conn->workspace,
           presence_state_str(presence_client_state(c)), n, n == 1 ? "member" : "members");
    printf("%-20s %-14s %-40s %s\n", "NAME", "USER", "PATH", "RESOURCE");
    for (size_t i = 0; i < n; i++)
        print_row(users[i]);
    free(users);
    fflush(stdout);
}

static void on_watch_event(cli_t *cli, const presence_event_t *ev)
{
    watch_t *w = cli->data;
    if (w->json)
        print_json(cli, ev);
    else if (ev->type != PRESENCE_EV_SERVER_ERROR && ev->type != PRESENCE_EV_TOKEN_REFRESHED)
        draw_table(cli);
}

static int parse(int argc, char **argv, cli_conn_opts_t *conn, watch_t *w)
{
    static const struct option longopts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (cli_conn_option(conn, opt, optarg))
            continue;
        if (opt == 'j') {
            w->json = 1;
        } else if (opt == 'h') {
            printf("%s\n%s", help, cli_conn_help);
            return -1;
        } else {
            fprintf(stderr, "presence watch: unknown option (see presence watch --help)\n");
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "presence watch: unexpected argument \"%s\"\n", argv[optind]);
        return CLI_USAGE;
    }
    return cli_conn_check(conn, "watch");
}

int cmd_watch(int argc, char **argv)
{
    cli_conn_opts_t conn;
    watch_t w = {.json = !isatty(STDOUT_FILENO)};
    cli_conn_defaults(&conn);
    int r = parse(argc, argv, &conn, &w);
    if (r != 0)
        return r < 0 ? CLI_OK : r;
    cli_t cli = {.conn = &conn, .command = "watch", .on_event = on_watch_event, .data = &w};
    return cli_run(&cli, NULL, NULL, NULL);
}
