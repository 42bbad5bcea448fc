/*
 * options.c - the option table, value parsing and environment overrides.
 * Runs during initialisation: no malloc, no stdio, no getenv.
 */
#define _GNU_SOURCE
#include "options.h"

#include <fcntl.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "diag.h"
#include "os.h"

extern char **environ;

const hak_option_def hak_option_defs[HAK_OPT_COUNT] = {
#define HAK_OPT_DEF(id, name, type, def, min, max, choices, doc) \
    { name, HAK_OPT_##type, def, min, max, choices, doc },
    HAK_OPTION_TABLE(HAK_OPT_DEF)
#undef HAK_OPT_DEF
};

int64_t hak_option_values[HAK_OPT_COUNT] = {
#define HAK_OPT_VAL(id, name, type, def, min, max, choices, doc) def,
    HAK_OPTION_TABLE(HAK_OPT_VAL)
#undef HAK_OPT_VAL
};

uint8_t hak_option_sources[HAK_OPT_COUNT];

/* Case-insensitive comparison of a (alen bytes) with lower-case b (blen). */
static bool opt_word_eq_n(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != b[i])
            return false;
    }
    return true;
}

static bool opt_word_eq(const char *a, size_t alen, const char *b)
{
    return opt_word_eq_n(a, alen, b, strlen(b));
}

int hak_option_find(const char *name, size_t len)
{
    for (int i = 0; i < HAK_OPT_COUNT; i++)
        if (opt_word_eq(name, len, hak_option_defs[i].name))
            return i;
    return -1;
}

static const char *opt_parse_int(const char *v, size_t len, bool size_suffix, int64_t *out)
{
    if (len == 0)
        return "empty value";
    uint64_t x = 0;
    size_t i = 0;
    for (; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
        if (x > (UINT64_MAX - 9) / 10)
            return "number too large";
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (i == 0)
        return "not a number";
    if (i < len && size_suffix) {
        unsigned shift = 0;
        switch (v[i]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return "bad size suffix (use K, M or G)";
        }
        i++;
        if (i < len && (v[i] == 'b' || v[i] == 'B'))
            i++;
        if (x > (UINT64_MAX >> shift))
            return "number too large";
        x <<= shift;
    }
    if (i != len)
        return "trailing characters after the number";
    if (x > (uint64_t)INT64_MAX)
        return "number too large";
    *out = (int64_t)x;
    return NULL;
}

const char *hak_option_parse(int id, const char *v, size_t len, int64_t *out)
{
    const hak_option_def *d = &hak_option_defs[id];
    int64_t x = 0;
    const char *err = NULL;
    switch (d->type) {
    case HAK_OPT_BOOL:
        if (opt_word_eq(v, len, "1") || opt_word_eq(v, len, "on") ||
            opt_word_eq(v, len, "true") || opt_word_eq(v, len, "yes"))
            x = 1;
        else if (opt_word_eq(v, len, "0") || opt_word_eq(v, len, "off") ||
                 opt_word_eq(v, len, "false") || opt_word_eq(v, len, "no"))
            x = 0;
        else
            return "not a boolean (use on/off, 1/0, true/false)";
        break;
    case HAK_OPT_INT:
    case HAK_OPT_SIZE:
        err = opt_parse_int(v, len, d->type == HAK_OPT_SIZE, &x);
        if (err)
            return err;
        break;
    case HAK_OPT_ENUM: {
        const char *c = d->choices;
        for (int64_t idx = 0;; idx++) {
            const char *bar = strchr(c, '|');
            size_t clen = bar ? (size_t)(bar - c) : strlen(c);
            if (opt_word_eq_n(v, len, c, clen)) {
                x = idx;
                break;
            }
            if (!bar)
                return "not one of the allowed values";
            c = bar + 1;
        }
        break;
    }
    }
    if (x < d->min || x > d->max)
        return "out of range";
    *out = x;
    return NULL;
}

void hak_options_reset(void)
{
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        hak_option_values[i] = hak_option_defs[i].def;
        hak_option_sources[i] = HAK_SRC_DEFAULT;
    }
}

static void opt_env_warn(const char *entry, size_t len, const char *why)
{
    char mem[256];
    hak_buf b = { mem, 0, sizeof mem - 1, -1 };
    hak_buf_str(&b, "hakmem: environment: ");
    hak_buf_mem(&b, entry, len > 96 ? 96 : len);
    hak_buf_str(&b, ": ");
    hak_buf_str(&b, why);
    hak_buf_str(&b, "; keeping the previous value");
    b.data[b.len++] = '\n';
    hak_os_write(2, b.data, b.len);
}

/* One "NAME=value" entry of the environment. */
static void opt_apply_env_entry(const char *e, size_t len)
{
    static const char prefix[] = "HAKMEM_";
    if (len < sizeof prefix || memcmp(e, prefix, sizeof prefix - 1) != 0)
        return;
    const char *name = e + sizeof prefix - 1;
    const char *eq = memchr(name, '=', len - (sizeof prefix - 1));
    if (eq == NULL)
        return;
    size_t nlen = (size_t)(eq - name);
    const char *val = eq + 1;
    size_t vlen = len - (size_t)(val - e);
    if (opt_word_eq(name, nlen, "conf"))
        return; /* names a config file, read by the config loader */
    int id = hak_option_find(name, nlen);
    if (id < 0)
        return; /* other tools share the prefix (HAKMEM_LIB in our tests) */
    int64_t x;
    const char *err = hak_option_parse(id, val, vlen, &x);
    if (err) {
        opt_env_warn(e, len, err);
        return;
    }
    hak_option_values[id] = x;
    hak_option_sources[id] = HAK_SRC_ENV;
}

/* environ is not set yet when the dynamic loader makes the first call;
 * /proc/self/environ then gives the same initial environment. */
static void opt_apply_proc_environ(void)
{
    static char buf[16384];
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf)
            break;
    }
    close(fd);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == 0) {
            opt_apply_env_entry(buf + start, i - start);
            start = i + 1;
        }
    }
}

void hak_options_apply_env(void)
{
    if (getauxval(AT_SECURE))
        return; /* setuid/setgid: the environment is not trusted */
    if (environ == NULL) {
        opt_apply_proc_environ();
        return;
    }
    for (char **e = environ; *e; e++)
        opt_apply_env_entry(*e, strlen(*e));
}

void hak_options_init(void)
{
    hak_options_reset();
    hak_options_apply_env();
}
