/*
 * mid.c - the Mid caches' slots: a cap is a number of the class's
 * mid_slots.  The caches' operations are small/cache.h; when to refill or
 * flush is tiers/cache.c (pages carved by bump runs, batched page
 * acquisition in small/warm_pool.c).
 */
#include "tiers/mid.h"

void hak_mid_set_cap(hak_heap *h, unsigned cls, uint32_t cap)
{
    hak_cache_set_cap(&h->cache[cls], h->mid_slots[cls - HAK_TINY_CLASSES] + HAK_MID_RING_MAX, cap);
}
