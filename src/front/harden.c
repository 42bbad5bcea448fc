/*
 * harden.c - the secure profile's Tiny and Mid path (config/secure.h).
 * With small_checked the thread caches keep a cap of 0, so every malloc of
 * a Tiny or Mid block reaches the miss and every free the overflow of the
 * freeing thread (whoever owns the block's slab), and both come here:
 *
 *   malloc  the oldest freed block of the class once the heap's quarantine
 *           holds more than its delay (it must read as zero: a write after
 *           free is reported), else a fresh block from the heap's stash,
 *           refilled from the slabs in (shuffled) batches; its first two
 *           words are cleared, so no free-list link leaks, and its canary
 *           is written after the usable bytes.
 *   free    the canary is checked: 0 means the block was freed already
 *           (its tail was cleared then), anything else an overflow.  The
 *           block is cleared (whole with quarantine or zero_on_free, else
 *           its canary) and held in the freeing thread's quarantine; the
 *           oldest block of a full ring, checked, goes back to its slab
 *           (another heap's is handed over to its owner).
 *
 * So a freed block reads as zero, its last 8 bytes included, for as long
 * as a quarantine holds it.  Blocks that go back to their slab (evicted
 * from a full ring, flushed at thread exit and by malloc_trim, or freed by
 * a thread that has no heap) carry the encoded free-list link in their
 * first word, as in the default profile.  Without canaries the freed mark
 * of block.h stays in the block and the double-free check is the fast
 * path's.
 *
 * Which class: the miss has the size, so the class holds it and the
 * canary (at least 32 bytes: a 16-byte block's canary would share the
 * freed mark's word), and malloc(0) is told apart (zero_size_guard).  A
 * request that fits no Mid class with its canary (the top of the last
 * one) gets a Large block of exactly its Large class, whose guard page
 * takes the canary's place.
 */
#include "front/harden.h"

#include <errno.h>
#include <string.h>

#include "base/canary.h"
#include "base/diag.h"
#include "config/secure.h"
#include "runtime/purge.h"
#include "small/quarantine.h"
#include "small/warm_pool.h"
#include "tiers/large.h"
#include "tiers/zero.h"

static const char *harden_tier(unsigned cls) { return hak_class_is_tiny(cls) ? "Tiny" : "Mid"; }

size_t hak_harden_usable(const hak_slab *s)
{
    return s->block_size - (hak_secure.canaries ? HAK_SECURE_TAIL : 0);
}

/* The canary of p (a block of slab s) is not p's: say why, and abort.  A
 * cleared canary is a freed block; the caller's own quarantine settles it,
 * otherwise an overflow that wrote zeros cannot be ruled out. */
static hak_noreturn hak_cold void harden_report(const void *p, const hak_slab *s, const char *op,
                                                uint64_t canary)
{
    const char *tier = harden_tier(s->cls);
    if (canary != 0)
        hak_fatal_overflow(p, tier, s->block_size, hak_harden_usable(s));
    hak_heap *h = hak_heap_tls;
    if (h->quarantine != NULL && hak_quarantine_holds(h->quarantine, s->cls, p))
        hak_fatal_block(hak_diag_freed(op), p, tier, s->block_size);
    char mem[128];
    hak_buf b = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
    hak_buf_str(&b, tier);
    hak_buf_str(&b, " block of ");
    hak_buf_u64(&b, s->block_size);
    hak_buf_str(&b, " bytes, or an overflow wrote zeros over its canary");
    mem[b.len] = 0;
    hak_fatal_ptr(hak_diag_freed(op), p, mem);
}

void hak_harden_check(const void *p, const hak_slab *s, const char *op)
{
    if (!hak_secure.canaries)
        return;
    uint64_t canary = hak_canary_read(p, s->block_size);
    if (hak_unlikely(canary != hak_canary_of((uintptr_t)p)))
        harden_report(p, s, op, canary);
}

