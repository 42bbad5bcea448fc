/*
 * huge.c - Huge blocks: runs of 64 KiB pages in Huge arenas (the run
 * engine of runs.h), or their own segment-aligned mapping.
 */
#include "tiers/huge.h"

#include <errno.h>
#include <string.h>

#include "base/block.h"
#include "base/counters.h"
#include "base/diag.h"
#include "base/segment_map.h"
#include "config/options.h"
#include "config/secure.h"
#include "os/lock.h"
#include "os/os.h"
#include "tiers/runs.h"

#define HUGE_MAGIC_TAG 2u
#define HUGE_CACHED_TAG 3u /* a freed mapping kept in the cache */
#define HUGE_ARENA_TAG 4u

/* Huge arenas: 64 MiB of 64 KiB pages, aligned to their size.  A block
 * there is a run of pages, best fit among the free runs of every arena, so
 * memory freed by one block is reused by the next whatever their sizes,
 * resident pages first faulted once; free pages decay like Large ones.
 * Blocks above HUGE_ARENA_MAX, with a larger alignment, or with guard
 * pages have their own mapping instead. */
#define HUGE_ARENA_SHIFT 26
#define HUGE_ARENA_PAGE_SHIFT 16
#define HUGE_ARENA_PAGE ((size_t)1 << HUGE_ARENA_PAGE_SHIFT)
#define HUGE_ARENA_MAX ((size_t)32 << 20)
_Static_assert((HUGE_ARENA_MAX << HAK_RUNS_REQUEST_SHIFT) <= UINT32_MAX,
               "an arena block's request and alignment fit a run record");
static hak_runs_pool huge_arena_pool; /* geometry: hak_huge_init */

void hak_huge_init(void)
{
    /* huge_thp: arenas are 64 MiB aligned to their size and hold blocks
     * of several MiB, so 2 MiB pages fault a block in with 1/512 of the
     * faults and map it with as few TLB entries; off by default, as the
     * first touch of a huge page can stall (hakmem.conf(5)).  Large
     * segments keep 4 KiB pages: their runs are 64 KiB-1 MiB, and a 2 MiB
     * page could pin several idle ones. */
    hak_runs_pool_setup(&huge_arena_pool, HUGE_ARENA_SHIFT, HUGE_ARENA_PAGE_SHIFT,
                        HAK_SEGMAP_HUGE_ARENA, HUGE_ARENA_TAG, hak_opt(HAK_OPT_HUGE_THP) != 0);
}

/* Freed mappings kept for reuse (a program that frees and allocates Huge
 * blocks again would otherwise fault every page in anew).  Counted as
 * retained memory, so retain_max and the decay apply; unmapped after the
 * purge delay.  Blocks with a larger alignment or guard pages are not
 * cached. */
#define HUGE_CACHE_SLOTS 8
#define HUGE_CACHE_MAX_MAP ((size_t)64 << 20)
typedef struct huge_cached {
    struct huge_header *hd;
    size_t map_size;
    uint64_t freed_ms;
} huge_cached;
static hak_lock huge_cache_lock;
static huge_cached huge_cache[HUGE_CACHE_SLOTS];
static unsigned huge_cache_count; /* huge_cache_lock */
/* relaxed mirror of huge_cache_count for a lock-free "empty" hint */
static _Atomic unsigned huge_cache_hint;

typedef struct huge_header {
    uint64_t magic;      /* hak_keys.header ^ address ^ HUGE_MAGIC_TAG */
    uintptr_t user;      /* the pointer handed out */
    size_t map_size;     /* bytes mapped from the header on */
    size_t head;         /* user - header */
    size_t tail_guard;   /* inaccessible bytes at the end (guard_pages) */
    size_t request;      /* the size asked for (sized frees are checked against it) */
    size_t align;        /* the alignment asked for, HAK_MIN_ALIGN at least */
} huge_header;
_Static_assert(sizeof(huge_header) <= 64, "the header fits before the smallest head");

/* Usable bytes: from the user pointer to the tail guard. */
static size_t huge_usable_of(const huge_header *hd)
{
    return hd->map_size - hd->head - hd->tail_guard;
}

/* Make the tail guard page of the mapping inaccessible (or not); false if
 * mprotect failed. */
