"""Which reconstruction grid `regrun problem=ct_fewview problem.data=file problem.sinogram=S` takes with no
`problem.size` typed and no truth file, for sinograms made the ways users make them (docs/ct.md, "The grid a
sinogram file implies (ctsize)"), and what the grid taken costs against the size the file was made at.

Conventions (`--convs`), each at sizes `--sizes` (the object on an N x N grid of unit pixels):
- `regrun`: scripts/heldout_ct_sinograms.py's `make` (regrun's covering detector, ceil(sqrt(2) N) + 2 bins);
- `skfalse` / `sktrue`: scikit-image `radon(img, theta, circle=False)` (ceil(sqrt(2) N) bins) / `circle=True`
  (N bins), transposed to (views, bins), run with problem.angle_start=90 as docs/ct.md says;
- `astraN` / `astra15`: ASTRA's parallel beam, bins of width 1, N or 1.5 N of them (its tutorials' two);
- `fan` / `astrafan`: regrun's fan beam (make's) / ASTRA's fanflat with regrun's default distances (source 2 N,
  detector N behind the axis, bins of 1.5), 360 degrees, run with problem.geometry=fan.
Objects (`--objects`): `disk` (scikit-image's astronaut in a disk of 0.9 N; `ellipses` for `fan`), `square`
(scikit-image's camera filling the square; not for `sktrue`), `small` (regrun's random ellipses 0.4 N across,
centred in the N field). Poisson noise, 1e5 photons. `--angles` also writes each disk case as an .npz with its
angles (degrees) beside the .npy without.

Each file is read by ct_fewview as the README's command reads it (size, truth_file unset): the grid taken, where
it came from (/data/grid_from), its console lines and warnings; then FBP (ramp) at that grid and at size=N typed,
each scored against the truth sampled on its grid (best of 8 orientations and 9 half-pixel shifts, the same for
both, so the turn and axis conventions do not count), and `lost`: the share of the truth's mass outside the taken
grid's disk mask (what a crop throws away, which a PSNR inside the crop's own mask does not see).

    OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/ct_grid_conventions.py --out OUT/dev --seed 9361

`--cases CONV:OBJECT:N[:npz] ...` (the held-out batch, seeds `--seed` + k, one per case) makes those files instead
and runs each through the README's command, `regrun problem=ct_fewview problem.data=file problem.sinogram=S
solver=fista_tv` (problem.angle_start=90 for scikit-image's files, problem.geometry=fan for fans), with no size
and with problem.size=N, scoring each run's reconstruction as above and in the N grid's frame (psnr_in_frame; a run
already in OUT is read again, not rerun). OBJECT: any of heldout_ct_sinograms.py's
pixel objects in a disk of 0.9 N (scikit-image pictures by name), `smallNAME` (it 0.4 N across, centred), `NAME@D` (it D px
across, centred), `sqNAME` (the picture filling the square); for CONV `regrun` its analytic ones too.

`--borderline TOL ...` measures the crop trigger's tolerance (AXIS_TOLERANCE_BINS) on objects near the disk the
default grid's solvers keep (0.95 of 64 px): radon(circle=False) files of a 160^2 field holding a picture D px
across (`--diameters`; `--objects` names the pictures, default blobs and astronaut) at 10^3, 10^4, 10^5 photons; a
file whose object has a pixel outside that disk is cropped there, and the table counts, per tolerance, the cropped
files the rule grows (it should) and the others it grows (it need not; no small object should).

    PYTHONPATH=. python scripts/ct_grid_conventions.py --out OUT/heldout --seed 9351 --cases \
        skfalse:blobs:224 sktrue:brick:320:npz ...
"""
from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heldout_ct_sinograms as hs  # noqa: E402

from regrun.config import config_section  # noqa: E402
from regrun.context import RunContext  # noqa: E402
from regrun.errors import UserError  # noqa: E402
from regrun.metrics import psnr  # noqa: E402
from regrun.monitor import Reporter  # noqa: E402
from regrun.problems.ct_fewview import CTFewView  # noqa: E402

CONVS = ("regrun", "skfalse", "sktrue", "astraN", "astra15", "fan", "astrafan")
OBJECTS = ("disk", "square", "small")
PHOTONS = 1e5


