/*
 * alloc.c - the hak_* API and the out-of-line parts of every entry point:
 * the Tiny/Mid miss and overflow, calloc, realloc, the aligned family,
 * usable size, and the free paths that are not a local Tiny/Mid free
 * (remote, Large, Huge, misuse).
 *
 * Maintenance runs here, at the front's safe points, never from inside a
 * mechanism: the thread's safe point (background thread, the inbox of handed-back blocks,
 * learned caps, trim requests) at the top of every small miss, the purge
 * tick after every free that reached the pools, and one retry after
 * hak_purge_all when a tier could not map memory.
 */
#include <errno.h>
#include <string.h>

#include "front/api.h"

#include "front/harden.h"

#include "base/counters.h"
#include "base/diag.h"
#include "config/forward.h"
#include "config/options.h"
#include "config/secure.h"
#include "config/symbols.h"
#include "hakmem.h"
#include "runtime/background.h"
#include "runtime/init.h"
#include "runtime/live.h"
#include "runtime/prof.h"
#include "runtime/purge.h"
#include "runtime/thread.h"
#include "small/remote_free.h"
#include "tiers/cache.h"
#include "tiers/huge.h"
#include "tiers/large.h"
#include "tiers/zero.h"

/* ---- misuse ---- */

/* Where addr, an address in slab s (formatted for a class), falls. */
enum alloc_small_place { ALLOC_BLOCK, ALLOC_NEVER_HANDED_OUT, ALLOC_NOT_A_BLOCK };

/* Blocks [bump, capacity) of a slab were never handed out.  bump is the
 * owner's field, read here by any thread without synchronisation; that is
 * safe because it only grows while the slab keeps its class (it restarts
 * at 0 only when the slab is formatted again, once every block came back,
 * and then any pointer into it is misuse anyway), so:
 *   - a block the program holds was handed out when bump had passed it,
 *     and whatever handed the pointer to this thread (the program's own
 *     synchronisation) came after: the read sees that value or a larger
 *     one, never a false report;
 *   - for a block never handed out a stale read is smaller still: it is
 *     rejected; a fresh one may find it handed out to someone meanwhile,
 *     and freeing another caller's live block cannot be told apart anyway.
 * The load is an atomic one of the plain field: one aligned 16-bit read,
 * never torn. */
static enum alloc_small_place alloc_small_place(const hak_slab *s, uintptr_t addr)
{
    uintptr_t off = addr - s->start;
    uint32_t index = hak_class_block_index(&hak_classes[s->cls], off);
    if ((uintptr_t)index * s->block_size != off || index >= s->capacity)
        return ALLOC_NOT_A_BLOCK;
    if (index >= __atomic_load_n(&s->bump, __ATOMIC_RELAXED))
        return ALLOC_NEVER_HANDED_OUT;
    return ALLOC_BLOCK;
}

static const char *alloc_tier(const hak_slab *s)
{
    return hak_slab_kind(s) == HAK_SEG_TINY ? "Tiny" : "Mid";
}

/* p in slab s is no block that was handed out: say which (op: the
 * message's start, named after the call that was given p). */
static hak_noreturn hak_cold void alloc_small_invalid(const void *p, const hak_slab *s,
                                                      const char *op)
{
    bool never = alloc_small_place(s, (uintptr_t)p) == ALLOC_NEVER_HANDED_OUT;
    hak_fatal_block(op, p,
                    never ? (hak_slab_kind(s) == HAK_SEG_TINY ? "never handed out: Tiny"
                                                              : "never handed out: Mid")
                          : (hak_slab_kind(s) == HAK_SEG_TINY ? "not the start of a Tiny"
                                                              : "not the start of a Mid"),
                    s->block_size);
}

void hak_alloc_double_free(const void *p, const hak_slab *s)
{
    hak_fatal_block("double free of", p, alloc_tier(s), s->block_size);
}

