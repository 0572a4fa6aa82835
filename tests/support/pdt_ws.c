#include "pdt_ws.h"

#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "http/http.h"
#include "pdt_http.h"
#include "pdt_token.h"

/*
 * Every open client. Waits read all of them (see the header), and teardown
 * frees whatever a failed test left open.
 */
static pdt_ws_t *clients;
static unsigned n_opened;

static void failf(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void failf(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error(fmt, ap);
    va_end(ap);
    print_error("\n");
    _fail(file, line);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- codec callbacks ---- */

static void on_text(void *ud, const char *data, size_t len)
{
    pdt_ws_t *c = ud;
    if (c->q_head == c->q_len) /* all taken: reuse the array from its start */
        c->q_head = c->q_len = 0;
    if (c->q_len == c->q_cap) {
        c->q_cap = c->q_cap ? c->q_cap * 2 : 16;
        c->queue = pd_realloc(c->queue, c->q_cap * sizeof(*c->queue));
    }
    c->queue[c->q_len++] = pd_strndup(data, len);
}

static void on_close(void *ud, uint16_t code, pd_slice_t reason)
{
    pdt_ws_t *c = ud;
    size_t n = reason.len < sizeof(c->close_reason) - 1 ? reason.len : sizeof(c->close_reason) - 1;
    c->close_code = code;
    memcpy(c->close_reason, reason.base ? reason.base : "", n);
    c->close_reason[n] = '\0';
}

static void on_output(void *ud, const char *data, size_t len)
{
    pdt_ws_t *c = ud;
    pd_buf_append(&c->out, data, len);
}

static void flush_out(pdt_ws_t *c)
{
    if (c->out.len > 0 && c->fd >= 0)
        pdt_write_all(c->fd, c->out.base, c->out.len);
    pd_buf_reset(&c->out);
}

/*
 * A minimal scanner of the server's frame boundaries, run beside the codec.
 * It counts pings (the codec answers them without telling) and reads close
 * frames itself, so a close code the codec refuses is still reported as the
 * server sent it.
 */

static size_t header_size(const uint8_t *h, size_t have)
{
    if (have < 2)
        return 2;
    size_t len7 = h[1] & 0x7f;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
}

static void frame_done(pdt_ws_t *c)
{
    const uint8_t *p = c->scan_ctl;
    size_t n = c->scan_ctl_len;
    if (c->scan_opcode != 0x8 || (c->close_code != 0 && c->close_code != 1006))
        return;
    c->close_code = n >= 2 ? (p[0] << 8 | p[1]) : 1005;
    n = n >= 2 ? n - 2 : 0;
    memcpy(c->close_reason, p + 2, n);
    c->close_reason[n] = '\0';
}

static void header_done(pdt_ws_t *c)
{
    const uint8_t *h = c->scan_hdr;
    uint64_t len = h[1] & 0x7f;
    size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
    if (ext > 0)
        len = 0;
    for (size_t i = 0; i < ext; i++)
        len = (len << 8) | h[2 + i];
    c->scan_opcode = h[0] & 0x0f;
    if (c->scan_opcode == 0x9)
        c->pings++;
    c->scan_skip = len;
    c->scan_len = 0;
    c->scan_ctl_len = 0;
    if (len == 0)
        frame_done(c);
}

static void payload_bytes(pdt_ws_t *c, const uint8_t *p, size_t k)
{
    size_t room = sizeof(c->scan_ctl) - c->scan_ctl_len;
    if (c->scan_opcode == 0x8) {
        memcpy(c->scan_ctl + c->scan_ctl_len, p, k < room ? k : room);
        c->scan_ctl_len += k < room ? k : room;
    }
    c->scan_skip -= k;
    if (c->scan_skip == 0)
        frame_done(c);
}

static void scan_frames(pdt_ws_t *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (c->scan_skip > 0) {
            size_t k = c->scan_skip < n ? (size_t)c->scan_skip : n;
            payload_bytes(c, p, k);
            p += k;
            n -= k;
            continue;
        }
        c->scan_hdr[c->scan_len++] = *p++;
        n--;
        if (c->scan_len == header_size(c->scan_hdr, c->scan_len))
            header_done(c);
    }
}

/* ---- reading ---- */

static void ingest(pdt_ws_t *c, const char *data, size_t len)
{
    scan_frames(c, (const uint8_t *)data, len);
    if (pd_ws_feed(c->codec, data, len) == PD_ERR_PROTO)
        c->codec_error = 1;
    /* Answer the server's close as RFC 6455 asks, echoing its code. */
    if (c->close_code != 0 && !pd_ws_close_sent(c->codec))
        pd_ws_close(c->codec, c->close_code == 1005 ? 1000 : (uint16_t)c->close_code, NULL);
    flush_out(c);
}

static void mark_eof(pdt_ws_t *c)
{
    c->eof = 1;
    if (c->close_code == 0)
        c->close_code = 1006;
}

static void read_some(pdt_ws_t *c)
{
    char buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0)
        ingest(c, buf, (size_t)n);
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        mark_eof(c);
}

