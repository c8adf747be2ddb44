"""A neural-ODE transformation y(x; w): the flow of a small velocity MLP from t = 0 to 1 (seed 000 Table 1).

v(x, t) = W2 tanh(W1 [x; t] + b1) + b2 with widths 3 -> 8 -> 2, i.e. 3*8 + 8 + 8*2 + 2 = 50 parameters, integrated
by classical RK4 on linspace(0, 1, steps + 1) (the paper: 9 steps). Everything is a pure function of the flat
parameter vector, so torch.func transforms (grad, jacfwd, jacrev, vmap) apply directly.
"""
from __future__ import annotations

import torch
from torch.func import jacfwd

from ..imaging.transforms import Transformation

WIDTHS = (3, 8, 2)


def n_params(hidden: int = WIDTHS[1]) -> int:
    return 3 * hidden + hidden + hidden * 2 + 2


def unpack(w: torch.Tensor, hidden: int = WIDTHS[1]):
    """Flat parameters -> (W1 (hidden, 3), b1 (hidden,), W2 (2, hidden), b2 (2,))."""
    if w.shape[-1] != n_params(hidden):
        raise ValueError(f"expected {n_params(hidden)} parameters, got {w.shape[-1]}")
    i = 0
    out = []
    for shape in ((hidden, 3), (hidden,), (2, hidden), (2,)):
        size = 1
        for s in shape:
            size *= s
        out.append(w[i:i + size].reshape(shape))
        i += size
    return tuple(out)


def velocity(w: torch.Tensor, y: torch.Tensor, t: float, hidden: int = WIDTHS[1]) -> torch.Tensor:
    W1, b1, W2, b2 = unpack(w, hidden)
    # [y, t] @ W1^T without concatenating a time column onto every point.
    z = torch.tanh(y @ W1[:, :2].T + (t * W1[:, 2] + b1))
    return z @ W2.T + b2


def flow(w: torch.Tensor, x: torch.Tensor, steps: int = 9, hidden: int = WIDTHS[1]) -> torch.Tensor:
    """y(x; w) = x + integral_0^1 v(y(t), t) dt by RK4 with `steps` equal steps; x is (..., 2)."""
    h = 1.0 / steps
    y = x
    for k in range(steps):
        t = k * h
        k1 = velocity(w, y, t, hidden)
        k2 = velocity(w, y + 0.5 * h * k1, t + 0.5 * h, hidden)
        k3 = velocity(w, y + 0.5 * h * k2, t + 0.5 * h, hidden)
        k4 = velocity(w, y + h * k3, t + h, hidden)
        y = y + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


class NeuralODEFlow(Transformation):
    """The flow as a member of the transformation family (regrun.imaging.transforms): y(x; w) = flow(w, x),
    w = 0 the identity. There is no closed form for dy/dw: it comes by forward-mode AD through the RK4 steps
    (p tangents through the flow alone, no image inside). Batched w is (B, 1, p) against x (B or 1, N, 2)."""

    linear_in_w = False

    def __init__(self, steps: int = 9, hidden: int = WIDTHS[1]):
        super().__init__(None)
        self.steps, self.hidden = steps, hidden
        self.n_params = n_params(hidden)
        self.identity_params = (0.0,) * self.n_params

    def _map(self, w, x):
        return flow(w, x, self.steps, self.hidden)

    def _batched(self, fn, w, x):
        if w.dim() == 1:
            return fn(w, x)
        b = w.shape[0]
        return torch.vmap(fn)(w.reshape(b, self.n_params), x.expand(b, *x.shape[1:]))

    def points(self, w, x):
        return self._batched(self._map, w, x)

    def dy_dw(self, w, x):
        return self._batched(lambda v, z: jacfwd(self._map)(v, z), w, x)

    def d2y_dw2(self, w, x):
        return self._batched(lambda v, z: jacfwd(jacfwd(self._map))(v, z), w, x)
