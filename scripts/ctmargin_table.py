"""The dev (or held-out) table of solver.lam_cv_pixel_grid_margin from runs of main's check (docs/ct.md "A margin
for the pixel-grid check (ctmargin)"): per file the two grids' lowest held-out raw misfits, their ratio, the
standard error of their difference over the held-out views, the grid main keeps and the PSNR of both answers
(bench_lambda_ct.py's `fine_grid` where the check moved), then what each margin would keep and its dB against main,
summed per kind (radon files: ct_radon_files.py's `_case` files; the rest 4x-simulated).

    python scripts/ctmargin_table.py OUT/main_*.json [--margins 0.8 0.85 0.9 0.95 se se2]
"""
from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path


def row(path: Path) -> dict:
    r = json.loads(path.read_text())["results"][0]
    a = r["auto_cv"]
    st = a["stats"]
    why = st.get("lam_cv_pixel_grid", "")
    m = re.search(r"lowest misfit against the raw views ([0-9.e+-]+) on the pixel grid, ([0-9.e+-]+) on the finer",
                  why)
    lead = st.get("lam_cv_pixel_grid_lead", "")
    s = re.search(r"= ([0-9.e+-]+|inf) standard errors \(([0-9.e+-]+)\) over (\d+)", lead)
    pixel = why.startswith("pixel grid")
    fine = a.get("fine_grid")
    lams, crit = a["curve"].get("lam", []), a["curve"].get("criterion", [])
    bottom = bool(a["at_edge"] and lams and lams[crit.index(min(crit))] <= min(lams) * (1 + 1e-9))
    # where the kept search's pick lies: grid steps above lam_range's bottom (a log grid of lam_cv_grid points)
    pick, points = float(st.get("lam_cv_pick", "nan")), int(st.get("lam_cv_grid", 5))
    steps = math.log(pick / min(lams)) / math.log(max(lams) / min(lams)) * (points - 1) if lams else math.nan
    # the training views' fit at the bottom over the noise variance (ctbottom's reading of a curve with no minimum)
    fit = re.match(r"[0-9.e+-]+: ([0-9.e+-]+)", st.get("lam_cv_train_fit", ""))
    noise = re.match(r"noise variance ([0-9.e+-]+)", st.get("lam_cv_dose", ""))
    return {"file": path.stem.removeprefix("main_"), "radon": "_case" in path.stem,
            "pixel_min": float(m.group(1)) if m else None, "fine_min": float(m.group(2)) if m else None,
            "ratio": float(st["lam_cv_pixel_grid_ratio"]) if "lam_cv_pixel_grid_ratio" in st else None,
            "lead_se": float(s.group(1)) if s else None, "se": float(s.group(2)) if s else None,
            "views": int(s.group(3)) if s else None, "kept": "pixel" if pixel else "finer", "bottom": bottom,
            "steps": steps, "fit_noise": float(fit.group(1)) / float(noise.group(1)) if fit and noise else None,
            "lam": a["lam"], "psnr": a["psnr"],
            "fine_lam": fine["lam"] if fine else a["lam"], "fine_psnr": fine["psnr"] if fine else a["psnr"],
            "cpu_s": a.get("cpu_s"), "wall_s": a.get("seconds")}


def keeps_pixel(r: dict, margin: str) -> bool:
    """Whether the pixel grid is kept under `margin`: `none` (main), `finer` (never at lam_range's bottom: ctedge), a
    ratio m, `se` / `seK` (the lead above K standard errors), or either with the prefix `bottom` (the margin only
    where the pixel grid's pick is lam_range's bottom) or `step` (only where it lies within one grid step of it)."""
    if r["kept"] != "pixel" or margin == "finer" and r["bottom"]:
        return False
    if margin in ("none", "finer"):
        return True
    if margin.startswith(("bottom", "step")):
        if not (r["bottom"] if margin.startswith("bottom") else r["steps"] <= 1 + 1e-6):
            return True
        margin = margin[len("bottom" if margin.startswith("bottom") else "step"):]
    if margin.startswith("se"):
        k = float(margin[2:] or 1)
        return r["lead_se"] is None or r["lead_se"] > k
    return r["ratio"] < float(margin)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--margins", nargs="*", default=["0.85", "0.9", "0.95", "se", "se2", "bottom0.9", "bottomse"],
                    help="also none, finer, stepse, stepse2 (docs/ct.md \"(ctbottom)\")")
    args = ap.parse_args()
    rows = [row(p) for p in sorted(args.runs)]
    print("| file | kind | lowest raw misfit pixel / 2x | ratio | lead in SE (SE, views) | main keeps | pick: steps "
          "above the bottom | training fit at the bottom / noise | main: lam, PSNR | 2x grid's answer: lam, PSNR | "
          "pixel - 2x | " + " | ".join(args.margins) + " | CPU-s (wall) |")
    print("|" + "---|" * (12 + len(args.margins)))
    sums = {(k, m): [0.0, 0] for k in (True, False) for m in args.margins}
    right = {(k, m): [0, 0] for k in (True, False) for m in args.margins}  # the better of the two answers kept
    for r in rows:
        d = r["psnr"] - r["fine_psnr"]
        cells = []
        for mg in args.margins:
            keep = keeps_pixel(r, mg)
            if r["kept"] == "pixel":
                right[(r["radon"], mg)][0] += keep == (d >= 0)
                right[(r["radon"], mg)][1] += 1
            change = 0.0 if keep or r["kept"] != "pixel" else -d
            if r["kept"] == "pixel" and not keep:
                sums[(r["radon"], mg)][0] += change
                sums[(r["radon"], mg)][1] += 1
            cells.append("pixel" if keep else ("2x" if r["kept"] == "pixel" else "–") + (
                f" ({change:+.2f})" if r["kept"] == "pixel" and not keep else ""))
        lead = "–" if r["lead_se"] is None else f"{r['lead_se']:.2f} ({r['se']:.3g}, {r['views']})"
        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.3f}"
        mins = "–" if r["pixel_min"] is None else f"{r['pixel_min']:.4g} / {r['fine_min']:.4g}"
        cpu = "–" if r["cpu_s"] is None else f"{r['cpu_s']:.0f} ({r['wall_s']:.0f})"
        print(f"| {r['file']} | {'radon' if r['radon'] else '4x-sim'} | {mins} | {ratio} | {lead} | {r['kept']}"
              f"{' (bottom)' if r['bottom'] else ''} | {r['steps']:.2f} | "
              f"{'–' if r['fit_noise'] is None else format(r['fit_noise'], '.3f')} | {r['lam']:.4g}, {r['psnr']:.2f} | {r['fine_lam']:.4g}, {r['fine_psnr']:.2f} | {d:+.2f} | "
              + " | ".join(cells) + f" | {cpu} |")
    print()
    for radon in (True, False):
        print(f"{'radon' if radon else '4x-sim'}: " + "; ".join(
            f"{m}: {sums[(radon, m)][0]:+.2f} dB over {sums[(radon, m)][1]} moved back, the better answer kept on "
            f"{right[(radon, m)][0]} of {right[(radon, m)][1]}" for m in args.margins))


if __name__ == "__main__":
    main()
