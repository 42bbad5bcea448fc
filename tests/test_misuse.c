/*
 * test_misuse.c - detected misuse stops the process: one line on stderr,
 * "hakmem: <what> 0x<address> (<detail>)", then abort().
 *
 * Every case is a Criterion test expecting SIGABRT.  A few representative
 * ones also run in a child with stderr captured (test_run_child) to check
 * the message itself.  For those, the test sets everything up in the
 * worker and leaves only the faulty call to the child, so the worker knows
 * the address the message must name (a fork keeps every address).
 */
#include "test_util.h"

#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

#include "small/slab.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* Core dumps of a hundred expected aborts would only cost time and disk. */
static void no_core_dumps(void)
{
    struct rlimit rl = { 0, 0 };
    setrlimit(RLIMIT_CORE, &rl);
}

TestSuite(misuse, .init = no_core_dumps);

static char global_buf[256];

/* What the child misuses; set by the worker before test_run_child. */
static void *victim;
/* Keeps the compiler from reasoning about the pointers we misuse. */

/* Does `s` contain `hex` not followed by another hex digit? */
static bool has_address(const char *s, const char *hex)
{
    size_t n = strlen(hex);
    for (const char *at = strstr(s, hex); at; at = strstr(at + 1, hex)) {
        char c = at[n];
        bool more = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        if (!more)
            return true;
    }
    return false;
}

/* Run fn in a child; it must abort after printing exactly one line that
 * starts with "hakmem: ", contains `what` and names `addr`. */
static void expect_report(void (*fn)(void), const void *addr, const char *what)
{
    char err[2048];
    int status = test_run_child(fn, err, sizeof err);
    cr_assert(WIFSIGNALED(status), "child did not die from a signal (status %#x), stderr: %s",
              status, err);
    cr_assert_eq(WTERMSIG(status), SIGABRT, "child died from signal %d, stderr: %s",
                 WTERMSIG(status), err);
    cr_assert(strncmp(err, "hakmem: ", 8) == 0, "report does not start with \"hakmem: \": %s",
              err);
    size_t len = strlen(err);
    cr_assert(len > 0 && err[len - 1] == '\n' && strchr(err, '\n') == err + len - 1,
              "report is not exactly one line: %s", err);
    cr_assert(strstr(err, what) != NULL, "report lacks \"%s\": %s", what, err);
    char hex[32];
    snprintf(hex, sizeof hex, "0x%lx", (unsigned long)(uintptr_t)addr);
    cr_assert(has_address(err, hex), "report does not name %s: %s", hex, err);
}

static void child_free_victim(void)
{
    hak_free(victim);
}

/* ---- double free, one case per tier ---- */

Test(misuse, double_free_tiny, .signal = SIGABRT)
{
    void *p = alloc_filled(32);
    hak_free(p);
    hak_free(hide(p));
}

Test(misuse, double_free_mid, .signal = SIGABRT)
{
    void *p = alloc_filled(4 * KiB);
    hak_free(p);
    hak_free(hide(p));
}

Test(misuse, double_free_large, .signal = SIGABRT)
{
    void *p = alloc_filled(100 * KiB);
    hak_free(p);
    hak_free(hide(p));
}

/* The mapping is gone after the first free: the second one finds a pointer
 * that is not hakmem's, which must still abort. */
Test(misuse, double_free_huge, .signal = SIGABRT)
{
    void *p = alloc_filled(4 * MiB);
    hak_free(p);
    hak_free(hide(p));
}

Test(misuse, double_free_reports)
{
    const size_t sizes[] = { 32, 4 * KiB, 100 * KiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        victim = alloc_filled(sizes[i]);
        hak_free(victim);
        expect_report(child_free_victim, victim, "double free");
    }
    /* A freed Huge mapping is cached for reuse (a second free reports a
     * double free), then unmapped after the purge delay (a second free
     * then reports memory hakmem does not own).  Either way it aborts. */
    victim = alloc_filled(4 * MiB);
    hak_free(victim);
    expect_report(child_free_victim, victim, "double free");
    hak_malloc_trim(0);
    expect_report(child_free_victim, victim, "not allocated by hakmem");
}

/* ---- double free, the second one by another thread ---- */

static void *free_in_thread(void *p)
{
    hak_free(p);
    return NULL;
}

static void free_by_new_thread(void *p)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, free_in_thread, p), 0);
    pthread_join(t, NULL);
}

Test(misuse, double_free_second_in_other_thread_tiny, .signal = SIGABRT, .timeout = 30)
{
    void *p = alloc_filled(32);
    hak_free(p);
    free_by_new_thread(p);
}

