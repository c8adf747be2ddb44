"""A new user's afternoon from a fresh clone (newuser8): overrides typed with spaces, commas or twice, two keys
without their group, a misspelt problem.data beside problem.frames, frames of a few values (bool, int casts),
regrun-collect after a kill -9 of a command run before, parallel sweep jobs on one console; each case failed
before its fix (docs/sweeps.md, "A new user's afternoon from a fresh clone (newuser8)")."""
from __future__ import annotations

import io
import re

import h5py
import numpy as np
import pytest

from cli_in_process import regrun_in_process
from test_newuser7 import _dead_pid, _one_run


@pytest.mark.parametrize("args, said", [
    # `problem = superres`: the line said "write key=value without spaces, problem=" (the value left out)
    (["problem", "=", "superres"], "'=' has no key before '=': write key=value without spaces, problem=superres"),
    (["problem.frames", "=", "/data/burst"], "without spaces, problem.frames=/data/burst"),
    (["seed", "="], "without spaces, seed=VALUE"),
])
def test_a_lone_equals_sign_names_the_value_after_it(args, said, tmp_path, monkeypatch, capsys):
    got = regrun_in_process(args, tmp_path, monkeypatch, capsys)
    assert got.returncode == 2 and said in got.stderr and got.stderr.count("\n") == 1, got.stderr


@pytest.mark.parametrize("args", [["problem=superres", "problem.factor=2,", "problem.lambda_f=auto"],
                                  ["-m", "seed=1,2,", "dry_run=true"]])
def test_an_override_ending_in_a_comma_says_so(args, tmp_path, monkeypatch, capsys):
    # Hydra's grammar error: "mismatched input '<EOF>' expecting {':', BRACKET_OPEN, BRACE_OPEN, FLOAT, ..."
    got = regrun_in_process(args, tmp_path, monkeypatch, capsys)
    assert got.returncode == 2 and got.stderr.count("\n") == 1, got.stderr
    assert "it ends in a comma; overrides are separated by spaces alone" in got.stderr
    assert "BRACKET_OPEN" not in got.stderr


