#!/usr/bin/env python
"""regrun's X-ray projector, FBP and a SIRT loop beside ASTRA's CPU ones (and scikit-image's radon/iradon) at
the sizes users have (issue 21): 2-D parallel and fan beams, 128^2 / 60 views, 256^2 / 180, 512^2 / 360 (and
1024^2 / 720 for the products alone), one thread each, the same geometry (ASTRA gets our vector rows), in one
process.

Per case and method: median wall ms and median CPU ms (process_time) of one forward and one adjoint product
(float32), the methods timed in turn in each of `--repeats` rounds, and the median [min, max] over the rounds of
each method's CPU time over ASTRA's; regrun's default at `--cache-mb` (`cached`: CSR matrices of A and A^T;
beyond them the `orbit cache` of one view per orbit of the grid's symmetries, where it fits; the one-off build
is the setup column) and `on the fly` (cache_mb=0). Agreement: relative L2 distance of each sinogram to
regrun's. FBP (parallel: ASTRA CPU `FBP` with the ram-lak filter, scikit-image `iradon` ramp, regrun
`fbp(window='ramp')`) and SIRT (`--sirt-iters` iterations: ASTRA CPU `SIRT`; regrun's projector in the same
iteration x += C A^T R (b - A x), R and C the inverse row and column sums) from the sinogram of a twice finer
Shepp-Logan image (no inverse crime), scored by PSNR against the cell-averaged phantom inside the inscribed disk.

    pip install -e .[bench]      # astra-toolbox, scikit-image
    python scripts/bench_ct_projector.py --out outputs/bench/ct_projector.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / ASTRA start their thread pools

import numpy as np  # noqa: E402
import torch  # noqa: E402

from regrun.metrics import psnr  # noqa: E402
from regrun.tomography.fbp import fbp  # noqa: E402
from regrun.tomography.geometry import covering_detector, fan_beam, parallel_beam, uniform_angles  # noqa: E402
from regrun.tomography.phantoms import render, shepp_logan  # noqa: E402
from regrun.tomography.xray import XRayTransform  # noqa: E402


def timed(fn, repeats: int, max_seconds: float = 20.0) -> tuple[float, float]:
    """Median wall and CPU milliseconds of fn() (after one warm-up call)."""
    fn()
    wall, cpu = [], []
    start = time.perf_counter()
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if time.perf_counter() - start > max_seconds:
            break
    return 1e3 * float(np.median(wall)), 1e3 * float(np.median(cpu))


def interleaved(products: dict, repeats: int, reference: str | None) -> dict:
    """Per method: median wall and CPU ms of its forward and adjoint products (float32), timed in turn with
    every other method's in each of `repeats` rounds (after one warm-up each), so that all see the same load;
    and the median, min and max over the rounds of its CPU time over the `reference` method's."""
    for fwd, adj in products.values():
        fwd(), adj()
    times = {name: {k: [] for k in ("fw", "fc", "aw", "ac")} for name in products}
    for _ in range(repeats):
        for which in ("f", "a"):
            for name, fns in products.items():
                t0, c0 = time.perf_counter(), time.process_time()
                fns[0 if which == "f" else 1]()
                times[name][which + "w"].append(time.perf_counter() - t0)
                times[name][which + "c"].append(time.process_time() - c0)
    out = {}
    for name, t in times.items():
        row = dict(forward_ms=1e3 * float(np.median(t["fw"])), forward_cpu_ms=1e3 * float(np.median(t["fc"])),
                   adjoint_ms=1e3 * float(np.median(t["aw"])), adjoint_cpu_ms=1e3 * float(np.median(t["ac"])))
        if reference is not None:
            for which, key in (("fc", "forward_ratio"), ("ac", "adjoint_ratio")):
                r = np.asarray(t[which]) / np.asarray(times[reference][which])
                row[key] = [float(np.median(r)), float(r.min()), float(r.max())]
        out[name] = row
    return out


