#!/usr/bin/env python
"""The frame-split walk's comparisons beside the truth, weight by weight (srdown; issue 16).

Per frame set (bench_lambda_sr's --set, grey or colour): `auto` as the bench runs it (its pre-registration,
--motion-model auto, the level on), and wherever superres_cv.frames_split runs (the affine answer's solve and the
chosen model's), after it and at the same motion: a ladder of weights lam = the walk's start x sqrt(2)^(j/2), j in
--steps, each weight's image (luminance, the level back on) scored against the truth (PSNR and its squared error,
the model's units; colour: the PSNR of every channel solved from it, the user's) and the walk's estimated risk
(superres_cv.split_risk) against the references its comparisons use: `up` (start / sqrt(2): the step up's), `down`
(start / 2 / sqrt(2): the step down's, SPLIT_DOWN_GAP steps under the lower weight), `down0` (start / sqrt(2): the
step down with fewer frames) and `down1` (start / 2: one step under the lower weight, a gap of 1). A comparison is
right where the estimated risks of two weights order as their true errors do; the table prints both differences
per step. The images are solved anew after the walk (the answer's own weight is put back), so the run's answer is
the bench's up to the solves' warm starts.

    python scripts/diag_sr_split_down.py --out OUT/diag.json --set rgb:sk:chelsea@70:130,40,16,0.015,9112,translation
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import torch
from bench_lambda_sr import parse_set, run_set  # scripts/bench_lambda_sr.py

from regrun.context import RunContext
from regrun.metrics import psnr
from regrun.registration import superres_cv
from regrun.registration.superres_cv import CV_STEP, SPLIT_DOWN_GAP, split_images, split_risk

ORIGINAL = superres_cv.frames_split
REFS = ("up", "down", "down0", "down1")


def ladder(problem, w, start: float, steps: list[int]) -> list[dict]:
    """Each weight's true error and estimated risks (module docstring) at motion w, from the walk's start."""
    model = problem.model
    images, _ = split_images(model, w)
    risks: dict = {}
    truth = problem.truth.reshape(-1)
    refs = {"up": start / CV_STEP, "down": start / CV_STEP / CV_STEP**SPLIT_DOWN_GAP, "down0": start / CV_STEP,
            "down1": start / CV_STEP**2}
    out = []
    for j in steps:
        lam = start * CV_STEP ** (j / 2)
        f = images(lam)[0]
        colour = math.nan
        if problem.colour is not None:  # the user's PSNR: every channel solved from this luminance, as evaluate's
            model.set_weight(lam)
            est = problem.solve_channels(w, f, problem.final_pcg_rtol).reshape(-1, *problem.fine.m)
            colour = psnr(est.cpu().numpy(), problem.truth_colour.cpu().numpy())
        f = f + (problem.level or 0.0)
        out.append({"j": j, "lam": lam, "err2": float((f - truth).pow(2).sum()), "psnr_colour": colour,
                    "psnr": psnr(f.reshape(problem.fine.m).cpu().numpy(), problem.truth.cpu().numpy()),
                    **{f"risk_{k}": split_risk(images, risks, lam, ref) for k, ref in refs.items()}})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--steps", type=int, nargs="+", default=list(range(-4, 5)))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    bench = argparse.Namespace(supersample=8, offset=False, auto_set={}, solver_set={}, outside="drop",
                               motion_model="auto", frames_level=True, extension="zero", prereg_as_given=False,
                               rules=["gcv"], split="diag", reuse=None)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    found = []

    def traced(problem, w):
        out = ORIGINAL(problem, w)
        if out:
            found.append({"motion_model": problem.motion.name if hasattr(problem.motion, "name") else "",
                          "from": out["lam_split_from"], "reached": problem.weight_choice.lam,
                          "moved": out.get("lam_split_moved"),
                          "ladder": ladder(problem, w, out["lam_split_from"], args.steps)})
            problem.model.set_weight(problem.weight_choice.lam)
        return out

    superres_cv.frames_split = traced
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            found.clear()
            row = run_set(ctx, Path(tmp), spec, bench, reuse={})
            rows.append({"image": spec["kind"], "seed": spec["seed"], "size": spec["size"], "frames": spec["frames"],
                         "auto_lam": row["auto_gcv"]["lam"], "auto_psnr": row["auto_gcv"]["psnr"],
                         "walks": list(found)})
            print(f"{spec['kind']} s{spec['seed']} {spec['size']}^2/{spec['frames']}: auto {row['auto_gcv']['lam']:.4g}"
                  f" -> {row['auto_gcv']['psnr']:.2f} dB")
            for walk in found:
                print(f"  walk ({walk['motion_model']}) from {walk['from']:.4g} to {walk['reached']:.4g}; per weight:"
                      " j, lam, PSNR (luminance; colour), err2 - err2(start), risk - risk(start) against "
                      + " / ".join(REFS))
                base = next(e for e in walk["ladder"] if e["j"] == 0)
                for e in walk["ladder"]:
                    print(f"    {e['j']:+d} {e['lam']:.4g} {e['psnr']:.2f}; {e['psnr_colour']:.2f} "
                          f"{e['err2'] - base['err2']:+10.2f} "
                          + " ".join(f"{e[f'risk_{k}'] - base[f'risk_{k}']:+10.2f}" for k in REFS))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
