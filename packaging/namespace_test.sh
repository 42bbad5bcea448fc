#!/bin/sh
# A real system-wide preload, and the packages' install and removal, in a
# private mount namespace: run by packaging/ci.sh as
#   unshare --mount --propagation private sh packaging/namespace_test.sh DEBDIR RPMDIR SCRATCH
# It mounts a tmpfs for its scratch files, then overlays /etc, /usr and /var
# with writable layers in that tmpfs, so that dpkg, rpm, hakmemctl and the
# bind mount over /etc/ld.so.preload change nothing outside the namespace:
# the machine's /etc/ld.so.preload is never written (ci.sh checks it after).
set -u
debdir=$1 rpmdir=$2 S=$3
fail=0 count=0

pass() { count=$((count + 1)); echo "PASS: $*"; }
failed() { count=$((count + 1)); fail=1; echo "FAIL: $*"; }
check() { # NAME COMMAND...: passes when COMMAND succeeds
    name=$1
    shift
    if "$@" >"$S/out" 2>&1; then pass "$name"; else failed "$name"; sed 's/^/    | /' "$S/out" | head -20; fi
}
die() { echo "FAIL: $*"; exit 1; }

# ---- an isolated view of the system -----------------------------------------
[ "$(id -u)" -eq 0 ] || die "needs root"
grep -q ' / / .*shared:' /proc/self/mountinfo && die "/ is still shared: run under unshare --propagation private"
mkdir -p "$S"
mount -t tmpfs -o mode=0755 hakmem-ns "$S" || die "cannot mount a tmpfs"
for d in etc usr var; do
    mkdir -p "$S/$d.upper" "$S/$d.work"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$S/$d.upper,workdir=$S/$d.work" "/$d" ||
        die "cannot overlay /$d"
done
pass "/etc, /usr and /var overlaid on a tmpfs"

# ---- workloads --------------------------------------------------------------
seq 1 300000 | awk '{ print ($1 * 7919) % 300007 }' >"$S/numbers"
workloads() { # prefix: output files go to $S/$1.*
    bash -c 'declare -A m; for i in $(seq 1 20000); do a[$i]=$((i*i)); m[k$i]=$i; done
        echo "${#a[@]} ${#m[@]} ${a[19999]}"' >"$S/$1.bash" 2>"$S/$1.bash.err"
    python3 -c '
import json, collections, random
random.seed(1)
d = [{"k": i, "v": "x" * (i % 300), "l": list(range(i % 50))} for i in range(30000)]
s = json.dumps(d)
t = {random.random(): bytearray(random.randrange(1, 5000)) for i in range(50000)}
print(len(s), len(t), collections.Counter(s)["x"])' >"$S/$1.python3" 2>"$S/$1.python3.err"
    perl -e 'my %h; $h{"k$_"} = "x" x ($_ % 700) for 1..100000;
        my @a = sort keys %h; print scalar(@a), " $a[0] $a[-1]\n"' >"$S/$1.perl" 2>"$S/$1.perl.err"
    sort -n -S 64M --parallel=2 "$S/numbers" | md5sum >"$S/$1.sort" 2>"$S/$1.sort.err"
    ls -l /usr/include/linux >"$S/$1.ls" 2>"$S/$1.ls.err"
}
# Each program reports whether libhakmem is mapped in itself.
self_maps() {
    sh -c 'grep -c libhakmem /proc/$$/maps'
    bash -c 'grep -c libhakmem /proc/$$/maps'
    python3 -c 'print(open("/proc/self/maps").read().count("libhakmem"))'
    perl -e 'open(my $f, "<", "/proc/self/maps"); print scalar(grep { /libhakmem/ } <$f>), "\n"'
}
# A running process, seen from outside through /proc/<pid>/maps.
running_maps() { # PROGRAM
    fifo=$S/fifo
    rm -f "$fifo"
    mkfifo "$fifo"
    case $1 in
    sort) sort "$fifo" >/dev/null & ;;
    sleep) sleep 60 & ;;
    esac
    pid=$!
    # Until the loader has mapped libc (preloaded libraries come before
    # it) the answer is not known yet: right after execve the maps hold
    # the program alone.  A minute's patience for a busy machine.
    i=0
    while { [ "$(readlink "/proc/$pid/exe")" != "$(command -v "$1")" ] ||
        ! grep -q 'libc\.so' "/proc/$pid/maps" 2>/dev/null; } && [ $i -lt 1200 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    n=$(grep -c libhakmem "/proc/$pid/maps")
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "${n:-0}"
}
expect_preloaded() { # NAME
    workloads on
    for w in bash python3 perl sort ls; do
        if cmp -s "$S/ref.$w" "$S/on.$w" && [ ! -s "$S/on.$w.err" ]; then
            pass "$1: $w gives the same output, nothing on stderr"
        else
            failed "$1: $w differs or wrote on stderr"
            diff "$S/ref.$w" "$S/on.$w" | head -5
            head -5 "$S/on.$w.err"
        fi
    done
    maps=$(self_maps 2>&1 | tr '\n' ' ')
    ok=0
    for n in $maps; do [ "$n" -ge 1 ] 2>/dev/null && ok=$((ok + 1)); done
    if [ "$ok" -eq 4 ]; then
        pass "$1: libhakmem mapped in sh, bash, python3 and perl (/proc/self/maps counts: $maps)"
    else
        failed "$1: libhakmem not mapped in every program (sh bash python3 perl: $maps)"
    fi
    for p in sleep sort; do
        n=$(running_maps $p)
        if [ "$n" -ge 1 ]; then pass "$1: libhakmem in /proc/<pid>/maps of a running $p"; else failed "$1: not in a running $p"; fi
    done
}
expect_not_preloaded() { # NAME
    n=$(sh -c 'grep -c libhakmem /proc/$$/maps')
    err=$(/bin/true 2>&1)
    if [ "$n" -eq 0 ] && [ -z "$err" ]; then pass "$1: not preloaded, no loader error"; else failed "$1: mapped $n times, stderr: $err"; fi
}
preload_has_hakmem() { [ -f /etc/ld.so.preload ] && grep -q libhakmem /etc/ld.so.preload; }

