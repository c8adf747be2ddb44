"""The leaves' coarse pruning ranked by correlation (solver.descent.coarse_rank[_grey]; docs/detection.md, "Grey
photos at full size: time"): a part whose contrast and brightness differ from the template's (a grey photo of a
coloured template) loses the coarse search's masked L2 to flat clutter of the template's mean grey, and wins the
normalised correlation."""
import dataclasses

import pytest
import torch

from regrun.config import compose
from regrun.detection.rotation_search import StrideGrid
from regrun.errors import UserError
from regrun.imaging.gaussian import gaussian_filter
from regrun.solvers.hierarchical import make_registrar
from regrun.detection.unrolled_registrar import UnrolledRegistrar, coarse_angles, coarse_starts
from test_unrolled_registrar import _settings, _textured_scene


def _dimmed_part_on_flat_clutter(device, dtype, angle, centre):
    """The scene's right half (the motif pasted at `centre` on smooth clutter) at 0.3x its contrast and 0.3
    brighter, its left half a flat field of the motif's mean grey with a faint grain of the motif's own scale
    (std 0.03): the masked L2 at the part's truth is about (0.7^2 var + 0.3^2) x area, a flat window's var x area."""
    scene, motif = _textured_scene(device, dtype, angle, centre, size=(44, 96))
    mean = float((motif.image * motif.mask).sum() / (3 * motif.mask.sum()))
    gen = torch.Generator().manual_seed(5)
    grain = gaussian_filter(torch.randn(scene.shape, generator=gen, dtype=torch.float64), 1.2)
    out = mean + (0.03 * grain / grain.std()).to(device, dtype)
    out[:, :, 48:] = 0.3 * (scene[:, :, 48:] - mean) + mean + 0.3
    return out, motif


def test_correlation_keeps_the_dimmed_part_that_the_coarse_cost_drops(device):
    """One stride kept of the grid's: by the coarse search's masked L2 it is flat clutter far from the part; by
    the correlation at the same starts (those the search finds on the undimmed scene) it is the part's stride."""
    dtype, angle, centre = torch.float64, -22.0, (23.4, 70.7)
    scene, motif = _dimmed_part_on_flat_clutter(device, dtype, angle, centre)
    clear, _ = _textured_scene(device, dtype, angle, centre, size=(44, 96))
    grid = StrideGrid.build(scene.shape[-2:], motif.mask.shape, 8)
    assert len(grid) > 8
    reg = UnrolledRegistrar(_settings(leaf_dtype=None))
    st, angles = reg.settings, coarse_angles([-180.0, 180.0], 10.0)
    blur = st.leaf_rounds[0].sigma_in
    anchors = grid.anchors(dtype, device)
    centre_t = torch.tensor(centre, dtype=dtype, device=device)
    def distance(strides):  # of the kept stride's window centre from the part's
        return float((anchors[strides[0]] + (motif.mask.shape[0] - 1) / 2 - centre_t).norm())
    by_cost, _ = coarse_starts(scene, motif.image, motif, grid, angles, st.coarse_starts, blur, 1)
    every, w0 = coarse_starts(clear, motif.image, motif, grid, angles, st.coarse_starts, blur, 0)
    by_corr, w_kept = reg._keep_by_correlation(scene, motif.image, motif.mask, anchors, every, w0,
                                               st.coarse_starts, 1)
    assert by_corr.device.type == scene.device.type and w_kept.shape == (st.coarse_starts, 3)
    assert distance(by_cost) > 40 and distance(by_corr) <= 12  # the part's cell or a neighbour (stride 8)


def test_coarse_rank_without_pruning_changes_nothing(device):
    """coarse_keep 0 (every stride descended): the ranking is not used, the fit is the same bit for bit."""
    dtype = torch.float64
    scene, motif = _dimmed_part_on_flat_clutter(device, dtype, 40.0, (23.4, 70.7))
    grid = StrideGrid.build(scene.shape[-2:], motif.mask.shape, 8)
    fits = [UnrolledRegistrar(_settings(leaf_dtype=None, coarse_keep=0, coarse_rank=r))(scene, motif, grid,
                                                                                          [-180.0, 180.0])
            for r in ("cost", "correlation")]
    assert torch.equal(fits[0].loss, fits[1].loss) and torch.equal(fits[0].centre, fits[1].centre)


def test_a_grey_scene_takes_coarse_rank_grey():
    """Matched in grey at half size the ranking is coarse_rank_grey; in colour, and in grey at full size (not
    measured otherwise), coarse_rank; a bad value of either is one line naming its key whichever scene runs."""
    cfg = compose(["problem=crab_detection", "solver=hierarchical", "solver.descent.coarse_rank=cost",
                   "solver.descent.coarse_rank_grey=correlation"]).solver
    assert [make_registrar(cfg, s, g).settings.coarse_rank for g in (False, True) for s in (2, 1)] == [
        "cost", "cost", "correlation", "cost"]
    for key in ("coarse_rank", "coarse_rank_grey"):
        bad = compose(["problem=crab_detection", "solver=hierarchical", f"solver.descent.{key}=ncc"]).solver
        for grey in (False, True):
            with pytest.raises(UserError, match=f"solver.descent.{key}='ncc' is not valid"):
                make_registrar(bad, 2, grey)


