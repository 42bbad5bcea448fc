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

void hak_purge_maybe(uint64_t now_ms);
/* Purge everything free now (malloc_trim); returns bytes released. */
size_t hak_purge_all(void);

#endif
