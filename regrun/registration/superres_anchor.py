"""The frames' common motion after the joint solve: frame 0 anchored again (problem.reanchor: one Gauss-Newton step
of that motion) and the pre-registration's taken where the joint solve drifted (problem.common_from_start).

In the joint objective frame 0 sits at the identity and only its rows pin where the frames lie together: moving
every other frame by one affine V and the image with them leaves their rows unchanged, so that common motion is
set by frame 0's rows alone (and the regulariser). The image-fixed LM (varpro_cg's default beyond Cholesky's
sizes) sees that direction as steep (moving the frames without the image changes their rows) and hardly moves
along it; on the scaling run's sets most of the motion error was that common part (docs/superres.md, "Nineteenth
round (srmotion2)"). So, after LM: register frame 0 to the image at the final motion (image fixed, frame 0's
rows, an affine V from the identity), re-express every frame's motion in the image's frame, T_j <- V^-1 T_j (the
image f'(z) = f(V z) then shows frame 0 at the identity), project the image again, and keep the new motion only
where the projected objective is lower.

problem.common_from_start: on smooth scenes seen through many frames the joint objective's own minimum puts the
frames together 0.1-0.2 px off (its common motion; the frames' relative motions it fits better than the
pre-registration): the regulariser and frame 0's rows alone pin that direction, and the projected objective
prefers the drift, so the step above is not kept there (docs/superres.md, "The joint solve's motion bias on many
smooth frames (srbias)"). Neither the moved frames held out nor frame 0 held out
(superres_check.frame0_residual) tell the drift: both predict better at the joint solve's motion. The pre-registration
registers every frame to frame 0 directly, without the regulariser: its common motion is taken (every frame's
parameters moved by the mean difference) where the two disagree on it far more than frame by frame."""
from __future__ import annotations

import time

import torch

from ..imaging.interpolation import SeparableStencil
from ..imaging.transforms import affine, affine_identity, affine_inverse
from ..linalg.differences import pool

ANCHOR_ITERS = 5  # Gauss-Newton steps of frame 0's registration (from the identity; V is ~0.01 px there)
ANCHOR_STEP_TOL = 1e-12  # stop when no parameter moves by more (domain units)


def frame0_affine(model, f: torch.Tensor, iters: int = ANCHOR_ITERS) -> torch.Tensor | None:
    """argmin_V ||pool(S(V) f) - d_0||^2 over the affine V (6,) with the image f fixed: Gauss-Newton from the
    identity on frame 0's rows (every pixel of frame 0 is data). None where its normal matrix is singular (a flat
    frame 0: nothing pins the common motion)."""
    n1, n2 = model.fine.m
    coef = model.coef.apply(f.detach().reshape(n1, n2))
    x1, x2 = model.x[:, 0], model.x[:, 1]
    d0 = model.frames[0].flatten()
    v = affine_identity(model.dtype, model.device)
    for _ in range(iters):
        st = SeparableStencil.at(model.fine, affine(v[None, None, :], model.x), with_gradient=True,
                                 edge=model.edge)
        g = st.gather_gradient(coef)[0]
        g1, g2 = g[..., 0], g[..., 1]
        jac = pool(torch.stack((g1 * x1, g1 * x2, g2 * x1, g2 * x2, g1, g2)).unflatten(-1, (n1, n2)),
                   model.factor).flatten(-2)  # (6, coarse pixels)
        r = pool(st.gather(coef).reshape(n1, n2), model.factor).flatten() - d0
        h = jac @ jac.T
        chol, info = torch.linalg.cholesky_ex(h)
        if int(info) != 0:
            return None
        step = -torch.cholesky_solve((jac @ r).unsqueeze(-1), chol).squeeze(-1)
        v = v + step
        if float(step.abs().max()) <= ANCHOR_STEP_TOL:
            break
    return v


