/*
 * test_size_class.c - the class tables: every size maps to the smallest
 * class that holds it, waste bounds, division magic exactness, aligned
 * class search, Large classes.
 */
#include "test_util.h"

#include "base/size_class.h"

Test(size_class, tables_are_consistent)
{
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        const hak_class_info *ci = &hak_classes[c];
        cr_assert_eq(ci->size % 16, 0, "class %u size %u not 16-aligned", c, ci->size);
        if (c > 0)
            cr_assert_gt(ci->size, hak_classes[c - 1].size);
        cr_assert_eq(ci->slab_shift, hak_class_is_tiny(c) ? HAK_TINY_SLAB_SHIFT : HAK_MID_PAGE_SHIFT);
        cr_assert_eq(ci->capacity, ((size_t)1 << ci->slab_shift) / ci->size);
    }
    cr_assert_eq(hak_classes[HAK_TINY_CLASSES - 1].size, HAK_TINY_MAX);
    cr_assert_eq(hak_classes[HAK_SMALL_CLASSES - 1].size, HAK_MID_MAX);
}

Test(size_class, round_trip_smallest_fit)
{
    for (size_t size = 0; size <= HAK_MID_MAX; size++) {
        unsigned c = hak_small_class_of(size);
        cr_assert_lt(c, HAK_SMALL_CLASSES);
        cr_assert_geq(hak_classes[c].size, size, "size %zu class %u too small", size, c);
        if (c > 0)
            cr_assert_lt(hak_classes[c - 1].size, size ? size : 1,
                         "size %zu not in the smallest class", size);
        cr_assert_eq(hak_class_is_tiny(c), size <= HAK_TINY_MAX);
    }
}

Test(size_class, tiny_waste_bound_above_128)
{
    /* At most 12.5% of the request is wasted for every size above 128 B. */
    for (size_t size = 129; size <= HAK_TINY_MAX; size++) {
        uint32_t cs = hak_classes[hak_tiny_class_of(size)].size;
        cr_assert_leq((cs - size) * 8, size, "size %zu -> %u wastes more than 12.5%%", size, cs);
    }
    /* Up to 128 B the waste is below one 16-byte granule. */
    for (size_t size = 1; size <= 128; size++)
        cr_assert_lt(hak_classes[hak_tiny_class_of(size)].size - size, 16);
}

Test(size_class, division_magic_is_exact)
{
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        const hak_class_info *ci = &hak_classes[c];
        uintptr_t slab = (uintptr_t)1 << ci->slab_shift;
        for (uintptr_t off = 0; off < slab; off++)
            if (hak_class_block_index(ci, off) != off / ci->size)
                cr_assert_fail("class %u offset %lu: magic index %u != %lu", c, (unsigned long)off,
                         hak_class_block_index(ci, off), (unsigned long)(off / ci->size));
    }
}

Test(size_class, aligned_class_search)
{
    for (size_t align = 16; align <= HAK_MID_MAX; align <<= 1) {
        for (size_t size = 0; size <= HAK_MID_MAX; size += 97) {
            int c = hak_small_class_aligned(size, align);
            cr_assert_geq(c, 0, "no class for size %zu align %zu", size, align);
            cr_assert_eq(hak_classes[c].size % align, 0);
            cr_assert_geq(hak_classes[c].size, size);
        }
    }
    cr_assert_eq(hak_small_class_aligned(100, 65536), -1);
    cr_assert_eq(hak_small_class_aligned(HAK_MID_MAX + 1, 16), -1);
}

Test(size_class, large_classes)
{
    for (unsigned c = 0; c < HAK_LARGE_CLASSES; c++) {
        cr_assert_eq(hak_large_class_size[c] % 4096, 0);
        if (c > 0)
            cr_assert_gt(hak_large_class_size[c], hak_large_class_size[c - 1]);
    }
    cr_assert_eq(hak_large_class_size[HAK_LARGE_CLASSES - 1], HAK_LARGE_MAX);
    for (size_t size = HAK_MID_MAX + 1; size <= HAK_LARGE_MAX; size++) {
        unsigned c = hak_large_class_of(size);
        cr_assert_lt(c, HAK_LARGE_CLASSES);
        cr_assert_geq(hak_large_class_size[c], size);
        if (c > 0)
            cr_assert_lt(hak_large_class_size[c - 1], size);
        cr_assert_leq((hak_large_class_size[c] - size) * 8, size);
    }
}

Test(size_class, api_usable_size_is_class_size)
{
    for (size_t size = 0; size <= HAK_MID_MAX; size += 13) {
        void *p = hak_malloc(size);
        cr_assert_not_null(p);
        cr_assert_eq(hak_malloc_usable_size(p), hak_classes[hak_small_class_of(size)].size);
        hak_free(p);
    }
}