def truth_image(obj: str, n: int, seed: int, conv: str) -> np.ndarray:
    if "@" in obj:  # NAME@D: the picture D px across (its disk 0.9 of its field), centred in the N field
        name, d = obj.split("@")
        m = int(round(int(d) / 0.9))
        out = np.zeros((max(n, m), max(n, m)))
        a = (len(out) - m) // 2
        out[a:a + m, a:a + m] = hs.pixel_object(name, m, seed, m)
        b = (len(out) - n) // 2
        return out[b:b + n, b:b + n]
    if obj.startswith("small"):
        m = max(8, int(round(0.4 * n)))
        if obj == "small":
            img = hs.render_ellipses(hs.ellipse_list("ellipses", m, np.random.default_rng([seed, m])), m)
        else:
            img = hs.pixel_object(obj[5:], m, seed, m)
        out = np.zeros((n, n))
        a = (n - m) // 2
        out[a:a + m, a:a + m] = img
        return out
    if obj == "square" or obj.startswith("sq"):
        import skimage.color
        import skimage.data
        import skimage.transform

        im = getattr(skimage.data, "camera" if obj == "square" else obj[2:])().astype(float)
        im = skimage.color.rgb2gray(im / im.max()) if im.ndim == 3 else im / im.max()
        k = min(im.shape)
        return skimage.transform.resize(im[:k, :k], (n, n), anti_aliasing=True)
    return hs.pixel_object("astronaut" if obj == "disk" else obj, n, seed, n)


def astra_project(img: np.ndarray, vol, proj, projector: str) -> np.ndarray:
    """ASTRA's sinogram of img in those geometries, its objects freed after."""
    import astra

    pid = astra.create_projector(projector, proj, vol)
    sid, sino = astra.create_sino(img, pid)
    astra.data2d.delete(sid)
    astra.projector.delete(pid)
    return sino


def astra_sino(img: np.ndarray, theta: np.ndarray, bins: int, fan: bool) -> np.ndarray:
    import astra

    n = img.shape[0]
    vol = astra.create_vol_geom(n, n)
    if fan:
        return astra_project(img, vol, astra.create_proj_geom("fanflat", 1.5, bins, theta, 2.0 * n, 1.0 * n),
                             "line_fanflat")
    return astra_project(img, vol, astra.create_proj_geom("parallel", 1.0, bins, theta), "linear")


def make_file(conv: str, obj: str, n: int, views: int, seed: int):
    """(noisy sinogram (views, bins), truth N x N, angles in degrees as the file would hold them, config extras)."""
    rng = np.random.default_rng([seed, n, views, CONVS.index(conv), sum(map(ord, obj))])
    extra: dict = {}
    if (conv in ("regrun", "fan") and not obj.startswith(("small", "sq")) and "@" not in obj
            and not (conv == "fan" and obj == "square")):
        name = "ellipses" if conv == "fan" else {"disk": "astronaut", "square": "camera"}.get(obj, obj)
        if conv == "fan":
            extra = {"geometry": "fan"}
        sino, _, truth = hs.make(name, n, views, PHOTONS, seed, 2, "fan" if conv == "fan" else "parallel")
        span = 360.0 if conv == "fan" else 180.0
        return sino, truth, np.arange(views) * span / views, extra
    truth = truth_image(obj, n, seed, conv)
    if conv in ("fan", "astrafan"):
        extra = {"geometry": "fan"}
        theta = np.arange(views) * 2 * math.pi / views
        clean = astra_sino(truth, theta, hs.fan_detector(n)[0], True)
        deg = np.degrees(theta)
    elif conv in ("astraN", "astra15"):
        theta = np.arange(views) * math.pi / views
        clean = astra_sino(truth, theta, n if conv == "astraN" else int(round(1.5 * n)), False)
        deg = np.degrees(theta)
    elif conv == "regrun":
        deg = np.arange(views) * 180.0 / views
        clean = hs.project_pixels(truth, n, np.radians(deg), hs.detector_bins(n))
    else:
        from skimage.transform import radon

        deg = np.arange(views) * 180.0 / views
        clean = radon(truth, deg, circle=conv == "sktrue").T
        extra = {"angle_start": 90.0}
    return hs.poisson(np.maximum(clean, 0.0), PHOTONS, rng), truth, deg, extra


