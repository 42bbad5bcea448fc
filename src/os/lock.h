/*
 * lock.h - a futex mutex for the few global structures (segment pools,
 * large segments, heap pool).  None of them is taken on a per-allocation
 * fast path.  Zero-initialised means unlocked, so locks need no
 * constructor and can be reset in a fork child by storing zero.
 *
 * States: 0 unlocked, 1 locked, 2 locked with (possible) waiters.
 */
#ifndef HAK_LOCK_H
#define HAK_LOCK_H

#include "internal.h"
#include "os/os.h"

typedef struct hak_lock {
    _Atomic uint32_t state;
} hak_lock;

void hak_lock_slow(hak_lock *l);

hak_inline void hak_lock_acquire(hak_lock *l)
{
    uint32_t expected = 0;
    /* acquire: the critical section must see everything the previous
     * holder wrote before its release. */
    if (hak_likely(atomic_compare_exchange_strong_explicit(
            &l->state, &expected, 1, memory_order_acquire, memory_order_relaxed)))
        return;
    hak_lock_slow(l);
}

hak_inline bool hak_lock_try(hak_lock *l)
{
    uint32_t expected = 0;
    /* acquire: as in hak_lock_acquire. */
    return atomic_compare_exchange_strong_explicit(
        &l->state, &expected, 1, memory_order_acquire, memory_order_relaxed);
}

hak_inline void hak_lock_release(hak_lock *l)
{
    /* release: publish the critical section's writes to the next holder. */
    if (hak_unlikely(atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2))
        hak_os_futex_wake(&l->state, 1);
}

/* Only in a fork child, where no other thread can hold it. */
hak_inline void hak_lock_reset(hak_lock *l)
{
    /* relaxed: single-threaded child. */
    atomic_store_explicit(&l->state, 0, memory_order_relaxed);
}

#endif
