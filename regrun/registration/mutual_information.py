"""Mattes mutual information (Mattes et al. 2003, ITK's MattesMutualInformation) as a registration objective.

For a batch of parameter vectors w_b and reference points x_i with values R_i, the joint histogram is a Parzen
window estimate with cubic B-spline kernels beta (normalised: sum_a beta(xi - a) = 1 for every xi) on both axes,

    H_b(a, c) = sum_i omega_bi beta(xi_T(T(y_bi)) - a) beta(xi_R(R_i) - c),    p_b = H_b / sum_ac H_b,

with xi_T(v) = PAD + (v - lo_T) / width_T the continuous bin of an intensity (PAD = 2 empty bins each side hold
the kernel's support; values outside [lo_T, hi_T], a spline's overshoot, are clamped to the first/last bin) and
omega >= 0 per-point weights (the mask of the points whose y falls inside the template, EdgeTaper's smooth
weights, or a tensor). J = -MI = -sum_ac p log(p / (p_T p_R)), p_T and p_R the marginals.

J depends on w only through every point's own y_i (through T(y_i) and omega_i(y_i)), so its gradient is a sum of
pointwise terms, as in regrun.registration.objective: with G = dJ/dp = 1 - log(p / (p_T p_R)) (0 on empty bins),
E = dJ/dH = (G - sum_ac G p) / sum H (the normalisation's derivative included, which the moving weights need),

    dJ/dy_i = omega_i sum_ac E(a, c) beta'(xi_Ti - a) beta(xi_Ri - c) grad T(y_i) / width_T
              + sum_ac E(a, c) beta(xi_Ti - a) beta(xi_Ri - c) d omega_i / dy_i,
    dJ/dw   = sum_i dJ/dy_i^T dy_i / dw.

The value is differentiable by autograd (torch.func checks the gradient above; the Hessian, for a Newton solver,
is autograd's). MI is not a sum of squares: least-squares solvers (LM) do not apply; `least_squares` is False.
"""
from __future__ import annotations

import torch

from ..imaging.spline import bspline_kernel, bspline_kernel_derivative
from ..imaging.transforms import Transformation
from .image_model import ImageModel, model_derivatives

PAD = 2  # empty bins at each end: the cubic kernel's support is 2 bins either side of a value


def _bins(values: torch.Tensor, lo: float, width: float, n_bins: int):
    """Continuous bins xi (clamped to [PAD, n_bins - 1 - PAD]) and whether the clamp left xi free to move."""
    xi = PAD + (values - lo) / width
    free = (xi >= PAD) & (xi <= n_bins - 1 - PAD)
    return xi.clamp(PAD, n_bins - 1 - PAD), free


def _window(xi: torch.Tensor, derivative: bool = False):
    """The 4 bins a value touches (first bin (..., 1) long, then +0..3) and the kernel's values there (..., 4):
    beta(xi - a) = bspline_kernel / 6, the normalised cubic B-spline; with derivative, also beta'."""
    first = torch.floor(xi.detach()).long() - 1
    offsets = torch.arange(4, device=xi.device)
    t = xi[..., None] - (first[..., None] + offsets).to(xi.dtype)
    beta = bspline_kernel(t) / 6
    if not derivative:
        return first, beta
    return first, beta, bspline_kernel_derivative(t) / 6


def _kernel_second_derivative(t: torch.Tensor) -> torch.Tensor:
    """beta''(t) of the normalised cubic B-spline (continuous, piecewise linear)."""
    a = t.abs()
    return torch.where(a < 1, -2 + 3 * a, (2 - a).clamp(min=0))


