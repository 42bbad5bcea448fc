/*
 * tiny.c - the Tiny stack's out-of-line operations: caps, flushing the
 * oldest blocks back to their slabs, filling from a refill.  When to do
 * which is tiers/cache.c.
 */
#include "tiers/tiny.h"

#include <string.h>

#include "small/warm_pool.h"

void hak_tiny_set_cap(hak_heap *h, unsigned cls, uint32_t cap)
{
    hak_tiny_cache *c = &h->tiny[cls];
    if (c->end == NULL) {
        c->top = c->end = h->tiny_slots[cls] + HAK_TINY_CACHE_MAX;
        c->free_countdown = HAK_FREE_PERIOD;
    }
    c->base = c->end - cap;
}

unsigned hak_tiny_take_oldest(hak_heap *h, unsigned cls, void **out, unsigned n)
{
    uint32_t count = hak_tiny_count(h, cls);
    if (n > count)
        n = count;
    if (n == 0)
        return 0;
    void **end = h->tiny[cls].end, **top = h->tiny[cls].top;
    /* The oldest are at the end: they are the coldest in the CPU cache.
     * Oldest first, so each slab's free list gets them in free order. */
    for (unsigned i = 0; i < n; i++)
        out[i] = end[-1 - (int)i];
    memmove(top + n, top, (count - n) * sizeof(void *));
    h->tiny[cls].top = top + n;
    return n;
}

void hak_tiny_flush(hak_heap *h, unsigned cls, unsigned n)
{
    void *oldest[HAK_TINY_CACHE_MAX];
    n = hak_tiny_take_oldest(h, cls, oldest, n);
    if (n == 0)
        return;
    hak_warm_pool_return_blocks(h, oldest, n);
    h->cstats[cls].flush_blocks += n;
}

void hak_tiny_fill(hak_heap *h, unsigned cls, void *const *blocks, unsigned n)
{
    /* blocks[n-1] goes on top. */
    void **t = h->tiny[cls].top;
    for (unsigned i = 0; i < n; i++)
        *--t = blocks[i];
    h->tiny[cls].top = t;
}