static int readable(const pdt_ws_t *c)
{
    return c->fd >= 0 && !c->paused && !c->eof;
}

static void pump_once(int timeout_ms)
{
    size_t n = 0, cap = 0;
    for (pdt_ws_t *c = clients; c != NULL; c = c->next)
        cap++;
    struct pollfd *pfd = pd_calloc(cap + 1, sizeof(*pfd));
    pdt_ws_t **who = pd_calloc(cap + 1, sizeof(*who));
    for (pdt_ws_t *c = clients; c != NULL; c = c->next) {
        if (readable(c)) {
            pfd[n] = (struct pollfd){.fd = c->fd, .events = POLLIN};
            who[n++] = c;
        }
    }
    if (poll(pfd, n, timeout_ms) > 0) {
        for (size_t i = 0; i < n; i++)
            if (pfd[i].revents != 0)
                read_some(who[i]);
    }
    free(pfd);
    free(who);
}

int pdt_wait(int (*cond)(void *arg), void *arg, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        int done = cond(arg);
        long left = deadline - now_ms();
        if (done || left <= 0)
            return done;
        pump_once(left < 20 ? (int)left : 20);
    }
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

void pdt_pump(int ms)
{
    pump_once(0);
    pdt_wait(never, NULL, ms);
}

char *pdt_take_text(pdt_ws_t *c)
{
    return pdt_pending(c) > 0 ? c->queue[c->q_head++] : NULL;
}

size_t pdt_pending(const pdt_ws_t *c)
{
    return c->q_len - c->q_head;
}

static int has_news(void *arg)
{
    const pdt_ws_t *c = arg;
    return pdt_pending(c) > 0 || c->close_code != 0;
}

static int has_ended(void *arg)
{
    const pdt_ws_t *c = arg;
    return c->eof;
}

/* ---- opening ---- */

static pdt_ws_t *client_new(const char *label)
{
    static const pd_ws_callbacks_t cb = {on_text, on_close, on_output, NULL};
    pd_ws_config_t cfg = {.client = 1, .max_message = 1 << 22};
    pdt_ws_t *c = pd_calloc(1, sizeof(*c));
    c->fd = -1;
    snprintf(c->label, sizeof(c->label), "%s#%u", label ? label : "client", ++n_opened);
    c->codec = pd_ws_new(&cfg, &cb, c);
    c->next = clients;
    clients = c;
    return c;
}

static void make_key(char key[25])
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        memset(raw, 0x5a, sizeof(raw));
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
}

static void append_target(pd_buf_t *b, const pdt_ws_opts_t *o)
{
    if (o->path != NULL)
        pd_buf_append_cstr(b, o->path);
    else
        pd_buf_appendf(b, "/parties/presence/%s", o->workspace);
    if (o->query != NULL) {
        pd_buf_appendf(b, "?%s", o->query);
        return;
    }
    if (o->token != NULL)
        pd_buf_appendf(b, "?token=%s", o->token);
    if (o->pk != NULL)
        pd_buf_appendf(b, "%c_pk=%s", o->token != NULL ? '&' : '?', o->pk);
}