/* p, a freed block, reached op (an invalid-pointer message). */
static hak_noreturn hak_cold void alloc_small_freed(const void *p, const hak_slab *s, const char *op)
{
    hak_fatal_block(hak_diag_freed(op), p, alloc_tier(s), s->block_size);
}

void hak_alloc_size_mismatch(const void *p, size_t size)
{
    uintptr_t a = (uintptr_t)p;
    const hak_slab *s = hak_slab_of_block(a);
    hak_fatal_mismatch(false, p, size, alloc_tier(s), hak_harden_usable(s), 0);
}

/* A pointer hakmem never handed out reached free, realloc or
 * malloc_usable_size (op).  foreign_free decides: abort with the message,
 * or warn once per function and let the caller treat it as a no-op, or
 * stay silent.  Returns only in the last two cases. */
enum { ALLOC_OP_FREE, ALLOC_OP_REALLOC, ALLOC_OP_USABLE, ALLOC_OP_COUNT };
static const char *const alloc_op_name[ALLOC_OP_COUNT] = { "free of", "realloc of",
                                                           "malloc_usable_size of" };
static const char *const alloc_op_outcome[ALLOC_OP_COUNT] = {
    "ignored, the memory is leaked", "ignored, realloc returns NULL with ENOMEM",
    "ignored, 0 returned" };
static _Atomic int alloc_foreign_warned[ALLOC_OP_COUNT];

hak_cold static void alloc_foreign(int op, const void *p)
{
    int64_t mode = hak_opt(HAK_OPT_FOREIGN_FREE);
    if (mode == 0)
        hak_fatal_ptr(alloc_op_name[op], p, "not allocated by hakmem");
    /* relaxed: only decides who prints the one warning. */
    if (mode == 1 && !atomic_exchange_explicit(&alloc_foreign_warned[op], 1, memory_order_relaxed)) {
        char msg[160];
        hak_buf b = { .data = msg, .cap = sizeof msg - 1, .fd = -1 };
        hak_buf_str(&b, alloc_op_name[op]);
        hak_buf_char(&b, ' ');
        hak_buf_hex(&b, (uint64_t)(uintptr_t)p);
        hak_buf_str(&b, " (not allocated by hakmem): ");
        hak_buf_str(&b, alloc_op_outcome[op]);
        hak_buf_str(&b, "; further such calls are not reported");
        msg[b.len] = 0;
        hak_warn(msg);
    }
}

/* A Tiny/Mid pointer that failed the checks of the inline paths, or given
 * to realloc or malloc_usable_size: the same checks, reported with the
 * reason and named after the call that was given p (hakmem(3),
 * DIAGNOSTICS). */
static hak_block *alloc_small_check(const void *p, const hak_slab *s, const char *op)
{
    /* relaxed: a slab freed under our feet would itself be misuse. */
    if (hak_unlikely(!atomic_load_explicit(&s->in_use, memory_order_relaxed)))
        hak_fatal_ptr(op, p, "not an allocated block");
    if (hak_unlikely(alloc_small_place(s, (uintptr_t)p) != ALLOC_BLOCK))
        alloc_small_invalid(p, s, op);
    hak_block *b = (hak_block *)p;
    if (hak_unlikely(hak_block_is_freed(b)))
        alloc_small_freed(p, s, op);
    return b;
}

/* A free by a thread without a heap (before its first allocation, during
 * its exit): straight to the slab, by the slab route. */
static void alloc_free_heapless(hak_block *b, unsigned cls)
{
    uintptr_t a = (uintptr_t)b;
    if (hak_unlikely(hak_secure.small_checked))
        hak_harden_clear(hak_slab_of_block(a), b);
    if (hak_unlikely(hak_prof_active()))
        hak_prof_forget(b);
    hak_stat_add(&hak_gstats.heapless_class_frees[cls], 1);
    hak_remote_free_push(hak_slab_of_block(a), b);
}

