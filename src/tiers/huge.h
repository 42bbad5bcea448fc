/*
 * huge.h - Huge tier (> 1 MiB, or alignment above what Large serves).
 *
 * Up to 32 MiB (alignment up to 64 KiB, no guard pages): a run of 64 KiB
 * pages in a Huge arena, 64 MiB of address space aligned to its size and
 * marked HAK_SEGMAP_HUGE_ARENA, run by the engine of runs.h as the Large
 * segments are: freed blocks merge, a new block reuses their resident
 * pages, free pages decay.  realloc grows or shrinks in place, else moves.
 *
 * Larger blocks: one mapping per block.  The mapping starts on a segment
 * boundary with a small header there; the user pointer follows within the
 * first segment (or is exactly one segment in, for alignments of a segment
 * or more), so the header is always at the segment base of (ptr - 1).
 * realloc uses mremap, which moves pages without copying.
 */
#ifndef HAK_HUGE_H
#define HAK_HUGE_H

#include "base/segment_map.h"
#include "internal.h"

/* *zeroed: the memory is known to read as zero (a fresh mapping). */
void *hak_huge_alloc(size_t size, size_t align, bool *zeroed);
/* Unmap cached freed mappings and purge free arena pages older than the
 * purge delay (all if force); returns the bytes released. */
size_t hak_huge_purge(uint64_t now_ms, bool force);
/* Bytes of Huge arenas: mapped, and free-but-resident. */
void hak_huge_totals(size_t *mapped, size_t *dirty_free);
/* Is `map` a segment map value of the Huge tier? */
hak_inline bool hak_huge_map(unsigned map)
{
    return map == HAK_SEGMAP_HUGE_HEAD || map == HAK_SEGMAP_HUGE_TAIL ||
           map == HAK_SEGMAP_HUGE_ARENA;
}
/* Once, at initialisation (runtime/init.c) and before the first block:
 * the pool's geometry, and the huge_thp option. */
void hak_huge_init(void);
void hak_huge_fork_prepare(void);
void hak_huge_fork_parent(void);
void hak_huge_fork_child(void);
/* p is in a region the segment map marks Huge: is it inside a Huge arena
 * or mapping (false: it is in the unmapped rest of a mapping's last
 * region)? */
bool hak_huge_contains(const void *p);
/* p is in a region the segment map marks Huge.  expected_size: 0, or the
 * size a sized free was given; expected_align: 0, or the alignment an
 * aligned free was given.  Either that does not match what p was allocated
 * with is reported as misuse. */
void hak_huge_free(void *p, size_t expected_size, size_t expected_align);
size_t hak_huge_usable(const void *p);
/* New pointer (p itself or moved), or NULL with errno ENOMEM (p intact). */
void *hak_huge_realloc(void *p, size_t size);

#endif
