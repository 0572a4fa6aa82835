/*
 * src/server/config: every option of the table read from its flag and from
 * its environment variable, a flag beating the variable, bad values refused
 * with a message that names the option, the cross-option checks, and the
 * defaults. The cases below are checked against the table itself, so an
 * option added there without a case here fails the first test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "rooms/rooms.h"
#include "server/config.h"
#include "server/log.h"
#include "server/uring.h"

/* How a case's field is read back from pd_config_t. */
typedef enum {
    F_FLAG,   /* int */
    F_STR,    /* char * */
    F_FILE,   /* char * and the size_t after it: the bytes of a file or an inline secret */
    F_MS,     /* uint64_t milliseconds */
    F_SIZE,   /* size_t */
    F_UINT,   /* unsigned */
    F_INT64,  /* int64_t */
    F_DOUBLE, /* double */
    F_LISTEN, /* listen_host and listen_port */
    F_LIST,   /* char ** and the size_t count after it: the last item */
} field_t;

/*
 * One option: name is its flag, or its variable when it has no flag. value
 * is given by flag or variable and gives want (numbers) or want_str
 * (strings, a list's last item, the listen host); other is a second valid
 * value with a different result, for the flag-beats-variable check. "@A"
 * and "@B" stand for two files the fixture writes.
 */
typedef struct {
    const char *name;
    const char *env;
    field_t field;
    size_t offset;
    const char *value;
    double want;
    const char *want_str;
    const char *other;
} case_t;

#define OFF(f) offsetof(pd_config_t, f)

