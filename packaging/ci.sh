#!/bin/sh
# Packaging CI: build the Debian and RPM packages from a clean copy of this
# tree, inspect them, run lintian and rpmlint, make distcheck, test
# hakmemctl against temporary roots and a real system-wide preload (and the
# packages' install and removal) in a private mount namespace.
# Run as root from anywhere, no arguments; it works in a temporary
# directory and never changes this tree or the machine's /etc/ld.so.preload.
set -eu
cd "$(dirname "$0")/.."
start=$(date +%s)

step() { printf '\n==== %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }
die() { echo "packaging: FAIL: $*" >&2; exit 1; }
# The logs of the failed tests of an automake build under $1.
failed_tests() {
    find "$1" -name '*.trs' -exec grep -l ':test-result: FAIL' {} + 2>/dev/null | while read -r trs; do
        echo "---- ${trs%.trs}.log"
        grep -v '^PASS' "${trs%.trs}.log" | tail -n 40
    done
}
ok() { echo "ok: $*"; }
# expect NAME COMMAND...: COMMAND must succeed.
expect() {
    name=$1
    shift
    "$@" >/dev/null 2>&1 || die "$name"
    ok "$name"
}

[ "$(id -u)" -eq 0 ] || die "run as root (the namespace test mounts file systems)"
step "dependencies"
scripts/install-deps pkg

real_preload_before=$(sha256sum /etc/ld.so.preload 2>/dev/null || echo absent)
work=$(mktemp -d /tmp/hakmem-pkg.XXXXXX)
# Readable by all: hakmemctl's test runs the built library as nobody.
chmod 0755 "$work"
bg=
trap '[ -z "$bg" ] || kill -- "-$bg" 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

step "versions agree"
v_ac=$(sed -n 's/^AC_INIT(\[hakmem\], \[\([^]]*\)\].*/\1/p' configure.ac)
v_deb=$(dpkg-parsechangelog -l debian/changelog -S Version)
v_rpm=$(sed -n 's/^Version:[[:space:]]*//p' rpm/hakmem.spec)
echo "configure.ac $v_ac, debian/changelog $v_deb, rpm/hakmem.spec $v_rpm"
[ -n "$v_ac" ] && [ "$v_ac" = "$v_deb" ] && [ "$v_ac" = "$v_rpm" ] || die "versions differ"
v=$v_ac

step "clean copy of the tree"
# What a clone would hold, with uncommitted changes: tracked files and new
# files git does not ignore.
src=$work/src
mkdir -p "$src"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$src"
(cd "$src" && git init -q && git add -A &&
    git -c user.name=ci -c user.email=ci@localhost commit -qm snapshot)
ok "$(cd "$src" && git ls-files | wc -l) files in $src"

# ---- make distcheck and rpmbuild, in the background ---------------------------------
# They work on a second copy while the Debian package builds: on two cores
# the serial parts of each (configure, dh, lintian) overlap.
step "make distcheck, then rpmbuild -bb from its tarball (in the background)"
mkdir "$work/src-dist" "$work/dist"
(cd "$src" && git archive HEAD) | tar -xf - -C "$work/src-dist"
R=$work/rpmbuild
rpms=$R/RPMS/$(rpm --eval '%{_arch}')
tarball=$work/dist/hakmem-$v.tar.gz
cat >"$work/bg.sh" <<'EOF'
set -e
work=$1 tarball=$2 R=$3
cd "$work/src-dist"
autoreconf -fi >/dev/null 2>&1
cd "$work/dist"
# The Debian build's compiler and linker flags (hardening=+all), so that
# distcheck's make check also covers the package build's configuration.
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
"$work/src-dist/configure" --quiet
make -j"$(nproc)" distcheck >"$work/distcheck.log" 2>&1 || { echo distcheck >"$work/bg.failed"; exit 1; }
mkdir -p "$R/SOURCES"
cp "$tarball" "$R/SOURCES/"
# make check already ran on this tarball (distcheck) and in the Debian
# build.  The plain command of README.md: what CI checks is what anyone
# building the RPMs gets.
rpmbuild -bb --nodeps --without check --define "_topdir $R" \
    "$work/src-dist/rpm/hakmem.spec" >"$work/rpm-build.log" 2>&1 || { echo rpmbuild >"$work/bg.failed"; exit 1; }
EOF
# Its own process group (setsid), so that an early exit can stop all of it.
setsid sh "$work/bg.sh" "$work" "$tarball" "$R" >"$work/bg.log" 2>&1 &
bg=$!

# ---- Debian --------------------------------------------------------------------
# debian/rules runs make check unless DEB_BUILD_OPTIONS has nocheck.  Here
# it defaults to nocheck to stay within CI's time: the same tests run in
# make distcheck above with the same hardened flags, and twice in
# scripts/test.  DEB_BUILD_OPTIONS= packaging/ci.sh runs them here too.
DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-nocheck}
export DEB_BUILD_OPTIONS
step "dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS='$DEB_BUILD_OPTIONS')"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$work/deb-build.log" 2>&1; then
    tail -n 60 "$work/deb-build.log"
    failed_tests "$src/debian/build"
    die "dpkg-buildpackage"
