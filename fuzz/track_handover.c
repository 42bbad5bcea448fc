/*
 * track_handover.c - memory that passes between threads carries no stale
 * AddressSanitizer poison (src/base/track.h).
 *
 * Built by `make fuzz` with the fuzzing builds' allocator (HAK_TRACK_ASAN:
 * free memory is poisoned) and run by fuzz/ci.sh.  Threads shrink blocks
 * in place with realloc, which gives their tail pages back to a shared
 * pool, while other threads allocate from that pool and write every byte
 * of what they get.  A poison of the tail that landed after the pages were
 * given back would hit another thread's live block: ASan reports the write
 * and the program aborts.  Small blocks freed by the thread that did not
 * allocate them take the same test through the caches and the remote-free
 * lists.
 *
 * Exit 0 and "track_handover: clean" when every round passed; a round
 * count, not a time, bounds the run, and alarm() stops a deadlock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define ROUNDS 20000
#define SHRINKERS 3
#define WRITERS 3
#define WATCHDOG_SECONDS 600

/* Huge arena blocks (64 KiB pages) and Large runs (4 KiB pages), each
 * shrunk in place to a size whose freed tail another thread can take. */
static const size_t shrink_from[] = { 6 * MiB, 3 * MiB, 900 * KiB, 512 * KiB };
static const size_t shrink_to[] = { 1 * MiB + 4 * KiB, 1 * MiB + 64 * KiB, 300 * KiB, 200 * KiB };
#define NSHAPES (sizeof shrink_from / sizeof shrink_from[0])

static void write_all(void *p, int byte)
{
    memset(p, byte, hak_malloc_usable_size(p));
}

static void *shrinker(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    for (unsigned r = 0; r < ROUNDS; r++) {
        unsigned s = (r + k) % NSHAPES;
        void *p = hak_malloc(shrink_from[s]);
        if (p == NULL) {
            fprintf(stderr, "track_handover: malloc(%zu) failed\n", shrink_from[s]);
            abort();
        }
        memset(p, 1, 4 * KiB);
        void *q = hak_realloc(p, shrink_to[s]);
        if (q == NULL) {
            fprintf(stderr, "track_handover: realloc to %zu failed\n", shrink_to[s]);
            abort();
        }
        write_all(q, 2);
        hak_free(q);
    }
    return NULL;
}

/* Small blocks handed to the next writer through `mailbox`: freed by a
 * thread that did not allocate them. */
static _Atomic(void *) mailbox[WRITERS];

static void *writer(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    for (unsigned r = 0; r < ROUNDS; r++) {
        size_t n = r % 3 == 0 ? 1 * MiB + 4 * KiB + (r % 7) * 64 * KiB
                 : r % 3 == 1 ? 40 * KiB + (r % 11) * 4 * KiB
                              : 16 + (r % 97) * 96;
        void *q = hak_malloc(n);
        if (q == NULL) {
            fprintf(stderr, "track_handover: malloc(%zu) failed\n", n);
            abort();
        }
        write_all(q, 3);
        if (n < 32 * KiB) {
            /* Ours to the next writer if its mailbox is empty; then the
             * block the previous writer left in ours, freed here. */
            void *none = NULL;
            if (!atomic_compare_exchange_strong(&mailbox[(k + 1) % WRITERS], &none, q))
                hak_free(q);
            void *theirs = atomic_exchange(&mailbox[k], NULL);
            if (theirs != NULL) {
                write_all(theirs, 4);
                hak_free(theirs);
            }
        } else {
            hak_free(q);
        }
    }
    return NULL;
}

int main(void)
{
    alarm(WATCHDOG_SECONDS);
    pthread_t t[SHRINKERS + WRITERS];
    for (unsigned i = 0; i < SHRINKERS; i++)
        pthread_create(&t[i], NULL, shrinker, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < WRITERS; i++)
        pthread_create(&t[SHRINKERS + i], NULL, writer, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < SHRINKERS + WRITERS; i++)
        pthread_join(t[i], NULL);
    for (unsigned i = 0; i < WRITERS; i++)
        hak_free(atomic_exchange(&mailbox[i], NULL));
    puts("track_handover: clean");
    return 0;
}