def read(path: Path, extra: dict, size: int | None):
    """ct_fewview as the README's command builds it; returns (problem, console lines) or (None, error line)."""
    out = io.StringIO()
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."), reporter=Reporter(stream=out, progress=False))
    cfg = config_section("problem", "ct_fewview", data="file", sinogram=str(path), size=size, views=None, **extra)
    try:
        p = CTFewView(cfg, ctx)
    except UserError as exc:
        return None, str(exc)
    return p, [line for line in out.getvalue().splitlines() if "problem.views=" not in line]


def on_grid(truth: np.ndarray, m: int, dx: float, dy: float) -> np.ndarray:
    n = truth.shape[0]
    c = np.arange(m) - (m - 1) / 2 + (n - 1) / 2
    return ndimage.map_coordinates(truth, np.meshgrid(c + dx, c + dy, indexing="ij"), order=1, cval=0.0)


def score(p: CTFewView, truth: np.ndarray) -> float:
    """FBP's PSNR inside the problem's mask against the truth on its grid (best_psnr)."""
    return best_psnr(p.fbp().cpu().numpy(), p.mask.cpu().numpy(), truth)


def best_psnr(x: np.ndarray, m: np.ndarray, truth: np.ndarray) -> float:
    """PSNR inside the mask m against the truth sampled on x's grid, at the best turn and half-pixel shift."""
    best = -math.inf
    for dx in (-0.5, 0.0, 0.5):
        for dy in (-0.5, 0.0, 0.5):
            t = on_grid(truth, x.shape[0], dx, dy)
            for k in range(4):
                for tr in (False, True):
                    v = np.rot90(t.T if tr else t, k)
                    best = max(best, psnr(x[m], v[m]))
    return best


def psnr_in_frame(x: np.ndarray, truth: np.ndarray) -> float:
    """PSNR of a reconstruction on any grid against the truth on its own N x N grid, inside the N grid's metric disk
    (0.95 of its half width): the reconstruction resampled onto the N grid, 0 where its grid does not reach (what
    a crop loses counts), at the best turn and half-pixel shift. Reconstructions on different grids compare here;
    inside their own masks a larger grid's zero background raises the PSNR by itself."""
    n, m = truth.shape[0], x.shape[0]
    c = np.arange(n) - (n - 1) / 2
    mask = c[:, None] ** 2 + c[None, :] ** 2 < (0.95 * n / 2) ** 2
    best = -math.inf
    for dx in (-0.5, 0.0, 0.5):
        for dy in (-0.5, 0.0, 0.5):
            g = c + (m - 1) / 2
            y = ndimage.map_coordinates(x, np.meshgrid(g + dx, g + dy, indexing="ij"), order=1, cval=0.0)
            for k in range(4):
                for tr in (False, True):
                    v = np.rot90(truth.T if tr else truth, k)
                    best = max(best, psnr(y[mask], v[mask]))
    return best


