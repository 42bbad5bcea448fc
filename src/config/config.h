/*
 * config.h - the configuration files (hakmem.conf(5)).
 *
 *   # comment
 *   key = value        # trailing comments too
 *
 *   [program /usr/sbin/nginx, sshd]     # a section: the keys below it
 *   profile = secure                    # apply to matching programs only
 *   [unit postgresql*.service]
 *   large_cache_limit = 64M
 *   [cgroup /system.slice/firefox*]
 *   allocator = libc
 *
 * Sizes take K/M/G suffixes, booleans on/off/1/0/true/false/yes/no.  Keys
 * before the first section apply to every program; a section lasts until
 * the next one or the end of its file.  A section's keys outrank the keys
 * outside sections of the same files (hak_opt_source); among equals the
 * later line wins.
 *
 * A bad line (no '=', unknown key, bad or out-of-range value, overlong)
 * prints one warning naming the file, the line and the key, and is
 * skipped, so the value from a lower-precedence source (or the default)
 * stays.  A bad section header warns too, and the keys under it apply to
 * no program.  Every line is checked, in matching sections or not.  Files
 * are read with open/read into a bounded static buffer, a folder with
 * getdents64 into another, its names sorted in a bounded table; nothing
 * allocates.
 */
#ifndef HAK_CONFIG_H
#define HAK_CONFIG_H

#include "base/diag.h"
#include "config/match.h"
#include "config/options.h"

#define HAK_CONFIG_FILE_MAX 65536 /* bytes read from one file */
#define HAK_CONFIG_LINE_MAX 1024  /* longest line accepted */
#define HAK_CONFIG_DIR_MAX 64     /* *.conf files read from the folder */
#define HAK_CONFIG_NAME_MAX 256   /* longest file name read from it, NUL included */
#define HAK_CONFIG_FILES_MAX (HAK_CONFIG_DIR_MAX + 2)
#define HAK_CONFIG_SECTIONS_MAX 32 /* matching sections remembered for reports */

#ifndef HAK_SYSCONFDIR
#define HAK_SYSCONFDIR "/etc"
#endif

/* Load `path`; a missing file is silent unless `must_exist`.  `source` is
 * HAK_SRC_FILE or HAK_SRC_CONF (its sections get the rank above).  Returns
 * true if the file was read; *warnings grows by the warnings printed. */
bool hak_config_load_file(const char *path, hak_opt_source source, bool must_exist,
                          unsigned *warnings);
/* Load the *.conf files of folder `dir` (not those starting with '.'), in
 * byte order of their names, the first HAK_CONFIG_DIR_MAX of them.  A
 * missing folder is silent.  Returns the number of files read. */
unsigned hak_config_load_dir(const char *dir, hak_opt_source source, unsigned *warnings);
/* Apply the entries of a buffer; `name` names it in warnings.  Returns the
 * number of warnings printed. */
unsigned hak_config_parse(const char *name, const char *buf, size_t len, hak_opt_source source);
/* The program sections are matched against (default: this process). */
void hak_config_set_identity(hak_identity *who);
/* Print "hakmem: <name>:<line>: <msg>" (line 0: no line number). */
void hak_config_warn(const char *name, unsigned line, const char *msg, const char *key,
                     size_t key_len);
/* Forget the files, sections and origins of an earlier load. */
void hak_config_forget(void);

/* Reports: what was read and where each value came from. */
unsigned hak_config_file_count(void);
/* The path of file i (0-based, in reading order) into b. */
void hak_config_file_path(hak_buf *b, unsigned i);
unsigned hak_config_section_count(void);
/* "[kind patterns] at file:line" of matching section i into b. */
void hak_config_section_describe(hak_buf *b, unsigned i);
/* Option id's origin: "default", "env", "api", "file:line" or
 * "[section] at file:line". */
void hak_config_origin_describe(hak_buf *b, int id);
/* The value of option id as a configuration file would write it. */
void hak_config_value_describe(hak_buf *b, int id);
/* "effective configuration:", the sections that applied and one line per
 * key with its origin, for this process. */
void hak_config_print_effective(hak_buf *b);
/* The same for option values, sources and text copied from another
 * process (hakmemctl stats), which name only each value's kind of source;
 * given this process's own arrays, as hak_config_print_effective. */
void hak_config_print_values(hak_buf *b, const int64_t *values, const uint8_t *sources,
                             const char *text);

#endif