fi
grep -E '^# (TOTAL|PASS|FAIL)' "$work/deb-build.log" | sed 's/^/make check in the package build: /'
left=$(cd "$src" && git status --porcelain)
[ -z "$left" ] || { echo "$left"; die "the build changed the tree (git status)"; }
ok "git status is clean after the build"
(cd "$src" && debian/rules clean) >/dev/null 2>&1
left=$(cd "$src" && git status --porcelain --ignored)
[ -z "$left" ] || { echo "$left"; die "debian/rules clean left files"; }
ok "debian/rules clean leaves no file, ignored or not"

step "lintian"
rc=0
lintian -I --pedantic --fail-on error "$work/hakmem_${v}_"*.changes >"$work/lintian.log" 2>&1 || rc=$?
grep -v 'running with root privileges' "$work/lintian.log" || true
[ "$rc" -eq 0 ] || die "lintian reports errors"
ok "lintian: no errors ($(grep -c '^[EWIP]:' "$work/lintian.log" || true) tags in all, listed above)"

step "Debian package contents"
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
debs=$work
for p in libhakmem0 libhakmem-dev hakmem; do
    deb=$debs/${p}_${v}_$(dpkg --print-architecture).deb
    [ -f "$deb" ] || die "$deb was not built"
    echo "--- $p"
    dpkg-deb -c "$deb" | awk '{ print $1, $6, $7, $8 }'
    mkdir -p "$work/x/$p"
    dpkg-deb -x "$deb" "$work/x/$p"
    dpkg-deb -e "$deb" "$work/x/$p/DEBIAN"
done
x=$work/x
lib=$x/libhakmem0/usr/lib/$MA/libhakmem.so.0
expect "libhakmem0: libhakmem.so.0 -> libhakmem.so.0.0.0" test "$(readlink "$lib")" = libhakmem.so.0.0.0
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
expect "libhakmem0: SONAME is libhakmem.so.0 ($soname)" test "$soname" = libhakmem.so.0
expect "libhakmem0: reads /etc/hakmem.conf" grep -q /etc/hakmem.conf "$lib"
nm -D --defined-only "$lib" | awk '{ print $3 }' | sort >"$work/exported"
sed -n 's/^ \([A-Za-z_0-9]*\)@Base .*/\1/p' debian/libhakmem0.symbols | sort >"$work/symbols"
if ! cmp -s "$work/exported" "$work/symbols"; then
    diff "$work/symbols" "$work/exported" | sed -n 's/^</    only in debian\/libhakmem0.symbols:/p; s/^>/    exported, not in debian\/libhakmem0.symbols:/p'
    echo "    (a new export goes into the symbols file with the first version that has it; removing one needs a new SONAME)"
    die "libhakmem0: the exported symbols and debian/libhakmem0.symbols differ"
fi
ok "libhakmem0: exports exactly debian/libhakmem0.symbols ($(wc -l <"$work/exported") symbols)"
expect "libhakmem0: DEBIAN/symbols" grep -q '^libhakmem.so.0 libhakmem0' "$x/libhakmem0/DEBIAN/symbols"
expect "libhakmem0: depends on no C++ runtime ($(dpkg-deb -f "$debs/libhakmem0_${v}_$(dpkg --print-architecture).deb" Depends))" \
    sh -c '! dpkg-deb -f "$1" Depends | grep -qE "libstdc\+\+|libc\+\+|libgcc"' sh "$debs/libhakmem0_${v}_$(dpkg --print-architecture).deb"
