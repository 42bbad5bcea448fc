/*
 * test_segment_map.c - which regions the segment map claims, for every
 * tier, and that foreign addresses are never claimed.
 */
#include "test_util.h"

#include "base/block.h"
#include "base/segment_map.h"
#include "small/slab.h"

static int segmap_global;

Test(segment_map, foreign_addresses_are_not_ours)
{
    int local;
    void *glibc = malloc(64);
    cr_assert_eq(hak_segmap_get(0), HAK_SEGMAP_NONE);
    cr_assert_eq(hak_segmap_get((uintptr_t)&local), HAK_SEGMAP_NONE);
    cr_assert_eq(hak_segmap_get((uintptr_t)&segmap_global), HAK_SEGMAP_NONE);
    cr_assert_eq(hak_segmap_get((uintptr_t)glibc), HAK_SEGMAP_NONE);
    cr_assert_eq(hak_segmap_get((uintptr_t)1 << 47), HAK_SEGMAP_NONE);
    cr_assert_eq(hak_segmap_get(~(uintptr_t)0), HAK_SEGMAP_NONE);
    free(glibc);
}

Test(segment_map, small_segments_map_to_their_slab_shift)
{
    void *tiny = hak_malloc(24);
    void *mid = hak_malloc(5000);
    cr_assert_eq(hak_segmap_get((uintptr_t)tiny), HAK_TINY_SLAB_SHIFT);
    cr_assert_eq(hak_segmap_get((uintptr_t)mid), HAK_MID_PAGE_SHIFT);
    /* ptr -> segment is a mask, and the header there is a hakmem segment. */
    hak_segment *seg = hak_segment_of((uintptr_t)tiny);
    cr_assert_eq(seg->magic, hak_keys.header ^ (uintptr_t)seg);
    cr_assert_eq(seg->shift, HAK_TINY_SLAB_SHIFT);
    hak_slab *s = hak_slab_of((uintptr_t)tiny, HAK_TINY_SLAB_SHIFT);
    cr_assert_eq(s->block_size, 32);
    cr_assert(hak_slab_is_block_start(s, (uintptr_t)tiny));
    cr_assert_not(hak_slab_is_block_start(s, (uintptr_t)tiny + 16));
    hak_free(tiny);
    hak_free(mid);
}

Test(segment_map, large_and_huge)
{
    void *large = hak_malloc(200 * 1024);
    cr_assert_eq(hak_segmap_get((uintptr_t)large), HAK_SEGMAP_LARGE);
    /* Up to 32 MiB: in a Huge arena, every region of which is marked. */
    size_t mid = 3 * ((size_t)4 << 20) + 12345;
    char *arena_block = hak_malloc(mid);
    cr_assert_eq(hak_segmap_get((uintptr_t)arena_block), HAK_SEGMAP_HUGE_ARENA);
    cr_assert_eq(hak_segmap_get((uintptr_t)arena_block + mid - 1), HAK_SEGMAP_HUGE_ARENA);
    hak_free(arena_block);
    hak_malloc_trim(0); /* an empty arena goes back after the purge delay, or now */
    cr_assert_eq(hak_segmap_get((uintptr_t)arena_block), HAK_SEGMAP_NONE);
    /* Larger: its own mapping, a head region and tail regions. */
    size_t big = 9 * ((size_t)4 << 20) + 12345;
    char *huge = hak_malloc(big);
    cr_assert_eq(hak_segmap_get((uintptr_t)huge), HAK_SEGMAP_HUGE_HEAD);
    cr_assert_eq(hak_segmap_get((uintptr_t)huge + big - 1), HAK_SEGMAP_HUGE_TAIL);
    hak_free(huge);
    hak_malloc_trim(0); /* freed Huge mappings are cached until the purge delay */
    cr_assert_eq(hak_segmap_get((uintptr_t)huge), HAK_SEGMAP_NONE);
    cr_assert_eq(hak_segmap_get((uintptr_t)huge + big - 1), HAK_SEGMAP_NONE);
    hak_free(large);
}

Test(segment_map, set_and_clear)
{
    uintptr_t far = (uintptr_t)0x700000000000ull;
    cr_assert_eq(hak_segmap_get(far), HAK_SEGMAP_NONE);
    hak_segmap_set(far, 3, HAK_SEGMAP_LARGE);
    cr_assert_eq(hak_segmap_get(far + (1 << 22) * 2 + 5), HAK_SEGMAP_LARGE);
    cr_assert_eq(hak_segmap_get(far + (1 << 22) * 3), HAK_SEGMAP_NONE);
    hak_segmap_set(far, 3, HAK_SEGMAP_NONE);
    cr_assert_eq(hak_segmap_get(far), HAK_SEGMAP_NONE);
    /* Past the end of the map: ignored, never out of bounds. */
    hak_segmap_set(((uintptr_t)1 << 47) - (1 << 22), 4, HAK_SEGMAP_LARGE);
    cr_assert_eq(hak_segmap_get(((uintptr_t)1 << 47) - 1), HAK_SEGMAP_LARGE);
    cr_assert_eq(hak_segmap_get((uintptr_t)1 << 47), HAK_SEGMAP_NONE);
}
