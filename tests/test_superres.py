"""Super-resolution: the operator's adjoint, derivative tests of every Jacobian mode, a tiny end-to-end run,
and config errors. Small synthetic problems keep the file fast; the paper's hands case is marked slow."""
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from regrun.config import PACKAGE_DIR, config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.linalg.cg import diff_mode
from regrun.linalg.checks import taylor_test
from regrun.linalg.dottest import dot_test
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_projection import ProjectedResidual
from regrun.solvers.two_stage import TwoStage
from regrun.solvers.varpro_cg import VarProCG

CONFIGS = PACKAGE_DIR.parent / "configs"
CTX = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
HANDS = PACKAGE_DIR.parent.parent / "shared" / "fair_data" / "hands-R.jpg"


def problem(**over):
    base = dict(size=12, n_frames=3)
    return SuperRes(config_section("problem", "superres", **{**base, **over}), CTX)


def solver_cfg(**over):
    return config_section("solver", "varpro_cg", **{"cg_iters": 20, "linear": "cg", **over})


@pytest.fixture(scope="module")
def small():
    p = problem()
    w = p.w_true + 0.02 * torch.randn(p.w_true.shape, generator=torch.Generator().manual_seed(3),
                                      dtype=torch.float64)
    v = torch.randn(w.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    return p, w, v / v.norm()


def test_operator_adjoint(device):
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=3),
                 RunContext(device, torch.float64, 0, Path(".")))
    w = p.w_true + 0.02 * torch.randn(p.w_true.shape, generator=torch.Generator().manual_seed(3),
                                      dtype=torch.float64).to(device)
    assert dot_test(p.model.operator(w)) < 1e-13


def test_operator_reproduces_spline_frames():
    p = problem(data=str(HANDS), size=12, omega=[0, 20, 0, 25]) if HANDS.is_file() else None
    if p is None:
        pytest.skip("hands image not available")
    pred = p.model.operator(p.w_true).matvec(p.truth.reshape(-1))[: p.model.n_data]
    assert torch.allclose(pred, p.model.b[: p.model.n_data], atol=1e-10)


def taylor(rfun, jac, w, v, hs=(4e-3, 2e-3, 1e-3, 5e-4)):
    return taylor_test(rfun, w, v, first=jac @ v, steps=hs).errors


# implicit: 100 CG iterations reach the exact projection on this 144-unknown problem (the Jacobian matches central
# differences to 2.49e-8, the same as with 300 iterations; 50 give 3.6e-5); each iteration costs the same in every
# Jacobian column, so more only costs time.
@pytest.mark.parametrize("kind,iters", [("full", 20), ("implicit", 100)])
def test_taylor_exact_modes(small, kind, iters):
    """First-order remainder falls like h, second-order like h^2 (fixed CG count: r(w) is smooth). The
    implicit Jacobian is the derivative of the exact projection, so its CG must converge."""
    p, w, v = small
    pr = ProjectedResidual(p.model, diff_mode(kind), iters)
    _, jac = pr.residual_and_jacobian(w)
    e0, e1 = taylor(pr.residual, jac, w, v)
    for a, b in zip(e0, e0[1:]):
        assert 1.7 < a / b < 2.3
    for a, b in zip(e1, e1[1:]):
        assert 3.4 < a / b < 4.6


def fd(rfun, w, v, h=1e-5):
    return (rfun(w + h * v) - rfun(w - h * v)) / (2 * h)


def cosine(a, b):
    return float(a @ b / (a.norm() * b.norm()))


def test_exact_modes_match_finite_differences(small):
    p, w, v = small
    full = ProjectedResidual(p.model, diff_mode("full"), 20)
    g = fd(full.residual, w, v)
    assert float((full.residual_and_jacobian(w)[1] @ v - g).norm() / g.norm()) < 1e-6
    implicit = ProjectedResidual(p.model, diff_mode("implicit"), 100)  # converged: see test_taylor_exact_modes
    g = fd(implicit.residual, w, v)
    assert float((implicit.residual_and_jacobian(w)[1] @ v - g).norm() / g.norm()) < 1e-6


