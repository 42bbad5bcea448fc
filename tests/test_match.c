/*
 * test_match.c - the glob patterns of hakmem.conf's sections and exclude,
 * and the systemd unit read from a cgroup path.
 */
#include "test_util.h"

#include "config/match.h"

static bool glob(const char *pat, const char *s)
{
    return hak_glob(pat, strlen(pat), s);
}

static bool list(const char *pats, const char *s)
{
    return hak_glob_list(pats, strlen(pats), s, true);
}

Test(match, glob_stars_and_question_marks)
{
    cr_assert(glob("/usr/bin/perl", "/usr/bin/perl"));
    cr_assert(!glob("/usr/bin/perl", "/usr/bin/perl5"));
    cr_assert(!glob("/usr/bin/perl5", "/usr/bin/perl"));
    cr_assert(glob("/usr/bin/perl*", "/usr/bin/perl5.36"));
    cr_assert(glob("*", ""));
    cr_assert(glob("", ""));
    cr_assert(!glob("", "x"));
    cr_assert(!glob("?", ""));
    cr_assert(glob("/usr/lib/*/bin/postgres", "/usr/lib/postgresql/15/bin/postgres"),
                   "'*' crosses '/'");
    cr_assert(glob("*firefox*", "/usr/lib/firefox-esr/firefox-esr"));
    cr_assert(glob("/usr/bin/python3.1?", "/usr/bin/python3.11"));
    cr_assert(!glob("/usr/bin/python3.1?", "/usr/bin/python3.1"));
    cr_assert(glob("a*b*c", "aXXbYYbZZc"), "backtracks to the last '*'");
    cr_assert(!glob("a*b*c", "aXXbYYbZZ"));
    cr_assert(glob("**a**", "bab"));
    /* Many stars against a long miss ends (no exponential backtracking). */
    char s[4001];
    memset(s, 'a', 4000);
    s[4000] = 0;
    cr_assert(!glob("*a*a*a*a*a*a*a*a*a*a*b", s));
}

Test(match, lists_and_the_file_name_rule)
{
    cr_assert(list("sshd", "/usr/sbin/sshd"), "no '/': the file name");
    cr_assert(!list("sbin/sshd", "/usr/sbin/sshd"), "with '/': the whole path");
    cr_assert(list("*/sbin/sshd", "/usr/sbin/sshd"));
    cr_assert(list("  nginx ,  sshd  ", "/usr/sbin/sshd"), "blanks around patterns");
    cr_assert(list("nginx,,sshd", "/usr/sbin/sshd"));
    cr_assert(!list("nginx, ,", "/usr/sbin/sshd"));
    cr_assert(!list("", "/usr/sbin/sshd"));
    cr_assert(list("firefox*", "/usr/lib/firefox-esr/firefox-esr"));
    cr_assert(!list("fire", "/usr/lib/firefox-esr/firefox-esr"));
    cr_assert(list("nginx.service", "nginx.service"), "a unit name has no '/'");
    /* Without the rule every pattern is matched against the whole string. */
    cr_assert(!hak_glob_list("sshd", 4, "/usr/sbin/sshd", false));
    cr_assert(hak_glob_list("*sshd", 5, "/usr/sbin/sshd", false));
    /* The list's length bounds it: no NUL is needed. */
    cr_assert(hak_glob_list("sshdXXXX", 4, "/usr/sbin/sshd", true));
}

static const char *unit_of(const char *cgroup)
{
    static char out[256];
    return hak_identity_unit_of(cgroup, out, sizeof out) ? out : NULL;
}

Test(match, unit_from_cgroup)
{
    cr_assert_str_eq(unit_of("/system.slice/nginx.service"), "nginx.service");
    cr_assert_str_eq(unit_of("/system.slice/postgresql@15-main.service"), "postgresql@15-main.service");
    cr_assert_str_eq(unit_of("/system.slice/docker.service/payload"), "docker.service",
                     "a delegated sub-cgroup belongs to its unit");
    cr_assert_str_eq(unit_of("/user.slice/user-1000.slice/user@1000.service/app.slice/"
                             "app-firefox-1234.scope"),
                     "app-firefox-1234.scope", "the deepest unit");
    cr_assert_str_eq(unit_of("/user.slice/user-1000.slice/session-3.scope"), "session-3.scope");
    cr_assert_str_eq(unit_of("/init.scope"), "init.scope");
    cr_assert_str_eq(unit_of("/system.slice/var-lib.mount"), "var-lib.mount");
    cr_assert_null(unit_of("/"));
    cr_assert_null(unit_of("/system.slice"));
    cr_assert_null(unit_of("/user.slice/user-1000.slice"));
    cr_assert_null(unit_of("/.service"), "a suffix alone names nothing");
    cr_assert_null(unit_of(""));
    char tiny[8];
    cr_assert(!hak_identity_unit_of("/system.slice/nginx.service", tiny, sizeof tiny),
              "a unit that does not fit is no unit");
}

Test(match, this_process)
{
    hak_identity *self = hak_identity_self();
    hak_identity_read(self);
    cr_assert(self->known);
    cr_assert_not_null(self->exe);
    cr_assert_eq(self->exe[0], '/');
    cr_assert_not_null(strstr(self->exe, "test_match"));
    /* /proc/self/cgroup has the unified hierarchy's line (or systemd's);
     * the unit is the one its path names, or none. */
    cr_assert_not_null(self->cgroup);
    cr_assert_eq(self->cgroup[0], '/');
    const char *unit = unit_of(self->cgroup);
    cr_assert((unit == NULL && self->unit == NULL) ||
              (unit && self->unit && strcmp(unit, self->unit) == 0));
    /* A made-up identity is left alone. */
    hak_identity other = { .known = true, .exe = "/bin/true" };
    hak_identity_read(&other);
    cr_assert_str_eq(other.exe, "/bin/true");
    cr_assert_null(other.cgroup);
}
