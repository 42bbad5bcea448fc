/*
 * remote_free.c - cross-thread frees, the pushing side: any thread that
 * frees a block of a slab another heap owns.  The owner's side, which takes
 * what was pushed, is remote_collect.c.
 *
 * Fast case: CAS the block onto the slab's thread_free list (NORMAL tag).
 * The owner collects the whole list in one exchange during refill.
 *
 * The owner parks an exhausted slab as FULL and arms the NOTIFY tag, since
 * it will not look at that slab again by itself.  The first remote freer to
 * see NOTIFY moves it to NOTIFYING, pushes its block on the owner heap's
 * `delayed` list and clears the tag; the owner, on its next refill, returns
 * that block to the slab, which puts the slab back in its warm pool.
 *
 * Heaps are never unmapped, so the owner pointer read during NOTIFYING is
 * always a valid heap.  If the owner exited meanwhile, the block waits on
 * that heap's delayed list until the next thread reuses the heap; that
 * thread forwards blocks of slabs it does not own.
 */
#include "small/remote_free.h"

#include "small/abandon.h"

static void remote_delayed_push(hak_heap *owner, hak_block *b)
{
    /* relaxed: the CAS orders. */
    hak_block *old = atomic_load_explicit(&owner->delayed, memory_order_relaxed);
    do {
        hak_block_set_next(b, old);
        /* release: the block's link and freed mark must be visible to the
         * owner's acquiring exchange. */
    } while (!atomic_compare_exchange_weak_explicit(&owner->delayed, &old, b,
                                                    memory_order_release, memory_order_relaxed));
}

/* We moved the tag NOTIFY -> NOTIFYING: deliver b, then clear the tag. */
static void remote_notify_owner(hak_slab *s, hak_block *b)
{
    /* acquire: pairs with the release store of NULL in abandon_one. */
    hak_heap *owner = atomic_load_explicit(&s->owner, memory_order_acquire);
    if (owner != NULL)
        remote_delayed_push(owner, b);
    /* relaxed load, release CAS: the only other writer of a NOTIFYING tag
     * is the exiting owner (to NORMAL or ABANDONED); then we leave it. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    while ((old & HAK_TF_TAG_MASK) == HAK_TF_NOTIFYING &&
           !atomic_compare_exchange_weak_explicit(&s->thread_free, &old,
                                                  old & ~(uintptr_t)HAK_TF_TAG_MASK,
                                                  memory_order_release, memory_order_relaxed))
        ;
    if (owner == NULL)
        hak_remote_free_push(s, b); /* the slab was abandoned: ordinary push */
}

void hak_remote_free_push(hak_slab *s, hak_block *b)
{
    /* relaxed: the CAS orders. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    for (;;) {
        uintptr_t tag = old & HAK_TF_TAG_MASK;
        if (tag == HAK_TF_NOTIFY) {
            /* acquire: we will read s->owner, written before the arming. */
            if (atomic_compare_exchange_weak_explicit(&s->thread_free, &old,
                                                      (old & ~(uintptr_t)HAK_TF_TAG_MASK) |
                                                          HAK_TF_NOTIFYING,
                                                      memory_order_acquire, memory_order_relaxed)) {
                remote_notify_owner(s, b);
                return;
            }
            continue;
        }
        hak_block_set_next(b, hak_tf_head(old));
        /* Saturates: more pushes than the slab has blocks is a double free
         * the collector reports. */
        uintptr_t count = hak_tf_count(old);
        if (count < HAK_TF_COUNT_MAX)
            count++;
        uintptr_t nw = count << HAK_TF_COUNT_SHIFT | (uintptr_t)b |
                       (tag == HAK_TF_ABANDONED ? HAK_TF_NORMAL : tag);
        /* release: the block's link and freed mark to the collector.  acquire
         * (ABANDONED case): the abandoner's slab state, which we publish
         * again with the stack push. */
        if (atomic_compare_exchange_weak_explicit(&s->thread_free, &old, nw,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            if (tag == HAK_TF_ABANDONED)
                hak_abandon_push(s);
            return;
        }
    }
}
