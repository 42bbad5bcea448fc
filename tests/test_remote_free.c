/*
 * test_remote_free.c - the lock-free thread-free list (many producers, the
 * owner drains), the full-slab notification, and cross-thread frees
 * through the API.
 */
#include "test_util.h"

#include "small/heap.h"
#include "small/remote_collect.h"
#include "os/os.h"
#include "small/remote_free.h"
#include "base/size_class.h"
#include "small/slab.h"
#include "small/warm_pool.h"

enum { PER_THREAD = 500 };

struct producer {
    hak_slab *slab;
    void **blocks;
    pthread_barrier_t *start;
};

static void *producer_main(void *arg)
{
    struct producer *pr = arg;
    pthread_barrier_wait(pr->start);
    for (int i = 0; i < PER_THREAD; i++) {
        hak_block_mark_freed(pr->blocks[i]);
        hak_remote_free_push(pr->slab, pr->blocks[i]);
    }
    return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* N producers push concurrently; the owner's collection sees every block
 * exactly once. */
Test(remote_free, producers_push_owner_drains_each_block_once, .timeout = 60)
{
    test_watchdog(60);
    hak_free(hak_malloc(1));
    static hak_slab s;
    void *mem = hak_os_map_aligned(65536, 65536, 0);
    s.shift = HAK_TINY_SLAB_SHIFT;
    s.start = (uintptr_t)mem;
    hak_slab_format(&s, hak_heap_current(), hak_tiny_class_of(16));
    enum { TOTAL = TEST_THREADS * PER_THREAD };
    static void *blocks[TOTAL];
    unsigned n = 0;
    while (n < TOTAL)
        n += hak_slab_refill(&s, blocks + n, TOTAL - n);
    cr_assert_eq(s.used, TOTAL);

    for (int round = 0; round < 20; round++) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, TEST_THREADS);
        struct producer pr[TEST_THREADS];
        for (int t = 0; t < TEST_THREADS; t++)
            pr[t] = (struct producer){ &s, blocks + t * PER_THREAD, &start };
        test_run_threads(TEST_THREADS, producer_main, pr, sizeof pr[0]);
        pthread_barrier_destroy(&start);

        cr_assert_eq(hak_remote_collect_slab(&s), TOTAL);
        cr_assert_eq(s.used, 0);
        static void *seen[TOTAL];
        unsigned k = 0;
        for (hak_block *b = s.free; b; b = hak_slab_checked_next(&s, b)) {
            cr_assert_lt(k, TOTAL, "list longer than what was pushed");
            seen[k++] = b;
        }
        cr_assert_eq(k, TOTAL);
        qsort(seen, TOTAL, sizeof seen[0], cmp_ptr);
        memcpy(blocks, seen, sizeof seen);
        for (unsigned i = 1; i < TOTAL; i++)
            cr_assert_neq(seen[i], seen[i - 1], "block seen twice");
        /* Hand them all out again for the next round. */
        n = 0;
        while (n < TOTAL)
            n += hak_slab_refill(&s, blocks + n, TOTAL - n);
    }
}

struct freer {
    void **blocks;
    int n;
};

static void *freer_main(void *arg)
{
    struct freer *f = arg;
    for (int i = 0; i < f->n; i++)
        hak_free(f->blocks[i]);
    return NULL;
}

/* An exhausted slab is parked FULL; a remote free wakes the owner through
 * its delayed list and the slab comes back into use. */
