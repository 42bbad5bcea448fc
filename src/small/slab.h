/*
 * slab.h - slabs (Tiny, 64 KiB) and pages (Mid, 256 KiB) of one size class,
 * and the small segments that hold them.
 *
 * A slab is owned by one heap (thread).  Only the owner touches the
 * owner-private fields (free list, bump index, used count, list links).
 * Blocks come back to it from other threads in batches through the owner
 * heap's inbox (small/remote_free.c), or one at a time by pushing onto
 * `thread_free` with one CAS, which the owner collects in batch.
 *
 * Descriptors live apart from the blocks (hardening: no overflow of a block
 * reaches allocator metadata), so a slab's memory is all blocks and its
 * first block is aligned to the slab size.  Where the descriptor lives:
 *   - Tiny slabs of the Tiny arena: in the arena's descriptor array.  The
 *     arena is one range of address space, HAK_ARENA_BYTES long, starting
 *     at hak_block_mark (base/block.h); its first HAK_ARENA_DESC_BYTES hold
 *     one descriptor per 64 KiB slot of the whole range, and Tiny segments
 *     are placed after them (small/segment.c).  So a pointer's descriptor
 *     is base + ((p - base) >> 9, rounded down to a descriptor), and the
 *     same subtraction tells whether p is in the arena at all: the free
 *     fast path needs no segment map lookup for Tiny blocks (front/api.h).
 *     Slots of the array that describe no live slab read as zero (bump 0),
 *     so a stray pointer into the range is never taken for a block.
 *   - every other small slab (Mid pages; Tiny segments mapped outside the
 *     arena when it is full, unavailable or disabled): in its segment's
 *     header, which fills the segment's first slab.
 *
 * thread_free holds a list head (bits 4..47; blocks are 16-aligned), the
 * number of blocks on the list (bits 48..63, so the owner collects the list
 * without walking it) and a 2-bit tag (bits 0..1):
 *   NORMAL     remote frees push blocks here, nothing else to do.
 *   NOTIFY     the owner saw the slab full and wants to hear of the next
 *              remote free: the first remote freer moves the tag to
 *              NOTIFYING, hands its block to the owner heap's inbox
 *              (so the owner puts the slab back in use) and resets NORMAL.
 *   NOTIFYING  that hand-off is in progress.
 *   ABANDONED  the owner exited and the slab had no free block: the next
 *              remote freer pushes its block, sets NORMAL and lists the slab
 *              on its class's shared abandoned stack for adoption.
 */
#ifndef HAK_SLAB_H
#define HAK_SLAB_H

#include "base/block.h"
#include "base/list.h"
#include "base/segment_map.h"
#include "base/size_class.h"
#include "internal.h"

struct hak_heap;

enum {
    HAK_TF_NORMAL = 0,
    HAK_TF_NOTIFY = 1,
    HAK_TF_NOTIFYING = 2,
    HAK_TF_ABANDONED = 3,
    HAK_TF_TAG_MASK = 3,
};

#define HAK_TF_COUNT_SHIFT 48
#define HAK_TF_COUNT_MAX   0xffffu
#define HAK_TF_PTR_MASK    ((((uintptr_t)1 << HAK_TF_COUNT_SHIFT) - 1) & ~(uintptr_t)HAK_TF_TAG_MASK)

hak_inline hak_block *hak_tf_head(uintptr_t w) { return (hak_block *)(w & HAK_TF_PTR_MASK); }
hak_inline unsigned hak_tf_count(uintptr_t w) { return (unsigned)(w >> HAK_TF_COUNT_SHIFT); }

/* Owner-private placement of a slab (meaningful while owned). */
enum {
    HAK_SLAB_FREE = 0,  /* in its segment, not formatted */
    HAK_SLAB_EMPTY,     /* in a heap's empty-slab cache */
    HAK_SLAB_WARM,      /* in the class's warm pool */
    HAK_SLAB_PARTIAL,   /* owned, has free blocks, warm pool was full */
    HAK_SLAB_FULL,      /* owned, every block handed out */
    HAK_SLAB_ABANDONED, /* owner exited */
};

/* Local free lists per slab (a power of two). */
#define HAK_SLAB_FREE_LISTS 4

