"""GCV along lambda at a run's pre-registered and final motions, beside the risk GCV estimates and the truth's PSNR
(srfm, issue 16).

For a grey frame file with its truth, the same draw without noise (bench_lambda_sr.py's frame_set at noise 0) and the
results file of `regrun` run on it: at each of two motions held, the pre-registration (superres_start.start_params,
the motion the first search reads) and the run's final motion (results.h5's w, the motion the search again reads),
per weight GCV (the run's gamma), the predictive risk GCV estimates (the prediction's squared error against the
noiseless frames on the data mask, known only here), the image's squared error on the truth's dark and light fine
pixels, and the PSNR. GCV's minimum far from the risk's: GCV misreads the data; the risk's far under the PSNR's peak:
the rule's target itself is not the image's error. Its PSNR at the final motion differs from the run's own by the
run's accumulated mask (docs/superres.md, "(srfk)"): read where minima lie, not the answer's dB.

    PYTHONPATH=.:scripts python scripts/diag_srfm_curve.py --frames SET.npz --clean SET_clean.npz --run RUNDIR \\
        --model translation --lams 0.03 0.05 0.07 0.1 0.14 0.2 0.28 0.4 --out X.json
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
from regrun.optim.parameter_choice import criterion
from regrun.registration.superres_start import start_params
from regrun.registration.superres_weight import frame_data, weight_evaluator

# a fine pixel is dark where the truth lies under this share of its maximum (a silhouette's figure or ground)
DARK_SHARE = 0.5


def at_motion(p, w: torch.Tensor, clean: torch.Tensor, lams, ctx) -> list[dict]:
    """The rows at motion w held (its pixels outside the field of view dropped at w, as a search there sees them)."""
    p.model.settle_outside(w)
    s = p.weight_settings
    evaluate, sigma, _ = weight_evaluator(p, w, s, ctx.generator(int(p.cfg.lam_seed)))
    d, _ = frame_data(p.model)
    mask = p.model.data_mask()
    target = ((clean - p.level) * mask).reshape(-1)
    truth = p.truth.numpy()
    dark = truth < DARK_SHARE * truth.max()
    rows = []
    for lam in map(float, lams):
        fit = evaluate(lam)
        pred, f = evaluate.solve.prediction(lam)(d)
        image = f.reshape(p.fine.m).numpy() + p.level
        err = (image - truth) ** 2
        rows.append({"lam": lam, "gcv": criterion(s.rule, fit, sigma, s.tau, s.gamma), "trace": fit.trace,
                     "rss": fit.rss, "risk": float((pred - target).pow(2).sum()),
                     "sse_dark": float(err[dark].sum()), "sse_light": float(err[~dark].sum()),
                     "psnr": psnr(image, truth)})
    return rows


def curves(frames: Path, clean: Path, run: Path, lams, model: str) -> dict:
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    with h5py.File(run / "results.h5", "r") as h5:
        final = torch.tensor(h5["result/w"][()])
        lam_chosen = float(h5["metrics/lam_chosen"][()])
        lam_first = float(h5["metrics/lam_first"][()]) if "lam_first" in h5["metrics"] else lam_chosen
    c = problem(clean, ctx, motion_model=model)
    clean_frames = c.model.frames + c.level
    p = problem(frames, ctx, motion_model=model)
    first = p.motion.to_affine(start_params(p, "preregister"))
    out = {"frames": frames.name, "model": model, "lam_first": lam_first, "lam_chosen": lam_chosen}
    for name, w in (("preregistered", first), ("final", final)):
        p = problem(frames, ctx, motion_model=model)  # a fresh data mask at each motion
        rows = at_motion(p, w, clean_frames, lams, ctx)
        best = {k: min(rows, key=lambda r: r[k])["lam"] for k in ("gcv", "risk", "sse_dark", "sse_light")}
        best["psnr"] = max(rows, key=lambda r: r["psnr"])["lam"]
        out[name] = {"rows": rows, "best": best}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=Path, required=True)
    ap.add_argument("--clean", type=Path, required=True, help="the same draw without noise")
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--model", default="translation", choices=("translation", "rigid", "affine"),
                    help="the motion model the run chose (its status line names it)")
    ap.add_argument("--lams", type=float, nargs="+", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = curves(args.frames, args.clean, args.run, args.lams, args.model)
    print(f"lam_first {out['lam_first']:.4g}, lam_chosen {out['lam_chosen']:.4g}")
    for name in ("preregistered", "final"):
        print(f"{name}: best {out[name]['best']}")
        print(f"{'lam':>8} {'gcv':>10} {'risk':>10} {'trace':>7} {'sse_dark':>10} {'sse_light':>10} {'psnr':>7}")
        for r in out[name]["rows"]:
            print(f"{r['lam']:8.4g} {r['gcv']:10.5g} {r['risk']:10.5g} {r['trace']:7.1f} {r['sse_dark']:10.4g} "
                  f"{r['sse_light']:10.4g} {r['psnr']:7.2f}")
    if args.out:
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
