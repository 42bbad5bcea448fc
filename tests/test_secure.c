/*
 * test_secure.c - the secure profile's hardening (profile = secure turns on
 * all three) and the always-on link encoding:
 *
 *   guard_pages      running off either end of a Large or Huge block
 *                    faults at once (SIGSEGV), before and after realloc;
 *                    every usable byte stays writable
 *   zero_on_free     a freed block reads as zero (past the two words the
 *                    allocator keeps in it), by the owner or another thread
 *   random_freelist  a fresh slab hands its blocks out in a random order,
 *                    each exactly once, a different order in another process
 *   link encoding    free-list links are stored encoded with a key that
 *                    differs between processes
 *
 * A test starts with no heap and no memory (test_util.h), so switching a
 * hardening flag on at its start is what the option does at
 * initialisation.  The per-process checks run tests/key_probe twice.
 */
#include "test_util.h"

#include <errno.h>
#include <libgen.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "base/block.h"
#include "config/secure.h"
#include "base/segment_map.h"
#include "small/slab.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

#if defined(__SANITIZE_ADDRESS__)
/* A guard page fault must end the test with SIGSEGV, not with ASan's
 * report of it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "handle_segv=0"; }
#endif

static void no_core_dumps(void)
{
    struct rlimit rl = { 0, 0 };
    setrlimit(RLIMIT_CORE, &rl);
}

TestSuite(secure, .init = no_core_dumps, .timeout = 60);

static void guards_on(void) { hak_secure.guard_pages = true; }

/* This executable's mprotect: fails with ENOMEM (as the kernel does when a
 * process runs out of mappings) while `fail_mprotect` is set. */
static int fail_mprotect;
int mprotect(void *addr, size_t len, int prot)
{
    if (fail_mprotect) {
        errno = ENOMEM;
        return -1;
    }
    return (int)syscall(SYS_mprotect, addr, len, prot);
}

/* ---- guard pages ---- */

Test(secure, large_overflow_faults, .signal = SIGSEGV)
{
    guards_on();
    char *p = hak_malloc(100 * KiB);
    cr_assert_not_null(p);
    ((char *)hide(p))[hak_malloc_usable_size(p)] = 1;
}

Test(secure, large_underflow_faults_first_block_of_segment, .signal = SIGSEGV)
{
    guards_on();
    char *p = hak_malloc(100 * KiB);
    cr_assert_not_null(p);
    ((char *)hide(p))[-1] = 1;
}

Test(secure, large_underflow_faults_after_a_live_block, .signal = SIGSEGV)
{
    guards_on();
    char *a = hak_malloc(100 * KiB), *p = hak_malloc(100 * KiB);
    cr_assert_not_null(a);
    cr_assert_not_null(p);
    cr_assert_gt(p, a, "the second block is not after the first");
    ((char *)hide(p))[-1] = 1;
}

Test(secure, huge_overflow_faults, .signal = SIGSEGV)
{
    guards_on();
    char *p = hak_malloc(3 * MiB);
    cr_assert_not_null(p);
    ((char *)hide(p))[hak_malloc_usable_size(p)] = 1;
}

Test(secure, huge_underflow_faults, .signal = SIGSEGV)
{
    guards_on();
    char *p = hak_malloc(3 * MiB);
    cr_assert_not_null(p);
    ((char *)hide(p))[-1] = 1;
}

Test(secure, large_overflow_faults_after_realloc, .signal = SIGSEGV)
{
    guards_on();
    char *p = hak_malloc(40 * KiB);
    cr_assert_not_null(p);
    memset(p, 7, 40 * KiB);
    p = hak_realloc(p, 300 * KiB);
    cr_assert_not_null(p);
    cr_assert_eq(p[40 * KiB - 1], 7);
    ((char *)hide(p))[hak_malloc_usable_size(p)] = 1;
}

