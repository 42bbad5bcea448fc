/*
 * prof.c - the heap profiler's sampler, stack walk, tables and profile
 * writer (see prof.h and docs/heap-profiler.md).
 *
 * Sampling: intervals are exponential with mean R bytes (a Poisson
 * process over allocated bytes).  Beyond the Mid tier a thread counts
 * bytes down to the next sample; a Tiny/Mid class of block size s counts
 * allocations down instead: 1 + floor(X/s) with X exponential is the
 * geometric number of blocks until the first sampled one, the same law
 * as counting bytes (prof_heap.c keeps those counters).  A sampled block
 * of s bytes stands for 1/(1 - exp(-s/R)) blocks in the estimates.
 * Sizes are block sizes: what the allocator actually holds.  The
 * logarithm and exponential are computed here (no libm).
 *
 * Stacks: frame pointers, walked from our own frame.  Every function
 * between a program's call and the walk keeps its frame pointer
 * (HAK_FRAME), so the allocating function itself is always found; above
 * it the walk goes as far as the program's frames keep frame pointers.
 * Each frame is checked before it is read: aligned, strictly above the
 * last one, on a page the kernel says is readable (hak_os_readable, once
 * per page).  No libgcc unwinder: it would add a library, may allocate
 * on first use and takes locks a thread inside the unwinder can hold
 * while it calls malloc.  Frames inside libhakmem itself are dropped.
 *
 * Tables, under prof_lock (taken per sampled allocation, per free of a
 * sampled block, and by a profile's copy; never while walking a stack or
 * writing a file): the live samples by address (open addressing, backward
 * shift deletion) and the distinct stacks with their estimated totals.
 * A free asks the filter first (prof.h): one byte per hash bucket of
 * pages, counting the live samples on the pages that hash there (written
 * under the lock, read without it: the free of a sampled block happens
 * after its allocation, which stored the count), so the frees of
 * unsampled blocks take no lock.  By page, not by address: frees near
 * each other read the same bytes, and a sample makes only its page's
 * neighbours take the lock (about 1 free in 128 at one sample per 512 KiB
 * of 4 KiB pages).  All memory comes from mappings of our own.
 */
#define _GNU_SOURCE
#include "runtime/prof.h"

#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "base/diag.h"
#include "config/forward.h"
#include "config/options.h"
#include "os/lock.h"
#include "os/os.h"
#include "runtime/prof_math.h"

HAK_HIDDEN bool hak_prof_on;

#define PROF_DEPTH        48
#define PROF_STACKS_MAX   65536u
#define PROF_INDEX_BITS   17
#define PROF_MAPS_MAX     ((size_t)16 << 20)

typedef struct prof_stack {
    uint64_t hash;
    uint32_t depth;
    uint32_t pad;
    double live_count, live_bytes, alloc_count, alloc_bytes;
    uintptr_t pc[PROF_DEPTH];
} prof_stack;

typedef struct prof_sample {
    uintptr_t ptr; /* 0: empty slot */
    uint32_t stack;
    uint32_t pad;
    uint64_t size;
    double weight;
} prof_sample;

static hak_lock prof_lock;
static double prof_rate;
HAK_HIDDEN _Atomic uint8_t *hak_prof_filter;
static prof_sample *prof_samples;
static size_t prof_samples_cap, prof_samples_count;
static prof_stack *prof_stacks;
static uint32_t *prof_index; /* stack id + 1, 0 empty */
static uint32_t prof_stacks_used;
static double prof_live_bytes, prof_live_count;
static uint64_t prof_dropped;
static uint64_t prof_rng_global;
static int64_t prof_big_left_global;
static _Atomic uint64_t prof_dumps;
static uint32_t prof_seq;
static double prof_last_dump_bytes;
/* A growth check is writing a profile (hak_prof_background): the program's
 * threads and the background thread all come there, and two that saw the
 * same growth would write two profiles for one step. */
static _Atomic bool prof_growth_busy;
/* [prof_self_lo, prof_self_hi): our own image, whose frames are dropped. */
static uintptr_t prof_self_lo, prof_self_hi;

extern const char __ehdr_start[] HAK_HIDDEN;
extern char _end[] HAK_HIDDEN;

/* ---- random draws ---- */

