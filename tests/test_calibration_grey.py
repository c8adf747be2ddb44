"""Grey calibrations (docs/detection.md, "Grey calibrations"): a scene matched in grey takes the grey template's
calibration file (NAME_grey) where one exists and falls back to the colour file, with a note, where none does; a
colour scene takes the colour file exactly as before; a bad grey file is one line naming it; a small grey photo of
the crab is found end to end with the shipped grey file."""
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from regrun.config import compose
from regrun.context import RunContext
from regrun.detection.calibration import load_calibration
from regrun.detection.crab_data import synthetic_crab
from regrun.detection.scenes import clutter_background, compose_scene
from regrun.errors import UserError
from regrun.problems.crab_detection import CrabDetection
from regrun.record import load
from regrun.run import run
from regrun.solvers.hierarchical import (CALIBRATION_DIR, auto_calibration_file, build_detector, calibration_path,
                                         make_registrar, problem_calibration)


def _solver_cfg(*overrides):
    return compose(["problem=crab_detection", "solver=hierarchical", *overrides]).solver


def _problem(path, device):
    cfg = compose(["problem=crab_detection", "problem.template=synthetic", "problem.scene.source=file",
                   f"problem.scene.path={path}"]).problem
    return CrabDetection(cfg, RunContext(device, torch.float64, 0, Path(".")))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The same random 200 x 260 picture as an RGB and a grey (PIL "L") PNG."""
    d = tmp_path_factory.mktemp("photos")
    colour = (np.random.default_rng(3).random((200, 260, 3)) * 255).astype(np.uint8)
    Image.fromarray(colour).save(d / "colour.png")
    Image.fromarray(colour).convert("L").save(d / "grey.png")
    return d


def test_a_grey_scene_takes_the_grey_file_and_a_colour_scene_the_colour_one(photos, device):
    """The synthetic crab ships crab_synthetic_grey_s2_descent_circle.yaml: a grey PNG is judged by it, the colour
    PNG by crab_synthetic_s2_descent_circle.yaml, which is what calibration_path gave before (the colour path and
    hence the colour detections are unchanged)."""
    cfg = _solver_cfg()
    grey, colour = _problem(photos / "grey.png", device), _problem(photos / "colour.png", device)
    assert grey.grey and grey.grey_calibration_key == "synthetic_grey_s2" and grey.calibration_key == "synthetic_s2"
    assert not colour.grey and colour.grey_calibration_key is None
    assert problem_calibration(cfg, grey) == (CALIBRATION_DIR / "crab_synthetic_grey_s2_descent_circle.yaml", "")
    want = calibration_path(cfg, "synthetic_s2", None, None, 2)
    assert want == CALIBRATION_DIR / "crab_synthetic_s2_descent_circle.yaml"
    assert problem_calibration(cfg, colour) == (want, "")
    # a path given by the user is used as given, grey or not; none is none
    assert problem_calibration(_solver_cfg("solver.calibration=/x/own.yaml"), grey) == (Path("/x/own.yaml"), "")
    assert problem_calibration(_solver_cfg("solver.calibration=none"), grey) == (None, "")


def test_without_a_grey_file_a_grey_scene_falls_back_to_the_colour_one_with_a_note(tmp_path):
    """A template of the user's own may have only its colour file: matched in grey, that one is loaded and the
    note names the grey file looked for and the command that makes it (--grey)."""
    cfg = _solver_cfg()
    folder = tmp_path / "calibrations"
    folder.mkdir()
    colour = auto_calibration_file(cfg, "thing_s2", folder)
    colour.write_text("version: 1\n")
    problem = SimpleNamespace(calibration_key="thing_s2", calibration_dir=folder, grey_calibration_key="thing_grey_s2",
                              template=SimpleNamespace(source=tmp_path / "thing.yaml"), scale=2,
                              cfg=SimpleNamespace(template=str(tmp_path / "thing.yaml")))
    path, note = problem_calibration(cfg, problem)
    assert path == colour
    assert note.startswith(f"matched in grey with the colour calibration {colour.name}: no grey calibration "
                           "thing_grey_s2_descent_circle.yaml")
    assert "`regrun-calibrate --template " in note and note.endswith("--grey`)")
    grey = auto_calibration_file(cfg, "thing_grey_s2", folder)
    grey.write_text("version: 1\n")
    assert problem_calibration(cfg, problem) == (grey, "")
    # neither file: the colour file's one-line error, as before (not the grey one's)
    colour.unlink()
    grey.unlink()
    with pytest.raises(UserError, match="no calibration for this template: .*thing_s2_descent_circle.yaml"):
        problem_calibration(cfg, problem)


def test_a_grey_scene_prunes_the_leaves_by_the_grey_coarse_keep():
    """Matched in grey, the leaves' coarse pruning is coarse_keep_grey (half size) / coarse_keep_grey_full; a colour
    scene keeps coarse_keep / coarse_keep_full; a bad value is one line naming its key, whichever size runs."""
    cfg = _solver_cfg("solver.descent.coarse_keep=40", "solver.descent.coarse_keep_full=100",
                      "solver.descent.coarse_keep_grey=7", "solver.descent.coarse_keep_grey_full=9")
    assert [make_registrar(cfg, s, g).settings.coarse_keep for g in (False, True) for s in (2, 1)] == [40, 100, 7, 9]
    for key in ("coarse_keep_grey", "coarse_keep_grey_full"):
        with pytest.raises(UserError, match=f"solver.descent.{key}=-1"):
            make_registrar(_solver_cfg(f"solver.descent.{key}=-1"), 2)


def test_a_bad_grey_file_is_one_line_naming_it(tmp_path):
    """A grey file made for other settings, of another version or cut short stops the run with one line that
    names the file (load_calibration's checks apply to it as to a colour file)."""
    cfg = _solver_cfg()
    det = build_detector(cfg, synthetic_crab(0).downscaled(2), 2)
    shipped = (CALIBRATION_DIR / "crab_synthetic_grey_s2_descent_circle.yaml").read_text()
    cases = {"version": (shipped.replace("version: 1", "version: 0", 1), "calibration version 0 is not 1"),
             "settings": (shipped.replace("stride: 10.0", "stride: 7.0", 1), "calibrated with stride=7.0"),
             "nodes": (shipped.split("\n  crab:")[0] + "\n", "has no thresholds for node 'crab'")}
    for name, (text, message) in cases.items():
        bad = tmp_path / f"{name}_grey.yaml"
        bad.write_text(text)
        with pytest.raises(UserError, match=message) as err:
            load_calibration(bad, det)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="calibration file not found"):
        load_calibration(tmp_path / "missing_grey.yaml", det)


