/*
 * memreturn.c - memory goes back to the OS after a peak.
 *
 *   memreturn decay  [MiB]   allocate MiB (default 1024) spread over the four
 *                            tiers, touch it, free it all, keep allocating a
 *                            little: RSS must fall to within 64 MiB of the
 *                            starting RSS within the purge delay
 *   memreturn idle   [MiB]   the same, but no allocator call at all after the
 *                            last free: hakmem's background thread must do it
 *   memreturn phases [MiB]   three cycles of a high phase (MiB) and a low
 *                            phase (a 16 MiB working set kept busy): each low
 *                            phase comes back down, the peaks do not grow
 *   memreturn trim   [MiB]   purge_delay_ms is an hour (run.sh sets it): the
 *                            memory stays after free, malloc_trim(0) returns
 *                            it at once
 *
 * The free order is random (MEMRETURN_ORDER=fifo frees in allocation order),
 * as in a real program whose objects die in no particular order.
 *
 * The purge delay is read from HAKMEM_PURGE_DELAY_MS (run.sh always sets
 * it, so the program and the library agree).  Deadline for "within the
 * purge delay": hakmem's background thread looks for memory older than the
 * delay four times per delay, so memory is due back at most 1.25 delays
 * after the last free; on top of that we allow 500 ms for the purge itself
 * (madvise of up to a gigabyte) and for scheduling on a loaded two-core CI
 * machine.
 *
 * Under the C library's allocator (no hakmem) the figures are printed and
 * nothing is asserted: they are there for comparison.
 */
#include "rel.h"

#include <malloc.h>

#define SLACK (64 * MiB)

typedef struct block {
    void *p;
    size_t n;
} block;

static block *blocks;
static size_t nblocks, cap_blocks;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static int hakmem;
static double delay_ms;

static size_t tier_size(int tier)
{
    uint64_t r = rel_rand(&rng);
    switch (tier) {
    case 0: return 16 + r % (1024 - 16 + 1);                 /* Tiny */
    case 1: return 1025 + r % (32 * KiB - 1025 + 1);         /* Mid */
    case 2: return 32 * KiB + 1 + r % (MiB - 32 * KiB);      /* Large */
    default: return MiB + 1 + r % (8 * MiB);                 /* Huge */
    }
}

/* total bytes, a quarter per tier; returns the bytes allocated. */
static size_t alloc_all(size_t total)
{
    size_t got = 0;
    for (int tier = 0; tier < 4; tier++) {
        size_t want = total / 4, have = 0;
        while (have < want) {
            size_t n = tier_size(tier);
            if (nblocks == cap_blocks) {
                cap_blocks = cap_blocks ? 2 * cap_blocks : 65536;
                block *grown = realloc(blocks, cap_blocks * sizeof *blocks);
                REL_CHECK(grown != NULL, "realloc of the block table failed");
                blocks = grown;
            }
            void *p = malloc(n);
            REL_CHECK(p != NULL, "malloc(%zu) failed", n);
            rel_fill(p, n, (uint64_t)(uintptr_t)p ^ n);
            blocks[nblocks].p = p;
            blocks[nblocks].n = n;
            nblocks++;
            have += n;
        }
        got += have;
    }
    return got;
}

static void free_all(void)
{
    if (getenv("MEMRETURN_ORDER") == NULL || strcmp(getenv("MEMRETURN_ORDER"), "fifo") != 0) {
        for (size_t i = nblocks; i > 1; i--) {
            size_t j = (size_t)(rel_rand(&rng) % i);
            block t = blocks[i - 1];
            blocks[i - 1] = blocks[j];
            blocks[j] = t;
        }
    }
    for (size_t i = 0; i < nblocks; i++) {
        REL_CHECK(rel_check(blocks[i].p, blocks[i].n, (uint64_t)(uintptr_t)blocks[i].p ^ blocks[i].n),
                  "block %p of %zu bytes was corrupted while live", blocks[i].p, blocks[i].n);
        free(blocks[i].p);
    }
    nblocks = 0;
}

/* A little allocator traffic, as a program that keeps running would make. */
static void some_work(void)
{
    void *p[64];
    for (int i = 0; i < 64; i++)
        p[i] = rel_escape(malloc(16 + (size_t)(rel_rand(&rng) % 2000)));
    for (int i = 0; i < 64; i++)
        free(p[i]);
}

/* Poll RSS every 5 ms until it is within SLACK of `target`; returns the
 * milliseconds it took, or -1 past the deadline.  `busy`: make allocator
 * calls between readings (else none at all). */
static double wait_for_rss(size_t target, double deadline_ms, int busy, size_t *last)
{
    double t0 = rel_now();
    for (;;) {
        size_t rss = rel_rss();
        double ms = (rel_now() - t0) * 1000.0;
        *last = rss;
        if (rss <= target + SLACK)
            return ms;
        if (ms > deadline_ms)
            return -1;
        if (busy)
            some_work();
        rel_nap_ms(5);
    }
}

static double deadline(void) { return delay_ms * 1.25 + 500.0; }

static void print_stats(const char *what)
{
    rel_stats_fn get = rel_hakmem_stats();
    if (!get)
        return;
    struct hak_stats st;
    get(&st);
    printf("%s: hakmem bytes_mapped=%.1fMiB bytes_purged=%.1fMiB retained=%.1fMiB segments_mapped=%llu unmapped=%llu\n",
           what, rel_mib(st.bytes_mapped), rel_mib(st.bytes_purged), rel_mib(st.free_retained),
           (unsigned long long)st.segments_mapped, (unsigned long long)st.segments_unmapped);
}