Test(misuse, double_free_second_in_other_thread_mid, .signal = SIGABRT, .timeout = 30)
{
    void *p = alloc_filled(4 * KiB);
    hak_free(p);
    free_by_new_thread(p);
}

/* The other thread has a heap of its own (it allocated first), so the
 * check runs on a non-owner that is not a newcomer either. */
static void *alloc_then_free(void *p)
{
    void *mine = hak_malloc(32);
    hak_free(mine);
    hak_free(p);
    return NULL;
}

Test(misuse, double_free_second_in_thread_with_heap, .signal = SIGABRT, .timeout = 30)
{
    void *p = alloc_filled(32);
    hak_free(p);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, alloc_then_free, p), 0);
    pthread_join(t, NULL);
}

/* The first free by the other thread (a remote free), the second local. */
Test(misuse, double_free_first_in_other_thread, .signal = SIGABRT, .timeout = 30)
{
    void *p = alloc_filled(48);
    free_by_new_thread(p);
    hak_free(hide(p));
}

static void child_free_victim_in_thread(void)
{
    free_by_new_thread(victim);
}

Test(misuse, double_free_in_other_thread_reports, .timeout = 30)
{
    victim = alloc_filled(32);
    hak_free(victim);
    expect_report(child_free_victim_in_thread, victim, "double free");
}

/* ---- interior pointers ---- */

Test(misuse, interior_free_tiny, .signal = SIGABRT)
{
    char *p = alloc_filled(32);
    hak_free(p + 16);
}

Test(misuse, interior_free_mid, .signal = SIGABRT)
{
    char *p = alloc_filled(4 * KiB);
    hak_free(p + 16);
}

Test(misuse, interior_free_large, .signal = SIGABRT)
{
    char *p = alloc_filled(100 * KiB);
    hak_free(p + 4096);
}

Test(misuse, interior_free_huge, .signal = SIGABRT)
{
    char *p = alloc_filled(4 * MiB);
    hak_free(p + 4096);
}

Test(misuse, interior_free_reports)
{
    const size_t sizes[] = { 32, 4 * KiB, 100 * KiB, 4 * MiB };
    const size_t offsets[] = { 16, 16, 4096, 4096 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = alloc_filled(sizes[i]);
        victim = p + offsets[i];
        expect_report(child_free_victim, victim, "invalid free");
        hak_free(p); /* the worker's copy is still valid */
    }
}

/* A coloured Mid slab's first block starts some cache lines into the slab:
 * the slab's own address, and a line of the gap before that block, are
 * no blocks (base/size_class.h). */
Test(misuse, free_in_a_colored_slabs_gap_reports)
{
    enum { N = 12 * 8 };
    char *p[N];
    hak_slab *s = NULL;
    for (int i = 0; i < N; i++) {
        p[i] = alloc_filled(20000);
        hak_slab *t = hak_slab_of((uintptr_t)p[i], HAK_MID_PAGE_SHIFT);
        if (s == NULL && t->start != hak_slab_base(t))
            s = t;
    }
    cr_assert_not_null(s, "precondition: 8 slabs of 20 KiB blocks, one of them coloured");
    victim = (void *)hak_slab_base(s);
    expect_report(child_free_victim, victim, "invalid free");
    victim = (void *)(s->start - HAK_SLAB_COLOR_STEP);
    expect_report(child_free_victim, victim, "invalid free");
    for (int i = 0; i < N; i++)
        hak_free(p[i]);
}

/* ---- pointers hakmem never handed out ---- */

Test(misuse, free_of_stack_address, .signal = SIGABRT)
{
    char buf[64];
    memset(buf, 1, sizeof buf);
    hak_free(hide(buf));
}

Test(misuse, free_of_global_array, .signal = SIGABRT)
{
    hak_free(hide(global_buf));
}

Test(misuse, free_of_glibc_pointer, .signal = SIGABRT)
{
    void *p = malloc(64); /* glibc's: the tests keep the system malloc */
    cr_assert_not_null(p);
    hak_free(p);
}

Test(misuse, foreign_free_reports)
{
    char buf[64];
    memset(buf, 1, sizeof buf);
    victim = buf + 16;
    expect_report(child_free_victim, victim, "not allocated by hakmem");
    victim = global_buf;
    expect_report(child_free_victim, victim, "not allocated by hakmem");
    victim = malloc(64);
    cr_assert_not_null(victim);
    expect_report(child_free_victim, victim, "not allocated by hakmem");
    free(victim);
}

