#!/bin/sh
# make check: the fuzz_ops corpus again, under the secure profile (guard
# pages, zero on free, random free lists): hakmem reads its options once,
# at start, so this is a second run of the replay program.
HAKMEM_PROFILE=secure exec ./fuzz/fuzz_ops_replay "$@"
