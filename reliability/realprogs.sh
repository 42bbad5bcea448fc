#!/bin/sh
# realprogs.sh - real programs under hakmem, system-wide style.
#
#   realprogs.sh LIB WORKDIR
#
# Each workload (bash, python3 with some of its own test modules, perl, git,
# gcc, xz, sqlite3, sort) runs three times:
#   ref      without hakmem
#   preload  with LD_PRELOAD=LIB
#   ns       in a private mount namespace where /etc/ld.so.preload names LIB
#            (and LD_PRELOAD is unset), as after `hakmemctl enable`
# and its output in the last two must be identical to the first.  In both,
# every program is also started once on a pipe and its /proc/<pid>/maps
# must show libhakmem (the check waits, with a deadline, until the program
# has been executed and its libraries mapped; it then blocks reading the
# pipe until we close it).
#
# The machine's own /etc/ld.so.preload is never written: in the namespace
# either a file of ours is bind-mounted over it (if it exists), or an
# overlay whose upper layer (a tmpfs of the namespace) holds the file is
# mounted over /etc (if it does not; a bind mount needs an existing
# target, and creating one on the host is exactly what we must not do;
# without overlayfs, a copy of /etc in the tmpfs is bound over /etc).
# The file is written into our own directories before anything is
# mounted, and the host file is compared before and after the run.
#
# Exit status 0 if everything matched, 1 otherwise.
set -u

LIB=$1
WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
PYTESTS="test.test_dict test.test_list test.test_set test.test_bytes test.test_re test.test_json
    test.test_collections test.test_heapq test.test_sort test.test_array test.test_difflib
    test.test_marshal"
GCC_FUNCS=${RELIABILITY_GCC_FUNCS:-8000}
PROGRAMS="bash python3 perl git gcc xz sqlite3 sort"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- inputs, made once ---------------------------------------------------------

make_inputs() {
    in=$WORK/inputs
    mkdir -p "$in"
    # gcc: a large generated file (many functions, a table of pointers to them).
    awk -v n="$GCC_FUNCS" 'BEGIN {
        for (i = 0; i < n; i++)
            printf "static int f%d(int x) { int a[8]; for (int k = 0; k < 8; k++) a[k] = x * %d + k; return a[x & 7] ^ %d; }\n", i, i % 97 + 1, i
        print "static int (*const table[])(int) = {"
        for (i = 0; i < n; i++)
            printf "    f%d,\n", i
        print "};"
        print "int main(void)\n{\n    unsigned s = 0;"
        print "    for (unsigned i = 0; i < sizeof table / sizeof table[0]; i++)"
        print "        s = s * 31 + (unsigned)table[i]((int)s);"
        print "    __builtin_printf(\"%u\\n\", s);\n    return 0;\n}"
    }' >"$in/big.c"
    # xz: 50 MB of text.
    seq 1 6500000 >"$in/xz.in"
    # sort: a million lines, two keys.
    seq 1 1000000 | awk '{ printf "%d %s%d\n", ($1 * 7919) % 1000003, "k", ($1 * 104729) % 99991 }' >"$in/sort.in"
    cat >"$in/q.sql" <<'EOF'
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -65536;
CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, s TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000)
INSERT INTO t SELECT x, (x * 7919) % 100003, printf('row-%d-%s', x, substr(hex(x * 2654435761), 1, 8)) FROM c;
CREATE INDEX t_k ON t (k, s);
SELECT count(*), sum(k), min(s), max(s) FROM t;
SELECT k, count(*), group_concat(id, ',') FROM t WHERE k BETWEEN 500 AND 505 GROUP BY k ORDER BY k;
SELECT count(DISTINCT k), avg(length(s)) FROM t;
SELECT s FROM t ORDER BY s DESC LIMIT 5;
UPDATE t SET s = s || '-x' WHERE k % 7 = 0;
DELETE FROM t WHERE k % 3 = 0;
SELECT count(*), sum(length(s)) FROM t;
PRAGMA integrity_check;
EOF
    cat >"$in/work.py" <<'EOF'
