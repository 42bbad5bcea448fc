/*
 * thread.c - a heap's life with its thread (see thread.h): creation on a
 * thread's first slow path, the pthread key whose destructor runs at
 * thread exit, options and learned caps, trim requests.
 */
#define _GNU_SOURCE
#include "runtime/thread.h"

#include <pthread.h>

#include "config/forward.h"
#include "config/learned.h"
#include "config/options.h"
#include "config/secure.h"
#include "runtime/background.h"
#include "runtime/init.h"
#include "runtime/learner.h"
#include "runtime/prof.h"
#include "runtime/purge.h"
#include "small/abandon.h"
#include "small/quarantine.h"
#include "small/remote_collect.h"
#include "small/warm_pool.h"
#include "tiers/cache.h"
#include "tiers/large.h"

static pthread_key_t thread_key;
static bool thread_key_ready;
/* This thread's heap was released by its exit destructor: later frees
 * (other destructors) must not make it a new heap just for them. */
static HAK_TLS bool thread_exited;

/* malloc_trim requests (relaxed: a request, no data rides on it). */
static _Atomic uint32_t thread_trim_epoch;

/* The secure profile's checks (zero_on_free, canaries, quarantine,
 * zero_size_guard: config/secure.h) run every Tiny and Mid cache at cap 0:
 * a free never fits and a malloc never finds a block, so each one reaches
 * the front's overflow or miss entry (front/harden.c), and the inline paths
 * need no test of their own. */
static bool thread_caches_off(void) { return hak_secure.small_checked; }

/* The Tiny and Mid caches of all threads share one budget: while at most
 * THREAD_FULL_SHARE_HEAPS threads have a heap, each heap gets the
 * configured caps; with more, each heap's caps (and the bytes per class
 * they stand for) shrink in proportion, to half from twice as many heaps
 * on.  Cached blocks are memory the program does not use, and each
 * thread's caches fill by themselves: larson at 8 threads kept a sixth of
 * its peak RSS in them.  Half is the floor because where threads pass
 * blocks along (a producer and a consumer), smaller caches move them in
 * smaller batches: at a quarter, xmalloc's 16 threads ran 0.6x as fast
 * and held more memory, not less.  Returns the share in sixteenths. */
#define THREAD_FULL_SHARE_HEAPS 4
static uint32_t thread_cache_share(uint32_t live_heaps)
{
    if (live_heaps <= THREAD_FULL_SHARE_HEAPS)
        return 16;
    uint32_t share = 16 * THREAD_FULL_SHARE_HEAPS / live_heaps;
    return share < 8 ? 8 : share;
}

/* Blocks per refill of a class whose cap is cap: batch_refill, at most
 * half the cap, at least one. */
static uint32_t thread_refill_batch(uint32_t cap, uint32_t batch)
{
    uint32_t b = cap / 2 < batch ? cap / 2 : batch;
    return b ? b : 1;
}

