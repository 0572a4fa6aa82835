/*
 * The verify endpoint's side of token checking, without I/O: the request
 * body presenced sends, and what the answer means (docs/protocol.md,
 * "Verify endpoint"). The HTTP exchange itself lives in src/server.
 */
#ifndef PD_AUTH_ENDPOINT_H
#define PD_AUTH_ENDPOINT_H

#include <stddef.h>

#include "../base/buf.h"
#include "../base/slice.h"
#include "identity.h"

/* Appends {"roomId":"<room_id>"}. */
void pd_endpoint_request_body(pd_buf_t *out, pd_slice_t room_id);

/*
 * Maps an answer to an admission result. 200 with a JSON object holding
 * userId (string, 1-128 bytes), optionally userName (string up to 256 bytes;
 * missing, null or empty gives "Unknown"), userImage (string up to 2048
 * bytes, or null) and expiresAt (milliseconds since the epoch) admits and
 * fills *out (owned by the caller). 401 is PD_AUTH_INVALID, 403
 * PD_AUTH_FORBIDDEN; any other status, or a 200 whose body is not that
 * JSON, is PD_AUTH_UNAVAILABLE.
 */
pd_auth_status_t pd_endpoint_parse(long http_status, const char *body, size_t len,
                                   pd_identity_t *out);

#endif