void hak_harden_clear(hak_slab *s, hak_block *b)
{
    size_t size = s->block_size;
    hak_track_alloc(b, size);
    hak_harden_check(b, s, "invalid free of");
    if (hak_secure.quarantine || hak_secure.zero_on_free)
        memset(b, 0, size);
    else if (hak_secure.canaries)
        memset((char *)b + size - HAK_SECURE_TAIL, 0, HAK_SECURE_TAIL); /* freed: no canary */
    if (!hak_secure.canaries)
        hak_block_mark_freed(b);
    hak_track_free(b, size);
}

void hak_harden_free(hak_heap *h, hak_slab *s, hak_block *b)
{
    unsigned cls = s->cls;
    hak_harden_clear(s, b);
    hak_quarantine *q = hak_secure.quarantine ? hak_quarantine_of(h, hak_secure.quarantine) : NULL;
    hak_block *out = q != NULL ? hak_quarantine_push(q, cls, b) : b;
    if (out == NULL)
        return;
    if (out != b) {
        hak_quarantine_check(out, cls);
        if (!hak_secure.canaries)
            hak_block_mark_freed(out);
        hak_track_free(out, s->block_size);
    }
    hak_quarantine_release(h, out);
}

/* A fresh block of class cls: the stash, refilled from the slabs.  NULL
 * with errno ENOMEM when no slab can be had. */
static hak_block *harden_fresh(hak_heap *h, hak_quarantine *q, unsigned cls)
{
    if (q != NULL && q->stash_count[cls] > 0)
        return q->stash[cls][--q->stash_count[cls]];
    void *one = NULL;
    void **out = q != NULL ? q->stash[cls] : &one;
    unsigned want = q != NULL ? HAK_QUARANTINE_STASH : 1;
    unsigned n = hak_warm_pool_refill(h, cls, out, want);
    /* No slab could be mapped: what the program freed serves first. */
    if (n == 0 && hak_purge_all() > 0)
        n = hak_warm_pool_refill(h, cls, out, want);
    if (n == 0) {
        errno = ENOMEM;
        return NULL;
    }
    if (q != NULL)
        q->stash_count[cls] = n - 1;
    return out[n - 1];
}

void *hak_harden_alloc_class(hak_heap *h, unsigned cls)
{
    size_t size = hak_classes[cls].size;
    hak_quarantine *q = hak_quarantine_of(h, hak_secure.quarantine);
    h->cstats[cls].slow_allocs++;
    hak_block *b = q != NULL && hak_secure.quarantine ? hak_quarantine_take(q, cls) : NULL;
    if (b != NULL) {
        hak_quarantine_check(b, cls);
    } else {
        b = harden_fresh(h, q, cls);
        if (b == NULL)
            return NULL;
        hak_track_alloc(b, size);
        memset(b, 0, sizeof *b); /* the link and the freed mark */
    }
    if (hak_secure.canaries)
        hak_canary_write(b, size);
    return b;
}

void *hak_harden_alloc_large(hak_heap *h, size_t size, size_t align)
{
    bool zeroed;
    void *p = hak_large_alloc_exact(h, size, align, &zeroed);
    if (p == NULL && hak_purge_all() > 0)
        p = hak_large_alloc_exact(h, size, align, &zeroed);
    return p;
}

void *hak_harden_alloc_size(hak_heap *h, size_t size)
{
    if (size == 0 && hak_secure.zero_size_guard) {
        /* Counted as a block of class 0 (runtime/stats.c takes the live
         * zero-size blocks out of its bytes). */
        void *p = hak_zero_alloc();
        if (p != NULL) {
            h->cstats[0].slow_allocs++;
            h->cstats[0].refill_blocks++;
        }
        return p;
    }
    size_t need = size;
    if (hak_secure.canaries)
        need = size + HAK_SECURE_TAIL > 2 * HAK_SECURE_TAIL ? size + HAK_SECURE_TAIL
                                                            : 2 * HAK_SECURE_TAIL + 1;
    if (need > HAK_MID_MAX)
        return hak_harden_alloc_large(h, need, 0);
    return hak_harden_alloc_class(h, hak_small_class_of(need));
}
