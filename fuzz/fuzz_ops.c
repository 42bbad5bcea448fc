/*
 * fuzz_ops.c - hakmem driven by a program of allocation operations.
 *
 * Input (every byte string is a valid program; missing bytes read as 0):
 *
 *   byte 0    threads: 1 + b % 8 (thread 0 is the calling thread)
 *   byte 1    tier mix: bit 0 Tiny, 1 Mid, 2 Large, 3 Huge (none: all four)
 *   then ops  one opcode byte: low nibble the operation, high nibble the
 *             thread that runs it (modulo the thread count), then its
 *             argument bytes:
 *
 *     0 MALLOC        slot size
 *     1 CALLOC        slot size n            (n elements: 1, 2, 3, 4, 7, 8, 16, 100)
 *     2 REALLOC       slot size              (grow/shrink across tiers; size 0 frees)
 *     3 FREE          slot
 *     4 FREE_SIZED    slot                   (free_aligned_sized if aligned; the slot
 *                                             byte's top two bits pick what is passed,
 *                                             as C++'s deletes do: 0 the size asked
 *                                             for, 1 the alignment alone (size 0, an
 *                                             aligned delete), 2 the usable size,
 *                                             3 the size and an alignment even for a
 *                                             malloc'd block (1 to 16: the default))
 *     5 ALIGNED       slot form align size   (posix_memalign, aligned_alloc, memalign,
 *                                             valloc, pvalloc; alignments 1 .. 2 MiB
 *                                             and a few that are not powers of two)
 *     6 HANDOFF       slot thread            (that thread frees it)
 *     7 REALLOCARRAY  slot size n
 *     8 CHECK         slot
 *     9 PARALLEL      n                      (the next 1 + n%32 ops run concurrently)
 *    10 BULK          bulk count size form   (up to 511 Tiny/Mid blocks at once)
 *    11 BULK_FREE     bulk order             (4 orders, half of them, sized)
 *    12 RESTART                              (the op's thread exits, a new one follows)
 *    13 BAD           form slot              (impossible requests: ENOMEM, EINVAL)
 *    14 REALLOC0      slot                   (realloc(p, 0) frees)
 *    15 STATS         print                  (checks bytes in use; print == 0x37:
 *                                             also hak_stats_print)
 *
 *   A size is one byte: below 0xc0 an entry of the edge table of the enabled
 *   tiers (every tier edge and class edge, +-1), else two more bytes give
 *   any size inside one enabled tier.
 *
 * The input is first turned into a list of tasks by a planner on the
 * calling thread (which slot is live, which thread claims a slot in a
 * parallel phase, ids, a 64 MiB cap on live bytes), then run.  Sequential
 * tasks run one batch at a time on their thread; a parallel phase runs
 * every thread's tasks at once, on disjoint slots, so the outcome of every
 * check is the same on every run.  Threads are a persistent pool, created
 * on first use (after the AFL++ fork server), handed work with semaphores.
 *
 * Checked: every live block carries a pattern derived from its id (whole
 * block up to 16 KiB, then the first and last 4 KiB and 64 bytes of every
 * page, of every 16th page above 1 MiB), checked on realloc (the preserved
 * prefix), free and CHECK; malloc_usable_size >= the request and stable;
 * alignment; calloc zeroes;
 * errno untouched by a successful call and ENOMEM/EINVAL where due;
 * hak_stats_get's bytes in use equals the sum of the live blocks' usable
 * sizes (STATS and the end), and live block count == allocs - frees.
 * Everything is freed at the end of an input.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

#define MAX_THREADS 8
#define NSLOT       64
#define NBULK       8
#define BULK_MAX    512
#define BULK_BYTES  (1 * MiB)   /* per bulk slot */
#define LIVE_CAP    (64 * MiB)  /* requested bytes live at once */
#define MAX_TASKS   8192
#define MAX_RESTARTS 4
#define FULL_FILL   (16 * KiB)  /* blocks up to this are patterned whole */
#define ERRNO_MARK  12345

/* ---- failure ---- */

__attribute__((noreturn, format(printf, 1, 2))) static void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_ops: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ---- sizes ---- */

enum { TIER_TINY, TIER_MID, TIER_LARGE, TIER_HUGE, TIERS };

static const size_t tier_lo[TIERS] = { 0, 1 * KiB + 1, 32 * KiB + 1, 1 * MiB + 1 };
static const size_t tier_hi[TIERS] = { 1 * KiB, 32 * KiB, 1 * MiB, 8 * MiB };

static const size_t sizes_tiny[] = {
    0, 1, 8, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100, 111, 112, 113,
    127, 128, 129, 143, 144, 255, 256, 257, 287, 288, 289, 511, 512, 513, 575, 576,
    577, 700, 959, 960, 961, 1023, 1024,
};
static const size_t sizes_mid[] = {
    1025, 1279, 1280, 1281, 1536, 2047, 2048, 2049, 3000, 4095, 4096, 4097, 5120,
    8191, 8192, 8193, 10240, 16383, 16384, 16385, 20000, 28672, 32767, 32768,
};
static const size_t sizes_large[] = {
    32769, 36863, 36864, 36865, 40960, 40961, 65535, 65536, 65537, 100000, 131071,
    131072, 131073, 262143, 262144, 262145, 524287, 524288, 524289, 983040,
    1048575, 1048576,
};
static const size_t sizes_huge[] = {
    1048577, 1048576 + 4096, 2097151, 2097152, 2097153, 3 * MiB + 12345, 4194303,
    4194304, 4194305, 8 * MiB,
};
static const size_t *const tier_table[TIERS] = { sizes_tiny, sizes_mid, sizes_large, sizes_huge };
static const size_t tier_count[TIERS] = {
    sizeof sizes_tiny / sizeof sizes_tiny[0], sizeof sizes_mid / sizeof sizes_mid[0],
    sizeof sizes_large / sizeof sizes_large[0], sizeof sizes_huge / sizeof sizes_huge[0],
};

