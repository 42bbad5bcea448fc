/*
 * cache.c - the miss and overflow protocol of the Tiny and Mid caches (see
 * cache.h).  Both tiers' caches are the same stack (small/cache.h); only
 * the transfer cache is Tiny's alone.
 */
#include "tiers/cache.h"

#include "small/remote_free.h"
#include "small/transfer.h"
#include "small/warm_pool.h"

/* The most blocks moved out of a cache in one step: the arrays that carry
 * them live on the stack (2 KiB).  Half a grown cache is one step; a whole
 * one, or more than half of one whose cap was lowered since, takes two. */
#define CACHE_MOVE_MAX 256
_Static_assert(CACHE_MOVE_MAX >= HAK_TRANSFER_BATCH, "a transfer batch fits a step");

/* One step of moving the n oldest blocks of a class's cache out: up to
 * CACHE_MOVE_MAX of them into out[], counted as flushed; 0 once the cache
 * is empty. */
static unsigned cache_take_step(hak_heap *h, unsigned cls, void **out, unsigned n)
{
    unsigned k = hak_cache_take_oldest(&h->cache[cls], out, n < CACHE_MOVE_MAX ? n : CACHE_MOVE_MAX);
    h->cstats[cls].flush_blocks += k;
    return k;
}

void hak_cache_flush(hak_heap *h, unsigned cls, unsigned n)
{
    void *oldest[CACHE_MOVE_MAX];
    unsigned k;
    for (; n > 0 && (k = cache_take_step(h, cls, oldest, n)) > 0; n -= k)
        hak_warm_pool_return_blocks(h, oldest, k);
}

bool hak_cache_refill(hak_heap *h, unsigned cls)
{
    if (h->drain_cap[cls] != 0) { /* the free run is over */
        hak_heap_set_cap(h, cls, h->drain_cap[cls]);
        h->drain_cap[cls] = 0;
    }
    h->free_run[cls] = 0;
    if (hak_heap_cache_count(h, cls) != 0)
        return true;
    /* A refill moves a transfer batch or a class's batch (<= 64 blocks). */
    void *tmp[CACHE_MOVE_MAX];
    if (hak_class_is_tiny(cls) && hak_heap_cache_cap(h, cls) != 0) {
        /* Blocks other caches left: no slab is touched to hand them out. */
        unsigned got = hak_transfer_take(cls, tmp);
        if (got > 0) {
            hak_cache_fill(&h->cache[cls], tmp, got);
            hak_class_stats *st = &h->cstats[cls];
            st->warm_hits++;
            st->refills++;
            st->refill_blocks += got;
            return true;
        }
    }
    /* Slow start (see "Refill ramp" in cache.h).  The batch can have
     * been lowered below the ramp since (learned caps). */
    unsigned want = h->refill_ramp[cls] < h->batch[cls] ? h->refill_ramp[cls] : h->batch[cls];
    unsigned got = hak_warm_pool_refill(h, cls, tmp, want);
    if (got == 0)
        return false;
    if (h->refill_ramp[cls] < h->batch[cls])
        h->refill_ramp[cls] *= 2;
    hak_cache_fill(&h->cache[cls], tmp, got);
    return true;
}

/* Up to n blocks into the transfer cache in batches while it has room;
 * returns how many went. */
static unsigned cache_transfer(unsigned cls, void **blocks, unsigned n)
{
    unsigned sent = 0;
    while (sent < n) {
        unsigned b = n - sent < HAK_TRANSFER_BATCH ? n - sent : HAK_TRANSFER_BATCH;
        if (!hak_transfer_put(cls, blocks + sent, b))
            break;
        sent += b;
    }
    return sent;
}

/* How many of blocks[0..n) are of other heaps' slabs. */
static unsigned cache_count_foreign(const hak_heap *h, void *const *blocks, unsigned n)
{
    unsigned foreign = 0;
    for (unsigned i = 0; i < n; i++)
        foreign += !hak_slab_owned_by(hak_slab_of_block((uintptr_t)blocks[i]), h);
    return foreign;
}

