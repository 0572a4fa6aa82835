/*
 * Parses arbitrary bytes as a verify endpoint's answer, under each status
 * that matters. An admitted identity must respect the documented limits.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "auth/endpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 401, 403, 500};
    long status = size ? statuses[data[0] & 3] : 200;
    const char *body = size ? (const char *)data + 1 : (const char *)data;
    size_t len = size ? size - 1 : 0;
    pd_identity_t id = {0};
    pd_auth_status_t st = pd_endpoint_parse(status, body, len, &id);
    if (st == PD_AUTH_OK) {
        assert(status == 200);
        assert(id.user_id && strlen(id.user_id) >= 1 && strlen(id.user_id) <= 128);
        assert(id.user_name && strlen(id.user_name) >= 1 && strlen(id.user_name) <= 256);
        assert(!id.user_image || strlen(id.user_image) <= 2048);
        assert(id.expires_at_ms >= 0);
    } else {
        assert(!id.user_id);
    }
    pd_identity_free(&id);
    return 0;
}
