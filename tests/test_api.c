/*
 * test_api.c - the hak_ API against glibc/POSIX semantics: alignment,
 * usable size, zeroing, overflow and ENOMEM, realloc across every tier
 * boundary, the aligned family, sized frees, errno preservation, the
 * statistics snapshot, and a multi-threaded mix of all of it.
 *
 * Tiers: Tiny <= 1 KiB, Mid <= 32 KiB, Large <= 1 MiB, Huge above.
 */
#include "test_util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define GiB ((size_t)1024 * 1024 * 1024)

/* Sizes on and around every tier boundary, a few inside each tier. */
static const size_t tier_sizes[] = {
    0, 1, 8, 15, 16, 17, 31, 32, 48, 64, 65, 100, 127, 128, 129, 255, 256, 257,
    500, 1000, 1023, 1024,                                   /* Tiny */
    1025, 1500, 2048, 4095, 4096, 4097, 10000, 16384, 30000, 32767, 32768, /* Mid */
    32769, 40000, 65536, 100000, 262144, 500000, 1000000, MiB - 1, MiB, /* Large */
    MiB + 1, 2 * MiB, 3 * MiB + 12345, 16 * MiB,             /* Huge */
};
#define NSIZES (sizeof tier_sizes / sizeof tier_sizes[0])

/* Hides a size from the compiler, which rejects calls it can prove too
 * large (-Walloc-size-larger-than): these are the very calls under test. */
static size_t opaque(size_t n)
{
    volatile size_t v = n;
    return v;
}

static bool aligned_to(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

static bool all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != v)
            return false;
    return true;
}

static struct hak_stats stats_now(void)
{
    struct hak_stats s;
    cr_assert_eq(hak_stats_get(&s), 0);
    return s;
}

/* ---- malloc: zero size, alignment, usable size ---- */

Test(api, malloc_zero_gives_distinct_pointers)
{
    enum { N = 200 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = hak_malloc(0);
        cr_assert_not_null(p[i], "malloc(0) #%d returned NULL", i);
        cr_assert(aligned_to(p[i], 16));
        for (int j = 0; j < i; j++)
            cr_assert_neq(p[i], p[j], "malloc(0) returned %p twice", p[i]);
    }
    for (int i = 0; i < N; i++)
        hak_free(p[i]);
}

Test(api, malloc_is_16_byte_aligned_for_every_size_up_to_64k)
{
    /* A window of live blocks, so fresh blocks and reused ones are both
     * checked, not just the one block a free/malloc pair recycles. */
    enum { WINDOW = 32 };
    void *live[WINDOW] = { 0 };
    for (size_t n = 0; n <= 64 * KiB; n++) {
        unsigned k = (unsigned)(n % WINDOW);
        hak_free(live[k]);
        void *p = hak_malloc(n);
        cr_assert_not_null(p, "malloc(%zu) failed", n);
        cr_assert(aligned_to(p, 16), "malloc(%zu) = %p is not 16-byte aligned", n, p);
        cr_assert_geq(hak_malloc_usable_size(p), n, "usable size of malloc(%zu) too small", n);
        /* The first and last byte are ours. */
        if (n) {
            ((volatile unsigned char *)p)[0] = 1;
            ((volatile unsigned char *)p)[n - 1] = 1;
        }
        live[k] = p;
    }
    for (unsigned k = 0; k < WINDOW; k++)
        hak_free(live[k]);

    const size_t big[] = { MiB + 1, MiB + 4096, 2 * MiB - 1, 5 * MiB + 3, 33 * MiB };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        void *p = hak_malloc(big[i]);
        cr_assert_not_null(p, "malloc(%zu) failed", big[i]);
        cr_assert(aligned_to(p, 16), "malloc(%zu) = %p is not 16-byte aligned", big[i], p);
        hak_free(p);
    }
}

Test(api, usable_size_covers_the_request_in_every_tier)
{
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = tier_sizes[i];
        unsigned char *p = hak_malloc(n);
        cr_assert_not_null(p, "malloc(%zu) failed", n);
        size_t u = hak_malloc_usable_size(p);
        cr_assert_geq(u, n, "usable_size(malloc(%zu)) = %zu", n, u);
        /* Every usable byte can be written and read back. */
        memset(p, 0x5a, u);
        cr_assert(all_bytes(p, u, 0x5a), "usable bytes of malloc(%zu) did not hold", n);
        hak_free(p);
    }
    cr_assert_eq(hak_malloc_usable_size(NULL), 0);
}

/* ---- calloc ---- */

