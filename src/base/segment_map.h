/*
 * segment_map.h - one byte per 4 MiB region of the 47-bit user address
 * space says whether hakmem owns it and what it holds.  The map lives in
 * .bss (32 MiB of address space, only the pages covering our segments are
 * ever touched), so it works before any initialisation.
 *
 * Values: 0 not ours; HAK_SEGMAP_LARGE a Large segment; HAK_SEGMAP_HUGE_HEAD
 * the first region of a Huge mapping (its header is at the region start);
 * HAK_SEGMAP_HUGE_TAIL a later region of one; HAK_SEGMAP_ZERO a zone of
 * zero-size blocks (tiers/zero.h); HAK_SEGMAP_HUGE_ARENA a region of a
 * Huge arena (tiers/huge.h); otherwise the slab shift of a
 * small segment (HAK_TINY_SLAB_SHIFT or HAK_MID_PAGE_SHIFT), so the free
 * fast path gets the slab index with one shift.
 */
#ifndef HAK_SEGMENT_MAP_H
#define HAK_SEGMENT_MAP_H

#include "internal.h"

enum {
    HAK_SEGMAP_NONE = 0,
    HAK_SEGMAP_LARGE = 1,
    HAK_SEGMAP_HUGE_HEAD = 2,
    HAK_SEGMAP_HUGE_TAIL = 3,
    HAK_SEGMAP_ZERO = 4,
    HAK_SEGMAP_HUGE_ARENA = 5,
    HAK_SEGMAP_SMALL_MIN = 16, /* values >= this are small segments */
};

extern HAK_HIDDEN _Atomic uint8_t hak_segmap[HAK_SEGMAP_ENTRIES];

hak_inline unsigned hak_segmap_get(uintptr_t addr)
{
    size_t i = addr >> HAK_SEGMENT_SHIFT;
    if (hak_unlikely(i >= HAK_SEGMAP_ENTRIES))
        return HAK_SEGMAP_NONE;
    /* relaxed: a pointer handed between threads carries its own
     * happens-before (the program's synchronisation); the map entry was
     * written before the memory was handed out. */
    return atomic_load_explicit(&hak_segmap[i], memory_order_relaxed);
}

/* Mark `count` regions starting at the region of `addr`. */
void hak_segmap_set(uintptr_t addr, size_t count, uint8_t value);

#endif
