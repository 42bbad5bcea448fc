/*
 * larson_sized - larson (larson.c) as a C++ server makes its calls: every
 * block comes from operator new and goes back through the sized operator
 * delete (C++14), which hands the allocator the block's size.  An
 * allocator that exports the C++ operators gets those calls directly; one
 * that does not gets them through libstdc++'s operators, which call malloc
 * and free.  Built with g++ -fsized-deallocation.
 */
#include "bench.h"

#include <new>

static inline void *larson_new(size_t n)
{
    void *p = ::operator new(n);
    bench_escape(p);
    return p;
}

#define LARSON_NAME "larson_sized"
#define LARSON_ALLOC(n) larson_new(n)
#define LARSON_FREE(p, n) ::operator delete((p), (n))

#include "larson.c"
