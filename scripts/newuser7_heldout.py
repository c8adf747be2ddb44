"""Held-out batch of newuser7 (a new user's afternoon from a fresh clone): the interruptions and the odd sinograms
its fixes are for, run through the console scripts a `pip install -e .` of a checkout writes (the Ctrl-C fix is in
which module they import first); prints one JSON row per case (docs/sweeps.md, "A new user's afternoon from a fresh
clone (newuser7)").

    python scripts/newuser7_heldout.py --bin VENV/bin --work DIR [--seed 23101] [--only NAME ...]

VENV is a virtual environment with the checkout to judge installed (`pip install -e CHECKOUT`). Data made here
from the seed (never used before; nothing tuned on them) with numpy and scikit-image only:
- ctrl_c: `regrun` (the default run) sent SIGINT, as a terminal's Ctrl-C reaches its process group, at 16 times
  drawn from the seed in 0.05-1.5 s (Python loading the command, composing, claiming the folder); judged per try:
  exit 130, no traceback, one stderr line, and the results file's status where a folder was claimed;
- sweep_ctrl_c: a joblib sweep (2 workers, 4 jobs of 8 frames 32 x 32 drawn from scikit-image's camera) sent SIGINT
  at 3 times drawn in 8-24 s; judged: every job folder's results file says `interrupted`, none left `running`;
- sino_*: scikit-image's radon of 5 images (shepp-logan, camera, coins, moon, brick crops, 64 x 64, 48 views at
  angles drawn from the seed, 0.5-3% noise) as line integrals (`line_*`: run with solver=fbp, judged: completed, and
  regrun.problems.ct_fewview.negative_values says nothing of them) and as dark-subtracted counts
  1e4 exp(-p s) - dark with negative values (`counts_*`: judged: exit 2, one line that names the counts <= 0).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SEED = 23101


def _status(folder: Path) -> str:
    import h5py

    for name in ("results.h5", "results.h5.partial"):
        if (folder / name).is_file():
            with h5py.File(folder / name, "r") as f:
                return f"{name}: {f.attrs['status']}"
    return "-"


def _interrupt(cmd: list[str], at: float, cwd: Path, env: dict) -> tuple[int, str]:
    """Run cmd in its own process group and send SIGINT to the group after `at` seconds (a terminal's Ctrl-C)."""
    p = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        p.wait(at)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=300)
    return p.returncode, err


def ctrl_c(binary: Path, work: Path, rng, env: dict) -> list[dict]:
    rows = []
    for k, at in enumerate(sorted(rng.uniform(0.05, 1.5, 16))):
        folder = work / "ctrl_c" / f"try{k}"
        t0 = time.perf_counter()
        code, err = _interrupt([str(binary / "regrun"), f"hydra.run.dir={folder}"], at, work, env)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        rows.append({"case": f"ctrl_c_{k}", "at_s": round(at, 3), "exit": code, "traceback": "Traceback" in err,
                     "stderr_lines": len(lines), "last_err": (lines[-1] if lines else "")[:160],
                     "results": _status(folder) if folder.is_dir() else "no folder",
                     "wall_s": round(time.perf_counter() - t0, 2)})
    return rows


def _frames(rng, root: Path) -> Path:
    from skimage.data import camera
    from scipy.ndimage import shift

    img = camera()[200:264, 220:284] / 255.0
    out = []
    for k in range(8):
        s = np.zeros(2) if k == 0 else rng.uniform(-2, 2, 2)
        moved = shift(img, s, order=3, mode="nearest")
        out.append(moved.reshape(32, 2, 32, 2).mean((1, 3)) + rng.normal(0, 0.01, (32, 32)))
    path = root / "frames.npy"
    np.save(path, np.stack(out))
    return path


def sweep_ctrl_c(binary: Path, work: Path, rng, env: dict) -> list[dict]:
    frames = _frames(rng, work)
    rows = []
    for k, at in enumerate(sorted(rng.uniform(8, 24, 3))):
        sweep_dir = work / "sweeps" / f"try{k}"
        cmd = [str(binary / "regrun"), "-m", "problem=superres", "problem.data=frames", f"problem.frames={frames}",
               "problem.factor=2,3", f"seed={k},{k + 10}", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
               f"hydra.sweep.dir={sweep_dir}"]
        code, err = _interrupt(cmd, at, work, env)
        jobs = sorted(p for p in sweep_dir.glob("*_*") if p.is_dir()) if sweep_dir.is_dir() else []
        states = {p.name: _status(p) for p in jobs}
        rows.append({"case": f"sweep_ctrl_c_{k}", "at_s": round(at, 2), "exit": code, "traceback": "Traceback" in err,
                     "jobs": states, "left_running": sum("running" in s for s in states.values())})
    return rows


def sinograms(binary: Path, work: Path, rng, env: dict) -> list[dict]:
    from skimage import data
    from skimage.transform import radon, resize

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from regrun.problems.ct_fewview import negative_values

    images = {"shepp": data.shepp_logan_phantom(), "camera": data.camera() / 255.0, "coins": data.coins() / 255.0,
              "moon": data.moon() / 255.0, "brick": data.brick() / 255.0}
    rows = []
    for (name, img), noise in zip(images.items(), (0.005, 0.01, 0.02, 0.03, 0.01)):
        crop = resize(img[: min(img.shape), : min(img.shape)], (64, 64), anti_aliasing=True)
        yy, xx = np.mgrid[:64, :64] - 31.5
        crop = crop * (np.hypot(yy, xx) < 30) * 0.05  # attenuation per pixel inside the field of view
        angles = np.sort(rng.uniform(0, 180, 48))
        p = radon(crop, theta=angles, circle=True).T
        line = p + rng.normal(0, noise * p.max(), p.shape)
        counts = 1e4 * np.exp(-line * rng.uniform(4, 8)) - rng.uniform(200, 400) + rng.normal(0, 30, p.shape)
        for kind, arr in (("line", line), ("counts", counts)):
            path = work / f"{kind}_{name}.npy"
            np.save(path, arr)
            folder = work / "sino" / f"{kind}_{name}"
            t0 = time.perf_counter()
            got = subprocess.run([str(binary / "regrun"), "problem=ct_fewview", "problem.data=file",
                                  f"problem.sinogram={path}", "problem.size=64", "solver=fbp",
                                  f"hydra.run.dir={folder}"], cwd=work, env=env, capture_output=True, text=True,
                                 timeout=600)
            lines = [ln for ln in got.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
            rows.append({"case": f"sino_{kind}_{name}", "exit": got.returncode, "negatives": int((arr < 0).sum()),
                         "min": round(float(arr.min()), 4), "note": negative_values(arr)[:60],
                         "stderr_lines": len(lines), "last_err": (lines[-1] if lines else "")[:400],
                         "results": _status(folder) if folder.is_dir() else "no folder",
                         "wall_s": round(time.perf_counter() - t0, 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", type=Path, required=True, help="the bin folder of a venv with the checkout installed")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--only", nargs="*", choices=("ctrl_c", "sweep_ctrl_c", "sinograms"))
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)  # the venv's own install decides which regrun runs
    for name, case in (("ctrl_c", ctrl_c), ("sweep_ctrl_c", sweep_ctrl_c), ("sinograms", sinograms)):
        sub = np.random.default_rng([a.seed, len(name)])  # each case its own stream: --only keeps the draws
        if not a.only or name in a.only:
            for row in case(a.bin.resolve(), a.work.resolve(), sub, env):
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
