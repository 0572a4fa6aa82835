/*
 * src/base: buffers, the hash map (including backward-shift deletion,
 * checked against a plain array under a long random workload), the
 * intrusive list, shared buffers, slices, UTF-8 and error names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/list.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/shared.h"
#include "base/slice.h"
#include "base/utf8.h"

/* ---- buf ---- */

static void test_buf_append_and_nul(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    assert_int_equal(pd_buf_slice(&b).len, 0);
    assert_string_equal(pd_buf_slice(&b).base, "");
    pd_buf_append(&b, "ab", 2);
    pd_buf_append_char(&b, 'c');
    pd_buf_append_cstr(&b, "de");
    pd_buf_append_slice(&b, pd_slice("fgh", 2));
    pd_buf_append(&b, NULL, 0);
    assert_int_equal(b.len, 7);
    assert_string_equal(b.base, "abcdefg");
    assert_true(b.cap > b.len);
    pd_buf_free(&b);
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_buf_appendf(void **state)
{
    pd_buf_t b;
    pd_buf_init(&b);
    pd_buf_appendf(&b, "%d-%s", 42, "x");
    pd_buf_appendf(&b, "%s", "");
    assert_string_equal(b.base, "42-x");
    char big[300];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pd_buf_appendf(&b, "[%s]", big);
    assert_int_equal(b.len, 4 + 2 + 299);
    assert_int_equal(b.base[b.len - 1], ']');
    assert_int_equal(b.base[b.len], '\0');
    pd_buf_free(&b);
}

static void test_buf_grows_across_many_appends(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    for (int i = 0; i < 10000; i++)
        pd_buf_append_char(&b, (char)('a' + i % 26));
    assert_int_equal(b.len, 10000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.base[i], 'a' + i % 26);
    assert_int_equal(b.base[b.len], '\0');
    pd_buf_free(&b);
}

static void test_buf_reserve_reset_consume(void **state)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_buf_reserve(&b, 100);
    assert_true(b.cap >= 101);
    assert_int_equal(b.len, 0);
    char *base = b.base;
    pd_buf_append_cstr(&b, "hello world");
    assert_ptr_equal(b.base, base);
    pd_buf_consume(&b, 6);
    assert_string_equal(b.base, "world");
    assert_int_equal(b.len, 5);
    pd_buf_consume(&b, 0);
    assert_string_equal(b.base, "world");
    pd_buf_consume(&b, 5);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.base, "");
    pd_buf_append_cstr(&b, "again");
    size_t cap = b.cap;
    pd_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.base, "");
    pd_buf_reset(&b);
    pd_buf_free(&b);
    pd_buf_reset(&b);
    pd_buf_consume(&b, 3);
    assert_int_equal(b.len, 0);
}

/* ---- map ---- */

static void test_map_basic(void **state)
{
    pd_map_t m;
    pd_map_init(&m, 1);
    int one = 1, two = 2, three = 3;
    assert_null(pd_map_get(&m, pd_slice_cstr("a")));
    assert_null(pd_map_del(&m, pd_slice_cstr("a")));
    assert_null(pd_map_put(&m, pd_slice_cstr("a"), &one));
    assert_null(pd_map_put(&m, pd_slice_cstr("b"), &two));
    assert_ptr_equal(pd_map_put(&m, pd_slice_cstr("a"), &three), &one);
    assert_int_equal(m.count, 2);
    assert_ptr_equal(pd_map_get(&m, pd_slice_cstr("a")), &three);
    assert_ptr_equal(pd_map_get(&m, pd_slice_cstr("b")), &two);
    assert_null(pd_map_get(&m, pd_slice_cstr("c")));
    assert_ptr_equal(pd_map_del(&m, pd_slice_cstr("a")), &three);
    assert_null(pd_map_get(&m, pd_slice_cstr("a")));
    assert_int_equal(m.count, 1);
    pd_map_free(&m);
    assert_int_equal(m.count, 0);
    assert_null(pd_map_get(&m, pd_slice_cstr("b")));
}

static void test_map_binary_and_empty_keys(void **state)
{
    pd_map_t m;
    pd_map_init(&m, 99);
    int x = 1, y = 2, z = 3;
    const char k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'};
    pd_map_put(&m, pd_slice(k1, 3), &x);
    pd_map_put(&m, pd_slice(k2, 3), &y);
    pd_map_put(&m, pd_slice("", 0), &z);
    assert_ptr_equal(pd_map_get(&m, pd_slice(k1, 3)), &x);
    assert_ptr_equal(pd_map_get(&m, pd_slice(k2, 3)), &y);
    assert_null(pd_map_get(&m, pd_slice(k1, 1)));
    assert_ptr_equal(pd_map_get(&m, pd_slice("", 0)), &z);
    assert_int_equal(m.count, 3);
    pd_map_free(&m);
}

