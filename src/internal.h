/*
 * internal.h - constants and macros shared by every part of hakmem.
 *
 * The architecture (floors, the life of a malloc and a free, memory
 * orderings, where each key acts) is docs/ARCHITECTURE.md.
 *
 * Address space layout:
 *   - Memory comes from the OS in 4 MiB segments aligned to their size, so
 *     ptr -> segment is a mask.  A byte per segment in the segment map says
 *     what kind of segment a region is (or that it is not ours).
 *   - Tiny segments hold 64 KiB slabs, Mid segments 256 KiB pages (both use
 *     the same slab machinery), Large segments 4 KiB-page runs, Huge arenas
 *     (64 MiB) 64 KiB-page runs; Huge blocks above 32 MiB are their own
 *     segment-aligned mapping.  Tiny segments are placed in the Tiny arena,
 *     which keeps their slab descriptors in one array (small/slab.h).
 */
#ifndef HAK_INTERNAL_H
#define HAK_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define hak_likely(x)   __builtin_expect(!!(x), 1)
#define hak_unlikely(x) __builtin_expect(!!(x), 0)
#define hak_noinline    __attribute__((noinline))
#define hak_cold        __attribute__((cold, noinline))
#define hak_inline      static inline __attribute__((always_inline))
#define hak_noreturn    __attribute__((noreturn))
#define HAK_API         __attribute__((visibility("default")))
/* On extern declarations of hot globals: lets the compiler address them
 * directly (RIP-relative) instead of through the GOT or a base register. */
#define HAK_HIDDEN      __attribute__((visibility("hidden")))
#define HAK_TLS         __thread __attribute__((tls_model("initial-exec")))
#define HAK_CACHE_LINE  64
/* Keeps the frame pointer in an out-of-line function that can lie between
 * a program's call and the heap profiler's stack walk (runtime/prof.c):
 * the walk follows saved frame pointers and would skip the caller of a
 * function that has none.  Only slow paths carry it.  Clang has no such
 * per-function switch; there the walk may start one frame late. */
#if defined(__GNUC__) && !defined(__clang__)
#define HAK_FRAME       __attribute__((optimize("no-omit-frame-pointer")))
#else
#define HAK_FRAME
#endif

#if defined(__x86_64__) || defined(__i386__)
#define hak_cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define hak_cpu_relax() __asm__ volatile("yield")
#else
#define hak_cpu_relax() ((void)0)
#endif

/* Segments. */
#define HAK_SEGMENT_SHIFT 22
#define HAK_SEGMENT_SIZE  ((size_t)1 << HAK_SEGMENT_SHIFT)
#define HAK_SEGMENT_MASK  (HAK_SEGMENT_SIZE - 1)
/* User address space covered by the segment map (x86-64 / aarch64 4-level). */
#define HAK_ADDRESS_BITS  47
#define HAK_SEGMAP_ENTRIES ((size_t)1 << (HAK_ADDRESS_BITS - HAK_SEGMENT_SHIFT))

#define HAK_PAGE_SHIFT 12
#define HAK_PAGE_SIZE  ((size_t)1 << HAK_PAGE_SHIFT)

/* Tiers. */
#define HAK_TINY_MAX   ((size_t)1024)
#define HAK_MID_MAX    ((size_t)32 * 1024)
#define HAK_LARGE_MAX  ((size_t)1024 * 1024)
/* Largest request we try to serve: anything above cannot be mapped anyway. */
#define HAK_ALLOC_MAX  ((size_t)PTRDIFF_MAX - 2 * HAK_SEGMENT_SIZE)

/* Every block is at least this aligned (alignof(max_align_t) on x86-64). */
#define HAK_MIN_ALIGN 16

hak_inline size_t hak_align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
hak_inline bool hak_is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

#endif
