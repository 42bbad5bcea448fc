/*
 * segment.c - small segment pools, and the Tiny arena where Tiny segments
 * are placed (see slab.h for what the arena gives the free fast path).
 *
 * Small segments are never unmapped: their slab descriptors are nodes of
 * the lock-free abandoned stacks, which may read a descriptor after it left
 * the stack (see lfstack.h).  Free slabs are purged with madvise, so the
 * memory (RSS) goes back to the OS and only the address range is retained,
 * as jemalloc does by default; a later segment need reuses it.
 *
 * The Tiny arena reserves nothing but its descriptor array (128 MiB of
 * read-only zero pages: no memory, no commit charge); Tiny segments are
 * mapped into the range after it one at a time with MAP_FIXED_NOREPLACE,
 * so only what is used counts against RLIMIT_AS, and a mapping someone
 * else placed in the range is stepped over, never replaced.  Each
 * segment's 8 KiB of descriptors become writable when it is mapped.  The
 * range sits a few TiB below where the kernel places mappings, at a random
 * offset, far from both the libraries and the brk heap.  No arena (Tiny
 * segments placed like Mid ones, descriptors in their headers) when the
 * process runs under RLIMIT_AS, when the address space is too small, when
 * the range cannot be had, or where hakmem stepped aside (a sanitizer
 * runtime wants that part of the address space for itself).
 */
#include "small/segment.h"

#include <errno.h>

#include "base/block.h"
#include "base/counters.h"
#include "base/diag.h"
#include "os/lock.h"
#include "config/options.h"
#include "os/os.h"
#include "base/segment_map.h"

typedef struct segment_pool {
    hak_lock lock;
    hak_list avail;      /* segments with FREE slabs */
    size_t mapped;       /* segments of this kind */
    size_t free_slabs;   /* FREE slabs over all segments */
    size_t dirty_slabs;  /* FREE slabs not purged */
} segment_pool;

static segment_pool segment_pools[HAK_SEG_KINDS];

/* The Tiny arena: segments in it, and the next slot to try (relaxed:
 * mapping with MAP_FIXED_NOREPLACE decides who gets a slot; the counter only
 * spares later callers from retrying taken ones).  Both fixed after init,
 * the counter apart. */
#define ARENA_SEGMENTS ((uint32_t)((HAK_ARENA_BYTES - HAK_ARENA_DESC_BYTES) >> HAK_SEGMENT_SHIFT))
static bool arena_ready;
static _Atomic uint32_t arena_next;

static uintptr_t arena_base(void) { return hak_block_mark; }

void hak_segment_init(bool arena)
{
    uint64_t r;
    hak_os_random(&r, sizeof r);
    const uintptr_t tib = (uintptr_t)1 << 40;
    /* Where the kernel places mappings: just below the libraries, near the
     * top of a 47-bit address space.  Under a process that manages the
     * address space itself (valgrind) new mappings start low, yet the top
     * is free: aim below the usual place then. */
    uintptr_t top = arena ? hak_os_map_hint() : 0;
    if (top < 16 * tib)
        top = (uintptr_t)0x7f << 40;
    if (arena && !hak_os_address_space_limited()) {
        for (int attempt = 0; attempt < 4 && !arena_ready; attempt++) {
            /* 4 to 6 TiB below, 4 MiB aligned. */
            uintptr_t below = 4 * tib + ((r >> (attempt * 8)) % 512) * (4 * tib / 1024);
            uintptr_t base = (top - below - HAK_ARENA_BYTES) & ~(uintptr_t)HAK_SEGMENT_MASK;
            /* The base is the freed mark, whose low half must not be 0
             * (base/block.h); it is 0 when top is a round address. */
            if ((uint32_t)base == 0)
                base -= (uintptr_t)1 << HAK_SEGMENT_SHIFT;
            if (hak_os_map_at((void *)base, HAK_ARENA_DESC_BYTES, false) != NULL) {
                hak_block_mark = base;
                arena_ready = true;
            }
        }
    }
    if (!arena_ready) {
        /* No arena: a random non-canonical address, so the arena's range
         * test fails for every pointer (slab.h) and the freed mark is no
         * pointer at all (block.h). */
        hak_block_mark = ((uintptr_t)1 << 63) | (((uintptr_t)r << HAK_SEGMENT_SHIFT) >> 2) |
                         ((uintptr_t)1 << 31);
    }
}

/* A Tiny segment in the arena, its descriptors writable; NULL when the
 * arena is full, missing or the kernel refuses. */
