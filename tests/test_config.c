/*
 * test_config.c - hakmem.conf parsing and the precedence of every source:
 * defaults < system file < $HAKMEM_CONF < HAKMEM_* environment, the
 * AT_SECURE rule, profiles, and that loading never allocates.
 */
#include "test_util.h"

#include <fcntl.h>

#include "config/config.h"
#include "config/options.h"

/* Count heap allocations made while `count_allocs` is set: the config
 * loader must make none.  Normally this executable's malloc wraps glibc's;
 * under AddressSanitizer (which owns malloc and cannot be wrapped) its
 * allocation hook counts the same calls. */
static int count_allocs;
static long allocs_seen;
#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer calls this weak hook on every allocation it serves. */
void __sanitizer_malloc_hook(const volatile void *p, size_t n);
void __sanitizer_malloc_hook(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    allocs_seen += count_allocs;
}
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
void *malloc(size_t n)
{
    allocs_seen += count_allocs;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
    allocs_seen += count_allocs;
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
    allocs_seen += count_allocs;
    return __libc_realloc(p, n);
}
#endif

static char tmpdir[64];

static const char *write_file(const char *name, const char *text)
{
    static char path[4][128];
    static int next;
    if (tmpdir[0] == 0) {
        strcpy(tmpdir, "/tmp/hakmem-config-XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir));
    }
    char *p = path[next++ % 4];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Run fn with stderr captured into out. */
static void capture_stderr(void (*fn)(void *), void *arg, char *out, size_t cap)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/hakmem-stderr-%d", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, cap - 1);
    out[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
}

/* What the tests load from, and the warnings the last parse or load printed. */
static hak_options_inputs test_in;
static unsigned warnings;

static void parse_text(void *text)
{
    warnings = hak_config_parse("test.conf", text, strlen(text), HAK_SRC_FILE);
}

static void load_options(void)
{
    warnings = hak_options_load(&test_in);
}

static void clean_env(void)
{
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        char name[64] = "HAKMEM_";
        for (const char *c = hak_option_defs[i].name; *c; c++) {
            size_t n = strlen(name);
            name[n] = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
            name[n + 1] = 0;
        }
        unsetenv(name);
    }
    unsetenv("HAKMEM_CONF");
    test_in.secure = false;
    test_in.system_file = "/nonexistent/hakmem.conf";
}

Test(config, syntax_values_comments_and_spaces)
{
    clean_env();
    hak_options_reset();
    parse_text("# a comment\n"
               "\n"
               "   stats=on\n"
               "tiny_cache_cap   =   48   # trailing comment\n"
               "\tlarge_cache_limit = 8M\r\n"
               "purge_mode = free\n"
               "PROFILE = Conservative\n"
               "learn = yes\n"
               "purge_delay_ms = 1000");
    cr_assert_eq(warnings, 0, "a valid file warns");
    cr_assert_eq(hak_opt(HAK_OPT_STATS), 1);
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 48);
    cr_assert_eq(hak_opt(HAK_OPT_LARGE_CACHE_LIMIT), 8 << 20);
    cr_assert_eq(hak_opt(HAK_OPT_PURGE_MODE), 1);
    cr_assert_eq(hak_opt(HAK_OPT_PROFILE), 1);
    cr_assert_eq(hak_opt(HAK_OPT_LEARN), 1);
    cr_assert_eq(hak_opt(HAK_OPT_PURGE_DELAY_MS), 1000, "last line without newline");
    cr_assert_eq(hak_option_sources[HAK_OPT_STATS], HAK_SRC_FILE);
}

