/*
 * oom_cases.h - out of memory under RLIMIT_AS, shared by the unit test
 * (tests/test_oom.c, hak_ functions of the static library) and the preload
 * program (reliability/oom.c, the standard names of libhakmem.so).  The
 * includer defines OOM_FN(name) to the function to call and includes this
 * file once.
 *
 * Each case runs in a child process (oom_run_case) that lowers its own
 * address-space limit to a little above what it uses (OOM_HEADROOM more),
 * allocates with one function in one tier until the allocation fails, and
 * checks:
 *   - the failure is NULL with errno ENOMEM (posix_memalign: returns ENOMEM,
 *     leaves *out alone and errno at ENOMEM, as glibc's does); a failed
 *     realloc leaves its block intact;
 *   - a fair share of the headroom was served first (no spurious failure);
 *   - no crash, no abort, no deadlock (an alarm ends the child);
 *   - memory freed under the limit can be allocated again;
 *   - after the limit is raised, the same function allocates well beyond
 *     the old limit.
 * Messages go to stderr with write(2) only: under the limit stdio could
 * itself fail to allocate.
 */
#ifndef HAKMEM_OOM_CASES_H
#define HAKMEM_OOM_CASES_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OOM_KiB ((size_t)1024)
#define OOM_MiB ((size_t)1024 * 1024)
/* Address space allowed above what the child uses when it sets the limit. */
#define OOM_HEADROOM (48 * OOM_MiB)
#define OOM_MAX_BLOCKS (1u << 18)

enum oom_fn {
    OOM_MALLOC,
    OOM_CALLOC,
    OOM_REALLOC,
    OOM_REALLOCARRAY,
    OOM_POSIX_MEMALIGN,
    OOM_ALIGNED_ALLOC,
    OOM_MEMALIGN,
    OOM_VALLOC,
    OOM_PVALLOC,
    OOM_FN_COUNT
};

static const char *const oom_fn_name[OOM_FN_COUNT] = {
    "malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
    "aligned_alloc", "memalign", "valloc", "pvalloc",
};

enum { OOM_TIERS = 4 };
static const char *const oom_tier_name[OOM_TIERS] = { "Tiny", "Mid", "Large", "Huge" };
/* Request sizes (multiples of 16, for reallocarray's count * 16). */
static const size_t oom_tier_size[OOM_TIERS] = { 704, 12 * OOM_KiB, 200 * OOM_KiB, 3 * OOM_MiB };
/* What realloc grows from: a Tiny block, or a block of the same tier. */
static const size_t oom_realloc_from[OOM_TIERS] = { 16, 16, 48 * OOM_KiB, 3 * OOM_MiB / 2 };

static void *oom_blocks[OOM_MAX_BLOCKS];
static void *oom_bases[OOM_MAX_BLOCKS];
/* Usable bytes oom_exhaust obtained before the failure. */
static size_t oom_served;

__attribute__((noreturn, format(printf, 1, 2))) static void oom_fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if (n > (int)sizeof msg - 2)
        n = (int)sizeof msg - 2;
    msg[n++] = '\n';
    if (write(2, msg, (size_t)n) < 0)
        _exit(3);
    _exit(1);
}

static size_t oom_vmsize(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        oom_fail("cannot open /proc/self/statm");
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        oom_fail("cannot read /proc/self/statm");
    buf[n] = 0;
    size_t pages = 0;
    for (const char *s = buf; *s >= '0' && *s <= '9'; s++)
        pages = pages * 10 + (size_t)(*s - '0');
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

static void oom_set_limit(size_t bytes)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0)
        oom_fail("getrlimit: %s", strerror(errno));
    rl.rlim_cur = bytes;
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        oom_fail("setrlimit(RLIMIT_AS, %zu): %s", bytes, strerror(errno));
}

/* Limit to what we use now plus the headroom. */
static void oom_limit(void) { oom_set_limit(oom_vmsize() + OOM_HEADROOM); }

static void oom_unlimit(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    oom_set_limit(rl.rlim_max);
}

static void oom_stamp(void *p, size_t n, uintptr_t v)
{
    memcpy(p, &v, sizeof v);
    memcpy((char *)p + n - sizeof v, &v, sizeof v);
}

static int oom_stamped(const void *p, size_t n, uintptr_t v)
{
    uintptr_t a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, (const char *)p + n - sizeof b, sizeof b);
    return a == v && b == v;
}

/* One allocation with function fn, `size` bytes; realloc variants grow
 * `base`.  Returns the block or NULL; *err is the error seen (errno, or
 * posix_memalign's return value). */
