#!/usr/bin/env python
"""What the frame-split's difference D holds: noise, or the halves' differing bias (srsmooth; issue 16).

Per frame set (bench_lambda_sr's sets, grey): `auto` as curves_lambda_sr_split.py runs it (rule only, the bench's
pre-registration), then at its final motion w and over lambda = auto's x 2^(j/2): the whole image f and the halves'
difference D = f_A - f_B at lambda / sqrt(2) (superres_cv.split_images, as the walk), from the noisy frames and
from the same frames without their noise (frame_set with noise 0: the same scene, motion and draws), at the same
w. The noise-free solves give the bias b = f0 - x and the halves' deterministic difference Db = f0_A - f0_B, so
n = f - f0 and Dn = D - Db. The walk's risk against a reference r is the true error up to terms free of lambda
when D . D_r / 2 tracks 2 n . n_r (the whole's noise covariance) and the cross term 2 b . b_r is flat; the table
prints, relative to j = 0, the true error's change and the risk offset's parts:

    P = -2 e . e_r (e = f - x, measured), Q = D . D_r / 2 = Qb + Qn + cross,  Qb = Db . Db_r / 2,  Qn = Dn . Dn_r / 2

where the offset is P + Q; a Q whose fall with lambda outruns -P's is what makes the risk favour larger weights.

    python scripts/diag_lambda_sr_split_bias.py --set sk:cell,96,16,0.005,909,translation --ref -3
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
from pathlib import Path

import torch
from bench_lambda_sr import parse_set  # scripts/bench_lambda_sr.py
from curves_lambda_sr_cv import auto_at_fixed_start, write  # scripts/curves_lambda_sr_cv.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.problems.superres import SuperRes
from regrun.registration.superres_check import REFIT_ITERS, REFIT_RTOL
from regrun.registration.superres_cv import CV_STEP, half_model, split_images


def clean_copy(model, clean_frames: torch.Tensor):
    """The model with the noise-free frames (its masks, motion model and weight kept), caches dropped."""
    m = copy.copy(model)
    m.frames = clean_frames.to(model.frames)
    m.b = m.rhs(m.frames)
    m._fixed, m._precond, m._precond_factor, m._last_fixed = None, None, None, (None, None)
    m._mask_version = model._mask_version + 7
    return m


def simulated_images(models, w, image, scale: float = CV_STEP):
    """lam -> each model's image at lam / scale from noise-free frames simulated from `image` at motion w (A(w) image
    in the data rows, each model its own rows), by PCG from the last weight's."""
    rhs = []
    for h in models:
        op = h.operator(w, fixed=True)
        y = op.matvec(image)
        rhs.append(torch.cat((y[: h.n_data], torch.zeros_like(y[h.n_data:]))))
    last = {}

    def images(lam):
        out = []
        for i, (h, b) in enumerate(zip(models, rhs)):
            h.set_weight(lam / scale)
            last[i] = h.solve(w, REFIT_ITERS, REFIT_RTOL, x0=last.get(i, h.initial_image()), b=b).x.detach()
            out.append(last[i])
        return out

    return images


def simulated_split(model, w, image, halves=None):
    """lam -> the halves' difference at lam / sqrt(2) from noise-free frames simulated from `image` at motion w
    (each half its own frames or pixels): the halves' deterministic difference were `image` the scene. `halves`:
    the two half models (default the frame split's)."""
    if halves is None:
        halves = [half_model(model, list(range(start, model.q + 1, 2))) for start in (0, 1)]
    images = simulated_images(halves, w, image)

    def d(lam):
        a, b = images(lam)
        return a - b

    return d


def residual_sigma(model, w, image) -> float:
    """sigma of the frames' noise from the data residual of `image` (a lightly smoothed fit): the kept rows' median
    absolute residual over 0.6745 (robust to the model error that sits at the scene's edges), divided by
    sqrt(1 - n / rows) (the fit's degrees of freedom at most the image's pixels n)."""
    op = model.operator(w, fixed=True)
    r = (op.matvec(image) - model.b)[: model.n_data] / model.sqrt_hd
    keep = model.data_mask().reshape(-1) > 0
    rows = int(keep.sum())
    return float(r[keep].abs().median()) / 0.6745 / max(1.0 - model.n / rows, 0.05) ** 0.5


def probe_images(model, w, sigma: float, seed: int = 0):
    """lam -> H(lam) A^T eps for one fixed white probe eps of std sigma on the kept rows: a draw of the whole
    image's noise at every weight (the same draw), by PCG from the last weight's."""
    gen = torch.Generator().manual_seed(seed)
    eps = sigma * torch.randn(model.frames.shape, generator=gen, dtype=torch.float64).to(model.frames)
    b = model.rhs(eps)
    last = [None]

    def n(lam):
        model.set_weight(lam)
        x0 = last[0] if last[0] is not None else torch.zeros(model.n, dtype=model.dtype, device=model.device)
        last[0] = model.solve(w, REFIT_ITERS, REFIT_RTOL, x0=x0, b=b).x.detach()
        return last[0]

    return n