static void test_map_iteration(void **state)
{
    pd_map_t m;
    pd_map_init(&m, 5);
    static char keys[100][8];
    int seen[100] = {0};
    for (int i = 0; i < 100; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        pd_map_put(&m, pd_slice_cstr(keys[i]), keys[i]);
    }
    size_t iter = 0;
    pd_slice_t key;
    void *value;
    int n = 0;
    while (pd_map_next(&m, &iter, &key, &value)) {
        assert_ptr_equal(key.base, value);
        seen[atoi((char *)value + 1)]++;
        n++;
    }
    assert_int_equal(n, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(pd_map_next(&m, &iter, NULL, NULL), 0);
    pd_map_free(&m);
    iter = 0;
    assert_int_equal(pd_map_next(&m, &iter, NULL, NULL), 0);
}

static void test_hash_depends_on_seed_and_bytes(void **state)
{
    pd_slice_t k = pd_slice_cstr("presence-ws1");
    assert_int_equal(pd_hash(k, 1), pd_hash(k, 1));
    assert_int_not_equal(pd_hash(k, 1), pd_hash(k, 2));
    assert_int_not_equal(pd_hash(k, 1), pd_hash(pd_slice_cstr("presence-ws2"), 1));
}

enum {
    REF_KEYS = 3000,
    REF_OPS = 200000
};

typedef struct {
    char keys[REF_KEYS][12];
    int values[REF_KEYS];
    int present[REF_KEYS];
    size_t count;
    uint64_t rng;
} map_ref_t;

static uint64_t ref_rand(map_ref_t *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}

/* Checks the first nkeys keys (the only ones used) and the whole map. */
static void ref_check_all(const pd_map_t *m, map_ref_t *r, int nkeys)
{
    assert_int_equal(m->count, r->count);
    for (int i = 0; i < nkeys; i++) {
        void *v = pd_map_get(m, pd_slice_cstr(r->keys[i]));
        assert_ptr_equal(v, r->present[i] ? &r->values[i] : NULL);
    }
    size_t iter = 0, n = 0;
    void *v;
    while (pd_map_next(m, &iter, NULL, &v)) {
        int i = (int)((int *)v - r->values);
        assert_true(i >= 0 && i < REF_KEYS && r->present[i]);
        n++;
    }
    assert_int_equal(n, r->count);
}

static void ref_step(pd_map_t *m, map_ref_t *r)
{
    int i = (int)(ref_rand(r) % REF_KEYS);
    pd_slice_t key = pd_slice_cstr(r->keys[i]);
    /* Biased towards deletion half the time so the map fills and drains. */
    int del_bias = (ref_rand(r) >> 20) % 2 ? 1 : 3;
    if ((int)(ref_rand(r) % 4) < del_bias) {
        assert_ptr_equal(pd_map_del(m, key), r->present[i] ? &r->values[i] : NULL);
        r->count -= r->present[i];
        r->present[i] = 0;
    } else {
        assert_ptr_equal(pd_map_put(m, key, &r->values[i]), r->present[i] ? &r->values[i] : NULL);
        r->count += !r->present[i];
        r->present[i] = 1;
    }
}

static void test_map_matches_reference(void **state)
{
    map_ref_t *r = pd_calloc(1, sizeof(*r));
    r->rng = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < REF_KEYS; i++)
        snprintf(r->keys[i], sizeof(r->keys[i]), "key%d", i);
    pd_map_t m;
    pd_map_init(&m, 12345);
    for (int op = 0; op < REF_OPS; op++) {
        ref_step(&m, r);
        if (op % 10000 == 0)
            ref_check_all(&m, r, REF_KEYS);
    }
    ref_check_all(&m, r, REF_KEYS);
    for (int i = 0; i < REF_KEYS; i++)
        if (r->present[i])
            assert_ptr_equal(pd_map_del(&m, pd_slice_cstr(r->keys[i])), &r->values[i]);
    assert_int_equal(m.count, 0);
    pd_map_free(&m);
    free(r);
}

