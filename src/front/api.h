/*
 * api.h - the malloc and free fast paths, inlined into both the hak_*
 * exports (alloc.c) and the standard names (interpose.c).  This is the one
 * place they are written: a Tiny or Mid cache hit is handled here with the
 * tiers' cache operations (tiers/tiny.h, tiers/mid.h), and everything else
 * leaves through one out-of-line call in alloc.c: hak_alloc_small_miss,
 * hak_alloc_small_overflow, hak_alloc_free_other, hak_alloc_free_slow,
 * hak_alloc_big, or a misuse report.
 *
 * Where is a tiny free handled?  hak_api_free_sized below: segment map ->
 * slab -> owner check -> block checks -> hak_tiny_cache_push.
 */
#ifndef HAK_API_H
#define HAK_API_H

#include "base/segment_map.h"
#include "base/track.h"
#include "config/secure.h"
#include "small/heap.h"
#include "tiers/mid.h"
#include "tiers/tiny.h"

/* alloc.c */
void *hak_alloc_small_miss(unsigned cls);
void hak_alloc_small_overflow(hak_heap *h, unsigned cls, void *p);
void *hak_alloc_big(size_t size, size_t align, bool *zeroed);
void hak_alloc_free_slow(void *p, unsigned map, size_t expected);
void hak_alloc_free_other(void *p, hak_slab *s, size_t expected);
/* Misuse reports; they abort.  Not declared noreturn so that the fast path
 * reaches them by a tail jump and needs no stack frame of its own. */
hak_cold void hak_alloc_free_invalid(const void *p, const hak_slab *s);
hak_cold void hak_alloc_double_free(const void *p, const hak_slab *s);
hak_cold void hak_alloc_size_mismatch(const void *p, size_t size);
/* The local free of the secure profile (zero_on_free). */
hak_cold void hak_alloc_free_zeroing(hak_heap *h, hak_slab *s, hak_block *b);
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

/* cls is a Tiny class. */
hak_inline void *hak_api_tiny_alloc(unsigned cls)
{
    hak_heap *h = hak_heap_tls;
    if (hak_likely(hak_tiny_cache_has(h, cls)))
        return hak_tiny_cache_pop(h, cls);
    return hak_alloc_small_miss(cls);
}

/* cls is a Mid class (a small-class index). */
hak_inline void *hak_api_mid_alloc(unsigned cls)
{
    hak_heap *h = hak_heap_tls;
    if (hak_likely(hak_mid_cache_has(h, cls)))
        return hak_mid_cache_pop(h, cls);
    return hak_alloc_small_miss(cls);
}

hak_inline void *hak_api_small_alloc(unsigned cls)
{
    return hak_class_is_tiny(cls) ? hak_api_tiny_alloc(cls) : hak_api_mid_alloc(cls);
}

hak_inline void *hak_api_malloc(size_t size)
{
    if (hak_likely(size <= HAK_TINY_MAX))
        return hak_api_tiny_alloc(hak_tiny_class_of(size));
    if (hak_likely(size <= HAK_MID_MAX))
        return hak_api_mid_alloc(hak_mid_class_of(size));
    bool zeroed;
    return hak_alloc_big(size, 0, &zeroed);
}

/* b: a validated block of slab s, owned by h, marked freed. */
hak_inline void hak_api_small_free_local(hak_heap *h, const hak_slab *s, unsigned map, void *b)
{
    unsigned cls = s->cls;
    bool cached = map == HAK_TINY_SLAB_SHIFT ? hak_tiny_cache_push(h, cls, b)
                                              : hak_mid_cache_push(h, cls, b);
    if (hak_unlikely(!cached))
        hak_alloc_small_overflow(h, cls, b);
}

/* expected: 0 for free(), the caller's size for free_sized(). */
hak_inline void hak_api_free_sized(void *p, size_t expected)
{
    uintptr_t a = (uintptr_t)p;
    unsigned map = hak_segmap_get(a);
    if (hak_likely(map >= HAK_SEGMAP_SMALL_MIN)) {
        hak_slab *s = hak_slab_of(a, map);
        hak_heap *h = hak_heap_tls;
        /* relaxed: only we store our own heap pointer here (heap.h). */
        if (hak_likely(atomic_load_explicit(&s->owner, memory_order_relaxed) == h)) {
            if (hak_unlikely(!hak_slab_offset_ok(s, a - s->start))) {
                hak_alloc_free_invalid(p, s);
                return;
            }
            hak_block *b = p;
            if (hak_unlikely(hak_block_is_freed(b))) {
                hak_alloc_double_free(p, s);
                return;
            }
            if (expected > s->block_size) {
                hak_alloc_size_mismatch(p, expected);
                return;
            }
            if (hak_unlikely(hak_secure.zero_on_free)) {
                /* Out of line and by tail call: a memset here would make
                 * the common path save registers around it. */
                hak_alloc_free_zeroing(h, s, b);
                return;
            }
            hak_block_mark_freed(b);
            hak_track_free(b, s->block_size);
            hak_api_small_free_local(h, s, map, b);
            return;
        }
        hak_alloc_free_other(p, s, expected);
        return;
    }
    hak_alloc_free_slow(p, map, expected);
}

hak_inline void hak_api_free(void *p) { hak_api_free_sized(p, 0); }

#endif
