/*
 * slab.c - one slab's free lists: batch refill out of it, collection of its
 * thread-free list, and the full-slab notification handshake.  All of it
 * runs on the owner thread.
 */
#include "small/slab.h"

#include "base/diag.h"
#include "small/heap.h"

void hak_slab_format(hak_slab *s, hak_heap *h, unsigned cls)
{
    const hak_class_info *ci = &hak_classes[cls];
    s->block_size = ci->size;
    s->capacity = ci->capacity;
    s->cls = (uint8_t)cls;
    /* Inverse of the odd part of the size mod 2^64 by Newton's iteration
     * (each step doubles the correct low bits: 3, 6, 12, 24, 48, 96). */
    unsigned tz = (unsigned)__builtin_ctz(ci->size);
    uint64_t odd = ci->size >> tz, inv = odd;
    for (int i = 0; i < 5; i++)
        inv *= 2 - odd * inv;
    s->block_inv = inv;
    s->block_tz = (uint8_t)tz;
    s->free = NULL;
    s->used = 0;
    s->bump = 0;
    s->next = s->prev = NULL;
    /* relaxed: a fresh or emptied slab has no remote frees pending (every
     * block came back), and nobody else can reach it until we hand out a
     * block, which the program then publishes itself. */
    atomic_store_explicit(&s->thread_free, HAK_TF_NORMAL, memory_order_relaxed);
    atomic_store_explicit(&s->in_use, 1, memory_order_relaxed);
    atomic_store_explicit(&s->owner, h, memory_order_relaxed);
}

hak_block *hak_slab_checked_next(const hak_slab *s, const hak_block *b)
{
    uintptr_t next = hak_block_next(b);
    if (next == 0)
        return NULL;
    if (hak_unlikely((next >> s->shift) != (s->start >> s->shift) ||
                     !hak_slab_is_block_start(s, next)))
        hak_fatal_ptr("corrupted free list at", b,
                      "a freed block was overwritten: use after free or buffer overflow");
    return (hak_block *)next;
}

unsigned hak_slab_collect_remote(hak_slab *s)
{
    /* relaxed load: only a hint to skip the exchange when nothing waits. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    if ((old & ~(uintptr_t)HAK_TF_TAG_MASK) == 0)
        return 0;
    /* acquire: the remote freers' writes to the blocks (link, canary)
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
    if (s->free != NULL) {
        /* Append the local list after the collected one: walk to its tail
         * (n blocks, each link checked).  Rare: refills collect only when
         * the local list is empty. */
        hak_block *tail = head;
        for (unsigned i = 1; i < n; i++) {
            tail = hak_slab_checked_next(s, tail);
            if (hak_unlikely(tail == NULL))
                hak_fatal_ptr("corrupted thread-free list at", head, "shorter than its count");
        }
        if (hak_unlikely(hak_slab_checked_next(s, tail) != NULL))
            hak_fatal_ptr("double free detected in slab", (void *)s->start,
                          "a block was freed twice by other threads");
        hak_block_set_next(tail, s->free);
    }
    /* Otherwise the list simply becomes the local list: no walk, so no
     * cache miss per block here; each link is still checked when a refill
     * pops it. */
    s->free = head;
    s->used = (uint16_t)(s->used - n);
    return n;
}

unsigned hak_slab_refill(hak_slab *s, void **out, unsigned want)
{
    unsigned n = 0;
    /* Local free list first, then what other threads freed (collected only
     * when the local list runs dry), then never-used blocks. */
    for (;;) {
        hak_block *b = s->free;
        while (n < want && b != NULL) {
            out[n++] = b;
            b = hak_slab_checked_next(s, b);
        }
        s->free = b;
        if (n == want || hak_slab_collect_remote(s) == 0)
            break;
    }
    if (n < want && s->bump < s->capacity) {
        unsigned k = want - n;
        if (k > (unsigned)(s->capacity - s->bump))
            k = s->capacity - s->bump;
        /* Lowest address last in `out`, so the cache hands out never-used
         * blocks in ascending address order. */
        uintptr_t first = s->start + (uintptr_t)s->bump * s->block_size;
        for (unsigned i = 0; i < k; i++)
            out[n + i] = (void *)(first + (uintptr_t)(k - 1 - i) * s->block_size);
        s->bump = (uint16_t)(s->bump + k);
        n += k;
    }
    s->used = (uint16_t)(s->used + n);
    return n;
}

bool hak_slab_arm_notify(hak_slab *s)
{
    /* relaxed: the CAS below is what matters. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    for (;;) {
        if ((old & ~(uintptr_t)HAK_TF_TAG_MASK) != 0)
            return false;
        uintptr_t tag = old & HAK_TF_TAG_MASK;
        /* NOTIFY: already armed.  NOTIFYING: a block is on its way to our
         * delayed list, which will put the slab back in use. */
        if (tag != HAK_TF_NORMAL)
            return true;
        /* release: pairs with the remote freer's acquire when it reads the
         * tag; nothing else of ours has to be published. relaxed would do,
         * release keeps the reasoning simple. */
        if (atomic_compare_exchange_weak_explicit(&s->thread_free, &old, HAK_TF_NOTIFY,
                                                  memory_order_release, memory_order_relaxed))
            return true;
    }
}

void hak_slab_disarm_notify(hak_slab *s)
{
    /* relaxed: the slab is back in the owner's pools; a remote freer that
     * still sees NOTIFY just takes the slower delayed path, which is correct. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    while ((old & HAK_TF_TAG_MASK) == HAK_TF_NOTIFY &&
           !atomic_compare_exchange_weak_explicit(&s->thread_free, &old,
                                                  old & ~(uintptr_t)HAK_TF_TAG_MASK,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}
