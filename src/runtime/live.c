/*
 * live.c - the live statistics region (see live.h and docs/live-stats.md).
 *
 * State: live_state elects the one thread that creates the region
 * (NONE -> CREATING -> READY, or OFF for good: not allowed here, or the
 * file could not be made).  live_next_ms elects the one safe point that
 * publishes in each period; live_write_lock keeps the region to one
 * writer even when the background thread or hak_live_publish_now publish
 * at the same moment.
 */
#define _GNU_SOURCE
#include "runtime/live.h"

#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "base/diag.h"
#include "config/forward.h"
#include "os/lock.h"
#include "os/os.h"
#include "runtime/background.h"
#include "runtime/prof.h"

enum { LIVE_NONE, LIVE_CREATING, LIVE_READY, LIVE_OFF };

static _Atomic int live_state;
static hak_live_region *live_region;
static char live_path[HAK_LIVE_PATH_MAX];
static uint64_t live_start_ms;
/* Monotonic time of the next publication; 0 = now. */
static _Atomic uint64_t live_next_ms;
static uint64_t live_publications;
/* One writer at a time: a safe point that won the period, the background
 * thread, hak_live_publish_now.  Taken only by them, never on an
 * allocation path's way to memory. */
static hak_lock live_write_lock;
/* Allocations + frees at the last publication, and whether they moved. */
static uint64_t live_last_ops;
static _Atomic bool live_moving;

uint64_t hak_live_layout(void)
{
    /* FNV-1a over the sizes and the option table's names and types. */
    uint64_t h = 0xcbf29ce484222325ull;
    uint64_t parts[] = { sizeof(hak_live_region), sizeof(struct hak_stats), HAK_STATS_CLASSES,
                         HAK_OPT_COUNT, HAK_OPTION_TEXT_MAX };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        for (unsigned k = 0; k < 8; k++)
            h = (h ^ ((parts[i] >> (8 * k)) & 0xff)) * 0x100000001b3ull;
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        for (const char *c = hak_option_defs[i].name; *c; c++)
            h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
        h = (h ^ (uint8_t)hak_option_defs[i].type) * 0x100000001b3ull;
    }
    return h;
}

void hak_live_store(hak_live_region *r, const hak_live_payload *p)
{
    /* relaxed: one writer at a time (live_write_lock in a process). */
    uint64_t s = atomic_load_explicit(&r->seq, memory_order_relaxed);
    atomic_store_explicit(&r->seq, s + 1, memory_order_relaxed);
    /* release fence: a reader that sees any byte of the new payload also
     * sees the odd seq (it reads seq again after its copy). */
    atomic_thread_fence(memory_order_release);
    memcpy(&r->payload, p, sizeof *p);
    /* release: the payload is complete before seq is even again. */
    atomic_store_explicit(&r->seq, s + 2, memory_order_release);
}

bool hak_live_load(const hak_live_region *r, hak_live_payload *out)
{
    /* acquire: pairs with the writer's final release store. */
    uint64_t s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
    if (s1 & 1)
        return false;
    memcpy(out, (const void *)&r->payload, sizeof *out);
    /* acquire fence: the copy is ordered before the second seq load, so a
     * writer that started meanwhile is seen (pairs with its release fence). */
    atomic_thread_fence(memory_order_acquire);
    uint64_t s2 = atomic_load_explicit(&r->seq, memory_order_relaxed);
    return s1 == s2;
}

static uint64_t live_realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Field 22 (starttime) of /proc/self/stat; 0 if unreadable. */
static uint64_t live_start_ticks(void)
{
    char buf[1024];
    bool truncated;
    ssize_t n = hak_os_read_file("/proc/self/stat", buf, sizeof buf - 1, &truncated);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *s = buf;
    for (char *q = buf; *q; q++)
        if (*q == ')')
            s = q;
    int field = 2;
    for (; *s; s++) {
        if (*s == ' ' && ++field == 22) {
            uint64_t v = 0;
            for (s++; *s >= '0' && *s <= '9'; s++)
                v = v * 10 + (uint64_t)(*s - '0');
            return v;
        }
    }
    return 0;
}

/* May this process have a region at all? */
static bool live_allowed(void)
{
    return hak_opt(HAK_OPT_LIVE_STATS) && !hak_forward && !getauxval(AT_SECURE);
}

static bool live_create(void)
{
    int expected = LIVE_NONE;
    /* acq_rel: the winner's creation is published by the READY store. */
    if (!atomic_compare_exchange_strong_explicit(&live_state, &expected, LIVE_CREATING,
                                                 memory_order_acq_rel, memory_order_acquire))
        return expected == LIVE_READY;
    if (!live_allowed()) {
        atomic_store_explicit(&live_state, LIVE_OFF, memory_order_release);
        return false;
    }
    uint64_t token;
    hak_os_random(&token, sizeof token);
    /* One byte kept for the NUL; HAK_LIVE_PATH_MAX holds the longest name. */
    hak_buf name = { .data = live_path, .cap = sizeof live_path - 1, .fd = -1 };
    hak_buf_str(&name, HAK_LIVE_DIR "/" HAK_LIVE_PREFIX);
    hak_buf_u64(&name, (uint64_t)getpid());
    hak_buf_char(&name, '.');
    hak_buf_hex_digits(&name, token, 16);
    live_path[name.len] = 0;
    hak_live_region *r = hak_os_shared_create(live_path, HAK_LIVE_SIZE);
    if (r == NULL) {
        live_path[0] = 0;
        /* No /dev/shm, read-only, full, or forbidden: run on without. */
        atomic_store_explicit(&live_state, LIVE_OFF, memory_order_release);
        return false;
    }
    r->layout = hak_live_layout();
    r->pid = (int32_t)getpid();
    r->uid = (uint32_t)geteuid();
    r->start_ticks = live_start_ticks();
    r->created_ms = live_realtime_ms();
    char comm[32];
    bool truncated;
    ssize_t n = hak_os_read_file("/proc/self/comm", comm, sizeof comm - 1, &truncated);
    if (n > 0) {
        while (n > 0 && comm[n - 1] == '\n')
            n--;
        memcpy(r->comm, comm, (size_t)n);
    }
    /* release: readers check the magic last; everything above is set. */
    atomic_store_explicit((_Atomic uint64_t *)&r->magic, HAK_LIVE_MAGIC, memory_order_release);
    live_region = r;
    atomic_store_explicit(&live_state, LIVE_READY, memory_order_release);
    return true;
}

