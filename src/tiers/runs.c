/*
 * runs.c - page runs in aligned segments (see runs.h): bitmaps, the free
 * runs of a segment filed by length, the segments filed by their longest
 * free run, taking and giving back runs, growth in place, decay.
 */
#include "tiers/runs.h"

#include <string.h>

#include "base/block.h"
#include "base/counters.h"
#include "base/segment_map.h"
#include "base/track.h"
#include "config/options.h"
#include "os/os.h"

/* ---- bitmaps of HAK_RUNS_PAGES bits ---- */

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

/* The highest index below limit whose bit is `set`, or HAK_RUNS_PAGES. */
static unsigned bits_prev(const uint64_t *w, unsigned limit, bool set)
{
    for (unsigned k = (limit + 63) / 64; k-- > 0;) {
        uint64_t word = set ? w[k] : ~w[k];
        if ((limit & 63) && k == limit / 64)
            word &= ((uint64_t)1 << (limit & 63)) - 1;
        if (word)
            return k * 64 + 63 - (unsigned)__builtin_clzll(word);
    }
    return HAK_RUNS_PAGES;
}

static bool bits_test(const uint64_t *w, unsigned i)
{
    return (w[i >> 6] >> (i & 63)) & 1;
}

static void bits_set_one(uint64_t *w, unsigned i) { w[i >> 6] |= (uint64_t)1 << (i & 63); }

/* Mask of the bits of [i, end) in word k, which holds some of them. */
static uint64_t bits_word_mask(unsigned k, unsigned i, unsigned end)
{
    uint64_t mask = ~(uint64_t)0;
    if (k == i >> 6)
        mask <<= i & 63;
    if (k == (end - 1) >> 6)
        mask &= ~(uint64_t)0 >> (63 - ((end - 1) & 63));
    return mask;
}

/* Set or clear bits [i, i+n), n > 0. */
static void bits_assign(uint64_t *w, unsigned i, unsigned n, bool set)
{
    for (unsigned k = i >> 6, end = i + n; k <= (end - 1) >> 6; k++) {
        uint64_t mask = bits_word_mask(k, i, end);
        w[k] = set ? w[k] | mask : w[k] & ~mask;
    }
}

/* Bin maps: bitmaps of HAK_RUNS_PAGES bits (a bit per length) with a
 * summary word (bit k: word k is not 0), so that the next length at or
 * above i and the last one below a limit take two word scans, not up to
 * sixteen. */
static void bins_set(uint64_t *w, uint64_t *words, unsigned i)
{
    w[i >> 6] |= (uint64_t)1 << (i & 63);
    *words |= (uint64_t)1 << (i >> 6);
}

static void bins_clear(uint64_t *w, uint64_t *words, unsigned i)
{
    w[i >> 6] &= ~((uint64_t)1 << (i & 63));
    if (w[i >> 6] == 0)
        *words &= ~((uint64_t)1 << (i >> 6));
}

/* The lowest set bit at or above i, or HAK_RUNS_PAGES. */
static unsigned bins_next(const uint64_t *w, uint64_t words, unsigned i)
{
    if (i >= HAK_RUNS_PAGES)
        return HAK_RUNS_PAGES;
    unsigned k = i >> 6;
    uint64_t word = w[k] & (~(uint64_t)0 << (i & 63));
    if (word == 0) {
        uint64_t above = words & (~(uint64_t)1 << k); /* words after k; k < 63 */
        if (above == 0)
            return HAK_RUNS_PAGES;
        k = (unsigned)__builtin_ctzll(above);
        word = w[k];
    }
    return k * 64 + (unsigned)__builtin_ctzll(word);
}

/* The highest set bit below limit (<= HAK_RUNS_PAGES), or HAK_RUNS_PAGES. */
static unsigned bins_prev(const uint64_t *w, uint64_t words, unsigned limit)
{
    unsigned k = limit >> 6;
    uint64_t word = (limit & 63) ? w[k] & (((uint64_t)1 << (limit & 63)) - 1) : 0;
    if (word == 0) {
        uint64_t below = words & (((uint64_t)1 << k) - 1);
        if (below == 0)
            return HAK_RUNS_PAGES;
        k = 63 - (unsigned)__builtin_clzll(below);
        word = w[k];
    }
    return k * 64 + 63 - (unsigned)__builtin_clzll(word);
}

/* ---- segments ---- */

static size_t runs_seg_bytes(const hak_runs_pool *pool) { return (size_t)1 << pool->seg_shift; }

