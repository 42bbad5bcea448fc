/* mid_mixed - random_mixed with 2 - 32 KiB blocks (400 slots), tagged in every page. */
#define MIXED_KIND 1
#include "random_mixed.c"
