/*
 * test_util.h - helpers shared by the Criterion unit tests.
 *
 * Tests link the hak_-prefixed static library (libhakmem_core.la), so
 * Criterion itself keeps glibc's malloc.  The library constructor has run
 * in the test runner before it forks a worker per test, so a test starts
 * initialised (options read, keys set) but with no heap and no memory.
 */
#ifndef HAK_TEST_UTIL_H
#define HAK_TEST_UTIL_H

#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/options.h"
#include "config/secure.h"
#include "hakmem.h"

/* Multi-threaded tests oversubscribe the 2-core CI machine on purpose. */
#define TEST_THREADS 8

/* A deadlock must fail fast: SIGALRM kills the worker, Criterion reports
 * it as a crash.  For a short, single-threaded test. */
static inline void test_watchdog(unsigned seconds)
{
    alarm(seconds);
}

/* The watchdog of a test whose work takes long on a busy machine (threads
 * that oversubscribe the cores, hundreds of forks): call it at each step of
 * progress, from any thread.  A stall of `seconds` with no step fails the
 * test as test_watchdog does; slowness alone never does.  No Criterion
 * .timeout goes with it: that would bound the whole test's wall time. */
static inline void test_progress_watchdog(unsigned seconds)
{
    alarm(seconds);
}

typedef void *(*test_thread_fn)(void *);

static inline void test_run_threads(int n, test_thread_fn fn, void *args, size_t arg_size)
{
    pthread_t tid[64];
    cr_assert(n <= 64);
    for (int i = 0; i < n; i++)
        cr_assert_eq(pthread_create(&tid[i], NULL, fn, (char *)args + (size_t)i * arg_size), 0);
    for (int i = 0; i < n; i++)
        cr_assert_eq(pthread_join(tid[i], NULL), 0);
}

/* Threads that each make their heap (one malloc and free) and then wait,
 * holding it, until unparked: the caches' shared budget counts them
 * (runtime/thread.c).  while_parked, if set, runs in each of them (with
 * its index) once all hold their heaps, before they wait. */
typedef struct test_parked test_parked;
typedef struct test_parked_slot {
    test_parked *parked;
    unsigned index;
} test_parked_slot;
struct test_parked {
    pthread_t tid[64];
    test_parked_slot slot[64];
    unsigned n;
    void (*while_parked)(unsigned index);
    pthread_barrier_t started, release;
};

static inline void *test_parked_thread(void *arg)
{
    const test_parked_slot *s = arg;
    test_parked *p = s->parked;
    hak_free(hak_malloc(100));
    pthread_barrier_wait(&p->started);
    if (p->while_parked != NULL)
        p->while_parked(s->index);
    pthread_barrier_wait(&p->release);
    return NULL;
}

/* Returns once all n hold their heaps (while_parked may still run). */
static inline void test_park_threads(test_parked *p, unsigned n,
                                     void (*while_parked)(unsigned index))
{
    cr_assert(n <= 64);
    p->n = n;
    p->while_parked = while_parked;
    pthread_barrier_init(&p->started, NULL, n + 1);
    pthread_barrier_init(&p->release, NULL, n + 1);
    for (unsigned i = 0; i < n; i++) {
        p->slot[i] = (test_parked_slot){ .parked = p, .index = i };
        cr_assert_eq(pthread_create(&p->tid[i], NULL, test_parked_thread, &p->slot[i]), 0);
    }
    pthread_barrier_wait(&p->started);
}

/* Returns once all of them exited (their heaps back in the pool). */
static inline void test_unpark_threads(test_parked *p)
{
    pthread_barrier_wait(&p->release);
    for (unsigned i = 0; i < p->n; i++)
        cr_assert_eq(pthread_join(p->tid[i], NULL), 0);
    pthread_barrier_destroy(&p->started);
    pthread_barrier_destroy(&p->release);
}

/* xorshift64*: deterministic per-test randomness. */
static inline uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Fill / check a block with a pattern derived from a seed. */
static inline void test_fill(void *p, size_t n, uint64_t seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 8));
}

static inline int test_check(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != (unsigned char)(seed * 31 + i * 7 + (i >> 8)))
            return 0;
    return 1;
}

/* Blocks that carry their own seed and size, so that whoever frees one can
 * check it: a mark word every `stride` bytes from `first` (stopping short of
 * the last word) and one in the last word. */
struct test_tagged {
    uint64_t seed;
    uint64_t size;
};

static inline uint64_t test_tag_word(uint64_t seed, size_t off)
{
    return (seed * 0x9E3779B97F4A7C15ull) ^ off;
}

static inline void test_tag_block(void *p, size_t n, uint64_t seed, size_t first, size_t stride)
{
    struct test_tagged *t = p;
    t->seed = seed;
    t->size = n;
    char *c = p;
    for (size_t off = first; off + 16 <= n; off += stride) {
        uint64_t w = test_tag_word(seed, off);
        memcpy(c + off, &w, 8);
    }
    uint64_t last = test_tag_word(seed, n - 8);
    memcpy(c + n - 8, &last, 8);
}

/* Check the marks below `limit` (at most the block's size); 1 if intact. */
static inline int test_tag_check(const void *p, size_t limit, size_t first, size_t stride)
{
    const struct test_tagged *t = p;
    const char *c = p;
    size_t n = t->size;
    if (limit > n)
        return 0;
    for (size_t off = first; off + 8 <= limit && off + 16 <= n; off += stride) {
        uint64_t w;
        memcpy(&w, c + off, 8);
        if (w != test_tag_word(t->seed, off))
            return 0;
    }
    if (limit == n) {
        uint64_t w;
        memcpy(&w, c + n - 8, 8);
        if (w != test_tag_word(t->seed, n - 8))
            return 0;
    }
    return 1;
}

/* Hides a pointer from the compiler, so that it cannot reason about the
 * misuse a test commits with it. */
static void *volatile test_launder;
static inline void *hide(void *p)
{
    test_launder = p;
    return test_launder;
}

/* profile = secure, as initialisation would apply it: the preset values of
 * the keys nobody set, then the hardening switches and the size-class
 * lookup they need (config/secure.h).  A test starts with no heap and no
 * block, so calling this first is what the option does at start. */
static inline void test_profile_secure(void)
{
    hak_option_values[HAK_OPT_PROFILE] = 2;
    hak_options_apply_profile();
    hak_secure_init();
}

/* hak_malloc(n), asserted, its bytes set. */
static inline void *alloc_filled(size_t n)
{
    void *p = hak_malloc(n);
    cr_assert_not_null(p);
    memset(p, 0x5a, n);
    return p;
}

/* Run fn in a child process with stderr captured; returns the wait status
 * and copies up to cap-1 bytes of what the child wrote to stderr. */
static inline int test_run_child(void (*fn)(void), char *err, size_t cap)
{
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        alarm(30);
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(pipefd[0], err + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == cap - 1)
            break;
    }
    err[n] = 0;
    close(pipefd[0]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

#endif