void hak_alloc_free_bad(void *p, size_t expected)
{
    uintptr_t a = (uintptr_t)p;
    unsigned map = hak_segmap_get(a);
    if (map < HAK_SEGMAP_SMALL_MIN) {
        /* A slot of the Tiny arena with no segment of ours (a gap someone
         * else mapped into): not our pointer. */
        hak_alloc_free_slow(p, map, expected);
        return;
    }
    hak_slab *s = hak_slab_of(a, map);
    hak_block *b = alloc_small_check(p, s, "invalid free of");
    /* Passed after all: the slab's bump moved on between the two reads
     * (only a racing misuse can make that happen).  Free it. */
    if (expected > hak_harden_usable(s))
        hak_alloc_size_mismatch(p, expected);
    hak_block_mark_freed(b);
    hak_track_free(b, s->block_size);
    hak_api_small_free_local(s, b);
}

/* A free asked for the background thread: start it if the free came
 * straight from the program.  caller: where the free returns to, NULL when
 * not known.  Code of the C library and the loader may free with their
 * own locks held, which pthread_create may need (runtime/background.h);
 * a free from inside hakmem (realloc) has its own caller unknown.  Those
 * leave the request to the next allocation miss. */
static void alloc_free_serve(const void *caller)
{
    /* relaxed: a hint, see hak_background_request. */
    if (hak_unlikely(atomic_load_explicit(&hak_background_requested, memory_order_relaxed)) &&
        caller != NULL && !hak_sym_in_system(caller))
        hak_background_start();
}

/* A safe point after a free that reached the pools: it is complete.
 * caller: as alloc_free_serve's. */
static void alloc_after_free(const void *caller)
{
    hak_purge_tick();
    alloc_free_serve(caller);
    hak_heap *h = hak_heap_tls;
    if (h != &hak_heap_empty)
        hak_thread_live_tick(h);
}

/* A zero-size block of the secure profile was freed: counted as a block
 * of class 0 (front/harden.c) that came back to the cache and left it. */
static void alloc_count_zero_free(void)
{
    hak_heap *h = hak_heap_tls;
    if (h != &hak_heap_empty) {
        hak_cache_count_free(&h->cache[0]);
        h->cstats[0].flush_blocks++;
    } else {
        hak_stat_add(&hak_gstats.heapless_class_frees[0], 1);
    }
}

/* A free of p that is no Tiny or Mid block: Large, Huge or not ours.
 * expected, expected_align: what a sized or aligned free was given (0:
 * nothing), checked by the tier. */
static void alloc_free_big(void *p, unsigned map, size_t expected, size_t expected_align,
                           const void *caller)
{
    switch (map) {
    case HAK_SEGMAP_LARGE:
        if (hak_unlikely(hak_prof_active()))
            hak_prof_forget(p);
        hak_large_free(p, expected, expected_align);
        alloc_after_free(caller);
        return;
    case HAK_SEGMAP_HUGE_HEAD:
    case HAK_SEGMAP_HUGE_TAIL:
    case HAK_SEGMAP_HUGE_ARENA:
        if (hak_huge_contains(p)) {
            if (hak_unlikely(hak_prof_active()))
                hak_prof_forget(p);
            hak_huge_free(p, expected, expected_align);
            alloc_after_free(caller);
            return;
        }
        /* Past the end of a Huge mapping, in the rest of its last region:
         * someone else's memory. */
        /* fall through */
    default:
        hak_init_ensure();
        if (hak_forward) {
            hak_next.free(p);
            return;
        }
        alloc_foreign(ALLOC_OP_FREE, p);
        return;
    case HAK_SEGMAP_ZERO:
        /* malloc(0) of the secure profile: a sized free must say 0. */
        if (expected != 0) {
            hak_zero_check(p, "invalid free of");
            hak_fatal_mismatch(false, p, expected, "zero-size", 0, 0);
        }
        hak_zero_free(p, "invalid free of");
        alloc_count_zero_free();
        return;
    }
}

/* Reached by a tail jump from the inline free paths (front/api.h): the
 * return address is the free's caller. */
