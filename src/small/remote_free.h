/*
 * remote_free.h - freeing a block of a slab owned by another heap: one CAS
 * onto the slab's thread-free list (see the tag protocol in slab.h), and the
 * owner's `delayed` list for slabs it parked as full.
 */
#ifndef HAK_REMOTE_FREE_H
#define HAK_REMOTE_FREE_H

#include "small/heap.h"

/* b (already validated and marked freed) goes to slab s of another heap. */
void hak_remote_free_push(hak_slab *s, hak_block *b);
/* Take the heap's delayed list and give each block back to its slab. */
void hak_heap_process_delayed_slow(hak_heap *h);

hak_inline void hak_heap_process_delayed(hak_heap *h)
{
    /* relaxed: a hint; the exchange in the slow path acquires. */
    if (atomic_load_explicit(&h->delayed, memory_order_relaxed) != NULL)
        hak_heap_process_delayed_slow(h);
}

#endif
