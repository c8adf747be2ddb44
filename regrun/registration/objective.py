"""The pointwise registration objective: one kernel for every parametric registration in regrun.

For a batch of B parameter vectors w_b (n_params each) and points x_i,

    J_b(w) = sum_i s_bi (T(y(x_i; w_b)) - R_bi)^2,      s_bi = scale * omega_bi / (1 or sum_i omega_bi)

with T an image model (regrun.registration.image_model: values and spatial derivatives at points), y a
transformation (regrun.imaging.transforms: points, dy_dw and d2y_dw2), R the reference values and omega >= 0
per-point weights (a mask: points left out of J get 0). `normalization="sum"` keeps scale * sum (seed 000's
h1 h2 ||.||^2 with scale = cell volume); "mean" divides by the weight actually used, so a tolerance means the
same on any image size or mask. The residual is r_bi = sqrt(s_bi) (T(y_bi) - R_bi), so J_b = ||r_b||^2.

The residual at x_i depends on w only through its own y_i. So one reverse sweep of sum_i T(y_i) gives every
spatial gradient grad T(y_i) (and one sweep per coordinate every spatial Hessian), and the chain rule with the
transformation's analytic dy/dw assembles the w-derivatives:

    jacobian  d r_bi / dw = sqrt(s_bi) grad T(y_bi)^T dy/dw
    gradient  2 J^T r
    Hessian   2 J^T J + 2 sum_i s_bi (T - R)_bi [dy/dw^T (hess T) dy/dw + sum_k dT/dy_k d2y_k/dw2]

Same values as torch.func over the whole map (tested), 2-8x cheaper on these sizes.

Weights may be a tensor (N,) / (B, N) or a callable of the warped points y (B, N, 2) -> (B, N), e.g. a mask of
the points whose y falls inside the template (ITK's semantics). A callable's weights are treated as constant in
w: a hard mask is piecewise constant, so its derivative is zero wherever it is defined.

Weights that move with w must enter the derivatives, or an optimizer converges to a point where the gradient
it is given vanishes, which is not a minimiser of J: `SmoothWeights` (omega = s(y)^2 with the derivative of s,
e.g. `EdgeTaper`) do, and so does the mean's denominator sum_i omega_i(w). Then

    r_bi = sqrt(scale / S_b) s_bi d_bi,   S_b = sum_i s_bi^2 ("mean") or 1 ("sum"),
    d r_bi / dw = sqrt(scale / S_b) [s_bi grad d_bi + d_bi grad s_bi] - r_bi / (2 S_b) dS_b/dw.

(docs/registration.md, "Where the extra error came from": with a 0.5-cell taper left out of the derivatives,
LM stopped 0.02-0.09 px from the truth at points where J was 2-18% above J at the truth.)
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch

from ..errors import check_choice
from ..imaging.transforms import Transformation
from .image_model import ImageModel, model_derivatives

NORMALIZATIONS = ("sum", "mean")
INTENSITIES = ("fixed", "affine")


class SmoothWeights(Protocol):
    """Per-point weights omega = s(y)^2 that depend smoothly on the warped points y (B, N, 2)."""

    def root(self, y: torch.Tensor) -> torch.Tensor:
        """s (B, N), differentiable in y by autograd."""

    def root_and_gradient(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """s (B, N) and ds/dy (B, N, 2), not differentiable."""


class EdgeTaper:
    """omega = s^2 with s rising from 0 at the edge of a grid's domain to 1 at `width` cells inside it by a
    smoothstep 3t^2 - 2t^3 of t = depth / width (depth: cells to the nearest edge): the points whose y falls
    outside the template are left out of J (ITK's semantics) and J is C^1 in w, its derivatives exact."""

    def __init__(self, grid, width: float, inset: float = 0.0, fixed: torch.Tensor | None = None):
        """inset: s = 0 up to this many cells inside the edge (values there are unreliable, e.g. a blur's
        replicated border); fixed: a factor (N,) per point, constant in w, multiplying s."""
        self.grid, self.width, self.inset, self.fixed = grid, float(width), float(inset), fixed

    def _depth(self, y: torch.Tensor):
        """t = depth / width clamped to [0, 1] and d depth / dy (cells per domain unit: +-1/h on the nearer
        edge of the nearer coordinate)."""
        depth, slope = None, None
        for k in range(2):
            lo, hi, h = self.grid.omega[2 * k], self.grid.omega[2 * k + 1], self.grid.h[k]
            below, above = (y[..., k] - lo) / h, (hi - y[..., k]) / h
            d = torch.minimum(below, above)
            g = ((below <= above).to(y.dtype) * 2 - 1) / h  # in y's dtype (torch.where of floats is float32)
            gk = torch.stack((g, torch.zeros_like(g)) if k == 0 else (torch.zeros_like(g), g), -1)
            if depth is None:
                depth, slope = d, gk
            else:
                nearer = d < depth
                depth, slope = torch.where(nearer, d, depth), torch.where(nearer[..., None], gk, slope)
        return ((depth - self.inset) / self.width).clamp(0.0, 1.0), slope / self.width

    def root(self, y: torch.Tensor) -> torch.Tensor:
        t, _ = self._depth(y)
        s = t * t * (3 - 2 * t)
        return s if self.fixed is None else s * self.fixed

    def root_and_gradient(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            t, slope = self._depth(y.detach())
            s, ds = t * t * (3 - 2 * t), (6 * t * (1 - t))[..., None] * slope
            if self.fixed is not None:
                s, ds = s * self.fixed, ds * self.fixed[..., None]
            return s, ds

    def root_gradient_hessian(self, y: torch.Tensor):
        """s (B, N), ds/dy (B, N, 2) and d2s/dy2 (B, N, 2, 2) = s''(t) (dt/dy)(dt/dy)^T (the depth is piecewise
        linear in y; s'' = 6 - 12 t inside the taper, 0 where t is clamped), not differentiable."""
        with torch.no_grad():
            t, slope = self._depth(y.detach())
            s, ds = t * t * (3 - 2 * t), (6 * t * (1 - t))[..., None] * slope
            inside = ((t > 0) & (t < 1)).to(y.dtype)
            d2s = ((6 - 12 * t) * inside)[..., None, None] * slope[..., :, None] * slope[..., None, :]
            if self.fixed is not None:
                s, ds, d2s = s * self.fixed, ds * self.fixed[..., None], d2s * self.fixed[..., None, None]
            return s, ds, d2s

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """omega itself, for code that only needs the weights' values."""
        return self.root(y) ** 2


Weights = torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | SmoothWeights | None


def _as_batch(t: torch.Tensor, trailing: int) -> torch.Tensor:
    """Give t a leading batch dimension (of 1) when it has only its `trailing` dimensions."""
    return t.unsqueeze(0) if t.dim() == trailing else t


class PointwiseObjective:
    """J, residual, gradient, Jacobian, Gauss-Newton matrix and exact Hessian of a pointwise registration
    objective, batched over a leading dimension B of w (w of shape (p,) gives unbatched results).

    x: points (N, 2) shared by the batch or (B, N, 2) per item; reference: values (N,) or (B, N). For an image
    model with C channels (values (B, N, C)), pass `channels=C` and reference (N, C) or (B, N, C): channels
    count as more residuals at the same points, weights stay per point. Residuals and Jacobians then have
    N * C rows (point-major).

    The derivative methods take `create_graph`: False (for optimizers) detaches w; True keeps the graph through
    w and the image model's derivatives, for unrolled iterations that are differentiated end to end (it needs an
    image model whose derivatives are differentiable, e.g. analytic ones)."""

    def __init__(self, image: ImageModel, transform: Transformation, x: torch.Tensor, reference: torch.Tensor,
                 *, weights: Weights = None, normalization: str = "sum", scale: float = 1.0,
                 channels: int | None = None, intensity: str = "fixed"):
        check_choice("normalization", normalization, NORMALIZATIONS)
        check_choice("intensity", intensity, INTENSITIES)
        self.intensity = intensity
        self.image = image
        self.transform = transform
        self.x = _as_batch(x, 2)
        self.channels = channels
        self.reference = _as_batch(reference, 1 if channels is None else 2)
        n_points = self.x.shape[-2]
        if channels is not None:
            if self.reference.shape[-2:] != (n_points, channels):
                raise ValueError(f"reference {tuple(reference.shape)} should end in (points, channels) = "
                                 f"({n_points}, {channels})")
            self.reference = self.reference.flatten(-2)
        elif self.reference.shape[-1] != n_points:
            raise ValueError(f"reference has {self.reference.shape[-1]} values for {n_points} points")
        self.weights = _as_batch(weights, 1) if isinstance(weights, torch.Tensor) else weights
        self.smooth_weights = weights if hasattr(weights, "root_and_gradient") else None
        self.normalization = normalization
        self.scale = float(scale)
        self.n_params = transform.n_params
        # dy/dw does not depend on w for transformations linear in w: form it once
        self._dy_dw = None
        if transform.linear_in_w:
            identity = transform.identity(x.dtype, x.device)[None, None, :]
            self._dy_dw = self._fold_points(transform.dy_dw(identity, self.x))

    # ---- pieces -------------------------------------------------------------------------------------------
    def points(self, w: torch.Tensor) -> torch.Tensor:
        """Warped points y (B, N, 2) for w (B, p)."""
        return self.transform.points(w[:, None, :], self.x)

    def _fold_points(self, t: torch.Tensor) -> torch.Tensor:
        """Repeat a per-point tensor (B, N, ...) for every channel: (B, N * C, ...)."""
        if self.channels is None:
            return t
        shape = t.shape
        return t.unsqueeze(2).expand(*shape[:2], self.channels, *shape[2:]).flatten(1, 2)

    def point_scale(self, y: torch.Tensor) -> torch.Tensor | float:
        """s_bi of the module docstring at warped points y: a float when every point counts the same."""
        per_value = 1 if self.channels is None else self.channels
        if self.weights is None:
            if self.normalization == "sum":
                return self.scale
            return self.scale / (self.x.shape[-2] * per_value)
        omega = self.weights(y.detach()) if callable(self.weights) else self.weights
        if self.normalization == "mean":
            omega = omega / (per_value * omega.sum(-1, keepdim=True)).clamp_min(torch.finfo(omega.dtype).tiny)
        return self.scale * self._fold_points(omega)

    def _dy(self, w: torch.Tensor) -> torch.Tensor:
        if self._dy_dw is not None:
            return self._dy_dw
        return self._fold_points(self.transform.dy_dw(w[:, None, :], self.x))

    def _d2y(self, w: torch.Tensor) -> torch.Tensor | None:
        d2 = self.transform.d2y_dw2(w[:, None, :], self.x)
        return None if d2 is None else self._fold_points(d2)

    def _image(self, y: torch.Tensor) -> torch.Tensor:
        t = self.image(y)
        return t if self.channels is None else t.flatten(-2)

    def _derivatives(self, y: torch.Tensor, order: int):
        t, gy, hy = model_derivatives(self.image, y, order)
        if self.channels is not None:
            t, gy = t.flatten(1, 2), gy.flatten(1, 2)
            hy = None if hy is None else hy.flatten(1, 2)
        return t, gy, hy

    @staticmethod
    def _chain(gy: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
        """grad T^T dy/dw per point, (B, N, p), as two broadcast products: with a torch.einsum this contraction
        of length 2 was a batched matmul of (1 x 2) by (2 x p) blocks, about 4x slower at 128^2."""
        return gy[..., 0, None] * dy[..., 0, :] + gy[..., 1, None] * dy[..., 1, :]

    @staticmethod
    def _unbatch(w: torch.Tensor) -> tuple[torch.Tensor, bool]:
        return (w.unsqueeze(0), True) if w.dim() == 1 else (w, False)

    # ---- differentiable values (torch.func can take derivatives of these) ----------------------------------
    def _smooth_root(self, y: torch.Tensor) -> torch.Tensor:
        """sqrt(scale / S_b) s_bi (B, N * C) for smooth weights, differentiable in y."""
        s = self._fold_points(self.smooth_weights.root(y))
        if self.normalization == "sum":
            return self.scale**0.5 * s
        return (self.scale / (s * s).sum(-1, keepdim=True).clamp_min(torch.finfo(s.dtype).tiny)).sqrt() * s

    def _difference(self, t: torch.Tensor, omega: torch.Tensor | float):
        """(d = a T + b - R, a): a = 1, b = 0 for intensity="fixed"; for "affine" the omega-weighted least-squares
        gain a and offset b of each item (B, 1), differentiable in t. J is then minimised over a and b for every
        w (variable projection): J = sum omega (R - mean R)^2 (1 - rho^2) with rho the weighted correlation of T(y)
        and R, ITK's correlation metric up to that constant. By the envelope theorem (dJ/da = dJ/db = 0 at the
        optimum) the gradient holds a and b fixed: the chain rule below scales grad T by a, nothing more."""
        if self.intensity == "fixed":
            return t - self.reference, 1.0
        omega = torch.as_tensor(omega, dtype=t.dtype, device=t.device).expand_as(t)
        total = omega.sum(-1, keepdim=True).clamp_min(torch.finfo(t.dtype).tiny)
        mean_t = (omega * t).sum(-1, keepdim=True) / total
        mean_r = (omega * self.reference).sum(-1, keepdim=True) / total
        tc = t - mean_t
        var_t = (omega * tc * tc).sum(-1, keepdim=True)
        gain = (omega * tc * (self.reference - mean_r)).sum(-1, keepdim=True) / var_t.clamp_min(torch.finfo(t.dtype).tiny)
        return gain * tc + mean_r - self.reference, gain

    @staticmethod
    def _scaled(gy: torch.Tensor, gain) -> torch.Tensor:
        return gy if isinstance(gain, float) else gain[..., None] * gy

    def residual(self, w: torch.Tensor) -> torch.Tensor:
        """r (B, N), differentiable in w."""
        wb, single = self._unbatch(w)
        y = self.points(wb)
        if self.smooth_weights is not None:
            root = self._smooth_root(y)
            r = root * self._difference(self._image(y), root * root)[0]
            return r[0] if single else r
        s = self.point_scale(y)
        r = (s**0.5 if isinstance(s, float) else s.sqrt()) * self._difference(self._image(y), s)[0]
        return r[0] if single else r

    def value(self, w: torch.Tensor) -> torch.Tensor:
        """J (B,), differentiable in w."""
        if self.smooth_weights is not None:
            r = self.residual(w)
            return (r * r).sum(-1)
        wb, single = self._unbatch(w)
        y = self.points(wb)
        s = self.point_scale(y)
        d = self._difference(self._image(y), s)[0]
        j = (s * d * d).sum(-1)
        return j[0] if single else j

    # ---- derivatives by the pointwise chain rule ----------------------------------------------------------
    def value_and_grad(self, w: torch.Tensor, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """J (B,) and its gradient (B, p)."""
        if self.smooth_weights is not None:
            r, jac = self.residual_and_jacobian(w, create_graph)
            return (r * r).sum(-1), 2 * (jac.transpose(-1, -2) @ r.unsqueeze(-1)).squeeze(-1)
        wb, single = self._unbatch(w)
        y = self.points(wb if create_graph else wb.detach())
        t, gy, _ = self._derivatives(y, 1)
        s = self.point_scale(y)
        d, gain = self._difference(t, s)
        gy = self._scaled(gy, gain)
        sd = s * d
        value = (sd * d).sum(-1)
        # sum_i sd_i grad T_i^T dy_i as one (1 x 2N) (2N x p) product per item
        dy = self._dy(wb)
        v = (sd.unsqueeze(-1) * gy).reshape(d.shape[0], 1, -1)
        g = 2 * (v @ dy.reshape(dy.shape[0], -1, self.n_params)).squeeze(-2)
        return (value[0], g[0]) if single else (value, g)

    def _first_order(self, wb: torch.Tensor, create_graph: bool = False):
        """(d = T(y) - R, grad T(y), sqrt(s)) at the warped points of wb (B, p); for smooth weights
        (d, grad T(y), (sqrt(scale / S) (B, 1), s, ds/dy))."""
        y = self.points(wb if create_graph else wb.detach())
        t, gy, _ = self._derivatives(y, 1)
        if self.smooth_weights is not None:
            if create_graph:
                raise ValueError("create_graph=True needs weights that are a tensor or a mask (no SmoothWeights)")
            s, gs = self.smooth_weights.root_and_gradient(y)
            s, gs = self._fold_points(s), self._fold_points(gs)
            total = (s * s).sum(-1, keepdim=True) if self.normalization == "mean" else torch.ones_like(s[..., :1])
            root = (self.scale / total.clamp_min(torch.finfo(s.dtype).tiny)).sqrt()
            d, gain = self._difference(t, s * s)
            return d, self._scaled(gy, gain), (root, s, gs)
        s = self.point_scale(y)
        d, gain = self._difference(t, s)
        return d, self._scaled(gy, gain), (s**0.5 if isinstance(s, float) else s.sqrt())

    def trial_residual(self, w: torch.Tensor) -> torch.Tensor:
        """r (B, N) at an optimizer's trial point, not differentiable. The spatial gradients come with the values
        at little extra cost and are kept: when the step is accepted, `residual_and_jacobian` at the same w
        (compared exactly) reuses them instead of evaluating the image again (LM's trial-then-linearize)."""
        wb, single = self._unbatch(w.detach())
        with torch.no_grad():
            pieces = self._first_order(wb)
        self._trial = (wb.clone(), pieces)
        root = pieces[2]
        r = (root[0] * root[1] if isinstance(root, tuple) else root) * pieces[0]
        return r[0] if single else r

    def residual_and_jacobian(self, w: torch.Tensor, create_graph: bool = False):
        """r (B, N) and d r / dw (B, N, p)."""
        wb, single = self._unbatch(w)
        trial = getattr(self, "_trial", None)
        if not create_graph and trial is not None and trial[0].shape == wb.shape and torch.equal(trial[0], wb):
            d, gy, root = trial[1]
        else:
            d, gy, root = self._first_order(wb, create_graph)
        if isinstance(root, tuple):
            r, jac = self._smooth_jacobian(wb, d, gy, *root)
            return (r[0], jac[0]) if single else (r, jac)
        jy = self._chain(gy, self._dy(wb))
        r, jac = root * d, (root * jy) if isinstance(root, float) else root[..., None] * jy
        return (r[0], jac[0]) if single else (r, jac)

    def _smooth_jacobian(self, wb, d, gy, root, s, gs):
        """r and dr/dw for smooth weights (module docstring): the weights' and the mean's derivatives included."""
        dy = self._dy(wb)
        r = root * s * d
        jac = root[..., None] * (s[..., None] * self._chain(gy, dy) + d[..., None] * self._chain(gs, dy))
        if self.normalization == "mean":
            # S = sum s^2 = scale / root^2; dS/dw = 2 sum_i s_i ds_i/dw
            ds_total = 2 * ((s[..., None] * self._chain(gs, dy)).sum(-2))
            jac = jac - (r * root**2 / (2 * self.scale))[..., None] * ds_total[:, None, :]
        return r, jac

    def jacobian(self, w: torch.Tensor) -> torch.Tensor:
        return self.residual_and_jacobian(w)[1]

    def gauss_newton(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """J (B,), gradient 2 J^T r (B, p) and the Gauss-Newton matrix J^T J (B, p, p) (half the GN Hessian)."""
        r, jac = self.residual_and_jacobian(w)
        jtj = jac.transpose(-1, -2) @ jac
        return (r * r).sum(-1), 2 * (jac.transpose(-1, -2) @ r.unsqueeze(-1)).squeeze(-1), jtj

    def hessian(self, w: torch.Tensor) -> torch.Tensor:
        """The exact Hessian of J (B, p, p)."""
        return self.value_grad_hessian(w)[2]

    def value_grad_hessian(self, w: torch.Tensor):
        wb, single = self._unbatch(w)
        if self.smooth_weights is not None or self.intensity == "affine":
            # the weights' (or the fitted gain's) derivatives too: autograd over the differentiable J
            wd = wb.detach()
            value, g = self.value_and_grad(wd)
            h = torch.autograd.functional.hessian(lambda v: self.value(v).sum(), wd)
            h = torch.stack([h[b, :, b, :] for b in range(wd.shape[0])])
            return (value[0], g[0], h[0]) if single else (value, g, h)
        y = self.points(wb.detach())
        t, gy, hy = self._derivatives(y, 2)
        d = t - self.reference
        n_batch, n_points = d.shape
        dy = self._dy(wb).expand(n_batch, n_points, 2, self.n_params)
        s = self.point_scale(y)
        sd = (s * d).expand_as(d)
        jy = self._chain(gy, dy)
        sjy = (s * jy) if isinstance(s, float) else s[..., None] * jy
        value = (sd * d).sum(-1)
        g = 2 * (sjy.transpose(-1, -2) @ d.unsqueeze(-1)).squeeze(-1)
        # sum_i sd_i dy_i^T (hess T)_i dy_i as one (2N x p)^T (2N x p) product per item
        weighted = (sd[..., None, None] * hy) @ dy
        curv = dy.reshape(n_batch, 2 * n_points, -1).transpose(-1, -2) @ weighted.reshape(n_batch, 2 * n_points, -1)
        d2 = self._d2y(wb)
        if d2 is not None:
            curv = curv + torch.einsum("bn,bnk,bnkpq->bpq", sd, gy, d2)
        h = 2 * (sjy.transpose(-1, -2) @ jy + curv)
        return (value[0], g[0], h[0]) if single else (value, g, h)