/* 2^0 .. 2^21 (2 MiB), then alignments that are not powers of two. */
static const size_t align_table[] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
    65536, 131072, 262144, 524288, 1048576, 2097152, 24, 48, 3000, 5000,
};
#define NALIGN (sizeof align_table / sizeof align_table[0])

static bool is_pow2(size_t x) { return x && !(x & (x - 1)); }

/* ---- input ---- */

typedef struct reader {
    const uint8_t *p;
    size_t n, pos;
} reader;

static uint8_t rd_u8(reader *r) { return r->pos < r->n ? r->p[r->pos++] : 0; }
static bool rd_eof(const reader *r) { return r->pos >= r->n; }

static size_t rd_size(reader *r, unsigned tiers)
{
    if ((tiers & 15) == 0) /* the planner never passes an empty mix */
        tiers = 15;
    uint8_t b = rd_u8(r);
    if (b < 0xc0) {
        size_t total = 0;
        for (unsigned t = 0; t < TIERS; t++)
            if (tiers & (1u << t))
                total += tier_count[t];
        /* cppcheck-suppress zerodiv ; tiers is not empty: total > 0 */
        size_t k = b % total;
        for (unsigned t = 0; t < TIERS; t++) {
            if (!(tiers & (1u << t)))
                continue;
            if (k < tier_count[t])
                return tier_table[t][k];
            k -= tier_count[t];
        }
    }
    unsigned en[TIERS], nen = 0;
    for (unsigned t = 0; t < TIERS; t++)
        if (tiers & (1u << t))
            en[nen++] = t;
    /* cppcheck-suppress uninitvar ; tiers is not empty: nen > 0 */
    unsigned t = en[(b & 3) % nen];
    size_t v = (size_t)rd_u8(r) | (size_t)rd_u8(r) << 8;
    return tier_lo[t] + (v * (tier_hi[t] - tier_lo[t] + 1) >> 16);
}

static const size_t nmemb_table[] = { 1, 2, 3, 4, 7, 8, 16, 100 };

/* ---- tasks ---- */

enum {
    T_ALLOC, T_REALLOC, T_FREE, T_CHECK, T_BULK_ALLOC, T_BULK_FREE, T_RESTART, T_BAD,
    T_STATS,
};
enum { F_MALLOC, F_CALLOC, F_POSIX, F_ALIGNED_ALLOC, F_MEMALIGN, F_VALLOC, F_PVALLOC, F_REALLOC };
enum { FREE_PLAIN, FREE_SIZED, FREE_REALLOC0, FREE_ALIGNED_UNSIZED, FREE_USABLE, FREE_ALIGNED_ANY };

typedef struct task {
    uint8_t kind, thread, form;
    bool expect_fail;
    uint16_t phase;
    uint16_t slot;
    uint32_t count;   /* calloc/reallocarray nmemb, bulk count, bulk order */
    uint64_t id;
    size_t size;      /* bytes requested (total for calloc/reallocarray) */
    size_t align;     /* as passed */
    size_t eff_align; /* guaranteed alignment of the result */
} task;

static task tasks[MAX_TASKS];
static size_t ntasks;

/* ---- execution state: one owner at a time (see the planner's claims) ---- */

typedef struct slot {
    void *p;
    size_t size, usable;
    size_t align;     /* alignment it was allocated with (free_aligned_sized), 0 none */
    uint64_t id;
    bool live;
} slot;

typedef struct bulk {
    void *p[BULK_MAX];
    uint32_t n;       /* entries used, some may be NULL (freed) */
    size_t size, usable;
    uint64_t id0;
} bulk;

static slot slots[NSLOT];
static bulk bulks[NBULK];
static uint64_t stats_base_bytes, stats_base_live;

/* ---- patterns ---- */

/* The pattern loops are pure data: no coverage feedback from them. */
#if defined(__clang__) && __clang_major__ >= 13
#define FUZZ_NOCOV __attribute__((no_sanitize("coverage")))
#else
#define FUZZ_NOCOV
#endif

static uint64_t pat_word(uint64_t id, size_t off)
{
    uint64_t x = (id + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)off * 0xd6e8feb86659fd93ull;
    return x ^ x >> 29;
}

typedef void (*range_fn)(unsigned char *p, size_t lo, size_t hi, uint64_t id, const char *what);

/* lo is a multiple of 8 in all of these. */
FUZZ_NOCOV static void range_fill(unsigned char *p, size_t lo, size_t hi, uint64_t id,
                                  const char *what)
{
    (void)what;
    size_t off = lo;
    for (; off + 8 <= hi; off += 8) {
        uint64_t w = pat_word(id, off);
        memcpy(p + off, &w, 8);
    }
    if (off < hi) {
        uint64_t w = pat_word(id, off);
        memcpy(p + off, &w, hi - off);
    }
}

__attribute__((noreturn)) static void range_mismatch(const unsigned char *p, size_t off,
                                                     uint64_t want, uint64_t id,
                                                     const char *what)
{
    const unsigned char *w = (const unsigned char *)&want;
    size_t k = 0;
    while (k < 7 && p[off + k] == w[k])
        k++;
    fuzz_fail("%s: block %p (id %llu) corrupted at offset %zu: 0x%02x, expected 0x%02x", what,
              (const void *)p, (unsigned long long)id, off + k, p[off + k], w[k]);
}

