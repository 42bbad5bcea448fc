/*
 * tiny.h - Tiny tier (<= 1 KiB): the HOT cache of each class is a stack of
 * free block pointers in the heap, [tiny_top, tiny_end), full at tiny_base.
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
    return (uint32_t)(h->tiny_end[cls] - h->tiny_top[cls]);
}

hak_inline uint32_t hak_tiny_cap(const hak_heap *h, unsigned cls)
{
    return (uint32_t)(h->tiny_end[cls] - h->tiny_base[cls]);
}

/* The i-th oldest block in the Tiny cache of class cls. */
hak_inline void *hak_tiny_cached(const hak_heap *h, unsigned cls, unsigned i)
{
    return h->tiny_end[cls][-1 - (int)i];
}

hak_inline bool hak_tiny_cache_has(const hak_heap *h, unsigned cls)
{
    return h->tiny_top[cls] != h->tiny_end[cls];
}

/* Only after hak_tiny_cache_has. */
hak_inline void *hak_tiny_cache_pop(hak_heap *h, unsigned cls)
{
    void **t = h->tiny_top[cls];
    hak_block *b = *t;
    h->tiny_top[cls] = t + 1;
    hak_track_alloc(b, hak_classes[cls].size);
    hak_block_mark_allocated(b);
    return b;
}

/* b is a validated block of one of h's slabs, just marked freed.  The free
 * is counted either way; false: the cache is full and b was not taken
 * (tiers/cache.h, hak_cache_overflow, places it). */
hak_inline bool hak_tiny_cache_push(hak_heap *h, unsigned cls, void *b)
{
    void **t = h->tiny_top[cls];
    h->tiny_frees[cls]++;
    /* >, not !=: a cap lowered since (learner) leaves top below base. */
    if (hak_likely(t > h->tiny_base[cls])) {
        *--t = b;
        h->tiny_top[cls] = t;
        return true;
    }
    return false;
}

/* Set the cap of a Tiny cache (the first call also makes it empty). */
void hak_tiny_set_cap(hak_heap *h, unsigned cls, uint32_t cap);
/* Flush `n` of class cls's cached blocks (the oldest) to their slabs. */
void hak_tiny_flush(hak_heap *h, unsigned cls, unsigned n);
/* Put blocks[0..n) into the cache, which has room for them: blocks[n-1]
 * is handed out first. */
void hak_tiny_fill(hak_heap *h, unsigned cls, void *const *blocks, unsigned n);

#endif