Test(api, calloc_is_zeroed_in_every_tier)
{
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = tier_sizes[i];
        unsigned char *a = hak_calloc(n, 1);
        unsigned char *b = hak_calloc(1, n);
        unsigned char *c = hak_calloc(n / 8, 8);
        cr_assert(a && b && c, "calloc of %zu bytes failed", n);
        cr_assert(all_bytes(a, n, 0), "calloc(%zu, 1) not zeroed", n);
        cr_assert(all_bytes(b, n, 0), "calloc(1, %zu) not zeroed", n);
        cr_assert(all_bytes(c, n / 8 * 8, 0), "calloc(%zu, 8) not zeroed", n / 8);
        hak_free(a);
        hak_free(b);
        hak_free(c);
    }
}

Test(api, calloc_zeroes_reused_dirty_memory)
{
    /* Several blocks per size, so a calloc gets back blocks that a freed
     * malloc left dirty (thread caches and Large run caches are LIFO). */
    enum { K = 6 };
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = tier_sizes[i];
        void *p[K];
        for (int k = 0; k < K; k++) {
            p[k] = hak_malloc(n);
            cr_assert_not_null(p[k]);
            memset(p[k], 0xAA, n);
        }
        for (int k = 0; k < K; k++)
            hak_free(p[k]);
        for (int k = 0; k < K; k++) {
            p[k] = hak_calloc(1, n);
            cr_assert_not_null(p[k]);
            cr_assert(all_bytes(p[k], n, 0), "calloc(1, %zu) after a dirty free not zeroed", n);
        }
        for (int k = 0; k < K; k++)
            hak_free(p[k]);
    }

    /* More Large runs than the per-thread run cache keeps, so some come
     * back through the segments' dirty pages rather than the cache. */
    enum { L = 40 };
    void *r[L];
    for (int k = 0; k < L; k++) {
        r[k] = hak_malloc(200 * KiB);
        cr_assert_not_null(r[k]);
        memset(r[k], 0xAA, 200 * KiB);
    }
    for (int k = 0; k < L; k++)
        hak_free(r[k]);
    for (int k = 0; k < L; k++) {
        r[k] = hak_calloc(200, KiB);
        cr_assert_not_null(r[k]);
        cr_assert(all_bytes(r[k], 200 * KiB, 0), "Large calloc #%d not zeroed", k);
    }
    for (int k = 0; k < L; k++)
        hak_free(r[k]);
}

