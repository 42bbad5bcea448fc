#!/bin/sh
# The free fast path's first load, hak_block_mark (src/base/block.c: the
# mark field of hak_block_mark_home, 128 bytes in), lies past the first two
# cache lines of its page in libhakmem.so.0: the lines
# at a page's start share their L1 sets with every page-aligned buffer and
# block of the program, and a program touching memory a page apart evicts
# whatever hakmem keeps there.
set -u
LIB=${HAKMEM_LIB:?HAKMEM_LIB must name the built libhakmem.so.0}
home=$(nm "$LIB" | awk '$3 == "hak_block_mark_home" { print $1 }')
if [ -z "$home" ]; then
    echo "FAIL: no symbol hak_block_mark_home in $LIB (stripped?)"
    exit 1
fi
addr=$(printf '%x' $(( 0x$home + 128 )))
offset=$(( 0x$addr % 4096 ))
if [ "$offset" -lt 128 ]; then
    echo "FAIL: hak_block_mark at $addr, $offset bytes into its page (at least 128 wanted)"
    exit 1
fi
echo "PASS: hak_block_mark at $addr, $offset bytes into its page"
