/*
 * abandon.c - handing slabs from exited threads to living ones.
 */
#include "small/abandon.h"

#include "small/lfstack.h"
#include "small/remote_collect.h"
#include "small/segment.h"
#include "small/warm_pool.h"

static hak_lfstack abandoned_stacks[HAK_SMALL_CLASSES];

void hak_abandon_push(hak_slab *s)
{
    hak_lfstack_push(&abandoned_stacks[s->cls], s);
}

/* Make s (just popped) h's and place it.  Returns true if it went to the
 * warm pool or partial list, false if it turned out empty. */
static bool abandon_take(hak_heap *h, hak_slab *s)
{
    /* relaxed: s is ours alone now (popped with acquire); other threads
     * read owner only to route hand-overs, which tolerate any value. */
    atomic_store_explicit(&s->owner, h, memory_order_relaxed);
    s->link.next = s->link.prev = NULL;
    hak_remote_collect_slab(s);
    h->cstats[s->cls].adopted++;
    if (s->used == 0) {
        s->state = HAK_SLAB_EMPTY;
        hak_warm_pool_slab_empty(h, s);
        return false;
    }
    /* It was listed because it had free blocks; nobody took any since. */
    hak_warm_pool_place(h, s);
    return true;
}

bool hak_abandon_adopt(hak_heap *h, unsigned cls)
{
    for (;;) {
        hak_slab *s = hak_lfstack_pop(&abandoned_stacks[cls]);
        if (s == NULL)
            return false;
        if (abandon_take(h, s))
            return true;
    }
}

static void abandon_one(hak_slab *s)
{
    if (s->used == 0) {
        hak_segment_release(hak_slab_kind(s), &s, 1);
        return;
    }
    s->state = HAK_SLAB_ABANDONED;
    s->link.next = s->link.prev = NULL;
    /* release: a remote freer in the NOTIFYING hand-off reads owner with
     * acquire and must then see NULL or us, never a torn value. */
    atomic_store_explicit(&s->owner, NULL, memory_order_release);
    /* relaxed: the CAS below orders. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    for (;;) {
        uintptr_t head = old & ~(uintptr_t)HAK_TF_TAG_MASK;
        if (hak_slab_has_local_free(s) || head != 0) {
            /* acq_rel: acquire the remote blocks' contents (the adopter
             * collects them), release our slab state to the stack push. */
            if (atomic_compare_exchange_weak_explicit(&s->thread_free, &old, head | HAK_TF_NORMAL,
                                                      memory_order_acq_rel, memory_order_relaxed)) {
                hak_abandon_push(s);
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

void hak_abandon_heap_slabs(hak_heap *h)
{
    for (unsigned cls = 0; cls < HAK_SMALL_CLASSES; cls++) {
        hak_class_slabs *cs = &h->slabs[cls];
        while (cs->warm_count > 0)
            abandon_one(cs->warm[--cs->warm_count]);
        while (!hak_list_empty(&cs->partial)) {
            hak_slab *s = hak_list_entry(cs->partial.head, hak_slab, link);
            hak_list_remove(&cs->partial, &s->link);
            abandon_one(s);
        }
        while (!hak_list_empty(&cs->full)) {
            hak_slab *s = hak_list_entry(cs->full.head, hak_slab, link);
            hak_list_remove(&cs->full, &s->link);
            abandon_one(s);
        }
    }
}

void hak_abandon_reclaim(hak_heap *h)
{
    for (unsigned cls = 0; cls < HAK_SMALL_CLASSES; cls++) {
        /* Bounded: each slab we keep lands in our warm pool or partial
         * list, so a stack is walked at most once. */
        while (hak_abandon_adopt(h, cls))
            ;
    }
}
