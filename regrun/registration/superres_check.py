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
frames' kept pixels. Below 1 the answer predicts unseen frames better than bicubic; at or above 1 it does not,
and the run warns (SuperRes.warnings): the weight or the motion is likely wrong (a wrong weight amplifies noise
or blurs; a wrong motion misplaces the frames, so the others predict frame k badly). Both predictions use the
same motion w_k, so a motion wrong in the same way for every frame is seen only through the other frames.
Dense (a Cholesky factor of C): up to WEIGHT_CHOLESKY_MAX_PIXELS fine pixels, the search's own limit; beyond
it not computed.
"""
from __future__ import annotations

import math

import torch

from .superres_weight import WEIGHT_CHOLESKY_MAX_PIXELS

# Moved frames held out (the first ones, 1..): each costs a triangular solve with the factor for its coarse
# pixels' columns, n^2 x n/4 (a frame has a quarter of the fine pixels), so two cost about 1.5 factors (n^3/3) more:
# with 4, the check took 9-11 CPU-s at 64^2, as much as the weight search (docs/superres.md, "Thirteenth round").
HELD_OUT_FRAMES = 2


def bicubic_image(model) -> torch.Tensor:
    """Frame 0 upsampled to the fine grid by bicubic convolution (pixel centres aligned), (n,)."""
    f0 = model.frames[0][None, None]
    return torch.nn.functional.interpolate(f0, size=tuple(model.fine.m), mode="bicubic",
                                           align_corners=False)[0, 0].reshape(-1)


def held_out_frames(model, w: torch.Tensor, factor: torch.Tensor | None = None) -> dict[str, float]:
    """{frames_check_ratio, frames_check_answer, frames_check_bicubic, frames_check_frames} at motion w and the
    model's weight (module docstring); {} beyond WEIGHT_CHOLESKY_MAX_PIXELS or without a moved frame. factor: the
    lower Cholesky factor of the normal matrix at w and that weight when the caller has it (the weight search's
    at the final motion), else formed here."""
    if model.n > WEIGHT_CHOLESKY_MAX_PIXELS or model.q < 1:
        return {}
    w = w.detach()
    frames = list(range(1, min(model.q, HELD_OUT_FRAMES) + 1))
    if factor is None:
        factor = torch.linalg.cholesky(model.normal_matrix(w))  # h_d A^T A + lambda^2 h_f L^T L
    rhs = model.operator(w, fixed=True).rmatvec(model.b)  # h_d A^T d (matrix-free: the dense one is q n^2 / 4)
    f = torch.cholesky_solve(rhs[:, None], factor)[:, 0]
    rows = model.moved_rows(w, frames)  # (K, nc, n), frame units
    data = (model.frames * model.data_mask())[frames].reshape(len(frames), -1)
    f_bic = bicubic_image(model)
    h_d = model.coarse.cell_volume
    answer = bicubic = 0.0
    for p_k, d_k in zip(rows, data):
        r_k = d_k - p_k @ f
        half = torch.linalg.solve_triangular(factor, p_k.T, upper=False)  # L^-1 P_k^T: H_kk = h_d half^T half
        hat = h_d * half.T @ half  # (nc, nc); dropped pixels' rows are zero
        eye = torch.eye(hat.shape[0], dtype=hat.dtype, device=hat.device)
        answer += float(torch.linalg.solve(eye - hat, r_k).pow(2).sum())
        bicubic += float((p_k @ f_bic - d_k).pow(2).sum())
    ratio = answer / bicubic if bicubic > 0 else math.nan
    return {"frames_check_ratio": ratio, "frames_check_answer": answer, "frames_check_bicubic": bicubic,
            "frames_check_frames": float(len(frames))}
