/*
 * test_compat.c - glibc's malloc extensions on hakmem's heap: malloc_trim,
 * mallinfo2/mallinfo, malloc_stats, malloc_info, mallopt.
 */
#include "test_util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>

#include "front/compat.h"
#include "config/options.h"
#include "os/os.h"

#define MiB ((size_t)1 << 20)

Test(compat, malloc_trim_returns_free_memory_now)
{
    hak_free(hak_malloc(1));
    /* A long purge delay: only malloc_trim can give the memory back. */
    hak_option_values[HAK_OPT_PURGE_DELAY_MS] = 3600000;
    uint64_t rss0 = hak_os_current_rss_kib();
    enum { N = 3000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = hak_malloc(i % 3 == 0 ? 200 : i % 3 == 1 ? 9000 : 70000);
        memset(p[i], 1, hak_malloc_usable_size(p[i]));
    }
    for (int i = 0; i < N; i++)
        hak_free(p[i]);
    uint64_t rss_freed = hak_os_current_rss_kib();
    cr_assert_gt(rss_freed, rss0 + 50 * 1024, "the frees kept the memory resident (%lu -> %lu KiB)",
                 (unsigned long)rss0, (unsigned long)rss_freed);
    cr_assert_eq(hak_malloc_trim_impl(0), 1, "something was released");
    uint64_t rss_trim = hak_os_current_rss_kib();
    cr_assert_lt(rss_trim, rss0 + 8 * 1024, "RSS %lu KiB after trim, %lu KiB at the start",
                 (unsigned long)rss_trim, (unsigned long)rss0);
    /* Nothing left to release. */
    cr_assert_eq(hak_malloc_trim_impl(0), 0);
}

Test(compat, mallinfo2_reports_hakmem_figures)
{
    struct mallinfo2 a;
    hak_mallinfo2_impl(&a);
    char *small = hak_malloc(100000);
    char *huge = hak_malloc(5 * MiB);
    struct mallinfo2 b;
    hak_mallinfo2_impl(&b);
    cr_assert_eq(b.uordblks - a.uordblks, hak_malloc_usable_size(small));
    cr_assert_eq(b.hblks - a.hblks, 1);
    cr_assert_eq(b.hblkhd - a.hblkhd, hak_malloc_usable_size(huge));
    cr_assert_gt(b.arena, 0);
    cr_assert_geq(b.arena, b.uordblks);
    cr_assert_eq(b.keepcost, b.fordblks);
    hak_free(small);
    hak_free(huge);
    struct mallinfo2 c;
    hak_mallinfo2_impl(&c);
    cr_assert_eq(c.uordblks, a.uordblks);
    cr_assert_eq(c.hblks, a.hblks);
}

Test(compat, mallinfo_saturates)
{
    /* 3 GiB of address space, never touched: hblkhd overflows an int. */
    void *big = hak_malloc((size_t)3 << 30);
    cr_assert_not_null(big);
    struct mallinfo m = hak_mallinfo_impl();
    struct mallinfo2 m2;
    hak_mallinfo2_impl(&m2);
    cr_assert_gt(m2.hblkhd, (size_t)INT_MAX);
    cr_assert_eq(m.hblkhd, INT_MAX);
    cr_assert_eq(m.uordblks, (int)m2.uordblks);
    hak_free(big);
}

/* malloc_stats writes to the stderr stream: here one the program made
 * itself (a memory stream), which a write to fd 2 would miss. */
Test(compat, malloc_stats_prints_glibc_layout_then_hakmem_detail_to_the_stderr_stream)
{
    hak_free(hak_malloc(1000));
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    cr_assert_not_null(mem);
    FILE *saved = stderr;
    stderr = mem;
    int state_before = -1;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &state_before);
    hak_malloc_stats_impl();
    int state_after = -1;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &state_after);
    stderr = saved;
    fclose(mem);
    cr_assert_eq(state_after, PTHREAD_CANCEL_ENABLE, "cancellation left disabled");
    const char *lines[] = { "Arena 0:\n", "system bytes     = ", "in use bytes     = ",
                            "Total (incl. mmap):\n", "max mmap regions = ", "max mmap bytes   = ",
                            "hakmem statistics (pid ", "effective configuration:\n" };
    const char *at = buf;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        const char *found = strstr(at, lines[i]);
        cr_assert_not_null(found, "missing \"%s\" (in order) in:\n%s", lines[i], buf);
        at = found;
    }
    free(buf);
}

