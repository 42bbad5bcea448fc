/*
 * segment_map.c - the region -> kind map (see segment_map.h).
 */
#include "base/segment_map.h"

_Atomic uint8_t hak_segmap[HAK_SEGMAP_ENTRIES];

void hak_segmap_set(uintptr_t addr, size_t count, uint8_t value)
{
    size_t first = addr >> HAK_SEGMENT_SHIFT;
    for (size_t i = 0; i < count && first + i < HAK_SEGMAP_ENTRIES; i++)
        /* relaxed: see hak_segmap_get; publication of the segment itself
         * happens through the pointer hand-off. */
        atomic_store_explicit(&hak_segmap[first + i], value, memory_order_relaxed);
}
