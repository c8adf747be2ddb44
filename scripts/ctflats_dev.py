"""The flats' band and ring errors in the line integrals regrun reads from a counts scan (docs/ct.md "Flat and dark
fields as a beamline gives them (ctflats)"): for each bench case of scripts/ct_counts_files.py (LAYOUT files), the
slice as regrun's reader normalises it (tomography.counts, with the case's problem.flat / problem.dark /
problem.flat_positions) against the case's noise-free line integrals `line_true`. The error e (views x columns)
splits into
- band: each view's mean error over the detector (a view read too bright or too dark: a gain drift the flats did
  not follow), its standard deviation over the views;
- ring: each detector column's mean error over the views (a column's flat wrong in every view, which back-projects
  into a ring), its standard deviation over the columns;
- rms: the whole error's root mean square (Poisson noise included).

Usage: python scripts/ctflats_dev.py CASE.npz [CASE.npz ...] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from regrun.tomography.counts import Fields, counts_keys, files_keys, normalise, read_counts, take_slice  # noqa: E402


def errors(case: Path) -> dict:
    """band, ring and rms of a case's slice as regrun reads it."""
    d = np.load(case)
    here = case.parent
    typed = json.loads(str(d["problem"])) if "problem" in d else {}
    flat = typed.get("flat")
    fields = Fields([here / p for p in ([flat] if isinstance(flat, str) else flat)] if flat else None,
                    here / typed["dark"] if "dark" in typed else None, typed.get("flat_positions"))
    path = here / str(d["counts_file"])
    keys = counts_keys(path, "sinogram", "flat", "dark", "angles") or files_keys(path, "sinogram", "angles")
    counts = read_counts(path, keys, fields)
    take_slice(counts, int(d["row"]))
    line, info, _ = normalise(counts)
    e = line - d["line_true"]
    return {"case": case.name, "drift": float(d["drift"]), "band": float(e.mean(axis=1).std()),
            "ring": float(e.mean(axis=0).std()), "rms": float(np.sqrt(np.mean(e**2))),
            "flat_level_change": info.get("flat_level_change")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = [errors(c) for c in args.cases]
    for r in rows:
        print(f"{r['case']}: drift {r['drift']:g}, band {r['band']:.4f}, ring {r['ring']:.4f}, rms {r['rms']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
