/*
 * symbols.c - the loaded objects and their exported functions (see
 * symbols.h).
 */
#define _GNU_SOURCE
#include "config/symbols.h"

#include <elf.h>
#include <string.h>

/* Defined by the linker in every dynamically linked object: this object's
 * dynamic section, which the loader's list entry for it points to. */
extern ElfW(Dyn) _DYNAMIC[] __attribute__((weak, visibility("hidden")));

const struct link_map *hak_sym_first(void)
{
    return _r_debug.r_map;
}

const struct link_map *hak_sym_self(void)
{
    for (const struct link_map *m = _r_debug.r_map; m; m = m->l_next)
        if (m->l_ld == _DYNAMIC)
            return m;
    return NULL;
}

const char *hak_sym_file_name(const struct link_map *m)
{
    const char *name = m->l_name ? m->l_name : "";
    const char *slash = strrchr(name, '/');
    return slash ? slash + 1 : name;
}

static uint32_t sym_gnu_hash(const char *name)
{
    uint32_t h = 5381;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = h * 33 + *c;
    return h;
}

/* The loader relocates d_ptr in place on most targets; where it does not,
 * the value is still an offset from the load base. */
static const void *sym_ptr(const hak_sym_object *o, ElfW(Addr) v)
{
    return (const void *)(v < o->base ? v + o->base : v);
}

bool hak_sym_open(hak_sym_object *o, const struct link_map *m)
{
    *o = (hak_sym_object){ .map = m, .base = m->l_addr };
    for (const ElfW(Dyn) *d = m->l_ld; d && d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: o->symtab = sym_ptr(o, d->d_un.d_ptr); break;
        case DT_STRTAB: o->strtab = sym_ptr(o, d->d_un.d_ptr); break;
        case DT_GNU_HASH: o->gnu_hash = sym_ptr(o, d->d_un.d_ptr); break;
        case DT_VERSYM: o->versym = sym_ptr(o, d->d_un.d_ptr); break;
        default: break;
        }
    }
    return o->symtab && o->strtab && o->gnu_hash;
}

void *hak_sym_find(const hak_sym_object *o, const char *name)
{
    const uint32_t *h = o->gnu_hash;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
    const ElfW(Addr) *bloom = (const ElfW(Addr) *)(h + 4);
    const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t hash = sym_gnu_hash(name);
    if (nbuckets == 0)
        return NULL;
    uint32_t i = buckets[hash % nbuckets];
    if (i < symoffset)
        return NULL;
    for (;; i++) {
        uint32_t h2 = chain[i - symoffset];
        const ElfW(Sym) *sym = &o->symtab[i];
        if ((h2 | 1) == (hash | 1) && strcmp(o->strtab + sym->st_name, name) == 0 &&
            /* st_info & 0xf: the symbol type, as ELF32/64_ST_TYPE.  An
             * indirect function (STT_GNU_IFUNC) is not called here: its
             * address is that of its resolver. */
            sym->st_shndx != SHN_UNDEF && (sym->st_info & 0xf) == STT_FUNC &&
            (o->versym == NULL || (o->versym[i] & 0x8000) == 0))
            return (void *)(o->base + sym->st_value);
        if (h2 & 1)
            return NULL;
    }
}

void *hak_sym_next(const struct link_map *after, const char *name)
{
    for (const struct link_map *m = after ? after->l_next : NULL; m; m = m->l_next) {
        hak_sym_object o;
        void *fn = hak_sym_open(&o, m) ? hak_sym_find(&o, name) : NULL;
        if (fn)
            return fn;
    }
    return NULL;
}

/* The address ranges of hak_sym_system_init's objects: written once at
 * initialisation, before any thread of the program's can free. */
#define SYM_SYSTEM_MAX 3
static struct { uintptr_t lo, hi; } sym_system[SYM_SYSTEM_MAX];
static unsigned sym_system_count;

/* [lo, hi) of every segment m loaded, read from its ELF header, which a
 * shared object's first segment maps at its load address. */
static void sym_system_add(const struct link_map *m)
{
    if (m == NULL || m->l_addr == 0 || sym_system_count == SYM_SYSTEM_MAX)
        return;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)m->l_addr;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_phentsize != sizeof(ElfW(Phdr)))
        return;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(m->l_addr + eh->e_phoff);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        uintptr_t a = m->l_addr + ph[i].p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph[i].p_memsz > hi)
            hi = a + ph[i].p_memsz;
    }
    if (lo < hi) {
        sym_system[sym_system_count].lo = lo;
        sym_system[sym_system_count].hi = hi;
        sym_system_count++;
    }
}

void hak_sym_system_init(void)
{
    const struct link_map *self = hak_sym_self();
    /* Linked into the program (the static library): the program's code is
     * not ours to rule out. */
    if (self != hak_sym_first())
        sym_system_add(self);
    for (const struct link_map *m = hak_sym_first(); m; m = m->l_next) {
        const char *name = hak_sym_file_name(m);
        if (strncmp(name, "libc.so.", 8) == 0 || strncmp(name, "ld-linux", 8) == 0)
            sym_system_add(m);
    }
}

bool hak_sym_in_system(const void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    for (unsigned i = 0; i < sym_system_count; i++)
        if (a >= sym_system[i].lo && a < sym_system[i].hi)
            return true;
    return false;
}
