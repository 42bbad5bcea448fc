/*
 * stats.h - the statistics report: a snapshot summed over every heap and
 * the process-wide counters (base/counters.h), printed by
 * hak_stats_print (hakmem.h) and at exit when the stats option is on.
 */
#ifndef HAK_STATS_H
#define HAK_STATS_H

#include "internal.h"

/* Print at exit if the stats option is on (called from the destructor). */
void hak_stats_at_exit(void);

#endif
