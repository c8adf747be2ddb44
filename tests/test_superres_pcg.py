"""The scalable super-resolution projection (solver.linear=pcg, and linear=auto beyond CHOLESKY_MAX_PIXELS):
preconditioned CG warm-started from the last image, its cosine-basis preconditioner, its exact Jacobian (block
PCG) against the Cholesky one and by a Taylor test, the image-fixed Jacobian's exact gradient, the warm-started
final solve, and the memory-bounded gather of many columns."""
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.grid import Grid
from regrun.imaging import interpolation
from regrun.imaging.interpolation import Stencil
from regrun.linalg.cg import diff_mode
from regrun.linalg.dottest import dot_test
from regrun.linalg.krylov import pcg
from regrun.linalg.operator import LinearOperator
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_model import GRAM_AFTER, SuperResModel
from regrun.registration.superres_projection import (
    CHOLESKY_MAX_PIXELS,
    DirectProjectedResidual,
    IterativeProjectedResidual,
    lm_ftol,
    pick_linear,
    projected_residual,
)
from regrun.solvers.varpro_cg import VarProCG
from superres_checks import assert_taylor_orders


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


@pytest.fixture
def case(ctx):
    p = SuperRes(config_section("problem", "superres", size=12, frames=3, noise=0.01, lambda_f=0.1), ctx)
    gen = torch.Generator().manual_seed(5)
    w = p.w_true + ctx.tensor(0.02 * torch.randn(p.w_true.shape, generator=gen, dtype=torch.float64))
    v = ctx.tensor(torch.randn(w.shape, generator=gen, dtype=torch.float64))
    return p, w, v / v.norm()


def test_preconditioner_symmetric_positive(case):
    p, _, _ = case
    m = p.model
    apply = m.preconditioner()
    op = LinearOperator((m.n, m.n), apply, apply, m.dtype, m.device)
    assert dot_test(op) < 1e-14
    x = torch.randn(20, m.n, dtype=m.dtype, device=m.device)
    assert bool(((x * apply(x)).sum(-1) > 0).all())
    assert apply(x).device == x.device



@pytest.mark.parametrize("n", [1, 2, 7, 10, 16])
def test_cosine_fft_is_the_orthonormal_dct(device, n):
    """The preconditioner's cosine transform by one real FFT (its CPU path) is the DCT-II matrix's product, and
    its inverse the transpose's, on any device, odd and even lengths."""
    from regrun.registration.superres_model import CosineFFT

    i = torch.arange(n, dtype=torch.float64, device=device)
    mat = torch.cos(torch.pi * i[:, None] * (i[None, :] + 0.5) / n) * (2.0 / n) ** 0.5
    mat[0] /= 2 ** 0.5
    x = torch.randn(3, 4, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n)).to(device)
    t = CosineFFT(n, torch.float64, device)
    assert float((t.forward(x) - x @ mat.T).abs().max()) < 1e-13
    assert float((t.inverse(x) - x @ mat).abs().max()) < 1e-13

def test_banded_coefficient_products_equal_the_dense_ones(device):
    """SplineCoefficients' banded products (the super-resolution normal product's, on the CPU) equal the dense
    matrices' to round-off, their adjoint pair passes the dot test, and a short axis keeps the dense path."""
    from regrun.imaging.interpolation import SplineCoefficients

    grid = Grid((0.0, 1.0, 0.0, 1.0), (150, 131))
    coef = SplineCoefficients(grid, torch.float64, device)
    assert (coef._banded() is None) == (device.type != "cpu")
    f = torch.randn(2, 150, 131, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).to(device)
    c = torch.randn(2, coef.padded[0] * coef.padded[1], dtype=torch.float64,
                    generator=torch.Generator().manual_seed(1)).to(device)
    for banded, dense in ((coef.apply(f, banded=True), coef.apply(f)), (coef.adjoint(c, banded=True), coef.adjoint(c))):
        assert float((banded - dense).abs().max()) < 1e-13 * float(dense.abs().max())
    lhs = (coef.apply(f, banded=True) * c).sum()
    rhs = (f * coef.adjoint(c, banded=True)).sum()
    assert abs(float(lhs - rhs)) < 1e-12 * abs(float(lhs))
    assert SplineCoefficients(Grid((0.0, 1.0, 0.0, 1.0), (40, 40)), torch.float64, device)._banded() is None