void hak_thread_apply_options(hak_heap *h)
{
    h->caps_live_heaps = hak_heap_live_count();
    uint32_t share = thread_cache_share(h->caps_live_heaps);
    uint32_t tiny_cap = thread_caches_off() ? 0 : (uint32_t)hak_opt(HAK_OPT_TINY_CACHE_CAP) * share / 16;
    uint32_t mid_cap = thread_caches_off() ? 0 : (uint32_t)hak_opt(HAK_OPT_MID_RING_CAP) * share / 16;
    uint32_t batch = (uint32_t)hak_opt(HAK_OPT_BATCH_REFILL);
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        uint32_t size = hak_classes[c].size;
        uint32_t cap;
        if (hak_class_is_tiny(c)) {
            /* About 32 KiB of blocks per class (times the share), within
             * [min(16, cap), cap]. */
            uint32_t by_bytes = 32768 / 16 * share / size;
            cap = by_bytes < tiny_cap ? by_bytes : tiny_cap;
            if (cap < 16 && tiny_cap >= 16)
                cap = 16;
            hak_heap_set_cap(h, c, cap);
        } else {
            /* 128 KiB per class (times the share), at least 2 blocks. */
            uint32_t by_bytes = 131072 / 16 * share / size;
            cap = by_bytes < mid_cap ? by_bytes : mid_cap;
            if (cap < 2 && mid_cap >= 2)
                cap = 2;
            hak_heap_set_cap(h, c, cap);
        }
        h->batch[c] = thread_refill_batch(cap, batch);
        /* Refill ramp (tiers/cache.h): a page's worth, at least one block. */
        uint32_t page = hak_blocks_per_page(size);
        h->refill_ramp[c] = page < h->batch[c] ? page : h->batch[c];
        h->drain_cap[c] = 0;
        h->free_run[c] = 0;
        /* Growth (tiers/cache.h): up to twice the configured cap, and for
         * runs of own blocks on to HAK_CACHE_GROWTH_BYTES of blocks
         * (small/heap.h). */
        uint32_t slots = hak_class_is_tiny(c) ? HAK_TINY_CACHE_MAX : HAK_MID_CACHE_MAX;
        uint32_t configured = hak_class_is_tiny(c) ? tiny_cap : mid_cap;
        uint32_t ceiling = 2 * configured < slots ? 2 * configured : slots;
        uint32_t own_run = ceiling;
        if (hak_class_is_tiny(c) && configured != 0) {
            own_run = HAK_CACHE_GROWTH_BYTES / size;
            if (own_run > HAK_TINY_GROWN_MAX)
                own_run = HAK_TINY_GROWN_MAX;
            if (own_run < ceiling)
                own_run = ceiling;
        }
        h->cap_ceiling[c] = ceiling;
        h->cap_ceiling_own_run[c] = own_run;
        h->shed_foreign[c] = false;
        h->grow_mark[c] = HAK_CACHE_NO_OVERFLOW;
    }
    h->warm_cap = (uint32_t)hak_opt(HAK_OPT_WARM_POOL_MAX);
    h->prefill_budget = (uint32_t)hak_opt(HAK_OPT_PREFILL_BUDGET);
    uint32_t empty = (uint32_t)hak_opt(HAK_OPT_EMPTY_SLAB_CACHE);
    h->empty_cap[HAK_SEG_TINY] = empty;
    h->empty_cap[HAK_SEG_MID] = empty / 2;
    h->learn_epoch = 0;
}

/* Adopt the learner's latest caps, if the epoch moved.  The learner sizes
 * a class's cache for one heap with the whole budget; a heap takes its
 * share of that (thread_cache_share), as it does of the configured caps. */
static void thread_apply_learned(hak_heap *h)
{
    /* acquire: the caps were stored before the epoch moved. */
    uint32_t epoch = atomic_load_explicit(&hak_learn_epoch, memory_order_acquire);
    if (epoch == h->learn_epoch)
        return;
    h->learn_epoch = epoch;
    /* Sampling windows own the caps while the heap profiler runs. */
    if (thread_caches_off() || h->prof != NULL)
        return;
    uint32_t batch = (uint32_t)hak_opt(HAK_OPT_BATCH_REFILL);
    uint32_t share = thread_cache_share(h->caps_live_heaps);
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        /* relaxed: ordered by the epoch load above. */
        uint32_t learned = atomic_load_explicit(&hak_learned_caps[c], memory_order_relaxed);
        if (learned == 0)
            continue;
        uint32_t cap = learned * share / 16;
        if (cap == 0)
            cap = 1;
        if (hak_class_is_tiny(c))
            hak_heap_set_cap(h, c, cap < HAK_TINY_CACHE_MAX ? cap : HAK_TINY_CACHE_MAX);
        else
            hak_heap_set_cap(h, c, cap < HAK_MID_CACHE_MAX ? cap : HAK_MID_CACHE_MAX);
        h->batch[c] = thread_refill_batch(cap, batch);
        h->drain_cap[c] = 0; /* a drain in progress ends with the new cap */
    }
}

