/*
 * hakmem.h - public interface of the hakmem memory allocator.
 *
 * libhakmem.so exports the standard C allocation functions (malloc, free,
 * ...), so linking or preloading it replaces the system allocator.  The same
 * functions are also available with a hak_ prefix: they work without
 * interposition (for example in a program that keeps the system malloc) and
 * in the static library used by tests and benchmarks.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION_MAJOR 0
#define HAKMEM_VERSION_MINOR 1

#if defined(__GNUC__)
#define HAK_ATTR_MALLOC __attribute__((malloc))
#define HAK_ATTR_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#define HAK_ATTR_MALLOC
#define HAK_ATTR_ALLOC_SIZE(...)
#endif

void *hak_malloc(size_t size) HAK_ATTR_MALLOC HAK_ATTR_ALLOC_SIZE(1);
void *hak_calloc(size_t count, size_t size) HAK_ATTR_MALLOC HAK_ATTR_ALLOC_SIZE(1, 2);
void *hak_realloc(void *ptr, size_t size) HAK_ATTR_ALLOC_SIZE(2);
void *hak_reallocarray(void *ptr, size_t count, size_t size) HAK_ATTR_ALLOC_SIZE(2, 3);
void hak_free(void *ptr);
/* C23: size must be the size requested at allocation. */
void hak_free_sized(void *ptr, size_t size);
/* C23: for memory from hak_aligned_alloc with this alignment and size. */
void hak_free_aligned_sized(void *ptr, size_t alignment, size_t size);
int hak_posix_memalign(void **out, size_t alignment, size_t size);
void *hak_aligned_alloc(size_t alignment, size_t size) HAK_ATTR_MALLOC HAK_ATTR_ALLOC_SIZE(2);
void *hak_memalign(size_t alignment, size_t size) HAK_ATTR_MALLOC HAK_ATTR_ALLOC_SIZE(2);
void *hak_valloc(size_t size) HAK_ATTR_MALLOC HAK_ATTR_ALLOC_SIZE(1);
void *hak_pvalloc(size_t size) HAK_ATTR_MALLOC;
size_t hak_malloc_usable_size(const void *ptr);
/* glibc's malloc_trim: return every free page to the OS now (the calling
 * thread's caches too; other threads flush theirs on their next slow
 * path).  Returns 1 if memory was released.  pad is ignored. */
int hak_malloc_trim(size_t pad);

/* Tiers, as reported in struct hak_stats. */
enum hak_tier { HAK_TIER_TINY, HAK_TIER_MID, HAK_TIER_LARGE, HAK_TIER_HUGE, HAK_TIER_COUNT };

#define HAK_STATS_CLASSES 52 /* Tiny and Mid size classes */

struct hak_class_stat {
    uint32_t block_size;
    uint64_t allocs, frees;     /* calls served by this class */
    uint64_t cache_hits;        /* mallocs served by the thread cache */
    uint64_t cache_misses;      /* mallocs that refilled the cache */
    uint64_t warm_hits;         /* refills served by a warm-pool slab */
    uint64_t warm_misses;       /* refills that found the warm pool empty */
    uint64_t prefills;          /* secondary prefills (several slabs at once) */
    uint64_t refills;           /* batch refills */
    uint64_t remote_frees;      /* frees by a thread other than the owner */
};

struct hak_tier_stat {
    uint64_t allocs, frees;
    uint64_t bytes_in_use; /* usable sizes of the live blocks */
};

struct hak_stats {
    uint32_t version;          /* HAKMEM_VERSION_MAJOR << 16 | MINOR */
    uint32_t nclasses;         /* entries used in classes[] */
    struct hak_tier_stat tiers[HAK_TIER_COUNT];
    struct hak_class_stat classes[HAK_STATS_CLASSES];
    uint64_t allocs, frees, bytes_in_use;
    uint64_t cache_hits, cache_misses;
    uint64_t warm_hits, warm_misses, prefills, refills, remote_frees;
    uint64_t segments_mapped, segments_unmapped; /* events, all kinds */
    uint64_t bytes_mapped;      /* currently mapped by hakmem */
    uint64_t bytes_purged;      /* returned to the OS so far */
    uint64_t free_retained;     /* free but still resident bytes (caches, slabs, runs) */
    uint64_t peak_rss_kib;      /* of the process, getrusage */
    uint64_t threads;           /* heaps ever created */
};

/* Fill *out with a snapshot; returns 0. */
int hak_stats_get(struct hak_stats *out);
/* Print the statistics table and the effective configuration to fd. */
void hak_stats_print(int fd);

#ifdef __cplusplus
}
#endif

#endif