/* Called with cancellation disabled, it leaves it disabled. */
Test(compat, malloc_stats_keeps_a_disabled_cancellation_state)
{
    FILE *devnull = fopen("/dev/null", "w");
    cr_assert_not_null(devnull);
    FILE *saved = stderr;
    stderr = devnull;
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    hak_malloc_stats_impl();
    int state = -1;
    pthread_setcancelstate(old, &state);
    stderr = saved;
    fclose(devnull);
    cr_assert_eq(state, PTHREAD_CANCEL_DISABLE);
}

/* A small well-formedness check: every <tag ...> opened is closed in
 * order, self-closing tags stand alone, attributes are quoted. */
static int xml_well_formed(const char *s)
{
    char stack[32][32];
    int depth = 0;
    while ((s = strchr(s, '<')) != NULL) {
        const char *end = strchr(s, '>');
        if (!end)
            return 0;
        int closing = s[1] == '/';
        int selfclosing = end[-1] == '/';
        char name[32];
        if (sscanf(s + 1 + closing, "%31[a-z_]", name) != 1)
            return 0;
        int quotes = 0;
        for (const char *c = s; c < end; c++)
            quotes += *c == '"';
        if (quotes % 2)
            return 0;
        if (closing) {
            if (depth == 0 || strcmp(stack[--depth], name) != 0)
                return 0;
        } else if (!selfclosing) {
            if (depth == 32)
                return 0;
            strcpy(stack[depth++], name);
        }
        s = end + 1;
    }
    return depth == 0;
}

Test(compat, malloc_info_writes_well_formed_xml)
{
    void *p[4] = { hak_malloc(24), hak_malloc(5000), hak_malloc(200000), hak_malloc(3 * MiB) };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(hak_malloc_info_impl(0, f), 0);
    fclose(f);
    cr_assert(xml_well_formed(buf), "not well formed:\n%s", buf);
    cr_assert_not_null(strstr(buf, "<malloc version=\"1\""));
    for (const char *tier = "tiny\0mid\0large\0huge\0"; *tier; tier += strlen(tier) + 1) {
        char tag[48];
        snprintf(tag, sizeof tag, "<tier name=\"%s\" allocs=\"", tier);
        cr_assert_not_null(strstr(buf, tag), "no %s tier in:\n%s", tier, buf);
    }
    cr_assert_not_null(strstr(buf, "<size from=\"17\" to=\"32\""), "the 24-byte class is listed");
    free(buf);
    errno = 0;
    cr_assert_eq(hak_malloc_info_impl(1, stdout), -1, "options must be 0");
    cr_assert_eq(errno, EINVAL);
    for (int i = 0; i < 4; i++)
        hak_free(p[i]);
}

Test(compat, mallopt_maps_parameters_to_knobs)
{
    hak_free(hak_malloc(1));
    cr_assert_eq(hak_mallopt_impl(M_TRIM_THRESHOLD, 12345678), 1);
    cr_assert_eq(hak_opt(HAK_OPT_RETAIN_MAX), 12345678);
    cr_assert_eq(hak_option_sources[HAK_OPT_RETAIN_MAX], HAK_SRC_API);
    /* glibc's "never trim": everything may stay resident. */
    cr_assert_eq(hak_mallopt_impl(M_TRIM_THRESHOLD, -1), 1);
    cr_assert_eq(hak_opt(HAK_OPT_RETAIN_MAX), hak_option_defs[HAK_OPT_RETAIN_MAX].max);
    cr_assert_eq(hak_mallopt_impl(M_MXFAST, 64), 1);
    cr_assert_eq(hak_mallopt_impl(M_MXFAST, 161), 0, "out of glibc's range");
    cr_assert_eq(hak_mallopt_impl(M_MXFAST, -1), 0, "out of glibc's range");
}

