"""Held-out batch of a new-user pass (issue 19, userpass3): a user's own data and mistakes, each command run once
through the CLI of the code at --repo; prints one row per case: exit status, the lines on stderr, whether a
traceback was printed, and, where a run folder exists, whether it holds summary.md, metrics.json, regrun.log and
a results file whose status matches the exit (docs/sweeps.md, "Third new-user pass").

    python scripts/userpass_heldout.py --repo PATH --work DIR

The data are made here with numpy/Pillow from seed 6271 (never used before): nothing is tuned on them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ux6_heldout import pass_arguments  # noqa: E402  (the command line every pass shares)

SEED = 6271


def make_data(work: Path) -> None:
    rng = np.random.default_rng(SEED)
    y, x = np.mgrid[0:96, 0:96] / 96.0
    scene = np.exp(-((x - 0.4) ** 2 + (y - 0.55) ** 2) / 0.01) + (np.abs(x - 0.7) < 0.1) * (np.abs(y - 0.3) < 0.2)
    scene = scene / scene.max()
    frames = work / "odd_frames"          # 7 grey PNG frames, 23 wide x 19 tall (odd sizes), shifted, factor 2
    frames.mkdir(parents=True, exist_ok=True)
    for k in range(7):
        dy, dx = rng.integers(-2, 3, 2)
        f = np.roll(scene, (dy, dx), (0, 1))[:76, :92].reshape(19, 4, 23, 4).mean((1, 3))
        Image.fromarray((230 * f + rng.normal(0, 2, f.shape)).clip(0, 255).astype(np.uint8)).save(frames / f"{k:02d}.png")
    colour = np.stack([np.stack([np.roll(scene, (k % 3, k // 3), (0, 1))[:64, :80].reshape(16, 4, 20, 4).mean((1, 3))
                                 * g for g in (0.9, 0.7, 0.4)], -1) for k in range(6)])
    np.save(work / "colour_burst.npy", (255 * colour).astype(np.uint8))      # (6, 16, 20, 3) uint8
    np.save(work / "sino_odd.npy", rng.random((37, 51)) * 3.0)              # 37 views x 51 bins
    Image.fromarray((200 * scene).astype(np.uint8)).save(work / "R96.png")
    Image.fromarray((200 * np.rot90(scene)[:80, :70]).astype(np.uint8)).save(work / "T70x80.png")
    (work / "empty").mkdir(exist_ok=True)
    mixed = work / "frames_with_txt"       # a user's folder: frames and a notes file
    mixed.mkdir(exist_ok=True)
    for k in range(3):
        Image.open(frames / f"{k:02d}.png").save(mixed / f"{k:02d}.png")
    (mixed / "notes.txt").write_text("taken 2026-12-04\n")


CASES = [
    ("odd_frames", "problem=superres problem.data=frames problem.frames={w}/odd_frames problem.factor=2"),
    ("colour_npy", "problem=superres problem.data=frames problem.frames={w}/colour_burst.npy problem.factor=2"),
    ("sino_odd", "problem=ct_fewview problem.data=file problem.sinogram={w}/sino_odd.npy solver=fbp"),
    ("pair_sizes", "problem.data=files problem.template={w}/T70x80.png problem.reference={w}/R96.png"),
    ("typo_key", "problem=superres problem.factr=2"),
    ("typo_value", "solver.optimizer=LM"),
    ("missing", "problem.data=files problem.template={w}/nope.png problem.reference={w}/R96.png"),
    ("empty_dir", "problem=superres problem.data=frames problem.frames={w}/empty"),
    ("txt_in_dir", "problem=superres problem.data=frames problem.frames={w}/frames_with_txt problem.factor=2"),
    ("sweep_bad", "-m problem.synthetic.size=24 solver.max_iter=4,-1"),
    ("explain_typo", "--explain solver.max_iters"),
    ("bool_text", "problem.data=files problem.template={w}/T70x80.png problem.reference={w}/R96.png figures=nope"),
]


def run_case(repo: Path, work: Path, name: str, args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-c", "from regrun.cli import main; main()", *args.format(w=work).split(),
           f"hydra.run.dir={work}/runs/{name}", f"hydra.sweep.dir={work}/runs/{name}"]
    p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    err = [line for line in p.stderr.splitlines() if line.strip()]
    row = {"case": name, "exit": p.returncode, "stderr_lines": len(err), "traceback": "Traceback" in p.stderr,
           "last": (err[-1] if err else (p.stdout.strip().splitlines() or [""])[-1])[:110]}
    folder = work / "runs" / name
    if folder.is_dir() and not args.startswith("-m"):
        row["files"] = "".join(c for c, f in (("s", "summary.md"), ("m", "metrics.json"), ("l", "regrun.log"))
                               if (folder / f).exists())
        if (folder / "results.h5").exists():
            import h5py
            with h5py.File(folder / "results.h5") as f:
                row["status"] = str(f.attrs["status"])
    return row


def main() -> None:
    a = pass_arguments(__doc__).parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    make_data(a.work.resolve())
    for name, args in CASES:
        if not a.only or name in a.only:
            print(json.dumps(run_case(a.repo.resolve(), a.work.resolve(), name, args)), flush=True)


if __name__ == "__main__":
    main()