static hak_segment *segment_map_arena(void)
{
    if (!arena_ready)
        return NULL;
    int saved = errno; /* a malloc that succeeds leaves errno alone */
    for (;;) {
        /* relaxed: see arena_next. */
        uint32_t k = atomic_load_explicit(&arena_next, memory_order_relaxed);
        if (k >= ARENA_SEGMENTS) {
            errno = saved;
            return NULL;
        }
        uintptr_t addr = arena_base() + HAK_ARENA_DESC_BYTES + ((uintptr_t)k << HAK_SEGMENT_SHIFT);
        void *seg = hak_os_map_at((void *)addr, HAK_SEGMENT_SIZE, true);
        if (seg == NULL && errno != EEXIST) {
            errno = saved;
            return NULL; /* out of memory: the slot stays free */
        }
        atomic_compare_exchange_strong_explicit(&arena_next, &k, k + 1, memory_order_relaxed,
                                                memory_order_relaxed);
        if (seg == NULL)
            continue; /* another thread's segment, or someone else's mapping */
        void *descs = hak_arena_slab_at(hak_arena_slot(addr, arena_base()), arena_base());
        size_t desc_bytes = (HAK_SEGMENT_SIZE >> HAK_TINY_SLAB_SHIFT) * sizeof(hak_slab);
        if (!hak_os_protect(descs, desc_bytes, true)) {
            hak_os_unmap(seg, HAK_SEGMENT_SIZE);
            errno = saved;
            return NULL;
        }
        errno = saved;
        return seg;
    }
}
static const uint8_t segment_shift[HAK_SEG_KINDS] = { HAK_TINY_SLAB_SHIFT, HAK_MID_PAGE_SHIFT };

static void segment_list_push(segment_pool *pool, hak_segment *seg)
{
    hak_list_push_front(&pool->avail, &seg->link);
    seg->listed = true;
}

static void segment_list_remove(segment_pool *pool, hak_segment *seg)
{
    hak_list_remove(&pool->avail, &seg->link);
    seg->listed = false;
}

/* Called without the pool lock: mapping can take a while. */
static hak_segment *segment_map_new(unsigned kind)
{
    hak_segment *seg = kind == HAK_SEG_TINY ? segment_map_arena() : NULL;
    if (seg == NULL)
        seg = hak_os_map_aligned(HAK_SEGMENT_SIZE, HAK_SEGMENT_SIZE, 0);
    if (seg == NULL)
        return NULL;
    unsigned shift = segment_shift[kind];
    unsigned count = (unsigned)(HAK_SEGMENT_SIZE >> shift);
    uintptr_t base = (uintptr_t)seg;
    seg->magic = hak_keys.header ^ base;
    seg->shift = (uint8_t)shift;
    seg->slab_count = (uint8_t)count;
    seg->kind = (uint8_t)kind;
    /* Slab 0 holds this header. */
    seg->free_mask = (count == 64 ? ~(uint64_t)0 : (((uint64_t)1 << count) - 1)) & ~(uint64_t)1;
    seg->free_count = count - 1;
    seg->dirty_mask = 0; /* fresh pages read as zero and are not resident */
    for (unsigned i = 0; i < count; i++) {
        hak_slab *s = hak_segment_slab(seg, i);
        s->shift = (uint8_t)shift;
        s->segnum = (uint32_t)(base >> HAK_SEGMENT_SHIFT);
        s->start = base + ((uintptr_t)i << shift);
        s->state = HAK_SLAB_FREE;
        s->cls = HAK_SLAB_NO_CLASS;
    }
    /* After the header is complete: the map is what lets free() look here. */
    hak_segmap_set(base, 1, (uint8_t)shift);
    hak_stats_segment_mapped(HAK_SEGMENT_SIZE);
    return seg;
}

unsigned hak_segment_acquire(unsigned kind, hak_slab **out, unsigned n)
{
    segment_pool *pool = &segment_pools[kind];
    unsigned got = 0;
    hak_lock_acquire(&pool->lock);
    while (got < n) {
        if (hak_list_empty(&pool->avail)) {
            hak_lock_release(&pool->lock);
            hak_segment *fresh = segment_map_new(kind);
            hak_lock_acquire(&pool->lock);
            if (fresh == NULL)
                break;
            pool->mapped++;
            pool->free_slabs += fresh->free_count;
            segment_list_push(pool, fresh);
            continue;
        }
        hak_segment *seg = hak_list_entry(pool->avail.head, hak_segment, link);
        /* Prefer slabs whose pages are still resident: reusing them costs
         * no page faults and lets the clean ones stay unbacked. */
        uint64_t pick = seg->free_mask & seg->dirty_mask;
        if (pick == 0)
            pick = seg->free_mask;
        /* A listed segment has a FREE slab; if not, its counts were
         * corrupted (a slab released twice). */
        if (hak_unlikely(pick == 0))
            hak_fatal_ptr("corrupted segment at", seg, "listed without a free slab");
        unsigned i = (unsigned)__builtin_ctzll(pick);
        uint64_t bit = (uint64_t)1 << i;
        if (seg->dirty_mask & bit) {
            pool->dirty_slabs--;
            hak_retained_sub((size_t)1 << seg->shift);
        }
        seg->free_mask &= ~bit;
        seg->dirty_mask &= ~bit;
        seg->free_count--;
        pool->free_slabs--;
        if (seg->free_count == 0)
            segment_list_remove(pool, seg);
        out[got++] = hak_segment_slab(seg, i);
    }
    hak_lock_release(&pool->lock);
    return got;
}

