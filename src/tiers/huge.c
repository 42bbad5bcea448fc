/*
 * huge.c - Huge blocks: their own segment-aligned mapping.
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

#define HUGE_MAGIC_TAG 2u
#define HUGE_CACHED_TAG 3u /* a freed mapping kept in the cache */

/* Freed mappings kept for reuse: a program that frees and allocates Huge
 * blocks again would otherwise fault every page in anew.  A request is
 * served by the smallest cached mapping that fits, whole when it wastes
 * little, else by its tail, which the kernel moves into a new mapping
 * (mremap moves page table entries, not bytes); the rest stays cached
 * with its header at its segment-aligned start.  When none fits, the
 * largest is grown, in place if the address space after it is free.
 * Counted as retained memory, so retain_max and the decay apply; unmapped
 * after the purge delay.  Blocks with a larger alignment or guard pages
 * are not cached. */
#define HUGE_CACHE_SLOTS 16
#define HUGE_CACHE_MAX_MAP ((size_t)64 << 20)
/* A cached mapping this much larger than a request serves it whole. */
#define HUGE_REUSE_WASTE(need) ((need) / 8 > HAK_LARGE_MAX ? (need) / 8 : HAK_LARGE_MAX)
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

/* Unmap a mapping taken off the cache (its bytes no longer retained). */
static void huge_unmap_cached(const huge_cached *e)
{
    e->hd->magic = 0;
    hak_track_alloc(e->hd, e->map_size); /* no stale poison for a later mapping */
    hak_segmap_set((uintptr_t)e->hd, huge_regions(e->map_size), HAK_SEGMAP_NONE);
    hak_os_unmap(e->hd, e->map_size);
    hak_stats_segment_unmapped(e->map_size);
}

/* Lock held.  Take cache entry i off the cache. */
static void huge_cache_remove(unsigned i)
{
    huge_cache[i] = huge_cache[--huge_cache_count];
    /* relaxed: a hint, see huge_cache_take. */
    atomic_store_explicit(&huge_cache_hint, huge_cache_count, memory_order_relaxed);
}

/* A mapping of at least map_size bytes made of cached pages, its size in
 * *have, or NULL.  *fresh: none of it came from the cache (it reads as
 * zero).  At most one cached mapping goes into a block, so that every
 * block stays one kernel mapping (VMA), as mremap needs for realloc. */
static huge_header *huge_cache_take(size_t map_size, size_t *have, bool *fresh)
{
    *fresh = true;
    /* relaxed: a hint; a stale zero only costs a fresh mapping. */
    if (atomic_load_explicit(&huge_cache_hint, memory_order_relaxed) == 0)
        return NULL;
    hak_lock_acquire(&huge_cache_lock);
    unsigned best = HUGE_CACHE_SLOTS, largest = HUGE_CACHE_SLOTS;
    for (unsigned i = 0; i < huge_cache_count; i++) {
        size_t m = huge_cache[i].map_size;
        if (m >= map_size && (best == HUGE_CACHE_SLOTS || m < huge_cache[best].map_size))
            best = i;
        if (largest == HUGE_CACHE_SLOTS || m > huge_cache[largest].map_size)
            largest = i;
    }
    if (largest == HUGE_CACHE_SLOTS) {
        hak_lock_release(&huge_cache_lock);
        return NULL;
    }
    huge_cached e = huge_cache[best < HUGE_CACHE_SLOTS ? best : largest];
    char *src = (char *)e.hd;
    size_t len = e.map_size;
    if (best < HUGE_CACHE_SLOTS && e.map_size - map_size > HUGE_REUSE_WASTE(map_size)) {
        /* Its tail moves into the new block; the rest stays cached with
         * its header.  Regions wholly past its new end are unmarked now,
         * before the move, so that no mapping made there later is
         * unmarked by us. */
        size_t keep = e.map_size - map_size;
        src += keep;
        len = map_size;
        uintptr_t first_gone = hak_align_up((uintptr_t)src, HAK_SEGMENT_SIZE);
        uintptr_t end = hak_align_up((uintptr_t)e.hd + e.map_size, HAK_SEGMENT_SIZE);
        if (end > first_gone)
            hak_segmap_set(first_gone, (end - first_gone) >> HAK_SEGMENT_SHIFT, HAK_SEGMAP_NONE);
        huge_cache[best].map_size = keep;
        e.hd->map_size = keep;
    } else {
        /* All of it: reused as it is, or grown.  Its regions are ours but
         * no block's until it is one again. */
        huge_cache_remove(best < HUGE_CACHE_SLOTS ? best : largest);
        if (len < map_size)
            hak_segmap_set((uintptr_t)src, huge_regions(len), HAK_SEGMAP_NONE);
    }
    hak_retained_sub(len);
    hak_lock_release(&huge_cache_lock);
    *fresh = false;
    hak_track_alloc(src, len);
    if (len >= map_size && src == (char *)e.hd) {
        *have = len;
        return e.hd;
    }
    /* Grown in place when the address space after it is free. */
    if (len < map_size && hak_os_remap_inplace(src, len, map_size)) {
        hak_stat_add(&hak_gstats.bytes_mapped, map_size - len);
        *have = map_size;
        return (huge_header *)src;
    }
    /* Else moved (and grown) into a new segment-aligned mapping: the
     * kernel moves the page table entries, the pages stay. */
    char *dst = hak_os_map_aligned(map_size, HAK_SEGMENT_SIZE, 0);
    if (dst != NULL && !hak_os_remap_to(src, len, map_size, dst))
        *fresh = true;
    if (dst == NULL || *fresh)
        hak_os_unmap(src, len); /* out of mappings: the pages are lost */
    if (src == (char *)e.hd)
        hak_stats_segment_unmapped(len);
    else
        hak_stat_sub(&hak_gstats.bytes_mapped, len);
    if (dst == NULL) {
        *fresh = true;
        return NULL;
    }
    hak_stats_segment_mapped(map_size);
    hak_track_alloc(dst, map_size);
    *have = map_size;
    return (huge_header *)dst;
}

