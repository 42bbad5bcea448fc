/*
 * counters.h - process-wide counters that are not per heap: segments
 * mapped and unmapped, bytes purged, Huge blocks, frees by threads that
 * have no heap, heaps created, and the free memory still resident in the
 * pools (the purge policy's trigger, runtime/purge.h).  Per-class counters
 * live in each heap (small/heap.h) and are summed on read
 * (runtime/stats.c).
 *
 * relaxed everywhere: independent counters, read for reporting and as
 * triggers, never to order other memory.
 */
#ifndef HAK_COUNTERS_H
#define HAK_COUNTERS_H

#include "base/size_class.h"
#include "internal.h"

typedef struct hak_global_stats {
    _Atomic uint64_t segments_mapped, segments_unmapped;
    _Atomic uint64_t bytes_mapped; /* current */
    _Atomic uint64_t bytes_purged;
    _Atomic uint64_t huge_allocs, huge_frees, huge_bytes; /* huge_bytes: current */
    /* Remote frees by threads with no heap, per small class. */
    _Atomic uint64_t heapless_class_frees[HAK_SMALL_CLASSES];
    _Atomic uint64_t heapless_large_frees, heapless_large_bytes;
    _Atomic uint64_t heaps_created;
} hak_global_stats;

extern hak_global_stats hak_gstats;

hak_inline void hak_stat_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

hak_inline void hak_stat_sub(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}

hak_inline void hak_stats_segment_mapped(size_t bytes)
{
    hak_stat_add(&hak_gstats.segments_mapped, 1);
    hak_stat_add(&hak_gstats.bytes_mapped, bytes);
}

hak_inline void hak_stats_segment_unmapped(size_t bytes)
{
    hak_stat_add(&hak_gstats.segments_unmapped, 1);
    hak_stat_sub(&hak_gstats.bytes_mapped, bytes);
}

hak_inline void hak_stats_purged(size_t bytes) { hak_stat_add(&hak_gstats.bytes_purged, bytes); }

/* Free memory still resident in the pools (FREE slabs not purged, free
 * Large pages not purged, cached Huge mappings), kept by the pools under
 * their locks. */
extern _Atomic size_t hak_retained_bytes;

hak_inline void hak_retained_add(size_t bytes)
{
    atomic_fetch_add_explicit(&hak_retained_bytes, bytes, memory_order_relaxed);
}

hak_inline void hak_retained_sub(size_t bytes)
{
    atomic_fetch_sub_explicit(&hak_retained_bytes, bytes, memory_order_relaxed);
}

hak_inline size_t hak_retained_get(void)
{
    return atomic_load_explicit(&hak_retained_bytes, memory_order_relaxed);
}

#endif
