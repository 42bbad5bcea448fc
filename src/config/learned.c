/*
 * learned.c - the learner's published values (see learned.h).
 */
#include "config/learned.h"

_Atomic uint32_t hak_learned_caps[HAK_SMALL_CLASSES];
_Atomic uint32_t hak_learned_round_pct = HAK_LEARNED_NONE;
_Atomic uint32_t hak_learn_epoch;