void hak_alloc_free_slow(void *p, unsigned map, size_t expected)
{
    if (p != NULL)
        alloc_free_big(p, map, expected, 0, __builtin_return_address(0));
}

/* ---- the Tiny and Mid miss and overflow ---- */

/* The miss of the secure checks: the size is known here, so the class is
 * chosen with room for the canary, and malloc(0) told apart. */
static hak_noinline void *alloc_miss_checked(size_t size)
{
    hak_heap *h = hak_thread_heap();
    if (h == NULL) {
        if (hak_forward)
            return hak_next.malloc(size);
        errno = ENOMEM;
        return NULL;
    }
    hak_thread_safe_point(h);
    return hak_harden_alloc_size(h, size);
}

HAK_FRAME void *hak_alloc_small_miss_size(size_t size)
{
    /* Where hakmem stepped aside no thread ever gets a heap: forwarded
     * with the size asked for, so valgrind and the sanitizers see it. */
    if (hak_unlikely(hak_heap_tls == &hak_heap_empty) && hak_init_ensure() && hak_forward)
        return hak_next.malloc(size);
    if (hak_unlikely(hak_secure.small_checked))
        return alloc_miss_checked(size);
    return hak_alloc_small_miss(size <= HAK_TINY_MAX ? hak_tiny_class_of(size)
                                                     : hak_mid_class_of(size));
}

HAK_FRAME void *hak_alloc_small_miss(unsigned cls)
{
    hak_heap *h = hak_thread_heap();
    if (h == NULL) {
        if (hak_forward)
            return hak_next.malloc(hak_classes[cls].size);
        errno = ENOMEM;
        return NULL;
    }
    hak_thread_safe_point(h);
    if (hak_unlikely(hak_secure.small_checked))
        return hak_harden_alloc_size(h, hak_classes[cls].size); /* the most cls may hold */
    if (hak_unlikely(h->prof != NULL))
        return hak_prof_small_miss(h, cls);
    h->cstats[cls].slow_allocs++;
    if (hak_unlikely(!hak_cache_refill(h, cls))) {
        /* No slab could be mapped: what the program freed serves first. */
        if (hak_purge_all() == 0 || !hak_cache_refill(h, cls)) {
            errno = ENOMEM;
            return NULL;
        }
    }
    return hak_cache_pop(&h->cache[cls], hak_classes[cls].size);
}

/* A free period of h's cache of class cls ended: a safe point, reached
 * every HAK_FREE_PERIOD frees of a class even by a thread whose mallocs
 * and frees all hit its caches (small/cache.h).  The push is complete. */
static void alloc_free_period_end(hak_heap *h, unsigned cls, const void *caller)
{
    hak_cache_next_period(&h->cache[cls]);
    hak_thread_maintain(h);
    hak_purge_tick();
    alloc_free_serve(caller);
    /* Not every 16th: these come seldom, and a program that only hits its
     * caches has no other way to its live statistics. */
    hak_live_tick();
}

/* caller: as alloc_free_serve's. */
static void alloc_small_overflow(hak_heap *h, unsigned cls, void *p, const void *caller)
{
    if (h == &hak_heap_empty) {
        /* The thread's first free before its first allocation: p is
         * another thread's block.  It goes home by the slab route, and the
         * fresh heap's caches start with blocks of its own slabs.  Pushed
         * there instead, p would be what this thread's next malloc of the
         * class returns, again and again: a block sharing a cache line with
         * blocks its allocating thread goes on using (passive false
         * sharing, as when a thread frees the object it was handed and then
         * allocates its own).  The heap is made all the same, so that a
         * thread that only frees has a cache for the rest.  With the
         * checked profile every free goes on to the quarantine below, which
         * keeps a freed block zero (the slab route writes a link into it). */
        h = hak_thread_heap_for_free();
        if (h == NULL || !hak_secure.small_checked) {
            alloc_free_heapless(p, cls);
            return;
        }
    }
    if (hak_cache_took(&h->cache[cls], p)) {
        alloc_free_period_end(h, cls, caller);
        return;
    }
    /* The inline push counts only what it takes. */
    hak_cache_count_free(&h->cache[cls]);
    if (hak_unlikely(hak_secure.small_checked)) {
        /* Every free of these checks comes here: the caches run at cap 0
         * (runtime/thread.c). */
        hak_harden_free(h, hak_slab_of_block((uintptr_t)p), p);
        alloc_after_free(caller);
        return;
    }
    if (hak_unlikely(h->prof != NULL)) {
        /* Sampling windows: every local free comes here (prof_heap.c). */
        if (!hak_prof_stash_push(h, cls, p) && hak_prof_small_free(h, cls, p))
            alloc_after_free(caller);
        return;
    }
    hak_cache_overflow(h, cls, p);
    /* Safe point: the flush is complete. */
    alloc_after_free(caller);
}

