#include "pdt_recorder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 64

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
} rec_client_t;

static void grow_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, data, n);
    *len += n;
}

/* The value of header name in head (lines ending "\r\n"), or NULL; *n gets its length. */
static const char *header_value(const char *head, size_t head_len, const char *name, size_t *n)
{
    size_t name_len = strlen(name);
    const char *p = memchr(head, '\n', head_len);
    while (p && (size_t)(p + 1 - head) < head_len) {
        const char *line = p + 1;
        const char *end = memmem(line, head_len - (size_t)(line - head), "\r\n", 2);
        if (!end)
            return NULL;
        if ((size_t)(end - line) > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            const char *v = line + name_len + 1;
            while (v < end && *v == ' ')
                v++;
            *n = (size_t)(end - v);
            return v;
        }
        p = end + 1;
    }
    return NULL;
}

static void answer(int fd, const char *head, size_t head_len)
{
    size_t n = 0;
    const char *auth = header_value(head, head_len, "Authorization", &n);
    char user[64] = "";
    if (auth && n > 10 && strncmp(auth, "Bearer ok-", 10) == 0) {
        size_t u = 0;
        for (size_t i = 10; i < n && auth[i] != '.' && u + 1 < sizeof(user); i++)
            user[u++] = auth[i];
        user[u] = '\0';
    }
    char body[256], resp[512];
    int blen = 0, status = user[0] ? 200 : 401;
    if (status == 200)
        blen = snprintf(
            body, sizeof(body),
            "{\"userId\":\"%s\",\"userName\":\"%s\",\"userImage\":\"https://img.test/%s\"}", user,
            user, user);
    int rlen = snprintf(
        resp, sizeof(resp),
        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%.*s",
        status, status == 200 ? "OK" : "Unauthorized", blen, blen, body);
    if (write(fd, resp, (size_t)rlen) < 0)
        perror("recorder: write");
}

/*
 * Answers every complete request in the client's buffer, counting each
 * before its answer goes out: a test that saw the answer's effect sees the
 * count.
 */
static void serve(pdt_recorder_t *r, rec_client_t *c)
{
    for (;;) {
        const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end)
            return;
        size_t head_len = (size_t)(end - c->buf) + 4, n = 0;
        const char *cl = header_value(c->buf, head_len, "Content-Length", &n);
        size_t body = cl ? strtoul(cl, NULL, 10) : 0;
        if (c->len < head_len + body)
            return;
        pthread_mutex_lock(&r->lock);
        r->requests++;
        pthread_mutex_unlock(&r->lock);
        answer(c->fd, c->buf, head_len);
        memmove(c->buf, c->buf + head_len + body, c->len - head_len - body);
        c->len -= head_len + body;
    }
}

static void client_read(pdt_recorder_t *r, rec_client_t *c)
{
    char data[16384];
    ssize_t got = read(c->fd, data, sizeof(data));
    if (got <= 0) {
        close(c->fd);
        free(c->buf);
        memset(c, 0, sizeof(*c));
        c->fd = -1;
        return;
    }
    pthread_mutex_lock(&r->lock);
    grow_append(&r->raw, &r->raw_len, &r->raw_cap, data, (size_t)got);
    pthread_mutex_unlock(&r->lock);
    grow_append(&c->buf, &c->len, &c->cap, data, (size_t)got);
    serve(r, c);
}

static void accept_one(pdt_recorder_t *r, rec_client_t *clients)
{
    int fd = accept(r->listen_fd, NULL, NULL);
    if (fd < 0)
        return;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].fd < 0) {
            clients[i].fd = fd;
            return;
        }
    }
    close(fd);
}

static void *run(void *arg)
{
    pdt_recorder_t *r = arg;
    rec_client_t clients[MAX_CLIENTS];
    memset(clients, 0, sizeof(clients));
    for (int i = 0; i < MAX_CLIENTS; i++)
        clients[i].fd = -1;
    for (;;) {
        struct pollfd pfd[MAX_CLIENTS + 2] = {{r->stop_pipe[0], POLLIN, 0},
                                              {r->listen_fd, POLLIN, 0}};
        for (int i = 0; i < MAX_CLIENTS; i++)
            pfd[i + 2] = (struct pollfd){clients[i].fd, POLLIN, 0};
        if (poll(pfd, MAX_CLIENTS + 2, -1) < 0 || pfd[0].revents)
            break;
        if (pfd[1].revents)
            accept_one(r, clients);
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i].fd >= 0 && pfd[i + 2].revents)
                client_read(r, &clients[i]);
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].fd >= 0)
            close(clients[i].fd);
        free(clients[i].buf);
    }
    return NULL;
}

int pdt_recorder_start(pdt_recorder_t *r)
{
    memset(r, 0, sizeof(*r));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(r->listen_fd, 64) != 0 ||
        getsockname(r->listen_fd, (struct sockaddr *)&a, &alen) != 0 || pipe(r->stop_pipe) != 0) {
        perror("recorder: listen");
        return -1;
    }
    r->port = ntohs(a.sin_port);
    snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d/verify", r->port);
    pthread_mutex_init(&r->lock, NULL);
    if (pthread_create(&r->thread, NULL, run, r) != 0) {
        perror("recorder: thread");
        return -1;
    }
    return 0;
}

void pdt_recorder_stop(pdt_recorder_t *r)
{
    if (write(r->stop_pipe[1], "x", 1) != 1)
        perror("recorder: stop");
    pthread_join(r->thread, NULL);
    close(r->stop_pipe[0]);
    close(r->stop_pipe[1]);
    close(r->listen_fd);
    pthread_mutex_destroy(&r->lock);
    free(r->raw);
    r->raw = NULL;
}

char *pdt_recorder_raw(pdt_recorder_t *r)
{
    pthread_mutex_lock(&r->lock);
    char *copy = malloc(r->raw_len + 1);
    for (size_t i = 0; i < r->raw_len; i++)
        copy[i] = r->raw[i] ? r->raw[i] : '?';
    copy[r->raw_len] = '\0';
    pthread_mutex_unlock(&r->lock);
    return copy;
}

unsigned pdt_recorder_requests(pdt_recorder_t *r)
{
    pthread_mutex_lock(&r->lock);
    unsigned n = r->requests;
    pthread_mutex_unlock(&r->lock);
    return n;
}