class MattesMutualInformation:
    """J = -MI(T(y(x; w)), R) and its derivatives, batched over a leading dimension of w like PointwiseObjective.

    x: reference points (N, 2); reference: R at them (N,); template_range: (lo, hi) of the template's
    intensities (the bins of T(y)); weights: None, a tensor (N,), a callable of y (a hard mask, constant in w)
    or smooth weights (EdgeTaper: omega = s(y)^2, its derivative part of J's); bins: per image, PAD included."""

    least_squares = False

    def __init__(self, image: ImageModel, transform: Transformation, x: torch.Tensor, reference: torch.Tensor,
                 *, template_range: tuple[float, float], bins: int = 32, weights=None):
        if bins < 2 * PAD + 4:
            raise ValueError(f"bins={bins} must be at least {2 * PAD + 4} (PAD={PAD} empty bins each side)")
        self.image, self.transform, self.x = image, transform, x
        self.n_bins = int(bins)
        self.n_params = transform.n_params
        lo, hi = float(template_range[0]), float(template_range[1])
        if not hi > lo:
            raise ValueError(f"template_range {template_range} must have hi > lo")
        self.lo_t, self.width_t = lo, (hi - lo) / (self.n_bins - 1 - 2 * PAD)
        r_lo, r_hi = float(reference.min()), float(reference.max())
        width_r = max(r_hi - r_lo, 1e-300) / (self.n_bins - 1 - 2 * PAD)
        xi_r, _ = _bins(reference, r_lo, width_r, self.n_bins)
        first_r, self.beta_r = _window(xi_r)  # the reference's side is fixed: formed once
        # flat index a * n_bins + c of the 4 x 4 bins each point touches, without T's first bin a0 yet
        offsets = torch.arange(4, device=x.device)
        self._index_r = (first_r[..., None] + offsets)[..., None, :]  # (N, 1, 4)
        self.weights = weights
        self.smooth_weights = weights if hasattr(weights, "root_and_gradient") else None
        self._dy_dw = None
        identity = transform.identity(x.dtype, x.device)[None, None, :]
        dy_identity = transform.dy_dw(identity, self.x[None])  # (1, N, 2, p)
        if transform.linear_in_w:
            self._dy_dw = dy_identity
        # each parameter's RMS displacement of the points per unit change (at the identity): the units in which
        # a trust-region Newton solver measures its steps (ITK's physical-shift scales). In w itself a unit step
        # in A moves the edge points by half the image, one in b by a cell, and the trust region's first steps
        # went into A: from 18 degrees off the text pair's MI ended 30 px off, in these units 0.02 px
        # (docs/registration.md, "Capture range of mi")
        self.parameter_scales = (dy_identity[0] ** 2).sum(-2).mean(0).sqrt()

    @staticmethod
    def _unbatch(w: torch.Tensor) -> tuple[torch.Tensor, bool]:
        return (w.unsqueeze(0), True) if w.dim() == 1 else (w, False)

    def points(self, w: torch.Tensor) -> torch.Tensor:
        return self.transform.points(w[:, None, :], self.x)

    def _omega(self, y: torch.Tensor) -> torch.Tensor:
        """Per-point weights (B, N), differentiable in y for smooth weights."""
        if self.smooth_weights is not None:
            return self.smooth_weights.root(y) ** 2
        if self.weights is None:
            return torch.ones(y.shape[:-1], dtype=y.dtype, device=y.device)
        if callable(self.weights):
            return self.weights(y.detach())
        return self.weights.expand(y.shape[:-1])

    def _index(self, first_t: torch.Tensor) -> torch.Tensor:
        """Flat joint-histogram indices (B, N, 16) of the 4 x 4 bins each point touches."""
        offsets = torch.arange(4, device=first_t.device)
        rows = (first_t[..., None] + offsets)[..., :, None]  # (B, N, 4, 1)
        return (rows * self.n_bins + self._index_r).flatten(-2)

    def _histogram(self, beta_t, first_t, omega):
        """p (B, n_bins^2) and the total weight sum H (B, 1), differentiable."""
        contrib = (omega[..., None, None] * beta_t[..., :, None] * self.beta_r[..., None, :]).flatten(-2)
        h = torch.zeros(beta_t.shape[0], self.n_bins**2, dtype=beta_t.dtype, device=beta_t.device)
        h = h.scatter_add(1, self._index(first_t).flatten(1), contrib.flatten(1))
        total = h.sum(-1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)
        return h / total, total

    def _log_ratio(self, p: torch.Tensor):
        """log(p / (p_T p_R)) on occupied bins (0 elsewhere, with a safe value for autograd) and the mask."""
        joint = p.reshape(-1, self.n_bins, self.n_bins)
        p_t, p_r = joint.sum(-1, keepdim=True), joint.sum(-2, keepdim=True)
        occupied = joint > 0
        one = torch.ones_like(joint)
        ratio = torch.where(occupied, joint, one) / torch.where(occupied, p_t * p_r, one)
        return torch.log(ratio).flatten(1), occupied.flatten(1)

    def value(self, w: torch.Tensor) -> torch.Tensor:
        """J = -MI (B,), differentiable in w."""
        wb, single = self._unbatch(w)
        y = self.points(wb)
        xi, _ = _bins(self.image(y), self.lo_t, self.width_t, self.n_bins)
        first_t, beta_t = _window(xi)
        p, _ = self._histogram(beta_t, first_t, self._omega(y))
        log_ratio, occupied = self._log_ratio(p)
        j = -(torch.where(occupied, p, torch.zeros_like(p)) * log_ratio).sum(-1)
        return j[0] if single else j

    def objective_and_point_gradient(self, w: torch.Tensor):
        """J (B,) and dJ/dy_i (B, N, 2) by the module docstring's formula, not differentiable."""
        wb = w.detach()
        with torch.no_grad():
            y = self.points(wb)
            t, grad_t, _ = model_derivatives(self.image, y, 1)
            xi, free = _bins(t, self.lo_t, self.width_t, self.n_bins)
            first_t, beta_t, dbeta_t = _window(xi, derivative=True)
            if self.smooth_weights is not None:
                s, ds = self.smooth_weights.root_and_gradient(y)
                omega, domega = s * s, 2 * s[..., None] * ds
            else:
                omega, domega = self._omega(y), None
            p, total = self._histogram(beta_t, first_t, omega)
            log_ratio, occupied = self._log_ratio(p)
            value = -(torch.where(occupied, p, torch.zeros_like(p)) * log_ratio).sum(-1)
            g = torch.where(occupied, 1 - log_ratio, torch.zeros_like(p))
            e = (g - (g * p).sum(-1, keepdim=True)) / total  # dJ/dH
            index = self._index(first_t)  # (B, N, 16)
            e_pts = e.gather(1, index.flatten(1)).reshape(*index.shape[:2], 4, 4)
            along_r = (e_pts * self.beta_r[..., None, :]).sum(-1)  # (B, N, 4): sum_c E(a, c) beta_R(c)
            d_xi = omega * (along_r * dbeta_t).sum(-1) * free.to(t.dtype) / self.width_t
            g_y = d_xi[..., None] * grad_t
            if domega is not None:
                g_y = g_y + (along_r * beta_t).sum(-1)[..., None] * domega
        return value, g_y

    def _dy(self, w: torch.Tensor) -> torch.Tensor:
        if self._dy_dw is not None:
            return self._dy_dw
        return self.transform.dy_dw(w[:, None, :], self.x)

    def value_and_grad(self, w: torch.Tensor, create_graph: bool = False):
        """J (B,) and its gradient (B, p) by the pointwise chain rule."""
        if create_graph:
            raise ValueError("mutual information's analytic gradient is not differentiable: use value() and autograd")
        wb, single = self._unbatch(w)
        value, g_y = self.objective_and_point_gradient(wb)
        dy = self._dy(wb)  # (B or 1, N, 2, p)
        g = (g_y[..., 0, None] * dy[..., 0, :] + g_y[..., 1, None] * dy[..., 1, :]).sum(-2)
        return (value[0], g[0]) if single else (value, g)

    def value_grad_hessian(self, w: torch.Tensor):
        """J, gradient and the exact Hessian (B, p, p), analytic (module docstring, "Hessian"): autograd's
        Hessian of value() costs about 12 gradients, this one about 3."""
        wb, single = self._unbatch(w.detach())
        with torch.no_grad():
            value, g, h = self._second_order(wb)
        return (value[0], g[0], h[0]) if single else (value, g, h)

    def _second_order(self, wb: torch.Tensor):
        y = self.points(wb)
        t, grad_t, hess_t = model_derivatives(self.image, y, 2)
        xi, free = _bins(t, self.lo_t, self.width_t, self.n_bins)
        first_t, beta_t, dbeta_t = _window(xi, derivative=True)
        d2beta_t = _kernel_second_derivative(xi[..., None] - (first_t[..., None] + torch.arange(
            4, device=xi.device)).to(xi.dtype))
        dy = self._dy(wb).expand(*y.shape[:-1], 2, self.n_params)  # (B, N, 2, p)
        free = free.to(t.dtype) / self.width_t
        xi_w = free[..., None] * (grad_t[..., 0, None] * dy[..., 0, :] + grad_t[..., 1, None] * dy[..., 1, :])
        if self.smooth_weights is not None:
            s, ds, d2s = self.smooth_weights.root_gradient_hessian(y)
            omega = s * s
            u = ds[..., 0, None] * dy[..., 0, :] + ds[..., 1, None] * dy[..., 1, :]  # ds/dw (B, N, p)
            omega_w = 2 * s[..., None] * u
        else:
            omega, u, omega_w, s, d2s = self._omega(y), None, None, None, None
        p, total = self._histogram(beta_t, first_t, omega)
        log_ratio, occupied = self._log_ratio(p)
        value = -(torch.where(occupied, p, torch.zeros_like(p)) * log_ratio).sum(-1)
        g_p = torch.where(occupied, 1 - log_ratio, torch.zeros_like(p))
        e = (g_p - (g_p * p).sum(-1, keepdim=True)) / total  # dJ/dH (B, K)
        index = self._index(first_t)  # (B, N, 16)
        e_pts = e.gather(1, index.flatten(1)).reshape(*index.shape[:2], 4, 4)
        along_r = (e_pts * self.beta_r[..., None, :]).sum(-1)  # (B, N, 4)
        a1, a0, a2 = (along_r * dbeta_t).sum(-1), (along_r * beta_t).sum(-1), (along_r * d2beta_t).sum(-1)
        grad = (omega * a1)[..., None] * xi_w
        if omega_w is not None:
            grad = grad + a0[..., None] * omega_w
        grad = grad.sum(-2)
        # pointwise part: sum_i sum_ac E(a, c) d2 h_i(a, c) / dw2
        hess = ((omega * a2)[..., None] * xi_w).transpose(-1, -2) @ xi_w
        q = (omega * a1 * free)[..., None, None] * hess_t  # (B, N, 2, 2): dy^T q dy is the xi_ww term
        if omega_w is not None:
            cross = (a1[..., None] * xi_w).transpose(-1, -2) @ omega_w
            hess = hess + cross + cross.transpose(-1, -2) + ((2 * a0)[..., None] * u).transpose(-1, -2) @ u
            q = q + (2 * a0 * s)[..., None, None] * d2s
        n_b, n_pts = q.shape[:2]
        hess = hess + dy.reshape(n_b, 2 * n_pts, -1).transpose(-1, -2) @ (q @ dy).reshape(n_b, 2 * n_pts, -1)
        # histogram part: dH/dw^T (d2J/dH2) dH/dw, d2J/dH2 applied to each column of dH/dw
        dh_pts = self.beta_r[..., None, :, None] * (omega[..., None, None, None] * dbeta_t[..., :, None, None]
                                                    * xi_w[..., None, None, :])
        if omega_w is not None:
            dh_pts = dh_pts + self.beta_r[..., None, :, None] * beta_t[..., :, None, None] * omega_w[..., None, None, :]
        dh = torch.zeros(n_b, self.n_bins**2, self.n_params, dtype=t.dtype, device=t.device)
        dh = dh.scatter_add(1, index.flatten(1)[..., None].expand(-1, -1, self.n_params),
                            dh_pts.reshape(n_b, -1, self.n_params))
        hess = hess + dh.transpose(-1, -2) @ self._second_dh(p, total, g_p, e, occupied, dh)
        return value, grad, 0.5 * (hess + hess.transpose(-1, -2))

    def _second_dh(self, p, total, g_p, e, occupied, dh):
        """d(dJ/dH) along each column of dh (B, K, p): the derivative of E = (G - sum G p) / S, S = sum H, with
        dG/dp = -(1/p - 1/p_T - 1/p_R) on the row and column of each bin."""
        p3, tot = p[..., None], total[..., None]
        d_total = dh.sum(-2, keepdim=True)
        dp = (dh - p3 * d_total) / tot
        nb = self.n_bins
        joint, d_joint = p3.reshape(-1, nb, nb, 1), dp.reshape(-1, nb, nb, dp.shape[-1])
        p_t, p_r = joint.sum(-2, keepdim=True), joint.sum(-3, keepdim=True)
        dp_t, dp_r = d_joint.sum(-2, keepdim=True), d_joint.sum(-3, keepdim=True)
        safe = lambda v: torch.where(v > 0, v, torch.ones_like(v))  # noqa: E731
        dg = -(d_joint / safe(joint) - dp_t / safe(p_t) - dp_r / safe(p_r))
        dg = torch.where(occupied.reshape(-1, nb, nb, 1), dg, torch.zeros_like(dg)).reshape(dp.shape)
        de = (dg - (dg * p3).sum(-2, keepdim=True) - (g_p[..., None] * dp).sum(-2, keepdim=True)) / tot
        return de - e[..., None] * d_total / tot

    def hessian(self, w: torch.Tensor) -> torch.Tensor:
        return self.value_grad_hessian(w)[2]