def geometry(kind: str, n: int, views: int, offset: float = 0.0):
    """The benchmark's scan; `offset` (radians) turns every view (an offset off the grid's axes keeps the
    rotations by 90 degrees as symmetries but not the reflections)."""
    if kind == "parallel":
        return parallel_beam((n, n), uniform_angles(views, False) + offset, covering_detector((n, n), 1.0)[0][0])
    dets, du = covering_detector((n, n), 1.0, 2.0 * n, 1.0 * n)
    return fan_beam((n, n), uniform_angles(views, True) + offset, dets[0], du, 2.0 * n, 1.0 * n)


def astra_setup(geo):
    import astra
    n1, n2 = geo.volume.shape
    vol = astra.create_vol_geom(n2, n1)
    kind = "parallel_vec" if geo.kind == "parallel" else "fanflat_vec"
    proj = astra.create_proj_geom(kind, geo.detector[0], np.asarray(geo.vectors))
    ptype = "linear" if geo.kind == "parallel" else "line_fanflat"
    return astra, vol, proj, astra.create_projector(ptype, proj, vol), ptype


def astra_parallel_for_fbp(astra, geo, vol, img, ours):
    """ASTRA's CPU FBP takes only its plain `parallel` geometry (angles, not vectors): the angle convention that
    reproduces our sinogram (checked, not assumed), its projector and the sinogram distance."""
    a = np.asarray(geo.angles)
    best = None
    for cand in (a, -a, a + np.pi / 2, np.pi / 2 - a, a - np.pi / 2, -a - np.pi / 2):
        proj = astra.create_proj_geom("parallel", 1.0, geo.detector[0], cand)
        pid = astra.create_projector("linear", proj, vol)
        sino = (astra.OpTomo(pid) * img.ravel()).reshape(geo.sinogram_shape)
        d = float(np.linalg.norm(sino - ours) / np.linalg.norm(ours))
        if best is None or d < best[0]:
            if best is not None:
                astra.projector.delete(best[2])
            best = (d, proj, pid)
        else:
            astra.projector.delete(pid)
    return best


def astra_algorithm(astra, name, pid, vol, proj, sino, iters=1, extra=None):
    sid = astra.data2d.create("-sino", proj, sino)
    rid = astra.data2d.create("-vol", vol, 0.0)
    cfg = astra.astra_dict(name)
    cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid, **(extra or {}))
    aid = astra.algorithm.create(cfg)
    astra.algorithm.run(aid, iters)
    out = astra.data2d.get(rid)
    for f, i in ((astra.algorithm.delete, aid), (astra.data2d.delete, sid), (astra.data2d.delete, rid)):
        f(i)
    return out


def regrun_sirt(op, b, iters):
    ones_img = torch.ones(op.geometry.volume.shape, dtype=b.dtype)
    row = op.project(ones_img)
    col = op.backproject(torch.ones_like(b))
    rinv = torch.where(row > 0, 1.0 / row, torch.zeros_like(row))
    cinv = torch.where(col > 0, 1.0 / col, torch.zeros_like(col))
    x = torch.zeros_like(ones_img)
    for _ in range(iters):
        x = x + cinv * op.backproject(rinv * (b - op.project(x)))
    return x


