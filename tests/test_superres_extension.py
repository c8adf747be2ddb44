"""problem.extension=edge: the fine image's spline with its coefficients mirrored about the outermost pixel centres
and held at its edge value beyond them, instead of zero beyond the grid. A constant stays constant (the zero
extension ripples by up to 7% of the level near the edge, which a bright flat crop reads as scene: docs/superres.md,
"srsky", "srextend"). The operator against its adjoint and its dense forms, its motion derivatives against AD and
a Taylor test of the projected residual where moved points leave the grid, and the flat crop at the true motion."""
import pytest
import torch
from superres_checks import assert_operator_derivatives_match_ad, assert_taylor_orders
from test_superres_frames_level import _problem, write_sky

from regrun.errors import UserError
from regrun.imaging.grid import Grid
from regrun.imaging.interpolation import SeparableStencil, SplineCoefficients, Stencil
from regrun.linalg.direct import normal_matrix
from regrun.linalg.dottest import dot_test
from regrun.metrics import psnr
from regrun.registration.superres_model import GRAM_AFTER
from regrun.registration.superres_projection import DirectProjectedResidual


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    return write_sky(tmp_path_factory.mktemp("sky_edge") / "sky.npz")


def test_a_constant_stays_constant_and_the_coefficients_pass_a_dot_test(device):
    grid = Grid((0.0, 12.0, 0.0, 10.0), (12, 10))
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(400, 2, generator=gen, dtype=torch.float64) * torch.tensor([18.0, 16.0]) - 3).to(device)
    ones = torch.ones(grid.m, dtype=torch.float64, device=device)
    for edge in (False, True):
        coef = SplineCoefficients(grid, torch.float64, device, edge)
        c = coef.apply(ones)
        values = (Stencil.at(grid, x, edge=edge).gather(c), SeparableStencil.at(grid, x, edge=edge).gather(c))
        spread = max(float((v - 1).abs().max()) for v in values)
        assert spread < 1e-13 if edge else spread > 0.05  # zero: 0 far out, 1.07 between the outer centres
        f = torch.randn(grid.m, generator=gen, dtype=torch.float64).to(device)
        y = torch.randn(coef.padded[0] * coef.padded[1], generator=gen, dtype=torch.float64).to(device)
        assert abs(float(coef.apply(f) @ y - (f * coef.adjoint(y)).sum())) < 1e-12 * float(y.norm() * f.norm())
    # beyond the outermost centres the edge extension holds the edge pixel: at the centre it is the pixel exactly
    f = torch.randn(grid.m, generator=gen, dtype=torch.float64).to(device)
    c = SplineCoefficients(grid, torch.float64, device, True).apply(f)
    out = torch.tensor([[-2.0, 3.5], [0.5, 3.5], [5.5, 14.0], [5.5, 9.5]], dtype=torch.float64, device=device)
    v = Stencil.at(grid, out, edge=True).gather(c)
    assert torch.allclose(v, torch.stack((f[0, 3], f[0, 3], f[5, 9], f[5, 9])), rtol=0, atol=1e-12)


@pytest.fixture
def edge_model(sky, device):
    p = _problem(device, sky, lambda_f=0.3, frames_level=False, extension="edge", n_frames=4)
    p.model.settle_outside(p.w_true)
    return p


def _theta(p):
    gen = torch.Generator().manual_seed(1)
    return p.w_true + 0.02 * torch.randn(p.w_true.shape, generator=gen, dtype=torch.float64).to(p.w_true.device)


def test_edge_operator_adjoint_dense_forms_and_derivatives(edge_model):
    m = edge_model.model
    assert m.edge
    w = _theta(edge_model)
    y = m.warp_points(w)  # some moved points leave the grid's outermost centres (the clamped, held region)
    assert bool(((y[..., 0] < 0.5) | (y[..., 1] < 0.5) | (y[..., 0] > 19.5) | (y[..., 1] > 19.5)).any())
    assert dot_test(m.operator(w)) < 1e-13
    assert dot_test(m.operator(w, fixed=True)) < 1e-13
    gen = torch.Generator().manual_seed(2)
    f = torch.randn(m.n, generator=gen, dtype=torch.float64).to(m.device)
    r = torch.randn(m.n_data + m.n_reg, generator=gen, dtype=torch.float64).to(m.device)
    assert_operator_derivatives_match_ad(m, w, f, r)
    x = torch.randn(3, m.n, generator=gen, dtype=torch.float64).to(m.device)
    ref = m.operator(w).matvec(x)
    for op in (m.dense_operator(w), m.operator(w, fixed=True)):
        assert float((op.matvec(x) - ref).abs().max() / ref.abs().max()) < 1e-12
    gram, dense = m.normal_matrix(w), normal_matrix(m.operator(w), chunk=64)
    assert float((gram - dense).abs().max() / dense.abs().max()) < 1e-12
    normal = m.operator(w, fixed=True).normal()  # the banded Gram matrix of the mirrored coefficients
    normal(torch.randn(GRAM_AFTER + 1, m.n, dtype=m.dtype, device=m.device))
    assert float((normal(x) - (gram @ x.T).T).abs().max() / (gram @ x.T).abs().max()) < 1e-12


def test_edge_projected_residual_taylor(edge_model):
    m = edge_model.model
    w = _theta(edge_model)
    gen = torch.Generator().manual_seed(3)
    v = torch.randn(m.n_params, generator=gen, dtype=torch.float64).to(m.device)
    rfun = DirectProjectedResidual(m)
    r, jac = rfun.residual_and_jacobian(w)
    assert_taylor_orders(rfun.residual, w, r, jac @ (v / v.norm()), v / v.norm())


def test_flat_crop_at_the_true_motion(device, sky):
    """Without the level, at the true motion and a fixed weight: the edge extension beats the zero one by more than
    5 dB on the bright flat crop (measured in docs/superres.md, "srextend"), and its kept pixels' misfit is over 10x
    smaller."""
    out = {}
    for ext in ("zero", "edge"):
        p = _problem(device, sky, lambda_f=0.3, frames_level=False, extension=ext)
        p.model.settle_outside(p.w_true)
        x = p.model.solve(p.w_true, 2000, 1e-12).x
        r = p.model.residual(p.w_true, x)[: p.model.n_data]
        out[ext] = (psnr(x.reshape(p.fine.m).cpu().numpy(), p.truth.cpu().numpy()), float(r @ r))
    assert out["edge"][0] > out["zero"][0] + 5.0, out
    assert out["edge"][1] < out["zero"][1] / 10, out
    with pytest.raises(UserError, match="problem.extension"):
        _problem(device, sky, lambda_f=0.3, extension="mirror")


def test_a_masked_copy_of_an_outside_keep_model_preconditions(device, sky):
    """outside=keep measures no coverage (settle_outside returns at once), but the frames split's half models set a
    mask (superres_cv.mask_model): their preconditioner is then unscaled, not an AttributeError (found by this
    section's keep runs on 24-px frames)."""
    from regrun.registration.superres_cv import half_model

    p = _problem(device, sky, lambda_f=0.3, frames_level=False, extension="edge", outside="keep", n_frames=4)
    half = half_model(p.model, [0, 1])
    r = torch.randn(half.n, dtype=half.dtype, device=half.device)
    assert torch.isfinite(half.preconditioner()(r)).all()
