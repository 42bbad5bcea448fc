/*
 * cxx_operators.cc - the C++ allocation operators of libhakmem.so, from a
 * C++ program linked against it (make check builds it twice where it can:
 * with g++ and libstdc++, and with clang++ and libc++/libc++abi).
 *
 * Every operator is called by name and through new/delete expressions,
 * and hakmem's statistics show that each call reached hakmem's heap.  Then
 * the semantics: new(0), delete of nullptr, alignments up to 1 GiB,
 * std::bad_alloc and the new_handler loop, the nothrow forms (with a
 * handler that throws too), sized and aligned deletes of the wrong size or
 * alignment (run in a child: one line on stderr naming the address and
 * both values, then abort()), and mixing the C functions with the C++
 * forms, which hakmem accepts as they share one heap.
 *
 * No test framework: each check that fails prints its line and the program
 * exits 1; the last line counts the checks.
 */
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include <dlfcn.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"

#include <malloc.h>

static unsigned checks;

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        checks++;                                                                            \
        if (!(cond)) {                                                                       \
            std::fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);    \
            std::fprintf(stderr, __VA_ARGS__);                                               \
            std::fprintf(stderr, "\n");                                                      \
            std::exit(1);                                                                    \
        }                                                                                    \
    } while (0)

/* Keeps the compiler from pairing up and removing a new and a delete. */
static void *escape(void *p)
{
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}

static hak_stats stats_now()
{
    hak_stats s;
    CHECK(hak_stats_get(&s) == 0, "hak_stats_get");
    return s;
}

static bool aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* Counts one allocation and one free by hakmem around `alloc` and `release`
 * of a block of n bytes at alignment a. */
template <class Alloc, class Release>
static void expect_hakmem_pair(const char *what, size_t n, size_t a, Alloc alloc, Release release)
{
    hak_stats before = stats_now();
    void *p = escape(alloc());
    hak_stats mid = stats_now();
    CHECK(p != nullptr, "%s returned nullptr", what);
    CHECK(mid.allocs == before.allocs + 1, "%s: hakmem counted %llu allocations, not 1", what,
          (unsigned long long)(mid.allocs - before.allocs));
    CHECK(aligned_to(p, a), "%s: %p is not aligned to %zu", what, p, a);
    CHECK(hak_malloc_usable_size(p) >= n, "%s: usable size %zu below %zu", what,
          hak_malloc_usable_size(p), n);
    std::memset(p, 0x5a, n);
    release(p);
    hak_stats after = stats_now();
    CHECK(after.frees == mid.frees + 1, "%s: hakmem counted %llu frees, not 1", what,
          (unsigned long long)(after.frees - mid.frees));
}

/* ---- every operator reaches hakmem ---- */

/* Each name resolves to libhakmem.so, not to the C++ runtime's operator
 * (which would reach hakmem too, through malloc, and pass the counts
 * below). */
static void every_operator_is_hakmems()
{
    static const char *const names[] = {
        "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
        "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",
        "_ZnamSt11align_val_tRKSt9nothrow_t", "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm",
        "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t", "_ZdlPvSt11align_val_t",
        "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
        "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
    };
    Dl_info hak;
    CHECK(dladdr((void *)&hak_malloc, &hak) != 0, "dladdr(hak_malloc)");
    for (const char *name : names) {
        void *sym = dlsym(RTLD_DEFAULT, name);
        Dl_info info;
        CHECK(sym != nullptr && dladdr(sym, &info) != 0, "%s not found", name);
        CHECK(info.dli_fbase == hak.dli_fbase, "%s resolves to %s, not to hakmem's %s", name,
              info.dli_fname, hak.dli_fname);
    }
}

