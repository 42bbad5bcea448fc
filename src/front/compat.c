/*
 * compat.c - glibc's malloc extensions, answered from hakmem's own heap,
 * or by the next allocator's own where hakmem stepped aside (forward.h;
 * a function it lacks answers as for an empty heap).
 *
 * mallinfo2 fields: arena = bytes mapped in Tiny/Mid/Large segments,
 * hblks/hblkhd = live Huge blocks and their bytes, uordblks = bytes in use
 * (block sizes), fordblks = free bytes still resident (what malloc_trim
 * gives back), fsmblks = bytes of free blocks in thread caches, ordblks =
 * free slabs and pages, keepcost = fordblks, smblks = usmblks = 0.
 */
#include "front/compat.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/size_class.h"
#include "config/forward.h"
#include "config/options.h"
#include "hakmem.h"
#include "os/os.h"
#include "runtime/init.h"
#include "runtime/purge.h"
#include "runtime/stats.h"
#include "runtime/thread.h"
#include "small/abandon.h"
#include "small/heap.h"
#include "small/segment.h"
#include "tiers/large.h"

int hak_malloc_trim_impl(size_t pad)
{
    (void)pad; /* nothing is kept "at the top": every free page goes */
    if (!hak_init_ensure())
        return 0;
    if (hak_forward)
        return hak_next.malloc_trim ? hak_next.malloc_trim(pad) : 0;
    size_t before = hak_os_current_rss_kib();
    hak_heap *h = hak_heap_tls;
    if (h != &hak_heap_empty) {
        hak_thread_trim(h);
        /* Slabs of exited threads whose blocks all came back. */
        hak_abandon_reclaim(h);
        hak_thread_trim(h);
    }
    /* Other threads flush their caches at their next safe point. */
    hak_thread_trim_all();
    size_t purged = hak_purge_all();
    return purged > 0 || hak_os_current_rss_kib() < before ? 1 : 0;
}

/* Whether this process forwards (initialising first). */
static bool compat_forwarding(void)
{
    return hak_init_ensure() && hak_forward;
}

void hak_mallinfo2_impl(struct mallinfo2 *out)
{
    if (compat_forwarding()) {
        if (hak_next.mallinfo2)
            *out = hak_next.mallinfo2();
        else
            memset(out, 0, sizeof *out);
        return;
    }
    struct hak_stats s;
    hak_stats_get(&s);
    hak_segment_totals seg;
    hak_segment_totals_get(&seg);
    size_t large_mapped, large_dirty;
    hak_large_totals(&large_mapped, &large_dirty);
    memset(out, 0, sizeof *out);
    out->arena = seg.mapped_bytes + large_mapped;
    out->ordblks = seg.free_slabs;
    out->hblks = s.tiers[HAK_TIER_HUGE].allocs - s.tiers[HAK_TIER_HUGE].frees;
    out->hblkhd = s.tiers[HAK_TIER_HUGE].bytes_in_use;
    out->uordblks = s.tiers[HAK_TIER_TINY].bytes_in_use + s.tiers[HAK_TIER_MID].bytes_in_use +
                    s.tiers[HAK_TIER_LARGE].bytes_in_use;
    out->fordblks = seg.free_dirty_bytes + large_dirty;
    out->fsmblks = s.free_retained > out->fordblks ? s.free_retained - out->fordblks : 0;
    out->keepcost = out->fordblks;
}

