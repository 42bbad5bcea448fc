/*
 * compat_probe.c - glibc's extensions and foreign pointers through the
 * standard names (linked against libhakmem.so; run by tests/compat.sh).
 *
 *   compat_probe aliases       __libc_* and cfree are hakmem's, one heap
 *   compat_probe info FILE     malloc_info XML into FILE
 *   compat_probe trim          malloc_trim after freeing, mallinfo2 figures
 *   compat_probe foreign       free/realloc/malloc_usable_size of memory
 *                              hakmem never handed out (foreign_free decides)
 *   compat_probe served        prints how many allocations hakmem served
 *   compat_probe glibc         glibc's answers: memalign family with sizes no
 *                              mapping can hold (every alignment up to 2^63),
 *                              mallopt against glibc's own mallopt
 *   compat_probe stats FILE    malloc_stats into a stderr stream of the
 *                              program's own (FILE), from a thread with a
 *                              cancellation request pending
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mman.h>

#include "hakmem.h"

void *__libc_malloc(size_t);
void __libc_free(void *);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void cfree(void *);

static int fails;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL: " __VA_ARGS__);                                                          \
            printf("\n");                                                                          \
            fails++;                                                                               \
        }                                                                                          \
    } while (0)

static const char *object_of(const void *fn)
{
    Dl_info info;
    return dladdr(fn, &info) && info.dli_fname ? info.dli_fname : "?";
}

static void aliases(void)
{
    const char *names[] = { "__libc_malloc", "__libc_free", "__libc_calloc", "__libc_realloc",
                            "__libc_memalign", "cfree", "malloc_trim", "mallinfo2", "mallinfo",
                            "malloc_stats", "malloc_info", "mallopt" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *fn = dlsym(RTLD_DEFAULT, names[i]);
        CHECK(fn && strstr(object_of(fn), "libhakmem"), "%s resolves to %s", names[i],
              fn ? object_of(fn) : "nothing");
    }
    /* One heap: what one name allocates, the others free. */
    char *a = __libc_malloc(100);
    CHECK(hak_malloc_usable_size(a) >= 100, "__libc_malloc block is hakmem's");
    free(a);
    char *b = malloc(200);
    __libc_free(b);
    char *c = __libc_calloc(10, 10);
    CHECK(c[99] == 0, "__libc_calloc zeroes");
    c = __libc_realloc(c, 5000);
    cfree(c);
    void *d = __libc_memalign(4096, 10);
    CHECK(((unsigned long)d & 4095) == 0, "__libc_memalign aligns");
    free(d);
}

static void info(const char *path)
{
    void *keep[3] = { malloc(40), malloc(9000), malloc(3 << 20) };
    FILE *f = fopen(path, "w");
    CHECK(f && malloc_info(0, f) == 0, "malloc_info");
    fclose(f);
    for (int i = 0; i < 3; i++)
        free(keep[i]);
}

static void trim(void)
{
    struct mallinfo2 before = mallinfo2();
    void *p[2000];
    for (int i = 0; i < 2000; i++)
        memset(p[i] = malloc(60000), 1, 60000);
    struct mallinfo2 full = mallinfo2();
    CHECK(full.uordblks >= before.uordblks + 2000 * 60000, "uordblks counts the blocks");
    for (int i = 0; i < 2000; i++)
        free(p[i]);
    CHECK(malloc_trim(0) == 1, "malloc_trim released something");
    struct mallinfo2 after = mallinfo2();
    /* stdio may have allocated its buffers meanwhile: a few KiB. */
    CHECK(after.uordblks <= before.uordblks + 8192, "uordblks back to %zu (%zu)", before.uordblks,
          after.uordblks);
    CHECK(after.fordblks < 1 << 20, "fordblks %zu after trim", after.fordblks);
}

static char static_buffer[256];

/* Hide where a pointer comes from: the compiler rightly warns about
 * freeing these, which is the point of the test. */
