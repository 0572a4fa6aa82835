/* presence token: mints an HS256 token with the server's shared secret. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/jwt.h"
#include "proto/proto.h"
#include "cli.h"

static const char help[] =
    "Usage: presence token --secret-file F --user U --name N --workspace W [OPTIONS]\n"
    "\n"
    "Prints an HS256 token for user U in workspace W, signed with the secret in F\n"
    "(the file given to presenced --jwt-secret-file; a trailing newline is not part\n"
    "of the secret). For development and scripts; production tokens come from your\n"
    "backend.\n"
    "\n"
    "Options:\n"
    "  --secret-file F   the shared HS256 secret\n"
    "  --user U          the userId (the token's sub)\n"
    "  --name N          the display name\n"
    "  --workspace W     the workspace id; the token's room is " PD_PROTO_ROOM_ID_PREFIX "W\n"
    "  --picture URL     the user's image (optional)\n"
    "  --ttl SECONDS     lifetime (default 3600)\n"
    "  --help            show this help\n";

typedef struct {
    const char *secret_file, *user, *name, *workspace, *picture;
    long ttl;
} token_opts_t;

static int usage_error(const char *msg)
{
    fprintf(stderr, "presence token: %s (see presence token --help)\n", msg);
    return CLI_USAGE;
}

static int parse(int argc, char **argv, token_opts_t *o)
{
    static const struct option longopts[] = {
        {"secret-file", required_argument, NULL, 's'},
        {"user", required_argument, NULL, 'u'},
        {"name", required_argument, NULL, 'n'},
        {"workspace", required_argument, NULL, 'w'},
        {"picture", required_argument, NULL, 'p'},
        {"ttl", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': o->secret_file = optarg; break;
        case 'u': o->user = optarg; break;
        case 'n': o->name = optarg; break;
        case 'w': o->workspace = optarg; break;
        case 'p': o->picture = optarg; break;
        case 't':
            o->ttl = strtol(optarg, &end, 10);
            if (*end || o->ttl <= 0)
                return usage_error("--ttl must be a positive number of seconds");
            break;
        case 'h': fputs(help, stdout); return -1;
        default: return usage_error("unknown option");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument");
    if (!o->secret_file || !o->user || !o->name || !o->workspace)
        return usage_error("--secret-file, --user, --name and --workspace are required");
    if (!pd_proto_workspace_valid(pd_slice_cstr(o->workspace)))
        return usage_error("--workspace must be 1-128 characters of A-Z a-z 0-9 _ -");
    if (strlen(o->user) < 1 || strlen(o->user) > 128 || strlen(o->name) < 1 ||
        strlen(o->name) > 256)
        return usage_error("--user must be 1-128 bytes and --name 1-256 bytes");
    return 0;
}

/* Reads the secret; one trailing newline (CRLF too) is not part of it. */
static int read_secret(const char *path, unsigned char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "presence token: cannot read %s: %s\n", path, strerror(errno));
        return CLI_FAILED;
    }
    size_t n = fread(buf, 1, cap, f);
    int too_big = n == cap;
    fclose(f);
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (too_big || n == 0) {
        fprintf(stderr, "presence token: %s must hold a secret of 1-%zu bytes\n", path, cap - 1);
        return CLI_FAILED;
    }
    *len = n;
    return 0;
}

int cmd_token(int argc, char **argv)
{
    token_opts_t o = {.ttl = 3600};
    int r = parse(argc, argv, &o);
    if (r != 0)
        return r < 0 ? CLI_OK : r;
    unsigned char secret[4096];
    size_t secret_len;
    if ((r = read_secret(o.secret_file, secret, sizeof secret, &secret_len)) != 0)
        return r;
    char room[PD_PROTO_ROOM_ID_SIZE];
    pd_proto_room_id(room, sizeof room, pd_slice_cstr(o.workspace));
    int64_t now = (int64_t)time(NULL);
    char *token =
        pd_jwt_mint_hs256(secret, secret_len, o.user, o.name, o.picture, room, now, now + o.ttl);
    if (!token) {
        fprintf(stderr, "presence token: cannot sign the token\n");
        return CLI_FAILED;
    }
    printf("%s\n", token);
    free(token);
    return CLI_OK;
}
