/*
 * key_probe.c - helper of tests/test_secure.c: prints this process's
 * free-list link key and the order in which a fresh slab hands out its
 * first 64 blocks of 64 bytes (block indices from the lowest address).
 * test_secure runs it twice, as separate programs, and compares: the key
 * must differ between processes, and so must the order when
 * HAKMEM_RANDOM_FREELIST=1.
 */
#include <stdint.h>
#include <stdio.h>

#include "base/block.h"
#include "hakmem.h"

int main(void)
{
    enum { N = 64 };
    uintptr_t a[N], lo = UINTPTR_MAX;
    for (int i = 0; i < N; i++) {
        a[i] = (uintptr_t)hak_malloc(64);
        if (a[i] == 0)
            return 1;
        if (a[i] < lo)
            lo = a[i];
    }
    printf("%016llx\n", (unsigned long long)hak_keys.link);
    for (int i = 0; i < N; i++)
        printf("%lu%c", (unsigned long)((a[i] - lo) / 64), i + 1 < N ? ' ' : '\n');
    return 0;
}
