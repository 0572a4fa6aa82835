/*
 * src/server/uring: the flush phase's ring. Sends to several sockets in one
 * submission, each result reported to its owner; a full socket answers
 * -EAGAIN at once instead of waiting in the ring; a reset peer is an error,
 * not a SIGPIPE; the counters; the modes. Skipped where the kernel (or the
 * build) has no io_uring.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/uring.h"

#define N_PAIRS 3

typedef struct {
    int fd[2]; /* [0] is written through the ring, [1] read back */
    int res;
    int calls;
} pair_t;

static void on_done(void *owner, int res, void *arg)
{
    pair_t *p = owner;
    p->res = res;
    p->calls++;
    (*(int *)arg)++;
}

static pd_uring_t *open_or_skip(void)
{
    pd_uring_t *u;
    char err[128] = "";
    assert_int_equal(pd_uring_open(&u, PD_URING_AUTO, 4, err, sizeof(err)), 0);
    if (!u) {
        print_message("skipped: %s\n", err);
        skip();
    }
    return u;
}

static void open_pair(pair_t *p)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd), 0);
    p->res = 0;
    p->calls = 0;
}

static void close_pair(pair_t *p)
{
    close(p->fd[0]);
    if (p->fd[1] >= 0)
        close(p->fd[1]);
}

/* Queues "head" and "tail" as two iovecs of one send to p. */
static void queue_two(pd_uring_t *u, pair_t *p)
{
    struct iovec *iov = pd_uring_slot(u);
    iov[0] = (struct iovec){"head-", 5};
    iov[1] = (struct iovec){"tail", 4};
    pd_uring_queue(u, p->fd[0], 2, p);
}

static void test_one_submission_for_all(void **state)
{
    pd_uring_t *u = open_or_skip();
    pair_t p[N_PAIRS];
    int reported = 0;
    for (int i = 0; i < N_PAIRS; i++) {
        open_pair(&p[i]);
        queue_two(u, &p[i]);
    }
    assert_int_equal(pd_uring_submit(u, on_done, &reported), N_PAIRS);
    assert_int_equal(reported, N_PAIRS);
    for (int i = 0; i < N_PAIRS; i++) {
        char got[16] = {0};
        assert_int_equal(p[i].calls, 1);
        assert_int_equal(p[i].res, 9);
        assert_int_equal(read(p[i].fd[1], got, sizeof(got)), 9);
        assert_string_equal(got, "head-tail");
        close_pair(&p[i]);
    }
    pd_uring_stats_t st = pd_uring_stats(u);
    assert_int_equal(st.sends, N_PAIRS);
    assert_int_equal(st.batches, 1);
    assert_int_equal(st.refused, 0);
    assert_int_equal(pd_uring_submit(u, on_done, &reported), 0);
    pd_uring_close(u);
}

static void fill(int fd)
{
    char chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    while (write(fd, chunk, sizeof(chunk)) > 0) {
    }
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void test_full_socket_refuses_at_once(void **state)
{
    pd_uring_t *u = open_or_skip();
    pair_t full, free_;
    int reported = 0;
    open_pair(&full);
    open_pair(&free_);
    fill(full.fd[0]);
    queue_two(u, &full);
    queue_two(u, &free_);
    assert_int_equal(pd_uring_submit(u, on_done, &reported), 2);
    assert_int_equal(full.res, -EAGAIN);
    assert_int_equal(free_.res, 9);
    assert_int_equal(pd_uring_stats(u).refused, 1);
    close_pair(&full);
    close_pair(&free_);
    pd_uring_close(u);
}

/* MSG_NOSIGNAL: without it this test would die of SIGPIPE. */
static void test_closed_peer_is_an_error(void **state)
{
    pd_uring_t *u = open_or_skip();
    pair_t p;
    int reported = 0;
    open_pair(&p);
    close(p.fd[1]);
    p.fd[1] = -1;
    queue_two(u, &p);
    assert_int_equal(pd_uring_submit(u, on_done, &reported), 1);
    assert_int_equal(p.res, -EPIPE);
    assert_false(pd_uring_broken(u));
    close_pair(&p);
    pd_uring_close(u);
}

/* A slice larger than the ring is the caller's to split: full says when. */
static void test_full_ring(void **state)
{
    pd_uring_t *u = open_or_skip();
    pair_t p[4];
    int reported = 0;
    for (int i = 0; i < 4; i++) {
        assert_false(pd_uring_full(u));
        open_pair(&p[i]);
        queue_two(u, &p[i]);
    }
    assert_true(pd_uring_full(u));
    assert_int_equal(pd_uring_submit(u, on_done, &reported), 4);
    assert_false(pd_uring_full(u));
    for (int i = 0; i < 4; i++)
        close_pair(&p[i]);
    pd_uring_close(u);
}

static void test_modes(void **state)
{
    pd_uring_mode_t m;
    pd_uring_t *u = (pd_uring_t *)&m;
    char err[128] = "";
    assert_int_equal(pd_uring_parse_mode("auto", &m), 0);
    assert_int_equal(m, PD_URING_AUTO);
    assert_int_equal(pd_uring_parse_mode("on", &m), 0);
    assert_int_equal(m, PD_URING_ON);
    assert_int_equal(pd_uring_parse_mode("off", &m), 0);
    assert_int_equal(m, PD_URING_OFF);
    assert_int_equal(pd_uring_parse_mode("yes", &m), -1);
    assert_int_equal(pd_uring_open(&u, PD_URING_OFF, 4, err, sizeof(err)), 0);
    assert_null(u);
    assert_string_equal(err, "");
    pd_uring_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_submission_for_all),
        cmocka_unit_test(test_full_socket_refuses_at_once),
        cmocka_unit_test(test_closed_peer_is_an_error),
        cmocka_unit_test(test_full_ring),
        cmocka_unit_test(test_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
