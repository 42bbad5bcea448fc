/*
 * test_huge.c - the Huge tier (> 1 MiB, or alignment above 1 MiB): blocks
 * up to 32 MiB are runs of 64 KiB pages in Huge arenas (marked as arena
 * regions in the segment map), freed ones merged and reused, resized in
 * place or moved; larger ones have their own segment-aligned mapping,
 * marked in the segment map (head and tail regions), resized with mremap.
 * Both are counted exactly in the stats.
 */
#include "test_util.h"

#include <stdatomic.h>

#include "internal.h"
#include "base/segment_map.h"
#include "config/options.h"
#include "os/os.h"
#include "tiers/huge.h"
#include "tiers/runs.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* ---- helpers ---- */

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

static uintptr_t region_base(uintptr_t a)
{
    return a & ~(uintptr_t)HAK_SEGMENT_MASK;
}

/* Word pattern: fast enough to fill and check hundreds of MiB. */
static uint64_t word_at(uint64_t seed, size_t i)
{
    return (seed * 0x9E3779B97F4A7C15ull) ^ (i * 0xD6E8FEB86659FD93ull);
}

static void fill_words(void *p, size_t from, size_t to, uint64_t seed)
{
    uint64_t *w = p;
    for (size_t i = from; i < to; i++)
        w[i] = word_at(seed, i);
}

/* Index of the first wrong word in [from, to), or `to` if all match. */
static size_t check_words(const void *p, size_t from, size_t to, uint64_t seed)
{
    const uint64_t *w = p;
    for (size_t i = from; i < to; i++)
        if (w[i] != word_at(seed, i))
            return i;
    return to;
}

static int is_huge(unsigned map)
{
    return map == HAK_SEGMAP_HUGE_HEAD || map == HAK_SEGMAP_HUGE_TAIL ||
           map == HAK_SEGMAP_HUGE_ARENA;
}

/* Every region a block of n bytes at p touches is marked: all as arena
 * regions for a block in an arena (which starts on a 64 KiB page), else
 * the first as the head unless the block starts a segment or more into
 * its mapping, the others as tails. */
static void assert_marked(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p;
    if (hak_segmap_get(a) == HAK_SEGMAP_HUGE_ARENA) {
        cr_assert_eq(a & (64 * KiB - 1), 0, "arena block %p not on a 64 KiB page", p);
        for (uintptr_t r = region_base(a); r < a + n; r += HAK_SEGMENT_SIZE)
            cr_assert_eq(hak_segmap_get(r), HAK_SEGMAP_HUGE_ARENA, "region %#lx of block %p is %u",
                         (unsigned long)r, p, hak_segmap_get(r));
        return;
    }
    cr_assert_eq(hak_segmap_get(a - 1), HAK_SEGMAP_HUGE_HEAD, "%p - 1 is not in a Huge head region",
                 p);
    if (region_base(a) != region_base(a - 1))
        cr_assert_eq(hak_segmap_get(a), HAK_SEGMAP_HUGE_TAIL,
                     "%p starts a region that is not a tail", p);
    for (uintptr_t r = region_base(a) + HAK_SEGMENT_SIZE; r < a + n; r += HAK_SEGMENT_SIZE)
        cr_assert_eq(hak_segmap_get(r), HAK_SEGMAP_HUGE_TAIL,
                     "region %#lx of block %p (%zu bytes) is %u", (unsigned long)r, p, n,
                     hak_segmap_get(r));
    if (region_base(a + n - 1) != region_base(a - 1))
        cr_assert_eq(hak_segmap_get(a + n - 1), HAK_SEGMAP_HUGE_TAIL);
}

static void assert_unmarked(uintptr_t from, uintptr_t to)
{
    for (uintptr_t r = region_base(from); r < to; r += HAK_SEGMENT_SIZE)
        cr_assert_eq(hak_segmap_get(r), HAK_SEGMAP_NONE, "region %#lx still marked %u",
                     (unsigned long)r, hak_segmap_get(r));
}

/* ---- basics and the segment map ---- */

