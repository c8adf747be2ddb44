"""Why an oracle-tuned peer (SIRT then TV denoising) beats FISTA-TV's own grid optimum (docs/ct.md, "Tenth round"):
FISTA-TV's best PSNR over lambda (the truth's, an oracle like the peer's) for variants of the solver on the same
sinogram, each a comma list ITERS,INNER,RESTART,DATA[,WARM]:

- ITERS FISTA iterations (the solver's 140), INNER prox iterations per step (its 5), RESTART none | gradient
  (O'Donoghue-Candes: FISTA's limit sooner), DATA ls (the solver's plain least squares) | pwls (each bin weighted
  by its Poisson counts exp(-kappa b), kappa from the file's 5 % floor: an oracle statistical weight) | rows
  (SIRT's weight, 1 / the ray's length in the image) | fineK (the image on a grid K times finer, its cell average
  judged) | finecoarseK (the control: the same fine unknown seen through its cell average by the pixel-grid
  projector) | ridgeC (ls + beta/2 ||x||^2, beta = C L) | ramp (1/2 r^T R r, R the Ram-Lak filter along the detector),
  WARM 0 | 1
  (the prox's dual carried from one FISTA step to the next instead of restarting at zero);
- or reg,REG,ITERS,INNER[,GRID]: FISTA with the regulariser REG tv (the solver's own: its cold TV prox) | tgv
  (second-order TGV, alpha0 = 2 alpha1 = 2 lam) | tv2 (the isotropic TV on the axes and on the diagonals,
  averaged) (regrun.optim.tgv_prox: INNER warm-started primal-dual iterations per step), ITERS iterations, the
  unknown on the grid GRID times finer (solver.tv_grid's, lam in its units; 1 if not given) (docs/ct.md
  "(cttgv)").

Per case and variant: a 7-point log grid over [lam0/8, 8 lam0] (extended x2 at a time while
its best is at an end) (lam0 the solver's grid optimum at its defaults,
--lam0, 1 if not given, times the variant's L over the solver's) and 3 golden-section steps on the PSNR; the best PSNR, its lambda, the CPU seconds; the
peer's PSNR (scripts/bench_lambda_ct.py's SIRT+TV oracle) beside.

    python scripts/diag_lambda_cv_peer.py outputs/heldout_ct_3501/bone_96_30_1e+03.npz \
        --variants 140,5,none,ls 560,5,none,ls 140,50,none,ls 2000,20,gradient,ls --out outputs/bench/peer.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def fista_variant(p, spec: str):
    """A FISTA-TV solve(lam) for one variant of the solver on problem p."""
    from regrun.config import config_section
    from regrun.optim.fista import Fista, power_method
    from regrun.tomography.fista_tv import make_fista

    if spec.startswith("reg,"):
        return regularizer_variant(p, spec)
    it, inner, restart, data, *rest = spec.split(",")
    warm = bool(int(rest[0])) if rest else False
    cfg = config_section("solver", "fista_tv", lam=1.0, inner_iters=int(inner))
    A, b, mask = p.A, p.sinogram, p.mask.to(p.sinogram.dtype)
    if data.startswith("fine"):  # the unknown on a grid `factor` times finer (the same detector and orbit), its
        # cell average the answer: the pixel model's discretization taken out of the comparison
        from regrun.tomography.xray import XRayTransform

        k = int(data.lstrip("finecoars"))
        fmask = mask.repeat_interleave(k, 0).repeat_interleave(k, 1)
        if data.startswith("finecoarse"):  # the control: the fine unknown seen only through its cell average by
            # the pixel-grid projector (the data model unchanged; only TV and the answer on the finer grid)
            avg = lambda x: x.unflatten(0, (-1, k)).mean(1).unflatten(1, (-1, k)).mean(2)
            up = lambda y: y.repeat_interleave(k, 0).repeat_interleave(k, 1) / (k * k)

            class op:  # noqa: N801  (a stand-in with the projector's two methods)
                project = staticmethod(lambda x: A.project(avg(x)))
                backproject = staticmethod(lambda r: up(A.backproject(r)))
        else:
            op = XRayTransform(p._fine(p.geometry, k), cache_mb=0)
        ones = torch.ones(fmask.shape, dtype=b.dtype)
        L = power_method(lambda x: fmask * op.backproject(op.project(x)), ones, int(cfg.power_iters))
        prox = make_fista(p, cfg, L).prox
        f = Fista(op.project, op.backproject, b, tuple(fmask.shape), prox, int(inner), mask=fmask, lipschitz=L,
                  restart=restart)

        def solve_fine(lam):
            with torch.no_grad():
                x = f.solve(torch.tensor(float(lam), dtype=b.dtype), int(it))
            return x.unflatten(0, (-1, k)).mean(1).unflatten(1, (-1, k)).mean(2)
        solve_fine.L = L
        return solve_fine
    if data == "pwls":  # counts exp(-kappa b) / their mean: the bin's inverse noise variance up to a constant
        kappa = -math.log(0.05) / float(b.max())
        w = torch.exp(-kappa * b.clamp_min(0))
        sw = (w / w.mean()).sqrt()
        project, back, d = (lambda x: sw * A.project(x)), (lambda r: A.backproject(sw * r)), sw * b
    elif data == "rows":  # SIRT's weight: 1 / the ray's length in the image (its row sum)
        row = A.project(torch.ones(p.shape, dtype=b.dtype)).clamp_min(1e-12)
        sw = (row.mean() / row).sqrt()
        project, back, d = (lambda x: sw * A.project(x)), (lambda r: A.backproject(sw * r)), sw * b
    elif data == "ramp":  # each view's residual seen through the ramp filter (Ram-Lak, 2x zero padding):
        # 1/2 r^T R r, the image-domain norm of the residual's back-projection by the projection-slice theorem
        s = ramp_root(b.shape[-1], b.dtype)
        project, back, d = (lambda x: s(A.project(x))), (lambda r: A.backproject(s(r, adjoint=True))), s(b)
    else:  # ls, ridgeC
        project, back, d = A.project, A.backproject, b
    ones = torch.ones(p.shape, dtype=b.dtype)
    L = power_method(lambda x: mask * back(project(x)), ones, int(cfg.power_iters))
    f = make_fista(p, cfg, L, restart=restart)
    f = Fista(project, back, d, p.shape, f.prox, int(inner), mask=mask, lipschitz=L, restart=restart)
    if data.startswith("ridge"):  # + beta/2 ||x||^2, beta = C L: pulls A's null space towards 0 (SIRT's from-zero fill)
        beta = float(data[5:]) * L
        plain = f.data_gradient
        f.data_gradient = lambda y: plain(y) + beta * y
        f.L = L * (1 + float(data[5:]))
        f.tau = 1.0 / f.L
    if warm:
        f = WarmFista(f)

    def solve(lam):
        with torch.no_grad():
            return f.solve(torch.tensor(float(lam), dtype=b.dtype), int(it))
    solve.L = L
    return solve


def regularizer_variant(p, spec: str):
    """solve(lam) for reg,REG,ITERS,INNER[,GRID]: the answer on the output grid (the fine unknown's cell average)."""
    from regrun.config import config_section
    from regrun.optim.fista import Fista
    from regrun.optim.tgv_prox import TGVProx
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista

    _, reg, it, inner, *grid = spec.split(",")
    g = UnknownGrid(p, int(grid[0]) if grid else 1, "fine")
    cfg = config_section("solver", "fista_tv", lam=1.0, inner_iters=int(inner))
    L = lipschitz(g, cfg)
    if reg == "tv":  # the solver's own
        f = make_fista(g, cfg, L)
    else:  # the prox warm-started always: its vector field w builds up over many FISTA steps
        f = Fista(g.A.project, g.A.backproject, g.sinogram, g.shape, TGVProx(reg, scale=g.tv_scale), int(inner),
                  mask=g.mask.to(g.sinogram.dtype), lipschitz=L, tv_scale=g.tv_scale, warm_start=True)

    def solve(lam):
        with torch.no_grad():
            return g.output(f.solve(torch.tensor(float(lam), dtype=p.sinogram.dtype, device=p.sinogram.device),
                                    int(it)))
    solve.L = None  # lam in the units of FISTA-TV's on that grid (UnknownGrid's tv_scale): lam0 as it is
    return solve


def ramp_root(n: int, dtype):
    """S with S^T S = the Ram-Lak filter (circulant on 2n bins): S r = ifft(sqrt(H) fft(pad r)); adjoint: crop."""
    m = 2 * n
    k = torch.arange(m)
    k = torch.minimum(k, m - k).to(dtype)
    h = torch.where(k == 0, torch.full_like(k, 0.25), torch.where(k % 2 == 1, -1 / (math.pi * k.clamp_min(1)) ** 2,
                                                                    torch.zeros_like(k)))
    root = torch.fft.rfft(h).real.clamp_min(0).sqrt()

    def apply(r, adjoint=False):
        if adjoint:
            return torch.fft.irfft(root * torch.fft.rfft(r), n=m)[..., :n]
        return torch.fft.irfft(root * torch.fft.rfft(torch.nn.functional.pad(r, (0, n))), n=m)
    return apply


class WarmFista:
    """FISTA whose prox starts each call from the previous call's dual (the solver restarts it at zero)."""

    def __init__(self, f):
        self.f = f

    def solve(self, lam, iters):
        f, prox = self.f, self.f.prox
        x = y = torch.zeros(f.shape, dtype=f.data.dtype)
        t = 1.0
        state = prox.start(x)
        mu = lam * f.tau
        for _ in range(iters):
            z = y - f.tau * f.data_gradient(y)
            for _ in range(f.inner_iters):
                state = prox.step(state, (z, mu))
            x_new = prox.output(state, z, mu)
            t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
            y = x_new + (t - 1) / t_new * (x_new - x)
            x, t = x_new, t_new
        return x


def best_psnr(p, solve, lam0: float, refine: int = 3, half_width: int = 3):
    """The best PSNR over lambda: 2 half_width + 1 log points over [lam0 / 2^half_width, 2^half_width lam0],
    extended a point at a time (x2) while the best is at an end (at most 8 more), then `refine` golden-section
    steps."""
    from regrun.optim.scalar_search import golden_refine

    psnr = lambda lam: p.quality(solve(lam) * p.mask)["psnr"]
    grid = list(lam0 * 2.0 ** np.arange(-half_width, half_width + 1))
    vals = [psnr(lam) for lam in grid]
    for _ in range(8):
        i = int(np.argmax(vals))
        if 0 < i < len(vals) - 1:
            break
        lam = grid[0] / 2 if i == 0 else grid[-1] * 2
        v = psnr(lam)
        grid, vals = ([lam] + grid, [v] + vals) if i == 0 else (grid + [lam], vals + [v])
    lam, neg = golden_refine(lambda lam: -psnr(lam), np.array(grid), -np.array(vals), refine)
    return lam, -neg, [float(v) for v in vals]


def range_part(p, e: torch.Tensor, iters: int = 300) -> torch.Tensor:
    """e's part that the scan determines: CGLS on min ||A M z - A M e|| from zero (the minimum-norm solution, so
    the row space of A M) after `iters` steps; e minus it is A's null space plus the directions so weakly seen
    that 300 CGLS steps leave them (the split is the measurement's, not exact)."""
    A, M = p.A, p.mask.to(e.dtype)
    r = A.project(M * e)
    z = torch.zeros_like(e)
    s = M * A.backproject(r)
    q, g0 = s.clone(), (s * s).sum()
    for _ in range(iters):
        Aq = A.project(q)
        a = g0 / (Aq * Aq).sum()
        z, r = z + a * q, r - a * Aq
        s = M * A.backproject(r)
        g1 = (s * s).sum()
        q, g0 = s + g1 / g0 * q, g1
    return z


def split(p, image: torch.Tensor) -> dict:
    """|error|^2 inside the mask, its range part and the rest (range_part)."""
    e = (image - p.truth) * p.mask
    er = range_part(p, e)
    return {"error2": float((e * e).sum()), "range2": float((er * er).sum()), "null2": float(((e - er) ** 2).sum())}


PEERS = ("peer_psnr", "skimage_sart_tv", "astra_sirt_tv", "astra_cgls_tv")


def bench_row(paths, name, size, views, photons) -> dict | None:
    """The bench's grid optimum (FISTA-TV at its defaults) and best oracle peer for this case, from the first of
    the scripts/bench_lambda_ct.py JSONs `paths` that holds it; None if none does."""
    from bench_lambda_ct import reused

    for path in paths:
        r = reused(path, name, size, views, photons)
        if r is not None:
            peers = {k: r[k] for k in PEERS if r.get(k) is not None}
            best = max(peers, key=peers.get)
            return {"default_lam": r["grid_best_lam"], "default_psnr": r["grid_best_psnr"], "best_peer": peers[best],
                    "best_peer_name": best}
    return None


def main(argv=None):
    from bench_lambda_ct import case_from_file, sirt_tv_best, sirt_tv_peer

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", type=Path, nargs="+")
    ap.add_argument("--variants", nargs="+", default=["140,5,none,ls"])
    ap.add_argument("--lam0", type=float, nargs="*", default=None, help="one per case: the grid's centre")
    ap.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--split", action="store_true",
                    help="also the error's split into the scan's range and the rest (range_part) for the peer, "
                         "each variant at its best lambda and the zero image")
    ap.add_argument("--bench", type=Path, nargs="*", default=[],
                    help="scripts/bench_lambda_ct.py JSONs holding these cases: each case's grid optimum (its lam0 "
                         "unless --lam0 is given) and best oracle peer recorded beside the variants")
    ap.add_argument("--half-width", type=int, default=3, help="the first grid: lam0 times 2^-W .. 2^W")
    ap.add_argument("--refine", type=int, default=3, help="golden-section steps after the grid")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/diag_peer.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = []
    for k, path in enumerate(args.cases):
        p, (name, size, views, photons) = case_from_file(path)
        row = {"case": path.name, "variants": {}}
        if args.peer:
            c0 = time.process_time()
            row["peer"], row["peer_weight"] = sirt_tv_peer(p, 300, [0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12,
                                                                    0.16, 0.24, 0.32])
            row["peer_cpu_s"] = time.process_time() - c0
        if args.split:
            weights = [0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.24, 0.32]
            row["split_peer"] = split(p, sirt_tv_best(p, 300, weights)[2])
            row["split_zero"] = split(p, torch.zeros(p.shape, dtype=p.sinogram.dtype))
            print(f"{path.name} split: peer {row['split_peer']}, zero image {row['split_zero']}", flush=True)
        bench = bench_row(args.bench, name, size, views, photons)
        if bench is not None:
            row["bench"] = bench
        lam0 = args.lam0[k] if args.lam0 else row["bench"]["default_lam"] if "bench" in row else 1.0
        L0 = None
        for spec in args.variants:
            c0 = time.process_time()
            solve = fista_variant(p, spec)
            if L0 is None:
                L0 = fista_variant(p, "1,1,none,ls").L
            # the data term's scale follows L, but for variants whose lam keeps FISTA-TV's units (L None)
            lam, psnr, vals = best_psnr(p, solve, lam0 * (solve.L / L0 if solve.L else 1.0), args.refine,
                                        args.half_width)
            row["variants"][spec] = {"lam": lam, "psnr": psnr, "grid": vals, "cpu_s": time.process_time() - c0}
            if args.split:
                row["variants"][spec]["split"] = split(p, solve(lam) * p.mask)
                print(f"  split at lam {lam:.3g}: {row['variants'][spec]['split']}", flush=True)
            print(f"{path.name} {spec}: best lam {lam:.3g} -> {psnr:.2f} dB ({time.process_time() - c0:.0f} CPU s)"
                  + (f"; peer {row['peer']:.2f}" if args.peer else ""), flush=True)
        out.append(row)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
