/*
 * test_large.c - the Large tier (32 KiB < size <= 1 MiB): class sizes and
 * page alignment, reuse through the per-thread run cache and through the
 * segments, coalescing of freed neighbours, in-place realloc, aligned
 * allocation, calloc of reused runs, decay purging and cross-thread frees.
 *
 * Each test runs in a fresh forked worker, so the first Large allocation
 * of a test maps a fresh Large segment.  Options are written after a first
 * allocation because initialisation resets them.
 */
#include "test_util.h"

#include <stdatomic.h>
#include <sys/prctl.h>

#include "tiers/large.h"
#include "tiers/runs.h"
#include "config/options.h"
#include "os/os.h"
#include "runtime/purge.h"
#include "base/segment_map.h"
#include "base/size_class.h"
#include "base/counters.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* ---- helpers ---- */

/* Initialise the library (options included) without touching Large. */
static void lib_init(void)
{
    void *p = hak_malloc(16);
    cr_assert_not_null(p);
    hak_free(p);
}

static struct hak_stats stats_now(void)
{
    struct hak_stats s;
    cr_assert_eq(hak_stats_get(&s), 0);
    return s;
}

/* malloc_usable_size promises bytes beyond the request; hide the
 * alloc_size hint so neither the optimiser nor UBSan's object-size check
 * bounds the pointer by the requested size. */
static void *whole_block(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

static size_t large_class_bytes(size_t n)
{
    return hak_large_class_size[hak_large_class_of(n)];
}

static hak_runs_segment *segment_of(const void *p)
{
    return (hak_runs_segment *)((uintptr_t)p & ~(uintptr_t)HAK_SEGMENT_MASK);
}

static unsigned page_of(const void *p)
{
    return (unsigned)(((uintptr_t)p & HAK_SEGMENT_MASK) >> HAK_PAGE_SHIFT);
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != 0)
            return 0;
    return 1;
}

/* Touch every page so the block is resident. */
static void touch_pages(void *p, size_t n, unsigned char v)
{
    memset(p, v, n);
}

/* ---- class sizes, alignment, contents ---- */

Test(large, usable_is_class_size_and_page_aligned)
{
    /* Every class: its smallest size, a middle size and its exact size,
     * all live at once so overlapping runs would corrupt each other. */
    enum { PER_CLASS = 3, N = HAK_LARGE_CLASSES * PER_CLASS };
    static void *blocks[N];
    static size_t sizes[N];
    size_t prev = HAK_MID_MAX;
    for (unsigned c = 0; c < HAK_LARGE_CLASSES; c++) {
        size_t top = hak_large_class_size[c];
        sizes[c * PER_CLASS + 0] = prev + 1;
        sizes[c * PER_CLASS + 1] = prev + (top - prev) / 2;
        sizes[c * PER_CLASS + 2] = top;
        prev = top;
    }
    cr_assert_eq(prev, HAK_LARGE_MAX);
    for (unsigned i = 0; i < N; i++) {
        size_t n = sizes[i];
        void *p = hak_malloc(n);
        cr_assert_not_null(p, "malloc(%zu)", n);
        cr_assert_eq((uintptr_t)p & (HAK_PAGE_SIZE - 1), 0, "malloc(%zu) = %p not page aligned", n,
                     p);
        cr_assert_eq(hak_segmap_get((uintptr_t)p), HAK_SEGMAP_LARGE,
                     "malloc(%zu) not in a Large segment", n);
        cr_assert_eq(hak_malloc_usable_size(p), large_class_bytes(n), "usable of malloc(%zu)", n);
        test_fill(p, n, i);
        blocks[i] = p;
    }
    for (unsigned i = 0; i < N; i++) {
        cr_assert(test_check(blocks[i], sizes[i], i), "block %u (%zu bytes) corrupted", i,
                  sizes[i]);
        hak_free(blocks[i]);
    }

    /* A sweep over sizes that are not class boundaries, one at a time. */
    for (size_t n = HAK_MID_MAX + 1; n <= HAK_LARGE_MAX; n += 7919) {
        void *p = hak_malloc(n);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p & (HAK_PAGE_SIZE - 1), 0);
        size_t u = hak_malloc_usable_size(p);
        cr_assert_eq(u, large_class_bytes(n), "usable of malloc(%zu) is %zu", n, u);
        /* 8 classes per doubling: waste stays under 1/8 of the class below. */
        cr_assert(u >= n && u - n < n / 8 + HAK_PAGE_SIZE, "malloc(%zu) wastes %zu", n, u - n);
        char *all = whole_block(p);
        test_fill(all + u - 64, 64, n);
        cr_assert(test_check(all + u - 64, 64, n));
        hak_free(p);
    }
}

Test(large, stats_count_class_bytes)
{
    lib_init();
    struct hak_stats s0 = stats_now();
    void *a = hak_malloc(40000);
    void *b = hak_malloc(700000);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    struct hak_stats s1 = stats_now();
    cr_assert_eq(s1.tiers[HAK_TIER_LARGE].allocs - s0.tiers[HAK_TIER_LARGE].allocs, 2);
    cr_assert_eq(s1.tiers[HAK_TIER_LARGE].bytes_in_use - s0.tiers[HAK_TIER_LARGE].bytes_in_use,
                 large_class_bytes(40000) + large_class_bytes(700000));
    hak_free(a);
    hak_free(b);
    struct hak_stats s2 = stats_now();
    cr_assert_eq(s2.tiers[HAK_TIER_LARGE].frees - s0.tiers[HAK_TIER_LARGE].frees, 2);
    cr_assert_eq(s2.tiers[HAK_TIER_LARGE].bytes_in_use, s0.tiers[HAK_TIER_LARGE].bytes_in_use);
}

/* ---- reuse ---- */

