/*
 * test_oom.c - out of memory under RLIMIT_AS: every allocation function in
 * every tier returns NULL with errno ENOMEM (posix_memalign returns
 * ENOMEM), nothing crashes, aborts or deadlocks, memory freed under the
 * limit serves again (in another tier too, for Large and Huge), and the
 * allocator works once the limit is raised.  The cases are shared with the
 * preload program reliability/oom.c (reliability/oom_cases.h); each runs in
 * a child process with its own limit and a watchdog.
 *
 * Not under AddressSanitizer: it reserves terabytes of address space for
 * its shadow memory, so an address-space limit cannot be set.
 */
#include "test_util.h"

#include <malloc.h>

#include "config/options.h"

#define OOM_FN(name) hak_##name
#include "oom_cases.h"

static void no_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("RLIMIT_AS cannot be used under AddressSanitizer");
#endif
}

TestSuite(oom, .init = no_asan, .timeout = 120);

static void expect_ok(int status, const char *err, const char *what)
{
    cr_assert(WIFEXITED(status) || WIFSIGNALED(status), "%s: bad wait status %#x", what, status);
    if (WIFSIGNALED(status))
        cr_assert_fail("%s: the child was killed by signal %d%s; stderr: %s", what, WTERMSIG(status),
                       WTERMSIG(status) == SIGALRM ? " (watchdog: a deadlock)" : "", err);
    cr_assert_eq(WEXITSTATUS(status), 0, "%s: %s", what, err);
}

static void every_tier(int fn)
{
    for (int tier = 0; tier < OOM_TIERS; tier++) {
        char err[4096], what[64];
        snprintf(what, sizeof what, "%s/%s", oom_fn_name[fn], oom_tier_name[tier]);
        expect_ok(oom_run_in_child(oom_case, fn, tier, err, sizeof err, 60), err, what);
    }
}

Test(oom, malloc) { every_tier(OOM_MALLOC); }
Test(oom, calloc) { every_tier(OOM_CALLOC); }
Test(oom, realloc_grow) { every_tier(OOM_REALLOC); }
Test(oom, reallocarray_grow) { every_tier(OOM_REALLOCARRAY); }
Test(oom, posix_memalign) { every_tier(OOM_POSIX_MEMALIGN); }
Test(oom, aligned_alloc) { every_tier(OOM_ALIGNED_ALLOC); }
Test(oom, memalign) { every_tier(OOM_MEMALIGN); }
Test(oom, valloc) { every_tier(OOM_VALLOC); }
Test(oom, pvalloc) { every_tier(OOM_PVALLOC); }

/* A realloc that moves a block to grow asks for a quarter more room first;
 * when only the size asked for can be had, it moves to that.  A 20 KiB
 * Mid block grown by a byte needs the 24 KiB class and would get the
 * 28 KiB one: with memory exhausted in 28 KiB blocks and one 24 KiB block
 * freed, only the size asked for fits. */
static void realloc_room_case(int unused_a, int unused_b)
{
    (void)unused_a;
    (void)unused_b;
    char *p = hak_malloc(20000);
    void *spare = hak_malloc(20481);
    if (p == NULL || spare == NULL)
        oom_fail("no memory before the limit");
    size_t u = hak_malloc_usable_size(p);
    if (u != 20480 || hak_malloc_usable_size(spare) != 24576)
        oom_fail("classes changed: %zu and %zu", u, hak_malloc_usable_size(spare));
    memset(p, 0x5a, 20000);
    oom_limit();
    size_t n = 0;
    while (n < OOM_MAX_BLOCKS && (oom_blocks[n] = hak_malloc(u + u / 4)) != NULL)
        n++;
    if (n == OOM_MAX_BLOCKS)
        oom_fail("%zu blocks of %zu bytes and no failure", n, u + u / 4);
    hak_free(spare);
    char *q = hak_realloc(p, u + 1);
    if (q == NULL)
        oom_fail("realloc to %zu failed with a %zu-byte block free", u + 1, (size_t)24576);
    for (size_t i = 0; i < 20000; i++)
        if ((unsigned char)q[i] != 0x5a)
            oom_fail("realloc lost byte %zu", i);
    hak_free(q);
    while (n > 0)
        hak_free(oom_blocks[--n]);
    oom_unlimit();
}

Test(oom, realloc_moves_without_room_when_short)
{
    char err[4096];
    expect_ok(oom_run_in_child(realloc_room_case, 0, 0, err, sizeof err, 60), err,
              "realloc short of room");
}

/* Eight threads run out at once, each in every tier. */
Test(oom, threads_at_once)
{
    char err[4096];
    expect_ok(oom_run_in_child(oom_threads_entry, OOM_MALLOC, 0, err, sizeof err, 60), err,
              "8 threads");
}

/* The same with posix_memalign: each failure returns ENOMEM and leaves
 * errno at ENOMEM (glibc's tst-malloc-thread-fail). */
Test(oom, threads_at_once_posix_memalign)
{
    char err[4096];
    expect_ok(oom_run_in_child(oom_threads_entry, OOM_POSIX_MEMALIGN, 0, err, sizeof err, 60), err,
              "8 threads, posix_memalign");
}

/* Memory freed while the address space is exhausted (the background
 * thread cannot be created then), limit raised, a new peak freed: the
 * program goes idle and its memory must still decay. */
Test(oom, decay_resumes_after_oom)
{
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 100;
    char err[4096];
    expect_ok(oom_run_in_child(oom_decay_case, 100, 0, err, sizeof err, 60), err, "decay");
}

/* A request no mapping can satisfy fails at once, in every function. */
Test(oom, impossible_sizes_fail_cleanly)
{
    size_t huge = (size_t)1 << 62;
    void *p = (void *)1;
    errno = 0;
    cr_assert_null(hak_malloc(huge));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(hak_calloc(huge / 16, 16));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(hak_aligned_alloc(64, huge));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(hak_memalign(4096, huge));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(hak_valloc(huge));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(hak_pvalloc(huge));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(hak_posix_memalign(&p, 64, huge), ENOMEM);
    cr_assert_eq(p, (void *)1, "posix_memalign wrote *out on failure");
    void *q = hak_malloc(100);
    cr_assert_not_null(q);
    errno = 0;
    cr_assert_null(hak_realloc(q, huge));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(hak_reallocarray(q, huge / 8, 8));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_geq(hak_malloc_usable_size(q), 100, "the block of a failed realloc is gone");
    hak_free(q);
}
