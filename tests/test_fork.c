/*
 * test_fork.c - fork while other threads allocate: the child can allocate
 * (no lock left held), from the main thread and from a non-main thread.
 *
 * Hundreds of forks against eight busy threads take tens of seconds on a
 * loaded two-core machine (34 s measured under CI-like load, and more the
 * busier it is), so no limit bounds a test's total time: each fork and
 * each child re-arms a watchdog of FORK_STALL_S, which only a fork that
 * never completes (a lock left held) can outlast.
 */
#include "test_util.h"

#include <stdatomic.h>

#include "base/size_class.h"
#include "runtime/thread.h"
#include "small/heap.h"

static atomic_int fork_stop;

#define FORK_STALL_S 120

static void *busy_allocator(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg + 1;
    void *slot[64] = { 0 };
    while (!atomic_load(&fork_stop)) {
        unsigned i = (unsigned)(test_rand(&rng) % 64);
        hak_free(slot[i]);
        size_t r = test_rand(&rng) % 100;
        size_t size = r < 80 ? test_rand(&rng) % 1024 : r < 95 ? test_rand(&rng) % 32768
                                                              : 40000 + test_rand(&rng) % 2000000;
        slot[i] = hak_malloc(size);
    }
    for (int i = 0; i < 64; i++)
        hak_free(slot[i]);
    return NULL;
}

static void *child_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        hak_free(hak_malloc((size_t)i * 13));
    return NULL;
}

/* What a child does: allocate in every tier, run a thread, exit. */
static int child_work(void)
{
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = hak_malloc(i < 90 ? (size_t)i * 300 : (size_t)i * 40000);
    for (int i = 0; i < 100; i++)
        if (p[i] == NULL)
            return 1;
    for (int i = 0; i < 100; i++)
        hak_free(p[i]);
#ifdef __SANITIZE_ADDRESS__
    /* GCC 12's AddressSanitizer allocator is not fork-safe: a thread
     * created in the child can block forever on an ASan allocator lock
     * that a parent thread held at fork time (seen in gdb, inside
     * SizeClassAllocator64::GetFromAllocator).  The sanitizer build does the
     * thread's work inline; the normal build runs it in a thread. */
    child_thread(NULL);
#else
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0)
        return 2;
    pthread_join(t, NULL);
#endif
    return 0;
}

static void fork_many(int n)
{
    for (int i = 0; i < n; i++) {
        test_progress_watchdog(FORK_STALL_S);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            test_progress_watchdog(FORK_STALL_S);
            _exit(child_work());
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status), "child %d died (signal %d)", i,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        cr_assert_eq(WEXITSTATUS(status), 0);
    }
}

Test(fork, with_allocating_threads)
{
    test_progress_watchdog(FORK_STALL_S);
    pthread_t tid[TEST_THREADS];
    for (intptr_t i = 0; i < TEST_THREADS; i++)
        cr_assert_eq(pthread_create(&tid[i], NULL, busy_allocator, (void *)i), 0);
    fork_many(200);
    atomic_store(&fork_stop, 1);
    for (int i = 0; i < TEST_THREADS; i++)
        pthread_join(tid[i], NULL);
}

static void *forking_thread(void *arg)
{
    (void)arg;
    fork_many(50);
    return NULL;
}

Test(fork, from_a_non_main_thread)
{
    test_progress_watchdog(FORK_STALL_S);
    pthread_t tid[4];
    for (intptr_t i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&tid[i], NULL, busy_allocator, (void *)i), 0);
    pthread_t f;
    cr_assert_eq(pthread_create(&f, NULL, forking_thread, NULL), 0);
    pthread_join(f, NULL);
    atomic_store(&fork_stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(tid[i], NULL);
}

/* The child's watchdogs guard the parent's wait: a stalled grandchild
 * stalls the child, whose watchdog kills it. */
Test(fork, nested_children)
{
    hak_free(hak_malloc(100));
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        test_progress_watchdog(FORK_STALL_S);
        pthread_t t;
        pthread_create(&t, NULL, busy_allocator, NULL);
        int bad = 0;
        for (int i = 0; i < 20 && !bad; i++) {
            test_progress_watchdog(FORK_STALL_S);
            pid_t c = fork();
            if (c == 0) {
                test_progress_watchdog(FORK_STALL_S);
                _exit(child_work());
            }
            int status;
            waitpid(c, &status, 0);
            bad = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        }
        atomic_store(&fork_stop, 1);
        pthread_join(t, NULL);
        _exit(bad);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The child has one thread: the other threads' heaps no longer count
 * against the caches' shared budget (runtime/thread.c), so the child's
 * caps are the configured ones again. */
Test(fork, child_counts_only_its_own_heap)
{
    test_progress_watchdog(FORK_STALL_S);
    unsigned cls = hak_tiny_class_of(100);
    hak_free(hak_malloc(100));
    hak_heap *h = hak_heap_current();
    uint32_t full = hak_heap_cache_cap(h, cls);
    test_parked parked;
    test_park_threads(&parked, TEST_THREADS, NULL);
    hak_thread_maintain(h);
    cr_assert_lt(hak_heap_cache_cap(h, cls), full, "nine heaps share the budget");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        test_progress_watchdog(FORK_STALL_S);
        if (hak_heap_live_count() != 1)
            _exit(3);
        hak_thread_maintain(h);
        _exit(hak_heap_cache_cap(h, cls) == full ? 0 : 4);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 0, "child: 3 = other heaps counted, 4 = caps not restored");
    test_unpark_threads(&parked);
}
