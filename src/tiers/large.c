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

/* Segments filed by the length of their longest free run (exact, 1 to
 * HAK_LARGE_PAGES - 1 pages); bin 0 unused: a full segment is on none. */
static hak_list large_bins[HAK_LARGE_PAGES];
static uint64_t large_bin_bits[HAK_LARGE_WORDS];

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

/* The highest index below limit whose bit is `set`, or HAK_LARGE_PAGES. */
static unsigned bits_prev(const uint64_t *w, unsigned limit, bool set)
{
    for (unsigned k = (limit + 63) / 64; k-- > 0;) {
        uint64_t word = set ? w[k] : ~w[k];
        if ((limit & 63) && k == limit / 64)
            word &= ((uint64_t)1 << (limit & 63)) - 1;
        if (word)
            return k * 64 + 63 - (unsigned)__builtin_clzll(word);
    }
    return HAK_LARGE_PAGES;
}

static bool bits_test(const uint64_t *w, unsigned i)
{
    return (w[i >> 6] >> (i & 63)) & 1;
}

static void bits_set_one(uint64_t *w, unsigned i) { w[i >> 6] |= (uint64_t)1 << (i & 63); }
static void bits_clear_one(uint64_t *w, unsigned i) { w[i >> 6] &= ~((uint64_t)1 << (i & 63)); }

/* Mask of bits [lo, hi) of a word, 0 <= lo < hi <= 64. */
static uint64_t bits_mask(unsigned lo, unsigned hi)
{
    return (~(uint64_t)0 >> (64 - (hi - lo))) << lo;
}

/* Mask of the bits of [i, end) in word k, which holds some of them. */
static uint64_t bits_word_mask(unsigned k, unsigned i, unsigned end)
{
    unsigned lo = k == i >> 6 ? i & 63 : 0;
    unsigned hi = k == (end - 1) >> 6 ? end - (k << 6) : 64;
    return bits_mask(lo, hi);
}

/* Set or clear bits [i, i+n), n > 0. */
static void bits_assign(uint64_t *w, unsigned i, unsigned n, bool set)
{
    for (unsigned k = i >> 6, end = i + n; k <= (end - 1) >> 6; k++) {
        uint64_t mask = bits_word_mask(k, i, end);
        w[k] = set ? w[k] | mask : w[k] & ~mask;
    }
}

/* ---- segments ---- */

static hak_large_segment *large_segment_of(uintptr_t a)
{
    return (hak_large_segment *)(a & ~(uintptr_t)HAK_SEGMENT_MASK);
}