FUZZ_NOCOV static void range_check(unsigned char *p, size_t lo, size_t hi, uint64_t id,
                                   const char *what)
{
    size_t off = lo;
    for (; off + 8 <= hi; off += 8) {
        uint64_t w = pat_word(id, off), got;
        memcpy(&got, p + off, 8);
        if (got != w)
            range_mismatch(p, off, w, id, what);
    }
    if (off < hi) {
        uint64_t w = pat_word(id, off), got = w;
        memcpy(&got, p + off, hi - off);
        if (got != w)
            range_mismatch(p, off, w, id, what);
    }
}

FUZZ_NOCOV static void range_zero(unsigned char *p, size_t lo, size_t hi, uint64_t id,
                                  const char *what)
{
    (void)id;
    size_t off = lo;
    uint64_t acc = 0, w;
    for (; off + 8 <= hi; off += 8) {
        memcpy(&w, p + off, 8);
        acc |= w;
    }
    for (; off < hi; off++)
        acc |= p[off];
    if (acc != 0)
        fuzz_fail("%s: block %p not zeroed in [%zu, %zu)", what, (void *)p, lo, hi);
}

/* Apply fn to the sampled layout of an n-byte block, clipped to [0, limit). */
static void pat_apply(void *block, size_t n, size_t limit, uint64_t id, range_fn fn,
                      const char *what)
{
    unsigned char *p = block;
    if (limit > n)
        limit = n;
#define CLIP(lo, hi)                                                                  \
    do {                                                                              \
        size_t lo_ = (lo), hi_ = (hi) < limit ? (hi) : limit;                         \
        if (lo_ < hi_)                                                                \
            fn(p, lo_, hi_, id, what);                                                \
    } while (0)
    if (n <= FULL_FILL) {
        CLIP(0, n);
        return;
    }
    /* Every page of a Large block; every 16th page of a Huge one, whose
     * pages are all fresh (each touch is a page fault). */
    size_t stride = n <= 1 * MiB + 64 * KiB ? 4 * KiB : 64 * KiB;
    size_t tail = (n - 4 * KiB) & ~(size_t)7;
    CLIP(0, 4 * KiB);
    for (size_t off = stride; off + 64 <= tail; off += stride)
        CLIP(off, off + 64);
    CLIP(tail, n);
#undef CLIP
}

/* ---- checks shared by the executors ---- */

static void check_block(const void *p, size_t size, size_t align, const char *what)
{
    if (p == NULL)
        fuzz_fail("%s of %zu bytes returned NULL", what, size);
    if (((uintptr_t)p & 15) != 0)
        fuzz_fail("%s of %zu bytes returned %p, not 16-byte aligned", what, size, p);
    if (align > 1 && ((uintptr_t)p & (align - 1)) != 0)
        fuzz_fail("%s of %zu bytes returned %p, not %zu-byte aligned", what, size, p, align);
}

static size_t check_usable(const void *p, size_t size, const char *what)
{
    size_t u = hak_malloc_usable_size(p);
    if (u < size)
        fuzz_fail("%s: malloc_usable_size(%p) = %zu < %zu requested", what, p, u, size);
    return u;
}

static void check_errno(int want, const char *what, size_t size)
{
    if (errno != want)
        fuzz_fail("%s of %zu bytes: errno %d, expected %d", what, size, errno, want);
}

/* A live slot before it is used: pattern, usable size unchanged. */
static void check_slot(const slot *s, const char *what)
{
    pat_apply(s->p, s->usable, s->usable, s->id, range_check, what);
    size_t u = hak_malloc_usable_size(s->p);
    if (u != s->usable)
        fuzz_fail("%s: malloc_usable_size(%p) changed from %zu to %zu", what, s->p, s->usable, u);
}

static void slot_set(slot *s, void *p, size_t size, size_t align, uint64_t id, const char *what)
{
    s->p = p;
    s->size = size;
    s->align = align;
    s->id = id;
    s->usable = check_usable(p, size, what);
    s->live = true;
    pat_apply(p, s->usable, s->usable, id, range_fill, what);
}

static const char *const form_name[] = {
    "malloc", "calloc", "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
    "realloc",
};

/* ---- executors ---- */

static void *alloc_form(const task *t, int *ret)
{
    void *p = NULL;
    *ret = 0;
    switch (t->form) {
    case F_MALLOC: return hak_malloc(t->size);
    case F_CALLOC: return hak_calloc(t->count, t->size / t->count);
    case F_POSIX:
        p = (void *)(uintptr_t)0xdeadbeef;
        *ret = hak_posix_memalign(&p, t->align, t->size);
        if (*ret != 0 && p != (void *)(uintptr_t)0xdeadbeef)
            fuzz_fail("posix_memalign failed (%d) but wrote its output", *ret);
        return *ret == 0 ? p : NULL;
    case F_ALIGNED_ALLOC: return hak_aligned_alloc(t->align, t->size);
    case F_MEMALIGN: return hak_memalign(t->align, t->size);
    case F_VALLOC: return hak_valloc(t->size);
    case F_PVALLOC: return hak_pvalloc(t->size);
    }
    return NULL;
}

static void exec_alloc(const task *t)
{
    slot *s = &slots[t->slot];
    const char *what = form_name[t->form];
    if (s->live && !t->expect_fail)
        fuzz_fail("internal: alloc into live slot %u", t->slot);
    int ret;
    errno = ERRNO_MARK;
    void *p = alloc_form(t, &ret);
    if (t->expect_fail) {
        if (p != NULL)
            fuzz_fail("%s(align %zu, %zu) succeeded, expected EINVAL", what, t->align, t->size);
        if (t->form == F_POSIX) {
            if (ret != EINVAL)
                fuzz_fail("posix_memalign(align %zu) returned %d, expected EINVAL", t->align, ret);
            check_errno(ERRNO_MARK, what, t->size);
        } else {
            check_errno(EINVAL, what, t->size);
        }
        return;
    }
    if (t->form == F_POSIX && ret != 0)
        fuzz_fail("posix_memalign(align %zu, %zu) returned %d", t->align, t->size, ret);
    check_block(p, t->size, t->eff_align, what);
    check_errno(ERRNO_MARK, what, t->size);
    size_t need = t->form == F_PVALLOC ? (t->size ? (t->size + 4095) & ~(size_t)4095 : 4096)
                                       : t->size;
    if (t->form == F_CALLOC)
        pat_apply(p, need, need, 0, range_zero, what);
    slot_set(s, p, need, t->form >= F_POSIX ? t->eff_align : 0, t->id, what);
}

