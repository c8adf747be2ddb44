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

        def note_path_ends(self, correlations):  # the verdict's inverted-contrast line reads them (newuser25)
            pass

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
    (["--mult", "seed=1,2"], "--mult is not an option of regrun: did you mean --multirun?"),
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
    assert p.returncode == 2 and "the 40x30 px scene (width x height) is smaller than the template's " \
                                  "176x160 px" in p.stderr, p.stderr


@pytest.mark.parametrize("problem, typed, said", [
    ("multiscale_affine", {"template": "T.png", "reference": "R.png"},
     "problem.template='T.png' and problem.reference='R.png' are files but problem.data=synthetic does not read "
     "them: add problem.data=files"),
    ("multiscale_affine", {"data": "fair", "template": "T.png"}, "problem.template='T.png' is a file but "
                                                                  "problem.data=fair does not read it"),
    ("crab_detection", {"scene": {"path": "MY.png"}}, "problem.scene.path='MY.png' is a file but "
                                                      "problem.scene.source=generated does not read it: add "
                                                      "problem.scene.source=file"),
    ("ct_fewview", {"sinogram": "S.npy"}, "problem.sinogram='S.npy' is a file but problem.data=synthetic does not "
                                          "read it: add problem.data=file"),
])
def test_a_file_typed_without_the_word_that_reads_it_is_refused(problem, typed, said, tmp_path, device):
    # `regrun problem.template=T.png problem.reference=R.png` (no problem.data=files) registered the synthetic pair,
    # and `problem=crab_detection problem.scene.path=MY.png` searched the generated scene: each completed without
    # reading the user's file, as `problem=ct_fewview problem.sinogram=S.npy` reconstructed the phantom (superres already refuses problem.frames without problem.data=frames)
    import torch

    from regrun.context import RunContext
    from regrun.problems import crab_detection, ct_fewview, multiscale_affine

    cls = {"multiscale_affine": multiscale_affine.MultiscaleAffine,
           "crab_detection": crab_detection.CrabDetection, "ct_fewview": ct_fewview.CTFewView}[problem]
    cfg = config_section("problem", problem)
    for key, value in typed.items():
        if isinstance(value, dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    with pytest.raises(UserError, match=said.replace("(", r"\(").replace(")", r"\)")):
        cls(cfg, RunContext(device, torch.float64, 0, tmp_path))


@pytest.mark.parametrize("bits, colour", [(8, True), (16, False)])
def test_the_answer_to_your_frames_is_written_as_the_frames_are_oriented(bits, colour, tmp_path):
    # /result/reconstruction is in FAIR's layout: a user saving it got the answer turned a quarter; the run now
    # writes reconstruction.npy and figures/reconstruction.png as the frames are stored
    from types import SimpleNamespace

    import numpy as np
    import torch
    from PIL import Image

    from regrun.imaging.answer import write_answer
    from regrun.imaging.io import read_frames, write_png16
    from regrun.problems.superres import SuperRes

    rng = np.random.default_rng(7)
    shape = (5, 7, 3) if colour else (5, 7)
    image = rng.integers(0, 2**bits, shape)  # 7 wide, 5 tall: a turn or a flip changes it
    (tmp_path / "frames").mkdir()
    for k in range(2):
        if bits == 16:
            write_png16(tmp_path / "frames" / f"f{k}.png", image)
        else:
            Image.fromarray(image.astype(np.uint8)).save(tmp_path / "frames" / f"f{k}.png")
    frames = torch.as_tensor(read_frames(tmp_path / "frames", colour=colour), dtype=torch.float64)
    stub = SimpleNamespace(colour=frames if colour else None, model=SimpleNamespace(frames=frames), frames=lambda: frames,
                           cfg=SimpleNamespace(data="frames"))
    (tmp_path / "figures").mkdir()
    answer = SuperRes.answer(stub, {"reconstruction": frames[0].numpy()})  # the frame as its own answer
    write_answer(tmp_path, "superres", answer)
    png = SuperRes._answer_png(stub, answer, tmp_path / "figures")
    assert np.array_equal(np.load(tmp_path / "reconstruction.npy"), image)
    assert np.array_equal(np.asarray(Image.open(png)).astype(np.int64), image) and png.name == "reconstruction.png"
    from regrun.summary import write_run_summary

    write_run_summary(tmp_path, status="completed", message="", error="", facts={"problem": "superres"}, metrics={},
                      paper={}, claims={}, wall_time=1.0)
    assert "- `reconstruction.npy`: as your frames are stored" in (tmp_path / "summary.md").read_text()
