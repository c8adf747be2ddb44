"""Photo pairs of ux6's `pair_photo` family and its neighbours (regpair, docs/registration.md, "A turned colour photo
against a grey crop"): each pair registered once by regrun's CLI as a user runs it, and by SimpleITK on the same
files; one JSON row per pair.

    python scripts/regpair_pairs.py --repo PATH --work DIR [--seeds 18101 ...] [--no-sitk]

A pair (seed s, numpy/Pillow/scikit-image only): a scikit-image photo; a reference crop W_R x H_R and a template
crop W_T x H_T of it, the template turned by phi (10-60 degrees, either sign) and scaled by s (0.9-1.15) about its
centre, its centre shifted from the reference's by up to 12% of the reference's size (so the template need not
cover the reference: partial overlap as in ux6's pair); one image grey (the mean of R, G, B, as ux6's reference),
the other colour or grey; the template's intensities x gain + offset. Seeds 18101-18110 are regpair's held-out batch
(seen since regpair2), 19101-19113 regpair2's (`--seeds` default; EXTRA: a larger turn, a ~300 px pair, a grey FAIR
slice); ux6's pair is `--ux6` (its make_pair at seed 73129), seed 18052 `--ux6 18052`.

Judged as ux6 judges `pair_photo`: RMS over the reference's pixel centres of |y(x) - y_true(x)|, in template
pixels, y mapping the reference's pixels (x1 from the left, x2 from the bottom) to the template's.
regrun: `problem.data=files problem.template=T.png problem.reference=R.png problem.resize=128` (+ --extra);
its CPU is the child process's user + sys. SimpleITK (scripts/bench_simpleitk.py's set-up: MeanSquares, B-spline,
shrink 4-2-1, smoothing 2-1-0 px, regular-step descent, physical-shift scales, one thread) on both images read by
regrun's read_image at their own sizes (unit spacing, FAIR's layout), three recipes a user would try: the four
quarter turns about the reference's centre with the centres matched (CenteredTransformInitializer's GEOMETRY),
lowest metric kept (`sitk4`); the MOMENTS initializer (`sitk_mom`); Mattes MI from the four quarter turns
(`sitk4_mi`).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ux6_heldout import make_pair, photo, rms_error, warp_rgb  # noqa: E402  (scripts/ux6_heldout.py)

HELD_OUT = list(range(18101, 18111))
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "camera"]
# regpair2's held-out batch (docs/registration.md, "Coarse ends that collapse"): draw at 19101-19110, and three pairs of
# kinds draw does not make, at the seeds of EXTRA: a turn of 60-120 degrees, a ~300 px reference, a grey FAIR slice.
HELD_OUT2 = list(range(19101, 19114))
EXTRA = {19111: "turn", 19112: "large", 19113: "fair"}
# ../shared/fair_data beside the checkout or above it (a worktree one level deeper), as bench_lambda_sr.py finds it
FAIR_DIR = next((d / "shared" / "fair_data" for d in Path(__file__).resolve().parents[1:]
                 if (d / "shared" / "fair_data").is_dir()), Path(__file__).resolve().parents[1] / ".." / "shared" / "fair_data")


def draw(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    name = PHOTOS[seed % len(PHOTOS)] if seed >= 18101 else str(rng.choice(PHOTOS))
    wr, hr = int(rng.integers(120, 200)), int(rng.integers(100, 170))
    wt, ht = int(wr * rng.uniform(0.9, 1.3)), int(hr * rng.uniform(0.9, 1.3))
    phi = float(rng.uniform(10, 60) * rng.choice([-1, 1]))
    scale = float(rng.uniform(0.9, 1.15))
    shift = (rng.uniform(-0.12, 0.12, 2) * (wr, hr)).tolist()
    colour = str(rng.choice(["template", "reference", "both"]))  # which image keeps its colour
    gain, offset = float(rng.uniform(0.6, 1.3)), float(rng.uniform(-20, 40))
    spec = dict(seed=seed, photo=name, ref=(wr, hr), tmpl=(wt, ht), phi=phi, scale=scale, shift=shift,
                colour=colour, gain=gain, offset=offset, u=rng.uniform(0, 1, 2).tolist())
    kind = EXTRA.get(seed)
    if kind:  # a second stream, so the draw's own numbers above stay those of the plain draw at this seed
        rng2 = np.random.default_rng([seed, 2])
        if kind == "turn":
            spec["phi"] = float(rng2.uniform(60, 120) * rng2.choice([-1, 1]))
        elif kind == "large":  # the 512 x 512 photos hold a turned 330 px footprint
            spec["photo"] = str(rng2.choice(["astronaut", "immunohistochemistry", "camera"]))
            wr, hr = int(rng2.integers(280, 321)), int(rng2.integers(200, 261))
            spec["ref"], spec["tmpl"] = (wr, hr), (int(wr * rng2.uniform(0.9, 1.1)), int(hr * rng2.uniform(0.9, 1.1)))
        elif kind == "fair":  # an MRI slice (256 x 256), both images grey
            spec["photo"], spec["colour"] = "fair:EPIslice-R.jpg", "none"
            wr, hr = int(rng2.integers(100, 131)), int(rng2.integers(90, 121))
            spec["ref"], spec["tmpl"] = (wr, hr), (int(wr * rng2.uniform(0.9, 1.1)), int(hr * rng2.uniform(0.9, 1.1)))
            spec["shift"] = (rng2.uniform(-0.12, 0.12, 2) * (wr, hr)).tolist()
    return spec


def make(spec: dict, folder: Path) -> dict:
    """Writes T.png and R.png; returns the truth y = A x + b (reference px -> template px, FAIR's layout)."""
    from PIL import Image
    if spec["photo"].startswith("fair:"):
        src = np.asarray(Image.open(FAIR_DIR / spec["photo"][5:]).convert("L"), dtype=float)
    else:
        src = photo(spec["photo"])
    if src.ndim == 2:
        src = np.repeat(src[..., None], 3, -1)
    hs, ws = src.shape[:2]
    (wr, hr), (wt, ht) = spec["ref"], spec["tmpl"]
    phi, s = np.radians(spec["phi"]), spec["scale"]
    M = s * np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    reach = 0.5 * s * np.hypot(wt, ht) + 8  # the template's footprint stays inside the photo
    lo, hi = np.array([reach, reach]), np.array([ws - reach, hs - reach])
    c_r = lo + np.array(spec["u"]) * np.maximum(hi - lo, 0)
    c_t = c_r + np.array(spec["shift"])
    cr_loc, ct_loc = np.array([wr, hr]) / 2, np.array([wt, ht]) / 2
    # reference x -> photo x - cr_loc + c_r; template u -> photo M (u - ct_loc) + c_t
    A = np.linalg.inv(M)
    b = A @ (c_r - c_t - cr_loc) + ct_loc

    def sample(w, h, lin, off):
        x1, x2 = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5, indexing="xy")
        x2 = h - x2
        p1 = lin[0, 0] * x1 + lin[0, 1] * x2 + off[0]
        p2 = lin[1, 0] * x1 + lin[1, 1] * x2 + off[1]
        return warp_rgb(src, hs - 0.5 - p2, p1 - 0.5)

    ref = sample(wr, hr, np.eye(2), c_r - cr_loc)
    tmpl = spec["gain"] * sample(wt, ht, M, c_t - M @ ct_loc) + spec["offset"]
    if spec["colour"] == "template":
        ref = ref.mean(-1)
    elif spec["colour"] == "reference":
        tmpl = tmpl.mean(-1)
    elif spec["colour"] == "none":
        ref, tmpl = ref.mean(-1), tmpl.mean(-1)
    for arr, name in ((ref, "R.png"), (tmpl, "T.png")):
        Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8)).save(folder / name)
    return {"A": A, "b": b, "ref_size": (wr, hr)}


