"""The super-resolution run's time on any device (issue 21, srfast): the pre-registration's LM steps (each scale
but the last stops early, later scales keep the damping), the batched LM's reads of the device (its stopping
tests read once, at the end), and the fixed-motion operator kept for the last motion."""
from pathlib import Path

import pytest
import torch
from conftest import host_reads

from regrun.config import config_section
from regrun.context import RunContext
from regrun.optim.levenberg_marquardt import DenseLinearization, lm_batched
from regrun.problems.superres import SuperRes
from regrun.registration import superres_model


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


def _problem(ctx, **extra):
    cfg = config_section("problem", "superres", size=32, n_frames=4, noise=0.01, lambda_f=0.1,
                         motion={"shift": 0.05}, **extra)
    return SuperRes(cfg, ctx)


def _counted(monkeypatch):
    """Every pre-registration scale's LM iterations (the largest over the frames)."""
    steps = []

    def counting(*args, **kwargs):
        out = lm_batched(*args, **kwargs)
        steps.append(int(out.n_iter.max()))
        return out

    monkeypatch.setattr(superres_model, "lm_batched", counting)
    return steps


def test_preregistration_fewer_steps_same_motion(ctx, monkeypatch):
    """The old ladder (every scale to rel_gtol, every scale's damping from tau again) and the new one end at the
    same motion (the last scale is solved to the same rel_gtol) in fewer LM steps."""
    p = _problem(ctx, outside="drop")
    steps = _counted(monkeypatch)
    new = p.model.preregister(drop_outside=True)
    new_steps = list(steps)
    steps.clear()
    monkeypatch.setattr(superres_model, "PREREG_SCALE_GTOL", 1e-6)
    monkeypatch.setattr(superres_model, "PREREG_MIN_TAU", superres_model.PREREG_TAU)  # tau 1e-3 at every scale
    old = p.model.preregister(drop_outside=True)
    assert len(new_steps) == len(steps) == 6
    assert sum(new_steps) < 0.6 * sum(steps), (new_steps, steps)
    # the same minimum of the last scale (domain [0, 1]: a fine pixel is 1/32; measured 1.4e-9 apart, 19 steps
    # against 52)
    assert p.motion_error(new) < 0.01
    assert float((p.model.warp_points(new) - p.model.warp_points(old)).norm(dim=-1).max()) < 1e-7
    assert new.device == p.model.frames.device


def test_lm_batched_reads_the_device_once_per_step(device):
    """A batch of items with different curvatures (they stop at different steps): the status and messages are
    the per-step tests', read once at the end; on a GPU, CUDA's sync debug mode counts the reads: 3 a step
    (all done?, any step accepted?, a singular damped system?) and the final one."""
    gen = torch.Generator().manual_seed(2)
    scale = torch.tensor([1.0, 3.0, 10.0, 0.3], dtype=torch.float64).to(device)
    target = torch.randn(4, 3, generator=gen, dtype=torch.float64).to(device)

    def residual(x):  # (B, 3) -> (B, 4): a mildly nonlinear least-squares problem per item
        return torch.cat((scale[:, None] * (x - target), (x * x).sum(-1, keepdim=True) - 1.0), -1)

    def linearize(x):
        eye = torch.eye(3, dtype=x.dtype, device=x.device).expand(x.shape[0], 3, 3)
        jac = torch.cat((scale[:, None, None] * eye, 2 * x[:, None, :]), 1)
        return DenseLinearization(residual(x), jac)

    x0 = torch.zeros(4, 3, dtype=torch.float64, device=device)
    out, syncs = host_reads(lambda: lm_batched(linearize, residual, x0, max_iter=40, gtol=1e-9), device)
    if syncs is not None:
        # 3 a step by design (34 reads for 11 steps, counted on the CPU by dispatch), then the one of the
        # messages; one a step of slack for a library's own read (was ~10 a step)
        assert len(syncs) <= 4 * int(out.n_iter.max()) + 2, [str(w.message) for w in syncs]
    assert out.status == ["converged"] * 4, out.message
    assert all(m.startswith(("||grad J||", "step", "predicted")) for m in out.message), out.message
    assert len(set(out.n_iter.tolist())) > 1  # they stopped at different steps
    short = lm_batched(linearize, residual, x0, max_iter=1, gtol=1e-9)
    assert short.status == ["max_iter"] * 4 and short.message[0] == "reached max_iter=1"


def test_fixed_operator_kept_for_the_last_motion(ctx):
    """operator(w, fixed=True) keeps the last w's merged stencil (FixedStencil) for every weight and data mask; its
    products follow the weight and mask in use."""
    p = _problem(ctx, outside="drop")
    m = p.model
    w = p.w_true.clone()
    m.operator(w, fixed=True)
    parts = m._last_fixed[1]
    m.operator(w.clone(), fixed=True)
    assert m._last_fixed[1] is parts  # the same motion: the kept stencil
    f = m.initial_image()
    # the evaluation's residual by the fixed operator: the differentiable operator's to round-off
    r_fixed, r = m.residual(w, f, fixed=True), m.residual(w, f)
    assert float((r_fixed - r).norm() / r.norm()) < 1e-13
    other = w + 1e-3
    m.operator(other, fixed=True)
    kept = m._last_fixed[1]
    assert kept is not parts
    for change in (lambda: m.set_weight(0.5), lambda: m.settle_outside(other)):  # another weight, a mask again
        change()
        r_fixed, r = m.residual(other, f, fixed=True), m.residual(other, f)
        assert m._last_fixed[1] is kept and float((r_fixed - r).norm() / r.norm()) < 1e-13


def test_motion_error_same_bits_as_the_stacked_points(ctx):
    """motion_error (LM's history column at every iteration) by its two axes apart with the true points kept
    (srfast3): the same number to the last bit as the points stacked (q, npts, 2); a new true motion is used."""
    from regrun.imaging.transforms import affine

    p = _problem(ctx)
    gen = torch.Generator().manual_seed(5)

    def stacked(w):
        true = affine(p.w_true.reshape(p.model.q, 1, 6), p.model.x)
        return float((p.model.warp_points(w) - true).pow(2).sum(-1).mean().sqrt())

    for scale in (1e-2, 1e-6, 1e-12, 0.0):
        w = p.w_true + scale * torch.randn(p.w_true.shape, generator=gen, dtype=torch.float64).to(p.w_true.device)
        assert repr(p.motion_error(w)) == repr(stacked(w))
    p.w_true = p.w_true + 1e-3
    assert repr(p.motion_error(w)) == repr(stacked(w)) and p.motion_error(w) > 0
