/*
 * stats.c - counters merged on read, and the table printed at exit.
 *
 * Per-class counters are plain per-heap fields written only by the owning
 * thread; a snapshot sums them over every heap ever created.  Allocation
 * counts are derived rather than counted on the malloc fast path:
 *   cache pops = blocks refilled + local frees pushed - blocks flushed
 *                - blocks in the cache now,
 * and every malloc of a Tiny/Mid block is exactly one cache pop.
 */
#include "runtime/stats.h"

#include <string.h>
#include <unistd.h>

#include "base/counters.h"
#include "base/diag.h"
#include "config/config.h"
#include "config/forward.h"
#include "config/options.h"
#include "config/secure.h"
#include "hakmem.h"
#include "os/os.h"
#include "small/heap.h"
#include "runtime/prof.h"
#include "small/quarantine.h"
#include "small/segment.h"
#include "tiers/huge.h"
#include "tiers/large.h"
#include "tiers/zero.h"

static uint64_t stats_load(_Atomic uint64_t *c)
{
    /* relaxed: reporting only. */
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Plain counters of other threads: read once each (volatile), tolerating
 * values from slightly different moments. */
static uint64_t stats_peek(const uint64_t *c) { return *(const volatile uint64_t *)c; }

HAK_API int hak_stats_get(struct hak_stats *out)
{
    memset(out, 0, sizeof *out);
    out->version = (HAKMEM_VERSION_MAJOR << 16) | HAKMEM_VERSION_MINOR;
    out->nclasses = HAK_SMALL_CLASSES;
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++)
        out->classes[c].block_size = hak_classes[c].size;

    uint64_t large_allocs = 0, large_frees = 0, large_in = 0, large_out = 0;
    size_t cached = 0;
    for (hak_heap *h = hak_heap_first(); h; h = h->all_next) {
        for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
            const hak_class_stats *st = &h->cstats[c];
            struct hak_class_stat *cs = &out->classes[c];
            uint64_t in_cache = hak_cache_count(&h->cache[c]);
            in_cache += hak_prof_heap_stashed(h, c);
            /* The secure profile's holding area counts as cache: blocks
             * enter it as frees and leave it as allocations or flushes. */
            const hak_quarantine *q = *(const hak_quarantine *const volatile *)&h->quarantine;
            if (q != NULL)
                in_cache += hak_quarantine_held(q, c);
            uint64_t local = hak_heap_local_frees(h, c);
            uint64_t pushed = stats_peek(&st->refill_blocks) + local;
            uint64_t taken = stats_peek(&st->flush_blocks) + in_cache;
            uint64_t pops = pushed > taken ? pushed - taken : 0;
            uint64_t misses = stats_peek(&st->slow_allocs);
            cs->allocs += pops;
            cs->cache_misses += misses;
            cs->cache_hits += pops > misses ? pops - misses : 0;
            /* Every free of a block by a thread with a heap is a push into
             * its cache, remote or not; remote_frees counts those of them
             * handed back to another heap. */
            cs->frees += local;
            cs->remote_frees += stats_peek(&st->remote_frees);
            cs->warm_hits += stats_peek(&st->warm_hits);
            cs->warm_misses += stats_peek(&st->warm_misses);
            cs->prefills += stats_peek(&st->prefills);
            cs->refills += stats_peek(&st->refills);
            cached += in_cache * hak_classes[c].size;
        }
        large_allocs += stats_peek(&h->large_stats.allocs);
        large_frees += stats_peek(&h->large_stats.frees);
        large_in += stats_peek(&h->large_stats.bytes_alloc);
        large_out += stats_peek(&h->large_stats.bytes_freed);
        cached += *(const volatile size_t *)&h->large.bytes;
    }
    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        uint64_t hf = stats_load(&hak_gstats.heapless_class_frees[c]);
        out->classes[c].frees += hf;
        out->classes[c].remote_frees += hf;
    }
    large_frees += stats_load(&hak_gstats.heapless_large_frees);
    large_out += stats_load(&hak_gstats.heapless_large_bytes);

    for (unsigned c = 0; c < HAK_SMALL_CLASSES; c++) {
        struct hak_class_stat *cs = &out->classes[c];
        struct hak_tier_stat *t = &out->tiers[hak_class_is_tiny(c) ? HAK_TIER_TINY : HAK_TIER_MID];
        t->allocs += cs->allocs;
        t->frees += cs->frees;
        /* What malloc_usable_size says of each live block: the secure
         * profile's canary is not the program's, and the zero-size blocks
         * counted in class 0 (front/harden.c) hold nothing. */
        uint64_t usable = cs->block_size - (hak_secure.canaries ? HAK_SECURE_TAIL : 0);
        uint64_t live = cs->allocs > cs->frees ? cs->allocs - cs->frees : 0;
        if (c == 0) {
            uint64_t zero = hak_zero_live();
            live = live > zero ? live - zero : 0;
        }
        t->bytes_in_use += live * usable;
        out->cache_hits += cs->cache_hits;
        out->cache_misses += cs->cache_misses;
        out->warm_hits += cs->warm_hits;
        out->warm_misses += cs->warm_misses;
        out->prefills += cs->prefills;
        out->refills += cs->refills;
        out->remote_frees += cs->remote_frees;
    }
    out->tiers[HAK_TIER_LARGE].allocs = large_allocs;
    out->tiers[HAK_TIER_LARGE].frees = large_frees;
    out->tiers[HAK_TIER_LARGE].bytes_in_use = large_in > large_out ? large_in - large_out : 0;
    out->tiers[HAK_TIER_HUGE].allocs = stats_load(&hak_gstats.huge_allocs);
    out->tiers[HAK_TIER_HUGE].frees = stats_load(&hak_gstats.huge_frees);
    out->tiers[HAK_TIER_HUGE].bytes_in_use = stats_load(&hak_gstats.huge_bytes);
    for (unsigned t = 0; t < HAK_TIER_COUNT; t++) {
        out->allocs += out->tiers[t].allocs;
        out->frees += out->tiers[t].frees;
        out->bytes_in_use += out->tiers[t].bytes_in_use;
    }

    out->segments_mapped = stats_load(&hak_gstats.segments_mapped);
    out->segments_unmapped = stats_load(&hak_gstats.segments_unmapped);
    out->bytes_mapped = stats_load(&hak_gstats.bytes_mapped);
    out->bytes_purged = stats_load(&hak_gstats.bytes_purged);
    hak_segment_totals seg;
    hak_segment_totals_get(&seg);
    size_t large_mapped, large_dirty, huge_mapped, huge_dirty;
    hak_large_totals(&large_mapped, &large_dirty);
    hak_huge_totals(&huge_mapped, &huge_dirty);
    out->free_retained = seg.free_dirty_bytes + large_dirty + huge_dirty + cached;
    out->peak_rss_kib = hak_os_peak_rss_kib();
    out->threads = stats_load(&hak_gstats.heaps_created);
    return 0;
}

