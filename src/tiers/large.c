/*
 * large.c - Large tier: page runs in Large segments, the per-thread cache of
 * freed runs, in-place resize and decay purging.
 *
 * Locking: large_lock guards the segment list and every segment's bitmaps
 * and run_pages.  run_state is also read without the lock by misuse checks
 * (relaxed atomics); a run's state changes only by its allocator/freer.
 */
#include "tiers/large.h"

#include <errno.h>
#include <string.h>

#include "base/block.h"
#include "base/canary.h"
#include "base/counters.h"
#include "base/diag.h"
#include "base/segment_map.h"
#include "config/learned.h"
#include "config/options.h"
#include "config/secure.h"
#include "os/lock.h"
#include "os/os.h"

static hak_lock large_lock;
static hak_list large_segments; /* oldest first */
static size_t large_count;

#define LARGE_MAGIC_TAG 1u

/* ---- bitmap helpers (1024 bits) ---- */

static unsigned bits_next(const uint64_t *w, unsigned i, unsigned limit, bool set)
{
    while (i < limit) {
        uint64_t word = w[i >> 6];
        if (!set)
            word = ~word;
        word &= ~(uint64_t)0 << (i & 63);
        if (word) {
            unsigned r = (i & ~63u) + (unsigned)__builtin_ctzll(word);
            return r < limit ? r : limit;
        }
        i = (i & ~63u) + 64;
    }
    return limit;
}

static void bits_assign(uint64_t *w, unsigned i, unsigned n, bool set)
{
    while (n > 0) {
        unsigned bit = i & 63;
        unsigned k = 64 - bit < n ? 64 - bit : n;
        uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << bit;
        if (set)
            w[i >> 6] |= mask;
        else
            w[i >> 6] &= ~mask;
        i += k;
        n -= k;
    }
}

/* Set bits in [i, i+n). */
static unsigned bits_count(const uint64_t *w, unsigned i, unsigned n)
{
    unsigned c = 0;
    for (unsigned k = i; k < i + n;) {
        unsigned bit = k & 63;
        unsigned len = 64 - bit < i + n - k ? 64 - bit : i + n - k;
        uint64_t mask = (len == 64 ? ~(uint64_t)0 : (((uint64_t)1 << len) - 1)) << bit;
        c += (unsigned)__builtin_popcountll(w[k >> 6] & mask);
        k += len;
    }
    return c;
}

static bool bits_all(const uint64_t *w, unsigned i, unsigned n)
{
    return bits_next(w, i, i + n, false) >= i + n;
}

/* ---- segments ---- */

static hak_large_segment *large_segment_of(uintptr_t a)
{
    return (hak_large_segment *)(a & ~(uintptr_t)HAK_SEGMENT_MASK);
}

static unsigned large_usable_pages(const hak_large_segment *seg)
{
    return HAK_LARGE_PAGES - seg->first_page;
}

/* Guard pages (secure profile): the last page of every run is made
 * inaccessible, and so is the page after a segment's header. */
static unsigned large_guard(void) { return hak_secure.guard_pages ? 1 : 0; }

static bool large_guard_set(void *run, unsigned pages, bool on)
{
    char *last = (char *)run + ((size_t)(pages - 1) << HAK_PAGE_SHIFT);
    return hak_os_protect(last, HAK_PAGE_SIZE, !on);
}

static hak_large_segment *large_segment_new(void)
{
    hak_large_segment *seg = hak_os_map_aligned(HAK_SEGMENT_SIZE, HAK_SEGMENT_SIZE, 0);
    if (seg == NULL)
        return NULL;
    uintptr_t base = (uintptr_t)seg;
    seg->magic = hak_keys.header ^ base ^ LARGE_MAGIC_TAG;
    seg->first_page = (uint32_t)(hak_align_up(sizeof *seg, HAK_PAGE_SIZE) >> HAK_PAGE_SHIFT);
    if (large_guard()) {
        if (!hak_os_protect((char *)seg + ((size_t)seg->first_page << HAK_PAGE_SHIFT),
                            HAK_PAGE_SIZE, false)) {
            hak_os_unmap(seg, HAK_SEGMENT_SIZE);
            return NULL; /* no guard, no segment: the caller fails with ENOMEM */
        }
        seg->first_page++;
    }
    seg->free_pages = large_usable_pages(seg);
    bits_assign(seg->free_bits, seg->first_page, seg->free_pages, true);
    hak_segmap_set(base, 1, HAK_SEGMAP_LARGE);
    hak_stats_segment_mapped(HAK_SEGMENT_SIZE);
    return seg;
}