static void every_operator_reaches_hakmem()
{
    const size_t sizes[] = { 1, 24, 1000, 5000, 100000, 3 << 20 };
    for (size_t n : sizes) {
        std::align_val_t al{ 64 };
        const std::nothrow_t &nt = std::nothrow;
        /* new: plain, nothrow, aligned, aligned nothrow; delete: every form. */
        expect_hakmem_pair("new/delete", n, 16, [&] { return ::operator new(n); },
                           [&](void *p) { ::operator delete(p); });
        expect_hakmem_pair("new[]/delete[]", n, 16, [&] { return ::operator new[](n); },
                           [&](void *p) { ::operator delete[](p); });
        expect_hakmem_pair("new/sized delete", n, 16, [&] { return ::operator new(n); },
                           [&](void *p) { ::operator delete(p, n); });
        expect_hakmem_pair("new[]/sized delete[]", n, 16, [&] { return ::operator new[](n); },
                           [&](void *p) { ::operator delete[](p, n); });
        expect_hakmem_pair("nothrow new/nothrow delete", n, 16,
                           [&] { return ::operator new(n, nt); },
                           [&](void *p) { ::operator delete(p, nt); });
        expect_hakmem_pair("nothrow new[]/nothrow delete[]", n, 16,
                           [&] { return ::operator new[](n, nt); },
                           [&](void *p) { ::operator delete[](p, nt); });
        expect_hakmem_pair("aligned new/aligned delete", n, 64,
                           [&] { return ::operator new(n, al); },
                           [&](void *p) { ::operator delete(p, al); });
        expect_hakmem_pair("aligned new[]/aligned delete[]", n, 64,
                           [&] { return ::operator new[](n, al); },
                           [&](void *p) { ::operator delete[](p, al); });
        expect_hakmem_pair("aligned new/sized aligned delete", n, 64,
                           [&] { return ::operator new(n, al); },
                           [&](void *p) { ::operator delete(p, n, al); });
        expect_hakmem_pair("aligned new[]/sized aligned delete[]", n, 64,
                           [&] { return ::operator new[](n, al); },
                           [&](void *p) { ::operator delete[](p, n, al); });
        expect_hakmem_pair("aligned nothrow new/aligned nothrow delete", n, 64,
                           [&] { return ::operator new(n, al, nt); },
                           [&](void *p) { ::operator delete(p, al, nt); });
        expect_hakmem_pair("aligned nothrow new[]/aligned nothrow delete[]", n, 64,
                           [&] { return ::operator new[](n, al, nt); },
                           [&](void *p) { ::operator delete[](p, al, nt); });
    }
}

/* What the compiler itself calls for new and delete expressions: sized
 * delete (C++14), aligned new and delete for over-aligned types (C++17),
 * array cookies. */
struct Node {
    Node *next;
    char payload[40];
};
struct alignas(256) Wide {
    char bytes[300];
};
struct Counted {
    ~Counted() { destroyed++; }
    static unsigned destroyed;
    char c[24];
};
unsigned Counted::destroyed;

static void new_expressions_reach_hakmem()
{
    hak_stats before = stats_now();
    Node *head = nullptr;
    for (int i = 0; i < 1000; i++) {
        Node *n = static_cast<Node *>(escape(new Node));
        n->next = head;
        head = n;
    }
    while (head) {
        Node *next = head->next;
        delete head;
        head = next;
    }
    Wide *w = static_cast<Wide *>(escape(new Wide[7]));
    CHECK(aligned_to(w, 256), "new Wide[7] at %p", (void *)w);
    delete[] w;
    Wide *one = static_cast<Wide *>(escape(new Wide));
    CHECK(aligned_to(one, 256), "new Wide at %p", (void *)one);
    delete one;
    /* With a cookie: a sized delete[] of 5 * 24 + 8 bytes. */
    Counted *c = static_cast<Counted *>(escape(new Counted[5]));
    delete[] c;
    CHECK(Counted::destroyed == 5, "%u destructors ran", Counted::destroyed);
    hak_stats after = stats_now();
    CHECK(after.allocs - before.allocs == 1003, "%llu allocations counted, not 1003",
          (unsigned long long)(after.allocs - before.allocs));
    CHECK(after.frees - before.frees == 1003, "%llu frees counted, not 1003",
          (unsigned long long)(after.frees - before.frees));
}

/* ---- new(0), delete of nullptr ---- */

static void new_of_zero_bytes_is_unique()
{
    std::vector<void *> seen;
    for (int i = 0; i < 100; i++) {
        void *a = ::operator new(0);
        void *b = ::operator new[](0);
        void *c = ::operator new(0, std::align_val_t{ 128 });
        void *d = ::operator new(0, std::nothrow);
        CHECK(a && b && c && d, "new(0) returned nullptr");
        CHECK(aligned_to(c, 128), "aligned new(0) at %p", c);
        seen.insert(seen.end(), { a, b, c, d });
    }
    std::vector<void *> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(),
          "new(0) returned the same pointer twice");
    for (size_t i = 0; i < seen.size(); i += 4) {
        ::operator delete(seen[i], (size_t)0);
        ::operator delete[](seen[i + 1]);
        ::operator delete(seen[i + 2], std::align_val_t{ 128 });
        ::operator delete(seen[i + 3], std::nothrow);
    }
}

