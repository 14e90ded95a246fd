# SPDX-License-Identifier: Apache-2.0
"""The ground truth of a training run (bench/pgo/corpus.py): every
instruction's execution count and every call's count, from valgrind
callgrind --dump-instr=yes, as the LLVM sample profile a perfect observer
would write (bench/tools/pgo_oracle.cc)."""
import collections
import os
import subprocess


def _symbols(binary):
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tT":
            syms.setdefault(parts[2], int(parts[0], 16))
    return syms


def counts(callgrind_files, binary, symbols_of):
    """("i", address, count) and ("c", address, callee, count) of `binary`
    (its path as valgrind ran it) in link-time addresses."""
    instr = collections.Counter()
    calls = collections.Counter()
    first = {}  # function -> its lowest address seen (runtime)
    for path in callgrind_files:
        ob = fn = cfn = None
        pending_call = None
        npos = 1  # position columns ("positions: instr line")
        with open(path) as f:
            for line in f:
                if line.startswith("positions:"):
                    npos = len(line.split()) - 1
                elif line.startswith("ob="):
                    ob = line[3:].strip()
                elif line.startswith("fn="):
                    fn = line[3:].strip().split("'")[0]  # f'2: a recursion level
                elif line.startswith("cfn="):
                    cfn = line[4:].strip().split("'")[0]
                elif line.startswith("calls="):
                    pending_call = int(line[6:].split()[0])
                elif line.startswith("0x"):
                    parts = line.split()
                    addr = int(parts[0], 16)
                    if pending_call is not None:
                        if ob == binary:
                            calls[(addr, cfn)] += pending_call
                        pending_call = None
                        continue
                    if ob == binary and len(parts) > npos:
                        instr[addr] += int(parts[npos])
                        if fn and (fn not in first or addr < first[fn]):
                            first[fn] = addr
    # The load bias: a function's entry is its lowest executed address.
    syms = symbols_of
    deltas = collections.Counter(a - syms[n] for n, a in first.items() if n in syms)
    if not deltas:
        raise RuntimeError("oracle: no function of %s matched its symbols" % binary)
    delta = deltas.most_common(1)[0][0]
    out = [("i", a - delta, n) for a, n in instr.items()]
    out += [("c", a - delta, callee, n) for (a, callee), n in calls.items() if callee]
    return out


def profile(tool, binary, nodebug, script_for, work, name):
    """Runs script_for(nodebug) under callgrind, writes the oracle's
    .llvmprof of `binary` (the same code, with DWARF) and returns its path."""
    os.makedirs(work, exist_ok=True)
    for f in os.listdir(work):
        if f.startswith("cg."):
            os.unlink(os.path.join(work, f))
    subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--compress-strings=no",
                    "--compress-pos=no", "--trace-children=yes",
                    "--callgrind-out-file=" + os.path.join(work, "cg.%p"),
                    "sh", "-c", script_for(nodebug)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = [os.path.join(work, f) for f in os.listdir(work) if f.startswith("cg.")]
    records = counts(files, os.path.realpath(nodebug), _symbols(binary))
    text = os.path.join(work, name + ".counts")
    with open(text, "w") as f:
        for r in records:
            if r[0] == "i":
                f.write("i %x %d\n" % (r[1], r[2]))
            else:
                f.write("c %x %s %d\n" % (r[1], r[2], r[3]))
    out = os.path.join(work, name + ".llvmprof")
    with open(out, "w") as f:
        subprocess.run([tool, binary, text], check=True, stdout=f, stderr=subprocess.DEVNULL)
    for p in files:
        os.unlink(p)
    return out


def samples_of_pprof(go, pprof, build_id, out):
    """The leaf samples and call edges of one binary (by build-id) in a
    syspgo .pprof, as syspgo-pgo-oracle estimate reads them."""
    raw = subprocess.run([go, "tool", "pprof", "-raw", "-symbolize=none", pprof],
                         capture_output=True, text=True, check=True).stdout
    section = None
    samples = []
    locs = {}   # id -> (mapping, offset, outermost function)
    maps = {}   # id -> build-id ("" for the kernel)
    last = None
    for line in raw.splitlines():
        if line in ("Samples:", "Locations", "Mappings"):
            section = line
            continue
        if section == "Samples:" and ":" in line and line.strip()[0].isdigit():
            head, ids = line.split(":", 1)
            samples.append((int(head.split()[0]), [int(x) for x in ids.split()]))
        elif section == "Locations":
            parts = line.split()
            if parts and parts[0].endswith(":") and parts[0][:-1].isdigit():
                last = int(parts[0][:-1])
                func = parts[3] if len(parts) > 3 else ""
                locs[last] = [int(parts[2][2:]), int(parts[1], 16), func]
            elif parts and last is not None:
                locs[last][2] = parts[0]  # an outer (inlining) function
        elif section == "Mappings":
            parts = line.split()
            if parts and parts[0].endswith(":"):
                maps[int(parts[0][:-1])] = parts[3] if len(parts) > 3 and "[" not in parts[3] else ""
    with open(out, "w") as f:
        for count, stack in samples:
            u = 0
            while u < len(stack) and not maps.get(locs[stack[u]][0]):
                u += 1
            if u == len(stack):
                continue
            m, off, func = locs[stack[u]]
            if maps[m] == build_id:
                f.write("s %x %d\n" % (off, count))
            if u + 1 < len(stack):
                cm, coff, _ = locs[stack[u + 1]]
                if maps.get(cm) == build_id and func:
                    f.write("e %x %s %d\n" % (coff, func, count))