static unsigned large_page_of(const void *p)
{
    return (unsigned)(((uintptr_t)p & HAK_SEGMENT_MASK) >> HAK_PAGE_SHIFT);
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

static hak_large_segment *large_seg_entry(hak_list_node *n)
{
    return n ? hak_list_entry(n, hak_large_segment, link) : NULL;
}

static hak_large_segment *large_bin_entry(hak_list_node *n)
{
    return n ? hak_list_entry(n, hak_large_segment, bin_link) : NULL;
}

/* ---- free runs of a segment (large lock held) ----
 *
 * Every free page belongs to exactly one free run, and two free runs never
 * touch: a run given back merges with its free neighbours.  A free run of
 * n pages at page h has run_pages n at h and at h + n - 1 and is on the
 * segment's list of runs of n pages.  The segment is on the segment bin of
 * its longest free run. */

static void run_file(hak_large_segment *seg, unsigned h, unsigned n)
{
    seg->run_pages[h] = (uint16_t)n;
    seg->run_pages[h + n - 1] = (uint16_t)n;
    unsigned first = seg->bin_head[n];
    seg->free_next[h] = (uint16_t)first;
    seg->free_prev[h] = 0;
    if (first)
        seg->free_prev[first] = (uint16_t)h;
    else
        bits_set_one(seg->bin_bits, n);
    seg->bin_head[n] = (uint16_t)h;
    if (n > seg->longest)
        seg->longest = n;
}

/* Take the free run of n pages at h off its list; seg->longest may now be
 * stale (large_seg_refile puts it right). */
static void run_unfile(hak_large_segment *seg, unsigned h, unsigned n)
{
    unsigned next = seg->free_next[h], prev = seg->free_prev[h];
    if (prev)
        seg->free_next[prev] = (uint16_t)next;
    else
        seg->bin_head[n] = (uint16_t)next;
    if (next)
        seg->free_prev[next] = (uint16_t)prev;
    if (seg->bin_head[n] == 0)
        bits_clear_one(seg->bin_bits, n);
}

/* After the segment's free runs changed: bring longest up to date and
 * move the segment to the bin of it. */
static void large_seg_refile(hak_large_segment *seg)
{
    if (seg->longest && seg->bin_head[seg->longest] == 0) {
        unsigned l = bits_prev(seg->bin_bits, seg->longest, true);
        seg->longest = l < HAK_LARGE_PAGES ? l : 0;
    }
    if (seg->longest == seg->filed)
        return;
    if (seg->filed) {
        hak_list_remove(&large_bins[seg->filed], &seg->bin_link);
        if (hak_list_empty(&large_bins[seg->filed]))
            bits_clear_one(large_bin_bits, seg->filed);
    }
    seg->filed = seg->longest;
    if (seg->filed) {
        if (hak_list_empty(&large_bins[seg->filed]))
            bits_set_one(large_bin_bits, seg->filed);
        hak_list_push_front(&large_bins[seg->filed], &seg->bin_link);
    }
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
    run_file(seg, seg->first_page, seg->free_pages);
    hak_segmap_set(base, 1, HAK_SEGMAP_LARGE);
    hak_stats_segment_mapped(HAK_SEGMENT_SIZE);
    return seg;
}

static void large_list_append(hak_large_segment *seg)
{
    hak_list_push_back(&large_segments, &seg->link);
    large_count++;
    large_seg_refile(seg);
}

static void large_list_remove(hak_large_segment *seg)
{
    hak_list_remove(&large_segments, &seg->link);
    large_count--;
    seg->longest = 0;
    large_seg_refile(seg);
}

/* Lock held.  First page of a free run of `pages` whose address is a
 * multiple of align_pages pages, or HAK_LARGE_PAGES. */
static unsigned large_find_aligned(const hak_large_segment *seg, unsigned pages,
                                   unsigned align_pages)
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

/* Lock held.  The head of the free run holding free page i: the page
 * after the last busy one before it (the header's pages count as busy). */
static unsigned large_free_run_head(const hak_large_segment *seg, unsigned i)
{
    return bits_prev(seg->free_bits, i, false) + 1;
}

/* Lock held.  Pages [i, i+n), just taken off the free runs, become the
 * pages of one run at i or the tail of the run it grows: they leave the
 * free and dirty maps, and stale heads among them read NONE (a free of one
 * must report a pointer inside a block, not a freed block).  Returns how
 * many of them were dirty. */
static unsigned large_claim(hak_large_segment *seg, unsigned i, unsigned n, unsigned keep)
{
    unsigned dirty_pages = 0;
    for (unsigned k = i >> 6, end = i + n; k <= (end - 1) >> 6; k++) {
        uint64_t mask = bits_word_mask(k, i, end);
        if (seg->dirty_bits[k] & mask)
            dirty_pages += (unsigned)__builtin_popcountll(seg->dirty_bits[k] & mask);
        seg->free_bits[k] &= ~mask;
        seg->dirty_bits[k] &= ~mask;
        seg->old_bits[k] &= ~mask;
    }
    if (dirty_pages) {
        seg->dirty_pages -= dirty_pages;
        hak_retained_sub((size_t)dirty_pages << HAK_PAGE_SHIFT);
    }
    seg->free_pages -= n;
    seg->empty_since_ms = 0;
    for (unsigned k = bits_next(seg->mark_bits, i + keep, i + n, true); k < i + n;
         k = bits_next(seg->mark_bits, k + 1, i + n, true)) {
        /* relaxed: misuse-check reads only. */
        atomic_store_explicit(&seg->run_state[k], HAK_RUN_NONE, memory_order_relaxed);
        bits_clear_one(seg->mark_bits, k);
    }
    return dirty_pages;
}

/* Lock held.  Make [i, i+pages), a part of the free run of n pages at h,
 * one allocated run; the rest of the free run stays free. */
static void *large_take(hak_large_segment *seg, unsigned h, unsigned n, unsigned i,
                        unsigned pages, bool *zeroed)
{
    run_unfile(seg, h, n);
    if (i > h)
        run_file(seg, h, i - h);
    if (i + pages < h + n)
        run_file(seg, i + pages, h + n - i - pages);
    large_seg_refile(seg);
    unsigned dirty_pages = large_claim(seg, i, pages, 1);
    seg->run_pages[i] = (uint16_t)pages;
    bits_set_one(seg->mark_bits, i);
    /* relaxed: misuse-check reads only. */
    atomic_store_explicit(&seg->run_state[i], HAK_RUN_ALLOCATED, memory_order_relaxed);
    /* Purged pages read as zero only with MADV_DONTNEED. */
    *zeroed = dirty_pages == 0 && hak_opt(HAK_OPT_PURGE_MODE) == 0;
    return (char *)seg + ((size_t)i << HAK_PAGE_SHIFT);
}

/* Lock held.  Pages [i, i+pages) become free (resident until purged),
 * merged with the free runs around them. */
static void large_give_back(hak_large_segment *seg, unsigned i, unsigned pages, uint64_t now)
{
    unsigned h = i, n = pages;
    if (h > seg->first_page && bits_test(seg->free_bits, h - 1)) {
        unsigned before = seg->run_pages[h - 1];
        h -= before;
        n += before;
        run_unfile(seg, h, before);
    }
    if (i + pages < HAK_LARGE_PAGES && bits_test(seg->free_bits, i + pages)) {
        unsigned after = seg->run_pages[i + pages];
        n += after;
        run_unfile(seg, i + pages, after);
    }
    run_file(seg, h, n);
    large_seg_refile(seg);
    for (unsigned k = i >> 6, end = i + pages; k <= (end - 1) >> 6; k++) {
        uint64_t mask = bits_word_mask(k, i, end);
        seg->free_bits[k] |= mask;
        seg->dirty_bits[k] |= mask;
    }
    seg->dirty_pages += pages;
    hak_retained_add((size_t)pages << HAK_PAGE_SHIFT);
    seg->free_pages += pages;
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
    hak_track_free((char *)seg + ((size_t)i << HAK_PAGE_SHIFT),
                   (size_t)seg->run_pages[i] << HAK_PAGE_SHIFT);
    large_give_back(seg, i, seg->run_pages[i], now);
}

/* Lock held.  A run of `pages` pages aligned to align_pages pages from the
 * segments, or NULL if none has room. */
static void *large_segments_take(unsigned pages, unsigned align_pages, bool *zeroed)
{
    if (align_pages <= 1) {
        /* The segment whose longest free run fits best, and in it the
         * shortest free run that fits. */
        unsigned b = bits_next(large_bin_bits, pages, HAK_LARGE_PAGES, true);
        if (b >= HAK_LARGE_PAGES)
            return NULL;
        hak_large_segment *seg = large_bin_entry(large_bins[b].head);
        unsigned n = bits_next(seg->bin_bits, pages, HAK_LARGE_PAGES, true);
        unsigned h = seg->bin_head[n];
        return large_take(seg, h, n, h, pages, zeroed);
    }
    for (hak_large_segment *seg = large_seg_entry(large_segments.head); seg;
         seg = large_seg_entry(seg->link.next)) {
        if (seg->longest < pages)
            continue;
        unsigned i = large_find_aligned(seg, pages, align_pages);
        if (i < HAK_LARGE_PAGES) {
            unsigned h = large_free_run_head(seg, i);
            return large_take(seg, h, seg->run_pages[h], i, pages, zeroed);
        }
    }
    return NULL;
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
            unsigned i = large_page_of(p);
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
    hak_lock_acquire(&large_lock);
    void *p = large_segments_take(pages, align_pages, zeroed);
    hak_lock_release(&large_lock);
    if (p == NULL) {
        hak_large_segment *seg = large_segment_new();
        if (seg == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        hak_lock_acquire(&large_lock);
        large_list_append(seg);
        p = large_segments_take(pages, align_pages, zeroed);
        hak_lock_release(&large_lock);
    }
    if (large_guard() && !large_guard_set(p, pages, true)) {
        /* The secure profile promises the guard page: no guard, no block. */
        hak_large_segment *seg = large_segment_of((uintptr_t)p);
        hak_lock_acquire(&large_lock);
        large_release_run(seg, large_page_of(p), hak_os_coarse_ms());
        hak_lock_release(&large_lock);
        errno = ENOMEM;
        return NULL;
    }
    large_note_request(large_segment_of((uintptr_t)p), large_page_of(p), size, align);
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
    uint64_t now = hak_os_coarse_ms();
    hak_lock_acquire(&large_lock);
    large_release_run(seg, i, now);
    hak_lock_release(&large_lock);
}

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
    c->quarantine_bytes -= large_run_bytes(seg, large_page_of(p));
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
        unsigned oi = large_page_of(old);
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
    uint64_t now = hak_os_coarse_ms();
    hak_lock_acquire(&large_lock);
    if (want < have) {
        seg->run_pages[i] = (uint16_t)want;
        large_give_back(seg, i + want, have - want, now);
        hak_track_free((char *)p + ((size_t)want << HAK_PAGE_SHIFT),
                       (size_t)(have - want) << HAK_PAGE_SHIFT);
        ok = true;
    } else if (i + have < HAK_LARGE_PAGES && bits_test(seg->free_bits, i + have) &&
               seg->run_pages[i + have] >= want - have) {
        /* The free run right after the block is long enough: the block
         * takes the front of it. */
        unsigned e = i + have, n = seg->run_pages[e];
        run_unfile(seg, e, n);
        if (n > want - have)
            run_file(seg, i + want, n - (want - have));
        large_seg_refile(seg);
        large_claim(seg, e, want - have, 0);
        seg->run_pages[i] = (uint16_t)want;
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
        unsigned i = large_page_of(p);
        large_quarantine_check(p, large_run_bytes(seg, i));
        hak_lock_acquire(&large_lock);
        large_release_run(seg, i, hak_os_coarse_ms());
        hak_lock_release(&large_lock);
    }
    if (h->large.bytes == 0)
        return;
    uint64_t now = hak_os_coarse_ms();
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

/* Lock held.  Give back the dirty pages of seg that are set in bits (all
 * of them if bits is NULL); returns the bytes. */
static size_t large_purge_pages(hak_large_segment *seg, const uint64_t *bits, bool lazy)
{
    uint64_t due[HAK_LARGE_WORDS];
    for (unsigned w = 0; w < HAK_LARGE_WORDS; w++)
        due[w] = seg->dirty_bits[w] & (bits ? bits[w] : ~(uint64_t)0);
    size_t purged = 0;
    for (unsigned i = bits_next(due, seg->first_page, HAK_LARGE_PAGES, true); i < HAK_LARGE_PAGES;
         i = bits_next(due, i, HAK_LARGE_PAGES, true)) {
        unsigned end = bits_next(due, i, HAK_LARGE_PAGES, false);
        hak_os_purge((char *)seg + ((size_t)i << HAK_PAGE_SHIFT),
                     (size_t)(end - i) << HAK_PAGE_SHIFT, lazy);
        purged += (size_t)(end - i) << HAK_PAGE_SHIFT;
        bits_assign(seg->dirty_bits, i, end - i, false);
        seg->dirty_pages -= end - i;
        i = end;
    }
    if (purged)
        hak_retained_sub(purged);
    return purged;
}

/* Decay: each segment takes a snapshot of its dirty pages (old_bits) at
 * most every half delay, and the next snapshot gives back those still
 * dirty, so a free page stays resident between half a delay and a delay
 * (plus the lateness of the pass), never less than half: a program that
 * frees and allocates again reuses resident pages.  A delay of 0 gives
 * everything back at once. */
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
        if (seg->dirty_pages == 0)
            continue;
        if (force || delay == 0) {
            purged += large_purge_pages(seg, NULL, lazy);
        } else if (now_ms - seg->epoch_ms >= delay / 2) {
            purged += large_purge_pages(seg, seg->old_bits, lazy);
            memcpy(seg->old_bits, seg->dirty_bits, sizeof seg->old_bits);
            seg->epoch_ms = now_ms;
        }
    }
    hak_lock_release(&large_lock);
    while (doomed) {
        hak_large_segment *seg = doomed;
        doomed = large_seg_entry(seg->link.next);
        size_t resident = (size_t)seg->dirty_pages << HAK_PAGE_SHIFT;
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
        dirty += (size_t)large_seg_entry(n)->dirty_pages << HAK_PAGE_SHIFT;
    }
    hak_lock_release(&large_lock);
    *dirty_free = dirty;
}

void hak_large_fork_prepare(void) { hak_lock_acquire(&large_lock); }
void hak_large_fork_parent(void) { hak_lock_release(&large_lock); }
void hak_large_fork_child(void) { hak_lock_reset(&large_lock); }
