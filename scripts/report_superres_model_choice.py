#!/usr/bin/env python
"""The table of `problem.motion_model=auto` against each fixed model (docs/superres.md, "The motion model chosen from
the frames (srmodel)"): per set, bicubic, regrun's best weight and the peer's best (main's affine grid), `auto` with
each model and with the choice (its model, its two scores z and its CPU), and the issue's three targets (never below
bicubic; within 0.75 dB of regrun's best; within 0.5 dB of the peer's best) counted at main (affine) and with the
choice. Reads scripts/bench_lambda_sr.py outputs of one batch run with --motion-model affine (the full run),
translation, rigid and auto (--reuse of the affine one); prints markdown.

    python scripts/report_superres_model_choice.py --prefix OUT/hmA_ OUT/hmB_
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_lambda_sr import set_key  # scripts/bench_lambda_sr.py

from regrun.registration.superres_motion import MOTION_MODELS

RUNS = ("affine", "rigid", "translation", "auto")


def load(prefixes) -> list[dict]:
    """One dict per set: the affine run's row, and each run's `auto` (absent runs left out)."""
    sets = {}
    for prefix in prefixes:
        for run in RUNS:
            path = Path(f"{prefix}{run}.json")
            if not path.exists():
                continue
            for r in json.loads(path.read_text())["rows"]:
                entry = sets.setdefault(set_key(r), {"row": r})
                entry[run] = r["auto_gcv"]
    return list(sets.values())


def targets(psnr: float, row: dict) -> tuple[bool, bool, bool]:
    return (psnr >= row["psnr_bicubic"], psnr >= row["psnr_regrun_best"] - 0.75, psnr >= row["psnr_peer_best"] - 0.5)


def markdown(sets: list[dict]) -> str:
    lines = ["| set | drawn | bicubic | regrun best | peer best | auto affine = main (px) | rigid (px) | translation (px) "
             "| chosen (z t→r, z r→a) | auto chosen − main | targets main → chosen | CPU-s main → chosen |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    count = {"main": [0, 0, 0, 0], "chosen": [0, 0, 0, 0]}
    right = 0
    for s in sets:
        r = s["row"]
        name = f"{r['image']} {r['size']}²/{r['frames']} {r['noise']:.1%} s{r['seed']}"

        def cell(run):
            a = s.get(run)
            return "-" if a is None else f"{a['psnr']:.2f} ({a['motion_error']:.2f})"

        main, auto = s["affine"], s.get("auto")
        if auto is None or "motion_model_chosen" not in auto:
            # no choice: the frames are over problem.motion_model_auto_max, or no auto run
            chosen, z, d, tgt_auto, cpu = ("affine (not chosen)" if auto else "-"), "", 0.0, targets(main["psnr"], r), ""
            if auto is not None:
                d, tgt_auto = auto["psnr"] - main["psnr"], targets(auto["psnr"], r)
                cpu = f"{main['cpu_s']:.1f} → {auto['cpu_s']:.1f}"
        else:
            chosen = MOTION_MODELS[int(auto["motion_model_chosen"])]
            z = f" ({auto['motion_model_z_translation_rigid']:.3g}, {auto['motion_model_z_rigid_affine']:.3g})"
            d, tgt_auto = auto["psnr"] - main["psnr"], targets(auto["psnr"], r)
            cpu = f"{main['cpu_s']:.1f} → {auto['cpu_s']:.1f}"
            right += chosen == r["motion"]
        tgt_main = targets(main["psnr"], r)
        for key, t in (("main", tgt_main), ("chosen", tgt_auto)):
            count[key] = [c + int(v) for c, v in zip(count[key], (*t, all(t)))]
        mark = lambda t: "".join("✓" if v else "✗" for v in t)  # noqa: E731
        lines.append(f"| {name} | {r['motion']} | {r['psnr_bicubic']:.2f} | {r['psnr_regrun_best']:.2f} | "
                     f"{r['psnr_peer_best']:.2f} | {cell('affine')} | {cell('rigid')} | {cell('translation')} | "
                     f"{chosen}{z} | {d:+.2f} | {mark(tgt_main)} → {mark(tgt_auto)} | {cpu} |")
    n = len(sets)
    lines.append("")
    lines.append(f"- chosen model = the drawn one on {right} of {n}")
    for key in ("main", "chosen"):
        b, best, peer, every = count[key]
        lines.append(f"- {key}: above bicubic {b} of {n}; within 0.75 dB of regrun's best {best}; within 0.5 dB of the "
                     f"peer's best {peer}; all three {every}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", nargs="+", required=True, help="output prefixes: PREFIX{affine,rigid,translation,auto}.json")
    args = ap.parse_args(argv)
    print(markdown(load(args.prefix)))


if __name__ == "__main__":
    main()
