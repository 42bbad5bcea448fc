/*
 * test_prof.c - the heap profiler (runtime/prof.h): the sampler's law
 * (exponential intervals of the configured mean, geometric block counts),
 * the estimate of a known allocation pattern, profiles written and
 * refused, frees forgetting samples, a fork child starting fresh.
 */
#include "test_util.h"

#include <errno.h>
#include <math.h>

#include "config/options.h"
#include "runtime/prof.h"
#include "runtime/prof_math.h"
#include "runtime/thread.h"
#include "small/heap.h"

Test(prof, math_matches_libm)
{
    for (double x = 1e-9; x <= 1.0; x *= 1.7)
        cr_assert_float_eq(hak_prof_ln(x), log(x), 1e-10 * fabs(log(x)) + 1e-12, "ln %g", x);
    for (double x = 1e-9; x < 800; x *= 1.9)
        cr_assert_float_eq(hak_prof_one_minus_exp_neg(x), -expm1(-x), 1e-11 * -expm1(-x),
                           "1-exp(-%g)", x);
}

Test(prof, intervals_have_the_configured_mean)
{
    uint64_t rng = 12345;
    enum { N = 400000 };
    const double mean = 524288;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < N; i++) {
        double x = hak_prof_draw_bytes(&rng, mean);
        cr_assert_gt(x, 0);
        sum += x;
        sum2 += x * x;
    }
    double m = sum / N, var = sum2 / N - m * m;
    /* Exponential: mean R (standard error R/sqrt(N) = 0.16%), sd R. */
    cr_assert_lt(fabs(m / mean - 1), 0.02, "mean interval %.0f for %.0f", m, mean);
    cr_assert_lt(fabs(sqrt(var) / mean - 1), 0.03, "sd %.0f", sqrt(var));
}

Test(prof, block_counts_are_geometric)
{
    uint64_t rng = 99;
    enum { N = 200000 };
    const double mean = 65536;
    const uint32_t sizes[] = { 16, 112, 1024, 32768 };
    for (unsigned k = 0; k < 4; k++) {
        double sum = 0;
        for (int i = 0; i < N; i++) {
            uint64_t n = hak_prof_draw_blocks(&rng, mean, sizes[k]);
            cr_assert_geq(n, 1);
            sum += (double)n;
        }
        /* 1/p blocks to the first sample, p = 1 - exp(-s/R). */
        double want = 1.0 / -expm1(-(double)sizes[k] / mean);
        cr_assert_lt(fabs(sum / N / want - 1), 0.02, "size %u: mean %.1f, want %.1f", sizes[k],
                     sum / N, want);
        cr_assert_float_eq(hak_prof_weight(sizes[k], mean), want, want * 1e-9);
    }
}

/* Each test turns the profiler off before its worker exits: no profile
 * at exit (tests/prof_e2e.sh checks that one). */
static void prof_stop(void) { hak_prof_on = false; }

/* Turn the profiler on in this test's process before its first heap. */
static void prof_start(int64_t rate, const char *prefix)
{
    int64_t v;
    cr_assert_null(hak_option_parse(HAK_OPT_HEAP_PROFILE_PREFIX, prefix, strlen(prefix), &v));
    hak_option_store(HAK_OPT_HEAP_PROFILE_PREFIX, v, HAK_SRC_API);
    hak_option_store(HAK_OPT_HEAP_PROFILE_SAMPLE, rate, HAK_SRC_API);
    hak_prof_init();
    cr_assert(hak_prof_active());
}

/* One thread's part of the known pattern: kept 48-byte blocks with churn
 * of the same class between them (a malloc/free loop must not hide the
 * sample points), and kept Large blocks. */
enum { PATTERN_SMALL = 40000, PATTERN_LARGE = 400, PATTERN_THREADS = 4 };

static void *pattern_run(void *arg)
{
    void **keep = arg;
    size_t k = 0;
    for (size_t i = 0; i < PATTERN_SMALL; i++) {
        keep[k++] = hak_malloc(48);
        for (int j = 0; j < 3; j++)
            hak_free(hak_malloc(40));
    }
    for (size_t i = 0; i < PATTERN_LARGE; i++)
        keep[k++] = hak_malloc(40000);
    return NULL;
}

