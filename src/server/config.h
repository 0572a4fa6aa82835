/*
 * Server configuration: every limit and setting, its default, and how it is
 * read from command-line flags and PRESENCED_* environment variables (a flag
 * wins over the environment). The option table in config.c is the single
 * source for parsing and for --help.
 */
#ifndef PD_SERVER_CONFIG_H
#define PD_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *listen_host;    /* default 127.0.0.1 */
    int listen_port;      /* default 1999; 0 picks a free port */
    char *port_file;      /* write the bound port here once listening */
    int dev;              /* development mode: demo token minting, loopback only */
    char *static_dir;     /* dev mode: files served at / (the demo) */
    char **static_mounts; /* dev mode: "/prefix=dir", files of dir served at /prefix/ */
    size_t n_static_mounts;

    char *jwt_secret; /* HS256 secret bytes (from file or env) */
    size_t jwt_secret_len;
    char *jwt_secret_empty_file; /* --jwt-secret-file named an empty file: no secret yet */
    char *jwt_public_key;        /* PEM for RS256/ES256 */
    size_t jwt_public_key_len;
    char *jwt_alg; /* HS256 | RS256 | ES256 */
    int64_t jwt_leeway_s;
    char *jwt_issuer;
    char *jwt_audience;

    uint64_t ping_interval_ms;     /* WebSocket ping period (10 s) */
    uint64_t idle_timeout_ms;      /* close after this much silence (25 s) */
    uint64_t token_grace_ms;       /* time to refresh an expired token (30 s) */
    uint64_t handshake_timeout_ms; /* HTTP upgrade must finish in (10 s) */
    uint64_t linger_ms;            /* presence kept after an unclean close (5 s) */
    unsigned leave_messages;       /* pd_leave_messages_t bits (rooms.h): both by default */

    size_t max_message;       /* bytes per WebSocket message (4096) */
    size_t max_header_bytes;  /* request line + headers (8192) */
    size_t max_path;          /* currentPath bytes (1024) */
    size_t max_resource_type; /* (32) */
    size_t max_resource_id;   /* (256) */
    double rate;              /* updates/s per connection (20) */
    double burst;             /* burst of updates (40) */
    double user_rate;  /* presence changes/s per user per room, its tabs together (20; 0: off) */
    double user_burst; /* their burst (40) */
    unsigned max_conns_per_user;    /* per user per room (16) */
    unsigned max_conns_per_room;    /* (10000) */
    unsigned max_conns;             /* whole server; 0 = derived from RLIMIT_NOFILE */
    size_t max_send_buffer;         /* unsent bytes per connection before resync (256 KiB) */
    unsigned max_pending_msgs;      /* messages buffered before admission (32) */
    size_t max_pending_bytes;       /* bytes of them (16 KiB) */
    size_t max_api_body;            /* the kick call's body (4 KiB); other requests take none */
    unsigned status_reserve;        /* connections past max_conns for status and 503 answers (8) */
    unsigned max_handshakes_per_ip; /* connections per address in the HTTP phase (0: no limit) */
    double msg_rate;                /* messages/s per connection, any type (50) */
    double msg_burst;               /* burst of them (200); past it the connection is closed */
    unsigned threads;     /* loop threads, rooms sharded over them (0 = one per CPU, at most 64) */
    unsigned flush_batch; /* sockets written per loop turn before reading again (16; 0 = all) */
    uint64_t write_delay_ms; /* least time between two writes to a busy member (0) */
    unsigned io_uring;       /* pd_uring_mode_t (uring.h): auto, on or off (auto) */

    char **allowed_origins; /* NULL: any Origin is accepted */
    size_t n_allowed_origins;

    char *verify_url;           /* tokens go to this endpoint instead of JWT checks */
    uint64_t verify_timeout_ms; /* (3 s) */
    char **verify_headers;      /* extra "Name: value" request headers */
    size_t n_verify_headers;
    unsigned verify_max_inflight; /* (64) */
    uint64_t verify_cache_ttl_ms; /* (30 s; 0 disables) */
    unsigned verify_cache_max;    /* (10000) */

    char *api_secret; /* enables /api/ with this Bearer secret */
    size_t api_secret_len;

    char *redis_url;          /* --redis: the cluster's Redis, or NULL: a single node */
    char *node_id;            /* this node's name (NULL: random at start) */
    uint64_t node_timeout_ms; /* a node silent this long is dead (5 s) */

    int log_level; /* PD_LOG_* */
} pd_config_t;

void pd_config_defaults(pd_config_t *cfg);
void pd_config_free(pd_config_t *cfg);

/*
 * Reads the environment, then argv. Returns 0, 1 when --help or --version
 * was printed (the caller exits 0), or PD_ERR_CONFIG with a message in err.
 */
int pd_config_load(pd_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* Checks cross-option rules (e.g. a key is configured unless --dev). */
int pd_config_validate(const pd_config_t *cfg, char *err, size_t errlen);

/*
 * Names the i-th option of the table: *flag without the leading "--" (NULL
 * for one read only from the environment) and *env its variable. Returns
 * 0, or -1 past the last, so tests can walk every option.
 */
int pd_config_option(size_t i, const char **flag, const char **env);

#endif
