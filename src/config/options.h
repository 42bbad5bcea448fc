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
      "Preset for the other keys: conservative keeps less memory cached; secure adds "         \
      "hardening (see hakmem.conf(5)); keys set explicitly override the preset")               \
    X(STATS, "stats", BOOL, 0, 0, 1, NULL,                                                     \
      "Print the statistics table and the effective configuration to stderr at exit")         \
    X(LIVE_STATS, "live_stats", BOOL, 1, 0, 1, NULL,                                           \
      "Publish the statistics in a small file in /dev/shm that hakmemctl stats and top read "  \
      "while the process runs")                                                                \
    X(LIVE_STATS_DELAY_MS, "live_stats_delay_ms", INT, 1000, 0, 86400000, NULL,                \
      "A process creates its statistics file only once it has run this long (short-lived "    \
      "programs never do); 0 creates it at start")                                             \
    X(HEAP_PROFILE_SAMPLE, "heap_profile_sample", SIZE, 0, 0, (int64_t)1 << 40, NULL,          \
      "Sample an allocation every this many bytes on average and keep its call stack for "     \
      "heap profiles; 0 turns the heap profiler off")                                          \
    X(HEAP_PROFILE_PREFIX, "heap_profile_prefix", STRING, 0, 0, 0, NULL,                       \
      "Heap profiles are written to PREFIX.PID.SEQ.heap (empty: /tmp/hakmem)")                 \
    X(HEAP_PROFILE_INTERVAL, "heap_profile_interval", SIZE, 0, 0, (int64_t)1 << 50, NULL,      \
      "Also write a heap profile whenever the estimated bytes in use grew by this much "       \
      "since the last one; 0: only at exit and on request")                                    \
    X(TINY_CACHE_CAP, "tiny_cache_cap", INT, 64, 4, 128, NULL,                                 \
      "Most free blocks the per-thread cache keeps per Tiny class (classes above 512 bytes "   \
      "keep fewer, about 32 KiB each)")                                                        \
    X(BATCH_REFILL, "batch_refill", INT, 32, 1, 64, NULL,                                      \
      "Blocks moved from a slab into the cache in one refill (at most half the class cap)")    \
    X(WARM_POOL_MAX, "warm_pool_max", INT, 16, 1, 32, NULL,                                    \
      "Partly used slabs kept at hand per class before they go to the partial list")           \
    X(PREFILL_BUDGET, "prefill_budget", INT, 1, 1, 16, NULL,                                   \
      "Slabs brought into an empty warm pool at once (secondary prefill)")                     \
    X(MID_RING_CAP, "mid_ring_cap", INT, 32, 2, 64, NULL,                                      \
      "Most free blocks the per-thread cache keeps per Mid class (classes above 4 KiB keep "    \
      "fewer, about 128 KiB each)")                                                            \
    X(MID_REFILL_PAGES, "mid_refill_pages", INT, 2, 1, 8, NULL,                                \
      "Mid pages taken from the segments in one batch when a heap needs fresh pages")          \
    X(EMPTY_SLAB_CACHE, "empty_slab_cache", INT, 4, 0, 16, NULL,                               \
      "Empty slabs a thread keeps for reuse before returning them to their segment")           \
    X(LARGE_CACHE_LIMIT, "large_cache_limit", SIZE, 4 << 20, 0, (int64_t)1 << 30, NULL,        \
      "Bytes of freed Large runs each thread keeps for reuse")                                 \
    X(LARGE_ROUND_PCT, "large_round_pct", INT, 25, 0, 100, NULL,                               \
      "A Large request may reuse a cached run up to this many percent larger (rounding "       \
      "limit)")                                                                                \
    X(PURGE_DELAY_MS, "purge_delay_ms", INT, 250, 0, 3600000, NULL,                            \
      "Milliseconds free memory stays resident before it is returned to the OS")              \
    X(PURGE_MODE, "purge_mode", ENUM, 0, 0, 1, "dontneed|free",                                \
      "How memory is returned: MADV_DONTNEED (RSS drops at once) or MADV_FREE (lazily)")       \
    X(HUGE_THP, "huge_thp", BOOL, 0, 0, 1, NULL,                                               \
      "Ask for transparent huge pages in the Huge tier's arenas, so multi-MiB blocks fault in "\
      "2 MiB at a time")                                                                       \
    X(RETAIN_MAX, "retain_max", SIZE, (int64_t)256 << 20, 0, (int64_t)1 << 40, NULL,           \
      "Most free memory kept resident in the process; above it everything free is returned "   \
      "at once")                                                                               \
    X(FOREIGN_FREE, "foreign_free", ENUM, 0, 0, 2, "abort|warn|ignore",                        \
      "What free, realloc and malloc_usable_size do with a pointer hakmem never handed out: "  \
      "abort with a message, warn once per function and leak it, or ignore it silently")       \
    X(ALLOCATOR, "allocator", ENUM, 0, 0, 1, "hakmem|libc",                                    \
      "Who serves the program: hakmem, or libc: hakmem steps aside and forwards every call "   \
      "to the allocator the program has without it (normally the C library's)")              \
    X(EXCLUDE, "exclude", STRING, 0, 0, 0, NULL,                                               \
      "Programs that keep the C library's allocator: comma-separated executable paths, '*' "   \
      "matches any characters")                                                                \
    X(STEP_ASIDE, "step_aside", BOOL, 1, 0, 1, NULL,                                           \
      "Step aside by itself under valgrind, under a sanitizer runtime that replaces malloc, "  \
      "and when another loaded object exports malloc")                                         \
    X(GUARD_PAGES, "guard_pages", BOOL, 0, 0, 1, NULL,                                         \
      "Put an inaccessible page after every Large and Huge block (and before Huge blocks)")   \
    X(ZERO_ON_FREE, "zero_on_free", BOOL, 0, 0, 1, NULL,                                       \
      "Clear every block when it is freed")                                                    \
    X(RANDOM_FREELIST, "random_freelist", BOOL, 0, 0, 1, NULL,                                 \
      "Hand out a fresh slab's blocks in random order instead of address order")               \
    X(CANARIES, "canaries", BOOL, 0, 0, 1, NULL,                                               \
      "Keep a secret 8-byte canary after the usable size of every Tiny and Mid block and "     \
      "check it at free, realloc and malloc_usable_size (catches small overflows)")            \
    X(QUARANTINE, "quarantine", INT, 0, 0, 1024, NULL,                                         \
      "Freed Tiny and Mid blocks of each class (at most 256 KiB of one) and Large runs (at "   \
      "most 16 and 4 MiB) held back before reuse, each checked for writes when it leaves; "    \
      "0: none")                                                                               \
    X(ZERO_SIZE_GUARD, "zero_size_guard", BOOL, 0, 0, 1, NULL,                                 \
      "malloc(0) returns a unique pointer to inaccessible memory instead of a 16-byte block")  \
    X(LEARN, "learn", BOOL, 0, 0, 1, NULL,                                                     \
      "Run the learner: a background thread that tunes cache caps and the Large rounding "     \
      "limit from hit and miss counts")                                                        \
    X(LEARN_WINDOW_MS, "learn_window_ms", INT, 1000, 10, 60000, NULL,                          \
      "Length of one learner window in milliseconds")                                          \
    X(LEARN_MISS_HIGH, "learn_miss_high", INT, 50, 1, 1000, NULL,                              \
      "Cache misses per thousand allocations above which the learner grows a cache")          \
    X(LEARN_MISS_LOW, "learn_miss_low", INT, 5, 0, 1000, NULL,                                 \
      "Cache misses per thousand allocations below which the learner shrinks a cache")        \
    X(LEARN_CAP_MIN, "learn_cap_min", INT, 8, 2, 128, NULL,                                    \
      "Smallest per-class cache cap the learner sets")                                         \
    X(LEARN_CAP_MAX, "learn_cap_max", INT, 128, 2, 128, NULL,                                  \
      "Largest per-class cache cap the learner sets (Mid caches stop at 64)")                   \
    X(LEARN_DWELL, "learn_dwell", INT, 3, 1, 100, NULL,                                        \
      "Windows a class keeps a cap the learner set before it may change it again")             \
    X(LEARN_ROUND_MAX, "learn_round_max", INT, 50, 0, 100, NULL,                               \
      "Largest Large rounding limit (percent) the learner sets")

