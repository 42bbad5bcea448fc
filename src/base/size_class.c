/*
 * size_class.c - the class tables.  Generated once from the spacing rules
 * in size_class.h; tests/test_size_class.c re-derives and checks them
 * (round trip, waste bound, division magic exactness).
 */
#include "base/size_class.h"

const hak_class_info hak_classes[HAK_SMALL_CLASSES] = {
    {    16, 4096, 16, 0x1000000000ull },
    {    32, 2048, 16, 0x800000000ull },
    {    48, 1365, 16, 0x555555556ull },
    {    64, 1024, 16, 0x400000000ull },
    {    80,  819, 16, 0x333333334ull },
    {    96,  682, 16, 0x2aaaaaaabull },
    {   112,  585, 16, 0x24924924aull },
    {   128,  512, 16, 0x200000000ull },
    {   144,  455, 16, 0x1c71c71c8ull },
    {   160,  409, 16, 0x19999999aull },
    {   176,  372, 16, 0x1745d1746ull },
    {   192,  341, 16, 0x155555556ull },
    {   208,  315, 16, 0x13b13b13cull },
    {   224,  292, 16, 0x124924925ull },
    {   240,  273, 16, 0x111111112ull },
    {   256,  256, 16, 0x100000000ull },
    {   288,  227, 16, 0xe38e38e4ull },
    {   320,  204, 16, 0xcccccccdull },
    {   352,  186, 16, 0xba2e8ba3ull },
    {   384,  170, 16, 0xaaaaaaabull },
    {   416,  157, 16, 0x9d89d89eull },
    {   448,  146, 16, 0x92492493ull },
    {   480,  136, 16, 0x88888889ull },
    {   512,  128, 16, 0x80000000ull },
    {   576,  113, 16, 0x71c71c72ull },
    {   640,  102, 16, 0x66666667ull },
    {   704,   93, 16, 0x5d1745d2ull },
    {   768,   85, 16, 0x55555556ull },
    {   832,   78, 16, 0x4ec4ec4full },
    {   896,   73, 16, 0x4924924aull },
    {   960,   68, 16, 0x44444445ull },
    {  1024,   64, 16, 0x40000000ull },
    {  1280,  204, 18, 0x33333334ull },
    {  1536,  170, 18, 0x2aaaaaabull },
    {  1792,  146, 18, 0x24924925ull },
    {  2048,  128, 18, 0x20000000ull },
    {  2560,  102, 18, 0x1999999aull },
    {  3072,   85, 18, 0x15555556ull },
    {  3584,   73, 18, 0x12492493ull },
    {  4096,   64, 18, 0x10000000ull },
    {  5120,   51, 18, 0xccccccdull },
    {  6144,   42, 18, 0xaaaaaabull },
    {  7168,   36, 18, 0x924924aull },
    {  8192,   32, 18, 0x8000000ull },
    { 10240,   25, 18, 0x6666667ull },
    { 12288,   21, 18, 0x5555556ull },
    { 14336,   18, 18, 0x4924925ull },
    { 16384,   16, 18, 0x4000000ull },
    { 20480,   12, 18, 0x3333334ull },
    { 24576,   10, 18, 0x2aaaaabull },
    { 28672,    9, 18, 0x2492493ull },
    { 32768,    8, 18, 0x2000000ull },
};
const uint8_t hak_tiny_class_table[65] = {
    0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22, 22, 23,
    23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 27, 27, 27,
    27, 28, 28, 28, 28, 29, 29, 29, 29, 30, 30, 30, 30, 31, 31, 31,
    31,
};
const uint8_t hak_mid_class_table[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 32, 32, 33, 33, 34, 34, 35, 35,
    36, 36, 36, 36, 37, 37, 37, 37, 38, 38, 38, 38, 39, 39, 39, 39,
    40, 40, 40, 40, 40, 40, 40, 40, 41, 41, 41, 41, 41, 41, 41, 41,
    42, 42, 42, 42, 42, 42, 42, 42, 43, 43, 43, 43, 43, 43, 43, 43,
    44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44,
    45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45,
    46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 46,
    47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47,
    48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48,
    48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48,
    49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49,
    49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51,
    51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51,
};
/* 40 large classes */
const uint32_t hak_large_class_size[HAK_LARGE_CLASSES] = {
    36864, 40960, 45056, 49152, 53248, 57344, 61440, 65536,
    73728, 81920, 90112, 98304, 106496, 114688, 122880, 131072,
    147456, 163840, 180224, 196608, 212992, 229376, 245760, 262144,
    294912, 327680, 360448, 393216, 425984, 458752, 491520, 524288,
    589824, 655360, 720896, 786432, 851968, 917504, 983040, 1048576,
};

int hak_small_class_aligned(size_t size, size_t align)
{
    if (size > HAK_MID_MAX || align > HAK_MID_MAX)
        return -1;
    size_t need = size > align ? size : align;
    /* Slabs start at addresses aligned to their (>= 64 KiB) size, and a
     * coloured one's first block a multiple of HAK_SLAB_COLOR_STEP past
     * that, so a class whose size is a multiple of `align` has only aligned
     * blocks if align is at most the step or the class is uncoloured.
     * Powers of two up to 32 KiB are uncoloured classes, so the search
     * always ends. */
    for (unsigned c = hak_small_class_of(need); c < HAK_SMALL_CLASSES; c++)
        if ((hak_classes[c].size & (align - 1)) == 0 &&
            (align <= HAK_SLAB_COLOR_STEP || !hak_class_is_colored(c)))
            return (int)c;
    return -1;
}
