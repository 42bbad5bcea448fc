/*
 * learner_thread.c - the learner thread in a real process (linked against
 * libhakmem.so, learn = on): it starts with the first allocation, a fork
 * child gets its own, and it does not keep the process alive after main
 * calls pthread_exit and the last application thread ends.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* A malloc/free pair the compiler cannot remove as dead code. */
static void alloc_free(size_t n)
{
    void *volatile p = malloc(n);
    free(p);
}

static void *worker(void *arg)
{
    (void)arg;
    void *slot[256] = { 0 };
    unsigned long r = 1;
    for (int i = 0; i < 2000000; i++) {
        r = r * 6364136223846793005ul + 1442695040888963407ul;
        unsigned k = (unsigned)(r >> 56);
        free(slot[k]);
        slot[k] = malloc((r >> 33) % 4000);
    }
    for (int i = 0; i < 256; i++)
        free(slot[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    (void)argc;
    if (getenv("HAKMEM_LEARN") == NULL) {
        /* The environment is read before main: run again with it set. */
        setenv("HAKMEM_LEARN", "on", 1);
        setenv("HAKMEM_LEARN_WINDOW_MS", "10", 1);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 2;
    }
    alarm(60); /* watchdog: the process must end by itself */
    alloc_free(100);
    int n = thread_count();
    if (n != 2) {
        printf("learner_thread: FAIL: %d threads after the first allocation, expected 2\n", n);
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int before = thread_count();
        alloc_free(5000); /* the child's first slow path restarts the learner */
        alloc_free(70000);
        int after = thread_count();
        if (before != 1 || after != 2)
            printf("learner_thread: child had %d threads, then %d\n", before, after), fflush(stdout);
        _exit(before == 1 && after == 2 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("learner_thread: FAIL: no learner in the fork child (status 0x%x)\n", status);
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    printf("learner_thread: ok so far; main exits with pthread_exit, the process must end\n");
    fflush(stdout);
    pthread_exit(NULL);
}
