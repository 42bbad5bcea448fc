/*
 * tiny.h - Tiny tier (<= 1 KiB): the HOT cache of each class is a stack of
 * free block pointers in the heap, [top, end), full at base (small/heap.h,
 * hak_tiny_cache).
 * malloc pops, a free of a block of one of our own slabs pushes.  No
 * atomics, no locks.  These are the operations; the fast paths that use
 * them, and the one call out of line when they cannot, are front/api.h.
 */
#ifndef HAK_TINY_H
#define HAK_TINY_H

#include "base/track.h"
#include "small/heap.h"

hak_inline uint32_t hak_tiny_count(const hak_heap *h, unsigned cls)
{
    return (uint32_t)(h->tiny[cls].end - h->tiny[cls].top);
}

hak_inline uint32_t hak_tiny_cap(const hak_heap *h, unsigned cls)
{
    return (uint32_t)(h->tiny[cls].end - h->tiny[cls].base);
}

/* The i-th oldest block in the Tiny cache of class cls. */
hak_inline void *hak_tiny_cached(const hak_heap *h, unsigned cls, unsigned i)
{
    return h->tiny[cls].end[-1 - (int)i];
}

hak_inline bool hak_tiny_cache_has(const hak_tiny_cache *c)
{
    return c->top != c->end;
}

/* Only after hak_tiny_cache_has.  size: the class's block size, for the
 * AddressSanitizer hooks only (other builds compute nothing for it). */
hak_inline void *hak_tiny_cache_pop(hak_tiny_cache *c, size_t size)
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
 * places it), or b was taken and counted as the last free of a free period
 * (small/heap.h), which the front ends at a safe point.
 * hak_tiny_cache_took tells which. */
hak_inline bool hak_tiny_cache_push(hak_tiny_cache *c, void *b)
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
hak_inline bool hak_tiny_cache_took(const hak_tiny_cache *c, const void *b)
{
    return c->top != c->end && *c->top == b;
}

/* The free period of c ended (its countdown reached 0): start the next. */
hak_inline void hak_tiny_cache_next_period(hak_tiny_cache *c)
{
    uint64_t periods = ((uint64_t)c->free_periods_hi << 32 | c->free_periods_lo) + 1;
    c->free_periods_lo = (uint32_t)periods;
    c->free_periods_hi = (uint16_t)(periods >> 32);
    c->free_countdown = HAK_FREE_PERIOD;
}

/* Count a free of c's class that did not go through the push (overflow,
 * secure profile). */
hak_inline void hak_tiny_cache_count_free(hak_tiny_cache *c)
{
    if (--c->free_countdown == 0)
        hak_tiny_cache_next_period(c);
}

/* Set the cap of a Tiny cache (the first call also makes it empty). */
void hak_tiny_set_cap(hak_heap *h, unsigned cls, uint32_t cap);
/* Take the `n` oldest of class cls's cached blocks out of the cache into
 * out[]; returns how many (fewer if the cache holds fewer). */
unsigned hak_tiny_take_oldest(hak_heap *h, unsigned cls, void **out, unsigned n);
/* Flush `n` of class cls's cached blocks (the oldest) to their slabs. */
void hak_tiny_flush(hak_heap *h, unsigned cls, unsigned n);
/* Put blocks[0..n) into the cache, which has room for them: blocks[n-1]
 * is handed out first. */
void hak_tiny_fill(hak_heap *h, unsigned cls, void *const *blocks, unsigned n);

#endif
