/*
 * test_config.c - hakmem.conf parsing and the precedence of every source:
 * defaults < system files < their matching sections < $HAKMEM_CONF (and its
 * sections) < HAKMEM_* environment, the hakmem.d folder, the AT_SECURE
 * rule, profiles, the origins the reports name, and that loading never
 * allocates.
 */
#include "test_util.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "config/config.h"
#include "config/match.h"
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

/* A ring of four paths: each stays valid until four more of its ring have
 * been made. */
typedef struct test_paths {
    char path[4][128];
    int next;
} test_paths;

/* tmpdir/name, in ring r. */
static char *test_path(test_paths *r, const char *name)
{
    if (tmpdir[0] == 0) {
        strcpy(tmpdir, "/tmp/hakmem-config-XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir));
    }
    char *p = r->path[r->next++ % 4];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    return p;
}

/* Files, folders and missing paths each have their own ring, so that a
 * folder stays named while files are written into it. */
static test_paths file_paths, dir_paths, missing_paths;

static const char *write_file(const char *name, const char *text)
{
    char *p = test_path(&file_paths, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* A folder under the test's own one (made if missing). */
static const char *make_dir(const char *name)
{
    char *p = test_path(&dir_paths, name);
    mkdir(p, 0755);
    return p;
}

/* A path under the test's own folder that names nothing (a fixed path
 * such as /nonexistent/x could exist on some machine). */
static const char *missing_path(const char *name)
{
    char sub[96];
    snprintf(sub, sizeof sub, "missing/%s", name);
    return test_path(&missing_paths, sub);
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

/* What the tests load from, and the warnings the last parse or load printed.
 * Sections match test_who, a made-up program, unless a test says else. */
static hak_identity test_who = { .known = true,
                                 .exe = "/usr/sbin/nginx",
                                 .cgroup = "/system.slice/nginx.service",
                                 .unit = "nginx.service" };
static hak_options_inputs test_in;
static unsigned warnings;

static void parse_text(void *text)
{
    hak_config_set_identity(&test_who);
    warnings = hak_config_parse("test.conf", text, strlen(text), HAK_SRC_FILE);
}

/* The origin report of option id. */
static const char *origin_of(int id)
{
    static char mem[256];
    hak_buf b = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
    hak_config_origin_describe(&b, id);
    mem[b.len] = 0;
    return mem;
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
    test_in.no_env = false;
    test_in.conf_dir = NULL;
    test_in.who = &test_who;
    test_in.system_file = missing_path("hakmem.conf");
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
    setenv("HAKMEM_CONF", missing_path("user.conf"), 1);
    load_options();
    cr_assert_eq(warnings, 1, "a HAKMEM_CONF that cannot be read warns");
}

/* load_options with stderr silenced; asserts it allocated nothing. */
static void load_options_counting_allocations(void)
{
    int devnull = open("/dev/null", O_WRONLY);
    int saved = dup(2);
    dup2(devnull, 2);
    count_allocs = 1;
    load_options();
    count_allocs = 0;
    dup2(saved, 2);
    close(saved);
    close(devnull);
    cr_assert_eq(allocs_seen, 0, "%ld allocations while loading the configuration", allocs_seen);
}

Test(config, loading_never_allocates)
{
    clean_env();
    test_in.system_file = write_file("system.conf", "tiny_cache_cap = 20\nbogus = 1\n");
    setenv("HAKMEM_CONF", write_file("user.conf", "stats = on\nmid_ring_cap = 999\n"), 1);
    setenv("HAKMEM_WARM_POOL_MAX", "7", 1);
    setenv("HAKMEM_PURGE_DELAY_MS", "junk", 1);
    load_options_counting_allocations();
    cr_assert_eq(hak_opt(HAK_OPT_WARM_POOL_MAX), 7);
}

/* ---- sections ---- */

Test(config, sections_apply_to_matching_programs_only)
{
    clean_env();
    hak_options_reset();
    parse_text("tiny_cache_cap = 20\n"
               "[program /usr/sbin/nginx]\n"
               "mid_ring_cap = 10\n"
               "[program /usr/bin/other, /opt/*]\n"
               "warm_pool_max = 3\n"
               "[program nginx]           # a file name alone\n"
               "prefill_budget = 2\n"
               "[unit *.service]\n"
               "batch_refill = 8\n"
               "[unit sshd.service]\n"
               "empty_slab_cache = 9\n"
               "[cgroup /system.slice/*]\n"
               "large_round_pct = 50\n"
               "[cgroup /user.slice/*]\n"
               "learn_dwell = 7\n");
    cr_assert_eq(warnings, 0);
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 20, "before any section: every program");
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), 10, "program path");
    cr_assert_eq(hak_option_sources[HAK_OPT_MID_RING_CAP], HAK_SRC_FILE_SECTION);
    cr_assert_eq(hak_opt(HAK_OPT_WARM_POOL_MAX), hak_option_defs[HAK_OPT_WARM_POOL_MAX].def);
    cr_assert_eq(hak_opt(HAK_OPT_PREFILL_BUDGET), 2, "program file name");
    cr_assert_eq(hak_opt(HAK_OPT_BATCH_REFILL), 8, "unit");
    cr_assert_eq(hak_opt(HAK_OPT_EMPTY_SLAB_CACHE), hak_option_defs[HAK_OPT_EMPTY_SLAB_CACHE].def);
    cr_assert_eq(hak_opt(HAK_OPT_LARGE_ROUND_PCT), 50, "cgroup");
    cr_assert_eq(hak_opt(HAK_OPT_LEARN_DWELL), hak_option_defs[HAK_OPT_LEARN_DWELL].def);
    cr_assert_eq(hak_config_section_count(), 4, "four sections matched");
    cr_assert_str_eq(origin_of(HAK_OPT_MID_RING_CAP), "test.conf:3 in [program /usr/sbin/nginx]");
    cr_assert_str_eq(origin_of(HAK_OPT_TINY_CACHE_CAP), "test.conf:1");
    cr_assert_str_eq(origin_of(HAK_OPT_WARM_POOL_MAX), "default");
}

Test(config, a_section_outranks_lines_outside_sections_wherever_they_are)
{
    clean_env();
    test_in.system_file = write_file("system.conf", "[program nginx]\n"
                                                       "tiny_cache_cap = 30\n"
                                                       "[program nginx]\n"
                                                       "mid_ring_cap = 12\n"
                                                       "[program nginx]\n"
                                                       "mid_ring_cap = 14\n");
    test_in.conf_dir = make_dir("sections.d");
    write_file("sections.d/10-later.conf", "tiny_cache_cap = 40\n");
    load_options();
    cr_assert_eq(warnings, 0);
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 30, "a later line outside sections does not win");
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), 14, "between sections the later line wins");
    /* $HAKMEM_CONF outranks the system files, sections included; the
     * environment outranks everything. */
    setenv("HAKMEM_CONF", write_file("user.conf", "tiny_cache_cap = 50\n"
                                                  "[unit nginx.service]\n"
                                                  "mid_ring_cap = 16\n"
                                                  "[unit other.service]\n"
                                                  "batch_refill = 2\n"),
           1);
    setenv("HAKMEM_MID_RING_CAP", "20", 1);
    load_options();
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 50);
    cr_assert_eq(hak_option_sources[HAK_OPT_TINY_CACHE_CAP], HAK_SRC_CONF);
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), 20);
    cr_assert_eq(hak_opt(HAK_OPT_BATCH_REFILL), hak_option_defs[HAK_OPT_BATCH_REFILL].def);
    unsetenv("HAKMEM_MID_RING_CAP");
    load_options();
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), 16);
    cr_assert_eq(hak_option_sources[HAK_OPT_MID_RING_CAP], HAK_SRC_CONF_SECTION);
    /* Secure processes: the system files' sections still apply. */
    test_in.secure = true;
    load_options();
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 30);
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), 14);
}

