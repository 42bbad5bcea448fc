/*
 * remote_free.h - freeing a block of a slab owned by another heap: one CAS
 * onto the slab's thread-free list (see the tag protocol in slab.h), or onto
 * the owner's `delayed` list for a slab it parked as full.  The owner takes
 * them with small/remote_collect.h.
 */
#ifndef HAK_REMOTE_FREE_H
#define HAK_REMOTE_FREE_H

#include "small/heap.h"

/* b (already validated and marked freed) goes to slab s of another heap. */
void hak_remote_free_push(hak_slab *s, hak_block *b);

#endif
