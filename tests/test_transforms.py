"""The transformation family: points and analytic dy/dw (and d2y/dw2) against finite differences and torch.func."""
import math

import pytest
import torch
from torch.func import jacfwd

from regrun.errors import UserError
from regrun.imaging.transforms import TRANSFORMATIONS, Affine, Rigid, affine, affine_about, transformation
from regrun.linalg.checks import taylor_test

CASES = [(name, center) for name in TRANSFORMATIONS for center in (None, (3.0, -2.0))]


def sample(device, t, batch=(), seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = t.identity(torch.float64) + 0.1 * torch.randn(*batch, t.n_params, generator=gen, dtype=torch.float64)
    v = torch.randn(*batch, t.n_params, generator=gen, dtype=torch.float64)
    x = 5 * torch.randn(7, 2, generator=gen, dtype=torch.float64)
    return w.to(device), v.to(device), x.to(device)


@pytest.mark.parametrize("name,center", CASES)
def test_taylor_points_and_dy_dw(name, center, device):
    t = transformation(name, center)
    w, v, x = sample(device, t)
    dy = t.dy_dw(w, x) @ v
    d2 = t.d2y_dw2(w, x)
    second = 0 if d2 is None else torch.einsum("...kpq,p,q->...k", d2, v, v)
    res = taylor_test(lambda p: t.points(p, x), w, v, first=dy, second=second, steps=[2.0**-k for k in range(3, 8)])
    if t.linear_in_w:
        assert res.errors[1].max() < 1e-12  # y is linear in w: the first-order model is exact
        return
    assert 1.9 < res.order(1) < 2.1 and 2.9 < res.order(2) < 3.1, res


@pytest.mark.parametrize("name,center", CASES)
def test_dy_dw_equals_forward_mode_and_batches(name, center, device):
    t = transformation(name, center)
    w, _, x = sample(device, t, batch=(3,))
    jac = t.dy_dw(w[:, None, :], x)
    assert jac.shape == (3, 7, 2, t.n_params)
    for b in range(3):
        ref = jacfwd(lambda u: t.points(u, x))(w[b])
        assert torch.allclose(jac[b], ref, atol=1e-13)
        assert torch.allclose(t.points(w[b], x), t.points(w[:, None, :], x)[b])
    d2 = t.d2y_dw2(w[:, None, :], x)
    if d2 is not None:
        ref = jacfwd(jacfwd(lambda u: t.points(u, x)))(w[1])
        assert torch.allclose(d2[1], ref, atol=1e-13)


def test_identity_and_known_maps(device):
    x = torch.randn(5, 2, dtype=torch.float64, device=device)
    for name in TRANSFORMATIONS:
        t = transformation(name, (1.0, 2.0))
        assert torch.allclose(t.points(t.identity(device=device), x), x)
    # the affine keeps seed 000's parameterization; with a centre it acts about it
    w = affine_about(30.0, (1.1, 0.9), (0.5, -0.2), (1.0, 2.0)).to(device)
    assert torch.allclose(Affine().points(w, x), affine(w, x))
    a = w.clone()
    a[4:] = torch.tensor([0.5, -0.2], dtype=torch.float64)  # about the centre: b is the shift alone
    a[:4] = affine_about(30.0, (1.1, 0.9)).to(device)[:4]
    assert torch.allclose(Affine((1.0, 2.0)).points(a, x), affine(w, x))
    # a rigid turn by phi about c equals affine_about(phi) about c
    phi = torch.tensor([math.radians(30.0), 0.5, -0.2], dtype=torch.float64, device=device)
    assert torch.allclose(Rigid((1.0, 2.0)).points(phi, x), affine(affine_about(30.0, shift=(0.5, -0.2),
                                                                                centre=(1.0, 2.0)).to(device), x))


def test_unknown_transformation_is_a_user_error():
    with pytest.raises(UserError, match="projective"):
        transformation("projective")


@pytest.mark.parametrize("name,center", CASES)
def test_matrix_and_shift_reproduce_points(name, center, device):
    t = transformation(name, center)
    w, _, x = sample(device, t, batch=(3,))
    m, b = t.matrix_and_shift(w)
    c = torch.tensor(center or (0.0, 0.0), dtype=torch.float64, device=device)
    y = torch.einsum("bkl,nl->bnk", m, x - c) + c + b[:, None, :]
    assert torch.allclose(y, t.points(w[:, None, :], x), atol=1e-12)
