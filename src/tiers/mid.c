/*
 * mid.c - Mid tier slow paths: batch refill of the ring from the warm pool
 * (pages carved by bump runs, batched page acquisition in warm_pool.c),
 * and draining the ring's oldest blocks on overflow.
 */
#include "tiers/mid.h"

#include <errno.h>

#include "runtime/background.h"

#include "small/warm_pool.h"

void hak_mid_flush(hak_heap *h, unsigned m, unsigned n)
{
    uint32_t count = h->mid_count[m];
    if (n > count)
        n = count;
    void *tmp[HAK_MID_RING_MAX];
    uint32_t tail = (h->mid_head[m] - count) & HAK_MID_RING_MASK;
    for (unsigned i = 0; i < n; i++)
        tmp[i] = h->mid_slots[m][(tail + i) & HAK_MID_RING_MASK];
    h->mid_count[m] = count - n;
    hak_small_return_blocks(h, tmp, n);
    h->cstats[HAK_TINY_CLASSES + m].flush_blocks += n;
}

void *hak_mid_alloc_slow(unsigned cls)
{
    void *out;
    hak_heap *h = hak_small_slow_heap(cls, &out);
    if (h == NULL)
        return out;
    unsigned m = cls - HAK_TINY_CLASSES;
    if (h->drain_cap[cls] != 0) { /* the free run is over (heap.h) */
        h->mid_cap[m] = h->drain_cap[cls];
        h->drain_cap[cls] = 0;
    }
    h->free_run[cls] = 0;
    if (h->mid_count[m] == 0) {
        void *tmp[HAK_MID_RING_MAX];
        unsigned got = hak_small_refill(h, cls, tmp, h->batch[cls]);
        if (got == 0) {
            errno = ENOMEM;
            return NULL;
        }
        /* tmp[got-1] is to be handed out first: it goes in last. */
        uint32_t head = h->mid_head[m];
        for (unsigned i = 0; i < got; i++) {
            h->mid_slots[m][head] = tmp[i];
            head = (head + 1) & HAK_MID_RING_MASK;
        }
        h->mid_head[m] = head;
        h->mid_count[m] = got;
    }
    return hak_mid_alloc_class(cls);
}

void hak_mid_free_overflow(hak_heap *h, unsigned m, void *p)
{
    unsigned cls = HAK_TINY_CLASSES + m;
    if (h->drain_cap[cls] != 0) {
        /* Draining (heap.h): cap 0, every free comes here. */
        hak_small_return_blocks(h, &p, 1);
        h->cstats[cls].flush_blocks++;
    } else if (++h->free_run[cls] >= HAK_DRAIN_OVERFLOWS && h->mid_cap[m] != 0) {
        h->drain_cap[cls] = h->mid_cap[m];
        hak_mid_flush(h, m, h->mid_count[m]);
        h->mid_cap[m] = 0;
        hak_small_return_blocks(h, &p, 1);
        h->cstats[cls].flush_blocks++;
    } else {
        hak_mid_flush(h, m, h->mid_count[m] - h->mid_cap[m] / 2);
        uint32_t head = h->mid_head[m];
        h->mid_slots[m][head] = p;
        h->mid_head[m] = (head + 1) & HAK_MID_RING_MASK;
        h->mid_count[m]++;
    }
    hak_background_serve(); /* safe point, see tiny.c */
}
