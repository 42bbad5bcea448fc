/*
 * mid.h - Mid tier (1 KiB < size <= 32 KiB) fast paths.  The HOT cache of a
 * class is a ring: malloc and free work at the head (LIFO, the warmest
 * block first) and an overflow drains the oldest blocks from the tail, so
 * the recently touched half stays cached.
 */
#ifndef HAK_MID_H
#define HAK_MID_H

#include "small/heap.h"
#include "base/track.h"

#define HAK_MID_RING_MASK (HAK_MID_RING_MAX - 1)

void *hak_mid_alloc_slow(unsigned cls);
void hak_mid_free_overflow(hak_heap *h, unsigned m, void *p);
/* Flush the `n` oldest blocks of Mid ring m to their slabs. */
void hak_mid_flush(hak_heap *h, unsigned m, unsigned n);

/* cls is a small-class index of a Mid class. */
hak_inline void *hak_mid_alloc_class(unsigned cls)
{
    hak_heap *h = hak_heap_tls;
    unsigned m = cls - HAK_TINY_CLASSES;
    uint32_t n = h->mid_count[m];
    if (hak_likely(n != 0)) {
        uint32_t head = (h->mid_head[m] - 1) & HAK_MID_RING_MASK;
        hak_block *b = h->mid_slots[m][head];
        h->mid_head[m] = head;
        h->mid_count[m] = n - 1;
        hak_track_alloc(b, hak_classes[cls].size);
        hak_block_mark_allocated(b);
        return b;
    }
    return hak_mid_alloc_slow(cls);
}

hak_inline void *hak_mid_malloc(size_t size)
{
    return hak_mid_alloc_class(hak_mid_class_of(size));
}

hak_inline void hak_mid_free_local(hak_heap *h, unsigned cls, void *b)
{
    unsigned m = cls - HAK_TINY_CLASSES;
    uint32_t n = h->mid_count[m];
    h->mid_frees[m]++;
    if (hak_likely(n < h->mid_cap[m])) {
        uint32_t head = h->mid_head[m];
        h->mid_slots[m][head] = b;
        h->mid_head[m] = (head + 1) & HAK_MID_RING_MASK;
        h->mid_count[m] = n + 1;
        return;
    }
    hak_mid_free_overflow(h, m, b);
}

#endif
