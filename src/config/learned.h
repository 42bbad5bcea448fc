/*
 * learned.h - option values the learner (runtime/learner.c) decides at run
 * time, published here so that the floors that apply them (heaps, the
 * Large tier) read configuration, not the learner.
 *
 * The learner stores the caps (relaxed), then bumps the epoch (release);
 * a heap that sees a new epoch (acquire) adopts every cap at once.  The
 * Large rounding limit is a single value read relaxed: any recent one will
 * do.
 */
#ifndef HAK_LEARNED_H
#define HAK_LEARNED_H

#include "base/size_class.h"
#include "internal.h"

/* Cache cap per small class; 0: no decision, the option's value holds. */
extern _Atomic uint32_t hak_learned_caps[HAK_SMALL_CLASSES];
/* Large rounding limit in percent; HAK_LEARNED_NONE: the option holds. */
#define HAK_LEARNED_NONE 0xffffffffu
extern _Atomic uint32_t hak_learned_round_pct;
/* Bumped after every change of hak_learned_caps. */
extern _Atomic uint32_t hak_learn_epoch;

#endif
