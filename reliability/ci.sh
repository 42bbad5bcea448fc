#!/bin/sh
# reliability/ci.sh BUILDDIR - the CI step for issue 6 (make check-preload):
# installs what the real-program checks use, builds the reliability
# programs in BUILDDIR (a configured build tree, e.g. the one make check
# used) and runs reliability/run.sh.  About 5 minutes on a two-core
# machine; every part has its own watchdog.  Run from anywhere; as root
# (the namespace check mounts) or where user namespaces are allowed.
set -eu
B=$(cd "${1:?usage: reliability/ci.sh BUILDDIR}" && pwd)
cd "$(dirname "$0")/.."
scripts/install-deps reliability
make -C "$B" -j"$(nproc)" reliability-programs bench-programs >/dev/null
exec sh reliability/run.sh "$B"