/* A tiny table keeps probe runs long and wrapping, where deletion is subtle. */
static void test_map_dense_small_table(void **state)
{
    map_ref_t *r = pd_calloc(1, sizeof(*r));
    r->rng = 77;
    for (int i = 0; i < REF_KEYS; i++)
        snprintf(r->keys[i], sizeof(r->keys[i]), "%d", i);
    pd_map_t m;
    pd_map_init(&m, 3);
    for (int round = 0; round < 2000; round++) {
        for (int k = 0; k < 6; k++) {
            int i = (int)(ref_rand(r) % 12);
            if (!r->present[i]) {
                pd_map_put(&m, pd_slice_cstr(r->keys[i]), &r->values[i]);
                r->present[i] = 1;
                r->count++;
            }
        }
        int i = (int)(ref_rand(r) % 12);
        assert_ptr_equal(pd_map_del(&m, pd_slice_cstr(r->keys[i])),
                         r->present[i] ? &r->values[i] : NULL);
        r->count -= r->present[i];
        r->present[i] = 0;
        ref_check_all(&m, r, 12);
    }
    pd_map_free(&m);
    free(r);
}

/* ---- list ---- */

typedef struct {
    int v;
    pd_list_t node;
} item_t;

static void list_expect(pd_list_t *l, const int *want, int n)
{
    int i = 0;
    pd_list_foreach(it, l)
    {
        assert_true(i < n);
        assert_int_equal(pd_container_of(it, item_t, node)->v, want[i]);
        i++;
    }
    assert_int_equal(i, n);
}

static void test_list(void **state)
{
    pd_list_t l;
    pd_list_init(&l);
    assert_true(pd_list_empty(&l));
    item_t it[4] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}};
    pd_list_push_back(&l, &it[1].node);
    pd_list_push_front(&l, &it[0].node);
    pd_list_push_back(&l, &it[3].node);
    pd_list_insert_after(&it[1].node, &it[2].node);
    list_expect(&l, (int[]){1, 2, 3, 4}, 4);
    assert_false(pd_list_empty(&l));
    assert_true(pd_list_linked(&it[2].node));
    pd_list_remove(&it[2].node);
    assert_false(pd_list_linked(&it[2].node));
    pd_list_remove(&it[2].node);
    list_expect(&l, (int[]){1, 2, 4}, 3);
    pd_list_foreach_safe(n, tmp, &l)
    {
        if (pd_container_of(n, item_t, node)->v != 2)
            pd_list_remove(n);
    }
    list_expect(&l, (int[]){2}, 1);
    pd_list_remove(&it[1].node);
    assert_true(pd_list_empty(&l));
}

/* ---- shared ---- */

static void test_shared_refcounts(void **state)
{
    pd_shared_t *s = pd_shared_copy("frame", 5);
    assert_int_equal(s->refs, 1);
    assert_int_equal(s->len, 5);
    assert_memory_equal(s->data, "frame", 5);
    assert_ptr_equal(pd_shared_ref(s), s);
    pd_shared_ref(s);
    assert_int_equal(s->refs, 3);
    pd_shared_unref(s);
    pd_shared_unref(s);
    assert_int_equal(s->refs, 1);
    pd_shared_unref(s); /* the last one frees: ASan reports a leak otherwise */
    pd_shared_unref(NULL);
    pd_shared_t *e = pd_shared_new(0);
    assert_int_equal(e->len, 0);
    pd_shared_unref(e);
    pd_shared_t *z = pd_shared_copy(NULL, 0);
    assert_int_equal(z->refs, 1);
    pd_shared_unref(z);
}

static void test_shared_supersede(void **state)
{
    int a, b;
    pd_shared_t *s = pd_shared_copy("x", 1);
    assert_false(pd_shared_droppable(s, &a));
    pd_shared_supersede(s, &a);
    assert_false(pd_shared_droppable(s, &a)); /* the newer one did not reach a */
    assert_true(pd_shared_droppable(s, &b));
    pd_shared_supersede(s, NULL);
    assert_true(pd_shared_droppable(s, &a));
    pd_shared_unref(s);
}

/* A watch is weak: the buffer's end clears the slot, and the slot's end clears the buffer. */
static void test_shared_watch(void **state)
{
    pd_shared_t *slot = NULL, *other = NULL;
    pd_shared_t *s = pd_shared_copy("x", 1);
    pd_shared_watch(s, &slot);
    assert_ptr_equal(slot, s);
    assert_int_equal(s->refs, 1);
    pd_shared_unref(s);
    assert_null(slot);

    pd_shared_t *t = pd_shared_copy("y", 1), *u = pd_shared_copy("z", 1);
    pd_shared_watch(t, &slot);
    pd_shared_watch(u, &slot); /* moves the watch: t no longer points at slot */
    assert_null(t->watcher);
    pd_shared_watch(u, &other); /* one watcher per buffer: slot lets go */
    assert_null(slot);
    pd_shared_unwatch(&other);
    assert_null(other);
    assert_null(u->watcher);
    pd_shared_unref(t);
    pd_shared_unref(u);
    pd_shared_unwatch(&other); /* an empty slot is fine */
}

