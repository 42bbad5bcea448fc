/*
 * xmalloc - many threads free what many others allocated, after the shape
 * of Lever and Boreham's xmalloc test: T producer threads only allocate,
 * T consumer threads only free, so every free is remote and no consumer
 * ever allocates anything that would reuse the freed space itself.
 *
 * - A producer fills a batch of 64 blocks (16 - 512 bytes, uniform,
 *   tagged at both ends) and puts it on one shared queue.
 * - A consumer takes whichever batch is oldest, from any producer, checks
 *   every block's tags and frees it.
 * - The queue holds at most 4 batches per producer: a producer that finds
 *   it full waits, so the live set stays bounded (at most about 6*T
 *   batches) and what is measured is the allocator's round trip of
 *   blocks from the freeing threads back to the allocating ones.
 *
 * The queue is one mutex and two condition variables, taken once per
 * batch: the allocator's work (64 mallocs or 64 frees) dominates it.  The
 * batch containers are allocated before the clock starts and recycled
 * through a free stack under the same mutex.
 *
 * -t T starts T producers and T consumers (2T threads).  The total is
 * fixed (8 M blocks at scale 1) and split among the producers.  One op =
 * one malloc in a producer + its free in a consumer.
 */
#include "bench.h"

#include <pthread.h>

#define BATCH 64
#define DEPTH_PER_PRODUCER 4
#define MIN_SIZE 16
#define MAX_SIZE 512

typedef struct batch {
    void *p[BATCH];
    uint32_t n[BATCH];
} batch;

/* Everything below is under `lock`. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;  /* producers wait */
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER; /* consumers wait */
static batch **full;  /* FIFO ring of filled batches */
static unsigned full_cap, full_head, full_count;
static batch **spare; /* stack of empty containers */
static unsigned spare_count;
static int producers_running;

typedef struct producer {
    int id;
    uint64_t quota; /* batches */
} producer;

static void *produce(void *arg)
{
    const producer *self = arg;
    uint64_t rng = 0x5eed0000u + (uint64_t)self->id * 2654435761u;
    pthread_mutex_lock(&lock);
    batch *b = spare[--spare_count]; /* one container per thread was set aside */
    pthread_mutex_unlock(&lock);
    for (uint64_t k = 0; k < self->quota; k++) {
        for (unsigned i = 0; i < BATCH; i++) {
            uint32_t n = (uint32_t)bench_range(&rng, MIN_SIZE, MAX_SIZE);
            b->p[i] = bench_malloc(n);
            b->n[i] = n;
            bench_tag(b->p[i], n);
        }
        pthread_mutex_lock(&lock);
        while (full_count == full_cap || spare_count == 0)
            pthread_cond_wait(&not_full, &lock);
        full[(full_head + full_count++) % full_cap] = b;
        b = spare[--spare_count];
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    spare[spare_count++] = b;
    if (--producers_running == 0)
        pthread_cond_broadcast(&not_empty);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *consume(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (full_count == 0 && producers_running > 0)
            pthread_cond_wait(&not_empty, &lock);
        if (full_count == 0) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        batch *b = full[full_head];
        full_head = (full_head + 1) % full_cap;
        full_count--;
        pthread_mutex_unlock(&lock);

        for (unsigned i = 0; i < BATCH; i++) {
            bench_check(b->p[i], b->n[i]);
            free(b->p[i]);
        }

        pthread_mutex_lock(&lock);
        spare[spare_count++] = b;
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&lock);
    }
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "ts", &a);
    int t = a.threads;
    uint64_t quota = bench_share(bench_count(&a, 8e6, BATCH), (uint64_t)t * BATCH);

    /* Containers: the queue's capacity, plus one in the hands of each
     * producer and each consumer. */
    full_cap = DEPTH_PER_PRODUCER * (unsigned)t;
    unsigned containers = full_cap + 2u * (unsigned)t;
    full = bench_malloc(full_cap * sizeof *full);
    spare = bench_malloc(containers * sizeof *spare);
    for (unsigned i = 0; i < containers; i++)
        spare[spare_count++] = bench_malloc(sizeof(batch));
    producer *prod = bench_malloc((size_t)t * sizeof *prod);
    pthread_t *tids = bench_malloc(2 * (size_t)t * sizeof *tids);
    producers_running = t;

    double t0 = bench_now();
    for (int i = 0; i < t; i++) {
        prod[i] = (producer){.id = i, .quota = quota};
        if (pthread_create(&tids[i], NULL, produce, &prod[i]) != 0 ||
            pthread_create(&tids[t + i], NULL, consume, NULL) != 0)
            bench_die("pthread_create failed");
    }
    for (int i = 0; i < 2 * t; i++)
        pthread_join(tids[i], NULL);
    double secs = bench_now() - t0;

    if (spare_count != containers)
        bench_die("%u of %u batch containers came back", spare_count, containers);
    for (unsigned i = 0; i < containers; i++)
        free(spare[i]);
    free(spare);
    free(full);
    free(prod);
    free(tids);
    bench_result("xmalloc", t, quota * BATCH * (uint64_t)t, secs, NULL);
    return 0;
}
