/*
 * api.h - the malloc and free fast paths, inlined into both the hak_*
 * exports (alloc.c) and the standard names (interpose.c).  This is the one
 * place they are written: a Tiny or Mid cache hit is handled here with the
 * caches' operations (small/cache.h), and everything else
 * leaves through one out-of-line call in alloc.c: hak_alloc_small_miss_size,
 * hak_alloc_small_miss, hak_alloc_cache_overflow,
 * hak_alloc_free_bad, hak_alloc_free_slow, hak_alloc_big, or a misuse
 * report.
 *
 * Where is a tiny free handled?  hak_api_free_sized below: the Tiny arena's
 * range test gives the slab descriptor -> block checks -> push onto this
 * thread's cache of the class (hak_cache_push), whichever thread's
 * slab the block is from (small/heap.h).  Every default check stays on this
 * path: a pointer that is not ours (outside the arena, or in a slot without
 * a live slab), not the start of a block that was handed out (bounded by
 * the slab's bump frontier), or already freed (the freed mark) leaves it.
 */
#ifndef HAK_API_H
#define HAK_API_H

#include "base/segment_map.h"
#include "base/track.h"
#include "small/heap.h"

/* alloc.c */
/* malloc(size), size <= HAK_MID_MAX, missed its cache. */
void *hak_alloc_small_miss_size(size_t size);
void *hak_alloc_small_miss(unsigned cls);
/* A push of p into c, one of h's caches, returned false: the cache was
 * full, or the push ended a free period (small/cache.h). */
void hak_alloc_cache_overflow(hak_heap *h, hak_cache *c, void *p);
void *hak_alloc_big(size_t size, size_t align, bool *zeroed);
void hak_alloc_free_slow(void *p, unsigned map, size_t expected);
/* p failed the block-start test of the slab its address maps to. */
hak_cold void hak_alloc_free_bad(void *p, size_t expected);
/* Misuse reports; they abort.  Not declared noreturn so that the fast path
 * reaches them by a tail jump and needs no stack frame of its own. */
hak_cold void hak_alloc_double_free(const void *p, const hak_slab *s);
hak_cold void hak_alloc_size_mismatch(const void *p, size_t size);
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

/* cls is a Tiny or Mid class. */
hak_inline void *hak_api_small_alloc(unsigned cls)
{
    hak_cache *c = &hak_heap_tls->cache[cls];
    if (hak_likely(hak_cache_has(c)))
        return hak_cache_pop(c, hak_classes[cls].size);
    return hak_alloc_small_miss(cls);
}

/* The malloc fast path.  A Tiny or Mid cache hit is served here; a miss
 * leaves through miss(size), by a tail call, so the hit path needs no stack
 * frame; sizes beyond Mid go to hak_alloc_big, and if that fails and
 * big_failed is given, to big_failed(size).  malloc passes
 * hak_alloc_small_miss_size and no big_failed; operator new passes its own
 * two, which add the C++ failure path (front/cxx.c). */
hak_inline void *hak_api_malloc_or(size_t size, void *(*miss)(size_t),
                                   void *(*big_failed)(size_t))
{
    if (hak_likely(size <= HAK_TINY_MAX)) {
        /* The class comes from the heap's own table, indexed by the size:
         * one load from memory the next load touches anyway.  The empty
         * heap's table is all zero and its caches all empty, so a thread
         * without a heap misses here and the miss path, given the size,
         * finds the class itself. */
        hak_cache *c = hak_heap_tiny_cache_of(hak_heap_tls, size);
        if (hak_likely(hak_cache_has(c)))
            return hak_cache_pop(c, hak_classes[hak_tiny_class_of(size)].size);
        return miss(size);
    }
    if (hak_likely(size <= HAK_MID_MAX)) {
        unsigned cls = hak_mid_class_of(size);
        hak_cache *c = &hak_heap_tls->cache[cls];
        if (hak_likely(hak_cache_has(c)))
            return hak_cache_pop(c, hak_classes[cls].size);
        return miss(size);
    }
    bool zeroed;
    void *p = hak_alloc_big(size, 0, &zeroed);
    if (big_failed != NULL && hak_unlikely(p == NULL))
        return big_failed(size);
    return p;
}

