/*
 * misuse.c - the misuse matrix under the preloaded library: every case runs
 * in a fresh process (this program executed again with "run CASE", with
 * the case's own HAKMEM_* settings) and must end as expected:
 *
 *   abort   SIGABRT after exactly one line on stderr that starts with
 *           "hakmem: " and contains the expected words
 *   segv    SIGSEGV (a guard page of the secure profile, or its
 *           inaccessible malloc(0))
 *   exit N  normal exit with status N, stderr as expected
 *
 * Besides, two processes must encode free-list links with different keys,
 * and with random_freelist hand out a fresh slab's blocks in different,
 * non-ascending orders.
 *
 *   misuse            run every case, print the matrix, exit 1 on a mismatch
 *   misuse run CASE   one case (what the driver executes)
 */
#include "rel.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

#define TINY 32
#define MID (4 * KiB)
#define LARGE (100 * KiB)
#define HUGE (4 * MiB)

static const size_t tier_size[4] = { TINY, MID, LARGE, HUGE };
static const char *const tier_name[4] = { "Tiny", "Mid", "Large", "Huge" };

static char global_buf[256];
static void *volatile launder;

static void *hide(void *p)
{
    launder = p;
    return launder;
}

static void *filled(size_t n)
{
    void *p = malloc(n);
    if (p == NULL)
        _exit(90);
    memset(p, 0x5a, n);
    return p;
}

static void *free_in_thread_fn(void *p)
{
    free(p);
    return NULL;
}

static void free_in_thread(void *p)
{
    pthread_t t;
    if (pthread_create(&t, NULL, free_in_thread_fn, p) != 0)
        _exit(91);
    pthread_join(t, NULL);
}

/* glibc's own malloc, reached through libc.so.6's symbol table (our malloc
 * is hakmem's): memory of another allocator in the same process. */
static void *libc_malloc(size_t n)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (libc == NULL)
        _exit(92);
    void *(*fn)(size_t) = (void *(*)(size_t))(uintptr_t)dlsym(libc, "malloc");
    if (fn == NULL || fn == malloc)
        _exit(93);
    void *p = fn(n);
    if (p == NULL)
        _exit(94);
    return p;
}

/* ---- free-list corruption ---- */

#define FL 300

/* Free FL blocks of `size` in order: the cache keeps the newest and flushes
 * the oldest to their slab's free list, where the link lives in the block;
 * then overwrite the oldest one's link as a use-after-free write would, and
 * allocate through the list. */
static void corrupt_link(size_t size)
{
    void *b[FL];
    for (int i = 0; i < FL; i++)
        b[i] = filled(size);
    /* b[1] stays live, so b[0]'s slab never empties (an empty slab's list
     * is dropped, not walked). */
    for (int i = 0; i < FL; i++)
        if (i != 1)
            free(b[i]);
    *(volatile uint64_t *)b[0] = 0x4141414141414141ull;
    for (int i = 0; i < 2 * FL; i++)
        hide(malloc(size));
}

/* A buffer overflow from a live block into the free-list link of the next
 * block, which is free and on its slab's list. */
static void overflow_link(size_t size)
{
    char *b[FL];
    for (int i = 0; i < FL; i++)
        b[i] = filled(size);
    if (b[1] != b[0] + size)
        _exit(95); /* the layout this case needs is not there */
    for (int i = 1; i < FL; i += 2)
        free(b[i]);
    memset(hide(b[0]), 0x41, size + 8);
    for (int i = 0; i < 2 * FL; i++)
        hide(malloc(size));
}

/* ---- probes printed for the driver ---- */

/* Blocks freed in order go back to their slab in that order (the cache
 * flushes its oldest half), each pushed on one of the slab's lists: the
 * link stored in a block names the block pushed on that list before it, as
 * (that block) ^ (own address >> 12) ^ key.  Derive the key from two pairs;
 * print it if they agree. */
