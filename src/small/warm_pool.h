/*
 * warm_pool.h - the WARM tier of Tiny and Mid: per class, a small array of
 * owned slabs that still have free blocks.  A cache miss takes the top slab
 * and batch-refills from it; when the pool is empty, a secondary prefill
 * brings in up to prefill_budget slabs (the heap's partial list, abandoned
 * slabs of exited threads, then fresh slabs) so the next misses hit again.
 *
 * Everything here runs on the owning thread, without atomics except where
 * it touches shared stacks or a slab's thread-free word.
 */
#ifndef HAK_WARM_POOL_H
#define HAK_WARM_POOL_H

#include "small/heap.h"

/* Fill out[0..n) with up to `want` free blocks of class `cls` for heap h
 * (warm pool, then a secondary prefill).  Returns n; 0 only when no slab
 * can be had (out of memory). */
unsigned hak_warm_pool_refill(hak_heap *h, unsigned cls, void **out, unsigned want);

/* Give blocks (from h's caches) back to their slabs: h's own directly
 * (slabs that regain free blocks return to the warm pool, slabs that
 * become empty go to the heap's empty-slab cache), other heaps' in one
 * batch per owner (small/remote_free.h).  blocks[] is reordered. */
void hak_warm_pool_return_blocks(hak_heap *h, void **blocks, unsigned n);
/* The first half of that: give h's own blocks back to their slabs and move
 * the others to the front of blocks[]; returns how many others. */
unsigned hak_warm_pool_return_own(hak_heap *h, void **blocks, unsigned n);
/* One block back to its slab (owned by h). */
void hak_warm_pool_return_block(hak_heap *h, hak_slab *s, hak_block *b);

/* The pool itself (tests drive these directly). */
bool hak_warm_pool_push(hak_heap *h, hak_slab *s);
void hak_warm_pool_remove(hak_heap *h, hak_slab *s);
/* Secondary prefill of class cls; returns slabs added to the warm pool. */
unsigned hak_warm_pool_prefill(hak_heap *h, unsigned cls);

/* Put an owned slab with free blocks where refills find it: the warm
 * pool, or the partial list when the pool is full. */
void hak_warm_pool_place(hak_heap *h, hak_slab *s);
/* An owned slab with no block out: keep it or move it to the empty cache. */
void hak_warm_pool_slab_empty(hak_heap *h, hak_slab *s);
/* Return all but `keep` of h's cached empty slabs of `kind` to the
 * segments. */
void hak_warm_pool_release_empty(hak_heap *h, unsigned kind, unsigned keep);

#endif
