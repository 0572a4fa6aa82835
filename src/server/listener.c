/*
 * Accepting connections, and running out of descriptors gracefully.
 *
 * Every shard polls the listening socket and accepts what it can; all but
 * one of the loops woken for a connection find nothing (EAGAIN). Past the
 * open-file limit accept() fails with EMFILE and leaves the connection
 * pending, so a level-triggered poll would report it again at once: the
 * loop would spin and the peer would wait for nothing. The answer, as in
 * libuv's own listener, is a descriptor held in reserve: give it up, accept
 * and close what is pending (the peer sees its connection closed at once),
 * take it back. libuv keeps one reserve per loop, and with several loops on
 * one process-wide descriptor table one loop's freed slot is taken by
 * another's accept: the reserve is lost, and libuv's listener then calls
 * back with EMFILE in a loop that never returns. Here the reserve is the
 * process's, behind a lock; a shard that finds it gone (another thread took
 * the slot) stops polling for ACCEPT_PAUSE_MS and tries again, so no thread
 * spins and the members it has are still served.
 */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "server_state.h"

#define LISTEN_BACKLOG 1024
#define ACCEPT_BATCH 128    /* accepts per wake, so the loop reads its sockets between */
#define ACCEPT_PAUSE_MS 100 /* out of descriptors with none in reserve */
#define WARN_EVERY_MS 10000 /* the warning about it, at most this often per shard */

void pd_fd_reserve_init(pd_fd_reserve_t *r)
{
    uv_mutex_init(&r->lock);
    r->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void pd_fd_reserve_free(pd_fd_reserve_t *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    uv_mutex_destroy(&r->lock);
}

static void warn_out_of_fds(pd_server_t *srv, int err)
{
    uint64_t now = pd_server_now(srv);
    if (srv->listener.warned_ms && now - srv->listener.warned_ms < WARN_EVERY_MS)
        return;
    srv->listener.warned_ms = now;
    pd_log(PD_LOG_WARN, "out of file descriptors: shedding new connections",
           " error=%s thread=%u rejected=%llu", strerror(err), srv->shard,
           (unsigned long long)srv->metrics.rejected_total);
}

static void on_readable(uv_poll_t *p, int status, int events);

static void on_pause_over(uv_timer_t *t)
{
    pd_server_t *srv = t->data;
    if (srv->listener.polling)
        uv_poll_start(&srv->listener.poll, UV_READABLE, on_readable);
}

static void pause_accepting(pd_server_t *srv)
{
    srv->metrics.accept_pauses_total++;
    uv_poll_stop(&srv->listener.poll);
    uv_timer_start(&srv->listener.pause, on_pause_over, ACCEPT_PAUSE_MS, 0);
}

/*
 * Out of descriptors: accepts and closes up to a batch of what is pending
 * on the process's reserve. Returns how many it shed; 0 with *still_out
 * set when even that found no descriptor (the reserve is gone, or its slot
 * went to another thread before the accept).
 */
static unsigned shed_pending(pd_server_t *srv, int *still_out)
{
    pd_fd_reserve_t *r = &srv->proc->fd_reserve;
    unsigned shed = 0;
    *still_out = 0;
    uv_mutex_lock(&r->lock);
    if (r->fd < 0)
        r->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        *still_out = 1;
    } else {
        close(r->fd);
        while (shed < ACCEPT_BATCH) {
            int fd = accept4(srv->listener.fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                close(fd);
                shed++;
            } else if (errno != EINTR && errno != ECONNABORTED) {
                *still_out = errno == EMFILE || errno == ENFILE;
                break;
            }
        }
        r->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    uv_mutex_unlock(&r->lock);
    return shed;
}

static void on_out_of_fds(pd_server_t *srv, int err)
{
    int still_out;
    unsigned shed = shed_pending(srv, &still_out);
    srv->metrics.rejected_total += shed;
    warn_out_of_fds(srv, err);
    if (!shed && still_out)
        pause_accepting(srv);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    pd_server_t *srv = p->data;
    (void)events;
    if (status < 0) {
        pd_log(PD_LOG_WARN, "listener poll failed", " error=%s", uv_strerror(status));
        pause_accepting(srv);
        return;
    }
    for (unsigned i = 0; i < ACCEPT_BATCH && srv->listener.polling; i++) {
        int fd = accept4(srv->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            pd_conn_accept(srv, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EMFILE || errno == ENFILE) {
            on_out_of_fds(srv, errno);
            return;
        }
        /* ENOBUFS, ENOMEM, a firewall's EPERM: the connection is lost; try again later. */
        pd_log(PD_LOG_WARN, "accept failed", " error=%s", strerror(errno));
        pause_accepting(srv);
        return;
    }
}

void pd_listener_init(pd_server_t *srv)
{
    srv->listener.fd = -1;
    uv_timer_init(srv->loop, &srv->listener.pause);
    srv->listener.pause.data = srv;
}

static int start_polling(pd_server_t *srv)
{
    int rc = uv_poll_init(srv->loop, &srv->listener.poll, srv->listener.fd);
    if (rc) {
        close(srv->listener.fd);
        srv->listener.fd = -1;
        return rc;
    }
    srv->listener.poll.data = srv;
    srv->listener.polling = 1;
    return uv_poll_start(&srv->listener.poll, UV_READABLE, on_readable);
}

static int sock_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    memset(ss, 0, sizeof(*ss));
    *len = sizeof(struct sockaddr_in);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    *len = sizeof(struct sockaddr_in6);
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
}

int pd_listener_bind(pd_server_t *srv, const char *host, int port, int *bound)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = sock_addr(host, port, &ss, &len);
    if (rc)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        rc = uv_translate_sys_error(errno);
        close(fd);
        return rc;
    }
    *bound = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                           : ((struct sockaddr_in6 *)&ss)->sin6_port);
    srv->listener.fd = fd;
    return start_polling(srv);
}

int pd_listener_share(pd_server_t *srv, const pd_server_t *from)
{
    int fd = fcntl(from->listener.fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    srv->listener.fd = fd;
    return start_polling(srv);
}

void pd_listener_close(pd_server_t *srv)
{
    pd_listener_t *l = &srv->listener;
    if (!uv_is_closing((uv_handle_t *)&l->pause))
        uv_close((uv_handle_t *)&l->pause, NULL);
    if (l->fd < 0)
        return;
    l->polling = 0;
    /* Closing the handle takes the descriptor out of the loop's epoll set first. */
    uv_close((uv_handle_t *)&l->poll, NULL);
    close(l->fd);
    l->fd = -1;
}
