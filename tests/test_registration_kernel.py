"""The pointwise registration kernel: Taylor tests of its gradient and Hessian for every transformation,
equality with torch.func, batching, weights and normalisation."""
import math

import pytest
import torch
from torch.func import grad, hessian, jacfwd

from regrun.imaging import spline
from regrun.imaging.grid import Grid
from regrun.registration.objective import PointwiseObjective
from regrun.imaging.transforms import TRANSFORMATIONS, transformation
from regrun.linalg.checks import taylor_test

GRID = Grid((0.0, 16.0, 0.0, 12.0), (16, 12))
SCALES = {"translation": 0.5, "rigid": 0.05, "similarity": 0.03, "affine": 0.03}


def smooth_image(device, seed, theta=0.5):
    gen = torch.Generator().manual_seed(seed)
    img = torch.randn(GRID.m, generator=gen, dtype=torch.float64).to(device)
    return spline.SplineImage(img, GRID, theta)


def objective(device, name, batch=3, **kw):
    t = transformation(name, GRID.centre)
    x = GRID.centres(torch.float64, device).reshape(-1, 2)
    ref = torch.stack([smooth_image(device, 10 + b)(x) for b in range(batch)])
    obj = PointwiseObjective(smooth_image(device, 1), t, x, ref, scale=GRID.cell_volume, **kw)
    gen = torch.Generator().manual_seed(3)
    w = t.identity(torch.float64) + SCALES[name] * torch.randn(batch, t.n_params, generator=gen, dtype=torch.float64)
    v = SCALES[name] * torch.randn(batch, t.n_params, generator=gen, dtype=torch.float64)
    return obj, w.to(device), v.to(device)


def slope(errors, hs):
    return math.log(errors[0] / errors[-1]) / math.log(hs[0] / hs[-1])


@pytest.mark.parametrize("name", TRANSFORMATIONS)
def test_taylor_gradient_and_hessian(name, device):
    obj, w, v = objective(device, name)
    value, g, h = obj.value_grad_hessian(w)
    # one remainder per batch item (reduce=abs keeps them apart)
    res = taylor_test(obj.value, w, v, first=(g * v).sum(-1), second=torch.einsum("bp,bpq,bq->b", v, h, v),
                      steps=[2.0**-k for k in range(3, 9)], reduce=torch.abs)
    for b in range(w.shape[0]):
        s1, s2 = res.order(1)[b], res.order(2)[b]
        assert 1.8 < s1 < 2.3, (b, s1)
        # the cubic spline's third derivative jumps at knots: O(h^3) almost everywhere, >= 2.5 on average
        assert s2 > 2.5, (b, s2)


@pytest.mark.parametrize("name", TRANSFORMATIONS)
def test_equals_torch_func_per_item(name, device):
    obj, w, _ = objective(device, name)
    value, g, h = obj.value_grad_hessian(w)
    v2, g2 = obj.value_and_grad(w)
    r, jac = obj.residual_and_jacobian(w)
    assert torch.allclose(value, v2) and torch.allclose(g, g2)
    assert torch.allclose((r * r).sum(-1), value, rtol=1e-12)
    f, gn_g, jtj = obj.gauss_newton(w)
    assert torch.allclose(f, value, rtol=1e-12) and torch.allclose(gn_g, g, rtol=1e-10, atol=1e-12)
    assert torch.allclose(jtj, jac.transpose(1, 2) @ jac)
    for b in range(w.shape[0]):
        item = PointwiseObjective(obj.image, obj.transform, obj.x[0], obj.reference[b], scale=obj.scale)
        ref_g, ref_h = grad(item.value)(w[b]), hessian(item.value)(w[b])
        tol = 1e-10 * float(ref_h.abs().max())
        assert torch.allclose(g[b], ref_g, rtol=1e-10, atol=tol)
        assert torch.allclose(h[b], ref_h, rtol=1e-9, atol=tol)
        assert torch.allclose(jac[b], jacfwd(item.residual)(w[b]), rtol=1e-10, atol=1e-12)
        # unbatched w gives unbatched results
        assert torch.allclose(item.value_and_grad(w[b])[1], g[b])


