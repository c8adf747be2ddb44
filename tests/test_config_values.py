"""A value typed where the config has a group of settings, and a boolean choice given a non-boolean: one line, exit
2, naming what to write."""
import pytest
from cli_in_process import regrun_in_process

from regrun.errors import UserError, check_choice


@pytest.mark.parametrize("args, said", [
    (["problem=superres", "problem.motion=random"],
     "problem.motion is a group of settings (angle, kind, scale, shift), not one value: set one of them, e.g. "
     "problem.motion.kind=...; `regrun --explain problem problem=superres` lists them"),
    (["-m", "problem=superres", "problem.motion=paper,random"], "job 0 ("),
])
def test_a_value_in_place_of_a_group_of_settings(args, said, tmp_path, monkeypatch, capsys):
    got = regrun_in_process(args, tmp_path, monkeypatch, capsys)
    assert got.returncode == 2, got.stderr
    assert said in got.stderr and "problem.motion is a group of settings" in got.stderr
    assert len(got.stderr.strip().splitlines()) == 1 and "Traceback" not in got.stderr


def test_the_settings_inside_the_group_still_work(tmp_path, monkeypatch, capsys):
    got = regrun_in_process(["problem=superres", "problem.motion.kind=rando"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2 and "problem.motion.kind='rando' is not valid; allowed: auto, paper, random" in got.stderr, got.stderr


def test_a_boolean_choice_takes_booleans_written_as_yaml_does():
    check_choice("problem.gain", True, (True, False))
    with pytest.raises(UserError, match=r"^problem.gain=1 is not valid; allowed: true, false$"):
        check_choice("problem.gain", 1, (True, False))
    with pytest.raises(UserError, match=r"problem.gain='maybe' is not valid; allowed: true, false"):
        check_choice("problem.gain", "maybe", (True, False))
    check_choice("problem.channels", "auto", ("auto", "luminance"))
