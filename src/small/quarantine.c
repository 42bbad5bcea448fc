/*
 * quarantine.c - the rings of quarantine.h.  One allocation per heap, from
 * the meta arena (heaps and their quarantine are never unmapped: a heap
 * goes back to the pool with its quarantine empty and the next thread
 * that takes the heap reuses both).
 */
#include "small/quarantine.h"

#include <string.h>

#include "base/canary.h"
#include "base/diag.h"
#include "config/secure.h"
#include "small/warm_pool.h"

hak_quarantine *hak_quarantine_make(hak_heap *h, uint32_t delay)
{
    uint32_t want[HAK_SMALL_CLASSES];
    size_t slots = 0;
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        uint32_t fit = HAK_QUARANTINE_CLASS_BYTES / hak_classes[c].size;
        want[c] = delay < fit ? delay : fit;
        if (want[c] == 0)
            want[c] = 1;
        slots += 2 * (size_t)want[c];
    }
    hak_quarantine *q = hak_meta_alloc(sizeof *q + slots * sizeof(void *));
    if (q == NULL)
        return NULL;
    /* The meta arena is fresh mappings: every count starts at 0. */
    void **next = (void **)(q + 1);
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        q->ring[c] = next;
        q->delay[c] = want[c];
        next += 2 * want[c];
    }
    h->quarantine = q;
    return q;
}

/* Slot i places after slot `at` of a ring of `cap` slots (i < cap). */
static uint32_t quarantine_slot(uint32_t at, uint32_t i, uint32_t cap)
{
    uint32_t s = at + i;
    return s >= cap ? s - cap : s;
}

static void *quarantine_pop_oldest(hak_quarantine *q, unsigned cls)
{
    void *b = q->ring[cls][q->oldest[cls]];
    q->oldest[cls] = quarantine_slot(q->oldest[cls], 1, 2 * q->delay[cls]);
    q->count[cls]--;
    return b;
}

void *hak_quarantine_push(hak_quarantine *q, unsigned cls, void *b)
{
    uint32_t cap = 2 * q->delay[cls];
    void *evicted = q->count[cls] == cap ? quarantine_pop_oldest(q, cls) : NULL;
    q->ring[cls][quarantine_slot(q->oldest[cls], q->count[cls], cap)] = b;
    q->count[cls]++;
    return evicted;
}

void *hak_quarantine_take(hak_quarantine *q, unsigned cls)
{
    return q->count[cls] > q->delay[cls] ? quarantine_pop_oldest(q, cls) : NULL;
}

void *hak_quarantine_take_any(hak_quarantine *q, unsigned cls)
{
    return q->count[cls] > 0 ? quarantine_pop_oldest(q, cls) : NULL;
}

bool hak_quarantine_holds(const hak_quarantine *q, unsigned cls, const void *b)
{
    uint32_t cap = 2 * q->delay[cls];
    for (uint32_t i = 0; i < q->count[cls]; i++)
        if (q->ring[cls][quarantine_slot(q->oldest[cls], i, cap)] == b)
            return true;
    return false;
}

uint32_t hak_quarantine_held(const hak_quarantine *q, unsigned cls)
{
    /* volatile: read by stats from other threads, once each. */
    return *(const volatile uint32_t *)&q->count[cls] +
           *(const volatile uint32_t *)&q->stash_count[cls];
}

void hak_quarantine_check(hak_block *b, unsigned cls)
{
    size_t size = hak_classes[cls].size;
    hak_track_alloc(b, size);
    if (!hak_secure.canaries && hak_block_is_freed(b))
        hak_block_mark_allocated(b);
    size_t at = hak_first_nonzero(b, size);
    if (hak_unlikely(at != size))
        hak_fatal_written(b, hak_class_is_tiny(cls) ? "Tiny" : "Mid", size, at);
}

void hak_quarantine_release(hak_heap *h, hak_block *b)
{
    h->cstats[hak_slab_of_block((uintptr_t)b)->cls].flush_blocks++;
    void *one = b;
    hak_warm_pool_return_blocks(h, &one, 1);
}

/* b (unpoisoned) as a freed block of this profile reads: cleared by the
 * caller, and marked when the canary cannot tell. */
static void quarantine_leave(hak_heap *h, hak_block *b, size_t size)
{
    if (!hak_secure.canaries)
        hak_block_mark_freed(b);
    hak_track_free(b, size);
    hak_quarantine_release(h, b);
}

void hak_quarantine_flush(hak_heap *h)
{
    hak_quarantine *q = h->quarantine;
    if (q == NULL)
        return;
    for (unsigned cls = 0; cls < HAK_SMALL_CLASSES; cls++) {
        size_t size = hak_classes[cls].size;
        hak_block *b;
        while ((b = hak_quarantine_take_any(q, cls)) != NULL) {
            hak_quarantine_check(b, cls);
            quarantine_leave(h, b, size);
        }
        while (q->stash_count[cls] > 0) {
            b = q->stash[cls][--q->stash_count[cls]];
            hak_track_alloc(b, size);
            memset(b, 0, size); /* fresh: whatever it held goes */
            quarantine_leave(h, b, size);
        }
    }
}
