/*
 * config.h - the configuration file (hakmem.conf(5)).
 *
 *   # comment
 *   key = value        # trailing comments too
 *
 * Sizes take K/M/G suffixes, booleans on/off/1/0/true/false/yes/no.  A bad
 * line (no '=', unknown key, bad or out-of-range value, overlong) prints one
 * warning naming the file, the line and the key, and is skipped, so the
 * value from a lower-precedence source (or the default) stays.  Files are
 * read with open/read into a bounded static buffer; nothing allocates.
 */
#ifndef HAK_CONFIG_H
#define HAK_CONFIG_H

#include "config/options.h"

#define HAK_CONFIG_FILE_MAX 65536 /* bytes read from one file */
#define HAK_CONFIG_LINE_MAX 1024  /* longest line accepted */

#ifndef HAK_SYSCONFDIR
#define HAK_SYSCONFDIR "/etc"
#endif

/* Load `path`; a missing file is silent unless `must_exist`.  Returns true
 * if the file was read; *warnings grows by the warnings printed. */
bool hak_config_load_file(const char *path, hak_opt_source source, bool must_exist,
                          unsigned *warnings);
/* Apply the entries of a buffer; `name` names it in warnings.  Returns the
 * number of warnings printed. */
unsigned hak_config_parse(const char *name, const char *buf, size_t len, hak_opt_source source);
/* Print "hakmem: <name>:<line>: <msg>" (line 0: no line number). */
void hak_config_warn(const char *name, unsigned line, const char *msg, const char *key,
                     size_t key_len);

#endif