/* The n oldest blocks of an overflowing cache leave it.  For a Tiny class,
 * blocks of other heaps' slabs go in batches to the transfer cache while
 * it has room, where other caches (this one too) take them again without
 * touching a slab or an owner; the rest to their owners
 * (small/warm_pool.h).  Blocks of this heap's slabs go back to them,
 * unless the class has shed other heaps' blocks before (shed_foreign): its
 * blocks move between threads (a producer's blocks come back to it from
 * its consumers, a server's from the threads its requests went to), and
 * its own blocks join the batches too, as in tcmalloc, instead of being
 * threaded onto their slabs here only to be walked off them by the next
 * refill of whichever thread allocates next.  A class that only ever
 * moved its own blocks keeps them out: one of ours in the transfer cache,
 * once aged, could only come back through our own inbox, and would keep
 * its slab from being returned while we are idle.  Returns how many went
 * to slabs or owners. */
static unsigned cache_shed(hak_heap *h, unsigned cls, unsigned n)
{
    if (!hak_class_is_tiny(cls) || hak_heap_cache_cap(h, cls) == 0) {
        hak_cache_flush(h, cls, n);
        return n;
    }
    unsigned to_slabs = 0;
    void *oldest[CACHE_MOVE_MAX];
    unsigned k;
    for (; n > 0 && (k = cache_take_step(h, cls, oldest, n)) > 0; n -= k) {
        unsigned mixed = h->shed_foreign[cls] ? cache_transfer(cls, oldest, k) : 0;
        unsigned foreign = hak_warm_pool_return_own(h, oldest + mixed, k - mixed);
        unsigned sent = cache_transfer(cls, oldest + mixed, foreign);
        if (sent < foreign)
            hak_remote_free_hand_over(h, oldest + mixed + sent, foreign - sent);
        h->cstats[cls].remote_frees += cache_count_foreign(h, oldest, mixed) + sent;
        to_slabs += k - mixed - sent;
        if (foreign > 0)
            h->shed_foreign[cls] = true;
    }
    return to_slabs;
}

/* The bytes class c's cache may hold past its ordinary ceiling is all it
 * may hold: its cap's blocks (the cap a drain will restore, if it drains),
 * or 0 if that is within the ceiling. */
static size_t cache_grown_bytes(const hak_heap *h, unsigned c)
{
    uint32_t cap = h->drain_cap[c] != 0 ? h->drain_cap[c] : hak_heap_cache_cap(h, c);
    return cap > h->cap_ceiling[c] ? (size_t)cap * hak_classes[c].size : 0;
}

/* Class c's cache back to its ordinary ceiling: its oldest blocks beyond
 * it go to their slabs. */
static void cache_shrink_to_ceiling(hak_heap *h, unsigned c)
{
    uint32_t ceiling = h->cap_ceiling[c];
    uint32_t count = hak_heap_cache_count(h, c);
    if (count > ceiling)
        hak_cache_flush(h, c, count - ceiling);
    if (h->drain_cap[c] > ceiling)
        h->drain_cap[c] = ceiling;
    if (hak_heap_cache_cap(h, c) > ceiling)
        hak_heap_set_cap(h, c, ceiling);
}

/* Class cls is to hold `bytes` in a cache grown past its ordinary
 * ceiling: the other grown caches of the heap give up their growth until
 * all of them together fit HAK_CACHE_GROWTH_HEAP_BYTES (see "Growth" in
 * cache.h).  Only Tiny caches grow that far; growth is rare (a cap
 * doubles at most a few times between two trims), so the classes are
 * summed here instead of being counted on every change of a cap. */
