/*
 * test_mid.c - the Mid tier: the per-thread cache (LIFO at the top, the
 * oldest drained on overflow), bump runs over fresh pages, batched page
 * refill, pages given back when a slab changes class, and the shared
 * lock-free page stacks under contention.
 */
#include "test_util.h"

#include <sys/mman.h>

#include "small/abandon.h"
#include "small/heap.h"
#include "small/lfstack.h"
#include "tiers/cache.h"
#include "small/segment.h"
#include "base/size_class.h"

Test(mid, cache_is_lifo_at_the_top)
{
    void *a = hak_malloc(3000);
    void *b = hak_malloc(3000);
    hak_free(a);
    hak_free(b);
    cr_assert_eq(hak_malloc(3000), b);
    cr_assert_eq(hak_malloc(3000), a);
}

Test(mid, cache_overflow_drains_the_oldest)
{
    unsigned cls = hak_mid_class_of(2000);
    enum { N = 200 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = hak_malloc(2000);
    hak_heap *h = hak_heap_current();
    hak_cache_flush(h, cls, hak_heap_cache_count(h, cls));
    uint32_t cap = hak_heap_cache_cap(h, cls);
    cr_assert_geq(cap, 2);
    for (uint32_t i = 0; i <= cap; i++)
        hak_free(p[i]);
    cr_assert_eq(hak_heap_cache_count(h, cls), cap - cap / 2 + 1);
    /* The newest stayed, newest first. */
    for (uint32_t i = cap; i >= cap / 2; i--)
        cr_assert_eq(hak_malloc(2000), p[i], "slot %u", i);
    for (uint32_t i = cap + 1; i < N; i++)
        hak_free(p[i]);
}

Test(mid, fresh_page_is_carved_in_bump_runs)
{
    unsigned cls = hak_mid_class_of(10000);
    char *first = hak_malloc(10000);
    hak_slab *s = hak_slab_of((uintptr_t)first, HAK_MID_PAGE_SHIFT);
    cr_assert_eq(s->cls, cls);
    cr_assert_eq((uintptr_t)first, s->start, "first block at the page start");
    hak_heap *h = hak_heap_current();
    uint32_t batch = h->batch[cls];
    /* The first refill of a class carves a page's worth: one block of 10 KiB. */
    cr_assert_eq(s->bump, 1, "the first refill carved one block");
    for (uint32_t i = 1; i < 2 * batch; i++) {
        char *q = hak_malloc(10000);
        cr_assert_eq(q, first + (size_t)i * hak_classes[cls].size, "ascending bump run");
    }
}

Test(mid, pages_come_in_batches)
{
    unsigned cls = hak_mid_class_of(5000);
    hak_free(hak_malloc(5000));
    hak_heap *h = hak_heap_current();
    /* One prefill formatted one page (prefill_budget), and the segments
     * handed out pages mid_refill_pages at a time: a spare waits in the
     * cache. */
    cr_assert_eq(h->cstats[cls].fresh_slabs, 1);
    cr_assert_eq(h->cstats[cls].prefills, 1);
    cr_assert_geq(h->empty_count[HAK_SEG_MID], 1);
}

static bool page_resident(const void *p)
{
    unsigned char v = 0;
    cr_assert_eq(mincore((void *)((uintptr_t)p & ~(uintptr_t)4095), 4096, &v), 0);
    return (v & 1) != 0;
}

/* A Mid slab emptied by one class and formatted for another gives back its
 * pages first: the pages the first class touched stay resident only if the
 * second one touches them again. */
Test(mid, a_slab_changing_class_gives_back_its_pages)
{
    /* 12 blocks of 20 KiB fill a 256 KiB slab; the 13th takes a second
     * slab, so that the first, once empty, leaves the warm pool for the
     * heap's empty cache. */
    enum { A = 20000, PER_SLAB = 12, N = PER_SLAB + 1 };
    char *a[N];
    for (int i = 0; i < N; i++)
        a[i] = hak_malloc(A);
    hak_slab *s = hak_slab_of((uintptr_t)a[0], HAK_MID_PAGE_SHIFT);
    for (int i = 0; i < PER_SLAB; i++) {
        cr_assert_eq(hak_slab_of((uintptr_t)a[i], HAK_MID_PAGE_SHIFT), s, "precondition: one slab");
        memset(a[i], 0x5a, A);
    }
    cr_assert_neq(hak_slab_of((uintptr_t)a[PER_SLAB], HAK_MID_PAGE_SHIFT), s);
    /* A page of the last block, beyond what the second class's first
     * refills touch (16 blocks of 3 KiB). */
    char *far = a[PER_SLAB - 1] + A / 2;
    cr_assert_geq((uintptr_t)far - s->start, 65536);
    for (int i = 0; i < N; i++)
        hak_free(a[i]);
    hak_cache_flush_all(hak_heap_current());
    cr_assert_eq(s->state, HAK_SLAB_EMPTY, "the emptied slab waits in the heap's empty cache");
    cr_assert(page_resident(far), "control: the first class's pages are resident");

    /* The second class's prefill takes the top of the empty cache. */
    void *b = hak_malloc(3000);
    cr_assert_eq(s->cls, hak_mid_class_of(3000), "precondition: the slab serves the second class");
    cr_assert_not(page_resident(far), "a page only the first class touched is still resident");
    hak_free(b);
}

enum { STACK_SLABS = 15, STACK_ROUNDS = 20000 };

struct stack_args {
    hak_lfstack *stack;
    int id;
};

static void *stack_worker(void *arg)
{
    struct stack_args *a = arg;
    uint64_t rng = (uint64_t)a->id * 977 + 1;
    hak_slab *held[STACK_SLABS];
    int n = 0;
    for (int i = 0; i < STACK_ROUNDS; i++) {
        if (n > 0 && (n == STACK_SLABS || test_rand(&rng) & 1)) {
            hak_lfstack_push(a->stack, held[--n]);
        } else {
            hak_slab *s = hak_lfstack_pop(a->stack);
            if (s)
                held[n++] = s;
        }
    }
    while (n > 0)
        hak_lfstack_push(a->stack, held[--n]);
    return NULL;
}

/* The shared page stack (ABA-safe, 64-bit tag + index) under contention:
 * every page ends up on it exactly once. */
Test(mid, shared_stack_under_contention, .timeout = 60)
{
    test_watchdog(60);
    hak_free(hak_malloc(1));
    static hak_lfstack stack;
    hak_slab *pages[STACK_SLABS];
    cr_assert_eq(hak_segment_acquire(HAK_SEG_MID, pages, STACK_SLABS), STACK_SLABS);
    for (int i = 0; i < STACK_SLABS; i++)
        hak_lfstack_push(&stack, pages[i]);
    struct stack_args args[TEST_THREADS];
    for (int i = 0; i < TEST_THREADS; i++)
        args[i] = (struct stack_args){ &stack, i };
    test_run_threads(TEST_THREADS, stack_worker, args, sizeof args[0]);
    int seen[STACK_SLABS] = { 0 };
    hak_slab *s;
    int count = 0;
    while ((s = hak_lfstack_pop(&stack)) != NULL) {
        int k = -1;
        for (int i = 0; i < STACK_SLABS; i++)
            if (pages[i] == s)
                k = i;
        cr_assert_geq(k, 0, "a foreign node came off the stack");
        cr_assert_eq(seen[k]++, 0, "page %d popped twice", k);
        count++;
    }
    cr_assert_eq(count, STACK_SLABS);
}

struct owner_args {
    void **out;
    int n;
};

static void *mid_owner_exits(void *arg)
{
    struct owner_args *a = arg;
    for (int i = 0; i < a->n; i++) {
        a->out[i] = hak_malloc(1500 + (size_t)(i % 7) * 4000);
        cr_assert_not_null(a->out[i]);
        memset(a->out[i], i & 0xff, 1500);
    }
    return NULL; /* exits holding the blocks: its pages are abandoned */
}

/* Pages of exited threads are adopted by the threads that need pages of
 * that class, after their blocks come back through remote frees. */
Test(mid, abandoned_pages_are_adopted, .timeout = 60)
{
    test_watchdog(60);
    enum { N = 500 };
    static void *blocks[TEST_THREADS][N];
    struct owner_args args[TEST_THREADS];
    for (int t = 0; t < TEST_THREADS; t++)
        args[t] = (struct owner_args){ blocks[t], N };
    test_run_threads(TEST_THREADS, mid_owner_exits, args, sizeof args[0]);
    for (int t = 0; t < TEST_THREADS; t++)
        for (int i = 0; i < N; i += 2) {
            cr_assert_eq(((unsigned char *)blocks[t][i])[1499], (unsigned char)(i & 0xff));
            hak_free(blocks[t][i]);
        }
    /* Allocating the same classes here adopts the abandoned pages. */
    enum { M = 2000 };
    static void *mine[M];
    for (int i = 0; i < M; i++)
        mine[i] = hak_malloc(1500 + (size_t)(i % 7) * 4000);
    hak_heap *h = hak_heap_current();
    uint64_t adopted = 0;
    for (unsigned c = HAK_TINY_CLASSES; c < HAK_SMALL_CLASSES; c++)
        adopted += h->cstats[c].adopted;
    cr_assert_gt(adopted, 0);
    for (int i = 0; i < M; i++)
        hak_free(mine[i]);
    for (int t = 0; t < TEST_THREADS; t++)
        for (int i = 1; i < N; i += 2)
            hak_free(blocks[t][i]);
    struct hak_stats st;
    hak_stats_get(&st);
    cr_assert_eq(st.tiers[HAK_TIER_MID].allocs, st.tiers[HAK_TIER_MID].frees);
}

/* Blocks of a coloured class start a different number of cache lines into
 * the pages of different slabs, each inside its slab; a power-of-two class
 * stays page-aligned (base/size_class.h). */
Test(mid, colored_slabs_spread_their_blocks_over_page_offsets)
{
    enum { N = 12 * 16 }; /* 20 KiB blocks: 12 to a slab, 16 slabs */
    static char *p[N];
    bool offsets[HAK_SLAB_COLORS] = { false };
    unsigned distinct = 0;
    unsigned cls = hak_mid_class_of(20000);
    cr_assert(hak_class_is_colored(cls));
    for (int i = 0; i < N; i++) {
        p[i] = hak_malloc(20000);
        uintptr_t a = (uintptr_t)p[i];
        hak_slab *s = hak_slab_of(a, HAK_MID_PAGE_SHIFT);
        uintptr_t base = hak_slab_base(s);
        size_t color = s->start - base;
        cr_assert_eq(color % HAK_SLAB_COLOR_STEP, 0);
        cr_assert_lt(color, HAK_SLAB_COLORS * HAK_SLAB_COLOR_STEP);
        cr_assert_eq((a - s->start) % hak_classes[cls].size, 0, "a block start");
        cr_assert_leq(a + hak_classes[cls].size, base + ((uintptr_t)1 << HAK_MID_PAGE_SHIFT),
                      "block %d ends inside its slab", i);
        unsigned k = (unsigned)((a & (HAK_PAGE_SIZE - 1)) / HAK_SLAB_COLOR_STEP);
        distinct += !offsets[k];
        offsets[k] = true;
    }
    cr_assert_geq(distinct, 8, "blocks of 16 slabs start at %u page offsets", distinct);
    for (int i = 0; i < N; i++)
        hak_free(p[i]);

    cr_assert(!hak_class_is_colored(hak_mid_class_of(16384)));
    for (int i = 0; i < 40; i++) {
        p[i] = hak_malloc(16384);
        cr_assert_eq((uintptr_t)p[i] & (HAK_PAGE_SIZE - 1), 0, "16 KiB blocks stay page-aligned");
    }
    for (int i = 0; i < 40; i++)
        hak_free(p[i]);
}

/* An alignment above the colour step never gets a block of a coloured
 * class, whichever slab would serve it. */
Test(mid, aligned_mid_blocks_are_aligned_in_every_slab)
{
    static const size_t sizes[] = { 1300, 5000, 10000, 20000, 30000 };
    static const size_t aligns[] = { 128, 512, 4096 };
    enum { N = 40 };
    void *p[N];
    for (unsigned a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
        for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            for (int k = 0; k < N; k++) {
                cr_assert_eq(hak_posix_memalign(&p[k], aligns[a], sizes[i]), 0);
                cr_assert_eq((uintptr_t)p[k] & (aligns[a] - 1), 0, "align %zu, size %zu: %p",
                             aligns[a], sizes[i], p[k]);
                cr_assert_geq(hak_malloc_usable_size(p[k]), sizes[i]);
            }
            for (int k = 0; k < N; k++)
                hak_free(p[k]);
        }
    }
}
