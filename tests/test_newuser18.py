"""newuser18's pass on data of their own (session 33): what a fresh user met, each case failing on main."""
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from regrun.config import config_section
from regrun.context import RunContext
from regrun.monitor import Reporter

SEED = 9091


def _reporting_ctx(device):
    out = io.StringIO()
    reporter = Reporter(stream=out, progress=False, tty=io.StringIO())
    reporter.err = out  # warnings (err=True) into the same record
    return RunContext(device, torch.float64, 0, Path("."), reporter=reporter), out


def test_a_motion_model_candidate_does_not_say_the_frames_data_lines_again(device, tmp_path):
    # with problem.motion_model=auto each candidate model's copy read the frames again and said "not read as frames"
    # and "frames in the order of the numbers" a second and third time, after the run's evaluation
    from regrun.problems.superres import SuperRes

    scene = np.random.default_rng(SEED).uniform(0, 200, (12, 22)).astype(np.uint8)
    folder = tmp_path / "burst"
    folder.mkdir()
    for k in range(11):  # f0 ... f10: by name f10 sorts before f2, so the order is said
        Image.fromarray(scene[:, k:k + 12]).save(folder / f"f{k}.png")
    (folder / "notes.txt").write_text("taken at noon")
    ctx, out = _reporting_ctx(device)
    problem = SuperRes(config_section("problem", "superres", data="frames", frames=str(folder)), ctx)
    said = out.getvalue()
    assert said.count("frames in the order of the numbers in their names") == 1, said
    assert said.count("not read as frames") == 1, said
    copy = problem.with_changes({"motion_model": "rigid"})
    assert out.getvalue() == said, out.getvalue()[len(said):]
    assert copy.n_frames == problem.n_frames == 11


def test_frames_that_may_be_stacked_last_are_warned_about_when_read_not_after_the_solve(device, tmp_path):
    # (33, 27, 8) saved as MATLAB stacks 8 frames ran as 33 frames of 8x27 and the warning came at the end, after a
    # 22 s solve of frames that may be read along the wrong axis
    from regrun.problems.superres import SuperRes

    frames = np.random.default_rng(SEED).uniform(0, 1, (8, 33, 27))
    np.save(tmp_path / "stack_last.npy", np.moveaxis(frames, 0, -1))
    ctx, out = _reporting_ctx(device)
    problem = SuperRes(config_section("problem", "superres", data="frames", frames=str(tmp_path / "stack_last.npy")),
                       ctx)
    assert ("regrun: WARNING: stack_last.npy, shape (33, 27, 8), was read as (frames, rows, columns): 33 frames of "
            "8x27 pixels (width x height); if it holds 8 frames of 27x33") in out.getvalue(), out.getvalue()
    assert problem.layout_warning in problem.warnings({})  # and still in the run's warnings (summary.md)
