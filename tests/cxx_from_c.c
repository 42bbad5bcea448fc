/*
 * cxx_from_c.c - libhakmem.so in a C program: it loads no C++ runtime,
 * and its C++ operators, called by their mangled names, still work; a
 * throwing operator new that fails has no runtime to throw with, so it
 * prints one line and aborts, while the nothrow form returns NULL.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* operator new(size_t), operator new(size_t, const std::nothrow_t &),
 * operator delete(void *, size_t) */
void *_Znwm(size_t size);
void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag);
void _ZdlPvm(void *p, size_t size);

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, "\n");                                                           \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

static void no_cxx_runtime_is_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL, "/proc/self/maps");
    char line[512];
    int hakmem = 0;
    while (fgets(line, sizeof line, f)) {
        CHECK(strstr(line, "libstdc++") == NULL && strstr(line, "libc++") == NULL,
              "a C++ runtime is mapped: %s", line);
        hakmem |= strstr(line, "libhakmem.so") != NULL;
    }
    fclose(f);
    CHECK(hakmem, "libhakmem.so is not mapped");
}

static void operators_work(void)
{
    const size_t sizes[] = { 0, 24, 3000, 100000, 5 << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = _Znwm(sizes[i]);
        CHECK(p != NULL, "operator new(%zu)", sizes[i]);
        memset(p, 1, sizes[i]);
        _ZdlPvm(p, sizes[i]);
        p = _ZnwmRKSt9nothrow_t(sizes[i], NULL);
        CHECK(p != NULL, "operator new(%zu, nothrow)", sizes[i]);
        free(p); /* one heap: the C free takes it */
    }
    CHECK(_ZnwmRKSt9nothrow_t((size_t)PTRDIFF_MAX, NULL) == NULL,
          "a nothrow new that cannot succeed returned a block");
}

static void failing_new_aborts_with_one_line(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        dup2(fds[1], 2);
        alarm(30);
        _Znwm((size_t)PTRDIFF_MAX);
        _exit(0);
    }
    close(fds[1]);
    char err[512];
    size_t n = 0;
    for (ssize_t r; n < sizeof err - 1 && (r = read(fds[0], err + n, sizeof err - 1 - n)) > 0;)
        n += (size_t)r;
    err[n] = 0;
    close(fds[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x, stderr: %s", status,
          err);
    char want[160];
    snprintf(want, sizeof want,
             "hakmem: operator new of %zu bytes failed, and no C++ runtime is loaded to throw "
             "std::bad_alloc\n",
             (size_t)PTRDIFF_MAX);
    CHECK(strcmp(err, want) == 0, "stderr: %s", err);
}

int main(void)
{
    no_cxx_runtime_is_mapped();
    operators_work();
    failing_new_aborts_with_one_line();
    printf("cxx_from_c: a C program runs with the C++ operators and no C++ runtime\n");
    return 0;
}