Test(config, bad_lines_warn_with_file_line_and_key_and_keep_values)
{
    clean_env();
    hak_options_reset();
    char err[4096];
    capture_stderr(parse_text,
                   "tiny_cache_cap = 40\n"
                   "no equals sign here\n"
                   "= 5\n"
                   "bogus_key = 1\n"
                   "tiny_cache_cap = 1000\n"
                   "tiny_cache_cap = lots\n"
                   "stats = maybe\n"
                   "profile = turbo\n"
                   "large_cache_limit = 5T\n",
                   err, sizeof err);
    cr_assert_eq(warnings, 8, "one warning per bad line:\n%s", err);
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 40, "bad values keep the previous one");
    cr_assert_eq(hak_opt(HAK_OPT_STATS), 0);
    cr_assert_eq(hak_opt(HAK_OPT_PROFILE), 0);
    cr_assert_not_null(strstr(err, "hakmem: test.conf:2: expected 'key = value'"), "%s", err);
    cr_assert_not_null(strstr(err, "hakmem: test.conf:3: missing key"), "%s", err);
    cr_assert_not_null(strstr(err, "hakmem: test.conf:4: 'bogus_key': unknown key"), "%s", err);
    cr_assert_not_null(strstr(err, "hakmem: test.conf:5: 'tiny_cache_cap': out of range (allowed 4..128)"),
                       "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:6: 'tiny_cache_cap': not a number"), "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:7: 'stats': not a boolean"), "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:8: 'profile': not one of the allowed values"), "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:9: 'large_cache_limit': bad size suffix"), "%s", err);
    /* Exactly one line per warning. */
    int lines = 0;
    for (const char *c = err; *c; c++)
        lines += *c == '\n';
    cr_assert_eq(lines, 8);
}

Test(config, overlong_line_and_file)
{
    clean_env();
    hak_options_reset();
    static char text[HAK_CONFIG_FILE_MAX + 4096];
    char *t = text;
    t += sprintf(t, "stats = on\n");
    memset(t, 'x', 2000);
    t += 2000;
    t += sprintf(t, "\ntiny_cache_cap = 20\n");
    parse_text(text);
    cr_assert_eq(warnings, 1, "overlong line warns");
    cr_assert_eq(hak_opt(HAK_OPT_STATS), 1);
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 20, "lines after it still count");

    /* A file over 64 KiB: the lines in the first 64 KiB are read. */
    hak_options_reset();
    t = text;
    t += sprintf(t, "tiny_cache_cap = 24\n");
    while ((size_t)(t - text) < HAK_CONFIG_FILE_MAX + 100)
        t += sprintf(t, "# padding padding padding padding padding padding\n");
    sprintf(t, "stats = on\n");
    const char *path = write_file("big.conf", text);
    warnings = 0;
    cr_assert(hak_config_load_file(path, HAK_SRC_FILE, true, &warnings));
    cr_assert_eq(warnings, 1);
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 24);
    cr_assert_eq(hak_opt(HAK_OPT_STATS), 0, "lines past 64 KiB are not read");
}

Test(config, precedence_default_file_conf_env)
{
    clean_env();
    test_in.system_file = write_file("system.conf", "tiny_cache_cap = 20\n"
                                                       "mid_ring_cap = 20\n"
                                                       "warm_pool_max = 20\n");
    setenv("HAKMEM_CONF", write_file("user.conf", "mid_ring_cap = 30\n"
                                                  "warm_pool_max = 30\n"),
           1);
    setenv("HAKMEM_WARM_POOL_MAX", "5", 1);
    load_options();
    cr_assert_eq(hak_opt(HAK_OPT_PREFILL_BUDGET), hak_option_defs[HAK_OPT_PREFILL_BUDGET].def);
    cr_assert_eq(hak_option_sources[HAK_OPT_PREFILL_BUDGET], HAK_SRC_DEFAULT);
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 20, "system file over default");
    cr_assert_eq(hak_option_sources[HAK_OPT_TINY_CACHE_CAP], HAK_SRC_FILE);
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), 30, "HAKMEM_CONF over system file");
    cr_assert_eq(hak_opt(HAK_OPT_WARM_POOL_MAX), 5, "environment over everything");
    cr_assert_eq(hak_option_sources[HAK_OPT_WARM_POOL_MAX], HAK_SRC_ENV);
}