static size_t runs_bytes(const hak_runs_pool *pool, unsigned pages)
{
    return (size_t)pages << pool->page_shift;
}

static unsigned runs_usable_pages(const hak_runs_segment *seg)
{
    return HAK_RUNS_PAGES - seg->first_page;
}

static hak_runs_segment *runs_seg_entry(hak_list_node *n)
{
    return n ? hak_list_entry(n, hak_runs_segment, link) : NULL;
}

static hak_runs_segment *runs_bin_entry(hak_list_node *n)
{
    return n ? hak_list_entry(n, hak_runs_segment, bin_link) : NULL;
}

/* ---- free runs of a segment (lock held) ----
 *
 * Every free page belongs to exactly one free run, and two free runs never
 * touch.  A free run of n pages at page h has run[].pages n at h and at
 * h + n - 1 and is on the segment's list of runs of n pages.  The segment
 * is on the pool's bin of its longest free run. */

static void run_file(hak_runs_segment *seg, unsigned h, unsigned n)
{
    seg->run[h].pages = (uint16_t)n;
    seg->run[h + n - 1].pages = (uint16_t)n;
    unsigned first = seg->bin_head[n];
    seg->free_next[h] = (uint16_t)first;
    seg->free_prev[h] = 0;
    if (first)
        seg->free_prev[first] = (uint16_t)h;
    else
        bins_set(seg->bin_bits, &seg->bin_words, n);
    seg->bin_head[n] = (uint16_t)h;
    if (n > seg->longest)
        seg->longest = n;
}

/* Take the free run of n pages at h off its list; seg->longest may now be
 * stale (runs_refile puts it right). */
static void run_unfile(hak_runs_segment *seg, unsigned h, unsigned n)
{
    unsigned next = seg->free_next[h], prev = seg->free_prev[h];
    if (prev)
        seg->free_next[prev] = (uint16_t)next;
    else
        seg->bin_head[n] = (uint16_t)next;
    if (next)
        seg->free_prev[next] = (uint16_t)prev;
    if (seg->bin_head[n] == 0)
        bins_clear(seg->bin_bits, &seg->bin_words, n);
}

/* After the segment's free runs changed: bring longest up to date and
 * move the segment to the bin of it. */
static void runs_refile(hak_runs_pool *pool, hak_runs_segment *seg)
{
    if (seg->longest && seg->bin_head[seg->longest] == 0) {
        unsigned l = bins_prev(seg->bin_bits, seg->bin_words, seg->longest);
        seg->longest = l < HAK_RUNS_PAGES ? l : 0;
    }
    if (seg->age_slot < HAK_RUNS_AGE_SLOTS)
        pool->age_longest[seg->age_slot] = (uint16_t)seg->longest;
    if (seg->longest == seg->filed)
        return;
    if (seg->filed) {
        hak_list_remove(&pool->bins[seg->filed], &seg->bin_link);
        if (hak_list_empty(&pool->bins[seg->filed]))
            bins_clear(pool->bin_bits, &pool->bin_words, seg->filed);
    }
    seg->filed = seg->longest;
    if (seg->filed) {
        if (hak_list_empty(&pool->bins[seg->filed]))
            bins_set(pool->bin_bits, &pool->bin_words, seg->filed);
        hak_list_push_front(&pool->bins[seg->filed], &seg->bin_link);
    }
}

hak_runs_segment *hak_runs_segment_new(hak_runs_pool *pool, bool guard)
{
    size_t bytes = runs_seg_bytes(pool);
    hak_runs_segment *seg = hak_os_map_aligned(bytes, bytes, 0);
    if (seg == NULL)
        return NULL;
    /* Before the first touch, so the first faults can already take 2 MiB
     * pages.  A purge of part of one later splits it, and the range it
     * covers reads as zero like any purged page (hak_runs_take's zeroed). */
    if (pool->huge_pages)
        hak_os_advise_huge_pages(seg, bytes);
    uintptr_t base = (uintptr_t)seg;
    seg->magic = hak_keys.header ^ base ^ pool->tag;
    seg->first_page = (uint32_t)(hak_align_up(sizeof *seg, (size_t)1 << pool->page_shift) >>
                                 pool->page_shift);
    if (guard) {
        if (!hak_os_protect(hak_runs_address(pool, seg, seg->first_page), runs_bytes(pool, 1),
                            false)) {
            hak_os_unmap(seg, bytes);
            return NULL; /* no guard, no segment: the caller fails with ENOMEM */
        }
        seg->first_page++;
    }
    seg->free_pages = runs_usable_pages(seg);
    bits_assign(seg->free_bits, seg->first_page, seg->free_pages, true);
    run_file(seg, seg->first_page, seg->free_pages);
    hak_segmap_set(base, bytes >> HAK_SEGMENT_SHIFT, pool->segmap);
    hak_stats_segment_mapped(bytes);
    return seg;
}

