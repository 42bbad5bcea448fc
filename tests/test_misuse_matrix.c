/*
 * test_misuse_matrix.c - the misuse cases test_misuse.c leaves out, so that
 * every tier is covered for every kind of misuse (the matrix in
 * reliability/misuse.c shows the same through the preloaded library):
 * realloc and malloc_usable_size of freed and interior pointers, a double
 * free completed by another thread in Large and Huge, pointers into
 * hakmem's memory that are no block (a free slab, a segment header), a
 * separately mapped region, free-list links overwritten by a use after
 * free or by an overflow from the neighbouring block (Tiny and Mid, local
 * and thread-free lists), and the foreign_free settings.
 *
 * Each misuse is expected to abort after one line on stderr; the cases
 * that check the line run the faulty call in a child (test_run_child).
 */
#include "test_util.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "config/options.h"
#include "base/segment_map.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

static void no_core_dumps(void)
{
    struct rlimit rl = { 0, 0 };
    setrlimit(RLIMIT_CORE, &rl);
}

TestSuite(misuse_matrix, .init = no_core_dumps, .timeout = 60);

static const size_t tier_size[4] = { 32, 4 * KiB, 100 * KiB, 4 * MiB };
static const char *const tier_name[4] = { "Tiny", "Mid", "Large", "Huge" };


static void *victim;

/* The child's stderr must be one line "hakmem: ..." containing one of the
 * '|'-separated alternatives, and the child must die of SIGABRT. */
static void expect_abort(void (*fn)(void), const char *words, const char *what)
{
    char err[2048];
    int status = test_run_child(fn, err, sizeof err);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "%s: no abort (status %#x), stderr: %s", what, status, err);
    size_t len = strlen(err);
    cr_assert(strncmp(err, "hakmem: ", 8) == 0 && len > 0 && strchr(err, '\n') == err + len - 1,
              "%s: not one \"hakmem: \" line: %s", what, err);
    char alt[256];
    snprintf(alt, sizeof alt, "%s", words);
    int found = 0;
    for (char *save = NULL, *w = strtok_r(alt, "|", &save); w; w = strtok_r(NULL, "|", &save))
        found |= strstr(err, w) != NULL;
    cr_assert(found, "%s: the message lacks \"%s\": %s", what, words, err);
}

/* The child's stderr must be exactly `line` (the whole message, its address
 * included), and the child must die of SIGABRT. */
static void expect_abort_line(void (*fn)(void), const char *line, const char *what)
{
    char err[2048];
    int status = test_run_child(fn, err, sizeof err);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "%s: no abort (status %#x), stderr: %s", what, status, err);
    cr_assert_str_eq(err, line, "%s: stderr was %s", what, err);
}

/* "hakmem: <what> 0x<victim> (<detail>)\n" */
static const char *message(const char *what, const char *detail)
{
    static char line[256];
    snprintf(line, sizeof line, "hakmem: %s %#lx (%s)\n", what, (unsigned long)(uintptr_t)victim,
             detail);
    return line;
}

/* ---- realloc and malloc_usable_size of freed and interior pointers ---- */

static void child_realloc(void) { hide(hak_realloc(victim, 2 * 4 * MiB)); }
static void child_usable(void) { hak_malloc_usable_size(victim); }
static void child_free(void) { hak_free(victim); }

Test(misuse_matrix, realloc_of_freed_every_tier)
{
    for (int t = 0; t < 4; t++) {
        victim = alloc_filled(tier_size[t]);
        hak_free(victim);
        /* A freed Huge mapping is kept for reuse (then it is known as
         * freed) or unmapped (then it is no longer hakmem's). */
        expect_abort(child_realloc, t < 3 ? "realloc of freed block" : "realloc of freed block|realloc of",
                     tier_name[t]);
    }
}

Test(misuse_matrix, realloc_of_interior_every_tier)
{
    for (int t = 0; t < 4; t++) {
        char *p = alloc_filled(tier_size[t]);
        victim = p + 16;
        expect_abort(child_realloc, "realloc of invalid pointer", tier_name[t]);
        hak_free(p);
    }
}

/* The same with the size the block has: realloc keeps a block where it is
 * when its size still suits it (front/alloc.c), and checks it first. */
