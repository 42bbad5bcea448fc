/*
 * runs.h - page runs in segments of 1024 pages aligned to their size: the
 * engine under the Large tier (4 MiB segments of 4 KiB pages) and the Huge
 * tier's arenas (64 MiB of 64 KiB pages).  A pool owns its segments, one
 * lock, and the policy-free mechanisms: take a run, give one back, grow one
 * in place, purge what has aged, unmap what stayed empty.  The tiers keep
 * what a run is for (classes, caches, guard pages, misuse reports).
 *
 * Free pages form maximal free runs: a run given back merges with the free
 * runs on both sides at once.  Each segment files its free runs by length
 * and the pool files its segments by their longest free run.  A take
 * serves from the oldest segment with room: blocks pack into the oldest
 * segments and the newer ones empty out (and are unmapped), instead of
 * every segment holding a few live runs among pages that earlier blocks
 * made resident.  The pool keeps the longest free runs of its oldest
 * HAK_RUNS_AGE_SLOTS segments side by side, so that choice reads two
 * cache lines; with all of those full it takes the best-fitting segment
 * of the rest from the bins, in a few word scans whatever their number.
 * In the segment it takes the best-fitting free run.  Free pages stay resident
 * ("dirty") for between half a purge delay and a delay, then are madvised
 * away; a segment that stays empty for a delay is unmapped.
 *
 * Locking: the pool's lock guards its segment list, its bins and every
 * field of its segments marked "pool lock".  A run's state is also read
 * without the lock by misuse checks (relaxed atomics).
 */
#ifndef HAK_RUNS_H
#define HAK_RUNS_H

#include "base/list.h"
#include "internal.h"
#include "os/lock.h"

#define HAK_RUNS_PAGES 1024
#define HAK_RUNS_WORDS (HAK_RUNS_PAGES / 64)
/* Oldest segments a pool keeps the longest free runs of, in age order. */
#define HAK_RUNS_AGE_SLOTS 64

/* Run head states, readable by any thread (misuse checks).  To the pool a
 * cached or quarantined run is still taken: only its tier holds it. */
enum {
    HAK_RUN_NONE = 0,
    HAK_RUN_ALLOCATED = 1,
    HAK_RUN_CACHED = 2,
    HAK_RUN_FREED = 3,
    HAK_RUN_QUARANTINED = 4, /* freed, held back before reuse (secure profile) */
};

/* One page's record in its segment's header. */
typedef struct hak_run_head {
    /* HAK_RUN_* at the head of every allocated, cached or quarantined run,
     * NONE inside them and on the header's own pages; a free run keeps
     * FREED at the old heads it absorbed, so that a second free of one is
     * still reported as a double free. */
    _Atomic uint8_t state;
    uint8_t unused;
    /* pool lock: the length of the run at its head, and of a free run also
     * at its last page (so a freed neighbour finds its head). */
    uint16_t pages;
    /* At run heads: what the run was allocated for, for the checks of sized
     * and aligned frees: the size asked for << HAK_RUNS_REQUEST_SHIFT | log2
     * of the alignment asked for (HAK_MIN_ALIGN at least).  Written by the
     * allocating thread; a free that reads it comes after the program handed
     * the pointer over (its own synchronisation orders the two). */
    uint32_t request;
} hak_run_head;
_Static_assert(sizeof(hak_run_head) == 8, "eight records to a cache line");

