"""The motion model of super-resolution (problem.motion_model): translation, rigid or affine motions of the frames,
each held as the affine w = (A11, A12, A21, A22, b1, b2) the forward model uses (y = A x + b).

The model (SuperResModel) and every projection work on affine motions; a restricted model is a map p -> w(p)
per frame (translation: 2 parameters, rigid: 3 about the domain centre, affine: the 6 themselves), and the
Gauss-Newton solvers work on p with the chain rule J_p = J_w dw/dp (dw/dp block diagonal, 6 x d per frame).
With problem.gain each frame's parameters end with its intensity gain, carried unchanged into the model's w
(7 per frame: SuperResModel), so dw/dp gains a 1 on the diagonal.
"""
from __future__ import annotations

import torch

from ..errors import check_choice
from ..imaging.transforms import transformation

MOTION_MODELS = ("translation", "rigid", "affine")  # problem.motion_model (configs/problem/superres.yaml)


class MotionModel:
    """p (d q,) <-> the affine motions w (6 q,) of q frames. Affine is the identity map (the paper's model,
    seed 000's parameterization with no centre); rigid rotates about `centre` (the reference's centre, where
    a camera's roll acts), so its angle and shift do not trade off against each other."""

    def __init__(self, name: str, centre, q: int, gain: bool = False):
        check_choice("problem.motion_model", name, MOTION_MODELS)
        self.name = name
        self.q = q
        self.gain = bool(gain)
        self.transform = transformation(name, None if name == "affine" else centre)
        self.d = self.transform.n_params + self.gain  # per frame: the motion's, then the gain
        self.n_params = self.d * q

    @property
    def is_affine(self) -> bool:
        return self.name == "affine"

    def identity(self, dtype=torch.float64, device=None) -> torch.Tensor:
        one = torch.ones(int(self.gain), dtype=dtype, device=device)
        return torch.cat((self.transform.identity(dtype, device), one)).repeat(self.q)

    def _frame_affine(self, p: torch.Tensor) -> torch.Tensor:
        """One frame's (..., d) parameters -> (..., 6): y = M (x - c) + c + b = M x + (b + c - M c)."""
        m, b = self.transform.matrix_and_shift(p)
        if self.transform.center is not None:
            c = torch.tensor(self.transform.center, dtype=p.dtype, device=p.device)
            b = b + c - (m @ c.unsqueeze(-1)).squeeze(-1)
        return torch.cat((m.flatten(-2), b), -1)

    def to_affine(self, p: torch.Tensor) -> torch.Tensor:
        """p -> the model's w: the affine motions (and the gains, unchanged, with problem.gain)."""
        if self.is_affine:
            return p
        t = p.reshape(self.q, self.d)
        if not self.gain:
            return self._frame_affine(t).reshape(-1)
        return torch.cat((self._frame_affine(t[:, :-1]), t[:, -1:]), 1).reshape(-1)

    def blocks(self, p: torch.Tensor) -> torch.Tensor:
        """dw_j/dp_j for every frame, (q, 6, d) (frame j's affine depends on its own parameters only), from the
        transformation's own dy/dp: y(x) = M x + b' is affine in x, so b' = y(0) and M's column k is
        y(e_k) - y(0), and their derivatives are dy/dp at those three points."""
        pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=p.dtype, device=p.device)
        t = p.detach().reshape(self.q, self.d)
        dm = self.d - self.gain
        dy = self.transform.dy_dw(t[:, :dm].reshape(self.q, 1, dm), pts)  # (q, 3, 2, d)
        d0, d1, d2 = dy[:, 0], dy[:, 1] - dy[:, 0], dy[:, 2] - dy[:, 0]
        # w = (M11, M12, M21, M22, b1, b2): row i of M is (dy_i/dx1, dy_i/dx2)
        out = torch.stack((d1[:, 0], d2[:, 0], d1[:, 1], d2[:, 1], d0[:, 0], d0[:, 1]), 1)
        if self.gain:  # the gain passes through: a 1 on the diagonal
            out = torch.nn.functional.pad(out, (0, 1, 0, 1))
            out[:, 6, dm] = 1.0
        return out

    def dense_jacobian(self, p: torch.Tensor) -> torch.Tensor:
        """dw/dp, (6 q, d q), block diagonal."""
        return torch.block_diag(*self.blocks(p))


# A frame's motion is out of any plausible range where its linear part scales the frame by more than this factor
# (or less than its inverse) along some direction. A camera's shake, roll or drift scales by ~1, but the joint
# solve on 20 px frames ends some frames' motions at 3x along one axis on sets it answers well (dev clock 20^2/16
# s7321: 3.2 and 2.8, 35.67 dB; docs/sweeps.md, "srfew"), so the bound sits above that. Far beyond it the solve
# fits something else: on frames of 2-5 grey values a nearly constant frame fits the frames' level beyond the fine
# grid, zoomed 21x and moved 700 px (newuser9's camera at 2 values), and each product's patch grows with the zoom
# (35 x 30 coefficients against 6 x 6: 240 of 299 s in the Gram matrix's build).
MOTION_ZOOM_MAX = 4.0
# ... or where it moves the frame's centre by more than this many times the fine grid's longer side: the moved
# frame then sees nothing of the reference's field of view.
MOTION_SHIFT_MAX = 2.0


# An affine answer is implausible where a moved frame's area scale (det A in fine pixels) leaves [1/this, this]:
# the affine ladder's ends and answers outside it were 6.5-51 px off on all 22 seen and 15 held-out such frames,
# while true motions (camera shake, roll, drift) lie in 0.91-1.09 (docs/superres.md, "srscale"; "srlock" for its
# use in keep_first).
AREA_PLAUSIBLE = 2.0


