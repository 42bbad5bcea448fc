/*
 * options.c - the option table, value parsing and environment overrides.
 * Runs during initialisation: no malloc, no stdio, no getenv.
 */
#define _GNU_SOURCE
#include "config/options.h"

#include <fcntl.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "config/config.h"
#include "base/diag.h"
#include "os/os.h"

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
char hak_option_text[HAK_OPTION_TEXT_MAX];
/* Bytes of hak_option_text in use; the text only grows during one
 * initialisation (bounded), and hak_options_reset starts it over. */
static size_t opt_text_used = 1;

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
    case HAK_OPT_STRING: {
        /* Stored as is (the caller trimmed it); the range is unused. */
        if (len >= HAK_OPTION_TEXT_MAX - opt_text_used)
            return "text too long";
        x = (int64_t)opt_text_used;
        memcpy(hak_option_text + opt_text_used, v, len);
        hak_option_text[opt_text_used + len] = 0;
        opt_text_used += len + 1;
        *out = x;
        return NULL;
    }
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
    opt_text_used = 1;
    hak_option_text[0] = 0;
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        hak_option_values[i] = hak_option_defs[i].def;
        hak_option_sources[i] = HAK_SRC_DEFAULT;
    }
}

bool hak_option_store(int id, int64_t value, hak_opt_source source)
{
    if (source < hak_option_sources[id])
        return false;
    hak_option_values[id] = value;
    hak_option_sources[id] = (uint8_t)source;
    return true;
}

static void opt_env_warn(const char *entry, size_t len, const char *why)
{
    char mem[256];
    hak_buf b = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
    hak_buf_str(&b, "hakmem: environment: ");
    hak_buf_mem(&b, entry, len > 96 ? 96 : len);
    hak_buf_str(&b, ": ");
    hak_buf_str(&b, why);
    hak_buf_str(&b, "; keeping the previous value");
    b.data[b.len++] = '\n';
    hak_os_write(2, b.data, b.len);
    hak_config_warnings++;
}

typedef void (*opt_env_fn)(const char *entry, size_t len, void *ctx);

/* Call fn for every "NAME=value" entry of the process environment.  environ
 * is not set yet when the dynamic loader makes the first call; the kernel's
 * copy in /proc/self/environ gives the same initial environment then. */
static void opt_env_foreach(opt_env_fn fn, void *ctx)
{
    if (environ != NULL) {
        for (char **e = environ; *e; e++)
            fn(*e, strlen(*e), ctx);
        return;
    }
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
            fn(buf + start, i - start, ctx);
            start = i + 1;
        }
    }
}

static const char opt_env_prefix[] = "HAKMEM_";

/* One "NAME=value" entry: apply it if it names an option. */
static void opt_apply_env_entry(const char *e, size_t len, void *ctx)
{
    (void)ctx;
    size_t plen = sizeof opt_env_prefix - 1;
    if (len <= plen || memcmp(e, opt_env_prefix, plen) != 0)
        return;
    const char *name = e + plen;
    const char *eq = memchr(name, '=', len - plen);
    if (eq == NULL)
        return;
    size_t nlen = (size_t)(eq - name);
    const char *val = eq + 1;
    size_t vlen = len - (size_t)(val - e);
    int id = hak_option_find(name, nlen);
    if (id < 0)
        return; /* HAKMEM_CONF, and other tools sharing the prefix */
    int64_t x;
    const char *err = hak_option_parse(id, val, vlen, &x);
    if (err) {
        opt_env_warn(e, len, err);
        return;
    }
    hak_option_store(id, x, HAK_SRC_ENV);
}

struct opt_conf_path {
    char path[4096];
    bool found;
};

static void opt_find_conf(const char *e, size_t len, void *ctx)
{
    static const char key[] = "HAKMEM_CONF=";
    struct opt_conf_path *c = ctx;
    if (len < sizeof key - 1 || memcmp(e, key, sizeof key - 1) != 0)
        return;
    size_t vlen = len - (sizeof key - 1);
    if (vlen == 0 || vlen >= sizeof c->path)
        return;
    memcpy(c->path, e + sizeof key - 1, vlen);
    c->path[vlen] = 0;
    c->found = true;
}

