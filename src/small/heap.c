/*
 * heap.c - per-thread heap lifecycle: creation on a thread's first slow
 * path, the TLS pointer, the pthread key whose destructor runs at thread
 * exit, the pool of released heaps and the registry used by stats.
 */
#define _GNU_SOURCE
#include "small/heap.h"

#include <pthread.h>
#include <string.h>

#include "small/abandon.h"
#include "config/forward.h"
#include "base/block.h"
#include "runtime/init.h"
#include "tiers/large.h"
#include "runtime/learner.h"
#include "os/lock.h"
#include "tiers/mid.h"
#include "config/options.h"
#include "os/os.h"
#include "small/remote_free.h"
#include "runtime/stats.h"
#include "tiers/tiny.h"
#include "small/warm_pool.h"

/* All caches empty, caps zero: every fast path misses on it.  Never written. */
hak_heap hak_heap_empty;
HAK_TLS hak_heap *hak_heap_tls = &hak_heap_empty;

static hak_lock heap_lock;       /* heap_pool, and writers of heap_all */
/* Every heap ever made, newest first.  Append-only: readers (stats, the
 * learner) walk it without the lock. */
static _Atomic(hak_heap *) heap_all;
static hak_heap *heap_pool;      /* released heaps */
static pthread_key_t heap_key;
static bool heap_key_ready;

/* Meta arena: never-freed memory for heaps, bump-allocated from mappings. */
static hak_lock meta_lock;
static char *meta_cur, *meta_end;

void *hak_meta_alloc(size_t size)
{
    size = hak_align_up(size, HAK_CACHE_LINE);
    hak_lock_acquire(&meta_lock);
    if ((size_t)(meta_end - meta_cur) < size) {
        size_t chunk = hak_align_up(size > (1u << 20) ? size : (1u << 20), HAK_PAGE_SIZE);
        char *m = hak_os_map(chunk);
        if (m == NULL) {
            hak_lock_release(&meta_lock);
            return NULL;
        }
        meta_cur = m;
        meta_end = m + chunk;
    }
    void *p = meta_cur;
    meta_cur += size;
    hak_lock_release(&meta_lock);
    return p;
}

hak_heap *hak_heap_first(void)
{
    /* acquire: pairs with the release store that published the heap, so
     * its all_next link is visible. */
    return atomic_load_explicit(&heap_all, memory_order_acquire);
}

void hak_heap_apply_options(hak_heap *h)
{
    uint32_t tiny_cap = (uint32_t)hak_opt(HAK_OPT_TINY_CACHE_CAP);
    uint32_t mid_cap = (uint32_t)hak_opt(HAK_OPT_MID_RING_CAP);
    uint32_t batch = (uint32_t)hak_opt(HAK_OPT_BATCH_REFILL);
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        uint32_t size = hak_classes[c].size;
        uint32_t cap;
        if (hak_class_is_tiny(c)) {
            /* About 32 KiB of blocks per class, within [min(16, cap), cap]. */
            uint32_t by_bytes = 32768 / size;
            cap = by_bytes < tiny_cap ? by_bytes : tiny_cap;
            if (cap < 16 && tiny_cap >= 16)
                cap = 16;
            hak_tiny_set_cap(h, c, cap);
        } else {
            uint32_t by_bytes = 131072 / size;
            cap = by_bytes < mid_cap ? by_bytes : mid_cap;
            if (cap < 2)
                cap = 2;
            h->mid_cap[c - HAK_TINY_CLASSES] = cap;
        }
        uint32_t b = cap / 2 < batch ? cap / 2 : batch;
        h->batch[c] = b ? b : 1;
        h->drain_cap[c] = 0;
        h->free_run[c] = 0;
    }
    h->warm_cap = (uint32_t)hak_opt(HAK_OPT_WARM_POOL_MAX);
    h->prefill_budget = (uint32_t)hak_opt(HAK_OPT_PREFILL_BUDGET);
    uint32_t empty = (uint32_t)hak_opt(HAK_OPT_EMPTY_SLAB_CACHE);
    h->empty_cap[HAK_SEG_TINY] = empty;
    h->empty_cap[HAK_SEG_MID] = empty / 2;
    h->learn_epoch = 0;
    hak_heap_apply_learned(h);
}

void hak_heap_apply_learned(hak_heap *h)
{
    /* acquire: the caps were stored before the epoch moved. */
    uint32_t epoch = atomic_load_explicit(&hak_learn_epoch, memory_order_acquire);
    if (epoch == h->learn_epoch)
        return;
    h->learn_epoch = epoch;
    uint32_t batch = (uint32_t)hak_opt(HAK_OPT_BATCH_REFILL);
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        /* relaxed: ordered by the epoch load above. */
        uint32_t cap = atomic_load_explicit(&hak_learned_caps[c], memory_order_relaxed);
        if (cap == 0)
            continue;
        if (hak_class_is_tiny(c))
            hak_tiny_set_cap(h, c, cap < HAK_TINY_CACHE_MAX ? cap : HAK_TINY_CACHE_MAX);
        else
            h->mid_cap[c - HAK_TINY_CLASSES] = cap < HAK_MID_RING_MAX ? cap : HAK_MID_RING_MAX;
        uint32_t b = cap / 2 < batch ? cap / 2 : batch;
        h->batch[c] = b ? b : 1;
        h->drain_cap[c] = 0; /* a drain in progress ends with the new cap */
    }
}