static void exec_realloc(const task *t)
{
    slot *s = &slots[t->slot];
    const char *what = t->count ? "reallocarray" : "realloc";
    void *old = s->live ? s->p : NULL;
    size_t old_usable = s->live ? s->usable : 0;
    if (s->live)
        check_slot(s, what);
    errno = ERRNO_MARK;
    void *q = t->count ? hak_reallocarray(old, t->count, t->size / t->count)
                       : hak_realloc(old, t->size);
    if (t->size == 0 && old != NULL) {
        /* glibc semantics: realloc(p, 0) frees p and returns NULL. */
        if (q != NULL)
            fuzz_fail("%s(%p, 0) returned %p, expected NULL", what, old, q);
        s->live = false;
        return;
    }
    check_block(q, t->size, 16, what);
    check_errno(ERRNO_MARK, what, t->size);
    if (old != NULL) {
        size_t keep = old_usable < t->size ? old_usable : t->size;
        pat_apply(q, old_usable, keep, s->id, range_check, what);
    }
    slot_set(s, q, t->size, 0, s->live ? s->id : t->id, what);
}

static void exec_free(const task *t)
{
    slot *s = &slots[t->slot];
    if (!s->live)
        fuzz_fail("internal: free of empty slot %u", t->slot);
    check_slot(s, "free");
    switch (t->form) {
    case FREE_PLAIN:
        hak_free(s->p);
        break;
    case FREE_SIZED:
        if (s->align)
            hak_free_aligned_sized(s->p, s->align, s->size);
        else
            hak_free_sized(s->p, s->size);
        break;
    case FREE_REALLOC0: {
        void *q = hak_realloc(s->p, 0);
        if (q != NULL)
            fuzz_fail("realloc(%p, 0) returned %p, expected NULL", s->p, q);
        break;
    }
    /* The forms of C++'s deletes (operator delete(void *, align_val_t) and
     * the sized ones), through the functions libhakmem.so's operators call;
     * alignments up to 16 are the default one. */
    case FREE_ALIGNED_UNSIZED:
        hak_free_aligned_sized(s->p, s->align ? s->align : (size_t)1 << (s->id % 5), 0);
        break;
    case FREE_USABLE:
        if (s->align)
            hak_free_aligned_sized(s->p, s->align, s->usable);
        else
            hak_free_sized(s->p, s->usable);
        break;
    case FREE_ALIGNED_ANY:
        hak_free_aligned_sized(s->p, s->align ? s->align : (size_t)1 << (s->id % 5), s->size);
        break;
    }
    s->live = false;
}

static void exec_check(const task *t)
{
    slot *s = &slots[t->slot];
    if (s->live) {
        check_slot(s, "check");
        check_block(s->p, s->size, s->align ? s->align : 16, "check");
    }
}

static void exec_bulk_alloc(const task *t)
{
    bulk *b = &bulks[t->slot];
    if (b->n)
        fuzz_fail("internal: bulk alloc into live bulk %u", t->slot);
    b->size = t->size;
    b->id0 = t->id;
    b->usable = 0;
    for (uint32_t i = 0; i < t->count; i++) {
        void *p = NULL;
        errno = ERRNO_MARK;
        switch (t->form) {
        case F_MALLOC: p = hak_malloc(t->size); break;
        case F_CALLOC: p = hak_calloc(1, t->size); break;
        default:
            if (hak_posix_memalign(&p, 64, t->size) != 0)
                p = NULL;
            break;
        }
        check_block(p, t->size, t->form == F_POSIX ? 64 : 16, "bulk alloc");
        check_errno(ERRNO_MARK, "bulk alloc", t->size);
        if (t->form == F_CALLOC)
            range_zero(p, 0, t->size, 0, "bulk calloc");
        size_t u = check_usable(p, t->size, "bulk alloc");
        if (b->usable == 0)
            b->usable = u;
        else if (u != b->usable)
            fuzz_fail("bulk alloc: usable size %zu, earlier blocks of the same size %zu", u,
                      b->usable);
        range_fill(p, 0, u, b->id0 + i, "bulk alloc");
        b->p[i] = p;
    }
    b->n = t->count;
}

/* Order of a bulk free: 0 forward, 1 backward, 2 evens then odds,
 * 3 a stride-7 walk.  +4: only every other live block.  +8: free_sized. */
static void exec_bulk_free(const task *t)
{
    bulk *b = &bulks[t->slot];
    uint32_t n = b->n, order = t->count & 3;
    bool half = t->count & 4, sized = t->count & 8;
    uint32_t seen = 0, left = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = k;
        if (order == 1)
            i = n - 1 - k;
        else if (order == 2)
            i = 2 * k < n ? 2 * k : 2 * (k - (n + 1) / 2) + 1;
        else if (order == 3)
            i = (uint32_t)(((uint64_t)k * 7) % n);
        if (order == 3 && n % 7 == 0)
            i = k; /* 7 and n not coprime: not a permutation */
        void *p = b->p[i];
        if (p == NULL)
            continue;
        if (half && (seen++ & 1)) {
            left++;
            continue;
        }
        range_check(p, 0, b->usable, b->id0 + i, "bulk free");
        if (sized)
            hak_free_sized(p, b->size);
        else
            hak_free(p);
        b->p[i] = NULL;
    }
    if (left == 0)
        b->n = 0;
}