Test(prof, estimate_of_a_known_pattern_is_within_10_percent, .timeout = 120, .fini = prof_stop)
{
    char dir[] = "/tmp/hakmem-prof-test.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s/t", dir);
    prof_start(2048, prefix);
    typedef void *keep_t[PATTERN_SMALL + PATTERN_LARGE];
    keep_t *keep = calloc(PATTERN_THREADS, sizeof(keep_t));
    cr_assert_not_null(keep);
    test_run_threads(PATTERN_THREADS, pattern_run, keep, sizeof(keep_t));
    size_t large = hak_malloc_usable_size(keep[0][PATTERN_SMALL]);
    double truth = PATTERN_THREADS * ((double)PATTERN_SMALL * 48 + (double)PATTERN_LARGE * (double)large);
    uint64_t rate, samples, bytes, dumps;
    hak_prof_summary(&rate, &samples, &bytes, &dumps);
    cr_assert_eq(rate, 2048);
    cr_assert_lt(fabs((double)bytes / truth - 1), 0.10, "estimate %llu, true %.0f",
                 (unsigned long long)bytes, truth);
    char path[512];
    cr_assert_eq(hak_prof_dump(path, sizeof path), 0);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[256];
    cr_assert_not_null(fgets(line, sizeof line, f));
    unsigned long long n1, s1, n2, s2;
    cr_assert_eq(sscanf(line, "heap profile: %llu: %llu [%llu: %llu] @ heapprofile", &n1, &s1,
                        &n2, &s2), 4, "%s", line);
    cr_assert_lt(fabs((double)s1 / truth - 1), 0.10, "profile says %llu, true %.0f", s1, truth);
    cr_assert_gt(s2, s1, "the churn is in the allocated totals");
    bool maps = false;
    while (fgets(line, sizeof line, f))
        maps |= strcmp(line, "MAPPED_LIBRARIES:\n") == 0;
    cr_assert(maps);
    fclose(f);
    unlink(path);
    rmdir(dir);
}

static size_t prof_test_size(int i) { return (size_t)(i % 5 == 0 ? 50000 : 16 + i % 900); }

static void *free_all(void *arg)
{
    void **p = arg;
    for (int i = 0; p[i]; i++)
        hak_free(p[i]);
    return NULL;
}

