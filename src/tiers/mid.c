/*
 * mid.c - the Mid ring's out-of-line operations: flushing the oldest
 * blocks back to their pages, filling from a refill (pages carved by bump
 * runs, batched page acquisition in small/warm_pool.c).  When to do which
 * is tiers/cache.c.
 */
#include "tiers/mid.h"

#include "small/warm_pool.h"

void hak_mid_flush(hak_heap *h, unsigned cls, unsigned n)
{
    unsigned m = cls - HAK_TINY_CLASSES;
    uint32_t count = h->mid_count[m];
    if (n > count)
        n = count;
    void *tmp[HAK_MID_RING_MAX];
    uint32_t tail = (h->mid_head[m] - count) & HAK_MID_RING_MASK;
    for (unsigned i = 0; i < n; i++)
        tmp[i] = h->mid_slots[m][(tail + i) & HAK_MID_RING_MASK];
    h->mid_count[m] = count - n;
    hak_warm_pool_return_blocks(h, tmp, n);
    h->cstats[cls].flush_blocks += n;
}

void hak_mid_fill(hak_heap *h, unsigned cls, void *const *blocks, unsigned n)
{
    /* blocks[n-1] goes in last, at the head. */
    unsigned m = cls - HAK_TINY_CLASSES;
    uint32_t head = h->mid_head[m];
    for (unsigned i = 0; i < n; i++) {
        h->mid_slots[m][head] = blocks[i];
        head = (head + 1) & HAK_MID_RING_MASK;
    }
    h->mid_head[m] = head;
    h->mid_count[m] += n;
}