unset LD_PRELOAD
workloads ref
for w in bash python3 perl sort ls; do
    [ -s "$S/ref.$w" ] && [ ! -s "$S/ref.$w.err" ] || die "reference run of $w failed"
done

# ---- Debian packages ----------------------------------------------------------
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
DLIB=/usr/lib/$MA/libhakmem.so.0
had_preload=no
[ -e /etc/ld.so.preload ] && had_preload=yes
check "dpkg -i libhakmem0 libhakmem-dev hakmem" \
    dpkg -i "$debdir"/libhakmem0_*.deb "$debdir"/libhakmem-dev_*.deb "$debdir"/hakmem_*.deb
if preload_has_hakmem; then failed "installing enabled the preload"; else pass "installing does not enable the preload"; fi
hakmemctl status >"$S/out" 2>&1
[ $? -eq 3 ] && pass "hakmemctl status: not enabled after install" || failed "hakmemctl status after install"
check "hakmemctl check passes on the installed library" hakmemctl check
cp /etc/hakmem.conf "$S/hakmem.conf"
echo 'no_such_key = 1' >>/etc/hakmem.conf
hakmemctl enable >"$S/out" 2>&1
if [ $? -eq 1 ] && grep -q 'no_such_key' "$S/out" && ! preload_has_hakmem; then
    pass "hakmemctl enable refuses while /etc/hakmem.conf makes every program warn"
else
    failed "hakmemctl enable with a bad /etc/hakmem.conf"; cat "$S/out"
fi
cp "$S/hakmem.conf" /etc/hakmem.conf

# A temporary file bound over /etc/ld.so.preload (created first inside the
# overlay if the machine has none).
[ -e /etc/ld.so.preload ] || : >/etc/ld.so.preload
cp /etc/ld.so.preload "$S/bound"
echo "$DLIB" >>"$S/bound"
mount --bind "$S/bound" /etc/ld.so.preload || die "cannot bind-mount over /etc/ld.so.preload"
expect_preloaded "bind-mounted /etc/ld.so.preload"
check "hakmemctl status: enabled" hakmemctl status
hakmemctl disable >"$S/out" 2>&1
if [ $? -eq 0 ] && grep -q 'rewrote it in place' "$S/out" && ! grep -q libhakmem "$S/bound"; then
    pass "hakmemctl disable on the mount point (EBUSY) rewrites it in place"
else
    failed "hakmemctl disable on the mount point"; cat "$S/out"
fi
expect_not_preloaded "after disable"
check "hakmemctl enable on the mount point" hakmemctl enable
grep -qx "$DLIB" "$S/bound" && pass "the bound file names the library" || failed "the bound file lacks the library"
expect_preloaded "enabled in place"
check "hakmemctl disable" hakmemctl disable
umount /etc/ld.so.preload || die "cannot unmount"
[ "$had_preload" = yes ] || rm -f /etc/ld.so.preload

