/*
 * symbols.h - the objects loaded in this process and the functions they
 * export, read from the dynamic loader's list of objects (_r_debug) and
 * each object's own symbol tables, without dlsym: dlsym takes the loader's
 * lock, which the first malloc may be called under, and may allocate.
 *
 * The list is in load order, which for the objects loaded at start is the
 * order of the global lookup scope: the program, the preloaded libraries,
 * then the libraries they need.  Only objects with a GNU hash table are
 * searched (every toolchain has written one by default for years).
 */
#ifndef HAK_SYMBOLS_H
#define HAK_SYMBOLS_H

#include <link.h>

#include "internal.h"

/* One loaded object whose dynamic symbols can be searched. */
typedef struct hak_sym_object {
    const struct link_map *map;
    ElfW(Addr) base;
    const ElfW(Sym) *symtab;
    const char *strtab;
    const uint32_t *gnu_hash;
    const ElfW(Half) *versym;
} hak_sym_object;

/* The first loaded object (the program), or NULL. */
const struct link_map *hak_sym_first(void);
/* The object this code is linked into: libhakmem.so, or the program for
 * the static library. */
const struct link_map *hak_sym_self(void);
/* Prepare o for lookups in m; false if m has no tables to search. */
bool hak_sym_open(hak_sym_object *o, const struct link_map *m);
/* Address of function `name`, defined (not imported) by o in its default
 * version; NULL if o does not export it. */
void *hak_sym_find(const hak_sym_object *o, const char *name);
/* The first definition of function `name` in the objects after `after` in
 * the list: what dlsym(RTLD_NEXT, name) would give code of `after`. */
void *hak_sym_next(const struct link_map *after, const char *name);
/* The object's file name without its folder; "" for the program. */
const char *hak_sym_file_name(const struct link_map *m);

/* Note where the C library, the dynamic loader and (when it is a shared
 * library of its own) hakmem are mapped.  Once, at initialisation. */
void hak_sym_system_init(void);
/* Whether code at addr belongs to one of them.  false when they could not
 * be found (a static program, another C library). */
bool hak_sym_in_system(const void *addr);

#endif
