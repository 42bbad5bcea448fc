/*
 * test_tiny_cache.c - the HOT per-thread cache of the Tiny tier: LIFO
 * reuse, counts, the cap, flushing the oldest half on overflow, draining
 * during a run of frees.
 */
#include "test_util.h"

#include <sys/mman.h>

#include "small/heap.h"
#include "runtime/thread.h"
#include "base/size_class.h"

Test(tiny_cache, lifo_reuse)
{
    void *a = hak_malloc(40);
    void *b = hak_malloc(40);
    cr_assert_neq(a, b);
    hak_free(a);
    hak_free(b);
    cr_assert_eq(hak_malloc(40), b, "last freed is handed out first");
    cr_assert_eq(hak_malloc(40), a);
}

Test(tiny_cache, counts_follow_malloc_and_free)
{
    unsigned cls = hak_tiny_class_of(100);
    void *p = hak_malloc(100);
    hak_heap *h = hak_heap_current();
    uint32_t n = hak_heap_cache_count(h, cls);
    hak_free(p);
    cr_assert_eq(hak_heap_cache_count(h, cls), n + 1);
    cr_assert_eq(hak_heap_cached(h, cls, n), p, "the newest block is on top");
    cr_assert_eq(hak_malloc(100), p);
    cr_assert_eq(hak_heap_cache_count(h, cls), n);
}

