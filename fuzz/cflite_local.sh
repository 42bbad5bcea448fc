#!/bin/sh
# The ClusterFuzzLite / OSS-Fuzz recipe, run here without Docker so that it
# cannot rot: .clusterfuzzlite/build.sh with clang and libFuzzer (ASan +
# UBSan, as the address build of ClusterFuzzLite), then each target it
# built for FUZZ_CFLITE_SECONDS (5) from its seed corpus with its
# dictionary.  Fails if the build fails, a target is missing its corpus,
# or a run finds anything.
#
# Usage: fuzz/cflite_local.sh WORKDIR   ($OUT is WORKDIR/out; the log of
# build.sh is WORKDIR/build.log)
set -eu
[ $# -eq 1 ] || { echo "usage: fuzz/cflite_local.sh WORKDIR" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_CFLITE_SECONDS:-5}
mkdir -p "$1"
w=$(cd "$1" && pwd)
rm -rf "$w/src" "$w/out" "$w/work" "$w/run"
mkdir -p "$w/src" "$w/out" "$w/work" "$w/run"
# build.sh works in $SRC/hakmem, as in the Docker image.
ln -s "$top" "$w/src/hakmem"
flags="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address,undefined"
flags="$flags -fno-sanitize-recover=undefined -fsanitize-address-use-after-scope"
flags="$flags -fsanitize=fuzzer-no-link"
t0=$(date +%s)
if ! env SRC="$w/src" OUT="$w/out" WORK="$w/work" CC=clang CXX=clang++ SANITIZER=address \
    FUZZING_ENGINE=libfuzzer CFLAGS="$flags" CXXFLAGS="$flags" LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
    bash "$top/.clusterfuzzlite/build.sh" >"$w/build.log" 2>&1; then
    tail -n 40 "$w/build.log"
    echo "cflite_local: .clusterfuzzlite/build.sh failed (log: $w/build.log)"
    exit 1
fi
cat "$w/build.log"
echo "cflite_local: build.sh took $(($(date +%s) - t0)) s; \$OUT holds:"
(cd "$w/out" && ls -l | sed 1d)
failed=""
for src in "$top"/fuzz/fuzz_*.c; do
    target=$(basename "$src" .c)
    bin=$w/out/$target
    zip=$w/out/${target}_seed_corpus.zip
    if [ ! -x "$bin" ] || [ ! -f "$zip" ]; then
        failed="$failed $target(not built)"
        continue
    fi
    corpus=$w/run/$target
    mkdir -p "$corpus"
    (cd "$corpus" && unzip -q "$zip")
    dict=
    [ -f "$w/out/$target.dict" ] && dict=-dict=$w/out/$target.dict
    echo "==== $target: ${seconds} s from $(find "$corpus" -type f | wc -l) seeds ${dict:+with $target.dict}"
    rc=0
    # shellcheck disable=SC2086  # dict is one option or nothing
    (cd "$w/run" && "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=3072 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$w/run/$target-" $dict "$corpus") \
        >"$w/run/$target.log" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|peak_rss_mb)|Dictionary:' \
        "$w/run/$target.log" || true
    if [ "$rc" -ne 0 ] || ls "$w/run/$target"-* >/dev/null 2>&1; then
        tail -n 40 "$w/run/$target.log"
        failed="$failed $target"
    fi
done
if [ -n "$failed" ]; then
    echo "cflite_local: FAILED:$failed"
    exit 1
fi
echo "cflite_local: every target built by .clusterfuzzlite/build.sh ran clean"
