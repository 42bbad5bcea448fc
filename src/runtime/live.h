/*
 * live.h - live statistics: each process publishes its statistics table
 * and effective configuration in a small file of its own in /dev/shm,
 * which `hakmemctl stats PID` and `hakmemctl top` map and read while the
 * process runs, without stopping it and without its cooperation at read
 * time.  docs/live-stats.md explains the choices.
 *
 * The file: /dev/shm/hakmem.<pid>.<16 random hex digits>, mode 0600, made
 * with O_CREAT|O_EXCL|O_NOFOLLOW (an unpredictable name nobody can plant in
 * advance), mapped shared, its descriptor closed at once.  It is created
 * lazily: at the first safe point after the process has run
 * live_stats_delay_ms (short-lived programs, most of a system-wide
 * preload's processes, never create one), never in AT_SECURE processes
 * or programs that keep the C library's allocator, and silently not at all
 * where /dev/shm is missing, read-only or forbidden (seccomp).  It is
 * removed at exit; a reader removes the leftover of a process that was
 * killed or exec'd another program.
 *
 * Publishing is a seqlock: the writer makes seq odd, copies the payload,
 * makes seq even again; a reader copies the payload and keeps it only if
 * seq was even and unchanged around the copy (a torn read is detected and
 * retried, never prevented: the writer never waits).  Publications are
 * rate-limited (HAK_LIVE_PERIOD_MS) and made from the allocator's existing
 * safe points and its background thread; nothing is added to the inline
 * fast paths.  A fork child unmaps its parent's region before anything
 * else and makes its own later.
 */
#ifndef HAK_LIVE_H
#define HAK_LIVE_H

#include "config/options.h"
#include "hakmem.h"
#include "internal.h"

#define HAK_LIVE_DIR      "/dev/shm"
#define HAK_LIVE_PREFIX   "hakmem."
#define HAK_LIVE_MAGIC    0x31564c4d4b4148ull /* "HAKMLV1" */
#define HAK_LIVE_SIZE     ((size_t)20480)
#define HAK_LIVE_PERIOD_MS 500u
#define HAK_LIVE_PATH_MAX 256

/* What one publication carries. */
typedef struct hak_live_payload {
    uint64_t updated_ms;   /* CLOCK_REALTIME, milliseconds */
    uint64_t publications; /* how many so far */
    uint64_t rss_kib;      /* current resident set */
    struct hak_stats stats;
    /* Heap profiler (runtime/prof.h): sampling rate (0: off), sampled
     * blocks live and their estimated bytes, profiles written. */
    uint64_t prof_sample, prof_live_samples, prof_live_bytes, prof_dumps;
    int64_t opt_values[HAK_OPT_COUNT];
    uint8_t opt_sources[HAK_OPT_COUNT];
    char opt_text[HAK_OPTION_TEXT_MAX];
} hak_live_payload;

typedef struct hak_live_region {
    uint64_t magic;
    uint64_t layout;      /* hak_live_layout() of the writer */
    int32_t pid;
    uint32_t uid;         /* effective uid of the writer */
    uint64_t start_ticks; /* field 22 of /proc/PID/stat: a reused PID differs */
    uint64_t created_ms;  /* CLOCK_REALTIME */
    char comm[32];        /* /proc/self/comm at creation */
    /* Heap profile requests (hakmemctl profile): the reader increments
     * requests; the process writes a profile at its next safe point and
     * sets answered to the request it served, with the file written or
     * the errno that stopped it. */
    _Atomic uint32_t profile_requests;
    _Atomic uint32_t profile_answered;
    int32_t profile_error;
    char profile_path[HAK_LIVE_PATH_MAX];
    /* odd while a publication is being written */
    _Atomic uint64_t seq;
    hak_live_payload payload;
} hak_live_region;

_Static_assert(sizeof(hak_live_region) <= HAK_LIVE_SIZE, "live region too large");

/* A signature of the region's layout and of the option table, equal in a
 * writer and a reader built from the same sources. */
uint64_t hak_live_layout(void);

/* Writer side: copy p into r under the seqlock. */
void hak_live_store(hak_live_region *r, const hak_live_payload *p);
/* Reader side, one attempt: true with a consistent copy in *out, false if
 * a publication was under way (retry). */
bool hak_live_load(const hak_live_region *r, hak_live_payload *out);

/* At a safe point: create the region when due, publish when due, serve a
 * profile request.  Cheap when nothing is due (one clock read).  Once the
 * region exists it also asks for the background thread, which keeps the
 * numbers fresh while a program allocates only from its caches (no safe
 * points) and leaves once they stop moving. */
void hak_live_tick(void);
/* From the background thread: hak_live_tick, then whether the last
 * publication saw the allocation counts move (the thread stays). */
bool hak_live_refresh(void);
/* Create the region now if this process may have one, and publish;
 * true if the region exists. */
bool hak_live_publish_now(void);
/* The region's path, or "" when there is none. */
const char *hak_live_path(void);
/* Init: remember the start time.  Exit: remove the file.  Fork child:
 * drop the parent's region. */
void hak_live_init(void);
void hak_live_at_exit(void);
void hak_live_fork_child(void);

#endif
