/*
 * tiny.h - Tiny tier (<= 1 KiB): the HOT cache of each class is a stack of
 * free block pointers in the heap (small/cache.h) over the heap's
 * tiny_slots of the class.  malloc pops, a free of a block of any heap's
 * slab pushes.  These are the per-class accessors; the fast paths are
 * front/api.h, the miss and overflow protocol tiers/cache.c.
 */
#ifndef HAK_TINY_H
#define HAK_TINY_H

#include "small/heap.h"

hak_inline uint32_t hak_tiny_count(const hak_heap *h, unsigned cls)
{
    return hak_cache_count(&h->cache[cls]);
}

hak_inline uint32_t hak_tiny_cap(const hak_heap *h, unsigned cls)
{
    return hak_cache_cap(&h->cache[cls]);
}

/* The i-th oldest block in the Tiny cache of class cls. */
hak_inline void *hak_tiny_cached(const hak_heap *h, unsigned cls, unsigned i)
{
    return h->cache[cls].end[-1 - (int)i];
}

/* Set the cap of a Tiny cache (the first call also makes it empty). */
void hak_tiny_set_cap(hak_heap *h, unsigned cls, uint32_t cap);

#endif
