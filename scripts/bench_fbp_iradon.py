#!/usr/bin/env python
"""regrun's FBP beside scikit-image's iradon with the same filter on the same data (issue 21).

Data: exact line integrals (regrun's projector on a grid `--supersample` times finer) of scikit-image's
Shepp-Logan phantom, parallel beam over 180 degrees, an odd detector covering the disk, optional Gaussian noise
relative to the largest line integral; truth = the phantom's cell average. Both reconstructions get the same
sinogram (iradon's layout: detector x views, angles negated and its image transposed, which is regrun's
orientation) and are scored by PSNR inside a disk (90% of the width). The two programs put the rotation centre
at different places: regrun at the grid's geometric centre ((n - 1) / 2 in pixels, cell-centred), iradon at pixel
n // 2; both agree for odd image sizes, and differ by half a pixel for even ones.

    pip install -e .[bench]     # scikit-image
    python scripts/bench_fbp_iradon.py --out outputs/bench/fbp_iradon.json

`--suite heldout` (problem.rotation_centre=auto): held-out images (scikit-image's Shepp-Logan, camera, moon,
brick; regrun's metal_part phantom), each scaled to [0, 1], at `--sizes` and `--views`, noise-free and Poisson
(1e4 photons, 5% through the thickest ray, as the problem's noise=poisson), made by two projectors:
`skimage` (its radon, circle=False: the axis at pixel n // 2 and bin n_u // 2; truth the image) and `scanner`
(regrun's projector from a grid `--supersample` times finer, the axis `--axis-offset` bins off the detector's
centre, as a real scanner's; truth the cell average). regrun reconstructs through the problem itself
(problem.data=file, rotation_centre=auto: the sinogram written to a file, the axis estimated from it), iradon
gets the same sinogram; both ramp (or `--filters`), PSNR inside a disk of 90% of the width. Beside auto, regrun
with the convention a user would name (`index` for scikit-image's data, `geometric`, the former default, else).

    python scripts/bench_fbp_iradon.py --suite heldout --sizes 128 256 --out outputs/bench/fbp_auto.json

`--suite files --cases A.npz ...`: the held-out .npz cases of scripts/heldout_ct_sinograms.py (made outside
regrun, bin-integrated, Poisson): regrun reconstructs each through problem.data=file as a user's sinogram goes
(its defaults: rotation_centre=auto; the file's geometry, fan included), iradon gets the same sinogram (parallel
beam only: it has no fan beam); each of `--filters`, PSNR against the file's truth inside a disk of 90% of the
width. For an even size iradon's image turns about pixel n // 2, the file's about (n - 1) / 2; `psnr_iradon_aligned`
is iradon's image moved back by that half pixel (an FFT shift), so that the two differ in filter and interpolation.

    python scripts/bench_fbp_iradon.py --suite files --cases outputs/heldout_ct_3901/*.npz --out fbp_3901.json
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from regrun.metrics import psnr
from regrun.tomography.fbp import fbp
from regrun.tomography.geometry import parallel_beam
from regrun.tomography.xray import XRayTransform


def case(n: int, views: int, noise: float, filt: str, supersample: int) -> dict:
    from skimage.data import shepp_logan_phantom
    from skimage.transform import iradon, resize

    fine = resize(shepp_logan_phantom(), (n * supersample, n * supersample), anti_aliasing=True)
    truth = fine.reshape(n, supersample, n, supersample).mean((1, 3))
    n_det = int(math.ceil(math.sqrt(2) * n)) + 2
    n_det += n_det % 2 == 0  # odd: both programs put the detector centre on its middle bin
    theta = np.arange(views) * 180.0 / views
    angles = torch.tensor(np.radians(theta), dtype=torch.float64)
    fine_geo = parallel_beam(fine.shape, angles, n_det, 1.0, 1.0 / supersample)
    sino = XRayTransform(fine_geo, cache_mb=0).project(torch.tensor(fine))
    gen = torch.Generator().manual_seed(0)
    sino = sino + noise * float(sino.max()) * torch.randn(sino.shape, generator=gen, dtype=torch.float64)
    yy, xx = np.mgrid[:n, :n]
    mask = (yy - (n - 1) / 2) ** 2 + (xx - (n - 1) / 2) ** 2 < (0.9 * n / 2) ** 2
    c0 = time.process_time()
    ours = fbp(parallel_beam((n, n), angles, n_det, 1.0, 1.0), sino, filt).numpy()
    c1 = time.process_time()
    peer = iradon(np.ascontiguousarray(sino.numpy().T), theta=-theta, filter_name=filt, circle=False,
                  output_size=n).T
    c2 = time.process_time()
    return {"size": n, "views": views, "noise": noise, "filter": filt, "detector": n_det,
            "psnr_regrun": psnr(ours * mask, truth * mask), "psnr_iradon": psnr(peer * mask, truth * mask),
            "rel_diff": float(np.linalg.norm((ours - peer) * mask) / np.linalg.norm(peer * mask)),
            "cpu_regrun_s": c1 - c0, "cpu_iradon_s": c2 - c1}


HELDOUT = ("shepp_logan", "camera", "moon", "brick", "metal_part")


def heldout_image(name: str, n: int) -> np.ndarray:
    """A held-out image resized to n x n (anti-aliased), values in [0, 1]."""
    from skimage import data
    from skimage.transform import resize

    if name == "metal_part":
        from regrun.tomography.phantoms import phantom_function, render

        img = render(phantom_function("metal_part", 3), (n, n), sub=4, device=torch.device("cpu")).numpy()
    else:
        img = getattr(data, "shepp_logan_phantom" if name == "shepp_logan" else name)().astype(np.float64)
        img = resize(img, (n, n), anti_aliasing=True)
    return (img - img.min()) / (img.max() - img.min())


def poisson(sino: np.ndarray, seed: int = 0) -> np.ndarray:
    """The problem's noise=poisson: 1e4 photons, the largest line integral lets 5% through."""
    kappa = -math.log(0.05) / float(sino.max())
    rng = np.random.default_rng(seed)
    counts = np.maximum(rng.poisson(1e4 * np.exp(-kappa * sino)), 1.0)
    return -np.log(counts / 1e4) / kappa


