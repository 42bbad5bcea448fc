#!/bin/sh
# reliability/run.sh BUILDDIR - the make check-preload step (issue 6).
#
# Runs, against BUILDDIR/.libs/libhakmem.so.0 and the programs built in
# BUILDDIR/reliability (make reliability-programs), every heavy reliability
# check, each through LD_PRELOAD as a program runs under a system-wide
# preload, each with a watchdog:
#
#   memory return   1 GiB over all tiers freed: back within 64 MiB of the
#                   start within the purge delay (busy, idle, random and
#                   allocation order), phases, malloc_trim; glibc figures
#   out of memory   every function x tier under RLIMIT_AS, 8 threads at
#                   once, decay after OOM; python3 MemoryError and recovery
#   misuse          the matrix, link-key and random-order probes
#   re-entry        malloc called from inside hakmem (pthread_create), and
#                   hakmem's free from inside the C library (thread joins)
#   fork            8 allocating threads, 1,000 forks
#   thread churn    10,000 short-lived threads
#   real programs   bash python3 perl git gcc xz sqlite3 sort, with
#                   LD_PRELOAD and with /etc/ld.so.preload in a private
#                   mount namespace (realprogs.sh)
#   step aside      valgrind on a leaking program, programs built with
#                   ASan, TSan, MSan, LSan, another allocator loaded
#                   (tests/step_aside.sh)
#
#   secure profile  the benchmarks under profile = secure and each of its
#                   switches; their throughput against the default
#                   (RELIABILITY_BENCH=1: more runs and callgrind counts)
#
# Prints every figure, then a summary; exits 1 if anything failed.
set -u