Test(huge, arena_block_marks_and_free)
{
    size_t n = 2 * MiB + 1;
    char *p = hak_malloc(n);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % (64 * KiB), 0);
    size_t u = hak_malloc_usable_size(p);
    cr_assert_geq(u, n);
    cr_assert_lt(u - n, 64 * KiB, "usable %zu for %zu bytes: more than a 64 KiB page of slack", u,
                 n);
    char *all = whole_block(p);
    memset(all, 0x5c, u);
    cr_assert_eq(all[0], 0x5c);
    cr_assert_eq(all[u - 1], 0x5c);
    assert_marked(p, u);

    /* realloc within the same pages keeps the block. */
    cr_assert_eq(hak_realloc(p, n + 100), p);
    cr_assert_eq(hak_realloc(p, u), p);

    hak_free(p);
    /* Freed pages stay in the arena until the purge delay; malloc_trim
     * releases them now, and the arena, empty, with them. */
    hak_malloc_trim(0);
    cr_assert_eq(hak_segmap_get((uintptr_t)p), HAK_SEGMAP_NONE);

    /* free_sized with the requested size is accepted. */
    p = hak_malloc(3 * MiB);
    cr_assert_not_null(p);
    p[3 * MiB - 1] = 1;
    hak_free_sized(p, 3 * MiB);
    hak_malloc_trim(0);
    cr_assert_eq(hak_segmap_get((uintptr_t)p), HAK_SEGMAP_NONE);
}

/* ---- transparent huge pages ---- */

/* Whether the kernel has transparent huge pages at all: without them
 * MADV_HUGEPAGE fails and no mapping carries the flag. */
static bool thp_in_kernel(void)
{
    return access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
}

/* Whether the mapping holding address a carries the VmFlags flag (two
 * letters, "hg": MADV_HUGEPAGE) in /proc/self/smaps. */
static bool mapping_has_flag(const void *a, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    cr_assert_not_null(f);
    char line[512];
    bool inside = false, found = false, seen = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char dash;
        if (sscanf(line, "%lx%c%lx ", &lo, &dash, &hi) == 3 && dash == '-') {
            inside = (uintptr_t)a >= lo && (uintptr_t)a < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            seen = true;
            for (char *w = strtok(line + 8, " \n"); w; w = strtok(NULL, " \n"))
                found |= strcmp(w, flag) == 0;
        }
    }
    fclose(f);
    cr_assert(seen, "no mapping holds %p", a);
    return found;
}

/* huge_thp is off by default: a Huge arena keeps 4 KiB pages. */
Test(huge, arena_keeps_small_pages_by_default)
{
    cr_assert_eq(hak_opt(HAK_OPT_HUGE_THP), 0, "precondition: the default");
    void *h = hak_malloc(8 * MiB);
    cr_assert_not_null(h);
    cr_assert_eq(hak_segmap_get((uintptr_t)h), HAK_SEGMAP_HUGE_ARENA);
    cr_assert(!mapping_has_flag(h, "hg"));
    hak_free(h);
}

/* huge_thp = on: arenas mapped from then on ask for transparent huge
 * pages; Large segments never do.  (The option is read when the Huge tier
 * is set up; this process sets it up again with the option on, before it
 * maps a new arena.) */
Test(huge, huge_thp_arenas_ask_for_transparent_huge_pages)
{
    hak_free(hak_malloc(1)); /* initialise */
    hak_option_values[HAK_OPT_HUGE_THP] = 1;
    hak_huge_init();
    /* Three blocks of 30 MiB need a second 64 MiB arena at least. */
    void *h[3];
    for (int i = 0; i < 3; i++) {
        h[i] = hak_malloc(30 * MiB);
        cr_assert_not_null(h[i]);
        cr_assert_eq(hak_segmap_get((uintptr_t)h[i]), HAK_SEGMAP_HUGE_ARENA);
    }
    void *l = hak_malloc(256 * KiB);
    cr_assert_not_null(l);
    cr_assert_eq(mapping_has_flag(h[2], "hg"), thp_in_kernel(), "a new Huge arena");
    cr_assert(!mapping_has_flag(l, "hg"), "a Large segment");
    for (int i = 0; i < 3; i++)
        hak_free(h[i]);
    hak_free(l);
}

