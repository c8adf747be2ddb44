"""One adjoint (dot) test over every linear operator in the package, and the properties of the shared
difference and pooling operators."""
import pytest
import torch

from regrun.imaging.grid import Grid
from regrun.linalg.differences import (difference_operator, divergence, gradient, gradient_norm_squared_bound,
                                       gradient_operator, pooling_operator)
from regrun.linalg.dottest import dot_test
from regrun.imaging.interpolation import SplineCoefficients, Stencil
from regrun.linalg.operator import LinearOperator, compose, vstack

F64 = torch.float64


def _dense(device):
    a = torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=F64).to(device)
    return LinearOperator((7, 5), lambda x: x @ a.T, lambda y: y @ a, F64, device)


def _spline_coefficients(device):
    grid = Grid((0.0, 20.0, 0.0, 25.0), (6, 5))
    c = SplineCoefficients(grid, F64, device)
    p1, p2 = c.padded
    return LinearOperator((p1 * p2, 30), lambda x: c.apply(x.unflatten(-1, (6, 5))),
                          lambda y: c.adjoint(y).flatten(-2), F64, device)


def _spline_stencil(device):
    grid = Grid((0.0, 20.0, 0.0, 25.0), (6, 5))
    pts = torch.rand(9, 2, generator=torch.Generator().manual_seed(1), dtype=F64).to(device) * 22 - 1
    st = Stencil.at(grid, pts)
    size = (6 + 8) * (5 + 8)
    return LinearOperator((9, size), st.gather, lambda y: st.scatter(y, size), F64, device)


def _superres(device):
    from pathlib import Path

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    p = SuperRes(config_section("problem", "superres", size=8, frames=2), RunContext(device, F64, 0, Path(".")))
    return p.model.operator(p.w_true)


def _xray(kind):
    from regrun.tomography.xray import XRayTransform
    from regrun.tomography.geometry import cone_beam, fan_beam, parallel_beam, uniform_angles

    geo = {"parallel": lambda: parallel_beam((6, 5), uniform_angles(4, False), 9, 0.8),
           "fan": lambda: fan_beam((6, 5), uniform_angles(4, True), 11, 1.2, 15.0, 6.0),
           "cone": lambda: cone_beam((5, 4, 3), uniform_angles(3, True), (8, 6), 1.3, 14.0, 5.0)}[kind]()
    return lambda d: XRayTransform(geo).operator(F64, d)


OPERATORS = {
    "dense": _dense,
    "dense_autograd_adjoint": lambda d: LinearOperator((7, 5), _dense(d).matvec, None, F64, d),
    "transpose_scaled": lambda d: _dense(d).T.scaled(-2.5),
    "compose_vstack": lambda d: vstack([compose(_dense(d), _dense(d).T), gradient_operator((7,), 0.5, F64, d)]),
    "gradient_2d": lambda d: gradient_operator((6, 5), 1.0, F64, d),
    "gradient_2d_spacing": lambda d: gradient_operator((6, 5), (0.5, 2.0), F64, d),
    "gradient_3d": lambda d: gradient_operator((4, 5, 3), 0.7, F64, d),
    "difference_trimmed": lambda d: difference_operator((6, 5), 0, 0.3, F64, d),
    "difference_trimmed_3d": lambda d: difference_operator((4, 5, 3), -1, 1.0, F64, d),
    "pooling": lambda d: pooling_operator((6, 9), 3, F64, d),
    "spline_coefficients": _spline_coefficients,
    "spline_stencil": _spline_stencil,
    "superres": _superres,
    "xray_parallel": _xray("parallel"),
    "xray_fan": _xray("fan"),
    "xray_cone": _xray("cone"),
}


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_dot(name, device):
    op = OPERATORS[name](device)
    assert dot_test(op, torch.Generator().manual_seed(5)) < 1e-13


def test_neumann_gradient_and_divergence(device):
    x = torch.rand(2, 5, 4, 3, generator=torch.Generator().manual_seed(2), dtype=F64).to(device)
    g = gradient(x, 3, (1.0, 0.5, 2.0))
    assert g.shape == (2, 3, 5, 4, 3)
    assert torch.allclose(g[:, 1, :, :-1], (x[:, :, 1:] - x[:, :, :-1]) / 0.5)
    assert torch.count_nonzero(g[:, 0, -1]) == 0 and torch.count_nonzero(g[:, 2, ..., -1]) == 0  # Neumann
    p = torch.rand(2, 3, 5, 4, 3, generator=torch.Generator().manual_seed(3), dtype=F64).to(device)
    assert torch.allclose((g * p).sum(), -(x * divergence(p, 3, (1.0, 0.5, 2.0))).sum())
    assert torch.count_nonzero(gradient(torch.ones(4, 4, dtype=F64, device=device), 2)) == 0


def test_difference_normal_in_place_equals_the_two_products(device):
    """add_difference_normal (the super-resolution normal product's regulariser, in place) is out + s D^T D x, D
    the trimmed forward difference, along either axis and batched."""
    from regrun.linalg.differences import add_difference_normal, forward_difference, forward_difference_adjoint
    gen = torch.Generator().manual_seed(6)
    x, out = (torch.randn(2, 7, 5, generator=gen, dtype=F64).to(device) for _ in range(2))
    for dim, h in ((-2, 0.5), (-1, 2.0)):
        want = out + 0.3 * forward_difference_adjoint(forward_difference(x, dim, h), dim, h)
        got = add_difference_normal(out.clone(), x, dim, 0.3 / h ** 2)
        assert float((got - want).abs().max()) < 1e-14 * float(want.abs().max())


@pytest.mark.parametrize("shape,h", [((16, 16), 1.0), ((8, 8, 8), 1.0), ((16, 16), 0.5)])
def test_gradient_norm_bound(shape, h, device):
    """The power method's ||grad||^2 approaches, and never exceeds, 4 d / h^2 (8 in 2-D, 12 in 3-D)."""
    op = gradient_operator(shape, h, F64, device)
    x = torch.rand(op.shape[1], generator=torch.Generator().manual_seed(0), dtype=F64).to(device) - 0.5
    for _ in range(300):
        x = op.normal()(x)
        x = x / x.norm()
    norm2 = float(op.matvec(x).norm() ** 2)
    bound = gradient_norm_squared_bound(len(shape), h)
    assert 0.9 * bound < norm2 <= bound * (1 + 1e-12)


def test_pooling_averages(device):
    x = torch.arange(36, dtype=F64, device=device)
    y = pooling_operator((6, 6), 2, F64, device).matvec(x).reshape(3, 3)
    assert float(y[0, 0]) == (0 + 1 + 6 + 7) / 4
    with pytest.raises(ValueError):
        pooling_operator((6, 7), 2)
