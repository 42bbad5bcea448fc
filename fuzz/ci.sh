#!/bin/sh
# CI for the fuzz targets: build them (make fuzz) in BUILD_DIR, run the
# poisoning hooks' own stress (fuzz/track_handover.c, seconds), then run each
# target for FUZZ_CI_SECONDS (60) with libFuzzer and as long with AFL++, and
# fuzz_ops once more with libFuzzer under profile = secure (its checked
# path): about 5 minutes in all, plus the build; then the ClusterFuzzLite
# recipe (.clusterfuzzlite/build.sh, each target 5 s: fuzz/cflite_local.sh).
# Fails on any crash, leak, hang or sanitizer report (fuzz/run exits 1),
# printing how to reproduce it.
#
# Usage: fuzz/ci.sh BUILD_DIR
#   BUILD_DIR is configured here (--enable-werror) if it has no Makefile.
#   Findings go to BUILD_DIR/fuzz/findings (FUZZ_FINDINGS overrides).
set -eu

[ $# -eq 1 ] || { echo "usage: fuzz/ci.sh BUILD_DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
build=$(cd "$1" && pwd)
seconds=${FUZZ_CI_SECONDS:-60}

"$src/scripts/install-deps" fuzz
[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi >/dev/null 2>&1)
[ -f "$build/Makefile" ] || (cd "$build" && "$src/configure" --quiet --enable-werror)
make -C "$build" -j"$(nproc)" fuzz >/dev/null

export FUZZ_BUILD="$build"
export FUZZ_FINDINGS="${FUZZ_FINDINGS:-$build/fuzz/findings}"
failed=""
printf '\n==== track_handover (poison of memory passed between threads)\n'
"$build/fuzz/track_handover" || failed="$failed track_handover"
for target in fuzz_ops fuzz_config; do
    for engine in libfuzzer afl; do
        printf '\n==== %s with %s, %ss\n' "$target" "$engine" "$seconds"
        "$src/fuzz/run" "$target" "$seconds" "$engine" || failed="$failed $target/$engine"
    done
done
printf '\n==== fuzz_ops with libfuzzer, profile = secure, %ss\n' "$seconds"
HAKMEM_PROFILE=secure "$src/fuzz/run" fuzz_ops "$seconds" libfuzzer || failed="$failed fuzz_ops/libfuzzer/secure"
# The ClusterFuzzLite / OSS-Fuzz recipe, built and run here so it cannot rot.
printf '\n==== .clusterfuzzlite/build.sh (clang, libFuzzer), each target %ss\n' \
    "${FUZZ_CFLITE_SECONDS:-5}"
sh "$src/fuzz/cflite_local.sh" "$build/cflite" || failed="$failed clusterfuzzlite"
if [ -n "$failed" ]; then
    printf '\nfuzz/ci.sh: FAILED:%s (findings under %s)\n' "$failed" "$FUZZ_FINDINGS"
    exit 1
fi
printf '\nfuzz/ci.sh: all targets clean\n'