typedef struct hak_slab {
    /* Line 0: read by every free of one of its blocks. */
    _Atomic(struct hak_heap *) owner; /* NULL: free or abandoned */
    /* Block-start test (hak_slab_offset_ok): block_size is 2^block_tz
     * times an odd factor whose inverse mod 2^64 is block_inv. */
    uint64_t block_inv;
    /* First block: the slab's address, plus its colour (base/size_class.h)
     * while it is formatted for a coloured class. */
    uintptr_t start;
    /* Blocks [0, bump) have been carved out of the slab; [bump, capacity)
     * were never handed out, so the block-start test is bounded by bump
     * (64-bit: compared with a 64-bit value on the free fast path).  Only
     * the owner writes it, and only upwards until the slab is formatted
     * again; other threads read it with relaxed loads (hak_slab_bump). */
    uint64_t bump;
    uint32_t block_size;
    uint16_t capacity;                /* blocks in the slab */
    uint8_t cls;                      /* kept while FREE: the class its resident pages served */
    _Atomic uint8_t in_use;           /* formatted for a class (owned or abandoned) */
    uint8_t block_tz;                 /* trailing zero bits of block_size */
    uint8_t shift;                    /* log2 slab size */
    /* Owner-private. */
    uint8_t state;                    /* HAK_SLAB_* */
    uint8_t warm_idx;                 /* index in the warm pool while WARM */
    uint16_t used;                    /* blocks out, in caches or with the user */
    /* The slab's class's cache in any heap: its byte offset in
     * struct hak_heap (small/heap.h), so a free reaches the freeing
     * thread's cache of the class with one load. */
    uint16_t cache_off;
    /* The largest size a sized free of one of its blocks may name: the
     * block size, less the secure profile's canary (config/secure.h). */
    uint32_t sized_max;
    uint64_t freed_ms;                /* segment lock: when it became FREE */

    /* Line 1: written by other threads (thread_free, lf_next); the owner's
     * list link and local free lists, touched only on slow paths, fill it
     * up. */
    _Alignas(HAK_CACHE_LINE) _Atomic uintptr_t thread_free;
    _Atomic uint32_t lf_next;         /* link in a shared lock-free stack */
    uint32_t segnum;                  /* address >> HAK_SEGMENT_SHIFT */
    hak_list_node link;               /* owner-private: on the PARTIAL or FULL list */
    /* Owner-private: the local free lists, encoded links.  Several short
     * chains instead of one long one: a refill walks them side by side,
     * so the cache misses on blocks freed long ago overlap instead of
     * following one another (hak_slab_refill). */
    hak_block *free[HAK_SLAB_FREE_LISTS];
} hak_slab;

_Static_assert(sizeof(hak_slab) == 2 * HAK_CACHE_LINE, "slab descriptor is two cache lines");
_Static_assert(offsetof(hak_slab, thread_free) == HAK_CACHE_LINE, "remote-written fields on line 1");

/* hak_slab.cls of a FREE slab whose memory holds no class's blocks: never
 * formatted, or purged since. */
#define HAK_SLAB_NO_CLASS 0xFF
_Static_assert(HAK_SMALL_CLASSES < HAK_SLAB_NO_CLASS, "class numbers fit below HAK_SLAB_NO_CLASS");

#define HAK_SEGMENT_SLABS_MAX 64
#define HAK_SLAB_DESC_SHIFT 7 /* log2 sizeof(hak_slab) */
#define HAK_TINY_SLAB_SIZE ((size_t)1 << HAK_TINY_SLAB_SHIFT)

/* The Tiny arena (see the top of this file): 64 GiB of address space, of
 * which the first 128 MiB are the descriptor array. */
#define HAK_ARENA_SHIFT 36
#define HAK_ARENA_BYTES ((uintptr_t)1 << HAK_ARENA_SHIFT)
#define HAK_ARENA_DESC_BYTES ((uintptr_t)1 << (HAK_ARENA_SHIFT - HAK_TINY_SLAB_SHIFT + HAK_SLAB_DESC_SHIFT))