Test(remote_free, full_slab_notifies_owner, .timeout = 30)
{
    test_watchdog(30);
    unsigned cls = hak_tiny_class_of(1024);
    enum { N = 256 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = hak_malloc(1024);
    hak_heap *h = hak_heap_current();
    hak_slab *s = hak_slab_of((uintptr_t)p[0], HAK_TINY_SLAB_SHIFT);
    cr_assert_eq(s->state, HAK_SLAB_FULL, "the first slab was handed out entirely");
    cr_assert_eq(atomic_load(&s->thread_free) & HAK_TF_TAG_MASK, HAK_TF_NOTIFY);

    struct freer f = { &p[0], 1 };
    test_run_threads(1, freer_main, &f, sizeof f);
    cr_assert_not_null(atomic_load(&h->delayed), "the block went to the owner's delayed list");
    cr_assert_eq(atomic_load(&s->thread_free) & HAK_TF_TAG_MASK, HAK_TF_NORMAL);
    hak_remote_collect_delayed(h);
    cr_assert_null(atomic_load(&h->delayed));
    cr_assert_neq(s->state, HAK_SLAB_FULL, "slab is back in use");
    cr_assert_eq(s->used, s->capacity - 1);

    /* Further remote frees take the plain thread-free path. */
    struct freer g = { &p[1], 10 };
    test_run_threads(1, freer_main, &g, sizeof g);
    cr_assert_null(atomic_load(&h->delayed));
    cr_assert_eq(hak_remote_collect_slab(s), 10);
    (void)cls;
    for (int i = 11; i < N; i++)
        hak_free(p[i]);
}

struct pc_args {
    void *_Atomic *mailbox;
    int n;
    int id;
};

enum { PC_OPS = 100000, PC_BOX = 64 };

/* Producer/consumer pairs: one thread allocates and fills, its partner
 * checks and frees, through a small mailbox of atomic slots. */
static void *pc_producer(void *arg)
{
    struct pc_args *a = arg;
    uint64_t rng = (uint64_t)a->id + 1;
    for (int i = 0; i < a->n; i++) {
        size_t size = 1 + test_rand(&rng) % 8000;
        char *p = hak_malloc(size);
        cr_assert_not_null(p);
        *(size_t *)p = size;
        test_fill(p + sizeof(size_t), size > 8 ? (size - 8 < 64 ? size - 8 : 64) : 0, size);
        void *_Atomic *slot = &a->mailbox[i % PC_BOX];
        void *expected = NULL;
        while (!atomic_compare_exchange_weak(slot, &expected, p)) {
            expected = NULL;
            sched_yield();
        }
    }
    return NULL;
}

static void *pc_consumer(void *arg)
{
    struct pc_args *a = arg;
    for (int i = 0; i < a->n; i++) {
        void *_Atomic *slot = &a->mailbox[i % PC_BOX];
        char *p;
        while ((p = atomic_exchange(slot, NULL)) == NULL)
            sched_yield();
        size_t size = *(size_t *)p;
        if (size > 8)
            cr_assert(test_check(p + sizeof(size_t), size - 8 < 64 ? size - 8 : 64, size));
        hak_free(p);
    }
    return NULL;
}

Test(remote_free, producer_consumer_pairs, .timeout = 120)
{
    test_watchdog(120);
    enum { PAIRS = TEST_THREADS / 2 };
    static void *_Atomic boxes[PAIRS][PC_BOX];
    pthread_t tid[2 * PAIRS];
    struct pc_args args[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        args[i] = (struct pc_args){ boxes[i], PC_OPS, i };
        cr_assert_eq(pthread_create(&tid[2 * i], NULL, pc_producer, &args[i]), 0);
        cr_assert_eq(pthread_create(&tid[2 * i + 1], NULL, pc_consumer, &args[i]), 0);
    }
    for (int i = 0; i < 2 * PAIRS; i++)
        pthread_join(tid[i], NULL);
    struct hak_stats st;
    hak_stats_get(&st);
    cr_assert_geq(st.remote_frees, (uint64_t)PAIRS * PC_OPS * 9 / 10);
    cr_assert_eq(st.tiers[HAK_TIER_TINY].allocs, st.tiers[HAK_TIER_TINY].frees);
    cr_assert_eq(st.tiers[HAK_TIER_MID].allocs, st.tiers[HAK_TIER_MID].frees);
    cr_assert_eq(st.tiers[HAK_TIER_TINY].bytes_in_use + st.tiers[HAK_TIER_MID].bytes_in_use, 0);
}
