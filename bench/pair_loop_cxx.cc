/*
 * pair_loop_cxx - the C++ twin of pair_loop.c: N new + delete pairs of a
 * 64-byte object and nothing else, for the callgrind count.  The compiler
 * calls operator new(64) and the sized operator delete(p, 64), so an
 * allocator that exports the C++ operators is counted on its own; glibc is
 * counted through libstdc++'s operator new and delete, which call malloc
 * and free.  bench/run --instructions reports (I(2N) - I(N)) / N.
 *
 * usage: pair_loop_cxx N
 */
#include <cstdio>
#include <cstdlib>

struct Obj {
    char bytes[64];
};

static void escape(void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }

__attribute__((noinline)) static void loop(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        Obj *p = new Obj;
        escape(p);
        delete p;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s N\n", argv[0]);
        return 2;
    }
    unsigned long n = std::strtoul(argv[1], nullptr, 10);
    loop(1000); /* the thread's heap and caches are set up outside the difference */
    loop(n);
    return 0;
}