static void *launder(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

static void foreign(void)
{
    char *region = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int stack_var = 0;
    free(launder(static_buffer));
    free(launder(region + 4096));
    free(launder(&stack_var));
    size_t u = malloc_usable_size(region);
    CHECK(u == 0, "malloc_usable_size of foreign memory is %zu", u);
    errno = 0;
    void *r = realloc(launder(static_buffer), 100);
    CHECK(r == NULL && errno == ENOMEM, "realloc of foreign memory fails with ENOMEM");
    /* hakmem still works. */
    void *ok = malloc(100);
    free(ok);
    printf("foreign calls survived\n");
}

static void served(void)
{
    void *p = launder(malloc(1000));
    free(p);
    struct hak_stats st;
    hak_stats_get(&st);
    printf("served %llu\n", (unsigned long long)st.allocs);
}

/* Sizes no mapping can hold, as glibc's own tests use them. */
static const size_t glibc_huge_sizes[] = { SIZE_MAX, SIZE_MAX - 4095, (size_t)PTRDIFF_MAX + 1,
                                           (size_t)1 << 62, ((size_t)1 << 50) - 1 };

/* errno read after a call the compiler believes leaves it alone (GCC
 * assumes so of posix_memalign). */
static int errno_now(void) { return *(volatile int *)&errno; }

static void glibc(void)
{
    for (size_t i = 0; i < sizeof glibc_huge_sizes / sizeof glibc_huge_sizes[0]; i++) {
        size_t size = glibc_huge_sizes[i];
        for (int k = 0; k < 64; k++) {
            size_t align = (size_t)1 << k;
            errno = 0;
            void *p = memalign(align, size);
            CHECK(p == NULL && errno_now() == ENOMEM, "memalign(2^%d, %#zx): %p, errno %d", k, size, p,
                  errno_now());
            errno = 0;
            p = aligned_alloc(align, size);
            CHECK(p == NULL && errno_now() == ENOMEM, "aligned_alloc(2^%d, %#zx): %p, errno %d", k,
                  size, p, errno_now());
            if (align < sizeof(void *))
                continue;
            void *out = launder(NULL);
            errno = 0;
            int r = posix_memalign(&out, align, size);
            CHECK(r == ENOMEM && errno_now() == ENOMEM && out == NULL,
                  "posix_memalign(2^%d, %#zx): %d, errno %d, out %p", k, size, r, errno_now(), out);
        }
    }
    /* glibc's mallopt, reached through libc.so.6 (ours is interposed). */
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    int (*glibc_mallopt)(int, int) = libc ? (int (*)(int, int))(uintptr_t)dlsym(libc, "mallopt") : NULL;
    CHECK(glibc_mallopt != NULL && glibc_mallopt != mallopt, "glibc's mallopt found");
    if (glibc_mallopt == NULL)
        return;
    static const int params[] = { M_MXFAST, M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD,
                                  M_MMAP_MAX, M_CHECK_ACTION, M_PERTURB, M_ARENA_TEST,
                                  M_ARENA_MAX, 0, 4, -9, 1000 };
    static const int values[] = { INT32_MIN, -4096, -1, 0, 1, 8, 80, 159, 160, 161,
                                  4096, 128 * 1024, 32 << 20, (32 << 20) + 1, INT32_MAX };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        for (size_t j = 0; j < sizeof values / sizeof values[0]; j++) {
            int ours = mallopt(params[i], values[j]);
            int theirs = glibc_mallopt(params[i], values[j]);
            CHECK(ours == theirs, "mallopt(%d, %d) returns %d, glibc's %d", params[i], values[j],
                  ours, theirs);
        }
}

static pthread_barrier_t stats_gate;

static void *stats_thread(void *arg)
{
    (void)arg;
    /* The cancellation request is pending when the barrier lets us go
     * (pthread_barrier_wait is no cancellation point). */
    pthread_barrier_wait(&stats_gate);
    malloc_stats();
    fputs("after malloc_stats: the cancellation must have acted before this line\n", stderr);
    return NULL;
}

static void stats(const char *path)
{
    free(launder(malloc(1000)));
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "fopen %s", path);
    if (f == NULL)
        return;
    /* Unbuffered, as stderr is: each write is a cancellation point. */
    setvbuf(f, NULL, _IONBF, 0);
    FILE *saved = stderr;
    stderr = f;
    pthread_t t;
    pthread_barrier_init(&stats_gate, NULL, 2);
    CHECK(pthread_create(&t, NULL, stats_thread, NULL) == 0, "pthread_create");
    pthread_cancel(t);
    pthread_barrier_wait(&stats_gate);
    void *ret = NULL;
    pthread_join(t, &ret);
    stderr = saved;
    fclose(f);
    CHECK(ret == PTHREAD_CANCELED, "the thread was cancelled after malloc_stats");
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (strcmp(argv[1], "aliases") == 0)
        aliases();
    else if (strcmp(argv[1], "info") == 0 && argc > 2)
        info(argv[2]);
    else if (strcmp(argv[1], "trim") == 0)
        trim();
    else if (strcmp(argv[1], "foreign") == 0)
        foreign();
    else if (strcmp(argv[1], "served") == 0)
        served();
    else if (strcmp(argv[1], "glibc") == 0)
        glibc();
    else if (strcmp(argv[1], "stats") == 0 && argc > 2)
        stats(argv[2]);
    else
        return 2;
    return fails ? 1 : 0;
}
