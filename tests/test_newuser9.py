"""A new user's afternoon from a fresh clone (newuser9): newuser8's leftovers and what this pass found; each case
failed before its fix (docs/sweeps.md, "A new user's afternoon from a fresh clone (newuser9)")."""
from __future__ import annotations

import json
import math

import numpy as np

from cli_in_process import regrun_in_process


def _fan_sinogram(path, views=24, n_u=40):
    u = (np.arange(n_u) + 0.5) / n_u
    np.save(path, np.sin(math.pi * u)[None].repeat(views, 0) * 3.0)


def test_a_fan_beam_file_is_not_warned_about_the_default_axis(tmp_path, monkeypatch, capsys):
    # every fan-beam file warned "problem.rotation_centre=auto estimates parallel beams only", a default's limit
    # about a setting the user never typed; the choice is one plain line and the results file's rotation_axis
    _fan_sinogram(tmp_path / "fan.npy")
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=fan.npy",
                             "problem.geometry=fan", "problem.size=16", "figures=false", "hydra.run.dir=run"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    assert "WARNING" not in got.stdout + got.stderr, got.stdout
    assert "problem.rotation_centre=auto: this fan beam's axis is taken at the detector's centre" in got.stdout
    assert "WARNING" not in json.loads((tmp_path / "run" / "metrics.json").read_text())["message"]
