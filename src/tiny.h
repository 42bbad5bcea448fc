/*
 * tiny.h - Tiny tier (<= 1 KiB) fast paths.  The HOT cache of a class is a
 * stack of free block pointers in the heap: malloc pops, a free of a block
 * of one of our own slabs pushes.  No atomics, no locks; a miss or an
 * overflow goes out of line to tiny.c.
 */
#ifndef HAK_TINY_H
#define HAK_TINY_H

#include "heap.h"
#include "track.h"

void *hak_tiny_alloc_slow(unsigned cls);
void hak_tiny_free_overflow(hak_heap *h, unsigned cls, void *p);
/* Flush `n` of class cls's cached blocks (the oldest) to their slabs. */
void hak_tiny_flush(hak_heap *h, unsigned cls, unsigned n);

hak_inline void *hak_tiny_alloc_class(unsigned cls)
{
    hak_heap *h = hak_heap_tls;
    uint32_t n = h->tiny_count[cls];
    if (hak_likely(n != 0)) {
        hak_block *b = h->tiny_slots[cls][n - 1];
        h->tiny_count[cls] = n - 1;
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
    uint32_t n = h->tiny_count[cls];
    h->tiny_frees[cls]++;
    if (hak_likely(n < h->tiny_cap[cls])) {
        h->tiny_slots[cls][n] = b;
        h->tiny_count[cls] = n + 1;
        return;
    }
    hak_tiny_free_overflow(h, cls, b);
}

#endif