Test(large, reuse_through_thread_cache)
{
    size_t n = 100 * KiB;
    void *p = hak_malloc(n);
    cr_assert_not_null(p);
    test_fill(p, n, 1);
    hak_free(p);
    void *q = hak_malloc(n);
    cr_assert_eq(q, p, "freed 100 KiB run %p not reused (got %p)", p, q);

    /* Another size of the same class is served by the same cached run. */
    hak_free(q);
    size_t same_class = large_class_bytes(n);
    q = hak_malloc(same_class);
    cr_assert_eq(q, p);

    /* While p sits in the cache, a different class must get other pages. */
    hak_free(q);
    void *r = hak_malloc(300 * KiB);
    cr_assert_not_null(r);
    cr_assert(r != p);
    cr_assert((char *)r >= (char *)p + same_class ||
                  (char *)r + large_class_bytes(300 * KiB) <= (char *)p,
              "run %p overlaps the cached run %p", r, p);

    /* The cache is LIFO per class. */
    void *x = hak_malloc(n);
    cr_assert_eq(x, p);
    void *y = hak_malloc(n);
    cr_assert_not_null(y);
    cr_assert_neq(y, x);
    hak_free(x);
    hak_free(y);
    cr_assert_eq(hak_malloc(n), y);
    cr_assert_eq(hak_malloc(n), x);
    hak_free(x);
    hak_free(y);
    hak_free(r);
}

Test(large, reuse_through_segments_without_cache)
{
    lib_init();
    hak_option_values[HAK_OPT_LARGE_CACHE_LIMIT] = 0;
    /* Keep empty segments mapped: this test is about reuse, not decay. */
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;

    /* The same sequence every round from empty segments: first fit lays it
     * out the same way, so no round after the first may map a segment. */
    enum { RUNS = 48, ROUNDS = 40 };
    static void *blocks[RUNS];
    size_t sizes[RUNS];
    uint64_t rng = 42;
    for (unsigned i = 0; i < RUNS; i++)
        sizes[i] = HAK_MID_MAX + 1 + test_rand(&rng) % (HAK_LARGE_MAX - HAK_MID_MAX);
    uint64_t mapped_after_first = 0;
    for (unsigned round = 0; round < ROUNDS; round++) {
        for (unsigned i = 0; i < RUNS; i++) {
            blocks[i] = hak_malloc(sizes[i]);
            cr_assert_not_null(blocks[i]);
            *(uint64_t *)blocks[i] = round * RUNS + i;
        }
        /* Free in a different order every round. */
        for (unsigned k = 0; k < RUNS; k++) {
            unsigned i = (k * 7 + round) % RUNS;
            cr_assert_eq(*(uint64_t *)blocks[i], round * RUNS + i);
            hak_free(blocks[i]);
        }
        uint64_t mapped = stats_now().segments_mapped;
        if (round == 0)
            mapped_after_first = mapped;
        else
            cr_assert_eq(mapped, mapped_after_first,
                         "round %u mapped %llu segments (first round %llu)", round,
                         (unsigned long long)mapped, (unsigned long long)mapped_after_first);
    }

    /* Steady state: a bounded working set replaced at random.  A leak of
     * freed runs would need ~1 GiB of segments here; at most 32 MiB is
     * live, so 32 segments (128 MiB) is a generous fragmentation bound. */
    enum { SLOTS = 32, STEPS = 3000 };
    void *slot[SLOTS] = { 0 };
    uint64_t base = stats_now().segments_mapped;
    for (unsigned step = 0; step < STEPS; step++) {
        unsigned j = (unsigned)(test_rand(&rng) % SLOTS);
        hak_free(slot[j]);
        size_t n = HAK_MID_MAX + 1 + test_rand(&rng) % (HAK_LARGE_MAX - HAK_MID_MAX);
        slot[j] = hak_malloc(n);
        cr_assert_not_null(slot[j]);
        ((char *)slot[j])[n - 1] = (char)step;
    }
    uint64_t grown = stats_now().segments_mapped - base;
    cr_assert_leq(grown, 32, "steady state mapped %llu more segments", (unsigned long long)grown);
    for (unsigned j = 0; j < SLOTS; j++)
        hak_free(slot[j]);
}

Test(large, freed_neighbours_coalesce)
{
    lib_init();
    hak_option_values[HAK_OPT_LARGE_CACHE_LIMIT] = 0;
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;

    uint64_t before = stats_now().segments_mapped;
    void *q[4];
    q[0] = hak_malloc(256 * KiB);
    cr_assert_not_null(q[0]);
    cr_assert_eq(stats_now().segments_mapped, before + 1, "first Large block maps one segment");
    hak_runs_segment *seg = segment_of(q[0]);
    cr_assert_eq(page_of(q[0]), seg->first_page, "first fit starts after the header");
    for (unsigned i = 1; i < 4; i++) {
        q[i] = hak_malloc(256 * KiB);
        cr_assert_eq(q[i], (char *)q[i - 1] + 256 * KiB, "256 KiB blocks are not adjacent");
    }

    /* Fill the rest of the segment, so a 1 MiB run can only come from the
     * four blocks merged.  Greedy: the largest class that still fits. */
    void *fill[64];
    unsigned nfill = 0;
    for (;;) {
        unsigned free_pages = seg->free_pages;
        size_t avail = (size_t)free_pages << HAK_PAGE_SHIFT;
        if (avail < hak_large_class_size[0])
            break;
        int c = HAK_LARGE_CLASSES - 1;
        while (hak_large_class_size[c] > avail)
            c--;
        cr_assert_lt(nfill, 64);
        fill[nfill] = hak_malloc(hak_large_class_size[c]);
        cr_assert_eq(segment_of(fill[nfill]), seg, "filler left the segment");
        nfill++;
    }
    uint64_t mapped = stats_now().segments_mapped;
    cr_assert_eq(mapped, before + 1);
    cr_assert_lt(seg->free_pages, 256u);

    /* Free out of address order, then ask for the merged size. */
    hak_free(q[2]);
    hak_free(q[0]);
    hak_free(q[3]);
    hak_free(q[1]);
    void *big = hak_malloc(1 * MiB);
    cr_assert_eq(big, q[0], "1 MiB run at %p, expected the merged run at %p", big, q[0]);
    cr_assert_eq(stats_now().segments_mapped, mapped, "1 MiB allocation mapped a new segment");
    test_fill(big, 1 * MiB, 9);
    for (unsigned i = 0; i < nfill; i++)
        hak_free(fill[i]);
    cr_assert(test_check(big, 1 * MiB, 9));
    hak_free(big);
}

