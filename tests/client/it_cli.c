/*
 * The `presence` command against the real presenced: token, watch (piped:
 * JSON lines), follow, goto, --help, exit codes, and --token-cmd.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* How long a spawned command may take to answer: a liveness bound, loose so that a
 * sanitised build on a loaded machine (it starts, mints a token and connects) holds. */
#define CMD_WAIT_MS 20000

#ifndef PRESENCE_CLI_BIN
#error "PRESENCE_CLI_BIN must name the presence command"
#endif

static pdt_server_t srv;
static uv_loop_t loop;
static char token_u1[2048];

/* ---- Running the command. ---- */

typedef struct {
    pid_t pid;
    int fd; /* its stdout */
    char buf[65536];
    size_t len;
    char log[160]; /* its stderr */
} cmd_t;

/* The command a test started and has not yet seen exit: a failed assertion
 * jumps out of the test, and the teardown ends what it left running. */
static pid_t cmd_running;

static void cmd_start(cmd_t *c, const char *const *args)
{
    const char *argv[32] = {PRESENCE_CLI_BIN};
    size_t n = 1;
    for (size_t i = 0; args[i] && n + 1 < 32; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    memset(c, 0, sizeof *c);
    snprintf(c->log, sizeof c->log, "%s/cli-%d.log", srv.dir, rand());
    c->pid = pdt_spawn(argv, &c->fd, c->log);
    assert_true(c->pid > 0);
    cmd_running = c->pid;
}

/* Reads what is available on c's stdout into its buffer; returns -1 at EOF. */
static int cmd_read(cmd_t *c, int timeout_ms)
{
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0)
        return 0;
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
    if (n <= 0)
        return -1;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return 0;
}

/* The next line of c's stdout (without '\n'), pumping the loop meanwhile; fails after ms. */
static char *cmd_line(cmd_t *c, char *out, size_t cap, int ms)
{
    uint64_t deadline = pdt_now_ms() + (uint64_t)ms;
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            snprintf(out, cap, "%.*s", (int)n, c->buf);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            c->buf[c->len] = '\0';
            return out;
        }
        if (pdt_now_ms() > deadline)
            fail_msg("no line from the command within %d ms (have \"%s\")", ms, c->buf);
        if (cmd_read(c, 5) < 0 && !memchr(c->buf, '\n', c->len))
            fail_msg("the command's output ended (have \"%s\")", c->buf);
        ct_pump(&loop, 5);
    }
}

/* Waits for the exit, pumping the loop; returns the exit code. */
static int cmd_wait(cmd_t *c, int ms)
{
    uint64_t deadline = pdt_now_ms() + (uint64_t)ms;
    int code;
    while ((code = pdt_wait_exit(c->pid, 0)) < 0) {
        if (pdt_now_ms() > deadline) {
            pdt_kill(c->pid, SIGKILL, 5000);
            cmd_running = 0;
            fail_msg("the command did not exit within %d ms", ms);
        }
        ct_pump(&loop, 10);
    }
    cmd_running = 0;
    /* The rest of its output, up to the end of the pipe. */
    uint64_t drained = pdt_now_ms() + 2000;
    while (cmd_read(c, 20) == 0 && pdt_now_ms() < drained)
        ;
    return code;
}

static void cmd_end(cmd_t *c)
{
    close(c->fd);
    unlink(c->log);
}

