"""A check of a super-resolution answer without the truth: how well it predicts frames it did not see, beside
bicubic upsampling of frame 0 (the answer a user has without regrun).

For held-out moved frames k (1..HELD_OUT_FRAMES), at the final motion w and the weight lambda_f in use:

- the answer's prediction of frame k from the image solved WITHOUT frame k, in closed form: the image is linear
  in the frames, f = C^-1 A^T b with C = A^T A + lambda^2 h_f L^T L, and leaving frame k's rows out turns its
  residual r_k = d_k - P_k f into (I - H_kk)^-1 r_k, H_kk = h_d P_k C^-1 P_k^T (the block of the hat matrix:
  the leave-one-out identity of a linear smoother, by blocks);
- bicubic's prediction of frame k: frame 0 upsampled (torch's bicubic, pixel centres aligned, as the benchmark's
  bicubic score) and moved by the same w_k, P_k f_bicubic.

frames_check_ratio = sum_k ||held-out residual of the answer||^2 / sum_k ||P_k f_bicubic - d_k||^2 over the
frames' kept pixels (frames_check_ratio_k: frame k's alone). Below 1 the answer predicts unseen frames better
than bicubic; at or above 1 (the sum or any one frame) it does not, and the run warns (SuperRes.warnings): the weight or the motion is likely wrong (a wrong weight amplifies noise
or blurs; a wrong motion misplaces the frames, so the others predict frame k badly). Both predictions use the
same motion w_k, so a motion wrong in the same way for every frame is seen only through the other frames.
Up to WEIGHT_CHOLESKY_MAX_PIXELS fine pixels (the weight search's own dense limit, whose factor at the final
motion it reuses) in closed form; beyond, by refitting: the image solved without frame k's rows by the solver's own
matrix-free PCG (the merged-stencil operator at w, the cosine preconditioner, warm-started from the answer), which
is the same quantity (tested against the closed form) at a cost that grows as the solver's, not as n^3.
"""
from __future__ import annotations

import math

import torch

from ..imaging.transforms import affine, affine_identity, affine_inverse
from ..linalg.krylov import pcg
from .superres_model import SuperResModel
from .superres_weight import WEIGHT_CHOLESKY_MAX_PIXELS

# Moved frames held out (the first ones, 1..): each costs a triangular solve with the factor for its coarse
# pixels' columns, n^2 x n/4 (a frame has a quarter of the fine pixels), so two cost about 1.5 factors (n^3/3) more:
# with 4, the check took 9-11 CPU-s at 64^2, as much as the weight search (docs/superres.md, "Thirteenth round").
HELD_OUT_FRAMES = 2
# The refit's PCG bar (beyond the dense limit): each held-out system's residual relative to its right-hand side.
# The ratio is read to 2-3 digits; at 1e-6 the refit matches the closed form to ~3e-7 (16^2, 32^2; tested to 1e-5)
# and the warm start from the answer takes 15-26 iterations at 128^2-256^2 (docs/superres.md, "Thirteenth round
# (srcheck)").
REFIT_RTOL = 1e-6
REFIT_ITERS = 1000  # a cap only, far above the iterations measured: the bar is what stops it
# A held-out frame whose samples lie at least this far (fine pixels, RMS over its pixels) from every other frame's
# samples has a sub-pixel phase no other frame samples: left out, the answer has to interpolate there by its
# smoothing alone, and on noise-free frames that alone gave ratios of 0.19-1.46 with nothing wrong (docs/sweeps.md,
# "Fourth new-user pass" item 4, "Fifth new-user pass"). Half a fine pixel: nearer, another frame samples the same
# fine pixel (the resolution the answer is solved at).
UNSAMPLED_PHASE_GAP = 0.5
# ... and only where the answer fits the frames as noise-free frames are fitted (data_rel_residual below this):
# noise-free 16-bit frames 1.1e-4; frames with 2% noise and one frame of another scene 0.072, where the same
# unsampled-phase frames' ratios came from a motion pulled off by the bad frame (docs/sweeps.md, "Fifth new-user
# pass"); 8-bit rounding alone is ~3e-3 of frames whose RMS is 40% of full scale
NOISE_FREE_RESIDUAL = 5e-3


