"""FISTA-TV's weight chosen from the sinogram alone (solver.lam=auto): regrun.optim.parameter_choice applied to
the reconstruction x(lam) of `iters` FISTA iterations from zero (the same map a fixed-lam run computes).

The divergence tr d(A x)/db that GCV and SURE need is pushed through the whole FISTA-TV run along Rademacher
probes z, by `lam_divergence`:
- fd: (z^T A (x(b + eps z) - x(b))) / eps, eps = 1e-3 sigma (Monte-Carlo SURE as Ramani, Blu and Unser 2008
  compute it): one more FISTA run per probe;
- jvp: forward-mode AD (dual tensors) through every FISTA and prox iteration, the projector applied to primal and
  tangent (parameter_choice.linear_dual): exact, but about 9x the cost of a run on the CPU (64^2, 30 views).
Both agree to 0.3% (tests/test_parameter_choice.py); fd is the default for its cost.
"""
from __future__ import annotations

import torch
import torch.autograd.forward_ad as fwad

from ..errors import check_choice
from ..linalg.iterate import diff_mode
from ..optim.fista import Fista
from ..optim.parameter_choice import (
    Choice,
    ChoiceSettings,
    Fit,
    choose,
    hutchinson,
    linear_dual,
    noise_std_sinogram,
    rademacher,
)

DIVERGENCES = ("fd", "jvp")
FD_STEP = 1e-3  # eps / sigma of the finite-difference divergence


def sinogram_noise(problem, settings: ChoiceSettings) -> tuple[float, str]:
    if settings.noise is not None:
        return settings.noise, "given"
    return noise_std_sinogram(problem.sinogram), "estimated: second differences across detector bins"


def choose_fista_weight(problem, fista: Fista, iters: int, settings: ChoiceSettings, divergence: str,
                        generator: torch.Generator, progress=None) -> Choice:
    check_choice("solver.lam_divergence", divergence, DIVERGENCES)
    b = problem.sinogram
    sigma, source = sinogram_noise(problem, settings)
    probes = rademacher(settings.probes, b.shape, generator, b.dtype, b.device) if settings.needs_trace else None
    dual = None

    def run(data, lam):
        fista.data = data
        try:
            with torch.no_grad():
                return fista.solve(torch.tensor(lam, dtype=b.dtype, device=b.device), iters)
        finally:
            fista.data = b

    def jvp(z, lam):
        nonlocal dual
        if dual is None:
            dual = Fista(linear_dual(problem.A.project), linear_dual(problem.A.backproject), b, problem.shape,
                         fista.prox, fista.inner_iters, mask=fista.mask, lipschitz=fista.L)
        with fwad.dual_level(), torch.no_grad():
            dual.data = fwad.make_dual(b, z)
            x = dual.solve(torch.tensor(lam, dtype=b.dtype, device=b.device), iters, diff_mode("unrolled"))
            return fwad.unpack_dual(x).tangent

    def evaluate(lam: float) -> Fit:
        x = run(b, lam)
        pred = problem.A.project(x)
        fit = Fit(rss=float((pred - b).pow(2).sum()), m=b.numel(), state=x)
        if probes is not None:
            if divergence == "fd":
                eps = FD_STEP * sigma
                fit.trace = hutchinson(lambda z: (problem.A.project(run(b + eps * z, lam)) - pred) / eps, probes)
            else:
                fit.trace = hutchinson(lambda z: problem.A.project(jvp(z, lam)), probes)
        return fit

    return choose(evaluate, settings, sigma, source, progress)
