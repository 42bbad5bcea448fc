/*
 * test_batch_refill.c - moving blocks from a slab into a cache in batches:
 * from the bump region, the local free list and the collected remote
 * frees, without losing or duplicating a block.
 */
#include "test_util.h"

#include "small/heap.h"
#include "small/remote_collect.h"
#include "os/os.h"
#include "small/remote_free.h"
#include "base/size_class.h"
#include "small/slab.h"

/* A slab outside any segment, formatted for class cls (Tiny or Mid). */
static hak_slab *refill_slab(unsigned cls)
{
    hak_free(hak_malloc(1)); /* initialise keys */
    static hak_slab s;
    size_t bytes = (size_t)1 << hak_classes[cls].slab_shift;
    void *mem = hak_os_map_aligned(bytes, bytes, 0);
    cr_assert_not_null(mem);
    memset(&s, 0, sizeof s);
    s.shift = hak_classes[cls].slab_shift;
    s.start = (uintptr_t)mem;
    hak_slab_format(&s, hak_heap_current(), cls);
    return &s;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Every block of the slab exactly once. */
static void expect_all_blocks(const hak_slab *s, void **blocks, unsigned n)
{
    cr_assert_eq(n, s->capacity);
    qsort(blocks, n, sizeof *blocks, cmp_ptr);
    for (unsigned i = 0; i < n; i++)
        cr_assert_eq((uintptr_t)blocks[i], s->start + (uintptr_t)i * s->block_size,
                     "block %u lost or duplicated", i);
}

Test(batch_refill, fresh_slab_bump_run_in_address_order)
{
    hak_slab *s = refill_slab(hak_tiny_class_of(48));
    void *out[64];
    unsigned n = hak_slab_refill(s, out, 32);
    cr_assert_eq(n, 32);
    cr_assert_eq(s->used, 32);
    cr_assert_eq(s->bump, 32);
    /* out[n-1] is handed out first: the lowest address. */
    for (unsigned i = 0; i < n; i++)
        cr_assert_eq((uintptr_t)out[n - 1 - i], s->start + (uintptr_t)i * 48);
}

Test(batch_refill, no_block_lost_or_duplicated)
{
    hak_slab *s = refill_slab(hak_tiny_class_of(80));
    unsigned cap = s->capacity;
    void **all = calloc(cap, sizeof *all);
    uint64_t rng = 3;
    for (int round = 0; round < 4; round++) {
        unsigned n = 0;
        while (n < cap) {
            unsigned want = 1 + (unsigned)(test_rand(&rng) % 64);
            unsigned got = hak_slab_refill(s, all + n, want);
            cr_assert(got == want || n + got == cap, "short batch %u of %u", got, want);
            n += got;
        }
        cr_assert_eq(hak_slab_refill(s, all + n, 1), 0, "exhausted slab gives nothing");
        cr_assert_eq(s->used, cap);
        expect_all_blocks(s, all, n);
        /* Give them back in random order: a third through the remote
         * (thread-free) list, the rest on the local free list. */
        for (unsigned i = cap - 1; i > 0; i--) {
            unsigned j = (unsigned)(test_rand(&rng) % (i + 1));
            void *t = all[i];
            all[i] = all[j];
            all[j] = t;
        }
        for (unsigned i = 0; i < cap; i++) {
            hak_block *b = all[i];
            hak_block_mark_freed(b);
            if (i % 3 == 0) {
                hak_remote_free_push(s, b);
            } else {
                hak_slab_push_local(s, b);
                s->used--;
            }
        }
    }
}

/* Carving makes the page each new block starts on resident, and a Mid
 * class's blocks lie pages apart: a Mid refill carves at most a page's
 * worth of new blocks (one, for blocks of a page or more), while blocks
 * on its free lists still come back in a whole batch. */
Test(batch_refill, a_mid_refill_carves_at_most_a_page_of_new_blocks)
{
    static const size_t sizes[] = { 1280, 3072, 4096, 8192, 32768 };
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        hak_slab *s = refill_slab(hak_mid_class_of(sizes[i]));
        cr_assert_eq(hak_slab_kind(s), HAK_SEG_MID);
        unsigned page = hak_blocks_per_page(s->block_size);
        void *out[64];
        cr_assert_eq(hak_slab_refill(s, out, 16), page, "%zu B: one page's worth carved", sizes[i]);
        cr_assert_eq(s->bump, page);
        unsigned n = page;
        while (n < 8 && s->bump < s->capacity)
            n += hak_slab_refill(s, out + n, 16);
        cr_assert_geq(n, 8 < s->capacity ? 8 : s->capacity, "%zu B: refills go on carving", sizes[i]);
        for (unsigned k = 0; k < n; k++) {
            hak_block_mark_freed(out[k]);
            hak_slab_push_local(s, out[k]);
            s->used--;
        }
        unsigned bump = s->bump;
        unsigned want = n + page + 1;
        unsigned got = hak_slab_refill(s, out, want);
        unsigned fresh = s->capacity - bump < page ? s->capacity - bump : page;
        cr_assert_eq(got, n + fresh, "%zu B: the free lists whole, then a page's worth", sizes[i]);
        cr_assert_eq(s->bump, bump + fresh);
        hak_os_unmap((void *)hak_slab_base(s), (size_t)1 << s->shift);
    }
}