Test(config, bad_section_headers_warn_and_their_keys_apply_nowhere)
{
    clean_env();
    hak_options_reset();
    char err[4096];
    static char text[4096];
    char *t = text;
    t += sprintf(t, "[program /usr/sbin/nginx\n"   /* 1: no ']' */
                    "tiny_cache_cap = 20\n"
                    "[service nginx]\n"            /* 3: unknown kind */
                    "mid_ring_cap = 10\n"
                    "[program]\n"                  /* 5: no pattern */
                    "warm_pool_max = 3\n"
                    "[ ]\n"                        /* 7: empty */
                    "batch_refill = 8\n"
                    "[");                          /* 9: longer than a line may be */
    memset(t, 'x', 1100);
    t += 1100;
    sprintf(t, "]\nallocator = libc\n"
               "[program other]\n"                /* 11: fine, no match */
               "prefill_budget = 99\n"             /* 12: checked all the same */
               "bogus = 1\n");                     /* 13 */
    capture_stderr(parse_text, text, err, sizeof err);
    cr_assert_eq(warnings, 7, "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:1: section header without a closing ']'; the keys "
                                   "under it apply to no program"), "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:3: unknown section kind"), "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:5: section without a pattern"), "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:7: empty section header"), "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:9: section header longer than 1024 bytes"), "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:12: 'prefill_budget': out of range"), "%s", err);
    cr_assert_not_null(strstr(err, "test.conf:13: 'bogus': unknown key"), "%s", err);
    for (int i = 0; i < HAK_OPT_COUNT; i++)
        cr_assert_eq(hak_option_sources[i], HAK_SRC_DEFAULT, "%s was set", hak_option_defs[i].name);
}

