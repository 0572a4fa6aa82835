/*
 * The protocol (docs/protocol.md), for the server, the client library and
 * the CLI alike: room names and ids, and messages as JSON text in both
 * directions. Messages are named by their sender: a client message
 * (pd_proto_client_msg_t, PD_PROTO_CLIENT_*) is one a client sends, which
 * the server decodes; a server message (pd_proto_server_msg_t,
 * PD_PROTO_SERVER_*) is one the server sends, which the client library
 * decodes. No I/O. Decoding uses cJSON; encoding appends to a caller's
 * pd_buf_t with hand-written escaping, since it runs once per broadcast on
 * the hot path. The HTTP API's answers (docs/api.md) are encoded here too.
 */
#ifndef PD_PROTO_PROTO_H
#define PD_PROTO_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"
#include "../base/slice.h"

/*
 * Rooms and the ids that name them (docs/protocol.md, Connecting). A
 * workspace W is the room "presence-W", reached at the path
 * "/parties/presence/W". The prefixes are string literals so that help
 * texts can quote them; code builds and reads names with the functions.
 */
#define PD_PROTO_ROOM_ID_PREFIX "presence-"
#define PD_PROTO_ROOM_PATH_PREFIX "/parties/presence/"
#define PD_PROTO_WORKSPACE_MAX 128 /* bytes in a workspace id */
#define PD_PROTO_CONN_KEY_MAX 64   /* bytes in a connection key (_pk) */
/* Room id bytes for any valid workspace id, with the NUL. */
#define PD_PROTO_ROOM_ID_SIZE (sizeof PD_PROTO_ROOM_ID_PREFIX + PD_PROTO_WORKSPACE_MAX)

/* 1 when s is 1-PD_PROTO_WORKSPACE_MAX bytes of [A-Za-z0-9_-], else 0. */
int pd_proto_workspace_valid(pd_slice_t s);
/* 1 when s is 1-PD_PROTO_CONN_KEY_MAX bytes of [A-Za-z0-9_-], else 0. */
int pd_proto_conn_key_valid(pd_slice_t s);
/*
 * Writes the room id of workspace, "presence-{workspace}", NUL-terminated
 * into out (cap bytes; PD_PROTO_ROOM_ID_SIZE holds any valid workspace's)
 * and returns its length, or -1 when it does not fit (out then holds "").
 */
int pd_proto_room_id(char *out, size_t cap, pd_slice_t workspace);
/* Appends the room path of workspace, "/parties/presence/{workspace}", to b. */
void pd_proto_append_room_path(pd_buf_t *b, pd_slice_t workspace);
/*
 * 1 when path starts with the room prefix, with *workspace set to the rest
 * of the path (still to be checked with pd_proto_workspace_valid()); else 0.
 */
int pd_proto_room_path_workspace(pd_slice_t path, pd_slice_t *workspace);

typedef enum {
    PD_PROTO_CLIENT_PRESENCE_UPDATE = 1,
    PD_PROTO_CLIENT_TOKEN_REFRESH,
    PD_PROTO_CLIENT_PING,
} pd_proto_client_type_t;

/* Where a member is. base == NULL means unset for the optional fields. */
typedef struct {
    pd_slice_t current_path; /* "" when the location is unknown */
    pd_slice_t resource_type;
    pd_slice_t resource_id;
} pd_proto_location_t;

typedef struct {
    size_t max_path;          /* currentPath: 1..max bytes (default 1024) */
    size_t max_resource_type; /* default 32 */
    size_t max_resource_id;   /* default 256 */
    size_t max_token;         /* default 8192 */
} pd_proto_limits_t;

#define PD_PROTO_LIMITS_DEFAULT ((pd_proto_limits_t){1024, 32, 256, 8192})

/*
 * A decoded client message. The slices point into arena, which the message
 * owns: they stay valid until the next decode into the same message or
 * pd_proto_client_msg_free(). Each set slice is followed by a NUL byte in
 * the arena (not counted in len), so token.base can go to C string APIs.
 * Reusing one message keeps decoding allocation-free apart from cJSON's own
 * tree.
 */