static void build_request(pdt_ws_t *c, pd_buf_t *b, int port, const pdt_ws_opts_t *o,
                          const char *key)
{
    pd_buf_append_cstr(b, "GET ");
    append_target(b, o);
    pd_buf_appendf(b,
                   " HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n%s\r\n",
                   port, key, o->headers ? o->headers : "");
    if (o->early != NULL) {
        pd_ws_send_text(c->codec, o->early, strlen(o->early));
        pd_buf_append(b, c->out.base, c->out.len);
        pd_buf_reset(&c->out);
    }
}

/* Checks the 101 and its accept value; returns where frames begin, or NULL. */
static const char *check_upgrade(pdt_ws_t *c, const pd_buf_t *resp, const char *key,
                                 const char *file, int line)
{
    char want[29], got[64];
    const char *text = resp->base ? resp->base : "";
    if (pdt_http_status(text) != 101) {
        failf(file, line, "%s: expected 101 Switching Protocols, got:\n%s", c->label, text);
        return NULL;
    }
    pd_http_ws_accept(pd_slice_cstr(key), want);
    if (pdt_http_header(text, "Sec-WebSocket-Accept", got, sizeof(got)) != 0 ||
        strcmp(got, want) != 0) {
        failf(file, line, "%s: bad Sec-WebSocket-Accept (want %s) in:\n%s", c->label, want, text);
        return NULL;
    }
    return strstr(text, "\r\n\r\n") + 4;
}

pdt_ws_t *pdt_ws_open_(int port, const pdt_ws_opts_t *o, const char *file, int line)
{
    char key[25];
    pd_buf_t req = PD_BUF_INIT, resp = PD_BUF_INIT;
    pdt_ws_t *c = client_new(o->label);
    c->fd = pdt_tcp_connect_rcvbuf(port, o->rcvbuf);
    if (c->fd < 0)
        failf(file, line, "%s: cannot connect to port %d: %s", c->label, port, strerror(errno));
    make_key(key);
    build_request(c, &req, port, o, key);
    pdt_write_all(c->fd, req.base, req.len);
    pd_buf_free(&req);
    pdt_read_response(c->fd, &resp, PDT_WAIT_MS);
    const char *frames = check_upgrade(c, &resp, key, file, line);
    if (frames != NULL && frames < resp.base + resp.len)
        ingest(c, frames, (size_t)(resp.base + resp.len - frames));
    pd_buf_free(&resp);
    return c;
}

pdt_ws_t *pdt_join_(int port, const char *workspace, const char *user, const char *file, int line)
{
    pdt_ws_opts_t o = {.workspace = workspace, .label = pdt_fmt("%s@%s", user, workspace)};
    o.token = pdt_token(user, pdt_name(user), workspace, 3600);
    pdt_ws_t *c = pdt_ws_open_(port, &o, file, line);
    pdt_expect_(c, "presence_snapshot", PDT_WAIT_MS, file, line);
    return c;
}

/* ---- taking messages ---- */

const cJSON *pdt_last(const pdt_ws_t *c)
{
    return c->last;
}

static const cJSON *pop(pdt_ws_t *c, const char *file, int line)
{
    char *text = c->queue[c->q_head++];
    cJSON_Delete(c->last);
    c->last = cJSON_Parse(text);
    if (c->last == NULL || !cJSON_IsObject(c->last))
        failf(file, line, "%s: the server sent a message that is not a JSON object: %s", c->label,
              text);
    free(text);
    return c->last;
}

const cJSON *pdt_next_(pdt_ws_t *c, int timeout_ms, const char *file, int line)
{
    pdt_wait(has_news, c, timeout_ms);
    return pdt_pending(c) > 0 ? pop(c, file, line) : NULL;
}