import collections, hashlib, json, random, re, zlib
random.seed(1)
d = [{"k": i, "v": "x" * (i % 300), "l": list(range(i % 50))} for i in range(60000)]
s = json.dumps(d)
c = collections.Counter(re.findall(r"[a-z]+", s))
t = {}
for i in range(200000):
    t[random.random()] = bytearray(random.randrange(1, 5000))
z = zlib.compress(s.encode(), 6)
big = [str(i) * (i % 40) for i in range(300000)]
big.sort(key=lambda x: (len(x), x))
print(len(s), hashlib.sha256(s.encode()).hexdigest(), sorted(c.items())[:3], len(t), len(z),
      hashlib.sha256("".join(big[::1000]).encode()).hexdigest())
EOF
    cat >"$in/work.pl" <<'EOF'
my %h;
$h{"k$_"} = "x" x ($_ % 700) for 1 .. 300000;
my @a = sort { $a cmp $b } keys %h;
my $t = 0;
$t += length($h{$_}) for @a;
my @w = map { join(",", reverse split(//, $_)) } @a[0 .. 50000];
my %c;
$c{$_ % 97}++ for map { length } @w;
delete $h{"k$_"} for grep { $_ % 3 } 1 .. 300000;
print scalar(@a), " $t $a[0] $a[-1] ", scalar(keys %h), " ", join(":", map { "$_=$c{$_}" } sort { $a <=> $b } keys %c), "\n";
EOF
    cat >"$in/work.sh" <<'EOF'
declare -A m
for i in $(seq 1 30000); do a[$i]=$((i * i)); m[k$i]=$i; done
s=""
for i in $(seq 1 4000); do s="$s$i,"; done
for i in $(seq 1 3000); do unset "m[k$((i * 7))]"; done
t=$(for i in $(seq 1 2000); do printf '%s\n' "${a[$i]}"; done | sort -n | tail -1)
echo "${#a[@]} ${#m[@]} ${a[29999]} ${#s} $t"
EOF
}

# ---- workloads: each prints its deterministic result on stdout ----------------

wl_bash() { bash "$WORK/inputs/work.sh"; }

wl_python3() {
    PYTHONMALLOC=malloc "$PY" "$HERE/pytests.py" $PYTESTS 2>"$1/pytests.err" &&
        PYTHONMALLOC=malloc "$PY" "$WORK/inputs/work.py"
}

wl_perl() { perl "$WORK/inputs/work.pl"; }

wl_git() {
    (
        set -e
        export GIT_AUTHOR_NAME=rel GIT_AUTHOR_EMAIL=rel@example.com GIT_COMMITTER_NAME=rel
        export GIT_COMMITTER_EMAIL=rel@example.com GIT_AUTHOR_DATE=2024-01-01T00:00:00Z
        export GIT_COMMITTER_DATE=2024-01-01T00:00:00Z GIT_CONFIG_NOSYSTEM=1 HOME="$1"
        git init -q -b main "$1/repo"
        cd "$1/repo"
        i=0
        while [ $i -lt 300 ]; do
            seq $i $((i + 500)) >f$((i % 20)).txt
            printf 'line %d\n' $i >>log.txt
            git add -A
            git commit -q -m "commit $i"
            i=$((i + 1))
        done
        git -c pack.threads=2 gc -q
        git fsck --full --strict 2>&1
        git log --format='%H %s' | sha256sum
        git cat-file --batch-all-objects --batch-check | sort | sha256sum
        git count-objects -v | grep -v size
    )
}

wl_gcc() {
    (
        cd "$1" && cp "$WORK/inputs/big.c" big.c &&
            gcc -O0 -frandom-seed=1 -c big.c -o big.o && gcc -o big big.o && ./big &&
            sha256sum big.o | cut -d' ' -f1
    )
}

wl_xz() {
    xz -T4 -0 --block-size=4MiB -c "$WORK/inputs/xz.in" >"$1/xz.xz" &&
        sha256sum <"$1/xz.xz" && xz -d -T4 -c "$1/xz.xz" | sha256sum
}

wl_sqlite3() { sqlite3 "$1/db" <"$WORK/inputs/q.sql"; }

wl_sort() {
    sort -S 64M --parallel=4 -k2,2 -k1,1n "$WORK/inputs/sort.in" | sha256sum &&
        sort -n -u "$WORK/inputs/sort.in" | sha256sum
}

# ---- maps check ------------------------------------------------------------------

# Child processes of $1 (gcc's cc1): /proc/PID/task/*/children where the
# kernel has it, else every process whose parent is $1.
children_of() {
    if [ -e "/proc/$1/task/$1/children" ]; then
        cat /proc/"$1"/task/*/children 2>/dev/null
    else
        for st in /proc/[0-9]*/stat; do
            # pid (comm) state ppid: comm may hold spaces, so from the last ')'.
            sed -n 's/^\([0-9]*\) .*) [A-Za-z] \([0-9]*\) .*/\1 \2/p' "$st" 2>/dev/null
        done | awk -v p="$1" '$2 == p { print $1 }'
    fi
}

# Start `prog args` reading a pipe; when its maps (or a child's: gcc runs
# cc1) show libhakmem, close the pipe.  Prints PASS/FAIL.
maps_check() {
    name=$1
    mode=$2
    shift 2
    fifo=$WORK/$mode/fifo.$name
    rm -f "$fifo"
    mkfifo "$fifo"
    "$@" <"$fifo" >/dev/null 2>&1 &
    pid=$!
    exec 3>"$fifo"
    target=$(readlink -f "$(command -v "$1")")
    found=""
    deadline=$(($(date +%s) + 10))
    while [ -z "$found" ] && [ "$(date +%s)" -le "$deadline" ]; do
        if [ "$(readlink -f /proc/$pid/exe 2>/dev/null)" = "$target" ]; then
            pids="$pid $(children_of $pid)"
            for p in $pids; do
                if grep -q libhakmem "/proc/$p/maps" 2>/dev/null; then
                    found="$found $(basename "$(readlink /proc/$p/exe 2>/dev/null)")[$p]"
                fi
            done
            [ "$name" = gcc ] && case $found in *cc1*) ;; *) found="" ;; esac
        fi
        [ -n "$found" ] || sleep 0.01
    done
    exec 3>&-
    wait $pid 2>/dev/null
    rm -f "$fifo"
    if [ -n "$found" ]; then
        echo "PASS: $mode: $name: libhakmem in /proc/<pid>/maps of$found"
        return 0
    fi
    echo "FAIL: $mode: $name: libhakmem not in /proc/$pid/maps within 10 s"
    return 1
}

