/*
 * lfstack.h - ABA-safe lock-free stack of slabs, for lists that many threads
 * push and pop (the per-class abandoned-slab stacks).
 *
 * The head is one 64-bit word: a 32-bit version tag above a 32-bit slab id
 * plus one (0 = empty).  Every successful push or pop bumps the tag, so a
 * pop that read head A, was preempted while A was popped and pushed back,
 * fails its CAS instead of installing a stale next (ABA).  A stale pop may
 * still read the `lf_next` of a slab that was popped meanwhile; that read
 * is harmless because small segments are never unmapped (segment.c), and
 * its result is discarded when the CAS fails.
 */
#ifndef HAK_LFSTACK_H
#define HAK_LFSTACK_H

#include "small/slab.h"

typedef struct hak_lfstack {
    _Alignas(HAK_CACHE_LINE) _Atomic uint64_t head;
} hak_lfstack;

hak_inline void hak_lfstack_push(hak_lfstack *st, hak_slab *s)
{
    uint32_t id1 = hak_slab_id(s) + 1;
    /* relaxed: the CAS below orders. */
    uint64_t old = atomic_load_explicit(&st->head, memory_order_relaxed);
    uint64_t nw;
    do {
        /* relaxed: published by the release CAS. */
        atomic_store_explicit(&s->lf_next, (uint32_t)old, memory_order_relaxed);
        nw = ((old >> 32) + 1) << 32 | id1;
        /* release: the pusher's writes to the slab (its whole state) must be
         * visible to the thread that pops it. */
    } while (!atomic_compare_exchange_weak_explicit(&st->head, &old, nw, memory_order_release,
                                                    memory_order_relaxed));
}

hak_inline hak_slab *hak_lfstack_pop(hak_lfstack *st)
{
    /* acquire: to read lf_next of the head that a pusher published. */
    uint64_t old = atomic_load_explicit(&st->head, memory_order_acquire);
    for (;;) {
        uint32_t id1 = (uint32_t)old;
        if (id1 == 0)
            return NULL;
        hak_slab *s = hak_slab_from_id(id1 - 1);
        /* relaxed: may be stale (see above); the CAS validates it. */
        uint32_t next = atomic_load_explicit(&s->lf_next, memory_order_relaxed);
        uint64_t nw = ((old >> 32) + 1) << 32 | next;
        /* acquire: take ownership of the slab's state published by its push. */
        if (atomic_compare_exchange_weak_explicit(&st->head, &old, nw, memory_order_acquire,
                                                  memory_order_acquire))
            return s;
    }
}

#endif
