/*
 * api.h - the malloc and free entry points, inlined into both the hak_*
 * exports (alloc.c) and the standard names (interpose.c).  Everything that
 * is not a Tiny/Mid cache hit leaves through one out-of-line call.
 *
 * Where is a tiny free handled?  hak_api_free_sized below: segment map ->
 * slab -> owner check -> block checks -> hak_tiny_free_local (tiny.h).
 */
#ifndef HAK_API_H
#define HAK_API_H

#include "small/heap.h"
#include "tiers/mid.h"
#include "config/secure.h"
#include "base/segment_map.h"
#include "tiers/tiny.h"
#include "base/track.h"

/* alloc.c */
void *hak_alloc_big(size_t size, size_t align, bool *zeroed);
void hak_free_slow(void *p, unsigned kind, size_t expected);
void hak_small_free_other(void *p, hak_slab *s, size_t expected);
/* Misuse reports; they abort.  Not declared noreturn so that the fast path
 * reaches them by a tail jump and needs no stack frame of its own. */
hak_cold void hak_small_free_invalid(const void *p, const hak_slab *s);
hak_cold void hak_small_double_free(const void *p, const hak_slab *s);
hak_cold void hak_free_size_mismatch(const void *p, size_t size);
/* The local free of the secure profile (zero_on_free). */
hak_cold void hak_small_free_zeroing(hak_heap *h, hak_slab *s, hak_block *b, unsigned kind);
void *hak_calloc_impl(size_t count, size_t size);
void *hak_realloc_impl(void *p, size_t size);
void *hak_reallocarray_impl(void *p, size_t count, size_t size);
void *hak_aligned_impl(size_t align, size_t size);
int hak_posix_memalign_impl(void **out, size_t align, size_t size);
void *hak_aligned_alloc_impl(size_t align, size_t size);
void *hak_memalign_impl(size_t align, size_t size);
void *hak_valloc_impl(size_t size);
void *hak_pvalloc_impl(size_t size);
size_t hak_usable_size_impl(const void *p);
void hak_free_aligned_sized_impl(void *p, size_t align, size_t size);

hak_inline void *hak_api_malloc(size_t size)
{
    if (hak_likely(size <= HAK_TINY_MAX))
        return hak_tiny_malloc(size);
    if (hak_likely(size <= HAK_MID_MAX))
        return hak_mid_malloc(size);
    bool zeroed;
    return hak_alloc_big(size, 0, &zeroed);
}

/* expected: 0 for free(), the caller's size for free_sized(). */
hak_inline void hak_api_free_sized(void *p, size_t expected)
{
    uintptr_t a = (uintptr_t)p;
    unsigned kind = hak_segmap_get(a);
    if (hak_likely(kind >= HAK_SEGMAP_SMALL_MIN)) {
        hak_slab *s = hak_slab_of(a, kind);
        hak_heap *h = hak_heap_tls;
        /* relaxed: only we store our own heap pointer here (heap.h). */
        if (hak_likely(atomic_load_explicit(&s->owner, memory_order_relaxed) == h)) {
            if (hak_unlikely(!hak_slab_offset_ok(s, a - s->start))) {
                hak_small_free_invalid(p, s);
                return;
            }
            hak_block *b = p;
            if (hak_unlikely(hak_block_is_freed(b))) {
                hak_small_double_free(p, s);
                return;
            }
            if (expected > s->block_size) {
                hak_free_size_mismatch(p, expected);
                return;
            }
            if (hak_unlikely(hak_secure.zero_on_free)) {
                /* Out of line and by tail call: a memset here would make
                 * the common path save registers around it. */
                hak_small_free_zeroing(h, s, b, kind);
                return;
            }
            hak_block_mark_freed(b);
            hak_track_free(b, s->block_size);
            if (kind == HAK_TINY_SLAB_SHIFT)
                hak_tiny_free_local(h, s->cls, b);
            else
                hak_mid_free_local(h, s->cls, b);
            return;
        }
        hak_small_free_other(p, s, expected);
        return;
    }
    hak_free_slow(p, kind, expected);
}

hak_inline void hak_api_free(void *p) { hak_api_free_sized(p, 0); }

#endif
