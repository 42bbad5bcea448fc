/*
 * init.c - process initialisation, fork handlers, library constructor and
 * destructor.
 *
 * Initialisation runs in two steps under one lock.  Step 1 makes the
 * allocator usable and calls nothing that could allocate: the secret keys
 * and the options.  Step 2 calls into libc (pthread_key_create,
 * pthread_atfork), which may allocate; such a nested call from the
 * initialising thread is recognised (init_owner) and served normally.
 * Other threads wait on the lock until initialisation is complete.
 */
#define _GNU_SOURCE
#include "runtime/init.h"

#include <pthread.h>

#include "base/block.h"
#include "config/forward.h"
#include "config/options.h"
#include "config/secure.h"
#include "config/symbols.h"
#include "os/lock.h"
#include "os/os.h"
#include "runtime/background.h"
#include "runtime/learner.h"
#include "runtime/live.h"
#include "runtime/prof.h"
#include "runtime/stats.h"
#include "runtime/thread.h"
#include "small/heap.h"
#include "small/segment.h"
#include "small/transfer.h"
#include "tiers/huge.h"
#include "tiers/large.h"

_Atomic int hak_init_state;

static hak_lock init_lock;
/* The initialising thread, identified by the address of its TLS marker. */
static _Atomic(const void *) init_owner;
static HAK_TLS char init_marker;

static void init_fork_prepare(void)
{
    hak_prof_fork_prepare();
    hak_heap_fork_prepare();
    hak_transfer_fork_prepare();
    hak_segment_fork_prepare();
    hak_large_fork_prepare();
    hak_huge_fork_prepare();
}

static void init_fork_parent(void)
{
    hak_huge_fork_parent();
    hak_large_fork_parent();
    hak_segment_fork_parent();
    hak_transfer_fork_parent();
    hak_heap_fork_parent();
    hak_prof_fork_parent();
}

static void init_fork_child(void)
{
    /* First: the parent's statistics region must never see our writes. */
    hak_live_fork_child();
    hak_huge_fork_child();
    hak_large_fork_child();
    hak_segment_fork_child();
    hak_transfer_fork_child();
    hak_heap_fork_child();
    hak_background_fork_child();
    hak_prof_fork_child();
}

bool hak_init_slow(void)
{
    /* relaxed: only this thread ever stores its own marker address. */
    if (atomic_load_explicit(&init_owner, memory_order_relaxed) == &init_marker)
        return true;
    hak_lock_acquire(&init_lock);
    if (atomic_load_explicit(&hak_init_state, memory_order_relaxed) == 2) {
        hak_lock_release(&init_lock);
        return true;
    }
    atomic_store_explicit(&init_owner, &init_marker, memory_order_relaxed);
    atomic_store_explicit(&hak_init_state, 1, memory_order_relaxed);

    /* Step 1: nothing here may allocate. */
    hak_keys_t keys;
    hak_os_random(&keys, sizeof keys);
    hak_keys = keys;
    hak_options_init();
    hak_secure_init();
    hak_forward_decide();
    hak_large_init();
    hak_huge_init();
    /* The freed mark; the arena only where hakmem serves the program.  A
     * process where hakmem stepped aside calls nothing more here: it may be
     * a sanitizer runtime's first malloc, made while the runtime still sets
     * up the libc functions it replaces (clock_gettime, mmap...). */
    hak_segment_init(!hak_forward);
    if (!hak_forward) {
        hak_sym_system_init();
        hak_live_init();
        hak_prof_init();
    }

    /* Step 2: libc calls that may come back into malloc. */
    hak_thread_init_global();
    pthread_atfork(init_fork_prepare, init_fork_parent, init_fork_child);

    atomic_store_explicit(&init_owner, NULL, memory_order_relaxed);
    /* release: everything above is visible to threads that see state 2. */
    atomic_store_explicit(&hak_init_state, 2, memory_order_release);
    hak_lock_release(&init_lock);
    return true;
}

__attribute__((constructor)) static void hak_constructor(void)
{
    hak_init_ensure();
    /* From here on libc can start threads for us (not in a program that
     * keeps the C library's allocator). */
    if (!hak_forward)
        atomic_store_explicit(&hak_background_allowed, 1, memory_order_relaxed);
    hak_learner_poke();
    /* The heap profiler keeps the background thread: it serves profile
     * requests and the growth interval even in an idle program. */
    if (hak_prof_active())
        hak_background_request();
}

__attribute__((destructor)) static void hak_destructor(void)
{
    hak_stats_at_exit();
    hak_prof_at_exit();
    hak_live_at_exit();
}
