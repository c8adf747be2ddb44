#!/usr/bin/env python
"""Does the held-out frames check see a wrong motion-model choice (srfinal5, batch AJ's miss)? Per set where
`problem.motion_model=auto` answered with a smaller model than affine: the frames check (frames_check_ratio, no
truth) of the chosen model's answer against the affine answer's, their ratio, the PSNR of both and the drawn model;
then, for each --ratio T, what keeping the affine answer wherever the chosen one's check is over T times the
affine's would have changed (a reading, not a rule: nothing in regrun/ reads it).

Pairs of scripts/bench_lambda_sr.py outputs of the same sets at the same code: a run with --motion-model auto and
one with the affine model (--reuse of either). A pair whose affine answers differ (the model run's affine_psnr
against the affine run's PSNR, by more than 0.01 dB) is listed apart: its affine check is not that run's.

    python scripts/diag_sr_model_check.py --pair AJ OUT/AJ_mmA.json OUT/AJ_mmB.json vs OUT/AJ_affA.json OUT/AJ_affB.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_lambda_sr import set_key  # scripts/bench_lambda_sr.py
from report_sr_acceptance import chosen  # scripts/report_sr_acceptance.py


def pair_rows(name: str, model_paths, affine_paths) -> list[dict]:
    """One dict per set of the model run where a smaller model answered, with the affine run's `auto` beside."""
    affine = {set_key(r): r["auto_gcv"] for p in affine_paths for r in json.loads(Path(p).read_text())["rows"]}
    out = []
    for p in model_paths:
        for r in json.loads(Path(p).read_text())["rows"]:
            a = r["auto_gcv"]
            if chosen(a).startswith("affine") or set_key(r) not in affine:
                continue
            b = affine[set_key(r)]
            out.append({"batch": name, "set": f"{r['image']} {r['size']}²/{r['frames']} {r['noise']:.1%} s{r['seed']}",
                        "drawn": r["motion"], "chosen": chosen(a), "check_affine": b["check_ratio"],
                        "check_chosen": a["check_ratio"], "psnr_affine": b["psnr"], "psnr_chosen": a["psnr"],
                        "same_affine": abs(a["affine_psnr"] - b["psnr"]) <= 0.01})
    return out


def table(rows: list[dict], ratios) -> str:
    lines = ["| batch | set | drawn | chosen | check affine → chosen (ratio) | PSNR affine → chosen | Δ dB |",
             "|---|---|---|---|---|---|---|"]
    for s in sorted(rows, key=lambda s: -s["check_chosen"] / s["check_affine"]):
        flag = "" if s["same_affine"] else " (affine answers differ)"
        lines.append(f"| {s['batch']} | {s['set']}{flag} | {s['drawn']} | {s['chosen']} | {s['check_affine']:.3f} → "
                     f"{s['check_chosen']:.3f} ({s['check_chosen'] / s['check_affine']:.2f}) | {s['psnr_affine']:.2f} → "
                     f"{s['psnr_chosen']:.2f} | {s['psnr_chosen'] - s['psnr_affine']:+.2f} |")
    same = [s for s in rows if s["same_affine"]]
    lines.append(f"\n{len(rows)} sets answered with a smaller model ({len(same)} with the same affine answer in both "
                 "runs; the readings below count those)")
    for t in ratios:
        back = [s for s in same if s["check_chosen"] > t * s["check_affine"]]
        d = [s["psnr_affine"] - s["psnr_chosen"] for s in back]
        lines.append(f"- affine kept where the check rose over {t:g}x: {len(back)} sets, summed {sum(d):+.2f} dB "
                     f"({sum(x > 0.1 for x in d)} gain > 0.1 dB, {sum(x < -0.1 for x in d)} lose > 0.1 dB"
                     + (f", worst {min(d):+.2f}" if d else "") + ")")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pair", nargs="+", action="append", required=True,
                    metavar="NAME MODEL.json ... vs AFFINE.json ...", help="a batch: its name, the model run's outputs, "
                    "vs, the affine run's outputs")
    ap.add_argument("--ratio", type=float, nargs="+", default=[1.5, 2.0, 3.0])
    args = ap.parse_args(argv)
    rows = []
    for name, *paths in args.pair:
        if "vs" not in paths:
            ap.error(f"--pair {name}: MODEL.json ... vs AFFINE.json ...")
        cut = paths.index("vs")
        rows += pair_rows(name, paths[:cut], paths[cut + 1:])
    print(table(rows, args.ratio))


if __name__ == "__main__":
    main()