static size_t victim_size;
static void child_realloc_in_place(void) { hide(hak_realloc(victim, victim_size)); }

Test(misuse_matrix, realloc_in_place_of_freed_or_interior_every_tier)
{
    for (int t = 0; t < 4; t++) {
        victim_size = tier_size[t];
        victim = alloc_filled(tier_size[t]);
        hak_free(victim);
        expect_abort(child_realloc_in_place,
                     t < 3 ? "realloc of freed block" : "realloc of freed block|realloc of",
                     tier_name[t]);
        char *p = alloc_filled(tier_size[t]);
        victim = p + 16;
        expect_abort(child_realloc_in_place, "realloc of invalid pointer", tier_name[t]);
        hak_free(p);
    }
}

Test(misuse_matrix, usable_size_of_freed_every_tier)
{
    for (int t = 0; t < 4; t++) {
        victim = alloc_filled(tier_size[t]);
        hak_free(victim);
        expect_abort(child_usable, t < 3 ? "malloc_usable_size of freed block"
                                    : "malloc_usable_size of freed block|not allocated by hakmem",
                     tier_name[t]);
    }
}

Test(misuse_matrix, usable_size_of_interior_every_tier)
{
    for (int t = 0; t < 4; t++) {
        char *p = alloc_filled(tier_size[t]);
        victim = p + 16;
        expect_abort(child_usable, "malloc_usable_size of invalid pointer", tier_name[t]);
        hak_free(p);
    }
}

/* Interior pointers that are not 16 bytes in: Large at a page boundary
 * inside a run, Huge one page in. */
Test(misuse_matrix, interior_at_page_boundaries)
{
    char *l = alloc_filled(300 * KiB), *h = alloc_filled(4 * MiB);
    victim = l + 8 * 4096;
    expect_abort(child_free, "not the start of a Large block", "Large +32 KiB");
    victim = h + 4096;
    expect_abort(child_free, "not the start of a Huge block", "Huge +4 KiB");
    victim = h + 4 * MiB - 16;
    expect_abort(child_free, "not the start of a Huge block", "Huge, last bytes");
    hak_free(l);
    hak_free(h);
}

static void *free_in_thread(void *p)
{
    hak_free(p);
    return NULL;
}

static void child_free_in_thread(void)
{
    pthread_t t;
    pthread_create(&t, NULL, free_in_thread, victim);
    pthread_join(t, NULL);
}

/* ---- blocks never handed out ---- */

/* A block start of the slab of a live block, beyond what the slab ever
 * handed out (hardened_malloc's invalid_free_small_region: 16 KiB on from a
 * 16-byte block): the owner's free (the fast path's check), another
 * thread's, realloc and malloc_usable_size. */
Test(misuse_matrix, small_block_never_handed_out)
{
    static const struct {
        size_t size, offset;
        const char *detail;
    } cases[] = { { 16, 16 * KiB, "never handed out: Tiny block of 16 bytes" },
                  { 2 * KiB, 128 * KiB, "never handed out: Mid block of 2048 bytes" } };
    for (int i = 0; i < 2; i++) {
        char *p = alloc_filled(cases[i].size);
        victim = p + cases[i].offset;
        expect_abort_line(child_usable,
                          message("malloc_usable_size of invalid pointer", cases[i].detail),
                          cases[i].detail);
        expect_abort_line(child_realloc, message("realloc of invalid pointer", cases[i].detail),
                          cases[i].detail);
        expect_abort_line(child_free_in_thread, message("invalid free of", cases[i].detail),
                          cases[i].detail);
        expect_abort_line(child_free, message("invalid free of", cases[i].detail), cases[i].detail);
        hak_free(p);
    }
}

/* Large: where the next run would start, and a page of the segment no run
 * ever used.  Every call, every thread. */
