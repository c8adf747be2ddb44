"""Reproduce seed 000's super-resolution comparisons (Figures 5, 8, 10) and the beyond-the-paper cases.

Every variant is an ordinary regrun run (the same code path as `regrun +experiment=...`), written under
--out; the table prints measured beside the paper's values and is saved as CSV.

    python scripts/reproduce_superres.py fig5 fig8 fig10 harder --out outputs/superres_repro
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from regrun.config import compose
from regrun.run import run

NAN = float("nan")
HARDER_SOLVER = {"varpro_cg": ["solver.jacobian=implicit"]}
STUDIES = {
    "fig5": ("superres_fig5", [
        ("none", ["solver.jacobian=none"], 0.2561),
        ("full", ["solver.jacobian=full"], 0.1070),
        ("implicit", ["solver.jacobian=implicit"], NAN),
    ]),
    "fig8": ("superres_fig8", [
        *[(f"last {p}% (restart)", [f"solver.diff_fraction={p / 100}"], ref)
          for p, ref in ((70, 0.370), (90, 0.119), (95, 0.117))],
        *[(f"last {p}% (continue)", [f"solver.diff_fraction={p / 100}", "solver.tail_restart=false"], NAN)
          for p in (70, 90, 95)],
        ("100% (full)", ["solver.jacobian=full"], 0.105),
        ("none", ["solver.jacobian=none"], NAN),
        ("implicit", ["solver.jacobian=implicit"], NAN),
    ]),
    "fig10": ("superres_fig10", [
        (f"cg_iters={n}", [f"cg_iters={n}"], ref)
        for n, ref in ((1, 0.230), (5, 0.124), (10, 0.115), (25, 0.110), (50, 0.111), (100, 0.104))
    ]),
    # Beyond the paper: synthetic phantom (no inverse crime), 8 frames with 2% noise, the same
    # pre-registration for every solver; varpro_cg uses the implicit Jacobian, joint_gn starts from the
    # two_stage image. One variant per process fits the shared machine: `harder --only "64x64 joint_gn"`.
    "harder": (None, [
        (f"{size}x{size} {solver}", ["problem=superres", f"solver={solver}", f"problem.size={size}",
                                     "problem.frames=8", "problem.noise=0.02", "cg_iters=50",
                                     *HARDER_SOLVER.get(solver, [])], NAN)
        for size in (32, 64) for solver in ("two_stage", "varpro_cg", "joint_gn")
    ]),
}
COLUMNS = ("rel_error", "psnr", "ssim", "motion_error", "objective")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("studies", nargs="+", choices=sorted(STUDIES))
    ap.add_argument("--out", default="outputs/superres_repro")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="+", default=None, metavar="VARIANT",
                    help="run only the variants with these labels (e.g. '32x32 varpro_cg')")
    ap.add_argument("--set", nargs="+", default=[], metavar="OVERRIDE",
                    help="extra overrides for every variant (e.g. time_limit=480 problem.noise=0.1)")
    args = ap.parse_args()
    rows = []
    for study in args.studies:
        preset, variants = STUDIES[study]
        print(f"\n== {study} ==")
        print(f"{'variant':24s} {'paper':>8s} " + " ".join(f"{c:>12s}" for c in COLUMNS) + "   J/r cost  time")
        for label, overrides, paper in variants:
            if args.only is not None and label not in args.only:
                continue
            ov = ([f"+experiment={preset}"] if preset else []) + overrides + [
                "progress=false", "figures=false", f"threads={args.threads}", *args.set]
            out = Path(args.out) / study / label.replace(" ", "_").replace("%", "pct").replace("(", "").replace(")", "")
            outcome = run(compose(ov), out, ov)
            m = outcome.metrics
            ratio = _stat(outcome.results_path, "jacobian_over_residual")
            n_iter = _n_iter(outcome.results_path)
            print(f"{label:24s} {paper:8.3f} " + " ".join(f"{m.get(c, NAN):12.4g}" for c in COLUMNS)
                  + f"   {ratio:8.1f}  {outcome.wall_time:5.1f}s  {outcome.status} ({n_iter} solver steps)")
            rows.append({"study": study, "variant": label, "paper_rel_error": paper, "status": outcome.status,
                         **{c: m.get(c, NAN) for c in COLUMNS}, "jacobian_over_residual": ratio, "n_iter": n_iter,
                         "overrides": " ".join(ov),
                         "wall_s": outcome.wall_time, "out_dir": str(out)})
    if not rows:
        raise SystemExit(f"no variant matched --only {args.only}")
    path = Path(args.out) / "table.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwritten {path}")


def _stat(results_path: Path, key: str) -> float:
    try:
        import h5py

        with h5py.File(results_path, "r") as fh:
            return float(fh["stats"].attrs.get(key, fh["stats"][key][()] if key in fh["stats"] else NAN))
    except Exception:  # a failed run has no stats; the table shows NaN
        return NAN


def _n_iter(results_path: Path) -> int:
    try:
        from regrun.record import load

        return int(max(load(results_path)["history"]["iter"]))
    except Exception:  # a failed run has no results file; the table shows -1
        return -1


if __name__ == "__main__":
    main()