/* The free runs of a segment, checked page by page against its header:
 * runs tile the usable pages; a free run has its length at both ends, is
 * maximal and is on the list of its length; an allocated or cached run
 * has its state at its head and NONE inside; free_pages and longest add
 * up.  Returns the number of free runs. */
static unsigned check_segment(const hak_runs_segment *seg)
{
    unsigned free_runs = 0, free_pages = 0, longest = 0;
    bool prev_free = false;
    for (unsigned i = seg->first_page; i < HAK_RUNS_PAGES;) {
        unsigned n = seg->run[i].pages;
        cr_assert(n > 0 && i + n <= HAK_RUNS_PAGES, "page %u: run of %u pages", i, n);
        bool is_free = (seg->free_bits[i / 64] >> (i % 64)) & 1;
        for (unsigned k = i; k < i + n; k++)
            cr_assert_eq((seg->free_bits[k / 64] >> (k % 64)) & 1, is_free,
                         "page %u of the run at %u", k, i);
        if (is_free) {
            cr_assert(!prev_free, "free runs at %u and before it touch", i);
            cr_assert_eq(seg->run[i + n - 1].pages, n, "free run at %u: length at its end", i);
            unsigned h = seg->bin_head[n], steps = 0;
            while (h && h != i && steps++ < HAK_RUNS_PAGES)
                h = seg->free_next[h];
            cr_assert_eq(h, i, "free run at %u is not on the list of %u pages", i, n);
            cr_assert((seg->bin_bits[n / 64] >> (n % 64)) & 1);
            free_runs++;
            free_pages += n;
            longest = n > longest ? n : longest;
        } else {
            unsigned st = atomic_load(&seg->run[i].state);
            cr_assert(st == HAK_RUN_ALLOCATED || st == HAK_RUN_CACHED, "run at %u: state %u", i,
                      st);
            for (unsigned k = i + 1; k < i + n; k++)
                cr_assert_eq(atomic_load(&seg->run[k].state), HAK_RUN_NONE,
                             "page %u inside the run at %u reads as a head", k, i);
        }
        prev_free = is_free;
        i += n;
    }
    cr_assert_eq(seg->free_pages, free_pages);
    cr_assert_eq(seg->longest, longest);
    /* Every listed run is one of the runs found above. */
    unsigned listed = 0;
    for (unsigned n = 1; n < HAK_RUNS_PAGES; n++)
        for (unsigned h = seg->bin_head[n]; h && listed <= free_runs; h = seg->free_next[h])
            listed++;
    cr_assert_eq(listed, free_runs, "%u runs listed, %u free", listed, free_runs);
    /* The bin map's summary word says which of its words hold a length,
     * and a length is in the map exactly when runs of it are listed. */
    for (unsigned k = 0; k < HAK_RUNS_WORDS; k++)
        cr_assert_eq((seg->bin_words >> k) & 1, seg->bin_bits[k] != 0, "bin map word %u", k);
    for (unsigned n = 1; n < HAK_RUNS_PAGES; n++)
        cr_assert_eq((seg->bin_bits[n / 64] >> (n % 64)) & 1, seg->bin_head[n] != 0,
                     "length %u: bin map and list disagree", n);
    return free_runs;
}

/* Random allocations (some aligned), frees and reallocs straight to the
 * segments, the free runs checked as they go; at the end every run is
 * free and merged: one free run per segment. */
Test(large, free_runs_stay_consistent)
{
    lib_init();
    hak_option_values[HAK_OPT_LARGE_CACHE_LIMIT] = 0;
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;
    enum { SLOTS = 96, STEPS = 4000, SEGS = 64 };
    static void *slot[SLOTS];
    static const hak_runs_segment *segs[SEGS];
    unsigned nsegs = 0;
    uint64_t rng = 99;
    for (unsigned step = 0; step < STEPS; step++) {
        unsigned j = (unsigned)(test_rand(&rng) % SLOTS);
        uint64_t r = test_rand(&rng);
        size_t n = HAK_MID_MAX + 1 + r % (HAK_LARGE_MAX - HAK_MID_MAX);
        if (slot[j] && r % 8 == 0) {
            slot[j] = hak_realloc(slot[j], n);
        } else {
            hak_free(slot[j]);
            slot[j] = r % 16 == 1 ? hak_aligned_alloc((size_t)8 * KiB << (r >> 32) % 8, n)
                                  : hak_malloc(n);
        }
        cr_assert_not_null(slot[j]);
        ((char *)slot[j])[n - 1] = 1;
        const hak_runs_segment *seg = segment_of(slot[j]);
        unsigned k = 0;
        while (k < nsegs && segs[k] != seg)
            k++;
        if (k == nsegs) {
            cr_assert_lt(nsegs, SEGS);
            segs[nsegs++] = seg;
        }
        if (step % 64 == 0)
            for (k = 0; k < nsegs; k++)
                check_segment(segs[k]);
    }
    for (unsigned j = 0; j < SLOTS; j++)
        hak_free(slot[j]);
    for (unsigned k = 0; k < nsegs; k++)
        cr_assert_eq(check_segment(segs[k]), 1, "segment %u did not merge back into one run", k);
}

