/*
 * The load generator's WebSocket client connections, on libuv and the
 * project's own codecs: the opening handshake is written and checked with
 * src/http, frames are read with pd_ws in client mode, and text frames are
 * written with pd_ws_client_text_frame() straight into one writev, without
 * a wslay context per send. Connections can be spread over several loopback
 * source addresses, so that tens of thousands of them do not run out of
 * ephemeral ports.
 */
#ifndef LG_CLIENT_H
#define LG_CLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/http.h"
#include "ws/ws.h"

typedef struct lg_conn lg_conn_t;

/* Why a connection ended, besides a libuv error code (negative). */
typedef enum {
    LG_END_CLEAN = 0, /* we closed it (with a close handshake when asked) */
    LG_END_REFUSED,   /* the handshake failed: close_code holds the HTTP status, or 0 */
    LG_END_PROTOCOL,  /* the server broke the WebSocket protocol */
    LG_END_SERVER,    /* the server closed it: close_code holds the close code */
} lg_end_t;

/* A short description of an end reason, for reports. */
const char *lg_end_reason(int err);

typedef struct {
    /* A complete text message. net->read_ns says when its bytes were read. */
    void (*on_text)(void *ud, lg_conn_t *c, const char *data, size_t len);
    /*
     * The connection is over (refused, reset, closed by either side) and
     * libuv is done with it: the callee may free c. err is one of
     * lg_end_t, or a (negative) libuv error code.
     */
    void (*on_end)(void *ud, lg_conn_t *c, int err);
} lg_conn_ops_t;

/* The most servers (cluster nodes) one generator connects to. */
#define LG_NET_MAX_SERVERS 8

/* What a worker's connections share. */
typedef struct {
    uv_loop_t *loop;
    struct sockaddr_in server[LG_NET_MAX_SERVERS];
    char host[LG_NET_MAX_SERVERS][64]; /* the Host header */
    unsigned n_servers;
    unsigned n_src;     /* source addresses 127.0.0.2 and up; 0: let the kernel pick */
    size_t max_message; /* largest message accepted (a big room's snapshot) */
    const lg_conn_ops_t *ops;
    void *ud;
    uint64_t rng;          /* masking keys and handshake keys */
    uint64_t read_ns;      /* uv_hrtime() of the read being processed */
    char rbuf[256 * 1024]; /* reads are processed before the next one */
} lg_net_t;

typedef enum {
    LG_CONNECTING,
    LG_HANDSHAKE,
    LG_OPEN,
    LG_CLOSING,
    LG_DEAD
} lg_conn_state_t;

struct lg_conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    lg_net_t *net;
    pd_http_parser_t *http; /* while the handshake is read */
    pd_ws_t *ws;            /* once it succeeded */
    pd_buf_t request;
    char key[25];
    lg_conn_state_t state;
    int err;             /* why it ended: lg_end_t or a libuv code */
    uint16_t close_code; /* the server's close code, or the refusing HTTP status */
    void *data;          /* the owner's */
};

/*
 * Prepares net for loop and the servers at 127.0.0.1:ports[0..n_ports-1]
 * (the nodes of a cluster, or one server); seed feeds the masks.
 */
void lg_net_init(lg_net_t *net, uv_loop_t *loop, const int *ports, unsigned n_ports, unsigned n_src,
                 uint64_t seed, const lg_conn_ops_t *ops, void *ud);

/*
 * Connects c (caller's memory, kept until on_end) to server number
 * server % n_servers from source address number src % n_src, and asks for
 * target ("/parties/presence/ws?token=…").
 * Returns 0, or a negative errno/libuv code when no socket could be made
 * (then on_end is not called and c may be reused).
 */
int lg_conn_start(lg_net_t *net, lg_conn_t *c, unsigned server, unsigned src, const char *target);

/* Sends one text message; 0, or PD_ERR_CLOSED unless the connection is open. */
int lg_conn_send_text(lg_conn_t *c, const char *data, size_t len);

/*
 * Ends the connection: clean sends a close frame and waits for the server's
 * (a leave), otherwise the socket just closes (a dropped network).
 */
void lg_conn_close(lg_conn_t *c, int clean);

#endif