Test(api, calloc_overflow_is_enomem)
{
    const size_t bad[][2] = {
        { SIZE_MAX / 2 + 1, 2 },
        { 2, SIZE_MAX / 2 + 1 },
        { SIZE_MAX, SIZE_MAX },
        { (size_t)1 << 33, (size_t)1 << 31 },
        { SIZE_MAX / 16 + 1, 16 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *p = hak_calloc(opaque(bad[i][0]), bad[i][1]);
        cr_assert_null(p, "calloc(%zu, %zu) should overflow", bad[i][0], bad[i][1]);
        cr_assert_eq(errno, ENOMEM, "calloc(%zu, %zu): errno %d", bad[i][0], bad[i][1], errno);
    }
    /* No overflow, but more than can ever be mapped. */
    errno = 0;
    cr_assert_null(hak_calloc(1, opaque(SIZE_MAX)));
    cr_assert_eq(errno, ENOMEM);
    /* A zero factor never overflows: a unique, freeable pointer. */
    void *z = hak_calloc(0, opaque(SIZE_MAX));
    cr_assert_not_null(z);
    hak_free(z);
}

/* ---- impossible sizes ---- */

Test(api, impossible_malloc_is_enomem)
{
    const size_t bad[] = { SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX,
                           (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *p = hak_malloc(opaque(bad[i]));
        cr_assert_null(p, "malloc(%zu) succeeded", bad[i]);
        cr_assert_eq(errno, ENOMEM, "malloc(%zu): errno %d", bad[i], errno);
    }
    /* The allocator still works afterwards. */
    void *p = hak_malloc(100);
    cr_assert_not_null(p);
    hak_free(p);
}

/* ---- realloc and reallocarray ---- */

Test(api, reallocarray_overflow_keeps_the_block)
{
    size_t n = 300;
    void *p = hak_malloc(n);
    cr_assert_not_null(p);
    test_fill(p, n, 7);
    errno = 0;
    cr_assert_null(hak_reallocarray(p, opaque(SIZE_MAX / 2), 3));
    cr_assert_eq(errno, ENOMEM);
    cr_assert(test_check(p, n, 7), "block changed by a failed reallocarray");
    errno = 0;
    cr_assert_null(hak_reallocarray(p, opaque((size_t)1 << 40), (size_t)1 << 40));
    cr_assert_eq(errno, ENOMEM);
    cr_assert(test_check(p, n, 7));

    /* Without overflow it is realloc(p, count * size). */
    void *q = hak_reallocarray(p, 100, 50);
    cr_assert_not_null(q);
    cr_assert_geq(hak_malloc_usable_size(q), 5000);
    cr_assert(test_check(q, n, 7), "reallocarray lost the contents");
    hak_free(q);
}

Test(api, realloc_too_large_keeps_the_block)
{
    const size_t sizes[] = { 100, 5000, 100000, 3 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = hak_malloc(n);
        cr_assert_not_null(p);
        test_fill(p, n, i);
        errno = 0;
        cr_assert_null(hak_realloc(p, opaque(SIZE_MAX)));
        cr_assert_eq(errno, ENOMEM);
        errno = 0;
        cr_assert_null(hak_realloc(p, opaque((size_t)PTRDIFF_MAX)));
        cr_assert_eq(errno, ENOMEM);
        cr_assert(test_check(p, n, i), "failed realloc of a %zu-byte block changed it", n);
        hak_free(p);
    }
}

Test(api, realloc_null_is_malloc)
{
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = tier_sizes[i];
        void *p = hak_realloc(NULL, n);
        cr_assert_not_null(p, "realloc(NULL, %zu) failed", n);
        cr_assert(aligned_to(p, 16));
        cr_assert_geq(hak_malloc_usable_size(p), n);
        test_fill(p, n, n);
        cr_assert(test_check(p, n, n));
        hak_free(p);
    }
}

Test(api, realloc_to_zero_frees_and_returns_null)
{
    const size_t sizes[] = { 1, 48, 1024, 4096, 32768, 100000, MiB, 4 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = hak_malloc(sizes[i]);
        cr_assert_not_null(p);
        struct hak_stats before = stats_now();
        cr_assert_null(hak_realloc(p, 0), "realloc(p, 0) of %zu bytes returned a block",
                       sizes[i]);
        struct hak_stats after = stats_now();
        cr_assert_eq(after.frees, before.frees + 1,
                     "realloc(p, 0) of %zu bytes: frees %llu -> %llu", sizes[i],
                     (unsigned long long)before.frees, (unsigned long long)after.frees);
    }
}

/* Grow p from `from` to `to` bytes (either way); the common prefix must
 * survive.  Refills the whole new block with seed+1. */
static void *realloc_checked(void *p, size_t from, size_t to, uint64_t seed)
{
    void *q = hak_realloc(p, to);
    cr_assert_not_null(q, "realloc %zu -> %zu failed", from, to);
    cr_assert(aligned_to(q, 16));
    cr_assert_geq(hak_malloc_usable_size(q), to);
    size_t keep = from < to ? from : to;
    cr_assert(test_check(q, keep, seed), "realloc %zu -> %zu lost the contents", from, to);
    test_fill(q, to, seed + 1);
    return q;
}

Test(api, realloc_preserves_contents_across_every_tier)
{
    const size_t chain[] = {
        8, 1000, 1024, 1025, 4096, 32768, 32769, 100000, MiB, MiB + 1, 5 * MiB, 64 * MiB,
        3 * MiB, MiB + 1, MiB, 200000, 32769, 32768, 1025, 1024, 1000, 8, 1,
    };
    size_t n = chain[0];
    void *p = hak_malloc(n);
    cr_assert_not_null(p);
    uint64_t seed = 1;
    test_fill(p, n, seed);
    for (size_t i = 1; i < sizeof chain / sizeof chain[0]; i++) {
        p = realloc_checked(p, n, chain[i], seed);
        n = chain[i];
        seed++;
    }
    hak_free(p);
}

Test(api, realloc_every_pair_of_boundary_sizes)
{
    const size_t edge[] = { 1, 16, 64, 65, 1000, 1024, 1025, 4096, 32767, 32768, 32769,
                            65536, MiB, MiB + 1, 3 * MiB };
    const size_t ne = sizeof edge / sizeof edge[0];
    for (size_t i = 0; i < ne; i++) {
        for (size_t j = 0; j < ne; j++) {
            void *p = hak_malloc(edge[i]);
            cr_assert_not_null(p);
            test_fill(p, edge[i], i * 31 + j);
            p = realloc_checked(p, edge[i], edge[j], i * 31 + j);
            hak_free(p);
        }
    }
}

/* A block that moves to grow gets a quarter more room than it had, so a
 * buffer grown a few bytes at a time moves once per quarter of its size,
 * not at every class; what the program asked for stays the block's
 * request, so a sized free of that size is accepted (a Large run records
 * it, the Mid-to-Large move included). */
Test(api, realloc_that_moves_to_grow_leaves_a_quarter_more_room)
{
    const size_t start[] = { 24, 100, 1000, 1025, 5000, 20000, 30000, 32768 };
    for (size_t i = 0; i < sizeof start / sizeof start[0]; i++) {
        void *p = hak_malloc(start[i]);
        cr_assert_not_null(p);
        test_fill(p, start[i], i);
        size_t u = hak_malloc_usable_size(p);
        void *q = realloc_checked(p, start[i], u + 1, i);
        cr_assert_neq(q, p, "a %zu-byte block grew past its class in place", u);
        cr_assert_geq(hak_malloc_usable_size(q), u + u / 4,
                      "%zu-byte block moved to %zu bytes for %zu", u,
                      hak_malloc_usable_size(q), u + 1);
        hak_free_sized(q, u + 1);
    }
}

/* ---- the aligned family ---- */

Test(api, posix_memalign_rejects_bad_alignments)
{
    const size_t bad[] = { 0, 1, 3, 24, sizeof(void *) / 2, sizeof(void *) + 1, 48, 4097,
                           SIZE_MAX, (SIZE_MAX >> 1) + 2 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *sentinel = (void *)(uintptr_t)0x1234;
        void *out = sentinel;
        errno = 4321;
        int rc = hak_posix_memalign(&out, bad[i], 64);
        cr_assert_eq(rc, EINVAL, "posix_memalign(align %zu) returned %d", bad[i], rc);
        cr_assert_eq(out, sentinel, "posix_memalign touched *out on EINVAL");
        cr_assert_eq(errno, 4321, "posix_memalign changed errno");
    }
    /* ENOMEM is returned and, as glibc's does, left in errno; *out is
     * untouched. */
    void *sentinel = (void *)(uintptr_t)0x5678;
    void *out = sentinel;
    errno = 4321;
    cr_assert_eq(hak_posix_memalign(&out, 64, opaque(SIZE_MAX)), ENOMEM);
    cr_assert_eq(out, sentinel);
    cr_assert_eq(*(volatile int *)&errno, ENOMEM);
}

Test(api, posix_memalign_every_power_of_two_up_to_1g)
{
    const size_t sizes[] = { 1, 24, 100, 5000, 100000, 3 * MiB };
    for (size_t a = sizeof(void *); a <= GiB; a <<= 1) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            void *p = NULL;
            int rc = hak_posix_memalign(&p, a, n);
            cr_assert_eq(rc, 0, "posix_memalign(align %zu, size %zu) = %d", a, n, rc);
            cr_assert_not_null(p);
            cr_assert(aligned_to(p, a), "posix_memalign(align %zu, size %zu) = %p", a, n, p);
            cr_assert_geq(hak_malloc_usable_size(p), n);
            memset(p, 0x3c, n);
            cr_assert(all_bytes(p, n, 0x3c));
            hak_free(p);
        }
        /* size == alignment, the common page/cache-line case. */
        if (a <= 64 * MiB) {
            void *p = NULL;
            cr_assert_eq(hak_posix_memalign(&p, a, a), 0);
            cr_assert(aligned_to(p, a));
            memset(p, 0x3d, a);
            cr_assert(all_bytes(p, a, 0x3d));
            hak_free(p);
        }
    }
}