Test(secure, huge_overflow_faults_after_realloc_grow, .signal = SIGSEGV)
{
    guards_on();
    char *p = hak_malloc(2 * MiB);
    cr_assert_not_null(p);
    memset(p, 7, 2 * MiB);
    p = hak_realloc(p, 9 * MiB);
    cr_assert_not_null(p);
    cr_assert_eq(p[2 * MiB - 1], 7);
    ((char *)hide(p))[hak_malloc_usable_size(p)] = 1;
}

Test(secure, huge_overflow_faults_after_realloc_shrink, .signal = SIGSEGV)
{
    guards_on();
    char *p = hak_malloc(9 * MiB);
    cr_assert_not_null(p);
    p = hak_realloc(p, 3 * MiB);
    cr_assert_not_null(p);
    ((char *)hide(p))[hak_malloc_usable_size(p)] = 1;
}

/* No false positive: every usable byte of every block can be written,
 * blocks freed and reused keep working (their old guard page is lifted). */
Test(secure, usable_bytes_stay_writable)
{
    guards_on();
    const size_t sizes[] = { 33 * KiB, 100 * KiB, 640 * KiB, MiB, 2 * MiB + 5, 9 * MiB };
    for (int round = 0; round < 3; round++) {
        char *p[6];
        for (int i = 0; i < 6; i++) {
            p[i] = hak_malloc(sizes[i]);
            cr_assert_not_null(p[i]);
            size_t n = hak_malloc_usable_size(p[i]);
            cr_assert_geq(n, sizes[i]);
            memset(p[i], round + 1, n);
        }
        for (int i = 0; i < 6; i++)
            hak_free(p[i]);
    }
}

/* ---- zero on free ---- */

static void zero_on_free_on(void)
{
    hak_option_values[HAK_OPT_ZERO_ON_FREE] = 1;
    hak_secure_init();
}

/* Bytes [from, n) of a block read as zero. */
static int zero_from(const unsigned char *p, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++)
        if (((const volatile unsigned char *)p)[i] != 0)
            return 0;
    return 1;
}

static unsigned char *filled(size_t n)
{
    unsigned char *p = hak_malloc(n);
    cr_assert_not_null(p);
    memset(p, 0xa5, n);
    return p;
}

/* zero_on_free alone: the block is cleared but for the two words a freed
 * block keeps (free-list link, freed mark), and handed out again it reads
 * as zero (those two words are cleared when it is). */
Test(secure, zero_on_free_clears_every_small_and_large_block)
{
    zero_on_free_on();
    const size_t sizes[] = { 16, 100, 1024, 1500, 32 * KiB, 40 * KiB, 500 * KiB };
    for (int i = 0; i < 7; i++) {
        unsigned char *p = filled(sizes[i]);
        size_t n = hak_malloc_usable_size(p);
        hak_free(p);
        cr_assert(zero_from(p, 16, n), "a freed block of %zu bytes still holds data", sizes[i]);
        /* The block comes back within a slab's batch. */
        unsigned char *q[64];
        int k = 0;
        while (k < 64 && (q[k] = hak_malloc(sizes[i])) != p)
            k++;
        cr_assert_lt(k, 64, "the freed block of %zu bytes was not reused", sizes[i]);
        cr_assert(zero_from(q[k], 0, n), "reused block of %zu bytes", sizes[i]);
        for (int j = 0; j <= k; j++)
            hak_free(q[j]);
    }
}

static void *free_it(void *p)
{
    hak_free(p);
    return NULL;
}

Test(secure, zero_on_free_by_another_thread)
{
    zero_on_free_on();
    unsigned char *p = filled(200);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, free_it, p), 0);
    pthread_join(t, NULL);
    cr_assert(zero_from(p, 16, 200), "a block freed by another thread still holds data");
}

/* The control: without the option the data stays (so the test above can
 * tell the difference). */
Test(secure, without_zero_on_free_data_stays)
{
    unsigned char *p = filled(200);
    hak_free(p);
    cr_assert(!zero_from(p, 16, 200));
}

