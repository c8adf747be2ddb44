"""Issue 17 (a user's photo, crabscale): objects at another size than the template. problem.scene.object_scale
resamples the scene so they come out at the template's size; every position is reported in the photo's pixels."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_in_process import regrun_in_process
from regrun.config import compose
from regrun.context import RunContext
from regrun.detection.crab_data import synthetic_crab
from regrun.detection.instances import detections_table
from regrun.detection.scenes import (Scene, Truth, clutter_background, compose_scene, photo_point,
                                     resample_scene)
from regrun.problems.crab_detection import CrabDetection
from regrun.record import load
from regrun.run import run

TRUE_CENTRE, TRUE_ANGLE = (128.0, 160.0), 15.0


def _enlarged_photo(path: Path, factor: float) -> tuple[float, float]:
    """The synthetic crab in a 256x320 clutter scene, enlarged by `factor` (PIL bicubic, as a phone or an editor
    would), saved as PNG; returns the crab's centre in the photo's pixels."""
    bg = clutter_background((256, 320), torch.Generator().manual_seed(5))
    scene = compose_scene(synthetic_crab(0), bg, TRUE_CENTRE, TRUE_ANGLE)
    rgb = Image.fromarray((scene.image.numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8), "RGB")
    size = (round(320 * factor), round(256 * factor))
    rgb.resize(size, Image.BICUBIC).save(path)
    return photo_point(TRUE_CENTRE, (size[1] / 256, size[0] / 320))


def test_resampling_moves_the_truth_with_the_pixels(device):
    img = torch.zeros(3, 40, 60, dtype=torch.float64, device=device)
    img[:, 20, 30] = 1.0  # one bright pixel: its centre is the image's mass centre after any antialiased shrink
    scene = Scene(img, Truth((20.0, 30.0), 10.0, {"claw": (20.0, 30.0, 5.0)}), "dot")
    small = resample_scene(scene, (20, 30))
    assert small.image.shape == (3, 20, 30) and small.image.device == img.device
    w = small.image[0]
    rows = torch.arange(20, dtype=torch.float64, device=device)
    cols = torch.arange(30, dtype=torch.float64, device=device)
    mass = (float((w.sum(1) * rows).sum() / w.sum()), float((w.sum(0) * cols).sum() / w.sum()))
    assert math.dist(mass, small.truth.centre) < 1e-9
    assert small.truth.parts["claw"][:2] == small.truth.centre and small.truth.angle == 10.0
    # and back: the photo's pixel from the resampled one
    assert photo_point(small.truth.centre, (2.0, 2.0)) == (20.0, 30.0)


def test_the_table_is_in_photo_pixels_per_axis():
    from types import SimpleNamespace
    inst = SimpleNamespace(score=1.0, centre=(10.0, 20.0), angle=5.0, parts={})
    t = detections_table([inst], (30, 40), [], (4.0, 3.0))
    assert (t["centre_row"][0], t["centre_col"][0]) == photo_point((10.0, 20.0), (4.0, 3.0)) == (41.5, 61.0)
    assert (t["box_h"][0], t["box_w"][0]) == (120.0, 120.0)


def test_the_problem_detects_on_the_resampled_scene_and_keeps_the_photo(device, tmp_path):
    _enlarged_photo(tmp_path / "x2.png", 2.0)
    cfg = compose(["problem=crab_detection", "problem.scene.source=file", f"problem.scene.path={tmp_path / 'x2.png'}",
                   "problem.scene.object_scale=2"]).problem
    p = CrabDetection(cfg, RunContext(device, torch.float64, 0, Path(".")))
    assert tuple(p.scene.image.shape) == (3, 128, 160) and p.scene.image.device.type == device.type
    assert tuple(p.photo.shape) == (3, 512, 640) and p.factors == [(4.0, 4.0)]


def test_an_enlarged_crab_is_found_with_its_object_scale_and_not_without(tmp_path):
    truth = _enlarged_photo(tmp_path / "x2.png", 2.0)
    cache = tmp_path / "motifs"

    def detect(object_scale):
        ov = ["problem=crab_detection", "solver=hierarchical", "progress=false", "problem.scene.source=file",
              f"problem.scene.path={tmp_path / 'x2.png'}", f"problem.scene.object_scale={object_scale}",
              f"solver.motif_cache={cache}"]
        outcome = run(compose(ov), tmp_path / f"run{object_scale}", ov)
        assert outcome.status == "completed", outcome.error
        return load(outcome.results_path), outcome

    saved, outcome = detect(2)
    m, t = saved["metrics"], saved["tables"]["detections"]
    assert m["n_detected"] == 1 and 0.9 <= m["score"] <= 1.1 and m["object_scale"] == 2
    # the centre in the photo's pixels (512x640), within a few of the truth
    assert math.dist((t["centre_row"][0], t["centre_col"][0]), truth) <= 3, (t["centre_row"], t["centre_col"], truth)
    assert abs(t["angle_deg"][0] - TRUE_ANGLE) <= 3 and t["left_claw_visible"][0] == 1
    assert t["box_h"][0] == 4 * saved["data"]["template"].shape[-2]  # the template's box at the photo's size
    # the claw's joint lies within the crab's photo box, not at its template-size place
    assert math.dist((t["left_claw_row"][0], t["left_claw_col"][0]), truth) > 30
    assert (outcome.out_dir / "figures" / "boxes.png").is_file()
    # at the template's size the same photo holds no crab
    saved1, _ = detect(1)
    assert saved1["metrics"]["n_detected"] == 0 and saved1["metrics"]["score"] < 0.5


@pytest.fixture(scope="module")
def x2_photo(tmp_path_factory) -> Path:
    """One 2x photo for every bad-value case (only read; 0.4 s of CPU each to make)."""
    path = tmp_path_factory.mktemp("photo") / "x2.png"
    _enlarged_photo(path, 2.0)
    return path


@pytest.mark.parametrize("value, words", [("0", "must be > 0"), ("-2", "must be > 0"), ("nan", "finite"),
                                          ("inf", "finite"), ("big", "must be a number"),
                                          ("20", "smaller than the template"), ("[]", "names no scale"),
                                          ("[1,-1]", "must be > 0")])
def test_bad_object_scales_are_one_line_errors(x2_photo, tmp_path, monkeypatch, capsys, value, words):
    r = regrun_in_process(["problem=crab_detection", "problem.scene.source=file",
                           f"problem.scene.path={x2_photo}", f"problem.scene.object_scale={value}",
                           "progress=false"], tmp_path, monkeypatch, capsys)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln]
    assert r.returncode == 2 and len(lines) == 1 and words in lines[0], r.stderr


def test_a_list_of_scales_finds_crabs_of_two_sizes_in_one_photo(tmp_path):
    """A photo holding the synthetic crab at 2x (left) and at 1x (right): [1, 2] finds each once, at its own
    scale, centres in the photo's pixels; the 2x crab is not reported again from the 1x tile."""
    _enlarged_photo(tmp_path / "x2.png", 2.0)                       # 512 x 640, the crab at TRUE_CENTRE * 2
    big = np.asarray(Image.open(tmp_path / "x2.png").convert("RGB"))
    bg = clutter_background((512, 320), torch.Generator().manual_seed(6))
    small = compose_scene(synthetic_crab(0), bg, (300.0, 160.0), -40.0).image
    small = (small.numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
    Image.fromarray(np.concatenate((big, small), 1), "RGB").save(tmp_path / "two.png")  # 512 x 960
    truths = {2.0: (photo_point(TRUE_CENTRE, (2.0, 2.0)), TRUE_ANGLE), 1.0: ((300.0, 800.0), -40.0)}
    ov = ["problem=crab_detection", "solver=hierarchical", "progress=false", "problem.scene.source=file",
          f"problem.scene.path={tmp_path / 'two.png'}", "problem.scene.object_scale=[1,2]",
          f"solver.motif_cache={tmp_path / 'motifs'}"]
    outcome = run(compose(ov), tmp_path / "run", ov)
    assert outcome.status == "completed", outcome.error
    saved = load(outcome.results_path)
    t = saved["tables"]["detections"]
    assert saved["metrics"]["n_detected"] == 2 and sorted(t["object_scale"]) == [1.0, 2.0], dict(t)
    for i, k in enumerate(t["object_scale"]):
        centre, angle = truths[float(k)]
        assert math.dist((t["centre_row"][i], t["centre_col"][i]), centre) <= 3, (k, t["centre_row"], t["centre_col"])
        assert abs((t["angle_deg"][i] - angle + 180) % 360 - 180) <= 3
        assert t["box_h"][i] == 2 * k * saved["data"]["template"].shape[-2]


def test_a_mosaic_keeps_coarse_keep_strides_per_tile():
    """A list of k scales is one scene of k photos: the leaves keep coarse_keep strides per photo (48 over 9 tiles
    pruned the authors' crab's eyes, 48 x 9 found it: docs/detection.md, detgrey); the rest is as for one photo."""
    from regrun.solvers.hierarchical import make_registrar
    cfg = compose(["problem=crab_detection", "solver=hierarchical"]).solver
    for scale, grey in ((2, False), (1, False), (1, True)):
        one, nine = make_registrar(cfg, scale, grey).settings, make_registrar(cfg, scale, grey, 9).settings
        assert nine.coarse_keep == 9 * one.coarse_keep > 0
        assert nine.leaf_rounds == one.leaf_rounds and nine.near_keep == one.near_keep
