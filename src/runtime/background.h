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
 * thread; the request is served at a safe point: the top of an allocation
 * slow path, before it reads any heap state, or the end of a free slow
 * path, when its work is complete, if that free came straight from the
 * program (front/alloc.c, alloc_free_serve).
 *
 * The C library and the loader free with their own locks held, and
 * pthread_create takes some of them: joining a thread, glibc frees the
 * dead thread's TLS array holding the lock of its stack cache, which
 * pthread_create takes too (a multi-threaded program hung in its join).
 * So a free whose return address lies in libc, ld.so or hakmem itself
 * only asks, and the thread starts at the next allocation miss or the
 * next free from the program.  (An idle program must get its thread from
 * a free: its last call may be one.)
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
