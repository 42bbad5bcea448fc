/*
 * forward.h - per-program opt-out under system-wide preload.
 *
 * A process whose executable matches `exclude` forwards every call to the C
 * library's own allocator from its first call on: hakmem never creates a
 * heap there (so every fast path misses and the slow paths forward), starts
 * no background thread and prints no statistics.  Blocks hakmem handed out
 * during its own initialisation, before the decision, still go back to
 * hakmem.
 *
 * glibc's functions are found in libc.so.6's own dynamic symbol table (the
 * loader's link map and its GNU hash table), not through dlsym: that takes
 * the loader's lock, which the first malloc may be called under, and our
 * own exports (including __libc_malloc) would shadow glibc's.
 */
#ifndef HAK_FORWARD_H
#define HAK_FORWARD_H

#include "internal.h"

typedef struct hak_libc_fns {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*realloc)(void *, size_t);
    void *(*memalign)(size_t, size_t);
    size_t (*usable_size)(void *);
} hak_libc_fns;

/* Set once during initialisation, before any thread can see a heap. */
extern hak_libc_fns hak_libc;
extern bool hak_forward;

/* Does executable path `exe` match one of the comma-separated `patterns`
 * ('*' matches any run of characters, '?' any one)? */
bool hak_exclude_matches(const char *patterns, const char *exe);
/* Look glibc's allocator up; false if it cannot be found. */
bool hak_libc_resolve(hak_libc_fns *out);
/* At initialisation: decide whether this process forwards. */
void hak_forward_decide(void);

#endif
