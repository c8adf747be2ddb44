#!/usr/bin/env python
"""Does FISTA-TV's unknown on a finer grid lift its own optimum above the oracle peers? Per scan: the baseline bench
(scripts/bench_lambda_ct.py at the default unknown's grid, with the peers) beside reruns of the same sinograms at
other unknown grids (`bench_lambda_ct.py --reuse BASE --regrid --tv-grid 2 --tv-grid-data fine|pixel`, or a
run of its own on the same files with `--no-peer`): each
grid's optimum and `auto` (PSNR, gap to its own optimum), whether each is above the best peer, the CPU seconds of
`auto`'s choice, and the noise's share of the baseline search's held-out misfit (the dose rule's figure: a file's
own number, no truth). Then per variant: the count above the peer and within 0.5 dB, the summed PSNR change of
`auto` against the baseline, the largest loss. A variant's run missing for a scan is left blank and out of its sums.

    python scripts/ct_unknown_grid_table.py --base OUT/bench8995_256.json OUT/bench9202_256.json \
        --runs OUT/dev/*.json --extra-peers OUT(ctfinal)/sart_more.json    # docs/ct.md "(ct256grid)"

`--extra-peers`: a JSON of {sinogram path: [PSNR, how, CPU s]} (a later peer run on the same files, e.g. ctfinal's
SART+TV to 1000 passes), matched by the file name's object_size_views_photons; the best peer takes the larger.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lambda_ct import PEERS  # noqa: E402  scripts/bench_lambda_ct.py


def scan_key(r: dict) -> tuple:
    return r["object"].split()[0], int(r["size"]), int(r["views"]), float(r["photons"])


def file_key(path: str) -> tuple:
    obj, size, views, photons = Path(path).stem.split("_")[:4]
    return obj, int(size), int(views), float(photons)


def noise_share(result: dict) -> float | None:
    """The dose rule's noise figure over the held-out misfit it was compared with, from `auto`'s record."""
    m = re.search(r"= ([\d.eE+-]+) of the held-out misfit ([\d.eE+-]+)", result["auto_cv"]["stats"].get("lam_cv_dose", ""))
    return float(m.group(1)) / float(m.group(2)) if m else None


def variant_of(result: dict) -> str:
    return "pixel grid" if int(result.get("tv_grid", 1)) == 1 else f"{result['tv_grid']}x {result['tv_grid_data']}"


def case_paths(bench: dict) -> list[str]:
    """The sinogram files a bench ran on (its --cases, as bench_lambda_ct.py stores its arguments)."""
    return re.findall(r"Path\('([^']+)'\)", bench["args"].get("cases", ""))


def collect(bases: list[Path], runs: list[Path], extra: dict) -> tuple[dict, list[str]]:
    """Scans keyed by (their baseline file, object, size, views, photons): two batches may hold the same name. A
    rerun belongs to the baseline it reused (--reuse), else to the one that ran on its sinogram file; an extra peer
    to the baseline that ran on its sinogram file."""
    scans, variants, base_of = {}, [], {}
    for path in bases:
        bench = json.loads(path.read_text())
        files = case_paths(bench)
        base_of.update({f: str(path.resolve()) for f in files})
        for r in bench["results"]:
            peer = max(r[k] for k in PEERS if r.get(k) is not None)
            peer = max([peer] + [v[0] for p, v in extra.items() if p in files and file_key(p) == scan_key(r)])
            scans[(str(path.resolve()),) + scan_key(r)] = {"peer": peer, "share": noise_share(r), "base": r,
                                                           "runs": {}}
    for path in runs:
        bench = json.loads(path.read_text())
        reuse = bench["args"].get("reuse", "None")  # a rerun with its own grid and no peers: the base of its file
        base = str(Path(reuse).resolve()) if reuse != "None" else next(
            (base_of[f] for f in case_paths(bench) if f in base_of), "")
        for r in bench["results"]:
            if (base,) + scan_key(r) not in scans:
                raise SystemExit(f"{path}: {scan_key(r)} of {base} is in no --base file")
            v = variant_of(r)
            variants += [v] if v not in variants else []
            scans[(base,) + scan_key(r)]["runs"][v] = r
    return scans, variants


def cell(r: dict, peer: float) -> str:
    a, star = r["auto_cv"], lambda q: "*" if q > peer else ""
    return (f"{r['grid_best_lam']:.3g} ({r['grid_best_psnr']:.2f}{star(r['grid_best_psnr'])}); {a['lam']:.3g} "
            f"({a['psnr']:.2f}{star(a['psnr'])}, {a['psnr'] - r['grid_best_psnr']:+.2f})")


def tables(scans: dict, variants: list[str]) -> str:
    head = ["scan", "views", "photons", "noise share", "best peer", "baseline: optimum λ (PSNR); auto λ (PSNR, gap)"]
    head += [f"{v}: optimum; auto" for v in variants] + ["CPU s of auto: baseline / " + " / ".join(variants)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (base, obj, size, views, photons), s in scans.items():
        share = "–" if s["share"] is None else f"{s['share']:.3f}"
        row = [f"{obj} {size}² ({Path(base).stem})", str(views), f"{photons:.0e}", share, f"{s['peer']:.2f}", cell(s["base"], s["peer"])]
        row += [cell(s["runs"][v], s["peer"]) if v in s["runs"] else "–" for v in variants]
        cpu = [f"{s['base']['auto_cv']['cpu_s']:.0f}"] + [f"{s['runs'][v]['auto_cv']['cpu_s']:.0f}" if v in s["runs"]
                                                          else "–" for v in variants]
        lines.append("| " + " | ".join(row + [" / ".join(cpu)]) + " |")
    lines += ["", "| variant | scans | optimum above the peer: baseline → variant | auto above the peer: baseline → "
              "variant | auto within 0.5 dB of its own optimum: baseline → variant | auto's PSNR − baseline's: summed "
              "(worst) | optimum − baseline's: summed | CPU of auto: variant / baseline |", "|---|---|---|---|---|---|---|---|"]
    for v in variants:
        both = [(s, s["runs"][v]) for s in scans.values() if v in s["runs"]]
        b_opt = sum(s["base"]["grid_best_psnr"] > s["peer"] for s, _ in both)
        v_opt = sum(r["grid_best_psnr"] > s["peer"] for s, r in both)
        b_auto = sum(s["base"]["auto_cv"]["psnr"] > s["peer"] for s, _ in both)
        v_auto = sum(r["auto_cv"]["psnr"] > s["peer"] for s, r in both)
        b_in = sum(s["base"]["auto_cv"]["psnr"] >= s["base"]["grid_best_psnr"] - 0.5 for s, _ in both)
        v_in = sum(r["auto_cv"]["psnr"] >= r["grid_best_psnr"] - 0.5 for _, r in both)
        d_auto = [r["auto_cv"]["psnr"] - s["base"]["auto_cv"]["psnr"] for s, r in both]
        d_opt = sum(r["grid_best_psnr"] - s["base"]["grid_best_psnr"] for s, r in both)
        cpu = sum(r["auto_cv"]["cpu_s"] for _, r in both) / sum(s["base"]["auto_cv"]["cpu_s"] for s, _ in both)
        lines.append(f"| {v} | {len(both)} | {b_opt} → {v_opt} | {b_auto} → {v_auto} | {b_in} → {v_in} | "
                     f"{sum(d_auto):+.2f} ({min(d_auto):+.2f}) | {d_opt:+.2f} | {cpu:.1f}× |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, nargs="+", required=True, help="the baseline benches (with the peers)")
    ap.add_argument("--runs", type=Path, nargs="*", default=[], help="--regrid reruns at other unknown grids")
    ap.add_argument("--extra-peers", type=Path, default=None, help="{sinogram path: [PSNR, how, CPU s]}")
    args = ap.parse_args(argv)
    extra = json.loads(args.extra_peers.read_text()) if args.extra_peers else {}
    print(tables(*collect(args.base, args.runs, extra)))


if __name__ == "__main__":
    main()
