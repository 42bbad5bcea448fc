#!/bin/sh
# step_aside.sh LIB [INCLUDE_DIR] - hakmem steps aside by itself (see
# hakmem.conf(5), step_aside): with LIB preloaded,
#   - valgrind (memcheck) reports a leaking program's leak and its own
#     errors, and nothing hakmem would cause; massif sees the heap;
#   - programs built with AddressSanitizer (gcc's libasan.so and clang's
#     static runtime), ThreadSanitizer (both), MemorySanitizer and
#     LeakSanitizer run clean, and ASan still reports their bugs;
#   - with another allocator loaded after hakmem, that allocator serves
#     every call; before hakmem, too; step_aside = off keeps hakmem.
# The programs are tests/aside/*.c, built here.  Needs cc, gcc, clang
# (with libclang-rt-dev), valgrind; INCLUDE_DIR holds hakmem.h (default
# the source tree's include/).  Prints PASS/FAIL lines; exits 1 on any
# failure.  Run by reliability/run.sh and by the autopkgtest.
set -u
LIB=$(cd "$(dirname "${1:?usage: step_aside.sh LIB [INCLUDE_DIR]}")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
INC=${2:-$HERE/../include}
SRC=$HERE/aside
[ -f "$LIB" ] || { echo "step_aside: $LIB missing"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
for v in $(env | sed -n 's/^\(HAKMEM_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset LD_PRELOAD ASAN_OPTIONS TSAN_OPTIONS MSAN_OPTIONS LSAN_OPTIONS
fail=0 count=0

pass() { count=$((count + 1)); echo "PASS: $*"; }
failed() {
    count=$((count + 1)); fail=1; echo "FAIL: $*"
    for f in "$tmp/out" "$tmp/err"; do
        [ -s "$f" ] && sed -e 's/^/    | /' -e 30q "$f"
    done
    return 0
}
# run ARGS...: with LIB preloaded and statistics on (a program in which
# hakmem stepped aside says why); stdout, stderr, status in $tmp/out,
# $tmp/err, $rc.
run() {
    timeout 120 env LD_PRELOAD="${PRELOAD:-$LIB}" HAKMEM_STATS=on "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
has() { grep -Eq -- "$1" "$tmp/$2"; }
build() { # OUTPUT COMPILER ARGS...
    out=$1
    shift
    "$@" -o "$tmp/$out" 2>"$tmp/err" || { failed "build $out: $*"; return 1; }
}

echo "== building the test programs"
build leaky cc -g -O0 "$SRC/leaky.c"
build libother_malloc.so cc -O1 -shared -fPIC "$SRC/other_malloc.c"
build owner_probe cc -O1 -I"$INC" "$SRC/owner_probe.c" -ldl
for s in "gcc address" "clang address" "gcc thread" "clang thread" "clang memory" "gcc leak"; do
    set -- $s
    build "$1-$2" "$1" -g -O1 -fsanitize="$2" -pthread "$SRC/asan_clean.c"
done

echo "== valgrind"
# memcheck: the program's four errors and its leak, no more (without
# stepping aside, hakmem's reallocarray block reaching memcheck's realloc
# is a fifth, "Invalid free").
run valgrind --error-exitcode=1 --leak-check=full "$tmp/leaky"
if [ "$rc" -eq 1 ] && has 'ERROR SUMMARY: 4 errors from 4 contexts' err &&
    has 'Invalid read of size 1' err && has 'Conditional jump or move depends on uninitialised' err &&
    has 'Invalid write of size 1' err && has 'definitely lost: 100 bytes in 1 blocks' err &&
    ! has 'Invalid free' err && has 'by 0x[0-9A-F]+: main \(leaky.c:14\)' err; then
    pass "memcheck reports the leak (100 bytes, leaky.c:14) and the program's 3 errors, exit 1"
else failed "memcheck (exit $rc)"; fi
if has '^hakmem: stepped aside \(running under valgrind\)' err; then
    pass "hakmem stepped aside under memcheck"
else failed "no step-aside line under memcheck"; fi
run valgrind --tool=massif --massif-out-file="$tmp/massif.out" "$tmp/leaky"
peak=$(sed -n 's/^mem_heap_B=//p' "$tmp/massif.out" 2>/dev/null | sort -n | tail -n 1)
if [ "$rc" -eq 0 ] && [ "${peak:-0}" -ge 100000 ] && has '^hakmem: stepped aside \(running under valgrind\)' err; then
    pass "massif sees the heap (peak $peak bytes); hakmem stepped aside"
else failed "massif (exit $rc, peak ${peak:-none})"; fi

echo "== sanitizers"
for s in "gcc-address AddressSanitizer libasan.so" "clang-address AddressSanitizer the program" \
    "gcc-thread ThreadSanitizer libtsan.so" "clang-thread ThreadSanitizer the program" \
    "clang-memory MemorySanitizer the program" "gcc-leak LeakSanitizer liblsan.so"; do
    set -- $s
    prog=$1 runtime=$2
    shift 2
    where=$*
    [ -x "$tmp/$prog" ] || continue
    run "$tmp/$prog"
    if [ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = ok ] &&
        [ "$(grep -vc "^hakmem: stepped aside ($runtime runtime in $where" "$tmp/err")" -eq 0 ] &&
        has "^hakmem: stepped aside \\($runtime runtime in $where" err; then
        pass "$prog runs clean; hakmem stepped aside for $runtime in $where"
    else failed "$prog (exit $rc)"; fi
done
for prog in gcc-address clang-address; do
    [ -x "$tmp/$prog" ] || continue
    run "$tmp/$prog" overflow
    if [ "$rc" -ne 0 ] && has 'ERROR: AddressSanitizer: heap-buffer-overflow' err; then
        pass "$prog: ASan reports the program's heap-buffer-overflow"
    else failed "$prog overflow (exit $rc)"; fi
    run "$tmp/$prog" small
    if [ "$rc" -ne 0 ] && has 'ERROR: AddressSanitizer: heap-buffer-overflow' err &&
        has '0 bytes to the right of 10-byte region' err; then
        pass "$prog: ASan reports one byte past a 10-byte block (the size asked for)"
    else failed "$prog small overflow (exit $rc)"; fi
    run "$tmp/$prog" uaf
    if [ "$rc" -ne 0 ] && has 'ERROR: AddressSanitizer: heap-use-after-free' err; then
        pass "$prog: ASan reports the program's heap-use-after-free"
    else failed "$prog use after free (exit $rc)"; fi
    run "$tmp/$prog" leak
    if [ "$rc" -ne 0 ] && has 'Direct leak of 100 byte\(s\) in 1 object' err; then
        pass "$prog: LeakSanitizer reports the program's leak (100 bytes)"
    else failed "$prog leak (exit $rc)"; fi
done

echo "== another allocator"
other=$tmp/libother_malloc.so
PRELOAD="$LIB $other" run "$tmp/owner_probe"
if [ "$(cat "$tmp/out")" = "other 6 hakmem 0" ] &&
    has '^hakmem: stepped aside \(another malloc in libother_malloc.so\)' err; then
    pass "loaded after hakmem, the other allocator serves every call"
else failed "other allocator after hakmem: $(cat "$tmp/out")"; fi
PRELOAD="$other $LIB" run "$tmp/owner_probe"
if [ "$(cat "$tmp/out")" = "other 6 hakmem 0" ] && has '^hakmem: stepped aside' err; then
    pass "loaded before hakmem, the other allocator serves every call"
else failed "other allocator before hakmem: $(cat "$tmp/out")"; fi
PRELOAD="$LIB $other" run env HAKMEM_STEP_ASIDE=off "$tmp/owner_probe"
if [ "$(cat "$tmp/out")" = "other 0 hakmem 6" ] && ! has 'stepped aside' err; then
    pass "step_aside = off: hakmem serves every call"
else failed "step_aside = off: $(cat "$tmp/out")"; fi
run "$tmp/owner_probe"
if [ "$(cat "$tmp/out")" = "other 0 hakmem 6" ] && ! has 'stepped aside' err; then
    pass "alone, hakmem serves every call"
else failed "hakmem alone: $(cat "$tmp/out")"; fi

echo "step aside: $count checks, $([ $fail -eq 0 ] && echo 'all passed' || echo FAILURES)"
exit $fail