B=$(cd "${1:?usage: reliability/run.sh BUILDDIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
LIB=$B/.libs/libhakmem.so.0
BIN=$B/reliability
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-reliability.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

for p in memreturn oom misuse fork_stress churn reentry; do
    [ -x "$BIN/$p" ] || { echo "run.sh: $BIN/$p missing (make reliability-programs)"; exit 2; }
done
[ -x "$B/bench/larson" ] || { echo "run.sh: $B/bench/larson missing (make bench-programs)"; exit 2; }
[ -f "$LIB" ] || { echo "run.sh: $LIB missing"; exit 2; }

# Only what each step sets: no HAKMEM_* from the caller's environment.
for v in $(env | sed -n 's/^\(HAKMEM_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset LD_PRELOAD

results=$WORK/results
: >"$results"
t_all=$(date +%s)

# step NAME TIMEOUT COMMAND...: run, show its output, record PASS/FAIL.
# A command starting with "pre" runs with LD_PRELOAD=$LIB.
step() {
    name=$1
    limit=$2
    shift 2
    if [ "$1" = pre ]; then
        shift
        set -- env LD_PRELOAD="$LIB" "$@"
    fi
    printf '\n==== %s\n' "$name"
    t0=$(date +%s.%N)
    timeout -k 10 "$limit" "$@" >"$WORK/step.log" 2>&1
    rc=$?
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    cat "$WORK/step.log"
    if [ $rc -eq 0 ]; then
        verdict=PASS
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        verdict="FAIL (timed out after $limit s)"
    else
        verdict="FAIL (exit $rc)"
    fi
    printf '%-58s %6s s  %s\n' "$name" "$secs" "$verdict" >>"$results"
    echo "---- $name: $verdict ($secs s)"
}

# ---- memory return ----
D=HAKMEM_PURGE_DELAY_MS=250
step "memory return: 1 GiB, random free order, busy" 60 pre $D "$BIN/memreturn" decay 1024
step "memory return: 1 GiB, random free order, idle" 60 pre $D "$BIN/memreturn" idle 1024
step "memory return: 1 GiB, allocation order, busy" 60 pre $D MEMRETURN_ORDER=fifo "$BIN/memreturn" decay 1024
step "memory return: 1 GiB, allocation order, idle, no retain cap" 60 \
    pre $D HAKMEM_RETAIN_MAX=64G MEMRETURN_ORDER=fifo "$BIN/memreturn" idle 1024
step "memory return: phases high/low x3, random order" 90 pre $D "$BIN/memreturn" phases 1024
step "memory return: phases high/low x3, allocation order" 90 pre $D MEMRETURN_ORDER=fifo "$BIN/memreturn" phases 1024
step "memory return: malloc_trim(0), purge delay 1 hour" 60 \
    pre HAKMEM_PURGE_DELAY_MS=3600000 HAKMEM_RETAIN_MAX=64G "$BIN/memreturn" trim 1024
step "memory return: glibc, for comparison (figures only)" 60 "$BIN/memreturn" decay 1024

# ---- out of memory ----
step "out of memory: every function x tier, threads, decay" 300 pre $D "$BIN/oom"
step "out of memory: python3 MemoryError, then recovery" 60 sh -c '
    ulimit -v 400000
    LD_PRELOAD="$1" /usr/bin/python3 -c "
import gc
try:
    bytearray(10**10)
    raise SystemExit(\"no MemoryError for 10 GB\")
except MemoryError:
    pass
held = []
try:
    while True:
        held.append(bytearray(10**6))
except MemoryError:
    n = len(held)
del held
gc.collect()
again = [bytearray(10**6) for _ in range(n // 2)]
small = [str(i) * 10 for i in range(10**5)]
print(\"python3 under ulimit -v 400000: MemoryError after\", n, \"MB; then\", len(again), \"MB and\", len(small), \"strings again\")
assert n > 100
"' sh "$LIB"

# ---- misuse ----
step "misuse matrix (each case in its own process)" 120 pre "$BIN/misuse"

# ---- malloc re-entered from inside hakmem ----
step "re-entry: background thread started from a free path (x5)" 120 sh -c '
    for i in 1 2 3 4 5; do LD_PRELOAD="$1" "$2" || exit 1; done' sh "$LIB" "$BIN/reentry"
# Joining a thread, glibc frees the dead thread's TLS array while it holds
# the lock of its stack cache, which pthread_create takes too: a free that
# started the background thread there hung for good (about one run in ten
# of larson with 4 threads under the secure profile, where every free takes
# the slow path).
step "re-entry: frees by the C library under its own locks (larson -t 4, secure, x60)" 180 sh -c '
    for i in $(seq 60); do
        HAKMEM_PROFILE=secure LD_PRELOAD="$1" "$2" -t 4 -s 0.2 >/dev/null || exit 1
    done' sh "$LIB" "$B/bench/larson"

# ---- fork and threads ----
step "fork: 8 allocating threads, 1000 forks" 300 pre "$BIN/fork_stress" 1000
step "thread churn: 10000 threads, 16 alive at a time" 300 pre "$BIN/churn" 10000
step "thread churn: glibc, for comparison" 300 "$BIN/churn" 10000

# ---- real programs ----
step "real programs: LD_PRELOAD and /etc/ld.so.preload in a namespace" 600 \
    sh "$HERE/realprogs.sh" "$LIB" "$WORK/realprogs"

# ---- stepping aside: valgrind, sanitizers, another allocator ----
step "step aside: valgrind, ASan/TSan/MSan/LSan programs, another malloc" 300 \
    sh "$HERE/../tests/step_aside.sh" "$LIB"

# ---- secure profile: the benchmarks run under it; its cost ----
if [ "${RELIABILITY_BENCH:-0}" = 1 ]; then
    step "secure profile: overhead, 5 interleaved runs, callgrind" 900 \
        sh "$HERE/secure_overhead.sh" "$B"
else
    step "secure profile: benchmarks run, overhead (quick figures)" 300 \
        env REPS=2 SCALE=0.2 NO_BUILD=1 NO_CALLGRIND=1 sh "$HERE/secure_overhead.sh" "$B"
fi

printf '\n==== summary (%s s)\n' "$(($(date +%s) - t_all))"
cat "$results"
if grep -q FAIL "$results"; then
    echo "check-preload: FAILED"
    exit 1
fi
echo "check-preload: all passed"
