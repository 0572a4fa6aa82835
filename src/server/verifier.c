#include "verifier.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../auth/endpoint.h"
#include "../base/buf.h"
#include "../base/list.h"
#include "../base/map.h"
#include "../base/mem.h"

#define MAX_RESPONSE_BYTES 65536

typedef enum {
    REQ_QUEUED,
    REQ_INFLIGHT,
    REQ_DONE
} req_state_t;

struct pd_verify_req {
    pd_verifier_t *v;
    pd_list_t link; /* in v->queue, v->inflight or v->done */
    req_state_t state;
    CURL *easy;
    struct curl_slist *headers; /* the Authorization line holds the token: wiped when freed */
    pd_buf_t body;
    pd_buf_t response;
    unsigned char key[SHA256_DIGEST_LENGTH];
    uint64_t started_ms;
    uint64_t epoch; /* v->epoch when it started */
    int from_cache;
    pd_verify_cb cb;
    void *ud;
    pd_auth_status_t result;
    pd_identity_t id;
};

typedef struct {
    pd_list_t fifo;
    unsigned char key[SHA256_DIGEST_LENGTH];
    uint64_t until_ms;
    pd_identity_t id;
} cache_entry_t;

typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
    pd_verifier_t *v;
} sock_ctx_t;

struct pd_verifier {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t curl_timer;  /* curl's own timeouts */
    uv_timer_t done_timer;  /* delivers answers on the next loop turn */
    uv_timer_t queue_timer; /* fails queued requests past their deadline */
    pd_verifier_config_t cfg;
    struct curl_slist *static_headers;
    pd_list_t queue, inflight, done;
    pd_map_t cache;
    pd_list_t cache_fifo;
    unsigned open_handles;
    uint64_t epoch; /* bumped by forget_user: older answers are not cached */
    pd_verifier_stats_t stats;
};

static void start_queued(pd_verifier_t *v);
static void headers_free(struct curl_slist *list);
static void on_done_timer(uv_timer_t *t);

/* ---- the cache ------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cache_key(pd_slice_t token, pd_slice_t room, unsigned char out[SHA256_DIGEST_LENGTH])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, room.base, room.len);
    EVP_DigestUpdate(ctx, "", 1);
    EVP_DigestUpdate(ctx, token.base, token.len);
    EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
}

static void cache_drop(pd_verifier_t *v, cache_entry_t *e)
{
    pd_map_del(&v->cache, pd_slice((const char *)e->key, sizeof(e->key)));
    pd_list_remove(&e->fifo);
    pd_identity_free(&e->id);
    free(e);
}

/* A live entry, or NULL; expired ones are dropped on the way. */
static cache_entry_t *cache_find(pd_verifier_t *v, const unsigned char *key)
{
    cache_entry_t *e = pd_map_get(&v->cache, pd_slice((const char *)key, SHA256_DIGEST_LENGTH));
    if (!e)
        return NULL;
    int stale =
        uv_now(v->loop) >= e->until_ms || (e->id.expires_at_ms && e->id.expires_at_ms <= wall_ms());
    if (stale) {
        cache_drop(v, e);
        return NULL;
    }
    return e;
}

static void cache_put(pd_verifier_t *v, const unsigned char *key, const pd_identity_t *id)
{
    if (!v->cfg.cache_ttl_ms || !v->cfg.cache_max)
        return;
    cache_entry_t *old = pd_map_get(&v->cache, pd_slice((const char *)key, SHA256_DIGEST_LENGTH));
    if (old)
        cache_drop(v, old);
    /* Every entry lives as long, so the oldest inserted expires first. */
    if (v->cache.count >= v->cfg.cache_max)
        cache_drop(v, pd_container_of(v->cache_fifo.next, cache_entry_t, fifo));
    cache_entry_t *e = pd_calloc(1, sizeof(*e));
    memcpy(e->key, key, sizeof(e->key));
    e->until_ms = uv_now(v->loop) + v->cfg.cache_ttl_ms;
    pd_identity_copy(&e->id, id);
    pd_list_push_back(&v->cache_fifo, &e->fifo);
    pd_map_put(&v->cache, pd_slice((const char *)e->key, sizeof(e->key)), e);
}

