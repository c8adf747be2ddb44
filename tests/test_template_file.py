"""A template of the user's own (detection/template_file.py): an image and a YAML naming its parts, the shipped
example (the robot), the one-line errors for a bad file, and articulation ranges per part."""
import math

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from cli_in_process import regrun_in_process
from regrun.detection.calibration import calibration_home
from regrun.detection.crab_data import load_template, synthetic_crab
from regrun.detection.drawing import draw_robot
from regrun.detection.scenes import clutter_background, compose_scene, parse_ranges, part_ranges, random_pose
from regrun.detection.template_file import EXAMPLES_DIR, load_template_file, write_template_file
from regrun.errors import UserError
from detection_checks import assert_template_decomposes




def _toy(tmp_path, **changes):
    """A 40 x 60 RGB template on black (a grey body, a red and a blue block) and its YAML, with `changes` applied
    to the YAML's body (a value None deletes the key)."""
    rgb = np.zeros((40, 60, 3), dtype=np.uint8)
    rgb[10:30, 15:45] = 120
    rgb[12:20, 2:14] = (200, 30, 30)     # the left block, outside the body
    rgb[22:28, 46:58] = (30, 30, 200)    # the right block
    Image.fromarray(rgb).save(tmp_path / "toy.png")
    body = {"image": "toy.png", "root": "toy", "tree": {"toy": ["blocks"], "blocks": ["left", "right"]},
            "parts": {"left": {"box": [10, 0, 22, 15], "joint": [16, 14], "articulation": 15},
                      "right": {"box": [20, 45, 30, 60], "joint": [25, 45]}}}
    for k, v in changes.items():
        if v is None:
            body.pop(k)
        else:
            body[k] = v
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))  # the parts in their listed order
    return path


def test_a_template_file_names_its_parts(tmp_path):
    t = load_template_file(_toy(tmp_path))
    assert t.name == "toy" and t.size == (40, 60) and t.root == "toy"
    assert t.tree == {"toy": ("blocks",), "blocks": ("left", "right")}
    assert t.parts["left"].offset == (12, 2) and t.parts["left"].size == (8, 12)  # the box cut to the support
    assert t.parts["left"].pivot == (16 - 12, 14 - 2)  # the joint, given in template pixels, in the part's
    assert t.articulation == {"left": 15.0, "right": 0.0}
    assert float(t.body_mask.sum()) == 20 * 30 and float(t.parts["right"].mask.sum()) == 6 * 12
    assert_template_decomposes(t)
    assert_template_decomposes(t.downscaled(2))
    assert load_template(str(tmp_path / "toy.yaml")).parts.keys() == t.parts.keys()
    folder, key = calibration_home(t, 2)
    assert folder == tmp_path / "calibrations" and key == "toy_s2"
    assert calibration_home(synthetic_crab(0), 2) == (None, "synthetic_s2")


def test_a_part_may_be_a_mask_and_the_first_listed_part_takes_overlaps(tmp_path):
    m = np.zeros((40, 60), dtype=np.uint8)
    m[12:20, 2:8] = 255
    Image.fromarray(m).save(tmp_path / "left_mask.png")
    parts = {"right": {"box": [0, 0, 40, 60], "joint": [25, 45]},   # everything: listed first, it takes the body
             "left": {"mask": "left_mask.png", "joint": [16, 4]}}
    with pytest.raises(UserError, match="parts.left covers no pixel"):
        load_template_file(_toy(tmp_path, parts=parts))
    parts = {"left": {"mask": "left_mask.png", "joint": [16, 4]}, "right": {"box": [20, 45, 30, 60], "joint": [25, 45]}}
    t = load_template_file(_toy(tmp_path, parts=parts))
    assert t.parts["left"].size == (8, 6)
    assert_template_decomposes(t)