Test(config, secure_processes_ignore_environment_and_hakmem_conf)
{
    clean_env();
    test_in.system_file = write_file("system.conf", "tiny_cache_cap = 20\n");
    setenv("HAKMEM_CONF", write_file("user.conf", "mid_ring_cap = 30\n"), 1);
    setenv("HAKMEM_STATS", "on", 1);
    test_in.secure = true;
    load_options();
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 20, "the system file is still read");
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), hak_option_defs[HAK_OPT_MID_RING_CAP].def);
    cr_assert_eq(hak_opt(HAK_OPT_STATS), 0);
    cr_assert_eq(hak_option_sources[HAK_OPT_STATS], HAK_SRC_DEFAULT);
    /* The process's own load asks the kernel: this test runs as a normal
     * process, so its environment counts. */
    hak_options_init();
    cr_assert_eq(hak_opt(HAK_OPT_STATS), 1);
    cr_assert_eq(hak_option_sources[HAK_OPT_STATS], HAK_SRC_ENV);
}

Test(config, profile_presets_yield_to_explicit_keys)
{
    clean_env();
    test_in.system_file = write_file("system.conf", "tiny_cache_cap = 100\n"
                                                       "profile = conservative\n");
    load_options();
    cr_assert_eq(hak_opt(HAK_OPT_PROFILE), 1);
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 100, "explicit key wins, even before the profile line");
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), hak_option_profile_default(1, HAK_OPT_MID_RING_CAP));
    cr_assert_lt(hak_opt(HAK_OPT_MID_RING_CAP), hak_option_defs[HAK_OPT_MID_RING_CAP].def);
    cr_assert_lt(hak_opt(HAK_OPT_LARGE_CACHE_LIMIT), hak_option_defs[HAK_OPT_LARGE_CACHE_LIMIT].def);
    cr_assert_eq(hak_option_sources[HAK_OPT_MID_RING_CAP], HAK_SRC_DEFAULT);
    /* The profile itself may come from the environment. */
    clean_env();
    setenv("HAKMEM_PROFILE", "conservative", 1);
    load_options();
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), hak_option_profile_default(1, HAK_OPT_TINY_CACHE_CAP));
}

Test(config, contradicting_pairs_fall_back_to_defaults)
{
    clean_env();
    test_in.system_file = write_file("system.conf", "learn_miss_low = 100\n"
                                                       "learn_miss_high = 10\n");
    load_options();
    cr_assert_eq(warnings, 1);
    cr_assert_eq(hak_opt(HAK_OPT_LEARN_MISS_LOW), hak_option_defs[HAK_OPT_LEARN_MISS_LOW].def);
    cr_assert_eq(hak_opt(HAK_OPT_LEARN_MISS_HIGH), hak_option_defs[HAK_OPT_LEARN_MISS_HIGH].def);
}

Test(config, missing_files)
{
    clean_env();
    load_options();
    cr_assert_eq(warnings, 0, "no system file is not an error");
    setenv("HAKMEM_CONF", "/nonexistent/user.conf", 1);
    load_options();
    cr_assert_eq(warnings, 1, "a HAKMEM_CONF that cannot be read warns");
}

Test(config, loading_never_allocates)
{
    clean_env();
    test_in.system_file = write_file("system.conf", "tiny_cache_cap = 20\nbogus = 1\n");
    setenv("HAKMEM_CONF", write_file("user.conf", "stats = on\nmid_ring_cap = 999\n"), 1);
    setenv("HAKMEM_WARM_POOL_MAX", "7", 1);
    setenv("HAKMEM_PURGE_DELAY_MS", "junk", 1);
    int devnull = open("/dev/null", O_WRONLY);
    int saved = dup(2);
    dup2(devnull, 2);
    count_allocs = 1;
    load_options();
    count_allocs = 0;
    dup2(saved, 2);
    cr_assert_eq(allocs_seen, 0, "%ld allocations while loading the configuration", allocs_seen);
    cr_assert_eq(hak_opt(HAK_OPT_WARM_POOL_MAX), 7);
}
