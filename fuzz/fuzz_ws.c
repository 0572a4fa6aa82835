/*
 * Feeds arbitrary bytes to a server-mode WebSocket codec. The first two
 * input bytes pick the message limit and seed the chunk sizes, so the same
 * frames are also tried split at every kind of boundary. Whatever the codec
 * writes must be whole frames the codec itself can parse back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/err.h"
#include "ws/ws.h"

typedef struct {
    pd_buf_t out;
    int closed;
} sink_t;

static void on_text(void *ud, const char *data, size_t len)
{
    /* Touch every byte so ASan sees any out-of-bounds message. */
    volatile char sum = 0;
    for (size_t i = 0; i < len; i++)
        sum ^= data[i];
    (void)sum;
}

static void on_close(void *ud, uint16_t code, pd_slice_t reason)
{
    sink_t *s = ud;
    if (code < 1000 || (reason.base == NULL && reason.len != 0))
        abort();
    s->closed = 1;
}

static void on_output(void *ud, const char *data, size_t len)
{
    sink_t *s = ud;
    pd_buf_append(&s->out, data, len);
}

static void on_pong(void *ud)
{
}

static size_t next_chunk(uint32_t *state, size_t max)
{
    *state = *state * 1103515245u + 12345u;
    return 1 + (*state >> 16) % max;
}

/* Output frames are unmasked; a client-mode codec must accept them. */
static void check_output(const pd_buf_t *out)
{
    pd_ws_config_t cfg = {.client = 1};
    pd_ws_callbacks_t cb = {on_text, on_close, on_output, NULL};
    sink_t s = {PD_BUF_INIT, 0};
    pd_ws_t *ws = pd_ws_new(&cfg, &cb, &s);
    if (out->len > 0 && pd_ws_feed(ws, out->base, out->len) != 0)
        abort();
    pd_ws_free(ws);
    pd_buf_free(&s.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    pd_ws_config_t cfg = {.client = 0, .max_message = data[0] < 128 ? data[0] * 8u : 0};
    pd_ws_callbacks_t cb = {on_text, on_close, on_output, on_pong};
    uint32_t state = data[1];
    size_t max_chunk = 1 + data[1] % 64;
    sink_t s = {PD_BUF_INIT, 0};
    pd_ws_t *ws = pd_ws_new(&cfg, &cb, &s);
    data += 2;
    size -= 2;
    while (size > 0) {
        size_t n = next_chunk(&state, max_chunk);
        n = n < size ? n : size;
        int r = pd_ws_feed(ws, (const char *)data, n);
        if (r != 0 && r != PD_ERR_PROTO && r != PD_ERR_CLOSED)
            abort();
        data += n;
        size -= n;
    }
    check_output(&s.out);
    pd_ws_free(ws);
    pd_buf_free(&s.out);
    return 0;
}