def lost(truth: np.ndarray, m: int) -> float:
    n = truth.shape[0]
    c = np.arange(n) - (n - 1) / 2
    r2 = c[:, None] ** 2 + c[None, :] ** 2
    inside = r2 < (0.95 * m / 2) ** 2
    return float(np.abs(truth[~inside]).sum() / max(np.abs(truth).sum(), 1e-300))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 192, 256, 300])
    ap.add_argument("--convs", nargs="+", default=list(CONVS), choices=CONVS)
    ap.add_argument("--objects", nargs="+", default=list(OBJECTS))
    ap.add_argument("--views", type=int, default=60)
    ap.add_argument("--angles", action="store_true", help="the disk cases also as .npz with their angles")
    ap.add_argument("--borderline", type=float, nargs="+", help="tolerances in bins: the trigger's measurement")
    ap.add_argument("--diameters", type=int, nargs="+", default=list(range(112, 141, 4)), help="--borderline's D")
    ap.add_argument("--cases", nargs="+", help="CONV:OBJECT:N[:npz]: the held-out mode (module docstring)")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.cases:
        return heldout(a)
    if a.borderline:
        return borderline(a)
    rows = []
    for conv in a.convs:
        for obj in a.objects:
            if conv == "sktrue" and obj == "square" or conv == "fan" and obj != "disk":
                continue
            for n in a.sizes:
                views = 2 * a.views if conv in ("fan", "astrafan") else a.views
                sino, truth, deg, extra = make_file(conv, obj, n, views, a.seed)
                stem = f"{conv}_{obj}_{n}"
                np.save(a.out / f"{stem}.npy", sino)
                np.save(a.out / f"{stem}_truth.npy", truth)
                files = [(a.out / f"{stem}.npy", "no")]
                if a.angles and obj == "disk":
                    np.savez(a.out / f"{stem}.npz", sinogram=sino, angles=deg)
                    files.append((a.out / f"{stem}.npz", "yes"))
                right, _ = read(files[0][0], extra, n)
                right_psnr = score(right, truth) if right is not None else float("nan")
                for path, stored in files:
                    p, said = read(path, extra, None)
                    row = {"file": path.name, "conv": conv, "object": obj, "N": n, "bins": int(sino.shape[1]),
                           "angles": stored, "psnr_right": right_psnr}
                    if p is None:
                        row.update(grid=None, error=said)
                    else:
                        m = p.shape[0]
                        row.update(grid=m, grid_from=p.grid_from, said=said, warned=bool(p.warnings({})),
                                   psnr_taken=score(p, truth) if m != n else right_psnr, lost=lost(truth, m))
                    rows.append(row)
                    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
                                      if k not in ("said", "error")}), flush=True)
    (a.out / "rows.json").write_text(json.dumps(rows, indent=1))
    print(f"{'file':28s} {'bins':>5s} {'grid':>5s} {'warn':>4s} {'lost':>6s} {'PSNR taken':>10s} {'at N':>6s}")
    for r in rows:
        g = "err" if r["grid"] is None else str(r["grid"])
        w = "" if r["grid"] is None else ("yes" if r["warned"] else "no")
        lo = "" if r["grid"] is None else f"{100 * r['lost']:.1f}%"
        pt = "" if r["grid"] is None else f"{r['psnr_taken']:.2f}"
        print(f"{r['file']:28s} {r['bins']:5d} {g:>5s} {w:>4s} {lo:>6s} {pt:>10s} {r['psnr_right']:6.2f}")


def readme_run(path: Path, extra: dict, size: int | None, out: Path) -> dict:
    """The README's command on a file (one process, its threads pinned by the caller's environment)."""
    import subprocess

    from regrun.record import load

    args = ["regrun", "problem=ct_fewview", "problem.data=file", f"problem.sinogram={path}", "solver=fista_tv",
            f"hydra.run.dir={out}"] + [f"problem.{k}={v}" for k, v in extra.items()]
    if size is not None:
        args.append(f"problem.size={size}")
    if not (out / "metrics.json").exists():  # a run already made is read again, not rerun
        res = subprocess.run(args, capture_output=True, text=True)
        if res.returncode != 0:
            return {"error": (res.stdout + res.stderr).strip().splitlines()[-1]}
    rec, run = load(out), json.loads((out / "metrics.json").read_text())
    log = (out / "regrun.log").read_text()
    return {"x": np.asarray(rec["result"]["reconstruction"]), "mask": np.asarray(rec["data"]["mask"]),
            "grid_from": str(rec["data"]["grid_from"]), "lam": run["metrics"]["lam_chosen"],
            "said": [line.split(" ", 1)[1] for line in log.splitlines() if "regrun: problem.size=" in line],
            "wall_s": run["wall_time_s"], "cpu_s": sum(run["phases_cpu_s"].values())}


