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
    cr_assert_str_eq(err, line, "%s", what);
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
 * 16-byte block).  The owner's own free is the fast path's check; other
 * threads, realloc and malloc_usable_size are checked here. */
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

Test(misuse_matrix, free_of_a_large_segment_header)
{
    char *p = alloc_filled(100 * KiB);
    victim = (void *)((uintptr_t)p & ~(uintptr_t)HAK_SEGMENT_MASK);
    expect_abort(child_free, "not the start of a Large block", "Large segment header");
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

/* A block freed by another thread sits on its slab's thread-free list;
 * a use-after-free write to its link is caught when the owner takes the
 * list back. */
static void *free_all_remote(void *arg)
{
    (void)arg;
    for (int i = 0; i < FL; i++)
        hak_free(fl[i]);
    return NULL;
}

Test(misuse_matrix, use_after_free_of_a_thread_free_link)
{
    fl_size = 64;
    for (int i = 0; i < FL; i++)
        fl[i] = alloc_filled(64);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, free_all_remote, NULL), 0);
    pthread_join(t, NULL);
    *(volatile uint64_t *)fl[FL / 2] = 0x4141414141414141ull;
    expect_abort(allocate_through, "corrupted", "thread-free list");
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