static bool huge_tail_guard(huge_header *hd, bool on)
{
    if (hd->tail_guard == 0)
        return true;
    return hak_os_protect((char *)hd + hd->map_size - hd->tail_guard, hd->tail_guard, !on);
}

static size_t huge_regions(size_t map_size)
{
    return (map_size + HAK_SEGMENT_SIZE - 1) >> HAK_SEGMENT_SHIFT;
}

static void huge_mark(huge_header *hd)
{
    uintptr_t base = (uintptr_t)hd;
    size_t n = huge_regions(hd->map_size);
    hak_segmap_set(base, 1, HAK_SEGMAP_HUGE_HEAD);
    if (n > 1)
        hak_segmap_set(base + HAK_SEGMENT_SIZE, n - 1, HAK_SEGMAP_HUGE_TAIL);
}

static void huge_unmark(huge_header *hd)
{
    hak_segmap_set((uintptr_t)hd, huge_regions(hd->map_size), HAK_SEGMAP_NONE);
}

/* The smallest cached mapping of at least map_size bytes and at most
 * twice that, or NULL.  It is reused whole: trimming it would hand back
 * resident pages that the next larger request would fault in again. */
static huge_header *huge_cache_take(size_t map_size)
{
    /* relaxed: a hint; a stale zero only costs a fresh mapping. */
    if (atomic_load_explicit(&huge_cache_hint, memory_order_relaxed) == 0)
        return NULL;
    huge_header *hd = NULL;
    size_t have = 0;
    hak_lock_acquire(&huge_cache_lock);
    unsigned best = HUGE_CACHE_SLOTS;
    for (unsigned i = 0; i < huge_cache_count; i++) {
        size_t m = huge_cache[i].map_size;
        if (m >= map_size && m / 2 <= map_size &&
            (best == HUGE_CACHE_SLOTS || m < huge_cache[best].map_size))
            best = i;
    }
    if (best < HUGE_CACHE_SLOTS) {
        hd = huge_cache[best].hd;
        have = huge_cache[best].map_size;
        huge_cache[best] = huge_cache[--huge_cache_count];
        atomic_store_explicit(&huge_cache_hint, huge_cache_count, memory_order_relaxed);
    }
    hak_lock_release(&huge_cache_lock);
    if (hd == NULL)
        return NULL;
    hak_retained_sub(have);
    hd->map_size = have;
    hak_track_alloc((char *)hd + 64, have - 64);
    return hd;
}

/* Keep a freed mapping instead of unmapping it; false if it does not fit. */
static bool huge_cache_put(huge_header *hd)
{
    if (hd->head != 64 || hd->tail_guard != 0 || hd->map_size > HUGE_CACHE_MAX_MAP)
        return false;
    bool kept = false;
    /* Read before publishing: once in the cache (lock released), another
     * thread may take the mapping, or the purge may unmap it. */
    size_t map_size = hd->map_size;
    uint64_t now = hak_os_coarse_ms();
    hak_lock_acquire(&huge_cache_lock);
    if (huge_cache_count < HUGE_CACHE_SLOTS) {
        hd->magic = hak_keys.header ^ (uintptr_t)hd ^ HUGE_CACHED_TAG;
        hd->user = 0;
        hak_track_free((char *)hd + 64, map_size - 64);
        huge_cache[huge_cache_count++] = (huge_cached){ hd, map_size, now };
        atomic_store_explicit(&huge_cache_hint, huge_cache_count, memory_order_relaxed);
        /* Counted under the lock, before anyone can take it and subtract. */
        hak_retained_add(map_size);
        kept = true;
    }
    hak_lock_release(&huge_cache_lock);
    return kept;
}