Test(config, unknown_identity_matches_no_section)
{
    clean_env();
    hak_identity nobody = { .known = true };
    test_in.who = &nobody;
    test_in.system_file = write_file("system.conf", "[program *]\ntiny_cache_cap = 20\n"
                                                       "[unit *]\nmid_ring_cap = 10\n"
                                                       "[cgroup *]\nwarm_pool_max = 3\n");
    load_options();
    cr_assert_eq(warnings, 0);
    for (int i = 0; i < HAK_OPT_COUNT; i++)
        cr_assert_eq(hak_option_sources[i], HAK_SRC_DEFAULT, "%s was set", hak_option_defs[i].name);
}

Test(config, this_process_matches_its_own_executable)
{
    clean_env();
    test_in.who = NULL; /* this test program, read from /proc/self/exe */
    test_in.system_file = write_file("system.conf", "[program test_config]\ntiny_cache_cap = 20\n"
                                                       "[program */tests/test_config]\n"
                                                       "mid_ring_cap = 10\n"
                                                       "[program /usr/sbin/nginx]\n"
                                                       "warm_pool_max = 3\n");
    load_options();
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 20);
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), 10);
    cr_assert_eq(hak_opt(HAK_OPT_WARM_POOL_MAX), hak_option_defs[HAK_OPT_WARM_POOL_MAX].def);
    hak_identity *self = hak_identity_self();
    cr_assert(self->known);
    cr_assert_not_null(self->exe);
    cr_assert_not_null(strstr(self->exe, "test_config"));
}

/* ---- the hakmem.d folder ---- */

Test(config, folder_files_are_read_in_name_order_after_the_main_file)
{
    clean_env();
    test_in.conf_dir = make_dir("order.d");
    write_file("order.d/20-b.conf", "mid_ring_cap = 22\nwarm_pool_max = 2\n");
    write_file("order.d/10-a.conf", "mid_ring_cap = 21\nwarm_pool_max = 1\nbatch_refill = 4\n");
    write_file("order.d/30-c.conf.dpkg-old", "batch_refill = 9\n");
    write_file("order.d/.40-hidden.conf", "batch_refill = 9\n");
    write_file("order.d/README", "not a configuration file\n");
    write_file("order.d/a.conf", "empty_slab_cache = 5\n");
    make_dir("order.d/dir.conf"); /* a folder named like a file: warns */
    /* Last: write_file's paths are reused after four calls. */
    test_in.system_file = write_file("main.conf", "tiny_cache_cap = 20\nmid_ring_cap = 20\n");
    load_options();
    cr_assert_eq(warnings, 1, "the folder named *.conf cannot be read");
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 20);
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), 22, "20-b.conf is read after 10-a.conf");
    cr_assert_eq(hak_opt(HAK_OPT_WARM_POOL_MAX), 2);
    cr_assert_eq(hak_opt(HAK_OPT_BATCH_REFILL), 4, "only *.conf files, not hidden ones");
    cr_assert_eq(hak_opt(HAK_OPT_EMPTY_SLAB_CACHE), 5);
    cr_assert_eq(hak_config_file_count(), 4, "main.conf and three *.conf files read");
    char path[512];
    hak_buf b = { .data = path, .cap = sizeof path - 1, .fd = -1 };
    hak_config_file_path(&b, 1);
    path[b.len] = 0;
    cr_assert(strstr(path, "/order.d/10-a.conf") != NULL, "%s", path);
    b.len = 0;
    hak_config_file_path(&b, 3);
    path[b.len] = 0;
    cr_assert(strstr(path, "/order.d/a.conf") != NULL, "%s (dir.conf was not read)", path);
    cr_assert(strstr(origin_of(HAK_OPT_MID_RING_CAP), "/order.d/20-b.conf:1") != NULL, "%s",
              origin_of(HAK_OPT_MID_RING_CAP));
}