static void *oom_call(int fn, size_t size, void *base, int *err)
{
    void *p = NULL;
    errno = 0;
    switch (fn) {
    case OOM_MALLOC: p = OOM_FN(malloc)(size); break;
    case OOM_CALLOC: p = OOM_FN(calloc)(size / 16, 16); break;
    case OOM_REALLOC: p = OOM_FN(realloc)(base, size); break;
    case OOM_REALLOCARRAY: p = OOM_FN(reallocarray)(base, size / 16, 16); break;
    case OOM_POSIX_MEMALIGN: {
        void *out = (void *)(uintptr_t)0x5a5a5a5a;
        errno = 12345;
        int r = OOM_FN(posix_memalign)(&out, 64, size);
        /* A volatile read: GCC assumes posix_memalign leaves errno alone. */
        int after = *(volatile int *)&errno;
        if (r != 0) {
            if (out != (void *)(uintptr_t)0x5a5a5a5a)
                oom_fail("posix_memalign failed with %d but wrote *out", r);
            /* glibc's does, and programs test errno after it. */
            if (r == ENOMEM && after != ENOMEM)
                oom_fail("posix_memalign failed with ENOMEM but left errno %d", after);
            *err = r;
            return NULL;
        }
        p = out;
        break;
    }
    case OOM_ALIGNED_ALLOC: p = OOM_FN(aligned_alloc)(256, size); break;
    case OOM_MEMALIGN: p = OOM_FN(memalign)(4096, size); break;
    case OOM_VALLOC: p = OOM_FN(valloc)(size); break;
    case OOM_PVALLOC: p = OOM_FN(pvalloc)(size); break;
    default: oom_fail("bad function %d", fn);
    }
    *err = errno;
    return p;
}

static int oom_is_realloc(int fn) { return fn == OOM_REALLOC || fn == OOM_REALLOCARRAY; }

/* Allocate with fn in tier until it fails; returns how many blocks. */
static size_t oom_exhaust(int fn, int tier, size_t nbases)
{
    size_t size = oom_tier_size[tier];
    const char *what = oom_fn_name[fn];
    size_t n = 0;
    for (;;) {
        if (n == OOM_MAX_BLOCKS)
            oom_fail("%s/%s: %zu allocations under RLIMIT_AS and no failure", what,
                     oom_tier_name[tier], n);
        void *base = NULL;
        if (oom_is_realloc(fn)) {
            if (n == nbases)
                oom_fail("%s/%s: %zu reallocs under RLIMIT_AS and no failure", what,
                         oom_tier_name[tier], n);
            base = oom_bases[n];
        }
        int err = 0;
        void *p = oom_call(fn, size, base, &err);
        if (p == NULL) {
            if (err != ENOMEM)
                oom_fail("%s/%s: failed with error %d (%s), not ENOMEM", what, oom_tier_name[tier],
                         err, strerror(err));
            if (base) {
                size_t from = oom_realloc_from[tier];
                if (!oom_stamped(base, from, (uintptr_t)base))
                    oom_fail("%s/%s: the block of a failed realloc changed", what, oom_tier_name[tier]);
                if (OOM_FN(malloc_usable_size)(base) < from)
                    oom_fail("%s/%s: the block of a failed realloc shrank", what, oom_tier_name[tier]);
            }
            break;
        }
        if (fn == OOM_CALLOC) {
            const unsigned char *c = p;
            for (size_t i = 0; i < size; i += 4096)
                if (c[i] != 0)
                    oom_fail("calloc/%s: block not zeroed", oom_tier_name[tier]);
        }
        if (base) {
            if (!oom_stamped(p, oom_realloc_from[tier], (uintptr_t)base))
                oom_fail("%s/%s: realloc lost the contents", what, oom_tier_name[tier]);
            oom_bases[n] = NULL; /* moved into p */
        }
        oom_stamp(p, size, (uintptr_t)p);
        oom_blocks[n++] = p;
        /* What the block costs: a page-aligned Tiny request takes a page. */
        oom_served += OOM_FN(malloc_usable_size)(p);
    }
    return n;
}

static void oom_free_all(size_t n, int tier)
{
    for (size_t i = 0; i < n; i++) {
        if (!oom_stamped(oom_blocks[i], oom_tier_size[tier], (uintptr_t)oom_blocks[i]))
            oom_fail("%s block %zu was corrupted", oom_tier_name[tier], i);
        OOM_FN(free)(oom_blocks[i]);
        oom_blocks[i] = NULL;
    }
}

static size_t oom_make_bases(int tier)
{
    size_t from = oom_realloc_from[tier];
    size_t n = 2 * OOM_HEADROOM / oom_tier_size[tier] + 64;
    if (n > OOM_MAX_BLOCKS)
        n = OOM_MAX_BLOCKS;
    for (size_t i = 0; i < n; i++) {
        oom_bases[i] = OOM_FN(malloc)(from);
        if (oom_bases[i] == NULL)
            oom_fail("malloc(%zu) failed before any limit", from);
        oom_stamp(oom_bases[i], from, (uintptr_t)oom_bases[i]);
    }
    return n;
}

