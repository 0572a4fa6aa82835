/*
 * Decoding what presenced sends (docs/protocol.md, "Server -> client").
 * No I/O. The decoded slices point into a cJSON tree the message owns, so
 * they stay valid until pd_srv_msg_free(); each is NUL-terminated.
 */
#ifndef PD_CLIENT_MSG_H
#define PD_CLIENT_MSG_H

#include <stddef.h>

#include "base/slice.h"
#include "proto/proto.h"

typedef enum {
    PD_SRV_UNKNOWN = 0,   /* a type this client does not know: ignore it */
    PD_SRV_SNAPSHOT,
    PD_SRV_JOINED,
    PD_SRV_CHANGED,
    PD_SRV_LEFT,          /* user_left, or user_left_presence: the same leave */
    PD_SRV_ERROR,
    PD_SRV_AUTH_ERROR,
    PD_SRV_AUTH_OK,
    PD_SRV_PONG,
    PD_SRV_PERMISSION_REVOKED,
} pd_srv_type_t;

typedef struct {
    pd_srv_type_t type;
    /*
     * JOINED: user id, name and image (the location is unknown: current
     * path ""). CHANGED: id, name, image and location. LEFT: id.
     */
    pd_presence_entry_t entry;
    int image_given;             /* CHANGED: userImage was there (null included) */
    pd_slice_t self_user_id;     /* SNAPSHOT */
    pd_slice_t self_conn_id;     /* SNAPSHOT */
    uint64_t idle_timeout_ms;    /* SNAPSHOT: the server's idle timeout, 0 when not sent */
    pd_presence_entry_t *users;  /* SNAPSHOT: n_users entries, owned */
    size_t n_users;
    pd_slice_t code;             /* ERROR, AUTH_ERROR */
    pd_slice_t message;          /* ERROR's message, PERMISSION_REVOKED's reason; may be unset */
    double pong_id;              /* PONG: a numeric id, else -1 */
    void *tree;                  /* the cJSON tree the slices point into */
} pd_srv_msg_t;

/*
 * Decodes one message of len bytes. Returns 0 (type PD_SRV_UNKNOWN for a
 * type it does not know), or PD_ERR_INVALID with a reason in err (err may
 * be NULL) for a message that is not a JSON object with a string "type",
 * or a known type whose required fields are missing or of the wrong type.
 * Unknown fields are ignored. The message must be freed either way.
 */
int pd_srv_msg_decode(pd_srv_msg_t *m, const char *json, size_t len, char *err, size_t errlen);

/* Releases the message's memory. */
void pd_srv_msg_free(pd_srv_msg_t *m);

#endif
