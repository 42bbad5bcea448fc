/*
 * abandon.h - slabs of exited threads.  A thread's exit hands every slab
 * it owns to a per-class shared stack (if the slab has free blocks) or
 * marks it ABANDONED (if it has none: the next remote free lists it).
 * Heaps adopt from these stacks during secondary prefill.
 */
#ifndef HAK_ABANDON_H
#define HAK_ABANDON_H

#include "small/heap.h"

/* Pop an abandoned slab of class cls, make it h's and place it (warm pool,
 * partial list or empty cache).  Returns false if the stack was empty. */
bool hak_abandon_adopt(hak_heap *h, unsigned cls);
/* List a slab with free blocks on its class's stack (owner already NULL). */
void hak_abandon_push(hak_slab *s);
/* Give up every slab h owns (thread exit, after its caches are flushed). */
void hak_abandon_heap_slabs(hak_heap *h);
/* Adopt-and-release pass over every stack: slabs whose blocks all came
 * back are returned to their segments (malloc_trim, purge). */
void hak_abandon_reclaim(hak_heap *h);

#endif
