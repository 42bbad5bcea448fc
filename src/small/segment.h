/*
 * segment.h - pools of small (Tiny and Mid) segments: where heaps get fresh
 * slabs and where they return empty ones.  One lock per kind; heaps take
 * and return slabs in batches (prefill, empty-slab cache) so the lock is
 * taken about once per several hundred KiB of allocation.
 */
#ifndef HAK_SEGMENT_H
#define HAK_SEGMENT_H

#include "small/slab.h"

/* Place the Tiny arena (unless !arena: a process where hakmem stepped
 * aside maps nothing, see config/forward.h) and choose the freed mark
 * (base/block.h); once, at initialisation, before any block exists. */
void hak_segment_init(bool arena);
/* Take up to n FREE slabs of `kind`; returns how many (0: out of memory). */
unsigned hak_segment_acquire(unsigned kind, hak_slab **out, unsigned n);
/* Return slabs of one `kind` (owner-private state no longer needed).  They
 * stay resident until a purge (runtime/purge.c decides when). */
void hak_segment_release(unsigned kind, hak_slab **slabs, unsigned n);
/* madvise away FREE slabs that stayed free longer than the purge delay
 * (every FREE slab if force).  Returns bytes purged. */
size_t hak_segment_purge(uint64_t now_ms, bool force);

typedef struct hak_segment_totals {
    size_t mapped_bytes;     /* small segments mapped */
    size_t free_dirty_bytes; /* FREE slabs not yet purged */
    size_t free_bytes;       /* FREE slabs */
    size_t in_use_bytes;     /* slabs owned by heaps or abandoned */
    size_t free_slabs;       /* FREE slabs and pages */
} hak_segment_totals;
void hak_segment_totals_get(hak_segment_totals *t);

void hak_segment_fork_prepare(void);
void hak_segment_fork_parent(void);
void hak_segment_fork_child(void);

#endif
