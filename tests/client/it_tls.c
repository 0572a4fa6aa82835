/*
 * wss:// through a real TLS proxy: nginx, started by this test with a
 * self-signed certificate made here with the openssl command, in front of
 * the real presenced. The certificate and the host name (or IP address) are
 * verified: with the CA file the client connects, without it or under
 * another name it does not.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#ifndef NGINX_BIN
#define NGINX_BIN "/usr/sbin/nginx"
#endif
#ifndef OPENSSL_BIN
#define OPENSSL_BIN "/usr/bin/openssl"
#endif

static pdt_server_t srv;
static uv_loop_t loop;
static char dir[96];
static char ca_file[160];
static pid_t nginx_pid;
static int tls_port;

static const char nginx_conf[] = "daemon off;\n"
                                 "master_process off;\n"
                                 "pid %s/nginx.pid;\n"
                                 "error_log %s/error.log info;\n"
                                 "events { worker_connections 64; }\n"
                                 "http {\n"
                                 "  access_log off;\n"
                                 "  client_body_temp_path %s/tmp;\n"
                                 "  proxy_temp_path %s/tmp;\n"
                                 "  fastcgi_temp_path %s/tmp;\n"
                                 "  uwsgi_temp_path %s/tmp;\n"
                                 "  scgi_temp_path %s/tmp;\n"
                                 "  server {\n"
                                 "    listen 127.0.0.1:%d ssl;\n"
                                 "    listen 127.0.0.2:%d ssl;\n"
                                 "    ssl_certificate %s/cert.pem;\n"
                                 "    ssl_certificate_key %s/key.pem;\n"
                                 "    location / {\n"
                                 "      proxy_pass http://127.0.0.1:%d;\n"
                                 "      proxy_http_version 1.1;\n"
                                 "      proxy_set_header Upgrade $http_upgrade;\n"
                                 "      proxy_set_header Connection \"upgrade\";\n"
                                 "      proxy_read_timeout 60s;\n"
                                 "    }\n"
                                 "  }\n"
                                 "}\n";

static void make_certificate(void)
{
    char key[160], cert[160], log[160];
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(log, sizeof log, "%s/openssl.log", dir);
    const char *argv[] = {OPENSSL_BIN,
                          "req",
                          "-x509",
                          "-newkey",
                          "ec",
                          "-pkeyopt",
                          "ec_paramgen_curve:prime256v1",
                          "-nodes",
                          "-keyout",
                          key,
                          "-out",
                          cert,
                          "-days",
                          "2",
                          "-subj",
                          "/CN=presence test",
                          "-addext",
                          "subjectAltName=DNS:localhost,IP:127.0.0.1",
                          NULL};
    pid_t pid = pdt_spawn(argv, NULL, log);
    if (pid < 0 || pdt_wait_exit(pid, 30000) != 0)
        fail_msg("openssl could not make a certificate (see %s)", log);
    snprintf(ca_file, sizeof ca_file, "%s", cert);
}

static int can_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void start_nginx(void)
{
    char conf[160], tmp[160], log[160];
    snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    snprintf(log, sizeof log, "%s/error.log", dir);
    mkdir(tmp, 0700);
    tls_port = pdt_free_port();
    char text[4096];
    snprintf(text, sizeof text, nginx_conf, dir, dir, dir, dir, dir, dir, dir, tls_port, tls_port,
             dir, dir, srv.port);
    assert_int_equal(pdt_write_file(conf, text), 0);
    const char *argv[] = {NGINX_BIN, "-p", dir, "-c", conf, "-e", log, NULL};
    nginx_pid = pdt_spawn(argv, NULL, log);
    uint64_t deadline = pdt_now_ms() + 10000;
    while (!can_connect(tls_port)) {
        if (pdt_now_ms() > deadline || pdt_wait_exit(nginx_pid, 0) >= 0)
            fail_msg("nginx did not start (see %s)", log);
        usleep(20000);
    }
}

static int group_setup(void **state)
{
    assert_int_equal(pdt_tmpdir(dir, sizeof dir), 0);
    ct_server_start(&srv, 0, NULL);
    make_certificate();
    start_nginx();
    return 0;
}

static int group_teardown(void **state)
{
    if (nginx_pid > 0)
        pdt_kill(nginx_pid, SIGKILL, 5000);
    pdt_server_discard(&srv, 0);
    pdt_tmpdir_remove(dir);
    return 0;
}

static void with_ca(presence_options_t *o, void *arg)
{
    o->ca_file = ca_file;
}

static const char *tls_url(const char *host)
{
    static char url[96];
    snprintf(url, sizeof url, "wss://%s:%d", host, tls_port);
    return url;
}

static void test_wss_with_ca_file(void **state)
{
    ct_client_t *plain = ct_client_new(&loop, ct_server_url(&srv), "tls", "u2", NULL, NULL);
    ct_client_t *a = ct_client_new(&loop, tls_url("127.0.0.1"), "tls", "u1", with_ca, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, 10000);
    presence_client_update(a->c, "/w/tls/documents/1", "document", "1");
    CT_WAIT(&loop, strcmp(ct_where(plain, "u1"), "/w/tls/documents/1|document|1") == 0, CT_WAIT_MS);
    presence_client_update(plain->c, "/w/tls/tasks/2", NULL, NULL);
    CT_WAIT(&loop, strcmp(ct_where(a, "u2"), "/w/tls/tasks/2||") == 0, CT_WAIT_MS);
    ct_follow(a, "u2");
    CT_WAIT(&loop, a->n_follows == 1, CT_WAIT_MS);
    assert_string_equal(a->follows[0].path, "/w/tls/tasks/2");
    /* A clean close through the proxy: the other side sees the leave. */
    ct_client_close(a);
    CT_WAIT(&loop, ct_count(plain, PRESENCE_EV_LEFT) == 1, CT_WAIT_MS);
    ct_client_close(plain);
}

