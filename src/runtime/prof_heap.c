/*
 * prof_heap.c - sampling windows: how the heap profiler samples Tiny and
 * Mid allocations without a single instruction on the inline fast paths.
 *
 * The fast path pops from a class's cache while it has blocks and pushes
 * a local free while the cache is below its cap.  With the profiler on,
 * every cache's cap is 0 and the cache holds a *window*: only as many
 * blocks as may be handed out before the next sampled allocation of the
 * class.  So
 *   - the sampled allocation is always a cache miss (hak_alloc_small_miss
 *     comes here), which takes the stack;
 *   - every local free fails its push (cap 0) and comes here through
 *     hak_alloc_small_overflow, into the class's stash instead of the
 *     window, so a malloc/free loop of one size still runs the window
 *     down to its sample point;
 *   - allocations between two misses are exactly the window's blocks: the
 *     countdown to the next sample needs no counting on the fast path.
 * The stash holds what the cache would hold (the class's normal cap) and
 * refills the windows; its overflow goes back to the slabs.  For the
 * statistics (runtime/stats.c) stash blocks count as cached.
 *
 * Classes are sampled independently, each by counting its allocations
 * down (prof.c, hak_prof_draw_blocks): with one per-byte rate this is the
 * same Poisson process over allocated bytes as one counter per thread.
 *
 * What the fast path must keep for this (front/api.h, small/cache.h): a
 * cache whose cap is 0 still pops the blocks a fill put
 * in it, and refuses every push.
 */
#include "runtime/prof.h"

#include <errno.h>
#include <string.h>

#include "config/options.h"
#include "os/os.h"
#include "runtime/purge.h"
#include "small/warm_pool.h"

void hak_prof_heap_attach(hak_heap *h)
{
    struct hak_prof_heap *ph = h->prof;
    if (ph == NULL) {
        ph = hak_meta_alloc(sizeof *ph);
        if (ph == NULL)
            return; /* this heap goes unsampled; nothing breaks */
        hak_os_random(&ph->rng, sizeof ph->rng);
        ph->big_left = (int64_t)hak_prof_draw_bytes(&ph->rng, hak_prof_rate()) + 1;
    }
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        uint32_t cap = hak_heap_cache_cap(h, c);
        ph->window_cap[c] = cap < HAK_PROF_WINDOW_MAX ? cap : HAK_PROF_WINDOW_MAX;
        ph->stash_cap[c] = 2 * ph->window_cap[c];
        /* A new or reused heap has empty caches and stashes. */
        ph->window[c] = hak_heap_cache_count(h, c);
        ph->stashed[c] = 0;
        ph->left[c] = hak_prof_draw_blocks(&ph->rng, hak_prof_rate(), hak_classes[c].size);
        hak_heap_set_cap(h, c, 0);
    }
    h->prof = ph;
}

/* The blocks of the last window that were handed out since. */
static void ph_account(hak_heap *h, struct hak_prof_heap *ph, unsigned cls)
{
    uint32_t count = hak_heap_cache_count(h, cls);
    uint32_t popped = ph->window[cls] > count ? ph->window[cls] - count : 0;
    /* left > window always (the window stops short of the sample). */
    ph->left[cls] = ph->left[cls] > popped ? ph->left[cls] - popped : 1;
    ph->window[cls] = count;
}

static void ph_stash_flush(hak_heap *h, struct hak_prof_heap *ph, unsigned cls, uint32_t n)
{
    if (n == 0)
        return;
    /* The oldest first, as a cache flush does. */
    hak_warm_pool_return_blocks(h, ph->stash[cls], n);
    uint32_t rest = ph->stashed[cls] - n;
    memmove(ph->stash[cls], ph->stash[cls] + n, rest * sizeof(void *));
    ph->stashed[cls] = rest;
    h->cstats[cls].flush_blocks += n;
}

HAK_FRAME void *hak_prof_small_miss(hak_heap *h, unsigned cls)
{
    struct hak_prof_heap *ph = h->prof;
    ph_account(h, ph, cls);
    h->cstats[cls].slow_allocs++;
    bool sampled = ph->left[cls] == 1;
    if (sampled)
        ph->left[cls] = hak_prof_draw_blocks(&ph->rng, hak_prof_rate(), hak_classes[cls].size);
    else
        ph->left[cls]--;
    /* This block, then a window that ends before the next sample. */
    uint64_t room = ph->left[cls] - 1;
    uint32_t window = room < ph->window_cap[cls] ? (uint32_t)room : ph->window_cap[cls];
    uint32_t need = 1 + window - hak_heap_cache_count(h, cls);
    /* The stash's newest blocks go straight into the cache. */
    uint32_t from_stash = ph->stashed[cls] < need ? ph->stashed[cls] : need;
    ph->stashed[cls] -= from_stash;
    hak_cache_fill(&h->cache[cls], ph->stash[cls] + ph->stashed[cls], from_stash);
    uint32_t got = from_stash;
    if (got < need) {
        void *fresh[HAK_PROF_WINDOW_MAX + 1];
        uint32_t want = need - got < h->batch[cls] ? h->batch[cls] : need - got;
        unsigned n = hak_warm_pool_refill(h, cls, fresh, want);
        if (n == 0 && got == 0 && hak_purge_all() > 0)
            n = hak_warm_pool_refill(h, cls, fresh, want);
        uint32_t use = n < need - got ? n : need - got;
        hak_cache_fill(&h->cache[cls], fresh, use);
        got += use;
        for (unsigned i = use; i < n; i++) {
            if (ph->stashed[cls] == HAK_PROF_STASH_MAX)
                ph_stash_flush(h, ph, cls, HAK_PROF_STASH_MAX / 2);
            ph->stash[cls][ph->stashed[cls]++] = fresh[i];
        }
    }
    if (got == 0) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = hak_cache_pop(&h->cache[cls], hak_classes[cls].size);
    ph->window[cls] = hak_heap_cache_count(h, cls);
    if (sampled)
        hak_prof_sample(p, hak_classes[cls].size);
    return p;
}

bool hak_prof_small_free(hak_heap *h, unsigned cls, void *p)
{
    struct hak_prof_heap *ph = h->prof;
    hak_prof_forget(p);
    bool flushed = false;
    if (ph->stashed[cls] >= ph->stash_cap[cls]) {
        if (ph->stash_cap[cls] == 0) {
            hak_warm_pool_return_blocks(h, &p, 1);
            h->cstats[cls].flush_blocks++;
            return true;
        }
        ph_stash_flush(h, ph, cls, ph->stashed[cls] - ph->stash_cap[cls] / 2);
        flushed = true;
    }
    ph->stash[cls][ph->stashed[cls]++] = p;
    return flushed;
}

void hak_prof_heap_flush(hak_heap *h)
{
    struct hak_prof_heap *ph = h->prof;
    if (ph == NULL)
        return;
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        ph_account(h, ph, c);
        ph->window[c] = 0; /* the caller flushes the cache itself next */
        ph_stash_flush(h, ph, c, ph->stashed[c]);
    }
}

uint32_t hak_prof_heap_stashed(const hak_heap *h, unsigned cls)
{
    const struct hak_prof_heap *ph = h->prof;
    return ph ? *(const volatile uint32_t *)&ph->stashed[cls] : 0;
}
