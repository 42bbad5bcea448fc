/*
 * cxx.c - the replaceable C++ allocation operators, exported from
 * libhakmem.so only, under their Itanium C++ ABI names (the ABI of GCC and
 * Clang on Linux, libstdc++ and libc++ alike).  A C++ program that links or
 * preloads hakmem reaches its heap straight from new and delete, instead of
 * through the C++ runtime's operator new and then malloc, and its sized
 * deletes hand over the size, which the free path checks (a delete of the
 * wrong type is reported, hakmem(3)).
 *
 * Why C: each operator is the malloc or free fast path of api.h, inlined
 * here, and api.h is C11 (atomics) that no C++ compiler takes.  Writing the
 * operators in C also keeps the library linked by the C driver, so it
 * gains no DT_NEEDED on libstdc++: a C program that loads it never loads a
 * C++ runtime.  Only what must catch a C++ exception is C++: the failure
 * path, cxx_failure.cc, entered when an allocation returns NULL.  The
 * operators are compiled with unwind tables (Makefile.am), so the
 * std::bad_alloc thrown there, or by a new_handler, unwinds through them to
 * the program's catch.
 *
 * Semantics are the C++ standard's, as libstdc++ implements them: new(0)
 * gives a unique pointer (malloc(0) does); delete of nullptr does nothing;
 * the aligned forms take any power-of-two alignment; the nothrow forms
 * return nullptr where the others throw.
 */
#include "front/cxx.h"

#include <stdlib.h>

#include "base/diag.h"
#include "front/api.h"

/* The mangled names below spell size_t as 'm' (unsigned long) and
 * std::align_val_t as size_t: the LP64 Linux ABI. */
_Static_assert(_Generic((size_t)0, unsigned long: 1, default: 0), "size_t is unsigned long");

void *hak_cxx_alloc(size_t size, size_t align)
{
    return align == 0 ? hak_api_malloc(size) : hak_aligned_impl(align, size);
}

/* What the malloc fast path leaves to out of line, for new and for new
 * (nothrow): a cache miss, then the failure path (the handler loop,
 * std::bad_alloc or nullptr) if it found no memory; or the failure path
 * after a Large or Huge allocation failed.  Entered by a tail call, so a
 * cache hit in operator new needs no stack frame, as in malloc. */
static HAK_FRAME void *cxx_new_miss(size_t size)
{
    void *p = hak_alloc_small_miss_size(size);
    return hak_likely(p != NULL) ? p : hak_cxx_new_failed(size, 0, false);
}

static HAK_FRAME void *cxx_new_nothrow_miss(size_t size)
{
    void *p = hak_alloc_small_miss_size(size);
    return hak_likely(p != NULL) ? p : hak_cxx_new_failed(size, 0, true);
}

static void *cxx_new_big_failed(size_t size) { return hak_cxx_new_failed(size, 0, false); }
static void *cxx_new_nothrow_big_failed(size_t size) { return hak_cxx_new_failed(size, 0, true); }

hak_inline void *cxx_new(size_t size, bool nothrow)
{
    return nothrow ? hak_api_malloc_or(size, cxx_new_nothrow_miss, cxx_new_nothrow_big_failed)
                   : hak_api_malloc_or(size, cxx_new_miss, cxx_new_big_failed);
}

/* The forms that take an alignment: the allocator's own aligned path
 * expects a power of two; anything else is left to the failure path,
 * which rejects it as libstdc++ does. */
hak_inline void *cxx_new_aligned(size_t size, size_t align, bool nothrow)
{
    void *p = hak_is_pow2(align) ? hak_aligned_impl(align, size) : NULL;
    if (hak_likely(p != NULL))
        return p;
    return hak_cxx_new_failed(size, align, nothrow);
}

/* The nothrow_t argument is a tag whose reference nobody reads. */
typedef const void *cxx_nothrow_ref;

