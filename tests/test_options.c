/*
 * test_options.c - the option table: value parsing and environment
 * overrides.
 */
#include "test_util.h"

#include "small/heap.h"
#include "config/options.h"

static int64_t parse_ok(int id, const char *v)
{
    int64_t x = -1;
    const char *err = hak_option_parse(id, v, strlen(v), &x);
    cr_assert_null(err, "'%s' rejected: %s", v, err);
    return x;
}

static void parse_bad(int id, const char *v)
{
    int64_t x = 12345;
    cr_assert_not_null(hak_option_parse(id, v, strlen(v), &x), "'%s' accepted", v);
    cr_assert_eq(x, 12345, "nothing stored on error");
}

Test(options, parse_values)
{
    cr_assert_eq(parse_ok(HAK_OPT_STATS, "on"), 1);
    cr_assert_eq(parse_ok(HAK_OPT_STATS, "TRUE"), 1);
    cr_assert_eq(parse_ok(HAK_OPT_STATS, "0"), 0);
    cr_assert_eq(parse_ok(HAK_OPT_STATS, "off"), 0);
    parse_bad(HAK_OPT_STATS, "maybe");
    cr_assert_eq(parse_ok(HAK_OPT_TINY_CACHE_CAP, "32"), 32);
    parse_bad(HAK_OPT_TINY_CACHE_CAP, "3");    /* below the minimum */
    parse_bad(HAK_OPT_TINY_CACHE_CAP, "129");  /* above the maximum */
    parse_bad(HAK_OPT_TINY_CACHE_CAP, "32x");
    parse_bad(HAK_OPT_TINY_CACHE_CAP, "");
    parse_bad(HAK_OPT_TINY_CACHE_CAP, "99999999999999999999999");
    cr_assert_eq(parse_ok(HAK_OPT_LARGE_CACHE_LIMIT, "8M"), 8 << 20);
    cr_assert_eq(parse_ok(HAK_OPT_LARGE_CACHE_LIMIT, "512k"), 512 << 10);
    cr_assert_eq(parse_ok(HAK_OPT_LARGE_CACHE_LIMIT, "1G"), 1 << 30);
    cr_assert_eq(parse_ok(HAK_OPT_LARGE_CACHE_LIMIT, "4096"), 4096);
    parse_bad(HAK_OPT_LARGE_CACHE_LIMIT, "2G");
    parse_bad(HAK_OPT_LARGE_CACHE_LIMIT, "8Q");
    cr_assert_eq(parse_ok(HAK_OPT_PROFILE, "secure"), 2);
    cr_assert_eq(parse_ok(HAK_OPT_PROFILE, "Default"), 0);
    parse_bad(HAK_OPT_PROFILE, "fast");
    cr_assert_eq(parse_ok(HAK_OPT_PURGE_MODE, "free"), 1);
}

Test(options, find_by_name)
{
    cr_assert_eq(hak_option_find("stats", 5), HAK_OPT_STATS);
    cr_assert_eq(hak_option_find("STATS", 5), HAK_OPT_STATS);
    cr_assert_eq(hak_option_find("purge_delay_ms", 14), HAK_OPT_PURGE_DELAY_MS);
    cr_assert_eq(hak_option_find("nope", 4), -1);
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        const hak_option_def *d = &hak_option_defs[i];
        cr_assert_eq(hak_option_find(d->name, strlen(d->name)), i);
        cr_assert_geq(d->def, d->min, "%s default below min", d->name);
        cr_assert_leq(d->def, d->max, "%s default above max", d->name);
        cr_assert_not_null(d->doc);
    }
}

Test(options, environment_overrides)
{
    setenv("HAKMEM_TINY_CACHE_CAP", "32", 1);
    setenv("HAKMEM_PURGE_DELAY_MS", "not-a-number", 1);
    hak_options_init();
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 32);
    cr_assert_eq(hak_option_sources[HAK_OPT_TINY_CACHE_CAP], HAK_SRC_ENV);
    cr_assert_eq(hak_opt(HAK_OPT_PURGE_DELAY_MS), hak_option_defs[HAK_OPT_PURGE_DELAY_MS].def,
                 "a bad value keeps the default");
    cr_assert_eq(hak_option_sources[HAK_OPT_PURGE_DELAY_MS], HAK_SRC_DEFAULT);
}

Test(options, heaps_use_the_effective_values)
{
    setenv("HAKMEM_TINY_CACHE_CAP", "16", 1);
    setenv("HAKMEM_WARM_POOL_MAX", "3", 1);
    /* The library constructor read the environment in the test runner;
     * read it again, then this worker's first malloc makes its heap. */
    hak_options_init();
    hak_free(hak_malloc(8));
    hak_heap *h = hak_heap_current();
    for (unsigned c = 0; c < 32; c++)
        cr_assert_eq(hak_heap_cache_cap(h, c), 16);
    cr_assert_eq(h->warm_cap, 3);
}