static int compat_sat(size_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

struct mallinfo hak_mallinfo_impl(void)
{
    if (compat_forwarding() && hak_next.mallinfo)
        return hak_next.mallinfo();
    struct mallinfo2 m2;
    hak_mallinfo2_impl(&m2);
    struct mallinfo m;
    m.arena = compat_sat(m2.arena);
    m.ordblks = compat_sat(m2.ordblks);
    m.smblks = compat_sat(m2.smblks);
    m.hblks = compat_sat(m2.hblks);
    m.hblkhd = compat_sat(m2.hblkhd);
    m.usmblks = compat_sat(m2.usmblks);
    m.fsmblks = compat_sat(m2.fsmblks);
    m.uordblks = compat_sat(m2.uordblks);
    m.fordblks = compat_sat(m2.fordblks);
    m.keepcost = compat_sat(m2.keepcost);
    return m;
}

static void compat_line(hak_buf *b, const char *label, uint64_t v)
{
    hak_buf_str(b, label);
    hak_buf_u64_pad(b, v, 10);
    hak_buf_char(b, '\n');
}

static void compat_file_sink(void *ctx, const char *data, size_t len)
{
    fwrite(data, 1, len, (FILE *)ctx);
}

/* glibc's lines first, in glibc's layout (scripts read them), then hakmem's
 * own table.  Written to the C library's stderr stream, as glibc does, so a
 * program that redirected stderr (freopen, or a stream of its own
 * assigned to stderr) gets them.  The figures are gathered with hakmem's
 * locks released before anything is written: stdio may allocate, which
 * re-enters malloc.  The stream stays locked for the whole report, so other
 * threads' output does not interleave, and cancellation is off meanwhile
 * (write(2) is a cancellation point: a cancelled report would be cut short
 * with the stream still locked); the caller's state is restored after. */
void hak_malloc_stats_impl(void)
{
    if (compat_forwarding()) {
        if (hak_next.malloc_stats)
            hak_next.malloc_stats();
        return;
    }
    struct mallinfo2 m;
    hak_mallinfo2_impl(&m);
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    FILE *out = stderr;
    flockfile(out);
    char mem[2048];
    hak_buf b = { .data = mem, .cap = sizeof mem, .fd = -1, .sink = compat_file_sink, .sink_ctx = out };
    hak_buf_str(&b, "Arena 0:\n");
    compat_line(&b, "system bytes     = ", m.arena);
    compat_line(&b, "in use bytes     = ", m.uordblks);
    hak_buf_str(&b, "Total (incl. mmap):\n");
    compat_line(&b, "system bytes     = ", m.arena + m.hblkhd);
    compat_line(&b, "in use bytes     = ", m.uordblks + m.hblkhd);
    compat_line(&b, "max mmap regions = ", m.hblks);
    compat_line(&b, "max mmap bytes   = ", m.hblkhd);
    hak_stats_report(&b);
    hak_buf_flush(&b);
    fflush(out);
    funlockfile(out);
    pthread_setcancelstate(cancel_state, NULL);
}

static void compat_attr(hak_buf *b, const char *name, uint64_t v)
{
    hak_buf_char(b, ' ');
    hak_buf_str(b, name);
    hak_buf_str(b, "=\"");
    hak_buf_u64(b, v);
    hak_buf_char(b, '"');
}

int hak_malloc_info_impl(int options, FILE *fp)
{
    if (compat_forwarding() && hak_next.malloc_info)
        return hak_next.malloc_info(options, fp);
    if (options != 0 || fp == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* Gather everything first: writing to fp may allocate. */
    static const char *const tier_name[] = { "tiny", "mid", "large", "huge" };
    struct hak_stats s;
    hak_stats_get(&s);
    struct mallinfo2 m;
    hak_mallinfo2_impl(&m);
    char mem[1024];
    hak_buf b = { .data = mem, .cap = sizeof mem, .fd = -1, .sink = compat_file_sink, .sink_ctx = fp };
    hak_buf_str(&b, "<malloc version=\"1\" allocator=\"hakmem\">\n<heap nr=\"0\">\n<sizes>\n");
    for (unsigned c = 0; c < s.nclasses; c++) {
        const struct hak_class_stat *cs = &s.classes[c];
        if (cs->allocs == 0)
            continue;
        hak_buf_str(&b, "  <size");
        compat_attr(&b, "from", c == 0 ? 0 : s.classes[c - 1].block_size + 1);
        compat_attr(&b, "to", cs->block_size);
        compat_attr(&b, "allocs", cs->allocs);
        compat_attr(&b, "frees", cs->frees);
        compat_attr(&b, "in_use", cs->allocs > cs->frees ? (cs->allocs - cs->frees) * cs->block_size : 0);
        compat_attr(&b, "cache_hits", cs->cache_hits);
        compat_attr(&b, "warm_hits", cs->warm_hits);
        hak_buf_str(&b, "/>\n");
    }
    hak_buf_str(&b, "</sizes>\n");
    for (unsigned t = 0; t < HAK_TIER_COUNT; t++) {
        hak_buf_str(&b, "<tier name=\"");
        hak_buf_str(&b, tier_name[t]);
        hak_buf_char(&b, '"');
        compat_attr(&b, "allocs", s.tiers[t].allocs);
        compat_attr(&b, "frees", s.tiers[t].frees);
        compat_attr(&b, "in_use", s.tiers[t].bytes_in_use);
        hak_buf_str(&b, "/>\n");
    }
    hak_buf_str(&b, "<total type=\"retained\"");
    compat_attr(&b, "size", m.fordblks);
    hak_buf_str(&b, "/>\n<total type=\"cached\"");
    compat_attr(&b, "size", m.fsmblks);
    hak_buf_str(&b, "/>\n<total type=\"mmap\"");
    compat_attr(&b, "count", m.hblks);
    compat_attr(&b, "size", m.hblkhd);
    hak_buf_str(&b, "/>\n<system type=\"current\"");
    compat_attr(&b, "size", m.arena + m.hblkhd);
    hak_buf_str(&b, "/>\n<system type=\"purged\"");
    compat_attr(&b, "size", s.bytes_purged);
    hak_buf_str(&b, "/>\n<aspace type=\"total\"");
    compat_attr(&b, "size", s.bytes_mapped);
    hak_buf_str(&b, "/>\n</heap>\n</malloc>\n");
    hak_buf_flush(&b);
    return 0;
}

/* mallopt answers as glibc's does (2.36): 1 for every parameter and value
 * but M_MXFAST outside 0..160 (80 * sizeof(size_t) / 4), including
 * parameters glibc does not know.  M_TRIM_THRESHOLD has a hakmem meaning
 * (retain_max, source "api"); a negative threshold is glibc's "never
 * trim": the largest retain_max.  The others change nothing here: tier
 * boundaries are fixed, there are no arenas or fastbins, and misuse always
 * aborts. */
int hak_mallopt_impl(int param, int value)
{
    if (compat_forwarding())
        return hak_next.mallopt ? hak_next.mallopt(param, value) : 0;
    switch (param) {
    case M_TRIM_THRESHOLD: {
        int64_t keep = value < 0 ? hak_option_defs[HAK_OPT_RETAIN_MAX].max : value;
        hak_option_store(HAK_OPT_RETAIN_MAX, keep, HAK_SRC_API);
        return 1;
    }
    case M_MXFAST:
        return value >= 0 && (size_t)value <= 80 * sizeof(size_t) / 4;
    default:
        return 1;
    }
}

HAK_API int hak_malloc_trim(size_t pad) { return hak_malloc_trim_impl(pad); }
