#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns bench/coldstart.sh's runs.jsonl into medians (results.json), one
Markdown table per link profile (table-<profile>.md) and one SVG chart per
profile (chart-<profile>.svg: stacked Deploy/Running/Ready bars per system,
one scale per workload).

  report.py OUTDIR
"""
import json
import os
import statistics
import sys

SYSTEM_NAMES = {
    "full": "full (syspgo pull+run)",
    "containerd": "containerd 1.6 (ctr)",
    "stargz": "stargz snapshotter (eStargz)",
    "stargz-optimized": "stargz snapshotter (optimized eStargz)",
    "containerd+syspgo": "containerd 1.6 + syspgo snapshotter (ctr)",
    "lazy": "syspgo lazy",
    "prefetch": "syspgo prefetch",
    "rtimage": "syspgo rtimage",
    "lazy@base": "syspgo lazy, baseline build",
    "rtimage@base": "syspgo rtimage, baseline build",
}
ORDER = ["full", "containerd", "stargz", "stargz-optimized", "containerd+syspgo", "lazy@base", "lazy", "prefetch", "rtimage@base",
         "rtimage"]
COLORS = {"deploy_s": "#4e79a7", "running_s": "#f28e2b", "ready_s": "#59a14f"}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(out):
    runs = [json.loads(l) for l in open(os.path.join(out, "runs.jsonl")) if l.strip()]
    specs = {}
    for name in os.listdir(out):
        if name.startswith("spec-") and name.endswith(".json"):
            spec = json.load(open(os.path.join(out, name)))
            specs[spec["profile"]] = spec
    results = {}
    for profile, spec in specs.items():
        per_wl = {}
        for wl in spec["workloads"]:
            mine = [r for r in runs if r["profile"] == profile and r["workload"] == wl["name"]]
            warm = {s: median([r["total_s"] for r in mine if r.get("warm") and r["system"] == s])
                    for s in ("full", "rtimage", "rtimage-shared")}
            systems = {}
            for s in ORDER:
                cold = [r for r in mine if r["system"] == s and not r.get("warm")]
                ok = [r for r in cold if r.get("ok")]
                if not cold:
                    continue
                entry = {"runs": len(ok), "failed": len(cold) - len(ok),
                         "errors": [r.get("error", "") for r in cold if not r.get("ok")][:3]}
                for k in ("deploy_s", "running_s", "ready_s", "total_s", "page_cache_mb", "rss_mb",
                          "io_amplification"):
                    entry[k] = median([r.get(k) for r in ok])
                entry["requests"] = median([r["registry"]["requests"] for r in ok])
                entry["mb_fetched"] = median([r["registry"]["bytes"] / 1e6 for r in ok])
                systems[s] = entry
            # The floor: a start can overlap the transfer of what the
            # container reads with the start itself, but cannot be faster
            # than either, and needs at least one round trip before data.
            limit = None
            fresh = None
            access = (spec.get("access") or {}).get("kind", "plain")
            if warm["full"] is not None:
                limit = (max(warm["full"], wl["traced_bytes"] * 8 / spec["link_rate_bps"]) +
                         spec["rtt_ms"] / 1000)
                fresh = fresh_node_floor(warm["full"], min(wl["traced_bytes"], wl["blob_bytes"]),
                                         spec["link_rate_bps"], spec["rtt_ms"] / 1000, access)
            rt = systems.get("rtimage", {}).get("total_s")
            for entry in systems.values():
                t = entry.get("total_s")
                entry["vs_rtimage"] = t / rt if t and rt else None
                entry["vs_limit"] = t / limit if t and limit else None
                entry["vs_fresh_floor"] = t / fresh if t and fresh else None
            per_wl[wl["name"]] = {"fresh_floor_s": fresh, "access": access,
                                  "warm_full_s": warm["full"], "warm_rtimage_s": warm["rtimage"],
                                  "warm_rtimage_shared_s": warm["rtimage-shared"],
                                  "physical_limit_s": limit, "blob_bytes": wl["blob_bytes"],
                                  "traced_bytes": wl["traced_bytes"], "systems": systems}
        results[profile] = {"link_rate_bps": spec["link_rate_bps"], "rtt_ms": spec["rtt_ms"],
                            "notes": spec.get("notes", []), "workloads": per_wl}
    return results


# Round trips a start on a fresh node (no connection, no token) cannot
# avoid before its first byte of data, by how the registry is reached: a
# TCP handshake; with TLS 1.3 one more; with token auth the challenge (the
# first request's 401), then the token service's TCP and TLS handshakes and
# the token request; then the manifest.
HANDSHAKE_RTTS = {"plain": 1, "tls-token": 1 + 1 + 1 + 3}


def slow_start_rounds(nbytes, window=4096 * 1024, mss=1460, initial=10):
    """Round trips one new TCP connection needs to deliver nbytes: it starts
    at `initial` segments and doubles per round trip up to `window` (the
    link relay's LINK_WINDOW_KB)."""
    w, sent, rounds = initial * mss, 0, 0
    while sent < nbytes:
        sent += w
        rounds += 1
        w = min(2 * w, window)
    return rounds


def fresh_node_floor(warm_s, nbytes, rate_bps, rtt_s, access):
    """The extended floor for a start on a fresh node: the handshakes and
    the manifest (HANDSHAKE_RTTS + 1 round trips), then the longest of the
    warm start, the bytes at the link's rate, and the slow-start rounds a
    new connection needs for them."""
    rtts = HANDSHAKE_RTTS.get(access, 1) + 1
    return rtts * rtt_s + max(warm_s, nbytes * 8 / rate_bps, slow_start_rounds(nbytes) * rtt_s)


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v, digits=3, suffix=""):
    if v is None:
        return "-"
    return f"{v:.{digits}f}{suffix}"