Test(api, aligned_alloc_needs_a_power_of_two)
{
    const size_t bad[] = { 0, 3, 24, 48, 100, 1000, 4097, (size_t)3 << 20 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *p = hak_aligned_alloc(bad[i], 64);
        cr_assert_null(p, "aligned_alloc(%zu) succeeded", bad[i]);
        cr_assert_eq(errno, EINVAL, "aligned_alloc(%zu): errno %d", bad[i], errno);
    }
    for (size_t a = 1; a <= 16 * MiB; a <<= 1) {
        const size_t sizes[] = { a, 3 * a, 100 };
        for (size_t i = 0; i < 3; i++) {
            void *p = hak_aligned_alloc(a, sizes[i]);
            cr_assert_not_null(p, "aligned_alloc(%zu, %zu) failed", a, sizes[i]);
            cr_assert(aligned_to(p, a), "aligned_alloc(%zu, %zu) = %p", a, sizes[i], p);
            cr_assert_geq(hak_malloc_usable_size(p), sizes[i]);
            memset(p, 0x11, sizes[i]);
            hak_free(p);
        }
    }
}

static size_t next_pow2(size_t x)
{
    size_t a = 1;
    while (a < x)
        a <<= 1;
    return a;
}

Test(api, memalign_rounds_the_alignment_up)
{
    const size_t aligns[] = { 0, 1, 3, 24, 48, 100, 3000, 5000, 100000, MiB + 1, 3 * MiB };
    const size_t sizes[] = { 1, 100, 100000 };
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t want = next_pow2(aligns[i]);
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
            /* Several blocks: one could be aligned by chance, eight hardly. */
            void *p[8];
            for (int k = 0; k < 8; k++) {
                p[k] = hak_memalign(aligns[i], sizes[j]);
                cr_assert_not_null(p[k], "memalign(%zu, %zu) failed", aligns[i], sizes[j]);
                cr_assert(aligned_to(p[k], want), "memalign(%zu, %zu) = %p, not %zu-aligned",
                          aligns[i], sizes[j], p[k], want);
                cr_assert(aligned_to(p[k], 16));
                cr_assert_geq(hak_malloc_usable_size(p[k]), sizes[j]);
                memset(p[k], 0x22, sizes[j]);
            }
            for (int k = 0; k < 8; k++)
                hak_free(p[k]);
        }
    }
}

