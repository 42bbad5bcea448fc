/*
 * tiny_hot - the hottest path: one thread, malloc + touch + free of one
 * size in a loop, so every allocation is served by the thread cache.
 * Sizes 16, 64, 256 and 1024 bytes (or the one given with -z).
 *
 * One op = one malloc + one free.  Full run: 40 M pairs per size.
 */
#include "bench.h"

static const size_t default_sizes[] = {16, 64, 256, 1024};

static double run(size_t size, uint64_t pairs)
{
    double t0 = bench_now();
    for (uint64_t i = 0; i < pairs; i++) {
        unsigned char *p = bench_malloc(size);
        p[0] = (unsigned char)i;
        p[size - 1] = (unsigned char)i;
        bench_escape(p);
        free(p);
    }
    return bench_now() - t0;
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "sz", &a);
    uint64_t pairs = bench_count(&a, 40e6, 1000);

    size_t one = a.size;
    const size_t *sizes = one ? &one : default_sizes;
    size_t nsizes = one ? 1 : sizeof default_sizes / sizeof default_sizes[0];
    for (size_t k = 0; k < nsizes; k++) {
        run(sizes[k], pairs / 100 + 1);
        double s = run(sizes[k], pairs);
        char extra[32];
        snprintf(extra, sizeof extra, "size=%zu", sizes[k]);
        bench_result("tiny_hot", 1, pairs, s, extra);
    }
    return 0;
}