void pd_verifier_forget_user(pd_verifier_t *v, pd_slice_t user_id)
{
    v->epoch++;
    pd_list_foreach_safe(it, tmp, &v->cache_fifo)
    {
        cache_entry_t *e = pd_container_of(it, cache_entry_t, fifo);
        if (pd_slice_eq(pd_slice_cstr(e->id.user_id), user_id))
            cache_drop(v, e);
    }
}

/* ---- requests -------------------------------------------------------- */

static void req_free(pd_verify_req_t *r)
{
    if (pd_list_linked(&r->link))
        pd_list_remove(&r->link);
    if (r->easy) {
        curl_multi_remove_handle(r->v->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    headers_free(r->headers);
    pd_buf_free(&r->body);
    pd_buf_free(&r->response);
    pd_identity_free(&r->id);
    free(r);
}

static void finish(pd_verify_req_t *r, pd_auth_status_t st)
{
    pd_verifier_t *v = r->v;
    if (r->state == REQ_QUEUED)
        v->stats.queued--;
    else if (r->state == REQ_INFLIGHT)
        v->stats.inflight--;
    if (pd_list_linked(&r->link))
        pd_list_remove(&r->link);
    r->state = REQ_DONE;
    r->result = st;
    if (st == PD_AUTH_UNAVAILABLE)
        v->stats.failures++;
    /*
     * A hit is not cached again (that would extend its life for as long as
     * someone keeps reconnecting), nor an answer that was in flight when a
     * user was forgotten (it may be about that user).
     */
    if (st == PD_AUTH_OK && !r->from_cache && r->epoch == v->epoch)
        cache_put(v, r->key, &r->id);
    pd_list_push_back(&v->done, &r->link);
    uv_timer_start(&v->done_timer, on_done_timer, 0, 0);
}

static void on_done_timer(uv_timer_t *t)
{
    pd_verifier_t *v = t->data;
    while (!pd_list_empty(&v->done)) {
        pd_verify_req_t *r = pd_container_of(v->done.next, pd_verify_req_t, link);
        pd_list_remove(&r->link);
        r->cb(r->ud, r->result, &r->id);
        req_free(r);
    }
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    pd_verify_req_t *r = ud;
    if (r->response.len + size * n > MAX_RESPONSE_BYTES)
        return 0; /* aborts the transfer: the answer is not what we expect */
    pd_buf_append(&r->response, data, size * n);
    return size * n;
}

static CURL *make_easy(pd_verify_req_t *r, uint64_t timeout_ms)
{
    pd_verifier_t *v = r->v;
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, v->cfg.url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.base);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout_ms ? timeout_ms : 1));
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    return e;
}

static void launch(pd_verify_req_t *r)
{
    pd_verifier_t *v = r->v;
    uint64_t waited = uv_now(v->loop) - r->started_ms;
    if (waited >= v->cfg.timeout_ms || !(r->easy = make_easy(r, v->cfg.timeout_ms - waited))) {
        finish(r, PD_AUTH_UNAVAILABLE);
        return;
    }
    pd_list_remove(&r->link);
    v->stats.queued--;
    r->state = REQ_INFLIGHT;
    v->stats.inflight++;
    v->stats.requests++;
    pd_list_push_back(&v->inflight, &r->link);
    if (curl_multi_add_handle(v->multi, r->easy) != CURLM_OK)
        finish(r, PD_AUTH_UNAVAILABLE);
}

static void on_queue_timer(uv_timer_t *t)
{
    start_queued(t->data);
}

/* Starts what the in-flight bound allows and fails what waited too long. */
static void start_queued(pd_verifier_t *v)
{
    uint64_t now = uv_now(v->loop);
    while (!pd_list_empty(&v->queue)) {
        pd_verify_req_t *r = pd_container_of(v->queue.next, pd_verify_req_t, link);
        if (now - r->started_ms >= v->cfg.timeout_ms)
            finish(r, PD_AUTH_UNAVAILABLE);
        else if (v->stats.inflight < v->cfg.max_inflight)
            launch(r);
        else
            break;
    }
    if (pd_list_empty(&v->queue)) {
        uv_timer_stop(&v->queue_timer);
        return;
    }
    pd_verify_req_t *head = pd_container_of(v->queue.next, pd_verify_req_t, link);
    uv_timer_start(&v->queue_timer, on_queue_timer, head->started_ms + v->cfg.timeout_ms - now, 0);
}