static void delete_of_nullptr_does_nothing()
{
    hak_stats before = stats_now();
    std::align_val_t al{ 4096 };
    ::operator delete(nullptr);
    ::operator delete[](nullptr);
    ::operator delete(nullptr, (size_t)16);
    ::operator delete[](nullptr, (size_t)16);
    ::operator delete(nullptr, std::nothrow);
    ::operator delete[](nullptr, std::nothrow);
    ::operator delete(nullptr, al);
    ::operator delete[](nullptr, al);
    ::operator delete(nullptr, (size_t)16, al);
    ::operator delete[](nullptr, (size_t)16, al);
    ::operator delete(nullptr, al, std::nothrow);
    ::operator delete[](nullptr, al, std::nothrow);
    hak_stats after = stats_now();
    CHECK(after.frees == before.frees, "a delete of nullptr counted a free");
}

/* ---- alignment ---- */

static void every_power_of_two_alignment_up_to_1g()
{
    for (size_t a = 1; a <= ((size_t)1 << 30); a <<= 1) {
        const size_t sizes[] = { 1, a, 3 * a + 5 };
        for (size_t n : sizes) {
            if (n > ((size_t)1 << 31))
                continue;
            std::align_val_t al{ a };
            char *p = static_cast<char *>(::operator new(n, al));
            CHECK(aligned_to(p, a), "new(%zu, align %zu) at %p", n, a, (void *)p);
            p[0] = 1;
            p[n - 1] = 2;
            ::operator delete(p, n, al);
            p = static_cast<char *>(::operator new[](n, al, std::nothrow));
            CHECK(p != nullptr && aligned_to(p, a), "nothrow new[](%zu, align %zu) at %p", n, a,
                  (void *)p);
            p[n - 1] = 3;
            ::operator delete[](p, al);
        }
    }
}

/* ---- bad_alloc and the new_handler ---- */

static const size_t impossible = (size_t)PTRDIFF_MAX;
static unsigned handler_calls;
static unsigned handler_gives_up_after;

/* Gives up (uninstalls itself) on its n-th call. */
static void counting_handler()
{
    if (++handler_calls == handler_gives_up_after)
        std::set_new_handler(nullptr);
}

struct handler_error {};
static void throwing_handler()
{
    handler_calls++;
    throw handler_error();
}

static void throwing_bad_alloc_handler()
{
    handler_calls++;
    throw std::bad_alloc();
}

template <class Fn> static bool throws_bad_alloc(Fn fn)
{
    try {
        escape(fn());
    } catch (const std::bad_alloc &) {
        return true;
    }
    return false;
}

static void failing_new_throws_bad_alloc()
{
    std::set_new_handler(nullptr);
    size_t n = impossible;
    std::align_val_t al{ 64 };
    CHECK(throws_bad_alloc([&] { return ::operator new(n); }), "new did not throw");
    CHECK(throws_bad_alloc([&] { return ::operator new[](n); }), "new[] did not throw");
    CHECK(throws_bad_alloc([&] { return ::operator new(n, al); }), "aligned new did not throw");
    CHECK(throws_bad_alloc([&] { return ::operator new[](n, al); }), "aligned new[] did not throw");
    CHECK(::operator new(n, std::nothrow) == nullptr, "nothrow new did not return nullptr");
    CHECK(::operator new[](n, std::nothrow) == nullptr, "nothrow new[] did not return nullptr");
    CHECK(::operator new(n, al, std::nothrow) == nullptr, "aligned nothrow new: not nullptr");
    CHECK(::operator new[](n, al, std::nothrow) == nullptr, "aligned nothrow new[]: not nullptr");
    /* An expression: what the program sees. */
    bool caught = false;
    try {
        std::vector<char> v;
        v.reserve(n / 4); /* below max_size(): operator new is asked */
        escape(v.data());
    } catch (const std::bad_alloc &e) {
        caught = typeid(e) == typeid(std::bad_alloc);
    }
    CHECK(caught, "std::vector::reserve past memory: no std::bad_alloc");
}