static void stats_percent(hak_buf *b, uint64_t part, uint64_t whole, unsigned width)
{
    char mem[16];
    hak_buf t = { .data = mem, .cap = sizeof mem, .fd = -1 };
    if (whole == 0)
        hak_buf_str(&t, "-");
    else
        hak_buf_percent100(&t, part * 10000 / whole);
    mem[t.len] = 0;
    hak_buf_str_pad(b, mem, width);
}

static void stats_size_col(hak_buf *b, uint64_t bytes, unsigned width)
{
    char mem[24];
    hak_buf t = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
    hak_buf_size(&t, bytes);
    mem[t.len] = 0;
    hak_buf_str_pad(b, mem, width);
}

void hak_stats_report(hak_buf *b)
{
    struct hak_stats s;
    hak_stats_get(&s);
    /* The locks hak_stats_get took are released: what follows only reads,
     * so b's sink may allocate (a stdio stream) and re-enter malloc. */
    hak_stats_format(b, &s, (uint64_t)getpid(), hak_option_values, hak_option_sources,
                     hak_option_text);
}

void hak_stats_format(hak_buf *b, const struct hak_stats *s, uint64_t pid, const int64_t *values,
                      const uint8_t *sources, const char *text)
{
    static const char *const tier_name[] = { "tiny", "mid", "large", "huge" };

    hak_buf_str(b, "hakmem statistics (pid ");
    hak_buf_u64(b, pid);
    hak_buf_str(b, ")\n  tier       allocs        frees    in use\n");
    for (unsigned t = 0; t < HAK_TIER_COUNT; t++) {
        hak_buf_str(b, "  ");
        hak_buf_str_left(b, tier_name[t], 5);
        hak_buf_u64_pad(b, s->tiers[t].allocs, 13);
        hak_buf_u64_pad(b, s->tiers[t].frees, 13);
        stats_size_col(b, s->tiers[t].bytes_in_use, 10);
        hak_buf_char(b, '\n');
    }
    hak_buf_str(b, "  class     size       allocs        frees  cache-hit%  warm-hit%  "
                   "prefills   refills  remote-frees\n");
    for (unsigned c = 0; c < s->nclasses && c < HAK_STATS_CLASSES; c++) {
        const struct hak_class_stat *cs = &s->classes[c];
        if (cs->allocs == 0 && cs->frees == 0)
            continue;
        hak_buf_str(b, "  ");
        hak_buf_str_left(b, hak_class_is_tiny(c) ? "tiny" : "mid", 5);
        hak_buf_u64_pad(b, cs->block_size, 9);
        hak_buf_u64_pad(b, cs->allocs, 13);
        hak_buf_u64_pad(b, cs->frees, 13);
        stats_percent(b, cs->cache_hits, cs->allocs, 12);
        stats_percent(b, cs->warm_hits, cs->warm_hits + cs->warm_misses, 11);
        hak_buf_u64_pad(b, cs->prefills, 10);
        hak_buf_u64_pad(b, cs->refills, 10);
        hak_buf_u64_pad(b, cs->remote_frees, 14);
        hak_buf_char(b, '\n');
    }
    hak_buf_str(b, "  total: allocs ");
    hak_buf_u64(b, s->allocs);
    hak_buf_str(b, ", frees ");
    hak_buf_u64(b, s->frees);
    hak_buf_str(b, ", cache hit ");
    stats_percent(b, s->cache_hits, s->cache_hits + s->cache_misses, 0);
    hak_buf_str(b, "%, warm pool hit ");
    stats_percent(b, s->warm_hits, s->warm_hits + s->warm_misses, 0);
    hak_buf_str(b, "% of cache misses, remote frees ");
    hak_buf_u64(b, s->remote_frees);
    hak_buf_str(b, "\n  memory: mapped ");
    hak_buf_size(b, s->bytes_mapped);
    hak_buf_str(b, ", in use ");
    hak_buf_size(b, s->bytes_in_use);
    hak_buf_str(b, ", free retained ");
    hak_buf_size(b, s->free_retained);
    hak_buf_str(b, ", purged ");
    hak_buf_size(b, s->bytes_purged);
    hak_buf_str(b, ", segments mapped ");
    hak_buf_u64(b, s->segments_mapped);
    hak_buf_str(b, " unmapped ");
    hak_buf_u64(b, s->segments_unmapped);
    hak_buf_str(b, ", peak RSS ");
    hak_buf_size(b, s->peak_rss_kib * 1024);
    hak_buf_str(b, ", threads ");
    hak_buf_u64(b, s->threads);
    hak_buf_char(b, '\n');
    hak_config_print_values(b, values, sources, text);
}

HAK_API void hak_stats_print(int fd)
{
    char mem[2048];
    hak_buf b = { .data = mem, .cap = sizeof mem, .fd = fd };
    hak_stats_report(&b);
    hak_buf_flush(&b);
}

void hak_stats_at_exit(void)
{
    if (!hak_opt(HAK_OPT_STATS))
        return;
    if (!hak_forward) {
        hak_stats_print(2);
        return;
    }
    /* No statistics of hakmem's own: say why, once. */
    char mem[512];
    hak_buf b = { .data = mem, .cap = sizeof mem, .fd = 2 };
    hak_buf_str(&b, "hakmem: stepped aside (");
    hak_forward_describe(&b);
    hak_buf_str(&b, "); the next allocator served this process\n");
    hak_buf_flush(&b);
}
