/*
 * Running out of file descriptors: the server sheds connections it cannot
 * accept instead of spinning on accept(), keeps serving the members it has,
 * and accepts again once descriptors are free. With nothing to shed with
 * (the limit below even its reserve descriptor) it pauses accepting, and
 * the connections that waited are served once descriptors are free. The
 * server's open-file limit is lowered from outside with prlimit(2) after it
 * has started. Run with --threads 4 too, where the loops share one reserve.
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

/*
 * Sockets the server closed without a word: waits (at most timeout_ms) for
 * the first, then counts those closed by then.
 */
static int count_closed(const int *fds, int n, int timeout_ms)
{
    struct pollfd p[FLOOD];
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){fds[i], POLLIN, 0};
    if (poll(p, (nfds_t)n, timeout_ms) <= 0)
        return 0;
    poll(p, (nfds_t)n, 0);
    int closed = 0;
    char byte;
    for (int i = 0; i < n; i++)
        if (p[i].revents && read(fds[i], &byte, 1) <= 0)
            closed++;
    return closed;
}

static double metric(const char *name)
{
    return pdt_http_metric(srv.port, name);
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
    int shed = count_closed(fds, FLOOD, PDT_WAIT_MS);
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
    assert_true(metric("presenced_rejected_total") >= shed);
}

#define WAITING 4

static void test_pauses_with_nothing_to_shed_with(void **state)
{
    pdt_ws_t *member = pdt_join(srv.port, "fdp", "m1");
    double pauses = metric("presenced_accept_pauses_total");
    struct rlimit old;
    /* Below every descriptor the server holds, its reserve included. */
    set_server_fd_limit(3, &old);

    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int fds[WAITING];
    for (int i = 0; i < WAITING; i++) {
        fds[i] = pdt_tcp_connect(srv.port);
        assert_int_equal(pdt_write_all(fds[i], get, sizeof(get) - 1), 0);
    }
    /*
     * The member is served, and its pong is a barrier: the loop that sends
     * it was woken with these connections already pending, and tried to
     * accept them first.
     */
    pdt_send(member, "{\"type\":\"ping\",\"id\":1}");
    pdt_expect(member, "pong");
    set_server_fd_limit(old.rlim_cur, NULL);

    /* They waited rather than being dropped, and are answered now. */
    for (int i = 0; i < WAITING; i++) {
        pd_buf_t r = {0};
        pdt_read_response(fds[i], &r, PDT_WAIT_MS);
        assert_int_equal(pdt_http_status(r.base), 200);
        pd_buf_free(&r);
        close(fds[i]);
    }
    assert_true(metric("presenced_accept_pauses_total") > pauses);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_sheds_at_the_fd_limit_and_recovers),
        PDT_TEST(test_pauses_with_nothing_to_shed_with),
    };
    return PDT_SUITE(tests, &srv, server_args, 60);
}