static void new_handler_is_called_in_a_loop()
{
    size_t n = impossible;
    std::align_val_t al{ 4096 };
    /* Throwing forms: called until it uninstalls itself, then bad_alloc. */
    handler_calls = 0;
    handler_gives_up_after = 3;
    std::set_new_handler(counting_handler);
    CHECK(throws_bad_alloc([&] { return ::operator new(n); }), "new did not throw");
    CHECK(handler_calls == 3, "handler called %u times, not 3", handler_calls);
    handler_calls = 0;
    std::set_new_handler(counting_handler);
    CHECK(throws_bad_alloc([&] { return ::operator new[](n, al); }), "aligned new[]: no throw");
    CHECK(handler_calls == 3, "aligned: handler called %u times, not 3", handler_calls);
    /* Nothrow forms call it too, then return nullptr. */
    handler_calls = 0;
    std::set_new_handler(counting_handler);
    CHECK(::operator new(n, std::nothrow) == nullptr, "nothrow new: not nullptr");
    CHECK(handler_calls == 3, "nothrow: handler called %u times, not 3", handler_calls);
    handler_calls = 0;
    std::set_new_handler(counting_handler);
    CHECK(::operator new[](n, al, std::nothrow) == nullptr, "aligned nothrow new[]: not nullptr");
    CHECK(handler_calls == 3, "aligned nothrow: handler called %u times, not 3", handler_calls);

    /* What the handler throws leaves the throwing forms... */
    handler_calls = 0;
    std::set_new_handler(throwing_handler);
    bool caught = false;
    try {
        escape(::operator new(n));
    } catch (const handler_error &) {
        caught = true;
    }
    CHECK(caught && handler_calls == 1, "the handler's exception did not reach the caller");
    /* ...and makes the nothrow forms return nullptr. */
    handler_calls = 0;
    CHECK(::operator new(n, std::nothrow) == nullptr, "nothrow new with a throwing handler");
    CHECK(::operator new[](n, al, std::nothrow) == nullptr, "aligned nothrow, throwing handler");
    std::set_new_handler(throwing_bad_alloc_handler);
    CHECK(::operator new[](n, std::nothrow) == nullptr, "nothrow new[], bad_alloc handler");
    CHECK(handler_calls == 3, "throwing handlers called %u times, not 3", handler_calls);
    std::set_new_handler(nullptr);

    /* An alignment that is not a power of two fails at once (libstdc++):
     * no handler can help. */
    handler_calls = 0;
    handler_gives_up_after = 100;
    std::set_new_handler(counting_handler);
    static volatile size_t odd_align = 24;
    CHECK(throws_bad_alloc([] { return ::operator new(64, std::align_val_t{ odd_align }); }),
          "alignment 24: no bad_alloc");
    CHECK(::operator new(64, std::align_val_t{ odd_align * 2 }, std::nothrow) == nullptr,
          "nothrow, alignment 48: not nullptr");
    CHECK(handler_calls == 0, "handler called for an impossible alignment");
    std::set_new_handler(nullptr);
}

/* A handler that makes memory available: the retry then succeeds.  In a
 * child, as it lowers the address-space limit. */
static rlimit saved_as;
static void raising_handler()
{
    handler_calls++;
    setrlimit(RLIMIT_AS, &saved_as);
}

static void new_handler_that_frees_memory_lets_new_succeed()
{
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        alarm(60);
        getrlimit(RLIMIT_AS, &saved_as);
        const size_t n = (size_t)512 << 20;
        rlimit low = saved_as;
        low.rlim_cur = (rlim_t)256 << 20; /* below n: the mapping fails */
        void *(*forms[])(size_t) = {
            [](size_t m) { return ::operator new(m); },
            [](size_t m) { return ::operator new[](m, std::nothrow); },
            [](size_t m) { return ::operator new(m, std::align_val_t{ 1 << 16 }); },
            [](size_t m) { return ::operator new[](m, std::align_val_t{ 64 }, std::nothrow); },
        };
        for (auto form : forms) {
            if (setrlimit(RLIMIT_AS, &low) != 0)
                _exit(3);
            handler_calls = 0;
            std::set_new_handler(raising_handler);
            char *p = static_cast<char *>(form(n));
            if (p == nullptr || handler_calls != 1)
                _exit(4);
            p[n - 1] = 1;
            ::operator delete(p);
        }
        _exit(0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "child status %#x (3: setrlimit, 4: the retry after the handler failed)", status);
}