typedef struct {
    pd_proto_client_type_t type;
    pd_proto_location_t loc; /* PD_PROTO_CLIENT_PRESENCE_UPDATE */
    pd_slice_t token;        /* PD_PROTO_CLIENT_TOKEN_REFRESH */
    pd_slice_t ping_id;      /* PD_PROTO_CLIENT_PING: the id as JSON text (a number
                                or a quoted string), base NULL when absent or null */
    pd_buf_t arena;
} pd_proto_client_msg_t;

/* Prepares an empty message; it allocates nothing until the first decode. */
void pd_proto_client_msg_init(pd_proto_client_msg_t *msg);
/* Releases the arena; the message may be initialised and reused afterwards. */
void pd_proto_client_msg_free(pd_proto_client_msg_t *msg);

/*
 * Decodes one text message of len bytes (json need not be NUL-terminated).
 * Returns 0, or PD_ERR_INVALID with a short reason for the client written
 * to err (NUL-terminated, truncated to errlen; err may be NULL), e.g.
 * "currentPath must be a string"; on error msg->type is 0 and every slice
 * is unset. Unknown fields are ignored; null for an optional field means
 * unset, for a required one it counts as missing.
 *
 * - The whole input must be one JSON value, with only JSON whitespace
 *   after it; a raw NUL byte anywhere makes it invalid.
 * - A raw control byte inside a string is rejected with "control
 *   characters in strings must be escaped" (RFC 8259 section 7).
 * - A "\u0000" escape anywhere in the message (keys and ignored fields
 *   included) is rejected with "strings must not contain NUL": cJSON would
 *   silently cut the string there, which could turn "type\u0000x" into
 *   "type".
 * - Keys are case-sensitive; when a key appears twice the first wins.
 * - Lengths are in bytes of the decoded UTF-8.
 * - Reasons name the field: "message is not valid JSON", "message must be
 *   a JSON object", "type is required", "type must be a string",
 *   "unknown type \"…\"" (at most 32 bytes of the name, then "..."),
 *   "X is required", "X must be a string", "X must be a string or null"
 *   (optional fields), "X must not be empty", "X is longer than N bytes",
 *   "id must be a number or a string".
 * - ping_id is the id as JSON text: a string is re-encoded with
 *   pd_proto_append_string(); an integer a double holds exactly (magnitude
 *   up to 2^53) prints as an integer ("7", "-3", "9007199254740991"); any
 *   other number prints as the shortest of "%.15g", "%.16g", "%.17g" that
 *   reads back as the same double ("0.5", "1e+300"). A number too large for
 *   a double ("1e999") is rejected with "id is out of range".
 */
int pd_proto_decode_client(const pd_proto_limits_t *limits, const char *json, size_t len,
                           pd_proto_client_msg_t *msg, char *err, size_t errlen);

struct cJSON;

/*
 * Parses the whole of json (len bytes; it need not be NUL-terminated) as
 * one JSON value with nothing but JSON whitespace after it. Stricter than
 * cJSON alone, which every parse of bytes from the network goes through
 * this for: a raw NUL byte anywhere, a raw control byte (below 0x20)
 * inside a string, and a "\u0000" escape are refused. Returns the tree
 * (free it with cJSON_Delete()), or NULL with *why (when why is not NULL)
 * set to NULL when the text is not JSON at all, else to the stricter rule
 * it broke: "control characters in strings must be escaped" or "strings
 * must not contain NUL".
 */
struct cJSON *pd_proto_parse_json(const char *json, size_t len, const char **why);

/* One user's entry as a snapshot reports it. */
typedef struct {
    pd_slice_t user_id;
    pd_slice_t user_name;
    pd_slice_t user_image; /* base NULL encodes as null */
    pd_proto_location_t loc;
} pd_proto_entry_t;

