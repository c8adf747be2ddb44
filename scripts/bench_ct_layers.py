"""Where FISTA-TV's error exceeds the SIRT+TV oracle peer's on objects of thin layers (docs/ct.md, "Fifteenth
round"): each at its best weight (the truth's PSNR, an oracle for both), the error's energy split

- by spatial frequency (|FFT of the error inside the mask|^2 in rings of |omega|, cycles per pixel): TV that removes
  a layer stack loses its pitch's frequency (1 / 3-4.5 px for `battery`); an error at low frequency is something
  else (the mass, the can);
- by the direction of the layers' normal against the pixel axes (the object's radial direction from the centre,
  folded to [0, 45] degrees from the nearest axis; inside the roll only): the isotropic forward-difference TV
  charges an edge by its direction (Condat 2017), so an anisotropy shows as an excess growing towards 45 degrees.

Also the variant `--ramp`: FISTA-TV with the ramp-weighted data term (1/2 r^T R r; diag_lambda_cv_peer.py's
`ramp`): the plain least squares weights the image's spectrum by 1/|omega| (the projection-slice theorem), so a
layer stack's high frequencies cost little data misfit when TV removes them; the ramp makes the data term flat in
image frequency as the peer's TV denoising of the SIRT image is.

    python scripts/bench_ct_layers.py outputs/heldout_ct_3901/battery_160_90_1e+04.npz --lam0 3.16 --ramp
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lambda_ct import case_from_file, sirt_tv_best  # noqa: E402
from diag_lambda_cv_peer import best_psnr, fista_variant  # noqa: E402

PEER_WEIGHTS = [0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.24, 0.32]


def spectrum_rings(e: np.ndarray, edges) -> list[float]:
    """|FFT(e)|^2 / n^2 summed in rings of |omega| (cycles per pixel) between consecutive edges: Parseval's
    split of ||e||^2 by frequency."""
    n = e.shape[0]
    f = np.fft.fftfreq(n)
    w = np.hypot(f[:, None], f[None, :])
    p = np.abs(np.fft.fft2(e)) ** 2 / e.size
    return [float(p[(w >= a) & (w < b)].sum()) for a, b in zip(edges[:-1], edges[1:])]


def direction_bins(e: np.ndarray, region: np.ndarray, edges_deg) -> list[float]:
    """||e||^2 inside `region` by the radial direction's angle from the nearest pixel axis (0-45 degrees)."""
    n = e.shape[0]
    c = np.arange(n) + 0.5 - n / 2
    phi = np.degrees(np.arctan2(c[None, :], c[:, None])) % 90.0
    phi = np.minimum(phi, 90.0 - phi)
    return [float((e[region & (phi >= a) & (phi < b)] ** 2).sum()) for a, b in zip(edges_deg[:-1], edges_deg[1:])]


def run(path: Path, lam0: float, ramp: bool) -> dict:
    p, (name, size, views, photons) = case_from_file(path)
    truth = p.truth.numpy()
    mask = p.mask.to(torch.float64)
    n = truth.shape[0]
    c = np.arange(n) + 0.5 - n / 2
    rho = np.hypot(c[:, None], c[None, :])
    roll = (rho > 0.15 * n / 2) & (rho < 0.75 * n / 2)  # inside the electrode roll, away from the pin and the can
    f_edges = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.5, 0.75]
    d_edges = [0, 11.25, 22.5, 33.75, 45.01]
    out = {"case": path.name, "freq_edges": f_edges, "dir_edges": d_edges, "images": {}}
    c0 = time.process_time()
    q, w, im = sirt_tv_best(p, 300, PEER_WEIGHTS)
    out["images"]["peer"] = {"psnr": q, "weight": w, "cpu_s": time.process_time() - c0, "x": im.numpy()}
    specs = {"fista_tv": "140,5,none,ls"}
    if ramp:
        specs["fista_tv_ramp"] = "140,5,none,ramp"
    L0 = fista_variant(p, "1,1,none,ls").L
    for label, spec in specs.items():
        c0 = time.process_time()
        solve = fista_variant(p, spec)
        lam, psnr, _ = best_psnr(p, solve, lam0 * solve.L / L0)
        with torch.no_grad():
            x = (solve(lam) * mask).numpy()
        out["images"][label] = {"psnr": psnr, "lam": lam, "cpu_s": time.process_time() - c0, "x": x}
    for label, r in out["images"].items():
        e = (r.pop("x") - truth) * mask.numpy()
        r["error2"] = float((e**2).sum())
        r["freq"] = spectrum_rings(e, f_edges)
        r["dir"] = direction_bins(e, roll, d_edges)
        print(f"{path.name} {label}: PSNR {r['psnr']:.2f}, |e|^2 {r['error2']:.2f}; by |omega| "
              + " ".join(f"{v:.2f}" for v in r["freq"]) + "; roll by direction " + " ".join(f"{v:.2f}" for v in r["dir"]),
              flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", type=Path, nargs="+")
    ap.add_argument("--lam0", type=float, nargs="+", required=True, help="one per case: FISTA-TV's grid optimum")
    ap.add_argument("--ramp", action="store_true", help="also FISTA-TV with the ramp-weighted data term")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/ct_layers.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    res = [run(path, lam0, args.ramp) for path, lam0 in zip(args.cases, args.lam0)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