static void large_list_append(hak_large_segment *seg)
{
    hak_list_push_back(&large_segments, &seg->link);
    large_count++;
}

static void large_list_remove(hak_large_segment *seg)
{
    hak_list_remove(&large_segments, &seg->link);
    large_count--;
}

static hak_large_segment *large_seg_entry(hak_list_node *n)
{
    return n ? hak_list_entry(n, hak_large_segment, link) : NULL;
}

/* Lock held.  First page of a free run of `pages` whose address is a
 * multiple of align_pages pages, or HAK_LARGE_PAGES. */
static unsigned large_find(const hak_large_segment *seg, unsigned pages, unsigned align_pages)
{
    unsigned i = seg->first_page;
    for (;;) {
        i = bits_next(seg->free_bits, i, HAK_LARGE_PAGES, true);
        i = (unsigned)hak_align_up(i, align_pages);
        if (i + pages > HAK_LARGE_PAGES)
            return HAK_LARGE_PAGES;
        unsigned busy = bits_next(seg->free_bits, i, i + pages, false);
        if (busy == i + pages)
            return i;
        i = busy + 1;
    }
}

/* Pages [i, i+n) become the inside of a run: a page that headed a freed
 * run before must not pass for one (its stale state would turn a free of
 * an interior pointer into a "double free"). */
static void large_mark_interior(hak_large_segment *seg, unsigned i, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        /* relaxed: misuse-check reads only. */
        atomic_store_explicit(&seg->run_state[i + k], HAK_RUN_NONE, memory_order_relaxed);
}

/* Lock held.  Mark [i, i+pages) as one allocated run; returns its address. */
static void *large_take(hak_large_segment *seg, unsigned i, unsigned pages, bool *zeroed)
{
    unsigned dirty_pages = bits_count(seg->dirty_bits, i, pages);
    bool dirty = dirty_pages != 0;
    hak_retained_sub((size_t)dirty_pages << HAK_PAGE_SHIFT);
    bits_assign(seg->free_bits, i, pages, false);
    bits_assign(seg->dirty_bits, i, pages, false);
    seg->free_pages -= pages;
    seg->empty_since_ms = 0;
    seg->run_pages[i] = (uint16_t)pages;
    large_mark_interior(seg, i + 1, pages - 1);
    /* relaxed: misuse-check reads only. */
    atomic_store_explicit(&seg->run_state[i], HAK_RUN_ALLOCATED, memory_order_relaxed);
    /* Purged pages read as zero only with MADV_DONTNEED. */
    *zeroed = !dirty && hak_opt(HAK_OPT_PURGE_MODE) == 0;
    return (char *)seg + ((size_t)i << HAK_PAGE_SHIFT);
}

/* Lock held.  Pages [i, i+pages) become free (resident until purged). */
static void large_give_back(hak_large_segment *seg, unsigned i, unsigned pages, uint64_t now)
{
    bits_assign(seg->free_bits, i, pages, true);
    bits_assign(seg->dirty_bits, i, pages, true);
    hak_retained_add((size_t)pages << HAK_PAGE_SHIFT);
    seg->free_pages += pages;
    if (seg->dirty_since_ms == 0)
        seg->dirty_since_ms = now ? now : 1;
    if (seg->free_pages == large_usable_pages(seg))
        seg->empty_since_ms = now ? now : 1;
}

