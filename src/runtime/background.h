/*
 * background.h - hakmem's one background thread, started only when it has
 * work: finishing the decay of retained free memory when the program
 * stops calling the allocator (an idle daemon must give memory back), and
 * running the learner's windows when learn = on.
 *
 * It never holds a lock an allocation path waits on for longer than a
 * purge pass, never allocates, blocks every signal, leaves when it has had
 * nothing to do for a while, ends when it is the last live thread (so it
 * never keeps a process alive), and is started again in a fork child when
 * needed.  Nothing starts it before the library constructor has run.
 *
 * Starting a thread allocates (pthread_create calls malloc), so it must
 * never happen in the middle of an allocator operation: the nested malloc
 * would run on the same heap while its state is half updated (this once
 * released a slab twice).  Code deep in a slow path only *requests* the
 * thread; the request is served at a safe point of an allocation: the top
 * of its slow path, before it reads any heap state.
 *
 * Never in a free.  The C library frees with its own locks held, and
 * pthread_create takes some of them: joining a thread, glibc frees the
 * dead thread's TLS array holding the lock of its stack cache, which
 * pthread_create takes too (a multi-threaded program hung in its join).
 * A free only asks; the thread starts at the next allocation miss of any
 * thread.  The cost: a program that frees much, then never calls malloc
 * again keeps its free memory (at most retain_max) until it does.
 */
#ifndef HAK_BACKGROUND_H
#define HAK_BACKGROUND_H

#include "internal.h"

/* Set by the constructor: threads may be started from now on. */
extern _Atomic int hak_background_allowed;
/* Non-zero while a background thread exists (or is being started). */
extern _Atomic int hak_background_running;
/* Someone needs the thread; served at the next safe point. */
extern _Atomic int hak_background_requested;

void hak_background_start(void);

/* Ask for the thread; safe anywhere, starts nothing. */
hak_inline void hak_background_request(void)
{
    /* relaxed: hints; hak_background_start elects one starter by CAS. */
    if (!atomic_load_explicit(&hak_background_running, memory_order_relaxed) &&
        !atomic_load_explicit(&hak_background_requested, memory_order_relaxed) &&
        atomic_load_explicit(&hak_background_allowed, memory_order_relaxed))
        atomic_store_explicit(&hak_background_requested, 1, memory_order_relaxed);
}

/* Only at the top of an allocation slow path (see above). */
hak_inline void hak_background_serve(void)
{
    /* relaxed: a hint, see hak_background_request. */
    if (hak_unlikely(atomic_load_explicit(&hak_background_requested, memory_order_relaxed)))
        hak_background_start();
}

void hak_background_fork_child(void);

#endif
