/*
 * mid.h - Mid tier (1 KiB < size <= 32 KiB): the HOT cache of each class is
 * the same stack as a Tiny class's (small/cache.h), over the heap's
 * mid_slots of the class: malloc and free work at the top (LIFO, the
 * warmest block first) and a flush takes the oldest from the bottom, so
 * the recently touched ones stay cached.  These are the per-class
 * accessors; front/api.h composes the fast paths.
 *
 * Mid classes are small-class indexes HAK_TINY_CLASSES..; their caches
 * follow the Tiny ones in hak_heap.cache.
 */
#ifndef HAK_MID_H
#define HAK_MID_H

#include "small/heap.h"

hak_inline uint32_t hak_mid_count(const hak_heap *h, unsigned cls)
{
    return hak_cache_count(&h->cache[cls]);
}

hak_inline uint32_t hak_mid_cap(const hak_heap *h, unsigned cls)
{
    return hak_cache_cap(&h->cache[cls]);
}

/* Set the cap of a Mid cache (the first call also makes it empty). */
void hak_mid_set_cap(hak_heap *h, unsigned cls, uint32_t cap);

#endif