def one_set(ctx, tmp: Path, spec, steps, ref):
    p, res, _ = auto_at_fixed_start(ctx, write(tmp / "noisy", spec, 4), spec["gain"] is not None)
    model, w = p.model, res.solution["w"].detach()
    lam0 = float(res.metrics["lam_chosen"])
    cfg = config_section("problem", "superres", data="frames", frames=str(write(tmp / "clean", {**spec, "noise": 0.0},
                         4)), lambda_f=lam0)
    clean = clean_copy(model, SuperRes(cfg, ctx).model.frames)
    x = p.truth.reshape(-1)
    noisy_images, _ = split_images(model, w)
    clean_images, _ = split_images(clean, w)
    sim_truth = simulated_split(model, w, x)
    sim_ref = simulated_split(model, w, noisy_images(lam0 * 2 ** (ref / 2))[0])
    f_ref = noisy_images(lam0 * 2 ** (ref / 2))[0]
    sigma_hat = residual_sigma(model, w, f_ref)
    sigma_true = spec["noise"] * float(model.frames.std())
    probe_hat = probe_images(clean_copy(model, model.frames), w, sigma_hat)
    probe_true = probe_images(clean_copy(model, model.frames), w, sigma_true)
    print(f"sigma: true {sigma_true:.4g}, from the residual at the reference {sigma_hat:.4g} "
          f"({sigma_hat / sigma_true:.2f}x)", flush=True)
    rows = {}
    for j in steps:
        lam = lam0 * 2 ** (j / 2)
        f, d = noisy_images(lam)
        f0, d0 = clean_images(lam)
        rows[j] = {"f": f, "D": d, "b": f0 - x, "n": f - f0, "Db": d0, "Dn": d - d0, "e": f - x,
                   "St": sim_truth(lam), "Sr": sim_ref(lam), "Ph": probe_hat(lam), "Pt": probe_true(lam)}
    r = rows[ref]
    out = []
    for j in steps:
        if j <= ref:
            continue
        v = rows[j]
        out.append({"j": j, "err": float(v["e"].pow(2).sum()), "P": float(-2 * (v["e"] * r["e"]).sum()),
                    "Q": float(0.5 * (v["D"] * r["D"]).sum()), "Qb": float(0.5 * (v["Db"] * r["Db"]).sum()),
                    "Qn": float(0.5 * (v["Dn"] * r["Dn"]).sum()), "2nn": float(2 * (v["n"] * r["n"]).sum()),
                    "2bb": float(2 * (v["b"] * r["b"]).sum()), "noise": float(v["n"].pow(2).sum()),
                    "bias": float(v["b"].pow(2).sum()), "V": float(v["D"].pow(2).sum() / 4),
                    "Vb": float(v["Db"].pow(2).sum() / 4), "Vn": float(v["Dn"].pow(2).sum() / 4),
                    "Vst": float((v["D"] - v["St"]).pow(2).sum() / 4), "Vsr": float((v["D"] - v["Sr"]).pow(2).sum() / 4),
                    "Qst": float(0.5 * ((v["D"] - v["St"]) * (r["D"] - r["St"])).sum()),
                    "Qsr": float(0.5 * ((v["D"] - v["Sr"]) * (r["D"] - r["Sr"])).sum()),
                    "fr": float((v["f"] - r["f"]).pow(2).sum()),
                    "Vph": float(v["Ph"].pow(2).sum()), "Vpt": float(v["Pt"].pow(2).sum()),
                    "Qph": float(2 * (v["Ph"] * r["Ph"]).sum()), "Qpt": float(2 * (v["Pt"] * r["Pt"]).sum())})
    return lam0, out, sigma_true, sigma_hat


RISKS = (("Q", "split (the walk's)"), ("Qsr", "split − sim(f_r)"), ("2nn", "true noise"), ("Qph", "probe, residual σ"))