def test_the_shipped_settings_name_a_coarse_rank():
    shipped = dataclasses.asdict(_settings())
    assert shipped["coarse_rank"] in ("cost", "correlation")


def test_grey_starts_per_stride_and_the_extraction_keeps_the_colour_ones():
    """coarse_starts_grey is a grey detection's starts per stride; its extraction keeps coarse_starts (the grey
    templates' motifs and calibrations were made with it); a colour scene uses coarse_starts for both."""
    cfg = compose(["problem=crab_detection", "solver=hierarchical", "solver.descent.coarse_starts=2",
                   "solver.descent.coarse_starts_grey=4"]).solver
    for grey, scale, starts in ((False, 2, 2), (True, 2, 4), (True, 1, 2)):  # full size: coarse_starts
        reg = make_registrar(cfg, scale, grey)
        assert (reg.settings.coarse_starts, reg.for_extraction().settings.coarse_starts) == (starts, 2)
    bad = compose(["problem=crab_detection", "solver=hierarchical", "solver.descent.coarse_starts_grey=0"]).solver
    with pytest.raises(UserError, match="solver.descent.coarse_starts_grey=0"):
        make_registrar(bad, 2, True)


def test_a_larger_scene_keeps_strides_in_proportion_to_its_area():
    """coarse_keep_area: a scene of that many pixels or fewer keeps coarse_keep strides, a larger one coarse_keep x
    its area / coarse_keep_area (rounded up); 0 keeps the count whatever the size."""
    reg = UnrolledRegistrar(_settings(coarse_keep=48, coarse_keep_area=100.0 * 100.0, coarse_keep_min_area=0.0))
    _, motif = _textured_scene("cpu", torch.float64, 0.0, (20.0, 20.0))
    assert [reg.leaf_coarse_keep(motif, (3, h, w)) for h, w in ((50, 50), (100, 100), (200, 300), (101, 100))] == [
        48, 48, 288, 49]
    off = UnrolledRegistrar(_settings(coarse_keep=48, coarse_keep_area=0.0, coarse_keep_min_area=0.0))
    assert off.leaf_coarse_keep(motif, (3, 2000, 2000)) == 48


def test_round_ranking_descends_every_stride_once_then_keeps_coarse_keep(device):
    """coarse_rank round: the coarse search keeps every stride, the first leaf round descends them all, and only
    coarse_keep strides go on to the next rounds (finite losses); the part is found among them; the work model
    counts every stride in the first round and coarse_keep after it."""
    dtype, angle, centre = torch.float64, -22.0, (23.4, 70.7)
    scene, motif = _textured_scene(device, dtype, angle, centre, size=(44, 96))
    grid = StrideGrid.build(scene.shape[-2:], motif.mask.shape, 8)
    reg = UnrolledRegistrar(_settings(leaf_dtype=None, coarse_keep=3, coarse_keep_min_area=0.0, coarse_rank="round",
                                      dedup=2.0))
    fit = reg(scene, motif, grid, [-180.0, 180.0])
    assert 0 < int(torch.isfinite(fit.loss).sum()) <= 3
    k = int(torch.argmin(fit.loss))
    assert float((fit.centre[k] - torch.tensor(centre, dtype=dtype, device=device)).norm()) < 1.0
    assert abs(float(fit.angle[k]) - angle) < 2.0
    plan = reg.work(tuple(scene.shape), motif, grid, [-180.0, 180.0])
    every = UnrolledRegistrar(_settings(leaf_dtype=None, coarse_keep=0, dedup=2.0)).work(
        tuple(scene.shape), motif, grid, [-180.0, 180.0])
    assert plan.rounds[0] == every.rounds[0] and plan.rounds[1] < every.rounds[1]


def test_a_palette_lacking_a_parts_colours_leaves_that_part_unpruned():
    """A palette file (docs/detection.md, "The early ranking"): a leaf whose colours lie on average at least
    coarse_keep_palette_shift from the file's palette descends every stride (its quantised colours were the
    clutter's: the own robot's true left arm ranked 349th of 630); the others, and every leaf of a file without a
    palette, keep coarse_keep; 0 turns it off; a bad value is one line naming its key."""
    from types import SimpleNamespace

    cfg = compose(["problem=crab_detection", "solver=hierarchical"]).solver
    shifts = {"left_arm": 0.246, "right_arm": 0.157}
    reg = make_registrar(cfg, 2, palette_shifts=shifts)
    assert reg.settings.unpruned == {"left_arm"} and not make_registrar(cfg, 2).settings.unpruned
    keep = {k: reg.leaf_coarse_keep(SimpleNamespace(name=k, mask=torch.ones(9, 9)), (192, 256)) for k in shifts}
    assert keep == {"left_arm": 0, "right_arm": cfg.descent.coarse_keep}
    off = compose(["problem=crab_detection", "solver=hierarchical", "solver.descent.coarse_keep_palette_shift=0"])
    assert not make_registrar(off.solver, 2, palette_shifts=shifts).settings.unpruned
    bad = compose(["problem=crab_detection", "solver=hierarchical", "solver.descent.coarse_keep_palette_shift=-1"])
    with pytest.raises(UserError, match="coarse_keep_palette_shift"):
        make_registrar(bad.solver, 2)