static int key_probe(void)
{
    enum { N = 300 };
    void *b[N];
    for (int i = 0; i < N; i++)
        b[i] = filled(64);
    for (int i = 0; i < N; i++)
        free(b[i]);
    /* The blocks went back to their slab in order, onto free lists that
     * take turns (docs/ARCHITECTURE.md), so b[i + s]'s link names b[i] for
     * the number of lists s; find s from two pairs that agree on the key. */
    enum { MAX_LISTS = 16 };
    uint64_t w[2 + 2 * MAX_LISTS];
    for (int i = 0; i < 2 + 2 * MAX_LISTS; i++) {
        memcpy(&w[i], b[i], 8);
        for (int j = 0; j < i; j++)
            if (w[i] == (uintptr_t)b[j])
                return 3; /* stored in clear */
    }
    uint64_t k2 = 0;
    int found = 0;
    for (int s = 1; s <= MAX_LISTS && !found; s++) {
        k2 = w[1 + s] ^ (uintptr_t)b[1] ^ ((uintptr_t)b[1 + s] >> 12);
        uint64_t k3 = w[2 + s] ^ (uintptr_t)b[2] ^ ((uintptr_t)b[2 + s] >> 12);
        found = k2 == k3;
    }
    if (!found)
        return 2;
    printf("%016llx\n", (unsigned long long)k2);
    return 0;
}

/* The order in which a fresh slab's first 64 blocks are handed out, as
 * block indices from the lowest address. */
static int order_probe(void)
{
    enum { N = 64 };
    uintptr_t a[N], lo = UINTPTR_MAX;
    for (int i = 0; i < N; i++) {
        a[i] = (uintptr_t)filled(64);
        if (a[i] < lo)
            lo = a[i];
    }
    for (int i = 0; i < N; i++)
        printf("%lu%c", (unsigned long)((a[i] - lo) / 64), i + 1 < N ? ' ' : '\n');
    return 0;
}

/* After free (and in a reused block), the block reads as zero: from its
 * first byte with the secure profile's quarantine (nothing is kept in a
 * freed block), past the allocator's two link words with zero_on_free
 * alone.  Exit 0 if it does, 1 if not. */
static int zero_probe(int tier, size_t from)
{
    size_t n = tier_size[tier];
    unsigned char *p = filled(n);
    free(p);
    for (size_t i = from; i < n; i++)
        if (((volatile unsigned char *)p)[i] != 0)
            return 1;
    unsigned char *q = malloc(n);
    if (q != p)
        return 0; /* not reused: nothing more to look at */
    for (size_t i = from; i < n; i++)
        if (q[i] != 0)
            return 1;
    return 0;
}

/* ---- the cases ---- */

struct expect {
    const char *name;
    const char *env;   /* "KEY=VALUE" or NULL */
    int kind;          /* EXP_* */
    const char *words; /* abort: in the message; exit: stderr must contain (NULL: be empty) */
    int code;          /* exit status */
    const char *row, *col; /* matrix position (NULL: not in the matrix) */
};

enum { EXP_ABORT, EXP_SEGV, EXP_EXIT };