# The real path: temporary file and rename.
before=$(cat /etc/ld.so.preload 2>/dev/null || echo ABSENT)
hakmemctl enable >"$S/out" 2>&1
if [ $? -eq 0 ] && ! grep -q 'in place' "$S/out" && [ "$(stat -c %a /etc/ld.so.preload)" = 644 ]; then
    pass "hakmemctl enable replaces /etc/ld.so.preload by rename, mode 0644"
else
    failed "hakmemctl enable on /etc/ld.so.preload"; cat "$S/out"
fi
expect_preloaded "hakmemctl enable"
[ -z "$(find /etc -maxdepth 1 -name '.ld.so.preload.hakmemctl.*')" ] && pass "no temporary file left in /etc" ||
    failed "a temporary file is left in /etc"
ino=$(stat -c %i /etc/ld.so.preload)
check "hakmemctl enable again" hakmemctl enable
[ "$(stat -c %i /etc/ld.so.preload)" = "$ino" ] && pass "enabling twice does not rewrite" || failed "enabling twice rewrote the file"

# Reinstalling (an upgrade) keeps the entry; removal takes it out first.
check "dpkg -i libhakmem0 again (upgrade path)" dpkg -i "$debdir"/libhakmem0_*.deb
preload_has_hakmem && pass "an upgrade keeps hakmem enabled" || failed "an upgrade disabled hakmem"
check "dpkg -r hakmem" dpkg -r hakmem
preload_has_hakmem && failed "removing hakmem left the preload line" || pass "removing hakmem removes the preload line"
expect_not_preloaded "after dpkg -r hakmem"
[ -f /etc/hakmem.conf ] && pass "the conffile stays until purge" || failed "the conffile went on remove"
check "dpkg --purge hakmem" dpkg --purge hakmem
[ ! -e /etc/hakmem.conf ] && pass "purge removes /etc/hakmem.conf" || failed "purge left /etc/hakmem.conf"
echo "$DLIB" >>/etc/ld.so.preload
check "dpkg -r libhakmem-dev libhakmem0 (with a preload line)" dpkg -r libhakmem-dev libhakmem0
[ ! -e "$DLIB" ] && pass "the library is gone" || failed "the library is still there"
preload_has_hakmem && failed "removing libhakmem0 left the preload line" || pass "removing libhakmem0 removes the preload line"
expect_not_preloaded "after dpkg -r libhakmem0"
check "dpkg --purge libhakmem0 libhakmem-dev" dpkg --purge libhakmem0 libhakmem-dev
[ "$(cat /etc/ld.so.preload 2>/dev/null || echo ABSENT)" = "$before" ] &&
    pass "/etc/ld.so.preload is as before" || failed "/etc/ld.so.preload differs from before"

# ---- RPM packages ---------------------------------------------------------------
RLIB=/usr/lib64/libhakmem.so.0
rpmq() { rpm --dbpath "$S/rpmdb" "$@"; }
rpmq --initdb || die "cannot create an rpm database"
check "rpm -i libhakmem0 hakmem hakmem-devel" rpmq -i --nodeps "$rpmdir"/*.rpm
preload_has_hakmem && failed "rpm install enabled the preload" || pass "rpm install does not enable the preload"
grep -q "^LIBPATH='$RLIB'" /usr/sbin/hakmemctl && pass "the rpm's hakmemctl names $RLIB" || failed "the rpm's hakmemctl path"
check "hakmemctl enable (rpm)" hakmemctl enable
expect_preloaded "rpm hakmemctl enable"
check "rpm --reinstall libhakmem0 (upgrade path)" rpmq --reinstall --nodeps "$rpmdir"/libhakmem0-*.rpm
preload_has_hakmem && pass "an rpm reinstall keeps hakmem enabled" || failed "an rpm reinstall disabled hakmem"
check "rpm -e hakmem" rpmq -e --nodeps hakmem
preload_has_hakmem && failed "rpm -e hakmem left the line" || pass "rpm -e hakmem removes the preload line (%preun)"
echo "$RLIB" >>/etc/ld.so.preload
check "rpm -e libhakmem0 (with a preload line)" rpmq -e --nodeps libhakmem0 hakmem-devel
preload_has_hakmem && failed "rpm -e libhakmem0 left the line" || pass "rpm -e libhakmem0 removes the preload line (%preun)"
[ ! -e "$RLIB" ] && pass "the rpm library is gone" || failed "the rpm library is still there"
expect_not_preloaded "after rpm -e"

echo "namespace: $count checks, $([ $fail -eq 0 ] && echo 'all passed' || echo 'FAILURES')"
exit $fail