/*
 * Every header line with a value from outside (the token) is made here: a
 * value holding a control byte (CR and LF above all) or DEL is refused, so
 * no value can end its line and add a header, or a request, of its own.
 * Tokens are checked before they get here (pd_auth_token_valid()); this is
 * the last door. The line is wiped from memory once curl has its copy.
 */
static int header_append(struct curl_slist **list, const char *name, pd_slice_t value)
{
    for (size_t i = 0; i < value.len; i++) {
        unsigned char ch = (unsigned char)value.base[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return -1;
    }
    size_t n = strlen(name) + 2 + value.len + 1;
    char *line = pd_malloc(n);
    snprintf(line, n, "%s: %.*s", name, (int)value.len, value.base);
    struct curl_slist *grown = curl_slist_append(*list, line);
    OPENSSL_cleanse(line, n);
    free(line);
    if (!grown)
        return -1;
    *list = grown;
    return 0;
}

/* The Authorization line holds the token: wipe every line before freeing. */
static void headers_free(struct curl_slist *list)
{
    for (struct curl_slist *h = list; h; h = h->next)
        OPENSSL_cleanse(h->data, strlen(h->data));
    curl_slist_free_all(list);
}

static int build_request(pd_verify_req_t *r, pd_slice_t token, pd_slice_t room)
{
    pd_endpoint_request_body(&r->body, room);
    char bearer[] = "Bearer ";
    size_t n = sizeof(bearer) - 1 + token.len;
    char *value = pd_malloc(n);
    memcpy(value, bearer, sizeof(bearer) - 1);
    memcpy(value + sizeof(bearer) - 1, token.base, token.len);
    int rc = header_append(&r->headers, "Authorization", pd_slice(value, n));
    OPENSSL_cleanse(value, n);
    free(value);
    if (rc != 0)
        return -1;
    r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, "Expect:");
    for (struct curl_slist *h = r->v->static_headers; h; h = h->next)
        r->headers = curl_slist_append(r->headers, h->data);
    return 0;
}

pd_verify_req_t *pd_verifier_start(pd_verifier_t *v, pd_slice_t token, pd_slice_t room_id,
                                   pd_verify_cb cb, void *ud)
{
    pd_verify_req_t *r = pd_calloc(1, sizeof(*r));
    r->v = v;
    r->cb = cb;
    r->ud = ud;
    r->state = REQ_QUEUED;
    r->started_ms = uv_now(v->loop);
    r->epoch = v->epoch;
    pd_list_init(&r->link);
    pd_buf_init(&r->body);
    pd_buf_init(&r->response);
    cache_key(token, room_id, r->key);
    cache_entry_t *hit = cache_find(v, r->key);
    if (hit) {
        v->stats.cache_hits++;
        pd_identity_copy(&r->id, &hit->id);
        r->state = REQ_DONE; /* never queued: finish() must not count it out */
        r->from_cache = 1;
        finish(r, PD_AUTH_OK);
        return r;
    }
    if (build_request(r, token, room_id) != 0) {
        r->state = REQ_DONE;
        finish(r, PD_AUTH_INVALID);
        return r;
    }
    pd_list_push_back(&v->queue, &r->link);
    v->stats.queued++;
    if (v->stats.queued > v->cfg.max_queue)
        finish(r, PD_AUTH_UNAVAILABLE);
    else
        start_queued(v);
    return r;
}

void pd_verifier_cancel(pd_verify_req_t *r)
{
    pd_verifier_t *v = r->v;
    if (r->state == REQ_QUEUED)
        v->stats.queued--;
    else if (r->state == REQ_INFLIGHT)
        v->stats.inflight--;
    req_free(r);
    start_queued(v);
}

/* ---- curl on libuv ---------------------------------------------------- */

