/* huge_mixed - random_mixed with 5 - 25 MiB blocks (8 slots), tagged in every page. */
#define MIXED_KIND 5
#include "random_mixed.c"