def test_pcg_solves_and_warm_starts(case):
    p, w, _ = case
    m = p.model
    op = m.operator(w)
    direct = DirectProjectedResidual(m).project(w)
    res = pcg(op.normal(), op.rmatvec(m.b), m.preconditioner(), m.initial_image(), 500, 1e-13)
    assert float((res.x - direct).norm() / direct.norm()) < 1e-10
    cold = pcg(op.normal(), op.rmatvec(m.b), lambda r: r, m.initial_image(), 500, 1e-13)
    assert res.n_iter < cold.n_iter  # the preconditioner pays on this case too
    again = pcg(op.normal(), op.rmatvec(m.b), m.preconditioner(), res.x, 500, 1e-13)
    assert again.n_iter <= 1
    # the final solve from a warm start stops at the cold start's bar
    ref = m.solve(w, 2000, 1e-12)
    warm = m.solve(w, 2000, 1e-12, x0=res.x)
    assert warm.rel_residual <= 1e-12 and warm.n_iter < ref.n_iter
    assert float((warm.x - ref.x).norm() / ref.x.norm()) < 1e-9



def test_projection_from_a_given_start(case):
    """IterativeProjectedResidual(start=) (varpro_cg: the weight search's image) starts PCG there: the same
    projection to its bar, in fewer iterations from a near image."""
    p, w, _ = case
    m = p.model
    cold = IterativeProjectedResidual(m, exact=False)
    f = cold.project(w)
    near = f + 1e-4 * f.norm() / f.numel() ** 0.5 * torch.ones_like(f)
    warm = IterativeProjectedResidual(m, exact=False, start=near)
    assert torch.equal(warm.f, near)
    g = warm.project(w)
    assert warm.cg_iters < cold.cg_iters
    assert float((g - f).norm() / f.norm()) < 1e-5

def test_multi_rhs_final_solve_equals_one_solve_per_rhs(case):
    """model.solve with several right-hand sides (a colour burst's channels) is one PCG whose columns each
    stop at their own bar (the residual of the fixed start for their b): the same images as one solve each."""
    p, w, _ = case
    m = p.model
    gen = torch.Generator().manual_seed(7)
    frames = m.frames + 0.1 * torch.randn((2, *m.frames.shape), generator=gen, dtype=m.dtype).to(m.device)
    b = torch.stack([m.rhs(d) for d in frames])
    x0 = m.solve(w, 2000, 1e-12).x
    both = m.solve(w, 2000, 1e-10, x0=x0, b=b)
    assert both.x.shape == (2, m.n) and both.rel_residual <= 1e-10
    for j in range(2):
        one = m.solve(w, 2000, 1e-10, x0=x0, b=b[j])
        assert one.n_iter <= both.n_iter and one.rel_residual <= 1e-10
        assert float((both.x[j] - one.x).norm() / one.x.norm()) < 1e-8


def test_pcg_exact_jacobian_equals_cholesky_and_taylor(case):
    p, w, v = case
    it = IterativeProjectedResidual(p.model, exact=True, rtol=1e-13)
    r, jac = it.residual_and_jacobian(w)
    first = it.cg_iters
    r_d, jac_d = DirectProjectedResidual(p.model).residual_and_jacobian(w)
    assert float((r - r_d).norm() / r_d.norm()) < 1e-9
    assert float((jac - jac_d).norm() / jac_d.norm()) < 1e-8
    jv = jac @ v
    assert_taylor_orders(it.residual, w, r, jv, v)
    # again at the same point: the block solve starts from its last answer, so it costs less than the first
    n0 = it.cg_iters
    jac2 = it.residual_and_jacobian(w)[1]
    assert it.cg_iters - n0 < first / 2 and float((jac2 - jac).norm() / jac.norm()) < 1e-9
    # a loose block solve (solver.jacobian_rtol) changes the curvature model, not the gradient J^T r
    loose = IterativeProjectedResidual(p.model, exact=True, rtol=1e-13, jac_rtol=1e-2)
    r_l, jac_l = loose.residual_and_jacobian(w)
    assert float((jac_l.T @ r_l - jac.T @ r).norm() / (jac.T @ r).norm()) < 1e-6