static void exec_bad(const task *t)
{
    static volatile size_t huge_size = SIZE_MAX;
    size_t big = huge_size;
    slot *s = &slots[t->slot];
    void *q;
    int ret;
    errno = ERRNO_MARK;
    switch (t->form) {
    case 0:
        if ((q = hak_malloc(big - t->size)) != NULL)
            fuzz_fail("malloc(%zu) succeeded", big - t->size);
        check_errno(ENOMEM, "malloc", big - t->size);
        break;
    case 1:
        if ((q = hak_calloc(big / 2 + 1, 2 + t->size)) != NULL)
            fuzz_fail("calloc overflow succeeded");
        check_errno(ENOMEM, "calloc", big);
        break;
    case 2:
    case 3:
        if (s->live)
            check_slot(s, "realloc");
        errno = ERRNO_MARK;
        q = t->form == 2 ? hak_realloc(s->live ? s->p : NULL, big - t->size)
                         : hak_reallocarray(s->live ? s->p : NULL, big / 2, 3);
        if (q != NULL)
            fuzz_fail("impossible realloc succeeded");
        check_errno(ENOMEM, "realloc", big);
        if (s->live)
            check_slot(s, "realloc failure");
        break;
    case 4:
        if ((q = hak_aligned_alloc(24 + 16 * (t->size & 7), 16)) != NULL)
            fuzz_fail("aligned_alloc with a bad alignment succeeded");
        check_errno(EINVAL, "aligned_alloc", 16);
        break;
    case 5:
        q = (void *)(uintptr_t)0x1234;
        ret = hak_posix_memalign(&q, (t->size & 1) ? 4 : 24, 16);
        if (ret != EINVAL || q != (void *)(uintptr_t)0x1234)
            fuzz_fail("posix_memalign with a bad alignment: %d", ret);
        check_errno(ERRNO_MARK, "posix_memalign", 16);
        break;
    case 6:
        q = (void *)(uintptr_t)0x1234;
        ret = hak_posix_memalign(&q, 64, big - t->size);
        if (ret != ENOMEM || q != (void *)(uintptr_t)0x1234)
            fuzz_fail("posix_memalign of an impossible size: %d", ret);
        check_errno(ENOMEM, "posix_memalign", big); /* as glibc's */
        break;
    case 7:
        if ((q = hak_pvalloc(big - t->size)) != NULL)
            fuzz_fail("pvalloc of an impossible size succeeded");
        check_errno(ENOMEM, "pvalloc", big);
        errno = ERRNO_MARK;
        /* 2^63: a power of two no mapping can honour (ENOMEM); above it
         * there is none to round up to (EINVAL), as glibc. */
        if ((q = hak_memalign(big / 2 + 1 + (t->size & 1), 16)) != NULL)
            fuzz_fail("memalign with an impossible alignment succeeded");
        check_errno((t->size & 1) ? EINVAL : ENOMEM, "memalign", 16);
        break;
    case 8:
        hak_free(NULL);
        hak_free_sized(NULL, 0);
        hak_free_aligned_sized(NULL, 64, 0);
        check_errno(ERRNO_MARK, "free(NULL)", 0);
        if (hak_malloc_usable_size(NULL) != 0)
            fuzz_fail("malloc_usable_size(NULL) != 0");
        break;
    default:
        /* realloc(NULL, 0) is malloc(0): a unique, freeable block. */
        q = hak_realloc(NULL, 0);
        check_block(q, 0, 16, "realloc(NULL, 0)");
        void *q2 = hak_malloc(0);
        check_block(q2, 0, 16, "malloc(0)");
        if (q == q2)
            fuzz_fail("malloc(0) returned a live block twice: %p", q);
        hak_free(q);
        hak_free(q2);
        break;
    }
}

static void exec_stats(const task *t)
{
    struct hak_stats st;
    if (hak_stats_get(&st) != 0)
        fuzz_fail("hak_stats_get failed");
    if (st.version != (HAKMEM_VERSION_MAJOR << 16 | HAKMEM_VERSION_MINOR) ||
        st.nclasses > HAK_STATS_CLASSES)
        fuzz_fail("hak_stats_get: bad version or class count");
    if (t->form) {
        static int devnull = -1;
        if (devnull < 0)
            devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        hak_stats_print(devnull);
    }
    if (t->phase != 0)
        return; /* other threads are running: only a snapshot */
    uint64_t bytes = 0, live = 0;
    for (unsigned i = 0; i < NSLOT; i++)
        if (slots[i].live)
            bytes += slots[i].usable, live++;
    for (unsigned i = 0; i < NBULK; i++)
        for (uint32_t k = 0; k < bulks[i].n; k++)
            if (bulks[i].p[k])
                bytes += bulks[i].usable, live++;
    if (st.bytes_in_use - stats_base_bytes != bytes)
        fuzz_fail("stats: bytes in use %llu above the start of the input, live blocks hold %llu",
                  (unsigned long long)(st.bytes_in_use - stats_base_bytes),
                  (unsigned long long)bytes);
    if (st.allocs - st.frees - stats_base_live != live)
        fuzz_fail("stats: allocs - frees = %lld above the start of the input, %llu blocks live",
                  (long long)(st.allocs - st.frees - stats_base_live), (unsigned long long)live);
}

