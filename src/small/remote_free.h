/*
 * remote_free.h - blocks going back to slabs another heap owns, in batches
 * onto the owner's inbox or one by one onto a slab's thread-free list (see
 * remote_free.c and the tag protocol in slab.h).  The owner takes them with
 * small/remote_collect.h.
 */
#ifndef HAK_REMOTE_FREE_H
#define HAK_REMOTE_FREE_H

#include "small/heap.h"

/* b (already validated and marked freed) goes to slab s of another heap,
 * by the slab route. */
void hak_remote_free_push(hak_slab *s, hak_block *b);
/* blocks[0..n) (freed, marked, of slabs other heaps own or nobody owns)
 * go back, one batch per owner.  from: the heap whose cache they left (its
 * remote_frees counts them), or NULL. */
void hak_remote_free_hand_over(hak_heap *from, void *const *blocks, unsigned n);

#endif