def test_image_fixed_jacobian_has_the_exact_gradient(case):
    p, w, _ = case
    it = IterativeProjectedResidual(p.model, exact=False, rtol=1e-13)
    r, jac = it.residual_and_jacobian(w)
    f = it.last_f
    assert torch.allclose(jac, p.model.operator_derivatives(w, f, r)[0])
    r_d, jac_d = DirectProjectedResidual(p.model).residual_and_jacobian(w)
    g, g_d = jac.T @ r, jac_d.T @ r_d
    assert float((g - g_d).norm() / g_d.norm()) < 1e-8


def test_auto_resolves_to_pcg_beyond_the_limit(ctx):
    full, none = diff_mode("full"), diff_mode("none")
    assert pick_linear("auto", CHOLESKY_MAX_PIXELS, full) == "cholesky"
    assert pick_linear("auto", CHOLESKY_MAX_PIXELS + 1, full) == "pcg"
    p = SuperRes(config_section("problem", "superres", size=34, frames=2), ctx)
    auto = projected_residual("auto", p.model, full, 10, 0.0)
    assert isinstance(auto, IterativeProjectedResidual) and not auto.exact and auto.jacobian_used == "none"
    explicit = projected_residual("pcg", p.model, full, 10, 0.0)
    assert explicit.exact and explicit.jacobian_used == "full"
    assert projected_residual("pcg", p.model, none, 10, 0.0).jacobian_used == "none"
    # problem.motion_weight < 1 (varpro_cg sets exact_pcg): auto keeps the exact Jacobian
    lower = projected_residual("auto", p.model, full, 10, 0.0, exact_pcg=True, jac_rtol=1e-2)
    assert lower.exact and lower.jacobian_used == "full" and lower.jac_rtol == 1e-2


def test_varpro_pcg_lowers_objective(case, ctx):
    p, _, _ = case
    for jac in ("none", "full"):
        solver = VarProCG(config_section("solver", "varpro_cg", cg_iters=10, linear="pcg", jacobian=jac,
                                         max_iter=3), ctx)
        res = solver.solve(p, Monitor())
        assert res.stats["linear"] == "pcg" and res.solution["f"].device == p.model.b.device
        w0 = p.model.preregister()
        r0 = p.model.residual(w0, IterativeProjectedResidual(p.model).project(w0))
        r1 = p.model.residual(res.solution["w"], res.solution["f"])
        assert float(r1 @ r1) < float(r0 @ r0)


def test_gather_of_many_columns_is_bounded_and_equal(device, monkeypatch):
    grid = Grid((0.0, 12.0, 0.0, 12.0), (12, 12))
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(3, 144, 2, generator=gen, dtype=torch.float64) * 14 - 1).to(device)
    st = Stencil.at(grid, x)
    c = torch.randn(20, 400, generator=gen, dtype=torch.float64).to(device)
    y = torch.randn(3, 144, generator=gen, dtype=torch.float64).to(device)
    rows = st.gather(c)  # 20 x 6912 stencil values fit the block: the row gather
    one = torch.stack([st.gather(ci) for ci in c])
    back = st.scatter(y, 400)
    monkeypatch.setattr(interpolation, "GATHER_BLOCK", 1000)
    cols = st.gather(c)  # column by column, each in pieces of at most 1000 stencil values
    assert cols.shape == rows.shape == (20, 3, 144)
    assert float((rows - one).abs().max()) < 1e-12 and float((cols - one).abs().max()) < 1e-13
    assert float((st.scatter(y, 400) - back).abs().max()) < 1e-13  # the scatter in pieces too
    assert abs(float((st.gather(c[0]) * y).sum() - (c[0] * st.scatter(y, 400)).sum())) < 1e-12 * float(back.abs().sum())