static int run_decay(size_t total, int busy)
{
    const char *name = busy ? "decay" : "idle";
    size_t start = rel_rss();
    size_t got = alloc_all(total);
    size_t peak = rel_rss();
    free_all();
    free(blocks);
    blocks = NULL;
    cap_blocks = 0;
    size_t after = rel_rss(), last = 0;
    double ms = wait_for_rss(start, hakmem ? deadline() : 2000.0, busy, &last);
    printf("%s: allocated=%.0fMiB start_rss=%.1fMiB peak_rss=%.1fMiB rss_after_free=%.1fMiB "
           "final_rss=%.1fMiB within_64MiB_after_ms=%.0f purge_delay_ms=%.0f deadline_ms=%.0f\n",
           name, rel_mib(got), rel_mib(start), rel_mib(peak), rel_mib(after), rel_mib(last), ms,
           delay_ms, deadline());
    print_stats(name);
    if (hakmem) {
        REL_CHECK(peak > start + got / 2, "%s: the peak (%.1f MiB) is not a peak", name, rel_mib(peak));
        REL_CHECK(ms >= 0, "%s: RSS %.1f MiB still above %.1f MiB + 64 MiB %.0f ms after free "
                  "(purge delay %.0f ms)", name, rel_mib(last), rel_mib(start), deadline(), delay_ms);
    }
    return 0;
}

static int run_phases(size_t total)
{
    size_t start = rel_rss();
    size_t first_peak = 0;
    for (int cycle = 1; cycle <= 3; cycle++) {
        size_t got = alloc_all(total);
        size_t peak = rel_rss();
        if (cycle == 1)
            first_peak = peak;
        free_all();
        /* Low phase: a 16 MiB working set, kept busy. */
        void *low[256];
        for (int i = 0; i < 256; i++) {
            low[i] = malloc(64 * KiB);
            REL_CHECK(low[i] != NULL, "low phase malloc failed");
            memset(low[i], i, 64 * KiB);
        }
        size_t last = 0;
        double ms = wait_for_rss(start + 16 * MiB, hakmem ? deadline() : 2000.0, 1, &last);
        printf("phases: cycle=%d allocated=%.0fMiB start_rss=%.1fMiB high_rss=%.1fMiB "
               "low_rss=%.1fMiB low_within_64MiB_after_ms=%.0f\n",
               cycle, rel_mib(got), rel_mib(start), rel_mib(peak), rel_mib(last), ms);
        for (int i = 0; i < 256; i++)
            free(low[i]);
        if (hakmem) {
            REL_CHECK(ms >= 0, "phases: cycle %d: low phase RSS %.1f MiB kept the peak (%.1f MiB)",
                      cycle, rel_mib(last), rel_mib(peak));
            REL_CHECK(peak <= first_peak + SLACK,
                      "phases: cycle %d peaked at %.1f MiB, the first at %.1f MiB", cycle,
                      rel_mib(peak), rel_mib(first_peak));
        }
    }
    print_stats("phases");
    return 0;
}

static int run_trim(size_t total)
{
    size_t start = rel_rss();
    size_t got = alloc_all(total);
    size_t peak = rel_rss();
    free_all();
    size_t after = rel_rss();
    double t0 = rel_now();
    int r = malloc_trim(0);
    double ms = (rel_now() - t0) * 1000.0;
    size_t trimmed = rel_rss();
    printf("trim: allocated=%.0fMiB start_rss=%.1fMiB peak_rss=%.1fMiB rss_after_free=%.1fMiB "
           "rss_after_malloc_trim=%.1fMiB malloc_trim_ms=%.1f returned=%d\n",
           rel_mib(got), rel_mib(start), rel_mib(peak), rel_mib(after), rel_mib(trimmed), ms, r);
    print_stats("trim");
    if (hakmem) {
        /* The delay is an hour: what is still resident after free is what
         * malloc_trim has to give back (else this test proves nothing). */
        REL_CHECK(after > start + SLACK, "trim: RSS fell to %.1f MiB before malloc_trim; "
                  "run with HAKMEM_PURGE_DELAY_MS=3600000 HAKMEM_RETAIN_MAX=64G", rel_mib(after));
        REL_CHECK(trimmed <= start + SLACK, "trim: RSS %.1f MiB after malloc_trim(0), %.1f MiB at start",
                  rel_mib(trimmed), rel_mib(start));
        REL_CHECK(r == 1, "trim: malloc_trim returned %d after releasing memory", r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    alarm(120);
    if (argc < 2) {
        fprintf(stderr, "usage: memreturn decay|idle|phases|trim [MiB]\n");
        return 2;
    }
    size_t total = (size_t)(argc > 2 ? atol(argv[2]) : 1024) * MiB;
    hakmem = rel_hakmem_loaded();
    delay_ms = (double)rel_env_long("HAKMEM_PURGE_DELAY_MS", 250);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("memreturn: allocator=%s order=%s\n", hakmem ? "hakmem" : "libc",
           getenv("MEMRETURN_ORDER") ? getenv("MEMRETURN_ORDER") : "random");
    if (strcmp(argv[1], "decay") == 0)
        return run_decay(total, 1);
    if (strcmp(argv[1], "idle") == 0)
        return run_decay(total, 0);
    if (strcmp(argv[1], "phases") == 0)
        return run_phases(total);
    if (strcmp(argv[1], "trim") == 0)
        return run_trim(total);
    fprintf(stderr, "memreturn: unknown mode %s\n", argv[1]);
    return 2;
}
