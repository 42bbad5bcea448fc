/*
 * options.h - the one table of hakmem's knobs.  Each row gives the name
 * (config key; the environment variable is HAKMEM_<NAME upper-cased>),
 * type, default, range and a one-line description.  The table drives the
 * config-file parser, the environment overrides, the effective-config dump
 * and the documentation check.
 */
#ifndef HAK_OPTIONS_H
#define HAK_OPTIONS_H

#include "internal.h"

/* X(ID, name, type, default, min, max, choices, doc)
 * Sizes are in bytes (the parser takes K/M/G suffixes); enums store the
 * index of the choice in the '|'-separated `choices`. */
#define HAK_OPTION_TABLE(X)                                                                    \
    X(PROFILE, "profile", ENUM, 0, 0, 2, "default|conservative|secure",                        \
      "Preset: conservative keeps less memory cached; secure adds guard pages, zero-on-free "  \
      "and randomised free lists")                                                             \
    X(STATS, "stats", BOOL, 0, 0, 1, NULL,                                                     \
      "Print the statistics table and the effective configuration to stderr at exit")         \
    X(TINY_CACHE_CAP, "tiny_cache_cap", INT, 64, 4, 128, NULL,                                 \
      "Most free blocks the per-thread cache keeps per Tiny class (larger classes keep "       \
      "fewer, about 32 KiB each)")                                                             \
    X(BATCH_REFILL, "batch_refill", INT, 32, 1, 64, NULL,                                      \
      "Blocks moved from a slab into the cache in one refill (at most half the class cap)")    \
    X(WARM_POOL_MAX, "warm_pool_max", INT, 16, 1, 32, NULL,                                    \
      "Partly used slabs kept at hand per class before they go to the partial list")           \
    X(PREFILL_BUDGET, "prefill_budget", INT, 4, 1, 16, NULL,                                   \
      "Slabs brought into an empty warm pool at once (secondary prefill)")                     \
    X(MID_RING_CAP, "mid_ring_cap", INT, 32, 2, 64, NULL,                                      \
      "Most free blocks the per-thread ring keeps per Mid class (larger classes keep fewer, "  \
      "about 128 KiB each)")                                                                   \
    X(MID_REFILL_PAGES, "mid_refill_pages", INT, 2, 1, 8, NULL,                                \
      "Mid pages taken from the segments in one batch when a heap needs fresh pages")          \
    X(EMPTY_SLAB_CACHE, "empty_slab_cache", INT, 4, 0, 16, NULL,                               \
      "Empty slabs a thread keeps for reuse before returning them to their segment")           \
    X(LARGE_CACHE_LIMIT, "large_cache_limit", SIZE, 4 << 20, 0, (int64_t)1 << 30, NULL,        \
      "Bytes of freed Large runs each thread keeps for reuse")                                 \
    X(PURGE_DELAY_MS, "purge_delay_ms", INT, 250, 0, 3600000, NULL,                            \
      "Milliseconds free memory stays resident before it is returned to the OS")              \
    X(PURGE_MODE, "purge_mode", ENUM, 0, 0, 1, "dontneed|free",                                \
      "How memory is returned: MADV_DONTNEED (RSS drops at once) or MADV_FREE (lazily)")

typedef enum hak_opt_type { HAK_OPT_BOOL, HAK_OPT_INT, HAK_OPT_SIZE, HAK_OPT_ENUM } hak_opt_type;
typedef enum hak_opt_source { HAK_SRC_DEFAULT, HAK_SRC_FILE, HAK_SRC_ENV, HAK_SRC_API } hak_opt_source;

enum hak_option_id {
#define HAK_OPT_ID(id, name, type, def, min, max, choices, doc) HAK_OPT_##id,
    HAK_OPTION_TABLE(HAK_OPT_ID)
#undef HAK_OPT_ID
    HAK_OPT_COUNT
};

typedef struct hak_option_def {
    const char *name;
    hak_opt_type type;
    int64_t def, min, max;
    const char *choices;
    const char *doc;
} hak_option_def;

extern const hak_option_def hak_option_defs[HAK_OPT_COUNT];
/* Effective values; written during init (and by the learner for caps). */
extern int64_t hak_option_values[HAK_OPT_COUNT];
extern uint8_t hak_option_sources[HAK_OPT_COUNT];

hak_inline int64_t hak_opt(enum hak_option_id id) { return hak_option_values[id]; }

/* Parse `value` (len bytes) for option `id`; 0 on success, else a static
 * message saying what is wrong.  Does not store anything. */
const char *hak_option_parse(int id, const char *value, size_t len, int64_t *out);
/* Look up an option by name (len bytes); -1 if unknown. */
int hak_option_find(const char *name, size_t len);
/* Environment overrides (skipped when AT_SECURE). */
void hak_options_apply_env(void);
/* Defaults, then the environment (unless AT_SECURE). */
void hak_options_init(void);
/* Reset to defaults (tests). */
void hak_options_reset(void);

#endif