Test(misuse_matrix, large_run_never_handed_out)
{
    char *p = alloc_filled(100 * KiB);
    char *seg = (char *)((uintptr_t)p & ~(uintptr_t)HAK_SEGMENT_MASK);
    char *never[2] = { p + hak_malloc_usable_size(p), seg + HAK_SEGMENT_SIZE - 64 * KiB };
    for (int i = 0; i < 2; i++) {
        victim = never[i];
        const char *detail = "not the start of a Large block";
        expect_abort_line(child_free, message("invalid free of", detail), "free");
        expect_abort_line(child_free_in_thread, message("invalid free of", detail),
                          "free, other thread");
        expect_abort_line(child_usable, message("malloc_usable_size of invalid pointer", detail),
                          "malloc_usable_size");
        expect_abort_line(child_realloc, message("realloc of invalid pointer", detail), "realloc");
    }
    hak_free(p);
}

/* A run grown in place over a freed neighbour: the neighbour's old head
 * is now inside a live block, an invalid pointer, not a freed block. */
Test(misuse_matrix, large_head_swallowed_by_a_grown_run)
{
    hak_option_values[HAK_OPT_LARGE_CACHE_LIMIT] = 0; /* freed runs go back at once */
    char *a = alloc_filled(40 * KiB);
    char *b = alloc_filled(40 * KiB);
    cr_assert_eq(b, a + hak_malloc_usable_size(a), "the two runs are not neighbours");
    hak_free(b);
    cr_assert_eq(hak_realloc(a, 80 * KiB), a, "not grown in place");
    victim = b;
    expect_abort_line(child_free, message("invalid free of", "not the start of a Large block"),
                      "free");
    hak_free(a);
}

/* ---- secure profile: canaries, quarantine, zero-size blocks ---- */

/* profile = secure, and a heap, so that the size-class lookups of the test
 * are the profile's (front/harden.c). */
static void secure_on(void)
{
    test_profile_secure();
    hak_free(hak_malloc(1));
}

static size_t victim_size;

static void child_overflow_1_free(void)
{
    ((volatile char *)victim)[hak_malloc_usable_size(victim)] = 1;
    hak_free(victim);
}

static void child_overflow_8_free(void)
{
    ((volatile char *)victim)[hak_malloc_usable_size(victim) + 7] ^= 1;
    hak_free(victim);
}

static void child_overflow_1_realloc(void)
{
    ((volatile char *)victim)[hak_malloc_usable_size(victim)] = 0;
    hide(hak_realloc(victim, 3 * victim_size));
}

static void child_overflow_8_usable(void)
{
    size_t u = hak_malloc_usable_size(victim);
    memset(hide(victim), 'x', u + 8);
    hak_malloc_usable_size(victim);
}

/* "buffer overflow past the end of ADDR (TIER block of N bytes: the canary
 * after its U usable bytes was overwritten)" */
static const char *overflow_message(void)
{
    size_t usable = hak_malloc_usable_size(victim);
    char detail[128];
    snprintf(detail, sizeof detail, "%s block of %zu bytes: the canary after its %zu usable bytes was overwritten",
             usable + 8 <= 1024 ? "Tiny" : "Mid", usable + 8, usable);
    return message("buffer overflow past the end of", detail);
}

/* hardened_malloc's overflow_small_1_byte and _8_byte: one byte just past
 * malloc_usable_size, or the 8th one, written; free (or realloc, or
 * malloc_usable_size) reports it.  Tiny and Mid. */
Test(misuse_matrix, secure_overflow_past_the_usable_size)
{
    secure_on();
    /* (Above 32 KiB - 8 bytes a Large block is served: guard pages
     * instead.) */
    static const size_t sizes[] = { 8, 16, 24, 100, 1000, 1024, 2000, 20000, 32 * KiB - 8 };
    for (int i = 0; i < 9; i++) {
        victim_size = sizes[i];
        victim = alloc_filled(sizes[i]);
        char line[256];
        snprintf(line, sizeof line, "%s", overflow_message());
        char what[64];
        snprintf(what, sizeof what, "%zu bytes", sizes[i]);
        expect_abort_line(child_overflow_1_free, line, what);
        expect_abort_line(child_overflow_8_free, line, "8th byte, free");
        expect_abort_line(child_overflow_1_realloc, line, "a NUL, realloc");
        expect_abort_line(child_overflow_8_usable, line, "8 bytes, malloc_usable_size");
        hak_free(victim);
    }
}

static void child_free_sized_victim_plus_4(void) { hak_free_sized(victim, victim_size + 4); }

/* With canaries a sized free may name the usable size, not the bytes of
 * the canary after it (caught inline, where the default profile compares
 * with the block size). */
