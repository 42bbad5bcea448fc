/*
 * fuzz_config.c - arbitrary bytes as hakmem.conf content and as HAKMEM_*
 * environment values.
 *
 * Input: byte 0 is a set of flags, the rest is split at 0xff bytes:
 *   part 0     the system configuration file (hak_options_inputs.system_file);
 *              its sections match a made-up program, /usr/sbin/nginx in
 *              unit nginx.service (cgroup /system.slice/nginx.service)
 *   part 1     the file named by HAKMEM_CONF
 *   part 2...  environment entries (at most 64); the first byte of each
 *              picks its shape: < 0xc0 "HAKMEM_<KEY>=<rest>" with KEY the
 *              name of option (b & 0x3f) % count, lower-case if b & 0x40,
 *              else the raw entry "<rest>".
 * Flags: bit 0 AT_SECURE (hak_options_inputs.secure), bit 1 environ NULL
 * (hakmem then reads /proc/self/environ), bits 2-3 HAKMEM_CONF: unset,
 * part 1, a missing file, an overlong path; bit 4 part 0 repeated past the
 * 64 KiB file limit; bit 5 no system file.
 *
 * Files are memfds opened through /proc/self/fd, so the real /etc is never
 * read, and HAKMEM_CONF never names anything else (a fuzzed path could
 * name a FIFO or a terminal).
 *
 * Checked, after hak_config_parse on part 0 alone and after a whole
 * hak_options_load: every value within its option's range (enums within
 * their choices, text options inside the text area and terminated); a
 * value no source set is the profile's default; a valid HAKMEM_<KEY>
 * entry wins over the files (the last one of a key, unless the pair rule
 * reset the key); with AT_SECURE the environment changes nothing; and
 * hak_option_parse of part 0 as the value of every option gives an
 * in-range value or an error.  Warnings go to /dev/null (sanitizer reports
 * do not; HAK_FUZZ_VERBOSE=1 keeps the warnings).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "config/match.h"
#include "config/options.h"

extern char **environ;

#define MAX_ENV 64

/* In the sanitizer runtime when there is one. */
void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

__attribute__((noreturn, format(printf, 1, 2))) static void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_config: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ---- quiet stderr while hakmem warns ---- */

static int devnull = -1, real_stderr = -1;
static bool verbose;

static void quiet_setup(void)
{
    if (devnull >= 0 || verbose)
        return;
    verbose = getenv("HAK_FUZZ_VERBOSE") != NULL;
    if (verbose)
        return;
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    real_stderr = fcntl(2, F_DUPFD_CLOEXEC, 10);
    if (devnull < 0 || real_stderr < 0)
        fuzz_fail("cannot open /dev/null or dup stderr");
    if (__sanitizer_set_report_fd)
        __sanitizer_set_report_fd((void *)(intptr_t)real_stderr);
}

static void quiet_begin(void)
{
    if (!verbose)
        dup2(devnull, 2);
}

static void quiet_end(void)
{
    if (!verbose)
        dup2(real_stderr, 2);
}

/* ---- files ---- */

typedef struct memfile {
    int fd;
    char path[64];
} memfile;

static memfile sysfile, conffile;

static void memfile_open(memfile *m, const char *name)
{
    if (m->path[0])
        return;
    m->fd = memfd_create(name, MFD_CLOEXEC);
    if (m->fd < 0)
        fuzz_fail("memfd_create failed");
    snprintf(m->path, sizeof m->path, "/proc/self/fd/%d", m->fd);
}

static void memfile_write(memfile *m, const uint8_t *p, size_t n, off_t at)
{
    while (n > 0) {
        ssize_t w = pwrite(m->fd, p, n, at);
        if (w <= 0)
            fuzz_fail("pwrite to a memfd failed");
        p += w;
        n -= (size_t)w;
        at += w;
    }
}

/* Content of m: p[0..n), repeated past the file limit if `repeat`. */
static void memfile_set(memfile *m, const uint8_t *p, size_t n, bool repeat)
{
    if (ftruncate(m->fd, 0) != 0)
        fuzz_fail("ftruncate failed");
    if (!repeat) {
        memfile_write(m, p, n, 0);
        return;
    }
    static const uint8_t filler[] = "# filler\n";
    if (n == 0) {
        p = filler;
        n = sizeof filler - 1;
    }
    off_t at = 0;
    while (at <= HAK_CONFIG_FILE_MAX + 64) {
        memfile_write(m, p, n, at);
        at += (off_t)n;
    }
}

/* ---- checks ---- */

static bool is_text_option(int i)
{
#ifdef HAK_OPTION_TEXT_MAX
    return hak_option_defs[i].type == HAK_OPT_STRING;
#else
    (void)i;
    return false;
#endif
}