/* Give seg, the oldest segment without one, the next age slot. */
static void runs_age_push(hak_runs_pool *pool, hak_runs_segment *seg)
{
    unsigned slot = pool->age_count++;
    pool->age_seg[slot] = seg;
    pool->age_longest[slot] = (uint16_t)seg->longest;
    seg->age_slot = slot;
}

/* seg leaves the pool: its age slot goes, the younger ones move up, and
 * the oldest segment without a slot (the list's next after the last
 * slotted one) takes the last. */
static void runs_age_remove(hak_runs_pool *pool, hak_runs_segment *seg)
{
    unsigned slot = seg->age_slot;
    if (slot >= HAK_RUNS_AGE_SLOTS)
        return;
    hak_runs_segment *next = runs_seg_entry(pool->age_seg[pool->age_count - 1]->link.next);
    pool->age_count--;
    for (unsigned k = slot; k < pool->age_count; k++) {
        pool->age_seg[k] = pool->age_seg[k + 1];
        pool->age_longest[k] = pool->age_longest[k + 1];
        pool->age_seg[k]->age_slot = k;
    }
    seg->age_slot = HAK_RUNS_AGE_SLOTS;
    if (next != NULL)
        runs_age_push(pool, next);
}

void hak_runs_add(hak_runs_pool *pool, hak_runs_segment *seg, uint64_t now)
{
    /* Empty as of now: should another thread's run fit better elsewhere
     * and this one stay unused, it is unmapped after the delay. */
    seg->empty_since_ms = now ? now : 1;
    hak_list_push_back(&pool->segments, &seg->link);
    pool->count++;
    seg->age_slot = HAK_RUNS_AGE_SLOTS;
    if (pool->age_count < HAK_RUNS_AGE_SLOTS)
        runs_age_push(pool, seg);
    runs_refile(pool, seg);
}

/* Lock held.  First page of a free run of `pages` whose address is a
 * multiple of align_pages pages, or HAK_RUNS_PAGES. */
static unsigned runs_find_aligned(const hak_runs_segment *seg, unsigned pages,
                                  unsigned align_pages)
{
    unsigned i = seg->first_page;
    for (;;) {
        i = bits_next(seg->free_bits, i, HAK_RUNS_PAGES, true);
        i = (unsigned)hak_align_up(i, align_pages);
        if (i + pages > HAK_RUNS_PAGES)
            return HAK_RUNS_PAGES;
        unsigned busy = bits_next(seg->free_bits, i, i + pages, false);
        if (busy == i + pages)
            return i;
        i = busy + 1;
    }
}

/* Bits set in x.  __builtin_popcountll is a call into libgcc on the
 * x86-64 baseline (no POPCNT instruction); this is a dozen instructions
 * inline. */
static unsigned bits_count(uint64_t x)
{
    x -= (x >> 1) & 0x5555555555555555u;
    x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fu;
    return (unsigned)((x * 0x0101010101010101u) >> 56);
}

/* Lock held.  Pages [i, i+n), just taken off the free runs, become the
 * pages of one run at i or the tail of the run it grows: they leave the
 * free and dirty maps, and stale heads among them (but the first `keep`,
 * 0 or 1) read NONE: a free of one must report a pointer inside a block,
 * not a freed block.  One pass over the words of the range.  Returns how
 * many of them were dirty. */
static unsigned runs_claim(const hak_runs_pool *pool, hak_runs_segment *seg, unsigned i,
                           unsigned n, unsigned keep)
{
    unsigned dirty_pages = 0;
    for (unsigned k = i >> 6, end = i + n; k <= (end - 1) >> 6; k++) {
        uint64_t mask = bits_word_mask(k, i, end);
        dirty_pages += bits_count(seg->dirty_bits[k] & mask);
        seg->free_bits[k] &= ~mask;
        seg->dirty_bits[k] &= ~mask;
        seg->old_bits[k] &= ~mask;
        uint64_t stale = seg->mark_bits[k] & mask;
        if (keep && k == i >> 6)
            stale &= ~((uint64_t)1 << (i & 63));
        seg->mark_bits[k] &= ~stale;
        for (; stale; stale &= stale - 1)
            hak_runs_set_state(seg, k * 64 + (unsigned)__builtin_ctzll(stale), HAK_RUN_NONE);
    }
    if (dirty_pages) {
        seg->dirty_pages -= dirty_pages;
        hak_retained_sub(runs_bytes(pool, dirty_pages));
    }
    seg->free_pages -= n;
    seg->empty_since_ms = 0;
    return dirty_pages;
}