def run_case(kind, n, views, args, rows, projector_only=False):
    geo = geometry(kind, n, views, args.angle_offset)
    case = f"{kind} {n}², {views} views"
    print(case, flush=True)
    image = render(shepp_logan, (n, n))
    x = image.to(torch.float32)
    y = torch.rand(geo.sinogram_shape, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    products, notes = {}, {}
    for label, cache in (("default", args.cache_mb), ("on the fly", 0.0)):
        op = XRayTransform(geo, cache_mb=cache)
        t0, c0 = time.perf_counter(), time.process_time()
        sino = op.project(x)
        op.backproject(y)
        setup = (1e3 * (time.perf_counter() - t0), 1e3 * (time.process_time() - c0))
        if label == "on the fly":
            ours = sino.double().numpy()
        else:
            sym = op._orbit_cache(torch.float32, torch.device("cpu"))
            if op._matrices(torch.float32, torch.device("cpu")) is not None:
                label = "regrun cached"
            elif sym is not None:
                label = (f"regrun orbit cache ({sym.n_orbits} orbits of {views} views; A_R^T of {sym.n_at}, "
                         f"A_R of {sym.n_a})")
            else:  # the default is the on-the-fly row below
                rows.append(dict(case=case, method="regrun cached", note=f"not cached: bound "
                                 f"{op.cache_bytes(torch.float32) / 2**20:.0f} MB > cache_mb={cache:g}, no orbit "
                                 "cache either"))
                continue
            notes[label] = dict(setup_ms=setup[0], setup_cpu_ms=setup[1])
        label = label if label.startswith("regrun") else f"regrun {label}"
        products[label] = (lambda op=op: op.project(x), lambda op=op: op.backproject(y))
    agreement = {}
    try:
        astra, vol, proj, pid, ptype = astra_setup(geo)
    except ImportError:
        astra = None
        print("astra-toolbox is not installed: no ASTRA rows (pip install astra-toolbox)")
    if astra is not None:
        mop = astra.OpTomo(pid)
        img = np.ascontiguousarray(image.numpy().T.astype(np.float32))  # ASTRA: row = y
        ya = np.ascontiguousarray(y.numpy())
        diffs = [float(np.linalg.norm((mop * np.ascontiguousarray(c).ravel()).reshape(geo.sinogram_shape) - ours)
                       / np.linalg.norm(ours)) for c in (img, img[::-1])]
        products[f"astra cpu {ptype}"] = (lambda: mop * img.ravel(), lambda: mop.T * ya.ravel())
        agreement[f"astra cpu {ptype}"] = min(diffs)
        flip = diffs[1] < diffs[0]  # ASTRA's y axis the other way round: its images flipped back below
    for name, t in interleaved(products, args.repeats, f"astra cpu {ptype}" if astra is not None else None).items():
        rows.append(dict(case=case, method=name, **t, **notes.get(name, {}), rel_diff=agreement.get(name),
                         peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    if projector_only:  # the projector's products only (the 1024^2 case): no scikit-image, FBP or SIRT
        if astra is not None:
            astra.projector.delete(pid)
        return
    if kind == "parallel" and args.skimage:
        try:
            from skimage.transform import iradon, radon
            theta = np.degrees(np.asarray(geo.angles))
            img64 = np.ascontiguousarray(image.numpy().T)
            sk = radon(img64, theta=theta, circle=False)
            fw, fc = timed(lambda: radon(img64, theta=theta, circle=False), max(1, args.repeats // 3))
            aw, ac = timed(lambda: iradon(sk, theta=theta, filter_name=None, circle=False, output_size=n),
                           max(1, args.repeats // 3))
            rows.append(dict(case=case, method="skimage radon / iradon(filter=None)", forward_ms=fw,
                             forward_cpu_ms=fc, adjoint_ms=aw, adjoint_cpu_ms=ac,
                             note="own detector (ceil(sqrt 2 n) bins): no agreement number"))
        except ImportError:
            print("scikit-image is not installed: no skimage rows")
    # reconstructions from the sinogram of a twice finer image (exact-enough line integrals)
    angles = torch.tensor(geo.angles, dtype=torch.float64)
    if kind == "parallel":
        fine_geo = parallel_beam((2 * n, 2 * n), angles, geo.detector[0], voxel=0.5)
    else:
        du = covering_detector((n, n), 1.0, 2.0 * n, 1.0 * n)[1]
        fine_geo = fan_beam((2 * n, 2 * n), angles, geo.detector[0], du, 2.0 * n, 1.0 * n, voxel=0.5)
    fine = render(shepp_logan, (2 * n, 2 * n))
    truth = fine.reshape(n, 2, n, 2).mean((1, 3)).numpy()
    b = XRayTransform(fine_geo, cache_mb=0.0).project(fine).to(torch.float32)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    disk = (xx ** 2 + yy ** 2) <= (0.5 * n) ** 2
    score = lambda rec: psnr(np.where(disk, rec, 0.0), np.where(disk, truth, 0.0))  # noqa: E731
    op = XRayTransform(geo, cache_mb=args.cache_mb)
    if kind == "parallel":
        w, c = timed(lambda: fbp(geo, b, "ramp"), max(1, args.repeats // 3))
        rec = fbp(geo, b, "ramp").double().numpy()
        rows.append(dict(case=case, method="regrun fbp ramp", recon_ms=w, recon_cpu_ms=c, psnr=score(rec)))
        if astra is not None:
            sino = np.ascontiguousarray(b.numpy())
            match, pproj, ppid = astra_parallel_for_fbp(astra, geo, vol, img, ours)
            run = lambda: astra_algorithm(astra, "FBP", ppid, vol, pproj, sino,  # noqa: E731
                                          extra={"FilterType": "ram-lak"})
            w, c = timed(run, max(1, args.repeats // 3))
            ra = run().T.astype(np.float64)  # ASTRA's (row = y) to ours
            rows.append(dict(case=case, method="astra cpu FBP ram-lak", recon_ms=w, recon_cpu_ms=c, psnr=score(ra),
                             rel_diff=float(np.linalg.norm(ra - rec) / np.linalg.norm(rec)),
                             note=f"ASTRA 'parallel' geometry: its sinogram {match:.1e} from ours"))
            astra.projector.delete(ppid)
    w, c = timed(lambda: regrun_sirt(op, b, args.sirt_iters), 1)
    rec = regrun_sirt(op, b, args.sirt_iters).double().numpy()
    rows.append(dict(case=case, method=f"regrun projector, SIRT {args.sirt_iters} it.", recon_ms=w, recon_cpu_ms=c,
                     psnr=score(rec)))
    if astra is not None:
        sino = np.ascontiguousarray(b.numpy())
        run = lambda: astra_algorithm(astra, "SIRT", pid, vol, proj, sino, args.sirt_iters)  # noqa: E731
        w, c = timed(run, 1)
        ra = run()
        ra = (ra[::-1] if flip else ra).T.astype(np.float64)
        rows.append(dict(case=case, method=f"astra cpu SIRT {args.sirt_iters} it.", recon_ms=w, recon_cpu_ms=c,
                         psnr=score(ra), rel_diff=float(np.linalg.norm(ra - rec) / np.linalg.norm(rec))))
        astra.projector.delete(pid)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="*", default=["128:60", "256:180", "512:360"], help="SIZE:VIEWS")
    ap.add_argument("--kinds", nargs="+", default=["parallel", "fan"])
    ap.add_argument("--projector-cases", nargs="*", default=["1024:720"],
                    help="SIZE:VIEWS timed for the projector's products only (no FBP, SIRT or scikit-image)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--angle-offset", type=float, default=0.0, help="radians added to every view's angle")
    ap.add_argument("--sirt-iters", type=int, default=50)
    ap.add_argument("--cache-mb", type=float, default=512.0, help="regrun's cache bound (its default)")
    ap.add_argument("--no-skimage", dest="skimage", action="store_false")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/ct_projector.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows: list[dict] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "settings": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    try:
        import astra
        meta["astra"] = astra.__version__
    except ImportError:
        pass
    for spec, projector_only in [(c, False) for c in args.cases] + [(c, True) for c in args.projector_cases]:
        n, views = (int(v) for v in spec.split(":"))
        for kind in args.kinds:
            run_case(kind, n, views, args, rows, projector_only)
            print(json.dumps(rows[-1]), flush=True)
            args.out.write_text(json.dumps({"rows": rows, **meta}, indent=1))  # after every case: a long run
            # stopped early keeps what it measured
    def fmt(v):
        if isinstance(v, list):  # a ratio: median [min, max] over the rounds
            return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"
        return "-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))

    keys = ("forward_ms", "forward_cpu_ms", "adjoint_ms", "adjoint_cpu_ms", "forward_ratio", "adjoint_ratio",
            "setup_cpu_ms", "peak_rss_mb", "recon_ms", "recon_cpu_ms", "psnr", "rel_diff", "note")
    lines = ["| case | method | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    lines += [f"| {r['case']} | {r['method']} | " + " | ".join(fmt(r.get(k)) for k in keys) + " |" for r in rows]
    table = "\n".join(lines)
    args.out.with_suffix(".md").write_text(table + "\n")
    print("\n" + table)


if __name__ == "__main__":
    main()