/* The run engine asks for huge pages on a new segment exactly when its
 * pool says so (huge_thp = off clears the Huge pool's flag). */
Test(huge, run_segments_ask_for_huge_pages_only_when_told)
{
    hak_free(hak_malloc(1)); /* initialise keys */
    for (int want = 0; want <= 1; want++) {
        hak_runs_pool pool;
        memset(&pool, 0, sizeof pool);
        hak_runs_pool_setup(&pool, 22, 16, HAK_SEGMAP_HUGE_ARENA, 7, want != 0);
        hak_runs_segment *seg = hak_runs_segment_new(&pool, false);
        cr_assert_not_null(seg);
        cr_assert_eq(mapping_has_flag(seg, "hg"), want && thp_in_kernel(), "huge_pages %d", want);
        hak_os_unmap(seg, (size_t)1 << 22);
    }
}

Test(huge, own_mapping_marks_head_and_free_unmarks)
{
    size_t n = 40 * MiB + 1;
    char *p = hak_malloc(n);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % HAK_MIN_ALIGN, 0);
    size_t u = hak_malloc_usable_size(p);
    cr_assert_geq(u, n);
    cr_assert_lt(u - n, HAK_PAGE_SIZE, "usable %zu for %zu bytes: more than a page of slack", u, n);
    cr_assert_eq(hak_segmap_get((uintptr_t)p), HAK_SEGMAP_HUGE_HEAD);
    assert_marked(p, n);
    cr_assert_eq(hak_realloc(p, n + 100), p);
    hak_free(p);
    /* Freed mappings are cached for reuse until the purge delay;
     * malloc_trim releases them now. */
    hak_malloc_trim(0);
    assert_unmarked((uintptr_t)p, (uintptr_t)p + n);
}

/* Freed arena blocks merge and serve later blocks of other sizes from the
 * same pages, without mapping anything. */
Test(huge, arena_reuses_freed_blocks)
{
    hak_free(hak_malloc(16)); /* initialisation sets the options: then ours */
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;
    char *a = hak_malloc(3 * MiB), *b = hak_malloc(5 * MiB), *c = hak_malloc(4 * MiB);
    cr_assert(a && b && c);
    cr_assert_eq(b, a + 3 * MiB, "arena blocks are not laid out one after the other");
    cr_assert_eq(c, b + 5 * MiB);
    memset(a, 1, 3 * MiB);
    memset(b, 2, 5 * MiB);
    memset(c, 3, 4 * MiB);
    struct hak_stats s0 = stats_now();
    hak_free(c);
    hak_free(a);
    hak_free(b);
    /* One free run of 12 MiB now: a 12 MiB block takes all of it. */
    char *d = hak_malloc(12 * MiB);
    cr_assert_eq(d, a, "the merged run at %p was not reused (got %p)", a, d);
    /* In place: shrink gives pages back, growth takes them again. */
    cr_assert_eq(hak_realloc(d, 2 * MiB), d);
    char *e = hak_malloc(7 * MiB);
    cr_assert_eq(e, d + 2 * MiB, "the pages a shrink gave back were not reused");
    hak_free(e);
    cr_assert_eq(hak_realloc(d, 9 * MiB), d, "growth into free pages moved the block");
    struct hak_stats s1 = stats_now();
    cr_assert_eq(s1.segments_mapped, s0.segments_mapped, "reuse mapped memory");
    cr_assert_eq(s1.bytes_purged, s0.bytes_purged);
    hak_free(d);
}

/* A double free of an arena block is reported as one, also after the
 * run merged with its free neighbours. */
static void *victim_block;
static void free_victim(void) { hak_free(victim_block); }

