/*
 * mid.h - Mid tier (1 KiB < size <= 32 KiB): the HOT cache of each class is
 * a ring in the heap.  malloc and free work at the head (LIFO, the warmest
 * block first) and a flush drains the oldest blocks from the tail, so the
 * recently touched half stays cached.  As in tiny.h, these are the
 * operations; front/api.h composes the fast paths.
 *
 * Mid classes are small-class indexes HAK_TINY_CLASSES..; m = cls -
 * HAK_TINY_CLASSES indexes the heap's Mid arrays.
 */
#ifndef HAK_MID_H
#define HAK_MID_H

#include "base/track.h"
#include "small/heap.h"

#define HAK_MID_RING_MASK (HAK_MID_RING_MAX - 1)

hak_inline bool hak_mid_cache_has(const hak_heap *h, unsigned cls)
{
    return h->mid_count[cls - HAK_TINY_CLASSES] != 0;
}

/* Only after hak_mid_cache_has. */
hak_inline void *hak_mid_cache_pop(hak_heap *h, unsigned cls)
{
    unsigned m = cls - HAK_TINY_CLASSES;
    uint32_t head = (h->mid_head[m] - 1) & HAK_MID_RING_MASK;
    hak_block *b = h->mid_slots[m][head];
    h->mid_head[m] = head;
    h->mid_count[m]--;
    hak_track_alloc(b, hak_classes[cls].size);
    hak_block_mark_allocated(b);
    return b;
}

/* As hak_tiny_cache_push: true: taken and counted; false: full and b not
 * taken, or b taken as the last free of a free period (small/heap.h);
 * hak_mid_cache_took tells which. */
hak_inline bool hak_mid_cache_push(hak_heap *h, unsigned cls, void *b)
{
    unsigned m = cls - HAK_TINY_CLASSES;
    uint32_t n = h->mid_count[m];
    if (hak_likely(n < h->mid_cap[m])) {
        uint32_t head = h->mid_head[m];
        h->mid_slots[m][head] = b;
        h->mid_head[m] = (head + 1) & HAK_MID_RING_MASK;
        h->mid_count[m] = n + 1;
        return --h->mid_free_countdown[m] != 0;
    }
    return false;
}

/* As hak_tiny_cache_next_period. */
hak_inline void hak_mid_next_period(hak_heap *h, unsigned cls)
{
    unsigned m = cls - HAK_TINY_CLASSES;
    h->mid_free_periods[m]++;
    h->mid_free_countdown[m] = HAK_FREE_PERIOD;
}

/* As hak_tiny_cache_count_free. */
hak_inline void hak_mid_count_free(hak_heap *h, unsigned cls)
{
    if (--h->mid_free_countdown[cls - HAK_TINY_CLASSES] == 0)
        hak_mid_next_period(h, cls);
}

/* As hak_tiny_cache_took. */
hak_inline bool hak_mid_cache_took(const hak_heap *h, unsigned cls, const void *b)
{
    unsigned m = cls - HAK_TINY_CLASSES;
    return h->mid_count[m] != 0 && h->mid_slots[m][(h->mid_head[m] - 1) & HAK_MID_RING_MASK] == b;
}

/* Flush the `n` oldest blocks of the ring of class cls to their slabs. */
void hak_mid_flush(hak_heap *h, unsigned cls, unsigned n);
/* Put blocks[0..n) into the ring, which has room: blocks[n-1] is handed
 * out first. */
void hak_mid_fill(hak_heap *h, unsigned cls, void *const *blocks, unsigned n);

#endif
