"""problem.outside=drop: moved-frame pixels that saw beyond the field of view left out of the data term (fixed at
the pre-registered motion). The weighted operator against its adjoint (dot test), its motion derivatives
against AD, the dense normal matrix and dense operator of the Cholesky path against the matrix-free operator,
and outside=keep (the default for generated data) unchanged."""
from pathlib import Path

import pytest
import torch
from superres_checks import assert_operator_derivatives_match_ad

from regrun.config import config_section
from regrun.context import RunContext
from regrun.linalg.direct import normal_matrix
from regrun.linalg.dottest import dot_test
from regrun.problems.superres import SuperRes
from regrun.registration.superres_projection import (
    DirectProjectedResidual,
    IterativeProjectedResidual,
)


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


def problem(ctx, outside):
    # shifts of up to 15% of the width: several frame pixels see beyond the field of view
    return SuperRes(config_section("problem", "superres", size=12, n_frames=3, noise=0.01, lambda_f=0.1,
                                   outside=outside, motion={"shift": 0.15}), ctx)


@pytest.fixture
def dropped(ctx):
    p = problem(ctx, "drop")
    p.model.settle_outside(p.w_true)
    return p


def test_drop_leaves_out_the_pixels_that_saw_outside(dropped):
    m = dropped.model
    keep = m.keep
    assert keep.device == m.b.device and bool((keep[0] == 1).all())  # frame 0 is the field of view itself
    assert 0 < int((keep[1:] == 0).sum()) < keep[1:].numel()
    data = m.b[: m.n_data].reshape(keep.shape)
    assert bool((data[keep == 0] == 0).all())
    f = torch.randn(m.n, dtype=m.dtype, device=m.device)
    out = m.operator(dropped.w_true).matvec(f)[: m.n_data].reshape(keep.shape)
    assert bool((out[keep == 0] == 0).all()) and bool((out[keep == 1] != 0).all())
    assert dot_test(m.operator(dropped.w_true)) < 1e-13


def test_drop_derivatives_and_dense_path_match_the_operator(dropped):
    m, w = dropped.model, dropped.w_true + 0.01
    f = torch.randn(m.n, dtype=m.dtype, device=m.device)
    r = torch.randn(m.n_data + m.n_reg, dtype=m.dtype, device=m.device)
    assert_operator_derivatives_match_ad(m, w, f, r)
    gram = m.normal_matrix(w)
    ref = normal_matrix(m.operator(w), chunk=50)
    assert float((gram - ref).abs().max() / ref.abs().max()) < 1e-12
    x = torch.randn(3, m.n, dtype=m.dtype, device=m.device)
    dense, op = m.dense_operator(w), m.operator(w)
    assert float((dense.matvec(x) - op.matvec(x)).abs().max() / op.matvec(x).abs().max()) < 1e-13
    # both projections agree on the weighted problem (the preconditioner sees the kept share)
    direct = DirectProjectedResidual(m).project(w)
    iterative = IterativeProjectedResidual(m, exact=False, rtol=1e-13).project(w)
    assert float((iterative - direct).norm() / direct.norm()) < 1e-9


def test_keep_keeps_every_pixel(ctx):
    p = problem(ctx, "keep")
    b = p.model.b.clone()
    p.model.settle_outside(p.w_true)
    assert p.model.keep is None and torch.equal(p.model.b, b)
