/*
 * interpose.c - the standard C allocation functions, exported only from
 * libhakmem.so (the static library used by tests keeps the hak_ names
 * alone, so the test framework's own malloc stays glibc's).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>

#include "front/api.h"

/* malloc keeps its frame pointer on its Large/Huge path only (the compiler
 * sets the frame up there, not on the cache hit): that path calls out with
 * a local, and the heap profiler's walk needs the link (internal.h). */

HAK_API HAK_FRAME void *malloc(size_t size) { return hak_api_malloc(size); }
HAK_API void free(void *p) { hak_api_free(p); }
HAK_API void *calloc(size_t count, size_t size) { return hak_calloc_impl(count, size); }
HAK_API void *realloc(void *p, size_t size) { return hak_realloc_impl(p, size); }
HAK_API void *reallocarray(void *p, size_t count, size_t size)
{
    return hak_reallocarray_impl(p, count, size);
}
HAK_API int posix_memalign(void **out, size_t align, size_t size)
{
    return hak_posix_memalign_impl(out, align, size);
}
HAK_API void *aligned_alloc(size_t align, size_t size)
{
    return hak_aligned_alloc_impl(align, size);
}
HAK_API void *memalign(size_t align, size_t size) { return hak_memalign_impl(align, size); }
HAK_API void *valloc(size_t size) { return hak_valloc_impl(size); }
HAK_API void *pvalloc(size_t size) { return hak_pvalloc_impl(size); }
HAK_API size_t malloc_usable_size(void *p) { return hak_usable_size_impl(p); }
/* C23 (glibc 2.36 does not declare them yet). */
HAK_API void free_sized(void *p, size_t size);
HAK_API void free_aligned_sized(void *p, size_t align, size_t size);
HAK_API void free_sized(void *p, size_t size) { hak_api_free_sized(p, size); }
HAK_API void free_aligned_sized(void *p, size_t align, size_t size)
{
    hak_free_aligned_sized_impl(p, align, size);
}

/* ---- glibc extensions (compat.c) ---- */

#include "front/compat.h"

HAK_API int malloc_trim(size_t pad) { return hak_malloc_trim_impl(pad); }
HAK_API struct mallinfo2 mallinfo2(void)
{
    struct mallinfo2 m;
    hak_mallinfo2_impl(&m);
    return m;
}
HAK_API struct mallinfo mallinfo(void) { return hak_mallinfo_impl(); }
HAK_API void malloc_stats(void) { hak_malloc_stats_impl(); }
HAK_API int malloc_info(int options, FILE *fp) { return hak_malloc_info_impl(options, fp); }
HAK_API int mallopt(int param, int value) { return hak_mallopt_impl(param, value); }

/* glibc's internal names, which some programs call directly: they must
 * reach the same heap as malloc and free. */
HAK_API void *__libc_malloc(size_t size);
HAK_API void __libc_free(void *p);
HAK_API void *__libc_calloc(size_t count, size_t size);
HAK_API void *__libc_realloc(void *p, size_t size);
HAK_API void *__libc_memalign(size_t align, size_t size);
HAK_API void *__libc_valloc(size_t size);
HAK_API void *__libc_pvalloc(size_t size);
HAK_API void cfree(void *p);
HAK_API HAK_FRAME void *__libc_malloc(size_t size) { return hak_api_malloc(size); }
HAK_API void __libc_free(void *p) { hak_api_free(p); }
HAK_API void *__libc_calloc(size_t count, size_t size) { return hak_calloc_impl(count, size); }
HAK_API void *__libc_realloc(void *p, size_t size) { return hak_realloc_impl(p, size); }
HAK_API void *__libc_memalign(size_t align, size_t size) { return hak_memalign_impl(align, size); }
HAK_API void *__libc_valloc(size_t size) { return hak_valloc_impl(size); }
HAK_API void *__libc_pvalloc(size_t size) { return hak_pvalloc_impl(size); }
HAK_API void cfree(void *p) { hak_api_free(p); }

/* ---- sanitizers ---- */

/* gcc's AddressSanitizer runtime (libasan.so, loaded after a preloaded
 * hakmem) refuses to start unless it comes first among the libraries.
 * hakmem steps aside for it and forwards every call to it
 * (config/forward.h), so the order does no harm: the runtime reads its
 * default options from this hook, and this one turns that check off.  A
 * program's own hook, found first, and ASAN_OPTIONS still win. */
HAK_API const char *__asan_default_options(void);
HAK_API const char *__asan_default_options(void) { return "verify_asan_link_order=0"; }
