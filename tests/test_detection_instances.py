"""Issue 17: every instance (NMS on the root's map, /tables/detections), honest metrics without a truth, any image
format a user has, scenes too small for the template, parts outside the image reported missing."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from regrun.config import compose
from regrun.detection.calibration import load_calibration
from regrun.detection.crab_data import read_rgba, synthetic_crab
from regrun.detection.detector import SceneTooSmall
from regrun.detection.instances import detections_table, find_instances
from regrun.detection.motif_cache import cached_extract
from regrun.detection.scenes import (
    Scene,
    Truth,
    clutter_background,
    compose_scene,
    downscale_scene,
)
from regrun.errors import UserError
from regrun.record import load
from regrun.run import run
from regrun.solvers.hierarchical import CALIBRATION_DIR, PART_RADIUS, build_detector


# ---- image formats ------------------------------------------------------------------------------------------------
def _ramp(h=12, w=16):
    return np.linspace(0.0, 1.0, h * w).reshape(h, w)


@pytest.mark.parametrize("kind", ["L", "I;16 png", "I;16 tif", "F tif", "RGB", "RGBA", "P", "LA", "JPEG"])
def test_every_image_format_reads_into_unit_range(tmp_path, kind):
    ramp = _ramp()
    rgb = np.stack((ramp, 1 - ramp, 0.5 * ramp), -1)
    if kind == "L":
        img, path, want = Image.fromarray((ramp * 255).round().astype(np.uint8)), "a.png", ramp
    elif kind.startswith("I;16"):  # read through 8-bit grey these came out all white
        img, want = Image.fromarray((ramp * 65535).round().astype(np.uint16)), ramp
        path = "a.png" if "png" in kind else "a.tif"
    elif kind == "F tif":
        img, path, want = Image.fromarray((ramp * 3 + 2).astype(np.float32)), "a.tif", ramp  # min-max rescaled
    elif kind == "P":
        img, path, want = Image.fromarray((rgb * 255).round().astype(np.uint8)).quantize(64), "a.png", None
    elif kind == "LA":
        img = Image.fromarray((ramp * 255).round().astype(np.uint8)).convert("LA")
        path, want = "a.png", ramp
    elif kind == "JPEG":
        img, path, want = Image.fromarray((rgb * 255).round().astype(np.uint8)), "a.jpg", rgb.transpose(2, 0, 1)
    else:
        img = Image.fromarray((rgb * 255).round().astype(np.uint8)).convert(kind)
        path, want = "a.png", rgb.transpose(2, 0, 1)
    img.save(tmp_path / path)
    out, alpha = read_rgba(tmp_path / path)
    assert out.shape == (3, 12, 16) and out.dtype == np.float64 and alpha.shape == (12, 16)
    assert out.min() >= 0 and out.max() <= 1 and np.all(alpha == 1)
    if want is None:  # palette: 64 colours
        assert np.abs(out - rgb.transpose(2, 0, 1)).max() < 0.1
    else:
        tol = 0.08 if kind == "JPEG" else 2.5e-3
        assert np.abs(out - want).max() < tol, kind


def test_an_unreadable_file_is_a_user_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot read image"):
        read_rgba(tmp_path / "x.png")


# ---- the detector on generated scenes (one extraction for the module) ----------------------------------------------
@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    cfg = compose(["problem=crab_detection", "solver=hierarchical"]).solver
    full = synthetic_crab(0)
    det = build_detector(cfg, full.downscaled(2), 2)
    load_calibration(CALIBRATION_DIR / "crab_synthetic_s2_descent_circle.yaml", det)
    cached_extract(det, tmp_path_factory.mktemp("motifs"))
    return det, full


def _scene(full, size, crabs, seed=0):
    img = clutter_background(size, torch.Generator().manual_seed(seed))
    truths = []
    for centre, angle, art in crabs:
        sc = compose_scene(full, img, centre, angle, art)
        img = sc.image
        truths.append(sc.truth)
    return downscale_scene(Scene(img, truths[0], "test"), 2).image, truths


def _instances(det, image):
    found = det.detect(image)
    return found, find_instances(found, 0.5 * min(det.template.size), 0.5, PART_RADIUS / 2)


# 8 s of CPU (a 384 x 704 scene at half size; 25 s before the coarse FFT starts)
def test_two_crabs_give_two_detections_with_their_poses(detector):
    det, full = detector
    image, truths = _scene(full, (384, 704), [((192, 170), 20.0, {"left_claw": 10.0, "right_eye": 3.0}),
                                              ((192, 530), -30.0, {"right_claw": -12.0})])
    found, inst = _instances(det, image)
    assert len(inst) == 2 and 1.9 <= found.score <= 2.1
    assert all(0.9 <= i.score <= 1.1 for i in inst)
    table = detections_table(inst, det.template.size, [n for n, _ in det.order if n != "crab"], 2)
    for tr in truths:
        k = int(np.argmin([math.dist((r, c), tr.centre) for r, c in zip(table["centre_row"], table["centre_col"])]))
        assert math.dist((table["centre_row"][k], table["centre_col"][k]), tr.centre) <= 5
        assert abs(table["angle_deg"][k] - tr.angle) <= 3
        for name, (r, c, a) in tr.parts.items():
            assert table[f"{name}_visible"][k] == 1.0
            assert math.dist((table[f"{name}_row"][k], table[f"{name}_col"][k]), (r, c)) <= 5
            assert abs(table[f"{name}_angle_deg"][k] - a) <= 3


@pytest.mark.slow  # two half-size detections over the whole circle (11 s of CPU; ~60 s before the coarse starts)
def test_parts_cut_by_the_border_are_missing_never_far(detector):
    """The rule (docs/detection.md, "The border"): a part is reported where the instance's root pose puts its joint,
    or as missing (NaN pose, visible 0); here the legs and then the right claw are cut by the border."""
    det, full = detector
    results = []
    for centre in ((300.0, 256.0), (192.0, 440.0)):
        image, (truth,) = _scene(full, (384, 512), [(centre, 0.0, {})], seed=7)
        found, inst = _instances(det, image)
        results.append((found, inst))
        for i in inst:
            for name, (r, c, a) in truth.parts.items():
                p = i.parts[name]
                if p.visible:
                    assert math.dist((2 * p.row + 0.5, 2 * p.col + 0.5), (r, c)) <= 5 and abs(p.angle - a) <= 3
                else:
                    assert math.isnan(p.row) and math.isnan(p.angle)
    # the legs cut (every part inside the image): found whole
    found, inst = results[0]
    assert len(inst) == 1 and all(p.visible for p in inst[0].parts.values())
    # a part its node did not find near the root's prediction is missing, whatever it found elsewhere
    found.nodes["right_claw"].weights.zero_()
    (i,) = find_instances(found, 0.5 * min(det.template.size), 0.5, PART_RADIUS / 2)
    p = i.parts["right_claw"]
    assert not p.visible and math.isnan(p.row) and math.isnan(p.col) and math.isnan(p.box_row)
    table = detections_table([i], det.template.size, ["right_claw"], 2)
    assert table["right_claw_visible"] == [0.0] and math.isnan(table["right_claw_row"][0])


def test_a_scene_smaller_than_the_motifs_is_refused(detector):
    det, _ = detector
    with pytest.raises(SceneTooSmall, match="smaller than"):
        det.detect(torch.rand(3, 25, 25, dtype=torch.float64))


def test_a_crab_free_scene_has_no_instance(detector):
    det, _ = detector
    image = downscale_scene(Scene(clutter_background((256, 320), torch.Generator().manual_seed(3)), Truth(None), ""), 2)
    _, inst = _instances(det, image.image)
    assert inst == []


# ---- whole runs: a user's file has no truth -----------------------------------------------------------------------
def test_a_users_file_reports_detections_only(tmp_path):
    full = synthetic_crab(0)
    bg = clutter_background((256, 320), torch.Generator().manual_seed(5))
    scene = compose_scene(full, bg, (128.0, 160.0), 15.0)
    rgba = np.concatenate((scene.image.numpy(), np.ones((1, 256, 320))), 0).transpose(1, 2, 0)
    Image.fromarray((rgba * 255).round().astype(np.uint8), "RGBA").save(tmp_path / "photo.png")
    cache = tmp_path / "motifs"
    ov = ["problem=crab_detection", "solver=hierarchical", "progress=false", "figures=false",
          "problem.scene.source=file", f"problem.scene.path={tmp_path / 'photo.png'}", f"solver.motif_cache={cache}"]
    outcome = run(compose(ov), tmp_path / "run", ov)
    assert outcome.status == "completed", outcome.error
    saved = load(outcome.results_path)
    m = saved["metrics"]
    assert m["n_detected"] == 1 and 0.9 <= m["score"] <= 1.1
    assert not {"false_positive", "success", "centre_error_px", "true_angle"} & set(m)
    t = saved["tables"]["detections"]
    assert len(t["score"]) == 1 and math.dist((t["centre_row"][0], t["centre_col"][0]), (128, 160)) <= 5
    assert abs(t["angle_deg"][0] - 15) <= 3 and t["left_claw_visible"][0] == 1
    # a file smaller than the motifs: one line, exit 2 (a user error), after the same cached extraction
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(tmp_path / "tiny.png")
    ov[5] = f"problem.scene.path={tmp_path / 'tiny.png'}"
    outcome = run(compose(ov), tmp_path / "tiny", ov)
    assert outcome.status == "failed" and outcome.user_error and "50x50 px, smaller than" in outcome.error