maps_all() {
    mode=$1
    bad=0
    mkdir -p "$WORK/$mode"
    maps_check bash "$mode" bash -c 'read -r x' || bad=1
    maps_check python3 "$mode" "$PY" -c 'import sys; sys.stdin.read()' || bad=1
    maps_check perl "$mode" perl -e 'my @x = <STDIN>' || bad=1
    maps_check git "$mode" git hash-object --stdin || bad=1
    maps_check gcc "$mode" gcc -x c -c -o /dev/null - || bad=1
    maps_check xz "$mode" xz -c || bad=1
    maps_check sqlite3 "$mode" sqlite3 || bad=1
    maps_check sort "$mode" sort || bad=1
    return $bad
}

# ---- one mode ------------------------------------------------------------------

run_all() {
    mode=$1
    mkdir -p "$WORK/$mode"
    for prog in $PROGRAMS; do
        dir=$WORK/$mode/$prog
        rm -rf "$dir"
        mkdir -p "$dir"
        t0=$(now)
        "wl_$prog" "$dir" >"$WORK/$mode/$prog.out" 2>"$WORK/$mode/$prog.err"
        echo $? >"$WORK/$mode/$prog.rc"
        echo "$(elapsed "$t0")" >"$WORK/$mode/$prog.secs"
    done
}

# ---- inside the namespace ----------------------------------------------------------

