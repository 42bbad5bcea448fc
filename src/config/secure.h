/*
 * secure.h - the hardening switches of the secure profile, copied from the
 * options once during initialisation (they cannot change afterwards: a
 * guard page or a zeroing rule that changed under live blocks would
 * contradict itself).
 *
 *   zero_on_free     every block is cleared when it is freed
 *   guard_pages      an inaccessible page after every Large and Huge block,
 *                    before every Huge block, and at the start of every
 *                    Large segment (so a run never borders its header)
 *   random_freelist  each batch moved into a thread cache is shuffled, so
 *                    the order blocks are handed out is not predictable
 *   canaries         the last 8 bytes of every Tiny and Mid block hold a
 *                    secret canary, checked at free, realloc and
 *                    malloc_usable_size; the usable size is 8 bytes less
 *   quarantine       freed blocks wait, cleared, before they are reused, and
 *                    must still read as zero when they leave
 *   zero_size_guard  malloc(0) hands out inaccessible addresses (tiers/zero.h)
 *
 * Any of the last three, or zero_on_free, makes every Tiny and Mid
 * allocation and free go out of line (small_checked: the thread caches
 * keep a cap of 0, front/harden.c does the work and, knowing the size,
 * picks a class with room for the canary).
 */
#ifndef HAK_SECURE_H
#define HAK_SECURE_H

#include "internal.h"

/* Bytes at the end of a block that the canary takes. */
#define HAK_SECURE_TAIL 8

typedef struct hak_secure_t {
    bool zero_on_free;
    bool guard_pages;
    bool random_freelist;
    bool canaries;
    bool zero_size_guard;
    bool small_checked;   /* every small malloc and free out of line */
    uint32_t quarantine;  /* blocks per class held back; 0: none */
} hak_secure_t;

extern HAK_HIDDEN hak_secure_t hak_secure;

void hak_secure_init(void);
/* Shuffle out[0..n) with the caller's generator state. */
void hak_secure_shuffle(void **out, unsigned n, uint64_t *state);

#endif
