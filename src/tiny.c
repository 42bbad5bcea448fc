/*
 * tiny.c - Tiny tier slow paths: refill the cache from the warm pool on a
 * miss, flush the oldest half on overflow.
 */
#include "tiny.h"

#include <errno.h>

#include "background.h"
#include "forward.h"
#include <string.h>

#include "warm_pool.h"

void hak_tiny_flush(hak_heap *h, unsigned cls, unsigned n)
{
    uint32_t count = h->tiny_count[cls];
    if (n > count)
        n = count;
    void **slots = h->tiny_slots[cls];
    /* Oldest at the bottom: they are the coldest in the CPU cache.  They
     * leave the cache before they go back to their slabs: returning them
     * may start the background thread, whose creation calls malloc on this
     * thread (see hak_heap_release_empty_slabs). */
    void *out[HAK_TINY_CACHE_MAX];
    memcpy(out, slots, n * sizeof(void *));
    memmove(slots, slots + n, (count - n) * sizeof(void *));
    h->tiny_count[cls] = count - n;
    h->cstats[cls].flush_blocks += n;
    hak_small_return_blocks(h, out, n);
}

void *hak_tiny_alloc_slow(unsigned cls)
{
    hak_heap *h = hak_heap_get();
    if (h == NULL) {
        if (hak_forward)
            return hak_libc.malloc(hak_classes[cls].size);
        errno = ENOMEM;
        return NULL;
    }
    /* Safe point: nothing of h is being updated here, so the allocations
     * pthread_create makes find a consistent heap (background.h). */
    hak_background_serve();
    h->cstats[cls].slow_allocs++;
    if (h->tiny_count[cls] == 0) {
        unsigned got = hak_small_refill(h, cls, h->tiny_slots[cls], h->batch[cls]);
        if (got == 0) {
            errno = ENOMEM;
            return NULL;
        }
        h->tiny_count[cls] = got;
    }
    return hak_tiny_alloc_class(cls);
}

void hak_tiny_free_overflow(hak_heap *h, unsigned cls, void *p)
{
    /* Keep the newest half (count may exceed a cap lowered since). */
    hak_tiny_flush(h, cls, h->tiny_count[cls] - h->tiny_cap[cls] / 2);
    h->tiny_slots[cls][h->tiny_count[cls]++] = p;
    /* Safe point: the flush is complete (background.h).  A program that
     * frees and then goes idle needs its decay thread started here. */
    hak_background_serve();
}
