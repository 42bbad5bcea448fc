#!/bin/sh
# Lint the man pages: groff in warning mode and man --warnings must print
# nothing at several line widths.
set -u
srcdir=${srcdir:-.}
status=0
for page in "$srcdir"/man/*.[1-8]; do
    out=$(groff -man -ww -z "$page" 2>&1)
    for width in 60 80 132; do
        out="$out$(MANWIDTH=$width LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >/dev/null)"
    done
    if [ -n "$out" ]; then
        echo "FAIL: $page"
        echo "$out"
        status=1
    else
        echo "PASS: $page lints clean"
    fi
done
exit $status
