/*
 * init.h - process initialisation, run lazily by the first slow-path call
 * (which may come from the dynamic loader, before any constructor) and by
 * the library constructor, whichever is first.
 */
#ifndef HAK_INIT_H
#define HAK_INIT_H

#include "internal.h"

extern _Atomic int hak_init_state; /* 0 not started, 1 running, 2 done */

bool hak_init_slow(void);

/* True when the allocator can be used by the calling thread: initialised,
 * or being initialised by this very thread (a nested call). */
hak_inline bool hak_init_ensure(void)
{
    /* acquire: pairs with the release store that ends initialisation. */
    if (hak_likely(atomic_load_explicit(&hak_init_state, memory_order_acquire) == 2))
        return true;
    return hak_init_slow();
}

#endif