static void live_publish(hak_live_region *r)
{
    static hak_live_payload payload; /* one writer at a time (live_write_lock) */
    hak_live_payload *p = &payload;
    p->updated_ms = live_realtime_ms();
    p->publications = ++live_publications;
    p->rss_kib = hak_os_current_rss_kib();
    hak_stats_get(&p->stats);
    uint64_t ops = p->stats.allocs + p->stats.frees;
    /* relaxed: a hint for the background thread. */
    atomic_store_explicit(&live_moving, ops != live_last_ops, memory_order_relaxed);
    live_last_ops = ops;
    hak_prof_summary(&p->prof_sample, &p->prof_live_samples, &p->prof_live_bytes,
                     &p->prof_dumps);
    memcpy(p->opt_values, hak_option_values, sizeof p->opt_values);
    memcpy(p->opt_sources, hak_option_sources, sizeof p->opt_sources);
    memcpy(p->opt_text, hak_option_text, sizeof p->opt_text);
    hak_live_store(r, p);
}

/* A profile asked for by hakmemctl profile: write it, then answer. */
static void live_serve_profile(hak_live_region *r)
{
    /* acquire: pairs with the reader's increment (it wrote nothing else). */
    uint32_t want = atomic_load_explicit(&r->profile_requests, memory_order_acquire);
    if (want == atomic_load_explicit(&r->profile_answered, memory_order_relaxed))
        return;
    char path[HAK_LIVE_PATH_MAX];
    int err = hak_prof_dump(path, sizeof path);
    memcpy(r->profile_path, path, sizeof path);
    r->profile_error = err;
    /* release: path and error are visible before the answer. */
    atomic_store_explicit(&r->profile_answered, want, memory_order_release);
}

static void live_due_locked(uint64_t now, bool force)
{
    /* acquire: pairs with live_create's READY store. */
    int state = atomic_load_explicit(&live_state, memory_order_acquire);
    if (state == LIVE_OFF || state == LIVE_CREATING)
        return;
    if (state == LIVE_NONE) {
        if (!force && now - live_start_ms < (uint64_t)hak_opt(HAK_OPT_LIVE_STATS_DELAY_MS) &&
            !hak_prof_active())
            return;
        if (!live_create())
            return;
    }
    hak_live_region *r = live_region;
    live_publish(r);
    live_serve_profile(r);
    hak_background_request();
}

static void live_due(uint64_t now, bool force)
{
    hak_lock_acquire(&live_write_lock);
    live_due_locked(now, force);
    hak_lock_release(&live_write_lock);
}

void hak_live_tick(void)
{
    uint64_t now = hak_os_now_ms();
    /* relaxed: an election; the CAS below decides. */
    uint64_t next = atomic_load_explicit(&live_next_ms, memory_order_relaxed);
    if (now < next)
        return;
    if (!atomic_compare_exchange_strong_explicit(&live_next_ms, &next, now + HAK_LIVE_PERIOD_MS,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    live_due(now, false);
}

bool hak_live_refresh(void)
{
    hak_live_tick();
    /* relaxed: see live_publish. */
    return atomic_load_explicit(&live_moving, memory_order_relaxed);
}

bool hak_live_publish_now(void)
{
    /* Take the period so no safe point publishes at the same time. */
    uint64_t now = hak_os_now_ms();
    atomic_store_explicit(&live_next_ms, now + HAK_LIVE_PERIOD_MS, memory_order_relaxed);
    live_due(now, true);
    return atomic_load_explicit(&live_state, memory_order_acquire) == LIVE_READY;
}

const char *hak_live_path(void)
{
    return atomic_load_explicit(&live_state, memory_order_acquire) == LIVE_READY ? live_path : "";
}

void hak_live_init(void) { live_start_ms = hak_os_now_ms(); }

void hak_live_at_exit(void)
{
    int expected = LIVE_READY;
    /* acq_rel: whoever moves READY -> OFF removes the file, once. */
    if (atomic_compare_exchange_strong_explicit(&live_state, &expected, LIVE_OFF,
                                                memory_order_acq_rel, memory_order_relaxed))
        hak_os_unlink(live_path);
}

void hak_live_fork_child(void)
{
    /* The mapping is shared with the parent: never write to it here. */
    if (atomic_load_explicit(&live_state, memory_order_relaxed) == LIVE_READY)
        hak_os_unmap(live_region, HAK_LIVE_SIZE);
    live_region = NULL;
    live_path[0] = 0;
    live_publications = 0;
    live_last_ops = 0;
    hak_lock_reset(&live_write_lock);
    live_start_ms = hak_os_now_ms();
    /* relaxed: single-threaded child. */
    atomic_store_explicit(&live_next_ms, 0, memory_order_relaxed);
    atomic_store_explicit(&live_state, LIVE_NONE, memory_order_relaxed);
}
