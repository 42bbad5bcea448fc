/*
 * hakmem-inspect - the part of hakmemctl written in C, for the commands
 * that need the library's own code.  hakmemctl (a POSIX sh script) runs it
 * from $(pkglibexecdir).  Here: reading other processes' live statistics
 * regions (src/runtime/live.h), `stats PID [--json]`, `top [--once] [-d
 * SECONDS] [-n COUNT]` and `profile PID`; in inspect_config.c: the
 * configuration, `check-config` and `explain`.
 *
 * A region is trusted only if it is a regular file owned by the
 * process's effective uid (nobody else can make such a file), carries
 * the magic, the PID and our layout, and belongs to the running process:
 * its start time matches /proc/PID/stat and, where /proc/PID/maps is
 * readable, the process has the file mapped.  Anything else named like a
 * region is a leftover (the process was killed, or exec'd another
 * program) and is removed when we may.  Reading needs no permission but
 * the file's: mode 0600, so only root and the owner.
 *
 * Exit status: 0 success, 1 failure (no such process, no hakmem, no
 * statistics, permission), 2 usage error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/size_class.h"
#include "inspect.h"
#include "runtime/live.h"
#include "runtime/stats.h"

#define PROG "hakmemctl"

static void usage(FILE *f)
{
    fprintf(f, "Usage: %s stats PID [--json]\n"
               "       %s top [--once] [-d SECONDS] [-n COUNT]\n"
               "       %s profile PID [--timeout SECONDS]\n"
               "       %s check-config [--sysconfdir DIR]\n"
               "       %s explain [--sysconfdir DIR] [--unit UNIT] [--cgroup PATH] [--env] "
               "PROGRAM [OBJECT...]\n",
            PROG, PROG, PROG, PROG, PROG);
}

void inspect_usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s%s\n", PROG, msg, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
    fprintf(stderr, "Try '%s --help'.\n", PROG);
    exit(2);
}

static __attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", PROG);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int parse_pid(const char *s)
{
    if (s == NULL)
        inspect_usage_error("a process ID is needed", NULL);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno || v <= 0 || v > 0x3fffffff)
        inspect_usage_error("not a process ID:", s);
    return (int)v;
}

/* ---- /proc ---- */

static bool read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return false;
    buf[n] = 0;
    return true;
}

static uint64_t proc_start_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!read_small(path, buf, sizeof buf))
        return 0;
    char *s = strrchr(buf, ')');
    if (s == NULL)
        return 0;
    int field = 2;
    for (; *s; s++)
        if (*s == ' ' && ++field == 22)
            return strtoull(s + 1, NULL, 10);
    return 0;
}

static void proc_comm(int pid, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    if (!read_small(path, out, cap))
        snprintf(out, cap, "?");
    out[strcspn(out, "\n")] = 0;
}

static bool proc_exists(int pid) { return kill(pid, 0) == 0 || errno == EPERM; }

/* 1: maps mention `needle`, 0: they do not, -1: maps unreadable. */
static int proc_maps_has(int pid, const char *needle)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char line[4096];
    int found = 0, any = 0;
    while (!found && fgets(line, sizeof line, f)) {
        any = 1;
        found = strstr(line, needle) != NULL;
    }
    fclose(f);
    /* A process we may not inspect shows an empty maps file. */
    return found ? 1 : any ? 0 : -1;
}

/* ---- regions ---- */

typedef struct region {
    char path[HAK_LIVE_PATH_MAX + sizeof HAK_LIVE_DIR];
    hak_live_region *map;
    int pid;
    hak_live_payload payload;
} region;

/* "hakmem.<pid>.<16 hex>": the pid, or 0 if the name is not a region's. */
static int region_name_pid(const char *name)
{
    if (strncmp(name, HAK_LIVE_PREFIX, sizeof HAK_LIVE_PREFIX - 1) != 0)
        return 0;
    const char *p = name + sizeof HAK_LIVE_PREFIX - 1;
    char *end;
    long pid = strtol(p, &end, 10);
    if (end == p || *end != '.' || pid <= 0)
        return 0;
    if (strlen(end + 1) != 16 || strspn(end + 1, "0123456789abcdef") != 16)
        return 0;
    return (int)pid;
}

