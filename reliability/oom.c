/*
 * oom.c - out of memory under RLIMIT_AS, through the standard names of the
 * preloaded libhakmem.so (the cases are in oom_cases.h, shared with
 * tests/test_oom.c which runs them on the hak_ functions).
 *
 *   oom            every function x every tier, several threads at once,
 *                  and decay after an out-of-memory episode
 *
 * Prints one line per case ("oom: malloc/Tiny ok") and exits 1 if any
 * case failed.  HAKMEM_PURGE_DELAY_MS must be set (run.sh sets it).
 */
#include "rel.h"

#include <malloc.h>
#include <signal.h>

#define OOM_FN(name) name
#include "oom_cases.h"

static int report(const char *name, int status, const char *err)
{
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok) {
        printf("oom: %-28s ok\n", name);
        return 0;
    }
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "killed by signal %d%s", WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? " (watchdog: deadlock?)" : "");
    else
        snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
    printf("oom: %-28s FAILED (%s): %s", name, how, *err ? err : "(no message)\n");
    return 1;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    REL_CHECK(rel_hakmem_loaded(), "oom: hakmem is not loaded (run with LD_PRELOAD)");
    int delay = (int)rel_env_long("HAKMEM_PURGE_DELAY_MS", 250);
    int failures = 0;
    char err[4096], name[64];
    for (int fn = 0; fn < OOM_FN_COUNT; fn++) {
        for (int tier = 0; tier < OOM_TIERS; tier++) {
            int status = oom_run_in_child(oom_case, fn, tier, err, sizeof err, 60);
            snprintf(name, sizeof name, "%s/%s", oom_fn_name[fn], oom_tier_name[tier]);
            failures += report(name, status, err);
        }
    }
    failures += report("8 threads at once", oom_run_in_child(oom_threads_entry, OOM_MALLOC, 0, err, sizeof err, 60), err);
    failures += report("8 threads at once, posix_memalign",
                       oom_run_in_child(oom_threads_entry, OOM_POSIX_MEMALIGN, 0, err, sizeof err, 60), err);
    failures += report("idle decay after OOM", oom_run_in_child(oom_decay_case, delay, 0, err, sizeof err, 60), err);
    printf("oom: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
