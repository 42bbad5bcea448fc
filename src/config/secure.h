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
 */
#ifndef HAK_SECURE_H
#define HAK_SECURE_H

#include "internal.h"

typedef struct hak_secure_t {
    bool zero_on_free;
    bool guard_pages;
    bool random_freelist;
} hak_secure_t;

extern HAK_HIDDEN hak_secure_t hak_secure;

void hak_secure_init(void);
/* Shuffle out[0..n) with the caller's generator state. */
void hak_secure_shuffle(void **out, unsigned n, uint64_t *state);

#endif
