/*
 * size_class.h - size classes of the Tiny, Mid and Large tiers.
 *
 * Small classes (Tiny 0..31, Mid 32..51) share one index space because
 * they share the slab machinery.  Spacing: 16 B steps up to 128 B, then
 * 8 classes per doubling up to 1 KiB (internal waste <= 12.5% of the
 * request above 128 B), 4 per doubling for Mid, 8 per doubling (4 KiB
 * granular) for Large.  Every class boundary is a multiple of the lookup
 * table's granularity, so lookups are one table load.
 */
#ifndef HAK_SIZE_CLASS_H
#define HAK_SIZE_CLASS_H

#include "internal.h"

#define HAK_TINY_CLASSES   32
#define HAK_MID_CLASSES    20
#define HAK_SMALL_CLASSES  (HAK_TINY_CLASSES + HAK_MID_CLASSES)
#define HAK_LARGE_CLASSES  40

#define HAK_TINY_SLAB_SHIFT 16 /* 64 KiB slabs in Tiny segments */
#define HAK_MID_PAGE_SHIFT  18 /* 256 KiB pages in Mid segments */

typedef struct hak_class_info {
    uint32_t size;       /* block size in bytes */
    uint16_t capacity;   /* blocks per slab (page) */
    uint8_t slab_shift;  /* log2 of the slab size: 16 Tiny, 18 Mid */
    uint64_t div_magic;  /* ceil(2^40 / size): offset / size == (offset * magic) >> 40 */
} hak_class_info;

extern const hak_class_info hak_classes[HAK_SMALL_CLASSES];
extern HAK_HIDDEN const uint8_t hak_tiny_class_table[65];
extern HAK_HIDDEN const uint8_t hak_mid_class_table[256];
extern const uint32_t hak_large_class_size[HAK_LARGE_CLASSES];

/* size <= HAK_TINY_MAX (0 included). */
hak_inline unsigned hak_tiny_class_of(size_t size)
{
    return hak_tiny_class_table[(size + 15) >> 4];
}

/* HAK_TINY_MAX < size <= HAK_MID_MAX; returns the small-class index. */
hak_inline unsigned hak_mid_class_of(size_t size)
{
    return hak_mid_class_table[(size - 1) >> 7];
}

hak_inline unsigned hak_small_class_of(size_t size)
{
    return size <= HAK_TINY_MAX ? hak_tiny_class_of(size) : hak_mid_class_of(size);
}

hak_inline bool hak_class_is_tiny(unsigned cls) { return cls < HAK_TINY_CLASSES; }

/* Slab colours.  A Mid class whose size is not a power of two has its
 * blocks start one of HAK_SLAB_COLORS cache lines into their slab, a
 * different one from slab to slab (small/slab.c).  Blocks of a multiple of
 * the page size, or of a large power of two, laid end to end from an
 * aligned address all start at the same offset in their pages, and so do
 * the words a program reads first in each page of them: those lines then
 * compete for the few cache sets of that offset (one set in 64 of L1 and
 * of L2) while the others stay idle.  With blocks of 2 - 32 KiB whose every
 * page is touched (bench/mid_mixed), the benchmark ran 1.4 - 1.8x as
 * fast with colours in interleaved runs.  Powers of two stay uncoloured: they are the
 * classes an aligned allocation above a colour step takes
 * (hak_small_class_aligned), and with at least one of them per doubling
 * every alignment still has a class. */
#define HAK_SLAB_COLOR_STEP 64
#define HAK_SLAB_COLORS     64

hak_inline bool hak_class_is_colored(unsigned cls)
{
    return !hak_class_is_tiny(cls) && (hak_classes[cls].size & (hak_classes[cls].size - 1)) != 0;
}

/* Blocks of `size` bytes in a page's worth, at least one: how much a
 * refill carves or ramps up from without making more than about a page
 * resident. */
hak_inline uint32_t hak_blocks_per_page(uint32_t size)
{
    uint32_t n = (uint32_t)(HAK_PAGE_SIZE / size);
    return n ? n : 1;
}

/* Block index of byte offset `off` inside a slab of class `cls`. */
hak_inline uint32_t hak_class_block_index(const hak_class_info *ci, uintptr_t off)
{
    return (uint32_t)((off * ci->div_magic) >> 40);
}

/* HAK_MID_MAX < size <= HAK_LARGE_MAX. */
hak_inline unsigned hak_large_class_of(size_t size)
{
    size_t x = size - 1;
    unsigned b = 63u - (unsigned)__builtin_clzl(x); /* 15..19 */
    unsigned k = (unsigned)((x - ((size_t)1 << b)) >> (b - 3)); /* 0..7 */
    return (b - 15) * 8 + k;
}

/* Smallest small class whose blocks are all `align`-aligned and hold `size`
 * bytes, or -1 if none (align > 32 KiB or size too large).  Above
 * HAK_SLAB_COLOR_STEP only uncoloured classes qualify. */
int hak_small_class_aligned(size_t size, size_t align);

#endif
