#!/usr/bin/env python
"""The frame-split risk against references at several depths, beside the true error, on stored curves
(curves_lambda_sr_split.py's --out folders; no solves; issue 16, srover). Per set: the whole image's error
||f(lambda) - x||^2 over the grid, the split's noise estimate ||D||^2 / 4, and for each reference r among the
lowest --refs grid weights the risk ||f - f_r||^2 + D . D_r / 2 and its offset from the true error (risk - error):
where the offset falls with lambda, the risk favours larger weights than the error does (the reference's bias
shared with the weights compared, or an error common to all weights).

    python scripts/diag_lambda_sr_split_profile.py OUT/split/over
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", type=Path, nargs="+")
    ap.add_argument("--refs", type=int, default=4, help="references: the lowest this many grid weights")
    ap.add_argument("--shift", type=int, default=1, help="grid steps the halves are read below the full image")
    args = ap.parse_args(argv)
    for d in args.dirs:
        for s in json.loads((d / "curves.json").read_text()):
            z = np.load(d / s["npz"])
            F, A, B, truth = z["full"], z["A"], z["B"], z["truth"]
            js = [r["j"] for r in s["rows"]][args.shift:]
            F = F[args.shift:]
            D = (A - B)[: len(F)]
            err = ((F - truth) ** 2).sum(1)
            print(f"{s['set']} {s['spec']['size']}^2/{s['spec']['frames']} s{s['spec']['seed']}: j " + " ".join(
                f"{j:+9d}" for j in js))
            print("  error        " + " ".join(f"{e:9.4g}" for e in err))
            print("  ||D||^2/4    " + " ".join(f"{(D[i] ** 2).sum() / 4:9.4g}" for i in range(len(F))))
            for r in range(min(args.refs, len(F))):
                risk = np.array([((F[i] - F[r]) ** 2).sum() + 0.5 * (D[i] * D[r]).sum() for i in range(len(F))])
                print(f"  offset r{js[r]:+d}   " + " ".join(f"{x:9.4g}" for x in risk - err))


if __name__ == "__main__":
    main()
