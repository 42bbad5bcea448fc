/*
 * stats.h - the statistics report: a snapshot summed over every heap and
 * the process-wide counters (base/counters.h), printed by
 * hak_stats_print (hakmem.h) and at exit when the stats option is on.
 */
#ifndef HAK_STATS_H
#define HAK_STATS_H

#include "base/diag.h"
#include "hakmem.h"
#include "internal.h"

/* The table hak_stats_print writes, into b (not flushed).  No lock is held
 * while b is written to, so its sink may allocate. */
void hak_stats_report(hak_buf *b);
/* The same table for snapshot s of process pid, with the effective
 * configuration given as in config/options.h (values, sources, text):
 * hakmemctl stats formats another process's this way. */
void hak_stats_format(hak_buf *b, const struct hak_stats *s, uint64_t pid, const int64_t *values,
                      const uint8_t *sources, const char *text);
/* Print at exit if the stats option is on (called from the destructor). */
void hak_stats_at_exit(void);

#endif