/* ---- the secure profile: canaries, quarantine, zero-size blocks ---- */

/* Another thread frees the block, then waits until the test looked (its
 * quarantine goes back to the slabs when it exits). */
static pthread_barrier_t looked;

static void *free_and_wait(void *p)
{
    hak_free(p);
    pthread_barrier_wait(&looked); /* freed */
    pthread_barrier_wait(&looked); /* looked at */
    return NULL;
}

/* A freed block reads as zero from its first byte to its last (canary
 * included), in every tier below Huge, freed by its owner or by another
 * thread (hardened_malloc's read_after_free_small and _large). */
Test(secure, profile_freed_blocks_read_zero_whole)
{
    test_profile_secure();
    pthread_barrier_init(&looked, NULL, 2);
    const size_t sizes[] = { 16, 100, 1000, 1500, 20 * KiB, 32 * KiB, 100 * KiB, 700 * KiB };
    for (int i = 0; i < 8; i++) {
        unsigned char *p = filled(sizes[i]);
        size_t n = hak_malloc_usable_size(p);
        hak_free(p);
        cr_assert(zero_from(p, 0, n), "freed block of %zu bytes", sizes[i]);
        p = filled(sizes[i]);
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, free_and_wait, p), 0);
        pthread_barrier_wait(&looked);
        int zero = zero_from(p, 0, n);
        pthread_barrier_wait(&looked);
        pthread_join(t, NULL);
        cr_assert(zero, "block of %zu bytes freed by another thread", sizes[i]);
    }
}

/* Every request fits before the canary: all of malloc_usable_size can be
 * written, by malloc, calloc, realloc and the aligned family, and the block
 * frees cleanly (no false report). */
Test(secure, profile_usable_bytes_stay_writable)
{
    test_profile_secure();
    for (size_t n = 0; n <= 2100; n++) {
        char *p = hak_malloc(n);
        cr_assert_not_null(p);
        size_t u = hak_malloc_usable_size(p);
        cr_assert_geq(u, n);
        memset(p, 0xff, u);
        char *q = hak_realloc(p, n + 700);
        cr_assert_not_null(q);
        memset(q, 0xee, hak_malloc_usable_size(q));
        hak_free(q);
        q = hak_calloc(1, n);
        memset(q, 0x11, hak_malloc_usable_size(q));
        hak_free(q);
    }
    for (size_t n = 2100; n <= 33 * KiB; n += 509) {
        char *p = hak_malloc(n);
        size_t u = hak_malloc_usable_size(p);
        cr_assert_geq(u, n);
        memset(p, 0xff, u);
        hak_free(p);
    }
    for (size_t align = 32; align <= 32 * KiB; align *= 2) {
        for (size_t n = align / 2; n <= 3 * align; n += align / 2) {
            void *p = NULL;
            cr_assert_eq(hak_posix_memalign(&p, align, n), 0);
            cr_assert_eq((uintptr_t)p & (align - 1), 0, "align %zu", align);
            size_t u = hak_malloc_usable_size(p);
            cr_assert_geq(u, n);
            memset(p, 0xcc, u);
            hak_free(p);
        }
    }
}

/* A Mid size with no room for the canary in the last Mid class (above
 * 32 KiB - 8) is served by a Large block (guard pages), of exactly its
 * Large class even when the run cache holds larger runs, and an aligned
 * one remembers its alignment for free_aligned_sized (both found by
 * fuzz_ops). */