/* Lock held.  Release the run headed at page i. */
static void large_release_run(hak_large_segment *seg, unsigned i, uint64_t now)
{
    /* relaxed: misuse-check reads only. */
    atomic_store_explicit(&seg->run_state[i], HAK_RUN_FREED, memory_order_relaxed);
    if (large_guard() &&
        !large_guard_set((char *)seg + ((size_t)i << HAK_PAGE_SHIFT), seg->run_pages[i], false)) {
        /* Its guard page could not be made accessible again (mprotect out
         * of mappings): reusing the run would fault in the next owner's
         * data, so it stays out of use (leaked, never handed out). */
        return;
    }
    large_give_back(seg, i, seg->run_pages[i], now);
    hak_track_free((char *)seg + ((size_t)i << HAK_PAGE_SHIFT),
                   (size_t)seg->run_pages[i] << HAK_PAGE_SHIFT);
}

/* A cached run for class cls, or (round) for a larger class within the
 * rounding limit (learned, else large_round_pct).  *bytes gets the run's
 * size. */
static void *large_cache_take(hak_heap *h, unsigned cls, bool round, size_t *bytes)
{
    /* relaxed: any recent value of the learned limit will do. */
    uint32_t pct = atomic_load_explicit(&hak_learned_round_pct, memory_order_relaxed);
    if (pct == HAK_LEARNED_NONE)
        pct = (uint32_t)hak_opt(HAK_OPT_LARGE_ROUND_PCT);
    if (!round)
        pct = 0;
    size_t limit = hak_large_class_size[cls] + (size_t)hak_large_class_size[cls] * pct / 100;
    for (unsigned c = cls; c < HAK_LARGE_CLASSES && hak_large_class_size[c] <= limit; c++) {
        if (h->large.count[c] > 0) {
            *bytes = hak_large_class_size[c];
            h->large.bytes -= *bytes;
            return h->large.runs[c][--h->large.count[c]];
        }
    }
    return NULL;
}

/* Remember what the run headed at page i was allocated for (align 0: the
 * default), for the checks of sized and aligned frees. */
static void large_note_request(hak_large_segment *seg, unsigned i, size_t size, size_t align)
{
    unsigned shift = (unsigned)__builtin_ctzll(align > HAK_MIN_ALIGN ? align : HAK_MIN_ALIGN);
    seg->run_request[i] = (uint32_t)size << HAK_LARGE_REQUEST_SHIFT | shift;
}

/* A sized free is accepted from the smallest size of the request's class
 * up to the run's size, as a size within the class of a Tiny or Mid block
 * is: a caller may pass what malloc_usable_size said (the run may be a
 * cached one of a larger class), or any size the same request would have
 * had. */
static unsigned large_request_class(size_t size)
{
    return hak_large_class_of(size > HAK_MID_MAX ? size : HAK_MID_MAX + 1);
}

