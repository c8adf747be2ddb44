"""The leaves' neighbourhood pass (solver.descent.near[_grey]; docs/detection.md, "Large photos: time (detgrey)"):
a leaf first descends only its near_keep best strides by the coarse cost, then (UnrolledRegistrar.near_pass) the
strides the detector finds within reach of another leaf's part, from the same coarse starts."""
import dataclasses

import torch

from regrun.config import compose
from regrun.detection.rotation_search import StrideGrid
from regrun.detection.unrolled_registrar import UnrolledRegistrar
from regrun.solvers.hierarchical import make_registrar
from test_detection_coarse_rank import _dimmed_part_on_flat_clutter
from test_unrolled_registrar import _settings


def test_near_pass_descends_as_without_pruning(device):
    """near_keep 1: the first pass descends one stride of flat clutter (the dimmed part loses the coarse cost), the
    same fit bit for bit as coarse_keep 1 without the pass; the near pass over the strides about the part gives
    them the fit every stride gets unpruned (dedup 0: nothing shadows), leaves the first pass's stride as it was and
    descends none twice."""
    dtype, centre = torch.float64, (23.4, 70.7)
    scene, motif = _dimmed_part_on_flat_clutter(device, dtype, -22.0, centre)
    grid = StrideGrid.build(scene.shape[-2:], motif.mask.shape, 8)
    angles = [-180.0, 180.0]
    near = UnrolledRegistrar(_settings(leaf_dtype=None, dedup=0.0, near=True, near_keep=1, near_area=1e9))
    first = near(scene, motif, grid, angles)
    plain = UnrolledRegistrar(_settings(leaf_dtype=None, dedup=0.0, near=False, coarse_keep=1))(scene, motif, grid,
                                                                                              angles)
    assert torch.equal(first.loss, plain.loss) and torch.equal(first.centre, plain.centre)
    done = torch.isfinite(first.loss)
    assert int(done.sum()) == 1 and near.descended["part"] == 1
    c = torch.tensor(centre, dtype=dtype, device=device)
    assert float((first.centre[done] - c).norm()) > 20  # the clutter, not the part
    around = torch.nonzero((grid.centres(dtype, device) - c).norm(dim=1) <= 12).flatten()
    both = near.near_pass(scene, motif, grid, angles, first, torch.cat((around, torch.nonzero(done).flatten())))
    assert near.descended["part"] == 1 + around.numel() - int(done[around].sum())
    assert torch.equal(both.loss[done], first.loss[done])
    every = UnrolledRegistrar(_settings(leaf_dtype=None, dedup=0.0, near=False, coarse_keep=0))(scene, motif, grid,
                                                                                              angles)
    assert torch.equal(both.loss[around], every.loss[around]) and torch.equal(both.centre[around], every.centre[around])
    assert int(torch.isfinite(both.loss).sum()) == int((done | torch.isfinite(every.loss) & (
        (grid.centres(dtype, device) - c).norm(dim=1) <= 12)).sum())
    assert both.loss.device.type == scene.device.type


def test_near_is_on_for_grey_half_size_only_and_off_for_calibration():
    """near_grey for a scene matched in grey at half size, near otherwise (shipped: grey half size only);
    without_near (calibration) keeps every other setting."""
    cfg = compose(["problem=crab_detection", "solver=hierarchical"]).solver
    regs = {(g, s): make_registrar(cfg, s, g) for g in (False, True) for s in (2, 1)}
    assert [r.near for r in regs.values()] == [False, False, True, False]
    off = regs[(True, 2)].without_near()
    assert not off.near and dataclasses.replace(off.settings, near=True) == regs[(True, 2)].settings