/* Small segment: slab 0's memory holds this header; slabs 1.. are usable. */
typedef struct hak_segment {
    uint64_t magic;            /* hak_keys.header ^ address */
    uint8_t shift;             /* slab shift == segment map value */
    uint8_t slab_count;        /* slabs in the segment, the header's included */
    uint8_t kind;              /* HAK_SEG_TINY / HAK_SEG_MID */
    bool listed;               /* pool lock: on the kind's available list */
    uint32_t free_count;       /* pool lock: FREE slabs */
    uint64_t free_mask;        /* pool lock: bit i: slab i is FREE */
    uint64_t dirty_mask;       /* pool lock: FREE slabs whose pages may be resident */
    hak_list_node link;        /* pool lock: on the kind's available list */
    hak_slab slabs[HAK_SEGMENT_SLABS_MAX];
} hak_segment;

enum { HAK_SEG_TINY = 0, HAK_SEG_MID = 1, HAK_SEG_KINDS = 2 };

hak_inline hak_segment *hak_segment_of(uintptr_t addr)
{
    return (hak_segment *)(addr & ~(uintptr_t)HAK_SEGMENT_MASK);
}

/* Byte offset of addr's descriptor in the arena's array, scaled so that
 * it is below HAK_ARENA_DESC_BYTES exactly when addr is in the arena
 * (base: hak_block_mark, passed in so the fast path loads it once). */
hak_inline uintptr_t hak_arena_slot(uintptr_t addr, uintptr_t base)
{
    return (addr - base) >> (HAK_TINY_SLAB_SHIFT - HAK_SLAB_DESC_SHIFT);
}

/* slot: hak_arena_slot of an address in the arena. */
hak_inline hak_slab *hak_arena_slab_at(uintptr_t slot, uintptr_t base)
{
    return (hak_slab *)(base + (slot & ~(uintptr_t)(sizeof(hak_slab) - 1)));
}

hak_inline bool hak_arena_contains(uintptr_t addr)
{
    return hak_arena_slot(addr, hak_block_mark) < HAK_ARENA_DESC_BYTES;
}

/* addr is in a small segment outside the arena whose segment map value
 * is `shift`. */
hak_inline hak_slab *hak_slab_of_segment(uintptr_t addr, unsigned shift)
{
    return &hak_segment_of(addr)->slabs[(addr & HAK_SEGMENT_MASK) >> shift];
}

/* `shift` is the segment map value of addr's region. */
hak_inline hak_slab *hak_slab_of(uintptr_t addr, unsigned shift)
{
    if (shift == HAK_TINY_SLAB_SHIFT && hak_arena_contains(addr))
        return hak_arena_slab_at(hak_arena_slot(addr, hak_block_mark), hak_block_mark);
    return hak_slab_of_segment(addr, shift);
}

/* The slab of a block known to be a Tiny or Mid block (from a cache or a
 * free list): the arena's array first, the segment map only outside it. */
hak_inline hak_slab *hak_slab_of_block(uintptr_t addr)
{
    uintptr_t base = hak_block_mark;
    uintptr_t slot = hak_arena_slot(addr, base);
    if (hak_likely(slot < HAK_ARENA_DESC_BYTES))
        return hak_arena_slab_at(slot, base);
    return hak_slab_of_segment(addr, hak_segmap_get(addr));
}

/* Does heap h own slab s?  relaxed: only h itself makes s its own or lets
 * it go, so equality with ourselves is stable whatever other threads do
 * (abandon and adoption happen on the owner's own thread or on slabs
 * nobody owns); a stale other owner only sends a block the slow way. */
hak_inline bool hak_slab_owned_by(const hak_slab *s, const struct hak_heap *h)
{
    return atomic_load_explicit(&s->owner, memory_order_relaxed) == h;
}

/* Slab i of a small segment. */
hak_inline hak_slab *hak_segment_slab(hak_segment *seg, unsigned i)
{
    return hak_slab_of((uintptr_t)seg + ((uintptr_t)i << seg->shift), seg->shift);
}

hak_inline unsigned hak_slab_kind(const hak_slab *s)
{
    return s->shift == HAK_TINY_SLAB_SHIFT ? HAK_SEG_TINY : HAK_SEG_MID;
}

/* The slab's address (its first block's, less its colour). */
hak_inline uintptr_t hak_slab_base(const hak_slab *s)
{
    return s->start & ~(((uintptr_t)1 << s->shift) - 1);
}

/* Index of the slab in its segment. */
hak_inline unsigned hak_slab_index(const hak_slab *s)
{
    return (unsigned)((s->start & HAK_SEGMENT_MASK) >> s->shift);
}

