#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The PGO corpus (bench/pgo.sh --corpus, make bench-pgo).

Real programs of different kinds, built from source that the machine
fetches itself (Debian source packages, an npm tarball), each trained on
one input and measured on another:

  sqlite     a database         (amalgamation + bench/pgo/sqlite_load.c)
  lua        an interpreter     (lua5.4, bench/pgo/corpus/{train,test}.lua)
  bzip2      a compressor       (bzip2, compress + decompress)
  lz4        one hot loop       (lz4's command line, fast mode)
  pcre2grep  a regex library    (pcre2 without JIT, through pcre2grep)
  goload     a Go service's everyday work (bench/pgo/goload)

Methods, each C program built by clang-19 -O2 -g -fdebug-info-for-profiling
-fno-omit-frame-pointer -fbasic-block-address-map:

  base       no profile
  instr      instrumented PGO on the same training runs (the reference)
  time       syspgo's profile with the samples as weights
             (profile record --llvm-weights samples: the old writer)
  syspgo     syspgo's profile (estimated execution counts), REC recordings
  profi      the same profiles with clang's -fsample-profile-use-profi
  nopgso     the same profiles with -mllvm -pgso=false: no size
             optimization of code the profile calls cold
  profiv     profi, and -mllvm -loop-vectorize-with-block-frequency=false:
             the vectorizer takes no trip count from the profile (a loop's
             entries are its rarest blocks, the ones samples miss)
  oracle     the profile a perfect observer would write: every line's
             execution count and every call's, from callgrind on a smaller
             training run (bench/pgo/oracle.py): the best a line-based
             sample profile can do; each recorded profile's similarity to
             it (llvm-profdata overlap --sample) is in the table

and for Go: base, syspgo's .pprof, and the Go runtime's own CPU profile
(runtime/pprof at the same rate, of the same runs).

Measures: instructions and I1 misses (callgrind --cache-sim=yes) of the
test input, the share of instrumented PGO's gain
((base - x) / (base - instr)), the spread of instructions between
recordings, samples per recording, and wall time (median of ROUNDS
interleaved runs). Writes a table on stdout and $CACHE/corpus.md.

  usage: bench/pgo/corpus.py SYSPGO [PROGRAM...]   (SYSPGO's directory holds
         syspgo-pgo-oracle, built with it)
  env:   CACHE=/var/cache/syspgo-bench/pgo-corpus REC=3 FREQ=999 ROUNDS=5 JOBS=2
         METHODS=oracle,time,syspgo,profi,nopgso,profiv
"""
import concurrent.futures
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import oracle

HERE = os.path.dirname(os.path.abspath(__file__))
CLANG = "/usr/lib/llvm-19/bin/clang"
PROFDATA = "/usr/lib/llvm-19/bin/llvm-profdata"
GO = "/usr/lib/go-1.23/bin/go"
# docs/profile.md's flags for a program to be profiled; the block map costs
# no instruction (a section outside the loaded image).
CFLAGS = ["-O2", "-g", "-fdebug-info-for-profiling", "-fno-omit-frame-pointer",
          "-fbasic-block-address-map", "-w"]
# The vectorizer's trip count from the profile: off (see METHODS, profiv).
NO_PROFILE_TRIP_COUNTS = ["-mllvm", "-loop-vectorize-with-block-frequency=false"]
SQLITE_NPM = "better-sqlite3@12.11.1"
CACHE = os.environ.get("CACHE", "/var/cache/syspgo-bench/pgo-corpus")
REC = int(os.environ.get("REC", "3"))
FREQ = int(os.environ.get("FREQ", "999"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
JOBS = int(os.environ.get("JOBS", str(min(os.cpu_count() or 1, 4))))
# Which methods beside base and instr (C programs).
METHODS = os.environ.get("METHODS", "oracle,time,syspgo,profi,nopgso,profiv").split(",")
SRC = os.path.join(CACHE, "src")
WORK = os.path.join(CACHE, "run")


def log(msg):
    print("corpus: " + msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


def sh(script, **kw):
    return run(["sh", "-c", script], **kw)


# --- sources -----------------------------------------------------------------

def debian_source(package, version_dir):
    """The unpacked Debian source package, fetched once (apt-get source;
    scripts/install-deps.sh --bench adds the deb-src entry)."""
    d = os.path.join(SRC, version_dir)
    if not os.path.isdir(d):
        log("fetching %s's source (apt-get source)" % package)
        os.makedirs(SRC, exist_ok=True)
        tmp = os.path.join(SRC, ".fetch-" + package)
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        r = run(["apt-get", "source", "-q", package], cwd=tmp, check=False,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit("corpus: apt-get source %s failed (is there a deb-src entry? "
                     "scripts/install-deps.sh --bench adds one): %s" % (package, r.stderr[-400:]))
        found = [e for e in os.listdir(tmp) if os.path.isdir(os.path.join(tmp, e))]
        if len(found) != 1:
            sys.exit("corpus: apt-get source %s unpacked %r" % (package, found))
        os.rename(os.path.join(tmp, found[0]), d)
        shutil.rmtree(tmp)
    return d


def sqlite_source():
    d = os.path.join(SRC, "sqlite")
    if not os.path.isfile(os.path.join(d, "sqlite3.c")):
        log("fetching sqlite's amalgamation (%s from the npm registry)" % SQLITE_NPM)
        tmp = os.path.join(SRC, ".npm")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        run(["npm", "pack", "--silent", SQLITE_NPM], cwd=tmp, stdout=subprocess.DEVNULL)
        sh("tar xzf ./*.tgz", cwd=tmp)
        os.makedirs(d, exist_ok=True)
        for f in ("sqlite3.c", "sqlite3.h"):
            shutil.copy(os.path.join(tmp, "package/deps/sqlite3", f), d)
        shutil.rmtree(tmp)
    return d


def inputs():
    """Data files for the compressors and pcre2grep, made from the sources
    (the same bytes on every machine): training from lua, bzip2 and pcre2,
    testing from sqlite (a different kind of C, a different size)."""
    d = os.path.join(CACHE, "inputs")
    if os.path.isfile(os.path.join(d, "done")):
        return d
    os.makedirs(d, exist_ok=True)
    lua, bz, pcre = debian_source("lua5.4", "lua"), debian_source("bzip2", "bzip2"), \
        debian_source("pcre2", "pcre2")
    sq = sqlite_source()
    sh("tar cf %s/train.tar --sort=name --mtime=@0 --owner=0 --group=0 -C %s src -C %s . -C %s src"
       % (d, lua, bz, pcre))
    with open(os.path.join(sq, "sqlite3.c"), "rb") as f:
        data = f.read()
    with open(os.path.join(d, "test.c"), "wb") as f:
        f.write(data[:3 << 20])
    with open(os.path.join(d, "test-big.c"), "wb") as f:
        f.write(data)
    open(os.path.join(d, "done"), "w").close()
    return d


# --- programs ----------------------------------------------------------------

class Program:
    """name, kind, build(out, flags) -> binary, train(binary) -> shell
    script of the training runs, test(binary) -> argv (callgrind),
    wall(binary) -> shell script (timed)."""
    go = False


def compile_link(out, flags, sources, includes, defines, libs, name):
    """Objects in parallel, then the link; clang's warnings are off (-w):
    profile mismatches are counted separately."""
    os.makedirs(out, exist_ok=True)
    objs = []
    cmds = []
    for s in sources:
        o = os.path.join(out, os.path.basename(s) + ".o")
        objs.append(o)
        cmds.append([CLANG] + CFLAGS + flags + ["-I" + i for i in includes] +
                    ["-D" + x for x in defines] + ["-c", s, "-o", o])
    with concurrent.futures.ThreadPoolExecutor(JOBS) as ex:
        for r in ex.map(lambda c: subprocess.run(c, capture_output=True, text=True), cmds):
            if r.returncode != 0:
                sys.exit("corpus: compile failed: %s\n%s" % (" ".join(r.args), r.stderr[-2000:]))
    binary = os.path.join(out, name)
    run([CLANG] + CFLAGS + flags + objs + ["-o", binary] + libs)
    return binary


class Sqlite(Program):
    name, kind = "sqlite", "database"

    def build(self, out, flags):
        d = sqlite_source()
        return compile_link(out, flags, [os.path.join(d, "sqlite3.c"),
                                         os.path.join(HERE, "sqlite_load.c")],
                            [d], ["SQLITE_THREADSAFE=0", "SQLITE_OMIT_LOAD_EXTENSION"],
                            ["-lm"], "sqlite_load")

    def train(self, b):
        return "for s in 1 2 3; do %s 60000 $s >/dev/null; done" % b

    def train_small(self, b):
        return "%s 8000 1 >/dev/null" % b

    def test(self, b):
        return [b, "8000", "99"]

    def wall(self, b):
        return "%s 60000 99 >/dev/null" % b


class Lua(Program):
    name, kind = "lua", "interpreter"

    def build(self, out, flags):
        d = os.path.join(debian_source("lua5.4", "lua"), "src")
        srcs = [os.path.join(d, f) for f in sorted(os.listdir(d))
                if f.endswith(".c") and f not in ("luac.c",)]
        # Debian's luaconf.h names the multiarch triplet in a generated header.
        gen = os.path.join(out, "gen")
        os.makedirs(gen, exist_ok=True)
        with open(os.path.join(gen, "lua5.4-deb-multiarch.h"), "w") as f:
            f.write('#define DEB_HOST_MULTIARCH "x86_64-linux-gnu"\n')
        # A fixed string-hash seed: Lua seeds it from the clock, which makes
        # every run execute a different number of instructions.
        return compile_link(out, flags, srcs, [d, gen], ["LUA_USE_LINUX", "luai_makeseed(L)=0"],
                            ["-lm", "-ldl"], "lua")

    def train(self, b):
        return "%s %s/corpus/train.lua 300 >/dev/null" % (b, HERE)

    def train_small(self, b):
        return "%s %s/corpus/train.lua 20 >/dev/null" % (b, HERE)

    def test(self, b):
        return [b, os.path.join(HERE, "corpus/test.lua"), "12"]

    def wall(self, b):
        return "%s %s/corpus/test.lua 100 >/dev/null" % (b, HERE)


class Bzip2(Program):
    name, kind = "bzip2", "compressor"

    def build(self, out, flags):
        d = debian_source("bzip2", "bzip2")
        srcs = [os.path.join(d, f) for f in ("blocksort.c", "huffman.c", "crctable.c",
                                              "randtable.c", "compress.c", "decompress.c",
                                              "bzlib.c", "bzip2.c")]
        return compile_link(out, flags, srcs, [d], ["_FILE_OFFSET_BITS=64"], [], "bzip2")

    def train(self, b):
        i = inputs()
        return ("for l in 9 5 1; do %s -$l -c %s/train.tar > %s/t.bz2 && %s -dc %s/t.bz2 >/dev/null; done"
                % (b, i, WORK, b, WORK))

    def train_small(self, b):
        return "%s -9 -c %s/train.tar > %s/o.bz2 && %s -dc %s/o.bz2 >/dev/null" % (
            b, inputs(), WORK, b, WORK)

    def test(self, b):
        return ["sh", "-c", "%s -9 -c %s/test.c | %s -dc > /dev/null" % (b, inputs(), b)]

    def wall(self, b):
        return "%s -9 -c %s/test-big.c | %s -dc > /dev/null" % (b, inputs(), b)


class Lz4(Program):
    name, kind = "lz4", "hot loop"

    def build(self, out, flags):
        d = debian_source("lz4", "lz4")
        srcs = [os.path.join(d, "lib", f) for f in ("lz4.c", "lz4hc.c", "lz4frame.c", "xxhash.c",
                                                     "lz4file.c")]
        srcs += [os.path.join(d, "programs", f) for f in ("bench.c", "datagen.c", "lz4cli.c",
                                                          "lz4io.c")]
        return compile_link(out, flags, srcs, [os.path.join(d, "lib")], [], [], "lz4")

    # One process each way over many copies of the input: a process that
    # lives a few milliseconds exits before the recorder reads its maps.
    def train(self, b):
        return ("for r in $(seq 180); do cat %s/train.tar; done | %s -1 -q -c | %s -dq -c >/dev/null"
                % (inputs(), b, b))

    def train_small(self, b):
        return "%s -1 -q -c %s/train.tar > %s/o.lz4 && %s -dq -c %s/o.lz4 >/dev/null" % (
            b, inputs(), WORK, b, WORK)

    def test(self, b):
        return ["sh", "-c", "%s -1 -q -c %s/test-big.c | %s -dq -c > /dev/null" % (b, inputs(), b)]

    def wall(self, b):
        i = inputs()
        return "for r in 1 2 3 4 5; do %s -1 -q -c %s/test-big.c | %s -dq -c > /dev/null; done" % (b, i, b)


class Pcre2grep(Program):
    name, kind = "pcre2grep", "regex library"
    # Every match printed (-o), over the input as text (-a): patterns of the
    # kinds a code search runs, different ones for training and testing.
    TRAIN = [r"(\w+)\s*\(([^()]*)\)", r"\b(if|for|while)\s*\(.*\)\s*\{?$",
             r"^\s*#\s*define\s+(\w+)\s+(.*)$", r"/\*.*?\*/", r"\b[0-9]+[uUlL]*\b",
             r"(?i)\b(error|fail\w*)\b", r"\w+->\w+(->\w+)*"]
    TEST = [r"\bsqlite3[A-Z]\w*\(\s*\w+", r"^\s*(static|int|void|char)\s+\**\w+\s*\(",
            r"\"(?:[^\"\\]|\\.)*\"", r"(?i)\bmemory\b.*\balloc", r"\b[A-Z_]{4,}\b",
            r"(\w+)\s*=\s*(\w+);"]

    def build(self, out, flags):
        d = debian_source("pcre2", "pcre2")
        gen = os.path.join(out, "gen")
        os.makedirs(gen, exist_ok=True)
        shutil.copy(os.path.join(d, "src/config.h.generic"), os.path.join(gen, "config.h"))
        shutil.copy(os.path.join(d, "src/pcre2.h.generic"), os.path.join(gen, "pcre2.h"))
        shutil.copy(os.path.join(d, "src/pcre2_chartables.c.dist"),
                    os.path.join(gen, "pcre2_chartables.c"))
        lib = ["auto_possess", "compile", "config", "context", "convert", "dfa_match", "error",
               "extuni", "find_bracket", "jit_compile", "maketables", "match", "match_data",
               "newline", "ord2utf", "pattern_info", "script_run", "serialize", "string_utils",
               "study", "substitute", "substring", "tables", "ucd", "valid_utf", "xclass"]
        srcs = [os.path.join(d, "src/pcre2_%s.c" % f) for f in lib]
        srcs += [os.path.join(gen, "pcre2_chartables.c"), os.path.join(d, "src/pcre2grep.c")]
        return compile_link(out, flags, srcs, [gen, os.path.join(d, "src")],
                            ["HAVE_CONFIG_H", "PCRE2_CODE_UNIT_WIDTH=8", "HAVE_UNISTD_H",
                             "HAVE_DIRENT_H", "HAVE_SYS_STAT_H", "HAVE_SYS_TYPES_H", "HAVE_STRERROR"], [],
                            "pcre2grep")

    @staticmethod
    def script(b, patterns, f, copies):
        # One process per pattern over `copies` copies of the file (a
        # process that lives a few milliseconds exits before the recorder
        # reads its maps).
        return "; ".join("for i in $(seq %d); do cat %s; done | %s -a -o -e '%s' >/dev/null"
                         % (copies, f, b, p) for p in patterns)

    def train(self, b):
        return self.script(b, self.TRAIN, inputs() + "/train.tar", 12)

    def train_small(self, b):
        return self.script(b, self.TRAIN, inputs() + "/train.tar", 1)

    def test(self, b):
        return ["sh", "-c", self.script(b, self.TEST, inputs() + "/test-big.c", 1)]

    def wall(self, b):
        return self.script(b, self.TEST, inputs() + "/test-big.c", 4)


class Goload(Program):
    name, kind, go = "goload", "Go service", True

    def build(self, out, flags):
        os.makedirs(out, exist_ok=True)
        binary = os.path.join(out, "goload")
        env = dict(os.environ, GOCACHE=os.path.join(CACHE, "gocache"),
                   GOPATH=os.path.join(CACHE, "gopath"), GOTOOLCHAIN="local", GOPROXY="off",
                   GOFLAGS="-mod=mod")
        run([GO, "build", "-a"] + flags + ["-o", binary, "."], cwd=os.path.join(HERE, "goload"),
            env=env, stdout=subprocess.DEVNULL)
        return binary

    def train(self, b):
        return "for s in 1 2 3 4; do %s 60000 $s >/dev/null; done" % b

    def test(self, b):
        return [b, "20000", "99"]

    def wall(self, b):
        return "%s 100000 99 >/dev/null" % b


PROGRAMS = [Sqlite(), Lua(), Bzip2(), Lz4(), Pcre2grep(), Goload()]


# --- profiles ------------------------------------------------------------------

def profile_of(d, binary, ext):
    with open(os.path.join(d, "profiles.json")) as f:
        index = json.load(f)
    for b in index["binaries"]:
        if os.path.realpath(b["path"]) == os.path.realpath(binary):
            for f in b["files"]:
                if f.endswith(ext):
                    return os.path.join(d, f), b["samples"]
    sys.exit("corpus: no %s profile of %s in %s" % (ext, binary, d))


def overlap(truth, profile):
    """llvm-profdata's whole-program similarity of a profile to the truth."""
    out = run([PROFDATA, "overlap", "--sample", truth, profile], capture_output=True,
              text=True).stdout
    m = re.search(r"Whole program profile similarity: ([0-9.]+)%", out)
    return float(m.group(1)) / 100 if m else None


def record(syspgo, script, out, extra=()):
    shutil.rmtree(out, ignore_errors=True)
    run([syspgo, "profile", "record", "--freq", str(FREQ), "-o", out] + list(extra) +
        ["--", "sh", "-c", script], stderr=subprocess.DEVNULL)


# --- measures --------------------------------------------------------------------

def callgrind(name, argv):
    """(instructions, I1 misses) of one run, under callgrind on copies
    without debug information (valgrind 3.19 cannot read DWARF 5)."""
    out = os.path.join(WORK, "cg." + name)
    env = dict(os.environ, GODEBUG="asyncpreemptoff=1", GOMAXPROCS="1", GOGC="off")
    run(["valgrind", "--tool=callgrind", "--cache-sim=yes", "--trace-children=yes",
         "--callgrind-out-file=" + out + ".%p"] + argv, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ir = i1 = 0
    # One file per process (sh and the programs it runs): their sum.
    for f in os.listdir(WORK):
        if not f.startswith("cg." + name + "."):
            continue
        ev = tot = None
        with open(os.path.join(WORK, f)) as fh:
            for line in fh:
                if line.startswith("events:"):
                    ev = line.split()[1:]
                elif line.startswith("summary:") or line.startswith("totals:"):
                    tot = [int(x) for x in line.split()[1:]]
        d = dict(zip(ev, tot))
        ir += d["Ir"]
        i1 += d.get("I1mr", 0)
        os.unlink(os.path.join(WORK, f))
    return ir, i1


def nodebug(binary):
    out = binary + ".nodebug"
    run(["strip", "-g", "-o", out, binary])
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    syspgo = os.path.realpath(sys.argv[1])
    wanted = sys.argv[2:]
    progs = [p for p in PROGRAMS if not wanted or p.name in wanted]
    if os.geteuid() != 0:
        sys.exit("corpus: run as root (BPF, perf events)")
    for tool in (CLANG, PROFDATA, GO, "valgrind", "npm", "apt-get"):
        if not shutil.which(tool):
            sys.exit("corpus: %s is missing (scripts/install-deps.sh --bench)" % tool)
    os.makedirs(CACHE, mode=0o700, exist_ok=True)
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    started = time.time()
    rows = {}  # (program, method) -> dict
    done = []  # programs measured: the report is rewritten after each
    for p in progs:
        t0 = time.time()
        d = os.path.join(WORK, p.name)
        bins = {}
        samples = {}
        similarity = {}
        log("%s: base build" % p.name)
        bins["base"] = p.build(os.path.join(d, "base"), [])
        if p.go:
            for r in range(1, REC + 1):
                prof = os.path.join(d, "rec%d" % r)
                record(syspgo, p.train(bins["base"]), prof)
                pp, samples["syspgo%d" % r] = profile_of(prof, bins["base"], ".pprof")
                bins["syspgo%d" % r] = p.build(os.path.join(d, "syspgo%d" % r), ["-pgo=" + pp])
                # The runtime's own profile of the same runs, at the same rate.
                rt = os.path.join(d, "rt%d" % r)
                os.makedirs(rt, exist_ok=True)
                sh(p.train(bins["base"]), env=dict(os.environ,
                                                   GOLOAD_CPUPROFILE=rt + "/cpu-%p.pprof",
                                                   GOLOAD_CPUPROFILE_HZ=str(FREQ)),
                   stderr=subprocess.DEVNULL)
                merged = os.path.join(rt, "merged.pprof")
                files = sorted(os.path.join(rt, f) for f in os.listdir(rt) if f.startswith("cpu"))
                with open(merged, "wb") as out:
                    run([GO, "tool", "pprof", "-proto"] + files, stdout=out,
                        stderr=subprocess.DEVNULL)
                bins["runtime%d" % r] = p.build(os.path.join(d, "runtime%d" % r),
                                                ["-pgo=" + merged])
        else:
            log("%s: instrumented PGO" % p.name)
            gen = p.build(os.path.join(d, "instr-gen"), ["-fprofile-instr-generate"])
            raw = os.path.join(d, "raw")
            os.makedirs(raw, exist_ok=True)
            sh(p.train(gen), env=dict(os.environ, LLVM_PROFILE_FILE=raw + "/%p.profraw"))
            profdata = os.path.join(d, "instr.profdata")
            run([PROFDATA, "merge", "-o", profdata] +
                [os.path.join(raw, f) for f in os.listdir(raw)])
            bins["instr"] = p.build(os.path.join(d, "instr"), ["-fprofile-instr-use=" + profdata])
            truth = None
            if "oracle" in METHODS:
                log("%s: the oracle (callgrind on a smaller training run)" % p.name)
                truth = oracle.profile(os.path.join(os.path.dirname(syspgo), "syspgo-pgo-oracle"),
                                       bins["base"], nodebug(bins["base"]), p.train_small,
                                       os.path.join(d, "oracle"), p.name)
                bins["oracle"] = p.build(os.path.join(d, "oracle-b"),
                                         ["-fprofile-sample-use=" + truth])
            log("%s: %d recordings at %d Hz" % (p.name, REC, FREQ))
            if "time" in METHODS:
                prof = os.path.join(d, "time")
                record(syspgo, p.train(bins["base"]), prof, ["--llvm-weights", "samples"])
                lp, samples["time"] = profile_of(prof, bins["base"], ".llvmprof")
                similarity["time"] = truth and overlap(truth, lp)
                bins["time"] = p.build(os.path.join(d, "time-b"), ["-fprofile-sample-use=" + lp])
            for r in range(1, REC + 1):
                prof = os.path.join(d, "rec%d" % r)
                record(syspgo, p.train(bins["base"]), prof)
                lp, n = profile_of(prof, bins["base"], ".llvmprof")
                for m, extra in (("syspgo", []), ("profi", ["-fsample-profile-use-profi"]),
                                 ("nopgso", ["-mllvm", "-pgso=false"]),
                                 ("profiv", ["-fsample-profile-use-profi"] + NO_PROFILE_TRIP_COUNTS)):
                    if m not in METHODS:
                        continue
                    samples["%s%d" % (m, r)] = n
                    similarity["%s%d" % (m, r)] = truth and overlap(truth, lp)
                    bins["%s%d" % (m, r)] = p.build(os.path.join(d, "%s%d" % (m, r)),
                                                    ["-fprofile-sample-use=" + lp] + extra)
        log("%s: callgrind on the test input (%d builds)" % (p.name, len(bins)))
        stripped = {m: nodebug(b) for m, b in bins.items()}

        def count(m):
            argv = [x.replace(bins["base"], stripped[m]) if isinstance(x, str) else x
                    for x in p.test(bins["base"])]
            return m, callgrind("%s.%s" % (p.name, m), argv)
        with concurrent.futures.ThreadPoolExecutor(JOBS) as ex:
            counted = dict(ex.map(count, bins))
        log("%s: wall time, %d interleaved rounds" % (p.name, ROUNDS))
        times = {m: [] for m in bins}
        for _ in range(ROUNDS):
            for m, b in bins.items():
                t = time.perf_counter()
                sh(p.wall(b))
                times[m].append(time.perf_counter() - t)
        for m in bins:
            rows[(p.name, m)] = {"ir": counted[m][0], "i1": counted[m][1],
                                 "wall": statistics.median(times[m]),
                                 "samples": samples.get(m), "similarity": similarity.get(m)}
        log("%s: done in %.0f s" % (p.name, time.time() - t0))
        done.append(p)
        report(done, rows, started, quiet=p is not progs[-1])


def report(progs, rows, started, quiet=False):
    lines = ["## PGO corpus (%s, %d CPUs, %d Hz, %d recordings, %.0f s)" %
             (time.strftime("%Y-%m-%d", time.gmtime()), os.cpu_count(), FREQ, REC,
              time.time() - started), "",
             "Instructions and I1 misses: callgrind on the test input; share: of instrumented "
             "PGO's gain in instructions (Go: of the runtime/pprof profile's gain); wall: median "
             "of %d interleaved runs of a larger test input." % ROUNDS, "",
             "| program | kind | method | samples | similarity | instructions | vs base | I1 misses "
             "| vs base | wall (s) | vs base | share |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    summary = []
    for p in progs:
        base = rows[(p.name, "base")]
        ref = None
        methods = sorted((m for (n, m) in rows if n == p.name),
                         key=lambda m: (["base", "instr", "oracle", "time", "runtime", "syspgo", "profi",
                                         "nopgso", "profiv"]
                                        .index(re.sub(r"\d+$", "", m)), m))
        if (p.name, "instr") in rows:
            ref = rows[(p.name, "instr")]
        else:  # Go: the runtime's own profiles (the median of the recordings)
            rt = sorted(rows[(p.name, m)]["ir"] for m in methods if m.startswith("runtime"))
            if rt:
                ref = {"ir": rt[len(rt) // 2]}
        for m in methods:
            x = rows[(p.name, m)]
            gain = ref and (base["ir"] - x["ir"]) / max(1, base["ir"] - ref["ir"])
            lines.append("| %s | %s | %s | %s | %s | %d | %+.2f%% | %d | %+.2f%% | %.3f | %+.1f%% | %s |" % (
                p.name, p.kind, m, x["samples"] if x["samples"] is not None else "",
                "%.2f" % x["similarity"] if x.get("similarity") is not None else "",
                x["ir"], pct(base["ir"], x["ir"]), x["i1"], pct(base["i1"], x["i1"]),
                x["wall"], pct(base["wall"], x["wall"]), "%.2f" % gain if gain is not None else ""))
        for kind in ("syspgo", "profi", "nopgso", "profiv", "runtime", "oracle", "time"):
            irs = [rows[(p.name, m)]["ir"] for m in methods if re.sub(r"\d+$", "", m) == kind]
            if not irs:
                continue
            d = [pct(base["ir"], v) for v in irs]
            summary.append((p.name, kind, max(d), min(d), max(d) - min(d),
                            None if ref is None else
                            min((base["ir"] - v) / max(1, base["ir"] - ref["ir"]) for v in irs)))
    lines += ["", "| program | method | worst vs base | best vs base | spread (points) | "
              "worst share |", "|---|---|---:|---:|---:|---:|"]
    for n, k, worst, best, spread, share in summary:
        lines.append("| %s | %s | %+.2f%% | %+.2f%% | %.2f | %s |" % (
            n, k, worst, best, spread, "" if share is None else "%.2f" % share))
    text = "\n".join(lines) + "\n"
    if not quiet:
        sys.stdout.write(text)
    with open(os.path.join(CACHE, "corpus.md"), "w") as f:
        f.write(text)
    with open(os.path.join(CACHE, "corpus.json"), "w") as f:
        json.dump({"%s/%s" % k: v for k, v in rows.items()}, f, indent=1)


def pct(a, b):
    return (b - a) / a * 100 if a else 0.0


if __name__ == "__main__":
    main()