static int run_case(const char *name)
{
    char buf[64];
    memset(buf, 1, sizeof buf);
    for (int t = 0; t < 4; t++) {
        char what[64];
        size_t n = tier_size[t];
        snprintf(what, sizeof what, "double_free_%s", tier_name[t]);
        if (strcmp(name, what) == 0) {
            void *p = filled(n);
            free(p);
            free(hide(p));
            return 0;
        }
        snprintf(what, sizeof what, "double_free_thread_%s", tier_name[t]);
        if (strcmp(name, what) == 0) {
            void *p = filled(n);
            free(p);
            free_in_thread(hide(p));
            return 0;
        }
        snprintf(what, sizeof what, "interior_%s", tier_name[t]);
        if (strcmp(name, what) == 0) {
            char *p = filled(n);
            free(hide(p + 16));
            return 0;
        }
        snprintf(what, sizeof what, "realloc_freed_%s", tier_name[t]);
        if (strcmp(name, what) == 0) {
            void *p = filled(n);
            free(p);
            hide(realloc(hide(p), 2 * n));
            return 0;
        }
        snprintf(what, sizeof what, "realloc_interior_%s", tier_name[t]);
        if (strcmp(name, what) == 0) {
            char *p = filled(n);
            hide(realloc(hide(p + 16), 2 * n));
            return 0;
        }
        snprintf(what, sizeof what, "usable_freed_%s", tier_name[t]);
        if (strcmp(name, what) == 0) {
            void *p = filled(n);
            free(p);
            return (int)malloc_usable_size(hide(p)) & 1;
        }
        snprintf(what, sizeof what, "zero_%s", tier_name[t]);
        if (strcmp(name, what) == 0)
            return zero_probe(t, 16);
        snprintf(what, sizeof what, "zero_whole_%s", tier_name[t]);
        if (strcmp(name, what) == 0)
            return zero_probe(t, 0);
    }
    if (strcmp(name, "free_stack") == 0) {
        free(hide(buf + 16));
        return 0;
    }
    if (strcmp(name, "free_global") == 0) {
        free(hide(global_buf));
        return 0;
    }
    if (strcmp(name, "free_mmap") == 0) {
        void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return 96;
        free(hide((char *)m + 4096));
        return 0;
    }
    if (strcmp(name, "free_libc") == 0) {
        free(hide(libc_malloc(64)));
        return 0;
    }
    if (strcmp(name, "realloc_libc") == 0) {
        hide(realloc(hide(libc_malloc(64)), 128));
        return 0;
    }
    if (strcmp(name, "foreign_tolerated") == 0) {
        /* foreign_free = warn or ignore: each call is a no-op; realloc fails. */
        void *g = libc_malloc(64);
        free(hide(g));
        free(hide(buf));
        free(hide(global_buf));
        errno = 0;
        /* cppcheck-suppress leakReturnValNotUsed ; foreign: realloc must return NULL */
        if (realloc(hide(g), 128) != NULL || errno != ENOMEM)
            return 10;
        if (malloc_usable_size(hide(buf)) != 0)
            return 11;
        void *p = filled(100); /* the allocator still works */
        free(p);
        return 0;
    }
    if (strcmp(name, "corrupt_link_Tiny") == 0) {
        corrupt_link(64);
        return 0;
    }
    if (strcmp(name, "corrupt_link_Mid") == 0) {
        corrupt_link(2 * KiB);
        return 0;
    }
    if (strcmp(name, "overflow_link_Tiny") == 0) {
        overflow_link(64);
        return 0;
    }
    if (strcmp(name, "overflow_link_Mid") == 0) {
        overflow_link(2 * KiB);
        return 0;
    }
    if (strcmp(name, "guard_over_Large") == 0 || strcmp(name, "guard_over_Huge") == 0) {
        char *p = filled(name[11] == 'L' ? LARGE : HUGE);
        size_t usable = malloc_usable_size(p);
        ((volatile char *)p)[usable] = 1; /* one byte past the block */
        return 0;
    }
    if (strcmp(name, "guard_under_Large") == 0 || strcmp(name, "guard_under_Huge") == 0) {
        char *p = filled(name[12] == 'L' ? LARGE : HUGE);
        ((volatile char *)p)[-1] = 1; /* one byte before the block */
        return 0;
    }
    if (strcmp(name, "guard_under_Large_after_live") == 0) {
        char *a = filled(LARGE);
        char *p = filled(LARGE);
        hide(a);
        ((volatile char *)p)[-1] = 1; /* into the guard page of the live block before */
        return 0;
    }
    if (strcmp(name, "realloc_grow_Huge") == 0) {
        /* Grows (and moves) a Huge block: with guard pages too. */
        char *p = filled(2 * MiB);
        char *q = realloc(p, 9 * MiB);
        if (q == NULL)
            return 1;
        for (size_t i = 0; i < 2 * MiB; i += 4096)
            if (q[i] != 0x5a)
                return 2;
        memset(q, 1, 9 * MiB);
        free(q);
        return 0;
    }
    /* hardened_malloc's test programs, as they are written there. */
    if (strcmp(name, "invalid_free_small_region") == 0) {
        char *p = filled(16);
        free(hide(p + 4096 * 4));
        return 0;
    }
    if (strcmp(name, "usable_never_handed_out") == 0) {
        char *p = filled(16);
        return (int)malloc_usable_size(hide(p + 4096 * 4)) & 1;
    }
    if (strcmp(name, "realloc_never_handed_out") == 0) {
        char *p = filled(16);
        hide(realloc(hide(p + 4096 * 4), 64));
        return 0;
    }
    if (strcmp(name, "overflow_small_1_byte") == 0 || strcmp(name, "overflow_small_8_byte") == 0 ||
        strcmp(name, "overflow_mid_1_byte") == 0) {
        char *p = filled(strstr(name, "_mid_") ? 3000 : 8);
        size_t usable = malloc_usable_size(p);
        if (strstr(name, "_8_"))
            ((volatile char *)p)[usable + 7] ^= 1;
        else
            ((volatile char *)p)[usable] = 1;
        free(p);
        return 0;
    }
    if (strcmp(name, "write_after_free_small_reuse") == 0 ||
        strcmp(name, "write_after_free_large_reuse") == 0) {
        int large = strstr(name, "large") != NULL;
        size_t n = large ? 256 * KiB : 128;
        char *p = filled(n);
        free(p);
        hide(malloc(n));
        ((volatile char *)p)[large ? 64 * KiB + 1 : 65] = 'a';
        for (int i = 0; i < 100000; i++)
            free(hide(malloc(n)));
        return 0;
    }
    if (strcmp(name, "read_zero_size") == 0) {
        char *p = malloc(0);
        printf("%d\n", *(volatile char *)hide(p));
        return 0;
    }
    if (strcmp(name, "write_zero_size") == 0) {
        char *p = malloc(0);
        *(volatile char *)hide(p) = 5;
        return 0;
    }
    if (strcmp(name, "malloc_zero_different") == 0) {
        void *p = malloc(0), *q = malloc(0);
        if (p == NULL || p == q || malloc_usable_size(p) != 0)
            return 1;
        char *r = realloc(p, 100);
        if (r == NULL)
            return 2;
        memset(r, 1, 100);
        free(r);
        free(q);
        return 0;
    }
    if (strcmp(name, "key") == 0)
        return key_probe();
    if (strcmp(name, "order") == 0)
        return order_probe();
    fprintf(stderr, "misuse: unknown case %s\n", name);
    return 99;
}

