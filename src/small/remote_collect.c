/*
 * remote_collect.c - cross-thread frees, the owner's side: taking what
 * other threads pushed (remote_free.c) back into the owner's lists.
 *
 *   - a slab's thread-free list: swapped out whole, keeping its tag, and
 *     made the slab's local free list; the count in the word says how many
 *     blocks came, so nothing is walked;
 *   - the heap's inbox (batches handed over by other threads' flushes, and
 *     blocks of slabs the owner parked as FULL): swapped out whole, each
 *     block returned to its slab, which puts a FULL slab back where refills
 *     find it; a block whose slab changed owner since it was sent goes on
 *     by the slab route.
 */
#include "small/remote_collect.h"

#include "base/diag.h"
#include "base/segment_map.h"
#include "small/remote_free.h"
#include "small/warm_pool.h"

unsigned hak_remote_collect_slab(hak_slab *s)
{
    /* relaxed load: only a hint to skip the exchange when nothing waits. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    if ((old & ~(uintptr_t)HAK_TF_TAG_MASK) == 0)
        return 0;
    /* acquire: the remote freers' writes to the blocks (link, mark)
     * happened before their release-CAS that published them here.  The tag
     * is kept: only its owner-side transitions may change it. */
    while (!atomic_compare_exchange_weak_explicit(&s->thread_free, &old,
                                                  old & HAK_TF_TAG_MASK,
                                                  memory_order_acquire, memory_order_relaxed))
        ;
    hak_block *head = hak_tf_head(old);
    unsigned n = hak_tf_count(old);
    if (head == NULL)
        return 0;
    /* More frees than the slab has blocks: a block was freed twice. */
    if (hak_unlikely(n > s->capacity || n == 0))
        hak_fatal_ptr("double free detected in slab", (void *)s->start,
                      "a block was freed twice by other threads");
    if (hak_unlikely((uintptr_t)head >> s->shift != s->start >> s->shift))
        hak_fatal_ptr("corrupted thread-free list at", head, "not a block of this slab");
    /* An empty local list simply becomes the collected list: no walk, so no
     * cache miss per block here; each link is still checked when a refill
     * pops it.  Refills collect only when every local list is empty. */
    hak_block **slot = NULL;
    for (unsigned k = 0; k < HAK_SLAB_FREE_LISTS && slot == NULL; k++)
        if (s->free[k] == NULL)
            slot = &s->free[k];
    if (slot == NULL) {
        /* Every list has blocks: append list 0 after the collected one,
         * walking to its tail (n blocks, each link checked). */
        hak_block *tail = head;
        for (unsigned i = 1; i < n; i++) {
            tail = hak_slab_checked_next(s, tail);
            if (hak_unlikely(tail == NULL))
                hak_fatal_ptr("corrupted thread-free list at", head, "shorter than its count");
        }
        if (hak_unlikely(hak_slab_checked_next(s, tail) != NULL))
            hak_fatal_ptr("double free detected in slab", (void *)s->start,
                          "a block was freed twice by other threads");
        hak_block_set_next(tail, s->free[0]);
        slot = &s->free[0];
    }
    *slot = head;
    s->used = (uint16_t)(s->used - n);
    return n;
}

/* Return the blocks of a list taken from h's inbox. */
static void remote_collect_list(hak_heap *h, hak_block *b)
{
    while (b != NULL) {
        uintptr_t next = hak_block_next(b);
        unsigned shift = hak_segmap_get(next);
        if (next != 0 && hak_unlikely(shift < HAK_SEGMAP_SMALL_MIN))
            hak_fatal_ptr("corrupted inbox list at", b, "a freed block was overwritten");
        uintptr_t a = (uintptr_t)b;
        hak_slab *s = hak_slab_of_block(a);
        if (hak_slab_owned_by(s, h))
            hak_warm_pool_return_block(h, s, b);
        else
            hak_remote_free_push(s, b);
        b = (hak_block *)next;
    }
}

void hak_remote_collect_inbox_slow(hak_heap *h)
{
    /* acquire: pairs with the pushers' release CAS. */
    remote_collect_list(h, atomic_exchange_explicit(&h->inbox, NULL, memory_order_acquire));
}

void hak_remote_inbox_close(hak_heap *h)
{
    /* acquire: as above; from now on pushers use the slab route. */
    hak_block *b = atomic_exchange_explicit(&h->inbox, HAK_INBOX_CLOSED, memory_order_acquire);
    if (b != HAK_INBOX_CLOSED)
        remote_collect_list(h, b);
}

void hak_remote_inbox_open(hak_heap *h)
{
    /* relaxed: nothing is published with it; pushers that still see it
     * closed use the slab route, which is always correct. */
    hak_block *closed = HAK_INBOX_CLOSED;
    atomic_compare_exchange_strong_explicit(&h->inbox, &closed, NULL, memory_order_relaxed,
                                            memory_order_relaxed);
}
