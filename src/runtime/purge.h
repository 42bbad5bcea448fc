/*
 * purge.h - returning free memory to the OS.  Free slabs and Large pages
 * stay resident for purge_delay_ms (so a program that frees and allocates
 * again does not fault pages back in), then are madvised away; empty Large
 * segments are unmapped.  hak_purge_maybe is called from slow paths that
 * free memory, at most twice per delay.
 */
#ifndef HAK_PURGE_H
#define HAK_PURGE_H

#include "internal.h"

/* Free memory still resident in segments (FREE slabs not purged, free
 * Large pages not purged), kept by the pools under their locks.  relaxed:
 * a statistic and a trigger, never used for correctness. */
extern _Atomic size_t hak_retained_bytes;

hak_inline void hak_retained_add(size_t bytes)
{
    atomic_fetch_add_explicit(&hak_retained_bytes, bytes, memory_order_relaxed);
}

hak_inline void hak_retained_sub(size_t bytes)
{
    atomic_fetch_sub_explicit(&hak_retained_bytes, bytes, memory_order_relaxed);
}

/* Retained memory above which the background thread is started to decay
 * it (smaller amounts decay on the next free that reaches the pools). */
#define HAK_DECAY_THREAD_MIN ((size_t)1 << 20)

void hak_purge_maybe(uint64_t now_ms);
/* Purge everything free now; returns bytes released. */
size_t hak_purge_all(void);
/* hak_os_map_aligned; if the OS refuses (address space or memory
 * exhausted), give back everything retained (empty Large segments, cached
 * Huge mappings, free pages) and try once more: memory the program freed
 * must serve it before it sees ENOMEM.  No allocator lock may be held. */
void *hak_purge_map_aligned(size_t size, size_t align, size_t offset);

#endif
