/*
 * test_stats.c - hak_stats_get counts exactly what happened, and the
 * table printed at exit (stats = on) has the tiers, the classes and the
 * effective configuration with where each value came from.
 */
#include "test_util.h"

#include "config/options.h"
#include "base/size_class.h"

static struct hak_stats snap(void)
{
    struct hak_stats s;
    cr_assert_eq(hak_stats_get(&s), 0);
    return s;
}

Test(stats, counts_are_exact_per_class_and_tier)
{
    hak_free(hak_malloc(1));
    struct hak_stats a = snap();
    enum { N = 5000 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = hak_malloc(100); /* class 112 */
    void *mid = hak_malloc(3000);
    void *large = hak_malloc(100000);
    void *huge = hak_malloc(3 << 20);
    struct hak_stats b = snap();
    unsigned c = hak_tiny_class_of(100);
    cr_assert_eq(b.classes[c].allocs - a.classes[c].allocs, N);
    cr_assert_eq(b.tiers[HAK_TIER_TINY].bytes_in_use - a.tiers[HAK_TIER_TINY].bytes_in_use,
                 (uint64_t)N * 112);
    cr_assert_eq(b.tiers[HAK_TIER_MID].bytes_in_use - a.tiers[HAK_TIER_MID].bytes_in_use, 3072);
    cr_assert_eq(b.tiers[HAK_TIER_LARGE].allocs - a.tiers[HAK_TIER_LARGE].allocs, 1);
    cr_assert_eq(b.tiers[HAK_TIER_LARGE].bytes_in_use - a.tiers[HAK_TIER_LARGE].bytes_in_use,
                 hak_malloc_usable_size(large));
    cr_assert_eq(b.tiers[HAK_TIER_HUGE].allocs - a.tiers[HAK_TIER_HUGE].allocs, 1);
    cr_assert_eq(b.tiers[HAK_TIER_HUGE].bytes_in_use - a.tiers[HAK_TIER_HUGE].bytes_in_use,
                 hak_malloc_usable_size(huge));
    /* N mallocs of one class: a handful of misses, the rest cache hits;
     * warm pool and prefill counters moved. */
    uint64_t hits = b.classes[c].cache_hits - a.classes[c].cache_hits;
    uint64_t misses = b.classes[c].cache_misses - a.classes[c].cache_misses;
    cr_assert_eq(hits + misses, N);
    cr_assert_gt(hits, misses * 10);
    cr_assert_eq(misses, b.classes[c].refills - a.classes[c].refills);
    cr_assert_gt(b.classes[c].prefills, a.classes[c].prefills);
    for (int i = 0; i < N; i++)
        hak_free(p[i]);
    hak_free(mid);
    hak_free(large);
    hak_free(huge);
    struct hak_stats d = snap();
    for (int t = 0; t < HAK_TIER_COUNT; t++)
        cr_assert_eq(d.tiers[t].bytes_in_use, a.tiers[t].bytes_in_use, "tier %d", t);
    cr_assert_eq(d.allocs - a.allocs, N + 3); /* N tiny, one mid, large and huge */
    cr_assert_eq(d.frees - a.frees, N + 3);
    cr_assert_gt(d.peak_rss_kib, 0);
    cr_assert_gt(d.bytes_mapped, 0);
    cr_assert_geq(d.threads, 1);
}

static void *remote_freer(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < 1000; i++)
        hak_free(blocks[i]);
    return NULL;
}

Test(stats, remote_frees_are_counted)
{
    static void *blocks[1000];
    for (int i = 0; i < 1000; i++)
        blocks[i] = hak_malloc(40);
    struct hak_stats a = snap();
    test_run_threads(1, remote_freer, blocks, 0);
    struct hak_stats b = snap();
    cr_assert_eq(b.remote_frees - a.remote_frees, 1000);
    cr_assert_eq(b.classes[hak_tiny_class_of(40)].remote_frees -
                     a.classes[hak_tiny_class_of(40)].remote_frees,
                 1000);
}

static void exit_with_stats(void)
{
    hak_option_values[HAK_OPT_STATS] = 1;
    hak_option_sources[HAK_OPT_STATS] = HAK_SRC_ENV;
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = hak_malloc((size_t)i * 50);
    for (int i = 0; i < 50; i++)
        hak_free(p[i]);
    exit(0); /* not _exit: the library destructor prints */
}

Test(stats, table_at_exit)
{
    static char err[16384];
    int status = test_run_child(exit_with_stats, err, sizeof err);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_not_null(strstr(err, "hakmem statistics (pid "), "%s", err);
    cr_assert_not_null(strstr(err, "tier       allocs"), "%s", err);
    cr_assert_not_null(strstr(err, "  tiny "), "%s", err);
    cr_assert_not_null(strstr(err, "cache-hit%"), "%s", err);
    cr_assert_not_null(strstr(err, "warm pool hit"), "%s", err);
    cr_assert_not_null(strstr(err, "segments mapped"), "%s", err);
    cr_assert_not_null(strstr(err, "peak RSS"), "%s", err);
    cr_assert_not_null(strstr(err, "effective configuration:"), "%s", err);
    cr_assert_not_null(strstr(err, "  stats = on (env)"), "%s", err);
    cr_assert_not_null(strstr(err, "  tiny_cache_cap = 64 (default)"), "%s", err);
    /* Every option appears once. */
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        char key[80];
        snprintf(key, sizeof key, "\n  %s = ", hak_option_defs[i].name);
        cr_assert_not_null(strstr(err, key), "%s missing", hak_option_defs[i].name);
    }
}

Test(stats, print_to_any_fd)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    hak_free(hak_malloc(10));
    hak_stats_print(fd[1]);
    close(fd[1]);
    static char out[16384];
    ssize_t n = read(fd[0], out, sizeof out - 1);
    cr_assert_gt(n, 100);
    out[n] = 0;
    cr_assert_not_null(strstr(out, "hakmem statistics"));
    cr_assert_not_null(strstr(out, "effective configuration:"));
}
