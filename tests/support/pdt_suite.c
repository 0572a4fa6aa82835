#include "pdt_suite.h"

#include <stdio.h>
#include <string.h>

int pdt_suite_run(const char *name, const struct CMUnitTest *tests, size_t n, pdt_server_t *srv,
                  const char *const *args, unsigned timeout_s)
{
    pdt_watchdog(timeout_s);
    if (pdt_server_start(srv, args) != 0) {
        fprintf(stderr, "%s: presenced did not start\n", name);
        return 1;
    }
    int failed = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
    return pdt_server_finish(srv, failed);
}

void pdt_extra_start(pdt_extra_t *x, const char *const *args)
{
    x->finished = 0;
    if (pdt_server_start(&x->srv, args) != 0)
        fail_msg("the second presenced did not start");
}

void pdt_extra_stop(pdt_extra_t *x)
{
    pdt_teardown(NULL);
    int rc = pdt_server_stop(&x->srv);
    if (rc != 0) {
        pdt_server_dump_log(&x->srv);
        fail_msg("the second presenced exited with %d (expected 0)", rc);
    }
    x->finished = 1;
}

void pdt_extra_discard(pdt_extra_t *x)
{
    if (x->srv.dir[0] != '\0')
        pdt_server_discard(&x->srv, !x->finished);
    memset(x, 0, sizeof(*x));
}