Test(api, valloc_and_pvalloc_are_page_aligned)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t sizes[] = { 0, 1, 100, 4096, 5000, 100000, 3 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = hak_valloc(sizes[i]);
        cr_assert_not_null(p, "valloc(%zu) failed", sizes[i]);
        cr_assert(aligned_to(p, page), "valloc(%zu) = %p", sizes[i], p);
        cr_assert_geq(hak_malloc_usable_size(p), sizes[i]);
        memset(p, 0x33, sizes[i]);
        hak_free(p);
    }
    const size_t psizes[] = { 0, 1, 4095, 4096, 4097, 100000 };
    for (size_t i = 0; i < sizeof psizes / sizeof psizes[0]; i++) {
        size_t n = psizes[i];
        size_t rounded = n == 0 ? page : (n + page - 1) / page * page;
        unsigned char *p = hak_pvalloc(n);
        cr_assert_not_null(p, "pvalloc(%zu) failed", n);
        cr_assert(aligned_to(p, page), "pvalloc(%zu) = %p", n, p);
        cr_assert_geq(hak_malloc_usable_size(p), rounded, "pvalloc(%zu): usable %zu", n,
                      hak_malloc_usable_size(p));
        /* The whole rounded size is ours. */
        memset(p, 0x44, rounded);
        cr_assert(all_bytes(p, rounded, 0x44));
        hak_free(p);
    }
}

/* ---- sized frees ---- */

Test(api, free_sized_frees)
{
    const size_t sizes[] = { 48, 4000, 100000, 3 * MiB };
    const enum hak_tier tiers[] = { HAK_TIER_TINY, HAK_TIER_MID, HAK_TIER_LARGE, HAK_TIER_HUGE };
    for (size_t i = 0; i < 4; i++) {
        void *p = hak_malloc(sizes[i]);
        cr_assert_not_null(p);
        memset(p, 1, sizes[i]);
        struct hak_stats before = stats_now();
        hak_free_sized(p, sizes[i]);
        struct hak_stats after = stats_now();
        cr_assert_eq(after.frees, before.frees + 1, "free_sized(%zu) did not count a free",
                     sizes[i]);
        cr_assert_eq(after.tiers[tiers[i]].frees, before.tiers[tiers[i]].frees + 1,
                     "free_sized(%zu) did not count a free in its tier", sizes[i]);
        cr_assert_lt(after.bytes_in_use, before.bytes_in_use);
    }
    /* The thread cache is a stack: the freed Tiny block comes back. */
    void *p = hak_malloc(48);
    hak_free_sized(p, 48);
    cr_assert_eq(hak_malloc(48), p, "a free_sized Tiny block was not reused");
    hak_free(p);
    hak_free_sized(NULL, 0);
    hak_free_sized(NULL, 123);
}

Test(api, free_aligned_sized_frees)
{
    const size_t cases[][2] = { { 64, 48 }, { 4096, 4096 }, { 65536, 100000 },
                                { 2 * MiB, 3 * MiB } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t a = cases[i][0], n = cases[i][1];
        void *p = hak_aligned_alloc(a, n);
        cr_assert_not_null(p);
        cr_assert(aligned_to(p, a));
        memset(p, 2, n);
        struct hak_stats before = stats_now();
        hak_free_aligned_sized(p, a, n);
        struct hak_stats after = stats_now();
        cr_assert_eq(after.frees, before.frees + 1,
                     "free_aligned_sized(align %zu, size %zu) did not count a free", a, n);
    }
    void *p = hak_aligned_alloc(64, 48);
    hak_free_aligned_sized(p, 64, 48);
    cr_assert_eq(hak_aligned_alloc(64, 48), p, "a free_aligned_sized block was not reused");
    hak_free(p);
    hak_free_aligned_sized(NULL, 64, 0);
}

/* A size or alignment that is not the one asked for, but that the same
 * request could have had, is legal: a size within the block's class
 * (malloc_usable_size's answer included), and for Large and Huge blocks
 * the size realloc last gave them. */
