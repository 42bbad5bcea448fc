/*
 * larson - a server simulation in the spirit of Larson and Krishnan's
 * benchmark: worker threads replace random blocks in arrays of live
 * objects, hand the arrays to each other, and are themselves replaced by
 * fresh threads from time to time, the way a server's connection handlers
 * come and go.
 *
 * - 2*T arrays of 1000 slots, each holding a block of 16 - 1024 bytes,
 *   filled by the main thread before the clock starts.
 * - T lanes run at once.  A lane's thread takes an array from the shared
 *   pool, does 1000 ops on it (free a random slot's block, malloc a new
 *   one, tag it) and puts it back, taking another: so blocks are freed by
 *   threads other than the one that allocated them, while that one lives.
 * - After its share of rounds, a thread starts its successor and exits,
 *   leaving its blocks in the arrays to be freed by others: 4 generations
 *   per lane.
 *
 * The total work is fixed (16 M ops at scale 1) and split among the lanes,
 * so ops/s compares directly across thread counts.  One op = one malloc +
 * one free.
 *
 * larson_sized.cc builds this file as C++ with the blocks coming from
 * operator new and going back through sized operator delete, the calls a
 * C++ server makes (so this file is written in the common subset of C and
 * C++).  Only the blocks change hands that way; the arrays and the pool
 * stay on malloc.
 */
#include "bench.h"

#include <pthread.h>

#ifndef LARSON_NAME
#define LARSON_NAME "larson"
#define LARSON_ALLOC(n) bench_malloc(n)
#define LARSON_FREE(p, n) free(p)
#endif

#define SLOTS 1000
#define CHUNK 1000
#define GENERATIONS 4
#define MIN_SIZE 16
#define MAX_SIZE 1024

typedef struct array {
    void *p[SLOTS];
    uint32_t n[SLOTS];
} array;

typedef struct lane {
    int id;
    int generation;
    uint64_t rounds;
    pthread_t next[GENERATIONS]; /* next[g]: started by generation g */
} lane;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static array **pool;
static unsigned pool_count;

static array *pool_swap(array *give, uint64_t *rng)
{
    pthread_mutex_lock(&pool_lock);
    unsigned k = (unsigned)bench_range(rng, 0, pool_count - 1);
    array *take = pool[k];
    if (give)
        pool[k] = give;
    else
        pool[k] = pool[--pool_count];
    pthread_mutex_unlock(&pool_lock);
    return take;
}

static void pool_put(array *give)
{
    pthread_mutex_lock(&pool_lock);
    pool[pool_count++] = give;
    pthread_mutex_unlock(&pool_lock);
}

static void *worker(void *arg)
{
    lane *l = (lane *)arg;
    int g = l->generation;
    uint64_t rng = 0x1a2b3c4du * (uint64_t)(l->id + 1) + (uint64_t)g * 7919u;
    array *a = pool_swap(NULL, &rng);
    for (uint64_t r = 0; r < l->rounds; r++) {
        for (unsigned i = 0; i < CHUNK; i++) {
            uint64_t v = bench_rand(&rng);
            unsigned k = (uint32_t)v % SLOTS;
            uint32_t n = MIN_SIZE + (uint32_t)((v >> 32) % (MAX_SIZE - MIN_SIZE + 1));
            bench_check(a->p[k], a->n[k]);
            LARSON_FREE(a->p[k], a->n[k]);
            a->p[k] = LARSON_ALLOC(n);
            a->n[k] = n;
            bench_tag(a->p[k], n);
        }
        if (r + 1 < l->rounds)
            a = pool_swap(a, &rng);
    }
    pool_put(a);

    if (g + 1 < GENERATIONS) {
        l->generation = g + 1;
        if (pthread_create(&l->next[g], NULL, worker, l) != 0)
            bench_die("pthread_create failed");
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "ts", &a);
    int t = a.threads;
    uint64_t rounds =
        bench_share(bench_count(&a, 16e6, CHUNK), (uint64_t)t * GENERATIONS * CHUNK);

    unsigned narrays = 2u * (unsigned)t;
    pool = (array **)bench_malloc(narrays * sizeof *pool);
    uint64_t rng = 4141;
    for (unsigned i = 0; i < narrays; i++) {
        array *arr = (array *)bench_malloc(sizeof *arr);
        for (unsigned k = 0; k < SLOTS; k++) {
            uint32_t n = (uint32_t)bench_range(&rng, MIN_SIZE, MAX_SIZE);
            arr->p[k] = LARSON_ALLOC(n);
            arr->n[k] = n;
            bench_tag(arr->p[k], n);
        }
        pool[pool_count++] = arr;
    }

    lane *lanes = (lane *)bench_malloc((size_t)t * sizeof *lanes);
    pthread_t *first = (pthread_t *)bench_malloc((size_t)t * sizeof *first);
    double t0 = bench_now();
    for (int i = 0; i < t; i++) {
        memset(&lanes[i], 0, sizeof lanes[i]);
        lanes[i].id = i;
        lanes[i].rounds = rounds;
        if (pthread_create(&first[i], NULL, worker, &lanes[i]) != 0)
            bench_die("pthread_create failed");
    }
    /* Join each lane's chain: generation g stores its successor's id in
     * next[g] before it returns, and pthread_join orders that write before
     * our read. */
    for (int i = 0; i < t; i++) {
        pthread_join(first[i], NULL);
        for (int g = 0; g + 1 < GENERATIONS; g++)
            pthread_join(lanes[i].next[g], NULL);
    }
    double secs = bench_now() - t0;
    uint64_t ops = rounds * CHUNK * GENERATIONS * (uint64_t)t;

    for (unsigned i = 0; i < pool_count; i++) {
        for (unsigned k = 0; k < SLOTS; k++) {
            bench_check(pool[i]->p[k], pool[i]->n[k]);
            LARSON_FREE(pool[i]->p[k], pool[i]->n[k]);
        }
        free(pool[i]);
    }
    free(pool);
    free(lanes);
    free(first);
    bench_result(LARSON_NAME, t, ops, secs, NULL);
    return 0;
}
