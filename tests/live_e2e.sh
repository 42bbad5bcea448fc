#!/bin/sh
# live_e2e.sh - live statistics and the heap profiler from outside, end to
# end, through the preloaded library:
#   - a leaking program run with heap_profile_sample: google-pprof --text
#     on the profile it writes at exit names the leaking function first;
#   - an unwritable profile prefix: one line on stderr, the program runs on;
#   - hakmemctl stats (table and --json), top --once and profile on a
#     running program, whose numbers move;
#   - a program whose every malloc hits its cache, with the default
#     live_stats_delay_ms, still gets its statistics;
#   - bad input: no such process, not a PID, a process without hakmem, a
#     killed process's leftover file (removed), another user (refused).
# Every wait has a deadline; the programs are killed on the way out.
set -u
top_builddir=${top_builddir:-.}
LIB=${HAKMEM_LIB:-$top_builddir/.libs/libhakmem.so.0}
PROG=$top_builddir/tests/leak_prog
CTL="sh $top_builddir/tools/hakmemctl"
HAKMEMCTL_INSPECT=$top_builddir/tools/hakmem-inspect
export HAKMEMCTL_INSPECT
T=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-live-e2e.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
for v in $(env | sed -n 's/^\(HAKMEM_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
fail=0
pass() { echo "PASS: $*"; }
failed() { echo "FAIL: $*"; fail=1; }
# google-pprof (Debian's google-perftools), pprof (Fedora's gperftools).
PPROF=$(command -v google-pprof || command -v pprof) ||
    { echo "FAIL: google-pprof missing (scripts/install-deps test installs google-perftools)"; exit 1; }

# until SECONDS COMMAND...: retry COMMAND until it succeeds or time is up.
until_ok() {
    limit=$(($(date +%s) + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -le "$limit" ] || return 1
        sleep 0.05
    done
}

# ---- the heap profiler, at exit ----
timeout 60 env HAKMEM_HEAP_PROFILE_SAMPLE=16K HAKMEM_HEAP_PROFILE_PREFIX="$T/leak" LD_PRELOAD="$LIB" \
    "$PROG" leak >"$T/leak.out" 2>"$T/leak.err"
rc=$?
profile=$(ls "$T"/leak.*.heap 2>/dev/null | head -1)
if [ $rc -eq 0 ] && [ -n "$profile" ] && grep -q "heap profile (at exit) written to $profile" "$T/leak.err"; then
    pass "leaking program: profile written at exit ($profile)"
else
    failed "leaking program: exit $rc, no profile"; cat "$T/leak.err"
fi
"$PPROF" --text "$PROG" "$profile" >"$T/pprof.txt" 2>"$T/pprof.err"
first=$(awk '/^Total:/ { getline; print $NF; exit }' "$T/pprof.txt")
if [ "$first" = leaky_function ]; then
    pass "google-pprof --text names leaky_function first"
else
    failed "google-pprof --text: first entry '$first', not leaky_function"; cat "$T/pprof.txt" "$T/pprof.err"
fi
total=$(sed -n 's/^Total: \([0-9.]*\) MB/\1/p' "$T/pprof.txt")
if awk -v t="${total:-0}" 'BEGIN { exit !(t >= 10.5 && t <= 15.5) }'; then
    pass "estimated leak $total MB (true 12.9 MB)"
else
    failed "estimated leak ${total:-?} MB, true 12.9 MB"
fi
grep -q leaky_big "$T/pprof.txt" && pass "the Large leak is attributed to leaky_big" ||
    failed "no leaky_big in the profile"

timeout 60 env HAKMEM_HEAP_PROFILE_SAMPLE=64K HAKMEM_HEAP_PROFILE_PREFIX=/nonexistent-dir/p \
    LD_PRELOAD="$LIB" "$PROG" leak >"$T/bad.out" 2>"$T/bad.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(wc -l <"$T/bad.err")" -eq 1 ] &&
    grep -q "^hakmem: heap profile (at exit) not written: /nonexistent-dir/p\.[0-9]*\.1\.heap: no such directory$" "$T/bad.err"; then
    pass "unwritable prefix: one line, exit 0"
else
    failed "unwritable prefix: exit $rc"; cat "$T/bad.err"
fi

# ---- a running program ----
start_serving() { # NAME [VAR=VALUE...]: leak_prog serve (or $MODE)
    name=$1
    shift
    mkfifo "$T/$name.in"
    env "$@" LD_PRELOAD="$LIB" "$PROG" "${MODE:-serve}" <"$T/$name.in" >"$T/$name.out" 2>"$T/$name.err" &
    pid=$!
    pids="$pids $pid"
    exec 7>"$T/$name.in" # keeps its stdin open until closed
    until_ok 30 grep -q ready "$T/$name.out" || failed "$name never got ready"
}
allocs_of() { $CTL stats "$1" | sed -n 's/^  total: allocs \([0-9]*\),.*/\1/p'; }
grew() { [ "$(allocs_of "$1")" -gt "$2" ]; }

start_serving serve HAKMEM_LIVE_STATS_DELAY_MS=0 HAKMEM_HEAP_PROFILE_SAMPLE=4K \
    HAKMEM_HEAP_PROFILE_PREFIX="$T/serve"
SERVE=$pid
if until_ok 30 $CTL stats $SERVE; then
    $CTL stats $SERVE >"$T/stats.txt"
    grep -q "^hakmem statistics (pid $SERVE)$" "$T/stats.txt" && grep -q "^effective configuration:" "$T/stats.txt" &&
        grep -q "^  heap_profile_sample = 4K (env)$" "$T/stats.txt" &&
        pass "hakmemctl stats: the table of a running program" ||
        { failed "hakmemctl stats output"; cat "$T/stats.txt"; }
    # The first publication may come before the first allocation.
    until_ok 30 grew $SERVE 0
    a1=$(allocs_of $SERVE)
    if [ "${a1:-0}" -gt 0 ] && until_ok 30 grew $SERVE "$a1"; then
        pass "hakmemctl stats: allocations move ($a1 -> $(allocs_of $SERVE))"
    else
        failed "hakmemctl stats: allocations stay at ${a1:-?}"; $CTL stats $SERVE | tail -3
    fi
else
    failed "hakmemctl stats never found the running program"
fi
if $CTL stats $SERVE --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["pid"] == int(sys.argv[1]), d["pid"]
assert d["allocs"] > 0 and d["tiers"]["tiny"]["allocs"] > 0
assert d["configuration"]["heap_profile_sample"]["value"] == 4096
assert d["heap_profile"]["sample"] == 4096
' $SERVE; then pass "hakmemctl stats --json parses and matches"; else failed "hakmemctl stats --json"; fi
$CTL top --once >"$T/top.txt" 2>&1
if grep -q "^hakmem top: " "$T/top.txt" && grep -Eq "^ *$SERVE +[^ ]+ +leak_prog " "$T/top.txt"; then
    pass "hakmemctl top --once lists the program"
else
    failed "hakmemctl top --once"; cat "$T/top.txt"
fi
out=$($CTL profile $SERVE 2>&1)
if [ $? -eq 0 ] && [ -f "$out" ] && "$PPROF" --text "$PROG" "$out" 2>/dev/null | grep -q leaky_function; then
    pass "hakmemctl profile: $out, google-pprof sees leaky_function"
else
    failed "hakmemctl profile: $out"
fi

# ---- bad input ----
expect() { # NAME STATUS PATTERN COMMAND...: exit STATUS, one stderr line matching PATTERN
    name=$1 want=$2 pattern=$3
    shift 3
    "$@" >"$T/x.out" 2>"$T/x.err"
    rc=$?
    if [ $rc -eq "$want" ] && [ "$(wc -l <"$T/x.err")" -le 2 ] && grep -Eq -- "$pattern" "$T/x.err"; then
        pass "$name: exit $rc: $(head -1 "$T/x.err")"
    else
        failed "$name: exit $rc (want $want)"; cat "$T/x.err"
    fi
}
expect "no such process" 1 "^hakmemctl: no process 1073741000$" $CTL stats 1073741000
expect "not a process ID" 2 "not a process ID: '12ab'" $CTL stats 12ab
expect "no process ID" 2 "needs a process ID" $CTL stats
expect "top: bad delay" 2 "-d needs seconds" $CTL top -d zero
sleep 60 </dev/null &
SLEEPER=$!
pids="$pids $SLEEPER"
# Until it has exec'd sleep the child is still this shell (a busy machine
# lets the check below run first).
until_ok 30 grep -qx sleep "/proc/$SLEEPER/comm"
expect "a process without hakmem" 1 "process $SLEEPER \(sleep\) does not run hakmem" $CTL stats $SLEEPER
expect "profile of a process without the profiler" 1 "does not run hakmem" $CTL profile $SLEEPER

start_serving victim HAKMEM_LIVE_STATS_DELAY_MS=0
VICTIM=$pid
until_ok 30 $CTL stats $VICTIM || failed "victim has no statistics"
expect "profile without the heap profiler" 1 "does not run the heap profiler" $CTL profile $VICTIM
file=$(ls /dev/shm/hakmem.$VICTIM.* 2>/dev/null)
kill -9 $VICTIM
wait $VICTIM 2>/dev/null
exec 7>&-
[ -n "$file" ] && [ -f "$file" ] && pass "kill -9 leaves $file" || failed "no leftover after kill -9"
expect "a killed process's leftover" 1 "^hakmemctl: no process $VICTIM; removed its leftover statistics file$" \
    $CTL stats $VICTIM
[ ! -e "$file" ] && pass "the leftover is gone" || failed "the leftover $file is still there"

if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; then
    # Copies nobody can reach (the build tree may lie under a private folder).
    mkdir "$T/nobody"
    cp "$top_builddir/tools/hakmemctl" "$HAKMEMCTL_INSPECT" "$T/nobody/"
    chmod 755 "$T" "$T/nobody" "$T/nobody/hakmemctl" "$T/nobody/hakmem-inspect"
    expect "another user" 1 "permission denied \(only root and its owner can\)" \
        setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env HAKMEMCTL_INSPECT="$T/nobody/hakmem-inspect" sh "$T/nobody/hakmemctl" stats $SERVE
fi

# ---- a program that only hits its caches ----
# Its caches serve every malloc after the first few: the region, created at
# a safe point once the program has run live_stats_delay_ms (default), must
# come from the safe point every few thousand frees of a class.
MODE=hits start_serving hits
HITS=$pid
if until_ok 60 $CTL stats $HITS; then
    pass "a program whose mallocs all hit its caches gets its statistics"
else
    failed "a program whose mallocs all hit its caches never got its statistics"
fi
exec 7>&-
wait $HITS

echo "live_e2e: $([ $fail -eq 0 ] && echo 'all passed' || echo 'FAILED')"
exit $fail
