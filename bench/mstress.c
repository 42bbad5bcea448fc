/*
 * mstress - threads that allocate, hand their blocks over and exit, in
 * waves (after the shape of mimalloc's stress test): what a program with
 * short-lived worker threads does to an allocator's per-thread state.
 *
 * - WAVES waves of T threads run one after the other; the main thread
 *   starts a wave, joins it and starts the next.
 * - Each thread keeps a local set of 256 slots and does its share of
 *   steps; a step, at random: allocates into a slot (freeing what was
 *   there) half the time, frees a slot's block a quarter of the time, and
 *   otherwise swaps a slot with a random slot of a shared transfer array
 *   (an atomic exchange), so it takes over a block that another thread of
 *   this wave or of an earlier one allocated, and leaves one of its own.
 * - Sizes: 16 - 1024 bytes (uniform) for 99 of 100 blocks, 1 - 64 KiB
 *   (log-uniform) for the rest.  Every block keeps its size in its first
 *   word and a tag in its last byte, checked before each free.
 * - Before it exits, a thread frees half of its blocks and puts the other
 *   half into the transfer array (freeing what it displaces): the blocks
 *   outlive their thread, the next wave frees them, and what the exited
 *   thread held must be taken over (adopted) or its memory stays idle.
 *
 * The total is fixed (30 M steps at scale 1) and split among the waves and
 * threads.  One op = one step.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>

#define WAVES 10
#define LOCAL_SLOTS 256
#define TRANSFER_PER_THREAD 256
#define SMALL_MAX 1024

typedef struct worker {
    int wave;
    int id;
    uint64_t steps;
} worker;

static _Atomic(void *) *transfer;
static size_t transfer_slots;

static size_t pick_size(uint64_t *rng)
{
    if (bench_range(rng, 1, 100) < 100)
        return (size_t)bench_range(rng, 16, SMALL_MAX);
    unsigned e = (unsigned)bench_range(rng, 10, 15);
    return (size_t)bench_range(rng, (uint64_t)1 << e, ((uint64_t)2 << e) - 1);
}

static void *block_new(uint64_t *rng)
{
    size_t n = pick_size(rng);
    unsigned char *p = bench_malloc(n);
    memcpy(p, &n, sizeof n);
    p[n - 1] = bench_tag_of(p, n);
    bench_escape(p);
    return p;
}

static void block_free(void *q)
{
    if (!q)
        return;
    unsigned char *p = q;
    size_t n;
    memcpy(&n, p, sizeof n);
    if (n < 16 || n >= (size_t)2 << 15 || p[n - 1] != bench_tag_of(p, n))
        bench_die("block %p (size word %zu) was overwritten while live", q, n);
    free(q);
}

/* Exchanges *slot with a random transfer slot.  acq_rel: the release
 * publishes the contents of the block we leave (its size word and tag)
 * to the thread that takes it; the acquire makes those of the block we
 * take visible to us. */
static void swap_with_transfer(void **slot, uint64_t *rng)
{
    size_t k = (size_t)bench_range(rng, 0, transfer_slots - 1);
    *slot = atomic_exchange_explicit(&transfer[k], *slot, memory_order_acq_rel);
}

static void *run(void *arg)
{
    const worker *w = arg;
    uint64_t rng = 0x3c6ef372u + (uint64_t)w->wave * 7919u + (uint64_t)w->id * 104729u;
    void *local[LOCAL_SLOTS] = {0};

    for (uint64_t s = 0; s < w->steps; s++) {
        uint64_t r = bench_rand(&rng);
        void **slot = &local[(uint32_t)r % LOCAL_SLOTS];
        unsigned what = (unsigned)(r >> 62); /* 0, 1: allocate; 2: free; 3: swap */
        if (what < 2) {
            block_free(*slot);
            *slot = block_new(&rng);
        } else if (what == 2) {
            block_free(*slot);
            *slot = NULL;
        } else {
            swap_with_transfer(slot, &rng);
        }
    }

    for (unsigned i = 0; i < LOCAL_SLOTS; i++) {
        if (i % 2 == 0) {
            block_free(local[i]);
        } else if (local[i]) {
            swap_with_transfer(&local[i], &rng);
            block_free(local[i]);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "ts", &a);
    int t = a.threads;
    uint64_t steps = bench_share(bench_count(&a, 30e6, 1000), (uint64_t)t * WAVES);

    transfer_slots = TRANSFER_PER_THREAD * (size_t)t;
    transfer = bench_malloc(transfer_slots * sizeof *transfer);
    for (size_t i = 0; i < transfer_slots; i++)
        atomic_init(&transfer[i], NULL);
    worker *workers = bench_malloc((size_t)t * sizeof *workers);
    pthread_t *tids = bench_malloc((size_t)t * sizeof *tids);

    double t0 = bench_now();
    for (int wave = 0; wave < WAVES; wave++) {
        for (int i = 0; i < t; i++) {
            workers[i] = (worker){.wave = wave, .id = i, .steps = steps};
            if (pthread_create(&tids[i], NULL, run, &workers[i]) != 0)
                bench_die("pthread_create failed");
        }
        for (int i = 0; i < t; i++)
            pthread_join(tids[i], NULL);
    }
    double secs = bench_now() - t0;

    /* pthread_join ordered every thread's last exchange before these loads. */
    for (size_t i = 0; i < transfer_slots; i++)
        block_free(atomic_load_explicit(&transfer[i], memory_order_relaxed));
    free((void *)transfer);
    free(workers);
    free(tids);
    bench_result("mstress", t, steps * WAVES * (uint64_t)t, secs, NULL);
    return 0;
}