def linear_parts(model, t: torch.Tensor) -> torch.Tensor:
    """(q, 2, 2) each moved frame's linear part A in fine pixels (H^-1 A H) from the affine parameters t (q, 6)."""
    h = torch.as_tensor(model.fine.h, dtype=t.dtype, device=t.device)
    return t[:, :4].reshape(-1, 2, 2) * h[None, None, :] / h[None, :, None]


def area_scales(model, w: torch.Tensor) -> dict[str, float]:
    """The answer's smallest and largest area scale over the moved frames (det A in fine pixels), as metrics
    motion_area_min and motion_area_max; none without moved frames."""
    if not model.q:
        return {}
    det = torch.linalg.det(linear_parts(model, model.split(w.detach())[0]))
    return {"motion_area_min": float(det.min()), "motion_area_max": float(det.max())}


def motion_excess(model, w: torch.Tensor) -> torch.Tensor:
    """(q,) how far each moved frame's affine motion lies out of the plausible range, as a ratio: the largest of
    its scale (singular values of A in fine pixels) over MOTION_ZOOM_MAX, its inverse, and its centre's move
    (fine pixels) over MOTION_SHIFT_MAX fine sides. At most 1: plausible."""
    t = model.split(w.detach())[0]
    h = torch.as_tensor(model.fine.h, dtype=t.dtype, device=t.device)
    sv = torch.linalg.svdvals(linear_parts(model, t))
    zoom = torch.maximum(sv[:, 0], 1.0 / sv[:, 1].clamp(min=1e-300)) / MOTION_ZOOM_MAX
    c = torch.tensor(model.fine.centre, dtype=t.dtype, device=t.device)
    moved = (t[:, :4].reshape(-1, 2, 2) @ c + t[:, 4:6] - c) / h
    shift = moved.norm(dim=-1) / (MOTION_SHIFT_MAX * max(model.fine.m))
    return torch.maximum(zoom, shift)


class MotionGuard:
    """A trial residual for LM that refuses (as not finite, which LM rejects as it does a rise of J, raising its
    damping) any trial motion taking a frame further out of the plausible range (motion_excess > 1) than the run's
    start had it: such steps are never built, and a frame the start already put out of range may not go further.
    Counts the steps it refused and the largest excess it saw."""

    def __init__(self, model, motion, residual, start: torch.Tensor):
        self.model, self.motion, self.residual = model, motion, residual
        self.allowed = motion_excess(model, motion.to_affine(start)).clamp(min=1.0)
        self.refused = 0
        self.worst = 1.0

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        if not bool(torch.isfinite(p).all()):
            # a trial step LM made from a non-finite Jacobian: not finite, as LM rejects it anyway; the singular
            # values of its motion raised instead ("linalg.svd: ... non-finite values", status failed: newuser10's
            # 8 frames of 24 x 36 saved frames last, read as 24 frames of 36 x 8)
            return torch.full((1,), float("inf"), dtype=p.dtype, device=p.device)
        excess = motion_excess(self.model, self.motion.to_affine(p))
        if bool((excess > self.allowed).any()):
            self.refused += 1
            self.worst = max(self.worst, float(excess.max()))
            return torch.full((1,), float("inf"), dtype=p.dtype, device=p.device)
        return self.residual(p)


def motion_range(model, w: torch.Tensor, guards: list[MotionGuard]) -> dict[str, float]:
    """The results file's record of the plausible range (metrics; none where every frame's final motion lies in
    it and no step was refused, so normal frames' metrics are unchanged): motion_steps_refused (all runs'),
    motion_excess (the final motion's largest, motion_excess) and motion_excess_frame (its frame, 1-based as
    the frames are counted after the reference)."""
    refused = sum(g.refused for g in guards)
    excess = motion_excess(model, w) if model.q else torch.zeros(1, dtype=w.dtype, device=w.device)
    if refused == 0 and float(excess.max()) <= 1.0:
        return {}
    return {"motion_steps_refused": float(refused), "motion_excess": float(excess.max()),
            "motion_excess_frame": float(int(excess.argmax()) + 1)}


def motion_range_warning(metrics: dict[str, float]) -> list[str]:
    """The user's line where varpro_cg refused steps or a second start for leaving the plausible range, or its
    answer's motion lies out of it (motion_range, plausible_second_start): the run ended in seconds where it
    took minutes, but its motion for such frames is no camera's."""
    refused, second = metrics.get("motion_steps_refused", 0.0), metrics.get("second_start_refused", 0.0)
    excess = metrics.get("motion_excess", 0.0)
    if not (refused or second or excess > 1.0):
        return []
    parts = []
    if excess > 1.0:
        parts.append(f"frame {int(metrics['motion_excess_frame'])}'s motion in the answer lies {excess:.3g}x out "
                     f"of any plausible range (a zoom beyond {MOTION_ZOOM_MAX:g}x or {1 / MOTION_ZOOM_MAX:g}x, or "
                     f"its centre moved more than {MOTION_SHIFT_MAX:g} frame side)")
    if refused:
        parts.append(f"{int(refused)} solver steps that took a frame further out were refused")
    if second:
        parts.append(f"a second start {second:.3g}x out was not run")
    return ["the motion: " + "; ".join(parts) + ". The frames do not pin each frame's motion down (seen on frames "
            "of 2-5 grey values: a nearly constant frame fits the frames' level beyond the image as well as it fits "
            "the scene): the answer's motion for such frames is not to be trusted"]
