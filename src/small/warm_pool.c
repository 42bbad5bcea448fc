/*
 * warm_pool.c - the WARM tier: warm pools, secondary prefill, the class
 * refill loop, and blocks going back to their slabs.
 *
 * Invariants (per heap, per class), all owner-private:
 *   - a slab in warm[] has state WARM and warm_idx is its index;
 *   - a PARTIAL slab is on `partial` and has free blocks;
 *   - a FULL slab is on `full`, has no local free block and its
 *     thread-free tag asks for notification (NOTIFY/NOTIFYING);
 *   - an EMPTY slab is in the heap's empty cache with used == 0.
 */
#include "small/warm_pool.h"

#include <string.h>

#include "base/segment_map.h"
#include "config/options.h"
#include "config/secure.h"
#include "os/os.h"
#include "small/abandon.h"
#include "small/remote_free.h"
#include "small/segment.h"

bool hak_warm_pool_push(hak_heap *h, hak_slab *s)
{
    hak_class_slabs *cs = &h->slabs[s->cls];
    if (cs->warm_count >= h->warm_cap)
        return false;
    s->warm_idx = (uint8_t)cs->warm_count;
    cs->warm[cs->warm_count++] = s;
    s->state = HAK_SLAB_WARM;
    return true;
}

void hak_warm_pool_remove(hak_heap *h, hak_slab *s)
{
    hak_class_slabs *cs = &h->slabs[s->cls];
    unsigned i = s->warm_idx;
    hak_slab *last = cs->warm[--cs->warm_count];
    cs->warm[i] = last;
    last->warm_idx = (uint8_t)i;
}

/* Take s out of whichever owner list holds it. */
static void slab_detach(hak_heap *h, hak_slab *s)
{
    hak_class_slabs *cs = &h->slabs[s->cls];
    switch (s->state) {
    case HAK_SLAB_WARM: hak_warm_pool_remove(h, s); break;
    case HAK_SLAB_PARTIAL: hak_list_remove(&cs->partial, &s->link); break;
    case HAK_SLAB_FULL: hak_list_remove(&cs->full, &s->link); break;
    default: break;
    }
}

void hak_warm_pool_place(hak_heap *h, hak_slab *s)
{
    if (!hak_warm_pool_push(h, s)) {
        s->state = HAK_SLAB_PARTIAL;
        hak_list_push_front(&h->slabs[s->cls].partial, &s->link);
    }
}

void hak_warm_pool_release_empty(hak_heap *h, unsigned kind, unsigned keep)
{
    unsigned n = h->empty_count[kind];
    if (n <= keep)
        return;
    unsigned drop = n - keep;
    /* The oldest go back; the most recently emptied stay, still warm. */
    hak_slab *gone[HAK_EMPTY_CACHE_MAX];
    memcpy(gone, h->empty[kind], drop * sizeof(hak_slab *));
    memmove(h->empty[kind], h->empty[kind] + drop, keep * sizeof(hak_slab *));
    h->empty_count[kind] = keep;
    hak_segment_release(kind, gone, drop);
}

void hak_warm_pool_slab_empty(hak_heap *h, hak_slab *s)
{
    hak_class_slabs *cs = &h->slabs[s->cls];
    /* A class that cycles a few blocks keeps its one slab instead of
     * reformatting a slab on every flush. */
    if (s->state == HAK_SLAB_WARM && cs->warm_count == 1)
        return;
    slab_detach(h, s);
    unsigned kind = hak_slab_kind(s);
    s->state = HAK_SLAB_EMPTY;
    if (h->empty_count[kind] >= h->empty_cap[kind]) {
        if (h->empty_cap[kind] == 0) {
            hak_segment_release(kind, &s, 1);
            return;
        }
        hak_warm_pool_release_empty(h, kind, h->empty_cap[kind] / 2);
    }
    h->empty[kind][h->empty_count[kind]++] = s;
}

/* s was FULL or has no block out any more, after a block came back. */
static hak_noinline void warm_pool_slab_changed(hak_heap *h, hak_slab *s)
{
    if (s->state == HAK_SLAB_FULL) {
        hak_list_remove(&h->slabs[s->cls].full, &s->link);
        hak_slab_disarm_notify(s);
        hak_warm_pool_place(h, s);
    }
    if (s->used == 0)
        hak_warm_pool_slab_empty(h, s);
}

/* Inlined into the flush loop: a flush returns blocks by the dozen. */
hak_inline void warm_pool_give_back(hak_heap *h, hak_slab *s, hak_block *b)
{
    hak_slab_push_local(s, b);
    if (hak_unlikely(--s->used == 0 || s->state == HAK_SLAB_FULL))
        warm_pool_slab_changed(h, s);
}

void hak_warm_pool_return_block(hak_heap *h, hak_slab *s, hak_block *b)
{
    warm_pool_give_back(h, s, b);
}

unsigned hak_warm_pool_return_own(hak_heap *h, void **blocks, unsigned n)
{
    unsigned foreign = 0;
    for (unsigned i = 0; i < n; i++) {
        uintptr_t a = (uintptr_t)blocks[i];
        hak_slab *s = hak_slab_of_block(a);
        if (hak_slab_owned_by(s, h))
            warm_pool_give_back(h, s, (hak_block *)a);
        else
            blocks[foreign++] = (void *)a;
    }
    return foreign;
}