def bicubic_image(model) -> torch.Tensor:
    """Frame 0 upsampled to the fine grid by bicubic convolution (pixel centres aligned), (n,)."""
    return bicubic_upsample(model.frames[0], tuple(model.fine.m)).reshape(-1)


def bicubic_upsample(frame: torch.Tensor, size: tuple) -> torch.Tensor:
    """One frame, (m1, m2) or (channels, m1, m2), upsampled to `size` by bicubic convolution (pixel centres
    aligned), in its own layout."""
    up = torch.nn.functional.interpolate(frame.reshape(1, -1, *frame.shape[-2:]), size=size, mode="bicubic",
                                         align_corners=False)
    return up.reshape(*frame.shape[:-2], *size)


def held_out_frames(model, w: torch.Tensor, factor: torch.Tensor | None = None,
                    f: torch.Tensor | None = None) -> dict[str, float]:
    """{frames_check_ratio, frames_check_answer, frames_check_bicubic, frames_check_frames, and per held-out frame k
    frames_check_ratio_k} at motion w and the model's weight (module docstring); {} without a moved frame.
    factor: the lower Cholesky factor of the normal matrix at w and that weight when the caller has it (the weight
    search's at the final motion), else formed here (dense path only). f: the answer at w and that weight (the
    refit's warm start beyond the dense limit), else solved here."""
    if model.q < 1:
        return {}
    w = w.detach()
    frames = list(range(1, min(model.q, HELD_OUT_FRAMES) + 1))
    answer = held_out_residuals(model, w, frames, factor, f)
    bicubic = bicubic_residuals(model, w, frames)
    out = {"frames_check_answer": sum(answer), "frames_check_bicubic": sum(bicubic),
           "frames_check_frames": float(len(frames))}
    out["frames_check_ratio"] = out["frames_check_answer"] / out["frames_check_bicubic"] if sum(bicubic) > 0 \
        else math.nan
    for k, a, b in zip(frames, answer, bicubic):  # which held-out frame the answer predicts worst
        out[f"frames_check_ratio_{k}"] = a / b if b > 0 else math.nan
    for k, gap in zip(frames, phase_gaps(model, w, frames)):
        out[f"frames_check_gap_{k}"] = gap
    return out


def bicubic_residuals(model, w: torch.Tensor, frames: list[int]) -> list[float]:
    """||P_k f_bicubic - d_k||^2 over frame k's kept pixels (frame units) for each moved frame k in `frames`:
    bicubic's prediction of frame k through the same motion w_k. By the matrix-free operator: the dense rows of one
    frame at a time beyond the dense limit would be nc x n (0.5 GB at 256^2) (the same rows, tested)."""
    data = (model.frames * model.data_mask())[frames].reshape(len(frames), -1)
    f_bic = bicubic_image(model)
    pred = (model.operator(w.detach(), fixed=True).matvec(f_bic)[: model.n_data] / model.sqrt_hd)
    return (pred.reshape(model.q + 1, -1)[frames] - data).pow(2).sum(-1).tolist()


def phase_gaps(model, w: torch.Tensor, frames: list[int]) -> list[float]:
    """For each moved frame k in `frames` (1..q): how far its samples lie from the nearest other frame's (0..q,
    the one nearest on average), in fine pixels, RMS over frame k's pixels. A frame's pixel averages the image over
    its moved block, i.e. samples it at the block's moved centre y_k(X); that point, taken back through frame j's
    motion, lies off frame j's nearest pixel centre by the fractional part of its pixel index. 0: another frame
    samples the same sub-pixel phase; UNSAMPLED_PHASE_GAP or more: none does."""
    xc = model.coarse.centres(model.dtype, model.device).reshape(-1, 2)
    motions = torch.cat((affine_identity(model.dtype, model.device)[None], model.split(w.detach())[0]))
    out = []
    for k in frames:
        points = affine(motions[k], xc)
        gaps = []
        for j in range(model.q + 1):
            if j != k:
                index = model.coarse.to_index(affine(affine_inverse(motions[j]), points))
                gaps.append(float((index - index.round()).pow(2).sum(-1).mean().sqrt()) * model.factor)
        out.append(min(gaps))
    return out