static void exec_task(const task *t)
{
#ifdef HAK_FUZZ_REPLAY
    /* HAK_FUZZ_TRACE=1: one line per task (replay build only). */
    static const char *const task_name[] = {
        "alloc", "realloc", "free", "check", "bulk_alloc", "bulk_free", "restart", "bad", "stats",
    };
    static int trace = -1;
    if (trace < 0)
        trace = getenv("HAK_FUZZ_TRACE") != NULL;
    if (trace)
        fprintf(stderr,
                "task %zu: thread %u phase %u %s slot %u form %u size %zu align %zu count %u"
                " (slot now %p, usable %zu)\n",
                (size_t)(t - tasks), t->thread, t->phase, task_name[t->kind], t->slot, t->form,
                t->size, t->align, t->count, slots[t->slot % NSLOT].p,
                slots[t->slot % NSLOT].live ? slots[t->slot % NSLOT].usable : 0);
#endif
    switch (t->kind) {
    case T_ALLOC: exec_alloc(t); break;
    case T_REALLOC: exec_realloc(t); break;
    case T_FREE: exec_free(t); break;
    case T_CHECK: exec_check(t); break;
    case T_BULK_ALLOC: exec_bulk_alloc(t); break;
    case T_BULK_FREE: exec_bulk_free(t); break;
    case T_BAD: exec_bad(t); break;
    case T_STATS: exec_stats(t); break;
    default: fuzz_fail("internal: task kind %u", t->kind);
    }
}

/* Run the tasks of [lo, hi) that belong to thread `id`. */
static void exec_range(unsigned id, size_t lo, size_t hi)
{
    for (size_t k = lo; k < hi; k++)
        if (tasks[k].thread == id)
            exec_task(&tasks[k]);
}

/* ---- worker pool ---- */

typedef struct worker {
    pthread_t tid;
    sem_t go, done;
    size_t lo, hi;
    unsigned id;
    bool running, quit;
} worker;

static worker workers[MAX_THREADS]; /* [0] unused: thread 0 is the caller */

static void sem_wait_intr(sem_t *s)
{
    while (sem_wait(s) != 0)
        if (errno != EINTR)
            fuzz_fail("sem_wait: %s", strerror(errno));
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (;;) {
        sem_wait_intr(&w->go);
        if (w->quit)
            return NULL;
        exec_range(w->id, w->lo, w->hi);
        sem_post(&w->done);
    }
}

static worker *worker_get(unsigned id)
{
    worker *w = &workers[id];
    if (!w->running) {
        w->id = id;
        w->quit = false;
        if (sem_init(&w->go, 0, 0) != 0 || sem_init(&w->done, 0, 0) != 0)
            fuzz_fail("sem_init failed");
        int e = pthread_create(&w->tid, NULL, worker_main, w);
        if (e != 0)
            fuzz_fail("pthread_create: %s", strerror(e));
        w->running = true;
    }
    return w;
}

static void worker_start(unsigned id, size_t lo, size_t hi)
{
    worker *w = worker_get(id);
    w->lo = lo;
    w->hi = hi;
    sem_post(&w->go);
}

static void worker_wait(unsigned id) { sem_wait_intr(&workers[id].done); }

/* The worker's thread exits (its heap is released, its slabs abandoned
 * with whatever blocks are still live); the next task for it makes a new
 * one. */
static void worker_restart(unsigned id)
{
    worker *w = &workers[id];
    if (!w->running)
        return;
    w->quit = true;
    sem_post(&w->go);
    int e = pthread_join(w->tid, NULL);
    if (e != 0)
        fuzz_fail("pthread_join: %s", strerror(e));
    sem_destroy(&w->go);
    sem_destroy(&w->done);
    w->running = false;
}

static void run_tasks(void)
{
    size_t i = 0;
    while (i < ntasks) {
        const task *t = &tasks[i];
        size_t j = i + 1;
        if (t->kind == T_RESTART) {
            worker_restart(t->thread);
            i = j;
            continue;
        }
        if (t->phase == 0) {
            while (j < ntasks && tasks[j].phase == 0 && tasks[j].thread == t->thread &&
                   tasks[j].kind != T_RESTART)
                j++;
            if (t->thread == 0) {
                exec_range(0, i, j);
            } else {
                worker_start(t->thread, i, j);
                worker_wait(t->thread);
            }
        } else {
            bool used[MAX_THREADS] = { false };
            while (j < ntasks && tasks[j].phase == t->phase)
                j++;
            for (size_t k = i; k < j; k++)
                used[tasks[k].thread] = true;
            for (unsigned w = 1; w < MAX_THREADS; w++)
                if (used[w])
                    worker_start(w, i, j);
            exec_range(0, i, j);
            for (unsigned w = 1; w < MAX_THREADS; w++)
                if (used[w])
                    worker_wait(w);
        }
        i = j;
    }
}

/* ---- planner ---- */

typedef struct plan {
    unsigned nthreads, tiers;
    bool live[NSLOT];
    size_t req[NSLOT];         /* bytes charged to the cap */
    uint32_t bulk_live[NBULK]; /* live blocks */
    size_t bulk_size[NBULK];
    size_t live_bytes;
    int claim[NSLOT + NBULK];  /* thread that owns a slot in this phase, -1 none */
    uint16_t phase, phase_id;
    unsigned phase_left, restarts;
    uint64_t next_id;
} plan;

static task *emit(plan *pl, unsigned kind, unsigned thread)
{
    if (ntasks >= MAX_TASKS)
        return NULL;
    task *t = &tasks[ntasks++];
    memset(t, 0, sizeof *t);
    t->kind = (uint8_t)kind;
    t->thread = (uint8_t)thread;
    t->phase = pl->phase;
    t->id = pl->next_id++;
    return t;
}

/* May `thread` touch slot key (0..NSLOT-1 slots, then bulks) now? */
static bool claim(plan *pl, unsigned key, unsigned thread)
{
    if (pl->phase == 0)
        return true;
    if (pl->claim[key] < 0)
        pl->claim[key] = (int)thread;
    return pl->claim[key] == (int)thread;
}

