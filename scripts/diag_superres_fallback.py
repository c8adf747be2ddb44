#!/usr/bin/env python
"""Can the frames tell when the super-resolved answer is below bicubic upsampling of frame 0? (issue 16;
docs/superres.md "Below bicubic on 10-px frames: a check without the truth (srsmall)").

Per frame set (bench_lambda_sr.py's --set syntax and frame_set, --supersample as the bench), `auto` as the user
runs it (varpro_cg, every default), then, against the truth's PSNR of the answer and of bicubic:

- the frames check as shipped (problem.frames_check: moved frames 1..HELD_OUT_FRAMES held out; the answer's
  leave-frame-out prediction against P_k applied to the bicubic image) and the same with every moved frame held out;
- `interp`: the answer's leave-frame-out prediction against frame 0 itself interpolated (bicubic, on the coarse
  grid) at frame k's moved pixel centres: the prediction of frame k a user has without super-resolution, with
  no second blur (P_k of the bicubic image pools an image that is already frame 0's blur);
- the answer inside with bicubic's pixels in the band of 1 or 2 fine pixels at the edge (`blend1`, `blend2`);
- where each answer's error lies: PSNR over the fine pixels at least --border fine pixels from the edge
  ("interior"), and the share of the squared error in the band outside it;
- statistics without the truth measured beside them: the data residual's RMS over the kept pixels, the answer's and
  frame 0's RMS gradient, and the RMS difference between the answer and bicubic (`detail_rms`).

    python scripts/diag_superres_fallback.py --supersample 8 --out OUT/dev.json --set sk:clock@150:250,20,16,0.005,2004
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import frame_set, parse_set  # scripts/bench_lambda_sr.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.imaging.transforms import affine, affine_identity
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_check import bicubic_image, held_out_residuals
from regrun.solvers.varpro_cg import VarProCG


def save_set(root: Path, spec: dict, supersample: int) -> Path:
    """The set as a frames .npz (truth and true motion in it), as bench_lambda_sr draws it."""
    truth, stack, w, _ = frame_set(spec["kind"], spec["size"], spec["frames"], spec["noise"], spec["seed"],
                                   supersample=supersample, motion=spec["motion"])
    if stack.ndim == 4:
        fr, tr = np.moveaxis(from_fair_layout(stack), 1, -1), np.moveaxis(from_fair_layout(truth), 0, -1)
    else:
        fr, tr = from_fair_layout(stack), from_fair_layout(truth)
    path = root / f"{spec['kind'].replace(':', '_').replace('@', '_')}_{spec['seed']}.npz"
    np.savez(path, **{FRAMES_KEY: fr, TRUTH_KEY: tr, "w": w})
    return path


def interp_frame0(model, w: torch.Tensor, frames: list[int]) -> torch.Tensor:
    """(len(frames), coarse m1 * m2): frame 0 interpolated (bicubic convolution on the coarse grid, border
    values beyond its edge) at each moved frame's pixel centres, i.e. frame k predicted from frame 0 alone."""
    xc = model.coarse.centres(model.dtype, model.device).reshape(-1, 2)
    motions = torch.cat((affine_identity(model.dtype, model.device)[None], model.split(w.detach())[0]))
    m1, m2 = model.coarse.m
    out = []
    for k in frames:
        idx = model.coarse.to_index(affine(motions[k], xc))  # (npts, 2): row index i (x1), column index j (x2)
        grid = torch.stack((2 * idx[:, 1] / (m2 - 1) - 1, 2 * idx[:, 0] / (m1 - 1) - 1), -1).reshape(1, -1, 1, 2)
        v = torch.nn.functional.grid_sample(model.frames[0][None, None], grid, mode="bicubic",
                                            padding_mode="border", align_corners=True)
        out.append(v.reshape(-1))
    return torch.stack(out)