typedef struct hak_runs_segment {
    uint64_t magic;              /* hak_keys.header ^ address ^ the pool's tag */
    uint32_t free_pages;         /* pool lock */
    uint32_t first_page;         /* pages before it hold this header */
    uint32_t longest;            /* pool lock: pages of the longest free run */
    uint32_t filed;              /* pool lock: the segment bin it is on (0: none) */
    uint32_t dirty_pages;        /* pool lock: pages set in dirty_bits */
    uint64_t epoch_ms;           /* pool lock: when old_bits was last taken */
    uint64_t empty_since_ms;     /* pool lock: when the last run left, 0 if not empty */
    hak_list_node link;          /* pool lock: on the pool's segment list */
    hak_list_node bin_link;      /* pool lock: on the segment bin of `filed` */
    uint32_t age_slot;           /* pool lock: index in the pool's age slots, or HAK_RUNS_AGE_SLOTS */
    uint64_t free_bits[HAK_RUNS_WORDS];  /* pool lock: page is free */
    uint64_t dirty_bits[HAK_RUNS_WORDS]; /* pool lock: free and maybe resident */
    /* pool lock: dirty pages that were already dirty at epoch_ms; a purge
     * pass half a delay later gives them back (see hak_runs_purge). */
    uint64_t old_bits[HAK_RUNS_WORDS];
    uint64_t mark_bits[HAK_RUNS_WORDS];  /* pool lock: run[].state is not NONE */
    uint64_t bin_bits[HAK_RUNS_WORDS];   /* pool lock: a free run of that length */
    uint64_t bin_words;                  /* pool lock: bit k: bin_bits[k] is not 0 */
    /* pool lock: free runs of each length, linked through their heads by
     * page index (0: none; page 0 is the header). */
    uint16_t bin_head[HAK_RUNS_PAGES];
    uint16_t free_next[HAK_RUNS_PAGES];
    uint16_t free_prev[HAK_RUNS_PAGES];
    /* Per page, what a free or an in-place realloc reads of a run, in one
     * record, so that those read one line of the header past its first. */
    hak_run_head run[HAK_RUNS_PAGES];
} hak_runs_segment;

#define HAK_RUNS_REQUEST_SHIFT 5 /* log2 of an alignment below 4 GiB */

typedef struct hak_runs_pool {
    hak_lock lock;
    uint8_t seg_shift;  /* log2 of the segment size */
    uint8_t page_shift; /* log2 of the page size */
    uint8_t segmap;     /* segment map value of its regions */
    uint8_t tag;        /* in the segments' magic */
    bool huge_pages;    /* new segments ask for transparent huge pages */
    hak_list segments;  /* lock: oldest first */
    size_t count;       /* lock: segments mapped */
    /* lock: segments filed by the length of their longest free run (exact,
     * 1 to HAK_RUNS_PAGES - 1 pages); bin 0 unused: a full segment is on
     * none. */
    hak_list bins[HAK_RUNS_PAGES];
    uint64_t bin_bits[HAK_RUNS_WORDS];
    uint64_t bin_words; /* lock: bit k: bin_bits[k] is not 0 */
    /* lock: the first age_count segments of `segments` (the oldest), and
     * the length of each one's longest free run. */
    uint32_t age_count;
    uint16_t age_longest[HAK_RUNS_AGE_SLOTS];
    struct hak_runs_segment *age_seg[HAK_RUNS_AGE_SLOTS];
} hak_runs_pool;

/* Give a pool its geometry.  The pool itself is zero-initialised (in .bss,
 * so the pages of its bins cost nothing until used); this runs once, at
 * initialisation, before any block of the pool exists. */
hak_inline void hak_runs_pool_setup(hak_runs_pool *pool, unsigned seg_shift, unsigned page_shift,
                                    uint8_t segmap, uint8_t tag, bool huge_pages)
{
    pool->seg_shift = (uint8_t)seg_shift;
    pool->page_shift = (uint8_t)page_shift;
    pool->segmap = segmap;
    pool->tag = tag;
    pool->huge_pages = huge_pages;
}

/* The segment and page of address a, for a geometry given as constants:
 * a tier passes its own, so that a free or an in-place realloc reads the
 * run's record without loading the pool first. */
hak_inline hak_runs_segment *hak_runs_segment_at(uintptr_t a, unsigned seg_shift)
{
    return (hak_runs_segment *)(a & ~(((uintptr_t)1 << seg_shift) - 1));
}