/* The command's stderr so far. */
static const char *cmd_stderr(const cmd_t *c)
{
    static char text[8192];
    FILE *f = fopen(c->log, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("\"%s\" lacks \"%s\"", text, part);
}

/* Runs the command to its end (10 s at most) and returns its exit code. */
static int run(const char *const *args, cmd_t *c)
{
    cmd_start(c, args);
    return cmd_wait(c, 10000);
}

static int cmd_teardown(void **state)
{
    if (cmd_running > 0) {
        pdt_kill(cmd_running, SIGKILL, 5000);
        cmd_running = 0;
    }
    return ct_loop_teardown(state);
}

#define CMD_TEST(f) cmocka_unit_test_prestate_setup_teardown(f, ct_loop_setup, cmd_teardown, &loop)

/* ---- Tests. ---- */

static void test_token_and_help(void **state)
{
    cmd_t c;
    const char *token[] = {"token", "--secret-file", srv.secret_path, "--user", "u1",  "--name",
                           "Ann",   "--workspace",   "cli",           "--ttl",  "600", NULL};
    assert_int_equal(run(token, &c), 0);
    char line[2048];
    cmd_line(&c, line, sizeof line, 1000);
    assert_int_equal(strspn(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789-_."),
                     strlen(line));
    snprintf(token_u1, sizeof token_u1, "%s", line);
    cmd_end(&c);
    const char *names[] = {"token", "watch", "follow", "goto"};
    for (size_t i = 0; i < 4; i++) {
        const char *help[] = {names[i], "--help", NULL};
        assert_int_equal(run(help, &c), 0);
        char want[64];
        snprintf(want, sizeof want, "Usage: presence %s", names[i]);
        assert_contains(c.buf, want);
        cmd_end(&c);
    }
    const char *top[] = {"--help", NULL};
    assert_int_equal(run(top, &c), 0);
    assert_contains(c.buf, "Exit codes:");
    cmd_end(&c);
    const char *bad[][4] = {{"frobnicate", NULL},
                            {"watch", "--workspace", "cli", NULL},
                            {"token", "--user", "u1", NULL},
                            {"follow", "--token", "t", NULL}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(run(bad[i], &c), 2);
        assert_contains(cmd_stderr(&c), "presence");
        cmd_end(&c);
    }
    const char *missing[] = {"watch", "--workspace", "cli", NULL};
    run(missing, &c);
    assert_contains(cmd_stderr(&c), "give a token: --token T, --token-cmd CMD");
    cmd_end(&c);
}

static void test_watch_piped_prints_json_lines(void **state)
{
    cmd_t c;
    const char *args[] = {"watch",  "--url", ct_server_url(&srv), "--workspace", "cli", "--token",
                          token_u1, NULL};
    cmd_start(&c, args);
    char line[4096];
    assert_string_equal(cmd_line(&c, line, sizeof line, CMD_WAIT_MS),
                        "{\"event\":\"connected\",\"self\":\"u1\"}");
    assert_string_equal(cmd_line(&c, line, sizeof line, CMD_WAIT_MS),
                        "{\"event\":\"snapshot\",\"users\":[]}");
    ct_client_t *b = ct_client_new(&loop, ct_server_url(&srv), "cli", "u2", NULL, NULL);
    assert_string_equal(cmd_line(&c, line, sizeof line, CMD_WAIT_MS),
                        "{\"event\":\"joined\",\"userId\":\"u2\",\"userName\":\"Name of u2\","
                        "\"userImage\":null,\"currentPath\":\"\"}");
    presence_client_update(b->c, "/w/cli/tasks/5", "task", "5");
    assert_string_equal(cmd_line(&c, line, sizeof line, CMD_WAIT_MS),
                        "{\"event\":\"changed\",\"userId\":\"u2\",\"userName\":\"Name of u2\","
                        "\"userImage\":null,\"currentPath\":\"/w/cli/tasks/5\","
                        "\"resourceType\":\"task\",\"resourceId\":\"5\"}");
    ct_client_close(b);
    assert_string_equal(cmd_line(&c, line, sizeof line, CMD_WAIT_MS),
                        "{\"event\":\"left\",\"userId\":\"u2\",\"userName\":\"Name of u2\","
                        "\"userImage\":null,\"currentPath\":\"/w/cli/tasks/5\","
                        "\"resourceType\":\"task\",\"resourceId\":\"5\"}");
    /* The leave's second form (user_left_presence) prints nothing: the next line is a join. */
    ct_client_t *d = ct_client_new(&loop, ct_server_url(&srv), "cli", "u3", NULL, NULL);
    assert_string_equal(cmd_line(&c, line, sizeof line, CMD_WAIT_MS),
                        "{\"event\":\"joined\",\"userId\":\"u3\",\"userName\":\"Name of u3\","
                        "\"userImage\":null,\"currentPath\":\"\"}");
    ct_client_close(d);
    kill(c.pid, SIGTERM);
    assert_int_equal(cmd_wait(&c, CMD_WAIT_MS), 0);
    cmd_end(&c);
}

static void test_follow_prints_each_path(void **state)
{
    ct_client_t *b = ct_client_new(&loop, ct_server_url(&srv), "cli", "u2", NULL, NULL);
    presence_client_update(b->c, "/w/cli/start", NULL, NULL);
    CT_WAIT(&loop, ct_count(b, PRESENCE_EV_CONNECTED) == 1, CMD_WAIT_MS);
    cmd_t c;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s token --secret-file %s --user u1 --name Ann --workspace cli",
             PRESENCE_CLI_BIN, srv.secret_path);
    const char *args[] = {"follow",      "--user", "u2",          "--url", ct_server_url(&srv),
                          "--workspace", "cli",    "--token-cmd", cmd,     NULL};
    cmd_start(&c, args);
    char line[4096];
    assert_string_equal(cmd_line(&c, line, sizeof line, CMD_WAIT_MS), "/w/cli/start");
    const char *chain[] = {"/w/cli/documents/1", "/w/cli/channels/general", "/w/cli/tasks/9"};
    for (size_t i = 0; i < 3; i++) {
        presence_client_update(b->c, chain[i], NULL, NULL);
        assert_string_equal(cmd_line(&c, line, sizeof line, CMD_WAIT_MS), chain[i]);
    }
    ct_client_close(b);
    assert_int_equal(cmd_wait(&c, CMD_WAIT_MS), 3);
    assert_contains(cmd_stderr(&c), "u2 went offline");
    assert_int_equal(c.len, 0);
    cmd_end(&c);
}

static void test_follow_absent_user(void **state)
{
    cmd_t c;
    const char *args[] = {"follow",      "--user", "ghost",   "--url",  ct_server_url(&srv),
                          "--workspace", "cli",    "--token", token_u1, NULL};
    assert_int_equal(run(args, &c), 3);
    assert_contains(cmd_stderr(&c), "ghost is not in workspace cli");
    cmd_end(&c);
}

static void test_goto_holds_location(void **state)
{
    ct_client_t *b = ct_client_new(&loop, ct_server_url(&srv), "cli", "u2", NULL, NULL);
    cmd_t c;
    const char *args[] = {
        "goto",  "/w/cli/diagrams/7", "--resource-type", "diagram", "--resource-id", "7",
        "--url", ct_server_url(&srv), "--workspace",     "cli",     "--token",       token_u1,
        NULL};
    cmd_start(&c, args);
    CT_WAIT(&loop, strcmp(ct_where(b, "u1"), "/w/cli/diagrams/7|diagram|7") == 0, CMD_WAIT_MS);
    kill(c.pid, SIGINT);
    assert_int_equal(cmd_wait(&c, CMD_WAIT_MS), 0);
    CT_WAIT(&loop, ct_count(b, PRESENCE_EV_LEFT) == 1, CMD_WAIT_MS);
    assert_contains(cmd_stderr(&c), "u1 is at /w/cli/diagrams/7 in workspace cli");
    cmd_end(&c);
    ct_client_close(b);
}

static void test_bad_token_and_url_fail_fast(void **state)
{
    cmd_t c;
    const char *bad_token[] = {"watch", "--url",   ct_server_url(&srv), "--workspace",
                               "cli",   "--token", "not.a.token",       NULL};
    assert_int_equal(run(bad_token, &c), 4);
    assert_contains(cmd_stderr(&c), "token invalid");
    assert_contains(cmd_stderr(&c), "hint: the token was not accepted");
    cmd_end(&c);
    char url[96];
    snprintf(url, sizeof url, "%s/not-presence", ct_server_url(&srv));
    const char *bad_url[] = {"watch", "--url",   url,      "--workspace",
                             "cli",   "--token", token_u1, NULL};
    assert_int_equal(run(bad_url, &c), 1);
    assert_contains(cmd_stderr(&c), "HTTP 404");
    cmd_end(&c);
    const char *bad_scheme[] = {"watch", "--url",   "http://x", "--workspace",
                                "cli",   "--token", token_u1,   NULL};
    assert_int_equal(run(bad_scheme, &c), 2);
    assert_contains(cmd_stderr(&c), "ws:// or wss://");
    cmd_end(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CMD_TEST(test_token_and_help),          CMD_TEST(test_watch_piped_prints_json_lines),
        CMD_TEST(test_follow_prints_each_path), CMD_TEST(test_follow_absent_user),
        CMD_TEST(test_goto_holds_location),     CMD_TEST(test_bad_token_and_url_fail_fast),
    };
    return PDT_SUITE(tests, &srv, NULL, 120);
}
