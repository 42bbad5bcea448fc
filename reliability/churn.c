/*
 * churn.c - many short-lived threads (default 10,000), 16 alive at a time
 * on a two-core machine: each allocates in every tier, frees most of it,
 * frees what a thread of the previous wave left behind (its owner has
 * exited: a free into an abandoned slab), leaves a few blocks for the next
 * wave and exits.
 *
 *   churn [THREADS]
 *
 * Checks, with hakmem's own statistics (found with dlsym):
 *   - RSS and the bytes hakmem has mapped stay bounded, and do not grow
 *     between the first tenth of the threads and the end (by more than
 *     32 MiB of RSS, 48 MiB mapped: a per-thread leak of a single 64 KiB
 *     slab would add 560 MiB over 9,000 threads).  Which heap adopts which
 *     abandoned slab depends on scheduling, so the mapping wanders by a few
 *     4 MiB segments from run to run (measured 66-162 MiB over 20 runs on
 *     two cores); the absolute bound is structural: at most one segment per
 *     tier (Tiny, Mid, Large) for each heap ever created, plus 32 MiB for the
 *     Huge blocks and Large runs in flight and one 64 MiB Huge arena (the
 *     1-2 MiB blocks are served there; address space, touched only where
 *     blocks were);
 *   - heaps are reused: hakmem creates at most a few more heaps than
 *     threads are ever alive at once;
 *   - every block keeps its contents.
 */
#include "rel.h"

#include <pthread.h>
#include <stdatomic.h>

#define WAVE 16
#define KEEP 8

struct slot {
    void *p;
    size_t n;
};

/* Blocks left by wave w for wave w+1: [thread][KEEP]. */
static struct slot left[2][WAVE][KEEP];

struct arg {
    int wave, idx;
};

static size_t churn_size(uint64_t *rng)
{
    uint64_t r = rel_rand(rng) % 100;
    if (r < 75)
        return 1 + (size_t)(rel_rand(rng) % 1024);
    if (r < 95)
        return 1025 + (size_t)(rel_rand(rng) % (32 * KiB));
    if (r < 99)
        return 32 * KiB + (size_t)(rel_rand(rng) % MiB);
    return MiB + (size_t)(rel_rand(rng) % MiB);
}

static void *worker(void *varg)
{
    struct arg *a = varg;
    uint64_t rng = (uint64_t)a->wave * 1000003u + (uint64_t)a->idx * 7919u + 1;
    /* Free what the previous wave's thread left (its heap is gone). */
    struct slot *prev = left[(a->wave + 1) & 1][a->idx];
    for (int i = 0; i < KEEP; i++) {
        if (prev[i].p) {
            if (!rel_check(prev[i].p, prev[i].n, (uint64_t)(uintptr_t)prev[i].p))
                return (void *)1;
            free(prev[i].p);
            prev[i].p = NULL;
        }
    }
    struct slot mine[64];
    for (int i = 0; i < 64; i++) {
        mine[i].n = churn_size(&rng);
        mine[i].p = malloc(mine[i].n);
        if (mine[i].p == NULL)
            return (void *)2;
        rel_fill(mine[i].p, mine[i].n, (uint64_t)(uintptr_t)mine[i].p);
    }
    struct slot *next = left[a->wave & 1][a->idx];
    for (int i = 0; i < 64; i++) {
        if (!rel_check(mine[i].p, mine[i].n, (uint64_t)(uintptr_t)mine[i].p))
            return (void *)3;
        if (i < KEEP)
            next[i] = mine[i];
        else
            free(mine[i].p);
    }
    return NULL;
}

struct figures {
    size_t rss, mapped;
    unsigned long long heaps, segments;
};

static struct figures measure(rel_stats_fn get)
{
    struct figures f = { rel_rss(), 0, 0, 0 };
    if (get) {
        struct hak_stats st;
        get(&st);
        f.mapped = st.bytes_mapped;
        f.heaps = st.threads;
        f.segments = st.segments_mapped - st.segments_unmapped;
    }
    return f;
}

int main(int argc, char **argv)
{
    alarm(300);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int total = argc > 1 ? atoi(argv[1]) : 10000;
    int waves = total / WAVE;
    rel_stats_fn get = rel_hakmem_stats();
    struct figures start = measure(get), tenth = start;
    double t0 = rel_now();
    for (int w = 0; w < waves; w++) {
        pthread_t t[WAVE];
        struct arg args[WAVE];
        for (int i = 0; i < WAVE; i++) {
            args[i].wave = w;
            args[i].idx = i;
            REL_CHECK(pthread_create(&t[i], NULL, worker, &args[i]) == 0,
                      "churn: pthread_create failed at thread %d", w * WAVE + i);
        }
        for (int i = 0; i < WAVE; i++) {
            void *rc;
            pthread_join(t[i], &rc);
            REL_CHECK(rc == NULL, "churn: thread %d of wave %d failed (%ld: 1 inherited block "
                      "corrupted, 2 malloc failed, 3 own block corrupted)", i, w, (long)(intptr_t)rc);
        }
        if (w + 1 == waves / 10)
            tenth = measure(get);
    }
    double secs = rel_now() - t0;
    struct figures end = measure(get);
    printf("churn: allocator=%s threads=%d alive_at_once=%d seconds=%.2f threads_per_s=%.0f\n",
           get ? "hakmem" : "libc", waves * WAVE, WAVE, secs, waves * WAVE / secs);
    printf("churn: rss_start=%.1fMiB rss_after_10pct=%.1fMiB rss_end=%.1fMiB\n", rel_mib(start.rss),
           rel_mib(tenth.rss), rel_mib(end.rss));
    if (get) {
        printf("churn: hakmem mapped_after_10pct=%.1fMiB mapped_end=%.1fMiB segments_live=%llu "
               "heaps_created=%llu\n",
               rel_mib(tenth.mapped), rel_mib(end.mapped), end.segments, end.heaps);
        /* RSS also holds glibc's cache of exited threads' stacks (up to
         * 40 MiB): the bounds on it are looser than on hakmem's mapping. */
        REL_CHECK(end.rss <= start.rss + 96 * MiB, "churn: RSS grew from %.1f to %.1f MiB",
                  rel_mib(start.rss), rel_mib(end.rss));
        REL_CHECK(end.rss <= tenth.rss + 32 * MiB,
                  "churn: RSS grew from %.1f MiB after %d threads to %.1f MiB after %d: a per-thread leak",
                  rel_mib(tenth.rss), waves / 10 * WAVE, rel_mib(end.rss), waves * WAVE);
        REL_CHECK(end.mapped <= tenth.mapped + 48 * MiB,
                  "churn: hakmem's mapped bytes grew from %.1f to %.1f MiB: a per-thread leak",
                  rel_mib(tenth.mapped), rel_mib(end.mapped));
        size_t bound = (size_t)end.heaps * 3 * (4 * MiB) + 32 * MiB + 64 * MiB;
        REL_CHECK(end.mapped <= bound,
                  "churn: hakmem maps %.1f MiB for %d live threads and %llu heaps (bound %.1f MiB)",
                  rel_mib(end.mapped), WAVE, end.heaps, rel_mib(bound));
        REL_CHECK(end.heaps <= 2 * WAVE + 2, "churn: %llu heaps created for %d threads alive at once "
                  "(heaps are not reused)", end.heaps, WAVE);
    }
    return 0;
}