def heldout(a) -> None:
    rows = []
    for k, case in enumerate(a.cases):
        conv, obj, n, *rest = case.split(":")
        n = int(n)
        views = 2 * a.views if conv in ("fan", "astrafan") else a.views
        sino, truth, deg, extra = make_file(conv, obj, n, views, a.seed + k)
        stem = f"{a.seed + k}_{conv}_{obj}_{n}"
        path = a.out / f"{stem}.{'npz' if rest == ['npz'] else 'npy'}"
        if rest == ["npz"]:
            np.savez(path, sinogram=sino, angles=deg)
        else:
            np.save(path, sino)
        np.save(a.out / f"{stem}_truth.npy", truth)
        row = {"case": case, "seed": a.seed + k, "bins": int(sino.shape[1])}
        for tag, size in (("none", None), ("typed", n)):
            r = readme_run(path, extra, size, a.out / f"run_{stem}_{tag}")
            if "error" in r:
                row[tag] = {"error": r["error"]}
                continue
            row[tag] = {"grid": int(r["x"].shape[0]), "grid_from": r["grid_from"], "said": r["said"],
                        "psnr": best_psnr(r["x"], r["mask"], truth), "psnr_N": psnr_in_frame(r["x"], truth),
                        "lost": lost(truth, r["x"].shape[0]),
                        "lam": r["lam"], "wall_s": r["wall_s"], "cpu_s": r["cpu_s"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    (a.out / "heldout.json").write_text(json.dumps(rows, indent=1))
    print(f"{'case':28s} {'seed':>5s} {'bins':>5s} {'grid':>5s} {'lost':>6s} {'PSNR':>6s} {'in N':>6s} {'lam':>7s} "
          f"{'at N':>6s} {'lam':>7s}")
    for r in rows:
        none, typed = r["none"], r["typed"]
        if "error" in none:
            print(f"{r['case']:28s} {r['seed']:5d} {r['bins']:5d}  error: {none['error']}")
            continue
        print(f"{r['case']:28s} {r['seed']:5d} {r['bins']:5d} {none['grid']:5d} {100 * none['lost']:5.1f}% "
              f"{none['psnr']:6.2f} {none['psnr_N']:6.2f} {none['lam']:7.4g} {typed.get('psnr_N', float('nan')):6.2f} "
              f"{typed.get('lam', float('nan')):7.4g}")


def borderline(a) -> None:
    import regrun.problems.ct_fewview as ct
    from skimage.transform import radon

    n, rows = 160, []
    objects = [o for o in a.objects if o not in OBJECTS] or ["blobs", "astronaut"]
    for k, name in enumerate(objects):
        for d in a.diameters:
            m = int(round(d / 0.9))  # pixel_object draws in a disk 0.9 of its field
            img = np.zeros((n, n))
            lo = (n - m) // 2
            img[lo:lo + m, lo:lo + m] = hs.pixel_object(name, m, a.seed + k, m)
            c = np.arange(n) - (n - 1) / 2  # the 128 grid's disk FISTA-TV keeps (problem.mask_radius 0.95)
            inner = c[:, None] ** 2 + c[None, :] ** 2 < (0.95 * 64) ** 2
            cropped = bool(np.abs(img[~inner]).max() > 0)
            clean = radon(img, np.arange(a.views) * 180.0 / a.views, circle=False).T
            for photons in (1e3, 1e4, 1e5):
                rng = np.random.default_rng([a.seed + k, d, int(photons)])
                path = a.out / f"border_{name}_{d}_{int(photons)}.npy"
                np.save(path, hs.poisson(np.maximum(clean, 0.0), photons, rng))
                grown = {}
                for margin in a.borderline:
                    ct.AXIS_TOLERANCE_BINS = margin
                    p, _ = read(path, {"angle_start": 90.0}, None)
                    grown[margin] = p.shape[0]
                rows.append({"object": name, "D": d, "photons": photons, "cropped": cropped, "grid": grown})
                print(json.dumps(rows[-1]), flush=True)
    (a.out / "borderline.json").write_text(json.dumps(rows, indent=1))
    for margin in a.borderline:  # a tolerance
        crop = [r for r in rows if r["cropped"]]
        fit = [r for r in rows if not r["cropped"]]
        print(f"tolerance {margin:g}: cropped files grown {sum(r['grid'][margin] > 128 for r in crop)}/{len(crop)}, "
              f"grown to 160 {sum(r['grid'][margin] == 160 for r in crop)}; files that fit grown "
              f"{sum(r['grid'][margin] > 128 for r in fit)}/{len(fit)}")


if __name__ == "__main__":
    main()
