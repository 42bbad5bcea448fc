/*
 * test_arena.c - the Tiny arena (small/slab.h, small/segment.c): Tiny
 * blocks live in it with their descriptors in its array, a mapping someone
 * else placed in the range is stepped over and never taken for ours, and
 * the free fast path's checks hold for arena blocks (a block never handed
 * out, a block waiting in the cache).
 */
#include "test_util.h"

#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "base/block.h"
#include "base/segment_map.h"
#include "small/slab.h"

static void no_core_dumps(void)
{
    struct rlimit rl = { 0, 0 };
    setrlimit(RLIMIT_CORE, &rl);
}

TestSuite(arena, .init = no_core_dumps);

static void *victim;

static void child_free_victim(void)
{
    hak_free(victim);
}

static void child_usable_size_victim(void)
{
    (void)hak_malloc_usable_size(victim);
}

/* The child aborts after one "hakmem: " line that contains `what` and
 * names addr. */
static void expect_report(void (*fn)(void), const void *addr, const char *what)
{
    char err[2048];
    int status = test_run_child(fn, err, sizeof err);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "child did not abort (status %#x), stderr: %s", status, err);
    cr_assert(strncmp(err, "hakmem: ", 8) == 0, "report: %s", err);
    cr_assert(strstr(err, what) != NULL, "report lacks \"%s\": %s", what, err);
    char hex[32];
    snprintf(hex, sizeof hex, "0x%lx", (unsigned long)(uintptr_t)addr);
    cr_assert(strstr(err, hex) != NULL, "report does not name %s: %s", hex, err);
}

Test(arena, tiny_blocks_live_in_the_arena)
{
    void *p = hak_malloc(64);
    cr_assert_not_null(p);
    uintptr_t a = (uintptr_t)p;
    cr_assert(hak_arena_contains(a), "a Tiny block outside the arena: %p (arena %#lx)", p,
              (unsigned long)hak_block_mark);
    /* Its descriptor is in the array at the arena's start, not in a header. */
    hak_slab *s = hak_slab_of(a, HAK_TINY_SLAB_SHIFT);
    cr_assert((uintptr_t)s >= hak_block_mark &&
              (uintptr_t)s < hak_block_mark + HAK_ARENA_DESC_BYTES);
    cr_assert_eq(s->start, a & ~(uintptr_t)(HAK_TINY_SLAB_SIZE - 1));
    cr_assert_eq(s->block_size, 64);
    cr_assert_eq(hak_segmap_get(a), HAK_TINY_SLAB_SHIFT);
    /* Mid blocks keep their descriptors in their segment's header. */
    void *m = hak_malloc(5000);
    cr_assert_not(hak_arena_contains((uintptr_t)m));
    hak_free(m);
    hak_free(p);
}

Test(arena, freed_mark_is_the_arena_base)
{
    void *p = hak_malloc(32);
    void *q = hak_malloc(32);
    hak_free(p);
    /* A freed block carries the mark in its second word, a live one not. */
    cr_assert_eq(((uintptr_t *)p)[1], hak_block_mark);
    cr_assert_neq(((uintptr_t *)q)[1], hak_block_mark);
    hak_free(q);
}

Test(arena, freed_mark_low_half_is_never_zero)
{
    /* The free fast path compares the low half first (base/block.h): a
     * zero low half would match every zeroed word. */
    cr_assert_neq((uint32_t)hak_block_mark, 0, "mark %#lx", (unsigned long)hak_block_mark);
}

Test(arena, a_live_block_holding_half_the_mark_is_freed)
{
    /* The four bytes the fast path compares first match, the word does
     * not: a live block, freed without a report and marked as usual. */
    uintptr_t mark = hak_block_mark;
    unsigned char *p = hak_malloc(16);
    cr_assert_not_null(p);
    memcpy(p + 8, &mark, 4);
    memset(p + 12, 0x5a, 4);
    hak_free(p);
    cr_assert_eq(((uintptr_t *)p)[1], mark);
    unsigned char *q = hak_malloc(16);
    cr_assert_eq(q, p, "the freed block went back to the cache");
    hak_free(q);
}

Test(arena, free_of_a_block_never_handed_out)
{
    /* The 1024th block of a fresh 16-byte slab: a block start inside the
     * slab, but beyond what was ever carved out of it. */
    char *p = hak_malloc(16);
    victim = p + 16 * 1024;
    expect_report(child_free_victim, victim, "invalid free of");
    expect_report(child_usable_size_victim, victim, "invalid pointer");
    hak_free(p);
}

Test(arena, free_of_a_block_still_in_the_cache)
{
    /* The block handed out after p is carved already and waits in the
     * cache: freeing it before malloc returned it is a double free, not a
     * second copy in the cache. */
    char *p = hak_malloc(48);
    char *next = hak_malloc(48);
    hak_free(next);
    victim = next;
    expect_report(child_free_victim, victim, "double free of");
    hak_free(p);
}

Test(arena, foreign_mapping_in_the_range_is_stepped_over)
{
    /* Fill a few segments so the next ones are placed, then put a mapping
     * of our own where the next Tiny segments would go. */
    char *p = hak_malloc(1024);
    uintptr_t seg = (uintptr_t)p & ~(uintptr_t)HAK_SEGMENT_MASK;
    uintptr_t gap = seg + 4 * HAK_SEGMENT_SIZE;
    cr_assert(hak_arena_contains(gap));
    void *mine = mmap((void *)gap, HAK_PAGE_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    cr_assert_eq(mine, (void *)gap, "cannot map inside the arena's range");
    /* Enough 1 KiB blocks for 12 more segments: some would land on `gap`. */
    enum { N = 12 * 4096 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = hak_malloc(1024);
        cr_assert_not_null(blocks[i]);
        cr_assert((uintptr_t)blocks[i] < gap || (uintptr_t)blocks[i] >= gap + HAK_SEGMENT_SIZE,
                  "a block placed over someone else's mapping");
    }
    /* The mapping is intact and not ours. */
    memset(mine, 0x7e, HAK_PAGE_SIZE);
    cr_assert_eq(hak_segmap_get(gap), HAK_SEGMAP_NONE);
    cr_assert_eq(hak_malloc_usable_size(p), 1024);
    /* Freeing a pointer into it is a foreign free, reported as such. */
    victim = (char *)mine + 64;
    expect_report(child_free_victim, victim, "not allocated by hakmem");
    for (int i = 0; i < N; i++)
        hak_free(blocks[i]);
    hak_free(p);
    munmap(mine, HAK_PAGE_SIZE);
}
