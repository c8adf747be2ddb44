"""Why solver.lam_cv_pixel_grid's pixel grid predicts the held-out views of a 4x-simulated, bin-integrated file
better while its image is worse (docs/ct.md "The pixel-grid check on 4x-simulated files (ctcheck)"): each data
model's misfit at the truth. The truth (the output grid's image) is projected by the pixel grid's projector, by
the 2x grid's own projector (the truth repeated 2x2, whose cell average it is) and by the 2x grid's projector with
the detector bin integrated (rays at -1/4 and +1/4 of a bin, averaged: the two-point rule of a bin's box), and
compared with the file's views (mean square per bin; the noise's variance, where the case holds the clean views,
beside). If the pixel grid's lower held-out misfit came from its blur matching the data's bin integration, the
bin-integrated 2x model fits the truth's data at least as well as the pixel model on the 4x-simulated files and
not on scikit-image radon files (which sample each bin's centre of a bilinearly rotated pixel image).

    PYTHONPATH=. python scripts/ct_pixel_grid_why.py CASE.npz [CASE.npz ...]

`--views FOLD OFFSET`: the same misfits per held-out view of cv's fold (every FOLD-th view from OFFSET; the solver's
primary fold is 8 4), against the raw views and, where the case holds them, the noise-free views, with the noise
per view beside: which held-out views the data model misfits most (docs/ct.md "(ctpixgrid)": on FB's gear one of
seven, the view where the pixel grid's held-out curve rises with the weight).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lambda_ct import case_from_file  # noqa: E402

from regrun.tomography.fista_tv import UnknownGrid  # noqa: E402
from regrun.tomography.xray import XRayTransform  # noqa: E402


def shifted(geometry, frac: float):
    """The same scan with every detector bin's centre moved by `frac` of a bin along the detector."""
    d = geometry.volume.ndim
    rows = []
    for row in geometry.vectors:
        r = list(row)
        for k in range(d):
            r[d + k] = row[d + k] + frac * row[2 * d + k]
        rows.append(tuple(r))
    return replace(geometry, vectors=tuple(rows))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--views", type=int, nargs=2, metavar=("FOLD", "OFFSET"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print("| file | noise var | pixel model | 2x model | 2x model, bin integrated |")
    for path in args.cases:
        p, _ = case_from_file(Path(path))
        d = np.load(path)
        b = p.sinogram
        t = p.truth
        fine = UnknownGrid(p, 2)
        t2 = t.repeat_interleave(2, 0).repeat_interleave(2, 1)
        pix = p.A(t)
        sharp = fine.A(t2)
        box = 0.5 * (XRayTransform(shifted(fine.geometry, -0.25), cache_mb=0)(t2)
                     + XRayTransform(shifted(fine.geometry, 0.25), cache_mb=0)(t2))
        noise = float(np.mean((d["sinogram"] - d["clean"]) ** 2)) if "clean" in d.files else float("nan")
        ms = [float(((m - b) ** 2).mean()) for m in (pix, sharp, box)]
        print(f"| {Path(path).stem} | {noise:.4g} | " + " | ".join(f"{v:.4g}" for v in ms) + " |", flush=True)
        if args.views:
            held = list(range(args.views[1], b.shape[0], args.views[0]))
            clean = torch.as_tensor(d["clean"], dtype=b.dtype) if "clean" in d.files else None
            rows = [("pixel model - raw", pix - b), ("2x model - raw", sharp - b)]
            if clean is not None:
                rows += [("pixel model - noise-free", pix - clean), ("2x model - noise-free", sharp - clean),
                         ("noise", b - clean)]
            print(f"  held-out views {held}")
            for name, m in rows:
                per = m.pow(2).flatten(1).mean(1)
                print(f"  {name}: " + " ".join(f"{float(per[v]):.3f}" for v in held)
                      + f" (all views: mean {float(per.mean()):.3f}, largest {float(per.max()):.3f} at view "
                      f"{int(per.argmax())})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