def unsampled_phase_warning(metrics: dict[str, float], warn: float) -> str | None:
    """The frames check's warning where the frames are fitted as noise-free ones are (data_rel_residual <
    NOISE_FREE_RESIDUAL), every held-out frame at or above `warn` has a phase no other frame samples
    (frames_check_gap_k >= UNSAMPLED_PHASE_GAP) and the sum is below it: the frame's ratio then says how well the
    smoothing interpolates that phase, which is not evidence that the motion or the weight is wrong (the cause
    named, the warning kept: a frame of another scene there would look the same). None otherwise."""
    ratio = metrics["frames_check_ratio"]
    if not metrics.get("data_rel_residual", 1.0) < NOISE_FREE_RESIDUAL:
        return None
    high = {int(k.rsplit("_", 1)[1]): v for k, v in metrics.items()
            if k.startswith("frames_check_ratio_") and not v < warn}
    gaps = {k: metrics.get(f"frames_check_gap_{k}", 0.0) for k in high}
    if not high or not ratio < warn or any(g < UNSAMPLED_PHASE_GAP for g in gaps.values()):
        return None
    k = max(high, key=lambda i: math.inf if math.isnan(high[i]) else high[i])
    return (f"held-out frame {k} is predicted no better than by bicubic upsampling of frame 0 (frames_check_ratio_"
            f"{k} {high[k]:.3g}, all held-out frames {ratio:.3g}), but the frames are fitted as noise-free ones "
            f"(data_rel_residual {metrics['data_rel_residual']:.2g}) and no other frame samples frame {k}'s "
            f"sub-pixel phase (frames_check_gap_{k}: its samples lie {gaps[k]:.2g} fine pixels from the nearest "
            f"other frame's), so without it the answer fills that phase by its smoothing alone: that alone gives "
            f"such ratios with nothing wrong, and says nothing about the motion or lambda_f (a frame not of this "
            f"scene there would look the same: look at frame {k})")


def held_out_residuals(model, w: torch.Tensor, frames: list[int], factor: torch.Tensor | None = None,
                       f: torch.Tensor | None = None, dense_max: int = WEIGHT_CHOLESKY_MAX_PIXELS) -> list[float]:
    """||d_k - P_k f_-k||^2 over frame k's kept pixels (frame units) for each moved frame k in `frames` (1..q), f_-k
    the image solved at motion w and the model's weight WITHOUT frame k: in closed form through the dense factor up
    to dense_max fine pixels (default the weight search's WEIGHT_CHOLESKY_MAX_PIXELS, whose factor the check
    reuses), by the PCG refit beyond (module docstring). Summed over frames, the leave-frames-out cross-validation
    of the weight (superres_cv)."""
    w = w.detach()
    if model.n <= dense_max:
        data = (model.frames * model.data_mask())[frames].reshape(len(frames), -1)
        return _closed_form(model, w, frames, data, factor)
    return _refit(model, w, frames, f)


def closed_form_factor(model, w: torch.Tensor) -> torch.Tensor:
    """The lower Cholesky factor of the normal matrix h_d A^T A + lambda^2 h_f L^T L at motion w and the model's
    weight: what the closed form reads."""
    return torch.linalg.cholesky(model.normal_matrix(w.detach()))


