/*
 * test_transfer.c - the transfer cache (small/transfer.h): batches of
 * other heaps' blocks that caches leave on overflow and take on a miss,
 * its bounds, and the release of aged batches back to their owners.
 */
#include "test_util.h"

#include "base/counters.h"
#include "small/heap.h"
#include "small/remote_collect.h"
#include "small/remote_free.h"
#include "small/slab.h"
#include "small/transfer.h"
#include "tiers/cache.h"

static size_t retained(void) { return hak_retained_get(); }

Test(transfer, put_and_take_are_batches_with_bounds)
{
    hak_free(hak_malloc(1)); /* initialised */
    unsigned cls = hak_tiny_class_of(1024);
    /* Its bytes budget: 1 MiB in batches of 32 blocks of 1 KiB. */
    unsigned slots = (unsigned)(HAK_TRANSFER_BYTES / (1024 * HAK_TRANSFER_BATCH));
    cr_assert_lt(slots, HAK_TRANSFER_SLOTS);
    static void *blocks[HAK_TRANSFER_SLOTS + 1][HAK_TRANSFER_BATCH];
    for (unsigned b = 0; b <= slots; b++)
        for (unsigned i = 0; i < HAK_TRANSFER_BATCH; i++)
            blocks[b][i] = (void *)(uintptr_t)(0x1000 * (b + 1) + 16 * i); /* never dereferenced */
    size_t before = retained();
    for (unsigned b = 0; b < slots; b++)
        cr_assert(hak_transfer_put(cls, blocks[b], HAK_TRANSFER_BATCH), "batch %u refused", b);
    cr_assert_not(hak_transfer_put(cls, blocks[slots], HAK_TRANSFER_BATCH),
                  "a batch beyond the class's bytes budget was taken");
    cr_assert_eq(retained(), before + (size_t)slots * HAK_TRANSFER_BATCH * 1024);
    void *out[HAK_TRANSFER_BATCH];
    for (unsigned b = slots; b-- > 0;) {
        cr_assert_eq(hak_transfer_take(cls, out), HAK_TRANSFER_BATCH);
        cr_assert_eq(memcmp(out, blocks[b], sizeof out), 0, "batch %u came back changed", b);
    }
    cr_assert_eq(hak_transfer_take(cls, out), 0);
    cr_assert_eq(retained(), before);
}

enum { N = 2000 };
static void *shared[N];

static void *consumer_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++)
        hak_free(shared[i]);
    return NULL;
}

/* A thread frees what we allocated: its cache overflows into the transfer
 * cache, and our next misses take those blocks back without new slabs. */
Test(transfer, a_consumers_frees_come_back_to_the_producer, .timeout = 60)
{
    test_watchdog(60);
    unsigned cls = hak_tiny_class_of(64);
    for (int i = 0; i < N; i++)
        shared[i] = hak_malloc(64);
    hak_heap *h = hak_heap_current();
    test_run_threads(1, consumer_main, NULL, 0);
    uint64_t fresh = h->cstats[cls].fresh_slabs;
    uint64_t refills = h->cstats[cls].refill_blocks;
    /* Take what our cache holds, then as many again: the misses are
     * served by batches the consumer left. */
    unsigned in_cache = hak_heap_cache_count(h, cls);
    static void *again[N];
    unsigned n = in_cache + 4 * HAK_TRANSFER_BATCH;
    for (unsigned i = 0; i < n; i++)
        again[i] = hak_malloc(64);
    cr_assert_eq(h->cstats[cls].fresh_slabs, fresh, "new slabs although freed blocks waited");
    cr_assert_geq(h->cstats[cls].refill_blocks - refills, 4 * HAK_TRANSFER_BATCH);
    /* After what our cache held, they are the consumer's frees: blocks we
     * had allocated before (the transfer cache is tried before the warm
     * pool, which might carve new ones). */
    unsigned known = 0;
    for (unsigned i = in_cache; i < n; i++)
        for (int j = 0; j < N; j++)
            if (again[i] == shared[j]) {
                known++;
                break;
            }
    cr_assert_eq(known, n - in_cache, "%u of %u blocks were not ours from before",
                 n - in_cache - known, n - in_cache);
    for (unsigned i = 0; i < n; i++)
        hak_free(again[i]);
}