def test_approximate_modes(small):
    """none is exactly the partial derivative at fixed f; tail with the whole run equals full; tail and
    none point roughly the right way (direction only)."""
    p, w, v = small
    none = ProjectedResidual(p.model, diff_mode("none"), 20)
    _, jac = none.residual_and_jacobian(w)
    f = none.project(w)
    g = fd(lambda u: p.model.residual(u, f), w, v)
    assert float((jac @ v - g).norm() / g.norm()) < 1e-6
    full = ProjectedResidual(p.model, diff_mode("full"), 20)
    jac_full = full.residual_and_jacobian(w)[1]
    jac_tail = ProjectedResidual(p.model, diff_mode("tail", 1.0), 20).residual_and_jacobian(w)[1]
    assert torch.allclose(jac_tail, jac_full, atol=1e-10)
    g = fd(full.residual, w, v)
    for mode in (diff_mode("none"), diff_mode("tail", 0.9, restart=True), diff_mode("tail", 0.9)):
        jv = ProjectedResidual(p.model, mode, 20).residual_and_jacobian(w)[1] @ v
        assert cosine(jv, g) > 0.0, mode


def test_tiny_end_to_end():
    p = problem(noise=0.01)
    ctx_solver = VarProCG(solver_cfg(jacobian="implicit", max_iter=4, init="identity"), CTX)
    mon = Monitor()
    res = ctx_solver.solve(p, mon)
    hist = mon.history.as_arrays()
    assert hist["J"][-1] < hist["J"][0]
    metrics, arrays = p.evaluate(res)
    assert 0 < metrics["rel_error"] < 0.5 and metrics["psnr"] > 10 and -1 <= metrics["ssim"] <= 1
    assert arrays["reconstruction"].shape == (12, 12)
    base = TwoStage(OmegaConf.load(CONFIGS / "solver" / "two_stage.yaml"), CTX).solve(p, Monitor())
    assert p.evaluate(base)[0]["rel_error"] < 1.0


@pytest.mark.parametrize("over,match", [
    ({"jacobian": "unroled"}, "none, unrolled, truncated, checkpointed, implicit, full, tail"),
    ({"jacobian": "tail", "diff_fraction": 1.5}, "diff_fraction"),
    ({"cg_iters": 0}, "cg_iters"),
    ({"init": "magic"}, "solver.init"),
])
def test_bad_solver_options(over, match):
    with pytest.raises(UserError, match=match):
        VarProCG(solver_cfg(**over), CTX)


@pytest.mark.parametrize("over,match", [
    ({"size": 13}, "multiple"),
    ({"motion.kind": "paper"}, "paper"),
    ({"data": "/no/such/image.png"}, "not found"),
    ({"motion.kind": "wild"}, "motion.kind"),
])
def test_bad_problem_options(over, match):
    with pytest.raises(UserError, match=match):
        problem(**over)


@pytest.mark.slow
@pytest.mark.skipif(not HANDS.is_file(), reason="hands image not available")
def test_paper_fig5_ordering():
    p = problem(data="hands", size=20, n_frames=4, data_dir=str(HANDS.parent))
    errs = {}
    for kind in ("none", "full"):
        res = VarProCG(solver_cfg(jacobian=kind, cg_iters=50), CTX).solve(p, Monitor())
        errs[kind] = p.evaluate(res)[0]["rel_error"]
    assert errs["full"] < 0.13 and errs["none"] > 2 * errs["full"]


def test_the_results_file_says_the_order_of_a_frames_six_motion_numbers():
    # /result/w was "each frame's affine after frame 0", its six numbers in no order a reader could tell (newuser23)
    from regrun.imaging.transforms import affine
    from regrun.record import FIELD_MEANINGS

    assert "(A11, A12, A21, A22, b1, b2)" in FIELD_MEANINGS["w"]
    w = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=torch.float64)
    x = torch.tensor([1.0, 10.0], dtype=torch.float64)
    assert affine(w, x).tolist() == [1 + 20 + 5, 3 + 40 + 6]  # the order the description gives: A x + b