inside_namespace() {
    # We are in a private mount namespace: mounts made here are invisible
    # outside and vanish with it.
    ns=$WORK/ns-mnt
    mkdir -p "$ns"
    mount -t tmpfs -o size=128m,mode=0755 hakmem-rel "$ns" || { echo "FAIL: ns: tmpfs mount"; exit 1; }
    if [ -e /etc/ld.so.preload ] || [ -L /etc/ld.so.preload ]; then
        printf '%s\n' "$LIB" >"$ns/ld.so.preload"
        mount --bind "$ns/ld.so.preload" /etc/ld.so.preload ||
            { echo "FAIL: ns: bind mount over /etc/ld.so.preload"; exit 1; }
        how="a file bind-mounted over the existing /etc/ld.so.preload"
    else
        mkdir -p "$ns/upper" "$ns/work"
        printf '%s\n' "$LIB" >"$ns/upper/ld.so.preload"
        if mount -t overlay overlay -o "lowerdir=/etc,upperdir=$ns/upper,workdir=$ns/work" /etc 2>/dev/null; then
            how="an overlay over /etc whose upper layer (tmpfs) holds ld.so.preload"
        else
            # No overlayfs here: a copy of /etc in the tmpfs, bound over /etc.
            mkdir -p "$ns/etc"
            cp -a /etc/. "$ns/etc/" 2>/dev/null
            printf '%s\n' "$LIB" >"$ns/etc/ld.so.preload"
            mount --bind "$ns/etc" /etc || { echo "FAIL: ns: cannot mount over /etc"; exit 1; }
            how="a copy of /etc (tmpfs) holding ld.so.preload, bound over /etc"
        fi
    fi
    if [ "$(cat /etc/ld.so.preload)" != "$LIB" ]; then
        echo "FAIL: ns: /etc/ld.so.preload does not name $LIB"
        exit 1
    fi
    unset LD_PRELOAD
    echo "realprogs: ns: /etc/ld.so.preload names $LIB ($how)"
    if grep -q libhakmem /proc/$$/maps; then
        echo "FAIL: ns: this shell has hakmem already (started before the mount): the check would prove nothing"
        exit 1
    fi
    if ! sh -c 'grep -q libhakmem /proc/$$/maps'; then
        echo "FAIL: ns: a new process does not load hakmem through /etc/ld.so.preload"
        exit 1
    fi
    bad=0
    maps_all ns || bad=1
    live_top || bad=1
    run_all ns
    exit $bad
}

