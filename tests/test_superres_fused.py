"""The fused template of the super-resolution pre-registration (superres_fused, superres_start.fused_start): frames
registered again to the least-squares image of all frames through the pixel's box (docs/superres.md, "A fused
template for sharp drawings (srtemplate)")."""
from types import SimpleNamespace

import torch

from regrun.imaging.grid import Grid
from regrun.imaging.synthetic import block_sample
from regrun.imaging.transforms import affine, affine_about
from regrun.registration import superres_fused, superres_start
from regrun.registration.superres_fused import BoxTemplate, fit_objective, fused_ladder, fused_motion
from regrun.registration.superres_model import SuperResModel
from regrun.registration.superres_motion import MotionModel
from regrun.registration.superres_start import start_distance


def _scene(x):
    """Smooth blobs and a sharp bar: values and gradients everywhere, no symmetry."""
    a, b = x[..., 0], x[..., 1]
    return (100 + 60 * torch.exp(-((a - 20.0) ** 2 + (b - 27.0) ** 2) / 40.0)
            + 40 * torch.sin(a / 5.0) * torch.cos(b / 7.0) + 80 * torch.sigmoid((b - 0.7 * a - 8.0) / 0.8))


def _model(size, device, lam=0.1, outside="drop"):
    fine = Grid((0.0, float(size), 0.0, float(size)), (size, size))
    coarse = Grid(fine.omega, (size // 2, size // 2))
    w = [affine_about(a, s, t, fine.centre) for a, s, t in ((4.0, (1.02, 0.99), (1.5, -2.0)),
                                                               (-3.0, (0.98, 1.01), (-2.0, 1.0)),
                                                               (2.0, (1.0, 1.0), (0.5, 2.5)))]
    frames = [block_sample(_scene, coarse, 4)]
    frames += [block_sample(_scene, coarse, 4, pullback=lambda z, wj=wj: affine(wj, z)) for wj in w]
    model = SuperResModel(torch.stack(frames).to(device, torch.float64), fine, 2, lam, outside=outside)
    return model, torch.stack(w).to(device, torch.float64)


def test_box_template_is_the_forward_models_frame(device):
    """A frame the model makes of a fine image f at a translation (pooled 2x2 fine cells of f's spline at the
    moved fine centres) is BoxTemplate(f) at the moved coarse centres, to round-off: the offsets are the pooled
    cells'. Shifted by a quarter cell the offsets miss by far more."""
    model, _ = _model(24, device)
    f = torch.rand(model.n, dtype=torch.float64, device=device, generator=torch.Generator(device).manual_seed(3))
    t = torch.tensor([0.37, -1.21], dtype=torch.float64, device=device)
    w = torch.cat((torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64, device=device), t)).repeat(model.q)
    moved = model.operator(w).matvec(f)[: model.n_data].reshape(model.frames.shape) / model.sqrt_hd
    xc = model.coarse.centres(model.dtype, model.device).reshape(-1, 2)
    box = BoxTemplate(f, model.fine, model.factor)
    seen = box(affine(w[:6], xc)).reshape(model.coarse.m)
    assert torch.allclose(seen, moved[1], atol=1e-10, rtol=0), (seen - moved[1]).abs().max()
    box.offsets = box.offsets + 0.25 * model.fine.h[0]
    assert (box(affine(w[:6], xc)).reshape(model.coarse.m) - moved[1]).abs().max() > 1e-3


def test_box_template_derivatives_taylor(device):
    """BoxTemplate's gradients (registration's Jacobian) and Hessians: first- and second-order Taylor remainders
    fall as h^2 and h^3 at smoothing theta 0 and 1."""
    model, _ = _model(24, device)
    f = _scene(model.x).reshape(-1)
    g = torch.Generator(device).manual_seed(5)
    y = 4.0 + 16.0 * torch.rand(50, 2, dtype=torch.float64, device=device, generator=g)
    d = torch.randn(50, 2, dtype=torch.float64, device=device, generator=g)
    for theta in (0.0, 1.0):
        box = BoxTemplate(f, model.fine, model.factor, theta)
        t0, g0, h0 = box.derivatives(y, 2)
        assert torch.allclose(t0, box(y), atol=1e-9, rtol=0)
        first, second = [], []
        for h in (1e-2, 5e-3):
            t = box(y + h * d)
            lin = t0 + h * (g0 * d).sum(-1)
            first.append((t - lin).abs().max())
            second.append((t - lin - 0.5 * h * h * torch.einsum("ni,nij,nj->n", d, h0, d)).abs().max())
        assert 3.0 < float(first[0] / first[1]) < 5.0, first  # O(h^2)
        assert float(second[0] / second[1]) > 6.0, second  # O(h^3)


def test_fused_ladder_and_the_gate(device, monkeypatch):
    """The ladder to the true fine image (fused_ladder) from a start 1.8 px off lands within 0.02 px (point
    samples of the image instead of the pixel's box: 0.04); the fused motion from there moves towards the truth; the
    gate: fused_start keeps `first` (the same tensor) where the fused motion lies under FUSED_MOVE, where its fit
    objective is not the lower, with outside=keep, another motion model or outside FUSED_MIN-FUSED_MAX, and takes
    it where it lies far enough and fits better. The model's weight is put back."""
    model, w_true = _model(48, device)
    p = SimpleNamespace(model=model, outside="drop", motion=MotionModel("affine", model.fine.centre, model.q))
    truth = w_true.reshape(-1)
    off = truth + torch.tensor([0.0, 0.0, 0.0, 0.0, 1.5, -1.0], dtype=truth.dtype, device=device).repeat(model.q)
    assert abs(start_distance(p, truth, off) - 1.8028) < 1e-3
    landed = fused_ladder(model, _scene(model.x).reshape(-1), off.reshape(model.q, 6)).reshape(-1)
    assert start_distance(p, truth, landed) < 0.02
    fused = fused_motion(model, off)
    assert model.lam == 0.1
    assert start_distance(p, truth, fused) < 0.7 * start_distance(p, truth, off)
    fit_off, fit_fused = fit_objective(model, off), fit_objective(model, fused)
    assert model.lam == 0.1
    monkeypatch.setattr(superres_start, "FUSED_MOVE", 1.01 * start_distance(p, off, fused))
    assert superres_start.fused_start(p, None, off) is off  # too near
    monkeypatch.setattr(superres_start, "FUSED_MOVE", 0.0)
    # on this smooth scene with 4 frames the fit objective (every pixel kept) is the lower at the start 1.8 px off:
    # the gate keeps it (docs/superres.md, srtemplate: the fit objective is no judge of the motion on its own)
    assert fit_fused > fit_off
    assert superres_start.fused_start(p, None, off) is off
    monkeypatch.setattr(superres_fused, "fit_objective", lambda m, w: -float(torch.equal(w, fused)))
    assert torch.equal(superres_start.fused_start(p, None, off), fused)  # far enough and the better fit: taken
    assert superres_start.fused_start(SimpleNamespace(**{**vars(p), "outside": "keep"}), None, off) is off
    assert superres_start.fused_start(p, object(), off) is off  # a motion model's own transform
    monkeypatch.setattr(superres_start, "FUSED_MAX", 23)  # 24-px frames outside its sizes
    assert superres_start.fused_start(p, None, off) is off