expect "libhakmem0: ldconfig trigger" grep -q ldconfig "$x/libhakmem0/DEBIAN/triggers"
for p in libhakmem0 hakmem; do
    expect "$p: prerm and postrm take hakmem out of /etc/ld.so.preload" \
        grep -q ld.so.preload "$x/$p/DEBIAN/prerm" "$x/$p/DEBIAN/postrm"
    expect "$p: no postinst enables the preload" \
        sh -c '! grep -qs "ld.so.preload\|hakmemctl" "$1"' sh "$x/$p/DEBIAN/postinst"
done
dev=$x/libhakmem-dev
expect "libhakmem-dev: hakmem.h" test -f "$dev/usr/include/hakmem.h"
expect "libhakmem-dev: libhakmem.so -> libhakmem.so.0.0.0" \
    test "$(readlink "$dev/usr/lib/$MA/libhakmem.so")" = libhakmem.so.0.0.0
pc=$dev/usr/lib/$MA/pkgconfig/hakmem.pc
sed 's/^/    /' "$pc"
expect "hakmem.pc: version $v" test "$(PKG_CONFIG_PATH=${pc%/*} pkg-config --modversion hakmem)" = "$v"
expect "hakmem.pc: libdir /usr/lib/$MA" \
    test "$(PKG_CONFIG_PATH=${pc%/*} pkg-config --variable=libdir hakmem)" = "/usr/lib/$MA"
expect "hakmem.pc: -lhakmem" sh -c 'PKG_CONFIG_PATH=$1 pkg-config --libs hakmem | grep -q -- -lhakmem' sh "${pc%/*}"
printf '%s\n' '#include <hakmem.h>' '#include <string.h>' \
    'int main(void) { char *p = hak_malloc(100); strcpy(p, "ok"); int r = strcmp(p, "ok"); hak_free(p); return r; }' \
    >"$work/use.c"
cp -P "$x/libhakmem0/usr/lib/$MA/"libhakmem.so.* "$dev/usr/lib/$MA/"
expect "libhakmem-dev: a program builds and runs against it" sh -c \
    'cc -I"$1/usr/include" -o "$2/use" "$2/use.c" -L"$1/usr/lib/$3" -lhakmem && LD_LIBRARY_PATH="$1/usr/lib/$3" "$2/use"' \
    sh "$dev" "$work" "$MA"
t=$x/hakmem
expect "hakmem: /etc/hakmem.conf is a conffile" grep -qx /etc/hakmem.conf "$t/DEBIAN/conffiles"
expect "hakmem: the drop-in folder /etc/hakmem.d" test -d "$t/etc/hakmem.d"
expect "hakmem: /usr/libexec/hakmem/hakmem-inspect" test -x "$t/usr/libexec/hakmem/hakmem-inspect"
expect "hakmem: hakmem-inspect needs only libc and the loader (readelf -d)" sh -c \
    '! readelf -d "$1" | sed -n "s/.*(NEEDED).*\[\(.*\)\]/\1/p" | grep -Ev "^(libc\.so\.6|ld-linux.*)$"' \
    sh "$t/usr/libexec/hakmem/hakmem-inspect"
expect "hakmem: hakmemctl runs /usr/libexec/hakmem/hakmem-inspect and reads /etc" sh -c \
    'grep -q "'"'"'/usr/libexec/hakmem/hakmem-inspect'"'"'" "$1" && grep -q "^SYSCONFDIR='"'"'/etc'"'"'$" "$1"' \
    sh "$t/usr/sbin/hakmemctl"
for m in man3/hakmem.3 man5/hakmem.conf.5 man8/hakmemctl.8; do
    expect "hakmem: $m.gz" test -f "$t/usr/share/man/$m.gz"
done
expect "hakmem: /usr/sbin/hakmemctl writes /usr/lib/$MA/libhakmem.so.0" \
    grep -q "^LIBPATH='/usr/lib/$MA/libhakmem.so.0'$" "$t/usr/sbin/hakmemctl"
expect "hakmem: /usr/libexec/hakmem/hakmem-inspect, which hakmemctl runs" sh -c \
    'test -x "$1/usr/libexec/hakmem/hakmem-inspect" && grep -q "/usr/libexec/hakmem/hakmem-inspect" "$1/usr/sbin/hakmemctl"' \
    sh "$t"

# ---- hakmemctl, while the background job runs -------------------------------------
step "hakmemctl (from the .deb) against temporary roots (the .rpm's runs in the namespace test)"
HAKMEMCTL=$t/usr/sbin/hakmemctl HAKMEMCTL_INSPECT=$t/usr/libexec/hakmem/hakmem-inspect HAKMEM_LIB=$lib \
    sh tools/hakmemctl_test.sh >"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; die "hakmemctl tests"; }
