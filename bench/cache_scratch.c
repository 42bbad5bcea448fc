/*
 * cache_scratch - passive false sharing, in the spirit of Hoard's
 * cache-scratch test.  The main thread allocates T small objects in a row
 * (so they likely share cache lines) and hands one to each thread.  Each
 * thread frees the object it was given, then repeatedly allocates an 8-byte
 * object, writes it 64 times and frees it.  An allocator that gives a
 * thread's next object back from the freed one's cache line makes threads
 * on different cores write the same line: the writes then cost a cache-line
 * transfer each.  An allocator that returns remotely freed blocks to their
 * owner keeps each thread on its own lines.
 *
 * The total is fixed (12 M objects at scale 1) and split among the threads.
 * One op = one malloc + 64 one-byte writes + one free.
 */
#include "bench.h"

#include <pthread.h>

#define OBJ_SIZE 8
#define WRITES 64

typedef struct worker {
    pthread_t tid;
    char *given;
    uint64_t iterations;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    free(w->given);
    for (uint64_t i = 0; i < w->iterations; i++) {
        volatile char *p = bench_malloc(OBJ_SIZE);
        for (int k = 0; k < WRITES; k++)
            p[k % OBJ_SIZE] = (char)(p[k % OBJ_SIZE] + 1);
        free((void *)p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "ts", &a);
    int t = a.threads;
    uint64_t per = bench_share(bench_count(&a, 12e6, 1000), (uint64_t)t);

    worker *w = bench_malloc((size_t)t * sizeof *w);
    for (int i = 0; i < t; i++) {
        w[i].given = bench_malloc(OBJ_SIZE);
        w[i].iterations = per;
    }

    double t0 = bench_now();
    for (int i = 0; i < t; i++)
        if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0)
            bench_die("pthread_create failed");
    for (int i = 0; i < t; i++)
        pthread_join(w[i].tid, NULL);
    double secs = bench_now() - t0;

    bench_result("cache_scratch", t, per * (uint64_t)t, secs, NULL);
    free(w);
    return 0;
}
