/*
 * transfer.h - the transfer cache: per Tiny class, a few batches of free
 * blocks that any thread's cache left and any thread's cache may take, as
 * arrays of pointers (tcmalloc's transfer cache is the model).
 *
 * A cache that overflows puts its oldest blocks of other heaps' slabs here
 * in batches instead of sending them back to their owners (in a class
 * whose blocks move between threads, its own blocks too: tiers/cache.c);
 * a cache that misses takes a batch from here before its warm pool.  A
 * block moves from one thread's frees to another thread's mallocs by two
 * copies of a pointer array, without touching the block or its slab:
 * where one thread frees what another allocates, blocks circle between
 * the two caches and this array.
 *
 * A batch holds blocks of any heaps' slabs, all marked freed
 * (base/block.h), all still counted as out of their slabs.  So the cache is bounded (slots
 * and bytes per class), and what sits in it unused for purge_delay_ms goes
 * back to the slabs (hak_transfer_release, from the purge policy), so it
 * pins no slab for long.  Its bytes count as retained (base/counters.h).
 *
 * One futex lock per class, taken once per batch of blocks, never on an
 * inline fast path.
 */
#ifndef HAK_TRANSFER_H
#define HAK_TRANSFER_H

#include "small/heap.h"

/* The bounds: 64 batches of 32 blocks, as tcmalloc's transfer cache holds
 * per class, and at most 1 MiB of blocks per class.  Room for more
 * batches keeps more blocks circling between caches instead of going back
 * to their slabs scattered: with 4 and 8 threads passing blocks along
 * (prodcons), peak RSS fell 18-30% against 16 batches and 256 KiB, at
 * the same speed or better.  Retained memory, so the purge decay and
 * retain_max cover it. */
#define HAK_TRANSFER_BATCH 32                   /* blocks per batch at most */
#define HAK_TRANSFER_SLOTS 64                   /* batches per class at most */
#define HAK_TRANSFER_BYTES ((size_t)1024 << 10) /* bytes per class at most */

/* Put blocks[0..n) (n <= HAK_TRANSFER_BATCH, Tiny class cls, marked freed)
 * in as one batch; false if the class's transfer cache is full. */
bool hak_transfer_put(unsigned cls, void *const *blocks, unsigned n);
/* Take one batch of class cls into out[0..n); returns n, 0 if empty. */
unsigned hak_transfer_take(unsigned cls, void **out);
/* Send back to their slabs the batches of every class untouched for
 * delay_ms as of now_ms (all of them if force).  Returns bytes sent. */
size_t hak_transfer_release(uint64_t now_ms, uint64_t delay_ms, bool force);

void hak_transfer_fork_prepare(void);
void hak_transfer_fork_parent(void);
void hak_transfer_fork_child(void);

#endif
