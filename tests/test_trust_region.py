"""trust_region_newton's statuses: converged only where the minimum is reached to J's precision."""

import numpy as np
import torch

from regrun.optim.trust_region import _newton_decrease, trust_region_newton


def rosenbrock(w):
    return 100 * (w[1] - w[0] ** 2) ** 2 + (1 - w[0]) ** 2 + 1e3  # the offset gives J a round-off well above 0


def value_and_grad(w):
    w = w.detach().requires_grad_(True)
    v = rosenbrock(w)
    (g,) = torch.autograd.grad(v, w)
    return v.detach(), g


def test_statuses_on_rosenbrock(device):
    w0 = torch.tensor([-1.2, 1.0], dtype=torch.float64, device=device)
    hess = lambda w: torch.func.hessian(rosenbrock)(w)  # noqa: E731
    done = trust_region_newton(value_and_grad, hess, w0, gtol=1e-30, max_iter=200)
    # gtol unreachable: SciPy gives up at the minimum, where the Newton step predicts less than round-off
    assert done.status == "converged", done.message
    assert torch.allclose(done.w.cpu(), torch.ones(2, dtype=torch.float64), atol=1e-6)
    early = trust_region_newton(value_and_grad, hess, w0, gtol=1e-30, max_iter=3)
    assert early.status == "max_iter", early.message  # far from the minimum: not called converged


def test_newton_decrease():
    g = np.array([1.0, 2.0])
    h = np.array([[2.0, 0.0], [0.0, 4.0]])
    assert np.isclose(_newton_decrease(g, h), 0.5 * (1 / 2 + 4 / 4))
    assert _newton_decrease(g, np.array([[1.0, 0.0], [0.0, -1.0]])) == float("inf")
