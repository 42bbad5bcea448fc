/*
 * block.c - the per-process secrets of block.h.  Written once by
 * initialisation (runtime/init.c) before any block exists, then only read.
 */
#include "base/block.h"

hak_keys_t hak_keys;
/* Before initialisation: a non-canonical address, so that the Tiny arena's
 * range test (small/arena.h) fails for every pointer until there is one. */
uintptr_t hak_block_mark = (uintptr_t)1 << 63;
