/*
 * purge.h - when free memory goes back to the OS: the policy above the
 * pools, which only offer "purge what you hold" (hak_segment_purge,
 * hak_large_purge, hak_huge_purge).  Free slabs and Large pages stay
 * resident for purge_delay_ms (so a program that frees and allocates again
 * does not fault pages back in), then are madvised away; empty Large
 * segments and cached Huge mappings are unmapped.  Above retain_max,
 * everything free goes at once.
 *
 * The front calls hak_purge_tick at its safe points after frees
 * (front/alloc.c); the background thread finishes the decay when the
 * program stops calling us (background.c).
 */
#ifndef HAK_PURGE_H
#define HAK_PURGE_H

#include "internal.h"

/* Retained memory above which the background thread is started to decay
 * it (smaller amounts decay on the next free that reaches the pools). */
#define HAK_DECAY_THREAD_MIN ((size_t)1 << 20)

/* A safe point after a free reached the pools: purge what has aged past
 * the delay (checked on one tick in 32 per thread, at most twice per
 * delay), purge everything above retain_max, and ask for the background
 * thread when a sizeable amount is retained.  Cheap when nothing is
 * retained. */
void hak_purge_tick(void);
/* Purge what is older than the delay, as of now_ms (the background
 * thread's pass). */
void hak_purge_aged(uint64_t now_ms);
/* Purge everything free now; returns bytes released.  Also what a failed
 * mapping does before it is retried: memory the program freed must serve
 * it before it sees ENOMEM. */
size_t hak_purge_all(void);

#endif