/* ---- realloc in place ---- */

Test(large, realloc_in_place)
{
    lib_init();
    hak_option_values[HAK_OPT_LARGE_CACHE_LIMIT] = 0;
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;
    uint64_t in_use0 = stats_now().tiers[HAK_TIER_LARGE].bytes_in_use;

    size_t n = 100 * KiB;
    char *p = hak_malloc(n);
    cr_assert_not_null(p);
    test_fill(p, n, 3);

    /* Slightly bigger, the pages after it are free: grows in place. */
    char *q = hak_realloc(p, 120 * KiB);
    cr_assert_eq(q, p, "growth into free pages moved the block");
    cr_assert_eq(hak_malloc_usable_size(q), large_class_bytes(120 * KiB));
    cr_assert(test_check(q, n, 3));
    cr_assert_eq(stats_now().tiers[HAK_TIER_LARGE].bytes_in_use - in_use0,
                 large_class_bytes(120 * KiB));

    /* All the way to the top class. */
    q = hak_realloc(q, HAK_LARGE_MAX);
    cr_assert_eq(q, p);
    cr_assert_eq(hak_malloc_usable_size(q), HAK_LARGE_MAX);
    cr_assert(test_check(q, n, 3));
    test_fill(q, HAK_LARGE_MAX, 4);

    /* Shrinking by less than half keeps the block as it is. */
    q = hak_realloc(q, HAK_LARGE_MAX / 2 + 1);
    cr_assert_eq(q, p);
    cr_assert_eq(hak_malloc_usable_size(q), HAK_LARGE_MAX);

    /* Shrinking by more than half: same pointer, smaller run, the tail
     * goes back to the segment (first fit hands it out next). */
    size_t small = 200 * KiB;
    q = hak_realloc(q, small);
    cr_assert_eq(q, p, "shrink moved the block");
    size_t u = hak_malloc_usable_size(q);
    cr_assert_eq(u, large_class_bytes(small));
    cr_assert_lt(u, HAK_LARGE_MAX);
    cr_assert(test_check(q, small, 4));
    cr_assert_eq(stats_now().tiers[HAK_TIER_LARGE].bytes_in_use - in_use0, u);
    char *after = hak_malloc(64 * KiB);
    cr_assert_eq(after, q + u, "tail given back by the shrink was not reused");

    /* Now the next pages are taken: growth must move, contents intact. */
    char *moved = hak_realloc(q, 400 * KiB);
    cr_assert_not_null(moved);
    cr_assert_neq(moved, p);
    cr_assert(test_check(moved, small, 4));
    cr_assert_eq(hak_malloc_usable_size(moved), large_class_bytes(400 * KiB));

    /* Shrinking below the Large tier moves into a Mid block. */
    char *mid = hak_realloc(moved, 1000);
    cr_assert_not_null(mid);
    cr_assert_neq(hak_segmap_get((uintptr_t)mid), HAK_SEGMAP_LARGE);
    cr_assert(test_check(mid, 1000, 4));
    hak_free(mid);
    hak_free(after);
    cr_assert_eq(stats_now().tiers[HAK_TIER_LARGE].bytes_in_use, in_use0);
}

/* The run after a block is one the thread freed into its run cache (a
 * buffer freed the block it moved out of): a realloc that needs its pages
 * takes it out of the cache and grows in place over it, and the cache
 * never hands it out again. */
Test(large, realloc_grows_over_a_run_its_own_cache_holds)
{
    lib_init();
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;
    size_t n = 40 * KiB;
    char *a = hak_malloc(n);
    char *b = hak_malloc(n);
    char *c = hak_malloc(n);
    cr_assert_not_null(a);
    size_t u = hak_malloc_usable_size(a);
    cr_assert_eq(b, a + u, "precondition: b right after a");
    cr_assert_eq(c, b + u, "precondition: c right after b (no free run behind b)");
    test_fill(a, n, 5);
    hak_free(b);
    cr_assert_eq(atomic_load(&segment_of(b)->run[page_of(b)].state), HAK_RUN_CACHED,
                 "precondition: b waits in the run cache");
    char *q = hak_realloc(a, 2 * u);
    cr_assert_eq(q, a, "the realloc moved instead of growing over the cached run");
    cr_assert_geq(hak_malloc_usable_size(q), 2 * u);
    cr_assert(test_check(q, n, 5));
    test_fill(q, 2 * u, 6);
    char *d = hak_malloc(n);
    cr_assert(d >= q + 2 * u || d + u <= q, "the cache handed out a part of the grown block");
    cr_assert(test_check(q, 2 * u, 6));
    hak_free(d);
    hak_free(q);
    hak_free(c);
}

/* ---- aligned allocation ---- */

