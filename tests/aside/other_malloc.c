/*
 * other_malloc.c - a minimal allocator of its own, exported under the
 * standard names, standing for jemalloc or a program's private allocator
 * (tests/step_aside.sh).  A bump allocator in one mapping with a header
 * before each block; free does nothing.  other_malloc_owns(p) tells
 * whether p came from it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA (64u << 20)
static char *arena;
static size_t used;

static void *other_alloc(size_t size, size_t align)
{
    if (arena == NULL) {
        arena = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (arena == MAP_FAILED)
            return arena = NULL;
    }
    if (align < 16)
        align = 16;
    size_t start = (used + 16 + align - 1) & ~(align - 1);
    if (size > ARENA || start + size > ARENA) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(arena + start - 16, &size, sizeof size);
    used = start + size;
    return arena + start;
}

int other_malloc_owns(const void *p);
int other_malloc_owns(const void *p)
{
    return arena && (const char *)p >= arena && (const char *)p < arena + ARENA;
}

size_t malloc_usable_size(void *p)
{
    size_t size = 0;
    if (p)
        memcpy(&size, (char *)p - 16, sizeof size);
    return size;
}

void *malloc(size_t size) { return other_alloc(size, 16); }
void free(void *p) { (void)p; }
void *calloc(size_t n, size_t m) { return n && m > SIZE_MAX / n ? NULL : other_alloc(n * m, 16); }
void *memalign(size_t align, size_t size) { return other_alloc(size, align); }
void *aligned_alloc(size_t align, size_t size) { return other_alloc(size, align); }
int posix_memalign(void **out, size_t align, size_t size)
{
    void *p = other_alloc(size, align);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}
void *realloc(void *p, size_t size)
{
    void *q = other_alloc(size, 16);
    if (p && q) {
        size_t old = malloc_usable_size(p);
        memcpy(q, p, old < size ? old : size);
    }
    return q;
}
