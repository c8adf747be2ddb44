#!/usr/bin/env python
"""Super-resolution at the sizes users have: regrun's whole process beside the two-stage SimpleITK peer and
the true-motion oracle, 32x32 to 256x256 (512x512 where it fits) from 8 and 16 frames, 1% noise, one thread.

Frame sets: regrun.imaging.synthetic.superres_frames (held out: a textured phantom cell-averaged `supersample`
times finer than the reference, frames 1.. moved by random affines, Gaussian noise), written as .npz.

- regrun:  `regrun problem=superres problem.data=frames ...` as a user runs it (default solver varpro_cg,
           linear=auto, figures off), as a child process: whole-process CPU seconds (user + system, start-up
           and the final evaluation included), wall seconds and peak resident memory of the child;
           PSNR, SSIM and motion error from its results.h5;
- peer:    SimpleITK affine registration of each frame to frame 0 (MeanSquares, B-spline, a pyramid), then
           the same regularised least squares for the image with that motion fixed (solved to a relative
           residual of 1e-10 by regrun's preconditioned CG; frame pixels that saw beyond the field of view
           left out at that motion, as regrun's problem.outside=drop does at its own); CPU seconds of the
           registration and the solve;
- oracle:  the same least squares at the true motion.
The weight rule is the same for all three: problem.lambda_f (default 0.1); `--lambda-f auto` runs regrun as a
user does with no weight typed (chosen from the frames) and gives the peer and the oracle the weight it chose;
`--peer-weights` also scores them at multiples of it (the peer at its best weight). `--channels 3`: colour frames.

    pip install -e .[bench]
    python scripts/bench_superres_scaling.py --out outputs/bench/superres_scaling.json \
        --plot docs/img/superres_scaling.png
    python scripts/bench_superres_scaling.py --sizes 512 --frames 8 --out outputs/bench/superres_scaling_512_8.json
    python scripts/bench_superres_scaling.py --plot docs/img/superres_scaling.png --plot-from A.json B.json ...
    python scripts/bench_superres_scaling.py --sizes 32 64 128 256 --lambda-f auto --channels 3 --seed 12002 \
        --peer-weights 0.25 0.5 0.71 1.41 2 4 --out outputs/bench/superres_scaling_rgb.json

512x512 is in the default sizes: each of its rows needs about 2 GB of memory (regrun's peak resident size and
the frame generation's) and minutes of CPU; `--sizes` leaves it out. `--plot-from` draws the plot from stored
result files (rows of several runs together) without running anything.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.imaging.synthetic import superres_burst
from regrun.problems.superres import SuperRes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_superres_frames import scores, sitk_motion, sitk_one_thread, solve_channels, write_peer_rows  # noqa: E402  (scripts/bench_superres_frames.py)


def write_set(root: Path, size: int, frames: int, noise: float, supersample: int, seed: int,
              channels: int = 1) -> Path:
    """The frame set as a user's .npz; colour (channels > 1) channels last, as a user's array file holds them."""
    truth, stack, w, _, _ = superres_burst(size=size, frames=frames, noise=noise, supersample=supersample, seed=seed,
                                           channels=channels)
    fr, tr = from_fair_layout(stack), from_fair_layout(truth)
    if channels > 1:
        fr, tr = np.moveaxis(fr, 1, -1), np.moveaxis(tr, 0, -1)
    path = root / f"set_{size}_{frames}_{seed}_{channels}.npz"
    np.savez(path, **{FRAMES_KEY: fr, TRUTH_KEY: tr, "w": w})
    return path


def run_regrun(path: Path, lam: float, out: Path, timeout: int) -> dict:
    """The user's command in a child process; CPU and peak memory from the child's rusage."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = ["regrun", "problem=superres", "problem.data=frames", f"problem.frames={path}", f"problem.truth={path}",
           f"problem.true_motion={path}", f"problem.lambda_f={lam}", "figures=false", "progress=false",
           f"hydra.run.dir={out}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        ok = proc.returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    row = {"regrun_wall_s": wall, "regrun_cpu_s": cpu,
           "regrun_sys_s": after.ru_stime - before.ru_stime,
           "regrun_peak_mb": after.ru_maxrss / 1024, "regrun_ok": ok}  # ru_maxrss: largest child so far (KB)
    if ok:
        with h5py.File(out / "results.h5", "r") as f:
            m = f["metrics"]
            row.update(psnr_regrun=float(m["psnr"][()]), ssim_regrun=float(m["ssim"][()]),
                       motion_err_regrun=float(m["motion_error"][()]))
            if "lam_chosen" in m:
                row.update(lam_chosen=float(m["lam_chosen"][()]), lam_solves=float(m["lam_solves"][()]))
    return row


