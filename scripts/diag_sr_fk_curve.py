"""The weight's criteria along lambda at a finished run's final motion, beside the truth's PSNR (srfk, issue 16).

For a grey frame file with its truth (a bench set kept by --keep) and the results file of `regrun` run on it, at
the run's final motion held: per weight the PSNR, GCV (the run's gamma), the marginal likelihood (GML, the floor's
criterion) and quasi-optimality's ||lam df/dlam|| (the climb's), with the same probes a search draws. Where the
answer's weight came from is read from the run's results (`lam_rule_below_floor`: the floor bound).

    PYTHONPATH=. python scripts/diag_sr_fk_curve.py --frames SET.npz --run RUNDIR --lams 0.05 0.07 ... --out X.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py
import torch
from diag_sr_black_ground import problem  # scripts/diag_sr_black_ground.py (srlow16): the user's problem

from regrun.context import RunContext
from regrun.metrics import psnr
from regrun.optim.parameter_choice import FLOOR_RULE, criterion
from regrun.registration.superres_weight import weight_evaluator


def curve(frames: Path, run: Path, lams, model: str) -> dict:
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    with h5py.File(run / "results.h5", "r") as h5:
        w = torch.tensor(h5["result/w"][()])
        stats = {k: h5["stats"][k][()] for k in h5["stats"] if k.startswith("lam")}
    stats = {k: (v.decode() if isinstance(v, bytes) else float(v)) for k, v in stats.items()}
    p = problem(frames, ctx, motion_model=model)  # the model the run chose: its w's parameters are that model's
    if p.colour is not None:
        raise SystemExit("diag_sr_fk_curve: grey frames only")
    p.model.settle_outside(w)  # the dropped pixels at the final motion, as the run's last search saw them
    s = p.weight_settings
    evaluate, sigma, _ = weight_evaluator(p, w, s, ctx.generator(int(p.cfg.lam_seed)))
    truth = p.truth.numpy()
    rows = []
    for lam in map(float, lams):
        fit = evaluate(lam)
        image = fit.state.reshape(p.fine.m).numpy() if torch.is_tensor(fit.state) else None
        rows.append({"lam": lam, "gcv": criterion(s.rule, fit, sigma, s.tau, s.gamma),
                     "gml": criterion(FLOOR_RULE, fit, sigma), "change": evaluate.change(lam),
                     "psnr": psnr(image + p.level, truth) if image is not None else float("nan")})
    return {"frames": frames.name, "stats": stats, "sigma": sigma, "rows": rows}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--lams", type=float, nargs="+", required=True)
    ap.add_argument("--model", default="affine", choices=("translation", "rigid", "affine"),
                    help="the motion model the run chose (its status line names it)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    out = curve(args.frames, args.run, args.lams, args.model)
    print(json.dumps(out["stats"]))
    print(f"{'lam':>8} {'psnr':>7} {'gcv':>10} {'gml':>10} {'change':>10}")
    for r in out["rows"]:
        print(f"{r['lam']:8.4g} {r['psnr']:7.2f} {r['gcv']:10.6g} {r['gml']:10.6g} {r['change']:10.5g}")
    if args.out:
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