def test_weights_mask_and_mean_normalisation(device):
    x = GRID.centres(torch.float64, device).reshape(-1, 2)
    ref = smooth_image(device, 5)(x)
    t = transformation("affine", GRID.centre)
    w = (t.identity(torch.float64) + torch.tensor([0.05, 0.02, -0.03, 0.04, 0.7, -0.4], dtype=torch.float64)).to(device)
    full = PointwiseObjective(smooth_image(device, 1), t, x, ref, scale=2.0)
    keep = (x[:, 0] > 4.0) & (x[:, 1] < 9.0)
    masked = PointwiseObjective(smooth_image(device, 1), t, x, ref, weights=keep.to(torch.float64), scale=2.0)
    cropped = PointwiseObjective(smooth_image(device, 1), t, x[keep], ref[keep], scale=2.0)
    for a, b in zip(masked.value_grad_hessian(w), cropped.value_grad_hessian(w)):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
    mean = PointwiseObjective(smooth_image(device, 1), t, x, ref, weights=keep.to(torch.float64), normalization="mean",
                              scale=2.0)
    n_used = int(keep.sum())
    assert torch.allclose(mean.value(w) * n_used, masked.value(w))
    assert torch.allclose(mean.hessian(w) * n_used, masked.hessian(w))
    plain_mean = PointwiseObjective(smooth_image(device, 1), t, x, ref, normalization="mean")
    assert torch.allclose(plain_mean.value(w) * x.shape[0], full.value(w) / 2.0)

    # a callable of the warped points: ITK's mask of points whose y falls inside the template's domain
    def inside(y):
        lo1, hi1, lo2, hi2 = GRID.omega
        return ((y[..., 0] > lo1) & (y[..., 0] < hi1) & (y[..., 1] > lo2) & (y[..., 1] < hi2)).to(y.dtype)

    itk = PointwiseObjective(smooth_image(device, 1), t, x, ref, weights=inside, normalization="mean")
    y = full.points(w[None])[0]
    inner = inside(y).bool()
    assert 0 < int(inner.sum()) < x.shape[0]
    same = PointwiseObjective(smooth_image(device, 1), t, x[inner], ref[inner], normalization="mean")
    for a, b in zip(itk.value_grad_hessian(w), same.value_grad_hessian(w)):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