def table(allrows) -> str:
    """The markdown table of --out's rows: at j = 0 the split's energy over the whole's true noise energy, the
    halves' deterministic share, what simulating from the truth leaves, the split over the probe with the residual
    sigma; then each risk's argmin over the weights above the reference and its dB from j = 0."""
    out = ["| set | auto λ | residual σ / true σ | V / noise at auto | Vb / V | V after − sim(truth) / V | V / probe V "
           "(residual σ) | " + " | ".join(f"argmin: {name}" for _, name in RISKS) + " |", "|---" * (7 + len(RISKS)) + "|"]
    for name, v in allrows.items():
        rows = v["rows"]
        z = next(r for r in rows if r["j"] == 0)
        cells = []
        for key, _ in RISKS:
            risk = {r["j"]: r["fr"] + r[key] for r in rows}
            best = min(risk, key=risk.get)
            err = next(r["err"] for r in rows if r["j"] == best)
            cells.append(f"{best:+d} ({10 * math.log10(z['err'] / err):+.2f})")
        out.append(f"| {name} | {v['lam_auto']:.3g} | {v['sigma_residual'] / v['sigma_true']:.2f} | "
                   f"{z['V'] / z['noise']:.3g} | {z['Vb'] / z['V']:.2f} | {z['Vst'] / z['V']:.2f} | "
                   f"{z['V'] / z['Vph']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def tables_only(args, table) -> bool:
    """--table FILES: print the stored rows' table and do no run (True); else --set is required."""
    if args.table:
        print(table({k: v for path in args.table for k, v in json.loads(path.read_text()).items()}))
        return True
    if not args.sets:
        raise SystemExit("give --set (or --table)")
    return False


def cpu_context() -> RunContext:
    """One thread, float64 on the CPU: the diagnostics' measurements are replayable to the bit."""
    torch.set_num_threads(1)
    return RunContext(torch.device("cpu"), torch.float64, 0, Path("."))


def make_folders(tmp: Path) -> None:
    for sub in ("noisy", "clean"):
        (tmp / sub).mkdir(exist_ok=True)


def set_name(spec) -> str:
    return f"{spec['kind']} {spec['size']}²/{spec['frames']} {spec['noise']:g} s{spec['seed']}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set)
    ap.add_argument("--steps", type=int, nargs="+", default=[-4, -3, -2, -1, 0, 1, 2])
    ap.add_argument("--ref", type=int, default=-3, help="the reference's step j (auto's x 2^(j/2))")
    ap.add_argument("--out", type=Path, help="the rows as .json")
    ap.add_argument("--table", type=Path, nargs="+", help="no runs: the markdown table of these --out files")
    args = ap.parse_args(argv)
    if tables_only(args, table):
        return
    ctx = cpu_context()
    allrows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            make_folders(Path(tmp))
            lam0, rows, sigma_true, sigma_hat = one_set(ctx, Path(tmp), spec, args.steps, args.ref)
            name = set_name(spec)
            allrows[name] = {"lam_auto": lam0, "rows": rows, "sigma_true": sigma_true, "sigma_residual": sigma_hat}
            z = next(r for r in rows if r["j"] == 0)
            print(f"\n{name}: auto {lam0:.3g}, reference j {args.ref}; changes from j = 0 "
                  f"(true error, P, Q, Qb, Qn, 2n.n_r, 2b.b_r), then the energies at j (noise, bias, V, Vb, Vn)")
            for r in rows:
                print(f"  j {r['j']:+d}: d err {r['err'] - z['err']:+.4g} | P {r['P'] - z['P']:+.4g} Q {r['Q'] - z['Q']:+.4g}"
                      f" (Qb {r['Qb'] - z['Qb']:+.4g} Qn {r['Qn'] - z['Qn']:+.4g}) 2nn {r['2nn'] - z['2nn']:+.4g}"
                      f" 2bb {r['2bb'] - z['2bb']:+.4g} | noise {r['noise']:.4g} bias {r['bias']:.4g} V {r['V']:.4g}"
                      f" Vb {r['Vb']:.4g} Vn {r['Vn']:.4g} | with D - D_sim (truth; f at the reference): V {r['Vst']:.4g}"
                      f" {r['Vsr']:.4g}", flush=True)
            print(f"  at j 0: split V / probe V (residual sigma) {z['V'] / z['Vph']:.3g}; split V / probe V (true sigma)"
                  f" {z['V'] / z['Vpt']:.3g}; Vb / V {z['Vb'] / z['V']:.3g}")
            for key, name in (("Q", "split"), ("Qst", "split - sim(truth)"), ("Qsr", "split - sim(f_ref)"),
                              ("2nn", "oracle noise"), ("Qpt", "probe, true sigma"),
                              ("Qph", "probe, residual sigma")):
                risk = {r["j"]: r["fr"] + r[key] for r in rows}
                best = min(risk, key=risk.get)
                err = next(r["err"] for r in rows if r["j"] == best)
                print(f"  risk with {name}: argmin j {best:+d}, {10 * math.log10(z['err'] / err):+.2f} dB from j 0")
    if args.out:
        args.out.write_text(json.dumps(allrows, indent=1))


if __name__ == "__main__":
    main()
