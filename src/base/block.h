/*
 * block.h - the two words hakmem keeps inside a free block.
 *
 *   word 0: free-list link, encoded safe-linking style
 *           stored = next ^ (address of the link >> 12) ^ key.link
 *           so a use-after-free or overflow write cannot point the list at
 *           an address of the attacker's choosing; every decoded link is
 *           checked to stay in its slab before it is followed.
 *   word 1: the "freed" mark, hak_block_mark, while the block is free (in
 *           a cache, a slab free list or a thread-free list), 0 once malloc
 *           hands it out.  free() of a block that carries the mark is a
 *           double free.
 *
 * The mark is one value for the whole process, chosen once at
 * initialisation before any block exists (small/arena.c): the base address
 * of the Tiny arena, or a random non-canonical address when there is no
 * arena.  Either way no live block holds it by accident: nothing is ever
 * allocated at the arena's base (its descriptor region starts there), so no
 * program keeps a pointer equal to it, and a non-canonical address is no
 * pointer at all.  Its low half is never 0 either (hak_block_carries_mark
 * compares it first).  It is not a secret and need not be: a program that can
 * write a freed block can defeat any mark.  Making it the arena's base lets
 * the free fast path load one word for two uses (front/api.h).
 *
 * Every block is at least 16 bytes, so both words always exist.
 */
#ifndef HAK_BLOCK_H
#define HAK_BLOCK_H

#include "internal.h"
#include "base/track.h"

#include <string.h>

typedef struct hak_block {
    uintptr_t link;
    uintptr_t mark;
} hak_block;

typedef struct hak_keys {
    uintptr_t link;   /* free-list link encoding */
    uintptr_t header; /* segment and huge header magics */
} hak_keys_t;

/* Written once during initialisation, before any block exists. */
extern HAK_HIDDEN hak_keys_t hak_keys;
/* The freed mark, also the Tiny arena's base (small/slab.h): every free's
 * first load.  It lies 128 bytes into an object aligned to 256, so at
 * least two lines into its page whatever the linker places before it
 * (block.c says why that matters). */
typedef struct hak_block_mark_home {
    unsigned char before[128]; /* never used: keeps the mark off a page's first lines */
    uintptr_t mark;
} __attribute__((aligned(256))) hak_block_mark_home_t;
_Static_assert(offsetof(hak_block_mark_home_t, mark) == 128,
               "tests/hot_data.sh reads the mark 128 bytes into hak_block_mark_home");
extern HAK_HIDDEN hak_block_mark_home_t hak_block_mark_home;
#define hak_block_mark (hak_block_mark_home.mark)

hak_inline void hak_block_set_next(hak_block *b, const void *next)
{
    hak_track_internal_open(b);
    b->link = (uintptr_t)next ^ ((uintptr_t)b >> 12) ^ hak_keys.link;
    hak_track_internal_close(b);
}

/* Decoded link, unchecked: callers validate it against the slab. */
hak_inline uintptr_t hak_block_next(const hak_block *b)
{
    hak_track_internal_open(b);
    uintptr_t v = b->link ^ ((uintptr_t)b >> 12) ^ hak_keys.link;
    hak_track_internal_close(b);
    return v;
}

/* `b` is a block the caller believes live (being freed). */
hak_inline bool hak_block_is_freed(const hak_block *b)
{
    return hak_track_is_free(b) || b->mark == hak_block_mark;
}

/* The free fast path's double-free test: does `b` carry `mark` (the value
 * of hak_block_mark, already loaded)?  It compares the first four bytes of
 * word 1 and loads the whole word only when they match.  Those bytes leave
 * out the block's byte 15: a program that has just written the last byte
 * of a 16-byte block (the NUL of a short string) would otherwise make the
 * free's 8-byte load wait until that 1-byte store leaves the store buffer,
 * since a store cannot be forwarded to a wider load it only partly covers.
 * The mark's low half is never 0 (small/segment.c), so zeroed words and
 * small integers do not match it; a live block that holds the same four
 * bytes costs the full load, as every free did before.  The verdict is the
 * full word's either way. */
hak_inline bool hak_block_carries_mark(const hak_block *b, uintptr_t mark)
{
    uint32_t held;
    uint32_t wanted;
    memcpy(&held, &b->mark, sizeof held);
    memcpy(&wanted, &mark, sizeof wanted);
    return hak_unlikely(held == wanted) && b->mark == mark;
}

/* `b` is live; the caller poisons it (hak_track_free) afterwards. */
hak_inline void hak_block_mark_freed(hak_block *b)
{
    b->mark = hak_block_mark;
}

/* The caller has unpoisoned `b` (hak_track_alloc) before. */
hak_inline void hak_block_mark_allocated(hak_block *b)
{
    b->mark = 0;
}

#endif