static size_t huge_cache_purge(uint64_t now_ms, bool force)
{
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    huge_cached doomed[HUGE_CACHE_SLOTS];
    unsigned n = 0;
    hak_lock_acquire(&huge_cache_lock);
    for (unsigned i = 0; i < huge_cache_count;) {
        if (force || now_ms - huge_cache[i].freed_ms >= delay) {
            doomed[n++] = huge_cache[i];
            huge_cache[i] = huge_cache[--huge_cache_count];
            atomic_store_explicit(&huge_cache_hint, huge_cache_count, memory_order_relaxed);
        } else {
            i++;
        }
    }
    hak_lock_release(&huge_cache_lock);
    size_t bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        huge_header *hd = doomed[i].hd;
        hak_retained_sub(doomed[i].map_size);
        hd->magic = 0;
        hak_track_alloc(hd, doomed[i].map_size);
        hak_segmap_set((uintptr_t)hd, huge_regions(doomed[i].map_size), HAK_SEGMAP_NONE);
        hak_os_unmap(hd, doomed[i].map_size);
        hak_stats_segment_unmapped(doomed[i].map_size);
        bytes += doomed[i].map_size;
    }
    if (bytes)
        hak_stats_purged(bytes);
    return bytes;
}

size_t hak_huge_purge(uint64_t now_ms, bool force)
{
    return huge_cache_purge(now_ms, force) + hak_runs_purge(&huge_arena_pool, now_ms, force);
}

void hak_huge_totals(size_t *mapped, size_t *dirty_free)
{
    hak_runs_totals(&huge_arena_pool, mapped, dirty_free);
}

void hak_huge_fork_prepare(void)
{
    hak_lock_acquire(&huge_cache_lock);
    hak_lock_acquire(&huge_arena_pool.lock);
}

void hak_huge_fork_parent(void)
{
    hak_lock_release(&huge_arena_pool.lock);
    hak_lock_release(&huge_cache_lock);
}

void hak_huge_fork_child(void)
{
    hak_lock_reset(&huge_arena_pool.lock);
    hak_lock_reset(&huge_cache_lock);
}

/* ---- blocks in Huge arenas ---- */

static void *huge_block_alloc(size_t size, size_t align, bool *zeroed, size_t *usable);

static bool huge_arena_fits(size_t size, size_t align)
{
    return size <= HUGE_ARENA_MAX && align <= HUGE_ARENA_PAGE && !hak_secure.guard_pages;
}

static unsigned huge_arena_pages(size_t size)
{
    return (unsigned)(hak_align_up(size ? size : 1, HUGE_ARENA_PAGE) >> HUGE_ARENA_PAGE_SHIFT);
}

/* A block in an arena, or NULL if no arena can be mapped.  Not counted in
 * the statistics (the caller counts). */
static void *huge_arena_alloc(size_t size, size_t align, bool *zeroed)
{
    unsigned pages = huge_arena_pages(size);
    hak_lock_acquire(&huge_arena_pool.lock);
    void *p = hak_runs_take(&huge_arena_pool, pages, 1, zeroed);
    hak_lock_release(&huge_arena_pool.lock);
    if (p == NULL) {
        hak_runs_segment *arena = hak_runs_segment_new(&huge_arena_pool, false);
        if (arena == NULL)
            return NULL;
        uint64_t now = hak_os_coarse_ms();
        hak_lock_acquire(&huge_arena_pool.lock);
        hak_runs_add(&huge_arena_pool, arena, now);
        p = hak_runs_take(&huge_arena_pool, pages, 1, zeroed);
        hak_lock_release(&huge_arena_pool.lock);
    }
    uintptr_t a = (uintptr_t)p;
    hak_runs_note_request(hak_runs_segment_at(a, HUGE_ARENA_SHIFT),
                          hak_runs_page_at(a, HUGE_ARENA_SHIFT, HUGE_ARENA_PAGE_SHIFT), size, align);
    hak_track_alloc(p, (size_t)pages << HUGE_ARENA_PAGE_SHIFT);
    return p;
}

/* Validate p as a live block of an arena; returns the arena and page. */
static hak_runs_segment *huge_arena_check(const void *p, const char *op, unsigned *page)
{
    uintptr_t a = (uintptr_t)p;
    hak_runs_segment *arena = hak_runs_segment_at(a, HUGE_ARENA_SHIFT);
    unsigned i = hak_runs_page_at(a, HUGE_ARENA_SHIFT, HUGE_ARENA_PAGE_SHIFT);
    if (hak_unlikely((a & (HUGE_ARENA_PAGE - 1)) != 0))
        hak_fatal_ptr(op, p, "not the start of a Huge block");
    /* The header's own page reads NONE (as in large_check).  relaxed: a
     * state change by another thread would itself be misuse. */
    unsigned st = atomic_load_explicit(&arena->run[i].state, memory_order_relaxed);
    if (hak_unlikely(st != HAK_RUN_ALLOCATED)) {
        if (st == HAK_RUN_FREED)
            hak_fatal_block(hak_diag_freed(op), p, "Huge",
                            (size_t)arena->run[i].pages << HUGE_ARENA_PAGE_SHIFT);
        hak_fatal_ptr(op, p, "not the start of a Huge block");
    }
    *page = i;
    return arena;
}

