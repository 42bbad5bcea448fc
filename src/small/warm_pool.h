/*
 * warm_pool.h - the WARM tier of Tiny and Mid: per class, a small array of
 * owned slabs that still have free blocks.  A cache miss takes the top slab
 * and batch-refills from it; when the pool is empty, a secondary prefill
 * brings in several slabs at once (the heap's partial list, abandoned slabs
 * of exited threads, then fresh slabs) so the next misses hit again.
 *
 * Everything here runs on the owning thread, without atomics except where
 * it touches shared stacks or a slab's thread-free word.
 */
#ifndef HAK_WARM_POOL_H
#define HAK_WARM_POOL_H

#include "small/heap.h"

/* The start of every Tiny or Mid allocation that missed its cache: the
 * thread's heap, at a background-thread safe point, its slow_allocs
 * counted.  NULL when the thread has no heap and cannot get one; *out is
 * then the answer: the C library's block for an excluded program, or NULL
 * with errno = ENOMEM. */
hak_heap *hak_small_slow_heap(unsigned cls, void **out);

/* Fill out[0..n) with up to `want` free blocks of class `cls` for heap h.
 * Returns n; 0 only when no memory can be had. */
unsigned hak_small_refill(hak_heap *h, unsigned cls, void **out, unsigned want);

/* Give blocks (from h's caches, freed by h) back to their slabs, all owned
 * by h.  Slabs that regain free blocks return to the warm pool, slabs that
 * become empty go to the heap's empty-slab cache. */
void hak_small_return_blocks(hak_heap *h, void *const *blocks, unsigned n);
/* One block back to its slab (owned by h). */
void hak_small_return_block(hak_heap *h, hak_slab *s, hak_block *b);

/* Warm pool primitives (exposed for tests). */
bool hak_warm_pool_push(hak_heap *h, hak_slab *s);
void hak_warm_pool_remove(hak_heap *h, hak_slab *s);
/* Secondary prefill of class cls; returns slabs added to the warm pool. */
unsigned hak_warm_pool_prefill(hak_heap *h, unsigned cls);

/* Put an owned slab with free blocks where refills find it. */
void hak_slab_make_available(hak_heap *h, hak_slab *s);
/* An owned slab with no block out: keep it or move it to the empty cache. */
void hak_slab_became_empty(hak_heap *h, hak_slab *s);
/* Return all of h's cached empty slabs of `kind` to the segments. */
void hak_heap_release_empty_slabs(hak_heap *h, unsigned kind, unsigned keep);

/* Doubly linked PARTIAL / FULL lists. */
void hak_slab_list_push(hak_slab **head, hak_slab *s);
void hak_slab_list_remove(hak_slab **head, hak_slab *s);

#endif