def heldout_case(name: str, source: str, n: int, views: int, noisy: bool, filt: str, supersample: int,
                 axis_offset: float, tmp: Path) -> dict:
    from skimage.transform import iradon, radon, resize

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.ct_fewview import CTFewView

    theta = np.arange(views) * 180.0 / views
    if source == "skimage":
        truth = heldout_image(name, n)
        # (views, n_u) in regrun's orientation (its [i, j] = (x1, x2) is scikit-image's transpose, angles negated);
        # the axis at bin n_u // 2 and pixel n // 2
        sino = radon(truth.T, theta=-theta, circle=False).T
        true_axis = sino.shape[1] // 2 - (sino.shape[1] - 1) / 2
    else:
        fine = heldout_image(name, n * supersample) if name == "metal_part" else \
            resize(heldout_image(name, n), (n * supersample,) * 2, order=0)  # piecewise constant: exact average
        truth = fine.reshape(n, supersample, n, supersample).mean((1, 3))
        n_det = math.ceil(math.sqrt(2) * n) + 4
        angles = torch.tensor(np.radians(theta), dtype=torch.float64)
        geo = parallel_beam(fine.shape, angles, n_det, 1.0, 1.0 / supersample, -axis_offset)
        sino = XRayTransform(geo, cache_mb=0).project(torch.tensor(fine)).numpy()
        true_axis = axis_offset
    if noisy:
        sino = poisson(sino)
    path = tmp / "sino.npy"
    np.save(path, sino)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, tmp)
    cfg = config_section("problem", "ct_fewview", data="file", sinogram=str(path), size=n, views=None,
                         truth="none", rotation_centre="auto", cache_mb=0)
    c0 = time.process_time()
    problem = CTFewView(cfg, ctx)
    ours = problem.fbp(window=filt).numpy()
    c1 = time.process_time()
    # beside it, the fixed convention a user would name: index for scikit-image's data, the old default otherwise
    named = "index" if source == "skimage" else "geometric"
    fixed = CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(path), size=n, views=None,
                                     truth="none", rotation_centre=named, cache_mb=0), ctx).fbp(window=filt).numpy()
    peer = iradon(np.ascontiguousarray(sino.T), theta=-theta, filter_name=filt, circle=False, output_size=n).T
    c2 = time.process_time()
    yy, xx = np.mgrid[:n, :n]
    mask = (yy - (n - 1) / 2) ** 2 + (xx - (n - 1) / 2) ** 2 < (0.9 * n / 2) ** 2
    axis = problem.axis
    return {"image": name, "source": source, "size": n, "views": views, "noise": "poisson" if noisy else "none",
            "filter": filt, "detector": sino.shape[1], "axis_true_bins": true_axis,
            "axis_estimate_bins": axis["offset_bins"], "axis_error_bins": axis["offset_bins"] - true_axis,
            "convention": axis["convention"],
            "psnr_regrun_auto": psnr(ours * mask, truth * mask), "psnr_iradon": psnr(peer * mask, truth * mask),
            "named_centre": named, "psnr_regrun_named": psnr(fixed * mask, truth * mask),
            "cpu_regrun_s": c1 - c0, "cpu_iradon_s": c2 - c1}