static size_t huge_arena_usable(const hak_runs_segment *arena, unsigned i)
{
    return (size_t)arena->run[i].pages << HUGE_ARENA_PAGE_SHIFT;
}

/* The run at page i of the arena goes back to it (not counted). */
static void huge_arena_release(hak_runs_segment *arena, unsigned i)
{
    hak_track_free(hak_runs_address(&huge_arena_pool, arena, i), huge_arena_usable(arena, i));
    uint64_t now = hak_os_coarse_ms();
    hak_lock_acquire(&huge_arena_pool.lock);
    hak_runs_set_state(arena, i, HAK_RUN_FREED);
    hak_runs_give_back(&huge_arena_pool, arena, i, arena->run[i].pages, now);
    hak_lock_release(&huge_arena_pool.lock);
}

static void huge_arena_free(void *p, size_t expected_size, size_t expected_align)
{
    unsigned i;
    hak_runs_segment *arena = huge_arena_check(p, "invalid free of", &i);
    size_t usable = huge_arena_usable(arena, i);
    size_t asked = hak_runs_request_size(arena, i), asked_align = hak_runs_request_align(arena, i);
    /* Accepted: from the smallest size that covers the request's 4 KiB
     * pages up to the usable size, as a size within the class of a smaller
     * block is: malloc_usable_size's answer, or any size the same request
     * would have had. */
    if (hak_unlikely(expected_size) &&
        (expected_size > usable ||
         hak_align_up(expected_size, HAK_PAGE_SIZE) < hak_align_up(asked ? asked : 1, HAK_PAGE_SIZE)))
        hak_fatal_mismatch(false, p, expected_size, "Huge", usable, asked);
    if (hak_unlikely(expected_align) &&
        (expected_align < HAK_MIN_ALIGN ? HAK_MIN_ALIGN : expected_align) != asked_align)
        hak_fatal_mismatch(true, p, expected_align, "Huge", usable, asked_align);
    if (hak_secure.zero_on_free)
        memset(p, 0, usable);
    hak_stat_add(&hak_gstats.huge_frees, 1);
    atomic_fetch_sub_explicit(&hak_gstats.huge_bytes, usable, memory_order_relaxed);
    huge_arena_release(arena, i);
}

/* realloc of an arena block to size (> HAK_LARGE_MAX): in place when it
 * fits its pages or the free run after them, else moved. */
static void *huge_arena_realloc(void *p, size_t size)
{
    unsigned i;
    hak_runs_segment *arena = huge_arena_check(p, "realloc of invalid pointer", &i);
    unsigned have = arena->run[i].pages;
    size_t old_usable = huge_arena_usable(arena, i);
    if (size <= HUGE_ARENA_MAX) {
        unsigned want = huge_arena_pages(size);
        bool ok = want == have;
        if (!ok) {
            hak_lock_acquire(&huge_arena_pool.lock);
            if (want < have) {
                arena->run[i].pages = (uint16_t)want;
                /* Poisoned before the pages are given back: once the lock
                 * is released another thread may take and unpoison them
                 * (base/track.h). */
                hak_track_free((char *)p + ((size_t)want << HUGE_ARENA_PAGE_SHIFT),
                               (size_t)(have - want) << HUGE_ARENA_PAGE_SHIFT);
                hak_runs_give_back(&huge_arena_pool, arena, i + want, have - want,
                                   hak_os_coarse_ms());
                ok = true;
            } else {
                ok = hak_runs_grow(&huge_arena_pool, arena, i, have, want);
            }
            hak_lock_release(&huge_arena_pool.lock);
        }
        if (ok) {
            size_t usable = (size_t)want << HUGE_ARENA_PAGE_SHIFT;
            if (want > have)
                hak_track_alloc(p, usable);
            hak_runs_note_request(arena, i, size, 0);
            hak_stat_add(&hak_gstats.huge_bytes, usable);
            atomic_fetch_sub_explicit(&hak_gstats.huge_bytes, old_usable, memory_order_relaxed);
            return p;
        }
    }
    /* Moved: the statistics see the bytes change, not a free and a
     * malloc. */
    bool zeroed;
    size_t usable;
    void *q = huge_block_alloc(size, 0, &zeroed, &usable);
    if (q == NULL) {
        errno = ENOMEM;
        return NULL; /* p is untouched */
    }
    memcpy(q, p, old_usable < size ? old_usable : size);
    huge_arena_release(arena, i);
    hak_stat_add(&hak_gstats.huge_bytes, usable);
    atomic_fetch_sub_explicit(&hak_gstats.huge_bytes, old_usable, memory_order_relaxed);
    return q;
}