Test(secure, profile_top_mid_sizes_from_the_large_tier)
{
    test_profile_secure();
    hak_free(hak_malloc(1));
    /* Runs one Large class up, pushed out of the quarantine into the run
     * cache: within its rounding limit for this request. */
    void *p[40];
    for (int i = 0; i < 40; i++)
        p[i] = hak_malloc(40 * KiB);
    for (int i = 0; i < 40; i++)
        hak_free(p[i]);
    size_t usable = 0;
    for (int i = 0; i < 40; i++) {
        p[i] = hak_malloc(32 * KiB - 4);
        cr_assert_not_null(p[i]);
        if (usable == 0)
            usable = hak_malloc_usable_size(p[i]);
        cr_assert_eq(hak_malloc_usable_size(p[i]), usable, "block %d", i);
    }
    for (int i = 0; i < 40; i++)
        hak_free(p[i]);
    void *a = NULL;
    cr_assert_eq(hak_posix_memalign(&a, 4096, 32 * KiB - 4), 0);
    cr_assert_eq((uintptr_t)a & 4095, 0);
    hak_free_aligned_sized(a, 4096, 32 * KiB - 4);
}

/* A freed block is not handed out again before `quarantine` later frees
 * of its class, and is once they happened. */
Test(secure, profile_quarantine_delays_reuse)
{
    test_profile_secure();
    hak_free(hak_malloc(128)); /* the heap exists: lookups are this profile's */
    for (int round = 0; round < 3; round++) {
        char *p = (char *)filled(128);
        hak_free(p);
        int reused_at = -1;
        for (int i = 0; i < 1000 && reused_at < 0; i++) {
            char *q = hak_malloc(128);
            if (q == p)
                reused_at = i;
            hak_free(q);
        }
        cr_assert_geq(reused_at, 64, "reused after %d frees of its class", reused_at);
    }
}

Test(secure, profile_zero_size_blocks_are_unique_and_empty)
{
    test_profile_secure();
    hak_free(hak_malloc(1));
    enum { N = 1000 };
    static char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = hak_malloc(0);
        cr_assert_not_null(p[i]);
        cr_assert_eq(hak_malloc_usable_size(p[i]), 0);
        for (int j = 0; j < i; j++)
            cr_assert_neq(p[i], p[j]);
    }
    void *z = hak_calloc(0, 8);
    cr_assert_not_null(z);
    cr_assert_eq(hak_malloc_usable_size(z), 0);
    hak_free(z);
    char *r = hak_realloc(p[0], 100);
    cr_assert_not_null(r);
    memset(r, 1, 100);
    hak_free(r);
    for (int i = 1; i < N; i++)
        hak_free(p[i]);
    struct hak_stats st;
    hak_stats_get(&st);
    cr_assert_eq(st.classes[0].allocs, st.classes[0].frees, "zero-size blocks are counted");
}

Test(secure, profile_zero_size_block_cannot_be_read, .signal = SIGSEGV)
{
    test_profile_secure();
    hak_free(hak_malloc(1));
    char *p = hak_malloc(0);
    cr_assert_not_null(p);
    cr_log_info("%d", *(volatile char *)hide(p));
}

Test(secure, profile_zero_size_block_cannot_be_written, .signal = SIGSEGV)
{
    test_profile_secure();
    hak_free(hak_malloc(1));
    char *p = hak_malloc(0);
    cr_assert_not_null(p);
    *(volatile char *)hide(p) = 5;
}

/* Blocks freed by other threads go to those threads' quarantines and come
 * back to their slabs when the threads exit: after every thread is done
 * and the memory is trimmed, nothing is in use and nothing leaked. */
static void *exchange_worker(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < 2000; i++) {
        hak_free(blocks[i]);
        blocks[i] = hak_malloc((size_t)(i % 50) * 40);
        memset(blocks[i], 3, hak_malloc_usable_size(blocks[i]));
    }
    return NULL;
}