/* Batches nobody takes for a purge delay go back to their owners, and
 * their bytes stop counting as retained. */
Test(transfer, aged_batches_go_back_to_their_owners, .timeout = 60)
{
    test_watchdog(60);
    unsigned cls = hak_tiny_class_of(64);
    for (int i = 0; i < N; i++)
        shared[i] = hak_malloc(64);
    hak_heap *h = hak_heap_current();
    test_run_threads(1, consumer_main, NULL, 0);
    void *probe[HAK_TRANSFER_BATCH];
    unsigned got = hak_transfer_take(cls, probe);
    cr_assert_gt(got, 0, "the consumer left nothing in the transfer cache");
    cr_assert(hak_transfer_put(cls, probe, got));
    /* The first pass stamps the class, a pass a delay later releases it. */
    cr_assert_eq(hak_transfer_release(1000, 100, false), 0);
    cr_assert_eq(hak_transfer_release(1050, 100, false), 0, "released before its delay");
    size_t released = hak_transfer_release(1100, 100, false);
    cr_assert_gt(released, 0);
    cr_assert_eq(hak_transfer_take(cls, probe), 0);
    /* They wait on our inbox; taking it returns them to our slabs. */
    cr_assert_not_null(atomic_load(&h->inbox));
    hak_remote_collect_inbox(h);
    cr_assert_null(atomic_load(&h->inbox));
}

/* Batches of class cls now in the transfer cache: taken out, and how
 * many of their blocks are of h's slabs; the blocks go back to their
 * owners.  Empties the class's transfer cache. */
static unsigned transfer_drain_count_of(unsigned cls, const hak_heap *h)
{
    unsigned of_h = 0;
    void *batch[HAK_TRANSFER_BATCH];
    unsigned got;
    while ((got = hak_transfer_take(cls, batch)) > 0) {
        for (unsigned i = 0; i < got; i++)
            of_h += atomic_load(&hak_slab_of_block((uintptr_t)batch[i])->owner) == h;
        hak_remote_free_hand_over(NULL, batch, got);
    }
    return of_h;
}

enum { OWN = 1000 };

typedef struct shed_case {
    bool free_foreign_first;
    unsigned own_in_transfer;
} shed_case;

/* Frees what the main thread allocated (if asked), then allocates and
 * frees blocks of its own and counts those of them the overflows put in
 * the transfer cache. */
static void *own_shedder_main(void *arg)
{
    shed_case *c = arg;
    unsigned cls = hak_tiny_class_of(64);
    hak_free(hak_malloc(64)); /* our heap */
    hak_heap *h = hak_heap_current();
    if (c->free_foreign_first)
        for (int i = 0; i < N; i++)
            hak_free(shared[i]);
    /* Only our own blocks from here: the cache and the transfer cache
     * hand theirs back. */
    hak_cache_flush_all(h);
    transfer_drain_count_of(cls, h);
    static void *own[OWN];
    for (int i = 0; i < OWN; i++)
        own[i] = hak_malloc(64);
    for (int i = 0; i < OWN; i++)
        cr_assert_eq(atomic_load(&hak_slab_of_block((uintptr_t)own[i])->owner), h,
                     "block %d is not of our slabs", i);
    for (int i = 0; i < OWN; i++)
        hak_free(own[i]);
    c->own_in_transfer = transfer_drain_count_of(cls, h);
    return NULL;
}

/* A class whose cache has shed other heaps' blocks moves blocks between
 * threads: its own blocks join the transfer batches too.  A class that
 * only moved its own blocks sends them back to its slabs. */
Test(transfer, own_blocks_join_the_batches_once_a_class_shed_foreign_ones, .timeout = 60)
{
    test_watchdog(60);
    for (int i = 0; i < N; i++)
        shared[i] = hak_malloc(64);
    shed_case mixed = {.free_foreign_first = true};
    test_run_threads(1, own_shedder_main, &mixed, 0);
    cr_assert_geq(mixed.own_in_transfer, HAK_TRANSFER_BATCH,
                  "%u own blocks in the transfer cache", mixed.own_in_transfer);
    shed_case own_only = {.free_foreign_first = false};
    test_run_threads(1, own_shedder_main, &own_only, 0);
    cr_assert_eq(own_only.own_in_transfer, 0, "%u own blocks in the transfer cache",
                 own_only.own_in_transfer);
}

