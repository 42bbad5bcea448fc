/*
 * stats.h - the statistics report: a snapshot summed over every heap and
 * the process-wide counters (base/counters.h), printed by
 * hak_stats_print (hakmem.h) and at exit when the stats option is on.
 */
#ifndef HAK_STATS_H
#define HAK_STATS_H

#include "base/diag.h"
#include "internal.h"

/* The table hak_stats_print writes, into b (not flushed).  No lock is held
 * while b is written to, so its sink may allocate. */
void hak_stats_report(hak_buf *b);
/* Print at exit if the stats option is on (called from the destructor). */
void hak_stats_at_exit(void);

#endif
