"""problem.distance=mi: Mattes mutual information (regrun.registration.mutual_information)."""
import pytest
import torch
from omegaconf import OmegaConf
from registration_problem import affine_problem

from regrun.imaging import spline
from regrun.imaging.grid import Grid
from regrun.imaging.transforms import Affine
from regrun.linalg.checks import taylor_test
from regrun.monitor import Monitor
from regrun.registration.mutual_information import MattesMutualInformation
from regrun.registration.objective import EdgeTaper
from regrun.solvers.multilevel import Multilevel


def _pair(device, n=20):
    """A smooth template and a reference that is a non-monotone function of it (no gain/offset relates them)."""
    grid = Grid((0.0, float(n), 0.0, float(n)), (n, n))
    x = grid.centres(torch.float64, device)
    img = torch.exp(-((x - n / 2) ** 2).sum(-1) / (n * n / 8)) + 0.3 * torch.sin(x[..., 0] / 2) * torch.cos(x[..., 1] / 3)
    return grid, x, img, 1 - img**2


def _kernel(device, weights, bins=16, template=None):
    grid, x, img, ref = _pair(device)
    template = img if template is None else template
    transform = Affine(center=grid.centre)
    w = weights(grid) if callable(weights) else None
    k = MattesMutualInformation(spline.SplineImage(template, grid), transform, x.reshape(-1, 2), ref.reshape(-1),
                                template_range=(float(template.min()), float(template.max())), bins=bins, weights=w)
    gen = torch.Generator().manual_seed(3)
    w0 = transform.identity(torch.float64, device) + 0.03 * torch.randn(3, 6, generator=gen, dtype=torch.float64).to(device)
    return k, w0


WEIGHTS = {"none": None, "taper": lambda g: EdgeTaper(g, 2.0)}


@pytest.mark.parametrize("weights", WEIGHTS)
def test_gradient_and_hessian_equal_autograd(weights, device):
    """The analytic gradient and Hessian (normalisation and moving weights included) equal autograd's of the
    differentiable value, per batch item, on the run's device."""
    k, w = _kernel(device, WEIGHTS[weights])
    value, g, h = k.value_grad_hessian(w)
    assert g.device == w.device and h.dtype == torch.float64
    for b in range(w.shape[0]):
        g_ref = torch.func.grad(k.value)(w[b])
        h_ref = torch.func.hessian(k.value)(w[b])
        assert torch.allclose(value[b], k.value(w[b]), atol=1e-14)
        assert torch.allclose(g[b], g_ref, rtol=1e-10, atol=1e-13), (g[b], g_ref)
        assert torch.allclose(h[b], h_ref, rtol=1e-9, atol=1e-11), (h[b] - h_ref).abs().max()
    v2, g2 = k.value_and_grad(w)
    assert torch.allclose(v2, value) and torch.allclose(g2, g)


@pytest.mark.parametrize("weights", WEIGHTS)
def test_taylor(weights, device):
    k, w = _kernel(device, WEIGHTS[weights])
    _, g, h = k.value_grad_hessian(w)
    v = torch.randn(w.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64).to(device)
    res = taylor_test(k.value, w, v, first=(g * v).sum(-1), second=torch.einsum("bp,bpq,bq->b", v, h, v),
                      steps=[2.0**-k for k in range(4, 10)], reduce=torch.abs)
    for b in range(w.shape[0]):
        assert 1.8 < res.order(1)[b] < 2.3, res.order(1)[b]
        # O(h^3) almost everywhere; the kernels' (and the taper's) second derivatives have kinks and jumps:
        # 2.2-2.4 over these steps
        assert res.order(2)[b] > 2.2, res.order(2)[b]


def test_invariant_to_intensity_maps(device):
    """MI sees only which intensities co-occur: a gain, an offset or an inversion of the template changes the
    bins' labels, not J. (At cell centres, where the spline reproduces the mapped values exactly; between them
    FAIR's spline, zero outside the domain, does not reproduce an offset near the edge.)"""
    grid, x, img, ref = _pair(device)
    base, _ = _kernel(device, WEIGHTS["taper"])
    w = base.transform.identity(torch.float64, device)
    for mapped in (0.7 * img + 20, 255 - 3 * img):
        other, _ = _kernel(device, WEIGHTS["taper"], template=mapped)
        assert torch.allclose(other.value(w), base.value(w), rtol=1e-12, atol=1e-13)