/* ---- utf8 ---- */

static size_t seq_len(const char *s, size_t n)
{
    return pd_utf8_seq_len((const unsigned char *)s, n);
}

static int valid(const char *s, size_t n)
{
    return pd_utf8_valid(s, n);
}

/* The first and last code point of every length, and one in the middle. */
static void test_utf8_every_length(void **state)
{
    assert_int_equal(seq_len("\x00", 1), 1);
    assert_int_equal(seq_len("A", 1), 1);
    assert_int_equal(seq_len("\x7f", 1), 1);
    assert_int_equal(seq_len("\xc2\x80", 2), 2);         /* U+0080 */
    assert_int_equal(seq_len("\xc3\xa9", 2), 2);         /* U+00E9 */
    assert_int_equal(seq_len("\xdf\xbf", 2), 2);         /* U+07FF */
    assert_int_equal(seq_len("\xe0\xa0\x80", 3), 3);     /* U+0800 */
    assert_int_equal(seq_len("\xe2\x82\xac", 3), 3);     /* U+20AC */
    assert_int_equal(seq_len("\xed\x9f\xbf", 3), 3);     /* U+D7FF */
    assert_int_equal(seq_len("\xee\x80\x80", 3), 3);     /* U+E000 */
    assert_int_equal(seq_len("\xef\xbf\xbf", 3), 3);     /* U+FFFF */
    assert_int_equal(seq_len("\xf0\x90\x80\x80", 4), 4); /* U+10000 */
    assert_int_equal(seq_len("\xf0\x9f\x98\x80", 4), 4); /* U+1F600 */
    assert_int_equal(seq_len("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */
    /* Only the sequence at p counts: what follows it is not looked at. */
    assert_int_equal(seq_len("\xc3\xa9\xff", 3), 2);
    assert_true(valid("", 0));
    assert_true(valid("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", 11));
    assert_true(valid("\x00", 1));
}

static void test_utf8_overlong(void **state)
{
    assert_int_equal(seq_len("\xc0\x80", 2), 0);         /* U+0000 in two bytes */
    assert_int_equal(seq_len("\xc0\xaf", 2), 0);         /* '/' in two bytes */
    assert_int_equal(seq_len("\xc1\xbf", 2), 0);         /* U+007F in two bytes */
    assert_int_equal(seq_len("\xe0\x80\xaf", 3), 0);     /* '/' in three bytes */
    assert_int_equal(seq_len("\xe0\x9f\xbf", 3), 0);     /* U+07FF in three bytes */
    assert_int_equal(seq_len("\xf0\x80\x80\xaf", 4), 0); /* '/' in four bytes */
    assert_int_equal(seq_len("\xf0\x8f\xbf\xbf", 4), 0); /* U+FFFF in four bytes */
    assert_false(valid("a\xc0\xafz", 4));
}

static void test_utf8_surrogates(void **state)
{
    assert_int_equal(seq_len("\xed\xa0\x80", 3), 0); /* U+D800 */
    assert_int_equal(seq_len("\xed\xaf\xbf", 3), 0); /* U+DBFF */
    assert_int_equal(seq_len("\xed\xb0\x80", 3), 0); /* U+DC00 */
    assert_int_equal(seq_len("\xed\xbf\xbf", 3), 0); /* U+DFFF */
    /* A surrogate pair encoded as two sequences (CESU-8) is not UTF-8 either. */
    assert_false(valid("\xed\xa0\xbd\xed\xb8\x80", 6));
}

static void test_utf8_above_max(void **state)
{
    assert_int_equal(seq_len("\xf4\x90\x80\x80", 4), 0); /* U+110000 */
    assert_int_equal(seq_len("\xf4\xbf\xbf\xbf", 4), 0);
    assert_int_equal(seq_len("\xf5\x80\x80\x80", 4), 0);
    assert_int_equal(seq_len("\xf7\xbf\xbf\xbf", 4), 0);     /* U+1FFFFF */
    assert_int_equal(seq_len("\xf8\x88\x80\x80\x80", 5), 0); /* old five-byte form */
    assert_int_equal(seq_len("\xfc\x84\x80\x80\x80\x80", 6), 0);
    assert_int_equal(seq_len("\xfe", 1), 0);
    assert_int_equal(seq_len("\xff", 1), 0);
}

static void test_utf8_truncated(void **state)
{
    assert_int_equal(seq_len("\xc3", 1), 0);
    assert_int_equal(seq_len("\xe2\x82", 2), 0);
    assert_int_equal(seq_len("\xe2", 1), 0);
    assert_int_equal(seq_len("\xf0\x9f\x98", 3), 0);
    assert_int_equal(seq_len("\xf0\x9f", 2), 0);
    assert_int_equal(seq_len("\xf0", 1), 0);
    /* Cut short by a byte that is not a continuation. */
    assert_int_equal(seq_len("\xc3"
                             "A",
                             2),
                     0);
    assert_int_equal(seq_len("\xe2\x82"
                             "A",
                             3),
                     0);
    assert_int_equal(seq_len("\xf0\x9f\x98"
                             "A",
                             4),
                     0);
    assert_false(valid("ab\xe2\x82", 4));
    assert_false(valid("\xf0\x9f\x98\x80\xf0\x9f\x98", 7));
}

static void test_utf8_stray_continuation(void **state)
{
    assert_int_equal(seq_len("\x80", 1), 0);
    assert_int_equal(seq_len("\xbf", 1), 0);
    assert_false(valid("a\x80", 2));
    assert_false(valid("\xc3\xa9\xa9", 3));
}

/* Every two-byte input: valid exactly when the table's rule says so. */
static void test_utf8_all_two_byte_inputs(void **state)
{
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            char s[2] = {(char)a, (char)b};
            int want = (a < 0x80 && b < 0x80) || (a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF);
            assert_int_equal(valid(s, 2), want);
        }
    }
}

