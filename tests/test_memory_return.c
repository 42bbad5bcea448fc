/*
 * test_memory_return.c - free memory goes back to the OS.
 *
 * RSS is read from /proc/self/statm.  "Within the purge delay": after the
 * last free the test polls RSS every 5 ms (reading /proc is not an
 * allocator call) until it is within SLACK of the starting RSS, and fails
 * past a deadline of 1.25 delays + 500 ms.  Why that deadline: memory
 * becomes due for purging purge_delay_ms after it was freed, and the
 * background thread looks for due memory four times per delay (so at most
 * a quarter delay late); the 500 ms cover the purge itself (madvise of a
 * few hundred MiB) and scheduling on a loaded two-core CI machine where
 * Criterion runs tests in parallel.  The purge delay used is 200 ms.
 *
 * The full-size version (1 GiB over all tiers, random free order, through
 * the preloaded library) is reliability/memreturn.c in make check-preload.
 */
#include "test_util.h"

#include <fcntl.h>
#include <time.h>

#include "config/options.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define DELAY_MS 200
#define SLACK (32 * MiB)
#define DEADLINE_MS (DELAY_MS * 5 / 4 + 500)

static size_t rss(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    cr_assert(n > 0);
    buf[n] = 0;
    unsigned long size, resident;
    cr_assert_eq(sscanf(buf, "%lu %lu", &size, &resident), 2);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void nap_5ms(void)
{
    struct timespec ts = { 0, 5 * 1000 * 1000 };
    nanosleep(&ts, NULL);
}

static double mib(size_t b) { return (double)b / (double)MiB; }

static void setup(void)
{
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = DELAY_MS;
    hak_option_values[HAK_OPT_PURGE_MODE] = 0;
    hak_option_values[HAK_OPT_RETAIN_MAX] = (int64_t)256 << 20;
}

TestSuite(memory_return, .init = setup, .timeout = 60);

/* ---- a peak over every tier ---- */

struct peak {
    void **p;
    size_t n, bytes;
};

/* `total` bytes, a quarter per tier, every page touched. */
static struct peak peak_alloc(size_t total, uint64_t seed)
{
    struct peak pk = { NULL, 0, 0 };
    size_t cap = 1 << 20;
    pk.p = malloc(cap * sizeof *pk.p); /* glibc's: not part of what we measure */
    cr_assert_not_null(pk.p);
    uint64_t rng = seed;
    for (int tier = 0; tier < 4; tier++) {
        size_t have = 0;
        while (have < total / 4) {
            uint64_t r = test_rand(&rng);
            size_t n = tier == 0   ? 16 + r % 1009
                       : tier == 1 ? 1025 + r % (31 * KiB)
                       : tier == 2 ? 32 * KiB + 1 + r % (MiB - 32 * KiB)
                                   : MiB + 1 + r % (4 * MiB);
            cr_assert_lt(pk.n, cap);
            char *b = hak_malloc(n);
            cr_assert_not_null(b);
            for (size_t i = 0; i < n; i += 4096)
                b[i] = 1;
            b[n - 1] = 1;
            pk.p[pk.n++] = b;
            have += n;
        }
        pk.bytes += have;
    }
    return pk;
}

static void peak_free(struct peak *pk, int random_order, uint64_t seed)
{
    if (random_order) {
        uint64_t rng = seed;
        for (size_t i = pk->n; i > 1; i--) {
            size_t j = (size_t)(test_rand(&rng) % i);
            void *t = pk->p[i - 1];
            pk->p[i - 1] = pk->p[j];
            pk->p[j] = t;
        }
    }
    for (size_t i = 0; i < pk->n; i++)
        hak_free(pk->p[i]);
    free(pk->p);
    pk->p = NULL;
    pk->n = 0;
}

/* Poll until RSS <= target; returns the milliseconds it took (asserts it
 * happened by the deadline).  busy: a few allocator calls between reads. */
static double wait_rss(size_t target, int busy, const char *what)
{
    double t0 = now_ms();
    size_t r = rss();
    while (r > target) {
        double ms = now_ms() - t0;
        cr_assert_leq(ms, DEADLINE_MS,
                      "%s: RSS %.1f MiB still above %.1f MiB %.0f ms after the last free "
                      "(purge delay %d ms)", what, mib(r), mib(target), ms, DELAY_MS);
        if (busy)
            for (int i = 0; i < 16; i++)
                hak_free(hak_malloc(24 + (size_t)i * 100));
        nap_5ms();
        r = rss();
    }
    return now_ms() - t0;
}

static void decay_case(int random_order, int busy, const char *what)
{
    size_t start = rss();
    struct peak pk = peak_alloc(256 * MiB, 42);
    size_t high = rss();
    cr_assert_geq(high, start + 200 * MiB, "the peak is not resident (%.1f MiB)", mib(high));
    struct hak_stats s0;
    hak_stats_get(&s0);
    peak_free(&pk, random_order, 7);
    double ms = wait_rss(start + SLACK, busy, what);
    struct hak_stats s1;
    hak_stats_get(&s1);
    cr_log_info("%s: start %.1f MiB, peak %.1f MiB, within %.0f MiB of the start %.0f ms after "
                "the last free", what, mib(start), mib(high), mib(SLACK), ms);
    cr_assert_gt(s1.bytes_purged, s0.bytes_purged, "%s: nothing was purged", what);
}

/* The program keeps making a few calls. */
Test(memory_return, decay_within_purge_delay)
{
    decay_case(0, 1, "decay");
}

/* No allocator call at all after the last free: the background thread. */
Test(memory_return, decay_while_idle)
{
    decay_case(0, 0, "idle");
}

/* Objects die in no particular order and the program then makes no call:
 * the thread caches must not keep a block of every slab resident (the
 * free-run drain, heap.h). */
Test(memory_return, decay_after_random_order_free)
{
    size_t start = rss();
    struct peak pk = peak_alloc(256 * MiB, 43);
    peak_free(&pk, 1, 9);
    double ms = wait_rss(start + SLACK, 0, "random order");
    cr_log_info("random order: within %.0f MiB after %.0f ms", mib(SLACK), ms);
}

/* Retained memory below retain_max waits for the delay: it is still
 * resident right after free (that is what the delay is for). */
Test(memory_return, memory_waits_for_the_delay)
{
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;
    size_t start = rss();
    struct peak pk = peak_alloc(128 * MiB, 44);
    peak_free(&pk, 0, 0);
    size_t after = rss();
    cr_assert_geq(after, start + 64 * MiB,
                  "RSS fell to %.1f MiB at once with an hour's purge delay", mib(after));
    /* malloc_trim gives it back now. */
    cr_assert_eq(hak_malloc_trim(0), 1);
    size_t trimmed = rss();
    cr_assert_leq(trimmed, start + SLACK, "RSS %.1f MiB after malloc_trim, %.1f MiB at start",
                  mib(trimmed), mib(start));
}

/* malloc_trim(0) returns everything free at once, whatever the order. */
Test(memory_return, malloc_trim_returns_everything)
{
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;
    size_t start = rss();
    struct peak pk = peak_alloc(256 * MiB, 45);
    peak_free(&pk, 1, 11);
    hak_option_values[HAK_OPT_RETAIN_MAX] = (int64_t)1 << 40;
    double t0 = now_ms();
    cr_assert_eq(hak_malloc_trim(0), 1);
    double ms = now_ms() - t0;
    size_t trimmed = rss();
    cr_log_info("malloc_trim: %.1f ms, RSS %.1f MiB (start %.1f)", ms, mib(trimmed), mib(start));
    cr_assert_leq(trimmed, start + 16 * MiB, "RSS %.1f MiB after malloc_trim, %.1f MiB at start",
                  mib(trimmed), mib(start));
    /* Nothing left to release. */
    struct hak_stats st;
    hak_stats_get(&st);
    cr_assert_leq(st.free_retained, 4 * MiB, "%.1f MiB still retained", mib(st.free_retained));
}

/* Above retain_max everything free goes back at once. */
Test(memory_return, retain_max_caps_what_is_kept)
{
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;
    hak_option_values[HAK_OPT_RETAIN_MAX] = 32 << 20;
    size_t start = rss();
    struct peak pk = peak_alloc(192 * MiB, 46);
    peak_free(&pk, 0, 0);
    size_t after = rss();
    struct hak_stats st;
    hak_stats_get(&st);
    cr_assert_leq(st.free_retained, 48 * MiB, "%.1f MiB retained with retain_max 32 MiB",
                  mib(st.free_retained));
    cr_assert_leq(after, start + 64 * MiB, "RSS %.1f MiB right after free with retain_max 32 MiB "
                  "(start %.1f MiB)", mib(after), mib(start));
}

/* A long-running program with phases of high and low use: each low phase
 * comes down to its working set, the peaks do not grow. */
Test(memory_return, low_phases_do_not_keep_the_peak)
{
    size_t start = rss(), first_high = 0;
    for (int cycle = 0; cycle < 3; cycle++) {
        struct peak pk = peak_alloc(128 * MiB, 50 + (uint64_t)cycle);
        size_t high = rss();
        if (cycle == 0)
            first_high = high;
        cr_assert_leq(high, first_high + SLACK, "cycle %d peaked at %.1f MiB, the first at %.1f",
                      cycle, mib(high), mib(first_high));
        peak_free(&pk, 0, 0);
        /* Low phase: a 16 MiB working set, in use. */
        void *low[64];
        for (int i = 0; i < 64; i++) {
            low[i] = hak_malloc(256 * KiB);
            cr_assert_not_null(low[i]);
            memset(low[i], i, 256 * KiB);
        }
        double ms = wait_rss(start + 16 * MiB + SLACK, 1, "low phase");
        cr_log_info("cycle %d: high %.1f MiB, low phase down after %.0f ms", cycle, mib(high), ms);
        for (int i = 0; i < 64; i++)
            hak_free(low[i]);
    }
}

/* purge_mode = free (MADV_FREE): the pages are handed back lazily, but
 * they are handed back (counted as purged) within the delay, and memory
 * reused afterwards reads as the program wrote it or zero, never garbage
 * from another block. */
Test(memory_return, lazy_purge_mode_purges)
{
    hak_option_values[HAK_OPT_PURGE_MODE] = 1;
    struct hak_stats s0;
    hak_stats_get(&s0);
    struct peak pk = peak_alloc(64 * MiB, 47);
    peak_free(&pk, 0, 0);
    double t0 = now_ms();
    struct hak_stats s1;
    for (;;) {
        hak_stats_get(&s1);
        if (s1.bytes_purged - s0.bytes_purged >= 32 * MiB)
            break;
        cr_assert_leq(now_ms() - t0, DEADLINE_MS, "only %.1f MiB purged with purge_mode = free",
                      mib(s1.bytes_purged - s0.bytes_purged));
        nap_5ms();
    }
    char *p = hak_calloc(1, 512 * KiB);
    cr_assert_not_null(p);
    for (size_t i = 0; i < 512 * KiB; i++)
        cr_assert_eq(p[i], 0, "calloc after a lazy purge is not zero at %zu", i);
    hak_free(p);
}