Test(huge, arena_double_free_aborts, .signal = SIGABRT)
{
    char *a = hak_malloc(3 * MiB), *b = hak_malloc(3 * MiB);
    cr_assert(a && b);
    hak_free(a);
    hak_free(b);
    victim_block = b;
    free_victim();
}

Test(huge, block_spanning_segments_marks_tails)
{
    size_t n = 48 * MiB;
    char *p = hak_malloc(n);
    cr_assert_not_null(p);
    cr_assert_eq(hak_segmap_get((uintptr_t)p), HAK_SEGMAP_HUGE_HEAD);
    unsigned tails = 0;
    for (uintptr_t r = region_base((uintptr_t)p) + HAK_SEGMENT_SIZE; r < (uintptr_t)p + n;
         r += HAK_SEGMENT_SIZE) {
        cr_assert_eq(hak_segmap_get(r), HAK_SEGMAP_HUGE_TAIL);
        cr_assert_eq(hak_segmap_get(r + HAK_SEGMENT_SIZE / 2), HAK_SEGMAP_HUGE_TAIL);
        *(volatile char *)r = 1; /* interior pages are ours and writable */
        tails++;
    }
    cr_assert_geq(tails, 4);
    cr_assert_eq(hak_segmap_get((uintptr_t)p + n - 1), HAK_SEGMAP_HUGE_TAIL);
    p[n - 1] = 2;
    cr_assert_geq(hak_malloc_usable_size(p), n);
    hak_free(p);
    hak_malloc_trim(0); /* the freed mapping is cached until then */
    assert_unmarked((uintptr_t)p, (uintptr_t)p + n);
}

/* ---- realloc ---- */

Test(huge, realloc_grow_and_shrink_with_mremap)
{
    const uint64_t seed = 11;
    uint64_t in_use0 = stats_now().tiers[HAK_TIER_HUGE].bytes_in_use;
    size_t n = 8 * MiB;
    char *p = hak_malloc(n);
    cr_assert_not_null(p);
    fill_words(p, 0, n / 8, seed);

    for (size_t size = 2 * n; size <= 256 * MiB; size *= 2) {
        char *q = hak_realloc(p, size);
        cr_assert_not_null(q, "realloc to %zu MiB", size / MiB);
        size_t bad = check_words(q, 0, n / 8, seed);
        cr_assert_eq(bad, n / 8, "growing to %zu MiB lost word %zu", size / MiB, bad);
        size_t u = hak_malloc_usable_size(q);
        cr_assert_geq(u, size);
        cr_assert_eq(stats_now().tiers[HAK_TIER_HUGE].bytes_in_use - in_use0, u);
        assert_marked(q, size);
        fill_words(q, n / 8, size / 8, seed);
        p = q;
        n = size;
    }
    cr_assert_eq(n, 256 * MiB);

    for (size_t size = n / 2; size >= 8 * MiB; size /= 2) {
        size_t old_u = hak_malloc_usable_size(p);
        char *q = hak_realloc(p, size);
        cr_assert_eq(q, p, "shrinking to %zu MiB moved the block", size / MiB);
        size_t u = hak_malloc_usable_size(q);
        cr_assert_geq(u, size);
        cr_assert_lt(u, old_u);
        size_t bad = check_words(q, 0, size / 8, seed);
        cr_assert_eq(bad, size / 8, "shrinking to %zu MiB lost word %zu", size / MiB, bad);
        assert_marked(q, size);
        /* The regions given back are no longer ours. */
        uintptr_t end = region_base((uintptr_t)q + u - 1) + HAK_SEGMENT_SIZE;
        assert_unmarked(end, (uintptr_t)q + old_u);
        cr_assert_eq(stats_now().tiers[HAK_TIER_HUGE].bytes_in_use - in_use0, u);
    }
    hak_free(p);
    cr_assert_eq(stats_now().tiers[HAK_TIER_HUGE].bytes_in_use, in_use0);
}

