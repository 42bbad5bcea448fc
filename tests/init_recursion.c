/*
 * init_recursion.c - a call back into malloc while hakmem initialises.
 * hakmem's initialisation calls pthread_key_create; this program interposes
 * it with a version that allocates (as a libc may, and as any preloaded
 * wrapper can) before forwarding, so the allocator is re-entered from inside
 * its own initialisation.  (pthread_atfork, also called there, is linked
 * statically from libc_nonshared.a and cannot be interposed.)  Threads started right away also
 * race with the initialisation.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int nested_calls;

/* Watchdog armed before any constructor: a deadlock in the allocator's
 * initialisation fails the test instead of hanging it. */
static void preinit_watchdog(int argc, char **argv, char **envp)
{
    (void)argc, (void)argv, (void)envp;
    alarm(60);
}

__attribute__((section(".preinit_array"), used)) static void (*preinit_fn)(int, char **, char **) =
    preinit_watchdog;

int pthread_key_create(pthread_key_t *key, void (*destructor)(void *))
{
    char *p = malloc(64);
    char *q = calloc(4, 4096);
    if (p && q) {
        strcpy(p, "nested");
        nested_calls++;
    }
    free(q);
    free(p);
    int (*real)(pthread_key_t *, void (*)(void *)) =
        (int (*)(pthread_key_t *, void (*)(void *)))dlsym(RTLD_NEXT, "pthread_key_create");
    return real ? real(key, destructor) : -1;
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        free(malloc((size_t)(i % 5000)));
    return NULL;
}

int main(void)
{
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    printf("init_recursion: %s (%d nested calls during initialisation)\n",
           nested_calls > 0 ? "ok" : "FAIL", nested_calls);
    return nested_calls > 0 ? 0 : 1;
}