def _closed_form(model, w, frames, data, factor) -> list[float]:
    """||held-out residual||^2 of each frame, (I - H_kk)^-1 r_k through the dense factor (module docstring)."""
    if factor is None:
        factor = closed_form_factor(model, w)
    rhs = model.operator(w, fixed=True).rmatvec(model.b)  # h_d A^T d (matrix-free: the dense one is q n^2 / 4)
    f = torch.cholesky_solve(rhs[:, None], factor)[:, 0]
    rows = model.moved_rows(w, frames)  # (K, nc, n), frame units
    h_d = model.coarse.cell_volume
    out = []
    for p_k, d_k in zip(rows, data):
        r_k = d_k - p_k @ f
        half = torch.linalg.solve_triangular(factor, p_k.T, upper=False)  # L^-1 P_k^T: H_kk = h_d half^T half
        hat = h_d * half.T @ half  # (nc, nc); dropped pixels' rows are zero
        eye = torch.eye(hat.shape[0], dtype=hat.dtype, device=hat.device)
        out.append(float(torch.linalg.solve(eye - hat, r_k).pow(2).sum()))
    return out


def _refit(model, w, frames, f) -> list[float]:
    """||held-out residual||^2 of each frame from the image refitted without its rows: (C - A_k^T A_k) f_k =
    A^T b - A_k^T b_k, A_k frame k's (weighted) data rows of A, all K frames as one multi-right-hand-side PCG
    (row i without frame frames[i]) on the solver's merged-stencil operator, from the answer f. A_k's products are
    those of a model of frame 0 and frame k alone (its frame-0 rows masked): a product of the whole operator
    reads all q frames, 2 x 16 of them per PCG iteration at 256^2, most of the check's cost that way (docs/
    superres.md, "Thirteenth round (srcheck)")."""
    op = model.operator(w, fixed=True)
    if f is None:  # the answer to the solver's final bar, as SuperRes.evaluate solves it
        f = model.solve(w, REFIT_ITERS, REFIT_RTOL, x0=model.initial_image()).x
    pairs = [_frame_pair(model, w, k) for k in frames]  # (A_pair, b_pair, frame k's rows)
    normal = op.normal()

    def normal_without(x):  # C x - A_k^T A_k x, row i without frame frames[i]
        return normal(x) - torch.stack([a.rmatvec(held * a.matvec(x_i)) for x_i, (a, _, held) in zip(x, pairs)])

    rhs = op.rmatvec(model.b) - torch.stack([a.rmatvec(held * b) for a, b, held in pairs])
    f_k = pcg(normal_without, rhs, model.preconditioner(), f.detach(), REFIT_ITERS, REFIT_RTOL).x
    out = []
    for x, (a, b, held) in zip(f_k, pairs):  # frame k's rows only, in frame units
        out.append(float((held * (a.matvec(x) - b)).pow(2).sum()) / model.coarse.cell_volume)
    return out


def _frame_pair(model, w, k):
    """(A, b) of the model of frames 0 and k alone (the same weight, data mask and gain; frame k's motion) and the
    0/1 rows selecting frame k's data rows in them: A_k = rows * A_pair. k = 0: frame 0's rows (the pair's moved
    frame is then frame 1, whose rows are not selected)."""
    j = max(k, 1)
    pair = SuperResModel(model.frames[[0, j]], model.fine, model.factor, model.lam, model.outside, model.gain,
                          model.extension)
    pair.keep = None if model.keep is None else model.keep[[0, j]]
    pair.b = pair.rhs(pair.frames)
    rows = torch.zeros(pair.n_data + pair.n_reg, dtype=model.dtype, device=model.device)
    # frame 0's data rows first, then frame j's, then the regulariser's
    rows[slice(0, pair.n_data // 2) if k == 0 else slice(pair.n_data // 2, pair.n_data)] = 1.0
    return pair.operator(w.reshape(model.q, model.stride)[j - 1], fixed=True), pair.b, rows


def frame0_residual(model, w: torch.Tensor, f: torch.Tensor | None = None) -> float:
    """||d_0 - P_0 f_-0||^2 over frame 0's pixels (frame units): frame 0 predicted by the image solved at motion w and
    the model's weight WITHOUT frame 0's rows (the PCG refit, any size; f its warm start). Frame 0 sits at the
    identity, so this sees where the moved frames' motions put the image together (their common motion), which the
    moved frames' held-out residuals cannot (module docstring)."""
    return _refit(model, w.detach(), [0], f)[0]