enum { R_OK_LIVE, R_LEFTOVER, R_DENIED, R_FOREIGN };

static bool leftover_removed(const char *path)
{
    return unlink(path) == 0;
}

/* Open and check one region file.  R_OK_LIVE: r->map is set. */
static int region_open(const char *path, int pid, bool writable, region *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->pid = pid;
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == EACCES || errno == EPERM ? R_DENIED : R_FOREIGN;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size < HAK_LIVE_SIZE) {
        close(fd);
        return R_FOREIGN;
    }
    void *m = mmap(NULL, HAK_LIVE_SIZE, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return R_FOREIGN;
    hak_live_region *h = m;
    bool ours = h->magic == HAK_LIVE_MAGIC && h->pid == pid && h->uid == st.st_uid;
    if (!ours) {
        munmap(m, HAK_LIVE_SIZE);
        return R_FOREIGN;
    }
    /* Whose is it: the running process, or a dead one's leftover? */
    bool live = proc_exists(pid) && h->start_ticks == proc_start_ticks(pid);
    if (live) {
        char path_dir[64];
        snprintf(path_dir, sizeof path_dir, "/proc/%d", pid);
        struct stat ps;
        /* The file's owner must be the process's (effective) owner. */
        if (stat(path_dir, &ps) == 0 && ps.st_uid != st.st_uid && ps.st_uid != 0)
            live = false;
    }
    if (live && proc_maps_has(pid, path) == 0)
        live = false; /* same process, but it exec'd: the mapping is gone */
    if (!live) {
        munmap(m, HAK_LIVE_SIZE);
        return R_LEFTOVER;
    }
    r->map = h;
    return R_OK_LIVE;
}

static bool region_load(region *r)
{
    for (int i = 0; i < 2000; i++) {
        if (hak_live_load(r->map, &r->payload))
            return true;
        if (i > 20) {
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
        }
    }
    return false;
}

/* The live region of pid, or exit with a one-line message. */
static void find_region(int pid, bool writable, region *out)
{
    DIR *d = opendir(HAK_LIVE_DIR);
    int denied = 0, removed = 0, stale = 0, found = 0;
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (region_name_pid(e->d_name) != pid)
                continue;
            char path[HAK_LIVE_PATH_MAX + sizeof HAK_LIVE_DIR];
            snprintf(path, sizeof path, "%s/%s", HAK_LIVE_DIR, e->d_name);
            region r;
            switch (region_open(path, pid, writable, &r)) {
            case R_OK_LIVE:
                if (!found || r.map->created_ms > out->map->created_ms) {
                    if (found)
                        munmap(out->map, HAK_LIVE_SIZE);
                    *out = r;
                    found = 1;
                } else {
                    munmap(r.map, HAK_LIVE_SIZE);
                }
                break;
            case R_LEFTOVER:
                stale++;
                removed += leftover_removed(path);
                break;
            case R_DENIED:
                denied++;
                break;
            default:
                break;
            }
        }
        closedir(d);
    }
    if (found) {
        if (hak_live_layout() != out->map->layout)
            fail("process %d runs another version of hakmem, whose statistics this hakmemctl "
                 "cannot read", pid);
        return;
    }
    char comm[64];
    proc_comm(pid, comm, sizeof comm);
    if (!proc_exists(pid)) {
        if (stale)
            fail("no process %d; %s its leftover statistics file", pid,
                 removed == stale ? "removed" : "could not remove");
        fail("no process %d", pid);
    }
    if (denied)
        fail("cannot %s the statistics of process %d (%s): permission denied (only root and "
             "its owner can)", writable ? "use" : "read", pid, comm);
    if (stale)
        fail("process %d (%s) has only a leftover statistics file from a program it ran before "
             "(%s) and publishes none now", pid, comm, removed == stale ? "removed" : "not removed");
    int maps = proc_maps_has(pid, "libhakmem");
    if (maps == 0)
        fail("process %d (%s) does not run hakmem", pid, comm);
    if (maps < 0)
        fail("no statistics for process %d (%s): it does not run hakmem, or it is not yours", pid,
             comm);
    fail("process %d (%s) runs hakmem but publishes no statistics yet (a process creates "
         "them once it has run live_stats_delay_ms, at its next allocation; none with "
         "live_stats = off, in setuid programs, or without a writable %s)",
         pid, comm, HAK_LIVE_DIR);
}