/* The entry from the inline free paths (front/api.h), reached by a
 * tail jump: their return address is the free's caller.  Called from
 * inside hakmem (the free of a block that failed the inline test), the
 * return address is hakmem's own, and a start is left to a miss. */
void hak_alloc_cache_overflow(hak_heap *h, hak_cache *c, void *p)
{
    alloc_small_overflow(h, (unsigned)(c - h->cache), p, __builtin_return_address(0));
}

/* ---- allocation beyond the Mid tier ---- */

HAK_FRAME void *hak_alloc_big(size_t size, size_t align, bool *zeroed)
{
    hak_background_serve(); /* safe point, see background.h */
    if (hak_unlikely(!hak_init_ensure() || hak_forward)) {
        *zeroed = false;
        return align <= HAK_MIN_ALIGN ? hak_next.malloc(size) : hak_next.memalign(align, size);
    }
    if (size > HAK_ALLOC_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    bool large = size <= HAK_LARGE_MAX && align <= HAK_LARGE_MAX;
    hak_heap *h = large ? hak_thread_heap() : NULL;
    void *p = large ? hak_large_alloc(h, size, align, zeroed) : hak_huge_alloc(size, align, zeroed);
    if (hak_unlikely(p == NULL) && hak_purge_all() > 0)
        p = large ? hak_large_alloc(h, size, align, zeroed) : hak_huge_alloc(size, align, zeroed);
    if (hak_unlikely(hak_prof_active()) && p != NULL)
        hak_prof_big_alloc(p, large ? hak_large_usable(p) : hak_huge_usable(p));
    return p;
}

HAK_FRAME void *hak_calloc_impl(size_t count, size_t size)
{
    /* Forwarded as calloc, with the caller's own sizes (valgrind and the
     * sanitizers report against the size asked for). */
    if (hak_unlikely(!hak_init_ensure() || hak_forward))
        return hak_next.calloc(count, size);
    size_t total;
    if (hak_unlikely(__builtin_mul_overflow(count, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    if (total <= HAK_MID_MAX) {
        void *p = hak_api_malloc(total);
        if (p)
            memset(p, 0, total);
        return p;
    }
    bool zeroed = false;
    void *p = hak_alloc_big(total, 0, &zeroed);
    if (p && !zeroed)
        memset(p, 0, total);
    return p;
}

/* ---- usable size and realloc ---- */

size_t hak_usable_size_impl(const void *p)
{
    if (p == NULL)
        return 0;
    uintptr_t a = (uintptr_t)p;
    unsigned map = hak_segmap_get(a);
    if (map >= HAK_SEGMAP_SMALL_MIN) {
        const hak_slab *s = hak_slab_of(a, map);
        alloc_small_check(p, s, "malloc_usable_size of invalid pointer");
        hak_harden_check(p, s, "malloc_usable_size of invalid pointer");
        return hak_harden_usable(s);
    }
    if (map == HAK_SEGMAP_LARGE)
        return hak_large_usable(p);
    if (hak_huge_map(map) && hak_huge_contains(p))
        return hak_huge_usable(p);
    if (map == HAK_SEGMAP_ZERO) {
        hak_zero_check(p, "malloc_usable_size of invalid pointer");
        return 0;
    }
    hak_init_ensure();
    if (hak_forward)
        return hak_next.usable_size((void *)p);
    alloc_foreign(ALLOC_OP_USABLE, p);
    return 0;
}

/* A block that must move to grow gets a quarter more than it had when
 * that is more than asked for (as tcmalloc does), up to the Large tier's
 * top: a buffer grown a few bytes at a time then moves once per quarter
 * of its size instead of at every class boundary.  Huge blocks grow in
 * place or by mremap instead (tiers/huge.c). */
static size_t alloc_move_size(size_t old_usable, size_t size)
{
    size_t grown = old_usable + old_usable / 4;
    return size > old_usable && size < grown && grown <= HAK_LARGE_MAX ? grown : size;
}

static HAK_FRAME void *alloc_move(void *p, size_t old_usable, size_t size)
{
    size_t move_size = alloc_move_size(old_usable, size);
    void *q = hak_api_malloc(move_size);
    if (q == NULL && move_size != size) {
        /* The room is a bonus: short of memory, move to the size asked. */
        move_size = size;
        q = hak_api_malloc(size);
    }
    if (q == NULL)
        return NULL; /* p stays valid, errno is ENOMEM */
    /* A Large run records what it was asked for (sized frees are checked
     * against it): the program asked for size. */
    if (move_size != size && move_size > HAK_MID_MAX)
        (void)hak_large_fits(q, size);
    memcpy(q, p, old_usable < size ? old_usable : size);
    hak_api_free(p);
    return q;
}

/* Does a Tiny or Mid block of `usable` bytes keep size (not 0) where it
 * is?  Not when more than half of it would lie idle, but a block of 64
 * bytes or less keeps any smaller size: no class below it saves enough. */
static bool alloc_small_keeps(size_t usable, size_t size)
{
    return size - 1 < usable && (size >= usable / 2 || usable <= 64);
}

/* Every realloc that hak_realloc_impl does not settle in place. */
static hak_noinline HAK_FRAME void *alloc_realloc_slow(void *p, size_t size)
{
    if (p == NULL)
        return hak_api_malloc(size);
    if (size == 0) {
        /* glibc: realloc(p, 0) frees p and returns NULL. */
        hak_api_free(p);
        return NULL;
    }
    if (size > HAK_ALLOC_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t a = (uintptr_t)p;
    unsigned map = hak_segmap_get(a);
    if (map >= HAK_SEGMAP_SMALL_MIN) {
        const hak_slab *s = hak_slab_of(a, map);
        alloc_small_check(p, s, "realloc of invalid pointer");
        hak_harden_check(p, s, "realloc of invalid pointer");
        size_t usable = hak_harden_usable(s);
        if (alloc_small_keeps(usable, size))
            return p;
        return alloc_move(p, usable, size);
    }
    if (map == HAK_SEGMAP_LARGE) {
        if (hak_large_resize(hak_thread_heap(), p, size)) {
            if (hak_unlikely(hak_prof_active()))
                hak_prof_realloc(p, p, hak_large_usable(p));
            return p;
        }
        return alloc_move(p, hak_large_usable(p), size);
    }
    if (hak_huge_map(map) && hak_huge_contains(p)) {
        if (size <= HAK_LARGE_MAX)
            return alloc_move(p, hak_huge_usable(p), size);
        void *q = hak_huge_realloc(p, size);
        if (hak_unlikely(q == NULL) && hak_purge_all() > 0)
            q = hak_huge_realloc(p, size);
        if (hak_unlikely(hak_prof_active()) && q != NULL)
            hak_prof_realloc(p, q, hak_huge_usable(q));
        return q;
    }
    if (map == HAK_SEGMAP_ZERO) {
        /* Nothing to copy; the old address stays live if this fails. */
        hak_zero_check(p, "realloc of invalid pointer");
        void *q = hak_api_malloc(size);
        if (q != NULL) {
            hak_zero_free(p, "realloc of invalid pointer");
            alloc_count_zero_free();
        }
        return q;
    }
    hak_init_ensure();
    if (hak_forward)
        return hak_next.realloc(p, size);
    alloc_foreign(ALLOC_OP_REALLOC, p);
    /* warn/ignore: the old size is unknown, so nothing can be copied; the
     * caller sees an allocation failure and keeps its block. */
    errno = ENOMEM;
    return NULL;
}

/* realloc where the block stays: a Tiny or Mid block whose class still
 * suits the new size, or a Large run that does.  The Tiny/Mid test is the
 * free fast path's (api.h: the start of a block below the slab's bump, not
 * marked freed), so the default checks hold here as they do there; a block
 * that fails it, and every other case, goes to alloc_realloc_slow, which
 * names the misuse.  Canaries (secure profile) are checked there too,
 * and size 0 (a free) goes there.  The profiler's
 * view of a Large run kept in place is the slow path's too. */
HAK_FRAME void *hak_realloc_impl(void *p, size_t size)
{
    uintptr_t a = (uintptr_t)p;
    unsigned map = hak_segmap_get(a);
    if (hak_likely(map >= HAK_SEGMAP_SMALL_MIN)) {
        const hak_slab *s = hak_slab_of(a, map);
        size_t usable = s->block_size;
        /* The freed-mark test as free makes it (hak_block_carries_mark):
         * a program that has just written a 16-byte block's last byte
         * does not stall this load behind its store. */
        if (hak_likely(hak_slab_offset_ok(s, a - s->start)) && !hak_track_is_free(p) &&
            !hak_block_carries_mark(p, hak_block_mark) && !hak_secure.canaries &&
            alloc_small_keeps(usable, size))
            return p;
    } else if (map == HAK_SEGMAP_LARGE && !hak_prof_active() && hak_large_fits(p, size)) {
        return p;
    }
    return alloc_realloc_slow(p, size);
}

HAK_FRAME void *hak_reallocarray_impl(void *p, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return hak_realloc_impl(p, total);
}

/* ---- aligned allocation ---- */

/* The secure profile's aligned Tiny or Mid block: a class chosen here,
 * with room for the canary, served as it is (front/harden.c). */
static hak_noinline void *alloc_aligned_checked(size_t align, size_t size)
{
    int cls = hak_small_class_aligned(size + (hak_secure.canaries ? HAK_SECURE_TAIL : 0), align);
    bool mid_size = size <= HAK_MID_MAX && align <= HAK_PAGE_SIZE;
    if (cls < 0 && !mid_size) {
        bool zeroed;
        return hak_alloc_big(size, align, &zeroed);
    }
    hak_heap *h = hak_thread_heap();
    if (h == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    return cls >= 0 ? hak_harden_alloc_class(h, (unsigned)cls) : hak_harden_alloc_large(h, size, align);
}

/* align: a power of two. */
HAK_FRAME void *hak_aligned_impl(size_t align, size_t size)
{
    if (align <= HAK_MIN_ALIGN)
        return hak_api_malloc(size);
    hak_init_ensure(); /* the decision to forward is made there */
    if (hak_unlikely(hak_forward))
        return hak_next.memalign(align, size);
    if (size > HAK_ALLOC_MAX || align > HAK_ALLOC_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    if (hak_unlikely(hak_secure.small_checked))
        return alloc_aligned_checked(align, size);
    int cls = hak_small_class_aligned(size, align);
    if (cls >= 0)
        return hak_api_small_alloc((unsigned)cls);
    bool zeroed;
    return hak_alloc_big(size, align, &zeroed);
}

HAK_FRAME int hak_posix_memalign_impl(void **out, size_t align, size_t size)
{
    if (!hak_is_pow2(align) || align < sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = hak_aligned_impl(align, size);
    if (p == NULL) {
        /* glibc leaves errno at ENOMEM too, and programs read it. */
        errno = ENOMEM;
        return ENOMEM;
    }
    errno = saved;
    *out = p;
    return 0;
}

HAK_FRAME void *hak_aligned_alloc_impl(size_t align, size_t size)
{
    if (!hak_is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return hak_aligned_impl(align, size);
}

HAK_FRAME void *hak_memalign_impl(size_t align, size_t size)
{
    /* glibc: any alignment is rounded up to a power of two; one with no
     * power of two to round to is EINVAL.  Up to 2^63 it is ENOMEM when no
     * mapping can be that aligned (hak_aligned_impl). */
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (!hak_is_pow2(align)) {
        size_t a = HAK_MIN_ALIGN;
        while (a < align)
            a <<= 1;
        align = a;
    }
    return hak_aligned_impl(align, size);
}

HAK_FRAME void *hak_valloc_impl(size_t size)
{
    return hak_aligned_impl(HAK_PAGE_SIZE, size);
}

HAK_FRAME void *hak_pvalloc_impl(size_t size)
{
    if (size > HAK_ALLOC_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = size == 0 ? HAK_PAGE_SIZE : hak_align_up(size, HAK_PAGE_SIZE);
    return hak_aligned_impl(HAK_PAGE_SIZE, rounded);
}

static hak_noreturn hak_cold void alloc_bad_alignment(const void *p, size_t align)
{
    char msg[96];
    hak_buf b = { .data = msg, .cap = sizeof msg - 1, .fd = -1 };
    hak_buf_str(&b, "alignment ");
    hak_buf_u64(&b, align);
    hak_buf_str(&b, hak_is_pow2(align) ? " given, the address is not a multiple of it"
                                       : " given, not a power of two");
    msg[b.len] = 0;
    hak_fatal_ptr("wrong alignment in aligned free of", p, msg);
}

void hak_free_aligned_sized_impl(void *p, size_t align, size_t size)
{
    if (p == NULL)
        return;
    if (!hak_is_pow2(align) || ((uintptr_t)p & (align - 1)) != 0)
        alloc_bad_alignment(p, align);
    unsigned map = hak_segmap_get((uintptr_t)p);
    /* A Tiny or Mid block keeps no alignment of its own: its address is
     * the check.  Large and Huge blocks remember what they were asked. */
    if (map >= HAK_SEGMAP_SMALL_MIN)
        hak_api_free_sized(p, size);
    else
        alloc_free_big(p, map, size, align, NULL);
}

/* ---- the hak_ API ---- */

HAK_API HAK_FRAME void *hak_malloc(size_t size) { return hak_api_malloc(size); }
HAK_API void hak_free(void *p) { hak_api_free(p); }
HAK_API void hak_free_sized(void *p, size_t size) { hak_api_free_sized(p, size); }
HAK_API void hak_free_aligned_sized(void *p, size_t align, size_t size)
{
    hak_free_aligned_sized_impl(p, align, size);
}
HAK_API void *hak_calloc(size_t count, size_t size) { return hak_calloc_impl(count, size); }
HAK_API void *hak_realloc(void *p, size_t size) { return hak_realloc_impl(p, size); }
HAK_API void *hak_reallocarray(void *p, size_t count, size_t size)
{
    return hak_reallocarray_impl(p, count, size);
}
HAK_API int hak_posix_memalign(void **out, size_t align, size_t size)
{
    return hak_posix_memalign_impl(out, align, size);
}
HAK_API void *hak_aligned_alloc(size_t align, size_t size)
{
    return hak_aligned_alloc_impl(align, size);
}
HAK_API void *hak_memalign(size_t align, size_t size) { return hak_memalign_impl(align, size); }
HAK_API void *hak_valloc(size_t size) { return hak_valloc_impl(size); }
HAK_API void *hak_pvalloc(size_t size) { return hak_pvalloc_impl(size); }
HAK_API size_t hak_malloc_usable_size(const void *p) { return hak_usable_size_impl(p); }
