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
 */
#ifndef HAK_BACKGROUND_H
#define HAK_BACKGROUND_H

#include "internal.h"

/* Set by the constructor: threads may be started from now on. */
extern _Atomic int hak_background_allowed;
/* Non-zero while a background thread exists (or is being started). */
extern _Atomic int hak_background_running;

void hak_background_start(void);

/* Ask for the thread (from a slow path); cheap when it already runs. */
hak_inline void hak_background_poke(void)
{
    /* relaxed: hints; hak_background_start elects one starter by CAS. */
    if (!atomic_load_explicit(&hak_background_running, memory_order_relaxed) &&
        atomic_load_explicit(&hak_background_allowed, memory_order_relaxed))
        hak_background_start();
}

void hak_background_fork_child(void);

#endif