Test(misuse_matrix, secure_sized_free_within_the_canary)
{
    secure_on();
    static const size_t sizes[] = { 8, 24, 1000, 2000, 20000 };
    for (int i = 0; i < 5; i++) {
        victim = hak_malloc(sizes[i]);
        victim_size = hak_malloc_usable_size(victim);
        char detail[128];
        snprintf(detail, sizeof detail, "%zu bytes given, %s block of %zu bytes", victim_size + 4,
                 victim_size + 8 <= 1024 ? "Tiny" : "Mid", victim_size);
        char line[256];
        snprintf(line, sizeof line, "%s", message("wrong size in sized free of", detail));
        expect_abort_line(child_free_sized_victim_plus_4, line, "usable + 4");
        hak_free_sized(victim, victim_size);
    }
}

/* hardened_malloc's write_after_free_small_reuse: 128 bytes freed, one
 * byte of it written, the class reused 100,000 times. */
static void child_write_after_free_small(void)
{
    char *p = victim;
    hak_free(p);
    hide(hak_malloc(128));
    ((volatile char *)p)[65] = 'a';
    for (int i = 0; i < 100000; i++)
        hak_free(hide(hak_malloc(128)));
}

/* The same with a Large block (write_after_free_large_reuse). */
static void child_write_after_free_large(void)
{
    char *p = victim;
    hak_free(p);
    hide(hak_malloc(256 * KiB));
    ((volatile char *)p)[64 * KiB + 1] = 'a';
    for (int i = 0; i < 100000; i++)
        hak_free(hide(hak_malloc(256 * KiB)));
}

Test(misuse_matrix, secure_write_after_free_detected_on_reuse)
{
    secure_on();
    victim = alloc_filled(128);
    expect_abort_line(child_write_after_free_small,
                      message("write after free to", "Tiny block of 144 bytes, byte 65 changed after free"),
                      "128 bytes");
    victim = alloc_filled(256 * KiB);
    expect_abort_line(child_write_after_free_large,
                      message("write after free to",
                              "Large block of 262144 bytes, byte 65537 changed after free"),
                      "256 KiB");
}

static void child_free_twice(void)
{
    hak_free(victim);
    hak_free(victim);
}

static void child_free_then_realloc(void)
{
    hak_free(victim);
    hide(hak_realloc(victim, 100));
}

static void *free_and_hold(void *p)
{
    hak_free(p);
    return NULL;
}

/* Freed by another thread (held in that thread's quarantine), then by us:
 * our own quarantine cannot tell a freed block from a canary zeroed by an
 * overflow, and the message says both. */
static void child_free_after_another_thread(void)
{
    pthread_t t;
    pthread_create(&t, NULL, free_and_hold, victim);
    pthread_join(t, NULL);
    hak_free(victim);
}

/* A freed block reads as zero, its freed mark included: double free and
 * use of a freed block are told by the canary, cleared at free. */
Test(misuse_matrix, secure_double_free_and_use_after_free)
{
    secure_on();
    victim = alloc_filled(16); /* 16 bytes and the canary: the 32-byte class */
    expect_abort_line(child_free_twice, message("double free of", "Tiny block of 32 bytes"), "twice");
    expect_abort_line(child_free_then_realloc, message("realloc of freed block", "Tiny block of 32 bytes"),
                      "realloc");
    expect_abort_line(child_free_after_another_thread,
                      message("double free of",
                              "Tiny block of 32 bytes, or an overflow wrote zeros over its canary"),
                      "another thread first");
    hak_free(victim);
}

/* A freed Large block waits in the freeing thread's quarantine before its
 * pages go back: held there, it is still told as freed. */
Test(misuse_matrix, secure_double_free_of_a_quarantined_large_block)
{
    secure_on();
    victim = alloc_filled(256 * KiB);
    char words[128];
    snprintf(words, sizeof words, "double free of %#lx (Large block of", (unsigned long)(uintptr_t)victim);
    expect_abort(child_free_twice, words, "twice");
    snprintf(words, sizeof words, "realloc of freed block %#lx (Large block of",
             (unsigned long)(uintptr_t)victim);
    expect_abort(child_free_then_realloc, words, "realloc");
    hak_free(victim);
}

