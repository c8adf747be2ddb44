"""The noise variance per bin that cv's dose-aware scale uses (fista_tv_weight.noise_variance: the views' sums for
parallel beams, neighbouring views' 1/sin-weighted sums for fan beams) against the Poisson truth of
scripts/heldout_ct_sinograms.py's cases (the mean over bins of exp(kappa p) / (kappa^2 N), p the noise-free
sinogram; for a Gaussian-noise case its variance), and the same estimate on the noise-free sinogram (what the object leaves in it: model and
discretization error). docs/ct.md, "Seventh round".

    python scripts/fan_noise_check.py outputs/heldout_ct_31*/*fan.npz --out outputs/bench/fan_noise.jsonl
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))


def main(argv=None):
    from bench_lambda_ct import case_from_file
    from heldout_ct_sinograms import FLOOR

    from regrun.tomography.fista_tv_weight import noise_variance

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="+", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for path in args.cases:
        data = np.load(path)
        p, _ = case_from_file(path)
        clean, photons = data["clean"], float(data["photons"])
        level = float(data["noise_level"]) if "noise_level" in data else 0.0
        if level > 0:  # Gaussian noise (seed 3501 on): level x the largest line integral, the same in every bin
            truth = (level * float(np.abs(clean).max())) ** 2
        else:
            kappa = -math.log(FLOOR) / clean.max()
            truth = float(np.mean(np.exp(kappa * clean) / (kappa**2 * photons)))
        est, how = noise_variance(p.sinogram, p.geometry)
        est_clean, _ = noise_variance(torch.as_tensor(clean, dtype=p.sinogram.dtype), p.geometry)
        row = {"case": path.stem, "seed": int(data["seed"]), "beam": p.geometry.kind, "truth": truth,
               "estimate": est, "ratio": None if est is None else est / truth,
               "noise_free": est_clean, "noise_free_ratio": None if est_clean is None else est_clean / truth,
               "how": how}
        print(f"{path.stem} ({row['seed']}, {row['beam']}): truth {truth:.4g}, estimate "
              f"{'-' if est is None else f'{est:.4g} ({est / truth:.2f}x)'}, noise-free "
              f"{'-' if est_clean is None else f'{est_clean:.3g} ({est_clean / truth:.3g}x)'}", flush=True)
        if args.out:
            with args.out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
