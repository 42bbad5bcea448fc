/*
 * os.c - kernel interface.  Every mmap/munmap/madvise/mremap in hakmem is
 * here.  Calls preserve errno on success so that a successful malloc never
 * changes errno.
 *
 * The files read at initialisation (configuration, /proc) and the
 * diagnostics go through syscall(2), not the C library's open, read,
 * readlink and write: a sanitizer runtime replaces those, and its
 * replacements crash when hakmem's first malloc comes while the runtime is
 * still setting them up (gcc's ThreadSanitizer does exactly that).
 */
#define _GNU_SOURCE
#include "os/os.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void *hak_os_map(size_t size)
{
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    errno = saved;
    return p;
}

void *hak_os_map_aligned(size_t size, size_t align, size_t offset)
{
    if (size > SIZE_MAX - align)
        return NULL;
    size_t total = size + align;
    char *raw = hak_os_map(total);
    if (raw == NULL)
        return NULL;
    uintptr_t start = hak_align_up((uintptr_t)raw + offset, align) - offset;
    size_t front = start - (uintptr_t)raw;
    size_t back = total - front - size;
    if (front)
        hak_os_unmap(raw, front);
    if (back)
        hak_os_unmap((char *)start + size, back);
    return (void *)start;
}

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

void *hak_os_map_at(void *addr, size_t size, bool writable)
{
    int saved = errno;
    void *p = mmap(addr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (p != addr) {
        /* A kernel older than 4.17 took the address as a hint only. */
        hak_os_unmap(p, size);
        errno = EEXIST;
        return NULL;
    }
    errno = saved;
    return p;
}

uintptr_t hak_os_map_hint(void)
{
    void *p = hak_os_map(HAK_PAGE_SIZE);
    if (p == NULL)
        return 0;
    hak_os_unmap(p, HAK_PAGE_SIZE);
    return (uintptr_t)p;
}

bool hak_os_address_space_limited(void)
{
    int saved = errno;
    struct rlimit rl;
    bool limited = getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
    errno = saved;
    return limited;
}

void hak_os_unmap(void *p, size_t size)
{
    int saved = errno;
    munmap(p, size);
    errno = saved;
}

bool hak_os_protect(void *p, size_t size, bool accessible)
{
    int saved = errno;
    bool ok = mprotect(p, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
    errno = saved;
    return ok;
}

void hak_os_advise_huge_pages(void *p, size_t size)
{
    int saved = errno;
    (void)madvise(p, size, MADV_HUGEPAGE); /* EINVAL without THP: keep 4 KiB pages */
    errno = saved;
}

void hak_os_purge(void *p, size_t size, bool lazy_free)
{
    int saved = errno;
    int advice = lazy_free ? MADV_FREE : MADV_DONTNEED;
    if (madvise(p, size, advice) != 0 && lazy_free)
        madvise(p, size, MADV_DONTNEED); /* kernels before 4.5: no MADV_FREE */
    errno = saved;
}

bool hak_os_remap_inplace(void *p, size_t old_size, size_t new_size)
{
    int saved = errno;
    void *q = mremap(p, old_size, new_size, 0);
    errno = saved;
    return q == p;
}

bool hak_os_remap_to(void *p, size_t old_size, size_t new_size, void *dst)
{
    int saved = errno;
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    errno = saved;
    return q == dst;
}

uint64_t hak_os_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t hak_os_coarse_ms(void)
{
    struct timespec ts;
    int saved = errno;
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) {
        errno = saved; /* a kernel without it (before 2.6.32) */
        return hak_os_now_ms();
    }
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* splitmix64: mixes the fallback entropy below. */
static uint64_t os_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void hak_os_random(void *buf, size_t len)
{
    int saved = errno;
    unsigned char *out = buf;
    size_t got = 0;
    while (got < len) {
        long r = syscall(SYS_getrandom, out + got, len - got, 1 /* GRND_NONBLOCK */);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < len) {
        /* No getrandom (old kernel, seccomp): mix the kernel's AT_RANDOM
         * bytes with addresses and time.  Weaker, never predictable to a
         * remote attacker who cannot read our memory. */
        const unsigned char *at = (const unsigned char *)getauxval(AT_RANDOM);
        uint64_t seed = (uint64_t)(uintptr_t)&seed ^ hak_os_now_ms() ^ (uint64_t)getpid() << 32;
        for (size_t i = got; i < len; i++) {
            seed = os_mix(seed + (at ? at[i % 16] : 0) + i);
            out[i] = (unsigned char)seed;
        }
    }
    errno = saved;
}

void hak_os_write(int fd, const char *buf, size_t len)
{
    int saved = errno;
    while (len > 0) {
        ssize_t w = syscall(SYS_write, fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        buf += w;
        len -= (size_t)w;
    }
    errno = saved;
}

void hak_os_futex_wait(_Atomic uint32_t *addr, uint32_t expected)
{
    int saved = errno;
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
    errno = saved;
}

void hak_os_futex_wake(_Atomic uint32_t *addr, int count)
{
    int saved = errno;
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
    errno = saved;
}

uint64_t hak_os_peak_rss_kib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss;
}

uint64_t hak_os_current_rss_kib(void)
{
    char buf[128];
    bool truncated;
    ssize_t n = hak_os_read_file("/proc/self/statm", buf, sizeof buf - 1, &truncated);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *s = buf;
    while (*s && *s != ' ')
        s++;
    uint64_t pages = 0;
    while (*s == ' ')
        s++;
    while (*s >= '0' && *s <= '9')
        pages = pages * 10 + (uint64_t)(*s++ - '0');
    return pages * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024);
}

static int os_open(const char *path, int flags)
{
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0);
}

