#!/bin/sh
# hakmemctl against temporary roots: every case of hakmemctl(8).  Never
# touches the machine's /etc/ld.so.preload; the mount-point case runs in a
# private mount namespace and is skipped where one cannot be made.
#   HAKMEMCTL   the script under test (default: ./tools/hakmemctl)
#   HAKMEM_LIB  a working libhakmem.so.0 (make check exports the built one)
#   HAKMEMCTL_INSPECT  the hakmem-inspect it runs, if not the installed one
set -u
CTL=${HAKMEMCTL:-./tools/hakmemctl}
LIB=${HAKMEM_LIB:?HAKMEM_LIB must name a built libhakmem.so.0}
[ -f "$CTL" ] || { echo "hakmemctl_test: $CTL not built"; exit 1; }
[ -f "$LIB" ] || { echo "hakmemctl_test: $LIB not built"; exit 1; }
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")

real_before=$(cat /etc/ld.so.preload 2>/dev/null || echo ABSENT)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
chmod 755 "$tmp"
fail=0 count=0 skipped=0

pass() { count=$((count + 1)); echo "PASS: $*"; }
failed() { count=$((count + 1)); fail=1; echo "FAIL: $*"; [ ! -s "$tmp/out" ] || sed 's/^/    | /' "$tmp/out"; }
skip() { skipped=$((skipped + 1)); echo "SKIP: $*"; }

# ctl ROOT ARGS...: run hakmemctl, output in $tmp/out, status in $rc.
ctl() {
    r=$1
    shift
    "$CTL" --root "$r" "$@" >"$tmp/out" 2>&1
    rc=$?
}
expect_rc() { # NAME WANTED
    if [ "$rc" -eq "$2" ]; then pass "$1 (exit $rc)"; else failed "$1: exit $rc, wanted $2"; fi
}
expect_out() { # NAME PATTERN (grep -E)
    if grep -Eq -- "$2" "$tmp/out"; then pass "$1"; else failed "$1: output lacks /$2/"; fi
}
expect_file() { # NAME FILE EXPECTED-CONTENT
    if [ -f "$2" ] && [ "$(cat "$2")" = "$3" ]; then
        pass "$1"
    else
        failed "$1: $2 is"
        if [ -f "$2" ]; then sed 's/^/    > /' "$2"; else echo "    (absent)"; fi
    fi
}
no_temp_left() { # NAME ROOT
    left=$(find "$2/etc" -name '.ld.so.preload.hakmemctl.*')
    if [ -z "$left" ]; then pass "$1: no temporary file left"; else failed "$1: left $left"; fi
}

