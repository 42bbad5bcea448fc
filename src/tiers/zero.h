/*
 * zero.h - malloc(0) in the secure profile (config/secure.h,
 * zero_size_guard): a unique address where nothing can be read or
 * written, so a program that uses the "block" it got faults at once
 * instead of reading or corrupting a neighbour.  free, realloc and
 * malloc_usable_size (0) accept it; a double or invalid free of one is
 * reported as for any block.
 *
 * A zone is a segment-aligned mapping of HAK_SEGMENT_SIZE marked
 * HAK_SEGMAP_ZERO: one state byte per slot at its start (readable), then
 * 16-byte slots in pages without access.  Slots are handed out round-robin
 * over the zone (an atomic cursor, a CAS per slot state), so an address is
 * reused only after every other slot was; a zone whose slots are all live
 * is followed by a new one.  Lock-free: nothing to hold across fork.
 */
#ifndef HAK_ZERO_H
#define HAK_ZERO_H

#include "internal.h"

/* A zero-size block; NULL with errno ENOMEM if no zone could be mapped. */
void *hak_zero_alloc(void);
/* p is in a zero zone (the segment map says so).  A live zero-size block
 * is freed; anything else is reported (op: "invalid free of", "realloc of
 * invalid pointer", "malloc_usable_size of invalid pointer") and aborts. */
void hak_zero_free(void *p, const char *op);
/* Abort with the message for op unless p is a live zero-size block. */
void hak_zero_check(const void *p, const char *op);
/* Zero-size blocks live now (statistics: they are counted as blocks of
 * class 0, of no bytes). */
uint64_t hak_zero_live(void);

#endif
