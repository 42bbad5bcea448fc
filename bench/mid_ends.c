/* mid_ends - random_mixed with 2 - 32 KiB blocks (400 slots), tagged at the first and last byte only. */
#define MIXED_KIND 3
#include "random_mixed.c"