# Live statistics under the system-wide preload: programs that run a while
# publish theirs (after live_stats_delay_ms), and hakmemctl top, itself
# preloaded, lists them.
live_top() {
    build=$(dirname "$(dirname "$LIB")")
    ctl="sh $build/tools/hakmemctl"
    HAKMEMCTL_INSPECT=$build/tools/hakmem-inspect
    export HAKMEMCTL_INSPECT
    [ -x "$HAKMEMCTL_INSPECT" ] || { echo "FAIL: ns: $HAKMEMCTL_INSPECT not built"; return 1; }
    stop=$WORK/ns-live-stop
    rm -f "$stop"
    wl="$PY -c 'import os, time
x = {}
while not os.path.exists(\"$stop\"):
    x[len(x) % 5000] = [str(i) * 7 for i in range(300)]
    time.sleep(0.001)'"
    live_pids=""
    for i in 1 2 3; do
        sh -c "$wl" &
        live_pids="$live_pids $!"
    done
    perl -e 'my %h; until (-e $ARGV[0]) { $h{int(rand(20000))} = "x" x int(rand(3000)); select(undef, undef, undef, 0.001) }' "$stop" &
    live_pids="$live_pids $!"
    bash -c 'declare -A m; i=0; until [ -e "$1" ]; do m[k$((i % 3000))]=$i$i$i; i=$((i + 1)); done' sh "$stop" &
    live_pids="$live_pids $!"
    deadline=$(($(date +%s) + 30))
    n=0
    while [ "$(date +%s)" -le "$deadline" ]; do
        $ctl top --once >"$WORK/ns-top.txt" 2>&1
        n=$(grep -Ec '^ *[0-9]+ +[^ ]+ +(python3|perl|bash) ' "$WORK/ns-top.txt")
        [ "$n" -ge 5 ] && break
        sleep 0.2
    done
    : >"$stop"
    for p in $live_pids; do wait "$p" 2>/dev/null; done
    echo "realprogs: ns: hakmemctl top --once under /etc/ld.so.preload:"
    sed 's/^/    /' "$WORK/ns-top.txt"
    if [ "$n" -ge 5 ]; then
        echo "PASS: ns: hakmemctl top lists the 5 running workloads (and every other process that ran long enough)"
        return 0
    fi
    echo "FAIL: ns: hakmemctl top lists $n of the 5 running workloads"
    return 1
}

if [ "${1:-}" = "--inside" ]; then
    LIB=$2
    WORK=$3
    inside_namespace
fi

# ---- main ----------------------------------------------------------------------

[ -f "$LIB" ] || { echo "FAIL: $LIB not built"; exit 1; }
case $LIB in /*) ;; *) LIB=$(pwd)/$LIB ;; esac
mkdir -p "$WORK"
host_before=$(ls -l --time-style=full-iso /etc/ld.so.preload 2>&1; cat /etc/ld.so.preload 2>&1)
fail=0

missing=""
for p in $PROGRAMS unshare mount; do
    command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -x "$PY" ] || missing="$missing $PY"
"$PY" -c 'import test.test_dict' 2>/dev/null || missing="$missing libpython3.11-testsuite"
if [ -n "$missing" ]; then
    echo "FAIL: missing:$missing (scripts/install-deps reliability)"
    exit 1
fi
if grep -q libhakmem /proc/self/maps || [ -n "${LD_PRELOAD:-}" ]; then
    echo "FAIL: the reference runs must not have hakmem (LD_PRELOAD=${LD_PRELOAD:-} or /etc/ld.so.preload)"
    exit 1
fi

t0=$(now)
make_inputs
echo "realprogs: inputs ready ($(elapsed "$t0") s)"

run_all ref
LD_PRELOAD=$LIB
export LD_PRELOAD
maps_all preload || fail=1
run_all preload
unset LD_PRELOAD

if [ "$(id -u)" -eq 0 ]; then
    unshare --mount --propagation private sh "$0" --inside "$LIB" "$WORK"
else
    unshare --user --map-root-user --mount --propagation private sh "$0" --inside "$LIB" "$WORK"
fi
[ $? -eq 0 ] || fail=1

for prog in $PROGRAMS; do
    ref_rc=$(cat "$WORK/ref/$prog.rc")
    if [ "$ref_rc" -ne 0 ]; then
        echo "FAIL: ref: $prog exits $ref_rc without hakmem: $(head -c 300 "$WORK/ref/$prog.err")"
        fail=1
        continue
    fi
    for mode in preload ns; do
        if [ ! -f "$WORK/$mode/$prog.rc" ]; then
            echo "FAIL: $mode: $prog did not run"
            fail=1
        elif [ "$(cat "$WORK/$mode/$prog.rc")" != "$ref_rc" ] ||
            ! cmp -s "$WORK/ref/$prog.out" "$WORK/$mode/$prog.out"; then
            echo "FAIL: $mode: $prog (exit $(cat "$WORK/$mode/$prog.rc")) differs from the run without hakmem:"
            diff "$WORK/ref/$prog.out" "$WORK/$mode/$prog.out" | head -10
            head -c 600 "$WORK/$mode/$prog.err"
            fail=1
        else
            echo "PASS: $mode: $prog: $(wc -c <"$WORK/$mode/$prog.out") bytes of output identical" \
                "($(cat "$WORK/$mode/$prog.secs") s; $(cat "$WORK/ref/$prog.secs") s without hakmem)"
        fi
    done
done
echo "realprogs: python3 test modules ($(echo $PYTESTS | wc -w)): $(grep '^ran ' "$WORK/ref/python3.out")"

host_after=$(ls -l --time-style=full-iso /etc/ld.so.preload 2>&1; cat /etc/ld.so.preload 2>&1)
if [ "$host_before" != "$host_after" ]; then
    echo "FAIL: the machine's /etc/ld.so.preload changed!  before: $host_before  after: $host_after"
    fail=1
else
    echo "PASS: the machine's /etc/ld.so.preload is untouched ($(echo "$host_before" | head -1 | cut -c1-80))"
fi
exit $fail
