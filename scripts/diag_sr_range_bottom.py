#!/usr/bin/env python
"""Where `problem.lambda_f=auto` ends at problem.lam_range's bottom (issue 16, srclock): the user's command on
kept frame sets against bicubic, and the stored runs that ended there.

    PYTHONPATH=CODE python scripts/diag_sr_range_bottom.py --sets OUT/frames/SET.npz ... --out OUT/code.json \\
        [--extra problem.frames_level=false]
    python scripts/diag_sr_range_bottom.py --compare OUT/main.json OUT/branch.json
    python scripts/diag_sr_range_bottom.py --survey RUNS ...

--sets: per set, bicubic upsampling of frame 0 (bench_lambda_sr.bicubic_psnr) and the README's command
(heldout_sr_wide.readme_run: a subprocess of the regrun on PYTHONPATH, truth and true motion only to judge) with the
--extra overrides; from its metrics the PSNR, the chosen and first weights, lam_at_range_edge and the frames check,
and from its results.h5 whether the marginal likelihood's floor bound (stats/lam_floor_rule), the weights its
search solved (tables/lam_curve) and the reconstruction's path. --compare: two such files side by side, the
answers' difference in dB and whether the reconstructions are equal as floats. --survey: every super-resolution
run folder (metrics.json) under the folders: those whose weight is the range's bottom or whose frames check, all
held-out frames or any one, is 1 or more (no better than bicubic), with their PSNR where a truth was given.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout_sr_wide import readme_run  # noqa: E402  scripts/heldout_sr_wide.py


def run_sets(sets: list[Path], out: Path, extra: tuple[str, ...]) -> None:
    from bench_lambda_sr import bicubic_psnr
    from diag_sr_solve_history import user_problem

    rows = []
    for frames in sets:
        run_dir = out.with_suffix("") / frames.stem
        r = readme_run(frames, 2, frames, frames, run_dir, extra)
        if r["rc"] != 0:
            raise SystemExit(f"{frames.name}: rc {r['rc']}: {r['tail']}")
        m = r["metrics"]
        with h5py.File(run_dir / "results.h5") as f:
            floor = "stats/lam_floor_rule" in f
            lams = sorted(np.asarray(f["tables/lam_curve/lam"]).tolist()) if "tables/lam_curve/lam" in f else []
        row = {"set": frames.stem, "bicubic": bicubic_psnr(user_problem(frames)), "psnr": m["psnr"],
               "lam": m.get("lam_chosen", float("nan")), "lam_first": m.get("lam_first", float("nan")),
               "at_edge": m.get("lam_at_range_edge", float("nan")), "floor": floor, "weights": lams,
               "check": m.get("frames_check_ratio"), "motion_error": m.get("motion_error"), "cpu_s": r["cpu_s"],
               "wall_s": r["wall_s"], "reconstruction": str(run_dir / "reconstruction.npy")}
        rows.append(row)
        print(f"{row['set']:58s} bicubic {row['bicubic']:6.2f} PSNR {row['psnr']:7.2f} lam {row['lam']:.4g} "
              f"(first {row['lam_first']:.4g}) edge {row['at_edge']:g} floor {floor} check {row['check']:.3g} "
              f"motion {row['motion_error']:.3f} CPU {row['cpu_s']:.1f} s", flush=True)
    out.write_text(json.dumps(rows, indent=1))


def compare(a: Path, b: Path) -> None:
    rows_b = {r["set"]: r for r in json.loads(b.read_text())}
    for ra in json.loads(a.read_text()):
        rb = rows_b.get(ra["set"])
        if rb is None:
            continue
        same = np.array_equal(np.load(ra["reconstruction"]), np.load(rb["reconstruction"]))
        print(f"| {ra['set']} | {ra['bicubic']:.2f} | {ra['psnr']:.2f}, lam {ra['lam']:.4g}, edge {ra['at_edge']:g} | "
              f"{rb['psnr']:.2f}, lam {rb['lam']:.4g}, edge {rb['at_edge']:g}, floor {rb['floor']} | "
              f"{rb['psnr'] - ra['psnr']:+.2f} | {'equal' if same else 'differs'} |")


def bench_rows(path: Path) -> list[tuple]:
    """(file, set, at the range's bottom, under bicubic) of a bench_lambda_sr.py JSON's rows with an `auto`."""
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    out = []
    for r in d.get("rows", []) if isinstance(d, dict) else []:
        a = r.get("auto_gcv") if isinstance(r, dict) else None
        if isinstance(a, dict) and "psnr_bicubic" in r:
            key = f"{r['image']} {r['size']}^2/{r['frames']} {r['noise']} s{r['seed']} {r.get('motion')}"
            out.append((str(path), key, a.get("at_edge") == 1.0 and a["lam"] < 0.0011, a["psnr"] < r["psnr_bicubic"]))
    return out


def survey(roots: list[Path]) -> None:
    n, hits, rows = 0, [], []
    for root in roots:
        for here, dirs, files in os.walk(root):
            for name in files:  # bench_lambda_sr.py's batches: their `auto` rows
                if name.endswith(".json") and name != "metrics.json":
                    rows += bench_rows(Path(here) / name)
            if "metrics.json" not in files:
                continue
            try:
                d = json.loads((Path(here) / "metrics.json").read_text())
            except (OSError, ValueError):
                continue
            if d.get("problem") != "superres":
                continue
            n += 1
            m = d.get("metrics", {})
            checks = [v for k, v in m.items() if k.startswith("frames_check_ratio")]
            bottom = m.get("lam_at_range_edge") == 1.0 and m.get("lam_chosen", 1.0) < 0.0011
            if bottom or any(v >= 1.0 for v in checks):
                hits.append((here, m.get("lam_chosen"), m.get("lam_at_range_edge"), max(checks, default=None),
                             m.get("psnr"), m.get("frames_level")))
    print(f"bench rows: {len(rows)}; `auto` at the range's bottom: {sum(r[2] for r in rows)}, under bicubic: "
          f"{sum(r[3] for r in rows)}")
    for r in rows:
        if r[2] or r[3]:
            print(f"  {r[0]} {r[1]}")
    print(f"{n} super-resolution runs; at the range's bottom or a frames check of 1 or more: {len(hits)}")
    for h in hits:
        print("  {} lam {} edge {} worst check {} PSNR {} level {}".format(*h))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", nargs="+", type=Path, default=[], help="kept frame sets (.npz with truth and w)")
    ap.add_argument("--out", type=Path, help="--sets' rows (JSON); the runs in the folder of its stem")
    ap.add_argument("--extra", nargs="*", default=[], help="overrides for the user's command")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    ap.add_argument("--survey", nargs="+", type=Path, default=[])
    args = ap.parse_args()
    if args.sets:
        if args.out is None:
            ap.error("--sets needs --out")
        run_sets(args.sets, args.out, tuple(args.extra))
    if args.compare:
        compare(*args.compare)
    if args.survey:
        survey(args.survey)


if __name__ == "__main__":
    main()
