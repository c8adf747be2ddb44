"""cv's dose-aware scale replayed on stored searches (docs/ct.md, "Sixth round"): for each row of a
scripts/cv_variants_ct.py JSONL (the held-out views' pick, /stats/lam_cv_dose: the noise, the reference's gain,
the held-out misfit), the scale the current fista_tv_weight.dose_scale gives, one FISTA run on all views at pick
times it, and its PSNR (the search itself is the same, so no training run is repeated). Case files from
scripts/heldout_ct_sinograms.py.

    python scripts/cv_dose_replay.py outputs/cv_dose.jsonl --cases outputs/heldout_ct_3101/*.npz --out outputs/replay.jsonl
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

RECORD = re.compile(r"noise variance (\S+) per bin .* x (\S+) \(reference\) = \S+ of the held-out misfit (\S+):")


def main(argv=None):
    from diag_lambda_cv_offsets import load

    from regrun.config import config_section
    from regrun.tomography.fista_tv import lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import dose_scale

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("records", type=Path)
    ap.add_argument("--cases", nargs="+", required=True, help="the .npz files the records were made on")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    problems = {}
    for spec in args.cases:
        p, name = load(spec)
        problems[name] = p
    for line in args.records.read_text().splitlines():
        row = json.loads(line)
        p = problems.get(row["case"])
        if p is None:
            continue
        cfg = config_section("solver", "fista_tv", lam=1.0)
        scale = float(row["stats"]["lam_cv_scale"])
        m = RECORD.match(row["stats"].get("lam_cv_dose", ""))
        used = dose_scale(scale, float(m[1]), float(m[2]), float(m[3]))[0] if m else scale
        lam = row["pick"] * used
        c0 = time.process_time()
        with torch.no_grad():
            x = make_fista(p, cfg, lipschitz(p, cfg)).solve(torch.tensor(lam, dtype=torch.float64), int(cfg.iters))
        out = {"case": row["case"], "pick": row["pick"], "scale": used, "lam": lam,
               "psnr": p.quality(x * p.mask)["psnr"], "cpu_s": time.process_time() - c0}
        with args.out.open("a") as fh:
            fh.write(json.dumps(out) + "\n")
        print(f"{row['case']}: scale {used:.3f}, lam {lam:.3g}, {out['psnr']:.2f} dB", flush=True)


if __name__ == "__main__":
    main()
