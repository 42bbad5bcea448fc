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
        for (unsigned l = 0; l < HAK_SLAB_FREE_LISTS; l++) {
            for (hak_block *b = s.free[l]; b; b = hak_slab_checked_next(&s, b)) {
                cr_assert_lt(k, TOTAL, "lists longer than what was pushed");
                seen[k++] = b;
            }
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

/* Blocks the freer's cache handed back, counted on the owner's inbox
 * without taking them (the list is ours to read: its pushers are gone). */
static unsigned inbox_length(hak_heap *h)
{
    unsigned n = 0;
    for (hak_block *b = atomic_load(&h->inbox); b != NULL && b != HAK_INBOX_CLOSED;
         b = (hak_block *)hak_block_next(b))
        n++;
    return n;
}

/* Another thread frees blocks of our slabs: its first free, before it has
 * a heap, by the slab route (the slab is FULL, so that block wakes us
 * through our inbox), the rest into its own cache; when its cache flushes
 * (here: at its exit) they come back to us in one batch on our inbox, and
 * an exhausted (FULL) slab comes back into use when we take them. */
Test(remote_free, frees_by_another_thread_come_back_in_a_batch, .timeout = 30)
{
    test_watchdog(30);
    enum { N = 256 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = hak_malloc(1024);
    hak_heap *h = hak_heap_current();
    hak_slab *s = hak_slab_of((uintptr_t)p[0], HAK_TINY_SLAB_SHIFT);
    cr_assert_eq(s->state, HAK_SLAB_FULL, "the first slab was handed out entirely");
    cr_assert_eq(atomic_load(&s->thread_free) & HAK_TF_TAG_MASK, HAK_TF_NOTIFY);
    cr_assert_null(atomic_load(&h->inbox));

    struct freer f = { &p[0], 11 };
    test_run_threads(1, freer_main, &f, sizeof f);
    cr_assert_eq(inbox_length(h), 11, "the freer's exit handed every block back (%u; slab list %u)", inbox_length(h), hak_tf_count(atomic_load(&s->thread_free)));
    cr_assert_eq(hak_tf_count(atomic_load(&s->thread_free)), 0, "none left on the slab's list");
    hak_remote_collect_inbox(h);
    cr_assert_null(atomic_load(&h->inbox));
    cr_assert_neq(s->state, HAK_SLAB_FULL, "slab is back in use");
    cr_assert_eq(s->used, s->capacity - 11);
    for (int i = 11; i < N; i++)
        hak_free(p[i]);
}

struct handed {
    void *given;
    void *got;
    hak_heap *heap;
};

static void *handed_main(void *arg)
{
    struct handed *a = arg;
    hak_free(a->given);
    a->got = hak_malloc(8);
    a->heap = hak_heap_current();
    hak_free(a->got);
    return NULL;
}

/* Passive false sharing: a thread handed a block frees it before its first
 * allocation and then allocates the same size.  Its malloc must not return
 * the handed block (a neighbour of blocks the allocating thread goes on
 * writing): the free sends it home by the slab route, and the thread's
 * blocks come from a slab of its own. */
Test(remote_free, first_free_of_a_handed_block_goes_home, .timeout = 30)
{
    test_watchdog(30);
    enum { T = 4 };
    void *keep[T];
    struct handed a[T];
    for (int i = 0; i < T; i++) {
        a[i].given = hak_malloc(8);
        keep[i] = hak_malloc(8);
    }
    hak_slab *s = hak_slab_of((uintptr_t)a[0].given, HAK_TINY_SLAB_SHIFT);
    unsigned before = hak_tf_count(atomic_load(&s->thread_free));
    test_run_threads(T, handed_main, a, sizeof a[0]);
    for (int i = 0; i < T; i++) {
        cr_assert_neq(a[i].got, a[i].given, "thread %d got the block it was handed", i);
        hak_slab *g = hak_slab_of((uintptr_t)a[i].got, HAK_TINY_SLAB_SHIFT);
        cr_assert_neq(g, s, "thread %d allocated from the giver's slab", i);
        cr_assert_neq(a[i].heap, hak_heap_current());
    }
    cr_assert_eq(hak_tf_count(atomic_load(&s->thread_free)), before + T,
                 "each handed block is on its slab's thread-free list");
    for (int i = 0; i < T; i++)
        hak_free(keep[i]);
}

/* The slab route: a block pushed onto a FULL slab's thread-free list wakes
 * the owner through its inbox (the NOTIFY hand-off), later ones stay on the
 * slab's list. */
Test(remote_free, full_slab_notifies_owner, .timeout = 30)
{
    test_watchdog(30);
    enum { N = 256 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = hak_malloc(1024);
    hak_heap *h = hak_heap_current();
    hak_slab *s = hak_slab_of((uintptr_t)p[0], HAK_TINY_SLAB_SHIFT);
    cr_assert_eq(s->state, HAK_SLAB_FULL);
    cr_assert_eq(atomic_load(&s->thread_free) & HAK_TF_TAG_MASK, HAK_TF_NOTIFY);

    hak_block_mark_freed(p[0]);
    hak_remote_free_push(s, p[0]);
    cr_assert_eq(inbox_length(h), 1, "the block went to the owner's inbox");
    cr_assert_eq(atomic_load(&s->thread_free) & HAK_TF_TAG_MASK, HAK_TF_NORMAL);
    hak_remote_collect_inbox(h);
    cr_assert_null(atomic_load(&h->inbox));
    cr_assert_neq(s->state, HAK_SLAB_FULL, "slab is back in use");
    cr_assert_eq(s->used, s->capacity - 1);

    for (int i = 1; i <= 10; i++) {
        hak_block_mark_freed(p[i]);
        hak_remote_free_push(s, p[i]);
    }
    cr_assert_null(atomic_load(&h->inbox));
    cr_assert_eq(hak_remote_collect_slab(s), 10);
    for (int i = 11; i < N; i++)
        hak_free(p[i]);
}

struct owner_args {
    void **blocks;
    int n;
    pthread_barrier_t *handed, *exited;
};

static void *short_owner_main(void *arg)
{
    struct owner_args *a = arg;
    for (int i = 0; i < a->n; i++)
        a->blocks[i] = hak_malloc(64);
    pthread_barrier_wait(a->handed);
    return NULL;
}

/* An owner that exited closed its inbox: blocks handed back to it later go
 * to their (abandoned) slabs instead, where an adopter finds them. */
Test(remote_free, hand_over_to_an_exited_owner_takes_the_slab_route, .timeout = 30)
{
    test_watchdog(30);
    enum { N = 100 };
    void *blocks[N];
    pthread_barrier_t handed;
    pthread_barrier_init(&handed, NULL, 2);
    struct owner_args a = { blocks, N, &handed, NULL };
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, short_owner_main, &a), 0);
    pthread_barrier_wait(&handed);
    pthread_join(tid, NULL);
    hak_slab *s = hak_slab_of((uintptr_t)blocks[0], HAK_TINY_SLAB_SHIFT);
    cr_assert_null(atomic_load(&s->owner), "the owner's exit abandoned the slab");
    for (int i = 0; i < N; i++)
        hak_block_mark_freed(blocks[i]);
    hak_remote_free_hand_over(NULL, blocks, N);
    /* Every block reached its slab's thread-free list, none was lost. */
    unsigned waiting = 0;
    for (int i = 0; i < N; i++) {
        hak_slab *t = hak_slab_of((uintptr_t)blocks[i], HAK_TINY_SLAB_SHIFT);
        if (t == s)
            continue;
        cr_assert_eq(t, s, "all %d blocks from one slab", N);
    }
    waiting = hak_tf_count(atomic_load(&s->thread_free));
    cr_assert_eq(waiting, N);
    pthread_barrier_destroy(&handed);
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