Test(huge, realloc_to_smaller_tiers_moves_and_unmaps)
{
    struct hak_stats s0 = stats_now();
    size_t n = 3 * MiB;
    char *p = hak_malloc(n);
    cr_assert_not_null(p);
    test_fill(p, 8192, 5);

    char *q = hak_realloc(p, 100);
    cr_assert_not_null(q);
    cr_assert_neq(q, p);
    cr_assert_geq(hak_segmap_get((uintptr_t)q), HAK_SEGMAP_SMALL_MIN,
                  "100 bytes not in a small segment");
    cr_assert_leq(hak_malloc_usable_size(q), HAK_TINY_MAX, "100 bytes not in a Tiny block");
    cr_assert(test_check(q, 100, 5));
    hak_malloc_trim(0); /* the freed mapping is cached until then */
    cr_assert_eq(hak_segmap_get((uintptr_t)p), HAK_SEGMAP_NONE,
                 "the Huge mapping was not released");
    struct hak_stats s1 = stats_now();
    cr_assert_eq(s1.tiers[HAK_TIER_HUGE].bytes_in_use, s0.tiers[HAK_TIER_HUGE].bytes_in_use);
    cr_assert_eq(s1.tiers[HAK_TIER_HUGE].allocs - s0.tiers[HAK_TIER_HUGE].allocs, 1);
    cr_assert_eq(s1.tiers[HAK_TIER_HUGE].frees - s0.tiers[HAK_TIER_HUGE].frees, 1);
    hak_free(q);

    /* Huge -> Large keeps everything that fits. */
    p = hak_malloc(4 * MiB);
    cr_assert_not_null(p);
    fill_words(p, 0, 4 * MiB / 8, 6);
    q = hak_realloc(p, 500 * KiB);
    cr_assert_not_null(q);
    cr_assert_eq(hak_segmap_get((uintptr_t)q), HAK_SEGMAP_LARGE);
    cr_assert_eq(check_words(q, 0, 500 * KiB / 8, 6), 500 * KiB / 8);
    hak_malloc_trim(0); /* the freed mapping is cached until then */
    cr_assert_eq(hak_segmap_get((uintptr_t)p), HAK_SEGMAP_NONE);

    /* Large -> Huge, back up. */
    p = hak_realloc(q, 5 * MiB);
    cr_assert_not_null(p);
    cr_assert(is_huge(hak_segmap_get((uintptr_t)p)));
    cr_assert_eq(check_words(p, 0, 500 * KiB / 8, 6), 500 * KiB / 8);
    hak_free(p);
    struct hak_stats s2 = stats_now();
    cr_assert_eq(s2.tiers[HAK_TIER_HUGE].bytes_in_use, s0.tiers[HAK_TIER_HUGE].bytes_in_use);
    cr_assert_eq(s2.tiers[HAK_TIER_HUGE].allocs - s2.tiers[HAK_TIER_HUGE].frees,
                 s0.tiers[HAK_TIER_HUGE].allocs - s0.tiers[HAK_TIER_HUGE].frees);
}

/* ---- alignment ---- */