/* ---- stats ---- */

static void stdout_sink(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    fwrite(data, 1, len, stdout);
}

static double age_s(const hak_live_payload *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    double t = (double)p->updated_ms / 1000.0;
    return now > t ? now - t : 0;
}

static void print_json(const region *r, const char *comm)
{
    const hak_live_payload *p = &r->payload;
    const struct hak_stats *s = &p->stats;
    static const char *const tier_name[] = { "tiny", "mid", "large", "huge" };
    printf("{\n  \"pid\": %d,\n  \"command\": \"", r->pid);
    for (const char *c = comm; *c; c++)
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if ((unsigned char)*c >= 0x20)
            putchar(*c);
    printf("\",\n  \"updated_seconds_ago\": %.3f,\n  \"publications\": %llu,\n", age_s(p),
           (unsigned long long)p->publications);
    printf("  \"rss_bytes\": %llu,\n  \"peak_rss_bytes\": %llu,\n",
           (unsigned long long)p->rss_kib * 1024, (unsigned long long)s->peak_rss_kib * 1024);
    printf("  \"allocs\": %llu,\n  \"frees\": %llu,\n  \"bytes_in_use\": %llu,\n",
           (unsigned long long)s->allocs, (unsigned long long)s->frees,
           (unsigned long long)s->bytes_in_use);
    printf("  \"free_retained\": %llu,\n  \"bytes_mapped\": %llu,\n  \"bytes_purged\": %llu,\n",
           (unsigned long long)s->free_retained, (unsigned long long)s->bytes_mapped,
           (unsigned long long)s->bytes_purged);
    printf("  \"segments_mapped\": %llu,\n  \"segments_unmapped\": %llu,\n  \"threads\": %llu,\n",
           (unsigned long long)s->segments_mapped, (unsigned long long)s->segments_unmapped,
           (unsigned long long)s->threads);
    printf("  \"cache_hits\": %llu,\n  \"cache_misses\": %llu,\n  \"warm_hits\": %llu,\n"
           "  \"warm_misses\": %llu,\n  \"remote_frees\": %llu,\n",
           (unsigned long long)s->cache_hits, (unsigned long long)s->cache_misses,
           (unsigned long long)s->warm_hits, (unsigned long long)s->warm_misses,
           (unsigned long long)s->remote_frees);
    printf("  \"tiers\": {\n");
    for (unsigned t = 0; t < HAK_TIER_COUNT; t++)
        printf("    \"%s\": {\"allocs\": %llu, \"frees\": %llu, \"bytes_in_use\": %llu}%s\n",
               tier_name[t], (unsigned long long)s->tiers[t].allocs,
               (unsigned long long)s->tiers[t].frees, (unsigned long long)s->tiers[t].bytes_in_use,
               t + 1 < HAK_TIER_COUNT ? "," : "");
    printf("  },\n  \"classes\": [\n");
    bool first = true;
    for (unsigned c = 0; c < s->nclasses && c < HAK_STATS_CLASSES; c++) {
        const struct hak_class_stat *cs = &s->classes[c];
        if (cs->allocs == 0 && cs->frees == 0)
            continue;
        printf("%s    {\"tier\": \"%s\", \"size\": %u, \"allocs\": %llu, \"frees\": %llu, "
               "\"cache_hits\": %llu, \"cache_misses\": %llu, \"warm_hits\": %llu, "
               "\"warm_misses\": %llu, \"prefills\": %llu, \"refills\": %llu, "
               "\"remote_frees\": %llu}",
               first ? "" : ",\n", hak_class_is_tiny(c) ? "tiny" : "mid", cs->block_size,
               (unsigned long long)cs->allocs, (unsigned long long)cs->frees,
               (unsigned long long)cs->cache_hits, (unsigned long long)cs->cache_misses,
               (unsigned long long)cs->warm_hits, (unsigned long long)cs->warm_misses,
               (unsigned long long)cs->prefills, (unsigned long long)cs->refills,
               (unsigned long long)cs->remote_frees);
        first = false;
    }
    printf("\n  ],\n  \"heap_profile\": {\"sample\": %llu, \"live_samples\": %llu, "
           "\"live_bytes_estimate\": %llu, \"profiles_written\": %llu},\n",
           (unsigned long long)p->prof_sample, (unsigned long long)p->prof_live_samples,
           (unsigned long long)p->prof_live_bytes, (unsigned long long)p->prof_dumps);
    printf("  \"configuration\": {\n");
    static const char *const source_name[] = { "default", "file", "env", "api" };
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        const hak_option_def *d = &hak_option_defs[i];
        int64_t v = p->opt_values[i];
        printf("    \"%s\": {\"value\": ", d->name);
        if (d->type == HAK_OPT_STRING || d->type == HAK_OPT_ENUM) {
            char text[HAK_OPTION_TEXT_MAX];
            text[0] = 0;
            if (d->type == HAK_OPT_STRING && v > 0 && v < HAK_OPTION_TEXT_MAX)
                snprintf(text, sizeof text, "%s", p->opt_text + v);
            else if (d->type == HAK_OPT_ENUM) {
                const char *c = d->choices;
                for (int64_t k = 0; k < v && c; k++)
                    c = (c = strchr(c, '|')) ? c + 1 : NULL;
                if (c)
                    snprintf(text, sizeof text, "%.*s", (int)strcspn(c, "|"), c);
            }
            putchar('"');
            for (const char *c = text; *c; c++)
                if (*c == '"' || *c == '\\')
                    printf("\\%c", *c);
                else if ((unsigned char)*c >= 0x20)
                    putchar(*c);
            putchar('"');
        } else if (d->type == HAK_OPT_BOOL) {
            printf("%s", v ? "true" : "false");
        } else {
            printf("%lld", (long long)v);
        }
        printf(", \"source\": \"%s\"}%s\n", source_name[p->opt_sources[i] & 3],
               i + 1 < HAK_OPT_COUNT ? "," : "");
    }
    printf("  }\n}\n");
}

