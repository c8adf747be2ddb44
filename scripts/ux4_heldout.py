"""Held-out batch of the fourth new-user pass (issue 19, ux4): the four things the third pass left, each run once
through the CLI of the code at --repo; prints one JSON row per case (docs/sweeps.md, "Fourth new-user pass").

    python scripts/ux4_heldout.py --repo PATH --work DIR

Cases (data made here from seed 50923, never used before; nothing is tuned on them):
- sino_npy: a scikit-image `radon` sinogram (circle=True) of random ellipses 56 x 56, 41 views over 180 degrees,
  saved (views, n_u) as .npy, run with problem.size=56, angle_start=90 and its truth, problem.views not typed;
- sino_h5: the same object, 33 views at uneven angles (radon's degrees + jitter up to 1.5 degrees) in an .h5 with
  datasets `sinogram` and `angles`, views not typed; sino_h5_typed: the same with problem.views=50 (an error);
- sino_npz_bad: an .npz whose `angles` (34) disagree with its sinogram's 33 views (an error);
- sweep_eta: `-m solver.optimizer=lm,BAD,trust_exact` on the synthetic pair: the ETA printed after the failed job
  against the time the last job then took;
- pair_resize: a smooth random scene seen as a reference 120 wide x 100 tall and a template 90 x 110 under a known
  affine (turn 17 degrees, scales 0.93/1.06, shift), 8-bit PNGs, `problem.resize=64`: w_affine against the truth,
  as the RMS over the reference's pixel centres of |y(x) - y_true(x)| in template pixels.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ux6_heldout import affine_fields, pass_arguments  # noqa: E402  (one measure and command line for every pass)

SEED = 50923


def ellipses(rng, n):
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) / n * 2 - 1
    img = np.zeros((n, n))
    for _ in range(6):
        cx, cy = rng.uniform(-0.4, 0.4, 2)
        a, b = rng.uniform(0.08, 0.3, 2)
        t = rng.uniform(0, math.pi)
        u = (xx - cx) * math.cos(t) + (yy - cy) * math.sin(t)
        v = -(xx - cx) * math.sin(t) + (yy - cy) * math.cos(t)
        img += rng.uniform(0.2, 1.0) * ((u / a) ** 2 + (v / b) ** 2 < 1)
    return img * ((xx**2 + yy**2) < 0.9)


def scene(rng):
    """A smooth random function of FAIR coordinates (x1 from the left, x2 from the bottom, in pixels)."""
    blobs = [(rng.uniform(-20, 170), rng.uniform(-20, 170), rng.uniform(6, 18), rng.uniform(0.3, 1.0))
             for _ in range(40)]

    def f(x1, x2):
        out = np.zeros_like(x1)
        for c1, c2, s, a in blobs:
            out += a * np.exp(-((x1 - c1) ** 2 + (x2 - c2) ** 2) / (2 * s * s))
        return out
    return f


def to_image(fair):
    """FAIR layout [x1, x2 from the bottom] -> image rows from the top."""
    return np.flipud(fair.T)


def make_data(work: Path) -> dict:
    from PIL import Image
    from skimage.transform import radon
    import h5py

    rng = np.random.default_rng(SEED)
    img = ellipses(rng, 56)
    np.save(work / "truth56.npy", img)
    theta = np.linspace(0, 180, 41, endpoint=False)
    np.save(work / "sino41.npy", radon(img, theta, circle=True).T)
    uneven = np.sort(np.linspace(0, 180, 33, endpoint=False) + rng.uniform(-1.5, 1.5, 33))
    sino33 = radon(img, uneven, circle=True).T
    with h5py.File(work / "sino33.h5", "w") as f:
        f["sinogram"], f["angles"] = sino33, uneven
    np.savez(work / "sino33_bad.npz", sinogram=sino33, angles=np.linspace(0, 180, 34, endpoint=False))
    # the pair: y = A x + b maps reference pixels (x1, x2) to template pixels
    f = scene(rng)
    phi = math.radians(17.0)
    A = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]]) @ np.diag([0.93, 1.06])
    b = np.array([12.0, -4.0])
    wr, hr, wt, ht = 120, 100, 90, 110
    x1, x2 = np.meshgrid(np.arange(wr) + 0.5, np.arange(hr) + 0.5, indexing="ij")
    ref = f(x1, x2)
    y1, y2 = np.meshgrid(np.arange(wt) + 0.5, np.arange(ht) + 0.5, indexing="ij")
    inv = np.linalg.inv(A)
    u1 = inv[0, 0] * (y1 - b[0]) + inv[0, 1] * (y2 - b[1])
    u2 = inv[1, 0] * (y1 - b[0]) + inv[1, 1] * (y2 - b[1])
    tmpl = f(u1, u2)
    top = max(ref.max(), tmpl.max())
    Image.fromarray((250 * to_image(ref) / top).round().astype(np.uint8)).save(work / "R120x100.png")
    Image.fromarray((250 * to_image(tmpl) / top).round().astype(np.uint8)).save(work / "T90x110.png")
    return {"A": A, "b": b, "ref_size": (wr, hr)}


CASES = [
    ("sino_npy", "problem=ct_fewview problem.data=file problem.sinogram={w}/sino41.npy problem.size=56 "
                 "problem.angle_start=90 problem.truth_file={w}/truth56.npy solver=fbp"),
    ("sino_h5", "problem=ct_fewview problem.data=file problem.sinogram={w}/sino33.h5 problem.size=56 "
                "problem.angle_start=90 problem.truth_file={w}/truth56.npy solver=fbp"),
    ("sino_h5_typed", "problem=ct_fewview problem.data=file problem.sinogram={w}/sino33.h5 problem.size=56 "
                      "problem.angle_start=90 problem.views=50 solver=fbp"),
    ("sino_npz_bad", "problem=ct_fewview problem.data=file problem.sinogram={w}/sino33_bad.npz problem.size=56 "
                     "problem.angle_start=90 solver=fbp"),
    ("sweep_eta", "-m problem.synthetic.size=32 solver.optimizer=lm,BAD,trust_exact"),
    ("pair_resize", "problem.data=files problem.template={w}/T90x110.png problem.reference={w}/R120x100.png "
                    "problem.resize=64"),
]


def run_case(repo: Path, work: Path, name: str, args: str, truth: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-c", "from regrun.cli import main; main()", *args.format(w=work).split(),
           f"hydra.run.dir={work}/runs/{name}", f"hydra.sweep.dir={work}/runs/{name}"]
    t0, c0 = time.perf_counter(), os.times()
    p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    c1 = os.times()
    err = [line for line in p.stderr.splitlines() if line.strip()]
    row = {"case": name, "exit": p.returncode, "wall_s": round(time.perf_counter() - t0, 1),
           "cpu_s": round(c1.children_user + c1.children_system - c0.children_user - c0.children_system, 1),
           "traceback": "Traceback" in p.stderr,
           "last_err": (err[-1] if err else "")[:200]}
    folder = work / "runs" / name
    if name.startswith("sino") and (folder / "regrun.log").exists():
        log = (folder / "regrun.log").read_text()
        row["views_lines"] = [line.strip()[:200] for line in log.splitlines() if "view" in line][:3]
        if (folder / "metrics.json").exists():
            m = json.loads((folder / "metrics.json").read_text())
            row["psnr"] = m.get("metrics", m).get("psnr")
    if name == "sweep_eta":
        row["eta_lines"] = [line for line in p.stdout.splitlines() if "jobs run" in line]
        import h5py
        times = {}
        for res in sorted(folder.glob("*/results.h5")):
            with h5py.File(res) as f:
                times[res.parent.name] = (str(f.attrs["status"]), round(float(f.attrs.get("wall_time", -1)), 2))
        row["job_wall"] = times
    if name == "pair_resize" and (folder / "results.h5").exists():
        import h5py
        with h5py.File(folder / "results.h5") as f:
            w = np.asarray(f["result/w_affine"])
            row["status"] = str(f.attrs["status"])
        row.update(affine_fields(w, truth))
    return row


def main() -> None:
    a = pass_arguments(__doc__).parse_args()
    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    truth = make_data(work)
    for name, args in CASES:
        if not a.only or name in a.only:
            print(json.dumps(run_case(a.repo.resolve(), work, name, args, truth)), flush=True)


if __name__ == "__main__":
    main()