/* A live slot `thread` may use, starting the search at s; -1 if none. */
static int pick_live(plan *pl, unsigned s, unsigned thread)
{
    for (unsigned k = 0; k < NSLOT; k++) {
        unsigned i = (s + k) % NSLOT;
        if (pl->live[i] && (pl->phase == 0 || pl->claim[i] < 0 || pl->claim[i] == (int)thread)) {
            claim(pl, i, thread);
            return (int)i;
        }
    }
    return -1;
}

static void plan_free(plan *pl, unsigned s, unsigned thread, unsigned form)
{
    task *t = emit(pl, T_FREE, thread);
    if (t == NULL)
        return;
    t->slot = (uint16_t)s;
    t->form = (uint8_t)form;
    pl->live[s] = false;
    pl->live_bytes -= pl->req[s];
    pl->req[s] = 0;
}

/* Make room in slot s for `bytes`: false if the cap forbids it.  A live
 * block in the slot is freed first (same thread). */
static bool plan_replace(plan *pl, unsigned s, unsigned thread, size_t bytes)
{
    size_t after = pl->live_bytes - (pl->live[s] ? pl->req[s] : 0) + bytes;
    if (after > LIVE_CAP || ntasks + 2 > MAX_TASKS)
        return false;
    if (pl->live[s])
        plan_free(pl, s, thread, FREE_PLAIN);
    return true;
}

static void plan_set_live(plan *pl, unsigned s, size_t bytes)
{
    pl->live[s] = true;
    pl->req[s] = bytes;
    pl->live_bytes += bytes;
}

static void plan_bulk_free(plan *pl, unsigned b, unsigned thread, unsigned order)
{
    task *t = emit(pl, T_BULK_FREE, thread);
    if (t == NULL)
        return;
    t->slot = (uint16_t)b;
    t->count = order;
    uint32_t n = pl->bulk_live[b];
    uint32_t left = (order & 4) ? n - (n + 1) / 2 : 0;
    pl->live_bytes -= (size_t)(n - left) * pl->bulk_size[b];
    pl->bulk_live[b] = left;
}

static void plan_end_phase(plan *pl)
{
    pl->phase = 0;
    pl->phase_left = 0;
    for (unsigned i = 0; i < NSLOT + NBULK; i++)
        pl->claim[i] = -1;
}

/* The slot and size arguments of an allocation op; when *nmemb is nonzero
 * on entry an element count follows, and the size becomes a multiple of it. */
static size_t rd_slot_size(reader *r, const plan *pl, unsigned *slot_out, size_t *nmemb)
{
    *slot_out = rd_u8(r) % NSLOT;
    size_t size = rd_size(r, pl->tiers);
    if (*nmemb) {
        *nmemb = nmemb_table[rd_u8(r) % 8];
        size -= size % *nmemb;
    }
    return size;
}

