/*
 * asan_clean.c - a correct program built with a sanitizer, run under a
 * preloaded hakmem (tests/step_aside.sh): it must run clean, its blocks
 * coming from the sanitizer's allocator whichever function made them
 * (strdup is the runtime's own, malloc reaches hakmem first).
 *
 *   asan_clean           allocate, share with threads, free: prints "ok"
 *   asan_clean overflow  write one past a 100000-byte block
 *   asan_clean small     write one past a 10-byte block
 *   asan_clean uaf       read a freed 24-byte block
 *   asan_clean leak      leak a 100-byte block
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *worker(void *arg)
{
    char *s = arg;
    char *copy = strdup(s);
    free(s); /* allocated by the main thread */
    return copy;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "overflow") == 0) {
        volatile char *big = malloc(100000);
        big[100000] = 1;
        free((void *)big);
        return 0;
    }
    if (strcmp(mode, "small") == 0) {
        volatile char *small = malloc(10);
        small[10] = 1;
        free((void *)small);
        return 0;
    }
    if (strcmp(mode, "uaf") == 0) {
        volatile char *p = malloc(24);
        free((void *)p);
        return p[3];
    }
    if (strcmp(mode, "leak") == 0) {
        char *volatile p = malloc(100);
        p = NULL;
        return 0;
    }
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        char *s = malloc(64);
        snprintf(s, 64, "thread %d", i);
        pthread_create(&t[i], NULL, worker, s);
    }
    size_t total = 0;
    for (int i = 0; i < 4; i++) {
        void *copy;
        pthread_join(t[i], &copy);
        total += strlen(copy);
        free(copy);
    }
    char *z = calloc(1000, 10);
    z = realloc(z, 50000);
    void *al = aligned_alloc(256, 1024);
    void *m = memalign(64, 100);
    char *d = strndup("duplicated", 4);
    total += malloc_usable_size(d) >= 5;
    free(z);
    free(al);
    free(m);
    free(d);
    printf(total == 33 ? "ok\n" : "wrong total %zu\n", total);
    return total == 33 ? 0 : 1;
}
