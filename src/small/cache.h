/*
 * cache.h - the cache of one Tiny or Mid class in a heap: a stack of free
 * block pointers growing down inside the heap's slots of the class,
 * holding [top, end), full at base (end - cap).  malloc pops, free pushes;
 * no atomics, no locks.  A zeroed cache (hak_heap_empty's) has
 * top == end == NULL: empty, and full for a push.  The fast paths that use
 * these operations are front/api.h; what happens when a cache cannot serve
 * (a miss, an overflow) is tiers/cache.c.
 */
#ifndef HAK_SMALL_CACHE_H
#define HAK_SMALL_CACHE_H

#include "base/block.h"
#include "base/track.h"
#include "internal.h"

/* Frees into one cache between two of its free safe points (front/api.h):
 * a thread whose every malloc and free is a cache hit still reaches a safe
 * point (its inbox, learned caps, trims, purge and live statistics) every
 * this many frees of a class.  A power of two. */
#define HAK_FREE_PERIOD 4096

/* One cache line holds all a malloc or a free of the class touches in the
 * heap; slabs point at their owner's cache of their class (slab.h), so a
 * free reaches it in one load. */
typedef struct hak_cache {
    void **top;
    void **end;
    void **base;
    /* Frees pushed into this cache: the one counter on a fast path
     * (mallocs are derived from it, see runtime/stats.c).  Kept as the
     * frees left in the current free period, which one decrement of 16
     * bits both counts and tests (hak_cache_push), and the periods
     * completed (48 bits: hi, lo); hak_cache_frees adds them up.  Set up
     * by the first hak_cache_set_cap. */
    uint16_t free_countdown;
    uint16_t free_periods_hi;
    uint32_t free_periods_lo;
} hak_cache;

hak_inline uint32_t hak_cache_count(const hak_cache *c)
{
    return (uint32_t)(c->end - c->top);
}

hak_inline uint32_t hak_cache_cap(const hak_cache *c)
{
    return (uint32_t)(c->end - c->base);
}

hak_inline bool hak_cache_has(const hak_cache *c)
{
    return c->top != c->end;
}

/* Only after hak_cache_has.  size: the class's block size, for the
 * AddressSanitizer hooks only (other builds compute nothing for it). */
hak_inline void *hak_cache_pop(hak_cache *c, size_t size)
{
    void **t = c->top;
    hak_block *b = *t;
    c->top = t + 1;
    hak_track_alloc(b, size);
    (void)size;
    hak_block_mark_allocated(b);
    return b;
}

/* b is a validated block of c's class, just marked freed.  true: taken and
 * counted.  false: either the cache is full (or hak_heap_empty's, never
 * written) and b was not taken (the front's overflow entry counts and
 * places it), or b was taken and counted as the last free of a free
 * period, which the front ends at a safe point.  hak_cache_took tells
 * which. */
hak_inline bool hak_cache_push(hak_cache *c, void *b)
{
    void **t = c->top;
    /* >, not !=: a cap lowered since (learner) leaves top below base. */
    if (hak_likely(t > c->base)) {
        *--t = b;
        c->top = t;
        return --c->free_countdown != 0;
    }
    return false;
}

/* After a push of b returned false: whether it took b.  b, checked as
 * handed out (not freed) before the push, can be the top of the cache
 * only if the push put it there. */
hak_inline bool hak_cache_took(const hak_cache *c, const void *b)
{
    return c->top != c->end && *c->top == b;
}

/* The free period of c ended (its countdown reached 0): start the next. */
hak_inline void hak_cache_next_period(hak_cache *c)
{
    uint64_t periods = ((uint64_t)c->free_periods_hi << 32 | c->free_periods_lo) + 1;
    c->free_periods_lo = (uint32_t)periods;
    c->free_periods_hi = (uint16_t)(periods >> 32);
    c->free_countdown = HAK_FREE_PERIOD;
}

/* Count a free of c's class that did not go through the push (overflow,
 * secure profile). */
hak_inline void hak_cache_count_free(hak_cache *c)
{
    if (--c->free_countdown == 0)
        hak_cache_next_period(c);
}

/* Frees pushed into c.  Racy reads by stats and the learner
 * (runtime/stats.c): a sum torn across a period's end is off by one
 * period at most, once. */
hak_inline uint64_t hak_cache_frees(const hak_cache *c)
{
    const volatile hak_cache *v = c;
    if (v->end == NULL)
        return 0; /* never set up: nothing pushed */
    uint64_t periods = (uint64_t)v->free_periods_hi << 32 | v->free_periods_lo;
    return periods * HAK_FREE_PERIOD + (HAK_FREE_PERIOD - v->free_countdown);
}

/* Set the cap of c, whose slots end at slots_end (the first call also
 * makes it empty and starts its free count). */
hak_inline void hak_cache_set_cap(hak_cache *c, void **slots_end, uint32_t cap)
{
    if (c->end == NULL) {
        c->top = c->end = slots_end;
        c->free_countdown = HAK_FREE_PERIOD;
    }
    c->base = c->end - cap;
}

/* Move c's blocks, in order, to the slots ending at slots_end (room for
 * them all): its cap is set again after. */
hak_inline void hak_cache_move(hak_cache *c, void **slots_end)
{
    uint32_t count = hak_cache_count(c);
    void **top = slots_end - count;
    __builtin_memmove(top, c->top, count * sizeof(void *));
    c->top = top;
    c->end = slots_end;
}

/* Take the `n` oldest blocks out of c into out[] (fewer if it holds
 * fewer); returns how many.  The oldest are at the end: they are the
 * coldest in the CPU cache.  Oldest first, so each slab's free lists get
 * them in free order. */
hak_inline unsigned hak_cache_take_oldest(hak_cache *c, void **out, unsigned n)
{
    uint32_t count = hak_cache_count(c);
    if (n > count)
        n = count;
    if (n == 0)
        return 0;
    void **end = c->end, **top = c->top;
    for (unsigned i = 0; i < n; i++)
        out[i] = end[-1 - (int)i];
    if (n < count) /* not on a drain's flush of the whole cache */
        __builtin_memmove(top + n, top, (count - n) * sizeof(void *));
    c->top = top + n;
    return n;
}

/* Put blocks[0..n) into c, which has room for them: blocks[n-1] is handed
 * out first. */
hak_inline void hak_cache_fill(hak_cache *c, void *const *blocks, unsigned n)
{
    void **t = c->top;
    for (unsigned i = 0; i < n; i++)
        *--t = blocks[i];
    c->top = t;
}

#endif
