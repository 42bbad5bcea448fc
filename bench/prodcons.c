/*
 * prodcons - producer/consumer cross-thread free.  T threads stand in a
 * ring; each allocates batches of 256 blocks (16 - 1024 bytes, tagged) and
 * passes them to the next thread, which checks and frees them.  Nearly
 * every free is of a block another thread allocated, while that thread
 * keeps allocating: the remote-free path under load.  With one thread the
 * ring closes on itself and every free is local (the baseline).
 *
 * Each link of the ring is a single-producer single-consumer queue of 8
 * batches (C11 atomics, acquire/release); a thread that can neither
 * consume nor produce sleeps on its own condition variable until a
 * neighbour changes something.
 *
 * The total is fixed (12 M blocks at scale 1) and split among the threads.
 * One op = one malloc in one thread + one free in another.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>

#define BATCH 256
#define QCAP 8
#define MIN_SIZE 16
#define MAX_SIZE 1024

typedef struct batch {
    void *p[BATCH];
    uint32_t n[BATCH];
} batch;

typedef struct queue {
    /* head: written by the consumer only; tail: by the producer only. */
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) _Atomic uint64_t tail;
    batch slot[QCAP];
} queue;

typedef struct worker {
    _Alignas(64) pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t events; /* under lock: bumped by a neighbour that changed something */
    int id;
    uint64_t quota; /* batches to produce, and to consume */
} worker;

static int nthreads;
static queue *queues;   /* queues[i]: from thread i-1 to thread i */
static worker *workers;

static void wake(worker *w)
{
    pthread_mutex_lock(&w->lock);
    w->events++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void *run(void *arg)
{
    worker *self = arg;
    int next = (self->id + 1) % nthreads;
    int prev = (self->id + nthreads - 1) % nthreads;
    queue *in = &queues[self->id];
    queue *out = &queues[next];
    uint64_t rng = 0x9e37u + (uint64_t)self->id * 104729u;
    uint64_t produced = 0, consumed = 0;

    while (produced < self->quota || consumed < self->quota) {
        pthread_mutex_lock(&self->lock);
        uint64_t seen = self->events;
        pthread_mutex_unlock(&self->lock);
        int progress = 0;

        /* Consume: acquire pairs with the producer's release of tail, so
         * the batch's contents are visible. */
        uint64_t h = atomic_load_explicit(&in->head, memory_order_relaxed);
        while (consumed < self->quota && h != atomic_load_explicit(&in->tail, memory_order_acquire)) {
            batch *b = &in->slot[h % QCAP];
            for (unsigned i = 0; i < BATCH; i++) {
                bench_check(b->p[i], b->n[i]);
                free(b->p[i]);
            }
            /* release: our reads of the slot happen before the producer
             * reuses it. */
            atomic_store_explicit(&in->head, ++h, memory_order_release);
            consumed++;
            progress = 1;
            wake(&workers[prev]);
        }

        /* Produce: acquire of head pairs with the consumer's release. */
        uint64_t t = atomic_load_explicit(&out->tail, memory_order_relaxed);
        while (produced < self->quota &&
               t - atomic_load_explicit(&out->head, memory_order_acquire) < QCAP) {
            batch *b = &out->slot[t % QCAP];
            for (unsigned i = 0; i < BATCH; i++) {
                uint32_t n = (uint32_t)bench_range(&rng, MIN_SIZE, MAX_SIZE);
                b->p[i] = bench_malloc(n);
                b->n[i] = n;
                bench_tag(b->p[i], n);
            }
            atomic_store_explicit(&out->tail, ++t, memory_order_release);
            produced++;
            progress = 1;
            wake(&workers[next]);
            if (t - atomic_load_explicit(&out->head, memory_order_acquire) >= QCAP / 2 &&
                h != atomic_load_explicit(&in->tail, memory_order_acquire))
                break; /* keep our own queue drained too */
        }

        if (!progress) {
            pthread_mutex_lock(&self->lock);
            while (self->events == seen)
                pthread_cond_wait(&self->cond, &self->lock);
            pthread_mutex_unlock(&self->lock);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "ts", &a);
    nthreads = a.threads;
    uint64_t quota = bench_share(bench_count(&a, 12e6, BATCH), (uint64_t)nthreads * BATCH);

    queues = aligned_alloc(64, (size_t)nthreads * sizeof *queues);
    workers = aligned_alloc(64, (size_t)nthreads * sizeof *workers);
    if (!queues || !workers)
        bench_die("out of memory");
    pthread_t *tids = bench_malloc((size_t)nthreads * sizeof *tids);
    for (int i = 0; i < nthreads; i++) {
        atomic_init(&queues[i].head, 0);
        atomic_init(&queues[i].tail, 0);
        pthread_mutex_init(&workers[i].lock, NULL);
        pthread_cond_init(&workers[i].cond, NULL);
        workers[i].events = 0;
        workers[i].id = i;
        workers[i].quota = quota;
    }

    double t0 = bench_now();
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, run, &workers[i]) != 0)
            bench_die("pthread_create failed");
    for (int i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    double secs = bench_now() - t0;

    bench_result("prodcons", nthreads, quota * BATCH * (uint64_t)nthreads, secs, NULL);
    free(tids);
    free(queues);
    free(workers);
    return 0;
}
