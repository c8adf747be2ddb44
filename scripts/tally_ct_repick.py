"""`auto`'s answer under solver.lam_cv_weight=dose (the default) against `none` (the plain pick) and the keepdip
variant (docs/ct.md, "(ctrepick)"), per case of scripts/bench_lambda_ct.py's JSON outputs (run at the defaults, so
that `auto_cv.plain` is there): the gap of each to the grid optimum, within-0.5-dB counts, the summed change of
`none` and keepdip over `dose`, the worst loss. Prints a markdown table.

    python scripts/tally_ct_repick.py outputs/ctrepick/r6701_128.json outputs/ctrepick/rB.json --tol 0.01
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def local_minima(lams, values) -> list[int]:
    """Indices (in lam order) of the points below both neighbours, an end point below its one neighbour."""
    order = sorted(range(len(lams)), key=lambda i: lams[i])
    v = [values[i] for i in order]
    out = [k for k in range(len(v)) if (k == 0 or v[k] < v[k - 1]) and (k == len(v) - 1 or v[k] < v[k + 1])]
    return [order[k] for k in out]


def keeps_plain(auto: dict, tol: float) -> bool:
    """keepdip: two local minima of the plain search curve within `tol` of its lowest, and the re-pick nearest
    (in log lam) to another of them than the plain pick."""
    lams, values = auto["curve"]["lam"], auto["curve"]["criterion"]
    low = min(values)
    dips = [i for i in local_minima(lams, values) if values[i] <= (1 + tol) * low]
    if len(dips) < 2:
        return False

    def nearest(lam: float) -> int:
        return min(dips, key=lambda i: abs(math.log(lams[i] / lam)))

    return nearest(float(auto["stats"]["lam_cv_pick"])) != nearest(float(auto["stats"]["lam_cv_pick_plain"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, nargs="+")
    ap.add_argument("--tol", type=float, default=0.01, help="keepdip's tolerance on the dips' misfit (0.01: 1%%)")
    args = ap.parse_args(argv)
    rows = []
    for path in args.results:
        for r in json.loads(path.read_text())["results"]:
            a = r["auto_cv"]
            if "plain" not in a:  # not scored under dose (another weight, or a coverage factor acted)
                continue
            rows.append((path.stem, r, a, keeps_plain(a, args.tol)))
    print("| run | case | size | views | photons | grid optimum λ (PSNR) | dose λ (gap) | none λ (gap) | "
          "none − dose | keepdip |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run, r, a, keep in rows:
        gaps = case_gaps(r, a, keep)
        print(f"| {run} | {r['object']} | {r['size']}² | {r['views']} | {r['photons']:.0e} | "
              f"{r['grid_best_lam']:.3g} ({r['grid_best_psnr']:.2f}) | {a['lam']:.3g} ({gaps['dose']:+.2f}) | "
              f"{a['plain']['lam']:.3g} ({gaps['none']:+.2f}) | {gaps['none'] - gaps['dose']:+.2f} | "
              f"{'plain' if keep else '-'} |")
    limited = ("lim", "wedge")  # the scan's range, in the generator's file names
    summary("all", rows)
    summary("full range", [row for row in rows if not any(k in row[1]["object"] for k in limited)])
    summary("limited range", [row for row in rows if any(k in row[1]["object"] for k in limited)])


def case_gaps(r: dict, a: dict, keep: bool) -> dict[str, float]:
    """Each rule's answer's PSNR less the grid optimum's."""
    gaps = {"dose": a["psnr"] - r["grid_best_psnr"], "none": a["plain"]["psnr"] - r["grid_best_psnr"]}
    gaps["keepdip"] = gaps["none"] if keep else gaps["dose"]
    return gaps


def summary(name: str, rows) -> None:
    n = len(rows)
    if not n:
        return
    gaps = [case_gaps(r, a, keep) for _, r, a, keep in rows]
    print(f"\n{name}: {n} cases; moved (λ differs > 5%): "
          f"{sum(abs(a['plain']['lam'] / a['lam'] - 1) > 0.05 for _, _, a, _ in rows)}; keepdip fired: "
          f"{sum(k for *_, k in rows)}")
    for k in ("dose", "none", "keepdip"):
        g = [x[k] for x in gaps]
        diff = [x[k] - x["dose"] for x in gaps]
        print(f"- {k}: within 0.5 dB {sum(x >= -0.5 for x in g)} of {n}; mean gap {sum(g) / n:+.3f}; worst "
              f"{min(g):+.2f}; summed change over dose {sum(diff):+.2f} dB (worst loss {min(diff):+.2f}, "
              f"best gain {max(diff):+.2f})")

if __name__ == "__main__":
    main()
