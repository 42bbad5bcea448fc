/*
 * forward.h - stepping aside: a process in which hakmem forwards every
 * call to the allocator the program would have without it.
 *
 * Decided once, during initialisation, before hakmem serves its first
 * allocation, and never changed afterwards, so no block of one allocator
 * can reach the other's free.  The reasons, in this order:
 *   1. allocator = libc, from anywhere (a section, typically);
 *   2. exclude matches the executable;
 *   3. with step_aside on, in libhakmem.so only (not where the static
 *      library is linked into a program, as the tests do):
 *      - valgrind runs the process, any tool (memcheck must see malloc);
 *      - another loaded object exports malloc: a sanitizer runtime
 *        (ASan, HWASan, MSan, TSan, LSan), an allocator (jemalloc,
 *        tcmalloc, mimalloc, a program's own), or the program itself.
 *
 * Each function goes to its next definition after libhakmem.so in lookup
 * order - what dlsym(RTLD_NEXT, name) would find, without dlsym (see
 * symbols.h) -, which is the C library's unless a library loaded after
 * hakmem brings its own (libasan.so when gcc's -fsanitize=address linked
 * it).  Never an object before hakmem: one preloaded ahead of it may be a
 * wrapper that calls hakmem as its next malloc, and forwarding back to it
 * would never end.
 *
 * Such a process gets no heap (every fast path misses and the slow paths
 * forward), no thread and no statistics.
 */
#ifndef HAK_FORWARD_H
#define HAK_FORWARD_H

#include <malloc.h>
#include <stdio.h>

#include "base/diag.h"
#include "config/match.h"

typedef struct hak_next_fns {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*memalign)(size_t, size_t);
    size_t (*usable_size)(void *);
    /* glibc's extensions: NULL where no object after hakmem has one. */
    int (*malloc_trim)(size_t);
    int (*mallopt)(int, int);
    void (*malloc_stats)(void);
    int (*malloc_info)(int, FILE *);
    struct mallinfo (*mallinfo)(void);
    struct mallinfo2 (*mallinfo2)(void);
} hak_next_fns;

typedef enum hak_aside {
    HAK_ASIDE_NONE,
    HAK_ASIDE_ALLOCATOR, /* allocator = libc */
    HAK_ASIDE_EXCLUDE,   /* exclude lists the executable */
    HAK_ASIDE_VALGRIND,
    HAK_ASIDE_SANITIZER, /* a sanitizer runtime exports malloc */
    HAK_ASIDE_MALLOC,    /* another object exports malloc */
} hak_aside;

/* Set once during initialisation, before any thread can see a heap. */
extern hak_next_fns hak_next;
extern bool hak_forward;
extern hak_aside hak_forward_reason;

/* The reason the configuration gives (allocator, exclude) for program
 * `who` with the options loaded now; HAK_ASIDE_NONE if none. */
hak_aside hak_forward_configured(hak_identity *who);
/* At initialisation: decide whether this process forwards. */
void hak_forward_decide(void);
/* Why this process forwards, in words, after "stepped aside: ". */
void hak_forward_describe(hak_buf *b);

#endif
