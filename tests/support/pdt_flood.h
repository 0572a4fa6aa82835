/*
 * A room flooded by one user while one of its members stops reading: the
 * part that the slow-reader tests share (bb_lifecycle, bb_uring). The
 * flooder is the user "flood"; its update k sets currentPath to "/f/k/"
 * and a pad, so that every member can tell which update it saw last.
 *
 * A member's view fails the test on any step back: a presence_changed from
 * the flooder must be newer than the last update the member saw, and a
 * presence_snapshot never older (it may repeat the newest, as a resync
 * does). A slow member may skip updates, but never go back in time.
 */
#ifndef PDT_FLOOD_H
#define PDT_FLOOD_H

#include "pdt_ws.h"

/*
 * Updates in a round: more bytes than the kernel holds for a member that
 * does not read (a loopback send buffer grows to 4 MiB), so that the
 * server's own --max-send-buffer has to act.
 */
#define PDT_FLOOD_ROUND 5000

/* What one member believes the flooder's location is, following snapshots too. */
typedef struct {
    pdt_ws_t *c;
    int seen;      /* the last update number from the flooder, -1 none */
    int snapshots; /* presence_snapshot messages, the first included */
    int want;      /* the update number waited for */
} pdt_flood_view_t;

/* A view of c, whose last message (pdt_last) is its first presence_snapshot. */
pdt_flood_view_t pdt_flood_view(pdt_ws_t *c);

/*
 * Joins workspace as the user "slow" with a 4 KB receive buffer, takes its
 * snapshot and stops reading: the member that falls behind.
 */
pdt_flood_view_t pdt_flood_slow_member(int port, const char *workspace);

/*
 * Sends updates first..first+PDT_FLOOD_ROUND-1 from f. After every step
 * updates, and after the last, waits until each of the n members of views
 * has seen the newest one sent; fails the test if one of them stalls or is
 * closed. The smaller step, the less a reading member may fall behind.
 */
void pdt_flood_round(pdt_ws_t *f, pdt_flood_view_t *views, int n, int first, int step);

/*
 * Lets slow, paused during a round, read until it has seen update last or
 * is closed. Returns 0 once it is closed: the caller judges the close code.
 * Open, it must be at update last and have got a new presence_snapshot,
 * since a round is more than --max-send-buffer and the server resyncs a
 * member rather than queue that much for it; it is paused again and 1
 * returned. Fails the test otherwise.
 */
int pdt_flood_slow_catches_up(pdt_flood_view_t *slow, int last);

#endif
