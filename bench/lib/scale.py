#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""How the cost of a cold start grows with work: bench/coldstart.sh --scale
sets up the link, the registry and the images as for the cold starts, then
calls

  scale.py --spec SPEC.json

with the same SPEC (coldstart.py describes it) plus "scale": {containers:
[1, 4, 16], nodes: [1, 8], rounds: 3}. Three scenarios, each system in a
shuffled order per round, every start from the cold state coldstart.py
defines (the image's data cold, the host's programs warm):

- containers: N containers of one image (the first workload whose
  readiness is its exit) started at once on one node. syspgo: N `syspgo
  run` on one --root (they share the node's mount of the image); containerd
  systems: one containerd, the image pulled once (as the kubelet does),
  then N containers created and started at once.
- images: one container of each workload at once on one node.
- nodes: K nodes start one container of the image at once. A node is a
  store of its own: a --root for syspgo, a containerd (and snapshotter) with
  root and state of its own for the others. The nodes share this machine's
  network stack and so the one shaped link to the registry, as nodes share
  a registry's uplink; readiness is the command's exit, so no port is shared.

Per case: Total of the last container (harness clock, from the first exec
to the last readiness), registry requests and bytes (per node for nodes),
peak page-cache growth and peak RSS of the system's processes. One JSON
line per case in runs-scale.jsonl.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # nothing written into bench/lib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coldstart import (PROCESS_NAMES, SYSPGO_MODES, Containerd, RegistryLog,  # noqa: E402
                       Sampler, ctr_registry_args, drop_caches, run_syspgo, start_task,
                       stop_task, warm_host_programs)