typedef enum hak_opt_type {
    HAK_OPT_BOOL,
    HAK_OPT_INT,
    HAK_OPT_SIZE,
    HAK_OPT_ENUM,
    HAK_OPT_STRING, /* value: offset of the text in hak_option_text, 0 = empty */
} hak_opt_type;
/* Where a value comes from, lowest precedence first: a source never
 * overrides a value from a higher one.  A file's section that matches the
 * program outranks the lines of the same files outside any section. */
typedef enum hak_opt_source {
    HAK_SRC_DEFAULT,
    HAK_SRC_FILE,         /* hakmem.conf or hakmem.d, outside any section */
    HAK_SRC_FILE_SECTION, /* hakmem.conf or hakmem.d, a matching section */
    HAK_SRC_CONF,         /* the file named by HAKMEM_CONF, outside any section */
    HAK_SRC_CONF_SECTION, /* the file named by HAKMEM_CONF, a matching section */
    HAK_SRC_ENV,
    HAK_SRC_API,
} hak_opt_source;

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

/* Text of STRING options, NUL-terminated; offset 0 is the empty string. */
#define HAK_OPTION_TEXT_MAX 4096
extern char hak_option_text[HAK_OPTION_TEXT_MAX];
hak_inline const char *hak_opt_str(enum hak_option_id id)
{
    return hak_option_text + hak_option_values[id];
}