def psnr_region(est: np.ndarray, tru: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over the masked fine pixels (every channel), with the truth's range as regrun.metrics.psnr."""
    err = (est - tru)[..., mask] if est.ndim == 3 else (est - tru)[mask]
    peak = float(tru.max() - tru.min())
    return 10 * math.log10(peak ** 2 / float(np.mean(err ** 2)))


def run_set(ctx, root: Path, spec: dict, args) -> dict:
    path = save_set(root, spec, args.supersample)
    cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                         true_motion=str(path), lambda_f="auto")
    p = SuperRes(cfg, ctx)
    solver = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx)
    c0 = time.process_time()
    res = solver.solve(p, Monitor())
    metrics, arrays = p.evaluate(res)
    cpu_auto = time.process_time() - c0
    model, w = p.model, res.solution["w"].detach()
    # bicubic as the bench scores it (every channel), and the luminance image the check predicts with
    frames_c = p.colour if p.colour is not None else model.frames[:, None]
    truth = (p.truth_colour if p.truth_colour is not None else p.truth[None]).cpu().numpy()
    bic = torch.nn.functional.interpolate(frames_c[0][None], size=model.fine.m, mode="bicubic",
                                          align_corners=False)[0].cpu().numpy()
    est = np.asarray(arrays["reconstruction"]).reshape(truth.shape)
    n1, n2 = model.fine.m
    ii, jj = np.meshgrid(np.arange(n1), np.arange(n2), indexing="ij")
    edge_depth = np.minimum(np.minimum(ii, n1 - 1 - ii), np.minimum(jj, n2 - 1 - jj))  # 0 on the outer ring
    inner = edge_depth >= args.border
    full = np.ones_like(inner)
    row = {"set": spec["text"], "lam": metrics.get("lam_chosen", res.metrics.get("lam_chosen")),
           "psnr": psnr_region(est, truth, full), "psnr_bicubic": psnr_region(bic, truth, full),
           "psnr_inner": psnr_region(est, truth, inner), "psnr_bicubic_inner": psnr_region(bic, truth, inner),
           "edge_share": float(((est - truth)[..., ~inner] ** 2).sum() / ((est - truth) ** 2).sum()),
           "edge_share_bicubic": float(((bic - truth)[..., ~inner] ** 2).sum() / ((bic - truth) ** 2).sum()),
           # a candidate answer: the answer inside, bicubic in the band of 1 / 2 fine pixels at the edge
           **{f"psnr_blend{b}": psnr_region(np.where(edge_depth >= b, est, bic), truth, full) for b in (1, 2)},
           "motion_error": metrics.get("motion_error", math.nan), "check_ratio": metrics.get("frames_check_ratio"),
           "cpu_auto": cpu_auto}
    # how far the frames pin the motion: the misfit left beyond the noise over the image's gradient (srtiny: the
    # floor of the motion's error is of the size of the model's misfit over the gradient, per fine pixel)
    keep = model.data_mask()
    resid = torch.as_tensor(arrays["data_residual"]) * keep.cpu()
    fl = torch.as_tensor(np.asarray(arrays.get("reconstruction_luminance", arrays["reconstruction"])))
    grad = torch.cat(((fl[1:] - fl[:-1]).reshape(-1), (fl[:, 1:] - fl[:, :-1]).reshape(-1))).pow(2).mean().sqrt()
    sigma = float(res.metrics.get("noise_sigma", math.nan))
    rms = float(resid.pow(2).sum() / keep.sum()).__pow__(0.5)
    row.update(resid_rms=rms, sigma=sigma, grad_rms=float(grad), sigma_fit=float(res.stats.get("noise_std_fit", math.nan)),
               detail_rms=float(np.sqrt(np.mean((est - bic) ** 2))), range=float(truth.max() - truth.min()),
               frame_grad_rms=float(torch.cat(((model.frames[0, 1:] - model.frames[0, :-1]).reshape(-1),
                                              (model.frames[0, :, 1:] - model.frames[0, :, :-1]).reshape(-1))
                                             ).pow(2).mean().sqrt()))
    # every moved frame held out
    c0 = time.process_time()
    ks = list(range(1, model.q + 1))
    answer = torch.tensor(held_out_residuals(model, w, ks))
    cpu_lfo = time.process_time() - c0
    data = (model.frames * model.data_mask())[ks].reshape(len(ks), -1)
    mask = model.data_mask()[ks].reshape(len(ks), -1)
    f_bic = bicubic_image(model)
    pred = (model.operator(w, fixed=True).matvec(f_bic)[: model.n_data] / model.sqrt_hd).reshape(model.q + 1, -1)
    bicubic = (pred[ks] - data).pow(2).sum(-1)
    interp = ((interp_frame0(model, w, ks) - model.frames[ks].reshape(len(ks), -1)) * mask).pow(2).sum(-1)
    row.update(lfo=answer.tolist(), lfo_bicubic=bicubic.tolist(), lfo_interp=interp.tolist(),
               ratio_all=float(answer.sum() / bicubic.sum()), ratio_interp=float(answer.sum() / interp.sum()),
               frames_better_interp=int((answer < interp).sum()), cpu_lfo=cpu_lfo,
               kept_pixels=mask.sum(-1).tolist())
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", required=True, metavar="IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION]")
    ap.add_argument("--supersample", type=int, default=8)
    ap.add_argument("--border", type=int, default=2, help="fine pixels from the edge that 'interior' leaves out")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for text in args.sets:
            spec = {**parse_set(text), "text": text}
            r = run_set(ctx, Path(tmp), spec, args)
            rows.append(r)
            print(f"{text}: auto {r['lam']:.3g} {r['psnr']:.2f} (inner {r['psnr_inner']:.2f}, edge share "
                  f"{r['edge_share']:.2f}) bicubic {r['psnr_bicubic']:.2f} blend {r['psnr_blend1']:.2f}/{r['psnr_blend2']:.2f} (inner {r['psnr_bicubic_inner']:.2f}, "
                  f"{r['edge_share_bicubic']:.2f}); check {r['check_ratio']:.3f} all {r['ratio_all']:.3f} interp "
                  f"{r['ratio_interp']:.3f} ({r['frames_better_interp']}/{len(r['lfo'])}); CPU auto "
                  f"{r['cpu_auto']:.1f} lfo {r['cpu_lfo']:.2f}", flush=True)
            args.out.write_text(json.dumps({"args": sys.argv[1:], "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