static hak_heap *heap_acquire(void)
{
    hak_lock_acquire(&heap_lock);
    hak_heap *h = heap_pool;
    if (h)
        heap_pool = h->pool_next;
    hak_lock_release(&heap_lock);
    if (h == NULL) {
        h = hak_meta_alloc(sizeof(hak_heap));
        if (h == NULL)
            return NULL;
        /* Fresh mappings read as zero: every count and list is empty. */
        hak_lock_acquire(&heap_lock);
        h->all_next = atomic_load_explicit(&heap_all, memory_order_relaxed);
        /* release: all_next is set before the heap becomes reachable. */
        atomic_store_explicit(&heap_all, h, memory_order_release);
        hak_lock_release(&heap_lock);
        hak_stat_add(&hak_gstats.heaps_created, 1);
    }
    h->pool_next = NULL;
    h->generation++;
    h->live = true;
    h->rng = (hak_keys.link ^ (uintptr_t)h ^ h->generation * 0x9e3779b97f4a7c15ull) | 1;
    return h;
}

hak_heap *hak_heap_get(void)
{
    hak_heap *h = hak_heap_tls;
    if (hak_likely(h != &hak_heap_empty))
        return h;
    if (!hak_init_ensure() || hak_forward)
        return NULL;
    h = hak_heap_tls; /* a call made during initialisation may have set it */
    if (h != &hak_heap_empty)
        return h;
    h = heap_acquire();
    if (h == NULL)
        return NULL;
    hak_heap_apply_options(h);
    /* Set before pthread_setspecific: that may allocate, and the nested
     * call must find this heap instead of making another. */
    hak_heap_tls = h;
    if (heap_key_ready)
        pthread_setspecific(heap_key, h);
    hak_learner_poke();
    return h;
}

_Atomic uint32_t hak_trim_epoch;

void hak_heap_trim(hak_heap *h)
{
    /* relaxed: a request, no data rides on it. */
    h->trim_epoch = atomic_load_explicit(&hak_trim_epoch, memory_order_relaxed);
    hak_heap_flush_caches(h);
    hak_heap_release_empty_slabs(h, HAK_SEG_TINY, 0);
    hak_heap_release_empty_slabs(h, HAK_SEG_MID, 0);
}

void hak_heap_flush_caches(hak_heap *h)
{
    for (unsigned c = 0; c < HAK_TINY_CLASSES; c++)
        hak_tiny_flush(h, c, hak_tiny_count(h, c));
    for (unsigned m = 0; m < HAK_MID_CLASSES; m++)
        hak_mid_flush(h, m, h->mid_count[m]);
    hak_large_cache_flush(h);
}

void hak_heap_release(hak_heap *h)
{
    hak_heap_flush_caches(h);
    hak_heap_process_delayed(h);
    hak_heap_abandon_slabs(h);
    hak_heap_release_empty_slabs(h, HAK_SEG_TINY, 0);
    hak_heap_release_empty_slabs(h, HAK_SEG_MID, 0);
    h->live = false;
    hak_lock_acquire(&heap_lock);
    h->pool_next = heap_pool;
    heap_pool = h;
    hak_lock_release(&heap_lock);
}

/* pthread key destructor: the thread is exiting. */
static void heap_thread_exit(void *arg)
{
    hak_heap *h = arg;
    /* Later calls from this thread (other destructors) start a new heap
     * and re-register the key, so glibc calls us again for it. */
    hak_heap_tls = &hak_heap_empty;
    if (h != NULL && h != &hak_heap_empty)
        hak_heap_release(h);
}

void hak_heap_init_global(void)
{
    if (pthread_key_create(&heap_key, heap_thread_exit) == 0) {
        heap_key_ready = true;
        if (hak_heap_tls != &hak_heap_empty)
            pthread_setspecific(heap_key, hak_heap_tls);
    }
}

void hak_heap_fork_prepare(void)
{
    hak_lock_acquire(&heap_lock);
    hak_lock_acquire(&meta_lock);
}

void hak_heap_fork_parent(void)
{
    hak_lock_release(&meta_lock);
    hak_lock_release(&heap_lock);
}

void hak_heap_fork_child(void)
{
    hak_lock_reset(&meta_lock);
    hak_lock_reset(&heap_lock);
    /* The child must not repeat the parent's random_freelist shuffles: an
     * attacker who sees one process's layout would know the other's. */
    hak_heap *h = hak_heap_tls;
    if (h != NULL && h != &hak_heap_empty) {
        uint64_t seed;
        hak_os_random(&seed, sizeof seed);
        h->rng = (h->rng ^ seed) | 1;
    }
}