Test(large, aligned_alloc)
{
    static const size_t sizes[] = { 1,     100,    4096,   8193,   32768,   32769,
                                    65536, 100000, 262145, 524288, 1000000, 1048576 };
    enum { NS = sizeof sizes / sizeof sizes[0], NA = 8 };
    void *blocks[NA][NS];
    for (unsigned ai = 0; ai < NA; ai++) {
        size_t a = (size_t)8 * KiB << ai; /* 8 KiB .. 1 MiB */
        for (unsigned si = 0; si < NS; si++) {
            size_t n = sizes[si];
            void *p = hak_aligned_alloc(a, n);
            cr_assert_not_null(p, "aligned_alloc(%zu, %zu)", a, n);
            cr_assert_eq((uintptr_t)p & (a - 1), 0, "aligned_alloc(%zu, %zu) = %p", a, n, p);
            cr_assert_geq(hak_malloc_usable_size(p), n);
            if (n > HAK_MID_MAX || a > HAK_MID_MAX)
                cr_assert_eq(hak_segmap_get((uintptr_t)p), HAK_SEGMAP_LARGE,
                             "aligned_alloc(%zu, %zu) not served by Large", a, n);
            size_t head = n - 1 < 4096 ? n - 1 : 4096; /* the last byte is marked apart */
            test_fill(p, head, ai * NS + si);
            ((unsigned char *)p)[n - 1] = (unsigned char)(ai + si);
            blocks[ai][si] = p;
        }
    }
    for (unsigned ai = 0; ai < NA; ai++) {
        size_t a = (size_t)8 * KiB << ai;
        for (unsigned si = 0; si < NS; si++) {
            size_t n = sizes[si];
            unsigned char *p = blocks[ai][si];
            size_t head = n - 1 < 4096 ? n - 1 : 4096;
            cr_assert(test_check(p, head, ai * NS + si), "aligned block (%zu, %zu) corrupted", a,
                      n);
            cr_assert_eq(p[n - 1], (unsigned char)(ai + si));
            if (si & 1)
                hak_free_aligned_sized(p, a, n);
            else
                hak_free(p);
        }
    }

    /* Cached runs are not handed to aligned requests that they miss. */
    for (unsigned round = 0; round < 20; round++) {
        void *p = hak_aligned_alloc(1 * MiB, 40000 + round);
        cr_assert_eq((uintptr_t)p & (1 * MiB - 1), 0);
        void *q = hak_malloc(40000);
        hak_free(p);
        hak_free(q);
    }

    /* posix_memalign and memalign take the same path. */
    void *p = NULL;
    cr_assert_eq(hak_posix_memalign(&p, 64 * KiB, 50 * KiB), 0);
    cr_assert_eq((uintptr_t)p & (64 * KiB - 1), 0);
    hak_free(p);
    p = hak_memalign(512 * KiB, 600 * KiB);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p & (512 * KiB - 1), 0);
    hak_free(p);
}

/* ---- calloc ---- */

Test(large, calloc_of_reused_run_is_zero)
{
    lib_init();
    size_t n = 200 * KiB;

    /* From the thread cache. */
    void *p = hak_malloc(n);
    cr_assert_not_null(p);
    touch_pages(p, n, 0xa5);
    hak_free(p);
    void *q = hak_calloc(1, n);
    cr_assert_eq(q, p, "calloc did not reuse the cached run");
    cr_assert(all_zero(q, n), "calloc from the cache is not zero");

    /* From a dirty run in the segment (cache off, no purge). */
    hak_option_values[HAK_OPT_LARGE_CACHE_LIMIT] = 0;
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;
    touch_pages(q, n, 0x5a);
    hak_free(q);
    q = hak_calloc(4, n / 4);
    cr_assert_eq(q, p, "calloc did not reuse the free run");
    cr_assert(all_zero(q, n), "calloc of a dirty run is not zero");

    /* Partly dirty: a bigger run over the dirty pages and fresh ones. */
    touch_pages(q, n, 0x77);
    hak_free(q);
    size_t big = 600 * KiB;
    q = hak_calloc(1, big);
    cr_assert_eq(q, p);
    cr_assert(all_zero(q, big), "calloc of a partly dirty run is not zero");

    /* Purged with MADV_DONTNEED (delay 0; a neighbour keeps the segment
     * mapped): served as known-zero, must read zero. */
    touch_pages(q, big, 0x33);
    void *keep = hak_malloc(50 * KiB);
    cr_assert_eq(segment_of(keep), segment_of(q));
    hak_option_values[HAK_OPT_PURGE_MODE] = 0;
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 0;
    uint64_t purged0 = stats_now().bytes_purged;
    hak_free(q);
    cr_assert_gt(stats_now().bytes_purged, purged0, "free with delay 0 did not purge");
    q = hak_calloc(1, big);
    cr_assert_eq(q, p);
    cr_assert(all_zero(q, big), "calloc after a purge is not zero");

    /* Purged with MADV_FREE: contents are not known to be zero. */
    touch_pages(q, big, 0x44);
    hak_option_values[HAK_OPT_PURGE_MODE] = 1;
    hak_free(q);
    q = hak_calloc(1, big);
    cr_assert_eq(q, p);
    cr_assert(all_zero(q, big), "calloc after a lazy purge is not zero");
    hak_free(q);
    hak_free(keep);
}

/* ---- decay ---- */

#define DECAY_BYTES (64 * MiB)
#define DECAY_CAP   512
#define PIN_CAP     4096

/* About 64 MiB of touched Large blocks, and small untouched pins so that
 * every segment holding a big block also holds a pin: freeing the big
 * blocks leaves every segment in use, so their pages can only go back to
 * the OS by purging, not by unmapping the segment. */
struct decay_set {
    void *big[DECAY_CAP], *pin[PIN_CAP];
    unsigned n, npin;
    size_t total; /* usable bytes of the big blocks */
};

static void decay_alloc(struct decay_set *d)
{
    hak_runs_segment *seen[DECAY_CAP];
    unsigned nseen = 0;
    uint64_t rng = 7;
    d->n = d->npin = 0;
    d->total = 0;
    while (d->total < DECAY_BYTES) {
        cr_assert_lt(d->n, DECAY_CAP);
        size_t sz = 256 * KiB + test_rand(&rng) % (HAK_LARGE_MAX - 256 * KiB + 1);
        void *p = hak_malloc(sz);
        cr_assert_not_null(p);
        touch_pages(p, sz, (unsigned char)d->n);
        d->big[d->n++] = p;
        d->total += hak_malloc_usable_size(p);
        hak_runs_segment *seg = segment_of(p);
        unsigned k = 0;
        while (k < nseen && seen[k] != seg)
            k++;
        if (k < nseen)
            continue;
        seen[nseen++] = seg;
        /* First fit fills older holes first; pin until one lands here. */
        void *pin;
        do {
            cr_assert_lt(d->npin, PIN_CAP);
            pin = hak_malloc(HAK_MID_MAX + 1);
            cr_assert_not_null(pin);
            d->pin[d->npin++] = pin;
        } while (segment_of(pin) != seg);
    }
}

