/* The presence map: snapshot, joined, changed and left, exactly as the protocol says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/pmap.h"

static pd_proto_entry_t entry(const char *id, const char *name, const char *image, const char *path,
                              const char *type, const char *rid)
{
    return (pd_proto_entry_t){pd_slice_cstr(id),
                              pd_slice_cstr(name),
                              pd_slice_cstr(image),
                              {pd_slice_cstr(path), pd_slice_cstr(type), pd_slice_cstr(rid)}};
}

static void assert_user(const presence_user_t *u, const char *id, const char *name,
                        const char *image, const char *path, const char *type, const char *rid)
{
    assert_non_null(u);
    assert_string_equal(u->user_id, id);
    assert_string_equal(u->user_name, name);
    if (image)
        assert_string_equal(u->user_image, image);
    else
        assert_null(u->user_image);
    assert_string_equal(u->current_path, path);
    if (type)
        assert_string_equal(u->resource_type, type);
    else
        assert_null(u->resource_type);
    if (rid)
        assert_string_equal(u->resource_id, rid);
    else
        assert_null(u->resource_id);
}

static const presence_user_t *get(pd_pmap_t *m, const char *id)
{
    return pd_pmap_get(m, pd_slice_cstr(id));
}

static void test_snapshot_replaces_everything(void **state)
{
    pd_pmap_t m;
    pd_pmap_init(&m, 1);
    pd_proto_entry_t first[] = {entry("u1", "Ann", NULL, "/a", NULL, NULL),
                                entry("u2", "Bo", "https://b", "/b", "task", "5")};
    pd_pmap_replace(&m, first, 2);
    assert_int_equal(pd_pmap_count(&m), 2);
    assert_user(get(&m, "u2"), "u2", "Bo", "https://b", "/b", "task", "5");
    pd_proto_entry_t second[] = {entry("u3", "Cy", NULL, "", NULL, NULL),
                                 entry("u3", "Cy2", NULL, "/c", NULL, NULL)};
    pd_pmap_replace(&m, second, 2);
    assert_int_equal(pd_pmap_count(&m), 1);
    assert_null(get(&m, "u1"));
    assert_user(get(&m, "u3"), "u3", "Cy2", NULL, "/c", NULL, NULL);
    pd_pmap_replace(&m, NULL, 0);
    assert_int_equal(pd_pmap_count(&m), 0);
    pd_pmap_free(&m);
}

static void test_joined_changed_left(void **state)
{
    pd_pmap_t m;
    pd_pmap_init(&m, 2);
    pd_proto_entry_t joined = entry("u3", "Cy", "https://c", "", NULL, NULL);
    assert_user(pd_pmap_set(&m, &joined), "u3", "Cy", "https://c", "", NULL, NULL);
    /* A presence_changed without userImage keeps the one from user_joined. */
    pd_proto_entry_t changed = entry("u3", "Cyrus", NULL, "/w/tasks/5", "task", "5");
    assert_user(pd_pmap_change(&m, &changed, 0), "u3", "Cyrus", "https://c", "/w/tasks/5", "task",
                "5");
    pd_proto_entry_t moved = entry("u3", "Cyrus", NULL, "/w", NULL, NULL);
    pd_pmap_change(&m, &moved, 0);
    assert_user(get(&m, "u3"), "u3", "Cyrus", "https://c", "/w", NULL, NULL);
    /* One with userImage sets it, null included (a refreshed token dropped it). */
    pd_proto_entry_t pictured = entry("u3", "Cyrus", "https://c2", "/w", NULL, NULL);
    assert_user(pd_pmap_change(&m, &pictured, 1), "u3", "Cyrus", "https://c2", "/w", NULL, NULL);
    assert_user(pd_pmap_change(&m, &moved, 1), "u3", "Cyrus", NULL, "/w", NULL, NULL);
    pd_proto_entry_t back = entry("u3", "Cyrus", "https://c", "/w", NULL, NULL);
    pd_pmap_change(&m, &back, 1);
    /* A change for a user not in the map (another tab of ours) adds it. */
    pd_proto_entry_t self = entry("u1", "Ann", NULL, "", NULL, NULL);
    assert_user(pd_pmap_change(&m, &self, 0), "u1", "Ann", NULL, "", NULL, NULL);
    assert_int_equal(pd_pmap_count(&m), 2);
    presence_user_t *left = pd_pmap_take(&m, PD_SLICE_LIT("u3"));
    assert_user(left, "u3", "Cyrus", "https://c", "/w", NULL, NULL);
    pd_pmap_entry_free(left);
    assert_null(pd_pmap_take(&m, PD_SLICE_LIT("u3")));
    assert_int_equal(pd_pmap_count(&m), 1);
    pd_pmap_free(&m);
}

static void test_iteration(void **state)
{
    pd_pmap_t m;
    pd_pmap_init(&m, 3);
    char id[8];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "u%d", i);
        pd_proto_entry_t e = entry(id, "N", NULL, "/p", NULL, NULL);
        pd_pmap_set(&m, &e);
    }
    int seen[100] = {0};
    size_t iter = 0, n = 0;
    const presence_user_t *u;
    while ((u = pd_pmap_next(&m, &iter))) {
        seen[atoi(u->user_id + 1)]++;
        n++;
    }
    assert_int_equal(n, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[i], 1);
    pd_pmap_clear(&m);
    iter = 0;
    assert_null(pd_pmap_next(&m, &iter));
    pd_pmap_free(&m);
}

static void test_same_location_and_copy(void **state)
{
    pd_pmap_t m;
    pd_pmap_init(&m, 4);
    pd_proto_entry_t a = entry("u1", "Ann", NULL, "/x", "doc", NULL);
    presence_user_t *copy = pd_pmap_entry_copy(pd_pmap_set(&m, &a));
    assert_user(copy, "u1", "Ann", NULL, "/x", "doc", NULL);
    pd_proto_entry_t b = entry("u1", "Ann B", NULL, "/x", "doc", NULL);
    assert_true(pd_pmap_same_location(copy, pd_pmap_change(&m, &b, 0)));
    pd_proto_entry_t c = entry("u1", "Ann", NULL, "/x", "doc", "1");
    assert_false(pd_pmap_same_location(copy, pd_pmap_change(&m, &c, 0)));
    pd_proto_entry_t d = entry("u1", "Ann", NULL, "/x", NULL, NULL);
    assert_false(pd_pmap_same_location(copy, pd_pmap_change(&m, &d, 0)));
    pd_proto_entry_t e = entry("u1", "Ann", NULL, "/y", "doc", NULL);
    assert_false(pd_pmap_same_location(copy, pd_pmap_change(&m, &e, 0)));
    assert_null(pd_pmap_entry_copy(NULL));
    pd_pmap_entry_free(copy);
    pd_pmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_replaces_everything),
        cmocka_unit_test(test_joined_changed_left),
        cmocka_unit_test(test_iteration),
        cmocka_unit_test(test_same_location_and_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
