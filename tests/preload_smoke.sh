#!/bin/sh
# Preload smoke test: real programs run with and without LD_PRELOAD of the
# built libhakmem.so.0 must print the same output, and the library must be
# mapped in the preloaded process.
set -u
LIB=${HAKMEM_LIB:?HAKMEM_LIB must name the built libhakmem.so.0}
[ -f "$LIB" ] || { echo "preload_smoke: $LIB not built"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
count=0

check() {
    name=$1
    shift
    count=$((count + 1))
    "$@" >"$tmp/$name.ref" 2>&1
    ref_rc=$?
    LD_PRELOAD=$LIB "$@" >"$tmp/$name.out" 2>&1
    out_rc=$?
    if [ "$ref_rc" -ne "$out_rc" ] || ! cmp -s "$tmp/$name.ref" "$tmp/$name.out"; then
        echo "FAIL: $name (exit $ref_rc without hakmem, $out_rc with)"
        diff "$tmp/$name.ref" "$tmp/$name.out" | head -20
        fail=1
    else
        echo "PASS: $name ($(wc -c <"$tmp/$name.out") bytes of identical output)"
    fi
}

check bash bash -c 'declare -A m; for i in $(seq 1 20000); do a[$i]=$((i*i)); m[k$i]=$i; done
    s=""; for i in $(seq 1 3000); do s="$s$i,"; done
    echo "${#a[@]} ${#m[@]} ${a[19999]} ${#s}"'
check python3 /usr/bin/python3 -c '
import json, collections, hashlib, random, re
random.seed(1)
d = [{"k": i, "v": "x" * (i % 300), "l": list(range(i % 50))} for i in range(60000)]
s = json.dumps(d)
c = collections.Counter(re.findall(r"[a-z]+", s))
t = {}
for i in range(200000):
    t[random.random()] = bytearray(random.randrange(1, 5000))
print(len(s), hashlib.sha256(s.encode()).hexdigest(), sorted(c.items())[:3], len(t))'
check perl perl -e 'my %h; $h{"k$_"} = "x" x ($_ % 700) for 1..200000;
    my @a = sort { $a cmp $b } keys %h; my $t = 0; $t += length($h{$_}) for @a;
    print scalar(@a), " $t $a[0] $a[-1]\n"'
seq 1 300000 | awk '{ print ($1 * 7919) % 300007 }' >"$tmp/numbers"
check sort sort -n -S 64M "$tmp/numbers"

# A g++-compiled program heavy on the C++ standard library (containers,
# strings, exceptions, threads): same output, and its new and sized delete
# are hakmem's.
cxx=${top_builddir:-.}/tests/cxx_workload
if [ -x "$cxx" ]; then
    check cxx_workload "$cxx"
    count=$((count + 1))
    bound=$(LD_PRELOAD=$LIB LD_DEBUG=bindings "$cxx" 2>&1 >/dev/null |
        grep -cE "to [^ ]*libhakmem\.so[.0-9]* \[0\]: normal symbol \`(_Znwm|_ZdlPvm)'")
    if [ "${bound:-0}" -ge 2 ]; then
        echo "PASS: cxx_workload's operator new and sized delete bind to libhakmem ($bound bindings)"
    else
        echo "FAIL: cxx_workload's operator new and sized delete do not bind to libhakmem"
        fail=1
    fi
else
    count=$((count + 1))
    echo "FAIL: $cxx not built"
    fail=1
fi

count=$((count + 1))
maps=$(LD_PRELOAD=$LIB bash -c 'grep -c libhakmem /proc/$$/maps')
if [ "${maps:-0}" -ge 1 ]; then
    echo "PASS: libhakmem is mapped in the preloaded process"
else
    echo "FAIL: libhakmem not found in /proc/<pid>/maps"
    fail=1
fi

echo "preload smoke: $count checks, $([ $fail -eq 0 ] && echo 'all passed' || echo 'FAILURES')"
exit $fail
