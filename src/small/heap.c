/*
 * heap.c - the heaps themselves: the TLS pointer, the registry of every
 * heap ever made, the pool of released heaps, and the meta arena they live
 * in.  Which heap a thread uses, and when it gives it back, is decided one
 * floor up (runtime/thread.c).
 */
#include "small/heap.h"

#include "base/block.h"
#include "base/counters.h"
#include "os/lock.h"
#include "os/os.h"

/* All caches empty, caps zero: every fast path misses on it.  Never written. */
hak_heap hak_heap_empty;
HAK_TLS hak_heap *hak_heap_tls = &hak_heap_empty;

static hak_lock heap_lock;       /* heap_pool, and writers of heap_all */
/* Every heap ever made, newest first.  Append-only: readers (stats, the
 * learner) walk it without the lock. */
static _Atomic(hak_heap *) heap_all;
static hak_heap *heap_pool;      /* released heaps */
/* Heaps owned by a running thread: what the caches' shared budget is
 * divided by (runtime/thread.c).  Changed under heap_lock; read without it
 * (relaxed) as a sizing hint, whose staleness only delays a resize to the
 * reader's next safe point. */
static _Atomic uint32_t heap_live_count;

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

void *hak_meta_alloc_pages(size_t size)
{
    /* The meta arena aligns to a cache line: a page more to align to one. */
    char *m = hak_meta_alloc(hak_align_up(size, HAK_PAGE_SIZE) + HAK_PAGE_SIZE);
    return m == NULL ? NULL : (void *)hak_align_up((uintptr_t)m, HAK_PAGE_SIZE);
}

/* A class's grown slots lie in whole pages of their own (so that
 * hak_heap_release_grown_slots can give all of them back), starting a few
 * cache lines into the first one: each class by a different number, so
 * that equally full grown caches do not put their tops in the same L1 set
 * (the slots are 16 KiB). */
#define GROWN_STAGGER(cls) ((size_t)((cls) % 16) * HAK_CACHE_LINE)
#define GROWN_PAGES_BYTES  hak_align_up(HAK_TINY_GROWN_MAX * sizeof(void *) + GROWN_STAGGER(15), HAK_PAGE_SIZE)

bool hak_heap_grown_slots(hak_heap *h, unsigned cls)
{
    if (h->tiny_grown_end[cls] != NULL)
        return true;
    char *pages = hak_meta_alloc_pages(GROWN_PAGES_BYTES);
    if (pages == NULL)
        return false;
    h->tiny_grown_end[cls] = (void **)(pages + GROWN_STAGGER(cls)) + HAK_TINY_GROWN_MAX;
    return true;
}

void hak_heap_release_grown_slots(hak_heap *h)
{
    for (unsigned cls = 0; cls < HAK_TINY_CLASSES; cls++) {
        void **end = h->tiny_grown_end[cls];
        if (end == NULL)
            continue;
        hak_cache *c = &h->cache[cls];
        if (c->end == end) {
            uint32_t cap = hak_cache_cap(c);
            hak_heap_set_cap(h, cls, cap < HAK_TINY_CACHE_MAX ? cap : HAK_TINY_CACHE_MAX);
        }
        uintptr_t pages = (uintptr_t)(end - HAK_TINY_GROWN_MAX) - GROWN_STAGGER(cls);
        hak_os_purge((void *)pages, GROWN_PAGES_BYTES, false);
    }
}

/* Every heap starts two cache lines into a page.  Its head, the caches of
 * every class and tiny_cache_word (2.7 KiB), is what every malloc and free
 * touches, and L1 picks a line's set by its offset in the page: the first
 * lines of pages share their sets with the start of every page-aligned
 * buffer and block of the program, which a program reading page headers
 * or touching memory a page apart keeps refilling.  A heap at a page's
 * start had the caches of the commonest sizes (16 and 32 bytes, the head's
 * first line) evicted between two frees, as the freed mark was
 * (base/block.c); one placed anywhere else could have its head cross into
 * the next page's first lines.  From two lines in, the whole head lies in
 * one page, clear of them.  The price is a little address space per heap,
 * never touched. */
#define HEAP_PAGE_OFFSET (2 * HAK_CACHE_LINE)
_Static_assert(HEAP_PAGE_OFFSET + offsetof(hak_heap, tiny_slots) <= HAK_PAGE_SIZE,
               "a heap's head fits in the rest of its first page");

static hak_heap *heap_map(void)
{
    char *pages = hak_meta_alloc_pages(HEAP_PAGE_OFFSET + sizeof(hak_heap));
    return pages == NULL ? NULL : (hak_heap *)(pages + HEAP_PAGE_OFFSET);
}

hak_heap *hak_heap_first(void)
{
    /* acquire: pairs with the release store that published the heap, so
     * its all_next link is visible. */
    return atomic_load_explicit(&heap_all, memory_order_acquire);
}

hak_heap *hak_heap_acquire(void)
{
    hak_lock_acquire(&heap_lock);
    hak_heap *h = heap_pool;
    if (h)
        heap_pool = h->pool_next;
    /* Counted before the heap is made: a failed make takes it back. */
    atomic_fetch_add_explicit(&heap_live_count, 1, memory_order_relaxed);
    hak_lock_release(&heap_lock);
    if (h == NULL) {
        h = heap_map();
        if (h == NULL) {
            atomic_fetch_sub_explicit(&heap_live_count, 1, memory_order_relaxed);
            return NULL;
        }
        /* Fresh mappings read as zero: every count and list is empty. */
        hak_lock_acquire(&heap_lock);
        h->all_next = atomic_load_explicit(&heap_all, memory_order_relaxed);
        /* release: all_next is set before the heap becomes reachable. */
        atomic_store_explicit(&heap_all, h, memory_order_release);
        hak_lock_release(&heap_lock);
        hak_stat_add(&hak_gstats.heaps_created, 1);
        for (size_t size = 0; size <= HAK_TINY_MAX; size++)
            h->tiny_cache_word[size] = (uint8_t)(hak_tiny_class_of(size) * HAK_CACHE_WORDS);
    }
    h->pool_next = NULL;
    h->generation++;
    h->live = true;
    h->rng = (hak_keys.link ^ (uintptr_t)h ^ h->generation * 0x9e3779b97f4a7c15ull) | 1;
    return h;
}

void hak_heap_pool_put(hak_heap *h)
{
    h->live = false;
    hak_lock_acquire(&heap_lock);
    h->pool_next = heap_pool;
    heap_pool = h;
    atomic_fetch_sub_explicit(&heap_live_count, 1, memory_order_relaxed);
    hak_lock_release(&heap_lock);
}

uint32_t hak_heap_live_count(void)
{
    /* relaxed: see heap_live_count. */
    return atomic_load_explicit(&heap_live_count, memory_order_relaxed);
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
    hak_heap *h = hak_heap_tls;
    bool has_heap = h != NULL && h != &hak_heap_empty;
    /* The other threads' heaps stay marked live but no thread of the child
     * will use them: only the forking thread's heap counts. */
    atomic_store_explicit(&heap_live_count, has_heap ? 1 : 0, memory_order_relaxed);
    /* The child must not repeat the parent's random_freelist shuffles: an
     * attacker who sees one process's layout would know the other's. */
    if (has_heap) {
        uint64_t seed;
        hak_os_random(&seed, sizeof seed);
        h->rng = (h->rng ^ seed) | 1;
    }
}