/* Free in an order unrelated to addresses. */
static void decay_free(void **blocks, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        hak_free(blocks[(k * 37) % n]);
}

/* RSS bounds in KiB. */
#define RSS_RISE_MIN_KIB (56 * 1024)
#define RSS_SLACK_KIB    (4 * 1024)

/* With transparent huge pages set to "always", the kernel backs the pins'
 * untouched pages with the huge page around them, so RSS would measure
 * the kernel's THP policy rather than our purging: opt this process out. */
static void rss_tests_setup(void)
{
    cr_assert_eq(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 0);
}

static uint64_t rss_kib(void)
{
    uint64_t r = hak_os_current_rss_kib();
    cr_assert_gt(r, 0, "cannot read /proc/self/statm");
    return r;
}

Test(large, purge_on_free_with_zero_delay)
{
    rss_tests_setup();
    lib_init();
    hak_option_values[HAK_OPT_LARGE_CACHE_LIMIT] = 0;
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 0;
    hak_option_values[HAK_OPT_PURGE_MODE] = 0;
    struct hak_stats s0 = stats_now();
    uint64_t rss0 = rss_kib();

    static struct decay_set d;
    decay_alloc(&d);
    uint64_t rss_peak = rss_kib();
    cr_assert_geq(rss_peak, rss0 + RSS_RISE_MIN_KIB, "RSS %llu KiB did not rise from %llu KiB",
                  (unsigned long long)rss_peak, (unsigned long long)rss0);

    /* Segments stay in use (pinned): the drop must come from purging. */
    decay_free(d.big, d.n);
    uint64_t rss1 = rss_kib();
    struct hak_stats s1 = stats_now();
    cr_assert_leq(rss1, rss0 + RSS_SLACK_KIB, "RSS %llu KiB after freeing, %llu KiB before",
                  (unsigned long long)rss1, (unsigned long long)rss0);
    cr_assert_geq(s1.bytes_purged - s0.bytes_purged, d.total, "purged %llu of %zu bytes",
                  (unsigned long long)(s1.bytes_purged - s0.bytes_purged), d.total);
    cr_assert_eq(s1.segments_unmapped, s0.segments_unmapped, "a pinned segment was unmapped");

    /* Now the segments empty out: they are unmapped on the free path. */
    decay_free(d.pin, d.npin);
    struct hak_stats s2 = stats_now();
    cr_assert_gt(s2.segments_unmapped, s1.segments_unmapped, "empty Large segments stayed mapped");
    cr_assert_eq(s2.segments_mapped - s2.segments_unmapped,
                 s0.segments_mapped - s0.segments_unmapped);
    cr_assert_eq(s2.tiers[HAK_TIER_LARGE].bytes_in_use, s0.tiers[HAK_TIER_LARGE].bytes_in_use);
    cr_assert_leq(rss_kib(), rss0 + RSS_SLACK_KIB);
}

Test(large, purge_all_releases_retained_runs)
{
    rss_tests_setup();
    lib_init();
    hak_option_values[HAK_OPT_LARGE_CACHE_LIMIT] = 0;
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000; /* an hour: nothing decays on its own */
    hak_option_values[HAK_OPT_PURGE_MODE] = 0;
    uint64_t rss0 = rss_kib();

    static struct decay_set d;
    decay_alloc(&d);
    decay_free(d.big, d.n);

    /* Retained: free but resident. */
    uint64_t rss1 = rss_kib();
    cr_assert_geq(rss1, rss0 + RSS_RISE_MIN_KIB,
                  "RSS %llu KiB dropped before purge_all (start %llu KiB)",
                  (unsigned long long)rss1, (unsigned long long)rss0);
    struct hak_stats s1 = stats_now();
    cr_assert_geq(s1.free_retained, d.total);

    /* Pinned segments: purge_all must madvise the free runs away. */
    size_t released = hak_purge_all();
    cr_assert_geq(released, d.total, "purge_all released %zu of %zu bytes", released, d.total);
    uint64_t rss2 = rss_kib();
    cr_assert_leq(rss2, rss0 + RSS_SLACK_KIB, "RSS %llu KiB after purge_all, %llu KiB at start",
                  (unsigned long long)rss2, (unsigned long long)rss0);
    struct hak_stats s2 = stats_now();
    cr_assert_geq(s2.bytes_purged - s1.bytes_purged, d.total);
    cr_assert_eq(s2.segments_unmapped, s1.segments_unmapped, "a pinned segment was unmapped");
    cr_assert_lt(s2.free_retained, 4 * MiB);

    /* Emptied segments stay mapped until purge_all unmaps them. */
    decay_free(d.pin, d.npin);
    struct hak_stats s3 = stats_now();
    cr_assert_eq(s3.segments_unmapped, s2.segments_unmapped);
    hak_purge_all();
    struct hak_stats s4 = stats_now();
    cr_assert_gt(s4.segments_unmapped, s3.segments_unmapped,
                 "purge_all left empty segments mapped");
    cr_assert_lt(s4.bytes_mapped, s3.bytes_mapped);

    /* The allocator still works after the segments went away. */
    void *p = hak_calloc(1, 300 * KiB);
    cr_assert_not_null(p);
    cr_assert(all_zero(p, 300 * KiB));
    hak_free(p);
}

/* ---- threads ---- */

/* Tagged blocks (test_util.h), a word every 256 bytes. */
static void mark_block(void *p, size_t n, uint64_t seed)
{
    test_tag_block(p, n, seed, 64, 256);
}

static int check_block(const void *p, size_t limit)
{
    return test_tag_check(p, limit, 64, 256);
}

#define XFER_SLOTS 64
static _Atomic(void *) xfer[XFER_SLOTS];