static void describe_end(const pdt_ws_t *c, char *out, size_t cap)
{
    const char *codec = c->codec_error ? " (the client codec rejected the server's frames)" : "";
    if (c->close_code == 0)
        snprintf(out, cap, "nothing%s", codec);
    else if (c->close_code == 1006)
        snprintf(out, cap, "the socket closed without a close frame%s", codec);
    else
        snprintf(out, cap, "close %d \"%s\"%s", c->close_code, c->close_reason, codec);
}

const cJSON *pdt_expect_(pdt_ws_t *c, const char *type, int timeout_ms, const char *file, int line)
{
    char end[256];
    const cJSON *m = pdt_next_(c, timeout_ms, file, line);
    if (m == NULL) {
        describe_end(c, end, sizeof(end));
        failf(file, line, "%s: expected a %s message within %d ms, got %s", c->label, type,
              timeout_ms, end);
        return NULL;
    }
    const char *got = pdt_str(m, "type");
    if (got == NULL || strcmp(got, type) != 0) {
        char *text = cJSON_PrintUnformatted(m);
        failf(file, line, "%s: expected a %s message, got %s", c->label, type, text);
        free(text);
    }
    return m;
}

void pdt_expect_leave_(pdt_ws_t *c, const char *user, int timeout_ms, const char *file, int line)
{
    pdt_assert_field_(pdt_expect_(c, "user_left", timeout_ms, file, line), "userId", user, file,
                      line);
    pdt_assert_field_(pdt_expect_(c, "user_left_presence", PDT_WAIT_MS, file, line), "userId", user,
                      file, line);
}

const cJSON *pdt_wait_type_(pdt_ws_t *c, const char *type, int timeout_ms, const char *file,
                            int line)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        long left = deadline - now_ms();
        const cJSON *m = pdt_next_(c, left > 0 ? (int)left : 0, file, line);
        if (m == NULL)
            break;
        const char *got = pdt_str(m, "type");
        if (got != NULL && strcmp(got, type) == 0)
            return m;
    }
    char end[256];
    describe_end(c, end, sizeof(end));
    failf(file, line, "%s: no %s message within %d ms (end: %s)", c->label, type, timeout_ms, end);
    return NULL;
}

void pdt_assert_quiet_(pdt_ws_t *c, const char *file, int line)
{
    char end[256];
    if (pdt_pending(c) > 0) {
        failf(file, line, "%s: expected no message, got %s", c->label, c->queue[c->q_head]);
        return;
    }
    if (c->close_code != 0) {
        describe_end(c, end, sizeof(end));
        failf(file, line, "%s: expected the connection to stay open, got %s", c->label, end);
    }
}

void pdt_expect_silence_(pdt_ws_t *c, int ms, const char *file, int line)
{
    pdt_pump(ms);
    pdt_assert_quiet_(c, file, line);
}

/* ---- barriers ---- */

/* The barrier whose pong is awaited: the client and the ping's id. */
typedef struct {
    pdt_ws_t *c;
    char id[32];
} barrier_t;

static int is_pong_for(const char *text, const char *id)
{
    cJSON *m = cJSON_Parse(text);
    const char *type = pdt_str(m, "type"), *got = pdt_str(m, "id");
    int yes = type != NULL && strcmp(type, "pong") == 0 && got != NULL && strcmp(got, id) == 0;
    cJSON_Delete(m);
    return yes;
}

/* The queue index of the barrier's pong, or -1 while it has not come. */
static long barrier_index(const barrier_t *b)
{
    for (size_t i = b->c->q_head; i < b->c->q_len; i++)
        if (is_pong_for(b->c->queue[i], b->id))
            return (long)i;
    return -1;
}

static int barrier_done(void *arg)
{
    const barrier_t *b = arg;
    return barrier_index(b) >= 0 || b->c->close_code != 0;
}

/* Sends a ping with an id no test uses and fills b to recognise its pong. */
static void barrier_send(barrier_t *b, pdt_ws_t *c)
{
    static unsigned next;
    b->c = c;
    snprintf(b->id, sizeof(b->id), "pdt-barrier-%u", ++next);
    pdt_sendf(c, "{\"type\":\"ping\",\"id\":\"%s\"}", b->id);
}

