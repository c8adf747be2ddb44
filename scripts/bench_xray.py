#!/usr/bin/env python
"""Wall time of regrun's X-ray transform (forward and adjoint) beside scikit-image's radon/iradon and ASTRA's CPU
projectors, on the same data in the same process, one thread each; ratios within this run.

Cases: 128^2 / 60 views parallel and fan (flat detector, SOD = 2 W, ODD = W), 64^3 / 60 views cone beam.
regrun: float32, `cached` (the CSR matrices of A and A^T, built once: the build time is its own row) and
`on the fly` (taps recomputed per product in chunks of views, as for large 3-D scans).
scikit-image: `radon` (rotate-and-sum, its own detector of ceil(sqrt(2) n) bins) and `iradon(filter_name=None)`
(unfiltered back-projection, as the adjoint's stand-in; it is not the exact transpose).
ASTRA (optional, `pip install astra-toolbox`): CPU `linear` (Joseph, as ours) and `line` for parallel, `line_fanflat`
for fan (ASTRA has no CPU Joseph fan projector); its 3-D projectors need CUDA (without a GPU they kill the
process), so cone is timed only when astra.use_cuda() is true, which it never is on a CPU-only machine.
Agreement: relative L2 difference between regrun's sinogram and each peer's, with ASTRA given our vector geometry
and the image transposed to its (row = y, column = x) layout; skimage's geometry differs (its detector grid), so it
gets no agreement number.

    pip install -e .[bench]      # scikit-image; astra-toolbox too where pip has it
    python scripts/bench_xray.py --out outputs/bench/xray.csv
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / ASTRA start their thread pools

import numpy as np  # noqa: E402
import torch  # noqa: E402

from regrun.tomography.phantoms import render, shepp_logan  # noqa: E402
from regrun.tomography.xray import XRayTransform  # noqa: E402
from regrun.tomography.geometry import (cone_beam, covering_detector, fan_beam, parallel_beam,  # noqa: E402
                                          uniform_angles)


def median_ms(fn, repeats: int, max_seconds: float = 30.0) -> float:
    fn()  # warm up
    times = []
    start = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > max_seconds:
            break
    return 1e3 * float(np.median(times))


def geometries(n2: int, n3: int, views: int):
    dets, du = covering_detector((n2, n2), 1.0, 2.0 * n2, 1.0 * n2)
    dets3, du3 = covering_detector((n3, n3, n3), 1.0, 2.0 * n3, 1.0 * n3)
    return {
        "parallel": parallel_beam((n2, n2), uniform_angles(views, False), covering_detector((n2, n2), 1.0)[0][0]),
        "fan": fan_beam((n2, n2), uniform_angles(views, True), dets[0], du, 2.0 * n2, 1.0 * n2),
        "cone": cone_beam((n3, n3, n3), uniform_angles(views, True), dets3, du3, 2.0 * n3, 1.0 * n3),
    }


def bench_regrun(name, geo, image, repeats, rows):
    x = torch.as_tensor(image, dtype=torch.float32)
    for label, cache in (("cached", 1024.0), ("on the fly", 0.0)):
        op = XRayTransform(geo, cache_mb=cache)
        if label == "cached" and op.cache_bytes(torch.float32) > cache * 2**20:
            continue
        t0 = time.perf_counter()
        sino = op.project(x)
        first = 1e3 * (time.perf_counter() - t0)
        y = torch.rand(sino.shape, dtype=torch.float32)
        reps = repeats if label == "cached" or geo.volume.ndim == 2 else max(2, repeats // 5)
        rows.append(dict(case=name, method=f"regrun {label}", forward_ms=median_ms(lambda: op.project(x), reps),
                         adjoint_ms=median_ms(lambda: op.backproject(y), reps),
                         setup_ms=first if label == "cached" else float("nan"), rel_diff=float("nan")))
    return XRayTransform(geo).project(x.double()).numpy() if geo.volume.ndim == 2 else None


def bench_skimage(name, geo, image, repeats, rows):
    try:
        from skimage.transform import iradon, radon
    except ImportError:
        print("scikit-image is not installed: no skimage rows (pip install -e .[bench])")
        return
    theta = np.degrees(np.asarray(geo.angles))
    img = np.ascontiguousarray(image.T.astype(np.float64))  # skimage: rows = y
    sino = radon(img, theta=theta, circle=False)
    rows.append(dict(case=name, method="skimage radon / iradon(filter=None)",
                     forward_ms=median_ms(lambda: radon(img, theta=theta, circle=False), repeats),
                     adjoint_ms=median_ms(lambda: iradon(sino, theta=theta, filter_name=None, circle=False,
                                                         output_size=img.shape[0]), repeats),
                     setup_ms=float("nan"), rel_diff=float("nan")))


def bench_astra(name, geo, image, ours, repeats, rows):
    try:
        import astra
    except ImportError:
        print("astra-toolbox is not installed: no ASTRA rows (pip install astra-toolbox)")
        return
    if geo.volume.ndim == 3:
        if not astra.use_cuda():
            rows.append(dict(case=name, method="astra cone (needs CUDA; not run)", forward_ms=float("nan"),
                             adjoint_ms=float("nan"), setup_ms=float("nan"), rel_diff=float("nan")))
        return
    n1, n2 = geo.volume.shape
    vol_geom = astra.create_vol_geom(n2, n1)  # rows, columns
    vectors = np.asarray(geo.vectors)
    kind = "parallel_vec" if geo.kind == "parallel" else "fanflat_vec"
    proj_geom = astra.create_proj_geom(kind, geo.detector[0], vectors)
    img = np.ascontiguousarray(image.T.astype(np.float32))
    for ptype in (("linear", "line") if geo.kind == "parallel" else ("line_fanflat",)):
        pid = astra.create_projector(ptype, proj_geom, vol_geom)
        matrix_op = astra.OpTomo(pid)
        sino = (matrix_op * img.ravel()).reshape(geo.sinogram_shape)
        y = np.random.default_rng(0).random(geo.sinogram_shape, dtype=np.float32)
        # ASTRA's y axis may point the other way: compare with our sinogram of the image and of its flip
        diffs = []
        for candidate in (img, img[::-1]):
            s = (matrix_op * np.ascontiguousarray(candidate).ravel()).reshape(geo.sinogram_shape)
            diffs.append(float(np.linalg.norm(s - ours) / np.linalg.norm(ours)))
        rows.append(dict(case=name, method=f"astra cpu {ptype}",
                         forward_ms=median_ms(lambda: matrix_op * img.ravel(), repeats),
                         adjoint_ms=median_ms(lambda: matrix_op.T * y.ravel(), repeats),
                         setup_ms=float("nan"), rel_diff=min(diffs)))
        del sino
        astra.projector.delete(pid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size2d", type=int, default=128)
    ap.add_argument("--size3d", type=int, default=64)
    ap.add_argument("--views", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/xray.csv"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[dict] = []
    for name, geo in geometries(args.size2d, args.size3d, args.views).items():
        case = f"{name} {'x'.join(map(str, geo.volume.shape))}, {geo.views} views"
        image = render(shepp_logan, geo.volume.shape).numpy()
        print(f"{case}: detector {geo.detector}", flush=True)
        ours = bench_regrun(case, geo, image, args.repeats, rows)
        if name == "parallel":
            bench_skimage(case, geo, image, args.repeats, rows)
        bench_astra(case, geo, image, ours, args.repeats, rows)
    for row in rows:  # ratios against regrun's cached (2-D) or on-the-fly (3-D) projector of the same case
        base = next(r for r in rows if r["case"] == row["case"] and r["method"].startswith("regrun"))
        row["forward_vs_regrun"] = row["forward_ms"] / base["forward_ms"]
        row["adjoint_vs_regrun"] = row["adjoint_ms"] / base["adjoint_ms"]
    lines = [f"threads={args.threads}, torch {torch.__version__}, float32; ratio = peer time / regrun time "
             "(below 1: the peer is faster)", "",
             "| case | method | forward ms | adjoint ms | setup ms | forward ratio | adjoint ratio | rel. diff |",
             "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v, f: "-" if isinstance(v, float) and math.isnan(v) else format(v, f)  # noqa: E731
    for r in rows:
        lines.append(f"| {r['case']} | {r['method']} | {fmt(r['forward_ms'], '.2f')} | {fmt(r['adjoint_ms'], '.2f')} "
                     f"| {fmt(r['setup_ms'], '.0f')} | {fmt(r['forward_vs_regrun'], '.2f')} | "
                     f"{fmt(r['adjoint_vs_regrun'], '.2f')} | {fmt(r['rel_diff'], '.2e')} |")
    table = "\n".join(lines)
    print("\n" + table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    args.out.with_suffix(".md").write_text(table + "\n")
    print(f"\nwrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
