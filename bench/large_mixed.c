/* large_mixed - random_mixed with 64 KiB - 1 MiB blocks (64 slots), tagged in every page. */
#define MIXED_KIND 2
#include "random_mixed.c"
