#!/bin/sh
# glibc's extensions, foreign pointers and the per-program opt-out, through
# libhakmem.so and its standard names (tests/compat_probe), and the opt-out
# under a system-wide preload in a private mount namespace (as root).
set -u
probe=./tests/compat_probe
lib=${HAKMEM_LIB:?HAKMEM_LIB must name the built libhakmem.so.0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
count=0
pass() { count=$((count + 1)); echo "PASS: $*"; }
failed() { count=$((count + 1)); fail=1; echo "FAIL: $*"; }

# Probe runs with the hakmem environment cleared, then the test's own.
run() { env -u HAKMEM_STATS -u HAKMEM_CONF -u HAKMEM_FOREIGN_FREE "$@"; }

if run "$probe" aliases >"$tmp/out" 2>&1; then pass "__libc_* aliases, cfree and the extensions are hakmem's, one heap"
else failed "aliases"; cat "$tmp/out"; fi

if run "$probe" info "$tmp/info.xml" >"$tmp/out" 2>&1 &&
   python3 -c 'import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
tiers = {t.getAttribute("name") for t in d.getElementsByTagName("tier")}
assert tiers == {"tiny", "mid", "large", "huge"}, tiers
assert d.getElementsByTagName("size"), "no size classes"' "$tmp/info.xml"; then
    pass "malloc_info writes well-formed XML with per-tier figures"
else failed "malloc_info"; cat "$tmp/out" "$tmp/info.xml"; fi

if run "$probe" trim >"$tmp/out" 2>&1; then pass "malloc_trim releases, mallinfo2 counts"
else failed "malloc_trim / mallinfo2"; cat "$tmp/out"; fi

if run "$probe" glibc >"$tmp/out" 2>&1; then
    pass "memalign, aligned_alloc, posix_memalign: NULL/ENOMEM for impossible sizes at every alignment up to 2^63; mallopt answers as glibc's"
else failed "glibc's answers"; head -20 "$tmp/out"; fi

# malloc_stats goes through the stderr stream (here one the program opened
# itself) and leaves the caller's cancellation state as it found it: the
# request pending in the thread acts at its next cancellation point.
if run "$probe" stats "$tmp/stats" >"$tmp/out" 2>&1 &&
   for l in 'Arena 0:' 'system bytes     = ' 'in use bytes     = ' 'Total (incl. mmap):' \
            'max mmap regions = ' 'max mmap bytes   = ' 'hakmem statistics (pid ' 'effective configuration:'; do
       grep -qF "$l" "$tmp/stats" || { echo "missing: $l"; exit 1; }
   done >>"$tmp/out" && ! grep -q 'after malloc_stats' "$tmp/stats"; then
    pass "malloc_stats: glibc's lines then hakmem's table, through a redirected stderr stream; cancellation state restored"
else failed "malloc_stats"; cat "$tmp/out" "$tmp/stats"; fi

# foreign_free = abort (the default): one line, SIGABRT.
run "$probe" foreign >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 134 ] && [ "$(grep -c '^hakmem:' "$tmp/err")" -eq 1 ] && grep -q '^hakmem: free of 0x[0-9a-f]* (not allocated by hakmem)$' "$tmp/err"; then
    pass "foreign_free=abort: one line and abort"
else failed "foreign_free=abort (exit $rc)"; cat "$tmp/err"; fi

# warn: one line per function however many calls, then they do nothing.
run HAKMEM_FOREIGN_FREE=warn "$probe" foreign >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && grep -q survived "$tmp/out" && [ "$(wc -l <"$tmp/err")" -eq 3 ] &&
   [ "$(grep -c '^hakmem: free of 0x.*(not allocated by hakmem): ignored' "$tmp/err")" -eq 1 ] &&
   grep -q '^hakmem: realloc of 0x' "$tmp/err" && grep -q '^hakmem: malloc_usable_size of 0x' "$tmp/err"; then
    pass "foreign_free=warn: once per function, the program goes on"