static void size_text(char *out, size_t cap, uint64_t bytes)
{
    char mem[32];
    hak_buf b = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
    hak_buf_size(&b, bytes);
    mem[b.len] = 0;
    snprintf(out, cap, "%s", mem);
}

static int cmd_stats(int argc, char **argv)
{
    int pid = 0;
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (argv[i][0] == '-')
            inspect_usage_error("unknown option", argv[i]);
        else if (pid)
            inspect_usage_error("one process ID at a time", NULL);
        else
            pid = parse_pid(argv[i]);
    }
    if (!pid)
        inspect_usage_error("stats needs a process ID", NULL);
    region r;
    find_region(pid, false, &r);
    if (!region_load(&r))
        fail("the statistics of process %d kept changing while being read; try again", pid);
    char comm[64];
    proc_comm(pid, comm, sizeof comm);
    if (json) {
        print_json(&r, comm);
        return 0;
    }
    const hak_live_payload *p = &r.payload;
    char mem[4096];
    hak_buf b = { .data = mem, .cap = sizeof mem, .fd = -1, .sink = stdout_sink };
    hak_stats_format(&b, &p->stats, (uint64_t)pid, p->opt_values, p->opt_sources, p->opt_text);
    hak_buf_flush(&b);
    char rss[32], est[32];
    size_text(rss, sizeof rss, p->rss_kib * 1024);
    printf("live: %s, RSS %s, published %.1f s ago (%llu publications)\n", comm, rss, age_s(p),
           (unsigned long long)p->publications);
    if (p->prof_sample) {
        size_text(est, sizeof est, p->prof_live_bytes);
        printf("heap profiler: one sample per %llu bytes, %llu sampled blocks live (about %s), "
               "%llu profiles written\n",
               (unsigned long long)p->prof_sample, (unsigned long long)p->prof_live_samples, est,
               (unsigned long long)p->prof_dumps);
    }
    return 0;
}

/* ---- profile ---- */