grep -v '^PASS' "$work/ctl.log"

# ---- autopkgtest: debian/tests against the installed packages ---------------------
# The null testbed is this machine: autopkgtest installs the packages just
# built (and the tests' dependencies) for real.  They never enable the
# preload (system-wide runs in a private mount namespace); the packages are
# purged afterwards unless they were installed before.
step "autopkgtest (debian/tests, null testbed)"
scripts/install-deps autopkgtest
had=$(dpkg-query -W -f='${Package} ${Status}\n' libhakmem0 libhakmem-dev hakmem 2>/dev/null |
    awk '/ installed$/ { print $1 }' | tr '\n' ' ')
rc=0
autopkgtest --output-dir "$work/autopkgtest" \
    "$debs"/libhakmem0_"$v"_*.deb "$debs"/libhakmem-dev_"$v"_*.deb "$debs"/hakmem_"$v"_*.deb \
    "$src" -- null >"$work/autopkgtest.log" 2>&1 || rc=$?
for p in hakmem libhakmem-dev libhakmem0; do
    case " $had " in *" $p "*) ;; *) dpkg --purge "$p" >/dev/null 2>&1 || true ;; esac
done
[ -f "$work/autopkgtest/summary" ] || { tail -n 60 "$work/autopkgtest.log"; die "autopkgtest did not run"; }
sed 's/^/    /' "$work/autopkgtest/summary"
if [ "$rc" -ne 0 ]; then
    # The output of each failed test (autopkgtest keeps TEST-stdout and
    # TEST-stderr in its output folder).
    awk '$2 != "PASS" { print $1 }' "$work/autopkgtest/summary" | while read -r t; do
        for f in "$work/autopkgtest/$t-stdout" "$work/autopkgtest/$t-stderr"; do
            [ -f "$f" ] && { echo "---- $f"; grep -v '^PASS' "$f" | tail -n 40; }
        done
    done
    die "autopkgtest (exit $rc)"
fi
ok "autopkgtest: every test of debian/tests/control passed"


# ---- make distcheck and RPM --------------------------------------------------------
step "make distcheck and rpmbuild (waiting for the background job)"
rc=0
wait "$bg" || rc=$?
bg=
if [ "$rc" -ne 0 ]; then
    cat "$work/bg.log"
    case $(cat "$work/bg.failed" 2>/dev/null) in
    distcheck) tail -n 60 "$work/distcheck.log"; failed_tests "$work/dist"; die "make distcheck" ;;
    rpmbuild) tail -n 60 "$work/rpm-build.log"; die "rpmbuild" ;;
    *) die "autoreconf or configure for make distcheck" ;;
    esac
fi
grep -E '^# (TOTAL|PASS|FAIL)|archives ready|tar.gz is ready' "$work/distcheck.log"
ok "make distcheck"
expect "the tarball holds rpm/hakmem.spec, tools/ and man/hakmemctl.8" sh -c \
    'tar tzf "$1" | grep -q rpm/hakmem.spec && tar tzf "$1" | grep -q tools/hakmemctl.in && tar tzf "$1" | grep -q man/hakmemctl.8' \
    sh "$tarball"
ls "$rpms"
ok "rpmbuild -bb from the tarball"

