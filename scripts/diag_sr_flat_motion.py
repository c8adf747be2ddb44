#!/usr/bin/env python
"""Which step misregisters a nearly flat crop's frames (srflat, issue 16; EV's camera@40:360 s9474): on a kept
frame set (bench_lambda_sr.py --keep; truth and true motion only to judge), (1) the user's command (README's,
in a subprocess: the answer's PSNR, weight, model and motion error, and its motion); (2) at each weight given,
with problem.motion_model=affine and the user's settings otherwise, the image at the true motion, at the user's
motion and at the ends of varpro_cg run from the pre-registration and from the true motion: PSNR, motion error
(RMS fine px) and the projected objective ||A(w) f(w) - b||^2 (regulariser rows included), every objective on
the data mask decided at the true motion (one set of rows for all, so comparable). Read: where the run from the
truth ends near it and lower than the run from the pre-registration, the search fails (a better minimum exists);
where it walks to the user's motion or one as far off at an objective as low, the frames cannot tell.

    PYTHONPATH=CODE python scripts/diag_sr_flat_motion.py OUT/frames/SET.npz --lam 0.1 0.2 0.283 --out OUT/x.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diag_sr_solve_history import user_problem  # scripts/diag_sr_solve_history.py
from heldout_sr_wide import readme_run  # scripts/heldout_sr_wide.py


def user(frames: Path, run_dir: Path, extra: tuple[str, ...]) -> dict:
    """The README's command on the frames: its metrics and its affine motion."""
    r = readme_run(frames, 2, frames, frames, run_dir, extra)
    if r["rc"] != 0:
        raise SystemExit(f"{frames}: rc {r['rc']}: {r['tail']}")
    m = r["metrics"]
    with h5py.File(run_dir / "results.h5") as f:
        w = np.asarray(f["result"]["w"])
    return {"psnr": m["psnr"], "lam": m.get("lam_chosen", float("nan")), "motion_error": m["motion_error"],
            "model": m.get("motion_model_chosen", float("nan")), "check": m.get("frames_check_ratio", float("nan")),
            "cpu_s": r["cpu_s"], "w": w.reshape(-1).tolist()}


def at_weight(frames: Path, lam: float, w_user: np.ndarray) -> dict:
    """Images at the true and the user's motion, and varpro_cg's ends from the pre-registration and the truth."""
    import torch

    from regrun.config import config_section
    from regrun.monitor import Monitor
    from regrun.solve_result import SolveResult
    from regrun.solvers.varpro_cg import VarProCG

    def problem():
        return user_problem(frames, motion_model="affine", lambda_f=lam)

    judge = problem()  # the judge: the mask at the truth, the weight lam, every motion's image and objective
    judge.model.settle_outside(judge.w_true)

    def score(w) -> dict:
        m = judge.evaluate(SolveResult(solution={"w": w}, status="converged"))[0]
        return {"psnr": m["psnr"], "motion_error": m["motion_error"], "objective": m["objective"]}

    out = {"lam": lam, "truth": score(judge.w_true),
           "user": score(torch.as_tensor(w_user, dtype=judge.w_true.dtype))}
    for init in ("preregister", "truth"):
        p = problem()
        t0 = time.process_time()
        res = VarProCG(config_section("solver", "varpro_cg", init=init), p.ctx).solve(p, Monitor())
        cpu = time.process_time() - t0
        own = p.evaluate(res)[0]
        out[f"from_{init}"] = {**score(res.solution["w"]), "psnr_own_mask": own["psnr"], "cpu_s": cpu}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("frames", type=Path, nargs="+", help="kept sets (bench_lambda_sr.py --keep): frames, truth, motion")
    ap.add_argument("--lam", type=float, nargs="+", required=True, help="the weights compared at")
    ap.add_argument("--user-set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the user's command")
    ap.add_argument("--out", type=Path, required=True, help="a .json (its stem also names the runs' folder)")
    args = ap.parse_args()
    rows = []
    for frames in args.frames:
        u = user(frames, args.out.with_suffix("") / frames.stem, tuple(args.user_set))
        print(f"{frames.stem}: user PSNR {u['psnr']:.2f} lam {u['lam']:.4g} model {u['model']:g} motion "
              f"{u['motion_error']:.3f} check {u['check']:.3f} CPU {u['cpu_s']:.1f} s", flush=True)
        row = {"set": frames.stem, "user": u, "weights": []}
        for lam in args.lam:
            r = at_weight(frames, lam, np.asarray(u["w"]))
            row["weights"].append(r)
            print(f"  lam {lam:.4g}: " + "  ".join(
                f"{k} PSNR {r[k]['psnr']:.2f} mot {r[k]['motion_error']:.3f} J {r[k]['objective']:.6g}"
                for k in ("truth", "user", "from_preregister", "from_truth")), flush=True)
        rows.append(row)
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
