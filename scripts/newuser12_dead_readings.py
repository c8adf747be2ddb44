#!/usr/bin/env python
"""Does regrun name a sinogram's dead detector bins and dead views, and only those? (newuser12; docs/sweeps.md,
"A new user's first day from a fresh clone (newuser12)"). regrun.problems.ct_fewview.dead_readings on each file,
as a run on it computes it.

    python scripts/newuser12_dead_readings.py spoil OUT SEED IN/*.npz   # variants of each user file, written to OUT
    python scripts/newuser12_dead_readings.py eval OUT/*.npz            # what the rule names, and the verdict

`spoil` writes, for each user file (sinogram, angles[, truth] as scripts/heldout_ct_sinograms.py --user and
scripts/newuser10_opposite_views.py radon make them), the file unchanged (`_clean`), 1-4 bins inside the object's
shadow read 0 in every view (`_dead0`), 1-3 bins stuck at one value taken from the sinogram (`_stuck`), and one view
read 0 throughout (`_deadview`); where they are is drawn with SEED and stored as `dead_bins` and `dead_views`.
`eval` counts a verdict right when the bins and views the rule names are exactly those stored (none for `_clean`).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from regrun.problems.ct_fewview import dead_readings


def spoil(out: Path, seed: int, files: list[Path]) -> None:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for path in files:
        z = dict(np.load(path))
        sino = z["sinogram"]
        shadow = np.flatnonzero(sino.max(0) > 0.1 * sino.max())  # bins the object's shadow crosses
        inner = shadow[2:-2]
        variants = {"clean": ([], [], None)}
        variants["dead0"] = (sorted(rng.choice(inner, rng.integers(1, 5), replace=False).tolist()), [], 0.0)
        variants["stuck"] = (sorted(rng.choice(inner, rng.integers(1, 4), replace=False).tolist()), [],
                             float(rng.choice(sino.ravel())))
        variants["deadview"] = ([], [int(rng.integers(0, sino.shape[0]))], 0.0)
        for tag, (bins, views, value) in variants.items():
            s = sino.copy()
            s[:, bins] = value if bins else s[:, bins]
            s[views] = value if views else s[views]
            np.savez(out / f"{path.stem}_{tag}.npz", **{**z, "sinogram": s, "dead_bins": np.array(bins, int),
                                                         "dead_views": np.array(views, int)})


def named(text: str, pattern: str) -> list[int]:
    """The indices a warning lists where `pattern` (a regex with one group) matches."""
    m = re.search(pattern, text)
    return [int(x) for x in re.findall(r"\d+", m.group(1))] if m else []


def evaluate(files: list[Path]) -> None:
    right = 0
    for path in files:
        z = np.load(path)
        text = dead_readings(z["sinogram"], path.name)
        bins = named(text, r"detector bins ([\d, ]+?) \(of")
        views = named(text, r"views? ([\d, ]+?) \(of \d+\) read one value")
        want_bins, want_views = z["dead_bins"].tolist(), z["dead_views"].tolist()
        ok = bins == want_bins and views == want_views
        right += ok
        print(f"{'ok  ' if ok else 'MISS'} {path.name}: named bins {bins} views {views}; put bins {want_bins} "
              f"views {want_views}")
    print(f"{right} of {len(files)} as put")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cmd", choices=("spoil", "eval"))
    ap.add_argument("rest", nargs="+", help="spoil: OUT SEED FILE...; eval: FILE...")
    args = ap.parse_args(argv)
    if args.cmd == "eval":
        evaluate([Path(f) for f in args.rest])
    elif len(args.rest) < 3 or not args.rest[1].isdigit():
        ap.error("spoil needs OUT SEED FILE...")
    else:
        spoil(Path(args.rest[0]), int(args.rest[1]), [Path(f) for f in args.rest[2:]])


if __name__ == "__main__":
    main()
