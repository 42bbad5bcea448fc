/*
 * test_thread_exit.c - a thread's exit flushes its caches, gives up its
 * slabs for adoption and returns its heap to the pool: nothing is leaked
 * per thread.
 */
#include "test_util.h"

#include "small/heap.h"
#include "small/segment.h"
#include "small/transfer.h"
#include "base/size_class.h"

static void *alloc_free_exit(void *arg)
{
    hak_heap **out = arg;
    void *p[300];
    for (int i = 0; i < 300; i++)
        p[i] = hak_malloc((size_t)(i * 37) % 9000);
    for (int i = 0; i < 300; i++)
        hak_free(p[i]);
    *out = hak_heap_current();
    return NULL;
}

Test(thread_exit, heap_is_flushed_and_pooled, .timeout = 30)
{
    test_watchdog(30);
    hak_heap *h = NULL;
    test_run_threads(1, alloc_free_exit, &h, sizeof h);
    cr_assert_not_null(h);
    cr_assert_not(h->live);
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++)
        cr_assert_eq(hak_cache_count(&h->cache[c]), 0);
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        cr_assert_eq(h->slabs[c].warm_count, 0);
        cr_assert(hak_list_empty(&h->slabs[c].partial));
        cr_assert(hak_list_empty(&h->slabs[c].full));
    }
    /* The next thread reuses the pooled heap. */
    hak_heap *h2 = NULL;
    test_run_threads(1, alloc_free_exit, &h2, sizeof h2);
    cr_assert_eq(h2, h);
    struct hak_stats st;
    hak_stats_get(&st);
    cr_assert_eq(st.tiers[HAK_TIER_TINY].bytes_in_use + st.tiers[HAK_TIER_MID].bytes_in_use, 0);
}

static void *churn_thread(void *arg)
{
    (void)arg;
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = hak_malloc((size_t)(i * 97) % 3000);
    for (int i = 0; i < 100; i++)
        hak_free(p[i]);
    return NULL;
}

/* Thousands of short-lived threads: heaps are reused, every slab goes back
 * to its segment, and the mapped memory does not grow with the number of
 * threads (a leak of one slab per thread would map 35+ segments here). */
Test(thread_exit, thread_churn_is_bounded, .timeout = 120)
{
    test_watchdog(120);
    char dummy[TEST_THREADS];
    for (int round = 0; round < 290; round++)
        test_run_threads(TEST_THREADS, churn_thread, dummy, 1);
    struct hak_stats after;
    hak_stats_get(&after);
    cr_assert_leq(after.threads, 2 * TEST_THREADS + 1, "heaps are pooled, %lu made",
                  (unsigned long)after.threads);
    hak_segment_totals seg;
    hak_segment_totals_get(&seg);
    cr_assert_eq(seg.in_use_bytes, 0, "%zu bytes of slabs still held after every thread exited",
                 seg.in_use_bytes);
    cr_assert_leq(after.segments_mapped, 16, "%lu segments for 8 concurrent threads",
                  (unsigned long)after.segments_mapped);
    cr_assert_eq(after.tiers[HAK_TIER_TINY].bytes_in_use + after.tiers[HAK_TIER_MID].bytes_in_use, 0);
}

struct keeper {
    void **blocks;
    int n;
    size_t size;
};

static void *allocate_and_exit(void *arg)
{
    struct keeper *k = arg;
    for (int i = 0; i < k->n; i++) {
        k->blocks[i] = hak_malloc(k->size);
        memset(k->blocks[i], 0x5a, k->size);
    }
    return NULL;
}

static void *adopter(void *arg)
{
    uint64_t *adopted = arg;
    unsigned cls = hak_tiny_class_of(96);
    void *p[2000];
    for (int i = 0; i < 2000; i++)
        p[i] = hak_malloc(96);
    *adopted = hak_heap_current()->cstats[cls].adopted;
    for (int i = 0; i < 2000; i++)
        hak_free(p[i]);
    return NULL;
}

/* Slabs left by an exited thread get adopted by another thread. */
Test(thread_exit, abandoned_slabs_are_readopted, .timeout = 30)
{
    test_watchdog(30);
    enum { N = 5000 };
    static void *blocks[N];
    struct keeper k = { blocks, N, 96 };
    test_run_threads(1, allocate_and_exit, &k, sizeof k);
    for (int i = 0; i < N; i += 2) {
        cr_assert_eq(((unsigned char *)blocks[i])[95], 0x5a);
        hak_free(blocks[i]);
    }
    /* Our frees left most of those blocks in the transfer cache, where the
     * adopter would take them without a slab: send them back to their
     * (abandoned) slabs, so that its misses must adopt them. */
    hak_transfer_release(0, 0, true);
    uint64_t adopted = 0;
    test_run_threads(1, adopter, &adopted, sizeof adopted);
    cr_assert_gt(adopted, 0);
    for (int i = 1; i < N; i += 2)
        hak_free(blocks[i]);
    struct hak_stats st;
    hak_stats_get(&st);
    cr_assert_eq(st.tiers[HAK_TIER_TINY].bytes_in_use, 0);
}

/* Memory of an exited thread, freed later by others, is reused instead of
 * mapping more. */
Test(thread_exit, freed_memory_of_exited_threads_is_reused, .timeout = 60)
{
    test_watchdog(60);
    enum { N = 40000 };
    static void *blocks[N];
    struct keeper k = { blocks, N, 200 };
    test_run_threads(1, allocate_and_exit, &k, sizeof k);
    for (int i = 0; i < N; i++)
        hak_free(blocks[i]);
    struct hak_stats mid;
    hak_stats_get(&mid);
    for (int round = 0; round < 3; round++) {
        test_run_threads(1, allocate_and_exit, &k, sizeof k);
        for (int i = 0; i < N; i++)
            hak_free(blocks[i]);
    }
    struct hak_stats end;
    hak_stats_get(&end);
    cr_assert_leq(end.segments_mapped, mid.segments_mapped + 1);
    cr_assert_eq(end.tiers[HAK_TIER_TINY].bytes_in_use, 0);
}