def at_weights(p, w, lam: float, factors) -> dict:
    """The least squares at motion w (a peer's image, all channels) at lam * each factor: the scores at lam
    itself and at the factor of the best PSNR (the method at its best weight of the grid)."""
    rows = {}
    for k in factors:
        p.model.set_weight(lam * k)
        rows[k] = scores(p, solve_channels(p, w))
    p.model.set_weight(lam)
    best = max(rows, key=lambda k: rows[k]["psnr"])
    return {"at": rows.get(1.0, rows[best]), "best": rows[best], "best_lam": lam * best,
            "best_at_edge": best in (min(factors), max(factors)) and len(factors) > 1}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    ap.add_argument("--frames", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--lambda-f", default="0.1", help="a weight, or auto (chosen by regrun; the peer and "
                    "the oracle then use regrun's choice)")
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--channels", type=int, default=1, help="3: colour frames (superres_burst's colour scene)")
    ap.add_argument("--peer-weights", type=float, nargs="+", default=[1.0], metavar="FACTOR",
                    help="the peer and the oracle also at these multiples of the weight: their best PSNR of them "
                         "(the peer at its best weight) beside the one at the weight itself")
    ap.add_argument("--timeout", type=int, default=900, help="seconds allowed to one regrun run")
    ap.add_argument("--out", default="bench_superres_scaling.json")
    ap.add_argument("--keep", type=Path, default=None, help="keep the frame sets and regrun's run folders here "
                    "(its motion in results.h5, for diagnosis)")
    ap.add_argument("--plot", default=None, help="log-log plot of CPU time against pixels (PNG)")
    ap.add_argument("--plot-from", nargs="+", default=None, metavar="JSON",
                    help="only draw --plot from these result files' rows (no runs)")
    args = ap.parse_args(argv)
    if args.plot_from:
        if not args.plot:
            sys.exit("--plot-from needs --plot PATH")
        rows = [r for name in args.plot_from for r in json.loads(Path(name).read_text())["rows"]]
        plot(sorted(rows, key=lambda r: (r["frames"], r["pixels"])), args.plot)
        return
    sitk = sitk_one_thread()
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for size in args.sizes:
            for nf in args.frames:
                path = write_set(root, size, nf, args.noise, args.supersample, args.seed, args.channels)
                row = {"size": size, "pixels": size * size, "frames": nf, "lambda_f": args.lambda_f,
                       "channels": args.channels, "seed": args.seed}
                row.update(run_regrun(path, args.lambda_f, root / f"run_{size}_{nf}", args.timeout))
                lam = row.get("lam_chosen", 0.1) if args.lambda_f == "auto" else float(args.lambda_f)
                cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                     true_motion=str(path), lambda_f=lam)
                p = SuperRes(cfg, ctx)
                factors = sorted(set(args.peer_weights) | {1.0})
                c0 = time.process_time()
                w_peer = sitk_motion(p)
                peer = at_weights(p, w_peer, lam, [1.0])
                row["peer_cpu_s"] = time.process_time() - c0
                if factors != [1.0]:
                    peer = at_weights(p, w_peer, lam, factors)
                oracle = at_weights(p, p.w_true, lam, factors)
                row.update(psnr_peer=peer["at"]["psnr"], ssim_peer=peer["at"]["ssim"],
                           motion_err_peer=p.motion_error(w_peer),
                           psnr_oracle=oracle["at"]["psnr"], ssim_oracle=oracle["at"]["ssim"],
                           psnr_peer_best=peer["best"]["psnr"], peer_best_lam=peer["best_lam"],
                           peer_best_at_edge=peer["best_at_edge"], psnr_oracle_best=oracle["best"]["psnr"],
                           oracle_best_lam=oracle["best_lam"])
                if "psnr_regrun" in row:
                    row["gain_over_peer_db"] = row["psnr_regrun"] - row["psnr_peer"]
                    row["gain_over_peer_best_db"] = row["psnr_regrun"] - row["psnr_peer_best"]
                rows.append(row)
                print(json.dumps(row), flush=True)
    write_peer_rows(args.out, rows, args, sitk)
    if args.plot:
        plot(rows, args.plot)


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for nf, marker in ((8, "o"), (16, "s")):
        sel = [r for r in rows if r["frames"] == nf and r.get("regrun_ok")]
        if sel:
            ax.loglog([r["pixels"] for r in sel], [r["regrun_cpu_s"] for r in sel], marker + "-",
                      label=f"regrun (whole process), {nf} frames")
        sel = [r for r in rows if r["frames"] == nf]
        ax.loglog([r["pixels"] for r in sel], [r["peer_cpu_s"] for r in sel], marker + "--",
                  label=f"SimpleITK + least squares, {nf} frames")
    px = np.array(sorted({r["pixels"] for r in rows}), dtype=float)
    ref = [r for r in rows if r.get("regrun_ok") and r["frames"] == 16]
    if ref and len(px) > 1:
        n0, t0 = ref[-1]["pixels"], ref[-1]["regrun_cpu_s"]
        ax.loglog(px, t0 * px * np.log(px) / (n0 * np.log(n0)), "k:", label="N log N")
    ax.set_xlabel("fine pixels N")
    ax.set_ylabel("CPU seconds (one thread)")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