/* void *operator new(size_t), new[](size_t) */
HAK_API void *_Znwm(size_t size);
HAK_API void *_Znam(size_t size);
/* void *operator new(size_t, const std::nothrow_t &), new[] */
HAK_API void *_ZnwmRKSt9nothrow_t(size_t size, cxx_nothrow_ref tag);
HAK_API void *_ZnamRKSt9nothrow_t(size_t size, cxx_nothrow_ref tag);
/* void *operator new(size_t, std::align_val_t), new[] */
HAK_API void *_ZnwmSt11align_val_t(size_t size, size_t align);
HAK_API void *_ZnamSt11align_val_t(size_t size, size_t align);
/* void *operator new(size_t, std::align_val_t, const std::nothrow_t &), new[] */
HAK_API void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, cxx_nothrow_ref tag);
HAK_API void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, cxx_nothrow_ref tag);
/* void operator delete(void *), delete[] */
HAK_API void _ZdlPv(void *p);
HAK_API void _ZdaPv(void *p);
/* void operator delete(void *, size_t), delete[] */
HAK_API void _ZdlPvm(void *p, size_t size);
HAK_API void _ZdaPvm(void *p, size_t size);
/* void operator delete(void *, const std::nothrow_t &), delete[] */
HAK_API void _ZdlPvRKSt9nothrow_t(void *p, cxx_nothrow_ref tag);
HAK_API void _ZdaPvRKSt9nothrow_t(void *p, cxx_nothrow_ref tag);
/* void operator delete(void *, std::align_val_t), delete[] */
HAK_API void _ZdlPvSt11align_val_t(void *p, size_t align);
HAK_API void _ZdaPvSt11align_val_t(void *p, size_t align);
/* void operator delete(void *, size_t, std::align_val_t), delete[] */
HAK_API void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align);
HAK_API void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align);
/* void operator delete(void *, std::align_val_t, const std::nothrow_t &), delete[] */
HAK_API void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, cxx_nothrow_ref tag);
HAK_API void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, cxx_nothrow_ref tag);

/* ---- new ---- */

HAK_API void *_Znwm(size_t size) { return cxx_new(size, false); }
HAK_API void *_Znam(size_t size) { return cxx_new(size, false); }

HAK_API void *_ZnwmRKSt9nothrow_t(size_t size, cxx_nothrow_ref tag)
{
    (void)tag;
    return cxx_new(size, true);
}

HAK_API void *_ZnamRKSt9nothrow_t(size_t size, cxx_nothrow_ref tag)
{
    (void)tag;
    return cxx_new(size, true);
}

HAK_API void *_ZnwmSt11align_val_t(size_t size, size_t align)
{
    return cxx_new_aligned(size, align, false);
}

HAK_API void *_ZnamSt11align_val_t(size_t size, size_t align)
{
    return cxx_new_aligned(size, align, false);
}

HAK_API void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, cxx_nothrow_ref tag)
{
    (void)tag;
    return cxx_new_aligned(size, align, true);
}

HAK_API void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, cxx_nothrow_ref tag)
{
    (void)tag;
    return cxx_new_aligned(size, align, true);
}

/* ---- delete ---- */

HAK_API void _ZdlPv(void *p) { hak_api_free(p); }
HAK_API void _ZdaPv(void *p) { hak_api_free(p); }
/* The size is the one new was given (an array's includes its cookie). */
HAK_API void _ZdlPvm(void *p, size_t size) { hak_api_free_sized(p, size); }
HAK_API void _ZdaPvm(void *p, size_t size) { hak_api_free_sized(p, size); }

HAK_API void _ZdlPvRKSt9nothrow_t(void *p, cxx_nothrow_ref tag)
{
    (void)tag;
    hak_api_free(p);
}

HAK_API void _ZdaPvRKSt9nothrow_t(void *p, cxx_nothrow_ref tag)
{
    (void)tag;
    hak_api_free(p);
}

/* The aligned forms check the alignment as free_aligned_sized does (size 0:
 * not given). */
HAK_API void _ZdlPvSt11align_val_t(void *p, size_t align)
{
    hak_free_aligned_sized_impl(p, align, 0);
}

HAK_API void _ZdaPvSt11align_val_t(void *p, size_t align)
{
    hak_free_aligned_sized_impl(p, align, 0);
}

HAK_API void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align)
{
    hak_free_aligned_sized_impl(p, align, size);
}

HAK_API void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align)
{
    hak_free_aligned_sized_impl(p, align, size);
}

HAK_API void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, cxx_nothrow_ref tag)
{
    (void)tag;
    hak_free_aligned_sized_impl(p, align, 0);
}

HAK_API void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, cxx_nothrow_ref tag)
{
    (void)tag;
    hak_free_aligned_sized_impl(p, align, 0);
}

/* ---- no C++ runtime ---- */

void hak_cxx_no_runtime(size_t size)
{
    char msg[160];
    hak_buf b = { .data = msg, .cap = sizeof msg - 1, .fd = -1 };
    hak_buf_str(&b, "operator new of ");
    hak_buf_u64(&b, size);
    hak_buf_str(&b, " bytes failed, and no C++ runtime is loaded to throw std::bad_alloc");
    msg[b.len] = 0;
    hak_warn(msg);
    abort();
}
