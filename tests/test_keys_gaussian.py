"""Keys cubic convolution (values, exact gradients, boundaries, batching) and the separable gaussian filter."""
import numpy as np
import pytest
import torch

from regrun.imaging.gaussian import gaussian_filter, gaussian_kernel1d
from regrun.imaging.grid import Grid
from regrun.imaging.keys import KeysImage, keys_kernel, keys_sample
from regrun.linalg.checks import taylor_test


def _rand(*shape, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=torch.float64).to(device)


def _direct(img: np.ndarray, p, a, boundary):
    """Independent per-point formula: the full double sum over every pixel of the image."""
    h, w = img.shape

    def phi(t):
        s = abs(t)
        if s < 1:
            return (a + 2) * s**3 - (a + 3) * s**2 + 1
        if s < 2:
            return a * s**3 - 5 * a * s**2 + 8 * a * s - 4 * a
        return 0.0

    total = 0.0
    for k in range(int(np.floor(p[0])) - 3, int(np.floor(p[0])) + 4):
        for l in range(int(np.floor(p[1])) - 3, int(np.floor(p[1])) + 4):
            if boundary == "zero" and not (0 <= k < h and 0 <= l < w):
                continue
            kk, ll = min(max(k, 0), h - 1), min(max(l, 0), w - 1)
            total += img[kk, ll] * phi(p[0] - k) * phi(p[1] - l)
    return total


@pytest.mark.parametrize("a", [-0.5, -0.75])
@pytest.mark.parametrize("boundary", ["zero", "clamp"])
def test_values_match_the_direct_formula(a, boundary, device):
    img = _rand(7, 9, device=device)
    pts = torch.cat((_rand(40, 2, seed=1, device=device) * torch.tensor([10.0, 12.0], dtype=torch.float64,
                                                                       device=device) - 1.5,
                     torch.tensor([[0.0, 0.0], [6.0, 8.0], [3.0, 4.5]], dtype=torch.float64, device=device)))
    got = keys_sample(img, pts, a, boundary).cpu().numpy()
    ref = [_direct(img.cpu().numpy(), p, a, boundary) for p in pts.cpu().numpy()]
    np.testing.assert_allclose(got, ref, atol=1e-13)


def test_a075_zero_boundary_equals_grid_sample_bicubic(device):
    """torch's bicubic grid_sample (a = -0.75, zeros padding, align_corners=True) is the authors' PyTorch path."""
    img = _rand(2, 3, 12, 15, device=device)
    pts = _rand(2, 5, 6, 2, seed=3, device=device) * torch.tensor([14.0, 17.0], dtype=torch.float64,
                                                                  device=device) - 1.0
    ours = keys_sample(img, pts, a=-0.75, boundary="zero")
    norm = torch.stack((pts[..., 1] / 14 * 2 - 1, pts[..., 0] / 11 * 2 - 1), -1)
    ref = torch.nn.functional.grid_sample(img, norm, mode="bicubic", padding_mode="zeros", align_corners=True)
    assert torch.allclose(ours, ref, atol=1e-12)


