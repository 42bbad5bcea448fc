/*
 * memory - how much memory an allocator holds at a peak, and how much it
 * gives back once everything is freed.
 *
 * Each of T threads (the live total is split among them) runs:
 *   1. grow: allocate blocks until its share of 128 MiB (at scale 1) is
 *      live, every page of every block written.  Half the bytes are small
 *      blocks (16 - 1024 B, uniform), half are 1 KiB - 1 MiB (log-uniform);
 *   2. fragment: free a random 90% of its blocks, so that the survivors
 *      pin partly used slabs and pages;
 *   3. regrow to the share again (the holes should be reused);
 *   steps 2 and 3 three times, then
 *   4. free everything, checking every block, and exit the thread.
 * Then the main thread, with every block freed and every worker gone,
 * sleeps for -w milliseconds (1000 by default) and reads its resident set
 * from /proc/self/statm: that wait is part of the measurement -- it gives
 * an allocator that returns memory with a delay (hakmem's purge_delay_ms,
 * jemalloc's decay) the time a program that just went idle would give it.
 *
 * RESULT extras: base_rss_kb (before any work), peak_rss_kb (getrusage
 * ru_maxrss), final_rss_kb (after the wait), live_peak_kb (bytes requested
 * live at the peak, summed over threads), frag_rss_kb (resident after the
 * last fragment step, thread 0's view of the whole process).
 * One op = one malloc (every block is freed too); the wait is not timed.
 */
#include "bench.h"

#include <pthread.h>

#define ROUNDS 3
#define SURVIVE_PERCENT 10

typedef struct block {
    void *p;
    size_t n;
} block;

typedef struct worker {
    pthread_t tid;
    int id;
    size_t share;
    uint64_t ops;
    size_t live_peak;
    long frag_rss_kb;
} worker;

static pthread_barrier_t fragmented;

static size_t pick_size(uint64_t *rng, int small)
{
    if (small)
        return (size_t)bench_range(rng, 16, 1024);
    unsigned e = (unsigned)bench_range(rng, 10, 19);
    return (size_t)bench_range(rng, (uint64_t)1 << e, ((uint64_t)2 << e) - 1);
}

/* Allocates until `live` reaches `share`, alternating small and mixed
 * blocks so each half gets about half the bytes. */
static size_t grow(worker *w, block **blocks, size_t *count, size_t *cap, size_t live,
                   uint64_t *rng)
{
    size_t small_bytes = 0, big_bytes = 0;
    while (live < w->share) {
        int small = small_bytes <= big_bytes;
        size_t n = pick_size(rng, small);
        if (*count == *cap) {
            *cap = *cap ? *cap * 2 : 1024;
            block *nb = realloc(*blocks, *cap * sizeof **blocks);
            if (!nb)
                bench_die("out of memory");
            *blocks = nb;
        }
        void *p = bench_malloc(n);
        bench_tag_pages(p, n);
        (*blocks)[(*count)++] = (block){p, n};
        live += n;
        *(small ? &small_bytes : &big_bytes) += n;
        w->ops++;
    }
    if (live > w->live_peak)
        w->live_peak = live;
    return live;
}

static void *run(void *arg)
{
    worker *w = arg;
    uint64_t rng = 0xabcdefu + (uint64_t)w->id * 31337u;
    block *blocks = NULL;
    size_t count = 0, cap = 0;
    size_t live = grow(w, &blocks, &count, &cap, 0, &rng);

    for (int r = 0; r < ROUNDS; r++) {
        size_t kept = 0;
        for (size_t i = 0; i < count; i++) {
            if (bench_range(&rng, 1, 100) <= SURVIVE_PERCENT) {
                blocks[kept++] = blocks[i];
            } else {
                bench_check_pages(blocks[i].p, blocks[i].n);
                free(blocks[i].p);
                live -= blocks[i].n;
            }
        }
        count = kept;
        if (r == ROUNDS - 1) {
            pthread_barrier_wait(&fragmented);
            if (w->id == 0)
                w->frag_rss_kb = bench_rss_now_kb();
            pthread_barrier_wait(&fragmented);
        }
        live = grow(w, &blocks, &count, &cap, live, &rng);
    }

    for (size_t i = 0; i < count; i++) {
        bench_check_pages(blocks[i].p, blocks[i].n);
        free(blocks[i].p);
    }
    free(blocks);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "tsw", &a);
    int t = a.threads;
    long base_kb = bench_rss_now_kb();
    size_t total = (size_t)bench_count(&a, 128.0 * 1024 * 1024, 1 << 20);

    worker *w = bench_malloc((size_t)t * sizeof *w);
    if (pthread_barrier_init(&fragmented, NULL, (unsigned)t) != 0)
        bench_die("pthread_barrier_init failed");
    double t0 = bench_now();
    for (int i = 0; i < t; i++) {
        w[i] = (worker){.id = i, .share = total / (size_t)t};
        if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0)
            bench_die("pthread_create failed");
    }
    uint64_t ops = 0;
    size_t live_peak = 0;
    for (int i = 0; i < t; i++) {
        pthread_join(w[i].tid, NULL);
        ops += w[i].ops;
        live_peak += w[i].live_peak;
    }
    double secs = bench_now() - t0;
    long frag_kb = w[0].frag_rss_kb;
    free(w);
    pthread_barrier_destroy(&fragmented);

    struct timespec ts = {(time_t)(a.wait_ms / 1000), (long)(a.wait_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    long final_kb = bench_rss_now_kb();

    char extra[200];
    snprintf(extra, sizeof extra,
             "base_rss_kb=%ld peak_rss_kb=%ld final_rss_kb=%ld live_peak_kb=%zu frag_rss_kb=%ld",
             base_kb, bench_rss_peak_kb(), final_kb, live_peak / 1024, frag_kb);
    bench_result("memory", t, ops, secs, extra);
    return 0;
}