Test(config, folder_with_too_many_files_reads_the_first_in_order)
{
    clean_env();
    test_in.conf_dir = make_dir("many.d");
    /* 70 files, written in reverse: each sets tiny_cache_cap to 10 + its number. */
    for (int i = 69; i >= 0; i--) {
        char name[64], text[64];
        snprintf(name, sizeof name, "many.d/%02d.conf", i);
        snprintf(text, sizeof text, "tiny_cache_cap = %d\n", 10 + i);
        write_file(name, text);
    }
    load_options();
    cr_assert_eq(warnings, 1, "one warning for the files left out");
    cr_assert_eq(hak_opt(HAK_OPT_TINY_CACHE_CAP), 10 + HAK_CONFIG_DIR_MAX - 1,
                 "the last file read is the 64th in order");
    cr_assert_eq(hak_config_file_count(), HAK_CONFIG_DIR_MAX, "the missing main file is not counted");
}

Test(config, missing_folder_is_silent)
{
    clean_env();
    test_in.conf_dir = missing_path("hakmem.d");
    load_options();
    cr_assert_eq(warnings, 0);
}

Test(config, effective_configuration_names_sections_and_origins)
{
    clean_env();
    test_in.system_file = write_file("system.conf", "stats = on\n"
                                                       "[unit nginx.service]\n"
                                                       "profile = secure\n");
    setenv("HAKMEM_TINY_CACHE_CAP", "16", 1);
    load_options();
    static char out[8192];
    hak_buf b = { .data = out, .cap = sizeof out - 1, .fd = -1 };
    hak_config_print_effective(&b);
    out[b.len] = 0;
    cr_assert_not_null(strstr(out, "  section [unit nginx.service] at "), "%s", out);
    cr_assert_not_null(strstr(out, "system.conf:2 applies\n"), "%s", out);
    cr_assert_not_null(strstr(out, "  profile = secure ("), "%s", out);
    cr_assert_not_null(strstr(out, "system.conf:3 in [unit nginx.service])\n"), "%s", out);
    cr_assert_not_null(strstr(out, "system.conf:1)\n"), "%s", out);
    cr_assert_not_null(strstr(out, "  tiny_cache_cap = 16 (env)\n"), "%s", out);
    cr_assert_not_null(strstr(out, "  guard_pages = on (profile)\n"), "%s", out);
    cr_assert_not_null(strstr(out, "  learn = off (default)\n"), "%s", out);
}

Test(config, loading_with_sections_and_a_folder_never_allocates)
{
    clean_env();
    test_in.who = NULL; /* this process: /proc/self/exe and /proc/self/cgroup */
    test_in.system_file = write_file("system.conf", "[unit *]\ntiny_cache_cap = 20\n"
                                                       "[program *]\nmid_ring_cap = 10\n");
    test_in.conf_dir = make_dir("alloc.d");
    write_file("alloc.d/1.conf", "[cgroup *]\nwarm_pool_max = 3\nbogus\n");
    write_file("alloc.d/2.conf", "[nonsense\nbatch_refill = 3\n");
    load_options_counting_allocations();
    cr_assert_eq(hak_opt(HAK_OPT_MID_RING_CAP), 10);
    cr_assert_eq(warnings, 2);
}