Test(huge, aligned_alloc)
{
    static const struct {
        size_t align, size;
    } cases[] = {
        { (size_t)1 << 30, 100 }, { 8 * MiB, 3 * MiB },   { 2 * MiB, 100 },
        { 2 * MiB, 5 * MiB },     { 4 * MiB, 1 },         { 4 * MiB, 9 * MiB },
        { 16 * MiB, MiB + 1 },    { 64 * MiB, 10 * MiB }, { 2 * MiB, 2 * MiB },
        { 32 * MiB, 40 * MiB },
    };
    enum { N = sizeof cases / sizeof cases[0] };
    char *blocks[N];
    for (unsigned i = 0; i < N; i++) {
        size_t a = cases[i].align, n = cases[i].size;
        char *p = hak_aligned_alloc(a, n);
        cr_assert_not_null(p, "aligned_alloc(%zu, %zu)", a, n);
        cr_assert_eq((uintptr_t)p & (a - 1), 0, "aligned_alloc(%zu, %zu) = %p", a, n, p);
        cr_assert_geq(hak_malloc_usable_size(p), n);
        assert_marked(p, n);
        size_t head = n < 64 * KiB ? n : 64 * KiB;
        test_fill(p, head, i);
        test_fill(p + n - head, head, i + 100);
        blocks[i] = p;
    }
    for (unsigned i = 0; i < N; i++) {
        size_t n = cases[i].size;
        size_t head = n < 64 * KiB ? n : 64 * KiB;
        if (n >= 2 * head)
            cr_assert(test_check(blocks[i], head, i), "aligned block %u corrupted", i);
        cr_assert(test_check(blocks[i] + n - head, head, i + 100),
                  "aligned block %u tail corrupted", i);
        if (i & 1)
            hak_free_aligned_sized(blocks[i], cases[i].align, n);
        else
            hak_free(blocks[i]);
        hak_malloc_trim(0);
        assert_unmarked((uintptr_t)blocks[i], (uintptr_t)blocks[i] + n);
    }

    void *p = NULL;
    cr_assert_eq(hak_posix_memalign(&p, 2 * MiB, 100), 0);
    cr_assert_eq((uintptr_t)p & (2 * MiB - 1), 0);
    memset(p, 1, 100);
    hak_free(p);
    cr_assert_eq(hak_posix_memalign(&p, 2 * MiB, 3 * MiB), 0);
    cr_assert_eq((uintptr_t)p & (2 * MiB - 1), 0);
    memset(p, 1, 3 * MiB);
    hak_free(p);
    cr_assert_eq(hak_posix_memalign(&p, (size_t)1 << 30, 10 * MiB), 0);
    cr_assert_eq((uintptr_t)p & (((size_t)1 << 30) - 1), 0);
    ((char *)p)[0] = 1;
    ((char *)p)[10 * MiB - 1] = 1;
    hak_free(p);

    /* An aligned block reallocated keeps its contents. */
    char *q = hak_aligned_alloc(8 * MiB, 3 * MiB);
    cr_assert_not_null(q);
    fill_words(q, 0, 3 * MiB / 8, 21);
    q = hak_realloc(q, 20 * MiB);
    cr_assert_not_null(q);
    cr_assert_eq(check_words(q, 0, 3 * MiB / 8, 21), 3 * MiB / 8);
    assert_marked(q, 20 * MiB);
    q = hak_realloc(q, 2 * MiB);
    cr_assert_not_null(q);
    cr_assert_eq(check_words(q, 0, 2 * MiB / 8, 21), 2 * MiB / 8);
    hak_free(q);
}

/* ---- calloc ---- */

/* The first and last 64 bytes of every page (the last byte included):
 * offset of the first nonzero byte among them, or n. */
static size_t first_nonzero_per_page(const unsigned char *z, size_t n)
{
    for (size_t off = 0; off < n; off += HAK_PAGE_SIZE) {
        size_t end = off + HAK_PAGE_SIZE < n ? off + HAK_PAGE_SIZE : n;
        for (size_t i = off; i < off + 64 && i < end; i++)
            if (z[i] != 0)
                return i;
        for (size_t i = end - off >= 64 ? end - 64 : off; i < end; i++)
            if (z[i] != 0)
                return i;
    }
    return n;
}

Test(huge, calloc_is_zero)
{
    /* Dirty a mapping first, so an address the kernel hands back would
     * show old contents if anything but a fresh mapping were used. */
    size_t n = 32 * MiB;
    char *p = hak_malloc(n);
    cr_assert_not_null(p);
    memset(p, 0xff, n);
    hak_free(p);

    const size_t counts[] = { 1, 4096, 3 };
    const size_t sizes[] = { 32 * MiB, 4097, 5 * MiB + 7 };
    for (unsigned k = 0; k < 3; k++) {
        size_t total = counts[k] * sizes[k];
        unsigned char *z = hak_calloc(counts[k], sizes[k]);
        cr_assert_not_null(z);
        cr_assert_geq(hak_malloc_usable_size(z), total);
        size_t bad = first_nonzero_per_page(z, total);
        cr_assert_eq(bad, total, "calloc(%zu, %zu) byte %zu is %u", counts[k], sizes[k], bad,
                     bad < total ? z[bad] : 0);
        memset(z, 0xee, total);
        hak_free(z);
    }
}