Test(secure, profile_cross_thread_frees_balance)
{
    test_profile_secure();
    test_watchdog(50);
    static void *blocks[TEST_THREADS][2000];
    for (int t = 0; t < TEST_THREADS; t++)
        for (int i = 0; i < 2000; i++)
            blocks[t][i] = hak_malloc((size_t)(i % 37) * 50 + 1);
    test_run_threads(TEST_THREADS, exchange_worker, blocks, sizeof blocks[0]);
    for (int t = 0; t < TEST_THREADS; t++)
        for (int i = 0; i < 2000; i++)
            hak_free(blocks[t][i]);
    hak_malloc_trim(0);
    struct hak_stats st;
    hak_stats_get(&st);
    cr_assert_eq(st.tiers[HAK_TIER_TINY].bytes_in_use, 0);
    cr_assert_eq(st.tiers[HAK_TIER_MID].bytes_in_use, 0);
    cr_assert_eq(st.tiers[HAK_TIER_TINY].allocs, st.tiers[HAK_TIER_TINY].frees);
}

/* No guard page, no block: when mprotect fails the allocation fails with
 * ENOMEM and nothing leaks; once it works again, so does malloc. */
Test(secure, guard_page_failure_fails_the_allocation)
{
    guards_on();
    const size_t sizes[] = { 100 * KiB, 700 * KiB, 4 * MiB };
    for (int k = 0; k < 3; k++) {
        fail_mprotect = 1;
        errno = 0;
        void *p = hak_malloc(sizes[k]);
        fail_mprotect = 0;
        cr_assert_null(p, "%zu bytes: a block without its guard page", sizes[k]);
        cr_assert_eq(errno, ENOMEM);
        p = hak_malloc(sizes[k]);
        cr_assert_not_null(p);
        memset(p, 1, sizes[k]);
        hak_free(p);
    }
    struct hak_stats st;
    hak_stats_get(&st);
    cr_assert_eq(st.tiers[HAK_TIER_LARGE].bytes_in_use, 0);
    cr_assert_eq(st.tiers[HAK_TIER_HUGE].bytes_in_use, 0);
}

/* A guarded Huge block that cannot open its tail guard to grow stays as it
 * was: realloc fails, the old block keeps its contents and its guard. */
Test(secure, huge_realloc_keeps_the_block_when_the_guard_cannot_open)
{
    guards_on();
    char *p = hak_malloc(4 * MiB);
    cr_assert_not_null(p);
    memset(p, 7, 4 * MiB);
    fail_mprotect = 1;
    errno = 0;
    void *q = hak_realloc(p, 16 * MiB);
    fail_mprotect = 0;
    cr_assert_null(q);
    cr_assert_eq(errno, ENOMEM);
    for (size_t i = 0; i < 4 * MiB; i += 4096)
        cr_assert_eq(p[i], 7);
    q = hak_realloc(p, 16 * MiB);
    cr_assert_not_null(q);
    cr_assert_eq(((char *)q)[4 * MiB - 1], 7);
    hak_free(q);
}

/* ---- random free-list order ---- */

static void hand_out(uintptr_t *a, int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        a[i] = (uintptr_t)hak_malloc(size);
        cr_assert(a[i] != 0);
    }
}

Test(secure, without_random_freelist_a_fresh_slab_goes_in_address_order)
{
    uintptr_t a[64];
    hand_out(a, 64, 64);
    for (int i = 1; i < 64; i++)
        cr_assert_eq(a[i], a[i - 1] + 64);
}

Test(secure, random_freelist_shuffles_and_hands_out_each_block_once)
{
    hak_secure.random_freelist = true;
    /* The whole first slab of the 64-byte class: 1024 blocks. */
    enum { N = 1024 };
    static uintptr_t a[N];
    hand_out(a, N, 64);
    uintptr_t lo = a[0];
    int ascending = 0;
    for (int i = 0; i < N; i++) {
        if (a[i] < lo)
            lo = a[i];
        if (i && a[i] == a[i - 1] + 64)
            ascending++;
    }
    cr_assert_lt(ascending, N / 8, "%d of %d blocks follow their predecessor in address order",
                 ascending, N);
    static unsigned char seen[N];
    for (int i = 0; i < N; i++) {
        uintptr_t k = (a[i] - lo) / 64;
        cr_assert_eq((a[i] - lo) % 64, 0);
        cr_assert_lt(k, N, "block %d is outside the slab", i);
        cr_assert_eq(seen[k], 0, "block %lu handed out twice", (unsigned long)k);
        seen[k] = 1;
    }
    for (int i = 0; i < N; i++)
        hak_free((void *)a[i]);
}