def test_separable_stencil_equals_stencil(device):
    """SeparableStencil (per-axis weights, the operator's) against the 16-wide Stencil: values, adjoint,
    spatial gradient, including points beyond the grid, and forward-mode AD through its scatter."""
    from regrun.imaging.interpolation import SeparableStencil, SplineCoefficients
    grid = Grid((0.0, 20.0, 0.0, 25.0), (10, 12))
    gen = torch.Generator().manual_seed(2)
    c = SplineCoefficients(grid, device=device).apply(torch.randn(3, 10, 12, generator=gen,
                                                                  dtype=torch.float64).to(device))
    x = (torch.rand(2, 40, 2, generator=gen, dtype=torch.float64) * torch.tensor([26.0, 31.0]) - 3).to(device)
    ref, sep = Stencil.at(grid, x, with_gradient=True), SeparableStencil.at(grid, x, with_gradient=True)
    assert float((sep.gather(c) - ref.gather(c)).abs().max()) < 1e-12 * float(c.abs().max())
    assert float((sep.gather_gradient(c) - ref.gather_gradient(c)).abs().max()) < 1e-12 * float(c.abs().max())
    y = torch.randn(3, 2, 40, generator=gen, dtype=torch.float64).to(device)
    size = c.shape[-1]
    assert float((sep.scatter(y, size) - ref.scatter(y, size)).abs().max()) < 1e-12 * float(y.abs().max())
    # forward mode through the scatter (the cg path differentiates A(w)^T by jacfwd)
    jac = torch.func.jacfwd(lambda u: SeparableStencil.at(grid, x + u).scatter(y, size))(torch.zeros(2, **{
        "dtype": torch.float64, "device": device}))
    fd = (SeparableStencil.at(grid, x + 1e-6).scatter(y, size)
          - SeparableStencil.at(grid, x - 1e-6).scatter(y, size)) / 2e-6
    assert float((jac.sum(-1) - fd).abs().max()) < 1e-6 * float(fd.abs().max())


def test_block_linearization_equals_dense(case):
    """The image-fixed LM model on its blocks gives what the dense rows x 6q model gives (with Marquardt's
    damping)."""
    from regrun.optim.levenberg_marquardt import DenseLinearization
    p, w, v = case
    it = IterativeProjectedResidual(p.model, exact=False, rtol=1e-13)
    r, jac = it.residual_and_jacobian(w)
    lin, dense = it.linearize(w), DenseLinearization(r[None], jac[None])
    assert torch.allclose(lin.r, r)
    assert float((lin.jtr - dense.jtr[0]).norm() / dense.jtr.norm()) < 1e-13
    # Marquardt's damping: (J^T J + mu diag(J^T J)) s = -J^T r, mu relative
    assert lin.initial_damping(1e-3) == 1e-3
    jtj = jac.T @ jac
    s_d = -torch.linalg.solve(jtj + 0.1 * torch.diag(torch.diagonal(jtj)), jac.T @ r)
    assert float((lin.step(0.1) - s_d).norm() / s_d.norm()) < 1e-10
    assert float((dense.jtj[0] - jtj).abs().max()) < 1e-12 * float(jtj.abs().max())
    assert float((lin.apply(v) - jac @ v).norm() / (jac @ v).norm()) < 1e-13
    with pytest.raises(ValueError):
        IterativeProjectedResidual(p.model, exact=True).linearize(w)


def test_noise_ftol_is_one_over_the_data_rows_left(ctx):
    """solver.ftol=noise: 1/(kept data rows - pixels - 6q); 0 where the frames hold no more rows than unknowns
    (the paper's 4 frames at factor 2, the CI pairs), so those runs never stop on it."""
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=16, outside="drop"), ctx)
    m = p.model
    assert lm_ftol("noise", m) == 1.0 / (16 * 36 - 144 - 90) and lm_ftol(0.5, m) == 0.5
    m.settle_outside(p.w_true)
    kept = int(m.data_mask().sum())
    assert 144 + 90 < kept < 16 * 36 and lm_ftol("noise", m) == 1.0 / (kept - 144 - 90)
    few = SuperRes(config_section("problem", "superres", size=12, n_frames=4), ctx)
    assert lm_ftol("noise", few.model) == 0.0


