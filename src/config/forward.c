/*
 * forward.c - stepping aside (see forward.h).
 */
#define _GNU_SOURCE
#include "config/forward.h"

#include <string.h>

#include "config/config.h"
#include "config/options.h"
#include "config/symbols.h"
#include "os/os.h"

hak_next_fns hak_next;
bool hak_forward;
hak_aside hak_forward_reason;
/* The object behind HAK_ASIDE_SANITIZER and HAK_ASIDE_MALLOC, and the
 * sanitizer's name. */
static const struct link_map *forward_object;
static const char *forward_sanitizer;

hak_aside hak_forward_configured(hak_identity *who)
{
    if (hak_opt(HAK_OPT_ALLOCATOR) == 1)
        return HAK_ASIDE_ALLOCATOR;
    const char *patterns = hak_opt_str(HAK_OPT_EXCLUDE);
    if (*patterns == 0)
        return HAK_ASIDE_NONE;
    hak_identity_read(who);
    if (who->exe && hak_glob_list(patterns, strlen(patterns), who->exe, false))
        return HAK_ASIDE_EXCLUDE;
    return HAK_ASIDE_NONE;
}

/* Sanitizer runtimes, by the function each one's initialisation exports. */
static const struct {
    const char *symbol, *name;
} forward_sanitizers[] = {
    { "__asan_init", "AddressSanitizer" },
    { "__hwasan_init", "HWAddressSanitizer" },
    { "__msan_init", "MemorySanitizer" },
    { "__tsan_init", "ThreadSanitizer" },
    { "__lsan_init", "LeakSanitizer" },
};

/* An object other than hakmem, the C library and the dynamic loader that
 * exports malloc. */
static hak_aside forward_find_other_malloc(const struct link_map *self)
{
    for (const struct link_map *m = hak_sym_first(); m; m = m->l_next) {
        if (m == self || m->l_addr == _r_debug.r_ldbase ||
            strncmp(hak_sym_file_name(m), "libc.so", 7) == 0)
            continue;
        hak_sym_object o;
        if (!hak_sym_open(&o, m) || hak_sym_find(&o, "malloc") == NULL)
            continue;
        forward_object = m;
        for (size_t i = 0; i < sizeof forward_sanitizers / sizeof forward_sanitizers[0]; i++) {
            if (hak_sym_find(&o, forward_sanitizers[i].symbol)) {
                forward_sanitizer = forward_sanitizers[i].name;
                return HAK_ASIDE_SANITIZER;
            }
        }
        return HAK_ASIDE_MALLOC;
    }
    return HAK_ASIDE_NONE;
}

static bool forward_resolve(const struct link_map *after)
{
    hak_next_fns *n = &hak_next;
    n->malloc = (void *(*)(size_t))hak_sym_next(after, "malloc");
    n->free = (void (*)(void *))hak_sym_next(after, "free");
    n->calloc = (void *(*)(size_t, size_t))hak_sym_next(after, "calloc");
    n->realloc = (void *(*)(void *, size_t))hak_sym_next(after, "realloc");
    n->memalign = (void *(*)(size_t, size_t))hak_sym_next(after, "memalign");
    n->usable_size = (size_t(*)(void *))hak_sym_next(after, "malloc_usable_size");
    n->malloc_trim = (int (*)(size_t))hak_sym_next(after, "malloc_trim");
    n->mallopt = (int (*)(int, int))hak_sym_next(after, "mallopt");
    n->malloc_stats = (void (*)(void))hak_sym_next(after, "malloc_stats");
    n->malloc_info = (int (*)(int, FILE *))hak_sym_next(after, "malloc_info");
    n->mallinfo = (struct mallinfo(*)(void))hak_sym_next(after, "mallinfo");
    n->mallinfo2 = (struct mallinfo2(*)(void))hak_sym_next(after, "mallinfo2");
    return n->malloc && n->free && n->calloc && n->realloc && n->memalign && n->usable_size;
}

void hak_forward_decide(void)
{
    const struct link_map *self = hak_sym_self();
    hak_aside why = hak_forward_configured(hak_identity_self());
    /* Automatic only where hakmem replaces malloc: libhakmem.so, never the
     * program (the static library linked into it). */
    if (why == HAK_ASIDE_NONE && hak_opt(HAK_OPT_STEP_ASIDE) && self && self != hak_sym_first()) {
        if (hak_os_under_valgrind())
            why = HAK_ASIDE_VALGRIND;
        else
            why = forward_find_other_malloc(self);
    }
    if (why == HAK_ASIDE_NONE)
        return;
    if (!forward_resolve(self ? self : hak_sym_first())) {
        hak_config_warn("step aside", 0,
                        "the next allocator's functions cannot be found; hakmem serves this program",
                        NULL, 0);
        return;
    }
    hak_forward_reason = why;
    hak_forward = true;
}

void hak_forward_describe(hak_buf *b)
{
    switch (hak_forward_reason) {
    case HAK_ASIDE_NONE: hak_buf_str(b, "no"); return;
    case HAK_ASIDE_ALLOCATOR:
        hak_buf_str(b, "allocator = libc (");
        hak_config_origin_describe(b, HAK_OPT_ALLOCATOR);
        hak_buf_char(b, ')');
        return;
    case HAK_ASIDE_EXCLUDE:
        hak_buf_str(b, "exclude lists this program (");
        hak_config_origin_describe(b, HAK_OPT_EXCLUDE);
        hak_buf_char(b, ')');
        return;
    case HAK_ASIDE_VALGRIND: hak_buf_str(b, "running under valgrind"); return;
    case HAK_ASIDE_SANITIZER:
        hak_buf_str(b, forward_sanitizer);
        hak_buf_str(b, " runtime in ");
        break;
    case HAK_ASIDE_MALLOC: hak_buf_str(b, "another malloc in "); break;
    }
    const char *name = hak_sym_file_name(forward_object);
    hak_buf_str(b, *name ? name : "the program");
}
