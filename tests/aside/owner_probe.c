/*
 * owner_probe.c - who serves this program's allocations
 * (tests/step_aside.sh).  Makes six blocks with six functions and prints
 * "other N hakmem M": N of them came from other_malloc.so, and hakmem's
 * own statistics counted M allocations meanwhile.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

static long hakmem_allocs(void)
{
    int (*get)(struct hak_stats *) = (int (*)(struct hak_stats *))dlsym(RTLD_DEFAULT, "hak_stats_get");
    static struct hak_stats s;
    if (get == NULL || get(&s) != 0)
        return -1;
    return (long)s.allocs;
}

int main(void)
{
    int (*other_owns)(const void *) = (int (*)(const void *))dlsym(RTLD_DEFAULT, "other_malloc_owns");
    long before = hakmem_allocs();
    void *p[6];
    p[0] = malloc(24);
    p[1] = calloc(3, 100);
    p[2] = realloc(NULL, 50000);
    p[3] = strdup("x");
    if (posix_memalign(&p[4], 64, 200) != 0)
        return 2;
    p[5] = aligned_alloc(4096, 4096);
    long after = hakmem_allocs();
    int other = 0;
    for (int i = 0; i < 6; i++)
        other += other_owns && other_owns(p[i]);
    printf("other %d hakmem %ld\n", other, before < 0 ? -1 : after - before);
    for (int i = 0; i < 6; i++)
        free(p[i]);
    return 0;
}
