#!/usr/bin/env python
"""srsky's table: each frame set's bicubic, regrun's best grid weight, the peer's and `auto` (PSNR and lambda_f)
at main and with problem.frames_level (or bench_lambda_sr.py --offset, its prototype), from two bench_lambda_sr.py
--out .json files run on the same --set list; then the issue's targets (never below bicubic, within 0.75 dB of
regrun's own best) counted for each, and the controls' change (the sets named by --controls, by image name and seed).

    python scripts/report_superres_frames_level.py --main OUT/sky_main.json --new OUT/sky_new.json \\
        --controls 7333 7334 7335 7336 7337
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_lambda_sr import describe  # scripts/bench_lambda_sr.py


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--main", type=Path, required=True)
    ap.add_argument("--new", type=Path, required=True)
    ap.add_argument("--controls", type=int, nargs="*", default=[], help="the textured controls' seeds")
    args = ap.parse_args(argv)
    key = lambda r: (r["image"], r["size"], r["seed"])  # noqa: E731
    old = {key(r): r for r in json.loads(args.main.read_text())["rows"]}
    new = {key(r): r for r in json.loads(args.new.read_text())["rows"]}
    print("| set | bicubic | regrun best main → new (λ) | peer best main → new | auto main (λ) | "
          "auto new (λ) | new − main | new − bicubic | new − own best | motion px main → new |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    tally = {"main": [0, 0], "new": [0, 0]}
    controls = []
    for k in [k for k in old if k in new]:
        a, b = old[k], new[k]
        name = f"{describe(a)} {a['size']}²/{a['frames']} {a['noise']:.1%} s{a['seed']}"
        for tag, r in (("main", a), ("new", b)):
            tally[tag][0] += r["auto_gcv"]["psnr"] >= r["psnr_bicubic"]
            tally[tag][1] += r["auto_gcv"]["psnr"] >= r["psnr_regrun_best"] - 0.75
        d = b["auto_gcv"]["psnr"] - a["auto_gcv"]["psnr"]
        if a["seed"] in args.controls:
            controls.append(d)
        print(f"| {name}{' (control)' if a['seed'] in args.controls else ''} | "
              f"{a['psnr_bicubic']:.2f} | {a['psnr_regrun_best']:.2f} → {b['psnr_regrun_best']:.2f} "
              f"({a['regrun_best_lam']:.3g} → {b['regrun_best_lam']:.3g}) | {a['psnr_peer_best']:.2f} → "
              f"{b['psnr_peer_best']:.2f} | {a['auto_gcv']['psnr']:.2f} ({a['auto_gcv']['lam']:.3g}) | "
              f"{b['auto_gcv']['psnr']:.2f} ({b['auto_gcv']['lam']:.3g}) | {d:+.2f} | "
              f"{b['auto_gcv']['psnr'] - b['psnr_bicubic']:+.2f} | "
              f"{b['auto_gcv']['psnr'] - b['psnr_regrun_best']:+.2f} | {a['auto_gcv']['motion_error']:.2f} → "
              f"{b['auto_gcv']['motion_error']:.2f} |")
    n = len([k for k in old if k in new])
    for tag, (above, near) in tally.items():
        print(f"- {tag}: auto at or above bicubic on {above} of {n}; within 0.75 dB of regrun's own best on {near}")
    if controls:
        print(f"- controls: auto new − main {', '.join(f'{d:+.2f}' for d in controls)} dB")


if __name__ == "__main__":
    main()
