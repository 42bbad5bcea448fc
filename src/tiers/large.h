/*
 * large.h - Large tier (32 KiB < size <= 1 MiB): runs of 4 KiB pages inside
 * 4 MiB Large segments, sized to one of 40 classes (8 per doubling).
 *
 * Each thread keeps a small cache of freed runs per class (no ownership: a
 * run can be freed into any thread's cache).  Misses go to the segments
 * under one lock.  Free pages form maximal free runs (a freed run merges
 * with the free runs on both sides at once); each segment files its free
 * runs by length and the segments are filed by their longest free run, so
 * a miss finds the best-fitting segment and in it the best-fitting run in
 * a few word scans, whatever the number of segments.  Free pages stay
 * resident ("dirty") for between half and one purge delay, then are
 * madvised away; a segment that stays empty for a delay is unmapped.
 *
 * With the secure profile's quarantine a freed run (cleared) is first held
 * by the freeing thread's heap, up to min(quarantine, 16) runs and 4 MiB;
 * the oldest leaves when more come, and must still read as zero then (a
 * write after free is reported).
 */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H

#include "base/list.h"
#include "base/size_class.h"
#include "internal.h"
#include "small/heap.h"

#define HAK_LARGE_PAGES       (HAK_SEGMENT_SIZE >> HAK_PAGE_SHIFT) /* 1024 */
/* Most bytes of freed runs a heap holds in quarantine. */
#define HAK_LARGE_QUARANTINE_BYTES ((size_t)4 << 20)
#define HAK_LARGE_WORDS       (HAK_LARGE_PAGES / 64)

/* Run head states, readable by any thread (misuse checks). */
enum {
    HAK_RUN_NONE = 0,
    HAK_RUN_ALLOCATED = 1,
    HAK_RUN_CACHED = 2,
    HAK_RUN_FREED = 3,
    HAK_RUN_QUARANTINED = 4, /* freed, held back before reuse (secure profile) */
};

typedef struct hak_large_segment {
    uint64_t magic;              /* hak_keys.header ^ address ^ 1 */
    uint32_t free_pages;         /* large lock */
    uint32_t first_page;         /* pages before it hold this header */
    uint32_t longest;            /* large lock: pages of the longest free run */
    uint32_t filed;              /* large lock: the segment bin it is on (0: none) */
    uint32_t dirty_pages;        /* large lock: pages set in dirty_bits */
    uint64_t epoch_ms;           /* large lock: when old_bits was last taken */
    uint64_t empty_since_ms;     /* large lock: when the last run left, 0 if not empty */
    hak_list_node link;          /* large lock: on the segment list */
    hak_list_node bin_link;      /* large lock: on the segment bin of `filed` */
    uint64_t free_bits[HAK_LARGE_WORDS];  /* large lock: page is free */
    uint64_t dirty_bits[HAK_LARGE_WORDS]; /* large lock: free and maybe resident */
    /* large lock: dirty pages that were already dirty at epoch_ms; a purge
     * pass half a delay later gives them back (see hak_large_purge). */
    uint64_t old_bits[HAK_LARGE_WORDS];
    uint64_t mark_bits[HAK_LARGE_WORDS];  /* large lock: run_state is not NONE */
    uint64_t bin_bits[HAK_LARGE_WORDS];   /* large lock: a free run of that length */
    /* large lock: free runs of each length, linked through their heads by
     * page index (0: none; page 0 is the header). */
    uint16_t bin_head[HAK_LARGE_PAGES];
    uint16_t free_next[HAK_LARGE_PAGES];
    uint16_t free_prev[HAK_LARGE_PAGES];
    /* HAK_RUN_* at the head of every allocated or cached run, NONE inside
     * them; a free run keeps FREED at the old heads it absorbed, so that a
     * second free of one is still reported as a double free. */
    _Atomic uint8_t run_state[HAK_LARGE_PAGES];
    /* large lock: the length of the run at its head, and of a free run also
     * at its last page (so a freed neighbour finds its head). */
    uint16_t run_pages[HAK_LARGE_PAGES];
    /* At run heads: what the run was allocated for, for the checks of sized
     * and aligned frees: the size asked for << HAK_LARGE_REQUEST_SHIFT | log2
     * of the alignment asked for (HAK_MIN_ALIGN at least).  Written by the
     * allocating thread; a free that reads it comes after the program handed
     * the pointer over (its own synchronisation orders the two). */
    uint32_t run_request[HAK_LARGE_PAGES];
} hak_large_segment;

#define HAK_LARGE_REQUEST_SHIFT 5 /* log2 of an alignment up to HAK_LARGE_MAX */
_Static_assert((HAK_LARGE_MAX << HAK_LARGE_REQUEST_SHIFT) <= UINT32_MAX,
               "a Large request and its alignment fit run_request");

/* size in (HAK_MID_MAX, HAK_LARGE_MAX] or any size <= HAK_LARGE_MAX with
 * HAK_PAGE_SIZE < align <= HAK_LARGE_MAX, for the calling thread, whose
 * heap is h (NULL: it has none, no run cache).  *zeroed tells whether the
 * run is known to read as zero (fresh or purged pages).  NULL with errno
 * ENOMEM when no segment can be mapped. */
void *hak_large_alloc(hak_heap *h, size_t size, size_t align, bool *zeroed);
/* The same, with a run of exactly size's class: never a larger cached run,
 * so that requests of one small class served from this tier (the secure
 * profile's last Mid class) all get one usable size. */
void *hak_large_alloc_exact(hak_heap *h, size_t size, size_t align, bool *zeroed);
/* p is in a Large segment (segment map says so).  expected_size: 0, or the
 * size a sized free was given; expected_align: 0, or the alignment an
 * aligned free was given.  Either that does not match what p was allocated
 * with is reported as misuse. */
void hak_large_free(void *p, size_t expected_size, size_t expected_align);
size_t hak_large_usable(const void *p);
/* Grow or shrink in place; true if p now holds new_size bytes.  h: the
 * calling thread's heap, for its counters (NULL: none). */
bool hak_large_resize(hak_heap *h, void *p, size_t new_size);
/* Release every run cached or held in quarantine by heap h to the
 * segments. */
void hak_large_cache_flush(hak_heap *h);
/* Purge free pages older than the purge delay (all of them if force);
 * returns bytes purged. */
size_t hak_large_purge(uint64_t now_ms, bool force);
/* Bytes in Large segments: mapped, and free-but-resident. */
void hak_large_totals(size_t *mapped, size_t *dirty_free);
void hak_large_fork_prepare(void);
void hak_large_fork_parent(void);
void hak_large_fork_child(void);

#endif
