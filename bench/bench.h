/*
 * bench.h - what every benchmark shares: options, clock, random numbers,
 * touching memory, RSS readings and the RESULT line.
 *
 * The benchmarks call only the plain C API (malloc, free, realloc), never
 * hakmem's own, so any allocator is swapped in with LD_PRELOAD, hakmem
 * included, and every allocator is measured the same way.  They are built
 * with -fno-builtin-malloc and friends, and every pointer goes through
 * bench_escape(), so the compiler can neither elide a malloc/free pair nor
 * drop the writes that touch a block.
 *
 * Options, common to all (each program uses the ones it needs):
 *   -t N    threads (the multi-threaded benchmarks)
 *   -s F    scale of the work, 1.0 = a full run (about 0.3 - 2 s here)
 *   -z N    block size (tiny_hot: one size instead of all four)
 *   -w MS   wait before reading the final RSS (memory)
 *
 * bench.h comes first in every benchmark: it defines _GNU_SOURCE.  It is
 * also valid C++ (larson_sized is built as C++ for its sized operator
 * delete), hence the explicit casts from void *.
 *
 * Output: one line per measurement on stdout,
 *   RESULT name=NAME threads=T ops=N seconds=S ops_per_s=R [key=value ...]
 * A failed check (NULL from malloc, a block whose contents changed while it
 * was live) prints "bench: ..." on stderr and exits with status 1.
 */
#ifndef HAKMEM_BENCH_H
#define HAKMEM_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PAGE 4096

typedef struct bench_args {
    int threads;
    double scale;
    size_t size;
    unsigned wait_ms;
} bench_args;

__attribute__((noreturn, format(printf, 1, 2))) static inline void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static inline void bench_usage(const char *prog, const char *opts)
{
    fprintf(stderr, "usage: %s", prog);
    for (const char *o = opts; *o; o++) {
        switch (*o) {
        case 't': fputs(" [-t threads]", stderr); break;
        case 's': fputs(" [-s scale]", stderr); break;
        case 'z': fputs(" [-z size]", stderr); break;
        case 'w': fputs(" [-w wait_ms]", stderr); break;
        default: break;
        }
    }
    fputc('\n', stderr);
}

/* Parses the options in `opts` (a subset of "tszw") into *a. */
static inline void bench_parse(int argc, char **argv, const char *opts, bench_args *a)
{
    char getopt_str[16];
    size_t n = 0;
    for (const char *o = opts; *o && n + 2 < sizeof getopt_str; o++) {
        getopt_str[n++] = *o;
        getopt_str[n++] = ':';
    }
    getopt_str[n] = '\0';

    a->threads = 1;
    a->scale = 1.0;
    a->size = 0;
    a->wait_ms = 1000;
    int c;
    while ((c = getopt(argc, argv, getopt_str)) != -1) {
        char *end = NULL;
        errno = 0;
        switch (c) {
        case 't': {
            long v = strtol(optarg, &end, 10);
            if (*end || errno || v < 1 || v > 1024)
                bench_die("-t wants a thread count from 1 to 1024");
            a->threads = (int)v;
            break;
        }
        case 's':
            a->scale = strtod(optarg, &end);
            if (*end || errno || !(a->scale > 0.0) || a->scale > 1000.0)
                bench_die("-s wants a scale above 0");
            break;
        case 'z': {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || errno || v < 1 || v > (1ull << 30))
                bench_die("-z wants a size from 1 to 1 GiB");
            a->size = (size_t)v;
            break;
        }
        case 'w': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || errno || v > 60000)
                bench_die("-w wants milliseconds up to 60000");
            a->wait_ms = (unsigned)v;
            break;
        }
        default:
            bench_usage(argv[0], opts);
            exit(2);
        }
    }
    if (optind != argc) {
        bench_usage(argv[0], opts);
        exit(2);
    }
}

/* Work count: `base` at scale 1, at least `min`. */
static inline uint64_t bench_count(const bench_args *a, double base, uint64_t min)
{
    double v = base * a->scale;
    return v < (double)min ? min : (uint64_t)v;
}

/* A fixed total split into `parts` equal shares: the share, at least 1. */
static inline uint64_t bench_share(uint64_t total, uint64_t parts)
{
    uint64_t share = total / parts;
    return share ? share : 1;
}

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The compiler must assume the pointed-to memory is read and written. */
static inline void bench_escape(void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }

static inline void *bench_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        bench_die("malloc(%zu) returned NULL", n);
    bench_escape(p);
    return p;
}

/* splitmix64: small, fast, and the same sequence everywhere for a seed. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (multiply-shift, no division). */
static inline uint64_t bench_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
    uint64_t span = hi - lo + 1;
    __extension__ typedef unsigned __int128 u128;
    return lo + (uint64_t)(((u128)bench_rand(state) * span) >> 64);
}

/*
 * A block carries a tag byte at its first and last byte (and, with
 * bench_tag_pages, one in every page), written when it is allocated and
 * checked before it is freed: an allocator that hands out overlapping live
 * blocks fails the benchmark instead of producing a number.
 */
static inline unsigned char bench_tag_of(const void *p, size_t n)
{
    uintptr_t v = (uintptr_t)p ^ n;
    return (unsigned char)(v ^ (v >> 8) ^ (v >> 16) ^ 0x5a);
}

static inline void bench_tag(void *p, size_t n)
{
    unsigned char t = bench_tag_of(p, n);
    unsigned char *b = (unsigned char *)p;
    b[0] = t;
    b[n - 1] = t;
    bench_escape(p);
}

static inline void bench_tag_pages(void *p, size_t n)
{
    unsigned char t = bench_tag_of(p, n);
    unsigned char *b = (unsigned char *)p;
    for (size_t off = 0; off < n; off += BENCH_PAGE)
        b[off] = t;
    b[n - 1] = t;
    bench_escape(p);
}

static inline void bench_check(const void *p, size_t n)
{
    unsigned char t = bench_tag_of(p, n);
    const unsigned char *b = (const unsigned char *)p;
    if (b[0] != t || b[n - 1] != t)
        bench_die("block %p of %zu bytes was overwritten while live", p, n);
}

static inline void bench_check_pages(const void *p, size_t n)
{
    unsigned char t = bench_tag_of(p, n);
    const unsigned char *b = (const unsigned char *)p;
    for (size_t off = 0; off < n; off += BENCH_PAGE)
        if (b[off] != t)
            bench_die("block %p of %zu bytes was overwritten while live", p, n);
    if (b[n - 1] != t)
        bench_die("block %p of %zu bytes was overwritten while live", p, n);
}

/* Resident set now, in KiB, from /proc/self/statm (no stdio, no malloc). */
static inline long bench_rss_now_kb(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strchr(buf, ' ');
    if (!p)
        return -1;
    long pages = strtol(p + 1, NULL, 10);
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Highest resident set of this process so far, in KiB. */
static inline long bench_rss_peak_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

/* Prints the RESULT line; `extra` (may be NULL) is appended as is. */
static inline void bench_result(const char *name, int threads, uint64_t ops, double seconds,
                                const char *extra)
{
    printf("RESULT name=%s threads=%d ops=%llu seconds=%.6f ops_per_s=%.0f%s%s\n", name,
           threads, (unsigned long long)ops, seconds,
           seconds > 0 ? (double)ops / seconds : 0.0, extra ? " " : "", extra ? extra : "");
    fflush(stdout);
}

#endif