def table(profile, res):
    lines = [f"## Cold start over the {profile} link (RTT {res['rtt_ms']} ms)", ""]
    for note in res["notes"]:
        lines += [f"Note: {note}.", ""]
    for name, wl in res["workloads"].items():
        lines += [f"### {name} ({profile})", "",
                  f"Warm start {fmt(wl['warm_full_s'])} s (full); rtimage warm: through the shared "
                  f"mount {fmt(wl['warm_rtimage_shared_s'])} s "
                  f"({fmt(ratio(wl['warm_rtimage_shared_s'], wl['warm_full_s']), 3, 'x')} full), "
                  f"own mount {fmt(wl['warm_rtimage_s'])} s "
                  f"({fmt(ratio(wl['warm_rtimage_s'], wl['warm_full_s']), 3, 'x')}); "
                  f"runtime image {wl['blob_bytes'] / 1e6:.1f} MB; "
                  f"the container read {wl['traced_bytes'] / 1e6:.1f} MB; floor "
                  f"{fmt(wl['physical_limit_s'])} s (max(warm start, bytes read / link rate) + 1 RTT); "
                  f"fresh-node floor {fmt(wl['fresh_floor_s'])} s ({wl['access']}: "
                  f"{HANDSHAKE_RTTS.get(wl['access'], 1)} handshake RTTs + the manifest, then "
                  "max(warm start, bytes / link rate, slow-start rounds of one new connection)). "
                  "Totals: the harness's clock from the exec of the start command to the readiness "
                  "it observes.", "",
                  "| system | Deploy s | Running s | Ready s | Total s | vs rtimage | vs floor | "
                  "vs fresh floor | requests | MB fetched | I/O amp. | page cache MB | RSS MB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in ORDER:
            e = wl["systems"].get(s)
            if e is None:
                continue
            failed = f" ({e['failed']} failed)" if e["failed"] else ""
            lines.append(
                f"| {SYSTEM_NAMES[s]}{failed} | {fmt(e['deploy_s'])} | {fmt(e['running_s'])} | "
                f"{fmt(e['ready_s'])} | **{fmt(e['total_s'])}** | {fmt(e['vs_rtimage'], 2, 'x')} | "
                f"{fmt(e['vs_limit'], 2, 'x')} | {fmt(e.get('vs_fresh_floor'), 2, 'x')} | "
                f"{fmt(e['requests'], 0)} | {fmt(e['mb_fetched'], 1)} | "
                f"{fmt(e['io_amplification'], 2)} | {fmt(e['page_cache_mb'], 0)} | "
                f"{fmt(e['rss_mb'], 0)} |")
        lines.append("")
    return "\n".join(lines)


def chart(profile, res):
    row_h, gap, left, width = 18, 26, 190, 560
    rows = sum(len(wl["systems"]) for wl in res["workloads"].values())
    height = 40 + rows * row_h + len(res["workloads"]) * (gap + 18) + 30
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           f'<text x="10" y="20" font-size="14">Cold start over the {profile} link: '
           'Deploy / Running / Ready (s)</text>']
    x0 = left
    for i, (k, label) in enumerate([("deploy_s", "Deploy"), ("running_s", "Running"),
                                    ("ready_s", "Ready")]):
        svg.append(f'<rect x="{x0 + i * 90}" y="28" width="12" height="12" fill="{COLORS[k]}"/>'
                   f'<text x="{x0 + i * 90 + 16}" y="38">{label}</text>')
    y = 60
    for name, wl in res["workloads"].items():
        totals = [e["total_s"] for e in wl["systems"].values() if e.get("total_s")]
        scale = width / max(totals) if totals else 1
        svg.append(f'<text x="10" y="{y + 12}" font-weight="bold">{name}</text>')
        y += 18
        for s in ORDER:
            e = wl["systems"].get(s)
            if e is None or e.get("total_s") is None:
                continue
            svg.append(f'<text x="10" y="{y + 13}">{SYSTEM_NAMES[s]}</text>')
            x = left
            for k in ("deploy_s", "running_s", "ready_s"):
                w = (e.get(k) or 0) * scale
                svg.append(f'<rect x="{x:.1f}" y="{y + 2}" width="{max(w, 0.5):.1f}" height="{row_h - 4}" '
                           f'fill="{COLORS[k]}"/>')
                x += w
            svg.append(f'<text x="{x + 4:.1f}" y="{y + 13}">{e["total_s"]:.3f}</text>')
            y += row_h
        if wl.get("physical_limit_s"):
            lx = left + wl["physical_limit_s"] * scale
            svg.append(f'<line x1="{lx:.1f}" y1="{y - len(wl["systems"]) * row_h}" x2="{lx:.1f}" '
                       f'y2="{y}" stroke="#e15759" stroke-dasharray="3,2"/>')
        y += gap
    svg.append(f'<text x="10" y="{height - 10}" fill="#e15759">dashed: the floor '
               '(each workload has its own scale)</text></svg>')
    return "\n".join(svg)


