"""Which grid `regrun problem=ct_fewview problem.data=file problem.sinogram=S problem.geometry=fan solver=fista_tv`
takes with no `problem.size` typed for fan (and cone) files, and what it costs against the size the file was made at
(docs/ct.md, "(ctfangrid)"). Each case is run three times: with no size by the code at `--main` (main's: 128 for
every fan), with no size by this tree, and with problem.size=N typed by this tree; each reconstruction is scored in
the file's own N x N frame (ct_grid_conventions.psnr_in_frame; a cone's in its N x N x slices frame, trilinear, 0
where the run's grid does not reach).

Cases `CONV:OBJECT:N[:key=value...]`, seed `--seed` + k for the k-th:
- `fan`: regrun's own fan beam (heldout_ct_sinograms.make: exact chords of an analytic OBJECT, covering detector,
  source 2 and detector 1 grid widths from the axis);
- `astrafan`: ASTRA's fanflat (line_fanflat, the object on a grid 2x finer) with regrun's covering detector at the
  case's distances (`so=`, `od=`, grid widths; defaults 2, 1; typed to the run as problem.source_origin /
  problem.origin_detector) and bins of the magnified voxel;
- `astradisk`: the same with a detector covering the object's disk (the grid's inscribed disk, ceil of its shadow);
- `astraN`: the same with N bins of the magnified voxel;
- `cone`: regrun's own cone beam (ct_fewview's simulation, `phantom=shepp_logan`, oversampled 2x), N x N x `sl=`.
- `par-CONV` with CONV one of ct_grid_conventions' parallel ones (`regrun`, `skfalse`, `sktrue`, `astraN`,
  `astra15`): that parallel file, made as ct_grid_conventions makes it (views over 180 degrees), for a small object in
  a wide parallel field (docs/ct.md "(ctsmallobj)").
OBJECT: heldout_ct_sinograms' pixel objects in a disk of 0.9 N, `NAME@D` (D px across, centred), for `fan` its
analytic ones. Keys: `views=` (default 60; over 360 degrees), `photons=` (Poisson, default 1e5).
`--skip-same`: a run whose grid an earlier run of the case took is that run (only the grid's choice differs between
the three), not run again (with `--set`, only between this tree's two runs); `--set KEY=VALUE ...`: overrides for this
tree's runs (an opt-in setting, e.g. problem.size_reading=disk, docs/ct.md "(ctsmallw)"); `--lam-factors F ...`: each run again at F times its chosen weight (the grid optimum).

    OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/ct_fan_grid.py --out OUT(ctfangrid)/dev --seed 9171 \
        --main ../main --cases fan:ellipses:96 astradisk:blobs:160 ...
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ct_grid_conventions as cg  # noqa: E402
import heldout_ct_sinograms as hs  # noqa: E402

from regrun.config import config_section  # noqa: E402
from regrun.context import RunContext  # noqa: E402
from regrun.problems.ct_fewview import CTFewView, fan_half_width  # noqa: E402
from regrun.record import load  # noqa: E402
from regrun.tomography.geometry import covering_detector  # noqa: E402


def parse(case: str):
    conv, obj, n, *rest = case.split(":")
    keys = dict(kv.split("=") for kv in rest)
    return conv, obj, int(n), keys


def astra_fan(img: np.ndarray, theta: np.ndarray, bins: int, so: float, od: float) -> np.ndarray:
    """ASTRA fanflat of an n x n image of unit pixels, projected from a grid 2x finer (bins of the magnified voxel)."""
    import astra

    n = img.shape[0]
    fine = np.kron(img, np.ones((2, 2)))
    vol = astra.create_vol_geom(2 * n, 2 * n, -n / 2, n / 2, -n / 2, n / 2)
    proj = astra.create_proj_geom("fanflat", (so + od) / so, bins, theta, so * n, od * n)
    return cg.astra_project(fine, vol, proj, "line_fanflat")


def make(conv: str, obj: str, n: int, keys: dict, seed: int):
    """(noisy sinogram, truth, config extras)."""
    views, photons = int(keys.get("views", 60)), float(keys.get("photons", 1e5))
    so, od = float(keys.get("so", 2.0)), float(keys.get("od", 1.0))
    rng = np.random.default_rng([seed, n, views, int(photons)])
    if conv == "fan":
        sino, _, truth = hs.make(obj, n, views, photons, seed, 2, "fan")
        return sino, truth, {"geometry": "fan"}
    if conv == "cone":
        sl = int(keys.get("sl", n))
        p = CTFewView(config_section("problem", "ct_fewview", geometry="cone", size=n, slices=sl, views=views,
                                     noise="poisson", photons=photons, data_seed=seed, oversample=2),
                      RunContext(torch.device("cpu"), torch.float64, 0, Path(".")))
        return p.sinogram.numpy(), p.phantom.numpy(), {"geometry": "cone"}
    if conv.startswith("par-"):  # a parallel file, made as ct_grid_conventions makes it
        photons_were, cg.PHOTONS = cg.PHOTONS, photons
        try:
            sino, truth, _, extra = cg.make_file(conv[4:], obj, n, views, seed)
        finally:
            cg.PHOTONS = photons_were
        return sino, truth, extra
    truth = cg.truth_image(obj, n, seed, conv)
    theta = np.arange(views) * 2 * math.pi / views
    if conv == "astrafan":
        bins = covering_detector((n, n), 1.0, so * n, od * n)[0][0]
    elif conv == "astradisk":
        bins = int(math.ceil(2 * fan_half_width(n / 2, so * n, od * n) / ((so + od) / so)))
    elif conv == "astraN":
        bins = n
    else:
        raise ValueError(conv)
    clean = astra_fan(truth, theta, bins, so, od)
    extra = {"geometry": "fan"}
    if "so" in keys or "od" in keys:
        extra.update(source_origin=so, origin_detector=od)
    return hs.poisson(np.maximum(clean, 0.0), photons, rng), truth, extra


def run(path: Path, extra: dict, size: int | None, out: Path, repo: Path, more: list[str] = ()) -> dict:
    """The README's command on a file with the regrun package at `repo` (PYTHONPATH), threads pinned; `more`:
    further overrides (a typed weight)."""
    args = [sys.executable, "-m", "regrun.cli", "problem=ct_fewview", "problem.data=file",
            f"problem.sinogram={path}", "solver=fista_tv", f"hydra.run.dir={out}", *more]
    args += [f"problem.{k}={v}" for k, v in extra.items()]
    if size is not None:
        args.append(f"problem.size={size}")
    if not (out / "metrics.json").exists():  # a run already made is read again, not rerun
        env = {**os.environ, "PYTHONPATH": str(repo.resolve())}
        res = subprocess.run(args, capture_output=True, text=True, env=env, cwd=repo)  # -m imports from the cwd
        if res.returncode != 0:
            return {"error": (res.stdout + res.stderr).strip().splitlines()[-1]}
    rec, metrics = load(out), json.loads((out / "metrics.json").read_text())
    log = (out / "regrun.log").read_text()
    return {"x": np.asarray(rec["result"]["reconstruction"]), "grid_from": str(rec["data"]["grid_from"]),
            "lam": metrics["metrics"].get("lam_chosen", float("nan")), "cpu_s": sum(metrics["phases_cpu_s"].values()),
            "wall_s": metrics["wall_time_s"],
            "said": [line.split(" ", 1)[1] for line in log.splitlines() if "regrun: problem.size=" in line]}


def psnr_cone(x: np.ndarray, truth: np.ndarray) -> float:
    """x on any n x n x s grid against the truth on its N x N x S grid (same voxel, same centre), inside the N
    grid's 0.95 disk on every slice; x resampled trilinearly, 0 where its grid does not reach."""
    c = [np.arange(t) - (t - 1) / 2 for t in truth.shape]
    g = np.meshgrid(*[ci + (m - 1) / 2 for ci, m in zip(c, x.shape)], indexing="ij")
    y = ndimage.map_coordinates(x, g, order=1, cval=0.0)
    mask = np.broadcast_to((c[0][:, None] ** 2 + c[1][None, :] ** 2 < (0.95 * truth.shape[0] / 2) ** 2)[..., None],
                           truth.shape)
    from regrun.metrics import psnr

    return psnr(y[mask], truth[mask])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--main", type=Path, required=True, help="the main checkout, for main's run with no size")
    ap.add_argument("--cases", nargs="+", required=True)
    ap.add_argument("--skip-same", action="store_true",
                    help="a run on the grid an earlier run of the case took is that run's (the same code), not rerun")
    ap.add_argument("--set", nargs="*", default=[], dest="more",
                    help="KEY=VALUE overrides for this tree's runs (not main's): an opt-in setting")
    ap.add_argument("--lam-factors", type=float, nargs="*", default=[],
                    help="each run again at these multiples of its chosen lambda: the grid optimum about it")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).resolve().parent.parent
    rows = []
    for k, case in enumerate(a.cases):
        conv, obj, n, keys = parse(case)
        seed = a.seed + k
        stem = f"{seed}_{conv}_{obj}_{n}".replace("@", "at")
        path = a.out / f"{stem}.npy"
        if not path.exists():
            sino, truth, extra = make(conv, obj, n, keys, seed)
            np.save(path, sino)
            np.save(a.out / f"{stem}_truth.npy", truth)
            (a.out / f"{stem}_extra.json").write_text(json.dumps(extra))
        truth = np.load(a.out / f"{stem}_truth.npy")
        extra = json.loads((a.out / f"{stem}_extra.json").read_text())
        row = {"case": case, "seed": seed, "bins": list(np.load(path, mmap_mode="r").shape[1:])}
        for tag, size, repo in (("main", None, a.main), ("none", None, here), ("typed", n, here)):
            if conv == "cone" and size is not None:
                extra_t = {**extra, "slices": truth.shape[2]}
            else:
                extra_t = extra
            if a.skip_same and tag != "main":
                # the same grid runs the same code (only the grid's choice differs): its run is not repeated
                read_as = {**extra_t, **{k.split(".", 1)[1]: v for k, v in (m.split("=", 1) for m in a.more)
                                         if k.startswith("problem.")}}
                grid = n if size is not None else cg.read(path, read_as, None)[0].shape[0]
                # main's run is this tree's only where no setting of this tree's is typed
                same = [t for t in row if t in (("none",) if a.more else ("main", "none"))
                        and row[t].get("grid", [None])[0] == grid]
                if same:
                    row[tag] = {**row[same[0]], "same_as": same[0]}
                    continue
            more = list(a.more) if tag != "main" else []
            r = run(path, extra_t, size, a.out / f"run_{stem}_{tag}", repo, more)
            if "error" in r:
                row[tag] = {"error": r["error"]}
                continue
            score = psnr_cone(r["x"], truth) if conv == "cone" else cg.psnr_in_frame(r["x"], truth)
            row[tag] = {"grid": list(r["x"].shape), "grid_from": r["grid_from"], "said": r["said"], "psnr_N": score,
                        "lam": r["lam"], "cpu_s": r["cpu_s"], "wall_s": r["wall_s"]}
            for f in a.lam_factors:  # the grid optimum about the chosen weight: the same command at f times its lambda
                o = run(path, {**extra_t, **({} if size is None else {"size": size})}, None,
                        a.out / f"run_{stem}_{tag}_x{f:g}", repo, [*more, f"solver.lam={f * r['lam']!r}"])
                if "error" not in o:
                    row[tag].setdefault("lam_grid", {})[f"{f:g}"] = cg.psnr_in_frame(o["x"], truth)
            if a.lam_factors:
                row[tag]["optimum"] = max([score, *row[tag].get("lam_grid", {}).values()])
        rows.append(row)
        print(json.dumps(row), flush=True)
    (a.out / "rows.json").write_text(json.dumps(rows, indent=1))
    print("| case (seed) | bins | main: grid, PSNR in N, λ | now: grid, PSNR in N, λ | typed N: PSNR, λ | CPU-s "
          "(main / now / typed) |")
    for r in rows:
        cells = []
        for tag in ("main", "none", "typed"):
            v = r[tag]
            if "error" in v:
                cells.append(f"error: {v['error'][:80]}")
            elif tag == "typed":
                cells.append(f"{v['psnr_N']:.2f}, {v['lam']:.4g}")
            else:
                cells.append(f"{'x'.join(map(str, v['grid']))}, {v['psnr_N']:.2f}, {v['lam']:.4g}")
        cpu = " / ".join(f"{r[t].get('cpu_s', float('nan')):.1f}" for t in ("main", "none", "typed"))
        print(f"| {r['case']} ({r['seed']}) | {'x'.join(map(str, r['bins']))} | {' | '.join(cells)} | {cpu} |")


if __name__ == "__main__":
    main()