/* Waits for b's pong (PDT_WAIT_MS); returns its queue index, after failing the test if none came. */
static long barrier_wait(const barrier_t *b, const char *file, int line)
{
    char end[256];
    pdt_wait(barrier_done, (void *)b, PDT_WAIT_MS);
    long i = barrier_index(b);
    if (i < 0) {
        describe_end(b->c, end, sizeof(end));
        failf(file, line, "%s: no pong for a barrier within %d ms, got %s", b->c->label,
              PDT_WAIT_MS, end);
    }
    return i;
}

/* Takes the queue entry at i out, keeping the order of the others. */
static void queue_remove(pdt_ws_t *c, size_t i)
{
    free(c->queue[i]);
    memmove(&c->queue[i], &c->queue[i + 1], (c->q_len - i - 1) * sizeof(*c->queue));
    c->q_len--;
}

void pdt_sync_(pdt_ws_t *c, const char *file, int line)
{
    barrier_t b;
    barrier_send(&b, c);
    queue_remove(c, (size_t)barrier_wait(&b, file, line));
}

void pdt_expect_none_(pdt_ws_t *c, pdt_ws_t *cause, const char *file, int line)
{
    if (cause != NULL && cause != c)
        pdt_sync_(cause, file, line);
    pdt_assert_quiet_(c, file, line);
    barrier_t b;
    barrier_send(&b, c);
    long i = barrier_wait(&b, file, line);
    if ((size_t)i != c->q_head)
        failf(file, line, "%s: expected no message, got %s", c->label, c->queue[c->q_head]);
    queue_remove(c, (size_t)i);
}

void pdt_expect_going_away_(pdt_ws_t *c, const char *file, int line)
{
    const cJSON *m;
    while ((m = pdt_next_(c, PDT_WAIT_MS, file, line)) != NULL) {
        const char *type = pdt_str(m, "type");
        if (type == NULL ||
            (strcmp(type, "user_left") != 0 && strcmp(type, "user_left_presence") != 0)) {
            char *text = cJSON_PrintUnformatted(m);
            failf(file, line, "%s: got %s while the server drained", c->label, text);
        }
        print_message("%s: %s %s during the drain\n", c->label, type, pdt_str(m, "userId"));
    }
    pdt_expect_close_(c, 1001, NULL, PDT_WAIT_MS, file, line);
}

void pdt_expect_close_(pdt_ws_t *c, int code, const char *reason, int timeout_ms, const char *file,
                       int line)
{
    char end[256];
    pdt_wait(has_news, c, timeout_ms);
    if (pdt_pending(c) > 0) {
        failf(file, line, "%s: expected close %d, got message %s", c->label, code,
              c->queue[c->q_head]);
        return;
    }
    describe_end(c, end, sizeof(end));
    if (c->close_code != code || (reason != NULL && strcmp(c->close_reason, reason) != 0))
        failf(file, line, "%s: expected close %d \"%s\" within %d ms, got %s", c->label, code,
              reason ? reason : "*", timeout_ms, end);
}

int pdt_wait_closed(pdt_ws_t *c, int timeout_ms)
{
    return pdt_wait(has_ended, c, timeout_ms);
}

/* ---- sending ---- */

void pdt_send(pdt_ws_t *c, const char *text)
{
    pd_ws_send_text(c->codec, text, strlen(text));
    flush_out(c);
}

void pdt_sendf(pdt_ws_t *c, const char *fmt, ...)
{
    pd_buf_t b = PD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    pd_buf_vappendf(&b, fmt, ap);
    va_end(ap);
    pdt_send(c, b.base ? b.base : "");
    pd_buf_free(&b);
}

void pdt_send_raw(pdt_ws_t *c, const void *data, size_t len)
{
    pdt_write_all(c->fd, data, len);
}

