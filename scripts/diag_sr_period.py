#!/usr/bin/env python
"""Which step puts a periodic texture's motion a brick's length off (issue 16, srperiod): on a kept frame set
(bench_lambda_sr.py --keep; truth and true motion only to judge), with the user's settings otherwise,
(1) the pre-registration ladder's motion error (RMS fine px against the true motion) after each stage, for the
affine ladder on the frames less their level (the user's `frames_level`), the same ladder on the frames as given,
and the rigid ladder less the level; (2) each candidate start's error and its size (RMS distance of the moved fine
cell centres from no motion, fine px): the full ladder's end, the stopped ladder (superres_start.second_start's)
and the ladder on the frames as given, beside the true motion's size; (3) the affine answer (varpro_cg, the
user's defaults, problem.motion_model=affine) from the user's starts and, with --given, again with the ladder on the
frames as given in the stopped ladder's place as the second start (set for this process only: the code unchanged):
PSNR, weight, motion error per frame and which start's run the solve's own objective kept. The global start is
not listed: it runs on frames of GLOBAL_START_MIN px a side or more only (superres_model.py).

    PYTHONPATH=CODE python scripts/diag_sr_period.py OUT/frames/SET.npz ... [--given] [--out OUT/period.json]

The user's whole command (gain_again and the motion model's choice included) is diag_sr_solve_history.py's.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diag_sr_solve_history import user_answer, user_problem  # noqa: E402  scripts/diag_sr_solve_history.py
from diag_superres_motion import frame_errors, rms  # noqa: E402  scripts/diag_superres_motion.py

LADDERS = (("affine less the level", {"motion_model": "affine"}),
           ("affine as given", {"motion_model": "affine", "frames_level": False}),
           ("rigid less the level", {"motion_model": "rigid"}))


def error(p, params) -> float:
    """The motion error (RMS over frames of each frame's RMS, fine px) of problem.motion_model's parameters."""
    return rms(frame_errors(p, p.motion.to_affine(params.reshape(-1)).reshape(p.model.q, 6)))


def ladder_stages(frames: Path) -> dict[str, list[tuple[str, float]]]:
    """Each ladder's (stage, motion error) after every stage."""
    out = {}
    for name, settings in LADDERS:
        p = user_problem(frames, **settings)
        trace = []
        p.model.preregister(drop_outside=p.outside == "drop", trace=trace,
                            transform=None if p.motion.is_affine else p.motion.transform)
        out[name] = [(stage, error(p, w)) for stage, w in trace]
    return out


def starts(frames: Path) -> dict[str, dict[str, float]]:
    """The affine candidate starts' errors and sizes (fine px), and the true motion's size."""
    from regrun.registration.superres_start import as_given_ladder, start_distance, stopped_ladder

    p = user_problem(frames, motion_model="affine")
    still = p.motion.identity(p.model.dtype, p.model.device)
    cands = {"full ladder": p.model.preregister(drop_outside=p.outside == "drop"),
             "stopped ladder": stopped_ladder(p, None), "as given": as_given_ladder(p, None)}
    out = {k: {"error": error(p, w), "size": start_distance(p, still, w)} for k, w in cands.items()}
    out["truth"] = {"error": 0.0, "size": start_distance(p, still, p.w_true)}
    return out


def affine_answer(frames: Path, given: bool) -> dict:
    """varpro_cg's affine answer; given: the ladder on the frames as given as the second start."""
    from regrun.registration import superres_start

    kept = superres_start.second_start
    if given:
        superres_start.second_start = lambda problem, transform, first: superres_start.as_given_ladder(problem,
                                                                                                     transform)
    try:
        p, res, m, cpu = user_answer(frames, motion_model="affine")
    finally:
        superres_start.second_start = kept
    return {"psnr": m["psnr"], "lam": res.metrics["lam_chosen"], "motion_error": m["motion_error"],
            "per_frame": frame_errors(p, res.solution["w"].reshape(p.model.q, 6)),
            "second_start_kept": m.get("second_start_kept", float("nan")),
            "frames_check_ratio": m.get("frames_check_ratio", float("nan")), "cpu_s": cpu}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("frames", type=Path, nargs="+", help="kept sets (bench_lambda_sr.py --keep): frames, truth, motion")
    ap.add_argument("--given", action="store_true", help="also the affine answer with the as-given second start")
    ap.add_argument("--out", type=Path, help="all numbers as JSON")
    args = ap.parse_args(argv)
    rows = []
    for f in args.frames:
        row = {"set": f.stem, "ladders": ladder_stages(f), "starts": starts(f), "answer": affine_answer(f, False)}
        if args.given:
            row["answer_given"] = affine_answer(f, True)
        rows.append(row)
        print(f.stem, flush=True)
        for name, trace in row["ladders"].items():
            print(f"  {name:22s} " + " ".join(f"{stage} {e:.2f}" for stage, e in trace))
        print("  starts: " + " | ".join(f"{k} error {v['error']:.2f} size {v['size']:.2f}"
                                        for k, v in row["starts"].items()))
        for key in ("answer", "answer_given")[:1 + args.given]:
            a = row[key]
            print(f"  {key:12s} PSNR {a['psnr']:.2f} lam {a['lam']:.4g} motion {a['motion_error']:.3f} second start's "
                  f"run kept {a['second_start_kept']:g} check {a['frames_check_ratio']:.3f} CPU {a['cpu_s']:.1f} s"
                  "  per frame " + " ".join(f"{e:.2f}" for e in a["per_frame"]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