def heldout(args) -> list[dict]:
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for views in args.views:
                for name in args.images:
                    for source in ("skimage", "scanner"):
                        for noisy in (False, True):
                            for filt in args.filters:
                                row = heldout_case(name, source, n, views, noisy, filt, args.supersample,
                                                   args.axis_offset, Path(tmp))
                                row["psnr_gap"] = row["psnr_regrun_auto"] - row["psnr_iradon"]
                                rows.append(row)
                                print(json.dumps(row), flush=True)
    return rows


def half_pixel_back(img: np.ndarray, shift: float) -> np.ndarray:
    """img moved by -shift pixels along both axes: an exact Fourier shift of the image zero-padded to twice its
    size (iradon's image of a file centred at (n - 1) / 2 is that file's object moved by n // 2 - (n - 1) / 2)."""
    n0, n1 = img.shape
    F = np.fft.fft2(img, (2 * n0, 2 * n1))
    f0, f1 = np.fft.fftfreq(2 * n0)[:, None], np.fft.fftfreq(2 * n1)[None, :]
    return np.real(np.fft.ifft2(F * np.exp(2j * np.pi * (f0 + f1) * shift)))[:n0, :n1]


def file_case(path: Path, filt: str, tmp: Path) -> dict:
    """One held-out .npz case (scripts/heldout_ct_sinograms.py) through problem.data=file, beside iradon."""
    from skimage.transform import iradon

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.ct_fewview import CTFewView

    d = np.load(path)
    n, views = int(d["size"]), int(d["views"])
    geometry = str(d["geometry"]) if "geometry" in d else "parallel"
    sino, truth = d["sinogram"], d["truth"]
    np.save(tmp / "sino.npy", sino)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, tmp)
    cfg = config_section("problem", "ct_fewview", data="file", sinogram=str(tmp / "sino.npy"), size=n, views=None,
                         truth="none", geometry=geometry, cache_mb=0)
    c0 = time.process_time()
    problem = CTFewView(cfg, ctx)
    ours = problem.fbp(window=filt).numpy()
    c1 = time.process_time()
    yy, xx = np.mgrid[:n, :n]
    mask = (yy - (n - 1) / 2) ** 2 + (xx - (n - 1) / 2) ** 2 < (0.9 * n / 2) ** 2
    row = {"case": path.name, "object": str(d["object"]), "size": n, "views": views, "geometry": geometry,
           "photons": float(d["photons"]), "filter": filt, "detector": sino.shape[1],
           "axis_estimate_bins": (problem.axis or {}).get("offset_bins"),
           "psnr_regrun": psnr(ours * mask, truth * mask), "cpu_regrun_s": c1 - c0,
           "psnr_iradon": None, "cpu_iradon_s": None, "psnr_gap": None}
    if geometry == "parallel":  # iradon: regrun's layout transposed, angles negated (as heldout_case)
        theta = np.arange(views) * float(d["angle_range"]) / views
        peer = iradon(np.ascontiguousarray(sino.T), theta=-theta, filter_name=filt, circle=False, output_size=n).T
        row.update(psnr_iradon=psnr(peer * mask, truth * mask), cpu_iradon_s=time.process_time() - c1)
        row["psnr_gap"] = row["psnr_regrun"] - row["psnr_iradon"]
        for sign in (1, -1):  # which way is measured, not assumed: the other moves it a whole pixel off
            row[f"psnr_iradon_moved{sign:+d}"] = psnr(half_pixel_back(peer, sign * (n // 2 - (n - 1) / 2)) * mask,
                                                      truth * mask)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[127, 128, 255, 256])
    ap.add_argument("--views", type=int, nargs="+", default=[60, 180])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01])
    ap.add_argument("--filters", nargs="+", default=["ramp", "shepp-logan", "hann"])
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--out", default="fbp_iradon.json")
    ap.add_argument("--suite", choices=("centred", "heldout", "files"), default="centred")
    ap.add_argument("--cases", type=Path, nargs="+", default=[], help="files: held-out .npz cases")
    ap.add_argument("--images", nargs="+", default=list(HELDOUT), choices=HELDOUT)
    ap.add_argument("--axis-offset", type=float, default=0.7, help="heldout, scanner: the axis, bins off centre")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.suite == "files":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            rows = [file_case(p, f, Path(tmp)) for p in args.cases for f in args.filters]
        for row in rows:
            print(json.dumps(row), flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"rows": rows, "settings": vars(args)}, indent=1, default=str))
        return
    if args.suite == "heldout":
        rows = heldout(args)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"rows": rows, "settings": vars(args)}, indent=1))
        return
    rows = []
    for n in args.sizes:
        for v in args.views:
            for noise in args.noise:
                for filt in args.filters:
                    row = case(n, v, noise, filt, args.supersample)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "settings": vars(args)}, indent=1))


if __name__ == "__main__":
    main()
