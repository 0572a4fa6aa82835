/*
 * The WebSocket codec: RFC 6455 frames on top of libwslay's event API.
 * It does no I/O. Received bytes go in through pd_ws_feed(); complete text
 * messages and the peer's close come out through callbacks; every byte the
 * codec wants on the wire (pongs, close frames, and in client mode every
 * frame) comes out through on_output, in order, and must be taken whole.
 *
 * Server-side data frames are not produced here one receiver at a time: a
 * broadcast is framed once with pd_ws_text_header() and the same bytes are
 * queued to every receiver, interleaved at frame boundaries with what
 * on_output produced.
 *
 * Memory: a wslay context costs about 9 KiB, so pd_ws_t holds one only while
 * a frame or a fragmented message is incomplete, or a control frame is
 * waiting; between messages an idle connection costs only sizeof(pd_ws_t).
 *
 * Callbacks run inside pd_ws_feed() (and on_output inside every sending
 * call). They may call pd_ws_send_text(), pd_ws_ping() and pd_ws_close(),
 * except on_output, which must not call back into the codec; none of them
 * may free the codec.
 */
#ifndef PD_WS_WS_H
#define PD_WS_WS_H

#include <stddef.h>
#include <stdint.h>

#include "../base/slice.h"

typedef struct pd_ws pd_ws_t;

typedef struct {
    /* A complete text message: reassembled, unmasked, valid UTF-8. */
    void (*on_text)(void *ud, const char *data, size_t len);
    /*
     * The peer's close frame arrived (code 1005 and a NULL reason when it
     * carried none). Unless we had closed first, the reply close frame has
     * already gone to on_output; either way the handshake is complete.
     */
    void (*on_close)(void *ud, uint16_t code, pd_slice_t reason);
    /* Bytes for the socket, in order; the callee must take all of them. */
    void (*on_output)(void *ud, const char *data, size_t len);
    /* Optional (may be NULL): a pong arrived. */
    void (*on_pong)(void *ud);
} pd_ws_callbacks_t;

typedef struct {
    int client;         /* 1: mask outgoing frames, expect unmasked ones */
    size_t max_message; /* a longer message closes with 1009 (0: 4096) */
} pd_ws_config_t;

/* Returns a new codec; never NULL (allocation failure aborts). */
pd_ws_t *pd_ws_new(const pd_ws_config_t *cfg, const pd_ws_callbacks_t *cb, void *ud);
/* Frees the codec without sending anything. NULL is ignored. */
void pd_ws_free(pd_ws_t *ws);

/*
 * Feeds received bytes; callbacks run before it returns. Returns 0, or
 * PD_ERR_PROTO when the peer broke the protocol: a close frame with the
 * right code (1002 protocol, 1003 binary message in server mode, 1007
 * invalid UTF-8, 1009 too big) has then gone to on_output, and later input
 * is ignored. Returns PD_ERR_CLOSED when called after the close handshake
 * finished or after an error. After pd_ws_close() the peer's text messages
 * are dropped and only its close is reported; in client mode binary
 * messages are ignored.
 */
int pd_ws_feed(pd_ws_t *ws, const char *data, size_t len);

/*
 * Sends a text message through on_output (masked in client mode). Returns 0,
 * or PD_ERR_CLOSED once a close frame was sent or the connection failed.
 */
int pd_ws_send_text(pd_ws_t *ws, const char *data, size_t len);
/* Sends a ping with an empty payload; returns as pd_ws_send_text(). */
int pd_ws_ping(pd_ws_t *ws);
/*
 * Sends a close frame (code 0: one without a code or reason; reason is NULL
 * or at most 123 bytes of UTF-8); later sends fail. Returns 0,
 * PD_ERR_INVALID for a longer reason, or PD_ERR_CLOSED when a close frame
 * was already sent or the connection failed.
 */
int pd_ws_close(pd_ws_t *ws, uint16_t code, const char *reason);

/* Non-zero once our close frame has gone to on_output. */
int pd_ws_close_sent(const pd_ws_t *ws);
/* Non-zero once the peer's close frame has arrived. */
int pd_ws_close_received(const pd_ws_t *ws);
/* Non-zero while the codec holds a wslay context (for tests and metrics). */
int pd_ws_has_context(const pd_ws_t *ws);

/*
 * Writes the header of an unmasked, final text frame carrying len bytes into
 * out and returns its length (2, 4 or 10). The payload follows it verbatim.
 */
size_t pd_ws_text_header(uint8_t out[10], size_t len);

/* The most a client frame adds to its payload: a 10-byte header and the mask. */
#define PD_WS_CLIENT_FRAME_OVERHEAD 14

/*
 * Writes a complete client text frame (final, masked with mask, RFC 6455
 * 5.3) carrying len bytes of data into out, without a codec: for callers
 * that frame many messages themselves, such as a load generator. Returns
 * the frame's length (len + 6, 8 or 14), or 0 when that is more than cap
 * (out is then untouched). data must be valid UTF-8 and must not overlap
 * out. The caller picks the masking key; RFC 6455 10.3 wants it
 * unpredictable to intermediaries, which pd_ws_send_text() guarantees.
 */
size_t pd_ws_client_text_frame(char *out, size_t cap, const char *data, size_t len,
                               const uint8_t mask[4]);

#endif
