#!/bin/sh
# secure_overhead.sh BUILDDIR - what profile = secure costs (guard pages,
# zero-on-free, random free-list order, canaries, quarantine, inaccessible
# malloc(0)), through the preloaded library.
#
# 1. Throughput of bench/ programs (tiny_hot 64 B, random_mixed, mid_mixed,
#    large_mixed, larson with 4 threads) under the default profile, the
#    secure profile and each of its six switches alone, interleaved REPS
#    times (this machine's timings drift: interleaving makes the drift hit
#    all alike), median ops/s of each, ratio to the default.
# 2. Instructions per malloc+free pair (valgrind --tool=callgrind on
#    bench/pair_loop N and 2N, the difference divided by N): repeatable to
#    the instruction, but blind to system calls (guard pages cost mprotect).
#
# Exits 1 if a benchmark fails under any variant (a crash check of the
# secure profile); the timings themselves never fail it.  REPS, SCALE,
# NO_BUILD=1 (use the programs as built) and NO_CALLGRIND=1 adjust it.
#
# bench/run passes the environment through, so
#   HAKMEM_PROFILE=secure bench/run --lib BUILDDIR --alloc hakmem --only ...
# gives the same figures in its own report, without the interleaving.
set -u
B=$(cd "$1" && pwd)
LIB=$B/.libs/libhakmem.so.0
BENCH=$B/bench
REPS=${REPS:-5}
SCALE=${SCALE:-0.5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

[ "${NO_BUILD:-0}" = 1 ] || make -C "$B" bench-programs >/dev/null || exit 2

ops() { sed -n 's/.*ops_per_s=\([0-9.]*\).*/\1/p' | head -1; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Variant name -> environment.
variant_env() {
    case $1 in
    default) echo "HAKMEM_PROFILE=default" ;;
    secure) echo "HAKMEM_PROFILE=secure" ;;
    guard_pages) echo "HAKMEM_GUARD_PAGES=1" ;;
    zero_on_free) echo "HAKMEM_ZERO_ON_FREE=1" ;;
    random_freelist) echo "HAKMEM_RANDOM_FREELIST=1" ;;
    canaries) echo "HAKMEM_CANARIES=1" ;;
    quarantine) echo "HAKMEM_QUARANTINE=64" ;;
    zero_size_guard) echo "HAKMEM_ZERO_SIZE_GUARD=1" ;;
    esac
}
SWITCHES="guard_pages zero_on_free random_freelist canaries quarantine zero_size_guard"
VARIANTS="default secure $SWITCHES"

failed=0
echo "Median ops/s over $REPS interleaved runs (scale $SCALE), and the ratio to the default profile:"
echo
echo "| benchmark | default | secure | guard_pages only | zero_on_free only | random_freelist only | canaries only | quarantine only | zero_size_guard only |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
for spec in "tiny_hot -z 64" "random_mixed" "mid_mixed" "large_mixed" "larson -t 4"; do
    for v in $VARIANTS; do : >"$out/$v"; done
    # shellcheck disable=SC2086
    env LD_PRELOAD="$LIB" "$BENCH/"$spec -s "$SCALE" >/dev/null 2>&1 # warm-up, not counted
    r=0
    while [ $r -lt "$REPS" ]; do
        # Rotate the order, so no variant always runs first.
        order=$(echo $VARIANTS | awk -v r=$r '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r) % NF + 1) }')
        for v in $order; do
            # shellcheck disable=SC2086
            if ! env LD_PRELOAD="$LIB" $(variant_env $v) "$BENCH/"$spec -s "$SCALE" >"$out/run" 2>&1 ||
                ! grep -q '^RESULT' "$out/run"; then
                echo "FAIL: $spec under $v: $(tail -3 "$out/run")"
                failed=1
            fi
            ops <"$out/run" >>"$out/$v"
        done
        r=$((r + 1))
    done
    d=$(median <"$out/default")
    line="| $spec | $(printf '%.3g' "$d")"
    for v in secure $SWITCHES; do
        m=$(median <"$out/$v")
        line="$line | $(awk -v m="$m" -v d="$d" 'BEGIN { printf "%.3g (%.2fx)", m, m / d }')"
    done
    echo "$line |"
done

# Instructions of a run of pair_loop N SIZE under profile PROF.
instructions() {
    # hakmem steps aside under valgrind unless told not to.
    env LD_PRELOAD="$LIB" HAKMEM_PROFILE="$1" HAKMEM_STEP_ASIDE=off valgrind --tool=callgrind \
        --callgrind-out-file=/dev/null "$BENCH/pair_loop" "$2" "$3" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

per_pair() {
    a=$(instructions "$1" 20000 "$2")
    b=$(instructions "$1" 40000 "$2")
    awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (b - a) / 20000 }'
}

if [ "${NO_CALLGRIND:-0}" != 1 ] && command -v valgrind >/dev/null 2>&1; then
    echo
    echo "| malloc+free pair of | default instructions | secure instructions | secure - default |"
    echo "|---|--:|--:|--:|"
    # Small sizes only: callgrind counts every iteration of a rep stos as an
    # instruction, so zeroing a large block reads as thousands.
    for size in 64 256 1024; do
        d=$(per_pair default $size)
        s=$(per_pair secure $size)
        awk -v z="$size" -v d="$d" -v s="$s" 'BEGIN { printf "| %s B | %s | %s | %+.1f |\n", z, d, s, s - d }'
    done
fi
exit $failed
