/*
 * test_fuzz_regressions.c - one test per bug the fuzz targets found.
 *
 * Each test names the input that found the bug; the minimised input itself
 * is in fuzz/corpus/<target>/regress-<name> and make check replays it
 * (fuzz/<target>_replay).  The test states the bug in terms of the API, so
 * it keeps guarding it when the harness's input format changes.
 */
#include "test_util.h"

#include "config/secure.h"

#define KiB ((size_t)1024)

static struct hak_stats stats_now(void)
{
    struct hak_stats s;
    cr_assert_eq(hak_stats_get(&s), 0);
    return s;
}

/* ---- fuzz_ops regress-large-resize-no-heap ----
 * realloc resizing a Large block in place, called by a thread that had not
 * allocated yet (so had no heap), skipped the bytes-in-use accounting of
 * the resize: after the block was freed, hak_stats_get still counted the
 * difference between the old and the new size as in use. */

struct resize_arg {
    void *p;
    size_t to;
    void *q;
};

static void *resize_in_new_thread(void *arg)
{
    struct resize_arg *a = arg;
    a->q = hak_realloc(a->p, a->to);
    return NULL;
}

static void resize_by_thread_without_heap(size_t from, size_t to)
{
    test_watchdog(30);
    struct hak_stats s0 = stats_now();
    void *p = hak_malloc(from);
    cr_assert_not_null(p);
    test_fill(p, from < to ? from : to, 7);
    struct resize_arg a = { p, to, NULL };
    test_run_threads(1, resize_in_new_thread, &a, sizeof a);
    cr_assert_not_null(a.q);
    cr_assert(a.q == p, "the resize was expected in place (%p -> %p)", p, a.q);
    cr_assert(test_check(a.q, from < to ? from : to, 7));
    struct hak_stats s1 = stats_now();
    cr_assert_eq(s1.bytes_in_use - s0.bytes_in_use, hak_malloc_usable_size(a.q),
                 "bytes in use grew by %llu, the block holds %zu",
                 (unsigned long long)(s1.bytes_in_use - s0.bytes_in_use),
                 hak_malloc_usable_size(a.q));
    hak_free(a.q);
    struct hak_stats s2 = stats_now();
    cr_assert_eq(s2.bytes_in_use, s0.bytes_in_use,
                 "%llu bytes still counted in use after the free",
                 (unsigned long long)(s2.bytes_in_use - s0.bytes_in_use));
}

Test(fuzz_regressions, large_shrink_in_place_by_thread_without_heap)
{
    resize_by_thread_without_heap(512 * KiB + 1, 32 * KiB + 1);
}

Test(fuzz_regressions, large_grow_in_place_by_thread_without_heap)
{
    resize_by_thread_without_heap(40 * KiB, 100 * KiB);
}

/* ---- fuzz_ops regress-huge-realloc-guard-pages (HAKMEM_PROFILE=secure) ----
 * With guard pages, growing a Huge block by realloc always failed with
 * ENOMEM: the leading guard page splits the mapping into several VMAs, and
 * mremap (in place or moving) works on one only.  Fixed independently in
 * c4d1200 (allocate, copy, free); make check replays the input under the
 * secure profile (fuzz/replay_secure.sh). */
Test(fuzz_regressions, huge_realloc_grow_with_guard_pages)
{
    test_watchdog(30);
    hak_secure.guard_pages = true; /* what the option does at initialisation */
    const size_t from = 1024 * KiB + 1, to = 4096 * KiB + 1;
    void *p = NULL;
    cr_assert_eq(hak_posix_memalign(&p, 64, from), 0);
    test_fill(p, from, 11);
    void *q = hak_realloc(p, to);
    cr_assert_not_null(q, "realloc of a guarded Huge block to %zu bytes failed", to);
    cr_assert_geq(hak_malloc_usable_size(q), to);
    cr_assert(test_check(q, from, 11));
    memset((char *)q + from, 1, to - from);
    hak_free(q);
}
