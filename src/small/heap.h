/*
 * heap.h - the per-thread heap: the HOT caches (small/cache.h),
 * the WARM pools and the slow-path state of every class, and the thread's
 * counters.
 *
 * A thread reaches its heap through one initial-exec TLS pointer.  Until the
 * thread's first slow-path call it points at hak_heap_empty, whose caches are
 * all empty, so "not initialised" is just another cache miss and the fast
 * paths carry no init check.  Heaps are never unmapped: a thread's exit
 * returns its heap to a pool for the next thread, and remote freers may hold
 * a heap pointer briefly (see remote_free.c).
 *
 * The caches do not care whose slab a block comes from: a thread frees any
 * Tiny or Mid block into its own cache (as tcmalloc's thread caches do) and
 * reuses it for its own mallocs.  Ownership matters only when blocks leave
 * a cache for their slabs (a flush): blocks of other heaps' slabs are
 * handed to their owners in one batch per owner (small/remote_free.c).
 *
 * This floor keeps the struct, the TLS pointer, the registry of every heap
 * and the pool of released ones; a heap's life with its thread (creation on
 * first use, options, trim, exit) is runtime/thread.c.  The caches (the
 * Tiny and Mid ones, small/cache.h; Large's run cache, tiers/large.h) are
 * laid out here so that one TLS load reaches all of them.
 */
#ifndef HAK_HEAP_H
#define HAK_HEAP_H

#include "base/list.h"
#include "base/size_class.h"
#include "internal.h"
#include "small/cache.h"
#include "small/slab.h"

#define HAK_TINY_CACHE_MAX  128 /* slots per Tiny class (configured cap <= this) */
#define HAK_MID_CACHE_MAX   64  /* slots per Mid class (runtime cap <= this) */
/* Growth ("Growth" in tiers/cache.h) takes a Tiny cache past twice its
 * configured cap only for runs of the thread's own blocks (at least
 * HAK_GROWTH_RUN_MISSES misses between two overflows), up to as many
 * blocks as HAK_CACHE_GROWTH_BYTES holds (at most HAK_TINY_GROWN_MAX).
 * Such a cache moves to slots of its own, taken from the meta arena the
 * first time its class grows that far in the heap (tiny_grown_end): the
 * slots every cache uses stay as dense as before, and a heap whose caches
 * never grow that far costs nothing more. */
#define HAK_CACHE_GROWTH_BYTES (512 * 1024)
#define HAK_CACHE_GROWTH_HEAP_BYTES (4096 * 1024) /* all grown caches of a heap */
#define HAK_GROWTH_RUN_MISSES  4
#define HAK_TINY_GROWN_MAX     2048
#define HAK_DRAIN_OVERFLOWS 4   /* overflows without a refill that start a drain */
#define HAK_DRAIN_CAP_TINY  16  /* cap of a draining Tiny cache */
#define HAK_DRAIN_CAP_MID   1   /* cap of a draining Mid cache */
#define HAK_WARM_MAX        32  /* warm pool slots per class (runtime cap <= this) */
#define HAK_EMPTY_CACHE_MAX 16  /* empty slabs a heap keeps per segment kind */
#define HAK_LARGE_CACHE_SLOTS 4 /* freed Large runs a heap keeps per Large class */
#define HAK_INBOX_CLOSED ((hak_block *)1) /* see hak_heap.inbox */
#define HAK_LARGE_QUARANTINE_MAX 16 /* freed Large runs a heap holds back (secure) */

/* The owner's slabs of one small class (small/warm_pool.c). */
typedef struct hak_class_slabs {
    hak_slab *warm[HAK_WARM_MAX]; /* owned slabs with free blocks, top = last */
    uint32_t warm_count;
    hak_list partial;             /* owned slabs with free blocks beyond the warm pool */
    hak_list full;                /* owned slabs with every block out */
} hak_class_slabs;

/* Freed Large runs kept for reuse (tiers/large.c); no ownership: a run can
 * be freed into any thread's cache. */
typedef struct hak_large_cache {
    void *runs[HAK_LARGE_CLASSES][HAK_LARGE_CACHE_SLOTS];
    uint8_t count[HAK_LARGE_CLASSES];
    size_t bytes; /* bytes held in runs[] */
    /* Secure profile's quarantine: freed runs held back before they may be
     * reused, oldest at quarantine[quarantine_oldest]. */
    void *quarantine[HAK_LARGE_QUARANTINE_MAX];
    uint32_t quarantine_oldest, quarantine_count;
    size_t quarantine_bytes;
} hak_large_cache;

/* Counters of one class in one heap.  Written only by the owning thread
 * with plain stores; readers (stats) tolerate torn-in-time sums. */
