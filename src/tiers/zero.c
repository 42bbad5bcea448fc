/*
 * zero.c - zones of zero-size blocks (zero.h).
 */
#include "tiers/zero.h"

#include <errno.h>

#include "base/diag.h"
#include "base/segment_map.h"
#include "os/os.h"

/* The state bytes take the first ZERO_HEADER bytes; slots follow. */
#define ZERO_HEADER ((size_t)256 << 10)
#define ZERO_SLOT   16
#define ZERO_SLOTS  ((HAK_SEGMENT_SIZE - ZERO_HEADER) / ZERO_SLOT)
_Static_assert(ZERO_SLOTS <= ZERO_HEADER, "a state byte per slot fits the header");

enum { ZERO_NEVER = 0, ZERO_LIVE = 1, ZERO_FREED = 2 };

/* The zone new blocks come from (0: none yet), and the slot to try next. */
static _Atomic uintptr_t zero_zone;
static _Atomic uint32_t zero_cursor;
/* Live blocks (relaxed: a statistic). */
static _Atomic uint64_t zero_live;

uint64_t hak_zero_live(void) { return atomic_load_explicit(&zero_live, memory_order_relaxed); }

static _Atomic uint8_t *zero_states(uintptr_t zone) { return (_Atomic uint8_t *)zone; }

/* A new zone, installed as the current one unless another thread's came
 * first (then ours goes).  Returns the current zone, 0 if none could be
 * mapped. */
static uintptr_t zero_zone_new(uintptr_t full)
{
    char *z = hak_os_map_aligned(HAK_SEGMENT_SIZE, HAK_SEGMENT_SIZE, 0);
    if (z == NULL)
        return 0;
    if (!hak_os_protect(z + ZERO_HEADER, HAK_SEGMENT_SIZE - ZERO_HEADER, false)) {
        hak_os_unmap(z, HAK_SEGMENT_SIZE);
        return 0;
    }
    hak_segmap_set((uintptr_t)z, 1, HAK_SEGMAP_ZERO);
    uintptr_t expected = full;
    /* acq_rel: the segment map entry is set before the zone is published;
     * on failure we read the winner's zone, published the same way. */
    if (atomic_compare_exchange_strong_explicit(&zero_zone, &expected, (uintptr_t)z,
                                                memory_order_acq_rel, memory_order_acquire))
        return (uintptr_t)z;
    hak_segmap_set((uintptr_t)z, 1, HAK_SEGMAP_NONE);
    hak_os_unmap(z, HAK_SEGMENT_SIZE);
    return expected;
}

void *hak_zero_alloc(void)
{
    /* acquire: pairs with the publishing CAS in zero_zone_new. */
    uintptr_t zone = atomic_load_explicit(&zero_zone, memory_order_acquire);
    for (;;) {
        if (zone == 0 && (zone = zero_zone_new(0)) == 0) {
            errno = ENOMEM;
            return NULL;
        }
        _Atomic uint8_t *state = zero_states(zone);
        for (size_t tries = 0; tries < ZERO_SLOTS; tries++) {
            /* relaxed: only spreads threads over the slots. */
            uint32_t i = atomic_fetch_add_explicit(&zero_cursor, 1, memory_order_relaxed) % ZERO_SLOTS;
            uint8_t st = atomic_load_explicit(&state[i], memory_order_relaxed);
            /* relaxed: the slot has no contents to publish, only its state. */
            if (st != ZERO_LIVE && atomic_compare_exchange_strong_explicit(
                                       &state[i], &st, ZERO_LIVE, memory_order_relaxed,
                                       memory_order_relaxed)) {
                atomic_fetch_add_explicit(&zero_live, 1, memory_order_relaxed);
                return (void *)(zone + ZERO_HEADER + (uintptr_t)i * ZERO_SLOT);
            }
        }
        uintptr_t next = zero_zone_new(zone);
        if (next == 0) {
            errno = ENOMEM;
            return NULL;
        }
        zone = next;
    }
}

/* The state byte of p's slot, or NULL (after the report) if p is none. */
static _Atomic uint8_t *zero_slot_state(const void *p, const char *op)
{
    uintptr_t a = (uintptr_t)p, zone = a & ~(uintptr_t)HAK_SEGMENT_MASK;
    uintptr_t off = a - zone;
    if (off < ZERO_HEADER || (off - ZERO_HEADER) % ZERO_SLOT != 0)
        hak_fatal_ptr(op, p, "not a zero-size block");
    return &zero_states(zone)[(off - ZERO_HEADER) / ZERO_SLOT];
}

static hak_noreturn hak_cold void zero_report(const void *p, const char *op, uint8_t st)
{
    if (st == ZERO_FREED)
        hak_fatal_ptr(hak_diag_freed(op), p, "zero-size block");
    hak_fatal_ptr(op, p, "never handed out: zero-size block");
}

void hak_zero_free(void *p, const char *op)
{
    _Atomic uint8_t *state = zero_slot_state(p, op);
    uint8_t st = ZERO_LIVE;
    /* relaxed: as in hak_zero_alloc. */
    if (!atomic_compare_exchange_strong_explicit(state, &st, ZERO_FREED, memory_order_relaxed,
                                                 memory_order_relaxed))
        zero_report(p, op, st);
    atomic_fetch_sub_explicit(&zero_live, 1, memory_order_relaxed);
}

void hak_zero_check(const void *p, const char *op)
{
    /* relaxed: a state changed by another thread meanwhile would be misuse. */
    uint8_t st = atomic_load_explicit(zero_slot_state(p, op), memory_order_relaxed);
    if (st != ZERO_LIVE)
        zero_report(p, op, st);
}
