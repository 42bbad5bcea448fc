/*
 * leaky.c - a program with its own memory errors, for valgrind under a
 * preloaded hakmem (tests/step_aside.sh): memcheck must report each one
 * and the leak, whichever allocation function made the block.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char *leak = malloc(100); /* never freed: 100 bytes definitely lost */
    strcpy(leak, "leak");
    leak = NULL;

    char *freed = calloc(4, 8);
    free(freed);
    volatile char c = freed[3]; /* use after free: invalid read */
    (void)c;

    int *u = malloc(sizeof *u * 4);
    if (u[2] > 0) /* depends on an uninitialised value */
        puts("positive");
    free(u);

    char *big = realloc(NULL, 100000);
    big[100000] = 1; /* one past the end: invalid write */
    free(big);

    /* The rest is clean: memcheck must stay quiet about it. */
    void *al = NULL;
    if (posix_memalign(&al, 4096, 5000) != 0)
        return 2;
    memset(al, 1, 5000);
    char *d = strdup("duplicated");
    char *r = reallocarray(NULL, 10, 100);
    memset(r, 0, 1000);
    r = realloc(r, 3000);
    printf("%s %zu\n", d, malloc_usable_size(d) >= 11 ? (size_t)11 : (size_t)0);
    free(al);
    free(d);
    free(r);
    return 0;
}