step "rpmlint"
# The built RPMs with rpm/hakmem.rpmlintrc, and the spec alone with its own
# filters, as anyone would run them: an unused filter is an error too.
for what in rpms spec; do
    rc=0
    if [ "$what" = rpms ]; then
        rpmlint -r rpm/hakmem.rpmlintrc "$rpms"/*.rpm >"$work/rpmlint.log" 2>&1 || rc=$?
    else
        rpmlint -r rpm/hakmem-spec.rpmlintrc rpm/hakmem.spec >"$work/rpmlint.log" 2>&1 || rc=$?
    fi
    cat "$work/rpmlint.log"
    [ "$rc" -eq 0 ] && grep -q ' 0 errors' "$work/rpmlint.log" || die "rpmlint reports errors ($what)"
done
ok "rpmlint: no errors, no unused filter (RPMs and spec)"

step "RPM package contents"
for r in "$rpms"/*.rpm; do
    echo "--- $(rpm -qp --qf '%{NAME}' "$r")"
    rpm -qlvp "$r" | awk '{ print $1, $9, $10, $11 }'
done
rl=$rpms/libhakmem0-$v-1.$(rpm --eval '%{_arch}').rpm
rt=$rpms/hakmem-$v-1.$(rpm --eval '%{_arch}').rpm
rd=$rpms/hakmem-devel-$v-1.$(rpm --eval '%{_arch}').rpm
mkdir -p "$work/rx"
for r in "$rl" "$rt" "$rd"; do (cd "$work/rx" && rpm2cpio "$r" | cpio -idm --quiet); done
rlib=$work/rx/usr/lib64/libhakmem.so.0
soname=$(readelf -d "$rlib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
expect "libhakmem0.rpm: SONAME is libhakmem.so.0 ($soname)" test "$soname" = libhakmem.so.0
expect "libhakmem0.rpm: provides libhakmem.so.0()(64bit)" sh -c 'rpm -qp --provides "$1" | grep -q "^libhakmem.so.0()(64bit)"' sh "$rl"
expect "libhakmem0.rpm: exports the symbols of debian/libhakmem0.symbols, the 20 C++ operators included" \
    sh -c 'nm -D --defined-only "$1" | awk "{ print \$3 }" | sort | cmp -s - "$2"' sh "$rlib" "$work/symbols"
expect "libhakmem0.rpm: requires no C++ runtime" sh -c '! rpm -qp --requires "$1" | grep -qE "libstdc\+\+|libc\+\+"' sh "$rl"
expect "libhakmem0.rpm: ldconfig in %post and %postun" sh -c \
    'rpm -qp --scripts "$1" | grep -q "postinstall program: /sbin/ldconfig" && rpm -qp --scripts "$1" | grep -q "postuninstall program: /sbin/ldconfig"' sh "$rl"
for r in "$rl" "$rt"; do
    expect "$(rpm -qp --qf '%{NAME}' "$r").rpm: %preun takes hakmem out of /etc/ld.so.preload" sh -c \
        'rpm -qp --qf "%{PREUN}" "$1" | grep -q ld.so.preload' sh "$r"
    expect "$(rpm -qp --qf '%{NAME}' "$r").rpm: no %post enables the preload" sh -c \
        '! rpm -qp --qf "%{POSTIN}" "$1" | grep -q "ld.so.preload\|hakmemctl"' sh "$r"
done
expect "hakmem.rpm: /etc/hakmem.d and /usr/libexec/hakmem/hakmem-inspect" sh -c \
    'test -d "$1/etc/hakmem.d" && test -x "$1/usr/libexec/hakmem/hakmem-inspect"' sh "$work/rx"
expect "hakmem.rpm: %config(noreplace) /etc/hakmem.conf" sh -c \
    'rpm -qp --qf "[%{FILEFLAGS:fflags} %{FILENAMES}\n]" "$1" | grep -qx "cn /etc/hakmem.conf"' sh "$rt"
expect "hakmem.rpm: /usr/sbin/hakmemctl writes /usr/lib64/libhakmem.so.0" \
    grep -q "^LIBPATH='/usr/lib64/libhakmem.so.0'$" "$work/rx/usr/sbin/hakmemctl"
for m in man3/hakmem.3 man5/hakmem.conf.5 man8/hakmemctl.8; do
    expect "hakmem.rpm: $m.gz" test -f "$work/rx/usr/share/man/$m.gz"
done
expect "hakmem-devel.rpm: hakmem.h, libhakmem.so, hakmem.pc (libdir /usr/lib64)" sh -c \
    'test -f "$1/usr/include/hakmem.h" && test -L "$1/usr/lib64/libhakmem.so" && grep -qx "libdir=/usr/lib64" "$1/usr/lib64/pkgconfig/hakmem.pc"' \
    sh "$work/rx"

# ---- the real preload ---------------------------------------------------------------
step "system-wide preload and package install/removal in a private mount namespace"
unshare --mount --propagation private sh packaging/namespace_test.sh "$debs" "$rpms" "$work/ns" >"$work/ns.log" 2>&1 ||
    { cat "$work/ns.log"; die "namespace test"; }
cat "$work/ns.log"
real_preload_after=$(sha256sum /etc/ld.so.preload 2>/dev/null || echo absent)
[ "$real_preload_before" = "$real_preload_after" ] || die "the machine's /etc/ld.so.preload changed"
ok "the machine's /etc/ld.so.preload is unchanged ($real_preload_after)"

step "packaging: all checks passed"
