/*
 * cxx.h - between the C++ allocation operators (cxx.c, C) and their
 * failure path (cxx_failure.cc, C++).  Plain C types only: the C++ side
 * cannot read the allocator's C11 headers.
 */
#ifndef HAK_CXX_H
#define HAK_CXX_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One attempt of operator new: size bytes at the default alignment (align
 * 0) or at align, a power of two.  NULL if there is no memory. */
void *hak_cxx_alloc(size_t size, size_t align);

/* An operator new found no memory for size bytes at align (0: the default;
 * anything else but a power of two fails at once, as in libstdc++).  Calls
 * the installed std::new_handler and retries until an attempt succeeds; with
 * no handler, throws std::bad_alloc, or returns NULL for the nothrow forms
 * (also when the handler throws).  Without a C++ runtime in the process, a
 * throwing form prints one line and aborts. */
void *hak_cxx_new_failed(size_t size, size_t align, bool nothrow);

/* A throwing operator new of size bytes failed in a process without a C++
 * runtime (a C program calling it by its mangled name): one line on
 * stderr, then abort(). */
__attribute__((noreturn)) void hak_cxx_no_runtime(size_t size);

#ifdef __cplusplus
}
#endif

#endif