class TwoChannels:
    """Two spline images as one image model with a trailing channel axis."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def __call__(self, y):
        return torch.stack((self.a(y), self.b(y)), -1)

    def derivatives(self, y, order=1):
        pa, pb = self.a.derivatives(y, order), self.b.derivatives(y, order)
        return tuple(None if u is None else torch.stack((u, v), 2 if u.dim() > 2 else -1) for u, v in zip(pa, pb))


@pytest.mark.parametrize("normalization", ["sum", "mean"])
def test_channels_are_more_residuals_at_the_same_points(normalization, device):
    t = transformation("rigid", GRID.centre)
    x = GRID.centres(torch.float64, device).reshape(-1, 2)
    a, b = smooth_image(device, 1), smooth_image(device, 2)
    ra, rb = smooth_image(device, 11)(x), smooth_image(device, 12)(x)
    weights = (x[:, 0] > 3.0).to(torch.float64)
    kw = dict(weights=weights, normalization=normalization, scale=1.5)
    both = PointwiseObjective(TwoChannels(a, b), t, x, torch.stack((ra, rb), -1), channels=2, **kw)
    one_a = PointwiseObjective(a, t, x, ra, **kw)
    one_b = PointwiseObjective(b, t, x, rb, **kw)
    w = torch.tensor([[0.05, 0.3, -0.2], [-0.02, 0.1, 0.4]], dtype=torch.float64, device=device)
    factor = 0.5 if normalization == "mean" else 1.0  # the mean is over both channels' values
    for u, va, vb in zip(both.value_grad_hessian(w), one_a.value_grad_hessian(w), one_b.value_grad_hessian(w)):
        assert torch.allclose(u, factor * (va + vb), rtol=1e-12, atol=1e-12)
    assert torch.allclose(both.value_and_grad(w)[1], factor * (one_a.value_and_grad(w)[1] + one_b.value_and_grad(w)[1]))
    r, jac = both.residual_and_jacobian(w)
    assert r.shape == (2, 2 * x.shape[0]) and jac.shape == (2, 2 * x.shape[0], 3)
    assert torch.allclose((r * r).sum(-1), both.value(w))
    assert torch.allclose(jac[1], jacfwd(both.residual)(w[1]), atol=1e-12)


def test_a_keys_interpolant_plugs_in(device):
    """The crab blocks' Keys interpolant (values_and_gradients, no `derivatives`) drops into the kernel: its
    analytic gradients give the same J-gradient as autograd, and its Hessian comes by reverse sweeps."""
    from regrun.imaging.keys import KeysImage

    gen = torch.Generator().manual_seed(4)
    image = KeysImage(torch.randn(GRID.m, generator=gen, dtype=torch.float64).to(device), GRID)
    x = GRID.centres(torch.float64, device)[3:-3, 3:-3].reshape(-1, 2)
    t = transformation("rigid", GRID.centre)
    truth = torch.tensor([0.1, 0.4, -0.3], dtype=torch.float64, device=device)
    obj = PointwiseObjective(image, t, x, image(t.points(truth, x)))
    w = torch.tensor([[0.05, 0.1, 0.2], [0.12, 0.5, -0.1]], dtype=torch.float64, device=device)
    value, g = obj.value_and_grad(w)
    assert torch.allclose(g[0], grad(obj.value)(w[0]), rtol=1e-10, atol=1e-12)
    assert torch.allclose(value, obj.value(w))
    assert torch.allclose(obj.hessian(w)[1], hessian(obj.value)(w[1]), rtol=1e-8, atol=1e-10)


def test_trial_residual_is_reused_only_at_the_same_point(device):
    """LM's trial point: trial_residual keeps its gradients, residual_and_jacobian at the very same w returns
    what a fresh evaluation gives, and at any other w (or with create_graph) it evaluates afresh."""
    obj, w, v = objective(device, "affine", weights=lambda y: GRID.inside_weight(y, 0.5), normalization="mean")
    r_trial = obj.trial_residual(w)
    assert not r_trial.requires_grad
    assert torch.allclose(r_trial, obj.residual(w), rtol=1e-13, atol=1e-15)
    fresh = PointwiseObjective(obj.image, obj.transform, obj.x[0], obj.reference, weights=obj.weights,
                               normalization="mean", scale=obj.scale)
    for got, want in zip(obj.residual_and_jacobian(w.clone()), fresh.residual_and_jacobian(w)):
        assert torch.equal(got, want)
    # a different point (even one item moved) is not served from the kept trial
    moved = w.clone()
    moved[1] += 1e-3 * v[1]
    for got, want in zip(obj.residual_and_jacobian(moved), fresh.residual_and_jacobian(moved)):
        assert torch.equal(got, want)
    obj.trial_residual(w[0])  # unbatched w: unbatched results
    assert obj.residual_and_jacobian(w[0])[1].shape == (obj.x.shape[1], 6)


@pytest.mark.parametrize("own", [False, True])
@pytest.mark.parametrize("normalization", ["sum", "mean"])
def test_smooth_weights_enter_the_derivatives(normalization, own, device):
    """EdgeTaper weights move with w: the Jacobian, gradient and Hessian include their derivatives (and the
    mean's denominator), equal to torch.func's of the differentiable J and Taylor-tested, with points in the
    taper band; batched items agree with one-by-one objectives. own: times a factor of each point's own
    position x, constant in w (`fixed`; super-resolution's pre-registration, superres_model.SMOOTH_EDGE)."""
    from regrun.registration.objective import EdgeTaper

    taper = EdgeTaper(GRID, 3.0)
    obj, w, v = objective(device, "affine", weights=taper, normalization=normalization)
    if own:
        taper.fixed = EdgeTaper(GRID, 3.0, inset=0.5).root(obj.x[0])
        assert bool(((taper.fixed > 0) & (taper.fixed < 1)).any())
    w = w + torch.tensor([0, 0, 0, 0, 1.3, -0.9], dtype=torch.float64, device=device)  # points cross the edge
    s = taper.root(obj.points(w))
    assert bool(((s > 0) & (s < 1)).sum(-1).ge(20).all())
    value, g, h = obj.value_grad_hessian(w)
    r, jac = obj.residual_and_jacobian(w)
    assert torch.allclose((r * r).sum(-1), value, rtol=1e-12)
    for b in range(w.shape[0]):
        item = PointwiseObjective(obj.image, obj.transform, obj.x[0], obj.reference[b], weights=taper,
                                  normalization=normalization, scale=obj.scale)
        assert torch.allclose(g[b], grad(item.value)(w[b]), rtol=1e-9, atol=1e-12)
        assert torch.allclose(jac[b], jacfwd(item.residual)(w[b]), rtol=1e-9, atol=1e-12)
        assert torch.allclose(h[b], hessian(item.value)(w[b]), rtol=1e-8, atol=1e-10)
    hs = [2.0**-k for k in range(3, 9)]
    e1 = [(obj.value(w + t * v) - value - t * (g * v).sum(-1)).abs() for t in hs]
    for b in range(w.shape[0]):
        assert 1.8 < slope([float(e[b]) for e in e1[2:]], hs[2:]) < 2.3  # (a wrong gradient gives 1)
    # the trial point's kept pieces give the same Jacobian as a fresh evaluation
    obj.trial_residual(w)
    assert torch.equal(obj.residual_and_jacobian(w)[1], jac)
    with pytest.raises(ValueError, match="create_graph"):
        obj.residual_and_jacobian(w, create_graph=True)


@pytest.mark.parametrize("weights", ["none", "taper"])
def test_fitted_intensity_gain_and_offset(weights, device):
    """intensity="affine" (problem.distance=ncc): J is minimised over a gain and offset of T for every w, so it
    does not change when T's intensities are scaled and shifted; its gradient (a and b held fixed, by the
    envelope theorem) equals torch.func's through the fitted a(w), b(w), the Jacobian's too (Kaufman's variable
    projection: the residual's derivative at fixed a, b), and a Taylor test passes."""
    from regrun.registration.objective import EdgeTaper

    opts = {"weights": EdgeTaper(GRID, 2.0), "normalization": "mean"} if weights == "taper" else {}
    obj, w, v = objective(device, "affine", intensity="affine", **opts)
    if weights == "taper":
        w = w + torch.tensor([0, 0, 0, 0, 1.3, -0.9], dtype=torch.float64, device=device)
    value, g = obj.value_and_grad(w)
    changed = PointwiseObjective(lambda y: 0.7 * obj.image(y) + 20.0, obj.transform, obj.x[0], obj.reference,
                                 scale=obj.scale, intensity="affine", **opts)
    assert torch.allclose(changed.value(w), value, rtol=1e-10)
    fixed = PointwiseObjective(obj.image, obj.transform, obj.x[0], obj.reference, scale=obj.scale, **opts)
    assert bool((value < fixed.value(w)).all())               # the best gain and offset lower J
    for b in range(w.shape[0]):
        item = PointwiseObjective(obj.image, obj.transform, obj.x[0], obj.reference[b], scale=obj.scale,
                                  intensity="affine", **opts)
        assert torch.allclose(g[b], grad(item.value)(w[b]), rtol=1e-9, atol=1e-11)
    hs = [2.0**-k for k in range(3, 9)]
    e1 = [(obj.value(w + t * v) - value - t * (g * v).sum(-1)).abs() for t in hs]
    for b in range(w.shape[0]):
        assert 1.8 < slope([float(e[b]) for e in e1[2:]], hs[2:]) < 2.3  # (a wrong gradient gives 1)
    r, jac = obj.residual_and_jacobian(w)
    assert torch.allclose((r * r).sum(-1), value, rtol=1e-12)
    assert torch.allclose(2 * (jac.transpose(1, 2) @ r[..., None])[..., 0], g, rtol=1e-10, atol=1e-12)
    h = obj.hessian(w)
    assert torch.allclose(h[0], hessian(lambda u: obj.value(u[None])[0])(w[0]), rtol=1e-8, atol=1e-10)
