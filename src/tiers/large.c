/*
 * large.c - Large tier: class-sized runs of 4 KiB pages in 4 MiB segments
 * (the run engine of runs.h), the per-thread cache of freed runs, guard
 * pages, in-place resize and the misuse checks.
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
#include "tiers/runs.h"

#define LARGE_MAGIC_TAG 1u

static hak_runs_pool large_pool; /* geometry: hak_large_init */

void hak_large_init(void)
{
    hak_runs_pool_setup(&large_pool, HAK_SEGMENT_SHIFT, HAK_PAGE_SHIFT, HAK_SEGMAP_LARGE,
                        LARGE_MAGIC_TAG, false);
}

static hak_runs_segment *large_segment_of(const void *p)
{
    return hak_runs_segment_at((uintptr_t)p, HAK_SEGMENT_SHIFT);
}

static unsigned large_page_of(const void *p)
{
    return hak_runs_page_at((uintptr_t)p, HAK_SEGMENT_SHIFT, HAK_PAGE_SHIFT);
}

/* Guard pages (secure profile): the last page of every run is made
 * inaccessible, and so is the page after a segment's header. */
static unsigned large_guard(void) { return hak_secure.guard_pages ? 1 : 0; }

static bool large_guard_set(void *run, unsigned pages, bool on)
{
    char *last = (char *)run + ((size_t)(pages - 1) << HAK_PAGE_SHIFT);
    return hak_os_protect(last, HAK_PAGE_SIZE, !on);
}