static void append_length(pd_buf_t *b, uint8_t mask_bit, size_t len)
{
    uint8_t h[9];
    size_t n = 1;
    if (len < 126) {
        h[0] = mask_bit | (uint8_t)len;
    } else if (len <= 0xffff) {
        h[0] = mask_bit | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[0] = mask_bit | 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            h[n++] = (uint8_t)((uint64_t)len >> shift);
    }
    pd_buf_append(b, h, n);
}

void pdt_frame(pd_buf_t *b, int fin, int opcode, int masked, const void *payload, size_t len)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    const uint8_t *p = payload;
    pd_buf_append_char(b, (char)((fin ? 0x80 : 0) | (opcode & 0x0f)));
    append_length(b, masked ? 0x80 : 0, len);
    if (masked)
        pd_buf_append(b, key, 4);
    for (size_t i = 0; i < len; i++)
        pd_buf_append_char(b, (char)(masked ? p[i] ^ key[i % 4] : p[i]));
}

void pdt_ws_pause(pdt_ws_t *c, int on)
{
    c->paused = on;
}

/* ---- closing ---- */

static void unlink_client(pdt_ws_t *c)
{
    for (pdt_ws_t **p = &clients; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            return;
        }
    }
}

static void client_free(pdt_ws_t *c)
{
    unlink_client(c);
    if (c->fd >= 0)
        close(c->fd);
    for (size_t i = c->q_head; i < c->q_len; i++)
        free(c->queue[i]);
    free(c->queue);
    cJSON_Delete(c->last);
    pd_ws_free(c->codec);
    pd_buf_free(&c->out);
    free(c);
}

void pdt_ws_close(pdt_ws_t *c)
{
    if (!pd_ws_close_sent(c->codec))
        pd_ws_close(c->codec, 1000, NULL);
    flush_out(c);
    c->paused = 0;
    pdt_wait(has_ended, c, 2000);
    client_free(c);
}

void pdt_ws_drop(pdt_ws_t *c)
{
    client_free(c);
}

void pdt_ws_reset(pdt_ws_t *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    client_free(c);
}

int pdt_teardown(void **state)
{
    (void)state;
    while (clients != NULL)
        client_free(clients);
    pdt_tokens_free();
    return 0;
}

/* ---- JSON helpers ---- */

const char *pdt_str(const cJSON *j, const char *key)
{
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int field_matches(const cJSON *v, const char *want)
{
    if (want == NULL)
        return v == NULL;
    if (want == PDT_JSON_NULL)
        return cJSON_IsNull(v);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

void pdt_assert_field_(const cJSON *j, const char *key, const char *want, const char *file,
                       int line)
{
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
    if (field_matches(v, want))
        return;
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    int quoted = want != NULL && want != PDT_JSON_NULL;
    failf(file, line, "field \"%s\": expected %s%s%s in %s", key, quoted ? "\"" : "",
          want == NULL ? "it absent"
          : quoted     ? want
                       : "null",
          quoted ? "\"" : "", text ? text : "(no message)");
    free(text);
}

const cJSON *pdt_snapshot_user(const cJSON *snapshot, const char *user)
{
    const cJSON *users = cJSON_GetObjectItemCaseSensitive(snapshot, "users");
    const cJSON *e;
    cJSON_ArrayForEach(e, users)
    {
        const char *id = pdt_str(e, "userId");
        if (id != NULL && strcmp(id, user) == 0)
            return e;
    }
    return NULL;
}

int pdt_snapshot_count(const cJSON *snapshot)
{
    const cJSON *users = cJSON_GetObjectItemCaseSensitive(snapshot, "users");
    return cJSON_IsArray(users) ? cJSON_GetArraySize(users) : -1;
}

void pdt_expect_revoked_(pdt_ws_t *c, const char *reason, const char *file, int line)
{
    pdt_assert_field_(pdt_expect_(c, "permission_revoked", PDT_WAIT_MS, file, line), "reason",
                      reason, file, line);
    pdt_expect_close_(c, 1008, "AUTH_FORBIDDEN", PDT_WAIT_MS, file, line);
}
