/*
 * tiny.c - the Tiny caches' slots: a cap is a number of the class's
 * tiny_slots.  The caches' operations are small/cache.h; when to refill
 * or flush is tiers/cache.c.
 */
#include "tiers/tiny.h"

void hak_tiny_set_cap(hak_heap *h, unsigned cls, uint32_t cap)
{
    hak_cache_set_cap(&h->cache[cls], h->tiny_slots[cls] + HAK_TINY_CACHE_MAX, cap);
}
