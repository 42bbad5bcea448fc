/*
 * lock.c - contended path of the futex mutex (Drepper's "mutex2").
 */
#include "os/lock.h"

void hak_lock_slow(hak_lock *l)
{
    /* Spin briefly: holders keep locks for a few hundred nanoseconds. */
    for (int i = 0; i < 64; i++) {
        /* relaxed: only a hint; the CAS below carries the ordering. */
        if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 && hak_lock_try(l))
            return;
        hak_cpu_relax();
    }
    /* acquire: on return we own the lock.  Marking it 2 makes the holder's
     * release wake us (or a fellow waiter). */
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        hak_os_futex_wait(&l->state, 2);
}
