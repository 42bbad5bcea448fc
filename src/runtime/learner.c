/*
 * learner.c - the learner's decision step and its window (see learner.h);
 * background.c runs the windows.
 */
#define _GNU_SOURCE
#include "runtime/learner.h"

#include "small/heap.h"
#include "config/learned.h"
#include "config/options.h"


static uint32_t learn_clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

uint32_t hak_learn_step(hak_learn_class *st, uint64_t allocs, uint64_t misses,
                        const hak_learn_params *p)
{
    if (st->cap == 0)
        st->cap = p->cap_min;
    st->cap = learn_clamp(st->cap, p->cap_min, p->cap_max);
    st->floor = learn_clamp(st->floor, p->cap_min, p->cap_max);
    if (st->dwell_left > 0)
        st->dwell_left--;

    if (allocs < p->min_allocs) {
        /* Idle class: what it caches is memory nobody uses.  Let it decay,
         * and forget what an earlier workload needed. */
        st->quiet = 0;
        if (++st->idle >= 2 * p->dwell && st->dwell_left == 0 && st->cap > p->cap_min) {
            st->floor = p->cap_min;
            st->good = 0;
            st->cap = learn_clamp(st->cap / 2, p->cap_min, p->cap_max);
            st->dwell_left = p->dwell;
            st->idle = 0;
        }
        return st->cap;
    }
    st->idle = 0;
    uint64_t rate = misses * 1000 / allocs;
    if (rate > p->miss_high) {
        st->quiet = 0;
        if (st->dwell_left == 0 && st->cap < p->cap_max) {
            /* This cap misses too often: the floor moves above it. */
            st->floor = learn_clamp(st->cap + 1, p->cap_min, p->cap_max);
            st->cap = st->good > st->cap ? st->good : learn_clamp(st->cap * 2, p->cap_min, p->cap_max);
            st->good = 0;
            st->dwell_left = p->dwell;
        }
    } else if (rate < p->miss_low) {
        if (++st->quiet >= 2 * p->dwell && st->dwell_left == 0) {
            st->quiet = 0;
            uint32_t gap = st->cap > st->floor ? st->cap - st->floor : 0;
            if (gap > st->cap / 8 && gap > 1) {
                st->good = st->cap;
                st->cap = st->floor + gap / 2;
                st->dwell_left = p->dwell;
            }
        }
    } else {
        /* In between: this cap is fine, and so was the shrink to it. */
        st->quiet = 0;
        st->good = 0;
    }
    return st->cap;
}

/* ---- the thread ---- */

static hak_learn_class learn_state[HAK_SMALL_CLASSES];
static uint64_t learn_prev_allocs[HAK_SMALL_CLASSES], learn_prev_misses[HAK_SMALL_CLASSES];
static hak_learn_class learn_round_state;
static uint64_t learn_prev_large_allocs, learn_prev_large_misses;

void hak_learner_window(void)
{
    uint64_t allocs[HAK_SMALL_CLASSES] = { 0 }, misses[HAK_SMALL_CLASSES] = { 0 };
    uint64_t large_allocs = 0, large_misses = 0;
    for (hak_heap *h = hak_heap_first(); h; h = h->all_next) {
        for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
            /* Racy reads of monotonic counters, as in stats.c. */
            const volatile hak_class_stats *st = &h->cstats[c];
            uint64_t refill = st->refill_blocks, flushed = st->flush_blocks;
            uint64_t local = hak_heap_local_frees(h, c);
            uint64_t pops = refill + local > flushed ? refill + local - flushed : 0;
            allocs[c] += pops;
            misses[c] += st->slow_allocs;
        }
        large_allocs += *(const volatile uint64_t *)&h->large_stats.allocs;
        large_misses += *(const volatile uint64_t *)&h->large_cache_misses;
    }

    bool changed = false;
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        hak_learn_params p = {
            .miss_high = (uint32_t)hak_opt(HAK_OPT_LEARN_MISS_HIGH),
            .miss_low = (uint32_t)hak_opt(HAK_OPT_LEARN_MISS_LOW),
            .cap_min = (uint32_t)hak_opt(HAK_OPT_LEARN_CAP_MIN),
            .cap_max = (uint32_t)hak_opt(HAK_OPT_LEARN_CAP_MAX),
            .dwell = (uint32_t)hak_opt(HAK_OPT_LEARN_DWELL),
            .min_allocs = 1000,
        };
        /* Learned caps stay within the ordinary slots (growth past them is the
         * heap's own, tiers/cache.h). */
        uint32_t tier_max = hak_class_is_tiny(c) ? HAK_TINY_CACHE_MAX : HAK_MID_CACHE_MAX;
        if (p.cap_max > tier_max)
            p.cap_max = tier_max;
        if (p.cap_min > p.cap_max)
            p.cap_min = p.cap_max;
        uint64_t da = allocs[c] - learn_prev_allocs[c], dm = misses[c] - learn_prev_misses[c];
        if (allocs[c] < learn_prev_allocs[c] || misses[c] < learn_prev_misses[c])
            da = dm = 0; /* a torn read went backwards: skip this window */
        learn_prev_allocs[c] = allocs[c];
        learn_prev_misses[c] = misses[c];
        uint32_t before = learn_state[c].cap;
        uint32_t after = hak_learn_step(&learn_state[c], da, dm, &p);
        if (after != before) {
            /* relaxed: published by the release increment of the epoch. */
            atomic_store_explicit(&hak_learned_caps[c], after, memory_order_relaxed);
            changed = true;
        }
    }

    /* The Large rounding limit, in steps of 5 percent, with the same rule. */
    hak_learn_params rp = {
        .miss_high = (uint32_t)hak_opt(HAK_OPT_LEARN_MISS_HIGH) * 4,
        .miss_low = (uint32_t)hak_opt(HAK_OPT_LEARN_MISS_LOW) * 4,
        .cap_min = 1,
        .cap_max = (uint32_t)hak_opt(HAK_OPT_LEARN_ROUND_MAX) / 5 + 1,
        .dwell = (uint32_t)hak_opt(HAK_OPT_LEARN_DWELL),
        .min_allocs = 100,
    };
    if (learn_round_state.cap == 0)
        learn_round_state.cap = (uint32_t)hak_opt(HAK_OPT_LARGE_ROUND_PCT) / 5 + 1;
    uint64_t la = large_allocs - learn_prev_large_allocs, lm = large_misses - learn_prev_large_misses;
    if (large_allocs < learn_prev_large_allocs || large_misses < learn_prev_large_misses)
        la = lm = 0;
    learn_prev_large_allocs = large_allocs;
    learn_prev_large_misses = large_misses;
    uint32_t rbefore = learn_round_state.cap;
    uint32_t rafter = hak_learn_step(&learn_round_state, la, lm, &rp);
    if (rafter != rbefore) {
        atomic_store_explicit(&hak_learned_round_pct, (rafter - 1) * 5, memory_order_relaxed);
        changed = true;
    }
    if (changed)
        /* release: heaps that see the new epoch (acquire) see the caps. */
        atomic_fetch_add_explicit(&hak_learn_epoch, 1, memory_order_release);
}