def test_mi_registers_an_inverted_template(tmp_path, device):
    """An intensity-inverted template defeats SSD; MI (the users' settings: mask, moment starts, multilevel with
    trust_exact under optimizer=lm) finds the known affine."""
    over = {"synthetic.size": 32, "synthetic.texture": 0.1, "outside": "mask", "normalise": True, "centre": True,
            "init": "moments"}
    p = affine_problem(tmp_path, device, distance="mi", **over)
    p.template = p.template.max() - p.template
    assert p.at_scale(0.0).least_squares is False
    cfg = OmegaConf.load("configs/solver/multilevel.yaml")
    cfg.min_size = 8
    res = Multilevel(cfg, p.ctx).solve(p, Monitor())
    assert res.solution["w"].device == p.identity.device
    # 0.061 px (SSD on the uninverted pair: 0.0023): on 32^2 the histogram of 1024 points biases MI's minimiser
    assert p.displacement_rmse(res.solution["w"]) < 0.1, p.displacement_rmse(res.solution["w"])


def test_mi_verdict_fits_any_smooth_intensity_map(tmp_path, device):
    """At the true transform of a pair whose template went through a non-monotone intensity map, the gain-and-
    offset verdict of ssd/ncc sees a large misfit; mi's verdict, after the best smooth map g(T), sees none, and
    says nothing. A wrong transform is still warned."""
    over = {"synthetic.size": 32, "synthetic.texture": 0.1, "outside": "mask", "normalise": True, "centre": True}
    verdicts = {}
    for distance in ("ssd", "mi"):
        p = affine_problem(tmp_path, device, distance=distance, **over)
        lo, hi = p.template.min(), p.template.max()
        p.template = torch.sin(0.75 * torch.pi * (p.template - lo) / (hi - lo))
        p.cfg.data = "files"  # the residual verdict is the one users' files get
        w = p.from_affine(p.w_true)
        verdicts[distance] = p.fit_metrics(w), p.warnings(p.fit_metrics(w))
        if distance == "mi":
            wrong = p.from_affine(p.w_true) + torch.tensor([0, 0, 0, 0, 3.0, -2.0], dtype=w.dtype, device=w.device)
            assert p.warnings(p.fit_metrics(wrong)), "a 3.6 px misalignment must be warned"
    assert verdicts["ssd"][0]["misfit_px"] > 0.45 and verdicts["ssd"][1]
    assert verdicts["mi"][0]["misfit_px"] < 0.1 and not verdicts["mi"][1], verdicts["mi"]


def test_parameter_scales_are_rms_displacements(device):
    """MI's trust-region units: a unit change of A_kl moves the points by |x_l - c_l| along axis k (RMS over the
    points), of b by 1."""
    k, _ = _kernel(device, None)
    x = k.x - torch.tensor(k.transform.center, dtype=k.x.dtype, device=device)
    rms = (x**2).mean(0).sqrt()
    expected = torch.stack((rms[0], rms[1], rms[0], rms[1], torch.ones_like(rms[0]), torch.ones_like(rms[0])))
    assert k.parameter_scales.device == x.device
    torch.testing.assert_close(k.parameter_scales, expected, rtol=1e-12, atol=0)


def test_scaled_trust_region_is_newton_in_the_scaled_parameters(device):
    """trust_region_newton(scales=s) on J(w) takes the iterates of the unscaled solver on J(v / s), v = s w."""
    from regrun.optim.trust_region import trust_region_newton

    k, w0 = _kernel(device, None)
    s = k.parameter_scales
    scaled = trust_region_newton(k.value_and_grad, k.hessian, w0[0], scales=s, max_iter=15)

    def vg(v):
        value, g = k.value_and_grad(v / s)
        return value, g / s

    plain = trust_region_newton(vg, lambda v: k.hessian(v / s) / torch.outer(s, s), w0[0] * s, max_iter=15)
    torch.testing.assert_close(scaled.w, plain.w / s, rtol=1e-10, atol=1e-12)
    assert scaled.n_iter == plain.n_iter and scaled.w.device == w0.device
    torch.testing.assert_close(scaled.extra["hessian"], k.hessian(scaled.w), rtol=1e-10, atol=1e-12)