/* Lock held.  Release the run headed at page i. */
static void large_release_run(hak_runs_segment *seg, unsigned i, uint64_t now)
{
    hak_runs_set_state(seg, i, HAK_RUN_FREED);
    void *run = hak_runs_address(&large_pool, seg, i);
    if (large_guard() && !large_guard_set(run, seg->run[i].pages, false)) {
        /* Its guard page could not be made accessible again (mprotect out
         * of mappings): reusing the run would fault in the next owner's
         * data, so it stays out of use (leaked, never handed out). */
        return;
    }
    hak_track_free(run, (size_t)seg->run[i].pages << HAK_PAGE_SHIFT);
    hak_runs_give_back(&large_pool, seg, i, seg->run[i].pages, now);
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
            hak_runs_segment *seg = large_segment_of(p);
            unsigned i = large_page_of(p);
            hak_runs_set_state(seg, i, HAK_RUN_ALLOCATED);
            hak_runs_note_request(seg, i, size, align);
            h->large_stats.allocs++;
            h->large_stats.bytes_alloc += bytes;
            *zeroed = false;
            hak_track_alloc(p, bytes);
            return p;
        }
        h->large_cache_misses++;
    }

    unsigned align_pages = align > HAK_PAGE_SIZE ? (unsigned)(align >> HAK_PAGE_SHIFT) : 1;
    hak_lock_acquire(&large_pool.lock);
    void *p = hak_runs_take(&large_pool, pages, align_pages, zeroed);
    hak_lock_release(&large_pool.lock);
    if (p == NULL) {
        hak_runs_segment *seg = hak_runs_segment_new(&large_pool, large_guard());
        if (seg == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        uint64_t now = hak_os_coarse_ms();
        hak_lock_acquire(&large_pool.lock);
        hak_runs_add(&large_pool, seg, now);
        p = hak_runs_take(&large_pool, pages, align_pages, zeroed);
        hak_lock_release(&large_pool.lock);
    }
    if (large_guard() && !large_guard_set(p, pages, true)) {
        /* The secure profile promises the guard page: no guard, no block. */
        hak_runs_segment *seg = large_segment_of(p);
        hak_lock_acquire(&large_pool.lock);
        large_release_run(seg, large_page_of(p), hak_os_coarse_ms());
        hak_lock_release(&large_pool.lock);
        errno = ENOMEM;
        return NULL;
    }
    hak_runs_note_request(large_segment_of(p), large_page_of(p), size, align);
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

/* p failed large_check: say why, and abort.  seg: NULL when p is not even
 * a page start, else p's segment, page i (a header page's record reads
 * NONE: "not the start"). */
static hak_noreturn hak_cold void large_check_failed(const void *p, const char *op,
                                                     const hak_runs_segment *seg, unsigned i)
{
    if (seg != NULL) {
        /* relaxed: as in large_check. */
        unsigned st = atomic_load_explicit(&seg->run[i].state, memory_order_relaxed);
        if (st == HAK_RUN_CACHED || st == HAK_RUN_FREED || st == HAK_RUN_QUARANTINED)
            hak_fatal_block(hak_diag_freed(op), p, "Large", (size_t)seg->run[i].pages << HAK_PAGE_SHIFT);
    }
    hak_fatal_ptr(op, p, "not the start of a Large block");
}

/* Validate p as a live Large block; returns its segment and page.  Inline,
 * with the reports out of line: it is most of realloc's in-place case
 * (hak_large_fits). */
hak_inline hak_runs_segment *large_check(const void *p, const char *op, unsigned *page)
{
    uintptr_t a = (uintptr_t)p;
    hak_runs_segment *seg = large_segment_of(p);
    unsigned i = large_page_of(p);
    if (hak_unlikely((a & (HAK_PAGE_SIZE - 1)) != 0))
        large_check_failed(p, op, NULL, 0);
    /* A page of the header itself is never a run head: its record reads
     * NONE, so this one test rejects it too, without the header's first
     * line.  relaxed: a state change by another thread would itself be
     * misuse. */
    if (hak_unlikely(atomic_load_explicit(&seg->run[i].state, memory_order_relaxed) !=
                     HAK_RUN_ALLOCATED))
        large_check_failed(p, op, seg, i);
    *page = i;
    return seg;
}

/* Usable bytes of the run headed at page i (its guard page excluded). */
static size_t large_run_bytes(const hak_runs_segment *seg, unsigned i)
{
    return (size_t)(seg->run[i].pages - large_guard()) << HAK_PAGE_SHIFT;
}

size_t hak_large_usable(const void *p)
{
    unsigned i;
    hak_runs_segment *seg = large_check(p, "malloc_usable_size of invalid pointer", &i);
    return large_run_bytes(seg, i);
}

/* A sized or aligned free of the run headed at page i: does what it was
 * given match what the run was allocated for? */
static void large_check_request(const hak_runs_segment *seg, unsigned i, const void *p,
                                size_t expected_size, size_t expected_align)
{
    size_t bytes = large_run_bytes(seg, i);
    size_t asked = hak_runs_request_size(seg, i);
    size_t asked_align = hak_runs_request_align(seg, i);
    if (expected_size && (expected_size > bytes ||
                          large_request_class(expected_size) < large_request_class(asked)))
        hak_fatal_mismatch(false, p, expected_size, "Large", bytes, asked);
    if (expected_align &&
        (expected_align < HAK_MIN_ALIGN ? HAK_MIN_ALIGN : expected_align) != asked_align)
        hak_fatal_mismatch(true, p, expected_align, "Large", bytes, asked_align);
}

/* Run p (headed at page i of seg, `bytes` usable) is free: into h's run
 * cache if it fits there, else back to its segment. */
static void large_place(hak_heap *h, hak_runs_segment *seg, unsigned i, void *p, size_t bytes)
{
    unsigned cls = hak_large_class_of(bytes > HAK_MID_MAX ? bytes : HAK_MID_MAX + 1);
    if (h != &hak_heap_empty && hak_large_class_size[cls] == bytes &&
        h->large.count[cls] < HAK_LARGE_CACHE_SLOTS &&
        h->large.bytes + bytes <= (size_t)hak_opt(HAK_OPT_LARGE_CACHE_LIMIT)) {
        hak_runs_set_state(seg, i, HAK_RUN_CACHED);
        h->large.runs[cls][h->large.count[cls]++] = p;
        h->large.bytes += bytes;
        hak_track_free(p, bytes);
        return;
    }
    uint64_t now = hak_os_coarse_ms();
    hak_lock_acquire(&large_pool.lock);
    large_release_run(seg, i, now);
    hak_lock_release(&large_pool.lock);
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
    hak_runs_segment *seg = large_segment_of(p);
    c->quarantine_bytes -= large_run_bytes(seg, large_page_of(p));
    return p;
}

/* Hold freed run p (cleared) in h's quarantine.  The oldest runs leave
 * first as far as needed to stay within min(quarantine, ring size) runs
 * and HAK_LARGE_QUARANTINE_BYTES, each checked, for the run cache or their
 * segment. */
static void large_quarantine(hak_heap *h, hak_runs_segment *seg, unsigned i, void *p, size_t bytes)
{
    hak_large_cache *c = &h->large;
    uint32_t limit = hak_secure.quarantine < HAK_LARGE_QUARANTINE_MAX ? hak_secure.quarantine
                                                                      : HAK_LARGE_QUARANTINE_MAX;
    while (c->quarantine_count > 0 &&
           (c->quarantine_count >= limit || c->quarantine_bytes + bytes > HAK_LARGE_QUARANTINE_BYTES)) {
        void *old = large_quarantine_pop(h);
        hak_runs_segment *oseg = large_segment_of(old);
        unsigned oi = large_page_of(old);
        size_t obytes = large_run_bytes(oseg, oi);
        large_quarantine_check(old, obytes);
        large_place(h, oseg, oi, old, obytes);
    }
    hak_runs_set_state(seg, i, HAK_RUN_QUARANTINED);
    hak_track_free(p, bytes);
    c->quarantine[(c->quarantine_oldest + c->quarantine_count) % HAK_LARGE_QUARANTINE_MAX] = p;
    c->quarantine_count++;
    c->quarantine_bytes += bytes;
}

void hak_large_free(void *p, size_t expected_size, size_t expected_align)
{
    unsigned i;
    hak_runs_segment *seg = large_check(p, "invalid free of", &i);
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

/* Does a run of cur usable bytes keep new_size where it is?  Not when more
 * than half of it would lie idle: shrinking then gives pages back. */
static bool large_run_keeps(size_t cur, size_t new_size)
{
    return new_size <= cur && new_size >= cur / 2;
}

bool hak_large_fits(void *p, size_t new_size)
{
    unsigned i;
    hak_runs_segment *seg = large_check(p, "realloc of invalid pointer", &i);
    if (!large_run_keeps(large_run_bytes(seg, i), new_size))
        return false;
    hak_runs_note_request(seg, i, new_size, 0);
    return true;
}

/* Lock held.  A run grows in place only into the free run after it.  If
 * the run after it is one h holds in its run cache (a block the program
 * freed there, as a growing buffer frees the one it moved out of), and it
 * would make the room with the free run behind it, it leaves the cache and
 * goes back to the segment first, where it merges.  A run another heap
 * caches stays: only its heap may touch its cache.  In bench/
 * realloc_growth, whose buffers sit side by side and are freed and grown
 * in turn, memcpy copied 14% fewer bytes (537 M instructions of it in
 * 800 k reallocs, now 463 M). */
static void large_uncache_next(hak_heap *h, hak_runs_segment *seg, unsigned e, unsigned need,
                               uint64_t now)
{
    if (h == NULL || h == &hak_heap_empty || e >= HAK_RUNS_PAGES)
        return;
    /* relaxed: a run in h's cache changes state only by h's own hand. */
    if (atomic_load_explicit(&seg->run[e].state, memory_order_relaxed) != HAK_RUN_CACHED)
        return;
    unsigned pages = seg->run[e].pages;
    unsigned after = e + pages;
    if (after < HAK_RUNS_PAGES && hak_runs_page_free(seg, after))
        pages += seg->run[after].pages;
    if (pages < need)
        return;
    size_t bytes = large_run_bytes(seg, e);
    unsigned cls = hak_large_class_of(bytes);
    void *run = hak_runs_address(&large_pool, seg, e);
    for (unsigned k = 0; k < h->large.count[cls]; k++) {
        if (h->large.runs[cls][k] == run) {
            h->large.runs[cls][k] = h->large.runs[cls][--h->large.count[cls]];
            h->large.bytes -= bytes;
            large_release_run(seg, e, now);
            return;
        }
    }
}

bool hak_large_resize(hak_heap *h, void *p, size_t new_size)
{
    unsigned i;
    hak_runs_segment *seg = large_check(p, "realloc of invalid pointer", &i);
    size_t cur = large_run_bytes(seg, i);
    if (new_size > HAK_LARGE_MAX)
        return false;
    if (large_run_keeps(cur, new_size)) {
        hak_runs_note_request(seg, i, new_size, 0);
        return true;
    }
    if (large_guard())
        return false; /* moving keeps the guard page rule simple */
    if (new_size <= HAK_MID_MAX)
        return false; /* a Mid block wastes less */
    unsigned want = (unsigned)(hak_large_class_size[hak_large_class_of(new_size)] >> HAK_PAGE_SHIFT);
    unsigned have = seg->run[i].pages;
    bool ok = false;
    uint64_t now = hak_os_coarse_ms();
    hak_lock_acquire(&large_pool.lock);
    if (want < have) {
        seg->run[i].pages = (uint16_t)want;
        hak_runs_give_back(&large_pool, seg, i + want, have - want, now);
        hak_track_free((char *)p + ((size_t)want << HAK_PAGE_SHIFT),
                       (size_t)(have - want) << HAK_PAGE_SHIFT);
        ok = true;
    } else {
        large_uncache_next(h, seg, i + have, want - have, now);
        if (hak_runs_grow(&large_pool, seg, i, have, want)) {
            hak_track_alloc((char *)p + ((size_t)have << HAK_PAGE_SHIFT),
                            (size_t)(want - have) << HAK_PAGE_SHIFT);
            ok = true;
        }
    }
    hak_lock_release(&large_pool.lock);
    if (ok)
        hak_runs_note_request(seg, i, new_size, 0);
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
        hak_runs_segment *seg = large_segment_of(p);
        unsigned i = large_page_of(p);
        large_quarantine_check(p, large_run_bytes(seg, i));
        hak_lock_acquire(&large_pool.lock);
        large_release_run(seg, i, hak_os_coarse_ms());
        hak_lock_release(&large_pool.lock);
    }
    if (h->large.bytes == 0)
        return;
    uint64_t now = hak_os_coarse_ms();
    hak_lock_acquire(&large_pool.lock);
    for (unsigned cls = 0; cls < HAK_LARGE_CLASSES; cls++) {
        while (h->large.count[cls] > 0) {
            void *run = h->large.runs[cls][--h->large.count[cls]];
            large_release_run(large_segment_of(run), large_page_of(run), now);
        }
    }
    h->large.bytes = 0;
    hak_lock_release(&large_pool.lock);
}

size_t hak_large_purge(uint64_t now_ms, bool force)
{
    return hak_runs_purge(&large_pool, now_ms, force);
}

void hak_large_totals(size_t *mapped, size_t *dirty_free)
{
    hak_runs_totals(&large_pool, mapped, dirty_free);
}

void hak_large_fork_prepare(void) { hak_lock_acquire(&large_pool.lock); }
void hak_large_fork_parent(void) { hak_lock_release(&large_pool.lock); }
void hak_large_fork_child(void) { hak_lock_reset(&large_pool.lock); }
