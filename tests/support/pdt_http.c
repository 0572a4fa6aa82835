#include "pdt_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int pdt_tcp_connect(int port)
{
    return pdt_tcp_connect_rcvbuf(port, 0);
}

int pdt_tcp_connect_rcvbuf(int port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int pdt_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Whether out holds a whole response: headers, and the body they announce. */
static int response_complete(const pd_buf_t *out)
{
    const char *end = out->base ? strstr(out->base, "\r\n\r\n") : NULL;
    if (end == NULL)
        return 0;
    if (pdt_http_status(out->base) == 101)
        return 1;
    char cl[32];
    if (pdt_http_header(out->base, "Content-Length", cl, sizeof(cl)) != 0)
        return 0;
    size_t head = (size_t)(end + 4 - out->base);
    return out->len >= head + strtoul(cl, NULL, 10);
}

int pdt_read_response(int fd, pd_buf_t *out, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    char chunk[4096];
    for (;;) {
        long left = deadline - now_ms();
        if (response_complete(out) || left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 1;
        pd_buf_append(out, chunk, (size_t)n);
    }
}

int pdt_http_status(const char *text)
{
    int status = 0;
    if (text == NULL || sscanf(text, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    return status;
}

static const char *header_line(const char *text, const char *name)
{
    size_t nlen = strlen(name);
    const char *end = strstr(text, "\r\n\r\n");
    if (end == NULL)
        return NULL;
    for (const char *p = strstr(text, "\r\n"); p != NULL && p < end; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nlen) == 0 && p[2 + nlen] == ':')
            return p + 3 + nlen;
    }
    return NULL;
}

int pdt_http_header(const char *text, const char *name, char *out, size_t cap)
{
    const char *v = text ? header_line(text, name) : NULL;
    if (v == NULL)
        return -1;
    v += strspn(v, " \t");
    size_t len = strcspn(v, "\r\n");
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len >= cap)
        len = cap - 1;
    memcpy(out, v, len);
    out[len] = '\0';
    return 0;
}

const char *pdt_http_body(const char *text)
{
    const char *end = text ? strstr(text, "\r\n\r\n") : NULL;
    return end ? end + 4 : "";
}

int pdt_http_raw(int port, const char *request, size_t len, pd_buf_t *out)
{
    int fd = pdt_tcp_connect(port);
    if (fd < 0)
        return 0;
    pdt_write_all(fd, request, len);
    pdt_read_response(fd, out, 5000);
    close(fd);
    return pdt_http_status(out->base);
}

int pdt_http_get(int port, const char *path, pd_buf_t *out)
{
    return pdt_http_get_auth(port, path, NULL, out);
}

int pdt_http_get_auth(int port, const char *path, const char *secret, pd_buf_t *out)
{
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s%s%s\r\n",
                     path, port, secret ? "Authorization: Bearer " : "", secret ? secret : "",
                     secret ? "\r\n" : "");
    return pdt_http_raw(port, req, (size_t)n, out);
}

double pdt_metric(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *p = text;
    while (p != NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return -1;
}

double pdt_http_metric(int port, const char *name)
{
    pd_buf_t out = PD_BUF_INIT;
    double v = -1;
    if (pdt_http_get(port, "/metrics", &out) == 200)
        v = pdt_metric(pdt_http_body(out.base), name);
    pd_buf_free(&out);
    return v;
}