def test_interpolates_pixels_and_reproduces_polynomials(device):
    r = torch.arange(12, dtype=torch.float64, device=device)
    rr, cc = torch.meshgrid(r, r, indexing="ij")
    pts = 3 + 5 * _rand(50, 2, seed=2, device=device)  # interior: every tap inside the image
    q = lambda p0, p1: 0.3 * p0**2 - 0.2 * p0 * p1 + 0.1 * p1**2 + p0 - 2 * p1 + 0.5  # noqa: E731
    lin = lambda p0, p1: 0.7 * p0 - 1.3 * p1 + 2.0  # noqa: E731
    for a in (-0.5, -0.75):
        img = _rand(12, 12, seed=5, device=device)
        assert torch.allclose(keys_sample(img, torch.stack((rr, cc), -1), a), img, atol=1e-14)
        assert torch.allclose(keys_sample(torch.full_like(rr, 2.5), pts, a), torch.full_like(pts[:, 0], 2.5))
    assert torch.allclose(keys_sample(lin(rr, cc), pts, -0.5), lin(pts[:, 0], pts[:, 1]), atol=1e-12)
    assert (keys_sample(lin(rr, cc), pts, -0.75) - lin(pts[:, 0], pts[:, 1])).abs().max() > 1e-3
    # a = -0.5 is third-order: quadratics exactly, with exact gradients; a = -0.75 only constants.
    v, g = keys_sample(q(rr, cc), pts, -0.5, gradient=True)
    assert torch.allclose(v, q(pts[:, 0], pts[:, 1]), atol=1e-12)
    exact_g = torch.stack((0.6 * pts[:, 0] - 0.2 * pts[:, 1] + 1, -0.2 * pts[:, 0] + 0.2 * pts[:, 1] - 2), -1)
    assert torch.allclose(g, exact_g, atol=1e-11)
    assert (keys_sample(q(rr, cc), pts, -0.75) - q(pts[:, 0], pts[:, 1])).abs().max() > 1e-3


@pytest.mark.parametrize("boundary", ["zero", "clamp"])
def test_gradient_taylor_and_autograd(boundary, device):
    img = _rand(2, 3, 10, 11, device=device)
    pts = (_rand(2, 30, 2, seed=4, device=device) * 12 - 1).requires_grad_(True)
    v, g = keys_sample(img, pts, -0.5, boundary, gradient=True)
    # autograd through the values gives the analytic gradient
    (auto,) = torch.autograd.grad(v.sum(dim=1).sum(), pts)
    assert torch.allclose(auto, g.sum(dim=1), atol=1e-12)
    # Taylor: first-order remainder O(h), second-order remainder O(h^2)
    d = _rand(2, 30, 2, seed=6, device=device) - 0.5
    lin = (g.detach() * d[:, None]).sum(-1)
    e1, e2 = taylor_test(lambda p: keys_sample(img, p, -0.5, boundary), pts.detach(), d, first=lin,
                         steps=(1e-2, 5e-3, 2.5e-3)).errors
    assert e1[0] / e1[2] == pytest.approx(4, rel=0.2) and e2[0] / e2[2] == pytest.approx(16, rel=0.3), (e1, e2)


def test_zero_boundary_vanishes_outside_and_image_gradient(device):
    img = _rand(6, 6, device=device).requires_grad_(True)
    out = torch.tensor([[-2.0, 3.0], [3.0, 7.0], [8.5, -4.0]], dtype=torch.float64, device=device)
    assert torch.all(keys_sample(img, out) == 0)
    # linear in the image: gradient with respect to it is the weight table itself
    pt = torch.tensor([[2.3, 3.6]], dtype=torch.float64, device=device)
    (gi,) = torch.autograd.grad(keys_sample(img, pt).sum(), img)
    w0 = keys_kernel(2.3 - torch.arange(6, dtype=torch.float64, device=device))
    w1 = keys_kernel(3.6 - torch.arange(6, dtype=torch.float64, device=device))
    assert torch.allclose(gi, w0[:, None] * w1[None, :], atol=1e-15)


def test_keys_image_on_a_grid_chains_the_cell_size(device):
    data = _rand(3, 8, 10, device=device)
    grid = Grid((0.0, 4.0, 0.0, 20.0), (8, 10))
    img = KeysImage(data, grid)
    x = grid.centres(device=device)
    assert torch.allclose(img(x), data, atol=1e-14)
    xs = x[2:5, 3:6].reshape(-1, 2) + 0.13
    v, g = img.values_and_gradients(xs)
    assert v.shape == (3, 9) and g.shape == (3, 9, 2)
    xr = xs.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(img(xr).sum(), xr)
    assert torch.allclose(auto, g.sum(0), atol=1e-12)
    # the image-model interface of the registration kernel: Hessians equal autograd's second sweep
    from regrun.registration.image_model import pointwise_derivatives

    one = KeysImage(data[1], grid)
    v2, g2, h2 = one.derivatives(xs, 2)
    rv, rg, rh = pointwise_derivatives(one, xs, 2)
    assert torch.allclose(v2, rv) and torch.allclose(g2, rg, atol=1e-12) and torch.allclose(h2, rh, atol=1e-10)