/* Lock held.  Make [i, i+pages), a part of the free run of n pages at h,
 * one allocated run; the rest of the free run stays free. */
static void *runs_carve(hak_runs_pool *pool, hak_runs_segment *seg, unsigned h, unsigned n,
                        unsigned i, unsigned pages, bool *zeroed)
{
    run_unfile(seg, h, n);
    if (i > h)
        run_file(seg, h, i - h);
    if (i + pages < h + n)
        run_file(seg, i + pages, h + n - i - pages);
    runs_refile(pool, seg);
    unsigned dirty_pages = runs_claim(pool, seg, i, pages, 1);
    seg->run[i].pages = (uint16_t)pages;
    bits_set_one(seg->mark_bits, i);
    hak_runs_set_state(seg, i, HAK_RUN_ALLOCATED);
    /* Purged pages read as zero only with MADV_DONTNEED. */
    *zeroed = dirty_pages == 0 && hak_opt(HAK_OPT_PURGE_MODE) == 0;
    return hak_runs_address(pool, seg, i);
}

void *hak_runs_take(hak_runs_pool *pool, unsigned pages, unsigned align_pages, bool *zeroed)
{
    if (align_pages <= 1) {
        /* The oldest segment with room, or with the oldest all full the
         * segment whose longest free run fits best; in it the shortest
         * free run that fits (runs.h says why). */
        hak_runs_segment *seg = NULL;
        for (unsigned k = 0; k < pool->age_count; k++) {
            if (pool->age_longest[k] >= pages) {
                seg = pool->age_seg[k];
                break;
            }
        }
        if (seg == NULL) {
            unsigned b = bins_next(pool->bin_bits, pool->bin_words, pages);
            if (b >= HAK_RUNS_PAGES)
                return NULL;
            seg = runs_bin_entry(pool->bins[b].head);
        }
        unsigned n = bins_next(seg->bin_bits, seg->bin_words, pages);
        unsigned h = seg->bin_head[n];
        return runs_carve(pool, seg, h, n, h, pages, zeroed);
    }
    for (hak_runs_segment *seg = runs_seg_entry(pool->segments.head); seg;
         seg = runs_seg_entry(seg->link.next)) {
        if (seg->longest < pages)
            continue;
        unsigned i = runs_find_aligned(seg, pages, align_pages);
        if (i < HAK_RUNS_PAGES) {
            /* The head of the free run holding page i: the page after the
             * last busy one before it (the header's pages count as busy). */
            unsigned h = bits_prev(seg->free_bits, i, false) + 1;
            return runs_carve(pool, seg, h, seg->run[h].pages, i, pages, zeroed);
        }
    }
    return NULL;
}

void hak_runs_give_back(hak_runs_pool *pool, hak_runs_segment *seg, unsigned i, unsigned pages,
                        uint64_t now)
{
    unsigned h = i, n = pages;
    if (h > seg->first_page && bits_test(seg->free_bits, h - 1)) {
        unsigned before = seg->run[h - 1].pages;
        h -= before;
        n += before;
        run_unfile(seg, h, before);
    }
    if (i + pages < HAK_RUNS_PAGES && bits_test(seg->free_bits, i + pages)) {
        unsigned after = seg->run[i + pages].pages;
        n += after;
        run_unfile(seg, i + pages, after);
    }
    run_file(seg, h, n);
    runs_refile(pool, seg);
    for (unsigned k = i >> 6, end = i + pages; k <= (end - 1) >> 6; k++) {
        uint64_t mask = bits_word_mask(k, i, end);
        seg->free_bits[k] |= mask;
        seg->dirty_bits[k] |= mask;
    }
    seg->dirty_pages += pages;
    hak_retained_add(runs_bytes(pool, pages));
    seg->free_pages += pages;
    if (seg->free_pages == runs_usable_pages(seg))
        seg->empty_since_ms = now ? now : 1;
}

