#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: every fuzz target of fuzz/ from
# $CC $CFLAGS $LIB_FUZZING_ENGINE into $OUT, each with its seed corpus
# (TARGET_seed_corpus.zip) and dictionary (TARGET.dict) where it has one.
#
# The allocator's sources (those of libhakmem_core.la in Makefile.am) are
# compiled here with the engine's flags; no configure step, nothing else
# to install.  With AddressSanitizer, HAK_TRACK_ASAN poisons every free
# block, so a use after free through hakmem is an ASan report.  CI runs
# this script outside Docker (fuzz/cflite_local.sh).
cd "${SRC:?}/hakmem"
: "${OUT:?}" "${CC:?}" "${CXX:?}" "${LIB_FUZZING_ENGINE:?}"
WORK=${WORK:-$(mktemp -d)}
obj=$WORK/hakmem-obj
rm -rf "$obj"
mkdir -p "$obj"

defs=(-Iinclude -Isrc -DHAK_SYSCONFDIR='"/etc"')
[ "${SANITIZER:-address}" = address ] && defs+=(-DHAK_TRACK_ASAN)
hak_flags=(-std=gnu11 -fvisibility=hidden -ftls-model=initial-exec -fno-builtin-malloc
           -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free -pthread)

# The core library's C sources, from Makefile.am (one list to keep).
sources=$(sed -n '/^libhakmem_core_la_SOURCES/,/^$/p' Makefile.am | tr ' \t\\' '\n\n\n' |
    grep '^src/.*\.c$')
[ -n "$sources" ] || { echo "build.sh: no sources found in Makefile.am" >&2; exit 1; }
for f in $sources; do
    # shellcheck disable=SC2086  # CFLAGS is a list of flags
    $CC $CFLAGS "${defs[@]}" "${hak_flags[@]}" -c "$f" -o "$obj/$(basename "$f" .c).o"
done
ar rcs "$WORK/libhakmem-fuzz.a" "$obj"/*.o

for src in fuzz/fuzz_*.c; do
    target=$(basename "$src" .c)
    # The engine brings main (fuzz/fuzz_main.h: HAK_FUZZ_ENGINE_MAIN).
    # shellcheck disable=SC2086
    $CC $CFLAGS "${defs[@]}" -DHAK_FUZZ_ENGINE_MAIN -pthread -c "$src" -o "$WORK/$target.o"
    # shellcheck disable=SC2086
    $CXX $CXXFLAGS "$WORK/$target.o" "$WORK/libhakmem-fuzz.a" $LIB_FUZZING_ENGINE -pthread \
        -o "$OUT/$target"
    if [ -d "fuzz/corpus/$target" ]; then
        (cd "fuzz/corpus/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
    fi
    if [ -f "fuzz/$target.dict" ]; then
        cp "fuzz/$target.dict" "$OUT/$target.dict"
    fi
    echo "build.sh: $OUT/$target"
done
