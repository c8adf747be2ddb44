"""Unrolled gradient descent, batched, with a per-item early stop: an iteration that can be differentiated end to end.

    w_{k+1} = w_k - t * grad phi(w_k)        (t: one step size per parameter, or per item and parameter)

for a batch of B independent problems (strides of a scene, frames). Unlike Levenberg-Marquardt (which picks its
steps by trial), the step sizes are fixed in advance, as the unrolled networks of seed 002 do (their Theorem 5.1
prescribes them for the spike formulation), so every iteration is a smooth function of the data and the
hyperparameters, and autograd can run back through all of them (`create_graph=True`).

Early stop: an item whose relative decrease over one iteration drops to `rtol` or below is frozen (its iterate
no longer changes and its further iterations cost nothing in the gradient), the loop ends when every item has
stopped or after `iters` iterations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

ValueAndGrad = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class UnrolledResult:
    w: torch.Tensor  # (B, p), differentiable when value_and_grad kept its graph
    loss: torch.Tensor  # (B,) at w
    n_iter: torch.Tensor  # (B,) iterations each item took before it stopped
    history: torch.Tensor  # (n_rows, B) loss per iteration (detached), row 0 the start


def unrolled_descent(value_and_grad: ValueAndGrad, w0: torch.Tensor, step: torch.Tensor, iters: int, *,
                     rtol: float = 0.0, project: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     backtrack: bool = False) -> UnrolledResult:
    """Run up to `iters` gradient steps on every item of w0 (B, p).

    `value_and_grad(w, items)` -> (phi (k,), grad (k, p)) for the iterates w (k, p) of the items `items` (k,)
    (indices into the batch): only items still running are evaluated, so stopped strides cost nothing. It must
    keep its graph when the caller wants to differentiate through the iterations. `step` is (p,) or (B, p).
    `project` (optional) maps iterates back onto the feasible set (the prox of the unrolled proximal-gradient
    method, eq. 5). An item stops when one iteration lowers its loss by no more than rtol * |loss| (rtol = 0:
    only when the loss does not decrease at all).

    backtrack=True (the rule of the authors' Fig. 5 code): an iteration that raises an item's loss is undone and
    that item's step halved; an accepted one grows it by 1%. Fixed steps that are safe at the optimum can still
    overshoot on the way there (a sharp texture far from its pose), and a rejected step costs one evaluation.
    An item then stops on rtol only after an accepted step."""
    n_batch = w0.shape[0]
    device = w0.device
    items = torch.arange(n_batch, device=device)
    step = step.expand(n_batch, w0.shape[1])
    w = w0
    loss, grad = value_and_grad(w, items)
    n_iter = torch.zeros(n_batch, dtype=torch.long, device=device)
    history = [loss.detach()]
    active = items
    for _ in range(iters):
        if active.numel() == 0:
            break
        w_active = w[active] - step[active] * grad[active]
        if project is not None:
            w_active = project(w_active)
        n_iter = n_iter.index_add(0, active, torch.ones_like(active))
        new_loss, new_grad = value_and_grad(w_active, active)
        decrease = (loss[active] - new_loss).detach()
        if backtrack:
            up = ~(decrease >= 0)  # NaN counts as a rise
            keep = up[:, None]
            w_active = torch.where(keep, w[active], w_active)
            new_loss = torch.where(up, loss[active], new_loss)
            new_grad = torch.where(keep, grad[active], new_grad)
            step = step.index_put((active,), torch.where(keep, step[active] * 0.5, step[active] * 1.01))
            decrease = torch.where(up, torch.full_like(decrease, math.inf), decrease)
        w = w.index_put((active,), w_active)
        loss = loss.index_put((active,), new_loss)
        grad = grad.index_put((active,), new_grad)
        history.append(loss.detach())
        active = active[decrease > rtol * new_loss.detach().abs()]
    return UnrolledResult(w=w, loss=loss, n_iter=n_iter, history=torch.stack(history))