/* ---- misuse: sized and aligned deletes that do not match ---- */

/* Runs fn in a child with stderr captured; it must abort after one line
 * that contains every string of `want`. */
template <class Fn>
static void expect_abort(const char *name, Fn fn, std::initializer_list<std::string> want)
{
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        dup2(fds[1], 2);
        alarm(30);
        fn();
        _exit(0);
    }
    close(fds[1]);
    std::string err;
    char buf[512];
    for (ssize_t r; (r = read(fds[0], buf, sizeof buf)) > 0;)
        err.append(buf, (size_t)r);
    close(fds[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: status %#x, stderr: %s", name,
          status, err.c_str());
    CHECK(err.rfind("hakmem: ", 0) == 0 && err.find('\n') == err.size() - 1,
          "%s: not one line starting with \"hakmem: \": %s", name, err.c_str());
    for (const std::string &w : want)
        CHECK(err.find(w) != std::string::npos, "%s: no \"%s\" in: %s", name, w.c_str(),
              err.c_str());
}

static std::string hex(const void *p)
{
    char s[32];
    std::snprintf(s, sizeof s, "0x%lx ", (unsigned long)(uintptr_t)p);
    return s;
}

struct Base {
    long id;
};
struct Derived : Base {
    char more[200];
};

static void mismatched_deletes_abort()
{
    /* A delete of the wrong type: the size of Derived for a Base. */
    Base *b = new Base;
    expect_abort("delete of the wrong type",
                 [&] { delete static_cast<Derived *>(escape(b)); },
                 { "wrong size in sized free of " + hex(b), "(" + std::to_string(sizeof(Derived)) +
                   " bytes given, Tiny block of 16 bytes)" });
    delete b;
    void *p = ::operator new(100000);
    expect_abort("sized delete of a Large block, another class",
                 [&] { ::operator delete(p, (size_t)50000); },
                 { "wrong size in sized free of " + hex(p),
                   "(50000 bytes given, Large block of 106496 bytes, allocated for 100000 bytes)" });
    expect_abort("sized delete[] larger than the block",
                 [&] { ::operator delete[](escape(p), 200000); },
                 { "wrong size in sized free of " + hex(p), "(200000 bytes given, Large block" });
    ::operator delete(p, (size_t)100000);
    std::align_val_t al{ 65536 };
    p = ::operator new(100000, al);
    expect_abort("sized aligned delete, another alignment",
                 [&] { ::operator delete(p, (size_t)100000, std::align_val_t{ 4096 }); },
                 { "wrong alignment in aligned free of " + hex(p),
                   "(alignment 4096 given, Large block of 106496 bytes, allocated with alignment "
                   "65536)" });
    expect_abort("aligned delete, another alignment",
                 [&] { ::operator delete[](escape(p), std::align_val_t{ 128 }); },
                 { "(alignment 128 given, Large block" });
    expect_abort("sized aligned delete, another size",
                 [&] { ::operator delete(p, (size_t)40000, al); },
                 { "(40000 bytes given, Large block of 106496 bytes, allocated for 100000 bytes)" });
    ::operator delete(p, (size_t)100000, al);
    p = ::operator new((size_t)5 << 20, al);
    expect_abort("sized aligned delete of a Huge block, another size",
                 [&] { ::operator delete(p, (size_t)3 << 20, al); },
                 { "(3145728 bytes given, Huge block" });
    expect_abort("aligned delete of a Huge block, another alignment",
                 [&] { ::operator delete(p, std::align_val_t{ 4096 }); },
                 { "(alignment 4096 given, Huge block" });
    ::operator delete(p, al, std::nothrow);
    /* A size no string of this test takes, so the freed block stays free. */
    static void *volatile freed;
    freed = ::operator new(5000);
    ::operator delete(freed);
    expect_abort("double delete", [] { ::operator delete(freed, (size_t)5000); },
                 { "double free of " + hex(freed) });
    /* A size smaller than the request, within its class, is accepted. */
    p = ::operator new(100);
    ::operator delete(p, (size_t)97);
    p = ::operator new[](100000);
    ::operator delete[](p, (size_t)hak_malloc_usable_size(p));
}