def compose_inverse(model, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Every frame's affine in w (gains, with problem.gain, unchanged) replaced by V^-1 T_j."""
    vi = affine_inverse(v)
    a, c = vi[:4].reshape(2, 2), vi[4:]
    t = w.detach().reshape(model.q, model.stride).clone()
    m = a @ t[:, :4].reshape(-1, 2, 2)  # (q, 2, 2)
    b = t[:, 4:6] @ a.T + c
    t[:, :4] = m.reshape(-1, 4)
    t[:, 4:6] = b
    return t.reshape(-1)


def reanchor(model, rfun, w: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """w (affine, the model's parameters) after one common-motion step, or w itself where the projected objective
    ||A(w) f(w) - b||^2 (rfun's projection, regulariser rows included) does not fall; with the step's statistics:
    its size (the RMS move of the fine points, domain units), the objective's relative change, and whether it
    was kept."""
    r0 = rfun.residual(w)
    j0 = float(r0 @ r0)
    v = frame0_affine(model, rfun.last_f)
    if v is None:
        return w, {"reanchor_kept": 0.0, "reanchor_move": 0.0, "reanchor_rel_change": 0.0}
    move = float((affine(v[None, :], model.x) - model.x).pow(2).sum(-1).mean().sqrt())
    w1 = compose_inverse(model, v, w)
    r1 = rfun.residual(w1)
    j1 = float(r1 @ r1)
    stats = {"reanchor_move": move, "reanchor_rel_change": (j1 - j0) / j0}
    if j1 < j0:
        return w1, {**stats, "reanchor_kept": 1.0}
    rfun.residual(w)  # the projection at w again: the caller's image and operator are w's
    return w, {**stats, "reanchor_kept": 0.0}


# common_from_start acts where the pre-registration and the joint solve disagree on the frames' common motion by at
# least this many times the RMS of their disagreement frame by frame (the rest): independent per-frame errors of the
# pre-registration would put its common part near rest / sqrt(q). Dev sets (srbias, 14 of bench_lambda_sr's, 8-32
# frames, 16-32 px frames): smooth terrain 3.45-3.62, every other scene 0.03-1.48; held out (16 sets): terrain
# 2.10-3.67 (acted on 3, +0.46, +0.35, -0.09 dB), the others 0.21-1.67 (docs/superres.md, "srbias").
COMMON_DISAGREEMENT = 2.5
# ... and only with at least this many moved frames (8 frames, the fewest measured): with one the rest is zero and
# with a few it says little about the frames' own scatter
COMMON_MIN_MOVED = 7


def with_common_of(model, w: torch.Tensor, w_from: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """w with w_from's common motion: every frame's affine parameters moved by the mean over frames of (w_from - w)
    (the points' displacement is linear in them, so every frame's points move by the mean difference; gains
    unchanged), and how the two disagree at the fine points (domain units): the RMS of the mean displacement
    difference over frames (common) and of the rest, frame by frame."""
    a, b = w.detach().reshape(model.q, model.stride), w_from.detach().reshape(model.q, model.stride)
    out = a.clone()
    out[:, :6] += (b[:, :6] - a[:, :6]).mean(0)
    d = model.warp_points(w_from.detach()) - model.warp_points(w.detach())  # (q, points, 2)
    common = d.mean(0)
    return out.reshape(-1), {"common": float(common.pow(2).sum(-1).mean().sqrt()),
                             "rest": float((d - common).pow(2).sum(-1).mean().sqrt())}


def common_from_start(model, rfun, w: torch.Tensor, w_start: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """w with the start's common motion (with_common_of) where the two disagree on it by at least
    COMMON_DISAGREEMENT times their disagreement frame by frame (with COMMON_MIN_MOVED moved frames or more), else w; with the statistics (domain units) and
    whether it was taken (and its CPU seconds). rfun: the solver's projection, left at the motion returned."""
    c0 = time.process_time()
    w1, d = with_common_of(model, w, w_start)
    taken = model.q >= COMMON_MIN_MOVED and d["common"] >= COMMON_DISAGREEMENT * d["rest"]
    if taken:
        rfun.residual(w1)
    stats = {"common_start_move": d["common"], "common_start_rest": d["rest"], "common_start_kept": float(taken),
             "common_start_s": time.process_time() - c0}
    return (w1 if taken else w), stats
