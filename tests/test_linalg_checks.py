"""The library's derivative (Taylor) test, regrun/linalg/checks.py: it tells right derivatives from wrong ones."""
import numpy as np
import pytest
import torch

from regrun.linalg.checks import taylor_test


def _f(x):
    return torch.stack((torch.sin(x[0]) * x[1], x[0] ** 3 + torch.exp(x[1])))


def test_orders_one_two_three_with_right_derivatives(device):
    x = torch.tensor([0.3, -0.7], dtype=torch.float64, device=device)
    v = torch.tensor([0.5, 0.2], dtype=torch.float64, device=device)
    jac = torch.func.jacfwd(_f)(x)
    hess = torch.func.hessian(_f)(x)  # (2, 2, 2)
    res = taylor_test(_f, x, v, first=jac @ v, second=torch.einsum("kpq,p,q->k", hess, v, v))
    assert res.steps.tolist() == [0.25, 0.125, 0.0625, 0.03125, 0.015625]
    assert 0.9 < res.order(0) < 1.1 and 1.9 < res.order(1) < 2.1 and 2.9 < res.order(2) < 3.1, res
    assert np.all((res.slopes(1) > 1.8) & (res.slopes(1) < 2.2))
    table = str(res).splitlines()
    assert len(table) == 6 and "order2" in table[0]


def test_a_wrong_derivative_shows_as_order_one(device):
    x = torch.tensor([0.3, -0.7], dtype=torch.float64, device=device)
    v = torch.tensor([0.5, 0.2], dtype=torch.float64, device=device)
    wrong = 1.01 * torch.func.jacfwd(_f)(x) @ v
    right = taylor_test(_f, x, v, first=wrong / 1.01, steps=(1e-3, 5e-4, 2.5e-4))
    res = taylor_test(_f, x, v, first=wrong, steps=(1e-3, 5e-4, 2.5e-4))
    assert 1.9 < right.order(1) < 2.1 and 0.9 < res.order(1) < 1.1, res


def test_per_item_remainders_and_errors(device):
    x = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], dtype=torch.float64, device=device)
    v = torch.ones_like(x)
    f = lambda z: (z**2).sum(-1)  # noqa: E731 - one value per row
    res = taylor_test(f, x, v, first=(2 * x * v).sum(-1), reduce=torch.abs)
    assert res.errors[1].shape == (5, 3) and res.order(1).shape == (3,)
    # f is quadratic: the first-order remainder is exactly h^2 |v|^2 = 2 h^2 per row
    np.testing.assert_allclose(res.errors[1], 2 * res.steps[:, None] ** 2 * np.ones((1, 3)), rtol=1e-12)
    with pytest.raises(ValueError, match="needs `first`"):
        taylor_test(f, x, v, second=1.0)