/* ---- the driver ---- */

#define T4(prefix, row, kind, words)                                              \
    { prefix "Tiny", NULL, kind, words, 0, row, "Tiny" },                          \
    { prefix "Mid", NULL, kind, words, 0, row, "Mid" },                            \
    { prefix "Large", NULL, kind, words, 0, row, "Large" }

/* A case under profile = secure. */
#define SECURE(name, kind, words, row, col) { name, "HAKMEM_PROFILE=secure", kind, words, 0, row, col }

static const struct expect cases[] = {
    T4("double_free_", "double free", EXP_ABORT, "double free of"),
    /* A freed Huge mapping is either kept for reuse (then its state says
     * freed) or unmapped (then the address is no longer hakmem's). */
    { "double_free_Huge", NULL, EXP_ABORT, "double free of|not allocated by hakmem", 0, "double free", "Huge" },
    T4("double_free_thread_", "double free, 2nd in another thread", EXP_ABORT, "double free"),
    { "double_free_thread_Huge", NULL, EXP_ABORT, "double free of|not allocated by hakmem", 0,
      "double free, 2nd in another thread", "Huge" },
    T4("interior_", "free of an interior pointer", EXP_ABORT, "invalid free of"),
    { "interior_Huge", NULL, EXP_ABORT, "invalid free of", 0, "free of an interior pointer", "Huge" },
    T4("realloc_freed_", "realloc of a freed pointer", EXP_ABORT, "realloc of freed block"),
    { "realloc_freed_Huge", NULL, EXP_ABORT, "realloc of freed block|realloc of", 0, "realloc of a freed pointer", "Huge" },
    T4("realloc_interior_", "realloc of an interior pointer", EXP_ABORT, "realloc of invalid pointer"),
    { "realloc_interior_Huge", NULL, EXP_ABORT, "realloc of invalid pointer", 0,
      "realloc of an interior pointer", "Huge" },
    T4("usable_freed_", "malloc_usable_size of a freed pointer", EXP_ABORT, "malloc_usable_size of freed block"),
    { "usable_freed_Huge", NULL, EXP_ABORT, "malloc_usable_size of freed block|not allocated by hakmem", 0,
      "malloc_usable_size of a freed pointer", "Huge" },
    { "corrupt_link_Tiny", NULL, EXP_ABORT, "corrupted free list", 0, "use-after-free write to a free-list link", "Tiny" },
    { "corrupt_link_Mid", NULL, EXP_ABORT, "corrupted free list", 0, "use-after-free write to a free-list link", "Mid" },
    { "overflow_link_Tiny", NULL, EXP_ABORT, "corrupted free list", 0, "overflow into the next block's link", "Tiny" },
    { "overflow_link_Mid", NULL, EXP_ABORT, "corrupted free list", 0, "overflow into the next block's link", "Mid" },
    { "free_stack", NULL, EXP_ABORT, "not allocated by hakmem", 0, "free of a stack address", "any" },
    { "free_global", NULL, EXP_ABORT, "not allocated by hakmem", 0, "free of a global", "any" },
    { "free_mmap", NULL, EXP_ABORT, "not allocated by hakmem", 0, "free of a separately mmap'ed region", "any" },
    { "free_libc", NULL, EXP_ABORT, "not allocated by hakmem", 0, "free of glibc's malloc memory", "any" },
    { "realloc_libc", NULL, EXP_ABORT, "realloc of", 0, "realloc of glibc's malloc memory", "any" },
    { "foreign_tolerated", "HAKMEM_FOREIGN_FREE=warn", EXP_EXIT, "not allocated by hakmem", 0,
      "foreign pointers, foreign_free=warn", "any" },
    { "foreign_tolerated", "HAKMEM_FOREIGN_FREE=ignore", EXP_EXIT, NULL, 0,
      "foreign pointers, foreign_free=ignore", "any" },
    { "double_free_Tiny", "HAKMEM_FOREIGN_FREE=ignore", EXP_ABORT, "double free of", 0,
      "double free, foreign_free=ignore", "Tiny" },
    { "guard_over_Large", "HAKMEM_PROFILE=secure", EXP_SEGV, NULL, 0, "secure: write 1 byte past the block", "Large" },
    { "guard_over_Huge", "HAKMEM_PROFILE=secure", EXP_SEGV, NULL, 0, "secure: write 1 byte past the block", "Huge" },
    { "guard_under_Large", "HAKMEM_PROFILE=secure", EXP_SEGV, NULL, 0, "secure: write 1 byte before the block", "Large" },
    { "guard_under_Large_after_live", "HAKMEM_PROFILE=secure", EXP_SEGV, NULL, 0,
      "secure: write 1 byte before, live block before it", "Large" },
    { "guard_under_Huge", "HAKMEM_PROFILE=secure", EXP_SEGV, NULL, 0, "secure: write 1 byte before the block", "Huge" },
    { "guard_over_Large", NULL, EXP_EXIT, NULL, 0, "default: write 1 byte past the block", "Large" },
    { "realloc_grow_Huge", "HAKMEM_PROFILE=secure", EXP_EXIT, NULL, 0, "secure: realloc grows a guarded block", "Huge" },
    SECURE("zero_whole_Tiny", EXP_EXIT, NULL, "secure: freed block reads zero, every byte", "Tiny"),
    SECURE("zero_whole_Mid", EXP_EXIT, NULL, "secure: freed block reads zero, every byte", "Mid"),
    SECURE("zero_whole_Large", EXP_EXIT, NULL, "secure: freed block reads zero, every byte", "Large"),
    { "zero_Tiny", "HAKMEM_ZERO_ON_FREE=1", EXP_EXIT, NULL, 0, "zero_on_free: freed block reads zero past 16 bytes", "Tiny" },
    { "invalid_free_small_region", NULL, EXP_ABORT, "never handed out: Tiny block of 16 bytes", 0,
      "free of a block never handed out (16 KiB on from a 16-byte block)", "Tiny" },
    { "usable_never_handed_out", NULL, EXP_ABORT, "never handed out: Tiny block of 16 bytes", 0,
      "malloc_usable_size of a block never handed out", "Tiny" },
    { "realloc_never_handed_out", NULL, EXP_ABORT, "never handed out: Tiny block of 16 bytes", 0,
      "realloc of a block never handed out", "Tiny" },
    SECURE("overflow_small_1_byte", EXP_ABORT, "buffer overflow past the end of",
           "secure: 1 byte written past malloc_usable_size", "Tiny"),
    SECURE("overflow_small_8_byte", EXP_ABORT, "buffer overflow past the end of",
           "secure: 8th byte past malloc_usable_size changed", "Tiny"),
    SECURE("overflow_mid_1_byte", EXP_ABORT, "buffer overflow past the end of",
           "secure: 1 byte written past malloc_usable_size", "Mid"),
    { "overflow_small_1_byte", NULL, EXP_EXIT, NULL, 0, "default: 1 byte written past malloc_usable_size", "Tiny" },
    SECURE("write_after_free_small_reuse", EXP_ABORT, "write after free to",
           "secure: write after free, then 100,000 reuses of 128 B", "Tiny"),
    SECURE("write_after_free_large_reuse", EXP_ABORT, "write after free to",
           "secure: write after free, then 100,000 reuses of 256 KiB", "Large"),
    SECURE("double_free_Tiny", EXP_ABORT, "double free of", "secure: double free (the freed block reads zero)",
           "Tiny"),
    SECURE("read_zero_size", EXP_SEGV, NULL, "secure: read of malloc(0)", "any"),
    SECURE("write_zero_size", EXP_SEGV, NULL, "secure: write to malloc(0)", "any"),
    SECURE("malloc_zero_different", EXP_EXIT, NULL, "secure: malloc(0) unique, usable 0, realloc and free work",
           "any"),
    { "zero_Tiny", NULL, EXP_EXIT, NULL, 1, "default: freed block keeps its data", "Tiny" },
    { "zero_Large", NULL, EXP_EXIT, NULL, 1, "default: freed block keeps its data", "Large" },
};

