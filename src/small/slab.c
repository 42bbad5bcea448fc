/*
 * slab.c - one slab's free lists: formatting, batch refill out of it, the
 * checked walk of its links, and the owner's side of the full-slab
 * notification handshake.  All of it runs on the owner thread.
 */
#include "small/slab.h"

#include "base/diag.h"
#include "config/secure.h"
#include "small/remote_collect.h"

/* The colour of slab s for a coloured class, in bytes: a function of where
 * the slab lies, so that the slabs of one segment (16 Mid slabs) all differ
 * and consecutive segments shift the sequence.  Reproducible from run to
 * run, unlike a random one, so that timings are too. */
static size_t slab_color(const hak_slab *s)
{
    unsigned k = (hak_slab_index(s) * 23u + s->segnum * 5u) % HAK_SLAB_COLORS;
    return (size_t)k * HAK_SLAB_COLOR_STEP;
}

void hak_slab_format(hak_slab *s, hak_heap *h, unsigned cls)
{
    const hak_class_info *ci = &hak_classes[cls];
    s->block_size = ci->size;
    s->sized_max = ci->size - (hak_secure.canaries ? HAK_SECURE_TAIL : 0);
    /* A coloured slab gives up the block its colour does not leave room
     * for at the end (some classes' slack holds it). */
    size_t color = hak_class_is_colored(cls) ? slab_color(s) : 0;
    s->start = hak_slab_base(s) + color;
    s->capacity = (uint16_t)((((size_t)1 << s->shift) - color) / ci->size);
    s->cls = (uint8_t)cls;
    s->cache_off = (uint16_t)(offsetof(hak_heap, cache) + cls * sizeof(hak_cache));
    /* Inverse of the odd part of the size mod 2^64 by Newton's iteration
     * (each step doubles the correct low bits: 3, 6, 12, 24, 48, 96). */
    unsigned tz = (unsigned)__builtin_ctz(ci->size);
    uint64_t odd = ci->size >> tz, inv = odd;
    for (int i = 0; i < 5; i++)
        inv *= 2 - odd * inv;
    s->block_inv = inv;
    s->block_tz = (uint8_t)tz;
    for (unsigned k = 0; k < HAK_SLAB_FREE_LISTS; k++)
        s->free[k] = NULL;
    s->used = 0;
    /* relaxed: see hak_slab_bump; an empty slab has no block out. */
    __atomic_store_n(&s->bump, 0, __ATOMIC_RELAXED);
    s->link.next = s->link.prev = NULL;
    /* relaxed: a fresh or emptied slab has no remote frees pending (every
     * block came back), and nobody else can reach it until we hand out a
     * block, which the program then publishes itself. */
    atomic_store_explicit(&s->thread_free, HAK_TF_NORMAL, memory_order_relaxed);
    atomic_store_explicit(&s->in_use, 1, memory_order_relaxed);
    atomic_store_explicit(&s->owner, h, memory_order_relaxed);
}

hak_block *hak_slab_checked_next(const hak_slab *s, const hak_block *b)
{
    uintptr_t next = hak_block_next(b);
    if (next == 0)
        return NULL;
    if (hak_unlikely((next >> s->shift) != (s->start >> s->shift) ||
                     !hak_slab_is_block_start(s, next)))
        hak_fatal_ptr("corrupted free list at", b,
                      "a freed block was overwritten: use after free or buffer overflow");
    return (hak_block *)next;
}

/* Take up to want blocks off s's local free lists.  The blocks on them
 * were freed a while ago, so each link read is likely a cache miss, and in
 * one list each read needs the one before: the lists are walked in step,
 * one block of each per round, so up to HAK_SLAB_FREE_LISTS misses are in
 * flight at once. */
