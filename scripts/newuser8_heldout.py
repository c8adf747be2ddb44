"""Held-out batch of newuser8 (a new user's afternoon from a fresh clone): the mistyped overrides, the frames of a few
values, the collect after a kill -9 and the parallel sweep's console that its fixes are for, run against a checkout
as its console scripts run it (`regrun.console`); prints one JSON row per case (docs/sweeps.md, "A new user's
afternoon from a fresh clone (newuser8)").

    python scripts/newuser8_heldout.py --root CHECKOUT --work DIR [--seed 24901] [--only NAME ...]

CHECKOUT is the tree to judge (put first on PYTHONPATH, joblib's workers too). Data made here from the seed (never
used before; nothing tuned on them) with numpy, Pillow and scikit-image only:
- typed_*: 12 commands mistyped as the brief lists (a key and its value apart, `key = value`, with a key drawn from
  the seed; overrides separated by commas; a sweep list ending in a comma; keys without their group in pairs; a
  misspelt problem.data beside problem.frames); judged: exit 2, one stderr line, which holds the override to write;
- twice: `-m seed=A,B seed=C dry_run=true` (A, B, C drawn): judged: a warning that names the key;
- levels_*: 4 scenes (scikit-image's moon, coins, text, brick: 48 x 48 crops at offsets drawn from the seed), 8
  frames of 24 x 24 (factor 2, shifts in +-2 px drawn, 0.5% noise), each as float .npy, 8-bit PNGs, a bool .npy
  (above its median), and int64 .npy of the frames in [0, 1] times 3, 15 and 31 (astype truncates, and the frames
  do not reach 1: on seed 24901 2-3 / 7-12 / 13-24 distinct values, where this docstring first said 4 / 16 / 32);
  judged: the few-values warning exactly where a stack holds at most 16 distinct values; PSNR against the scene
  (its own scale) beside the float frames';
- killed: the same command (8 frames) sent SIGINT at a time drawn in 3-6 s, then again and sent SIGKILL at a time
  drawn in 3-6 s; judged: regrun-collect's console line says the newest run, killed;
- sweep: a joblib sweep (2 workers, 4 jobs: the levels scenes' float frames); judged: console lines holding two
  jobs' text (two "regrun: " in one line), and lines of a job without its number.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SEED = 24901
CONSOLE = "import sys; from regrun.console import {f}; sys.argv[0] = '{name}'; sys.exit({f}())"


def _cmd(name: str) -> list[str]:
    f = {"regrun": "regrun", "regrun-collect": "collect"}[name]
    return [sys.executable, "-c", CONSOLE.format(f=f, name=name)]


def _run(args: list[str], cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd("regrun") + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def typed(rng, work: Path, env: dict, frames: Path) -> list[dict]:
    keys = [("seed", "3"), ("problem.factor", "2"), ("solver.max_iter", "7"), ("problem.lambda_f", "auto")]
    k1, k2 = (keys[i] for i in rng.choice(len(keys), 2, replace=False))
    n = int(rng.integers(2, 9))
    cases = {
        "apart_group": (["problem", "=", "superres"], "problem=superres"),
        "apart_key": (["problem=superres", k1[0], "=", k1[1]], f"{k1[0]}={k1[1]}"),
        "apart_key2": (["problem=superres", k2[0], "=", k2[1]], f"{k2[0]}={k2[1]}"),
        "commas": (["problem=superres", f"problem.factor={n},", "problem.lambda_f=auto"], "ends in a comma"),
        "commas_sweep": (["-m", "problem=superres", f"seed={n},{n + 1},"], "ends in a comma"),
        "ungrouped_pair": (["problem.data=files", "template=T.png", "reference=R.png"], "`problem.template`"),
        "ungrouped_pair_sr": (["problem=superres", "problem.data=frames", f"frames={frames}", f"factor={n}"],
                              "`problem.frames`"),
        "data_frame": (["problem=superres", "problem.data=frame", f"problem.frames={frames}"],
                       "did you mean problem.data=frames?"),
        "data_Frames": (["problem=superres", "problem.data=Frames", f"problem.frames={frames}"],
                        "did you mean problem.data=frames?"),
        "data_frmaes": (["problem=superres", "problem.data=frmaes", f"problem.frames={frames}"],
                        "did you mean problem.data=frames?"),
        "apart_value": (["problem=superres", "problem.data", "=", "frames"], "problem.data=frames"),
        "data_files_pair": (["problem.data=file", "problem.template=T.png", "problem.reference=R.png"],
                            "did you mean 'files'?"),
    }
    rows = []
    for name, (args, want) in cases.items():
        got = _run(args + ["figures=false", f"hydra.run.dir={work / 'typed' / name}"], work, env)
        lines = [ln for ln in got.stderr.splitlines() if ln.strip()]
        rows.append({"case": f"typed_{name}", "exit": got.returncode, "stderr_lines": len(lines),
                     "names_fix": want in got.stderr, "said": (lines[-1] if lines else "")[:200]})
    a, b, c = (int(x) for x in rng.integers(10, 99, 3))
    got = _run(["-m", f"seed={a},{b}", f"seed={c}", "dry_run=true", f"hydra.sweep.dir={work / 'twice'}"], work, env)
    rows.append({"case": "twice", "exit": got.returncode, "warned": "seed is given 2 times" in got.stderr,
                 "jobs_line": next((ln for ln in got.stdout.splitlines() if "jobs" in ln), "")[:120]})
    return rows


def _scene(name: str, rng) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    img = img if img.ndim == 2 else img[..., 0]
    r, c = (int(rng.integers(0, s - 48)) for s in img.shape)
    return img[r:r + 48, c:c + 48].astype(np.float64) / 255.0


def _burst(scene: np.ndarray, rng) -> np.ndarray:
    from scipy.ndimage import shift

    out = []
    for k in range(8):
        s = np.zeros(2) if k == 0 else rng.uniform(-2, 2, 2)
        out.append(shift(scene, s, order=3, mode="nearest").reshape(24, 2, 24, 2).mean((1, 3)))
    return np.clip(np.array(out) + 0.005 * rng.standard_normal((8, 24, 24)), 0, 1)


def levels(rng, work: Path, env: dict) -> tuple[list[dict], list[Path]]:
    from PIL import Image

    rows, floats = [], []
    for name in ("moon", "coins", "text", "brick"):
        scene = _scene(name, rng)
        frames = _burst(scene, rng)
        folder = work / "levels" / name
        (folder / "png").mkdir(parents=True, exist_ok=True)
        variants = {"float": (frames, scene), "bool": (frames > np.median(frames), None)}
        for k in (3, 15, 31):
            variants[f"int{k}"] = ((frames * k).astype(np.int64), scene * k)
        for i, f in enumerate(frames):
            Image.fromarray((f * 255).round().astype(np.uint8)).save(folder / "png" / f"f{i}.png")
        for variant, (stack, truth) in [*variants.items(), ("png8", (None, scene * 255))]:
            path = folder / "png" if stack is None else folder / f"{variant}.npy"
            if stack is not None:
                np.save(path, stack)
            args = ["problem=superres", "problem.data=frames", f"problem.frames={path}", "figures=false",
                    f"hydra.run.dir={work / 'levels_runs' / name / variant}"]
            if truth is not None:
                np.save(folder / f"truth_{variant}.npy", truth)
                args.append(f"problem.truth={folder / f'truth_{variant}.npy'}")
            got = _run(args, work, env)
            metrics = {}
            try:
                metrics = json.loads((work / "levels_runs" / name / variant / "metrics.json").read_text())["metrics"]
            except (OSError, ValueError, KeyError):
                pass
            values = len(np.unique(frames if stack is None else stack))
            rows.append({"case": f"levels_{name}_{variant}", "exit": got.returncode, "distinct": values,
                         "warned": "distinct values" in got.stderr, "psnr": round(metrics.get("psnr", np.nan), 2)})
        floats.append(folder / "float.npy")
    return rows, floats


def killed(rng, work: Path, env: dict, frames: Path) -> list[dict]:
    folder = work / "killed"
    folder.mkdir(parents=True, exist_ok=True)
    args = ["problem=superres", "problem.data=frames", f"problem.frames={frames}", "figures=false"]
    times = []
    for sig in (signal.SIGINT, signal.SIGKILL):
        at = float(rng.uniform(3, 6))
        p = subprocess.Popen(_cmd("regrun") + args, cwd=folder, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            p.wait(at)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, sig)
        p.wait(120)
        times.append((round(at, 2), p.returncode))
        time.sleep(1.1)  # a new second: the next run its own folder name
    got = subprocess.run(_cmd("regrun-collect") + ["outputs", "--no-plots"], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=300)
    line = next((ln for ln in got.stdout.splitlines() if "runs (" in ln), "")
    return [{"case": "killed", "signals_at_s_exit": times, "collect": line[:120],
             "files": sorted(Path(f).name for f in glob.glob(str(folder / "outputs/*/*/results.h5*")))}]


def sweep(work: Path, env: dict, floats: list[Path]) -> list[dict]:
    got = _run(["-m", "problem=superres", "problem.data=frames", "problem.frames=" + ",".join(map(str, floats)),
                "figures=false", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                f"hydra.sweep.dir={work / 'sweep'}"], work, env)
    lines = got.stdout.splitlines()
    mixed = [ln for ln in lines if ln.count("regrun: ") > 1]
    jobs = [ln for ln in lines if "regrun: " in ln and not ln.startswith(("regrun: ", "[HYDRA]"))]
    unnumbered = [ln for ln in lines if ln.startswith("regrun: ") and " -> " in ln and "sweep" not in ln]
    return [{"case": "sweep", "exit": got.returncode, "lines": len(lines), "mixed_lines": len(mixed),
             "numbered_job_lines": len(jobs), "unnumbered_job_starts": len(unnumbered),
             "first_mixed": (mixed[0] if mixed else "")[:160]}]


def parse_checkout(ap: argparse.ArgumentParser) -> tuple[argparse.Namespace, dict]:
    """--root CHECKOUT and --work DIR added to ap and parsed; DIR made; the environment a run of CHECKOUT's code
    gets (first on PYTHONPATH, one thread)."""
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(args.root.resolve()), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return args, env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--only", nargs="*", default=None)
    args, env = parse_checkout(ap)
    stream = lambda name: np.random.default_rng([args.seed, len(name)])  # noqa: E731
    want = lambda name: args.only is None or name in args.only  # noqa: E731
    rows, floats = levels(stream("levels"), args.work, env) if want("levels") else ([], [])
    if not floats:  # the frames the other cases read, without the levels' runs
        rng = stream("levels")
        for name in ("moon", "coins", "text", "brick"):
            path = args.work / "levels" / name / "float.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, _burst(_scene(name, rng), rng))
            floats.append(path)
    if want("typed"):
        rows += typed(stream("typed"), args.work, env, floats[0])
    if want("killed"):
        rows += killed(stream("killed"), args.work, env, floats[1])
    if want("sweep"):
        rows += sweep(args.work, env, floats)
    for row in rows:
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