@pytest.mark.slow  # the grey template's extraction and one half-size detection (~10 s of CPU)
def test_a_grey_photo_of_the_crab_is_found_end_to_end_with_the_grey_file(tmp_path):
    """`regrun ... problem.scene.source=file` on an 8-bit grey PNG of the synthetic crab: matched in grey with
    the shipped grey file (stats, metrics), one instance at the truth, no warning."""
    full = synthetic_crab(0)
    scene = compose_scene(full, clutter_background((256, 320), torch.Generator().manual_seed(7)), (130.0, 158.0),
                          -110.0, {"left_claw": 12.0, "right_eye": -4.0})
    rgb = (scene.image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(rgb).convert("L").save(tmp_path / "grey.png")
    ov = ["problem=crab_detection", "solver=hierarchical", "progress=false", "figures=false",
          "problem.scene.source=file", f"problem.scene.path={tmp_path / 'grey.png'}",
          f"solver.motif_cache={tmp_path / 'motifs'}"]
    outcome = run(compose(ov), tmp_path / "run", ov)
    assert outcome.status == "completed", outcome.error
    saved = load(outcome.results_path)
    m, t = saved["metrics"], saved["tables"]["detections"]
    assert m["matched_in_grey"] == 1 and m["grey_calibration"] == 1 and outcome.warnings == []
    assert saved["stats"]["calibration"].endswith("crab_synthetic_grey_s2_descent_circle.yaml")
    assert saved["stats"]["calibration_note"] == "none"
    assert m["n_detected"] == 1 and 0.9 <= m["score"] <= 1.1
    assert math.dist((t["centre_row"][0], t["centre_col"][0]), (130, 158)) <= 5
    assert abs((t["angle_deg"][0] + 110 + 180) % 360 - 180) <= 3