static int cmd_profile(int argc, char **argv)
{
    int pid = 0;
    double timeout = 10;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            timeout = strtod(argv[++i], &end);
            if (*end || timeout <= 0)
                inspect_usage_error("--timeout needs a number of seconds, not", argv[i]);
        } else if (argv[i][0] == '-') {
            inspect_usage_error("unknown option", argv[i]);
        } else if (pid) {
            inspect_usage_error("one process ID at a time", NULL);
        } else {
            pid = parse_pid(argv[i]);
        }
    }
    if (!pid)
        inspect_usage_error("profile needs a process ID", NULL);
    region r;
    find_region(pid, true, &r);
    if (!region_load(&r))
        fail("the statistics of process %d kept changing while being read; try again", pid);
    if (r.payload.prof_sample == 0)
        fail("process %d does not run the heap profiler (start it with "
             "HAKMEM_HEAP_PROFILE_SAMPLE=BYTES or heap_profile_sample in hakmem.conf)", pid);
    hak_live_region *h = r.map;
    /* acq_rel: our request is ordered after the answers we have seen. */
    uint32_t want = atomic_fetch_add_explicit(&h->profile_requests, 1, memory_order_acq_rel) + 1;
    struct timespec step = { 0, 10000000 };
    for (double waited = 0; waited < timeout; waited += 0.01) {
        /* acquire: pairs with the process's release store of its answer. */
        uint32_t got = atomic_load_explicit(&h->profile_answered, memory_order_acquire);
        if ((int32_t)(got - want) >= 0) {
            char path[HAK_LIVE_PATH_MAX];
            memcpy(path, h->profile_path, sizeof path);
            path[sizeof path - 1] = 0;
            if (h->profile_error != 0)
                fail("process %d could not write its heap profile %s: %s", pid,
                     path[0] ? path : "(no file name)", strerror(h->profile_error));
            printf("%s\n", path);
            return 0;
        }
        if (!proc_exists(pid))
            fail("process %d exited before writing its heap profile", pid);
        nanosleep(&step, NULL);
    }
    fail("process %d did not answer within %g s (it writes the profile at its next "
         "allocation; the request stays pending)", pid, timeout);
}

/* ---- top ---- */

typedef struct top_row {
    int pid;
    uint32_t uid;
    char comm[32];
    hak_live_payload p;
} top_row;

static int top_cmp(const void *a, const void *b)
{
    const top_row *x = a, *y = b;
    uint64_t hx = x->p.stats.bytes_in_use + x->p.stats.free_retained;
    uint64_t hy = y->p.stats.bytes_in_use + y->p.stats.free_retained;
    if (hx != hy)
        return hx < hy ? 1 : -1;
    if (x->p.rss_kib != y->p.rss_kib)
        return x->p.rss_kib < y->p.rss_kib ? 1 : -1;
    return x->pid - y->pid;
}

static size_t top_collect(top_row **rows, size_t *cap, unsigned *denied, unsigned *removed)
{
    size_t n = 0;
    *denied = *removed = 0;
    DIR *d = opendir(HAK_LIVE_DIR);
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int pid = region_name_pid(e->d_name);
        if (pid == 0)
            continue;
        char path[HAK_LIVE_PATH_MAX + sizeof HAK_LIVE_DIR];
        snprintf(path, sizeof path, "%s/%s", HAK_LIVE_DIR, e->d_name);
        region r;
        int st = region_open(path, pid, false, &r);
        if (st == R_LEFTOVER) {
            *removed += leftover_removed(path);
            continue;
        }
        if (st == R_DENIED)
            (*denied)++;
        if (st != R_OK_LIVE)
            continue;
        if (r.map->layout == hak_live_layout() && region_load(&r)) {
            if (n == *cap) {
                *cap = *cap ? *cap * 2 : 64;
                top_row *t = realloc(*rows, *cap * sizeof **rows);
                if (t == NULL)
                    fail("out of memory");
                *rows = t;
            }
            top_row *row = &(*rows)[n++];
            row->pid = pid;
            row->uid = r.map->uid;
            proc_comm(pid, row->comm, sizeof row->comm);
            row->p = r.payload;
        }
        munmap(r.map, HAK_LIVE_SIZE);
    }
    closedir(d);
    qsort(*rows, n, sizeof **rows, top_cmp);
    return n;
}