else failed "foreign_free=warn (exit $rc)"; cat "$tmp/out" "$tmp/err"; fi

run HAKMEM_FOREIGN_FREE=ignore "$probe" foreign >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && grep -q survived "$tmp/out" && [ ! -s "$tmp/err" ]; then
    pass "foreign_free=ignore: silent"
else failed "foreign_free=ignore (exit $rc)"; cat "$tmp/out" "$tmp/err"; fi

# exclude: the program keeps glibc's allocator from its first call on.
served=$(run "$probe" served | awk '{print $2}')
printf 'exclude = /nonexistent/x, *compat_probe\nstats = on\n' >"$tmp/exclude.conf"
run HAKMEM_CONF="$tmp/exclude.conf" "$probe" served >"$tmp/out" 2>"$tmp/err"
excluded=$(awk '{print $2}' "$tmp/out")
if [ "${served:-0}" -gt 0 ] && [ "$excluded" = 0 ] && ! grep -q "hakmem statistics" "$tmp/err"; then
    pass "exclude: an excluded program is served by glibc, no statistics ($served vs $excluded allocations)"
else failed "exclude (served $served, excluded $excluded)"; cat "$tmp/err"; fi

# The opt-out under a system-wide preload: /etc overlaid on a tmpfs in a
# private mount namespace, so the machine's /etc is never written.
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
    real_state=$(ls -l /etc/ld.so.preload 2>&1; cat /etc/ld.so.preload 2>/dev/null)
    if unshare --mount --propagation private sh -c '
        set -e
        S=$1 lib=$2 conf=$3
        mount -t tmpfs hakmem-compat "$S"
        n=0
        overlay() { # DIR: writable in this namespace only
            n=$((n + 1)); mkdir "$S/u$n" "$S/w$n"
            mount -t overlay overlay -o "lowerdir=$1,upperdir=$S/u$n,workdir=$S/w$n" "$1"
        }
        overlay /etc
        # The library reads sysconfdir/hakmem.conf: make its nearest
        # existing ancestor writable too (/usr/local for a source build).
        d=$(dirname "$conf")
        while [ ! -d "$d" ]; do d=$(dirname "$d"); done
        [ "$d" = /etc ] || overlay "$d"
        mkdir -p "$(dirname "$conf")"
        echo "$lib" >/etc/ld.so.preload
        printf "exclude = /usr/bin/perl*\nstats = on\n" >"$conf"
        /usr/bin/perl -e "open(my \$f, q(<), q(/proc/self/maps)); print scalar(grep { /libhakmem/ } <\$f>), qq(\n); my %h; \$h{\$_} = 1 for 1..100000;" >"$S/perl.out" 2>"$S/perl.err"
        /usr/bin/python3 -c "print(open(\"/proc/self/maps\").read().count(\"libhakmem\")); d = {i: str(i) for i in range(100000)}" >"$S/py.out" 2>"$S/py.err"
        test "$(cat "$S/perl.out")" -ge 1             # loaded in perl...
        ! grep -q "hakmem statistics" "$S/perl.err"  # ...but not serving it
        test "$(cat "$S/py.out")" -ge 1
        grep -q "hakmem statistics" "$S/py.err"      # python3 is served
    ' sh "$tmp" "$lib" "${HAKMEM_SYSCONF_FILE:?}" >"$tmp/ns.out" 2>&1; then
        pass "exclude under a system-wide /etc/ld.so.preload (private namespace): perl opted out, python3 served"
    else failed "exclude under a namespaced ld.so.preload"; cat "$tmp/ns.out"; fi
    if [ "$real_state" != "$(ls -l /etc/ld.so.preload 2>&1; cat /etc/ld.so.preload 2>/dev/null)" ]; then
        failed "the machine's /etc/ld.so.preload changed"
    fi
else
    echo "note: the namespaced system-wide preload check needs root; it ran only the checks above"
fi

echo "compat: $count checks, $([ $fail -eq 0 ] && echo 'all passed' || echo FAILURES)"
exit $fail
