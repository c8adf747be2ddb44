"""The spike cost of eq. 10/13 (SpikeCost): its autograd gradient passes a Taylor test, it stays in float32 under a
float64 default (torch.linalg.det's backward did not), and on gaussian spikes at non-integer positions (App. A.3.2)
the exact affine map is its minimiser to the filters' truncation."""
import math

import pytest
import torch

from regrun.detection.motif_registration import SpikeCost, det_2x2, inverse_2x2, register_spikes, spike_schedule
from regrun.linalg.checks import taylor_test
from regrun.problems.spike_pair import gaussian_spike_maps

DT = torch.float64
SPIKES = [[9.3, 10.2], [11.7, 27.4], [21.1, 12.8], [22.6, 25.1], [15.2, 18.9]]


def gaussian_pair(device, dtype=DT, a=((1.05, 0.08), (-0.06, 0.96)), b=(0.7, -1.2), sigma0=2.0, margin=6):
    """Five sigma0 densities in a 31 x 37 motif and a scene holding them after v = A (u - mean) + mean + b."""
    v = torch.tensor(SPIKES, dtype=DT)
    cen = v.mean(0)
    a, b = torch.tensor(a, dtype=DT), torch.tensor(b, dtype=DT)
    u = (v - cen - b) @ torch.linalg.inv(a).T + cen
    motif = gaussian_spike_maps(v, (31, 37), sigma0)
    scene = gaussian_spike_maps(u + margin, (31 + 2 * margin, 37 + 2 * margin), sigma0)
    anchor = torch.full((1, 2), float(margin), dtype=dtype, device=device)
    return motif.to(device, dtype), scene.to(device, dtype), anchor, a, b, cen


def test_closed_form_2x2_determinant_and_inverse(device):
    m = torch.randn(7, 2, 2, generator=torch.Generator().manual_seed(0), dtype=DT).to(device)
    assert torch.allclose(det_2x2(m), torch.linalg.det(m), rtol=1e-12, atol=1e-14)
    assert torch.allclose(inverse_2x2(m) @ m, torch.eye(2, dtype=DT, device=device).expand(7, 2, 2), atol=1e-10)


@pytest.mark.parametrize("transform,presmoothed", [("affine", True), ("affine", False), ("rigid", True)])
def test_spike_cost_gradient_taylor(transform, presmoothed, device):
    """|phi(w + h d) - phi(w) - h <grad, d>| falls as h^2 (first order: as h) at a generic point."""
    motif, scene, anchor, *_ = gaussian_pair(device)
    if not presmoothed:  # pixel spikes: the cost blurs them itself
        motif = (motif == motif.amax((-2, -1), keepdim=True)).to(DT)
    cost = SpikeCost(scene, motif, anchor, 6.0, 2.0, transform=transform, presmoothed=presmoothed, tail=4.0)
    g = torch.Generator().manual_seed(1)
    w = cost.identity(1) + 0.05 * torch.randn(1, cost.transform.n_params, generator=g, dtype=DT).to(device)
    d = torch.randn(w.shape, generator=g, dtype=DT).to(device)
    d[:, -2:] *= 10  # shifts in pixels move the cost about as much as 0.1 of the matrix entries
    items = torch.zeros(1, dtype=torch.long, device=device)
    f0, grad = cost.value_and_grad(w, items)
    slope = float((grad * d).sum())
    first, second = taylor_test(lambda p: cost.value(p, items)[0], w, d, first=slope,
                                steps=(2e-3, 1e-3, 5e-4, 2.5e-4)).errors
    assert abs(slope) > 0
    for k in range(3):
        assert 3.5 < second[k] / second[k + 1] < 4.5, second  # quadratic
        assert 1.8 < first[k] / first[k + 1] < 2.2, first  # linear: the gradient is not zero here


def test_spike_cost_stays_in_float32_under_a_float64_default(device, device_audit):
    """A float32 cost and its backward stay in float32 on the inputs' device even when torch's default dtype is
    float64 (the old torch.linalg.det made its backward's LU factors in the default dtype and failed), and agree
    with float64 to float32's precision."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        out = {}
        for dtype in (torch.float32, torch.float64):
            motif, scene, anchor, *_ = gaussian_pair(device, dtype)
            audit = device_audit(device, dtype)
            audit.strict = True
            with audit:
                cost = SpikeCost(scene, motif, anchor, 6.0, 2.0, presmoothed=True, tail=4.0)
                w = cost.identity(1) + torch.tensor([[0.02, -0.01, 0.03, 0.01, 0.4, -0.3]], dtype=dtype,
                                                    device=device)
                v, g = cost.value_and_grad(w, torch.zeros(1, dtype=torch.long, device=device))
            assert not audit.breaches, audit.report()
            assert v.dtype == g.dtype == dtype and g.device.type == device.type
            out[dtype] = (v, g)
    finally:
        torch.set_default_dtype(default)
    (v32, g32), (v64, g64) = out[torch.float32], out[torch.float64]
    assert torch.allclose(v32.double(), v64, rtol=1e-4)
    assert torch.allclose(g32.double(), g64, rtol=1e-3, atol=1e-4 * float(g64.abs().max()))


def test_gaussian_spikes_recover_the_exact_affine_map(device):
    """Gaussian spikes at non-integer positions: (A, b) minimises eq. 10 exactly up to truncation and Keys'
    interpolation; 30 full steps of Theorem 5.1 drop the objective by > 5 decades and find A and b."""
    motif, scene, anchor, a, b, cen = gaussian_pair(device)
    sched = spike_schedule(motif, float((a - torch.eye(2, dtype=DT)).norm()), float(b.norm()), factor=1.0)
    res, cost = register_spikes(scene, motif, anchor, sched, sigma0=2.0, iters=30, tail=5.0, presmoothed=True)
    h = res.rounds[0].history[:, 0]
    assert float(h[0] / h[-1]) > 1e5, h
    a_hat, b_hat = res.w[0, :4].reshape(2, 2).cpu(), res.w[0, 4:].cpu()
    c = torch.tensor(cost.transform.center, dtype=DT) - cost.pad
    b_mean = b_hat + (a_hat - torch.eye(2, dtype=DT)) @ (cen - c)
    assert torch.allclose(a_hat, a, atol=1e-3), a_hat
    assert torch.allclose(b_mean, b, atol=1e-2), b_mean
    assert math.isfinite(float(res.loss[0]))


def test_fig4_image_panels_have_colour_bars_and_the_compared_pair_one_scale(tmp_path, monkeypatch):
    """New-user pass: fig4.png's four image panels had no colour bar, and (c) and the smoothed motif it is
    compared with were each scaled to their own range."""
    import matplotlib.pyplot as plt

    from regrun.config import compose
    from regrun.run import run

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at
    outcome = run(compose(["+ci=spike_pair__motif_study", "solver.iters=2"]), tmp_path / "run")
    assert outcome.status == "completed", outcome.error
    (fig,) = [f for f in figures if not isinstance(f, str)]
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 4 and len(fig.axes) == 6 + 4  # six panels and a colour bar per image
    smoothed, registered = (im for im in images if im.axes.get_title().startswith(("smoothed", "(c)")))
    assert smoothed.get_clim() == registered.get_clim()
