/*
 * reentry.c - malloc re-entered from inside hakmem.
 *
 * hakmem starts its background thread from a free path, the first time
 * more than a megabyte of free memory is retained.  pthread_create calls
 * malloc (glibc allocates the new thread's DTV with calloc) on the freeing
 * thread, in the middle of hakmem's free path.  Here that nested call
 * misses its thread cache (the thread never used that size class), so it
 * takes the slow path and takes slabs from the heap's empty-slab cache
 * while the outer call is releasing slabs from it: the cache must be
 * consistent at that moment (a slab in two places is handed out twice).
 *
 * Each of 8 threads, in a fresh process, allocates 704-byte blocks only
 * and frees them in allocation order, so its empty-slab cache overflows
 * and the retained memory crosses a megabyte inside the release; then all
 * threads allocate every size with a pattern and check that no two live
 * blocks overlap.  Run it several times (run.sh does): which thread starts
 * the background thread is up to the scheduler.
 */
#include "rel.h"

#include <pthread.h>

#define THREADS 8
#define BLOCKS 4096

static pthread_barrier_t start;

static void *one_size(void *arg)
{
    (void)arg;
    void *p[BLOCKS]; /* on the stack: no allocation, no large static TLS */
    pthread_barrier_wait(&start);
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < BLOCKS; i++) {
            p[i] = malloc(704);
            REL_CHECK(p[i] != NULL, "reentry: malloc(704) failed");
            memset(p[i], 0x11, 704);
        }
        for (int i = 0; i < BLOCKS; i++)
            free(p[i]);
    }
    return NULL;
}

struct live {
    unsigned char *p;
    size_t n;
};

static void *every_size(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    enum { N = 2000 };
    struct live live[N];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = 16 + (size_t)(rel_rand(&rng) % 2048);
            live[i].p = malloc(n);
            live[i].n = n;
            REL_CHECK(live[i].p != NULL, "reentry: malloc failed");
            rel_fill(live[i].p, n, (uint64_t)(uintptr_t)live[i].p);
        }
        for (int i = 0; i < N; i++) {
            REL_CHECK(rel_check(live[i].p, live[i].n, (uint64_t)(uintptr_t)live[i].p),
                      "reentry: block %p of %zu bytes overwritten: a block was handed out twice",
                      (void *)live[i].p, live[i].n);
            free(live[i].p);
        }
    }
    return NULL;
}

int main(void)
{
    alarm(60);
    REL_CHECK(rel_hakmem_loaded(), "reentry: hakmem is not loaded (run with LD_PRELOAD)");
    pthread_t t[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (long i = 0; i < THREADS; i++)
        REL_CHECK(pthread_create(&t[i], NULL, one_size, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (long i = 0; i < THREADS; i++)
        REL_CHECK(pthread_create(&t[i], NULL, every_size, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("reentry: ok\n");
    return 0;
}