hak_heap *hak_thread_heap(void)
{
    hak_heap *h = hak_heap_tls;
    if (hak_likely(h != &hak_heap_empty))
        return h;
    if (!hak_init_ensure() || hak_forward)
        return NULL;
    h = hak_heap_tls; /* a call made during initialisation may have set it */
    if (h != &hak_heap_empty)
        return h;
    h = hak_heap_acquire();
    if (h == NULL)
        return NULL;
    hak_remote_inbox_open(h);
    hak_thread_apply_options(h);
    thread_apply_learned(h);
    /* The secure checks keep the caches at cap 0: no sampling windows
     * there (the profiler samples Large and Huge blocks only). */
    if (hak_prof_active() && !thread_caches_off())
        hak_prof_heap_attach(h);
    /* Set before pthread_setspecific: that may allocate, and the nested
     * call must find this heap instead of making another. */
    hak_heap_tls = h;
    if (thread_key_ready)
        pthread_setspecific(thread_key, h);
    hak_learner_poke();
    return h;
}

hak_heap *hak_thread_heap_for_free(void)
{
    if (thread_exited)
        return NULL;
    /* No hak_background_serve: a free never starts the thread
     * (runtime/background.h). */
    return hak_thread_heap();
}

void hak_thread_safe_point(hak_heap *h)
{
    hak_background_serve();
    hak_thread_maintain(h);
}

void hak_thread_maintain(hak_heap *h)
{
    hak_remote_collect_inbox(h);
    /* Threads came or went: the caps' share of the budget may have moved
     * (thread_cache_share).  Applying the options again also brings the
     * learner's caps back (learn_epoch restarts).  The heap profiler's
     * sampling windows own the caps while it runs (prof_heap.c). */
    uint32_t live = hak_heap_live_count();
    if (hak_unlikely(live != h->caps_live_heaps)) {
        if (h->prof == NULL && thread_cache_share(live) != thread_cache_share(h->caps_live_heaps))
            hak_thread_apply_options(h); /* records the count it sized for */
        else
            h->caps_live_heaps = live;
    }
    /* relaxed: a hint; thread_apply_learned acquires. */
    if (hak_unlikely(h->learn_epoch != atomic_load_explicit(&hak_learn_epoch, memory_order_relaxed)))
        thread_apply_learned(h);
    /* relaxed: a request from malloc_trim in another thread. */
    if (hak_unlikely(h->trim_epoch != atomic_load_explicit(&thread_trim_epoch, memory_order_relaxed)))
        hak_thread_trim(h);
    hak_learner_poke();
    hak_thread_live_tick(h);
}

void hak_thread_flush_caches(hak_heap *h)
{
    hak_prof_heap_flush(h);
    hak_cache_flush_all(h);
    hak_heap_release_grown_slots(h);
    hak_quarantine_flush(h);
    hak_large_cache_flush(h);
}

void hak_thread_trim(hak_heap *h)
{
    /* relaxed: see thread_trim_epoch. */
    h->trim_epoch = atomic_load_explicit(&thread_trim_epoch, memory_order_relaxed);
    hak_thread_flush_caches(h);
    hak_warm_pool_release_empty(h, HAK_SEG_TINY, 0);
    hak_warm_pool_release_empty(h, HAK_SEG_MID, 0);
}

void hak_thread_trim_all(void)
{
    /* relaxed: see thread_trim_epoch. */
    atomic_fetch_add_explicit(&thread_trim_epoch, 1, memory_order_relaxed);
}

/* Thread exit: flush, abandon every slab, return the heap to the pool. */
static void thread_release(hak_heap *h)
{
    hak_thread_flush_caches(h);
    hak_remote_inbox_close(h);
    hak_abandon_heap_slabs(h);
    hak_warm_pool_release_empty(h, HAK_SEG_TINY, 0);
    hak_warm_pool_release_empty(h, HAK_SEG_MID, 0);
    hak_heap_pool_put(h);
    hak_purge_tick();
}

/* pthread key destructor: the thread is exiting. */
static void thread_exit(void *arg)
{
    hak_heap *h = arg;
    /* Later calls from this thread (other destructors) start a new heap
     * if they allocate, and re-register the key, so glibc calls us again
     * for it; frees alone take the slab route. */
    hak_heap_tls = &hak_heap_empty;
    thread_exited = true;
    if (h != NULL && h != &hak_heap_empty)
        thread_release(h);
}

void hak_thread_init_global(void)
{
    if (pthread_key_create(&thread_key, thread_exit) == 0) {
        thread_key_ready = true;
        if (hak_heap_tls != &hak_heap_empty)
            pthread_setspecific(thread_key, hak_heap_tls);
    }
}