#define NCASES (sizeof cases / sizeof cases[0])

/* Run this program with "run name" and `env`; capture stdout and stderr. */
static int spawn(const char *name, const char *env, char *out, size_t out_cap, char *err,
                 size_t err_cap)
{
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0)
        rel_fail("pipe");
    pid_t pid = fork();
    if (pid < 0)
        rel_fail("fork");
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        if (env)
            putenv((char *)env);
        /* A hundred expected crashes must not leave core files behind. */
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        alarm(30);
        char *argv[] = { "misuse", "run", (char *)name, NULL };
        execve("/proc/self/exe", argv, environ);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    /* Small outputs: read stdout, then stderr. */
    size_t n = 0;
    ssize_t r;
    while (n < out_cap - 1 && (r = read(po[0], out + n, out_cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    n = 0;
    while (n < err_cap - 1 && (r = read(pe[0], err + n, err_cap - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = 0;
    close(po[0]);
    close(pe[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            rel_fail("waitpid");
    return status;
}

/* Does s contain one of the '|'-separated alternatives? */
static int has_words(const char *s, const char *alternatives)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", alternatives);
    for (char *save = NULL, *w = strtok_r(buf, "|", &save); w; w = strtok_r(NULL, "|", &save))
        if (strstr(s, w))
            return 1;
    return 0;
}

static int check_case(const struct expect *c, char *verdict, size_t cap)
{
    char out[4096], err[4096];
    int st = spawn(c->name, c->env, out, sizeof out, err, sizeof err);
    size_t len = strlen(err);
    switch (c->kind) {
    case EXP_ABORT: {
        int one_line = len > 0 && err[len - 1] == '\n' && strchr(err, '\n') == err + len - 1;
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strncmp(err, "hakmem: ", 8) == 0 &&
            one_line && has_words(err, c->words)) {
            err[len - 1] = 0;
            snprintf(verdict, cap, "abort: %.400s", err + 8);
            return 0;
        }
        break;
    }
    case EXP_SEGV:
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) {
            snprintf(verdict, cap, "SIGSEGV (inaccessible page)");
            return 0;
        }
        break;
    case EXP_EXIT:
        if (WIFEXITED(st) && WEXITSTATUS(st) == c->code &&
            (c->words ? strstr(err, c->words) != NULL : len == 0)) {
            if (c->words) {
                int lines = 0;
                for (const char *s = err; *s; s++)
                    lines += *s == '\n';
                snprintf(verdict, cap, "no abort, %d warning line(s)", lines);
            } else {
                snprintf(verdict, cap, "exit %d, nothing on stderr", c->code);
            }
            return 0;
        }
        break;
    }
    char how[64];
    if (WIFSIGNALED(st))
        snprintf(how, sizeof how, "signal %d", WTERMSIG(st));
    else
        snprintf(how, sizeof how, "exit %d", WEXITSTATUS(st));
    if (len && err[len - 1] == '\n')
        err[len - 1] = 0;
    snprintf(verdict, cap, "UNEXPECTED (%s) stderr: %.300s", how, err);
    return 1;
}

static int check_probes(void)
{
    int bad = 0;
    char k1[4096], k2[4096], e[4096];
    int s1 = spawn("key", NULL, k1, sizeof k1, e, sizeof e);
    int s2 = spawn("key", NULL, k2, sizeof k2, e, sizeof e);
    if (!WIFEXITED(s1) || WEXITSTATUS(s1) != 0 || !WIFEXITED(s2) || WEXITSTATUS(s2) != 0) {
        printf("misuse: free-list key probe FAILED (status %#x, %#x): links are not "
               "address ^ key, or stored in clear\n", s1, s2);
        bad = 1;
    } else if (strcmp(k1, k2) == 0) {
        printf("misuse: free-list key FAILED: two processes use the same key %s", k1);
        bad = 1;
    } else {
        k1[strcspn(k1, "\n")] = 0;
        k2[strcspn(k2, "\n")] = 0;
        printf("misuse: free-list links encoded, key differs between processes (%s, %s)\n", k1, k2);
    }
    char o0[4096], o1[4096], o2[4096];
    spawn("order", NULL, o0, sizeof o0, e, sizeof e);
    spawn("order", "HAKMEM_RANDOM_FREELIST=1", o1, sizeof o1, e, sizeof e);
    spawn("order", "HAKMEM_RANDOM_FREELIST=1", o2, sizeof o2, e, sizeof e);
    char ascending[4096] = "";
    for (int i = 0; i < 64; i++) {
        char num[8];
        snprintf(num, sizeof num, "%d%c", i, i + 1 < 64 ? ' ' : '\n');
        strcat(ascending, num);
    }
    if (strcmp(o0, ascending) != 0) {
        printf("misuse: default hand-out order is not by address: %s", o0);
        bad = 1;
    }
    if (strcmp(o1, ascending) == 0 || strcmp(o1, o2) == 0 || o1[0] == 0) {
        printf("misuse: random_freelist FAILED: orders %.60s... and %.60s...\n", o1, o2);
        bad = 1;
    } else {
        printf("misuse: random_freelist: first blocks of a fresh slab in two processes: %.23s... / %.23s...\n",
               o1, o2);
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "run") == 0)
        return run_case(argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(240);
    REL_CHECK(rel_hakmem_loaded(), "misuse: hakmem is not loaded (run with LD_PRELOAD)");
    int bad = 0;
    printf("| misuse | tier | setting | outcome |\n|---|---|---|---|\n");
    for (size_t i = 0; i < NCASES; i++) {
        char verdict[512];
        bad += check_case(&cases[i], verdict, sizeof verdict);
        printf("| %s | %s | %s | %s |\n", cases[i].row ? cases[i].row : cases[i].name,
               cases[i].col ? cases[i].col : "", cases[i].env ? cases[i].env : "default", verdict);
    }
    bad += check_probes();
    printf("misuse: %zu cases, %d unexpected\n", NCASES + 2, bad);
    return bad ? 1 : 0;
}