static void child_zero_free_realloc(void)
{
    hak_free(victim);
    hide(hak_realloc(victim, 10));
}

static void child_zero_free_usable(void)
{
    hak_free(victim);
    hak_malloc_usable_size(victim);
}

/* malloc(0) of the secure profile: its address is checked as any block's. */
Test(misuse_matrix, secure_zero_size_block_misuse)
{
    secure_on();
    char *z = hak_malloc(0);
    victim = z;
    expect_abort_line(child_free_twice, message("double free of", "zero-size block"), "twice");
    expect_abort_line(child_zero_free_realloc, message("realloc of freed block", "zero-size block"),
                      "realloc");
    expect_abort_line(child_zero_free_usable,
                      message("malloc_usable_size of freed block", "zero-size block"), "usable");
    victim = z + 8;
    expect_abort_line(child_free, message("invalid free of", "not a zero-size block"), "interior");
    victim = (char *)((uintptr_t)z & ~(uintptr_t)HAK_SEGMENT_MASK);
    expect_abort_line(child_free, message("invalid free of", "not a zero-size block"), "zone start");
    hak_free(z);
}

/* ---- double free completed by another thread ---- */

Test(misuse_matrix, double_free_in_another_thread_large_and_huge)
{
    victim = alloc_filled(tier_size[2]);
    hak_free(victim);
    expect_abort(child_free_in_thread, "double free of", "Large");
    victim = alloc_filled(tier_size[3]);
    hak_free(victim);
    expect_abort(child_free_in_thread, "double free of|not allocated by hakmem", "Huge");
}

/* ---- hakmem's memory that is no block ---- */

Test(misuse_matrix, free_into_a_free_slab)
{
    char *p = alloc_filled(64);
    /* The last slab of p's segment: formatted for no class yet. */
    uintptr_t seg = (uintptr_t)p & ~(uintptr_t)HAK_SEGMENT_MASK;
    victim = (void *)(seg + HAK_SEGMENT_SIZE - 64 * KiB);
    cr_assert_geq(hak_segmap_get((uintptr_t)victim), HAK_SEGMAP_SMALL_MIN);
    expect_abort(child_free, "not an allocated block", "free slab");
    hak_free(p);
}

/* Every page of a header, not only its first: the records of the
 * header's own pages are what rejects them. */
Test(misuse_matrix, free_of_a_large_segment_header)
{
    char *p = alloc_filled(100 * KiB);
    uintptr_t seg = (uintptr_t)p & ~(uintptr_t)HAK_SEGMENT_MASK;
    for (uintptr_t page = 0; page < 4; page++) {
        victim = (void *)(seg + page * HAK_PAGE_SIZE);
        cr_assert_lt((uintptr_t)victim, (uintptr_t)p, "page %zu lies before the first block",
                     (size_t)page);
        expect_abort(child_free, "not the start of a Large block", "Large segment header");
        expect_abort(child_realloc, "not the start of a Large block", "Large segment header");
    }
    hak_free(p);
}

Test(misuse_matrix, free_of_a_huge_arena_header)
{
    char *p = alloc_filled(4 * MiB);
    victim = (void *)((uintptr_t)p & ~(((uintptr_t)64 << 20) - 1));
    cr_assert_lt((uintptr_t)victim, (uintptr_t)p, "the arena's header lies before the block");
    expect_abort(child_free, "not the start of a Huge block", "Huge arena header");
    hak_free(p);
}

Test(misuse_matrix, free_of_a_separately_mapped_region)
{
    char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    victim = m + 4096;
    expect_abort(child_free, "not allocated by hakmem", "mmap");
    expect_abort(child_realloc, "not allocated by hakmem", "mmap, realloc");
    munmap(m, 1 << 20);
}

/* ---- free-list links overwritten ---- */

#define FL 300

static char *fl[FL];
static size_t fl_size;

static void allocate_through(void)
{
    for (int i = 0; i < 2 * FL; i++)
        hide(hak_malloc(fl_size));
}

/* Use after free: fl[0]'s link overwritten after it went back to its
 * slab's list; fl[1] stays live so the slab never empties. */