def test_pooled_stencil_equals_pooled_separable_stencil(device):
    """PooledStencil (k x k blocks' stencils merged into one patch) against SeparableStencil's values summed
    over the blocks, and its scatter against the adjoint of that, including points beyond the grid and
    factors 2 and 3."""
    from regrun.imaging.interpolation import BandedGram, PooledStencil, SeparableStencil, SplineCoefficients
    from regrun.linalg.differences import pool, pool_adjoint
    grid = Grid((0.0, 12.0, 0.0, 18.0), (12, 18))
    gen = torch.Generator().manual_seed(3)
    c = SplineCoefficients(grid, device=device).apply(torch.randn(2, 12, 18, generator=gen,
                                                                  dtype=torch.float64).to(device))
    size = c.shape[-1]
    for k, spread in ((2, 0.3), (3, 1.5)):
        x = grid.centres(torch.float64, device) * 1.07 - 0.5
        x = (x + spread * torch.randn(3, *x.shape, generator=gen, dtype=torch.float64).to(device))  # (3, 12, 18, 2)
        sep = SeparableStencil.at(grid, x)
        pooled = PooledStencil.pool(sep, k)
        want = pool(sep.gather(c), k) * k * k
        assert pooled.gather(c).shape == want.shape
        assert float((pooled.gather(c) - want).abs().max()) < 1e-12 * float(c.abs().max())
        y = torch.randn(2, 3, 12 // k, 18 // k, generator=gen, dtype=torch.float64).to(device)
        want = sep.scatter(pool_adjoint(y, k) * k * k, size)
        assert float((pooled.scatter(y, size) - want).abs().max()) < 1e-12 * float(y.abs().max())
        # frame by frame, then concatenated (the fixed operator's build): the same blocks
        parts = PooledStencil.concat((PooledStencil.pool(SeparableStencil.at(grid, x[j:j + 1]), k) for j in range(3)),
                                     pooled.corner.shape[0])
        assert parts.width == pooled.width
        assert parts.batch == pooled.batch
        assert float((parts.gather(c) - pooled.gather(c)).abs().max()) < 1e-13 * float(c.abs().max())
        assert float((parts.scatter(y, size) - pooled.scatter(y, size)).abs().max()) < 1e-13 * float(y.abs().max())
        # the CPU's products by the block rows (scipy's CSR) against the taps' loop, which a tracked input takes
        for st in (pooled, parts):
            assert float((st.gather(c) - st.gather(c.requires_grad_()).detach()).abs().max()) < 1e-13 * float(
                c.abs().max())
            c = c.detach()
            assert float((st.scatter(y, size) - st.scatter(y.requires_grad_(), size).detach()).abs().max()) < \
                1e-13 * float(y.abs().max())
            y = y.detach()
        assert (getattr(pooled, "_rows", None) is not None) == (torch.device(device).type == "cpu")
        # the banded Gram matrix of the row-weighted block sums: G c = S^T diag(rows^2) S c, and symmetric
        rows = torch.rand(3, 12 // k, 18 // k, generator=gen, dtype=torch.float64).to(device)
        gram = pooled.gram(rows, size)
        want = pooled.scatter(rows.square() * pooled.gather(c), size)
        assert float((gram.apply(c) - want).abs().max()) < 1e-12 * float(want.abs().max())
        square = LinearOperator((size, size), gram.apply, gram.apply, torch.float64, device)
        assert dot_test(square, gen) < 1e-14
        # diagonals skipped: exact zeros by default (the same product to the last bit), and with a tolerance those
        # whose entries sum (both triangles) to within it of the largest entry, the product then within that bound
        diags = gram.diags.clone()
        _, a, b = gram.kept[len(gram.kept) // 2]
        diags[a, b] = 0.0
        full = BandedGram(diags, gram.padded_m2, size)
        assert len(full.kept) < len(gram.kept) and torch.equal(full.apply(c), BandedGram(diags, gram.padded_m2, size,
                                                                                          -1.0).apply(c))
        tol = 1e-3
        loose = BandedGram(diags, gram.padded_m2, size, tol)
        assert len(loose.kept) < len(full.kept)
        err = float((loose.apply(c) - full.apply(c)).abs().max())
        assert err <= tol * float(diags.abs().max()) * float(c.abs().max())


def test_fixed_operator_equals_operator_and_passes_dot_test(ctx):
    """A(w) for many products at one w (merged pooled stencils) is A(w), with outside=drop and batches of
    columns; its adjoint passes the dot test."""
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=5, noise=0.01, lambda_f=0.1,
                                outside="drop"), ctx)
    m = p.model
    m.settle_outside(p.w_true)
    op, fixed = m.operator(p.w_true), m.operator(p.w_true, fixed=True)
    gen = torch.Generator().manual_seed(4)
    f = ctx.tensor(torch.randn(3, m.n, generator=gen, dtype=torch.float64))
    y = ctx.tensor(torch.randn(2, op.shape[0], generator=gen, dtype=torch.float64))
    assert float((fixed.matvec(f) - op.matvec(f)).norm() / op.matvec(f).norm()) < 1e-14
    assert float((fixed.rmatvec(y) - op.rmatvec(y)).norm() / op.rmatvec(y).norm()) < 1e-14
    assert dot_test(fixed, gen) < 1e-13
    # A^T A: by the two products for the first GRAM_AFTER columns, then by the moved frames' Gram matrix
    normal = fixed.normal()
    want = op.rmatvec(op.matvec(f))
    for _ in range(GRAM_AFTER // f.shape[0] + 2):
        assert float((normal(f) - want).norm() / want.norm()) < 1e-14
    assert dot_test(LinearOperator((m.n, m.n), normal, normal, m.dtype, m.device), gen) < 1e-14
    # many=True (the weight search's hundreds of products): the Gram matrix at the first product, the same A^T A
    m._last_fixed = (None, None)
    normal = m.operator(p.w_true, fixed=True, many=True).normal()
    got = normal(f[0])
    assert m._last_fixed[1].gram is not None
    assert float((got - want[0]).norm() / want[0].norm()) < 1e-14


def test_fixed_operator_kept_through_a_new_mask_and_weight_and_its_gram_built_again(ctx):
    """A data mask decided again (settle_outside after LM) or a new weight (the weight search at weight 0, then
    the solver's) keeps the last w's merged stencil and Gram matrix; A^T A follows the new mask (the Gram matrix
    built again for it) and the weight."""
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=5, noise=0.01, lambda_f=0.1,
                                outside="drop", motion={"shift": 0.15}), ctx)
    m = p.model
    m.settle_outside(m.identity)
    m.set_weight(0.0)
    normal = m.operator(p.w_true, fixed=True).normal()
    parts = m._last_fixed[1]
    f = ctx.tensor(torch.randn(GRAM_AFTER + 1, m.n, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    normal(f)  # past GRAM_AFTER columns: the Gram matrix of this mask
    gram = parts.gram
    assert gram is not None
    m.set_weight(0.3)
    op = m.operator(p.w_true)
    want = op.rmatvec(op.matvec(f))
    got = m.operator(p.w_true, fixed=True).normal()(f)
    assert m._last_fixed[1] is parts and parts.gram is gram  # the same stencil and Gram matrix at another weight
    assert float((got - want).norm() / want.norm()) < 1e-14
    assert m.settle_outside(p.w_true, accumulate=True) > 0
    fixed = m.operator(p.w_true, fixed=True)
    op = m.operator(p.w_true)  # built now: the new mask
    want = op.rmatvec(op.matvec(f))
    assert float((fixed.normal()(f) - want).norm() / want.norm()) < 1e-14
    assert m._last_fixed[1] is parts and parts.gram is not gram  # built again for the new mask


def test_a_new_motions_stencil_reuses_the_last_ones_buffers_only_where_nothing_holds_it(ctx, monkeypatch):
    """The fixed operator's next build writes into the last stencil's weight and CSR index buffers (CPU) once no
    operator or closure made on it is alive: its products are a fresh model's to the bit. An operator or its normal
    product held across the next build keeps its stencil (nothing reused) and its own products."""
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=4, noise=0.01, lambda_f=0.1), ctx)
    m, w = p.model, p.w_true
    gen = torch.Generator().manual_seed(6)
    ws = [w + ctx.tensor(0.01 * torch.randn(w.shape, generator=gen, dtype=torch.float64)) for _ in range(3)]
    f = ctx.tensor(torch.randn(2, m.n, generator=gen, dtype=torch.float64))

    def products(model, v):
        op = model.operator(v, fixed=True)
        return op.matvec(f), op.rmatvec(op.matvec(f))

    fresh = [products(SuperResModel(m.frames, m.fine, m.factor, m.lam), v) for v in ws]  # nothing to reuse
    reused = []
    spare = interpolation.PooledStencil.spare
    monkeypatch.setattr(interpolation.PooledStencil, "spare", lambda self: reused.append(1) or spare(self))
    products(m, ws[0])
    for v, want in zip(ws, fresh):
        got = products(m, v)
        assert all(torch.equal(a, b) for a, b in zip(got, want))
    cpu = torch.device(ctx.device).type == "cpu"
    assert len(reused) == (2 if cpu else 0)  # ws[0]'s and ws[1]'s; on the CPU only (a GPU's allocator keeps blocks)
    held = m.operator(ws[0], fixed=True)
    normal = held.normal()
    before = (held.matvec(f), normal(f))
    products(m, ws[1])
    assert held.matvec(f).equal(before[0]) and normal(f).equal(before[1])  # its stencil kept
    del held
    products(m, ws[2])  # the normal product alone still holds ws[0]'s stencil
    assert normal(f).equal(before[1])
    assert len(reused) == (4 if cpu else 0)  # ws[2]'s (for the held one), ws[1]'s (nothing held it): not ws[0]'s
