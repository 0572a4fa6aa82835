#include "apicheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

#define API_TIMEOUT_S 5
#define API_RETRY_MS 250
#define API_MAX_MS 15000

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int connect_port(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = API_TIMEOUT_S};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * GET path from 127.0.0.1:port; the API closes the connection after its
 * answer, so the body is what follows the headers up to the end. Returns
 * the HTTP status (body in out), or -1.
 */
static int http_get(int port, const char *path, const char *secret, pd_buf_t *out)
{
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                     "Connection: close\r\n\r\n",
                     path, port, secret);
    int fd = connect_port(port);
    if (fd < 0 || n <= 0 || (size_t)n >= sizeof(req)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    pd_buf_reset(out);
    int ok = send(fd, req, (size_t)n, MSG_NOSIGNAL) == n;
    char chunk[16384];
    ssize_t got;
    while (ok && (got = read(fd, chunk, sizeof(chunk))) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            ok = 0;
        else
            pd_buf_append(out, chunk, (size_t)got);
    }
    close(fd);
    int status = 0;
    if (!ok || out->len < 12 || sscanf(out->base, "HTTP/1.%*c %d", &status) != 1)
        return -1;
    const char *body = memmem(out->base, out->len, "\r\n\r\n", 4);
    if (!body)
        return -1;
    size_t skip = (size_t)(body + 4 - out->base);
    memmove(out->base, out->base + skip, out->len - skip);
    out->len -= skip;
    pd_buf_append_char(out, '\0');
    out->len--;
    return status;
}

/* Counts "userId":"<c>… entries of a room's user list. */
static unsigned count_users(const pd_buf_t *b, char c)
{
    char key[] = "\"userId\":\"?";
    key[sizeof(key) - 2] = c;
    unsigned n = 0;
    const char *p = b->base, *end = b->base + b->len;
    while ((p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
        n++;
        p += sizeof(key) - 1;
    }
    return n;
}

/*
 * /api/rooms: every bench room listed once with members users, nothing
 * else. Returns how many entries are wrong (a missing room counts one).
 */
static uint64_t rooms_wrong(const lg_cfg_t *cfg, const pd_buf_t *b)
{
    static const char key[] = "\"roomId\":\"presence-bench";
    uint64_t wrong = 0, listed = 0;
    const char *p = b->base, *end = b->base + b->len;
    while ((p = memmem(p, (size_t)(end - p), "\"roomId\":", 9)) != NULL) {
        unsigned room, users;
        const char *u = memmem(p, (size_t)(end - p), "\"users\":", 8);
        int ours = (size_t)(end - p) > sizeof(key) - 1 && memcmp(p, key, sizeof(key) - 1) == 0 &&
                   sscanf(p + sizeof(key) - 1, "%u\"", &room) == 1 && room < cfg->rooms;
        if (!ours || !u || sscanf(u + 8, "%u", &users) != 1 || users != cfg->members)
            wrong++;
        else
            listed++;
        p += 9;
    }
    return wrong + (cfg->rooms > listed ? cfg->rooms - listed : 0);
}

static void check_once(const lg_cfg_t *cfg, const char *secret, lg_api_check_t *o, pd_buf_t *b)
{
    o->ghosts = o->missing = o->rooms_wrong = o->errors = 0;
    for (unsigned node = 0; node < cfg->nodes; node++) {
        int port = cfg->ports[node];
        o->requests++;
        if (http_get(port, "/api/rooms", secret, b) != 200)
            o->errors++;
        else
            o->rooms_wrong += rooms_wrong(cfg, b);
        for (unsigned r = 0; r < cfg->rooms; r++) {
            char path[64];
            snprintf(path, sizeof(path), "/api/rooms/presence-bench%u", r);
            o->requests++;
            if (http_get(port, path, secret, b) != 200) {
                o->errors++;
                continue;
            }
            unsigned steady = count_users(b, 'u');
            o->ghosts += count_users(b, 'c');
            o->missing += steady < cfg->members ? cfg->members - steady : 0;
        }
    }
    o->clean = !o->ghosts && !o->missing && !o->rooms_wrong && !o->errors;
}

void lg_api_check(const lg_cfg_t *cfg, const char *secret, lg_api_check_t *out)
{
    memset(out, 0, sizeof(*out));
    pd_buf_t b;
    pd_buf_init(&b);
    uint64_t t0 = now_ms();
    for (;;) {
        check_once(cfg, secret, out, &b);
        out->settle_ms = now_ms() - t0;
        if (out->clean || out->settle_ms >= API_MAX_MS)
            break;
        struct timespec ts = {0, API_RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    pd_buf_free(&b);
}