/* ---- stats ---- */

Test(huge, stats_track_exactly)
{
    struct hak_stats s0 = stats_now();
    const struct hak_tier_stat *t0 = &s0.tiers[HAK_TIER_HUGE];
    static const size_t sizes[] = { MiB + 1, 2 * MiB, 3 * MiB + 17, 10 * MiB, 33 * MiB };
    enum { N = sizeof sizes / sizeof sizes[0] };
    void *p[N + 1];
    uint64_t sum = 0;
    for (unsigned i = 0; i < N; i++) {
        p[i] = hak_malloc(sizes[i]);
        cr_assert_not_null(p[i]);
        sum += hak_malloc_usable_size(p[i]);
    }
    p[N] = hak_aligned_alloc(8 * MiB, 2 * MiB);
    cr_assert_not_null(p[N]);
    sum += hak_malloc_usable_size(p[N]);

    struct hak_stats s1 = stats_now();
    cr_assert_eq(s1.tiers[HAK_TIER_HUGE].allocs - t0->allocs, N + 1);
    cr_assert_eq(s1.tiers[HAK_TIER_HUGE].frees - t0->frees, 0);
    cr_assert_eq(s1.tiers[HAK_TIER_HUGE].bytes_in_use - t0->bytes_in_use, sum,
                 "in use %llu, expected %llu",
                 (unsigned long long)(s1.tiers[HAK_TIER_HUGE].bytes_in_use - t0->bytes_in_use),
                 (unsigned long long)sum);

    /* realloc changes the bytes, not the counts. */
    sum -= hak_malloc_usable_size(p[1]) + hak_malloc_usable_size(p[4]);
    p[1] = hak_realloc(p[1], 17 * MiB);
    p[4] = hak_realloc(p[4], 5 * MiB);
    cr_assert_not_null(p[1]);
    cr_assert_not_null(p[4]);
    sum += hak_malloc_usable_size(p[1]) + hak_malloc_usable_size(p[4]);
    struct hak_stats s2 = stats_now();
    cr_assert_eq(s2.tiers[HAK_TIER_HUGE].allocs - t0->allocs, N + 1);
    cr_assert_eq(s2.tiers[HAK_TIER_HUGE].frees - t0->frees, 0);
    cr_assert_eq(s2.tiers[HAK_TIER_HUGE].bytes_in_use - t0->bytes_in_use, sum);

    for (unsigned i = 0; i <= N; i += 2) {
        sum -= hak_malloc_usable_size(p[i]);
        hak_free(p[i]);
    }
    struct hak_stats s3 = stats_now();
    cr_assert_eq(s3.tiers[HAK_TIER_HUGE].frees - t0->frees, 3);
    cr_assert_eq(s3.tiers[HAK_TIER_HUGE].bytes_in_use - t0->bytes_in_use, sum);

    for (unsigned i = 1; i <= N; i += 2)
        hak_free(p[i]);
    struct hak_stats s4 = stats_now();
    cr_assert_eq(s4.tiers[HAK_TIER_HUGE].allocs - t0->allocs, N + 1);
    cr_assert_eq(s4.tiers[HAK_TIER_HUGE].frees - t0->frees, N + 1);
    cr_assert_eq(s4.tiers[HAK_TIER_HUGE].bytes_in_use, t0->bytes_in_use);
    /* The tier totals feed the process totals. */
    cr_assert_geq(s4.allocs - s0.allocs, N + 1);
}

/* ---- threads ---- */

/* Tagged blocks (test_util.h), one word per page: mremap moves whole pages. */
static void mark_block(void *p, size_t n, uint64_t seed)
{
    test_tag_block(p, n, seed, HAK_PAGE_SIZE, HAK_PAGE_SIZE);
}

