#!/bin/sh
# The floors of src/ (docs/ARCHITECTURE.md), checked on the compiled
# library: every include and every symbol a floor uses points to its own
# floor or a lower one.
set -eu
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 "$top_srcdir/scripts/check-floors" --src "$top_srcdir/src" --objects "${top_builddir:-.}"
