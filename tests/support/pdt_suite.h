/*
 * The main() of a black-box test program: a watchdog, one presenced for the
 * whole group of tests, and the server's log printed when anything failed.
 */
#ifndef PDT_SUITE_H
#define PDT_SUITE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pdt_server.h"
#include "pdt_ws.h"

/*
 * Starts srv with args (NULL-terminated), runs tests, stops srv and expects
 * it to exit 0 on SIGTERM. The whole program is killed after timeout_s.
 * Returns main()'s exit status.
 */
int pdt_suite_run(const char *name, const struct CMUnitTest *tests, size_t n, pdt_server_t *srv,
                  const char *const *args, unsigned timeout_s);

#define PDT_SUITE(tests, srv, args, timeout_s) \
    pdt_suite_run(#tests, (tests), sizeof(tests) / sizeof((tests)[0]), (srv), (args), (timeout_s))

/* A second server that one test starts with arguments of its own. */
typedef struct {
    pdt_server_t srv;
    int finished; /* stopped and judged by pdt_extra_stop() */
} pdt_extra_t;

/* Starts x with args (NULL-terminated); fails the test if it does not start. */
void pdt_extra_start(pdt_extra_t *x, const char *const *args);
/* Drops every client, then expects x to drain and exit 0 (fails the test otherwise). */
void pdt_extra_stop(pdt_extra_t *x);
/* For teardowns: kills x if it still runs, with its log unless it was judged. */
void pdt_extra_discard(pdt_extra_t *x);

/* A test with the harness's teardown (closes clients, frees tokens). */
#define PDT_TEST(f) cmocka_unit_test_teardown(f, pdt_teardown)

#endif
