/*
 * transfer.c - the transfer cache (see transfer.h).
 */
#include "small/transfer.h"

#include <string.h>

#include "base/counters.h"
#include "os/lock.h"
#include "os/os.h"
#include "small/remote_free.h"

typedef struct transfer_batch {
    uint32_t n;
    void *blocks[HAK_TRANSFER_BATCH];
} transfer_batch;

typedef struct transfer_class {
    hak_lock lock;
    uint32_t count;      /* lock: batches held */
    uint64_t touched_ms; /* lock: when a batch last came or went */
    transfer_batch batch[HAK_TRANSFER_SLOTS];
} transfer_class;

static transfer_class transfer_classes[HAK_TINY_CLASSES];

/* Batches a class may hold: its bytes budget in full batches. */
static uint32_t transfer_slots(unsigned cls)
{
    size_t batches = HAK_TRANSFER_BYTES / ((size_t)hak_classes[cls].size * HAK_TRANSFER_BATCH);
    return batches < HAK_TRANSFER_SLOTS ? (uint32_t)batches : HAK_TRANSFER_SLOTS;
}

bool hak_transfer_put(unsigned cls, void *const *blocks, unsigned n)
{
    transfer_class *tc = &transfer_classes[cls];
    uint32_t slots = transfer_slots(cls);
    /* relaxed, unlocked: a hint that spares the lock when full; the
     * decision is taken again under it. */
    if (__atomic_load_n(&tc->count, __ATOMIC_RELAXED) >= slots)
        return false;
    hak_lock_acquire(&tc->lock);
    if (tc->count >= slots) {
        hak_lock_release(&tc->lock);
        return false;
    }
    transfer_batch *b = &tc->batch[tc->count];
    b->n = n;
    memcpy(b->blocks, blocks, n * sizeof(void *));
    __atomic_store_n(&tc->count, tc->count + 1, __ATOMIC_RELAXED);
    tc->touched_ms = 0; /* stamped by the next release pass */
    hak_lock_release(&tc->lock);
    hak_retained_add((size_t)n * hak_classes[cls].size);
    return true;
}

unsigned hak_transfer_take(unsigned cls, void **out)
{
    transfer_class *tc = &transfer_classes[cls];
    /* relaxed, unlocked: see hak_transfer_put. */
    if (__atomic_load_n(&tc->count, __ATOMIC_RELAXED) == 0)
        return 0;
    hak_lock_acquire(&tc->lock);
    unsigned n = 0;
    if (tc->count > 0) {
        transfer_batch *b = &tc->batch[tc->count - 1];
        n = b->n;
        memcpy(out, b->blocks, n * sizeof(void *));
        __atomic_store_n(&tc->count, tc->count - 1, __ATOMIC_RELAXED);
        tc->touched_ms = 0;
    }
    hak_lock_release(&tc->lock);
    if (n > 0)
        hak_retained_sub((size_t)n * hak_classes[cls].size);
    return n;
}

size_t hak_transfer_release(uint64_t now_ms, uint64_t delay_ms, bool force)
{
    size_t released = 0;
    for (unsigned cls = 0; cls < HAK_TINY_CLASSES; cls++) {
        transfer_class *tc = &transfer_classes[cls];
        if (__atomic_load_n(&tc->count, __ATOMIC_RELAXED) == 0)
            continue;
        /* Batches leave the class whole, under the lock, then go back
         * without it: handing back takes other locks and CASes. */
        transfer_batch gone[HAK_TRANSFER_SLOTS];
        uint32_t ngone = 0;
        hak_lock_acquire(&tc->lock);
        /* A class is aged when no batch came or went during a whole
         * delay: the first pass that finds it busy stamps it. */
        if (tc->touched_ms == 0)
            tc->touched_ms = now_ms;
        if (force || now_ms - tc->touched_ms >= delay_ms) {
            ngone = tc->count;
            memcpy(gone, tc->batch, ngone * sizeof gone[0]);
            __atomic_store_n(&tc->count, 0, __ATOMIC_RELAXED);
        }
        hak_lock_release(&tc->lock);
        for (uint32_t i = 0; i < ngone; i++) {
            size_t bytes = (size_t)gone[i].n * hak_classes[cls].size;
            hak_retained_sub(bytes);
            released += bytes;
            hak_remote_free_hand_over(NULL, gone[i].blocks, gone[i].n);
        }
    }
    return released;
}

void hak_transfer_fork_prepare(void)
{
    for (unsigned cls = 0; cls < HAK_TINY_CLASSES; cls++)
        hak_lock_acquire(&transfer_classes[cls].lock);
}

void hak_transfer_fork_parent(void)
{
    for (unsigned cls = HAK_TINY_CLASSES; cls-- > 0;)
        hak_lock_release(&transfer_classes[cls].lock);
}

void hak_transfer_fork_child(void)
{
    for (unsigned cls = 0; cls < HAK_TINY_CLASSES; cls++)
        hak_lock_reset(&transfer_classes[cls].lock);
}
