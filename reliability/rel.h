/*
 * rel.h - what the reliability programs share.
 *
 * The programs in reliability/ are plain C programs: they call only the
 * standard allocation functions and never link hakmem.  reliability/run.sh
 * runs them with LD_PRELOAD=libhakmem.so.0, exactly as a program runs
 * under a system-wide preload, and some of them also under the C
 * library's allocator for comparison figures.  hakmem's own functions
 * (statistics) are found with dlsym, so a program knows whether hakmem is
 * the allocator it is measuring.
 *
 * Each program prints its figures on stdout, one "name: key=value ..."
 * line per measurement, and on a failed check one line "FAIL: ..." on
 * stderr and exits with status 1.  Every program arms a watchdog
 * (alarm), so a deadlock ends as a failure, not as a hung CI step.
 */
#ifndef HAKMEM_REL_H
#define HAKMEM_REL_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hakmem.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

__attribute__((noreturn, format(printf, 1, 2))) static inline void rel_fail(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof buf - 1)
        n = (int)sizeof buf - 1;
    /* One write: the line stays whole even if several processes fail. */
    char line[1100];
    int m = snprintf(line, sizeof line, "FAIL: %.*s\n", n, buf);
    if (write(2, line, (size_t)m) < 0)
        _exit(1);
    _exit(1);
}

#define REL_CHECK(cond, ...)        \
    do {                            \
        if (!(cond))                \
            rel_fail(__VA_ARGS__);  \
    } while (0)

static inline double rel_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void rel_nap_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Field `i` of /proc/self/statm (0: VmSize, 1: resident) in bytes, read
 * without allocating; 0 if unreadable. */
static inline size_t rel_statm(int i)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    unsigned long f[2] = { 0, 0 };
    if (sscanf(buf, "%lu %lu", &f[0], &f[1]) != 2)
        return 0;
    return (size_t)f[i] * (size_t)sysconf(_SC_PAGESIZE);
}

/* Resident set size in bytes. */
static inline size_t rel_rss(void) { return rel_statm(1); }

/* Address space in use (VmSize), bytes. */
static inline size_t rel_vmsize(void) { return rel_statm(0); }

static inline double rel_mib(size_t bytes) { return (double)bytes / (double)MiB; }

/* hakmem's functions when hakmem is the allocator (preloaded), else NULL. */
typedef int (*rel_stats_fn)(struct hak_stats *);
static inline rel_stats_fn rel_hakmem_stats(void)
{
    return (rel_stats_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "hak_stats_get");
}

static inline int rel_hakmem_loaded(void) { return rel_hakmem_stats() != NULL; }

/* xorshift64*. */
static inline uint64_t rel_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Pattern derived from the block's seed: the first and last 8 bytes and
 * one byte in every page (so every page of the block is touched, and
 * resident), cheap enough for large blocks.  rel_check checks the same
 * bytes: it catches overlapping blocks and corruption. */
static inline void rel_fill(void *p, size_t n, uint64_t seed)
{
    unsigned char *c = p;
    unsigned char v = (unsigned char)((seed & 0xff) | 1);
    for (size_t i = 8; i + 8 < n; i += 4096)
        c[i] = v;
    if (n >= 8)
        memcpy(c, &seed, 8);
    if (n >= 16)
        memcpy(c + n - 8, &seed, 8);
}

static inline int rel_check(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *c = p;
    unsigned char v = (unsigned char)((seed & 0xff) | 1);
    uint64_t w;
    if (n >= 8) {
        memcpy(&w, c, 8);
        if (w != seed)
            return 0;
    }
    if (n >= 16) {
        memcpy(&w, c + n - 8, 8);
        if (w != seed)
            return 0;
    }
    for (size_t i = 8; i + 8 < n; i += 4096)
        if (c[i] != v)
            return 0;
    return 1;
}

/* The compiler must not elide a malloc/free pair or a store. */
static inline void *rel_escape(void *p)
{
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}

static inline long rel_env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

#endif