/* ---- realloc and malloc_usable_size of bad pointers ---- */

Test(misuse, realloc_of_freed_tiny, .signal = SIGABRT)
{
    void *p = alloc_filled(32);
    hak_free(p);
    hak_realloc(hide(p), 100);
}

Test(misuse, realloc_of_freed_large, .signal = SIGABRT)
{
    void *p = alloc_filled(100 * KiB);
    hak_free(p);
    hak_realloc(hide(p), 200 * KiB);
}

Test(misuse, realloc_of_freed_huge, .signal = SIGABRT)
{
    void *p = alloc_filled(4 * MiB);
    hak_free(p);
    hak_realloc(hide(p), 8 * MiB);
}

static void child_realloc_victim(void)
{
    hak_realloc(victim, 100);
}

Test(misuse, realloc_of_freed_reports)
{
    victim = alloc_filled(32);
    hak_free(victim);
    expect_report(child_realloc_victim, victim, "realloc of freed block");
}

Test(misuse, usable_size_of_stack_address, .signal = SIGABRT)
{
    char buf[64];
    memset(buf, 1, sizeof buf);
    hak_malloc_usable_size(hide(buf));
}

Test(misuse, usable_size_of_glibc_pointer, .signal = SIGABRT)
{
    void *p = malloc(64);
    cr_assert_not_null(p);
    hak_malloc_usable_size(p);
}

static void child_usable_size_victim(void)
{
    hak_malloc_usable_size(victim);
}

Test(misuse, usable_size_of_foreign_reports)
{
    victim = global_buf + 32;
    expect_report(child_usable_size_victim, victim, "not allocated by hakmem");
}

/* ---- a freed block overwritten (use after free) ---- */

#define FL_BLOCKS 300

static void *fl_blocks[FL_BLOCKS];

/* Free FL_BLOCKS 64-byte blocks: the thread cache keeps at most 64 of them
 * and flushes the oldest to their slab's free list, where the links live in
 * the blocks themselves.  The oldest, fl_blocks[0], goes first, so it is on
 * the slab's list; overwrite its link as a use-after-free write would. */
static void corrupt_a_free_list_link(void)
{
    for (int i = 0; i < FL_BLOCKS; i++)
        fl_blocks[i] = alloc_filled(64);
    for (int i = 0; i < FL_BLOCKS; i++)
        hak_free(fl_blocks[i]);
    *(volatile uint64_t *)fl_blocks[0] = 0x4141414141414141ull;
}

/* Allocating them all again walks the whole free list. */
static void allocate_through_the_free_list(void)
{
    for (int i = 0; i < 2 * FL_BLOCKS; i++)
        hide(hak_malloc(64));
}

Test(misuse, corrupted_free_list_link, .signal = SIGABRT)
{
    corrupt_a_free_list_link();
    allocate_through_the_free_list();
}

Test(misuse, corrupted_free_list_reports)
{
    corrupt_a_free_list_link();
    expect_report(allocate_through_the_free_list, fl_blocks[0], "corrupted free list");
}

/* ---- free_sized with a size larger than the block ---- */

static void free_sized_too_large(size_t n)
{
    void *p = alloc_filled(n);
    hak_free_sized(p, hak_malloc_usable_size(p) + 1);
}

Test(misuse, free_sized_too_large_tiny, .signal = SIGABRT)
{
    free_sized_too_large(32);
}

Test(misuse, free_sized_too_large_mid, .signal = SIGABRT)
{
    free_sized_too_large(4 * KiB);
}

Test(misuse, free_sized_too_large_large, .signal = SIGABRT)
{
    free_sized_too_large(100 * KiB);
}

Test(misuse, free_sized_too_large_huge, .signal = SIGABRT)
{
    free_sized_too_large(4 * MiB);
}

/* By a thread that does not own the block's slab. */
static void *free_sized_in_thread(void *p)
{
    hak_free_sized(p, 4096);
    return NULL;
}

Test(misuse, free_sized_too_large_in_other_thread, .signal = SIGABRT, .timeout = 30)
{
    void *p = alloc_filled(32);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, free_sized_in_thread, p), 0);
    pthread_join(t, NULL);
}

static void child_free_sized_victim(void)
{
    hak_free_sized(victim, hak_malloc_usable_size(victim) + 1);
}