@pytest.mark.parametrize("sigma,tail,taps", [(3.0, 3, 19), (1.5, 3, 11), (0.1, 3, 3), (20.0, 2, 81), (0.0, 3, 1)])
def test_kernel_taps_and_mass(sigma, tail, taps):
    k = gaussian_kernel1d(sigma, tail)
    assert k.numel() == taps and float(k.sum()) == pytest.approx(1.0, abs=1e-15)
    assert torch.equal(k, k.flip(0))


def test_gaussian_matches_scipy_and_fft_matches_direct(device):
    from scipy.ndimage import correlate1d

    x = _rand(2, 3, 40, 50, device=device)
    for sigma in (1.5, (2.0, 4.5)):
        direct = gaussian_filter(x, sigma, method="direct")
        fft = gaussian_filter(x, sigma, method="fft")
        assert torch.allclose(direct, fft, atol=1e-13)
        s = (sigma, sigma) if isinstance(sigma, float) else sigma
        ref = x.cpu().numpy()
        for ax, si in zip((-2, -1), s):
            ref = correlate1d(ref, gaussian_kernel1d(si).numpy(), axis=ax, mode="constant", cval=0.0)
        np.testing.assert_allclose(direct.cpu().numpy(), ref, atol=1e-13)
    big = gaussian_filter(x, 20.0, tail=2)  # 81 taps: auto takes the FFT path
    assert torch.allclose(big, gaussian_filter(x, 20.0, tail=2, method="direct"), atol=1e-13)


def test_gaussian_filter_is_self_adjoint_with_zero_boundary(device):
    g = torch.Generator().manual_seed(9)
    for method in ("direct", "fft"):
        x = torch.randn(3, 33, 47, generator=g, dtype=torch.float64).to(device)
        y = torch.randn(3, 33, 47, generator=g, dtype=torch.float64).to(device)
        lhs = float((gaussian_filter(x, 2.5, method=method) * y).sum())
        rhs = float((x * gaussian_filter(y, 2.5, method=method)).sum())
        assert abs(lhs - rhs) <= 1e-13 * abs(lhs)


def test_float32_is_enough_for_textures_not_for_spike_costs(device):
    """The textured filter keeps ~7 digits in float32; the cost of a nearly registered blurred spike does not:
    its relative error grows as the misalignment shrinks (measured 3e-4 at 0.01 px, 2% at 1e-4 px)."""
    x = _rand(1, 64, 64, device=device)
    f64 = gaussian_filter(x, 3.0)
    f32 = gaussian_filter(x.float(), 3.0).double()
    assert float((f32 - f64).abs().max() / f64.abs().max()) < 1e-6
    spike = torch.zeros(101, 101, dtype=torch.float64, device=device)
    spike[50, 50] = 1.0
    r = torch.arange(101.0, dtype=torch.float64, device=device)
    rr, cc = torch.meshgrid(r, r, indexing="ij")

    def cost(eps, dtype):
        s = spike.to(dtype)
        warped = keys_sample(s, torch.stack((rr, cc + eps), -1).to(dtype))
        return 0.5 * float(((gaussian_filter(warped, 20.0, 2) - gaussian_filter(s, 20.0, 2)) ** 2).sum())

    c64 = [cost(e, torch.float64) for e in (1e-2, 1e-3, 1e-4)]
    assert c64[0] / c64[1] == pytest.approx(100, rel=0.01) and c64[1] / c64[2] == pytest.approx(100, rel=0.01)
    rel32 = abs(cost(1e-4, torch.float32) - c64[2]) / c64[2]
    assert rel32 > 5e-3
