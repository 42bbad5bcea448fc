/*
 * cache.h - what happens when a Tiny or Mid cache cannot serve: the miss
 * (refill from the warm pool) and the overflow (flush half, or drain).
 * One protocol for both tiers, whose caches are the same stack
 * (small/cache.h) over each class's slots in the heap (small/heap.h).
 * The front (front/alloc.c) calls these at its one miss and one overflow
 * entry, after its safe point.
 *
 * Free-run drain: a class whose cache overflowed HAK_DRAIN_OVERFLOWS times
 * with no refill in between is in a run of frees (a structure being torn
 * down).  Its cap drops to a few blocks (HAK_DRAIN_CAP_TINY, _MID) and each
 * overflow then sends the whole cache back, so the rest of the run goes
 * back to the slabs a few blocks at a time, and at most those few blocks
 * are left pinning a mostly free slab when the thread stops allocating
 * (the purge can then return the others even if the thread never calls us
 * again).  The next miss restores the cap.  Each such overflow costs a
 * safe point and a flush, about 300 instructions before the blocks'
 * own: a Tiny drain of 16 blocks at a time, not 4, cut the allocator's
 * instructions on the memory benchmark by a sixth.
 *
 * Refill ramp: a heap's first refill of a class from a slab takes a page's
 * worth of blocks (one block for classes above a page), each later one
 * twice as many, up to the class's batch.  A thread that uses a class
 * little (most threads, most classes) then carves and caches a few of its
 * blocks instead of a whole batch: with glibc's thread benchmark, peak RSS
 * at 4 and 8 threads fell 16-23%.  It costs a busy class three or four
 * more refills in all.
 *
 * Growth: a class that overflows with misses since its previous overflow moves
 * a working set larger than its cache back and forth (a thread that frees
 * bursts of blocks and allocates them again later, typically blocks other
 * threads allocated).  Each such overflow doubles its cap, up to the heap's
 * ceiling for the class, so the blocks stay in the cache instead of going
 * back to their slabs (and, for other threads' blocks, to their owners)
 * only to be fetched again.  The ceiling is twice the configured cap.  A
 * class that only ever moved its own blocks (no overflow of it sent
 * another heap's block away) and emptied its cache at least
 * HAK_GROWTH_RUN_MISSES times between two overflows moves a batch of its
 * own blocks: a few hundred allocated, then freed (glibc's malloc
 * benchmark, a request's parse tree).  Its ceiling is as many blocks as
 * HAK_CACHE_GROWTH_BYTES holds (small/heap.h; 2048 of 64 bytes, 512 of
 * 1 KiB), so that the batch stays in the cache, as in tcmalloc's growing
 * thread caches, and the caches of a heap grown past their ordinary
 * ceilings hold HAK_CACHE_GROWTH_HEAP_BYTES together at most (as much as
 * 32 classes of 128 KiB, the bound before a class could hold 512): a
 * class that grows takes the room of other grown classes first.  With
 * batches of 400 blocks of 1 KiB or 1600 of 256 bytes, a cache of 128 KiB
 * overflowed and refilled on every batch; holding them took bench/
 * batch_small from 99 to 88 instructions per op, and its peak RSS from
 * 4.0 to 4.8 MiB.  Moving a block between a
 * cache and its slab costs about 25 instructions each way, against 2 for
 * a cache hit.  Blocks of other threads are kept out of this: held in a
 * grown cache they would stay away from their owners' slabs (with a
 * producer and a consumer, peak RSS rose by a third).
 */
#ifndef HAK_CACHE_H
#define HAK_CACHE_H

#include "small/heap.h"

/* hak_heap.grow_mark of a class that has not overflowed yet. */
#define HAK_CACHE_NO_OVERFLOW UINT64_MAX

/* The cache of class cls is empty: refill it.  false: no memory. */
bool hak_cache_refill(hak_heap *h, unsigned cls);
/* p (validated, marked freed, counted) did not fit in the cache of cls. */
void hak_cache_overflow(hak_heap *h, unsigned cls, void *p);
/* The n oldest blocks of the cache of class cls back to their slabs. */
void hak_cache_flush(hak_heap *h, unsigned cls, unsigned n);
/* Every Tiny and Mid cache of h back to the slabs (trim, thread exit). */
void hak_cache_flush_all(hak_heap *h);

#endif
