#include "err.h"

const char *pd_strerror(int err)
{
    switch (err) {
    case PD_OK: return "success";
    case PD_ERR_NOMEM: return "out of memory";
    case PD_ERR_PARTIAL: return "incomplete input";
    case PD_ERR_PROTO: return "protocol error";
    case PD_ERR_TOO_LARGE: return "input too large";
    case PD_ERR_INVALID: return "invalid argument";
    case PD_ERR_CLOSED: return "closed";
    case PD_ERR_IO: return "I/O error";
    case PD_ERR_NOT_FOUND: return "not found";
    case PD_ERR_LIMIT: return "limit reached";
    case PD_ERR_CONFIG: return "bad configuration";
    }
    return "unknown error";
}