def run_regrun(repo: Path, folder: Path, extra: list[str]) -> dict:
    import h5py
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    run_dir = folder / "run"
    cmd = [sys.executable, "-c", "from regrun.cli import main; main()", "problem.data=files",
           f"problem.template={folder}/T.png", f"problem.reference={folder}/R.png", "problem.resize=128", *extra,
           f"hydra.run.dir={run_dir}"]
    t0, c0 = time.perf_counter(), os.times()
    p = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=1800)
    c1 = os.times()
    out = {"exit": p.returncode, "wall_s": round(time.perf_counter() - t0, 1),
           "cpu_s": round(c1.children_user + c1.children_system - c0.children_user - c0.children_system, 1)}
    if p.returncode:
        out["stderr"] = p.stderr.strip().splitlines()[-1:]
        return out
    with h5py.File(run_dir / "results.h5") as f:
        out["w_affine"] = np.asarray(f["result/w_affine"]).tolist()
        out["fit_quality"] = round(float(f["metrics"]["fit_quality"][()]), 3)
        out["warned"] = "poor fit" in str(f.attrs.get("message", ""))
    return out


def run_sitk(folder: Path) -> dict:
    import SimpleITK as sitk
    from regrun.imaging.grid import Grid
    from regrun.imaging.io import read_image
    from regrun.registration.sitk_peer import ITERATIONS, SHRINK, SIGMAS, _method, affine_parameters, to_sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    images = {}
    for which in ("T", "R"):
        arr = read_image(folder / f"{which}.png")
        images[which] = to_sitk(arr, Grid((0.0, float(arr.shape[0]), 0.0, float(arr.shape[1])), arr.shape))
    fixed, moving = images["R"], images["T"]
    c_r = np.array(fixed.GetSize()) / 2.0
    c_t = np.array(moving.GetSize()) / 2.0
    out = {}

    def execute(init, metric):
        reg = _method(ITERATIONS, list(SHRINK), list(SIGMAS), init, 1, metric)
        res = reg.Execute(fixed, moving)
        return reg.GetMetricValue(), affine_parameters(res)

    for key, metric in (("sitk4", "mean_squares"), ("sitk4_mi", "mattes")):
        cpu, best = time.process_time(), None
        for k in range(4):
            init = sitk.AffineTransform(2)
            init.SetCenter(tuple(c_r))
            co, si = (1.0, 0.0, -1.0, 0.0)[k], (0.0, 1.0, 0.0, -1.0)[k]
            init.SetMatrix((co, -si, si, co))
            init.SetTranslation(tuple(c_t - c_r))
            val, w = execute(init, metric)
            if best is None or val < best[0]:
                best = (val, w)
        out[key] = {"w_affine": best[1].tolist(), "cpu_s": round(time.process_time() - cpu, 2)}
    cpu = time.process_time()
    init = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(2),
                                             sitk.CenteredTransformInitializerFilter.MOMENTS)
    out["sitk_mom"] = {"w_affine": execute(init, "mean_squares")[1].tolist(),
                       "cpu_s": round(time.process_time() - cpu, 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--seeds", type=int, nargs="*", default=HELD_OUT2)
    ap.add_argument("--ux6", type=int, nargs="*", default=[], help="ux6's make_pair at these seeds (73129: its pair)")
    ap.add_argument("--no-sitk", action="store_true")
    ap.add_argument("--extra", nargs="*", default=[], help="more regrun overrides")
    a = ap.parse_args()
    work = a.work.resolve()
    jobs = [("ux6", s) for s in a.ux6] + [("draw", s) for s in a.seeds]
    for kind, seed in jobs:
        folder = work / f"{kind}_{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "ux6":
            truth = make_pair(folder, np.random.default_rng(seed))
            (folder / "T.png").write_bytes((folder / "T_colour.png").read_bytes())
            (folder / "R.png").write_bytes((folder / "R_grey.png").read_bytes())
            row = {"pair": f"ux6 {seed}"}
        else:
            spec = draw(seed)
            truth = make(spec, folder)
            row = {"pair": f"{seed} {spec['photo']} {spec['phi']:+.0f}deg x{spec['scale']:.2f} "
                           f"R{spec['ref'][0]}x{spec['ref'][1]} T{spec['tmpl'][0]}x{spec['tmpl'][1]} "
                           f"colour:{spec['colour']} x{spec['gain']:.2f}{spec['offset']:+.0f}"}
        r = run_regrun(a.repo.resolve(), folder, a.extra)
        if "w_affine" in r:
            r["rms_px"] = round(rms_error(r.pop("w_affine"), truth), 4)
        row["regrun"] = r
        if not a.no_sitk:
            for key, v in run_sitk(folder).items():
                row[key] = {"rms_px": round(rms_error(v["w_affine"], truth), 4), "cpu_s": v["cpu_s"]}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
