/*
 * purge.c - when to purge (see purge.h).
 */
#include "purge.h"

#include "large.h"
#include "options.h"
#include "segment.h"

/* Time of the last purge pass; claimed by CAS so one thread runs a pass. */
static _Atomic uint64_t purge_last_ms;

void hak_purge_maybe(uint64_t now_ms)
{
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    /* relaxed: a hint, the CAS below decides. */
    uint64_t last = atomic_load_explicit(&purge_last_ms, memory_order_relaxed);
    if (now_ms - last < delay / 2)
        return;
    /* relaxed: only elects the thread that purges; the purges take locks. */
    if (!atomic_compare_exchange_strong_explicit(&purge_last_ms, &last, now_ms,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    hak_segment_purge(now_ms, false);
    hak_large_purge(now_ms, false);
}

size_t hak_purge_all(void)
{
    return hak_segment_purge(0, true) + hak_large_purge(0, true);
}