Test(prof, freed_blocks_leave_the_profile, .timeout = 60, .fini = prof_stop)
{
    prof_start(1024, "/tmp/hakmem-prof-unused");
    enum { N = 20000 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = hak_malloc(prof_test_size(i));
    uint64_t rate, samples, bytes, dumps;
    hak_prof_summary(&rate, &samples, &bytes, &dumps);
    cr_assert_gt(samples, 100);
    /* Freed in every way: free, free_sized, realloc moves, by another thread. */
    for (int i = 0; i < N; i += 4)
        hak_free(p[i]);
    for (int i = 1; i < N; i += 4)
        hak_free_sized(p[i], prof_test_size(i));
    for (int i = 2; i < N; i += 4)
        hak_free(hak_realloc(p[i], 3000));
    static void *rest[N / 4 + 1];
    for (int i = 3, k = 0; i < N; i += 4)
        rest[k++] = p[i];
    test_run_threads(1, free_all, rest, 0);
    hak_prof_summary(&rate, &samples, &bytes, &dumps);
    cr_assert_eq(samples, 0, "%llu samples left", (unsigned long long)samples);
    cr_assert_eq(bytes, 0);
}

Test(prof, bad_prefixes_give_an_error_and_nothing_else, .timeout = 60, .fini = prof_stop)
{
    prof_start(4096, "/nonexistent-dir/sub/x");
    for (int i = 0; i < 10000; i++)
        hak_malloc(100);
    char path[4096];
    cr_assert_eq(hak_prof_dump(path, sizeof path), ENOENT);
    cr_assert_eq(strncmp(path, "/nonexistent-dir/sub/x.", 23), 0, "%s", path);
    static char longp[3000];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    int64_t v;
    cr_assert_null(hak_option_parse(HAK_OPT_HEAP_PROFILE_PREFIX, longp, strlen(longp), &v));
    hak_option_store(HAK_OPT_HEAP_PROFILE_PREFIX, v, HAK_SRC_API);
    cr_assert_eq(hak_prof_dump(path, 256), ENAMETOOLONG);
    int err = hak_prof_dump(path, sizeof path);
    cr_assert(err == ENAMETOOLONG || err == ENOENT, "err %d", err);
    /* The process goes on allocating. */
    void *q = hak_malloc(1000);
    cr_assert_not_null(q);
    hak_free(q);
}

Test(prof, fork_child_starts_a_fresh_profile, .timeout = 60, .fini = prof_stop)
{
    prof_start(1024, "/tmp/hakmem-prof-unused");
    for (int i = 0; i < 5000; i++)
        hak_malloc(200);
    uint64_t rate, samples, bytes, dumps;
    hak_prof_summary(&rate, &samples, &bytes, &dumps);
    cr_assert_gt(samples, 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        hak_prof_summary(&rate, &samples, &bytes, &dumps);
        if (samples != 0 || bytes != 0)
            _exit(1);
        for (int i = 0; i < 5000; i++)
            hak_malloc(200);
        hak_prof_summary(&rate, &samples, &bytes, &dumps);
        prof_stop();
        _exit(samples > 0 ? 0 : 2);
    }
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

Test(prof, growth_interval_writes_a_profile_per_step, .timeout = 60, .fini = prof_stop)
{
    char dir[] = "/tmp/hakmem-prof-growth.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s/g", dir);
    prof_start(4096, prefix);
    hak_option_store(HAK_OPT_HEAP_PROFILE_INTERVAL, 1 << 20, HAK_SRC_API);
    uint64_t rate, samples, bytes, dumps;
    hak_prof_background();
    hak_prof_summary(&rate, &samples, &bytes, &dumps);
    cr_assert_eq(dumps, 0, "a profile before any growth");
    /* About 4 MiB kept: the background check writes one profile per call
     * while the estimate has grown by 1 MiB since the last one. */
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 1024; k++)
            hak_malloc(1024);
        hak_prof_background();
    }
    hak_prof_summary(&rate, &samples, &bytes, &dumps);
    cr_assert_geq(dumps, 2, "%llu profiles for %llu bytes", (unsigned long long)dumps,
                  (unsigned long long)bytes);
    cr_assert_leq(dumps, 4);
    hak_prof_background();
    uint64_t again;
    hak_prof_summary(&rate, &samples, &bytes, &again);
    cr_assert_eq(again, dumps, "a profile without growth");
    char path[256];
    snprintf(path, sizeof path, "%s/g.%d.1.heap", dir, (int)getpid());
    cr_assert_eq(access(path, R_OK), 0, "%s", path);
    for (uint64_t k = 1; k <= dumps; k++) {
        snprintf(path, sizeof path, "%s/g.%d.%llu.heap", dir, (int)getpid(), (unsigned long long)k);
        unlink(path);
    }
    rmdir(dir);
}

/* The sampling windows keep every cache at cap 0 (prof_heap.c); threads
 * that come and go resize the caches' shared budget (runtime/thread.c),
 * which must leave a profiled heap's caps alone. */
static void assert_caps_zero(hak_heap *h, const char *when)
{
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++)
        cr_assert_eq(hak_heap_cache_cap(h, c), 0, "%s: class %u has cap %u", when, c,
                     hak_heap_cache_cap(h, c));
}

Test(prof, threads_coming_and_going_leave_the_windows_alone, .timeout = 60, .fini = prof_stop)
{
    prof_start(1024, "/tmp/hakmem-prof-unused");
    hak_free(hak_malloc(100));
    hak_heap *h = hak_heap_current();
    assert_caps_zero(h, "profiled heap");
    test_parked parked;
    test_park_threads(&parked, TEST_THREADS, NULL);
    hak_thread_maintain(h);
    assert_caps_zero(h, "nine heaps");
    test_unpark_threads(&parked);
    hak_thread_maintain(h);
    assert_caps_zero(h, "back to one heap");
}
