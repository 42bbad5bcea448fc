/*
 * tiny.h - Tiny tier (<= 1 KiB) fast paths.  The HOT cache of a class is a
 * stack of free block pointers in the heap: malloc pops, a free of a block
 * of one of our own slabs pushes.  No atomics, no locks; a miss or an
 * overflow goes out of line to tiny.c.
 */
#ifndef HAK_TINY_H
#define HAK_TINY_H

#include "small/heap.h"
#include "base/track.h"

void *hak_tiny_alloc_slow(unsigned cls);
void hak_tiny_free_overflow(hak_heap *h, unsigned cls, void *p);
/* Flush `n` of class cls's cached blocks (the oldest) to their slabs. */
void hak_tiny_flush(hak_heap *h, unsigned cls, unsigned n);

hak_inline void *hak_tiny_alloc_class(unsigned cls)
{
    hak_heap *h = hak_heap_tls;
    void **t = h->tiny_top[cls];
    if (hak_likely(t != h->tiny_end[cls])) {
        hak_block *b = *t;
        h->tiny_top[cls] = t + 1;
        hak_track_alloc(b, hak_classes[cls].size);
        hak_block_mark_allocated(b);
        return b;
    }
    return hak_tiny_alloc_slow(cls);
}

hak_inline void *hak_tiny_malloc(size_t size)
{
    return hak_tiny_alloc_class(hak_tiny_class_of(size));
}

/* b is a validated block of slab s, owned by h and just marked freed. */
hak_inline void hak_tiny_free_local(hak_heap *h, unsigned cls, void *b)
{
    void **t = h->tiny_top[cls];
    h->tiny_frees[cls]++;
    /* <=, not ==: a cap lowered since (learner) leaves top below base. */
    if (hak_likely(t > h->tiny_base[cls])) {
        *--t = b;
        h->tiny_top[cls] = t;
        return;
    }
    hak_tiny_free_overflow(h, cls, b);
}

#endif
