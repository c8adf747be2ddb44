"""Held-out check of solver.lam_cv_reference=raw (and auto) for the weight on a file's own grid (ctsmallw, session
33; docs/ct.md "(ctsmallw)"), on heldout_ct_smallw.sh's six files (seeds 9085-9090), committed before any run of
these settings on them (the files were made, and run with the default resolved reference, for the size_reading
batch). Each file: the README's command with problem.size_reading=disk (that batch's `none` run, reference resolved)
again with solver.lam_cv_reference=raw, scored as that batch (ct_grid_conventions.psnr_in_frame against the file's
truth); auto's reading is the one its rule gives from the two runs' lowest held-out misfits less their noise.

The rule (written before the run): raw replaces resolved as the default for data=file iff, over the six files, (a)
no file where resolved's PSNR is within 0.5 dB of the best reached on that file (resolved's 0.5x, 1x, 2x weights and
raw's answer) has raw's more than 0.5 dB below that best, and (b) raw's PSNR minus resolved's summed over the files
is >= 0. auto is reported beside (it acts only where its rule reads raw). A file not finished by 07:15 UTC is
reported as not run.

    OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/heldout_ct_smallw_reference.py OUT(heldout_ct_smallw.sh)
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ct_fan_grid as fg
import ct_grid_conventions as cg

from regrun.record import load

STEMS = ["9085_par-sktrue_astronautat100_144", "9086_par-astraN_gracehopperat140_200", "9087_par-sktrue_pageat124_176",
         "9088_par-skfalse_clockat90_160", "9089_par-regrun_horseat124_128", "9090_par-sktrue_textat66_96"]


def excess(run: Path) -> float:
    """The lowest held-out misfit less its noise (the noise variance x the reference's gain), from /stats."""
    line = load(run)["stats"]["lam_cv_dose"]
    noise, gain, misfit = (float(x) for x in re.findall(
        r"noise variance ([\d.e+-]+) per bin .*? x ([\d.e+-]+) \(reference\) = [\d.]+ of the held-out misfit "
        r"([\d.e+-]+)", line)[0])
    return misfit - noise * gain


def main(out: Path) -> None:
    here = Path(__file__).resolve().parent.parent
    for stem in STEMS:
        done = out / f"run_{stem}_none" / "metrics.json"
        while not done.exists():  # the size_reading batch makes the file and its run first
            time.sleep(20)
        truth = np.load(out / f"{stem}_truth.npy")
        extra = json.loads((out / f"{stem}_extra.json").read_text())
        r = fg.run(out / f"{stem}.npy", extra, None, out / f"run_{stem}_raw", here,
                   ["problem.size_reading=disk", "solver.lam_cv_reference=raw"])
        if "error" in r:
            print(json.dumps({"stem": stem, "error": r["error"]}), flush=True)
            continue
        res = out / f"run_{stem}_none"
        reads = "raw" if excess(out / f"run_{stem}_raw") < excess(res) else "resolved"
        print(json.dumps({"stem": stem, "grid": r["x"].shape[0], "lam_raw": r["lam"],
                          "psnr_raw": cg.psnr_in_frame(r["x"], truth), "cpu_s": r["cpu_s"], "auto_reads": reads}),
              flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