/* ---- blocks in their own mapping ---- */

/* A block of size bytes aligned to align, in an arena if it fits there and
 * one can be mapped, else in its own mapping; *usable gets its usable
 * bytes.  NULL if no memory can be mapped (errno not set).  Not counted in
 * the statistics. */
static void *huge_block_alloc(size_t size, size_t align, bool *zeroed, size_t *usable)
{
    if (align < HAK_MIN_ALIGN)
        align = HAK_MIN_ALIGN;
    size_t head = align <= 64 ? 64 : (align <= HAK_SEGMENT_SIZE ? align : HAK_SEGMENT_SIZE);
    size_t guard = hak_secure.guard_pages ? HAK_PAGE_SIZE : 0;
    if (guard && head < 2 * HAK_PAGE_SIZE)
        head = 2 * HAK_PAGE_SIZE; /* header page, then the leading guard page */
    if (size > HAK_ALLOC_MAX - head - guard || align > HAK_ALLOC_MAX / 2)
        return NULL;
    if (huge_arena_fits(size, align)) {
        /* An address space too tight for a new arena (RLIMIT_AS) still
         * has room for the block's own mapping. */
        void *p = huge_arena_alloc(size, align, zeroed);
        if (p != NULL) {
            *usable = (size_t)huge_arena_pages(size) << HUGE_ARENA_PAGE_SHIFT;
            return p;
        }
    }
    /* At least one byte: the user pointer must lie inside the mapping
     * (memalign(2 MiB, 0) would otherwise point one past its end). */
    size_t map_size = hak_align_up(head + (size ? size : 1), HAK_PAGE_SIZE) + guard;
    huge_header *hd = NULL;
    if (head == 64 && guard == 0)
        hd = huge_cache_take(map_size);
    *zeroed = hd == NULL; /* fresh mappings read as zero, cached ones do not */
    if (hd != NULL) {
        map_size = hd->map_size;
    } else {
        /* Header on a segment boundary; user = header + head aligned. */
        hd = align <= HAK_SEGMENT_SIZE ? hak_os_map_aligned(map_size, HAK_SEGMENT_SIZE, 0)
                                       : hak_os_map_aligned(map_size, align, head);
        if (hd == NULL)
            return NULL;
        hak_stats_segment_mapped(map_size);
    }
    hd->user = (uintptr_t)hd + head;
    hd->map_size = map_size;
    hd->head = head;
    hd->tail_guard = guard;
    hd->request = size;
    hd->align = align;
    hd->magic = hak_keys.header ^ (uintptr_t)hd ^ HUGE_MAGIC_TAG;
    if (guard && (!hak_os_protect((char *)hd->user - HAK_PAGE_SIZE, HAK_PAGE_SIZE, false) ||
                  !huge_tail_guard(hd, true))) {
        /* The secure profile promises both guards: no guard, no block.  (A
         * guarded mapping is never a cached one: it is ours to unmap.) */
        hak_os_unmap(hd, map_size);
        hak_stats_segment_unmapped(map_size);
        return NULL;
    }
    huge_mark(hd);
    *usable = huge_usable_of(hd);
    return (void *)hd->user;
}