enum { FOREIGN = 8 };

typedef struct oldest_case {
    unsigned cap, sent, sent_from_oldest_half, left_in_cache, out_of_order;
    uint64_t remote_frees;
} oldest_case;

/* Where b is in order[0..n), or n. */
static unsigned index_of(void *const *order, unsigned n, const void *b)
{
    unsigned i = 0;
    while (i < n && order[i] != b)
        i++;
    return i;
}

/* Fills a class's cache that moves blocks between threads (shed_foreign)
 * with FOREIGN of the main thread's blocks, then its own, and frees one
 * more: the overflow must send exactly the oldest half of the cache to the
 * transfer cache, each batch in the order the blocks were freed (the cache
 * that takes it then hands out the most recently freed first, as its own
 * blocks), counting the other heap's blocks among them as remote frees. */
static void *oldest_shedder_main(void *arg)
{
    oldest_case *o = arg;
    unsigned cls = hak_tiny_class_of(64);
    hak_free(hak_malloc(64)); /* our heap */
    hak_heap *h = hak_heap_current();
    hak_cache_flush_all(h);
    transfer_drain_count_of(cls, h);
    h->shed_foreign[cls] = true; /* as after an earlier overflow shed a foreign block */
    o->cap = hak_heap_cache_cap(h, cls);
    cr_assert_leq(o->cap, HAK_TINY_CACHE_MAX);
    static void *order[HAK_TINY_CACHE_MAX + 1];
    for (unsigned i = 0; i < FOREIGN; i++)
        order[i] = shared[i];
    for (unsigned i = FOREIGN; i <= o->cap; i++)
        order[i] = hak_malloc(64);
    hak_cache_flush(h, cls, hak_heap_cache_count(h, cls)); /* the refills' spare blocks */
    cr_assert_eq(hak_heap_cache_count(h, cls), 0);
    uint64_t remote_before = h->cstats[cls].remote_frees;
    for (unsigned i = 0; i <= o->cap; i++)
        hak_free(order[i]);
    o->remote_frees = h->cstats[cls].remote_frees - remote_before;
    o->left_in_cache = hak_heap_cache_count(h, cls);
    void *batch[HAK_TRANSFER_BATCH];
    unsigned got;
    while ((got = hak_transfer_take(cls, batch)) > 0) {
        for (unsigned k = 0; k < got; k++) {
            unsigned i = index_of(order, o->cap + 1, batch[k]);
            o->sent++;
            o->sent_from_oldest_half += i < o->cap / 2;
            o->out_of_order += k > 0 && i < index_of(order, o->cap + 1, batch[k - 1]);
        }
        hak_remote_free_hand_over(NULL, batch, got);
    }
    return NULL;
}

Test(transfer, an_overflow_sends_the_oldest_half_in_free_order_and_counts_the_foreign_blocks, .timeout = 60)
{
    test_watchdog(60);
    for (int i = 0; i < FOREIGN; i++)
        shared[i] = hak_malloc(64);
    oldest_case o = {0};
    test_run_threads(1, oldest_shedder_main, &o, 0);
    cr_assert_gt(o.cap / 2, FOREIGN, "precondition: the foreign blocks are among the oldest half");
    cr_assert_eq(o.sent, o.cap / 2, "%u of %u blocks sent", o.sent, o.cap + 1);
    cr_assert_eq(o.sent_from_oldest_half, o.sent, "only %u of the %u sent were the oldest",
                 o.sent_from_oldest_half, o.sent);
    cr_assert_eq(o.out_of_order, 0, "%u blocks came before one freed earlier", o.out_of_order);
    cr_assert_eq(o.left_in_cache, o.cap / 2 + 1);
    cr_assert_eq(o.remote_frees, FOREIGN, "%llu remote frees counted",
                 (unsigned long long)o.remote_frees);
}