void hak_warm_pool_return_blocks(hak_heap *h, void **blocks, unsigned n)
{
    /* Blocks of other heaps' slabs (a cache holds any block of its class)
     * go back in one batch per owner. */
    unsigned foreign = hak_warm_pool_return_own(h, blocks, n);
    if (foreign > 0)
        hak_remote_free_hand_over(h, blocks, foreign);
}

/* A slab for class cls from the empty cache or, in a batch, the segments. */
static hak_slab *warm_pool_fresh_slab(hak_heap *h, unsigned cls)
{
    unsigned kind = hak_class_is_tiny(cls) ? HAK_SEG_TINY : HAK_SEG_MID;
    if (h->empty_count[kind] == 0) {
        unsigned want = kind == HAK_SEG_MID ? (unsigned)hak_opt(HAK_OPT_MID_REFILL_PAGES) : 2;
        if (want > h->empty_cap[kind] + 1)
            want = h->empty_cap[kind] + 1;
        if (want > HAK_EMPTY_CACHE_MAX)
            want = HAK_EMPTY_CACHE_MAX;
        unsigned got = hak_segment_acquire(kind, h->empty[kind], want);
        h->empty_count[kind] = got;
        if (got == 0)
            return NULL;
    }
    /* Most recently emptied first: its memory is the warmest. */
    hak_slab *s = h->empty[kind][--h->empty_count[kind]];
    if (kind == HAK_SEG_MID && s->cls != cls && s->cls != HAK_SLAB_NO_CLASS) {
        /* A Mid slab's resident pages are those its blocks start on
         * (carving writes each block's mark) and those the program
         * touched, a pattern of pages each class has its own of.  Kept
         * through changes of class (threads that come and go, each with
         * its own sizes), the slab would become resident whole; given
         * back, only what this class touches is resident again.  A Tiny
         * slab needs none of this: its blocks cover the carved part of
         * the slab from its start, whatever their class. */
        hak_os_purge((void *)hak_slab_base(s), (size_t)1 << s->shift, hak_opt(HAK_OPT_PURGE_MODE) == 1);
    }
    hak_slab_format(s, h, cls);
    h->cstats[cls].fresh_slabs++;
    return s;
}

unsigned hak_warm_pool_prefill(hak_heap *h, unsigned cls)
{
    hak_class_slabs *cs = &h->slabs[cls];
    hak_class_stats *st = &h->cstats[cls];
    unsigned budget = h->prefill_budget;
    unsigned got = 0;
    st->prefills++;

    /* 1. Our own partly used slabs that did not fit in the warm pool. */
    while (got < budget && !hak_list_empty(&cs->partial)) {
        hak_slab *s = hak_list_entry(cs->partial.head, hak_slab, link);
        hak_list_remove(&cs->partial, &s->link);
        if (!hak_warm_pool_push(h, s)) {
            s->state = HAK_SLAB_PARTIAL;
            hak_list_push_front(&cs->partial, &s->link);
            break;
        }
        got++;
    }
    /* 2. Slabs of exited threads. */
    while (got < budget && hak_abandon_adopt(h, cls))
        got++;
    /* 3. Fresh slabs: enough that about ten refills hit before the next
     * prefill, at most the budget. */
    if (got == 0) {
        const hak_class_info *ci = &hak_classes[cls];
        unsigned per_slab = ci->capacity / (h->batch[cls] ? h->batch[cls] : 1);
        unsigned fresh = per_slab >= 10 ? 1 : (10 + per_slab - 1) / (per_slab ? per_slab : 1);
        if (fresh > budget)
            fresh = budget;
        while (got < fresh) {
            hak_slab *s = warm_pool_fresh_slab(h, cls);
            if (s == NULL)
                break;
            hak_warm_pool_place(h, s);
            got++;
        }
    }
    st->prefill_slabs += got;
    return got;
}

unsigned hak_warm_pool_refill(hak_heap *h, unsigned cls, void **out, unsigned want)
{
    hak_class_slabs *cs = &h->slabs[cls];
    hak_class_stats *st = &h->cstats[cls];
    bool missed = false;
    for (;;) {
        if (cs->warm_count == 0) {
            missed = true;
            if (hak_warm_pool_prefill(h, cls) == 0 && cs->warm_count == 0)
                return 0;
            continue;
        }
        hak_slab *s = cs->warm[cs->warm_count - 1];
        unsigned n = hak_slab_refill(s, out, want);
        if (!hak_slab_has_local_free(s)) {
            /* Exhausted: park it on the full list, unless remote frees
             * arrived meanwhile (then the next refill collects them). */
            hak_warm_pool_remove(h, s);
            if (hak_slab_arm_notify(s)) {
                s->state = HAK_SLAB_FULL;
                hak_list_push_front(&cs->full, &s->link);
            } else {
                hak_warm_pool_place(h, s);
            }
        }
        if (n > 0) {
            if (hak_secure.random_freelist)
                hak_secure_shuffle(out, n, &h->rng);
            if (missed)
                st->warm_misses++;
            else
                st->warm_hits++;
            st->refills++;
            st->refill_blocks += n;
            return n;
        }
    }
}
