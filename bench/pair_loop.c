/*
 * pair_loop - N malloc(64) + free pairs and nothing else, for counting
 * instructions: bench/run --instructions runs it under
 * valgrind --tool=callgrind at N and 2N iterations and reports
 * (I(2N) - I(N)) / N, the cost of one pair with start-up and exit costs
 * cancelled.  That figure includes the loop itself (9 instructions per
 * pair here: counter, call set-up) and the two PLT jumps, the same for
 * every allocator.
 *
 * usage: pair_loop N [SIZE]
 */
#include "bench.h"

__attribute__((noinline)) static void loop(unsigned long n, size_t size)
{
    for (unsigned long i = 0; i < n; i++) {
        void *p = malloc(size);
        bench_escape(p);
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s N [SIZE]\n", argv[0]);
        return 2;
    }
    unsigned long n = strtoul(argv[1], NULL, 10);
    size_t size = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 64;
    /* Warm up outside the measured difference: the first calls set up the
     * thread's heap and fill its cache. */
    loop(1000, size);
    loop(n, size);
    return 0;
}