static void oom_free_bases(size_t n)
{
    for (size_t i = 0; i < n; i++)
        OOM_FN(free)(oom_bases[i]);
}

/* Allocate `bytes` in `tier` with fn and free it again. */
static void oom_allocate_again(int fn, int tier, size_t bytes, const char *when)
{
    size_t size = oom_tier_size[tier];
    size_t n = bytes / size + 1;
    if (n > OOM_MAX_BLOCKS)
        n = OOM_MAX_BLOCKS;
    for (size_t i = 0; i < n; i++) {
        void *base = NULL;
        if (oom_is_realloc(fn)) {
            base = OOM_FN(malloc)(oom_realloc_from[tier]);
            if (base == NULL)
                oom_fail("%s: malloc(%zu) failed", when, oom_realloc_from[tier]);
        }
        int err;
        void *p = oom_call(fn, size, base, &err);
        if (p == NULL)
            oom_fail("%s: %s/%s failed (%s) after %zu blocks", when, oom_fn_name[fn],
                     oom_tier_name[tier], strerror(err), i);
        oom_stamp(p, size, (uintptr_t)p);
        oom_blocks[i] = p;
    }
    oom_free_all(n, tier);
}

/* The whole case, in the calling (child) process. */
static void oom_case(int fn, int tier)
{
    size_t nbases = oom_is_realloc(fn) ? oom_make_bases(tier) : 0;
    oom_limit();
    oom_served = 0;
    size_t n = oom_exhaust(fn, tier, nbases);
    size_t served = oom_served;
    if (served < OOM_HEADROOM / 2)
        oom_fail("%s/%s: failed after only %zu KiB of a %zu KiB headroom", oom_fn_name[fn],
                 oom_tier_name[tier], served / OOM_KiB, OOM_HEADROOM / OOM_KiB);
    oom_free_all(n, tier);
    oom_free_bases(nbases);
    /* Still under the limit: what was freed serves again, in the same tier
     * and, for memory that hakmem gives back to the OS (Large segments,
     * Huge mappings), in the other of those two tiers: retained free
     * memory must not stand in the way of a new mapping. */
    oom_allocate_again(fn, tier, n / 2 * oom_tier_size[tier], "after free, under the limit");
    if (tier >= 2)
        oom_allocate_again(OOM_MALLOC, tier == 2 ? 3 : 2, served / 2,
                           tier == 2 ? "Huge after Large was freed, under the limit"
                                     : "Large after Huge was freed, under the limit");
    oom_unlimit();
    oom_allocate_again(fn, tier, 3 * OOM_HEADROOM, "after the limit was raised");
    for (int t = 0; t < OOM_TIERS; t++)
        oom_allocate_again(OOM_MALLOC, t, 4 * OOM_MiB, "after the limit was raised");
}

/* ---- several threads run out at once ---- */

#define OOM_THREADS 8
/* More than one thread can get: the whole headroom in Tiny blocks. */
#define OOM_THREAD_BLOCKS (1 << 17)

static pthread_barrier_t oom_barrier;

/* The function the threads allocate with: malloc or posix_memalign. */
static int oom_thread_fn;

static void *oom_thread(void *arg)
{
    void **mine = arg;
    size_t n = 0;
    uint64_t x = (uint64_t)(uintptr_t)arg | 1;
    pthread_barrier_wait(&oom_barrier); /* the limit is set now */
    int failed[OOM_TIERS] = { 0 };
    int nfailed = 0;
    while (nfailed < OOM_TIERS) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int tier = (int)(x % OOM_TIERS);
        if (failed[tier])
            continue;
        if (n + 2 > 2 * OOM_THREAD_BLOCKS) /* two entries per block */
            oom_fail("threads: %d blocks in one thread and no failure", OOM_THREAD_BLOCKS);
        size_t size = oom_tier_size[tier] - (size_t)(x >> 40) % 16;
        int err = 0;
        void *p = oom_call(oom_thread_fn, size, NULL, &err);
        if (p == NULL) {
            if (err != ENOMEM)
                oom_fail("threads: %s(%zu) failed with %d, not ENOMEM", oom_fn_name[oom_thread_fn],
                         size, err);
            failed[tier] = 1;
            nfailed++;
            continue;
        }
        oom_stamp(p, size, (uintptr_t)p ^ size);
        mine[n++] = p;
        mine[n++] = (void *)size;
    }
    for (size_t i = 0; i < n; i += 2) {
        size_t size = (size_t)mine[i + 1];
        if (!oom_stamped(mine[i], size, (uintptr_t)mine[i] ^ size))
            oom_fail("threads: a block was corrupted");
        OOM_FN(free)(mine[i]);
    }
    return NULL;
}