static void plan_op(plan *pl, reader *r)
{
    uint8_t op = rd_u8(r);
    unsigned kind = op & 15, thread = (op >> 4) % pl->nthreads;
    switch (kind) {
    case 0:   /* MALLOC */
    case 1: { /* CALLOC */
        unsigned s;
        size_t nmemb = kind == 1 ? 1 : 0, size = rd_slot_size(r, pl, &s, &nmemb);
        nmemb += nmemb == 0;
        if (!claim(pl, s, thread) || !plan_replace(pl, s, thread, size))
            return;
        task *t = emit(pl, T_ALLOC, thread);
        t->slot = (uint16_t)s;
        t->form = kind == 0 ? F_MALLOC : F_CALLOC;
        t->size = size;
        t->count = (uint32_t)nmemb;
        t->eff_align = 16;
        plan_set_live(pl, s, size);
        return;
    }
    case 2:   /* REALLOC */
    case 7: { /* REALLOCARRAY */
        unsigned s;
        size_t nmemb = kind == 7 ? 1 : 0, size = rd_slot_size(r, pl, &s, &nmemb);
        if (!claim(pl, s, thread))
            return;
        size_t after = pl->live_bytes - (pl->live[s] ? pl->req[s] : 0) + size;
        if (after > LIVE_CAP)
            return;
        task *t = emit(pl, T_REALLOC, thread);
        if (t == NULL)
            return;
        t->slot = (uint16_t)s;
        t->size = size;
        t->count = (uint32_t)nmemb;
        bool was_live = pl->live[s];
        if (pl->live[s]) {
            pl->live_bytes -= pl->req[s];
            pl->live[s] = false;
        }
        if (size != 0 || !was_live)
            plan_set_live(pl, s, size);
        return;
    }
    case 3:   /* FREE */
    case 4:   /* FREE_SIZED */
    case 14:  /* REALLOC0 */
    case 6: { /* HANDOFF: another thread frees it */
        unsigned s0 = rd_u8(r);
        if (kind == 6)
            thread = rd_u8(r) % pl->nthreads;
        int s = pick_live(pl, s0 % NSLOT, thread);
        static const uint8_t sized_form[4] = { FREE_SIZED, FREE_ALIGNED_UNSIZED, FREE_USABLE,
                                               FREE_ALIGNED_ANY };
        if (s >= 0)
            plan_free(pl, (unsigned)s, thread,
                      kind == 4 ? sized_form[s0 >> 6] : kind == 14 ? FREE_REALLOC0 : FREE_PLAIN);
        return;
    }
    case 5: { /* ALIGNED */
        unsigned s = rd_u8(r) % NSLOT;
        unsigned form = F_POSIX + rd_u8(r) % 5;
        size_t align = align_table[rd_u8(r) % NALIGN];
        size_t size = rd_size(r, pl->tiers);
        bool fail = false;
        size_t eff = align;
        switch (form) {
        case F_POSIX: fail = !is_pow2(align) || align < sizeof(void *); break;
        case F_ALIGNED_ALLOC: fail = !is_pow2(align); break;
        case F_MEMALIGN:
            if (!is_pow2(align)) {
                eff = 16;
                while (eff < align)
                    eff <<= 1;
            }
            break;
        default: eff = 4096; break;
        }
        if (eff < 16)
            eff = 16;
        size_t bytes = form == F_PVALLOC ? (size ? (size + 4095) & ~(size_t)4095 : 4096) : size;
        if (!claim(pl, s, thread))
            return;
        if (!fail && !plan_replace(pl, s, thread, bytes))
            return;
        task *t = emit(pl, T_ALLOC, thread);
        if (t == NULL)
            return;
        t->slot = (uint16_t)s;
        t->form = (uint8_t)form;
        t->size = size;
        t->align = align;
        t->eff_align = eff;
        t->expect_fail = fail;
        if (!fail)
            plan_set_live(pl, s, bytes);
        return;
    }
    case 8: { /* CHECK */
        int s = pick_live(pl, rd_u8(r) % NSLOT, thread);
        task *t = s >= 0 ? emit(pl, T_CHECK, thread) : NULL;
        if (t)
            t->slot = (uint16_t)s;
        return;
    }
    case 9: { /* PARALLEL */
        uint8_t n = rd_u8(r);
        if (pl->phase == 0 && pl->nthreads > 1) {
            pl->phase = ++pl->phase_id;
            pl->phase_left = 1 + n % 32;
        }
        return;
    }
    case 10: { /* BULK */
        unsigned b = rd_u8(r) % NBULK;
        uint32_t count = 1 + (uint32_t)rd_u8(r) * 2;
        unsigned small = pl->tiers & 3 ? pl->tiers & 3 : 1;
        size_t size = rd_size(r, small);
        unsigned form = rd_u8(r) % 3;
        size_t block = size < 16 ? 16 : size;
        if (count > BULK_BYTES / block)
            count = (uint32_t)(BULK_BYTES / block);
        if (!claim(pl, NSLOT + b, thread))
            return;
        if (pl->bulk_live[b])
            plan_bulk_free(pl, b, thread, 0);
        if (pl->live_bytes + (size_t)count * size > LIVE_CAP)
            return;
        task *t = emit(pl, T_BULK_ALLOC, thread);
        if (t == NULL)
            return;
        t->slot = (uint16_t)b;
        t->count = count;
        t->size = size;
        t->form = form == 0 ? F_MALLOC : form == 1 ? F_CALLOC : F_POSIX;
        pl->next_id += count;
        pl->bulk_live[b] = count;
        pl->bulk_size[b] = size;
        pl->live_bytes += (size_t)count * size;
        return;
    }
    case 11: { /* BULK_FREE */
        unsigned b = rd_u8(r) % NBULK;
        unsigned order = rd_u8(r) & 15;
        if (pl->bulk_live[b] && claim(pl, NSLOT + b, thread))
            plan_bulk_free(pl, b, thread, order);
        return;
    }
    case 12: /* RESTART */
        if (pl->phase == 0 && pl->nthreads > 1 && pl->restarts < MAX_RESTARTS) {
            pl->restarts++;
            emit(pl, T_RESTART, thread ? thread : 1);
        }
        return;
    case 13: { /* BAD */
        unsigned form = rd_u8(r) % 10;
        unsigned s0 = rd_u8(r);
        int s = form == 2 || form == 3 ? pick_live(pl, s0 % NSLOT, thread) : 0;
        task *t = emit(pl, T_BAD, thread);
        if (t == NULL)
            return;
        t->form = (uint8_t)form;
        if (s < 0) {
            /* No live slot this thread may touch: a request without one. */
            t->form = 0;
            s = 0;
        }
        t->slot = (uint16_t)s;
        t->size = s0;
        return;
    }
    default: { /* STATS */
        /* Printing is slow: only one argument value (not one fuzzers favour). */
        uint8_t print = rd_u8(r) == 0x37;
        task *t = emit(pl, T_STATS, thread);
        if (t)
            t->form = print;
        return;
    }
    }
}

/* ---- entry point ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static plan pl;
    reader r = { data, size, 0 };
    memset(&pl, 0, sizeof pl);
    memset(slots, 0, sizeof slots);
    for (unsigned b = 0; b < NBULK; b++)
        bulks[b].n = 0;
    ntasks = 0;
    pl.nthreads = 1 + rd_u8(&r) % MAX_THREADS;
    pl.tiers = rd_u8(&r) & 15;
    if (pl.tiers == 0)
        pl.tiers = 15;
    plan_end_phase(&pl);
    while (!rd_eof(&r) && ntasks + 4 < MAX_TASKS - NSLOT - NBULK) {
        bool in_phase = pl.phase != 0;
        plan_op(&pl, &r);
        if (in_phase && --pl.phase_left == 0)
            plan_end_phase(&pl);
    }
    plan_end_phase(&pl);
    /* Everything live is freed, spread over the threads and the forms. */
    static const uint8_t end_form[5] = { FREE_PLAIN, FREE_SIZED, FREE_ALIGNED_UNSIZED,
                                         FREE_USABLE, FREE_ALIGNED_ANY };
    for (unsigned s = 0; s < NSLOT; s++)
        if (pl.live[s])
            plan_free(&pl, s, s % pl.nthreads, end_form[s % 5]);
    for (unsigned b = 0; b < NBULK; b++)
        if (pl.bulk_live[b])
            plan_bulk_free(&pl, b, b % pl.nthreads, b & 3);
    emit(&pl, T_STATS, 0);

    struct hak_stats st;
    hak_stats_get(&st);
    stats_base_bytes = st.bytes_in_use;
    stats_base_live = st.allocs - st.frees;
    run_tasks();
    for (unsigned s = 0; s < NSLOT; s++)
        if (slots[s].live)
            fuzz_fail("internal: slot %u still live at the end", s);
    return 0;
}

#include "fuzz_main.h"