/* ---- slice, mem, err ---- */

static void test_slice(void **state)
{
    assert_true(pd_slice_eq(PD_SLICE_LIT("ab"), pd_slice("abc", 2)));
    assert_false(pd_slice_eq(PD_SLICE_LIT("ab"), PD_SLICE_LIT("ac")));
    assert_false(pd_slice_eq(PD_SLICE_LIT("ab"), PD_SLICE_LIT("abc")));
    assert_true(pd_slice_eq(PD_SLICE_NULL, PD_SLICE_LIT("")));
    assert_true(pd_slice_eq_cstr(PD_SLICE_LIT("x"), "x"));
    assert_null(pd_slice_cstr(NULL).base);
    assert_int_equal(pd_slice_cstr("four").len, 4);
}

static void test_mem(void **state)
{
    char *s = pd_strndup("hello", 3);
    assert_string_equal(s, "hel");
    free(s);
    s = pd_strndup(NULL, 0);
    assert_string_equal(s, "");
    free(s);
    int *z = pd_calloc(4, sizeof(int));
    assert_int_equal(z[0] | z[1] | z[2] | z[3], 0);
    z = pd_realloc(z, 64 * sizeof(int));
    z[63] = 1;
    free(z);
    free(pd_malloc(0));
}

static void test_strerror(void **state)
{
    assert_string_equal(pd_strerror(PD_OK), "success");
    assert_string_equal(pd_strerror(PD_ERR_NOT_FOUND), "not found");
    assert_string_equal(pd_strerror(PD_ERR_CONFIG), "bad configuration");
    assert_string_equal(pd_strerror(-1000), "unknown error");
    for (int e = PD_ERR_CONFIG; e <= PD_OK; e++)
        assert_string_not_equal(pd_strerror(e), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_and_nul),
        cmocka_unit_test(test_buf_appendf),
        cmocka_unit_test(test_buf_grows_across_many_appends),
        cmocka_unit_test(test_buf_reserve_reset_consume),
        cmocka_unit_test(test_map_basic),
        cmocka_unit_test(test_map_binary_and_empty_keys),
        cmocka_unit_test(test_map_iteration),
        cmocka_unit_test(test_hash_depends_on_seed_and_bytes),
        cmocka_unit_test(test_map_matches_reference),
        cmocka_unit_test(test_map_dense_small_table),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_shared_refcounts),
        cmocka_unit_test(test_shared_supersede),
        cmocka_unit_test(test_shared_watch),
        cmocka_unit_test(test_utf8_every_length),
        cmocka_unit_test(test_utf8_overlong),
        cmocka_unit_test(test_utf8_surrogates),
        cmocka_unit_test(test_utf8_above_max),
        cmocka_unit_test(test_utf8_truncated),
        cmocka_unit_test(test_utf8_stray_continuation),
        cmocka_unit_test(test_utf8_all_two_byte_inputs),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_mem),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