hak_inline unsigned hak_runs_page_at(uintptr_t a, unsigned seg_shift, unsigned page_shift)
{
    return (unsigned)((a & (((uintptr_t)1 << seg_shift) - 1)) >> page_shift);
}

hak_inline hak_runs_segment *hak_runs_segment_of(const hak_runs_pool *pool, uintptr_t a)
{
    return hak_runs_segment_at(a, pool->seg_shift);
}

hak_inline unsigned hak_runs_page_of(const hak_runs_pool *pool, uintptr_t a)
{
    return hak_runs_page_at(a, pool->seg_shift, pool->page_shift);
}

hak_inline void *hak_runs_address(const hak_runs_pool *pool, const hak_runs_segment *seg,
                                  unsigned page)
{
    return (char *)seg + ((size_t)page << pool->page_shift);
}

/* Lock held.  Is page i of seg free? */
hak_inline bool hak_runs_page_free(const hak_runs_segment *seg, unsigned i)
{
    return (seg->free_bits[i >> 6] >> (i & 63)) & 1;
}

/* Set the state at a run head. */
hak_inline void hak_runs_set_state(hak_runs_segment *seg, unsigned page, unsigned state)
{
    /* relaxed: misuse-check reads only; the run's owner changes it. */
    atomic_store_explicit(&seg->run[page].state, (uint8_t)state, memory_order_relaxed);
}

/* Map a new segment for the pool (no lock needed); guard: make the page
 * after the header inaccessible.  NULL if it cannot be mapped. */
hak_runs_segment *hak_runs_segment_new(hak_runs_pool *pool, bool guard);
/* Lock held.  Add a new segment to the pool; now: the coarse clock. */
void hak_runs_add(hak_runs_pool *pool, hak_runs_segment *seg, uint64_t now);
/* Lock held.  A run of `pages` pages aligned to align_pages pages, taken
 * from the pool's segments (HAK_RUN_ALLOCATED at its head), or NULL if no
 * segment has room.  *zeroed: it is known to read as zero. */
void *hak_runs_take(hak_runs_pool *pool, unsigned pages, unsigned align_pages, bool *zeroed);
/* Lock held.  Pages [i, i+pages) of seg become free, resident until
 * purged (the caller set the head's state); now: the coarse clock. */
void hak_runs_give_back(hak_runs_pool *pool, hak_runs_segment *seg, unsigned i, unsigned pages,
                        uint64_t now);
/* Lock held.  Grow the run of `have` pages at i to `want` pages from the
 * free run after it; false if that is too short. */
bool hak_runs_grow(hak_runs_pool *pool, hak_runs_segment *seg, unsigned i, unsigned have,
                   unsigned want);
/* Purge free pages that have aged (all of them if force) and unmap
 * segments that stayed empty for a delay (takes the lock); returns the
 * bytes released. */
size_t hak_runs_purge(hak_runs_pool *pool, uint64_t now_ms, bool force);
/* Bytes mapped and free-but-resident (takes the lock). */
void hak_runs_totals(hak_runs_pool *pool, size_t *mapped, size_t *dirty_free);

/* Record what the run at page i was allocated for (align 0: the default).
 * Inline: realloc's in-place case records every new size. */
hak_inline void hak_runs_note_request(hak_runs_segment *seg, unsigned i, size_t size,
                                      size_t align)
{
    unsigned shift = (unsigned)__builtin_ctzll(align > HAK_MIN_ALIGN ? align : HAK_MIN_ALIGN);
    seg->run[i].request = (uint32_t)size << HAK_RUNS_REQUEST_SHIFT | shift;
}

/* What it was allocated for: the size, and the alignment. */
hak_inline size_t hak_runs_request_size(const hak_runs_segment *seg, unsigned i)
{
    return seg->run[i].request >> HAK_RUNS_REQUEST_SHIFT;
}

hak_inline size_t hak_runs_request_align(const hak_runs_segment *seg, unsigned i)
{
    return (size_t)1 << (seg->run[i].request & ((1u << HAK_RUNS_REQUEST_SHIFT) - 1));
}

#endif
