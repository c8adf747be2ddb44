"""How long a super-resolution run takes on frames quantised to a few grey values, and what it says (srfew; docs/
sweeps.md, "Frames of a few grey values: the motion leaves any plausible range (srfew)"). newuser9 measured 6.5 min
and more on 2-valued frames whose float frames solve in 23 s: a frame's motion left any plausible range.

The stacks are newuser9_levels.py's (scikit-image scenes, newuser8's burst of 8 frames of 24^2, `--extra` more noise,
float and `(frames * k).round()` for each k of `--levels`). Each is run as the README says (`regrun problem=superres
problem.data=frames`, the scene as truth) with a wall-clock cap (--cap s: a run past it is killed and counted as no
answer); one JSON row per run: exit code, wall and CPU seconds (the child's user + sys), the results file's status,
PSNR and its loss against the float frames, and the plausible range's record (motion_steps_refused, motion_excess,
second_start_refused: superres_motion.motion_range) and whether the console named it ("the motion:").

    python scripts/srfew_levels.py --root CHECKOUT --work DIR --seed S --scenes coins brick \
        [--extra 0 0.02] [--levels 1 2 3] [--cap 240] [--jobs 2]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from newuser8_heldout import _run, parse_checkout  # noqa: E402
from newuser9_levels import _cases  # noqa: E402

RANGE_KEYS = ("motion_steps_refused", "motion_excess", "second_start_refused")


def _one(case: dict, work: Path, env: dict, cap: float) -> dict:
    folder, tag = case["folder"], case["tag"]
    run = folder / f"run_{tag}"
    row = {"scene": case["scene"], "extra": case["extra"], "k": case["k"], "distinct": case["distinct"]}
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    try:
        got = _run(["problem=superres", "problem.data=frames", f"problem.frames={folder / f'{tag}.npy'}",
                    f"problem.truth={folder / f'truth_{tag}.npy'}", "figures=false", f"hydra.run.dir={run}"],
                   work, env, timeout=cap)
        row["exit"], text = got.returncode, got.stdout + got.stderr
    except subprocess.TimeoutExpired:
        row["exit"], text = None, ""
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    row["wall_s"] = round(time.perf_counter() - t0, 1)
    row["cpu_s"] = round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 1)
    try:
        saved = json.loads((run / "metrics.json").read_text())
    except (OSError, ValueError):
        saved = {}
    metrics = saved.get("metrics", {})
    row.update(status=saved.get("status") if row["exit"] is not None else f"no answer in {cap:g} s",
               psnr=round(metrics.get("psnr", float("nan")), 2), named="the motion:" in text,
               **{k: round(metrics[k], 3) for k in RANGE_KEYS if k in metrics})
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--scenes", nargs="+", required=True)
    ap.add_argument("--extra", type=float, nargs="+", default=[0.0, 0.02])
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--cap", type=float, default=240.0, help="wall seconds a run may take before it is killed")
    ap.add_argument("--jobs", type=int, default=2)
    args, env = parse_checkout(ap)
    cases = _cases(args)
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda c: _one(c, args.work, env, args.cap), cases))
    floats = {(r["scene"], r["extra"]): r["psnr"] for r in rows if r["k"] is None}
    for row in rows:
        row["loss_db"] = round(floats[(row["scene"], row["extra"])] - row["psnr"], 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
