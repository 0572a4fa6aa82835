#include "tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"

struct pd_tls {
    SSL *ssl;
    BIO *in;  /* bytes from the socket, read by OpenSSL */
    BIO *out; /* bytes OpenSSL wants sent */
    int ready;
    int closed;
    char error[256];
};

static void ssl_error_text(char *out, size_t cap, const char *what)
{
    unsigned long e = ERR_get_error();
    char text[200] = "unknown error";
    if (e)
        ERR_error_string_n(e, text, sizeof text);
    snprintf(out, cap, "%s: %s", what, text);
    ERR_clear_error();
}

int pd_tls_ctx_new(SSL_CTX **out, const char *ca_file, char *err, size_t errlen)
{
    char text[300];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    *out = NULL;
    if (!ctx) {
        ssl_error_text(text, sizeof text, "cannot create a TLS context");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int loaded = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx);
    if (loaded != 1) {
        ssl_error_text(text, sizeof text,
                       ca_file ? "cannot load the CA file (a PEM file of certificates)"
                               : "cannot load the system's CA certificates");
        SSL_CTX_free(ctx);
        goto fail;
    }
    *out = ctx;
    return 0;
fail:
    if (err && errlen)
        snprintf(err, errlen, "%s%s%s", text, ca_file ? ": " : "", ca_file ? ca_file : "");
    return PD_ERR_CONFIG;
}

void pd_tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

static int is_ip_address(const char *host)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* The name or address the certificate must carry; SNI only for names. */
static void set_peer_identity(SSL *ssl, const char *host)
{
    if (is_ip_address(host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
        return;
    }
    SSL_set_tlsext_host_name(ssl, host);
    SSL_set1_host(ssl, host);
}

pd_tls_t *pd_tls_new(SSL_CTX *ctx, const char *host)
{
    pd_tls_t *t = pd_calloc(1, sizeof *t);
    t->ssl = SSL_new(ctx);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out) {
        fprintf(stderr, "libpresence: out of memory in OpenSSL\n");
        abort();
    }
    /* Reading an empty memory BIO means "wait for more", not end of file. */
    BIO_set_mem_eof_return(t->in, -1);
    SSL_set_bio(t->ssl, t->in, t->out);
    SSL_set_connect_state(t->ssl);
    set_peer_identity(t->ssl, host);
    return t;
}

void pd_tls_free(pd_tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

/* Moves what OpenSSL wrote to the out BIO into wire. */
static void drain(pd_tls_t *t, pd_buf_t *wire)
{
    char chunk[16384];
    int n;
    while ((n = BIO_read(t->out, chunk, sizeof chunk)) > 0)
        pd_buf_append(wire, chunk, (size_t)n);
}

static int tls_fail(pd_tls_t *t, const char *what)
{
    long verify = SSL_get_verify_result(t->ssl);
    if (verify != X509_V_OK)
        snprintf(t->error, sizeof t->error, "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
    else
        ssl_error_text(t->error, sizeof t->error, what);
    ERR_clear_error();
    return PD_ERR_PROTO;
}

/* Runs the handshake as far as the input allows. */
static int handshake(pd_tls_t *t, pd_buf_t *wire)
{
    int r = SSL_do_handshake(t->ssl);
    drain(t, wire);
    if (r == 1) {
        t->ready = 1;
        return 0;
    }
    int e = SSL_get_error(t->ssl, r);
    return e == SSL_ERROR_WANT_READ ? 0 : tls_fail(t, "TLS handshake failed");
}

int pd_tls_start(pd_tls_t *t, pd_buf_t *wire)
{
    t->error[0] = '\0';
    return handshake(t, wire);
}

/* Decrypts everything buffered; returns 0, PD_ERR_CLOSED or PD_ERR_PROTO. */
static int read_plain(pd_tls_t *t, pd_buf_t *plain, pd_buf_t *wire)
{
    char chunk[16384];
    for (;;) {
        int n = SSL_read(t->ssl, chunk, sizeof chunk);
        drain(t, wire); /* TLS 1.3 may answer post-handshake messages */
        if (n > 0) {
            pd_buf_append(plain, chunk, (size_t)n);
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ)
            return 0;
        if (e == SSL_ERROR_ZERO_RETURN)
            return PD_ERR_CLOSED;
        return tls_fail(t, "TLS read failed");
    }
}

int pd_tls_feed(pd_tls_t *t, const char *data, size_t len, pd_buf_t *plain, pd_buf_t *wire)
{
    t->error[0] = '\0';
    if (len > 0 && BIO_write(t->in, data, (int)len) != (int)len)
        return tls_fail(t, "TLS buffer write failed");
    if (!t->ready) {
        int r = handshake(t, wire);
        if (r != 0 || !t->ready)
            return r;
    }
    return read_plain(t, plain, wire);
}

int pd_tls_ready(const pd_tls_t *t)
{
    return t->ready;
}

int pd_tls_write(pd_tls_t *t, const char *data, size_t len, pd_buf_t *wire)
{
    t->error[0] = '\0';
    if (!t->ready || t->closed)
        return PD_ERR_PROTO;
    /* A memory BIO takes everything, so SSL_write never stops half-way. */
    if (len > 0 && SSL_write(t->ssl, data, (int)len) <= 0)
        return tls_fail(t, "TLS write failed");
    drain(t, wire);
    return 0;
}

void pd_tls_close(pd_tls_t *t, pd_buf_t *wire)
{
    if (t->closed || !t->ready)
        return;
    t->closed = 1;
    SSL_shutdown(t->ssl);
    drain(t, wire);
    ERR_clear_error();
}

const char *pd_tls_error(const pd_tls_t *t)
{
    return t->error;
}