typedef struct hak_class_stats {
    uint64_t slow_allocs;   /* mallocs that missed the cache */
    uint64_t refills;       /* batch refills */
    uint64_t refill_blocks; /* blocks moved slab -> cache */
    uint64_t flush_blocks;  /* blocks moved cache -> slab */
    uint64_t warm_hits;     /* cache misses served by a warm-pool slab */
    uint64_t warm_misses;   /* cache misses that found the warm pool empty */
    uint64_t prefills;      /* secondary prefills */
    uint64_t prefill_slabs; /* slabs brought in by them */
    uint64_t remote_frees;  /* frees of this class's blocks owned by another heap */
    uint64_t adopted;       /* abandoned slabs adopted */
    uint64_t fresh_slabs;   /* slabs formatted */
} hak_class_stats;

typedef struct hak_tier_stats {
    uint64_t allocs, frees, bytes_alloc, bytes_freed;
} hak_tier_stats;

#define HAK_CACHE_WORDS (sizeof(hak_cache) / sizeof(void *))

typedef struct hak_heap {
    /* ---- HOT: touched by the fast paths ---- */
    /* Every small class's cache (small/cache.h): Tiny classes over
     * tiny_slots, Mid classes over mid_slots. */
    hak_cache cache[HAK_SMALL_CLASSES];
    /* For every size 0..HAK_TINY_MAX, the index of its class's cache in
     * `cache` counted in words (class * HAK_CACHE_WORDS), copied into
     * the heap so that malloc reaches it with the heap pointer it already
     * holds and addresses the cache without a multiplication.  All zero in
     * hak_heap_empty: see front/api.h. */
    uint8_t tiny_cache_word[HAK_TINY_MAX + 1];
    void *tiny_slots[HAK_TINY_CLASSES][HAK_TINY_CACHE_MAX];
    void *mid_slots[HAK_MID_CLASSES][HAK_MID_CACHE_MAX];
    hak_class_stats cstats[HAK_SMALL_CLASSES];

    /* ---- WARM / slow path ---- */
    hak_class_slabs slabs[HAK_SMALL_CLASSES];
    uint32_t batch[HAK_SMALL_CLASSES];  /* blocks per batch refill */
    /* Blocks the next refill from a slab takes: a page's worth at first,
     * doubling with each refill up to batch (tiers/cache.c). */
    uint32_t refill_ramp[HAK_SMALL_CLASSES];
    uint32_t warm_cap;                  /* warm pool slots used per class */
    /* Cache growth (tiers/cache.h): the most a class's cap may grow to,
     * for any ping-pong and for a run of the thread's own blocks; its miss
     * count at its last overflow; whether an overflow of the class ever
     * sent blocks of other heaps' slabs away (since the heap's options
     * were last applied). */
    uint32_t cap_ceiling[HAK_SMALL_CLASSES];
    uint32_t cap_ceiling_own_run[HAK_SMALL_CLASSES];
    uint64_t grow_mark[HAK_SMALL_CLASSES];
    bool shed_foreign[HAK_SMALL_CLASSES];
    /* End of a Tiny class's grown slots (HAK_TINY_GROWN_MAX of them, meta
     * arena, kept with the heap), NULL until it first grows past
     * HAK_TINY_CACHE_MAX (hak_heap_grown_slots). */
    void **tiny_grown_end[HAK_TINY_CLASSES];
    /* Free-run drain (tiers/cache.h). */
    uint32_t free_run[HAK_SMALL_CLASSES];  /* overflows since the last refill */
    uint32_t drain_cap[HAK_SMALL_CLASSES]; /* cap to restore; 0: not draining */
    uint32_t prefill_budget;            /* slabs per secondary prefill */
    hak_slab *empty[HAK_SEG_KINDS][HAK_EMPTY_CACHE_MAX];
    uint32_t empty_count[HAK_SEG_KINDS];
    uint32_t empty_cap[HAK_SEG_KINDS];
    hak_large_cache large;
    hak_tier_stats large_stats;
    uint64_t large_cache_misses;        /* Large mallocs the run cache could not serve */
    uint32_t learn_epoch;               /* learner decisions adopted (config/learned.h) */
    uint32_t caps_live_heaps;           /* live heaps the caps were set for (runtime/thread.c) */
    uint32_t trim_epoch;                /* malloc_trim requests honoured (runtime/thread.c) */
    uint64_t rng;                       /* random_freelist shuffle state (config/secure.h) */
    struct hak_prof_heap *prof;         /* heap profiler's sampler, NULL when off (runtime/prof.h) */
    uint32_t live_countdown;            /* safe points to the next live-stats clock check (runtime/live.h) */
    /* Secure profile: freed and fresh blocks held out of line
     * (small/quarantine.h); NULL until first needed. */
    struct hak_quarantine *quarantine;

    /* The inbox: blocks of this heap's slabs that other threads handed
     * back (small/remote_free.c), linked through their link words.  Many
     * pushers (one CAS per batch), the owner takes the whole list with one
     * exchange at its safe points (small/remote_collect.c).  While the heap
     * has no thread it holds HAK_INBOX_CLOSED, and pushers hand each block
     * to its slab instead. */
    _Alignas(HAK_CACHE_LINE) _Atomic(hak_block *) inbox;

    /* ---- bookkeeping ---- */
    struct hak_heap *all_next;  /* registry of every heap, never unlinked */
    struct hak_heap *pool_next; /* free heap pool */
    bool live;                  /* owned by a running thread */
    uint64_t generation;        /* times this heap was (re)used */
} hak_heap;

