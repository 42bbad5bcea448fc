/*
 * track.h - hooks that tell AddressSanitizer which heap memory is usable.
 *
 * In normal builds they compile to nothing.  With HAK_TRACK_ASAN (the
 * fuzzing build) a block is poisoned while it is free, so a use after free
 * through hakmem is reported by ASan; hakmem's own reads and writes of the
 * two header words of a free block are bracketed by open/close.
 *
 * Memory other threads can take (a run given back to a shared pool, a
 * block pushed where another heap can pop it) is poisoned before it is
 * published, never after: its next owner unpoisons it once taken, and a
 * late poison would land on that owner's live block.
 */
#ifndef HAK_TRACK_H
#define HAK_TRACK_H

#ifdef HAK_TRACK_ASAN
#include <sanitizer/asan_interface.h>
#define hak_track_free(p, size)         ASAN_POISON_MEMORY_REGION((p), (size))
#define hak_track_alloc(p, size)        ASAN_UNPOISON_MEMORY_REGION((p), (size))
#define hak_track_internal_open(b)      ASAN_UNPOISON_MEMORY_REGION((b), 16)
#define hak_track_internal_close(b)     ASAN_POISON_MEMORY_REGION((b), 16)
#define hak_track_is_free(b)            __asan_address_is_poisoned(b)
#else
#define hak_track_free(p, size)         ((void)(p), (void)(size))
#define hak_track_alloc(p, size)        ((void)(p), (void)(size))
#define hak_track_internal_open(b)      ((void)(b))
#define hak_track_internal_close(b)     ((void)(b))
#define hak_track_is_free(b)            ((void)(b), 0)
#endif

#endif
