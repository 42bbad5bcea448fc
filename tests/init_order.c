/*
 * init_order.c - allocation before any constructor runs.  Linked against
 * libhakmem.so: the executable's .preinit_array runs before every shared
 * library's constructors, hakmem's included, so its malloc is the
 * allocator's very first call.  A constructor allocates too, and main
 * checks that all of it is hakmem memory that works.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"

static char *early[4];

static void preinit_alloc(int argc, char **argv, char **envp)
{
    (void)argc, (void)argv, (void)envp;
    alarm(60); /* watchdog: a deadlock fails the test */
    early[0] = malloc(100);
    early[1] = calloc(10, 1000);
    early[2] = realloc(NULL, 200000);
    strcpy(early[0], "preinit");
}

__attribute__((section(".preinit_array"), used)) static void (*preinit_fn)(int, char **, char **) =
    preinit_alloc;

__attribute__((constructor(101))) static void ctor_alloc(void)
{
    early[3] = malloc(5000);
    strcpy(early[3], "constructor");
}

int main(void)
{
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        /* hak_malloc_usable_size aborts on memory that is not hakmem's. */
        if (early[i] == NULL || hak_malloc_usable_size(early[i]) == 0)
            bad = 1;
    }
    for (int i = 0; i < 10000; i++)
        if (early[1][i] != 0)
            bad = 1;
    if (strcmp(early[0], "preinit") != 0 || strcmp(early[3], "constructor") != 0)
        bad = 1;
    for (int i = 0; i < 4; i++)
        free(early[i]);
    struct hak_stats st;
    hak_stats_get(&st);
    printf("init_order: %s (%lu allocations before and after main)\n", bad ? "FAIL" : "ok",
           (unsigned long)st.allocs);
    return bad;
}
