/*
 * large.h - Large tier (32 KiB < size <= 1 MiB): runs of 4 KiB pages inside
 * 4 MiB Large segments, sized to one of 40 classes (8 per doubling).
 *
 * Each thread keeps a small cache of freed runs per class (no ownership: a
 * run can be freed into any thread's cache).  Misses go to the segments,
 * a pool of the run engine (runs.h): best fit, freed neighbours merged,
 * decay purging, empty segments unmapped.
 *
 * With the secure profile's quarantine a freed run (cleared) is first held
 * by the freeing thread's heap, up to min(quarantine, 16) runs and 4 MiB;
 * the oldest leaves when more come, and must still read as zero then (a
 * write after free is reported).
 */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H

#include "base/size_class.h"
#include "internal.h"
#include "small/heap.h"

/* Most bytes of freed runs a heap holds in quarantine. */
#define HAK_LARGE_QUARANTINE_BYTES ((size_t)4 << 20)

/* size in (HAK_MID_MAX, HAK_LARGE_MAX] or any size <= HAK_LARGE_MAX with
 * HAK_PAGE_SIZE < align <= HAK_LARGE_MAX, for the calling thread, whose
 * heap is h (NULL: it has none, no run cache).  *zeroed tells whether the
 * run is known to read as zero (fresh or purged pages).  NULL with errno
 * ENOMEM when no segment can be mapped. */
void *hak_large_alloc(hak_heap *h, size_t size, size_t align, bool *zeroed);
/* The same, with a run of exactly size's class: never a larger cached run,
 * so that requests of one small class served from this tier (the secure
 * profile's last Mid class) all get one usable size. */
void *hak_large_alloc_exact(hak_heap *h, size_t size, size_t align, bool *zeroed);
/* p is in a Large segment (segment map says so).  expected_size: 0, or the
 * size a sized free was given; expected_align: 0, or the alignment an
 * aligned free was given.  Either that does not match what p was allocated
 * with is reported as misuse. */
void hak_large_free(void *p, size_t expected_size, size_t expected_align);
size_t hak_large_usable(const void *p);
/* realloc's common case: p (checked as hak_large_usable checks it) keeps
 * its run as it is for new_size bytes; true if so, with new_size recorded
 * as what the run was asked for.  No heap needed: nothing is counted. */
bool hak_large_fits(void *p, size_t new_size);
/* Grow or shrink in place; true if p now holds new_size bytes.  h: the
 * calling thread's heap, for its counters (NULL: none). */
bool hak_large_resize(hak_heap *h, void *p, size_t new_size);
/* Release every run cached or held in quarantine by heap h to the
 * segments. */
void hak_large_cache_flush(hak_heap *h);
/* Purge free pages older than the purge delay (all of them if force);
 * returns bytes purged. */
size_t hak_large_purge(uint64_t now_ms, bool force);
/* Bytes in Large segments: mapped, and free-but-resident. */
void hak_large_totals(size_t *mapped, size_t *dirty_free);
/* Once, at initialisation (runtime/init.c) and before the first block:
 * the pool's geometry. */
void hak_large_init(void);
void hak_large_fork_prepare(void);
void hak_large_fork_parent(void);
void hak_large_fork_child(void);

#endif
