/*
 * block.c - the per-process secrets of block.h.  Written once by
 * initialisation (runtime/init.c) before any block exists, then only read.
 */
#include "base/block.h"

hak_keys_t hak_keys;
/* Before initialisation: a non-canonical address, so that the Tiny arena's
 * range test (small/slab.h) fails for every pointer until there is one.
 *
 * Every free's first load, so it must stay in L1 whatever the program
 * does.  The first lines of pages are where a program's page-aligned
 * buffers and blocks begin: one that touches its blocks a page apart fills
 * the cache sets of those lines (L1 indexes by the offset in the page),
 * and at .data's second word the mark was evicted on 4 frees in 10
 * (mid_mixed under callgrind's cache model), each then waiting on L2 at
 * the head of the free.  128 bytes into a 256-byte-aligned object it is at
 * least two lines into its page, wherever the linker puts the object. */
hak_block_mark_home_t hak_block_mark_home = {.mark = (uintptr_t)1 << 63};
