#!/usr/bin/env python
"""Where a user's super-resolution answer went wrong on a kept frame set (srfinal4, batch AH's largest miss): the
README's command (`regrun problem=superres problem.data=frames problem.frames=F`, truth and true motion only to
judge; heldout_sr_wide.readme_run, a subprocess of the regrun on PYTHONPATH) once per variant of overrides, and
from each run's results.h5 the solver's history: the motion error (RMS fine px) at the solve's start, at the end
of each edge round and at the end, the weight in use, and whether the run hit max_iter; beside the answer's PSNR,
the chosen weight, the weight of the first search (at the pre-registered motion), the motion's move before the
search again, the frames check and the child's CPU seconds.

    PYTHONPATH=CODE python scripts/diag_sr_solve_history.py OUT/frames/SET.npz --out OUT/hist \\
        --variant default --variant zero problem.frames_level=false --variant lam0.2 problem.lambda_f=0.2

A variant is NAME followed by its overrides (none: the command as the user types it). --stages MODEL ...: also,
in this process, the pre-registration ladder's motion error per frame (fine px) after each of its stages
(SuperResModel.preregister's trace, the user's settings otherwise) for each motion model named. --gate MOVE ...:
also `auto` in this process (the user's settings, varpro_cg's defaults) with the stopped ladder's second start
admitted from MOVE fine px from the full ladder's end (superres_model.SECOND_START_MOVE, 2.0 in the code, set for
the run only: a measurement, the code unchanged); 2.0 should give the user's answer.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diag_superres_motion import frame_errors, rms  # noqa: E402  scripts/diag_superres_motion.py
from heldout_sr_wide import readme_run  # noqa: E402  scripts/heldout_sr_wide.py


def history(run_dir: Path) -> dict:
    """The solver's recorded motion error: at the start, at each edge round's last step, at the end."""
    with h5py.File(run_dir / "results.h5") as f:
        h = {k: np.asarray(f["history"][k]) for k in ("motion_error", "edge_round", "lambda_f", "J")
             if k in f["history"]}  # lambda_f: only where the weight was searched
    rounds = [float(h["motion_error"][np.flatnonzero(h["edge_round"] == r)[-1]]) for r in np.unique(h["edge_round"])]
    return {"start": float(h["motion_error"][0]), "rounds": rounds, "end": float(h["motion_error"][-1]),
            "steps": int(len(h["J"])), "lam_path": sorted(set(np.round(h["lambda_f"], 4).tolist())) if "lambda_f" in h else []}


def stages(frames: Path, model: str) -> None:
    """The pre-registration ladder's per-frame motion error after each stage, with problem.motion_model=model."""
    from regrun.registration.superres_start import start_distance

    p = user_problem(frames, motion_model=model)
    trace = []
    p.model.preregister(drop_outside=p.outside == "drop", trace=trace,
                        transform=None if p.motion.is_affine else p.motion.transform)
    end = trace[-1][1].reshape(-1)
    for name, w in trace:  # and each stage's distance from the ladder's end: second_start's gate (SECOND_START_MOVE)
        errs = frame_errors(p, p.motion.to_affine(w.reshape(-1)).reshape(p.model.q, 6))
        print(f"  {model:11s} {name:16s} RMS {rms(errs):6.3f} from the end {start_distance(p, w.reshape(-1), end):6.3f}"
              "  per frame " + " ".join(f"{e:6.3f}" for e in errs), flush=True)


def user_problem(frames: Path, **settings):
    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    return SuperRes(config_section("problem", "superres", data="frames", frames=str(frames), truth=str(frames),
                                   true_motion=str(frames), **settings),
                    RunContext(torch.device("cpu"), torch.float64, 0, Path(".")))


def user_answer(frames: Path, **settings):
    """varpro_cg (its defaults) on user_problem(frames, **settings), in this process: the problem, the result, the
    evaluated metrics and the solve's CPU seconds."""
    import time

    from regrun.config import config_section
    from regrun.monitor import Monitor
    from regrun.solvers.varpro_cg import VarProCG

    p = user_problem(frames, **settings)
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg"), p.ctx).solve(p, Monitor())
    cpu = time.process_time() - t0
    return p, res, p.evaluate(res)[0], cpu


def gated(frames: Path, move: float) -> None:
    """`auto` with second_start's gate at `move` fine px: the start kept, the answer, its motion error."""
    from regrun.registration import superres_model

    kept = superres_model.SECOND_START_MOVE
    superres_model.SECOND_START_MOVE = move
    try:
        p, res, m, cpu = user_answer(frames)
    finally:
        superres_model.SECOND_START_MOVE = kept
    print(f"  gate {move:4.2f} px: PSNR {m['psnr']:.2f} lam {res.metrics['lam_chosen']:.4g} motion {m['motion_error']:.3f} "
          f"stopped ladder taken {m.get('start_stopped_ladder_taken', float('nan')):g} its run kept "
          f"{getattr(p, 'second_start_kept', float('nan')):g} CPU {cpu:.1f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("frames", type=Path, help="a kept set (bench_lambda_sr.py --keep): frames, truth, motion")
    ap.add_argument("--variant", nargs="+", action="append", default=[], metavar="NAME [KEY=VALUE ...]")
    ap.add_argument("--out", type=Path, required=True, help="the runs' folders and variants.json")
    ap.add_argument("--stages", nargs="+", default=[], metavar="MODEL", help="the ladder's stages for these models")
    ap.add_argument("--gate", nargs="+", type=float, default=[], metavar="MOVE", help="auto with this second-start gate")
    args = ap.parse_args()
    for model in args.stages:
        stages(args.frames, model)
    for move in args.gate:
        gated(args.frames, move)
    rows = []
    for name, *extra in args.variant:
        run_dir = args.out / name
        r = readme_run(args.frames, 2, args.frames, args.frames, run_dir, tuple(extra))
        if r["rc"] != 0:
            raise SystemExit(f"{name}: rc {r['rc']}: {r['tail']}")
        m = r["metrics"]
        row = {"variant": name, "overrides": extra, "psnr": m["psnr"], "lam": m.get("lam_chosen", float("nan")),
               "lam_first": m.get("lam_first", float("nan")), "motion_error": m["motion_error"],
               "motion_move": m.get("lam_motion_move", float("nan")), "check": m.get("frames_check_ratio"),
               "max_iter_hit": "max_iter" in (r["message"] or ""), "cpu_s": r["cpu_s"], **history(run_dir)}
        rows.append(row)
        print(f"{name:12s} PSNR {row['psnr']:.2f} lam {row['lam']:.4g} (first {row['lam_first']:.4g}) motion "
              f"start {row['start']:.3f} rounds {' '.join(f'{v:.3f}' for v in row['rounds'])} end {row['end']:.3f} "
              f"(answer {row['motion_error']:.3f}; moved {row['motion_move']:.3g}) steps {row['steps']} "
              f"max_iter {row['max_iter_hit']} check {row['check']:.3f} CPU {row['cpu_s']:.1f} s", flush=True)
    if rows:
        (args.out / "variants.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