struct large_worker {
    unsigned id;
    unsigned ops;
    unsigned errors;
    unsigned foreign_frees;
};

static void *large_worker_main(void *arg)
{
    struct large_worker *w = arg;
    uint64_t rng = 0x1234 + w->id * 0x9999;
    for (unsigned i = 0; i < w->ops; i++) {
        test_progress_watchdog(60);
        size_t n = HAK_MID_MAX + 1 + test_rand(&rng) % (HAK_LARGE_MAX - HAK_MID_MAX);
        void *p = hak_malloc(n);
        /* A cached run of a larger class may serve the request, within the
         * rounding limit (large_round_pct). */
        size_t cls_bytes = large_class_bytes(n);
        size_t round_max = cls_bytes + cls_bytes * (size_t)hak_opt(HAK_OPT_LARGE_ROUND_PCT) / 100;
        size_t usable = p ? hak_malloc_usable_size(p) : 0;
        if (p == NULL || ((uintptr_t)p & (HAK_PAGE_SIZE - 1)) != 0 || usable < cls_bytes ||
            usable > round_max) {
            w->errors++;
            continue;
        }
        mark_block(p, n, ((uint64_t)w->id << 32) | i);
        /* acq_rel: publish our block's contents, see the previous owner's. */
        void *old =
            atomic_exchange_explicit(&xfer[test_rand(&rng) % XFER_SLOTS], p, memory_order_acq_rel);
        if (old == NULL)
            continue;
        const struct test_tagged *t = old;
        if (!check_block(old, t->size))
            w->errors++;
        if ((t->seed >> 32) != w->id)
            w->foreign_frees++;
        if (test_rand(&rng) % 4 == 0) {
            /* Resize someone else's block, then check what survives. */
            size_t m = HAK_MID_MAX + 1 + test_rand(&rng) % (HAK_LARGE_MAX - HAK_MID_MAX);
            size_t keep = m < t->size ? m : t->size;
            void *r = hak_realloc(old, m);
            if (r == NULL || hak_malloc_usable_size(r) < m || !check_block(r, keep))
                w->errors++;
            old = r;
        }
        hak_free(old);
    }
    return NULL;
}

/* 8 threads swap Large blocks through the slots, then everything is
 * freed: bytes in use return to the start, and once purged no Large
 * segment is left (a lost free would keep its segment mapped). */
static void run_cross_thread(unsigned ops)
{
    uint64_t in_use0 = stats_now().tiers[HAK_TIER_LARGE].bytes_in_use;
    struct large_worker w[TEST_THREADS];
    for (unsigned i = 0; i < TEST_THREADS; i++)
        w[i] = (struct large_worker){ .id = i, .ops = ops };
    test_run_threads(TEST_THREADS, large_worker_main, w, sizeof w[0]);

    unsigned errors = 0, foreign = 0;
    for (unsigned i = 0; i < TEST_THREADS; i++) {
        errors += w[i].errors;
        foreign += w[i].foreign_frees;
    }
    /* The leftovers go straight to the segments, not to our cache. */
    hak_option_values[HAK_OPT_LARGE_CACHE_LIMIT] = 0;
    for (unsigned j = 0; j < XFER_SLOTS; j++) {
        void *p = atomic_load_explicit(&xfer[j], memory_order_acquire);
        if (p == NULL)
            continue;
        cr_assert(check_block(p, ((struct test_tagged *)p)->size), "slot %u corrupted", j);
        hak_free(p);
    }
    cr_assert_eq(errors, 0, "%u bad blocks", errors);
    cr_assert_gt(foreign, 0, "no block was freed by another thread");
    struct hak_stats s = stats_now();
    cr_assert_eq(
        s.tiers[HAK_TIER_LARGE].bytes_in_use, in_use0, "Large bytes in use %llu, started at %llu",
        (unsigned long long)s.tiers[HAK_TIER_LARGE].bytes_in_use, (unsigned long long)in_use0);
    cr_assert_eq(s.tiers[HAK_TIER_LARGE].allocs - s.tiers[HAK_TIER_LARGE].frees, 0);

    /* Exited threads flushed their caches; every run is free now. */
    hak_purge_all();
    size_t mapped, dirty;
    hak_large_totals(&mapped, &dirty);
    cr_assert_eq(mapped, 0, "%zu bytes of Large segments still mapped with no block live", mapped);
    cr_assert_eq(dirty, 0);
}

Test(large, cross_thread_frees)
{
    test_progress_watchdog(60);
    lib_init();
    run_cross_thread(2500);
}

/* Every free goes to the segments under the lock: contention there. */
Test(large, cross_thread_frees_without_cache)
{
    test_progress_watchdog(60);
    lib_init();
    hak_option_values[HAK_OPT_LARGE_CACHE_LIMIT] = 0;
    run_cross_thread(1500);
}

/* A thread that never allocated frees Large blocks (no heap, no cache). */
static void *heapless_free_main(void *arg)
{
    void **blocks = arg;
    for (unsigned i = 0; i < 16; i++)
        hak_free(blocks[i]);
    return NULL;
}

Test(large, free_by_thread_without_heap)
{
    test_watchdog(30);
    lib_init();
    struct hak_stats s0 = stats_now();
    void *blocks[16];
    for (unsigned i = 0; i < 16; i++) {
        blocks[i] = hak_malloc(40 * KiB + i * 50 * KiB);
        cr_assert_not_null(blocks[i]);
        mark_block(blocks[i], 40 * KiB + i * 50 * KiB, i);
    }
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, heapless_free_main, blocks), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    struct hak_stats s1 = stats_now();
    cr_assert_eq(s1.tiers[HAK_TIER_LARGE].frees - s0.tiers[HAK_TIER_LARGE].frees, 16);
    cr_assert_eq(s1.tiers[HAK_TIER_LARGE].bytes_in_use, s0.tiers[HAK_TIER_LARGE].bytes_in_use);
    cr_assert_eq(s1.threads, s0.threads, "freeing created a heap");
    /* The runs went back to the segments: they are reusable here, without
     * a new segment. */
    void *p = hak_malloc(40 * KiB);
    cr_assert_not_null(p);
    unsigned k = 0;
    while (k < 16 && segment_of(blocks[k]) != segment_of(p))
        k++;
    cr_assert_lt(k, 16, "%p is not in a segment the heapless thread freed runs into", p);
    cr_assert_eq(stats_now().segments_mapped, s1.segments_mapped, "a new segment was mapped");
    hak_free(p);
}

