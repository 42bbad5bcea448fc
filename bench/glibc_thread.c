/*
 * glibc_thread - a fixed-time loop after the shape of glibc's own
 * multi-threaded malloc benchmark: each of T threads keeps a working set
 * of 1024 blocks and, until the time is up, frees a random one and
 * allocates a block of a random size in its place.  Nothing is shared:
 * every free is local.  The count of ops done in the time is the result.
 *
 * - Sizes follow an inverse-square distribution from 8 bytes to 32 KiB
 *   (the density falls as 1/size^2: half the blocks are 8 - 16 bytes, the
 *   mean is about 70 bytes, one in 500 is above 4 KiB), the weighting
 *   glibc's benchmark gives its requests (it starts at 4 bytes).  Blocks
 *   are tagged at both ends and checked before each free.
 * - The threads fill their working sets, meet at a barrier with the main
 *   thread, which then starts the clock, sleeps for the run's length
 *   (1 s at scale 1) and raises a stop flag; each thread looks at the flag
 *   every 64 ops.  The clock stops when the last thread has seen it (the
 *   working sets are freed after that, untimed).
 *
 * ops/s is the total over all threads: on a machine with fewer cores than
 * threads it is what the cores do together.  One op = one malloc + one
 * free.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>

#define WORKING_SET 1024
#define MIN_SIZE 8
#define MAX_SIZE 32768
#define CHECK_EVERY 64

typedef struct worker {
    pthread_t tid;
    int id;
    uint64_t ops;
    double end; /* when this thread saw the stop flag */
    void *p[WORKING_SET];
    uint32_t n[WORKING_SET];
} worker;

static pthread_barrier_t start;
static atomic_bool stop;

/* Inverse transform of the inverse-square density on [MIN_SIZE, MAX_SIZE]. */
static uint32_t pick_size(uint64_t *rng)
{
    double u = (double)(bench_rand(rng) >> 11) * 0x1p-53;
    double inv = 1.0 / MIN_SIZE - u * (1.0 / MIN_SIZE - 1.0 / MAX_SIZE);
    double s = 1.0 / inv;
    return s >= MAX_SIZE ? MAX_SIZE : (uint32_t)s;
}

static void *run(void *arg)
{
    worker *w = arg;
    uint64_t rng = 0x6a09e667u + (uint64_t)w->id * 0x3c6ef372u;
    for (unsigned i = 0; i < WORKING_SET; i++) {
        w->n[i] = pick_size(&rng);
        w->p[i] = bench_malloc(w->n[i]);
        bench_tag(w->p[i], w->n[i]);
    }
    pthread_barrier_wait(&start);

    uint64_t ops = 0;
    /* relaxed: the flag carries no data; the thread only has to see it
     * eventually, and pthread_join orders everything after. */
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (unsigned k = 0; k < CHECK_EVERY; k++) {
            uint64_t r = bench_rand(&rng);
            unsigned i = (uint32_t)r % WORKING_SET;
            bench_check(w->p[i], w->n[i]);
            free(w->p[i]);
            w->n[i] = pick_size(&rng);
            w->p[i] = bench_malloc(w->n[i]);
            bench_tag(w->p[i], w->n[i]);
        }
        ops += CHECK_EVERY;
    }
    w->end = bench_now();
    w->ops = ops;

    for (unsigned i = 0; i < WORKING_SET; i++) {
        bench_check(w->p[i], w->n[i]);
        free(w->p[i]);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "ts", &a);
    int t = a.threads;
    double length = 1.0 * a.scale;
    if (length < 0.02)
        length = 0.02;

    worker *workers = bench_malloc((size_t)t * sizeof *workers);
    if (pthread_barrier_init(&start, NULL, (unsigned)t + 1) != 0)
        bench_die("pthread_barrier_init failed");
    for (int i = 0; i < t; i++) {
        workers[i].id = i;
        if (pthread_create(&workers[i].tid, NULL, run, &workers[i]) != 0)
            bench_die("pthread_create failed");
    }
    pthread_barrier_wait(&start);
    double t0 = bench_now();
    struct timespec ts = {(time_t)length, (long)((length - (double)(time_t)length) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    atomic_store_explicit(&stop, 1, memory_order_relaxed);
    uint64_t ops = 0;
    double end = t0;
    for (int i = 0; i < t; i++) {
        pthread_join(workers[i].tid, NULL);
        ops += workers[i].ops;
        if (workers[i].end > end)
            end = workers[i].end;
    }
    double secs = end - t0;

    pthread_barrier_destroy(&start);
    free(workers);
    bench_result("glibc_thread", t, ops, secs, NULL);
    return 0;
}
