/*
 * presenced: the server binary. Reads the configuration, runs the server on
 * the default libuv loop, and drains on SIGTERM or SIGINT.
 *
 * Exit codes: 0 after a clean drain, 1 when the server cannot start (the
 * port is taken), 2 for a bad configuration.
 *
 * Under systemd (Type=notify) it reports READY=1 once listening and
 * STOPPING=1 when a drain starts. sd_notify() does nothing when
 * NOTIFY_SOCKET is unset, and without libsystemd at build time the calls
 * compile away.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <uv.h>

#include "server/config.h"
#include "server/log.h"
#include "server/server.h"

#ifdef PD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#else
#define sd_notify(unset_environment, state) ((void)0)
#endif

static pd_server_t *server;
static uv_signal_t sigterm, sigint;

static void close_signals(void)
{
    if (!uv_is_closing((uv_handle_t *)&sigterm))
        uv_close((uv_handle_t *)&sigterm, NULL);
    if (!uv_is_closing((uv_handle_t *)&sigint))
        uv_close((uv_handle_t *)&sigint, NULL);
}

/* The first signal drains; the handlers are gone after it, so a second one kills. */
static void on_signal(uv_signal_t *sig, int signum)
{
    sd_notify(0, "STOPPING=1");
    pd_server_drain(server);
    close_signals();
}

static int run(pd_config_t *cfg)
{
    char err[512];
    uv_loop_t *loop = uv_default_loop();
    server = pd_server_new(loop, cfg, err, sizeof(err));
    if (!server) {
        fprintf(stderr, "presenced: %s\n", err);
        return 2;
    }
    if (pd_server_listen(server, err, sizeof(err)) != 0) {
        fprintf(stderr, "presenced: %s\n", err);
        pd_server_drain(server);
        uv_run(loop, UV_RUN_DEFAULT);
        pd_server_free(server);
        uv_loop_close(loop);
        return 1;
    }
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    sd_notify(0, "READY=1");
    uv_run(loop, UV_RUN_DEFAULT);
    close_signals();
    uv_run(loop, UV_RUN_DEFAULT);
    pd_server_free(server);
    uv_loop_close(loop);
    pd_log(PD_LOG_INFO, "stopped", NULL);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    pd_config_t cfg;
    pd_config_defaults(&cfg);
    char err[512];
    int rc = pd_config_load(&cfg, argc, argv, err, sizeof(err));
    if (rc == 0)
        rc = pd_config_validate(&cfg, err, sizeof(err));
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "presenced: %s\n", err);
        pd_config_free(&cfg);
        return rc < 0 ? 2 : 0;
    }
    pd_log_set_level(cfg.log_level);
    if (cfg.dev)
        pd_log(PD_LOG_WARN, "development mode: tokens are minted at /dev/token for anyone who asks",
               NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = run(&cfg);
    curl_global_cleanup();
    pd_config_free(&cfg);
    return rc;
}
