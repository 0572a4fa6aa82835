/*
 * A TCP relay for partition tests: it listens on 127.0.0.1 (a free port)
 * and relays each connection to 127.0.0.1:target_port, so that a test can
 * cut one node's link to Redis, or freeze it, without killing either side.
 *
 * One thread per relay does the I/O (poll, non-blocking sockets, 16 KiB
 * buffered each way per connection, at most 64 connections at a time:
 * more are accepted and closed at once). The control calls below are
 * synchronous: the thread has done what they ask when they return. Call
 * them from one thread at a time.
 *
 * Each relayed connection opens its own connection to the target when it
 * is accepted; when that fails (the target is down) the accepted one is
 * reset. When one side closes, what it sent is still delivered, then the
 * other side is shut down for writing; a reset on either side resets both.
 */
#ifndef PDT_RELAY_H
#define PDT_RELAY_H

typedef struct pdt_relay pdt_relay_t;

/* Starts relaying to 127.0.0.1:target_port. Returns NULL after printing why. */
pdt_relay_t *pdt_relay_start(int target_port);

/* The port it listens on, on 127.0.0.1. */
int pdt_relay_port(const pdt_relay_t *r);

/*
 * Resets every relayed connection, on both sides (SO_LINGER 0: an RST, not
 * a FIN), and from now on accepts each new connection and resets it at
 * once, until pdt_relay_restore().
 */
void pdt_relay_cut(pdt_relay_t *r);

/*
 * Keeps every connection open but forwards nothing either way, and reads
 * nothing, so bytes wait in the kernel's buffers (a silent partition), until
 * pdt_relay_restore(). New connections are accepted and held; their
 * connections to the target are opened on restore. A cut while frozen
 * resets the held connections too.
 */
void pdt_relay_freeze(pdt_relay_t *r);

/* Forwards again: held connections resume where they stopped, new ones are relayed. */
void pdt_relay_restore(pdt_relay_t *r);

/*
 * Connections accepted since the start (also those reset at once),
 * counting every one whose connect() to the relay has returned.
 */
int pdt_relay_accepted(pdt_relay_t *r);

/* Connections relayed or held now, counted as pdt_relay_accepted() does. */
int pdt_relay_open(pdt_relay_t *r);

/* Resets every connection, stops listening, joins the thread and frees r (NULL: nothing). */
void pdt_relay_stop(pdt_relay_t *r);

#endif
