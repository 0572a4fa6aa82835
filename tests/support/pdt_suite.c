#include "pdt_suite.h"

#include <stdio.h>

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
