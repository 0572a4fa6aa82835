/* `presence`: the command-line client of presenced, on top of libpresence. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "Usage: presence COMMAND [OPTIONS]\n"
    "\n"
    "A command-line client for presenced, the workspace presence server.\n"
    "\n"
    "Commands:\n"
    "  token    mint an HS256 token (development and scripts)\n"
    "  watch    show who is where in a workspace, live (JSON lines when piped)\n"
    "  follow   print a member's path each time it changes\n"
    "  goto     set this member's location and keep it until interrupted\n"
    "\n"
    "`presence COMMAND --help` describes each one.\n"
    "\n"
    "Exit codes:\n"
    "  0  done, or interrupted (Ctrl-C, SIGTERM)\n"
    "  1  cannot go on (setup, connection, or the server stopped this client)\n"
    "  2  bad arguments\n"
    "  3  follow: the user is not, or no longer, in the workspace\n"
    "  4  the server rejected the token or revoked access\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"token", cmd_token},
    {"watch", cmd_watch},
    {"follow", cmd_follow},
    {"goto", cmd_goto},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("presence %s\n", PRESENCE_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "presence: unknown command \"%s\" (see presence --help)\n", argv[1]);
    return CLI_USAGE;
}
