/*
 * options.c - the option table: the effective values, parsing one value,
 * finding a key, storing by precedence, the profiles' presets.  Loading
 * the sources is options_load.c.  No malloc, no stdio, no getenv.
 */
#include "config/options.h"

#include <string.h>

#include "config/config.h"

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

bool hak_option_word_is(const char *a, size_t alen, const char *lower)
{
    return opt_word_eq_n(a, alen, lower, strlen(lower));
}

static bool opt_word_eq(const char *a, size_t alen, const char *b)
{
    return hak_option_word_is(a, alen, b);
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

const char *hak_option_check(int id, const char *value, size_t len)
{
    if (hak_option_defs[id].type == HAK_OPT_STRING)
        return len >= HAK_OPTION_TEXT_MAX - opt_text_used ? "text too long" : NULL;
    int64_t ignored;
    return hak_option_parse(id, value, len, &ignored);
}

void hak_options_reset(void)
{
    hak_config_forget();
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

/* Presets: what a profile changes, for keys no source set explicitly. */
static const struct opt_preset {
    uint8_t profile;
    uint8_t id;
    int64_t value;
} opt_presets[] = {
    { 1, HAK_OPT_TINY_CACHE_CAP, 32 },
    { 1, HAK_OPT_MID_RING_CAP, 8 },
    { 1, HAK_OPT_WARM_POOL_MAX, 8 },
    { 1, HAK_OPT_EMPTY_SLAB_CACHE, 1 },
    { 1, HAK_OPT_LARGE_CACHE_LIMIT, 1 << 20 },
    { 1, HAK_OPT_PURGE_DELAY_MS, 50 },
    { 2, HAK_OPT_GUARD_PAGES, 1 },
    { 2, HAK_OPT_ZERO_ON_FREE, 1 },
    { 2, HAK_OPT_RANDOM_FREELIST, 1 },
    { 2, HAK_OPT_CANARIES, 1 },
    { 2, HAK_OPT_QUARANTINE, 64 },
    { 2, HAK_OPT_ZERO_SIZE_GUARD, 1 },
};

void hak_options_apply_profile(void)
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