static const case_t cases[] = {
    {"listen", "PRESENCED_LISTEN", F_LISTEN, 0, "[::1]:2001", 2001, "::1", "10.0.0.1:7"},
    {"port-file", "PRESENCED_PORT_FILE", F_STR, OFF(port_file), "/tmp/p", 0, "/tmp/p", "/tmp/q"},
    {"dev", "PRESENCED_DEV", F_FLAG, OFF(dev), NULL, 1, NULL, "0"},
    {"static-dir", "PRESENCED_STATIC_DIR", F_STR, OFF(static_dir), "demo", 0, "demo", "www"},
    {"static-mount", "PRESENCED_STATIC_MOUNTS", F_LIST, OFF(static_mounts), "/js=dist", 0,
     "/js=dist", "/a/b=c"},
    {"jwt-secret-file", "PRESENCED_JWT_SECRET_FILE", F_FILE, OFF(jwt_secret), "@A", 5, "alpha",
     "@B"},
    {"PRESENCED_JWT_SECRET", "PRESENCED_JWT_SECRET", F_FILE, OFF(jwt_secret), "inline\n", 7,
     "inline\n", NULL},
    {"jwt-public-key", "PRESENCED_JWT_PUBLIC_KEY", F_FILE, OFF(jwt_public_key), "@B", 4, "beta",
     "@A"},
    {"jwt-alg", "PRESENCED_JWT_ALG", F_STR, OFF(jwt_alg), "RS256", 0, "RS256", "ES256"},
    {"jwt-leeway", "PRESENCED_JWT_LEEWAY", F_INT64, OFF(jwt_leeway_s), "9", 9, NULL, "1"},
    {"jwt-issuer", "PRESENCED_JWT_ISSUER", F_STR, OFF(jwt_issuer), "iss", 0, "iss", "other"},
    {"jwt-audience", "PRESENCED_JWT_AUDIENCE", F_STR, OFF(jwt_audience), "aud", 0, "aud", "x"},
    {"ping-interval", "PRESENCED_PING_INTERVAL", F_MS, OFF(ping_interval_ms), "1.5", 1500, NULL,
     "3"},
    {"idle-timeout", "PRESENCED_IDLE_TIMEOUT", F_MS, OFF(idle_timeout_ms), "60", 60000, NULL, "2"},
    {"token-grace", "PRESENCED_TOKEN_GRACE", F_MS, OFF(token_grace_ms), "0.25", 250, NULL, "1"},
    {"handshake-timeout", "PRESENCED_HANDSHAKE_TIMEOUT", F_MS, OFF(handshake_timeout_ms), "4", 4000,
     NULL, "1"},
    {"linger", "PRESENCED_LINGER", F_MS, OFF(linger_ms), "0", 0, NULL, "1"},
    {"leave-messages", "PRESENCED_LEAVE_MESSAGES", F_UINT, OFF(leave_messages), "user_left",
     PD_LEAVE_USER_LEFT, NULL, "user_left_presence"},
    {"io-uring", "PRESENCED_IO_URING", F_UINT, OFF(io_uring), "off", PD_URING_OFF, NULL, "on"},
    {"max-message", "PRESENCED_MAX_MESSAGE", F_SIZE, OFF(max_message), "8192", 8192, NULL, "100"},
    {"max-header-bytes", "PRESENCED_MAX_HEADER_BYTES", F_SIZE, OFF(max_header_bytes), "1000", 1000,
     NULL, "999"},
    {"max-path", "PRESENCED_MAX_PATH", F_SIZE, OFF(max_path), "10", 10, NULL, "11"},
    {"max-resource-type", "PRESENCED_MAX_RESOURCE_TYPE", F_SIZE, OFF(max_resource_type), "12", 12,
     NULL, "13"},
    {"max-resource-id", "PRESENCED_MAX_RESOURCE_ID", F_SIZE, OFF(max_resource_id), "14", 14, NULL,
     "15"},
    {"rate", "PRESENCED_RATE", F_DOUBLE, OFF(rate), "2.5", 2.5, NULL, "3"},
    {"burst", "PRESENCED_BURST", F_DOUBLE, OFF(burst), "7", 7, NULL, "8"},
    {"msg-rate", "PRESENCED_MSG_RATE", F_DOUBLE, OFF(msg_rate), "0.5", 0.5, NULL, "9"},
    {"msg-burst", "PRESENCED_MSG_BURST", F_DOUBLE, OFF(msg_burst), "300", 300, NULL, "301"},
    {"user-rate", "PRESENCED_USER_RATE", F_DOUBLE, OFF(user_rate), "0", 0, NULL, "1"},
    {"user-burst", "PRESENCED_USER_BURST", F_DOUBLE, OFF(user_burst), "2", 2, NULL, "3"},
    {"max-conns-per-user", "PRESENCED_MAX_CONNS_PER_USER", F_UINT, OFF(max_conns_per_user), "3", 3,
     NULL, "4"},
    {"max-conns-per-room", "PRESENCED_MAX_CONNS_PER_ROOM", F_UINT, OFF(max_conns_per_room), "5", 5,
     NULL, "6"},
    {"max-conns", "PRESENCED_MAX_CONNS", F_UINT, OFF(max_conns), "4294967295", 4294967295.0, NULL,
     "7"},
    {"max-send-buffer", "PRESENCED_MAX_SEND_BUFFER", F_SIZE, OFF(max_send_buffer), "65536", 65536,
     NULL, "1"},
    {"max-pending-messages", "PRESENCED_MAX_PENDING_MESSAGES", F_UINT, OFF(max_pending_msgs), "2",
     2, NULL, "3"},
    {"max-pending-bytes", "PRESENCED_MAX_PENDING_BYTES", F_SIZE, OFF(max_pending_bytes), "100", 100,
     NULL, "101"},
    {"max-api-body", "PRESENCED_MAX_API_BODY", F_SIZE, OFF(max_api_body), "0", 0, NULL, "1"},
    {"status-reserve", "PRESENCED_STATUS_RESERVE", F_UINT, OFF(status_reserve), "0", 0, NULL, "1"},
    {"max-handshakes-per-ip", "PRESENCED_MAX_HANDSHAKES_PER_IP", F_UINT, OFF(max_handshakes_per_ip),
     "20", 20, NULL, "21"},
    {"threads", "PRESENCED_THREADS", F_UINT, OFF(threads), "4", 4, NULL, "2"},
    {"flush-batch", "PRESENCED_FLUSH_BATCH", F_UINT, OFF(flush_batch), "0", 0, NULL, "1"},
    {"write-delay", "PRESENCED_WRITE_DELAY", F_MS, OFF(write_delay_ms), "0.005", 5, NULL, "1"},
    {"allowed-origin", "PRESENCED_ALLOWED_ORIGINS", F_LIST, OFF(allowed_origins),
     " https://a.test , https://b.test", 0, "https://b.test", "https://c.test"},
    {"verify-url", "PRESENCED_VERIFY_URL", F_STR, OFF(verify_url), "http://v/", 0, "http://v/",
     "https://w/"},
    {"verify-timeout", "PRESENCED_VERIFY_TIMEOUT", F_MS, OFF(verify_timeout_ms), "0.1", 100, NULL,
     "2"},
    {"verify-header", "PRESENCED_VERIFY_HEADERS", F_LIST, OFF(verify_headers), "X-A: 1", 0,
     "X-A: 1", "X-B: 2"},
    {"verify-max-inflight", "PRESENCED_VERIFY_MAX_INFLIGHT", F_UINT, OFF(verify_max_inflight), "1",
     1, NULL, "2"},
    {"verify-cache-ttl", "PRESENCED_VERIFY_CACHE_TTL", F_MS, OFF(verify_cache_ttl_ms), "0", 0, NULL,
     "1"},
    {"verify-cache-max", "PRESENCED_VERIFY_CACHE_MAX", F_UINT, OFF(verify_cache_max), "1", 1, NULL,
     "2"},
    {"redis", "PRESENCED_REDIS_URL", F_STR, OFF(redis_url), "redis://127.0.0.1:6379", 0,
     "redis://127.0.0.1:6379", "redis://:pw@r:1/2"},
    {"node-id", "PRESENCED_NODE_ID", F_STR, OFF(node_id), "node-a", 0, "node-a", "node.b"},
    {"node-timeout", "PRESENCED_NODE_TIMEOUT", F_MS, OFF(node_timeout_ms), "2", 2000, NULL, "3"},
    {"api-secret-file", "PRESENCED_API_SECRET_FILE", F_FILE, OFF(api_secret), "@B", 4, "beta",
     "@A"},
    {"PRESENCED_API_SECRET", "PRESENCED_API_SECRET", F_FILE, OFF(api_secret), "s", 1, "s", NULL},
    {"log-level", "PRESENCED_LOG_LEVEL", F_UINT, OFF(log_level), "debug", PD_LOG_DEBUG, NULL,
     "off"},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static char dir[] = "/tmp/test_config_XXXXXX";
static char file_a[64], file_b[64], file_empty[64];

/* Clears every variable of the table, so the caller's environment cannot leak in. */
static void clear_env(void)
{
    const char *flag, *env;
    for (size_t i = 0; pd_config_option(i, &flag, &env) == 0; i++)
        unsetenv(env);
}

static void write_file(char *path, const char *name, const char *text)
{
    snprintf(path, 64, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    if (!mkdtemp(dir))
        return -1;
    write_file(file_a, "a", "alpha\n");
    write_file(file_b, "b", "beta");
    write_file(file_empty, "empty", "\n");
    clear_env();
    return 0;
}

static int teardown(void **state)
{
    unlink(file_a);
    unlink(file_b);
    unlink(file_empty);
    rmdir(dir);
    return 0;
}

static const char *resolve(const char *value)
{
    if (value && strcmp(value, "@A") == 0)
        return file_a;
    if (value && strcmp(value, "@B") == 0)
        return file_b;
    return value;
}

/* Loads defaults, then the environment, then args (a NULL-terminated list). */
static int load(pd_config_t *cfg, char *err, size_t errlen, const char *const *args)
{
    char *argv[16] = {"presenced"};
    int argc = 1;
    for (; args && args[argc - 1]; argc++) {
        assert_true(argc < 16);
        argv[argc] = (char *)args[argc - 1];
    }
    pd_config_defaults(cfg);
    err[0] = '\0';
    return pd_config_load(cfg, argc, argv, err, errlen);
}

/* Loads args and expects err to contain want. */
static void expect_refused(const char *const *args, const char *want)
{
    pd_config_t cfg;
    char err[512];
    int rc = load(&cfg, err, sizeof(err), args);
    if (rc != PD_ERR_CONFIG || !strstr(err, want))
        fail_msg("%s %s: rc %d, \"%s\", wanted \"%s\"", args[0] ? args[0] : "",
                 args[0] && args[1] ? args[1] : "", rc, err, want);
    pd_config_free(&cfg);
}

static const case_t *case_named(const char *name)
{
    for (size_t i = 0; i < N_CASES; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    return NULL;
}

static int has_flag(const case_t *k)
{
    return strncmp(k->name, "PRESENCED_", 10) != 0;
}

/* The file a value names, as the config holds it: the bytes less a trailing newline. */
static const char *file_text(const char *value)
{
    value = resolve(value);
    return value == file_a ? "alpha" : value == file_b ? "beta" : value;
}

static double number_at(const case_t *k, const void *field)
{
    switch (k->field) {
    case F_FLAG: return *(const int *)field;
    case F_MS: return (double)*(const uint64_t *)field;
    case F_SIZE: return (double)*(const size_t *)field;
    case F_UINT: return *(const unsigned *)field;
    case F_INT64: return (double)*(const int64_t *)field;
    default: return *(const double *)field;
    }
}

static void check_number(const case_t *k, const void *field, double want)
{
    double got = number_at(k, field);
    if (got != want)
        fail_msg("%s: got %g, wanted %g", k->name, got, want);
}

/* Checks that cfg holds what value gives (want and want_str, or file text). */
static void check(const case_t *k, const pd_config_t *cfg, double want, const char *want_str)
{
    const char *field = (const char *)cfg + k->offset;
    switch (k->field) {
    case F_STR: assert_string_equal(*(char *const *)field, want_str); break;
    case F_FILE:
        assert_string_equal(*(char *const *)field, want_str);
        assert_int_equal(*(const size_t *)(field + sizeof(char *)), strlen(want_str));
        break;
    case F_LISTEN:
        assert_string_equal(cfg->listen_host, want_str);
        assert_int_equal(cfg->listen_port, (int)want);
        break;
    case F_LIST: {
        char *const *list = *(char **const *)field;
        size_t n = *(const size_t *)(field + sizeof(char **));
        assert_true(n >= 1);
        assert_string_equal(list[n - 1], want_str);
        break;
    }
    default: check_number(k, field, want);
    }
}

static void check_value(const case_t *k, const pd_config_t *cfg)
{
    check(k, cfg, k->want, k->field == F_FILE ? file_text(k->value) : k->want_str);
}

static void test_every_option_has_a_case(void **state)
{
    const char *flag, *env;
    size_t n = 0;
    for (size_t i = 0; pd_config_option(i, &flag, &env) == 0; i++, n++) {
        const case_t *k = case_named(flag ? flag : env);
        if (!k)
            fail_msg("option %s has no case in test_config.c", flag ? flag : env);
        assert_string_equal(k->env, env);
        assert_int_equal(has_flag(k), flag != NULL);
    }
    assert_int_equal(n, N_CASES);
}

static void test_each_flag(void **state)
{
    for (size_t i = 0; i < N_CASES; i++) {
        const case_t *k = &cases[i];
        if (!has_flag(k))
            continue;
        char flag[64], inline_form[256];
        snprintf(flag, sizeof(flag), "--%s", k->name);
        const char *value = resolve(k->value);
        snprintf(inline_form, sizeof(inline_form), "%s=%s", flag, value ? value : "1");
        const char *separate[] = {flag, value, NULL}, *joined[] = {inline_form, NULL};
        pd_config_t cfg;
        char err[512];
        assert_int_equal(load(&cfg, err, sizeof(err), separate), 0);
        check_value(k, &cfg);
        pd_config_free(&cfg);
        assert_int_equal(load(&cfg, err, sizeof(err), joined), 0);
        check_value(k, &cfg);
        pd_config_free(&cfg);
    }
}

static void test_each_variable(void **state)
{
    for (size_t i = 0; i < N_CASES; i++) {
        const case_t *k = &cases[i];
        setenv(k->env, k->value ? resolve(k->value) : "1", 1);
        pd_config_t cfg;
        char err[512];
        assert_int_equal(load(&cfg, err, sizeof(err), NULL), 0);
        check_value(k, &cfg);
        pd_config_free(&cfg);
        unsetenv(k->env);
    }
}

/*
 * The flag's value is kept; a list (a repeatable option) gets the flag's
 * items after the variable's.
 */
static void test_flag_beats_variable(void **state)
{
    for (size_t i = 0; i < N_CASES; i++) {
        const case_t *k = &cases[i];
        if (!has_flag(k))
            continue;
        setenv(k->env, resolve(k->other), 1);
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s", k->name);
        const char *args[] = {flag, resolve(k->value), NULL};
        pd_config_t cfg;
        char err[512];
        assert_int_equal(load(&cfg, err, sizeof(err), args), 0);
        check_value(k, &cfg);
        pd_config_free(&cfg);
        unsetenv(k->env);
    }
}

static void test_lists_gather(void **state)
{
    setenv("PRESENCED_VERIFY_HEADERS", "X-A: 1\r\nX-B: 2\n", 1);
    const char *args[] = {"--verify-header",
                          "X-C: 3",
                          "--allowed-origin",
                          "https://a.test",
                          "--allowed-origin",
                          "https://b.test,https://c.test",
                          NULL};
    pd_config_t cfg;
    char err[512];
    assert_int_equal(load(&cfg, err, sizeof(err), args), 0);
    assert_int_equal(cfg.n_verify_headers, 3);
    assert_string_equal(cfg.verify_headers[0], "X-A: 1");
    assert_string_equal(cfg.verify_headers[1], "X-B: 2");
    assert_string_equal(cfg.verify_headers[2], "X-C: 3");
    assert_int_equal(cfg.n_allowed_origins, 3);
    assert_string_equal(cfg.allowed_origins[0], "https://a.test");
    pd_config_free(&cfg);
    unsetenv("PRESENCED_VERIFY_HEADERS");
}

static void test_empty_variable_is_unset(void **state)
{
    setenv("PRESENCED_MAX_MESSAGE", "", 1);
    setenv("PRESENCED_DEV", "0", 1);
    pd_config_t cfg;
    char err[512];
    assert_int_equal(load(&cfg, err, sizeof(err), NULL), 0);
    assert_int_equal(cfg.max_message, 4096);
    assert_int_equal(cfg.dev, 0);
    pd_config_free(&cfg);
    unsetenv("PRESENCED_MAX_MESSAGE");
    unsetenv("PRESENCED_DEV");
}

static int numeric(field_t f)
{
    return f == F_MS || f == F_SIZE || f == F_UINT || f == F_INT64 || f == F_DOUBLE;
}

/* Every numeric option refuses words, negatives and NaN, naming itself. */
static void test_numbers_refused(void **state)
{
    static const char *bad[] = {"ten", "-1", "", "1x", "nan"};
    for (size_t i = 0; i < N_CASES; i++) {
        const case_t *k = &cases[i];
        /* --leave-messages, --io-uring and --log-level take words; their own tests cover them. */
        if (!numeric(k->field) || k->offset == OFF(leave_messages) || k->offset == OFF(io_uring) ||
            k->offset == OFF(log_level))
            continue;
        char flag[64], want[96];
        snprintf(flag, sizeof(flag), "--%s", k->name);
        snprintf(want, sizeof(want), "%s: \"", flag);
        for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            const char *args[] = {flag, bad[j], NULL};
            expect_refused(args, want);
        }
    }
}

static void test_bad_values_refused(void **state)
{
    static const struct {
        const char *args[4];
        const char *want;
    } bad[] = {
        {{"--max-message", "1.5"}, "--max-message: \"1.5\" must be a whole number"},
        {{"--max-conns", "4294967296"}, "--max-conns: \"4294967296\" is not a valid"},
        {{"--ping-interval", "10000001"}, "--ping-interval: \"10000001\" is not a valid"},
        {{"--max-send-buffer", "1e16"}, "--max-send-buffer: \"1e16\" is not a valid"},
        {{"--listen", "1999"}, "--listen wants HOST:PORT, got \"1999\""},
        {{"--listen", ":1999"}, "--listen wants HOST:PORT"},
        {{"--listen", "127.0.0.1:65536"}, "--listen: bad port in \"127.0.0.1:65536\""},
        {{"--listen", "127.0.0.1:x"}, "--listen: bad port"},
        {{"--leave-messages", "never"},
         "--leave-messages must be both, user_left or user_left_presence, not \"never\""},
        {{"--log-level", "loud"}, "--log-level: unknown level \"loud\""},
        {{"--io-uring", "maybe"}, "--io-uring must be auto, on or off, not \"maybe\""},
        {{"--verify-header", "NoColon"}, "--verify-header wants \"Name: value\", got \"NoColon\""},
        {{"--static-mount", "js=dist"}, "--static-mount wants \"/PREFIX=DIR\", got \"js=dist\""},
        {{"--static-mount", "/=dist"}, "--static-mount wants \"/PREFIX=DIR\""},
        {{"--static-mount", "/js="}, "--static-mount wants \"/PREFIX=DIR\""},
        {{"--nope"}, "unknown option \"--nope\" (see --help)"},
        {{"--dev", "extra"}, "unknown option \"extra\""},
        {{"-x"}, "unknown option \"-x\""},
        {{"--max-message"}, "--max-message needs a value"},
        {{"--dev", "--listen"}, "--listen needs a value"},
        {{"--jwt-secret-file", "/nonexistent/secret"}, "cannot open /nonexistent/secret: "},
        {{"--jwt-public-key", "/nonexistent/key.pem"}, "cannot open /nonexistent/key.pem: "},
        {{"--api-secret-file", "/nonexistent/api"}, "cannot open /nonexistent/api: "},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_refused(bad[i].args, bad[i].want);
}

/* A bad variable is refused like its flag, and the message names the flag. */
static void test_bad_variable_refused(void **state)
{
    setenv("PRESENCED_MAX_MESSAGE", "big", 1);
    const char *none[] = {NULL};
    expect_refused(none, "--max-message: \"big\" is not a valid non-negative number");
    unsetenv("PRESENCED_MAX_MESSAGE");
    setenv("PRESENCED_JWT_SECRET_FILE", "/nonexistent/env-secret", 1);
    expect_refused(none, "cannot open /nonexistent/env-secret");
    unsetenv("PRESENCED_JWT_SECRET_FILE");
}

/* Loads args and runs the cross-option checks; returns their result, err holding the message. */
static int validate(const char *const *args, char *err, size_t errlen)
{
    pd_config_t cfg;
    assert_int_equal(load(&cfg, err, errlen, args), 0);
    int rc = pd_config_validate(&cfg, err, errlen);
    pd_config_free(&cfg);
    return rc;
}

static void test_cross_checks(void **state)
{
    static const struct {
        const char *args[8];
        const char *want; /* NULL: accepted */
    } rules[] = {
        {{"--dev"}, NULL},
        {{"--dev", "--listen", "[::1]:0"}, NULL},
        {{"--dev", "--listen", "localhost:0"}, NULL},
        {{"--jwt-secret-file", "@A", "--listen", "0.0.0.0:1999"}, NULL},
        {{"--verify-url", "https://app.test/verify"}, NULL},
        {{"--jwt-alg", "ES256", "--jwt-public-key", "@B"}, NULL},
        {{"--dev", "--listen", "0.0.0.0:1999"}, "--dev only listens on loopback, not 0.0.0.0"},
        {{"--dev", "--listen", "[::]:1999"}, "--dev only listens on loopback, not ::"},
        {{"--dev", "--jwt-alg", "HS512"}, "--jwt-alg must be HS256, RS256 or ES256, not HS512"},
        {{"--verify-url", "ftp://app.test/"}, "--verify-url must be an http:// or https:// URL"},
        {{"--verify-url", "http://v/", "--verify-timeout", "0"},
         "--verify-timeout and --verify-max-inflight must be above zero"},
        {{"--verify-url", "http://v/", "--verify-max-inflight", "0"},
         "--verify-timeout and --verify-max-inflight must be above zero"},
        {{NULL},
         "no token key: give --jwt-secret-file FILE (or PRESENCED_JWT_SECRET), --jwt-alg RS256"},
        {{"--jwt-alg", "RS256"}, "--jwt-alg RS256 needs --jwt-public-key FILE"},
        {{"--dev", "--idle-timeout", "0"}, "--ping-interval and --idle-timeout must be above zero"},
        {{"--dev", "--ping-interval", "0"},
         "--ping-interval and --idle-timeout must be above zero"},
        {{"--dev", "--write-delay", "1.001"}, "--write-delay is at most 1 second"},
        {{"--dev", "--ping-interval", "25"}, "--ping-interval must be shorter than --idle-timeout"},
        {{"--dev", "--max-message", "63"}, "a limit is too small (max-message >= 64"},
        {{"--dev", "--max-header-bytes", "255"}, "a limit is too small"},
        {{"--dev", "--rate", "0"}, "a limit is too small"},
        {{"--dev", "--burst", "0.5"}, "a limit is too small"},
        {{"--dev", "--msg-rate", "0"}, "--msg-rate must be above zero and --msg-burst at least 1"},
        {{"--dev", "--msg-burst", "0"}, "--msg-rate must be above zero and --msg-burst at least 1"},
        {{"--dev", "--user-burst", "0.5"},
         "a limit is too small (user-rate >= 0, user-burst >= 1)"},
        {{"--dev", "--redis", "redis://:pw@127.0.0.1:6379/2", "--node-id", "a.b-c_1"}, NULL},
        {{"--dev", "--redis", "http://127.0.0.1:6379"}, "--redis must be a redis://"},
        {{"--dev", "--redis", "redis://h:99999"}, "--redis must be a redis://"},
        {{"--dev", "--node-id", "a/b"}, "--node-id must be 1-64 of [A-Za-z0-9_.-]"},
        {{"--dev", "--node-timeout", "0.5"}, "--node-timeout must be between 1 and 3600 seconds"},
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const char *args[8] = {NULL};
        for (size_t j = 0; j < 7 && rules[i].args[j]; j++)
            args[j] = resolve(rules[i].args[j]);
        char err[512] = "";
        int rc = validate(args, err, sizeof(err));
        if (!rules[i].want && rc != 0)
            fail_msg("rule %zu: refused with \"%s\"", i, err);
        if (rules[i].want && (rc != PD_ERR_CONFIG || !strstr(err, rules[i].want)))
            fail_msg("rule %zu: rc %d, \"%s\", wanted \"%s\"", i, rc, err, rules[i].want);
    }
    /* An empty secret file (as a package installs it) loads, and start-up is
     * refused until a secret is written into it. */
    char want[160], err[512] = "";
    snprintf(want, sizeof(want), "no token key: the secret file %s is empty", file_empty);
    const char *empty[] = {"--jwt-secret-file", file_empty, NULL};
    int rc = validate(empty, err, sizeof(err));
    if (rc != PD_ERR_CONFIG || !strstr(err, want))
        fail_msg("empty secret file: rc %d, \"%s\", wanted \"%s\"", rc, err, want);
}

static void test_defaults(void **state)
{
    pd_config_t cfg;
    char err[512];
    assert_int_equal(load(&cfg, err, sizeof(err), NULL), 0);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 1999);
    assert_null(cfg.port_file);
    assert_int_equal(cfg.dev, 0);
    assert_null(cfg.static_dir);
    assert_int_equal(cfg.n_static_mounts, 0);
    assert_null(cfg.jwt_secret);
    assert_null(cfg.jwt_public_key);
    assert_string_equal(cfg.jwt_alg, "HS256");
    assert_int_equal(cfg.jwt_leeway_s, 5);
    assert_null(cfg.jwt_issuer);
    assert_null(cfg.jwt_audience);
    assert_int_equal(cfg.ping_interval_ms, 10000);
    assert_int_equal(cfg.idle_timeout_ms, 25000);
    assert_int_equal(cfg.token_grace_ms, 30000);
    assert_int_equal(cfg.handshake_timeout_ms, 10000);
    assert_int_equal(cfg.linger_ms, 5000);
    assert_int_equal(cfg.leave_messages, PD_LEAVE_BOTH);
    assert_int_equal(cfg.max_message, 4096);
    assert_int_equal(cfg.max_header_bytes, 8192);
    assert_int_equal(cfg.max_path, 1024);
    assert_int_equal(cfg.max_resource_type, 32);
    assert_int_equal(cfg.max_resource_id, 256);
    assert_true(cfg.rate == 20 && cfg.burst == 40);
    assert_true(cfg.msg_rate == 50 && cfg.msg_burst == 200);
    assert_true(cfg.user_rate == 20 && cfg.user_burst == 40);
    assert_int_equal(cfg.max_conns_per_user, 16);
    assert_int_equal(cfg.max_conns_per_room, 10000);
    assert_int_equal(cfg.max_conns, 0);
    assert_int_equal(cfg.max_send_buffer, 262144);
    assert_int_equal(cfg.max_pending_msgs, 32);
    assert_int_equal(cfg.max_pending_bytes, 16384);
    assert_int_equal(cfg.max_api_body, 4096);
    assert_int_equal(cfg.status_reserve, 8);
    assert_int_equal(cfg.max_handshakes_per_ip, 0);
    assert_int_equal(cfg.flush_batch, 16);
    assert_int_equal(cfg.threads, 0);
    assert_int_equal(cfg.write_delay_ms, 0);
    assert_int_equal(cfg.n_allowed_origins, 0);
    assert_null(cfg.verify_url);
    assert_int_equal(cfg.verify_timeout_ms, 3000);
    assert_int_equal(cfg.n_verify_headers, 0);
    assert_int_equal(cfg.verify_max_inflight, 64);
    assert_int_equal(cfg.verify_cache_ttl_ms, 30000);
    assert_int_equal(cfg.verify_cache_max, 10000);
    assert_null(cfg.redis_url);
    assert_null(cfg.node_id);
    assert_int_equal(cfg.node_timeout_ms, 5000);
    assert_null(cfg.api_secret);
    assert_int_equal(cfg.log_level, PD_LOG_INFO);
    pd_config_free(&cfg);
}

/* Every case's value differs from the default, so the tests above prove a change. */
static void test_values_differ_from_defaults(void **state)
{
    pd_config_t def;
    char err[512];
    assert_int_equal(load(&def, err, sizeof(err), NULL), 0);
    for (size_t i = 0; i < N_CASES; i++) {
        const case_t *k = &cases[i];
        const char *field = (const char *)&def + k->offset;
        if (k->field == F_STR || k->field == F_FILE) {
            const char *s = *(char *const *)field;
            if (s && strcmp(s, k->field == F_FILE ? file_text(k->value) : k->want_str) == 0)
                fail_msg("%s: the case's value is the default", k->name);
        } else if (k->field == F_LISTEN) {
            assert_int_not_equal(def.listen_port, (int)k->want);
        } else if (k->field != F_LIST && number_at(k, field) == k->want) {
            fail_msg("%s: the case's value is the default", k->name);
        }
    }
    pd_config_free(&def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_option_has_a_case),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values_differ_from_defaults),
        cmocka_unit_test(test_each_flag),
        cmocka_unit_test(test_each_variable),
        cmocka_unit_test(test_flag_beats_variable),
        cmocka_unit_test(test_lists_gather),
        cmocka_unit_test(test_empty_variable_is_unset),
        cmocka_unit_test(test_numbers_refused),
        cmocka_unit_test(test_bad_values_refused),
        cmocka_unit_test(test_bad_variable_refused),
        cmocka_unit_test(test_cross_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