Test(tiny_cache, cap_and_overflow_flush_oldest_half)
{
    unsigned cls = hak_tiny_class_of(64);
    hak_heap *h;
    enum { N = 400 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = hak_malloc(64);
    h = hak_heap_current();
    uint32_t cap = hak_heap_cache_cap(h, cls);
    cr_assert_geq(cap, 16);
    cr_assert_leq(cap, HAK_TINY_CACHE_MAX);
    /* Empty the cache by flushing what refills left there. */
    hak_thread_flush_caches(h);
    cr_assert_eq(hak_heap_cache_count(h, cls), 0);
    uint64_t flushed = h->cstats[cls].flush_blocks;
    for (uint32_t i = 0; i < cap; i++)
        hak_free(p[i]);
    cr_assert_eq(hak_heap_cache_count(h, cls), cap);
    cr_assert_eq(h->cstats[cls].flush_blocks, flushed, "no flush before the cap");
    hak_free(p[cap]);
    /* The oldest half went back to the slabs; the newest stayed. */
    cr_assert_eq(hak_heap_cache_count(h, cls), cap - cap / 2 + 1);
    cr_assert_eq(h->cstats[cls].flush_blocks, flushed + cap / 2);
    cr_assert_eq(hak_heap_cached(h, cls, 0), p[cap / 2]);
    cr_assert_eq(hak_heap_cached(h, cls, hak_heap_cache_count(h, cls) - 1), p[cap]);
    for (int i = cap + 1; i < N; i++)
        hak_free(p[i]);
    for (unsigned c = 0; c < HAK_TINY_CLASSES; c++)
        cr_assert_leq(hak_heap_cache_count(h, c), hak_heap_cache_cap(h, c));
}

/* A run of frees (overflows with no refill between them) drains the cache:
 * at most the drain cap's few blocks stay cached to pin a slab, and the
 * next miss restores the cap. */
static void drain_case(size_t size)
{
    unsigned cls = hak_small_class_of(size);
    enum { N = 4000 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = hak_malloc(size);
    hak_heap *h = hak_heap_current();
    uint32_t cap = hak_class_is_tiny(cls) ? hak_heap_cache_cap(h, cls)
                                          : hak_heap_cache_cap(h, cls);
    uint64_t flushed = h->cstats[cls].flush_blocks;
    uint64_t rng = size;
    for (int i = N; i > 1; i--) {
        int j = (int)(test_rand(&rng) % (uint64_t)i);
        void *t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    for (int i = 0; i < N; i++)
        hak_free(p[i]);
    uint32_t count = hak_class_is_tiny(cls) ? hak_heap_cache_count(h, cls)
                                            : hak_heap_cache_count(h, cls);
    uint32_t drain_cap = hak_class_is_tiny(cls) ? HAK_DRAIN_CAP_TINY : HAK_DRAIN_CAP_MID;
    cr_assert_leq(count, drain_cap, "%zu B: %u blocks still cached after a run of %d frees", size,
                  count, N);
    cr_assert_eq(h->drain_cap[cls], cap);
    cr_assert_geq(h->cstats[cls].flush_blocks, flushed + N - drain_cap,
                  "every block but the last few went back to its slab");
    /* The blocks still cached are handed out first; the miss after them
     * ends the drain. */
    void *kept[HAK_DRAIN_CAP_TINY > HAK_DRAIN_CAP_MID ? HAK_DRAIN_CAP_TINY : HAK_DRAIN_CAP_MID];
    for (uint32_t i = 0; i < count; i++) {
        kept[i] = hak_malloc(size);
        cr_assert_eq(h->drain_cap[cls], cap, "a cache hit does not end the drain");
    }
    void *q = hak_malloc(size);
    cr_assert_not_null(q);
    cr_assert_eq(h->drain_cap[cls], 0, "the miss ended the drain");
    for (uint32_t i = 0; i < count; i++)
        hak_free(kept[i]);
    uint32_t now = hak_class_is_tiny(cls) ? hak_heap_cache_cap(h, cls) : hak_heap_cache_cap(h, cls);
    cr_assert_eq(now, cap, "the cap is back");
    /* Alternating malloc and free is no run: it stays in the cache. */
    uint64_t before = h->cstats[cls].flush_blocks;
    for (int i = 0; i < 10000; i++)
        hak_free(hak_malloc(size));
    cr_assert_eq(h->cstats[cls].flush_blocks, before);
    hak_free(q);
}

Test(tiny_cache, free_run_drains_tiny)
{
    drain_case(48);
}

Test(tiny_cache, free_run_drains_mid)
{
    drain_case(6000);
}

Test(tiny_cache, caps_scale_with_size)
{
    hak_free(hak_malloc(1));
    hak_heap *h = hak_heap_current();
    for (unsigned c = 0; c < HAK_TINY_CLASSES; c++) {
        cr_assert_geq(hak_heap_cache_cap(h, c), 16);
        cr_assert_leq(hak_heap_cache_cap(h, c), 64);
        cr_assert_leq(h->batch[c], hak_heap_cache_cap(h, c) / 2);
        cr_assert_geq(h->batch[c], 1);
        if (c > 0)
            cr_assert_leq(hak_heap_cache_cap(h, c), hak_heap_cache_cap(h, c - 1));
        cr_assert_null(h->tiny_grown_end[c], "class %u has grown slots it never used", c);
    }
}

/* Many random mallocs and frees: no block is ever handed out twice while
 * live, and every block keeps its contents. */
Test(tiny_cache, no_duplicates_under_churn)
{
    enum { SLOTS = 4096, OPS = 400000 };
    static void *live[SLOTS];
    static size_t sizes[SLOTS];
    uint64_t rng = 42;
    for (int op = 0; op < OPS; op++) {
        unsigned i = (unsigned)(test_rand(&rng) % SLOTS);
        if (live[i]) {
            cr_assert(test_check(live[i], sizes[i], i), "block %u corrupted", i);
            hak_free(live[i]);
            live[i] = NULL;
        } else {
            sizes[i] = test_rand(&rng) % 1025;
            live[i] = hak_malloc(sizes[i]);
            cr_assert_not_null(live[i]);
            test_fill(live[i], sizes[i], i);
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        if (live[i]) {
            cr_assert(test_check(live[i], sizes[i], (uint64_t)i));
            hak_free(live[i]);
        }
    }
    struct hak_stats st;
    hak_stats_get(&st);
    cr_assert_eq(st.tiers[HAK_TIER_TINY].allocs, st.tiers[HAK_TIER_TINY].frees);
    cr_assert_eq(st.tiers[HAK_TIER_TINY].bytes_in_use, 0);
}

/* Growth for runs of the thread's own blocks: `rounds` times, allocate n
 * blocks of `size` and free them in the same order (glibc's malloc
 * benchmark).  Returns the class. */
static unsigned own_batches(size_t size, unsigned n, unsigned rounds)
{
    static void *p[1024];
    unsigned cls = hak_tiny_class_of(size);
    for (unsigned r = 0; r < rounds; r++) {
        for (unsigned i = 0; i < n; i++) {
            p[i] = hak_malloc(size);
            cr_assert_not_null(p[i]);
            test_fill(p[i], size, i);
        }
        for (unsigned i = 0; i < n; i++) {
            cr_assert(test_check(p[i], size, i), "block %u of round %u corrupted", i, r);
            hak_free(p[i]);
        }
    }
    return cls;
}

Test(tiny_cache, batches_of_own_blocks_grow_the_cache_past_twice_its_cap)
{
    unsigned cls = own_batches(64, 400, 12);
    hak_heap *h = hak_heap_current();
    uint32_t cap = hak_heap_cache_cap(h, cls);
    cr_assert_gt(cap, h->cap_ceiling[cls], "cap %u not past the ordinary ceiling %u", cap,
                 h->cap_ceiling[cls]);
    cr_assert_geq(cap, 400, "a batch of 400 does not fit a cap of %u", cap);
    cr_assert_leq(cap, HAK_TINY_GROWN_MAX);
    cr_assert_leq((size_t)cap * 64, HAK_CACHE_GROWTH_BYTES);
    cr_assert_eq(h->cache[cls].end, h->tiny_grown_end[cls], "not in its grown slots");
    cr_assert_null(h->tiny_grown_end[hak_tiny_class_of(1024)], "an unused class got grown slots");
    /* The grown cache holds the whole batch: no block goes to a slab or
     * comes from one any more. */
    uint64_t flushed = h->cstats[cls].flush_blocks, refills = h->cstats[cls].refills;
    own_batches(64, 400, 3);
    cr_assert_eq(h->cstats[cls].flush_blocks, flushed, "blocks left the grown cache");
    cr_assert_eq(h->cstats[cls].refills, refills, "the grown cache was refilled");
    /* A trim empties the cache, moves it back to its ordinary slots and
     * gives the grown slots' pages back; the next batches grow it again. */
    void **grown_end = h->tiny_grown_end[cls];
    hak_thread_trim(h);
    cr_assert_eq(hak_heap_cache_count(h, cls), 0);
    cr_assert_eq(h->cache[cls].end, h->tiny_slots[cls] + HAK_TINY_CACHE_MAX);
    cr_assert_leq(hak_heap_cache_cap(h, cls), HAK_TINY_CACHE_MAX);
    uintptr_t page = ((uintptr_t)(grown_end - HAK_TINY_GROWN_MAX) + 4095) & ~(uintptr_t)4095;
    for (; page + 4096 <= (uintptr_t)grown_end; page += 4096) {
        unsigned char v;
        cr_assert_eq(mincore((void *)page, 4096, &v), 0);
        cr_assert_eq(v & 1, 0, "a page of the grown slots is still resident after the trim");
    }
    own_batches(64, 400, 12);
    cr_assert_eq(h->cache[cls].end, grown_end, "grown again, in the same slots");
}

Test(tiny_cache, a_grown_cache_of_larger_blocks_stops_at_its_byte_budget)
{
    unsigned cls = own_batches(1024, 400, 12);
    hak_heap *h = hak_heap_current();
    /* Each run of 400 frees ends in a drain here: the cap to come back. */
    uint32_t cap = h->drain_cap[cls] != 0 ? h->drain_cap[cls] : hak_heap_cache_cap(h, cls);
    cr_assert_leq((size_t)cap * 1024, HAK_CACHE_GROWTH_BYTES, "cap %u of 1 KiB blocks", cap);
    cr_assert_geq(cap, h->cap_ceiling[cls], "it grew as any ping-pong does: cap %u, ceiling %u", cap,
                  h->cap_ceiling[cls]);
}

/* Blocks of another thread's slabs in the cache's overflows take a grown
 * cache back to the ordinary ceiling and keep it there: a cache that holds
 * other heaps' blocks keeps them from their owners. */
static void *alloc_batch_elsewhere(void *arg)
{
    void **p = arg;
    for (unsigned i = 0; i < 400; i++)
        p[i] = hak_malloc(64);
    return NULL;
}

Test(tiny_cache, foreign_blocks_keep_growth_at_the_ordinary_ceiling)
{
    static void *p[400];
    unsigned cls = own_batches(64, 400, 12);
    hak_heap *h = hak_heap_current();
    cr_assert_gt(hak_heap_cache_cap(h, cls), h->cap_ceiling[cls], "grown first");
    for (unsigned r = 0; r < 12; r++) {
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, alloc_batch_elsewhere, p), 0);
        cr_assert_eq(pthread_join(t, NULL), 0);
        for (unsigned i = 0; i < 400; i++)
            hak_free(p[i]);
        own_batches(64, 400, 1);
    }
    cr_assert_leq(hak_heap_cache_cap(h, cls), h->cap_ceiling[cls]);
    cr_assert_leq(h->cap_ceiling[cls], HAK_TINY_CACHE_MAX);
}

/* The caches of all threads share one budget (runtime/thread.c): up to
 * four threads with a heap keep the configured caps; with more, every
 * heap's caps shrink in proportion (to half from eight on), at the heap's
 * next safe point; when the threads are gone, they grow back. */
enum { SHARE_THREADS = 11 };
static uint32_t share_cap_seen[SHARE_THREADS];

/* In each parked thread: its own caps after its safe point. */
static void share_record_cap(unsigned i)
{
    hak_heap *h = hak_heap_current();
    hak_thread_maintain(h);
    share_cap_seen[i] = hak_heap_cache_cap(h, hak_tiny_class_of(100));
}

Test(tiny_cache, many_threads_share_one_budget)
{
    test_watchdog(60);
    unsigned cls = hak_tiny_class_of(100);
    unsigned mid = hak_mid_class_of(4096);
    hak_free(hak_malloc(100));
    hak_heap *h = hak_heap_current();
    cr_assert_eq(hak_heap_live_count(), 1);
    uint32_t full = hak_heap_cache_cap(h, cls);
    uint32_t full_mid = hak_heap_cache_cap(h, mid);
    cr_assert_eq(full, (uint32_t)hak_opt(HAK_OPT_TINY_CACHE_CAP), "one thread: the configured cap");
    cr_assert_geq(full_mid, 8);

    test_parked parked;
    test_park_threads(&parked, SHARE_THREADS, share_record_cap);
    /* Twelve heaps, three times the full share: half the caps each. */
    cr_assert_eq(hak_heap_live_count(), SHARE_THREADS + 1);
    hak_thread_maintain(h);
    cr_assert_eq(hak_heap_cache_cap(h, cls), full / 2, "12 heaps: cap %u of %u",
                 hak_heap_cache_cap(h, cls), full);
    cr_assert_eq(hak_heap_cache_cap(h, mid), full_mid / 2);
    test_unpark_threads(&parked);
    for (unsigned i = 0; i < SHARE_THREADS; i++)
        cr_assert_eq(share_cap_seen[i], full / 2, "thread %u saw cap %u", i, share_cap_seen[i]);
    /* The threads exited and gave their heaps back: full caps again. */
    cr_assert_eq(hak_heap_live_count(), 1);
    hak_thread_maintain(h);
    cr_assert_eq(hak_heap_cache_cap(h, cls), full);
    cr_assert_eq(hak_heap_cache_cap(h, mid), full_mid);
}

/* Five heaps: between the full share and half of it. */
Test(tiny_cache, five_threads_shrink_the_caps_in_proportion)
{
    test_watchdog(60);
    unsigned cls = hak_tiny_class_of(100);
    hak_free(hak_malloc(100));
    hak_heap *h = hak_heap_current();
    uint32_t full = hak_heap_cache_cap(h, cls);
    test_parked parked;
    test_park_threads(&parked, 4, NULL);
    hak_thread_maintain(h);
    uint32_t cap = hak_heap_cache_cap(h, cls);
    test_unpark_threads(&parked);
    cr_assert_eq(cap, full * 12 / 16, "5 heaps: 12/16 of the cap (%u of %u)", cap, full);
}

/* Every heap's head (the caches of all classes and the size table) lies
 * in one page, past its first two cache lines, which share their L1 sets
 * with every page-aligned buffer of the program (small/heap.c).  The main
 * thread's heap and those of 9 more threads, made one after the other in
 * the meta arena. */
#define HEAD_THREADS 9
static uintptr_t head_heap_seen[HEAD_THREADS];

static void head_record_heap(unsigned index)
{
    head_heap_seen[index] = (uintptr_t)hak_heap_current();
}

static void head_check(uintptr_t h, const char *whose)
{
    uintptr_t in_page = h & (HAK_PAGE_SIZE - 1);
    size_t head = offsetof(hak_heap, tiny_slots);
    cr_assert(in_page >= 2 * HAK_CACHE_LINE && in_page + head <= HAK_PAGE_SIZE,
              "%s heap at %#lx: its %zu-byte head starts %lu bytes into its page",
              whose, (unsigned long)h, head, (unsigned long)in_page);
}

Test(tiny_cache, heap_heads_lie_in_one_page_past_its_first_lines)
{
    test_watchdog(60);
    hak_free(hak_malloc(100));
    head_check((uintptr_t)hak_heap_current(), "the main thread's");
    test_parked parked;
    test_park_threads(&parked, HEAD_THREADS, head_record_heap);
    test_unpark_threads(&parked);
    for (unsigned i = 0; i < HEAD_THREADS; i++) {
        cr_assert_neq(head_heap_seen[i], 0);
        head_check(head_heap_seen[i], "a thread's");
    }
}

/* What class c's cache may hold past its ordinary ceiling (0: within it). */
static size_t grown_bytes(const hak_heap *h, unsigned c)
{
    uint32_t cap = h->drain_cap[c] != 0 ? h->drain_cap[c] : hak_heap_cache_cap(h, c);
    return cap > h->cap_ceiling[c] ? (size_t)cap * hak_classes[c].size : 0;
}

/* Ten classes grown to their own limit one after the other would hold
 * 5 MiB: the heap's grown caches stay within HAK_CACHE_GROWTH_HEAP_BYTES
 * together, the newest keeps its growth, and the caches that gave theirs
 * up hold no more than their ordinary ceiling. */
Test(tiny_cache, grown_caches_share_one_budget_per_heap)
{
    static const size_t sizes[] = { 512, 576, 640, 704, 768, 832, 896, 960, 1024, 448 };
    size_t wanted = 0;
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t size = sizes[i];
        unsigned n = (unsigned)(HAK_CACHE_GROWTH_BYTES / size);
        if (n > 1024)
            n = 1024; /* own_batches' array */
        unsigned cls = own_batches(size, n, 12);
        const hak_heap *h = hak_heap_current();
        wanted += grown_bytes(h, cls);
        cr_assert_gt(grown_bytes(h, cls), (size_t)HAK_TINY_CACHE_MAX * size,
                     "%zu B: the newest class grew (cap %u)", size, hak_heap_cache_cap(h, cls));
        size_t held = 0;
        for (unsigned c = 0; c < HAK_TINY_CLASSES; c++) {
            held += grown_bytes(h, c);
            if (grown_bytes(h, c) == 0)
                cr_assert_leq(hak_heap_cache_count(h, c), h->cap_ceiling[c], "class %u", c);
        }
        cr_assert_leq(held, HAK_CACHE_GROWTH_HEAP_BYTES, "after %zu B: %zu bytes grown", size, held);
    }
    cr_assert_gt(wanted, HAK_CACHE_GROWTH_HEAP_BYTES, "precondition: more growth than the budget");
}
