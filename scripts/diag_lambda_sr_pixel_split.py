#!/usr/bin/env python
"""A split that shares the model error: each frame's pixels in two halves, every frame in both (srsplit; issue 16).

srsmooth (docs/superres.md, "Eighteenth round") measured that the frame split's difference D = f_A - f_B is 87-99%
the two halves' differing MODEL error on 7 of 8 seen sets (each half holds other sub-pixel phases). Here each half
keeps half of every frame's pixels (a checkerboard whose parity flips from frame to frame, or alternate rows), so
both halves see every frame's phase; each half's data term is its own pixels', about half the whole's, so it is
solved at lambda / sqrt(2) as the frame split's. Per set (bench_lambda_sr's sets, grey): `auto` as
curves_lambda_sr_split.py runs it (the rule's weight, the bench's pre-registration), then at its final motion w over
lambda = auto's x 2^(j/2): the whole image f, the frame split's D and the pixel split's D from the noisy frames,
and f0 and the pixel split's D0 from the same frames without their noise (so n = f - f0, Db = D0). Printed: the
pixel split's energy ||D||^2 / 4 over the whole's true noise energy ||n||^2 (1 where D is the image's noise), its
noise-free share ||Db||^2 / ||D||^2, the same for the frame split, and where the risk
||f(lambda) - f_r||^2 + D . D_r / 2 is least over the weights above the reference r, for either split, several r,
and srburst's walk (superres_cv.split_walk) run on the pixel split's images.

    python scripts/diag_lambda_sr_pixel_split.py --set sk:cell,96,16,0.005,909,translation --out OUT/pix.json
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import torch
from bench_lambda_sr import parse_set  # scripts/bench_lambda_sr.py
from curves_lambda_sr_cv import auto_at_fixed_start, write  # scripts/curves_lambda_sr_cv.py
from diag_lambda_sr_split_bias import (clean_copy, cpu_context, make_folders, set_name,  # scripts/diag_lambda_sr_split_bias.py
                                       simulated_images, simulated_split, tables_only)

from regrun.config import config_section
from regrun.imaging.synthetic import spline_frames
from regrun.problems.superres import SuperRes
from regrun.registration.superres_check import REFIT_ITERS, REFIT_RTOL
from regrun.registration.superres_cv import mask_model, split_down, split_images, split_walk


def pixel_masks(model, how: str) -> list[torch.Tensor]:
    """The two halves' 0/1 pixel selections (q + 1, m1, m2): `checker` (i + j + frame) even / odd, `rows` (i + frame)
    even / odd; the parity flips with the frame so that each half holds both parities' model error."""
    q1, m1, m2 = model.frames.shape[-3:]
    i = torch.arange(m1, device=model.device)[None, :, None]
    j = torch.arange(m2, device=model.device)[None, None, :]
    k = torch.arange(q1, device=model.device)[:, None, None]
    par = (i + j + k) % 2 if how == "checker" else (i + k + 0 * j) % 2
    return [(par == s).to(model.dtype) for s in (0, 1)]


def pixel_halves(model, how: str):
    return [mask_model(model, m) for m in pixel_masks(model, how)]


def pixel_split_images(model, w, how: str):
    """split_images with the pixel split's halves."""
    return split_images(model, w, pixel_halves(model, how))


