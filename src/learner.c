/*
 * learner.c - the learner's decision step and its thread (see learner.h).
 */
#define _GNU_SOURCE
#include "learner.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "heap.h"
#include "options.h"

_Atomic uint32_t hak_learned_caps[HAK_SMALL_CLASSES];
_Atomic uint32_t hak_learned_round_pct = 0xffffffffu;
_Atomic uint32_t hak_learn_epoch;
_Atomic int hak_learner_wanted;

/* 0 not running, 1 starting or running. */
static _Atomic int learner_running;

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

/* Live threads in this process: num_threads (field 20 of /proc/self/stat)
 * less the main thread if it has exited (a thread-group leader that called
 * pthread_exit stays a zombie, state 'Z', until the other threads end). */
static long learner_live_threads(void)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    /* "pid (comm) state ...": comm may contain spaces and ')'; the last ')'
     * ends it. */
    char *s = buf;
    for (char *q = buf; *q; q++)
        if (*q == ')')
            s = q;
    if (s[0] != ')' || s[1] != ' ' || s[2] == 0)
        return -1;
    char state = s[2];
    int field = 2;
    long threads = -1;
    for (; *s; s++) {
        if (*s == ' ' && ++field == 20) {
            threads = 0;
            for (s++; *s >= '0' && *s <= '9'; s++)
                threads = threads * 10 + (*s - '0');
            break;
        }
    }
    if (threads > 0 && state == 'Z')
        threads--;
    return threads;
}

static void learner_window(void)
{
    uint64_t allocs[HAK_SMALL_CLASSES] = { 0 }, misses[HAK_SMALL_CLASSES] = { 0 };
    uint64_t large_allocs = 0, large_misses = 0;
    for (hak_heap *h = hak_heap_first(); h; h = h->all_next) {
        for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
            /* Racy reads of monotonic counters, as in stats.c. */
            const volatile hak_class_stats *st = &h->cstats[c];
            uint64_t refill = st->refill_blocks, flushed = st->flush_blocks;
            uint64_t local = *(const volatile uint64_t *)&h->local_frees[c];
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
        uint32_t tier_max = hak_class_is_tiny(c) ? 128 : 64;
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

static void *learner_main(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t ms = (uint64_t)hak_opt(HAK_OPT_LEARN_WINDOW_MS);
        struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) != 0)
            ;
        /* Alone: the application's threads are all gone (main called
         * pthread_exit).  Leaving lets glibc end the process as usual. */
        if (learner_live_threads() == 1)
            return NULL;
        learner_window();
    }
}

void hak_learner_start(void)
{
    int expected = 0;
    /* relaxed: elects the one thread that creates the learner. */
    if (!atomic_compare_exchange_strong_explicit(&learner_running, &expected, 1,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    atomic_store_explicit(&hak_learner_wanted, 0, memory_order_relaxed);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* Signals go to the application's threads, never to ours. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, learner_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        atomic_store_explicit(&learner_running, 0, memory_order_relaxed);
}

void hak_learner_init(void)
{
    /* Called from the library constructor, not from initialisation: the
     * first allocation may come from the dynamic loader before libc can
     * start threads.  relaxed: read by slow paths as a hint only. */
    atomic_store_explicit(&hak_learner_wanted, hak_opt(HAK_OPT_LEARN) ? 1 : 0,
                          memory_order_relaxed);
}

void hak_learner_fork_child(void)
{
    /* The learner thread does not exist in the child: start a new one
     * (if the parent was past its constructor, so is the child). */
    bool had = atomic_load_explicit(&learner_running, memory_order_relaxed) != 0;
    atomic_store_explicit(&learner_running, 0, memory_order_relaxed);
    if (had)
        hak_learner_init();
}