/* "localhost" may resolve to ::1 first, where nothing listens: the next address is tried. */
static void test_wss_by_host_name(void **state)
{
    ct_client_t *a = ct_client_new(&loop, tls_url("localhost"), "tls", "u1", with_ca, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, 10000);
    ct_client_close(a);
}

static void expect_tls_failure(const char *url, void (*tweak)(presence_options_t *, void *),
                               const char *detail)
{
    ct_client_t *a = ct_client_new(&loop, url, "tls", "u1", tweak, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_DISCONNECTED) >= 1, 10000);
    const ct_event_t *e = ct_last(a, PRESENCE_EV_DISCONNECTED);
    assert_int_equal(e->reason, PRESENCE_ERR_TLS);
    if (!strstr(e->detail, detail))
        fail_msg("detail \"%s\" lacks \"%s\"", e->detail, detail);
    assert_int_equal(ct_count(a, PRESENCE_EV_CONNECTED), 0);
    ct_client_close(a);
}

static void test_untrusted_certificate_refused(void **state)
{
    expect_tls_failure(tls_url("127.0.0.1"), NULL, "certificate verify failed");
}

static void test_wrong_address_refused(void **state)
{
    expect_tls_failure(tls_url("127.0.0.2"), with_ca, "IP address mismatch");
}

static void noop_token(presence_client_t *c, presence_token_reason_t why, void *data)
{
}

static void test_unreadable_ca_file(void **state)
{
    presence_options_t o;
    presence_options_init(&o);
    o.url = tls_url("127.0.0.1");
    o.workspace = "tls";
    o.token_cb = noop_token;
    o.ca_file = "/nonexistent/ca.pem";
    presence_client_t *c = NULL;
    char err[300];
    assert_int_equal(presence_client_new(&c, &loop, &o, err, sizeof err), PRESENCE_ERR_CONFIG);
    assert_null(c);
    assert_non_null(strstr(err, "cannot load the CA file"));
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
}

int main(void)
{
    pdt_watchdog(120);
    const struct CMUnitTest tests[] = {
        CT_TEST(test_wss_with_ca_file, &loop),
        CT_TEST(test_wss_by_host_name, &loop),
        CT_TEST(test_untrusted_certificate_refused, &loop),
        CT_TEST(test_wrong_address_refused, &loop),
        CT_TEST(test_unreadable_ca_file, &loop),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
