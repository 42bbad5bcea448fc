/*
 * test_live.c - the live statistics region (runtime/live.h): a reader in
 * another process sees a running writer's counts move, every copy it
 * accepts is whole (the seqlock detects torn reads), the file is the
 * owner's alone, and a fork child never writes to its parent's region.
 */
#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "runtime/live.h"

/* The region file of pid, mapped read-only; NULL until it exists. */
static hak_live_region *map_region_of(pid_t pid, char *path, size_t cap)
{
    DIR *d = opendir(HAK_LIVE_DIR);
    cr_assert_not_null(d);
    char want[64];
    snprintf(want, sizeof want, "%s%d.", HAK_LIVE_PREFIX, (int)pid);
    hak_live_region *r = NULL;
    struct dirent *e;
    while (r == NULL && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, want, strlen(want)) != 0)
            continue;
        snprintf(path, cap, "%s/%s", HAK_LIVE_DIR, e->d_name);
        int fd = open(path, O_RDONLY | O_NOFOLLOW);
        if (fd < 0)
            continue;
        struct stat st;
        cr_assert_eq(fstat(fd, &st), 0);
        if ((size_t)st.st_size >= HAK_LIVE_SIZE) {
            cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
            cr_assert_eq(st.st_uid, geteuid());
            void *m = mmap(NULL, HAK_LIVE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
            cr_assert_neq(m, MAP_FAILED);
            r = m;
        }
        close(fd);
    }
    closedir(d);
    return r;
}

static void load_retrying(const hak_live_region *r, hak_live_payload *p)
{
    for (int i = 0;; i++) {
        if (hak_live_load(r, p))
            return;
        cr_assert_lt(i, 10000000, "never a whole copy");
    }
}

Test(live, reader_in_another_process_sees_counts_move, .timeout = 120)
{
    int stop[2];
    cr_assert_eq(pipe(stop), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        /* The writer: allocates and publishes until the pipe closes. */
        close(stop[1]);
        fcntl(stop[0], F_SETFL, O_NONBLOCK);
        if (!hak_live_publish_now())
            _exit(3);
        for (;;) {
            void *p[100];
            for (int i = 0; i < 100; i++)
                p[i] = hak_malloc(64);
            for (int i = 0; i < 100; i++)
                hak_free(p[i]);
            hak_live_publish_now();
            char c;
            if (read(stop[0], &c, 1) == 0)
                _exit(0);
        }
    }
    close(stop[0]);
    char path[512];
    hak_live_region *r = NULL;
    for (int i = 0; r == NULL; i++) {
        cr_assert_lt(i, 100000, "no region for the child");
        r = map_region_of(child, path, sizeof path);
        if (r == NULL)
            usleep(1000);
    }
    /* acquire: the writer set the magic last. */
    while (atomic_load_explicit((_Atomic uint64_t *)&r->magic, memory_order_acquire) == 0)
        usleep(1000);
    cr_assert_eq(r->magic, HAK_LIVE_MAGIC);
    cr_assert_eq(r->pid, child);
    cr_assert_eq(r->layout, hak_live_layout());
    static hak_live_payload a, b;
    load_retrying(r, &a);
    do {
        load_retrying(r, &b);
    } while (b.stats.allocs <= a.stats.allocs + 1000);
    cr_assert_gt(b.publications, a.publications);
    cr_assert_geq(b.stats.frees, a.stats.frees);
    cr_assert_eq(b.opt_values[HAK_OPT_LIVE_STATS], 1);
    close(stop[1]);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %d", status);
    munmap(r, HAK_LIVE_SIZE);
    /* The child removed its file when it exited? It used _exit: a leftover,
     * which readers clean.  Clean it here. */
    unlink(path);
}

Test(live, torn_reads_are_detected, .timeout = 120)
{
    hak_live_region *r = mmap(NULL, HAK_LIVE_SIZE, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(r, MAP_FAILED);
    static hak_live_payload p;
    /* A publication under way: no copy is accepted. */
    atomic_store(&r->seq, 7);
    cr_assert_not(hak_live_load(r, &p));
    atomic_store(&r->seq, 8);
    cr_assert(hak_live_load(r, &p));

    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        /* Every field of each publication carries the same number. */
        static hak_live_payload w;
        for (uint64_t k = 1; k <= 300000; k++) {
            memset(&w, (int)(k & 0xff), sizeof w);
            w.publications = k;
            hak_live_store(r, &w);
        }
        _exit(0);
    }
    unsigned accepted = 0;
    int status;
    while (waitpid(child, &status, WNOHANG) == 0) {
        if (!hak_live_load(r, &p))
            continue;
        accepted++;
        uint8_t k = (uint8_t)p.publications;
        const uint8_t *bytes = (const uint8_t *)&p.stats;
        for (size_t i = 0; i < sizeof p.stats; i += 61)
            cr_assert_eq(bytes[i], k, "torn copy accepted: byte %zu is %u, publication %u", i,
                         bytes[i], k);
        cr_assert_eq((uint8_t)p.opt_text[HAK_OPTION_TEXT_MAX - 1], k);
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert(hak_live_load(r, &p));
    cr_assert_eq(p.publications, 300000);
    cr_assert_gt(accepted, 0);
    munmap(r, HAK_LIVE_SIZE);
}

Test(live, fork_child_gets_its_own_region, .timeout = 60)
{
    cr_assert(hak_live_publish_now());
    char parent_path[512];
    snprintf(parent_path, sizeof parent_path, "%s", hak_live_path());
    cr_assert_neq(parent_path[0], 0);
    char path[512];
    hak_live_region *r = map_region_of(getpid(), path, sizeof path);
    cr_assert_not_null(r);
    static hak_live_payload before, after;
    load_retrying(r, &before);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        /* Nothing of the parent's region is ours now. */
        if (hak_live_path()[0] != 0)
            _exit(1);
        if (!hak_live_publish_now())
            _exit(2);
        if (strcmp(hak_live_path(), parent_path) == 0)
            _exit(3);
        hak_live_at_exit();
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    load_retrying(r, &after);
    cr_assert_eq(after.publications, before.publications, "the child wrote to our region");
    cr_assert_eq(r->pid, getpid());
    char child_name[64];
    snprintf(child_name, sizeof child_name, "%s%d.", HAK_LIVE_PREFIX, (int)child);
    cr_assert_null(map_region_of(child, path, sizeof path), "the child left its file");
    munmap(r, HAK_LIVE_SIZE);
    hak_live_at_exit();
    cr_assert_neq(access(parent_path, F_OK), 0, "exit did not remove %s", parent_path);
}
