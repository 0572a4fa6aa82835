/*
 * Error codes shared by the presenced libraries. Every function that can fail
 * returns 0 on success or one of these negative values; pd_strerror() names
 * them for logs.
 */
#ifndef PD_BASE_ERR_H
#define PD_BASE_ERR_H

typedef enum {
    PD_OK = 0,
    PD_ERR_NOMEM = -1,     /* an allocation failed */
    PD_ERR_PARTIAL = -2,   /* more input is needed */
    PD_ERR_PROTO = -3,     /* the peer broke the protocol */
    PD_ERR_TOO_LARGE = -4, /* input over a configured limit */
    PD_ERR_INVALID = -5,   /* a malformed argument or value */
    PD_ERR_CLOSED = -6,    /* the connection or context is closed */
    PD_ERR_IO = -7,        /* a system call failed (see errno) */
    PD_ERR_NOT_FOUND = -8, /* no such item */
    PD_ERR_LIMIT = -9,     /* a capacity limit was reached */
    PD_ERR_CONFIG = -10,   /* configuration is inconsistent */
} pd_err_t;

/* Returns a static, human-readable name for an error code. */
const char *pd_strerror(int err);

#endif
