/*
 * thread.h - a heap's life with its thread: made on the thread's first
 * slow path, set up from the options, adjusted by the learner and by
 * malloc_trim at the thread's own safe points, emptied and returned to the
 * pool when the thread exits (a pthread key destructor).
 */
#ifndef HAK_THREAD_H
#define HAK_THREAD_H

#include "runtime/live.h"
#include "small/heap.h"

/* The calling thread's heap, created on first use; NULL if out of memory
 * or if this program forwards to the C library's allocator. */
hak_heap *hak_thread_heap(void);

/* The calling thread's heap for a free that did not fit in hak_heap_empty's
 * caches: a thread that frees blocks other threads allocated gets a heap
 * like any other, so its frees are cached and handed back in batches.
 * NULL (the free takes the slab route) while the thread is exiting, when
 * out of memory, or when forwarding. */
hak_heap *hak_thread_heap_for_free(void);

hak_inline hak_heap *hak_thread_heap_fast(void)
{
    hak_heap *h = hak_heap_tls;
    return hak_likely(h != &hak_heap_empty) ? h : hak_thread_heap();
}

/* A safe point of the calling thread, at the top of an allocation miss,
 * before any of h's state is read: start the background thread if it was
 * asked for (its pthread_create allocates, and finds h consistent here),
 * take the blocks other threads freed into full slabs, adopt the
 * learner's latest caps, honour a malloc_trim from another thread. */
void hak_thread_safe_point(hak_heap *h);
/* The same without starting the background thread: the safe point of a
 * free (runtime/background.h says why a free never starts it). */
void hak_thread_maintain(hak_heap *h);

/* At a safe point: every 16th one looks at the clock for the live
 * statistics (runtime/live.h). */
hak_inline void hak_thread_live_tick(hak_heap *h)
{
    if (hak_unlikely(h->live_countdown-- == 0)) {
        h->live_countdown = 15;
        hak_live_tick();
    }
}

/* Flush the calling thread's caches back to their slabs and return its
 * empty slabs (malloc_trim). */
void hak_thread_trim(hak_heap *h);
/* malloc_trim from another thread asks every heap to trim on its next
 * safe point. */
void hak_thread_trim_all(void);
/* (Re)apply option values (cache caps, batches) to a heap. */
void hak_thread_apply_options(hak_heap *h);
/* Flush h's Tiny, Mid and Large caches and give the grown Tiny caches'
 * slot pages back (trim, thread exit). */
void hak_thread_flush_caches(hak_heap *h);

/* Initialisation step 2 (may allocate): the thread-exit key. */
void hak_thread_init_global(void);

#endif
