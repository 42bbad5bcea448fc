/*
 * fuzz_main.h - the main() of a fuzz target, included at the end of each
 * harness after its LLVMFuzzerTestOneInput.
 *
 *   libFuzzer build   no main here: libFuzzer brings its own.
 *   engine's main     (-DHAK_FUZZ_ENGINE_MAIN, .clusterfuzzlite/build.sh)
 *                     none here either: $LIB_FUZZING_ENGINE brings it,
 *                     whichever engine, AFL++'s driver included.
 *   AFL++ build       (afl-clang-fast defines __AFL_FUZZ_TESTCASE_LEN)
 *                     persistent mode over shared-memory test cases.
 *   replay build      (-DHAK_FUZZ_REPLAY) runs every file named on the
 *                     command line, directories included; with no argument
 *                     it runs the target's seed corpus, HAK_FUZZ_CORPUS
 *                     (this is what make check does).
 */
#ifndef HAK_FUZZ_MAIN_H
#define HAK_FUZZ_MAIN_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if defined(HAK_FUZZ_ENGINE_MAIN)

#elif defined(__AFL_FUZZ_TESTCASE_LEN)

#include <unistd.h>

__AFL_FUZZ_INIT();

int main(void)
{
    /* Anything the harness sets up lazily (worker threads, memfds) is made
     * after this point, in the forked child. */
    __AFL_INIT();
    const unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(10000))
        LLVMFuzzerTestOneInput(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
    return 0;
}

#elif defined(HAK_FUZZ_REPLAY)

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static unsigned fuzz_replayed;

static void fuzz_replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            fprintf(stderr, "%s: out of memory\n", path);
            exit(1);
        }
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        cap *= 2;
        buf = realloc(buf, cap);
    }
    fclose(f);
    /* An exact-size copy, as libFuzzer passes it. */
    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        exit(1);
    }
    memcpy(exact, buf, len);
    free(buf);
    /* HAK_FUZZ_REPEAT=n runs each input n times (profiling). */
    const char *rep = getenv("HAK_FUZZ_REPEAT");
    long repeat = rep ? strtol(rep, NULL, 10) : 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < repeat || i == 0; i++)
        LLVMFuzzerTestOneInput(exact, len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (getenv("HAK_FUZZ_VERBOSE"))
        fprintf(stderr, "replay %s (%zu bytes): %.3f ms per run\n", path, len,
                ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) /
                    (double)(repeat > 0 ? repeat : 1));
    free(exact);
    fuzz_replayed++;
}

static int fuzz_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fuzz_replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        exit(1);
    }
    if (!S_ISDIR(st.st_mode)) {
        fuzz_replay_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        perror(path);
        exit(1);
    }
    /* Sorted, so that a run is the same on every machine. */
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
        }
        size_t sz = strlen(path) + strlen(e->d_name) + 2;
        char *full = names ? malloc(sz) : NULL;
        if (full == NULL) {
            fprintf(stderr, "%s: out of memory\n", path);
            exit(1);
        }
        snprintf(full, sz, "%s/%s", path, e->d_name);
        names[n++] = full;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, fuzz_name_cmp);
    for (size_t i = 0; i < n; i++) {
        fuzz_replay_path(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    /* A deadlock must fail the test, not hang make check. */
    alarm(300);
    if (argc < 2) {
        fuzz_replay_path(HAK_FUZZ_CORPUS);
    } else {
        for (int i = 1; i < argc; i++)
            fuzz_replay_path(argv[i]);
    }
    printf("%s: %u inputs replayed, no failure\n", argv[0], fuzz_replayed);
    return 0;
}

#endif

#endif
