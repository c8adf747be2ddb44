#!/usr/bin/env python
"""An acceptance batch's table against issue 16's three targets (docs/superres.md, "Acceptance batch AJ"): per set
bicubic, regrun's best weight (a grid judged with the truth), the peer's best, `auto`'s weight and PSNR, its gaps to
the three, the targets met (above bicubic; within 0.75 dB of regrun's best; within 0.5 dB of the peer's best), the
motion errors of `auto`'s answer and the peer's (RMS fine px), the frames check and `auto`'s CPU-s; then the counts
per target. With --against: `auto` of other runs of the same sets (bench_lambda_sr.py --reuse of the first, e.g.
another motion model) beside it, its targets counted against the same grid and peer.

    python scripts/report_sr_acceptance.py OUT/AJ_mmA.json OUT/AJ_mmB.json --against OUT/AJ_affA.json OUT/AJ_affB.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_lambda_sr import set_key  # scripts/bench_lambda_sr.py
from report_superres_model_choice import targets  # scripts/report_superres_model_choice.py

from regrun.registration.superres_motion import MOTION_MODELS


def rows_of(paths) -> list[dict]:
    return [r for p in paths for r in json.loads(Path(p).read_text())["rows"]]


def name(r: dict) -> str:
    rgb = ", RGB" if r.get("channels", 1) > 1 else ""
    turn = f" ×{r['turn_scale']:g} turns" if r.get("turn_scale", 1.0) != 1.0 else ""
    return f"{r['image']} s{r['seed']} | {r['size']}² / {r['frames']} / {r['noise']:.1%} / {r['motion']}{turn}{rgb}"


def chosen(a: dict) -> str:
    """The motion model `auto` answered with: the choice's; "affine, not chosen" where a run with the model chosen
    made no choice (frames over problem.motion_model_auto_max); "affine, gains solved" where the exposure check solved
    again with gains, as the user's run (regrun/second_solve.py); "affine, gains next" in rows of the bench before
    srbenchuser, which recorded the first answer there: not the user's."""
    if a.get("gains_solved") == 1.0:
        return "affine, gains solved"
    if a.get("gain_again") == 1.0:
        return "affine, gains next"
    if "motion_model_chosen" in a:  # its answer discarded where the frames check kept the affine one (keep_first)
        model = MOTION_MODELS[int(a["motion_model_chosen"])]
        return f"{model}, affine kept" if a.get("motion_model_kept_affine") == 1.0 else model
    return "affine, not chosen" if "affine_psnr" in a else "affine"


def mark(t) -> str:
    return "".join("✓" if v else "✗" for v in t)


def counts(rows: list[dict], autos: list[dict], label: str) -> str:
    met = [targets(a["psnr"], r) for r, a in zip(rows, autos)]
    per = [sum(t[i] for t in met) for i in range(3)]
    gaps = [(a["psnr"] - r["psnr_regrun_best"], a["psnr"] - r["psnr_peer_best"]) for r, a in zip(rows, autos)]
    return (f"- {label} ({len(rows)} sets): above bicubic {per[0]}, within 0.75 dB of regrun's best {per[1]}, within "
            f"0.5 dB of the peer {per[2]}, all three {sum(all(t) for t in met)}; worst gap to regrun's best "
            f"{min(g[0] for g in gaps):+.2f}, to the peer {min(g[1] for g in gaps):+.2f}")


def acceptance(rows: list[dict]) -> str:
    lines = ["| set | size / frames / noise / motion | model chosen | bicubic | regrun best λ (PSNR) | peer best λ (PSNR) "
             "| auto λ (PSNR) | auto − bicubic / − best / − peer | targets | motion error auto / peer px "
             "| frames check | auto CPU-s |", "|" + "---|" * 12]
    for r in rows:
        a = r["auto_gcv"]
        lines.append(f"| {name(r)} | {chosen(a)} | {r['psnr_bicubic']:.2f} | "
                     f"{r['regrun_best_lam']:.3g} ({r['psnr_regrun_best']:.2f}) | "
                     f"{r['peer_best_lam']:.3g} ({r['psnr_peer_best']:.2f}) | {a['lam']:.3g} ({a['psnr']:.2f}) | "
                     f"{a['psnr'] - r['psnr_bicubic']:+.2f} / {a['psnr'] - r['psnr_regrun_best']:+.2f} / "
                     f"{a['psnr'] - r['psnr_peer_best']:+.2f} | {mark(targets(a['psnr'], r))} | "
                     f"{a['motion_error']:.3f} / {r['peer_motion_error']:.3f} | {a['check_ratio']:.3f} | "
                     f"{a['cpu_s']:.1f} |")
    return "\n".join(lines + ["", counts(rows, [r["auto_gcv"] for r in rows], "auto")])


def against(rows: list[dict], other: list[dict], label: str) -> str:
    """`auto` of another run beside the first's, matched by set; targets of both against the first's grid and peer."""
    by_key = {set_key(r): r["auto_gcv"] for r in other}
    missing = [name(r) for r in rows if set_key(r) not in by_key]
    if missing:
        raise SystemExit(f"report_sr_acceptance: --against lacks {len(missing)} set(s), e.g. {missing[0]}")
    lines = [f"| set | drawn | chosen | {label} auto λ (PSNR) | auto λ (PSNR) | Δ dB | motion px {label} / auto "
             f"| targets {label} → auto | auto CPU-s {label} → auto |", "|" + "---|" * 9]
    others = []
    for r in rows:
        a, b = r["auto_gcv"], by_key[set_key(r)]
        others.append(b)
        lines.append(f"| {r['image']} s{r['seed']} {r['size']}²/{r['frames']} | {r['motion']} | {chosen(a)} | "
                     f"{b['lam']:.3g} ({b['psnr']:.2f}) | {a['lam']:.3g} ({a['psnr']:.2f}) | "
                     f"{a['psnr'] - b['psnr']:+.2f} | {b['motion_error']:.3f} / {a['motion_error']:.3f} | "
                     f"{mark(targets(b['psnr'], r))} → {mark(targets(a['psnr'], r))} | "
                     f"{b['cpu_s']:.1f} → {a['cpu_s']:.1f} |")
    d = [r["auto_gcv"]["psnr"] - b["psnr"] for r, b in zip(rows, others)]
    cpu = (sum(b["cpu_s"] for b in others), sum(r["auto_gcv"]["cpu_s"] for r in rows))
    lines += ["", counts(rows, others, label),
              f"- auto − {label}: summed {sum(d):+.2f} dB, worst {min(d):+.2f}, best {max(d):+.2f}; "
              f"{sum(x < -0.1 for x in d)} sets lose > 0.1 dB, {sum(x > 0.1 for x in d)} gain > 0.1; "
              f"auto CPU-s summed {cpu[0]:.1f} → {cpu[1]:.1f}"]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="bench_lambda_sr.py .json outputs with the grid and the peer")
    ap.add_argument("--against", type=Path, nargs="+", help="outputs of another `auto` on the same sets (--reuse)")
    ap.add_argument("--name", default="other", help="the --against run's name in the table")
    args = ap.parse_args(argv)
    rows = rows_of(args.runs)
    print(acceptance(rows))
    if args.against:
        print("\n" + against(rows, rows_of(args.against), args.name))


if __name__ == "__main__":
    main()
