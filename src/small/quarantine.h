/*
 * quarantine.h - the secure profile's per-heap holding area for Tiny and
 * Mid blocks (config/secure.h): freed blocks held back before reuse, and a
 * stash of fresh blocks taken from the slabs in batches.  Both are arrays
 * of pointers outside the blocks, so nothing is written into a block while
 * it waits.  Mechanism only: what is checked when a block comes or goes,
 * and where an evicted block goes, is the front's (front/harden.c).
 *
 * Class c keeps up to 2 * delay(c) freed blocks, oldest first.  The oldest
 * may be taken for reuse once more than delay(c) are held, so a block is
 * reused only after delay(c) later frees of its class; a free into a full
 * ring evicts the oldest.  delay(c) is the quarantine option, lowered so
 * that one class holds at most HAK_QUARANTINE_CLASS_BYTES in delay.
 *
 * Owner-private: only the heap's thread touches it (stats read counts).
 */
#ifndef HAK_QUARANTINE_H
#define HAK_QUARANTINE_H

#include "small/heap.h"

#define HAK_QUARANTINE_CLASS_BYTES (256u << 10)
#define HAK_QUARANTINE_STASH 16 /* fresh blocks taken from a slab at once */

typedef struct hak_quarantine {
    void **ring[HAK_SMALL_CLASSES]; /* 2 * delay[c] slots each */
    uint32_t oldest[HAK_SMALL_CLASSES];
    uint32_t count[HAK_SMALL_CLASSES];
    uint32_t delay[HAK_SMALL_CLASSES];
    uint32_t stash_count[HAK_SMALL_CLASSES];
    void *stash[HAK_SMALL_CLASSES][HAK_QUARANTINE_STASH];
} hak_quarantine;

/* Make h's quarantine (hak_quarantine_of). */
hak_quarantine *hak_quarantine_make(hak_heap *h, uint32_t delay);

/* h's quarantine, made on first use with `delay` blocks per class (before
 * the per-class byte bound); NULL if no memory could be had. */
hak_inline hak_quarantine *hak_quarantine_of(hak_heap *h, uint32_t delay)
{
    return h->quarantine != NULL ? h->quarantine : hak_quarantine_make(h, delay);
}

/* Hold freed block b of class cls.  Returns the oldest block if the ring
 * was full (it is no longer held), else NULL. */
void *hak_quarantine_push(hak_quarantine *q, unsigned cls, void *b);

/* The oldest freed block of cls if more than delay(cls) are held (it is no
 * longer held), else NULL. */
void *hak_quarantine_take(hak_quarantine *q, unsigned cls);

/* The oldest freed block of cls, however many are held; NULL if none. */
void *hak_quarantine_take_any(hak_quarantine *q, unsigned cls);

/* Was b freed into this quarantine and not taken since?  (Error paths
 * only: a walk of the class's ring.) */
bool hak_quarantine_holds(const hak_quarantine *q, unsigned cls, const void *b);

/* Blocks of cls held, freed and fresh (statistics; a racy read from
 * another thread is tolerated). */
uint32_t hak_quarantine_held(const hak_quarantine *q, unsigned cls);

/* Freed block b of class cls, just taken or evicted from a ring, must read
 * as it was left: zero, but for block.h's freed mark when canaries are off
 * (cleared here).  A write after free is reported.  b is unpoisoned for
 * the caller (hak_track_alloc). */
void hak_quarantine_check(hak_block *b, unsigned cls);
/* Free block b (held by h no more; poisoned, marked as freed blocks of the
 * profile are) back to its slab: h's own directly, another heap's handed
 * over to its owner (small/warm_pool.h). */
void hak_quarantine_release(hak_heap *h, hak_block *b);
/* Everything h holds back to the slabs, each freed block checked first
 * (thread exit, malloc_trim). */
void hak_quarantine_flush(hak_heap *h);

#endif