static void oom_threads_case(int fn)
{
    oom_thread_fn = fn;
    static void *lists[OOM_THREADS][2 * OOM_THREAD_BLOCKS];
    pthread_t tid[OOM_THREADS];
    if (pthread_barrier_init(&oom_barrier, NULL, OOM_THREADS + 1) != 0)
        oom_fail("pthread_barrier_init");
    for (int i = 0; i < OOM_THREADS; i++)
        if (pthread_create(&tid[i], NULL, oom_thread, lists[i]) != 0)
            oom_fail("pthread_create");
    /* Every thread has its stack now: only the allocations are limited. */
    oom_limit();
    pthread_barrier_wait(&oom_barrier);
    for (int i = 0; i < OOM_THREADS; i++)
        pthread_join(tid[i], NULL);
    oom_allocate_again(OOM_MALLOC, 0, OOM_HEADROOM / 4, "threads, after free, under the limit");
    oom_unlimit();
    for (int t = 0; t < OOM_TIERS; t++)
        oom_allocate_again(OOM_MALLOC, t, 2 * OOM_HEADROOM, "threads, after the limit was raised");
}

/* ---- memory decays after an out-of-memory episode ---- */

static size_t oom_rss(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        oom_fail("cannot open /proc/self/statm");
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        oom_fail("cannot read /proc/self/statm");
    buf[n] = 0;
    const char *s = buf;
    while (*s && *s != ' ')
        s++;
    while (*s == ' ')
        s++;
    size_t pages = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        pages = pages * 10 + (size_t)(*s - '0');
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

static double oom_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Memory is freed while the address space is exhausted (when the free
 * path would start the background decay thread), then the limit goes
 * away: a later peak must still decay while the program is idle.  `delay`
 * is the effective purge_delay_ms; deadline as in memreturn.c. */
static void oom_decay_case(int delay, int unused)
{
    (void)unused;
    size_t start = oom_rss();
    oom_limit();
    size_t n = oom_exhaust(OOM_MALLOC, 0, 0);
    /* What hakmem could not use (less than a segment) goes too, page by
     * page: the frees below then run with no address space left at all. */
    static void *filler[4096];
    size_t nfill = 0;
    for (size_t chunk = 1024 * 1024; chunk >= 4096; chunk /= 4) {
        while (nfill < sizeof filler / sizeof filler[0]) {
            void *m = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED)
                break;
            filler[nfill++] = m;
        }
    }
    if (nfill == sizeof filler / sizeof filler[0])
        oom_fail("decay: the address space did not run out");
    oom_free_all(n, 0);
    /* The fillers stay mapped; never touched, they cost no memory. */
    oom_unlimit();
    size_t count = 64 * OOM_MiB / oom_tier_size[1];
    for (size_t i = 0; i < count; i++) {
        oom_blocks[i] = OOM_FN(malloc)(oom_tier_size[1]);
        if (oom_blocks[i] == NULL)
            oom_fail("decay: malloc failed after the limit was raised");
        memset(oom_blocks[i], 0x5a, oom_tier_size[1]);
    }
    for (size_t i = 0; i < count; i++)
        OOM_FN(free)(oom_blocks[i]);
    /* Idle: no allocator call from here on, only /proc reads. */
    double t0 = oom_now_ms(), deadline = delay * 1.25 + 500.0;
    size_t rss = oom_rss(), peak = rss;
    while (rss > start + 24 * OOM_MiB) {
        if (oom_now_ms() - t0 > deadline)
            oom_fail("decay: RSS %zu MiB still %zu MiB above the start %.0f ms after the last "
                     "free (it was %zu MiB then; purge delay %d ms): nothing decays while idle "
                     "after an out-of-memory episode",
                     rss / OOM_MiB, (rss - start) / OOM_MiB, deadline, peak / OOM_MiB, delay);
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        rss = oom_rss();
    }
}

/* ---- run a case in a child ---- */

typedef void (*oom_case_fn)(int, int);

/* Fork; the child runs fn(a, b) under a watchdog and exits 0.  Returns the
 * wait status; the child's stderr goes to `err`. */
static int oom_run_in_child(oom_case_fn fn, int a, int b, char *err, size_t cap, unsigned watchdog)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        alarm(watchdog);
        fn(a, b);
        _exit(0);
    }
    close(pipefd[1]);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(pipefd[0], err + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == cap - 1)
            break;
    }
    err[n] = 0;
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* a: the function (OOM_MALLOC or OOM_POSIX_MEMALIGN). */
static void oom_threads_entry(int a, int b)
{
    (void)b;
    oom_threads_case(a);
}

#endif