static void *large_alloc(hak_heap *h, size_t size, size_t align, bool round, bool *zeroed)
{
    size_t want = size > HAK_MID_MAX ? size : HAK_MID_MAX + 1;
    unsigned cls = hak_large_class_of(want);
    size_t bytes = hak_large_class_size[cls];
    unsigned pages = (unsigned)(bytes >> HAK_PAGE_SHIFT) + large_guard();

    if (h && align <= HAK_PAGE_SIZE) {
        void *p = large_cache_take(h, cls, round, &bytes);
        if (p) {
            hak_large_segment *seg = large_segment_of((uintptr_t)p);
            unsigned i = (unsigned)(((uintptr_t)p & HAK_SEGMENT_MASK) >> HAK_PAGE_SHIFT);
            /* relaxed: misuse-check reads only. */
            atomic_store_explicit(&seg->run_state[i], HAK_RUN_ALLOCATED, memory_order_relaxed);
            large_note_request(seg, i, size, align);
            h->large_stats.allocs++;
            h->large_stats.bytes_alloc += bytes;
            *zeroed = false;
            hak_track_alloc(p, bytes);
            return p;
        }
        h->large_cache_misses++;
    }

    unsigned align_pages = align > HAK_PAGE_SIZE ? (unsigned)(align >> HAK_PAGE_SHIFT) : 1;
    void *p = NULL;
    hak_lock_acquire(&large_lock);
    for (hak_large_segment *seg = large_seg_entry(large_segments.head); seg && !p;
         seg = large_seg_entry(seg->link.next)) {
        if (seg->free_pages < pages)
            continue;
        unsigned i = large_find(seg, pages, align_pages);
        if (i < HAK_LARGE_PAGES)
            p = large_take(seg, i, pages, zeroed);
    }
    hak_lock_release(&large_lock);
    if (p == NULL) {
        hak_large_segment *seg = large_segment_new();
        if (seg == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        hak_lock_acquire(&large_lock);
        large_list_append(seg);
        unsigned i = large_find(seg, pages, align_pages);
        p = large_take(seg, i, pages, zeroed);
        hak_lock_release(&large_lock);
    }
    if (large_guard() && !large_guard_set(p, pages, true)) {
        /* The secure profile promises the guard page: no guard, no block. */
        hak_large_segment *seg = large_segment_of((uintptr_t)p);
        hak_lock_acquire(&large_lock);
        large_release_run(seg, (unsigned)(((uintptr_t)p & HAK_SEGMENT_MASK) >> HAK_PAGE_SHIFT),
                          hak_os_now_ms());
        hak_lock_release(&large_lock);
        errno = ENOMEM;
        return NULL;
    }
    large_note_request(large_segment_of((uintptr_t)p),
                       (unsigned)(((uintptr_t)p & HAK_SEGMENT_MASK) >> HAK_PAGE_SHIFT), size, align);
    if (h) {
        h->large_stats.allocs++;
        h->large_stats.bytes_alloc += bytes;
    }
    hak_track_alloc(p, bytes);
    return p;
}

void *hak_large_alloc(hak_heap *h, size_t size, size_t align, bool *zeroed)
{
    return large_alloc(h, size, align, true, zeroed);
}

void *hak_large_alloc_exact(hak_heap *h, size_t size, size_t align, bool *zeroed)
{
    return large_alloc(h, size, align, false, zeroed);
}

/* Validate p as a live Large block; returns its segment and page. */
static hak_large_segment *large_check(const void *p, const char *op, unsigned *page)
{
    uintptr_t a = (uintptr_t)p;
    hak_large_segment *seg = large_segment_of(a);
    unsigned i = (unsigned)((a & HAK_SEGMENT_MASK) >> HAK_PAGE_SHIFT);
    if (hak_unlikely((a & (HAK_PAGE_SIZE - 1)) != 0 || i < seg->first_page))
        hak_fatal_ptr(op, p, "not the start of a Large block");
    /* relaxed: a state change by another thread would itself be misuse. */
    unsigned st = atomic_load_explicit(&seg->run_state[i], memory_order_relaxed);
    if (hak_unlikely(st != HAK_RUN_ALLOCATED)) {
        if (st == HAK_RUN_CACHED || st == HAK_RUN_FREED || st == HAK_RUN_QUARANTINED)
            hak_fatal_block(hak_diag_freed(op), p, "Large", (size_t)seg->run_pages[i] << HAK_PAGE_SHIFT);
        hak_fatal_ptr(op, p, "not the start of a Large block");
    }
    *page = i;
    return seg;
}

/* Usable bytes of the run headed at page i (its guard page excluded). */
static size_t large_run_bytes(const hak_large_segment *seg, unsigned i)
{
    return (size_t)(seg->run_pages[i] - large_guard()) << HAK_PAGE_SHIFT;
}

size_t hak_large_usable(const void *p)
{
    unsigned i;
    hak_large_segment *seg = large_check(p, "malloc_usable_size of invalid pointer", &i);
    return large_run_bytes(seg, i);
}

/* A sized or aligned free of the run headed at page i: does what it was
 * given match what the run was allocated for? */
static void large_check_request(const hak_large_segment *seg, unsigned i, const void *p,
                                size_t expected_size, size_t expected_align)
{
    size_t bytes = large_run_bytes(seg, i);
    size_t asked = seg->run_request[i] >> HAK_LARGE_REQUEST_SHIFT;
    unsigned asked_shift = seg->run_request[i] & ((1u << HAK_LARGE_REQUEST_SHIFT) - 1);
    if (expected_size && (expected_size > bytes ||
                          large_request_class(expected_size) < large_request_class(asked)))
        hak_fatal_mismatch(false, p, expected_size, "Large", bytes, asked);
    if (expected_align && (expected_align < HAK_MIN_ALIGN ? HAK_MIN_ALIGN : expected_align) !=
                              (size_t)1 << asked_shift)
        hak_fatal_mismatch(true, p, expected_align, "Large", bytes, (size_t)1 << asked_shift);
}

/* Run p (headed at page i of seg, `bytes` usable) is free: into h's run
 * cache if it fits there, else back to its segment. */
static void large_place(hak_heap *h, hak_large_segment *seg, unsigned i, void *p, size_t bytes)
{
    unsigned cls = hak_large_class_of(bytes > HAK_MID_MAX ? bytes : HAK_MID_MAX + 1);
    if (h != &hak_heap_empty && hak_large_class_size[cls] == bytes &&
        h->large.count[cls] < HAK_LARGE_CACHE_SLOTS &&
        h->large.bytes + bytes <= (size_t)hak_opt(HAK_OPT_LARGE_CACHE_LIMIT)) {
        /* relaxed: misuse-check reads only. */
        atomic_store_explicit(&seg->run_state[i], HAK_RUN_CACHED, memory_order_relaxed);
        h->large.runs[cls][h->large.count[cls]++] = p;
        h->large.bytes += bytes;
        hak_track_free(p, bytes);
        return;
    }
    uint64_t now = hak_os_now_ms();
    hak_lock_acquire(&large_lock);
    large_release_run(seg, i, now);
    hak_lock_release(&large_lock);
}

static unsigned large_page_of(uintptr_t a) { return (unsigned)((a & HAK_SEGMENT_MASK) >> HAK_PAGE_SHIFT); }

/* Run p leaves h's quarantine: it must read as zero still. */
static void large_quarantine_check(void *p, size_t bytes)
{
    hak_track_alloc(p, bytes);
    size_t at = hak_first_nonzero(p, bytes);
    if (hak_unlikely(at != bytes))
        hak_fatal_written(p, "Large", bytes, at);
}

static void *large_quarantine_pop(hak_heap *h)
{
    hak_large_cache *c = &h->large;
    void *p = c->quarantine[c->quarantine_oldest];
    c->quarantine_oldest = (c->quarantine_oldest + 1) % HAK_LARGE_QUARANTINE_MAX;
    c->quarantine_count--;
    hak_large_segment *seg = large_segment_of((uintptr_t)p);
    c->quarantine_bytes -= large_run_bytes(seg, large_page_of((uintptr_t)p));
    return p;
}

/* Hold freed run p (cleared) in h's quarantine.  The oldest runs leave
 * first as far as needed to stay within min(quarantine, ring size) runs
 * and HAK_LARGE_QUARANTINE_BYTES, each checked, for the run cache or their
 * segment. */
static void large_quarantine(hak_heap *h, hak_large_segment *seg, unsigned i, void *p, size_t bytes)
{
    hak_large_cache *c = &h->large;
    uint32_t limit = hak_secure.quarantine < HAK_LARGE_QUARANTINE_MAX ? hak_secure.quarantine
                                                                      : HAK_LARGE_QUARANTINE_MAX;
    while (c->quarantine_count > 0 &&
           (c->quarantine_count >= limit || c->quarantine_bytes + bytes > HAK_LARGE_QUARANTINE_BYTES)) {
        void *old = large_quarantine_pop(h);
        hak_large_segment *oseg = large_segment_of((uintptr_t)old);
        unsigned oi = large_page_of((uintptr_t)old);
        size_t obytes = large_run_bytes(oseg, oi);
        large_quarantine_check(old, obytes);
        large_place(h, oseg, oi, old, obytes);
    }
    /* relaxed: misuse-check reads only. */
    atomic_store_explicit(&seg->run_state[i], HAK_RUN_QUARANTINED, memory_order_relaxed);
    hak_track_free(p, bytes);
    c->quarantine[(c->quarantine_oldest + c->quarantine_count) % HAK_LARGE_QUARANTINE_MAX] = p;
    c->quarantine_count++;
    c->quarantine_bytes += bytes;
}

void hak_large_free(void *p, size_t expected_size, size_t expected_align)
{
    unsigned i;
    hak_large_segment *seg = large_check(p, "invalid free of", &i);
    size_t bytes = large_run_bytes(seg, i);
    if (hak_unlikely(expected_size | expected_align))
        large_check_request(seg, i, p, expected_size, expected_align);
    if (hak_secure.zero_on_free || hak_secure.quarantine)
        memset(p, 0, bytes);
    hak_heap *h = hak_heap_tls;
    if (h != &hak_heap_empty) {
        h->large_stats.frees++;
        h->large_stats.bytes_freed += bytes;
        if (hak_secure.quarantine) {
            large_quarantine(h, seg, i, p, bytes);
            return;
        }
    } else {
        hak_stat_add(&hak_gstats.heapless_large_frees, 1);
        hak_stat_add(&hak_gstats.heapless_large_bytes, bytes);
    }
    large_place(h, seg, i, p, bytes);
}

bool hak_large_resize(hak_heap *h, void *p, size_t new_size)
{
    unsigned i;
    hak_large_segment *seg = large_check(p, "realloc of invalid pointer", &i);
    size_t cur = large_run_bytes(seg, i);
    if (new_size > HAK_LARGE_MAX)
        return false;
    if (new_size <= cur && new_size >= cur / 2) {
        large_note_request(seg, i, new_size, 0);
        return true;
    }
    if (large_guard())
        return false; /* moving keeps the guard page rule simple */
    if (new_size <= HAK_MID_MAX)
        return false; /* a Mid block wastes less */
    unsigned want = (unsigned)(hak_large_class_size[hak_large_class_of(new_size)] >> HAK_PAGE_SHIFT);
    unsigned have = seg->run_pages[i];
    bool ok = false;
    uint64_t now = hak_os_now_ms();
    hak_lock_acquire(&large_lock);
    if (want < have) {
        seg->run_pages[i] = (uint16_t)want;
        large_give_back(seg, i + want, have - want, now);
        hak_track_free((char *)p + ((size_t)want << HAK_PAGE_SHIFT),
                       (size_t)(have - want) << HAK_PAGE_SHIFT);
        ok = true;
    } else if (i + want <= HAK_LARGE_PAGES && bits_all(seg->free_bits, i + have, want - have)) {
        hak_retained_sub((size_t)bits_count(seg->dirty_bits, i + have, want - have) << HAK_PAGE_SHIFT);
        bits_assign(seg->free_bits, i + have, want - have, false);
        bits_assign(seg->dirty_bits, i + have, want - have, false);
        seg->free_pages -= want - have;
        seg->run_pages[i] = (uint16_t)want;
        large_mark_interior(seg, i + have, want - have);
        hak_track_alloc((char *)p + ((size_t)have << HAK_PAGE_SHIFT),
                        (size_t)(want - have) << HAK_PAGE_SHIFT);
        ok = true;
    }
    hak_lock_release(&large_lock);
    if (ok)
        large_note_request(seg, i, new_size, 0);
    if (ok && h != NULL) {
        /* Keep bytes-in-use exact: account the resize as free + alloc. */
        h->large_stats.bytes_freed += (size_t)have << HAK_PAGE_SHIFT;
        h->large_stats.bytes_alloc += (size_t)want << HAK_PAGE_SHIFT;
    }
    return ok;
}

void hak_large_cache_flush(hak_heap *h)
{
    /* The quarantine first, each run checked outside the lock. */
    while (h->large.quarantine_count > 0) {
        void *p = large_quarantine_pop(h);
        hak_large_segment *seg = large_segment_of((uintptr_t)p);
        unsigned i = large_page_of((uintptr_t)p);
        large_quarantine_check(p, large_run_bytes(seg, i));
        hak_lock_acquire(&large_lock);
        large_release_run(seg, i, hak_os_now_ms());
        hak_lock_release(&large_lock);
    }
    if (h->large.bytes == 0)
        return;
    uint64_t now = hak_os_now_ms();
    hak_lock_acquire(&large_lock);
    for (unsigned cls = 0; cls < HAK_LARGE_CLASSES; cls++) {
        while (h->large.count[cls] > 0) {
            uintptr_t a = (uintptr_t)h->large.runs[cls][--h->large.count[cls]];
            large_release_run(large_segment_of(a),
                              (unsigned)((a & HAK_SEGMENT_MASK) >> HAK_PAGE_SHIFT), now);
        }
    }
    h->large.bytes = 0;
    hak_lock_release(&large_lock);
}

size_t hak_large_purge(uint64_t now_ms, bool force)
{
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    bool lazy = hak_opt(HAK_OPT_PURGE_MODE) == 1;
    size_t purged = 0;
    hak_large_segment *doomed = NULL;
    hak_lock_acquire(&large_lock);
    for (hak_large_segment *seg = large_seg_entry(large_segments.head), *next; seg; seg = next) {
        next = large_seg_entry(seg->link.next);
        if (seg->empty_since_ms && (force || now_ms - seg->empty_since_ms >= delay)) {
            /* Empty for a whole delay: give the mapping back.  Off the
             * list, its link chains the doomed ones. */
            large_list_remove(seg);
            seg->link.next = doomed ? &doomed->link : NULL;
            doomed = seg;
            continue;
        }
        if (!seg->dirty_since_ms || (!force && now_ms - seg->dirty_since_ms < delay))
            continue;
        unsigned i = seg->first_page;
        for (;;) {
            i = bits_next(seg->dirty_bits, i, HAK_LARGE_PAGES, true);
            if (i >= HAK_LARGE_PAGES)
                break;
            unsigned end = bits_next(seg->dirty_bits, i, HAK_LARGE_PAGES, false);
            hak_os_purge((char *)seg + ((size_t)i << HAK_PAGE_SHIFT),
                         (size_t)(end - i) << HAK_PAGE_SHIFT, lazy);
            purged += (size_t)(end - i) << HAK_PAGE_SHIFT;
            hak_retained_sub((size_t)(end - i) << HAK_PAGE_SHIFT);
            bits_assign(seg->dirty_bits, i, end - i, false);
            i = end;
        }
        seg->dirty_since_ms = 0;
    }
    hak_lock_release(&large_lock);
    while (doomed) {
        hak_large_segment *seg = doomed;
        doomed = large_seg_entry(seg->link.next);
        size_t resident = 0;
        for (unsigned w = 0; w < HAK_LARGE_WORDS; w++)
            resident += (size_t)__builtin_popcountll(seg->dirty_bits[w]) << HAK_PAGE_SHIFT;
        purged += resident;
        hak_retained_sub(resident);
        hak_segmap_set((uintptr_t)seg, 1, HAK_SEGMAP_NONE);
        hak_track_alloc(seg, HAK_SEGMENT_SIZE); /* no stale poison for a later mapping */
        hak_os_unmap(seg, HAK_SEGMENT_SIZE);
        hak_stats_segment_unmapped(HAK_SEGMENT_SIZE);
    }
    if (purged)
        hak_stats_purged(purged);
    return purged;
}

void hak_large_totals(size_t *mapped, size_t *dirty_free)
{
    size_t dirty = 0;
    hak_lock_acquire(&large_lock);
    *mapped = large_count * HAK_SEGMENT_SIZE;
    for (hak_list_node *n = large_segments.head; n; n = n->next) {
        const hak_large_segment *seg = large_seg_entry(n);
        for (unsigned w = 0; w < HAK_LARGE_WORDS; w++)
            dirty += (size_t)__builtin_popcountll(seg->dirty_bits[w]) << HAK_PAGE_SHIFT;
    }
    hak_lock_release(&large_lock);
    *dirty_free = dirty;
}

void hak_large_fork_prepare(void) { hak_lock_acquire(&large_lock); }
void hak_large_fork_parent(void) { hak_lock_release(&large_lock); }
void hak_large_fork_child(void) { hak_lock_reset(&large_lock); }