def fit_intensity_map(t: torch.Tensor, r: torch.Tensor, n_bins: int = 16):
    """The least-squares smooth map g (a cubic B-spline of T's intensity on n_bins bins, PAD included) with
    R ~ g(T): (g(t), g'(t)) at the given values. What MI's verdict fits in place of a gain and offset: any
    smooth relation of the intensities, monotone or not, is removed from the residual, nothing else."""
    lo, hi = float(t.min()), float(t.max())
    width = max(hi - lo, 1e-300) / (n_bins - 1 - 2 * PAD)
    xi, _ = _bins(t, lo, width, n_bins)
    first, beta, dbeta = _window(xi, derivative=True)
    cols = first[..., None] + torch.arange(4, device=t.device)
    basis = torch.zeros(t.numel(), n_bins, dtype=t.dtype, device=t.device)
    basis.scatter_add_(1, cols.reshape(-1, 4), beta.reshape(-1, 4))
    gram = basis.T @ basis
    # a tiny ridge keeps bins no value reaches (their coefficients are then 0) from making the system singular
    gram = gram + 1e-10 * gram.diagonal().mean() * torch.eye(n_bins, dtype=t.dtype, device=t.device)
    coef = torch.linalg.solve(gram, basis.T @ r.reshape(-1))
    return (basis @ coef).reshape(t.shape), (coef[cols] * dbeta).sum(-1).reshape(t.shape) / width