/*
 * Appends s as a JSON string literal, quotes included. '"', '\\' and
 * control characters are escaped (\b \f \n \r \t, else \u00xx), and so
 * are U+2028 and U+2029 (\u2028, \u2029), which end a line in JavaScript.
 * Well-formed UTF-8 passes through unchanged; each byte that is not part
 * of a well-formed sequence becomes \ufffd, so the output is always valid
 * UTF-8. A NULL base encodes as "".
 */
void pd_proto_append_string(pd_buf_t *b, pd_slice_t s);

/*
 * The encoders below append one whole message (no spaces, fields in the
 * order shown) to b. Optional fields whose base is NULL are omitted, except
 * userImage, which encodes as null; a required slice with a NULL base
 * encodes as "".
 *
 * {"type":"presence_snapshot","self":{"userId":…,"connectionId":…},
 *  "users":[ entries ]} in three steps: begin, one entry call per user
 * (first != 0 for the first one, which gets no leading comma), end.
 */
/*
 * idle_timeout_ms > 0 adds "idleTimeout": a client that uses app-level pings
 * must send a message at least that often (docs/protocol.md, Liveness).
 */
void pd_proto_enc_snapshot_begin(pd_buf_t *b, pd_slice_t self_user_id, pd_slice_t self_conn_id,
                                 uint64_t idle_timeout_ms);
void pd_proto_enc_snapshot_entry(pd_buf_t *b, const pd_proto_entry_t *e, int first);
void pd_proto_enc_snapshot_end(pd_buf_t *b);
/*
 * One snapshot entry as a JSON object, also used by the HTTP API:
 * {"userId":…,"userName":…,"userImage":…|null,"currentPath":…
 *  [,"resourceType":…][,"resourceId":…]}
 */
void pd_proto_enc_entry(pd_buf_t *b, const pd_proto_entry_t *e);

/* {"type":"user_joined","userId":…,"userName":…,"userImage":…|null} */
void pd_proto_enc_user_joined(pd_buf_t *b, pd_slice_t user_id, pd_slice_t user_name,
                              pd_slice_t user_image);
/*
 * {"type":"presence_changed","userId":…,"userName":…,"userImage":…|null,
 *  "currentPath":…[,"resourceType":…][,"resourceId":…]}: name and image are
 * always there, since the app's shipped client copies both from every one.
 */
void pd_proto_enc_presence_changed(pd_buf_t *b, const pd_proto_entry_t *e);
/* {"type":"user_left","userId":…} */
void pd_proto_enc_user_left(pd_buf_t *b, pd_slice_t user_id);
/*
 * {"type":"user_left_presence","userId":…}: the same leave in the form the
 * app's shipped client (Ripple's useWorkspacePresence) listens for.
 */
void pd_proto_enc_user_left_presence(pd_buf_t *b, pd_slice_t user_id);
/* {"type":"error","code":code[,"message":message]} (message may be NULL). */
void pd_proto_enc_error(pd_buf_t *b, const char *code, const char *message);
/* {"type":"auth_error","code":code} */
void pd_proto_enc_auth_error(pd_buf_t *b, const char *code);
/* {"type":"auth_ok","userId":…,"userName":…} */
void pd_proto_enc_auth_ok(pd_buf_t *b, pd_slice_t user_id, pd_slice_t user_name);
/*
 * {"type":"pong"[,"id":<id_json>]}: id_json is copied verbatim, so it must
 * be JSON text such as pd_proto_decode_client() leaves in ping_id; base NULL
 * omits the id.
 */
void pd_proto_enc_pong(pd_buf_t *b, pd_slice_t id_json);
/* {"type":"permission_revoked","reason":reason} */
void pd_proto_enc_permission_revoked(pd_buf_t *b, const char *reason);

/*
 * Client -> server messages, for the client library, with the same rules
 * as the encoders above:
 * {"type":"presence_update","currentPath":…[,"resourceType":…][,"resourceId":…]}
 */
void pd_proto_enc_presence_update(pd_buf_t *b, const pd_proto_location_t *loc);
/* {"type":"token_refresh","token":…} */
void pd_proto_enc_token_refresh(pd_buf_t *b, pd_slice_t token);
/* {"type":"ping","id":id}: the id as a JSON integer. */
void pd_proto_enc_ping(pd_buf_t *b, unsigned long long id);