bool hak_runs_grow(hak_runs_pool *pool, hak_runs_segment *seg, unsigned i, unsigned have,
                   unsigned want)
{
    unsigned e = i + have;
    if (e >= HAK_RUNS_PAGES || !bits_test(seg->free_bits, e) || seg->run[e].pages < want - have)
        return false;
    /* The free run right after the run is long enough: the run takes the
     * front of it. */
    unsigned n = seg->run[e].pages;
    run_unfile(seg, e, n);
    if (n > want - have)
        run_file(seg, i + want, n - (want - have));
    runs_refile(pool, seg);
    runs_claim(pool, seg, e, want - have, 0);
    seg->run[i].pages = (uint16_t)want;
    return true;
}

/* ---- decay ---- */

/* Lock held.  Give back the dirty pages of seg that are set in bits (all
 * of them if bits is NULL); returns the bytes. */
static size_t runs_purge_pages(hak_runs_pool *pool, hak_runs_segment *seg, const uint64_t *bits,
                               bool lazy)
{
    uint64_t due[HAK_RUNS_WORDS];
    for (unsigned w = 0; w < HAK_RUNS_WORDS; w++)
        due[w] = seg->dirty_bits[w] & (bits ? bits[w] : ~(uint64_t)0);
    size_t purged = 0;
    for (unsigned i = bits_next(due, seg->first_page, HAK_RUNS_PAGES, true); i < HAK_RUNS_PAGES;
         i = bits_next(due, i, HAK_RUNS_PAGES, true)) {
        unsigned end = bits_next(due, i, HAK_RUNS_PAGES, false);
        hak_os_purge(hak_runs_address(pool, seg, i), runs_bytes(pool, end - i), lazy);
        purged += runs_bytes(pool, end - i);
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
size_t hak_runs_purge(hak_runs_pool *pool, uint64_t now_ms, bool force)
{
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    bool lazy = hak_opt(HAK_OPT_PURGE_MODE) == 1;
    size_t purged = 0;
    hak_runs_segment *doomed = NULL;
    hak_lock_acquire(&pool->lock);
    for (hak_runs_segment *seg = runs_seg_entry(pool->segments.head), *next; seg; seg = next) {
        next = runs_seg_entry(seg->link.next);
        if (seg->empty_since_ms && (force || now_ms - seg->empty_since_ms >= delay)) {
            /* Empty for a whole delay: give the mapping back.  Off the
             * lists, its link chains the doomed ones. */
            runs_age_remove(pool, seg);
            hak_list_remove(&pool->segments, &seg->link);
            pool->count--;
            seg->longest = 0;
            runs_refile(pool, seg);
            seg->link.next = doomed ? &doomed->link : NULL;
            doomed = seg;
            continue;
        }
        if (seg->dirty_pages == 0)
            continue;
        if (force || delay == 0) {
            purged += runs_purge_pages(pool, seg, NULL, lazy);
        } else if (now_ms - seg->epoch_ms >= delay / 2) {
            purged += runs_purge_pages(pool, seg, seg->old_bits, lazy);
            memcpy(seg->old_bits, seg->dirty_bits, sizeof seg->old_bits);
            seg->epoch_ms = now_ms;
        }
    }
    hak_lock_release(&pool->lock);
    size_t bytes = runs_seg_bytes(pool);
    while (doomed) {
        hak_runs_segment *seg = doomed;
        doomed = runs_seg_entry(seg->link.next);
        size_t resident = runs_bytes(pool, seg->dirty_pages);
        purged += resident;
        hak_retained_sub(resident);
        hak_segmap_set((uintptr_t)seg, bytes >> HAK_SEGMENT_SHIFT, HAK_SEGMAP_NONE);
        hak_track_alloc(seg, bytes); /* no stale poison for a later mapping */
        hak_os_unmap(seg, bytes);
        hak_stats_segment_unmapped(bytes);
    }
    if (purged)
        hak_stats_purged(purged);
    return purged;
}

void hak_runs_totals(hak_runs_pool *pool, size_t *mapped, size_t *dirty_free)
{
    size_t dirty = 0;
    hak_lock_acquire(&pool->lock);
    *mapped = pool->count * runs_seg_bytes(pool);
    for (hak_list_node *n = pool->segments.head; n; n = n->next)
        dirty += runs_bytes(pool, runs_seg_entry(n)->dirty_pages);
    hak_lock_release(&pool->lock);
    *dirty_free = dirty;
}
