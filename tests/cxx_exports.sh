#!/bin/sh
# libhakmem.so.0 exports the 20 replaceable C++ operators and still needs
# libc alone: no DT_NEEDED but libc and the loader, and every undefined
# symbol either a versioned libc one or a weak reference (the C++ runtime's
# names used by src/front/cxx_failure.cc, which stay null in a C program).
set -u
LIB=${HAKMEM_LIB:?HAKMEM_LIB must name the built libhakmem.so.0}
fail=0
bad() { echo "FAIL: $*"; fail=1; }

needed=$(readelf -d "$LIB" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
case $needed in
"ld-linux-x86-64.so.2 libc.so.6 " | "ld-linux-aarch64.so.1 libc.so.6 " | "libc.so.6 ")
    echo "PASS: DT_NEEDED: $needed" ;;
*) bad "DT_NEEDED is '$needed', not libc alone" ;;
esac

operators="_Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZnwmSt11align_val_t
_ZnamSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t
_ZdlPv _ZdaPv _ZdlPvm _ZdaPvm _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t _ZdlPvSt11align_val_t
_ZdaPvSt11align_val_t _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t
_ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t"
exported=$(nm -D --defined-only "$LIB" | awk '$2 == "T" { print $3 }')
count=0
missing=0
for op in $operators; do
    count=$((count + 1))
    echo "$exported" | grep -qx "$op" || { bad "$op is not exported"; missing=1; }
done
[ "$count" -eq 20 ] || bad "the list holds $count operators, not 20"
cxx_exported=$(echo "$exported" | grep -c '^_Z')
if [ "$cxx_exported" -ne 20 ]; then
    bad "$cxx_exported C++ symbols exported, not the 20 operators"
elif [ $missing -eq 0 ]; then
    echo "PASS: the 20 operators are exported, and no other C++ symbol"
fi

strong=$(nm -D --undefined-only "$LIB" | awk '$1 == "U" && $2 !~ /@GLIBC_/ { print $2 }')
[ -z "$strong" ] || bad "undefined symbols that are neither libc's nor weak: $strong"
weak=$(nm -D --undefined-only "$LIB" | awk '$1 == "w" { print $2 }' | grep -cE '^(_Z|__cxa_|__gxx_)')
[ "$weak" -ge 1 ] || bad "no weak reference to the C++ runtime (cxx_failure.cc not linked?)"
[ -z "$strong" ] && echo "PASS: undefined symbols: libc's, and $weak weak C++ runtime references"

echo "cxx exports: $([ $fail -eq 0 ] && echo 'all passed' || echo 'FAILURES')"
exit $fail
