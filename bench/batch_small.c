/*
 * batch_small - the shape of glibc's single-threaded malloc
 * micro-benchmark: one thread allocates a batch of N blocks of one small
 * size, then frees them all in the order it allocated them, and repeats.
 * Unlike tiny_hot (one block at a time) this walks a class's free list
 * N deep in both directions, so an allocator's cache of each class
 * overflows and refills when N is large.
 *
 * Sizes 16, 32, ..., 1024 bytes and batch lengths 25, 100, 400 and 1600
 * take turns (each pair does the same number of blocks); every block is
 * tagged at both ends and checked before its free.  40 M blocks at
 * scale 1.  One op = one malloc + one free.
 */
#include "bench.h"

#define MAX_BATCH 1600

static const uint32_t sizes[] = {16, 32, 64, 128, 256, 512, 1024};
static const unsigned batches[] = {25, 100, 400, MAX_BATCH};
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define NBATCHES (sizeof batches / sizeof batches[0])

static void *blocks[MAX_BATCH];

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, "s", &a);
    /* One round: every (size, batch) pair does MAX_BATCH blocks. */
    uint64_t per_round = (uint64_t)NSIZES * NBATCHES * MAX_BATCH;
    uint64_t rounds = bench_share(bench_count(&a, 40e6, per_round), per_round);

    double t0 = bench_now();
    for (uint64_t r = 0; r < rounds; r++) {
        for (unsigned s = 0; s < NSIZES; s++) {
            uint32_t n = sizes[s];
            for (unsigned b = 0; b < NBATCHES; b++) {
                unsigned len = batches[b];
                for (unsigned rep = 0; rep < MAX_BATCH / len; rep++) {
                    for (unsigned i = 0; i < len; i++) {
                        blocks[i] = bench_malloc(n);
                        bench_tag(blocks[i], n);
                    }
                    for (unsigned i = 0; i < len; i++) {
                        bench_check(blocks[i], n);
                        free(blocks[i]);
                    }
                }
            }
        }
    }
    double secs = bench_now() - t0;
    bench_result("batch_small", 1, rounds * per_round, secs, NULL);
    return 0;
}
