#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets: fuzz/corpus/<target>/seed-*.

Usage: fuzz/make_corpus.py [CORPUS_DIR]

The seeds are small programs in each harness's input format (see the header
comments of fuzz/fuzz_ops.c and fuzz/fuzz_config.c): together they reach
every operation, tier edge, alignment form, thread hand-off and config rule
once, so a campaign starts from there instead of from nothing.  Files named
regress-* are reproducers of fixed bugs, added by hand; this script leaves
them alone.  The output is deterministic.
"""
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KiB, MiB = 1024, 1024 * 1024

# ---- fuzz_ops: must match the tables in fuzz_ops.c ----
SIZES = [
    [0, 1, 8, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100, 111, 112, 113,
     127, 128, 129, 143, 144, 255, 256, 257, 287, 288, 289, 511, 512, 513, 575, 576,
     577, 700, 959, 960, 961, 1023, 1024],
    [1025, 1279, 1280, 1281, 1536, 2047, 2048, 2049, 3000, 4095, 4096, 4097, 5120,
     8191, 8192, 8193, 10240, 16383, 16384, 16385, 20000, 28672, 32767, 32768],
    [32769, 36863, 36864, 36865, 40960, 40961, 65535, 65536, 65537, 100000, 131071,
     131072, 131073, 262143, 262144, 262145, 524287, 524288, 524289, 983040,
     1048575, 1048576],
    [1048577, 1048576 + 4096, 2097151, 2097152, 2097153, 3 * MiB + 12345, 4194303,
     4194304, 4194305, 8 * MiB],
]
ALIGNS = [1 << i for i in range(22)] + [24, 48, 3000, 5000]
(MALLOC, CALLOC, REALLOC, FREE, FREE_SIZED, ALIGNED, HANDOFF, REALLOCARRAY, CHECK,
 PARALLEL, BULK, BULK_FREE, RESTART, BAD, REALLOC0, STATS) = range(16)
POSIX, ALIGNED_ALLOC, MEMALIGN, VALLOC, PVALLOC = range(5)
ALL = 15


def size_arg(size, tiers=ALL):
    """Bytes selecting `size` from the edge table of the enabled tiers."""
    k = 0
    for t in range(4):
        if tiers & (1 << t):
            if size in SIZES[t]:
                return bytes([k + SIZES[t].index(size)])
            k += len(SIZES[t])
    raise ValueError(f"size {size} not in the table of tiers {tiers}")


def any_size(tier_index_among_enabled, v):
    """Bytes for an arbitrary size: v/65536 of the way through the tier."""
    return bytes([0xc0 | tier_index_among_enabled, v & 0xff, v >> 8])


class Ops:
    def __init__(self, threads=1, tiers=0):
        self.b = bytearray([(threads - 1) % 8, tiers])
        self.tiers = tiers or ALL

    def op(self, kind, thread=0, *args):
        self.b.append(kind | (thread << 4))
        for a in args:
            self.b += a if isinstance(a, (bytes, bytearray)) else bytes([a])
        return self

    def malloc(self, slot, size, t=0):
        return self.op(MALLOC, t, slot, size_arg(size, self.tiers))

    def calloc(self, slot, size, nsel, t=0):
        return self.op(CALLOC, t, slot, size_arg(size, self.tiers), nsel)

    def realloc(self, slot, size, t=0):
        return self.op(REALLOC, t, slot, size_arg(size, self.tiers))

    def reallocarray(self, slot, size, nsel, t=0):
        return self.op(REALLOCARRAY, t, slot, size_arg(size, self.tiers), nsel)

    def free(self, slot, t=0):
        return self.op(FREE, t, slot)

    # form: what the free passes, as C++'s deletes do (fuzz_ops.c, FREE_SIZED).
    def free_sized(self, slot, t=0, form=0):
        return self.op(FREE_SIZED, t, slot | form << 6)

    def aligned(self, slot, form, align, size, t=0):
        return self.op(ALIGNED, t, slot, form, ALIGNS.index(align), size_arg(size, self.tiers))

    def handoff(self, slot, to, t=0):
        return self.op(HANDOFF, t, slot, to)

    def check(self, slot, t=0):
        return self.op(CHECK, t, slot)

    def parallel(self, n, t=0):
        return self.op(PARALLEL, t, n - 1)

    def bulk(self, b, count_sel, size, form=0, t=0):
        small = self.tiers & 3 or 1
        return self.op(BULK, t, b, count_sel, size_arg(size, small), form)

    def bulk_free(self, b, order, t=0):
        return self.op(BULK_FREE, t, b, order)

    def restart(self, t):
        return self.op(RESTART, t)

    def bad(self, form, slot=0, t=0):
        return self.op(BAD, t, form, slot)

    def realloc0(self, slot, t=0):
        return self.op(REALLOC0, t, slot)

    def stats(self, t=0, print_table=0):
        return self.op(STATS, t, print_table)


def ops_seeds():
    seeds = {}
    # One tier at a time: every edge size, checked, freed both ways.
    for t, name in enumerate(["tiny", "mid", "large", "huge"]):
        o = Ops(1, 1 << t)
        for i, size in enumerate(SIZES[t]):
            o.malloc(i % 32, size).check(i % 32)
            if i % 2:
                o.free(i % 32)
            else:
                o.free_sized(i % 32)
        o.stats()
        seeds[f"edges-{name}"] = o
    # A realloc ladder across every tier, up and down.
    o = Ops(1)
    ladder = [1, 16, 17, 1024, 1025, 32768, 32769, 1048576, 1048577, 4194305, 8 * MiB]
    for size in ladder + ladder[::-1]:
        o.realloc(0, size).check(0)
    o.realloc0(0).stats(print_table=0x37)
    seeds["realloc-ladder"] = o
    o = Ops(1)
    for i, (size, size2) in enumerate([(100, 1024), (4096, 2048), (40960, 65536),
                                       (2097152, 1048576)]):
        o.calloc(i, size, i * 2).reallocarray(i, size2, i).check(i)
        o.reallocarray(i, SIZES[0][i], 3)
    o.stats()
    seeds["calloc-reallocarray"] = o
    # Every aligned form and alignment.
    for form, name in enumerate(["posix", "aligned_alloc", "memalign", "valloc", "pvalloc"]):
        o = Ops(1)
        for i, align in enumerate(ALIGNS if form < VALLOC else ALIGNS[:3]):
            for size in (0, 100, 4097, 65537, 1048577):
                o.aligned(i % 60, form, align, size).check(i % 60)
            o.free_sized(i % 60)
        o.stats()
        seeds[f"aligned-{name}"] = o
    # C++'s new and delete: every tier edge, then aligned new with the
    # alignments operator new(size_t, align_val_t) gets, each freed by every
    # form of delete (sized, aligned alone, usable size, size and alignment).
    o = Ops(1)
    for t in range(4):
        for i, size in enumerate(SIZES[t][::3]):
            o.malloc(i % 60, size).free_sized(i % 60, form=i % 4)
    for i, align in enumerate(ALIGNS[:13]):
        for j, size in enumerate((0, 32, 4097, 100000, 1048577)):
            o.aligned(i % 60, ALIGNED_ALLOC, align, size).free_sized(i % 60, form=(i + j) % 4)
    o.stats()
    seeds["cxx-deletes"] = o
    # Hand-offs: blocks of every tier made by one thread, freed by others.
    o = Ops(4)
    sizes = [16, 1024, 1025, 32768, 65536, 1048577]
    for i, size in enumerate(sizes * 3):
        o.malloc(i, size, t=i % 4)
    for i in range(len(sizes) * 3):
        o.handoff(i, (i + 1) % 4, t=i % 4)
    o.stats()
    seeds["handoff-4threads"] = o
    # Parallel phases on 8 threads.
    o = Ops(8)
    for rnd in range(3):
        o.parallel(32)
        for k in range(16):
            o.malloc(k * 2 + rnd % 2, sizes[k % len(sizes)], t=k % 8)
        for k in range(16):
            o.handoff(k * 2 + rnd % 2, (k + 3) % 8, t=k % 8)
        o.stats()
    seeds["parallel-8threads"] = o
    # Bulk: full slabs, frees from another thread in every order.
    o = Ops(3, 3)
    for b, size in enumerate([16, 48, 1024, 1025, 8192]):
        o.bulk(b, 255, size, form=b % 3, t=1)
    for b in range(5):
        o.bulk_free(b, b % 4 | 4, t=2)   # half of them, remotely
        o.bulk_free(b, (b + 1) % 4 | 8, t=b % 3)
    o.stats()
    seeds["bulk-remote"] = o
    # Thread exit with live blocks: abandoned slabs freed into and adopted.
    o = Ops(3)
    for i, size in enumerate([16, 100, 961, 2047, 20000, 40961]):
        o.malloc(i, size, t=1)
    o.bulk(0, 100, 64, t=1)
    o.restart(1)
    for i in range(3):
        o.free(i, t=2)
    o.bulk_free(0, 4, t=2)
    o.malloc(10, 64, t=1).malloc(11, 64, t=2)
    o.bulk_free(0, 0, t=0)
    o.stats()
    seeds["restart-abandon"] = o
    # Impossible requests.
    o = Ops(1)
    o.malloc(0, 100)
    for form in range(10):
        o.bad(form, 0)
    o.stats()
    seeds["bad-requests"] = o
    # Arbitrary sizes inside each tier.
    o = Ops(2)
    for k in range(40):
        o.op(MALLOC, k % 2, k, any_size(k % 4, k * 1601))
    for k in range(40):
        o.op(REALLOC, (k + 1) % 2, k, any_size((k + 1) % 4, k * 977))
    o.stats()
    seeds["any-size"] = o
    # A few random programs.
    rng = random.Random(5)
    for n in range(6):
        b = bytearray([rng.randrange(256), rng.choice([0, 1, 3, 7, 15])])
        b += bytes(rng.randrange(256) for _ in range(300 + 100 * n))
        seeds[f"random-{n}"] = b
    return {k: bytes(v.b if isinstance(v, Ops) else v) for k, v in seeds.items()}


# ---- fuzz_config ----
OPTIONS = {  # name: a valid value (the environment seeds spell keys out)
    "profile": b"secure", "stats": b"on", "live_stats": b"off", "live_stats_delay_ms": b"0",
    "heap_profile_sample": b"512K", "heap_profile_prefix": b"/tmp/hakmem-fuzz",
    "heap_profile_interval": b"1G", "tiny_cache_cap": b"100", "batch_refill": b"64",
    "warm_pool_max": b"8", "prefill_budget": b"2", "mid_ring_cap": b"16",
    "mid_refill_pages": b"3", "empty_slab_cache": b"7", "large_cache_limit": b"512K",
    "large_round_pct": b"50", "purge_delay_ms": b"0", "purge_mode": b"free",
    "retain_max": b"1G", "foreign_free": b"warn", "allocator": b"libc",
    "exclude": b"/usr/bin/py*,*/sh", "step_aside": b"off",
    "guard_pages": b"on", "zero_on_free": b"yes", "random_freelist": b"1", "canaries": b"on",
    "quarantine": b"64", "zero_size_guard": b"yes", "learn": b"1",
    "learn_window_ms": b"500", "learn_miss_high": b"200", "learn_miss_low": b"10",
    "learn_cap_min": b"4", "learn_cap_max": b"64", "learn_dwell": b"5",
    "learn_round_max": b"25",
}
SECURE, NO_ENVIRON, CONF_PART1, CONF_MISSING, CONF_LONG, REPEAT, NO_SYSTEM = (
    1, 2, 4, 8, 12, 16, 32)


def config(flags, system=b"", conf=b"", env=()):
    """env: (option index or None, value bytes); None: a raw entry."""
    out = bytearray([flags]) + system + b"\xff" + conf
    for key, value in env:
        out += b"\xff" + bytes([0xc0 if key is None else key]) + value
    return bytes(out)


def config_seeds():
    seeds = {}
    shipped = os.path.join(HERE, "..", "etc", "hakmem.conf")
    if os.path.exists(shipped):
        with open(shipped, "rb") as f:
            text = f.read()
        seeds["shipped"] = config(0, text)
        # The same, every key uncommented.
        seeds["shipped-uncommented"] = config(0, text.replace(b"\n#", b"\n"))
    valid = (b"profile = conservative\nstats = on\ntiny_cache_cap = 128\nbatch_refill=1\n"
             b"warm_pool_max = 32 # trailing comment\nprefill_budget\t=\t16\n"
             b"mid_ring_cap = 2\r\nmid_refill_pages = 8\nempty_slab_cache = 0\n"
             b"large_cache_limit = 1G\nlarge_round_pct = 100\npurge_delay_ms = 3600000\n"
             b"purge_mode = free\nlearn = yes\nlearn_window_ms = 10\nlearn_miss_high = 1000\n"
             b"learn_miss_low = 0\nlearn_cap_min = 2\nlearn_cap_max = 128\nlearn_dwell = 100\n"
             b"learn_round_max = 0\nretain_max = 1099511627776\nforeign_free = ignore\n"
             b"exclude = *\nguard_pages = on\nzero_on_free = on\nrandom_freelist = on\n")
    seeds["valid-extremes"] = config(0, valid)
    bad = (b"no equals sign\n= 5\nunknown_key = 1\ntiny_cache_cap = 3\ntiny_cache_cap = 129\n"
           b"tiny_cache_cap = -1\ntiny_cache_cap = 99999999999999999999999\n"
           b"tiny_cache_cap = 12abc\ntiny_cache_cap =\nlarge_cache_limit = 2G\n"
           b"large_cache_limit = 4X\nlarge_cache_limit = 18446744073709551615K\n"
           b"large_cache_limit = 4kb\nstats = maybe\nprofile = fast\npurge_mode = DONTNEED\n"
           b"STATS = ON\n   # only a comment\n\n\t\n" + b"x" * 1100 + b" = 1\n"
           b"learn_cap_min = 100\nlearn_cap_max = 50\nforeign_free = explode\n"
           b"retain_max = 2T\n" + b"exclude = " + b"x" * 1000 + b"\n" * 5)
    seeds["text-options"] = config(0, b"".join(b"exclude = /bin/%d*,/usr/*\n" % i
                                               for i in range(200)))
    seeds["bad-lines"] = config(0, bad)
    seeds["pair-rule"] = config(0, b"learn_miss_low = 900\nlearn_miss_high = 10\n")
    seeds["no-final-newline"] = config(0, b"stats = on\ntiny_cache_cap = 64")
    seeds["nul-bytes"] = config(0, b"stats\x00 = on\ntiny_cache_cap = 6\x004\n")
    seeds["truncated-64k"] = config(REPEAT, b"tiny_cache_cap = 100\n# padding line\n")
    seeds["empty"] = config(0)
    # Environment: every option, both key cases, good and bad values.  Keys
    # are spelled out (raw entries): option indexes change as keys are added.
    env = [(None, b"HAKMEM_" + k.upper().encode() + b"=" + v) for k, v in OPTIONS.items()]
    seeds["env-all-upper"] = config(0, b"stats = off\n", b"", env)
    seeds["env-all-lower"] = config(0, b"", b"", [
        (None, b"HAKMEM_" + k.encode() + b"=" + v) for k, v in OPTIONS.items()])
    # Keys by index (whatever option that is), upper and lower case.
    seeds["env-indexed"] = config(0, b"", b"", [(i | (0x40 * (i & 1)), b"1") for i in range(64)])
    seeds["env-bad-values"] = config(0, b"tiny_cache_cap = 32\n", b"", [
        (None, b"HAKMEM_TINY_CACHE_CAP=1000"), (None, b"HAKMEM_TINY_CACHE_CAP="),
        (None, b"HAKMEM_LARGE_CACHE_LIMIT=1T"), (None, b"HAKMEM_PROFILE=turbo"),
        (None, b"HAKMEM_STATS=2"), (None, b"HAKMEM_PURGE_DELAY_MS=-5"),
        (None, b"HAKMEM_=1"), (None, b"HAKMEM_NOPE=1"), (None, b"HAKMEM_STATS"),
        (None, b"PATH=/usr/bin"), (None, b"HAKMEM_CONF=/etc/passwd"), (None, b""),
        (None, b"HAKMEM_TINY_CACHE_CAP=48"), (None, b"HAKMEM_TINY_CACHE_CAP=50 ")])
    seeds["env-overrides-files"] = config(CONF_PART1, b"tiny_cache_cap = 20\nstats = on\n",
                                          b"tiny_cache_cap = 30\nmid_ring_cap = 40\n",
                                          [(None, b"HAKMEM_TINY_CACHE_CAP=40"),
                                           (None, b"HAKMEM_STATS=off")])
    seeds["conf-missing"] = config(CONF_MISSING, b"stats = on\n")
    seeds["conf-long-path"] = config(CONF_LONG, b"stats = on\n")
    seeds["secure-ignores-env"] = config(SECURE | CONF_PART1, b"profile = secure\n",
                                         b"stats = on\n", [(None, b"HAKMEM_TINY_CACHE_CAP=100"),
                                          (None, b"HAKMEM_PROFILE=default")])
    seeds["environ-null"] = config(NO_ENVIRON, b"learn = on\n")
    seeds["no-system-file"] = config(NO_SYSTEM, b"", b"", [(None, b"HAKMEM_PURGE_DELAY_MS=0")])
    seeds["profiles"] = config(0, b"profile = conservative\ntiny_cache_cap = 100\n", b"",
                               [(None, b"HAKMEM_PROFILE=CONSERVATIVE")])
    # Sections: the harness's program is /usr/sbin/nginx in nginx.service.
    sections = (b"tiny_cache_cap = 20\n[program /usr/sbin/nginx, sshd]\nprofile = secure\n"
                b"[program nginx]\nmid_ring_cap = 8\n[program *python*]\nallocator = libc\n"
                b"[unit nginx.service]\nlarge_cache_limit = 64M\n[unit *.scope]\nstats = on\n"
                b"[cgroup /system.slice/*]\npurge_delay_ms = 1000\n[cgroup /user.slice/*]\n"
                b"learn = on\n[PROGRAM   ngin?  ]\nwarm_pool_max = 4\n")
    seeds["sections"] = config(CONF_PART1, sections,
                               b"[unit nginx.service]\ntiny_cache_cap = 30\nbatch_refill = 8\n",
                               [(None, b"HAKMEM_BATCH_REFILL=4")])
    bad_sections = (b"[program /usr/sbin/nginx\nstats = on\n[service nginx]\nstats = on\n"
                    b"[program]\nstats = on\n[ ]\nstats = on\n[" + b"x" * 1100 + b"]\n"
                    b"allocator = libc\n[program other]\nprefill_budget = 99\nbogus = 1\n"
                    b"[unit nginx.service]\nallocator = libc\n]\n[[program nginx]]\n")
    seeds["bad-sections"] = config(0, bad_sections)
    return seeds


def write(dirname, seeds):
    os.makedirs(dirname, exist_ok=True)
    for old in os.listdir(dirname):
        if old.startswith("seed-"):
            os.remove(os.path.join(dirname, old))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(dirname, "seed-" + name), "wb") as f:
            f.write(data)
    print(f"{dirname}: {len(seeds)} seeds")


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    write(os.path.join(top, "fuzz_ops"), ops_seeds())
    write(os.path.join(top, "fuzz_config"), config_seeds())


if __name__ == "__main__":
    main()
