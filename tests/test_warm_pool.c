/*
 * test_warm_pool.c - the WARM tier: hits, misses, secondary prefill, the
 * cap, and the primitives themselves.
 */
#include "test_util.h"

#include "small/heap.h"
#include "runtime/thread.h"
#include "config/options.h"
#include "base/size_class.h"
#include "small/warm_pool.h"

/* The first miss of a class finds the warm pool empty and prefills it;
 * later misses are served by warm slabs. */
Test(warm_pool, first_miss_prefills_then_hits)
{
    unsigned cls = hak_tiny_class_of(32);
    enum { N = 20000 };
    static void *p[N];
    p[0] = hak_malloc(32);
    hak_heap *h = hak_heap_current();
    hak_class_stats *st = &h->cstats[cls];
    cr_assert_eq(st->warm_misses, 1);
    cr_assert_eq(st->prefills, 1);
    cr_assert_eq(st->prefill_slabs, 1, "the default budget brings one slab");
    cr_assert_eq(st->warm_hits, 0);
    for (int i = 1; i < N; i++)
        p[i] = hak_malloc(32);
    /* 20000 blocks of 32 B span ten 64 KiB slabs: the misses are the slab
     * changes, every other refill hits. */
    cr_assert_gt(st->warm_hits, 9 * st->warm_misses);
    cr_assert_eq(st->refills, st->warm_hits + st->warm_misses);
    for (int i = 0; i < N; i++)
        hak_free(p[i]);
}

/* With a prefill budget above one, classes with few blocks per slab get
 * several slabs per prefill, so that more than 90% of the cache misses are
 * still warm-pool hits. */
Test(warm_pool, secondary_prefill_keeps_hit_rate)
{
    hak_option_values[HAK_OPT_PREFILL_BUDGET] = 4;
    unsigned cls = hak_tiny_class_of(1024);
    enum { N = 5000 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = hak_malloc(1024);
    hak_heap *h = hak_heap_current();
    hak_class_stats *st = &h->cstats[cls];
    cr_assert_gt(st->prefill_slabs, st->prefills, "prefills bring several slabs");
    uint64_t total = st->warm_hits + st->warm_misses;
    cr_assert_geq(st->warm_hits * 100, total * 90, "warm hits %lu of %lu",
                  (unsigned long)st->warm_hits, (unsigned long)total);
    for (int i = 0; i < N; i++)
        hak_free(p[i]);
}

/* Freed blocks bring their slabs back into the warm pool, never beyond the
 * cap; the rest wait on the partial list. */
Test(warm_pool, cap_is_respected)
{
    unsigned cls = hak_tiny_class_of(512);
    enum { N = 20000 };
    static void *p[N];
    p[0] = hak_malloc(512);
    hak_option_values[HAK_OPT_WARM_POOL_MAX] = 4;
    hak_heap *h = hak_heap_current();
    hak_thread_apply_options(h);
    for (int i = 1; i < N; i++)
        p[i] = hak_malloc(512);
    /* Free every other block: each slab gets free blocks back. */
    for (int i = 0; i < N; i += 2)
        hak_free(p[i]);
    hak_thread_flush_caches(h);
    hak_class_slabs *cs = &h->slabs[cls];
    cr_assert_leq(cs->warm_count, 4);
    cr_assert_eq(cs->warm_count, 4);
    unsigned partial = 0;
    for (hak_list_node *n = cs->partial.head; n; n = n->next) {
        const hak_slab *s = hak_list_entry(n, hak_slab, link);
        cr_assert_eq(s->state, HAK_SLAB_PARTIAL);
        cr_assert(hak_slab_has_local_list(s));
        partial++;
    }
    cr_assert_gt(partial, 10, "slabs beyond the cap wait on the partial list");
    for (unsigned i = 0; i < cs->warm_count; i++) {
        cr_assert_eq(cs->warm[i]->state, HAK_SLAB_WARM);
        cr_assert_eq(cs->warm[i]->warm_idx, i);
    }
    for (int i = 1; i < N; i += 2)
        hak_free(p[i]);
}

Test(warm_pool, push_remove_primitives)
{
    hak_free(hak_malloc(16));
    hak_heap *h = hak_heap_current();
    unsigned cls = 7;
    hak_class_slabs *cs = &h->slabs[cls];
    cr_assert_eq(cs->warm_count, 0);
    static hak_slab fake[40];
    unsigned cap = h->warm_cap;
    for (unsigned i = 0; i < cap; i++) {
        fake[i].cls = (uint8_t)cls;
        cr_assert(hak_warm_pool_push(h, &fake[i]));
    }
    fake[cap].cls = (uint8_t)cls;
    cr_assert_not(hak_warm_pool_push(h, &fake[cap]), "push beyond the cap fails");
    hak_warm_pool_remove(h, &fake[2]);
    cr_assert_eq(cs->warm_count, cap - 1);
    for (unsigned i = 0; i < cs->warm_count; i++) {
        cr_assert_neq(cs->warm[i], &fake[2]);
        cr_assert_eq(cs->warm[i]->warm_idx, i);
    }
    while (cs->warm_count)
        hak_warm_pool_remove(h, cs->warm[cs->warm_count - 1]);
}

/* Steady-state churn of mixed sizes: nearly every cache miss is served by a
 * warm slab (the design target is above 90%).  Measured after a warm-up:
 * each class's first miss finds no slab at all, and once the caches have
 * grown to the working set the steady-state misses are few. */
Test(warm_pool, random_mixed_hit_rate)
{
    enum { SLOTS = 400, WARMUP = 200000, OPS = 2000000 };
    static void *slot[SLOTS];
    uint64_t rng = 7;
    struct hak_stats st0, st;
    for (int op = 0; op < WARMUP + OPS; op++) {
        if (op == WARMUP)
            hak_stats_get(&st0);
        unsigned i = (unsigned)(test_rand(&rng) % SLOTS);
        if (slot[i])
            hak_free(slot[i]);
        slot[i] = hak_malloc(16 + test_rand(&rng) % 1009);
    }
    hak_stats_get(&st);
    uint64_t hits = st.warm_hits - st0.warm_hits, misses = st.warm_misses - st0.warm_misses;
    cr_assert_leq(misses * 10, hits + misses, "steady state: warm hits %lu misses %lu",
                  (unsigned long)hits, (unsigned long)misses);
    for (int i = 0; i < SLOTS; i++)
        hak_free(slot[i]);
}
