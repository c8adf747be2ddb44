"""A fused template for the super-resolution pre-registration: the frames registered again, scale by scale, to the
least-squares image of all frames at the first motion instead of frame 0's spline (superres_start.fused_start)."""
from __future__ import annotations

import torch

from ..imaging.spline import SplineImage
from ..imaging.transforms import Affine

# The ladder's scales (SuperResModel.preregister's) and the fused image's weight in each round: on 24-px frames of
# sharp drawings frame 0's aliased spline is no template, the least-squares image at a coarse weight is
# (docs/superres.md, "A fused template for sharp drawings (srtemplate)").
FUSED_THETAS = (1e2, 1e1, 1.0, 1e-1, 1e-2, 1e-3)
FUSED_LAMS = (3.2, 0.8)
FIT_LAM = 3.2  # fit_objective's weight
FUSED_CG_ITERS = 300
FUSED_CG_RTOL = 1e-8


class BoxTemplate:
    """A fine image as a frame's pixel sees it at a point y: the mean of its spline (smoothed at theta) over the
    factor^2 fine cell centres of a coarse pixel centred at y (a frame pixel pools factor^2 fine cells: the
    forward model's pooling), an image model for regrun.registration.objective (values, gradients, Hessians)."""

    def __init__(self, f: torch.Tensor, fine, factor: int, theta=0.0):
        self.image = SplineImage(f.reshape(fine.m), fine, theta)
        o = [i - (factor - 1) / 2 for i in range(factor)]
        self.offsets = torch.tensor([(a * fine.h[0], b * fine.h[1]) for a in o for b in o], dtype=f.dtype,
                                    device=f.device)

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return sum(self.image(y + o) for o in self.offsets) / len(self.offsets)

    def derivatives(self, y: torch.Tensor, order: int = 1):
        parts = [self.image.derivatives(y + o, order) for o in self.offsets]
        return tuple(None if p[0] is None else sum(p) / len(parts) for p in zip(*parts))


def fused_image(model, w: torch.Tensor, lam: float) -> torch.Tensor:
    """The least-squares image at the affine motion w at the weight lam (CG from the fixed initial image); the
    model's own weight is put back."""
    kept = model.lam
    model.set_weight(lam)
    try:
        return model.solve(w.reshape(-1), FUSED_CG_ITERS, FUSED_CG_RTOL).x
    finally:
        model.set_weight(kept)


def fused_ladder(model, f: torch.Tensor, w: torch.Tensor, thetas=FUSED_THETAS) -> torch.Tensor:
    """Every moved frame registered to the fine image f (through BoxTemplate) from the affine motion w (q, 6),
    scale by scale (the frames at theta, f at theta factor^4 on the fine grid: the same reach in the domain's
    units), outside=drop with the wide edge taper (SMOOTH_EDGE); the motion (q, 6)."""
    for theta in thetas:
        template = BoxTemplate(f, model.fine, model.factor, theta * model.factor ** 4)
        w = model._register_scale(theta, 1, Affine(), w, None, True, 20, 1e-6, wide_edge=True,
                                  template=template)[0]
    return w


def fused_motion(model, w: torch.Tensor, lams=FUSED_LAMS) -> torch.Tensor:
    """From the affine motion w (q 6,): for each weight in lams the least-squares image at w and that weight, and
    every frame registered to it (fused_ladder); the motion (q 6,)."""
    w = w.reshape(model.q, 6)
    for lam in lams:
        w = fused_ladder(model, fused_image(model, w, lam), w)
    return w.reshape(-1)


def fit_objective(model, w: torch.Tensor, lam: float = FIT_LAM) -> float:
    """min over f of ||A(w) f - b||^2 + lam^2 ||grad f||^2 (every pixel kept; the model's weight put back): how
    well one image at motion w explains all frames."""
    f = fused_image(model, w, lam)
    kept = model.lam
    model.set_weight(lam)
    try:
        return float(model.residual(w.reshape(-1), f).pow(2).sum())
    finally:
        model.set_weight(kept)