/* Blocks coming back take turns among the slab's local free lists, so the
 * lists stay equally long (a refill walks them side by side), and a refill
 * takes from all of them. */
Test(batch_refill, local_lists_take_turns)
{
    hak_slab *s = refill_slab(hak_tiny_class_of(64));
    enum { N = 4 * HAK_SLAB_FREE_LISTS + 3 };
    void *out[N];
    cr_assert_eq(hak_slab_refill(s, out, N), N);
    for (unsigned i = 0; i < N; i++) {
        hak_block_mark_freed(out[i]);
        hak_slab_push_local(s, out[i]);
        s->used--;
    }
    unsigned len[HAK_SLAB_FREE_LISTS], total = 0, lo = N, hi = 0;
    for (unsigned k = 0; k < HAK_SLAB_FREE_LISTS; k++) {
        len[k] = 0;
        for (hak_block *b = s->free[k]; b; b = hak_slab_checked_next(s, b))
            len[k]++;
        total += len[k];
        lo = len[k] < lo ? len[k] : lo;
        hi = len[k] > hi ? len[k] : hi;
    }
    cr_assert_eq(total, N);
    cr_assert_leq(hi - lo, 1, "the lists hold %u to %u blocks", lo, hi);
    /* A refill of one block per list takes one from each. */
    void *again[HAK_SLAB_FREE_LISTS];
    cr_assert_eq(hak_slab_refill(s, again, HAK_SLAB_FREE_LISTS), HAK_SLAB_FREE_LISTS);
    for (unsigned k = 0; k < HAK_SLAB_FREE_LISTS; k++) {
        unsigned now = 0;
        for (hak_block *b = s->free[k]; b; b = hak_slab_checked_next(s, b))
            now++;
        cr_assert_eq(now, len[k] - 1, "list %u gave one block", k);
    }
    cr_assert_eq(s->bump, N, "no new block carved while the lists had some");
}

Test(batch_refill, collects_remote_frees_when_local_list_is_empty)
{
    hak_slab *s = refill_slab(hak_tiny_class_of(16));
    void *out[64];
    cr_assert_eq(hak_slab_refill(s, out, 8), 8);
    for (int i = 0; i < 8; i++) {
        hak_block_mark_freed(out[i]);
        hak_remote_free_push(s, out[i]);
    }
    cr_assert_eq(s->used, 8, "remote frees stay counted until collected");
    cr_assert_eq(hak_remote_collect_slab(s), 8);
    cr_assert_eq(s->used, 0);
    void *again[64];
    cr_assert_eq(hak_slab_refill(s, again, 8), 8);
    cr_assert_eq(s->bump, 8, "collected blocks are reused before new ones");
}

/* A class's first refill from a slab takes a page's worth of blocks, each
 * later one twice as many up to the batch: a thread that uses a class
 * little leaves few blocks of it carved and cached. */
Test(batch_refill, cache_refills_ramp_up_to_the_batch)
{
    unsigned cls = hak_tiny_class_of(200);
    uint32_t page = (uint32_t)(HAK_PAGE_SIZE / hak_classes[cls].size);
    void *p = hak_malloc(200);
    hak_heap *h = hak_heap_current();
    uint32_t batch = h->batch[cls];
    cr_assert_gt(batch, page, "precondition: a page's worth is less than a batch");
    cr_assert_eq(h->cstats[cls].refills, 1);
    cr_assert_eq(h->cstats[cls].refill_blocks, page);
    cr_assert_eq(hak_heap_cache_count(h, cls), page - 1);
    /* Drain the cache each time: every next malloc refills once more. */
    static void *q[1024];
    unsigned n = 0;
    uint32_t want = page;
    for (unsigned refill = 2; refill <= 4; refill++) {
        while (hak_heap_cache_count(h, cls) > 0)
            q[n++] = hak_malloc(200);
        uint64_t before = h->cstats[cls].refill_blocks;
        q[n++] = hak_malloc(200);
        want = 2 * want < batch ? 2 * want : batch;
        cr_assert_eq(h->cstats[cls].refills, refill);
        cr_assert_eq(h->cstats[cls].refill_blocks - before, want, "refill %u", refill);
    }
    cr_assert_eq(want, batch, "the ramp reached the batch");
    for (unsigned i = 0; i < n; i++)
        hak_free(q[i]);
    hak_free(p);
}