@pytest.mark.parametrize("changes, message", [
    ({"image": "missing.png"}, r"image='missing.png': image not found"),
    ({"image": None}, r"no 'image'"),
    ({"tree": {"toy": ["blocks"], "blokcs": ["left", "right"]}}, r"unknown parent 'blokcs' in tree"),
    ({"tree": {"toy": ["left", "right"], "left": ["right"]}}, r"'right' is a child of both 'toy' and 'left'"),
    ({"tree": {"toy": ["blocks"], "blocks": ["left", "toy"]}}, r"the root 'toy' cannot be a child"),
    ({"tree": {"toy": ["left"], "a": ["b"], "b": ["a"]}}, r"cycle or nodes not below the root"),
    ({"root": "robot"}, r"the root 'robot' has no children in tree"),
    ({"parts": {"left": {"box": [10, 0, 22, 15], "joint": [16, 14]},
                "right": {"box": [20, 45, 30, 61], "joint": [25, 45]}}}, r"parts.right.box=\[20, 45, 30, 61\] is outside the 40x60 image"),
    ({"parts": {"left": {"box": [10, 0, 22, 15], "joint": [16, 14]}}}, r"leaf 'right' of the tree has no entry in parts"),
    ({"parts": {"left": {"box": [10, 0, 22, 15], "joint": [16, 14]}, "right": {"box": [20, 45, 30, 60], "joint": [1, 2]},
                "blocks": {"box": [0, 0, 5, 5], "joint": [1, 1]}}}, r"part 'blocks' is a parent in tree"),
    ({"parts": {"left": {"box": [10, 0, 22, 15]}, "right": {"box": [20, 45, 30, 60], "joint": [25, 45]}}}, r"parts.left has no joint"),
    ({"parts": {"left": {"box": [10, 0, 22, 15], "joint": [16, 14], "articulation": 200},
                "right": {"box": [20, 45, 30, 60], "joint": [25, 45]}}}, r"parts.left.articulation=200 must be"),
    ({"parts": {"left": {"box": [10, 0, 22, 15], "joint": [16, 99]},
                "right": {"box": [20, 45, 30, 60], "joint": [25, 45]}}}, r"parts.left.joint=\[16, 99\] is outside"),
    ({"parts": {"left": {"box": [0, 0, 5, 5], "joint": [1, 1]},
                "right": {"box": [20, 45, 30, 60], "joint": [25, 45]}}}, r"parts.left covers no pixel of the template"),
    ({"partz": {}}, r"unknown key 'partz'"),
])
def test_a_bad_template_file_is_one_line(tmp_path, changes, message):
    with pytest.raises(UserError, match=message) as err:
        load_template_file(_toy(tmp_path, **changes))
    assert "\n" not in str(err.value) and str(tmp_path / "toy.yaml") in str(err.value)


def test_not_yaml_and_no_file_are_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("image: [unclosed\n")
    with pytest.raises(UserError, match=r"not valid YAML \(line 2"):
        load_template_file(tmp_path / "bad.yaml")
    with pytest.raises(UserError, match="template file not found"):
        load_template(str(tmp_path / "none.yaml"))
    with pytest.raises(UserError, match="allowed: synthetic, refine_crab, robot, or the path"):
        load_template("robo")


def test_the_command_line_says_what_is_wrong_with_a_template(tmp_path, monkeypatch, capsys):
    path = _toy(tmp_path, tree={"toy": ["blocks"], "blokcs": ["left", "right"]})
    res = regrun_in_process(["problem=crab_detection", f"problem.template={path}"], tmp_path, monkeypatch, capsys)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if "unknown parent" in ln]
    assert len(lines) == 1 and "'blokcs'" in lines[0]
    # a good file without a calibration: where to put one, and how to make it
    res = regrun_in_process(["problem=crab_detection", f"problem.template={_toy(tmp_path)}",
                             "problem.scene.size=[64,96]", "problem.scene.centre=[32,48]"], tmp_path, monkeypatch, capsys)
    assert res.returncode == 2 and "`regrun-calibrate --template" in res.stderr
    assert str(tmp_path / "calibrations" / "toy_s2_descent_circle.yaml") in res.stderr


def test_the_shipped_robot_is_the_drawing():
    """regrun/detection/templates/robot.{png,yaml} are scripts/make_example_template.py's output, and every part's
    box holds that part only (draw_robot checks it), so the file gives back the drawing's parts."""
    rgb, alpha, tree, root, parts = draw_robot(0)
    shipped = yaml.safe_load((EXAMPLES_DIR / "robot.yaml").read_text())
    assert shipped["parts"] == parts and shipped["root"] == root and shipped["tree"] == {k: list(v) for k, v in tree.items()}
    t = load_template("robot")
    assert np.abs(t.image.numpy() - rgb).max() <= 0.5 / 255 + 1e-12
    assert np.array_equal(t.mask.numpy(), alpha)
    assert t.articulation == {"head": 10.0, "left_arm": 20.0, "right_arm": 20.0}
    assert_template_decomposes(t)
    for name, p in t.parts.items():  # the drawn part's pixels, exactly
        (r0, c0, r1, c1) = parts[name]["box"]
        assert float(p.mask.sum()) == float((alpha[r0:r1, c0:c1] > 0).sum())