void *hak_huge_alloc(size_t size, size_t align, bool *zeroed)
{
    size_t usable;
    void *p = huge_block_alloc(size, align, zeroed, &usable);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    hak_stat_add(&hak_gstats.huge_allocs, 1);
    hak_stat_add(&hak_gstats.huge_bytes, usable);
    return p;
}

static huge_header *huge_header_of(const void *p, const char *op)
{
    uintptr_t a = (uintptr_t)p;
    if (a != 0 && hak_segmap_get(a - 1) == HAK_SEGMAP_HUGE_HEAD) {
        huge_header *hd = (huge_header *)((a - 1) & ~(uintptr_t)HAK_SEGMENT_MASK);
        if (hd->magic == (hak_keys.header ^ (uintptr_t)hd ^ HUGE_MAGIC_TAG) && hd->user == a)
            return hd;
        if (hd->magic == (hak_keys.header ^ (uintptr_t)hd ^ HUGE_CACHED_TAG) && a == (uintptr_t)hd + 64)
            hak_fatal_ptr(hak_diag_freed(op), p, "Huge block");
    }
    hak_fatal_ptr(op, p, "not the start of a Huge block");
}

bool hak_huge_contains(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (hak_segmap_get(a) == HAK_SEGMAP_HUGE_ARENA)
        return true; /* every byte of an arena is ours */
    size_t r = a >> HAK_SEGMENT_SHIFT;
    /* Back to the head region (a mapping's regions are contiguous). */
    while (r > 0 && hak_segmap_get((uintptr_t)r << HAK_SEGMENT_SHIFT) == HAK_SEGMAP_HUGE_TAIL)
        r--;
    uintptr_t base = (uintptr_t)r << HAK_SEGMENT_SHIFT;
    if (r == 0 || hak_segmap_get(base) != HAK_SEGMAP_HUGE_HEAD)
        return false;
    const huge_header *hd = (const huge_header *)base;
    if (hd->magic != (hak_keys.header ^ base ^ HUGE_MAGIC_TAG) &&
        hd->magic != (hak_keys.header ^ base ^ HUGE_CACHED_TAG))
        return false;
    return a >= base && a - base < hd->map_size;
}

/* Pages a request of size bytes maps for a block with this head. */
static size_t huge_request_pages(const huge_header *hd, size_t size)
{
    return hak_align_up(hd->head + (size ? size : 1), HAK_PAGE_SIZE) >> HAK_PAGE_SHIFT;
}

void hak_huge_free(void *p, size_t expected_size, size_t expected_align)
{
    if (hak_segmap_get((uintptr_t)p) == HAK_SEGMAP_HUGE_ARENA) {
        huge_arena_free(p, expected_size, expected_align);
        return;
    }
    huge_header *hd = huge_header_of(p, "invalid free of");
    size_t usable = huge_usable_of(hd);
    /* Accepted: from the smallest size that maps the request's pages up to
     * the usable size, as a size within the class of a smaller block is:
     * malloc_usable_size's answer (a cached mapping may be larger), or any
     * size the same request would have had. */
    if (hak_unlikely(expected_size) &&
        (expected_size > usable ||
         huge_request_pages(hd, expected_size) < huge_request_pages(hd, hd->request)))
        hak_fatal_mismatch(false, p, expected_size, "Huge", usable, hd->request);
    if (hak_unlikely(expected_align) &&
        (expected_align < HAK_MIN_ALIGN ? HAK_MIN_ALIGN : expected_align) != hd->align)
        hak_fatal_mismatch(true, p, expected_align, "Huge", usable, hd->align);
    size_t map_size = hd->map_size;
    if (hak_secure.zero_on_free)
        memset(p, 0, usable);
    hak_stat_add(&hak_gstats.huge_frees, 1);
    atomic_fetch_sub_explicit(&hak_gstats.huge_bytes, usable, memory_order_relaxed);
    if (huge_cache_put(hd))
        return;
    hd->magic = 0;
    huge_unmark(hd);
    hak_os_unmap(hd, map_size);
    hak_stats_segment_unmapped(map_size);
}

