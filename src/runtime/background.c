/*
 * background.c - the background thread (see background.h).
 *
 * Loop: run a learner window when one is due; while free memory is
 * retained, purge what is older than purge_delay_ms, checking four times
 * per delay (so memory is back within 1.25 delays of its last use even if
 * the program never calls us again); sleep until the next such moment.
 * After a while with nothing to do the thread leaves; the next free that
 * leaves a megabyte or more retained starts it again.
 */
#define _GNU_SOURCE
#include "runtime/background.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "base/counters.h"
#include "config/options.h"
#include "os/os.h"
#include "runtime/learner.h"
#include "runtime/live.h"
#include "runtime/prof.h"
#include "runtime/purge.h"

_Atomic int hak_background_allowed;
_Atomic int hak_background_running;
_Atomic int hak_background_requested;

/* Idle time after which the thread leaves. */
#define BG_LINGER_MS 5000u

/* Live threads in this process: num_threads (field 20 of /proc/self/stat)
 * less the main thread if it has exited (a thread-group leader that called
 * pthread_exit stays a zombie, state 'Z', until the other threads end). */
static long bg_live_threads(void)
{
    char buf[1024];
    bool truncated;
    ssize_t n = hak_os_read_file("/proc/self/stat", buf, sizeof buf - 1, &truncated);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    /* "pid (comm) state ...": comm may contain spaces and ')'; the last ')'
     * ends it. */
    char *s = buf;
    for (char *q = buf; *q; q++)
        if (*q == ')')
            s = q;
    if (s[0] != ')' || s[1] != ' ' || s[2] == 0)
        return -1;
    char state = s[2];
    int field = 2;
    long threads = -1;
    for (; *s; s++) {
        if (*s == ' ' && ++field == 20) {
            threads = 0;
            for (s++; *s >= '0' && *s <= '9'; s++)
                threads = threads * 10 + (*s - '0');
            break;
        }
    }
    if (threads > 0 && state == 'Z')
        threads--;
    return threads;
}

static void bg_sleep_ms(uint64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) != 0)
        ;
}

/* Leave, unless work arrived while deciding to. */
static bool bg_leave(void)
{
    /* relaxed: running is only an election flag. */
    atomic_store_explicit(&hak_background_running, 0, memory_order_relaxed);
    if (hak_retained_get() < HAK_DECAY_THREAD_MIN && !hak_opt(HAK_OPT_LEARN) &&
        !hak_prof_active())
        return true;
    /* (a safe point that publishes live statistics asks again) */
    int expected = 0;
    return !atomic_compare_exchange_strong_explicit(&hak_background_running, &expected, 1,
                                                    memory_order_relaxed, memory_order_relaxed);
}

static void *bg_main(void *arg)
{
    (void)arg;
    uint64_t now = hak_os_now_ms();
    uint64_t busy_at = now;
    uint64_t learn_next = now + (uint64_t)hak_opt(HAK_OPT_LEARN_WINDOW_MS);
    for (;;) {
        now = hak_os_now_ms();
        /* A quarter delay at most, also with nothing retained right now: a
         * free does not wake us, and what it frees must be back within
         * 1.25 delays. */
        uint64_t step = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS) / 4;
        if (step < 5)
            step = 5;
        uint64_t sleep_ms = step < 1000 ? step : 1000;
        if (hak_opt(HAK_OPT_LEARN)) {
            if (now >= learn_next) {
                hak_learner_window();
                learn_next = now + (uint64_t)hak_opt(HAK_OPT_LEARN_WINDOW_MS);
            }
            if (learn_next - now < sleep_ms)
                sleep_ms = learn_next - now;
            busy_at = now;
        }
        if (hak_retained_get() > 0) {
            hak_purge_aged(now);
            busy_at = now;
        }
        /* Live statistics stay fresh while the thread runs; with the heap
         * profiler on it runs for good, to serve requests and growth. */
        if (hak_live_refresh())
            busy_at = now;
        if (hak_prof_active()) {
            hak_prof_background();
            busy_at = now;
        }
        /* Alone: the application's threads are gone (main called
         * pthread_exit).  Leaving lets glibc end the process as usual. */
        if (bg_live_threads() == 1)
            break;
        if (now - busy_at >= BG_LINGER_MS && bg_leave())
            return NULL;
        bg_sleep_ms(sleep_ms);
    }
    atomic_store_explicit(&hak_background_running, 0, memory_order_relaxed);
    return NULL;
}

/* After a failed pthread_create, no new attempt before this time (ms). */
#define BG_RETRY_MS 10u
static _Atomic uint64_t bg_retry_at_ms;

void hak_background_start(void)
{
    /* relaxed: the request is served (or refused) here, once. */
    atomic_store_explicit(&hak_background_requested, 0, memory_order_relaxed);
    if (!atomic_load_explicit(&hak_background_allowed, memory_order_relaxed))
        return;
    /* relaxed: a hint; a late retry only delays the decay a little. */
    uint64_t retry = atomic_load_explicit(&bg_retry_at_ms, memory_order_relaxed);
    if (hak_unlikely(retry != 0) && hak_os_now_ms() < retry)
        return;
    int expected = 0;
    /* relaxed: elects the one thread that creates it. */
    if (!atomic_compare_exchange_strong_explicit(&hak_background_running, &expected, 1,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* Signals go to the application's threads, never to ours. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, bg_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        /* No thread now (out of memory, RLIMIT_NPROC): meanwhile decay
         * happens only on later frees.  Ask again later, not on every free
         * (a failing pthread_create costs system calls), but do ask: once
         * memory is back, a program that goes idle must still see its
         * free memory decay. */
        atomic_store_explicit(&bg_retry_at_ms, hak_os_now_ms() + BG_RETRY_MS,
                              memory_order_relaxed);
        atomic_store_explicit(&hak_background_running, 0, memory_order_relaxed);
    }
}

void hak_background_fork_child(void)
{
    /* The thread does not exist in the child; the next slow path that
     * needs it starts one. */
    atomic_store_explicit(&hak_background_running, 0, memory_order_relaxed);
    atomic_store_explicit(&hak_background_requested, 0, memory_order_relaxed);
}