def test_a_key_given_twice_in_a_sweep_is_warned(tmp_path, monkeypatch, capsys):
    # `-m seed=1,2 seed=3` ran one job (seed 3) without a word; Hydra's last value stays the rule
    got = regrun_in_process(["-m", "+ci=multiscale_affine__single_scale", "seed=1,2", "seed=3", "dry_run=true",
                             f"hydra.sweep.dir={tmp_path / 's'}"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    assert "regrun: WARNING: seed is given 2 times (seed=1,2 seed=3): the last, seed=3, is used" in got.stderr
    assert "1 jobs" in got.stdout
    got = regrun_in_process(["seed=1", "--cfg", "job"], tmp_path, monkeypatch, capsys)
    assert "WARNING" not in got.stderr
    # a single run keeps Hydra's rule silently: scripts append to a base command, and a bad value stays one line
    got = regrun_in_process(["problem=ct_fewview", "problem.views=null", "problem.views=-1"], tmp_path, monkeypatch,
                            capsys)
    assert got.returncode == 2 and got.stderr.count("\n") == 1, got.stderr


def test_two_keys_without_their_group_both_get_the_nearest_key(tmp_path, monkeypatch, capsys):
    # `template=T.png reference=R.png`: the other unknown key kept the config from composing, and the line had no
    # "did you mean" (one key alone got `problem.template`)
    got = regrun_in_process(["problem.data=files", "template=T.png", "reference=R.png"], tmp_path, monkeypatch,
                            capsys)
    assert got.returncode == 2
    assert "unknown config key 'template' in 'template=T.png'; did you mean `problem.template`?" in got.stderr


@pytest.mark.parametrize("word", ["frame", "Frames"])
def test_a_misspelt_data_word_beside_frames_is_named(word, tmp_path, monkeypatch, capsys):
    # `problem.data=frame problem.frames=DIR` said "add problem.data=frames", which the user had (mistyped)
    got = regrun_in_process(["problem=superres", f"problem.data={word}", "problem.frames=burst", "figures=false"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 2, got.stderr
    assert f"problem.data={word!r}: image file not found, and it is none of the words synthetic, hands, frames; " \
           "did you mean problem.data=frames?" in got.stderr


def test_collect_keeps_the_newest_run_of_a_config_when_it_was_killed(tmp_path, capsys):
    # the same command interrupted, then run again and killed (kill -9): the row was the older interrupted run
    # (a killed run has no end time, and "" ranked first), the console "1 runs (1 interrupted)"
    from regrun import collect

    _one_run(tmp_path / "a", "interrupted")
    _one_run(tmp_path / "b", "running")
    for name, start in (("a/results.h5", "2026-12-06T07:01:19+00:00"), ("b/results.h5.partial",
                                                                         "2026-12-06T07:01:28+00:00")):
        with h5py.File(tmp_path / name, "a") as f:
            f.attrs["start_time"] = start
            if name.startswith("a"):
                f.attrs["end_time"] = "2026-12-06T07:01:24+00:00"
            else:
                f.attrs["pid"] = _dead_pid()
    collect.main([str(tmp_path), "--no-plots"])
    assert "regrun-collect: 1 runs (1 killed) varying" in capsys.readouterr().out


def _frames(tmp_path, values: np.ndarray) -> str:
    np.save(tmp_path / "frames.npy", values)
    return f"problem.frames={tmp_path / 'frames.npy'}"


@pytest.mark.parametrize("cast", ["bool", "int"])
def test_frames_of_a_few_values_warn(cast, tmp_path, monkeypatch, capsys):
    # frames as a bool array, or frames in [0, 1] cast to int64 (0 and 1 left), completed without a word; on a dev
    # burst 3 / 8 / 16 levels gave 16.0 / 29.2 / 37.6 dB against 45.6 from its float frames
    rng = np.random.default_rng(24816)
    scene = np.cumsum(np.cumsum(rng.standard_normal((20, 20)), 0), 1)
    smooth = np.stack([np.roll(scene, k, axis=1)[2:18, 2:18] for k in range(4)])
    # since newuser21 frames of two values (bool) are refused before the solve (tests/test_newuser21.py); three
    # levels (cast from [0, 2.5]) still run and warn
    frames = smooth > 0 if cast == "bool" else (2.5 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.int64)
    args = ["problem=superres", "problem.data=frames", _frames(tmp_path, frames), "problem.lambda_f=0.1",
            "problem.frames_check=false", "figures=false", "solver.max_iter=2"]
    got = regrun_in_process(args, tmp_path, monkeypatch, capsys)
    if cast == "bool":
        assert got.returncode == 2 and "every frame holds only the values 0 and 1" in got.stderr, got.stderr
        return
    assert got.returncode == 0, got.stderr
    assert "regrun: WARNING: the frames hold only 3 distinct values (0, 1, 2), " in got.stderr
    assert "the detail super-resolution recovers is in the frames' grey levels" in got.stderr


def test_frames_of_many_values_do_not_warn():
    import torch

    from regrun.problems.superres import FEW_LEVELS, few_levels_warning

    levels = torch.arange(FEW_LEVELS + 1, dtype=torch.float64).reshape(1, 1, -1).expand(3, 4, -1)
    assert few_levels_warning(levels) == ""
    assert few_levels_warning(levels.clamp(max=FEW_LEVELS - 1)).startswith(f"the frames hold only {FEW_LEVELS} ")


def test_a_reporter_with_a_prefix_writes_whole_lines():
    # parallel joblib jobs share the console: a phase's start waited on its line for "done", and the other job's
    # line landed there ("regrun: solve > lambda_f choice (gcv) ...regrun: superres with varpro_cg ...")
    from regrun.monitor import Reporter

    out = io.StringIO()
    reporter = Reporter(stream=out, progress=True, prefix="[#1] ", interactive=True)
    assert not reporter.interactive  # plain progress lines, no tqdm bar fighting the other job's
    with reporter.phase("solve"):
        with reporter.phase("pre-registration"):
            pass
    reporter.line("  J = 1")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[#1] regrun: solve ..." and lines[1] == "[#1] regrun: solve > pre-registration ..."
    assert re.fullmatch(r"\[#1\] regrun: solve > pre-registration done in .*", lines[2])
    assert all(ln.startswith("[#1] ") for ln in lines) and lines[-1] == "[#1]   J = 1"


@pytest.mark.slow
def test_parallel_sweep_jobs_say_which_they_are(tmp_path):
    from test_sweep import TINY, regrun

    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    out = regrun(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY, "seed=1,2",
                  f"hydra.sweep.dir={tmp_path / 's'}"], tmp_path)
    assert out.returncode == 0, out.stderr
    jobs = [ln for ln in out.stdout.splitlines() if "regrun: " in ln and not ln.startswith("regrun: ")]
    assert jobs and all(re.match(r"\[#[01]\] regrun: ", ln) for ln in jobs), out.stdout
    assert not any(ln.count("regrun: ") > 1 for ln in out.stdout.splitlines()), out.stdout
