/*
 * harden.h - the secure profile's Tiny and Mid path (config/secure.h,
 * small_checked): allocation from the miss, frees from the overflow and
 * from other threads, the canary check of realloc and malloc_usable_size.
 * How it works is harden.c's header.
 */
#ifndef HAK_HARDEN_H
#define HAK_HARDEN_H

#include "small/heap.h"

/* malloc(size) of a Tiny or Mid size (the miss).  NULL with errno ENOMEM. */
void *hak_harden_alloc_size(hak_heap *h, size_t size);
/* A block of exactly class cls (the aligned family chose it). */
void *hak_harden_alloc_class(hak_heap *h, unsigned cls);
/* A Mid-sized request (align: 0, or what the aligned family was given, at
 * most a page) with no Mid class left that holds it and its canary: a
 * Large block (guard pages instead) of exactly its Large class, so one
 * request size keeps one usable size. */
void *hak_harden_alloc_large(hak_heap *h, size_t size, size_t align);
/* Free block b of slab s (any heap's), checked as a block start that was
 * handed out and not freed, into the calling thread's heap h: the canary
 * checked, the block cleared, held in h's quarantine. */
void hak_harden_free(hak_heap *h, hak_slab *s, hak_block *b);
/* The first half of that for a thread that has no heap (the block then
 * goes to its slab): the canary checked, the block cleared and marked as
 * freed blocks of these checks are. */
void hak_harden_clear(hak_slab *s, hak_block *b);
/* Abort with the message for op (as alloc.c's checks name it) unless the
 * canary of live block p is intact. */
void hak_harden_check(const void *p, const hak_slab *s, const char *op);
/* What malloc_usable_size says of a block of slab s. */
size_t hak_harden_usable(const hak_slab *s);

#endif