def link_order(results):
    """The profiles, fastest link first, then the shorter round trip."""
    return sorted(results, key=lambda p: (-results[p]["link_rate_bps"], results[p]["rtt_ms"]))


def summary_table(results):
    """Every profile side by side: per workload and system, the Total and
    its ratio to rtimage's in the same profile."""
    profiles = link_order(results)
    if len(profiles) < 2:
        return ""
    head = " | ".join(f"{p} ({results[p]['rtt_ms']} ms)" for p in profiles)
    lines = ["## Totals on every link (medians; in brackets: x rtimage's Total on that link)", "",
             f"| workload | system | {head} |", "|---|---|" + "---|" * len(profiles)]
    names = []
    for p in profiles:
        names += [n for n in results[p]["workloads"] if n not in names]
    for name in names:
        for s in ORDER:
            cells = []
            for p in profiles:
                e = results[p]["workloads"].get(name, {}).get("systems", {}).get(s)
                if e is None or e.get("total_s") is None:
                    cells.append("-")
                    continue
                cell = f"{e['total_s']:.3f}"
                if s != "rtimage" and e.get("vs_rtimage"):
                    cell += f" ({e['vs_rtimage']:.1f}x)"
                elif s == "rtimage" and e.get("vs_limit"):
                    cell = f"**{cell}** ({e['vs_limit']:.2f}x floor)"
                cells.append(cell)
            if any(c != "-" for c in cells):
                lines.append(f"| {name} | {SYSTEM_NAMES[s]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def rtt_table(results):
    """How each system's Total grows with the round trip: every profile
    RATE@MS against RATE (same link rate, the default round trip)."""
    lines = []
    for profile in link_order(results):
        res = results[profile]
        base_name = profile.partition("@")[0]
        base = results.get(base_name)
        if "@" not in profile or base is None:
            continue
        extra_ms = res["rtt_ms"] - base["rtt_ms"]
        lines += [f"## Total against the round trip: {base_name} at {base['rtt_ms']} ms and "
                  f"{res['rtt_ms']} ms", "",
                  "Growth in ms and in added round trips ((Total at the long RTT - Total at the "
                  "short one) / RTT difference).", "",
                  f"| workload | system | Total s, {base['rtt_ms']} ms | Total s, {res['rtt_ms']} ms "
                  "| growth ms | in RTTs |",
                  "|---|---|---|---|---|---|"]
        for name, wl in res["workloads"].items():
            short = base["workloads"].get(name)
            if short is None:
                continue
            for s in ORDER:
                a = short["systems"].get(s, {}).get("total_s")
                b = wl["systems"].get(s, {}).get("total_s")
                if a is None or b is None:
                    continue
                grow = (b - a) * 1000
                lines.append(f"| {name} | {SYSTEM_NAMES[s]} | {a:.3f} | {b:.3f} | {grow:+.0f} | "
                             f"{grow / extra_ms:+.1f} |")
        lines.append("")
    return "\n".join(lines)


def scale_tables(out):
    """runs-scale.jsonl (bench/lib/scale.py): medians per (profile,
    scenario, size, system), one Markdown table per profile."""
    runs = [json.loads(l) for l in open(os.path.join(out, "runs-scale.jsonl")) if l.strip()]
    texts = {}
    for profile in sorted({r["profile"] for r in runs}):
        lines = [f"## How the cost grows ({profile} link)", "",
                 "Medians over rounds. Total: the harness's clock from the first exec to the last "
                 "container's readiness. Bytes and requests: the registry's access log; per node for "
                 "nodes; 'vs read': registry bytes per node over the bytes the containers read "
                 "(traced).", "",
                 "| scenario | system | runs | last ready s | first ready s | requests/node | "
                 "MB/node | vs read | page cache MB | RSS MB |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        mine = [r for r in runs if r["profile"] == profile]
        keys = []
        for r in mine:
            k = (r["scenario"], r["size"], r["system"])
            if k not in keys:
                keys.append(k)
        scen_order = {"containers": 0, "images": 1, "nodes": 2}
        keys.sort(key=lambda k: (scen_order.get(k[0], 9), k[1], ORDER.index(k[2]) if k[2] in ORDER else 99))
        for scen, size, system in keys:
            cases = [r for r in mine if (r["scenario"], r["size"], r["system"]) == (scen, size, system)]
            ok = [r for r in cases if r.get("ok")]
            failed = len(cases) - len(ok)
            label = {"containers": f"{size} container{'s' if size > 1 else ''}, 1 node", "images": f"{size} images, 1 node",
                     "nodes": f"{size} node{'s' if size > 1 else ''}, 1 container each"}.get(scen, f"{scen} {size}")
            mb = median([r["registry_bytes_per_node"] / 1e6 for r in ok if "registry_bytes_per_node" in r])
            lines.append(
                f"| {label} | {SYSTEM_NAMES.get(system, system)} | {len(ok)}"
                f"{f' ({failed} failed)' if failed else ''} | "
                f"**{fmt(median([r.get('total_s') for r in ok]))}** | "
                f"{fmt(median([r.get('first_s') for r in ok]))} | "
                f"{fmt(median([r.get('registry_requests_per_node') for r in ok]), 1)} | "
                f"{fmt(mb, 1)} | {fmt(median([r.get('bytes_per_node_vs_read') for r in ok]), 2, 'x')} | "
                f"{fmt(median([r.get('page_cache_mb') for r in ok]), 0)} | "
                f"{fmt(median([r.get('rss_mb') for r in ok]), 0)} |")
            errors = [r.get("error", "") for r in cases if not r.get("ok")]
            if errors:
                why = " ".join(errors[0].split())[:200].replace("|", "/")
                lines.append(f"| | failed: {why} | | | | | | | | |")
        texts[profile] = "\n".join(lines) + "\n"
    return texts


def main():
    out = sys.argv[1]
    if os.path.exists(os.path.join(out, "runs-scale.jsonl")):
        for profile, md in scale_tables(out).items():
            open(os.path.join(out, f"table-scale-{profile}.md"), "w").write(md)
            print(md)
    if not os.path.exists(os.path.join(out, "runs.jsonl")):
        return
    results = summarize(out)
    json.dump(results, open(os.path.join(out, "results.json"), "w"), indent=1)
    for profile, res in results.items():
        md = table(profile, res)
        open(os.path.join(out, f"table-{profile}.md"), "w").write(md + "\n")
        open(os.path.join(out, f"chart-{profile}.svg"), "w").write(chart(profile, res) + "\n")
        print(md)
        print(f"chart: {os.path.join(out, f'chart-{profile}.svg')}")
    summary = summary_table(results)
    if summary:
        open(os.path.join(out, "table-summary.md"), "w").write(summary)
        print(summary)
    rtt = rtt_table(results)
    if rtt:
        open(os.path.join(out, "table-rtt.md"), "w").write(rtt + "\n")
        print(rtt)


if __name__ == "__main__":
    main()