def one_set(ctx, tmp: Path, spec, steps, how, sim_ref: int | None):
    p, res, _ = auto_at_fixed_start(ctx, write(tmp / "noisy", spec, 4), spec["gain"] is not None)
    model, w = p.model, res.solution["w"].detach()
    lam0 = float(res.metrics["lam_chosen"])
    cfg = config_section("problem", "superres", data="frames", frames=str(write(tmp / "clean", {**spec, "noise": 0.0},
                         4)), lambda_f=lam0)
    clean = clean_copy(model, SuperRes(cfg, ctx).model.frames)
    x = p.truth.reshape(-1)
    frame_images, _ = split_images(model, w)
    pix_images, _ = pixel_split_images(model, w, how)
    clean_pix, _ = pixel_split_images(clean, w, how)
    clean_frame, _ = split_images(clean, w)
    if sim_ref is not None:  # the pixel halves' difference from frames simulated through A(w): from the truth
        # (the halves' structural difference, their Gram matrices unequal) and from the reference (truthless)
        sim_t = simulated_split(model, w, x, pixel_halves(model, how))
        sim_r = simulated_split(model, w, pix_images(lam0 * 2 ** (sim_ref / 2))[0], pixel_halves(model, how))
        frame_t = simulated_split(model, w, x)
        whole_t = simulated_images([model], w, x, 1.0)
    rows = {}
    for j in steps:
        lam = lam0 * 2 ** (j / 2)
        f, d = pix_images(lam)
        f0, d0 = clean_pix(lam)
        rows[j] = {"f": f, "Dp": d, "Dp0": d0, "Df": frame_images(lam)[1], "n": f - f0, "e": f - x}
        if sim_ref is not None:
            rows[j]["St"], rows[j]["Sr"] = sim_t(lam), sim_r(lam)
            rows[j]["Dps"] = d - rows[j]["Sr"]
            # the model error's share: in the whole image, f0 - (f0 from A(w) x); in a split, D0 - (its A(w) x part)
            rows[j]["Ew"] = f0 - whole_t(lam)[0]
            rows[j]["Ef"] = clean_frame(lam)[1] - frame_t(lam)
        print(f"  j {j:+d} done", flush=True)

    def walk_images(key):  # the walk's weights are auto's x sqrt(2)^k: the rows' images (solved above)
        def images(lam):
            j = round(2 * math.log2(lam / lam0))
            if j not in rows:
                raise KeyError(j)
            return rows[j]["f"], rows[j][key]
        return images

    walks = {}
    for key, split in (("Dp", "pixel"), ("Df", "frame")):
        for down in (1, 2, 3):
            try:
                walks[f"{split} {down}"] = split_walk(walk_images(key), lam0, 2, *split_down(model, down))[0]
            except KeyError:
                walks[f"{split} {down}"] = None
    return lam0, rows, walks, spec["noise"] * float(model.frames.std())


def motion_check(ctx, tmp: Path, spec) -> dict:
    """The model error at the estimated and at the true motion, at `auto`'s weight: in the frames, ||y0 - A(w) x||^2
    over the frames' noise energy (kept rows, y0 the noise-free frames); in the whole image, ||f0 - f0(A(w) x)||^2
    over the image's noise energy ||f - f0||^2 (at the estimated motion)."""
    p, res, _ = auto_at_fixed_start(ctx, write(tmp / "noisy", spec, 4), spec["gain"] is not None)
    model, w = p.model, res.solution["w"].detach()
    lam0 = float(res.metrics["lam_chosen"])
    cfg = config_section("problem", "superres", data="frames", frames=str(write(tmp / "clean", {**spec, "noise": 0.0},
                         4)), lambda_f=lam0)
    clean = clean_copy(model, SuperRes(cfg, ctx).model.frames)
    x, nd = p.truth.reshape(-1), model.n_data
    out = {"lam_auto": lam0}
    noise_rows = float((model.b[:nd] - clean.b[:nd]).pow(2).sum())
    f = None
    for key, wm in (("estimated", w), ("true", p.w_true.to(w))):
        rows = float((clean.operator(wm, fixed=True).matvec(x)[:nd] - clean.b[:nd]).pow(2).sum())
        model.set_weight(lam0)
        clean.set_weight(lam0)
        if f is None:
            f = model.solve(w, REFIT_ITERS, REFIT_RTOL, x0=model.initial_image()).x.detach()
            f0 = clean.solve(w, REFIT_ITERS, REFIT_RTOL, x0=clean.initial_image()).x.detach()
            noise_image = float((f - f0).pow(2).sum())
        f0w = clean.solve(wm, REFIT_ITERS, REFIT_RTOL, x0=clean.initial_image()).x.detach()
        sim = simulated_images([clean], wm, x, 1.0)(lam0)[0]
        out[key] = {"frames": rows / noise_rows, "image": float((f0w - sim).pow(2).sum()) / noise_image,
                    "err": float((f0w - x).pow(2).sum()) / noise_image}
    return out