def in_threads(jobs):
    """Runs the callables at once; their results in order, or raises the
    first failure after all have ended."""
    results = [None] * len(jobs)
    errors = []

    def call(i, job):
        try:
            results[i] = job()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(str(e))

    threads = [threading.Thread(target=call, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return results


def syspgo_starts(spec, mode, starts, work):
    """starts: [(node, workload)]; each a `syspgo run --mode MODE` with the
    node's root. Seconds from the first exec to each start's readiness."""
    t0 = time.monotonic()

    def one(i, node, wl):
        timing = os.path.join(work, f"timing-{i}.json")
        run_syspgo(spec, wl, mode, os.path.join(work, f"node{node}"), timing)
        return time.monotonic() - t0

    return in_threads([lambda i=i, n=n, w=w: one(i, n, w) for i, (n, w) in enumerate(starts)])


def containerd_node(spec, system, node, ctrd, wls, t0):
    """One containerd node: each image pulled once (the images at once),
    then its containers created and started at once. wls: [(workload,
    containers)]. Seconds from t0 to each container's readiness."""
    stargz = system.startswith("stargz")

    def image_of(wl):
        if not stargz:
            return wl["image"]
        return wl["esgz_opt_image"] if system == "stargz-optimized" else wl["esgz_image"]

    def pull(wl):
        if stargz:
            ctrd.ctr("image", "rpull", *ctr_registry_args(spec), image_of(wl),
                     tool=spec["containerd"]["ctr_remote"])
        else:
            ctrd.ctr("image", "pull", *ctr_registry_args(spec), image_of(wl))

    snap = ["--snapshotter", "stargz"] if stargz else []

    def start(wl, cid):
        ctrd.ctr("container", "create", "--net-host", *snap, image_of(wl), cid)
        start_task(ctrd, wl, cid)
        return time.monotonic() - t0

    in_threads([lambda wl=wl: pull(wl) for wl, _ in wls])
    jobs = []
    cids = []
    for wi, (wl, n) in enumerate(wls):
        for c in range(n):
            # Unique on the machine: every node's runc shares /run/containerd/runc.
            cid = f"scale-{node}-{wi}-{c}"
            cids.append((wl, cid))
            jobs.append(lambda wl=wl, cid=cid: start(wl, cid))
    try:
        return in_threads(jobs)
    finally:
        in_threads([lambda wl=wl, cid=cid: stop_task(ctrd, wl, cid) for wl, cid in cids])


def one_case(spec, scenario, size, system, starts, run, log):
    """starts: [(node, workload)], all at once."""
    work = os.path.join(spec["work"], "scale", f"{scenario}-{size}-{system}-{run}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    nodes = sorted({n for n, _ in starts})
    drop_caches()
    warm_host_programs(spec)
    record = {"profile": spec["profile"], "scenario": scenario, "size": size, "system": system,
              "run": run, "nodes": len(nodes), "containers": len(starts),
              "workloads": sorted({w["name"] for _, w in starts})}
    daemons = []
    reg = None
    try:
        if system not in SYSPGO_MODES:
            # The daemons of every node start before the clock, as a
            # node's containerd is already running.
            daemons = [Containerd(spec, os.path.join(work, f"node{n}"), system.startswith("stargz"))
                       for n in nodes]
        reg = RegistryLog(spec["registry_log"])
        sampler = Sampler(PROCESS_NAMES.get(system, ["syspgo"]))
        try:
            if system in SYSPGO_MODES:
                ready = syspgo_starts(spec, system, starts, work)
            else:
                t0 = time.monotonic()
                per_node = []
                for n in nodes:
                    wls = {}
                    for node, wl in starts:
                        if node == n:
                            wls.setdefault(wl["name"], [wl, 0])[1] += 1
                    per_node.append(list(map(tuple, wls.values())))
                ready = sum(in_threads([lambda n=n, d=d, w=w: containerd_node(spec, system, n, d, w, t0)
                                        for n, d, w in zip(nodes, daemons, per_node)]), [])
            record["ok"] = True
            record["total_s"] = max(ready)
            record["first_s"] = min(ready)
        finally:
            record.update(sampler.finish())
    except Exception as e:  # a failed case is recorded, not fatal
        record["ok"] = False
        record["error"] = str(e)
    finally:
        for d in daemons:
            d.close()
    time.sleep(0.2)  # the access log is written when a response completes
    if reg is not None:
        record["registry"] = reg.since()
        record["registry_bytes_per_node"] = record["registry"]["bytes"] / len(nodes)
        record["registry_requests_per_node"] = record["registry"]["requests"] / len(nodes)
        traced = sum(w.get("traced_bytes", 0) for w in {w["name"]: w for _, w in starts}.values())
        if traced:
            record["bytes_per_node_vs_read"] = record["registry_bytes_per_node"] / traced
    if system in SYSPGO_MODES:
        for n in nodes:
            subprocess.run([spec["syspgo"], "cleanup", "--root", os.path.join(work, f"node{n}")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    subprocess.run(["sh", "-c", f"grep ' {work}' /proc/mounts | cut -d' ' -f2 | sort -r | "
                    "xargs -r -n1 umount -l"], check=False)
    shutil.rmtree(work, ignore_errors=True)
    log.write(json.dumps(record) + "\n")
    log.flush()
    status = "ok" if record["ok"] else "FAILED: " + record["error"][:300]
    reg_text = ""
    if "registry" in record:
        reg_text = (f"{record['registry']['requests']:5} requests, "
                    f"{record['registry']['bytes'] / 1e6:8.1f} MB")
    print(f"  {scenario:10} {size:3} {system:16} run {run}: last ready {record.get('total_s', 0):7.3f} s, "
          f"{reg_text}  {status}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    spec = json.load(open(ap.parse_args().spec))
    scale = spec["scale"]
    systems = [s for s in spec["systems"]
               if s in SYSPGO_MODES or s in ("containerd", "stargz", "stargz-optimized")]
    one = next((w for w in spec["workloads"] if w["ready"] == "exit"), None)
    cases = []
    if one is not None:
        cases += [("containers", n, [(0, one)] * n) for n in scale["containers"]]
        cases += [("nodes", k, [(i, one) for i in range(k)]) for k in scale["nodes"]]
    if len(spec["workloads"]) > 1:
        cases.append(("images", len(spec["workloads"]), [(0, w) for w in spec["workloads"]]))
    rng = random.Random(f"scale-{spec['profile']}")
    with open(os.path.join(spec["out"], "runs-scale.jsonl"), "a") as log:
        for scenario, size, starts in cases:
            print(f"== {scenario} {size} over {spec['profile']} ({scale['rounds']} rounds)", flush=True)
            for run in range(1, scale["rounds"] + 1):
                order = [s for s in systems
                         if not (s.startswith("stargz") and not all(w.get("esgz_image") for _, w in starts))]
                rng.shuffle(order)
                for system in order:
                    one_case(spec, scenario, size, system, starts, run, log)


if __name__ == "__main__":
    main()