/* Every documented parameter over its range (and beyond), and parameters
 * glibc does not know: the same answer as this machine's glibc, found in
 * libc.so.6 itself (a sanitizer build interposes its own).  Calling it
 * changes glibc's malloc, which the test runner uses: in a child. */
static void mallopt_compare_child(void)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    int (*glibc_mallopt)(int, int) = libc ? (int (*)(int, int))(uintptr_t)dlsym(libc, "mallopt") : NULL;
    if (glibc_mallopt == NULL)
        _exit(2);
    static const int params[] = { M_MXFAST, M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD,
                                  M_MMAP_MAX, M_CHECK_ACTION, M_PERTURB, M_ARENA_TEST,
                                  M_ARENA_MAX, 0, 4, -9, 1000 };
    static const int values[] = { INT_MIN, -4096, -1, 0, 1, 8, 80, 159, 160, 161,
                                  4096, 128 * 1024, 32 << 20, (32 << 20) + 1, INT_MAX };
    int mismatches = 0;
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        for (size_t j = 0; j < sizeof values / sizeof values[0]; j++) {
            int ours = hak_mallopt_impl(params[i], values[j]);
            int theirs = glibc_mallopt(params[i], values[j]);
            if (ours != theirs) {
                char line[128];
                int n = snprintf(line, sizeof line, "mallopt(%d, %d): hakmem %d, glibc %d\n",
                                 params[i], values[j], ours, theirs);
                if (write(2, line, (size_t)n) < 0)
                    _exit(3);
                mismatches++;
            }
        }
    _exit(mismatches ? 1 : 0);
}

Test(compat, mallopt_answers_as_glibc_does)
{
    char err[8192];
    int status = test_run_child(mallopt_compare_child, err, sizeof err);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x:\n%s", status, err);
}

/* glibc's tst-malloc-too-large: sizes no mapping can hold fail with
 * ENOMEM at every power-of-two alignment (2^63 included), also where the
 * alignment alone could not be mapped. */
static int errno_now(void) { return *(volatile int *)&errno; }

Test(compat, aligned_family_fails_with_enomem_at_every_alignment)
{
    static const size_t sizes[] = { SIZE_MAX, SIZE_MAX - 4095, (size_t)PTRDIFF_MAX + 1,
                                    (size_t)1 << 62, ((size_t)1 << 50) - 1 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int k = 0; k < 64; k++) {
            size_t align = (size_t)1 << k;
            errno = 0;
            cr_assert_null(hak_memalign(align, sizes[i]));
            cr_assert_eq(errno_now(), ENOMEM, "memalign(2^%d, %#zx): errno %d", k, sizes[i],
                         errno_now());
            errno = 0;
            cr_assert_null(hak_aligned_alloc(align, sizes[i]));
            cr_assert_eq(errno_now(), ENOMEM, "aligned_alloc(2^%d, %#zx)", k, sizes[i]);
            if (align < sizeof(void *))
                continue;
            void *out = NULL;
            errno = 0;
            cr_assert_eq(hak_posix_memalign(&out, align, sizes[i]), ENOMEM);
            cr_assert_eq(errno_now(), ENOMEM, "posix_memalign(2^%d, %#zx) left errno %d", k,
                         sizes[i], errno_now());
            cr_assert_null(out);
        }
    }
    /* The largest alignment with a reasonable size: no mapping either. */
    errno = 0;
    cr_assert_null(hak_memalign((size_t)1 << 63, 64));
    cr_assert_eq(errno_now(), ENOMEM);
    /* No power of two to round up to: EINVAL, as glibc. */
    errno = 0;
    cr_assert_null(hak_memalign(((size_t)1 << 63) + 1, 64));
    cr_assert_eq(errno_now(), EINVAL);
    /* A success leaves errno alone. */
    void *out = NULL;
    errno = 1234;
    cr_assert_eq(hak_posix_memalign(&out, 64, 100), 0);
    cr_assert_eq(errno_now(), 1234);
    hak_free(out);
}
