/*
 * forward.c - the exclude list and glibc's allocator (see forward.h).
 */
#define _GNU_SOURCE
#include "config/forward.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/options.h"

hak_libc_fns hak_libc;
bool hak_forward;

/* ---- glob matching ---- */

static bool forward_glob(const char *p, size_t plen, const char *s)
{
    /* Iterative '*' backtracking: linear in practice, no recursion. */
    size_t pi = 0, star = (size_t)-1;
    const char *si = s, *mark = s;
    while (*si) {
        if (pi < plen && (p[pi] == '?' || p[pi] == *si)) {
            pi++;
            si++;
        } else if (pi < plen && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

bool hak_exclude_matches(const char *patterns, const char *exe)
{
    const char *p = patterns;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        size_t len = (size_t)(end - p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len && forward_glob(p, len, exe))
            return true;
        p = end;
    }
    return false;
}

/* ---- glibc's symbols, from libc.so.6's own tables ---- */

static uint32_t forward_gnu_hash(const char *name)
{
    uint32_t h = 5381;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = h * 33 + *c;
    return h;
}

typedef struct forward_lib {
    ElfW(Addr) base;
    const ElfW(Sym) *symtab;
    const char *strtab;
    const uint32_t *gnu_hash;
    const ElfW(Half) *versym;
} forward_lib;

/* The loader relocates d_ptr in place on most targets; where it does not,
 * the value is still an offset from the load base. */
static const void *forward_ptr(const forward_lib *lib, ElfW(Addr) v)
{
    return (const void *)(v < lib->base ? v + lib->base : v);
}

static void *forward_lookup(const forward_lib *lib, const char *name)
{
    const uint32_t *h = lib->gnu_hash;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
    const ElfW(Addr) *bloom = (const ElfW(Addr) *)(h + 4);
    const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t hash = forward_gnu_hash(name);
    if (nbuckets == 0)
        return NULL;
    uint32_t i = buckets[hash % nbuckets];
    if (i < symoffset)
        return NULL;
    for (;; i++) {
        uint32_t h2 = chain[i - symoffset];
        const ElfW(Sym) *sym = &lib->symtab[i];
        if ((h2 | 1) == (hash | 1) && strcmp(lib->strtab + sym->st_name, name) == 0 &&
            /* st_info & 0xf: the symbol type, as ELF32/64_ST_TYPE. */
            sym->st_shndx != SHN_UNDEF && (sym->st_info & 0xf) == STT_FUNC &&
            (lib->versym == NULL || (lib->versym[i] & 0x8000) == 0))
            return (void *)(lib->base + sym->st_value);
        if (h2 & 1)
            return NULL;
    }
}

bool hak_libc_resolve(hak_libc_fns *out)
{
    for (const struct link_map *m = _r_debug.r_map; m; m = m->l_next) {
        const char *slash = m->l_name ? strrchr(m->l_name, '/') : NULL;
        const char *file = slash ? slash + 1 : m->l_name;
        if (file == NULL || strncmp(file, "libc.so", 7) != 0)
            continue;
        forward_lib lib = { .base = m->l_addr };
        for (const ElfW(Dyn) *d = m->l_ld; d && d->d_tag != DT_NULL; d++) {
            switch (d->d_tag) {
            case DT_SYMTAB: lib.symtab = forward_ptr(&lib, d->d_un.d_ptr); break;
            case DT_STRTAB: lib.strtab = forward_ptr(&lib, d->d_un.d_ptr); break;
            case DT_GNU_HASH: lib.gnu_hash = forward_ptr(&lib, d->d_un.d_ptr); break;
            case DT_VERSYM: lib.versym = forward_ptr(&lib, d->d_un.d_ptr); break;
            default: break;
            }
        }
        if (!lib.symtab || !lib.strtab || !lib.gnu_hash)
            return false;
        out->malloc = (void *(*)(size_t))forward_lookup(&lib, "malloc");
        out->free = (void (*)(void *))forward_lookup(&lib, "free");
        out->realloc = (void *(*)(void *, size_t))forward_lookup(&lib, "realloc");
        out->memalign = (void *(*)(size_t, size_t))forward_lookup(&lib, "memalign");
        out->usable_size = (size_t(*)(void *))forward_lookup(&lib, "malloc_usable_size");
        return out->malloc && out->free && out->realloc && out->memalign &&
               out->usable_size;
    }
    return false;
}

void hak_forward_decide(void)
{
    const char *patterns = hak_opt_str(HAK_OPT_EXCLUDE);
    if (*patterns == 0)
        return;
    static char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = 0;
    if (!hak_exclude_matches(patterns, exe))
        return;
    if (!hak_libc_resolve(&hak_libc)) {
        hak_config_warn("exclude", 0,
                        "the C library's allocator cannot be found; hakmem serves this program", NULL,
                        0);
        return;
    }
    hak_forward = true;
}
