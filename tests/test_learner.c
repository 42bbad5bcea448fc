/*
 * test_learner.c - the learner's decision step (a pure function) with
 * synthetic windows: it converges, does not oscillate, respects its bounds
 * and lets idle classes decay; and heaps adopt what it publishes.
 */
#include "test_util.h"

#include "small/heap.h"
#include "config/learned.h"
#include "runtime/learner.h"
#include "runtime/thread.h"

static const hak_learn_params params = {
    .miss_high = 50, .miss_low = 5, .cap_min = 8, .cap_max = 128, .dwell = 3, .min_allocs = 1000,
};

/* A workload that needs `need` cached blocks: fewer miss a lot. */
static uint64_t misses_for(uint32_t cap, uint32_t need, uint64_t allocs)
{
    return cap >= need ? allocs / 1000 : allocs / 5;
}

static unsigned run_windows(hak_learn_class *st, uint32_t need, int windows, unsigned *changes_after,
                            int settle)
{
    unsigned changes = 0;
    *changes_after = 0;
    for (int w = 0; w < windows; w++) {
        uint32_t before = st->cap;
        uint32_t cap = hak_learn_step(st, 100000, misses_for(st->cap, need, 100000), &params);
        cr_assert_geq(cap, params.cap_min);
        cr_assert_leq(cap, params.cap_max);
        if (cap != before) {
            changes++;
            if (w >= settle)
                (*changes_after)++;
        }
    }
    return changes;
}

Test(learner, converges_to_enough_and_settles)
{
    uint32_t needs[] = { 8, 13, 30, 48, 64, 90, 128 };
    for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++) {
        hak_learn_class st = { .cap = 8 };
        unsigned late;
        unsigned changes = run_windows(&st, needs[i], 400, &late, 200);
        cr_assert_geq(st.cap, needs[i], "need %u settled at %u", needs[i], st.cap);
        /* Close to what is needed: within a quarter, or one doubling above
         * the minimum. */
        cr_assert_leq(st.cap, needs[i] + needs[i] / 4 + 1, "need %u settled high at %u", needs[i],
                      st.cap);
        cr_assert_eq(late, 0, "need %u: still changing after 200 windows", needs[i]);
        cr_assert_leq(changes, 16, "need %u: %u changes", needs[i], changes);
    }
}

Test(learner, shrinks_an_oversized_cache)
{
    hak_learn_class st = { .cap = 128, .floor = 8 };
    unsigned late;
    run_windows(&st, 20, 400, &late, 200);
    cr_assert_geq(st.cap, 20);
    cr_assert_leq(st.cap, 26);
    cr_assert_eq(late, 0);
}

Test(learner, no_oscillation_near_the_thresholds)
{
    /* A miss rate between the thresholds never changes anything. */
    hak_learn_class st = { .cap = 40, .floor = 8 };
    for (int w = 0; w < 500; w++)
        cr_assert_eq(hak_learn_step(&st, 100000, 2000, &params), 40);
}

Test(learner, respects_bounds_for_any_input)
{
    uint64_t rng = 99;
    hak_learn_params p = params;
    for (int round = 0; round < 200; round++) {
        p.cap_min = 2 + (uint32_t)(test_rand(&rng) % 40);
        p.cap_max = p.cap_min + (uint32_t)(test_rand(&rng) % 90);
        hak_learn_class st = { .cap = (uint32_t)(test_rand(&rng) % 200) };
        for (int w = 0; w < 300; w++) {
            uint64_t allocs = test_rand(&rng) % 200000;
            uint64_t misses = allocs ? test_rand(&rng) % (allocs + 1) : 0;
            uint32_t cap = hak_learn_step(&st, allocs, misses, &p);
            cr_assert_geq(cap, p.cap_min);
            cr_assert_leq(cap, p.cap_max);
        }
    }
}

Test(learner, dwell_spaces_changes)
{
    hak_learn_class st = { .cap = 8 };
    int last_change = -100;
    for (int w = 0; w < 50; w++) {
        uint32_t before = st.cap;
        hak_learn_step(&st, 100000, 50000, &params); /* always missing */
        if (st.cap != before) {
            cr_assert_geq(w - last_change, (int)params.dwell, "changes %d windows apart", w - last_change);
            last_change = w;
        }
    }
    cr_assert_eq(st.cap, params.cap_max);
}

Test(learner, idle_classes_decay)
{
    hak_learn_class st = { .cap = 128, .floor = 100 };
    for (int w = 0; w < 100; w++)
        hak_learn_step(&st, 10, 0, &params);
    cr_assert_eq(st.cap, params.cap_min);
    cr_assert_eq(st.floor, params.cap_min, "an idle class forgets its floor");
}

Test(learner, heaps_adopt_published_caps)
{
    hak_free(hak_malloc(64));
    hak_heap *h = hak_heap_current();
    unsigned c = 3;
    atomic_store(&hak_learned_caps[c], 100);
    atomic_store(&hak_learned_caps[HAK_TINY_CLASSES + 1], 200); /* beyond the ring */
    atomic_fetch_add(&hak_learn_epoch, 1);
    /* The next slow path picks them up. */
    void *p[600];
    for (int i = 0; i < 600; i++)
        p[i] = hak_malloc(64);
    cr_assert_eq(hak_heap_cache_cap(h, c), 100);
    cr_assert_eq(hak_heap_cache_cap(h, HAK_TINY_CLASSES + 1), HAK_MID_CACHE_MAX, "clamped to the slots");
    cr_assert_leq(h->batch[c], 50);
    for (int i = 0; i < 600; i++)
        hak_free(p[i]);
    cr_assert_leq(hak_heap_cache_count(h, c), 100);
}

/* With more than four heaps a heap takes its share of a learned cap, as of
 * the configured ones (runtime/thread.c). */
Test(learner, a_learned_cap_is_shared_like_the_configured_ones, .timeout = 60)
{
    test_watchdog(60);
    hak_free(hak_malloc(64));
    hak_heap *h = hak_heap_current();
    unsigned c = 3;
    test_parked parked;
    test_park_threads(&parked, 4, NULL); /* 5 heaps: 12/16 each */
    hak_thread_maintain(h);
    atomic_store(&hak_learned_caps[c], 100);
    atomic_fetch_add(&hak_learn_epoch, 1);
    hak_thread_maintain(h);
    uint32_t cap = hak_heap_cache_cap(h, c);
    test_unpark_threads(&parked);
    cr_assert_eq(cap, 100 * 12 / 16, "5 heaps: 12/16 of the learned cap, got %u", cap);
}
