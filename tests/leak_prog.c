/*
 * leak_prog.c - a program for tests/live_e2e.sh, run with libhakmem
 * preloaded (it does not link hakmem itself).
 *
 *   leak_prog leak    leaks 100-byte blocks from leaky_function and 200 KB
 *                     blocks from leaky_big, while churning temporary
 *                     blocks in churn_function; exits
 *   leak_prog serve   allocates (and leaks a little) until standard input
 *                     reaches end of file, printing "ready" once running
 *   leak_prog hits    frees and allocates one Tiny and one Mid block over
 *                     and over, every malloc a cache hit, until standard
 *                     input reaches end of file; prints "ready" first
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

__attribute__((noinline)) void *leaky_function(size_t n)
{
    char *p = malloc(n);
    memset(p, 1, n);
    return p;
}

__attribute__((noinline)) void *leaky_big(size_t n)
{
    char *p = malloc(n);
    memset(p, 2, n);
    return p;
}

__attribute__((noinline)) void churn_function(size_t n)
{
    char *p = malloc(n);
    memset(p, 3, n);
    free(p);
}


int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "leak") == 0) {
        for (int i = 0; i < 400000; i++) {
            churn_function(64 + (size_t)(i % 700));
            if (i % 4 == 0)
                leaky_function(100);
        }
        for (int i = 0; i < 10; i++)
            leaky_big(200000);
        printf("leaked %d bytes\n", 100000 * 112 + 10 * 200000);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "serve") == 0) {
        fcntl(0, F_SETFL, O_NONBLOCK);
        int said = 0;
        for (long i = 0;; i++) {
            churn_function(32 + (size_t)(i % 2000));
            if (i % 4096 == 0)
                leaky_function(256);
            if (i % 1000 == 0) {
                if (!said && i > 100000) {
                    printf("ready\n");
                    fflush(stdout);
                    said = 1;
                }
                char c;
                if (read(0, &c, 1) == 0)
                    return 0;
                usleep(1000);
            }
        }
    }
    if (argc == 2 && strcmp(argv[1], "hits") == 0) {
        fcntl(0, F_SETFL, O_NONBLOCK);
        printf("ready\n");
        fflush(stdout);
        for (long i = 0;; i++) {
            churn_function(48);
            churn_function(4000);
            char c;
            if (i % 1000 == 0 && read(0, &c, 1) == 0)
                return 0;
        }
    }
    fprintf(stderr, "usage: leak_prog leak|serve|hits\n");
    return 2;
}