/* Global id for the lock-free stacks: (segment number << 6) | index. */
hak_inline uint32_t hak_slab_id(const hak_slab *s) { return (s->segnum << 6) | hak_slab_index(s); }

hak_inline hak_slab *hak_slab_from_id(uint32_t id)
{
    return hak_segment_slab((hak_segment *)((uintptr_t)(id >> 6) << HAK_SEGMENT_SHIFT), id & 63);
}

hak_inline bool hak_slab_has_local_list(const hak_slab *s)
{
    uintptr_t any = 0;
    for (unsigned k = 0; k < HAK_SLAB_FREE_LISTS; k++)
        any |= (uintptr_t)s->free[k];
    return any != 0;
}

hak_inline bool hak_slab_has_local_free(const hak_slab *s)
{
    return hak_slab_has_local_list(s) || s->bump < s->capacity;
}

/* Push b, one of s's blocks that has come back, on a local free list.  The
 * lists take turns (by the count of blocks out, which each return lowers),
 * so they stay about equally long and a refill walks them in step. */
hak_inline void hak_slab_push_local(hak_slab *s, hak_block *b)
{
    hak_block **head = &s->free[s->used & (HAK_SLAB_FREE_LISTS - 1)];
    hak_block_set_next(b, *head);
    *head = b;
}

/* The bump frontier read by a thread that may not own the slab.  Relaxed
 * suffices: a block the program hands to another thread was carved before
 * malloc returned it, and the program's own synchronisation that passed
 * the pointer orders that carving before this read; bump never shrinks
 * while any block of the slab is out (only formatting an empty slab resets
 * it).  A racing misuse can only see a smaller bump and reject a pointer. */
hak_inline uint64_t hak_slab_bump(const hak_slab *s)
{
    return __atomic_load_n(&s->bump, __ATOMIC_RELAXED);
}

/* Is byte offset `off` (from the slab start) the start of one of the
 * slab's blocks?  Exact divisibility by the block size d = 2^t * o (o odd)
 * in one multiplication: y = off * o^-1 mod 2^64 keeps off's low t bits,
 * and rotating right by t leaves off/d when d divides off (multiplying by
 * o^-1 maps the multiples of o onto 0, 1, 2, ... in order) and a huge
 * number otherwise (low bits rotated to the top, or a non-multiple of o).
 * Comparing with capacity also bounds the index, so a pointer into the
 * slab's never-carved tail is rejected: a block that was never handed out
 * is not a block to free.  Owner thread (plain read of bump). */
hak_inline bool hak_slab_offset_ok(const hak_slab *s, uintptr_t off)
{
    uint64_t y = (uint64_t)off * s->block_inv;
    unsigned t = s->block_tz; /* 4..15: every block size is a multiple of 16 */
    y = (y >> t) | (y << (-t & 63)); /* a rotation, also for t == 0 (a zeroed descriptor) */
    return y < s->bump;
}

/* Is `addr` exactly the start of a block of slab `s` that was carved?  Any
 * thread. */
hak_inline bool hak_slab_is_block_start(const hak_slab *s, uintptr_t addr)
{
    uint64_t y = (uint64_t)(addr - s->start) * s->block_inv;
    unsigned t = s->block_tz;
    y = (y >> t) | (y << (-t & 63)); /* a rotation, also for t == 0 (a zeroed descriptor) */
    return y < hak_slab_bump(s);
}

/* slab.c */
void hak_slab_format(hak_slab *s, struct hak_heap *h, unsigned cls);

/* Move up to `want` blocks into out[0..n): local free lists, then collected
 * remote frees (small/remote_collect.c), then never-used blocks.  out[n-1] is the one to hand out
 * first.  Returns n. */
unsigned hak_slab_refill(hak_slab *s, void **out, unsigned want);
/* Ask to be told of the next remote free; false if remote frees are
 * already waiting (the slab is not really full then). */
bool hak_slab_arm_notify(hak_slab *s);
void hak_slab_disarm_notify(hak_slab *s);
/* Decode and check one link of slab `s`'s lists; aborts on corruption. */
hak_block *hak_slab_checked_next(const hak_slab *s, const hak_block *b);

#endif