static void corrupt_after_free(size_t size)
{
    fl_size = size;
    for (int i = 0; i < FL; i++)
        fl[i] = alloc_filled(size);
    for (int i = 0; i < FL; i++)
        if (i != 1)
            hak_free(fl[i]);
    *(volatile uint64_t *)fl[0] = 0x4141414141414141ull;
}

/* Overflow: fl[0] (live) runs 8 bytes into fl[1] (free, on the list). */
static void corrupt_by_overflow(size_t size)
{
    fl_size = size;
    for (int i = 0; i < FL; i++)
        fl[i] = alloc_filled(size);
    cr_assert_eq(fl[1], fl[0] + size, "the first two blocks are not neighbours");
    for (int i = 1; i < FL; i += 2)
        hak_free(fl[i]);
    memset(hide(fl[0]), 0x41, size + 8);
}

Test(misuse_matrix, use_after_free_of_a_link_tiny)
{
    corrupt_after_free(64);
    expect_abort(allocate_through, "corrupted free list", "Tiny");
}

Test(misuse_matrix, use_after_free_of_a_link_mid)
{
    corrupt_after_free(2 * KiB);
    expect_abort(allocate_through, "corrupted free list", "Mid");
}

Test(misuse_matrix, overflow_into_a_link_tiny)
{
    corrupt_by_overflow(64);
    expect_abort(allocate_through, "corrupted free list", "Tiny");
}

Test(misuse_matrix, overflow_into_a_link_mid)
{
    corrupt_by_overflow(2 * KiB);
    expect_abort(allocate_through, "corrupted free list", "Mid");
}

/* Blocks another thread freed stay in its cache until it exits, then come
 * back to their owner in one batch on its inbox, linked through their link
 * words; a use-after-free write to one of those links is caught when the
 * owner takes the inbox. */
enum { REMOTE_FREED = 12 }; /* fewer than any Tiny cap: no overflow */

static void *free_some_remote(void *arg)
{
    (void)arg;
    for (int i = 0; i < REMOTE_FREED; i++)
        hak_free(fl[i]);
    return NULL;
}

Test(misuse_matrix, use_after_free_of_a_handed_back_link)
{
    fl_size = 64;
    for (int i = 0; i < FL; i++)
        fl[i] = alloc_filled(64);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, free_some_remote, NULL), 0);
    pthread_join(t, NULL);
    *(volatile uint64_t *)fl[REMOTE_FREED / 2] = 0x4141414141414141ull;
    expect_abort(allocate_through, "corrupted", "inbox list");
}

/* ---- foreign_free = warn / ignore ---- */

static char stack_like[64];

static void child_tolerated(void)
{
    void *g = malloc(64); /* glibc's */
    hak_free(g);
    hak_free(stack_like + 8);
    errno = 0;
    if (hak_realloc(g, 128) != NULL || errno != ENOMEM)
        _exit(10);
    if (hak_malloc_usable_size(stack_like) != 0)
        _exit(11);
    hak_free(hak_malloc(100)); /* still works */
    free(g);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(misuse_matrix, foreign_free_warn_warns_once_per_function)
{
    hak_option_values[HAK_OPT_FOREIGN_FREE] = 1;
    char err[2048];
    int status = test_run_child(child_tolerated, err, sizeof err);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x, stderr: %s", status, err);
    cr_assert_eq(count_lines(err), 3, "one warning per function (free, realloc, usable size): %s", err);
    cr_assert_not_null(strstr(err, "not allocated by hakmem"));
}

Test(misuse_matrix, foreign_free_ignore_is_silent)
{
    hak_option_values[HAK_OPT_FOREIGN_FREE] = 2;
    char err[2048];
    int status = test_run_child(child_tolerated, err, sizeof err);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x, stderr: %s", status, err);
    cr_assert_str_empty(err);
}

/* foreign_free does not excuse misuse of hakmem's own blocks. */
static void child_double_free(void)
{
    void *p = hak_malloc(32);
    hak_free(p);
    hak_free(hide(p));
}

Test(misuse_matrix, foreign_free_ignore_still_aborts_on_double_free)
{
    hak_option_values[HAK_OPT_FOREIGN_FREE] = 2;
    expect_abort(child_double_free, "double free of", "ignore mode");
}