/* Frees pushed into h's cache of class cls (see hak_cache's
 * free_countdown).  Racy reads by stats and the learner (runtime/stats.c):
 * a sum torn across a period's end is off by one period at most, once. */
hak_inline uint64_t hak_heap_local_frees(const hak_heap *h, unsigned cls)
{
    return hak_cache_frees(&h->cache[cls]);
}

/* h's cache of class cls: blocks it holds, its cap, its i-th oldest. */
hak_inline uint32_t hak_heap_cache_count(const hak_heap *h, unsigned cls)
{
    return hak_cache_count(&h->cache[cls]);
}

hak_inline uint32_t hak_heap_cache_cap(const hak_heap *h, unsigned cls)
{
    return hak_cache_cap(&h->cache[cls]);
}

hak_inline void *hak_heap_cached(const hak_heap *h, unsigned cls, unsigned i)
{
    return h->cache[cls].end[-1 - (int)i];
}

/* Set the cap of h's cache of class cls, a number of the class's slots
 * (tiny_slots, mid_slots, or for a Tiny cap above HAK_TINY_CACHE_MAX its
 * grown slots, which hak_heap_grown_slots made first); the first call also
 * makes it empty.  A cache that moved to its grown slots stays there
 * until it is empty and its cap fits tiny_slots again. */
hak_inline void hak_heap_set_cap(hak_heap *h, unsigned cls, uint32_t cap)
{
    hak_cache *c = &h->cache[cls];
    if (!hak_class_is_tiny(cls)) {
        hak_cache_set_cap(c, h->mid_slots[cls - HAK_TINY_CLASSES] + HAK_MID_CACHE_MAX, cap);
        return;
    }
    void **hot_end = h->tiny_slots[cls] + HAK_TINY_CACHE_MAX;
    void **grown_end = h->tiny_grown_end[cls];
    if (grown_end == NULL) {
        hak_cache_set_cap(c, hot_end, cap < HAK_TINY_CACHE_MAX ? cap : HAK_TINY_CACHE_MAX);
        return;
    }
    if (c->end == grown_end && cap <= HAK_TINY_CACHE_MAX && hak_cache_count(c) == 0)
        hak_cache_move(c, hot_end);
    else if (c->end == hot_end && cap > HAK_TINY_CACHE_MAX)
        hak_cache_move(c, grown_end);
    hak_cache_set_cap(c, c->end == grown_end ? grown_end : hot_end, cap);
}

/* Make sure the Tiny class cls has its grown slots; false if the meta
 * arena has no memory for them (the cache then stays in tiny_slots). */
bool hak_heap_grown_slots(hak_heap *h, unsigned cls);

/* h's Tiny caches are empty (flushed): the grown ones go back to
 * tiny_slots at a cap that fits there, and the pages of every grown slot
 * array go back to the system; the arrays stay the heap's, to be used
 * again.  Trims and thread exit, so that a batch a thread once cached
 * leaves no resident slot array behind (hak_thread_flush_caches). */
void hak_heap_release_grown_slots(hak_heap *h);

/* The Tiny cache of `size` (<= HAK_TINY_MAX) in h. */
hak_inline hak_cache *hak_heap_tiny_cache_of(hak_heap *h, size_t size)
{
    return (hak_cache *)((void **)h->cache + h->tiny_cache_word[size]);
}

extern HAK_TLS hak_heap *hak_heap_tls;
extern HAK_HIDDEN hak_heap hak_heap_empty;

hak_inline hak_heap *hak_heap_current(void) { return hak_heap_tls; }

/* A heap from the pool of released ones, else a new zeroed one, added to
 * the registry; NULL if out of memory.  Its caches are not set up yet. */
hak_heap *hak_heap_acquire(void);
/* Back to the pool, for the next thread; the caller emptied it. */
void hak_heap_pool_put(hak_heap *h);
/* Heaps taken and not yet put back: threads with a heap (a hint, racy). */
uint32_t hak_heap_live_count(void);
/* Registry walk for stats and the learner: first heap, then all_next.
 * Lock-free: the registry only grows. */
hak_heap *hak_heap_first(void);
/* Allocate never-freed metadata (heaps) from the meta arena. */
void *hak_meta_alloc(size_t size);
/* The same, in whole pages of its own (page-aligned, `size` rounded up to
 * pages): for what is placed at a chosen offset in a page or purged. */
void *hak_meta_alloc_pages(size_t size);

void hak_heap_fork_prepare(void);
void hak_heap_fork_parent(void);
void hak_heap_fork_child(void);

#endif