/* Parse `value` (len bytes) for option `id`; 0 on success, else a static
 * message saying what is wrong.  Does not store anything. */
const char *hak_option_parse(int id, const char *value, size_t len, int64_t *out);
/* hak_option_parse's verdict on `value` without keeping anything (a text
 * option's value is not copied). */
const char *hak_option_check(int id, const char *value, size_t len);
/* Whether a (alen bytes) is the lower-case word `lower`, in any case. */
bool hak_option_word_is(const char *a, size_t alen, const char *lower);
/* Look up an option by name (len bytes); -1 if unknown. */
int hak_option_find(const char *name, size_t len);
/* Set option id from a source; false (nothing stored) if a higher-precedence
 * source already set it. */
bool hak_option_store(int id, int64_t value, hak_opt_source source);
/* Back to the defaults, every source (and config.c's record of the files
 * read) forgotten. */
void hak_options_reset(void);
/* The profile's presets, for the keys no source set. */
void hak_options_apply_profile(void);

/* options_load.c: what a load reads. */
struct hak_identity;
typedef struct hak_options_inputs {
    const char *system_file; /* read first; a missing file is silent */
    const char *conf_dir;    /* then its *.conf files in name order; NULL: none */
    bool secure;             /* AT_SECURE: $HAKMEM_CONF and HAKMEM_* are ignored */
    bool no_env;             /* neither $HAKMEM_CONF nor HAKMEM_* (what-if questions) */
    struct hak_identity *who; /* the program sections match; NULL: this process */
} hak_options_inputs;
/* Defaults, the system file, the folder's files, $HAKMEM_CONF, the
 * environment (the last two unless secure), then the profile's presets for
 * the keys no source set.  Returns the number of warnings printed (bad
 * lines, bad variables). */
unsigned hak_options_load(const hak_options_inputs *in);
/* hak_options_load with this process's inputs: $sysconfdir/hakmem.conf,
 * $sysconfdir/hakmem.d, and the kernel's AT_SECURE. */
void hak_options_init(void);
/* The value `profile` gives option id when no source sets it. */
int64_t hak_option_profile_default(int profile, int id);

#endif