void hak_options_apply_env(void)
{
    opt_env_foreach(opt_apply_env_entry, NULL);
}

int hak_options_force_secure = -1;

bool hak_options_secure_mode(void)
{
    if (hak_options_force_secure >= 0)
        return hak_options_force_secure != 0;
    return getauxval(AT_SECURE) != 0;
}

/* Presets: what a profile changes, for keys no source set explicitly. */
static const struct opt_preset {
    uint8_t profile;
    uint8_t id;
    int64_t value;
} opt_presets[] = {
    { 1, HAK_OPT_TINY_CACHE_CAP, 32 },
    { 1, HAK_OPT_MID_RING_CAP, 8 },
    { 1, HAK_OPT_WARM_POOL_MAX, 8 },
    { 1, HAK_OPT_PREFILL_BUDGET, 2 },
    { 1, HAK_OPT_EMPTY_SLAB_CACHE, 1 },
    { 1, HAK_OPT_LARGE_CACHE_LIMIT, 1 << 20 },
    { 1, HAK_OPT_PURGE_DELAY_MS, 50 },
    { 2, HAK_OPT_GUARD_PAGES, 1 },
    { 2, HAK_OPT_ZERO_ON_FREE, 1 },
    { 2, HAK_OPT_RANDOM_FREELIST, 1 },
};

static void opt_apply_profile(void)
{
    int64_t profile = hak_option_values[HAK_OPT_PROFILE];
    for (size_t i = 0; i < sizeof opt_presets / sizeof opt_presets[0]; i++) {
        const struct opt_preset *p = &opt_presets[i];
        if (p->profile == profile && hak_option_sources[p->id] == HAK_SRC_DEFAULT)
            hak_option_values[p->id] = p->value;
    }
}

int64_t hak_option_profile_default(int profile, int id)
{
    for (size_t i = 0; i < sizeof opt_presets / sizeof opt_presets[0]; i++)
        if (opt_presets[i].profile == profile && opt_presets[i].id == id)
            return opt_presets[i].value;
    return hak_option_defs[id].def;
}

/* Rules between keys: a pair that contradicts itself goes back to defaults. */
static void opt_check_pair(int low, int high)
{
    if (hak_option_values[low] <= hak_option_values[high])
        return;
    char msg[160];
    hak_buf b = { .data = msg, .cap = sizeof msg - 1, .fd = -1 };
    hak_buf_str(&b, hak_option_defs[low].name);
    hak_buf_str(&b, " is larger than ");
    hak_buf_str(&b, hak_option_defs[high].name);
    hak_buf_str(&b, "; both keep their defaults");
    msg[b.len] = 0;
    hak_config_warn("configuration", 0, msg, NULL, 0);
    hak_option_values[low] = hak_option_defs[low].def;
    hak_option_values[high] = hak_option_defs[high].def;
    hak_option_sources[low] = hak_option_sources[high] = HAK_SRC_DEFAULT;
}

void hak_options_init(void)
{
    hak_options_reset();
    hak_config_load_file(hak_config_system_path, HAK_SRC_FILE, false);
    if (!hak_options_secure_mode()) {
        /* setuid/setgid programs ignore both: the environment is the
         * caller's, not the program owner's. */
        static struct opt_conf_path conf;
        conf.found = false;
        opt_env_foreach(opt_find_conf, &conf);
        if (conf.found)
            hak_config_load_file(conf.path, HAK_SRC_FILE, true);
        hak_options_apply_env();
    }
    opt_check_pair(HAK_OPT_LEARN_MISS_LOW, HAK_OPT_LEARN_MISS_HIGH);
    opt_check_pair(HAK_OPT_LEARN_CAP_MIN, HAK_OPT_LEARN_CAP_MAX);
    opt_apply_profile();
}