static void check_value(int i, int64_t v, const char *when)
{
    const hak_option_def *d = &hak_option_defs[i];
    if (is_text_option(i)) {
#ifdef HAK_OPTION_TEXT_MAX
        if (v < 0 || v >= HAK_OPTION_TEXT_MAX ||
            memchr(hak_option_text + v, 0, (size_t)(HAK_OPTION_TEXT_MAX - v)) == NULL)
            fuzz_fail("%s: text option %s has offset %lld", when, d->name, (long long)v);
#endif
        return;
    }
    if (v < d->min || v > d->max)
        fuzz_fail("%s: option %s = %lld, outside %lld..%lld", when, d->name, (long long)v,
                  (long long)d->min, (long long)d->max);
    if (d->type == HAK_OPT_BOOL && v != 0 && v != 1)
        fuzz_fail("%s: boolean option %s = %lld", when, d->name, (long long)v);
    if (d->type == HAK_OPT_ENUM) {
        int64_t choices = 1;
        for (const char *c = d->choices; *c; c++)
            choices += *c == '|';
        if (v >= choices)
            fuzz_fail("%s: enum option %s = %lld, only %lld choices", when, d->name,
                      (long long)v, (long long)choices);
    }
}

static void check_all(const char *when, bool profile_applied)
{
    int64_t profile = hak_option_values[HAK_OPT_PROFILE];
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        check_value(i, hak_option_values[i], when);
        if (hak_option_sources[i] > HAK_SRC_API)
            fuzz_fail("%s: option %s has source %u", when, hak_option_defs[i].name,
                      hak_option_sources[i]);
        if (hak_option_sources[i] != HAK_SRC_DEFAULT || is_text_option(i))
            continue;
        int64_t want = profile_applied ? hak_option_profile_default((int)profile, i)
                                       : hak_option_defs[i].def;
        if (hak_option_values[i] != want)
            fuzz_fail("%s: option %s set by no source is %lld, its default is %lld", when,
                      hak_option_defs[i].name, (long long)hak_option_values[i],
                      (long long)want);
    }
}

/* ---- environment ---- */

static char env_mem[MAX_ENV + 2][1200];
static char *env_vec[MAX_ENV + 3];
static size_t env_count;