Test(api, sized_frees_accept_sizes_of_the_same_class)
{
    const size_t sizes[] = { 40, 3000, 100000, 5 * MiB };
    for (size_t i = 0; i < 4; i++) {
        void *p = hak_malloc(sizes[i]);
        cr_assert_not_null(p);
        hak_free_sized(p, hak_malloc_usable_size(p));
        p = hak_malloc(sizes[i]);
        hak_free_sized(p, sizes[i] - 1);
        p = hak_aligned_alloc(4096, sizes[i]);
        cr_assert_not_null(p);
        hak_free_aligned_sized(p, 4096, hak_malloc_usable_size(p));
    }
    /* 100000 and 104000 bytes share the Large class of 106496. */
    void *p = hak_malloc(100000);
    hak_free_sized(p, 104000);
    /* A cached run of a larger class (458752 bytes) serves 400000 bytes
     * (class 425984): its whole usable size is accepted, and so is the
     * request. */
    for (int i = 0; i < 2; i++) {
        p = hak_malloc(440000);
        hak_free(p);
        void *q = hak_malloc(400000);
        cr_assert_eq(q, p, "the cached run of 440000 bytes did not serve 400000");
        cr_assert_gt(hak_malloc_usable_size(q), 425984, "not a run of a larger class");
        hak_free_sized(q, i ? 400000 : hak_malloc_usable_size(q));
    }
    /* The same for a cached Huge mapping (of a block too large for a Huge
     * arena), which may be up to twice the size. */
    for (int i = 0; i < 2; i++) {
        p = hak_malloc(48 * MiB);
        hak_free(p);
        void *q = hak_malloc(40 * MiB);
        if (q == p)
            cr_assert_gt(hak_malloc_usable_size(q), 45 * MiB);
        hak_free_sized(q, i ? 40 * MiB : hak_malloc_usable_size(q));
    }
    /* Alignments up to the default one are all the default. */
    p = hak_aligned_alloc(8, 100000);
    hak_free_aligned_sized(p, 16, 100000);
    p = hak_aligned_alloc(16, 5 * MiB);
    hak_free_aligned_sized(p, 8, 5 * MiB);
    /* realloc in place: the new size is the one to give. */
    p = hak_malloc(200000);
    cr_assert_eq(hak_realloc(p, 120000), p, "a Large shrink to above half moved the block");
    hak_free_sized(p, 120000);
    p = hak_malloc(5 * MiB);
    void *q = hak_realloc(p, 3 * MiB);
    cr_assert_not_null(q);
    hak_free_sized(q, 3 * MiB);
    p = hak_aligned_alloc(65536, 100000);
    q = hak_realloc(p, 90000);
    cr_assert_eq(q, p, "a Large shrink to above half moved the block");
    hak_free_sized(q, 90000);
}

/* ---- errno ---- */

#define ERRNO_KEPT(what)                                                                     \
    cr_assert_eq(errno, 12345, "%s changed errno to %d", what, errno)

static void errno_sequence(void)
{
    errno = 12345;
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = tier_sizes[i];
        void *p = hak_malloc(n);
        cr_assert_not_null(p);
        ERRNO_KEPT("malloc");
        void *q = hak_calloc(1, n);
        cr_assert_not_null(q);
        ERRNO_KEPT("calloc");
        p = hak_realloc(p, n * 2 + 1);
        cr_assert_not_null(p);
        ERRNO_KEPT("realloc (grow)");
        p = hak_realloc(p, n / 3 + 1);
        cr_assert_not_null(p);
        ERRNO_KEPT("realloc (shrink)");
        hak_free(p);
        ERRNO_KEPT("free");
        hak_free(q);
        ERRNO_KEPT("free");
    }
    /* Huge resizes go through mremap, whose in-place attempt may fail
     * (no room to grow) before a move succeeds. */
    void *h = hak_malloc(2 * MiB);
    cr_assert_not_null(h);
    h = hak_realloc(h, 40 * MiB);
    cr_assert_not_null(h);
    ERRNO_KEPT("huge realloc (grow)");
    h = hak_realloc(h, 3 * MiB);
    cr_assert_not_null(h);
    ERRNO_KEPT("huge realloc (shrink)");
    hak_free(h);
    ERRNO_KEPT("huge free");

    void *a = NULL;
    cr_assert_eq(hak_posix_memalign(&a, 4096, 100), 0);
    ERRNO_KEPT("posix_memalign");
    hak_free(a);
    a = hak_aligned_alloc(2 * MiB, 100);
    cr_assert_not_null(a);
    ERRNO_KEPT("aligned_alloc");
    hak_free(a);
    a = hak_valloc(100);
    cr_assert_not_null(a);
    ERRNO_KEPT("valloc");
    hak_free(a);
    ERRNO_KEPT("free");
}

Test(api, success_does_not_change_errno)
{
    errno_sequence();
}

static void *errno_thread(void *arg)
{
    (void)arg;
    /* A new thread's first call also creates its heap. */
    errno = 12345;
    void *p = hak_malloc(40);
    int e1 = errno;
    hak_free(p);
    int e2 = errno;
    return (void *)(intptr_t)(e1 == 12345 && e2 == 12345);
}

Test(api, first_call_in_a_thread_does_not_change_errno)
{
    pthread_t t;
    void *ok = NULL;
    cr_assert_eq(pthread_create(&t, NULL, errno_thread, NULL), 0);
    cr_assert_eq(pthread_join(t, &ok), 0);
    cr_assert_eq((intptr_t)ok, 1, "heap creation changed errno");
}