void hak_segment_release(unsigned kind, hak_slab **slabs, unsigned n)
{
    segment_pool *pool = &segment_pools[kind];
    uint64_t now = hak_os_now_ms();
    hak_lock_acquire(&pool->lock);
    for (unsigned k = 0; k < n; k++) {
        hak_slab *s = slabs[k];
        hak_segment *seg = hak_segment_of(s->start);
        unsigned index = hak_slab_index(s);
        uint64_t bit = (uint64_t)1 << index;
        if (hak_unlikely((seg->free_mask & bit) != 0 || index == 0))
            hak_fatal_ptr("slab released twice at", (void *)s->start, "allocator state corrupted");
        /* relaxed: only misuse checks read these from other threads.  A
         * bump of 0 makes every inline free of a stale pointer into the
         * slab fail its block-start test (front/api.h). */
        atomic_store_explicit(&s->owner, NULL, memory_order_relaxed);
        atomic_store_explicit(&s->in_use, 0, memory_order_relaxed);
        __atomic_store_n(&s->bump, 0, __ATOMIC_RELAXED);
        s->state = HAK_SLAB_FREE;
        s->freed_ms = now;
        seg->free_mask |= bit;
        seg->dirty_mask |= bit;
        seg->free_count++;
        pool->free_slabs++;
        pool->dirty_slabs++;
        hak_retained_add((size_t)1 << seg->shift);
        if (!seg->listed)
            segment_list_push(pool, seg);
    }
    hak_lock_release(&pool->lock);
}

size_t hak_segment_purge(uint64_t now_ms, bool force)
{
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    bool lazy = hak_opt(HAK_OPT_PURGE_MODE) == 1;
    size_t purged = 0;
    for (unsigned kind = 0; kind < HAK_SEG_KINDS; kind++) {
        segment_pool *pool = &segment_pools[kind];
        hak_lock_acquire(&pool->lock);
        if (pool->dirty_slabs == 0) {
            hak_lock_release(&pool->lock);
            continue;
        }
        for (hak_list_node *n = pool->avail.head; n; n = n->next) {
            hak_segment *seg = hak_list_entry(n, hak_segment, link);
            uint64_t dirty = seg->dirty_mask;
            while (dirty) {
                unsigned i = (unsigned)__builtin_ctzll(dirty);
                dirty &= dirty - 1;
                hak_slab *s = hak_segment_slab(seg, i);
                if (!force && now_ms - s->freed_ms < delay)
                    continue;
                size_t size = (size_t)1 << seg->shift;
                hak_os_purge((void *)hak_slab_base(s), size, lazy);
                s->cls = HAK_SLAB_NO_CLASS;
                seg->dirty_mask &= ~((uint64_t)1 << i);
                pool->dirty_slabs--;
                hak_retained_sub(size);
                purged += size;
            }
        }
        hak_lock_release(&pool->lock);
    }
    if (purged)
        hak_stats_purged(purged);
    return purged;
}

void hak_segment_totals_get(hak_segment_totals *t)
{
    t->mapped_bytes = t->free_dirty_bytes = t->free_bytes = t->in_use_bytes = 0;
    t->free_slabs = 0;
    for (unsigned kind = 0; kind < HAK_SEG_KINDS; kind++) {
        segment_pool *pool = &segment_pools[kind];
        size_t slab = (size_t)1 << segment_shift[kind];
        hak_lock_acquire(&pool->lock);
        t->mapped_bytes += pool->mapped * HAK_SEGMENT_SIZE;
        t->free_bytes += pool->free_slabs * slab;
        t->free_slabs += pool->free_slabs;
        t->free_dirty_bytes += pool->dirty_slabs * slab;
        /* Every segment's first slab holds its header. */
        size_t usable = pool->mapped * ((HAK_SEGMENT_SIZE / slab) - 1);
        t->in_use_bytes += (usable - pool->free_slabs) * slab;
        hak_lock_release(&pool->lock);
    }
}

void hak_segment_fork_prepare(void)
{
    for (unsigned kind = 0; kind < HAK_SEG_KINDS; kind++)
        hak_lock_acquire(&segment_pools[kind].lock);
}

void hak_segment_fork_parent(void)
{
    for (unsigned kind = HAK_SEG_KINDS; kind-- > 0;)
        hak_lock_release(&segment_pools[kind].lock);
}

void hak_segment_fork_child(void)
{
    for (unsigned kind = 0; kind < HAK_SEG_KINDS; kind++)
        hak_lock_reset(&segment_pools[kind].lock);
}