def test_write_then_read_round_trips(tmp_path):
    rgb, alpha, tree, root, parts = draw_robot(1)
    t = load_template_file(write_template_file(tmp_path / "mine.yaml", rgb, alpha, tree, root, parts))
    assert t.name == "mine" and set(t.parts) == {"head", "left_arm", "right_arm"}
    assert not torch.equal(t.image, load_template("robot").image)  # another seed, another texture


def test_articulation_ranges_per_part_and_generated_scenes(device):
    t = load_template("robot")
    assert part_ranges(t.parts, {"arm": 20, "other": 5}) == {"head": 5.0, "left_arm": 20.0, "right_arm": 20.0}
    assert part_ranges(t.parts, {"left_arm": 3, "arm": 20}) == {"head": 0.0, "left_arm": 3.0, "right_arm": 20.0}
    crab = synthetic_crab(0)
    assert part_ranges(crab.parts, {"claw": 15, "eye": 5}) == {"left_claw": 15.0, "right_claw": 15.0,
                                                               "left_eye": 5.0, "right_eye": 5.0}
    assert parse_ranges(["arm=20", "other=5"], claw=None) == {"arm": 20.0, "other": 5.0}
    assert parse_ranges(None, claw=None, eye=None) is None and parse_ranges([], claw=15.0) == {"claw": 15.0}
    with pytest.raises(UserError, match="KEY=DEGREES"):
        parse_ranges(["arm:20"])
    g = torch.Generator().manual_seed(0)
    centre, angle, art = random_pose(g, (300, 400), t, 180.0, t.articulation)
    assert abs(art["head"]) <= 10 and max(abs(art["left_arm"]), abs(art["right_arm"])) <= 20 and art["head"] != 0
    s = compose_scene(t, clutter_background((300, 400), g).to(device), centre, angle, art)
    head = s.truth.parts["head"]
    assert math.isclose(head[2], angle + art["head"]) and s.image.device.type == device.type


def test_a_users_template_file_is_detected_from_the_command_line(tmp_path, monkeypatch, capsys):
    """The user's path end to end: the robot written as a template file of one's own, its calibration where
    calibrate_crab.py would put it (calibrations/ beside the YAML), a generated scene with the robot turned by
    150 deg and its parts articulated: one instance, every part found within 3 deg, results in the table."""
    import json
    import shutil

    rgb, alpha, tree, root, parts = draw_robot(0)
    write_template_file(tmp_path / "mine.yaml", rgb, alpha, tree, root, parts)
    (tmp_path / "calibrations").mkdir()
    shutil.copy(EXAMPLES_DIR / "calibrations" / "robot_s2_descent_circle.yaml",
                tmp_path / "calibrations" / "mine_s2_descent_circle.yaml")
    res = regrun_in_process(["problem=crab_detection", "problem.template=mine.yaml", "problem.scene.size=[240,300]",
                             "problem.scene.centre=[120,150]", "problem.scene.angle=150",
                             "problem.scene.articulation.other=10", "solver.motif_cache=none",
                             f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, monkeypatch, capsys)
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    metrics = metrics.get("metrics", metrics)
    assert metrics["success"] == 1 and metrics["n_detected"] == 1 and metrics["parts_missing"] == 0
    assert metrics["part_angle_error_max"] <= 3 and metrics["centre_error_px"] <= 5
    assert metrics[f"{root}_angle_error"] <= 3 and "crab_angle_error" not in metrics  # named by the template's root
    assert (tmp_path / "run" / "figures" / "boxes.png").is_file()


def test_missing_calibration_names_the_command_that_makes_the_file_the_run_looks_for(tmp_path):
    """New-user pass: the hint said `calibrate_crab.py --template <the template's YAML> --set registrar=descent`,
    which calibrates on scenes within +-45 deg (its default) yet writes the `_circle` file a whole-circle run reads."""
    from regrun.config import config_section
    from regrun.errors import UserError
    from regrun.solvers.hierarchical import calibration_path

    cfg = config_section("solver", "hierarchical")
    yaml = tmp_path / "my" / "robot.yaml"
    with pytest.raises(UserError) as exc:
        calibration_path(cfg, "robot_s2", yaml.parent / "calibrations", yaml, 2)
    assert (f"`regrun-calibrate --template {yaml} --scale 2 --max-angle 180 --set registrar=descent`"
            in str(exc.value)) and "robot_s2_descent_circle.yaml does not exist" in str(exc.value)
    narrow = config_section("solver", "hierarchical", leaf={"angle_max": 60.0}, spike={"angle_max": 50.0})
    with pytest.raises(UserError, match=r"--scale 1 --set registrar=descent leaf.angle_max=60 spike.angle_max=50`"):
        calibration_path(narrow, "robot_s1", yaml.parent / "calibrations", yaml, 1)
