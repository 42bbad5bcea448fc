/*
 * purge.c - when to purge (see purge.h).
 */
#include "runtime/purge.h"

#include "base/counters.h"
#include "config/options.h"
#include "os/os.h"
#include "runtime/background.h"
#include "small/segment.h"
#include "small/transfer.h"
#include "tiers/huge.h"
#include "tiers/large.h"

/* Time of the last purge pass; claimed by CAS so one thread runs a pass. */
static _Atomic uint64_t purge_last_ms;

/* Reading the clock costs more than the rest of a tick, and ticks come at
 * every cache overflow: a thread reads it on one tick in PURGE_CLOCK_EVERY.
 * Sizeable amounts have the background thread keeping time anyway; small
 * ones wait a few more frees. */
#define PURGE_CLOCK_EVERY 32
static HAK_TLS uint32_t purge_ticks_left;

void hak_purge_aged(uint64_t now_ms)
{
    /* First: batches sent back go to slabs the segment purge may find
     * empty. */
    hak_transfer_release(now_ms, (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS), false);
    hak_segment_purge(now_ms, false);
    hak_large_purge(now_ms, false);
    hak_huge_purge(now_ms, false);
}

void hak_purge_tick(void)
{
    size_t retained = hak_retained_get();
    if (retained == 0)
        return;
    if (retained > (size_t)hak_opt(HAK_OPT_RETAIN_MAX)) {
        /* Over the cap: give it all back now, whatever its age. */
        hak_purge_all();
        return;
    }
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    /* The program may stop calling us: let the background thread finish
     * the decay of a sizeable amount. */
    if (retained >= HAK_DECAY_THREAD_MIN && delay > 0)
        hak_background_request();
    if (delay == 0) {
        /* Nothing may stay: no clock needed. */
        hak_purge_all();
        return;
    }
    if (purge_ticks_left != 0) {
        purge_ticks_left--;
        return;
    }
    purge_ticks_left = PURGE_CLOCK_EVERY - 1;
    uint64_t now_ms = hak_os_now_ms();
    /* relaxed: a hint, the CAS below decides. */
    uint64_t last = atomic_load_explicit(&purge_last_ms, memory_order_relaxed);
    if (now_ms - last < delay / 2)
        return;
    /* relaxed: only elects the thread that purges; the purges take locks. */
    if (!atomic_compare_exchange_strong_explicit(&purge_last_ms, &last, now_ms,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    hak_purge_aged(now_ms);
}

size_t hak_purge_all(void)
{
    hak_transfer_release(0, 0, true);
    return hak_segment_purge(0, true) + hak_large_purge(0, true) + hak_huge_purge(0, true);
}