static int cmd_top(int argc, char **argv)
{
    bool once = false;
    double delay = 2;
    long count = -1;
    for (int i = 0; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--once") == 0 || strcmp(argv[i], "-b") == 0) {
            once = true;
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            delay = strtod(argv[++i], &end);
            if (*end || delay < 0.1)
                inspect_usage_error("-d needs seconds (0.1 or more), not", argv[i]);
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            count = strtol(argv[++i], &end, 10);
            if (*end || count < 1)
                inspect_usage_error("-n needs a positive count, not", argv[i]);
        } else {
            inspect_usage_error("unknown argument", argv[i]);
        }
    }
    if (once)
        count = 1;
    top_row *rows = NULL, *prev = NULL;
    size_t cap = 0, prev_n = 0, prev_cap = 0;
    double prev_t = 0;
    for (long iter = 0; count < 0 || iter < count; iter++) {
        unsigned denied, removed;
        size_t n = top_collect(&rows, &cap, &denied, &removed);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        uint64_t live = 0, retained = 0, rss = 0;
        for (size_t i = 0; i < n; i++) {
            live += rows[i].p.stats.bytes_in_use;
            retained += rows[i].p.stats.free_retained;
            rss += rows[i].p.rss_kib * 1024;
        }
        char a[32], b[32], c[32];
        size_text(a, sizeof a, live);
        size_text(b, sizeof b, retained);
        size_text(c, sizeof c, rss);
        if (!once)
            fputs("\033[H\033[2J", stdout);
        printf("hakmem top: %zu processes; live %s, retained %s, RSS %s", n, a, b, c);
        if (denied)
            printf("; %u not readable (not yours)", denied);
        if (removed)
            printf("; %u leftover files removed", removed);
        printf("\n%7s %-8s %-15s %9s %9s %9s %9s %7s %11s %7s\n", "PID", "USER", "COMMAND", "LIVE",
               "RETAINED", "MAPPED", "RSS", "THREADS", "ALLOCS/s", "AGE");
        for (size_t i = 0; i < n; i++) {
            const top_row *row = &rows[i];
            const struct hak_stats *s = &row->p.stats;
            char user[16];
            struct passwd *pw = getpwuid(row->uid);
            snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "?");
            if (!pw)
                snprintf(user, sizeof user, "%u", row->uid);
            char l[32], r2[32], m[32], s2[32], rate[32];
            size_text(l, sizeof l, s->bytes_in_use);
            size_text(r2, sizeof r2, s->free_retained);
            size_text(m, sizeof m, s->bytes_mapped);
            size_text(s2, sizeof s2, row->p.rss_kib * 1024);
            snprintf(rate, sizeof rate, "-");
            for (size_t k = 0; k < prev_n; k++) {
                if (prev[k].pid == row->pid && t > prev_t && s->allocs >= prev[k].p.stats.allocs) {
                    snprintf(rate, sizeof rate, "%.0f",
                             (double)(s->allocs - prev[k].p.stats.allocs) / (t - prev_t));
                    break;
                }
            }
            printf("%7d %-8.8s %-15.15s %9s %9s %9s %9s %7llu %11s %6.1fs\n", row->pid, user,
                   row->comm, l, r2, m, s2, (unsigned long long)s->threads, rate, age_s(&row->p));
        }
        fflush(stdout);
        if (count >= 0 && iter + 1 >= count)
            break;
        if (prev_cap < n) {
            top_row *tmp = realloc(prev, n * sizeof *prev);
            if (tmp == NULL)
                fail("out of memory");
            prev = tmp;
            prev_cap = n;
        }
        if (n)
            memcpy(prev, rows, n * sizeof *rows);
        prev_n = n;
        prev_t = t;
        struct timespec sl = { (time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9) };
        nanosleep(&sl, NULL);
    }
    free(rows);
    free(prev);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "stats") == 0)
        return cmd_stats(argc - 2, argv + 2);
    if (strcmp(argv[1], "top") == 0)
        return cmd_top(argc - 2, argv + 2);
    if (strcmp(argv[1], "profile") == 0)
        return cmd_profile(argc - 2, argv + 2);
    if (strcmp(argv[1], "check-config") == 0)
        return inspect_check_config(argc - 2, argv + 2);
    if (strcmp(argv[1], "explain") == 0)
        return inspect_explain(argc - 2, argv + 2);
    inspect_usage_error("unknown command", argv[1]);
}