/* A fork child draws its own shuffles: the parent's layout tells nothing of
 * the child's.  Both hand out the same fresh slab (the address space is a
 * copy), so the orders differ only if the child's generator was reseeded. */
Test(secure, fork_child_shuffles_differently)
{
    hak_secure.random_freelist = true;
    enum { N = 256 };
    hak_free(hak_malloc(96)); /* the heap exists before the fork */
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    uintptr_t a[N];
    hand_out(a, N, 96);
    if (pid == 0) {
        alarm(30);
        _exit(write(fd[1], a, sizeof a) == (ssize_t)sizeof a ? 0 : 1);
    }
    close(fd[1]);
    uintptr_t child[N];
    size_t got = 0;
    while (got < sizeof child) {
        ssize_t r = read(fd[0], (char *)child + got, sizeof child - got);
        cr_assert_gt(r, 0, "the child's order did not arrive");
        got += (size_t)r;
    }
    close(fd[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int same = 0;
    for (int i = 0; i < N; i++)
        same += a[i] == child[i];
    cr_assert_lt(same, N / 4, "%d of %d blocks came in the same order in parent and child", same, N);
}

/* ---- link encoding ---- */

/* A block on a slab's free list stores its link encoded: not the address
 * of the next block, but next ^ (its own address >> 12) ^ key. */
Test(secure, free_list_links_are_encoded)
{
    enum { N = 300 };
    void *b[N];
    for (int i = 0; i < N; i++)
        b[i] = hak_malloc(64);
    for (int i = 0; i < N; i++)
        hak_free(b[i]);
    /* The cache flushes its oldest blocks in order and the slab's local
     * lists take turns: b[HAK_SLAB_FREE_LISTS] went on the list b[0] went
     * on, right after it, so its link names b[0]. */
    enum { L = HAK_SLAB_FREE_LISTS };
    const hak_block *blk = b[L];
    cr_assert_neq(blk->link, (uintptr_t)b[0], "the link is stored in clear");
    cr_assert_eq(blk->link ^ ((uintptr_t)b[L] >> 12) ^ hak_keys.link, (uintptr_t)b[0]);
    cr_assert_neq(hak_keys.link, 0);
}

/* Run tests/key_probe (next to this test program) with env; its stdout. */
static void probe(const char *env, char *out, size_t cap)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(n, 0);
    self[n] = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/key_probe", dirname(self));
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        if (env)
            putenv((char *)env);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got < cap - 1 && (r = read(fd[0], out + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(fd[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed (status %#x)", path, status);
}

Test(secure, each_process_has_its_own_key_and_order)
{
    char a[2048], b[2048];
    probe("HAKMEM_RANDOM_FREELIST=1", a, sizeof a);
    probe("HAKMEM_RANDOM_FREELIST=1", b, sizeof b);
    char *a_order = strchr(a, '\n'), *b_order = strchr(b, '\n');
    cr_assert(a_order && b_order, "unexpected probe output: %s", a);
    *a_order++ = 0;
    *b_order++ = 0;
    cr_assert_str_neq(a, b, "two processes use the same link key %s", a);
    cr_assert_str_neq(a_order, b_order, "two processes hand out a fresh slab in the same order");
    /* Without the option both go in address order. */
    probe("HAKMEM_RANDOM_FREELIST=0", a, sizeof a);
    probe("HAKMEM_RANDOM_FREELIST=0", b, sizeof b);
    cr_assert_str_eq(strchr(a, '\n'), strchr(b, '\n'));
}
