/*
 * tiny.c - Tiny tier slow paths: refill the cache from the warm pool on a
 * miss, flush the oldest half on overflow.
 */
#include "tiers/tiny.h"

#include <errno.h>

#include "runtime/background.h"
#include <string.h>

#include "small/warm_pool.h"

void hak_tiny_set_cap(hak_heap *h, unsigned c, uint32_t cap)
{
    if (h->tiny_end[c] == NULL)
        h->tiny_top[c] = h->tiny_end[c] = h->tiny_slots[c] + HAK_TINY_CACHE_MAX;
    h->tiny_base[c] = h->tiny_end[c] - cap;
}

void hak_tiny_flush(hak_heap *h, unsigned cls, unsigned n)
{
    uint32_t count = hak_tiny_count(h, cls);
    if (n > count)
        n = count;
    if (n == 0)
        return;
    void **end = h->tiny_end[cls], **top = h->tiny_top[cls];
    /* The oldest are at the end: they are the coldest in the CPU cache.
     * Oldest first, so each slab's free list gets them in free order. */
    void *oldest[HAK_TINY_CACHE_MAX];
    for (unsigned i = 0; i < n; i++)
        oldest[i] = end[-1 - (int)i];
    hak_small_return_blocks(h, oldest, n);
    memmove(top + n, top, (count - n) * sizeof(void *));
    h->tiny_top[cls] = top + n;
    h->cstats[cls].flush_blocks += n;
}

void *hak_tiny_alloc_slow(unsigned cls)
{
    void *out;
    hak_heap *h = hak_small_slow_heap(cls, &out);
    if (h == NULL)
        return out;
    if (h->drain_cap[cls] != 0) { /* the free run is over */
        hak_tiny_set_cap(h, cls, h->drain_cap[cls]);
        h->drain_cap[cls] = 0;
    }
    h->free_run[cls] = 0;
    if (hak_tiny_count(h, cls) == 0) {
        void *tmp[HAK_TINY_CACHE_MAX];
        unsigned got = hak_small_refill(h, cls, tmp, h->batch[cls]);
        if (got == 0) {
            errno = ENOMEM;
            return NULL;
        }
        /* tmp[got-1] is to be handed out first: it goes on top. */
        void **t = h->tiny_end[cls];
        for (unsigned i = 0; i < got; i++)
            *--t = tmp[i];
        h->tiny_top[cls] = t;
    }
    return hak_tiny_alloc_class(cls);
}

void hak_tiny_free_overflow(hak_heap *h, unsigned cls, void *p)
{
    if (h->drain_cap[cls] != 0) {
        /* Draining (heap.h): cap 0, every free comes here. */
        hak_small_return_blocks(h, &p, 1);
        h->cstats[cls].flush_blocks++;
    } else if (++h->free_run[cls] >= HAK_DRAIN_OVERFLOWS && hak_tiny_cap(h, cls) != 0) {
        h->drain_cap[cls] = hak_tiny_cap(h, cls);
        hak_tiny_flush(h, cls, hak_tiny_count(h, cls));
        hak_tiny_set_cap(h, cls, 0);
        hak_small_return_blocks(h, &p, 1);
        h->cstats[cls].flush_blocks++;
    } else {
        /* Keep the newest half (count may exceed a cap lowered since). */
        hak_tiny_flush(h, cls, hak_tiny_count(h, cls) - hak_tiny_cap(h, cls) / 2);
        *--h->tiny_top[cls] = p;
    }
    /* Safe point: the flush is complete (background.h).  A program that
     * frees and then goes idle needs its decay thread started here. */
    hak_background_serve();
}