static void env_add(const char *prefix, const char *name, bool lower, const uint8_t *val,
                    size_t len, bool fuzzed)
{
    char *e = env_mem[env_count];
    size_t cap = sizeof env_mem[0] - 1, n = 0;
    for (const char *s = prefix; *s && n < cap; s++)
        e[n++] = *s;
    for (const char *s = name; *s && n < cap; s++) {
        char c = *s;
        if (!lower && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        e[n++] = c;
    }
    if (name[0] && n < cap)
        e[n++] = '=';
    for (size_t i = 0; i < len && n < cap; i++)
        e[n++] = (char)val[i];
    e[n] = 0; /* an embedded NUL ends the entry, as in a real environment */
    /* A fuzzed HAKMEM_CONF names only the file this harness controls. */
    if (fuzzed && strncmp(e, "HAKMEM_CONF=", 12) == 0)
        snprintf(e, sizeof env_mem[0], "HAKMEM_CONF=%s", conffile.path);
    env_vec[env_count++] = e;
    env_vec[env_count] = NULL;
}

/* What hakmem must have made of the entries: the last valid value of each
 * key (text options left out: parsing them has side effects). */
static void env_expect(int64_t *want, bool *set)
{
    for (size_t k = 0; k < env_count; k++) {
        const char *e = env_vec[k];
        if (strncmp(e, "HAKMEM_", 7) != 0)
            continue;
        const char *name = e + 7, *eq = strchr(name, '=');
        if (eq == NULL)
            continue;
        int id = hak_option_find(name, (size_t)(eq - name));
        if (id < 0 || is_text_option(id))
            continue;
        int64_t x;
        if (hak_option_parse(id, eq + 1, strlen(eq + 1), &x) == NULL) {
            want[id] = x;
            set[id] = true;
        }
    }
}

/* ---- entry point ---- */

/* Whom the sections match. */
static hak_identity fuzz_who = { .known = true,
                                 .exe = "/usr/sbin/nginx",
                                 .cgroup = "/system.slice/nginx.service",
                                 .unit = "nginx.service" };

/* A path no file can have: /dev/null is not a folder. */
static const char fuzz_missing[] = "/dev/null/hakmem.conf";

typedef struct part {
    const uint8_t *p;
    size_t n;
} part;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    quiet_setup();
    memfile_open(&sysfile, "hakmem-fuzz-system");
    memfile_open(&conffile, "hakmem-fuzz-conf");
    uint8_t flags = size ? data[0] : 0;
    const uint8_t *rest = size ? data + 1 : data;
    size_t rest_n = size ? size - 1 : 0;

    part parts[MAX_ENV + 2];
    size_t nparts = 0, start = 0;
    for (size_t i = 0; i <= rest_n && nparts < MAX_ENV + 2; i++) {
        if (i == rest_n || rest[i] == 0xff) {
            parts[nparts].p = rest + start;
            parts[nparts].n = i - start;
            nparts++;
            start = i + 1;
        }
    }
    part none = { rest, 0 };
    part sys = nparts > 0 ? parts[0] : none;
    part conf = nparts > 1 ? parts[1] : none;

    /* 1. The parser alone, on an exact-size copy (ASan sees overreads). */
    uint8_t *copy = malloc(sys.n ? sys.n : 1);
    if (copy == NULL)
        fuzz_fail("out of memory");
    memcpy(copy, sys.p, sys.n);
    quiet_begin();
    hak_options_reset();
    hak_config_set_identity(&fuzz_who);
    hak_config_parse("fuzz.conf", (const char *)copy, sys.n, HAK_SRC_FILE);
    quiet_end();
    check_all("hak_config_parse", false);

    /* 2. Every option parsing the same bytes as its value. */
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        int64_t x = 0;
        if (is_text_option(i))
            continue;
        if (hak_option_parse(i, (const char *)copy, sys.n, &x) == NULL)
            check_value(i, x, "hak_option_parse");
    }
    free(copy);

    /* 3. The whole initialisation: system file, HAKMEM_CONF, environment. */
    memfile_set(&sysfile, sys.p, sys.n, flags & 0x10);
    memfile_set(&conffile, conf.p, conf.n, false);
    env_count = 0;
    env_vec[0] = NULL;
    for (size_t k = 2; k < nparts && env_count < MAX_ENV; k++) {
        const part *pt = &parts[k];
        uint8_t sel = pt->n ? pt->p[0] : 0;
        const uint8_t *v = pt->n ? pt->p + 1 : pt->p;
        size_t vn = pt->n ? pt->n - 1 : 0;
        if (sel < 0xc0)
            env_add("HAKMEM_", hak_option_defs[(sel & 0x3f) % HAK_OPT_COUNT].name, sel & 0x40,
                    v, vn, true);
        else
            env_add("", "", false, v, vn, true);
    }
    switch ((flags >> 2) & 3) {
    case 1:
        env_add("HAKMEM_CONF=", "", false, (const uint8_t *)conffile.path, strlen(conffile.path),
                false);
        break;
    case 2:
        env_add("HAKMEM_CONF=", "", false, (const uint8_t *)fuzz_missing, strlen(fuzz_missing), false);
        break;
    case 3: {
        /* Longer than any path: ignored. */
        static char longenv[5000];
        memset(longenv, 'a', sizeof longenv - 1);
        memcpy(longenv, "HAKMEM_CONF=/", 13);
        env_vec[env_count++] = longenv;
        env_vec[env_count] = NULL;
        break;
    }
    default: break;
    }
    bool secure = flags & 1, no_environ = flags & 2;

    char **saved_env = environ;
    hak_options_inputs in = {
        .system_file = flags & 0x20 ? fuzz_missing : sysfile.path,
        .secure = secure,
        .who = &fuzz_who,
    };
    environ = no_environ ? NULL : env_vec;
    quiet_begin();
    hak_options_load(&in);
    quiet_end();
    environ = saved_env;
    check_all("hak_options_load", true);

    int64_t values[HAK_OPT_COUNT];
    uint8_t sources[HAK_OPT_COUNT];
    memcpy(values, hak_option_values, sizeof values);
    memcpy(sources, hak_option_sources, sizeof sources);

    if (secure) {
        /* The environment must not matter: same result without it. */
        static char *empty_env[1];
        environ = empty_env;
        quiet_begin();
        hak_options_load(&in);
        quiet_end();
        environ = saved_env;
        for (int i = 0; i < HAK_OPT_COUNT; i++)
            if (values[i] != hak_option_values[i] || sources[i] != hak_option_sources[i])
                fuzz_fail("AT_SECURE: option %s is %lld with the environment, %lld without",
                          hak_option_defs[i].name, (long long)values[i],
                          (long long)hak_option_values[i]);
    } else if (!no_environ) {
        int64_t want[HAK_OPT_COUNT];
        bool set[HAK_OPT_COUNT] = { false };
        env_expect(want, set);
        static const int pairs[][2] = {
            { HAK_OPT_LEARN_MISS_LOW, HAK_OPT_LEARN_MISS_HIGH },
            { HAK_OPT_LEARN_CAP_MIN, HAK_OPT_LEARN_CAP_MAX },
        };
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
            int lo = pairs[k][0], hi = pairs[k][1];
            if (sources[lo] == HAK_SRC_DEFAULT && sources[hi] == HAK_SRC_DEFAULT)
                set[lo] = set[hi] = false; /* the pair rule reset both */
        }
        for (int i = 0; i < HAK_OPT_COUNT; i++) {
            if (!set[i])
                continue;
            if (values[i] != want[i] || sources[i] != HAK_SRC_ENV)
                fuzz_fail("environment: option %s is %lld (source %u), HAKMEM_ gave %lld",
                          hak_option_defs[i].name, (long long)values[i], sources[i],
                          (long long)want[i]);
        }
    }

    hak_options_reset();
    return 0;
}

#include "fuzz_main.h"
