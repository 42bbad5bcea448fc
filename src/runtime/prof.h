/*
 * prof.h - the sampling heap profiler (docs/heap-profiler.md).
 *
 * heap_profile_sample = R (bytes) samples allocations as a Poisson process
 * over allocated bytes with mean interval R: a block of s bytes is sampled
 * with probability 1 - exp(-s/R), independently of every other block.  A
 * sampled block's call stack is kept until it is freed; a profile lists
 * the live sampled blocks by stack, each weighted by 1/probability, which
 * estimates the true live bytes and blocks without bias, in the legacy
 * heap-profile format google-pprof reads.
 *
 * Off (R = 0) nothing here runs and the fast paths are untouched.  On, a
 * thread's Tiny/Mid caches are put in sampling windows (prof_heap.c) so
 * that the allocation to be sampled is a cache miss, and every other
 * piece of work is on the out-of-line paths of front/alloc.c.
 */
#ifndef HAK_PROF_H
#define HAK_PROF_H

#include "small/heap.h"

/* Set at initialisation when heap_profile_sample > 0 (and never in a
 * program that keeps the C library's allocator). */
extern HAK_HIDDEN bool hak_prof_on;

hak_inline bool hak_prof_active(void) { return hak_prof_on; }

/* Initialisation step 1 (nothing allocates): read the options. */
void hak_prof_init(void);

/* ---- the Tiny/Mid sampling windows (prof_heap.c) ---- */

#define HAK_PROF_WINDOW_MAX 64
#define HAK_PROF_STASH_MAX  128

/* A heap's sampler state, made on the heap's first use with the profiler
 * on and kept with the heap when it is reused. */
struct hak_prof_heap {
    uint64_t rng;
    int64_t big_left;                      /* bytes to the next Large/Huge sample */
    uint64_t left[HAK_SMALL_CLASSES];      /* allocations to the sampled one, the next = 1 */
    uint32_t window[HAK_SMALL_CLASSES];    /* blocks left in the cache by the last miss */
    uint32_t window_cap[HAK_SMALL_CLASSES]; /* the class's cache cap, at most WINDOW_MAX */
    uint32_t stash_cap[HAK_SMALL_CLASSES];  /* twice that: a whole window's frees fit */
    uint32_t stashed[HAK_SMALL_CLASSES];
    void *stash[HAK_SMALL_CLASSES][HAK_PROF_STASH_MAX]; /* freed blocks, newest last */
};

/* Put a new or reused heap's caches in sampling windows. */
void hak_prof_heap_attach(hak_heap *h);
/* The miss of class cls on heap h in sampling mode: the next block, the
 * sampled one when its turn has come. */
void *hak_prof_small_miss(hak_heap *h, unsigned cls);
/* A block of class cls, validated and marked freed, freed into h: it goes
 * to the class's stash, not back into the window.  True if blocks went
 * back to the slabs (a safe point for the caller). */
bool hak_prof_small_free(hak_heap *h, unsigned cls, void *p);
/* Before h's caches are flushed (trim, thread exit): account what the
 * windows served and return the stashes to the slabs. */
void hak_prof_heap_flush(hak_heap *h);
/* Free blocks of class cls that h holds outside its cache (stats). */
uint32_t hak_prof_heap_stashed(const hak_heap *h, unsigned cls);

/* ---- Large and Huge ---- */

/* p (usable size `size`) was just allocated beyond the Mid tier. */
void hak_prof_big_alloc(void *p, size_t size);
/* p changed size in place or moved to q (realloc): forget p, then sample
 * q as a new allocation of `size` usable bytes. */
void hak_prof_realloc(void *p, void *q, size_t size);

/* Record p (usable size `size`) as sampled, with the caller's stack. */
void hak_prof_sample(void *p, size_t size);

/* The sampler's draws (tests check their law): a uniform 64-bit number;
 * an exponential number of bytes with the given mean; the number of
 * blocks of `size` bytes up to and including the next sampled one; the
 * weight of a sampled block, 1 / (1 - exp(-size/mean)). */
uint64_t hak_prof_rand(uint64_t *state);
double hak_prof_draw_bytes(uint64_t *state, double mean);
uint64_t hak_prof_draw_blocks(uint64_t *state, double mean, uint32_t size);
double hak_prof_weight(double size, double mean);
/* The configured mean interval in bytes (0: off). */
double hak_prof_rate(void);

/* ---- every free ---- */

/* The filter: per bucket of pages, how many live samples lie there
 * (prof.c).  Keyed by page so that frees near each other read the same
 * few bytes. */
#define HAK_PROF_FILTER_BITS 16
extern HAK_HIDDEN _Atomic uint8_t *hak_prof_filter;

hak_inline size_t hak_prof_filter_slot(const void *p)
{
    return (size_t)((((uint64_t)(uintptr_t)p >> HAK_PAGE_SHIFT) * 0x9e3779b97f4a7c15ull) >>
                    (64 - HAK_PROF_FILTER_BITS));
}

/* False: p is surely not sampled.  relaxed: the filter is written under
 * the profiler's lock; the free of a sampled block comes after its
 * allocation, which stored its count. */
hak_inline bool hak_prof_maybe_sampled(const void *p)
{
    return atomic_load_explicit(&hak_prof_filter[hak_prof_filter_slot(p)],
                                memory_order_relaxed) != 0;
}

/* p is being freed: drop its sample if it has one. */
void hak_prof_forget(void *p);

/* The common local free in sampling mode, for hak_alloc_small_overflow:
 * true if p went to the stash and nothing else is to be done. */
hak_inline bool hak_prof_stash_push(hak_heap *h, unsigned cls, void *p)
{
    struct hak_prof_heap *ph = h->prof;
    uint32_t n = ph->stashed[cls];
    if (hak_unlikely(n >= ph->stash_cap[cls] || hak_prof_maybe_sampled(p)))
        return false;
    ph->stash[cls][n] = p;
    ph->stashed[cls] = n + 1;
    return true;
}

/* ---- reports ---- */

/* Write a profile now: 0 and its path in path[0..cap), or an errno. */
int hak_prof_dump(char *path, size_t cap);
/* At exit, from the background thread (interval), after a fork. */
void hak_prof_at_exit(void);
void hak_prof_background(void);
void hak_prof_fork_prepare(void);
void hak_prof_fork_parent(void);
void hak_prof_fork_child(void);
/* Rate (0: off), live sampled blocks, their estimated bytes, profiles
 * written. */
void hak_prof_summary(uint64_t *rate, uint64_t *samples, uint64_t *bytes, uint64_t *dumps);

#endif
