"""Scans as a beamline or lab detector records them (docs/ct.md, "Raw counts, flat and dark fields, a slice of a
stack (ctcounts)"): each file holds a parallel beam's stack of counts (views, rows, columns), flat and dark fields,
and the views' angles, made outside regrun's projector (scripts/heldout_ct_sinograms.py's area-integrating
project_pixels on a grid 2-4 times finer, its detector and angles).

The object is 3-D, designed here (`core`): a drilled core of a composite, a cylinder along the rotation axis
holding ellipsoidal grains of three densities, spherical pores, a dense rod crossing it at a slant and a tilted
crack; every detector row sees its own slice of it. The counts: Poisson of I0 times a beam profile (+-8 % across
the detector) times a gain that drifts linearly by DRIFT over the scan, times the transmission (the largest line
integral of the scan transmits FLOOR), plus a dark offset (a level of 100 with a fixed pattern per pixel) and read
noise, rounded to uint16 as a detector stores them. Half the flats are taken before the scan and half after (gain 1
and 1 + DRIFT), the darks before.

Each scan writes, under OUT:
- NAME.h5 (Data Exchange: /exchange/data, data_white, data_dark, theta in degrees) or NAME.npz (regrun's keys:
  data, flat, dark, angles): the file a user holds;
- NAME_counts.npz: the bench's case of it (scripts/bench_lambda_ct.py --cases): the file, the slice read, the truth;
- NAME_hand.npz: the same slice as line integrals a user normalised by hand, -log((data - mean dark) / (mean flat -
  mean dark)) in numpy (the bench reads it as `problem.data=file` reads a sinogram with angles);
- NAME_nodark.npz: the same slice normalised without the dark, -log(data / mean flat), the common slip.

LAYOUT files (docs/ct.md "Flat and dark fields as a beamline gives them (ctflats)") writes the same scan twice, as
one file and as a beamline's separate files: NAME.npz (data, flat, dark; no angles, as a folder of TIFFs has none)
and NAME_tiffs/ with proj/ (one 16-bit TIFF per projection, p_0000.tif ...), flats_before.tif and flats_after.tif
(multi-page TIFFs: the flats taken before the projections and after them) and darks/ (a folder of TIFFs); four
bench cases read them: NAME_counts.npz (the one file, the mean flat), NAME_files_counts.npz (the separate files,
the mean flat), NAME_ends_counts.npz and NAME_files_ends_counts.npz (the same with problem.flat_positions=ends:
each projection's flat interpolated between the before and the after flats). Each case holds `line_true`, the
slice's noise-free line integrals, for the flats' band and ring errors (scripts/ctflats_dev.py).

Usage: python scripts/ct_counts_files.py --seed SEED --out OUT --scans SPEC [SPEC ...]
  SPEC = SIZE:VIEWS:I0:ROWS:LAYOUT[:SLICE] (LAYOUT dx, npz or files; SLICE a row, or left out for the middle row).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout_ct_sinograms import angles, detector_bins, project_pixels  # noqa: E402

FLOOR = 0.05  # transmission of the scan's largest line integral
DARK_LEVEL = 100.0  # the dark offset, counts
DARK_PATTERN = 3.0  # its fixed pattern across pixels (standard deviation, counts)
READ_NOISE = 2.0  # per frame and pixel (standard deviation, counts)
PROFILE = 0.08  # the beam profile's swing across the detector
FLATS, DARKS = 10, 10


def core(seed: int) -> dict:
    """The 3-D object's parts, drawn from `seed` (coordinates in [-1, 1]: x1, x2 across a slice, z along the axis)."""
    rng = np.random.default_rng(seed)
    grains = [(rng.uniform(-0.6, 0.6, 3), rng.uniform(0.05, 0.22, 3), rng.uniform(0, math.pi),
               rng.choice([0.35, 0.8, 1.2])) for _ in range(28)]
    pores = [(rng.uniform(-0.65, 0.65, 3), rng.uniform(0.015, 0.07)) for _ in range(40)]
    rod = (rng.uniform(-0.3, 0.3, 2), rng.uniform(-0.4, 0.4, 2), rng.uniform(0.03, 0.06))
    crack = (rng.normal(size=3), rng.uniform(-0.2, 0.2), rng.uniform(0.006, 0.015))
    return {"radius": rng.uniform(0.72, 0.82), "matrix": 0.5, "grains": grains, "pores": pores, "rod": rod,
            "crack": crack}