static void check_done(pd_verifier_t *v)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(v->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        pd_verify_req_t *r;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        pd_auth_status_t st = PD_AUTH_UNAVAILABLE;
        if (msg->data.result == CURLE_OK)
            st = pd_endpoint_parse(status, r->response.base, r->response.len, &r->id);
        curl_multi_remove_handle(v->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
        finish(r, st);
    }
    start_queued(v);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_ctx_t *s = p->data;
    int flags = status < 0 ? CURL_CSELECT_ERR : 0;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(s->v->multi, s->fd, flags, &running);
    check_done(s->v);
}

static void on_sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    pd_verifier_t *v = userp;
    sock_ctx_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            curl_multi_assign(v->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = pd_calloc(1, sizeof(*s));
        s->fd = fd;
        s->v = v;
        uv_poll_init_socket(v->loop, &s->poll, fd);
        s->poll.data = s;
        curl_multi_assign(v->multi, fd, s);
    }
    int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    pd_verifier_t *v = t->data;
    int running;
    curl_multi_socket_action(v->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(v);
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
    pd_verifier_t *v = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&v->curl_timer);
    else
        uv_timer_start(&v->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- lifetime --------------------------------------------------------- */

static int add_static_headers(pd_verifier_t *v, const char *const *headers, char *err,
                              size_t errlen)
{
    for (size_t i = 0; headers && headers[i]; i++) {
        if (!strchr(headers[i], ':') || strpbrk(headers[i], "\r\n")) {
            snprintf(err, errlen, "verify header \"%s\" is not \"Name: value\"", headers[i]);
            return -1;
        }
        v->static_headers = curl_slist_append(v->static_headers, headers[i]);
    }
    return 0;
}

pd_verifier_t *pd_verifier_new(uv_loop_t *loop, const pd_verifier_config_t *cfg, char *err,
                               size_t errlen)
{
    pd_verifier_t *v = pd_calloc(1, sizeof(*v));
    v->loop = loop;
    v->cfg = *cfg;
    v->multi = curl_multi_init();
    if (!v->multi || add_static_headers(v, cfg->headers, err, errlen) != 0) {
        if (v->multi)
            curl_multi_cleanup(v->multi);
        else
            snprintf(err, errlen, "cannot initialise libcurl");
        curl_slist_free_all(v->static_headers);
        free(v);
        return NULL;
    }
    v->cfg.headers = NULL;
    curl_multi_setopt(v->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(v->multi, CURLMOPT_SOCKETDATA, v);
    curl_multi_setopt(v->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    curl_multi_setopt(v->multi, CURLMOPT_TIMERDATA, v);
    pd_list_init(&v->queue);
    pd_list_init(&v->inflight);
    pd_list_init(&v->done);
    pd_list_init(&v->cache_fifo);
    pd_map_init(&v->cache, (uint64_t)uv_hrtime());
    uv_timer_t *timers[] = {&v->curl_timer, &v->done_timer, &v->queue_timer};
    for (int i = 0; i < 3; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = v;
    }
    return v;
}

void pd_verifier_stats(const pd_verifier_t *v, pd_verifier_stats_t *out)
{
    *out = v->stats;
}

static void on_timer_closed(uv_handle_t *h)
{
    pd_verifier_t *v = h->data;
    if (--v->open_handles == 0)
        free(v);
}

static void drop_list(pd_list_t *l)
{
    while (!pd_list_empty(l))
        req_free(pd_container_of(l->next, pd_verify_req_t, link));
}

void pd_verifier_close(pd_verifier_t *v)
{
    if (!v)
        return;
    drop_list(&v->queue);
    drop_list(&v->inflight);
    drop_list(&v->done);
    while (!pd_list_empty(&v->cache_fifo))
        cache_drop(v, pd_container_of(v->cache_fifo.next, cache_entry_t, fifo));
    pd_map_free(&v->cache);
    curl_multi_cleanup(v->multi);
    curl_slist_free_all(v->static_headers);
    uv_timer_t *timers[] = {&v->curl_timer, &v->done_timer, &v->queue_timer};
    v->open_handles = 3;
    for (int i = 0; i < 3; i++)
        uv_close((uv_handle_t *)timers[i], on_timer_closed);
}
