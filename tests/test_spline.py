"""Cubic B-spline images: exact interpolation at theta = 0, smoothing for theta > 0, derivatives."""
import torch

from regrun.imaging import spline
from regrun.imaging.grid import Grid
from regrun.imaging.spline import SplineImage, bspline_kernel, coefficients, evaluate
from regrun.linalg.checks import taylor_test


def _image(m=(14, 11), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(m, generator=g, dtype=torch.float64)


def test_theta_zero_interpolates_exactly():
    img = _image()
    grid = Grid((0.0, 20.0, 0.0, 25.0), img.shape)
    assert torch.allclose(SplineImage(img, grid, 0.0)(grid.centres()), img, atol=1e-12)


def test_kernel_values_and_continuity():
    t = torch.tensor([0.0, 1.0, -1.0, 2.0, 2.5], dtype=torch.float64)
    assert torch.allclose(bspline_kernel(t), torch.tensor([4.0, 1.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    # C2 at the knot |t| = 1: left and right second derivatives agree
    eps = 1e-4
    k = lambda s: bspline_kernel(torch.tensor(s, dtype=torch.float64))  # noqa: E731
    d2 = lambda s: (k(s + eps) - 2 * k(s) + k(s - eps)) / eps**2  # noqa: E731
    assert abs(float(d2(1.0 - 2 * eps) - d2(1.0 + 2 * eps))) < 1e-2


def test_smoothing_grows_with_theta():
    img = _image((32, 32))
    grid = Grid((0.0, 32.0, 0.0, 32.0), img.shape)
    x = grid.centres()
    roughness = []
    for theta in (0.0, 1e-2, 1.0, 1e2):
        v = SplineImage(img, grid, theta)(x)
        roughness.append(float((v[1:] - v[:-1]).abs().mean() + (v[:, 1:] - v[:, :-1]).abs().mean()))
    assert all(a > b for a, b in zip(roughness, roughness[1:])), roughness


def test_smoothing_spares_smooth_content_in_the_interior():
    # P penalises curvature (its interior rows annihilate linear coefficient sequences), so a linear ramp
    # keeps its interior values while noise is flattened
    grid = Grid((0.0, 32.0, 0.0, 32.0), (32, 32))
    x = grid.centres()
    ramp = 0.1 * x[..., 0] + 0.05 * x[..., 1]
    v = SplineImage(ramp, grid, 1.0)(x)
    assert float((v - ramp)[8:-8, 8:-8].abs().max()) < 0.05 * float(ramp.max())


def test_zero_outside_the_domain():
    img = _image()
    grid = Grid((0.0, 20.0, 0.0, 25.0), img.shape)
    far = torch.tensor([[-50.0, 3.0], [3.0, 90.0], [21.0 + 2 * grid.h[0], 5.0]], dtype=torch.float64)
    assert torch.all(SplineImage(img, grid, 0.0)(far) == 0)


def test_linear_in_the_image():
    a, b = _image(seed=1), _image(seed=2)
    grid = Grid((0.0, 14.0, 0.0, 11.0), a.shape)
    x = torch.rand(50, 2, dtype=torch.float64) * 14
    ev = lambda img: evaluate(coefficients(img, 0.3), grid, x)  # noqa: E731
    assert torch.allclose(ev(2 * a - 3 * b), 2 * ev(a) - 3 * ev(b), atol=1e-12)


def _taylor_orders(f, df, x0, v, hs):
    """Orders of |f(x+hv) - f(x)| and |f(x+hv) - f(x) - h df(x)v| (max norm) from the first step to the last."""
    res = taylor_test(f, x0, v, first=df(x0, v), steps=hs, reduce=lambda d: d.abs().max())
    return res.order(0), res.order(1)


def test_taylor_in_points_and_theta():
    img = _image((16, 16))
    grid = Grid((0.0, 16.0, 0.0, 16.0), img.shape)
    x0 = 1.0 + 14.0 * torch.rand(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    v = torch.randn(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    coef = coefficients(img, 0.5)
    f = lambda x: evaluate(coef, grid, x)  # noqa: E731
    df = lambda x, dx: torch.func.jvp(f, (x,), (dx,))[1]  # noqa: E731
    hs = [1e-2, 5e-3, 2.5e-3]
    s0, s1 = _taylor_orders(f, df, x0, v, hs)
    assert 0.8 < s0 < 1.2 and 1.8 < s1 < 2.2, (s0, s1)

    pts = grid.centres().reshape(-1, 2) * 0.97 + 0.2
    g = lambda th: evaluate(coefficients(img, th), grid, pts)  # noqa: E731
    dg = lambda th, dth: torch.func.jvp(g, (th,), (dth,))[1]  # noqa: E731
    s0, s1 = _taylor_orders(g, dg, torch.tensor(0.7, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64),
                            [1e-2, 5e-3, 2.5e-3])
    assert 0.8 < s0 < 1.2 and 1.8 < s1 < 2.2, (s0, s1)


def test_moments_matrix_bands():
    p = spline.moments_matrix(8)
    assert p[3, 3] == 96 and p[3, 4] == -54 and p[3, 2] == -54 and p[3, 6] == 6 and p[3, 5] == 0
    assert torch.equal(p, p.T)


def test_evaluate_matches_the_direct_sum_inside_and_outside():
    img = _image((9, 7), seed=5)
    grid = Grid((0.0, 18.0, 0.0, 21.0), img.shape)
    coef = coefficients(img, 0.3)
    g = torch.Generator().manual_seed(1)
    lo = torch.tensor([-8.0, -8.0], dtype=torch.float64)
    x = lo + torch.tensor([34.0, 37.0], dtype=torch.float64) * torch.rand(400, 2, generator=g, dtype=torch.float64)
    xi = grid.to_index(x)
    i = torch.arange(9, dtype=torch.float64)
    j = torch.arange(7, dtype=torch.float64)
    direct = torch.einsum("pi,ij,pj->p", bspline_kernel(xi[:, :1] - i), coef, bspline_kernel(xi[:, 1:] - j))
    assert torch.allclose(evaluate(coef, grid, x), direct, atol=1e-12)


def test_many_points_in_pieces_equal_one_piece(monkeypatch):
    """Values, gradients and Hessians of a point set larger than POINT_CHUNK, evaluated piece by piece, equal
    the one-piece evaluation to round-off (the pieces' weights come from the same formulas), and the values
    stay differentiable through the pieces."""
    grid = Grid((0.0, 1.0, 0.0, 1.3), (20, 26))
    gen = torch.Generator().manual_seed(2)
    coef = torch.randn(20, 26, generator=gen, dtype=torch.float64)
    x = (torch.rand(3, 700, 2, generator=gen, dtype=torch.float64) * 1.4 - 0.1).requires_grad_()
    whole = spline.evaluate(coef, grid, x), spline.evaluate_derivatives(coef, grid, x, 2)
    (g_whole,) = torch.autograd.grad(whole[0].sum(), x)
    monkeypatch.setattr(spline, "POINT_CHUNK", 256)
    pieces = spline.evaluate(coef, grid, x), spline.evaluate_derivatives(coef, grid, x, 2)
    (g_pieces,) = torch.autograd.grad(pieces[0].sum(), x)
    assert pieces[0].shape == whole[0].shape and pieces[1][2].shape == whole[1][2].shape
    for a, b in zip((pieces[0], *pieces[1], g_pieces), (whole[0], *whole[1], g_whole)):
        assert float((a - b).abs().max()) <= 1e-13 * float(b.abs().max())