def core_slice(parts: dict, fine: int, z: float) -> np.ndarray:
    """The object's slice at height z on a fine x fine grid of the square [-1, 1]^2 (values 0 to 2)."""
    c = (np.arange(fine) + 0.5) / fine * 2 - 1
    x1, x2 = np.meshgrid(c, c, indexing="ij")
    body = x1**2 + x2**2 < parts["radius"] ** 2
    img = parts["matrix"] * body
    for (centre, axes, turn, value) in parts["grains"]:
        u = (x1 - centre[0]) * math.cos(turn) + (x2 - centre[1]) * math.sin(turn)
        v = -(x1 - centre[0]) * math.sin(turn) + (x2 - centre[1]) * math.cos(turn)
        img = np.where((u / axes[0]) ** 2 + (v / axes[1]) ** 2 + ((z - centre[2]) / axes[2]) ** 2 < 1, value, img)
    (start, slope, r) = parts["rod"]
    img = np.where((x1 - start[0] - slope[0] * z) ** 2 + (x2 - start[1] - slope[1] * z) ** 2 < r**2, 2.0, img)
    for centre, r in parts["pores"]:
        img = np.where((x1 - centre[0]) ** 2 + (x2 - centre[1]) ** 2 + (z - centre[2]) ** 2 < r**2, 0.0, img)
    normal, offset, width = parts["crack"]
    normal = normal / np.linalg.norm(normal)
    img = np.where(np.abs(normal[0] * x1 + normal[1] * x2 + normal[2] * z - offset) < width, 0.0, img)
    return img * body


