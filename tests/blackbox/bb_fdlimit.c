/*
 * Running out of file descriptors: the server sheds connections it cannot
 * accept instead of spinning on accept(), keeps serving the members it has,
 * and accepts again once descriptors are free. The server's open-file limit
 * is lowered from outside with prlimit(2) after it has started.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_ws.h"

static pdt_server_t srv;

static const char *const server_args[] = {"--linger", "0", NULL};

#define FD_LIMIT 48
#define FLOOD 80

/* Sockets the server closed without a word within timeout_ms. */
static int count_closed(const int *fds, int n, int timeout_ms)
{
    int closed = 0;
    for (int i = 0; i < n; i++) {
        struct pollfd p = {fds[i], POLLIN, 0};
        char byte;
        if (fds[i] >= 0 && poll(&p, 1, closed ? 0 : timeout_ms) == 1 && read(fds[i], &byte, 1) <= 0)
            closed++;
    }
    return closed;
}

/* Only the soft limit moves, so it can be restored without privileges. */
static void set_server_fd_limit(rlim_t soft, struct rlimit *old)
{
    struct rlimit now;
    assert_int_equal(prlimit(srv.pid, RLIMIT_NOFILE, NULL, &now), 0);
    if (old)
        *old = now;
    now.rlim_cur = soft;
    assert_int_equal(prlimit(srv.pid, RLIMIT_NOFILE, &now, NULL), 0);
}

static void test_sheds_at_the_fd_limit_and_recovers(void **state)
{
    pdt_ws_t *member = pdt_join(srv.port, "fdl", "m1");
    struct rlimit old;
    set_server_fd_limit(FD_LIMIT, &old);

    int fds[FLOOD];
    for (int i = 0; i < FLOOD; i++)
        fds[i] = pdt_tcp_connect(srv.port);
    /*
     * Past the limit the server cannot accept; libuv's reserve descriptor
     * lets it accept and close what it cannot keep, instead of leaving the
     * listener readable and the loop spinning.
     */
    int shed = count_closed(fds, FLOOD, 3000);
    assert_true(shed > 0);

    /* The member it already has is still served. */
    pdt_send(member, "{\"type\":\"ping\",\"id\":1}");
    pdt_expect(member, "pong");

    for (int i = 0; i < FLOOD; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    set_server_fd_limit(old.rlim_cur, NULL);
    pdt_join(srv.port, "fdl", "m2");
    pdt_expect(member, "user_joined");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_sheds_at_the_fd_limit_and_recovers),
    };
    return PDT_SUITE(tests, &srv, server_args, 60);
}