/* ---- statistics ---- */

Test(api, stats_count_tiny_allocs_and_frees)
{
    enum { N = 1000 };
    static void *p[N];
    struct hak_stats s0 = stats_now();
    cr_assert_eq(s0.version, (uint32_t)((HAKMEM_VERSION_MAJOR << 16) | HAKMEM_VERSION_MINOR));
    cr_assert_leq(s0.nclasses, HAK_STATS_CLASSES);
    int cls = -1;
    for (unsigned c = 0; c < s0.nclasses; c++) {
        if (s0.classes[c].block_size >= 48) {
            cls = (int)c;
            break;
        }
    }
    cr_assert_geq(cls, 0, "no class holds 48 bytes");
    cr_assert_eq(s0.classes[cls].block_size, 48, "the 48-byte class is %u bytes",
                 s0.classes[cls].block_size);

    for (int i = 0; i < N; i++) {
        p[i] = hak_malloc(48);
        cr_assert_not_null(p[i]);
    }
    struct hak_stats s1 = stats_now();
    cr_assert_geq(s1.classes[cls].allocs, s0.classes[cls].allocs + N);
    cr_assert_geq(s1.tiers[HAK_TIER_TINY].allocs, s0.tiers[HAK_TIER_TINY].allocs + N);
    cr_assert_geq(s1.tiers[HAK_TIER_TINY].bytes_in_use,
                  s0.tiers[HAK_TIER_TINY].bytes_in_use + (uint64_t)N * 48);

    for (int i = 0; i < N; i++)
        hak_free(p[i]);
    struct hak_stats s2 = stats_now();
    cr_assert_geq(s2.classes[cls].allocs, s0.classes[cls].allocs + N);
    cr_assert_geq(s2.classes[cls].frees, s0.classes[cls].frees + N);
    cr_assert_eq(s2.tiers[HAK_TIER_TINY].bytes_in_use, s0.tiers[HAK_TIER_TINY].bytes_in_use,
                 "Tiny bytes in use %llu, was %llu before",
                 (unsigned long long)s2.tiers[HAK_TIER_TINY].bytes_in_use,
                 (unsigned long long)s0.tiers[HAK_TIER_TINY].bytes_in_use);
}

/* ---- many threads ---- */

#define MT_OPS     200000
#define MT_SLOTS   256
#define MT_HANDOFF 64
#define MT_WINDOW  64

/* Blocks handed from one thread to another, so that frees and reallocs
 * by non-owners are part of the mix.  Descriptors use glibc's malloc. */
struct mt_block {
    unsigned char *p;
    size_t size;
    uint64_t seed;
};

static _Atomic(struct mt_block *) mt_handoff[MT_HANDOFF];

struct mt_arg {
    uint64_t rng;
    unsigned long allocs; /* successful mallocs and reallocs */
    unsigned long failures;
    char first_failure[160];
};

/* Filling every byte of 200k blocks of up to 70 KB would dominate the run
 * time; a window at each end still catches overlapping blocks and lost
 * realloc contents. */
static void mt_fill(unsigned char *p, size_t n, uint64_t seed)
{
    if (n <= 2 * MT_WINDOW) {
        test_fill(p, n, seed);
        return;
    }
    test_fill(p, MT_WINDOW, seed);
    test_fill(p + n - MT_WINDOW, MT_WINDOW, seed + 1);
}

static bool mt_check(const unsigned char *p, size_t n, uint64_t seed)
{
    if (n <= 2 * MT_WINDOW)
        return test_check(p, n, seed);
    return test_check(p, MT_WINDOW, seed) && test_check(p + n - MT_WINDOW, MT_WINDOW, seed + 1);
}

/* Bytes at the start of a block of old size n that realloc must keep, for
 * a new size m, given the mt_fill pattern. */
static size_t mt_kept_prefix(size_t n, size_t m)
{
    size_t k = n <= 2 * MT_WINDOW ? n : MT_WINDOW;
    return k < m ? k : m;
}

static void mt_fail(struct mt_arg *a, const char *what, size_t size)
{
    if (a->failures++ == 0)
        snprintf(a->first_failure, sizeof a->first_failure, "%s (size %zu)", what, size);
}

static size_t mt_size(uint64_t *rng)
{
    uint64_t r = test_rand(rng);
    unsigned tier = (unsigned)(r % 10);
    r >>= 8;
    if (tier < 7)
        return 1 + (size_t)(r % 1024);          /* Tiny */
    if (tier < 9)
        return 1025 + (size_t)(r % (32768 - 1024)); /* Mid */
    return 32769 + (size_t)(r % (70000 - 32768));  /* Large */
}

