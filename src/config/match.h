/*
 * match.h - what a section of hakmem.conf can name: the program's
 * executable, its systemd unit or its cgroup, by glob patterns.
 *
 * Patterns: '*' matches any run of characters ('/' included), '?' any one
 * character, everything else itself.  A pattern list is comma-separated,
 * blanks around each pattern ignored.
 *
 * The identity of this process is read on first use, into bounded static
 * buffers (callers are serialised by initialisation): the executable from
 * /proc/self/exe, the cgroup from /proc/self/cgroup (the unified
 * hierarchy's line, else systemd's named one), the unit from the cgroup:
 * its deepest component naming a unit that runs processes (.service,
 * .scope, .socket, .mount, .swap).
 */
#ifndef HAK_MATCH_H
#define HAK_MATCH_H

#include "internal.h"

/* Does all of s match the pattern (plen bytes)? */
bool hak_glob(const char *pat, size_t plen, const char *s);
/* Does s match one of the comma-separated patterns (len bytes)?  With
 * file_name_rule, a pattern without '/' is matched against the part of s
 * after its last '/' (the file name of a path). */
bool hak_glob_list(const char *patterns, size_t len, const char *s, bool file_name_rule);

/* Whose configuration is being worked out.  For this process
 * (hak_identity_self) the fields are read on first use; a made-up one
 * (hakmemctl explain) sets them and `known`.  NULL fields match nothing. */
typedef struct hak_identity {
    bool known;
    const char *exe;
    const char *cgroup;
    const char *unit;
} hak_identity;

hak_identity *hak_identity_self(void);
/* Fill who from the process when it is hak_identity_self() and not read yet. */
void hak_identity_read(hak_identity *who);
/* The unit named by a cgroup path, copied into out (cap bytes); false if
 * no component names one. */
bool hak_identity_unit_of(const char *cgroup, char *out, size_t cap);

#endif
