#!/usr/bin/env python
"""Where the pre-registration's affine ladder ends with implausible area scales, and whether they mean a bad
registration (issue 16, srscale): on kept frame sets (bench_lambda_sr.py --keep; truth and true motion only to
judge), with the user's settings (problem.motion_model=affine, i.e. the first solve of `auto`, on the frames less
their level, problem.frames_level's default), the ladder's per-frame area scale det A and singular values of A (fine px) after every stage,
beside each frame's motion error (RMS fine px against the true motion) and the true motion's det; the same for
the stopped ladder (superres_start.stopped_ladder: small frames' second start).

    PYTHONPATH=CODE python scripts/diag_sr_scale.py OUT/frames/SET.npz ... [--out OUT/scale.json]
    PYTHONPATH=CODE python scripts/diag_sr_scale.py --write OUT/frames --set IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION] ...

--write makes the sets first (bench_lambda_sr.py's frame sets, as diag_sr_gcv_se.py writes them: supersample 8),
named as bench_lambda_sr.py --keep names them, and prints their paths (for diag_sr_solve_history.py, the user's
command).

One line a set: the worst stage's det range, the end's det range and motion error, and the frames out of
[1/s, s] for s in SCALES at the end, with their errors. The user's whole command is diag_sr_solve_history.py's.
The guard tried on these numbers (the rigid ladder's end for frames out of [1/2, 2]; not merged) and its count of
replaced frames (--fires) are at commit 8b88827 of branch srscale (docs/superres.md, "srscale").
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diag_sr_solve_history import user_problem  # noqa: E402  scripts/diag_sr_solve_history.py
from diag_superres_motion import frame_errors, rms  # noqa: E402  scripts/diag_superres_motion.py

SCALES = (1.25, 1.5, 2.0)


def scales(p, w) -> dict[str, list[float]]:
    """Per frame of affine w (q, 6): det A and A's singular values in fine px, and the motion error."""
    import torch

    a = w.reshape(p.model.q, 6)[:, :4].reshape(-1, 2, 2)
    h = torch.as_tensor(p.model.fine.h, dtype=a.dtype)
    a = a * h[None, None, :] / h[None, :, None]  # H^-1 A H, as superres_motion.motion_excess
    sv = torch.linalg.svdvals(a)
    return {"det": [round(float(v), 4) for v in torch.linalg.det(a)],
            "sv_max": [round(float(v), 4) for v in sv[:, 0]], "sv_min": [round(float(v), 4) for v in sv[:, 1]],
            "error": frame_errors(p, w)}


def measure(frames: Path) -> dict:
    from regrun.registration.superres_start import stopped_ladder

    p = user_problem(frames, motion_model="affine")
    trace = []
    p.model.preregister(drop_outside=p.outside == "drop", trace=trace)
    row = {"set": frames.stem, "level": float(getattr(p, "level", 0.0)), "coarse": list(p.model.coarse.m),
           "truth": scales(p, p.w_true.reshape(p.model.q, 6)),
           "stages": [(stage, scales(p, w.reshape(p.model.q, 6))) for stage, w in trace]}
    small = p.outside == "drop" and max(p.model.coarse.m) <= _small_max()
    row["stopped"] = scales(p, stopped_ladder(p, None).reshape(p.model.q, 6)) if small else None
    return row


def _small_max() -> int:
    from regrun.registration.superres_model import PREREG_SMALL_MAX

    return PREREG_SMALL_MAX


def summary(row: dict) -> str:
    def rng(s):
        return f"{min(s['det']):.3g}-{max(s['det']):.3g}"

    end = row["stages"][-1][1]
    worst = max(row["stages"], key=lambda st: max(max(st[1]["det"]), 1 / max(min(st[1]["det"]), 1e-300)))
    out = [f"{row['set']}: truth det {rng(row['truth'])}; worst stage {worst[0]} det {rng(worst[1])}; end det "
           f"{rng(end)} error {rms(end['error']):.2f} px (max frame {max(end['error']):.2f})"]
    for s in SCALES:
        off = [(d, e) for d, e in zip(end["det"], end["error"]) if not 1 / s <= d <= s]
        out.append(f"  end out of [1/{s:g}, {s:g}]: {len(off)} frames" +
                   ("".join(f" (det {d:.3g}, {e:.2f} px)" for d, e in off) if off else ""))
    if row["stopped"] is not None:
        st = row["stopped"]
        out.append(f"  stopped ladder det {rng(st)} error {rms(st['error']):.2f} px")
    return "\n".join(out)


def write(root: Path, specs: list[dict]) -> list[Path]:
    """The sets written under root (diag_sr_gcv_se.write_frames), named by bench_lambda_sr.frame_file."""
    from bench_lambda_sr import frame_file
    from diag_sr_gcv_se import write_frames

    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        path = frame_file(root, spec["kind"], spec["size"], spec["noise"], spec["seed"], spec["frames"],
                          spec["motion"], False)
        write_frames(spec, path)
        paths.append(path)
    return paths


def run_sets(frames: list[Path], measure, summary, out: Path | None) -> list[dict]:
    """measure(set) per set, its summary printed, all rows as JSON in `out` (rewritten after every set)."""
    rows = []
    for f in frames:
        rows.append(measure(f))
        print(summary(rows[-1]), flush=True)
        if out:
            out.write_text(json.dumps(rows, indent=1))
    return rows


def main(argv=None) -> None:
    from bench_lambda_sr import parse_set

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("frames", type=Path, nargs="*", help="kept sets (bench_lambda_sr.py --keep): frames, truth, motion")
    ap.add_argument("--write", type=Path, help="make the --set sets in this folder and print their paths")
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, default=[], metavar="IMAGE,SIZE,FRAMES,NOISE,SEED")
    ap.add_argument("--out", type=Path, help="all numbers as JSON (one file, rewritten after every set)")
    args = ap.parse_args(argv)
    if args.write:
        print("\n".join(str(p) for p in write(args.write, args.sets)))
        return
    run_sets(args.frames, measure, summary, args.out)


if __name__ == "__main__":
    main()