/* ---- the run engine's choice of segment (a pool of the test's own) ---- */

static void test_pool_setup(hak_runs_pool *pool)
{
    lib_init(); /* the segment magic's key */
    memset(pool, 0, sizeof *pool);
    hak_runs_pool_setup(pool, HAK_SEGMENT_SHIFT, HAK_PAGE_SHIFT, HAK_SEGMAP_LARGE, 0x5a, false);
}

static hak_runs_segment *test_pool_grow(hak_runs_pool *pool)
{
    hak_runs_segment *seg = hak_runs_segment_new(pool, false);
    cr_assert_not_null(seg);
    hak_runs_add(pool, seg, 1);
    return seg;
}

static hak_runs_segment *test_take(hak_runs_pool *pool, unsigned pages, void **run)
{
    bool zeroed;
    *run = hak_runs_take(pool, pages, 1, &zeroed);
    cr_assert_not_null(*run, "no room for %u pages", pages);
    return hak_runs_segment_of(pool, (uintptr_t)*run);
}

static void test_give_back(hak_runs_pool *pool, void *run, unsigned pages)
{
    hak_runs_segment *seg = hak_runs_segment_of(pool, (uintptr_t)run);
    hak_runs_give_back(pool, seg, hak_runs_page_of(pool, (uintptr_t)run), pages, 1);
}

/* The pool's age slots are its oldest segments in list order, each with
 * its longest free run. */
static void check_age_slots(const hak_runs_pool *pool)
{
    unsigned k = 0;
    for (hak_list_node *n = pool->segments.head; n; n = n->next, k++) {
        const hak_runs_segment *seg = hak_list_entry(n, hak_runs_segment, link);
        if (k < HAK_RUNS_AGE_SLOTS) {
            cr_assert_lt(k, pool->age_count, "segment %u of the list has no age slot", k);
            cr_assert_eq(pool->age_seg[k], seg, "age slot %u is not the list's segment %u", k, k);
            cr_assert_eq(seg->age_slot, k);
            cr_assert_eq(pool->age_longest[k], seg->longest, "age slot %u: longest", k);
        } else {
            cr_assert_eq(seg->age_slot, HAK_RUNS_AGE_SLOTS, "segment %u has an age slot", k);
        }
    }
    cr_assert_eq(pool->age_count, k < HAK_RUNS_AGE_SLOTS ? k : HAK_RUNS_AGE_SLOTS);
}

/* A take comes from the oldest segment with room, not from the one whose
 * free run fits best: here the newer segment's 120 free pages fit a
 * request of 100 more closely than the older, empty one. */
Test(large, runs_take_from_the_oldest_segment_with_room)
{
    hak_runs_pool pool;
    test_pool_setup(&pool);
    hak_runs_segment *a = test_pool_grow(&pool);
    unsigned all = a->longest;
    void *ra, *rb, *r;
    cr_assert_eq(test_take(&pool, all - 20, &ra), a);
    hak_runs_segment *b = test_pool_grow(&pool);
    cr_assert_eq(test_take(&pool, all - 120, &rb), b, "20 pages left in the older segment");
    test_give_back(&pool, ra, all - 20);
    cr_assert_eq(a->longest, all);
    cr_assert_eq(test_take(&pool, 100, &r), a, "the newer segment's closer fit was taken");
    check_age_slots(&pool);
    test_give_back(&pool, r, 100);
    test_give_back(&pool, rb, all - 120);
    hak_runs_purge(&pool, 2, true);
    cr_assert_eq(pool.count, 0);
    check_age_slots(&pool);
}

/* More segments than age slots: with every slotted segment full a take
 * finds room in the others through the bins, and when a slotted segment
 * is unmapped the oldest of the others takes its slot. */
Test(large, runs_age_slots_beyond_their_number_and_after_an_unmap)
{
    enum { N = HAK_RUNS_AGE_SLOTS + 2 };
    static hak_runs_segment *seg[N];
    static void *run[N];
    hak_runs_pool pool;
    test_pool_setup(&pool);
    unsigned all = 0;
    for (unsigned i = 0; i < N; i++) {
        seg[i] = test_pool_grow(&pool);
        all = seg[i]->longest;
        cr_assert_eq(test_take(&pool, all, &run[i]), seg[i], "segment %u", i);
    }
    check_age_slots(&pool);
    test_give_back(&pool, run[N - 1], all);
    cr_assert_eq(test_take(&pool, all, &run[N - 1]), seg[N - 1], "room beyond the age slots");
    test_give_back(&pool, run[3], all);
    hak_runs_purge(&pool, 2, true); /* unmaps segment 3, the only empty one */
    cr_assert_eq(pool.count, N - 1);
    check_age_slots(&pool);
    cr_assert_eq(pool.age_seg[HAK_RUNS_AGE_SLOTS - 1], seg[HAK_RUNS_AGE_SLOTS],
                 "the oldest segment without a slot did not take the freed one");
    for (unsigned i = 0; i < N; i++)
        if (i != 3)
            test_give_back(&pool, run[i], all);
    hak_runs_purge(&pool, 2, true);
    cr_assert_eq(pool.count, 0);
    check_age_slots(&pool);
}
