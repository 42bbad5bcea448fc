/*
 * random_mixed - the workload hakmem's tiered design was first tuned on:
 * a window of 400 live slots; each op picks a random slot, frees the block
 * there (checking its tags) and allocates a new one of a random size from
 * 16 to 1024 bytes, tagged at both ends.  Fixed seed, one thread.
 *
 * The same program shape with other ranges is built from this file by
 * defining MIXED_KIND (mid_mixed.c and the others): mid_mixed and
 * large_mixed write every page of every block, mid_ends and large_ends
 * only its first and last byte, so that what they measure is the
 * allocator's own work (finding and reusing space) rather than the page
 * faults of the program's writes.  huge_mixed (5 - 25 MiB, every page
 * written, as a program fills its buffers) measures mostly page faults:
 * an allocator that keeps a freed mapping and hands it out again saves
 * them, one that unmaps and maps again pays them on every op.
 *
 * One op = one malloc + one free (after the window has filled).
 */
#include "bench.h"

#ifndef MIXED_KIND
#define MIXED_KIND 0
#endif

#if MIXED_KIND == 0
#define MIXED_NAME "random_mixed"
#define MIXED_MIN 16
#define MIXED_MAX 1024
#define MIXED_SLOTS 400
#define MIXED_OPS 30e6
#define MIXED_PAGES 0
#elif MIXED_KIND == 1
#define MIXED_NAME "mid_mixed"
#define MIXED_MIN 2048
#define MIXED_MAX 32768
#define MIXED_SLOTS 400
#define MIXED_OPS 5e6
#define MIXED_PAGES 1
#elif MIXED_KIND == 2
#define MIXED_NAME "large_mixed"
#define MIXED_MIN 65536
#define MIXED_MAX 1048576
#define MIXED_SLOTS 64
#define MIXED_OPS 300e3
#define MIXED_PAGES 1
#elif MIXED_KIND == 3
#define MIXED_NAME "mid_ends"
#define MIXED_MIN 2048
#define MIXED_MAX 32768
#define MIXED_SLOTS 400
#define MIXED_OPS 10e6
#define MIXED_PAGES 0
#elif MIXED_KIND == 4
#define MIXED_NAME "large_ends"
#define MIXED_MIN 65536
#define MIXED_MAX 1048576
#define MIXED_SLOTS 64
#define MIXED_OPS 2e6
#define MIXED_PAGES 0
#else
#define MIXED_NAME "huge_mixed"
#define MIXED_MIN (5u << 20)
#define MIXED_MAX (25u << 20)
#define MIXED_SLOTS 8
#define MIXED_OPS 800
#define MIXED_MIN_OPS 20
#define MIXED_PAGES 1
#endif

#ifndef MIXED_MIN_OPS
#define MIXED_MIN_OPS 1000
#endif

typedef struct slot {
    void *p;
    size_t n;
} slot;

static slot slots[MIXED_SLOTS];

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "s", &a);
    uint64_t ops = bench_count(&a, MIXED_OPS, MIXED_MIN_OPS);
    uint64_t rng = 0x12345678u + MIXED_KIND;

    for (unsigned i = 0; i < MIXED_SLOTS; i++) {
        size_t n = (size_t)bench_range(&rng, MIXED_MIN, MIXED_MAX);
        slots[i].p = bench_malloc(n);
        slots[i].n = n;
        MIXED_PAGES ? bench_tag_pages(slots[i].p, n) : bench_tag(slots[i].p, n);
    }

    double t0 = bench_now();
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t r = bench_rand(&rng);
        slot *s = &slots[(uint32_t)r % MIXED_SLOTS];
        size_t n = MIXED_MIN + (size_t)((r >> 32) % (MIXED_MAX - MIXED_MIN + 1));
        MIXED_PAGES ? bench_check_pages(s->p, s->n) : bench_check(s->p, s->n);
        free(s->p);
        s->p = bench_malloc(n);
        s->n = n;
        MIXED_PAGES ? bench_tag_pages(s->p, n) : bench_tag(s->p, n);
    }
    double secs = bench_now() - t0;

    for (unsigned i = 0; i < MIXED_SLOTS; i++)
        free(slots[i].p);
    bench_result(MIXED_NAME, 1, ops, secs, NULL);
    return 0;
}