static ssize_t os_read(int fd, void *buf, size_t len)
{
    return syscall(SYS_read, fd, buf, len);
}

static void os_close(int fd)
{
    syscall(SYS_close, fd);
}

ssize_t hak_os_read_file(const char *path, char *buf, size_t cap, bool *truncated)
{
    int saved = errno;
    *truncated = false;
    int fd = os_open(path, O_RDONLY);
    if (fd < 0) {
        ssize_t err = -errno;
        errno = saved;
        return err;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = os_read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            /* EISDIR, EIO: what was read is not the whole file. */
            ssize_t err = -errno;
            os_close(fd);
            errno = saved;
            return err;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            char extra;
            *truncated = os_read(fd, &extra, 1) > 0;
            break;
        }
    }
    os_close(fd);
    errno = saved;
    return (ssize_t)n;
}

void *hak_os_shared_create(const char *path, size_t size)
{
    int saved = errno;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        errno = saved;
        return NULL;
    }
    void *p = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) == 0)
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        unlink(path);
        p = NULL;
    }
    errno = saved;
    return p;
}

void hak_os_unlink(const char *path)
{
    int saved = errno;
    unlink(path);
    errno = saved;
}

int hak_os_create_file(const char *path)
{
    int saved = errno;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        fd = -errno;
    errno = saved;
    return fd;
}

void hak_os_close(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

size_t hak_os_copy_file(const char *path, int fd, size_t max)
{
    int saved = errno;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    size_t copied = 0;
    if (in >= 0) {
        char buf[4096];
        while (copied < max) {
            size_t want = max - copied < sizeof buf ? max - copied : sizeof buf;
            ssize_t r = read(in, buf, want);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            hak_os_write(fd, buf, (size_t)r);
            copied += (size_t)r;
        }
        close(in);
    }
    errno = saved;
    return copied;
}

bool hak_os_readable(const void *p)
{
    int saved = errno;
    long r = syscall(SYS_rt_sigprocmask, ~0L, p, NULL, 8L);
    /* Only EINVAL proves the copy succeeded: a seccomp filter's EPERM or
     * ENOSYS proves nothing and counts as unreadable. */
    bool ok = r < 0 && errno == EINVAL;
    errno = saved;
    return ok;
}

int hak_os_list_dir(const char *path, char *buf, size_t cap, hak_os_dir_fn fn, void *ctx)
{
    int saved = errno;
    int fd = os_open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        int err = -errno;
        errno = saved;
        return err;
    }
    int result = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, cap);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            result = -errno;
            break;
        }
        if (got == 0)
            break;
        /* struct linux_dirent64: ino (8), off (8), reclen (2), type (1),
         * then the NUL-terminated name; glibc declares no such type. */
        for (long pos = 0; pos < got;) {
            const char *d = buf + pos;
            unsigned short reclen;
            memcpy(&reclen, d + 16, sizeof reclen);
            const char *name = d + 19;
            if (reclen == 0)
                break;
            if (!(name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))))
                fn(name, ctx);
            pos += reclen;
        }
    }
    os_close(fd);
    errno = saved;
    return result;
}

size_t hak_os_exe_path(char *buf, size_t cap)
{
    if (cap < 2)
        return 0;
    int saved = errno;
    ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", buf, cap - 1);
    errno = saved;
    if (n > 0 && (size_t)n < cap - 1) {
        buf[n] = 0;
        return (size_t)n;
    }
    const char *fn = (const char *)getauxval(AT_EXECFN);
    size_t len = fn ? strlen(fn) : 0;
    if (len == 0 || len >= cap)
        return 0;
    memcpy(buf, fn, len + 1);
    return len;
}

/* Valgrind's client request: a fixed sequence of rotations that leaves the
 * register as it was, then an idle instruction; valgrind recognises the
 * sequence and answers the request whose arguments the first register
 * points to, a real CPU leaves the default in the result register.
 * Request 0x1001 is RUNNING_ON_VALGRIND (its answer: the nesting depth). */
bool hak_os_under_valgrind(void)
{
    volatile uint64_t args[6] = { 0x1001, 0, 0, 0, 0, 0 };
    uint64_t result = 0;
#if defined(__x86_64__)
    __asm__ volatile("rolq $3, %%rdi\n\trolq $13, %%rdi\n\t"
                     "rolq $61, %%rdi\n\trolq $51, %%rdi\n\t"
                     "xchgq %%rbx, %%rbx"
                     : "=d"(result)
                     : "a"(&args[0]), "0"(result)
                     : "cc", "memory");
#elif defined(__aarch64__)
    register uint64_t x3 __asm__("x3") = result;
    register const volatile uint64_t *x4 __asm__("x4") = &args[0];
    __asm__ volatile("ror x12, x12, #3\n\tror x12, x12, #13\n\t"
                     "ror x12, x12, #51\n\tror x12, x12, #61\n\t"
                     "orr x10, x10, x10"
                     : "+r"(x3)
                     : "r"(x4)
                     : "cc", "memory");
    result = x3;
#endif
    return result != 0;
}