def consistent_curve(ctx, tmp: Path, spec, steps) -> dict:
    """The control with no model error: frames the model makes itself from the truth at the true motion
    (synthetic.spline_frames, the inverse crime) plus the bench frames' own noise (noisy less noise-free frames),
    `auto` on them as on the bench's (the same pre-registration), then the true error over lambda = its x 2^(j/2)
    at its final motion; beside it the same curve on the bench's frames."""
    path = write(tmp / "noisy", spec, 4)
    p, res, _ = auto_at_fixed_start(ctx, path, spec["gain"] is not None)
    cfg = config_section("problem", "superres", data="frames", frames=str(write(tmp / "clean", {**spec, "noise": 0.0},
                         4)), lambda_f=float(res.metrics["lam_chosen"]))
    noise = p.model.frames - SuperRes(cfg, ctx).model.frames.to(p.model.frames)
    made = spline_frames(p.truth, p.model.fine, p.w_true.to(p.model.frames), p.model.factor) + noise
    out = {}
    for key, frames in (("bench", None), ("consistent", made)):
        q, r, _ = auto_at_fixed_start(ctx, path, spec["gain"] is not None, frames)
        lam0, w, x = float(r.metrics["lam_chosen"]), r.solution["w"].detach(), q.truth.reshape(-1)
        images, _ = split_images(q.model, w)
        err, got = {}, {}
        for j in steps:
            got[j] = images(lam0 * 2 ** (j / 2))
            err[j] = float((got[j][0] - x).pow(2).sum())
        peak = min(err, key=err.get)
        out[key] = {"lam_auto": lam0, "peak": peak, "db": 10 * math.log10(err[0] / err[peak])}
        for down in (1, 2):  # srburst's walk on the frame split (main's with down 1)
            try:
                lam = split_walk(lambda a: got[round(2 * math.log2(a / lam0))], lam0, 2, *split_down(q.model, down))[0]
                j = round(2 * math.log2(lam / lam0))
                out[key][f"walk {down}"] = [j, 10 * math.log10(err[0] / err[j])]
            except KeyError:
                out[key][f"walk {down}"] = None
    return out


def summarise(rows, refs):
    """Per j: the error and energies; per reference r and split: the risk at each j > r."""
    out = {"rows": {}, "risk": {}}
    for j, v in rows.items():
        out["rows"][j] = {"err": float(v["e"].pow(2).sum()), "noise": float(v["n"].pow(2).sum()),
                          "Vp": float(v["Dp"].pow(2).sum() / 4), "Vp0": float(v["Dp0"].pow(2).sum() / 4),
                          "Vf": float(v["Df"].pow(2).sum() / 4)}
        if "St" in v:  # what the structural difference leaves of D and of its noise-free part
            out["rows"][j].update({"Vst": float((v["Dp"] - v["St"]).pow(2).sum() / 4),
                                   "Vp0st": float((v["Dp0"] - v["St"]).pow(2).sum() / 4),
                                   "Vsr": float(v["Dps"].pow(2).sum() / 4),
                                   "Ew": float(v["Ew"].pow(2).sum()), "Ef": float(v["Ef"].pow(2).sum() / 4)})
    for r in refs:
        if r not in rows:
            continue
        rr = rows[r]
        for key, d in (("pixel", "Dp"), ("frame", "Df"), ("true noise", None), ("pixel - sim(f_r)", "Dps")):
            if d is not None and d not in rr:
                continue
            out["risk"][f"{key} r{r}"] = {
                j: float((v["f"] - rr["f"]).pow(2).sum()
                         + (2 * (v["n"] * rr["n"]).sum() if d is None else 0.5 * (v[d] * rr[d]).sum()))
                for j, v in rows.items() if j > r}
    return out