uint64_t hak_prof_rand(uint64_t *state)
{
    /* xorshift64*: fast, and far better than the sampler needs. */
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

double hak_prof_draw_bytes(uint64_t *state, double mean)
{
    /* u uniform in (0, 1]; -ln(u) is exponential with mean 1. */
    double u = (double)((hak_prof_rand(state) >> 11) + 1) * (1.0 / 9007199254740992.0);
    return -hak_prof_ln(u) * mean;
}

uint64_t hak_prof_draw_blocks(uint64_t *state, double mean, uint32_t size)
{
    double k = hak_prof_draw_bytes(state, mean) / size;
    return k >= 4e18 ? (uint64_t)4e18 : 1 + (uint64_t)k;
}

double hak_prof_rate(void) { return prof_rate; }

double hak_prof_weight(double size, double mean)
{
    return 1.0 / hak_prof_one_minus_exp_neg(size / mean);
}

/* ---- stack walk ---- */

/* Return addresses of the calling program, innermost first. */
static hak_noinline unsigned prof_backtrace(uintptr_t *out, unsigned max)
{
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t ok_pages[4] = { fp & ~(uintptr_t)(HAK_PAGE_SIZE - 1) };
    unsigned ok_count = 1, n = 0;
    bool ours = true;
    for (unsigned steps = 0; steps < 256 && n < max; steps++) {
        if (fp & 7)
            break;
        for (uintptr_t a = fp; a <= fp + 8; a += 8) {
            uintptr_t page = a & ~(uintptr_t)(HAK_PAGE_SIZE - 1);
            bool known = false;
            for (unsigned i = 0; i < ok_count && !known; i++)
                known = ok_pages[i] == page;
            if (!known) {
                if (!hak_os_readable((const void *)a))
                    return n;
                ok_pages[ok_count++ & 3] = page;
                if (ok_count > 4)
                    ok_count = 4;
            }
        }
        uintptr_t next = ((const uintptr_t *)fp)[0];
        uintptr_t ra = ((const uintptr_t *)fp)[1];
        if (ra < HAK_PAGE_SIZE)
            break;
        if (ours && !(ra >= prof_self_lo && ra < prof_self_hi))
            ours = false;
        if (!ours)
            out[n++] = ra;
        if (next <= fp || next - fp > ((uintptr_t)64 << 20))
            break;
        fp = next;
    }
    return n;
}

/* ---- tables (prof_lock held) ---- */

static uint64_t prof_hash_ptr(uintptr_t p)
{
    return (uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ull;
}

static bool prof_samples_grow(void)
{
    size_t cap = prof_samples_cap ? prof_samples_cap * 2 : 4096;
    prof_sample *t = hak_os_map(cap * sizeof *t);
    if (t == NULL)
        return false;
    for (size_t i = 0; i < prof_samples_cap; i++) {
        const prof_sample *s = &prof_samples[i];
        if (s->ptr == 0)
            continue;
        size_t j = (size_t)(prof_hash_ptr(s->ptr) & (cap - 1));
        while (t[j].ptr != 0)
            j = (j + 1) & (cap - 1);
        t[j] = *s;
    }
    if (prof_samples)
        hak_os_unmap(prof_samples, prof_samples_cap * sizeof *prof_samples);
    prof_samples = t;
    prof_samples_cap = cap;
    return true;
}

static prof_sample *prof_sample_find(uintptr_t p)
{
    if (prof_samples_cap == 0)
        return NULL;
    size_t mask = prof_samples_cap - 1;
    for (size_t j = (size_t)(prof_hash_ptr(p) & mask);; j = (j + 1) & mask) {
        if (prof_samples[j].ptr == p)
            return &prof_samples[j];
        if (prof_samples[j].ptr == 0)
            return NULL;
    }
}

/* Remove slot s, moving later members of its probe run back. */
static void prof_sample_remove(prof_sample *s)
{
    size_t mask = prof_samples_cap - 1;
    size_t i = (size_t)(s - prof_samples);
    size_t j = i;
    for (;;) {
        prof_samples[i].ptr = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (prof_samples[j].ptr == 0) {
                prof_samples_count--;
                return;
            }
            size_t home = (size_t)(prof_hash_ptr(prof_samples[j].ptr) & mask);
            /* j may move to i if its home is not in (i, j] cyclically. */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        prof_samples[i] = prof_samples[j];
        i = j;
    }
}

static uint32_t prof_stack_intern(const uintptr_t *pc, unsigned depth)
{
    uint64_t h = 0xcbf29ce484222325ull ^ depth;
    for (unsigned i = 0; i < depth; i++)
        h = (h ^ pc[i]) * 0x100000001b3ull;
    size_t mask = ((size_t)1 << PROF_INDEX_BITS) - 1;
    for (size_t j = (size_t)(h >> (64 - PROF_INDEX_BITS));; j = (j + 1) & mask) {
        uint32_t id = prof_index[j];
        if (id == 0) {
            if (prof_stacks_used >= PROF_STACKS_MAX)
                return UINT32_MAX;
            id = prof_stacks_used++;
            prof_stack *st = &prof_stacks[id];
            st->hash = h;
            st->depth = depth;
            memcpy(st->pc, pc, depth * sizeof *pc);
            prof_index[j] = id + 1;
            return id;
        }
        const prof_stack *st = &prof_stacks[id - 1];
        if (st->hash == h && st->depth == depth && memcmp(st->pc, pc, depth * sizeof *pc) == 0)
            return id - 1;
    }
}

static void prof_filter_add(uintptr_t p, int delta)
{
    _Atomic uint8_t *f = &hak_prof_filter[hak_prof_filter_slot((const void *)p)];
    /* relaxed: written under prof_lock only; read by frees of blocks
     * whose allocation (and this store) happened before them. */
    unsigned v = atomic_load_explicit(f, memory_order_relaxed);
    if (v == 255)
        return; /* saturated: stays "maybe" for good */
    atomic_store_explicit(f, (uint8_t)(v + (unsigned)delta), memory_order_relaxed);
}

/* ---- recording ---- */

static HAK_FRAME hak_noinline void prof_record(void *p, size_t size)
{
    uintptr_t pc[PROF_DEPTH];
    unsigned depth = prof_backtrace(pc, PROF_DEPTH);
    if (depth == 0) {
        /* No frame could be read: at least say where in hakmem. */
        pc[0] = (uintptr_t)__builtin_return_address(0);
        depth = 1;
    }
    double w = hak_prof_weight((double)size, prof_rate);
    hak_lock_acquire(&prof_lock);
    if (prof_samples_count * 2 >= prof_samples_cap && !prof_samples_grow()) {
        prof_dropped++;
        hak_lock_release(&prof_lock);
        return;
    }
    uint32_t id = prof_stack_intern(pc, depth);
    if (id == UINT32_MAX) {
        prof_dropped++;
        hak_lock_release(&prof_lock);
        return;
    }
    uintptr_t a = (uintptr_t)p;
    prof_sample *s = prof_sample_find(a);
    if (s == NULL) {
        size_t mask = prof_samples_cap - 1;
        size_t j = (size_t)(prof_hash_ptr(a) & mask);
        while (prof_samples[j].ptr != 0)
            j = (j + 1) & mask;
        s = &prof_samples[j];
        prof_samples_count++;
        prof_filter_add(a, 1);
    } else {
        /* A block freed without our seeing it cannot happen; be safe. */
        prof_stack *old = &prof_stacks[s->stack];
        old->live_count -= s->weight;
        old->live_bytes -= s->weight * (double)s->size;
        prof_live_count -= s->weight;
        prof_live_bytes -= s->weight * (double)s->size;
    }
    s->ptr = a;
    s->stack = id;
    s->size = size;
    s->weight = w;
    prof_stack *st = &prof_stacks[id];
    st->live_count += w;
    st->live_bytes += w * (double)size;
    st->alloc_count += w;
    st->alloc_bytes += w * (double)size;
    prof_live_count += w;
    prof_live_bytes += w * (double)size;
    hak_lock_release(&prof_lock);
}

HAK_FRAME void hak_prof_sample(void *p, size_t size) { prof_record(p, size); }

void hak_prof_forget(void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (!hak_prof_maybe_sampled(p))
        return;
    hak_lock_acquire(&prof_lock);
    prof_sample *s = prof_sample_find(a);
    if (s != NULL) {
        prof_stack *st = &prof_stacks[s->stack];
        st->live_count -= s->weight;
        st->live_bytes -= s->weight * (double)s->size;
        prof_live_count -= s->weight;
        prof_live_bytes -= s->weight * (double)s->size;
        prof_sample_remove(s);
        prof_filter_add(a, -1);
    }
    hak_lock_release(&prof_lock);
}

HAK_FRAME void hak_prof_big_alloc(void *p, size_t size)
{
    hak_heap *h = hak_heap_tls;
    if (h != &hak_heap_empty && h->prof != NULL) {
        struct hak_prof_heap *ph = h->prof;
        ph->big_left -= (int64_t)size;
        if (ph->big_left > 0)
            return;
        ph->big_left = (int64_t)hak_prof_draw_bytes(&ph->rng, prof_rate) + 1;
    } else {
        hak_lock_acquire(&prof_lock);
        prof_big_left_global -= (int64_t)size;
        bool due = prof_big_left_global <= 0;
        if (due)
            prof_big_left_global = (int64_t)hak_prof_draw_bytes(&prof_rng_global, prof_rate) + 1;
        hak_lock_release(&prof_lock);
        if (!due)
            return;
    }
    prof_record(p, size);
}

HAK_FRAME void hak_prof_realloc(void *p, void *q, size_t size)
{
    hak_prof_forget(p);
    hak_prof_big_alloc(q, size);
}

/* ---- initialisation ---- */

void hak_prof_init(void)
{
    int64_t rate = hak_opt(HAK_OPT_HEAP_PROFILE_SAMPLE);
    /* Not in setuid/setgid programs: their profiles would be files written
     * with their privileges where the configuration says, and would show
     * their memory layout. */
    if (rate <= 0 || hak_forward || getauxval(AT_SECURE))
        return;
    hak_prof_filter = hak_os_map((size_t)1 << HAK_PROF_FILTER_BITS);
    prof_stacks = hak_os_map(PROF_STACKS_MAX * sizeof(prof_stack));
    prof_index = hak_os_map(((size_t)1 << PROF_INDEX_BITS) * sizeof(uint32_t));
    if (hak_prof_filter == NULL || prof_stacks == NULL || prof_index == NULL) {
        hak_warn("hakmem: heap profiler: cannot map its tables; heap profiling is off");
        return;
    }
    prof_rate = (double)rate;
    hak_os_random(&prof_rng_global, sizeof prof_rng_global);
    prof_big_left_global = (int64_t)hak_prof_draw_bytes(&prof_rng_global, prof_rate) + 1;
    /* Frames of our own image are dropped, unless that image is the
     * program itself (the static library in tests): then the program's
     * frames would go too, and ours are kept. */
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)__ehdr_start;
    if (getauxval(AT_PHDR) != (uintptr_t)__ehdr_start + eh->e_phoff) {
        prof_self_lo = (uintptr_t)__ehdr_start;
        prof_self_hi = (uintptr_t)_end;
    }
    hak_prof_on = true;
}

/* ---- profiles ---- */

/* Where a profile's hak_buf goes: the file, and the first error writing
 * it (0: none), which the caller reports. */
typedef struct prof_sink {
    int fd;
    int err;
} prof_sink;

static void prof_sink_write(void *ctx, const char *data, size_t len)
{
    prof_sink *k = ctx;
    size_t done = 0;
    while (done < len && k->err == 0) {
        ssize_t w = write(k->fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            k->err = w < 0 ? errno : EIO;
        else
            done += (size_t)w;
    }
}

static uint64_t prof_round(double v) { return v <= 0 ? 0 : (uint64_t)(v + 0.5); }

static void prof_out_counts(hak_buf *o, double n1, double s1, double n2, double s2)
{
    hak_buf_u64_pad(o, prof_round(n1), 6);
    hak_buf_str(o, ": ");
    hak_buf_u64_pad(o, prof_round(s1), 8);
    hak_buf_str(o, " [");
    hak_buf_u64_pad(o, prof_round(n2), 6);
    hak_buf_str(o, ": ");
    hak_buf_u64_pad(o, prof_round(s2), 8);
    hak_buf_str(o, "] @");
}

/* PREFIX.PID.SEQ.heap into path; false if it does not fit. */
static bool prof_path(char *path, size_t cap, uint32_t seq)
{
    const char *prefix = hak_opt_str(HAK_OPT_HEAP_PROFILE_PREFIX);
    if (*prefix == 0)
        prefix = "/tmp/hakmem";
    if (cap < 2)
        return false;
    /* One byte more than a name may use: a full buffer means cut short. */
    hak_buf b = { .data = path, .cap = cap - 1, .fd = -1 };
    hak_buf_str(&b, prefix);
    hak_buf_char(&b, '.');
    hak_buf_u64(&b, (uint64_t)getpid());
    hak_buf_char(&b, '.');
    hak_buf_u64(&b, seq);
    hak_buf_str(&b, ".heap");
    path[b.len] = 0;
    return b.len < b.cap;
}

int hak_prof_dump(char *path, size_t cap)
{
    if (cap > 0)
        path[0] = 0;
    if (!hak_prof_on)
        return EOPNOTSUPP;
    hak_lock_acquire(&prof_lock);
    uint32_t used = prof_stacks_used;
    uint32_t seq = ++prof_seq;
    hak_lock_release(&prof_lock);
    int fd = -EEXIST;
    for (unsigned tries = 0; fd == -EEXIST && tries < 1000; tries++) {
        if (!prof_path(path, cap, seq + tries))
            return ENAMETOOLONG;
        fd = hak_os_create_file(path);
    }
    if (fd < 0)
        return -fd;
    /* Copy the stacks' totals, so the lock is not held while writing. */
    size_t bytes = hak_align_up((size_t)(used ? used : 1) * sizeof(prof_stack), HAK_PAGE_SIZE);
    prof_stack *copy = hak_os_map(bytes);
    if (copy == NULL) {
        hak_os_close(fd);
        hak_os_unlink(path);
        return ENOMEM;
    }
    hak_lock_acquire(&prof_lock);
    memcpy(copy, prof_stacks, (size_t)used * sizeof(prof_stack));
    double live_bytes = prof_live_bytes;
    hak_lock_release(&prof_lock);

    char out_mem[4096];
    prof_sink sink = { .fd = fd, .err = 0 };
    hak_buf out = { .data = out_mem, .cap = sizeof out_mem, .fd = -1,
                    .sink = prof_sink_write, .sink_ctx = &sink };
    hak_buf *o = &out;
    double t[4] = { 0, 0, 0, 0 };
    for (uint32_t i = 0; i < used; i++) {
        t[0] += copy[i].live_count;
        t[1] += copy[i].live_bytes;
        t[2] += copy[i].alloc_count;
        t[3] += copy[i].alloc_bytes;
    }
    /* "heapprofile": the counts are already estimates of the true totals,
     * so google-pprof must not scale them again. */
    hak_buf_str(o, "heap profile: ");
    prof_out_counts(o, t[0], t[1], t[2], t[3]);
    hak_buf_str(o, " heapprofile\n");
    for (uint32_t i = 0; i < used; i++) {
        const prof_stack *st = &copy[i];
        if (prof_round(st->live_bytes) == 0 && prof_round(st->alloc_bytes) == 0)
            continue;
        prof_out_counts(o, st->live_count, st->live_bytes, st->alloc_count, st->alloc_bytes);
        for (uint32_t k = 0; k < st->depth; k++) {
            /* Return addresses; google-pprof moves every one but the
             * first back into its call instruction, so the first is
             * moved here. */
            hak_buf_str(o, " ");
            hak_buf_hex(o, st->pc[k] - (k == 0));
        }
        hak_buf_str(o, "\n");
    }
    hak_buf_str(o, "\nMAPPED_LIBRARIES:\n");
    hak_buf_flush(o);
    int err = sink.err;
    hak_os_unmap(copy, bytes);
    if (err == 0)
        hak_os_copy_file("/proc/self/maps", fd, PROF_MAPS_MAX);
    hak_os_close(fd);
    if (err != 0) {
        hak_os_unlink(path);
        return err;
    }
    prof_last_dump_bytes = live_bytes;
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&prof_dumps, 1, memory_order_relaxed);
    return 0;
}

static const char *prof_errno_text(int err)
{
    switch (err) {
    case ENOENT: return "no such directory";
    case EACCES: case EPERM: return "permission denied";
    case EROFS: return "read-only file system";
    case ENOSPC: return "no space left on the device";
    case EDQUOT: return "disk quota exceeded";
    case ENOTDIR: return "a component of the path is not a directory";
    case ENAMETOOLONG: return "file name too long";
    case EEXIST: return "too many profiles with this prefix already";
    case ENOMEM: return "out of memory";
    case ELOOP: return "too many symbolic links";
    case EIO: return "input/output error";
    default: return "cannot create or write the file";
    }
}

/* One line on stderr: where a profile went, or why it did not. */
static void prof_report(const char *why, int err, const char *path)
{
    char mem[512];
    hak_buf b = { .data = mem, .cap = sizeof mem - 2, .fd = -1 };
    hak_buf_str(&b, "hakmem: heap profile ");
    if (err == 0) {
        hak_buf_str(&b, "(");
        hak_buf_str(&b, why);
        hak_buf_str(&b, ") written to ");
        hak_buf_mem(&b, path, strlen(path) > 300 ? 300 : strlen(path));
    } else {
        hak_buf_str(&b, "(");
        hak_buf_str(&b, why);
        hak_buf_str(&b, ") not written: ");
        hak_buf_mem(&b, path, strlen(path) > 300 ? 300 : strlen(path));
        hak_buf_str(&b, strlen(path) > 300 ? "...: " : ": ");
        hak_buf_str(&b, prof_errno_text(err));
    }
    mem[b.len++] = '\n';
    hak_os_write(2, mem, b.len);
}

void hak_prof_at_exit(void)
{
    if (!hak_prof_on)
        return;
    char path[HAK_PAGE_SIZE];
    int err = hak_prof_dump(path, sizeof path);
    prof_report("at exit", err, path);
}

void hak_prof_background(void)
{
    if (!hak_prof_on)
        return;
    int64_t interval = hak_opt(HAK_OPT_HEAP_PROFILE_INTERVAL);
    if (interval <= 0)
        return;
    /* Racy read of the estimate: a profile one period late or early is
     * harmless. */
    if (*(volatile double *)&prof_live_bytes < prof_last_dump_bytes + (double)interval)
        return;
    /* acquire: the previous writer's prof_last_dump_bytes, read again
     * below.  A check that finds another writing leaves the step to it. */
    if (atomic_exchange_explicit(&prof_growth_busy, true, memory_order_acquire))
        return;
    if (*(volatile double *)&prof_live_bytes >= prof_last_dump_bytes + (double)interval) {
        char path[HAK_PAGE_SIZE];
        int err = hak_prof_dump(path, sizeof path);
        prof_report("growth", err, path);
        if (err != 0) /* no retry storm: wait for as much growth again */
            prof_last_dump_bytes = *(volatile double *)&prof_live_bytes;
    }
    /* release: prof_last_dump_bytes to the next writer. */
    atomic_store_explicit(&prof_growth_busy, false, memory_order_release);
}

void hak_prof_summary(uint64_t *rate, uint64_t *samples, uint64_t *bytes, uint64_t *dumps)
{
    *rate = hak_prof_on ? (uint64_t)prof_rate : 0;
    /* Racy reads of doubles written under the lock: reporting only. */
    *samples = hak_prof_on ? prof_samples_count : 0;
    *bytes = hak_prof_on ? prof_round(*(volatile double *)&prof_live_bytes) : 0;
    /* relaxed: a statistic. */
    *dumps = atomic_load_explicit(&prof_dumps, memory_order_relaxed);
}

void hak_prof_fork_prepare(void)
{
    if (hak_prof_on)
        hak_lock_acquire(&prof_lock);
}

void hak_prof_fork_parent(void)
{
    if (hak_prof_on)
        hak_lock_release(&prof_lock);
}

void hak_prof_fork_child(void)
{
    if (!hak_prof_on)
        return;
    hak_lock_reset(&prof_lock);
    /* A fresh profile: the parent's samples are not the child's. */
    hak_os_purge((void *)hak_prof_filter, (size_t)1 << HAK_PROF_FILTER_BITS, false);
    hak_os_purge(prof_index, ((size_t)1 << PROF_INDEX_BITS) * sizeof(uint32_t), false);
    hak_os_purge(prof_stacks, PROF_STACKS_MAX * sizeof(prof_stack), false);
    if (prof_samples)
        hak_os_purge(prof_samples, prof_samples_cap * sizeof *prof_samples, false);
    prof_samples_count = 0;
    prof_stacks_used = 0;
    prof_live_bytes = prof_live_count = 0;
    prof_last_dump_bytes = 0;
    /* relaxed: the child has one thread; a writer of the parent's is gone. */
    atomic_store_explicit(&prof_growth_busy, false, memory_order_relaxed);
    prof_dropped = 0;
    prof_seq = 0;
    atomic_store_explicit(&prof_dumps, 0, memory_order_relaxed);
    hak_os_random(&prof_rng_global, sizeof prof_rng_global);
}