Test(misuse, free_sized_too_large_reports)
{
    victim = alloc_filled(32);
    char what[96];
    snprintf(what, sizeof what, "(%zu bytes given, Tiny block of %zu bytes)",
             hak_malloc_usable_size(victim) + 1, hak_malloc_usable_size(victim));
    expect_report(child_free_sized_victim, victim, "wrong size in sized free of");
    expect_report(child_free_sized_victim, victim, what);
    hak_free(victim);
}

/* ---- Large and Huge blocks remember the size and alignment asked for ---- */

static size_t victim_size, victim_align;

static void child_free_aligned_sized_victim(void)
{
    hak_free_aligned_sized(victim, victim_align, victim_size);
}

static void child_free_sized_victim_as_given(void)
{
    hak_free_sized(victim, victim_size);
}

/* victim: allocated with (align, size) (align 0: malloc); the child frees
 * it with (given_align, given_size) (given_align 0: free_sized), which
 * must be reported: "wrong alignment" (wrong_align) or "wrong size", with
 * the given and the recorded value and the block's tier and size. */
static void expect_mismatch(size_t align, size_t size, size_t given_align, size_t given_size,
                            const char *tier, bool wrong_align)
{
    victim = align ? hak_aligned_alloc(align, size) : hak_malloc(size);
    cr_assert_not_null(victim);
    victim_align = given_align;
    victim_size = given_size;
    size_t usable = hak_malloc_usable_size(victim);
    char what[192];
    if (wrong_align)
        snprintf(what, sizeof what,
                 "wrong alignment in aligned free of 0x%lx (alignment %zu given, %s block of %zu "
                 "bytes, allocated with alignment %zu)\n",
                 (unsigned long)(uintptr_t)victim, given_align, tier, usable,
                 align < 16 ? 16 : align);
    else
        snprintf(what, sizeof what,
                 "wrong size in sized free of 0x%lx (%zu bytes given, %s block of %zu bytes, "
                 "allocated for %zu bytes)\n",
                 (unsigned long)(uintptr_t)victim, given_size, tier, usable, size);
    expect_report(given_align ? child_free_aligned_sized_victim : child_free_sized_victim_as_given,
                  victim, what);
    hak_free(victim);
}

Test(misuse, aligned_free_of_large_and_huge_blocks_with_another_alignment)
{
    expect_mismatch(65536, 100000, 4096, 100000, "Large", true);
    /* A page-aligned run is aligned to 64 and to 4096 alike: only the
     * recorded request tells them apart. */
    expect_mismatch(64, 100000, 4096, 100000, "Large", true);
    expect_mismatch(4096, 100000, 128, 100000, "Large", true);
    expect_mismatch(0, 100000, 4096, 100000, "Large", true);
    expect_mismatch(65536, 5 * MiB, 4096, 5 * MiB, "Huge", true);
    expect_mismatch(0, 5 * MiB, 32, 5 * MiB, "Huge", true);
}

/* Smaller than the request's class (the block of another type), or
 * larger than the block. */
Test(misuse, sized_free_of_large_and_huge_blocks_with_another_class)
{
    expect_mismatch(0, 100000, 0, 60000, "Large", false);
    expect_mismatch(4096, 100000, 4096, 60000, "Large", false);
    expect_mismatch(0, 100000, 0, 200000, "Large", false);
    expect_mismatch(0, 5 * MiB, 0, 4 * MiB, "Huge", false);
    expect_mismatch(65536, 5 * MiB, 65536, 5 * MiB + 4096, "Huge", false);
}

static void child_free_aligned_not_pow2(void) { hak_free_aligned_sized(victim, 24, 100000); }
static void child_free_aligned_misaligned(void) { hak_free_aligned_sized(victim, 65536, 40 * MiB); }

Test(misuse, aligned_free_with_an_impossible_alignment)
{
    victim = hak_aligned_alloc(64, 100000);
    expect_report(child_free_aligned_not_pow2, victim,
                  "wrong alignment in aligned free of");
    expect_report(child_free_aligned_not_pow2, victim, "(alignment 24 given, not a power of two)");
    hak_free(victim);
    /* A Huge block too large for an arena, aligned to 4096, starts one
     * page into its own mapping. */
    victim = hak_aligned_alloc(4096, 40 * MiB);
    cr_assert_neq((uintptr_t)victim & 65535, 0);
    expect_report(child_free_aligned_misaligned, victim,
                  "(alignment 65536 given, the address is not a multiple of it)");
    hak_free(victim);
}

Test(misuse, aligned_free_with_another_alignment_aborts, .signal = SIGABRT)
{
    void *p = hak_aligned_alloc(65536, 100000);
    hak_free_aligned_sized(p, 4096, 100000);
}
