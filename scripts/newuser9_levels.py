"""What frames quantised to a few grey levels cost a super-resolution run, beside what the few-levels warning
says of them (newuser9; docs/sweeps.md, "A new user's afternoon from a fresh clone (newuser9)"). newuser8's warning
fired at <= 16 distinct values and missed a text crop at 17 values (-5.8 dB) and coins at 24 (-2.7 dB).

For each scikit-image scene (a 48 x 48 crop at an offset drawn from the seed), newuser8's burst (8 frames of 24 x 24,
factor 2, shifts in +-2 px, 0.5% noise; `newuser8_heldout._burst`), with `--extra` more gaussian noise added
(fractions of the range, e.g. 0 0.02), is run as float frames and quantised as a cast does: `(frames * k).round()`
for each k of `--levels` (k + 1 levels at most). Each run is `regrun problem=superres problem.data=frames` with
the scene as its truth (on the frames' scale); one JSON row per run: distinct values, the PSNR and its loss
against the float frames, whether the run warned, and the rule's inputs (the quantisation step's noise
step/sqrt(12) and the frames' noise estimate, both over the frames' range, from `superres.levels_noise`).

    python scripts/newuser9_levels.py --root CHECKOUT --work DIR --seed S --scenes camera grass \
        [--extra 0 0.02] [--levels 7 11 15 23 31 47 63] [--jobs 2]

CHECKOUT is the tree to judge (first on PYTHONPATH); the frames and runs go under DIR.
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from newuser8_heldout import _burst, _run, _scene, parse_checkout  # noqa: E402


def _cases(args) -> list[dict]:
    cases = []
    for s, name in enumerate(args.scenes):
        rng = np.random.default_rng([args.seed, s])
        scene = _scene(name, rng)
        base = _burst(scene, rng)
        for extra in args.extra:
            frames = np.clip(base + extra * rng.standard_normal(base.shape), 0, 1)
            folder = args.work / f"{name}_{extra:g}"
            folder.mkdir(parents=True, exist_ok=True)
            for k in [None, *args.levels]:
                stack, truth = (frames, scene) if k is None else ((frames * k).round(), scene * k)
                tag = "float" if k is None else f"k{k}"
                np.save(folder / f"{tag}.npy", stack)
                np.save(folder / f"truth_{tag}.npy", truth)
                cases.append({"scene": name, "extra": extra, "k": k, "folder": folder, "tag": tag,
                              "distinct": int(len(np.unique(stack)))})
    return cases


def _one(case: dict, work: Path, env: dict) -> dict:
    folder, tag = case["folder"], case["tag"]
    run = folder / f"run_{tag}"
    if (run / "metrics.json").exists():  # a rerun of the same command keeps what finished (warned from its log)
        metrics = json.loads((run / "metrics.json").read_text())
        return {"scene": case["scene"], "extra": case["extra"], "k": case["k"], "distinct": case["distinct"],
                "exit": 0, "psnr": round(metrics["metrics"].get("psnr", float("nan")), 2),
                "warned": "distinct values" in (run / "regrun.log").read_text()}
    got = _run(["problem=superres", "problem.data=frames", f"problem.frames={folder / f'{tag}.npy'}",
                f"problem.truth={folder / f'truth_{tag}.npy'}", "figures=false", f"hydra.run.dir={run}"], work, env)
    try:
        psnr = json.loads((run / "metrics.json").read_text())["metrics"]["psnr"]
    except (OSError, ValueError, KeyError):
        psnr = float("nan")
    return {"scene": case["scene"], "extra": case["extra"], "k": case["k"], "distinct": case["distinct"],
            "exit": got.returncode, "psnr": round(psnr, 2), "warned": "distinct values" in got.stderr}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--scenes", nargs="+", required=True)
    ap.add_argument("--extra", type=float, nargs="+", default=[0.0, 0.02])
    ap.add_argument("--levels", type=int, nargs="+", default=[7, 11, 15, 23, 31, 47, 63])
    ap.add_argument("--jobs", type=int, default=2)
    args, env = parse_checkout(ap)
    sys.path.insert(0, str(args.root.resolve()))
    import torch

    from regrun.problems.superres import levels_noise

    cases = _cases(args)
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda c: _one(c, args.work, env), cases))
    floats = {(r["scene"], r["extra"]): r["psnr"] for r in rows if r["k"] is None}
    for case, row in zip(cases, rows):
        q, sigma = levels_noise(torch.as_tensor(np.load(case["folder"] / f"{case['tag']}.npy")))
        row.update(loss_db=round(floats[(row["scene"], row["extra"])] - row["psnr"], 2), q=round(q, 5),
                   sigma=round(sigma, 5))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
