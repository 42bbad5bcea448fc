/*
 * cxx_failure.cc - what a C++ operator new (cxx.c) does when hakmem has no
 * memory for it: call the installed std::new_handler and retry until an
 * attempt succeeds; with no handler, throw std::bad_alloc, or return
 * nullptr from the nothrow forms.
 *
 * Why C++: a nothrow new whose new_handler throws must return nullptr
 * (the standard defines it as the throwing form inside a catch-all), and
 * only C++ can stop an exception.  Throwing std::bad_alloc with a throw
 * expression also builds the exception object exactly as the program's
 * own C++ runtime expects.  The rest of the allocator stays C (cxx.c says
 * why).
 *
 * No libstdc++ dependency: every C++ runtime symbol this file uses is a
 * weak reference (the list below), and the library is linked by the C
 * compiler driver (Makefile.am), so libhakmem.so needs libc alone.  Weak
 * undefined references add no DT_NEEDED; in a process where a C++ runtime
 * is loaded with the program (libstdc++, or libc++ with libc++abi, which
 * share these Itanium ABI names) they resolve to it, elsewhere they stay
 * null.  A C program never calls operator new, unless by its mangled name;
 * that call, when it fails, finds no runtime and stops with one line
 * (hak_cxx_no_runtime).  tests/cxx_exports.sh checks that the library has
 * no other undefined symbol than libc's and these weak ones.
 *
 * Limitation: a C++ runtime loaded later by dlopen (a C program that loads
 * a C++ plugin) is not seen, as weak references are bound when the library
 * is loaded; there a failing throwing new stops with the same line.
 */
#include <new>

#include "front/cxx.h"

/* What the code below calls, throws or catches with, as weak references.
 * Tested for null before use: __cxa_throw (a C++ runtime is loaded) and
 * std::get_new_handler, declared weak so that the compiler keeps the test.
 * The others are named by the compiler itself (the thrown type's vtable,
 * typeinfo and destructor, the catch and the personality routine): the
 * assembler directive makes those references weak too. */
extern "C" void __cxa_throw(void *, void *, void (*)(void *)) __attribute__((weak, noreturn));
namespace std {
new_handler get_new_handler() noexcept __attribute__((weak));
}
__asm__(".weak __cxa_allocate_exception\n"
        ".weak __cxa_throw\n"
        ".weak __cxa_begin_catch\n"
        ".weak __cxa_end_catch\n"
        ".weak __gxx_personality_v0\n"
        ".weak _ZTISt9bad_alloc\n"
        ".weak _ZTVSt9bad_alloc\n"
        ".weak _ZNSt9bad_allocD1Ev\n"
        ".weak _ZSt15get_new_handlerv\n");

static std::new_handler cxx_handler()
{
    return std::get_new_handler != nullptr ? std::get_new_handler() : nullptr;
}

extern "C" void *hak_cxx_new_failed(size_t size, size_t align, bool nothrow)
{
    /* libstdc++ fails such an alignment at once: no handler can fix it. */
    bool possible = align == 0 || (align & (align - 1)) == 0;
    for (std::new_handler handler; possible && (handler = cxx_handler()) != nullptr;) {
        if (nothrow) {
            try {
                handler();
            } catch (...) {
                return nullptr;
            }
        } else {
            handler();
        }
        if (void *p = hak_cxx_alloc(size, align))
            return p;
    }
    if (nothrow)
        return nullptr;
    if (__cxa_throw == nullptr)
        hak_cxx_no_runtime(size);
    throw std::bad_alloc();
}
