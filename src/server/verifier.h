/*
 * Token checks through the app's verify endpoint (--verify-url), with
 * libcurl's multi interface driven by the server's libuv loop: no thread per
 * request, the loop never blocks, and kept-alive connections to the endpoint
 * are reused. At most max_inflight requests run at once; more wait in a
 * queue, and one that waits past the timeout fails as unavailable.
 * Successful answers are cached for cache_ttl_ms, keyed by a SHA-256 of the
 * token and the room (never the token itself), so a reconnect storm after a
 * restart does not flood the backend.
 */
#ifndef PD_SERVER_VERIFIER_H
#define PD_SERVER_VERIFIER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../auth/identity.h"
#include "../base/slice.h"

typedef struct {
    const char *url;
    uint64_t timeout_ms;        /* per request, queueing included (3000) */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated list or NULL */
    unsigned max_inflight;      /* concurrent requests (64) */
    unsigned max_queue;         /* waiting requests before failing fast (10000) */
    uint64_t cache_ttl_ms;      /* 0 disables the cache (30000) */
    unsigned cache_max;         /* cached answers kept (10000) */
} pd_verifier_config_t;

typedef struct pd_verifier pd_verifier_t;
typedef struct pd_verify_req pd_verify_req_t;

/*
 * The answer. On PD_AUTH_OK *id holds the identity, which the callback may
 * move out (zeroing it); whatever is left is freed after the callback.
 */
typedef void (*pd_verify_cb)(void *ud, pd_auth_status_t st, pd_identity_t *id);

/* Returns NULL with a message in err when curl cannot be set up. */
pd_verifier_t *pd_verifier_new(uv_loop_t *loop, const pd_verifier_config_t *cfg, char *err,
                               size_t errlen);

/*
 * Starts checking token for room_id. The callback runs on a later loop turn,
 * never inside this call, exactly once unless the request is cancelled.
 */
pd_verify_req_t *pd_verifier_start(pd_verifier_t *v, pd_slice_t token, pd_slice_t room_id,
                                   pd_verify_cb cb, void *ud);

/* Forgets a request whose callback has not run yet; the callback never runs. */
void pd_verifier_cancel(pd_verify_req_t *req);

/*
 * Drops cached verifications of user_id, so a user the backend has just
 * removed cannot come back on a cached answer.
 */
void pd_verifier_forget_user(pd_verifier_t *v, pd_slice_t user_id);

/* Counters for /metrics. */
typedef struct {
    uint64_t requests; /* sent to the endpoint */
    uint64_t cache_hits;
    uint64_t failures; /* unavailable: errors, timeouts, bad answers */
    unsigned inflight;
    unsigned queued;
} pd_verifier_stats_t;

void pd_verifier_stats(const pd_verifier_t *v, pd_verifier_stats_t *out);

/*
 * Cancels everything and closes its handles; the memory goes once the loop
 * has run their close callbacks.
 */
void pd_verifier_close(pd_verifier_t *v);

#endif