static int check_block(const void *p, size_t limit)
{
    return test_tag_check(p, limit, HAK_PAGE_SIZE, HAK_PAGE_SIZE);
}

#define XFER_SLOTS 8
static _Atomic(void *) xfer[XFER_SLOTS];

struct huge_worker {
    unsigned id;
    unsigned ops;
    unsigned errors;
    unsigned foreign_frees;
    unsigned reallocs;
};

static size_t huge_size(uint64_t *rng, size_t max)
{
    return HAK_LARGE_MAX + 1 + test_rand(rng) % (max - HAK_LARGE_MAX);
}

static void *huge_worker_main(void *arg)
{
    struct huge_worker *w = arg;
    uint64_t rng = 0xabc + w->id * 0x7777;
    for (unsigned i = 0; i < w->ops; i++) {
        test_progress_watchdog(60);
        uint64_t seed = ((uint64_t)w->id << 32) | i;
        size_t n = huge_size(&rng, 6 * MiB);
        char *p = hak_malloc(n);
        if (p == NULL || hak_malloc_usable_size(p) < n || !is_huge(hak_segmap_get((uintptr_t)p))) {
            w->errors++;
            continue;
        }
        mark_block(p, n, seed);
        if (test_rand(&rng) % 2) {
            /* Grow, shrink within Huge, or (1 in 8) drop to a smaller tier. */
            size_t m = test_rand(&rng) % 8 == 0 ? 32 + test_rand(&rng) % HAK_LARGE_MAX
                                                : huge_size(&rng, 8 * MiB);
            char *q = hak_realloc(p, m);
            if (q == NULL || hak_malloc_usable_size(q) < m || !check_block(q, m < n ? m : n)) {
                w->errors++;
                if (q == NULL)
                    q = p;
                m = n;
            }
            w->reallocs++;
            p = q;
            n = m;
            mark_block(p, n, seed);
        }
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
        hak_free(old);
    }
    return NULL;
}

Test(huge, threads_alloc_realloc_free)
{
    test_progress_watchdog(60);
    struct hak_stats s0 = stats_now();
    struct huge_worker w[TEST_THREADS];
    for (unsigned i = 0; i < TEST_THREADS; i++)
        w[i] = (struct huge_worker){ .id = i, .ops = 150 };
    test_run_threads(TEST_THREADS, huge_worker_main, w, sizeof w[0]);

    unsigned errors = 0, foreign = 0, reallocs = 0;
    for (unsigned i = 0; i < TEST_THREADS; i++) {
        errors += w[i].errors;
        foreign += w[i].foreign_frees;
        reallocs += w[i].reallocs;
    }
    for (unsigned j = 0; j < XFER_SLOTS; j++) {
        void *p = atomic_load_explicit(&xfer[j], memory_order_acquire);
        if (p == NULL)
            continue;
        cr_assert(check_block(p, ((struct test_tagged *)p)->size), "slot %u corrupted", j);
        hak_free(p);
    }
    cr_assert_eq(errors, 0, "%u bad blocks", errors);
    cr_assert_gt(foreign, 0, "no block was freed by another thread");
    cr_assert_gt(reallocs, 0);
    struct hak_stats s1 = stats_now();
    cr_assert_eq(s1.tiers[HAK_TIER_HUGE].bytes_in_use, s0.tiers[HAK_TIER_HUGE].bytes_in_use,
                 "Huge bytes in use %llu, started at %llu",
                 (unsigned long long)s1.tiers[HAK_TIER_HUGE].bytes_in_use,
                 (unsigned long long)s0.tiers[HAK_TIER_HUGE].bytes_in_use);
    cr_assert_eq(s1.tiers[HAK_TIER_HUGE].allocs - s0.tiers[HAK_TIER_HUGE].allocs,
                 s1.tiers[HAK_TIER_HUGE].frees - s0.tiers[HAK_TIER_HUGE].frees);
    cr_assert_geq(s1.tiers[HAK_TIER_HUGE].allocs - s0.tiers[HAK_TIER_HUGE].allocs,
                  TEST_THREADS * 150);
}