def scan(size: int, views: int, photons: float, rows: int, seed: int, drift: float, factor: int | None = None,
         shift: float = 0.0):
    """(counts (views, rows, n_det) uint16, flats, darks, angles in degrees, truths (rows, size, size), the
    attenuation scale) of one scan; the line integrals in reconstruction voxels times that scale, the truths
    likewise; the object drawn on a grid `factor` times finer (default: 512 samples across, at least 2). `shift`:
    the beam profile's pattern moves across the detector by this many radians of its cosine over the scan (a beam
    that wanders, not only dims: the flats after see it moved; docs/ct.md "(ctflats)")."""
    rng = np.random.default_rng(seed)
    parts = core(seed)
    factor = max(2, 512 // size) if factor is None else factor
    fine = factor * size
    theta = angles(views)
    n_det = detector_bins(size)
    heights = np.linspace(-0.5, 0.5, rows)
    clean, truths = [], []
    for z in heights:
        img = core_slice(parts, fine, float(z))
        clean.append(project_pixels(img, size, theta, n_det))
        truths.append(img.reshape(size, factor, size, factor).mean((1, 3)))
    clean = np.stack(clean, axis=1)  # (views, rows, n_det)
    kappa = -math.log(FLOOR) / clean.max()
    u = np.linspace(-1, 1, n_det)
    def profile(t):  # (len(t), rows, n_det): the beam at times t of the scan (0 its start, 1 its end)
        beam = 1 + PROFILE * np.cos(2.2 * u[None, :] + 0.4 * (seed % 7) + shift * np.asarray(t, float)[:, None])
        return photons * beam[:, None, :] * np.ones((1, rows, 1))

    dark = DARK_LEVEL + DARK_PATTERN * rng.standard_normal((rows, n_det))
    t = np.arange(views) / max(views - 1, 1)
    gain = 1 + drift * t

    def read(rate):
        return np.clip(np.round(rng.poisson(rate) + dark + READ_NOISE * rng.standard_normal(rate.shape)), 0, 65535)

    counts = read(profile(t) * gain[:, None, None] * np.exp(-kappa * clean)).astype(np.uint16)
    flat_t = np.r_[np.zeros(FLATS // 2), np.ones(FLATS - FLATS // 2)]
    flats = read(profile(flat_t) * (1 + drift * flat_t)[:, None, None]).astype(np.uint16)
    darks = read(np.zeros((DARKS, rows, n_det))).astype(np.uint16)
    return counts, flats, darks, np.degrees(theta), kappa * np.stack(truths), kappa, kappa * clean


def write_tiffs(path: Path, frames: np.ndarray) -> None:
    """uint16 frames as a beamline writes them: a folder of one TIFF per frame (`path` a folder) or one multi-page
    TIFF (`path` a .tif file)."""
    from PIL import Image

    pages = [Image.fromarray(np.ascontiguousarray(f, dtype=np.uint16)) for f in frames]
    if path.suffix == ".tif":
        pages[0].save(path, save_all=True, append_images=pages[1:])
        return
    path.mkdir(parents=True, exist_ok=True)
    for k, page in enumerate(pages):
        page.save(path / f"p_{k:04d}.tif")


def write_files(out: Path, name: str, counts, flats, darks) -> dict[str, dict]:
    """The scan as one .npz and as a beamline's separate files (LAYOUT files); the bench cases' counts file and
    problem settings, by case name."""
    np.savez(out / f"{name}.npz", data=counts, flat=flats, dark=darks)
    folder = out / f"{name}_tiffs"
    write_tiffs(folder / "proj", counts)
    write_tiffs(folder / "flats_before.tif", flats[:FLATS // 2])
    write_tiffs(folder / "flats_after.tif", flats[FLATS // 2:])
    write_tiffs(folder / "darks", darks)
    files = {"flat": [f"{name}_tiffs/flats_before.tif", f"{name}_tiffs/flats_after.tif"],
             "dark": f"{name}_tiffs/darks"}
    return {"counts": (f"{name}.npz", {}), "files_counts": (f"{name}_tiffs/proj", files),
            "ends_counts": (f"{name}.npz", {"flat_positions": "ends"}),
            "files_ends_counts": (f"{name}_tiffs/proj", {**files, "flat_positions": "ends"})}


def by_hand(counts, flats, darks, row: int, dark: bool = True) -> np.ndarray:
    """The slice's line integrals as a user normalises them in numpy."""
    d = darks[:, row].astype(float).mean(0) if dark else 0.0
    above = counts[:, row].astype(float) - d
    return -np.log(np.maximum(above, 1.0) / (flats[:, row].astype(float).mean(0) - d))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scans", nargs="+", required=True, help="SIZE:VIEWS:I0:ROWS:LAYOUT[:SLICE]")
    ap.add_argument("--drift", type=float, nargs="+", default=[0.03], help="gain drift over the scan, one per scan "
                    "or one for all")
    ap.add_argument("--shift", type=float, default=0.0, help="the beam profile's move across the detector over the "
                    "scan, radians of its cosine (0: it only dims; docs/ct.md \"(ctflats)\")")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for i, spec in enumerate(args.scans):
        fields = spec.split(":")
        size, views, photons, rows, layout = int(fields[0]), int(fields[1]), float(fields[2]), int(fields[3]), fields[4]
        row = int(fields[5]) if len(fields) > 5 else None
        drift = args.drift[i] if len(args.drift) > 1 else args.drift[0]
        seed = args.seed * 100 + i
        counts, flats, darks, deg, truths, kappa, lines = scan(size, views, photons, rows, seed, drift,
                                                               shift=args.shift)
        name = f"core_{size}_{views}_{seed}_{layout}"
        take = rows // 2 if row is None else row
        if layout == "files":
            common = dict(truth=truths[take], object="core files", size=size, views=views, photons=photons,
                          kappa=kappa, drift=drift, row=take, line_true=lines[:, take])
            for case, (counts_file, problem) in write_files(args.out, name, counts, flats, darks).items():
                np.savez(args.out / f"{name}_{case}.npz", counts_file=counts_file, slice=-1 if row is None else row,
                         problem=json.dumps(problem), **common)
            print(f"{name}: {counts.shape} counts, I0 {photons:g}, drift {drift:g}, slice {take} of {rows}, one "
                  f"file and {name}_tiffs/", flush=True)
            continue
        if layout == "dx":
            import h5py

            user = args.out / f"{name}.h5"
            with h5py.File(user, "w") as f:
                f["exchange/data"], f["exchange/data_white"], f["exchange/data_dark"] = counts, flats, darks
                f["exchange/theta"] = deg
        else:
            user = args.out / f"{name}.npz"
            np.savez(user, data=counts, flat=flats, dark=darks, angles=deg)
        common = dict(truth=truths[take], object=f"core {layout}", size=size, views=views, photons=photons,
                      kappa=kappa, drift=drift, row=take)
        np.savez(args.out / f"{name}_counts.npz", counts_file=user.name, slice=-1 if row is None else row, **common)
        for tag, dark in (("hand", True), ("nodark", False)):
            np.savez(args.out / f"{name}_{tag}.npz", sinogram=by_hand(counts, flats, darks, take, dark), angles=deg,
                     **common)
        print(f"{name}: {counts.shape} counts, I0 {photons:g}, drift {drift:g}, slice {take} of {rows}, "
              f"kappa {kappa:.4g}, largest line integral {-math.log(FLOOR):.3g}", flush=True)


if __name__ == "__main__":
    main()