static unsigned slab_take_local(hak_slab *s, void **out, unsigned want)
{
    hak_block *b[HAK_SLAB_FREE_LISTS];
    for (unsigned k = 0; k < HAK_SLAB_FREE_LISTS; k++)
        b[k] = s->free[k];
    unsigned n = 0;
    for (;;) {
        unsigned before = n;
        for (unsigned k = 0; k < HAK_SLAB_FREE_LISTS; k++) {
            if (b[k] != NULL && n < want) {
                out[n++] = b[k];
                b[k] = hak_slab_checked_next(s, b[k]);
            }
        }
        if (n == before || n == want)
            break;
    }
    for (unsigned k = 0; k < HAK_SLAB_FREE_LISTS; k++)
        s->free[k] = b[k];
    return n;
}

unsigned hak_slab_refill(hak_slab *s, void **out, unsigned want)
{
    /* Local free lists first, then what other threads freed (collected only
     * when the local lists run dry), then never-used blocks. */
    unsigned n = slab_take_local(s, out, want);
    while (n < want && hak_remote_collect_slab(s) != 0)
        n += slab_take_local(s, out + n, want - n);
    if (n < want && s->bump < s->capacity) {
        unsigned k = want - n;
        if (k > (unsigned)(s->capacity - s->bump))
            k = (unsigned)(s->capacity - s->bump);
        /* A Mid class's blocks lie pages apart, and carving makes the page
         * each carved block starts on resident (the mark, below): carved
         * blocks beyond what the program holds at once would be pages it
         * never uses.  So a Mid refill carves at most a page's worth (at
         * least one block); its free lists and remote frees still come in
         * whole batches, and the cache asks again when it runs dry.  Tiny
         * blocks are packed: a batch of them spans few pages. */
        if (hak_slab_kind(s) == HAK_SEG_MID && k > hak_blocks_per_page(s->block_size))
            k = hak_blocks_per_page(s->block_size);
        /* Lowest address last in `out`, so the cache hands out never-used
         * blocks in ascending address order.  Each carved block carries the
         * freed mark, like every block waiting in a cache: a free() of one
         * that malloc has not handed out yet is caught as a double free
         * instead of entering the cache twice. */
        uintptr_t first = s->start + (uintptr_t)s->bump * s->block_size;
        for (unsigned i = 0; i < k; i++) {
            hak_block *b = (hak_block *)(first + (uintptr_t)(k - 1 - i) * s->block_size);
            hak_track_internal_open(b);
            hak_block_mark_freed(b);
            hak_track_internal_close(b);
            out[n + i] = b;
        }
        /* relaxed: see hak_slab_bump. */
        __atomic_store_n(&s->bump, s->bump + k, __ATOMIC_RELAXED);
        n += k;
    }
    s->used = (uint16_t)(s->used + n);
    return n;
}

bool hak_slab_arm_notify(hak_slab *s)
{
    /* relaxed: the CAS below is what matters. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    for (;;) {
        if ((old & ~(uintptr_t)HAK_TF_TAG_MASK) != 0)
            return false;
        uintptr_t tag = old & HAK_TF_TAG_MASK;
        /* NOTIFY: already armed.  NOTIFYING: a block is on its way to our
         * inbox, which will put the slab back in use. */
        if (tag != HAK_TF_NORMAL)
            return true;
        /* release: pairs with the remote freer's acquire when it reads the
         * tag; nothing else of ours has to be published. relaxed would do,
         * release keeps the reasoning simple. */
        if (atomic_compare_exchange_weak_explicit(&s->thread_free, &old, HAK_TF_NOTIFY,
                                                  memory_order_release, memory_order_relaxed))
            return true;
    }
}

void hak_slab_disarm_notify(hak_slab *s)
{
    /* relaxed: the slab is back in the owner's pools; a remote freer that
     * still sees NOTIFY just takes the slower inbox path, which is correct. */
    uintptr_t old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    while ((old & HAK_TF_TAG_MASK) == HAK_TF_NOTIFY &&
           !atomic_compare_exchange_weak_explicit(&s->thread_free, &old,
                                                  old & ~(uintptr_t)HAK_TF_TAG_MASK,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}