static void *mt_worker(void *arg)
{
    struct mt_arg *a = arg;
    struct mt_block slot[MT_SLOTS];
    memset(slot, 0, sizeof slot);
    uint64_t seq = a->rng;

    for (unsigned op = 0; op < MT_OPS; op++) {
        if (op % 1024 == 0)
            test_progress_watchdog(60);
        uint64_t r = test_rand(&a->rng);
        struct mt_block *b = &slot[(r >> 8) % MT_SLOTS];
        unsigned kind = (unsigned)(r % 100);
        if (b->p && !mt_check(b->p, b->size, b->seed))
            mt_fail(a, "block contents changed while live", b->size);

        if (kind < 40) { /* malloc */
            hak_free(b->p);
            b->size = mt_size(&a->rng);
            b->p = hak_malloc(b->size);
            if (b->p == NULL || ((uintptr_t)b->p & 15) != 0) {
                mt_fail(a, "malloc failed or misaligned", b->size);
                b->p = NULL;
                continue;
            }
            b->seed = seq++;
            mt_fill(b->p, b->size, b->seed);
            a->allocs++;
        } else if (kind < 70) { /* free */
            hak_free(b->p);
            b->p = NULL;
        } else if (kind < 92) { /* realloc, from NULL too */
            size_t m = mt_size(&a->rng);
            unsigned char *q = hak_realloc(b->p, m);
            if (q == NULL) {
                mt_fail(a, "realloc failed", m);
                continue;
            }
            if (b->p && !test_check(q, mt_kept_prefix(b->size, m), b->seed))
                mt_fail(a, "realloc lost the contents", m);
            b->p = q;
            b->size = m;
            b->seed = seq++;
            mt_fill(b->p, b->size, b->seed);
            a->allocs++;
        } else { /* hand the block to whichever thread comes next */
            struct mt_block *d = NULL;
            if (b->p) {
                d = malloc(sizeof *d);
                if (d == NULL) {
                    mt_fail(a, "glibc malloc failed", 0);
                    continue;
                }
                *d = *b;
                b->p = NULL;
            }
            /* acq_rel: the block's contents travel with the descriptor. */
            struct mt_block *got =
                atomic_exchange_explicit(&mt_handoff[(r >> 32) % MT_HANDOFF], d,
                                         memory_order_acq_rel);
            if (got) {
                if (!mt_check(got->p, got->size, got->seed))
                    mt_fail(a, "handed-over block changed", got->size);
                *b = *got;
                free(got);
            }
        }
    }
    for (unsigned i = 0; i < MT_SLOTS; i++) {
        if (slot[i].p && !mt_check(slot[i].p, slot[i].size, slot[i].seed))
            mt_fail(a, "block changed before the final free", slot[i].size);
        hak_free(slot[i].p);
    }
    return NULL;
}

Test(api, threads_mix_malloc_free_realloc)
{
    test_progress_watchdog(60);
    struct mt_arg args[TEST_THREADS];
    memset(args, 0, sizeof args);
    for (int i = 0; i < TEST_THREADS; i++)
        args[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    struct hak_stats s0 = stats_now();
    test_run_threads(TEST_THREADS, mt_worker, args, sizeof args[0]);

    uint64_t allocs = 0;
    for (int i = 0; i < TEST_THREADS; i++) {
        cr_assert_eq(args[i].failures, 0, "thread %d: %lu failures, first: %s", i,
                     args[i].failures, args[i].first_failure);
        allocs += args[i].allocs;
    }
    /* About 60% of the operations allocate; most reallocs move. */
    cr_assert_gt(allocs, (uint64_t)TEST_THREADS * MT_OPS / 2);
    /* Blocks still on the handoff board outlived their allocating threads:
     * freeing them here frees into abandoned slabs. */
    for (int i = 0; i < MT_HANDOFF; i++) {
        struct mt_block *d = atomic_exchange_explicit(&mt_handoff[i], NULL, memory_order_acquire);
        if (d == NULL)
            continue;
        cr_assert(mt_check(d->p, d->size, d->seed), "a handed-over block changed");
        hak_free(d->p);
        free(d);
    }
    struct hak_stats s1 = stats_now();
    cr_assert_gt(s1.remote_frees, s0.remote_frees, "the mix made no cross-thread free");
    cr_assert_geq(s1.frees - s0.frees, allocs / 2, "frees were not counted");
    cr_assert_geq(s1.threads, s0.threads + 1);
    cr_assert_eq(s1.tiers[HAK_TIER_TINY].bytes_in_use, s0.tiers[HAK_TIER_TINY].bytes_in_use,
                 "Tiny blocks leaked: %llu bytes in use, %llu before",
                 (unsigned long long)s1.tiers[HAK_TIER_TINY].bytes_in_use,
                 (unsigned long long)s0.tiers[HAK_TIER_TINY].bytes_in_use);
}
