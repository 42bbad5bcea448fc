/* large_ends - random_mixed with 64 KiB - 1 MiB blocks (64 slots), tagged at the first and last byte only. */
#define MIXED_KIND 4
#include "random_mixed.c"
