/*
 * One-line structured logs on stderr: "ts=... level=info msg=\"...\" k=v".
 * The level is process-wide state owned by the server binary. Nothing may
 * pass a token, a query string or an Authorization header to these.
 */
#ifndef PD_SERVER_LOG_H
#define PD_SERVER_LOG_H

enum { PD_LOG_DEBUG = 0, PD_LOG_INFO, PD_LOG_WARN, PD_LOG_ERROR, PD_LOG_OFF };

void pd_log_set_level(int level);
int pd_log_level(void);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 when unknown. */
int pd_log_parse_level(const char *s);
/* fields is preformatted " key=value" pairs (may be NULL). */
void pd_log(int level, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define pd_log_enabled(level) ((level) >= pd_log_level())

#endif