size_t hak_huge_usable(const void *p)
{
    if (hak_segmap_get((uintptr_t)p) == HAK_SEGMAP_HUGE_ARENA) {
        unsigned i;
        const hak_runs_segment *arena =
            huge_arena_check(p, "malloc_usable_size of invalid pointer", &i);
        return huge_arena_usable(arena, i);
    }
    huge_header *hd = huge_header_of(p, "malloc_usable_size of invalid pointer");
    return huge_usable_of(hd);
}

static void huge_note_realloc(huge_header *hd, size_t size)
{
    hd->request = size;
    hd->align = HAK_MIN_ALIGN;
}

void *hak_huge_realloc(void *p, size_t size)
{
    if (hak_segmap_get((uintptr_t)p) == HAK_SEGMAP_HUGE_ARENA)
        return huge_arena_realloc(p, size);
    huge_header *hd = huge_header_of(p, "realloc of invalid pointer");
    size_t old_map = hd->map_size;
    size_t old_usable = huge_usable_of(hd);
    size_t guard = hd->tail_guard;
    if (size > HAK_ALLOC_MAX - hd->head - guard) {
        errno = ENOMEM;
        return NULL;
    }
    size_t new_map = hak_align_up(hd->head + size, HAK_PAGE_SIZE) + guard;
    /* From here on, p holds what realloc was asked for, at the default
     * alignment (realloc keeps no other), whether it moves or not. */
    if (new_map == old_map) {
        huge_note_realloc(hd, size);
        return p;
    }
    if (guard && new_map > old_map) {
        /* The leading guard page splits the mapping into several VMAs and
         * mremap grows or moves only one: allocate, copy, free. */
        bool zeroed;
        void *q = hak_huge_alloc(size, 0, &zeroed);
        if (q == NULL)
            return NULL; /* errno is ENOMEM, p is untouched */
        memcpy(q, p, old_usable);
        hak_huge_free(p, 0, 0);
        return q;
    }
    /* The old tail guard page becomes ordinary memory or goes away; the
     * new last page becomes the guard below.  If it cannot be opened, the
     * block cannot grow past it: p stays as it is. */
    if (!huge_tail_guard(hd, false)) {
        errno = ENOMEM;
        return NULL;
    }
    if (new_map < old_map) {
        /* Shrink in place: mremap never moves a shrinking mapping. */
        huge_unmark(hd);
        if (!hak_os_remap_inplace(hd, old_map, new_map)) {
            huge_mark(hd);
            huge_note_realloc(hd, size);
            return p;
        }
        hd->map_size = new_map;
        huge_mark(hd);
    } else if (hak_os_remap_inplace(hd, old_map, new_map)) {
        hd->map_size = new_map;
        huge_mark(hd);
    } else {
        /* Move: reserve a segment-aligned destination, then let the kernel
         * move the pages there (no copy). */
        huge_header *dst = hak_os_map_aligned(new_map, HAK_SEGMENT_SIZE, 0);
        if (dst == NULL) {
            huge_tail_guard(hd, true);
            errno = ENOMEM;
            return NULL;
        }
        huge_unmark(hd);
        if (!hak_os_remap_to(hd, old_map, new_map, dst)) {
            huge_mark(hd);
            huge_tail_guard(hd, true);
            hak_os_unmap(dst, new_map);
            errno = ENOMEM;
            return NULL;
        }
        hd = dst;
        hd->map_size = new_map;
        hd->user = (uintptr_t)hd + hd->head;
        hd->magic = hak_keys.header ^ (uintptr_t)hd ^ HUGE_MAGIC_TAG;
        huge_mark(hd);
    }
    /* Too late to fail: the block has its new size.  Should mprotect fail
     * here (out of mappings), it lives on without its tail guard. */
    (void)huge_tail_guard(hd, true);
    huge_note_realloc(hd, size);
    size_t new_usable = huge_usable_of(hd);
    hak_stat_add(&hak_gstats.huge_bytes, new_usable);
    atomic_fetch_sub_explicit(&hak_gstats.huge_bytes, old_usable, memory_order_relaxed);
    hak_stat_add(&hak_gstats.bytes_mapped, hd->map_size);
    atomic_fetch_sub_explicit(&hak_gstats.bytes_mapped, old_map, memory_order_relaxed);
    return (void *)hd->user;
}
