/*
 * abandon.c - handing slabs from exited threads to living ones.
 */
#include "small/abandon.h"

#include "small/lfstack.h"
#include "small/segment.h"
#include "small/warm_pool.h"

static hak_lfstack abandoned_stacks[HAK_SMALL_CLASSES];

void hak_abandoned_push(hak_slab *s)
{
    hak_lfstack_push(&abandoned_stacks[s->cls], s);
}

/* Make s (just popped) h's and place it.  Returns true if it went to the
 * warm pool or partial list, false if it turned out empty. */
static bool abandon_take(hak_heap *h, hak_slab *s)
{
    /* relaxed: s is ours alone now (popped with acquire); remote freers
     * only compare `owner` with their own heap. */
    atomic_store_explicit(&s->owner, h, memory_order_relaxed);
    s->next = s->prev = NULL;
    hak_slab_collect_remote(s);
    h->cstats[s->cls].adopted++;
    if (s->used == 0) {
        s->state = HAK_SLAB_EMPTY;
        hak_slab_became_empty(h, s);
        return false;
    }
    /* It was listed because it had free blocks; nobody took any since. */
    hak_slab_make_available(h, s);
    return true;
}

bool hak_abandoned_adopt(hak_heap *h, unsigned cls)
{
    for (;;) {
        hak_slab *s = hak_lfstack_pop(&abandoned_stacks[cls]);
        if (s == NULL)
            return false;
        if (abandon_take(h, s))
            return true;
    }
}

static void abandon_one(hak_heap *h, hak_slab *s)
{
    if (s->used == 0) {
        hak_segment_release(hak_slab_kind(s), &s, 1);
        return;
    }
    s->state = HAK_SLAB_ABANDONED;
    s->next = s->prev = NULL;
    /* release: a remote freer in the NOTIFYING hand-off reads owner with
     * acquire and must then see NULL or us, never a torn value. */
    atomic_store_explicit(&s->owner, NULL, memory_order_release);
    (void)h;
    /* relaxed: the CAS below orders. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    for (;;) {
        uintptr_t head = old & ~(uintptr_t)HAK_TF_TAG_MASK;
        if (hak_slab_has_local_free(s) || head != 0) {
            /* acq_rel: acquire the remote blocks' contents (the adopter
             * collects them), release our slab state to the stack push. */
            if (atomic_compare_exchange_weak_explicit(&s->thread_free, &old, head | HAK_TF_NORMAL,
                                                      memory_order_acq_rel, memory_order_relaxed)) {
                hak_abandoned_push(s);
                return;
            }
        } else {
            /* release: the remote freer that flips ABANDONED -> NORMAL
             * (acq_rel) lists the slab; the adopter must see our state. */
            if (atomic_compare_exchange_weak_explicit(&s->thread_free, &old, HAK_TF_ABANDONED,
                                                      memory_order_release, memory_order_relaxed))
                return;
        }
    }
}

void hak_heap_abandon_slabs(hak_heap *h)
{
    for (unsigned cls = 0; cls < HAK_SMALL_CLASSES; cls++) {
        hak_class_slabs *cs = &h->cls[cls];
        while (cs->warm_count > 0)
            abandon_one(h, cs->warm[--cs->warm_count]);
        while (cs->partial) {
            hak_slab *s = cs->partial;
            hak_slab_list_remove(&cs->partial, s);
            abandon_one(h, s);
        }
        while (cs->full) {
            hak_slab *s = cs->full;
            hak_slab_list_remove(&cs->full, s);
            abandon_one(h, s);
        }
    }
}

void hak_abandoned_reclaim(hak_heap *h)
{
    for (unsigned cls = 0; cls < HAK_SMALL_CLASSES; cls++) {
        /* Bounded: each slab we keep lands in our warm pool or partial
         * list, so a stack is walked at most once. */
        while (hak_abandoned_adopt(h, cls))
            ;
    }
}
