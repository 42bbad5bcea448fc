/*
 * realloc_growth - buffers that grow by realloc, the way string builders
 * and dynamic arrays grow.  16 buffers live at once; each op picks one at
 * random and grows it:
 *   - 3 of 4 buffers append 1 - 128 bytes at a time (a naive appender:
 *     many small steps, mostly inside the block's size class);
 *   - 1 of 4 grows geometrically by 1.5x (a vector doubling its capacity,
 *     reaching the Large and Huge tiers).
 * The new tail is written (one byte per page, and the last byte), and the
 * first byte, carried over from the start, is checked.  When a buffer
 * reaches its target size (log-uniform, 256 B - 256 KiB for appenders,
 * 64 KiB - 2 MiB for geometric ones) it is freed and starts again from
 * zero.  Fixed seed, one thread.
 *
 * One op = one realloc (the frees and restarts are included in the time).
 */
#include "bench.h"

#define BUFFERS 16

typedef struct buffer {
    unsigned char *p;
    size_t n;
    size_t target;
    int geometric;
} buffer;

static buffer bufs[BUFFERS];

/* Log-uniform in [lo, hi]: uniform exponent, then uniform within. */
static size_t log_uniform(uint64_t *rng, unsigned lo_log2, unsigned hi_log2)
{
    unsigned e = (unsigned)bench_range(rng, lo_log2, hi_log2 - 1);
    return (size_t)bench_range(rng, (uint64_t)1 << e, ((uint64_t)2 << e) - 1);
}

static void restart(buffer *b, uint64_t *rng)
{
    free(b->p);
    b->p = NULL;
    b->n = 0;
    b->geometric = bench_range(rng, 0, 3) == 0;
    b->target = b->geometric ? log_uniform(rng, 16, 21) : log_uniform(rng, 8, 18);
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "s", &a);
    uint64_t ops = bench_count(&a, 4e6, 1000);
    uint64_t rng = 0xfeedu;
    for (unsigned i = 0; i < BUFFERS; i++)
        restart(&bufs[i], &rng);

    double t0 = bench_now();
    for (uint64_t i = 0; i < ops; i++) {
        buffer *b = &bufs[bench_range(&rng, 0, BUFFERS - 1)];
        size_t old = b->n;
        size_t n = b->geometric ? old + old / 2 + 64 : old + (size_t)bench_range(&rng, 1, 128);
        unsigned char *p = realloc(b->p, n);
        if (!p)
            bench_die("realloc(%zu) returned NULL", n);
        bench_escape(p);
        if (old && p[0] != (unsigned char)(uintptr_t)b)
            bench_die("realloc lost the contents of a %zu-byte buffer", old);
        for (size_t off = (old + BENCH_PAGE - 1) & ~(size_t)(BENCH_PAGE - 1); off < n;
             off += BENCH_PAGE)
            p[off] = 1;
        p[n - 1] = 1;
        p[0] = (unsigned char)(uintptr_t)b;
        b->p = p;
        b->n = n;
        if (n >= b->target)
            restart(b, &rng);
    }
    double secs = bench_now() - t0;

    for (unsigned i = 0; i < BUFFERS; i++)
        free(bufs[i].p);
    bench_result("realloc_growth", 1, ops, secs, NULL);
    return 0;
}
