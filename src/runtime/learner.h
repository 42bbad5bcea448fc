/*
 * learner.h - the adaptive learner (learn = on, off by default).
 *
 * Every learn_window_ms the background thread (background.c) runs one
 * window: it reads each class's allocation and cache-miss counts (lock-free
 * walk of the heap registry, the same racy-but-monotonic reads as the
 * stats) and decides per class a cache cap with hak_learn_step, a pure
 * function.  It publishes the caps in hak_learned_caps[] and bumps
 * hak_learn_epoch (config/learned.h); each heap adopts them at its own
 * next safe point (runtime/thread.c).  The
 * learner never writes a heap and never takes a lock.
 */
#ifndef HAK_LEARNER_H
#define HAK_LEARNER_H

#include "runtime/background.h"
#include "internal.h"
#include "config/options.h"
#include "base/size_class.h"

typedef struct hak_learn_params {
    uint32_t miss_high;  /* misses per 1000 allocations: grow above this */
    uint32_t miss_low;   /* shrink below this */
    uint32_t cap_min, cap_max;
    uint32_t dwell;      /* windows to keep a new cap */
    uint64_t min_allocs; /* fewer allocations in a window: the class is idle */
} hak_learn_params;

typedef struct hak_learn_class {
    uint32_t cap;        /* current decision */
    uint32_t floor;      /* smallest cap not known to miss too often */
    uint32_t good;       /* cap before the last shrink, 0 if none pending */
    uint32_t dwell_left; /* windows before the next change */
    uint32_t quiet;      /* consecutive windows below miss_low */
    uint32_t idle;       /* consecutive idle windows */
} hak_learn_class;

/* One window of one class: returns the new cap (also stored in st->cap).
 *   - miss rate above miss_high: the cap is too small.  If it came from a
 *     shrink, go back to the cap before it; otherwise double.  Either way
 *     the floor moves above the cap that missed.
 *   - below miss_low for 2*dwell windows: try the midpoint between the
 *     floor and the cap (a bisection), unless they are already within an
 *     eighth of the cap.
 *   - idle (fewer than min_allocs): decay towards cap_min, forget the floor.
 * A change is followed by `dwell` windows without change.  The cap stays in
 * [cap_min, cap_max]; a steady workload settles in O(log cap_max) changes. */
uint32_t hak_learn_step(hak_learn_class *st, uint64_t allocs, uint64_t misses,
                        const hak_learn_params *p);

/* One learner window (the background thread calls it). */
void hak_learner_window(void);

/* Slow paths call this: with learn = on, ask for the background thread. */
hak_inline void hak_learner_poke(void)
{
    if (hak_unlikely(hak_opt(HAK_OPT_LEARN)))
        hak_background_request();
}

#endif