/* Keep a freed mapping instead of unmapping it; false if it does not fit.
 * A full cache gives up its smallest mapping for a larger one. */
static bool huge_cache_put(huge_header *hd)
{
    if (hd->head != 64 || hd->tail_guard != 0 || hd->map_size > HUGE_CACHE_MAX_MAP)
        return false;
    /* Read before publishing: once in the cache (lock released), another
     * thread may take the mapping, or the purge may unmap it. */
    size_t map_size = hd->map_size;
    uint64_t now = hak_os_coarse_ms();
    huge_cached evicted = { NULL, 0, 0 };
    hak_lock_acquire(&huge_cache_lock);
    if (huge_cache_count == HUGE_CACHE_SLOTS) {
        unsigned small = 0;
        for (unsigned i = 1; i < HUGE_CACHE_SLOTS; i++)
            if (huge_cache[i].map_size < huge_cache[small].map_size)
                small = i;
        if (huge_cache[small].map_size < map_size) {
            evicted = huge_cache[small];
            huge_cache_remove(small);
            hak_retained_sub(evicted.map_size);
        }
    }
    bool kept = huge_cache_count < HUGE_CACHE_SLOTS;
    if (kept) {
        hd->magic = hak_keys.header ^ (uintptr_t)hd ^ HUGE_CACHED_TAG;
        hd->user = 0;
        hak_track_free((char *)hd + 64, map_size - 64);
        huge_cache[huge_cache_count++] = (huge_cached){ hd, map_size, now };
        atomic_store_explicit(&huge_cache_hint, huge_cache_count, memory_order_relaxed);
        /* Counted under the lock, before anyone can take it and subtract. */
        hak_retained_add(map_size);
    }
    hak_lock_release(&huge_cache_lock);
    if (evicted.hd != NULL)
        huge_unmap_cached(&evicted);
    return kept;
}

size_t hak_huge_cache_purge(uint64_t now_ms, bool force)
{
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    huge_cached doomed[HUGE_CACHE_SLOTS];
    unsigned n = 0;
    size_t bytes = 0;
    hak_lock_acquire(&huge_cache_lock);
    for (unsigned i = 0; i < huge_cache_count;) {
        if (force || now_ms - huge_cache[i].freed_ms >= delay) {
            doomed[n++] = huge_cache[i];
            bytes += huge_cache[i].map_size;
            huge_cache_remove(i);
        } else {
            i++;
        }
    }
    hak_lock_release(&huge_cache_lock);
    hak_retained_sub(bytes);
    for (unsigned i = 0; i < n; i++)
        huge_unmap_cached(&doomed[i]);
    if (bytes)
        hak_stats_purged(bytes);
    return bytes;
}

void hak_huge_fork_prepare(void) { hak_lock_acquire(&huge_cache_lock); }
void hak_huge_fork_parent(void) { hak_lock_release(&huge_cache_lock); }
void hak_huge_fork_child(void) { hak_lock_reset(&huge_cache_lock); }

void *hak_huge_alloc(size_t size, size_t align, bool *zeroed)
{
    if (align < HAK_MIN_ALIGN)
        align = HAK_MIN_ALIGN;
    size_t head = align <= 64 ? 64 : (align <= HAK_SEGMENT_SIZE ? align : HAK_SEGMENT_SIZE);
    size_t guard = hak_secure.guard_pages ? HAK_PAGE_SIZE : 0;
    if (guard && head < 2 * HAK_PAGE_SIZE)
        head = 2 * HAK_PAGE_SIZE; /* header page, then the leading guard page */
    if (size > HAK_ALLOC_MAX - head - guard || align > HAK_ALLOC_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    /* At least one byte: the user pointer must lie inside the mapping
     * (memalign(2 MiB, 0) would otherwise point one past its end). */
    size_t map_size = hak_align_up(head + (size ? size : 1), HAK_PAGE_SIZE) + guard;
    huge_header *hd = NULL;
    bool fresh = true;
    if (head == 64 && guard == 0)
        hd = huge_cache_take(map_size, &map_size, &fresh);
    *zeroed = fresh; /* fresh mappings read as zero, cached pages do not */
    if (hd == NULL) {
        /* Header on a segment boundary; user = header + head aligned. */
        hd = align <= HAK_SEGMENT_SIZE ? hak_os_map_aligned(map_size, HAK_SEGMENT_SIZE, 0)
                                       : hak_os_map_aligned(map_size, align, head);
        if (hd == NULL) {
            errno = ENOMEM;
            return NULL;
        }
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
        errno = ENOMEM;
        return NULL;
    }
    huge_mark(hd);
    hak_stat_add(&hak_gstats.huge_allocs, 1);
    hak_stat_add(&hak_gstats.huge_bytes, huge_usable_of(hd));
    return (void *)hd->user;
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
