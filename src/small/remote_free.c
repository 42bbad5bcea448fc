/*
 * remote_free.c - blocks going back to slabs another heap owns: the pushing
 * side.  The owner's side, which takes what was pushed, is remote_collect.c.
 *
 * A thread frees every block into its own cache, whoever owns the block's
 * slab (small/heap.h).  Blocks of other heaps' slabs leave the cache only
 * when it flushes (overflow, trim, thread exit), and then go back in
 * batches:
 *
 *   Hand-over (hak_remote_free_hand_over): the flushed blocks are grouped
 *   by owner; each group is linked through the blocks' link words and
 *   pushed onto the owner's inbox with one CAS, so one atomic operation
 *   moves a whole batch.  The owner takes its whole inbox with one exchange
 *   at its next safe point and returns the blocks to their slabs.  The
 *   inbox is a many-pushers, one-taker stack whose taker swaps the whole
 *   list out, so it has no ABA problem.  A heap whose thread is gone has a
 *   closed inbox (HAK_INBOX_CLOSED); pushers then use the slab route.
 *
 *   Slab route (hak_remote_free_push): one block onto its slab's
 *   thread-free list with one CAS; the owner collects that list in batch
 *   when it refills from the slab.  For slabs without an owner (abandoned),
 *   closed inboxes, and threads without a heap.
 *
 * The owner parks an exhausted slab as FULL and arms the NOTIFY tag, since
 * it will not look at that slab again by itself.  The first slab-route
 * pusher to see NOTIFY moves it to NOTIFYING, hands its block to the owner's
 * inbox and clears the tag; the owner, at its next safe point, returns that
 * block to the slab, which puts the slab back in its warm pool.  (Inbox
 * blocks need no such care: returning them does the same.)
 *
 * The owner read for grouping may be stale by the time the batch lands:
 * the slab may have been abandoned and adopted since.  The taker checks
 * each block's owner again and sends strays on by the slab route.  Heaps
 * are never unmapped, so a stale owner pointer is always a valid heap.
 */
#include "small/remote_free.h"

#include "base/segment_map.h"
#include "small/abandon.h"

/* Push the list head..tail (linked through link words) onto owner's
 * inbox; false if it is closed. */
static bool remote_inbox_push(hak_heap *owner, hak_block *head, hak_block *tail)
{
    /* relaxed: the CAS orders. */
    hak_block *old = atomic_load_explicit(&owner->inbox, memory_order_relaxed);
    do {
        if (old == HAK_INBOX_CLOSED)
            return false;
        hak_block_set_next(tail, old);
        /* release: the blocks' links and freed marks must be visible to
         * the owner's acquiring exchange. */
    } while (!atomic_compare_exchange_weak_explicit(&owner->inbox, &old, head,
                                                    memory_order_release, memory_order_relaxed));
    return true;
}

/* We moved the tag NOTIFY -> NOTIFYING: deliver b, then clear the tag. */
static void remote_notify_owner(hak_slab *s, hak_block *b)
{
    /* acquire: pairs with the release store of NULL in abandon_one. */
    hak_heap *owner = atomic_load_explicit(&s->owner, memory_order_acquire);
    if (owner != NULL && !remote_inbox_push(owner, b, b))
        owner = NULL; /* no thread to take it: the slab route, below */
    /* relaxed load, release CAS: the only other writer of a NOTIFYING tag
     * is the exiting owner (to NORMAL or ABANDONED); then we leave it. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    while ((old & HAK_TF_TAG_MASK) == HAK_TF_NOTIFYING &&
           !atomic_compare_exchange_weak_explicit(&s->thread_free, &old,
                                                  old & ~(uintptr_t)HAK_TF_TAG_MASK,
                                                  memory_order_release, memory_order_relaxed))
        ;
    if (owner == NULL)
        hak_remote_free_push(s, b); /* abandoned, or closed: ordinary push */
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

/* Up to this many owners are grouped at once; more in one flush start a
 * new round (each round still one CAS per owner). */
#define REMOTE_GROUPS 8

typedef struct remote_group {
    hak_heap *owner;
    hak_block *head, *tail;
} remote_group;

static void remote_deliver(remote_group *g, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (remote_inbox_push(g[i].owner, g[i].head, g[i].tail))
            continue;
        /* Closed: each block to its slab.  The list is ours until pushed. */
        hak_block *b = g[i].head;
        for (;;) {
            hak_block *next = b == g[i].tail ? NULL : (hak_block *)hak_block_next(b);
            uintptr_t a = (uintptr_t)b;
            hak_remote_free_push(hak_slab_of_block(a), b);
            if (next == NULL)
                break;
            b = next;
        }
    }
}

void hak_remote_free_hand_over(hak_heap *from, void *const *blocks, unsigned n)
{
    remote_group g[REMOTE_GROUPS];
    unsigned groups = 0;
    for (unsigned i = 0; i < n; i++) {
        hak_block *b = blocks[i];
        uintptr_t a = (uintptr_t)b;
        hak_slab *s = hak_slab_of_block(a);
        if (from != NULL)
            from->cstats[s->cls].remote_frees++;
        /* relaxed: only routes the block; the taker checks again. */
        hak_heap *owner = atomic_load_explicit(&s->owner, memory_order_relaxed);
        if (owner == NULL) {
            hak_remote_free_push(s, b);
            continue;
        }
        unsigned k = 0;
        while (k < groups && g[k].owner != owner)
            k++;
        if (k == REMOTE_GROUPS) {
            remote_deliver(g, groups);
            groups = k = 0;
        }
        if (k == groups) {
            g[k].owner = owner;
            g[k].head = g[k].tail = b;
            groups++;
        } else {
            hak_block_set_next(b, g[k].head);
            g[k].head = b;
        }
    }
    remote_deliver(g, groups);
}