hak_inline void *hak_api_malloc(size_t size)
{
    return hak_api_malloc_or(size, hak_alloc_small_miss_size, NULL);
}

/* b: a validated block of slab s, marked freed: into this thread's cache
 * of the class, whoever owns the slab. */
hak_inline void hak_api_small_free_local(const hak_slab *s, void *b)
{
    hak_heap *h = hak_heap_tls;
    hak_cache *c = (hak_cache *)((char *)h + s->cache_off);
    if (hak_unlikely(!hak_cache_push(c, b)))
        hak_alloc_cache_overflow(h, c, b);
}

/* The checks every Tiny/Mid free passes inline.  off: p's byte offset in
 * slab s.  A slab that holds no block handed out (free, never mapped, a
 * gap of the arena: its bump is 0) fails the first one, so p is known to
 * be a block of a live slab after it.  false: p left through
 * hak_alloc_free_bad (misuse report, or a foreign pointer let go by the
 * foreign_free policy) or another misuse report. */
hak_inline bool hak_api_free_checks(void *p, const hak_slab *s, uintptr_t off, uintptr_t mark,
                                    size_t expected)
{
    if (hak_unlikely(!hak_slab_offset_ok(s, off))) {
        hak_alloc_free_bad(p, expected);
        return false;
    }
    const hak_block *b = p;
    if (hak_unlikely(hak_track_is_free(b) || hak_block_carries_mark(b, mark))) {
        hak_alloc_double_free(p, s);
        return false;
    }
    if (expected > s->sized_max) {
        hak_alloc_size_mismatch(p, expected);
        return false;
    }
    return true;
}

/* Every pointer outside the Tiny arena: Mid blocks, Tiny blocks of
 * segments mapped outside the arena, Large, Huge, foreign pointers. */
hak_inline void hak_api_free_segment(void *p, size_t expected)
{
    uintptr_t a = (uintptr_t)p;
    unsigned map = hak_segmap_get(a);
    if (hak_likely(map >= HAK_SEGMAP_SMALL_MIN)) {
        hak_slab *s = hak_slab_of_segment(a, map);
        uintptr_t mark = hak_block_mark;
        if (!hak_api_free_checks(p, s, a - s->start, mark, expected))
            return;
        hak_block *b = p;
        b->mark = mark;
        hak_track_free(b, s->block_size);
        hak_api_small_free_local(s, b);
        return;
    }
    hak_alloc_free_slow(p, map, expected);
}

/* expected: 0 for free(), the caller's size for free_sized(). */
hak_inline void hak_api_free_sized(void *p, size_t expected)
{
    uintptr_t a = (uintptr_t)p;
    /* One load for two uses: the freed mark is the Tiny arena's base
     * (base/block.h, small/slab.h).  The range test fails for every pointer
     * outside the arena, NULL and non-canonical addresses included. */
    uintptr_t mark = hak_block_mark;
    uintptr_t slot = hak_arena_slot(a, mark);
    if (hak_likely(slot < HAK_ARENA_DESC_BYTES)) {
        /* The arena lies TiBs above address 0 (or nowhere: a non-canonical
         * mark), so NULL never passes the range test.  Said for the static
         * analysers; it costs no instruction. */
        if (p == NULL)
            __builtin_unreachable();
        hak_slab *s = hak_arena_slab_at(slot, mark);
        if (!hak_api_free_checks(p, s, a & (HAK_TINY_SLAB_SIZE - 1), mark, expected))
            return;
        hak_block *b = p;
        b->mark = mark;
        hak_track_free(b, s->block_size);
        hak_api_small_free_local(s, b);
        return;
    }
    hak_api_free_segment(p, expected);
}

hak_inline void hak_api_free(void *p) { hak_api_free_sized(p, 0); }

#endif