def table(allrows) -> str:
    head = allrows[next(iter(allrows))]
    keys = list(head["risk"])
    out = ["| set | auto λ | PSNR peak j (Δ dB from j 0) | pixel V / noise | pixel Vb / V | frame V / noise | "
           + " | ".join(f"argmin: {k}" for k in keys) + " | walk on the pixel split (down 1/2/3) | walk on the frame split (down 1/2/3) | pixel (V − sim(truth)) "
           "/ V | pixel (Vb − sim(truth)) / V | pixel − sim(f_r): V / noise | model error in the whole / noise | its "
           "estimate by the pixel split / it | by the frame split / it |", "|---" * (14 + len(keys)) + "|"]
    for name, v in allrows.items():
        rows = {int(j): r for j, r in v["rows"].items()}
        z = rows[0]
        peak = min(rows, key=lambda j: rows[j]["err"])

        def db(j):
            return 10 * math.log10(z["err"] / rows[j]["err"])

        cells = []
        for k in keys:
            risk = {int(j): r for j, r in v["risk"][k].items()}
            best = min(risk, key=risk.get)
            cells.append(f"{best:+d} ({db(best):+.2f})")
        walks = []
        for down in ("pixel 1", "pixel 2", "pixel 3", "frame 1", "frame 2", "frame 3"):
            lam = v["walks"].get(down)
            walks.append("?" if lam is None else f"{round(2 * math.log2(lam / v['lam_auto'])):+d} "
                         f"({db(round(2 * math.log2(lam / v['lam_auto']))):+.2f})")
        out.append(f"| {name} | {v['lam_auto']:.3g} | {peak:+d} ({db(peak):+.2f}) | {z['Vp'] / z['noise']:.3g} | "
                   f"{z['Vp0'] / z['Vp']:.2f} | {z['Vf'] / z['noise']:.3g} | " + " | ".join(cells) + " | "
                   + " / ".join(walks[:3]) + " | " + " / ".join(walks[3:]) + " | " + (" | ".join((f"{z['Vst'] / z['Vp']:.2f}", f"{z['Vp0st'] / z['Vp']:.2f}",
                                                              f"{z['Vsr'] / z['noise']:.3g}")) if "Vst" in z else " | ")
                   + " | " + (" | ".join((f"{z['Ew'] / z['noise']:.3g}", f"{z['Vp0st'] / z['Ew']:.3g}",
                                          f"{z['Ef'] / z['Ew']:.3g}")) if "Ew" in z else " | ") + " |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set)
    ap.add_argument("--steps", type=int, nargs="+", default=[-4, -3, -2, -1, 0, 1, 2])
    ap.add_argument("--refs", type=int, nargs="+", default=[-3, -2, -1])
    ap.add_argument("--how", choices=("checker", "rows"), default="checker")
    ap.add_argument("--sim", type=int, help="also the halves' difference simulated through A(w) from the truth and from "
                    "the whole image at this step j (the truthless correction's reference)")
    ap.add_argument("--consistent", action="store_true", help="only the control: frames without model error")
    ap.add_argument("--motion", action="store_true", help="only the model error at the estimated and the true motion")
    ap.add_argument("--out", type=Path, help="the rows as .json (one per set as it ends)")
    ap.add_argument("--table", type=Path, nargs="+", help="no runs: the markdown table of these --out files")
    args = ap.parse_args(argv)
    if tables_only(args, table):
        return
    ctx = cpu_context()
    allrows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            make_folders(Path(tmp))
            name = set_name(spec)
            if args.consistent:
                allrows[name] = v = consistent_curve(ctx, Path(tmp), spec, args.steps)
                print(f"| {name} | " + " | ".join(f"{v[k]['lam_auto']:.3g} | {v[k]['peak']:+d} ({v[k]['db']:+.2f}) | "
                                                   + " | ".join("?" if v[k][f"walk {d}"] is None else
                                                                "{:+d} ({:+.2f})".format(*v[k][f"walk {d}"]) for d in (1, 2))
                                                   for k in ("bench", "consistent")) + " |", flush=True)
                if args.out:
                    args.out.write_text(json.dumps(allrows, indent=1))
                continue
            if args.motion:
                allrows[name] = v = motion_check(ctx, Path(tmp), spec)
                print(f"| {name} | {v['lam_auto']:.3g} | " + " | ".join(
                    f"{v[k]['frames']:.3g} | {v[k]['image']:.3g} | {v[k]['err']:.3g}" for k in ("estimated", "true"))
                    + " |", flush=True)
                if args.out:
                    args.out.write_text(json.dumps(allrows, indent=1))
                continue
            lam0, rows, walks, _ = one_set(ctx, Path(tmp), spec, args.steps, args.how, args.sim)
            name = f"{spec['kind']} {spec['size']}²/{spec['frames']} {spec['noise']:g} s{spec['seed']}"
            allrows[name] = {"lam_auto": lam0, "walks": walks, **summarise(rows, args.refs)}
            print(table({name: allrows[name]}), flush=True)
            if args.out:
                args.out.write_text(json.dumps(allrows, indent=1))


if __name__ == "__main__":
    main()