/*
 * HTTP answers (docs/api.md, and /dev/token in development mode), with the
 * same rules as the encoders above.
 *
 * {"error":message}: the body of every JSON error answer.
 */
void pd_proto_enc_http_error(pd_buf_t *b, const char *message);
/*
 * {"rooms":[{"roomId":…,"users":n,"connections":n},…]} in three steps, as
 * for snapshots: begin, one entry per room (first != 0 for the first), end.
 */
void pd_proto_enc_api_rooms_begin(pd_buf_t *b);
void pd_proto_enc_api_rooms_entry(pd_buf_t *b, pd_slice_t room_id, size_t users, size_t connections,
                                  int first);
void pd_proto_enc_api_rooms_end(pd_buf_t *b);
/*
 * {"roomId":…,"users":[…]}: begin, then the array of entries (each as
 * pd_proto_enc_entry() writes it), then end.
 */
void pd_proto_enc_api_room_begin(pd_buf_t *b, pd_slice_t room_id);
void pd_proto_enc_api_room_end(pd_buf_t *b);
/* {"kicked":n} */
void pd_proto_enc_api_kicked(pd_buf_t *b, int n);
/* {"token":…,"expiresAt":expires_at_ms} */
void pd_proto_enc_dev_token(pd_buf_t *b, const char *token, long long expires_at_ms);

/*
 * Decoding what the server sends (docs/protocol.md, "Server -> client"),
 * for the client library. The decoded slices point into a cJSON tree the
 * message owns, so they stay valid until pd_proto_server_msg_free(); each
 * is NUL-terminated.
 */
typedef enum {
    PD_PROTO_SERVER_UNKNOWN = 0, /* a type this client does not know: ignore it */
    PD_PROTO_SERVER_SNAPSHOT,
    PD_PROTO_SERVER_JOINED,
    PD_PROTO_SERVER_CHANGED,
    PD_PROTO_SERVER_LEFT, /* user_left, or user_left_presence: the same leave */
    PD_PROTO_SERVER_ERROR,
    PD_PROTO_SERVER_AUTH_ERROR,
    PD_PROTO_SERVER_AUTH_OK,
    PD_PROTO_SERVER_PONG,
    PD_PROTO_SERVER_PERMISSION_REVOKED,
} pd_proto_server_type_t;

typedef struct {
    pd_proto_server_type_t type;
    /*
     * JOINED: user id, name and image (the location is unknown: current
     * path ""). CHANGED: id, name, image and location. LEFT: id.
     */
    pd_proto_entry_t entry;
    int image_given;          /* CHANGED: userImage was there (null included) */
    pd_slice_t self_user_id;  /* SNAPSHOT */
    pd_slice_t self_conn_id;  /* SNAPSHOT */
    uint64_t idle_timeout_ms; /* SNAPSHOT: the server's idle timeout, 0 when not sent */
    pd_proto_entry_t *users;  /* SNAPSHOT: n_users entries, owned */
    size_t n_users;
    pd_slice_t code;    /* ERROR, AUTH_ERROR */
    pd_slice_t message; /* ERROR's message, PERMISSION_REVOKED's reason; may be unset */
    double pong_id;     /* PONG: a numeric id, else -1 */
    void *tree;         /* the cJSON tree the slices point into */
} pd_proto_server_msg_t;

/*
 * Decodes one message of len bytes. Returns 0 (type PD_PROTO_SERVER_UNKNOWN
 * for a type it does not know), or PD_ERR_INVALID with a reason in err (err
 * may be NULL) for a message that is not a JSON object with a string
 * "type", or a known type whose required fields are missing or of the
 * wrong type. Unknown fields are ignored. The message must be freed either
 * way.
 */
int pd_proto_decode_server(pd_proto_server_msg_t *m, const char *json, size_t len, char *err,
                           size_t errlen);

/* Releases the message's memory. */
void pd_proto_server_msg_free(pd_proto_server_msg_t *m);

#endif
