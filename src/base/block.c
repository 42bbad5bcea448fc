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
 * does.  .data starts a page, and the first lines of pages are where a
 * program's page-aligned buffers and blocks begin: one that touches its
 * blocks a page apart fills the cache sets of those lines (L1 indexes by
 * the offset in the page) and evicted the mark on 4 frees in 10
 * (mid_mixed under callgrind's cache model), each then waiting on L2 at
 * the head of the free.  128-byte alignment puts it past .data's first
 * object (the C runtime's, in a shared library or a program), so at least
 * two lines into the page. */
uintptr_t hak_block_mark __attribute__((aligned(128))) = (uintptr_t)1 << 63;
