/*
 * canary.h - the secure profile's checks inside a block: the canary kept
 * in the last 8 bytes of a live Tiny or Mid block (config/secure.h,
 * canaries) and the scan that a freed block still reads as zero
 * (quarantine).
 *
 * The canary of the block at `addr` is derived from the address and two
 * per-process secrets of its own (no other key can be learnt from a
 * canary), so a program cannot forge it without reading it, and one
 * block's canary does not give away another's.  Every byte of it
 * has its high bit set: it is never 0 (a freed block's cleared tail is
 * told apart from a live one's), and an overflow writing ASCII text or a
 * NUL terminator over it always changes it.
 */
#ifndef HAK_CANARY_H
#define HAK_CANARY_H

#include <string.h>

#include "internal.h"

/* Written once during initialisation (hak_canary_init), before any block
 * exists. */
extern HAK_HIDDEN uint64_t hak_canary_keys[2];

void hak_canary_init(void);

hak_inline uint64_t hak_canary_of(uintptr_t addr)
{
    uint64_t x = (uint64_t)addr ^ hak_canary_keys[0];
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (x ^ hak_canary_keys[1]) | 0x8080808080808080ull;
}

/* The 8 bytes at the end of a block of `size` bytes at `b`. */
hak_inline uint64_t hak_canary_read(const void *b, size_t size)
{
    uint64_t v;
    memcpy(&v, (const char *)b + size - 8, 8);
    return v;
}

hak_inline void hak_canary_write(void *b, size_t size)
{
    uint64_t v = hak_canary_of((uintptr_t)b);
    memcpy((char *)b + size - 8, &v, 8);
}

/* Offset of the first byte of p[0..n) that is not zero, or n.  p and n
 * are multiples of 16 (every block's start and size). */
size_t hak_first_nonzero(const void *p, size_t n);

#endif
