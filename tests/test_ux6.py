"""Sixth new-user pass (ux6): each problem a newcomer met with their own data, as a test that failed before its fix
(docs/sweeps.md, "Sixth new-user pass")."""
from __future__ import annotations

import pytest

from regrun.config import config_section
from regrun.errors import UserError


@pytest.mark.parametrize("kind", ["leaf", "spike"])
def test_an_angle_range_past_the_whole_circle_is_named_with_its_limit(kind):
    # solver.leaf.angle_max=400 was taken, then refused as "calibrated with angle_max=180.0, this run uses 400.0:
    # recalibrate", sending the user to a calibration that cannot help
    from regrun.solvers.hierarchical import node_settings

    cfg = config_section("solver", "hierarchical")
    cfg[kind].angle_max = 400.0
    with pytest.raises(UserError, match=rf"solver.{kind}.angle_max=400 .* must be <= 180"):
        node_settings(cfg[kind], 2, kind)
    cfg[kind].angle_max = 180.0
    assert node_settings(cfg[kind], 2, kind).angle_max == 180.0


def test_a_path_refused_for_its_overlap_is_said_so_with_its_correlation():
    # a held-out pair's message read "second path (ncc) not kept (correlation -inf against 0.66224)": the -inf was
    # the overlap rule's mark, not a correlation
    from types import SimpleNamespace

    from regrun.solvers.multilevel import Multilevel

    class Pair:
        def with_distance(self, distance):
            return self

        def overlap_correlation(self, w):
            return {1: 0.66224, 2: 0.91}[w]

        def overlap_admitted(self, w):
            return w == 1

    solver = Multilevel.__new__(Multilevel)
    solver._pyramid = lambda *args, **kwargs: (2, SimpleNamespace(J=0.5), None, None, None)
    w, _, stats, message = solver._second_path(Pair(), "ncc", 1, SimpleNamespace(J=1.0), None, None)
    assert w == 1 and stats["second_path_correlation"] == 0.91
    assert message == (", second path (ncc) not kept (correlation 0.91, overlap under half the permitted "
                       "against 0.66224)")


@pytest.mark.parametrize("args, said", [
    (["--resume", "-m", "seed=1,2"], "--resume is not an option of regrun: run the same command again: with "
                                     "resume=true (the default)"),
    (["--seed=3"], "--seed is not an option of regrun: write seed=3 (no dashes)"),
    (["--dry-run"], "--dry-run is not an option of regrun: write dry_run=true"),
])
def test_an_option_regrun_has_not_is_one_line_saying_what_it_takes(args, said, tmp_path, monkeypatch, capsys):
    # `regrun --resume -m ...` printed argparse's usage (5 lines) and "unrecognized arguments: --resume"
    from tests.cli_in_process import regrun_in_process

    p = regrun_in_process(args, tmp_path, monkeypatch, capsys)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"regrun: error: {said}")
    assert "usage" not in p.stderr and not list(tmp_path.iterdir())


def test_a_photo_smaller_than_the_template_is_named_width_by_height(tmp_path, monkeypatch, capsys):
    # a 40 wide, 30 tall photo was "the 30x40 px scene ... smaller than the template's 160x176 px" (rows first,
    # where every other size regrun prints is width x height; the robot is 176 wide)
    import numpy as np
    from PIL import Image

    from tests.cli_in_process import regrun_in_process

    Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(tmp_path / "tiny.png")
    p = regrun_in_process(["problem=crab_detection", "problem.template=robot", "problem.scene.source=file",
                           f"problem.scene.path={tmp_path / 'tiny.png'}", "progress=false"], tmp_path, monkeypatch,
                          capsys)
    assert p.returncode == 2 and "the 40x30 px scene 40x30 px (width x height), smaller than the template's " \
                                  "176x160 px" in p.stderr, p.stderr
