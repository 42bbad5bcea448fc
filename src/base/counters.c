/*
 * counters.c - the process-wide counters (see counters.h).
 */
#include "base/counters.h"

hak_global_stats hak_gstats;
_Atomic size_t hak_retained_bytes;
