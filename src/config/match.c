/*
 * match.c - glob patterns and the identity of a process (see match.h).
 */
#include "config/match.h"

#include <string.h>

#include "os/os.h"

bool hak_glob(const char *pat, size_t plen, const char *s)
{
    /* Iterative backtracking to the last '*': linear in practice, bounded
     * by plen * strlen(s), no recursion. */
    size_t pi = 0, star = (size_t)-1;
    const char *si = s, *mark = s;
    while (*si) {
        if (pi < plen && (pat[pi] == '?' || pat[pi] == *si)) {
            pi++;
            si++;
        } else if (pi < plen && pat[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}

static bool match_blank(char c) { return c == ' ' || c == '\t'; }

bool hak_glob_list(const char *patterns, size_t len, const char *s, bool file_name_rule)
{
    const char *slash = strrchr(s, '/');
    const char *file_name = slash ? slash + 1 : s;
    const char *p = patterns, *end_all = patterns + len;
    while (p < end_all) {
        while (p < end_all && (*p == ',' || match_blank(*p)))
            p++;
        const char *end = p;
        while (end < end_all && *end != ',')
            end++;
        size_t n = (size_t)(end - p);
        while (n && match_blank(p[n - 1]))
            n--;
        if (n) {
            bool path_pattern = memchr(p, '/', n) != NULL;
            if (hak_glob(p, n, file_name_rule && !path_pattern ? file_name : s))
                return true;
        }
        p = end;
    }
    return false;
}

/* ---- this process ---- */

static hak_identity identity_self;
static char identity_exe[4096];
static char identity_cgroup[4096];
static char identity_unit[256];

hak_identity *hak_identity_self(void)
{
    return &identity_self;
}

bool hak_identity_unit_of(const char *cgroup, char *out, size_t cap)
{
    static const char *const kinds[] = { ".service", ".scope", ".socket", ".mount", ".swap" };
    const char *end = cgroup + strlen(cgroup);
    while (end > cgroup) {
        const char *start = end;
        while (start > cgroup && start[-1] != '/')
            start--;
        size_t n = (size_t)(end - start);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            size_t kl = strlen(kinds[k]);
            if (n > kl && n < cap && memcmp(end - kl, kinds[k], kl) == 0) {
                memcpy(out, start, n);
                out[n] = 0;
                return true;
            }
        }
        end = start > cgroup ? start - 1 : cgroup;
    }
    return false;
}

/* The cgroup path in /proc/self/cgroup's text (NUL-terminated in place):
 * the unified hierarchy's "0::PATH", else systemd's "N:name=systemd:PATH". */
static const char *identity_cgroup_path(char *text)
{
    const char *found = NULL;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2) {
            bool unified = c1 == line + 1 && line[0] == '0' && c2 == c1 + 1;
            bool systemd = (size_t)(c2 - c1 - 1) == strlen("name=systemd") &&
                           memcmp(c1 + 1, "name=systemd", strlen("name=systemd")) == 0;
            if (unified)
                return c2 + 1;
            if (systemd)
                found = c2 + 1;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return found;
}

void hak_identity_read(hak_identity *who)
{
    if (who != &identity_self || who->known)
        return;
    who->known = true;
    if (hak_os_exe_path(identity_exe, sizeof identity_exe))
        who->exe = identity_exe;
    bool truncated;
    ssize_t n = hak_os_read_file("/proc/self/cgroup", identity_cgroup, sizeof identity_cgroup - 1,
                                 &truncated);
    if (n <= 0 || truncated)
        return;
    identity_cgroup[n] = 0;
    const char *path = identity_cgroup_path(identity_cgroup);
    if (path == NULL)
        return;
    who->cgroup = path;
    if (hak_identity_unit_of(path, identity_unit, sizeof identity_unit))
        who->unit = identity_unit;
}