static void cache_make_room(hak_heap *h, unsigned cls, size_t bytes)
{
    size_t others = 0;
    for (unsigned c = 0; c < HAK_TINY_CLASSES; c++)
        others += c == cls ? 0 : cache_grown_bytes(h, c);
    for (unsigned c = 0; c < HAK_TINY_CLASSES && bytes + others > HAK_CACHE_GROWTH_HEAP_BYTES; c++) {
        size_t held = c == cls ? 0 : cache_grown_bytes(h, c);
        if (held == 0)
            continue;
        cache_shrink_to_ceiling(h, c);
        others -= held;
    }
}

/* See "Growth" in cache.h.  misses: since the class's previous overflow. */
static void cache_grow(hak_heap *h, unsigned cls, uint64_t misses)
{
    uint32_t cap = hak_heap_cache_cap(h, cls);
    bool own_run = misses >= HAK_GROWTH_RUN_MISSES && !h->shed_foreign[cls];
    uint32_t ceiling = own_run ? h->cap_ceiling_own_run[cls] : h->cap_ceiling[cls];
    uint32_t grown = cap * 2 < ceiling ? cap * 2 : ceiling;
    if (grown > HAK_TINY_CACHE_MAX && !hak_heap_grown_slots(h, cls))
        grown = HAK_TINY_CACHE_MAX;
    if (grown <= cap)
        return;
    if (grown > h->cap_ceiling[cls])
        cache_make_room(h, cls, (size_t)grown * hak_classes[cls].size);
    hak_heap_set_cap(h, cls, grown);
}

/* The cap of a class while it drains: a few blocks, so that a drained
 * free costs a push and a share of one flush, and what stays cached when
 * the run ends pins a few slabs at most. */
static uint32_t cache_drain_cap(unsigned cls)
{
    return hak_class_is_tiny(cls) ? HAK_DRAIN_CAP_TINY : HAK_DRAIN_CAP_MID;
}

void hak_cache_overflow(hak_heap *h, unsigned cls, void *p)
{
    if (h->drain_cap[cls] != 0) {
        /* Draining: every cache-full of frees goes back at once. */
        hak_cache_flush(h, cls, hak_heap_cache_count(h, cls));
        hak_cache_fill(&h->cache[cls], &p, 1);
        return;
    }
    /* An earlier overflow, then misses, then this one: ping-pong. */
    uint64_t misses = h->cstats[cls].slow_allocs;
    if (h->grow_mark[cls] != HAK_CACHE_NO_OVERFLOW && misses != h->grow_mark[cls])
        cache_grow(h, cls, misses - h->grow_mark[cls]);
    h->grow_mark[cls] = misses;
    /* Keep the newest half (count may exceed a cap lowered since). */
    unsigned to_slabs = cache_shed(h, cls, hak_heap_cache_count(h, cls) - hak_heap_cache_cap(h, cls) / 2);
    hak_cache_fill(&h->cache[cls], &p, 1);
    /* Other heaps' blocks in a cache grown for a run of own ones: back to
     * the ordinary ceiling (see "Growth" in cache.h). */
    if (h->shed_foreign[cls] && hak_heap_cache_cap(h, cls) > h->cap_ceiling[cls])
        hak_heap_set_cap(h, cls, h->cap_ceiling[cls]);
    /* A run of frees that the transfer cache cannot take either (it decays
     * by itself) goes back to the slabs from now on. */
    if (to_slabs > 0 && ++h->free_run[cls] >= HAK_DRAIN_OVERFLOWS &&
        hak_heap_cache_cap(h, cls) > cache_drain_cap(cls)) {
        h->drain_cap[cls] = hak_heap_cache_cap(h, cls);
        hak_cache_flush(h, cls, hak_heap_cache_count(h, cls));
        hak_heap_set_cap(h, cls, cache_drain_cap(cls));
    }
}

void hak_cache_flush_all(hak_heap *h)
{
    for (unsigned cls = 0; cls < HAK_SMALL_CLASSES; cls++)
        hak_cache_flush(h, cls, hak_heap_cache_count(h, cls));
}
