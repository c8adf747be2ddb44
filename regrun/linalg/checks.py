"""The derivative (Taylor) test, FAIR's checkDerivative: does a claimed derivative match the function?

For f smooth at x, a direction v and steps h -> 0, the remainders

    e0(h) = || f(x + h v) - f(x) ||                                  ~ h      (no derivative used)
    e1(h) = || f(x + h v) - f(x) - h f'(x)[v] ||                     ~ h^2    (when f'(x)[v] is right)
    e2(h) = || f(x + h v) - f(x) - h f'(x)[v] - h^2/2 f''(x)[v, v] || ~ h^3    (when f''(x)[v, v] is right too)

fall with the orders 1, 2, 3 on a log-log plot; a wrong first derivative leaves e1 falling like h, a wrong second
one e2 like h^2. The observed order between two steps is log(e(h_i) / e(h_j)) / log(h_i / h_j). Round-off stops
the fall when the remainder nears eps |f| (choose steps above that: for float64 and O(1) data, h down to ~1e-4 for
e2, ~1e-6 for e1). The adjoint (dot) test of a linear operator is dottest.py's dot_test, beside this one.

    res = taylor_test(f, x, v, first=g @ v, second=v @ H @ v)
    print(res)                      # the table
    assert 1.8 < res.order(1) < 2.2
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

DEFAULT_STEPS = tuple(2.0**-k for k in range(2, 7))  # 1/4 ... 1/64


def _norm(d: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(d)


@dataclass(frozen=True)
class TaylorResult:
    """steps h (n,), and errors[k] (n, ...): the k-th order remainder at each step (k = 0, 1[, 2]); trailing
    dimensions when `reduce` kept some (one remainder per batch item, say)."""

    steps: np.ndarray
    errors: tuple[np.ndarray, ...]

    def slopes(self, k: int) -> np.ndarray:
        """Observed orders of the k-th remainder between consecutive steps, (n - 1, ...)."""
        e, h = self.errors[k], self.steps.reshape((-1,) + (1,) * (self.errors[k].ndim - 1))
        return np.log(e[:-1] / e[1:]) / np.log(h[:-1] / h[1:])

    def order(self, k: int) -> np.ndarray | float:
        """The observed order of the k-th remainder from the first step to the last (a float, or an array
        with `reduce`'s trailing dimensions); about k + 1 when the derivatives used are right."""
        e, h = self.errors[k], self.steps
        out = np.log(e[0] / e[-1]) / math.log(h[0] / h[-1])
        return float(out) if np.ndim(out) == 0 else out

    def __str__(self) -> str:
        """The table FAIR's checkDerivative prints: h, each remainder, and the order from the previous row."""
        k_max = len(self.errors)
        head = "h".rjust(10) + "".join(f"e{k}".rjust(12) + f"order{k}".rjust(8) for k in range(k_max))
        rows = [head]
        for i, h in enumerate(self.steps):
            cells = f"{h:10.3e}"
            for k in range(k_max):
                e = float(np.max(self.errors[k][i]))
                slope = "" if i == 0 else f"{float(np.max(self.slopes(k)[i - 1])):8.2f}"
                cells += f"{e:12.3e}" + slope.rjust(8)
            rows.append(cells)
        return "\n".join(rows)


def taylor_test(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, v: torch.Tensor,
                first: torch.Tensor | float | None = None, second: torch.Tensor | float | None = None,
                steps=DEFAULT_STEPS, reduce: Callable[[torch.Tensor], torch.Tensor] = _norm) -> TaylorResult:
    """The remainders of f(x + h v) around x for each step h: e0 always, e1 with `first` = f'(x)[v] (the
    directional derivative: g @ v for a gradient g, J @ v for a Jacobian J), e2 with `second` = f''(x)[v, v]
    too (v @ H @ v for a Hessian H). `reduce` turns a difference into the error recorded: the 2-norm over all
    entries by default; e.g. `lambda d: d.abs().amax()` for the max norm, or `lambda d: d.abs()` to keep one
    remainder per entry (a batch of independent items). f(x) is evaluated once; nothing is differentiated."""
    if second is not None and first is None:
        raise ValueError("taylor_test: `second` needs `first` (the second-order remainder uses both)")
    f0 = torch.as_tensor(f(x))
    terms = [t for t in (first, second) if t is not None]
    errors: list[list[np.ndarray]] = [[] for _ in range(len(terms) + 1)]
    for h in steps:
        d = torch.as_tensor(f(x + h * v)) - f0
        errors[0].append(torch.as_tensor(reduce(d)).detach().cpu().double().numpy())
        if first is not None:
            d = d - h * first
            errors[1].append(torch.as_tensor(reduce(d)).detach().cpu().double().numpy())
        if second is not None:
            d = d - 0.5 * h * h * second
            errors[2].append(torch.as_tensor(reduce(d)).detach().cpu().double().numpy())
    return TaylorResult(np.asarray(steps, dtype=np.float64), tuple(np.stack(e) for e in errors))
