/*
 * fork_stress.c - a parent with 8 threads allocating and freeing forks many
 * times (default 1000); each child allocates and frees in every tier (on
 * its main thread and on a new thread), frees blocks it inherited, checks
 * their contents and exits.  The last tenth of the forks come from a
 * non-main thread.
 *
 *   fork_stress [FORKS]
 *
 * A child that deadlocks (a lock held at fork time and never released in
 * the child) is killed by its own alarm; the parent has one too.  Fails if
 * any child does not exit 0 or any block's contents changed.
 */
#include "rel.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define THREADS 8
#define SLOTS 64

static atomic_int stop;
static atomic_long thread_ops;

static size_t any_size(uint64_t *rng)
{
    uint64_t r = rel_rand(rng) % 100;
    if (r < 70)
        return 1 + (size_t)(rel_rand(rng) % 1024);
    if (r < 92)
        return 1025 + (size_t)(rel_rand(rng) % (32 * KiB));
    if (r < 99)
        return 32 * KiB + (size_t)(rel_rand(rng) % MiB);
    return MiB + (size_t)(rel_rand(rng) % (2 * MiB));
}

static void *busy(void *arg)
{
    /* Lowest priority: the forking thread and its children (which inherit
     * its priority, not ours) get the CPU when they need it, and these
     * threads allocate whenever they do not. */
    setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 7;
    void *p[SLOTS] = { 0 };
    size_t n[SLOTS] = { 0 };
    long ops = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned i = (unsigned)(rel_rand(&rng) % SLOTS);
        if (p[i]) {
            REL_CHECK(rel_check(p[i], n[i], (uint64_t)(uintptr_t)p[i] ^ n[i]),
                      "fork_stress: parent thread block %p (%zu bytes) corrupted", p[i], n[i]);
            free(p[i]);
        }
        n[i] = any_size(&rng);
        p[i] = malloc(n[i]);
        REL_CHECK(p[i] != NULL, "fork_stress: malloc(%zu) failed in a parent thread", n[i]);
        rel_fill(p[i], n[i], (uint64_t)(uintptr_t)p[i] ^ n[i]);
        ops++;
    }
    for (int i = 0; i < SLOTS; i++)
        free(p[i]);
    atomic_fetch_add(&thread_ops, ops);
    return NULL;
}

/* Blocks the forking thread holds across every fork; children free them. */
static void *inherited[64];
static size_t inherited_n[64];

static void *child_thread(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < 200; i++) {
        size_t n = any_size(&rng);
        void *p = malloc(n);
        if (p == NULL)
            return (void *)1;
        rel_fill(p, n, n);
        if (!rel_check(p, n, n))
            return (void *)2;
        free(p);
    }
    return NULL;
}

static int child_work(int k)
{
    uint64_t rng = (uint64_t)k * 77 + 1;
    void *p[100];
    size_t n[100];
    for (int i = 0; i < 100; i++) {
        n[i] = any_size(&rng);
        p[i] = malloc(n[i]);
        if (p[i] == NULL)
            return 10;
        rel_fill(p[i], n[i], (uint64_t)i ^ n[i]);
    }
    for (int i = 0; i < 64; i++) {
        if (!rel_check(inherited[i], inherited_n[i], (uint64_t)(uintptr_t)inherited[i]))
            return 11;
        free(inherited[i]);
    }
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)(k + 1)) != 0)
        return 12;
    void *rc;
    pthread_join(t, &rc);
    if (rc != NULL)
        return 13;
    for (int i = 0; i < 100; i++) {
        if (!rel_check(p[i], n[i], (uint64_t)i ^ n[i]))
            return 14;
        free(p[i]);
    }
    return 0;
}

static int forks_total;

static void fork_range(int from, int to)
{
    for (int k = from; k < to; k++) {
        pid_t pid = fork();
        REL_CHECK(pid >= 0, "fork_stress: fork failed: %s", strerror(errno));
        if (pid == 0) {
            alarm(10);
            _exit(child_work(k));
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
            REL_CHECK(errno == EINTR, "fork_stress: waitpid: %s", strerror(errno));
        REL_CHECK(!WIFSIGNALED(status), "fork_stress: child %d killed by signal %d%s", k,
                  WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (watchdog: deadlock in the child)" : "");
        REL_CHECK(WEXITSTATUS(status) == 0, "fork_stress: child %d failed with status %d", k,
                  WEXITSTATUS(status));
    }
}

static void *forking_thread(void *arg)
{
    (void)arg;
    fork_range(forks_total - forks_total / 10, forks_total);
    return NULL;
}

int main(int argc, char **argv)
{
    alarm(240);
    setvbuf(stdout, NULL, _IOLBF, 0);
    forks_total = argc > 1 ? atoi(argv[1]) : 1000;
    for (int i = 0; i < 64; i++) {
        inherited_n[i] = (size_t)1 << (4 + i % 18);
        inherited[i] = malloc(inherited_n[i]);
        REL_CHECK(inherited[i] != NULL, "fork_stress: malloc failed");
        rel_fill(inherited[i], inherited_n[i], (uint64_t)(uintptr_t)inherited[i]);
    }
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        REL_CHECK(pthread_create(&t[i], NULL, busy, (void *)i) == 0, "pthread_create");
    double t0 = rel_now();
    fork_range(0, forks_total - forks_total / 10);
    pthread_t f;
    REL_CHECK(pthread_create(&f, NULL, forking_thread, NULL) == 0, "pthread_create");
    pthread_join(f, NULL);
    double secs = rel_now() - t0;
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 64; i++) {
        REL_CHECK(rel_check(inherited[i], inherited_n[i], (uint64_t)(uintptr_t)inherited[i]),
                  "fork_stress: an inherited block changed in the parent");
        free(inherited[i]);
    }
    printf("fork_stress: allocator=%s forks=%d threads=%d seconds=%.2f forks_per_s=%.0f "
           "parent_thread_ops=%ld\n",
           rel_hakmem_loaded() ? "hakmem" : "libc", forks_total, THREADS, secs,
           forks_total / secs, atomic_load(&thread_ops));
    return 0;
}
