/* Follows one member of a workspace: prints their path each time they move. */
#include <presence/client.h>
#include <stdio.h>

static const char *token, *target;

static void on_token(presence_client_t *c, presence_token_reason_t why, void *data)
{
    presence_client_token(c, token); /* a real app fetches a fresh one here */
}

static void on_follow(presence_client_t *c, presence_follow_status_t status,
                      const presence_user_t *user, void *data)
{
    if (status == PRESENCE_FOLLOW_MOVED) {
        printf("%s\n", user->current_path);
        return;
    }
    fprintf(stderr, "follow: %s %s\n", target, presence_follow_status_str(status));
    presence_client_close(c, NULL);
}

static void on_event(presence_client_t *c, const presence_event_t *ev, void *data)
{
    if (ev->type == PRESENCE_EV_SNAPSHOT && !presence_client_following(c) &&
        presence_client_follow(c, target, on_follow, NULL) != 0) {
        fprintf(stderr, "follow: %s is not in this workspace\n", target);
        presence_client_close(c, NULL);
    } else if (ev->type == PRESENCE_EV_STOPPED) {
        fprintf(stderr, "follow: stopped: %s\n", presence_strerror(ev->reason));
        presence_client_close(c, NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: follow URL WORKSPACE TOKEN USER_ID\n");
        return 2;
    }
    token = argv[3];
    target = argv[4];
    setvbuf(stdout, NULL, _IOLBF, 0);
    presence_options_t opts;
    presence_options_init(&opts);
    opts.url = argv[1];
    opts.workspace = argv[2];
    opts.token_cb = on_token;
    opts.event_cb = on_event;
    presence_client_t *c;
    char err[256];
    if (presence_client_new(&c, uv_default_loop(), &opts, err, sizeof err) != 0) {
        fprintf(stderr, "follow: %s\n", err);
        return 2;
    }
    presence_client_start(c);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* until the client has closed */
    return uv_loop_close(uv_default_loop()) == 0 ? 0 : 1;
}