# A root with a working library at the path hakmemctl writes.
"$CTL" status >"$tmp/out" 2>&1
LIBPATH=$(sed -n 's/^library: \(.*\) (\(present\|missing\))$/\1/p' "$tmp/out")
case $LIBPATH in
/*/libhakmem.so.0) pass "status names the installed library ($LIBPATH)" ;;
*) failed "status does not name an absolute library path"; exit 1 ;;
esac
newroot() {
    r=$tmp/$1
    mkdir -p "$r/etc" "$r${LIBPATH%/*}"
    cp -L "$LIB" "$r$LIBPATH"
    chmod 0644 "$r$LIBPATH"
    echo "$r"
}

echo "== usage"
"$CTL" >"$tmp/out" 2>&1; rc=$?; expect_rc "no command" 2
"$CTL" frobnicate >"$tmp/out" 2>&1; rc=$?; expect_rc "unknown command" 2
"$CTL" --root "$tmp/nonexistent" status >"$tmp/out" 2>&1; rc=$?; expect_rc "--root on a missing directory" 2
"$CTL" --help >"$tmp/out" 2>&1; rc=$?; expect_rc "--help" 0
"$CTL" --version >"$tmp/out" 2>&1; rc=$?; expect_rc "--version" 0

echo "== missing file, missing library"
r=$tmp/empty
mkdir -p "$r/etc"
ctl "$r" status; expect_rc "status: not enabled" 3
expect_out "status says the file is absent" 'ld\.so\.preload \(absent\)'
expect_out "status says the library is missing" '\(missing\)$'
ctl "$r" enable; expect_rc "enable refuses a missing library" 1
expect_out "enable says why" 'does not exist'
[ ! -e "$r/etc/ld.so.preload" ] && pass "enable created no file" || failed "enable created a file"
ctl "$r" check; expect_rc "check fails on a missing library" 1
ctl "$r" disable; expect_rc "disable with no file does nothing" 0

echo "== enable on a missing file, idempotence, disable"
r=$(newroot fresh)
ctl "$r" check; expect_rc "check passes on a working library" 0
expect_out "check says it is disabled" '^preload: disabled'
(umask 077 && "$CTL" --root "$r" enable) >"$tmp/out" 2>&1; rc=$?
expect_rc "enable" 0
expect_file "enable writes one line" "$r/etc/ld.so.preload" "$LIBPATH"
mode=$(stat -c %a "$r/etc/ld.so.preload")
[ "$mode" = 644 ] && pass "mode is 0644 under umask 077" || failed "mode is $mode"
no_temp_left "enable" "$r"
ctl "$r" status; expect_rc "status: enabled" 0
expect_out "status says enabled" '^preload: enabled'
ctl "$r" check; expect_rc "check on an enabled root" 0
inode=$(stat -c %i:%Y "$r/etc/ld.so.preload")

ctl "$r" enable; expect_rc "enable again" 0
expect_out "enable again says so" 'already enabled'
[ "$(stat -c %i:%Y "$r/etc/ld.so.preload")" = "$inode" ] &&
    pass "enable again does not rewrite the file" || failed "enable again rewrote the file"
ctl "$r" disable; expect_rc "disable" 0
[ ! -e "$r/etc/ld.so.preload" ] && pass "disable deletes a file left empty" || failed "disable left $(cat "$r/etc/ld.so.preload")"
ctl "$r" status; expect_rc "status after disable" 3

echo "== other entries, comments and blank lines are kept in order"
r=$(newroot others)
orig='# site preloads
/usr/lib/libfoo.so

/usr/lib/libbar.so # trailing comment naming libhakmem.so.0
libone.so:libtwo.so'
printf '%s\n' "$orig" >"$r/etc/ld.so.preload"
ctl "$r" enable; expect_rc "enable next to other entries" 0
expect_file "other entries kept, hakmem appended" "$r/etc/ld.so.preload" "$orig
$LIBPATH"
ctl "$r" disable; expect_rc "disable next to other entries" 0
expect_file "disable restores the file exactly" "$r/etc/ld.so.preload" "$orig"
no_temp_left "disable" "$r"

echo "== duplicate and stale entries"
r=$(newroot dups)
printf '%s\n' "/usr/lib/libfoo.so" "$LIBPATH" "# note" "$LIBPATH" >"$r/etc/ld.so.preload"
ctl "$r" status; expect_rc "status reports duplicates" 1
expect_out "status says how many" 'listed 2 times'
ctl "$r" check; expect_rc "check fails on duplicates" 1
ctl "$r" enable; expect_rc "enable over duplicates" 0
expect_file "enable leaves one entry" "$r/etc/ld.so.preload" "/usr/lib/libfoo.so
# note
$LIBPATH"
printf '%s\n' "/usr/lib/libfoo.so" "/opt/old/lib/libhakmem.so.0" "/usr/lib/libbar.so" >"$r/etc/ld.so.preload"
ctl "$r" status; expect_rc "status reports a stale entry" 1
expect_out "status names the stale entry" '/opt/old/lib/libhakmem.so.0, which is missing'
ctl "$r" check; expect_rc "check fails on a stale entry" 1
ctl "$r" disable; expect_rc "disable removes a stale entry" 0
expect_file "disable keeps the others" "$r/etc/ld.so.preload" "/usr/lib/libfoo.so
/usr/lib/libbar.so"
printf '%s\n' "libfoo.so:/x/libhakmem.so.0 libbar.so" '/usr/$LIB/libhakmem.so	/a.so' "/x/notlibhakmem.so.0" >"$r/etc/ld.so.preload"
ctl "$r" disable; expect_rc "disable on shared lines" 0
expect_file "disable removes only hakmem's tokens" "$r/etc/ld.so.preload" "libfoo.so: libbar.so
	/a.so
/x/notlibhakmem.so.0"
rm -f "$r$LIBPATH"
printf '%s\n' "$LIBPATH" >"$r/etc/ld.so.preload"
ctl "$r" status; expect_rc "status: enabled but the library is gone" 1
expect_out "status says the library is missing" 'which is missing'
ctl "$r" disable; expect_rc "disable with the library gone" 0
[ ! -e "$r/etc/ld.so.preload" ] && pass "stale line removed" || failed "stale line kept"

echo "== a broken library is refused"
r=$(newroot broken)
printf 'not a library\n' >"$r$LIBPATH"
printf '/usr/lib/libfoo.so\n' >"$r/etc/ld.so.preload"
ctl "$r" enable; expect_rc "enable refuses a file that is not a library" 1
expect_out "enable names the failure" 'verification failed: /bin/true printed on stderr'
expect_out "enable says the file is unchanged" 'refusing to enable.*unchanged'
expect_file "file untouched" "$r/etc/ld.so.preload" "/usr/lib/libfoo.so"
ctl "$r" check; expect_rc "check fails on it too" 1
if command -v "${CC:-cc}" >/dev/null 2>&1; then
    printf '%s\n' '#include <stdlib.h>' \
        '__attribute__((constructor)) static void boom(void) { abort(); }' >"$tmp/boom.c"
    if "${CC:-cc}" -shared -fPIC -o "$r$LIBPATH" "$tmp/boom.c" 2>"$tmp/out"; then
        chmod 0644 "$r$LIBPATH"
        ctl "$r" enable; expect_rc "enable refuses a library that aborts every program" 1
        expect_out "enable says it was killed" 'was killed by signal 6'
        expect_file "file untouched" "$r/etc/ld.so.preload" "/usr/lib/libfoo.so"
    else
        skip "cannot compile a crashing library"
    fi
else
    skip "no C compiler for the crashing-library case"
fi
cp -L "$LIB" "$r$LIBPATH"
chmod 0666 "$r$LIBPATH"
ctl "$r" enable; expect_rc "enable refuses a world-writable library" 1
expect_out "enable says why" 'writable by group or others'
chmod 0644 "$r$LIBPATH"
printf 'stats = on\n' >"$tmp/noisy.conf"
HAKMEM_CONF=$tmp/noisy.conf "$CTL" --root "$r" check >"$tmp/out" 2>&1; rc=$?
expect_rc "the caller's HAKMEM_* variables do not affect the check" 0

echo "== symbolic link and mode"
r=$(newroot link)
printf '/usr/lib/libfoo.so\n' >"$r/etc/preload.real"
ln -s preload.real "$r/etc/ld.so.preload"
ctl "$r" enable; expect_rc "enable through a symbolic link" 0
[ -L "$r/etc/ld.so.preload" ] && pass "the link is kept" || failed "the link was replaced"
expect_file "the link's target is updated" "$r/etc/preload.real" "/usr/lib/libfoo.so
$LIBPATH"
ctl "$r" disable; expect_rc "disable through a symbolic link" 0
expect_file "the link's target is restored" "$r/etc/preload.real" "/usr/lib/libfoo.so"

echo "== not root"
if [ "$(id -u)" -ne 0 ]; then
    "$CTL" enable >"$tmp/out" 2>&1; rc=$?
    expect_rc "enable as a user" 1
    expect_out "enable says it needs root" 'must be run as root'
    skip "the other not-root cases need root to set up"
elif command -v setpriv >/dev/null 2>&1; then
    asuser() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    cp "$CTL" "$tmp/hakmemctl"
    chmod 755 "$tmp/hakmemctl"
    asuser "$tmp/hakmemctl" enable >"$tmp/out" 2>&1; rc=$?
    expect_rc "enable as nobody" 1
    expect_out "enable says it needs root" 'must be run as root'
    asuser "$tmp/hakmemctl" disable >"$tmp/out" 2>&1; rc=$?
    expect_rc "disable as nobody" 1
    r=$(newroot user)
    chmod -R a+rX "$r"
    asuser "$tmp/hakmemctl" --root "$r" enable >"$tmp/out" 2>&1; rc=$?
    expect_rc "enable as nobody on a root it cannot write" 1
    expect_out "enable says permission denied" 'permission denied'
    [ ! -e "$r/etc/ld.so.preload" ] && pass "nothing written" || failed "a file was written"
    asuser "$tmp/hakmemctl" --root "$r" status >"$tmp/out" 2>&1; rc=$?
    expect_rc "status as nobody" 3
    chown 65534:65534 "$r/etc"
    if [ -n "$(asuser env LD_PRELOAD="$r$LIBPATH" /bin/true 2>&1)" ]; then
        # e.g. its build-time sysconfdir lies under a directory nobody cannot enter
        skip "the library prints warnings when run as nobody here: enable as nobody"
    else
        asuser "$tmp/hakmemctl" --root "$r" enable >"$tmp/out" 2>&1; rc=$?
        expect_rc "enable as nobody on a root it can write" 0
        asuser "$tmp/hakmemctl" --root "$r" disable >"$tmp/out" 2>&1; rc=$?
        expect_rc "disable as nobody on a root it can write" 0
    fi
else
    skip "setpriv is missing: the not-root cases"
fi

echo "== a preload file that is a mount point (rename gives EBUSY)"
r=$(newroot mounted)
printf '/usr/lib/libfoo.so\n' >"$tmp/bound"
: >"$r/etc/ld.so.preload"
if [ "$(id -u)" -eq 0 ] && unshare --mount --propagation private true 2>/dev/null; then
    unshare --mount --propagation private sh -c '
        mount --bind "$1" "$2/etc/ld.so.preload" || exit 99
        "$3" --root "$2" enable || exit 1
        mountpoint -q "$2/etc/ld.so.preload" || exit 2
        "$3" --root "$2" status || exit 3
        "$3" --root "$2" disable || exit 4' sh "$tmp/bound" "$r" "$CTL" >"$tmp/out" 2>&1
    rc=$?
    if [ "$rc" -eq 99 ]; then
        skip "cannot bind-mount here"
    else
        expect_rc "enable, status, disable on a bind-mounted file" 0
        expect_out "enable says it rewrote in place" 'rewrote it in place'
        expect_file "the bound file is restored" "$tmp/bound" "/usr/lib/libfoo.so"
        expect_file "the file under the mount is untouched" "$r/etc/ld.so.preload" ""
        no_temp_left "in place" "$r"
    fi
else
    skip "no private mount namespace (needs root and unshare)"
fi

echo "== configuration files: check and explain"
SYSCONF=$(sed -n "s/^SYSCONFDIR='\(.*\)'$/\1/p" "$CTL")
r=$(newroot config)
c=$r$SYSCONF
mkdir -p "$c/hakmem.d" "$r/usr/sbin" "$r/usr/bin" "$r/opt/firefox"
printf '#!/bin/sh\n' >"$r/usr/sbin/nginx"
chmod 755 "$r/usr/sbin/nginx"
ln -s ../sbin/nginx "$r/usr/bin/web"
cp "$r/usr/sbin/nginx" "$r/opt/firefox/firefox-bin"
printf 'purge_delay_ms = 500\n[program firefox*]\nallocator = libc\n' >"$c/hakmem.conf"
printf '[program /usr/sbin/nginx, sshd]\nprofile = secure\n[unit db.service]\nlarge_cache_limit = 64M\n' \
    >"$c/hakmem.d/50-site.conf"
ctl "$r" check; expect_rc "check: valid configuration files" 0
expect_out "check names the files it read" "^configuration: $c/hakmem.conf, $c/hakmem.d/50-site.conf: no problems"
printf '[unit other.service]\nbogus_key = 1\n[program\n' >"$c/hakmem.d/60-bad.conf"
ctl "$r" check; expect_rc "check: a bad line in a section that matches nothing fails the check" 1
expect_out "check prints the library's warning with file and line" \
    "^hakmem: $c/hakmem.d/60-bad.conf:2: 'bogus_key': unknown key"
expect_out "and the bad section header's" "^hakmem: $c/hakmem.d/60-bad.conf:3: section header without"
expect_out "check counts the problems" ': 2 problems \(above\)$'
rm "$c/hakmem.d/60-bad.conf"
ctl "$r" explain /usr/bin/web; expect_rc "explain a program through a symbolic link" 0
expect_out "explain resolves the link as /proc/self/exe would" '^program: /usr/sbin/nginx$'
expect_out "explain names the section that applies" \
    "^  section \[program /usr/sbin/nginx, sshd\] at $c/hakmem.d/50-site.conf:1 applies$"
expect_out "explain gives each key's origin" \
    "^  profile = secure \($c/hakmem.d/50-site.conf:2 in \[program /usr/sbin/nginx, sshd\]\)$"
expect_out "explain: keys outside sections apply" "^  purge_delay_ms = 500 \($c/hakmem.conf:1\)$"
expect_out "explain: the profile's presets" '^  guard_pages = on \(profile\)$'
expect_out "explain: hakmem serves it" '^allocator: hakmem$'
ctl "$r" explain /opt/firefox/firefox-bin; expect_rc "explain a program that steps aside" 0
expect_out "explain says hakmem steps aside, and where that is set" \
    "^allocator: libc: hakmem steps aside \(allocator = libc, $c/hakmem.conf:3 in \[program firefox\*\]\)$"
ctl "$r" explain --unit db.service /usr/sbin/nginx; expect_rc "explain --unit" 0
expect_out "a [unit] section applies under --unit" '^  large_cache_limit = 64M \(.*in \[unit db.service\]\)$'
ctl "$r" explain /usr/sbin/nginx
if grep -q 'large_cache_limit = 64M' "$tmp/out"; then failed "a [unit] section applies without --unit"
else pass "no [unit] section applies without --unit"; fi
ctl "$r" explain /usr/sbin/missing; expect_rc "explain a missing program" 1
expect_out "explain says it is missing" 'no such file'
ctl "$r" explain; expect_rc "explain without a program" 2
HAKMEMCTL_INSPECT=$tmp/absent "$CTL" --root "$r" check >"$tmp/out" 2>&1; rc=$?
expect_rc "check without hakmem-inspect fails" 1
expect_out "and says why" 'configuration: not checked'

real_after=$(cat /etc/ld.so.preload 2>/dev/null || echo ABSENT)
[ "$real_before" = "$real_after" ] && pass "the machine's /etc/ld.so.preload is unchanged" ||
    failed "the machine's /etc/ld.so.preload changed"

echo "hakmemctl: $count checks, $skipped skipped, $([ $fail -eq 0 ] && echo 'all passed' || echo 'FAILURES')"
exit $fail
