/*
 * remote_collect.h - the owner's side of cross-thread frees (see
 * remote_collect.c); the pushing side is remote_free.h.  Owner thread only.
 */
#ifndef HAK_REMOTE_COLLECT_H
#define HAK_REMOTE_COLLECT_H

#include "small/heap.h"

/* Collect the thread-free list of slab s into its local free lists;
 * returns the number of blocks. */
unsigned hak_remote_collect_slab(hak_slab *s);

/* Take the heap's inbox and give each block back to its slab. */
void hak_remote_collect_inbox_slow(hak_heap *h);

hak_inline void hak_remote_collect_inbox(hak_heap *h)
{
    /* relaxed: a hint; the exchange in the slow path acquires. */
    if (atomic_load_explicit(&h->inbox, memory_order_relaxed) != NULL)
        hak_remote_collect_inbox_slow(h);
}

/* The heap's thread is leaving: take what is in the inbox, and send later
 * pushers to the slab route. */
void hak_remote_inbox_close(hak_heap *h);
/* A thread takes the heap (again): pushers may use the inbox. */
void hak_remote_inbox_open(hak_heap *h);

#endif
