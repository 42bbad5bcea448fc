/*
 * stats.h - process-wide counters that are not per heap (segments, purges,
 * frees by threads without a heap) and the snapshot / print functions.
 * Per-class counters live in each heap (heap.h) and are summed on read.
 */
#ifndef HAK_STATS_H
#define HAK_STATS_H

#include "internal.h"

typedef struct hak_global_stats {
    /* relaxed everywhere: independent counters, read only for reporting. */
    _Atomic uint64_t segments_mapped, segments_unmapped;
    _Atomic uint64_t bytes_mapped;   /* current */
    _Atomic uint64_t bytes_purged;
    _Atomic uint64_t huge_allocs, huge_frees, huge_bytes; /* huge_bytes: current */
    _Atomic uint64_t heapless_remote_frees;  /* remote frees by threads with no heap */
    _Atomic uint64_t heapless_class_frees[64]; /* per class, same */
    _Atomic uint64_t heapless_large_frees, heapless_large_bytes;
    _Atomic uint64_t heaps_created;
} hak_global_stats;

extern hak_global_stats hak_gstats;

hak_inline void hak_stat_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

hak_inline void hak_stats_segment_mapped(size_t bytes)
{
    hak_stat_add(&hak_gstats.segments_mapped, 1);
    hak_stat_add(&hak_gstats.bytes_mapped, bytes);
}

hak_inline void hak_stats_segment_unmapped(size_t bytes)
{
    hak_stat_add(&hak_gstats.segments_unmapped, 1);
    atomic_fetch_sub_explicit(&hak_gstats.bytes_mapped, bytes, memory_order_relaxed);
}

hak_inline void hak_stats_purged(size_t bytes) { hak_stat_add(&hak_gstats.bytes_purged, bytes); }

/* Print at exit if the stats option is on (called from the destructor). */
void hak_stats_at_exit(void);

#endif
