/*
 * One-line structured logs on stderr: "ts=... level=info msg=\"...\" k=v".
 * The level is process-wide state owned by the server binary. Nothing may
 * pass a token, a query string or an Authorization header to these. Values
 * that come from clients (user ids, connection ids) go through
 * pd_log_escape(); as a backstop, pd_log() turns any control byte into '?'
 * so one event is always one line.
 */
#ifndef PD_SERVER_LOG_H
#define PD_SERVER_LOG_H

#include <stddef.h>

enum {
    PD_LOG_DEBUG = 0,
    PD_LOG_INFO,
    PD_LOG_WARN,
    PD_LOG_ERROR,
    PD_LOG_OFF
};

void pd_log_set_level(int level);
int pd_log_level(void);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 when unknown. */
int pd_log_parse_level(const char *s);
/* fields is preformatted " key=value" pairs (may be NULL). */
void pd_log(int level, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Copies n bytes of s into out (cap bytes, NUL-terminated) for a quoted log
 * value: '"' and '\\' are backslash-escaped, control bytes become \xNN, and
 * what does not fit is cut off with "...". Returns out.
 */
const char *pd_log_escape(char *out, size_t cap, const char *s, size_t n);

#define pd_log_enabled(level) ((level) >= pd_log_level())

#endif
