"""Image models for registration: values and spatial derivatives at arbitrary points.

An image model is anything with `__call__(y) -> values` (y (..., 2) -> (...)) and
`derivatives(y, order) -> (values, gradients (..., 2), hessians (..., 2, 2) or None)`. The registration kernel
(regrun.registration.objective) only uses these two (through `model_derivatives`), so the cubic B-spline of FAIR
(spline.SplineImage) and a cubic-convolution interpolator are interchangeable. A model with analytic first
derivatives as `values_and_gradients(y)` (keys.KeysImage) serves order 1 with them; any model that only knows
how to evaluate itself gets its derivatives from `pointwise_derivatives`.
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch


class ImageModel(Protocol):
    def __call__(self, y: torch.Tensor) -> torch.Tensor: ...

    def derivatives(self, y: torch.Tensor, order: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        ...


def pointwise_derivatives(evaluate: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor, order: int = 1):
    """Values, spatial gradients and (order 2) spatial Hessians of a pointwise image function at points y.

    The value at point i depends on y_i alone, so one reverse sweep of sum_i T(y_i) gives every gradient
    exactly, and one more sweep per coordinate every Hessian row; nothing is differentiated through the
    parameters of a transformation (the caller applies the chain rule with dy/dw). The results are detached."""
    if order not in (1, 2):
        raise ValueError(f"order={order} must be 1 or 2")
    y = y.detach().requires_grad_(True)
    with torch.enable_grad():
        t = evaluate(y)
        (gy,) = torch.autograd.grad(t.sum(), y, create_graph=order == 2)
        if order == 1:
            return t.detach(), gy, None
        h1 = torch.autograd.grad(gy[..., 0].sum(), y, retain_graph=True)[0]
        h2 = torch.autograd.grad(gy[..., 1].sum(), y)[0]
    return t.detach(), gy.detach(), torch.stack((h1, h2), dim=-2)


def model_derivatives(model, y: torch.Tensor, order: int = 1):
    """(values, gradients, hessians or None) of an image model at points y, by the best means it offers: its own
    `derivatives`, else (order 1) its analytic `values_and_gradients`, else reverse sweeps of its values."""
    if hasattr(model, "derivatives"):
        return model.derivatives(y, order)
    if order == 1 and hasattr(model, "values_and_gradients"):
        values, gradients = model.values_and_gradients(y)
        return values, gradients, None
    return pointwise_derivatives(model, y, order)