/* ---- the C functions and the C++ forms share one heap ---- */

/* What the standard allows: objects built in malloc'd memory (placement
 * new), malloc and new blocks side by side.  What it leaves undefined but
 * hakmem accepts, as both reach one heap: a C function freeing or resizing
 * a block from operator new, or a delete of a block from malloc (with its
 * size and alignment, for the sized and aligned forms).  escape() hides
 * the pairs from the compiler's mismatched-new-delete warning. */
static void malloc_and_new_mix()
{
    void *raw = escape(std::malloc(sizeof(std::string) * 4));
    std::string *strs = static_cast<std::string *>(raw);
    for (int i = 0; i < 4; i++)
        new (&strs[i]) std::string(100 + i, 'q');
    CHECK(escape(&strs[3]) && strs[3].size() == 103, "placement new in malloc'd memory");
    for (int i = 0; i < 4; i++)
        strs[i].~basic_string();
    std::free(raw);

    hak_stats before = stats_now();
    void *p = escape(std::malloc(200));
    ::operator delete(p);
    p = escape(::operator new(200));
    std::free(p);
    p = escape(::operator new(3000));
    std::memset(p, 7, 3000);
    /* Mid to Large: a move, counted as an allocation and a free. */
    p = escape(std::realloc(p, 300000));
    CHECK(p != nullptr && static_cast<unsigned char *>(p)[2999] == 7, "realloc of new'd memory");
    CHECK(malloc_usable_size(p) >= 300000, "malloc_usable_size of new'd memory");
    ::operator delete(p, (size_t)300000);
    p = escape(aligned_alloc(4096, 100000));
    ::operator delete(p, (size_t)100000, std::align_val_t{ 4096 });
    p = escape(::operator new(5000, std::align_val_t{ 512 }));
    std::free(p);
    p = escape(std::calloc(10, 10));
    ::operator delete[](p, (size_t)100);
    hak_stats after = stats_now();
    CHECK(after.allocs - before.allocs == 7 && after.frees - before.frees == 7,
          "%llu allocations and %llu frees counted, not 7 and 7",
          (unsigned long long)(after.allocs - before.allocs),
          (unsigned long long)(after.frees - before.frees));
}

/* ---- the standard library on hakmem, from several threads ---- */

static void standard_library_on_hakmem()
{
    hak_stats before = stats_now();
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<std::vector<std::string>>> handed(8);
    for (int t = 0; t < 8; t++) {
        threads.emplace_back([t, &handed] {
            std::map<std::string, std::vector<int>> m;
            std::unordered_map<int, std::shared_ptr<std::string>> u;
            for (int i = 0; i < 20000; i++) {
                m["key" + std::to_string((i * 7919 + t) % 5000)].push_back(i);
                u[i % 3000] = std::make_shared<std::string>(i % 97 + 20, 'x');
            }
            auto v = std::make_unique<std::vector<std::string>>();
            for (auto &kv : m)
                v->push_back(kv.first + std::string(kv.second.size(), 'y'));
            handed[t] = std::move(v); /* freed by the main thread */
        });
    }
    for (auto &th : threads)
        th.join();
    size_t total = 0;
    for (auto &v : handed)
        total += v->size();
    handed.clear();
    CHECK(total == 8 * 5000, "%zu strings", total);
    hak_stats after = stats_now();
    CHECK(after.allocs - before.allocs > 100000, "only %llu allocations reached hakmem",
          (unsigned long long)(after.allocs - before.allocs));
}

int main()
{
    every_operator_is_hakmems();
    every_operator_reaches_hakmem();
    new_expressions_reach_hakmem();
    new_of_zero_bytes_is_unique();
    delete_of_nullptr_does_nothing();
    every_power_of_two_alignment_up_to_1g();
    failing_new_throws_bad_alloc();
    new_handler_is_called_in_a_loop();
    new_handler_that_frees_memory_lets_new_succeed();
    mismatched_deletes_abort();
    malloc_and_new_mix();
    standard_library_on_hakmem();
    std::printf("cxx_operators: %u checks passed\n", checks);
    return 0;
}
