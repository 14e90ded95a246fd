#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the cold starts of bench/coldstart.sh and records each as one JSON
line. Not meant to be run alone: coldstart.sh sets up the link, the
registry, the images and their runtime images, then calls

  coldstart.py --spec SPEC.json

SPEC: {syspgo, baseline, registry, registry_log, profile, link_rate_bps,
       rtt_ms, out, runs, warm_runs, systems: [...], work, containerd: {...},
       access: {kind: plain | tls-token, certs_dir, authfile, user, password},
       workloads: [{name, image, base_image, esgz_image, ready, traced_bytes,
                    blob_bytes}]}
A system "MODE@base" is `baseline run --mode MODE base_image`: another
syspgo build (say, the last release) on its own copy of the image, with a
runtime image it built, timed in the same run as this one.

Per start, cold as a real node has it: the page cache dropped, then the
host's own programs (runc, containerd and its shim, ctr, ctr-remote, the
snapshotters, syspgo, the registry, and their libraries) read back in, so
that only the image's data is cold; fresh store/state directories. Every
system is timed the same way, by this harness's clock: from the exec of
the start command to the readiness event it observes itself (a TCP
connect to the port; for a command that exits, its exit: `ctr task start`
returning, or syspgo's line reporting the exit, printed before it tears
the container down). syspgo's own phase times are kept as a breakdown
(`internal`). Systems run in a shuffled order in every round. Also:
registry requests and bytes (from the registry's access log, the same for
every system), peak page-cache growth and peak RSS of the system's own
processes (sampled every 20 ms).
"""
import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

ACCESS = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/[\d.]+" (\d{3}) (\d+|-)')


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


HOST_PROGRAMS = ["runc", "containerd", "containerd-shim-runc-v2", "ctr", "docker-registry", "skopeo"]


def host_program_files(spec):
    """The host's own programs and their shared libraries (ldd), once."""
    if "_host_files" in spec:
        return spec["_host_files"]
    paths = [shutil.which(p) for p in HOST_PROGRAMS]
    paths += [spec["syspgo"], os.path.join(os.path.dirname(spec["syspgo"]), "syspgo-snapshotter"),
              os.path.join(os.path.dirname(spec["syspgo"]), "syspgo-containerd-pull")]
    if spec.get("baseline"):
        paths.append(spec["baseline"])
    for key in ("stargz_snapshotter", "ctr_remote"):
        if spec["containerd"].get(key):
            paths.append(spec["containerd"][key])
    files = set()
    for p in paths:
        if not p or not os.path.exists(p):
            continue
        files.add(os.path.realpath(p))
        ldd = subprocess.run(["ldd", p], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in ldd.stdout.splitlines():
            parts = line.split("=>")
            lib = (parts[1] if len(parts) > 1 else parts[0]).split("(")[0].strip()
            if lib.startswith("/") and os.path.exists(lib):
                files.add(os.path.realpath(lib))
    spec["_host_files"] = sorted(files)
    return spec["_host_files"]


def warm_host_programs(spec):
    """Reads the host's own programs and their shared libraries into the
    page cache (a serving node has them warm; the benchmark's cold state is
    the image's data only)."""
    for f in host_program_files(spec):
        with open(f, "rb") as fh:
            while fh.read(1 << 20):
                pass


def cached_kb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Cached:"):
                return int(line.split()[1])
    return 0


def rss_kb_of(names):
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            if comm not in names:
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


class Sampler:
    """Peak page-cache growth and peak RSS of processes named `names`."""

    def __init__(self, names):
        self.names = set(names)
        self.base = cached_kb()
        self.peak_cached = 0
        self.peak_rss = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            self.peak_cached = max(self.peak_cached, cached_kb() - self.base)
            self.peak_rss = max(self.peak_rss, rss_kb_of(self.names))
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.thread.join()
        return {"page_cache_mb": self.peak_cached / 1024, "rss_mb": self.peak_rss / 1024}


class RegistryLog:
    def __init__(self, path):
        self.path = path
        self.mark = os.path.getsize(path)

    def since(self):
        requests = 0
        nbytes = 0
        with open(self.path, "rb") as f:
            f.seek(self.mark)
            for raw in f:
                m = ACCESS.search(raw.decode("utf-8", "replace"))
                if not m:
                    continue
                requests += 1
                if m.group(4) != "-":
                    nbytes += int(m.group(4))
        return {"requests": requests, "bytes": nbytes}


def syspgo_registry_args(spec):
    """How syspgo reaches the registry: plain HTTP, or (LINK_ACCESS=tls-token)
    the hosts directory with its CA and the docker config with the login."""
    access = spec.get("access") or {}
    if access.get("kind") == "tls-token":
        return ["--certs-dir", access["certs_dir"], "--authfile", access["authfile"]]
    return ["--insecure-registry", spec["registry"]]


def ctr_registry_args(spec):
    """The same for ctr and ctr-remote (containerd's own flags)."""
    access = spec.get("access") or {}
    if access.get("kind") == "tls-token":
        return ["--hosts-dir", access["certs_dir"], "--user", f"{access['user']}:{access['password']}"]
    return ["--plain-http"]


def stargz_registry_args(spec):
    """The same for the stargz snapshotter (bench/stargz/main.go)."""
    access = spec.get("access") or {}
    if access.get("kind") == "tls-token":
        return ["--hosts-dir", access["certs_dir"], "--authfile", access["authfile"]]
    return ["--insecure", spec["registry"]]


def stop(process, timeout):
    """SIGTERM, then SIGKILL after `timeout` seconds; reaped either way."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_tcp(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05):
                return True
        except OSError:
            time.sleep(0.002)
    return False


def port_free(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05):
                time.sleep(0.05)
        except OSError:
            return True
    return False


def run_syspgo(spec, wl, system, root, timing, harness_clock=True):
    """`syspgo run`, timed by this harness: from the exec to the port
    answering (the run stays attached with --keep-running and is then
    interrupted) or to syspgo's line reporting the container's exit."""
    # "MODE@base": the baseline syspgo binary (--baseline), on its own copy
    # of the image with its own runtime image.
    mode, _, base = system.partition("@")
    binary, image = (spec["baseline"], wl["base_image"]) if base else (spec["syspgo"], wl["image"])
    tcp = wl["ready"].startswith("tcp:")
    cmd = [binary, "run", "--root", root, "--mode", mode,
           *syspgo_registry_args(spec), "--timing-json", timing,
           "--ready", wl["ready"], "--timeout", "600"]
    if tcp and harness_clock:
        cmd.append("--keep-running")
    cmd.append(image)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    ready_at = None
    if tcp and harness_clock:
        if wait_tcp(int(wl["ready"].split(":")[1]), time.monotonic() + 600):
            ready_at = time.monotonic()
        p.send_signal(2)  # SIGINT: stop the container, tear down
        output.append(p.stdout.read())
    else:
        for line in p.stdout:
            output.append(line)
            if ready_at is None and line.startswith("syspgo: deploy "):
                ready_at = time.monotonic()
    p.wait()
    process_s = time.monotonic() - t0
    text = "".join(output)
    ok_codes = (0, 130) if tcp and harness_clock else (0,)
    if p.returncode not in ok_codes or (harness_clock and ready_at is None):
        raise RuntimeError(f"syspgo run --mode {system} failed ({p.returncode}): {text[-2000:]}")
    with open(timing) as f:
        t = json.load(f)
    internal = {"deploy_s": t["deploy_s"], "running_s": t["running_s"], "ready_s": t["ready_s"],
                "total_s": t["total_s"]}
    total = ready_at - t0 if harness_clock else t["total_s"]
    # The phases in the table: syspgo's own, with Ready stretched to the
    # harness's Total (process start-up and the harness's own observation).
    return {"deploy_s": t["deploy_s"], "running_s": t["running_s"],
            "ready_s": total - t["deploy_s"] - t["running_s"], "total_s": total,
            "internal": internal, "process_s": process_s, "fs": t.get("fs")}


class Containerd:
    """A containerd of our own (fresh root and state), optionally with the
    stargz snapshotter or the syspgo snapshotter (fresh store) as a proxy
    plugin, all our children."""

    def __init__(self, spec, work, stargz, syspgo=False):
        self.spec = spec
        self.work = work
        self.sock = os.path.join(work, "containerd.sock")
        self.procs = []
        os.makedirs(work, exist_ok=True)
        cfg = os.path.join(work, "config.toml")
        lines = ['version = 2', f'root = "{work}/root"', f'state = "{work}/state"',
                 '[grpc]', f'  address = "{self.sock}"']
        if stargz:
            ss = os.path.join(work, "stargz.sock")
            lines += ['[proxy_plugins]', '  [proxy_plugins.stargz]', '    type = "snapshot"',
                      f'    address = "{ss}"']
            self.procs.append(subprocess.Popen(
                [spec["containerd"]["stargz_snapshotter"], "--address", ss, "--root",
                 os.path.join(work, "stargz"), *stargz_registry_args(spec)],
                stdout=open(os.path.join(work, "stargz.log"), "w"), stderr=subprocess.STDOUT))
            self.wait_socket(ss)
        if syspgo:
            ss = os.path.join(work, "syspgo.sock")
            lines += ['[proxy_plugins]', '  [proxy_plugins.syspgo]', '    type = "snapshot"',
                      f'    address = "{ss}"']
            self.procs.append(subprocess.Popen(
                [spec["syspgo"], "snapshotter", "--address", ss, "--root",
                 os.path.join(work, "syspgo"), *syspgo_registry_args(spec)],
                stdout=open(os.path.join(work, "syspgo.log"), "w"), stderr=subprocess.STDOUT))
            self.wait_socket(ss)
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.procs.append(subprocess.Popen(
            ["containerd", "--config", cfg], stdout=open(os.path.join(work, "containerd.log"), "w"),
            stderr=subprocess.STDOUT))
        self.wait_socket(self.sock)

    @staticmethod
    def wait_socket(path):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(path):
                return
            time.sleep(0.01)
        raise RuntimeError(f"{path} did not appear")

    def ctr(self, *args, tool="ctr", check=True, capture=True):
        cmd = [tool, "--address", self.sock, "-n", "bench", *args]
        p = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None,
                           stderr=subprocess.STDOUT if capture else None, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {p.stdout[-2000:] if p.stdout else ''}")
        return p

    def log_tail(self):
        tail = ""
        for name in ("stargz.log", "syspgo.log", "containerd.log"):
            path = os.path.join(self.work, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    tail += f"--- {name}:\n" + "".join(f.readlines()[-15:])
        return tail

    def close(self):
        for p in reversed(self.procs):
            stop(p, 20)
        # containerd leaves its shims' mounts behind when stopped.
        subprocess.run(["sh", "-c", f"grep ' {self.work}' /proc/mounts | cut -d' ' -f2 | "
                        "sort -r | xargs -r -n1 umount -l"], check=False)


def start_task(ctrd, wl, cid):
    """`ctr task start` of a created container until it is ready: its exit,
    or its port answering."""
    if wl["ready"] == "exit":
        p = ctrd.ctr("task", "start", cid, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"ctr task start {cid}: {p.returncode}: {p.stdout[-2000:]}")
    else:
        port = int(wl["ready"].split(":")[1])
        ctrd.ctr("task", "start", "-d", cid)
        if not wait_tcp(port, time.monotonic() + 600):
            raise RuntimeError(f"port {port} never answered")


def stop_task(ctrd, wl, cid):
    """Kills a server's task, waits for its port to close; deletes the
    container."""
    if wl["ready"] != "exit":
        ctrd.ctr("task", "kill", "-s", "KILL", cid, check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if ctrd.ctr("task", "delete", cid, check=False).returncode == 0:
                break
            time.sleep(0.05)
        port_free(int(wl["ready"].split(":")[1]))
    ctrd.ctr("container", "delete", cid, check=False)


def run_containerd(spec, wl, system, work):
    """containerd's own start (ctr pull + create + start), timed from here:
    containerd (overlayfs), stargz (ctr-remote rpull of the eStargz image),
    containerd+syspgo (`syspgo pull --containerd-address`, then ctr with
    the syspgo snapshotter). The daemons start before the clock."""
    stargz = system.startswith("stargz")
    syspgo = system == "containerd+syspgo"
    ctrd = Containerd(spec, work, stargz, syspgo)
    cid = "bench"
    image = wl["image"]
    try:
        t0 = time.monotonic()
        if stargz:
            image = wl["esgz_opt_image"] if system == "stargz-optimized" else wl["esgz_image"]
            ctrd.ctr("image", "rpull", *ctr_registry_args(spec), image,
                     tool=spec["containerd"]["ctr_remote"])
        elif syspgo:
            p = subprocess.run([spec["syspgo"], "pull", "--containerd-address", ctrd.sock,
                                "--namespace", "bench", *syspgo_registry_args(spec),
                                wl["image"]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
            if p.returncode != 0:
                raise RuntimeError(f"syspgo pull --containerd-address: {p.stdout[-2000:]}")
        else:
            ctrd.ctr("image", "pull", *ctr_registry_args(spec), wl["image"])
            image = wl["image"]
        t1 = time.monotonic()
        snap = ["--snapshotter", "stargz"] if stargz else ["--snapshotter", "syspgo"] if syspgo else []
        ctrd.ctr("container", "create", "--net-host", *snap, image, cid)
        t2 = time.monotonic()
        start_task(ctrd, wl, cid)
        t3 = time.monotonic()
        stop_task(ctrd, wl, cid)
        return {"deploy_s": t1 - t0, "running_s": t2 - t1, "ready_s": t3 - t2, "total_s": t3 - t0}
    except RuntimeError as e:
        raise RuntimeError(f"{e}\n{ctrd.log_tail()}") from None
    finally:
        if syspgo:
            # The image's snapshots hold its shared mount: removing the
            # image ends it.
            ctrd.ctr("container", "delete", cid, check=False)
            ctrd.ctr("image", "rm", "--sync", image, check=False)
        ctrd.close()


SYSPGO_MODES = {"full", "lazy", "prefetch", "rtimage"}
PROCESS_NAMES = {"containerd": ["containerd", "ctr"],
                 "stargz": ["containerd", "ctr", "ctr-remote", "containerd-stargz-grpc"],
                 "stargz-optimized": ["containerd", "ctr", "ctr-remote", "containerd-stargz-grpc"],
                 "containerd+syspgo": ["containerd", "ctr", "syspgo", "syspgo-containe"]}


def one_start(spec, wl, system, run, log):
    base = os.path.join(spec["work"], "starts", f"{wl['name']}-{system}-{run}")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    drop_caches()
    warm_host_programs(spec)
    reg = RegistryLog(spec["registry_log"])
    sampler = Sampler(PROCESS_NAMES.get(system, ["syspgo"]))
    record = {"profile": spec["profile"], "workload": wl["name"], "system": system, "run": run}
    try:
        if system.partition("@")[0] in SYSPGO_MODES:
            record.update(run_syspgo(spec, wl, system, os.path.join(base, "root"),
                                     os.path.join(base, "timing.json")))
        else:
            record.update(run_containerd(spec, wl, system, os.path.join(base, "ctrd")))
        record["ok"] = True
    except Exception as e:  # a failed start is recorded, not fatal
        record["ok"] = False
        record["error"] = str(e)
    record.update(sampler.finish())
    # The access log is written when a response completes: give it a moment.
    time.sleep(0.2)
    record["registry"] = reg.since()
    if wl.get("traced_bytes"):
        record["io_amplification"] = record["registry"]["bytes"] / wl["traced_bytes"]
    if system.partition("@")[0] in SYSPGO_MODES:
        subprocess.run([spec["syspgo"], "cleanup", "--root", os.path.join(base, "root")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    shutil.rmtree(base, ignore_errors=True)
    log.write(json.dumps(record) + "\n")
    log.flush()
    status = "ok" if record["ok"] else "FAILED: " + record["error"][:300]
    print(f"  {wl['name']:13} {system:10} run {run}: total {record.get('total_s', 0):7.3f} s, "
          f"{record['registry']['requests']:4} requests, "
          f"{record['registry']['bytes'] / 1e6:8.1f} MB  {status}", flush=True)


def warm_starts(spec, wl, log):
    """Warm: everything local and in the page cache, interleaved. full: the
    layers in the store; rtimage: the chunks in the chunk store, a new mount
    per start (re-pushed); rtimage-shared: through the node's shared mount
    (`syspgo mount --shared`), as every start after the first would run."""
    base = os.path.join(spec["work"], "warm", wl["name"])
    shutil.rmtree(base, ignore_errors=True)
    roots = {s: os.path.join(base, s) for s in ("full", "rtimage", "rtimage-shared")}
    modes = {"full": "full", "rtimage": "rtimage", "rtimage-shared": "rtimage"}
    timing = os.path.join(base, "timing.json")
    daemon = None
    try:
        for system in roots:  # fills stores and page cache
            run_syspgo(spec, wl, modes[system], roots[system], timing)
        daemon = subprocess.Popen(
            [spec["syspgo"], "mount", "--shared", "--root", roots["rtimage-shared"],
             *syspgo_registry_args(spec), wl["image"]],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in daemon.stdout:
            if line.startswith("settled"):
                break
        run_syspgo(spec, wl, "rtimage", roots["rtimage-shared"], timing)  # warms the mount
        for i in range(1, spec["warm_runs"] + 1):
            for system in roots:
                t = run_syspgo(spec, wl, modes[system], roots[system], timing)
                if system == "rtimage-shared" and not json.load(open(timing)).get("shared_mount"):
                    raise RuntimeError("the start did not use the shared mount")
                log.write(json.dumps({"profile": spec["profile"], "workload": wl["name"],
                                      "system": system, "warm": True, "run": i, "ok": True,
                                      "total_s": t["total_s"], "deploy_s": t["deploy_s"],
                                      "running_s": t["running_s"],
                                      "ready_s": t["ready_s"]}) + "\n")
                log.flush()
    except RuntimeError as e:
        print(f"  warm starts of {wl['name']} failed: {e}", file=sys.stderr)
    finally:
        if daemon is not None:
            stop(daemon, 30)
        for root in roots.values():
            subprocess.run([spec["syspgo"], "cleanup", "--root", root],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    spec = json.load(open(ap.parse_args().spec))
    with open(os.path.join(spec["out"], "runs.jsonl"), "a") as log:
        for wl in spec["workloads"]:
            print(f"== {wl['name']} over {spec['profile']} ({spec['runs']} cold runs per system)",
                  flush=True)
            # Interleaved: run r of every system, then run r+1, so drift in
            # the machine's state hits all systems alike; in a shuffled
            # order every round, so that no system is always first.
            rng = random.Random(f"{wl['name']}-{spec['profile']}")
            for run in range(1, spec["runs"] + 1):
                order = [s for s in spec["systems"]
                         if not (s.startswith("stargz") and not wl.get("esgz_image"))]
                rng.shuffle(order)
                for system in order:
                    one_start(spec, wl, system, run, log)
            warm_starts(spec, wl, log)


if __name__ == "__main__":
    main()
