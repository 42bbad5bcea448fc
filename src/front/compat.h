/*
 * compat.h - glibc's malloc extensions on hakmem's heap: malloc_trim,
 * mallinfo2/mallinfo, malloc_stats, malloc_info, mallopt.  The standard
 * names are exported by interpose.c; the hak_ names by compat.c.
 */
#ifndef HAK_COMPAT_H
#define HAK_COMPAT_H

#include <malloc.h>
#include <stdio.h>

#include "internal.h"

int hak_malloc_trim_impl(size_t pad);
void hak_mallinfo2_impl(struct mallinfo2 *out);
struct mallinfo hak_mallinfo_impl(void);
void hak_malloc_stats_impl(void);
int hak_malloc_info_impl(int options, FILE *fp);
int hak_mallopt_impl(int param, int value);

#endif
